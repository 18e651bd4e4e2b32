#pragma once
// CSV traces of samples, and their replay through the unmodified policy.
//
// Format (one sample per line, long form so every sensor keeps its own rate):
//
//   t_s,signal,value
//   12.350,gpu_temp_c,71
//   15.000,coolant_supply_c,32.4
//   0,bmc_caution.chassis_power_w,6200
//
// - t_s: seconds on the host's monotonic clock (any origin), non-decreasing
//   per signal; lines need not be sorted across signals (replay sorts them).
// - signal: a policy signal name (coolant_supply_c, gpu_temp_c, gpu_power_w,
//   chassis_power_w, leak, congestion, tokens_per_s, peer_headroom), or
//   bmc_caution.<signal> / bmc_critical.<signal>: the BMC's UpperCaution /
//   UpperCritical of that reading from t_s on.
// - value: a number; empty or "nan" means the sensor answered without a value.
// Lines starting with '#' and blank lines are ignored.

#include <cstdint>
#include <istream>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "policy/policy.h"

namespace railyard::policy_sim {

struct TraceRow {
  /// A sample of `signal`, or the BMC's UpperCaution / UpperCritical of it.
  enum class Kind : std::uint8_t { sample, bmc_caution, bmc_critical };
  policy::TimeMs t_ms = 0;
  Kind kind = Kind::sample;
  policy::Signal signal = policy::Signal::gpu_temp_c;
  double value = 0.0;
};

/// Parses a trace; throws std::runtime_error naming the line on a bad row.
std::vector<TraceRow> read_trace(std::istream& in);
void write_trace_header(std::ostream& out);
void write_trace_row(std::ostream& out, const policy::Sample& s);

struct ReplayResult {
  std::vector<policy::Decision> events;  ///< decisions with action != hold
  policy::Counters counters;
  std::map<std::string, double> seconds_at_level;
  std::vector<double> latencies_ns;
  double duration_s = 0.0;
};

/// Feeds the trace in time order and evaluates every `eval_period_ms`.
ReplayResult replay(const std::vector<TraceRow>& rows, const policy::PolicyConfig& config,
                    policy::TimeMs eval_period_ms);

/// Events and a summary, deterministic (no timing) unless `timing`.
std::string format_replay(const ReplayResult& r, bool timing);

}  // namespace railyard::policy_sim
