// tools/policy-sim as a library: determinism of the table and of trace replay,
// and the simulator's scenarios actually stressing the host.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "tools/policy-sim/sim.h"
#include "tools/policy-sim/trace.h"

namespace railyard::policy_sim {
namespace {

TableOptions small(std::uint64_t first_seed) {
  TableOptions o;
  o.scenarios = {"ramp_2", "burst"};
  o.controllers = {"none", "railyard"};
  o.seeds = 2;
  o.first_seed = first_seed;
  return o;
}

TEST(PolicySim, SameSeedSameTable) {
  const std::string a = format_table(table(small(1)), false);
  EXPECT_EQ(a, format_table(table(small(1)), false));
  // ... and the table does depend on the seed (so the comparison means something).
  EXPECT_NE(a, format_table(table(small(3)), false));
}

TEST(PolicySim, ScenariosStressTheHostAndThePolicyHelps) {
  const Scenario s = make_scenario("ramp_2", 1);
  RunOptions o;
  o.seed = 1;
  const RunResult none = run(s, "none", o);
  const RunResult ours = run(s, "railyard", o);
  EXPECT_GT(none.hw_events, 0);
  EXPECT_GT(none.over_limit_cs, 0.0);
  EXPECT_EQ(ours.hw_events, 0);
  EXPECT_LT(ours.over_limit_cs, none.over_limit_cs / 100.0);
  ASSERT_FALSE(ours.latencies_ns.empty());
}

TEST(PolicySim, TraceRoundTripAndReplayDeterminism) {
  Scenario s = make_scenario("ramp_2", 2);
  s.duration_s = 900.0;
  std::ostringstream csv;
  write_trace_header(csv);
  RunOptions o;
  o.seed = 2;
  o.on_sample = [&csv](const policy::Sample& smp) { write_trace_row(csv, smp); };
  run(s, "railyard", o);
  std::istringstream in(csv.str());
  const auto rows = read_trace(in);
  ASSERT_GT(rows.size(), 1000u);
  const auto cfg = railyard_config(SimLimits{});
  const std::string a = format_replay(replay(rows, cfg, 200), false);
  EXPECT_EQ(a, format_replay(replay(rows, cfg, 200), false));
  EXPECT_NE(a.find("step_up"), std::string::npos) << a;
}

TEST(PolicySim, TraceRejectsBadRows) {
  std::istringstream unknown("t_s,signal,value\n1.0,gpu_tmp,70\n");
  EXPECT_THROW(read_trace(unknown), std::runtime_error);
  std::istringstream garbage("t_s,signal,value\n1.0x,gpu_temp_c,70\n");
  EXPECT_THROW(read_trace(garbage), std::runtime_error);
  std::istringstream ok("# comment\nt_s,signal,value\n2.0,gpu_temp_c,71\n1.0,gpu_temp_c,\n0,bmc_caution.chassis_power_w,6200\n");
  const auto rows = read_trace(ok);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].t_ms, 0);  // sorted by time
  EXPECT_TRUE(std::isnan(rows[1].value));
}

}  // namespace
}  // namespace railyard::policy_sim
