#!/usr/bin/env bash
# Checks that every tracked C++ source (*.cpp, *.h) is formatted as
# .clang-format says: `clang-format --dry-run --Werror`, no file changed.
# Exit 0 when clean, 1 when a file differs (the diagnostics name it),
# 2 when clang-format is missing. `make format` fixes the tree.
# `make test` (and so .ci/run) runs it before building.
set -euo pipefail
cd "$(dirname "$0")/.."
CLANG_FORMAT=${CLANG_FORMAT:-clang-format}
if ! command -v "$CLANG_FORMAT" >/dev/null 2>&1; then
  echo "check-format: $CLANG_FORMAT not found (apt-get install clang-format)" >&2
  exit 2
fi
mapfile -d '' files < <(git ls-files -z -- '*.cpp' '*.h')
if [ "${#files[@]}" -eq 0 ]; then
  echo "check-format: no tracked *.cpp/*.h files" >&2
  exit 2
fi
bad=()
for f in "${files[@]}"; do
  if ! "$CLANG_FORMAT" --dry-run --Werror "$f" >/dev/null 2>&1; then
    bad+=("$f")
  fi
done
if [ "${#bad[@]}" -ne 0 ]; then
  printf 'check-format: not formatted: %s\n' "${bad[@]}"
  echo "check-format: ${#bad[@]} of ${#files[@]} file(s) differ from .clang-format (run: make format)"
  exit 1
fi
echo "check-format: ${#files[@]} file(s) formatted"
