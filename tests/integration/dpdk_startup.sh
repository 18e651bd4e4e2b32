#!/usr/bin/env bash
# railyardd with DPDK rails that cannot start: a port string no DPDK driver
# takes, a malformed PCI address, a vdev on an interface that does not exist,
# a PCI device that is not there, an af_xdp interface another running daemon
# holds, an EAL file prefix held by a running daemon, and an lcore list the
# host does not have. Each time the real daemon must
# exit 1 within a few seconds, before serving, with one message that names the
# rail and its device, gives DPDK's (or the EAL's) own reason, and says what to
# fix; and it must leave no control socket behind.
# Everything runs in one network namespace with its own veth pairs (named
# with this shell's pid), removed on exit even when a check fails; each EAL
# gets its own file prefix, whose runtime directory is removed too.
# KEEP_LOGS=DIR copies the daemons' logs there (to read the messages).
source "$(dirname "$0")/lib.sh"
require_root
startup_bed ry-dpst-$$
ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
# Two veth pairs: dp0 and dp1 are the DPDK ends (no kernel address: DPDK owns it).
for i in 0 1; do
  ip -n "$ns" link add "dp$i" type veth peer name "dp${i}k" || exit 1
  ip -n "$ns" link set "dp$i" up
  ip -n "$ns" link set "dp${i}k" up
done

prefix_base=ry-dpst-$$
on_exit "rm -rf /var/run/dpdk/$prefix_base-*"

# config NAME [--dpdk 'key = value' ...] RAIL_DEVICE...: writes $WORK/NAME.toml
# with one DPDK rail per device (r0, r1, ...) and one peer on every rail.
config() {
  local name=$1 dpdk_lines=() i=0 dev
  shift
  while [[ ${1:-} == --dpdk ]]; do dpdk_lines+=("$2"); shift 2; done
  mkdir -p "$WORK/$name"
  {
    printf '[daemon]\nhost_name = "dpst-%s"\n\n' "$name"
    printf '[control]\nsocket = "%s/%s/control.sock"\n\n' "$WORK" "$name"
    printf '[fabric]\nworkload_socket = "%s/%s/workload.sock"\npsk_file = "%s/psk"\n\n' "$WORK" "$name" "$WORK"
    printf '[telemetry]\nlisten_port = 0\n\n'
    printf '[dpdk]\nno_huge = true\nmemory_mb = 1024\nfile_prefix = "%s-%s"\n' "$prefix_base" "$name"
    printf '%s\n' "${dpdk_lines[@]+"${dpdk_lines[@]}"}"
    [[ " ${dpdk_lines[*]-} " == *no_pci* ]] || printf 'no_pci = true\n'
    for dev in "$@"; do
      printf '\n[[rail]]\nname = "r%d"\ndriver = "dpdk"\ndevice = "%s"\naddress = "10.205.%d.1"\n' "$i" "$dev" "$i"
      i=$((i + 1))
    done
    printf '\n[[peer]]\nname = "dpst-peer"\naddresses = { '
    for ((j = 0; j < i; j++)); do printf '%sr%d = "10.205.%d.2"' "$( ((j)) && echo ', ')" "$j" "$j"; done
    printf ' }\n'
  } >"$WORK/$name.toml"
}


# (a) a port string that parses but names no DPDK driver: the config is valid
# syntax (drivers are known only once the EAL runs), the start is refused.
config bogus net_bogus0,iface=dp0
check "railyardd --check-config accepts net_bogus0,iface=dp0 (syntax only: drivers are known at start)" \
  "$RAILYARDD" --check-config --config "$WORK/bogus.toml"
check "unknown vdev driver: exit 1, names rail r0 and the device, DPDK's reason and the fix" \
  start_refused bogus 'rail r0 \(device net_bogus0,iface=dp0\)' 'DPDK has no driver called net_bogus' \
  "fix the rail's device" 'DPDK said: .*failed to parse device "net_bogus0"'

# (a) a malformed PCI address: refused by the config itself, with file:line:column and the key.
config badpci 0000:3b:0g.0
config_refused() {
  start_refused badpci "badpci.toml:[0-9]+:[0-9]+: rail\[0\]\.device" "0000:3b:0g.0" "neither a PCI address \(0000:3b:00.0\) nor a vdev string"
}
check "malformed PCI address: exit 1 with file:line:column, key rail[0].device and what is allowed" config_refused
check_config_badpci() {
  local rc=0
  "$RAILYARDD" --check-config --config "$WORK/badpci.toml" >"$WORK/cc.out" 2>&1 || rc=$?
  cat "$WORK/cc.out"
  ((rc == 1)) && grep -q 'rail\[0\].device' "$WORK/cc.out"
}
check "railyardd --check-config refuses the malformed PCI address (exit 1, names the key)" check_config_badpci
check "railctl config check refuses it too (exit 1, key rail[0].device)" \
  railctl_refuses "$WORK/badpci.toml" 'rail[0].device'

# (b) a missing device: the first rail is fine, the second's interface does
# not exist. The message must name r1, not r0, and the daemon must still
# close r0's port and exit promptly.
config noiface net_af_packet0,iface=dp0 net_af_packet1,iface=nosuch0
check "vdev on a missing interface (second rail): exit 1, names r1, the interface and the fix" \
  start_refused noiface 'rail r1 \(device net_af_packet1,iface=nosuch0\)' 'interface nosuch0 does not exist in this network namespace' \
  'create it, or fix iface='
# (b) a well-formed PCI address with no such device on this host.
config nopci --dpdk 'no_pci = false' 0000:7f:1f.7
check "PCI device not present: exit 1, names r0, the address and how to list devices" \
  start_refused nopci 'rail r0 \(device 0000:7f:1f.7\)' 'there is no PCI device 0000:7f:1f.7 on this host' 'lspci -D'

# (c) the EAL cannot start: the file prefix is held by a running daemon.
config holder net_af_packet0,iface=dp0
check "a daemon with a DPDK rail on dp0 starts (it holds file prefix $prefix_base-holder)" \
  bash -c "ip netns exec '$ns' '$RAILYARDD' --config '$WORK/holder.toml' 2>'$WORK/holder.log' & echo \$! >'$WORK/holder.pid'; \
    for _ in \$(seq 200); do '$RAILCTL' --socket '$WORK/holder/control.sock' status >/dev/null 2>&1 && exit 0; sleep 0.05; done; \
    cat '$WORK/holder.log'; exit 1"
holder_pid=$(cat "$WORK/holder.pid" 2>/dev/null || echo 0)
on_exit "kill -9 $holder_pid"
config second net_af_packet0,iface=dp1
sed -i "s/file_prefix = .*/file_prefix = \"$prefix_base-holder\"/" "$WORK/second.toml"
check "a second daemon on the same file prefix: exit 1, names r0, the prefix, the holder's pid and the fix" \
  start_refused second 'rail r0 \(device net_af_packet0,iface=dp1\) needs DPDK, which could not start' \
  "file prefix '$prefix_base-holder' is in use by another DPDK process \(pid [0-9]+, railyardd\)" \
  'give each daemon on a host its own file_prefix' 'Cannot create lock'
holder_names_pid() { grep -q "pid $holder_pid," "$WORK/second.log"; }
check "the refusal names the holder's real pid ($holder_pid)" holder_names_pid
check "the first daemon still serves" "$RAILCTL" --socket "$WORK/holder/control.sock" status
kill -TERM "$holder_pid" 2>/dev/null
wait_for 5 bash -c "! kill -0 $holder_pid 2>/dev/null"

# (b) a device in use: an af_xdp rail on an interface whose XDP hook another
# running daemon holds (the second daemon has its own file prefix).
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
config xdpholder net_af_xdp0,iface=dp1
check "a daemon with an af_xdp rail on dp1 starts" \
  bash -c "ip netns exec '$ns' '$RAILYARDD' --config '$WORK/xdpholder.toml' 2>'$WORK/xdpholder.log' & echo \$! >'$WORK/xdpholder.pid'; \
    for _ in \$(seq 200); do '$RAILCTL' --socket '$WORK/xdpholder/control.sock' status >/dev/null 2>&1 && exit 0; sleep 0.05; done; \
    cat '$WORK/xdpholder.log'; exit 1"
on_exit "kill -9 $(cat "$WORK/xdpholder.pid" 2>/dev/null || echo 0)"
config xdpsecond net_af_xdp0,iface=dp1
check "a second daemon's af_xdp rail on the same interface: exit 1, names r0 and dp1, DPDK's reason and how to find the owner" \
  start_refused xdpsecond 'rail r0 \(device net_af_xdp0,iface=dp1\)' 'RX queue setup' 'DPDK said: .*xsk' \
  'ip -d link show dev dp1. shows an attached program: stop its owner'
kill -TERM "$(cat "$WORK/xdpholder.pid")" 2>/dev/null

# (c) the EAL cannot start: an lcore the host does not have.
config lcores --dpdk "cores = \"$(nproc)-$(($(nproc) + 1))\"" net_af_packet0,iface=dp0
check "an lcore list beyond this host's CPUs: exit 1, names r0, the EAL's reason and the [dpdk] key" \
  start_refused lcores 'rail r0 \(device net_af_packet0,iface=dp0\) needs DPDK, which could not start' \
  'The EAL said: .*lcore [0-9]+ unavailable' 'To fix: .*\[dpdk\] \(cores: CPUs this host has'

[[ -n ${KEEP_LOGS:-} ]] && cp "$WORK"/*.log "$KEEP_LOGS"/
finish
