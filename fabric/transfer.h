#pragma once
// The sender's outbound transfers for one peer: a table of kTransferSlots
// slots preallocated at construction, a FIFO of transfers with unsent chunks
// per traffic class, and a queue of chunks to resend per class. It cuts
// transfers into chunks (offset, length) without copying; the Sender turns
// them into packets.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "fabric/reliability.h"
#include "fabric/wire.h"

namespace railyard::fabric {

/// What a workload posts: bytes of a registered local region to a region of the peer.
struct OutboundTransfer {
  std::span<const std::byte> source;  ///< must stay valid and unchanged until completion
  uint32_t dest_region = 0;
  uint64_t dest_offset = 0;
  TrafficClass cls = TrafficClass::kv;
  bool checksum = false;  ///< have the receiver verify a CRC32C of the whole transfer
  uint64_t cookie = 0;    ///< returned with the completion
};

enum class PostResult : uint8_t {
  ok,
  busy,            ///< every transfer slot towards this peer is in use
  too_large,       ///< more chunks than 32 bits can index, or the range overflows
};

enum class TransferStatus : uint8_t {
  ok,        ///< every byte acknowledged by the peer: it placed them
  rejected,  ///< the peer refused it (unknown region or range outside it)
  stale,     ///< the peer holds a newer transfer in its slot and did not take this one
  conflict,  ///< the peer holds another transfer in its slot, or one under this id that disagrees with it
};

/// One chunk to send: where it comes from and where it goes.
struct Slice {
  uint32_t slot = 0;
  uint32_t chunk = 0;
  uint64_t offset = 0;  ///< within the transfer
  uint32_t len = 0;
  bool last = false;
  bool meta = false;    ///< carries the transfer's meta (ChunkLayout::carries_meta)
  uint8_t retransmits = 0;
};

class SendQueue {
 public:
  /// `chunk_bytes`: payload of a packet without meta, the same for every
  /// rail (so a chunk lost on one rail can be resent unchanged on any other);
  /// the first `meta_chunks` chunks of a transfer carry the meta instead of
  /// kMetaSize of it (wire.h, ChunkLayout).
  SendQueue(uint32_t chunk_bytes, uint32_t meta_chunks);

  PostResult post(const OutboundTransfer& t, uint64_t& id);

  /// True if class `c` has a chunk ready (to resend, or new within its transfer's window).
  bool ready(TrafficClass c);
  /// Takes the next chunk of class `c`: resends first, then new chunks in
  /// posting order. Precondition: ready(c).
  Slice take(TrafficClass c);
  /// A chunk's packet was lost or refused: queue it to be sent again. Returns
  /// true when this leaves a rejected transfer drained; then finish() it.
  bool requeue(uint32_t slot, uint32_t chunk, uint8_t retransmits);

  /// A chunk's packet was acknowledged. Returns true when the transfer just
  /// finished (completed or, after a failure, drained); then finish() it.
  bool acked(uint32_t slot, uint32_t chunk);
  /// The peer did not take the transfer (`why` is not ok): stop sending it.
  /// Returns true if it is already drained (nothing outstanding); then finish() it.
  bool fail(uint32_t slot, TransferStatus why);
  /// Frees the slot; fills the completion fields.
  void finish(uint32_t slot, uint64_t& id, uint64_t& cookie, TransferStatus& status);

  struct Transfer {
    uint64_t id = 0;  // 0: free slot
    std::span<const std::byte> source;
    uint64_t total = 0;
    uint64_t region_offset = 0;
    uint64_t cookie = 0;
    uint32_t region = 0;
    ChunkLayout layout;
    uint32_t chunks = 0;       // ≥ 1: an empty transfer is one empty chunk
    uint32_t next_chunk = 0;   // first never sent
    bool opened = false;       // the peer answered one of its packets: it has the meta
    uint32_t outstanding = 0;  // chunks in flight or queued for resending
    uint32_t crc = 0;
    TrafficClass cls = TrafficClass::kv;
    bool checksum = false;
    TransferStatus failed = TransferStatus::ok;  // not ok: stop sending, report it once drained
    ChunkWindow acked;
  };
  const Transfer& transfer(uint32_t slot) const { return slots_[slot]; }
  uint32_t chunk_bytes() const { return chunk_bytes_; }
  uint32_t meta_chunks() const { return meta_chunks_; }
  size_t active() const { return active_; }

 private:
  template <class T>
  struct Ring {
    std::vector<T> items;
    size_t head = 0;
    size_t size = 0;
    void init(size_t capacity) { items.resize(capacity); }
    bool empty() const { return size == 0; }
    T& front() { return items[head]; }
    T& at(size_t k) { return items[(head + k) % items.size()]; }
    void push(const T& v) { items[(head + size++) % items.size()] = v; }
    void pop() { head = (head + 1) % items.size(), --size; }
    /// Removes the items `drop` matches, keeping the others' order; returns how many.
    template <class Pred>
    size_t erase_if(Pred drop) {
      size_t kept = 0;
      const size_t n = size;
      for (size_t k = 0; k < n; ++k)
        if (!drop(at(k))) at(kept++) = at(k);
      size = kept;
      return n - kept;
    }
  };
  struct Resend {
    uint32_t slot;
    uint32_t chunk;
    uint8_t retransmits;
  };
  bool sendable(const Transfer& t) const;
  /// The peer answered a packet of transfer `id` (acknowledged or refused it).
  void answered(uint64_t id) { answered_high_ = std::max(answered_high_, id); }
  /// Position in fresh_[c] of the first transfer with a chunk it may send now.
  bool find_fresh(TrafficClass c, size_t& pos);
  bool drained(const Transfer& t) const;
  Slice slice(const Transfer& t, uint32_t slot, uint32_t chunk, uint8_t retransmits) const;

  uint32_t chunk_bytes_;
  uint32_t meta_chunks_;
  std::vector<Transfer> slots_;
  ChunkWindowStore windows_;
  std::array<Ring<uint32_t>, kClassCount> fresh_;   // slots with unsent chunks, posting order
  std::array<Ring<Resend>, kClassCount> resend_;
  uint64_t next_id_ = 1;
  // Highest transfer id the peer has answered. A transfer's first chunk goes
  // out only if its id is within kTransferSlots of it, the window a receiver
  // opens new transfer ids in (ids grow by at most kTransferSlots per post).
  uint64_t answered_high_ = 0;
  size_t active_ = 0;
};

}  // namespace railyard::fabric
