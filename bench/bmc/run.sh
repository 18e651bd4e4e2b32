#!/usr/bin/env bash
# Time and CPU of one full Redfish sweep against bmc-sim, cold and warm, for
# each kind of BMC the client meets. Prints a markdown table (README.md).
#   bench/bmc/run.sh [BUILD_DIR]      (default: build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=$(cd "${1:-$root/build}" && pwd)
SIM=$BUILD/tools/bmc-sim/bmc-sim
BENCH=$BUILD/tests/integration/bmc/redfish_bench
MOCKUPS=$root/../shared/redfish-mockups
[[ -x $SIM && -x $BENCH ]] || { echo "build bmc-sim and redfish_bench first (ninja -C $BUILD tools/bmc-sim/bmc-sim tests/integration/bmc/redfish_bench)"; exit 1; }

tmp=$(mktemp -d)
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
printf 'admin:s3cret\n' >"$tmp/creds"
chmod 600 "$tmp/creds"

# row LABEL SIM-ARGS...
row() {
  local label=$1
  shift
  rm -f "$tmp/port"
  "$SIM" --listen 127.0.0.1 --port 0 --port-file "$tmp/port" --credentials "$tmp/creds" --log-level warning "$@" 2>"$tmp/sim.log" &
  pid=$!
  for _ in $(seq 200); do [[ -s $tmp/port ]] && break; sleep 0.05; done
  local scheme=http ca=()
  if [[ " $* " == *" --self-signed "* ]]; then scheme=https; ca=(--ca "$tmp/pki/ca.pem"); fi
  "$BENCH" --url "$scheme://127.0.0.1:$(cat "$tmp/port")" --credentials "$tmp/creds" "${ca[@]}" \
    --runs "${RUNS:-5}" --sweeps "${SWEEPS:-50}" --label "$label"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
}

"$BENCH" --header
row "current, \$expand, https" --schema current --expand --self-signed "$tmp/pki"
row "current, \$expand, http" --schema current --expand
row "current, no \$expand, https" --schema current --self-signed "$tmp/pki"
row "legacy (Power/Thermal), https" --schema legacy --self-signed "$tmp/pki"
row "both schemas, \$expand, https" --schema both --expand --self-signed "$tmp/pki"
if [[ -d $MOCKUPS/public-liquid-cooled-server ]]; then
  row "DMTF liquid-cooled server mockup, https" --mockup "$MOCKUPS/public-liquid-cooled-server" --self-signed "$tmp/pki"
  row "DMTF cooling-unit mockup, https" --mockup "$MOCKUPS/public-cooling-unit" --self-signed "$tmp/pki"
fi
