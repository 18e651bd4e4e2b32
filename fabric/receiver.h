#pragma once
// The per-peer receive engine: checks each DATA packet against the session,
// the packet-sequence window and the transfer's state, copies its payload
// once, straight into the destination region at its offset (never outside
// it), tracks which chunks of each transfer have landed, reports completed
// transfers, and produces ACKs (cumulative + SACK) and probe replies.
// No allocation after construction, no exceptions, no locks.
//
// Daemon loop, per peer:
//   for each parsed DATA packet:  receiver.on_data(pkt, rail, ecn_ce, region(receiver.region_of(pkt.header)), now)
//   for each parsed PROBE:        receiver.on_probe(pkt, rail, now)
//   after the rx burst:           receiver.poll_tx(now, sender.up_mask(), batches); tx_burst them
//   receiver.drain_completions(out)  -> inbound-transfer notifications

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "drivers/nic/rail.h"
#include "fabric/reliability.h"
#include "fabric/tx_batch.h"
#include "fabric/wire.h"

namespace railyard::fabric {

struct ReceiverConfig {
  uint8_t rails = 1;
  bool packet_mac = false;  ///< leave room for a packet tag (ext::kMac) in ACKs and probe replies
  std::array<nic::PeerSlot, kMaxRails> peer_slot{};  ///< the peer's index in each rail's neighbour table
};

enum class DataResult : uint8_t {
  landed,          ///< payload copied into the region
  completed,       ///< landed, and the transfer is now complete (see drain_completions)
  duplicate,       ///< already had this packet or chunk (or the whole transfer): acknowledged, not copied
  stale_transfer,  ///< older than the transfer now in its slot: refused (Verdict::stale), nothing written
  conflict,        ///< its slot holds another transfer, or it contradicts its transfer: refused (Verdict::conflict)
  stale_session,   ///< another session's packet: dropped
  rejected,        ///< unknown region or range outside it: refused (Verdict::refused), nothing written
  out_of_window,   ///< beyond the sequence or chunk window the sender must respect: dropped
  transfer_out_of_window,  ///< a new transfer id beyond kTransferSlots above the highest opened: dropped
  unopened,        ///< a chunk without meta of a transfer not opened here (its meta chunks lost): dropped
  protocol_error,  ///< not DATA, an unknown rail, or transfer id 0: dropped
};

struct RecvCompletion {
  uint64_t transfer = 0;
  uint32_t region = 0;
  uint64_t region_offset = 0;
  uint64_t length = 0;
  TrafficClass cls = TrafficClass::kv;
  bool checksum_requested = false;
  bool checksum_ok = true;  ///< false: the CRC32C of the landed bytes differs from the sender's
};

struct ReceiverCounters {
  uint64_t data_packets = 0;
  uint64_t bytes_landed = 0;
  uint64_t duplicates = 0;
  uint64_t stale_transfer = 0;
  uint64_t conflicts = 0;
  uint64_t stale_session = 0;
  uint64_t rejected = 0;
  uint64_t out_of_window = 0;           ///< sequence or chunk beyond its window
  uint64_t transfer_out_of_window = 0;  ///< transfer id beyond the window of new ids
  uint64_t unopened = 0;                ///< chunks without meta before their transfer opened
  uint64_t protocol_errors = 0;
  uint64_t acks_sent = 0;
  uint64_t rejects_sent = 0;
  uint64_t probe_replies = 0;
  uint64_t completed = 0;
  uint64_t checksum_failures = 0;
  uint64_t completions_dropped = 0;  ///< the completion queue was full (drain it every loop)
  uint64_t rejects_dropped = 0;      ///< refusal queue full; the sender will retransmit and be refused again
  uint64_t probes_stale_session = 0;  ///< probes of another session, dropped
};

class Receiver {
 public:
  Receiver(const ReceiverConfig& config, uint64_t session);

  /// The region a DATA packet goes to: its meta's, or that of the transfer
  /// it belongs to (kNoRegion when neither is known here).
  uint32_t region_of(const Header& h) const;
  static constexpr uint32_t kNoRegion = UINT32_MAX;
  /// One parsed DATA packet that arrived on `rail`. `region` is the whole
  /// destination region region_of() named (empty if unknown).
  DataResult on_data(const Packet& p, uint8_t rail, bool ecn_ce, std::span<std::byte> region, uint64_t now);
  /// One parsed PROBE that arrived on `rail`: answered on the same rail.
  void on_probe(const Packet& p, uint8_t rail, uint64_t now);

  /// Appends pending ACKs (one per rail that received data since the last
  /// call), reject ACKs and probe replies to the batches. An ACK goes back on
  /// the rail its trigger came in on if that rail is in `up_rails` (bit r),
  /// else on the first up rail. Returns the number of frames appended;
  /// whatever did not fit stays pending.
  size_t poll_tx(uint64_t now, uint32_t up_rails, std::span<TxBatch> rails);

  size_t drain_completions(std::span<RecvCompletion> out);
  const ReceiverCounters& counters() const { return counters_; }
  uint64_t session() const { return session_; }

 private:
  enum class State : uint8_t { idle, active, complete, rejected };
  struct Inbound {
    uint64_t id = 0;
    TransferMeta meta;  // as its first packet with meta gave it
    ChunkLayout layout;
    uint32_t chunks = 0;
    bool checksum = false;
    TrafficClass cls = TrafficClass::kv;
    State state = State::idle;
    ChunkWindow landed;
  };
  struct PendingAck {
    bool pending = false;
    uint64_t seq = 0;
    uint64_t ts = 0;  // a probe's send time, echoed
    uint64_t recv_ns = 0;
    uint8_t wire_rail = 0;  // the sender's index of the rail, from the header
    bool ecn = false;
  };
  struct PendingReject {
    uint64_t seq;
    uint64_t recv_ns;
    uint8_t rail;
    uint8_t wire_rail;
    Verdict verdict;
  };
  static constexpr size_t kRejectQueue = 32;

  /// Answers `h` with a refusal ACK (`verdict`); its sequence is not recorded.
  DataResult refuse(const Header& h, uint8_t rail, uint64_t now, Verdict verdict);
  /// Takes the slot for the transfer `h` (with meta) starts, as transfer `id`.
  void open(Inbound& t, const Header& h, uint64_t id);
  void complete(Inbound& t, std::span<const std::byte> region);
  bool emit_ack(TxBatch& batch, uint8_t out_rail, const PendingAck& a, Verdict verdict, uint64_t now);
  uint8_t ack_rail(uint8_t trigger_rail, uint32_t up_rails) const;

  ReceiverConfig config_;
  uint64_t session_;
  uint8_t ext_;  // ext:: bits of every header we send
  RecvWindow window_;
  // Highest transfer id that opened a slot: a new id is taken only within
  // kTransferSlots above it (the sender holds its first chunk back until then).
  uint64_t max_opened_ = 0;
  std::vector<Inbound> inbound_;
  ChunkWindowStore windows_;
  std::array<PendingAck, kMaxRails> acks_{};
  std::array<PendingAck, kMaxRails> probes_{};
  std::array<PendingReject, kRejectQueue> rejects_{};
  size_t reject_count_ = 0;
  std::vector<RecvCompletion> done_;  // ring
  size_t done_head_ = 0;
  size_t done_size_ = 0;
  ReceiverCounters counters_;
};

}  // namespace railyard::fabric
