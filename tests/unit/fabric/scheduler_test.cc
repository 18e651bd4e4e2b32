#include "fabric/scheduler.h"

#include <gtest/gtest.h>

#include <array>

#include "fabric/rail_health.h"

namespace railyard::fabric {
namespace {

TEST(Scheduler, SpraysInProportionAndInterleaves) {
  RailScheduler s;
  std::array<RailChoice, 2> rails{RailChoice{true, 300}, RailChoice{true, 100}};
  std::array<int, 2> count{};
  int longest_run = 0, run = 0, prev = -1;
  for (int i = 0; i < 400; ++i) {
    const int r = s.pick(rails);
    ASSERT_GE(r, 0);
    ++count[static_cast<size_t>(r)];
    run = r == prev ? run + 1 : 1;
    longest_run = std::max(longest_run, run);
    prev = r;
  }
  EXPECT_EQ(count[0], 300);
  EXPECT_EQ(count[1], 100);
  EXPECT_LE(longest_run, 3);  // spread, not in bursts
}

TEST(Scheduler, NeverPicksAnUnusableRail) {
  RailScheduler s;
  std::array<RailChoice, 3> rails{RailChoice{false, 1000}, RailChoice{true, 1}, RailChoice{false, 5}};
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.pick(rails), 1);
  rails[1].usable = false;
  EXPECT_EQ(s.pick(rails), -1);
  rails[0].usable = rails[2].usable = true;
  rails[2].weight = 1000;
  std::array<int, 3> count{};
  for (int i = 0; i < 100; ++i) ++count[static_cast<size_t>(s.pick(rails))];
  EXPECT_EQ(count[1], 0);
  EXPECT_NEAR(count[0], 50, 1);
}

TEST(RailHealth, LinkDownAtOnceUpOnlyAfterProbeReply) {
  RailHealth h;
  EXPECT_TRUE(h.up());
  EXPECT_FALSE(h.on_link(nic::LinkState::up, 10));
  EXPECT_TRUE(h.on_link(nic::LinkState::down, 20));
  EXPECT_FALSE(h.up());
  EXPECT_EQ(h.reason(), DownReason::link);
  EXPECT_FALSE(h.probe_due(30));  // no probes into a dead link
  EXPECT_FALSE(h.on_probe_reply(35));
  h.on_link(nic::LinkState::up, 40);
  EXPECT_FALSE(h.up());  // link up alone is not enough
  EXPECT_TRUE(h.probe_due(40));
  EXPECT_FALSE(h.probe_due(41));
  EXPECT_TRUE(h.probe_due(40 + HealthConfig{}.probe_interval_ns));
  EXPECT_TRUE(h.on_probe_reply(50));
  EXPECT_TRUE(h.up());
  EXPECT_EQ(h.transitions(), 2u);
}

TEST(RailHealth, AckSilenceWhilePacketsOutstanding) {
  HealthConfig c{.silence_rtos = 3, .min_silence_ns = 0};
  RailHealth h(c);
  const uint64_t rto = 1'000'000;
  EXPECT_FALSE(h.check_silence(rto, 100'000'000));  // idle rail: silence is normal
  h.on_sent(1'000'000);
  h.on_sent(2'000'000);
  EXPECT_FALSE(h.check_silence(rto, 3'900'000));
  h.on_ack(true, 3'900'000);  // progress restarts the clock
  EXPECT_FALSE(h.check_silence(rto, 6'800'000));
  EXPECT_EQ(h.silence_deadline(rto), 6'900'000u);
  EXPECT_TRUE(h.check_silence(rto, 6'900'000));
  EXPECT_FALSE(h.up());
  EXPECT_EQ(h.reason(), DownReason::ack_silence);
  EXPECT_TRUE(h.probe_due(6'900'000));
  // All acknowledged: no silence however long.
  RailHealth g(c);
  g.on_sent(1);
  g.on_ack(false, 2);
  EXPECT_FALSE(g.check_silence(rto, 1'000'000'000));
}

// An idle rail heard nothing, ever: a peer restarted under another key, or
// the far end of the rail went down, and it still showed up (issue 20).
TEST(RailHealth, AnIdleRailSendsKeepalivesAndGoesDownWhenThreeInARowGoUnanswered) {
  const HealthConfig c{};
  const uint64_t k = c.keepalive_ns;
  RailHealth h(c);
  EXPECT_FALSE(h.keepalive_due(1));  // the clock starts
  EXPECT_EQ(h.keepalive_deadline(), 1 + k);
  EXPECT_FALSE(h.keepalive_due(k));
  EXPECT_TRUE(h.keepalive_due(1 + k));
  EXPECT_FALSE(h.keepalive_due(1 + k + 1)) << "one a keepalive interval";
  EXPECT_TRUE(h.keepalive_due(1 + 2 * k));
  EXPECT_TRUE(h.keepalive_due(1 + 3 * k));
  EXPECT_FALSE(h.keepalive_due(1 + 4 * k)) << "three sent: no more while the last is awaited";
  EXPECT_FALSE(h.check_keepalives(1 + 4 * k - 1)) << "the third gets a full interval";
  EXPECT_EQ(h.keepalive_deadline(), 1 + 4 * k);
  EXPECT_TRUE(h.check_keepalives(1 + 4 * k));
  EXPECT_FALSE(h.up());
  EXPECT_EQ(h.reason(), DownReason::ack_silence);
  EXPECT_TRUE(h.probe_due(1 + 4 * k)) << "then probed as any down rail";
  EXPECT_TRUE(h.on_probe_reply(1 + 4 * k + 100));
  EXPECT_TRUE(h.up());
}

TEST(RailHealth, AnAnsweredOrBusyRailStaysUp) {
  const HealthConfig c{};
  const uint64_t k = c.keepalive_ns;
  RailHealth h(c);
  h.keepalive_due(1);
  EXPECT_TRUE(h.keepalive_due(1 + k));
  EXPECT_TRUE(h.keepalive_due(1 + 2 * k));
  EXPECT_FALSE(h.on_probe_reply(1 + 2 * k + 50)) << "a keepalive's reply: already up";
  EXPECT_FALSE(h.keepalive_due(1 + 3 * k)) << "heard: the next is due a full interval after it";
  EXPECT_TRUE(h.keepalive_due(1 + 3 * k + 50));
  EXPECT_FALSE(h.check_keepalives(1 + 10 * k)) << "one unanswered since: not enough";
  EXPECT_TRUE(h.up());
  // Data in flight is answered by its ACKs; no keepalives meanwhile.
  RailHealth g(c);
  g.keepalive_due(1);
  g.on_sent(2);
  EXPECT_FALSE(g.keepalive_due(1 + 5 * k));
  EXPECT_FALSE(g.check_keepalives(1 + 5 * k));
  g.on_ack(false, 1 + 5 * k);
  EXPECT_FALSE(g.keepalive_due(1 + 6 * k - 1));
  EXPECT_TRUE(g.keepalive_due(1 + 6 * k));
  EXPECT_TRUE(g.up());
}

}  // namespace
}  // namespace railyard::fabric
