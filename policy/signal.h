#pragma once
// Signals the policy watches, their samples, and their limits. Pure data and
// pure functions: no I/O, no clock (time is the caller's monotonic clock in
// milliseconds, passed in with every sample and every evaluation).

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

namespace railyard::policy {

/// Monotonic time in milliseconds, from whatever clock the caller uses
/// (CLOCK_MONOTONIC in the daemon, simulated time in tools/policy-sim).
using TimeMs = std::int64_t;

enum class Signal : std::uint8_t {
  coolant_supply_c,  ///< coolant supply (= server inlet) temperature, °C (BMC)
  gpu_temp_c,        ///< hottest GPU temperature, °C (NVML, ~100 ms)
  gpu_power_w,       ///< power of the hottest/most loaded GPU, W (NVML)
  chassis_power_w,   ///< chassis input power, W (BMC)
  leak,              ///< 0 dry, 1 leak (BMC leak detectors, any of them)
  congestion,        ///< rail congestion 0..1 (fabric: share of capacity lost to queueing/marks)
  tokens_per_s,      ///< workload throughput (reported, never a limit)
  peer_headroom,     ///< 0..1: share of this host's load the best peer can take now
};
inline constexpr std::size_t kSignalCount = static_cast<std::size_t>(Signal::peer_headroom) + 1;
std::string_view to_string(Signal signal);
/// Inverse of to_string(); nullopt for an unknown name.
std::optional<Signal> parse_signal(std::string_view name);
constexpr std::size_t index(Signal s) { return static_cast<std::size_t>(s); }

/// One time-stamped reading. `value` must be finite; NaN is dropped (and
/// counted) by Policy::observe, so a BMC's null reading can be passed as NaN
/// or simply not passed.
struct Sample {
  Signal signal = Signal::gpu_temp_c;
  TimeMs t_ms = 0;
  double value = 0.0;
};

/// The BMC's thresholds for a reading (the subset of Redfish
/// Thresholds the policy uses; the daemon copies them from
/// drivers/bmc/redfish's Reading, so policy/ depends on nothing).
struct BmcThresholds {
  std::optional<double> upper_caution;
  std::optional<double> upper_critical;
  std::optional<double> upper_fatal;
  std::optional<double> upper_caution_user;
  std::optional<double> upper_critical_user;

  bool operator==(const BmcThresholds&) const = default;
};

inline constexpr double kNoLimit = std::numeric_limits<double>::infinity();

/// Effective limits of one signal. `limit` is what the policy keeps the
/// signal under (it acts before it); `critical` triggers an emergency drain.
struct Limits {
  double limit = kNoLimit;
  double critical = kNoLimit;
  bool has_limit() const { return limit != kNoLimit; }
};

/// Limits from configuration; unset fields fall back to the BMC's.
struct LimitConfig {
  std::optional<double> limit;
  std::optional<double> critical;
};

/// Resolves a signal's limits. Rules, each field on its own:
///  - a value set in configuration wins (the operator's intent);
///  - else the tighter (lower) of the BMC's own and its user-set threshold:
///    `limit` from UpperCaution / UpperCautionUser, `critical` from
///    UpperCritical / UpperCriticalUser, else UpperFatal;
///  - with no caution at all but a critical, `limit` is the critical less
///    `fallback_margin` (so the policy still acts before the critical);
///  - a limit above the critical is lowered to the critical.
Limits resolve_limits(const LimitConfig& config, const BmcThresholds& bmc, double fallback_margin);

/// Per-signal tuning. Defaults suit a BMC-polled signal; see PolicyConfig's
/// defaults for each signal.
struct SignalConfig {
  LimitConfig limits;
  /// Acting on a signal needs it: without a limit (and without a critical) a
  /// signal is only reported.
  /// Newer than this is fresh; older is stale (trend ignored, no step down).
  TimeMs stale_after_ms = 30'000;
  /// Older than this (or never seen this long after start) is lost: one
  /// precautionary step up the ladder if `precaution_on_loss`.
  TimeMs lost_after_ms = 120'000;
  bool precaution_on_loss = false;
  /// Samples closer than this are averaged into one point (fast sensors).
  TimeMs bucket_ms = 0;
  /// Trend window.
  TimeMs window_ms = 120'000;
  /// Fewer points than this in the window, or spanning less than
  /// `min_span_ms`: no trend (time to limit unknown).
  std::size_t min_points = 5;
  TimeMs min_span_ms = 0;
  /// A slope whose rise over the points' span is under this is noise: the
  /// trend is flat (no time to limit from it).
  double min_rise = 0.0;
  /// ... and so is a slope under `significance` standard errors (from the
  /// scatter of the points around the fitted line: robust, 1.4826·MAD).
  double significance = 4.0;
  /// A time to limit under the horizon must persist this long before the
  /// policy acts on it (unless the value is already at the limit): a lucky
  /// run of noise lasts one or two evaluations, a trend does not go away.
  TimeMs confirm_ms = 0;
  /// Capacity of the point history (bounds the cost of the slope).
  std::size_t max_points = 48;
  /// Time the signal needs, after an action took effect, to stop rising
  /// (thermal mass): added to the action's lead time to form the horizon.
  TimeMs settle_ms = 0;
  /// Hysteresis: stepping down needs the value at or under limit − band.
  double band = 0.0;
  /// Least time at a level this signal drove the policy to, and clear of
  /// every band, before a step down (before flips lengthen it): minutes for
  /// a temperature (thermal mass), seconds for a power (a burst is over
  /// when the power is back under its band).
  TimeMs dwell_ms = 60'000;
  /// Fallback margin under the critical when only a critical is known.
  double fallback_margin = 0.0;
};

}  // namespace railyard::policy
