#!/usr/bin/env bash
# Live migration on rack-sim with real daemons and decode-sim (issue 9):
# 64 sequences move mid-generation from h1 to h2 with no token lost or
# repeated and their KV verified on h2; they move back while a rail fails;
# then the target's daemon is killed mid-migration and h1 keeps serving every
# sequence. The token logs of both hosts are checked at the end.
source "$(dirname "$0")/lib.sh"
require_root

SIM=$(cd "$(dirname "$0")/../.." && pwd)/tools/rack-sim
DECODE=$BUILD/tools/decode-sim/decode-sim
rack=mg$$
rack=${rack:0:8}
export RAILYARD_BUILDDIR=$BUILD
on_exit "'$SIM' down --name $rack"
state=/run/railyard-sim/$rack
sequences=64

# 200 Mbit/s per rail. Sequences start with 2048 tokens of 1 KiB KV (2 MiB
# each, 128 MiB in all): a pre-copy takes seconds, long enough to fail a
# rail or kill a daemon in the middle of it.
check "rack-sim brings up 2 hosts x 2 rails at 200 Mbit/s" "$SIM" up --name $rack --hosts 2 --rails 2 --rate 200mbit --no-bmc
established() { "$SIM" railctl --name $rack h1 --json peers | jq -e '.peers[0].state == "established"'; }
check "the daemons establish their session" wait_for 10 established

# decode_sim HOST ARGS...: decode-sim on HOST, token log and output in $WORK.
decode_sim() {
  local host=$1
  shift
  "$SIM" exec --name $rack "$host" "$DECODE" --socket "$state/$host/workload.sock" --name "decode-$host" \
    --capacity $sequences --kv-bytes-per-token 1024 --max-tokens 16384 --step-ms 20 \
    --token-log "$WORK/$host.tokens" "$@" >"$WORK/$host.decode" 2>&1 &
  echo $! >"$WORK/$host.decode.pid"
  on_exit "kill -9 $! 2>/dev/null"
}
decode_sim h1 --sequences $sequences --context-tokens 2048
decode_sim h2
serving() { # serving HOST N: HOST's daemon sees N sequences decoding
  "$SIM" railctl --name $rack "$1" --json workload | jq -e --argjson n "$2" '(.sequences // []) | length == $n'
}
headroom() { "$SIM" railctl --name $rack h1 --json workload | jq -e '.peers[0].headroom.decode_workload == true'; }
check "h1's daemon sees decode-sim's 64 sequences" wait_for 10 serving h1 $sequences
check "h1 hears h2's headroom advert (a decode workload with free slots)" wait_for 10 headroom

migrate() { # migrate FROM TO: railctl migrate, output kept
  "$SIM" railctl --name $rack "$1" --json migrate --to "$2" >"$WORK/migrate-$1-$2.json"
  local rc=$?
  cat "$WORK/migrate-$1-$2.json"
  return $rc
}
check "railctl migrate moves all 64 sequences h1 -> h2" migrate h1 h2
check "the migration reports done with every sequence" \
  jq -e --argjson n $sequences '.state == "done" and .sequences == $n' "$WORK/migrate-h1-h2.json"
check "h2 serves the 64 sequences, h1 none" bash -c "$(declare -f serving); SIM=$SIM rack=$rack; serving h2 $sequences && serving h1 0"
# decode-sim acks RESUME only after checking each sequence's KV contents and CRC32C.
resumed() { test "$(grep -c "resumed from $1" "$WORK/$2.decode")" -eq "$3"; }
check "h2's decode-sim checked and resumed all 64 sequences from h1" resumed h1 h2 $sequences
messages() { "$SIM" railctl --name $rack h1 --json peers | jq -e '(.peers[0].messages.delivered | tonumber) > 0'; }
check "the daemons' messages went over the authenticated peer channel (railctl peers counts them)" messages

# Back to h1 while h2's rail r0 (the one its messages use first) goes down
# mid-copy: as soon as h2 reports its outgoing migration in the pre-copy.
copying() {
  "$SIM" railctl --name $rack "$1" --json workload |
    jq -e 'any(.migrations[]?; .role == "source" and .state == "precopy")'
}
( wait_for 30 copying h2 && ip -n "rysim-$rack-h2" link set r0 down ) &
check "a migration h2 -> h1 completes while rail r0 fails" migrate h2 h1
wait $!
check "the migration ran on when r0 went down (r0 is down on h2)" \
  bash -c "'$SIM' railctl --name $rack h2 --json rails | jq -e '.rails[] | select(.name == \"r0\") | .state == \"down\"'"
ip -n "rysim-$rack-h2" link set r0 up
check "h1 serves the 64 sequences again" wait_for 5 serving h1 $sequences

# The target's daemon dies during the pre-copy: the source keeps every sequence.
state_is() { "$SIM" railctl --name $rack h1 --json workload | jq -e --arg s "$1" '.migrations[0].state == $s'; }
check "a migration h1 -> h2 starts (--no-wait)" "$SIM" railctl --name $rack h1 migrate --to h2 --no-wait
check "it reaches the pre-copy" wait_for 10 state_is precopy
kill -9 "$(cat "$state/h2/railyardd.pid")"
check "it fails once h2's daemon is killed" wait_for 20 state_is failed
"$SIM" railctl --name $rack h1 workload
check "the failure says why" bash -c "'$SIM' railctl --name $rack h1 --json workload | jq -e '.migrations[0].error | length > 0'"
check "h1 still serves all 64 sequences" serving h1 $sequences
tokens_now() { wc -l <"$WORK/h1.tokens"; }
before=$(tokens_now)
more_tokens() { (($(tokens_now) > before)); }
check "h1 keeps generating tokens after the failed migration" wait_for 10 more_tokens

kill -TERM "$(cat "$WORK/h1.decode.pid")" "$(cat "$WORK/h2.decode.pid")" 2>/dev/null
# Both decode-sims gone (their token logs complete) before the logs are read.
decode_sims_gone() { ! kill -0 "$(cat "$WORK/h1.decode.pid")" && ! kill -0 "$(cat "$WORK/h2.decode.pid")"; }
check "both decode-sims exit on SIGTERM" wait_for 10 decode_sims_gone
check "token logs: every sequence contiguous across hosts, no token lost, repeated or wrong" \
  "$DECODE" --verify-logs "$WORK/h1.tokens" "$WORK/h2.tokens"
cat "$WORK/last.out" | tail -5
finish
