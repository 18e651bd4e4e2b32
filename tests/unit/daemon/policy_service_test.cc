// daemon/policy_service: BMC readings → policy signals, levels, the
// operator override, actuator acknowledgements and their timeout.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>

#include "daemon/policy_service.h"
#include "drivers/bmc/redfish/sensor_table.h"

namespace railyard::daemon {
namespace {

using policy::Rung;
using policy::Signal;

redfish::SensorState sensor(std::string id, redfish::Kind kind, double value, std::string context = "",
                            std::optional<double> caution = std::nullopt,
                            std::optional<double> critical = std::nullopt, bool stale = false) {
  redfish::SensorState s;
  s.reading.id = id;
  s.reading.name = id;
  s.reading.kind = kind;
  s.reading.value = value;
  s.reading.physical_context = std::move(context);
  s.reading.thresholds.upper_caution = caution;
  s.reading.thresholds.upper_critical = critical;
  s.stale = stale;
  s.age = std::chrono::milliseconds(300);
  return s;
}

const BmcSignal* find(const std::vector<BmcSignal>& v, Signal s) {
  for (const auto& x : v)
    if (x.signal == s) return &x;
  return nullptr;
}

TEST(SignalsFromBmc, HottestGpuCoolantPowerLeak) {
  using K = redfish::Kind;
  const auto out = signals_from_bmc({
      sensor("GPU0Temp", K::temperature, 61, "GPU", 83, 90),
      sensor("GPU1Temp", K::temperature, 67, "GPU", 85, 92),
      sensor("GPU2Temp", K::temperature, 99, "GPU", 80, 88, /*stale=*/true),
      sensor("InletTemp", K::temperature, 25, "Intake", 35, 40),
      sensor("CoolantSupplyTemp", K::coolant_supply_temperature, 31, "LiquidInlet", 40, 45),
      sensor("TotalPower", K::power, 6200, "Chassis", 9000, 10000),
      sensor("PSU1", K::power, 3100, "PowerSupply", 1500, 1600),
      sensor("ColdPlateTray", K::leak, 0),
      sensor("Manifold", K::leak, 1),
      sensor("Fan1", K::fan, 40),
  });
  const auto* gpu = find(out, Signal::gpu_temp_c);
  ASSERT_NE(gpu, nullptr);
  EXPECT_EQ(gpu->value, 67);                          // the stale 99 is not used
  EXPECT_EQ(*gpu->thresholds.upper_caution, 83);      // the tightest GPU threshold
  EXPECT_EQ(*gpu->thresholds.upper_critical, 90);
  const auto* coolant = find(out, Signal::coolant_supply_c);
  ASSERT_NE(coolant, nullptr);
  EXPECT_EQ(coolant->value, 31);  // the coolant sensor, not the inlet
  const auto* power = find(out, Signal::chassis_power_w);
  ASSERT_NE(power, nullptr);
  EXPECT_EQ(power->value, 6200);
  EXPECT_EQ(*power->thresholds.upper_caution, 9000);  // the chassis total's own thresholds
  const auto* leak = find(out, Signal::leak);
  ASSERT_NE(leak, nullptr);
  EXPECT_EQ(leak->value, 1);
}

TEST(SignalsFromBmc, InletStandsForCoolantWhenThereIsNone) {
  const auto out = signals_from_bmc({sensor("InletTemp", redfish::Kind::temperature, 27, "Intake", 35, 40)});
  const auto* coolant = find(out, Signal::coolant_supply_c);
  ASSERT_NE(coolant, nullptr);
  EXPECT_EQ(coolant->value, 27);
}

TEST(SignalsFromBmc, ChassisNameInTheUriSaysNothingAboutTheSensor) {
  // bmc-sim's (and many real) chassis are called after the host: the inlet
  // sensor of chassis "GPUHost" is no GPU, and its 35/40 °C thresholds must
  // not become the GPUs' limits.
  auto inlet = sensor("/redfish/v1/Chassis/GPUHost/Sensors/InletTemp", redfish::Kind::temperature, 24, "", 35, 40);
  inlet.reading.name = "Air Inlet Temperature";
  auto gpu = sensor("/redfish/v1/Chassis/GPUHost/Sensors/GPU0Temp", redfish::Kind::temperature, 61, "", 83, 90);
  gpu.reading.name = "GPU 0 Temperature";
  const auto out = signals_from_bmc({inlet, gpu});
  const auto* g = find(out, Signal::gpu_temp_c);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->value, 61);
  EXPECT_EQ(*g->thresholds.upper_caution, 83);
  const auto* coolant = find(out, Signal::coolant_supply_c);
  ASSERT_NE(coolant, nullptr);
  EXPECT_EQ(coolant->value, 24);
}

TEST(ParseRung, NamesAndNumbers) {
  EXPECT_EQ(parse_rung("batch"), Rung::batch);
  EXPECT_EQ(parse_rung("6"), Rung::freeze);
  EXPECT_EQ(parse_rung("0"), Rung::normal);
  EXPECT_FALSE(parse_rung("hot"));
  EXPECT_FALSE(parse_rung("7"));
}

struct Harness {
  boost::asio::io_context io;
  telemetry::Registry registry;
  PolicyService service;
  std::vector<std::tuple<Rung, bool, uint64_t>> applied;
  bool awaits = true;

  explicit Harness(PolicyService::Settings s = settings())
      : service(io, registry, std::move(s), nullptr) {
    service.on_apply([this](Rung level, bool draining, const std::string&, uint64_t command) {
      applied.emplace_back(level, draining, command);
      return awaits;
    });
  }
  static PolicyService::Settings settings() {
    PolicyService::Settings s;
    s.host = "h";
    s.ack_timeout = std::chrono::milliseconds(50);
    s.actuators.workload_channel = true;
    return s;
  }
};

TEST(PolicyService, OverrideHoldsThenAutoReturns) {
  Harness h;
  h.service.evaluate();
  EXPECT_TRUE(h.applied.empty());  // normal at start: nobody is told anything
  h.service.set_override(Rung::batch, "test");
  ASSERT_EQ(h.applied.size(), 1u);
  EXPECT_EQ(std::get<0>(h.applied[0]), Rung::batch);
  h.service.evaluate();  // the policy says normal; the override holds
  EXPECT_EQ(h.applied.size(), 1u);
  EXPECT_EQ(h.service.applied_level(), Rung::batch);
  h.service.set_drain("test");
  ASSERT_EQ(h.applied.size(), 2u);
  EXPECT_TRUE(std::get<1>(h.applied[1]));
  h.service.clear_override("test");
  ASSERT_EQ(h.applied.size(), 3u);
  EXPECT_EQ(std::get<0>(h.applied[2]), Rung::normal);
  EXPECT_FALSE(std::get<1>(h.applied[2]));
  EXPECT_EQ(h.service.history().size(), 3u);
  EXPECT_EQ(h.service.history().back().source, "operator");
}

TEST(PolicyService, AckAppliesAndSilenceFails) {
  Harness h;
  h.service.set_override(Rung::admission, "test");
  const uint64_t first = std::get<2>(h.applied.at(0));
  EXPECT_EQ(h.service.command_state(), "pending");
  h.service.report(first, Rung::admission, policy::Outcome::applied);
  EXPECT_EQ(h.service.command_state(), "applied");
  h.service.set_override(Rung::batch, "test");
  EXPECT_EQ(h.service.command_state(), "pending");
  h.io.run_for(std::chrono::milliseconds(200));
  EXPECT_EQ(h.service.command_state(), "failed");
  // A late answer to an old command changes nothing.
  h.service.report(first, Rung::admission, policy::Outcome::applied);
  EXPECT_EQ(h.service.command_state(), "failed");
}

TEST(PolicyService, LeakDrains) {
  Harness h;
  h.service.observe(Signal::leak, 1.0);
  h.service.evaluate();
  EXPECT_TRUE(h.service.last().draining);
  ASSERT_FALSE(h.applied.empty());
  EXPECT_TRUE(std::get<1>(h.applied.back()));
  EXPECT_EQ(h.service.history().back().decision.action, policy::Action::drain);
  EXPECT_EQ(h.service.applied_draining(), true);
}

}  // namespace
}  // namespace railyard::daemon
