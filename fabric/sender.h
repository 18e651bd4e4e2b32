#pragma once
// The per-peer send engine: composes the send queue (transfers cut into
// chunks), the in-flight table (reliability), per-rail congestion control,
// rail health and the scheduler. Pure logic: the daemon's data-plane thread
// feeds it time, link states and received ACKs, and moves the packets it
// produces to the rails. No allocation after construction, no exceptions,
// no locks: one thread owns a Sender.
//
// Daemon loop, per peer:
//   sender.set_link(rail, rail.link_state(), now)     on link changes
//   sender.on_ack(packet, now) / on_probe_reply(...)  for parsed ACK / PROBE_REPLY
//   sender.poll_tx(now, batches)                      then tx_burst each rail's batch;
//   sender.on_tx_refused(rail, frames_not_taken, now) for what a rail refused
//   sender.drain_completions(out)                     completions to the workloads
//   sleep until min(next_deadline(now), next rx)

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "drivers/nic/rail.h"
#include "fabric/congestion.h"
#include "fabric/rail_health.h"
#include "fabric/reliability.h"
#include "fabric/scheduler.h"
#include "fabric/transfer.h"
#include "fabric/tx_batch.h"
#include "fabric/wire.h"

namespace railyard::fabric {

struct SenderConfig {
  uint8_t rails = 1;
  /// Payload bytes of a full packet, the same on every rail so that a chunk
  /// lost on one rail can be resent unchanged on another: the smallest
  /// max_datagram() - kDataHeaderSize (- kMacSize with packet_mac) over the
  /// peer's rails. At most 65535.
  uint32_t chunk_bytes = 1400;
  /// A transfer's first chunks that carry its meta (wire.h, ChunkLayout): no
  /// later chunk goes before the peer answered one of them, so this many
  /// should cover the rails' bandwidth-delay product (256 × 1.4 KB = 360 KB:
  /// 1 ms at 2.9 Gbit/s).
  uint32_t meta_chunks = 256;
  uint32_t inflight_capacity = kMaxInFlightPackets;  ///< power of two ≤ kMaxInFlightPackets
  /// SACK loss rule: the oldest packet of a rail is lost when this many of
  /// the next reorder_window packets sent on that rail are acknowledged.
  /// Packets on one rail keep their order, so 3 (TCP's dupthresh) leaves
  /// room for NIC queue reordering without waiting on cross-rail skew.
  uint32_t reorder_threshold = 3;
  uint32_t reorder_window = 8;
  /// Leave room for a packet tag (ext::kMac) in every DATA and PROBE, for the
  /// caller to fill (fabric/packet_auth.h); chunk_bytes must leave room for it.
  bool packet_mac = false;
  CongestionConfig cc;  ///< packet_bytes is set from chunk_bytes and the header room
  HealthConfig health;
  /// The peer's index in each rail's neighbour table (nic::TxFrame::peer).
  std::array<nic::PeerSlot, kMaxRails> peer_slot{};
};

struct SendCompletion {
  uint64_t id = 0;
  uint64_t cookie = 0;
  TransferStatus status = TransferStatus::ok;
};

struct SenderCounters {
  uint64_t data_packets = 0;
  uint64_t data_bytes = 0;  ///< payload bytes sent, retransmissions included
  uint64_t retransmits = 0;
  uint64_t lost_sack = 0;
  uint64_t lost_timeout = 0;
  uint64_t requeued_rail_down = 0;
  uint64_t tx_refused = 0;
  uint64_t acks = 0;
  uint64_t stale_session = 0;  ///< ACKs / probe replies of another session, dropped
  uint64_t ack_unsent = 0;     ///< ACKs naming sequences this sender never sent (see on_ack)
  uint64_t verdicts_late = 0;  ///< refusals whose trigger was no longer in flight (resent or answered already)
  uint64_t rtt_discarded = 0;  ///< ACKs whose echoed time is not the trigger's send time: no RTT sample
  uint64_t probes_sent = 0;
  uint64_t probe_replies = 0;
  uint64_t probe_replies_unmatched = 0;  ///< echoing no probe we sent lately: ignored
  uint64_t rail_down = 0;
  uint64_t rail_up = 0;
  uint64_t completed = 0;
  uint64_t rejected = 0;  ///< transfers the peer refused (unknown region, out of range)
  uint64_t stale = 0;     ///< transfers the peer answered as older than its slot's
  uint64_t conflict = 0;  ///< transfers the peer found in conflict with its slot
};

struct RailStatus {
  bool up = true;
  DownReason reason = DownReason::none;
  nic::LinkState link = nic::LinkState::unknown;
  uint64_t window_bytes = 0;
  uint64_t inflight_bytes = 0;
  uint64_t inflight_packets = 0;
  uint64_t srtt_ns = 0;
  uint64_t min_rtt_ns = 0;
  uint64_t rto_ns = 0;
  uint64_t delivery_rate_Bps = 0;
  uint64_t packets_sent = 0;
  uint64_t retransmits_sent = 0;
  uint64_t losses = 0;
  uint64_t timeouts = 0;           ///< retransmission timeouts (each may declare several packets lost)
  uint64_t spurious_timeouts = 0;  ///< of which what they declared lost arrived after all: window restored
  uint64_t keepalives = 0;         ///< probes sent because the rail was idle and had heard nothing for a while
};

class Sender {
 public:
  Sender(const SenderConfig& config, uint64_t session);

  /// Queues a transfer; `id` is its transfer id, returned in its completion.
  PostResult post(const OutboundTransfer& t, uint64_t& id);

  /// Link state from the rail's driver. A rail going down is drained at once:
  /// its in-flight packets are queued to be resent on the other rails.
  void set_link(uint8_t rail, nic::LinkState state, uint64_t now);

  /// Runs timers, then appends to each rail's batch the probes and data
  /// packets to send now, activation before kv, sprayed over the rails.
  /// Headers go into the batches' room; payloads point into the posted
  /// sources. Returns the number of frames appended.
  size_t poll_tx(uint64_t now, std::span<TxBatch> rails);

  /// Frames produced by poll_tx that the rail did not take (tx_burst
  /// returned less): their chunks are resent later, on any rail, without a
  /// congestion penalty. Frames of other peers or kinds are ignored.
  void on_tx_refused(uint8_t rail, std::span<const nic::TxFrame> refused, uint64_t now);

  /// A parsed ACK from the peer. Nothing in it acknowledges a sequence this
  /// sender has not sent: an ACK whose cumulative point lies beyond them is
  /// dropped whole and changes nothing; blocks or a trigger beyond them are
  /// ignored (both counted in ack_unsent).
  void on_ack(const Packet& ack, uint64_t now);
  /// This session cannot make progress: every ACK for a while has been
  /// dropped for a cumulative point beyond anything sent (the peer's receive
  /// window was moved by a datagram we did not send), or a chunk has been
  /// lost kDesyncRetransmits times in a row (the peer will not take it: its
  /// state is not what we believe). The caller starts a new session; its
  /// transfers are resent there.
  bool desynchronized(uint64_t now) const;
  /// A parsed PROBE_REPLY: may bring its rail back up, if it echoes one of
  /// the last probes sent on that rail.
  void on_probe_reply(const Packet& reply, uint64_t now);
  /// Sends one probe on `rail` at the next poll_tx, up or not: its reply
  /// shows the peer that this end runs the session.
  void request_probe(uint8_t rail);

  /// Retransmission timeouts and ack silence; poll_tx calls it too.
  void on_timer(uint64_t now);
  /// Earliest time on_timer has work (UINT64_MAX: none).
  uint64_t next_deadline();

  /// Moves finished transfers to `out`; returns how many.
  size_t drain_completions(std::span<SendCompletion> out);

  RailStatus rail_status(uint8_t rail) const;
  bool rail_up(uint8_t rail) const { return rail < config_.rails && health_[rail].up(); }
  /// Bit r set when rail r is up (for the Receiver's choice of ACK rail).
  uint32_t up_mask() const;
  const SenderCounters& counters() const { return counters_; }
  uint64_t session() const { return session_; }
  /// Nothing queued, in flight, or waiting to be drained.
  bool idle() const { return queue_.active() == 0; }

 private:
  struct RailCounters {
    uint64_t packets = 0;
    uint64_t retransmits = 0;
    uint64_t losses = 0;
    uint64_t timeouts = 0;
    uint64_t spurious_timeouts = 0;
    uint64_t keepalives = 0;
  };
  /// The sequences the rail's last timeout declared lost, until an ACK
  /// triggered on the rail tells whether one of them arrived after all (a
  /// stalled receiver or ACK path, not a loss: the window comes back) or a
  /// packet sent after the timeout did first (the timeout stands). Sequences
  /// are never reused, so the trigger's sequence says which.
  struct TimeoutEpisode {
    uint64_t first = 0;     ///< 0: none open
    uint64_t last = 0;
    uint64_t sent_end = 0;  ///< the first sequence sent after the timeout
  };
  /// Send times of the last probes on a rail: a reply must echo one of them.
  struct ProbeTimes {
    static constexpr size_t kKept = 8;  // 16 ms of probes at the 2 ms interval
    std::array<uint64_t, kKept> sent{};
    size_t next = 0;
  };
  void emit_data(uint8_t rail, TrafficClass cls, TxBatch& batch, uint64_t now);
  void emit_probe(uint8_t rail, TxBatch& batch, uint64_t now);
  void lost(const InFlight& e);
  void drain_rail(uint8_t rail);
  void finished(uint32_t slot);

  SenderConfig config_;
  uint64_t session_;
  uint8_t ext_;            // ext:: bits of every header
  uint32_t header_room_;   // header (and tag) bytes in front of each payload
  SendQueue queue_;
  InFlightTable table_;
  std::vector<CongestionControl> cc_;
  std::vector<RailHealth> health_;
  std::vector<RailCounters> rail_counters_;
  std::vector<TimeoutEpisode> timeout_episodes_;
  std::vector<ProbeTimes> probe_times_;
  // ACKs dropped whole in a row, and since when (desynchronized()).
  static constexpr uint32_t kDesyncAcks = 16;
  static constexpr uint64_t kDesyncNs = 100'000'000;
  uint32_t unsent_streak_ = 0;
  uint64_t unsent_since_ = 0;
  // 16 losses of one chunk in a row: at 5 % random loss, 1.5e-21.
  static constexpr uint8_t kDesyncRetransmits = 16;
  bool unanswerable_ = false;
  uint32_t probe_requested_ = 0;  // bit r: request_probe(r)
  RailScheduler scheduler_;
  std::vector<uint32_t> done_;  // ring of finished slots awaiting drain_completions
  size_t done_head_ = 0;
  size_t done_size_ = 0;
  SenderCounters counters_;
};

}  // namespace railyard::fabric
