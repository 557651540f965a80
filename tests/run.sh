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
# Each binary is a cmocka suite with TAP output; every "ok"/"not ok" line counts once, except
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
fi

passed=0; failed=0; failed_names=()
run_suite() {
  local bin=$1 out rc ok nok skipped t0=$SECONDS
  echo "== ${bin#$BUILD/tests/}"
  out=$(timeout "${KMIRROR_TEST_TIMEOUT:-900}" "$bin" 2>&1); rc=$?
  printf '%s\n' "$out" | grep -Ev '^(1\.\.[0-9]+|ok [0-9]+)' | sed 's/^/   /'
  ok=$(printf '%s\n' "$out" | grep -E '^ok [0-9]+' | grep -cv '# SKIP') || true
  nok=$(printf '%s\n' "$out" | grep -E '^not ok [0-9]+' | grep -cv '# SKIP') || true
  skipped=$(printf '%s\n' "$out" | grep -cE '^(not )?ok [0-9]+ # SKIP') || true
  printf '   %d ok, %d not ok, %d skipped (%d s)\n' "$ok" "$nok" "$skipped" $((SECONDS - t0))
  passed=$((passed + ok)); failed=$((failed + nok))
  [ "$nok" -gt 0 ] && failed_names+=("${bin#$BUILD/tests/}")
  if [ $rc -ne 0 ] && [ "$nok" -eq 0 ]; then
    echo "   suite exited with status $rc without reporting a failure: counted as one failure"
    failed=$((failed + 1)); failed_names+=("${bin#$BUILD/tests/} (exit $rc)")
  fi
}

if [ $it_only -eq 0 ]; then
  for b in "$BUILD"/tests/unit/test_* "$BUILD"/tests/mock/test_*; do [ -x "$b" ] && run_suite "$b"; done
  # tests/fuzz: each fuzz target run once over its corpus (make fuzz fuzzes them with libFuzzer).
  for b in "$BUILD"/tests/fuzz/fuzz_*; do [ -x "$b" ] && run_suite "$b"; done
  # tests/dist: the installable files (unit, man page, alert rules, make install); TAP scripts.
  for b in tests/dist/test_*.sh; do [ -x "$b" ] && BUILD=$BUILD run_suite "$b"; done
fi

# A broker port and its controller port (PORT+1), both free now, picked at random so that two
# checkouts can run the suite side by side. Ports already bound by the first cluster are not free.
free_port_pair() {
  local i p used
  used=$(ss -Htan 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u)
  for i in $(seq 1 200); do
    p=$((20000 + RANDOM % 20000))
    grep -qx "$p" <<<"$used" || grep -qx "$((p + 1))" <<<"$used" || { echo "$p"; return 0; }
  done
  return 1
}

started=()
stop_clusters() { for n in "${started[@]}"; do scripts/kafka-test-cluster.sh stop "$n" >/dev/null 2>&1; done; }
trap stop_clusters EXIT
if compgen -G "$BUILD/tests/it/test_*" >/dev/null; then
  if [ -z "${KMIRROR_IT_A:-}" ] || [ -z "${KMIRROR_IT_B:-}" ]; then
    for name in it-a it-b; do
      port=$(free_port_pair) || { echo "no free port pair for Kafka test cluster $name"; failed=$((failed + 1)); failed_names+=("kafka cluster $name"); continue; }
      set -- "$name" "$port"
      line=$(scripts/kafka-test-cluster.sh start "$1" "$2" | grep '^bootstrap.servers=' | tail -1)
      if [ -z "$line" ]; then echo "could not start Kafka test cluster $1"; failed=$((failed + 1)); failed_names+=("kafka cluster $1"); continue; fi
      started+=("$1")
      # The names tell the suites these clusters are theirs to crash and restart (kill9/restart).
      if [ "$1" = it-a ]; then export KMIRROR_IT_A=${line#bootstrap.servers=} KMIRROR_IT_A_NAME=$1
      else export KMIRROR_IT_B=${line#bootstrap.servers=} KMIRROR_IT_B_NAME=$1; fi
    done
  fi
  if [ -n "${KMIRROR_IT_A:-}" ] && [ -n "${KMIRROR_IT_B:-}" ]; then
    for b in "$BUILD"/tests/it/test_*; do [ -x "$b" ] && run_suite "$b"; done
  fi
fi

[ ${#failed_names[@]} -gt 0 ] && printf 'failed: %s\n' "${failed_names[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
