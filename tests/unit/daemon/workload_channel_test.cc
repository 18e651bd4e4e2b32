// The throttle channel end to end on a Unix socket: WorkloadServer sends a
// ThrottleCommand to every workload, librailyard queues it behind event_fd,
// the workload acks, the server reports the result once; a workload that
// connects later gets the level in force.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <future>
#include <thread>

#include "client/workload.h"
#include "daemon/workload_server.h"

namespace railyard::daemon {
namespace {

class WorkloadChannel : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "the workload socket serves root or its group; run as root";
    char tmpl[] = "/tmp/railyard-wl-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir = tmpl;
    path = dir + "/workload.sock";
    server = std::make_unique<WorkloadServer>(
        io, regions,
        TransferPort{.post = [](uint64_t, const v1::PostTransfer&) { return TransferPort::Posted{}; },
                     .abandon_owner = [](uint64_t) {},
                     .peer_names = [] { return std::vector<std::string>{}; }});
    server->on_throttle_result([this](uint64_t id, bool ok, const std::string& message) {
      std::lock_guard lock(mu);
      results.emplace_back(id, ok, message);
    });
    server->open({.socket_path = path, .socket_mode = 0600, .group = "", .host_name = "h"});
    thread = std::thread([this] { io.run(); });
  }
  void TearDown() override {
    if (!server) return;
    on_io([this] { server->close(); });
    guard.reset();
    io.stop();
    thread.join();
    server.reset();
    ::rmdir(dir.c_str());
  }
  template <class F>
  std::invoke_result_t<F> on_io(F f) {
    std::packaged_task<std::invoke_result_t<F>()> task(std::move(f));
    auto result = task.get_future();
    boost::asio::post(io, [&task] { task(); });
    return result.get();
  }
  static std::optional<ThrottleCommand> wait_command(Workload& w) {
    for (int i = 0; i < 100; ++i) {
      if (auto c = w.next_command()) return c;
      pollfd p{.fd = w.event_fd(), .events = POLLIN, .revents = 0};
      ::poll(&p, 1, 20);
    }
    return std::nullopt;
  }
  size_t result_count() {
    std::lock_guard lock(mu);
    return results.size();
  }

  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{io.get_executor()};
  RegionTable regions;
  std::unique_ptr<WorkloadServer> server;
  std::thread thread;
  std::string dir, path;
  std::mutex mu;
  std::vector<std::tuple<uint64_t, bool, std::string>> results;
};

v1::ThrottleCommand command(uint32_t level, uint64_t id, bool drain = false) {
  v1::ThrottleCommand c;
  c.set_level(level);
  c.set_level_name(level == 2 ? "batch" : "x");
  c.set_reason("coolant ramp");
  c.set_command_id(id);
  c.set_drain(drain);
  return c;
}

TEST_F(WorkloadChannel, CommandAckedByEveryWorkload) {
  auto a = Workload::connect(path, "a");
  auto b = Workload::connect(path, "b");
  ASSERT_TRUE(a) << a.message();
  ASSERT_TRUE(b) << b.message();
  EXPECT_EQ(on_io([this] { return server->throttle(command(2, 7)); }), 2u);
  auto ca = wait_command(a.value());
  auto cb = wait_command(b.value());
  ASSERT_TRUE(ca && cb);
  EXPECT_EQ(ca->level, 2u);
  EXPECT_EQ(ca->level_name, "batch");
  EXPECT_EQ(ca->reason, "coolant ramp");
  EXPECT_EQ(ca->command_id, 7u);
  EXPECT_FALSE(ca->drain);
  ASSERT_TRUE(a.value().ack(7));
  EXPECT_EQ(result_count(), 0u);  // b has not answered yet
  ASSERT_TRUE(b.value().ack(7));
  ASSERT_EQ(result_count(), 1u);
  EXPECT_EQ(std::get<0>(results[0]), 7u);
  EXPECT_TRUE(std::get<1>(results[0]));
  // A stale ack of an older command is ignored.
  ASSERT_TRUE(a.value().ack(3));
  EXPECT_EQ(result_count(), 1u);
}

TEST_F(WorkloadChannel, RefusalAndLateJoiner) {
  auto a = Workload::connect(path, "a");
  ASSERT_TRUE(a);
  EXPECT_EQ(on_io([this] { return server->throttle(command(6, 9, true)); }), 1u);
  auto c = wait_command(a.value());
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->drain);
  ASSERT_TRUE(a.value().ack(9, false, "cannot drain: no peer"));
  ASSERT_EQ(result_count(), 1u);
  EXPECT_FALSE(std::get<1>(results[0]));
  EXPECT_NE(std::get<2>(results[0]).find("cannot drain: no peer"), std::string::npos);
  EXPECT_NE(std::get<2>(results[0]).find("'a'"), std::string::npos);
  // A workload connecting now learns the level in force.
  auto late = Workload::connect(path, "late");
  ASSERT_TRUE(late);
  auto lc = wait_command(late.value());
  ASSERT_TRUE(lc);
  EXPECT_EQ(lc->command_id, 9u);
  EXPECT_EQ(lc->level, 6u);
}

TEST_F(WorkloadChannel, NoWorkloadNoAnswer) {
  EXPECT_EQ(on_io([this] { return server->throttle(command(1, 1)); }), 0u);
  EXPECT_EQ(result_count(), 0u);
}

TEST_F(WorkloadChannel, DecodeRegistrationReportsAndTheirRefusal) {
  auto w = Workload::connect(path, "decode");
  ASSERT_TRUE(w.ok()) << w.message();
  // A report before register_decode is refused; the next report() says so.
  ASSERT_TRUE(w.value().report(SequenceReport{.sequences = {}, .tokens_per_second = 0, .free_slots = 1,
                                              .throttle_level = 0}).ok());
  Result<Empty> refused = Empty{};
  for (int i = 0; i < 100 && refused.ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    refused = w.value().report({});
  }
  EXPECT_EQ(refused.error(), Error::bad_request);
  EXPECT_NE(refused.message().find("register_decode first"), std::string::npos) << refused.message();

  EXPECT_FALSE(w.value().register_decode(7, 4, 1024).ok());  // no such region
  auto region = w.value().register_region(4 * 1024, 7);
  ASSERT_TRUE(region.ok()) << region.message();
  EXPECT_FALSE(w.value().register_decode(7, 4, 2048).ok());  // 4 x 2 KiB do not fit 4 KiB
  ASSERT_TRUE(w.value().register_decode(7, 4, 1024).ok());
  ASSERT_TRUE(w.value().report(SequenceReport{.sequences = {{.id = 9, .slot = 1, .kv_bytes = 64, .tokens = 2,
                                                             .last_token = 5, .kv_crc32c = 0}},
                                              .tokens_per_second = 50, .free_slots = 3, .throttle_level = 0}).ok());
  bool seen = false;
  for (int i = 0; i < 100 && !seen; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    seen = on_io([this] { return server->decode() && server->decode()->report.sequences_size() == 1; });
  }
  EXPECT_TRUE(seen);

  // Deregistering the KV region ends the registration.
  ASSERT_TRUE(w.value().deregister_region(7).ok());
  EXPECT_FALSE(on_io([this] { return server->decode().has_value(); }));
}

}  // namespace
}  // namespace railyard::daemon
