// LandingMatch: announcements and NIC landings meet in either order, each
// transfer is delivered once, duplicates and strays are dropped and counted.
#include "fabric/landing_match.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

namespace railyard::fabric {
namespace {

LandingDescriptor desc(uint64_t transfer_id) {
  return LandingDescriptor{.transfer_id = transfer_id, .region = 3, .offset = transfer_id * 64, .length = 64};
}

TEST(LandingMatch, AnnouncementFirstThenLanding) {
  LandingMatch m;
  LandingDescriptor out;
  EXPECT_EQ(m.announce(desc(1), out), Announce::waiting);
  EXPECT_EQ(m.land(1, out), Landing::deliver);
  EXPECT_EQ(out.transfer_id, 1u);
  EXPECT_EQ(out.offset, 64u);
  EXPECT_EQ(m.waiting(), 0u);
}

TEST(LandingMatch, LandingFirstThenAnnouncement) {
  LandingMatch m;
  LandingDescriptor out;
  EXPECT_EQ(m.land(7, out), Landing::early);
  EXPECT_EQ(m.announce(desc(7), out), Announce::deliver);
  EXPECT_EQ(out.transfer_id, 7u);
  EXPECT_EQ(m.early(), 0u);
  EXPECT_EQ(m.counters().early, 1u);
}

TEST(LandingMatch, SecondLandingOfADeliveredTransferIsADuplicate) {
  LandingMatch m;
  LandingDescriptor out;
  ASSERT_EQ(m.announce(desc(1), out), Announce::waiting);
  ASSERT_EQ(m.announce(desc(2), out), Announce::waiting);
  ASSERT_EQ(m.land(1, out), Landing::deliver);
  EXPECT_EQ(m.land(1, out), Landing::duplicate);  // the IMM resent after a retry-exceeded
  ASSERT_EQ(m.land(2, out), Landing::deliver);
  EXPECT_EQ(m.land(2, out), Landing::duplicate);
  EXPECT_EQ(m.counters().delivered, 2u);
  EXPECT_EQ(m.counters().duplicates, 2u);
}

TEST(LandingMatch, TwoEarlyLandingsOfOneTransferDeliverOnce) {
  LandingMatch m;
  LandingDescriptor out;
  ASSERT_EQ(m.land(5, out), Landing::early);
  EXPECT_EQ(m.land(5, out), Landing::duplicate);
  EXPECT_EQ(m.announce(desc(5), out), Announce::deliver);
  EXPECT_EQ(m.land(5, out), Landing::duplicate);
  EXPECT_EQ(m.counters().delivered, 1u);
}

TEST(LandingMatch, AnnouncementsMustBeNewer) {
  LandingMatch m;
  LandingDescriptor out;
  ASSERT_EQ(m.announce(desc(10), out), Announce::waiting);
  EXPECT_EQ(m.announce(desc(10), out), Announce::out_of_order);
  EXPECT_EQ(m.announce(desc(9), out), Announce::out_of_order);
  EXPECT_EQ(m.counters().refused, 2u);
  EXPECT_EQ(m.waiting(), 1u);
}

TEST(LandingMatch, ImmsWrapAroundWhileTransferIdsGrow) {
  LandingMatch m;
  LandingDescriptor out;
  ASSERT_EQ(m.announce(desc(0xffffffffu), out), Announce::waiting);
  ASSERT_EQ(m.announce(desc(0x100000001u), out), Announce::waiting);  // IMM 1
  EXPECT_EQ(m.land(1, out), Landing::deliver);
  EXPECT_EQ(out.transfer_id, 0x100000001u);
  EXPECT_EQ(m.land(0xffffffffu, out), Landing::deliver);
  EXPECT_EQ(m.land(0xfffffffeu, out), Landing::duplicate);
}

TEST(LandingMatch, AnAnnouncementWhoseImmIsStillWaitingIsRefused) {
  LandingMatch m;
  LandingDescriptor out;
  ASSERT_EQ(m.announce(desc(5), out), Announce::waiting);
  EXPECT_EQ(m.announce(desc(5 + (1ull << 32)), out), Announce::full);  // same IMM: which one landed?
  EXPECT_EQ(m.land(5, out), Landing::deliver);
  EXPECT_EQ(out.transfer_id, 5u);
}

// Transfer ids only grow in a session, however far a peer jumps: no
// transfer is announced, and so delivered, twice.
TEST(LandingMatch, JumpsAroundTheImmCircleNeverDeliverATransferTwice) {
  LandingMatch m;
  LandingDescriptor out;
  ASSERT_EQ(m.announce(desc(10), out), Announce::waiting);
  ASSERT_EQ(m.land(10, out), Landing::deliver);
  for (uint64_t t = 10 + 0x7fffffffu; t <= 10 + 4 * 0x7fffffffull; t += 0x7fffffffu) {
    LandingDescriptor d = desc(t);
    EXPECT_NE(m.announce(d, out), Announce::deliver);
  }
  EXPECT_EQ(m.announce(desc(10), out), Announce::out_of_order);
  EXPECT_NE(m.land(10, out), Landing::deliver);
  EXPECT_EQ(m.counters().delivered, 1u);
}

TEST(LandingMatch, EarlyLandingNeverAnnouncedIsOrphanedOnceNewerIdsAre) {
  LandingMatch m;
  LandingDescriptor out;
  ASSERT_EQ(m.land(3, out), Landing::early);   // a stray: no transfer 3 in this session
  ASSERT_EQ(m.land(9, out), Landing::early);   // a real one, ahead of its announcement
  ASSERT_EQ(m.announce(desc(4), out), Announce::waiting);
  EXPECT_EQ(m.counters().orphaned, 1u);
  EXPECT_EQ(m.early(), 1u);
  EXPECT_EQ(m.announce(desc(9), out), Announce::deliver);
}

TEST(LandingMatch, AWithdrawnAnnouncementStopsWaiting) {
  LandingMatch m(2);
  LandingDescriptor out;
  ASSERT_EQ(m.announce(desc(1), out), Announce::waiting);
  ASSERT_EQ(m.announce(desc(2), out), Announce::waiting);
  EXPECT_FALSE(m.withdraw(1 + (1ull << 32)));  // another transfer with the same IMM
  EXPECT_TRUE(m.withdraw(1));                  // transfer 1 failed at the sender
  EXPECT_FALSE(m.withdraw(1));
  EXPECT_EQ(m.waiting(), 1u);
  EXPECT_EQ(m.announce(desc(3), out), Announce::waiting);  // its room is free again
  EXPECT_EQ(m.counters().withdrawn, 1u);
}

TEST(LandingMatch, CapacityBoundsBothSides) {
  LandingMatch m(2);
  LandingDescriptor out;
  ASSERT_EQ(m.announce(desc(1), out), Announce::waiting);
  ASSERT_EQ(m.announce(desc(2), out), Announce::waiting);
  EXPECT_EQ(m.announce(desc(3), out), Announce::full);
  ASSERT_EQ(m.land(10, out), Landing::early);
  ASSERT_EQ(m.land(11, out), Landing::early);
  EXPECT_EQ(m.land(12, out), Landing::full);
  EXPECT_EQ(m.counters().dropped_full, 1u);
}

TEST(LandingMatch, ResetForgetsTheOldSession) {
  LandingMatch m;
  LandingDescriptor out;
  ASSERT_EQ(m.announce(desc(50), out), Announce::waiting);
  ASSERT_EQ(m.land(60, out), Landing::early);
  m.reset();
  EXPECT_EQ(m.waiting(), 0u);
  EXPECT_EQ(m.early(), 0u);
  // A restarted sender counts from 1 again.
  EXPECT_EQ(m.announce(desc(1), out), Announce::waiting);
  EXPECT_EQ(m.land(50, out), Landing::early);
}

// Any interleaving of in-order announcements with shuffled, sometimes doubled
// landings delivers every transfer exactly once.
TEST(LandingMatch, RandomInterleavingsDeliverEachOnce) {
  for (uint32_t seed = 1; seed <= 50; ++seed) {
    std::mt19937 rng(seed);
    constexpr uint32_t kN = 500;
    std::vector<uint32_t> landings(kN);
    std::iota(landings.begin(), landings.end(), 1u);
    for (uint32_t i = 1; i <= kN; i += 7) landings.push_back(i);  // duplicate IMMs
    std::shuffle(landings.begin(), landings.end(), rng);
    LandingMatch m;
    std::vector<int> delivered(kN + 1, 0);
    LandingDescriptor out;
    uint32_t next_announce = 1;
    size_t next_land = 0;
    while (next_announce <= kN || next_land < landings.size()) {
      const bool do_announce =
          next_land == landings.size() || (next_announce <= kN && std::bernoulli_distribution(0.5)(rng));
      if (do_announce) {
        if (m.announce(desc(next_announce++), out) == Announce::deliver) ++delivered[out.imm()];
      } else if (m.land(landings[next_land++], out) == Landing::deliver) {
        ++delivered[out.imm()];
      }
    }
    for (uint32_t i = 1; i <= kN; ++i) ASSERT_EQ(delivered[i], 1) << "seed " << seed << " id " << i;
    EXPECT_EQ(m.waiting(), 0u);
    EXPECT_EQ(m.early(), 0u);
  }
}

}  // namespace
}  // namespace railyard::fabric
