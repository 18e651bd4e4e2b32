#!/usr/bin/env bash
# The BMC through the whole daemon on rack-sim: railctl bmc shows every
# simulated sensor with its thresholds and age; a leak shows at once (SSE); a
# stretch of HTTP 500s marks readings stale with their age, logged once, and
# they come back fresh; a hung BMC does not slow the control socket (its
# latency while a BMC request hangs, against its latency once the BMC answers
# again); SIGTERM deletes the BMC session and exits within a second.
source "$(dirname "$0")/lib.sh"
require_root

SIM=$(cd "$(dirname "$0")/../.." && pwd)/tools/rack-sim
rack=bm$$
rack=${rack:0:8}
export RAILYARD_BUILDDIR=$BUILD
on_exit "'$SIM' down --name $rack"
state=/run/railyard-sim/$rack
cat >"$WORK/scenario.toml" <<'TOML'
[[change]]
kind = "leak"
at = 6
detector = "ColdPlateTray"
state = "Critical"

[[fault]]
kind = "http_error"
at = 10
duration = 4
paths = ["/redfish/v1/Chassis/*"]

[[fault]]
kind = "hang"
at = 18
duration = 10
TOML
bmc() { "$SIM" railctl --name $rack h1 --json bmc; }
# bmc-sim's own state (no auth, never faulted): scenario time, active faults.
sim_state() {
  ip netns exec "rysim-$rack-h1" curl -sf --cacert "$state/h1/bmc-pki/ca.pem" https://127.0.0.1:8443/sim/state
}
hanging() { sim_state | jq -e '.active_faults | index("hang") != null'; }

check "rack with a bmc-sim per host" "$SIM" up --name $rack --hosts 2 --rails 1 --bmc-scenario "$WORK/scenario.toml"
polling() { bmc | jq -e '.state == "polling" and (.sensors | length) >= 25'; }
check "the daemon discovered the BMC and polls it" wait_for 10 polling
thresholds() {
  bmc | jq -e '[.sensors[] | select(.kind == "temperature" and (.name | startswith("GPU")))] | length == 8
    and all(.upper_caution == 83 and .upper_critical == 90 and .upper_fatal == 95 and .stale == false)' &&
    bmc | jq -e '[.sensors[] | select(.kind == "coolant_supply_temperature" and .chassis == "GPUHost")][0]
      | .upper_caution == 40 and .upper_critical == 45' &&
    grep -q "GPU 0 Temperature" <<<"$("$SIM" railctl --name $rack h1 bmc)"
}
check "every GPU temperature with the BMC's caution/critical/fatal thresholds; coolant with its own" thresholds
fan_units() {
  # This BMC reports fan speeds in percent: exported as a 0-1 ratio under a
  # name that says so (RPM readings go to railyard_bmc_fan_speed_rpm), never
  # both under one unitless name.
  local metrics
  metrics=$("$SIM" exec --name $rack h1 curl -sf http://198.18.0.1:9469/metrics) || return 1
  local fans
  fans=$(grep '^railyard_bmc_fan_speed' <<<"$metrics")
  echo "${fans:0:300}"
  ! grep -q '^railyard_bmc_fan_speed{' <<<"$fans" &&
    awk '/^railyard_bmc_fan_speed_ratio\{/ { n++; if ($NF + 0 < 0 || $NF + 0 > 1) bad++ } END { exit !(n >= 1 && !bad) }' <<<"$fans"
}
check "fan speeds in Prometheus carry their unit: railyard_bmc_fan_speed_ratio (0-1) for the BMC's %" fan_units
# h2's daemon advertises its thermal margin (limit − reading, from its BMC) to h1 every second.
margin() {
  "$SIM" railctl --name $rack h1 --json workload |
    jq -e '.peers[0].headroom.thermal_margin_c as $m | $m > 0 and $m < 60'
}
check "h1 hears h2's thermal margin from h2's BMC readings in its headroom advert" wait_for 10 margin
leak() { bmc | jq -e '.sensors[] | select(.name == "GPU Cold Plate Drip Tray") | .reading == 1'; }
check "a leak appears (the scenario's leak at t=6 s)" wait_for 12 leak
stale() {
  bmc | jq -e '[.sensors[] | select(.source_uri | startswith("/redfish/v1/Chassis/"))] |
    length > 0 and all(.stale) and (map(.age_ms | tonumber) | max) > 500'
}
check "HTTP 500s mark the chassis readings stale, with their age" wait_for 10 stale
fresh() { bmc | jq -e '[.sensors[] | select(.stale)] | length == 0'; }
check "they are fresh again once the BMC recovers" wait_for 10 fresh
logged_once() {
  local n
  n=$(grep -c "http_5xx\|HTTP 5\|http 500" "$state/h1/railyardd.log")
  echo "log lines about the 500s: $n"
  [[ $n -ge 1 && $n -le 3 ]]
}
check "the 500s were logged once for the episode (not per poll)" logged_once
# The hang (t = 18 s to 28 s): once bmc-sim hangs and the daemon has sent it
# a request (which hangs), 100 status calls; then, once the BMC answers again,
# 100 more as the baseline. A control socket that waited for the BMC would
# take seconds; one that does not is as fast as with a healthy BMC (within
# twice its p99 + 20 ms, whatever else the machine is doing).
hung_latency() {
  local sent hung base
  wait_for 40 hanging || { echo "bmc-sim never hung"; sim_state; return 1; }
  sent=$(bmc | jq '.requests | tonumber') || return 1
  requested() { (($(bmc | jq '.requests | tonumber') > sent)); }
  wait_for 10 requested || { echo "the daemon sent the BMC no request during the hang"; return 1; }
  hung=$("$BUILD/tests/integration/control_latency" "$state/h1/control.sock" 100 0) || return 1
  hanging || { echo "the hang ended before the 100 calls did: $hung"; return 1; }
  wait_for 30 eval '! hanging' && wait_for 30 fresh || { echo "the BMC did not recover"; return 1; }
  base=$("$BUILD/tests/integration/control_latency" "$state/h1/control.sock" 100 0) || return 1
  echo "while the BMC hangs: $hung; once it answers again: $base"
  jq -e -n --argjson h "$hung" --argjson b "$base" '$h.p99_us <= 2 * $b.p99_us + 20000' >/dev/null
}
check "while the BMC hangs, the control socket answers as fast as when it does not (p99 within 2x + 20 ms)" hung_latency
sed -n 's/^while/       while/p' "$WORK/last.out"
stop_fast() {
  local pid start end
  pid=$(cat "$state/h1/railyardd.pid")
  start=$(date +%s%N)
  kill -TERM "$pid"
  while grep -q . /proc/$pid/stat 2>/dev/null && [[ $(awk '{print $3}' /proc/$pid/stat) != Z ]]; do sleep 0.01; done
  end=$(date +%s%N)
  echo "stopped in $(((end - start) / 1000000)) ms"
  (((end - start) / 1000000 < 1000)) && grep -q "session .* deleted" "$state/h1/railyardd.log"
}
check "SIGTERM: the BMC session is deleted and the daemon exits within 1 s" stop_fast

finish
