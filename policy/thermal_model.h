#pragma once
// First-order (RC) thermal model of a GPU on a cold plate:
//
//   τ · dT/dt = T_coolant + R · P − T
//
// τ (the thermal time constant) comes from configuration; R (kelvin per watt,
// cold plate plus coolant film) is learnt online from the measured temperature,
// its slope, coolant supply temperature and power:
//   R ≈ (T + τ·dT/dt − T_coolant) / P,
// averaged slowly, and only while power is steady (the slope of T lags a power
// step; learning then would be wrong for a while).
//
// With R known, the model predicts where the temperature is heading right
// after a power change or a coolant step, long before a fitted slope of the
// temperature itself can see it; that is what lets the policy act ahead of a
// pump failure or a power burst, and not over-react once a throttle has cut
// the power.

#include <cstddef>
#include <limits>

namespace railyard::policy {

struct ThermalModelConfig {
  double tau_s = 20.0;           ///< GPU + cold plate time constant
  double initial_r = 0.0;        ///< K/W if known from the data sheet; 0 = learn
  double learn_time_s = 120.0;   ///< averaging time of R
  double min_power_w = 100.0;    ///< below this R is not learnt (idle: too little signal)
  double steady_power = 0.03;    ///< learn only while |dP/dt|·τ < this share of P
  double ready_after_s = 20.0;   ///< seconds of learning before the model is used
};

class ThermalModel {
 public:
  explicit ThermalModel(const ThermalModelConfig& config);

  /// One learning step of `dt_s` seconds with the current estimates.
  void learn(double temp, double temp_slope_per_s, double coolant, double power, double power_slope_per_s,
             double dt_s);
  bool ready() const { return r_ > 0.0 && learnt_s_ >= config_.ready_after_s; }
  double r() const { return r_; }
  double tau_s() const { return config_.tau_s; }
  double steady_state(double coolant, double power) const { return coolant + r_ * power; }

  /// Observer: integrates the model along the measured power and coolant and
  /// follows the measurement slowly; the residual (measured − modelled,
  /// averaged over ~10 s) says whether the model runs cold (R rose: lost
  /// flow). Call once per evaluation with the fresh measurement.
  void observe(double measured, double coolant, double power, double dt_s);
  double residual() const { return residual_; }
  /// Temperature `t_s` seconds ahead from `temp` with coolant rising at
  /// `coolant_slope_per_s` and power held at `power`.
  double predict(double temp, double coolant, double coolant_slope_per_s, double power, double t_s) const;
  /// Seconds until predict() reaches `limit` within `horizon_s`: 0 when
  /// already there, +inf when not within the horizon.
  double time_to_limit(double temp, double coolant, double coolant_slope_per_s, double power, double limit,
                       double horizon_s) const;

 private:
  ThermalModelConfig config_;
  double r_ = 0.0;
  double learnt_s_ = 0.0;
  bool observing_ = false;
  double estimate_ = 0.0;
  double residual_ = 0.0;
};

}  // namespace railyard::policy
