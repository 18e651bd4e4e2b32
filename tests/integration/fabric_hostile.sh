#!/usr/bin/env bash
# A hostile host on the rails (tests/integration/fabric_forge.cc): a third
# namespace on both rail bridges, which flood every frame so it sees the
# rack's traffic, with raw sockets that send as if from a peer. While a flow
# of transfers is verified byte by byte it sends forged ACKs and DATA with
# extreme sequences, DATA with transfer ids far above the real ones, replays
# of what it captured, and a flood of MESSAGEs with bad tags; before that, an
# INIT it captured is replayed to the daemon that received it, after that
# daemon restarted. Then, on a rack with packet_auth = "mac", the same
# forgeries made plausible (the session's own sequences and transfer ids).
# The daemons keep running, the flow's sender completes exactly what the
# receiver delivers intact, each refusal shows in its counter, and the log
# stays short.
source "$(dirname "$0")/lib.sh"
require_root

SIM=$(cd "$(dirname "$0")/../.." && pwd)/tools/rack-sim
FORGE_BIN=$BUILD/tests/integration/fabric_forge
export RAILYARD_BUILDDIR=$BUILD
H1=198.18.0.1 H2=198.18.0.2

# rack_up AUTH: a 2 x 2 rack (packet_auth AUTH) and the hostile namespace on it.
rack_up() {
  rack=ih$$
  rack=${rack:0:7}${1:0:1}
  state=/run/railyard-sim/$rack
  evil=rysim-$rack-x
  on_exit "'$SIM' down --name $rack"
  on_exit "ip netns del $evil"
  "$SIM" up --name "$rack" --hosts 2 --rails 2 --no-bmc --packet-auth "$1" || return 1
  ip netns add "$evil" || return 1
  local j fab=rysim-$rack-fab
  for j in 0 1; do
    ip -n "$fab" link add "x$j" type veth peer name "e$j" netns "$evil"
    ip -n "$fab" link set "x$j" master "br$j" up
    ip -n "$fab" link set "br$j" type bridge ageing_time 0  # no learning: every frame floods, to x$j too
    ip -n "$evil" addr add "198.18.$j.250/24" dev "e$j"
    ip -n "$evil" link set "e$j" up
  done
  wait_for 10 established
}
established() {
  "$SIM" railctl --name "$rack" h1 --json peers | jq -e '.peers[0].state == "established"' >/dev/null &&
    "$SIM" railctl --name "$rack" h2 --json peers | jq -e '.peers[0].state == "established"' >/dev/null
}
forge() { ip netns exec "$evil" "$FORGE_BIN" "$@"; }
peer_json() { "$SIM" railctl --name "$rack" "$1" --json peers | jq -c ".peers[0]"; }
refused() { "$SIM" railctl --name "$rack" "$1" --json peers | jq -r ".peers[0].refused.$2 // \"0\""; }
# show FROM TO: "session S max_seq Q max_transfer T count N" of the captured flow.
show() { forge show --in "$WORK/flow.cap" --from "$1" --to "$2"; }
alive() { kill -0 "$(cat "$state/h1/railyardd.pid")" && kill -0 "$(cat "$state/h2/railyardd.pid")"; }
# still_running PID: the flow outlived the forgeries, so they met live
# transfers (on a fast machine a short flow ends first and proves nothing).
still_running() {
  kill -0 "$1" 2>/dev/null && return 0
  echo "the flow ended before the last forgery: nothing was proven (make the flow longer)"
  wait "$1"
  return 1
}
log_lines() { cat "$state/h1/railyardd.log" "$state/h2/railyardd.log" | wc -l; }

check "rack-sim up, 2 hosts x 2 rails, packet_auth none, and a hostile namespace on both rail bridges" rack_up none

# --- a replayed INIT after a restart -------------------------------------
replayed_init() {
  forge capture --iface e0 --iface e1 --seconds 6 --out "$WORK/hs.cap" >"$WORK/hs.out" &
  local cap=$!
  wait_for 5 grep -q capturing "$WORK/hs.out" || return 1
  "$SIM" stop --name "$rack" h2 && "$SIM" start --name "$rack" h2 || return 1
  wait_for 10 established || return 1
  wait $cap || return 1
  # h2 came back without a session and initiated: its INIT went to h1. Now h1
  # restarts, forgetting every INIT it answered, and the captured one arrives again.
  "$SIM" stop --name "$rack" h1 && "$SIM" start --name "$rack" h1 || return 1
  wait_for 10 established || return 1
  local before after
  before=$(peer_json h1 | jq -c '[.session_id, .sessions_replaced]')
  unexpected_before=$(refused h2 handshake_unexpected)
  forge replay --in "$WORK/hs.cap" --type init --to $H1 --times 5 || return 1
  # h1 answered with challenges, which went to h2 (it started no handshake):
  # once h2 has refused them as unexpected, the round trip is over.
  wait_for 5 challenged || return 1
  after=$(peer_json h1 | jq -c '[.session_id, .sessions_replaced]')
  echo "h1 session, sessions replaced: before $before, after $after"
  [[ $before == "$after" ]]
}
challenged() { (($(refused h2 handshake_unexpected) > unexpected_before)); }
check "an INIT captured earlier, replayed after the receiving daemon restarted, changes no session" replayed_init
small_flow() { run_load small 50; }
check "transfers verify after the replayed INIT" small_flow

# --- forgeries while a verified flow runs ---------------------------------
attack() {
  local lines_before=$(log_lines)
  run_load hostile 3000 >"$WORK/hostile.out" 2>&1 &
  local flow=$!
  forge capture --iface e0 --iface e1 --seconds 1 --out "$WORK/flow.cap" || return 1
  read -r _ s12 _ max_seq _ max_transfer _ <<<"$(show $H1 $H2)" || return 1
  read -r _ s21 _ <<<"$(show $H2 $H1)" || return 1
  [[ -n $s12 && -n $s21 ]] || return 1
  echo "h1->h2 session $s12 (sequences to $max_seq, transfers to $max_transfer); h2->h1 session $s21"
  # To h1 (the sender), as from h2: ACKs for sequences never sent.
  forge ack --from $H2 --to $H1 --session "$s21" --cum $((1 << 40)) --count 300 || return 1
  forge ack --from $H2 --to $H1 --session "$s21" --cum 1 --sack $((1 << 40)):$((1 << 41)) --count 300 || return 1
  # To h2 (the receiver), as from h1: a sequence far ahead with its floor, then
  # transfer ids far above the real ones.
  forge data --from $H1 --to $H2 --session "$s12" --seq $((1 << 40)) --count 300 || return 1
  forge data --from $H1 --to $H2 --session "$s12" --seq $((max_seq + 1)) --floor-delta 0 \
    --transfer $((max_transfer + 1000000)) --transfer-step 1 --count 300 || return 1
  # What was captured, twice over, both ways.
  forge replay --in "$WORK/flow.cap" --times 2 || return 1
  # MESSAGEs of the session with wrong tags.
  forge message --from $H1 --to $H2 --session "$s12" --count 20000 || return 1
  still_running $flow || return 1
  wait $flow
  local rc=$?
  cat "$WORK/hostile.out"
  ((rc == 0)) || return 1
  # sender ok == receiver delivered, nothing mismatched (run_load checked it; shown here)
  jq -c 'select(.role == "send") | {completed, failed}' "$WORK/hostile.send"
  tail -1 "$WORK/hostile.recv" | jq -c '{received, mismatched}'
  echo "$lines_before" >"$WORK/lines_before"
}
check "a verified flow of 3000 transfers under forged ACKs, DATA, replays and a MESSAGE flood: sender ok = delivered, 0 mismatched" attack
answering() { alive && "$SIM" railctl --name "$rack" h1 status >/dev/null && "$SIM" railctl --name "$rack" h2 status >/dev/null; }
check "both daemons keep running and answer" answering

# counts HOST: the refusal counters this test reads, one line, for the deltas below.
counts() {
  "$SIM" railctl --name "$rack" "$1" --json peers |
    jq -r '.peers[0].refused as $r | [$r.ack_unsent, $r.data_out_of_window, $r.data_transfer_out_of_window,
      $r.message_bad_tag, $r.mac_bad, $r.mac_missing, .peers[0].duplicates, .fabric.messages_dropped,
      $r.data_stale_transfer]
      | map(. // "0" | tonumber) | @tsv'
}
# settled HOST: its counters stopped moving (everything sent has been handled).
settled() {
  local a b
  a=$(counts "$1") && sleep 0.3 && b=$(counts "$1") && [[ $a == "$b" ]]
}
# After the flow, on a quiet rack, every forged datagram is accounted for exactly.
counted() {
  local h1a h2a h1b h2b
  wait_for 5 settled h1 && wait_for 5 settled h2 || return 1
  read -r -a h1a <<<"$(counts h1)"
  read -r -a h2a <<<"$(counts h2)"
  forge ack --from $H2 --to $H1 --session "$s21" --cum $((1 << 40)) --count 100 &&
    forge data --from $H1 --to $H2 --session "$s12" --seq $((1 << 40)) --transfer $((max_transfer + 1)) --count 100 &&
    forge data --from $H1 --to $H2 --session "$s12" --seq $((max_seq + 5000)) --floor-delta 4000 \
      --transfer $((max_transfer + 1000000)) --transfer-step 1 --count 100 &&
    forge message --from $H1 --to $H2 --session "$s12" --count 200 || return 1
  local replayed
  replayed=$(forge replay --in "$WORK/flow.cap" --type data --from $H1 --to $H2) || return 1
  echo "$replayed"
  replayed=$(grep -o 'sent [0-9]*' <<<"$replayed" | awk '{print $2}')
  wait_for 5 settled h1 && wait_for 5 settled h2 || return 1
  read -r -a h1b <<<"$(counts h1)"
  read -r -a h2b <<<"$(counts h2)"
  echo "h1 ack_unsent +$((h1b[0] - h1a[0])); h2 data_out_of_window +$((h2b[1] - h2a[1])), data_transfer_out_of_window" \
    "+$((h2b[2] - h2a[2])), message_bad_tag +$((h2b[3] - h2a[3])) (+$((h2b[7] - h2a[7])) dropped on a full ring)," \
    "duplicates +$((h2b[6] - h2a[6])), data_stale_transfer +$((h2b[8] - h2a[8])) of $replayed replayed"
  "$SIM" railctl --name "$rack" h2 peers | grep refused
  ((h1b[0] - h1a[0] == 100 && h2b[1] - h2a[1] == 100 && h2b[2] - h2a[2] == 100 &&
    h2b[3] - h2a[3] + h2b[7] - h2a[7] == 200 && h2b[3] - h2a[3] > 0 &&
    replayed > 0 && h2b[6] - h2a[6] + h2b[8] - h2a[8] == replayed))
}
check "each refusal shows in its counter (railctl peers), one per forged datagram: ack_unsent, data_out_of_window, data_transfer_out_of_window, message_bad_tag; each replay as a duplicate or a stale transfer" counted
prometheus_counted() {
  local body
  body=$(ip netns exec "rysim-$rack-h2" curl -sf http://198.18.0.2:9469/metrics) || return 1
  grep -E 'railyard_fabric_refused_datagrams_total\{host="h2",peer="h1",reason="message_bad_tag"\} [1-9]' <<<"$body"
}
check "and in Prometheus (railyard_fabric_refused_datagrams_total{peer,reason})" wait_for 3 prometheus_counted
short_log() {
  # The episode check runs once a second: wait for its line, then count.
  wait_for 5 grep -q 'refusing datagrams from peer h1: message_bad_tag' "$state/h2/railyardd.log" || return 1
  local added=$(($(log_lines) - $(cat "$WORK/lines_before")))
  echo "$added log lines during the attack:"
  tail -n "$added" "$state/h2/railyardd.log" "$state/h1/railyardd.log" | cut -c1-200
  ((added <= 20)) && (($(grep -c 'refusing datagrams from peer h1: message_bad_tag' "$state/h2/railyardd.log") == 1))
}
check "the log stays short: one line per kind of refusal, not one per datagram" short_log

# --- packet_auth = mac: the same forgeries, made plausible ------------------
"$SIM" down --name "$rack" >/dev/null 2>&1
ip netns del "$evil" 2>/dev/null
check "rack-sim up with packet_auth = mac, and the hostile namespace" rack_up mac
mac_attack() {
  run_load mac 1500 >"$WORK/mac.out" 2>&1 &
  local flow=$!
  forge capture --iface e0 --iface e1 --seconds 1 --out "$WORK/flow.cap" || return 1
  read -r _ s12 _ max_seq _ max_transfer _ <<<"$(show $H1 $H2)" || return 1
  read -r _ s21 _ <<<"$(show $H2 $H1)" || return 1
  [[ -n $s12 && -n $s21 ]] || return 1
  # In the window an unauthenticated session would take: the next sequences,
  # transfer ids about to be used, an ACK for everything sent so far.
  forge data --mac --from $H1 --to $H2 --session "$s12" --seq $((max_seq + 1)) --floor-delta 0 \
    --transfer $((max_transfer + 1)) --transfer-step 1 --count 300 || return 1
  forge ack --mac --from $H2 --to $H1 --session "$s21" --cum "$max_seq" --trigger "$max_seq" --count 300 || return 1
  forge data --from $H1 --to $H2 --session "$s12" --seq $((max_seq + 1)) --count 100 || return 1  # no tag at all
  still_running $flow || return 1
  wait $flow
  local rc=$?
  cat "$WORK/mac.out"
  ((rc == 0)) || return 1
  mac_counted
}
mac_counted() {
  local h1a h2a h1b h2b
  wait_for 5 settled h1 && wait_for 5 settled h2 || return 1
  read -r -a h1a <<<"$(counts h1)"
  read -r -a h2a <<<"$(counts h2)"
  forge data --mac --from $H1 --to $H2 --session "$s12" --seq $((max_seq + 1)) --floor-delta 0 \
    --transfer $((max_transfer + 1)) --transfer-step 1 --count 100 &&
    forge ack --mac --from $H2 --to $H1 --session "$s21" --cum "$max_seq" --trigger "$max_seq" --count 100 &&
    forge data --from $H1 --to $H2 --session "$s12" --seq $((max_seq + 1)) --count 100 || return 1
  wait_for 5 settled h1 && wait_for 5 settled h2 || return 1
  read -r -a h1b <<<"$(counts h1)"
  read -r -a h2b <<<"$(counts h2)"
  echo "quiet round: h1 mac_bad +$((h1b[4] - h1a[4])); h2 mac_bad +$((h2b[4] - h2a[4])), mac_missing +$((h2b[5] - h2a[5]))"
  ((h1b[4] - h1a[4] == 100 && h2b[4] - h2a[4] == 100 && h2b[5] - h2a[5] == 100))
}
check "packet_auth = mac: in-window forgeries during 1500 verified transfers change nothing, and each is refused (mac_bad, mac_missing)" mac_attack
check "both daemons keep running and answer" answering

finish
