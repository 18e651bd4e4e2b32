# Peers measured on the same rack-sim rails as railyard (sourced by run.sh).
# Each function prints one number: goodput in Mbit/s from host h1 to h2.
# Uses: RACK (rack name), RAILS, DURATION, and SIM and peer_addr from bench/lib.sh.

# iperf3, one TCP stream per rail, all rails at once; sum of receivers' rates.
iperf3_per_rail() {
  local j pids=() total=0
  for ((j = 0; j < RAILS; j++)); do
    "$SIM" exec --name "$RACK" h2 iperf3 -s -1 -p $((5201 + j)) -B "$(peer_addr 2 "$j")" >/dev/null 2>&1 &
  done
  sleep 0.5
  for ((j = 0; j < RAILS; j++)); do
    "$SIM" exec --name "$RACK" h1 iperf3 -c "$(peer_addr 2 "$j")" -p $((5201 + j)) -B "$(peer_addr 1 "$j")" \
      -t "$DURATION" -J >"$WORK/iperf3.$j.json" 2>/dev/null &
    pids+=($!)
  done
  wait "${pids[@]}" 2>/dev/null || true
  for ((j = 0; j < RAILS; j++)); do
    total=$(jq -r --argjson t "$total" '(.end.sum_received.bits_per_second // 0) / 1e6 + $t' "$WORK/iperf3.$j.json" 2>/dev/null || echo "$total")
  done
  printf '%.0f\n' "$total"
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
  mptcp_setup
  "$SIM" exec --name "$RACK" h2 mptcpize run iperf3 -s -1 -p 5301 >/dev/null 2>&1 &
  sleep 0.5
  "$SIM" exec --name "$RACK" h1 mptcpize run iperf3 -c "$(peer_addr 2 0)" -p 5301 -t "$DURATION" -J \
    >"$WORK/mptcp.json" 2>/dev/null || true
  jq -r '(.end.sum_received.bits_per_second // 0) / 1e6 | floor' "$WORK/mptcp.json" 2>/dev/null || echo 0
}

# ucx_perftest over TCP on every rail (static multi-rail, as under NIXL);
# bounded by timeout because it hangs when a rail goes away.
ucx_tag_bw() {
  local devs_h1="" devs_h2="" j
  for ((j = 0; j < RAILS; j++)); do devs_h1+="${devs_h1:+,}r$j"; devs_h2+="${devs_h2:+,}r$j"; done
  UCX_TLS=tcp UCX_NET_DEVICES=$devs_h2 timeout $((DURATION + 20)) \
    "$SIM" exec --name "$RACK" h2 ucx_perftest -p 13337 >/dev/null 2>&1 &
  sleep 1
  UCX_TLS=tcp UCX_NET_DEVICES=$devs_h1 UCX_MAX_RNDV_RAILS=$RAILS timeout $((DURATION + 20)) \
    "$SIM" exec --name "$RACK" h1 ucx_perftest "$(peer_addr 2 0)" -p 13337 -t tag_bw -s 4194304 -n "${PEER_ITERS:-200}" \
    >"$WORK/ucx.out" 2>&1 || true
  # Final line: ... bandwidth columns in MB/s; take the average bandwidth.
  awk '/Final:/ {print int($(NF-2) * 8 * 1.048576)}' "$WORK/ucx.out" | tail -1
}
