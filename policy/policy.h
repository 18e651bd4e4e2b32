#pragma once
// The predictive policy: samples in, one decision per evaluation out.
//
// Pure and deterministic: no I/O, no clock, no threads, no randomness. The
// caller (railyardd's control thread, tools/policy-sim, a trace replay) feeds
// samples with observe(), calls evaluate(now) periodically (every 100 ms to
// 1 s), applies the decision's level with its actuators and reports back with
// report(). The same inputs always give the same decisions. Not thread-safe:
// one owner. See policy/README.md for the rules in prose.

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/signal.h"
#include "policy/thermal_model.h"
#include "policy/trend.h"

namespace railyard::policy {

/// The throttle ladder. A level includes every rung below it: `power_cap`
/// means admission and batch limits are in force too. The daemon maps each
/// level to actuator settings (workload channel, NVML, cgroup).
enum class Rung : std::uint8_t {
  normal,          ///< nothing throttled (rail congestion is the fabric's to reroute)
  admission,       ///< workload admits fewer new sequences
  batch,           ///< workload lowers its maximum batch
  power_cap,       ///< GPU power limit (NVML)
  power_cap_deep,  ///< lower GPU power limit
  cpu_quota,       ///< cgroup cpu.max / cfs_quota_us
  freeze,          ///< cgroup freeze: the workload stops
};
inline constexpr std::size_t kRungCount = static_cast<std::size_t>(Rung::freeze) + 1;
std::string_view to_string(Rung rung);
constexpr std::size_t index(Rung r) { return static_cast<std::size_t>(r); }

struct RungConfig {
  /// Time from the decision until the signals show the effect (actuation and
  /// workload reaction, not thermal settling: that is SignalConfig::settle_ms).
  TimeMs lead_ms = 1'000;
  /// Time from lifting the rung until the signals have settled again (the
  /// workload refills its batch...). Trends restart after it: the recovery
  /// is not a burst.
  TimeMs release_ms = 3'000;
  /// False when the host has no such actuator (no NVML, no cgroup access):
  /// the ladder skips it. report() with `unavailable` also clears it.
  bool available = true;
};

struct MigrationConfig {
  bool enabled = true;
  /// Time to move the sequences at nominal fabric bandwidth (live copy and
  /// stop-and-copy). Scaled by 1 / (1 − congestion).
  TimeMs lead_ms = 20'000;
  /// Migrate instead of escalating past this rung.
  Rung after = Rung::power_cap_deep;
  double min_peer_headroom = 0.25;  ///< a peer must be able to take this share
  double max_congestion = 0.8;      ///< above this the fabric is too busy to move KV
  TimeMs cooldown_ms = 600'000;     ///< between two migrations
};

struct PolicyConfig {
  std::array<SignalConfig, kSignalCount> signals;
  std::array<RungConfig, kRungCount> rungs;
  MigrationConfig migration;
  ThermalModelConfig thermal;
  /// Extra margin on every horizon (sampling delay, evaluation period).
  TimeMs guard_ms = 5'000;
  /// Least time between two steps up unless the limit is nearer than the
  /// fastest remaining rung's lead time.
  TimeMs min_up_interval_ms = 3'000;
  /// Least time at a level before a step down when no signal's own dwell
  /// applies (a precaution, the return from a drain). Every dwell doubles
  /// after each flip (a step up within `flap_window_ms` of a step down), up
  /// to the max, and halves again after `quiet_ms` without a flip.
  TimeMs dwell_down_ms = 60'000;
  TimeMs dwell_down_max_ms = 960'000;
  TimeMs flap_window_ms = 180'000;
  TimeMs quiet_ms = 1'800'000;
  /// Temperatures/powers recorded at a step up are trusted for the
  /// step-down check this long (demand changes after that).
  TimeMs restore_memory_ms = 300'000;
  /// A drain lasts at least this long, then the policy returns at the top
  /// throttle rung below freeze and steps down as usual.
  TimeMs drain_hold_ms = 600'000;
  /// Leak reading at or above this is a leak.
  double leak_threshold = 0.5;
  /// Longest horizon the thermal model looks ahead.
  double model_horizon_s = 600.0;
};

/// Defaults for a liquid-cooled GPU host: per-signal staleness from the
/// sensor's period (BMC 1–10 s, NVML 100 ms), windows and bands; rung lead
/// times; no limits (those come from configuration or the BMC).
PolicyConfig default_config();

enum class Freshness : std::uint8_t {
  absent,  ///< never seen, not yet lost
  fresh,
  stale,   ///< older than stale_after: trend ignored, no step down
  lost,    ///< older than lost_after, or never seen that long: precaution
};
std::string_view to_string(Freshness f);

/// What the policy made of one signal at an evaluation.
struct SignalView {
  Freshness freshness = Freshness::absent;
  double value = 0.0;            ///< robust current value (median of the newest points)
  TimeMs age_ms = 0;             ///< since the latest sample
  bool trend_valid = false;
  double slope_per_s = 0.0;
  /// Predicted seconds until `limits.limit`; +inf when not heading there.
  double ttl_s = kNoLimit;
  bool from_model = false;       ///< ttl (and value, if stale) from the thermal model
  Limits limits;
};

enum class Action : std::uint8_t {
  hold,
  step_up,    ///< throttle more (possibly several rungs when time is short)
  step_down,  ///< one rung less
  migrate,    ///< move sequences to a peer with headroom; the level is kept
  drain,      ///< emergency: stop and move everything (leak, critical)
  undrain,    ///< drain hold over; back to a throttle rung
};
std::string_view to_string(Action a);

/// One evaluation's outcome. Events worth exporting are those with
/// action != hold; a hold still carries the inputs and predictions for
/// `railctl policy`.
struct Decision {
  TimeMs t_ms = 0;
  Action action = Action::hold;
  Rung from = Rung::normal;
  Rung to = Rung::normal;  ///< level to apply (every rung ≤ it)
  bool draining = false;   ///< after this decision
  std::optional<Signal> binding;  ///< the signal that drove the action
  double horizon_s = 0.0;         ///< horizon the binding ttl was compared with
  std::array<SignalView, kSignalCount> inputs{};
  std::string reason;
  bool changed() const { return action != Action::hold; }
};

enum class Outcome : std::uint8_t {
  applied,      ///< the actuator confirmed (the workload acknowledged the level...)
  failed,       ///< tried and failed this time (the rung stays available)
  unavailable,  ///< no such actuator on this host: the ladder skips the rung from now on
};

/// What an actuator reports after a decision: for the rung it serves, at the
/// level the decision set.
struct ActuatorReport {
  Rung rung = Rung::normal;
  Outcome outcome = Outcome::applied;
  TimeMs t_ms = 0;
};

enum class MigrationOutcome : std::uint8_t { finished, failed };
struct MigrationReport {
  MigrationOutcome outcome = MigrationOutcome::finished;
  TimeMs t_ms = 0;
};

struct Counters {
  std::uint64_t samples = 0;
  std::uint64_t dropped_nan = 0;
  std::uint64_t dropped_out_of_order = 0;
  std::uint64_t step_ups = 0;
  std::uint64_t step_downs = 0;
  std::uint64_t flips = 0;  ///< a step up within flap_window of a step down
  std::uint64_t migrations = 0;
  std::uint64_t drains = 0;
  std::uint64_t precautions = 0;  ///< steps up because a signal was lost
  std::uint64_t actuator_failures = 0;
};

class Policy {
 public:
  explicit Policy(const PolicyConfig& config = default_config());

  /// Limits from the BMC's thresholds (Redfish Thresholds of the reading);
  /// configured values still win. Call again whenever they change.
  void set_bmc_thresholds(Signal signal, const BmcThresholds& thresholds);
  const Limits& limits(Signal signal) const;

  /// Feeds one sample. Samples of a signal must come in time order; an older
  /// one is dropped and counted.
  void observe(const Sample& sample);

  /// Decides at `now_ms` (non-decreasing across calls).
  Decision evaluate(TimeMs now_ms);

  /// Actuator feedback. `applied` restarts the trend windows from when the
  /// effect shows; `failed` lets the next evaluation escalate past the rung
  /// at once; `unavailable` removes the rung from the ladder.
  void report(const ActuatorReport& report);
  void report(const MigrationReport& report);

  Rung level() const { return level_; }
  /// False when the host has no actuator for `rung` (configured so, or
  /// reported `unavailable`): the ladder skips it.
  bool available(Rung rung) const { return config_.rungs[index(rung)].available; }
  bool draining() const { return draining_; }
  bool migrating() const { return migrating_; }
  const Counters& counters() const { return counters_; }
  const ThermalModel& thermal_model() const { return model_; }
  /// Least time at the current level before a step down: the dwell of the
  /// signal that drove the policy there (PolicyConfig::dwell_down_ms when
  /// none did), times the flip factor, at most dwell_down_max_ms.
  TimeMs dwell_down_ms() const;

 private:
  struct Track {
    Series series;
    Limits limits;
    LimitConfig limit_config;
    BmcThresholds bmc;
    bool loss_handled = false;
    TimeMs short_since = -1;  ///< since when ttl < horizon (−1: not short)
    TimeMs ok_since = -1;     ///< since when ttl ≥ horizon (−1: short)
    TimeMs last_near = -1;    ///< last evaluation it was within its band or heading there
  };

  SignalView view(Signal s, TimeMs now) const;
  void fill_trend(Signal s, SignalView& v, TimeMs now);
  void apply_model(std::array<SignalView, kSignalCount>& in, TimeMs now);
  double horizon_s(Signal s, Rung next) const;
  std::optional<Rung> next_available(Rung from) const;
  /// The highest available rung below `from`, else normal.
  Rung prev_available(Rung from) const;
  std::optional<Rung> pick_rung(double ttl_s) const;
  bool can_migrate(const std::array<SignalView, kSignalCount>& in, TimeMs now) const;
  TimeMs migration_lead_ms(const std::array<SignalView, kSignalCount>& in) const;
  bool step_down_ok(const std::array<SignalView, kSignalCount>& in, TimeMs now, std::string& why) const;
  void step_to(Rung to, TimeMs now, const std::array<SignalView, kSignalCount>& in, std::optional<Signal> cause);

  PolicyConfig config_;
  std::array<Track, kSignalCount> tracks_;
  ThermalModel model_;
  std::vector<double> scratch_;
  Counters counters_;

  bool started_ = false;
  TimeMs start_ms_ = 0;
  TimeMs last_eval_ms_ = 0;
  Rung level_ = Rung::normal;
  bool draining_ = false;
  TimeMs drain_since_ms_ = 0;
  bool migrating_ = false;
  /// Time of an event that has not happened yet: far enough back that every
  /// "since then" interval is long.
  static constexpr TimeMs kNever = std::numeric_limits<TimeMs>::min() / 4;
  TimeMs last_migration_ms_ = kNever;
  TimeMs last_change_ms_ = 0;
  TimeMs last_up_ms_ = kNever;
  TimeMs last_down_ms_ = kNever;
  TimeMs last_flip_ms_ = 0;
  TimeMs trend_from_ms_ = 0;  ///< trends use samples from here (after the last action showed)
  TimeMs flip_factor_ = 1;  ///< 1, 2, 4 … : dwells are multiplied by it
  /// Per rung: time of the step up to it and GPU power / chassis power just
  /// before it (for the step-down check of thermal steps).
  struct Before {
    TimeMs t_ms = -1;
    double gpu_power = 0.0;
    double chassis_power = 0.0;
    bool has_gpu_power = false;
    bool has_chassis_power = false;
    bool thermal = false;  ///< taken for a temperature (the restore check applies)
    std::optional<Signal> cause;  ///< the signal that drove the step (its dwell applies)
  };
  std::array<Before, kRungCount> before_{};
};

}  // namespace railyard::policy
