#include "fabric/session_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace railyard::fabric {
namespace {

constexpr std::string_view kTagLabel = "railyard-hs-v1";
constexpr std::string_view kSessionLabel = "railyard-session-v1";
constexpr size_t kSignedBody = 24 + 2 * kNonceSize;  // the body without its tag

void put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (56 - 8 * i));
}

Tag hmac(std::span<const std::byte> key, std::span<const uint8_t> msg) {
  Tag out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), msg.data(), msg.size(), out.data(), &len);
  return out;
}

}  // namespace

std::string_view auth_result_name(AuthResult r) {
  switch (r) {
    case AuthResult::ok: return "ok";
    case AuthResult::bad_type: return "bad_type";
    case AuthResult::bad_tag: return "bad_tag";
    case AuthResult::wrong_node: return "wrong_node";
    case AuthResult::stale: return "stale";
    case AuthResult::replayed: return "replayed";
    case AuthResult::unexpected_reply: return "unexpected_reply";
    case AuthResult::already_confirmed: return "already_confirmed";
    case AuthResult::crossed: return "crossed";
    case AuthResult::no_room: return "no_room";
  }
  return "unknown";
}

PeerAuth::PeerAuth(std::span<const std::byte> psk, uint64_t self_node, uint64_t peer_node, AuthConfig config)
    : psk_(psk.begin(), psk.end()), self_(self_node), peer_(peer_node), config_(config) {}

Tag PeerAuth::compute_tag(PacketType type, uint64_t session, const HandshakeBody& body) const {
  std::array<uint8_t, kTagLabel.size() + 1 + 8 + kSignedBody> msg{};
  uint8_t* p = msg.data();
  std::memcpy(p, kTagLabel.data(), kTagLabel.size());
  p += kTagLabel.size();
  *p++ = static_cast<uint8_t>(type);
  put64(p, session);
  p += 8;
  std::array<std::byte, kHandshakeBodySize> raw{};
  encode_handshake_body(body, raw);
  std::memcpy(p, raw.data(), kSignedBody);
  return hmac(psk_, msg);
}

uint64_t PeerAuth::derive_session(const HandshakeBody& body) const {
  std::array<uint8_t, kSessionLabel.size() + 2 * kNonceSize + 16> msg{};
  uint8_t* p = msg.data();
  std::memcpy(p, kSessionLabel.data(), kSessionLabel.size());
  p += kSessionLabel.size();
  std::memcpy(p, body.init_nonce.data(), kNonceSize);
  std::memcpy(p + kNonceSize, body.reply_nonce.data(), kNonceSize);
  put64(p + 2 * kNonceSize, body.from_node);
  put64(p + 2 * kNonceSize + 8, body.to_node);
  const Tag t = hmac(psk_, msg);
  uint64_t s = 0;
  for (int i = 0; i < 8; ++i) s = (s << 8) | t[i];
  return s == 0 ? 1 : s;  // 0 means "no session" in the headers
}

bool PeerAuth::fresh(uint64_t stamp, uint64_t now) const {
  const uint64_t diff = stamp > now ? stamp - now : now - stamp;
  return diff <= config_.max_clock_skew_ns;
}

AuthResult PeerAuth::check(const Packet& p, PacketType type, uint64_t wall_ns) const {
  if (p.header.type != type) return AuthResult::bad_type;
  const HandshakeBody& in = p.handshake;
  // Verify the tag before looking at anything else, so an unauthenticated
  // sender learns nothing from which check failed.
  const Tag expect = compute_tag(type, p.header.session, in);
  if (!valid() || CRYPTO_memcmp(expect.data(), in.tag.data(), kTagSize) != 0) return AuthResult::bad_tag;
  if (in.from_node != peer_ || in.to_node != self_) return AuthResult::wrong_node;
  if (!fresh(in.wall_ns, wall_ns)) return AuthResult::stale;
  return AuthResult::ok;
}

size_t PeerAuth::make_init(uint64_t wall_ns, const Nonce& nonce, uint8_t rail, std::span<std::byte> out) {
  if (!valid()) return 0;
  HandshakeBody body{.from_node = self_, .to_node = peer_, .wall_ns = wall_ns, .init_nonce = nonce};
  body.tag = compute_tag(PacketType::handshake_init, 0, body);
  Header h{.type = PacketType::handshake_init, .rail = rail, .ts = wall_ns};
  const size_t n = encode_handshake(h, body, out);
  if (n != 0) {
    pending_ = true;
    pending_nonce_ = nonce;
  }
  return n;
}

AuthResult PeerAuth::on_init(const Packet& init, uint64_t wall_ns, const Nonce& reply_nonce,
                             std::span<std::byte> out, size_t& reply_len) {
  reply_len = 0;
  if (init.header.type != PacketType::handshake_init || init.header.session != 0) return AuthResult::bad_type;
  if (const AuthResult r = check(init, PacketType::handshake_init, wall_ns); r != AuthResult::ok) return r;
  const HandshakeBody& in = init.handshake;
  if (in.wall_ns <= last_init_wall_) return AuthResult::replayed;
  if (pending_ && self_ < peer_) return AuthResult::crossed;
  if (out.size() < kHandshakeHeaderSize + kHandshakeBodySize) return AuthResult::no_room;

  HandshakeBody body{.from_node = self_, .to_node = peer_, .wall_ns = wall_ns, .init_nonce = in.init_nonce,
                     .reply_nonce = reply_nonce};
  // The session is derived from the INIT's direction so both ends compute the same value.
  HandshakeBody derive = in;
  derive.reply_nonce = reply_nonce;
  const uint64_t session = derive_session(derive);
  body.tag = compute_tag(PacketType::handshake_reply, session, body);
  Header h{.type = PacketType::handshake_reply, .rail = init.header.rail, .session = session, .ts = wall_ns};
  reply_len = encode_handshake(h, body, out);
  last_init_wall_ = in.wall_ns;
  pending_ = false;  // crossing INITs: we answered theirs, ours is dropped
  challenged_ = true;
  challenge_ = {.init = in.init_nonce, .reply = reply_nonce, .session = session};
  return AuthResult::ok;
}

size_t PeerAuth::write_confirm(uint64_t wall_ns, uint8_t rail, std::span<std::byte> out) const {
  HandshakeBody body{.from_node = self_, .to_node = peer_, .wall_ns = wall_ns, .init_nonce = confirming_.init,
                     .reply_nonce = confirming_.reply};
  body.tag = compute_tag(PacketType::handshake_confirm, confirming_.session, body);
  Header h{.type = PacketType::handshake_confirm, .rail = rail, .session = confirming_.session, .ts = wall_ns};
  return encode_handshake(h, body, out);
}

AuthResult PeerAuth::on_reply(const Packet& reply, uint64_t wall_ns, std::span<std::byte> out, size_t& confirm_len,
                              uint64_t& session) {
  confirm_len = 0;
  if (const AuthResult r = check(reply, PacketType::handshake_reply, wall_ns); r != AuthResult::ok) return r;
  const HandshakeBody& in = reply.handshake;
  if (!pending_ || CRYPTO_memcmp(in.init_nonce.data(), pending_nonce_.data(), kNonceSize) != 0)
    return AuthResult::unexpected_reply;
  HandshakeBody derive{.from_node = self_, .to_node = peer_, .init_nonce = pending_nonce_,
                       .reply_nonce = in.reply_nonce};
  const uint64_t s = derive_session(derive);
  if (s != reply.header.session) return AuthResult::bad_tag;
  if (out.size() < kHandshakeHeaderSize + kHandshakeBodySize) return AuthResult::no_room;
  pending_ = false;
  confirming_ = {.init = pending_nonce_, .reply = in.reply_nonce, .session = s};
  confirm_len = write_confirm(wall_ns, reply.header.rail, out);
  session = s;
  return AuthResult::ok;
}

size_t PeerAuth::resend_confirm(uint64_t wall_ns, uint8_t rail, std::span<std::byte> out) const {
  if (!valid() || confirming_.session == 0) return 0;
  return write_confirm(wall_ns, rail, out);
}

AuthResult PeerAuth::on_confirm(const Packet& confirm, uint64_t wall_ns, uint64_t& session) {
  if (const AuthResult r = check(confirm, PacketType::handshake_confirm, wall_ns); r != AuthResult::ok) return r;
  const HandshakeBody& in = confirm.handshake;
  auto answers = [&](const Exchange& e) {
    return e.session != 0 && e.session == confirm.header.session &&
           CRYPTO_memcmp(in.init_nonce.data(), e.init.data(), kNonceSize) == 0 &&
           CRYPTO_memcmp(in.reply_nonce.data(), e.reply.data(), kNonceSize) == 0;
  };
  if (challenged_ && answers(challenge_)) {
    challenged_ = false;
    confirmed_ = challenge_;
    challenge_ = {};
    session = confirmed_.session;
    return AuthResult::ok;
  }
  if (answers(confirmed_)) return AuthResult::already_confirmed;
  return AuthResult::unexpected_reply;
}

bool random_nonce(Nonce& nonce) { return RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) == 1; }

SessionKey derive_session_key(std::span<const std::byte> psk, std::string_view label, uint64_t session,
                              uint64_t from, uint64_t to) {
  std::array<uint8_t, 64 + 24> msg{};
  const size_t n = std::min(label.size(), size_t{64});
  std::memcpy(msg.data(), label.data(), n);
  put64(msg.data() + n, session);
  put64(msg.data() + n + 8, from);
  put64(msg.data() + n + 16, to);
  const Tag t = hmac(psk, std::span(msg).first(n + 24));
  SessionKey key;
  std::memcpy(key.data(), t.data(), key.size());
  return key;
}

}  // namespace railyard::fabric
