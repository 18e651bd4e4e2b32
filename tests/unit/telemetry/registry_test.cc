#include "telemetry/registry.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>
#include <vector>

namespace railyard::telemetry {
namespace {

FamilySpec spec(std::string name, std::vector<std::string> labels = {}) {
  return FamilySpec{.name = std::move(name), .help = "help", .labels = std::move(labels)};
}

const SeriesValue& only(const Snapshot& s, std::string_view family) {
  for (const auto& f : s.families) {
    if (f.family->name == family) return f.series.at(0);
  }
  throw std::out_of_range(std::string(family));
}

TEST(Registry, CounterGaugeHistogramValues) {
  Registry r;
  auto packets = r.counter_family(spec("railyard_rail_tx_packets", {"host", "rail"}));
  Counter c = packets.series({"h1", "r0"});
  c.inc();
  c.inc(41);
  Gauge g = r.gauge_family(spec("railyard_queue_depth")).series({});
  g.set(7.5);
  FamilySpec hs = spec("railyard_rtt_seconds");
  hs.unit = Unit::seconds;
  hs.buckets = {0.001, 0.01, 0.1};
  Histogram h = r.histogram_family(hs).series({});
  for (double v : {0.0005, 0.001, 0.005, 0.05, 1.0}) h.observe(v);

  Snapshot s = r.collect(1234);
  EXPECT_EQ(s.timestamp_ms, 1234);
  EXPECT_EQ(s.series_count(), 3u);
  EXPECT_EQ(only(s, "railyard_rail_tx_packets").value, 42);
  EXPECT_EQ(only(s, "railyard_queue_depth").value, 7.5);
  const HistogramValue& hv = only(s, "railyard_rtt_seconds").histogram;
  EXPECT_EQ(hv.cumulative, (std::vector<std::uint64_t>{2, 3, 4, 5}));  // le is inclusive
  EXPECT_EQ(hv.count, 5u);
  EXPECT_DOUBLE_EQ(hv.sum, 1.0565);
}

TEST(Registry, SameLabelsGiveTheSameSeries) {
  Registry r;
  auto f = r.counter_family(spec("x_events", {"peer"}));
  Counter a = f.series({"p1"});
  Counter b = f.series({"p1"});
  Counter c = f.series({"p2"});
  EXPECT_EQ(a.id(), b.id());
  EXPECT_NE(a.id(), c.id());
  a.inc();
  b.inc();
  EXPECT_EQ(r.collect(0).families.at(0).series.at(0).value, 2);
  // The same spec again is the same family; a different one is refused.
  EXPECT_NO_THROW(r.counter_family(spec("x_events", {"peer"})));
  EXPECT_THROW(r.counter_family(spec("x_events", {"rail"})), std::invalid_argument);
  EXPECT_THROW(r.gauge_family(spec("x_events", {"peer"})), std::invalid_argument);
  EXPECT_EQ(r.find("x_events", {"p2"}), c.id());
  EXPECT_FALSE(r.find("x_events", {"p3"}).has_value());
  EXPECT_EQ(r.series_info(c.id())->label_values, std::vector<std::string>{"p2"});
}

TEST(Registry, RefusesBadSpecs) {
  Registry r;
  EXPECT_THROW(r.counter_family(spec("9bad")), std::invalid_argument);
  EXPECT_THROW(r.counter_family(spec("x_requests_total")), std::invalid_argument);
  EXPECT_THROW(r.gauge_family(spec("x_count")), std::invalid_argument);
  EXPECT_THROW(r.counter_family(spec("x", {"__reserved"})), std::invalid_argument);
  EXPECT_THROW(r.counter_family(spec("x", {"le"})), std::invalid_argument);
  EXPECT_THROW(r.counter_family(spec("x", {"a", "a"})), std::invalid_argument);
  EXPECT_THROW(r.counter_family(spec("x", {"bad-name"})), std::invalid_argument);
  FamilySpec unit = spec("x_rx");
  unit.unit = Unit::bytes;
  EXPECT_THROW(r.counter_family(unit), std::invalid_argument);  // needs ..._bytes
  unit.name = "x_rx_bytes";
  EXPECT_NO_THROW(r.counter_family(unit));
  FamilySpec nohelp = spec("y");
  nohelp.help.clear();
  EXPECT_THROW(r.gauge_family(nohelp), std::invalid_argument);
  FamilySpec h = spec("z_seconds");
  h.unit = Unit::seconds;
  h.buckets = {1, 1};
  EXPECT_THROW(r.histogram_family(h), std::invalid_argument);
  h.buckets = {1, std::numeric_limits<double>::infinity()};
  EXPECT_THROW(r.histogram_family(h), std::invalid_argument);
  // "a" (counter) exports a_total: a gauge a_total would clash.
  r.counter_family(spec("a"));
  EXPECT_THROW(r.gauge_family(spec("a_total")), std::invalid_argument);
  // Wrong number of label values.
  auto f = r.counter_family(spec("w", {"host"}));
  EXPECT_THROW(f.series({}), std::invalid_argument);
}

TEST(Registry, CounterScaleExportsBaseUnits) {
  Registry r;
  FamilySpec s = spec("x_busy_seconds");
  s.unit = Unit::seconds;
  s.scale = 1e-9;
  Counter c = r.counter_family(s).series({});
  c.inc(1'500'000'000);
  EXPECT_DOUBLE_EQ(r.collect(0).families[0].series[0].value, 1.5);
}

TEST(Registry, CallbackSeriesAreReadAtCollection) {
  Registry r;
  double temp = 40;
  auto g = r.gauge_family(spec("x_temperature_celsius", {"sensor"}));
  g.callback({"inlet"}, [&temp] { return temp; });
  EXPECT_EQ(r.collect(0).families[0].series[0].value, 40);
  temp = 41.5;
  EXPECT_EQ(r.collect(0).families[0].series[0].value, 41.5);
}

TEST(Registry, CollectsOnlyTheRequestedGroups) {
  Registry r;
  FamilySpec a = spec("a_value");
  a.group = "rails";
  FamilySpec b = spec("b_value");
  b.group = "bmc";
  r.gauge_family(a).series({});
  r.gauge_family(b).series({});
  std::vector<std::string> rails{"rails"};
  Snapshot s = r.collect(0, rails);
  ASSERT_EQ(s.families.size(), 1u);
  EXPECT_EQ(s.families[0].family->name, "a_value");
  EXPECT_EQ(r.collect(0).families.size(), 2u);
}

// Several data-plane threads with their own slots, plus one thread without a
// scope (shared cells, atomic RMW), all updating the same series while the
// collector reads: the total is exact and never goes backwards.
TEST(Registry, PerThreadCountersSumExactlyUnderConcurrency) {
  Registry r;
  auto family = r.counter_family(spec("x_ops", {"rail"}));
  Counter shared_series = family.series({"r0"});
  FamilySpec hs = spec("x_size_bytes");
  hs.unit = Unit::bytes;
  hs.buckets = {10, 100};
  Histogram hist = r.histogram_family(hs).series({});
  Gauge level = r.gauge_family(spec("x_level")).series({});
  constexpr int kThreads = 4;
  constexpr std::uint64_t kPerThread = 200'000;
  std::atomic<bool> go{false};
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::optional<ThreadScope> scope;
      if (t != 0) scope.emplace(r);  // thread 0 has no scope: shared cells
      // A series created after the scope opened must work too.
      Counter mine = family.series({"own" + std::to_string(t)});
      ++ready;
      while (!go.load()) {
      }
      for (std::uint64_t i = 0; i < kPerThread; ++i) {
        shared_series.inc();
        mine.inc(2);
        hist.observe(static_cast<double>(i % 200));
        level.add(1);
      }
    });
  }
  while (ready.load() < kThreads) {
  }
  go = true;
  double last = 0;
  for (int i = 0; i < 50; ++i) {
    double v = r.collect(0).families[0].series[0].value;
    EXPECT_GE(v, last);
    last = v;
  }
  for (auto& t : threads) t.join();
  Snapshot s = r.collect(0);
  EXPECT_EQ(s.families[0].series[0].value, kThreads * kPerThread);
  ASSERT_EQ(s.families[0].series.size(), 1u + kThreads);
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(s.families[0].series[1 + t].value, 2 * kPerThread);
  const HistogramValue& hv = s.families[1].series[0].histogram;
  EXPECT_EQ(hv.count, kThreads * kPerThread);
  EXPECT_EQ(hv.cumulative[0], kThreads * kPerThread / 200 * 11);   // 0..10
  EXPECT_EQ(hv.cumulative[1], kThreads * kPerThread / 200 * 101);  // 0..100
  EXPECT_EQ(s.families[2].series[0].value, kThreads * kPerThread);
  // Scopes closed: their slots are kept (counts survive) and reused.
  EXPECT_EQ(r.shard_count(), static_cast<std::size_t>(kThreads - 1));
  {
    ThreadScope again(r);
    shared_series.inc();
    EXPECT_EQ(r.shard_count(), static_cast<std::size_t>(kThreads - 1));
  }
  EXPECT_EQ(r.collect(0).families[0].series[0].value, kThreads * kPerThread + 1);
}

TEST(Registry, ManySeriesSpanChunks) {
  Registry r;
  FamilySpec hs = spec("x_latency_seconds", {"peer"});
  hs.unit = Unit::seconds;
  hs.buckets = std::vector<double>(60);
  for (std::size_t i = 0; i < hs.buckets.size(); ++i) hs.buckets[i] = static_cast<double>(i + 1);
  auto hf = r.histogram_family(hs);
  auto cf = r.counter_family(spec("x_things", {"peer"}));
  ThreadScope scope(r);
  std::vector<Histogram> hists;
  std::vector<Counter> counters;
  for (int i = 0; i < 300; ++i) {
    hists.push_back(hf.series({std::to_string(i)}));
    counters.push_back(cf.series({std::to_string(i)}));
  }
  for (int i = 0; i < 300; ++i) {
    hists[i].observe(i % 70);
    counters[i].inc(i);
  }
  Snapshot s = r.collect(0);
  for (int i = 0; i < 300; ++i) {
    EXPECT_EQ(s.families[0].series[i].histogram.count, 1u);
    EXPECT_EQ(s.families[1].series[i].value, i);
  }
}

TEST(Registry, HistoryIsBoundedAndOrdered) {
  Registry r(RegistryOptions{.history_points = 3});
  Gauge g = r.gauge_family(spec("x_temp_celsius_like")).series({});
  FamilySpec none = spec("x_untracked");
  none.history_points = 0;
  Gauge u = r.gauge_family(none).series({});
  EXPECT_TRUE(r.history(g.id()).empty());
  for (int i = 1; i <= 5; ++i) {
    g.set(i * 10);
    u.set(i);
    r.record_history(r.collect(i * 1000));
  }
  EXPECT_EQ(r.history(g.id()), (std::vector<Point>{{3000, 30}, {4000, 40}, {5000, 50}}));
  EXPECT_EQ(r.history(g.id(), 4000), (std::vector<Point>{{4000, 40}, {5000, 50}}));
  EXPECT_TRUE(r.history(u.id()).empty());
  EXPECT_TRUE(r.history(9999).empty());
}

TEST(Registry, DefaultHandlesAreNoOps) {
  Counter c;
  Gauge g;
  Histogram h;
  c.inc();
  g.set(1);
  h.observe(1);
  EXPECT_FALSE(c.valid());
}

}  // namespace
}  // namespace railyard::telemetry
