#!/usr/bin/env bash
# run_fuzz.sh replay|fuzz BINARY CORPUS_DIR [SECONDS]
# replay: run every seed through the target once.
# fuzz:   libFuzzer for SECONDS (default 20) on a scratch copy of the seeds;
#         any crash fails the test and leaves the input in the build dir.
set -euo pipefail
mode=$1 bin=$2 corpus=$3 seconds=${4:-${RAILYARD_FUZZ_SECONDS:-20}}
shopt -s nullglob
seeds=("$corpus"/*)
((${#seeds[@]})) || { echo "no seeds in $corpus" >&2; exit 1; }
if [[ $mode == replay ]]; then
  exec "$bin" "${seeds[@]}"
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp "${seeds[@]}" "$scratch"/
# libFuzzer exits 77 on a crash by default, which meson would report as SKIP.
exec "$bin" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
  -error_exitcode=1 -timeout_exitcode=1 \
  -artifact_prefix="$PWD/" "$scratch"
