#include "telemetry/prometheus_text.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "telemetry/text_escape.h"

namespace railyard::telemetry {
namespace {

std::string value(double v) {
  std::string s;
  append_value(s, v);
  return s;
}

TEST(PrometheusText, ValuesAsGoWritesThem) {
  EXPECT_EQ(value(0), "0");
  EXPECT_EQ(value(42), "42");
  EXPECT_EQ(value(-3.5), "-3.5");
  EXPECT_EQ(value(0.1), "0.1");
  EXPECT_EQ(value(123456), "123456");
  EXPECT_EQ(value(1234567), "1.234567e+06");
  EXPECT_EQ(value(1e6), "1e+06");
  EXPECT_EQ(value(0.0001), "0.0001");
  EXPECT_EQ(value(0.00001), "1e-05");
  EXPECT_EQ(value(std::nan("")), "NaN");
  EXPECT_EQ(value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(value(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(PrometheusText, GoldenWithEscapingAndHistograms) {
  Registry r;
  auto tx = r.counter_family({.name = "railyard_rail_tx_bytes",
                              .help = "Bytes sent on a rail.\nSecond line with a \\ backslash.",
                              .unit = Unit::bytes,
                              .labels = {"host", "rail"}});
  tx.series({"h1", "r0"}).inc(1024);
  tx.series({"h\"2\"", "a\\b\nc"}).inc(5);
  r.gauge_family({.name = "railyard_bmc_coolant_supply_celsius",
                  .help = "Coolant supply temperature.",
                  .unit = Unit::celsius,
                  .labels = {"chassis"}})
      .series({"1"})
      .set(31.25);
  r.gauge_family({.name = "railyard_up", .help = "1 when running."}).series({}).set(1);
  Histogram h = r.histogram_family({.name = "railyard_transfer_duration_seconds",
                                    .help = "Transfer duration.",
                                    .unit = Unit::seconds,
                                    .labels = {"class"},
                                    .buckets = {0.0005, 0.01, 1e6}})
                    .series({"kv"});
  h.observe(0.0001);
  h.observe(0.5);
  h.observe(2e6);
  r.histogram_family({.name = "railyard_empty_seconds", .help = "No series.", .unit = Unit::seconds});

  const char* want =
      "# HELP railyard_rail_tx_bytes_total Bytes sent on a rail.\\nSecond line with a \\\\ backslash.\n"
      "# TYPE railyard_rail_tx_bytes_total counter\n"
      "railyard_rail_tx_bytes_total{host=\"h1\",rail=\"r0\"} 1024\n"
      "railyard_rail_tx_bytes_total{host=\"h\\\"2\\\"\",rail=\"a\\\\b\\nc\"} 5\n"
      "# HELP railyard_bmc_coolant_supply_celsius Coolant supply temperature.\n"
      "# TYPE railyard_bmc_coolant_supply_celsius gauge\n"
      "railyard_bmc_coolant_supply_celsius{chassis=\"1\"} 31.25\n"
      "# HELP railyard_up 1 when running.\n"
      "# TYPE railyard_up gauge\n"
      "railyard_up 1\n"
      "# HELP railyard_transfer_duration_seconds Transfer duration.\n"
      "# TYPE railyard_transfer_duration_seconds histogram\n"
      "railyard_transfer_duration_seconds_bucket{class=\"kv\",le=\"0.0005\"} 1\n"
      "railyard_transfer_duration_seconds_bucket{class=\"kv\",le=\"0.01\"} 1\n"
      "railyard_transfer_duration_seconds_bucket{class=\"kv\",le=\"1e+06\"} 2\n"
      "railyard_transfer_duration_seconds_bucket{class=\"kv\",le=\"+Inf\"} 3\n"
      "railyard_transfer_duration_seconds_sum{class=\"kv\"} 2.0000005001e+06\n"
      "railyard_transfer_duration_seconds_count{class=\"kv\"} 3\n";
  EXPECT_EQ(render_text(r.collect(0)), want);
}

TEST(PrometheusText, HistogramWithoutLabels) {
  Registry r;
  Histogram h = r.histogram_family({.name = "x_seconds", .help = "h", .unit = Unit::seconds, .buckets = {1}}).series({});
  h.observe(1);
  EXPECT_EQ(render_text(r.collect(0)),
            "# HELP x_seconds h\n# TYPE x_seconds histogram\n"
            "x_seconds_bucket{le=\"1\"} 1\nx_seconds_bucket{le=\"+Inf\"} 1\nx_seconds_sum 1\nx_seconds_count 1\n");
}

}  // namespace
}  // namespace railyard::telemetry
