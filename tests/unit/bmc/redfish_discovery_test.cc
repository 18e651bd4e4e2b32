// Discovery as a state machine: what it asks for, in which order, and what
// it makes of odd services. The DMTF mockups are walked in
// redfish_mockups_test.cc; here: the legacy-only fixture and hand-made
// documents.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "drivers/bmc/redfish/discovery.h"
#include "tests/unit/bmc/mockup_service.h"

namespace railyard::redfish {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

const fs::path kFixtures = RAILYARD_BMC_FIXTURES_DIR;

std::vector<std::string> uris(const std::vector<Fetch>& fetches) {
  std::vector<std::string> out;
  for (const auto& f : fetches) out.push_back(f.uri);
  return out;
}

std::vector<std::string> uris(const std::vector<PollTarget>& targets) {
  std::vector<std::string> out;
  for (const auto& t : targets) out.push_back(t.uri);
  return out;
}

TEST(Discovery, LegacyOnlyBmc) {
  mock::MockupService service(kFixtures / "legacy-gpu-host");
  Discovery discovery;
  const auto walk = mock::discover(discovery, service);
  EXPECT_TRUE(discovery.done());
  EXPECT_THAT(walk.not_found, IsEmpty());
  EXPECT_TRUE(discovery.problems().empty()) << discovery.problems().summary();
  ASSERT_EQ(walk.targets.size(), 2u);
  EXPECT_EQ(walk.targets[0],
            (PollTarget{.uri = "/redfish/v1/Chassis/GPU-Host/Power", .kind = ResourceKind::power,
                        .chassis_id = "GPU-Host", .expand = false}));
  EXPECT_EQ(walk.targets[1].kind, ResourceKind::thermal);
  EXPECT_FALSE(discovery.expand().usable());  // no ProtocolFeaturesSupported
  EXPECT_EQ(discovery.expand().query(), "");
  EXPECT_EQ(discovery.sse_uri(), "/redfish/v1/EventService/SSE");
  EXPECT_EQ(discovery.odata_types().at("#Thermal.v1_7_1.Thermal"), 1u);

  const auto sweep = mock::poll(walk.targets, service, TimePoint{});
  EXPECT_EQ(sweep.readings.size(), 17u);  // 7 thermal + 10 power
  EXPECT_TRUE(sweep.problems.empty()) << sweep.problems.summary();
}

TEST(Discovery, StartsFromTheRootAndFollowsWhatItOffers) {
  Discovery d;
  EXPECT_FALSE(d.done());
  const auto first = d.start(R"({
    "@odata.type": "#ServiceRoot.v1_15_0.ServiceRoot",
    "Chassis": {"@odata.id": "/redfish/v1/Chassis"},
    "Systems": {"@odata.id": "/redfish/v1/Systems"},
    "ThermalEquipment": {"@odata.id": "/redfish/v1/ThermalEquipment"},
    "EventService": {"@odata.id": "/redfish/v1/EventService"},
    "AccountService": {"@odata.id": "/redfish/v1/AccountService"},
    "ProtocolFeaturesSupported": {"ExpandQuery": {"ExpandAll": true, "Levels": false}}})");
  EXPECT_THAT(uris(first), ElementsAre("/redfish/v1/Chassis", "/redfish/v1/ThermalEquipment",
                                       "/redfish/v1/EventService", "/redfish/v1/Systems"));
  EXPECT_EQ(first[0].kind, ResourceKind::chassis_collection);
  EXPECT_TRUE(first[0].expand);                 // a collection, and the service can expand
  EXPECT_FALSE(first[1].expand);                // not a collection
  EXPECT_EQ(d.expand().query(), "?$expand=*");  // no NoLinks, no Levels
  EXPECT_EQ(d.pending(), 4u);
  EXPECT_FALSE(d.done());
}

TEST(Discovery, ChassisWithSensorsSkipsLegacyUnlessAsked) {
  const char* root = R"({"Chassis": {"@odata.id": "/redfish/v1/Chassis"}})";
  const char* collection = R"({"@odata.type": "#ChassisCollection.ChassisCollection",
    "Members": [{"@odata.id": "/redfish/v1/Chassis/1"}]})";
  const char* chassis = R"({"@odata.type": "#Chassis.v1_20_0.Chassis",
    "Power": {"@odata.id": "/redfish/v1/Chassis/1/Power"},
    "Thermal": {"@odata.id": "/redfish/v1/Chassis/1/Thermal"},
    "Sensors": {"@odata.id": "/redfish/v1/Chassis/1/Sensors"},
    "EnvironmentMetrics": {"@odata.id": "/redfish/v1/Chassis/1/EnvironmentMetrics"}})";
  for (bool legacy : {false, true}) {
    SCOPED_TRACE(legacy);
    Discovery d({.legacy_with_sensors = legacy});
    d.start(root);
    d.on_document("/redfish/v1/Chassis", collection);
    const auto next = d.on_document("/redfish/v1/Chassis/1", chassis);
    if (legacy) {
      EXPECT_THAT(uris(next), ElementsAre("/redfish/v1/Chassis/1/Power",
                                          "/redfish/v1/Chassis/1/Thermal",
                                          "/redfish/v1/Chassis/1/EnvironmentMetrics",
                                          "/redfish/v1/Chassis/1/Sensors"));
    } else {
      EXPECT_THAT(uris(next), ElementsAre("/redfish/v1/Chassis/1/EnvironmentMetrics",
                                          "/redfish/v1/Chassis/1/Sensors"));
    }
    EXPECT_EQ(next.back().chassis_id, "1");
  }
}

TEST(Discovery, NeverFollowsLinksOffTheService) {
  Discovery d;
  d.start(R"({"Chassis": {"@odata.id": "/redfish/v1/Chassis"}})");
  const auto next = d.on_document("/redfish/v1/Chassis", R"({
    "@odata.type": "#ChassisCollection.ChassisCollection",
    "Members": [{"@odata.id": "https://pdu.example.com/redfish/v1/Chassis/1"},
                {"@odata.id": "//evil.example/redfish/v1/Chassis/2"},
                {"@odata.id": "/redfish/v10/Chassis/3"},
                {"@odata.id": "/redfish/v1/Chassis/4"}]})");
  EXPECT_THAT(uris(next), ElementsAre("/redfish/v1/Chassis/4"));
}

TEST(Discovery, EachResourceIsFetchedOnceEvenThroughCycles) {
  Discovery d({.use_expand = false});
  d.start(R"({"Chassis": {"@odata.id": "/redfish/v1/Chassis"}})");
  d.on_document("/redfish/v1/Chassis", R"({"@odata.type": "#ChassisCollection.ChassisCollection",
    "Members": [{"@odata.id": "/redfish/v1/Chassis/1"}, {"@odata.id": "/redfish/v1/Chassis/1/"}]})");
  const auto next = d.on_document("/redfish/v1/Chassis/1", R"({"@odata.type": "#Chassis.v1_20_0.Chassis",
    "Sensors": {"@odata.id": "/redfish/v1/Chassis/1/Sensors"}})");
  EXPECT_THAT(uris(next), ElementsAre("/redfish/v1/Chassis/1/Sensors"));
  const auto members = d.on_document("/redfish/v1/Chassis/1/Sensors", R"({
    "@odata.type": "#SensorCollection.SensorCollection",
    "Members": [{"@odata.id": "/redfish/v1/Chassis/1/Sensors/A"},
                {"@odata.id": "/redfish/v1/Chassis/1/Sensors/A"},
                {"@odata.id": "/redfish/v1/Chassis/1"}]})");
  EXPECT_THAT(uris(members), ElementsAre("/redfish/v1/Chassis/1/Sensors/A"));
  EXPECT_EQ(members[0].kind, ResourceKind::sensor);
  EXPECT_EQ(members[0].chassis_id, "1");
}

TEST(Discovery, FailuresAndUnaskedDocuments) {
  Discovery d;
  d.start(R"({"Chassis": {"@odata.id": "/redfish/v1/Chassis"},
              "EventService": {"@odata.id": "/redfish/v1/EventService"}})");
  EXPECT_EQ(d.pending(), 2u);
  // Nobody asked for this: ignored, nothing queued.
  EXPECT_THAT(d.on_document("/redfish/v1/Managers", R"({"Members": []})"), IsEmpty());
  d.on_failure("/redfish/v1/Chassis");
  d.on_failure("/redfish/v1/Chassis");  // twice is harmless
  EXPECT_FALSE(d.done());
  // Malformed JSON ends that branch, counted.
  d.on_document("/redfish/v1/EventService", "{\"ServerSentEventUri\": ");
  EXPECT_TRUE(d.done());
  EXPECT_EQ(d.problems().count(ProblemKind::malformed_json), 1u);
  EXPECT_THAT(d.failed(), UnorderedElementsAre("/redfish/v1/Chassis", "/redfish/v1/EventService"));
  EXPECT_THAT(d.poll_targets(), IsEmpty());
}

TEST(Discovery, MalformedRootLeavesNothingToDo) {
  Discovery d;
  EXPECT_THAT(d.start("<html>502 Bad Gateway</html>"), IsEmpty());
  EXPECT_TRUE(d.done());
  EXPECT_EQ(d.problems().count(ProblemKind::malformed_json), 1u);
}

TEST(Discovery, ResourceCapStopsARunawayService) {
  Discovery d({.max_resources = 5});
  d.start(R"({"Chassis": {"@odata.id": "/redfish/v1/Chassis"}})");
  std::string members;
  for (int i = 0; i < 50; ++i) {
    members += (i ? "," : "") + std::string(R"({"@odata.id": "/redfish/v1/Chassis/)") +
               std::to_string(i) + "\"}";
  }
  const auto next = d.on_document(
      "/redfish/v1/Chassis",
      R"({"@odata.type": "#ChassisCollection.ChassisCollection", "Members": [)" + members + "]}");
  EXPECT_EQ(next.size(), 3u);  // root and the collection count too
  EXPECT_EQ(d.failed().size(), 47u);
}

TEST(Discovery, SseOnlyWhenTheEventServiceIsEnabled) {
  for (bool enabled : {true, false}) {
    Discovery d;
    d.start(R"({"EventService": {"@odata.id": "/redfish/v1/EventService"}})");
    d.on_document("/redfish/v1/EventService",
                  std::string(R"({"@odata.type": "#EventService.v1_7_0.EventService",
                   "ServerSentEventUri": "/redfish/v1/EventService/SSE", "ServiceEnabled": )") +
                      (enabled ? "true" : "false") + "}");
    EXPECT_EQ(d.sse_uri().has_value(), enabled);
  }
  Discovery foreign;
  foreign.start(R"({"EventService": {"@odata.id": "/redfish/v1/EventService"}})");
  foreign.on_document("/redfish/v1/EventService",
                      R"({"ServerSentEventUri": "https://elsewhere/sse"})");
  EXPECT_FALSE(foreign.sse_uri());
}

TEST(Discovery, DataSourceUrisOfUnlistedSensorsAreFetched) {
  Discovery d;
  d.start(R"({"Chassis": {"@odata.id": "/redfish/v1/Chassis"}})");
  d.on_document("/redfish/v1/Chassis", R"({"@odata.type": "#ChassisCollection.ChassisCollection",
    "Members": [{"@odata.id": "/redfish/v1/Chassis/1"}]})");
  d.on_document("/redfish/v1/Chassis/1", R"({"@odata.type": "#Chassis.v1_20_0.Chassis",
    "EnvironmentMetrics": {"@odata.id": "/redfish/v1/Chassis/1/EnvironmentMetrics"}})");
  const auto next = d.on_document("/redfish/v1/Chassis/1/EnvironmentMetrics", R"({
    "@odata.type": "#EnvironmentMetrics.v1_3_0.EnvironmentMetrics",
    "PowerWatts": {"Reading": 10, "DataSourceUri": "/redfish/v1/Chassis/1/Sensors/P"},
    "FanSpeedsPercent": [{"Reading": 5, "DataSourceUri": "/redfish/v1/Chassis/1/Sensors/F"}],
    "PowerLimitWatts": {"SetPoint": 9, "DataSourceUri": "/redfish/v1/Chassis/1/Controls/L"},
    "Oem": {"DataSourceUri": "/redfish/v1/Chassis/1/Other/X"}})");
  EXPECT_THAT(uris(next), UnorderedElementsAre("/redfish/v1/Chassis/1/Sensors/P",
                                               "/redfish/v1/Chassis/1/Sensors/F",
                                               "/redfish/v1/Chassis/1/Controls/L"));
  Discovery off({.follow_data_sources = false});
  off.start(R"({"Chassis": {"@odata.id": "/redfish/v1/Chassis"}})");
  off.on_document("/redfish/v1/Chassis", R"({"@odata.type": "#ChassisCollection.ChassisCollection",
    "Members": [{"@odata.id": "/redfish/v1/Chassis/1"}]})");
  off.on_document("/redfish/v1/Chassis/1", R"({"@odata.type": "#Chassis.v1_20_0.Chassis",
    "EnvironmentMetrics": {"@odata.id": "/redfish/v1/Chassis/1/EnvironmentMetrics"}})");
  EXPECT_THAT(off.on_document("/redfish/v1/Chassis/1/EnvironmentMetrics",
                              R"({"@odata.type": "#EnvironmentMetrics.v1_3_0.EnvironmentMetrics",
    "PowerWatts": {"Reading": 10, "DataSourceUri": "/redfish/v1/Chassis/1/Sensors/P"}})"),
              IsEmpty());
}

TEST(Discovery, OnlyPowerControlsArePolled) {
  Discovery d({.use_expand = false});
  d.start(R"({"Chassis": {"@odata.id": "/redfish/v1/Chassis"}})");
  d.on_document("/redfish/v1/Chassis", R"({"@odata.type": "#ChassisCollection.ChassisCollection",
    "Members": [{"@odata.id": "/redfish/v1/Chassis/1"}]})");
  d.on_document("/redfish/v1/Chassis/1", R"({"@odata.type": "#Chassis.v1_20_0.Chassis",
    "Controls": {"@odata.id": "/redfish/v1/Chassis/1/Controls"}})");
  d.on_document("/redfish/v1/Chassis/1/Controls", R"({"@odata.type": "#ControlCollection.ControlCollection",
    "Members": [{"@odata.id": "/redfish/v1/Chassis/1/Controls/Cap"},
                {"@odata.id": "/redfish/v1/Chassis/1/Controls/Freq"}]})");
  d.on_document("/redfish/v1/Chassis/1/Controls/Cap",
                R"({"@odata.type": "#Control.v1_3_0.Control", "ControlType": "Power", "SetPoint": 1})");
  d.on_document("/redfish/v1/Chassis/1/Controls/Freq",
                R"({"@odata.type": "#Control.v1_3_0.Control", "ControlType": "Frequency"})");
  EXPECT_TRUE(d.done());
  EXPECT_THAT(uris(d.poll_targets()), ElementsAre("/redfish/v1/Chassis/1/Controls/Cap"));
}

TEST(Discovery, CoolingLoopsAndCduChassisFromLinks) {
  Discovery d({.use_expand = false});
  d.start(R"({"ThermalEquipment": {"@odata.id": "/redfish/v1/ThermalEquipment"}})");
  const auto te = d.on_document("/redfish/v1/ThermalEquipment", R"({
    "@odata.type": "#ThermalEquipment.v1_1_0.ThermalEquipment",
    "CDUs": {"@odata.id": "/redfish/v1/ThermalEquipment/CDUs"},
    "CoolingLoops": {"@odata.id": "/redfish/v1/ThermalEquipment/CoolingLoops"}})");
  EXPECT_THAT(uris(te), ElementsAre("/redfish/v1/ThermalEquipment/CDUs",
                                    "/redfish/v1/ThermalEquipment/CoolingLoops"));
  d.on_document("/redfish/v1/ThermalEquipment/CoolingLoops", R"({
    "@odata.type": "#CoolingLoopCollection.CoolingLoopCollection",
    "Members": [{"@odata.id": "/redfish/v1/ThermalEquipment/CoolingLoops/A"}]})");
  const auto loop = d.on_document("/redfish/v1/ThermalEquipment/CoolingLoops/A", R"({
    "@odata.type": "#CoolingLoop.v1_0_3.CoolingLoop",
    "PrimaryCoolantConnectors": {"@odata.id": "/redfish/v1/ThermalEquipment/CoolingLoops/A/PrimaryCoolantConnectors"},
    "Links": {"Chassis": {"@odata.id": "/redfish/v1/Chassis/Rack4"}}})");
  ASSERT_EQ(loop.size(), 1u);
  EXPECT_EQ(loop[0].kind, ResourceKind::coolant_connector_collection);
  EXPECT_EQ(loop[0].chassis_id, "Rack4");
}

TEST(Discovery, ExpandedCollectionIsPolledAsOneTarget) {
  Discovery d;
  d.start(R"({"Chassis": {"@odata.id": "/redfish/v1/Chassis"},
    "ProtocolFeaturesSupported": {"ExpandQuery": {"NoLinks": true, "Levels": true, "MaxLevels": 2}}})");
  d.on_document("/redfish/v1/Chassis", R"({"@odata.type": "#ChassisCollection.ChassisCollection",
    "Members": [{"@odata.id": "/redfish/v1/Chassis/1", "@odata.type": "#Chassis.v1_20_0.Chassis",
                 "Sensors": {"@odata.id": "/redfish/v1/Chassis/1/Sensors"}}]})");
  EXPECT_EQ(d.pending(), 1u);  // the chassis came inline; its Sensors are next
  d.on_document("/redfish/v1/Chassis/1/Sensors", R"({
    "@odata.type": "#SensorCollection.SensorCollection",
    "Members": [{"@odata.id": "/redfish/v1/Chassis/1/Sensors/A", "@odata.type": "#Sensor.v1_7_0.Sensor", "Reading": 1},
                {"@odata.id": "/redfish/v1/Chassis/1/Sensors/B", "@odata.type": "#Sensor.v1_7_0.Sensor", "Reading": 2}]})");
  EXPECT_TRUE(d.done());
  const auto targets = d.poll_targets();
  ASSERT_EQ(targets.size(), 1u);
  EXPECT_EQ(targets[0], (PollTarget{.uri = "/redfish/v1/Chassis/1/Sensors",
                                    .kind = ResourceKind::sensor_collection,
                                    .chassis_id = "1",
                                    .expand = true}));
}

TEST(Discovery, ServiceIgnoringExpandFallsBackToMembers) {
  Discovery d;
  d.start(R"({"Chassis": {"@odata.id": "/redfish/v1/Chassis"},
    "ProtocolFeaturesSupported": {"ExpandQuery": {"NoLinks": true}}})");
  d.on_document("/redfish/v1/Chassis", R"({"@odata.type": "#ChassisCollection.ChassisCollection",
    "Members": [{"@odata.id": "/redfish/v1/Chassis/1"}]})");
  d.on_document("/redfish/v1/Chassis/1", R"({"@odata.type": "#Chassis.v1_20_0.Chassis",
    "Sensors": {"@odata.id": "/redfish/v1/Chassis/1/Sensors"}})");
  const auto members = d.on_document("/redfish/v1/Chassis/1/Sensors", R"({
    "@odata.type": "#SensorCollection.SensorCollection",
    "Members": [{"@odata.id": "/redfish/v1/Chassis/1/Sensors/A"}]})");
  ASSERT_EQ(members.size(), 1u);
  d.on_document("/redfish/v1/Chassis/1/Sensors/A", R"({"@odata.type": "#Sensor.v1_7_0.Sensor"})");
  EXPECT_THAT(uris(d.poll_targets()), ElementsAre("/redfish/v1/Chassis/1/Sensors/A"));
  EXPECT_FALSE(d.poll_targets()[0].expand);
}

TEST(Resource, UriHelpers) {
  EXPECT_EQ(normalise_uri("/redfish/v1/Chassis/1/"), "/redfish/v1/Chassis/1");
  EXPECT_EQ(normalise_uri("/redfish/v1/Chassis/1/Thermal#/Fans/0"), "/redfish/v1/Chassis/1/Thermal");
  EXPECT_EQ(normalise_uri("/"), "/");
  EXPECT_TRUE(is_service_uri("/redfish/v1"));
  EXPECT_TRUE(is_service_uri("/redfish/v1/Chassis"));
  EXPECT_FALSE(is_service_uri("/redfish/v10"));
  EXPECT_FALSE(is_service_uri("https://host/redfish/v1/Chassis"));
  EXPECT_EQ(chassis_from_uri("/redfish/v1/Chassis/1U/Sensors/X"), "1U");
  EXPECT_EQ(chassis_from_uri("/redfish/v1/Chassis/1U"), "1U");
  EXPECT_EQ(chassis_from_uri("/redfish/v1/Systems/1"), "");
  EXPECT_EQ(type_name("#Sensor.v1_12_0.Sensor"), "Sensor");
  EXPECT_EQ(type_version("#Sensor.v1_12_0.Sensor"), "v1_12_0");
  EXPECT_EQ(type_version("#SensorCollection.SensorCollection"), "");
  EXPECT_EQ(kind_from_odata_type("#CoolingUnit.v1_5_0.CoolingUnit"), ResourceKind::cooling_unit);
  EXPECT_EQ(kind_from_odata_type("garbage"), ResourceKind::unknown);
  EXPECT_EQ(member_kind(ResourceKind::leak_detector_collection), ResourceKind::leak_detector);
  for (std::size_t i = 0; i < kResourceKindCount; ++i) {
    EXPECT_NE(to_string(static_cast<ResourceKind>(i)), "") << i;
  }
}

}  // namespace
}  // namespace railyard::redfish
