# Shared helpers for the integration tests (bash). Source it, then call
#   check "what" COMMAND...      pass when COMMAND exits 0
#   check_not "what" COMMAND...  pass when COMMAND exits non-zero
#   finish                        prints "N passed, N failed" and exits 0 only if none failed
# Every test gets a private $WORK directory, removed on exit; cleanup hooks
# registered with on_exit run even when the test fails or is interrupted.

set -uo pipefail

: "${BUILD:?BUILD must point at the meson build directory}"
RAILYARDD=$BUILD/daemon/railyardd
RAILCTL=$BUILD/tools/railctl

WORK=$(mktemp -d /tmp/railyard-it.XXXXXX)
chmod 0755 "$WORK"
_passed=0
_failed=0
_exit_hooks=()

on_exit() { _exit_hooks+=("$*"); }
_run_exit_hooks() {
  local i
  for ((i = ${#_exit_hooks[@]} - 1; i >= 0; i--)); do eval "${_exit_hooks[i]}" >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap _run_exit_hooks EXIT
trap 'exit 130' INT TERM

check() {
  local what=$1
  shift
  if "$@" >"$WORK/last.out" 2>&1; then
    echo "ok   - $what"
    ((_passed++))
  else
    echo "FAIL - $what"
    sed 's/^/       | /' "$WORK/last.out" | tail -20
    ((_failed++))
  fi
}

check_not() {
  local what=$1
  shift
  if "$@" >"$WORK/last.out" 2>&1; then
    echo "FAIL - $what (succeeded, expected failure)"
    sed 's/^/       | /' "$WORK/last.out" | tail -20
    ((_failed++))
  else
    echo "ok   - $what"
    ((_passed++))
  fi
}

finish() {
  echo "$_passed passed, $_failed failed"
  ((_failed == 0))
  exit $?
}

# wait_for SECONDS COMMAND...: retries COMMAND every 50 ms until it succeeds.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

# start_daemon NAME CONFIG: starts railyardd in the background, logs to
# $WORK/NAME.log, pid in $WORK/NAME.pid; waits until its socket answers.
start_daemon() {
  local name=$1 config=$2 socket
  socket=$(sed -n 's/^socket *= *"\(.*\)"/\1/p' "$config")
  "$RAILYARDD" --config "$config" 2>"$WORK/$name.log" &
  echo $! >"$WORK/$name.pid"
  on_exit "kill -9 $! 2>/dev/null"
  wait_for 10 "$RAILCTL" --socket "$socket" status
}

require_root() {
  if [[ $(id -u) -ne 0 ]]; then
    echo "SKIP: this test needs root (network namespaces, other users); run it as root"
    exit 77
  fi
}

# run_load NAME COUNT [SEND_ARGS...]: fabric-load across rack-sim rack $rack
# (driven by $SIM, state in $state): receiver on h2, sender on h1, COUNT
# transfers of 1 B to 16 MiB in both classes, every byte and its CRC32C
# checked on arrival. Passes when both sides report ok and every transfer
# arrived intact.
run_load() {
  local name=$1 count=$2
  shift 2
  "$SIM" exec --name "$rack" h2 "$BUILD/tools/fabric-load" receive --socket "$state/h2/workload.sock" \
    --expect "$count" --timeout 150 >"$WORK/$name.recv" 2>&1 &
  local rpid=$!
  wait_for 5 grep -q '"ready":true' "$WORK/$name.recv" || return 1
  "$SIM" exec --name "$rack" h1 "$BUILD/tools/fabric-load" send --socket "$state/h1/workload.sock" --peer h2 \
    --count "$count" --timeout 150 "$@" >"$WORK/$name.send" 2>&1
  local src=$?
  wait $rpid
  local rrc=$?
  cat "$WORK/$name.send" "$WORK/$name.recv"
  [[ $src -eq 0 && $rrc -eq 0 ]] && grep -q '"ok":true' "$WORK/$name.send" &&
    tail -1 "$WORK/$name.recv" | jq -e --argjson n "$count" '.ok and .received == $n and .mismatched == 0
      and .checksum_verified == $n and .activation > 0'
}

# startup_bed NAME: for the start-up refusal tests: a built railyardd (else
# FAIL), network namespace NAME with lo up (removed on exit), and a key at
# $WORK/psk. Sets $ns.
startup_bed() {
  if ! "$RAILYARDD" --version >/dev/null 2>&1; then
    echo "FAIL - no railyardd at $RAILYARDD: build first (ninja -C \$BUILD)"
    exit 1
  fi
  ns=$1
  on_exit ip netns del "$ns"
  ip netns add "$ns" || exit 1
  ip -n "$ns" link set lo up
  printf '0123456789abcdef0123456789abcdef' >"$WORK/psk"
  chmod 0600 "$WORK/psk"
}

# start_refused NAME PATTERN...: railyardd on $WORK/NAME.toml, in network namespace
# $ns, must exit 1 within 5 s (bounded at 30 s), leave no control socket
# ($WORK/NAME/control.sock), and log a "failed to start" or "configuration
# refused" line that, with the three lines after it, matches every extended
# regex PATTERN. The log is $WORK/NAME.log.
start_refused() {
  local name=$1 rc=0 start elapsed line p
  shift
  start=$(date +%s%N)
  timeout 30 ip netns exec "$ns" "$RAILYARDD" --config "$WORK/$name.toml" >"$WORK/$name.log" 2>&1 || rc=$?
  elapsed=$((($(date +%s%N) - start) / 1000000))
  line=$(grep -E 'failed to start|configuration refused' -A3 "$WORK/$name.log")
  echo "exit $rc after $elapsed ms; message:"
  echo "$line"
  ((rc == 1)) || { echo "expected exit 1"; tail -20 "$WORK/$name.log"; return 1; }
  ((elapsed < 5000)) || { echo "took $elapsed ms, expected under 5 s"; return 1; }
  [[ ! -e $WORK/$name/control.sock ]] || { echo "control socket left behind"; return 1; }
  for p in "$@"; do
    grep -Eq -- "$p" <<<"$line" || { echo "message does not match: $p"; return 1; }
  done
}

# railctl_refuses FILE KEY: railctl config check must refuse FILE (exit 1)
# with a problem at KEY.
railctl_refuses() {
  local rc=0 out
  out=$("$RAILCTL" --json config check "$1") || rc=$?
  echo "$out"
  ((rc == 1)) && jq -e --arg key "$2" '.ok == false and any(.problems[]; .key == $key)' <<<"$out"
}
