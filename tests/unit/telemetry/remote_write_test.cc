#include "telemetry/remote_write.h"

#include <gtest/gtest.h>
#include <snappy.h>

#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <fstream>

#include "fake_receiver.h"
#include "telemetry/remote_write.pb.h"

namespace railyard::telemetry {
namespace {

using testing::FakeReceiver;
using testing::run_until;
using Flat = FakeReceiver::Flat;

TEST(RemoteWrite, EncodesZeroesAndNegativeTimestamps) {
  Registry r;
  r.gauge_family({.name = "x", .help = "h"}).series({}).set(0);
  RemoteSeriesTable table({});
  std::vector<BufferedSample> samples;
  flatten(r.collect(-5), table, samples);
  flatten(r.collect(0), table, samples);
  std::string raw = encode_write_request(table, samples.data(), samples.size());
  prometheus::WriteRequest req;
  ASSERT_TRUE(req.ParseFromString(raw));
  ASSERT_EQ(req.timeseries_size(), 1);
  ASSERT_EQ(req.timeseries(0).samples_size(), 2);
  EXPECT_EQ(req.timeseries(0).samples(0).timestamp(), -5);
  EXPECT_EQ(req.timeseries(0).samples(0).value(), 0);
  EXPECT_EQ(req.timeseries(0).samples(1).timestamp(), 0);
  EXPECT_EQ(encode_write_request(table, samples.data(), 0), "");
}

TEST(RemoteWrite, RedactsUrls) {
  EXPECT_EQ(redact_url("https://user:pw@example.com:9090/api/v1/write?token=x"), "https://example.com:9090/api/v1/write");
  EXPECT_EQ(redact_url("http://127.0.0.1:9090/api/v1/write"), "http://127.0.0.1:9090/api/v1/write");
}

// Encode, then decode as any receiver would: snappy block, then protobuf.
TEST(RemoteWrite, EncodingRoundTrips) {
  Registry r;
  auto tx = r.counter_family({.name = "x_tx_bytes", .help = "h", .unit = Unit::bytes, .labels = {"rail", "host"}});
  tx.series({"r0", "h1"}).inc(10);
  tx.series({"r1", ""}).inc(20);  // empty label value: left out
  Histogram h = r.histogram_family({.name = "x_rtt_seconds", .help = "h", .unit = Unit::seconds, .buckets = {0.5}})
                    .series({});
  h.observe(0.25);
  h.observe(2);

  RemoteSeriesTable table({{"host", "external"}, {"zone", "z1"}});
  std::vector<BufferedSample> samples;
  flatten(r.collect(1000), table, samples);
  tx.series({"r0", "h1"}).inc(5);
  flatten(r.collect(2000), table, samples);
  ASSERT_EQ(samples.size(), 2u * (2 + 4));

  std::string body = compress_snappy(encode_write_request(table, samples.data(), samples.size()));
  std::string raw;
  ASSERT_TRUE(snappy::Uncompress(body.data(), body.size(), &raw));
  prometheus::WriteRequest req;
  ASSERT_TRUE(req.ParseFromString(raw));
  ASSERT_EQ(req.timeseries_size(), 6);  // one TimeSeries per label set, two samples each
  // Byte for byte what protobuf itself writes (no field here has its default value).
  EXPECT_EQ(req.SerializeAsString(), raw);

  auto labels = [](const prometheus::TimeSeries& ts) {
    std::string s;
    for (const auto& l : ts.labels()) s += l.name() + "=" + l.value() + ";";
    return s;
  };
  EXPECT_EQ(labels(req.timeseries(0)), "__name__=x_tx_bytes_total;host=h1;rail=r0;zone=z1;");
  EXPECT_EQ(labels(req.timeseries(1)), "__name__=x_tx_bytes_total;host=external;rail=r1;zone=z1;");
  EXPECT_EQ(labels(req.timeseries(2)), "__name__=x_rtt_seconds_bucket;host=external;le=0.5;zone=z1;");
  EXPECT_EQ(labels(req.timeseries(3)), "__name__=x_rtt_seconds_bucket;host=external;le=+Inf;zone=z1;");
  EXPECT_EQ(labels(req.timeseries(4)), "__name__=x_rtt_seconds_sum;host=external;zone=z1;");
  EXPECT_EQ(labels(req.timeseries(5)), "__name__=x_rtt_seconds_count;host=external;zone=z1;");
  auto samples_of = [](const prometheus::TimeSeries& ts) {
    std::vector<std::pair<long long, double>> v;
    for (const auto& s : ts.samples()) v.emplace_back(s.timestamp(), s.value());
    return v;
  };
  using V = std::vector<std::pair<long long, double>>;
  EXPECT_EQ(samples_of(req.timeseries(0)), (V{{1000, 10}, {2000, 15}}));
  EXPECT_EQ(samples_of(req.timeseries(1)), (V{{1000, 20}, {2000, 20}}));
  EXPECT_EQ(samples_of(req.timeseries(2)), (V{{1000, 1}, {2000, 1}}));
  EXPECT_EQ(samples_of(req.timeseries(3)), (V{{1000, 2}, {2000, 2}}));
  EXPECT_EQ(samples_of(req.timeseries(4)), (V{{1000, 2.25}, {2000, 2.25}}));
  EXPECT_EQ(samples_of(req.timeseries(5)), (V{{1000, 2}, {2000, 2}}));
}

class RemoteWriterTest : public ::testing::Test {
 protected:
  void SetUp() override { gauge = registry.gauge_family({.name = "x_value", .help = "h", .group = "x"}).series({}); }

  RemoteWriteOptions options(std::vector<std::string> urls) {
    RemoteWriteOptions o;
    for (auto& u : urls) o.endpoints.push_back({.url = u});
    o.batch_deadline = std::chrono::milliseconds(20);
    o.min_backoff = std::chrono::milliseconds(10);
    o.max_backoff = std::chrono::milliseconds(40);
    o.request_timeout = std::chrono::milliseconds(2000);
    return o;
  }
  void push_value(RemoteWriter& w, double v, std::int64_t ts) {
    gauge.set(v);
    w.push(registry.collect(ts, only_x));
  }
  static std::vector<Flat> values(std::initializer_list<std::pair<long long, double>> pts) {
    std::vector<Flat> out;
    for (auto [ts, v] : pts) out.push_back({"x_value", ts, v});
    return out;
  }

  boost::asio::io_context io;
  Registry registry;
  Gauge gauge;
  std::vector<std::string> only_x{"x"};
  CurlMulti curl{io};
};

TEST_F(RemoteWriterTest, DeliversWithTheProtocolHeadersAndBearerToken) {
  FakeReceiver rx(io);
  std::string token_file = ::testing::TempDir() + "/rw_token";
  std::ofstream(token_file) << "s3cret\n";
  RemoteWriteOptions o = options({rx.url()});
  o.endpoints[0].bearer_token_file = token_file;
  RemoteWriter w(io, curl, registry, o);
  ASSERT_EQ(w.start(), "");
  push_value(w, 1.5, 1000);
  ASSERT_TRUE(run_until(io, [&] { return w.stats()[0].sent == 1; }));
  ASSERT_EQ(rx.requests.size(), 1u);
  const auto& h = rx.requests[0].headers;
  EXPECT_EQ(h.at("content-encoding"), "snappy");
  EXPECT_EQ(h.at("content-type"), "application/x-protobuf");
  EXPECT_EQ(h.at("x-prometheus-remote-write-version"), "0.1.0");
  EXPECT_TRUE(h.at("user-agent").starts_with("railyard/"));
  EXPECT_EQ(h.at("authorization"), "Bearer s3cret");
  EXPECT_EQ(rx.accepted(), values({{1000, 1.5}}));
  std::remove(token_file.c_str());
}

TEST_F(RemoteWriterTest, BasicAuthAndMissingSecretFiles) {
  FakeReceiver rx(io);
  std::string pw = ::testing::TempDir() + "/rw_pw";
  std::ofstream(pw) << "hunter2\n";
  RemoteWriteOptions o = options({rx.url()});
  o.endpoints[0].basic_auth_username = "rail";
  o.endpoints[0].basic_auth_password_file = pw;
  RemoteWriter w(io, curl, registry, o);
  ASSERT_EQ(w.start(), "");
  push_value(w, 1, 1000);
  ASSERT_TRUE(run_until(io, [&] { return rx.requests.size() == 1; }));
  EXPECT_EQ(rx.requests[0].headers.at("authorization"), "Basic cmFpbDpodW50ZXIy");  // rail:hunter2
  std::remove(pw.c_str());

  Registry other;
  RemoteWriteOptions bad = options({rx.url()});
  bad.endpoints[0].bearer_token_file = "/nonexistent/token";
  RemoteWriter w2(io, curl, other, bad);
  EXPECT_NE(w2.start().find("/nonexistent/token"), std::string::npos);
  RemoteWriteOptions scheme = options({"ftp://x/"});
  Registry third;
  RemoteWriter w3(io, curl, third, scheme);
  EXPECT_NE(w3.start().find("http://"), std::string::npos);
}

TEST_F(RemoteWriterTest, SplitsIntoBatchesInOrderToEveryEndpoint) {
  FakeReceiver a(io), b(io);
  RemoteWriteOptions o = options({a.url(), b.url()});
  o.max_samples_per_send = 3;
  RemoteWriter w(io, curl, registry, o);
  ASSERT_EQ(w.start(), "");
  for (int i = 1; i <= 10; ++i) push_value(w, i, i * 1000);
  ASSERT_TRUE(run_until(io, [&] { return w.stats()[0].sent == 10 && w.stats()[1].sent == 10; }));
  auto want = values({{1000, 1}, {2000, 2}, {3000, 3}, {4000, 4}, {5000, 5},
                      {6000, 6}, {7000, 7}, {8000, 8}, {9000, 9}, {10000, 10}});
  EXPECT_EQ(a.accepted(), want);
  EXPECT_EQ(b.accepted(), want);
  EXPECT_EQ(a.requests.size(), 4u);
}

TEST_F(RemoteWriterTest, RetriesServerErrorsWithBackoff) {
  FakeReceiver rx(io);
  int n = 0;
  rx.status = [&n](const auto&) { return ++n <= 2 ? 503 : 200; };
  RemoteWriter w(io, curl, registry, options({rx.url()}));
  ASSERT_EQ(w.start(), "");
  push_value(w, 7, 1000);
  ASSERT_TRUE(run_until(io, [&] { return w.stats()[0].sent == 1; }));
  EXPECT_EQ(w.stats()[0].failed_attempts, 2u);
  EXPECT_EQ(rx.requests.size(), 3u);
  EXPECT_EQ(rx.accepted(), values({{1000, 7}}));
  EXPECT_TRUE(w.stats()[0].healthy);
}

TEST_F(RemoteWriterTest, ClientErrorsAreDroppedAndCounted) {
  FakeReceiver rx(io);
  int n = 0;
  rx.status = [&n](const auto&) { return ++n == 1 ? 400 : 204; };
  RemoteWriteOptions o = options({rx.url()});
  o.max_samples_per_send = 1;
  RemoteWriter w(io, curl, registry, o);
  ASSERT_EQ(w.start(), "");
  push_value(w, 1, 1000);
  push_value(w, 2, 2000);
  ASSERT_TRUE(run_until(io, [&] { return w.stats()[0].sent == 1; }));
  EXPECT_EQ(w.stats()[0].rejected, 1u);
  EXPECT_EQ(w.stats()[0].failed_attempts, 0u);
  EXPECT_EQ(rx.requests.size(), 2u);
  EXPECT_EQ(rx.accepted(), values({{2000, 2}}));
  // The counters are series of the registry, exported like any other.
  Snapshot s = registry.collect(0);
  double rejected = -1;
  for (auto& f : s.families)
    if (f.family->name == "railyard_remote_write_rejected_samples") rejected = f.series[0].value;
  EXPECT_EQ(rejected, 1);
}

TEST_F(RemoteWriterTest, ConnectionErrorsAreRetriedUntilTheCollectorIsBack) {
  unsigned short port;
  {
    FakeReceiver probe(io);
    port = probe.port();
  }
  RemoteWriter w(io, curl, registry, options({"http://127.0.0.1:" + std::to_string(port) + "/api/v1/write"}));
  ASSERT_EQ(w.start(), "");
  push_value(w, 1, 1000);
  ASSERT_TRUE(run_until(io, [&] { return w.stats()[0].failed_attempts >= 2; }));
  EXPECT_FALSE(w.stats()[0].healthy);
  push_value(w, 2, 2000);
  FakeReceiver rx(io, port);
  ASSERT_TRUE(run_until(io, [&] { return w.stats()[0].sent == 2; }));
  EXPECT_EQ(rx.accepted(), values({{1000, 1}, {2000, 2}}));
}

TEST_F(RemoteWriterTest, OverflowDropsTheOldestAndCountsThem) {
  FakeReceiver rx(io);
  RemoteWriteOptions o = options({rx.url()});
  o.buffer_samples = 4;
  o.max_samples_per_send = 100;
  o.batch_deadline = std::chrono::milliseconds(50);
  RemoteWriter w(io, curl, registry, o);
  ASSERT_EQ(w.start(), "");
  for (int i = 1; i <= 10; ++i) push_value(w, i, i * 1000);  // no loop turn: nothing sent yet
  EXPECT_EQ(w.stats()[0].dropped, 6u);
  EXPECT_EQ(w.stats()[0].buffered, 4u);
  ASSERT_TRUE(run_until(io, [&] { return w.stats()[0].sent == 4; }));
  EXPECT_EQ(rx.accepted(), values({{7000, 7}, {8000, 8}, {9000, 9}, {10000, 10}}));
  Snapshot s = registry.collect(0);
  for (auto& f : s.families) {
    if (f.family->name == "railyard_remote_write_dropped_samples") {
      EXPECT_EQ(f.series[0].value, 6);
    }
  }
}

TEST_F(RemoteWriterTest, OverflowTakesFromABatchWaitingToBeRetried) {
  FakeReceiver rx(io);
  int n = 0;
  rx.status = [&n](const auto&) { return ++n == 1 ? 503 : 204; };
  RemoteWriteOptions o = options({rx.url()});
  o.buffer_samples = 4;
  o.min_backoff = std::chrono::milliseconds(300);
  RemoteWriter w(io, curl, registry, o);
  ASSERT_EQ(w.start(), "");
  for (int i = 1; i <= 3; ++i) push_value(w, i, i * 1000);
  ASSERT_TRUE(run_until(io, [&] { return w.stats()[0].failed_attempts == 1; }));
  for (int i = 4; i <= 6; ++i) push_value(w, i, i * 1000);  // 6 > 4: samples 1 and 2 go
  EXPECT_EQ(w.stats()[0].dropped, 2u);
  ASSERT_TRUE(run_until(io, [&] { return w.stats()[0].sent == 4; }));
  EXPECT_EQ(rx.accepted(), values({{3000, 3}, {4000, 4}, {5000, 5}, {6000, 6}}));
}

}  // namespace
}  // namespace railyard::telemetry
