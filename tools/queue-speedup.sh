#!/usr/bin/env bash
# Usage: tools/queue-speedup.sh [workers...]      (default: 1 2 3)
#
# Wall time of one small embedded-model sweep (6 cells: 2 curricula x 3 seeds, a few EM/GRPO steps)
# run through the Redis queue by 1, 2, 3 `emrl worker` processes on this machine, plus a local
# `emrl sweep -j 2` of the same grid whose sweep-summary.json must equal each queued one, number
# for number, apart from wall-clock metrics (`*/perf/*_time`, `*/perf/tokens_per_sec`).
# Workers are started and idle before the clock starts (long-lived workers, as on a cluster); the
# time is the coordinator's, from its start to the sweep report, and (in parentheses) from
# enqueueing to the last cell's result, without the coordinator's startup and report rendering.
# Starts its own redis-server on port 16400 in a temp dir and stops everything it started at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then WORKERS=("$@"); else WORKERS=(1 2 3); fi
tmp="$(mktemp -d "${TMPDIR:-/tmp}/emrl-speedup-XXXX")"
emrl() { node --import tsx apps/pipeline/src/main.ts "$@"; }
# Prints "yes" when two sweep-summary.json files agree on every number except wall-clock ones.
same_numbers() {
  node -e '
    const fs = require("fs");
    const clock = (k) => /\/perf\/(.*_time|tokens_per_sec)$/.test(k);
    const strip = (v) => Array.isArray(v) ? v.map(strip) : v && typeof v === "object"
      ? Object.fromEntries(Object.entries(v).filter(([k]) => !clock(k)).map(([k, x]) => [k, strip(x)])) : v;
    const [a, b] = process.argv.slice(1).map((f) => JSON.stringify(strip(JSON.parse(fs.readFileSync(f, "utf8")))));
    console.log(a === b ? "yes" : "NO");' "$1" "$2"
}
cat > "$tmp/base.yaml" <<'YAML'
name: speed-base
model: { type: embedded }
task: { type: modchain }
seed: 0
diagnostics: { probeSize: 4, temperatures: [0, 1], samplesPerPrompt: 2 }
stages:
  - em: { steps: 6, rollouts: 4, prompt: { split: train, count: 1 } }
  - grpo: { steps: 6, promptsPerStep: 2, groupSize: 4 }
  - eval: { temperatures: [0, 1], samples: 2, split: test, limit: 8 }
YAML
cat > "$tmp/grid.yaml" <<'YAML'
name: speed-grid
base: base.yaml
curricula:
  em-then-grpo: [em, grpo, eval]
  grpo-only: [grpo, eval]
seeds: [1, 2, 3]
YAML
redis-server --port 16400 --bind 127.0.0.1 --dir "$tmp" --save '' --daemonize yes --pidfile "$tmp/redis.pid" --logfile "$tmp/redis.log"
sleep 1
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  kill "$(cat "$tmp/redis.pid")" 2>/dev/null || true
}
trap cleanup EXIT
start=$(date +%s.%N)
emrl sweep "$tmp/grid.yaml" --out "$tmp/local" -j 2 > "$tmp/local.log" 2>&1
echo "local sweep -j 2: $(echo "$(date +%s.%N) - $start" | bc) s"
for w in "${WORKERS[@]}"; do
  url="redis://127.0.0.1:16400/0?prefix=speed$w"
  pids=()
  for i in $(seq "$w"); do
    node --import tsx apps/pipeline/src/main.ts worker --queue "$url" --work-dir "$tmp/work$w" > "$tmp/worker$w-$i.log" 2>&1 &
    pids+=($!)
  done
  for i in $(seq "$w"); do
    for _ in $(seq 300); do grep -q "waiting for cells" "$tmp/worker$w-$i.log" && break; sleep 0.2; done
  done
  start=$(date +%s.%N)
  emrl sweep "$tmp/grid.yaml" --queue "$url" --out "$tmp/queued$w" > "$tmp/coord$w.log" 2>&1
  cells=$(grep -o '[0-9.]* s after enqueueing' "$tmp/coord$w.log" | cut -d' ' -f1)
  echo "$w worker(s): $(echo "$(date +%s.%N) - $start" | bc) s (cells done ${cells} s after enqueueing); same numbers as the local sweep: $(same_numbers "$tmp/local/sweep-summary.json" "$tmp/queued$w/sweep-summary.json")"
  for p in "${pids[@]}"; do kill -TERM "$p"; wait "$p" || true; done
done
echo "logs and outputs: $tmp"
