// Unit tests of policy/: synthetic traces through the unmodified policy.
#include "policy/policy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

namespace railyard::policy {
namespace {

/// Deterministic noise in [-1, 1).
class Noise {
 public:
  explicit Noise(std::uint64_t seed) : s_(seed) {}
  double next() {
    s_ = s_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(s_ >> 11) * 0x1.0p-52 - 1.0;
  }

 private:
  std::uint64_t s_;
};

PolicyConfig temp_only(double limit = 83.0) {
  PolicyConfig c = default_config();
  c.signals[index(Signal::gpu_temp_c)].limits = {.limit = limit, .critical = 90.0};
  return c;
}

struct Trace {
  std::vector<Decision> changes;
  std::size_t evaluations = 0;
};

/// Drives the policy from t0 to t1: `feed(t)` gives samples every 100 ms,
/// evaluation every 200 ms. Returns the decisions that changed something.
Trace drive(Policy& p, TimeMs t0, TimeMs t1, const std::function<void(TimeMs)>& feed) {
  Trace r;
  for (TimeMs t = t0; t < t1; t += 100) {
    feed(t);
    if (t % 200 == 0) {
      Decision d = p.evaluate(t);
      ++r.evaluations;
      if (d.changed()) r.changes.push_back(std::move(d));
    }
  }
  return r;
}

TEST(Trend, TheilSenIgnoresOutliersAndFindsQuantisedRamp) {
  Series s(64, 0);
  std::vector<double> scratch;
  for (int i = 0; i < 40; ++i) {
    double v = std::round(50.0 + 0.05 * i);  // 1-unit steps: a slow quantised ramp
    if (i == 20) v = 500.0;                  // a spike
    s.add(i * 1000, v);
  }
  const Trend t = estimate_trend(s, 0, {.min_points = 5, .min_span_ms = 0, .min_rise = 0.0, .significance = 4.0}, scratch);
  ASSERT_TRUE(t.valid);
  EXPECT_NEAR(t.slope_per_s, 0.05, 0.02);
  EXPECT_LT(t.level, 53.0);  // the spike does not move the robust level
}

// Five minutes flat, then a ramp for the last 20 s: in the whole window the
// flat pairs outvote the ramp (Theil–Sen's median), the newest points do not.
TEST(Trend, RecentRampIsNotOutvotedByFlatHistory) {
  Series s(64, 0);
  std::vector<double> scratch;
  for (int i = 0; i <= 60; ++i) s.add(i * 5000, i < 56 ? 30.0 : 30.0 + 1.0 * (i - 55));
  const TrendParams params{.min_points = 4, .min_span_ms = 15'000, .min_rise = 0.3, .significance = 4.0};
  const Trend t = estimate_trend(s, 0, params, scratch);
  ASSERT_TRUE(t.valid);
  EXPECT_NEAR(t.slope_per_s, 0.2, 0.01);
  // The same history without the ramp: flat.
  Series flat(64, 0);
  Noise noise(7);
  for (int i = 0; i <= 60; ++i) flat.add(i * 5000, std::round((30.0 + 0.05 * noise.next()) * 10.0) / 10.0);
  EXPECT_EQ(estimate_trend(flat, 0, params, scratch).slope_per_s, 0.0);
}

TEST(Trend, BucketsAverageFastSamples) {
  Series s(8, 500);
  for (int i = 0; i < 10; ++i) s.add(i * 100, i < 5 ? 10.0 : 20.0);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_DOUBLE_EQ(s.at(0).value, 10.0);
  EXPECT_DOUBLE_EQ(s.at(1).value, 20.0);
  EXPECT_FALSE(s.add(100, 1.0));  // out of order
}

TEST(Limits, BmcThresholdsBecomeLimits) {
  const double margin = 5.0;
  Limits l = resolve_limits({}, {.upper_caution = 80.0, .upper_critical = 90.0}, margin);
  EXPECT_EQ(l.limit, 80.0);
  EXPECT_EQ(l.critical, 90.0);
  // The tighter of the BMC's own and the operator's user threshold.
  l = resolve_limits({}, {.upper_caution = 80.0, .upper_critical = 90.0, .upper_caution_user = 78.0}, margin);
  EXPECT_EQ(l.limit, 78.0);
  // Configuration wins.
  l = resolve_limits({.limit = 85.0, .critical = {}}, {.upper_caution = 80.0, .upper_critical = 90.0}, margin);
  EXPECT_EQ(l.limit, 85.0);
  EXPECT_EQ(l.critical, 90.0);
  // Only a critical (or fatal): act a margin under it.
  l = resolve_limits({}, {.upper_fatal = 95.0}, margin);
  EXPECT_EQ(l.critical, 95.0);
  EXPECT_EQ(l.limit, 90.0);
  // Nothing: no limit.
  EXPECT_FALSE(resolve_limits({}, {}, margin).has_limit());
}

TEST(Policy, BmcThresholdsDriveTheLadder) {
  Policy p;  // default config: no limits at all
  EXPECT_FALSE(p.limits(Signal::chassis_power_w).has_limit());
  p.set_bmc_thresholds(Signal::chassis_power_w, {.upper_caution = 6200.0, .upper_critical = 7000.0});
  EXPECT_EQ(p.limits(Signal::chassis_power_w).limit, 6200.0);
  // Chassis power rising 20 W/s from 5000 W, one BMC reading every 2 s.
  const Trace r = drive(p, 0, 120'000, [&](TimeMs t) {
    if (t % 2000 == 0) p.observe({.signal = Signal::chassis_power_w, .t_ms = t, .value = 5000.0 + 0.02 * t});
  });
  ASSERT_FALSE(r.changes.empty());
  const Decision& d = r.changes.front();
  EXPECT_EQ(d.action, Action::step_up);
  EXPECT_EQ(d.binding, Signal::chassis_power_w);
  EXPECT_LT(5000.0 + 0.02 * d.t_ms, 6200.0) << "acted only after the limit: " << d.reason;
}

TEST(Policy, RampThrottlesBeforeTheLimit) {
  Policy p(temp_only());
  Noise n(1);
  // 0.1 °C/s from 70 °C, integer readings with ±0.5 °C noise: 83 °C at 130 s.
  const auto temp = [](TimeMs t) { return 70.0 + 0.1 * static_cast<double>(t) / 1000.0; };
  const Trace r = drive(p, 0, 200'000, [&](TimeMs t) {
    p.observe({.signal = Signal::gpu_temp_c, .t_ms = t, .value = std::round(temp(t) + 0.5 * n.next())});
  });
  ASSERT_FALSE(r.changes.empty());
  const Decision& first = r.changes.front();
  EXPECT_EQ(first.action, Action::step_up);
  EXPECT_EQ(first.binding, Signal::gpu_temp_c);
  // Ahead of the limit by at least the lead time of what it chose.
  const double lead_s = static_cast<double>(default_config().rungs[index(first.to)].lead_ms) / 1000.0;
  EXPECT_LT(static_cast<double>(first.t_ms) / 1000.0 + lead_s, 130.0) << first.reason;
  EXPECT_LT(first.inputs[index(Signal::gpu_temp_c)].ttl_s, first.horizon_s);
  EXPECT_FALSE(first.reason.empty());
}

TEST(Policy, CoolantRampThrottlesBeforeTheLimitThroughTheModel) {
  PolicyConfig c = temp_only();
  c.thermal.initial_r = 0.07;
  Policy p(c);
  Noise n(2);
  // Coolant +2 °C/min from 32 °C at t = 60 s; power 560 W; GPU follows an RC model (τ 20 s).
  double temp = 32.0 + 0.07 * 560.0;
  const auto coolant = [](TimeMs t) { return 32.0 + std::max(0.0, static_cast<double>(t - 60'000) / 30'000.0); };
  TimeMs crossed = -1;
  const Trace r = drive(p, 0, 600'000, [&](TimeMs t) {
    temp += (coolant(t) + 0.07 * 560.0 - temp) * (1.0 - std::exp(-0.1 / 20.0));
    if (temp >= 83.0 && crossed < 0) crossed = t;
    p.observe({.signal = Signal::gpu_temp_c, .t_ms = t, .value = std::round(temp + 0.4 * n.next())});
    p.observe({.signal = Signal::gpu_power_w, .t_ms = t, .value = std::round(560.0 + 5.0 * n.next())});
    if (t % 5000 == 0) p.observe({.signal = Signal::coolant_supply_c, .t_ms = t, .value = coolant(t)});
  });
  ASSERT_GT(crossed, 0);
  ASSERT_FALSE(r.changes.empty());
  const Decision& first = r.changes.front();
  EXPECT_EQ(first.action, Action::step_up);
  EXPECT_TRUE(first.inputs[index(Signal::gpu_temp_c)].from_model);
  // Well ahead of the crossing: the model sees the coolant ramp coming.
  EXPECT_LT(first.t_ms + 30'000, crossed) << first.reason;
}

PolicyConfig noisy_host_config() {
  PolicyConfig c = temp_only();
  c.signals[index(Signal::gpu_power_w)].limits = {.limit = 625.0, .critical = {}};
  return c;
}

TEST(Policy, NoiseAloneTakesNoAction) {
  Policy p(noisy_host_config());
  Noise n(3);
  const Trace r = drive(p, 0, 3'600'000, [&](TimeMs t) {
    // 75 °C ± 2 °C and 560 W ± 25 W of sensor noise; coolant 32 ± 0.2 °C every 5 s.
    p.observe({.signal = Signal::gpu_temp_c, .t_ms = t, .value = std::round(75.0 + 2.0 * n.next())});
    p.observe({.signal = Signal::gpu_power_w, .t_ms = t, .value = std::round(560.0 + 25.0 * n.next())});
    if (t % 5000 == 0) p.observe({.signal = Signal::coolant_supply_c, .t_ms = t, .value = 32.0 + 0.2 * n.next()});
  });
  for (const Decision& d : r.changes) ADD_FAILURE() << d.t_ms << " ms: " << d.reason;
  EXPECT_EQ(p.level(), Rung::normal);
}

/// A temperature oscillating around 81 °C (±2.5 °C, 2 min period), open loop.
Trace oscillate(Policy& p) {
  Noise n(4);
  return drive(p, 0, 3'600'000, [&](TimeMs t) {
    const double v = 81.0 + 2.5 * std::sin(2.0 * 3.14159265 * static_cast<double>(t) / 120'000.0);
    p.observe({.signal = Signal::gpu_temp_c, .t_ms = t, .value = std::round(v + 0.4 * n.next())});
  });
}

TEST(Policy, OscillationNearTheLimitDoesNotFlap) {
  // The scenario flaps a policy without hysteresis and dwell, so this test can fail...
  PolicyConfig bare = temp_only();
  bare.signals[index(Signal::gpu_temp_c)].band = 0.0;
  bare.dwell_down_ms = 0;
  bare.dwell_down_max_ms = 0;
  Policy flappy(bare);
  const Trace rf = oscillate(flappy);
  ASSERT_GE(rf.changes.size(), 30u) << "the oscillation no longer tests anything";
  // ... and the default one does not.
  Policy p(temp_only());
  const Trace r = oscillate(p);
  std::size_t ups = 0, downs = 0;
  for (const Decision& d : r.changes) (d.action == Action::step_up ? ups : downs) += 1;
  EXPECT_LE(p.counters().flips, 1u);
  EXPECT_LE(r.changes.size(), 6u) << "level changes in an hour";
  EXPECT_GE(ups, 1u) << "peaks at 83.5 °C must be acted on";
}

// A burst of demand over the power limit, held at the 600 W cap while it
// lasts (inside the 30 W band: no step down then); once it is over, the
// levels it drove come off after the power's dwell (15 s each), not a
// temperature's minute.
TEST(Policy, PowerBurstIsReleasedAfterThePowerDwell) {
  PolicyConfig c = default_config();
  c.signals[index(Signal::gpu_power_w)].limits = {.limit = 625.0, .critical = 700.0};
  Policy p(c);
  auto demand = [](TimeMs t) {
    if (t < 20'000 || t >= 100'000) return 500.0;
    return std::min(680.0, 500.0 + 6.0 * static_cast<double>(t - 20'000) / 1000.0);
  };
  const Trace r = drive(p, 0, 300'000, [&](TimeMs t) {
    const double w = index(p.level()) >= index(Rung::power_cap) ? std::min(demand(t), 600.0) : demand(t);
    p.observe({.signal = Signal::gpu_power_w, .t_ms = t, .value = w});
  });
  ASSERT_FALSE(r.changes.empty());
  EXPECT_EQ(r.changes.front().action, Action::step_up);
  EXPECT_LT(r.changes.front().t_ms, 40'000) << "acted before the limit";
  TimeMs first_down = -1, last_down = -1;
  for (const Decision& d : r.changes) {
    if (d.action != Action::step_down) continue;
    if (first_down < 0) first_down = d.t_ms;
    last_down = d.t_ms;
    EXPECT_GE(d.t_ms, 100'000 + 15'000) << d.reason << " at " << d.t_ms;  // no step down while the burst lasts, nor before the dwell
  }
  EXPECT_EQ(p.level(), Rung::normal);
  EXPECT_LT(last_down, 100'000 + 4 * 15'000 + 5'000) << "every level off within a dwell per rung";
  EXPECT_EQ(p.counters().flips, 0u);
}

TEST(Policy, StaleSensorHoldsThenOnePrecautionaryStep) {
  // Lost far from the limit (70 °C, limit 83, band 4): hold, no step.
  {
    Policy far(temp_only());
    drive(far, 0, 60'000, [&](TimeMs t) { far.observe({.signal = Signal::gpu_temp_c, .t_ms = t, .value = 70.0}); });
    const Trace r = drive(far, 60'000, 300'000, [](TimeMs) {});
    EXPECT_TRUE(r.changes.empty());
    EXPECT_EQ(far.level(), Rung::normal);
  }
  Policy p(temp_only());
  // Fresh at 78 °C (within two bands of the limit) for a minute, then silence.
  drive(p, 0, 60'000, [&](TimeMs t) { p.observe({.signal = Signal::gpu_temp_c, .t_ms = t, .value = 78.0}); });
  EXPECT_EQ(p.level(), Rung::normal);
  // Stale (after 2 s): hold.
  Decision d = p.evaluate(63'000);
  EXPECT_EQ(d.inputs[index(Signal::gpu_temp_c)].freshness, Freshness::stale);
  EXPECT_EQ(d.action, Action::hold);
  // Lost (after 10 s): exactly one step up, as a precaution.
  const Trace lost = drive(p, 63'200, 300'000, [](TimeMs) {});
  ASSERT_EQ(lost.changes.size(), 1u);
  EXPECT_EQ(lost.changes[0].action, Action::step_up);
  EXPECT_EQ(lost.changes[0].to, Rung::admission);
  EXPECT_GE(lost.changes[0].t_ms, 70'000);
  EXPECT_LE(lost.changes[0].t_ms, 71'000);
  EXPECT_NE(lost.changes[0].reason.find("precaution"), std::string::npos);
  EXPECT_EQ(p.counters().precautions, 1u);
  // Back and cool: steps down after the dwell, not before.
  const Trace back = drive(p, 300'000, 500'000, [&](TimeMs t) {
    p.observe({.signal = Signal::gpu_temp_c, .t_ms = t, .value = 70.0});
  });
  ASSERT_EQ(back.changes.size(), 1u);
  EXPECT_EQ(back.changes[0].action, Action::step_down);
  EXPECT_EQ(p.level(), Rung::normal);
}

TEST(Policy, StaleSensorBlocksStepDown) {
  Policy p(temp_only());
  // Hot ramp: the policy throttles.
  drive(p, 0, 100'000, [&](TimeMs t) {
    p.observe({.signal = Signal::gpu_temp_c, .t_ms = t, .value = 70.0 + 0.12 * static_cast<double>(t) / 1000.0});
  });
  ASSERT_NE(p.level(), Rung::normal);
  const Rung held = p.level();
  // Samples stop: stale, then lost. The level never goes down meanwhile.
  const Trace r = drive(p, 100'000, 400'000, [](TimeMs) {});
  for (const Decision& d : r.changes) EXPECT_NE(d.action, Action::step_down) << d.reason;
  EXPECT_GE(index(p.level()), index(held));
}

TEST(Policy, LeakDrainsAtOnce) {
  PolicyConfig c = temp_only();
  c.drain_hold_ms = 60'000;
  Policy p(c);
  drive(p, 0, 10'000, [&](TimeMs t) {
    p.observe({.signal = Signal::gpu_temp_c, .t_ms = t, .value = 70.0});
    if (t % 1000 == 0) p.observe({.signal = Signal::leak, .t_ms = t, .value = 0.0});
  });
  p.observe({.signal = Signal::leak, .t_ms = 10'000, .value = 1.0});
  const Decision d = p.evaluate(10'000);
  EXPECT_EQ(d.action, Action::drain);
  EXPECT_TRUE(d.draining);
  EXPECT_EQ(d.binding, Signal::leak);
  EXPECT_NE(d.reason.find("leak"), std::string::npos);
  // Still draining while the leak lasts, even if the BMC goes silent.
  EXPECT_TRUE(p.evaluate(200'000).draining);
  // Dry again: drain held for drain_hold_ms, then back at a throttle rung.
  p.observe({.signal = Signal::leak, .t_ms = 200'000, .value = 0.0});
  EXPECT_TRUE(p.evaluate(230'000).draining);
  const Decision back = p.evaluate(261'000);
  EXPECT_EQ(back.action, Action::undrain);
  EXPECT_FALSE(p.draining());
  EXPECT_EQ(p.level(), Rung::power_cap_deep);
}

TEST(Policy, CriticalDrains) {
  Policy p(temp_only());
  const Trace r = drive(p, 0, 5'000, [&](TimeMs t) {
    p.observe({.signal = Signal::gpu_temp_c, .t_ms = t, .value = t < 2'000 ? 70.0 : 91.0});
  });
  ASSERT_FALSE(r.changes.empty());
  EXPECT_EQ(r.changes.back().action, Action::drain);
  EXPECT_TRUE(p.draining());
}

TEST(Policy, UnavailableActuatorIsSkipped) {
  PolicyConfig c = temp_only();
  c.rungs[index(Rung::admission)].available = false;
  c.rungs[index(Rung::batch)].available = false;
  Policy p(c);
  const auto ramp = [&](TimeMs t) {
    p.observe({.signal = Signal::gpu_temp_c, .t_ms = t, .value = 70.0 + 0.1 * static_cast<double>(t) / 1000.0});
  };
  // Up to the first step (power_cap at about 66 s; the next would come about 12 s later).
  const Trace r = drive(p, 0, 70'000, ramp);
  ASSERT_FALSE(r.changes.empty());
  EXPECT_EQ(r.changes.front().to, Rung::power_cap);
  ASSERT_EQ(p.level(), Rung::power_cap);
  // An actuator reporting itself unavailable at run time is skipped too: the
  // ramp goes on and the next step passes over power_cap_deep.
  p.report(ActuatorReport{.rung = Rung::power_cap_deep, .outcome = Outcome::unavailable, .t_ms = 70'000});
  const Trace more = drive(p, 70'000, 200'000, ramp);
  ASSERT_FALSE(more.changes.empty());
  EXPECT_EQ(more.changes.front().to, Rung::cpu_quota);
  for (const Decision& d : more.changes) EXPECT_NE(d.to, Rung::power_cap_deep);
}

TEST(Policy, SameInputsSameDecisions) {
  const auto once = [] {
    Policy p(noisy_host_config());
    Noise n(9);
    const Trace r = drive(p, 0, 600'000, [&](TimeMs t) {
      p.observe({.signal = Signal::gpu_temp_c,
                 .t_ms = t,
                 .value = std::round(70.0 + 0.03 * static_cast<double>(t) / 1000.0 + n.next())});
      p.observe({.signal = Signal::gpu_power_w, .t_ms = t, .value = 560.0 + 10.0 * n.next()});
    });
    std::vector<std::string> out;
    for (const Decision& d : r.changes) out.push_back(std::to_string(d.t_ms) + " " + d.reason);
    return out;
  };
  const auto a = once();
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, once());
}

}  // namespace
}  // namespace railyard::policy
