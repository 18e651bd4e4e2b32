#pragma once
// Reliability building blocks, per peer:
//   - ChunkWindow: which chunks of one transfer are done (acknowledged at the
//     sender, landed at the receiver), as "all below base" plus a bitmap of
//     kChunkWindow chunks above it. Counting chunks, not bytes, means a range
//     that arrives twice (original and retransmission) is counted once.
//   - InFlightTable: the sender's packets sent and not yet acknowledged or
//     given up, indexed by packet sequence in a ring preallocated at
//     construction, with a send-ordered queue per rail for loss detection.
//   - RecvWindow: the receiver's record of packet sequences seen, for
//     duplicate suppression and for the cumulative ACK and SACK blocks.
// Nothing here allocates after construction.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "fabric/wire.h"

namespace railyard::fabric {

/// The 64-bit transfer id whose low 32 bits a DATA header carries: the one
/// nearest `reference` (the highest id the receiver opened). Ids in play lie
/// within kTransferSlots of it, far less than 2^31, so this is never ambiguous.
uint64_t widen_transfer_id(uint32_t low, uint64_t reference);

class ChunkWindow {
 public:
  static constexpr size_t kWords = kChunkWindow / 64;
  enum class Mark : uint8_t { fresh, duplicate, out_of_window };

  /// `words` (kWords of them) is the bitmap's storage, owned by the caller's table.
  void reset(std::span<uint64_t> words);
  Mark mark(uint32_t chunk);
  bool done(uint32_t chunk) const;
  /// Every chunk below base() is done.
  uint32_t base() const { return base_; }

 private:
  bool test(uint32_t chunk) const;
  uint64_t* words_ = nullptr;
  uint32_t base_ = 0;
};

/// Storage for one ChunkWindow per transfer slot, left uninitialised: a
/// window is cleared by ChunkWindow::reset when its slot opens, so a new
/// engine only touches (and the kernel only zero-fills) the pages of the slots
/// it uses, not 1 MiB up front (a new session, a fuzz input).
class ChunkWindowStore {
 public:
  ChunkWindowStore() : words_(new uint64_t[size_t{kTransferSlots} * ChunkWindow::kWords]) {}
  std::span<uint64_t> slot(uint64_t transfer_id) {
    return {words_.get() + size_t{transfer_id % kTransferSlots} * ChunkWindow::kWords, ChunkWindow::kWords};
  }

 private:
  std::unique_ptr<uint64_t[]> words_;
};

/// One packet in flight. `bytes` counts the whole datagram (header + payload),
/// which is what the rail's window is charged.
struct InFlight {
  uint64_t seq = 0;
  uint64_t sent_ns = 0;
  uint32_t slot = 0;   ///< outbound transfer slot
  uint32_t chunk = 0;  ///< chunk index within the transfer
  uint32_t bytes = 0;
  uint8_t rail = 0;
  TrafficClass cls = TrafficClass::activation;
  uint8_t retransmits = 0;  ///< times this chunk was sent before
};

class InFlightTable {
 public:
  /// `capacity`: a power of two, at most kMaxInFlightPackets.
  InFlightTable(uint32_t capacity, uint8_t rails);

  bool full() { return next_seq_ - floor() >= capacity_; }
  uint64_t next_seq() const { return next_seq_; }
  /// Lowest sequence still in flight (next_seq() when none): the floor the
  /// receiver may forget below.
  uint64_t floor();
  size_t live() const { return live_; }
  size_t live_on(uint8_t rail) const { return rail_live_[rail]; }

  /// Records `e` under a new sequence (returned). Precondition: !full().
  uint64_t add(InFlight e);
  const InFlight* find(uint64_t seq) const;
  /// Rail and send time of `seq` if it was sent recently enough that its
  /// record is still in the ring (in flight or answered since): what an ACK's
  /// echoed time and trigger rail are checked against.
  bool sent_record(uint64_t seq, uint64_t& sent_ns, uint8_t& rail) const;
  /// Removes `seq` if in flight; copies it to `out`.
  bool remove(uint64_t seq, InFlight& out);
  /// The next sequence in [from, to) still in flight, or `to`.
  uint64_t next_live(uint64_t from, uint64_t to) const;

  /// SACK-based loss on one rail: packets on a rail arrive in the order they
  /// were sent, so the oldest packet of the rail is lost once at least
  /// `threshold` of the `window` packets sent after it on the same rail are
  /// acknowledged. Removes and returns one lost packet per call.
  bool take_lost_by_sack(uint8_t rail, uint32_t threshold, uint32_t window, InFlight& out);
  /// The rail's oldest packet if it was sent at least `rto_ns` ago.
  bool take_lost_by_timeout(uint8_t rail, uint64_t now, uint64_t rto_ns, InFlight& out);
  /// Removes the rail's oldest packet (draining a rail that went down).
  bool take_any(uint8_t rail, InFlight& out);
  /// Send time of the rail's oldest packet; false when the rail is idle.
  bool oldest_sent(uint8_t rail, uint64_t& sent_ns);

 private:
  struct RailQueue {
    std::vector<uint64_t> seqs;  // ring, capacity_ entries
    uint32_t head = 0;
    uint32_t size = 0;
  };
  bool is_live(uint64_t seq) const;
  void trim(RailQueue& q);
  void erase(uint64_t seq);

  uint32_t capacity_;
  uint32_t mask_;
  std::vector<InFlight> entries_;
  std::vector<uint64_t> live_bits_;
  std::vector<RailQueue> rails_;
  std::array<size_t, kMaxRails> rail_live_{};
  uint64_t next_seq_ = 1;  // 0 marks "no sequence" (probes carry it)
  uint64_t base_ = 1;
  size_t live_ = 0;
};

/// The receiver's view of one peer's packet sequences.
class RecvWindow {
 public:
  /// Sequences accepted above the cumulative point: four times the sender's
  /// in-flight limit. A sender's new sequence is within kMaxInFlightPackets of
  /// its floor, and its floor moves past sequences we never saw only by
  /// giving them up; a sender that loses its whole window (and stops on ack
  /// silence) gives up about kMaxInFlightPackets, so this leaves room for
  /// that to happen more than twice before a lone surviving packet arrives.
  static constexpr uint64_t kBits = 4 * uint64_t{kMaxInFlightPackets};
  enum class Result : uint8_t { fresh, duplicate, out_of_window };

  RecvWindow();
  /// Records `seq`; `floor` (≤ seq) is the sender's lowest outstanding
  /// sequence from the header, below which nothing will ever arrive that
  /// matters. A sequence kBits or more above the cumulative point is refused
  /// before its floor is looked at, so no packet moves the window further
  /// than kBits, whatever its header says.
  Result receive(uint64_t seq, uint64_t floor);
  /// What receive() would not refuse as out_of_window (checks only).
  bool in_window(uint64_t seq) const { return seq < cum_ || seq - cum_ < kBits; }
  /// Fills cum and the SACK blocks: first the run holding `trigger`, then
  /// runs upwards from cum, as many as fit.
  void fill_ack(uint64_t trigger, AckBody& ack) const;
  uint64_t cum() const { return cum_; }

 private:
  bool test(uint64_t seq) const;
  void set(uint64_t seq);
  void clear(uint64_t seq);
  void advance_to(uint64_t floor);

  std::vector<uint64_t> bits_;
  uint64_t cum_ = 1;   // data sequences start at 1
  uint64_t high_ = 1;  // one above the highest sequence received
};

}  // namespace railyard::fabric
