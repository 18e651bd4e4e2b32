// daemon/policy_service: BMC readings → policy signals, levels, the
// operator override, actuator acknowledgements and their timeout.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <sstream>

#include "daemon/policy_service.h"
#include "daemon/fabric_service.h"
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

TEST(CongestionMeter, QueueingBeyondTheControllersSlackAndMarks) {
  CongestionMeter meter(100'000);  // 100 µs tolerated over the lowest RTT seen
  EXPECT_FALSE(meter.update({}));
  // Two rails at their base RTT, nothing marked: no congestion.
  auto c = meter.update({{.name = "r0", .up = true, .srtt_ns = 40'000, .rx_frames = 1000},
                         {.name = "r1", .up = true, .srtt_ns = 50'000, .rx_frames = 1000}});
  ASSERT_TRUE(c);
  EXPECT_DOUBLE_EQ(*c, 0.0);
  // r0's RTT inflates to 540 µs: 400 of them queueing beyond the 140 tolerated
  // (0.74); r1 within its slack but 30 % of what it received was CE-marked.
  c = meter.update({{.name = "r0", .up = true, .srtt_ns = 540'000, .rx_frames = 2000},
                    {.name = "r1", .up = true, .srtt_ns = 120'000, .rx_frames = 2000, .rx_ecn_ce = 300}});
  ASSERT_TRUE(c);
  EXPECT_NEAR(*c, (400.0 / 540.0 + 0.3) / 2, 1e-9);
  // r1 goes down (its capacity is lost); r0 back to its base; no new marks.
  c = meter.update({{.name = "r0", .up = true, .srtt_ns = 40'000, .rx_frames = 3000},
                    {.name = "r1", .up = false, .rx_frames = 2000, .rx_ecn_ce = 300}});
  ASSERT_TRUE(c);
  EXPECT_DOUBLE_EQ(*c, 0.5);
}

TEST(PolicyService, RailCongestionIsTheCongestionSignal) {
  Harness h;
  uint64_t frames = 0, marked = 0;
  h.service.watch_rails([&] {
    frames += 1000;
    marked += 900;  // 90 % of what arrives is CE-marked
    return std::vector<RailCongestion>{{.name = "r0", .up = true, .srtt_ns = 50'000, .rx_frames = frames,
                                        .rx_ecn_ce = marked}};
  });
  h.service.evaluate();
  h.service.evaluate();
  const auto& c = h.service.last().inputs[policy::index(Signal::congestion)];
  EXPECT_EQ(c.freshness, policy::Freshness::fresh);
  EXPECT_NEAR(c.value, 0.9, 1e-9);
  const auto reply = h.service.reply();
  EXPECT_EQ(reply.signals(policy::index(Signal::congestion)).name(), "congestion");
  EXPECT_NEAR(reply.signals(policy::index(Signal::congestion)).value(), 0.9, 1e-9);
}

// The cgroup rungs through the service, on a cgroup v2 tree laid out in a
// temporary directory (cgroup v1 on a real process: tests/integration/policy_cgroup.sh).
class CgroupV2 : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/railyard-policy-cgroupfs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root = tmpl;
    std::filesystem::create_directories(root / "decode");
    std::ofstream(root / "decode" / "cpu.max") << "max 100000\n";
    std::ofstream(root / "decode" / "cgroup.freeze") << "0\n";
    mounts.v2 = root.string();
  }
  void TearDown() override { std::filesystem::remove_all(root); }
  std::string read(const char* file) const {
    std::ifstream in(root / "decode" / file);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static const v1::PolicyActuator* actuator(const v1::PolicyReply& r, std::string_view name) {
    for (const auto& a : r.actuators())
      if (a.name() == name) return &a;
    return nullptr;
  }
  std::filesystem::path root;
  cgroup::Mounts mounts;
};

TEST_F(CgroupV2, QuotaAndFreezeFollowTheLevel) {
  const auto actuators = PolicyService::open_actuators(
      {.workload_cgroup = "/decode", .cpu_quota_cpus = 0.5, .nvml = false}, mounts, /*workload_channel=*/true);
  ASSERT_TRUE(actuators.cgroup) << actuators.cgroup_absent;
  PolicyService::Settings s = Harness::settings();
  s.actuators = actuators;
  Harness h(s);
  auto r = h.service.reply();
  const auto* c = actuator(r, "cgroup");
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->available());
  EXPECT_THAT(c->detail(), ::testing::HasSubstr("cgroup v2"));
  const auto* n = actuator(r, "nvml");
  ASSERT_NE(n, nullptr);
  EXPECT_FALSE(n->available());
  EXPECT_THAT(n->detail(), ::testing::HasSubstr("[policy] nvml = false"));
  EXPECT_THAT(std::vector<std::string>(r.unavailable().begin(), r.unavailable().end()),
              ::testing::ElementsAre("power_cap", "power_cap_deep"));

  h.service.set_override(Rung::batch, "test");  // below the cgroup rungs: nothing written
  EXPECT_EQ(read("cpu.max"), "max 100000\n");
  h.service.set_override(Rung::cpu_quota, "test");
  EXPECT_EQ(read("cpu.max"), "50000 100000");
  EXPECT_EQ(read("cgroup.freeze"), "0");
  h.service.set_override(Rung::freeze, "test");
  EXPECT_EQ(read("cgroup.freeze"), "1");
  EXPECT_EQ(h.service.cgroup_state(), "CPU quota 0.5 CPUs, frozen");
  h.service.clear_override("test");  // the policy itself says normal
  EXPECT_EQ(read("cpu.max"), "max 100000");
  EXPECT_EQ(read("cgroup.freeze"), "0");

  // A write that fails is shown as such (and written again at the next level).
  std::filesystem::remove(root / "decode" / "cpu.max");
  std::filesystem::create_directory(root / "decode" / "cpu.max");
  h.service.set_override(Rung::cpu_quota, "test");
  EXPECT_THAT(h.service.cgroup_state(), ::testing::StartsWith("failed: cannot open"));
  EXPECT_THAT(actuator(h.service.reply(), "cgroup")->state(), ::testing::HasSubstr("cpu.max"));
}

TEST_F(CgroupV2, StopGivesTheCpuBack) {
  PolicyService::Settings s = Harness::settings();
  s.actuators = PolicyService::open_actuators({.workload_cgroup = "/decode", .nvml = false}, mounts, true);
  Harness h(s);
  h.service.set_override(Rung::freeze, "test");
  EXPECT_EQ(read("cgroup.freeze"), "1");
  h.service.stop();
  EXPECT_EQ(read("cpu.max"), "max 100000");
  EXPECT_EQ(read("cgroup.freeze"), "0");
}

TEST_F(CgroupV2, MissingCgroupIsAbsentWithTheReason) {
  const auto a = PolicyService::open_actuators({.workload_cgroup = "/no-such", .nvml = false}, mounts, true);
  EXPECT_FALSE(a.cgroup);
  EXPECT_THAT(a.cgroup_absent, ::testing::HasSubstr("[policy] workload_cgroup /no-such"));
  EXPECT_THAT(a.cgroup_absent, ::testing::HasSubstr("create the cgroup"));
  const auto none = PolicyService::open_actuators({.nvml = false}, mounts, true);
  EXPECT_THAT(none.cgroup_absent, ::testing::HasSubstr("set [policy] workload_cgroup"));
}

// The BMC as railyardd sees it on the rack: bmc-sim's generated host (8 GPUs
// at 700 W, coolant supply 30 °C, its thresholds: GPUs 83/90/95, inlet 35/40,
// coolant supply 40/45, return 55/60, power 9/10 kW), read by a sweep every
// second through the SensorTable (values rounded to 0.1 °C as the BMC gives
// them, each response 40 ms after the sweep starts), and an SSE event half a
// second after every sweep that hands the policy the same snapshot again.
// A `coolant_ramp` raises the supply by `rate_per_min` from `ramp_at_s`.
class LiveBmc {
 public:
  LiveBmc(double ramp_at_s, double rate_per_min) : ramp_at_s_(ramp_at_s), rate_(rate_per_min / 60.0) {}

  double supply(double t) const { return 30.0 + rate_ * std::max(0.0, t - ramp_at_s_); }
  /// The supply as a GPU's cold plate sees it: a first-order lag of 60 s.
  double lagged_supply(double t) const {
    const double x = std::max(0.0, t - ramp_at_s_);
    return 30.0 + rate_ * (x - kTau * (1.0 - std::exp(-x / kTau)));
  }

  /// The sensors as a sweep at `t_ms` (simulated monotonic ms) reads them.
  void sweep(int64_t t_ms) {
    const double t = static_cast<double>(t_ms) / 1000.0;
    const auto at = wall(t_ms);
    std::vector<redfish::TaggedReading> readings;
    auto add = [&](std::string id, redfish::Kind kind, double value, std::optional<double> caution,
                   std::optional<double> critical, std::optional<double> fatal = std::nullopt) {
      redfish::Reading r;
      r.id = "/redfish/v1/Chassis/GPUHost/Sensors/" + id;
      r.name = id;
      r.chassis_id = "GPUHost";
      r.kind = kind;
      r.value = std::round(value * 10.0) / 10.0;
      r.thresholds.upper_caution = caution;
      r.thresholds.upper_critical = critical;
      r.thresholds.upper_fatal = fatal;
      r.read_at = at;
      readings.push_back({.reading = std::move(r), .target = "/redfish/v1/Chassis/GPUHost/Sensors"});
    };
    using K = redfish::Kind;
    for (int g = 0; g < 8; ++g)
      add(fmt::format("GPU{}Temp", g), K::temperature, lagged_supply(t) + 0.04 * 700.0 + 0.4 * g, 83, 90, 95);
    add("InletTemp", K::temperature, 24.0, 35, 40);
    add("CoolantSupplyTemp", K::coolant_supply_temperature, supply(t), 40, 45);
    add("CoolantReturnTemp", K::coolant_return_temperature, supply(t) + 6.4, 55, 60);
    add("TotalPower", K::power, 7400, 9000, 10000);
    table_.update(std::move(readings), {{.target = "/redfish/v1/Chassis/GPUHost/Sensors", .ok = true}}, at);
  }
  std::vector<redfish::SensorState> snapshot(int64_t t_ms) const { return table_.snapshot(wall(t_ms)); }

 private:
  static constexpr double kTau = 60.0;
  static redfish::TimePoint wall(int64_t t_ms) {
    return redfish::TimePoint{} + std::chrono::seconds(1'790'000'000) + std::chrono::milliseconds(t_ms);
  }
  double ramp_at_s_;
  double rate_;
  redfish::SensorTable table_{std::chrono::milliseconds(3000)};
};

struct LiveRun {
  int64_t first_throttle_ms = -1;  ///< -1: never
  double supply_then = 0.0;
  double slope_then = 0.0;
  std::string reason;
};

// Runs PolicyService the way the daemon does (observe_bmc after each sweep and
// each event, evaluate every 200 ms) on a simulated clock until the first
// step up or `until_s`.
LiveRun run_live(LiveBmc& bmc, double until_s) {
  int64_t now = 0;
  boost::asio::io_context io;
  telemetry::Registry registry;
  PolicyService::Settings settings;
  settings.host = "h1";
  settings.bmc_poll = std::chrono::milliseconds(1000);
  settings.actuators.workload_channel = true;
  PolicyService service(io, registry, settings, nullptr, [&now] { return now; });
  LiveRun run;
  for (now = 0; now <= static_cast<int64_t>(until_s * 1000); now += 20) {
    if (now % 1000 == 40) {
      bmc.sweep(now);
      service.observe_bmc(bmc.snapshot(now));
    }
    if (now % 1000 == 540) service.observe_bmc(bmc.snapshot(now));  // an event: nothing new
    if (now % 200 == 0) service.evaluate();
    if (service.applied_level() != Rung::normal || service.applied_draining()) {
      const auto& coolant = service.last().inputs[policy::index(Signal::coolant_supply_c)];
      run.first_throttle_ms = now;
      run.supply_then = coolant.value;
      run.slope_then = coolant.slope_per_s;
      run.reason = service.last().reason;
      break;
    }
  }
  return run;
}

// The live-rack bug: +12 °C/min on the coolant from t = 5 s crosses the 40 °C
// limit at 55 s; the policy must throttle before, seeing the rise.
TEST(PolicyServiceLive, SteepCoolantRampThrottlesBeforeTheLimit) {
  LiveBmc bmc(5.0, 12.0);
  const LiveRun run = run_live(bmc, 120.0);
  ASSERT_GE(run.first_throttle_ms, 0) << "never throttled";
  EXPECT_LT(run.supply_then, 40.0) << run.reason;
  EXPECT_LT(bmc.supply(static_cast<double>(run.first_throttle_ms) / 1000.0), 40.0) << run.reason;
  EXPECT_GT(run.slope_then, 0.1) << run.reason;
}

// The same ramp after ten quiet minutes: a window full of flat history must
// not hide a ramp that started 20 s ago.
TEST(PolicyServiceLive, SteepCoolantRampAfterLongQuietThrottlesBeforeTheLimit) {
  LiveBmc bmc(600.0, 12.0);
  const LiveRun run = run_live(bmc, 720.0);
  ASSERT_GE(run.first_throttle_ms, 600'000) << "throttled before the ramp: " << run.reason;
  EXPECT_LT(bmc.supply(static_cast<double>(run.first_throttle_ms) / 1000.0), 40.0) << run.reason;
}

// Ten quiet minutes and a slow ramp (+0.5 °C/min, 20 min to the limit) that
// needs no action yet: nothing happens.
TEST(PolicyServiceLive, QuietAndSlowRampDoNothing) {
  LiveBmc bmc(300.0, 0.5);
  const LiveRun run = run_live(bmc, 900.0);
  EXPECT_EQ(run.first_throttle_ms, -1) << run.reason;
}

}  // namespace
}  // namespace railyard::daemon
