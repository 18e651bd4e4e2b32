#!/usr/bin/env bash
# railyard's Redfish client against live bmc-sims (no privileges needed):
# each case starts its own simulator on 127.0.0.1 (free port), runs one
# redfish_client_it case and stops it. Simulators are killed in a trap.
set -uo pipefail

BUILD=${BUILD:-$(cd "$(dirname "$0")/../../.." && pwd)/build}
SIM=${RF_SIM:-$BUILD/tools/bmc-sim/bmc-sim}
IT=${RF_IT:-$BUILD/tests/integration/bmc/redfish_client_it}
[[ -x $SIM ]] || { echo "no $SIM: build bmc-sim first"; exit 1; }
[[ -x $IT ]] || { echo "no $IT: build redfish_client_it first"; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ -n ${KEEP:-} ]] && echo "# kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

failures=0
printf 'admin:s3cret\n' >"$tmp/creds"
chmod 600 "$tmp/creds"

cat >"$tmp/ramp.toml" <<'TOML'
name = "coolant ramp"
[[change]]
kind = "coolant_ramp"
at = 0
rate = 6.0
TOML

cat >"$tmp/faults.toml" <<'TOML'
name = "every fault in turn (speed 10)"
[[change]]
kind = "coolant_ramp"
at = 0
rate = 1.0

[[fault]]
kind = "http_error"
at = 40
duration = 20
paths = ["/redfish/v1/Chassis/GPUHost/Sensors/GPU*"]

[[fault]]
kind = "malformed"
mode = "truncated"
at = 90
duration = 20
paths = ["/redfish/v1/Chassis/GPUHost/Sensors/InletTemp"]

[[fault]]
kind = "unavailable"
at = 140
duration = 10
retry_after = 2

[[fault]]
kind = "slow"
at = 180
duration = 20
delay_ms = 600
paths = ["/redfish/v1/Chassis/GPUHost/Sensors/CoolantFlow"]

[[fault]]
kind = "hang"
at = 230
duration = 30
TOML

cat >"$tmp/leak.toml" <<'TOML'
name = "leak at 30, dry at 60, coolant over UpperCaution at 20"
[[change]]
kind = "coolant_ramp"
at = 0
rate = 30.0

[[change]]
kind = "leak"
at = 30
detector = "ColdPlateTray"
state = "Critical"

[[change]]
kind = "leak"
at = 60
detector = "ColdPlateTray"
state = "OK"
TOML

cat >"$tmp/authloop.toml" <<'TOML'
name = "401 on the chassis with valid tokens"
[[fault]]
kind = "http_error"
status = 401
at = 20
duration = 40
paths = ["/redfish/v1/Chassis/*"]
TOML

# sim NAME ARGS...: starts bmc-sim on a free port; sets URL (and CA for TLS).
sim() {
  local name=$1
  shift
  rm -f "$tmp/$name.port"
  "$SIM" --listen 127.0.0.1 --port 0 --port-file "$tmp/$name.port" --credentials "$tmp/creds" \
    --sse-keepalive 1 "$@" 2>"$tmp/$name.sim.log" &
  sim_pid=$!
  pids+=("$sim_pid")
  local _
  for _ in $(seq 200); do [[ -s $tmp/$name.port ]] && break; sleep 0.05; done
  [[ -s $tmp/$name.port ]] || { cat "$tmp/$name.sim.log"; echo "FAIL - bmc-sim $name did not start"; exit 1; }
  local port
  port=$(cat "$tmp/$name.port")
  if [[ " $* " == *" --self-signed "* ]]; then URL=https://127.0.0.1:$port; else URL=http://127.0.0.1:$port; fi
}
stop_sim() { kill "$sim_pid" 2>/dev/null; wait "$sim_pid" 2>/dev/null || true; }

# run NAME CASE [CA]: one client case against the running simulator.
run() {
  local name=$1 case=$2 ca=${3:-}
  echo "# --- $name"
  if ! "$IT" "$case" "$URL" "$tmp/creds" $ca 2>"$tmp/$name.client.log"; then
    failures=$((failures + 1))
    echo "# client log ($name):"
    sed 's/^/#   /' "$tmp/$name.client.log" | tail -40
  fi
}
# lines NAME PATTERN: how many client log lines match.
lines() { grep -c -- "$2" "$tmp/$1.client.log" || true; }
expect_lines() {  # NAME PATTERN COUNT WHAT
  local n
  n=$(lines "$1" "$2")
  if [[ $n == "$3" ]]; then echo "ok   - $4 ($n)"; else echo "FAIL - $4: expected $3 log lines matching '$2', got $n"; failures=$((failures + 1)); fi
}

# Both schemas, with and without TLS.
sim current-plain --schema current --expand --speed 10 --scenario "$tmp/ramp.toml"
run current-plain current
stop_sim
sim current-tls --schema current --expand --speed 10 --scenario "$tmp/ramp.toml" --self-signed "$tmp/pki-current"
run current-tls current "$tmp/pki-current/ca.pem"
run bad-tls bad-tls "$tmp/pki-current/ca.pem"
expect_lines bad-tls "tls: " 1 "TLS failure logged once"
expect_lines bad-tls "verification is OFF" 1 "insecure = true warned at start"
stop_sim
sim legacy-plain --schema legacy --speed 10 --scenario "$tmp/ramp.toml"
run legacy-plain legacy
stop_sim
sim legacy-tls --schema legacy --speed 10 --scenario "$tmp/ramp.toml" --self-signed "$tmp/pki-legacy"
run legacy-tls legacy "$tmp/pki-legacy/ca.pem"
stop_sim

# Basic auth instead of a session; credentials permissions.
sim basic --schema current --speed 10 --scenario "$tmp/ramp.toml"
run basic-auth basic-auth
run bad-perms bad-perms
stop_sim

# Sessions expiring between sweeps.
sim expiry --schema current --expand --session-timeout 1
run expiry expiry
stop_sim

# Every fault at its time; each logged once per episode.
sim faults --schema current --speed 10 --scenario "$tmp/faults.toml"
run faults faults
expect_lines faults "http_5xx: " 1 "500s: one warning"
expect_lines faults "http_5xx cleared" 1 "500s: one line when cleared"
expect_lines faults "malformed_json: " 1 "malformed JSON: one warning"
expect_lines faults "unavailable: " 1 "503: one warning"
expect_lines faults "timeout: " 1 "hang: one warning"
expect_lines faults "timeout cleared" 1 "hang: one line when cleared"
stop_sim

# Leak events: over SSE, and by polling when SSE is off.
sim leak-sse --schema current --expand --speed 10 --scenario "$tmp/leak.toml"
run leak-sse leak-sse
expect_lines leak-sse "LEAK at" 1 "leak logged once"
stop_sim
sim leak-poll --schema current --expand --speed 10 --scenario "$tmp/leak.toml"
run leak-poll leak-poll
stop_sim

# A 401 loop: fresh tokens refused on the chassis.
sim auth-loop --schema current --expand --speed 10 --scenario "$tmp/authloop.toml"
run auth-loop auth-loop
expect_lines auth-loop "auth_loop: " 1 "401 loop: one warning"
stop_sim

if ((failures > 0)); then
  echo "# $failures failing group(s)"
  exit 1
fi
echo "# all passed"
