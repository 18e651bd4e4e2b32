# Shared by drivers/cgroup_cpu.sh and policy_cgroup.sh; source it after lib.sh.
#
# cgroup_workload PROBE NAME: a busy `sh` loop ($pid) in a fresh cgroup /NAME
# (in the cpu and freezer hierarchies on cgroup v1, the cgroup2 tree on v2),
# both removed on exit. Sets version, cpu_dir and freezer_dir. Skips (77)
# without a cgroup cpu hierarchy, or on v1 without a freezer hierarchy.
cgroup_workload() {
  local probe=$1 name=$2 cpu_root freezer_root
  read -r version cpu_root freezer_root < <("$probe" detect)
  [[ $version == v1 || $version == v2 ]] || { echo "SKIP: no cgroup cpu hierarchy"; exit 77; }
  echo "cgroup $version: cpu at $cpu_root, freezer at ${freezer_root:--}; cgroup /$name"
  if [[ $version == v1 ]]; then
    [[ $freezer_root != - ]] || { echo "SKIP: cgroup v1 without a freezer hierarchy"; exit 77; }
    cpu_dir=$cpu_root/$name freezer_dir=$freezer_root/$name
    mkdir "$cpu_dir" "$freezer_dir" || exit 1
  else
    cpu_dir=$cpu_root/$name freezer_dir=$cpu_root/$name
    echo +cpu >"$cpu_root/cgroup.subtree_control" 2>/dev/null
    mkdir "$cpu_dir" || exit 1
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
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
  rmdir "$cpu_dir" 2>/dev/null
  [[ $freezer_dir == "$cpu_dir" ]] || rmdir "$freezer_dir" 2>/dev/null
  true
}

# CPU share of one core used by $pid over 2 s (utime + stime, in clock ticks).
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
share() {
  local a b hz
  hz=$(getconf CLK_TCK)
  a=$(ticks); sleep 2; b=$(ticks)
  awk -v a="$a" -v b="$b" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz / 2 }'
}
lt() { awk -v x="$1" -v y="$2" 'BEGIN { exit !(x < y) }'; }
# The cgroup is frozen (v1 freezer.state FROZEN, v2 cgroup.events frozen 1).
frozen() {
  if [[ $version == v1 ]]; then grep -qx FROZEN "$freezer_dir/freezer.state"; else grep -qx "frozen 1" "$cpu_dir/cgroup.events"; fi
}
