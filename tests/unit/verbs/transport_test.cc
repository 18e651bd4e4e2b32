// Slices over 2-4 rails, reposting after a QP error, registration lifetimes
// and CQ error handling, with two transports over the fake verbs.
#include "drivers/nic/verbs/transport.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>

#include "tests/unit/verbs/harness.h"

namespace railyard::verbs::testing {
namespace {

constexpr uint32_t kSlice = 64 * 1024;

struct Buffers {
  explicit Buffers(Pair& p, size_t bytes) : src(bytes), dst(bytes) {
    for (size_t i = 0; i < bytes; ++i) src[i] = static_cast<std::byte>((i * 131 + 7) % 251);
    std::string why;
    EXPECT_TRUE(p.a->register_region(1, src.data(), src.size(), why)) << why;
    EXPECT_TRUE(p.b->register_region(2, dst.data(), dst.size(), why)) << why;
  }
  std::vector<std::byte> src, dst;
};

TransportConfig small_slices() {
  TransportConfig c;
  c.slice_bytes = kSlice;
  c.qp_budget_bytes = 4 * kSlice;
  c.qp.send_depth = 16;
  c.qp.recv_depth = 16;
  c.max_peers = 2;
  return c;
}

// Checks the fake's log of executed (successful) WRITEs for a transfer into
// [dst, dst + length): every byte written exactly once, the IMM slice last.
void expect_exactly_once_imm_last(const Pair& p, const std::vector<std::byte>& dst, uint64_t offset, uint64_t length,
                                  uint32_t id) {
  const uint64_t base = reinterpret_cast<uint64_t>(dst.data()) + offset;
  std::vector<uint8_t> hits(length, 0);
  ptrdiff_t imm_at = -1, last_data_at = -1;
  for (size_t i = 0; i < p.fake.executed.size(); ++i) {
    const ExecutedWrite& w = p.fake.executed[i];
    if (w.remote_addr < base || w.remote_addr >= base + std::max<uint64_t>(length, 1)) continue;
    for (uint64_t b = w.remote_addr - base; b < w.remote_addr - base + w.length; ++b) ++hits[b];
    if (w.imm) {
      EXPECT_EQ(w.imm_value, id);
      EXPECT_EQ(imm_at, -1) << "a second IMM";
      imm_at = static_cast<ptrdiff_t>(i);
    } else {
      last_data_at = static_cast<ptrdiff_t>(i);
    }
  }
  EXPECT_TRUE(std::all_of(hits.begin(), hits.end(), [](uint8_t h) { return h == 1; }))
      << "bytes written other than once";
  ASSERT_GE(imm_at, 0) << "no IMM";
  EXPECT_GT(imm_at, last_data_at) << "the IMM slice went before a data slice";
}

std::map<std::string, size_t> writes_per_device(const Pair& p) {
  std::map<std::string, size_t> n;
  for (const ExecutedWrite& w : p.fake.executed) ++n[w.device];
  return n;
}

class VerbsRails : public ::testing::TestWithParam<size_t> {};

TEST_P(VerbsRails, SlicesSprayAcrossEveryRail) {
  const size_t rails = GetParam();
  Pair p(rails, small_slices());
  Buffers buf(p, 64 * kSlice + 1000);  // 65 slices, the last short
  p.connect_all();
  ASSERT_EQ(p.a->post({.id = 42, .peer = 0, .local_region = 1, .length = buf.src.size(), .remote_region = 2}),
            PostError::ok);
  p.pump(10000, 2 * rails);  // every rail equally fast
  EXPECT_EQ(buf.dst, buf.src);
  ASSERT_EQ(p.count(p.ev_a, VerbsEvent::Kind::sent), 1u);
  ASSERT_EQ(p.count(p.ev_b, VerbsEvent::Kind::received), 1u);
  EXPECT_EQ(p.ev_b.back().id, 42u);
  EXPECT_EQ(p.ev_b.back().byte_len, 1000u);
  expect_exactly_once_imm_last(p, buf.dst, 0, buf.src.size(), 42);
  // Equal rails with equal budgets: every rail carries a fair share.
  const auto per = writes_per_device(p);
  ASSERT_EQ(per.size(), rails);
  for (const auto& [dev, n] : per) EXPECT_GE(n, 65 / rails - 2) << dev;
  uint64_t bytes = 0;
  for (size_t r = 0; r < rails; ++r) bytes += p.a->counters(r).tx_bytes;
  EXPECT_EQ(bytes, buf.src.size());
  EXPECT_EQ(p.fake.cq_overflows, 0u);
}

TEST_P(VerbsRails, QpErrorMidTransferRepostsOnTheOtherRails) {
  const size_t rails = GetParam();
  if (rails < 2) GTEST_SKIP() << "needs a second rail";
  Pair p(rails, small_slices());
  Buffers buf(p, 80 * kSlice);
  p.connect_all();
  ASSERT_EQ(p.a->post({.id = 7, .peer = 0, .local_region = 1, .length = buf.src.size(), .remote_region = 2}),
            PostError::ok);
  // Let a third of the WRITEs land, then rail 1's device stops answering.
  for (int i = 0; i < 100 && p.fake.executed.size() < 25; ++i) {
    p.a->poll(p.ev_a);
    p.b->poll(p.ev_b);
    p.fake.step(3);
  }
  ASSERT_GE(p.fake.executed.size(), 25u);
  const size_t before = p.fake.executed.size();
  p.fake.device("fake1")->broken = true;
  p.pump();

  EXPECT_EQ(buf.dst, buf.src);
  ASSERT_EQ(p.count(p.ev_a, VerbsEvent::Kind::path_down), 1u);
  const auto down = std::find_if(p.ev_a.begin(), p.ev_a.end(),
                                 [](const VerbsEvent& e) { return e.kind == VerbsEvent::Kind::path_down; });
  EXPECT_EQ(down->rail, 1);
  EXPECT_EQ(down->status, WcStatus::retry_exceeded);
  EXPECT_EQ(p.count(p.ev_a, VerbsEvent::Kind::sent), 1u);
  EXPECT_EQ(p.count(p.ev_a, VerbsEvent::Kind::send_failed), 0u);
  EXPECT_EQ(p.count(p.ev_b, VerbsEvent::Kind::received), 1u);
  expect_exactly_once_imm_last(p, buf.dst, 0, buf.src.size(), 7);
  for (size_t i = before; i < p.fake.executed.size(); ++i) EXPECT_NE(p.fake.executed[i].device, "fake1");
  const VerbsRailCounters c1 = p.a->counters(1);
  EXPECT_EQ(c1.wc_errors, 1u);  // the retry-exceeded; the rest were flushes
  EXPECT_GE(c1.reposted_slices, 1u);
  EXPECT_EQ(c1.path_failures, 1u);
  EXPECT_EQ(c1.cq_depth, 0u);  // nothing left on the failed QP's books
  EXPECT_FALSE(p.a->path_sendable(0, 1));
  EXPECT_EQ(p.a->outstanding_transfers(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Rails, VerbsRails, ::testing::Values(size_t{1}, size_t{2}, size_t{3}, size_t{4}));

TEST(VerbsTransport, ImmWaitsForEveryOtherSliceOnAnyRail) {
  Pair p(2, small_slices());
  Buffers buf(p, 4 * kSlice);
  p.connect_all();
  p.fake.device("fake1")->paused = true;  // rail 1's slices stay in flight
  ASSERT_EQ(p.a->post({.id = 5, .peer = 0, .local_region = 1, .length = buf.src.size(), .remote_region = 2}),
            PostError::ok);
  p.pump(50);
  EXPECT_FALSE(std::any_of(p.fake.executed.begin(), p.fake.executed.end(),
                           [](const ExecutedWrite& w) { return w.imm; }))
      << "IMM posted while a slice was still in flight on rail 1";
  EXPECT_GT(p.fake.pending_writes(), 0u);
  p.fake.device("fake1")->paused = false;
  p.pump();
  EXPECT_EQ(buf.dst, buf.src);
  expect_exactly_once_imm_last(p, buf.dst, 0, buf.src.size(), 5);
}

TEST(VerbsTransport, SmallAndEmptyTransfersAreOneImmSlice) {
  Pair p(2, small_slices());
  Buffers buf(p, kSlice);
  p.connect_all();
  ASSERT_EQ(p.a->post({.id = 1, .peer = 0, .local_region = 1, .local_offset = 10, .length = 100,
                       .remote_region = 2, .remote_offset = 20}),
            PostError::ok);
  ASSERT_EQ(p.a->post({.id = 2, .peer = 0, .local_region = 1, .length = 0, .remote_region = 2}), PostError::ok);
  p.pump();
  ASSERT_EQ(p.fake.executed.size(), 2u);
  EXPECT_TRUE(p.fake.executed[0].imm && p.fake.executed[1].imm);
  EXPECT_TRUE(std::equal(buf.src.begin() + 10, buf.src.begin() + 110, buf.dst.begin() + 20));
  EXPECT_EQ(p.count(p.ev_a, VerbsEvent::Kind::sent), 2u);
  EXPECT_EQ(p.count(p.ev_b, VerbsEvent::Kind::received), 2u);
}

TEST(VerbsTransport, BudgetWeightsTheRails) {
  // Rail 0's QP has a full budget taken by a paused transfer; new slices go
  // to rail 1 until rail 0 has credit again.
  TransportConfig c = small_slices();
  Pair p(2, c);
  Buffers buf(p, 40 * kSlice);
  p.connect_all();
  p.fake.device("fake0")->paused = true;
  ASSERT_EQ(p.a->post({.id = 1, .peer = 0, .local_region = 1, .length = 20 * kSlice, .remote_region = 2}),
            PostError::ok);
  p.pump(200);
  const auto per = writes_per_device(p);
  EXPECT_EQ(per.count("fake0"), 0u);
  EXPECT_GE(per.at("fake1"), 15u);  // all but rail 0's budget (4 slices) went over rail 1
  p.fake.device("fake0")->paused = false;
  p.pump();
  EXPECT_EQ(p.count(p.ev_a, VerbsEvent::Kind::sent), 1u);
  expect_exactly_once_imm_last(p, buf.dst, 0, 20 * kSlice, 1);
}

TEST(VerbsTransport, LinkDownRailIsNeverPickedAndItsSlicesMove) {
  Pair p(3, small_slices());
  Buffers buf(p, 30 * kSlice);
  p.connect_all();
  p.fake.device("fake2")->paused = true;
  ASSERT_EQ(p.a->post({.id = 3, .peer = 0, .local_region = 1, .length = buf.src.size(), .remote_region = 2}),
            PostError::ok);
  p.pump(3);
  p.a->set_link(2, false);  // rtnetlink says rail 2 is down: drained at once
  p.fake.device("fake2")->paused = false;
  p.pump();
  EXPECT_EQ(writes_per_device(p).count("fake2"), 0u);
  EXPECT_EQ(buf.dst, buf.src);
  expect_exactly_once_imm_last(p, buf.dst, 0, buf.src.size(), 3);
  EXPECT_FALSE(p.a->counters(2).link_up);
}

TEST(VerbsTransport, SendQueueFullTriesAnotherRail) {
  Pair p(2, small_slices());
  Buffers buf(p, 4 * kSlice);
  p.connect_all();
  p.fake.post_write_errno = ENOMEM;
  p.fake.post_write_errno_count = 1;
  ASSERT_EQ(p.a->post({.id = 9, .peer = 0, .local_region = 1, .length = buf.src.size(), .remote_region = 2}),
            PostError::ok);
  p.pump();
  EXPECT_EQ(p.a->counters(0).post_busy + p.a->counters(1).post_busy, 1u);
  EXPECT_EQ(p.count(p.ev_a, VerbsEvent::Kind::path_down), 0u);
  EXPECT_EQ(buf.dst, buf.src);
}

TEST(VerbsTransport, PostFailureFailsThePathAndRequeues) {
  Pair p(2, small_slices());
  Buffers buf(p, 8 * kSlice);
  p.connect_all();
  p.fake.post_write_errno = EIO;
  p.fake.post_write_errno_count = 1;
  ASSERT_EQ(p.a->post({.id = 9, .peer = 0, .local_region = 1, .length = buf.src.size(), .remote_region = 2}),
            PostError::ok);
  p.pump();
  EXPECT_EQ(p.count(p.ev_a, VerbsEvent::Kind::path_down), 1u);
  EXPECT_EQ(p.count(p.ev_a, VerbsEvent::Kind::sent), 1u);
  EXPECT_EQ(buf.dst, buf.src);
  expect_exactly_once_imm_last(p, buf.dst, 0, buf.src.size(), 9);
}

TEST(VerbsTransport, EveryRailDownWaitsThenResumesAfterReconnect) {
  Pair p(2, small_slices());
  Buffers buf(p, 8 * kSlice);
  p.connect_all();
  p.fake.device("fake0")->broken = true;
  p.fake.device("fake1")->broken = true;
  ASSERT_EQ(p.a->post({.id = 4, .peer = 0, .local_region = 1, .length = buf.src.size(), .remote_region = 2}),
            PostError::ok);
  p.pump(100);
  EXPECT_EQ(p.count(p.ev_a, VerbsEvent::Kind::path_down), 2u);
  EXPECT_EQ(p.a->outstanding_transfers(), 1u);  // kept, not lost
  p.fake.device("fake0")->broken = false;
  p.connect(0);  // the daemon reconnects rail 0
  p.pump();
  EXPECT_EQ(p.count(p.ev_a, VerbsEvent::Kind::sent), 1u);
  EXPECT_EQ(buf.dst, buf.src);
  expect_exactly_once_imm_last(p, buf.dst, 0, buf.src.size(), 4);
}

TEST(VerbsTransport, RestartedPeerGetsEveryUnfinishedTransferAgainFromItsFirstSlice) {
  Pair p(2, small_slices());
  Buffers buf(p, 16 * kSlice);
  p.connect_all();
  ASSERT_EQ(p.a->post({.id = 9, .peer = 0, .local_region = 1, .length = buf.src.size(), .remote_region = 2}),
            PostError::ok);
  p.pump(4, 2);  // some slices land
  ASSERT_GT(p.fake.executed.size(), 0u);
  ASSERT_EQ(p.count(p.ev_a, VerbsEvent::Kind::sent), 0u);
  // B comes back with fresh memory: what had landed is gone.
  std::fill(buf.dst.begin(), buf.dst.end(), std::byte{0});
  std::vector<uint32_t> restarted;
  p.a->restart_peer(0, restarted);
  EXPECT_EQ(restarted, std::vector<uint32_t>{9});
  p.b->reset_peer(0);
  EXPECT_EQ(p.a->outstanding_transfers(), 1u);
  p.connect_all();
  p.pump();
  EXPECT_EQ(buf.dst, buf.src);
  EXPECT_EQ(p.count(p.ev_a, VerbsEvent::Kind::sent), 1u);
  EXPECT_EQ(p.count(p.ev_b, VerbsEvent::Kind::received), 1u);
  EXPECT_EQ(p.fake.dereg_in_flight, 0u);
}

TEST(VerbsTransport, ActivationGoesBeforeKv) {
  TransportConfig c = small_slices();
  c.max_posts_per_poll = 4;
  Pair p(1, c);
  Buffers buf(p, 16 * kSlice);
  p.connect_all();
  ASSERT_EQ(p.a->post({.id = 1, .peer = 0, .local_region = 1, .length = 8 * kSlice, .remote_region = 2}),
            PostError::ok);
  ASSERT_EQ(p.a->post({.id = 2, .peer = 0, .local_region = 1, .local_offset = 8 * kSlice, .length = 2 * kSlice,
                       .remote_region = 2, .remote_offset = 8 * kSlice, .activation = true}),
            PostError::ok);
  p.pump();
  ASSERT_GE(p.fake.executed.size(), 2u);
  // The first WRITE executed is activation's (remote offset 8 slices).
  EXPECT_EQ(p.fake.executed[0].remote_addr, reinterpret_cast<uint64_t>(buf.dst.data()) + 8 * kSlice);
  std::vector<uint32_t> sent;
  for (const VerbsEvent& e : p.ev_a)
    if (e.kind == VerbsEvent::Kind::sent) sent.push_back(e.id);
  EXPECT_EQ(sent, (std::vector<uint32_t>{2, 1}));
}

// --- registration lifetimes ---

TEST(VerbsRegistration, DeregIsDeferredWhileSlicesAreInFlight) {
  Pair p(2, small_slices());
  Buffers buf(p, 8 * kSlice);
  p.connect_all();
  const uint64_t mrs = p.fake.live_mrs();
  p.fake.device("fake0")->paused = true;
  p.fake.device("fake1")->paused = true;
  ASSERT_EQ(p.a->post({.id = 1, .peer = 0, .local_region = 1, .length = buf.src.size(), .remote_region = 2}),
            PostError::ok);
  p.pump(5);
  ASSERT_GT(p.fake.pending_writes(), 0u);
  EXPECT_EQ(p.a->retire_region(1), MrRegistry::Retire::deferred);
  EXPECT_EQ(p.fake.live_mrs(), mrs);  // nothing deregistered
  // Retired: no new transfer may use it, and it is no longer advertised.
  EXPECT_EQ(p.a->post({.id = 2, .peer = 0, .local_region = 1, .length = 1, .remote_region = 2}),
            PostError::unknown_local_region);
  p.fake.device("fake0")->paused = false;
  p.fake.device("fake1")->paused = false;
  p.pump();
  EXPECT_EQ(p.count(p.ev_a, VerbsEvent::Kind::sent), 1u);  // the transfer in flight still finished
  EXPECT_EQ(p.count(p.ev_a, VerbsEvent::Kind::region_released), 1u);
  EXPECT_EQ(p.fake.live_mrs(), mrs - 2);  // one MR per rail
  EXPECT_EQ(p.fake.dereg_in_flight, 0u);
  EXPECT_EQ(buf.dst, buf.src);
}

TEST(VerbsRegistration, IdleRegionIsReleasedAtOnce) {
  Pair p(2, small_slices());
  Buffers buf(p, kSlice);
  EXPECT_EQ(p.a->retire_region(1), MrRegistry::Retire::released);
  EXPECT_EQ(p.a->retire_region(1), MrRegistry::Retire::unknown);
  std::string why;
  EXPECT_TRUE(p.a->register_region(1, buf.src.data(), buf.src.size(), why)) << why;  // the id is free again
  EXPECT_FALSE(p.a->register_region(1, buf.src.data(), buf.src.size(), why));
  EXPECT_NE(why.find("already registered"), std::string::npos);
}

TEST(VerbsRegistration, FailedPeerKeepsTheMrUntilItsWritesAreFlushed) {
  Pair p(2, small_slices());
  Buffers buf(p, 8 * kSlice);
  p.connect_all();
  p.fake.device("fake0")->paused = true;
  p.fake.device("fake1")->paused = true;
  ASSERT_EQ(p.a->post({.id = 1, .peer = 0, .local_region = 1, .length = buf.src.size(), .remote_region = 2}),
            PostError::ok);
  p.pump(5);
  p.a->fail_peer(0, p.ev_a);
  EXPECT_EQ(p.count(p.ev_a, VerbsEvent::Kind::send_failed), 1u);
  EXPECT_EQ(p.a->retire_region(1), MrRegistry::Retire::deferred);  // WRITEs still queued on the QPs
  p.a->reset_peer(0);  // the session ends: QPs destroyed, their DMA over
  p.a->poll(p.ev_a);
  EXPECT_EQ(p.count(p.ev_a, VerbsEvent::Kind::region_released), 1u);
  EXPECT_EQ(p.fake.dereg_in_flight, 0u);
}

// --- CQ error handling ---

TEST(VerbsCq, RemoteAccessErrorFailsTheTransferNotEveryRail) {
  Pair p(2, small_slices());
  Buffers buf(p, 4 * kSlice);
  p.connect_all();
  // B drops its region without telling A (a daemon bug or a race): A's WRITE
  // meets a bad rkey. Resending it elsewhere would fail the same way.
  EXPECT_EQ(p.b->retire_region(2), MrRegistry::Retire::released);
  ASSERT_EQ(p.a->post({.id = 6, .peer = 0, .local_region = 1, .length = kSlice, .remote_region = 2}), PostError::ok);
  p.pump();
  ASSERT_EQ(p.count(p.ev_a, VerbsEvent::Kind::send_failed), 1u);
  const auto f = std::find_if(p.ev_a.begin(), p.ev_a.end(),
                              [](const VerbsEvent& e) { return e.kind == VerbsEvent::Kind::send_failed; });
  EXPECT_EQ(f->status, WcStatus::remote_access);
  EXPECT_EQ(p.count(p.ev_a, VerbsEvent::Kind::path_down), 1u);
  EXPECT_EQ(p.a->outstanding_transfers(), 0u);
  // B's QP went to ERROR as the responder; B learns it from its flushed receives.
  EXPECT_EQ(p.count(p.ev_b, VerbsEvent::Kind::path_down), 1u);
}

TEST(VerbsCq, TransferToARegionThePeerNeverAdvertisedFailsWithoutBlockingTheOthers) {
  Pair p(2, small_slices());
  Buffers buf(p, 4 * kSlice);
  // Posted before any QP is connected: the destination cannot be checked yet.
  ASSERT_EQ(p.a->post({.id = 1, .peer = 0, .local_region = 1, .length = kSlice, .remote_region = 9}), PostError::ok);
  ASSERT_EQ(p.a->post({.id = 2, .peer = 0, .local_region = 1, .length = 2 * kSlice, .remote_region = 2,
                       .remote_offset = 3 * kSlice}),
            PostError::ok);  // runs past the end of B's region
  ASSERT_EQ(p.a->post({.id = 3, .peer = 0, .local_region = 1, .length = 2 * kSlice, .remote_region = 2}), PostError::ok);
  p.connect_all();
  p.pump();
  std::map<uint32_t, VerbsEvent> outcome;
  for (const VerbsEvent& e : p.ev_a)
    if (e.kind == VerbsEvent::Kind::sent || e.kind == VerbsEvent::Kind::send_failed) outcome[e.id] = e;
  ASSERT_EQ(outcome.size(), 3u);
  EXPECT_EQ(outcome[1].kind, VerbsEvent::Kind::send_failed);
  EXPECT_EQ(outcome[1].status, WcStatus::remote_access);
  EXPECT_EQ(outcome[2].kind, VerbsEvent::Kind::send_failed);
  EXPECT_EQ(outcome[3].kind, VerbsEvent::Kind::sent);
  EXPECT_TRUE(std::equal(buf.src.begin(), buf.src.begin() + 2 * kSlice, buf.dst.begin()));
  EXPECT_EQ(p.count(p.ev_a, VerbsEvent::Kind::path_down), 0u);  // nothing was written: no QP error
  EXPECT_EQ(p.a->outstanding_transfers(), 0u);
}

TEST(VerbsCq, FlushedCompletionsAfterAnErrorAreNotCountedTwice) {
  Pair p(1, small_slices());
  Buffers buf(p, 12 * kSlice);
  p.connect_all();
  p.fake.device("fake0")->paused = true;
  ASSERT_EQ(p.a->post({.id = 1, .peer = 0, .local_region = 1, .length = buf.src.size(), .remote_region = 2}),
            PostError::ok);
  p.pump(3);
  const uint32_t inflight = static_cast<uint32_t>(p.fake.pending_writes());
  ASSERT_GT(inflight, 1u);
  p.fake.device("fake0")->paused = false;
  p.fake.device("fake0")->broken = true;
  p.pump(20);
  const VerbsRailCounters c = p.a->counters(0);
  EXPECT_EQ(c.wc_errors, 1u);
  EXPECT_EQ(c.path_failures, 1u);
  EXPECT_EQ(c.reposted_slices, inflight);
  EXPECT_EQ(c.cq_depth, 0u);
  EXPECT_EQ(p.count(p.ev_a, VerbsEvent::Kind::path_down), 1u);
  EXPECT_EQ(p.a->outstanding_transfers(), 1u);  // waiting for a rail
}

TEST(VerbsCq, ResettingAPathDoesNotReadItsOwnFlushesAsAFailure) {
  Pair p(1, small_slices());
  Buffers buf(p, kSlice);
  p.connect_all();
  p.a->reset_peer(0);  // ERROR (receives flush into the CQ), then destroyed
  p.pump(5);
  EXPECT_EQ(p.count(p.ev_a, VerbsEvent::Kind::path_down), 0u);
  EXPECT_EQ(p.a->counters(0).path_failures, 1u);
  EXPECT_EQ(p.a->counters(0).wc_errors, 0u);
  EXPECT_EQ(p.a->path_state(0, 0), ConnState::idle);
}

TEST(VerbsCq, AnImmLeftInTheCqOfAResetPathIsNotAFailureNorALanding) {
  Pair p(1, small_slices());
  Buffers buf(p, kSlice);
  p.connect_all();
  ASSERT_EQ(p.a->post({.id = 3, .peer = 0, .local_region = 1, .length = kSlice, .remote_region = 2}), PostError::ok);
  p.a->poll(p.ev_a);
  p.fake.step();  // the IMM lands in B's CQ, not polled yet
  p.b->reset_peer(0);
  p.b->poll(p.ev_b);
  EXPECT_EQ(p.count(p.ev_b, VerbsEvent::Kind::received), 0u);
  EXPECT_EQ(p.count(p.ev_b, VerbsEvent::Kind::path_down), 0u);
  EXPECT_EQ(p.b->counters(0).post_errors, 0u);
}

TEST(VerbsTransport, CancelFailsATransferBeforeItsPathIsBack) {
  Pair p(1, small_slices());
  Buffers buf(p, 4 * kSlice);
  ASSERT_EQ(p.a->post({.id = 4, .peer = 0, .local_region = 1, .length = 4 * kSlice, .remote_region = 2}),
            PostError::ok);
  EXPECT_TRUE(p.a->cancel(0, 4, p.ev_a));
  EXPECT_FALSE(p.a->cancel(0, 4, p.ev_a));
  ASSERT_EQ(p.count(p.ev_a, VerbsEvent::Kind::send_failed), 1u);
  p.connect_all();
  p.pump();
  EXPECT_TRUE(p.fake.executed.empty());
  EXPECT_EQ(p.a->outstanding_transfers(), 0u);
}

TEST(VerbsCq, ReceivesAreRepostedAfterEachImm) {
  TransportConfig c = small_slices();
  c.qp.recv_depth = 2;
  Pair p(1, c);
  Buffers buf(p, kSlice);
  p.connect_all();
  for (uint32_t i = 0; i < 10; ++i)
    ASSERT_EQ(p.a->post({.id = i, .peer = 0, .local_region = 1, .length = 10, .remote_region = 2}), PostError::ok);
  p.pump();
  EXPECT_EQ(p.count(p.ev_b, VerbsEvent::Kind::received), 10u);
  EXPECT_EQ(p.b->counters(0).rx_imm, 10u);
  EXPECT_EQ(p.b->counters(0).cq_depth, 2u);  // two receives posted, nothing else
}

TEST(VerbsConfig, Checks) {
  EXPECT_EQ(check_config(TransportConfig{}), "");
  TransportConfig c;
  c.slice_bytes = 4096;
  EXPECT_NE(check_config(c).find("verbs.slice_bytes = 4096"), std::string::npos);
  c = {};
  c.slice_bytes = 2 << 20;
  EXPECT_NE(check_config(c), "");
  c = {};
  c.qp.retry_cnt = 8;
  EXPECT_NE(check_config(c).find("retry_cnt"), std::string::npos);
  c = {};
  c.qp_budget_bytes = 1000;
  EXPECT_NE(check_config(c).find("qp_budget_bytes"), std::string::npos);
}

}  // namespace
}  // namespace railyard::verbs::testing
