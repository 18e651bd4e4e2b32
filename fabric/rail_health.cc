#include "fabric/rail_health.h"

#include <algorithm>

namespace railyard::fabric {

void RailHealth::go_down(DownReason why, uint64_t now) {
  up_ = false;
  reason_ = why;
  waiting_since_ns_ = 0;
  changed_ns_ = now;
  next_probe_ns_ = now;  // probe at once: the silence may have been a burst of loss
  ++transitions_;
}

bool RailHealth::on_link(nic::LinkState state, uint64_t now) {
  const nic::LinkState before = link_;
  link_ = state;
  if (state == nic::LinkState::down && up_) {
    go_down(DownReason::link, now);
    return true;
  }
  if (state == nic::LinkState::up && before == nic::LinkState::down) next_probe_ns_ = now;
  return false;
}

void RailHealth::on_sent(uint64_t now) {
  // Silence runs from the first send not followed by an acknowledgement.
  if (waiting_since_ns_ == 0) waiting_since_ns_ = now == 0 ? 1 : now;
}

void RailHealth::on_ack(bool still_waiting, uint64_t now) { waiting_since_ns_ = still_waiting ? (now == 0 ? 1 : now) : 0; }

uint64_t RailHealth::silence_deadline(uint64_t base_rto_ns) const {
  if (!up_ || waiting_since_ns_ == 0) return UINT64_MAX;
  const uint64_t span = std::max(config_.min_silence_ns, uint64_t{config_.silence_rtos} * base_rto_ns);
  return waiting_since_ns_ + span;
}

bool RailHealth::check_silence(uint64_t base_rto_ns, uint64_t now) {
  if (now < silence_deadline(base_rto_ns)) return false;
  go_down(DownReason::ack_silence, now);
  return true;
}

bool RailHealth::probe_due(uint64_t now) {
  if (up_ || link_ == nic::LinkState::down || now < next_probe_ns_) return false;
  next_probe_ns_ = now + config_.probe_interval_ns;
  return true;
}

bool RailHealth::on_probe_reply(uint64_t now) {
  if (up_ || link_ == nic::LinkState::down) return false;
  up_ = true;
  reason_ = DownReason::none;
  changed_ns_ = now;
  ++transitions_;
  return true;
}

}  // namespace railyard::fabric
