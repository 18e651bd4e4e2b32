#!/usr/bin/env bash
# udp_rail.sh TEST_BINARY: two network namespaces joined by a veth pair, named
# uniquely (pid suffix) and removed on exit even when a check fails; then the
# gtest program that drives UdpRail and LinkMonitor inside them.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${BUILD:=$(pwd)}"
export BUILD
# shellcheck source=../lib.sh
source "$here/../lib.sh"

bin=${1:?usage: udp_rail.sh TEST_BINARY}
[[ $(id -u) == 0 ]] || { echo "SKIP: needs root (network namespaces)"; exit 77; }

ns_a=ry-udp-a-$$ ns_b=ry-udp-b-$$
if_a=ryua$$ if_b=ryub$$
on_exit ip netns del "$ns_a"
on_exit ip netns del "$ns_b"
ip netns add "$ns_a" && ip netns add "$ns_b" || exit 1
ip link add "$if_a" netns "$ns_a" type veth peer name "$if_b" netns "$ns_b" || exit 1
ip -n "$ns_a" address add 10.201.0.1/24 dev "$if_a" || exit 1
ip -n "$ns_b" address add 10.201.0.2/24 dev "$if_b" || exit 1
for ns in "$ns_a" "$ns_b"; do ip -n "$ns" link set lo up; done
ip -n "$ns_a" link set "$if_a" up && ip -n "$ns_b" link set "$if_b" up || exit 1

export RY_NS_A=$ns_a RY_NS_B=$ns_b RY_IF_A=$if_a RY_IF_B=$if_b RY_ADDR_A=10.201.0.1 RY_ADDR_B=10.201.0.2
check "UdpRail and LinkMonitor between two namespaces" "$bin"
sed 's/^/       /' "$WORK/last.out" | grep -E '^\s+(\[ *(OK|FAILED|SKIPPED) *\]|ip -n|offered)' || true
finish
