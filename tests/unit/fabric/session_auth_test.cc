#include "fabric/session_auth.h"

#include <gtest/gtest.h>

#include <vector>

namespace railyard::fabric {
namespace {

constexpr uint64_t kNow = 1'700'000'000'000'000'000;

std::vector<std::byte> key(uint8_t v) { return std::vector<std::byte>(32, std::byte{v}); }

Nonce nonce(uint8_t v) {
  Nonce n{};
  n.fill(v);
  return n;
}

Packet parsed(std::span<const std::byte> bytes) {
  Packet p;
  EXPECT_EQ(parse(bytes, p), ParseResult::ok);
  return p;
}

struct Pair {
  std::vector<std::byte> k = key(7);
  PeerAuth a{k, 1, 2};
  PeerAuth b{k, 2, 1};
  std::vector<std::byte> buf = std::vector<std::byte>(256);
  std::vector<std::byte> reply = std::vector<std::byte>(256);
};

TEST(SessionAuth, HandshakeAgreesOnAFreshSession) {
  Pair p;
  const size_t n = p.a.make_init(kNow, nonce(1), 0, p.buf);
  ASSERT_EQ(n, kHeaderSize + kHandshakeBodySize);
  EXPECT_TRUE(p.a.pending());
  size_t reply_len = 0;
  uint64_t sb = 0, sa = 0;
  ASSERT_EQ(p.b.on_init(parsed(std::span(p.buf).first(n)), kNow + 1000, nonce(2), p.reply, reply_len, sb),
            AuthResult::ok);
  ASSERT_GT(reply_len, 0u);
  ASSERT_EQ(p.a.on_reply(parsed(std::span(p.reply).first(reply_len)), kNow + 2000, sa), AuthResult::ok);
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, 0u);
  EXPECT_FALSE(p.a.pending());
  // The same reply again is refused (one reply per INIT).
  EXPECT_EQ(p.a.on_reply(parsed(std::span(p.reply).first(reply_len)), kNow + 3000, sa), AuthResult::unexpected_reply);
  // A second handshake with other nonces gives another session.
  const size_t n2 = p.a.make_init(kNow + 10, nonce(3), 0, p.buf);
  uint64_t sb2 = 0;
  ASSERT_EQ(p.b.on_init(parsed(std::span(p.buf).first(n2)), kNow + 20, nonce(4), p.reply, reply_len, sb2),
            AuthResult::ok);
  EXPECT_NE(sb2, sb);
}

TEST(SessionAuth, RejectsWrongKeyStaleReplayAndWrongNode) {
  Pair p;
  const size_t n = p.a.make_init(kNow, nonce(1), 0, p.buf);
  const Packet init = parsed(std::span(p.buf).first(n));
  size_t len = 0;
  uint64_t s = 0;
  const std::vector<std::byte> other = key(8);
  PeerAuth wrong_key(other, 2, 1);
  EXPECT_EQ(wrong_key.on_init(init, kNow, nonce(2), p.reply, len, s), AuthResult::bad_tag);
  EXPECT_EQ(len, 0u);
  PeerAuth wrong_peer(p.k, 2, 3);
  EXPECT_EQ(wrong_peer.on_init(init, kNow, nonce(2), p.reply, len, s), AuthResult::wrong_node);
  EXPECT_EQ(p.b.on_init(init, kNow + 31'000'000'000, nonce(2), p.reply, len, s), AuthResult::stale);
  EXPECT_EQ(p.b.on_init(init, kNow, nonce(2), p.reply, len, s), AuthResult::ok);
  EXPECT_EQ(p.b.on_init(init, kNow, nonce(2), p.reply, len, s), AuthResult::replayed);
  // A tampered INIT (a nonce bit flipped) fails the tag.
  Packet tampered = init;
  tampered.handshake.init_nonce[0] ^= 1;
  PeerAuth fresh_b(p.k, 2, 1);
  EXPECT_EQ(fresh_b.on_init(tampered, kNow, nonce(2), p.reply, len, s), AuthResult::bad_tag);
  // Short keys are refused outright.
  const std::vector<std::byte> short_key(16, std::byte{1});
  PeerAuth weak(short_key, 1, 2);
  EXPECT_FALSE(weak.valid());
  EXPECT_EQ(weak.make_init(kNow, nonce(1), 0, p.buf), 0u);
}

TEST(SessionAuth, CrossingInitsLowerNodeWins) {
  Pair p;
  std::vector<std::byte> init_a(256), init_b(256);
  const size_t na = p.a.make_init(kNow, nonce(1), 0, init_a);
  const size_t nb = p.b.make_init(kNow, nonce(2), 0, init_b);
  size_t len = 0;
  uint64_t sa = 0, sb = 0;
  // a (node 1) keeps its own INIT and ignores b's.
  EXPECT_EQ(p.a.on_init(parsed(std::span(init_b).first(nb)), kNow, nonce(3), p.reply, len, sa), AuthResult::crossed);
  // b (node 2) answers a's, dropping its own.
  ASSERT_EQ(p.b.on_init(parsed(std::span(init_a).first(na)), kNow, nonce(4), p.reply, len, sb), AuthResult::ok);
  EXPECT_FALSE(p.b.pending());
  ASSERT_EQ(p.a.on_reply(parsed(std::span(p.reply).first(len)), kNow, sa), AuthResult::ok);
  EXPECT_EQ(sa, sb);
}

TEST(SessionAuth, RandomNonces) {
  Nonce x{}, y{};
  ASSERT_TRUE(random_nonce(x));
  ASSERT_TRUE(random_nonce(y));
  EXPECT_NE(x, y);
}

}  // namespace
}  // namespace railyard::fabric
