#!/usr/bin/env bash
# bench/dpdk/p5.sh: issue 4's P5, bytes moved per CPU-second on unlimited-rate
# veth rails (rack-sim, 2 hosts, no tbf, MTU 1500): railyard with the DPDK
# driver (net_af_xdp vdevs, and net_af_packet), railyard with the kernel UDP
# driver (fabric.packet_auth = none, and = mac: a tag per packet), iperf3
# (one TCP stream per rail) and ucx_perftest tag_bw over TCP on every rail.
# Every contender moves the same bytes h1 -> h2; CPU is the user + system time
# of the processes that move them, sender and receiver: both railyardd (from
# /proc/PID/stat before and after), the iperf3 clients and servers, the two
# ucx_perftest processes (from wait4; the server's time before the client
# connects is taken off). Rounds are interleaved and ratios are taken within a
# round, since other work on the machine moves every figure. Also measures the
# idle CPU of the DPDK daemons. Prints a Markdown table (and writes it to
# --out). Needs root, build/ as it is (never builds), iperf3, ucx_perftest, jq.
#
#   bench/dpdk/p5.sh [--count 256] [--rounds 3] [--rails 2] [--mtu 1500] [--prefix p] [--out FILE]
#
#   --count   4 MiB messages each contender moves per round (default 256: 1 GiB)
#   --rounds  interleaved rounds (default 3); the table gives each round's
#             ratios and the median
#   --mtu     every rail's MTU (default 1500); above 1500 the af_packet
#             contender is left out (af_packet takes at most 1500 in DPDK 22.11)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
COUNT=256 ROUNDS=3 RAILS=2 PREFIX=p OUT="" MTU=1500
while (($#)); do
  case $1 in
    --count) COUNT=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --rails) RAILS=$2; shift 2 ;;
    --mtu) MTU=$2; shift 2 ;;
    --prefix) PREFIX=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "p5.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
# shellcheck source=bench/lib.sh
source "$here/../lib.sh"
need_root
CPU="python3 $here/cputime.py"
need_binaries "$BUILD/daemon/railyardd" "$RAILCTL"
need_tools iperf3 ucx_perftest jq python3
WORK=$(mktemp -d /tmp/railyard-p5.XXXXXX)
BYTES=$((COUNT * 4194304))
UDP_RACK=${PREFIX}u MAC_RACK=${PREFIX}m DPDK_RACK=${PREFIX}x XDP_RACK=${PREFIX}y

now() { date +%s.%N; }
sum_ticks() { $CPU ticks "$@" | jq 'add'; }

# Each contender prints "BYTES SECONDS CPU_SECONDS".
railyard() {   # rack tag
  local rack=$1 c0 c1 t0 t1
  local pids=("$(daemon_pid "$rack" h1)" "$(daemon_pid "$rack" h2)")
  c0=$(sum_ticks "${pids[@]}") t0=$(now)
  "$RAILCTL" --socket "$(ctl_sock "$rack" h1)" --timeout 600000 --json send --peer h2 --size 4M \
    --count "$COUNT" --concurrency 8 >"$WORK/$2.json"
  t1=$(now) c1=$(sum_ticks "${pids[@]}")
  jq -e '.failed == 0' "$WORK/$2.json" >/dev/null || die "railctl send failed: $(cat "$WORK/$2.json")"
  echo "$(jq -r '.bytes' "$WORK/$2.json") $(calc "$t1 - $t0") $(calc "$c1 - $c0")"
}

iperf3_rails() {   # tag
  local j pids=() t0 t1 cpu bytes=0
  for ((j = 0; j < RAILS; j++)); do
    "$SIM" exec --name "$UDP_RACK" h2 $CPU run "$WORK/$1.srv$j" iperf3 -s -1 -p $((5201 + j)) -B "$(peer_addr 2 "$j")" \
      >/dev/null 2>&1 &
    pids+=($!)
  done
  sleep 0.5
  t0=$(now)
  for ((j = 0; j < RAILS; j++)); do
    "$SIM" exec --name "$UDP_RACK" h1 $CPU run "$WORK/$1.cli$j" iperf3 -c "$(peer_addr 2 "$j")" -p $((5201 + j)) \
      -B "$(peer_addr 1 "$j")" -n $((BYTES / RAILS)) -J >"$WORK/$1.$j.json" 2>/dev/null &
    pids+=($!)
  done
  wait "${pids[@]}"
  t1=$(now)
  cpu=$(cat "$WORK/$1".srv[0-9] "$WORK/$1".cli[0-9] | awk '{s += $1} END {print s}')
  for ((j = 0; j < RAILS; j++)); do bytes=$((bytes + $(jq -r '.end.sum_received.bytes' "$WORK/$1.$j.json"))); done
  echo "$bytes $(calc "$t1 - $t0") $cpu"
}

ucx_rails() {   # tag
  local devs="" j srv s0 t0 t1 cpu
  for ((j = 0; j < RAILS; j++)); do devs+="${devs:+,}r$j"; done
  UCX_TLS=tcp UCX_NET_DEVICES=$devs timeout 300 "$SIM" exec --name "$UDP_RACK" h2 \
    $CPU run "$WORK/$1.srv" ucx_perftest -p 13337 >/dev/null 2>&1 &
  srv=$!
  sleep 1
  s0=$($CPU ticks "$(cat "$WORK/$1.srv.pid")" | jq '.[0]')   # the server's time spent waiting
  t0=$(now)
  UCX_TLS=tcp UCX_NET_DEVICES=$devs UCX_MAX_RNDV_RAILS=$RAILS timeout 300 "$SIM" exec --name "$UDP_RACK" h1 \
    $CPU run "$WORK/$1.cli" ucx_perftest "$(peer_addr 2 0)" -p 13337 -t tag_bw -s 4194304 -n "$COUNT" >"$WORK/$1.out" 2>&1
  t1=$(now)
  wait "$srv"
  grep -q 'Final:' "$WORK/$1.out" || die "ucx_perftest failed: $(tail -3 "$WORK/$1.out")"
  cpu=$(calc "$(cat "$WORK/$1.cli") + $(cat "$WORK/$1.srv") - $s0")
  echo "$BYTES $(calc "$t1 - $t0") $cpu"
}

started=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
log "P5: $RAILS unlimited veth rails, $COUNT x 4 MiB per contender, $ROUNDS rounds; work files in $WORK"
rack_up "$UDP_RACK" --rails "$RAILS" --mtu "$MTU"
rack_up "$MAC_RACK" --rails "$RAILS" --mtu "$MTU" --packet-auth mac
((MTU <= 1500)) && rack_up "$DPDK_RACK" --rails "$RAILS" --mtu "$MTU" --driver dpdk
rack_up "$XDP_RACK" --rails "$RAILS" --mtu "$MTU" --driver dpdk --pmd af_xdp

# Idle CPU of the DPDK daemons (af_packet and af_xdp racks): session up, no traffic, 10 s.
sleep 1
idle_pids=("$(daemon_pid "$XDP_RACK" h1)" "$(daemon_pid "$XDP_RACK" h2)")
((MTU <= 1500)) && idle_pids+=("$(daemon_pid "$DPDK_RACK" h1)" "$(daemon_pid "$DPDK_RACK" h2)")
IDLE=$(python3 "$repo/bench/fabric/meter.py" cpu "${idle_pids[@]}" --seconds 10 | jq -r '[.[] | "\(.) %"] | join(" / ")')
log "idle DPDK daemons (h1 / h2, % of a core): $IDLE"

# Softirq work that overflows to ksoftirqd is charged to no contender's
# processes (tick accounting charges softirq time to the task it interrupts,
# which is how most of the veth work lands in the sender's system time); it
# is measured beside each contender (ksoftirqd threads are shared with the
# rest of the machine, so this column is an upper bound).
KSOFTIRQD=($(pgrep -x 'ksoftirqd/[0-9]+'))
with_ksoftirqd() {   # contender-function args... -> "BYTES SECONDS CPU KSOFTIRQD_CPU"
  local k0 k1 out
  k0=$(sum_ticks "${KSOFTIRQD[@]}")
  out=$("$@")
  k1=$(sum_ticks "${KSOFTIRQD[@]}")
  echo "$out $(calc "$k1 - $k0")"
}

declare -A R
contenders=(xdp dpdk udp mac iperf3 ucx)
((MTU <= 1500)) || contenders=(xdp udp mac iperf3 ucx)
for ((round = 1; round <= ROUNDS; round++)); do
  log "round $round: railyard DPDK af_xdp"; R[xdp,$round]=$(with_ksoftirqd railyard "$XDP_RACK" "xdp.$round")
  if ((MTU <= 1500)); then
    log "round $round: railyard DPDK af_packet"; R[dpdk,$round]=$(with_ksoftirqd railyard "$DPDK_RACK" "dpdk.$round")
  fi
  log "round $round: railyard UDP";  R[udp,$round]=$(with_ksoftirqd railyard "$UDP_RACK" "udp.$round")
  log "round $round: railyard UDP, packet_auth mac";  R[mac,$round]=$(with_ksoftirqd railyard "$MAC_RACK" "mac.$round")
  log "round $round: iperf3";        R[iperf3,$round]=$(with_ksoftirqd iperf3_rails "iperf3.$round")
  log "round $round: ucx_perftest";  R[ucx,$round]=$(with_ksoftirqd ucx_rails "ucx.$round")
  for c in "${contenders[@]}"; do log "  $c: ${R[$c,$round]} (bytes, s, CPU-s, ksoftirqd CPU-s)"; done
done
elapsed=$(($(date +%s) - started))

per_cpu() { awk '{printf "%.0f", $1 / $3}' <<<"$1"; }
gbps() { awk '{printf "%.2f", $1 * 8 / $2 / 1e9}' <<<"$1"; }
median() { tr ' ' '\n' | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
declare -A NAME=([xdp]="railyard, DPDK driver (af_xdp vdevs), railctl send" [dpdk]="railyard, DPDK driver (af_packet vdevs), railctl send" [udp]="railyard, kernel UDP driver (GSO), railctl send"
  [mac]="railyard, kernel UDP driver (GSO), packet_auth = mac, railctl send"
  [iperf3]="iperf3, 1 TCP stream per rail" [ucx]="ucx_perftest tag_bw over TCP (UCX_TLS=tcp), all rails")
{
  echo "### P5: bytes per CPU-second, $(date -u +'%Y-%m-%d %H:%M UTC')"
  echo
  echo "Command: \`bench/dpdk/p5.sh --count $COUNT --rounds $ROUNDS --rails $RAILS --mtu $MTU\` (took ${elapsed} s). Rack: rack-sim, 2 hosts × $RAILS veth rails, no tbf, MTU $MTU; $COUNT × 4 MiB (= $((BYTES >> 20)) MiB) h1 → h2 per contender and round. Machine: $(nproc) cores, load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end. railyard $(git -C "$repo" rev-parse --short HEAD)."
  echo
  echo "| contender | Gbit/s (median) | CPU-s per GiB, sender + receiver (median) | MB moved per CPU-second (median) | ÷ ucx_perftest, each round | ÷ ucx_perftest (median) | ksoftirqd CPU-s per GiB meanwhile (median) |"
  echo "|---|---|---|---|---|---|---|"
  for c in "${contenders[@]}"; do
    ratios=() rates=() effs=() cpg=() kpg=()
    for ((round = 1; round <= ROUNDS; round++)); do
      v=${R[$c,$round]} u=${R[ucx,$round]}
      ratios+=("$(awk -v a="$(per_cpu "$v")" -v b="$(per_cpu "$u")" 'BEGIN{printf "%.2f", a / b}')")
      rates+=("$(gbps "$v")")
      effs+=("$(per_cpu "$v")")
      cpg+=("$(awk '{printf "%.3f", $3 / ($1 / 1073741824)}' <<<"$v")")
      kpg+=("$(awk '{printf "%.3f", $4 / ($1 / 1073741824)}' <<<"$v")")
    done
    printf '| %s | %s | %s | %s | %s | %s× | %s |\n' "${NAME[$c]}" "$(echo "${rates[*]}" | median)" \
      "$(echo "${cpg[*]}" | median)" "$(awk -v b="$(echo "${effs[*]}" | median)" 'BEGIN{printf "%.0f", b / 1e6}')" \
      "$(IFS=' '; echo "${ratios[*]}")" "$(echo "${ratios[*]}" | median)" "$(echo "${kpg[*]}" | median)"
  done
  echo
  echo "Idle CPU of the DPDK daemons (h1 / h2 with af_xdp rails$( ((MTU <= 1500)) && echo ", h1 / h2 with af_packet rails"); session up, no traffic, 10 s): $IDLE of a core."
  echo "Raw (bytes, seconds, CPU-seconds, ksoftirqd CPU-seconds) per round: $(for c in "${contenders[@]}"; do printf '%s:' "$c"; for ((round = 1; round <= ROUNDS; round++)); do printf ' [%s]' "${R[$c,$round]}"; done; printf '; '; done)"
} >"$WORK/table.md"
cat "$WORK/table.md"
[[ -n $OUT ]] && cp "$WORK/table.md" "$OUT" && echo "written to $OUT"
