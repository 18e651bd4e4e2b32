#!/usr/bin/env bash
# bench/fabric/run.sh: issue 3's fabric benchmark (P1-P4) on rack-sim, railyard
# beside iperf3 (one TCP stream per rail), MPTCP and ucx_perftest on the same
# tbf-limited rails, in one run. Prints a Markdown table and writes it, with the
# raw figures, to bench/fabric/results-<date>-<time>.md. Needs root, the binaries in
# build/ (it never builds), iperf3, mptcpize, ucx_perftest, jq, python3.
#
#   bench/fabric/run.sh [--rate 200mbit] [--duration 4] [--prefix b] [--out FILE] [--drivers "udp dpdk"]
#
#   --rate      tbf line rate of every rail (default 200mbit: what this 2-core
#               machine saturates for every contender, see bench/README.md)
#   --duration  seconds per throughput measurement (default 4)
#   --prefix    rack names are PREFIX2, PREFIX4, PREFIXs, PREFIXd, PREFIXl, and
#               the same with an x for the DPDK racks (at most 8 characters)
#   --drivers   railyard's rail drivers to run (default "udp dpdk"): each gets
#               its own rack (DPDK: rack-sim --driver dpdk, af_packet vdevs);
#               the peers run on the UDP rack (DPDK hosts have no kernel addresses)
#   --only "p1-2 p1-4 p1-9000 p2 p3 p4"  run only these steps (debugging; no table)
#   --table WORKDIR              the table again from a previous run's work files
#
# How each figure is measured is written under the table (and in bench/README.md).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
RATE=200mbit DURATION=4 PREFIX=b OUT="" ONLY="" TABLE_FROM="" DRIVERS="udp dpdk"
while (($#)); do
  case $1 in
    --rate) RATE=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --prefix) PREFIX=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --drivers) DRIVERS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;   # debugging: run only these steps, print their raw files, no table
    --table) TABLE_FROM=$2; shift 2 ;;   # debugging: print the table again from a previous run's work files
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
# shellcheck source=bench/lib.sh
source "$here/../lib.sh"
need_root
LOAD=$BUILD/tools/fabric-load
METER=$here/meter.py
need_binaries "$BUILD/daemon/railyardd" "$RAILCTL" "$LOAD"
need_tools iperf3 mptcpize ucx_perftest jq python3 tc
OUT=${OUT:-$here/results-$(date +%Y-%m-%d-%H%M).md}
WORK=$(mktemp -d /tmp/railyard-fabric-bench.XXXXXX)
COMMAND="bench/fabric/run.sh --rate $RATE --duration $DURATION --drivers '$DRIVERS'"
[[ " $DRIVERS " == *" udp "* ]] || { echo "run.sh: --drivers must include udp (the peers and the table's reference)" >&2; exit 2; }
with_dpdk() { [[ " $DRIVERS " == *" dpdk "* ]]; }

# Line rate in bit/s from tc's notation.
rate_bps() {
  local v=${1,,} n u
  [[ $v =~ ^([0-9.]+)([kmg]?)(bit|bps)?$ ]] || { echo "run.sh: cannot read rate '$1'" >&2; exit 2; }
  n=${BASH_REMATCH[1]} u=${BASH_REMATCH[2]}
  case $u in k) n=$(awk -v n="$n" 'BEGIN{print n*1e3}') ;; m) n=$(awk -v n="$n" 'BEGIN{print n*1e6}') ;;
    g) n=$(awk -v n="$n" 'BEGIN{print n*1e9}') ;; esac
  [[ ${BASH_REMATCH[3]} == bps ]] && n=$(awk -v n="$n" 'BEGIN{print n*8}')
  awk -v n="$n" 'BEGIN{printf "%.0f", n}'
}
RATE_BPS=$(rate_bps "$RATE")
SQUEEZED_BPS=$((RATE_BPS / 10))

pct() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.1f", 100 * a / b; else print "n/a" }'; }

wl_sock() { echo "/run/railyard-sim/$1/$2/workload.sock"; }
ns_pid() { ip netns pids "rysim-$1-$2" | head -1; }   # any process in host $2's namespace

# Transfers of mean size MEAN bytes that keep a rate (bit/s, at ~91 % payload
# efficiency) busy for SECONDS, plus a margin.
count_for() {   # bps seconds mean_bytes
  awk -v r="$1" -v s="$2" -v m="$3" 'BEGIN{ n = int(r * 0.91 * s / 8 / m * 1.15) + 1; print (n < 4 ? 4 : n) }'
}

# fabric-load receiver on h2; waits until it is ready. Sets LOAD_RX_PID.
load_receive() {   # rack expect outfile
  "$LOAD" receive --socket "$(wl_sock "$1" h2)" --expect "$2" --timeout 120 >"$3" 2>"$3.err" &
  LOAD_RX_PID=$!
  bg+=("$LOAD_RX_PID")
  local _
  for _ in $(seq 200); do grep -q '"ready":true' "$3" 2>/dev/null && return 0; sleep 0.05; done
  echo "run.sh: fabric-load receiver did not get ready: $(cat "$3.err")" >&2
  exit 1
}

declare -A R   # results, printed in the table

# ---------------------------------------------------------------- P1
P1_REPEATS=2   # every contender runs this often, interleaved; the best run counts

best() { local m=0 v; for v in "$@"; do ((v > m)) && m=$v; done; echo "$m"; }

# railyard on one rack, one repetition of P1: railctl send, then fabric-load.
# Appends to the arrays named ry and fl; tag is "" (UDP) or "d" (DPDK).
p1_railyard() {   # rack key rep tag n
  local rack=$1 key=$2 rep=$3 t=$4 n=$5
  # railyard through the daemon's own probe (railctl send); on the first run,
  # railctl rails and the daemons' CPU halfway through.
  if ((rep == 1)); then
    ( sleep "$(calc "$DURATION / 2")"
      "$RAILCTL" --socket "$(ctl_sock "$rack" h1)" rails >"$WORK/rails-under-load-$t$key.txt" 2>&1
      python3 "$METER" cpu "$(daemon_pid "$rack" h1)" "$(daemon_pid "$rack" h2)" --seconds 1 \
        >"$WORK/cpu-load-$t$key.json"
    ) &
    bg+=($!)
  fi
  "$RAILCTL" --socket "$(ctl_sock "$rack" h1)" --json send --peer h2 --size 4M --count "$n" --concurrency 8 \
    >"$WORK/p1-railctl-$t$key-$rep.json" || true
  ((rep == 1)) && { wait "${bg[-1]}" || true; }
  ry+=("$(jq -r '(.goodput_bps // 0) / 1e6 | floor' "$WORK/p1-railctl-$t$key-$rep.json")")
  R[p1_${t}ry_fail_$key]=$((${R[p1_${t}ry_fail_$key]:-0} + $(jq -r '.failed // 0' "$WORK/p1-railctl-$t$key-$rep.json")))

  # railyard through librailyard (fabric-load, 4 MiB kv, every byte verified).
  load_receive "$rack" "$n" "$WORK/p1-load-rx-$t$key-$rep.json"
  "$LOAD" send --socket "$(wl_sock "$rack" h1)" --peer h2 --count "$n" --min 4M --max 4M \
    --activation-share 0 --concurrency 8 >"$WORK/p1-load-tx-$t$key-$rep.json" 2>"$WORK/p1-load-tx-$t$key-$rep.err" || true
  wait "$LOAD_RX_PID" || true
  fl+=("$(tail -1 "$WORK/p1-load-tx-$t$key-$rep.json" | jq -r '(.goodput_mbps // 0) | floor')")
  [[ $(tail -1 "$WORK/p1-load-rx-$t$key-$rep.json" | jq -r '.ok') == true ]] || R[p1_${t}fl_bad_$key]=1
}

p1() {   # key rails mtu
  local key=$1 rails=$2 mtu=$3 rack=${PREFIX}$1 total n rep dpdk=0
  total=$((rails * RATE_BPS))
  # af_packet vdevs take at most MTU 1500 in DPDK 22.11 (drivers/nic/dpdk/README.md).
  with_dpdk && ((mtu <= 1500)) && dpdk=1
  log "P1: $rails rails x $RATE, MTU $mtu (rack $rack$( ((dpdk)) && echo ", DPDK rack ${rack}x"))"
  rack_up "$rack" --rails "$rails" --rate "$RATE" --mtu "$mtu"
  ((dpdk)) && rack_up "${rack}x" --rails "$rails" --rate "$RATE" --mtu "$mtu" --driver dpdk
  RACK=$rack RAILS=$rails
  n=$(count_for "$total" "$DURATION" $((4 << 20)))

  # Idle CPU of both daemons (rails up, session established, no traffic).
  R[cpu_idle_$key]=$(python3 "$METER" cpu "$(daemon_pid "$rack" h1)" "$(daemon_pid "$rack" h2)" --seconds 2 |
                       jq -r '[.[]] | map(tostring) | join(" / ")')
  ((dpdk)) && R[cpu_idle_d$key]=$(python3 "$METER" cpu "$(daemon_pid "${rack}x" h1)" "$(daemon_pid "${rack}x" h2)" \
                       --seconds 2 | jq -r '[.[]] | map(tostring) | join(" / ")')
  local ry=() fl=() ip=() mp=() ux=() dry=() dfl=()
  for ((rep = 1; rep <= P1_REPEATS; rep++)); do
    p1_railyard "$rack" "$key" "$rep" "" "$n"
    if ((dpdk)); then
      local save_ry=("${ry[@]}") save_fl=("${fl[@]}")
      ry=("${dry[@]+"${dry[@]}"}") fl=("${dfl[@]+"${dfl[@]}"}")
      p1_railyard "${rack}x" "$key" "$rep" d "$n"
      dry=("${ry[@]}") dfl=("${fl[@]}") ry=("${save_ry[@]}") fl=("${save_fl[@]}")
    fi

    # Peers on the same rails (bench/fabric/peers.sh).
    ip+=("$(iperf3_per_rail)")
    mp+=("$(mptcp_all_rails)")
    local u
    u=$(PEER_ITERS=$n ucx_tag_bw)
    ux+=("${u:-0}")
    cp "$WORK/ucx.out" "$WORK/ucx-$key-$rep.out" 2>/dev/null || true
  done
  R[p1_ry_$key]=$(best "${ry[@]}") R[p1_fl_$key]=$(best "${fl[@]}") R[p1_iperf_$key]=$(best "${ip[@]}")
  R[p1_mptcp_$key]=$(best "${mp[@]}") R[p1_ucx_$key]=$(best "${ux[@]}")
  R[p1_runs_$key]="railctl ${ry[*]}; fabric-load ${fl[*]}; iperf3 ${ip[*]}; MPTCP ${mp[*]}; ucx ${ux[*]}"
  R[p1_fl_ok_$key]=$([[ -z ${R[p1_fl_bad_$key]:-} ]] && echo true || echo false)
  R[cpu_load_$key]=$(jq -r '[.[]] | map(tostring) | join(" / ")' "$WORK/cpu-load-$key.json")
  if ((dpdk)); then
    R[p1_dry_$key]=$(best "${dry[@]}") R[p1_dfl_$key]=$(best "${dfl[@]}")
    R[p1_runs_$key]+="; DPDK railctl ${dry[*]}; DPDK fabric-load ${dfl[*]}"
    R[p1_dfl_ok_$key]=$([[ -z ${R[p1_dfl_bad_$key]:-} ]] && echo true || echo false)
    R[cpu_load_d$key]=$(jq -r '[.[]] | map(tostring) | join(" / ")' "$WORK/cpu-load-d$key.json")
    rack_down "${rack}x"
  fi
  rack_down "$rack"
}

# ---------------------------------------------------------------- P2 / P3
# meter settings shared by both faults: 2 rails, fault 1.5 s into a 5 s window.
FAULT_AT=1.5 WINDOW=5

fault_cmd() {   # rack kind
  case $2 in
    squeeze) echo "ip netns exec rysim-$1-h1 tc qdisc change dev r1 root tbf rate $SQUEEZED_BPS burst 256kb latency 20ms" ;;
    down) echo "ip -n rysim-$1-h1 link set r1 down" ;;
  esac
}

fault_railyard() {   # kind (squeeze|down) rack P [driver]
  local kind=$1 rack=$2 driver=${4:-udp} cap_after n mean min max share tag=ry
  [[ $driver == dpdk ]] && tag=dry
  log "P${3}: railyard ($driver), rail r1 $kind (rack $rack)"
  rack_up "$rack" --rails 2 --rate "$RATE" --driver "$driver"
  if [[ $kind == squeeze ]]; then cap_after=$((RATE_BPS + SQUEEZED_BPS)); else cap_after=$RATE_BPS; fi
  # P2: 4 MiB kv. P3: the integration mix (64 KiB .. 4 MiB, 20 % activation),
  # so that completions come often enough to show a stall.
  # Enough transfers to outlast the meter by ~1.5 s (the meter says if the load
  # ran to its end: load_running_at_end).
  if [[ $kind == squeeze ]]; then min=4M max=4M share=0 mean=$((4 << 20)); else min=64K max=4M share=0.2 mean=850000; fi
  n=$(awk -v a="$(count_for $((2 * RATE_BPS)) "$FAULT_AT" "$mean")" \
          -v b="$(count_for "$cap_after" "$(calc "$WINDOW - $FAULT_AT + 1.5")" "$mean")" 'BEGIN{print a + b}')
  if [[ $kind == squeeze ]]; then
    # P2: the daemon's probe (4 MiB kv, 8 in flight): no workload process taking
    # CPU from the daemons (fabric-load's checker, 12+ ms of CPU per 4 MiB,
    # shows up as dips of ~10 % in 50-ms windows on this 2-core machine).
    "$RAILCTL" --socket "$(ctl_sock "$rack" h1)" --json send --peer h2 --size 4M --count "$n" --concurrency 8 \
      >"$WORK/$kind-$tag-tx.json" 2>"$WORK/$kind-$tag-tx.err" &
  else
    # P3: fabric-load, so that the receiver checks every byte of every transfer.
    load_receive "$rack" "$n" "$WORK/$kind-$tag-rx.json"
    "$LOAD" send --socket "$(wl_sock "$rack" h1)" --peer h2 --count "$n" --min "$min" --max "$max" \
      --activation-share "$share" --concurrency 8 >"$WORK/$kind-$tag-tx.json" 2>"$WORK/$kind-$tag-tx.err" &
  fi
  local tx=$!
  bg+=("$tx")
  sleep 0.4
  python3 "$METER" run --rx-pid "$(ns_pid "$rack" h2)" --seconds "$WINDOW" --fault-at "$FAULT_AT" \
    --fault "$(fault_cmd "$rack" "$kind")" --ctl "$(ctl_sock "$rack" h1)" --ctl-hz 200 \
    --rate-bps "$RATE_BPS" --rails 2 --mode "$kind" --out "$WORK/$kind-$tag-samples.json" >"$WORK/$kind-$tag.json"
  "$RAILCTL" --socket "$(ctl_sock "$rack" h1)" rails >"$WORK/rails-$kind-$driver.txt" 2>&1 || true
  wait "$tx" || true
  [[ $kind == squeeze ]] || wait "$LOAD_RX_PID" || true
  rack_down "$rack"
}

fault_mptcp() {   # kind rack
  local kind=$1 rack=$2
  log "P${3}: MPTCP, rail r1 $kind (rack $rack)"
  rack_up "$rack" --rails 2 --rate "$RATE"
  RACK=$rack RAILS=2
  mptcp_setup
  "$SIM" exec --name "$rack" h2 mptcpize run iperf3 -s -1 -p 5301 >/dev/null 2>&1 &
  bg+=($!)
  sleep 0.5
  timeout $((WINDOW + 15)) "$SIM" exec --name "$rack" h1 mptcpize run iperf3 -c "$(peer_addr 2 0)" -p 5301 \
    -t "$(calc "$WINDOW + 1.5")" -J >"$WORK/$kind-mptcp-iperf.json" 2>/dev/null &
  local c=$!
  bg+=("$c")
  sleep 0.8   # connection and the second subflow
  python3 "$METER" run --rx-pid "$(ns_pid "$rack" h2)" --seconds "$WINDOW" --fault-at "$FAULT_AT" \
    --fault "$(fault_cmd "$rack" "$kind")" --rate-bps "$RATE_BPS" --rails 2 --mode "$kind" \
    --out "$WORK/$kind-mptcp-samples.json" >"$WORK/$kind-mptcp.json"
  wait "$c" || true
  rack_down "$rack"
}

# ---------------------------------------------------------------- P4
P4_COUNT=1000   # 64 KiB activation messages per probe, one at a time (p99 = the 10th worst)

probe_activation() {   # rack outfile
  "$RAILCTL" --socket "$(ctl_sock "$1" h1)" --json send --peer h2 --class activation --size 64K \
    --count "$P4_COUNT" --concurrency 1 >"$2"
}

p4() {   # [driver]
  local driver=${1:-udp} rack=${PREFIX}l n tx m t=""
  [[ $driver == dpdk ]] && t=d- rack=${PREFIX}lx
  log "P4: activation latency, unloaded and under kv load ($driver, rack $rack)"
  rack_up "$rack" --rails 2 --rate "$RATE" --driver "$driver"
  probe_activation "$rack" "$WORK/p4-${t}idle.json"
  n=$(count_for $((2 * RATE_BPS)) 2.5 $((4 << 20)))

  # kv load 1: the daemon's own probe (railctl send, 4 MiB, 8 in flight).
  "$RAILCTL" --socket "$(ctl_sock "$rack" h1)" --json send --peer h2 --size 4M --count "$n" --concurrency 8 \
    >"$WORK/p4-${t}kv-railctl.json" &
  tx=$!
  bg+=("$tx")
  sleep 0.7   # kv at full rate
  python3 "$METER" run --rx-pid "$(ns_pid "$rack" h2)" --seconds 1.5 --rate-bps "$RATE_BPS" --rails 2 \
    >"$WORK/p4-${t}util-railctl.json" &
  m=$!
  probe_activation "$rack" "$WORK/p4-${t}loaded-railctl.json"
  "$RAILCTL" --socket "$(ctl_sock "$rack" h1)" rails >"$WORK/rails-p4${t}.txt" 2>&1 || true
  wait "$m" || true
  wait "$tx" || true

  # kv load 2: a librailyard workload (fabric-load, 4 MiB kv, 8 in flight); its
  # filling and byte-by-byte checking also take CPU from this 2-core machine.
  load_receive "$rack" "$n" "$WORK/p4-${t}kv-rx.json"
  "$LOAD" send --socket "$(wl_sock "$rack" h1)" --peer h2 --count "$n" --min 4M --max 4M --activation-share 0 \
    --concurrency 8 >"$WORK/p4-${t}kv-tx.json" 2>"$WORK/p4-${t}kv-tx.err" &
  tx=$!
  bg+=("$tx")
  sleep 0.7
  python3 "$METER" run --rx-pid "$(ns_pid "$rack" h2)" --seconds 1.5 --rate-bps "$RATE_BPS" --rails 2 \
    >"$WORK/p4-${t}util-load.json" &
  m=$!
  probe_activation "$rack" "$WORK/p4-${t}loaded-load.json"
  wait "$m" || true
  wait "$tx" || true
  wait "$LOAD_RX_PID" || true
  # Unloaded again: the lower of the two unloaded p99s is the reference, so that
  # interference from other work on the machine can only make the ratio worse.
  probe_activation "$rack" "$WORK/p4-${t}idle2.json"
  rack_down "$rack"
}

# ---------------------------------------------------------------- run
source "$here/peers.sh"
if [[ -n $TABLE_FROM ]]; then
  rmdir "$WORK"
  WORK=$TABLE_FROM
  source "$WORK/state.sh"
else
started=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
read -r _ a1 b1 c1 idle1 w1 _ </proc/stat
log "rate $RATE per rail, $DURATION s per throughput figure; work files in $WORK"
step() { [[ -z $ONLY || " $ONLY " == *" $1 "* ]]; }
step p1-2 && p1 2 2 1500
step p1-4 && p1 4 4 1500
step p1-9000 && p1 2j 2 9000   # the same with jumbo frames, as GPU fabrics run
step p2 && fault_railyard squeeze "${PREFIX}s" 2 && fault_mptcp squeeze "${PREFIX}s" 2
step p2 && with_dpdk && fault_railyard squeeze "${PREFIX}sx" 2 dpdk
step p3 && fault_railyard down "${PREFIX}d" 3 && fault_mptcp down "${PREFIX}d" 3
step p3 && with_dpdk && fault_railyard down "${PREFIX}dx" 3 dpdk
step p4 && p4
step p4 && with_dpdk && p4 dpdk
elapsed=$(($(date +%s) - started))
read -r _ a2 b2 c2 idle2 w2 _ </proc/stat
busy_pct=$(awk -v b="$(((a2 + b2 + c2) - (a1 + b1 + c1)))" -v i="$(((idle2 + w2) - (idle1 + w1)))" 'BEGIN{printf "%.0f", 100 * b / (b + i)}')
if [[ -n $ONLY ]]; then
  for k in "${!R[@]}"; do echo "$k=${R[$k]}"; done
  for f in "$WORK"/*.json; do echo "== ${f##*/}"; { grep -v '^{"t0"' "$f" || true; } | tail -c 1500; echo; done   # samples files are all t0 lines
  exit 0
fi
{ declare -p R; declare -p elapsed load_start busy_pct RATE RATE_BPS SQUEEZED_BPS DURATION COMMAND DRIVERS; } >"$WORK/state.sh"
fi

# ---------------------------------------------------------------- table
j() { jq -r "$2" "$WORK/$1"; }
ms() { awk -v s="$1" 'BEGIN{ if (s == "null" || s == "") print "never"; else printf "%.0f ms", s * 1000 }'; }
ms1() { awk -v s="$1" 'BEGIN{ if (s == "null" || s == "") print "n/a"; else printf "%.1f ms", s * 1000 }'; }
verdict() { awk -v ok="$1" 'BEGIN{ print (ok ? "**met**" : "**missed**") }'; }

# Ceilings at MTU 1500, in the bytes tbf charges (the frame without FCS: 1514):
# railyard 1380 payload (1500 - IP 20 - UDP 8 - fabric header 92), TCP 1448
# (1500 - 20 - 20 - 12 of timestamps).
ceil_ry() { calc "($1 - 20 - 8 - 92) / ($1 + 14) * 100"; }    # IP, UDP, fabric header; Ethernet
ceil_tcp() { calc "($1 - 20 - 20 - 12) / ($1 + 14) * 100"; }  # IP, TCP, timestamps; Ethernet

# A DPDK cell: "Mbit/s (% of line)", or why there is none.
dcell() {   # value line
  if [[ -z $1 ]]; then echo "n/a (af_packet: MTU ≤ 1500)"; else echo "$1 ($(pct "$1" "$2") %)"; fi
}
row_p1() {   # key rails mtu
  local k=$1 r=$2 mtu=$3 line=$(($2 * RATE_BPS / 1000000)) ceil dv=""
  ceil=$(ceil_ry "$mtu")
  if [[ -n ${R[p1_dry_$k]:-} ]]; then
    dv="; DPDK: $(verdict "$(awk -v a="${R[p1_dry_$k]}" -v b="$line" 'BEGIN{print (a >= 0.95 * b)}')"), $(pct "${R[p1_dry_$k]}" "$(calc "$line * $ceil / 100")") % of the ceiling, DPDK ÷ UDP driver = $(pct "${R[p1_dry_$k]}" "${R[p1_ry_$k]}") %"
  fi
  printf '| P1 goodput, 4 MiB kv, %s × %s, MTU %s (Mbit/s, %% of %s) | %s (%s %%) | %s (%s %%) | %s | %s | %s (%s %%) | %s (%s %%) | %s (%s %%) | ≥ 95 %% of line: %s (at most %.1f %% at MTU %s: the 92-byte header); %s %% of that ceiling; railyard ÷ iperf3 = %s %%%s |\n' \
    "$r" "$RATE" "$mtu" "$line" \
    "${R[p1_ry_$k]}" "$(pct "${R[p1_ry_$k]}" "$line")" \
    "${R[p1_fl_$k]}" "$(pct "${R[p1_fl_$k]}" "$line")" \
    "$(dcell "${R[p1_dry_$k]:-}" "$line")" "$(dcell "${R[p1_dfl_$k]:-}" "$line")" \
    "${R[p1_iperf_$k]}" "$(pct "${R[p1_iperf_$k]}" "$line")" \
    "${R[p1_mptcp_$k]}" "$(pct "${R[p1_mptcp_$k]}" "$line")" \
    "${R[p1_ucx_$k]}" "$(pct "${R[p1_ucx_$k]}" "$line")" \
    "$(verdict "$(awk -v a="${R[p1_ry_$k]}" -v b="$line" 'BEGIN{print (a >= 0.95 * b)}')")" "$ceil" "$mtu" \
    "$(pct "${R[p1_ry_$k]}" "$(calc "$line * $ceil / 100")")" "$(pct "${R[p1_ry_$k]}" "${R[p1_iperf_$k]}")" "$dv"
}

sq_ry=$WORK/squeeze-ry.json sq_mp=$WORK/squeeze-mptcp.json dn_ry=$WORK/down-ry.json dn_mp=$WORK/down-mptcp.json
sq_dry=$WORK/squeeze-dry.json dn_dry=$WORK/down-dry.json
have_dpdk_faults() { [[ -f $sq_dry && -f $dn_dry ]]; }
p2_cell() {   # file
  printf '%s %% reached, ≥ 90 %% after %s (worst 100 ms: %s %%)' \
    "$(jq -r '.reached_steady * 100 | floor' "$1")" "$(ms "$(jq -r '.adapt_s' "$1")")" \
    "$(jq -r '.worst_window_after * 100 | floor' "$1")"
}
p3_cell() {   # file
  printf 'longest stall %s, %s after the fault (within 100 ms of it: %s; in the second before it: %s)' \
    "$(ms1 "$(jq -r '.stall_s' "$1")")" "$(ms1 "$(jq -r '.stall_start_after_fault_s' "$1")")" \
    "$(ms1 "$(jq -r '.stall_at_fault_s' "$1")")" "$(ms1 "$(jq -r '.baseline_stall_s' "$1")")"
}
p3_lost() { tail -1 "$WORK/down-$1-tx.json" | jq -r '.failed // "?"'; }   # tag (ry, dry)
p3_rx() { tail -1 "$WORK/down-$1-rx.json" | jq -r '"\(.received)/\(.expected) received, \(.mismatched) mismatched"'; }
p3_sent() { tail -1 "$WORK/down-$1-tx.json" | jq -r '"\(.completed)/\(.posted) completed"'; }
p2_met() { jq -r '(.reached_steady >= 0.9) and (.adapt_s != null) and (.adapt_s <= 0.1)' "$1"; }
p3_met() { jq -r --arg lost "$(p3_lost "$2")" '(.stall_s <= 0.01) and ($lost == "0")' "$1"; }   # file tag
lost_ry=$(p3_lost ry)
p2_ok=$(p2_met "$sq_ry")
p3_ok=$(p3_met "$dn_ry" ry)
us() { jq -r "(.$2 | tonumber) / 1000 | floor" "$WORK/$1"; }
# P4 files are p4-*.json (UDP driver) and p4-d-*.json (DPDK).
p4_idle_of() { awk -v a="$(us "p4-${1}idle.json" latency_p99_ns)" -v b="$(us "p4-${1}idle2.json" latency_p99_ns)" 'BEGIN{print (a < b ? a : b)}'; }
p4_ratio() { awk -v a="$(us "$1" latency_p99_ns)" -v b="$(p4_idle_of "${2:-}")" 'BEGIN{ printf "%.2f", a / b }'; }   # file [prefix]
p4_cell() {   # loaded-file util-file [prefix]
  local t=${3:-}
  printf '%s× (p99 %s → %s µs, p50 %s → %s µs; the probe got %s of %s Mbit/s, rails %s %% busy)' \
    "$(p4_ratio "$1" "$t")" "$(p4_idle_of "$t")" "$(us "$1" latency_p99_ns)" "$(us "p4-${t}idle.json" latency_p50_ns)" \
    "$(us "$1" latency_p50_ns)" "$(jq -r '.goodput_bps / 1e6 | floor' "$WORK/$1")" \
    "$(jq -r '.goodput_bps / 1e6 | floor' "$WORK/p4-${t}idle.json")" "$(jq -r '.utilisation * 100 | floor' "$WORK/$2")"
}
have_dpdk_p4() { [[ -f $WORK/p4-d-idle.json ]]; }
# Interference: when the same measure without the fault (P3) or without load
# (P4) is already near the target, a miss says more about the machine than
# about railyard; say so beside the verdict.
p3_noise=$(jq -r 'if .baseline_stall_s >= 0.008 then " (inconclusive here: the same measure before the fault was \(.baseline_stall_s * 1000 | floor) ms, the machine was busy)" else "" end' "$dn_ry")
p4_noise_of() {   # prefix label
  awk -v p99="$(p4_idle_of "$1")" -v p50="$(us "p4-${1}idle.json" latency_p50_ns)" -v what="$2" \
    'BEGIN{ if (p99 > 2 * p50) printf " (%sinconclusive here: unloaded p99 is %.1f× its p50, the machine was busy)", what, p99 / p50 }'
}
p4_noise=$(p4_noise_of "" "")
p4_ok=$(awk -v a="$(p4_ratio p4-loaded-railctl.json)" -v b="$(p4_ratio p4-loaded-load.json)" 'BEGIN{print (a <= 2 && b <= 2)}')
if have_dpdk_p4; then
  p4_dok=$(awk -v a="$(p4_ratio p4-d-loaded-railctl.json d-)" -v b="$(p4_ratio p4-d-loaded-load.json d-)" 'BEGIN{print (a <= 2 && b <= 2)}')
fi
tf() { [[ $1 == true ]] && echo 1 || echo 0; }
mptcp_ok() { jq -r 'if .error then "error: \(.error)" else "stream ok" end' "$1" 2>/dev/null || echo "no result"; }

{
  echo "## Fabric benchmark, $(date -u +'%Y-%m-%d %H:%M UTC')"
  echo
  echo "Command: \`$COMMAND\` (took ${elapsed} s). Rack: rack-sim, 2 hosts, veth rails with \`tbf rate $RATE burst 256kb latency 20ms\` on every host's rail egress, MTU 1500."
  awk -v l="${load_start%% *}" -v n="$(nproc)" 'BEGIN{ if (l > n) printf "**The machine was busy with other work (load average %s on %d cores at the start): figures that depend on timing (P3 stall, P4 p99) are noisy; rerun when it is quiet.**\n\n", l, n }'
  echo "Machine: $(nproc) cores, $(uname -r), shared with other work: load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end, CPU busy $busy_pct % of the run (all processes). railyard $(git -C "$repo" rev-parse --short HEAD)."
  echo
  echo "| figure | railyard, UDP driver (railctl send) | railyard, UDP driver (librailyard, fabric-load) | railyard, DPDK driver (railctl send) | railyard, DPDK driver (fabric-load) | iperf3, 1 TCP stream per rail | MPTCP (mptcpize iperf3) | ucx_perftest tag_bw (tcp) | target and verdict (railyard) |"
  echo "|---|---|---|---|---|---|---|---|---|"
  row_p1 2 2 1500
  row_p1 4 4 1500
  [[ -n ${R[p1_ry_2j]:-} ]] && row_p1 2j 2 9000
  d2="—" d3="—" d4a="—" d4b="—" v2="" v3="" v4=""
  if have_dpdk_faults; then
    d2=$(p2_cell "$sq_dry") v2="; DPDK: $(verdict "$(tf "$(p2_met "$sq_dry")")")"
    d3="$(p3_lost dry) lost ($(p3_sent dry); receiver: $(p3_rx dry)); $(p3_cell "$dn_dry")"
    v3="; DPDK: $(verdict "$(tf "$(p3_met "$dn_dry" dry)")")"
  fi
  if have_dpdk_p4; then
    d4a="kv load by railctl send: $(p4_cell p4-d-loaded-railctl.json p4-d-util-railctl.json d-)"
    d4b="kv load by fabric-load: $(p4_cell p4-d-loaded-load.json p4-d-util-load.json d-)"
    v4="; DPDK: $(verdict "$p4_dok")$(p4_noise_of d- "DPDK ")"
  fi
  printf '| P2 rail r1 squeezed to 10 %% (2 × %s: %s Mbit/s left) | — | %s | — | %s | — | %s | — | ≥ 90 %% within 100 ms: UDP: %s%s |\n' \
    "$RATE" $(((RATE_BPS + SQUEEZED_BPS) / 1000000)) "$(p2_cell "$sq_ry")" "$d2" "$(p2_cell "$sq_mp")" "$(verdict "$(tf "$p2_ok")")" "$v2"
  printf '| P3 rail r1 set down (2 × %s) | — | %s lost (%s; receiver: %s); %s | — | %s | — | %s; %s | — | 0 lost, stall ≤ 10 ms: UDP: %s%s%s |\n' \
    "$RATE" "$lost_ry" "$(p3_sent ry)" "$(p3_rx ry)" "$(p3_cell "$dn_ry")" "$d3" "$(mptcp_ok "$WORK/down-mptcp-iperf.json")" "$(p3_cell "$dn_mp")" \
    "$(verdict "$(tf "$p3_ok")")" "$v3" "$p3_noise"
  printf '| P4 p99 of 64 KiB activation (%s, one at a time), loaded ÷ unloaded (2 × %s) | kv load by railctl send: %s | kv load by fabric-load: %s | %s | %s | — | — | — | ≤ 2×: UDP: %s%s%s |\n' \
    "$P4_COUNT" "$RATE" "$(p4_cell p4-loaded-railctl.json p4-util-railctl.json)" "$(p4_cell p4-loaded-load.json p4-util-load.json)" \
    "$d4a" "$d4b" "$(verdict "$p4_ok")" "$v4" "$p4_noise"
  echo
  echo "Ceilings (tbf charges the frame without FCS, MTU + 14): railyard $(printf '%.1f' "$(ceil_ry 1500)") % of the line at MTU 1500, $(printf '%.1f' "$(ceil_ry 9000)") % at 9000 (IP 20 + UDP 8 + a 92-byte fabric header a frame); TCP $(printf '%.1f' "$(ceil_tcp 1500)") % and $(printf '%.1f' "$(ceil_tcp 9000)") % (IP 20 + TCP 20 + timestamps 12)."
  echo "Daemon CPU (h1 / h2, % of one core): idle ${R[cpu_idle_2]} (2 rails), ${R[cpu_idle_4]} (4 rails); during P1 ${R[cpu_load_2]} (2 rails), ${R[cpu_load_4]} (4 rails), ${R[cpu_load_2j]:-?} (2 rails, MTU 9000)."
  [[ -n ${R[cpu_idle_d2]:-} ]] && echo "DPDK daemons' CPU (h1 / h2, % of one core): idle ${R[cpu_idle_d2]} (2 rails), ${R[cpu_idle_d4]:-?} (4 rails); during P1 ${R[cpu_load_d2]:-?} (2 rails), ${R[cpu_load_d4]:-?} (4 rails). DPDK P1: railctl send failures ${R[p1_dry_fail_2]:-?} / ${R[p1_dry_fail_4]:-?}; fabric-load receiver verified every byte: ${R[p1_dfl_ok_2]:-?} / ${R[p1_dfl_ok_4]:-?}."
  echo "P1: best of $P1_REPEATS interleaved runs each (Mbit/s, 2 rails: ${R[p1_runs_2]}; 4 rails: ${R[p1_runs_4]}; 2 rails at MTU 9000: ${R[p1_runs_2j]:-not run}). railctl send failures ${R[p1_ry_fail_2]} / ${R[p1_ry_fail_4]} / ${R[p1_ry_fail_2j]:-}; fabric-load receiver verified every byte: ${R[p1_fl_ok_2]} / ${R[p1_fl_ok_4]} / ${R[p1_fl_ok_2j]:-}."
  echo "P4: unloaded p99 $(us p4-idle.json latency_p99_ns) µs before and $(us p4-idle2.json latency_p99_ns) µs after the loaded probes; the lower is the reference."
  echo "P2 railyard after the squeeze: goodput $(jq -r '.goodput_steady_bps / 1e6 | floor' "$sq_ry") Mbit/s ($(jq -r '.goodput_steady_of_capacity * 100 | floor' "$sq_ry") % of the $(((RATE_BPS + SQUEEZED_BPS) / 1000000)) Mbit/s line left), r1's share of packets $(jq -r '.r1_share_steady * 1000 | floor / 10' "$sq_ry") % (its share of the capacity: $(jq -r '.r1_fair_share * 1000 | floor / 10' "$sq_ry") %)."
  echo "P3 railyard: longest time without a completed transfer around the fault $(ms1 "$(jq -r '.completion_gap_around_fault_s' "$dn_ry")"), before it $(ms1 "$(jq -r '.completion_gap_before_s' "$dn_ry")"); rail r1 after: $(jq -r '.rails_sender[1] | "\(.state), \(.down_events) down event(s)"' "$dn_ry")."
  for f in "$sq_ry" "$dn_ry"; do
    [[ $(jq -r '.load_running_at_end' "$f") == true ]] ||
      echo "**Warning**: the railyard load of ${f##*/} ended before the meter did: its steady-state figures are too low."
  done
} >"$WORK/table.md"

{
  cat "$WORK/table.md"
  echo
  cat "$here/HOW.md" 2>/dev/null || true
  echo
  echo "### railctl rails on h1 during P1 (4 rails)"
  echo '```'
  cat "$WORK/rails-under-load-4.txt"
  echo '```'
  echo "### railctl rails on h1 at the end of P2 (squeeze) and P3 (down)"
  echo '```'
  cat "$WORK/rails-squeeze-udp.txt" "$WORK/rails-down-udp.txt"
  echo '```'
  echo "### Raw meter results"
  for f in squeeze-ry squeeze-mptcp down-ry down-mptcp; do
    echo "- $f: \`$(jq -c 'del(.rails_sender)' "$WORK/$f.json")\`"
  done
} >"$OUT"

cat "$WORK/table.md"
echo
echo "written to $OUT (raw files in $WORK)"
