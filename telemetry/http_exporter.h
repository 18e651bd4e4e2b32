#pragma once
// The Prometheus scrape endpoint: a Boost.Beast HTTP/1.1 server on the
// control plane's io_context. GET (or HEAD) /metrics renders the registry in
// the text format; any other path is 404, any other method on /metrics 405.
// Keep-alive, bounded request size, an idle timeout and a connection cap;
// every operation is asynchronous, so a slow or hostile client never blocks
// the loop.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>

#include "telemetry/registry.h"

namespace railyard::telemetry {

struct HttpExporterOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 9469;  ///< 0: any free port (see local_endpoint())
  std::size_t max_connections = 16;
  std::size_t max_request_bytes = 8192;  ///< request line + headers
  std::chrono::milliseconds idle_timeout{30000};
};

class HttpExporter {
 public:
  /// Wall-clock milliseconds for snapshots; replaceable in tests.
  using Clock = std::function<std::int64_t()>;

  HttpExporter(boost::asio::io_context& io, const Registry& registry, HttpExporterOptions options, Clock clock = {});
  ~HttpExporter();
  HttpExporter(const HttpExporter&) = delete;
  HttpExporter& operator=(const HttpExporter&) = delete;

  /// Binds and listens; the error (address in use, bad address...) otherwise.
  boost::system::error_code start();
  /// Closes the listener and every connection.
  void stop();
  boost::asio::ip::tcp::endpoint local_endpoint() const;

  std::uint64_t scrapes() const { return scrapes_; }
  std::size_t connections() const { return sessions_.size(); }

  /// The body GET /metrics answers with, rendered now.
  std::string render() const;

 private:
  class Session;
  void do_accept();
  void on_accept(const boost::system::error_code& ec, boost::asio::ip::tcp::socket socket);

  const Registry& registry_;
  HttpExporterOptions options_;
  Clock clock_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_retry_;
  std::list<std::weak_ptr<Session>> sessions_;
  std::uint64_t scrapes_ = 0;
  std::shared_ptr<int> alive_;
};

}  // namespace railyard::telemetry
