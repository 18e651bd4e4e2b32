// Events raised from samples (and read back by railyard's SSE layer),
// credentials, Basic auth, sessions that expire and run out.

#include <boost/beast/core/detail/base64.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "drivers/bmc/redfish/sse.h"
#include "tools/bmc-sim/auth.h"
#include "tools/bmc-sim/events.h"

namespace railyard::bmcsim {
namespace {

namespace json = boost::json;
namespace rf = railyard::redfish;

Samples gpu_at(double value, std::string leak = "OK") {
  Samples s;
  s.sensors.push_back({"/redfish/v1/Chassis/h/Sensors/GPU0Temp", "GPU 0 Temperature", "Cel", value,
                       {.upper_caution = 83, .upper_critical = 90, .upper_fatal = 95}});
  s.sensors.push_back({"/redfish/v1/Chassis/h/Sensors/CoolantFlow", "Coolant Flow", "L/min", 12,
                       {.lower_caution = 7, .lower_critical = 5}});
  s.leaks.push_back({"/redfish/v1/Chassis/h/ThermalSubsystem/LeakDetection/LeakDetectors/ColdPlateTray",
                     "GPU Cold Plate Drip Tray", std::move(leak)});
  return s;
}

std::vector<std::string> ids(const std::vector<json::object>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.emplace_back(r.at("MessageId").as_string());
  return out;
}

TEST(Events, ThresholdCrossingsInBothDirections) {
  EventMonitor m;
  EXPECT_TRUE(m.update(gpu_at(88), "T").empty());  // the first call only primes
  EXPECT_TRUE(m.update(gpu_at(89), "T").empty());
  EXPECT_EQ(ids(m.update(gpu_at(91), "T")), std::vector<std::string>{"SensorEvent.1.0.ReadingAboveUpperCriticalThreshold"});
  EXPECT_EQ(ids(m.update(gpu_at(96), "T")), std::vector<std::string>{"SensorEvent.1.0.ReadingAboveUpperFatalThreshold"});
  EXPECT_EQ(ids(m.update(gpu_at(85), "T")), std::vector<std::string>{"SensorEvent.1.0.ReadingBelowUpperCriticalThreshold"});
  const auto normal = m.update(gpu_at(60), "T");
  ASSERT_EQ(ids(normal), std::vector<std::string>{"SensorEvent.1.0.SensorReadingNormalRange"});
  EXPECT_EQ(normal[0].at("MessageSeverity"), "OK");
  const auto caution = m.update(gpu_at(83.5), "T");
  ASSERT_EQ(caution.size(), 1u);
  EXPECT_EQ(caution[0].at("Message"), "Sensor 'GPU 0 Temperature' reading of 83.5 (Cel) is above the 83 upper caution threshold.");
  EXPECT_EQ(caution[0].at("MessageArgs"), (json::array{"GPU 0 Temperature", "83.5", "Cel", "83"}));
  EXPECT_EQ(caution[0].at("OriginOfCondition").at("@odata.id"), "/redfish/v1/Chassis/h/Sensors/GPU0Temp");
}

TEST(Events, ALeakBecomesAnEnvironmentalEventRailyardTurnsIntoAnAlarm) {
  EventMonitor m;
  m.update(gpu_at(60), "T");
  const auto records = m.update(gpu_at(60, "Critical"), "2026-01-01T00:00:00Z");
  ASSERT_EQ(ids(records), (std::vector<std::string>{"Environmental.1.1.LeakDetectedCritical",
                                                    "ResourceEvent.1.0.ResourceChanged"}));
  const auto payload = event_payload(7, records);
  rf::Problems problems;
  const auto event = rf::parse_event(payload, problems);
  ASSERT_TRUE(event);
  EXPECT_TRUE(problems.empty()) << problems.summary();
  EXPECT_EQ(event->id, "7");
  const auto actions = rf::actions_for(*event);
  ASSERT_FALSE(actions.empty());
  EXPECT_EQ(actions[0].type, rf::EventAction::Type::leak_alarm);
  EXPECT_EQ(actions[0].severity, rf::Health::critical);
  EXPECT_EQ(actions[0].uri, "/redfish/v1/Chassis/h/ThermalSubsystem/LeakDetection/LeakDetectors/ColdPlateTray");
  const auto cleared = rf::parse_event(event_payload(8, m.update(gpu_at(60, "OK"), "T")), problems);
  ASSERT_TRUE(cleared);
  EXPECT_EQ(rf::actions_for(*cleared).at(0).type, rf::EventAction::Type::leak_clear);
}

TEST(Credentials, ParseAndBasic) {
  std::string error;
  auto c = parse_credentials("# users\nroot:0penBmc\n\nops:pa:ss\r\n", "creds", error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->at("ops"), "pa:ss");
  EXPECT_FALSE(parse_credentials("nobody\n", "creds", error));
  EXPECT_EQ(error, "creds:1: expected user:password");
  EXPECT_FALSE(parse_credentials("# none\n", "creds", error));
  auto basic = [](std::string_view up) {
    std::string out(boost::beast::detail::base64::encoded_size(up.size()), '\0');
    out.resize(boost::beast::detail::base64::encode(out.data(), up.data(), up.size()));
    return "Basic " + out;
  };
  EXPECT_EQ(check_basic(basic("ops:pa:ss"), *c), "ops");
  EXPECT_FALSE(check_basic(basic("ops:pa"), *c));
  EXPECT_FALSE(check_basic(basic("ghost:x"), *c));
  EXPECT_FALSE(check_basic("Basic !!!", *c));
  EXPECT_FALSE(check_basic("Bearer abc", *c));
}

TEST(Sessions, LoginUseExpireDeleteAndTheLimit) {
  using namespace std::chrono_literals;
  const Credentials creds{{"root", "pw"}};
  int n = 0;
  SessionStore store(2, 10s, [&n](std::size_t bytes) { return fmt::format("{}-{}", bytes, ++n); });
  const SessionStore::Clock::time_point t0{};
  SessionStore::LoginError error{};
  EXPECT_FALSE(store.login("root", "nope", creds, t0, error));
  EXPECT_EQ(error, SessionStore::LoginError::bad_credentials);
  auto a = store.login("root", "pw", creds, t0, error);
  auto b = store.login("root", "pw", creds, t0 + 1s, error);
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->token, b->token);
  EXPECT_FALSE(store.login("root", "pw", creds, t0 + 2s, error));
  EXPECT_EQ(error, SessionStore::LoginError::exhausted);
  // Using a session keeps it alive; the idle one expires and frees a slot.
  ASSERT_NE(store.use(b->token, t0 + 9s), nullptr);
  EXPECT_EQ(store.use(a->token, t0 + 10s), nullptr);
  EXPECT_NE(store.use(b->token, t0 + 18s), nullptr);
  EXPECT_EQ(store.size(t0 + 18s), 1u);
  auto c = store.login("root", "pw", creds, t0 + 18s, error);
  ASSERT_TRUE(c);
  EXPECT_TRUE(store.remove(c->id));
  EXPECT_FALSE(store.remove(c->id));
  EXPECT_EQ(store.use(c->token, t0 + 18s), nullptr);
  EXPECT_EQ(random_hex(16).size(), 32u);
}

}  // namespace
}  // namespace railyard::bmcsim
