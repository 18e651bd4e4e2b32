// Both DMTF mockups, walked from the service root as the HTTP client will:
// discovery, one sweep, merge. Every Sensor and LeakDetector resource in the
// mockup directories is found independently of the library (by walking the
// files) and must come out with the value, unit, state and thresholds
// written in its file.

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/unit/bmc/mockup_service.h"

namespace railyard::redfish {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using mock::MockupService;

const fs::path kMockups = RAILYARD_MOCKUPS_DIR;
const TimePoint kNow = TimePoint{} + std::chrono::seconds(1'750'000'000);

struct ResourceFile {
  std::string uri;  // from the file's place in the tree, as the service serves it
  json::object doc;
};

// Every index.json below `root` whose @odata.type is of schema `type`.
std::vector<ResourceFile> files_of_type(const fs::path& root, std::string_view type) {
  std::vector<ResourceFile> out;
  const std::string prefix = "#" + std::string(type) + ".";
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.path().filename() != "index.json") continue;
    auto doc = json::parse(mock::read_file(entry.path())).as_object();
    const auto* t = doc.if_contains("@odata.type");
    if (t == nullptr || !t->as_string().starts_with(prefix)) continue;
    const auto rel = fs::relative(entry.path().parent_path(), root).generic_string();
    out.push_back({rel == "." ? "/redfish/v1" : "/redfish/v1/" + rel, std::move(doc)});
  }
  std::sort(out.begin(), out.end(),
            [](const ResourceFile& a, const ResourceFile& b) { return a.uri < b.uri; });
  return out;
}

const Reading* find(const std::vector<Reading>& readings, std::string_view id) {
  for (const auto& r : readings) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

std::optional<double> number(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return std::nullopt;
  return v->to_number<double>();
}

std::string string(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

using ThresholdField = std::optional<double> Thresholds::*;
const std::map<std::string, ThresholdField> kThresholdFields{
    {"UpperCaution", &Thresholds::upper_caution},
    {"UpperCritical", &Thresholds::upper_critical},
    {"UpperFatal", &Thresholds::upper_fatal},
    {"LowerCaution", &Thresholds::lower_caution},
    {"LowerCritical", &Thresholds::lower_critical},
    {"LowerFatal", &Thresholds::lower_fatal},
    {"UpperCautionUser", &Thresholds::upper_caution_user},
    {"UpperCriticalUser", &Thresholds::upper_critical_user},
    {"LowerCautionUser", &Thresholds::lower_caution_user},
    {"LowerCriticalUser", &Thresholds::lower_critical_user},
};

// A reading that is not a Sensor or LeakDetector resource of its own.
struct Extra {
  std::string id;
  Kind kind;
  std::optional<double> value;
};

struct MockupCase {
  std::string dir;
  std::string chassis;
  std::vector<Extra> extras;
  /// LeakDetector files no document links to (checked below).
  std::vector<std::string> unlinked_leak_detectors;
  std::set<std::string> not_found;
  std::uint64_t id_mismatches;
};

MockupCase cooling_unit() {
  return {
      .dir = "public-cooling-unit",
      .chassis = "CDU",
      .extras =
          {
              {"/redfish/v1/ThermalEquipment/CDUs/1", Kind::health, 1.0},  // Health Warning
              {"/redfish/v1/ThermalEquipment/CDUs/1/Pumps/1#/PumpSpeedPercent", Kind::pump, 38.5},
              {"/redfish/v1/ThermalEquipment/CDUs/1/Pumps/2#/PumpSpeedPercent", Kind::pump, 0.0},
          },
      // The CDU's LeakDetection has no LeakDetectors link in this mockup; its
      // groups point at the chassis' detectors, which are read.
      .unlinked_leak_detectors =
          {
              "/redfish/v1/ThermalEquipment/CDUs/1/LeakDetection/LeakDetectors/Moisture",
              "/redfish/v1/ThermalEquipment/CDUs/1/LeakDetection/LeakDetectors/Overflow",
          },
      .not_found = {},
      // Sensors/SecondaryHeatLoad says it is PrimaryHeatLoad.
      .id_mismatches = 1,
  };
}

MockupCase liquid_cooled_server() {
  const std::string psu = "/redfish/v1/Chassis/1U/PowerSubsystem/PowerSupplies/Bay1/Metrics#/";
  const std::string cc = "/redfish/v1/Chassis/1U/ThermalSubsystem/CoolantConnectors/";
  const std::string s = "/redfish/v1/Chassis/1U/Sensors/";
  const std::string cdu = "/redfish/v1/CoolingEquipment/RackCDUs/1/Sensors/";
  return {
      .dir = "public-liquid-cooled-server",
      .chassis = "1U",
      .extras =
          {
              {"/redfish/v1/Chassis/1U/Controls/PowerLimit", Kind::power_limit, 500.0},
              {"/redfish/v1/Chassis/1U/PowerSubsystem/PowerSupplies/Bay1", Kind::health, 1.0},
              {"/redfish/v1/Chassis/1U/PowerSubsystem/PowerSupplies/Bay2", Kind::health,
               std::nullopt},  // Absent
              // PowerSupplyMetrics excerpts whose DataSourceUri names no Sensor.
              {psu + "FanSpeedPercent", Kind::fan, 68.0},
              {psu + "FrequencyHz", Kind::frequency, 60.0},
              {psu + "OutputPowerWatts", Kind::power, 937.4},
              {psu + "RailCurrentAmps/0", Kind::current, 9.84},
              {psu + "RailCurrentAmps/1", Kind::current, 1.25},
              {psu + "RailCurrentAmps/2", Kind::current, 2.58},
              {psu + "RailPowerWatts/0", Kind::power, 79.84},
              {psu + "RailPowerWatts/1", Kind::power, 26.25},
              {psu + "RailPowerWatts/2", Kind::power, 91.58},
              {psu + "RailVoltage/0", Kind::voltage, 3.31},
              {psu + "RailVoltage/1", Kind::voltage, 5.03},
              {psu + "RailVoltage/2", Kind::voltage, 12.06},
              {psu + "TemperatureCelsius", Kind::temperature, 43.9},
              // Cold plates whose Sensors live on a CDU elsewhere.
              {cc + "CPU1#/SupplyTemperatureCelsius", Kind::coolant_supply_temperature, 14.8},
              {cc + "CPU1#/ReturnTemperatureCelsius", Kind::coolant_return_temperature, 38.2},
              {cc + "CPU1#/DeltaTemperatureCelsius", Kind::coolant_delta_temperature, 23.4},
              {cc + "CPU2#/SupplyTemperatureCelsius", Kind::coolant_supply_temperature, 22.4},
              {cc + "CPU2#/ReturnTemperatureCelsius", Kind::coolant_return_temperature, 46.9},
              {cc + "CPU2#/DeltaTemperatureCelsius", Kind::coolant_delta_temperature, 24.5},
              {"/redfish/v1/Chassis/1U/ThermalSubsystem/Pumps/CPU1#/PumpSpeedPercent", Kind::pump,
               68.0},
              {"/redfish/v1/Chassis/1U/ThermalSubsystem/Pumps/CPU2#/PumpSpeedPercent", Kind::pump,
               55.0},
          },
      .unlinked_leak_detectors = {},
      // DataSourceUris naming Sensors the mockup does not have.
      .not_found =
          {
              s + "PS1Fan", s + "PS1InputFrequency", s + "PS1OutputPower", s + "PS1Temp",
              s + "PS1_12Current", s + "PS1_12VOutput", s + "PS1_12VPower", s + "PS1_3VCurrent",
              s + "PS1_3VOutput", s + "PS1_3VPower", s + "PS1_5VCurrent", s + "PS1_5VOutput",
              s + "PS1_5VPower", cdu + "LoopADiffTemp", cdu + "LoopAReturnTemp",
              cdu + "LoopASupplyTemp",
          },
      .id_mismatches = 0,
  };
}

struct Param {
  const char* name;
  MockupCase (*mockup)();
  bool expand;
};

void PrintTo(const Param& p, std::ostream* os) { *os << p.name; }

class MockupTest : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    mockup_ = GetParam().mockup();
    root_ = kMockups / mockup_.dir;
    ASSERT_TRUE(fs::exists(root_ / "index.json")) << root_;
    service_ = std::make_unique<MockupService>(root_);
    walk_ = mock::discover(discovery_, *service_, GetParam().expand);
    ASSERT_TRUE(discovery_.done());
    sweep_ = mock::poll(walk_.targets, *service_, kNow);
  }

  MockupCase mockup_;
  fs::path root_;
  std::unique_ptr<MockupService> service_;
  Discovery discovery_;
  mock::Walk walk_;
  mock::Sweep sweep_;
};

TEST_P(MockupTest, EverySensorResourceIsReadWithItsValueUnitStateAndThresholds) {
  const auto sensors = files_of_type(root_, "Sensor");
  ASSERT_FALSE(sensors.empty());
  for (const auto& file : sensors) {
    SCOPED_TRACE(file.uri);
    const Reading* r = find(sweep_.readings, file.uri);
    ASSERT_NE(r, nullptr) << "sensor not extracted";
    EXPECT_EQ(r->source_uri, file.uri);
    EXPECT_EQ(r->chassis_id, mockup_.chassis);
    EXPECT_EQ(r->read_at, kNow);
    EXPECT_TRUE(r->data_source_uri.empty());

    // Redfish "kW" (Heat) is reported in W; every other unit in these
    // mockups is already the normalised one.
    const std::string units = string(file.doc, "ReadingUnits");
    const double scale = units == "kW" ? 1000.0 : 1.0;
    if (!units.empty()) {
      EXPECT_EQ(symbol(r->unit), units == "kW" ? "W" : units);
      EXPECT_EQ(r->raw_unit, units);
    }
    const auto expected = number(file.doc, "Reading");
    ASSERT_EQ(r->value.has_value(), expected.has_value());
    if (expected) {
      EXPECT_DOUBLE_EQ(*r->value, *expected * scale);
    }

    const auto& status = file.doc.at("Status").as_object();
    EXPECT_EQ(to_string(r->state), string(status, "State"));
    if (status.contains("Health")) {
      EXPECT_EQ(to_string(r->health), string(status, "Health"));
    }

    Thresholds want;
    if (const auto* t = file.doc.if_contains("Thresholds")) {
      for (const auto& [key, entry] : t->as_object()) {
        auto field = kThresholdFields.find(std::string(key));
        ASSERT_NE(field, kThresholdFields.end()) << key;
        want.*(field->second) = *number(entry.as_object(), "Reading") * scale;
      }
    }
    EXPECT_EQ(r->thresholds, want);
    EXPECT_NE(r->kind, Kind::other);
  }
}

TEST_P(MockupTest, EveryLinkedLeakDetectorIsReadAsALeakReading) {
  for (const auto& file : files_of_type(root_, "LeakDetector")) {
    SCOPED_TRACE(file.uri);
    const bool unlinked = std::find(mockup_.unlinked_leak_detectors.begin(),
                                    mockup_.unlinked_leak_detectors.end(),
                                    file.uri) != mockup_.unlinked_leak_detectors.end();
    const Reading* r = find(sweep_.readings, file.uri);
    if (unlinked) {
      EXPECT_EQ(r, nullptr);
      continue;
    }
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->kind, Kind::leak);
    EXPECT_EQ(r->unit, Unit::boolean);
    const auto state = string(file.doc, "DetectorState");
    EXPECT_EQ(to_string(r->health), state);
    ASSERT_TRUE(r->value.has_value());
    EXPECT_EQ(*r->value, state == "OK" ? 0.0 : 1.0);
  }
}

// Guards the exemption above: the only document naming the detectors'
// collection is the collection itself, so no client could find it.
TEST_P(MockupTest, ExemptLeakDetectorsAreReallyUnlinked) {
  for (const auto& uri : mockup_.unlinked_leak_detectors) {
    const std::string collection = uri.substr(0, uri.rfind('/'));
    for (const auto& entry : fs::recursive_directory_iterator(root_)) {
      if (entry.path().filename() != "index.json") continue;
      const auto text = mock::read_file(entry.path());
      if (text.find("\"" + collection + "\"") == std::string::npos) continue;
      const auto rel = fs::relative(entry.path().parent_path(), root_).generic_string();
      EXPECT_EQ("/redfish/v1/" + rel, collection) << entry.path() << " links " << collection;
    }
  }
}

TEST_P(MockupTest, EveryOtherReadingIsAccountedFor) {
  for (const auto& extra : mockup_.extras) {
    SCOPED_TRACE(extra.id);
    const Reading* r = find(sweep_.readings, extra.id);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->kind, extra.kind) << to_string(r->kind);
    ASSERT_EQ(r->value.has_value(), extra.value.has_value());
    if (extra.value) {
      EXPECT_DOUBLE_EQ(*r->value, *extra.value);
    }
    EXPECT_EQ(r->chassis_id, mockup_.chassis);
  }
  const auto sensors = files_of_type(root_, "Sensor").size();
  const auto leaks =
      files_of_type(root_, "LeakDetector").size() - mockup_.unlinked_leak_detectors.size();
  EXPECT_EQ(sweep_.readings.size(), sensors + leaks + mockup_.extras.size()) << [&] {
    std::string all;
    for (const auto& r : sweep_.readings) all += r.id + "\n";
    return all;
  }();
}

TEST_P(MockupTest, ReadingIdsAreUnique) {
  std::set<std::string> ids;
  for (const auto& r : sweep_.readings) EXPECT_TRUE(ids.insert(r.id).second) << r.id;
}

TEST_P(MockupTest, ProblemsAreOnlyTheMockupsOwnInconsistencies) {
  EXPECT_EQ(discovery_.problems().total(), 0u) << discovery_.problems().summary();
  EXPECT_EQ(sweep_.problems.count(ProblemKind::id_mismatch), mockup_.id_mismatches);
  EXPECT_EQ(sweep_.problems.total(), mockup_.id_mismatches) << sweep_.problems.summary();
  EXPECT_EQ(walk_.not_found, mockup_.not_found);
  EXPECT_EQ(discovery_.failed(), mockup_.not_found);
}

TEST_P(MockupTest, OnlyServiceUrisAreRequested) {
  for (const auto& uri : service_->requests()) EXPECT_TRUE(uri.starts_with("/redfish/v1")) << uri;
}

TEST_P(MockupTest, ExpandedCollectionsArePolledInOneRequest) {
  const bool any_expanded = std::any_of(walk_.targets.begin(), walk_.targets.end(),
                                        [](const PollTarget& t) { return t.expand; });
  EXPECT_EQ(any_expanded, GetParam().expand);
  if (GetParam().expand) {
    const auto sensors = std::find_if(walk_.targets.begin(), walk_.targets.end(),
                                      [](const PollTarget& t) {
                                        return t.kind == ResourceKind::sensor_collection;
                                      });
    ASSERT_NE(sensors, walk_.targets.end());
    EXPECT_TRUE(sensors->expand);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Dmtf, MockupTest,
    ::testing::Values(Param{"CoolingUnit", &cooling_unit, false},
                      Param{"CoolingUnitExpand", &cooling_unit, true},
                      Param{"LiquidCooledServer", &liquid_cooled_server, false},
                      Param{"LiquidCooledServerExpand", &liquid_cooled_server, true}),
    [](const ::testing::TestParamInfo<Param>& p) { return std::string(p.param.name); });

// --- Specific values, read off the mockup files ---------------------------

class CoolingUnitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MockupService service(kMockups / "public-cooling-unit");
    Discovery discovery;
    walk = mock::discover(discovery, service);
    readings = mock::poll(walk.targets, service, kNow).readings;
    expand = discovery.expand();
    types = discovery.odata_types();
  }
  const Reading& at(std::string_view id) {
    const Reading* r = find(readings, id);
    if (r == nullptr) throw std::runtime_error("no reading " + std::string(id));
    return *r;
  }
  mock::Walk walk;
  std::vector<Reading> readings;
  ExpandSupport expand;
  std::map<std::string, std::size_t> types;
};

TEST_F(CoolingUnitTest, PrimarySupplyPressureWithItsThresholds) {
  const auto& r = at("/redfish/v1/Chassis/CDU/Sensors/PrimarySupplyPressure");
  EXPECT_EQ(r.name, "Primary Supply Pressure");
  EXPECT_EQ(r.kind, Kind::coolant_supply_pressure);  // from PrimaryCoolantConnectors/1
  EXPECT_EQ(r.unit, Unit::kilopascals);
  EXPECT_EQ(r.value, 827.0);
  EXPECT_EQ(r.thresholds.upper_caution, 1240.0);
  EXPECT_EQ(r.thresholds.upper_critical, 1380.0);
  EXPECT_FALSE(r.thresholds.upper_fatal);
  EXPECT_FALSE(r.thresholds.lower_caution);
  EXPECT_EQ(r.physical_context, "LiquidInlet");
}

TEST_F(CoolingUnitTest, CoolantTemperaturesFlowAndHeat) {
  EXPECT_EQ(at("/redfish/v1/Chassis/CDU/Sensors/PrimarySupplyTemp").kind,
            Kind::coolant_supply_temperature);
  const auto& ret = at("/redfish/v1/Chassis/CDU/Sensors/SecondaryReturnTemp");
  EXPECT_EQ(ret.kind, Kind::coolant_return_temperature);
  EXPECT_EQ(ret.value, 48.0);
  EXPECT_EQ(ret.unit, Unit::celsius);
  EXPECT_EQ(ret.thresholds.upper_caution, 60.0);
  EXPECT_EQ(ret.thresholds.upper_critical, 80.0);
  EXPECT_EQ(at("/redfish/v1/Chassis/CDU/Sensors/SecondaryDeltaTemp").kind,
            Kind::coolant_delta_temperature);
  const auto& flow = at("/redfish/v1/Chassis/CDU/Sensors/SecondaryFlow");
  EXPECT_EQ(flow.kind, Kind::flow);
  EXPECT_EQ(flow.unit, Unit::litres_per_minute);
  EXPECT_DOUBLE_EQ(*flow.value, 79.6);
  const auto& heat = at("/redfish/v1/Chassis/CDU/Sensors/PrimaryHeatLoad");
  EXPECT_EQ(heat.kind, Kind::heat);
  EXPECT_EQ(heat.unit, Unit::watts);
  EXPECT_EQ(heat.raw_unit, "kW");
  EXPECT_DOUBLE_EQ(*heat.value, 25480.0);
}

TEST_F(CoolingUnitTest, HumidityWithALowerThreshold) {
  const auto& r = at("/redfish/v1/Chassis/CDU/Sensors/SystemRelativeHumidity");
  EXPECT_EQ(r.kind, Kind::humidity);
  EXPECT_EQ(r.unit, Unit::percent);
  EXPECT_EQ(r.value, 26.0);
  EXPECT_EQ(r.thresholds.upper_caution, 70.0);
  EXPECT_EQ(r.thresholds.upper_critical, 80.0);
  EXPECT_EQ(r.thresholds.lower_caution, 10.0);
}

TEST_F(CoolingUnitTest, LeakDetectorsPumpsAndTheCduItself) {
  const auto& leak = at("/redfish/v1/Chassis/CDU/LeakDetectors/Moisture");
  EXPECT_EQ(leak.name, "Moisture Leak Detector");
  EXPECT_EQ(leak.value, 0.0);
  EXPECT_EQ(leak.health, Health::ok);
  const auto& pump = at("/redfish/v1/ThermalEquipment/CDUs/1/Pumps/2#/PumpSpeedPercent");
  EXPECT_EQ(pump.name, "CDU Pump 2");
  EXPECT_EQ(pump.health, Health::critical);
  EXPECT_EQ(pump.state, State::unavailable_offline);
  EXPECT_EQ(pump.value, 0.0);
  const auto& cdu = at("/redfish/v1/ThermalEquipment/CDUs/1");
  EXPECT_EQ(cdu.kind, Kind::health);
  EXPECT_EQ(cdu.health, Health::warning);
  EXPECT_EQ(cdu.chassis_id, "CDU");  // Links.Chassis
}

TEST_F(CoolingUnitTest, ServiceFacts) {
  EXPECT_TRUE(expand.usable());
  EXPECT_TRUE(expand.levels);
  EXPECT_EQ(expand.max_levels, 3);
  EXPECT_EQ(expand.query(), "?$expand=.($levels=1)");
  EXPECT_EQ(types.at("#Sensor.v1_12_0.Sensor"), 18u);
  EXPECT_EQ(types.at("#CoolingUnit.v1_5_0.CoolingUnit"), 1u);
  EXPECT_EQ(types.at("#CoolantConnector.v1_3_0.CoolantConnector"), 2u);
  EXPECT_EQ(types.at("#LeakDetection.v1_2_0.LeakDetection"), 1u);
  EXPECT_EQ(types.at("#LeakDetector.v1_6_0.LeakDetector"), 2u);
}

class LiquidCooledServerTest : public CoolingUnitTest {
 protected:
  void SetUp() override {
    MockupService service(kMockups / "public-liquid-cooled-server");
    Discovery discovery;
    walk = mock::discover(discovery, service);
    readings = mock::poll(walk.targets, service, kNow).readings;
    expand = discovery.expand();
    types = discovery.odata_types();
    sse = discovery.sse_uri();
  }
  std::optional<std::string> sse;
};

TEST_F(LiquidCooledServerTest, CpuTemperatureWithBmcAndUserThresholds) {
  const auto& r = at("/redfish/v1/Chassis/1U/Sensors/CPU1Temp");
  EXPECT_EQ(r.name, "CPU #1 Temperature");
  EXPECT_EQ(r.kind, Kind::temperature);  // no ReadingType: from "Cel"
  EXPECT_EQ(r.value, 37.0);
  EXPECT_EQ(r.thresholds.upper_caution, 42.0);
  EXPECT_EQ(r.thresholds.upper_critical, 45.0);
  EXPECT_EQ(r.thresholds.upper_fatal, 50.0);
  EXPECT_EQ(r.thresholds.upper_caution_user, 40.0);
  EXPECT_EQ(r.thresholds.upper_critical_user, 45.0);
  EXPECT_EQ(r.physical_context, "CPU");
}

TEST_F(LiquidCooledServerTest, ChassisPowerEnergyAndLimit) {
  const auto& p = at("/redfish/v1/Chassis/1U/Sensors/TotalPower");
  EXPECT_EQ(p.kind, Kind::power);
  EXPECT_EQ(p.value, 374.0);
  EXPECT_EQ(p.thresholds.upper_caution, 580.0);
  EXPECT_EQ(p.thresholds.upper_critical, 600.0);
  const auto& e = at("/redfish/v1/Chassis/1U/Sensors/PS1Energy");
  EXPECT_EQ(e.kind, Kind::energy);
  EXPECT_EQ(e.unit, Unit::kilowatt_hours);
  EXPECT_EQ(e.value, 7855.0);
  const auto& limit = at("/redfish/v1/Chassis/1U/Controls/PowerLimit");
  EXPECT_EQ(limit.kind, Kind::power_limit);
  EXPECT_EQ(limit.value, 500.0);
  EXPECT_EQ(limit.unit, Unit::watts);
}

TEST_F(LiquidCooledServerTest, AbsentPowerSupplySensorsHaveNoValue) {
  const auto& r = at("/redfish/v1/Chassis/1U/Sensors/PS2InputPower");
  EXPECT_EQ(r.state, State::absent);
  EXPECT_FALSE(r.value.has_value());
  EXPECT_EQ(r.unit, Unit::watts);  // from ReadingType Power
}

TEST_F(LiquidCooledServerTest, FansArePercentSensorsMadeFansByTheirExcerpts) {
  EXPECT_EQ(at("/redfish/v1/Chassis/1U/Sensors/FanBay1").kind, Kind::fan);
  EXPECT_EQ(at("/redfish/v1/Chassis/1U/Sensors/CPUFan1").kind, Kind::fan);
  // Nothing says CPUFan2 is a fan but its own ReadingType Percent.
  EXPECT_EQ(at("/redfish/v1/Chassis/1U/Sensors/CPUFan2").kind, Kind::percent);
}

TEST_F(LiquidCooledServerTest, SensorNamedOnlyByAProcessorIsFound) {
  // CPU1Power is in no Sensors collection; Processors/CPU1/EnvironmentMetrics names it.
  const auto& r = at("/redfish/v1/Chassis/1U/Sensors/CPU1Power");
  EXPECT_EQ(r.value, 90.0);
  EXPECT_EQ(r.thresholds.upper_caution_user, 82.0);
  EXPECT_EQ(r.thresholds.upper_critical_user, 115.0);
}

TEST_F(LiquidCooledServerTest, ColdPlateExcerptsKeepTheirSource) {
  const auto& r =
      at("/redfish/v1/Chassis/1U/ThermalSubsystem/CoolantConnectors/CPU1#/SupplyTemperatureCelsius");
  EXPECT_EQ(r.name, "CPU #1 Cold Plate supply temperature");
  EXPECT_EQ(r.data_source_uri, "/redfish/v1/CoolingEquipment/RackCDUs/1/Sensors/LoopASupplyTemp");
  EXPECT_EQ(r.source_uri, "/redfish/v1/Chassis/1U/ThermalSubsystem/CoolantConnectors/CPU1");
  EXPECT_EQ(r.health, Health::ok);
}

TEST_F(LiquidCooledServerTest, ServiceFacts) {
  EXPECT_EQ(expand.query(), "?$expand=.($levels=1)");
  EXPECT_EQ(expand.max_levels, 6);
  EXPECT_FALSE(sse.has_value());  // EventService without ServerSentEventUri
  EXPECT_EQ(types.at("#Sensor.v1_12_0.Sensor"), 42u);
  EXPECT_EQ(types.at("#ThermalMetrics.v1_3_2.ThermalMetrics"), 1u);
  EXPECT_EQ(types.at("#EnvironmentMetrics.v1_5_0.EnvironmentMetrics"), 2u);
  EXPECT_FALSE(types.contains("#Memory.v1_20_0.Memory"));  // Memory is off by default
}

TEST(MockupPlainVsExpand, SameReadingsEitherWay) {
  for (const char* dir : {"public-cooling-unit", "public-liquid-cooled-server"}) {
    SCOPED_TRACE(dir);
    std::vector<Reading> both[2];
    for (int expand = 0; expand < 2; ++expand) {
      MockupService service(kMockups / dir);
      Discovery discovery;
      auto walk = mock::discover(discovery, service, expand == 1);
      both[expand] = mock::poll(walk.targets, service, kNow).readings;
    }
    ASSERT_EQ(both[0].size(), both[1].size());
    for (std::size_t i = 0; i < both[0].size(); ++i) {
      EXPECT_EQ(both[0][i].id, both[1][i].id);
      EXPECT_EQ(both[0][i].value, both[1][i].value);
      EXPECT_EQ(both[0][i].kind, both[1][i].kind);
      EXPECT_EQ(both[0][i].chassis_id, both[1][i].chassis_id);
      EXPECT_EQ(both[0][i].thresholds, both[1][i].thresholds);
    }
  }
}

}  // namespace
}  // namespace railyard::redfish
