#!/usr/bin/env bash
# Compiler/linker launcher that records the CPU time of every compile and
# link: CMAKE_CXX_COMPILER_LAUNCHER / CMAKE_CXX_LINKER_LAUNCHER. Appends
# "user sys wall output" to $CB_TIME_LOG (default /tmp/cb-time.log).
# Summarise with scripts/time-report.sh LOG.
log=${CB_TIME_LOG:-/tmp/cb-time.log}
out=?
prev=
for a in "$@"; do
  [ "$prev" = -o ] && out=$a
  prev=$a
done
exec /usr/bin/time -a -o "$log" -f "%U %S %e $out" "$@"
