#!/usr/bin/env bash
# Runs every test binary and prints one summary line "N passed, N failed".
#   tests/unit/  pure functions, no network
#   tests/mock/  librdkafka mock clusters, in process
#   tests/fuzz/  fuzz targets over their seed corpora (tests/fuzz/corpus), one TAP line per input
#   tests/dist/  shell scripts (TAP) on what make install ships: unit, man page, alert rules
#   tests/it/    real Apache Kafka: two single-node KRaft clusters started here with
#                scripts/kafka-test-cluster.sh, or external ones from KMIRROR_IT_A/KMIRROR_IT_B.
#                Only the clusters started here are named to the suites (KMIRROR_IT_A_NAME,
#                KMIRROR_IT_B_NAME), so only those are ever killed by a broker-crash test.
# The in-process suites run three at a time (KMIRROR_TEST_JOBS), the tests/it suites one at a
# time. Each binary is a cmocka suite with TAP output; every "ok"/"not ok" line counts once, except
# skips ("# SKIP", which cmocka 1.1 writes as "not ok N # SKIP"): those are reported, not counted.
# A binary that crashes or exits non-zero without reporting a failure counts as one failure.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export KMIRROR_BIN="$PWD/$BUILD/kmirror"
export CMOCKA_MESSAGE_OUTPUT=TAP
it_only=0; [ "${1:-}" = "--it-only" ] && it_only=1
# Sanitizer builds (make test SANITIZE=1): every leak fails the suite (and a kmirror child's exit
# status) except the one known librdkafka 2.0.2 leak named in tests/lsan.supp.
if [ "${SANITIZE:-}" = 1 ]; then
  export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
  export ASAN_OPTIONS="fast_unwind_on_malloc=0:detect_leaks=1"
  # SANITIZE_LIBRDKAFKA=1: librdkafka itself instrumented too (scripts/librdkafka-asan.sh).
  if [ "${SANITIZE_LIBRDKAFKA:-}" = 1 ]; then
    lib=$(scripts/librdkafka-asan.sh "$PWD/$BUILD/librdkafka-asan") || { echo "cannot build librdkafka with ASan" >&2; exit 1; }
    export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
fi

export BUILD
passed=0; failed=0; failed_names=()
outdir=$(mktemp -d "${TMPDIR:-/tmp}/kmirror-tests-XXXXXX")

# Runs suite bin as number n: its output into $outdir/n.out, "status seconds" into $outdir/n.rc.
exec_suite() {
  local bin=$1 n=$2 t0=$SECONDS rc
  timeout "${KMIRROR_TEST_TIMEOUT:-900}" "$bin" >"$outdir/$n.out" 2>&1; rc=$?
  echo "$rc $((SECONDS - t0))" >"$outdir/$n.rc"
}

# Prints what suite bin (run as number n) reported, and counts it.
report_suite() {
  local bin=$1 n=$2 out rc secs ok nok skipped
  read -r rc secs <"$outdir/$n.rc"
  out=$(cat "$outdir/$n.out")
  echo "== ${bin#$BUILD/tests/}"
  printf '%s\n' "$out" | grep -Ev '^(1\.\.[0-9]+|ok [0-9]+)' | sed 's/^/   /'
  ok=$(printf '%s\n' "$out" | grep -E '^ok [0-9]+' | grep -cv '# SKIP') || true
  nok=$(printf '%s\n' "$out" | grep -E '^not ok [0-9]+' | grep -cv '# SKIP') || true
  skipped=$(printf '%s\n' "$out" | grep -cE '^(not )?ok [0-9]+ # SKIP') || true
  printf '   %d ok, %d not ok, %d skipped (%d s)\n' "$ok" "$nok" "$skipped" "$secs"
  passed=$((passed + ok)); failed=$((failed + nok))
  [ "$nok" -gt 0 ] && failed_names+=("${bin#$BUILD/tests/}")
  if [ "$rc" -ne 0 ] && [ "$nok" -eq 0 ]; then
    echo "   suite exited with status $rc without reporting a failure: counted as one failure"
    failed=$((failed + 1)); failed_names+=("${bin#$BUILD/tests/} (exit $rc)")
  fi
}

n=0
# The in-process suites mostly wait on timers and loopback sockets and share nothing (each mock
# suite has its own clusters on ephemeral ports and its own log directory), so they run
# KMIRROR_TEST_JOBS at a time, reported in order, while the Kafka clusters start beside them.
run_parallel() {
  local jobs=${KMIRROR_TEST_JOBS:-3} first=$((n + 1)) bins=("$@") pids=() i live p
  for i in "${!bins[@]}"; do
    for (( ; ; )); do
      live=0
      for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && live=$((live + 1)); done
      [ "$live" -lt "$jobs" ] && break
      sleep 0.2
    done
    exec_suite "${bins[$i]}" $((first + i)) &
    pids+=($!)
  done
  # bash 5.2 sometimes no longer knows a suite that ended early ("not a child of this shell"), so
  # the end of each suite is its .rc file, which exec_suite writes last.
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  for i in "${!bins[@]}"; do
    while [ ! -s "$outdir/$((first + i)).rc" ]; do sleep 0.2; done
  done
  for i in "${!bins[@]}"; do report_suite "${bins[$i]}" $((first + i)); done
  n=$((n + ${#bins[@]}))
}

# A broker port and its controller port (PORT+1), both free now, picked at random so that two
# checkouts can run the suite side by side. Ports already bound by the first cluster are not free.
# Below the kernel's ephemeral range: a client reconnecting to a killed broker on a port in that
# range can be given the very port as its own and connect to itself (TCP simultaneous open),
# and the restarted broker then fails with "Address already in use".
free_port_pair() {
  local i p used lo span
  used=$(ss -Htan 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u)
  lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  span=$((lo - 2 - 20000))
  [ "$span" -ge 1000 ] || span=1000
  for i in $(seq 1 200); do
    p=$((20000 + RANDOM % span))
    grep -qx "$p" <<<"$used" || grep -qx "$((p + 1))" <<<"$used" || { echo "$p"; return 0; }
  done
  return 1
}

# Starts Kafka test clusters it-a and it-b; each one's bootstrap.servers line, or its failure,
# goes to $outdir/cluster-<name>. Runs in the background.
start_clusters() {
  local name port line
  for name in it-a it-b; do
    if ! port=$(free_port_pair); then echo "no free port pair" >"$outdir/cluster-$name"; continue; fi
    line=$(scripts/kafka-test-cluster.sh start "$name" "$port" 2>"$outdir/cluster-$name.err" | grep '^bootstrap.servers=' | tail -1)
    echo "${line:-could not start}" >"$outdir/cluster-$name"
  done
}

stop_clusters() {
  local name
  for name in it-a it-b; do
    grep -q '^bootstrap.servers=' "$outdir/cluster-$name" 2>/dev/null && scripts/kafka-test-cluster.sh stop "$name" >/dev/null 2>&1
  done
  rm -rf "$outdir"
}
trap stop_clusters EXIT

want_clusters=0
if compgen -G "$BUILD/tests/it/test_*" >/dev/null && { [ -z "${KMIRROR_IT_A:-}" ] || [ -z "${KMIRROR_IT_B:-}" ]; }; then
  want_clusters=1
  start_clusters &
  clusters_pid=$!
fi

if [ $it_only -eq 0 ]; then
  # tests/fuzz: each fuzz target once over its corpus (make fuzz fuzzes them with libFuzzer).
  # tests/dist: the installable files (unit, man page, alert rules, make install); TAP scripts.
  suites=()
  for b in "$BUILD"/tests/unit/test_* "$BUILD"/tests/mock/test_* "$BUILD"/tests/fuzz/fuzz_* tests/dist/test_*.sh; do
    [ -x "$b" ] && suites+=("$b")
  done
  run_parallel "${suites[@]}"
fi

if [ $want_clusters -eq 1 ]; then
  wait "$clusters_pid"
  for name in it-a it-b; do
    line=$(cat "$outdir/cluster-$name" 2>/dev/null)
    case $line in
      bootstrap.servers=*)
        # The names tell the suites these clusters are theirs to crash and restart (kill9/restart).
        if [ $name = it-a ]; then export KMIRROR_IT_A=${line#bootstrap.servers=} KMIRROR_IT_A_NAME=$name
        else export KMIRROR_IT_B=${line#bootstrap.servers=} KMIRROR_IT_B_NAME=$name; fi ;;
      *)
        echo "could not start Kafka test cluster $name: $line"; sed 's/^/   /' "$outdir/cluster-$name.err" 2>/dev/null | tail -20
        failed=$((failed + 1)); failed_names+=("kafka cluster $name") ;;
    esac
  done
fi
if compgen -G "$BUILD/tests/it/test_*" >/dev/null && [ -n "${KMIRROR_IT_A:-}" ] && [ -n "${KMIRROR_IT_B:-}" ]; then
  for b in "$BUILD"/tests/it/test_*; do [ -x "$b" ] && { n=$((n + 1)); exec_suite "$b" $n; report_suite "$b" $n; }; done
fi

[ ${#failed_names[@]} -gt 0 ] && printf 'failed: %s\n' "${failed_names[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
