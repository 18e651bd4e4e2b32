#include "tools/policy-sim/controllers.h"

#include <algorithm>
#include <array>
#include <limits>

namespace railyard::policy_sim {

using policy::Rung;
using policy::Signal;
using policy::TimeMs;

policy::PolicyConfig railyard_config(const SimLimits& limits) {
  policy::PolicyConfig c = policy::default_config();
  c.signals[policy::index(Signal::gpu_temp_c)].limits = {.limit = limits.gpu_temp_c,
                                                         .critical = limits.gpu_temp_critical_c};
  c.signals[policy::index(Signal::gpu_power_w)].limits = {.limit = limits.gpu_power_w, .critical = {}};
  c.signals[policy::index(Signal::coolant_supply_c)].limits = {.limit = {}, .critical = limits.coolant_critical_c};
  return c;
}

namespace {

/// railyard's policy, unmodified. Chassis thresholds arrive as BMC thresholds.
class RailyardController final : public Controller {
 public:
  RailyardController(const SimLimits& limits, bool keep_events)
      : policy_(railyard_config(limits)), keep_events_(keep_events) {
    policy_.set_bmc_thresholds(Signal::chassis_power_w, {.upper_caution = limits.chassis_caution_w,
                                                         .upper_critical = limits.chassis_critical_w});
    latencies_.reserve(1 << 16);
  }
  void observe(const policy::Sample& s) override { policy_.observe(s); }
  Command evaluate(TimeMs now) override {
    const auto t0 = std::chrono::steady_clock::now();
    policy::Decision d = policy_.evaluate(now);
    const auto t1 = std::chrono::steady_clock::now();
    latencies_.push_back(static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
    if (keep_events_ && d.changed()) events_.push_back(std::move(d));
    return {.level = policy_.level(), .migrate = d.action == policy::Action::migrate, .drain = policy_.draining()};
  }
  void migration_done(bool ok, TimeMs now) override {
    policy_.report(policy::MigrationReport{
        .outcome = ok ? policy::MigrationOutcome::finished : policy::MigrationOutcome::failed, .t_ms = now});
  }
  const std::vector<double>* latencies_ns() const override { return &latencies_; }
  const std::vector<policy::Decision>* events() const override { return &events_; }

 private:
  policy::Policy policy_;
  bool keep_events_;
  std::vector<double> latencies_;
  std::vector<policy::Decision> events_;
};

class NoDaemon final : public Controller {
 public:
  void observe(const policy::Sample&) override {}
  Command evaluate(TimeMs) override { return {}; }
  void migration_done(bool, TimeMs) override {}
};

/// A fixed power cap, always: what a cautious operator does without a daemon.
class StaticCap final : public Controller {
 public:
  void observe(const policy::Sample&) override {}
  Command evaluate(TimeMs) override { return {.level = Rung::power_cap}; }
  void migration_done(bool, TimeMs) override {}
};

/// Latest reading per signal, compared with thresholds.
class Thresholds {
 public:
  explicit Thresholds(const SimLimits& l) : l_(l) {}
  void observe(const policy::Sample& s) { last_[policy::index(s.signal)] = s.value; }
  /// Worst ratio value/limit over the limited signals.
  double worst() const {
    return std::max({last_[policy::index(Signal::gpu_temp_c)] / l_.gpu_temp_c,
                     last_[policy::index(Signal::gpu_power_w)] / l_.gpu_power_w,
                     last_[policy::index(Signal::chassis_power_w)] / l_.chassis_caution_w});
  }
  bool leak() const { return last_[policy::index(Signal::leak)] >= 0.5; }

 private:
  SimLimits l_;
  std::array<double, policy::kSignalCount> last_{};
};

/// Two thresholds with 5 % hysteresis: one level up at the limit, one level
/// down under 95 % of it, at most one change per 5 s.
class TwoThreshold final : public Controller {
 public:
  explicit TwoThreshold(const SimLimits& l) : t_(l) {}
  void observe(const policy::Sample& s) override { t_.observe(s); }
  Command evaluate(TimeMs now) override {
    const double w = t_.worst();
    if (now - last_ >= 5'000) {
      if (w >= 1.0 && level_ < policy::kRungCount - 1) {
        ++level_;
        last_ = now;
      } else if (w <= 0.95 && level_ > 0) {
        --level_;
        last_ = now;
      }
    }
    return {.level = static_cast<Rung>(level_), .drain = t_.leak()};
  }
  void migration_done(bool, TimeMs) override {}

 private:
  Thresholds t_;
  std::size_t level_ = 0;
  TimeMs last_ = -1'000'000;
};

/// Migrate a share of the sequences when a limit is crossed; 5 min apart.
class MigrateOnThreshold final : public Controller {
 public:
  explicit MigrateOnThreshold(const SimLimits& l) : t_(l) {}
  void observe(const policy::Sample& s) override { t_.observe(s); }
  Command evaluate(TimeMs now) override {
    Command c{.drain = t_.leak()};
    if (t_.worst() >= 1.0 && !busy_ && now - last_ >= 300'000) {
      c.migrate = true;
      busy_ = true;
      last_ = now;
    }
    return c;
  }
  void migration_done(bool, TimeMs) override { busy_ = false; }

 private:
  Thresholds t_;
  bool busy_ = false;
  TimeMs last_ = -1'000'000;
};

}  // namespace

double p99_us(std::vector<double> v) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  const auto k = static_cast<std::ptrdiff_t>(0.99 * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[static_cast<std::size_t>(k)] / 1000.0;
}

std::vector<std::string> controller_names() {
  return {"none", "two_threshold", "static_cap", "migrate_on_threshold", "railyard"};
}

std::unique_ptr<Controller> make_controller(std::string_view name, const SimLimits& limits, bool keep_events) {
  if (name == "none") return std::make_unique<NoDaemon>();
  if (name == "two_threshold") return std::make_unique<TwoThreshold>(limits);
  if (name == "static_cap") return std::make_unique<StaticCap>();
  if (name == "migrate_on_threshold") return std::make_unique<MigrateOnThreshold>(limits);
  if (name == "railyard") return std::make_unique<RailyardController>(limits, keep_events);
  return nullptr;
}

}  // namespace railyard::policy_sim
