#include "tools/bmc-sim/server.h"

#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include <array>
#include <charconv>
#include <functional>

#include "common/log.h"

namespace railyard::bmcsim {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

constexpr std::string_view kSessions = "/redfish/v1/SessionService/Sessions";
constexpr std::string_view kBaseRegistry = "Base.1.16.0";

std::string percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      int v = 0;
      auto [p, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 3, v, 16);
      if (ec == std::errc{} && p == in.data() + i + 3) {
        out.push_back(static_cast<char>(v));
        i += 2;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return out;
}

// "$expand=.($levels=1)" (or "*", "~") among the query parameters.
bool wants_expand(std::string_view query) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (param.starts_with("$expand=") && param.size() > 8) {
      const char what = param[8];
      if (what == '.' || what == '*' || what == '~') return true;
    }
  }
  return false;
}

std::string mangle(std::string body, Malformation how) {
  switch (how) {
    case Malformation::truncated: return body.substr(0, body.size() / 2);
    case Malformation::garbage:
      return "<html><head><title>500</title></head><body>lighttpd: backend crashed</body></html>\n";
    case Malformation::empty: return {};
  }
  return body;
}

std::string chunk(std::string_view data) { return fmt::format("{:x}\r\n{}\r\n", data.size(), data); }

}  // namespace

// --- connections ----------------------------------------------------------------

class Server::Tracked {
 public:
  virtual ~Tracked() = default;
  virtual void close() = 0;
};

template <class Stream>
class Server::Connection : public Server::Tracked,
                           public Server::Sink,
                           public std::enable_shared_from_this<Connection<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  template <class... Args>
  Connection(Server& server, Args&&... args)
      : server_(server), stream_(std::forward<Args>(args)...), timer_(stream_.get_executor()) {}

  void start() {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(10));
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) {
                                  log::debug("bmc-sim: TLS handshake failed: {}", ec.message());
                                  self->close();
                                  return;
                                }
                                self->do_read();
                              });
    } else {
      do_read();
    }
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream_).close();
  }

  void push(std::shared_ptr<const std::string> frame) override {
    if (closed_) return;
    if (queue_.size() > 4096) {  // a client that stopped reading
      close();
      return;
    }
    queue_.push_back(std::make_shared<const std::string>(chunk(*frame)));
    if (!writing_) write_next();
  }

 private:
  void do_read() {
    if (closed_) return;
    parser_.emplace();
    parser_->header_limit(16 * 1024);
    parser_->body_limit(64 * 1024);
    beast::get_lowest_layer(stream_).expires_after(server_.options_.idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec || closed_) {
      close();
      return;
    }
    request_ = parser_->release();
    reply_ = server_.handle(request_);
    if (reply_.delay.count() > 0) {
      beast::get_lowest_layer(stream_).expires_never();
      timer_.expires_after(reply_.delay);
      timer_.async_wait([self = this->shared_from_this()](beast::error_code e) {
        if (!e) self->act();
      });
      return;
    }
    act();
  }

  void act() {
    switch (reply_.action) {
      case Reply::Action::respond: {
        response_ = std::make_shared<Response>(std::move(reply_.response));
        beast::get_lowest_layer(stream_).expires_after(server_.options_.idle_timeout);
        http::async_write(stream_, *response_,
                          [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                            self->on_write(ec);
                          });
        break;
      }
      case Reply::Action::hang:
        // Accepted, read, never answered: hold the connection until the client gives up.
        beast::get_lowest_layer(stream_).expires_never();
        drain();
        break;
      case Reply::Action::sse: start_sse(); break;
    }
  }

  void on_write(beast::error_code ec) {
    if (ec || !response_->keep_alive()) {
      close();
      return;
    }
    do_read();
  }

  void drain() {
    stream_.async_read_some(asio::buffer(scratch_),
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) {
                                self->close();
                              } else {
                                self->drain();
                              }
                            });
  }

  void start_sse() {
    beast::get_lowest_layer(stream_).expires_never();
    writing_ = true;
    auto header = std::make_shared<const std::string>(
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/event-stream\r\n"
        "Cache-Control: no-cache\r\n"
        "Connection: keep-alive\r\n"
        "Transfer-Encoding: chunked\r\n"
        "Server: bmc-sim\r\n\r\n");
    asio::async_write(stream_, asio::buffer(*header),
                      [self = this->shared_from_this(), header](beast::error_code ec, std::size_t) {
                        self->writing_ = false;
                        if (ec) {
                          self->close();
                          return;
                        }
                        self->server_.subscribe(self, self->reply_.last_event_id);
                        self->push(std::make_shared<const std::string>(": bmc-sim event stream\nretry: 1000\n\n"));
                        self->drain();
                      });
  }

  void write_next() {
    if (queue_.empty() || closed_) {
      writing_ = false;
      return;
    }
    writing_ = true;
    auto frame = queue_.front();
    queue_.pop_front();
    asio::async_write(stream_, asio::buffer(*frame),
                      [self = this->shared_from_this(), frame](beast::error_code ec, std::size_t) {
                        if (ec) {
                          self->close();
                          return;
                        }
                        self->write_next();
                      });
  }

  Server& server_;
  Stream stream_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Request request_;
  Reply reply_;
  std::shared_ptr<Response> response_;
  std::array<char, 512> scratch_{};
  std::deque<std::shared_ptr<const std::string>> queue_;
  bool writing_ = false;
  bool closed_ = false;
};

// --- server -----------------------------------------------------------------------

Server::Server(asio::io_context& io, const Source& source, const Timeline& timeline, ServerOptions options)
    : io_(io),
      source_(source),
      timeline_(timeline),
      options_(std::move(options)),
      acceptor_(io),
      ticker_(io),
      sessions_(options_.max_sessions, options_.session_timeout) {}

Server::~Server() { stop(); }

boost::system::error_code Server::start(std::string& detail) {
  boost::system::error_code ec;
  if (!options_.tls_cert.empty() || !options_.tls_key.empty()) {
    ssl_.emplace(asio::ssl::context::tls_server);
    ssl_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                      asio::ssl::context::no_tlsv1_1);
    ssl_->use_certificate_chain_file(options_.tls_cert, ec);
    if (ec) {
      detail = fmt::format("--tls-cert {}: {}", options_.tls_cert, ec.message());
      return ec;
    }
    ssl_->use_private_key_file(options_.tls_key, asio::ssl::context::pem, ec);
    if (ec) {
      detail = fmt::format("--tls-key {}: {}", options_.tls_key, ec.message());
      return ec;
    }
  }
  const auto address = asio::ip::make_address(options_.address, ec);
  if (ec) {
    detail = fmt::format("--listen address '{}': {}", options_.address, ec.message());
    return ec;
  }
  const tcp::endpoint endpoint(address, options_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    detail = fmt::format("{}:{}: {}", options_.address, options_.port, ec.message());
    return ec;
  }
  started_ = std::chrono::steady_clock::now();
  last_keepalive_ = started_;
  monitor_.update(source_.samples(0.0), iso8601_now());
  do_accept();
  ticker_.expires_after(options_.tick);
  ticker_.async_wait([this](beast::error_code e) {
    if (!e) on_tick();
  });
  return {};
}

void Server::stop() {
  if (stopped_) return;
  stopped_ = true;
  beast::error_code ignored;
  acceptor_.close(ignored);
  ticker_.cancel();
  for (auto& w : connections_) {
    if (auto c = w.lock()) c->close();
  }
  connections_.clear();
}

tcp::endpoint Server::local_endpoint() const {
  beast::error_code ec;
  return acceptor_.local_endpoint(ec);
}

double Server::scenario_time() const {
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started_;
  return elapsed.count() * options_.speed;
}

void Server::do_accept() {
  acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || stopped_) return;
      log::warning("bmc-sim: accept: {}", ec.message());
    } else {
      std::erase_if(connections_, [](const std::weak_ptr<Tracked>& w) { return w.expired(); });
      if (ssl_) {
        auto c = std::make_shared<Connection<beast::ssl_stream<beast::tcp_stream>>>(*this, std::move(socket), *ssl_);
        connections_.push_back(c);
        c->start();
      } else {
        auto c = std::make_shared<Connection<beast::tcp_stream>>(*this, std::move(socket));
        connections_.push_back(c);
        c->start();
      }
    }
    do_accept();
  });
}

void Server::subscribe(const std::shared_ptr<Sink>& sink, std::uint64_t last_event_id) {
  std::erase_if(sinks_, [](const std::weak_ptr<Sink>& w) { return w.expired(); });
  sinks_.push_back(sink);
  if (last_event_id == 0) return;
  for (const auto& [id, frame] : history_) {
    if (id > last_event_id) sink->push(frame);
  }
}

void Server::broadcast(const std::shared_ptr<const std::string>& frame) {
  for (auto it = sinks_.begin(); it != sinks_.end();) {
    if (auto s = it->lock()) {
      s->push(frame);
      ++it;
    } else {
      it = sinks_.erase(it);
    }
  }
}

void Server::on_tick() {
  if (stopped_) return;
  const double t = scenario_time();
  auto records = monitor_.update(source_.samples(t), iso8601_now());
  if (!records.empty()) {
    const auto id = next_event_id_++;
    for (const auto& r : records) {
      log::info("bmc-sim: t={:.1f}s event {} {}", t, json::value_to<std::string>(r.at("MessageId")),
                json::value_to<std::string>(r.at("OriginOfCondition").at("@odata.id")));
    }
    auto frame = std::make_shared<const std::string>(
        fmt::format("id: {}\nevent: message\ndata: {}\n\n", id, event_payload(id, std::move(records))));
    history_.emplace_back(id, frame);
    while (history_.size() > 256) history_.pop_front();
    broadcast(frame);
    last_keepalive_ = std::chrono::steady_clock::now();
  }
  const auto now = std::chrono::steady_clock::now();
  if (now - last_keepalive_ >= options_.sse_keepalive) {
    static const auto keepalive = std::make_shared<const std::string>(": keep-alive\n\n");
    broadcast(keepalive);
    last_keepalive_ = now;
  }
  ticker_.expires_after(options_.tick);
  ticker_.async_wait([this](beast::error_code e) {
    if (!e) on_tick();
  });
}

// --- request handling -----------------------------------------------------------

Response Server::json_response(unsigned status, const json::value& body, const Request& req) const {
  Response res{static_cast<http::status>(status), req.version()};
  res.set(http::field::server, "bmc-sim");
  res.set(http::field::content_type, "application/json");
  res.set("OData-Version", "4.0");
  res.keep_alive(req.keep_alive());
  res.body() = render(body);
  if (status == 200) {
    res.set(http::field::etag, fmt::format("W/\"{:016x}\"", std::hash<std::string>{}(res.body())));
  }
  res.prepare_payload();
  return res;
}

Response Server::error_response(unsigned status, std::string_view key, std::string_view message,
                                const Request& req) const {
  const auto id = fmt::format("{}.{}", kBaseRegistry, key);
  json::object info{{"@odata.type", "#Message.v1_1_1.Message"},
                    {"MessageId", id},
                    {"Message", message},
                    {"MessageSeverity", "Critical"},
                    {"Severity", "Critical"},
                    {"Resolution", "None."}};
  json::object err{{"code", id}, {"message", message}};
  err["@Message.ExtendedInfo"] = json::array{std::move(info)};
  return json_response(status, json::object{{"error", std::move(err)}}, req);
}

std::optional<std::string> Server::authenticate(const Request& req) {
  if (!options_.auth) return std::string("anonymous");
  const auto now = std::chrono::steady_clock::now();
  if (auto token = req.find("X-Auth-Token"); token != req.end()) {
    const auto* s = sessions_.use(std::string_view(token->value().data(), token->value().size()), now);
    if (s == nullptr) return std::nullopt;
    return s->user;
  }
  if (auto auth = req.find(http::field::authorization); auth != req.end()) {
    return check_basic(std::string_view(auth->value().data(), auth->value().size()), options_.credentials);
  }
  return std::nullopt;
}

Reply Server::handle(const Request& req) {
  ++requests_;
  const double t = scenario_time();
  const std::string_view target(req.target().data(), req.target().size());
  const auto q = target.find('?');
  const std::string path = canonical_path(percent_decode(target.substr(0, q)));
  const std::string query = q == std::string_view::npos ? std::string() : percent_decode(target.substr(q + 1));
  Reply reply;
  std::string_view outcome;
  if (path.starts_with("/sim/")) {
    if (path == "/sim/state") {
      reply.response = json_response(200, sim_state(t), req);
    } else {
      reply.response = error_response(404, "ResourceMissingAtURI", fmt::format("No simulator resource at {}.", path), req);
    }
  } else if (const Fault* f = timeline_.fault(path, t)) {
    switch (f->kind) {
      case FaultKind::hang:
        reply.action = Reply::Action::hang;
        outcome = "hang";
        break;
      case FaultKind::unavailable:
        reply.response = error_response(503, "ServiceTemporarilyUnavailable",
                                        fmt::format("The service is temporarily unavailable. Retry in {} seconds.",
                                                    f->retry_after),
                                        req);
        reply.response.set(http::field::retry_after, std::to_string(f->retry_after));
        break;
      case FaultKind::http_error:
        reply.response = error_response(static_cast<unsigned>(f->status), "InternalError",
                                        "The request failed due to an internal service error.", req);
        break;
      case FaultKind::malformed:
        reply = handle_normal(req, path, query, t);
        if (reply.action == Reply::Action::respond && reply.response.result() == http::status::ok) {
          reply.response.body() = mangle(std::move(reply.response.body()), f->malformation);
          reply.response.erase(http::field::etag);
          reply.response.prepare_payload();
          outcome = "malformed";
        }
        break;
      case FaultKind::slow: break;  // never returned by fault()
    }
  } else {
    reply = handle_normal(req, path, query, t);
  }
  if (!path.starts_with("/sim/")) reply.delay = std::chrono::milliseconds(timeline_.delay_ms(path, t));
  if (log::threshold() >= log::Level::debug) {
    log::debug("bmc-sim: t={:.1f}s {} {} -> {}{}{}", t, std::string_view(req.method_string().data(), req.method_string().size()),
               target,
               reply.action == Reply::Action::sse    ? std::string("SSE stream")
               : reply.action == Reply::Action::hang ? std::string("hang")
                                                      : std::to_string(reply.response.result_int()),
               outcome.empty() || outcome == "hang" ? "" : fmt::format(" ({})", outcome),
               reply.delay.count() > 0 ? fmt::format(" after {} ms", reply.delay.count()) : "");
  }
  return reply;
}

Reply Server::handle_normal(const Request& req, std::string_view path, std::string_view query, double t) {
  Reply reply;
  const bool get = req.method() == http::verb::get || req.method() == http::verb::head;
  if (path == "/redfish") {
    reply.response = json_response(200, json::object{{"v1", "/redfish/v1/"}}, req);
    return reply;
  }
  const bool open = path == "/redfish/v1" || (path == kSessions && req.method() == http::verb::post);
  if (!open && !authenticate(req)) {
    reply.response = error_response(401, "NoValidSession",
                                    "There is no valid session established with the implementation.", req);
    reply.response.set(http::field::www_authenticate, "Basic realm=\"bmc-sim\"");
    return reply;
  }
  if (path == "/redfish/v1/SessionService" || path.starts_with("/redfish/v1/SessionService/")) {
    return handle_sessions(req, path);
  }
  if (path == canonical_path(options_.sse_uri)) {
    if (req.method() != http::verb::get) {
      reply.response = error_response(405, "OperationNotAllowed", "Only GET opens the event stream.", req);
      reply.response.set(http::field::allow, "GET");
      return reply;
    }
    reply.action = Reply::Action::sse;
    if (auto last = req.find("Last-Event-ID"); last != req.end()) {
      std::uint64_t id = 0;
      const auto v = last->value();
      if (std::from_chars(v.data(), v.data() + v.size(), id).ec == std::errc{}) reply.last_event_id = id;
    }
    return reply;
  }
  if (!get) {
    reply.response = error_response(405, "OperationNotAllowed", "The simulated resources are read-only.", req);
    reply.response.set(http::field::allow, "GET");
    return reply;
  }
  auto doc = source_.get(path, t);
  if (!doc) {
    reply.response = error_response(404, "ResourceNotFound", fmt::format("The requested resource {} was not found.", path), req);
    return reply;
  }
  if (options_.expand && wants_expand(query)) expand_members(source_, *doc, t);
  reply.response = json_response(200, *doc, req);
  return reply;
}

Reply Server::handle_sessions(const Request& req, std::string_view path) {
  Reply reply;
  const auto now = std::chrono::steady_clock::now();
  auto session_doc = [](const SessionStore::Session& s) {
    return json::object{{"@odata.type", "#Session.v1_6_0.Session"},
                        {"@odata.id", fmt::format("{}/{}", kSessions, s.id)},
                        {"Id", s.id},
                        {"Name", "User Session"},
                        {"UserName", s.user},
                        {"Password", nullptr}};
  };
  if (path == "/redfish/v1/SessionService") {
    if (req.method() != http::verb::get) {
      reply.response = error_response(405, "OperationNotAllowed", "SessionService is read-only here.", req);
      return reply;
    }
    json::object o{{"@odata.type", "#SessionService.v1_1_8.SessionService"},
                   {"@odata.id", "/redfish/v1/SessionService"},
                   {"Id", "SessionService"},
                   {"Name", "Session Service"},
                   {"ServiceEnabled", true},
                   {"SessionTimeout", options_.session_timeout.count()}};
    o["Status"] = json::object{{"State", "Enabled"}, {"Health", "OK"}};
    o["Sessions"] = json::object{{"@odata.id", kSessions}};
    reply.response = json_response(200, o, req);
    return reply;
  }
  if (path == kSessions) {
    if (req.method() == http::verb::post) {
      boost::system::error_code ec;
      const auto body = json::parse(req.body(), ec);
      const auto* o = !ec ? body.if_object() : nullptr;
      const auto* user = o != nullptr ? o->if_contains("UserName") : nullptr;
      const auto* pass = o != nullptr ? o->if_contains("Password") : nullptr;
      if (user == nullptr || pass == nullptr || !user->is_string() || !pass->is_string()) {
        reply.response = error_response(400, "MalformedJSON",
                                         "The request body must be {\"UserName\": ..., \"Password\": ...}.", req);
        return reply;
      }
      SessionStore::LoginError error = SessionStore::LoginError::none;
      Credentials any;
      const bool accept_any = !options_.auth;
      if (accept_any) any.emplace(std::string(user->as_string()), std::string(pass->as_string()));
      auto s = sessions_.login(std::string_view(user->as_string()), std::string_view(pass->as_string()),
                               accept_any ? any : options_.credentials, now, error);
      if (!s) {
        if (error == SessionStore::LoginError::exhausted) {
          reply.response = error_response(503, "SessionLimitExceeded",
                                           "The session establishment failed due to the number of simultaneous "
                                           "sessions exceeding the limit of the implementation.",
                                           req);
        } else {
          reply.response = error_response(401, "ResourceAtUriUnauthorized",
                                           "While accessing the resource at SessionService/Sessions, the service "
                                           "received an authorization error: bad user name or password.",
                                           req);
        }
        return reply;
      }
      reply.response = json_response(201, session_doc(*s), req);
      reply.response.set("X-Auth-Token", s->token);
      reply.response.set(http::field::location, fmt::format("{}/{}", kSessions, s->id));
      log::info("bmc-sim: session {} opened for {}", s->id, s->user);
      return reply;
    }
    if (req.method() != http::verb::get) {
      reply.response = error_response(405, "OperationNotAllowed", "Use POST to log in, GET to list.", req);
      return reply;
    }
    json::array arr;
    for (const auto& s : sessions_.list(now)) arr.push_back(json::object{{"@odata.id", fmt::format("{}/{}", kSessions, s.id)}});
    json::object o{{"@odata.type", "#SessionCollection.SessionCollection"},
                   {"@odata.id", kSessions},
                   {"Name", "Session Collection"},
                   {"Members@odata.count", arr.size()}};
    o["Members"] = std::move(arr);
    reply.response = json_response(200, o, req);
    return reply;
  }
  if (path.starts_with(kSessions) && path.size() > kSessions.size() + 1 && path[kSessions.size()] == '/') {
    const auto id = path.substr(kSessions.size() + 1);
    if (req.method() == http::verb::delete_) {
      if (!sessions_.remove(id)) {
        reply.response = error_response(404, "ResourceNotFound", fmt::format("No session {}.", id), req);
        return reply;
      }
      log::info("bmc-sim: session {} deleted", id);
      reply.response = Response{http::status::no_content, req.version()};
      reply.response.set(http::field::server, "bmc-sim");
      reply.response.set(http::field::content_type, "application/json");
      reply.response.keep_alive(req.keep_alive());
      reply.response.prepare_payload();
      return reply;
    }
    const auto* s = sessions_.find(id, now);
    if (s == nullptr || req.method() != http::verb::get) {
      reply.response = s == nullptr ? error_response(404, "ResourceNotFound", fmt::format("No session {}.", id), req)
                                    : error_response(405, "OperationNotAllowed", "GET or DELETE a session.", req);
      return reply;
    }
    reply.response = json_response(200, session_doc(*s), req);
    return reply;
  }
  reply.response = error_response(404, "ResourceNotFound", fmt::format("The requested resource {} was not found.", path), req);
  return reply;
}

json::value Server::sim_state(double t) const {
  json::object o{{"time", t}, {"speed", options_.speed}, {"requests", requests_},
                 {"events", next_event_id_ - 1}, {"tls", ssl_.has_value()}};
  json::array faults;
  for (const auto& f : timeline_.scenario().faults) {
    if (f.active(t)) faults.push_back(json::string(to_string(f.kind)));
  }
  o["active_faults"] = std::move(faults);
  const auto samples = source_.samples(t);
  json::object readings;
  for (const auto& s : samples.sensors) readings[s.uri] = s.value;
  o["readings"] = std::move(readings);
  json::object leaks;
  for (const auto& l : samples.leaks) leaks[l.uri + "#" + l.name] = l.state;
  o["leaks"] = std::move(leaks);
  return o;
}

}  // namespace railyard::bmcsim
