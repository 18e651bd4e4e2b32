#include "fake_receiver.h"

#include <snappy.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>

namespace railyard::telemetry::testing {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

class FakeReceiver::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(FakeReceiver& owner, tcp::socket s) : owner_(owner), alive_(owner.alive_), stream_(std::move(s)) {}
  void read() {
    req_ = {};
    http::async_read(stream_, buf_, req_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec || self->alive_.expired()) return;
      self->answer();
    });
  }

 private:
  void answer() {
    ReceivedRequest r;
    for (const auto& f : req_) {
      std::string name(f.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = std::string(f.value());
    }
    std::string raw;
    if (snappy::Uncompress(req_.body().data(), req_.body().size(), &raw)) r.decoded = r.request.ParseFromString(raw);
    r.status = owner_.status(r);
    owner_.requests.push_back(r);
    res_ = {};
    res_.version(req_.version());
    res_.keep_alive(req_.keep_alive());
    res_.result(static_cast<http::status>(r.status));
    if (r.status >= 400) res_.body() = "fake receiver says no";
    res_.prepare_payload();
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (!ec && !self->alive_.expired()) self->read();
    });
  }
  FakeReceiver& owner_;
  std::weak_ptr<int> alive_;
  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
};

FakeReceiver::FakeReceiver(boost::asio::io_context& io, unsigned short port)
    : io_(io), acceptor_(io), alive_(std::make_shared<int>(0)) {
  tcp::endpoint ep(boost::asio::ip::make_address("127.0.0.1"), port);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen();
  port_ = acceptor_.local_endpoint().port();
  do_accept();
}

FakeReceiver::~FakeReceiver() { close(); }

void FakeReceiver::close() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  alive_ = std::make_shared<int>(0);  // orphan running sessions
}

std::string FakeReceiver::url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api/v1/write"; }

void FakeReceiver::do_accept() {
  acceptor_.async_accept([this, alive = std::weak_ptr<int>(alive_)](boost::system::error_code ec, tcp::socket s) {
    if (ec || alive.expired()) return;
    std::make_shared<Session>(*this, std::move(s))->read();
    do_accept();
  });
}

std::vector<FakeReceiver::Flat> FakeReceiver::accepted() const {
  std::vector<Flat> out;
  for (const auto& r : requests) {
    if (r.status / 100 != 2) continue;
    for (const auto& ts : r.request.timeseries()) {
      std::string name;
      std::string rest;
      for (const auto& l : ts.labels()) {
        if (l.name() == "__name__") {
          name = l.value();
        } else {
          rest += (rest.empty() ? "" : ",") + l.name() + "=" + l.value();
        }
      }
      std::string series = rest.empty() ? name : name + "{" + rest + "}";
      for (const auto& s : ts.samples()) out.push_back({series, static_cast<long long>(s.timestamp()), s.value()});
    }
  }
  return out;
}

bool run_until(boost::asio::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace railyard::telemetry::testing
