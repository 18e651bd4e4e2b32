#include "fabric/reliability.h"

#include <gtest/gtest.h>

#include <vector>

namespace railyard::fabric {
namespace {

TEST(ChunkWindow, CountsEachChunkOnceAndSlides) {
  std::vector<uint64_t> words(ChunkWindow::kWords);
  ChunkWindow w;
  w.reset(words);
  EXPECT_EQ(w.mark(1), ChunkWindow::Mark::fresh);
  EXPECT_EQ(w.base(), 0u);
  EXPECT_EQ(w.mark(1), ChunkWindow::Mark::duplicate);
  EXPECT_EQ(w.mark(0), ChunkWindow::Mark::fresh);
  EXPECT_EQ(w.base(), 2u);
  EXPECT_EQ(w.mark(0), ChunkWindow::Mark::duplicate);  // below base
  EXPECT_TRUE(w.done(1));
  EXPECT_FALSE(w.done(2));
  EXPECT_EQ(w.mark(2 + kChunkWindow), ChunkWindow::Mark::out_of_window);
  EXPECT_EQ(w.mark(1 + kChunkWindow), ChunkWindow::Mark::fresh);  // the last bit of the window
  // Fill the window completely: its bits are reused as the base slides.
  for (uint32_t c = 2; c < 1 + kChunkWindow; ++c) ASSERT_EQ(w.mark(c), ChunkWindow::Mark::fresh) << c;
  EXPECT_EQ(w.base(), 2 + kChunkWindow);
  EXPECT_FALSE(w.done(2 + kChunkWindow));
  EXPECT_EQ(w.mark(2 + kChunkWindow), ChunkWindow::Mark::fresh);
}

TEST(RecvWindow, CumulativeBlocksAndDuplicates) {
  RecvWindow w;
  EXPECT_EQ(w.receive(1, 1), RecvWindow::Result::fresh);
  EXPECT_EQ(w.receive(2, 1), RecvWindow::Result::fresh);
  EXPECT_EQ(w.cum(), 3u);
  // Holes at 3 and 6; reordered arrivals.
  for (uint64_t s : {5, 4, 8, 7, 10}) EXPECT_EQ(w.receive(s, 1), RecvWindow::Result::fresh) << s;
  EXPECT_EQ(w.receive(7, 1), RecvWindow::Result::duplicate);
  EXPECT_EQ(w.receive(2, 1), RecvWindow::Result::duplicate);
  AckBody a;
  w.fill_ack(10, a);
  EXPECT_EQ(a.cum, 3u);
  ASSERT_EQ(a.block_count, 3);
  EXPECT_EQ(a.blocks[0], (SackBlock{10, 11}));  // the trigger's run first
  EXPECT_EQ(a.blocks[1], (SackBlock{4, 6}));
  EXPECT_EQ(a.blocks[2], (SackBlock{7, 9}));
  w.fill_ack(7, a);
  ASSERT_EQ(a.block_count, 3);
  EXPECT_EQ(a.blocks[0], (SackBlock{7, 9}));
  EXPECT_EQ(a.blocks[1], (SackBlock{4, 6}));
  EXPECT_EQ(a.blocks[2], (SackBlock{10, 11}));
  // Filling hole 3 moves cum up to the next hole.
  EXPECT_EQ(w.receive(3, 1), RecvWindow::Result::fresh);
  EXPECT_EQ(w.cum(), 6u);
  // The sender gave 6 and 9 up (floor 10): cum jumps to the next hole, 11.
  EXPECT_EQ(w.receive(12, 10), RecvWindow::Result::fresh);
  EXPECT_EQ(w.cum(), 11u);
  EXPECT_EQ(w.receive(6, 10), RecvWindow::Result::duplicate);
  EXPECT_EQ(w.receive(11 + RecvWindow::kBits, 11), RecvWindow::Result::out_of_window);
}

TEST(RecvWindow, AFloorMovesTheWindowOnlyWithASequenceInsideIt) {
  // Was: the floor applied before the sequence was checked, so one packet
  // moved the cumulative point anywhere.
  RecvWindow w;
  EXPECT_EQ(w.receive(1, 1), RecvWindow::Result::fresh);
  EXPECT_FALSE(w.in_window(1'000'000'000));
  EXPECT_EQ(w.receive(1'000'000'000, 1'000'000'000), RecvWindow::Result::out_of_window);
  EXPECT_EQ(w.cum(), 2u) << "an out-of-window packet's floor is not looked at";
  // The largest move one packet can make: its own sequence at the window's edge.
  const uint64_t edge = w.cum() + RecvWindow::kBits - 1;
  EXPECT_EQ(w.receive(edge, edge), RecvWindow::Result::fresh);
  EXPECT_EQ(w.cum(), edge + 1);
}

TEST(RecvWindow, BlocksAreCappedAndStayValid) {
  RecvWindow w;
  for (uint64_t s = 2; s < 200; s += 2) w.receive(s, 1);  // every other sequence
  AckBody a;
  w.fill_ack(198, a);
  EXPECT_EQ(a.block_count, kMaxSackBlocks);
  EXPECT_EQ(a.blocks[0], (SackBlock{198, 199}));
  EXPECT_EQ(a.blocks[1], (SackBlock{2, 3}));
  // The ACK encodes and parses (blocks disjoint, above cum).
  std::vector<std::byte> buf(kMaxAckSize);
  const size_t n = encode_ack(Header{}, a, buf);
  buf.resize(n);
  Packet p;
  EXPECT_EQ(parse(buf, p), ParseResult::ok);
}

InFlight entry(uint8_t rail, uint64_t sent = 0) {
  return InFlight{.sent_ns = sent, .slot = 0, .chunk = 0, .bytes = 100, .rail = rail};
}

TEST(InFlightTable, SackLossNeedsLaterPacketsOnTheSameRail) {
  InFlightTable t(64, 2);
  // Rail 0 gets 1,3,5,7,9; rail 1 gets 2,4,6,8,10.
  for (int i = 0; i < 10; ++i) t.add(entry(static_cast<uint8_t>(i % 2)));
  InFlight e;
  // Everything on rail 1 acknowledged: says nothing about rail 0.
  for (uint64_t s : {2, 4, 6, 8, 10}) ASSERT_TRUE(t.remove(s, e));
  EXPECT_FALSE(t.take_lost_by_sack(0, 3, 8, e));
  // Two later rail-0 packets acked: still within reordering tolerance.
  ASSERT_TRUE(t.remove(3, e));
  ASSERT_TRUE(t.remove(7, e));
  EXPECT_FALSE(t.take_lost_by_sack(0, 3, 8, e));
  ASSERT_TRUE(t.remove(9, e));
  ASSERT_TRUE(t.take_lost_by_sack(0, 3, 8, e));
  EXPECT_EQ(e.seq, 1u);
  // 5 is now oldest on rail 0 with only 7 and 9 acked after it.
  EXPECT_FALSE(t.take_lost_by_sack(0, 3, 8, e));
  EXPECT_EQ(t.live(), 1u);
  EXPECT_EQ(t.floor(), 5u);
}

TEST(InFlightTable, TimeoutTakesTheOldestFirstAndFullness) {
  InFlightTable t(64, 1);
  for (uint64_t i = 0; i < 64; ++i) t.add(entry(0, 1000 + i));
  EXPECT_TRUE(t.full());
  InFlight e;
  EXPECT_FALSE(t.take_lost_by_timeout(0, 1500, 1000, e));
  ASSERT_TRUE(t.take_lost_by_timeout(0, 2001, 1000, e));
  EXPECT_EQ(e.seq, 1u);
  ASSERT_TRUE(t.take_lost_by_timeout(0, 2001, 1000, e));
  EXPECT_EQ(e.seq, 2u);
  EXPECT_FALSE(t.take_lost_by_timeout(0, 2001, 1000, e));
  EXPECT_FALSE(t.full());
  EXPECT_EQ(t.add(entry(0)), 65u);
  EXPECT_EQ(t.next_live(0, 100), 3u);
  EXPECT_EQ(t.next_live(40, 50), 40u);
  size_t drained = 0;
  while (t.take_any(0, e)) ++drained;
  EXPECT_EQ(drained, 63u);
  EXPECT_EQ(t.live(), 0u);
  EXPECT_EQ(t.floor(), t.next_seq());
}

TEST(TransferIds, WidenedToTheNearestWithTheSameLowBits) {
  EXPECT_EQ(widen_transfer_id(5, 0), 5u);
  EXPECT_EQ(widen_transfer_id(1030, 1000), 1030u);
  EXPECT_EQ(widen_transfer_id(990, 1000), 990u);
  constexpr uint64_t kSpan = uint64_t{1} << 32;
  // Across the 2^32 boundary, both ways.
  EXPECT_EQ(widen_transfer_id(3, kSpan - 10), kSpan + 3);
  EXPECT_EQ(widen_transfer_id(0xfffffff0u, kSpan + 3), kSpan - 16);
  EXPECT_EQ(widen_transfer_id(0xfffffff0u, 3), 0xfffffff0u) << "nothing below 0 to wrap to";
  EXPECT_EQ(widen_transfer_id(7, 5 * kSpan + 2), 5 * kSpan + 7);
}

}  // namespace
}  // namespace railyard::fabric
