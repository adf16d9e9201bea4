#!/usr/bin/env bash
# The end-to-end demo on the embedded default: no pcscd, no hardware.
#
# The reference centre (cardbureau centre) offers 56 jobs — 44 valid ones
# over four schools and 12 invalid ones — and cancels one; the bureau
# (cardbureau serve --production line) pulls them over ZeroMQ, stores them in
# SQLite, validates, renders, encodes virtual MIFARE cards on two simulated
# printers (loopback readers, with a jam and a pulled card injected),
# verifies each card and reports back. Once a card is reported, QA asks for
# one reprint through the dashboard API: the centre receives a card_replaced
# report for it. Results land in out/.
#
# Usage: scripts/demo.sh PATH/TO/cardbureau
set -euo pipefail
bin=$(realpath "${1:?usage: demo.sh PATH/TO/cardbureau}")
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/out"
data="$out/data"

rm -rf "$out"
mkdir -p "$data/keys" "$out/cards" "$out/batches" "$out/rejected"
# Test-only keys (fixtures/keys/README.md); the keystore must be mode 600.
cp "$root/fixtures/keys/keystore-test.json" "$root/fixtures/keys/qr-test-ed25519.pem" "$data/keys/"
chmod 600 "$data/keys/"*
python3 "$root/scripts/make_demo_jobs.py" "$out/jobs.jsonl" >/dev/null
njobs=$(wc -l <"$out/jobs.jsonl")

cat >"$data/line.json" <<JSON
{
  "keys": "keys/keystore-test.json",
  "template": "bjt-student",
  "profile": "evolis-300",
  "render_threads": 1,
  "max_tries": 3,
  "batches_dir": "$out/batches",
  "stock": {"required": true, "low_level": 20},
  "stations": [
    {"name": "station-1", "printer": "sim", "reader": "loopback", "hopper": "$out/hopper/station-1",
     "seed": 1000, "faults": {"jam_feed": [4], "cards": {"6": "pull-after=14"}}},
    {"name": "station-2", "printer": "sim", "reader": "loopback", "hopper": "$out/hopper/station-2",
     "seed": 5000, "faults": {"cards": {"3": "fail-auth=1,dead-sector=9"}}}
  ]
}
JSON

# Card stock: the lots the sim printers' cards come from (their next UIDs
# for this data dir and bureau id, 1K and 4K), imported before production;
# the line checks every card against them (stock.required).
"$bin" stock sim-lot --data "$data" --bureau bj-bureau-01 --type 1k --count 80 \
  --out "$out/LOT-DEMO-1K.csv" 2>/dev/null
"$bin" stock sim-lot --data "$data" --bureau bj-bureau-01 --type 4k --count 40 \
  --out "$out/LOT-DEMO-4K.csv" 2>/dev/null
"$bin" stock import --data "$data" "$out/LOT-DEMO-1K.csv" >/dev/null
"$bin" stock import --data "$data" "$out/LOT-DEMO-4K.csv" >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
endpoint="tcp://127.0.0.1:$port"
hport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# A QA token for the dashboard API (the demo's one reprint).
tok_out=$("$bin" dashboard-token --name li --role qa)
qa_token=$(sed -n 's/^token: //p' <<<"$tok_out")
printf '{"tokens": [%s]}\n' "$(sed -n 's/^entry: //p' <<<"$tok_out")" >"$data/tokens.json"
chmod 600 "$data/tokens.json"

echo "== cardbureau demo =="
echo "centre:  $njobs jobs (44 valid, 12 invalid), one cancel; endpoint $endpoint"
echo "bureau:  2 simulated printers on loopback readers; data in out/data"
echo

start=$(date +%s.%N)
"$bin" centre --bind "$endpoint" --jobs "$out/jobs.jsonl" --photos "$root/fixtures/photos" \
  --reports "$out/reports.jsonl" --until-done --expect-replacements 1 --cancel DEMO-0044@0 \
  2>"$out/centre.log" &
centre_pid=$!
"$bin" serve --centre "$endpoint" --data "$data" --production line --bureau-id bj-bureau-01 \
  --http "127.0.0.1:$hport" --tokens "$data/tokens.json" >"$out/bureau.log" 2>&1 &
bureau_pid=$!
cleanup() { kill "$bureau_pid" "$centre_pid" 2>/dev/null || true; }
trap cleanup EXIT

# Progress: terminal reports received by the centre (a bar on a terminal,
# a line per change otherwise).
# The reprint: the first job reported `completed` gets a new card (QA runs
# it at once); the centre must then receive card_replaced for it.
api() {  # METHOD PATH [JSON]
  python3 - "$hport" "$qa_token" "$@" <<'PY'
import sys, urllib.request
port, token, method, path = sys.argv[1:5]
body = sys.argv[5].encode() if len(sys.argv) > 5 else None
req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method,
                             headers={"Authorization": f"Bearer {token}",
                                      "Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        sys.stdout.write(r.read().decode())
except Exception as e:
    sys.stderr.write(f"demo: {method} {path}: {e}\n"); sys.exit(1)
PY
}
reprinted=""
last=-1
while kill -0 "$centre_pid" 2>/dev/null; do
  if [ -z "$reprinted" ] && [ -f "$out/reports.jsonl" ]; then
    job=$(python3 -c 'import json,sys
for l in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(l)
    if r.get("type") == "completed": print(r["job_id"]); break' "$out/reports.jsonl" 2>/dev/null || true)
    if [ -n "$job" ]; then
      if ! api POST "/api/jobs/$job/reprint" '{"reason":"demo: card damaged at the school"}' \
          >"$out/reprint.json"; then
        echo "demo: the reprint request failed; see out/bureau.log" >&2; exit 1
      fi
      reprinted=$job
    fi
  fi
  done_n=$( [ -f "$out/reports.jsonl" ] && wc -l <"$out/reports.jsonl" || echo 0)
  if [ "$done_n" -ne "$last" ]; then
    last=$done_n
    filled=$(( done_n * 40 / njobs ))
    bar=$(printf '%*s' "$filled" '' | tr ' ' '#')$(printf '%*s' $((40 - filled)) '' | tr ' ' '.')
    if [ -t 1 ]; then printf '\r  [%s] %3d / %d reports' "$bar" "$done_n" "$njobs";
    else printf '  [%s] %3d / %d reports\n' "$bar" "$done_n" "$njobs"; fi
  fi
  if ! kill -0 "$bureau_pid" 2>/dev/null; then
    echo; echo "demo: the bureau stopped early; see out/bureau.log" >&2; tail -20 "$out/bureau.log" >&2; exit 1
  fi
  sleep 0.5
done
set +e
wait "$centre_pid"; centre_rc=$?
set -e
# The batches as the store counts them (the query behind the dashboard and
# every reconciliation.json), before the bureau stops.
api GET /api/batches >"$out/batches.json" || echo '{"batches":[]}' >"$out/batches.json"
kill -TERM "$bureau_pid" 2>/dev/null || true
wait "$bureau_pid" || true
trap - EXIT
end=$(date +%s.%N)
[ -t 1 ] && echo
echo
if [ "$centre_rc" -ne 0 ]; then
  echo "demo: the centre exited with $centre_rc; see out/centre.log" >&2; tail -20 "$out/centre.log" >&2; exit 1
fi

# Gather each produced card: faces from the bureau's card folder, the chip
# image from the printer's output hopper.
for d in "$data"/cards/*/; do
  job=$(basename "$d")
  [ -f "$d/front.png" ] || continue
  mkdir -p "$out/cards/$job"
  cp "$d/front.png" "$d/back.png" "$out/cards/$job/"
  card_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["card_id"])' "$d/production.json")
  for h in "$out"/hopper/*/output/"$card_id"; do
    [ -f "$h/card.mfd" ] && cp "$h/card.mfd" "$out/cards/$job/card.mfd"
  done
done
for h in "$out"/hopper/*/reject/*/; do
  [ -d "$h" ] && cp -r "$h" "$out/rejected/" 2>/dev/null || true
done

python3 - "$out/reports.jsonl" "$start" "$end" "$out/batches.json" "$data/bureau.db" <<'PY'
import collections, json, sqlite3, sys
reports = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
secs = float(sys.argv[3]) - float(sys.argv[2])
batches = json.load(open(sys.argv[4], encoding="utf-8")).get("batches", [])
by_type = collections.Counter(r["type"] for r in reports)
codes = collections.Counter(r.get("code") for r in reports if r["type"] in ("rejected", "failed"))
terminal = [r for r in reports if r["type"] != "card_replaced"]
jobs = collections.Counter(r["job_id"] for r in terminal)
produced = by_type.get("completed", 0)
replaced = [r for r in reports if r["type"] == "card_replaced"]
print("summary")
print(f"  produced   {produced:4d}   (every card passed chip + face QA before `completed`)")
print(f"  rejected   {by_type.get('rejected', 0):4d}")
for code, n in sorted(codes.items(), key=lambda x: (-x[1], str(x[0]))):
    print(f"    {code:<26} {n}")
print(f"  failed     {by_type.get('failed', 0):4d}")
print(f"  cancelled  {by_type.get('cancelled', 0):4d}")
print(f"  one terminal report per job: {'yes' if all(n == 1 for n in jobs.values()) else 'NO'}")
for r in replaced:
    print(f"  card_replaced  {r['job_id']}: {r['replaces']['uid']} -> {r['card']['uid']} ({r['reason']})")
# The store's counts (one query: dashboard, reconciliation.json) against the
# centre's reports: every produced card is a `completed` or a card_replaced.
store = collections.Counter()
for b in batches:
    for k in ("total", "produced", "voided", "rejected", "failed", "reprinted"):
        store[k] += b.get(k, 0)
# The dashboard splits produced cards into live and voided (replaced by a
# reprint); both were produced.
store["produced"] += store["voided"]
print(f"  store counts  produced {store['produced']} ({store['voided']} voided), rejected {store['rejected']}, "
      f"failed/cancelled {store['failed']}, reprints {store['reprinted']} (out/batches.json)")
# Every produced card is a `completed` or a card_replaced at the centre.
agree = store["produced"] == produced + len(replaced)
print(f"  produced cards: store {store['produced']} = completed {produced} + card_replaced "
      f"{len(replaced)}: {'yes' if agree else 'NO'}")
# The same query wrote every reconciliation.json.
import glob, os
recon = collections.Counter()
for f in glob.glob(os.path.join(os.path.dirname(sys.argv[4]), "batches", "*", "reconciliation.json")):
    r = json.load(open(f, encoding="utf-8"))
    for k in ("produced", "rejected", "reprinted"):
        recon[k] += r.get(k, 0)
same = all(recon[k] == store[k] for k in ("produced", "rejected", "reprinted"))
print(f"  reconciliation.json files = dashboard batches: {'yes' if same else 'NO'}")
# The faults the demo injected, as the jobs' histories recorded them.
db = sqlite3.connect(f"file:{sys.argv[5]}?mode=ro", uri=True)
faults = db.execute("SELECT code, stage, count(*) FROM job_history WHERE kind='fault' "
                    "GROUP BY code, stage ORDER BY code, stage").fetchall()
print("  faults recorded in the jobs' histories (`cardbureau history JOB --data out/data`):")
for code, stage, n in faults:
    print(f"    {code:<26} at {stage:<11} {n}")
if not faults:
    print("    none")
print(f"  time       {secs:6.1f} s   ({produced / secs * 3600:,.0f} cards/hour)")
PY

echo
echo "Card stock (cardbureau stock report --data out/data):"
"$bin" stock report --data "$data" | grep -v '^  produced ' | sed 's/^/  /'

first=$(ls "$out/cards" | head -1)
if [ -n "$first" ]; then
  echo
  echo "QA of one card (cardbureau verify):"
  "$bin" verify --image "$out/cards/$first/card.mfd" --face "$out/cards/$first/front.png" \
    --keys "$data/keys/keystore-test.json" | sed 's/^/  /'
fi
if [ -n "$reprinted" ]; then
  echo
  echo "History of the reprinted job (cardbureau history $reprinted --data out/data):"
  "$bin" history "$reprinted" --data "$data" | sed 's/^/  /'
fi
cat <<TXT

Look at:
  out/reports.jsonl             what the centre received (one JSON line per report)
  out/cards/<job>/front.png     the printed faces; back.png; card.mfd = the chip image
  out/batches/<school>/         manifest.pdf (cards N-up + manifest) and reconciliation.json
  out/batches.json              the store's batch counts (same query as the dashboard)
  cardbureau history JOB --data out/data   a job's history (attempts, faults, QA, reprints)
  out/rejected/                 cards that went to the reject hopper (jam, pulled card, failed auth)
  cardbureau stock report --data out/data  per stock lot: received, produced, spoiled, remaining
  out/LOT-DEMO-*.csv            the stock lots the demo imported (matching the sim printers)
  out/bureau.log, out/centre.log
TXT
