#!/usr/bin/env bash
# The rail monitor and the fault injector on rack-sim (2 hosts x 2 rails, real
# daemons): attached to h2's rail r0, with railctl send from h1 to h2.
#   rail_bpf.sh PATH/TO/rail_bpf_it     (BUILD=meson build directory)
source "$(dirname "$0")/../lib.sh"
require_root

IT=${1:?usage: rail_bpf.sh PATH/TO/rail_bpf_it}
SIM=$(cd "$(dirname "$0")/../../.." && pwd)/tools/rack-sim
rack=eb$$
rack=${rack:0:8}
export RAILYARD_BUILDDIR=$BUILD
state=/run/railyard-sim/$rack
on_exit "'$SIM' down --name $rack"

# Where BPF cannot load here, say why and skip (exit 77), never pass.
probe=$("$IT" --iface lo --railctl x reattach 2>&1)
if [[ $? -eq 77 ]]; then echo "$probe"; exit 77; fi

check "rack-sim brings up 2 hosts x 2 rails with daemons" "$SIM" up --name $rack --hosts 2 --rails 2
established() { "$RAILCTL" --socket "$state/h1/control.sock" --json peers | jq -e '.peers[0].state == "established"'; }
check "the two daemons establish a session" wait_for 10 established

# it SCENARIO [ARG]: rail_bpf_it in h2's namespace on r0; its JSON line is kept in $WORK/SCENARIO.json.
it() {
  local out=$WORK/$1${2:+-$2}.json
  "$SIM" exec --name $rack h2 "$IT" --iface r0 --railctl "$RAILCTL" --local "$state/h2/control.sock" \
    --remote "$state/h1/control.sock" --peer h2 "$@" >"$out"
  local rc=$?
  cat "$out"
  return $rc
}

check "monitor counters on r0 match the daemon's rail counters (packets and bytes, both directions)" it counters
check "injected 5 % drop on r0: 150 x 1 MiB all complete, drop ratio within 5 sigma" it drop 0.05
check "injected 20 % drop on r0: all complete, drop ratio within 5 sigma" it drop 0.2
check "injected 10 % ECN CE on r0: ratio within 5 sigma, seen by the monitor and the daemon" it ecn 0.1

# A daemon killed with attachments in place: the tc filters stay, the XDP
# program (a bpf_link) goes with the process, and the next attach removes the
# stale filters.
crash() {
  "$SIM" exec --name $rack h2 "$IT" --iface r0 --railctl x hold >"$WORK/hold.out" 2>&1 &
  local pid=$!
  wait_for 10 grep -q attached "$WORK/hold.out" || return 1
  kill -KILL $pid
  wait $pid 2>/dev/null
  local out
  out=$(ip netns exec "rysim-$rack-h2" tc filter show dev r0 ingress) || return 1
  grep -q railyard_rm_in <<<"$out" || { echo "no stale filter"; return 1; }
  out=$(ip -n "rysim-$rack-h2" link show r0) || return 1
  ! grep -q xdp <<<"$out" || { echo "XDP outlived its process"; return 1; }
  "$SIM" exec --name $rack h2 "$IT" --iface r0 --railctl x reattach | tee "$WORK/reattach.out"
  grep -q "removed a stale rail monitor tc ingress filter" "$WORK/reattach.out" || return 1
  # reattach detached on its orderly exit: nothing of ours is left.
  out=$(ip netns exec "rysim-$rack-h2" tc filter show dev r0 ingress &&
    ip netns exec "rysim-$rack-h2" tc filter show dev r0 egress) || return 1
  echo "$out"
  ! grep -q railyard <<<"$out"
}
check "a killed process's filters are removed at the next attach; its XDP program is gone with it" crash

# The transfers still work after all of this.
check "transfers complete after detach" "$RAILCTL" --socket "$state/h1/control.sock" send --peer h2 --count 10 --size 1M

echo "measured:"
cat "$WORK"/*.json 2>/dev/null | grep '^{' | sed 's/^/  /'
finish
