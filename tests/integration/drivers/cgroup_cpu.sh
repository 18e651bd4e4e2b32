#!/usr/bin/env bash
# cgroup_cpu.sh PROBE: drivers/cgroup on a real process in a real cgroup.
# A busy `sh` loop is put in railyard-test-$$ (cpu and freezer hierarchies on
# cgroup v1, the cgroup2 tree on v2); the actuator sets a CPU quota (the
# process's CPU use must drop), lifts it, freezes (no CPU at all, state
# FROZEN) and thaws. The loop and the cgroups are removed on exit.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${BUILD:=$(pwd)}"
export BUILD
# shellcheck source=../lib.sh
source "$here/../lib.sh"
# shellcheck source=cgroup_lib.sh
source "$here/cgroup_lib.sh"

probe=${1:?usage: cgroup_cpu.sh PROBE}
[[ $(id -u) == 0 ]] || { echo "SKIP: needs root (cgroups)"; exit 77; }
name=railyard-test-$$
cgroup_workload "$probe" "$name"

free=$(share); echo "       unlimited: $free of a core"
check "the busy loop uses over half a core unthrottled" lt 0.5 "$free"
check "quota 0.2 CPU written" "$probe" quota "/$name" 0.2
capped=$(share); echo "       quota 0.2: $capped of a core"
check "its CPU drops under 0.3 of a core with the quota" lt "$capped" 0.3
check "quota lifted" "$probe" quota "/$name" 0
again=$(share); echo "       lifted: $again of a core"
check "it runs freely again" lt 0.5 "$again"
check "freeze written" "$probe" freeze "/$name"
check "the cgroup is frozen (v1 freezer.state FROZEN, v2 cgroup.events frozen 1)" wait_for 5 frozen
held=$(share); echo "       frozen: $held of a core"
check "a frozen loop uses no CPU" lt "$held" 0.02
check "thaw written" "$probe" thaw "/$name"
thawed=$(share); echo "       thawed: $thawed of a core"
check "it runs after the thaw" lt 0.5 "$thawed"
finish
