#pragma once
// The predictive policy in the daemon (issue 8): feeds policy::Policy the
// BMC's readings after each sweep (limits from the BMC's own thresholds),
// evaluates every 200 ms on the control loop, applies the level through the
// actuators the host has, exports the level, the time to limit per signal and
// the decisions, and keeps the last decisions for `railctl policy`.
//
// Limits come from the BMC; [policy] names the host's actuators (the
// workload's cgroup, NVML's power caps). A rung whose actuator is absent on
// this host is marked unavailable (with the reason) and the ladder skips it.

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/config.h"
#include "drivers/cgroup/cgroup_cpu.h"
#include "drivers/gpu/nvml/nvml.h"
#include "policy/policy.h"
#include "railyard/v1/control.pb.h"
#include "telemetry/registry.h"

namespace railyard::redfish {
struct SensorState;
}

namespace railyard::daemon {

class BmcService;
struct RailCongestion;

/// The fabric's congestion as the policy's 0..1 signal: per rail, the larger
/// of (a) the share of its smoothed RTT spent queueing beyond what its
/// congestion controller tolerates (the lowest smoothed RTT seen plus the
/// controller's slack, fabric::CongestionConfig's target delay) and (b) the
/// share of datagrams received CE-marked since the last update; a rail that
/// is down counts as 1 (its capacity is lost). The fabric's value is the mean
/// over its rails. Pure: the caller passes each reading.
class CongestionMeter {
 public:
  explicit CongestionMeter(uint64_t slack_ns);
  /// nullopt for a host without rails.
  std::optional<double> update(const std::vector<RailCongestion>& rails);

 private:
  struct Rail {
    uint64_t base_srtt_ns = 0;  ///< lowest smoothed RTT seen (0: none yet)
    uint64_t rx_frames = 0;
    uint64_t rx_ecn_ce = 0;
  };
  uint64_t slack_ns_;
  std::vector<Rail> rails_;
};

/// Signals the policy reads from a BMC snapshot: one sample per signal
/// (hottest GPU, coolant supply — else the inlet —, chassis power, any leak),
/// with the thresholds of the sensor(s) it came from. Pure: unit-testable.
struct BmcSignal {
  policy::Signal signal;
  double value = 0.0;
  std::chrono::milliseconds age{0};  ///< of the newest contributing reading
  /// When the BMC gave the newest contributing reading: a snapshot that did
  /// not refresh it (an event between sweeps, a sensor the sweep missed) has
  /// the same read_at, and is not a new sample.
  std::chrono::system_clock::time_point read_at{};
  policy::BmcThresholds thresholds;
};
std::vector<BmcSignal> signals_from_bmc(const std::vector<redfish::SensorState>& sensors);

/// Parses a level name ("normal", "admission", ..., "freeze") or its number 0–6.
std::optional<policy::Rung> parse_rung(std::string_view text);

class PolicyService {
 public:
  /// What this host can actuate. A rung without an actuator is unavailable.
  struct Actuators {
    bool workload_channel = false;  ///< admission, batch
    /// power_cap, power_cap_deep: every GPU's power limit set to these
    /// fractions of its default (within what the GPU allows).
    std::shared_ptr<nvml::Nvml> nvml;
    double power_cap_fraction = 0.8;
    double power_cap_deep_fraction = 0.6;
    /// cpu_quota (this many CPUs' worth of time), freeze: the workload's cgroup.
    std::optional<cgroup::CpuActuator> cgroup;
    double cpu_quota_cpus = 1.0;
    /// Why NVML / the cgroup is absent, for `railctl policy`.
    std::string nvml_absent;
    std::string cgroup_absent;
  };
  /// Opens the actuators [policy] names: NVML (absent hardware reported,
  /// never faked) and the workload's cgroup on whichever cgroup version the
  /// host mounts (`mounts`). Problems are logged and reported as absent.
  static Actuators open_actuators(const config::PolicySection& section, const cgroup::Mounts& mounts,
                                  bool workload_channel);
  struct Settings {
    std::string host;
    std::chrono::milliseconds period{200};
    /// The BMC's poll interval: GPU temperatures come from the BMC (NVML is
    /// not sampled) and are judged stale on the BMC's clock.
    std::chrono::milliseconds bmc_poll{1000};
    std::size_t history = 50;
    std::chrono::milliseconds ack_timeout{2000};
    Actuators actuators;
  };

  /// A decision that changed something (or an operator's command), as kept
  /// for `railctl policy`.
  struct Record {
    int64_t unix_ms = 0;
    policy::Decision decision;
    std::string source;  ///< "policy" or "operator"
    policy::Rung applied = policy::Rung::normal;  ///< what the actuators were told
    bool draining = false;
  };

  /// Applies a level (every rung ≤ it) and the drain flag under command id
  /// `command`; returns true when an answer will come through report()
  /// (else none is awaited). An answer not in by `ack_timeout` is a failure.
  using Apply = std::function<bool(policy::Rung level, bool draining, const std::string& reason, uint64_t command)>;

  /// Monotonic time in milliseconds: CLOCK_MONOTONIC in the daemon, a
  /// simulated clock in tests that replay a BMC's sweeps.
  using Clock = std::function<int64_t()>;
  static int64_t steady_ms();

  PolicyService(boost::asio::io_context& io, telemetry::Registry& registry, Settings settings, BmcService* bmc,
                Clock clock = steady_ms);
  ~PolicyService();

  void start();
  void stop();

  /// The actuator hook (the daemon binds the workload channel).
  void on_apply(Apply apply) { apply_ = std::move(apply); }
  /// The migrate action's hook: starts a migration to the peer with the most
  /// headroom; false when none could start. `done(ok)` when it ends.
  using Migrate = std::function<bool(const std::string& reason, std::function<void(bool ok)> done)>;
  void on_migrate(Migrate migrate) { migrate_ = std::move(migrate); }
  /// Where the rails' congestion state is read at each evaluation (the
  /// fabric's read-only accessor); unset: no congestion signal.
  void watch_rails(std::function<std::vector<RailCongestion>()> rails);
  /// Actuator feedback for the command `command` (stale commands are ignored).
  void report(uint64_t command, policy::Rung rung, policy::Outcome outcome);

  /// Operator override: hold this level until clear_override(); `drain` drains.
  void set_override(policy::Rung level, const std::string& who);
  void set_drain(const std::string& who);
  void clear_override(const std::string& who);

  const policy::Decision& last() const { return last_; }
  const std::deque<Record>& history() const { return history_; }
  policy::Rung applied_level() const { return applied_; }
  bool applied_draining() const { return applied_draining_; }
  std::optional<policy::Rung> override_level() const { return override_; }
  bool override_drain() const { return override_drain_; }
  const policy::Policy& policy() const { return policy_; }
  uint64_t command() const { return command_; }
  /// "pending", "applied", "failed" or "" for the current command.
  const std::string& command_state() const { return command_state_; }
  const Settings& settings() const { return settings_; }
  /// What the cgroup / NVML actuator last did ("" before its first use).
  const std::string& cgroup_state() const { return cgroup_state_; }
  const std::string& gpu_power_state() const { return gpu_power_state_; }

  /// `railctl policy`: state, predictions per signal, last decisions.
  v1::PolicyReply reply() const;
  /// `railctl throttle LEVEL|auto`; false with `error` for an unknown level.
  bool throttle(const std::string& level, const std::string& who, std::string& error);

  /// Feeds a sample directly (tests, other sources).
  void observe(policy::Signal signal, double value, std::chrono::milliseconds age = {});
  /// Feeds one BMC snapshot (what each sweep and each event leaves): limits
  /// from the sensors' thresholds, and one sample per signal whose reading
  /// is newer than the last one taken.
  void observe_bmc(const std::vector<redfish::SensorState>& sensors);
  /// One evaluation now (also what the timer does).
  void evaluate();

 private:
  void schedule();
  void apply(const policy::Decision& d);
  void apply_gpu_power(policy::Rung level);
  void apply_cgroup(policy::Rung level);
  /// Tells the policy how the actuator of `rung` fared, when `rung` is the policy's own level.
  void report_policy(policy::Rung rung, policy::Outcome outcome);
  void record(const policy::Decision& d, const std::string& source);
  int64_t now_ms() const { return clock_(); }

  boost::asio::io_context& io_;
  Settings settings_;  ///< only the actuators' handles change
  BmcService* bmc_;
  Clock clock_;
  policy::Policy policy_;
  boost::asio::steady_timer timer_;
  boost::asio::steady_timer ack_timer_;
  bool running_ = false;
  Apply apply_;
  Migrate migrate_;
  std::function<std::vector<RailCongestion>()> rails_;
  CongestionMeter congestion_;

  std::array<policy::TimeMs, policy::kSignalCount> last_t_{};
  /// read_at of the BMC reading each signal last took (min: none yet).
  std::array<std::chrono::system_clock::time_point, policy::kSignalCount> last_read_at_;
  std::array<std::optional<policy::BmcThresholds>, policy::kSignalCount> thresholds_{};
  policy::Decision last_;
  std::deque<Record> history_;
  policy::Rung applied_ = policy::Rung::normal;
  bool applied_draining_ = false;
  std::optional<policy::Rung> override_;
  bool override_drain_ = false;
  uint64_t command_ = 0;
  std::string command_state_;
  /// Setting in force per host actuator (fraction of the default power
  /// limit; cgroup CPUs, 0 = unlimited, and frozen), to write only changes.
  /// Untouched at start; nullopt after a failed write (unknown: write again).
  std::optional<double> gpu_power_fraction_ = 1.0;
  std::optional<std::pair<double, bool>> cgroup_setting_ = std::pair{0.0, false};
  std::string gpu_power_state_;
  std::string cgroup_state_;

  telemetry::CounterFamily decisions_;
  std::string host_;
};

}  // namespace railyard::daemon
