#include <gtest/gtest.h>

#include <functional>
#include <new>
#include <stdexcept>
#include <vector>
#include <limits>
#include <optional>

#include "client/framing.h"
#include "common/control_limits.h"
#include "daemon/control_service.h"
#include "daemon/fabric_service.h"

namespace railyard {
namespace {

TEST(Framing, RoundTrip) {
  v1::Request request;
  request.set_protocol_version(v1::PROTOCOL_VERSION_CURRENT);
  request.set_request_id(42);
  request.mutable_status();
  const std::string frame = framing::encode(request);
  ASSERT_GE(frame.size(), framing::kHeaderBytes);
  EXPECT_EQ(framing::decode_length(reinterpret_cast<const unsigned char*>(frame.data())),
            frame.size() - framing::kHeaderBytes);

  const std::string stream = frame + "trailing";
  auto split = framing::split(stream, 1024);
  ASSERT_EQ(split.status, framing::SplitStatus::frame);
  EXPECT_EQ(split.consumed, frame.size());
  v1::Request decoded;
  ASSERT_TRUE(daemon::decode_request(split.body, decoded));
  EXPECT_EQ(decoded.request_id(), 42u);
  EXPECT_TRUE(decoded.has_status());
}

TEST(Framing, PartialAndOversized) {
  v1::Request request;
  request.set_request_id(7);
  const std::string frame = framing::encode(request);
  EXPECT_EQ(framing::split(frame.substr(0, 2), 1024).status, framing::SplitStatus::need_more);
  EXPECT_EQ(framing::split(frame.substr(0, frame.size() - 1), 1024).status, framing::SplitStatus::need_more);
  const std::string huge_header("\x01\x00\x00\x00", 4);
  EXPECT_EQ(framing::split(huge_header, 1024).status, framing::SplitStatus::oversized);
}

class ControlServiceTest : public ::testing::Test {
 protected:
  v1::Response call(const v1::Request& request) {
    v1::Response out;
    int replies = 0;
    service.handle(request, [&](v1::Response r) {
      out = std::move(r);
      ++replies;
    });
    EXPECT_EQ(replies, 1);
    return out;
  }

  std::function<void(v1::Status, std::string, v1::SendReply)> pending_send;
  daemon::ControlService service{daemon::ControlHandlers{
      .status =
          [] {
            v1::StatusReply s;
            s.set_version("test-version");
            return s;
          },
      .rails =
          [] {
            v1::RailsReply r;
            r.add_rails()->set_name("r0");
            return r;
          },
      .peers = [] { return v1::PeersReply(); },
      .transfers = [] { return v1::TransfersReply(); },
      .bmc = [] { return v1::BmcReply(); },
      .fault = [](const v1::FaultRequest&, std::string& error, v1::FaultReply&) {
        error = "fault injection is off";
        return v1::STATUS_BAD_REQUEST;
      },
      .watch = [](const v1::WatchRequest&) { return v1::WatchUpdate(); },
      .send = [this](const v1::SendRequest&,
                     std::function<void(v1::Status, std::string, v1::SendReply)> done) { pending_send = done; },
      .policy =
          [] {
            v1::PolicyReply p;
            p.set_level("batch");
            return p;
          },
      .throttle = [this](const v1::ThrottleRequest& r, std::string& error, v1::PolicyReply& reply) {
        if (r.level() != "auto" && r.level() != "batch") {
          error = "unknown level";
          return v1::STATUS_BAD_REQUEST;
        }
        throttled = r.level();
        reply.set_mode(r.level() == "auto" ? "auto" : "override");
        return v1::STATUS_OK;
      },
      .drain =
          [] {
            v1::PolicyReply p;
            p.set_draining(true);
            return p;
          },
      .migrate =
          [this](const v1::MigrateRequest& r, std::function<void(v1::Status, std::string, v1::MigrationStatus)> done) {
            if (r.to() == "nowhere") return done(v1::STATUS_BAD_REQUEST, "no session with nowhere", {});
            pending_migration = std::move(done);  // answered later, when the migration ends
          },
      .workload =
          [] {
            v1::WorkloadReply w;
            w.set_decode_registered(true);
            w.set_capacity(64);
            return w;
          },
  }};
  std::function<void(v1::Status, std::string, v1::MigrationStatus)> pending_migration;
  std::string throttled;
};

TEST_F(ControlServiceTest, MigrateAnswersWhenTheMigrationEndsAndWorkloadAtOnce) {
  v1::Request request;
  request.set_protocol_version(1);
  request.set_request_id(9);
  request.mutable_migrate()->set_to("gpu-02");
  request.mutable_migrate()->set_wait(true);
  std::optional<v1::Response> answer;
  service.handle(request, [&](v1::Response r) { answer = std::move(r); });
  EXPECT_FALSE(answer.has_value());
  ASSERT_TRUE(pending_migration);
  v1::MigrationStatus status;
  status.set_state("done");
  pending_migration(v1::STATUS_OK, "", status);
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->request_id(), 9u);
  EXPECT_EQ(answer->migration_reply().state(), "done");

  request.mutable_migrate()->set_to("nowhere");
  service.handle(request, [&](v1::Response r) { answer = std::move(r); });
  EXPECT_EQ(answer->status(), v1::STATUS_BAD_REQUEST);
  EXPECT_EQ(answer->error(), "no session with nowhere");

  request.mutable_workload();
  service.handle(request, [&](v1::Response r) { answer = std::move(r); });
  EXPECT_EQ(answer->status(), v1::STATUS_OK);
  EXPECT_EQ(answer->workload_reply().capacity(), 64u);
}

TEST_F(ControlServiceTest, PolicyThrottleDrain) {
  v1::Request request;
  request.set_protocol_version(v1::PROTOCOL_VERSION_CURRENT);
  request.mutable_policy();
  v1::Response r = call(request);
  ASSERT_EQ(r.status(), v1::STATUS_OK);
  EXPECT_EQ(r.policy_reply().level(), "batch");
  request.mutable_throttle()->set_level("batch");
  r = call(request);
  ASSERT_EQ(r.status(), v1::STATUS_OK);
  EXPECT_EQ(throttled, "batch");
  EXPECT_EQ(r.policy_reply().mode(), "override");
  request.mutable_throttle()->set_level("scorching");
  r = call(request);
  EXPECT_EQ(r.status(), v1::STATUS_BAD_REQUEST);
  EXPECT_EQ(r.error(), "unknown level");
  request.mutable_drain();
  r = call(request);
  ASSERT_EQ(r.status(), v1::STATUS_OK);
  EXPECT_TRUE(r.policy_reply().draining());
}

TEST_F(ControlServiceTest, StatusAnswersWithRequestId) {
  v1::Request request;
  request.set_protocol_version(v1::PROTOCOL_VERSION_CURRENT);
  request.set_request_id(9);
  request.mutable_status();
  const v1::Response r = call(request);
  EXPECT_EQ(r.status(), v1::STATUS_OK);
  EXPECT_EQ(r.request_id(), 9u);
  EXPECT_EQ(r.status_reply().version(), "test-version");
}

TEST_F(ControlServiceTest, WrongVersionIsRefusedWithTheSupportedOne) {
  v1::Request request;
  request.set_protocol_version(99);
  request.mutable_status();
  const v1::Response r = call(request);
  EXPECT_EQ(r.status(), v1::STATUS_UNSUPPORTED_VERSION);
  EXPECT_NE(r.error().find("version 99 is not supported"), std::string::npos);
  EXPECT_NE(r.error().find("speaks version 1"), std::string::npos);
}

TEST_F(ControlServiceTest, EmptyRequestIsBad) {
  v1::Request request;
  request.set_protocol_version(v1::PROTOCOL_VERSION_CURRENT);
  EXPECT_EQ(call(request).status(), v1::STATUS_BAD_REQUEST);
}

TEST_F(ControlServiceTest, RailsComeFromTheFabric) {
  v1::Request request;
  request.set_protocol_version(v1::PROTOCOL_VERSION_CURRENT);
  request.mutable_rails();
  const v1::Response r = call(request);
  ASSERT_EQ(r.rails_reply().rails_size(), 1);
  EXPECT_EQ(r.rails_reply().rails(0).name(), "r0");
}

TEST_F(ControlServiceTest, SendAnswersWhenTheProbeFinishes) {
  v1::Request request;
  request.set_protocol_version(v1::PROTOCOL_VERSION_CURRENT);
  request.set_request_id(5);
  request.mutable_send()->set_peer("h2");
  std::optional<v1::Response> answer;
  service.handle(request, [&](v1::Response r) { answer = std::move(r); });
  EXPECT_FALSE(answer.has_value());
  ASSERT_TRUE(pending_send);
  v1::SendReply result;
  result.set_completed(3);
  pending_send(v1::STATUS_OK, "", result);
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->request_id(), 5u);
  EXPECT_EQ(answer->send_reply().completed(), 3u);
}

TEST(ControlDecode, GarbageIsNotARequest) {
  v1::Request request;
  EXPECT_FALSE(daemon::decode_request(std::string_view("\xff\xff\xff\xff\xff", 5), request));
}


// `railctl send --count -1` reached the daemon as 4294967295 transfers, and
// reserving a latency for each ended the daemon with std::bad_alloc.
TEST(ControlBounds, SendNumbersAreCheckedBeforeAnythingIsSizedFromThem) {
  using daemon::FabricService;
  v1::SendRequest r;
  r.set_peer("h2");
  r.set_size(4 << 20);
  EXPECT_EQ(FabricService::check_send(r), "");  // count and concurrency 0: the defaults
  r.set_count(control::kMaxProbeTransfers);
  r.set_concurrency(control::kMaxProbeConcurrency);
  EXPECT_EQ(FabricService::check_send(r), "");
  r.set_count(4294967295u);
  EXPECT_EQ(FabricService::check_send(r), "--count must be 1 to 1000000, not 4294967295");
  r.set_count(1);
  r.set_concurrency(4294967295u);
  EXPECT_EQ(FabricService::check_send(r), "--concurrency must be 1 to 1024, not 4294967295");
  r.set_concurrency(1);
  r.set_size(0);
  EXPECT_NE(FabricService::check_send(r), "");
  r.set_size(uint64_t{1} << 63);
  EXPECT_NE(FabricService::check_send(r), "");
}

TEST(ControlBounds, AFaultProbabilityOutsideZeroToOneOrNaNIsRefused) {
  using daemon::FabricService;
  v1::FaultRequest r;
  r.set_rail("r0");
  r.set_drop(0.05);
  EXPECT_EQ(FabricService::check_fault(r), "");
  for (double bad : {-0.1, 1.5, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    r.set_drop(bad);
    EXPECT_NE(FabricService::check_fault(r), "") << bad;
    r.set_drop(0);
    r.set_ecn(bad);
    EXPECT_NE(FabricService::check_fault(r), "") << bad;
    r.set_ecn(0);
  }
  r.set_traffic_class("bulk");
  EXPECT_EQ(FabricService::check_fault(r), "--class is kv or activation");
}

// A started daemon never exits on a request: a handler that throws (the
// probe's std::bad_alloc once ended the daemon) gets an error answer, once.
TEST(ControlSafety, AHandlerThatThrowsIsAnsweredWithAnErrorAndTheServiceCarriesOn) {
  int calls = 0;
  const daemon::ControlService service(daemon::ControlHandlers{
      .status = []() -> v1::StatusReply { throw std::bad_alloc(); },
      .rails = [&]() -> v1::RailsReply {
        if (++calls == 1) throw std::runtime_error("rail table in a bad state");
        return v1::RailsReply();
      },
      .send = [](const v1::SendRequest&, std::function<void(v1::Status, std::string, v1::SendReply)> done) {
        done(v1::STATUS_OK, {}, {});
        throw std::runtime_error("after answering");
      }});
  auto ask = [&](auto set_body) {
    v1::Request request;
    request.set_protocol_version(1);
    set_body(request);
    std::vector<v1::Response> answers;
    service.handle(request, [&](v1::Response r) { answers.push_back(std::move(r)); });
    return answers;
  };
  auto status = ask([](v1::Request& r) { r.mutable_status(); });
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0].status(), v1::STATUS_INTERNAL);
  EXPECT_NE(status[0].error().find("carries on"), std::string::npos) << status[0].error();
  auto rails = ask([](v1::Request& r) { r.mutable_rails(); });
  ASSERT_EQ(rails.size(), 1u);
  EXPECT_EQ(rails[0].status(), v1::STATUS_INTERNAL);
  rails = ask([](v1::Request& r) { r.mutable_rails(); });
  ASSERT_EQ(rails.size(), 1u);
  EXPECT_EQ(rails[0].status(), v1::STATUS_OK) << "the next request is served";
  auto send = ask([](v1::Request& r) { r.mutable_send(); });
  ASSERT_EQ(send.size(), 1u) << "answered once, not again for the exception after";
  EXPECT_EQ(send[0].status(), v1::STATUS_OK);
}

// Any member of the control group could drain, freeze or inject faults;
// control.read_group's members may only read (issue 20).
TEST(ControlRoles, ReadsAreNotActionsAndEveryActionIs) {
  auto request = [](auto set) {
    v1::Request r;
    set(r);
    return r;
  };
  for (const v1::Request& r :
       {request([](v1::Request& q) { q.mutable_status(); }), request([](v1::Request& q) { q.mutable_rails(); }),
        request([](v1::Request& q) { q.mutable_peers(); }), request([](v1::Request& q) { q.mutable_transfers(); }),
        request([](v1::Request& q) { q.mutable_bmc(); }), request([](v1::Request& q) { q.mutable_watch(); }),
        request([](v1::Request& q) { q.mutable_policy(); }), request([](v1::Request& q) { q.mutable_workload(); })})
    EXPECT_FALSE(daemon::ControlService::is_action(r)) << daemon::ControlService::request_name(r);
  for (const v1::Request& r :
       {request([](v1::Request& q) { q.mutable_send(); }), request([](v1::Request& q) { q.mutable_fault(); }),
        request([](v1::Request& q) { q.mutable_throttle(); }), request([](v1::Request& q) { q.mutable_drain(); }),
        request([](v1::Request& q) { q.mutable_migrate(); })})
    EXPECT_TRUE(daemon::ControlService::is_action(r)) << daemon::ControlService::request_name(r);
  EXPECT_EQ(daemon::ControlService::request_name(request([](v1::Request& q) { q.mutable_drain(); })), "drain");
}

}  // namespace
}  // namespace railyard
