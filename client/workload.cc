#include "client/workload.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "client/framing.h"
#include "railyard/v1/workload.pb.h"

namespace railyard {

namespace {
constexpr uint32_t kMaxEventBytes = 1u << 20;

// Errors cross from the protocol to the API by value: keep them equal.
static_assert(static_cast<int>(Error::bad_request) == v1::WORKLOAD_ERROR_BAD_REQUEST);
static_assert(static_cast<int>(Error::unknown_peer) == v1::WORKLOAD_ERROR_UNKNOWN_PEER);
static_assert(static_cast<int>(Error::unknown_region) == v1::WORKLOAD_ERROR_UNKNOWN_REGION);
static_assert(static_cast<int>(Error::out_of_range) == v1::WORKLOAD_ERROR_OUT_OF_RANGE);
static_assert(static_cast<int>(Error::region_in_use) == v1::WORKLOAD_ERROR_REGION_IN_USE);
static_assert(static_cast<int>(Error::no_fd) == v1::WORKLOAD_ERROR_NO_FD);
static_assert(static_cast<int>(Error::peer_unreachable) == v1::WORKLOAD_ERROR_PEER_UNREACHABLE);
static_assert(static_cast<int>(Error::remote_rejected) == v1::WORKLOAD_ERROR_REMOTE_REJECTED);
static_assert(static_cast<int>(Error::checksum) == v1::WORKLOAD_ERROR_CHECKSUM);
static_assert(static_cast<int>(Error::busy) == v1::WORKLOAD_ERROR_BUSY);
static_assert(static_cast<int>(Error::remote_stale) == v1::WORKLOAD_ERROR_REMOTE_STALE);
static_assert(static_cast<int>(Error::remote_conflict) == v1::WORKLOAD_ERROR_REMOTE_CONFLICT);

std::string sys_error(const char* what) { return fmt::format("{}: {}", what, std::strerror(errno)); }

SequenceState from_proto(const v1::SequenceState& s) {
  return SequenceState{.id = s.id(),
                       .slot = s.slot(),
                       .kv_bytes = s.kv_bytes(),
                       .tokens = s.tokens(),
                       .last_token = s.last_token(),
                       .kv_crc32c = s.kv_crc32c()};
}

void to_proto(const SequenceState& s, v1::SequenceState* out) {
  out->set_id(s.id);
  out->set_slot(s.slot);
  out->set_kv_bytes(s.kv_bytes);
  out->set_tokens(s.tokens);
  out->set_last_token(s.last_token);
  out->set_kv_crc32c(s.kv_crc32c);
}

std::optional<MigrationCommand::Kind> from_proto(v1::MigrationCommand::Kind kind) {
  switch (kind) {
    case v1::MigrationCommand::KIND_RESERVE: return MigrationCommand::Kind::reserve;
    case v1::MigrationCommand::KIND_PAUSE: return MigrationCommand::Kind::pause;
    case v1::MigrationCommand::KIND_RESUME: return MigrationCommand::Kind::resume;
    case v1::MigrationCommand::KIND_RELEASE: return MigrationCommand::Kind::release;
    case v1::MigrationCommand::KIND_ABORT: return MigrationCommand::Kind::abort;
    default: return std::nullopt;
  }
}
}  // namespace

const char* kind_name(MigrationCommand::Kind kind) {
  switch (kind) {
    case MigrationCommand::Kind::reserve: return "reserve";
    case MigrationCommand::Kind::pause: return "pause";
    case MigrationCommand::Kind::resume: return "resume";
    case MigrationCommand::Kind::release: return "release";
    case MigrationCommand::Kind::abort: return "abort";
  }
  return "unknown";
}

const char* error_name(Error e) {
  switch (e) {
    case Error::none: return "none";
    case Error::bad_request: return "bad_request";
    case Error::unknown_peer: return "unknown_peer";
    case Error::unknown_region: return "unknown_region";
    case Error::out_of_range: return "out_of_range";
    case Error::region_in_use: return "region_in_use";
    case Error::no_fd: return "no_fd";
    case Error::peer_unreachable: return "peer_unreachable";
    case Error::remote_rejected: return "remote_rejected";
    case Error::checksum: return "checksum";
    case Error::busy: return "busy";
    case Error::remote_stale: return "remote_stale";
    case Error::remote_conflict: return "remote_conflict";
    case Error::daemon_gone: return "daemon_gone";
    case Error::system: return "system";
  }
  return "unknown";
}

struct Workload::State {
  int fd = -1;
  int event_fd = -1;
  std::string path;
  std::string host_name;
  std::thread reader;

  std::mutex send_mu;  // one sender at a time
  std::mutex mu;       // everything below
  std::condition_variable replied;
  bool connected = true;
  uint64_t next_request_id = 1;
  std::set<uint64_t> awaited;  // requests whose caller waits for the reply
  std::map<uint64_t, v1::WorkloadEvent> replies;
  // The daemon answers a report only to refuse it (the workload is not the
  // host's decode workload); the next report() returns that.
  std::optional<std::pair<Error, std::string>> report_refusal;
  std::deque<Completion> completions;
  std::deque<Inbound> inbound;
  std::deque<ThrottleCommand> commands;
  std::deque<MigrationCommand> migrations;
  std::map<uint32_t, Region> regions;

  // Pops the oldest of one queue behind event_fd; the fd stays readable
  // while any queue holds something.
  template <class T>
  std::optional<T> take(std::deque<T>& queue) {
    std::lock_guard lock(mu);
    uint64_t drained;
    (void)!::read(event_fd, &drained, sizeof drained);
    if (queue.empty()) return std::nullopt;
    T item = std::move(queue.front());
    queue.pop_front();
    if (queued()) signal();
    return item;
  }

  ~State() {
    if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
    if (reader.joinable()) reader.join();
    for (auto& [id, r] : regions) ::munmap(r.data, r.length);
    if (fd >= 0) ::close(fd);
    if (event_fd >= 0) ::close(event_fd);
  }

  bool queued() const {
    return !completions.empty() || !inbound.empty() || !commands.empty() || !migrations.empty();
  }

  void signal() {
    const uint64_t one = 1;
    (void)!::write(event_fd, &one, sizeof one);
  }

  void read_loop() {
    std::string buffer;
    char chunk[65536];
    while (true) {
      ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || !consume(buffer.append(chunk, static_cast<size_t>(n)))) break;
    }
    std::lock_guard lock(mu);
    connected = false;
    replied.notify_all();
    signal();
  }

  // Dispatches every whole event in `buffer` and drops its bytes; false when
  // the stream is not railyardd's (the connection is then useless).
  bool consume(std::string& buffer) {
    size_t used = 0;
    while (true) {
      auto split = framing::split(std::string_view(buffer).substr(used), kMaxEventBytes);
      if (split.status == framing::SplitStatus::oversized) return false;
      if (split.status != framing::SplitStatus::frame) break;
      used += split.consumed;
      v1::WorkloadEvent event;
      if (!event.ParseFromArray(split.body.data(), static_cast<int>(split.body.size()))) return false;
      dispatch(std::move(event));
    }
    buffer.erase(0, used);
    return true;
  }

  void dispatch(v1::WorkloadEvent event) {
    std::unique_lock lock(mu);
    if (event.has_transfer_completed()) {
      const auto& c = event.transfer_completed();
      completions.push_back(Completion{.transfer_id = c.transfer_id(),
                                       .cookie = c.cookie(),
                                       .error = static_cast<Error>(c.error()),
                                       .bytes = c.bytes(),
                                       .duration_ns = c.duration_ns()});
      signal();
    } else if (event.has_inbound_transfer()) {
      const auto& t = event.inbound_transfer();
      inbound.push_back(Inbound{.peer = t.peer(),
                                .transfer_id = t.transfer_id(),
                                .region_id = t.region_id(),
                                .offset = t.offset(),
                                .length = t.length(),
                                .traffic_class = t.traffic_class() == v1::TRAFFIC_CLASS_ACTIVATION
                                                     ? TrafficClass::activation
                                                     : TrafficClass::kv,
                                .checksum_verified = t.checksum_verified()});
      signal();
    } else if (event.has_throttle_command()) {
      const auto& t = event.throttle_command();
      commands.push_back(ThrottleCommand{.level = t.level(),
                                         .level_name = t.level_name(),
                                         .reason = t.reason(),
                                         .command_id = t.command_id(),
                                         .drain = t.drain()});
      signal();
    } else if (event.has_migration_command()) {
      const auto& m = event.migration_command();
      const auto kind = from_proto(m.kind());
      if (!kind) {
        // Nobody could act on it: refuse it now rather than let the daemon time out.
        lock.unlock();
        refuse_unknown_migration(m);
        return;
      }
      MigrationCommand command{.kind = *kind,
                               .command_id = m.command_id(),
                               .migration_id = m.migration_id(),
                               .peer = m.peer(),
                               .sequences = {}};
      command.sequences.reserve(static_cast<size_t>(m.sequences_size()));
      for (const auto& s : m.sequences()) command.sequences.push_back(from_proto(s));
      migrations.push_back(std::move(command));
      signal();
    } else if (event.request_id() != 0) {
      if (awaited.count(event.request_id()) != 0) {
        replies.emplace(event.request_id(), std::move(event));
        replied.notify_all();
      } else if (event.error() != v1::WORKLOAD_ERROR_NONE) {
        report_refusal.emplace(static_cast<Error>(event.error()),
                               fmt::format("railyardd at {} refused a report: {}", path, event.message()));
      }
    }
  }

  void refuse_unknown_migration(const v1::MigrationCommand& m) {
    v1::WorkloadRequest request;
    auto* a = request.mutable_ack();
    a->set_command_id(m.command_id());
    a->set_ok(false);
    a->set_message(fmt::format("migration step kind {} is unknown to this librailyard; link the release of railyardd",
                               static_cast<int>(m.kind())));
    (void)send(std::move(request), /*await_reply=*/false);
  }

  // Sends a request (with `pass_fd` as SCM_RIGHTS if >= 0) and returns its
  // request id; with `await_reply` its reply is kept for call() to collect.
  Result<uint64_t> send(v1::WorkloadRequest request, bool await_reply, int pass_fd = -1) {
    uint64_t id;
    {
      std::lock_guard lock(mu);
      if (!connected) return {Error::daemon_gone, fmt::format("lost the connection to railyardd at {}", path)};
      id = next_request_id++;
      if (await_reply) awaited.insert(id);
    }
    request.set_protocol_version(1);
    request.set_request_id(id);
    const std::string frame = framing::encode(request);
    // One sender at a time keeps frames (and their fds) whole on the stream.
    std::lock_guard lock(send_mu);
    size_t done = 0;
    while (done < frame.size()) {
      iovec iov{.iov_base = const_cast<char*>(frame.data() + done), .iov_len = frame.size() - done};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
      if (pass_fd >= 0 && done == 0) {
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
      }
      ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int e = errno;
        std::lock_guard state_lock(mu);
        awaited.erase(id);
        return {Error::daemon_gone,
                fmt::format("lost the connection to railyardd at {}: {}", path, std::strerror(e))};
      }
      done += static_cast<size_t>(n);
    }
    return id;
  }

  // Sends a request (with `pass_fd` as SCM_RIGHTS if >= 0) and waits for its reply.
  Result<v1::WorkloadEvent> call(v1::WorkloadRequest request, int pass_fd = -1) {
    auto sent = send(std::move(request), /*await_reply=*/true, pass_fd);
    if (!sent) return {sent.error(), sent.message()};
    const uint64_t id = sent.value();
    std::unique_lock lock(mu);
    replied.wait(lock, [&] { return replies.count(id) != 0 || !connected; });
    awaited.erase(id);
    auto it = replies.find(id);
    if (it == replies.end())
      return {Error::daemon_gone, fmt::format("railyardd at {} went away before answering", path)};
    v1::WorkloadEvent event = std::move(it->second);
    replies.erase(it);
    if (event.error() != v1::WORKLOAD_ERROR_NONE) return {static_cast<Error>(event.error()), event.message()};
    return event;
  }
};

Workload::Workload(std::unique_ptr<State> state) : state_(std::move(state)) {}
Workload::Workload(Workload&&) noexcept = default;
Workload& Workload::operator=(Workload&&) noexcept = default;
Workload::~Workload() = default;

Result<Workload> Workload::connect(const std::string& socket_path, const std::string& name) {
  auto state = std::make_unique<State>();
  state->path = socket_path;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path)
    return {Error::bad_request, fmt::format("socket path {} is too long", socket_path)};
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  state->fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  state->event_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (state->fd < 0 || state->event_fd < 0) return {Error::system, sys_error("socket/eventfd")};
  if (::connect(state->fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int e = errno;
    if (e == ENOENT || e == ECONNREFUSED)
      return {Error::daemon_gone, fmt::format("daemon not running at {} (is railyardd up? see fabric.workload_socket)",
                                              socket_path)};
    return {Error::system, fmt::format("cannot connect to {}: {}", socket_path, std::strerror(e))};
  }
  State* s = state.get();
  state->reader = std::thread([s] { s->read_loop(); });
  v1::WorkloadRequest hello;
  hello.mutable_hello()->set_name(name);
  auto reply = state->call(std::move(hello));
  if (!reply) return {reply.error(), reply.message()};
  state->host_name = reply.value().hello_reply().host_name();
  return Workload(std::move(state));
}

Result<Region> Workload::register_region(uint64_t length, uint32_t id, const std::string& name) {
  if (length == 0) return {Error::bad_request, "a region needs a length above 0"};
  int memfd = ::memfd_create(name.empty() ? "railyard-region" : name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (memfd < 0) return {Error::system, sys_error("memfd_create")};
  if (::ftruncate(memfd, static_cast<off_t>(length)) != 0 || ::fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK) != 0) {
    auto r = Result<Region>(Error::system, sys_error("sizing or sealing the memfd"));
    ::close(memfd);
    return r;
  }
  void* data = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
  if (data == MAP_FAILED) {
    auto r = Result<Region>(Error::system, sys_error("mmap of the region"));
    ::close(memfd);
    return r;
  }
  v1::WorkloadRequest request;
  auto* reg = request.mutable_register_region();
  reg->set_region_id(id);
  reg->set_length(length);
  reg->set_name(name);
  auto reply = state_->call(std::move(request), memfd);
  ::close(memfd);  // the daemon holds its own copy; our mapping keeps the pages
  if (!reply) {
    ::munmap(data, length);
    return {reply.error(), reply.message()};
  }
  Region region{.id = reply.value().region_registered().region_id(), .data = static_cast<std::byte*>(data),
                .length = length};
  std::lock_guard lock(state_->mu);
  state_->regions[region.id] = region;
  return region;
}

Result<Empty> Workload::deregister_region(uint32_t id) {
  v1::WorkloadRequest request;
  request.mutable_deregister_region()->set_region_id(id);
  auto reply = state_->call(std::move(request));
  if (!reply) return {reply.error(), reply.message()};
  std::lock_guard lock(state_->mu);
  if (auto it = state_->regions.find(id); it != state_->regions.end()) {
    ::munmap(it->second.data, it->second.length);
    state_->regions.erase(it);
  }
  return Empty{};
}

Result<Empty> Workload::register_decode(uint32_t region_id, uint32_t capacity, uint64_t slot_bytes) {
  if (capacity == 0 || slot_bytes == 0)
    return {Error::bad_request, "a decode workload needs capacity and slot_bytes above 0"};
  v1::WorkloadRequest request;
  auto* d = request.mutable_register_decode();
  d->set_region_id(region_id);
  d->set_capacity(capacity);
  d->set_slot_bytes(slot_bytes);
  auto reply = state_->call(std::move(request));
  if (!reply) return {reply.error(), reply.message()};
  return Empty{};
}

Result<Empty> Workload::report(const SequenceReport& report) {
  {
    std::lock_guard lock(state_->mu);
    if (state_->report_refusal) {
      auto [error, message] = std::move(*state_->report_refusal);
      state_->report_refusal.reset();
      return {error, std::move(message)};
    }
  }
  v1::WorkloadRequest request;
  auto* r = request.mutable_report();
  for (const auto& s : report.sequences) to_proto(s, r->add_sequences());
  r->set_tokens_per_second(report.tokens_per_second);
  r->set_free_slots(report.free_slots);
  r->set_throttle_level(report.throttle_level);
  auto sent = state_->send(std::move(request), /*await_reply=*/false);
  if (!sent) return {sent.error(), sent.message()};
  return Empty{};
}

Result<uint64_t> Workload::post(const TransferSpec& spec) {
  v1::WorkloadRequest request;
  auto* p = request.mutable_post_transfer();
  p->set_local_region(spec.local_region);
  p->set_local_offset(spec.local_offset);
  p->set_length(spec.length);
  p->set_peer(spec.peer);
  p->set_remote_region(spec.remote_region);
  p->set_remote_offset(spec.remote_offset);
  p->set_traffic_class(spec.traffic_class == TrafficClass::activation ? v1::TRAFFIC_CLASS_ACTIVATION
                                                                      : v1::TRAFFIC_CLASS_KV);
  p->set_checksum(spec.checksum);
  p->set_cookie(spec.cookie);
  auto reply = state_->call(std::move(request));
  if (!reply) return {reply.error(), reply.message()};
  return reply.value().transfer_posted().transfer_id();
}

int Workload::event_fd() const { return state_->event_fd; }

std::optional<Completion> Workload::next_completion() { return state_->take(state_->completions); }
std::optional<Inbound> Workload::next_inbound() { return state_->take(state_->inbound); }
std::optional<ThrottleCommand> Workload::next_command() { return state_->take(state_->commands); }
std::optional<MigrationCommand> Workload::next_migration() { return state_->take(state_->migrations); }

Result<Empty> Workload::ack(uint64_t command_id, bool ok, const std::string& message,
                            const std::vector<SequenceState>& sequences) {
  v1::WorkloadRequest request;
  auto* a = request.mutable_ack();
  a->set_command_id(command_id);
  a->set_ok(ok);
  a->set_message(message);
  for (const auto& s : sequences) to_proto(s, a->add_sequences());
  auto reply = state_->call(std::move(request));
  if (!reply) return {reply.error(), reply.message()};
  return Empty{};
}

const std::string& Workload::host_name() const { return state_->host_name; }

bool Workload::connected() const {
  std::lock_guard lock(state_->mu);
  return state_->connected;
}

}  // namespace railyard
