#!/usr/bin/env bash
# Telemetry of real daemons on rack-sim: a real Prometheus (Debian's) scrapes
# every daemon and receives their remote-write pushes; the values match what
# railctl reports; promtool is clean; railctl watch streams; a subscriber that
# never reads does not slow the control socket.
source "$(dirname "$0")/lib.sh"
require_root
command -v prometheus >/dev/null || { echo "SKIP: prometheus is not installed (tools/bootstrap installs it)"; exit 77; }

SIM=$(cd "$(dirname "$0")/../.." && pwd)/tools/rack-sim
rack=tm$$
rack=${rack:0:8}
export RAILYARD_BUILDDIR=$BUILD
on_exit "'$SIM' down --name $rack"
state=/run/railyard-sim/$rack
prom() { "$SIM" exec --name $rack h1 curl -sf "http://198.18.0.1:9090/api/v1/query" --data-urlencode "query=$1"; }

check "rack with a Prometheus scraping both daemons" "$SIM" up --name $rack --hosts 2 --rails 2 --prometheus
established() { "$SIM" railctl --name $rack h1 --json peers | jq -e '.peers[0].state == "established"'; }
check "session established" wait_for 10 established
check "traffic: 20 x 4 MiB from h1 to h2" "$SIM" railctl --name $rack h1 send --peer h2 --size 4M --count 20

scraped() {
  prom 'railyard_peer_sent_bytes_total{host="h1",peer="h2",job="railyard"}' |
    jq -e '(.data.result[0].value[1] | tonumber) >= 83886080'
}
check "Prometheus scraped h1's bytes sent to h2 (>= 80 MiB)" wait_for 20 scraped
pushed() {
  prom 'railyard_peer_sent_bytes_total{host="h1",peer="h2",job=""}' |
    jq -e '(.data.result[0].value[1] | tonumber) >= 83886080'
}
check "the same series arrived by remote-write" wait_for 20 pushed
match() {
  local ry pr
  ry=$("$SIM" railctl --name $rack h2 --json rails | jq '[.rails[].rx_bytes | tonumber] | add')
  pr=$(prom 'sum(railyard_rail_rx_bytes_total{host="h2",job="railyard"})' | jq '.data.result[0].value[1] | tonumber')
  echo "railctl: $ry  prometheus: $pr"
  # Same counter, read a moment apart with no traffic in between.
  awk -v a="$ry" -v b="$pr" 'BEGIN { exit !(b > 0 && a >= b && a - b < 0.01 * a) }'
}
check "h2's received bytes in Prometheus match railctl rails" wait_for 10 match
promtool_clean() {
  "$SIM" exec --name $rack h1 curl -sf http://198.18.0.1:9469/metrics >"$WORK/metrics" &&
    promtool check metrics <"$WORK/metrics"
}
check "promtool check metrics is clean on the daemon's endpoint" promtool_clean
process_series() {
  # The process_* series every client library exports, scraped by Prometheus.
  local n
  n=$(prom '{__name__=~"process_(cpu_seconds_total|resident_memory_bytes|open_fds|max_fds|start_time_seconds)",host="h1",job="railyard"} > 0' |
    jq '.data.result | length')
  echo "process_* series with a positive value: $n"
  ((n == 5))
}
check "process_* (CPU, memory, fds, start time) in Prometheus" wait_for 20 process_series
dashboard_has_data() {
  # Every query of the shipped Grafana dashboard, run by this Prometheus with
  # the dashboard's variables filled in, gives at least one finite value: a
  # panel with none draws nothing (the time-to-limit panel did, with +Inf).
  local repo
  repo=$(cd "$(dirname "$0")/../.." && pwd)
  "$SIM" exec --name $rack h1 python3 - "$repo/telemetry/dashboards/railyard.json" <<'PY'
import json, math, sys, urllib.parse, urllib.request
dashboard = json.load(open(sys.argv[1]))
empty = []
for panel in dashboard["panels"]:
    for target in panel.get("targets", []):
        expr = target["expr"].replace("$host", ".*").replace("$__rate_interval", "1m")
        url = "http://198.18.0.1:9090/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        result = json.load(urllib.request.urlopen(url, timeout=10))["data"]["result"]
        finite = [r for r in result if math.isfinite(float(r["value"][1]))]
        print(f"{panel['title']}: {len(result)} series, {len(finite)} finite")
        if not finite:
            empty.append(panel["title"])
print("panels without data:", empty or "none")
sys.exit(1 if empty else 0)
PY
}
check "every panel of the Grafana dashboard has data in this rack's Prometheus" wait_for 20 dashboard_has_data
watch_streams() {
  local out
  out=$("$SIM" railctl --name $rack h1 watch --filter rail_tx_bytes --interval 100 --count 3) || return 1
  echo "$out"
  [[ $(grep -c '^-- ' <<<"$out") -eq 3 && $(grep -c 'railyard_rail_tx_bytes_total{host="h1",rail="r0"}' <<<"$out") -eq 3 ]]
}
check "railctl watch streams live values" watch_streams
stalled() {
  local base slow
  base=$("$BUILD/tests/integration/control_latency" "$state/h1/control.sock" 200 0) || return 1
  slow=$("$BUILD/tests/integration/control_latency" "$state/h1/control.sock" 200 8) || return 1
  echo "no subscribers: $base; 8 subscribers that never read: $slow"
  jq -e -n --argjson b "$base" --argjson s "$slow" '$s.p99_us <= 2 * $b.p99_us + 5000' >/dev/null &&
    "$SIM" railctl --name $rack h1 status >/dev/null
}
check "subscribers that never read do not slow the control socket" stalled

finish
