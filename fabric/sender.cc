#include "fabric/sender.h"

#include <algorithm>

namespace railyard::fabric {
namespace {

uint8_t bump(uint8_t n) { return n == UINT8_MAX ? n : static_cast<uint8_t>(n + 1); }

uint8_t header_ext(const SenderConfig& c) { return c.packet_mac ? ext::kMac : 0; }

/// The header (and tag) in front of a chunk: a full packet is this plus chunk_bytes.
uint32_t data_header_room(const SenderConfig& c) {
  return static_cast<uint32_t>(header_room(Header{.type = PacketType::data, .ext = header_ext(c)}));
}

CongestionConfig rail_cc(const SenderConfig& c) {
  CongestionConfig cc = c.cc;
  cc.packet_bytes = c.chunk_bytes + data_header_room(c);
  return cc;
}

}  // namespace

Sender::Sender(const SenderConfig& config, uint64_t session)
    : config_(config),
      session_(session),
      ext_(header_ext(config)),
      header_room_(data_header_room(config)),
      queue_(config.chunk_bytes, config.meta_chunks),
      table_(config.inflight_capacity, config.rails),
      cc_(std::clamp<size_t>(config.rails, 1, kMaxRails), CongestionControl(rail_cc(config))),
      health_(cc_.size(), RailHealth(config.health)),
      rail_counters_(cc_.size()),
      timeout_episodes_(cc_.size()),
      probe_times_(cc_.size()),
      done_(kTransferSlots) {
  config_.rails = static_cast<uint8_t>(cc_.size());
  config_.chunk_bytes = queue_.chunk_bytes();
}

PostResult Sender::post(const OutboundTransfer& t, uint64_t& id) { return queue_.post(t, id); }

uint32_t Sender::up_mask() const {
  uint32_t m = 0;
  for (size_t r = 0; r < health_.size(); ++r)
    if (health_[r].up()) m |= 1u << r;
  return m;
}

void Sender::finished(uint32_t slot) {
  // Slots are only freed when drained, so at most kTransferSlots wait here.
  done_[(done_head_ + done_size_++) % done_.size()] = slot;
}

size_t Sender::drain_completions(std::span<SendCompletion> out) {
  size_t n = 0;
  while (n < out.size() && done_size_ != 0) {
    const uint32_t slot = done_[done_head_];
    done_head_ = (done_head_ + 1) % done_.size();
    --done_size_;
    SendCompletion& c = out[n++];
    queue_.finish(slot, c.id, c.cookie, c.status);
    switch (c.status) {
      case TransferStatus::ok: ++counters_.completed; break;
      case TransferStatus::rejected: ++counters_.rejected; break;
      case TransferStatus::stale: ++counters_.stale; break;
      case TransferStatus::conflict: ++counters_.conflict; break;
    }
  }
  return n;
}

void Sender::lost(const InFlight& e) {
  ++rail_counters_[e.rail].losses;
  // A chunk lost this many times in a row while its rails answer probes is
  // not a lossy path but a receiver that will not take it: its state no
  // longer matches what we believe it has (forged ACKs told us it opened the
  // transfer, say). A new session starts both ends from nothing.
  if (e.retransmits + 1 >= kDesyncRetransmits) unanswerable_ = true;
  if (queue_.requeue(e.slot, e.chunk, bump(e.retransmits))) finished(e.slot);
}

void Sender::drain_rail(uint8_t rail) {
  InFlight e;
  while (table_.take_any(rail, e)) {
    cc_[rail].release(e.bytes);
    ++counters_.requeued_rail_down;
    if (queue_.requeue(e.slot, e.chunk, bump(e.retransmits))) finished(e.slot);
  }
  scheduler_.reset();
}

void Sender::set_link(uint8_t rail, nic::LinkState state, uint64_t now) {
  if (rail >= config_.rails) return;
  if (health_[rail].on_link(state, now)) {
    ++counters_.rail_down;
    drain_rail(rail);
  }
}

void Sender::on_timer(uint64_t now) {
  for (uint8_t r = 0; r < config_.rails; ++r) {
    InFlight e;
    uint64_t bytes = 0;
    TimeoutEpisode& episode = timeout_episodes_[r];
    while (table_.take_lost_by_timeout(r, now, cc_[r].rtt().rto_ns(), e)) {
      bytes += e.bytes;
      ++counters_.lost_timeout;
      if (episode.first == 0) episode.first = e.seq;
      episode.last = std::max(episode.last, e.seq);
      lost(e);
    }
    if (bytes != 0) {
      episode.sent_end = table_.next_seq();
      ++rail_counters_[r].timeouts;
      cc_[r].on_timeout(bytes, now);
      cc_[r].rtt().backoff();
    }
    if (health_[r].check_silence(cc_[r].rtt().base_rto_ns(), now) || health_[r].check_keepalives(now)) {
      ++counters_.rail_down;
      drain_rail(r);
    }
  }
}

uint64_t Sender::next_deadline() {
  if (probe_requested_ != 0) return 0;
  uint64_t t = UINT64_MAX;
  for (uint8_t r = 0; r < config_.rails; ++r) {
    uint64_t sent = 0;
    if (table_.oldest_sent(r, sent)) t = std::min(t, sent + cc_[r].rtt().rto_ns());
    t = std::min(t, health_[r].silence_deadline(cc_[r].rtt().base_rto_ns()));
    t = std::min(t, health_[r].keepalive_deadline());
    if (health_[r].link() != nic::LinkState::down) t = std::min(t, health_[r].next_probe_ns());
  }
  return t;
}

void Sender::emit_probe(uint8_t rail, TxBatch& batch, uint64_t now) {
  std::span<std::byte> room = batch.next_room();
  // The reply echoes the send time, which gives the rail an RTT sample on its return.
  Header h{.type = PacketType::probe, .rail = rail, .ext = ext_, .session = session_, .ts = now};
  const size_t n = encode_header(h, room);
  batch.frames[batch.count++] = {.header = room.first(n), .payload = {}, .peer = config_.peer_slot[rail]};
  ProbeTimes& times = probe_times_[rail];
  times.sent[times.next++ % ProbeTimes::kKept] = now;
  ++counters_.probes_sent;
}

void Sender::emit_data(uint8_t rail, TrafficClass cls, TxBatch& batch, uint64_t now) {
  const uint64_t floor = table_.floor();
  const Slice s = queue_.take(cls);
  const SendQueue::Transfer& t = queue_.transfer(s.slot);
  const uint32_t bytes = s.len + header_room_ + (s.meta ? static_cast<uint32_t>(kMetaSize) : 0);
  const uint64_t seq = table_.add({.sent_ns = now,
                                   .slot = s.slot,
                                   .chunk = s.chunk,
                                   .bytes = bytes,
                                   .rail = rail,
                                   .cls = cls,
                                   .retransmits = s.retransmits});
  uint8_t flags = 0;
  if (s.last) flags |= flag::kLast;
  if (t.checksum) flags |= flag::kChecksumRequested;
  if (s.meta) flags |= flag::kMeta;
  Header h{.type = PacketType::data,
           .cls = cls,
           .flags = flags,
           .rail = rail,
           .ext = ext_,
           .session = session_,
           .seq = seq,
           .transfer = static_cast<uint32_t>(t.id),
           .chunk = s.chunk,
           .floor_delta = static_cast<uint16_t>(seq - floor),
           .body_len = s.len};
  if (s.meta)
    h.meta = {.total_len = t.total,
              .region_offset = t.region_offset,
              .region = t.region,
              .checksum = t.checksum ? t.crc : 0,
              .meta_chunks = static_cast<uint16_t>(t.layout.meta_chunks),
              .chunk_size = static_cast<uint16_t>(t.layout.chunk_size)};
  std::span<std::byte> room = batch.next_room();
  const size_t header = encode_header(h, room);
  batch.frames[batch.count++] = {.header = room.first(header),
                                 .payload = t.source.subspan(s.offset, s.len),
                                 .peer = config_.peer_slot[rail]};
  cc_[rail].on_sent(bytes);
  health_[rail].on_sent(now);
  ++counters_.data_packets;
  counters_.data_bytes += s.len;
  ++rail_counters_[rail].packets;
  if (s.retransmits != 0) {
    ++counters_.retransmits;
    ++rail_counters_[rail].retransmits;
  }
}

size_t Sender::poll_tx(uint64_t now, std::span<TxBatch> rails) {
  on_timer(now);
  const size_t nrails = std::min<size_t>(rails.size(), config_.rails);
  size_t emitted = 0;
  for (uint8_t r = 0; r < nrails; ++r) {
    if (rails[r].full()) continue;
    const bool requested = (probe_requested_ & (1u << r)) != 0;
    const bool keepalive = health_[r].keepalive_due(now);
    if (health_[r].probe_due(now) || requested || keepalive) {
      emit_probe(r, rails[r], now);
      probe_requested_ &= ~(1u << r);
      rail_counters_[r].keepalives += keepalive ? 1 : 0;
      ++emitted;
    }
  }
  const uint64_t packet_bytes = uint64_t{queue_.chunk_bytes()} + header_room_;  // with or without meta
  std::array<RailChoice, kMaxRails> choice{};
  while (!table_.full()) {
    // Strict priority: a kv chunk goes only when no activation chunk is ready.
    TrafficClass cls;
    if (queue_.ready(TrafficClass::activation))
      cls = TrafficClass::activation;
    else if (queue_.ready(TrafficClass::kv))
      cls = TrafficClass::kv;
    else
      break;
    for (size_t r = 0; r < nrails; ++r) {
      choice[r].usable = health_[r].up() && !rails[r].full() && cc_[r].can_send(packet_bytes);
      // What the rail can carry now: window over RTT, in KiB/s.
      choice[r].weight = cc_[r].window_rate_Bps() >> 10;
    }
    const int r = scheduler_.pick(std::span(choice).first(nrails));
    if (r < 0) break;
    emit_data(static_cast<uint8_t>(r), cls, rails[static_cast<size_t>(r)], now);
    ++emitted;
  }
  return emitted;
}

void Sender::on_tx_refused(uint8_t rail, std::span<const nic::TxFrame> refused, uint64_t now) {
  (void)now;
  if (rail >= config_.rails) return;
  for (const nic::TxFrame& f : refused) {
    if (f.peer != config_.peer_slot[rail]) continue;
    InFlight e;
    if (!table_.remove(peek_data_seq(f.header), e)) continue;  // not DATA: 0, never in flight
    cc_[e.rail].release(e.bytes);
    ++counters_.tx_refused;
    // Not a loss: the chunk keeps its retransmit count.
    if (queue_.requeue(e.slot, e.chunk, e.retransmits)) finished(e.slot);
  }
}

namespace {

TransferStatus failure_of(Verdict v) {
  switch (v) {
    case Verdict::refused: return TransferStatus::rejected;
    case Verdict::stale: return TransferStatus::stale;
    case Verdict::conflict: return TransferStatus::conflict;
    case Verdict::none: break;
  }
  return TransferStatus::ok;
}

}  // namespace

void Sender::on_ack(const Packet& p, uint64_t now) {
  if (p.header.type != PacketType::ack) return;
  if (p.header.session != session_tag(session_)) {
    ++counters_.stale_session;
    return;
  }
  const AckBody& a = p.ack;
  // Nothing may acknowledge or refuse a sequence this sender never sent.
  // A cumulative point beyond them says nothing usable (taking part of it
  // would acknowledge packets that may never have arrived): the ACK goes
  // whole. A block or trigger beyond them (a forged DATA the peer took and
  // reports) is ignored; the rest of the ACK is sound.
  const uint64_t sent_end = table_.next_seq();
  if (a.cum > sent_end) {
    ++counters_.ack_unsent;
    // Only while packets are in flight is an ACK owed: with none, such ACKs
    // are not the peer's (nothing could make it name them) and say nothing
    // about the session.
    if (table_.live() == 0)
      unsent_streak_ = 0;
    else if (unsent_streak_++ == 0)
      unsent_since_ = now;
    return;
  }
  unsent_streak_ = 0;
  const bool trigger_sent = a.trigger_seq != 0 && a.trigger_seq < sent_end;
  bool beyond = !trigger_sent;
  for (size_t i = 0; i < a.block_count; ++i) beyond |= a.blocks[i].end > sent_end;
  if (beyond) ++counters_.ack_unsent;
  ++counters_.acks;
  std::array<uint64_t, kMaxRails> acked{};
  std::array<bool, kMaxRails> heard{};

  // The trigger's own record gives its rail and send time; the ACK's rail is
  // only believed when it matches.
  uint64_t trigger_sent_ns = 0;
  uint8_t trigger_rail = 0;
  const bool trigger_known = trigger_sent && table_.sent_record(a.trigger_seq, trigger_sent_ns, trigger_rail) &&
                             trigger_rail == a.trigger_rail;

  if (trigger_sent && a.trigger_rail < config_.rails) {
    TimeoutEpisode& episode = timeout_episodes_[a.trigger_rail];
    if (episode.first != 0 && a.trigger_seq >= episode.first) {
      if (a.trigger_seq <= episode.last) {
        // A packet the timeout declared lost arrived: the rail was stalled,
        // not congested, and gets its window back (its chunks went out again
        // all the same, and land as duplicates).
        cc_[a.trigger_rail].undo_timeout();
        ++rail_counters_[a.trigger_rail].spurious_timeouts;
        episode = {};
      } else if (a.trigger_seq >= episode.sent_end) {
        cc_[a.trigger_rail].keep_timeout();
        episode = {};
      }
    }
  }

  if (a.verdict != Verdict::none && trigger_sent) {
    // The trigger was not taken: out of flight without counting as delivered,
    // and its transfer ends with the receiver's reason.
    InFlight e;
    if (table_.remove(a.trigger_seq, e)) {
      cc_[e.rail].release(e.bytes);
      heard[e.rail] = true;
      const bool drained_now = queue_.fail(e.slot, failure_of(a.verdict));
      if (queue_.requeue(e.slot, e.chunk, e.retransmits) || drained_now) finished(e.slot);
    } else {
      ++counters_.verdicts_late;
    }
  }

  auto ack_range = [this, &acked, &heard](uint64_t from, uint64_t to) {
    InFlight e;
    for (uint64_t s = table_.next_live(from, to); s < to && table_.remove(s, e); s = table_.next_live(s + 1, to)) {
      acked[e.rail] += e.bytes;
      heard[e.rail] = true;
      if (queue_.acked(e.slot, e.chunk)) finished(e.slot);
    }
  };
  ack_range(0, a.cum);
  for (size_t i = 0; i < a.block_count; ++i) ack_range(a.blocks[i].start, a.blocks[i].end);

  // An RTT sample needs the trigger's true send time and an ack delay
  // shorter than the round trip it is taken out of.
  uint64_t rtt = 0;
  if (trigger_known && now >= trigger_sent_ns && now - trigger_sent_ns > a.ack_delay_ns) {
    rtt = now - trigger_sent_ns - a.ack_delay_ns;
    heard[trigger_rail] = true;
  } else {
    ++counters_.rtt_discarded;
  }
  const bool ecn = (p.header.flags & flag::kEcnEcho) != 0;
  for (uint8_t r = 0; r < config_.rails; ++r) {
    if (!heard[r]) continue;
    const bool trigger = trigger_known && r == trigger_rail;
    cc_[r].on_acked(acked[r], trigger ? rtt : 0, trigger && ecn, now);
    health_[r].on_ack(table_.live_on(r) != 0, now);
  }

  for (uint8_t r = 0; r < config_.rails; ++r) {
    InFlight e;
    uint64_t bytes = 0;
    while (table_.take_lost_by_sack(r, config_.reorder_threshold, config_.reorder_window, e)) {
      bytes += e.bytes;
      ++counters_.lost_sack;
      lost(e);
    }
    if (bytes != 0) cc_[r].on_loss(bytes, now);
  }
}

void Sender::on_probe_reply(const Packet& p, uint64_t now) {
  if (p.header.type != PacketType::probe_reply) return;
  if (p.header.session != session_tag(session_)) {
    ++counters_.stale_session;
    return;
  }
  const uint8_t r = p.header.rail;
  if (r >= config_.rails) return;
  const auto& sent = probe_times_[r].sent;
  if (p.header.ts == 0 || std::find(sent.begin(), sent.end(), p.header.ts) == sent.end()) {
    ++counters_.probe_replies_unmatched;
    return;
  }
  ++counters_.probe_replies;
  if (now >= p.header.ts) cc_[r].rtt().sample(now - p.header.ts);
  if (health_[r].on_probe_reply(now)) {
    ++counters_.rail_up;
    cc_[r].reset_window();
    timeout_episodes_[r] = {};
    scheduler_.reset();
  }
}

bool Sender::desynchronized(uint64_t now) const {
  return unanswerable_ ||
         (table_.live() != 0 && unsent_streak_ >= kDesyncAcks && now - unsent_since_ >= kDesyncNs);
}

void Sender::request_probe(uint8_t rail) {
  if (rail < config_.rails) probe_requested_ |= 1u << rail;
}

RailStatus Sender::rail_status(uint8_t rail) const {
  if (rail >= config_.rails) return {};
  const CongestionControl& cc = cc_[rail];
  return {.up = health_[rail].up(),
          .reason = health_[rail].reason(),
          .link = health_[rail].link(),
          .window_bytes = cc.window_bytes(),
          .inflight_bytes = cc.inflight_bytes(),
          .inflight_packets = table_.live_on(rail),
          .srtt_ns = cc.rtt().srtt_ns(),
          .min_rtt_ns = cc.rtt().min_rtt_ns(),
          .rto_ns = cc.rtt().rto_ns(),
          .delivery_rate_Bps = cc.delivery_rate_Bps(),
          .packets_sent = rail_counters_[rail].packets,
          .retransmits_sent = rail_counters_[rail].retransmits,
          .losses = rail_counters_[rail].losses,
          .timeouts = rail_counters_[rail].timeouts,
          .spurious_timeouts = rail_counters_[rail].spurious_timeouts,
          .keepalives = rail_counters_[rail].keepalives};
}

}  // namespace railyard::fabric
