#include "policy/policy.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace railyard::policy {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr TimeMs kMigrationSettleMs = 5'000;
/// The model runs cold by more than this (°C, averaged): the fitted trend counts too.
constexpr double kModelResidualC = 1.0;
/// After a step up, the least wait before the next even when urgent: the
/// effect must show in the robust level (median of the newest points).
constexpr TimeMs kEffectShowMs = 1'000;

constexpr std::array<std::string_view, kRungCount> kRungNames = {
    "normal", "admission", "batch", "power_cap", "power_cap_deep", "cpu_quota", "freeze",
};

/// Signals whose trend an action changes: their trend restarts after one.
bool controlled(Signal s) {
  return s == Signal::gpu_temp_c || s == Signal::gpu_power_w || s == Signal::chassis_power_w ||
         s == Signal::tokens_per_s;
}

std::string fmt_ttl(double ttl) { return std::isinf(ttl) ? std::string("never") : fmt::format("{:.1f} s", ttl); }
}  // namespace

std::string_view to_string(Rung rung) { return kRungNames[index(rung)]; }

std::string_view to_string(Freshness f) {
  switch (f) {
    case Freshness::absent: return "absent";
    case Freshness::fresh: return "fresh";
    case Freshness::stale: return "stale";
    case Freshness::lost: return "lost";
  }
  return "?";
}

std::string_view to_string(Action a) {
  switch (a) {
    case Action::hold: return "hold";
    case Action::step_up: return "step_up";
    case Action::step_down: return "step_down";
    case Action::migrate: return "migrate";
    case Action::drain: return "drain";
    case Action::undrain: return "undrain";
  }
  return "?";
}

PolicyConfig default_config() {
  PolicyConfig c;
  using S = Signal;
  // BMC signals: polled every 1–10 s. Stale after three missed 10 s polls, lost after 2 minutes.
  // Points of 5 s (coolant) and 2 s (chassis) so a fast BMC still fills the window.
  c.signals[index(S::coolant_supply_c)] = {.stale_after_ms = 30'000,
                                           .lost_after_ms = 120'000,
                                           .precaution_on_loss = true,
                                           .bucket_ms = 5'000,
                                           .window_ms = 300'000,
                                           .min_points = 4,
                                           .min_span_ms = 15'000,
                                           .min_rise = 0.3,
                                           .max_points = 64,
                                           .settle_ms = 30'000,
                                           .band = 1.0,
                                           .fallback_margin = 3.0};
  // A power falls the moment its burst ends: a short dwell after a step it drove (here and GPU power).
  c.signals[index(S::chassis_power_w)] = {.stale_after_ms = 30'000,
                                          .lost_after_ms = 120'000,
                                          .precaution_on_loss = true,
                                          .bucket_ms = 2'000,
                                          .window_ms = 60'000,
                                          .min_points = 4,
                                          .min_span_ms = 20'000,
                                          .min_rise = 100.0,
                                          .max_points = 32,
                                          .settle_ms = 1'000,
                                          .band = 250.0,
                                          .dwell_ms = 30'000,
                                          .fallback_margin = 200.0};
  c.signals[index(S::leak)] = {.window_ms = 60'000, .min_points = 2, .max_points = 8};
  // NVML signals: every 100 ms; points of 0.5 s (temperature) and 0.2 s (power). The
  // temperature settles in about 3τ after a change of power.
  c.signals[index(S::gpu_temp_c)] = {.stale_after_ms = 2'000,
                                     .lost_after_ms = 10'000,
                                     .precaution_on_loss = true,
                                     .bucket_ms = 500,
                                     .window_ms = 20'000,
                                     .min_points = 6,
                                     .min_span_ms = 10'000,
                                     .min_rise = 0.8,
                                     .confirm_ms = 1'000,
                                     .max_points = 48,
                                     .settle_ms = 60'000,
                                     .band = 4.0,
                                     .fallback_margin = 5.0};
  // Power jitters (decode steps, NVML's short averaging): stricter significance, 0.6 s confirmation.
  c.signals[index(S::gpu_power_w)] = {.stale_after_ms = 2'000,
                                      .lost_after_ms = 10'000,
                                      .precaution_on_loss = true,
                                      .bucket_ms = 200,
                                      .window_ms = 4'000,
                                      .min_points = 5,
                                      .min_span_ms = 2'500,
                                      .min_rise = 15.0,
                                      .significance = 5.0,
                                      .confirm_ms = 600,
                                      .max_points = 32,
                                      .settle_ms = 500,
                                      .band = 30.0,
                                      .dwell_ms = 15'000,
                                      .fallback_margin = 20.0};
  // Fabric and workload: reported only, or inputs to migration.
  c.signals[index(S::congestion)] = {.stale_after_ms = 5'000,
                                     .lost_after_ms = 30'000,
                                     .bucket_ms = 500,
                                     .window_ms = 30'000,
                                     .min_points = 4,
                                     .max_points = 32,
                                     .band = 0.05};
  c.signals[index(S::tokens_per_s)] = {.stale_after_ms = 5'000,
                                       .lost_after_ms = 30'000,
                                       .bucket_ms = 1'000,
                                       .window_ms = 60'000,
                                       .min_points = 4,
                                       .max_points = 32};
  c.signals[index(S::peer_headroom)] = {.window_ms = 60'000, .min_points = 2, .max_points = 8};

  c.rungs[index(Rung::normal)] = {.lead_ms = 0, .release_ms = 0};
  // Sequences finish over a few seconds; new ones fill the batch again slowly.
  c.rungs[index(Rung::admission)] = {.lead_ms = 5'000, .release_ms = 15'000};
  // The workload acknowledges; its next steps are smaller.
  c.rungs[index(Rung::batch)] = {.lead_ms = 2'000, .release_ms = 8'000};
  // NVML applies within a few 10 ms: one sample period.
  c.rungs[index(Rung::power_cap)] = {.lead_ms = 500, .release_ms = 2'000};
  c.rungs[index(Rung::power_cap_deep)] = {.lead_ms = 500, .release_ms = 2'000};
  // The next CFS period; the workload slows.
  c.rungs[index(Rung::cpu_quota)] = {.lead_ms = 1'000, .release_ms = 4'000};
  c.rungs[index(Rung::freeze)] = {.lead_ms = 500, .release_ms = 10'000};
  return c;
}

Policy::Policy(const PolicyConfig& config)
    : config_(config),
      tracks_{},
      model_(config.thermal) {
  for (std::size_t i = 0; i < kSignalCount; ++i) {
    const SignalConfig& sc = config_.signals[i];
    tracks_[i].series = Series(sc.max_points, sc.bucket_ms);
    tracks_[i].limit_config = sc.limits;
    tracks_[i].limits = resolve_limits(sc.limits, {}, sc.fallback_margin);
  }
  scratch_.reserve(64 * 64 / 2);
}

void Policy::set_bmc_thresholds(Signal signal, const BmcThresholds& thresholds) {
  Track& t = tracks_[index(signal)];
  t.bmc = thresholds;
  t.limits = resolve_limits(t.limit_config, t.bmc, config_.signals[index(signal)].fallback_margin);
}

const Limits& Policy::limits(Signal signal) const { return tracks_[index(signal)].limits; }

void Policy::observe(const Sample& sample) {
  if (!std::isfinite(sample.value)) {
    ++counters_.dropped_nan;
    return;
  }
  Track& t = tracks_[index(sample.signal)];
  if (!t.series.add(sample.t_ms, sample.value)) {
    ++counters_.dropped_out_of_order;
    return;
  }
  ++counters_.samples;
}

void Policy::report(const ActuatorReport& r) {
  RungConfig& rc = config_.rungs[index(r.rung)];
  switch (r.outcome) {
    case Outcome::applied:
      // The effect shows `lead` after the actuator confirmed, not after the decision.
      if (r.rung == level_) trend_from_ms_ = std::max(trend_from_ms_, r.t_ms + rc.lead_ms);
      break;
    case Outcome::unavailable:
      rc.available = false;
      [[fallthrough]];
    case Outcome::failed:
      ++counters_.actuator_failures;
      // Do not wait for an effect that will not come.
      if (r.rung == level_) {
        last_up_ms_ = std::min(last_up_ms_, r.t_ms - config_.min_up_interval_ms - rc.lead_ms);
        trend_from_ms_ = std::min(trend_from_ms_, r.t_ms);
      }
      break;
  }
}

void Policy::report(const MigrationReport& r) {
  migrating_ = false;
  if (r.outcome == MigrationOutcome::failed) {
    // A failed migration leaves the load here: escalate without waiting for it.
    last_up_ms_ = std::min(last_up_ms_, r.t_ms - config_.min_up_interval_ms);
  } else {
    // The stop-and-copy pause and the lighter load that follows are not a trend.
    trend_from_ms_ = std::max(trend_from_ms_, r.t_ms + kMigrationSettleMs);
  }
}

SignalView Policy::view(Signal s, TimeMs now) const {
  const Track& t = tracks_[index(s)];
  const SignalConfig& sc = config_.signals[index(s)];
  SignalView v;
  v.limits = t.limits;
  if (t.series.empty()) {
    v.freshness = (now - start_ms_ >= sc.lost_after_ms) ? Freshness::lost : Freshness::absent;
    v.value = std::numeric_limits<double>::quiet_NaN();
    v.age_ms = now - start_ms_;
    return v;
  }
  v.age_ms = now - t.series.last_sample_ms();
  v.freshness = v.age_ms <= sc.stale_after_ms ? Freshness::fresh
                : v.age_ms <= sc.lost_after_ms ? Freshness::stale
                                               : Freshness::lost;
  v.value = robust_level(t.series);
  return v;
}

void Policy::fill_trend(Signal s, SignalView& v, TimeMs now) {
  const Track& t = tracks_[index(s)];
  const SignalConfig& sc = config_.signals[index(s)];
  if (t.series.empty()) return;
  const bool needed = v.limits.has_limit() || s == Signal::coolant_supply_c || s == Signal::gpu_power_w;
  if (v.freshness == Freshness::fresh && needed) {
    TimeMs from = now - sc.window_ms;
    if (controlled(s)) from = std::max(from, trend_from_ms_);
    const Trend tr = estimate_trend(t.series, from,
                                    {.min_points = sc.min_points,
                                     .min_span_ms = sc.min_span_ms,
                                     .min_rise = sc.min_rise,
                                     .significance = sc.significance},
                                    scratch_);
    v.trend_valid = tr.valid;
    v.slope_per_s = tr.slope_per_s;
  }
  if (v.limits.has_limit()) {
    v.ttl_s = v.trend_valid ? linear_time_to_limit(v.value, v.slope_per_s, v.limits.limit)
                            : (v.value >= v.limits.limit ? 0.0 : kInf);
  }
}

void Policy::apply_model(std::array<SignalView, kSignalCount>& in, TimeMs now) {
  SignalView& gpu = in[index(Signal::gpu_temp_c)];
  const SignalView& coolant = in[index(Signal::coolant_supply_c)];
  const SignalView& power = in[index(Signal::gpu_power_w)];
  const bool coolant_ok = coolant.freshness == Freshness::fresh || coolant.freshness == Freshness::stale;
  if (!coolant_ok || power.freshness != Freshness::fresh || tracks_[index(Signal::gpu_temp_c)].series.empty()) return;
  const double cslope = coolant.trend_valid ? std::max(0.0, coolant.slope_per_s) : 0.0;

  if (gpu.freshness == Freshness::fresh && now > last_eval_ms_) {
    const double dt = std::min(5.0, static_cast<double>(now - last_eval_ms_) / 1000.0);
    if (gpu.trend_valid && power.trend_valid) {
      model_.learn(gpu.value, gpu.slope_per_s, coolant.value, power.value, power.slope_per_s, dt);
    }
    model_.observe(gpu.value, coolant.value, power.value, dt);
  }
  if (!model_.ready() || !gpu.limits.has_limit()) return;

  double temp = gpu.value;
  if (gpu.freshness != Freshness::fresh) {
    // Dead reckoning from the last reading with the power and coolant we still see.
    temp = model_.predict(gpu.value, coolant.value, cslope, power.value, static_cast<double>(gpu.age_ms) / 1000.0);
    gpu.value = temp;
    gpu.from_model = true;
    gpu.ttl_s = model_.time_to_limit(temp, coolant.value, cslope, power.value, gpu.limits.limit,
                                     config_.model_horizon_s);
    return;
  }
  const double model_ttl =
      model_.time_to_limit(temp, coolant.value, cslope, power.value, gpu.limits.limit, config_.model_horizon_s);
  // Trust the model unless the measurement runs clearly hotter than it
  // (R rose: lost flow, a fouled plate): then the fitted trend counts too.
  if (model_.residual() > kModelResidualC) {
    if (model_ttl < gpu.ttl_s) {
      gpu.ttl_s = model_ttl;
      gpu.from_model = true;
    }
  } else {
    gpu.ttl_s = model_ttl;
    gpu.from_model = true;
  }
}

double Policy::horizon_s(Signal s, Rung next) const {
  const TimeMs ms = config_.rungs[index(next)].lead_ms + config_.signals[index(s)].settle_ms + config_.guard_ms;
  return static_cast<double>(ms) / 1000.0;
}

std::optional<Rung> Policy::next_available(Rung from) const {
  for (std::size_t r = index(from) + 1; r < kRungCount; ++r) {
    if (config_.rungs[r].available) return static_cast<Rung>(r);
  }
  return std::nullopt;
}

Rung Policy::prev_available(Rung from) const {
  for (std::size_t r = index(from); r-- > 1;) {
    if (config_.rungs[r].available) return static_cast<Rung>(r);
  }
  return Rung::normal;
}

std::optional<Rung> Policy::pick_rung(double ttl_s) const {
  // The lowest rung whose effect lands before the limit; else the fastest one.
  std::optional<Rung> fastest;
  for (std::size_t r = index(level_) + 1; r < kRungCount; ++r) {
    const RungConfig& rc = config_.rungs[r];
    if (!rc.available) continue;
    if (static_cast<double>(rc.lead_ms + config_.guard_ms) / 1000.0 <= ttl_s) return static_cast<Rung>(r);
    if (!fastest || rc.lead_ms < config_.rungs[index(*fastest)].lead_ms) fastest = static_cast<Rung>(r);
  }
  return fastest;
}

TimeMs Policy::migration_lead_ms(const std::array<SignalView, kSignalCount>& in) const {
  const SignalView& c = in[index(Signal::congestion)];
  double congestion = c.freshness == Freshness::fresh ? std::clamp(c.value, 0.0, 0.99) : 0.0;
  return static_cast<TimeMs>(static_cast<double>(config_.migration.lead_ms) / (1.0 - congestion));
}

bool Policy::can_migrate(const std::array<SignalView, kSignalCount>& in, TimeMs now) const {
  const MigrationConfig& m = config_.migration;
  if (!m.enabled || migrating_ || index(level_) < index(m.after)) return false;
  if (now - last_migration_ms_ < m.cooldown_ms) return false;
  const SignalView& peer = in[index(Signal::peer_headroom)];
  if (peer.freshness != Freshness::fresh || peer.value < m.min_peer_headroom) return false;
  const SignalView& c = in[index(Signal::congestion)];
  if (c.freshness == Freshness::fresh && c.value > m.max_congestion) return false;
  return true;
}

TimeMs Policy::dwell_down_ms() const {
  const Before& b = before_[index(level_)];
  const TimeMs base = b.cause ? config_.signals[index(*b.cause)].dwell_ms : config_.dwell_down_ms;
  return std::min(config_.dwell_down_max_ms, base * flip_factor_);
}

bool Policy::step_down_ok(const std::array<SignalView, kSignalCount>& in, TimeMs now, std::string& why) const {
  const TimeMs dwell = dwell_down_ms();
  if (now - last_change_ms_ < dwell) {
    why = fmt::format("dwell {} s of {} s", (now - last_change_ms_) / 1000, dwell / 1000);
    return false;
  }
  if (migrating_) {
    why = "migration in progress";
    return false;
  }
  const Before& b = before_[index(level_)];
  const bool remember = b.t_ms >= 0 && now - b.t_ms <= config_.restore_memory_ms;
  for (std::size_t i = 0; i < kSignalCount; ++i) {
    const auto s = static_cast<Signal>(i);
    const SignalView& v = in[i];
    if (!v.limits.has_limit()) continue;
    const double band = config_.signals[i].band;
    if (v.freshness != Freshness::fresh) {
      why = fmt::format("{} {}", to_string(s), to_string(v.freshness));
      return false;
    }
    if (tracks_[i].last_near >= 0 && now - tracks_[i].last_near < dwell) {
      why = fmt::format("{} {:.1f}: not clear of its band (limit {:.1f} − {:.1f}) for {} s yet", to_string(s),
                        v.value, v.limits.limit, band, dwell / 1000);
      return false;
    }
    if (v.value > v.limits.limit - band) {
      why = fmt::format("{} {:.1f} within band {:.1f} of limit {:.1f}", to_string(s), v.value, band, v.limits.limit);
      return false;
    }
    if (v.ttl_s < 2.0 * horizon_s(s, level_)) {
      why = fmt::format("{} rising: limit in {}", to_string(s), fmt_ttl(v.ttl_s));
      return false;
    }
    if (!remember) continue;
    // Would undoing this rung bring the signal back over? Judged from what
    // the rung took away (power before it), not from where it holds it now.
    if (s == Signal::gpu_temp_c && b.thermal && b.has_gpu_power && model_.ready()) {
      const SignalView& c = in[index(Signal::coolant_supply_c)];
      if (c.freshness == Freshness::fresh) {
        const double tss = model_.steady_state(c.value, b.gpu_power);
        if (tss > v.limits.limit - band / 2) {
          why = fmt::format("gpu_temp_c would settle at {:.1f} with {:.0f} W back", tss, b.gpu_power);
          return false;
        }
      }
    }
  }
  return true;
}

void Policy::step_to(Rung to, TimeMs now, const std::array<SignalView, kSignalCount>& in,
                     std::optional<Signal> cause) {
  if (index(to) > index(level_)) {
    Before& b = before_[index(to)];
    b.t_ms = now;
    b.thermal = cause == Signal::gpu_temp_c || cause == Signal::coolant_supply_c;
    b.cause = cause;
    const SignalView& gp = in[index(Signal::gpu_power_w)];
    const SignalView& cp = in[index(Signal::chassis_power_w)];
    b.has_gpu_power = gp.freshness == Freshness::fresh;
    b.gpu_power = gp.value;
    b.has_chassis_power = cp.freshness == Freshness::fresh;
    b.chassis_power = cp.value;
    // Rungs jumped over share the same "before".
    for (std::size_t r = index(level_) + 1; r < index(to); ++r) before_[r] = b;
    if (now - last_down_ms_ <= config_.flap_window_ms) {
      ++counters_.flips;
      last_flip_ms_ = now;
      if (config_.dwell_down_ms * flip_factor_ < config_.dwell_down_max_ms) flip_factor_ *= 2;
    }
    last_up_ms_ = now;
    trend_from_ms_ = now + config_.rungs[index(to)].lead_ms;
    ++counters_.step_ups;
  } else {
    last_down_ms_ = now;
    trend_from_ms_ = now + config_.rungs[index(level_)].release_ms;
    ++counters_.step_downs;
  }
  level_ = to;
  last_change_ms_ = now;
}

Decision Policy::evaluate(TimeMs now) {
  if (!started_) {
    started_ = true;
    start_ms_ = now;
    last_eval_ms_ = now;
    last_change_ms_ = now;
    last_flip_ms_ = now;
  }
  now = std::max(now, last_eval_ms_);
  Decision d;
  d.t_ms = now;
  d.from = level_;
  d.to = level_;

  for (std::size_t i = 0; i < kSignalCount; ++i) {
    d.inputs[i] = view(static_cast<Signal>(i), now);
    fill_trend(static_cast<Signal>(i), d.inputs[i], now);
  }
  apply_model(d.inputs, now);
  last_eval_ms_ = now;
  const auto& in = d.inputs;
  for (std::size_t i = 0; i < kSignalCount; ++i) {
    const SignalView& v = in[i];
    if (!v.limits.has_limit()) continue;
    const bool near = v.freshness != Freshness::fresh || v.value > v.limits.limit - config_.signals[i].band ||
                      v.ttl_s < 2.0 * horizon_s(static_cast<Signal>(i), level_);
    if (near) tracks_[i].last_near = now;
  }

  if (flip_factor_ > 1 && now - last_flip_ms_ >= config_.quiet_ms) {
    flip_factor_ /= 2;
    last_flip_ms_ = now;
  }
  if (migrating_ && now - last_migration_ms_ > 3 * migration_lead_ms(in)) migrating_ = false;  // no report came

  // 1. Emergencies: a leak (even if the BMC went silent after reporting it) or a critical value.
  std::string emergency;
  const Track& leak = tracks_[index(Signal::leak)];
  if (!leak.series.empty() && leak.series.last_sample() >= config_.leak_threshold) {
    emergency = fmt::format("leak detected ({} s ago)", in[index(Signal::leak)].age_ms / 1000);
    d.binding = Signal::leak;
  } else {
    for (std::size_t i = 0; i < kSignalCount; ++i) {
      const SignalView& v = in[i];
      if (v.freshness == Freshness::absent || v.freshness == Freshness::lost) continue;
      if (v.value >= v.limits.critical) {
        emergency = fmt::format("{} {:.1f} at or over critical {:.1f}", to_string(static_cast<Signal>(i)), v.value,
                                v.limits.critical);
        d.binding = static_cast<Signal>(i);
        break;
      }
    }
  }
  if (!emergency.empty()) {
    drain_since_ms_ = now;
    if (!draining_) {
      draining_ = true;
      ++counters_.drains;
      d.action = Action::drain;
      d.reason = "drain: " + emergency;
    } else {
      d.reason = "draining: " + emergency;
    }
    d.draining = true;
    return d;
  }
  if (draining_) {
    if (now - drain_since_ms_ < config_.drain_hold_ms) {
      d.draining = true;
      d.reason = fmt::format("draining: cause gone {} s ago, hold {} s", (now - drain_since_ms_) / 1000,
                             config_.drain_hold_ms / 1000);
      return d;
    }
    draining_ = false;
    const Rung back = prev_available(Rung::cpu_quota);
    if (index(back) > index(level_)) step_to(back, now, in, std::nullopt);
    level_ = back;
    last_change_ms_ = now;
    d.action = Action::undrain;
    d.to = level_;
    d.reason = fmt::format("drain over (cause gone {} s): resume at {}", config_.drain_hold_ms / 1000,
                           to_string(level_));
    return d;
  }

  // 2. Which signal is nearest its limit, relative to the horizon the next rung needs.
  const std::optional<Rung> next = next_available(level_);
  std::optional<Signal> binding;
  double binding_ttl = kInf, binding_h = 0.0, worst = kInf;
  for (std::size_t i = 0; i < kSignalCount; ++i) {
    const auto s = static_cast<Signal>(i);
    const SignalView& v = in[i];
    if (!v.limits.has_limit() || v.freshness == Freshness::absent || v.freshness == Freshness::lost) continue;
    const double h = horizon_s(s, next.value_or(level_));
    Track& t = tracks_[i];
    const TimeMs confirm = config_.signals[i].confirm_ms;
    if (v.ttl_s >= h) {
      // Noise flickering across the horizon does not restart the confirmation.
      if (t.ok_since < 0) t.ok_since = now;
      if (now - t.ok_since >= confirm) t.short_since = -1;
      continue;
    }
    t.ok_since = -1;
    if (t.short_since < 0) t.short_since = now;
    const bool confirmed = now - t.short_since >= confirm || v.value >= v.limits.limit;
    if (confirmed && v.ttl_s - h < worst) {
      worst = v.ttl_s - h;
      binding = s;
      binding_ttl = v.ttl_s;
      binding_h = h;
    }
  }

  // 3. Lost signals: one precautionary step per loss episode.
  std::optional<Signal> lost;
  for (std::size_t i = 0; i < kSignalCount; ++i) {
    Track& t = tracks_[i];
    const SignalView& v = in[i];
    if (v.freshness == Freshness::fresh) t.loss_handled = false;
    // Signals lost together (one NVML or BMC outage) count as one episode: one step.
    // A signal last seen far from its limit (more than two bands under it) is
    // only held: stepping up for it would cost tokens for nothing.
    if (v.freshness == Freshness::lost && !t.loss_handled && v.limits.has_limit() &&
        config_.signals[i].precaution_on_loss) {
      t.loss_handled = true;
      const bool near = t.series.empty() || v.value > v.limits.limit - 2.0 * config_.signals[i].band;
      if (!lost && near) lost = static_cast<Signal>(i);
    }
  }

  if (binding) {
    d.binding = binding;
    d.horizon_s = binding_h;
    const SignalView& v = in[index(*binding)];
    TimeMs fastest = std::numeric_limits<TimeMs>::max();
    for (std::size_t r = index(level_) + 1; r < kRungCount; ++r) {
      if (config_.rungs[r].available) fastest = std::min(fastest, config_.rungs[r].lead_ms);
    }
    const bool urgent = binding_ttl < static_cast<double>(fastest + config_.guard_ms) / 1000.0;
    bool recovering = false;
    if (*binding == Signal::gpu_temp_c && v.from_model && model_.ready()) {
      const SignalView& c = in[index(Signal::coolant_supply_c)];
      const SignalView& p = in[index(Signal::gpu_power_w)];
      recovering = model_.predict(v.value, c.value, 0.0, p.value, 5.0) < v.value;
    } else if (v.trend_valid) {
      recovering = v.slope_per_s < 0.0;
    }
    const TimeMs wait = std::max(config_.min_up_interval_ms, config_.rungs[index(level_)].lead_ms);
    const std::string what = fmt::format("{} {:.1f} ({:+.3f}/s{}) limit {:.1f} in {} < horizon {:.1f} s",
                                         to_string(*binding), v.value, v.trend_valid ? v.slope_per_s : 0.0,
                                         v.from_model ? ", model" : "", v.limits.limit, fmt_ttl(binding_ttl), binding_h);
    const TimeMs wait_urgent = config_.rungs[index(level_)].lead_ms + kEffectShowMs;
    if (now - last_up_ms_ < (urgent && !recovering ? wait_urgent : wait)) {
      d.reason = fmt::format("hold at {}: {}; waiting for {} to take effect", to_string(level_), what,
                             to_string(level_));
      return d;
    }
    if (recovering && urgent && index(level_) > 0 && now < trend_from_ms_ + config_.min_up_interval_ms) {
      d.reason = fmt::format("hold at {}: {}; already falling", to_string(level_), what);
      return d;
    }
    if (can_migrate(in, now)) {
      const TimeMs lead = migration_lead_ms(in);
      if (static_cast<double>(lead + config_.guard_ms) / 1000.0 <= binding_ttl || !next) {
        migrating_ = true;
        last_migration_ms_ = now;
        ++counters_.migrations;
        trend_from_ms_ = now + lead;
        last_up_ms_ = now;
        d.action = Action::migrate;
        d.reason = fmt::format("migrate to a peer ({:.0f} % headroom, ~{} s): {}",
                               100.0 * in[index(Signal::peer_headroom)].value, lead / 1000, what);
        return d;
      }
    }
    const std::optional<Rung> target = pick_rung(binding_ttl);
    if (!target) {
      d.reason = fmt::format("at the top of the ladder ({}): {}", to_string(level_), what);
      return d;
    }
    step_to(*target, now, in, binding);
    d.action = Action::step_up;
    d.to = level_;
    d.reason = fmt::format("{} → {}: {}", to_string(d.from), to_string(d.to), what);
    return d;
  }

  if (lost) {
    d.binding = lost;
    if (next) {
      step_to(*next, now, in, lost);
      ++counters_.precautions;
      d.action = Action::step_up;
      d.to = level_;
      d.reason = fmt::format("{} → {}: {} lost (no sample for {} s): one step as a precaution", to_string(d.from),
                             to_string(d.to), to_string(*lost), in[index(*lost)].age_ms / 1000);
    } else {
      d.reason = fmt::format("{} lost at the top of the ladder", to_string(*lost));
    }
    return d;
  }

  if (level_ != Rung::normal) {
    std::string why;
    if (step_down_ok(in, now, why)) {
      const TimeMs dwell = dwell_down_ms();
      step_to(prev_available(level_), now, in, std::nullopt);
      d.action = Action::step_down;
      d.to = level_;
      d.reason = fmt::format("{} → {}: every signal clear of its limit by its band for {} s", to_string(d.from),
                             to_string(d.to), dwell / 1000);
      return d;
    }
    d.reason = fmt::format("hold at {}: {}", to_string(level_), why);
    return d;
  }
  d.reason = "normal";
  return d;
}

}  // namespace railyard::policy
