#include "daemon/control_server.h"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "client/framing.h"
#include "common/log.h"

namespace railyard::daemon {

namespace asio = boost::asio;
using stream = asio::local::stream_protocol;

namespace {

// Connections beyond this are closed at once: the control socket serves
// operators and tools, never thousands of clients.
constexpr size_t kMaxSessions = 128;

std::optional<gid_t> resolve_group(const std::string& name) {
  if (name.empty()) return std::nullopt;
  std::vector<char> buffer(16384);
  group entry{};
  group* found = nullptr;
  if (::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) {
    log::warning(
        "control: group '{}' (control.group) does not exist; only root may use the control socket until it "
        "does (create it with systemd-sysusers or groupadd, then reload)",
        name);
    return std::nullopt;
  }
  return found->gr_gid;
}

struct PeerIdentity {
  ucred cred{};
  std::vector<gid_t> groups;
};

bool read_identity(int fd, PeerIdentity& out) {
  socklen_t len = sizeof out.cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &out.cred, &len) != 0) return false;
  out.groups.resize(32);
  len = static_cast<socklen_t>(out.groups.size() * sizeof(gid_t));
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, out.groups.data(), &len) != 0) {
    if (errno != ERANGE) return false;
    out.groups.resize(len / sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, out.groups.data(), &len) != 0) return false;
  }
  out.groups.resize(len / sizeof(gid_t));
  return true;
}

bool authorised(const PeerIdentity& peer, std::optional<gid_t> gid) {
  if (peer.cred.uid == 0) return true;
  if (!gid) return false;
  return peer.cred.gid == *gid || std::find(peer.groups.begin(), peer.groups.end(), *gid) != peer.groups.end();
}

}  // namespace

class ControlServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ControlServer& server, stream::socket socket, PeerIdentity peer)
      : server_(server), socket_(std::move(socket)), peer_(std::move(peer)) {}

  void start() { read_header(); }

  void refuse(std::string reason) {
    out_ = framing::encode(ControlService::permission_denied(reason));
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(out_), [self](boost::system::error_code, size_t) { self->finish(); });
  }

  void close() {
    boost::system::error_code ignored;
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
    out_ = framing::encode(server_.service_.handle(request));
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(out_), [self](boost::system::error_code ec, size_t) {
      if (ec) return self->finish();
      self->read_header();
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
  std::array<unsigned char, framing::kHeaderBytes> header_{};
  std::string body_;
  std::string out_;
};

ControlServer::ControlServer(asio::io_context& io, const ControlService& service) : io_(io), service_(service) {}

ControlServer::~ControlServer() { close(); }

std::unique_ptr<ControlServer::Acceptor> ControlServer::bind(const Settings& settings, std::optional<gid_t> gid) {
  const std::string& path = settings.socket_path;
  std::error_code fs_error;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), fs_error);
  if (fs_error)
    throw std::runtime_error(fmt::format("control: cannot create the directory of {}: {}; set control.socket to "
                                         "a writable place",
                                         path, fs_error.message()));

  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      throw std::runtime_error(fmt::format(
          "control: {} exists and is not a socket; remove it or set control.socket elsewhere", path));
    stream::socket probe(io_);
    boost::system::error_code ec;
    probe.connect(stream::endpoint(path), ec);
    if (!ec)
      throw std::runtime_error(fmt::format(
          "control: another process already serves {} (is railyardd running?); stop it or set control.socket",
          path));
    // Left behind by a daemon that did not stop cleanly.
    ::unlink(path.c_str());
  }

  auto acceptor = std::make_unique<Acceptor>(io_);
  boost::system::error_code ec;
  acceptor->open(stream(), ec);
  // Create the file with no access at all, then open it up: no window in which
  // anyone else could connect.
  const mode_t old_umask = ::umask(0777);
  if (!ec) acceptor->bind(stream::endpoint(path), ec);
  ::umask(old_umask);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error(fmt::format("control: cannot listen on {}: {}; check control.socket", path,
                                         ec.message()));
  if (gid && ::chown(path.c_str(), static_cast<uid_t>(-1), *gid) != 0)
    log::warning("control: cannot give {} to group {}: {}", path, settings.group, std::strerror(errno));
  if (::chmod(path.c_str(), settings.socket_mode) != 0)
    throw std::runtime_error(fmt::format("control: cannot chmod {} to {:04o}: {}", path, settings.socket_mode,
                                         std::strerror(errno)));
  return acceptor;
}

void ControlServer::open(const Settings& settings) {
  gid_ = resolve_group(settings.group);
  acceptor_ = bind(settings, gid_);
  settings_ = settings;
  log::info("control: listening on {} (mode {:04o}, group {})", settings_.socket_path, settings_.socket_mode,
            gid_ ? settings_.group : std::string("none: root only"));
  accept();
}

void ControlServer::apply(const Settings& settings) {
  std::optional<gid_t> gid = resolve_group(settings.group);
  if (settings.socket_path != settings_.socket_path) {
    auto fresh = bind(settings, gid);
    boost::system::error_code ignored;
    acceptor_->close(ignored);
    ::unlink(settings_.socket_path.c_str());
    acceptor_ = std::move(fresh);
    log::notice("control: moved from {} to {}", settings_.socket_path, settings.socket_path);
    settings_ = settings;
    gid_ = gid;
    accept();
    return;
  }
  if (gid && ::chown(settings.socket_path.c_str(), static_cast<uid_t>(-1), *gid) != 0)
    throw std::runtime_error(fmt::format("control: cannot give {} to group {}: {}", settings.socket_path,
                                         settings.group, std::strerror(errno)));
  if (::chmod(settings.socket_path.c_str(), settings.socket_mode) != 0)
    throw std::runtime_error(fmt::format("control: cannot chmod {} to {:04o}: {}", settings.socket_path,
                                         settings.socket_mode, std::strerror(errno)));
  settings_ = settings;
  gid_ = gid;
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
  if (!read_identity(socket.native_handle(), peer)) {
    log::warning("control: cannot identify a connecting peer ({}); connection closed", std::strerror(errno));
    return;
  }
  if (sessions_.size() >= kMaxSessions) {
    log::warning("control: {} connections already open; refusing pid {} uid {}", sessions_.size(), peer.cred.pid,
                 peer.cred.uid);
    return;
  }
  ++counters_.accepted;
  auto session = std::make_shared<Session>(*this, std::move(socket), peer);
  sessions_.insert(session);
  if (!authorised(peer, gid_)) {
    ++counters_.refused;
    const std::string who = gid_ ? fmt::format("root or members of group '{}'", settings_.group) : "root";
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
  if (acceptor_) {
    boost::system::error_code ignored;
    acceptor_->close(ignored);
    acceptor_.reset();
    ::unlink(settings_.socket_path.c_str());
  }
  auto sessions = std::move(sessions_);
  sessions_.clear();
  for (const auto& s : sessions) s->close();
}

}  // namespace railyard::daemon
