#include "fabric/congestion.h"

#include <algorithm>

namespace railyard::fabric {

CongestionControl::CongestionControl(const CongestionConfig& config)
    : config_(config), rtt_(config.rtt), cwnd_(static_cast<double>(config.initial_window_bytes)) {
  clamp();
}

bool CongestionControl::can_send(uint64_t bytes) const {
  return inflight_ == 0 || inflight_ + bytes <= window_bytes();
}

void CongestionControl::undo_timeout() {
  if (cwnd_before_timeout_ == 0) return;
  cwnd_ = std::max(cwnd_, cwnd_before_timeout_);
  cwnd_before_timeout_ = 0;
  clamp();
}

void CongestionControl::reset_window() {
  cwnd_ = static_cast<double>(config_.initial_window_bytes);
  cwnd_before_timeout_ = 0;
  inflight_ = 0;
  decreased_ = false;
  clamp();
}

void CongestionControl::on_sent(uint64_t bytes) { inflight_ += bytes; }

void CongestionControl::release(uint64_t bytes) { inflight_ -= std::min(inflight_, bytes); }

uint64_t CongestionControl::target_delay_ns() const {
  return rtt_.min_rtt_ns() + config_.target_base_ns + uint64_t{config_.hops} * config_.target_per_hop_ns;
}

uint64_t CongestionControl::window_rate_Bps() const {
  const uint64_t srtt = rtt_.has_sample() ? rtt_.srtt_ns() : config_.initial_rtt_ns;
  return static_cast<uint64_t>(cwnd_ * 1e9 / static_cast<double>(std::max<uint64_t>(srtt, 1)));
}

bool CongestionControl::may_decrease(uint64_t now) const {
  // Once per RTT: the effect of a decrease shows only after the queue it
  // drained has had a round trip to empty.
  const uint64_t rtt = rtt_.has_sample() ? rtt_.srtt_ns() : 0;
  return !decreased_ || now - last_decrease_ns_ >= rtt;
}

void CongestionControl::decrease(double factor, uint64_t now) {
  cwnd_ *= factor;
  last_decrease_ns_ = now;
  decreased_ = true;
  ++decreases_;
  clamp();
}

void CongestionControl::clamp() {
  cwnd_ = std::clamp(cwnd_, static_cast<double>(config_.packet_bytes), static_cast<double>(config_.max_window_bytes));
}

void CongestionControl::account_rate(uint64_t bytes, uint64_t now) {
  if (rate_start_ns_ == 0) rate_start_ns_ = now;
  rate_bytes_ += bytes;
  const uint64_t period = std::max(config_.rate_interval_ns, rtt_.srtt_ns());
  const uint64_t elapsed = now - rate_start_ns_;
  if (elapsed < period) return;
  const double sample = static_cast<double>(rate_bytes_) * 1e9 / static_cast<double>(elapsed);
  rate_Bps_ = rate_Bps_ == 0 ? sample : 0.75 * rate_Bps_ + 0.25 * sample;
  rate_start_ns_ = now;
  rate_bytes_ = 0;
}

void CongestionControl::on_acked(uint64_t bytes, uint64_t rtt_ns, bool ecn, uint64_t now) {
  release(bytes);
  account_rate(bytes, now);
  if (rtt_ns != 0) rtt_.sample(rtt_ns);
  if (ecn) {
    if (may_decrease(now)) decrease(1.0 - config_.ecn_mdf, now);
    return;
  }
  const uint64_t delay = rtt_ns != 0 ? rtt_ns : rtt_.latest_ns();
  const uint64_t target = target_delay_ns();
  if (delay == 0 || delay < target) {
    cwnd_ += config_.ai_packets_per_rtt * config_.packet_bytes * static_cast<double>(bytes) / cwnd_;
    clamp();
  } else if (may_decrease(now)) {
    const double overshoot = static_cast<double>(delay - target) / static_cast<double>(delay);
    decrease(std::max(1.0 - config_.beta * overshoot, 1.0 - config_.max_mdf), now);
  }
}

void CongestionControl::on_loss(uint64_t bytes, uint64_t now) {
  release(bytes);
  if (may_decrease(now)) decrease(1.0 - config_.max_mdf, now);
}

void CongestionControl::on_timeout(uint64_t bytes, uint64_t now) {
  release(bytes);
  // A second timeout before the first is undone keeps the older window: the
  // one from before the episode.
  if (cwnd_before_timeout_ == 0) cwnd_before_timeout_ = cwnd_;
  cwnd_ = 0;  // clamp() raises it to one packet
  last_decrease_ns_ = now;
  decreased_ = true;
  ++decreases_;
  clamp();
}

}  // namespace railyard::fabric
