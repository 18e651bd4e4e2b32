#include "fabric/rtt.h"

#include <algorithm>

namespace railyard::fabric {

void RttEstimator::sample(uint64_t rtt) {
  if (rtt == 0) rtt = 1;  // keeps "no sample" distinguishable
  latest_ns_ = rtt;
  min_rtt_ns_ = min_rtt_ns_ == 0 ? rtt : std::min(min_rtt_ns_, rtt);
  if (srtt_ns_ == 0) {
    srtt_ns_ = rtt;
    rttvar_ns_ = rtt / 2;
  } else {
    const uint64_t err = srtt_ns_ > rtt ? srtt_ns_ - rtt : rtt - srtt_ns_;
    rttvar_ns_ = (3 * rttvar_ns_ + err) / 4;
    srtt_ns_ = (7 * srtt_ns_ + rtt) / 8;
    if (srtt_ns_ == 0) srtt_ns_ = 1;
  }
  backoff_shift_ = 0;
}

void RttEstimator::backoff() {
  if (backoff_shift_ < 16) ++backoff_shift_;
}

uint64_t RttEstimator::base_rto_ns() const {
  if (srtt_ns_ == 0) return config_.initial_rto_ns;
  const uint64_t rto = srtt_ns_ + std::max(config_.granularity_ns, 4 * rttvar_ns_);
  return std::clamp(rto, config_.min_rto_ns, config_.max_rto_ns);
}

uint64_t RttEstimator::rto_ns() const {
  const uint64_t base = base_rto_ns();
  const uint64_t backed = base << backoff_shift_;
  return std::min(backed >> backoff_shift_ == base ? backed : config_.max_rto_ns, config_.max_rto_ns);
}

}  // namespace railyard::fabric
