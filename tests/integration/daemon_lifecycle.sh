#!/usr/bin/env bash
# railyardd started for real: control socket, railctl, peer credentials,
# SIGHUP reload, SIGTERM stop, stale sockets, bad config, sd_notify.
source "$(dirname "$0")/lib.sh"
require_root

sock=$WORK/run/control.sock
cat >"$WORK/good.toml" <<TOML
[daemon]
host_name = "it-host"

[control]
socket = "$sock"
socket_mode = "0666"   # let other users reach the daemon's own SO_PEERCRED check
group = "nogroup"
read_group = "users"   # read-only: status, rails, ... but no actions

[fabric]
workload_socket = "$WORK/run/workload.sock"

[telemetry]
listen_port = 0   # several daemons share this network namespace
TOML

# --- bad configuration at start-up -------------------------------------------
printf '[control]\nsocket_mode = "0999"\n' >"$WORK/bad.toml"
bad_start() {
  local rc=0
  "$RAILYARDD" --config "$WORK/bad.toml" 2>"$WORK/bad.log" || rc=$?
  [[ $rc -eq 1 ]] && grep -q "bad.toml:2:15: control.socket_mode: \"0999\": allowed: octal" "$WORK/bad.log"
}
check "bad config refused at start with file:line:column, key, value and what is allowed" bad_start
check "railctl config check accepts a good file" "$RAILCTL" config check "$WORK/good.toml"
config_check_bad() {
  local rc=0 out
  out=$("$RAILCTL" --json config check "$WORK/bad.toml") || rc=$?
  [[ $rc -eq 1 ]] && jq -e '.ok == false and .problems[0].line == 2 and .problems[0].key == "control.socket_mode"' <<<"$out"
}
check "railctl config check --json reports the problem and exits 1" config_check_bad
usage_exit() { local rc=0; "$RAILCTL" frobnicate 2>/dev/null || rc=$?; [[ $rc -eq 2 ]]; }
check "railctl usage error exits 2" usage_exit
command_help() {
  # Each command's --help (and a usage error inside it) prints that command's
  # usage, not all 34 lines; -V is the version.
  local out err rc=0
  out=$("$RAILCTL" send --help) || return 1
  echo "$out"
  [[ $(head -1 <<<"$out") == "usage: railctl [options] send --peer P --size "* && $out != *"throttle LEVEL"* ]] || return 1
  [[ $("$RAILCTL" help watch) == "usage: railctl [options] watch "* ]] || return 1
  err=$("$RAILCTL" fault rail r0 --drop nan 2>&1) || rc=$?
  [[ $rc -eq 2 && $err == *"--drop takes a probability from 0 to 1, not 'nan'"* && $err == *"usage: railctl [options] fault"* &&
    $err != *"throttle LEVEL"* ]] || return 1
  [[ $("$RAILCTL" -V --socket "$WORK/nothing.sock" | head -1) == "railctl "* ]]
}
check "railctl COMMAND --help and a usage error within a command show that command's usage; -V the version" command_help
not_running() {
  local rc=0 out
  out=$("$RAILCTL" --socket "$WORK/nothing.sock" status 2>&1) || rc=$?
  [[ $rc -eq 1 && $out == *"daemon not running at $WORK/nothing.sock"* ]]
}
check "railctl says the daemon is not running, exit 1" not_running

# --- running daemon ----------------------------------------------------------
check "daemon starts and answers" start_daemon main "$WORK/good.toml"
pid=$(cat "$WORK/main.pid")
status_text() {
  local out
  out=$("$RAILCTL" --socket "$sock" status) || return 1
  echo "$out"
  grep -q 'railyardd .* on host it-host' <<<"$out"
}
check "railctl status shows version and host" status_text
status_json() {
  local out
  out=$("$RAILCTL" --socket "$sock" -j status) || return 1  # -j: --json
  jq -e --arg cfg "$WORK/good.toml" '.version != "" and (.uptime_ms | tonumber) >= 0 and .config_path == $cfg
    and .rails == [] and .peers == [] and .config_generation == "1"' <<<"$out"
}
check "railctl status --json: version, uptime, config path, empty rails and peers" status_json
sock_mode() { [[ $(stat -c '%a %G' "$sock") == "666 nogroup" ]]; }
check "socket has the configured mode and group" sock_mode

refused() {
  local rc=0 out
  out=$(setpriv --reuid 65534 --regid 1 --clear-groups "$RAILCTL" --socket "$sock" status 2>&1) || rc=$?
  [[ $rc -eq 1 && $out == *"permission denied: uid 65534"* ]] && grep -q "refused pid .* uid 65534" "$WORK/main.log"
}
check "a user outside the control group is refused, and the refusal is logged" refused
check "a user whose primary group is the control group is served" \
  setpriv --reuid 65534 --regid 65534 --clear-groups "$RAILCTL" --socket "$sock" status
check "a user with the control group as a supplementary group is served" \
  setpriv --reuid 65534 --regid 1 --groups 65534 "$RAILCTL" --socket "$sock" status
read_only() {
  # A member of control.read_group reads, and is refused every action (with
  # what it may do and whom to ask), which is logged; the daemon carries on.
  local as_reader=(setpriv --reuid 65534 --regid 100 --clear-groups "$RAILCTL" --socket "$sock")
  "${as_reader[@]}" status >/dev/null && "${as_reader[@]}" -j policy >/dev/null || return 1
  local verb out rc
  for verb in drain "throttle freeze" "fault rail r0 --drop 0.5"; do
    rc=0
    # shellcheck disable=SC2086
    out=$("${as_reader[@]}" $verb 2>&1) || rc=$?
    echo "$verb: exit $rc: $out"
    [[ $rc -eq 1 && $out == *"permission denied: uid 65534 may read"*"group 'nogroup'"* ]] || return 1
  done
  grep -q "control: refused an action (drain) from pid .* uid 65534" "$WORK/main.log" &&
    "$RAILCTL" --socket "$sock" -j policy | jq -e '.draining == false' >/dev/null
}
check "control.read_group: its members read (status, policy) and are refused drain, throttle and fault" read_only

garbage() {
  printf '\xff\xff\xff\xff' | nc -N -U "$sock" >/dev/null 2>&1 || true
  wait_for 2 grep -q "exceeds control.max_message_bytes" "$WORK/main.log" &&
    "$RAILCTL" --socket "$sock" status >/dev/null
}
check "an oversized message closes that connection only" garbage
second_daemon() {
  local rc=0
  "$RAILYARDD" --config "$WORK/good.toml" 2>"$WORK/second.log" || rc=$?
  [[ $rc -eq 1 ]] && grep -q "another process already serves $sock" "$WORK/second.log"
}
check "a second daemon on the same socket refuses to start" second_daemon

# --- SIGHUP ------------------------------------------------------------------
cp "$WORK/good.toml" "$WORK/good.toml.orig"
printf '\n[control]\nmystery = 1\n' >>"$WORK/good.toml"  # a duplicate table and an unknown key
broken_reload() {
  kill -HUP "$pid"
  wait_for 3 grep -q "reload refused" "$WORK/main.log" || return 1
  kill -0 "$pid" && "$RAILCTL" --socket "$sock" --json status |
    jq -e '.config_generation == "1" and .config_reloads_refused == "1" and .host_name == "it-host"'
}
check "SIGHUP with a broken file: refused, logged, old config keeps running" broken_reload
# A live change (the log level: debug lines appear) and one that needs a
# restart (the host name: reported, and the running name stays in status).
sed -e 's/it-host/it-host-2/' -e 's/^\[daemon\]$/[daemon]\nlog_level = "debug"/' "$WORK/good.toml.orig" >"$WORK/good.toml"
good_reload() {
  kill -HUP "$pid"
  wait_for 3 bash -c "'$RAILCTL' --socket '$sock' --json status | jq -e '.config_generation == \"2\" and .host_name == \"it-host\"'" &&
    grep -q "changes to daemon.host_name take effect when railyardd restarts" "$WORK/main.log" &&
    "$RAILCTL" --socket "$sock" status >/dev/null && grep -q "^<7>" "$WORK/main.log"
}
check "SIGHUP with a good file: live changes applied, the others reported and kept" good_reload

# --- SIGTERM -----------------------------------------------------------------
term_fast() {
  local start end rc=0
  start=$(date +%s%N)
  kill -TERM "$pid"
  wait "$pid" || rc=$?
  end=$(date +%s%N)
  echo "exit $rc after $(((end - start) / 1000000)) ms"
  [[ $rc -eq 0 && $(((end - start) / 1000000)) -lt 1000 && ! -e $sock ]]
}
check "SIGTERM: exit 0 in under 1 s, socket removed" term_fast

# --- stale socket and sd_notify ----------------------------------------------
stale() {
  "$RAILYARDD" --config "$WORK/good.toml" 2>"$WORK/k.log" &
  local p=$!
  wait_for 5 "$RAILCTL" --socket "$sock" status || return 1
  kill -9 $p
  wait $p 2>/dev/null
  [[ -S $sock ]] || return 1   # SIGKILL leaves the socket file behind
  "$RAILYARDD" --config "$WORK/good.toml" 2>"$WORK/k2.log" &
  p=$!
  wait_for 5 "$RAILCTL" --socket "$sock" status || return 1
  kill -TERM $p
  wait $p
}
check "restart after SIGKILL reclaims the stale socket" stale
mode_0660() {
  sed -e 's/"0666"/"0660"/' -e "s|$sock|$WORK/run/strict.sock|" "$WORK/good.toml" >"$WORK/strict.toml"
  start_daemon strict "$WORK/strict.toml" || return 1
  local rc=0 out
  out=$(setpriv --reuid 65534 --regid 1 --clear-groups "$RAILCTL" --socket "$WORK/run/strict.sock" status 2>&1) || rc=$?
  kill -TERM "$(cat "$WORK/strict.pid")"
  [[ $rc -eq 1 && $out == *"permission denied on $WORK/run/strict.sock"* ]]
}
check "with mode 0660 an outsider cannot even connect, and railctl says so" mode_0660
notify() {
  local nsock=$WORK/notify.sock
  nc -lkuU "$nsock" >"$WORK/notify.out" &
  local ncpid=$!
  on_exit "kill $ncpid"
  wait_for 2 test -S "$nsock" || return 1
  NOTIFY_SOCKET=$nsock WATCHDOG_USEC=200000 "$RAILYARDD" --config "$WORK/good.toml" 2>"$WORK/n.log" &
  local p=$!
  wait_for 5 grep -q "READY=1" "$WORK/notify.out" || return 1
  wait_for 2 grep -q "WATCHDOG=1" "$WORK/notify.out" || return 1
  kill -TERM $p
  wait $p
  wait_for 2 grep -q "STOPPING=1" "$WORK/notify.out"
}
check "sd_notify: READY, WATCHDOG pings, STOPPING" notify

# --- systemd unit ------------------------------------------------------------
unit_verify() {
  mkdir -p "$WORK/unit"
  sed "s|^ExecStart=[^ ]*|ExecStart=$RAILYARDD|" "$BUILD/systemd/railyardd.service" >"$WORK/unit/railyardd.service"
  local out
  out=$(systemd-analyze verify "$WORK/unit/railyardd.service" 2>&1) || { echo "$out"; return 1; }
  [[ -z $out ]] || { echo "$out"; return 1; }
}
check "systemd-analyze verify: the unit is clean (no warnings)" unit_verify

installed() {
  # What meson install puts where: admin tools in the PATH, test tools not,
  # and the file the unit's Documentation= names.
  local dest=$WORK/dest out
  out=$(meson install -C "$BUILD" --destdir "$dest" --no-rebuild --quiet 2>&1) || { echo "$out"; return 1; }
  local prefix
  prefix=$(meson introspect "$BUILD" --buildoptions | jq -r '.[] | select(.name == "prefix") | .value')
  ls "$dest$prefix/bin" "$dest$prefix/libexec/railyard"
  local doc
  doc=$(sed -n 's|^Documentation=file://||p' "$BUILD/systemd/railyardd.service")
  [[ -f $dest$doc && $(ls "$dest$prefix/bin") == railctl && -x $dest$prefix/sbin/railyardd ]] &&
    [[ -x $dest$prefix/libexec/railyard/bmc-sim && -x $dest$prefix/libexec/railyard/decode-sim ]] || return 1
  # railctl(8) names every command railctl's own help names; the bash completion completes them.
  local page cmd n=0 completion="$dest$prefix/share/bash-completion/completions/railctl"
  page=$(MANWIDTH=200 man -l "$dest$prefix/share/man/man8/railctl.8" 2>/dev/null) || return 1
  for cmd in $("$RAILCTL" help | sed -n 's/^  \([a-z]\+\).*/\1/p'); do
    grep -q "^ *$cmd\b" <<<"$page" || { echo "railctl(8) lacks '$cmd'"; return 1; }
    ((++n))
  done
  ((n >= 10)) || { echo "only $n commands in railctl help"; return 1; }
  [[ $(bash -c "source '$completion'; COMP_WORDS=(railctl --json dr); COMP_CWORD=2; _railctl; echo \"\${COMPREPLY[*]}\"") == drain &&
    $(bash -c "source '$completion'; COMP_WORDS=(railctl send --pe); COMP_CWORD=2; _railctl; echo \"\${COMPREPLY[*]}\"") == --peer ]]
}
check "meson install: railctl alone in bin/, test tools in libexec/railyard/, the unit's Documentation=, railctl(8) and its bash completion" installed

finish
