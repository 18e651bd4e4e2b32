#pragma once
// The simulated BMC's web server: Boost.Beast over Asio on one thread, plain
// HTTP or HTTPS. Redfish sessions and Basic auth, $expand, the scenario's
// HTTP faults (errors, 503 + Retry-After, hangs, malformed bodies, delays)
// and an SSE stream of Redfish events raised when the scenario moves a
// reading across a threshold or a leak detector changes state.
//
// Not faulted, no auth: GET /sim/state (scenario time, active faults,
// readings), for tests and rack-sim.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <string>

#include "tools/bmc-sim/auth.h"
#include "tools/bmc-sim/events.h"
#include "tools/bmc-sim/scenario.h"
#include "tools/bmc-sim/source.h"

namespace railyard::bmcsim {

struct ServerOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;  ///< 0: any free port (local_endpoint())
  /// HTTPS when both are set (PEM files).
  std::string tls_cert;
  std::string tls_key;
  /// Honour $expand on collections.
  bool expand = false;
  /// When false every request is accepted without credentials.
  bool auth = true;
  Credentials credentials;
  std::size_t max_sessions = 8;
  std::chrono::seconds session_timeout{300};
  /// Scenario seconds per wall-clock second.
  double speed = 1.0;
  std::string sse_uri = "/redfish/v1/EventService/SSE";
  std::chrono::milliseconds sse_keepalive{15000};
  /// How often readings are compared for events.
  std::chrono::milliseconds tick{100};
  std::chrono::seconds idle_timeout{120};
};

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

/// What to do with one request.
struct Reply {
  enum class Action { respond, hang, sse };
  Action action = Action::respond;
  Response response;
  std::chrono::milliseconds delay{0};
  std::uint64_t last_event_id = 0;  ///< sse: replay events after this one
};

class Server {
 public:
  Server(boost::asio::io_context& io, const Source& source, const Timeline& timeline, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Loads TLS material, binds, listens, starts the event ticker.
  boost::system::error_code start(std::string& detail);
  void stop();
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  bool tls() const { return ssl_.has_value(); }
  /// Scenario time now: wall seconds since start() times the speed.
  double scenario_time() const;

  /// The whole request handling, without I/O (the connection performs it).
  Reply handle(const Request& request);

  /// SSE subscriber: a connection that receives frames.
  class Sink {
   public:
    virtual ~Sink() = default;
    virtual void push(std::shared_ptr<const std::string> frame) = 0;
  };
  void subscribe(const std::shared_ptr<Sink>& sink, std::uint64_t last_event_id);

 private:
  template <class Stream>
  class Connection;
  class Tracked;

  void do_accept();
  void on_tick();
  /// Queues one SSE frame, shared, on every open stream.
  void broadcast(const std::shared_ptr<const std::string>& frame);

  Response json_response(unsigned status, const boost::json::value& body, const Request& req) const;
  Response error_response(unsigned status, std::string_view key, std::string_view message,
                          const Request& req) const;
  Reply handle_normal(const Request& req, std::string_view path, std::string_view query, double t);
  Reply handle_sessions(const Request& req, std::string_view path);
  std::optional<std::string> authenticate(const Request& req);
  boost::json::value sim_state(double t) const;

  boost::asio::io_context& io_;
  const Source& source_;
  const Timeline& timeline_;
  ServerOptions options_;
  std::optional<boost::asio::ssl::context> ssl_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer ticker_;
  std::chrono::steady_clock::time_point started_{};
  std::chrono::steady_clock::time_point last_keepalive_{};
  SessionStore sessions_;
  EventMonitor monitor_;
  std::uint64_t next_event_id_ = 1;
  std::deque<std::pair<std::uint64_t, std::shared_ptr<const std::string>>> history_;
  std::list<std::weak_ptr<Sink>> sinks_;
  std::list<std::weak_ptr<Tracked>> connections_;
  std::uint64_t requests_ = 0;
  bool stopped_ = false;
};

}  // namespace railyard::bmcsim
