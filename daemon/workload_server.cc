#include "daemon/workload_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <deque>

#include <fmt/format.h>

#include "client/framing.h"
#include "common/log.h"

namespace railyard::daemon {

namespace asio = boost::asio;
using stream = asio::local::stream_protocol;

namespace {
constexpr uint32_t kMaxRequestBytes = 1u << 20;
// A workload that stops reading its events is cut off rather than letting
// the daemon buffer without bound.
constexpr size_t kMaxQueuedEvents = 65536;

v1::WorkloadEvent reply_to(const v1::WorkloadRequest& request) {
  v1::WorkloadEvent event;
  event.set_protocol_version(1);
  event.set_request_id(request.request_id());
  return event;
}

v1::WorkloadEvent error_reply(const v1::WorkloadRequest& request, v1::WorkloadError error, std::string message) {
  v1::WorkloadEvent event = reply_to(request);
  event.set_error(error);
  event.set_message(std::move(message));
  return event;
}
}  // namespace

class WorkloadServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(WorkloadServer& server, stream::socket socket, uint64_t owner, PeerIdentity peer)
      : server_(server), socket_(std::move(socket)), owner_(owner), peer_(std::move(peer)) {}

  ~Session() {
    for (int fd : fds_) ::close(fd);
  }

  void start() { wait_readable(); }

  void send(const v1::WorkloadEvent& event) {
    if (closed_) return;
    if (queue_.size() >= kMaxQueuedEvents) {
      log::warning("workload '{}' (pid {}) does not read its events; {} queued, disconnecting it", name_,
                   peer_.cred.pid, queue_.size());
      return finish();
    }
    queue_.push_back(framing::encode(event));
    if (queue_.size() == 1) write_next();
  }

  void finish() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    socket_.close(ignored);
    server_.on_session_end(owner_);
  }

  const std::string& name() const { return name_; }

 private:
  void wait_readable() {
    auto self = shared_from_this();
    socket_.async_wait(stream::socket::wait_read, [self](boost::system::error_code ec) {
      if (ec) return self->finish();
      self->on_readable();
    });
  }

  // recvmsg by hand: asio's reads drop SCM_RIGHTS ancillary data.
  void on_readable() {
    char chunk[65536];
    while (true) {
      iovec iov{.iov_base = chunk, .iov_len = sizeof chunk};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      ssize_t n = ::recvmsg(socket_.native_handle(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n <= 0) return finish();
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
          int fd;
          std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
          fds_.push_back(fd);
        }
      }
      in_.append(chunk, static_cast<size_t>(n));
    }
    size_t used = 0;
    while (!closed_) {
      auto split = framing::split(std::string_view(in_).substr(used), kMaxRequestBytes);
      if (split.status == framing::SplitStatus::oversized) return malformed("request larger than 1 MiB");
      if (split.status != framing::SplitStatus::frame) break;
      used += split.consumed;
      v1::WorkloadRequest request;
      if (!request.ParseFromArray(split.body.data(), static_cast<int>(split.body.size())))
        return malformed("bytes that are not a railyard.v1.WorkloadRequest");
      handle(request);
    }
    in_.erase(0, used);
    if (!closed_) wait_readable();
  }

  void malformed(const std::string& what) {
    log::warning("workload '{}' (pid {} uid {}) sent {}; disconnecting it", name_, peer_.cred.pid, peer_.cred.uid,
                 what);
    finish();
  }

  void handle(const v1::WorkloadRequest& request) {
    if (request.protocol_version() != 1) {
      return send(error_reply(request, v1::WORKLOAD_ERROR_BAD_REQUEST,
                              fmt::format("workload protocol version {} is not supported; this railyardd speaks 1: "
                                          "use librailyard of the same release",
                                          request.protocol_version())));
    }
    switch (request.body_case()) {
      case v1::WorkloadRequest::kHello: {
        name_ = request.hello().name().empty() ? fmt::format("pid {}", peer_.cred.pid) : request.hello().name();
        log::info("workload '{}' connected (pid {} uid {})", name_, peer_.cred.pid, peer_.cred.uid);
        v1::WorkloadEvent event = reply_to(request);
        event.mutable_hello_reply()->set_host_name(server_.settings_.host_name);
        for (auto& p : server_.port_.peer_names()) event.mutable_hello_reply()->add_peers(std::move(p));
        send(event);
        // A level in force reaches a workload that connects later (not awaited: the policy moved on).
        if (server_.throttle_ && (server_.throttle_->level() != 0 || server_.throttle_->drain())) {
          v1::WorkloadEvent command;
          command.set_protocol_version(1);
          *command.mutable_throttle_command() = *server_.throttle_;
          send(command);
        }
        return;
      }
      case v1::WorkloadRequest::kRegisterDecode: {
        std::string error;
        server_.register_decode(owner_, name_, request.register_decode(), error);
        if (!error.empty()) return send(error_reply(request, v1::WORKLOAD_ERROR_BAD_REQUEST, error));
        v1::WorkloadEvent event = reply_to(request);
        event.mutable_done();
        return send(event);
      }
      case v1::WorkloadRequest::kReport:
        // Reports stream without answers; one from a workload that is not the decode workload is refused.
        if (!server_.report(owner_, request.report()))
          return send(error_reply(request, v1::WORKLOAD_ERROR_BAD_REQUEST,
                                  "this workload reports sequences but is not the host's decode workload: call "
                                  "register_decode first"));
        return;
      case v1::WorkloadRequest::kAck: {
        server_.on_ack(owner_, request.ack());
        v1::WorkloadEvent event = reply_to(request);
        event.mutable_done();
        return send(event);
      }
      case v1::WorkloadRequest::kRegisterRegion: return register_region(request);
      case v1::WorkloadRequest::kDeregisterRegion: {
        const uint32_t id = request.deregister_region().region_id();
        if (!server_.regions_.retire(id, owner_))
          return send(error_reply(request, v1::WORKLOAD_ERROR_UNKNOWN_REGION,
                                  fmt::format("region {} is not registered by this workload", id)));
        server_.region_owner_.erase(id);
        if (server_.decode_ && server_.decode_->owner == owner_ && server_.decode_->layout.region_id() == id)
          server_.drop_decode("deregistered its KV region");
        v1::WorkloadEvent event = reply_to(request);
        event.mutable_done();
        return send(event);
      }
      case v1::WorkloadRequest::kPostTransfer: {
        const auto posted = server_.port_.post(owner_, request.post_transfer());
        if (posted.error != v1::WORKLOAD_ERROR_NONE) return send(error_reply(request, posted.error, posted.message));
        v1::WorkloadEvent event = reply_to(request);
        event.mutable_transfer_posted()->set_transfer_id(posted.transfer_id);
        event.mutable_transfer_posted()->set_cookie(request.post_transfer().cookie());
        return send(event);
      }
      case v1::WorkloadRequest::BODY_NOT_SET:
        return send(error_reply(request, v1::WORKLOAD_ERROR_BAD_REQUEST,
                                "the request names no operation this railyardd knows; use librailyard of the same "
                                "release"));
    }
  }

  void register_region(const v1::WorkloadRequest& request) {
    const auto& r = request.register_region();
    if (fds_.empty()) {
      return send(error_reply(request, v1::WORKLOAD_ERROR_NO_FD,
                              "RegisterRegion must carry the region's memfd as SCM_RIGHTS; librailyard does this"));
    }
    const int fd = fds_.front();
    fds_.pop_front();
    auto result = server_.regions_.add(r.region_id(), fd, r.length(), owner_, r.name());
    if (result.error != RegionTable::Error::none) {
      const auto code = result.error == RegionTable::Error::id_in_use ? v1::WORKLOAD_ERROR_REGION_IN_USE
                                                                        : v1::WORKLOAD_ERROR_BAD_REQUEST;
      return send(error_reply(request, code, result.message));
    }
    server_.region_owner_[result.id] = owner_;
    log::info("workload '{}' registered region {} \"{}\" ({} bytes)", name_, result.id, r.name(), r.length());
    v1::WorkloadEvent event = reply_to(request);
    event.mutable_region_registered()->set_region_id(result.id);
    send(event);
  }

  void write_next() {
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(queue_.front()), [self](boost::system::error_code ec, size_t) {
      if (ec) return self->finish();
      self->queue_.pop_front();
      if (!self->queue_.empty()) self->write_next();
    });
  }

  WorkloadServer& server_;
  stream::socket socket_;
  const uint64_t owner_;
  PeerIdentity peer_;
  std::string name_;
  std::string in_;
  std::deque<int> fds_;  // received memfds, in stream order, for RegisterRegion frames
  std::deque<std::string> queue_;
  bool closed_ = false;
};

WorkloadServer::WorkloadServer(asio::io_context& io, RegionTable& regions, TransferPort port)
    : io_(io), regions_(regions), port_(std::move(port)) {}

WorkloadServer::~WorkloadServer() { close(); }

void WorkloadServer::open(const Settings& settings) {
  settings_ = settings;
  gid_ = resolve_group(settings.group, "workload");
  acceptor_ = bind_unix_listener(io_, "workload", settings.socket_path, settings.socket_mode, gid_);
  log::info("workload: listening on {}", settings.socket_path);
  accept();
}

void WorkloadServer::close() {
  close_unix_listener(acceptor_, settings_.socket_path);
  auto sessions = std::move(sessions_);
  sessions_.clear();
  for (auto& [owner, s] : sessions) s->finish();
}

void WorkloadServer::accept() {
  acceptor_->async_accept([this](boost::system::error_code ec, stream::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_) return;
    if (!ec) {
      PeerIdentity peer;
      if (!read_peer_identity(socket.native_handle(), peer)) {
        log::warning("workload: cannot identify a connecting peer ({})", std::strerror(errno));
      } else if (!peer_authorised(peer, gid_)) {
        log::warning("workload: refused pid {} uid {}: not root and not in the control group", peer.cred.pid,
                     peer.cred.uid);
      } else {
        const uint64_t owner = next_owner_++;
        auto session = std::make_shared<Session>(*this, std::move(socket), owner, peer);
        sessions_.emplace(owner, session);
        session->start();
      }
    }
    accept();
  });
}

void WorkloadServer::on_session_end(uint64_t owner) {
  auto it = sessions_.find(owner);
  if (it == sessions_.end()) return;
  log::info("workload '{}' disconnected; its regions and transfers are released", it->second->name());
  port_.abandon_owner(owner);
  regions_.retire_owner(owner);
  std::erase_if(region_owner_, [owner](const auto& entry) { return entry.second == owner; });
  sessions_.erase(it);
  if (awaiting_ack_.erase(owner) != 0) settle_throttle();
  if (decode_ && decode_->owner == owner) drop_decode("disconnected");
}

void WorkloadServer::drop_decode(const std::string& why) {
  log::info("decode workload '{}' {}: it no longer hosts decode sequences", decode_->name, why);
  decode_.reset();
  v1::Ack gone;
  gone.set_ok(false);
  gone.set_message("the decode workload " + why);
  std::vector<uint64_t> ids;
  for (const auto& [id, pending] : migration_commands_) ids.push_back(id);
  for (uint64_t id : ids) finish_migration_command(id, gone);
}

void WorkloadServer::register_decode(uint64_t owner, const std::string& name, const v1::DecodeWorkload& layout,
                                     std::string& error) {
  if (decode_ && decode_->owner != owner) {
    error = fmt::format("decode workload '{}' is already registered on this host; one per host", decode_->name);
    return;
  }
  auto region = region_owner_.find(layout.region_id());
  if (region == region_owner_.end() || region->second != owner) {
    error = fmt::format("region {} is not registered by this workload: register the KV region first",
                        layout.region_id());
    return;
  }
  const uint64_t length = regions_.lookup(layout.region_id()).length;
  if (layout.capacity() == 0 || layout.slot_bytes() == 0 ||
      layout.slot_bytes() > length / layout.capacity()) {
    error = fmt::format("{} slots of {} bytes do not fit region {} ({} bytes); capacity and slot_bytes must be "
                        "non-zero and their product at most the region's length",
                        layout.capacity(), layout.slot_bytes(), layout.region_id(), length);
    return;
  }
  decode_ = Decode{.owner = owner, .name = name, .layout = layout, .report = {}, .reported = {}};
  decode_->report.set_free_slots(layout.capacity());
  log::info("workload '{}' hosts decode sequences: {} slots of {} bytes in region {}", name, layout.capacity(),
            layout.slot_bytes(), layout.region_id());
}

bool WorkloadServer::report(uint64_t owner, const v1::SequenceReport& report) {
  if (!decode_ || decode_->owner != owner) return false;
  decode_->report = report;
  decode_->reported = std::chrono::steady_clock::now();
  return true;
}

void WorkloadServer::migration_command(v1::MigrationCommand command, std::chrono::milliseconds timeout,
                                       std::function<void(const v1::Ack&)> done) {
  if (!decode_) {
    v1::Ack absent;
    absent.set_ok(false);
    absent.set_message("no decode workload is registered on this host");
    return done(absent);
  }
  const uint64_t id = next_migration_command_++;
  command.set_command_id(id);
  auto timer = std::make_unique<asio::steady_timer>(io_, timeout);
  timer->async_wait([this, id, timeout](boost::system::error_code ec) {
    if (ec) return;
    v1::Ack late;
    late.set_ok(false);
    late.set_message(fmt::format("the decode workload did not answer within {} ms", timeout.count()));
    finish_migration_command(id, late);
  });
  migration_commands_.emplace(id, PendingCommand{.done = std::move(done), .timer = std::move(timer)});
  v1::WorkloadEvent event;
  event.set_protocol_version(1);
  *event.mutable_migration_command() = std::move(command);
  deliver(decode_->owner, event);
}

void WorkloadServer::finish_migration_command(uint64_t command_id, const v1::Ack& ack) {
  auto it = migration_commands_.find(command_id);
  if (it == migration_commands_.end()) return;
  auto done = std::move(it->second.done);
  it->second.timer->cancel();
  migration_commands_.erase(it);
  done(ack);
}

size_t WorkloadServer::throttle(const v1::ThrottleCommand& command) {
  throttle_ = command;
  awaiting_ack_.clear();
  throttle_ok_ = true;
  throttle_message_.clear();
  v1::WorkloadEvent event;
  event.set_protocol_version(1);
  *event.mutable_throttle_command() = command;
  // A send can end a session (a workload that stopped reading): iterate over a copy.
  std::vector<std::pair<uint64_t, std::shared_ptr<Session>>> sessions(sessions_.begin(), sessions_.end());
  for (const auto& [owner, session] : sessions) awaiting_ack_.insert(owner);
  for (const auto& [owner, session] : sessions) session->send(event);
  return awaiting_ack_.size();
}

void WorkloadServer::on_ack(uint64_t owner, const v1::Ack& ack) {
  if (migration_commands_.contains(ack.command_id())) {
    if (decode_ && decode_->owner == owner) finish_migration_command(ack.command_id(), ack);
    return;
  }
  if (!throttle_ || ack.command_id() != throttle_->command_id()) return;  // an older command
  if (awaiting_ack_.erase(owner) == 0) return;
  if (!ack.ok() && throttle_ok_) {
    throttle_ok_ = false;
    auto it = sessions_.find(owner);
    throttle_message_ = fmt::format("workload '{}': {}", it == sessions_.end() ? "?" : it->second->name(),
                                    ack.message().empty() ? "refused" : ack.message());
  }
  settle_throttle();
}

void WorkloadServer::settle_throttle() {
  if (!awaiting_ack_.empty() || !throttle_ || !throttle_result_) return;
  const uint64_t id = throttle_->command_id();
  throttle_result_(id, throttle_ok_, throttle_message_);
}

void WorkloadServer::deliver(uint64_t owner, const v1::WorkloadEvent& event) {
  auto it = sessions_.find(owner);
  if (it != sessions_.end()) it->second->send(event);
}

std::optional<uint64_t> WorkloadServer::owner_of_region(uint32_t id) const {
  auto it = region_owner_.find(id);
  if (it == region_owner_.end()) return std::nullopt;
  return it->second;
}

}  // namespace railyard::daemon
