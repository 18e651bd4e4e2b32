// decode-sim's logic without a daemon: the hash chain and KV contents, the
// migration steps on a source and a target table (bytes copied by hand where
// the daemon would send them), prefill adoption, and the token-log checker.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "fabric/checksum.h"
#include "tools/decode-sim/determinism.h"
#include "tools/decode-sim/sequence_table.h"
#include "tools/decode-sim/token_log.h"

namespace railyard::decode_sim {
namespace {

constexpr uint32_t kCapacity = 4;
constexpr uint64_t kBytesPerToken = 24;  // not a multiple of 8: the KV stream's tail is exercised
constexpr uint64_t kMaxTokens = 40;
constexpr uint64_t kSlotBytes = kBytesPerToken * kMaxTokens;

// A host's KV region and its table.
struct Host {
  std::vector<std::byte> region = std::vector<std::byte>(kCapacity * kSlotBytes);
  SequenceTable table{region, kCapacity, kBytesPerToken, kMaxTokens};
  std::byte* slot(uint32_t s) { return region.data() + s * kSlotBytes; }
};

// What the daemon does between PAUSE's ack and RESUME: copy each slot's KV.
void copy_kv(Host& from, Host& to, const std::vector<SequenceState>& paused,
             const std::vector<SequenceState>& reserved) {
  for (size_t i = 0; i < paused.size(); ++i)
    std::memcpy(to.slot(reserved[i].slot), from.slot(paused[i].slot), paused[i].kv_bytes);
}

// RESUME's sequences: the source's final states in the target's slots.
std::vector<SequenceState> in_slots(std::vector<SequenceState> finals, const std::vector<SequenceState>& reserved) {
  for (size_t i = 0; i < finals.size(); ++i) finals[i].slot = reserved[i].slot;
  return finals;
}

std::vector<SequenceState> ids(std::initializer_list<uint64_t> list) {
  std::vector<SequenceState> out;
  for (uint64_t id : list) out.push_back(SequenceState{.id = id});
  return out;
}

std::vector<Token> tokens_of(const StepResult& step, uint64_t sequence) {
  std::vector<Token> out;
  for (const auto& t : step.tokens)
    if (t.sequence == sequence) out.push_back(t);
  return out;
}

TEST(DecodeSimChain, EveryTokenDependsOnTheOneBefore) {
  EXPECT_EQ(chain_value(7, 0), next_token(7, 0, kChainStart));
  EXPECT_EQ(chain_value(7, 3), next_token(7, 3, chain_value(7, 2)));
  EXPECT_NE(next_token(7, 3, chain_value(7, 2)), next_token(7, 3, chain_value(7, 2) + 1));
  EXPECT_NE(chain_value(7, 3), chain_value(8, 3));
  EXPECT_EQ(last_token_after(7, 0), kChainStart);
  EXPECT_EQ(last_token_after(7, 4), chain_value(7, 3));
}

TEST(DecodeSimChain, KvContentsAreAPureFunctionOfSequenceAndToken) {
  std::vector<std::byte> a(10 * kBytesPerToken), b(10 * kBytesPerToken);
  write_kv(a, 5, 0, 10, kBytesPerToken);
  // Token by token, in another order, gives the same bytes.
  for (uint64_t t = 10; t-- > 0;) write_kv(b, 5, t, 1, kBytesPerToken);
  EXPECT_EQ(a, b);
  EXPECT_FALSE(first_wrong_kv_token(a, 5, 10, kBytesPerToken));
  EXPECT_EQ(first_wrong_kv_token(a, 6, 10, kBytesPerToken), 0u);
  a[3 * kBytesPerToken + kBytesPerToken - 1] ^= std::byte{1};  // the last byte of token 3
  EXPECT_EQ(first_wrong_kv_token(a, 5, 10, kBytesPerToken), 3u);
  EXPECT_FALSE(first_wrong_kv_token(a, 5, 3, kBytesPerToken));
}

TEST(DecodeSimTable, StartedSequencesDecodeTheChainAndKeepTheirCrc) {
  Host h;
  ASSERT_TRUE(h.table.start(100, 5).ok);
  ASSERT_TRUE(h.table.start(101, 0).ok);
  EXPECT_FALSE(h.table.start(100, 5).ok);
  EXPECT_FALSE(h.table.start(102, kMaxTokens).ok);
  for (int i = 0; i < 3; ++i) {
    auto step = h.table.step();
    ASSERT_EQ(step.tokens.size(), 2u);
    EXPECT_EQ(step.tokens[0].sequence, 100u);
    EXPECT_EQ(step.tokens[0].index, 5u + i);
    EXPECT_EQ(step.tokens[0].value, chain_value(100, 5 + i));
    EXPECT_EQ(step.tokens[1].index, static_cast<uint64_t>(i));
    EXPECT_EQ(step.tokens[1].value, chain_value(101, i));
  }
  auto states = h.table.decoding();
  ASSERT_EQ(states.size(), 2u);
  const auto& s = states[0];
  EXPECT_EQ(s.tokens, 8u);
  EXPECT_EQ(s.kv_bytes, 8 * kBytesPerToken);
  EXPECT_EQ(s.last_token, chain_value(100, 7));
  std::span<const std::byte> kv(h.slot(s.slot), s.kv_bytes);
  EXPECT_EQ(s.kv_crc32c, fabric::crc32c(kv));
  EXPECT_FALSE(first_wrong_kv_token(kv, 100, 8, kBytesPerToken));
  EXPECT_EQ(h.table.counts().free, kCapacity - 2);
}

TEST(DecodeSimTable, ASequenceThatReachesMaxTokensFinishesAndFreesItsSlot) {
  Host h;
  ASSERT_TRUE(h.table.start(1, kMaxTokens - 2).ok);
  EXPECT_TRUE(h.table.step().finished.empty());
  auto last = h.table.step();
  ASSERT_EQ(last.finished.size(), 1u);
  EXPECT_EQ(last.finished[0].tokens, kMaxTokens);
  EXPECT_EQ(h.table.counts().free, kCapacity);
  EXPECT_TRUE(h.table.step().tokens.empty());
}

TEST(DecodeSimTable, APausedSequenceResumedElsewhereContinuesTheChain) {
  Host source, target;
  ASSERT_TRUE(source.table.start(7, 10).ok);
  ASSERT_TRUE(source.table.start(8, 3).ok);
  ASSERT_TRUE(target.table.start(50, 1).ok);  // the target's own sequence takes slot 0
  source.table.step();
  source.table.step();

  auto reserved = target.table.reserve(1, {{.id = 7, .kv_bytes = 12 * kBytesPerToken, .tokens = 12},
                                           {.id = 8, .kv_bytes = 5 * kBytesPerToken, .tokens = 5}});
  ASSERT_TRUE(reserved.ok) << reserved.message;  // sizes as of the reservation; they grow until PAUSE
  ASSERT_EQ(reserved.sequences.size(), 2u);
  EXPECT_EQ(reserved.sequences[0].slot, 1u);
  EXPECT_EQ(reserved.sequences[1].slot, 2u);
  EXPECT_EQ(target.table.counts().reserved, 2u);
  EXPECT_EQ(target.table.decoding().size(), 1u);  // reserved ones are not reported

  // Pre-copy happens while decoding goes on; PAUSE gives the final states.
  source.table.step();
  auto paused = source.table.pause(1, ids({7, 8}));
  ASSERT_TRUE(paused.ok) << paused.message;
  ASSERT_EQ(paused.sequences.size(), 2u);
  EXPECT_EQ(paused.sequences[0].tokens, 13u);
  EXPECT_EQ(paused.sequences[0].last_token, chain_value(7, 12));
  EXPECT_EQ(paused.sequences[0].kv_crc32c,
            fabric::crc32c(std::span<const std::byte>(source.slot(paused.sequences[0].slot), 13 * kBytesPerToken)));
  EXPECT_TRUE(source.table.step().tokens.empty());  // paused sequences do not decode
  EXPECT_TRUE(source.table.decoding().empty());

  copy_kv(source, target, paused.sequences, reserved.sequences);
  auto resumed = target.table.resume(1, in_slots(paused.sequences, reserved.sequences));
  ASSERT_TRUE(resumed.ok) << resumed.message;
  auto step = target.table.step();
  auto seven = tokens_of(step, 7);
  ASSERT_EQ(seven.size(), 1u);
  EXPECT_EQ(seven[0].index, 13u);
  EXPECT_EQ(seven[0].value, chain_value(7, 13));
  ASSERT_EQ(tokens_of(step, 8).size(), 1u);
  EXPECT_EQ(tokens_of(step, 8)[0].index, 6u);  // 3 prefilled, 3 decoded on the source
  EXPECT_EQ(tokens_of(step, 8)[0].value, chain_value(8, 6));

  // The source forgets them only on RELEASE.
  EXPECT_EQ(source.table.counts().paused, 2u);
  auto released = source.table.release(1, ids({7, 8}));
  ASSERT_TRUE(released.ok) << released.message;
  EXPECT_EQ(released.sequences[0].tokens, 13u);
  EXPECT_EQ(source.table.counts().free, kCapacity);
  // ABORT after a RESUME comes only when the source gave up and decodes them
  // again: the target stops them, or both hosts would.
  auto late_abort = target.table.abort(1, ids({7}));
  ASSERT_TRUE(late_abort.ok) << late_abort.message;
  ASSERT_EQ(late_abort.sequences.size(), 1u);
  EXPECT_EQ(target.table.counts().decoding, 2u);  // its own sequence and 8
}

TEST(DecodeSimTable, KvLandingDuringPreCopyIsCheckedAheadAndACorruptPieceIsCaught) {
  Host source, target;
  ASSERT_TRUE(source.table.start(7, 8).ok);
  auto reserved = target.table.reserve(3, {{.id = 7, .kv_bytes = 8 * kBytesPerToken, .tokens = 8}});
  ASSERT_TRUE(reserved.ok);
  const uint32_t from = 0, to = reserved.sequences[0].slot;
  auto copy = [&](uint64_t first, uint64_t last) {  // bytes of tokens [first, last), as a pre-copy round does
    std::memcpy(target.slot(to) + first * kBytesPerToken, source.slot(from) + first * kBytesPerToken,
                (last - first) * kBytesPerToken);
    target.table.landed(to, first * kBytesPerToken, (last - first) * kBytesPerToken);
  };
  copy(4, 8);  // out of order: waits for the prefix
  copy(0, 4);
  source.table.step();
  auto paused = source.table.pause(3, ids({7}));
  ASSERT_EQ(paused.sequences[0].tokens, 9u);
  copy(8, 9);
  auto resumed = target.table.resume(3, in_slots(paused.sequences, reserved.sequences));
  EXPECT_TRUE(resumed.ok) << resumed.message;

  Host src2, dst2;
  ASSERT_TRUE(src2.table.start(9, 4).ok);
  auto r2 = dst2.table.reserve(4, {{.id = 9, .kv_bytes = 4 * kBytesPerToken, .tokens = 4}});
  std::memcpy(dst2.slot(r2.sequences[0].slot), src2.slot(0), 4 * kBytesPerToken);
  dst2.slot(r2.sequences[0].slot)[kBytesPerToken + 3] ^= std::byte{1};
  dst2.table.landed(r2.sequences[0].slot, 0, 4 * kBytesPerToken);
  auto p2 = src2.table.pause(4, ids({9}));
  auto refused = dst2.table.resume(4, in_slots(p2.sequences, r2.sequences));
  EXPECT_FALSE(refused.ok);
  EXPECT_NE(refused.message.find("token 1"), std::string::npos) << refused.message;
}

TEST(DecodeSimTable, ReserveRefusesWhenCapacityIsShortAndReservesNothing) {
  Host target;
  ASSERT_TRUE(target.table.start(1, 0).ok);
  ASSERT_TRUE(target.table.start(2, 0).ok);
  auto r = target.table.reserve(3, {{.id = 10}, {.id = 11}, {.id = 12}});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.message, "capacity short: 2 free slots for 3 sequences");
  EXPECT_EQ(target.table.counts().free, 2u);
  auto layout = target.table.reserve(3, {{.id = 10, .kv_bytes = 100, .tokens = 4}});
  EXPECT_FALSE(layout.ok);
  EXPECT_NE(layout.message.find("--kv-bytes-per-token"), std::string::npos) << layout.message;
  EXPECT_FALSE(target.table.reserve(3, {{.id = 1}}).ok);  // already decoding here
  EXPECT_EQ(target.table.counts().free, 2u);
}

TEST(DecodeSimTable, ResumeRefusesCorruptKvNamesTheSequenceAndDropsTheReservations) {
  Host source, target;
  ASSERT_TRUE(source.table.start(7, 6).ok);
  ASSERT_TRUE(source.table.start(8, 6).ok);
  auto reserved = target.table.reserve(2, {{.id = 7, .kv_bytes = 6 * kBytesPerToken, .tokens = 6},
                                           {.id = 8, .kv_bytes = 6 * kBytesPerToken, .tokens = 6}});
  ASSERT_TRUE(reserved.ok);
  auto paused = source.table.pause(2, ids({7, 8}));
  copy_kv(source, target, paused.sequences, reserved.sequences);
  target.slot(reserved.sequences[1].slot)[2 * kBytesPerToken] ^= std::byte{0x40};

  auto resumed = target.table.resume(2, in_slots(paused.sequences, reserved.sequences));
  EXPECT_FALSE(resumed.ok);
  EXPECT_NE(resumed.message.find("sequence 8: the KV bytes of token 2"), std::string::npos) << resumed.message;
  EXPECT_EQ(resumed.message.find("sequence 7"), std::string::npos) << resumed.message;
  EXPECT_EQ(target.table.counts().free, kCapacity);  // both reservations dropped: all or none
  EXPECT_TRUE(target.table.step().tokens.empty());

  // The source's ABORT puts them back to decoding, continuing where they paused.
  auto aborted = source.table.abort(2, ids({7, 8}));
  ASSERT_TRUE(aborted.ok) << aborted.message;
  auto step = source.table.step();
  ASSERT_EQ(tokens_of(step, 7).size(), 1u);
  EXPECT_EQ(tokens_of(step, 7)[0].index, 6u);
  EXPECT_EQ(tokens_of(step, 7)[0].value, chain_value(7, 6));
}

TEST(DecodeSimTable, ResumeChecksTheContentsAndTheLastTokenNotOnlyTheCrc) {
  Host source, target;
  ASSERT_TRUE(source.table.start(7, 6).ok);
  auto reserved = target.table.reserve(3, {{.id = 7, .kv_bytes = 6 * kBytesPerToken, .tokens = 6}});
  auto paused = source.table.pause(3, ids({7}));
  copy_kv(source, target, paused.sequences, reserved.sequences);

  // Bytes that are not sequence 7's, with a CRC that matches them.
  auto forged = in_slots(paused.sequences, reserved.sequences);
  std::byte* slot = target.slot(forged[0].slot);
  slot[0] ^= std::byte{1};
  forged[0].kv_crc32c = fabric::crc32c(std::span<const std::byte>(slot, forged[0].kv_bytes));
  auto wrong_bytes = target.table.resume(3, forged);
  EXPECT_FALSE(wrong_bytes.ok);
  EXPECT_NE(wrong_bytes.message.find("KV bytes of token 0"), std::string::npos) << wrong_bytes.message;

  slot[0] ^= std::byte{1};
  reserved = target.table.reserve(4, {{.id = 7, .kv_bytes = 6 * kBytesPerToken, .tokens = 6}});
  auto wrong_token = in_slots(paused.sequences, reserved.sequences);
  wrong_token[0].last_token += 1;
  auto refused = target.table.resume(4, wrong_token);
  EXPECT_FALSE(refused.ok);
  EXPECT_NE(refused.message.find("last_token"), std::string::npos) << refused.message;
  EXPECT_FALSE(target.table.resume(4, in_slots(paused.sequences, reserved.sequences)).ok);  // dropped above
}

TEST(DecodeSimTable, AbortOnTheTargetDropsReservationsAndReleaseNeedsAPause) {
  Host host;
  ASSERT_TRUE(host.table.start(1, 2).ok);
  ASSERT_TRUE(host.table.reserve(5, {{.id = 9}}).ok);
  EXPECT_EQ(host.table.counts().reserved, 1u);
  auto aborted = host.table.abort(5, ids({9, 1, 77}));  // 1 never paused, 77 never here: nothing to do
  ASSERT_TRUE(aborted.ok) << aborted.message;
  EXPECT_EQ(host.table.counts().reserved, 0u);
  EXPECT_EQ(host.table.counts().decoding, 1u);

  auto release = host.table.release(5, ids({1}));
  EXPECT_FALSE(release.ok);
  EXPECT_NE(release.message.find("not paused"), std::string::npos) << release.message;
  EXPECT_FALSE(host.table.release(5, ids({77})).ok);
  ASSERT_TRUE(host.table.pause(6, ids({1})).ok);
  EXPECT_FALSE(host.table.release(5, ids({1})).ok);  // paused by another migration
  // A sequence that finished before the PAUSE is left out of the answer, not refused.
  auto gone = host.table.pause(6, ids({77}));
  EXPECT_TRUE(gone.ok);
  EXPECT_TRUE(gone.sequences.empty());
  EXPECT_TRUE(host.table.release(6, ids({1})).ok);
}

TEST(DecodeSimTable, APrefilledSlotIsVerifiedThenDecodesFromItsLength) {
  Host host, prefill;
  ASSERT_TRUE(host.table.expect_prefill(30, 0).ok);
  ASSERT_TRUE(host.table.expect_prefill(31, 1).ok);
  EXPECT_FALSE(host.table.expect_prefill(32, 1).ok);
  EXPECT_EQ(host.table.awaiting_prefill(1), 31u);
  EXPECT_TRUE(host.table.step().tokens.empty());

  write_kv({host.slot(0), kSlotBytes}, 30, 0, 9, kBytesPerToken);
  auto adopted = host.table.adopt_prefill(0, 9 * kBytesPerToken);
  ASSERT_TRUE(adopted.ok) << adopted.message;
  EXPECT_EQ(adopted.sequences[0].last_token, chain_value(30, 8));
  write_kv({host.slot(1), kSlotBytes}, 30, 0, 9, kBytesPerToken);  // sequence 30's bytes in 31's slot
  auto wrong = host.table.adopt_prefill(1, 9 * kBytesPerToken);
  EXPECT_FALSE(wrong.ok);
  EXPECT_NE(wrong.message.find("sequence 31"), std::string::npos) << wrong.message;
  EXPECT_FALSE(host.table.adopt_prefill(1, 9 * kBytesPerToken + 1).ok);

  auto step = host.table.step();
  ASSERT_EQ(step.tokens.size(), 1u);
  EXPECT_EQ(step.tokens[0].index, 9u);
  EXPECT_EQ(step.tokens[0].value, chain_value(30, 9));
}

// A log of `sequence` tokens [first, last] on `host`, one per millisecond from `start_ns`.
void log_tokens(LogChecker& c, uint64_t sequence, uint64_t first, uint64_t last, const std::string& host,
                int64_t start_ns) {
  for (uint64_t i = first; i <= last; ++i) {
    std::string line = token_line(sequence, i, chain_value(sequence, i), host, start_ns + (i - first) * 1000000);
    line.pop_back();
    c.add_line(line, host + ".log");
  }
}

TEST(DecodeSimLogs, AMigrationWithNoLossPassesAndMeasuresTheDowntime) {
  LogChecker c;
  log_tokens(c, 4, 10, 20, "h1", 0);
  log_tokens(c, 4, 21, 30, "h2", 10000000 + 7000000);  // token 20 at 10 ms on h1, token 21 at 17 ms on h2
  log_tokens(c, 5, 0, 5, "h1", 0);
  auto r = c.finish();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.sequences, 2u);
  EXPECT_EQ(r.tokens, 27u);
  ASSERT_EQ(r.handoffs.size(), 1u);
  EXPECT_EQ(r.handoffs[0].sequence, 4u);
  EXPECT_EQ(r.handoffs[0].index, 21u);
  EXPECT_EQ(r.handoffs[0].from, "h1");
  EXPECT_EQ(r.handoffs[0].to, "h2");
  EXPECT_EQ(r.handoffs[0].downtime_ns, 7000000);
}

TEST(DecodeSimLogs, FindsAGap) {
  LogChecker c;
  log_tokens(c, 4, 10, 20, "h1", 0);
  log_tokens(c, 4, 22, 30, "h2", 0);
  auto r = c.finish();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.gaps, 1u);
  EXPECT_EQ(r.repeats, 0u);
  EXPECT_EQ(r.wrong_tokens, 0u);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].find("tokens 21..21 are missing"), std::string::npos) << r.problems[0];
}

TEST(DecodeSimLogs, FindsARepeatAcrossLogs) {
  LogChecker c;
  log_tokens(c, 4, 10, 20, "h1", 0);
  log_tokens(c, 4, 20, 30, "h2", 0);
  auto r = c.finish();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.repeats, 1u);
  EXPECT_EQ(r.gaps, 0u);
}

TEST(DecodeSimLogs, FindsAWrongTokenAndMalformedLines) {
  LogChecker c;
  log_tokens(c, 4, 0, 3, "h1", 0);
  // Token 4 continued from a wrong last token: right index, wrong value.
  c.add_line(token_line(4, 4, next_token(4, 4, chain_value(4, 3) ^ 1), "h2", 5), "h2.log:1");
  c.add_line("4 5 notanumber h2 6", "h2.log:2");
  c.add_line("4 5 1 h2", "h2.log:3");
  auto r = c.finish();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.wrong_tokens, 1u);
  EXPECT_EQ(r.malformed_lines, 2u);
  EXPECT_EQ(r.gaps, 0u);
}

}  // namespace
}  // namespace railyard::decode_sim
