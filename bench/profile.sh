#!/usr/bin/env bash
# Profiles a mirror's hot path at peak throughput on two mock clusters with perf:
#   bench/profile.sh [kmirror|rawpipe] [SIZE] [PARTITIONS]      (defaults: kmirror 100 256)
# Loads as many records as the mock keeps (4 MB per partition), mirrors them once under
# `perf record`, and prints the top functions by self time and the top call chains from
# kmirror's own code. perf.data and the full report stay in build/bench/profile/.
# PROFILE_CONF: lines appended to kmirror's configuration (e.g. "replication.provenance.enabled = false").
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
who=${1:-kmirror} size=${2:-100} parts=${3:-256}
out=$BUILD/bench/profile
mkdir -p "$out"
PERF_CALLGRAPH=${PERF_CALLGRAPH:--g}
command -v perf >/dev/null || { echo "perf is not installed (apt-get install linux-perf)" >&2; exit 1; }

pids=()
trap 'for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done' EXIT
mock() { # NAME TOPIC... ; prints the bootstrap servers
  local name=$1; shift
  local args=()
  for t in "$@"; do args+=(--topic "$t"); done
  "$BUILD/kmirror" mock-cluster "${args[@]}" >"$out/$name.out" 2>&1 &
  pids+=($!)
  until grep -q '^bootstrap.servers=' "$out/$name.out" 2>/dev/null; do sleep 0.1; done
}
mock a "src:$parts" heartbeats:1 mm2-offset-syncs.b.internal:1
mock b "a.src:$parts" "dst:$parts" heartbeats:1 mm2-offsets.a.internal:25 a.checkpoints.internal:1 a.heartbeats:1 mm2-offset-syncs.a.internal:1 mm2-kmirror-tasks.a.a-mm2.internal:1
A=$(sed -n 's/^bootstrap.servers=//p' "$out/a.out")
B=$(sed -n 's/^bootstrap.servers=//p' "$out/b.out")
per=$((4 * 1024 * 1024 / (size + 64))); [ $per -gt 100000 ] && per=100000
n=$((per * parts))
echo "loading $n records of $size B into $parts partitions" >&2
"$BUILD/bench/load" fill "$A" src "$n" "$size" >&2

if [ "$who" = rawpipe ]; then
  perf record -F 999 $PERF_CALLGRAPH -o "$out/perf.data" "$BUILD/bench/rawpipe" "$A" "$B" src dst "$n" >&2 &
  target=dst
else
  printf 'clusters = a, b\na.bootstrap.servers = %s\nb.bootstrap.servers = %s\na->b.enabled = true\na->b.topics = src\nb->a.enabled = false\n' \
    "$A" "$B" >"$out/kmirror.properties"
  [ -n "${PROFILE_CONF:-}" ] && printf '%s\n' "$PROFILE_CONF" >>"$out/kmirror.properties"
  perf record -F 999 $PERF_CALLGRAPH -o "$out/perf.data" "$BUILD/kmirror" "$out/kmirror.properties" 2>"$out/kmirror.log" &
  target=a.src
fi
perf_pid=$!
sleep 0.5
mirror=$(pgrep -P "$perf_pid" | head -1)
"$BUILD/bench/probe" watch "$B" "$target" "$n" "$mirror" 300 >&2
kill -TERM "$mirror" 2>/dev/null || true
wait "$perf_pid" || true

perf report -i "$out/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null >"$out/report-self.txt"
perf report -i "$out/perf.data" --no-children --sort comm --stdio 2>/dev/null >"$out/report-threads.txt"
echo "== top functions by self time ($who, $size B, $parts partitions)"
grep -E '^ +[0-9.]+%' "$out/report-self.txt" | head -40
echo "== by thread"
grep -E '^ +[0-9.]+%' "$out/report-threads.txt" | head -12
