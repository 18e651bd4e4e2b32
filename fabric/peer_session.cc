#include "fabric/peer_session.h"

namespace railyard::fabric {
namespace {

SenderConfig sender_config(const SessionConfig& c) {
  SenderConfig s = c.sender;
  s.packet_mac = c.auth == PacketAuth::mac;
  return s;
}

ReceiverConfig receiver_config(const SessionConfig& c) {
  ReceiverConfig r = c.receiver;
  r.packet_mac = c.auth == PacketAuth::mac;
  return r;
}

}  // namespace

PeerSession::PeerSession(const SessionConfig& config, uint64_t session, std::span<const std::byte> psk,
                         uint64_t self_node, uint64_t peer_node)
    : session_(session),
      auth_(config.auth),
      sender_(sender_config(config), session),
      receiver_(receiver_config(config), session) {
  if (auth_ == PacketAuth::mac) mac_ = std::make_unique<PacketMac>(psk, session, self_node, peer_node);
}

bool PeerSession::on_packet(const Packet& p, uint8_t rail, bool ecn_ce, std::span<std::byte> region, uint64_t now) {
  if (p.header.session != session_tag(session_)) {
    ++counters_.stale_session;
    return false;
  }
  if (mac_) {
    if (p.mac.empty()) {
      ++counters_.mac_missing;
      return false;
    }
    if (!mac_->verify(p)) {
      ++counters_.mac_bad;
      return false;
    }
  } else if (!p.mac.empty()) {
    ++counters_.mac_unexpected;
    return false;
  }
  heard_peer_ = true;
  switch (p.header.type) {
    case PacketType::data:
      receiver_.on_data(p, rail, ecn_ce, region, now);
      return true;
    case PacketType::ack:
      sender_.on_ack(p, now);
      return true;
    case PacketType::probe:
      receiver_.on_probe(p, rail, now);
      return true;
    case PacketType::probe_reply:
      sender_.on_probe_reply(p, now);
      return true;
    case PacketType::handshake_init:
    case PacketType::handshake_reply:
    case PacketType::handshake_confirm:
    case PacketType::message:
      break;
  }
  return false;
}

size_t PeerSession::poll_tx(uint64_t now, std::span<TxBatch> rails) {
  std::array<size_t, kMaxRails> before{};
  for (size_t r = 0; r < rails.size() && r < kMaxRails; ++r) before[r] = rails[r].count;
  size_t n = receiver_.poll_tx(now, sender_.up_mask(), rails);
  n += sender_.poll_tx(now, rails);
  if (mac_) {
    for (size_t r = 0; r < rails.size() && r < kMaxRails; ++r) {
      TxBatch& b = rails[r];
      for (size_t i = before[r]; i < b.count; ++i)
        mac_->sign(b.room.subspan(i * kTxRoom, b.frames[i].header.size()), b.frames[i].payload);
    }
  }
  return n;
}

}  // namespace railyard::fabric
