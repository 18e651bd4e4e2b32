#!/usr/bin/env bash
# bench/idle/run.sh: CPU of an idle railyardd (as root; ~45 s). Brings up
# rack-sim with everything on (2 UDP rails, a peer, BMC polling, policy,
# telemetry, headroom adverts) and prints the share of one core h1's daemon
# used over 30 s, after 10 s to settle.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
export RAILYARD_BUILDDIR=${RAILYARD_BUILDDIR:-$repo/build}
sim=$repo/tools/rack-sim
trap '"$sim" down --name idle >/dev/null 2>&1 || true' EXIT
"$sim" down --name idle >/dev/null 2>&1 || true
"$sim" up --name idle --hosts 2 --rails 2 >/dev/null
sleep 10
pid=$(cat /run/railyard-sim/idle/h1/railyardd.pid)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
a=$(cpu) t0=$(date +%s.%N)
sleep 30
b=$(cpu) t1=$(date +%s.%N)
awk -v a="$a" -v b="$b" -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" \
  'BEGIN { printf "idle h1 railyardd: %.2f %% of a core over %.1f s\n", 100 * (b - a) / hz / (t1 - t0), t1 - t0 }'
