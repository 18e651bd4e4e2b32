# Shared by drivers/cgroup_cpu.sh and policy_cgroup.sh; source it after lib.sh.
#
# cgroup_workload PROBE NAME: a busy `sh` loop ($pid) in a fresh cgroup /NAME
# (in the cpu and freezer hierarchies on cgroup v1, the cgroup2 tree on v2),
# both removed on exit. Sets version, cpu_dir and freezer_dir. Skips (77)
# without a cgroup cpu hierarchy, or on v1 without a freezer hierarchy.
# The cgroup gets the largest CPU weight (v1 cpu.shares 262144, v2 cpu.weight
# 10000) so that whatever else runs on the machine at normal priority cannot
# squeeze the loop's unthrottled share much: the shares the tests compare are
# then set by the cgroup's own limits, not by the load. The weight does not
# touch the quota (cpu.cfs_quota_us / cpu.max) or the freezer under test.
cgroup_workload() {
  local probe=$1 name=$2 cpu_root freezer_root
  read -r version cpu_root freezer_root < <("$probe" detect)
  [[ $version == v1 || $version == v2 ]] || { echo "SKIP: no cgroup cpu hierarchy"; exit 77; }
  echo "cgroup $version: cpu at $cpu_root, freezer at ${freezer_root:--}; cgroup /$name"
  if [[ $version == v1 ]]; then
    [[ $freezer_root != - ]] || { echo "SKIP: cgroup v1 without a freezer hierarchy"; exit 77; }
    cpu_dir=$cpu_root/$name freezer_dir=$freezer_root/$name
    mkdir "$cpu_dir" "$freezer_dir" || exit 1
    echo 262144 >"$cpu_dir/cpu.shares" || echo "note: could not raise $cpu_dir/cpu.shares"
  else
    cpu_dir=$cpu_root/$name freezer_dir=$cpu_root/$name
    echo +cpu >"$cpu_root/cgroup.subtree_control" 2>/dev/null
    mkdir "$cpu_dir" || exit 1
    echo 10000 >"$cpu_dir/cpu.weight" || echo "note: could not raise $cpu_dir/cpu.weight"
  fi
  pid=
  on_exit "_cgroup_cleanup '$probe' '/$name'"
  sh -c 'while :; do :; done' &
  pid=$!
  echo "$pid" >"$cpu_dir/cgroup.procs" || exit 1
  [[ $freezer_dir == "$cpu_dir" ]] || echo "$pid" >"$freezer_dir/cgroup.procs" || exit 1
}

_cgroup_cleanup() {
  if [[ -n $pid ]]; then
    "$1" thaw "$2" 2>/dev/null
    # Thawed directly too: were the actuator's thaw broken, the frozen loop
    # could not die and `wait` would hang until the test's timeout.
    if [[ $version == v1 ]]; then echo THAWED >"$freezer_dir/freezer.state"; else echo 0 >"$cpu_dir/cgroup.freeze"; fi 2>/dev/null
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
  rmdir "$cpu_dir" 2>/dev/null
  [[ $freezer_dir == "$cpu_dir" ]] || rmdir "$freezer_dir" 2>/dev/null
  true
}

# share: the CPU $pid uses over the next 2 s, in cores: utime + stime (clock
# ticks) over the wall-clock time that really passed (a busy machine may
# stretch the sleep).
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
share() {
  local a b t0 t1 hz
  hz=$(getconf CLK_TCK)
  t0=$(date +%s%N); a=$(ticks)
  sleep 2
  b=$(ticks); t1=$(date +%s%N)
  awk -v a="$a" -v b="$b" -v hz="$hz" -v ns=$((t1 - t0)) 'BEGIN { printf "%.3f", (b - a) / hz / (ns / 1e9) }'
}
lt() { awk -v x="$1" -v y="$2" 'BEGIN { exit !(x < y) }'; }
# calc EXPR: awk arithmetic, three decimals.
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }

# The thresholds, all from one run on this machine. A quota of Q CPUs holds
# the loop under Q + $margin (CFS bandwidth control and the tick-based
# measurement may add a little); the machine's other work can only lower
# that, so the bound holds under load. What load changes is the loop's share
# when nothing limits it: the tests measure it first ($free, the baseline)
# and compare the rest with it.
margin=0.05
# measure LABEL [FLOOR]: sets $got to the loop's share and prints it. With
# FLOOR, measures again (up to 3 times in all) while it is not over FLOOR: a
# burst of other work on the machine must not pass for a limit, and a limit
# that is really there keeps the loop under FLOOR every time.
measure() {
  local label=$1 floor=${2:-} i
  for i in 1 2 3; do
    got=$(share)
    echo "       $label: $got of a core"
    [[ -n $floor ]] && ! lt "$floor" "$got" || return 0
  done
}
# baseline QUOTA: $free, the loop's unthrottled share, which must be over
# 2 * (QUOTA + margin) for the quota to be told from the machine's load
# (else the check fails: a quota could not be seen here).
baseline() {
  measure "unthrottled" "$(calc "2 * ($1 + $margin)")"
  free=$got
}
# capped QUOTA SHARE: SHARE is what a quota of QUOTA CPUs allows: under
# QUOTA + margin, and under half the unthrottled share.
capped() {
  echo "share $2 with a $1-CPU quota; must be under $(calc "$1 + $margin") and under half of $free"
  lt "$2" "$(calc "$1 + $margin")" && lt "$2" "$(calc "$free / 2")"
}
# unlimited QUOTA SHARE: SHARE is more than a quota of QUOTA CPUs would
# allow (over QUOTA + margin) and over half the unthrottled share.
unlimited() {
  echo "share $2; must be over $(calc "$1 + $margin") (more than a $1-CPU quota allows) and over half of $free"
  lt "$(calc "$1 + $margin")" "$2" && lt "$(calc "$free / 2")" "$2"
}
# quota_is CPUS: the cgroup's quota file holds CPUS (0: no quota) for its period.
quota_is() {
  local period want have
  if [[ $version == v1 ]]; then
    period=$(cat "$cpu_dir/cpu.cfs_period_us")
    want=$(awk -v c="$1" -v p="$period" 'BEGIN { print (c > 0 ? int(c * p + 0.5) : -1) }')
    have=$(cat "$cpu_dir/cpu.cfs_quota_us")
  else
    read -r have period <"$cpu_dir/cpu.max"
    want=$(awk -v c="$1" -v p="$period" 'BEGIN { print (c > 0 ? int(c * p + 0.5) : "max") }')
  fi
  echo "quota file: $have (want $want)"
  [[ $have == "$want" ]]
}
# The cgroup is frozen (v1 freezer.state FROZEN, v2 cgroup.events frozen 1).
frozen() {
  if [[ $version == v1 ]]; then grep -qx FROZEN "$freezer_dir/freezer.state"; else grep -qx "frozen 1" "$cpu_dir/cgroup.events"; fi
}
