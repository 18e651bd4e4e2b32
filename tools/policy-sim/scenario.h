#pragma once
// Seeded scenarios: exogenous inputs over time (coolant, lost flow, demand,
// congestion, peer headroom) and sensor faults (BMC hangs, NVML dropouts).
// Drawn once per seed from their own random stream, so every controller faces
// exactly the same world for a given seed.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tools/policy-sim/host_model.h"

namespace railyard::policy_sim {

/// splitmix64: small, fast, identical on every platform (unlike std:: distributions).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next();
  double uniform();  ///< [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  double normal();
  bool chance(double p) { return uniform() < p; }

 private:
  std::uint64_t s_;
};

struct Interval {
  double start_s = 0.0;
  double end_s = 0.0;
  bool contains(double t) const { return t >= start_s && t < end_s; }
};

/// A trapezoid pulse: rises over rise_s, holds, falls over fall_s.
struct Pulse {
  double start_s = 0.0, rise_s = 1.0, hold_s = 0.0, fall_s = 1.0, height = 0.0;
  double at(double t) const;
};

struct Wave {
  double amplitude = 0.0, period_s = 1.0, phase = 0.0;
};

struct Scenario {
  std::string name;
  double duration_s = 3600.0;
  double coolant_base_c = 32.0;
  std::vector<Wave> coolant_waves;
  std::vector<Pulse> coolant_pulses;  ///< ramps (long rise) and steps (short rise)
  std::vector<Pulse> r_pulses;        ///< extra R share (lost flow)
  double demand_base = 80.0;
  std::vector<Wave> demand_waves;     ///< relative
  std::vector<Pulse> demand_pulses;   ///< relative (0.6 = +60 %)
  std::vector<Pulse> congestion_pulses;
  std::vector<Interval> bmc_hangs;
  std::vector<Interval> gpu_dropouts;
  std::vector<Interval> peer_busy;    ///< no peer has headroom
  double bmc_period_s = 5.0;
  double bmc_miss = 0.02;             ///< share of BMC polls that return no value
  double gpu_miss = 0.005;            ///< share of NVML samples missing

  HostInputs inputs_at(double t) const;
  bool peer_available(double t) const;
  bool bmc_up(double t) const;
  bool gpu_up(double t) const;
  /// Seconds when nothing is threatening (the benign day): any migration is false.
  bool benign = false;
};

/// Names: ramp_0.5, ramp_2, pump_failure, burst, ramp_congestion, dropout, benign_day.
std::vector<std::string> scenario_names();
/// nullopt-like: empty name for an unknown scenario. `hours` overrides the benign day's length.
Scenario make_scenario(std::string_view name, std::uint64_t seed, double benign_hours = 24.0);

}  // namespace railyard::policy_sim
