#include "telemetry/sampler.h"

#include <gtest/gtest.h>

#include "fake_receiver.h"

namespace railyard::telemetry {
namespace {

using testing::run_until;

TEST(Sampler, CollectsRecordsAndFeedsSinksAtItsInterval) {
  boost::asio::io_context io;
  Registry registry(RegistryOptions{.history_points = 100});
  Gauge fast = registry.gauge_family({.name = "x_fast", .help = "h", .group = "rails"}).series({});
  Gauge slow = registry.gauge_family({.name = "x_slow", .help = "h", .group = "bmc"}).series({});
  std::int64_t clock = 0;
  Sampler sampler(io, registry, SamplerOptions{.interval = std::chrono::milliseconds(10), .groups = {"rails"}},
                  [&clock] { return clock += 100; });
  int before = 0;
  sampler.add_before([&] { fast.set(++before); });
  std::vector<std::size_t> every_snapshot, every_third;
  sampler.add_sink([&](const Snapshot& s) { every_snapshot.push_back(s.series_count()); });
  sampler.add_sink([&](const Snapshot& s) { every_third.push_back(static_cast<std::size_t>(s.timestamp_ms)); }, 3);
  slow.set(5);
  sampler.start();
  ASSERT_TRUE(run_until(io, [&] { return sampler.ticks() >= 7; }));
  sampler.stop();
  io.restart();
  io.run_for(std::chrono::milliseconds(30));
  EXPECT_EQ(sampler.ticks(), 7u);
  EXPECT_EQ(every_snapshot, std::vector<std::size_t>(7, 1));  // only the "rails" group
  EXPECT_EQ(every_third, (std::vector<std::size_t>{100, 400, 700}));
  auto h = registry.history(fast.id());
  ASSERT_EQ(h.size(), 7u);
  EXPECT_EQ(h.front(), (Point{100, 1}));
  EXPECT_EQ(h.back(), (Point{700, 7}));
  EXPECT_TRUE(registry.history(slow.id()).empty());
}

}  // namespace
}  // namespace railyard::telemetry
