#include "policy/thermal_model.h"

#include <algorithm>
#include <cmath>

namespace railyard::policy {

ThermalModel::ThermalModel(const ThermalModelConfig& config) : config_(config), r_(config.initial_r) {
  if (config.initial_r > 0.0) learnt_s_ = config.ready_after_s;
}

void ThermalModel::learn(double temp, double temp_slope_per_s, double coolant, double power,
                         double power_slope_per_s, double dt_s) {
  if (power < config_.min_power_w || dt_s <= 0.0) return;
  if (std::abs(power_slope_per_s) * config_.tau_s > config_.steady_power * power) return;
  const double r = (temp + config_.tau_s * temp_slope_per_s - coolant) / power;
  if (!(r > 0.0) || r > 1.0) return;  // not a cold plate: ignore
  if (r_ <= 0.0) {
    r_ = r;
  } else {
    // Learn quickly at first (the first minutes of a run), then slowly.
    const double horizon = std::min(config_.learn_time_s, std::max(learnt_s_, config_.tau_s));
    r_ += (r - r_) * std::min(1.0, dt_s / horizon);
  }
  learnt_s_ += dt_s;
}

void ThermalModel::observe(double measured, double coolant, double power, double dt_s) {
  if (!ready()) return;
  if (!observing_ || dt_s > 10.0) {
    observing_ = true;
    estimate_ = measured;
    residual_ = 0.0;
    return;
  }
  estimate_ = predict(estimate_, coolant, 0.0, power, dt_s);
  residual_ += (measured - estimate_ - residual_) * std::min(1.0, dt_s / 10.0);
  estimate_ += (measured - estimate_) * std::min(1.0, dt_s / 30.0);
}

double ThermalModel::predict(double temp, double coolant, double coolant_slope_per_s, double power,
                             double t_s) const {
  // Particular solution for a coolant ramp c·t: T_p = T_ss − c·τ + c·t.
  const double tau = config_.tau_s;
  const double c = coolant_slope_per_s;
  const double tss = steady_state(coolant, power);
  return tss - c * tau + c * t_s + (temp - tss + c * tau) * std::exp(-t_s / tau);
}

double ThermalModel::time_to_limit(double temp, double coolant, double coolant_slope_per_s, double power,
                                   double limit, double horizon_s) const {
  if (temp >= limit) return 0.0;
  const double step = std::max(0.5, horizon_s / 200.0);
  double prev_t = 0.0;
  for (double t = step; t <= horizon_s + 1e-9; t += step) {
    if (predict(temp, coolant, coolant_slope_per_s, power, t) >= limit) {
      double lo = prev_t, hi = t;
      for (int i = 0; i < 20; ++i) {
        const double mid = 0.5 * (lo + hi);
        (predict(temp, coolant, coolant_slope_per_s, power, mid) >= limit ? hi : lo) = mid;
      }
      return hi;
    }
    prev_t = t;
  }
  return std::numeric_limits<double>::infinity();
}

}  // namespace railyard::policy
