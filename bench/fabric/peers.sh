# shellcheck shell=bash
# Peers measured on the same rack-sim rails as railyard (sourced by run.sh).
# Each function prints one line "MBITS CPU BYTES": goodput in Mbit/s from host
# h1 to h2; the user + system CPU-seconds of the peer's processes on both hosts
# (sender and receiver; from wait4 via bench/dpdk/cputime.py run, as
# bench/dpdk/p5.sh measures them), or - when a process did not end; and the
# bytes the receiver got.
# Uses: RACK (rack name), RAILS, DURATION, WORK, and SIM, repo and peer_addr
# from bench/lib.sh.

PEER_CPU=(python3 "$repo/bench/dpdk/cputime.py")

# The CPU-seconds in FILES summed, once they all exist (cputime.py writes each
# when its process exits); "-" if one is still missing after SECONDS, and then
# the processes named in FILE.pid are killed.
peer_cpu_sum() {   # seconds file...
  local limit=$1 f _ missing=1
  shift
  for _ in $(seq "$(awk -v s="$limit" 'BEGIN{print int(s * 20)}')"); do
    missing=0
    for f in "$@"; do [[ -s $f ]] || missing=1; done
    ((missing)) || break
    sleep 0.05
  done
  if ((missing)); then
    for f in "$@"; do
      if [[ ! -s $f && -s $f.pid ]]; then kill "$(cat "$f.pid")" 2>/dev/null || true; fi
    done
    echo -
    return 0
  fi
  cat "$@" | awk '{s += $1} END {printf "%.4f", s}'
}

# iperf3, one TCP stream per rail, all rails at once; sum of receivers' rates.
iperf3_per_rail() {
  local j pids=() total=0 bytes=0 cpu files=()
  rm -f "$WORK"/iperf3.*
  for ((j = 0; j < RAILS; j++)); do
    "$SIM" exec --name "$RACK" h2 "${PEER_CPU[@]}" run "$WORK/iperf3.srv$j.cpu" \
      iperf3 -s -1 -p $((5201 + j)) -B "$(peer_addr 2 "$j")" >/dev/null 2>&1 &
    files+=("$WORK/iperf3.srv$j.cpu")
  done
  sleep 0.5
  for ((j = 0; j < RAILS; j++)); do
    "$SIM" exec --name "$RACK" h1 "${PEER_CPU[@]}" run "$WORK/iperf3.cli$j.cpu" \
      iperf3 -c "$(peer_addr 2 "$j")" -p $((5201 + j)) -B "$(peer_addr 1 "$j")" \
      -t "$DURATION" -J >"$WORK/iperf3.$j.json" 2>/dev/null &
    pids+=($!)
    files+=("$WORK/iperf3.cli$j.cpu")
  done
  wait "${pids[@]}" 2>/dev/null || true
  cpu=$(peer_cpu_sum 5 "${files[@]}")
  for ((j = 0; j < RAILS; j++)); do
    total=$(jq -r --argjson t "$total" '(.end.sum_received.bits_per_second // 0) / 1e6 + $t' "$WORK/iperf3.$j.json" 2>/dev/null || echo "$total")
    bytes=$(jq -r --argjson t "$bytes" '(.end.sum_received.bytes // 0) + $t' "$WORK/iperf3.$j.json" 2>/dev/null || echo "$bytes")
  done
  printf '%.0f %s %.0f\n' "$total" "$cpu" "$bytes"
}

# MPTCP endpoints: h1 opens a subflow from every extra rail, h2 announces its
# addresses on them (kernel path manager).
mptcp_setup() {
  local j h
  for h in h1 h2; do
    "$SIM" exec --name "$RACK" $h sysctl -q net.mptcp.enabled=1
    "$SIM" exec --name "$RACK" $h ip mptcp limits set subflow 8 add_addr_accepted 8
    "$SIM" exec --name "$RACK" $h ip mptcp endpoint flush
  done
  for ((j = 1; j < RAILS; j++)); do
    "$SIM" exec --name "$RACK" h1 ip mptcp endpoint add "$(peer_addr 1 "$j")" dev "r$j" subflow
    "$SIM" exec --name "$RACK" h2 ip mptcp endpoint add "$(peer_addr 2 "$j")" dev "r$j" signal
  done
}

# MPTCP: one iperf3 connection, subflows over every rail.
mptcp_all_rails() {
  local cpu
  rm -f "$WORK"/mptcp.*
  mptcp_setup
  "$SIM" exec --name "$RACK" h2 "${PEER_CPU[@]}" run "$WORK/mptcp.srv.cpu" \
    mptcpize run iperf3 -s -1 -p 5301 >/dev/null 2>&1 &
  sleep 0.5
  "$SIM" exec --name "$RACK" h1 "${PEER_CPU[@]}" run "$WORK/mptcp.cli.cpu" \
    mptcpize run iperf3 -c "$(peer_addr 2 0)" -p 5301 -t "$DURATION" -J >"$WORK/mptcp.json" 2>/dev/null || true
  cpu=$(peer_cpu_sum 5 "$WORK/mptcp.srv.cpu" "$WORK/mptcp.cli.cpu")
  echo "$(jq -r '(.end.sum_received.bits_per_second // 0) / 1e6 | floor' "$WORK/mptcp.json" 2>/dev/null || echo 0)" \
    "$cpu" "$(jq -r '.end.sum_received.bytes // 0' "$WORK/mptcp.json" 2>/dev/null || echo 0)"
}

# ucx_perftest over TCP on every rail (static multi-rail, as under NIXL);
# bounded by timeout because it hangs when a rail goes away. The server's CPU
# while it waits for the client (the second before the client starts) is
# taken off, as in bench/dpdk/p5.sh.
ucx_tag_bw() {
  local devs_h1="" devs_h2="" j srv s0="" cpu="-" mbit iters=${PEER_ITERS:-200}
  rm -f "$WORK"/ucx.*
  for ((j = 0; j < RAILS; j++)); do devs_h1+="${devs_h1:+,}r$j"; devs_h2+="${devs_h2:+,}r$j"; done
  UCX_TLS=tcp UCX_NET_DEVICES=$devs_h2 timeout $((DURATION + 20)) \
    "$SIM" exec --name "$RACK" h2 "${PEER_CPU[@]}" run "$WORK/ucx.srv.cpu" ucx_perftest -p 13337 >/dev/null 2>&1 &
  srv=$!
  sleep 1
  if [[ -s $WORK/ucx.srv.cpu.pid ]]; then
    s0=$("${PEER_CPU[@]}" ticks "$(cat "$WORK/ucx.srv.cpu.pid")" 2>/dev/null | jq '.[0]' 2>/dev/null) || s0=""
  fi
  UCX_TLS=tcp UCX_NET_DEVICES=$devs_h1 UCX_MAX_RNDV_RAILS=$RAILS timeout $((DURATION + 20)) \
    "$SIM" exec --name "$RACK" h1 "${PEER_CPU[@]}" run "$WORK/ucx.cli.cpu" \
    ucx_perftest "$(peer_addr 2 0)" -p 13337 -t tag_bw -s 4194304 -n "$iters" >"$WORK/ucx.out" 2>&1 || true
  wait "$srv" 2>/dev/null || true
  # Final line: ... bandwidth columns in MB/s; take the average bandwidth.
  mbit=$(awk '/Final:/ {print int($(NF-2) * 8 * 1.048576)}' "$WORK/ucx.out" | tail -1)
  if [[ -n $mbit && -n $s0 && -s $WORK/ucx.srv.cpu && -s $WORK/ucx.cli.cpu ]]; then
    cpu=$(awk -v c="$(cat "$WORK/ucx.cli.cpu")" -v s="$(cat "$WORK/ucx.srv.cpu")" -v w="$s0" 'BEGIN{printf "%.4f", c + s - w}')
  fi
  if [[ -n $mbit ]]; then echo "$mbit $cpu $((iters * 4194304))"; else echo "0 - 0"; fi
}
