#!/usr/bin/env bash
# dpdk_rail.sh TEST_BINARY PMD: two network namespaces, named uniquely (pid
# suffix) and removed on exit even when a check fails, which the test program
# joins with a fresh veth pair per test (the DPDK side's end has no kernel
# address: DPDK owns it); the gtest
# program drives a DpdkRail on PMD (net_af_packet or net_af_xdp) against the
# kernel UdpRail, and a second run checks the EAL's start-up error.
# Exit 77 (skip) without root, without the PMD, or when the EAL cannot start.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${BUILD:=$(pwd)}"
export BUILD
# shellcheck source=../lib.sh
source "$here/../lib.sh"

bin=${1:?usage: dpdk_rail.sh TEST_BINARY PMD}
pmd=${2:?usage: dpdk_rail.sh TEST_BINARY PMD}
[[ $(id -u) == 0 ]] || { echo "SKIP: needs root (network namespaces, raw sockets)"; exit 77; }

if [[ $pmd == net_af_xdp ]] && ! mountpoint -q /sys/fs/bpf; then
  # libxdp keeps its dispatcher's state there; without it af_xdp still works
  # (one program, no dispatcher) but says so loudly.
  mount -t bpf bpf /sys/fs/bpf 2>/dev/null || echo "note: no BPF filesystem at /sys/fs/bpf (af_xdp works without libxdp's dispatcher)"
fi

# The test program adds one veth pair per test between these (and deletes it);
# deleting the namespaces removes whatever a failed run left.
ns_d=ry-dpdk-d-$$ ns_u=ry-dpdk-u-$$
on_exit ip netns del "$ns_d"
on_exit ip netns del "$ns_u"
ip netns add "$ns_d" && ip netns add "$ns_u" || exit 1
for ns in "$ns_d" "$ns_u"; do
  ip -n "$ns" link set lo up
  # No IPv6 chatter (router solicitations, MLD) on the rails.
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done

export RY_NS_D=$ns_d RY_NS_U=$ns_u RY_ADDR_D=10.203.0.1 RY_ADDR_U=10.203.0.2
export RY_PMD=$pmd RY_PREFIX=ry-it-$pmd-$$

"$bin" >"$WORK/run.out" 2>&1
rc=$?
cp "$WORK/run.out" /tmp/dpdk_it_last.out 2>/dev/null || true
if [[ $rc == 77 ]]; then
  grep -m1 SKIP "$WORK/run.out"
  exit 77
fi
if [[ $rc == 0 ]]; then
  echo "ok   - DpdkRail ($pmd) and UdpRail between two namespaces"
  ((_passed++))
else
  echo "FAIL - DpdkRail ($pmd) and UdpRail between two namespaces"
  ((_failed++))
fi
grep -E '^\[ *(OK|FAILED|SKIPPED) *\]|^       (net_|\.\./|.*Failure|Expected|  Actual|Which is)|: Failure|^ +(net_af|Value of|Expected)' "$WORK/run.out" | sed 's/^/       /' | head -80

check "an EAL that cannot start says why and what to fix" "$bin" --eal-error
sed 's/^/       | /' "$WORK/last.out" | grep message: || true
finish
