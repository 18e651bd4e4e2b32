#pragma once
// What decides, in the simulator: railyard's policy (unmodified, through a
// thin adapter) and the baselines it is scored against.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.h"

namespace railyard::policy_sim {

struct Command {
  policy::Rung level = policy::Rung::normal;
  bool migrate = false;  ///< start moving sequences to a peer now
  bool drain = false;
};

class Controller {
 public:
  virtual ~Controller() = default;
  virtual void observe(const policy::Sample& s) = 0;
  virtual Command evaluate(policy::TimeMs now) = 0;
  virtual void migration_done(bool ok, policy::TimeMs now) = 0;
  /// Wall-clock nanoseconds of each evaluation (railyard's policy only).
  virtual const std::vector<double>* latencies_ns() const { return nullptr; }
  /// Decisions with action != hold (railyard's policy only).
  virtual const std::vector<policy::Decision>* events() const { return nullptr; }
};

/// The limits every controller is told (the same numbers railyard gets from
/// config and the BMC).
struct SimLimits {
  double gpu_temp_c = 83.0;
  double gpu_temp_critical_c = 87.0;
  double gpu_power_w = 625.0;   ///< (chassis caution − base) / gpus
  double chassis_caution_w = 6200.0;
  double chassis_critical_w = 6800.0;
  double coolant_critical_c = 55.0;
};

policy::PolicyConfig railyard_config(const SimLimits& limits);

/// Names: none, two_threshold, static_cap, migrate_on_threshold, railyard.
std::vector<std::string> controller_names();

/// 99th percentile of decision times (nanoseconds in) in µs; NaN when none.
double p99_us(std::vector<double> latencies_ns);
std::unique_ptr<Controller> make_controller(std::string_view name, const SimLimits& limits, bool keep_events);

}  // namespace railyard::policy_sim
