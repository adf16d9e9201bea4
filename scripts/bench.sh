#!/usr/bin/env bash
# Runs every benchmark of a Release build and prints the figures.
# Usage: scripts/bench.sh BUILD_DIR   (make bench)
set -uo pipefail
build=$(cd "${1:?usage: bench.sh BUILD_DIR}" && pwd)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
run() {
  local exe=$1; shift
  if [ -x "$build/$exe" ]; then
    echo; echo "== $exe $*"; "$build/$exe" "$@"
  else
    echo; echo "== $exe: not built (Google Benchmark missing?)"
  fi
}
run bench/devices/bench_devices
run bench/encoder/bench_encoder
run bench/layout/bench_layout --benchmark_min_time=1
run bench/server/bench_server_intake
run bench/line/bench_line 40 2
