#!/usr/bin/env bash
# bench/fabric/run.sh: issue 3's fabric benchmark (P1-P4) on rack-sim, railyard
# beside iperf3 (one TCP stream per rail), MPTCP and ucx_perftest on the same
# tbf-limited rails, in one run, at every line rate of --rates; every goodput
# comes with the CPU its contender spent per byte (issue 16). Prints one
# Markdown table per rate, then one run-log row per rate (for bench/README.md),
# and writes them, with the raw figures, to bench/fabric/results-<date>-<time>.md.
# Needs root, the binaries in build/ (it never builds), iperf3, mptcpize,
# ucx_perftest, jq, python3.
#
#   bench/fabric/run.sh [--rates "1gbit 200mbit"] [--duration 4] [--prefix b] [--out FILE] [--drivers "udp dpdk"]
#
#   --rates     tbf line rates of every rail, in tc's notation; P1-P4 run at
#               each, one after the other (default "1gbit 200mbit": 1 Gbit/s
#               makes the CPU matter on this 2-core machine, 200 Mbit/s is what
#               it carries for every contender with the network as the limit)
#   --rate X    the same as --rates X (one rate)
#   --duration  seconds per throughput measurement (default 4)
#   --prefix    rack names are PREFIX2, PREFIX4, PREFIX2j, PREFIXs, PREFIXd,
#               PREFIXl, and the same with an x for the DPDK racks (at most 8
#               characters)
#   --drivers   railyard's rail drivers to run (default "udp dpdk"): each gets
#               its own rack (DPDK: rack-sim --driver dpdk, af_packet vdevs);
#               the peers run on the UDP rack (DPDK hosts have no kernel addresses)
#   --only "p1-2 p1-4 p1-9000 p2 p3 p4"  run only these steps, at every rate
#               (debugging: prints the raw figures, no table)
#   --table WORKDIR              the tables again from a previous run's work files
#
# How each figure is measured, CPU included: bench/fabric/HOW.md (copied into
# every results file).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
RATES="1gbit 200mbit" DURATION=4 PREFIX=b OUT="" ONLY="" TABLE_FROM="" DRIVERS="udp dpdk"
usage_error() { echo "run.sh: $*" >&2; exit 2; }
while (($#)); do
  case $1 in
    -h|--help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  esac
  (($# >= 2)) || usage_error "$1 needs a value (--help says more)"
  case $1 in
    --rates) RATES=$2; shift 2 ;;
    --rate) [[ $2 != *[[:space:]]* ]] || usage_error "--rate takes one rate; use --rates \"$2\""
            RATES=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --prefix) PREFIX=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --drivers) DRIVERS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;   # debugging: run only these steps, print their raw files, no table
    --table) TABLE_FROM=$2; shift 2 ;;   # debugging: print the tables again from a previous run's work files
    *) usage_error "unknown option $1 (--help says more)" ;;
  esac
done
# shellcheck source=bench/lib.sh
source "$here/../lib.sh"
LOAD=$BUILD/tools/fabric-load
METER=$here/meter.py
CPUTIME=(python3 "$repo/bench/dpdk/cputime.py")

# Line rate in bit/s from tc's notation.
rate_bps() {
  local v=${1,,} n u
  [[ $v =~ ^([0-9.]+)([kmg]?)(bit|bps)?$ ]] || usage_error "cannot read rate '$1' (tc's notation: 200mbit, 1gbit, ...)"
  n=${BASH_REMATCH[1]} u=${BASH_REMATCH[2]}
  case $u in k) n=$(awk -v n="$n" 'BEGIN{print n*1e3}') ;; m) n=$(awk -v n="$n" 'BEGIN{print n*1e6}') ;;
    g) n=$(awk -v n="$n" 'BEGIN{print n*1e9}') ;; esac
  [[ ${BASH_REMATCH[3]} == bps ]] && n=$(awk -v n="$n" 'BEGIN{print n*8}')
  awk -v n="$n" 'BEGIN{printf "%.0f", n}'
}

if [[ -z $TABLE_FROM ]]; then
  read -ra rate_list <<<"$RATES"
  ((${#rate_list[@]})) || usage_error "--rates is empty"
  declare -A seen_rate=()
  for r in "${rate_list[@]}"; do
    b=$(rate_bps "$r")
    ((b >= 10000000)) || usage_error "rate $r is under 10mbit: the P2 squeeze (a tenth of it) would be meaningless"
    [[ -z ${seen_rate[$r]:-} ]] || usage_error "rate $r is given twice"
    seen_rate[$r]=1
  done
  RATES="${rate_list[*]}"
  [[ $DURATION =~ ^[0-9]+([.][0-9]+)?$ ]] || usage_error "--duration takes seconds, not '$DURATION'"
  [[ " $DRIVERS " == *" udp "* ]] || usage_error "--drivers must include udp (the peers and the table's reference)"
fi
need_root
need_binaries "$BUILD/daemon/railyardd" "$RAILCTL" "$LOAD"
need_tools iperf3 mptcpize ucx_perftest jq python3 tc
[[ -f ${CPUTIME[1]} ]] || die "${CPUTIME[1]} is missing"
if [[ -z $TABLE_FROM ]]; then
  # Other work may rebuild build/ meanwhile: the run uses a copy taken now.
  built=$(date -u -r "$BUILD/daemon/railyardd" +'%Y-%m-%d %H:%M UTC')
  pin_build daemon/railyardd tools/railctl tools/fabric-load
  LOAD=$BUILD/tools/fabric-load
fi
OUT=${OUT:-$here/results-$(date +%Y-%m-%d-%H%M).md}
WORK_TOP=$(mktemp -d /tmp/railyard-fabric-bench.XXXXXX)
COMMAND="bench/fabric/run.sh --rates '$RATES' --duration $DURATION --drivers '$DRIVERS'"
with_dpdk() { [[ " $DRIVERS " == *" dpdk "* ]]; }

pct() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0 && a != "") printf "%.1f", 100 * a / b; else print "n/a" }'; }

wl_sock() { echo "/run/railyard-sim/$1/$2/workload.sock"; }
ns_pid() { ip netns pids "rysim-$1-$2" | head -1; }   # any process in host $2's namespace
daemon_pids() { echo "$(daemon_pid "$1" h1) $(daemon_pid "$1" h2)"; }   # rack

# A number from a JSON file (FILTER on the whole file, or with last=1 on its
# last line: fabric-load prints a ready line first), or 0 when there is none
# (a failed command leaves an empty or partial file).
jnum() {   # filter file [last]
  local v
  if [[ ${3:-} == 1 ]]; then v=$(tail -n 1 "$2" 2>/dev/null | jq -r "$1" 2>/dev/null) || v=""
  else v=$(jq -r "$1" "$2" 2>/dev/null) || v=""; fi
  [[ $v =~ ^-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$ ]] && echo "$v" || echo 0
}

# Transfers of mean size MEAN bytes that keep a rate (bit/s, at ~95 % payload
# efficiency) busy for SECONDS, plus a margin.
count_for() {   # bps seconds mean_bytes
  awk -v r="$1" -v s="$2" -v m="$3" 'BEGIN{ n = int(r * 0.95 * s / 8 / m * 1.15) + 1; print (n < 4 ? 4 : n) }'
}

# ---------------------------------------------------------------- CPU
# CPU-seconds (user + system, every thread) from /proc/PID/stat. cpu_split
# prints the sum of the first N processes and of the rest (the ksoftirqd
# threads: softirq work that overflows to them is charged to no contender),
# or "- -" if a process is gone (its figures then read n/a).
mapfile -t KSOFTIRQD < <(pgrep -x 'ksoftirqd/[0-9]+' || true)
cpu_split() {   # n pid...
  local n=$1
  shift
  "${CPUTIME[@]}" ticks "$@" 2>/dev/null | jq -r --argjson n "$n" '"\(.[:$n] | add // 0) \(.[$n:] | add // 0)"' ||
    echo "- -"
}
ksoft_cpu() { if ((${#KSOFTIRQD[@]})); then cpu_split 0 "${KSOFTIRQD[@]}" | cut -d' ' -f2; else echo 0; fi; }
# CPU-seconds per GiB, or n/a when either is unknown.
per_gib() {   # cpu_seconds bytes
  awk -v c="$1" -v b="$2" 'BEGIN{ if (b > 0 && c ~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/) printf "%.2f", c / (b / 1073741824); else print "n/a" }'
}
minus() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a == "-" || b == "-" || a == "" || b == "") print "-"; else printf "%.4f", a - b }'; }

# fabric-load receiver on h2, its CPU measured (bench/dpdk/cputime.py run:
# OUTFILE.cpu, its pid in OUTFILE.cpu.pid); waits until it is ready. Sets
# LOAD_RX_PID (the wrapper's pid).
load_receive() {   # rack expect outfile [receive options]
  local rack=$1 expect=$2 out=$3 _
  shift 3
  rm -f "$out.cpu" "$out.cpu.pid"
  "${CPUTIME[@]}" run "$out.cpu" "$LOAD" receive --socket "$(wl_sock "$rack" h2)" --expect "$expect" --timeout 120 "$@" \
    >"$out" 2>"$out.err" &
  LOAD_RX_PID=$!
  bg+=("$LOAD_RX_PID")
  for _ in $(seq 200); do
    if grep -q '"ready":true' "$out" 2>/dev/null; then
      [[ -s $out.cpu.pid ]] && bg+=("$(cat "$out.cpu.pid")")
      return 0
    fi
    sleep 0.05
  done
  die "fabric-load receiver did not get ready: $(cat "$out.err")"
}

declare -A R   # results of the rate being run, saved to its state.sh and printed in its table

# ---------------------------------------------------------------- P1
P1_REPEATS=2   # every contender runs this often, interleaved; the best run counts

# One run of a contender: "MBITS CPU BYTES KSOFTIRQD [WORKLOAD_CPU]" (CPU in
# seconds, - when unknown), in R[run_CONTENDER_KEY_REP].
record() { R[run_$1_$2_$3]=$4; }   # contender key rep "values"

# railyard through the daemon's own probe (railctl send, 4 MiB kv, 8 in
# flight). CPU: both railyardd, /proc/PID/stat before and after. On the first
# run, railctl rails and the daemons' CPU % halfway through.
p1_railctl() {   # rack key rep tag(""|d) n
  local rack=$1 key=$2 rep=$3 t=$4 n=$5 f a b mid="" pids
  read -ra pids <<<"$(daemon_pids "$rack")"
  f=$WORK/p1-railctl-$t$key-$rep.json
  if ((rep == 1)); then
    ( sleep "$(calc "$DURATION / 2")"
      "$RAILCTL" --socket "$(ctl_sock "$rack" h1)" rails >"$WORK/rails-under-load-$t$key.txt" 2>&1
      python3 "$METER" cpu "${pids[@]}" --seconds 1 >"$WORK/cpu-load-$t$key.json"
    ) &
    mid=$!
    bg+=("$mid")
  fi
  a=$(cpu_split 2 "${pids[@]}" "${KSOFTIRQD[@]}")
  "$RAILCTL" --socket "$(ctl_sock "$rack" h1)" --json send --peer h2 --size 4M --count "$n" --concurrency 8 \
    >"$f" 2>"$f.err" || true
  b=$(cpu_split 2 "${pids[@]}" "${KSOFTIRQD[@]}")
  [[ -n $mid ]] && { wait "$mid" || true; }
  R[p1_${t}ry_fail_$key]=$((${R[p1_${t}ry_fail_$key]:-0} + $(jnum '.failed // 0' "$f")))
  record "${t}ry" "$key" "$rep" "$(jnum '(.goodput_bps // 0) / 1e6 | floor' "$f") $(minus "${b% *}" "${a% *}") \
$(jnum '(.bytes // "0") | tonumber' "$f") $(minus "${b#* }" "${a#* }")"
}

# railyard through librailyard: fabric-load, 4 MiB kv, 8 in flight, with
# --checksum off (sender) and --verify off (receiver), so that the figure is
# the workload path without the checks' own CPU. CPU from the moment the first
# transfer is in flight (meter.py mark: leaves out the sender's set-up, which
# fills its 64 MiB region byte by byte) to the end: both railyardd
# (/proc/PID/stat), and apart from them the two fabric-load processes (wait4,
# less what they had used at the mark).
p1_load() {   # rack key rep tag(""|d) n
  local rack=$1 key=$2 rep=$3 t=$4 n=$5 rx tx m s _ b pids rxpid mk daemons="-" ks="-" wl="-"
  read -ra pids <<<"$(daemon_pids "$rack")"
  rx=$WORK/p1-load-rx-$t$key-$rep.json tx=$WORK/p1-load-tx-$t$key-$rep.json
  rm -f "$tx".*
  load_receive "$rack" "$n" "$rx" --verify off
  rxpid=$(cat "$rx.cpu.pid")
  python3 "$METER" mark --ctl "$(ctl_sock "$rack" h1)" --pid-file "$tx.cpu.pid" \
    --pids "${pids[@]}" "$rxpid" "${KSOFTIRQD[@]}" --timeout 60 >"$tx.mark" 2>"$tx.mark.err" &
  m=$!
  bg+=("$m")
  for _ in $(seq 200); do grep -q '"ready"' "$tx.mark" 2>/dev/null && break; sleep 0.05; done
  grep -q '"ready"' "$tx.mark" || die "meter.py mark did not connect to $rack's h1: $(cat "$tx.mark.err")"
  "${CPUTIME[@]}" run "$tx.cpu" "$LOAD" send --socket "$(wl_sock "$rack" h1)" --peer h2 --count "$n" --min 4M --max 4M \
    --activation-share 0 --concurrency 8 --checksum off >"$tx" 2>"$tx.err" &
  s=$!
  bg+=("$s")
  wait "$m" || true
  wait "$s" || true
  wait "$LOAD_RX_PID" || true
  b=$(cpu_split 2 "${pids[@]}" "${KSOFTIRQD[@]}")
  mk=$(tail -n 1 "$tx.mark")
  if [[ $(jq -r '.ok' <<<"$mk" 2>/dev/null) == true && -s $tx.cpu && -s $rx.cpu ]]; then
    daemons=$(minus "${b% *}" "$(jq -r '.cpu[0] + .cpu[1]' <<<"$mk")")
    ks=$(minus "${b#* }" "$(jq -r '.cpu[3:] | add // 0' <<<"$mk")")
    wl=$(awk -v tx="$(cat "$tx.cpu")" -v rx="$(cat "$rx.cpu")" -v t0="$(jq -r '.pid_file_cpu' <<<"$mk")" \
         -v r0="$(jq -r '.cpu[2]' <<<"$mk")" 'BEGIN{printf "%.4f", (tx - t0) + (rx - r0)}')
  else
    log "P1 fabric-load ($rack, run $rep): no CPU figure: $(cat "$tx.mark" "$tx.mark.err" 2>/dev/null | tail -2)"
  fi
  [[ $(tail -n 1 "$rx" | jq -r '.ok' 2>/dev/null) == true ]] || R[p1_${t}fl_bad_$key]=1
  record "${t}fl" "$key" "$rep" "$(jnum '(.goodput_mbps // 0) | floor' "$tx" 1) $daemons $(jnum '.bytes // 0' "$tx" 1) $ks $wl"
}

# A peer from bench/fabric/peers.sh on RACK, ksoftirqd's CPU beside it.
p1_peer() {   # contender key rep function
  local k0 v k1 mb cpu bytes
  k0=$(ksoft_cpu)
  v=$("$4")
  k1=$(ksoft_cpu)
  read -r mb cpu bytes <<<"$v"
  record "$1" "$2" "$3" "${mb:-0} ${cpu:--} ${bytes:-0} $(minus "$k1" "$k0")"
}

# The best of a contender's runs: R[p1_C_KEY] (Mbit/s) and, of the same run,
# R[cpu_C_KEY] (CPU-s/GiB), R[wcpu_C_KEY] (fabric-load's own), R[ks_C_KEY]
# (ksoftirqd meanwhile); R[runs_C_KEY] lists every run.
pick() {   # contender key
  local c=$1 k=$2 rep best=-1 bi=1 runs="" mb cpu bytes ks w
  for ((rep = 1; rep <= P1_REPEATS; rep++)); do
    read -r mb cpu bytes ks w <<<"${R[run_${c}_${k}_$rep]:-0 - 0 -}"
    if [[ -n ${w:-} ]]; then runs+="${runs:+, }$mb ($(per_gib "$cpu" "$bytes") + $(per_gib "$w" "$bytes"))"
    else runs+="${runs:+, }$mb ($(per_gib "$cpu" "$bytes"))"; fi
    if ((mb > best)); then best=$mb bi=$rep; fi
  done
  read -r mb cpu bytes ks w <<<"${R[run_${c}_${k}_$bi]:-0 - 0 -}"
  R[p1_${c}_$k]=$mb R[cpu_${c}_$k]=$(per_gib "$cpu" "$bytes") R[ks_${c}_$k]=$(per_gib "$ks" "$bytes")
  [[ -n ${w:-} ]] && R[wcpu_${c}_$k]=$(per_gib "$w" "$bytes")
  R[runs_${c}_$k]=$runs
}

p1() {   # key rails mtu
  local key=$1 rails=$2 mtu=$3 rack=${PREFIX}$1 total n rep dpdk=0 c
  total=$((rails * RATE_BPS))
  # af_packet vdevs take at most MTU 1500 in DPDK 22.11 (drivers/nic/dpdk/README.md).
  if with_dpdk && ((mtu <= 1500)); then dpdk=1; fi
  log "P1: $rails rails x $RATE, MTU $mtu (rack $rack$( ((dpdk)) && echo ", DPDK rack ${rack}x"))"
  rack_up "$rack" --rails "$rails" --rate "$RATE" --mtu "$mtu"
  ((dpdk)) && rack_up "${rack}x" --rails "$rails" --rate "$RATE" --mtu "$mtu" --driver dpdk
  RACK=$rack RAILS=$rails
  n=$(count_for "$total" "$DURATION" $((4 << 20)))

  # Idle CPU of both daemons (rails up, session established, no traffic).
  R[cpu_idle_$key]=$(python3 "$METER" cpu $(daemon_pids "$rack") --seconds 2 | jq -r '[.[]] | map(tostring) | join(" / ")')
  ((dpdk)) && R[cpu_idle_d$key]=$(python3 "$METER" cpu $(daemon_pids "${rack}x") --seconds 2 |
                                    jq -r '[.[]] | map(tostring) | join(" / ")')
  for ((rep = 1; rep <= P1_REPEATS; rep++)); do
    log "  run $rep of $P1_REPEATS: railyard (railctl send, fabric-load)$( ((dpdk)) && echo ", the same on DPDK"), iperf3, MPTCP, ucx_perftest"
    p1_railctl "$rack" "$key" "$rep" "" "$n"
    p1_load "$rack" "$key" "$rep" "" "$n"
    if ((dpdk)); then
      p1_railctl "${rack}x" "$key" "$rep" d "$n"
      p1_load "${rack}x" "$key" "$rep" d "$n"
    fi
    # Peers on the same rails (bench/fabric/peers.sh).
    p1_peer iperf "$key" "$rep" iperf3_per_rail
    p1_peer mptcp "$key" "$rep" mptcp_all_rails
    PEER_ITERS=$n p1_peer ucx "$key" "$rep" ucx_tag_bw
    cp "$WORK/ucx.out" "$WORK/ucx-$key-$rep.out" 2>/dev/null || true
  done
  for c in ry fl iperf mptcp ucx; do pick "$c" "$key"; done
  R[p1_runs_$key]="railctl ${R[runs_ry_$key]}; fabric-load ${R[runs_fl_$key]}; iperf3 ${R[runs_iperf_$key]}; MPTCP ${R[runs_mptcp_$key]}; ucx ${R[runs_ucx_$key]}"
  R[p1_fl_ok_$key]=$([[ -z ${R[p1_fl_bad_$key]:-} ]] && echo true || echo false)
  R[cpu_load_$key]=$(jq -r '[.[]] | map(tostring) | join(" / ")' "$WORK/cpu-load-$key.json" 2>/dev/null || echo "?")
  if ((dpdk)); then
    pick dry "$key"
    pick dfl "$key"
    R[p1_runs_$key]+="; DPDK railctl ${R[runs_dry_$key]}; DPDK fabric-load ${R[runs_dfl_$key]}"
    R[p1_dfl_ok_$key]=$([[ -z ${R[p1_dfl_bad_$key]:-} ]] && echo true || echo false)
    R[cpu_load_d$key]=$(jq -r '[.[]] | map(tostring) | join(" / ")' "$WORK/cpu-load-d$key.json" 2>/dev/null || echo "?")
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
    # P3: fabric-load with every check on (the defaults: the daemons' CRC32C
    # of every transfer, and the receiver compares every byte).
    load_receive "$rack" "$n" "$WORK/$kind-$tag-rx.json"
    "$LOAD" send --socket "$(wl_sock "$rack" h1)" --peer h2 --count "$n" --min "$min" --max "$max" \
      --activation-share "$share" --concurrency 8 >"$WORK/$kind-$tag-tx.json" 2>"$WORK/$kind-$tag-tx.err" &
  fi
  local tx=$!
  bg+=("$tx")
  sleep 0.4
  # --cpu-pids: both daemons' CPU over the meter's window (for P2's goodput
  # after the squeeze; it includes serving the meter's control requests).
  python3 "$METER" run --rx-pid "$(ns_pid "$rack" h2)" --seconds "$WINDOW" --fault-at "$FAULT_AT" \
    --fault "$(fault_cmd "$rack" "$kind")" --ctl "$(ctl_sock "$rack" h1)" --ctl-hz 200 \
    --rate-bps "$RATE_BPS" --rails 2 --mode "$kind" --chunk $((1500 - 20 - 8 - 32)) --cpu-pids $(daemon_pids "$rack") \
    --out "$WORK/$kind-$tag-samples.json" >"$WORK/$kind-$tag.json"
  "$RAILCTL" --socket "$(ctl_sock "$rack" h1)" rails >"$WORK/rails-$kind-$driver.txt" 2>&1 || true
  wait "$tx" || true
  [[ $kind == squeeze ]] || wait "$LOAD_RX_PID" || true
  rack_down "$rack"
}

fault_mptcp() {   # kind rack P
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
step() { [[ -z $ONLY || " $ONLY " == *" $1 "* ]]; }

# Every step at RATE, into WORK; saves what the table needs to WORK/state.sh.
run_rate() {
  local k f a1 b1 c1 idle1 w1 a2 b2 c2 idle2 w2 started
  RATE_BPS=$(rate_bps "$RATE")
  SQUEEZED_BPS=$((RATE_BPS / 10))
  R=()
  mkdir -p "$WORK"
  started=$(date +%s)
  rate_date=$(date -u +'%Y-%m-%d %H:%M')
  load_start=$(cut -d' ' -f1-3 /proc/loadavg)
  read -r _ a1 b1 c1 idle1 w1 _ </proc/stat
  log "rate $RATE per rail, $DURATION s per throughput figure; work files in $WORK"
  if step p1-2; then p1 2 2 1500; fi
  if step p1-4; then p1 4 4 1500; fi
  if step p1-9000; then p1 2j 2 9000; fi   # the same with jumbo frames, as GPU fabrics run
  if step p2; then
    fault_railyard squeeze "${PREFIX}s" 2
    fault_mptcp squeeze "${PREFIX}s" 2
    if with_dpdk; then fault_railyard squeeze "${PREFIX}sx" 2 dpdk; fi
  fi
  if step p3; then
    fault_railyard down "${PREFIX}d" 3
    fault_mptcp down "${PREFIX}d" 3
    if with_dpdk; then fault_railyard down "${PREFIX}dx" 3 dpdk; fi
  fi
  if step p4; then
    p4
    if with_dpdk; then p4 dpdk; fi
  fi
  elapsed=$(($(date +%s) - started))
  load_end=$(cut -d' ' -f1-3 /proc/loadavg)
  read -r _ a2 b2 c2 idle2 w2 _ </proc/stat
  busy_pct=$(awk -v b="$(((a2 + b2 + c2) - (a1 + b1 + c1)))" -v i="$(((idle2 + w2) - (idle1 + w1)))" 'BEGIN{printf "%.0f", 100 * b / (b + i)}')
  if [[ -n $ONLY ]]; then
    echo "==== rate $RATE"
    for k in "${!R[@]}"; do echo "$k=${R[$k]}"; done | sort
    for f in "$WORK"/*.json; do echo "== ${f##*/}"; { grep -v '^{"t0"' "$f" || true; } | tail -c 1500; echo; done   # samples files are all t0 lines
    return 0
  fi
  { declare -p R; declare -p elapsed rate_date load_start load_end busy_pct RATE RATE_BPS SQUEEZED_BPS; } >"$WORK/state.sh"
}

if [[ -n $TABLE_FROM ]]; then
  rmdir "$WORK_TOP"
  WORK_TOP=$TABLE_FROM
  [[ -f $WORK_TOP/run-state.sh ]] ||
    die "$WORK_TOP has no run-state.sh: not the work directory of a complete run of this version of run.sh"
  source "$WORK_TOP/run-state.sh"
else
  run_started=$(date +%s)
  run_date=$(date -u +'%Y-%m-%d %H:%M UTC')
  railyard_rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
  log "rates ${RATES// /, } per rail; work files in $WORK_TOP"
  for RATE in $RATES; do
    WORK=$WORK_TOP/$RATE
    run_rate
  done
  [[ -z $ONLY ]] || exit 0
  run_elapsed=$(($(date +%s) - run_started))
  declare -p RATES DURATION DRIVERS COMMAND run_date run_elapsed railyard_rev built >"$WORK_TOP/run-state.sh"
fi

# ---------------------------------------------------------------- table
ms() { awk -v s="$1" 'BEGIN{ if (s == "null" || s == "") print "never"; else printf "%.0f ms", s * 1000 }'; }
ms1() { awk -v s="$1" 'BEGIN{ if (s == "null" || s == "") print "n/a"; else printf "%.1f ms", s * 1000 }'; }
verdict() { awk -v ok="$1" 'BEGIN{ print (ok ? "**met**" : "**missed**") }'; }
# a ÷ b as "N.N×", or n/a.
times() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a + 0 > 0 && b + 0 > 0) printf "%.1f×", a / b; else print "n/a" }'; }

# Ceilings in the bytes tbf charges (the frame without FCS: MTU + 14).
# railyard, 4 MiB transfers (wire v3, fabric/wire.h): a chunk is MTU - IP 20 -
# UDP 8 - the 32-byte DATA header; a transfer's first 256 chunks carry its
# 28-byte meta instead of as much payload. TCP: MTU - 20 - 20 - 12 (timestamps).
ceil_ry() {
  awk -v m="$1" 'BEGIN{ B = 4194304; c = m - 20 - 8 - 32; mc = c - 28
    f = (B <= 256 * mc) ? int((B + mc - 1) / mc) : 256 + int((B - 256 * mc + c - 1) / c)
    printf "%.2f", 100 * B / (f * (m + 14)) }'
}
ceil_ry_steady() { calc "($1 - 20 - 8 - 32) / ($1 + 14) * 100"; }   # a chunk without meta
ceil_tcp() { calc "($1 - 20 - 20 - 12) / ($1 + 14) * 100"; }

# A P1 goodput cell: "Mbit/s (% of line), CPU-s/GiB"; fabric-load's gives the
# daemons and the workload apart.
gcell() {   # contender key line_mbit
  local c=$1 k=$2 line=$3 v=${R[p1_$1_$2]:-}
  if [[ -z $v ]]; then
    if [[ $c == d* && " $DRIVERS " != *" dpdk "* ]]; then echo "not run (--drivers)"; else echo "n/a (af_packet: MTU ≤ 1500)"; fi
    return 0
  fi
  if [[ -n ${R[wcpu_${c}_$k]:-} ]]; then
    echo "$v Mbit/s ($(pct "$v" "$line") %), daemons ${R[cpu_${c}_$k]} CPU-s/GiB, workload ${R[wcpu_${c}_$k]}"
  else
    echo "$v Mbit/s ($(pct "$v" "$line") %), ${R[cpu_${c}_$k]} CPU-s/GiB"
  fi
}
# tbf's buckets (256 KB a rail) are full when a run starts, so a contender can
# pass the line rate by up to rails × 256 KB over the run: in Mbit/s, for the
# run whose goodput the table shows (R[run_C_KEY_REP]: Mbit/s and bytes).
burst_mbit() {   # contender key rails
  local rep mb cpu bytes best=-1 secs=0
  for ((rep = 1; rep <= P1_REPEATS; rep++)); do
    read -r mb cpu bytes _ <<<"${R[run_$1_$2_$rep]:-0 - 0 -}"
    if ((mb > best)); then best=$mb secs=$(awk -v b="$bytes" -v m="$mb" 'BEGIN{ print (m > 0 ? b * 8 / (m * 1e6) : 0) }'); fi
  done
  awk -v r="$3" -v s="$secs" 'BEGIN{ if (s > 0) printf "%.1f", r * 262144 * 8 / s / 1e6; else print 0 }'
}
# The P1 verdict (issue 16): railyard, through railctl send and through
# fabric-load, at least MPTCP's goodput in the same run (the buckets' allowance
# helps both alike). A missing figure is a miss.
p1_met() { awk -v a="$1" -v b="$2" -v m="$3" 'BEGIN{ print (a + 0 > 0 && b + 0 > 0 && m + 0 > 0 && a >= m && b >= m) }'; }   # railctl fabric-load mptcp

row_p1() {   # key rails mtu
  local k=$1 r=$2 mtu=$3 line=$(($2 * RATE_BPS / 1000000)) ceil dv="" burst
  ceil=$(ceil_ry "$mtu")
  burst=$(burst_mbit ry "$k" "$r")
  if [[ -n ${R[p1_dry_$k]:-} ]]; then
    dv="; DPDK: $(verdict "$(p1_met "${R[p1_dry_$k]}" "${R[p1_dfl_$k]:-0}" "${R[p1_mptcp_$k]:-0}")"), $(pct "${R[p1_dry_$k]}" "$(calc "$line * $ceil / 100")") % of the ceiling, DPDK ÷ UDP driver = $(pct "${R[p1_dry_$k]}" "${R[p1_ry_$k]}") %, CPU per byte (railctl send) DPDK ÷ UDP driver = $(times "${R[cpu_dry_$k]}" "${R[cpu_ry_$k]}")"
  fi
  printf '| P1 goodput, 4 MiB kv, %s × %s, MTU %s (Mbit/s, %% of %s; CPU-s per GiB) | %s | %s | %s | %s | %s | %s | %s | railctl send and fabric-load ≥ MPTCP: %s (railyard carries at most %.1f %% of the line at MTU %s: IP, UDP, the 32-byte DATA header, the meta in the first 256 chunks; tbf'"'"'s buckets, full at the start, may add up to %s Mbit/s to any contender in this run); %s %% of that ceiling; railyard ÷ iperf3 = %s %%; CPU per byte, railctl send ÷ iperf3 = %s, ÷ MPTCP = %s%s |\n' \
    "$r" "$RATE" "$mtu" "$line" \
    "$(gcell ry "$k" "$line")" "$(gcell fl "$k" "$line")" "$(gcell dry "$k" "$line")" "$(gcell dfl "$k" "$line")" \
    "$(gcell iperf "$k" "$line")" "$(gcell mptcp "$k" "$line")" "$(gcell ucx "$k" "$line")" \
    "$(verdict "$(p1_met "${R[p1_ry_$k]:-0}" "${R[p1_fl_$k]:-0}" "${R[p1_mptcp_$k]:-0}")")" "$ceil" "$mtu" "$burst" \
    "$(pct "${R[p1_ry_$k]}" "$(calc "$line * $ceil / 100")")" "$(pct "${R[p1_ry_$k]}" "${R[p1_iperf_$k]}")" \
    "$(times "${R[cpu_ry_$k]}" "${R[cpu_iperf_$k]}")" "$(times "${R[cpu_ry_$k]}" "${R[cpu_mptcp_$k]}")" "$dv"
}

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
p4_noise_of() {   # prefix label
  awk -v p99="$(p4_idle_of "$1")" -v p50="$(us "p4-${1}idle.json" latency_p50_ns)" -v what="$2" \
    'BEGIN{ if (p99 > 2 * p50) printf " (%sinconclusive here: unloaded p99 is %.1f× its p50, the machine was busy)", what, p99 / p50 }'
}
tf() { [[ $1 == true ]] && echo 1 || echo 0; }
mptcp_ok() { jq -r 'if .error then "error: \(.error)" else "stream ok" end' "$1" 2>/dev/null || echo "no result"; }
# The ksoftirqd figures of one P1 block, for the notes.
ks_of() {   # key
  local k=$1 c out=""
  for c in ry fl dry dfl iperf mptcp ucx; do
    [[ -n ${R[ks_${c}_$k]:-} ]] || continue
    out+="${out:+, }$(case $c in ry) echo railctl ;; fl) echo fabric-load ;; dry) echo DPDK railctl ;;
      dfl) echo DPDK fabric-load ;; iperf) echo iperf3 ;; mptcp) echo MPTCP ;; ucx) echo ucx ;; esac) ${R[ks_${c}_$k]}"
  done
  echo "$out"
}
# The run-log row's P1 cell: railctl / fabric-load / MPTCP Mbit/s.
three() { if [[ -n ${R[p1_ry_$1]:-} ]]; then echo "${R[p1_ry_$1]} / ${R[p1_fl_$1]} / ${R[p1_mptcp_$1]}"; else echo "— / — / —"; fi; }

# The table of one rate (WORK/table.md) and its run-log row (WORK/row.md).
render_rate() {
  local sq_ry=$WORK/squeeze-ry.json sq_mp=$WORK/squeeze-mptcp.json dn_ry=$WORK/down-ry.json dn_mp=$WORK/down-mptcp.json
  local sq_dry=$WORK/squeeze-dry.json dn_dry=$WORK/down-dry.json
  local lost_ry p2_ok p3_ok p3_noise p4_noise p4_ok p4_dok="" d2="—" d3="—" d4a="—" d4b="—" v2="" v3="" v4="" f
  lost_ry=$(p3_lost ry)
  p2_ok=$(p2_met "$sq_ry")
  p3_ok=$(p3_met "$dn_ry" ry)
  p3_noise=$(jq -r 'if .baseline_stall_s >= 0.008 then " (inconclusive here: the same measure before the fault was \(.baseline_stall_s * 1000 | floor) ms, the machine was busy)" else "" end' "$dn_ry")
  p4_noise=$(p4_noise_of "" "")
  p4_ok=$(awk -v a="$(p4_ratio p4-loaded-railctl.json)" -v b="$(p4_ratio p4-loaded-load.json)" 'BEGIN{print (a <= 2 && b <= 2)}')
  if have_dpdk_p4; then
    p4_dok=$(awk -v a="$(p4_ratio p4-d-loaded-railctl.json d-)" -v b="$(p4_ratio p4-d-loaded-load.json d-)" 'BEGIN{print (a <= 2 && b <= 2)}')
  fi
  if [[ -f $sq_dry && -f $dn_dry ]]; then
    d2=$(p2_cell "$sq_dry") v2="; DPDK: $(verdict "$(tf "$(p2_met "$sq_dry")")")"
    d3="$(p3_lost dry) lost ($(p3_sent dry); receiver: $(p3_rx dry)); $(p3_cell "$dn_dry")"
    v3="; DPDK: $(verdict "$(tf "$(p3_met "$dn_dry" dry)")")"
  fi
  if have_dpdk_p4; then
    d4a="kv load by railctl send: $(p4_cell p4-d-loaded-railctl.json p4-d-util-railctl.json d-)"
    d4b="kv load by fabric-load: $(p4_cell p4-d-loaded-load.json p4-d-util-load.json d-)"
    v4="; DPDK: $(verdict "$p4_dok")$(p4_noise_of d- "DPDK ")"
  fi
  {
    echo "### $RATE per rail"
    echo
    echo "Rack: rack-sim, 2 hosts, veth rails with \`tbf rate $RATE burst 256kb latency 20ms\` on every host's rail egress, MTU 1500 (and 9000 where the row says so). Started $rate_date UTC, took ${elapsed} s; load average $load_start at the start, $load_end at the end, CPU busy $busy_pct % (all processes)."
    awk -v l="${load_start%% *}" -v n="$(nproc)" 'BEGIN{ if (l > n) printf "\n**The machine was busy with other work (load average %s on %d cores at the start): figures that depend on timing (P3 stall, P4 p99) are noisy, and CPU per byte leans high (caches and cores shared); rerun when it is quiet.**\n", l, n }'
    echo
    echo "| figure | railyard, UDP driver (railctl send) | railyard, UDP driver (librailyard, fabric-load; P1 with --checksum off / --verify off, P3 with every byte checked) | railyard, DPDK driver (railctl send) | railyard, DPDK driver (fabric-load, as beside) | iperf3, 1 TCP stream per rail | MPTCP (mptcpize iperf3) | ucx_perftest tag_bw (tcp) | target and verdict (railyard) |"
    echo "|---|---|---|---|---|---|---|---|---|"
    row_p1 2 2 1500
    row_p1 4 4 1500
    if [[ -n ${R[p1_ry_2j]:-} ]]; then row_p1 2j 2 9000; fi
    printf '| P2 rail r1 squeezed to 10 %% (2 × %s: %s Mbit/s left) | — | %s | — | %s | — | %s | — | ≥ 90 %% within 100 ms: UDP: %s%s |\n' \
      "$RATE" $(((RATE_BPS + SQUEEZED_BPS) / 1000000)) "$(p2_cell "$sq_ry")" "$d2" "$(p2_cell "$sq_mp")" "$(verdict "$(tf "$p2_ok")")" "$v2"
    printf '| P3 rail r1 set down (2 × %s) | — | %s lost (%s; receiver: %s); %s | — | %s | — | %s; %s | — | 0 lost, stall ≤ 10 ms: UDP: %s%s%s |\n' \
      "$RATE" "$lost_ry" "$(p3_sent ry)" "$(p3_rx ry)" "$(p3_cell "$dn_ry")" "$d3" "$(mptcp_ok "$WORK/down-mptcp-iperf.json")" "$(p3_cell "$dn_mp")" \
      "$(verdict "$(tf "$p3_ok")")" "$v3" "$p3_noise"
    printf '| P4 p99 of 64 KiB activation (%s, one at a time), loaded ÷ unloaded (2 × %s) | kv load by railctl send: %s | kv load by fabric-load: %s | %s | %s | — | — | — | ≤ 2×: UDP: %s%s%s |\n' \
      "$P4_COUNT" "$RATE" "$(p4_cell p4-loaded-railctl.json p4-util-railctl.json)" "$(p4_cell p4-loaded-load.json p4-util-load.json)" \
      "$d4a" "$d4b" "$(verdict "$p4_ok")" "$v4" "$p4_noise"
    echo
    echo "Ceilings (tbf charges the frame without FCS, MTU + 14): railyard $(printf '%.1f' "$(ceil_ry 1500)") % of the line at MTU 1500, $(printf '%.1f' "$(ceil_ry 9000)") % at 9000 for 4 MiB transfers (IP 20 + UDP 8 + the 32-byte DATA header a frame; a transfer's first 256 chunks also carry its 28-byte meta; without the meta, $(printf '%.1f' "$(ceil_ry_steady 1500)") % and $(printf '%.1f' "$(ceil_ry_steady 9000)") %); TCP $(printf '%.1f' "$(ceil_tcp 1500)") % and $(printf '%.1f' "$(ceil_tcp 9000)") % (IP 20 + TCP 20 + timestamps 12)."
    echo "CPU per byte (CPU-s/GiB; bench/fabric/HOW.md says exactly what each includes): user + system CPU-seconds per GiB delivered, in the run whose goodput the cell shows. railctl send: both railyardd. fabric-load: both railyardd (\"daemons\"), and apart from them both fabric-load processes (\"workload\"), from the first transfer on. iperf3, MPTCP, ucx_perftest: their processes on both hosts. Softirq work (veth, bridge, tbf) is charged to whichever process it interrupts; what overflows to ksoftirqd is in no cell: during the same runs it took (CPU-s/GiB, shared with all other work) 2 rails: $(ks_of 2); 4 rails: $(ks_of 4)$([[ -n ${R[p1_ry_2j]:-} ]] && echo "; MTU 9000: $(ks_of 2j)")."
    echo "Daemon CPU (h1 / h2, % of one core): idle ${R[cpu_idle_2]} (2 rails), ${R[cpu_idle_4]} (4 rails); during P1's railctl send ${R[cpu_load_2]} (2 rails), ${R[cpu_load_4]} (4 rails), ${R[cpu_load_2j]:-?} (2 rails, MTU 9000)."
    if [[ -n ${R[cpu_idle_d2]:-} ]]; then
      echo "DPDK daemons' CPU (h1 / h2, % of one core): idle ${R[cpu_idle_d2]} (2 rails), ${R[cpu_idle_d4]:-?} (4 rails); during P1's railctl send ${R[cpu_load_d2]:-?} (2 rails), ${R[cpu_load_d4]:-?} (4 rails). DPDK P1: railctl send failures ${R[p1_dry_fail_2]:-?} / ${R[p1_dry_fail_4]:-?}; fabric-load receiver got every transfer: ${R[p1_dfl_ok_2]:-?} / ${R[p1_dfl_ok_4]:-?}."
    fi
    echo "P1: best of $P1_REPEATS interleaved runs each (Mbit/s (CPU-s/GiB; fabric-load: daemons + workload), 2 rails: ${R[p1_runs_2]}; 4 rails: ${R[p1_runs_4]}; 2 rails at MTU 9000: ${R[p1_runs_2j]:-not run}). railctl send failures ${R[p1_ry_fail_2]:-?} / ${R[p1_ry_fail_4]:-?} / ${R[p1_ry_fail_2j]:-?}. fabric-load ran with --checksum off (sender: no CRC32C in the daemons) and --verify off (receiver: no byte comparison), so its column is the workload path without the checks' own CPU; its receiver got every transfer: ${R[p1_fl_ok_2]:-?} / ${R[p1_fl_ok_4]:-?} / ${R[p1_fl_ok_2j]:-?}. P3 runs fabric-load with every check on."
    echo "P4: unloaded p99 $(us p4-idle.json latency_p99_ns) µs before and $(us p4-idle2.json latency_p99_ns) µs after the loaded probes; the lower is the reference."
    echo "P2 railyard after the squeeze: goodput $(jq -r '.goodput_steady_bps / 1e6 | floor' "$sq_ry") Mbit/s ($(jq -r '.goodput_steady_of_capacity * 100 | floor' "$sq_ry") % of the $(((RATE_BPS + SQUEEZED_BPS) / 1000000)) Mbit/s line left), daemons $(per_gib "$(jq -r '.cpu_s // "-"' "$sq_ry")" "$(jq -r '.bytes_out_window // 0' "$sq_ry")") CPU-s/GiB over the meter's whole ${WINDOW}-s window (bytes of the transfers completed in it; the daemon also answers the meter's 400 control requests a second), r1's share of packets $(jq -r '.r1_share_steady * 1000 | floor / 10' "$sq_ry") % (its share of the capacity: $(jq -r '.r1_fair_share * 1000 | floor / 10' "$sq_ry") %)."
    echo "P3 railyard: longest time without a completed transfer around the fault $(ms1 "$(jq -r '.completion_gap_around_fault_s' "$dn_ry")"), before it $(ms1 "$(jq -r '.completion_gap_before_s' "$dn_ry")"); rail r1 after: $(jq -r '.rails_sender[1] | "\(.state), \(.down_events) down event(s)"' "$dn_ry")."
    for f in "$sq_ry" "$dn_ry"; do
      [[ $(jq -r '.load_running_at_end' "$f") == true ]] ||
        echo "**Warning**: the railyard load of ${f##*/} ended before the meter did: its steady-state figures are too low."
    done
  } >"$WORK/table.md"
  # The run-log row (bench/README.md): date, rate, revision, load; P1 railctl /
  # fabric-load / MPTCP at 2 × 1500, 4 × 1500, 2 × 9000; P2; P3; P4; CPU per byte.
  printf '| %s | %s | railyard %s | %s | %s | %s | %s | %s %%, %s | %s lost, %s | %s× / %s× | %s | %s |\n' \
    "$rate_date" "$RATE" "$railyard_rev" "${load_start%% *}" "$(three 2)" "$(three 4)" "$(three 2j)" \
    "$(jq -r '.reached_steady * 100 | floor' "$sq_ry")" "$(ms "$(jq -r '.adapt_s' "$sq_ry")")" \
    "$lost_ry" "$(ms1 "$(jq -r '.stall_s' "$dn_ry")")" \
    "$(p4_ratio p4-loaded-railctl.json)" "$(p4_ratio p4-loaded-load.json)" \
    "${R[cpu_ry_2]:-n/a}" "${R[cpu_mptcp_2]:-n/a}" >"$WORK/row.md"
}

for RATE in $RATES; do
  WORK=$WORK_TOP/$RATE
  [[ -f $WORK/state.sh ]] || die "$WORK/state.sh is missing"
  source "$WORK/state.sh"
  render_rate
done

ROW_HEADER='| date (UTC) | rate per rail | railyard | load at start | P1 2×MTU1500 railctl / fabric-load / MPTCP Mbit/s | P1 4×MTU1500 (same three) | P1 2×MTU9000 (same three) | P2 % of remaining reached, ms to 90 % | P3 lost, longest stall | P4 loaded÷unloaded railctl / fabric-load | railctl CPU-s/GiB at 2×MTU1500 | MPTCP CPU-s/GiB at 2×MTU1500 |'
{
  echo "## Fabric benchmark, $run_date"
  echo
  echo "Command: \`$COMMAND\` (took ${run_elapsed} s). Machine: $(nproc) cores, $(uname -r), shared with other work (see each rate's load). railyard $railyard_rev (git HEAD; the binaries are build/'s, built $built, copied at the start)."
  for RATE in $RATES; do
    echo
    cat "$WORK_TOP/$RATE/table.md"
  done
  echo
  echo "### Run-log rows (one per rate, for the dated run log in bench/README.md)"
  echo
  echo "$ROW_HEADER"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  for RATE in $RATES; do cat "$WORK_TOP/$RATE/row.md"; done
} >"$WORK_TOP/tables.md"

{
  cat "$WORK_TOP/tables.md"
  echo
  cat "$here/HOW.md" 2>/dev/null || true
  for RATE in $RATES; do
    WORK=$WORK_TOP/$RATE
    echo
    echo "### $RATE: railctl rails on h1 during P1 (4 rails)"
    echo '```'
    cat "$WORK/rails-under-load-4.txt" 2>/dev/null || echo "(none)"
    echo '```'
    echo "### $RATE: railctl rails on h1 at the end of P2 (squeeze) and P3 (down)"
    echo '```'
    cat "$WORK/rails-squeeze-udp.txt" "$WORK/rails-down-udp.txt" 2>/dev/null || true
    echo '```'
    echo "### $RATE: raw meter results"
    for f in squeeze-ry squeeze-mptcp down-ry down-mptcp; do
      echo "- $f: \`$(jq -c 'del(.rails_sender)' "$WORK/$f.json")\`"
    done
  done
} >"$OUT"

cat "$WORK_TOP/tables.md"
echo
echo "written to $OUT (raw files in $WORK_TOP)"
