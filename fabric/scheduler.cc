#include "fabric/scheduler.h"

#include <algorithm>

namespace railyard::fabric {

int RailScheduler::pick(std::span<const RailChoice> rails) {
  const size_t n = std::min(rails.size(), kMaxRails);
  int best = -1;
  int64_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!rails[i].usable) continue;
    // Cap weights so credits never overflow: 2^40 per rail is ~1 TB/s in bytes/s.
    const int64_t w = static_cast<int64_t>(std::clamp<uint64_t>(rails[i].weight, 1, uint64_t{1} << 40));
    credit_[i] += w;
    total += w;
    if (best < 0 || credit_[i] > credit_[static_cast<size_t>(best)]) best = static_cast<int>(i);
  }
  if (best >= 0) credit_[static_cast<size_t>(best)] -= total;
  return best;
}

}  // namespace railyard::fabric
