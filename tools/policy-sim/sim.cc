#include "tools/policy-sim/sim.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <queue>

namespace railyard::policy_sim {

using policy::Sample;
using policy::Signal;
using policy::TimeMs;

namespace {

enum class Ev : std::uint8_t { physics, gpu, bmc_poll, bmc_deliver, fabric, peer, tokens, eval, apply, migration_end };

struct Event {
  TimeMs t;
  std::uint64_t seq;
  Ev kind;
  bool operator>(const Event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
};

double quantise(double v, double q) { return std::round(v / q) * q; }

class Simulation {
 public:
  Simulation(const Scenario& sc, std::string_view controller, const RunOptions& o)
      : sc_(sc), o_(o), host_(o.host), noise_(o.seed * 0xd1b54a32d192ed03ULL + 7),
        ctl_(make_controller(controller, o.limits, o.keep_events)) {}

  RunResult run() {
    host_.reset(sc_.inputs_at(0.0));
    const TimeMs end = static_cast<TimeMs>(sc_.duration_s * 1000.0);
    push(0, Ev::physics);
    push(50, Ev::gpu);
    push(static_cast<TimeMs>(noise_.uniform(0.0, sc_.bmc_period_s) * 1000.0), Ev::bmc_poll);
    push(500, Ev::fabric);
    push(1000, Ev::peer);
    push(700, Ev::tokens);
    push(1000, Ev::eval);
    while (!q_.empty() && q_.top().t < end) {
      const Event e = q_.top();
      q_.pop();
      now_ = e.t;
      handle(e.kind);
    }
    r_.hours = sc_.duration_s / 3600.0;
    if (const auto* l = ctl_->latencies_ns()) r_.latencies_ns = *l;
    if (const auto* ev = ctl_->events()) r_.events = *ev;
    return r_;
  }

 private:
  void push(TimeMs t, Ev k) { q_.push(Event{t, seq_++, k}); }
  double t_s() const { return static_cast<double>(now_) / 1000.0; }

  void emit(Signal s, TimeMs t, double v) {
    const Sample smp{.signal = s, .t_ms = t, .value = v};
    ctl_->observe(smp);
    if (o_.on_sample) o_.on_sample(smp);
  }

  void handle(Ev k) {
    switch (k) {
      case Ev::physics: physics(); push(now_ + 100, Ev::physics); break;
      case Ev::gpu: gpu(); push(now_ + 100, Ev::gpu); break;
      case Ev::bmc_poll: bmc_poll(); break;
      case Ev::bmc_deliver: bmc_deliver(); break;
      case Ev::fabric:
        emit(Signal::congestion, now_, std::clamp(in_.congestion + 0.02 * noise_.normal(), 0.0, 1.0));
        push(now_ + 1000, Ev::fabric);
        break;
      case Ev::peer:
        emit(Signal::peer_headroom, now_, sc_.peer_available(t_s()) ? 0.5 : 0.0);
        push(now_ + 5000, Ev::peer);
        break;
      case Ev::tokens:
        emit(Signal::tokens_per_s, now_, host_.state().tokens_per_s);
        push(now_ + 1000, Ev::tokens);
        break;
      case Ev::eval: eval(); push(now_ + o_.eval_period_ms, Ev::eval); break;
      case Ev::apply: act_ = pending_act_; break;
      case Ev::migration_end: migration_end(); break;
    }
  }

  void physics() {
    const double dt = 0.1;
    in_ = sc_.inputs_at(t_s());
    share_ *= std::exp(-dt / 900.0);  // new requests land here again
    in_.migrated_share = share_;
    in_.paused = now_ < paused_until_;
    Actuation a = act_;
    if (draining_) a.frozen = true;
    host_.step(dt, in_, a);
    const HostState& s = host_.state();
    const bool hw = host_.hw_throttled();
    if (hw && !was_hw_) ++r_.hw_events;
    was_hw_ = hw;
    if (hw) r_.hw_seconds += dt;
    r_.over_limit_cs += std::max(0.0, s.temp_c - o_.limits.gpu_temp_c) * dt;
    // A peer serves the migrated share as the ideal host would; nothing is
    // served beyond demand (a smaller local batch decodes faster per sequence,
    // but no more work arrives than the ideal host serves).
    const double delivered = std::min(s.ideal_tokens_per_s, s.tokens_per_s + s.ideal_tokens_per_s * share_);
    r_.tokens += delivered * dt;
    r_.ideal_tokens += s.ideal_tokens_per_s * dt;
    sec_tokens_ += delivered * dt;
    sec_ideal_ += s.ideal_tokens_per_s * dt;
    sec_step_max_ = std::max(sec_step_max_, (s.batch > 0.5 && !in_.paused) ? s.step_ms : 0.0);
    if (now_ % 1000 == 900) {
      if (sec_tokens_ < 0.9 * sec_ideal_ || sec_step_max_ > o_.host.slo_tpot_ms) ++r_.slo_violation_s;
      sec_tokens_ = sec_ideal_ = sec_step_max_ = 0.0;
    }
  }

  void gpu() {
    const HostState& s = host_.state();
    const double temp = std::round(s.temp_c + 0.4 * noise_.normal());
    const double power = std::round(s.power_w + 6.0 * noise_.normal());
    const bool miss = noise_.chance(sc_.gpu_miss);
    if (!sc_.gpu_up(t_s()) || miss) return;
    emit(Signal::gpu_temp_c, now_, temp);
    emit(Signal::gpu_power_w, now_, power);
  }

  void bmc_poll() {
    const double coolant = quantise(in_.coolant_c + 0.05 * noise_.normal(), 0.1);
    const double chassis = quantise(host_.state().chassis_w + 30.0 * noise_.normal(), 10.0);
    const double latency = noise_.uniform(0.2, 1.5);
    const bool miss = noise_.chance(sc_.bmc_miss);
    const double period = sc_.bmc_period_s * noise_.uniform(0.9, 1.1);
    push(now_ + static_cast<TimeMs>(period * 1000.0), Ev::bmc_poll);
    if (!sc_.bmc_up(t_s()) || miss) return;
    const TimeMs at = std::max(last_delivery_, now_ + static_cast<TimeMs>(latency * 1000.0));
    last_delivery_ = at;
    pending_.push_back(std::array<Sample, 3>{Sample{.signal = Signal::coolant_supply_c, .t_ms = now_, .value = coolant},
                                             Sample{.signal = Signal::chassis_power_w, .t_ms = now_, .value = chassis},
                                             Sample{.signal = Signal::leak, .t_ms = now_, .value = 0.0}});
    push(at, Ev::bmc_deliver);
  }

  void bmc_deliver() {
    for (const Sample& s : pending_.front()) emit(s.signal, s.t_ms, s.value);
    pending_.pop_front();
  }

  void eval() {
    const Command c = ctl_->evaluate(now_);
    if (c.level != level_) {
      ++r_.level_changes;
      const int dir = policy::index(c.level) > policy::index(level_) ? 1 : -1;
      if (last_dir_ != 0 && dir != last_dir_ && now_ - last_change_ <= 300'000) ++r_.flips;
      last_dir_ = dir;
      last_change_ = now_;
      level_ = c.level;
      pending_act_ = actuation_for(c.level);
      push(now_ + 200, Ev::apply);  // workload channel / NVML / cgroup round trip
    }
    if (c.drain && !draining_) ++r_.drains;
    draining_ = c.drain;
    if (c.migrate && !migrating_) {
      ++r_.migrations;
      migrating_ = true;
      if (!sc_.peer_available(t_s()) || in_.congestion > 0.9) {
        migration_ok_ = false;
        push(now_ + 1000, Ev::migration_end);
      } else {
        migration_ok_ = true;
        push(now_ + static_cast<TimeMs>(20'000.0 / (1.0 - in_.congestion)), Ev::migration_end);
      }
    }
  }

  void migration_end() {
    migrating_ = false;
    if (migration_ok_) {
      share_ = std::min(0.6, share_ + 0.3);
      paused_until_ = now_ + 300;  // stop-and-copy
    } else {
      ++r_.failed_migrations;
    }
    ctl_->migration_done(migration_ok_, now_);
  }

  const Scenario& sc_;
  RunOptions o_;
  HostModel host_;
  Rng noise_;
  std::unique_ptr<Controller> ctl_;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> q_;
  std::uint64_t seq_ = 0;
  TimeMs now_ = 0;
  HostInputs in_;
  Actuation act_, pending_act_;
  policy::Rung level_ = policy::Rung::normal;
  int last_dir_ = 0;
  TimeMs last_change_ = 0;
  bool draining_ = false;
  bool migrating_ = false, migration_ok_ = false;
  double share_ = 0.0;
  TimeMs paused_until_ = 0;
  bool was_hw_ = false;
  double sec_tokens_ = 0.0, sec_ideal_ = 0.0, sec_step_max_ = 0.0;
  std::deque<std::array<Sample, 3>> pending_;
  TimeMs last_delivery_ = 0;
  RunResult r_;
};

}  // namespace

RunResult run(const Scenario& scenario, std::string_view controller, const RunOptions& options) {
  return Simulation(scenario, controller, options).run();
}

double Row::tokens_lost_pct() const {
  return total.ideal_tokens > 0 ? 100.0 * (1.0 - total.tokens / total.ideal_tokens) : 0.0;
}

std::vector<Row> table(const TableOptions& o) {
  std::vector<Row> rows;
  for (const std::string& sc : o.scenarios) {
    for (const std::string& ctl : o.controllers) {
      Row row{.scenario = sc, .controller = ctl, .seeds = o.seeds, .total = {}};
      for (int i = 0; i < o.seeds; ++i) {
        const std::uint64_t seed = o.first_seed + static_cast<std::uint64_t>(i);
        const Scenario s = make_scenario(sc, seed, o.benign_hours);
        RunOptions ro;
        ro.seed = seed;
        RunResult r = run(s, ctl, ro);
        RunResult& t = row.total;
        t.hours += r.hours;
        t.hw_events += r.hw_events;
        t.hw_seconds += r.hw_seconds;
        t.over_limit_cs += r.over_limit_cs;
        t.tokens += r.tokens;
        t.ideal_tokens += r.ideal_tokens;
        t.slo_violation_s += r.slo_violation_s;
        t.level_changes += r.level_changes;
        t.flips += r.flips;
        t.migrations += r.migrations;
        t.failed_migrations += r.failed_migrations;
        t.drains += r.drains;
        t.latencies_ns.insert(t.latencies_ns.end(), r.latencies_ns.begin(), r.latencies_ns.end());
      }
      if (o.progress) fmt::print(stderr, "  {} × {}: done\n", sc, ctl);
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

std::string format_table(const std::vector<Row>& rows, bool timing) {
  std::string out =
      "| scenario | policy | HW-throttle events | HW-throttle s/run | °C·s over limit/run | tokens lost % | "
      "SLO viol. s/run | flips/h | changes/h | migrations (failed) | drains |";
  out += timing ? " decision p99 µs |\n" : "\n";
  out += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|";
  out += timing ? "---:|\n" : "\n";
  for (const Row& r : rows) {
    const RunResult& t = r.total;
    const double n = r.seeds > 0 ? r.seeds : 1;
    out += fmt::format("| {} | {} | {} | {:.1f} | {:.1f} | {:.2f} | {:.1f} | {:.2f} | {:.1f} | {} ({}) | {} |",
                       r.scenario, r.controller, t.hw_events, t.hw_seconds / n, t.over_limit_cs / n,
                       r.tokens_lost_pct(), t.slo_violation_s / n, t.flips / t.hours, t.level_changes / t.hours,
                       t.migrations, t.failed_migrations, t.drains);
    if (timing) {
      const double p = p99_us(t.latencies_ns);
      out += std::isnan(p) ? std::string(" – |") : fmt::format(" {:.1f} |", p);
    }
    out += "\n";
  }
  return out;
}

}  // namespace railyard::policy_sim
