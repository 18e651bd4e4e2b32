#include "fabric/sender.h"

#include <algorithm>

namespace railyard::fabric {
namespace {

uint8_t bump(uint8_t n) { return n == UINT8_MAX ? n : static_cast<uint8_t>(n + 1); }

CongestionConfig rail_cc(const SenderConfig& c) {
  CongestionConfig cc = c.cc;
  cc.packet_bytes = c.chunk_bytes + static_cast<uint32_t>(kHeaderSize);
  return cc;
}

}  // namespace

Sender::Sender(const SenderConfig& config, uint64_t session)
    : config_(config),
      session_(session),
      queue_(config.chunk_bytes),
      table_(config.inflight_capacity, config.rails),
      cc_(std::clamp<size_t>(config.rails, 1, kMaxRails), CongestionControl(rail_cc(config))),
      health_(cc_.size(), RailHealth(config.health)),
      rail_counters_(cc_.size()),
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
    ++(c.status == TransferStatus::ok ? counters_.completed : counters_.rejected);
  }
  return n;
}

void Sender::lost(const InFlight& e) {
  ++rail_counters_[e.rail].losses;
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
    while (table_.take_lost_by_timeout(r, now, cc_[r].rtt().rto_ns(), e)) {
      bytes += e.bytes;
      ++counters_.lost_timeout;
      lost(e);
    }
    if (bytes != 0) {
      cc_[r].on_timeout(bytes, now);
      cc_[r].rtt().backoff();
    }
    if (health_[r].check_silence(cc_[r].rtt().base_rto_ns(), now)) {
      ++counters_.rail_down;
      drain_rail(r);
    }
  }
}

uint64_t Sender::next_deadline() {
  uint64_t t = UINT64_MAX;
  for (uint8_t r = 0; r < config_.rails; ++r) {
    uint64_t sent = 0;
    if (table_.oldest_sent(r, sent)) t = std::min(t, sent + cc_[r].rtt().rto_ns());
    t = std::min(t, health_[r].silence_deadline(cc_[r].rtt().base_rto_ns()));
    if (health_[r].link() != nic::LinkState::down) t = std::min(t, health_[r].next_probe_ns());
  }
  return t;
}

void Sender::emit_probe(uint8_t rail, TxBatch& batch, uint64_t now) {
  std::span<std::byte> room = batch.next_room();
  // Probes carry sequence 0, outside the data sequence space; the reply
  // echoes the send time, which gives the rail an RTT sample on its return.
  Header h{.type = PacketType::probe, .rail = rail, .session = session_, .send_ts = now};
  encode_header(h, room);
  batch.frames[batch.count++] = {.header = room.first(kHeaderSize), .payload = {}, .peer = config_.peer_slot[rail]};
  ++counters_.probes_sent;
}

void Sender::emit_data(uint8_t rail, TrafficClass cls, TxBatch& batch, uint64_t now) {
  const uint64_t floor = table_.floor();
  const Slice s = queue_.take(cls);
  const SendQueue::Transfer& t = queue_.transfer(s.slot);
  const uint32_t bytes = s.len + static_cast<uint32_t>(kHeaderSize);
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
  const Header h{.type = PacketType::data,
                 .cls = cls,
                 .flags = flags,
                 .rail = rail,
                 .session = session_,
                 .seq = seq,
                 .send_ts = now,
                 .transfer = t.id,
                 .offset = s.offset,
                 .total_len = t.total,
                 .region_offset = t.region_offset,
                 .region = t.region,
                 .chunk_size = queue_.chunk_bytes(),
                 .floor_delta = static_cast<uint32_t>(seq - floor),
                 .checksum = (s.last && t.checksum) ? t.crc : 0,
                 .body_len = s.len};
  std::span<std::byte> room = batch.next_room();
  encode_header(h, room);
  batch.frames[batch.count++] = {.header = room.first(kHeaderSize),
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
    if (!rails[r].full() && health_[r].probe_due(now)) {
      emit_probe(r, rails[r], now);
      ++emitted;
    }
  }
  const uint64_t packet_bytes = uint64_t{queue_.chunk_bytes()} + kHeaderSize;
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
    if (f.peer != config_.peer_slot[rail] || f.header.size() < kHeaderSize) continue;
    if (std::to_integer<uint8_t>(f.header[3]) != static_cast<uint8_t>(PacketType::data)) continue;
    InFlight e;
    if (!table_.remove(peek_seq(f.header), e)) continue;
    cc_[e.rail].release(e.bytes);
    ++counters_.tx_refused;
    // Not a loss: the chunk keeps its retransmit count.
    if (queue_.requeue(e.slot, e.chunk, e.retransmits)) finished(e.slot);
  }
}

void Sender::on_ack(const Packet& p, uint64_t now) {
  if (p.header.type != PacketType::ack) return;
  if (p.header.session != session_) {
    ++counters_.stale_session;
    return;
  }
  ++counters_.acks;
  const AckBody& a = p.ack;
  std::array<uint64_t, kMaxRails> acked{};
  std::array<bool, kMaxRails> heard{};

  if (p.header.flags & flag::kReject) {
    // The trigger was refused, not received: take it out without counting it
    // as delivered, and stop the transfer.
    InFlight e;
    if (table_.remove(a.trigger_seq, e)) {
      cc_[e.rail].release(e.bytes);
      heard[e.rail] = true;
      const bool drained_now = queue_.reject(e.slot);
      if (queue_.requeue(e.slot, e.chunk, e.retransmits) || drained_now) finished(e.slot);
    }
  }

  auto ack_range = [this, &acked, &heard](uint64_t from, uint64_t to) {
    for (uint64_t s = table_.next_live(from, to); s < to; s = table_.next_live(s + 1, to)) {
      InFlight e;
      table_.remove(s, e);
      acked[e.rail] += e.bytes;
      heard[e.rail] = true;
      if (queue_.acked(e.slot, e.chunk)) finished(e.slot);
    }
  };
  ack_range(0, a.cum);
  for (size_t i = 0; i < a.block_count; ++i) ack_range(a.blocks[i].start, a.blocks[i].end);

  const uint8_t tr = a.trigger_rail;
  uint64_t rtt = 0;
  if (tr < config_.rails && now >= p.header.echo_ts) {
    const uint64_t raw = now - p.header.echo_ts;
    rtt = raw > a.ack_delay_ns ? raw - a.ack_delay_ns : raw;
    heard[tr] = true;
  }
  const bool ecn = (p.header.flags & flag::kEcnEcho) != 0;
  for (uint8_t r = 0; r < config_.rails; ++r) {
    if (!heard[r]) continue;
    const bool trigger = r == tr;
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
  if (p.header.session != session_) {
    ++counters_.stale_session;
    return;
  }
  const uint8_t r = p.header.rail;
  if (r >= config_.rails) return;
  ++counters_.probe_replies;
  if (now >= p.header.echo_ts) cc_[r].rtt().sample(now - p.header.echo_ts);
  if (health_[r].on_probe_reply(now)) {
    ++counters_.rail_up;
    cc_[r].reset_window();
    scheduler_.reset();
  }
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
          .losses = rail_counters_[rail].losses};
}

}  // namespace railyard::fabric
