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
# The written-card cases create ~9 files per card. On ext4 without a
# journal (this VM's root), every file created within 60-360 s of mass
# deletions first walks the recently deleted inodes (recently_deleted() in
# the inode allocator), which can halve the figures; a previous run's
# clean-up is such a deletion. Writing back and dropping the caches ends
# that window (root only; otherwise a note).
if [ -w /proc/sys/vm/drop_caches ]; then
  sync && echo 3 >/proc/sys/vm/drop_caches
else
  echo "note: not root, caches not dropped; written-card figures may be low after recent deletions"
fi
run bench/layout/bench_layout --benchmark_min_time=1
run bench/scan/bench_scan
run bench/server/bench_server_intake
run bench/line/bench_line 40 2
