# shellcheck shell=bash
# bench/lib.sh: what the rack-sim benchmarks share (sourced by
# bench/fabric/run.sh and bench/dpdk/p5.sh after their option parsing): the
# paths, the checks before a run, racks brought up with their session
# established, and the clean-up of racks and background processes on exit.
#
# Sets repo, SIM, BUILD (RAILYARD_BUILDDIR or build/), RAILCTL; the arrays
# racks (taken down on exit) and bg (pids killed on exit); pin_build.

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIM=$repo/tools/rack-sim
BUILD=${RAILYARD_BUILDDIR:-$repo/build}
RAILCTL=$BUILD/tools/railctl

die() { echo "${0##*/}: $*" >&2; exit 1; }
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
calc() { awk "BEGIN{print $*}"; }

need_root() { [[ $(id -u) -eq 0 ]] || die "needs root (network namespaces)"; }
# Built binaries (the benchmarks never build) and installed tools.
need_binaries() { local b; for b in "$@"; do [[ -x $b ]] || die "$b is missing (this script never builds: build first)"; done; }
need_tools() { local t; for t in "$@"; do command -v "$t" >/dev/null || die "$t is not installed"; done; }

peer_addr() { echo "198.18.$2.$1"; }   # host, rail (rack-sim's addressing)
ctl_sock() { echo "/run/railyard-sim/$1/$2/control.sock"; }
daemon_pid() { cat "/run/railyard-sim/$1/$2/railyardd.pid"; }

# Copies the binaries a run uses (paths under BUILD) into a fresh directory of
# the same layout and points BUILD, RAILCTL and rack-sim (RAILYARD_BUILDDIR)
# there, so that a rebuild of build/ during a long run can neither remove nor
# change them half-way; the copy is removed on exit.
pinned=""
pin_build() {   # path under BUILD...
  local p
  pinned=$(mktemp -d /tmp/railyard-bench-build.XXXXXX)
  for p in "$@"; do
    mkdir -p "$pinned/$(dirname "$p")"
    cp -p "$BUILD/$p" "$pinned/$p" || die "cannot copy $BUILD/$p"
  done
  export RAILYARD_BUILDDIR=$pinned
  BUILD=$pinned RAILCTL=$pinned/tools/railctl
}

racks=() bg=()
rack_down() { "$SIM" down --name "$1" >/dev/null 2>&1 || true; }
bench_cleanup() {
  local p r
  for p in "${bg[@]+"${bg[@]}"}"; do kill "$p" 2>/dev/null || true; done
  for r in "${racks[@]+"${racks[@]}"}"; do rack_down "$r"; done
  if [[ -n $pinned ]]; then rm -rf "$pinned"; fi
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# A 2-host rack without bmc-sim (nothing but the fabric takes CPU), up once
# h1's daemon has its session with h2 established.
rack_up() {   # name [rack-sim up options: --rails, --rate, --mtu, --driver, --pmd, --packet-auth]
  local name=$1 _
  shift
  rack_down "$name"
  racks+=("$name")
  "$SIM" up --name "$name" --hosts 2 --no-bmc "$@" >/dev/null
  for _ in $(seq 200); do
    [[ $("$RAILCTL" --socket "$(ctl_sock "$name" h1)" --json peers 2>/dev/null | jq -r '.peers[0].state') == established ]] &&
      return 0
    sleep 0.05
  done
  die "rack $name: the daemons did not establish a session"
}
