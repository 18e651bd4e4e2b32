#include "telemetry/http_exporter.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <thread>

#include "fake_receiver.h"
#include "telemetry/curl_asio.h"
#include "telemetry/prometheus_text.h"

namespace railyard::telemetry {
namespace {

using testing::run_until;

struct Fetch {
  CurlEasy easy = make_curl_easy();
  std::string body;
  std::string content_type;
  long code = 0;
  bool done = false;
  CURLcode rc = CURLE_OK;
};

std::size_t append_body(char* p, std::size_t s, std::size_t n, void* u) {
  static_cast<std::string*>(u)->append(p, s * n);
  return s * n;
}

void start_fetch(CurlMulti& multi, Fetch& f, const std::string& url, const char* method = "GET") {
  curl_easy_setopt(f.easy.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(f.easy.get(), CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(f.easy.get(), CURLOPT_WRITEFUNCTION, &append_body);
  curl_easy_setopt(f.easy.get(), CURLOPT_WRITEDATA, &f.body);
  ASSERT_TRUE(multi.submit(f.easy.get(), [&f](CURLcode rc) {
    f.rc = rc;
    f.done = true;
    curl_easy_getinfo(f.easy.get(), CURLINFO_RESPONSE_CODE, &f.code);
    char* ct = nullptr;
    curl_easy_getinfo(f.easy.get(), CURLINFO_CONTENT_TYPE, &ct);
    if (ct != nullptr) f.content_type = ct;
  }));
}

class HttpExporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry.counter_family({.name = "x_requests", .help = "Requests.", .labels = {"peer"}}).series({"p\"1"}).inc(3);
    ASSERT_FALSE(exporter.start());
    base = "http://127.0.0.1:" + std::to_string(exporter.local_endpoint().port());
  }
  boost::asio::io_context io;
  Registry registry;
  HttpExporter exporter{io, registry, HttpExporterOptions{.port = 0, .max_connections = 4, .max_request_bytes = 1024},
                        [] { return std::int64_t{0}; }};
  CurlMulti multi{io};
  std::string base;
};

TEST_F(HttpExporterTest, ServesMetricsWithKeepAlive) {
  for (int i = 0; i < 3; ++i) {
    Fetch f;
    start_fetch(multi, f, base + "/metrics");
    ASSERT_TRUE(run_until(io, [&] { return f.done; }));
    EXPECT_EQ(f.rc, CURLE_OK);
    EXPECT_EQ(f.code, 200);
    EXPECT_EQ(f.content_type, kTextContentType);
    EXPECT_EQ(f.body, "# HELP x_requests_total Requests.\n# TYPE x_requests_total counter\n"
                      "x_requests_total{peer=\"p\\\"1\"} 3\n");
  }
  EXPECT_EQ(exporter.scrapes(), 3u);
  EXPECT_EQ(exporter.connections(), 1u);  // one connection, reused
}

TEST_F(HttpExporterTest, NotFoundMethodNotAllowedAndHead) {
  Fetch a, b, c, d;
  start_fetch(multi, a, base + "/");
  start_fetch(multi, b, base + "/metrics", "POST");
  start_fetch(multi, c, base + "/metrics?x=1");
  curl_easy_setopt(d.easy.get(), CURLOPT_NOBODY, 1L);
  start_fetch(multi, d, base + "/metrics", "HEAD");
  ASSERT_TRUE(run_until(io, [&] { return a.done && b.done && c.done && d.done; }));
  EXPECT_EQ(a.code, 404);
  EXPECT_EQ(b.code, 405);
  EXPECT_EQ(c.code, 200);
  EXPECT_EQ(d.rc, CURLE_OK);
  EXPECT_EQ(d.code, 200);
  EXPECT_EQ(d.body, "");
  curl_off_t length = -1;
  curl_easy_getinfo(d.easy.get(), CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
  EXPECT_EQ(length, static_cast<curl_off_t>(exporter.render().size()));
}

// A client sending an oversized request is cut off; others are unaffected.
TEST_F(HttpExporterTest, OversizedRequestIsClosed) {
  std::atomic<bool> closed{false};
  std::thread client([&] {
    boost::asio::io_context cio;
    boost::asio::ip::tcp::socket s(cio);
    s.connect(exporter.local_endpoint());
    std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4096, 'a') + "\r\n\r\n";
    boost::system::error_code ec;
    boost::asio::write(s, boost::asio::buffer(req), ec);
    char buf[256];
    std::size_t n = s.read_some(boost::asio::buffer(buf), ec);
    closed = ec && n == 0;
  });
  ASSERT_TRUE(run_until(io, [&] { return closed.load(); }));
  client.join();
  Fetch f;
  start_fetch(multi, f, base + "/metrics");
  ASSERT_TRUE(run_until(io, [&] { return f.done; }));
  EXPECT_EQ(f.code, 200);
}

TEST_F(HttpExporterTest, RefusesAnAddressInUse) {
  HttpExporter second(io, registry, HttpExporterOptions{.port = exporter.local_endpoint().port()});
  EXPECT_TRUE(second.start());
  HttpExporter bad(io, registry, HttpExporterOptions{.address = "not an address", .port = 0});
  EXPECT_TRUE(bad.start());
}

TEST(CurlMulti, ManyTransfersAndCancel) {
  boost::asio::io_context io;
  Registry registry;
  HttpExporter exporter(io, registry, HttpExporterOptions{.port = 0, .max_connections = 64});
  ASSERT_FALSE(exporter.start());
  std::string url = "http://127.0.0.1:" + std::to_string(exporter.local_endpoint().port()) + "/metrics";
  CurlMulti multi(io);
  std::vector<std::unique_ptr<Fetch>> fetches;
  for (int i = 0; i < 20; ++i) {
    fetches.push_back(std::make_unique<Fetch>());
    start_fetch(multi, *fetches.back(), url);
  }
  multi.cancel(fetches[0]->easy.get());
  EXPECT_EQ(multi.active(), 19u);
  ASSERT_TRUE(run_until(io, [&] { return multi.active() == 0; }));
  EXPECT_FALSE(fetches[0]->done);
  for (int i = 1; i < 20; ++i) EXPECT_EQ(fetches[i]->code, 200);
  // A connection refused ends with an error, not a hang.
  Fetch refused;
  exporter.stop();
  start_fetch(multi, refused, url);
  ASSERT_TRUE(run_until(io, [&] { return refused.done; }));
  EXPECT_EQ(refused.rc, CURLE_COULDNT_CONNECT);
}

}  // namespace
}  // namespace railyard::telemetry
