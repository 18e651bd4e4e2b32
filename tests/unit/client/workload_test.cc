// librailyard's decode-workload calls against a scripted daemon on a real
// Unix socket: what goes on the wire for register_decode, report and ack
// with sequences, how migration commands queue behind event_fd, and what
// the caller sees when the daemon refuses or goes away.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client/framing.h"
#include "client/workload.h"
#include "railyard/v1/workload.pb.h"
#include "tests/unit/support/unix_listener.h"

namespace railyard {
namespace {

using namespace std::chrono_literals;

// Accepts one connection, records every request and answers each with what
// `answer` returns (nothing: no answer). The hello is answered by default.
class ScriptedDaemon {
 public:
  using Answer = std::function<std::optional<v1::WorkloadEvent>(const v1::WorkloadRequest&)>;

  explicit ScriptedDaemon(Answer answer) : answer_(std::move(answer)) {
    char tmpl[] = "/tmp/railyard-client-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    path_ = dir_ + "/workload.sock";
    listen_fd_ = testing::listen_unix(path_);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedDaemon() {
    hang_up();
    ::shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    ::close(listen_fd_);
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }

  const std::string& path() const { return path_; }

  /// Sends an unprompted event to the workload.
  void push(const v1::WorkloadEvent& event) {
    std::lock_guard lock(mu_);
    write_frame(event);
  }

  /// Closes the connection, as a daemon that exits.
  void hang_up() {
    std::lock_guard lock(mu_);
    if (conn_fd_ >= 0) ::shutdown(conn_fd_, SHUT_RDWR);
  }

  /// Waits until `n` requests (hello included) arrived; returns them all.
  std::vector<v1::WorkloadRequest> wait_requests(size_t n) {
    std::unique_lock lock(mu_);
    arrived_.wait_for(lock, 2s, [&] { return requests_.size() >= n; });
    return requests_;
  }

 private:
  void serve() {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    {
      std::lock_guard lock(mu_);
      conn_fd_ = fd;
    }
    std::string buffer;
    char chunk[4096];
    while (true) {
      const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) break;
      buffer.append(chunk, static_cast<size_t>(n));
      while (true) {
        auto split = framing::split(buffer, 1u << 20);
        if (split.status != framing::SplitStatus::frame) break;
        v1::WorkloadRequest request;
        request.ParseFromArray(split.body.data(), static_cast<int>(split.body.size()));
        buffer.erase(0, split.consumed);
        std::optional<v1::WorkloadEvent> reply;
        if (request.has_hello()) {
          reply.emplace();
          reply->mutable_hello_reply()->set_host_name("h2");
        } else {
          reply = answer_(request);
        }
        std::lock_guard lock(mu_);
        if (reply) {
          reply->set_protocol_version(1);
          reply->set_request_id(request.request_id());
          write_frame(*reply);
        }
        requests_.push_back(std::move(request));
        arrived_.notify_all();
      }
    }
    std::lock_guard lock(mu_);
    ::close(fd);
    conn_fd_ = -1;
  }

  void write_frame(const v1::WorkloadEvent& event) {
    const std::string frame = framing::encode(event);
    (void)!::send(conn_fd_, frame.data(), frame.size(), MSG_NOSIGNAL);
  }

  Answer answer_;
  std::string dir_, path_;
  int listen_fd_ = -1;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable arrived_;
  int conn_fd_ = -1;
  std::vector<v1::WorkloadRequest> requests_;
};

std::optional<v1::WorkloadEvent> answer_done(const v1::WorkloadRequest&) {
  v1::WorkloadEvent event;
  event.mutable_done();
  return event;
}

// The protocol's rule for a decode daemon: every request but a report is answered.
std::optional<v1::WorkloadEvent> answer_all_but_reports(const v1::WorkloadRequest& request) {
  if (request.has_report()) return std::nullopt;
  return answer_done(request);
}

Workload connect(const ScriptedDaemon& daemon) {
  auto w = Workload::connect(daemon.path(), "decode-test");
  if (!w) throw std::runtime_error("connect failed: " + w.message());
  return std::move(w.value());
}

bool readable(int fd, std::chrono::milliseconds wait) {
  pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
  return ::poll(&p, 1, static_cast<int>(wait.count())) == 1;
}

std::optional<MigrationCommand> wait_migration(Workload& w) {
  for (int i = 0; i < 100; ++i) {
    if (auto m = w.next_migration()) return m;
    readable(w.event_fd(), 20ms);
  }
  return std::nullopt;
}

v1::WorkloadEvent migration_event(v1::MigrationCommand::Kind kind, uint64_t command_id, std::vector<uint64_t> ids) {
  v1::WorkloadEvent event;
  event.set_protocol_version(1);
  auto* m = event.mutable_migration_command();
  m->set_kind(kind);
  m->set_command_id(command_id);
  m->set_migration_id(77);
  m->set_peer("h1");
  for (uint64_t id : ids) {
    auto* s = m->add_sequences();
    s->set_id(id);
    s->set_slot(static_cast<uint32_t>(id % 8));
    s->set_kv_bytes(id * 1024);
    s->set_tokens(id);
    s->set_last_token(id * 31);
    s->set_kv_crc32c(static_cast<uint32_t>(id * 7));
  }
  return event;
}

TEST(ClientDecode, RegisterDecodeSendsTheRegionLayoutAndReturnsOnDone) {
  ScriptedDaemon daemon(answer_done);
  Workload w = connect(daemon);
  auto r = w.register_decode(3, 64, 1 << 20);
  ASSERT_TRUE(r) << r.message();
  auto requests = daemon.wait_requests(2);
  ASSERT_EQ(requests.size(), 2u);
  ASSERT_TRUE(requests[1].has_register_decode());
  EXPECT_EQ(requests[1].register_decode().region_id(), 3u);
  EXPECT_EQ(requests[1].register_decode().capacity(), 64u);
  EXPECT_EQ(requests[1].register_decode().slot_bytes(), 1u << 20);
}

TEST(ClientDecode, RegisterDecodeCarriesTheDaemonsRefusal) {
  ScriptedDaemon daemon([](const v1::WorkloadRequest&) {
    v1::WorkloadEvent event;
    event.set_error(v1::WORKLOAD_ERROR_UNKNOWN_REGION);
    event.set_message("region 3 is not registered by this workload");
    return std::optional(event);
  });
  Workload w = connect(daemon);
  auto r = w.register_decode(3, 64, 1 << 20);
  EXPECT_EQ(r.error(), Error::unknown_region);
  EXPECT_EQ(r.message(), "region 3 is not registered by this workload");
  EXPECT_EQ(w.register_decode(3, 0, 1 << 20).error(), Error::bad_request);
}

TEST(ClientDecode, ReportIsSentWithoutWaitingForAnAnswer) {
  ScriptedDaemon daemon(answer_all_but_reports);
  Workload w = connect(daemon);
  SequenceReport report{.sequences = {{.id = 5, .slot = 2, .kv_bytes = 4096, .tokens = 4, .last_token = 99,
                                       .kv_crc32c = 0},
                                      {.id = 6, .slot = 3, .kv_bytes = 1024, .tokens = 1, .last_token = 7,
                                       .kv_crc32c = 0}},
                        .tokens_per_second = 123.5,
                        .free_slots = 6,
                        .throttle_level = 2};
  // The daemon never answers: a report() that waited would hang here.
  ASSERT_TRUE(w.report(report));
  ASSERT_TRUE(w.report(report));
  auto requests = daemon.wait_requests(3);
  ASSERT_EQ(requests.size(), 3u);
  const auto& sent = requests[1].report();
  ASSERT_EQ(sent.sequences_size(), 2);
  EXPECT_EQ(sent.sequences(0).id(), 5u);
  EXPECT_EQ(sent.sequences(0).slot(), 2u);
  EXPECT_EQ(sent.sequences(0).kv_bytes(), 4096u);
  EXPECT_EQ(sent.sequences(0).tokens(), 4u);
  EXPECT_EQ(sent.sequences(0).last_token(), 99u);
  EXPECT_EQ(sent.sequences(1).id(), 6u);
  EXPECT_DOUBLE_EQ(sent.tokens_per_second(), 123.5);
  EXPECT_EQ(sent.free_slots(), 6u);
  EXPECT_EQ(sent.throttle_level(), 2u);
  EXPECT_NE(requests[1].request_id(), requests[2].request_id());
  // Calls that await answers still work on the same connection afterwards.
  EXPECT_TRUE(w.register_decode(1, 4, 4096));
}

TEST(ClientDecode, AReportTheDaemonRefusedIsReturnedByTheNextReport) {
  ScriptedDaemon daemon([](const v1::WorkloadRequest& request) -> std::optional<v1::WorkloadEvent> {
    v1::WorkloadEvent event;
    if (request.has_report()) {
      event.set_error(v1::WORKLOAD_ERROR_BAD_REQUEST);
      event.set_message("this workload did not register_decode");
    } else {
      event.mutable_done();
    }
    return event;
  });
  Workload w = connect(daemon);
  ASSERT_TRUE(w.report({}));
  daemon.wait_requests(2);
  // The refusal travels back while we do a call that waits, so it has surely arrived after it.
  ASSERT_TRUE(w.register_decode(1, 4, 4096));
  auto refused = w.report({});
  EXPECT_EQ(refused.error(), Error::bad_request);
  EXPECT_NE(refused.message().find("this workload did not register_decode"), std::string::npos) << refused.message();
}

TEST(ClientDecode, ReportAfterTheDaemonLeftReturnsDaemonGone) {
  ScriptedDaemon daemon(answer_all_but_reports);
  Workload w = connect(daemon);
  daemon.hang_up();
  ASSERT_TRUE(readable(w.event_fd(), 2s));
  for (int i = 0; i < 100 && w.connected(); ++i) std::this_thread::sleep_for(10ms);
  auto r = w.report({});
  EXPECT_EQ(r.error(), Error::daemon_gone);
}

TEST(ClientDecode, MigrationCommandsQueueBehindEventFdInOrderApartFromThrottleCommands) {
  ScriptedDaemon daemon(answer_done);
  Workload w = connect(daemon);
  EXPECT_FALSE(readable(w.event_fd(), 0ms));
  daemon.push(migration_event(v1::MigrationCommand::KIND_RESERVE, 10, {1, 2}));
  v1::WorkloadEvent throttle;
  throttle.mutable_throttle_command()->set_level(2);
  throttle.mutable_throttle_command()->set_command_id(11);
  daemon.push(throttle);
  daemon.push(migration_event(v1::MigrationCommand::KIND_RESUME, 12, {3}));

  auto first = wait_migration(w);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->kind, MigrationCommand::Kind::reserve);
  EXPECT_EQ(first->command_id, 10u);
  EXPECT_EQ(first->migration_id, 77u);
  EXPECT_EQ(first->peer, "h1");
  ASSERT_EQ(first->sequences.size(), 2u);
  EXPECT_EQ(first->sequences[1].id, 2u);
  EXPECT_EQ(first->sequences[1].slot, 2u);
  EXPECT_EQ(first->sequences[1].kv_bytes, 2048u);
  EXPECT_EQ(first->sequences[1].tokens, 2u);
  EXPECT_EQ(first->sequences[1].last_token, 62u);
  EXPECT_EQ(first->sequences[1].kv_crc32c, 14u);

  auto second = wait_migration(w);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->kind, MigrationCommand::Kind::resume);
  EXPECT_EQ(second->command_id, 12u);
  // The throttle command is still queued, so event_fd stays readable for it.
  EXPECT_TRUE(readable(w.event_fd(), 0ms));
  auto command = w.next_command();
  ASSERT_TRUE(command);
  EXPECT_EQ(command->level, 2u);
  EXPECT_FALSE(w.next_migration());
  EXPECT_FALSE(readable(w.event_fd(), 0ms));
}

TEST(ClientDecode, AckCarriesTheSequences) {
  ScriptedDaemon daemon(answer_done);
  Workload w = connect(daemon);
  ASSERT_TRUE(w.ack(10, true, "", {{.id = 4, .slot = 1, .kv_bytes = 0, .tokens = 0, .last_token = 0, .kv_crc32c = 0},
                                  {.id = 9, .slot = 5, .kv_bytes = 8192, .tokens = 8, .last_token = 3,
                                   .kv_crc32c = 0xdeadbeef}}));
  ASSERT_TRUE(w.ack(11, false, "capacity short: 2 free slots for 3 sequences"));
  auto requests = daemon.wait_requests(3);
  ASSERT_EQ(requests.size(), 3u);
  const auto& a = requests[1].ack();
  EXPECT_EQ(a.command_id(), 10u);
  EXPECT_TRUE(a.ok());
  ASSERT_EQ(a.sequences_size(), 2);
  EXPECT_EQ(a.sequences(0).id(), 4u);
  EXPECT_EQ(a.sequences(0).slot(), 1u);
  EXPECT_EQ(a.sequences(1).kv_bytes(), 8192u);
  EXPECT_EQ(a.sequences(1).tokens(), 8u);
  EXPECT_EQ(a.sequences(1).last_token(), 3u);
  EXPECT_EQ(a.sequences(1).kv_crc32c(), 0xdeadbeefu);
  const auto& refused = requests[2].ack();
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(refused.message(), "capacity short: 2 free slots for 3 sequences");
  EXPECT_EQ(refused.sequences_size(), 0);
}

TEST(ClientDecode, AMigrationStepOfUnknownKindIsRefusedForTheWorkload) {
  ScriptedDaemon daemon(answer_done);
  Workload w = connect(daemon);
  auto event = migration_event(v1::MigrationCommand::KIND_RESERVE, 21, {1});
  event.mutable_migration_command()->set_kind(static_cast<v1::MigrationCommand::Kind>(42));
  daemon.push(event);
  auto requests = daemon.wait_requests(2);
  ASSERT_EQ(requests.size(), 2u);
  ASSERT_TRUE(requests[1].has_ack());
  EXPECT_EQ(requests[1].ack().command_id(), 21u);
  EXPECT_FALSE(requests[1].ack().ok());
  EXPECT_NE(requests[1].ack().message().find("kind 42"), std::string::npos);
  EXPECT_FALSE(w.next_migration());
}

}  // namespace
}  // namespace railyard
