#include "tools/policy-sim/host_model.h"

#include <algorithm>
#include <cmath>

namespace railyard::policy_sim {

Actuation actuation_for(policy::Rung level) {
  using policy::Rung;
  Actuation a;
  const auto at_least = [level](Rung r) { return policy::index(level) >= policy::index(r); };
  if (at_least(Rung::admission)) a.admit = 0.93;
  if (at_least(Rung::batch)) a.admit = 0.93 * 0.88;
  if (at_least(Rung::power_cap)) a.power_cap_w = 600.0;
  if (at_least(Rung::power_cap_deep)) a.power_cap_w = 450.0;
  if (at_least(Rung::cpu_quota)) a.cpu_factor = 1.5;
  if (at_least(Rung::freeze)) a.frozen = true;
  return a;
}

HostModel::HostModel(const HostParams& params) : p_(params) {}

double HostModel::power(double batch, double clock, double congestion, double cpu_factor) const {
  // Waiting on the fabric or on a throttled CPU leaves the GPU idle part of the time.
  const double u = std::pow(std::min(1.0, std::max(0.0, batch) / p_.batch_ref), 0.6) / (1.0 + 0.3 * congestion) /
                   cpu_factor;
  return p_.p_idle_w + p_.p_dyn_w * u * clock * clock;
}

double HostModel::step_ms(double batch, double clock, double cpu_factor, double congestion) const {
  return ((p_.t_mem_ms + p_.m_ms * batch) + (p_.t_comp_ms + p_.c_ms * batch) / clock) * cpu_factor *
         (1.0 + 0.3 * congestion);
}

void HostModel::reset(const HostInputs& in) {
  s_ = HostState{};
  s_.batch = in.demand_batch;
  s_.power_w = power(s_.batch, 1.0, in.congestion, 1.0);
  s_.temp_c = in.coolant_c + p_.r_k_per_w * in.r_factor * s_.power_w;
}

void HostModel::step(double dt, const HostInputs& in, const Actuation& act) {
  // Workload: the admitted batch follows demand (less what moved to a peer).
  const double target = act.frozen ? 0.0 : in.demand_batch * (1.0 - in.migrated_share) * act.admit;
  const double tau = target < s_.batch ? p_.batch_tau_down_s : p_.batch_tau_up_s;
  s_.batch += (target - s_.batch) * std::min(1.0, dt / tau);
  if (act.frozen) s_.batch = 0.0;

  // Firmware clock: power cap, then slowdown and brake.
  double f = 1.0;
  const double cap = std::min(p_.tdp_w, act.power_cap_w);
  const double full = power(s_.batch, 1.0, in.congestion, act.cpu_factor);
  if (full > cap) f = std::sqrt(std::max(0.05, (cap - p_.p_idle_w) / (full - p_.p_idle_w)));
  if (s_.temp_c >= p_.slowdown_c) s_.slowdown = true;
  if (s_.slowdown && s_.temp_c < p_.release_c) s_.slowdown = false;
  if (s_.slowdown) f = std::min(f, p_.slowdown_clock);
  const bool idle = act.frozen || in.paused || s_.batch < 0.5;
  // The brake asserts when the chassis would draw more than the PSU allows
  // (before the GPUs slow down) and holds a while after the excess is gone.
  const double unbraked = idle ? p_.p_idle_w : power(s_.batch, f, in.congestion, act.cpu_factor);
  if (p_.chassis_base_w + p_.gpus * unbraked > p_.brake_w) {
    s_.brake_left_s = p_.brake_hold_s;
  } else {
    s_.brake_left_s = std::max(0.0, s_.brake_left_s - dt);
  }
  if (s_.brake_left_s > 0.0) f = std::min(f, p_.brake_clock);
  s_.clock = f;
  s_.power_w = idle ? p_.p_idle_w : power(s_.batch, f, in.congestion, act.cpu_factor);
  s_.chassis_w = p_.chassis_base_w + p_.gpus * s_.power_w;

  // Thermal.
  const double tss = in.coolant_c + p_.r_k_per_w * in.r_factor * s_.power_w;
  s_.temp_c += (tss - s_.temp_c) * (1.0 - std::exp(-dt / p_.tau_s));

  // Decode.
  s_.step_ms = step_ms(std::max(1.0, s_.batch), f, act.cpu_factor, in.congestion);
  s_.tokens_per_s = idle ? 0.0 : s_.batch * 1000.0 / s_.step_ms;

  // Ideal: all demand here, at the clock TDP allows, nothing else in the way.
  const double ideal_full = power(in.demand_batch, 1.0, in.congestion, 1.0);
  const double fi = ideal_full > p_.tdp_w
                        ? std::sqrt((p_.tdp_w - p_.p_idle_w) / (ideal_full - p_.p_idle_w))
                        : 1.0;
  s_.ideal_tokens_per_s = in.demand_batch * 1000.0 / step_ms(std::max(1.0, in.demand_batch), fi, 1.0, in.congestion);
}

}  // namespace railyard::policy_sim
