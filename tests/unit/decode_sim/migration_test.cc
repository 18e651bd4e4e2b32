// Two decode-sim processes, each behind a scripted daemon that maps their KV
// region from the memfd they pass, and a live migration driven by hand the
// way railyardd drives it: RESERVE on the target, pre-copy while the source
// decodes, PAUSE, copy the rest, RESUME, RELEASE. The token logs of both
// hosts must then read as one chain per sequence, with no gap or repeat.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client/framing.h"
#include "railyard/v1/workload.pb.h"
#include "tests/unit/support/unix_listener.h"
#include "tools/decode-sim/determinism.h"
#include "tools/decode-sim/token_log.h"

extern char** environ;

namespace railyard::decode_sim {
namespace {

using namespace std::chrono_literals;

constexpr uint64_t kBytesPerToken = 64;
constexpr uint64_t kMaxTokens = 4096;
constexpr uint64_t kSlotBytes = kBytesPerToken * kMaxTokens;

// One host's railyardd as decode-sim sees it: answers hello, register_region
// (mapping the memfd here), register_decode and acks; keeps the last report.
class ScriptedHost {
 public:
  ScriptedHost(const std::string& dir, std::string host) : host_(std::move(host)) {
    path_ = dir + "/" + host_ + ".sock";
    listen_fd_ = testing::listen_unix(path_);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedHost() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    {
      std::lock_guard lock(mu_);
      if (conn_fd_ >= 0) ::shutdown(conn_fd_, SHUT_RDWR);
    }
    thread_.join();
    ::close(listen_fd_);
    if (region_ != nullptr) ::munmap(region_, region_bytes_);
    ::unlink(path_.c_str());
  }

  const std::string& path() const { return path_; }
  std::byte* slot(uint32_t s) { return static_cast<std::byte*>(region_) + s * kSlotBytes; }

  /// Waits for a report that satisfies `want`; returns it.
  template <class Pred>
  std::optional<v1::SequenceReport> wait_report(Pred want) {
    std::unique_lock lock(mu_);
    if (!changed_.wait_for(lock, 10s, [&] { return last_report_ && want(*last_report_); })) return std::nullopt;
    return last_report_;
  }

  bool decode_registered() {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, 10s, [&] { return decode_ != std::nullopt; });
  }

  /// Tells the workload that a transfer from `peer` landed in its region.
  void inbound(const std::string& peer, uint32_t region, uint64_t offset, uint64_t length) {
    v1::WorkloadEvent event;
    event.set_protocol_version(1);
    auto* in = event.mutable_inbound_transfer();
    in->set_peer(peer);
    in->set_region_id(region);
    in->set_offset(offset);
    in->set_length(length);
    in->set_traffic_class(v1::TRAFFIC_CLASS_KV);
    in->set_checksum_verified(true);
    std::lock_guard lock(mu_);
    const std::string frame = framing::encode(event);
    (void)!::send(conn_fd_, frame.data(), frame.size(), MSG_NOSIGNAL);
  }

  /// Sends a migration step and waits for its ack.
  std::optional<v1::Ack> command(v1::MigrationCommand::Kind kind, uint64_t migration_id, const std::string& peer,
                                 const std::vector<v1::SequenceState>& sequences) {
    v1::WorkloadEvent event;
    event.set_protocol_version(1);
    auto* m = event.mutable_migration_command();
    std::unique_lock lock(mu_);
    const uint64_t id = ++next_command_id_;
    m->set_command_id(id);
    m->set_kind(kind);
    m->set_migration_id(migration_id);
    m->set_peer(peer);
    for (const auto& s : sequences) *m->add_sequences() = s;
    const std::string frame = framing::encode(event);
    (void)!::send(conn_fd_, frame.data(), frame.size(), MSG_NOSIGNAL);
    if (!changed_.wait_for(lock, 10s, [&] { return acks_.count(id) != 0; })) return std::nullopt;
    return acks_[id];
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
    std::deque<int> fds;
    char chunk[65536];
    while (true) {
      iovec iov{.iov_base = chunk, .iov_len = sizeof chunk};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      const ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
      if (n <= 0) break;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
          int passed;
          std::memcpy(&passed, CMSG_DATA(c), sizeof passed);
          fds.push_back(passed);
        }
      }
      buffer.append(chunk, static_cast<size_t>(n));
      while (true) {
        auto split = framing::split(buffer, 1u << 24);
        if (split.status != framing::SplitStatus::frame) break;
        v1::WorkloadRequest request;
        request.ParseFromArray(split.body.data(), static_cast<int>(split.body.size()));
        buffer.erase(0, split.consumed);
        handle(request, fds);
      }
    }
    std::lock_guard lock(mu_);
    ::close(fd);
    conn_fd_ = -1;
  }

  void handle(const v1::WorkloadRequest& request, std::deque<int>& fds) {
    std::lock_guard lock(mu_);
    v1::WorkloadEvent reply;
    reply.set_protocol_version(1);
    reply.set_request_id(request.request_id());
    if (request.has_hello()) {
      reply.mutable_hello_reply()->set_host_name(host_);
    } else if (request.has_register_region() && !fds.empty()) {
      region_bytes_ = request.register_region().length();
      region_ = ::mmap(nullptr, region_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fds.front(), 0);
      ::close(fds.front());
      fds.pop_front();
      reply.mutable_region_registered()->set_region_id(request.register_region().region_id());
    } else if (request.has_register_decode()) {
      decode_ = request.register_decode();
      reply.mutable_done();
    } else if (request.has_report()) {
      last_report_ = request.report();
      changed_.notify_all();
      return;  // reports get no answer
    } else if (request.has_ack()) {
      acks_[request.ack().command_id()] = request.ack();
      reply.mutable_done();
    } else {
      reply.set_error(v1::WORKLOAD_ERROR_BAD_REQUEST);
    }
    const std::string frame = framing::encode(reply);
    (void)!::send(conn_fd_, frame.data(), frame.size(), MSG_NOSIGNAL);
    changed_.notify_all();
  }

  std::string host_, path_;
  int listen_fd_ = -1;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable changed_;
  int conn_fd_ = -1;
  void* region_ = nullptr;
  uint64_t region_bytes_ = 0;
  std::optional<v1::DecodeWorkload> decode_;
  std::optional<v1::SequenceReport> last_report_;
  std::map<uint64_t, v1::Ack> acks_;
  uint64_t next_command_id_ = 0;
};

pid_t spawn_decode_sim(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  std::string binary = DECODE_SIM_PATH;
  argv.push_back(binary.data());
  std::vector<std::string> copies = args;
  for (auto& a : copies) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (::posix_spawn(&pid, binary.c_str(), nullptr, nullptr, argv.data(), environ) != 0) return -1;
  return pid;
}

std::string read_file(const std::string& path) {
  std::string text;
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return text;
  char chunk[4096];
  for (size_t n; (n = std::fread(chunk, 1, sizeof chunk, f)) > 0;) text.append(chunk, n);
  std::fclose(f);
  return text;
}

int stop(pid_t pid) {
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class DecodeSimMigration : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/railyard-decode-sim-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir = tmpl;
    source = std::make_unique<ScriptedHost>(dir, "h1");
    target = std::make_unique<ScriptedHost>(dir, "h2");
  }
  void TearDown() override {
    if (source_pid > 0) stop(source_pid);
    if (target_pid > 0) stop(target_pid);
    source.reset();
    target.reset();
    for (const char* f : {"/h1.log", "/h2.log", "/h1.log.json", "/h2.log.json"}) ::unlink((dir + f).c_str());
    ::rmdir(dir.c_str());
  }

  pid_t start(const ScriptedHost& host, const std::string& log, uint64_t sequences) {
    return spawn_decode_sim({"--socket", host.path(), "--sequences", std::to_string(sequences), "--capacity", "4",
                             "--context-tokens", "5", "--kv-bytes-per-token", std::to_string(kBytesPerToken),
                             "--max-tokens", std::to_string(kMaxTokens), "--step-ms", "5", "--first-id", "1",
                             "--token-log", dir + "/" + log, "--status-json", dir + "/" + log + ".json"});
  }

  // Checks the named token logs with verify_logs() (its exit status) and LogChecker (the counts).
  LogReport check_logs(const std::vector<std::string>& names = {"h1.log", "h2.log"}) {
    std::vector<std::string> paths;
    for (const auto& name : names) paths.push_back(dir + "/" + name);
    std::FILE* sink = std::fopen("/dev/null", "w");
    const int status = verify_logs(paths, sink, stderr);
    std::fclose(sink);
    LogChecker checker;
    for (const auto& path : paths) {
      std::FILE* f = std::fopen(path.c_str(), "r");
      char line[256];
      while (f != nullptr && std::fgets(line, sizeof line, f) != nullptr) checker.add_line(line, path);
      if (f != nullptr) std::fclose(f);
    }
    LogReport report = checker.finish();
    EXPECT_EQ(status, report.ok() ? 0 : 1);
    return report;
  }

  std::string dir;
  std::unique_ptr<ScriptedHost> source, target;
  pid_t source_pid = -1, target_pid = -1;
};

TEST_F(DecodeSimMigration, SequencesMoveWithPreCopyAndTheLogsContinueWithoutLossOrRepeat) {
  source_pid = start(*source, "h1.log", 3);
  target_pid = start(*target, "h2.log", 0);
  ASSERT_GT(source_pid, 0);
  ASSERT_TRUE(source->decode_registered());
  ASSERT_TRUE(target->decode_registered());
  auto before = source->wait_report([](const v1::SequenceReport& r) {
    return r.sequences_size() == 3 && r.sequences(0).tokens() > 20;
  });
  ASSERT_TRUE(before);

  std::vector<v1::SequenceState> wanted(before->sequences().begin(), before->sequences().end());
  auto reserved = target->command(v1::MigrationCommand::KIND_RESERVE, 9, "h1", wanted);
  ASSERT_TRUE(reserved && reserved->ok()) << (reserved ? reserved->message() : "no ack");
  ASSERT_EQ(reserved->sequences_size(), 3);

  // Pre-copy what the report showed while the source decodes on.
  for (int i = 0; i < 3; ++i)
    std::memcpy(target->slot(reserved->sequences(i).slot()), source->slot(wanted[i].slot()), wanted[i].kv_bytes());
  std::this_thread::sleep_for(30ms);

  auto paused = source->command(v1::MigrationCommand::KIND_PAUSE, 9, "h2", wanted);
  ASSERT_TRUE(paused && paused->ok()) << (paused ? paused->message() : "no ack");
  ASSERT_EQ(paused->sequences_size(), 3);
  std::vector<v1::SequenceState> finals;
  for (int i = 0; i < 3; ++i) {
    const auto& f = paused->sequences(i);
    EXPECT_GT(f.tokens(), wanted[i].tokens());  // it kept decoding during the pre-copy
    // Stop-and-copy: only what grew since the pre-copy.
    const uint64_t from = wanted[i].kv_bytes();
    std::memcpy(target->slot(reserved->sequences(i).slot()) + from, source->slot(f.slot()) + from,
                f.kv_bytes() - from);
    finals.push_back(f);
    finals.back().set_slot(reserved->sequences(i).slot());
  }
  auto resumed = target->command(v1::MigrationCommand::KIND_RESUME, 9, "h1", finals);
  ASSERT_TRUE(resumed && resumed->ok()) << (resumed ? resumed->message() : "no ack");
  auto released = source->command(v1::MigrationCommand::KIND_RELEASE, 9, "h2", finals);
  ASSERT_TRUE(released && released->ok()) << (released ? released->message() : "no ack");

  ASSERT_TRUE(target->wait_report([&](const v1::SequenceReport& r) {
    return r.sequences_size() == 3 && r.sequences(0).tokens() > finals[0].tokens() + 10;
  }));
  ASSERT_TRUE(source->wait_report([](const v1::SequenceReport& r) { return r.sequences_size() == 0; }));
  EXPECT_EQ(stop(source_pid), 0);
  EXPECT_EQ(stop(target_pid), 0);
  source_pid = target_pid = -1;

  const std::string source_status = read_file(dir + "/h1.log.json");
  EXPECT_NE(source_status.find("\"running\":false,\"decoding\":0,"), std::string::npos) << source_status;
  EXPECT_NE(source_status.find("\"migrated_out\":3,"), std::string::npos) << source_status;
  EXPECT_NE(source_status.find("\"seq 2 migrated to h2 at token "), std::string::npos) << source_status;
  EXPECT_NE(read_file(dir + "/h2.log.json").find("\"migrated_in\":3,"), std::string::npos);

  const LogReport logs = check_logs();
  EXPECT_TRUE(logs.ok());
  EXPECT_EQ(logs.sequences, 3u);
  EXPECT_EQ(logs.gaps, 0u);
  EXPECT_EQ(logs.repeats, 0u);
  EXPECT_EQ(logs.wrong_tokens, 0u);
  ASSERT_EQ(logs.handoffs.size(), 3u);
  for (const auto& h : logs.handoffs) {
    EXPECT_EQ(h.from, "h1");
    EXPECT_EQ(h.to, "h2");
  }
}

TEST_F(DecodeSimMigration, ACorruptCopyIsRefusedAndAbortLeavesTheSequencesOnTheSource) {
  source_pid = start(*source, "h1.log", 2);
  target_pid = start(*target, "h2.log", 0);
  ASSERT_TRUE(source->decode_registered());
  ASSERT_TRUE(target->decode_registered());
  auto before = source->wait_report([](const v1::SequenceReport& r) { return r.sequences_size() == 2; });
  ASSERT_TRUE(before);
  std::vector<v1::SequenceState> wanted(before->sequences().begin(), before->sequences().end());
  auto reserved = target->command(v1::MigrationCommand::KIND_RESERVE, 4, "h1", wanted);
  ASSERT_TRUE(reserved && reserved->ok());
  auto paused = source->command(v1::MigrationCommand::KIND_PAUSE, 4, "h2", wanted);
  ASSERT_TRUE(paused && paused->ok());
  std::vector<v1::SequenceState> finals;
  for (int i = 0; i < 2; ++i) {
    const auto& f = paused->sequences(i);
    std::memcpy(target->slot(reserved->sequences(i).slot()), source->slot(f.slot()), f.kv_bytes());
    finals.push_back(f);
    finals.back().set_slot(reserved->sequences(i).slot());
  }
  target->slot(reserved->sequences(1).slot())[7] ^= std::byte{0x10};  // a flipped bit in flight
  auto resumed = target->command(v1::MigrationCommand::KIND_RESUME, 4, "h1", finals);
  ASSERT_TRUE(resumed);
  EXPECT_FALSE(resumed->ok());
  EXPECT_NE(resumed->message().find("sequence " + std::to_string(finals[1].id())), std::string::npos)
      << resumed->message();
  auto aborted = source->command(v1::MigrationCommand::KIND_ABORT, 4, "h2", finals);
  ASSERT_TRUE(aborted && aborted->ok()) << aborted->message();

  ASSERT_TRUE(source->wait_report([&](const v1::SequenceReport& r) {
    return r.sequences_size() == 2 && r.sequences(0).tokens() > finals[0].tokens() + 10;
  }));
  auto target_report = target->wait_report([](const v1::SequenceReport& r) { return r.free_slots() == 4; });
  ASSERT_TRUE(target_report);
  EXPECT_EQ(target_report->sequences_size(), 0);
  EXPECT_EQ(stop(source_pid), 0);
  EXPECT_EQ(stop(target_pid), 0);
  source_pid = target_pid = -1;

  const LogReport logs = check_logs();
  EXPECT_TRUE(logs.ok());
  EXPECT_EQ(logs.handoffs.size(), 0u);
  EXPECT_EQ(logs.sequences, 2u);
}

TEST_F(DecodeSimMigration, PrefilledSlotsStartDecodingOnceTheirKvLandsAndIsRight) {
  target_pid = spawn_decode_sim({"--socket", target->path(), "--prefill-slots", "2", "--capacity", "4",
                                 "--kv-bytes-per-token", std::to_string(kBytesPerToken), "--max-tokens",
                                 std::to_string(kMaxTokens), "--step-ms", "5", "--first-id", "40", "--token-log",
                                 dir + "/h2.log"});
  ASSERT_TRUE(target->decode_registered());
  // Migration copies into other slots, or partial writes, start nothing.
  target->inbound("h1", 1, 2 * kSlotBytes, 64 * kBytesPerToken);
  for (uint32_t k = 0; k < 2; ++k) write_kv({target->slot(k), kSlotBytes}, 40 + k, 0, 64, kBytesPerToken);
  target->inbound("h1", 1, 0, 64 * kBytesPerToken);
  target->inbound("h1", 1, kSlotBytes, 64 * kBytesPerToken);
  auto report = target->wait_report([](const v1::SequenceReport& r) {
    return r.sequences_size() == 2 && r.sequences(1).tokens() > 70;
  });
  ASSERT_TRUE(report);
  EXPECT_EQ(report->sequences(0).id(), 40u);
  EXPECT_EQ(report->sequences(1).id(), 41u);
  EXPECT_EQ(report->free_slots(), 2u);
  EXPECT_EQ(stop(target_pid), 0);
  target_pid = -1;
  const LogReport logs = check_logs({"h2.log"});
  EXPECT_TRUE(logs.ok());
  EXPECT_EQ(logs.sequences, 2u);
}

TEST_F(DecodeSimMigration, AWrongPrefillFailsTheRun) {
  target_pid = spawn_decode_sim({"--socket", target->path(), "--prefill-slots", "1", "--capacity", "2",
                                 "--kv-bytes-per-token", std::to_string(kBytesPerToken), "--max-tokens",
                                 std::to_string(kMaxTokens), "--first-id", "40"});
  ASSERT_TRUE(target->decode_registered());
  write_kv({target->slot(0), kSlotBytes}, 41, 0, 8, kBytesPerToken);  // another sequence's KV
  target->inbound("h1", 1, 0, 8 * kBytesPerToken);
  int status = 0;
  ASSERT_EQ(::waitpid(target_pid, &status, 0), target_pid);
  target_pid = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
}

}  // namespace
}  // namespace railyard::decode_sim
