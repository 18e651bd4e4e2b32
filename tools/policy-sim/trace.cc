#include "tools/policy-sim/trace.h"

#include "tools/policy-sim/controllers.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace railyard::policy_sim {

using policy::TimeMs;

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}
}  // namespace

std::vector<TraceRow> read_trace(std::istream& in) {
  std::vector<TraceRow> rows;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    const std::string_view l = trim(line);
    if (l.empty() || l.front() == '#' || l.starts_with("t_s,")) continue;
    const auto c1 = l.find(','), c2 = l.find(',', c1 == std::string_view::npos ? c1 : c1 + 1);
    if (c1 == std::string_view::npos || c2 == std::string_view::npos) {
      throw std::runtime_error(fmt::format("line {}: expected t_s,signal,value", n));
    }
    TraceRow r;
    const std::string t(trim(l.substr(0, c1)));
    const std::string_view signal = trim(l.substr(c1 + 1, c2 - c1 - 1));
    const std::string v(trim(l.substr(c2 + 1)));
    try {
      std::size_t used = 0;
      const double ts = std::stod(t, &used);
      if (used != t.size() || !std::isfinite(ts)) throw std::invalid_argument("t");
      r.t_ms = static_cast<TimeMs>(std::llround(ts * 1000.0));
      r.value = v.empty() ? std::numeric_limits<double>::quiet_NaN() : std::stod(v, &used);
      if (!v.empty() && used != v.size()) throw std::invalid_argument("v");
    } catch (const std::exception&) {
      throw std::runtime_error(fmt::format("line {}: '{}' is not t_s,signal,value with numbers", n, l));
    }
    std::string_view name = signal;
    if (name.starts_with("bmc_caution.")) {
      r.kind = TraceRow::Kind::bmc_caution;
      name.remove_prefix(12);
    } else if (name.starts_with("bmc_critical.")) {
      r.kind = TraceRow::Kind::bmc_critical;
      name.remove_prefix(13);
    }
    const auto parsed = policy::parse_signal(name);
    if (!parsed) throw std::runtime_error(fmt::format("line {}: unknown signal '{}'", n, signal));
    r.signal = *parsed;
    rows.push_back(r);
  }
  std::stable_sort(rows.begin(), rows.end(), [](const TraceRow& a, const TraceRow& b) { return a.t_ms < b.t_ms; });
  return rows;
}

void write_trace_header(std::ostream& out) { out << "t_s,signal,value\n"; }

void write_trace_row(std::ostream& out, const policy::Sample& s) {
  out << fmt::format("{:.3f},{},{:.6g}\n", static_cast<double>(s.t_ms) / 1000.0, policy::to_string(s.signal), s.value);
}

ReplayResult replay(const std::vector<TraceRow>& rows, const policy::PolicyConfig& config, TimeMs eval_period_ms) {
  ReplayResult out;
  if (rows.empty()) return out;
  policy::Policy p(config);
  std::array<policy::BmcThresholds, policy::kSignalCount> bmc{};
  const TimeMs start = rows.front().t_ms, end = rows.back().t_ms;
  std::size_t i = 0;
  for (TimeMs now = start; now <= end; now += eval_period_ms) {
    for (; i < rows.size() && rows[i].t_ms <= now; ++i) {
      const TraceRow& r = rows[i];
      if (r.kind == TraceRow::Kind::sample) {
        p.observe({.signal = r.signal, .t_ms = r.t_ms, .value = r.value});
        continue;
      }
      policy::BmcThresholds& t = bmc[policy::index(r.signal)];
      (r.kind == TraceRow::Kind::bmc_caution ? t.upper_caution : t.upper_critical) = r.value;
      p.set_bmc_thresholds(r.signal, t);
    }
    const auto t0 = std::chrono::steady_clock::now();
    policy::Decision d = p.evaluate(now);
    const auto t1 = std::chrono::steady_clock::now();
    out.latencies_ns.push_back(
        static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
    const std::string level = p.draining() ? "drain" : std::string(policy::to_string(p.level()));
    out.seconds_at_level[level] += static_cast<double>(eval_period_ms) / 1000.0;
    if (d.changed()) out.events.push_back(std::move(d));
  }
  out.counters = p.counters();
  out.duration_s = static_cast<double>(end - start) / 1000.0;
  return out;
}

std::string format_replay(const ReplayResult& r, bool timing) {
  std::string s;
  for (const policy::Decision& d : r.events) {
    s += fmt::format("{:9.1f} s  {:<9} {:<14} → {:<14} {}\n", static_cast<double>(d.t_ms) / 1000.0,
                     policy::to_string(d.action), policy::to_string(d.from), policy::to_string(d.to), d.reason);
  }
  const policy::Counters& c = r.counters;
  s += fmt::format(
      "\n{:.0f} s replayed: {} samples ({} without value, {} out of order), {} steps up ({} precautionary), "
      "{} down, {} flips, {} migrations, {} drains\n",
      r.duration_s, c.samples, c.dropped_nan, c.dropped_out_of_order, c.step_ups, c.precautions, c.step_downs,
      c.flips, c.migrations, c.drains);
  s += "time at level:";
  for (const auto& [level, secs] : r.seconds_at_level) s += fmt::format(" {} {:.0f} s;", level, secs);
  s += "\n";
  if (timing && !r.latencies_ns.empty()) {
    s += fmt::format("decision p99 {:.1f} µs over {} evaluations\n", p99_us(r.latencies_ns), r.latencies_ns.size());
  }
  return s;
}

}  // namespace railyard::policy_sim
