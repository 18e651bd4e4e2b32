#!/usr/bin/env bash
# The fabric's integration transfers over real verbs (suite hw): two real
# railyardd on rack-sim --driver verbs, 2 hosts x 2 rails, each rail a
# soft-RoCE (rdma_rxe) device on the host's veth, so every transfer is RDMA
# WRITEs through the kernel's RDMA stack and libibverbs, with connection data
# and announcements on the daemons' authenticated peer channel.
#
#   - both queue pairs (one per rail) come up on both hosts;
#   - 1000 transfers of 1 B to 16 MiB, both classes, every byte and CRC32C
#     checked by the receiving workload, slices on both rails;
#   - rail r1's link set down mid-run: every transfer still completes intact;
#     r1's queue pair failed and its slices moved (both printed);
#   - r1 reconnects when its link returns; railctl send over verbs.
#
# It needs an RDMA-capable kernel and rdma_rxe. Without them it prints why
# (ibv_get_device_list's and modprobe's own words) and exits 77, which meson
# reports as SKIP: it never claims to have run. On a ConnectX host without
# rdma_rxe, see docs/VERBS.md for running two daemons on real ports.
source "$(dirname "$0")/../../integration/lib.sh"
require_root

devices=$(ibv_devices 2>&1)
rxe=$(modprobe rdma_rxe 2>&1)
if [[ $? -ne 0 ]]; then
  echo "SKIP: no soft-RoCE here, so no verbs rack: modprobe rdma_rxe: ${rxe:-failed}; ibv_get_device_list:" \
    "$(head -1 <<<"$devices") (see docs/VERBS.md)"
  exit 77
fi

SIM=$(cd "$(dirname "$0")/../../.." && pwd)/tools/rack-sim
rack=vh$$
rack=${rack:0:8}
export RAILYARD_BUILDDIR=$BUILD
on_exit "'$SIM' down --name $rack"
state=/run/railyard-sim/$rack
rails_json() { "$SIM" railctl --name "$rack" "$1" --json rails; }

check "rack-sim brings up 2 hosts x 2 verbs rails (soft-RoCE) with daemons" \
  "$SIM" up --name "$rack" --hosts 2 --rails 2 --driver verbs --no-bmc
established() { "$SIM" railctl --name "$rack" h1 --json peers | jq -e '.peers[0].state == "established"'; }
check "the two daemons establish an authenticated session" wait_for 10 established
connected() {
  local h
  for h in h1 h2; do rails_json "$h" | jq -e '[.rails[].verbs.qps_connected] == [1, 1]' || return 1; done
}
check "a queue pair per rail is connected and confirmed on both hosts" wait_for 20 connected
"$SIM" railctl --name "$rack" h1 rails

check "1000 transfers of 1 B to 16 MiB, both classes: every byte verified at the receiver" run_load base 1000
both_rails() {
  rails_json h1 | jq -e '[.rails[].verbs.tx_slices | tonumber] | "slices per rail: \(.)" | debug | all(. > 0)'
}
check "slices went over both rails" both_rails

rail_down() {
  ( sleep 1.0; ip -n "rysim-$rack-h1" link set r1 down ) &
  run_load down 400 || return 1
  rails_json h1 | jq -e '.rails[] | select(.name == "r1") |
    "r1: QP failures \(.verbs.path_failures), reposted slices \(.verbs.reposted_slices)" | debug |
    (.verbs.path_failures | tonumber) > 0' >/dev/null
}
check "rail r1 set down mid-run: every transfer still completes and verifies" rail_down
ip -n "rysim-$rack-h1" link set r1 up
check "r1's queue pair reconnects after its link returns" wait_for 20 connected

landings() {
  "$SIM" railctl --name "$rack" h2 peers
  "$SIM" railctl --name "$rack" h2 --json peers | jq -e '(.peers[0].verbs.delivered | tonumber) >= 1400'
}
check "h2 matched every landing with its announcement (duplicates, if any, dropped and counted)" landings
check "railctl send over verbs: 20 x 4 MiB with checksums" \
  "$SIM" railctl --name "$rack" h1 send --peer h2 --size 4M --count 20 --checksum

finish
