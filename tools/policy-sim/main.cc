// policy-sim: scores railyard's policy against baselines on simulated hosts,
// runs one scenario with its decisions, records traces and replays them.
// Usage: policy-sim --help

#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "tools/policy-sim/sim.h"
#include "tools/policy-sim/trace.h"

namespace {

using namespace railyard::policy_sim;

constexpr std::string_view kUsage = R"(usage:
  policy-sim table  [--seeds N] [--first-seed N] [--scenarios a,b] [--controllers a,b]
                    [--benign-hours H] [--no-timing]
      scenarios × controllers over N seeds (default 20): a markdown table
  policy-sim run    --scenario S [--controller C] [--seed N]
      one run; prints the policy's decisions (controller railyard) and the metrics
  policy-sim trace  --scenario S [--seed N] [--minutes M] [--gpu-every-ms MS]
      records the samples railyard's policy sees as a CSV trace on stdout
  policy-sim replay FILE [--eval-ms MS] [--no-timing]
      replays a CSV trace (t_s,signal,value) through the policy with the sim's limits
scenarios: ramp_0.5 ramp_2 pump_failure burst ramp_congestion dropout benign_day
controllers: none two_threshold static_cap migrate_on_threshold railyard
)";

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    const auto c = s.find(',');
    out.emplace_back(s.substr(0, c));
    if (c == std::string_view::npos) break;
    s.remove_prefix(c + 1);
  }
  return out;
}

[[noreturn]] void usage_error(std::string_view what) {
  fmt::print(stderr, "policy-sim: {}\n{}", what, kUsage);
  std::exit(2);
}

struct Args {
  std::vector<std::string> positional;
  std::string get(std::string_view key, std::string def) const {
    for (std::size_t i = 0; i + 1 < flags.size(); i += 2)
      if (flags[i] == key) return flags[i + 1];
    return def;
  }
  bool has(std::string_view key) const {
    for (const auto& f : switches)
      if (f == key) return true;
    return false;
  }
  std::vector<std::string> flags, switches;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 2; i < argc; ++i) {
    std::string_view s = argv[i];
    if (s == "--no-timing" || s == "--help") {
      a.switches.emplace_back(s);
    } else if (s.starts_with("--")) {
      if (i + 1 >= argc) usage_error(fmt::format("{} needs a value", s));
      a.flags.emplace_back(s);
      a.flags.emplace_back(argv[++i]);
    } else {
      a.positional.emplace_back(s);
    }
  }
  return a;
}

long number(const Args& a, std::string_view key, long def) {
  const std::string v = a.get(key, std::to_string(def));
  char* end = nullptr;
  const long n = std::strtol(v.c_str(), &end, 10);
  if (end == v.c_str() || *end != '\0' || n < 0) usage_error(fmt::format("{} wants a non-negative integer", key));
  return n;
}

int cmd_table(const Args& a) {
  TableOptions o;
  o.seeds = static_cast<int>(number(a, "--seeds", 20));
  o.first_seed = static_cast<std::uint64_t>(number(a, "--first-seed", 1));
  o.benign_hours = static_cast<double>(number(a, "--benign-hours", 24));
  if (const auto s = a.get("--scenarios", ""); !s.empty()) o.scenarios = split(s);
  if (const auto c = a.get("--controllers", ""); !c.empty()) o.controllers = split(c);
  for (const auto& s : o.scenarios)
    if (make_scenario(s, 1).name.empty()) usage_error(fmt::format("unknown scenario '{}'", s));
  for (const auto& c : o.controllers)
    if (!make_controller(c, {}, false)) usage_error(fmt::format("unknown controller '{}'", c));
  o.progress = true;
  const auto rows = table(o);
  fmt::print("{} seeds per row (first seed {}); benign day {} h; totals over seeds unless /run or /h\n\n{}",
             o.seeds, o.first_seed, o.benign_hours, format_table(rows, !a.has("--no-timing")));
  return 0;
}

int cmd_run(const Args& a) {
  const Scenario s = make_scenario(a.get("--scenario", ""), static_cast<std::uint64_t>(number(a, "--seed", 1)),
                                   static_cast<double>(number(a, "--benign-hours", 24)));
  if (s.name.empty()) usage_error("--scenario: unknown or missing");
  const std::string ctl = a.get("--controller", "railyard");
  if (!make_controller(ctl, {}, false)) usage_error(fmt::format("unknown controller '{}'", ctl));
  RunOptions o;
  o.seed = static_cast<std::uint64_t>(number(a, "--seed", 1));
  o.keep_events = true;
  const RunResult r = run(s, ctl, o);
  for (const auto& d : r.events) {
    fmt::print("{:8.1f} s  {:<9} {:<14} → {:<14} {}\n", static_cast<double>(d.t_ms) / 1000.0,
               railyard::policy::to_string(d.action), railyard::policy::to_string(d.from),
               railyard::policy::to_string(d.to), d.reason);
  }
  Row row{.scenario = s.name, .controller = ctl, .seeds = 1, .total = r};
  fmt::print("\n{}", format_table({row}, !a.has("--no-timing")));
  return 0;
}

int cmd_trace(const Args& a) {
  const std::uint64_t seed = static_cast<std::uint64_t>(number(a, "--seed", 1));
  Scenario s = make_scenario(a.get("--scenario", ""), seed);
  if (s.name.empty()) usage_error("--scenario: unknown or missing");
  s.duration_s = std::min(s.duration_s, 60.0 * static_cast<double>(number(a, "--minutes", 15)));
  const long every = number(a, "--gpu-every-ms", 1000);
  RunOptions o;
  o.seed = seed;
  const SimLimits l;
  fmt::print("# policy-sim trace: scenario {} seed {} ({:.0f} min), GPU samples every {} ms\n", s.name, seed,
             s.duration_s / 60.0, every);
  std::cout << "t_s,signal,value\n"
            << fmt::format("0,bmc_caution.chassis_power_w,{}\n0,bmc_critical.chassis_power_w,{}\n",
                           l.chassis_caution_w, l.chassis_critical_w);
  o.on_sample = [every](const railyard::policy::Sample& smp) {
    using railyard::policy::Signal;
    const bool gpu = smp.signal == Signal::gpu_temp_c || smp.signal == Signal::gpu_power_w;
    if (gpu && (smp.t_ms - 50) % every != 0) return;
    write_trace_row(std::cout, smp);
  };
  run(s, "railyard", o);
  return 0;
}

int cmd_replay(const Args& a) {
  if (a.positional.size() != 1) usage_error("replay wants one FILE");
  std::ifstream f(a.positional[0]);
  if (!f) {
    fmt::print(stderr, "policy-sim: cannot open {}\n", a.positional[0]);
    return 1;
  }
  try {
    const auto rows = read_trace(f);
    const auto r = replay(rows, railyard_config(SimLimits{}), number(a, "--eval-ms", 200));
    fmt::print("{}", format_replay(r, !a.has("--no-timing")));
  } catch (const std::exception& e) {
    fmt::print(stderr, "policy-sim: {}: {}\n", a.positional[0], e.what());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage_error("missing command");
  const std::string_view cmd = argv[1];
  if (cmd == "--help" || cmd == "help") {
    fmt::print("{}", kUsage);
    return 0;
  }
  const Args a = parse(argc, argv);
  if (cmd == "table") return cmd_table(a);
  if (cmd == "run") return cmd_run(a);
  if (cmd == "trace") return cmd_trace(a);
  if (cmd == "replay") return cmd_replay(a);
  usage_error(fmt::format("unknown command '{}'", cmd));
}
