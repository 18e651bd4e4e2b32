#!/usr/bin/env bash
# policy_cgroup.sh PROBE: the policy's cgroup rungs through the whole daemon,
# on a real process. A busy `sh` loop runs in cgroup railyard-policy-$$ (cpu
# and freezer hierarchies on cgroup v1, the cgroup2 tree on v2); railyardd is
# started with [policy] workload_cgroup naming it. `railctl policy` must list
# the cgroup actuator as available; `railctl throttle cpu_quota` must cut the
# loop's CPU to the configured 0.1 CPUs (under 0.1 + a margin, and under half
# of what it used unthrottled a moment before: cgroup_lib.sh), `freeze` stop
# it, `auto` give it back; a daemon stopped while the workload is frozen must
# thaw it. No network: the daemon has no rails, so it runs in the host's
# namespace.
source "$(dirname "$0")/lib.sh"
require_root

probe=${1:?usage: policy_cgroup.sh CGROUP_PROBE}
# shellcheck source=drivers/cgroup_lib.sh
source "$(dirname "$0")/drivers/cgroup_lib.sh"
name=railyard-policy-$$
cgroup_workload "$probe" "$name"
quota=0.1

sock=$WORK/control.sock
cat >"$WORK/railyard.toml" <<TOML
[daemon]
host_name = "policy-cgroup"

[control]
socket = "$sock"

[fabric]
workload_socket = "$WORK/workload.sock"

[telemetry]
listen_port = 0

[policy]
workload_cgroup = "/$name"
cpu_quota_cpus = $quota
nvml = false
TOML
check "railyardd starts with [policy] workload_cgroup = \"/$name\"" start_daemon railyardd "$WORK/railyard.toml"
railctl() { "$RAILCTL" --socket "$sock" "$@"; }

available() {
  railctl --json policy | jq -e --arg v "$version" '.actuators[] | select(.name == "cgroup")
    | .available and (.detail | contains("cgroup " + $v)) and .rungs == "cpu_quota, freeze"' &&
    railctl --json policy | jq -e '(.unavailable | index("cpu_quota")) == null and (.unavailable | index("freeze")) == null'
}
check "railctl policy lists the cgroup actuator ($version) as available for cpu_quota and freeze" available

baseline "$quota"
check "before any throttle the loop gets over 2 x (quota + margin) = $(calc "2 * ($quota + $margin)") of a core (enough to see the quota)" \
  lt "$(calc "2 * ($quota + $margin)")" "$free"
check "railctl throttle cpu_quota" railctl throttle cpu_quota
state_is() { railctl --json policy | jq -e --arg s "$1" '.actuators[] | select(.name == "cgroup") | .state == $s'; }
check "the cgroup actuator reports the quota in force" wait_for 10 state_is "CPU quota $quota CPUs, not frozen"
check "the cgroup's quota file holds $quota CPU" wait_for 10 quota_is "$quota"
measure "cpu_quota ($quota CPUs)"
check "the loop's CPU drops under quota + margin and under half its unthrottled share" capped "$quota" "$got"
check "railctl throttle freeze" railctl throttle freeze
check "the workload's cgroup is frozen" wait_for 10 frozen
measure "freeze"
check "a frozen loop uses no CPU (under 0.02 of a core)" lt "$got" 0.02
check "railctl throttle auto (the policy, with no limits here, says normal)" railctl throttle auto
check "the cgroup is thawed" wait_for 10 eval '! frozen'
check "the cgroup's quota is lifted" wait_for 10 quota_is 0
measure "auto" "$(calc "$free / 2")"
check "the loop runs freely again (over what the quota allowed, and over half its unthrottled share)" unlimited "$quota" "$got"

check "railctl throttle freeze, again" railctl throttle freeze
check "frozen again" wait_for 10 frozen
stop_thaws() {
  kill -TERM "$(cat "$WORK/railyardd.pid")"
  wait_for 10 eval '! kill -0 $(cat "$WORK/railyardd.pid")' && wait_for 10 eval '! frozen'
}
check "a daemon stopped while the workload is frozen thaws it on the way out" stop_thaws
measure "after the daemon stopped" "$(calc "$free / 2")"
check "the loop runs freely once the daemon is gone" unlimited "$quota" "$got"
finish
