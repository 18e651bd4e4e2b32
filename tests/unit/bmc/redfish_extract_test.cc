// Extraction from single documents: the legacy schema (recorded fixtures),
// unit handling, and everything a broken BMC can send.

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "drivers/bmc/redfish/extract.h"
#include "tests/unit/bmc/mockup_service.h"

namespace railyard::redfish {
namespace {

namespace fs = std::filesystem;

const fs::path kFixtures = RAILYARD_BMC_FIXTURES_DIR;
const TimePoint kNow = TimePoint{} + std::chrono::seconds(1'750'000'000);

const Reading* find(const std::vector<Reading>& readings, std::string_view id) {
  for (const auto& r : readings) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

ExtractResult run(std::string_view uri, std::string_view json,
                  ResourceKind hint = ResourceKind::unknown) {
  return extract(uri, json, {.chassis_id = "", .read_at = kNow, .hint = hint});
}

std::string fixture(std::string_view path) {
  return mock::read_file(kFixtures / "legacy-gpu-host" / path / "index.json");
}

// --- Legacy Thermal ------------------------------------------------------------

TEST(LegacyThermal, TemperaturesWithThresholds) {
  const auto res = run("/redfish/v1/Chassis/GPU-Host/Thermal", fixture("Chassis/GPU-Host/Thermal"));
  EXPECT_EQ(res.kind, ResourceKind::thermal);
  EXPECT_TRUE(res.problems.empty()) << res.problems.summary();
  ASSERT_EQ(res.readings.size(), 7u);  // 4 temperatures, 3 fans

  const auto* cpu = find(res.readings, "/redfish/v1/Chassis/GPU-Host/Thermal#/Temperatures/0");
  ASSERT_NE(cpu, nullptr);
  EXPECT_EQ(cpu->name, "CPU1 Temp");
  EXPECT_EQ(cpu->chassis_id, "GPU-Host");
  EXPECT_EQ(cpu->kind, Kind::temperature);
  EXPECT_EQ(cpu->unit, Unit::celsius);
  EXPECT_EQ(cpu->value, 52.0);
  EXPECT_EQ(cpu->thresholds.upper_caution, 85.0);
  EXPECT_EQ(cpu->thresholds.upper_critical, 95.0);
  EXPECT_EQ(cpu->thresholds.upper_fatal, 100.0);
  EXPECT_FALSE(cpu->thresholds.lower_caution);
  EXPECT_EQ(cpu->source_uri, "/redfish/v1/Chassis/GPU-Host/Thermal");
  EXPECT_EQ(cpu->read_at, kNow);

  const auto* gpu = find(res.readings, "/redfish/v1/Chassis/GPU-Host/Thermal#/Temperatures/2");
  ASSERT_NE(gpu, nullptr);
  EXPECT_EQ(gpu->value, 84.5);
  EXPECT_EQ(gpu->health, Health::warning);
  EXPECT_FALSE(gpu->thresholds.upper_fatal);  // null in the document
  EXPECT_EQ(gpu->physical_context, "GPU");

  const auto* inlet = find(res.readings, "/redfish/v1/Chassis/GPU-Host/Thermal#/Temperatures/3");
  ASSERT_NE(inlet, nullptr);
  EXPECT_EQ(inlet->thresholds.lower_caution, 10.0);
  EXPECT_EQ(inlet->thresholds.lower_critical, 5.0);
  EXPECT_EQ(inlet->thresholds.lower_fatal, 0.0);
}

TEST(LegacyThermal, DisabledSensorHasNoValueAndIsNoProblem) {
  const auto res = run("/redfish/v1/Chassis/GPU-Host/Thermal", fixture("Chassis/GPU-Host/Thermal"));
  const auto* cpu2 = find(res.readings, "/redfish/v1/Chassis/GPU-Host/Thermal#/Temperatures/1");
  ASSERT_NE(cpu2, nullptr);
  EXPECT_EQ(cpu2->state, State::disabled);
  EXPECT_FALSE(cpu2->value);
  EXPECT_EQ(cpu2->thresholds.upper_critical, 95.0);
}

TEST(LegacyThermal, FansInRpmAndPercent) {
  const auto res = run("/redfish/v1/Chassis/GPU-Host/Thermal", fixture("Chassis/GPU-Host/Thermal"));
  const auto* fan1 = find(res.readings, "/redfish/v1/Chassis/GPU-Host/Thermal#/Fans/0");
  ASSERT_NE(fan1, nullptr);
  EXPECT_EQ(fan1->kind, Kind::fan);
  EXPECT_EQ(fan1->unit, Unit::rpm);
  EXPECT_EQ(fan1->value, 9120.0);
  EXPECT_EQ(fan1->thresholds.lower_critical, 1500.0);
  EXPECT_EQ(fan1->thresholds.lower_fatal, 0.0);
  const auto* fan2 = find(res.readings, "/redfish/v1/Chassis/GPU-Host/Thermal#/Fans/1");
  ASSERT_NE(fan2, nullptr);
  EXPECT_EQ(fan2->health, Health::critical);
  EXPECT_EQ(fan2->value, 0.0);
  const auto* psu_fan = find(res.readings, "/redfish/v1/Chassis/GPU-Host/Thermal#/Fans/2");
  ASSERT_NE(psu_fan, nullptr);
  EXPECT_EQ(psu_fan->unit, Unit::percent);
  EXPECT_EQ(psu_fan->raw_unit, "Percent");
  EXPECT_EQ(psu_fan->value, 63.0);
}

TEST(LegacyThermal, ThermalV1_0FanNamesAndReadingRpm) {
  const auto res = run("/redfish/v1/Chassis/1/Thermal", R"({
    "@odata.type": "#Thermal.v1_0_0.Thermal",
    "@odata.id": "/redfish/v1/Chassis/1/Thermal",
    "Fans": [{"MemberId": "0", "FanName": "Fan A", "ReadingRPM": 4200,
              "Status": {"State": "Enabled", "Health": "OK"}}]})");
  ASSERT_EQ(res.readings.size(), 1u);
  EXPECT_EQ(res.readings[0].id, "/redfish/v1/Chassis/1/Thermal#/Fans/0");
  EXPECT_EQ(res.readings[0].name, "Fan A");
  EXPECT_EQ(res.readings[0].unit, Unit::rpm);
  EXPECT_EQ(res.readings[0].value, 4200.0);
  EXPECT_TRUE(res.problems.empty());
}

// --- Legacy Power --------------------------------------------------------------

TEST(LegacyPower, ConsumedWattsLimitsVoltagesAndSupplies) {
  const auto res = run("/redfish/v1/Chassis/GPU-Host/Power", fixture("Chassis/GPU-Host/Power"));
  EXPECT_EQ(res.kind, ResourceKind::power);
  EXPECT_TRUE(res.problems.empty()) << res.problems.summary();

  const std::string base = "/redfish/v1/Chassis/GPU-Host/Power#/";
  const auto* consumed = find(res.readings, base + "PowerControl/0");
  ASSERT_NE(consumed, nullptr);
  EXPECT_EQ(consumed->name, "System Input Power");
  EXPECT_EQ(consumed->kind, Kind::power);
  EXPECT_EQ(consumed->unit, Unit::watts);
  EXPECT_EQ(consumed->value, 2875.0);

  const auto* limit = find(res.readings, base + "PowerControl/0/PowerLimit");
  ASSERT_NE(limit, nullptr);
  EXPECT_EQ(limit->kind, Kind::power_limit);
  EXPECT_EQ(limit->value, 3000.0);
  EXPECT_EQ(limit->name, "System Input Power limit");

  // LimitInWatts null: no limit configured, no reading.
  EXPECT_EQ(find(res.readings, base + "PowerControl/1/PowerLimit"), nullptr);
  const auto* gpu = find(res.readings, base + "PowerControl/1");
  ASSERT_NE(gpu, nullptr);
  EXPECT_EQ(gpu->value, 2210.5);

  const auto* volts = find(res.readings, base + "Voltages/0");
  ASSERT_NE(volts, nullptr);
  EXPECT_EQ(volts->kind, Kind::voltage);
  EXPECT_EQ(volts->value, 12.1);
  EXPECT_EQ(volts->thresholds.upper_caution, 12.6);
  EXPECT_EQ(volts->thresholds.lower_critical, 10.8);

  const auto* psu2 = find(res.readings, base + "PowerSupplies/1");
  ASSERT_NE(psu2, nullptr);
  EXPECT_EQ(psu2->kind, Kind::health);
  EXPECT_EQ(psu2->health, Health::critical);
  EXPECT_EQ(psu2->value, 2.0);
  const auto* psu1_in = find(res.readings, base + "PowerSupplies/0/PowerInputWatts");
  ASSERT_NE(psu1_in, nullptr);
  EXPECT_EQ(psu1_in->value, 1466.0);
  const auto* psu1_out = find(res.readings, base + "PowerSupplies/0/LastPowerOutputWatts");
  ASSERT_NE(psu1_out, nullptr);
  EXPECT_EQ(psu1_out->value, 1402.0);

  // 2 consumed + 1 limit + 1 voltage + 2 x (health, in, out).
  EXPECT_EQ(res.readings.size(), 10u);
}

TEST(LegacyPower, MembersWithoutOdataIdGetAPointer) {
  const auto res = run("/redfish/v1/Chassis/1/Power", R"({
    "@odata.type": "#Power.v1_0_0.Power",
    "PowerControl": [{"PowerConsumedWatts": 410}]})");
  ASSERT_EQ(res.readings.size(), 1u);
  EXPECT_EQ(res.readings[0].id, "/redfish/v1/Chassis/1/Power#/PowerControl/0");
  EXPECT_EQ(res.readings[0].name, "PowerControl 0");
}

// --- Units ---------------------------------------------------------------------

std::string sensor_json(std::string_view type, std::string_view units, double reading,
                        double upper_critical = 100) {
  return fmt::format(R"({{"@odata.type": "#Sensor.v1_7_0.Sensor", "@odata.id": "/redfish/v1/Chassis/1/Sensors/S",
    "Name": "S", "ReadingType": "{}", "ReadingUnits": "{}", "Reading": {},
    "Status": {{"State": "Enabled", "Health": "OK"}},
    "Thresholds": {{"UpperCritical": {{"Reading": {}}}}}}})",
                     type, units, reading, upper_critical);
}

TEST(Units, PascalsBecomeKilopascals) {
  const auto res = run("/redfish/v1/Chassis/1/Sensors/S", sensor_json("PressurePa", "Pa", 250000, 400000));
  ASSERT_EQ(res.readings.size(), 1u);
  EXPECT_EQ(res.readings[0].unit, Unit::kilopascals);
  EXPECT_DOUBLE_EQ(*res.readings[0].value, 250.0);
  EXPECT_DOUBLE_EQ(*res.readings[0].thresholds.upper_critical, 400.0);
  EXPECT_EQ(res.readings[0].raw_unit, "Pa");
  EXPECT_TRUE(res.problems.empty());
}

TEST(Units, LitresPerSecondBecomeLitresPerMinute) {
  const auto res = run("/redfish/v1/Chassis/1/Sensors/S", sensor_json("LiquidFlow", "L/s", 0.5, 2));
  ASSERT_EQ(res.readings.size(), 1u);
  EXPECT_EQ(res.readings[0].kind, Kind::flow);
  EXPECT_EQ(res.readings[0].unit, Unit::litres_per_minute);
  EXPECT_DOUBLE_EQ(*res.readings[0].value, 30.0);
  EXPECT_DOUBLE_EQ(*res.readings[0].thresholds.upper_critical, 120.0);
}

TEST(Units, EnergyInJoulesAndWattHoursBecomeKilowattHours) {
  auto joules = run("/redfish/v1/Chassis/1/Sensors/S", sensor_json("EnergyJoules", "J", 7.2e6));
  EXPECT_DOUBLE_EQ(*joules.readings.at(0).value, 2.0);
  auto wh = run("/redfish/v1/Chassis/1/Sensors/S", sensor_json("EnergyWh", "W.h", 1500));
  EXPECT_DOUBLE_EQ(*wh.readings.at(0).value, 1.5);
  EXPECT_EQ(wh.readings.at(0).unit, Unit::kilowatt_hours);
}

TEST(Units, UnitContradictingTypeIsCountedAndNeverScaled) {
  // A "Temperature" in watts: which one is wrong is unknowable.
  const auto res = run("/redfish/v1/Chassis/1/Sensors/S", sensor_json("Temperature", "W", 350));
  ASSERT_EQ(res.readings.size(), 1u);
  const auto& r = res.readings[0];
  EXPECT_EQ(res.problems.count(ProblemKind::unit_mismatch), 1u);
  EXPECT_FALSE(r.value.has_value());
  EXPECT_TRUE(r.thresholds.empty());
  EXPECT_EQ(r.kind, Kind::temperature);
  EXPECT_EQ(r.raw_unit, "W");
  ASSERT_EQ(res.problems.details().size(), 1u);
  EXPECT_EQ(res.problems.details()[0].where, "/ReadingUnits");
  EXPECT_EQ(res.problems.details()[0].uri, "/redfish/v1/Chassis/1/Sensors/S");
}

TEST(Units, KilopascalsClaimedAsPascalsIsAMismatch) {
  const auto res = run("/redfish/v1/Chassis/1/Sensors/S", sensor_json("PressurePa", "kPa", 250));
  EXPECT_EQ(res.problems.count(ProblemKind::unit_mismatch), 1u);
  EXPECT_FALSE(res.readings.at(0).value);
}

TEST(Units, LegacyFanWithUnknownUnitsIsAMismatch) {
  const auto res = run("/redfish/v1/Chassis/1/Thermal", R"({
    "@odata.type": "#Thermal.v1_7_1.Thermal",
    "Fans": [{"MemberId": "0", "Name": "F", "Reading": 55, "ReadingUnits": "Hz",
              "Status": {"State": "Enabled"}}]})");
  EXPECT_EQ(res.problems.count(ProblemKind::unit_mismatch), 1u);
  ASSERT_EQ(res.readings.size(), 1u);
  EXPECT_FALSE(res.readings[0].value);
}

TEST(Units, PowerControlWithNonWattSetPointIsAMismatch) {
  const auto res = run("/redfish/v1/Chassis/1/Controls/P", R"({
    "@odata.type": "#Control.v1_3_0.Control", "ControlType": "Power",
    "SetPoint": 5, "SetPointUnits": "A"})");
  EXPECT_EQ(res.problems.count(ProblemKind::unit_mismatch), 1u);
  ASSERT_EQ(res.readings.size(), 1u);
  EXPECT_FALSE(res.readings[0].value);
}

TEST(Units, UnknownReadingTypeKeepsTheBmcUnit) {
  const auto res = run("/redfish/v1/Chassis/1/Sensors/S", sensor_json("LiquidLevel", "cm", 12));
  ASSERT_EQ(res.readings.size(), 1u);
  EXPECT_EQ(res.readings[0].kind, Kind::other);
  EXPECT_EQ(res.readings[0].unit, Unit::other);
  EXPECT_EQ(res.readings[0].raw_unit, "cm");
  EXPECT_EQ(res.readings[0].value, 12.0);
  EXPECT_TRUE(res.problems.empty());
}

TEST(Units, OverflowOnConversionIsWithheld) {
  const auto res = run("/redfish/v1/Chassis/1/Sensors/S", sensor_json("Heat", "kW", 1e308, 1e306));
  ASSERT_EQ(res.readings.size(), 1u);
  EXPECT_FALSE(res.readings[0].value);
  EXPECT_FALSE(res.readings[0].thresholds.upper_critical);
  EXPECT_EQ(res.problems.count(ProblemKind::wrong_type), 2u);
}

TEST(Units, SpeedsAreFansOrPumpsByPhysicalContext) {
  auto speed = [](std::string_view type, std::string_view units, std::string_view context) {
    return run("/redfish/v1/Chassis/1/Sensors/S",
               fmt::format(R"({{"@odata.type": "#Sensor.v1_7_0.Sensor", "ReadingType": "{}",
                 "ReadingUnits": "{}", "Reading": 50, "PhysicalContext": "{}"}})",
                           type, units, context))
        .readings.at(0);
  };
  EXPECT_EQ(speed("Rotational", "RPM", "Pump").kind, Kind::pump);
  EXPECT_EQ(speed("Rotational", "RPM", "Pump").unit, Unit::rpm);
  EXPECT_EQ(speed("Rotational", "{rev}/min", "Chassis").kind, Kind::fan);
  EXPECT_EQ(speed("Percent", "%", "Fan").kind, Kind::fan);
  EXPECT_EQ(speed("Percent", "%", "Pump").kind, Kind::pump);
  EXPECT_EQ(speed("Percent", "%", "CPU").kind, Kind::percent);
}

TEST(Units, ConversionTable) {
  EXPECT_EQ(convert_unit("Cel").unit, Unit::celsius);
  EXPECT_DOUBLE_EQ(convert_unit("K").apply(300.0), 300.0 - 273.15);
  EXPECT_DOUBLE_EQ(convert_unit("kW").apply(1.5), 1500.0);
  EXPECT_NEAR(convert_unit("mm[Hg]").apply(760.0), 101.325, 1e-3);
  EXPECT_EQ(convert_unit("{rev}/min").unit, Unit::rpm);
  EXPECT_EQ(convert_unit("furlongs").unit, Unit::other);
  EXPECT_EQ(symbol(Unit::litres_per_minute), "L/min");
  EXPECT_EQ(symbol(Unit::boolean), "boolean");
}

// --- Leak detection ------------------------------------------------------------

TEST(Leak, DetectorStatesBecomeZeroOrOne) {
  for (const auto& [state, value, health] :
       {std::tuple{"OK", 0.0, Health::ok}, std::tuple{"Warning", 1.0, Health::warning},
        std::tuple{"Critical", 1.0, Health::critical}}) {
    SCOPED_TRACE(state);
    const auto res = run("/redfish/v1/Chassis/1/LeakDetectors/Tray", fmt::format(R"({{
      "@odata.type": "#LeakDetector.v1_3_0.LeakDetector", "Name": "Tray",
      "DetectorState": "{}", "Status": {{"State": "Enabled", "Health": "OK"}}}})", state));
    ASSERT_EQ(res.readings.size(), 1u);
    EXPECT_EQ(res.readings[0].kind, Kind::leak);
    EXPECT_EQ(res.readings[0].value, value);
    EXPECT_EQ(res.readings[0].health, health);
    EXPECT_EQ(res.readings[0].chassis_id, "1");
  }
}

TEST(Leak, UnknownDetectorStateIsAWrongValueNotALeak) {
  const auto res = run("/redfish/v1/Chassis/1/LeakDetectors/Tray", R"({
    "@odata.type": "#LeakDetector.v1_3_0.LeakDetector", "DetectorState": "Wet"})");
  EXPECT_EQ(res.problems.count(ProblemKind::wrong_type), 1u);
  ASSERT_EQ(res.readings.size(), 1u);
  EXPECT_FALSE(res.readings[0].value);
}

TEST(Leak, MissingDetectorStateIsCounted) {
  const auto res = run("/redfish/v1/Chassis/1/LeakDetectors/Tray", R"({
    "@odata.type": "#LeakDetector.v1_3_0.LeakDetector", "Status": {"State": "Enabled"}})");
  EXPECT_EQ(res.problems.count(ProblemKind::missing_property), 1u);
}

TEST(Leak, LeakDetectionGroupsAreExcerptsOfTheirDetectors) {
  const auto res = run("/redfish/v1/Chassis/1/ThermalSubsystem/LeakDetection", R"({
    "@odata.type": "#LeakDetection.v1_1_0.LeakDetection",
    "LeakDetectorGroups": [{"GroupName": "Cold plates",
      "Detectors": [{"DataSourceUri": "/redfish/v1/Chassis/1/ThermalSubsystem/LeakDetection/LeakDetectors/CP0",
                     "DeviceName": "Cold plate 0", "DetectorState": "Critical"}]}]})");
  ASSERT_EQ(res.readings.size(), 1u);
  const auto& r = res.readings[0];
  EXPECT_EQ(r.id, "/redfish/v1/Chassis/1/ThermalSubsystem/LeakDetection#/LeakDetectorGroups/0/Detectors/0");
  EXPECT_EQ(r.name, "Cold plate 0");
  EXPECT_EQ(r.value, 1.0);
  EXPECT_EQ(r.health, Health::critical);
  EXPECT_EQ(r.data_source_uri,
            "/redfish/v1/Chassis/1/ThermalSubsystem/LeakDetection/LeakDetectors/CP0");
}

// --- Broken documents ------------------------------------------------------------

TEST(Broken, MalformedAndTruncatedJsonAreCountedNotThrown) {
  const std::string good = fixture("Chassis/GPU-Host/Thermal");
  for (std::size_t cut : {std::size_t{0}, std::size_t{1}, good.size() / 3, good.size() / 2,
                          good.size() - 2}) {
    SCOPED_TRACE(cut);
    const auto res = run("/redfish/v1/Chassis/GPU-Host/Thermal", good.substr(0, cut),
                         ResourceKind::thermal);
    EXPECT_TRUE(res.readings.empty());
    EXPECT_EQ(res.problems.count(ProblemKind::malformed_json), 1u);
    EXPECT_EQ(res.kind, ResourceKind::thermal);
  }
  for (const char* text : {"{", "nul", "{\"a\":}", "[1,2", "{\"@odata.type\": \"#Sensor", "\xff\xfe"}) {
    EXPECT_EQ(run("/x", text).problems.count(ProblemKind::malformed_json), 1u) << text;
  }
}

TEST(Broken, HostileNestingIsRejected) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(run("/x", deep).problems.count(ProblemKind::malformed_json), 1u);
}

TEST(Broken, DocumentThatIsNotAnObject) {
  const auto res = run("/redfish/v1/Chassis/1/Sensors/S", "[1, 2, 3]", ResourceKind::sensor);
  EXPECT_EQ(res.problems.count(ProblemKind::wrong_type), 1u);
  EXPECT_TRUE(res.readings.empty());
}

TEST(Broken, WrongTypesAreCountedAndTheRestIsRead) {
  const auto res = run("/redfish/v1/Chassis/1/Sensors/S", R"({
    "@odata.type": "#Sensor.v1_7_0.Sensor", "Name": 42,
    "ReadingType": "Temperature", "ReadingUnits": "Cel", "Reading": "41.5",
    "Status": "OK",
    "Thresholds": {"UpperCaution": {"Reading": 80}, "UpperCritical": {"Reading": true},
                   "LowerCaution": 5}})");
  ASSERT_EQ(res.readings.size(), 1u);
  const auto& r = res.readings[0];
  EXPECT_FALSE(r.value);  // a string is not a number
  EXPECT_EQ(r.thresholds.upper_caution, 80.0);
  EXPECT_FALSE(r.thresholds.upper_critical);
  EXPECT_FALSE(r.thresholds.lower_caution);
  EXPECT_EQ(r.name, "S");  // fell back to the URI
  EXPECT_EQ(res.problems.count(ProblemKind::wrong_type), 5u) << res.problems.summary();
  std::vector<std::string> where;
  for (const auto& p : res.problems.details()) where.push_back(p.where);
  EXPECT_THAT(where, ::testing::UnorderedElementsAre("/Name", "/Reading", "/Status",
                                                     "/Thresholds/UpperCritical/Reading",
                                                     "/Thresholds/LowerCaution"));
}

TEST(Broken, MissingReadingOnAnEnabledSensorIsCounted) {
  const auto res = run("/redfish/v1/Chassis/1/Sensors/S", R"({
    "@odata.type": "#Sensor.v1_7_0.Sensor", "ReadingType": "Power", "ReadingUnits": "W",
    "Status": {"State": "Enabled"}})");
  EXPECT_EQ(res.problems.count(ProblemKind::missing_property), 1u);
  EXPECT_EQ(res.problems.details().at(0).where, "/Reading");
  ASSERT_EQ(res.readings.size(), 1u);
  EXPECT_FALSE(res.readings[0].value);
}

TEST(Broken, NullReadingIsAnUnavailableValueNotAProblem) {
  const auto res = run("/redfish/v1/Chassis/1/Sensors/S", R"({
    "@odata.type": "#Sensor.v1_7_0.Sensor", "ReadingType": "Power", "ReadingUnits": "W",
    "Reading": null, "Status": {"State": "Enabled"}})");
  EXPECT_TRUE(res.problems.empty());
  EXPECT_FALSE(res.readings.at(0).value);
}

TEST(Broken, MissingOdataTypeUsesTheHintOrIsCounted) {
  const std::string body = R"({"ReadingType": "Power", "ReadingUnits": "W", "Reading": 12})";
  const auto hinted = run("/redfish/v1/Chassis/1/Sensors/S", body, ResourceKind::sensor);
  EXPECT_EQ(hinted.readings.size(), 1u);
  EXPECT_TRUE(hinted.problems.empty());
  const auto bare = run("/redfish/v1/Chassis/1/Sensors/S", body);
  EXPECT_TRUE(bare.readings.empty());
  EXPECT_EQ(bare.problems.count(ProblemKind::missing_property), 1u);
}

TEST(Broken, UnknownResourceTypesAreIgnoredQuietly) {
  const auto res = run("/redfish/v1/Managers/BMC", R"({"@odata.type": "#Manager.v1_10_0.Manager"})");
  EXPECT_TRUE(res.readings.empty());
  EXPECT_TRUE(res.problems.empty());
  EXPECT_EQ(res.kind, ResourceKind::unknown);
}

TEST(Broken, OdataIdDisagreeingWithTheUriIsCountedAndTheUriWins) {
  const auto res = run("/redfish/v1/Chassis/1/Sensors/B", R"({
    "@odata.type": "#Sensor.v1_7_0.Sensor", "@odata.id": "/redfish/v1/Chassis/1/Sensors/A",
    "ReadingType": "Power", "ReadingUnits": "W", "Reading": 3})");
  EXPECT_EQ(res.problems.count(ProblemKind::id_mismatch), 1u);
  EXPECT_EQ(res.readings.at(0).id, "/redfish/v1/Chassis/1/Sensors/B");
  // A trailing slash or a query is the same resource.
  const auto same = run("/redfish/v1/Chassis/1/Sensors/A/", R"({
    "@odata.type": "#Sensor.v1_7_0.Sensor", "@odata.id": "/redfish/v1/Chassis/1/Sensors/A",
    "ReadingType": "Power", "ReadingUnits": "W", "Reading": 3})");
  EXPECT_TRUE(same.problems.empty());
  EXPECT_EQ(same.readings.at(0).id, "/redfish/v1/Chassis/1/Sensors/A");
}

TEST(Broken, ArraysOfTheWrongShape) {
  const auto res = run("/redfish/v1/Chassis/1/Thermal", R"({
    "@odata.type": "#Thermal.v1_7_1.Thermal",
    "Temperatures": {"0": {"ReadingCelsius": 20}},
    "Fans": [7, {"Name": "ok", "Reading": 1000, "ReadingUnits": "RPM"}]})");
  EXPECT_EQ(res.problems.count(ProblemKind::wrong_type), 2u) << res.problems.summary();
  ASSERT_EQ(res.readings.size(), 1u);
  EXPECT_EQ(res.readings[0].value, 1000.0);
}

TEST(Broken, ProblemDetailsAreCappedButCountsAreNot) {
  std::string temps;
  for (int i = 0; i < 200; ++i) temps += fmt::format("{}{{\"ReadingCelsius\": \"x\"}}", i ? "," : "");
  const auto res = run("/redfish/v1/Chassis/1/Thermal",
                       R"({"@odata.type": "#Thermal.v1_7_1.Thermal", "Temperatures": [)" + temps +
                           "]}");
  EXPECT_EQ(res.problems.count(ProblemKind::wrong_type), 200u);
  EXPECT_EQ(res.problems.details().size(), Problems::kMaxDetails);
  EXPECT_EQ(res.problems.summary(), "wrong_type=200");
}

// --- Current schema pieces not in the DMTF mockups ----------------------------

TEST(Current, ExpandedCollectionReadsEveryMember) {
  const auto res = run("/redfish/v1/Chassis/1/Sensors", R"({
    "@odata.type": "#SensorCollection.SensorCollection",
    "Members": [
      {"@odata.id": "/redfish/v1/Chassis/1/Sensors/A", "@odata.type": "#Sensor.v1_7_0.Sensor",
       "ReadingType": "Temperature", "ReadingUnits": "Cel", "Reading": 30},
      {"@odata.id": "/redfish/v1/Chassis/1/Sensors/B",
       "ReadingType": "Power", "ReadingUnits": "W", "Reading": 300},
      {"@odata.id": "/redfish/v1/Chassis/1/Sensors/C"}
    ]})");
  EXPECT_EQ(res.kind, ResourceKind::sensor_collection);
  ASSERT_EQ(res.readings.size(), 2u);  // C is a bare link
  EXPECT_EQ(res.readings[0].id, "/redfish/v1/Chassis/1/Sensors/A");
  EXPECT_EQ(res.readings[1].kind, Kind::power);  // type from the collection
  EXPECT_EQ(res.readings[1].chassis_id, "1");
  EXPECT_TRUE(res.problems.empty()) << res.problems.summary();
}

TEST(Broken, MemberIdThatIsNotAServicePathGivesNoIdentity) {
  // Found by fuzz_redfish: "?redfish/..." canonicalised to "", and the
  // expanded member became a reading with an empty id.
  const auto res = run("/redfish/v1/Chassis/1/Sensors", R"({
    "@odata.type": "#SensorCollection.SensorCollection",
    "Members": [
      {"@odata.id": "?redfish/v1/Chassis/1/Sensors/A", "ReadingType": "Power",
       "ReadingUnits": "W", "Reading": 1},
      {"@odata.id": "http://other-bmc/redfish/v1/Chassis/1/Sensors/B", "ReadingType": "Power",
       "ReadingUnits": "W", "Reading": 2},
      {"@odata.id": "/redfish/v1/Chassis/1/Sensors/C", "ReadingType": "Power",
       "ReadingUnits": "W", "Reading": 3}
    ]})");
  EXPECT_EQ(res.problems.count(ProblemKind::id_mismatch), 2u) << res.problems.summary();
  ASSERT_EQ(res.readings.size(), 1u);
  EXPECT_EQ(res.readings[0].id, "/redfish/v1/Chassis/1/Sensors/C");

  // Legacy members fall back to their place in the document.
  const auto power = run("/redfish/v1/Chassis/1/Power", R"({
    "@odata.type": "#Power.v1_0_0.Power",
    "PowerControl": [{"@odata.id": "?", "PowerConsumedWatts": 410}],
    "PowerSupplies": [{"@odata.id": "#", "PowerInputWatts": 500}]})");
  EXPECT_EQ(power.problems.count(ProblemKind::id_mismatch), 2u) << power.problems.summary();
  ASSERT_EQ(power.readings.size(), 2u);
  EXPECT_EQ(power.readings[0].id, "/redfish/v1/Chassis/1/Power#/PowerControl/0");
  EXPECT_EQ(power.readings[1].id, "/redfish/v1/Chassis/1/Power#/PowerSupplies/0/PowerInputWatts");
}

TEST(Current, CoolingLoopLevelAndHealth) {
  const auto res = run("/redfish/v1/ThermalEquipment/CoolingLoops/A", R"({
    "@odata.type": "#CoolingLoop.v1_0_3.CoolingLoop", "Name": "Loop A",
    "Status": {"State": "Enabled", "Health": "Critical"},
    "CoolantLevelPercent": {"Reading": 37.5},
    "Links": {"Chassis": {"@odata.id": "/redfish/v1/Chassis/Rack4"}}})");
  ASSERT_EQ(res.readings.size(), 2u);
  const auto* health = find(res.readings, "/redfish/v1/ThermalEquipment/CoolingLoops/A");
  ASSERT_NE(health, nullptr);
  EXPECT_EQ(health->value, 2.0);
  EXPECT_EQ(health->chassis_id, "Rack4");
  const auto* level =
      find(res.readings, "/redfish/v1/ThermalEquipment/CoolingLoops/A#/CoolantLevelPercent");
  ASSERT_NE(level, nullptr);
  EXPECT_EQ(level->kind, Kind::coolant_level);
  EXPECT_EQ(level->value, 37.5);
}

TEST(Current, EnvironmentMetricsWithoutSensorsStandAlone) {
  const auto res = run("/redfish/v1/Systems/1/Processors/GPU0/EnvironmentMetrics", R"({
    "@odata.type": "#EnvironmentMetrics.v1_3_0.EnvironmentMetrics", "Name": "GPU0",
    "TemperatureCelsius": {"Reading": 71},
    "PowerWatts": {"Reading": 612.5},
    "EnergyJoules": {"Reading": 3600000},
    "PowerLimitWatts": {"SetPoint": 700, "AllowableMax": 700}})",
                       ResourceKind::environment_metrics);
  ASSERT_EQ(res.readings.size(), 4u);
  const std::string base = "/redfish/v1/Systems/1/Processors/GPU0/EnvironmentMetrics#/";
  EXPECT_EQ(find(res.readings, base + "TemperatureCelsius")->value, 71.0);
  EXPECT_EQ(find(res.readings, base + "PowerWatts")->name, "GPU0 power");
  EXPECT_DOUBLE_EQ(*find(res.readings, base + "EnergyJoules")->value, 1.0);
  EXPECT_EQ(find(res.readings, base + "PowerLimitWatts")->kind, Kind::power_limit);
  EXPECT_EQ(find(res.readings, base + "PowerLimitWatts")->value, 700.0);
}

// --- merge_sweep -----------------------------------------------------------------

Reading make(std::string id, Kind kind, Unit unit, std::optional<double> value,
             std::string dsu = {}) {
  Reading r;
  r.id = std::move(id);
  r.kind = kind;
  r.unit = unit;
  r.value = value;
  r.data_source_uri = std::move(dsu);
  return r;
}

TEST(Merge, ExcerptOfAReadSensorIsDroppedAndRefinesItsKind) {
  auto out = merge_sweep({
      make("/s/Supply", Kind::temperature, Unit::celsius, 30.0),
      make("/cc/1#/SupplyTemperatureCelsius", Kind::coolant_supply_temperature, Unit::celsius,
           29.0, "/s/Supply"),
  });
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].id, "/s/Supply");
  EXPECT_EQ(out[0].kind, Kind::coolant_supply_temperature);
  EXPECT_EQ(out[0].value, 30.0);  // the Sensor's own value, not the excerpt's copy
}

TEST(Merge, SpecificKindsAreNotOverwritten) {
  auto out = merge_sweep({
      make("/s/P", Kind::power, Unit::watts, 300.0),
      make("/em#/PowerWatts", Kind::heat, Unit::watts, 300.0, "/s/P"),
  });
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Kind::power);
}

TEST(Merge, UnresolvedExcerptsStayButExactCopiesCollapse) {
  auto out = merge_sweep({
      make("/tm#/TemperatureSummaryCelsius/Intake", Kind::temperature, Unit::celsius, 24.0, "/s/In"),
      make("/tm#/TemperatureReadingsCelsius/0", Kind::temperature, Unit::celsius, 24.0, "/s/In"),
      make("/cc/1#/Supply", Kind::coolant_supply_temperature, Unit::celsius, 14.8, "/s/Loop"),
      make("/cc/2#/Supply", Kind::coolant_supply_temperature, Unit::celsius, 22.4, "/s/Loop"),
  });
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].id, "/cc/1#/Supply");
  EXPECT_EQ(out[1].id, "/cc/2#/Supply");  // different values: different things
  EXPECT_EQ(out[2].id, "/tm#/TemperatureReadingsCelsius/0");
}

TEST(Merge, SameResourceTwiceInOneSweepKeepsTheFirst) {
  auto out = merge_sweep({
      make("/s/A", Kind::power, Unit::watts, 1.0),
      make("/s/A", Kind::power, Unit::watts, 2.0),
  });
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].value, 1.0);
}

}  // namespace
}  // namespace railyard::redfish
