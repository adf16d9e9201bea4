#!/usr/bin/env bash
# Runs every libFuzzer target listed in BUILD/fuzzers.txt on a copy of its
# seed corpus. Each line: name seconds corpus-dir. JOB_PARSER gets the
# requested seconds (default 60); the others their own budget.
# Any crash, leak or sanitizer report fails the run.
set -euo pipefail
build=$(cd "${1:?usage: fuzz-run.sh BUILD_DIR [SECONDS]}" && pwd)
main_seconds=${2:-60}
list="$build/fuzzers.txt"
[ -f "$list" ] || { echo "fuzz-run: no $list (run make fuzz)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
count=0
while read -r name seconds corpus; do
  [ -n "$name" ] || continue
  [ "$name" = fuzz_job_parser ] && seconds=$main_seconds
  mkdir -p "$work/$name"
  if [ -d "$corpus" ]; then cp -r "$corpus"/. "$work/$name"/ 2>/dev/null || true; fi
  echo "fuzz-run: $name for ${seconds}s (seeds: $(ls "$work/$name" | wc -l))"
  if ! (cd "$work" && "$build/fuzz/$name" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=0 "$work/$name" >"$work/$name.log" 2>&1); then
    echo "fuzz-run: $name FAILED"; tail -60 "$work/$name.log"; fail=1
    mkdir -p "$build/fuzz-failures" && cp "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$build/fuzz-failures/" 2>/dev/null || true
    echo "fuzz-run: inputs kept in $build/fuzz-failures; after the fix, add them to tests/fuzz/crashes/$name/ (make test replays them)"
  else
    grep -E '^#[0-9]+.*(DONE|pulse)' "$work/$name.log" | tail -1 || true
  fi
  count=$((count + 1))
done <"$list"
if [ "$fail" -ne 0 ]; then echo "fuzz-run: $count target(s), failures found"; exit 1; fi
echo "fuzz-run: $count target(s) ran clean"
