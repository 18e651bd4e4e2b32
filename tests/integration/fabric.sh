#!/usr/bin/env bash
# The fabric on rack-sim with real daemons: random transfers verified byte by
# byte, a rail set down mid-run, 5 % loss on a rail, a peer with the wrong key,
# garbage datagrams, and librailyard misuse.
source "$(dirname "$0")/lib.sh"
require_root

SIM=$(cd "$(dirname "$0")/../.." && pwd)/tools/rack-sim
# FABRIC_DRIVER: udp (default), dpdk (every host on DPDK ports), or
# mixed (h1 on DPDK, h2 on kernel UDP). FABRIC_PMD: the DPDK hosts' vdevs,
# af_packet (default) or af_xdp.
driver=${FABRIC_DRIVER:-udp}
pmd=${FABRIC_PMD:-af_packet}
h2_kernel=$([[ $driver == dpdk ]] && echo 0 || echo 1)   # can h2's kernel see its rails (eBPF)?
rack=it$$
rack=${rack:0:8}
export RAILYARD_BUILDDIR=$BUILD
on_exit "'$SIM' down --name $rack"
state=/run/railyard-sim/$rack

check "rack-sim brings up 2 hosts x 2 rails with daemons ($driver$([[ $driver != udp ]] && echo ", $pmd"))" \
  "$SIM" up --name $rack --hosts 2 --rails 2 --driver "$driver" --pmd "$pmd" --no-bmc
established() { "$SIM" railctl --name $rack h1 --json peers | jq -e '.peers[0].state == "established"'; }
check "the two daemons establish an authenticated session" wait_for 10 established
keepalives() { "$SIM" railctl --name $rack h1 --json rails | jq -e '[.rails[] | (.keepalives // "0" | tonumber) > 0] | all'; }
check "idle rails send keepalives (railctl --json rails: keepalives)" wait_for 5 keepalives
h1_rtt() {  # h1's exported RTT of rail $1 (a DPDK host exports on 127.0.0.1: its rails have no kernel address)
  local at=198.18.0.1
  [[ $driver == udp ]] || at=127.0.0.1
  ip netns exec "rysim-$rack-h1" curl -sf "http://$at:9469/metrics" |
    sed -n "s/^railyard_rail_rtt_seconds{host=\"h1\",rail=\"$1\"} //p"
}
rtt_measured() { local v; v=$(h1_rtt r0); echo "r0 RTT: $v"; [[ $v =~ ^[0-9.e-]+$ ]] && awk -v v="$v" 'BEGIN { exit !(v > 0) }'; }
check "their probes measure the RTT (Prometheus: a positive railyard_rail_rtt_seconds)" wait_for 5 rtt_measured

check "1000 transfers of 1 B to 16 MiB, both classes: every byte verified at the receiver" run_load base 1000
status_whole() {
  # --json status carries the same rail and peer records as --json rails and
  # peers (it printed every counter as 0).
  local status rails
  status=$("$SIM" railctl --name $rack h1 -j status) || return 1
  rails=$("$SIM" railctl --name $rack h1 -j rails) || return 1
  jq -e -n --argjson s "$status" --argjson r "$rails" '
    ($s.rails | length) == ($r.rails | length) and
    ([range($r.rails | length) as $i | $s.rails[$i].name == $r.rails[$i].name and
      ($s.rails[$i].tx_packets | tonumber) > 0 and ($s.rails[$i].tx_packets | tonumber) <= ($r.rails[$i].tx_packets | tonumber)]
     | all) and
    ($s.peers[0].bytes_sent | tonumber) > 0'
}
check "railctl --json status has each rail's and peer's counters, as rails and peers do" status_whole

r1_tx_bytes() { "$SIM" railctl --name $rack h1 --json rails | jq '.rails[] | select(.name == "r1") | .tx_bytes | tonumber'; }
rail_down() {
  # The link goes down once the load is running on r1, never on a timer: on a
  # fast machine a timer fired after the load had ended (and then took r1 down
  # for the tests that follow).
  local start
  start=$(r1_tx_bytes)
  run_load down 2000 >"$WORK/down.out" 2>&1 &
  local load=$!
  r1_carrying() { (($(r1_tx_bytes) > start + 64 * 1024 * 1024)); }
  wait_for 30 r1_carrying
  local running=0
  kill -0 $load 2>/dev/null && running=1
  ip -n "rysim-$rack-h1" link set r1 down
  wait $load
  local rc=$?
  cat "$WORK/down.out"
  if ((!running)); then
    echo "the load ended before r1 went down: nothing was proven (make it longer)"
    return 1
  fi
  ((rc == 0)) &&
    "$SIM" railctl --name $rack h1 --json rails | jq -e '.rails[] | select(.name == "r1") | .state == "down"' || return 1
  # A warning, with the reason.
  if ! wait_for 5 grep -q '^<4>fabric: rail r1 ([^)]*r1[^)]*) is down: link down' "$state/h1/railyardd.log"; then
    echo "no warning for r1 in h1's log; its lines about r1:"
    grep 'r1' "$state/h1/railyardd.log" | tail -5
    return 1
  fi
  table_aligned
}
# railctl rails as text: the columns after a long state ("down (link down)") stay under their headers.
table_aligned() {
  local t
  t=$("$SIM" railctl --name $rack h1 rails) || return 1
  echo "$t"
  awk 'NR == 1 { c = index($0, "ADDRESS") } NR > 1 && /^r[0-9]/ { rows++; if (substr($0, c, 7) != "198.18.") bad = 1 }
       END { exit !(c > 0 && rows == 2 && !bad) }' <<<"$t"
}
check "rail r1 set down mid-run: every transfer still completes and verifies" rail_down
ip -n "rysim-$rack-h1" link set r1 up
rail_back() { "$SIM" railctl --name $rack h1 --json rails | jq -e '[.rails[] | select(.state == "up")] | length == 2'; }
check "rail r1 comes back up after the link returns" wait_for 10 rail_back

loss() {
  local dropped
  if ((h2_kernel)); then
    # 5 % of the fabric's datagrams arriving at h2 on r0 are dropped by the eBPF injector.
    "$SIM" railctl --name $rack h2 fault rail r0 --drop 0.05 || return 1
  else
    # DPDK owns h2's rails, out of the kernel's sight: drop on the rack's bridge instead.
    ip netns exec "rysim-$rack-fab" nft -f - <<NFT || return 1
table bridge rytest {
  chain forwarded { type filter hook forward priority 0; oifname "h2r0" udp dport 7470 numgen random mod 100 < 5 counter drop; }
}
NFT
  fi
  run_load loss 300
  local rc=$?
  if ((h2_kernel)); then
    dropped=$("$SIM" railctl --name $rack h2 --json rails | jq '.rails[] | select(.name == "r0") | .ebpf.fault_dropped | tonumber')
    "$SIM" railctl --name $rack h2 fault rail r0 --clear
  else
    dropped=$(ip netns exec "rysim-$rack-fab" nft list table bridge rytest | grep -o 'packets [0-9]*' | awk '{print $2}')
    ip netns exec "rysim-$rack-fab" nft delete table bridge rytest
  fi
  local retx
  retx=$("$SIM" railctl --name $rack h1 --json rails | jq '[.rails[].retransmits | tonumber] | add')
  echo "dropped by the injector: $dropped; retransmits: $retx"
  [[ $rc -eq 0 && $dropped -gt 0 && $retx -gt 0 ]]
}
check "5 % random loss on rail r0: every transfer completes and verifies (with retransmissions)" loss

silence() {
  # Everything h2 receives on r0 is dropped: h1 hears nothing back on r0,
  # takes it down for ack silence and says so, then brings it back.
  "$SIM" railctl --name $rack h2 fault rail r0 --drop 1 || return 1
  "$SIM" railctl --name $rack h1 send --peer h2 --size 1M --count 50 >/dev/null
  local rc=$?
  wait_for 5 grep -q '^<4>fabric: rail r0 ([^)]*r0[^)]*) is down: ack silence' "$state/h1/railyardd.log"
  local logged=$?
  "$SIM" railctl --name $rack h2 fault rail r0 --clear
  grep 'fabric: rail r0' "$state/h1/railyardd.log"
  ((rc == 0 && logged == 0)) && wait_for 10 grep -q '^<5>fabric: rail r0 is up again' "$state/h1/railyardd.log"
}
if ((h2_kernel)); then
  check "rail r0 silenced (every datagram to h2 dropped): transfers complete on r1, h1 warns of ack silence, then r0 is back" silence
fi

ecn() {
  # CE marks on 30 % of what h2 receives on r0: h1's congestion control moves load to r1.
  "$SIM" railctl --name $rack h2 fault rail r0 --ecn 0.3 || return 1
  local before
  before=$("$SIM" railctl --name $rack h1 --json rails | jq '[.rails[] | .tx_bytes | tonumber]')
  "$SIM" railctl --name $rack h1 send --peer h2 --size 4M --count 40 >/dev/null || return 1
  local after marked
  after=$("$SIM" railctl --name $rack h1 --json rails | jq '[.rails[] | .tx_bytes | tonumber]')
  marked=$("$SIM" railctl --name $rack h2 --json rails | jq '.rails[] | select(.name == "r0") | .ebpf.fault_marked | tonumber')
  "$SIM" railctl --name $rack h2 fault rail r0 --clear
  jq -n -e --argjson b "$before" --argjson a "$after" --argjson m "$marked" '
    ($a[0] - $b[0]) as $r0 | ($a[1] - $b[1]) as $r1 |
    "r0 sent \($r0) bytes, r1 \($r1); \($m) CE marks" | debug | $m > 0 and $r0 < 0.5 * $r1'
}
if ((h2_kernel)); then
  check "ECN marks on rail r0 (eBPF injector) move load to r1" ecn
fi

garbage() {
  local i
  send_junk() {  # $1: namespace, $2: source address, $3: source port (empty: any)
    for i in $(seq 50); do
      head -c $((RANDOM % 200 + 1)) /dev/urandom >"$WORK/junk"
      ip netns exec "$1" nc -u -w0 -s "$2" ${3:+-p $3} 198.18.0.2 7470 <"$WORK/junk" || true
    done
  }
  local want='(.fabric.rx_unknown_source | tonumber) > 0'
  if [[ $driver == udp ]]; then
    send_junk "rysim-$rack-h1" 198.18.0.1               # from a port no peer uses: unknown source
    "$SIM" stop --name $rack h1                         # free h1's fabric port, then send from it: malformed
    send_junk "rysim-$rack-h1" 198.18.0.1 7470
    "$SIM" start --name $rack h1 || return 1
    want="$want"' and ([.fabric.malformed[] | tonumber] | add) > 0'
  else
    # h1's rail addresses belong to DPDK: send from a stranger on the rack's bridge.
    ip -n "rysim-$rack-fab" addr add 198.18.0.250/24 dev br0
    send_junk "rysim-$rack-fab" 198.18.0.250
    ip -n "rysim-$rack-fab" addr del 198.18.0.250/24 dev br0
  fi
  counted() { "$SIM" railctl --name $rack h2 --json peers | jq -e "$want"; }
  wait_for 10 counted || { "$SIM" railctl --name $rack h2 --json peers | jq -c .fabric; return 1; }
  "$SIM" railctl --name $rack h2 status >/dev/null && wait_for 10 established
}
check "garbage datagrams to the fabric port are dropped and counted; the daemon keeps running" garbage
still_works() { run_load after 50; }
check "transfers still verify after the garbage" still_works

extreme_requests() {
  # railctl refuses what is out of bounds before sending (std::stoul once read
  # "-1" as 4294967295, and the daemon died of std::bad_alloc sizing the probe)...
  local out rc=0
  out=$("$SIM" railctl --name $rack h1 send --peer h2 --size 1K --count -1 2>&1) || rc=$?
  echo "railctl send --count -1: exit $rc: $out"
  [[ $rc -ne 0 && $out == *"--count takes a whole number from 1 to 1000000"* ]] || return 1
  # ...and the daemon refuses it from any client that does not.
  local raw="$(dirname "$0")/control_raw.py" sock=$state/h1/control.sock answer
  answer=$("$raw" "$sock" send h2 1024 4294967295 4) || return 1
  echo "count 4294967295: $answer"
  [[ $answer == "status=2 error=--count must be 1 to 1000000, not 4294967295" ]] || return 1
  answer=$("$raw" "$sock" send h2 1024 10 4294967295) || return 1
  echo "concurrency 4294967295: $answer"
  [[ $answer == "status=2 error=--concurrency must be 1 to 1024, not 4294967295" ]] || return 1
  answer=$("$raw" "$sock" fault r0 nan) || return 1
  echo "fault drop NaN: $answer"
  [[ $answer == "status=2 error=--drop and --ecn take a probability from 0 to 1"* ]] || return 1
  "$SIM" railctl --name $rack h1 send --peer h2 --size 64K --count 10 >/dev/null
}
check "out-of-bounds control requests (count -1, 2^32-1 transfers or in flight, a NaN fault) are refused; the daemon keeps serving" extreme_requests

misuse() {
  "$SIM" exec --name $rack h1 "$BUILD/tests/integration/workload_misuse" "$state/h1/workload.sock" h2
}
check "librailyard misuse gets the documented errors" misuse
c_api() { "$SIM" exec --name $rack h1 "$BUILD/tests/integration/c_api" "$state/h1/workload.sock" h2; }
check "the C API: register, post, completion through the event fd, errors" c_api

wrong_key() {
  "$SIM" stop --name $rack h2
  head -c 32 /dev/urandom >"$state/h2/fabric.psk"
  "$SIM" start --name $rack h2 || return 1
  wait_for 5 bash -c "'$SIM' railctl --name $rack h1 --json peers | jq -e '(.peers[0].handshake_failures | tonumber) > 0'" ||
    return 1
  "$SIM" railctl --name $rack h2 --json peers | jq -e '.peers[0].state == "connecting"' || return 1
  local out rc=0
  out=$("$SIM" railctl --name $rack h2 send --peer h1 --size 64K 2>&1) || rc=$?
  echo "$out"
  [[ $rc -ne 0 && $out == *"no session with peer h1"* ]] || return 1
  # One warning for the episode (logged within the second), not one per refused handshake.
  wait_for 3 grep -q "^<4>fabric: refusing datagrams from peer h2: handshake_bad_tag" "$state/h1/railyardd.log" ||
    return 1
  "$SIM" railctl --name $rack h1 --json peers | jq -e '(.peers[0].refused.handshake_bad_tag | tonumber) > 0' >/dev/null
}
check "a peer with the wrong key is refused, logged, and gets no session" wrong_key

# h1's session with h2, idle since h2 restarted under the other key, was
# shown established for as long as nothing was sent. Keepalives take its
# rails down within ~3 s (ack silence), and the session goes 10 s later.
restarted_peer_seen() {
  local t0=$SECONDS
  h1_sees_h2_gone() { "$SIM" railctl --name $rack h1 --json peers | jq -e '.peers[0].state != "established"'; }
  wait_for 25 h1_sees_h2_gone || return 1
  echo "h1 dropped the session after $((SECONDS - t0)) s (keepalives a second, 3 unanswered, then 10 s)"
  grep -E 'fabric: (rail r[01] .* is down: ack silence|every rail to peer h2)' "$state/h1/railyardd.log" | cut -c1-120
  grep -q '^<4>fabric: rail r0 ([^)]*r0[^)]*) is down: ack silence' "$state/h1/railyardd.log" || return 1
  # No session, no RTT: NaN, not a 0 that reads as a perfect rail (once the
  # exporter's rail sample, taken every 100 ms, has caught up).
  rtt_unmeasured() { [[ $(h1_rtt r0) == NaN ]]; }
  wait_for 5 rtt_unmeasured || { echo "r0 RTT without a session: $(h1_rtt r0)"; return 1; }
}
if [[ $driver == udp ]]; then
  check "h1 notices within seconds that h2 (restarted with another key) no longer answers: rails down, session dropped" \
    restarted_peer_seen
fi

finish
