#pragma once
// The discrete-event simulation of one host under one controller, and the
// table of scenarios × controllers over many seeds.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "tools/policy-sim/controllers.h"
#include "tools/policy-sim/host_model.h"
#include "tools/policy-sim/scenario.h"

namespace railyard::policy_sim {

struct RunOptions {
  std::uint64_t seed = 1;            ///< sensor noise and timing (the scenario has its own)
  policy::TimeMs eval_period_ms = 200;
  bool keep_events = false;
  SimLimits limits;
  HostParams host;
  /// Every sample as the controller receives it (trace recording).
  std::function<void(const policy::Sample&)> on_sample;
};

struct RunResult {
  double hours = 0.0;
  int hw_events = 0;          ///< HW slowdown or power brake episodes
  double hw_seconds = 0.0;
  double over_limit_cs = 0.0; ///< ∫ max(0, T_gpu − limit) dt
  double tokens = 0.0;        ///< delivered here or by a peer after migration
  double ideal_tokens = 0.0;
  int slo_violation_s = 0;    ///< seconds under 90 % of ideal throughput or over the TPOT SLO
  int level_changes = 0;
  int flips = 0;              ///< a change reversing the previous one within 5 min
  int migrations = 0;
  int failed_migrations = 0;
  int drains = 0;
  std::vector<double> latencies_ns;
  std::vector<policy::Decision> events;
};

RunResult run(const Scenario& scenario, std::string_view controller, const RunOptions& options);

struct Row {
  std::string scenario, controller;
  int seeds = 0;
  RunResult total;  ///< sums over seeds (latencies concatenated)
  double tokens_lost_pct() const;
};

struct TableOptions {
  std::vector<std::string> scenarios = scenario_names();
  std::vector<std::string> controllers = controller_names();
  int seeds = 20;
  std::uint64_t first_seed = 1;
  double benign_hours = 24.0;
  /// Progress lines on stderr.
  bool progress = false;
};

std::vector<Row> table(const TableOptions& options);
/// Markdown table; `timing` false leaves out the wall-clock p99 column (for
/// comparing runs: everything else is deterministic).
std::string format_table(const std::vector<Row>& rows, bool timing);

}  // namespace railyard::policy_sim
