#!/usr/bin/env bash
# bench/migration/run.sh: issue 9's P8 on rack-sim. For each KV size per
# sequence (1k to 32k tokens' worth), decode-sim on h1 decodes N sequences;
# railctl migrate moves them to h2 and back, REPS times; the token logs give
# each sequence's downtime (last token on the old host -> first token on the
# new one) and the decode rate during the pre-copy against the rate before.
# Prints a Markdown table. Needs root and the binaries in build/ (never builds).
#
#   bench/migration/run.sh [--rate 1gbit] [--sequences 8] [--reps 4] [--kv-per-token 1024]
#                          [--step-ms 20] [--sizes "1024 2048 4096 8192 16384 32768"] [--name p8]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
RATE=1gbit SEQUENCES=8 REPS=4 KV_PER_TOKEN=1024 STEP_MS=20 SIZES="1024 2048 4096 8192 16384 32768" NAME=p8
while (($#)); do
  case $1 in
    --rate) RATE=$2; shift 2 ;;
    --sequences) SEQUENCES=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --kv-per-token) KV_PER_TOKEN=$2; shift 2 ;;
    --step-ms) STEP_MS=$2; shift 2 ;;
    --sizes) SIZES=$2; shift 2 ;;
    --name) NAME=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "run.sh: needs root (network namespaces)" >&2; exit 1; }

SIM=$repo/tools/rack-sim
BUILD=${RAILYARD_BUILDDIR:-$repo/build}
DECODE=$BUILD/tools/decode-sim/decode-sim
export RAILYARD_BUILDDIR=$BUILD
WORK=$(mktemp -d /tmp/railyard-p8.XXXXXX)
state=/run/railyard-sim/$NAME
cleanup() {
  pkill -f "decode-sim --socket $state/" 2>/dev/null || true
  "$SIM" down --name "$NAME" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

rows=()
for tokens in $SIZES; do
  "$SIM" down --name "$NAME" >/dev/null 2>&1 || true
  "$SIM" up --name "$NAME" --hosts 2 --rails 2 --rate "$RATE" --no-bmc >/dev/null
  for _ in $(seq 100); do
    "$SIM" railctl --name "$NAME" h1 --json peers | jq -e '.peers[0].state == "established"' >/dev/null && break
    sleep 0.1
  done
  max=$((tokens + 8192))
  for h in h1 h2; do
    extra=()
    [[ $h == h1 ]] && extra=(--sequences "$SEQUENCES" --context-tokens "$tokens")
    "$SIM" exec --name "$NAME" $h "$DECODE" --socket "$state/$h/workload.sock" --name "decode-$h" \
      --capacity "$SEQUENCES" --kv-bytes-per-token "$KV_PER_TOKEN" --max-tokens "$max" --step-ms "$STEP_MS" \
      --token-log "$WORK/$tokens.$h.tokens" "${extra[@]}" >"$WORK/$tokens.$h.out" 2>&1 &
  done
  sleep 2
  : >"$WORK/$tokens.migrations"
  from=h1 to=h2
  for _ in $(seq "$REPS"); do
    "$SIM" railctl --name "$NAME" $from --json migrate --to $to | jq -c . >>"$WORK/$tokens.migrations"
    sleep 1.5
    t=$from from=$to to=$t
  done
  pkill -TERM -f "decode-sim --socket $state/" || true
  sleep 0.5
  "$DECODE" --verify-logs "$WORK/$tokens.h1.tokens" "$WORK/$tokens.h2.tokens" >"$WORK/$tokens.verify" 2>&1 || true
  rows+=("$(python3 "$here/p8_row.py" "$tokens" "$KV_PER_TOKEN" "$STEP_MS" "$WORK/$tokens.migrations" \
    "$WORK/$tokens.verify" "$WORK/$tokens.h1.tokens" "$WORK/$tokens.h2.tokens")")
done

echo
echo "P8: $SEQUENCES sequences per migration, $REPS migrations per size (h1 -> h2 -> h1 ...), 2 rails at $RATE,"
echo "KV $KV_PER_TOKEN bytes per token, one token per sequence every $STEP_MS ms."
echo
echo "| KV per sequence | tokens | migrations ok | downtime p50 / p99 / max (ms) | stall p99 (ms) | paused (daemon) p99 (ms) | total p50 (ms) | pre-copy rounds | decode rate in pre-copy | token check |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "downtime: last token on the old host to the first on the new one, per sequence and migration;"
echo "stall: that minus one decode step ($STEP_MS ms), the time the sequence lost; paused: the daemon's"
echo "PAUSE-to-confirmation time; decode rate in pre-copy: the source's tokens/s while its KV was copied,"
echo "against the same sequences' rate in the second before."
