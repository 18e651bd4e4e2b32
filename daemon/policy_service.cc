#include "daemon/policy_service.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "common/log.h"
#include "daemon/bmc_service.h"
#include "daemon/fabric_service.h"
#include "drivers/bmc/redfish/sensor_table.h"
#include "fabric/congestion.h"

namespace railyard::daemon {

namespace tel = railyard::telemetry;
using policy::Rung;
using policy::Signal;
using redfish::Kind;

namespace {

bool contains(std::string_view text, std::string_view word) {
  return std::search(text.begin(), text.end(), word.begin(), word.end(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
         }) != text.end();
}

// The sensor's own name: the last segment of its URI (the chassis id in the
// path, e.g. "GPUHost", says nothing about what the sensor measures).
std::string_view leaf(std::string_view id) {
  const auto hash = id.find('#');
  if (hash != std::string_view::npos) return id.substr(hash);  // a member of a legacy array: "#/Temperatures/3"
  const auto slash = id.rfind('/');
  return slash == std::string_view::npos ? id : id.substr(slash + 1);
}
bool is_gpu(const redfish::Reading& r) {
  return r.physical_context == "GPU" || contains(r.name, "gpu") || contains(leaf(r.id), "gpu");
}
bool is_inlet(const redfish::Reading& r) {
  return r.physical_context == "Intake" || contains(r.name, "inlet") || contains(leaf(r.id), "inlet");
}

// Tighter (lower) of two optional upper thresholds.
void tighter(std::optional<double>& into, const std::optional<double>& v) {
  if (v && (!into || *v < *into)) into = v;
}

policy::BmcThresholds to_policy(const redfish::Thresholds& t) {
  return {.upper_caution = t.upper_caution,
          .upper_critical = t.upper_critical,
          .upper_fatal = t.upper_fatal,
          .upper_caution_user = t.upper_caution_user,
          .upper_critical_user = t.upper_critical_user};
}

void merge(policy::BmcThresholds& into, const policy::BmcThresholds& t) {
  tighter(into.upper_caution, t.upper_caution);
  tighter(into.upper_critical, t.upper_critical);
  tighter(into.upper_fatal, t.upper_fatal);
  tighter(into.upper_caution_user, t.upper_caution_user);
  tighter(into.upper_critical_user, t.upper_critical_user);
}

}  // namespace

std::vector<BmcSignal> signals_from_bmc(const std::vector<redfish::SensorState>& sensors) {
  std::optional<BmcSignal> gpu, coolant, inlet, power, leak;
  auto take_max = [](std::optional<BmcSignal>& into, Signal signal, const redfish::SensorState& s,
                     bool merge_thresholds) {
    const double v = *s.reading.value;
    const auto t = to_policy(s.reading.thresholds);
    if (!into) {
      into = BmcSignal{.signal = signal, .value = v, .age = s.age, .read_at = s.reading.read_at, .thresholds = t};
      return;
    }
    if (merge_thresholds) merge(into->thresholds, t);
    if (v > into->value) {
      into->value = v;
      if (!merge_thresholds) into->thresholds = t;
    }
    into->age = std::min(into->age, s.age);
    into->read_at = std::max(into->read_at, s.reading.read_at);
  };
  for (const auto& s : sensors) {
    if (s.stale || !s.reading.value || !std::isfinite(*s.reading.value)) continue;
    const auto& r = s.reading;
    switch (r.kind) {
      case Kind::temperature:
        if (is_gpu(r))
          take_max(gpu, Signal::gpu_temp_c, s, true);  // hottest GPU against the tightest GPU threshold
        else if (is_inlet(r))
          take_max(inlet, Signal::coolant_supply_c, s, true);
        break;
      case Kind::coolant_supply_temperature: take_max(coolant, Signal::coolant_supply_c, s, true); break;
      // The chassis total is the largest power reading (PSUs and rails are parts of it).
      case Kind::power: take_max(power, Signal::chassis_power_w, s, false); break;
      case Kind::leak: take_max(leak, Signal::leak, s, true); break;
      default: break;
    }
  }
  std::vector<BmcSignal> out;
  for (auto* x : {&gpu, &coolant, &power, &leak})
    if (*x) out.push_back(**x);
  // The server inlet stands for the coolant supply when the BMC has no coolant sensor.
  if (!coolant && inlet) out.push_back(*inlet);
  return out;
}

CongestionMeter::CongestionMeter(uint64_t slack_ns) : slack_ns_(slack_ns) {}

std::optional<double> CongestionMeter::update(const std::vector<RailCongestion>& rails) {
  if (rails.empty()) return std::nullopt;
  rails_.resize(rails.size());
  double sum = 0.0;
  for (std::size_t r = 0; r < rails.size(); ++r) {
    const RailCongestion& now = rails[r];
    Rail& was = rails_[r];
    double share = 1.0;  // a rail that is down: its capacity is lost
    if (now.up) {
      double queueing = 0.0;
      if (now.srtt_ns > 0) {
        if (was.base_srtt_ns == 0 || now.srtt_ns < was.base_srtt_ns) was.base_srtt_ns = now.srtt_ns;
        const uint64_t tolerated = was.base_srtt_ns + slack_ns_;
        if (now.srtt_ns > tolerated)
          queueing = static_cast<double>(now.srtt_ns - tolerated) / static_cast<double>(now.srtt_ns);
      }
      double marked = 0.0;
      if (now.rx_frames > was.rx_frames && now.rx_ecn_ce >= was.rx_ecn_ce)
        marked = std::min(1.0, static_cast<double>(now.rx_ecn_ce - was.rx_ecn_ce) /
                                   static_cast<double>(now.rx_frames - was.rx_frames));
      share = std::max(queueing, marked);
    }
    was.rx_frames = now.rx_frames;
    was.rx_ecn_ce = now.rx_ecn_ce;
    sum += share;
  }
  return sum / static_cast<double>(rails.size());
}

std::optional<Rung> parse_rung(std::string_view text) {
  for (std::size_t i = 0; i < policy::kRungCount; ++i) {
    const auto r = static_cast<Rung>(i);
    if (text == policy::to_string(r) || text == std::to_string(i)) return r;
  }
  return std::nullopt;
}

namespace {
policy::PolicyConfig make_config(const PolicyService::Settings& s) {
  policy::PolicyConfig c = policy::default_config();
  const auto& a = s.actuators;
  const bool gpu_power = a.nvml && a.nvml->devices() > 0;
  c.rungs[policy::index(Rung::admission)].available = a.workload_channel;
  c.rungs[policy::index(Rung::batch)].available = a.workload_channel;
  c.rungs[policy::index(Rung::power_cap)].available = gpu_power;
  c.rungs[policy::index(Rung::power_cap_deep)].available = gpu_power;
  c.rungs[policy::index(Rung::cpu_quota)].available = a.cgroup.has_value();
  c.rungs[policy::index(Rung::freeze)].available = a.cgroup && a.cgroup->can_freeze();
  // The daemon's GPU temperatures come from the BMC at its poll rate (NVML
  // only caps power here), also on hosts with NVML: staleness on the BMC's
  // clock, and a window that holds enough polls.
  const policy::TimeMs poll = std::max<policy::TimeMs>(s.bmc_poll.count(), 100);
  auto& g = c.signals[policy::index(Signal::gpu_temp_c)];
  g.stale_after_ms = std::max<policy::TimeMs>(g.stale_after_ms, 5 * poll);
  g.lost_after_ms = std::max<policy::TimeMs>(g.lost_after_ms, 20 * poll);
  g.bucket_ms = std::max<policy::TimeMs>(g.bucket_ms, poll);
  g.window_ms = std::max<policy::TimeMs>(g.window_ms, static_cast<policy::TimeMs>(g.min_points + 4) * poll);
  return c;
}
}  // namespace

PolicyService::Actuators PolicyService::open_actuators(const config::PolicySection& section,
                                                       const cgroup::Mounts& mounts, bool workload_channel) {
  Actuators a{.workload_channel = workload_channel,
              .power_cap_fraction = section.power_cap_percent / 100.0,
              .power_cap_deep_fraction = section.power_cap_deep_percent / 100.0,
              .cpu_quota_cpus = section.cpu_quota_cpus};
  if (!section.nvml) {
    a.nvml_absent = "off in the configuration ([policy] nvml = false)";
  } else if (auto nvml = nvml::Nvml::load(a.nvml_absent)) {
    if (nvml->devices() == 0)
      a.nvml_absent = "NVML loaded but it sees no GPU on this host";
    else
      a.nvml = std::move(nvml);
  }
  if (section.workload_cgroup.empty()) {
    a.cgroup_absent = "no workload cgroup configured (set [policy] workload_cgroup to the workload's cgroup)";
  } else {
    std::string error;
    a.cgroup = cgroup::CpuActuator::open(mounts, section.workload_cgroup, error);
    if (!a.cgroup)
      a.cgroup_absent = fmt::format("[policy] workload_cgroup {}: {} (create the cgroup and start the workload in it, "
                                    "or run railyardd with write access to it)",
                                    section.workload_cgroup, error);
    else if (!a.cgroup->can_freeze())
      log::warning("policy: cgroup {} can be given a CPU quota but not frozen ({}: no writable freezer): no freeze "
                   "level",
                   section.workload_cgroup, cgroup::to_string(a.cgroup->version()));
  }
  if (!a.nvml_absent.empty()) log::info("policy: no power_cap levels: {}", a.nvml_absent);
  if (!a.cgroup_absent.empty()) log::warning("policy: {}", a.cgroup_absent);
  return a;
}

PolicyService::PolicyService(boost::asio::io_context& io, tel::Registry& registry, Settings settings,
                             BmcService* bmc, Clock clock)
    : io_(io),
      settings_(std::move(settings)),
      bmc_(bmc),
      clock_(std::move(clock)),
      policy_(make_config(settings_)),
      timer_(io),
      ack_timer_(io),
      congestion_([] {
        const fabric::CongestionConfig c;
        return c.target_base_ns + c.hops * c.target_per_hop_ns;
      }()),
      host_(settings_.host) {
  last_read_at_.fill(std::chrono::system_clock::time_point::min());
  registry
      .gauge_family({.name = "railyard_policy_throttle_level",
                     .help = "Throttle level applied (0 normal … 6 freeze; 7 while draining)",
                     .labels = {"host"}})
      .callback({host_}, [this] {
        return applied_draining_ ? static_cast<double>(policy::kRungCount) : static_cast<double>(applied_);
      });
  auto ttl = registry.gauge_family({.name = "railyard_policy_time_to_limit_seconds",
                                    .help = "Predicted seconds until each signal reaches its limit (+Inf: not heading "
                                            "there; NaN: no limit or no value)",
                                    .unit = tel::Unit::seconds,
                                    .labels = {"host", "sensor"}});
  for (std::size_t i = 0; i < policy::kSignalCount; ++i) {
    const auto s = static_cast<Signal>(i);
    if (s == Signal::tokens_per_s || s == Signal::peer_headroom) continue;
    ttl.callback({host_, policy::to_string(s)}, [this, i] {
      const auto& v = last_.inputs[i];
      if (!v.limits.has_limit() || v.freshness == policy::Freshness::absent) return std::nan("");
      return v.ttl_s;
    });
  }
  decisions_ = registry.counter_family({.name = "railyard_policy_decisions",
                                        .help = "Policy decisions that changed something, by action",
                                        .labels = {"host", "action"}});
  for (auto a : {policy::Action::step_up, policy::Action::step_down, policy::Action::migrate, policy::Action::drain,
                 policy::Action::undrain})
    decisions_.series({host_, policy::to_string(a)});
  if (bmc_) {
    bmc_->on_sweep([this] { observe_bmc(bmc_->sensors()); });
    bmc_->on_event([this](const redfish::BmcEvent&) { observe_bmc(bmc_->sensors()); });
  }
}

PolicyService::~PolicyService() = default;

int64_t PolicyService::steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void PolicyService::start() {
  running_ = true;
  std::string skipped;
  for (std::size_t i = 1; i < policy::kRungCount; ++i) {
    const auto r = static_cast<Rung>(i);
    if (!policy_.available(r)) skipped += fmt::format(" {}", policy::to_string(r));
  }
  log::info("policy: evaluating every {} ms; limits from the BMC's thresholds{}{}", settings_.period.count(),
            bmc_ ? "" : " (no BMC configured: no limits, operator commands only)",
            skipped.empty() ? std::string() : fmt::format("; no actuator for:{}", skipped));
  schedule();
}

void PolicyService::stop() {
  running_ = false;
  timer_.cancel();
  ack_timer_.cancel();
  // Nobody watches the limits any more: GPUs whose power limit the policy
  // lowered get their default back, and the workload its CPU (a drain, the
  // workload's business, is not undone).
  apply_gpu_power(Rung::normal);
  apply_cgroup(Rung::normal);
}

void PolicyService::schedule() {
  if (!running_) return;
  timer_.expires_after(settings_.period);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || !running_) return;
    evaluate();
    schedule();
  });
}

void PolicyService::observe(Signal signal, double value, std::chrono::milliseconds age) {
  const int64_t t = now_ms() - age.count();
  auto& last = last_t_[policy::index(signal)];
  if (t <= last) return;  // the same reading again (a sweep that did not refresh it)
  last = t;
  policy_.observe({.signal = signal, .t_ms = t, .value = value});
}

void PolicyService::observe_bmc(const std::vector<redfish::SensorState>& sensors) {
  for (const auto& s : signals_from_bmc(sensors)) {
    auto& known = thresholds_[policy::index(s.signal)];
    if (known != s.thresholds) {
      known = s.thresholds;
      policy_.set_bmc_thresholds(s.signal, s.thresholds);
      const auto& l = policy_.limits(s.signal);
      log::info("policy: {} limit {} critical {} (from the BMC's thresholds)", policy::to_string(s.signal),
                l.limit, l.critical);
    }
    auto& last_read = last_read_at_[policy::index(s.signal)];
    if (s.read_at <= last_read) continue;  // not refreshed since the last snapshot
    last_read = s.read_at;
    observe(s.signal, s.value, s.age);
  }
}

void PolicyService::watch_rails(std::function<std::vector<RailCongestion>()> rails) { rails_ = std::move(rails); }

void PolicyService::evaluate() {
  if (rails_) {
    if (const auto c = congestion_.update(rails_())) observe(Signal::congestion, *c);
  }
  const policy::Decision d = policy_.evaluate(now_ms());
  last_ = d;
  if (d.changed()) {
    decisions_.series({host_, policy::to_string(d.action)}).inc();
    log::notice("policy: {} {} → {}{}: {}", policy::to_string(d.action), policy::to_string(d.from),
                policy::to_string(d.to), d.draining ? " (draining)" : "", d.reason);
    record(d, "policy");
  }
  if (d.changed() && d.action == policy::Action::migrate) {
    auto report = [this](bool ok) {
      policy_.report(policy::MigrationReport{
          .outcome = ok ? policy::MigrationOutcome::finished : policy::MigrationOutcome::failed, .t_ms = now_ms()});
    };
    if (!migrate_ || !migrate_(d.reason, report)) report(false);
  }
  apply(d);
}

void PolicyService::record(const policy::Decision& d, const std::string& source) {
  Record r{.unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count(),
           .decision = d,
           .source = source};
  r.applied = override_drain_ ? applied_ : override_ ? *override_ : d.to;
  r.draining = override_drain_ || (!override_ && d.draining);
  history_.push_back(std::move(r));
  while (history_.size() > settings_.history) history_.pop_front();
}

void PolicyService::apply(const policy::Decision& d) {
  Rung level = d.to;
  bool draining = d.draining;
  std::string reason = d.reason;
  if (override_drain_) {
    level = applied_;
    draining = true;
    reason = "operator drain";
  } else if (override_) {
    level = *override_;
    draining = false;
    reason = fmt::format("operator override: {}", policy::to_string(level));
  }
  if (level == applied_ && draining == applied_draining_) return;
  applied_ = level;
  applied_draining_ = draining;
  apply_gpu_power(level);
  apply_cgroup(level);
  ++command_;
  command_state_ = "";
  const bool awaits = apply_ && apply_(level, draining, reason, command_);
  if (!awaits) return;
  command_state_ = "pending";
  ack_timer_.expires_after(settings_.ack_timeout);
  ack_timer_.async_wait([this, command = command_](boost::system::error_code ec) {
    if (ec || command != command_ || command_state_ != "pending") return;
    log::warning("policy: level {} (command {}) not acknowledged within {} ms", policy::to_string(applied_),
                 command, settings_.ack_timeout.count());
    report(command, applied_, policy::Outcome::failed);
  });
}

void PolicyService::apply_gpu_power(Rung level) {
  const auto& a = settings_.actuators;
  if (!a.nvml) return;
  const double fraction = level >= Rung::power_cap_deep ? a.power_cap_deep_fraction
                          : level >= Rung::power_cap    ? a.power_cap_fraction
                                                        : 1.0;
  if (gpu_power_fraction_ == fraction) return;
  std::string error;
  bool ok = true;
  for (unsigned d = 0; d < a.nvml->devices() && ok; ++d) {
    const auto limits = a.nvml->power_limits(d, error);
    ok = limits.has_value();
    if (!ok) break;
    const auto wanted = static_cast<uint32_t>(std::lround(limits->default_mw * fraction));
    ok = a.nvml->set_power_limit(d, std::clamp(wanted, limits->min_mw, limits->max_mw), error);
  }
  if (ok) {
    gpu_power_fraction_ = fraction;
    gpu_power_state_ = fraction < 1.0 ? fmt::format("power limit {:.0f} % of default on {} GPUs", 100 * fraction,
                                                    a.nvml->devices())
                                      : "default power limits";
  } else {
    gpu_power_fraction_.reset();  // unknown now: the next level writes again
    gpu_power_state_ = fmt::format("failed: {}", error);
    log::warning("policy: GPU power limit for level {}: {}", policy::to_string(level), error);
  }
  if (level == Rung::power_cap || level == Rung::power_cap_deep)
    report_policy(level, ok ? policy::Outcome::applied : policy::Outcome::failed);
}

void PolicyService::apply_cgroup(Rung level) {
  auto& a = settings_.actuators;
  if (!a.cgroup) return;
  const std::pair<double, bool> setting{level >= Rung::cpu_quota ? a.cpu_quota_cpus : 0.0, level >= Rung::freeze};
  if (cgroup_setting_ == setting) return;
  std::string error;
  bool ok = a.cgroup->set_quota(setting.first, error);
  if (ok && a.cgroup->can_freeze()) ok = a.cgroup->set_frozen(setting.second, error);
  if (ok) {
    cgroup_setting_ = setting;
    cgroup_state_ = fmt::format("{}, {}",
                                setting.first > 0 ? fmt::format("CPU quota {:g} CPUs", setting.first)
                                                  : std::string("no CPU quota"),
                                setting.second ? "frozen" : "not frozen");
  } else {
    cgroup_setting_.reset();
    cgroup_state_ = fmt::format("failed: {}", error);
    log::warning("policy: cgroup {} for level {}: {}", a.cgroup->directory(), policy::to_string(level), error);
  }
  if (level == Rung::cpu_quota || level == Rung::freeze)
    report_policy(level, ok ? policy::Outcome::applied : policy::Outcome::failed);
}

void PolicyService::report_policy(Rung rung, policy::Outcome outcome) {
  // Only the policy's own level is the policy's business: an override is the operator's.
  if (override_ || override_drain_ || rung != policy_.level()) return;
  policy_.report({.rung = rung, .outcome = outcome, .t_ms = now_ms()});
}

void PolicyService::report(uint64_t command, Rung rung, policy::Outcome outcome) {
  if (command != command_ || command_state_ != "pending") return;
  command_state_ = outcome == policy::Outcome::applied ? "applied" : "failed";
  ack_timer_.cancel();
  report_policy(rung, outcome);
}

void PolicyService::set_override(Rung level, const std::string& who) {
  override_ = level;
  override_drain_ = false;
  policy::Decision d = last_;
  d.action = level > applied_ ? policy::Action::step_up : level < applied_ ? policy::Action::step_down
                                                                           : policy::Action::hold;
  d.from = applied_;
  d.to = level;
  d.reason = fmt::format("operator ({}): throttle {} held until `railctl throttle auto`", who, policy::to_string(level));
  log::notice("policy: {}", d.reason);
  record(d, "operator");
  apply(d);
}

void PolicyService::set_drain(const std::string& who) {
  override_drain_ = true;
  policy::Decision d = last_;
  d.action = policy::Action::drain;
  d.from = applied_;
  d.to = applied_;
  d.draining = true;
  d.reason = fmt::format("operator ({}): drain held until `railctl throttle auto`", who);
  log::notice("policy: {}", d.reason);
  record(d, "operator");
  apply(d);
}

void PolicyService::clear_override(const std::string& who) {
  if (!override_ && !override_drain_) return;
  override_.reset();
  override_drain_ = false;
  policy::Decision d = last_;
  d.action = policy::Action::hold;
  d.from = applied_;
  d.reason = fmt::format("operator ({}): back to automatic (policy level {}{})", who, policy::to_string(d.to),
                         d.draining ? ", draining" : "");
  log::notice("policy: {}", d.reason);
  record(d, "operator");
  apply(d);
}

bool PolicyService::throttle(const std::string& level, const std::string& who, std::string& error) {
  if (level == "auto") {
    clear_override(who);
    return true;
  }
  const auto rung = parse_rung(level);
  if (!rung) {
    error = fmt::format("unknown level '{}': use normal, admission, batch, power_cap, power_cap_deep, cpu_quota, "
                        "freeze (or 0-6), or auto",
                        level);
    return false;
  }
  set_override(*rung, who);
  return true;
}

v1::PolicyReply PolicyService::reply() const {
  v1::PolicyReply r;
  r.set_level(std::string(policy::to_string(applied_)));
  r.set_level_number(static_cast<uint32_t>(applied_));
  r.set_draining(applied_draining_);
  r.set_mode(override_drain_ ? "drain" : override_ ? "override" : "auto");
  r.set_policy_level(std::string(policy::to_string(policy_.level())));
  if (last_.binding) r.set_binding(std::string(policy::to_string(*last_.binding)));
  r.set_horizon_s(last_.horizon_s);
  r.set_reason(last_.reason);
  for (std::size_t i = 0; i < policy::kSignalCount; ++i) {
    const auto& v = last_.inputs[i];
    auto* x = r.add_signals();
    x->set_name(std::string(policy::to_string(static_cast<Signal>(i))));
    x->set_freshness(std::string(policy::to_string(v.freshness)));
    x->set_value(v.value);
    x->set_age_ms(static_cast<uint64_t>(std::max<policy::TimeMs>(0, v.age_ms)));
    x->set_trend_valid(v.trend_valid);
    x->set_slope_per_s(v.slope_per_s);
    if (std::isfinite(v.ttl_s)) x->set_ttl_s(v.ttl_s);
    x->set_from_model(v.from_model);
    if (std::isfinite(v.limits.limit)) x->set_limit(v.limits.limit);
    if (std::isfinite(v.limits.critical)) x->set_critical(v.limits.critical);
  }
  for (const auto& h : history_) {
    auto* d = r.add_decisions();
    d->set_unix_ms(h.unix_ms);
    d->set_source(h.source);
    d->set_action(std::string(policy::to_string(h.decision.action)));
    d->set_from(std::string(policy::to_string(h.decision.from)));
    d->set_to(std::string(policy::to_string(h.decision.to)));
    d->set_applied(std::string(policy::to_string(h.applied)));
    d->set_draining(h.draining);
    if (h.decision.binding) d->set_binding(std::string(policy::to_string(*h.decision.binding)));
    d->set_horizon_s(h.decision.horizon_s);
    d->set_reason(h.decision.reason);
  }
  r.set_command_id(command_);
  r.set_command_state(command_state_);
  for (std::size_t i = 1; i < policy::kRungCount; ++i) {
    const auto rung = static_cast<Rung>(i);
    if (!policy_.available(rung)) r.add_unavailable(std::string(policy::to_string(rung)));
  }
  const auto& a = settings_.actuators;
  auto add = [&r](std::string name, std::string rungs, bool available, std::string detail, std::string state) {
    auto* x = r.add_actuators();
    x->set_name(std::move(name));
    x->set_rungs(std::move(rungs));
    x->set_available(available);
    x->set_detail(std::move(detail));
    x->set_state(std::move(state));
  };
  add("workload_channel", "admission, batch", a.workload_channel,
      a.workload_channel ? "ThrottleCommand to every connected workload, which acknowledges it" : "not bound",
      command_state_);
  add("nvml", "power_cap, power_cap_deep", a.nvml != nullptr,
      a.nvml ? fmt::format("{} GPUs: power limit at {:.0f} % / {:.0f} % of default", a.nvml->devices(),
                           100 * a.power_cap_fraction, 100 * a.power_cap_deep_fraction)
             : a.nvml_absent,
      gpu_power_state_);
  add("cgroup", "cpu_quota, freeze", a.cgroup.has_value(),
      a.cgroup ? fmt::format("cgroup {} {}: {:g} CPUs at cpu_quota{}", cgroup::to_string(a.cgroup->version()),
                             a.cgroup->directory(), a.cpu_quota_cpus, a.cgroup->can_freeze() ? ", freezer" : "")
               : a.cgroup_absent,
      cgroup_state_);
  return r;
}

}  // namespace railyard::daemon
