# tap.sh — sourced by the tests/dist scripts: TAP lines that tests/run.sh counts.
#   check "description" command...   runs the command; "ok N - description" when it succeeds,
#                                    otherwise "not ok N - description" and its output as comments
#   skip "reason"                    a check that does not apply on this build, counted as skipped
# Every script ends with `done_testing`, which prints the plan.
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
KMIRROR_BIN=${KMIRROR_BIN:-$PWD/$BUILD/kmirror}
tap_n=0
tap_failed=0
check() {
  local what=$1 out
  shift
  tap_n=$((tap_n + 1))
  if out=$("$@" 2>&1); then
    echo "ok $tap_n - $what"
  else
    echo "not ok $tap_n - $what"
    printf '%s\n' "$out" | sed 's/^/# /'
    tap_failed=1
  fi
}
# skip "reason": a check that does not apply here, reported as skipped ("ok N # SKIP reason").
skip() {
  tap_n=$((tap_n + 1))
  echo "ok $tap_n # SKIP $1"
}
done_testing() {
  echo "1..$tap_n"
  exit $tap_failed
}
