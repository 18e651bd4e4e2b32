#include "telemetry/http_exporter.h"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <optional>

#include "common/build_info.h"
#include "common/log.h"
#include "telemetry/prometheus_text.h"

namespace railyard::telemetry {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

namespace {
std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

class HttpExporter::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(HttpExporter& owner, tcp::socket socket)
      : owner_(owner),
        alive_(owner.alive_),
        stream_(std::move(socket)),
        buffer_(owner.options_.max_request_bytes),
        idle_timeout_(owner.options_.idle_timeout),
        max_request_bytes_(owner.options_.max_request_bytes) {}

  void start() { do_read(); }
  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

 private:
  void do_read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(max_request_bytes_));
    parser_->body_limit(0);  // scrapes carry no body
    stream_.expires_after(idle_timeout_);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec || alive_.expired()) {
      // end_of_stream: the client closed; timeout: idle; anything else: a bad
      // or oversized request. No answer is owed in any case.
      close();
      return;
    }
    const auto& req = parser_->get();
    response_ = {};
    response_.version(req.version());
    response_.keep_alive(req.keep_alive());
    response_.set(http::field::server, "railyard");
    std::string_view target(req.target().data(), req.target().size());
    if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
    if (target != "/metrics") {
      response_.result(http::status::not_found);
      response_.set(http::field::content_type, "text/plain; charset=utf-8");
      response_.body() = "not found: try /metrics\n";
    } else if (req.method() != http::verb::get && req.method() != http::verb::head) {
      response_.result(http::status::method_not_allowed);
      response_.set(http::field::allow, "GET, HEAD");
      response_.set(http::field::content_type, "text/plain; charset=utf-8");
      response_.body() = "method not allowed\n";
    } else {
      ++owner_.scrapes_;
      response_.result(http::status::ok);
      response_.set(http::field::content_type, kTextContentType);
      response_.body() = owner_.render();
    }
    response_.prepare_payload();
    if (req.method() == http::verb::head) response_.body().clear();  // Content-Length stays
    http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code wec, std::size_t) {
      self->on_write(wec);
    });
  }

  void on_write(beast::error_code ec) {
    if (ec || !response_.keep_alive() || alive_.expired()) {
      close();
      return;
    }
    do_read();
  }

  HttpExporter& owner_;
  std::weak_ptr<int> alive_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  http::response<http::string_body> response_;
  std::chrono::milliseconds idle_timeout_;
  std::size_t max_request_bytes_;
};

HttpExporter::HttpExporter(boost::asio::io_context& io, const Registry& registry, HttpExporterOptions options,
                           Clock clock)
    : registry_(registry),
      options_(std::move(options)),
      clock_(clock ? std::move(clock) : Clock(&wall_ms)),
      acceptor_(io),
      accept_retry_(io),
      alive_(std::make_shared<int>(0)) {}

HttpExporter::~HttpExporter() { stop(); }

boost::system::error_code HttpExporter::start() {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(options_.address, ec);
  if (ec) return ec;
  tcp::endpoint endpoint(address, options_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return ec;
  acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(boost::asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    return ec;
  }
  log::info("telemetry: serving /metrics on {}:{}", local_endpoint().address().to_string(), local_endpoint().port());
  do_accept();
  return {};
}

void HttpExporter::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  accept_retry_.cancel();
  for (auto& weak : sessions_) {
    if (auto s = weak.lock()) s->close();
  }
  sessions_.clear();
}

tcp::endpoint HttpExporter::local_endpoint() const {
  boost::system::error_code ec;
  return acceptor_.local_endpoint(ec);
}

std::string HttpExporter::render() const { return render_text(registry_.collect(clock_())); }

void HttpExporter::do_accept() {
  acceptor_.async_accept(
      [this, alive = std::weak_ptr<int>(alive_)](const boost::system::error_code& ec, tcp::socket socket) {
        if (alive.expired() || ec == boost::asio::error::operation_aborted) return;
        on_accept(ec, std::move(socket));
      });
}

void HttpExporter::on_accept(const boost::system::error_code& ec, tcp::socket socket) {
  if (!acceptor_.is_open()) return;
  if (ec) {
    // Out of descriptors or memory: log, and try again a little later rather
    // than spin on the error or stop serving.
    log::warning("telemetry: accept on /metrics endpoint: {}", ec.message());
    accept_retry_.expires_after(std::chrono::milliseconds(100));
    accept_retry_.async_wait([this, alive = std::weak_ptr<int>(alive_)](const boost::system::error_code& wec) {
      if (!wec && !alive.expired() && acceptor_.is_open()) do_accept();
    });
    return;
  } else {
    sessions_.remove_if([](const std::weak_ptr<Session>& w) { return w.expired(); });
    if (sessions_.size() >= options_.max_connections) {
      boost::system::error_code ignored;
      socket.close(ignored);  // over the cap: refuse by closing at once
    } else {
      auto session = std::make_shared<Session>(*this, std::move(socket));
      sessions_.push_back(session);
      session->start();
    }
  }
  do_accept();
}

}  // namespace railyard::telemetry
