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
  std::vector<std::byte> confirm = std::vector<std::byte>(256);
};

/// a initiates, b answers; both must end on the same session.
uint64_t handshake(Pair& p, uint64_t now, uint8_t na, uint8_t nb) {
  const size_t n = p.a.make_init(now, nonce(na), 0, p.buf);
  size_t reply_len = 0, confirm_len = 0;
  uint64_t sa = 0, sb = 0;
  EXPECT_EQ(p.b.on_init(parsed(std::span(p.buf).first(n)), now, nonce(nb), p.reply, reply_len), AuthResult::ok);
  EXPECT_EQ(p.a.on_reply(parsed(std::span(p.reply).first(reply_len)), now, p.confirm, confirm_len, sa), AuthResult::ok);
  EXPECT_EQ(p.b.on_confirm(parsed(std::span(p.confirm).first(confirm_len)), now, sb), AuthResult::ok);
  EXPECT_EQ(sa, sb);
  return sa;
}

TEST(SessionAuth, HandshakeAgreesOnAFreshSession) {
  Pair p;
  const size_t n = p.a.make_init(kNow, nonce(1), 0, p.buf);
  ASSERT_EQ(n, kHandshakeHeaderSize + kHandshakeBodySize);
  EXPECT_TRUE(p.a.pending());
  size_t reply_len = 0, confirm_len = 0;
  uint64_t sb = 0, sa = 0;
  ASSERT_EQ(p.b.on_init(parsed(std::span(p.buf).first(n)), kNow + 1000, nonce(2), p.reply, reply_len), AuthResult::ok);
  ASSERT_GT(reply_len, 0u);
  ASSERT_EQ(p.a.on_reply(parsed(std::span(p.reply).first(reply_len)), kNow + 2000, p.confirm, confirm_len, sa),
            AuthResult::ok);
  ASSERT_GT(confirm_len, 0u);
  EXPECT_NE(sa, 0u);
  EXPECT_FALSE(p.a.pending());
  ASSERT_EQ(p.b.on_confirm(parsed(std::span(p.confirm).first(confirm_len)), kNow + 3000, sb), AuthResult::ok);
  EXPECT_EQ(sa, sb);
  // The same reply again is refused (one reply per INIT); the same CONFIRM
  // again is recognised as the session already confirmed, and changes nothing.
  EXPECT_EQ(p.a.on_reply(parsed(std::span(p.reply).first(reply_len)), kNow + 3000, p.confirm, confirm_len, sa),
            AuthResult::unexpected_reply);
  uint64_t again = 0;
  EXPECT_EQ(p.b.on_confirm(parsed(std::span(p.confirm).first(reply_len)), kNow + 4000, again),
            AuthResult::already_confirmed);
  EXPECT_EQ(again, 0u);
  // The initiator can resend its CONFIRM (restamped) until it hears the peer.
  const size_t resent = p.a.resend_confirm(kNow + 5000, 1, p.buf);
  ASSERT_GT(resent, 0u);
  EXPECT_EQ(p.b.on_confirm(parsed(std::span(p.buf).first(resent)), kNow + 5000, again), AuthResult::already_confirmed);
  // A second handshake with other nonces gives another session.
  EXPECT_NE(handshake(p, kNow + 10, 3, 4), sa);
}

TEST(SessionAuth, ReplayedInitAfterARestartStartsNothing) {
  Pair p;
  const size_t n = p.a.make_init(kNow, nonce(1), 0, p.buf);
  const std::vector<std::byte> captured(p.buf.begin(), p.buf.begin() + static_cast<ptrdiff_t>(n));
  size_t reply_len = 0, confirm_len = 0;
  uint64_t sa = 0, sb = 0;
  ASSERT_EQ(p.b.on_init(parsed(captured), kNow, nonce(2), p.reply, reply_len), AuthResult::ok);
  ASSERT_EQ(p.a.on_reply(parsed(std::span(p.reply).first(reply_len)), kNow, p.confirm, confirm_len, sa), AuthResult::ok);
  ASSERT_EQ(p.b.on_confirm(parsed(std::span(p.confirm).first(confirm_len)), kNow, sb), AuthResult::ok);

  // b restarts (all its handshake memory gone) and the captured INIT arrives
  // again, well within the clock skew allowed.
  PeerAuth restarted(p.k, 2, 1);
  ASSERT_EQ(restarted.on_init(parsed(captured), kNow + 1'000'000'000, nonce(9), p.reply, reply_len), AuthResult::ok)
      << "an INIT alone earns a challenge, nothing more";
  // The replayer cannot answer the challenge: neither a's old CONFIRM nor a
  // forged one establishes anything.
  uint64_t s = 0;
  EXPECT_EQ(restarted.on_confirm(parsed(std::span(p.confirm).first(confirm_len)), kNow + 1'000'000'000, s),
            AuthResult::unexpected_reply);
  EXPECT_EQ(s, 0u);
  // The real a, which sent no INIT, ignores the challenge's REPLY.
  EXPECT_EQ(p.a.on_reply(parsed(std::span(p.reply).first(reply_len)), kNow + 1'000'000'000, p.confirm, confirm_len, s),
            AuthResult::unexpected_reply);
  EXPECT_EQ(s, 0u);
}

TEST(SessionAuth, ConfirmMustAnswerTheCurrentChallenge) {
  Pair p;
  // Two INITs from a (a retry): b's second challenge replaces the first.
  size_t reply1 = 0, reply2 = 0, confirm_len = 0;
  std::vector<std::byte> r1(256), r2(256);
  size_t n = p.a.make_init(kNow, nonce(1), 0, p.buf);
  ASSERT_EQ(p.b.on_init(parsed(std::span(p.buf).first(n)), kNow, nonce(2), r1, reply1), AuthResult::ok);
  n = p.a.make_init(kNow + 1, nonce(3), 0, p.buf);
  ASSERT_EQ(p.b.on_init(parsed(std::span(p.buf).first(n)), kNow + 1, nonce(4), r2, reply2), AuthResult::ok);
  uint64_t sa = 0, sb = 0;
  EXPECT_EQ(p.a.on_reply(parsed(std::span(r1).first(reply1)), kNow, p.confirm, confirm_len, sa),
            AuthResult::unexpected_reply) << "the first INIT is no longer pending";
  ASSERT_EQ(p.a.on_reply(parsed(std::span(r2).first(reply2)), kNow, p.confirm, confirm_len, sa), AuthResult::ok);
  // A CONFIRM with a tampered nonce fails its tag; the real one works.
  Packet tampered = parsed(std::span(p.confirm).first(confirm_len));
  tampered.handshake.reply_nonce[0] ^= 1;
  EXPECT_EQ(p.b.on_confirm(tampered, kNow, sb), AuthResult::bad_tag);
  ASSERT_EQ(p.b.on_confirm(parsed(std::span(p.confirm).first(confirm_len)), kNow, sb), AuthResult::ok);
  EXPECT_EQ(sa, sb);
}

TEST(SessionAuth, RejectsWrongKeyStaleReplayAndWrongNode) {
  Pair p;
  const size_t n = p.a.make_init(kNow, nonce(1), 0, p.buf);
  const Packet init = parsed(std::span(p.buf).first(n));
  size_t len = 0;
  const std::vector<std::byte> other = key(8);
  PeerAuth wrong_key(other, 2, 1);
  EXPECT_EQ(wrong_key.on_init(init, kNow, nonce(2), p.reply, len), AuthResult::bad_tag);
  EXPECT_EQ(len, 0u);
  PeerAuth wrong_peer(p.k, 2, 3);
  EXPECT_EQ(wrong_peer.on_init(init, kNow, nonce(2), p.reply, len), AuthResult::wrong_node);
  EXPECT_EQ(p.b.on_init(init, kNow + 31'000'000'000, nonce(2), p.reply, len), AuthResult::stale);
  EXPECT_EQ(p.b.on_init(init, kNow, nonce(2), p.reply, len), AuthResult::ok);
  EXPECT_EQ(p.b.on_init(init, kNow, nonce(2), p.reply, len), AuthResult::replayed);
  // A tampered INIT (a nonce bit flipped) fails the tag.
  Packet tampered = init;
  tampered.handshake.init_nonce[0] ^= 1;
  PeerAuth fresh_b(p.k, 2, 1);
  EXPECT_EQ(fresh_b.on_init(tampered, kNow, nonce(2), p.reply, len), AuthResult::bad_tag);
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
  size_t len = 0, confirm_len = 0;
  uint64_t sa = 0, sb = 0;
  // a (node 1) keeps its own INIT and ignores b's.
  EXPECT_EQ(p.a.on_init(parsed(std::span(init_b).first(nb)), kNow, nonce(3), p.reply, len), AuthResult::crossed);
  // b (node 2) answers a's, dropping its own.
  ASSERT_EQ(p.b.on_init(parsed(std::span(init_a).first(na)), kNow, nonce(4), p.reply, len), AuthResult::ok);
  EXPECT_FALSE(p.b.pending());
  ASSERT_EQ(p.a.on_reply(parsed(std::span(p.reply).first(len)), kNow, p.confirm, confirm_len, sa), AuthResult::ok);
  ASSERT_EQ(p.b.on_confirm(parsed(std::span(p.confirm).first(confirm_len)), kNow, sb), AuthResult::ok);
  EXPECT_EQ(sa, sb);
}

TEST(SessionAuth, SessionKeysDifferPerDirectionAndSession) {
  const std::vector<std::byte> k = key(7);
  const SessionKey ab = derive_session_key(k, "label", 42, 1, 2);
  EXPECT_EQ(ab, derive_session_key(k, "label", 42, 1, 2));
  EXPECT_NE(ab, derive_session_key(k, "label", 42, 2, 1));
  EXPECT_NE(ab, derive_session_key(k, "label", 43, 1, 2));
  EXPECT_NE(ab, derive_session_key(k, "other", 42, 1, 2));
  EXPECT_NE(ab, derive_session_key(key(8), "label", 42, 1, 2));
}

TEST(SessionAuth, RandomNonces) {
  Nonce x{}, y{};
  ASSERT_TRUE(random_nonce(x));
  ASSERT_TRUE(random_nonce(y));
  EXPECT_NE(x, y);
}

}  // namespace
}  // namespace railyard::fabric
