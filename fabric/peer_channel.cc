#include "fabric/peer_channel.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <string_view>

namespace railyard::fabric {

namespace {
constexpr std::string_view kKeyLabel = "railyard-msg-v2";
}  // namespace

PeerChannel::PeerChannel(std::span<const std::byte> psk, uint64_t self_node, uint64_t peer_node,
                         PeerChannelConfig config)
    : psk_(psk.begin(), psk.end()), self_(self_node), peer_(peer_node), config_(config) {
  datagram_.resize(kMessageHeaderSize + kTagSize + config_.max_fragment);
}

size_t PeerChannel::reset(uint64_t session) {
  size_t dropped = 0;
  for (const Fragment& f : outbound_) dropped += f.more ? 0 : 1;
  counters_.dropped += dropped;
  outbound_.clear();
  queued_bytes_ = 0;
  sent_count_ = 0;
  next_seq_ = 1;
  expected_ = 1;
  assembling_.clear();
  ack_due_ = false;
  session_ = session;
  out_key_ = derive_session_key(psk_, kKeyLabel, session, self_, peer_);
  in_key_ = derive_session_key(psk_, kKeyLabel, session, peer_, self_);
  return dropped;
}

Tag PeerChannel::tag(const SessionKey& key, std::span<const std::byte> header, std::span<const std::byte> payload) {
  Tag out{};
  signed_.assign(header.begin(), header.end());
  signed_.insert(signed_.end(), payload.begin(), payload.end());
  unsigned len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(signed_.data()),
       signed_.size(), reinterpret_cast<unsigned char*>(out.data()), &len);
  return out;
}

ChannelSend PeerChannel::send(std::span<const std::byte> message, uint64_t now) {
  if (session_ == 0) return ChannelSend::no_session;
  if (message.empty() || message.size() > config_.max_message) return ChannelSend::too_large;
  if (queued_bytes_ + message.size() > config_.max_queued_bytes) return ChannelSend::queue_full;
  if (outbound_.empty()) last_progress_ = now;
  for (size_t at = 0; at < message.size(); at += config_.max_fragment) {
    const size_t n = std::min(config_.max_fragment, message.size() - at);
    Fragment f{.seq = next_seq_++, .more = at + n < message.size(), .payload = {}};
    f.payload.assign(message.begin() + static_cast<ptrdiff_t>(at), message.begin() + static_cast<ptrdiff_t>(at + n));
    outbound_.push_back(std::move(f));
  }
  queued_bytes_ += message.size();
  ++counters_.messages_sent;
  return ChannelSend::ok;
}

void PeerChannel::emit_fragment(const Fragment& f, const Emit& emit) {
  Header h{.type = PacketType::message,
           .flags = f.more ? flag::kMore : uint8_t{0},
           .session = session_,
           .seq = f.seq,
           .body_len = static_cast<uint32_t>(kTagSize + f.payload.size())};
  const size_t n = encode_header(h, datagram_);
  const Tag t = tag(out_key_, std::span(datagram_).first(n), f.payload);
  std::memcpy(datagram_.data() + n, t.data(), kTagSize);
  std::memcpy(datagram_.data() + n + kTagSize, f.payload.data(), f.payload.size());
  emit(std::span(datagram_).first(n + kTagSize + f.payload.size()));
}

void PeerChannel::poll(uint64_t now, const Emit& emit) {
  if (session_ == 0) return;
  if (ack_due_) {
    ack_due_ = false;
    Header h{.type = PacketType::message,
             .flags = flag::kMessageAck,
             .session = session_,
             .seq = expected_,
             .body_len = static_cast<uint32_t>(kTagSize)};
    const size_t n = encode_header(h, datagram_);
    const Tag t = tag(out_key_, std::span(datagram_).first(n), {});
    std::memcpy(datagram_.data() + n, t.data(), kTagSize);
    emit(std::span(datagram_).first(n + kTagSize));
  }
  if (outbound_.empty()) return;
  if (sent_count_ > 0 && now >= last_progress_ + config_.retransmit_ns) {
    for (size_t i = 0; i < sent_count_; ++i) emit_fragment(outbound_[i], emit);
    counters_.fragments_resent += sent_count_;
    last_progress_ = now;
  }
  const size_t limit = std::min(config_.window, outbound_.size());
  if (sent_count_ < limit && sent_count_ == 0) last_progress_ = now;
  for (; sent_count_ < limit; ++sent_count_) emit_fragment(outbound_[sent_count_], emit);
}

uint64_t PeerChannel::next_deadline() const {
  if (session_ == 0) return std::numeric_limits<uint64_t>::max();
  if (ack_due_) return 0;
  if (outbound_.empty()) return std::numeric_limits<uint64_t>::max();
  if (sent_count_ < std::min(config_.window, outbound_.size())) return 0;
  return last_progress_ + config_.retransmit_ns;
}

ChannelReceive PeerChannel::on_datagram(const Packet& packet, uint64_t now, const Deliver& deliver) {
  const Header& h = packet.header;
  if (session_ == 0 || h.session != session_tag(session_)) {
    ++counters_.stale_session;
    return ChannelReceive::stale_session;
  }
  // The tag covers the header's bytes as they arrived.
  const std::span<const std::byte> header = packet.raw_header;
  const auto payload = packet.body.subspan(kTagSize);
  const Tag expected_tag = tag(in_key_, header, payload);
  if (CRYPTO_memcmp(expected_tag.data(), packet.body.data(), kTagSize) != 0) {
    ++counters_.bad_tag;
    return ChannelReceive::bad_tag;
  }
  if ((h.flags & flag::kMessageAck) != 0) {
    // Cumulative: everything below h.seq has arrived.
    bool moved = false;
    while (!outbound_.empty() && outbound_.front().seq < h.seq && sent_count_ > 0) {
      queued_bytes_ -= std::min(queued_bytes_, outbound_.front().payload.size());
      outbound_.pop_front();
      --sent_count_;
      moved = true;
    }
    if (moved) last_progress_ = now;
    return ChannelReceive::acked;
  }
  ack_due_ = true;
  if (h.seq < expected_) {
    ++counters_.duplicates;
    return ChannelReceive::duplicate;
  }
  if (h.seq > expected_) {
    ++counters_.out_of_order;
    return ChannelReceive::out_of_order;
  }
  if (assembling_.size() + payload.size() > config_.max_message) {
    ++counters_.too_large;
    assembling_.clear();
    return ChannelReceive::too_large;
  }
  ++expected_;
  assembling_.insert(assembling_.end(), payload.begin(), payload.end());
  if ((h.flags & flag::kMore) == 0) {
    ++counters_.messages_delivered;
    std::vector<std::byte> message;
    message.swap(assembling_);
    deliver(message);
  }
  return ChannelReceive::fragment;
}

}  // namespace railyard::fabric
