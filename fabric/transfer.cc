#include "fabric/transfer.h"

#include <algorithm>
#include <cassert>
#include <limits>

#include "fabric/checksum.h"

namespace railyard::fabric {
namespace {
// How far down a class's FIFO take() looks past transfers that wait for
// acknowledgements (their chunk window is full). Bounded so a packet costs
// O(1); a blocked head rarely lasts longer than one RTT.
constexpr size_t kFreshScan = 16;
}  // namespace

SendQueue::SendQueue(uint32_t chunk_bytes, uint32_t meta_chunks)
    : chunk_bytes_(std::clamp<uint32_t>(chunk_bytes, kMetaSize + 1, UINT16_MAX)),
      meta_chunks_(std::clamp<uint32_t>(meta_chunks, 1, UINT16_MAX)),
      slots_(kTransferSlots) {
  for (auto& r : fresh_) r.init(kTransferSlots);
  // A class never has more chunks queued for resending than the in-flight
  // table holds: new chunks are only taken while its resend queue is empty.
  for (auto& r : resend_) r.init(kMaxInFlightPackets);
}

PostResult SendQueue::post(const OutboundTransfer& t, uint64_t& id) {
  const uint64_t total = t.source.size();
  const ChunkLayout layout{.total = total, .chunk_size = chunk_bytes_, .meta_chunks = meta_chunks_};
  if (!layout.valid() || t.dest_offset > std::numeric_limits<uint64_t>::max() - total) return PostResult::too_large;
  // Ids grow monotonically and map to slot id % kTransferSlots on both ends;
  // skip ids whose slot is still busy.
  for (uint64_t k = 0; k < kTransferSlots; ++k) {
    const uint64_t candidate = next_id_ + k;
    const uint32_t slot = static_cast<uint32_t>(candidate % kTransferSlots);
    Transfer& s = slots_[slot];
    if (s.id != 0) continue;
    s.id = candidate;
    s.source = t.source;
    s.total = total;
    s.region_offset = t.dest_offset;
    s.cookie = t.cookie;
    s.region = t.dest_region;
    s.layout = layout;
    s.chunks = layout.count();
    s.next_chunk = 0;
    s.opened = false;
    s.outstanding = 0;
    s.cls = t.cls;
    s.checksum = t.checksum;
    s.crc = t.checksum ? crc32c(t.source) : 0;
    s.failed = TransferStatus::ok;
    s.acked.reset(windows_.slot(slot));
    fresh_[static_cast<size_t>(t.cls)].push(slot);
    next_id_ = candidate + 1;
    ++active_;
    id = candidate;
    return PostResult::ok;
  }
  return PostResult::busy;
}

bool SendQueue::sendable(const Transfer& t) const {
  if (t.failed != TransferStatus::ok || t.next_chunk >= t.chunks) return false;
  if (t.next_chunk == 0 && t.id > answered_high_ + kTransferSlots) return false;
  // A chunk without meta waits until the peer has the meta.
  if (!t.opened && !t.layout.carries_meta(t.next_chunk)) return false;
  return uint64_t{t.next_chunk} < uint64_t{t.acked.base()} + kChunkWindow;
}

bool SendQueue::drained(const Transfer& t) const { return t.failed != TransferStatus::ok && t.outstanding == 0; }

bool SendQueue::find_fresh(TrafficClass c, size_t& pos) {
  auto& q = fresh_[static_cast<size_t>(c)];
  for (size_t k = 0; k < q.size && k < kFreshScan; ++k) {
    if (sendable(slots_[q.at(k)])) {
      pos = k;
      return true;
    }
  }
  return false;
}

bool SendQueue::ready(TrafficClass c) {
  size_t pos = 0;
  return !resend_[static_cast<size_t>(c)].empty() || find_fresh(c, pos);
}

Slice SendQueue::slice(const Transfer& t, uint32_t slot, uint32_t chunk, uint8_t retransmits) const {
  return {.slot = slot,
          .chunk = chunk,
          .offset = t.layout.offset(chunk),
          .len = t.layout.length(chunk),
          .last = chunk + 1 == t.chunks,
          .meta = t.layout.carries_meta(chunk),
          .retransmits = retransmits};
}

Slice SendQueue::take(TrafficClass c) {
  auto& rq = resend_[static_cast<size_t>(c)];
  if (!rq.empty()) {
    const Resend r = rq.front();
    rq.pop();
    return slice(slots_[r.slot], r.slot, r.chunk, r.retransmits);
  }
  size_t pos = 0;
  const bool found = find_fresh(c, pos);
  assert(found);
  (void)found;
  auto& q = fresh_[static_cast<size_t>(c)];
  const uint32_t slot = q.at(pos);
  Transfer& t = slots_[slot];
  const uint32_t chunk = t.next_chunk++;
  ++t.outstanding;
  if (t.next_chunk == t.chunks) {
    size_t k = 0;
    q.erase_if([&k, pos](uint32_t) { return k++ == pos; });
  }
  return slice(t, slot, chunk, 0);
}

bool SendQueue::requeue(uint32_t slot, uint32_t chunk, uint8_t retransmits) {
  Transfer& t = slots_[slot];
  if (t.failed != TransferStatus::ok) {
    --t.outstanding;
    return drained(t);
  }
  resend_[static_cast<size_t>(t.cls)].push({.slot = slot, .chunk = chunk, .retransmits = retransmits});
  return false;
}

bool SendQueue::acked(uint32_t slot, uint32_t chunk) {
  Transfer& t = slots_[slot];
  --t.outstanding;
  answered(t.id);
  t.opened = true;
  if (t.failed != TransferStatus::ok) return drained(t);
  t.acked.mark(chunk);
  return t.acked.base() >= t.chunks;
}

bool SendQueue::fail(uint32_t slot, TransferStatus why) {
  Transfer& t = slots_[slot];
  if (t.id == 0 || t.failed != TransferStatus::ok || why == TransferStatus::ok) return false;
  answered(t.id);
  t.failed = why;
  const size_t c = static_cast<size_t>(t.cls);
  fresh_[c].erase_if([slot](uint32_t s) { return s == slot; });
  t.outstanding -= static_cast<uint32_t>(resend_[c].erase_if([slot](const Resend& r) { return r.slot == slot; }));
  return drained(t);
}

void SendQueue::finish(uint32_t slot, uint64_t& id, uint64_t& cookie, TransferStatus& status) {
  Transfer& t = slots_[slot];
  id = t.id;
  cookie = t.cookie;
  status = t.failed;
  t.id = 0;
  t.source = {};
  --active_;
}

}  // namespace railyard::fabric
