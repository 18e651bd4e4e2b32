#pragma once
// A remote-write receiver for tests: a Beast server on the test's io_context
// that decodes every request (snappy + prometheus.WriteRequest), keeps it
// with its headers, and answers with the status `status` picks.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "telemetry/remote_write.pb.h"

namespace railyard::telemetry::testing {

struct ReceivedRequest {
  std::map<std::string, std::string> headers;  // lower-case names
  prometheus::WriteRequest request;
  bool decoded = false;
  int status = 0;
};

class FakeReceiver {
 public:
  explicit FakeReceiver(boost::asio::io_context& io, unsigned short port = 0);
  ~FakeReceiver();
  std::string url() const;
  unsigned short port() const { return port_; }
  void close();

  /// Picks the answer to each request (default 204).
  std::function<int(const ReceivedRequest&)> status = [](const ReceivedRequest&) { return 204; };
  std::vector<ReceivedRequest> requests;

  /// Every accepted (2xx) sample as (series "name{a=b,...}", timestamp, value).
  struct Flat {
    std::string series;
    long long ts;
    double value;
    bool operator==(const Flat&) const = default;
  };
  std::vector<Flat> accepted() const;

 private:
  class Session;
  void do_accept();
  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  unsigned short port_;
  std::shared_ptr<int> alive_;
};

/// Runs `io` until `done()` or `timeout`; true when done.
bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
               std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace railyard::telemetry::testing
