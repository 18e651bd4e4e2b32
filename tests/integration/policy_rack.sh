#!/usr/bin/env bash
# The policy on rack-sim, end to end: bmc-sim (HTTPS) ramps the coolant
# supply at +12 °C/min from t = 5 s (40 °C limit, 45 °C critical: the BMC's
# thresholds) and reports a leak at t = 35 s; a real workload (policy_workload,
# on librailyard) is connected to h1's workload socket and acknowledges every
# ThrottleCommand. The policy must throttle while the coolant is still under
# its limit (railctl policy --json and bmc-sim's own reading both say so),
# the workload must have acknowledged that level, and the leak must drain it.
source "$(dirname "$0")/lib.sh"
require_root

SIM=$(cd "$(dirname "$0")/../.." && pwd)/tools/rack-sim
rack=po$$
rack=${rack:0:8}
export RAILYARD_BUILDDIR=$BUILD
on_exit "'$SIM' down --name $rack"
state=/run/railyard-sim/$rack
cat >"$WORK/scenario.toml" <<'TOML'
name = "steep coolant ramp, then a leak"

[[change]]
kind = "coolant_ramp"
at = 5
rate = 12.0
duration = 60

[[change]]
kind = "leak"
at = 35
detector = "ColdPlateTray"
state = "Critical"
TOML
policy() { "$SIM" railctl --name $rack h1 --json policy; }
# bmc-sim's current coolant supply reading (what the BMC serves now).
bmc_supply() {
  ip netns exec "rysim-$rack-h1" curl -sf --cacert "$state/h1/bmc-pki/ca.pem" https://127.0.0.1:8443/sim/state |
    jq -e '.readings["/redfish/v1/Chassis/GPUHost/Sensors/CoolantSupplyTemp"]'
}

check "rack with a bmc-sim scripted to ramp the coolant and leak" \
  "$SIM" up --name $rack --hosts 1 --rails 1 --bmc-scenario "$WORK/scenario.toml"
ip netns exec "rysim-$rack-h1" "$BUILD/tests/integration/policy_workload" "$state/h1/workload.sock" decode-0 \
  >"$WORK/workload.log" 2>&1 &
workload=$!
on_exit "kill $workload"
check "a workload is connected to h1's workload socket" wait_for 5 grep -q '^connected' "$WORK/workload.log"
limits() { policy | jq -e '.signals[] | select(.name == "coolant_supply_c") | .limit == 40 and .critical == 45'; }
check "the coolant's limit and critical come from the BMC's thresholds (40/45 °C)" wait_for 10 limits

# Throttled (and acknowledged) while the coolant is under its limit: one
# snapshot of railctl policy, then the BMC's own reading right after it.
throttled() { policy | jq -e '.level != "normal" and .command_state == "applied"' >/dev/null; }
ahead_of_limit() {
  wait_for 45 throttled || { policy | jq -c '{level, command_state, reason}'; return 1; }
  local snapshot supply
  snapshot=$(policy)
  supply=$(bmc_supply)
  jq -c '{level, command_state, decisions: [.decisions[] | {action, to, binding, reason}],
          coolant: (.signals[] | select(.name == "coolant_supply_c") | {value, slope_per_s, ttl_s, limit})}' \
    <<<"$snapshot"
  echo "bmc-sim coolant supply now: $supply °C"
  jq -e '(.signals[] | select(.name == "coolant_supply_c") | .value < .limit and .slope_per_s > 0.1)
         and ([.decisions[] | select(.action == "step_up" and .binding == "coolant_supply_c")] | length >= 1)' \
    <<<"$snapshot" >/dev/null &&
    awk -v s="$supply" 'BEGIN { exit !(s < 40) }'
}
check "the ramp throttles the workload while the coolant is under 40 °C (its rise seen, level acknowledged)" \
  ahead_of_limit
sed 's/^/       /' "$WORK/last.out"   # what railctl and bmc-sim said at that moment
acked_level() { grep -Eq '^command [0-9]+ level [1-6] [a-z_]+ drain 0 ' "$WORK/workload.log"; }
check "the workload received the throttle level (and acknowledged it: command_state applied)" acked_level

drained() { policy | jq -e '.draining == true and .command_state == "applied" and .binding == "leak"'; }
check "the leak (t = 35 s) drains the workload, acknowledged" wait_for 30 drained
check "the workload received the drain" grep -Eq '^command [0-9]+ level [0-9] [a-z_]+ drain 1 .*leak' \
  "$WORK/workload.log"
cat "$WORK/workload.log"
finish
