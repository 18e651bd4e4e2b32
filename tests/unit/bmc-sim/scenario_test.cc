// Scenario files and the timeline math: ramps, the GPUs' first-order lag
// (checked against a fine numerical integration), leaks, set/ramp overrides,
// faults and their precedence.

#include <gtest/gtest.h>

#include <cmath>

#include "tools/bmc-sim/scenario.h"

namespace railyard::bmcsim {
namespace {

constexpr std::string_view kFull = R"(
name = "ramp, spike, leak and every fault"

[host]
gpus = 4
supply_celsius = 28.5
gpu_watts = 600
gpu_tau_seconds = 30

[[change]]
kind = "coolant_ramp"
at = 60
rate = 2.0        # °C per minute
duration = 300

[[change]]
kind = "power_spike"
at = 100
watts = 2000
duration = 20

[[change]]
kind = "leak"
at = 200
detector = "ColdPlateTray"
state = "Warning"
duration = 50

[[change]]
kind = "set"
sensor = "InletTemp"
at = 10
value = 33.5

[[change]]
kind = "ramp"
sensor = "/redfish/v1/Chassis/GPUHost/Sensors/CoolantFlow"
at = 0
rate = -1.5
duration = 120

[[fault]]
kind = "http_error"
at = 5
duration = 2
paths = ["/redfish/v1/Chassis/*"]

[[fault]]
kind = "unavailable"
at = 6
duration = 10
retry_after = 3
paths = "/redfish/v1/Chassis/GPUHost/Sensors*"

[[fault]]
kind = "hang"
at = 30
duration = 5

[[fault]]
kind = "malformed"
mode = "garbage"
at = 40
duration = 5

[[fault]]
kind = "slow"
at = 0
delay_ms = 250
paths = ["/redfish/v1"]
)";

Scenario parse_ok(std::string_view text) {
  std::string error;
  auto s = parse_scenario(text, "test.toml", error);
  EXPECT_TRUE(s) << error;
  return s ? *s : Scenario{};
}

std::string parse_error(std::string_view text) {
  std::string error;
  auto s = parse_scenario(text, "bad.toml", error);
  EXPECT_FALSE(s);
  return error;
}

TEST(ScenarioFile, ParsesEveryKindOfChangeAndFault) {
  const auto s = parse_ok(kFull);
  EXPECT_EQ(s.name, "ramp, spike, leak and every fault");
  EXPECT_EQ(s.host.gpus, 4);
  EXPECT_DOUBLE_EQ(s.host.supply_celsius, 28.5);
  EXPECT_DOUBLE_EQ(s.host.gpu_tau_seconds, 30);
  EXPECT_DOUBLE_EQ(s.host.flow_lpm, HostParams{}.flow_lpm);  // defaults stay
  ASSERT_EQ(s.changes.size(), 5u);
  EXPECT_EQ(s.changes[0].kind, Change::Kind::coolant_ramp);
  EXPECT_DOUBLE_EQ(s.changes[0].rate, 2.0);
  EXPECT_EQ(s.changes[1].kind, Change::Kind::power_spike);
  EXPECT_DOUBLE_EQ(s.changes[1].watts, 2000);
  EXPECT_EQ(s.changes[2].kind, Change::Kind::leak);
  EXPECT_EQ(s.changes[2].target, "ColdPlateTray");
  EXPECT_EQ(s.changes[2].state, "Warning");
  EXPECT_EQ(s.changes[3].kind, Change::Kind::set);
  EXPECT_EQ(s.changes[4].kind, Change::Kind::ramp);
  ASSERT_EQ(s.faults.size(), 5u);
  EXPECT_EQ(s.faults[0].kind, FaultKind::http_error);
  EXPECT_EQ(s.faults[0].status, 500);
  EXPECT_EQ(s.faults[1].kind, FaultKind::unavailable);
  EXPECT_EQ(s.faults[1].status, 503);
  EXPECT_EQ(s.faults[1].retry_after, 3);
  EXPECT_EQ(s.faults[1].paths, std::vector<std::string>{"/redfish/v1/Chassis/GPUHost/Sensors*"});
  EXPECT_EQ(s.faults[3].malformation, Malformation::garbage);
  EXPECT_EQ(s.faults[4].delay_ms, 250);
}

TEST(ScenarioFile, ErrorsNameTheLineAndTheFix) {
  EXPECT_EQ(parse_error("[host]\ngpus = 2\nfans = \"many\"\n"), "bad.toml:3: fans must be a number");
  EXPECT_EQ(parse_error("[[change]]\nkind = \"tsunami\"\nat = 1\n"),
            "bad.toml:1: unknown change kind 'tsunami': use coolant_ramp, power_spike, leak, set or ramp");
  EXPECT_EQ(parse_error("\n[[change]]\nkind = \"set\"\nsensor = \"X\"\nvalue = 1\nvalu = 2\n"),
            "bad.toml:6: unknown key 'valu' in [[change]]");
  EXPECT_EQ(parse_error("[[fault]]\nkind = \"http_error\"\nstatus = 200\n"),
            "bad.toml:3: status = 200 is out of range [400, 599]");
  EXPECT_EQ(parse_error("[[change]]\nkind = \"leak\"\ndetector = \"A\"\nstate = \"Wet\"\n"),
            "bad.toml:1: leak state 'Wet' must be \"OK\", \"Warning\" or \"Critical\"");
  EXPECT_EQ(parse_error("speed = 3\n"),
            "bad.toml:1: unknown key 'speed': a scenario has name, [host], [[change]] and [[fault]]");
  EXPECT_EQ(parse_error("[[fault]]\nat = 1\n"),
            "bad.toml:1: [[fault]] needs kind = \"http_error\" | \"hang\" | \"malformed\" | \"slow\" | \"unavailable\"");
  EXPECT_TRUE(parse_error("[[change]\n").starts_with("bad.toml:1: "));
  EXPECT_EQ(parse_error("[host]\ngpus = 2.5\n"), "bad.toml:2: gpus must be a whole number");
  std::string error;
  EXPECT_FALSE(load_scenario("/nonexistent/s.toml", error));
  EXPECT_EQ(error, "/nonexistent/s.toml: cannot open the scenario file");
}

TEST(Timeline, CoolantRampIsLinearAndHoldsWhereItEnded) {
  const Timeline tl(parse_ok(kFull));
  EXPECT_DOUBLE_EQ(tl.supply_celsius(0), 28.5);
  EXPECT_DOUBLE_EQ(tl.supply_celsius(60), 28.5);
  EXPECT_DOUBLE_EQ(tl.supply_celsius(90), 29.5);   // 30 s at 2 °C/min
  EXPECT_DOUBLE_EQ(tl.supply_celsius(360), 38.5);  // the whole 300 s
  EXPECT_DOUBLE_EQ(tl.supply_celsius(5000), 38.5);
}

TEST(Timeline, PowerSpikeIsAStepSharedByTheGpus) {
  const Timeline tl(parse_ok(kFull));
  EXPECT_DOUBLE_EQ(tl.gpu_watts(99), 600);
  EXPECT_DOUBLE_EQ(tl.gpu_watts(100), 1100);  // 2000 W over 4 GPUs
  EXPECT_DOUBLE_EQ(tl.gpu_watts(120), 600);
  EXPECT_DOUBLE_EQ(tl.host_watts(110), tl.host().other_watts + 4 * 1100);
}

TEST(Timeline, GpuTemperatureLagsAStepExponentially) {
  Scenario s;
  s.host.gpus = 1;
  s.host.gpu_tau_seconds = 60;
  s.changes.push_back({.kind = Change::Kind::power_spike, .at = 100, .watts = 500});
  const Timeline tl(std::move(s));
  const double before = tl.gpu_steady_celsius(0, 0);
  const double after = tl.gpu_steady_celsius(0, 100);
  EXPECT_DOUBLE_EQ(after - before, 500 * tl.host().gpu_kelvin_per_watt);
  EXPECT_DOUBLE_EQ(tl.gpu_celsius(0, 50), before);  // settled
  EXPECT_NEAR(tl.gpu_celsius(0, 160), after + (before - after) * std::exp(-1.0), 1e-9);
  EXPECT_NEAR(tl.gpu_celsius(0, 100 + 600), after, 1e-3);
}

TEST(Timeline, GpuTemperatureTrailsARampByRateTimesTau) {
  Scenario s;
  s.host.gpu_tau_seconds = 20;
  s.changes.push_back({.kind = Change::Kind::coolant_ramp, .at = 0, .rate = 6.0});  // 0.1 °C/s
  const Timeline tl(std::move(s));
  EXPECT_NEAR(tl.gpu_steady_celsius(3, 1000) - tl.gpu_celsius(3, 1000), 0.1 * 20, 1e-6);
}

TEST(Timeline, GpuTemperatureMatchesANumericalIntegrationOfTheWholeScenario) {
  const Timeline tl(parse_ok(kFull));
  const double tau = tl.host().gpu_tau_seconds;
  for (int gpu : {0, 3}) {
    double temp = tl.gpu_steady_celsius(gpu, 0);
    const double dt = 0.001;
    for (int step = 0; step < 500'000; ++step) {  // 500 s, midpoint rule
      const double t = step * dt;
      temp += (tl.gpu_steady_celsius(gpu, t + dt / 2) - temp) * (1 - std::exp(-dt / tau));
      if ((step + 1) % 50'000 == 0) {
        const double at = (step + 1) * dt;
        EXPECT_NEAR(tl.gpu_celsius(gpu, at), temp, 2e-3) << "gpu " << gpu << " t=" << at;
      }
    }
  }
}

TEST(Timeline, LeakAtTAndItsEnd) {
  const Timeline tl(parse_ok(kFull));
  const std::string uri = "/redfish/v1/Chassis/GPUHost/ThermalSubsystem/LeakDetection/LeakDetectors/ColdPlateTray";
  EXPECT_EQ(tl.leak_state(uri, 199.9), "OK");
  EXPECT_EQ(tl.leak_state(uri, 200), "Warning");
  EXPECT_EQ(tl.leak_state(uri, 249.9), "Warning");
  EXPECT_EQ(tl.leak_state(uri, 250), "OK");
  EXPECT_EQ(tl.leak_state("/redfish/v1/Chassis/GPUHost/.../LeakDetectors/Manifold", 220), "OK");
  EXPECT_TRUE(tl.leaks(uri));
  EXPECT_FALSE(tl.leaks(uri + "X"));
}

TEST(Timeline, SetAndRampOverrideNamedReadings) {
  const Timeline tl(parse_ok(kFull));
  const std::string inlet = "/redfish/v1/Chassis/GPUHost/Sensors/InletTemp";
  const std::string flow = "/redfish/v1/Chassis/GPUHost/Sensors/CoolantFlow";
  EXPECT_DOUBLE_EQ(tl.adjust(inlet, 24, 9), 24);
  EXPECT_DOUBLE_EQ(tl.adjust(inlet, 24, 10), 33.5);
  EXPECT_DOUBLE_EQ(tl.adjust(flow, 12, 60), 10.5);
  EXPECT_DOUBLE_EQ(tl.adjust(flow, 12, 500), 9);
  EXPECT_TRUE(tl.adjusts(flow));
  EXPECT_FALSE(tl.adjusts("/redfish/v1/Chassis/Other/Sensors/CoolantFlowX"));
}

TEST(Names, MatchTheWholeUriOrASuffixOnASegmentBoundary) {
  EXPECT_TRUE(names_resource("CPU1Temp", "/redfish/v1/Chassis/1U/Sensors/CPU1Temp"));
  EXPECT_TRUE(names_resource("Sensors/CPU1Temp", "/redfish/v1/Chassis/1U/Sensors/CPU1Temp/"));
  EXPECT_TRUE(names_resource("/redfish/v1/Chassis/1U/Sensors/CPU1Temp", "/redfish/v1/Chassis/1U/Sensors/CPU1Temp"));
  EXPECT_FALSE(names_resource("1Temp", "/redfish/v1/Chassis/1U/Sensors/CPU1Temp"));
  EXPECT_FALSE(names_resource("", "/redfish/v1"));
}

TEST(Faults, ActiveIntervalsPathsAndPrecedence) {
  const Timeline tl(parse_ok(kFull));
  const std::string sensors = "/redfish/v1/Chassis/GPUHost/Sensors";
  EXPECT_EQ(tl.fault(sensors, 4.9), nullptr);
  ASSERT_NE(tl.fault(sensors, 5), nullptr);
  EXPECT_EQ(tl.fault(sensors, 5)->kind, FaultKind::http_error);
  EXPECT_EQ(tl.fault(sensors, 6.5)->kind, FaultKind::unavailable);  // outranks the 500
  EXPECT_EQ(tl.fault("/redfish/v1/Chassis", 6.5), nullptr);  // "/redfish/v1/Chassis/*" needs the slash
  ASSERT_NE(tl.fault("/redfish/v1/Chassis/GPUHost", 6.5), nullptr);
  EXPECT_EQ(tl.fault("/redfish/v1/Chassis/GPUHost", 6.5)->kind, FaultKind::http_error);
  EXPECT_EQ(tl.fault("/redfish/v1/EventService", 6.5), nullptr);
  EXPECT_EQ(tl.fault("/redfish/v1/EventService", 30)->kind, FaultKind::hang);
  EXPECT_EQ(tl.fault("/redfish/v1/EventService", 35), nullptr);
  EXPECT_EQ(tl.fault("/redfish/v1", 44.9)->kind, FaultKind::malformed);
  EXPECT_EQ(tl.delay_ms("/redfish/v1/", 1000), 250);
  EXPECT_EQ(tl.delay_ms("/redfish/v1/Chassis", 1000), 0);
}

}  // namespace
}  // namespace railyard::bmcsim
