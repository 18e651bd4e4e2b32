#include "tools/policy-sim/scenario.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace railyard::policy_sim {

std::uint64_t Rng::next() {
  std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double Rng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

double Rng::normal() {
  const double u1 = std::max(uniform(), 1e-300), u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

double Pulse::at(double t) const {
  if (t < start_s) return 0.0;
  double x = t - start_s;
  if (x < rise_s) return height * x / rise_s;
  x -= rise_s;
  if (x < hold_s) return height;
  x -= hold_s;
  if (x < fall_s) return height * (1.0 - x / fall_s);
  return 0.0;
}

namespace {
double sum_waves(const std::vector<Wave>& ws, double t) {
  double v = 0.0;
  for (const Wave& w : ws) v += w.amplitude * std::sin(2.0 * std::numbers::pi * t / w.period_s + w.phase);
  return v;
}
double sum_pulses(const std::vector<Pulse>& ps, double t) {
  double v = 0.0;
  for (const Pulse& p : ps) v += p.at(t);
  return v;
}
bool in_any(const std::vector<Interval>& is, double t) {
  return std::any_of(is.begin(), is.end(), [t](const Interval& i) { return i.contains(t); });
}

/// A first-order step (pump failure): a pulse with an exponential-ish rise is
/// approximated by a short linear rise; the fall is slower (the loop refills).
Pulse step_pulse(double start, double rise, double hold, double fall, double height) {
  return Pulse{.start_s = start, .rise_s = rise, .hold_s = hold, .fall_s = fall, .height = height};
}

void everyday_noise(Scenario& s, Rng& rng) {
  s.coolant_base_c = rng.uniform(31.0, 33.0);
  s.coolant_waves = {{rng.uniform(0.2, 0.4), rng.uniform(600, 1200), rng.uniform(0, 6.28)},
                     {rng.uniform(0.05, 0.15), rng.uniform(60, 180), rng.uniform(0, 6.28)}};
  s.demand_base = rng.uniform(76.0, 84.0);
  s.demand_waves = {{rng.uniform(0.02, 0.04), rng.uniform(300, 900), rng.uniform(0, 6.28)},
                    {rng.uniform(0.01, 0.03), rng.uniform(20, 90), rng.uniform(0, 6.28)}};
  s.bmc_period_s = std::floor(rng.uniform(1.0, 11.0));
}

void random_hangs(Scenario& s, Rng& rng, double per_hour, double lo, double hi, std::vector<Interval>& out) {
  const double n_expected = per_hour * s.duration_s / 3600.0;
  const int n = static_cast<int>(n_expected) + (rng.chance(n_expected - std::floor(n_expected)) ? 1 : 0);
  for (int i = 0; i < n; ++i) {
    const double start = rng.uniform(60.0, s.duration_s - 60.0);
    out.push_back({start, start + rng.uniform(lo, hi)});
  }
}

void coolant_ramp(Scenario& s, Rng& rng, double rate_c_per_min, double rise_c, double hold_s) {
  const double start = rng.uniform(300.0, 600.0);
  s.coolant_pulses.push_back(Pulse{.start_s = start,
                                   .rise_s = rise_c / rate_c_per_min * 60.0,
                                   .hold_s = hold_s,
                                   .fall_s = rise_c * 60.0,  // back at 1 °C/min
                                   .height = rise_c});
}
}  // namespace

HostInputs Scenario::inputs_at(double t) const {
  HostInputs in;
  in.coolant_c = coolant_base_c + sum_waves(coolant_waves, t) + sum_pulses(coolant_pulses, t);
  in.r_factor = 1.0 + sum_pulses(r_pulses, t);
  in.demand_batch = demand_base * (1.0 + sum_waves(demand_waves, t) + sum_pulses(demand_pulses, t));
  in.congestion = std::clamp(sum_pulses(congestion_pulses, t), 0.0, 0.98);
  return in;
}
bool Scenario::peer_available(double t) const { return !in_any(peer_busy, t); }
bool Scenario::bmc_up(double t) const { return !in_any(bmc_hangs, t); }
bool Scenario::gpu_up(double t) const { return !in_any(gpu_dropouts, t); }

std::vector<std::string> scenario_names() {
  return {"ramp_0.5", "ramp_2", "pump_failure", "burst", "ramp_congestion", "dropout", "benign_day"};
}

Scenario make_scenario(std::string_view name, std::uint64_t seed, double benign_hours) {
  Scenario s;
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a: the same stream on every platform
  for (const char c : name) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  Rng rng(seed * 0x9e3779b97f4a7c15ULL + h);
  s.name = std::string(name);
  everyday_noise(s, rng);
  if (name == "ramp_0.5") {
    s.duration_s = 80 * 60;
    coolant_ramp(s, rng, 0.5, rng.uniform(16.0, 18.0), 600);
  } else if (name == "ramp_2") {
    s.duration_s = 50 * 60;
    coolant_ramp(s, rng, 2.0, rng.uniform(16.0, 18.0), 900);
  } else if (name == "pump_failure") {
    s.duration_s = 45 * 60;
    const double start = rng.uniform(600.0, 900.0), hold = rng.uniform(480.0, 780.0);
    const double rise = rng.uniform(30.0, 60.0);
    s.coolant_pulses.push_back(step_pulse(start, rise, hold, 180.0, rng.uniform(8.0, 11.0)));
    s.r_pulses.push_back(step_pulse(start, rise / 2, hold, 60.0, rng.uniform(0.2, 0.35)));
  } else if (name == "burst") {
    s.duration_s = 45 * 60;
    for (double t = rng.uniform(120.0, 300.0); t < s.duration_s - 300.0; t += rng.uniform(240.0, 600.0)) {
      s.demand_pulses.push_back(Pulse{.start_s = t,
                                      .rise_s = rng.uniform(3.0, 15.0),
                                      .hold_s = rng.uniform(30.0, 120.0),
                                      .fall_s = rng.uniform(5.0, 20.0),
                                      .height = rng.uniform(0.5, 0.8)});
    }
  } else if (name == "ramp_congestion") {
    s.duration_s = 50 * 60;
    coolant_ramp(s, rng, 2.0, rng.uniform(16.0, 18.0), 900);
    for (double t = rng.uniform(300.0, 600.0); t < s.duration_s - 300.0; t += rng.uniform(300.0, 600.0)) {
      const double rise = rng.uniform(5.0, 30.0);
      s.congestion_pulses.push_back(Pulse{.start_s = t,
                                          .rise_s = rise,
                                          .hold_s = rng.uniform(120.0, 360.0),
                                          .fall_s = rise,
                                          .height = rng.uniform(0.6, 0.95)});
    }
  } else if (name == "dropout") {
    s.duration_s = 60 * 60;
    coolant_ramp(s, rng, 0.5, rng.uniform(10.0, 13.0), 900);
    random_hangs(s, rng, 8.0, 20.0, 90.0, s.gpu_dropouts);
    random_hangs(s, rng, 2.0, 60.0, 240.0, s.bmc_hangs);
    s.gpu_miss = 0.02;
    s.bmc_miss = 0.05;
  } else if (name == "benign_day") {
    s.benign = true;
    s.duration_s = benign_hours * 3600.0;
    s.coolant_waves.push_back({rng.uniform(1.0, 1.5), 86400.0, rng.uniform(0, 6.28)});
    s.demand_waves.push_back({rng.uniform(0.12, 0.18), 86400.0, rng.uniform(0, 6.28)});
    s.demand_base *= 0.85;
    // Everyday load swings: +5–15 % for a few minutes, a few per hour.
    for (double t = rng.uniform(60.0, 600.0); t < s.duration_s - 600.0; t += rng.uniform(600.0, 1800.0)) {
      s.demand_pulses.push_back(Pulse{.start_s = t,
                                      .rise_s = rng.uniform(10.0, 60.0),
                                      .hold_s = rng.uniform(60.0, 600.0),
                                      .fall_s = rng.uniform(10.0, 60.0),
                                      .height = rng.uniform(0.04, 0.12)});
    }
    random_hangs(s, rng, 0.1, 30.0, 150.0, s.bmc_hangs);
    random_hangs(s, rng, 0.2, 3.0, 30.0, s.gpu_dropouts);
  } else {
    s.name.clear();
  }
  // Peers are sometimes full (a few minutes an hour).
  random_hangs(s, rng, 1.0, 60.0, 300.0, s.peer_busy);
  return s;
}

}  // namespace railyard::policy_sim
