// The generated host, walked from the service root by railyard's own
// Discovery and read by extract() + merge_sweep(), exactly as the daemon will:
// every Sensor and LeakDetector the model serves must come out with its value,
// unit and thresholds, in every schema variant, with and without $expand.

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <filesystem>
#include <map>

#include "drivers/bmc/redfish/discovery.h"
#include "drivers/bmc/redfish/extract.h"
#include "tools/bmc-sim/mockup.h"
#include "tools/bmc-sim/model.h"

namespace railyard::bmcsim {
namespace {

namespace json = boost::json;
namespace rf = railyard::redfish;

const rf::TimePoint kNow = rf::TimePoint{} + std::chrono::seconds(1'750'000'000);

struct Walk {
  std::vector<rf::PollTarget> targets;
  std::vector<rf::Reading> readings;
  rf::Problems problems;
  std::set<std::string> not_found;
  std::optional<std::string> sse;
};

std::optional<std::string> fetch(const Source& source, std::string_view uri, bool expand, double t) {
  auto doc = source.get(uri, t);
  if (!doc) return std::nullopt;
  if (expand) expand_members(source, *doc, t);
  return render(*doc);
}

Walk walk(const Source& source, double t, rf::DiscoveryOptions options = {}) {
  Walk w;
  rf::Discovery d(options);
  std::deque<rf::Fetch> queue;
  for (auto& f : d.start(*fetch(source, "/redfish/v1", false, t))) queue.push_back(f);
  while (!queue.empty()) {
    const auto f = queue.front();
    queue.pop_front();
    auto body = fetch(source, f.uri, f.expand, t);
    if (!body) {
      w.not_found.insert(f.uri);
      d.on_failure(f.uri);
      continue;
    }
    for (auto& n : d.on_document(f.uri, *body)) queue.push_back(n);
  }
  w.problems.merge(d.problems());
  w.targets = d.poll_targets();
  w.sse = d.sse_uri();
  std::vector<rf::Reading> all;
  for (const auto& target : w.targets) {
    auto body = fetch(source, target.uri, target.expand, t);
    if (!body) {
      w.not_found.insert(target.uri);
      continue;
    }
    auto r = rf::extract(target.uri, *body, {.chassis_id = target.chassis_id, .read_at = kNow, .hint = target.kind});
    w.problems.merge(r.problems);
    for (auto& reading : r.readings) all.push_back(std::move(reading));
  }
  w.readings = rf::merge_sweep(std::move(all));
  return w;
}

const rf::Reading* find(const std::vector<rf::Reading>& readings, std::string_view id) {
  for (const auto& r : readings) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

std::string ids(const std::vector<rf::Reading>& readings) {
  std::string out;
  for (const auto& r : readings) out += r.id + "\n";
  return out;
}

void expect_limits(const rf::Thresholds& got, const Limits& want, std::string_view what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(got.upper_caution, want.upper_caution);
  EXPECT_EQ(got.upper_critical, want.upper_critical);
  EXPECT_EQ(got.upper_fatal, want.upper_fatal);
  EXPECT_EQ(got.lower_caution, want.lower_caution);
  EXPECT_EQ(got.lower_critical, want.lower_critical);
}

rf::Kind expected_kind(std::string_view id) {
  if (id == "CoolantSupplyTemp") return rf::Kind::coolant_supply_temperature;
  if (id == "CoolantReturnTemp") return rf::Kind::coolant_return_temperature;
  if (id == "CoolantSupplyPressure") return rf::Kind::coolant_supply_pressure;
  if (id == "CoolantReturnPressure") return rf::Kind::coolant_return_pressure;
  if (id == "CoolantFlow") return rf::Kind::flow;
  if (id == "TotalPower") return rf::Kind::power;
  if (id.starts_with("Fan")) return rf::Kind::fan;
  return rf::Kind::temperature;
}

rf::Unit expected_unit(std::string_view units) {
  if (units == "Cel") return rf::Unit::celsius;
  if (units == "W") return rf::Unit::watts;
  if (units == "L/min") return rf::Unit::litres_per_minute;
  if (units == "kPa") return rf::Unit::kilopascals;
  if (units == "%") return rf::Unit::percent;
  return rf::Unit::other;
}

Scenario leak_scenario() {
  Scenario s;
  s.changes.push_back({.kind = Change::Kind::leak, .at = 100, .target = "ColdPlateTray", .state = "Critical"});
  s.changes.push_back({.kind = Change::Kind::leak, .at = 100, .duration = 50, .target = "CDUDrip", .state = "Warning"});
  s.changes.push_back({.kind = Change::Kind::coolant_ramp, .at = 10, .duration = 300, .rate = 3.0});
  return s;
}

class CurrentSchema : public ::testing::TestWithParam<std::tuple<Schema, bool>> {};

TEST_P(CurrentSchema, EverySensorAndLeakDetectorComesOutWithItsValueAndThresholds) {
  const auto [schema, expand] = GetParam();
  const Timeline timeline(leak_scenario());
  const Model model(timeline, {.schema = schema, .chassis_id = "h1", .expand = expand});
  for (double t : {0.0, 130.0, 400.0}) {
    SCOPED_TRACE(fmt::format("t={}", t));
    const auto w = walk(model, t);
    EXPECT_TRUE(w.problems.empty()) << w.problems.summary();
    EXPECT_TRUE(w.not_found.empty()) << *w.not_found.begin();
    EXPECT_EQ(w.sse, "/redfish/v1/EventService/SSE");
    if (expand) {
      EXPECT_TRUE(std::any_of(w.targets.begin(), w.targets.end(), [](const auto& p) {
        return p.expand && p.uri == "/redfish/v1/Chassis/h1/Sensors";
      }));
    }
    for (const auto& s : model.sensors()) {
      const auto uri = "/redfish/v1/Chassis/h1/Sensors/" + s.id;
      const auto* r = find(w.readings, uri);
      ASSERT_NE(r, nullptr) << uri << " missing from\n" << ids(w.readings);
      EXPECT_EQ(r->value, model.value(s.id, t)) << uri;
      EXPECT_EQ(r->unit, expected_unit(s.units)) << uri;
      EXPECT_EQ(r->kind, expected_kind(s.id)) << uri << " is " << rf::to_string(r->kind);
      EXPECT_EQ(r->chassis_id, "h1");
      expect_limits(r->thresholds, s.limits, uri);
    }
    for (const auto& uri : model.leak_detector_uris()) {
      const auto* r = find(w.readings, uri);
      ASSERT_NE(r, nullptr) << uri << " missing from\n" << ids(w.readings);
      EXPECT_EQ(r->kind, rf::Kind::leak);
      const auto state = timeline.leak_state(uri, t);
      EXPECT_EQ(r->value, state == "OK" ? 0.0 : 1.0) << uri;
      EXPECT_EQ(r->health, rf::parse_health(state)) << uri;
    }
    // Every excerpt of a sensor was merged into the sensor: no duplicates.
    for (const auto& r : w.readings) {
      EXPECT_TRUE(r.data_source_uri.empty()) << r.id << " still an excerpt of " << r.data_source_uri;
    }
    const auto* limit = find(w.readings, "/redfish/v1/Chassis/h1/Controls/PowerLimit");
    ASSERT_NE(limit, nullptr) << ids(w.readings);
    EXPECT_EQ(limit->kind, rf::Kind::power_limit);
    EXPECT_EQ(limit->value, timeline.host().power_limit_watts);
    const auto* level = find(w.readings, "/redfish/v1/ThermalEquipment/CoolingLoops/RackSecondary#/CoolantLevelPercent");
    ASSERT_NE(level, nullptr) << ids(w.readings);
    EXPECT_EQ(level->kind, rf::Kind::coolant_level);
    const auto* facility =
        find(w.readings, "/redfish/v1/ThermalEquipment/CDUs/1/PrimaryCoolantConnectors/1#/SupplyTemperatureCelsius");
    ASSERT_NE(facility, nullptr) << ids(w.readings);
    EXPECT_EQ(facility->kind, rf::Kind::coolant_supply_temperature);
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, CurrentSchema,
                         ::testing::Combine(::testing::Values(Schema::current, Schema::both), ::testing::Bool()),
                         [](const auto& param_info) {
                           return fmt::format("{}_{}", to_string(std::get<0>(param_info.param)),
                                              std::get<1>(param_info.param) ? "expand" : "plain");
                         });

TEST(Legacy, ThermalAndPowerCarryEveryTemperatureWithThresholdsAndThePower) {
  const Timeline timeline(leak_scenario());
  const Model model(timeline, {.schema = Schema::legacy, .chassis_id = "h2"});
  for (double t : {0.0, 200.0}) {
    const auto w = walk(model, t);
    EXPECT_TRUE(w.problems.empty()) << w.problems.summary();
    EXPECT_TRUE(w.not_found.empty());
    int index = 0;
    for (const auto& s : model.sensors()) {
      if (s.reading_type != "Temperature") continue;
      const auto id = fmt::format("/redfish/v1/Chassis/h2/Thermal#/Temperatures/{}", index++);
      const auto* r = find(w.readings, id);
      ASSERT_NE(r, nullptr) << id << " missing from\n" << ids(w.readings);
      EXPECT_EQ(r->name, s.name);
      EXPECT_EQ(r->value, model.value(s.id, t)) << id;
      EXPECT_EQ(r->unit, rf::Unit::celsius);
      EXPECT_EQ(r->thresholds.upper_caution, s.limits.upper_caution) << id;
      EXPECT_EQ(r->thresholds.upper_critical, s.limits.upper_critical) << id;
      EXPECT_EQ(r->thresholds.upper_fatal, s.limits.upper_fatal) << id;
    }
    EXPECT_EQ(index, timeline.host().gpus + 3);
    const auto* power = find(w.readings, "/redfish/v1/Chassis/h2/Power#/PowerControl/0");
    ASSERT_NE(power, nullptr) << ids(w.readings);
    EXPECT_EQ(power->value, model.value("TotalPower", t));
    int fans = 0;
    int limits = 0;
    for (const auto& r : w.readings) {
      fans += r.kind == rf::Kind::fan;
      limits += r.kind == rf::Kind::power_limit && r.value == timeline.host().power_limit_watts;
      EXPECT_EQ(r.id.find("/Sensors/"), std::string::npos) << r.id;
    }
    EXPECT_EQ(fans, timeline.host().fans);
    EXPECT_EQ(limits, 1);
  }
}

TEST(Both, LegacyResourcesAgreeWithTheSensorsWhenBothAreRead) {
  const Timeline timeline(leak_scenario());
  const Model model(timeline, {.schema = Schema::both, .chassis_id = "h3"});
  const auto w = walk(model, 250.0, {.legacy_with_sensors = true});
  EXPECT_TRUE(w.problems.empty()) << w.problems.summary();
  const auto* legacy = find(w.readings, "/redfish/v1/Chassis/h3/Thermal#/Temperatures/0");
  const auto* sensor = find(w.readings, "/redfish/v1/Chassis/h3/Sensors/GPU0Temp");
  ASSERT_NE(legacy, nullptr);
  ASSERT_NE(sensor, nullptr);
  EXPECT_EQ(legacy->value, sensor->value);
  EXPECT_EQ(legacy->thresholds.upper_critical, sensor->thresholds.upper_critical);
  // Without the option, Discovery prefers the Sensors (one physical sensor, one reading).
  const auto plain = walk(model, 250.0);
  EXPECT_EQ(find(plain.readings, "/redfish/v1/Chassis/h3/Thermal#/Temperatures/0"), nullptr);
}

TEST(Model, ReadingsFollowTheTimelineAndHealthFollowsThresholds) {
  Scenario s;
  s.changes.push_back({.kind = Change::Kind::coolant_ramp, .at = 0, .rate = 6.0});  // +6 °C/min, forever
  s.changes.push_back({.kind = Change::Kind::set, .at = 30, .duration = 30, .value = 4.0, .target = "CoolantFlow"});
  const Timeline timeline(std::move(s));
  const Model model(timeline, {});
  EXPECT_DOUBLE_EQ(model.value("CoolantSupplyTemp", 60), 36.0);
  EXPECT_DOUBLE_EQ(model.value("CoolantFlow", 45), 4.0);
  EXPECT_DOUBLE_EQ(model.value("CoolantFlow", 60), 12.0);
  // Less flow, same heat: the return runs hotter.
  EXPECT_GT(model.value("CoolantReturnTemp", 45) - model.value("CoolantSupplyTemp", 45),
            2 * (model.value("CoolantReturnTemp", 60) - model.value("CoolantSupplyTemp", 60)));
  auto doc = model.get("/redfish/v1/Chassis/GPUHost/Sensors/CoolantFlow", 45);
  ASSERT_TRUE(doc);
  EXPECT_EQ(doc->at("Status").at("Health"), "Critical");
  doc = model.get("/redfish/v1/Chassis/GPUHost/Sensors/CoolantSupplyTemp", 110);  // 41 °C: over caution 40
  EXPECT_EQ(doc->at("Status").at("Health"), "Warning");
  EXPECT_FALSE(model.get("/redfish/v1/Chassis/GPUHost/Nope", 0));
  EXPECT_TRUE(model.get("/redfish/v1/Chassis/GPUHost/", 0));
}

TEST(Render, WritesNumbersAsBmcsDo) {
  EXPECT_EQ(render(json::parse(R"({"a":60.2,"b":83.0,"c":[1,-0.5],"d":"x\"y","e":null,"f":true})")),
            R"({"a":60.2,"b":83,"c":[1,-0.5],"d":"x\"y","e":null,"f":true})");
}

TEST(Mockup, ServesTheDmtfMockupWithScenarioOverridesOnSensorsExcerptsAndLeaks) {
  const std::filesystem::path dir = std::filesystem::path(RAILYARD_MOCKUPS_DIR) / "public-cooling-unit";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << dir << " not present";
  Scenario s;
  s.changes.push_back({.kind = Change::Kind::ramp, .at = 0, .rate = 60.0, .target = "SecondaryFlow"});
  s.changes.push_back({.kind = Change::Kind::leak, .at = 5, .target = "Chassis/CDU/LeakDetectors/Moisture"});
  const Timeline timeline(std::move(s));
  const MockupSource mockup(timeline, dir, "/redfish/v1/EventService/SSE");
  const auto base = mockup.get("/redfish/v1/Chassis/CDU/Sensors/SecondaryFlow", 0);
  ASSERT_TRUE(base);
  const double flow0 = base->at("Reading").to_number<double>();
  const auto later = mockup.get("/redfish/v1/Chassis/CDU/Sensors/SecondaryFlow", 10);
  EXPECT_DOUBLE_EQ(later->at("Reading").to_number<double>(), flow0 + 10);
  // The excerpt in the CDU's connector follows its sensor.
  const auto connector = mockup.get("/redfish/v1/ThermalEquipment/CDUs/1/SecondaryCoolantConnectors/1", 10);
  EXPECT_DOUBLE_EQ(connector->at("FlowLitersPerMinute").at("Reading").to_number<double>(), flow0 + 10);
  EXPECT_EQ(mockup.get("/redfish/v1/Chassis/CDU/LeakDetectors/Moisture", 4)->at("DetectorState"), "OK");
  EXPECT_EQ(mockup.get("/redfish/v1/Chassis/CDU/LeakDetectors/Moisture", 6)->at("DetectorState"), "Critical");
  const auto group = mockup.get("/redfish/v1/ThermalEquipment/CDUs/1/LeakDetection", 6);
  EXPECT_EQ(group->at("LeakDetectorGroups").at(0).at("Detectors").at(0).at("DetectorState"), "Critical");
  // Untouched resources are served as they are.
  EXPECT_EQ(mockup.get("/redfish/v1/Chassis/CDU/LeakDetectors/Overflow", 6)->at("DetectorState"), "OK");
  EXPECT_EQ(mockup.get("/redfish/v1/EventService", 0)->at("ServerSentEventUri"), "/redfish/v1/EventService/SSE");
  const auto samples = mockup.samples(6);
  ASSERT_EQ(samples.sensors.size(), 1u);
  ASSERT_EQ(samples.leaks.size(), 1u);
  EXPECT_EQ(samples.leaks[0].state, "Critical");

  // And railyard reads the overridden value through discovery as usual.
  const auto w = walk(mockup, 10);
  const auto* r = find(w.readings, "/redfish/v1/Chassis/CDU/Sensors/SecondaryFlow");
  ASSERT_NE(r, nullptr);
  EXPECT_DOUBLE_EQ(*r->value, flow0 + 10);
  const auto* leak = find(w.readings, "/redfish/v1/Chassis/CDU/LeakDetectors/Moisture");
  ASSERT_NE(leak, nullptr);
  EXPECT_EQ(leak->value, 1.0);
}

TEST(Mockup, BothLayoutsAndAMissingOneAreRecognised) {
  const std::filesystem::path dir = std::filesystem::path(RAILYARD_MOCKUPS_DIR) / "public-liquid-cooled-server";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << dir << " not present";
  const Timeline timeline(Scenario{});
  const auto tmp = std::filesystem::temp_directory_path() / fmt::format("bmc-sim-layout-{}", ::getpid());
  std::filesystem::remove_all(tmp);
  std::filesystem::create_directories(tmp / "redfish");
  std::filesystem::create_directory_symlink(dir, tmp / "redfish" / "v1");
  const MockupSource nested(timeline, tmp, "/sse");
  const MockupSource flat(timeline, dir, "/sse");
  EXPECT_EQ(nested.resources(), flat.resources());
  EXPECT_TRUE(flat.advertises_expand());
  EXPECT_TRUE(flat.get("/redfish/v1/Chassis/1U/Sensors/CPU1Temp", 0));
  EXPECT_THROW(MockupSource(timeline, tmp / "redfish", "/sse"), std::runtime_error);
  std::filesystem::remove_all(tmp);
}

}  // namespace
}  // namespace railyard::bmcsim
