#pragma once
// The simulated host: one aggregate GPU (the hottest of eight identical ones)
// on a cold plate, its firmware, the decode workload and the chassis power.
//
//   thermal   τ·dT/dt = T_coolant + R·P − T                     (first-order RC)
//   power     P = P_idle + P_dyn · u(batch) · f²,  u = min(1, batch/batch_ref)^0.6
//   firmware  f lowered so P ≤ min(TDP, NVML cap); HW slowdown f ≤ 0.5 from
//             T ≥ slowdown_c until T < release_c; power brake f ≤ 0.4 while the
//             chassis draws more than brake_w, and 2 s after
//   decode    step = (t_mem + m·b) + (t_comp + c·b)/f, × CPU-quota factor,
//             × (1 + 0.3·congestion) (pipeline activations cross the fabric)
//   chassis   base + gpus·P
//
// Actions change the workload's admitted batch, the NVML cap, the CPU quota
// or freeze it. The unthrottled ideal is the same host with no slowdown, no
// brake and no policy action (TDP still applies: it is normal operation).

#include <cstdint>

#include "policy/policy.h"

namespace railyard::policy_sim {

struct HostParams {
  double tau_s = 20.0;
  double r_k_per_w = 0.07;
  int gpus = 8;
  double p_idle_w = 90.0;
  double p_dyn_w = 620.0;
  double tdp_w = 700.0;
  double batch_ref = 128.0;
  double chassis_base_w = 1200.0;
  double slowdown_c = 88.0;
  double release_c = 86.0;
  double slowdown_clock = 0.5;
  double brake_w = 6500.0;
  double brake_clock = 0.4;
  double brake_hold_s = 2.0;
  double t_mem_ms = 14.0, m_ms = 0.06, t_comp_ms = 6.0, c_ms = 0.08;
  double slo_tpot_ms = 40.0;     ///< time per output token
  double gpu_limit_c = 83.0;     ///< the policy's limit (scored: °C·s over it)
  double batch_tau_down_s = 2.0;  ///< sequences finish / batch shrinks
  double batch_tau_up_s = 3.0;
};

/// What a level means on this host (cumulative: a level includes those below).
struct Actuation {
  double admit = 1.0;          ///< share of demand admitted
  double power_cap_w = 1e9;    ///< NVML cap
  double cpu_factor = 1.0;     ///< step time × (cgroup quota)
  bool frozen = false;
};
Actuation actuation_for(policy::Rung level);

struct HostState {
  double temp_c = 0.0;
  double batch = 0.0;
  double clock = 1.0;
  double power_w = 0.0;
  double chassis_w = 0.0;
  bool slowdown = false;
  double brake_left_s = 0.0;
  double step_ms = 0.0;
  double tokens_per_s = 0.0;  ///< local
  double ideal_tokens_per_s = 0.0;
};

struct HostInputs {
  double coolant_c = 32.0;
  double r_factor = 1.0;     ///< R multiplier (lost pump flow)
  double demand_batch = 80.0;
  double congestion = 0.0;
  double migrated_share = 0.0;  ///< share of demand served by a peer
  bool paused = false;          ///< stop-and-copy of a migration
};

class HostModel {
 public:
  explicit HostModel(const HostParams& params);
  void reset(const HostInputs& in);
  /// Advances by dt_s with `act` in force.
  void step(double dt_s, const HostInputs& in, const Actuation& act);
  const HostState& state() const { return s_; }
  const HostParams& params() const { return p_; }
  bool hw_throttled() const { return s_.slowdown || s_.brake_left_s > 0.0; }

 private:
  double power(double batch, double clock, double congestion, double cpu_factor) const;
  double step_ms(double batch, double clock, double cpu_factor, double congestion) const;
  HostParams p_;
  HostState s_;
};

}  // namespace railyard::policy_sim
