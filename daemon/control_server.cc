#include "daemon/control_server.h"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "client/framing.h"
#include "common/log.h"
#include "daemon/unix_socket.h"

namespace railyard::daemon {

namespace asio = boost::asio;
using stream = asio::local::stream_protocol;

namespace {

// Connections beyond this are closed at once: the control socket serves
// operators and tools, never thousands of clients.
constexpr size_t kMaxSessions = 128;
// A watch subscriber whose update has waited this long to be written is gone.
constexpr auto kStalledSubscriber = std::chrono::seconds(30);

}  // namespace

class ControlServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ControlServer& server, stream::socket socket, PeerIdentity peer, bool read_only)
      : server_(server), socket_(std::move(socket)), peer_(std::move(peer)), read_only_(read_only) {}

  void start() { read_header(); }

  void refuse(std::string reason) {
    out_ = framing::encode(ControlService::permission_denied(reason));
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(out_), [self](boost::system::error_code, size_t) { self->finish(); });
  }

  void close() {
    boost::system::error_code ignored;
    if (watch_timer_) watch_timer_->cancel();
    socket_.shutdown(stream::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

 private:
  void read_header() {
    auto self = shared_from_this();
    asio::async_read(socket_, asio::buffer(header_),
                     [self](boost::system::error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(boost::system::error_code ec) {
    if (ec) return finish();  // the peer hung up: normal end of a session
    const uint32_t length = framing::decode_length(header_.data());
    if (length > server_.settings_.max_message_bytes) {
      return malformed(fmt::format("message of {} bytes exceeds control.max_message_bytes = {}", length,
                                   server_.settings_.max_message_bytes));
    }
    body_.resize(length);
    auto self = shared_from_this();
    asio::async_read(socket_, asio::buffer(body_), [self](boost::system::error_code e, size_t) {
      if (e) return self->malformed("connection closed in the middle of a message");
      self->on_body();
    });
  }

  void on_body() {
    v1::Request request;
    if (!decode_request(body_, request)) return malformed("message is not a railyard.v1.Request");
    if (log::threshold() >= log::Level::debug) {
      const auto* field = request.GetDescriptor()->FindFieldByNumber(static_cast<int>(request.body_case()));
      log::debug("control: {} from pid {} uid {}", field ? field->name() : "empty request", peer_.cred.pid,
                 peer_.cred.uid);
    }
    if (read_only_ && ControlService::is_action(request)) {
      log::notice("control: refused an action ({}) from pid {} uid {}: it is in control.read_group '{}' only",
                  ControlService::request_name(request), peer_.cred.pid, peer_.cred.uid, server_.settings_.read_group);
      return answer(ControlService::permission_denied(fmt::format(
          "permission denied: uid {} may read (status, rails, peers, transfers, bmc, policy, workload, watch) but "
          "not {}: that takes root or group '{}' (control.group)",
          peer_.cred.uid, ControlService::request_name(request), server_.settings_.group)));
    }
    if (request.has_watch() && request.protocol_version() == v1::PROTOCOL_VERSION_CURRENT) return start_watch(request);
    // One request at a time per connection: the next is read once this one
    // is answered, which may be later (railctl send).
    std::weak_ptr<Session> weak = shared_from_this();
    server_.service_.handle(request, [weak](v1::Response response) {
      if (auto self = weak.lock()) self->answer(response);
    });
  }

  // Writes one answer, then reads the next request.
  void answer(const v1::Response& response) {
    out_ = framing::encode(response);
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(out_), [self](boost::system::error_code ec, size_t) {
      if (ec) return self->finish();
      self->read_header();
    });
  }

  // A watch stream: an update every interval until the client closes the
  // connection. While a write is pending, ticks are skipped (and counted), so a
  // slow reader costs the daemon one buffered update, never a backlog.
  void start_watch(const v1::Request& request) {
    watch_ = request;
    watch_timer_.emplace(socket_.get_executor());
    // Anything the client sends, or its closing, ends the stream.
    auto self = shared_from_this();
    socket_.async_wait(stream::socket::wait_read, [self](boost::system::error_code) { self->finish(); });
    watch_tick();
  }

  void watch_tick() {
    if (!socket_.is_open()) return;
    const auto now = std::chrono::steady_clock::now();
    if (writing_) {
      ++skipped_;
      if (now - write_started_ > kStalledSubscriber) {
        log::warning("control: watch subscriber pid {} has not read for {} s; closing it", peer_.cred.pid,
                     std::chrono::duration_cast<std::chrono::seconds>(kStalledSubscriber).count());
        return finish();
      }
    } else {
      out_ = framing::encode(server_.service_.stream_update(*watch_, skipped_));
      writing_ = true;
      write_started_ = now;
      auto self = shared_from_this();
      asio::async_write(socket_, asio::buffer(out_), [self](boost::system::error_code ec, size_t) {
        self->writing_ = false;
        if (ec) self->finish();
      });
    }
    watch_timer_->expires_after(ControlService::watch_interval(watch_->watch()));
    auto self = shared_from_this();
    watch_timer_->async_wait([self](boost::system::error_code ec) {
      if (!ec) self->watch_tick();
    });
  }

  void malformed(const std::string& reason) {
    ++server_.counters_.malformed;
    log::warning("control: closing connection from pid {} uid {}: {}", peer_.cred.pid, peer_.cred.uid, reason);
    finish();
  }

  void finish() {
    close();
    server_.sessions_.erase(shared_from_this());
  }

  ControlServer& server_;
  stream::socket socket_;
  PeerIdentity peer_;
  const bool read_only_;  // in control.read_group only: actions are refused
  std::array<unsigned char, framing::kHeaderBytes> header_{};
  std::string body_;
  std::string out_;
  std::optional<v1::Request> watch_;
  std::optional<asio::steady_timer> watch_timer_;
  bool writing_ = false;
  std::chrono::steady_clock::time_point write_started_;
  uint64_t skipped_ = 0;
};

ControlServer::ControlServer(asio::io_context& io, const ControlService& service) : io_(io), service_(service) {}

ControlServer::~ControlServer() { close(); }

void ControlServer::open(const Settings& settings) {
  gid_ = resolve_group(settings.group, "control");
  read_gid_ = resolve_group(settings.read_group, "control", "control.read_group");
  acceptor_ = bind_unix_listener(io_, "control", settings.socket_path, settings.socket_mode, gid_);
  settings_ = settings;
  log::info("control: listening on {} (mode {:04o}, group {})", settings_.socket_path, settings_.socket_mode,
            gid_ ? settings_.group : std::string("none: root only"));
  accept();
}

void ControlServer::apply(const Settings& settings) {
  std::optional<gid_t> gid = resolve_group(settings.group, "control");
  std::optional<gid_t> read_gid = resolve_group(settings.read_group, "control", "control.read_group");
  if (settings.socket_path != settings_.socket_path) {
    auto fresh = bind_unix_listener(io_, "control", settings.socket_path, settings.socket_mode, gid);
    close_unix_listener(acceptor_, settings_.socket_path);
    acceptor_ = std::move(fresh);
    log::notice("control: moved from {} to {}", settings_.socket_path, settings.socket_path);
  } else {
    set_socket_access("control", settings.socket_path, settings.socket_mode, gid);
  }
  // Only once nothing above has thrown: a refused change leaves the server as it was.
  const bool moved = settings.socket_path != settings_.socket_path;
  settings_ = settings;
  gid_ = gid;
  read_gid_ = read_gid;
  if (moved) accept();
}

void ControlServer::accept() {
  acceptor_->async_accept([this, acceptor = acceptor_.get()](boost::system::error_code ec, stream::socket socket) {
    if (acceptor != acceptor_.get()) return;  // a stale accept from before a move or close
    if (ec == asio::error::operation_aborted) return;
    if (!ec) on_accept(std::move(socket));
    accept();
  });
}

void ControlServer::on_accept(stream::socket socket) {
  PeerIdentity peer;
  if (!read_peer_identity(socket.native_handle(), peer)) {
    log::warning("control: cannot identify a connecting peer ({}); connection closed", std::strerror(errno));
    return;
  }
  if (sessions_.size() >= kMaxSessions) {
    log::warning("control: {} connections already open; refusing pid {} uid {}", sessions_.size(), peer.cred.pid,
                 peer.cred.uid);
    return;
  }
  ++counters_.accepted;
  const bool full = peer_authorised(peer, gid_);
  const bool read_only = !full && read_gid_ && peer_authorised(peer, read_gid_);
  auto session = std::make_shared<Session>(*this, std::move(socket), peer, read_only);
  sessions_.insert(session);
  if (!full && !read_only) {
    ++counters_.refused;
    std::string who = gid_ ? fmt::format("root or members of group '{}'", settings_.group) : "root";
    if (read_gid_) who += fmt::format(" (and, to read, of group '{}')", settings_.read_group);
    log::warning("control: refused pid {} uid {} gid {}: only {} may use {}", peer.cred.pid, peer.cred.uid,
                 peer.cred.gid, who, settings_.socket_path);
    session->refuse(fmt::format("permission denied: uid {} may not use {}; only {} may (ask an administrator, or "
                                "see control.group in railyard.toml)",
                                peer.cred.uid, settings_.socket_path, who));
    return;
  }
  session->start();
}

void ControlServer::close() {
  close_unix_listener(acceptor_, settings_.socket_path);
  auto sessions = std::move(sessions_);
  sessions_.clear();
  for (const auto& s : sessions) s->close();
}

}  // namespace railyard::daemon
