#!/usr/bin/env bash
# The end-to-end demo on the embedded default (no pcscd, no hardware).
# Usage: scripts/demo.sh PATH/TO/cardbureau
set -euo pipefail
bin=${1:?usage: demo.sh PATH/TO/cardbureau}
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/out"
mkdir -p "$out"

echo "== cardbureau demo: validating every fixture job =="
printf '%-46s %s\n' "JOB FILE" "OUTCOME"
ok=0; refused=0
declare -A by_code=()
for f in "$root"/fixtures/jobs/*.json; do
  photo=$(python3 -c 'import json,sys
try: print(json.load(open(sys.argv[1])).get("photo_file",""))
except Exception: print("")' "$f")
  args=("$f")
  [ -n "$photo" ] && args+=(--photo "$root/fixtures/photos/$photo")
  set +e
  result=$("$bin" validate "${args[@]}" 2>&1)
  rc=$?
  set -e
  printf '%-46s %s\n' "$(basename "$f")" "$result"
  if [ $rc -eq 0 ]; then ok=$((ok + 1)); else
    refused=$((refused + 1)); code=${result%% *}; by_code[$code]=$(( ${by_code[$code]:-0} + 1 )); fi
done
echo
echo "valid: $ok   refused: $refused"
for c in "${!by_code[@]}"; do printf '  %-28s %d\n' "$c" "${by_code[$c]}"; done | sort
