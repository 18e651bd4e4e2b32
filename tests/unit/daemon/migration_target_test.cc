// choose_target: where a migration without --to goes.
#include <gtest/gtest.h>

#include "daemon/migration_service.h"

namespace railyard::daemon {
namespace {

HeadroomCandidate peer(const std::string& name, uint32_t free, double margin, double congestion = 0,
                       uint32_t level = 0) {
  HeadroomCandidate c{.peer = name, .headroom = {}, .age = std::chrono::milliseconds(500)};
  c.headroom.set_decode_workload(true);
  c.headroom.set_free_slots(free);
  c.headroom.set_thermal_margin_c(margin);
  c.headroom.set_congestion(congestion);
  c.headroom.set_throttle_level(level);
  return c;
}

constexpr auto kMaxAge = std::chrono::seconds(5);

TEST(ChooseTarget, PrefersTheLowestLevelThenTheWidestMarginThenTheLeastCongestion) {
  EXPECT_EQ(choose_target({peer("a", 64, 5), peer("b", 64, 9)}, 8, kMaxAge), "b");
  EXPECT_EQ(choose_target({peer("a", 64, 5), peer("b", 64, 9, 0, 2)}, 8, kMaxAge), "a");
  EXPECT_EQ(choose_target({peer("a", 64, 9, 0.5), peer("b", 64, 9, 0.1)}, 8, kMaxAge), "b");
}

TEST(ChooseTarget, SkipsPeersWithoutRoomOrWorkloadOrThatDrainOrAreSilent) {
  auto no_workload = peer("w", 64, 20);
  no_workload.headroom.set_decode_workload(false);
  auto draining = peer("d", 64, 20);
  draining.headroom.set_draining(true);
  auto silent = peer("s", 64, 20);
  silent.age = std::chrono::seconds(30);
  auto small = peer("f", 3, 20);
  EXPECT_FALSE(choose_target({no_workload, draining, silent, small}, 4, kMaxAge).has_value());
  EXPECT_EQ(choose_target({no_workload, draining, silent, small, peer("ok", 4, 1)}, 4, kMaxAge), "ok");
  EXPECT_FALSE(choose_target({}, 1, kMaxAge).has_value());
}

}  // namespace
}  // namespace railyard::daemon
