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

probe=${1:?usage: cgroup_cpu.sh PROBE}
[[ $(id -u) == 0 ]] || { echo "SKIP: needs root (cgroups)"; exit 77; }
read -r version cpu_root freezer_root < <("$probe" detect) || { echo "SKIP: no cgroup cpu hierarchy"; exit 77; }
name=railyard-test-$$
echo "cgroup $version: cpu at $cpu_root, freezer at ${freezer_root:--}; cgroup /$name"

if [[ $version == v1 ]]; then
  cpu_dir=$cpu_root/$name freezer_dir=$freezer_root/$name
  mkdir "$cpu_dir" "$freezer_dir" || exit 1
else
  cpu_dir=$cpu_root/$name freezer_dir=$cpu_dir
  echo +cpu > "$cpu_root/cgroup.subtree_control" 2>/dev/null
  mkdir "$cpu_dir" || exit 1
fi
pid=
cleanup() {
  [[ -n $pid ]] && { "$probe" thaw "/$name" 2>/dev/null; kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
  rmdir "$cpu_dir" 2>/dev/null
  [[ $freezer_dir != "$cpu_dir" ]] && rmdir "$freezer_dir" 2>/dev/null
  true
}
on_exit cleanup

sh -c 'while :; do :; done' &
pid=$!
echo "$pid" > "$cpu_dir/cgroup.procs" || exit 1
[[ $freezer_dir != "$cpu_dir" ]] && { echo "$pid" > "$freezer_dir/cgroup.procs" || exit 1; }

# CPU share of one core used by $pid over 2 s (utime + stime, in clock ticks).
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
share() {
  local a b hz
  hz=$(getconf CLK_TCK)
  a=$(ticks); sleep 2; b=$(ticks)
  awk -v a="$a" -v b="$b" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz / 2 }'
}
lt() { awk -v x="$1" -v y="$2" 'BEGIN { exit !(x < y) }'; }

free=$(share); echo "       unlimited: $free of a core"
check "the busy loop uses over half a core unthrottled" lt 0.5 "$free"
check "quota 0.2 CPU written" "$probe" quota "/$name" 0.2
capped=$(share); echo "       quota 0.2: $capped of a core"
check "its CPU drops under 0.3 of a core with the quota" lt "$capped" 0.3
check "quota lifted" "$probe" quota "/$name" 0
again=$(share); echo "       lifted: $again of a core"
check "it runs freely again" lt 0.5 "$again"
check "freeze written" "$probe" freeze "/$name"
if [[ $version == v1 ]]; then
  wait_for 5 grep -qx FROZEN "$freezer_dir/freezer.state"
  check "freezer.state is FROZEN" grep -qx FROZEN "$freezer_dir/freezer.state"
else
  check "cgroup.events says frozen" wait_for 5 grep -qx "frozen 1" "$cpu_dir/cgroup.events"
fi
frozen=$(share); echo "       frozen: $frozen of a core"
check "a frozen loop uses no CPU" lt "$frozen" 0.02
check "thaw written" "$probe" thaw "/$name"
thawed=$(share); echo "       thawed: $thawed of a core"
check "it runs after the thaw" lt 0.5 "$thawed"
finish
