#include "fabric/rail_health.h"

#include <algorithm>

namespace railyard::fabric {

void RailHealth::go_down(DownReason why, uint64_t now) {
  up_ = false;
  reason_ = why;
  waiting_since_ns_ = 0;
  changed_ns_ = now;
  next_probe_ns_ = now;  // probe at once: the silence may have been a burst of loss
  keepalives_unanswered_ = 0;
  ++transitions_;
}

void RailHealth::on_heard(uint64_t now) {
  heard_ns_ = now == 0 ? 1 : now;
  keepalives_unanswered_ = 0;
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

void RailHealth::on_ack(bool still_waiting, uint64_t now) {
  waiting_since_ns_ = still_waiting ? (now == 0 ? 1 : now) : 0;
  on_heard(now);
}

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

bool RailHealth::keepalive_due(uint64_t now) {
  if (!up_ || link_ == nic::LinkState::down) return false;
  if (heard_ns_ == 0) heard_ns_ = now == 0 ? 1 : now;  // the clock starts with the rail
  // Data in flight is answered by ACKs, and its silence is check_silence's.
  if (waiting_since_ns_ != 0 || keepalives_unanswered_ >= config_.keepalive_misses) return false;
  if (now < std::max(heard_ns_ + config_.keepalive_ns, next_keepalive_ns_)) return false;
  next_keepalive_ns_ = now + config_.keepalive_ns;
  ++keepalives_unanswered_;
  return true;
}

bool RailHealth::check_keepalives(uint64_t now) {
  if (!up_ || keepalives_unanswered_ < config_.keepalive_misses || now < next_keepalive_ns_) return false;
  go_down(DownReason::ack_silence, now);
  return true;
}

uint64_t RailHealth::keepalive_deadline() const {
  if (!up_ || link_ == nic::LinkState::down || heard_ns_ == 0) return UINT64_MAX;
  if (keepalives_unanswered_ >= config_.keepalive_misses) return next_keepalive_ns_;
  if (waiting_since_ns_ != 0) return UINT64_MAX;
  return std::max(heard_ns_ + config_.keepalive_ns, next_keepalive_ns_);
}

bool RailHealth::on_probe_reply(uint64_t now) {
  on_heard(now);
  if (up_ || link_ == nic::LinkState::down) return false;
  up_ = true;
  reason_ = DownReason::none;
  changed_ns_ = now;
  ++transitions_;
  return true;
}

}  // namespace railyard::fabric
