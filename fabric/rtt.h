#pragma once
// Round-trip time estimate and retransmission timeout for one rail
// (RFC 6298: SRTT/RTTVAR, RTO = SRTT + max(G, 4·RTTVAR), clamped), with
// exponential backoff on timeouts that a fresh sample clears.

#include <cstdint>

namespace railyard::fabric {

struct RttConfig {
  /// Before the first sample. Rack-local paths are 10-200 µs; 10 ms is safely
  /// above anything a healthy rail shows, and the first ACK replaces it.
  uint64_t initial_rto_ns = 10'000'000;
  /// Floor. A kernel rail's round trip can stall for milliseconds while the
  /// RTT it shows is 100 µs: a send or receive system call runs the
  /// network's pending softirq work (up to netdev_budget_usecs, 2 ms, more
  /// than once), and a busy host leaves a runnable thread waiting 0.3-1.3 ms
  /// (perf sched, rack-sim at 2 x 1 Gbit/s). With a 1 ms floor that gave ~3
  /// timeouts a second per rail, every one spurious, each collapsing the
  /// window to one packet. 5 ms, eRPC's RTO, leaves SACK to recover losses
  /// and the timer to tail losses, which then cost 5 ms (RFC 6298's 1 s
  /// floor is for the WAN).
  uint64_t min_rto_ns = 5'000'000;
  uint64_t max_rto_ns = 200'000'000;  ///< cap on backoff: a rail this slow is declared down long before
  uint64_t granularity_ns = 100'000;  ///< G: the engine's timer tick
};

class RttEstimator {
 public:
  explicit RttEstimator(const RttConfig& config = {}) : config_(config) {}

  /// One RTT sample (ns, already net of the receiver's ACK delay).
  void sample(uint64_t rtt_ns);
  /// A retransmission timeout fired: double the RTO until the next sample.
  void backoff();

  bool has_sample() const { return srtt_ns_ != 0; }
  uint64_t srtt_ns() const { return srtt_ns_; }
  uint64_t rttvar_ns() const { return rttvar_ns_; }
  uint64_t min_rtt_ns() const { return min_rtt_ns_; }
  uint64_t latest_ns() const { return latest_ns_; }
  /// Current RTO, backoff included.
  uint64_t rto_ns() const;
  /// RTO without backoff (for ack-silence detection, which must not stretch
  /// with every timeout of the rail it is judging).
  uint64_t base_rto_ns() const;

 private:
  RttConfig config_;
  uint64_t srtt_ns_ = 0;
  uint64_t rttvar_ns_ = 0;
  uint64_t min_rtt_ns_ = 0;
  uint64_t latest_ns_ = 0;
  uint32_t backoff_shift_ = 0;
};

}  // namespace railyard::fabric
