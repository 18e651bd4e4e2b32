#!/usr/bin/env bash
# bmc-sim end to end with curl (needs no privileges): service root, 401,
# Basic, sessions (token, DELETE, idle expiry, the session limit), $expand,
# TLS with the generated CA, the legacy schema, a DMTF mockup with a scenario
# on top, an SSE stream that carries the scripted leak, and the scripted
# faults (500, 503 + Retry-After, malformed JSON, hang, slow) at their times.
set -euo pipefail

BUILD=${BUILD:-$(cd "$(dirname "$0")/../../.." && pwd)/build}
SIM=$BUILD/tools/bmc-sim/bmc-sim
MOCKUPS=$(cd "$(dirname "$0")/../../.." && pwd)/../shared/redfish-mockups
command -v curl >/dev/null || { echo "SKIP: no curl"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: no jq"; exit 77; }
[[ -x $SIM ]] || { echo "no $SIM: build it first"; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ -n ${KEEP:-} ]] || rm -rf "$tmp"
}
trap cleanup EXIT

failures=0
ok() { echo "ok   - $*"; }
bad() { echo "FAIL - $*"; failures=$((failures + 1)); }
expect() {  # description expected actual
  if [[ $2 == "$3" ]]; then ok "$1"; else bad "$1: expected '$2', got '$3'"; fi
}

# start NAME ARGS...: runs bmc-sim on a free port; sets URL_<NAME>.
start() {
  local name=$1
  shift
  "$SIM" --listen 127.0.0.1 --port 0 --port-file "$tmp/$name.port" --log-level debug "$@" 2>"$tmp/$name.log" &
  pids+=($!)
  local _
  for _ in $(seq 100); do [[ -s $tmp/$name.port ]] && break; sleep 0.05; done
  [[ -s $tmp/$name.port ]] || { cat "$tmp/$name.log"; echo "bmc-sim $name did not start"; exit 1; }
  printf -v "PORT_$name" '%s' "$(cat "$tmp/$name.port")"
}

# Scenario time of server A, from its unauthenticated, never faulted /sim/state.
sim_time() { curl -s "http://127.0.0.1:$PORT_a/sim/state" | jq -r '.time'; }
wait_until() {  # scenario seconds
  local _
  for _ in $(seq 600); do
    awk -v t="$(sim_time)" -v want="$1" 'BEGIN { exit !(t >= want) }' && return 0
    sleep 0.05
  done
  bad "scenario time never reached $1"
  return 1
}
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

printf 'admin:s3cret\nviewer:look\n' >"$tmp/creds"
# Speed 10: one wall second is ten scenario seconds.
cat >"$tmp/scenario.toml" <<'TOML'
name = "integration"

[[change]]
kind = "leak"
at = 30
detector = "ColdPlateTray"
state = "Critical"

[[change]]
kind = "coolant_ramp"
at = 0
rate = 30.0

[[fault]]
kind = "http_error"
at = 45
duration = 15
paths = ["/redfish/v1/Chassis/*"]

[[fault]]
kind = "unavailable"
at = 75
duration = 15
retry_after = 7
paths = ["/redfish/v1/Chassis/*"]

[[fault]]
kind = "malformed"
mode = "truncated"
at = 105
duration = 15
paths = ["/redfish/v1/Chassis/GPUHost/Sensors/*"]

[[fault]]
kind = "hang"
at = 135
duration = 15

[[fault]]
kind = "slow"
at = 165
duration = 15
delay_ms = 1500
paths = ["/redfish/v1/Chassis/GPUHost/Thermal"]
TOML

start a --schema both --expand --credentials "$tmp/creds" --session-timeout 2 --max-sessions 2 \
  --speed 10 --sse-keepalive 0.5 --scenario "$tmp/scenario.toml"
A=http://127.0.0.1:$PORT_a
grep -q "serving GPU host GPUHost (8 GPUs, both schema) at http://127.0.0.1:$PORT_a/redfish/v1" "$tmp/a.log" &&
  ok "start-up line names the URL" || bad "start-up line: $(head -1 "$tmp/a.log")"

# The SSE stream first, so it is open before the leak at t=30 (3 s).
curl -sN --max-time 3.8 -u admin:s3cret "$A/redfish/v1/EventService/SSE" >"$tmp/sse.out" 2>/dev/null &
sse_pid=$!
pids+=($sse_pid)

# --- service root, auth ------------------------------------------------------
expect "service root without auth" 200 "$(status "$A/redfish/v1")"
expect "service root is JSON" "application/json" \
  "$(curl -s -o /dev/null -w '%{content_type}' "$A/redfish/v1/")"
expect "service root advertises \$expand" true "$(curl -s "$A/redfish/v1" | jq '.ProtocolFeaturesSupported.ExpandQuery.NoLinks')"
expect "SSE URI advertised" "/redfish/v1/EventService/SSE" \
  "$(curl -s -u admin:s3cret "$A/redfish/v1/EventService" | jq -r '.ServerSentEventUri')"
expect "401 without auth" 401 "$(status "$A/redfish/v1/Chassis")"
expect "401 carries a Redfish error" "Base.1.16.0.NoValidSession" "$(curl -s "$A/redfish/v1/Chassis" | jq -r '.error.code')"
expect "Basic auth" 200 "$(status -u viewer:look "$A/redfish/v1/Chassis")"
expect "Basic with a wrong password" 401 "$(status -u viewer:nope "$A/redfish/v1/Chassis")"
expect "\$expand inlines the sensors" 19 \
  "$(curl -s -u admin:s3cret "$A/redfish/v1/Chassis/GPUHost/Sensors?\$expand=.(\$levels=1)" | jq '[.Members[] | select(.Reading != null)] | length')"

# --- sessions -------------------------------------------------------------------
login() {
  curl -s -D "$tmp/h" -o "$tmp/b" -w '%{http_code}' -H 'Content-Type: application/json' \
    -d '{"UserName": "admin", "Password": "s3cret"}' "$A/redfish/v1/SessionService/Sessions"
}
header() { tr -d '\r' <"$tmp/h" | awk -v IGNORECASE=1 -v k="$1:" '$1 == k { print $2 }'; }
expect "login" 201 "$(login)"
token=$(header X-Auth-Token)
location=$(header Location)
[[ -n $token && $location == /redfish/v1/SessionService/Sessions/* ]] && ok "login gives X-Auth-Token and Location" ||
  bad "login headers: token '$token' location '$location'"
expect "the token works" 200 "$(status -H "X-Auth-Token: $token" "$A/redfish/v1/Chassis/GPUHost")"
expect "the session is listed" 1 "$(curl -s -H "X-Auth-Token: $token" "$A/redfish/v1/SessionService/Sessions" | jq '.Members | length')"
expect "wrong password" 401 "$(curl -s -o /dev/null -w '%{http_code}' -d '{"UserName":"admin","Password":"x"}' "$A/redfish/v1/SessionService/Sessions")"
expect "DELETE the session" 204 "$(status -X DELETE -H "X-Auth-Token: $token" "$A$location")"
expect "a deleted token is refused" 401 "$(status -H "X-Auth-Token: $token" "$A/redfish/v1/Chassis")"
expect "first of two sessions" 201 "$(login)"
t1=$(header X-Auth-Token)
expect "second of two sessions" 201 "$(login)"
expect "the limit answers 503" 503 "$(login)"
sleep 2.3  # --session-timeout 2: both sessions idle out
expect "an idle session expires" 401 "$(status -H "X-Auth-Token: $t1" "$A/redfish/v1/Chassis")"
expect "expired sessions free their slots" 201 "$(login)"

# --- SSE: the leak at t=30 ---------------------------------------------------------
wait_until 31
wait "$sse_pid" 2>/dev/null || true  # --max-time 3.8 (t=38) ends it
if grep -q '"MessageId":"Environmental.1.1.LeakDetectedCritical"' "$tmp/sse.out" &&
   grep -q 'LeakDetectors/ColdPlateTray"' "$tmp/sse.out"; then
  ok "SSE delivered the leak with its detector as OriginOfCondition"
else
  bad "SSE stream lacks the leak event: $(head -c 600 "$tmp/sse.out")"
fi
grep -q '^id: [0-9]' "$tmp/sse.out" && ok "SSE events carry ids" || bad "no SSE id: lines"
grep -q '^: keep-alive' "$tmp/sse.out" && ok "SSE keep-alive comments" || bad "no SSE keep-alive"
grep -q 'SensorEvent.1.0.ReadingAboveUpperCautionThreshold' "$tmp/sse.out" &&
  ok "SSE threshold event from the coolant ramp" || bad "no threshold event in the stream"
expect "the leak detector reads Critical" Critical \
  "$(curl -s -u admin:s3cret "$A/redfish/v1/Chassis/GPUHost/ThermalSubsystem/LeakDetection/LeakDetectors/ColdPlateTray" | jq -r .DetectorState)"

# --- faults at their times ----------------------------------------------------------
wait_until 46
expect "500 on the chassis during the error window" 500 "$(status -u admin:s3cret "$A/redfish/v1/Chassis/GPUHost")"
expect "other paths unaffected" 200 "$(status -u admin:s3cret "$A/redfish/v1/EventService")"
wait_until 76
curl -s -D "$tmp/h" -o /dev/null -u admin:s3cret "$A/redfish/v1/Chassis/GPUHost/Power" || true
expect "503 during the unavailable window" 503 "$(tr -d '\r' <"$tmp/h" | awk 'NR==1 {print $2}')"
expect "503 carries Retry-After" 7 "$(header Retry-After)"
wait_until 106
body=$(curl -s -u admin:s3cret "$A/redfish/v1/Chassis/GPUHost/Sensors/GPU0Temp")
if [[ -n $body ]] && ! jq -e . <<<"$body" >/dev/null 2>&1; then ok "truncated JSON during the malformed window"; else bad "body parsed: $body"; fi
expect "the sensor collection is not covered by the pattern" 200 "$(status -u admin:s3cret "$A/redfish/v1/Chassis/GPUHost/Sensors")"
wait_until 136
set +e
curl -s -o /dev/null --max-time 1 -u admin:s3cret "$A/redfish/v1/Chassis"
rc=$?
set -e
expect "a hung request times out (curl 28)" 28 "$rc"
wait_until 151
expect "answers again after the hang" 200 "$(status --max-time 2 -u admin:s3cret "$A/redfish/v1/Chassis")"
wait_until 166
took=$(curl -s -o /dev/null -w '%{time_total}' -u admin:s3cret "$A/redfish/v1/Chassis/GPUHost/Thermal")
awk -v t="$took" 'BEGIN { exit !(t >= 1.4) }' && ok "slow response (${took}s)" || bad "slow response took only ${took}s"
grep -q "GET /redfish/v1/Chassis/GPUHost -> 500" "$tmp/a.log" && ok "debug log: one line per request" ||
  bad "no request line in the log"

# --- TLS with the generated CA, legacy schema ------------------------------------------
start b --self-signed "$tmp/pki" --schema legacy --credentials "$tmp/creds"
B=https://127.0.0.1:$PORT_b
expect "HTTPS verified with the generated CA" 200 "$(status --cacert "$tmp/pki/ca.pem" "$B/redfish/v1")"
set +e
curl -s -o /dev/null "$B/redfish/v1" --capath /nonexistent --cacert /dev/null
rc=$?
set -e
[[ $rc -ne 0 ]] && ok "HTTPS without the CA is refused (curl $rc)" || bad "unverified HTTPS succeeded"
expect "legacy chassis: Thermal but no Sensors" "true false" \
  "$(curl -s --cacert "$tmp/pki/ca.pem" -u admin:s3cret "$B/redfish/v1/Chassis/GPUHost" | jq -r '[has("Thermal"), has("Sensors")] | join(" ")')"
expect "legacy Thermal: GPU0 with its thresholds" "83 90 95" \
  "$(curl -s --cacert "$tmp/pki/ca.pem" -u admin:s3cret "$B/redfish/v1/Chassis/GPUHost/Thermal" |
    jq -r '.Temperatures[0] | "\(.UpperThresholdNonCritical) \(.UpperThresholdCritical) \(.UpperThresholdFatal)"')"
expect "session login over TLS" 201 "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$tmp/pki/ca.pem" \
  -d '{"UserName":"viewer","Password":"look"}' "$B/redfish/v1/SessionService/Sessions")"

# --- a DMTF mockup with the scenario on top ---------------------------------------------
if [[ -d $MOCKUPS/public-cooling-unit ]]; then
  printf '[[change]]\nkind = "set"\nsensor = "SecondaryFlow"\nvalue = 3.5\n' >"$tmp/mockup.toml"
  start c --mockup "$MOCKUPS/public-cooling-unit" --no-auth --scenario "$tmp/mockup.toml"
  C=http://127.0.0.1:$PORT_c
  expect "mockup served as it is" "$(jq -r .Name "$MOCKUPS/public-cooling-unit/Chassis/CDU/index.json")" \
    "$(curl -s "$C/redfish/v1/Chassis/CDU" | jq -r .Name)"
  expect "mockup sensor overridden by the scenario" 3.5 \
    "$(curl -s "$C/redfish/v1/Chassis/CDU/Sensors/SecondaryFlow" | jq -r .Reading)"
  expect "excerpt follows the override" 3.5 \
    "$(curl -s "$C/redfish/v1/ThermalEquipment/CDUs/1/SecondaryCoolantConnectors/1" | jq -r .FlowLitersPerMinute.Reading)"
else
  echo "skip - mockups not found at $MOCKUPS"
fi

if ((failures)); then
  echo "--- bmc-sim log (a)"; tail -30 "$tmp/a.log"
  echo "$failures check(s) failed"
  exit 1
fi
echo "all bmc-sim checks passed"
