#pragma once
// Whether a rail may carry data. A rail goes down at once on link-down, or
// when none of its packets has been acknowledged for K × RTO while some were
// in flight (ack silence: a dead path the link state does not show, e.g. a
// switch port or a drop rule). An idle rail that has heard nothing from the
// peer for a while sends a keepalive probe, and goes down the same way when
// several in a row go unanswered (a path, or a peer, that died while idle).
// A down rail gets probes at an interval and comes back after a probe reply —
// never on link-up alone, since a link can be up with a broken path behind it.

#include <cstdint>

#include "drivers/nic/rail.h"

namespace railyard::fabric {

struct HealthConfig {
  /// K: three RTOs of silence. One RTO is a lost tail packet; three in a row,
  /// with the RTO backing off, is a path that stopped (a 5 % random loss
  /// rarely kills three consecutive round trips: 1e-4).
  uint32_t silence_rtos = 3;
  /// Lower bound on the silence span, so a rail is never condemned by one
  /// stall of the host (with the default 5 ms RTO floor, three RTOs are
  /// already 15 ms; this guards configurations with a lower floor).
  uint64_t min_silence_ns = 3'000'000;
  /// Probe period while down: cheap (one header), and fast enough to bring a
  /// rail back within a few ms of its repair.
  uint64_t probe_interval_ns = 2'000'000;
  /// An up rail that has heard nothing from the peer this long while idle
  /// sends a keepalive probe (one header, a second, per rail and peer).
  uint64_t keepalive_ns = 1'000'000'000;
  /// Keepalives in a row unanswered, each given keepalive_ns, that take the
  /// rail down: a lost probe or reply (5 % loss: 1 in 10) never does alone.
  uint32_t keepalive_misses = 3;
};

enum class DownReason : uint8_t { none, link, ack_silence };

class RailHealth {
 public:
  explicit RailHealth(const HealthConfig& config = {}) : config_(config) {}

  bool up() const { return up_; }
  DownReason reason() const { return reason_; }
  nic::LinkState link() const { return link_; }

  /// Link state from the driver. Returns true if this took the rail down.
  bool on_link(nic::LinkState state, uint64_t now);
  /// A packet was sent on the rail.
  void on_sent(uint64_t now);
  /// An acknowledgement covered a packet of this rail; `still_waiting`: other
  /// packets of the rail remain unacknowledged.
  void on_ack(bool still_waiting, uint64_t now);
  /// Checks ack silence: packets were sent on the rail and none has been
  /// acknowledged for the silence span. Packets the sender gave up on (by
  /// timeout) still count as unanswered. Returns true if this took the rail down.
  bool check_silence(uint64_t base_rto_ns, uint64_t now);
  /// When the current silence would take the rail down (UINT64_MAX: never).
  uint64_t silence_deadline(uint64_t base_rto_ns) const;

  /// True when a probe should be sent now (the rail is down and its link is not).
  bool probe_due(uint64_t now);
  /// True when a keepalive probe should be sent now (the rail is up, idle,
  /// and has heard nothing for keepalive_ns); counts it as unanswered.
  bool keepalive_due(uint64_t now);
  /// Takes the rail down (ack silence) once keepalive_misses keepalives in a
  /// row went unanswered. Returns true if this took the rail down.
  bool check_keepalives(uint64_t now);
  /// When keepalive_due or check_keepalives next has something to do
  /// (UINT64_MAX: nothing before something else happens).
  uint64_t keepalive_deadline() const;
  uint64_t next_probe_ns() const { return up_ ? UINT64_MAX : next_probe_ns_; }
  /// A probe came back. Returns true if this brought the rail up.
  bool on_probe_reply(uint64_t now);

  uint64_t transitions() const { return transitions_; }
  /// When the rail last went down or came up.
  uint64_t changed_ns() const { return changed_ns_; }

 private:
  void go_down(DownReason why, uint64_t now);
  void on_heard(uint64_t now);  // an ACK or a probe reply came back on the rail
  HealthConfig config_;
  bool up_ = true;
  DownReason reason_ = DownReason::none;
  nic::LinkState link_ = nic::LinkState::unknown;
  uint64_t waiting_since_ns_ = 0;  // 0: nothing unanswered
  uint64_t next_probe_ns_ = 0;
  uint64_t heard_ns_ = 0;  // last ACK or probe reply; 0: the clock has not started
  uint64_t next_keepalive_ns_ = 0;
  uint32_t keepalives_unanswered_ = 0;
  uint64_t transitions_ = 0;
  uint64_t changed_ns_ = 0;
};

}  // namespace railyard::fabric
