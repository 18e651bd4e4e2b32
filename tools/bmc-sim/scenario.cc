#include "tools/bmc-sim/scenario.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <sstream>
#include <toml++/toml.h>

namespace railyard::bmcsim {

std::string_view to_string(FaultKind kind) {
  switch (kind) {
    case FaultKind::http_error: return "http_error";
    case FaultKind::hang: return "hang";
    case FaultKind::malformed: return "malformed";
    case FaultKind::slow: return "slow";
    case FaultKind::unavailable: return "unavailable";
  }
  return "?";
}

namespace {

// '*' matches any run of characters, '/' included.
bool glob(std::string_view pattern, std::string_view text) {
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::string_view trim_slash(std::string_view s) {
  while (s.size() > 1 && s.back() == '/') s.remove_suffix(1);
  return s;
}

// Reads one TOML table strictly: every key must be taken, so a typo is an
// error with its line rather than a silently ignored setting.
class Reader {
 public:
  Reader(const toml::table& table, std::string where, std::string_view source, std::string& error)
      : table_(table), where_(std::move(where)), source_(source), error_(error) {}

  bool ok() const { return error_.empty(); }

  template <class T>
  void number(std::string_view key, T& out, double min, double max) {
    const toml::node* node = take(key);
    if (node == nullptr) return;
    double v = 0;
    if (auto i = node->value<std::int64_t>(); i && node->is_integer()) {
      v = static_cast<double>(*i);
    } else if (auto d = node->value<double>()) {
      v = *d;
    } else {
      fail(*node, fmt::format("{} must be a number", key));
      return;
    }
    if (!(v >= min && v <= max)) {
      fail(*node, fmt::format("{} = {} is out of range [{}, {}]", key, v, min, max));
      return;
    }
    if constexpr (std::is_integral_v<T>) {
      if (v != std::floor(v)) {
        fail(*node, fmt::format("{} must be a whole number", key));
        return;
      }
    }
    out = static_cast<T>(v);
  }

  bool string(std::string_view key, std::string& out) {
    const toml::node* node = take(key);
    if (node == nullptr) return false;
    if (auto s = node->value<std::string>()) {
      out = *s;
      return true;
    }
    fail(*node, fmt::format("{} must be a string", key));
    return false;
  }

  void strings(std::string_view key, std::vector<std::string>& out) {
    const toml::node* node = take(key);
    if (node == nullptr) return;
    if (auto s = node->value<std::string>()) {
      out.push_back(*s);
      return;
    }
    const auto* arr = node->as_array();
    if (arr == nullptr) {
      fail(*node, fmt::format("{} must be a string or an array of strings", key));
      return;
    }
    for (const auto& e : *arr) {
      if (auto s = e.value<std::string>()) {
        out.push_back(*s);
      } else {
        fail(e, fmt::format("{} must hold strings only", key));
        return;
      }
    }
  }

  /// After every key was read: complain about the first one nobody took.
  void finish() {
    if (!ok()) return;
    for (const auto& [k, v] : table_) {
      if (!taken_.contains(std::string(k.str()))) {
        fail(v, fmt::format("unknown key '{}' in {}", k.str(), where_));
        return;
      }
    }
  }

  void fail(const toml::node& node, std::string_view what) {
    if (!error_.empty()) return;
    error_ = fmt::format("{}:{}: {}", source_, node.source().begin.line, what);
  }
  void fail_table(std::string_view what) {
    if (!error_.empty()) return;
    error_ = fmt::format("{}:{}: {}", source_, table_.source().begin.line, what);
  }

 private:
  const toml::node* take(std::string_view key) {
    taken_.insert(std::string(key));
    return table_.get(key);
  }

  const toml::table& table_;
  std::string where_;
  std::string_view source_;
  std::string& error_;
  std::set<std::string> taken_;
};

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kMaxTime = 1e9;

bool parse_change(const toml::table& t, std::string_view source, std::string& error, Change& c) {
  Reader r(t, "[[change]]", source, error);
  std::string kind;
  if (!r.string("kind", kind)) {
    r.fail_table("[[change]] needs kind = \"coolant_ramp\" | \"power_spike\" | \"leak\" | \"set\" | \"ramp\"");
    return false;
  }
  r.number("at", c.at, 0, kMaxTime);
  r.number("duration", c.duration, 0, kMaxTime);
  if (kind == "coolant_ramp") {
    c.kind = Change::Kind::coolant_ramp;
    r.number("rate", c.rate, -100, 100);
  } else if (kind == "power_spike") {
    c.kind = Change::Kind::power_spike;
    r.number("watts", c.watts, -1e6, 1e6);
  } else if (kind == "leak") {
    c.kind = Change::Kind::leak;
    if (!r.string("detector", c.target)) r.fail_table("a leak needs detector = \"<leak detector Id or URI>\"");
    r.string("state", c.state);
    if (r.ok() && c.state != "OK" && c.state != "Warning" && c.state != "Critical") {
      r.fail_table(fmt::format("leak state '{}' must be \"OK\", \"Warning\" or \"Critical\"", c.state));
    }
  } else if (kind == "set" || kind == "ramp") {
    c.kind = kind == "set" ? Change::Kind::set : Change::Kind::ramp;
    if (!r.string("sensor", c.target)) r.fail_table(fmt::format("a {} needs sensor = \"<sensor Id or URI>\"", kind));
    if (c.kind == Change::Kind::set) {
      r.number("value", c.value, -1e12, 1e12);
    } else {
      r.number("rate", c.rate, -1e9, 1e9);
    }
  } else {
    r.fail_table(fmt::format("unknown change kind '{}': use coolant_ramp, power_spike, leak, set or ramp", kind));
  }
  r.finish();
  return r.ok();
}

bool parse_fault(const toml::table& t, std::string_view source, std::string& error, Fault& f) {
  Reader r(t, "[[fault]]", source, error);
  std::string kind;
  if (!r.string("kind", kind)) {
    r.fail_table("[[fault]] needs kind = \"http_error\" | \"hang\" | \"malformed\" | \"slow\" | \"unavailable\"");
    return false;
  }
  r.number("at", f.at, 0, kMaxTime);
  r.number("duration", f.duration, 0, kMaxTime);
  r.strings("paths", f.paths);
  if (kind == "http_error") {
    f.kind = FaultKind::http_error;
    r.number("status", f.status, 400, 599);
  } else if (kind == "hang") {
    f.kind = FaultKind::hang;
  } else if (kind == "malformed") {
    f.kind = FaultKind::malformed;
    std::string mode = "truncated";
    r.string("mode", mode);
    if (mode == "truncated") {
      f.malformation = Malformation::truncated;
    } else if (mode == "garbage") {
      f.malformation = Malformation::garbage;
    } else if (mode == "empty") {
      f.malformation = Malformation::empty;
    } else {
      r.fail_table(fmt::format("malformed mode '{}' must be \"truncated\", \"garbage\" or \"empty\"", mode));
    }
  } else if (kind == "slow") {
    f.kind = FaultKind::slow;
    f.delay_ms = 2000;
    r.number("delay_ms", f.delay_ms, 0, 3'600'000);
  } else if (kind == "unavailable") {
    f.kind = FaultKind::unavailable;
    f.status = 503;
    r.number("retry_after", f.retry_after, 0, 86400);
  } else {
    r.fail_table(fmt::format("unknown fault kind '{}': use http_error, hang, malformed, slow or unavailable", kind));
  }
  r.finish();
  return r.ok();
}

}  // namespace

bool Fault::matches(std::string_view path) const {
  if (paths.empty()) return true;
  path = trim_slash(path);
  return std::any_of(paths.begin(), paths.end(),
                     [path](const std::string& p) { return glob(trim_slash(p), path); });
}

bool names_resource(std::string_view name, std::string_view uri) {
  name = trim_slash(name);
  uri = trim_slash(uri);
  if (name.empty()) return false;
  if (name == uri) return true;
  return uri.size() > name.size() && uri.ends_with(name) && uri[uri.size() - name.size() - 1] == '/';
}

std::optional<Scenario> parse_scenario(std::string_view text, std::string_view source,
                                       std::string& error) {
  error.clear();
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    error = fmt::format("{}:{}: {}", source, e.source().begin.line, e.description());
    return std::nullopt;
  }
  Scenario s;
  Reader top(root, "the scenario", source, error);
  top.string("name", s.name);
  if (const auto* host = root.get_as<toml::table>("host")) {
    Reader h(*host, "[host]", source, error);
    auto& p = s.host;
    h.number("gpus", p.gpus, 1, 64);
    h.number("supply_celsius", p.supply_celsius, -20, 120);
    h.number("inlet_celsius", p.inlet_celsius, -20, 80);
    h.number("gpu_watts", p.gpu_watts, 0, 5000);
    h.number("other_watts", p.other_watts, 0, 1e5);
    h.number("power_limit_watts", p.power_limit_watts, 1, 1e6);
    h.number("gpu_kelvin_per_watt", p.gpu_kelvin_per_watt, 0, 1);
    h.number("gpu_tau_seconds", p.gpu_tau_seconds, 0.001, 1e5);
    h.number("flow_lpm", p.flow_lpm, 0.01, 1e4);
    h.number("liquid_fraction", p.liquid_fraction, 0, 1);
    h.number("supply_kpa", p.supply_kpa, 0, 1e4);
    h.number("return_kpa", p.return_kpa, 0, 1e4);
    h.number("fan_rpm", p.fan_rpm, 0, 1e5);
    h.number("fans", p.fans, 0, 32);
    h.number("coolant_level_percent", p.coolant_level_percent, 0, 100);
    h.finish();
  }
  auto tables = [&](std::string_view key, auto&& each) {
    const toml::node* node = root.get(key);
    if (node == nullptr || !error.empty()) return;
    const auto* arr = node->as_array();
    if (arr == nullptr) {
      top.fail(*node, fmt::format("'{}' must be an array of tables: write [[{}]]", key, key));
      return;
    }
    for (const auto& e : *arr) {
      const auto* t = e.as_table();
      if (t == nullptr) {
        top.fail(e, fmt::format("each '{}' entry must be a table", key));
        return;
      }
      if (!each(*t)) return;
    }
  };
  tables("change", [&](const toml::table& t) {
    Change c;
    if (!parse_change(t, source, error, c)) return false;
    s.changes.push_back(std::move(c));
    return true;
  });
  tables("fault", [&](const toml::table& t) {
    Fault f;
    if (!parse_fault(t, source, error, f)) return false;
    s.faults.push_back(std::move(f));
    return true;
  });
  if (error.empty()) {
    for (const auto& [k, v] : root) {
      const auto key = k.str();
      if (key != "name" && key != "host" && key != "change" && key != "fault") {
        top.fail(v, fmt::format("unknown key '{}': a scenario has name, [host], [[change]] and [[fault]]", key));
        break;
      }
    }
  }
  if (!error.empty()) return std::nullopt;
  return s;
}

std::optional<Scenario> load_scenario(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = fmt::format("{}: cannot open the scenario file", path);
    return std::nullopt;
  }
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  return parse_scenario(text, path, error);
}

// ---------------------------------------------------------------------------

Timeline::Timeline(Scenario scenario) : scenario_(std::move(scenario)) {
  std::set<double> points{0.0};
  for (const auto& c : scenario_.changes) {
    if (c.kind != Change::Kind::coolant_ramp && c.kind != Change::Kind::power_spike) continue;
    points.insert(c.at);
    if (c.duration > 0) points.insert(c.at + c.duration);
  }
  breakpoints_.assign(points.begin(), points.end());
}

double Timeline::supply_celsius(double t) const {
  double v = host().supply_celsius;
  for (const auto& c : scenario_.changes) {
    if (c.kind != Change::Kind::coolant_ramp || t <= c.at) continue;
    const double end = c.duration > 0 ? std::min(t, c.at + c.duration) : t;
    v += c.rate / 60.0 * (end - c.at);
  }
  return v;
}

double Timeline::supply_slope(double t) const {
  double slope = 0;
  for (const auto& c : scenario_.changes) {
    if (c.kind == Change::Kind::coolant_ramp && c.active(t)) slope += c.rate / 60.0;
  }
  return slope;
}

double Timeline::spike_watts(double t) const {
  double w = 0;
  for (const auto& c : scenario_.changes) {
    if (c.kind == Change::Kind::power_spike && c.active(t)) w += c.watts;
  }
  return w;
}

double Timeline::gpu_watts(double t) const {
  return std::max(0.0, host().gpu_watts + spike_watts(t) / host().gpus);
}

double Timeline::host_watts(double t) const {
  return host().other_watts + gpu_watts(t) * host().gpus;
}

double Timeline::gpu_offset(int gpu) const {
  // Cold plates are never identical: a fixed spread so the GPUs differ.
  static constexpr std::array<double, 8> kSpread{0.0, 1.5, -0.8, 2.2, 0.6, -1.2, 1.0, 3.1};
  return kSpread[static_cast<std::size_t>(gpu) % kSpread.size()];
}

double Timeline::gpu_steady_celsius(int gpu, double t) const {
  return supply_celsius(t) + host().gpu_kelvin_per_watt * gpu_watts(t) + gpu_offset(gpu);
}

double Timeline::gpu_celsius(int gpu, double t) const {
  const double tau = host().gpu_tau_seconds;
  // The input is piecewise linear between breakpoints (ramps start/stop,
  // spikes step). On a segment where it is a + b*s, the lag's exact solution
  // is T(s) = a + b*s - b*tau + (T0 - a + b*tau) * exp(-s/tau).
  double temp = gpu_steady_celsius(gpu, 0.0);
  double from = 0.0;  // breakpoints_[0] is 0
  for (std::size_t i = 0; from < t; ++i) {
    const double next = i + 1 < breakpoints_.size() ? breakpoints_[i + 1] : kInf;
    const double to = std::min(t, next);
    const double a = gpu_steady_celsius(gpu, from);
    const double b = supply_slope(from);
    const double s = to - from;
    temp = a + b * s - b * tau + (temp - a + b * tau) * std::exp(-s / tau);
    from = to;
  }
  return temp;
}

double Timeline::return_celsius(double t, double flow_lpm) const {
  // Water-glycol: about 1.03 kg/L and 3.9 kJ/(kg K).
  constexpr double kKgPerLitre = 1.03;
  constexpr double kJoulePerKgK = 3900.0;
  const double flow_kg_s = std::max(flow_lpm, 0.01) / 60.0 * kKgPerLitre;
  return supply_celsius(t) + host().liquid_fraction * host_watts(t) / (flow_kg_s * kJoulePerKgK);
}

double Timeline::adjust(std::string_view uri, double base, double t) const {
  double v = base;
  for (const auto& c : scenario_.changes) {
    if (!names_resource(c.target, uri)) continue;
    if (c.kind == Change::Kind::set && c.active(t)) {
      v = c.value;
    } else if (c.kind == Change::Kind::ramp && t > c.at) {
      const double end = c.duration > 0 ? std::min(t, c.at + c.duration) : t;
      v += c.rate / 60.0 * (end - c.at);
    }
  }
  return v;
}

bool Timeline::adjusts(std::string_view uri) const {
  return std::any_of(scenario_.changes.begin(), scenario_.changes.end(), [uri](const Change& c) {
    return (c.kind == Change::Kind::set || c.kind == Change::Kind::ramp) && names_resource(c.target, uri);
  });
}

std::string Timeline::leak_state(std::string_view uri, double t) const {
  std::string state = "OK";
  for (const auto& c : scenario_.changes) {
    if (c.kind == Change::Kind::leak && c.active(t) && names_resource(c.target, uri)) state = c.state;
  }
  return state;
}

bool Timeline::leaks(std::string_view uri) const {
  return std::any_of(scenario_.changes.begin(), scenario_.changes.end(), [uri](const Change& c) {
    return c.kind == Change::Kind::leak && names_resource(c.target, uri);
  });
}

const Fault* Timeline::fault(std::string_view path, double t) const {
  auto rank = [](FaultKind k) {
    switch (k) {
      case FaultKind::hang: return 4;
      case FaultKind::unavailable: return 3;
      case FaultKind::http_error: return 2;
      case FaultKind::malformed: return 1;
      case FaultKind::slow: return 0;
    }
    return 0;
  };
  const Fault* best = nullptr;
  for (const auto& f : scenario_.faults) {
    if (f.kind == FaultKind::slow || !f.active(t) || !f.matches(path)) continue;
    if (best == nullptr || rank(f.kind) > rank(best->kind)) best = &f;
  }
  return best;
}

int Timeline::delay_ms(std::string_view path, double t) const {
  int total = 0;
  for (const auto& f : scenario_.faults) {
    if (f.kind == FaultKind::slow && f.active(t) && f.matches(path)) total += f.delay_ms;
  }
  return total;
}

}  // namespace railyard::bmcsim
