#pragma once
// Picks the rail for each next packet so that packets are sprayed across the
// usable rails in proportion to their weights (what each can carry now:
// window / RTT), interleaved rather than in runs — smooth weighted round
// robin, as nginx balances upstreams. A rail that is down, has no window free
// or no room in this burst is not usable and is never picked.
//
// Strict class priority (activation before kv) is the Sender's loop order:
// it only asks for a kv packet when no activation chunk is ready.

#include <array>
#include <cstdint>
#include <span>

#include "fabric/wire.h"

namespace railyard::fabric {

struct RailChoice {
  bool usable = false;
  uint64_t weight = 0;  ///< any unit, same for all rails; 0 counts as 1
};

class RailScheduler {
 public:
  /// Index of the rail to use, or -1 when none is usable.
  int pick(std::span<const RailChoice> rails);
  /// Forgets accumulated credit (e.g. after a rail changed state).
  void reset() { credit_.fill(0); }

 private:
  std::array<int64_t, kMaxRails> credit_{};
};

}  // namespace railyard::fabric
