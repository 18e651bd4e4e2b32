#!/usr/bin/env bash
# cgroup_cpu.sh PROBE: drivers/cgroup on a real process in a real cgroup.
# A busy `sh` loop is put in railyard-test-$$ (cpu and freezer hierarchies on
# cgroup v1, the cgroup2 tree on v2); the actuator sets a CPU quota (the
# process's CPU use must drop under the quota, and well under what it used
# unthrottled a moment before), lifts it, freezes (no CPU at all, state
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

# Every share is compared with the loop's own unthrottled share, measured
# first in this run (cgroup_lib.sh: baseline, capped, unlimited).
quota=0.1
baseline "$quota"
check "unthrottled, the loop gets over 2 x (quota + margin) = $(calc "2 * ($quota + $margin)") of a core (enough to see the quota)" \
  lt "$(calc "2 * ($quota + $margin)")" "$free"
check "quota $quota CPU written" "$probe" quota "/$name" "$quota"
check "the quota file holds $quota CPU" quota_is "$quota"
measure "quota $quota"; capped_share=$got
check "with the quota its CPU drops under quota + margin and under half its unthrottled share" capped "$quota" "$capped_share"
check "quota lifted" "$probe" quota "/$name" 0
check "the quota file holds no quota" quota_is 0
measure "lifted" "$(calc "$free / 2")"
check "it runs freely again (over what the quota allowed, and over half its unthrottled share)" unlimited "$quota" "$got"
check "freeze written" "$probe" freeze "/$name"
check "the cgroup is frozen (v1 freezer.state FROZEN, v2 cgroup.events frozen 1)" wait_for 10 frozen
measure "frozen"; held=$got
check "a frozen loop uses no CPU (under 0.02 of a core)" lt "$held" 0.02
check "thaw written" "$probe" thaw "/$name"
check "the cgroup is thawed" wait_for 10 eval '! frozen'
measure "thawed" "$(calc "$free / 2")"
check "it runs after the thaw (over what the quota allowed, and over half its unthrottled share)" unlimited "$quota" "$got"
finish
