#!/usr/bin/env bash
# railyardd with verbs (RDMA) rails that cannot start, and verbs configs that
# are wrong. On a host without an RDMA device (CI: no device and no kernel
# RDMA support) a valid verbs config must be refused at start with one
# message that names the rail and says why no device can be used; on a host
# with devices, a rail naming a device that is not there must be refused
# with the devices that are. Either way the real daemon must exit 1 within a
# few seconds, before serving, and leave no control socket and no eBPF rail
# monitor behind. Config mistakes (verbs rails mixed with packet rails, a
# slice size out of range, verbs keys on a udp rail) are refused with
# file:line:column and the key, by the daemon and by railctl config check.
# This test never runs RDMA traffic: that is the hw suite (docs/VERBS.md).
source "$(dirname "$0")/lib.sh"
require_root
startup_bed ry-vbst-$$
ip -n "$ns" link add vb0 type veth peer name vb0p || exit 1
ip -n "$ns" link add vb1 type veth peer name vb1p || exit 1
for l in vb0 vb0p vb1 vb1p; do ip -n "$ns" link set "$l" up; done
ip -n "$ns" addr add 10.207.0.1/24 dev vb0
ip -n "$ns" addr add 10.207.1.1/24 dev vb1

# config NAME [EXTRA]: writes $WORK/NAME.toml with two verbs rails on vb0/vb1
# (device "nosuch0" on r0 when NAME is nodevice), one peer, and EXTRA appended.
config() {
  local name=$1 extra=${2:-}
  mkdir -p "$WORK/$name"
  cat >"$WORK/$name.toml" <<EOF
[daemon]
host_name = "vbst-$name"
[control]
socket = "$WORK/$name/control.sock"
[fabric]
workload_socket = "$WORK/$name/workload.sock"
psk_file = "$WORK/psk"
[telemetry]
listen_port = 0
[verbs]
slice_bytes = 262144
[[rail]]
name = "r0"
driver = "verbs"
interface = "vb0"
address = "10.207.0.1"
$([[ $name == nodevice ]] && echo 'device = "nosuch0"')
[[rail]]
name = "r1"
driver = "verbs"
interface = "vb1"
address = "10.207.1.1"
$extra
[[peer]]
name = "vbst-peer"
addresses = { r0 = "10.207.0.2", r1 = "10.207.1.2" }
EOF
}


# The device list as libibverbs sees it (ibverbs-utils' ibv_devices, when present).
devices=$(ibv_devices 2>/dev/null | awk 'NR > 2 && NF { print $1 }' | paste -sd, -)

config valid
check "railyardd --check-config accepts two verbs rails (devices are looked up at start)" \
  "$RAILYARDD" --check-config --config "$WORK/valid.toml"
if [[ -z $devices ]]; then
  echo "# no RDMA device on this host (ibv_devices lists none): the start must be refused"
  check "no RDMA device: exit 1, names rail r0 and libibverbs' own reason" \
    start_refused valid 'verbs: rail r0: no RDMA device can be used' 'ibv_get_device_list (failed|returned 0 devices)'
  no_monitor_left() {
    local out
    # It was attached before the verbs rails failed: the check below is not vacuous.
    grep -q 'rail monitor attached to rail r0' "$WORK/valid.log" || { echo "no monitor was attached"; return 1; }
    out=$(ip netns exec "$ns" tc filter show dev vb0 ingress 2>&1; ip netns exec "$ns" tc filter show dev vb0 egress 2>&1)
    echo "$out"
    ! grep -q bpf <<<"$out"
  }
  check "the refused daemon took its eBPF rail monitor off vb0" no_monitor_left
else
  echo "# RDMA devices here: $devices; a rail naming one that is not there must be refused"
  config nodevice
  check "a device that is not there: exit 1, names rail r0, nosuch0 and the devices present" \
    start_refused nodevice 'verbs: rail r0: no RDMA device named nosuch0' "present: ${devices%%,*}"
fi

# Config mistakes: refused before anything is opened.
config mixed $'[[rail]]\nname = "r2"\ninterface = "vb1p"\naddress = "10.207.2.1"'
check "a udp rail beside verbs rails: exit 1 with file:line:column, key rail[2].driver and why" \
  start_refused mixed 'mixed.toml:[0-9]+:[0-9]+: rail\[2\]\.driver' 'every rail of a host with a verbs rail must be verbs'
check "railctl config check refuses it too (exit 1, key rail[2].driver)" \
  railctl_refuses "$WORK/mixed.toml" 'rail[2].driver'
config slices
sed -i 's/^slice_bytes = .*/slice_bytes = 4096/' "$WORK/slices.toml"
check "verbs.slice_bytes = 4096: exit 1, names the key and the range" \
  start_refused slices 'verbs\.slice_bytes: 4096 is out of range; allowed: 65536 to 1048576'
config udpkeys
sed -i '0,/driver = "verbs"/s//driver = "udp"\ngid_index = 3/' "$WORK/udpkeys.toml"
check "gid_index on a udp rail: exit 1, names rail[0].gid_index" \
  start_refused udpkeys 'rail\[0\]\.gid_index: only rails with driver = "verbs" take it'

finish
