#include "fabric/receiver.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "fabric/checksum.h"

namespace railyard::fabric {
namespace {

bool fits(std::span<const std::byte> region, uint64_t offset, uint64_t length) {
  return offset <= region.size() && length <= region.size() - offset;
}

}  // namespace

Receiver::Receiver(const ReceiverConfig& config, uint64_t session)
    : config_(config),
      session_(session),
      ext_(config.packet_mac ? ext::kMac : 0),
      inbound_(kTransferSlots),
      done_(2 * size_t{kTransferSlots}) {
  config_.rails = std::clamp<uint8_t>(config.rails, 1, kMaxRails);
}

DataResult Receiver::refuse(const Header& h, uint8_t rail, uint64_t now, Verdict verdict) {
  DataResult result = DataResult::rejected;
  switch (verdict) {
    case Verdict::stale: ++counters_.stale_transfer; result = DataResult::stale_transfer; break;
    case Verdict::conflict: ++counters_.conflicts; result = DataResult::conflict; break;
    case Verdict::refused:
    case Verdict::none: ++counters_.rejected; break;
  }
  // The refused packet's sequence is deliberately not recorded as received:
  // if this refusal is lost, the sender times the packet out, resends it
  // and is refused again, rather than reading a later SACK as delivery.
  if (reject_count_ == kRejectQueue) {
    ++counters_.rejects_dropped;
  } else {
    rejects_[reject_count_++] = {.seq = h.seq, .recv_ns = now, .rail = rail, .wire_rail = h.rail, .verdict = verdict};
  }
  return result;
}

uint32_t Receiver::region_of(const Header& h) const {
  if (h.flags & flag::kMeta) return h.meta.region;
  const uint64_t id = widen_transfer_id(h.transfer, max_opened_);
  const Inbound& t = inbound_[id % kTransferSlots];
  return t.state != State::idle && t.id == id ? t.meta.region : kNoRegion;
}

DataResult Receiver::on_data(const Packet& p, uint8_t rail, bool ecn_ce, std::span<std::byte> region, uint64_t now) {
  const Header& h = p.header;
  const uint64_t id = widen_transfer_id(h.transfer, max_opened_);
  if (h.type != PacketType::data || rail >= config_.rails || id == 0) {
    ++counters_.protocol_errors;
    return DataResult::protocol_error;
  }
  if (h.session != session_tag(session_)) {
    ++counters_.stale_session;
    return DataResult::stale_session;
  }
  ++counters_.data_packets;
  // A sequence the window refuses is refused before anything else looks at
  // the packet: whatever its transfer fields say, it changes nothing.
  if (!window_.in_window(h.seq)) {
    ++counters_.out_of_window;
    return DataResult::out_of_window;
  }

  // Decide what to do with the payload before recording the sequence, so a
  // packet we do not take is never acknowledged as received.
  const bool meta = (h.flags & flag::kMeta) != 0;
  bool duplicate = false;
  Inbound& t = inbound_[id % kTransferSlots];
  if (t.state != State::idle && t.id == id) {
    // The transfer is open here: the packet must agree with what opened it
    // (parse() checked a meta packet's layout; a chunk without meta is
    // checked against the stored one).
    const bool agrees = meta ? h.meta == t.meta
                             : !t.layout.carries_meta(h.chunk) && h.chunk < t.chunks &&
                                   h.body_len == t.layout.length(h.chunk) &&
                                   ((h.flags & flag::kLast) != 0) == (h.chunk + 1 == t.chunks);
    if (!agrees) return refuse(h, rail, now, Verdict::conflict);
    if (t.state == State::rejected) return refuse(h, rail, now, Verdict::refused);
    if (t.state == State::complete || t.landed.done(h.chunk)) {
      duplicate = true;  // its bytes are in place: acknowledging it is the truth
    } else if (uint64_t{h.chunk} - t.landed.base() >= kChunkWindow) {
      ++counters_.out_of_window;
      return DataResult::out_of_window;
    }
  } else if (t.state == State::idle || id > t.id) {
    if (id > max_opened_ && id - max_opened_ > kTransferSlots) {
      ++counters_.transfer_out_of_window;
      return DataResult::transfer_out_of_window;
    }
    if (!meta) {
      // Its meta chunks have not arrived (lost, or overtaken on another
      // rail): nothing says where it goes. Unanswered, it is sent again.
      ++counters_.unopened;
      return DataResult::unopened;
    }
    if (h.chunk >= kChunkWindow) {
      ++counters_.out_of_window;
      return DataResult::out_of_window;
    }
    // A sender reuses a slot only once every chunk of the transfer in it is
    // acknowledged, so a newer id finds the slot complete (or refused).
    if (t.state == State::active) return refuse(h, rail, now, Verdict::conflict);
    open(t, h, id);
  } else {
    // Older than the transfer in its slot: that one could only have been
    // started after this one was acknowledged whole, so this is a late copy;
    // the sender has nothing of it in flight and ignores the refusal. If it
    // does (a slot taken by a forged transfer), it fails the transfer rather
    // than count it delivered.
    return refuse(h, rail, now, Verdict::stale);
  }
  // The region is looked up per packet: it may have gone since the transfer began.
  if (!duplicate && !fits(region, t.meta.region_offset, t.meta.total_len)) {
    t.state = State::rejected;  // unknown region, or the transfer does not fit in it
    return refuse(h, rail, now, Verdict::refused);
  }

  // Recorded for the ACKs (in the window: checked first). Whether the bytes
  // are written is the chunk's business, not the sequence's: a sequence the
  // window calls old (given up by the sender, or marked by a datagram that
  // was not the sender's) may still carry a chunk that has not landed, and
  // then it lands.
  window_.receive(h.seq, h.seq - h.floor_delta);
  PendingAck& a = acks_[rail];
  a.ecn = (a.pending && a.ecn) || ecn_ce;
  a.pending = true;
  a.seq = h.seq;
  a.recv_ns = now;
  a.wire_rail = h.rail;

  if (duplicate) {
    ++counters_.duplicates;
    return DataResult::duplicate;
  }
  // The one copy: fits() above bounds region_offset + total, and the layout
  // bounds the chunk's offset + length by total.
  if (h.body_len != 0)
    std::memcpy(region.data() + t.meta.region_offset + t.layout.offset(h.chunk), p.body.data(), h.body_len);
  t.landed.mark(h.chunk);
  counters_.bytes_landed += h.body_len;
  if (t.landed.base() >= t.chunks) {
    complete(t, region);
    return DataResult::completed;
  }
  return DataResult::landed;
}

void Receiver::open(Inbound& t, const Header& h, uint64_t id) {
  t.id = id;
  t.meta = h.meta;
  t.layout = h.meta.layout();
  t.chunks = t.layout.count();
  t.checksum = (h.flags & flag::kChecksumRequested) != 0;
  t.cls = h.cls;
  t.state = State::active;
  t.landed.reset(windows_.slot(id));
  max_opened_ = std::max(max_opened_, id);
}

void Receiver::complete(Inbound& t, std::span<const std::byte> region) {
  t.state = State::complete;
  ++counters_.completed;
  RecvCompletion c{.transfer = t.id,
                   .region = t.meta.region,
                   .region_offset = t.meta.region_offset,
                   .length = t.meta.total_len,
                   .cls = t.cls,
                   .checksum_requested = t.checksum};
  if (c.checksum_requested) {
    c.checksum_ok = crc32c(region.subspan(t.meta.region_offset, t.meta.total_len)) == t.meta.checksum;
    if (!c.checksum_ok) ++counters_.checksum_failures;
  }
  if (done_size_ == done_.size()) {
    ++counters_.completions_dropped;
    return;
  }
  done_[(done_head_ + done_size_++) % done_.size()] = c;
}

size_t Receiver::drain_completions(std::span<RecvCompletion> out) {
  size_t n = 0;
  while (n < out.size() && done_size_ != 0) {
    out[n++] = done_[done_head_];
    done_head_ = (done_head_ + 1) % done_.size();
    --done_size_;
  }
  return n;
}

void Receiver::on_probe(const Packet& p, uint8_t rail, uint64_t now) {
  if (p.header.type != PacketType::probe || rail >= config_.rails) return;
  if (p.header.session != session_tag(session_)) {
    ++counters_.probes_stale_session;
    return;
  }
  probes_[rail] = {.pending = true, .seq = 0, .ts = p.header.ts, .recv_ns = now, .wire_rail = p.header.rail};
}

uint8_t Receiver::ack_rail(uint8_t trigger_rail, uint32_t up_rails) const {
  if (up_rails & (1u << trigger_rail)) return trigger_rail;
  for (uint8_t r = 0; r < config_.rails; ++r)
    if (up_rails & (1u << r)) return r;
  return trigger_rail;
}

bool Receiver::emit_ack(TxBatch& batch, uint8_t out_rail, const PendingAck& a, Verdict verdict, uint64_t now) {
  if (batch.full()) return false;
  AckBody body;
  window_.fill_ack(a.seq, body);
  body.trigger_seq = a.seq;
  body.trigger_rail = a.wire_rail;
  body.verdict = verdict;
  uint8_t flags = 0;
  const uint64_t delay = now > a.recv_ns ? now - a.recv_ns : 0;
  body.ack_delay_ns = static_cast<uint32_t>(std::min<uint64_t>(delay, std::numeric_limits<uint32_t>::max()));
  if (a.ecn) flags |= flag::kEcnEcho;
  const Header h{.type = PacketType::ack, .flags = flags, .rail = out_rail, .ext = ext_, .session = session_};
  std::span<std::byte> room = batch.next_room();
  const size_t n = encode_ack(h, body, room);
  if (n == 0) return false;
  batch.frames[batch.count++] = {.header = room.first(n), .payload = {}, .peer = config_.peer_slot[out_rail]};
  return true;
}

size_t Receiver::poll_tx(uint64_t now, uint32_t up_rails, std::span<TxBatch> rails) {
  size_t n = 0;
  const size_t nrails = std::min<size_t>(rails.size(), config_.rails);
  for (uint8_t r = 0; r < nrails; ++r) {
    PendingAck& pr = probes_[r];
    if (!pr.pending || rails[r].full()) continue;
    std::span<std::byte> room = rails[r].next_room();
    const Header h{.type = PacketType::probe_reply, .rail = pr.wire_rail, .ext = ext_, .session = session_,
                   .ts = pr.ts};
    const size_t len = encode_header(h, room);
    rails[r].frames[rails[r].count++] = {.header = room.first(len), .payload = {}, .peer = config_.peer_slot[r]};
    pr.pending = false;
    ++counters_.probe_replies;
    ++n;
  }
  for (uint8_t r = 0; r < config_.rails; ++r) {
    if (!acks_[r].pending) continue;
    const uint8_t out = ack_rail(r, up_rails);
    if (out >= nrails || !emit_ack(rails[out], out, acks_[r], Verdict::none, now)) continue;
    acks_[r].pending = false;
    ++counters_.acks_sent;
    ++n;
  }
  size_t kept = 0;
  for (size_t i = 0; i < reject_count_; ++i) {
    const PendingReject& j = rejects_[i];
    const uint8_t out = ack_rail(j.rail, up_rails);
    const PendingAck a{.pending = true, .seq = j.seq, .recv_ns = j.recv_ns, .wire_rail = j.wire_rail};
    if (out < nrails && emit_ack(rails[out], out, a, j.verdict, now)) {
      ++counters_.rejects_sent;
      ++n;
    } else {
      rejects_[kept++] = j;
    }
  }
  reject_count_ = kept;
  return n;
}

}  // namespace railyard::fabric
