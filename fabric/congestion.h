#pragma once
// Per-rail congestion control, delay-based after Swift (Kumar et al.,
// SIGCOMM 2020): a window in bytes grows additively while the measured RTT is
// under a target delay and shrinks multiplicatively in proportion to the
// overshoot, at most once per RTT. ECN-echo marks (where a switch marks) and
// losses also shrink it. Delay is the primary signal because veth/kernel
// rails and many rack switches never mark.

#include <cstdint>

#include "fabric/rtt.h"

namespace railyard::fabric {

struct CongestionConfig {
  uint32_t packet_bytes = 1500;                 ///< one full packet on this rail; the minimum window
  uint64_t initial_window_bytes = 64 * 1024;    ///< about a BDP at 10 Gbit/s × 50 µs
  uint64_t max_window_bytes = 16 * 1024 * 1024; ///< bounds a rail's share of the in-flight table
  /// Target delay = lowest RTT seen on the rail + target_base + hops × per_hop.
  /// Swift uses a few µs per hop in hardware; kernel rails add scheduling
  /// noise, so the defaults leave 100 µs of queueing before backing off.
  uint64_t target_base_ns = 50'000;
  uint64_t target_per_hop_ns = 25'000;
  uint32_t hops = 2;
  double ai_packets_per_rtt = 1.0;  ///< additive increase (packets per RTT)
  double beta = 0.8;                ///< multiplicative decrease per unit of relative overshoot
  double max_mdf = 0.5;             ///< largest decrease per RTT (delay or loss)
  double ecn_mdf = 0.3;             ///< decrease for an ECN-echo mark
  uint64_t rate_interval_ns = 1'000'000;  ///< delivery-rate sampling period floor
  uint64_t initial_rtt_ns = 100'000;      ///< assumed for window_rate_Bps() before the first sample
  RttConfig rtt;
};

class CongestionControl {
 public:
  explicit CongestionControl(const CongestionConfig& config = {});

  /// True if `bytes` more fit the window now. An empty rail may always send
  /// one packet, so a collapsed window still probes the path.
  bool can_send(uint64_t bytes) const;
  void on_sent(uint64_t bytes);
  /// Bytes acknowledged. `rtt_ns` is 0 when this ACK brought no sample for the rail.
  void on_acked(uint64_t bytes, uint64_t rtt_ns, bool ecn, uint64_t now);
  /// Bytes declared lost by SACK (fast retransmit).
  void on_loss(uint64_t bytes, uint64_t now);
  /// Bytes declared lost by retransmission timeout: window back to the minimum.
  void on_timeout(uint64_t bytes, uint64_t now);
  /// The last timeout was spurious (what it declared lost arrived): the
  /// window it had before. Once per timeout.
  void undo_timeout();
  /// The last timeout stands (its retransmissions were answered first).
  void keep_timeout() { cwnd_before_timeout_ = 0; }
  /// Bytes no longer in flight without a congestion signal (refused by the
  /// NIC, or drained from a rail declared down).
  void release(uint64_t bytes);
  /// Back to the initial window (a rail returning from down), keeping the RTT history.
  void reset_window();

  uint64_t window_bytes() const { return static_cast<uint64_t>(cwnd_); }
  uint64_t inflight_bytes() const { return inflight_; }
  uint64_t free_bytes() const { return inflight_ >= window_bytes() ? 0 : window_bytes() - inflight_; }
  uint64_t target_delay_ns() const;
  const RttEstimator& rtt() const { return rtt_; }
  RttEstimator& rtt() { return rtt_; }
  /// Smoothed delivery rate (acknowledged bytes per second).
  uint64_t delivery_rate_Bps() const { return static_cast<uint64_t>(rate_Bps_); }
  /// What the window allows: window / SRTT in bytes per second.
  uint64_t window_rate_Bps() const;
  uint64_t decreases() const { return decreases_; }

 private:
  bool may_decrease(uint64_t now) const;
  void decrease(double factor, uint64_t now);
  void clamp();
  void account_rate(uint64_t bytes, uint64_t now);

  CongestionConfig config_;
  RttEstimator rtt_;
  double cwnd_;
  double cwnd_before_timeout_ = 0;  ///< 0: no timeout to undo
  uint64_t inflight_ = 0;
  uint64_t last_decrease_ns_ = 0;
  bool decreased_ = false;
  uint64_t decreases_ = 0;
  uint64_t rate_start_ns_ = 0;
  uint64_t rate_bytes_ = 0;
  double rate_Bps_ = 0;
};

}  // namespace railyard::fabric
