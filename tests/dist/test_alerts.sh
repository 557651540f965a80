#!/usr/bin/env bash
# contrib/prometheus/kmirror-alerts.yml: promtool accepts the rules, their unit tests pass, every
# alert has a test that fires it, and every metric the rules read is one kmirror exports.
. "$(dirname "$0")/tap.sh"
dir=contrib/prometheus
rules=$dir/kmirror-alerts.yml
tests=$dir/kmirror-alerts.test.yml

alerts() { sed -n 's/^ *- alert: *\([A-Za-z0-9_]*\).*/\1/p' "$rules" | sort -u; }
tested() { sed -n 's/^ *alertname: *\([A-Za-z0-9_]*\).*/\1/p' "$tests" | sort -u; }
# An alert is "fired" by a test when some eval of it expects a non-empty list of alerts.
fired() { awk '/alertname:/ {a=$2} /exp_alerts:[ ]*$/ {print a}' "$tests" | sort -u; }
every_alert_fired() {
  local missing
  missing=$(comm -23 <(alerts) <(fired))
  [ -z "$missing" ] || { echo "alerts no test fires: $missing"; return 1; }
  [ "$(alerts | wc -l)" -ge 6 ] || { echo "expected at least 6 alerts, found $(alerts | wc -l)"; return 1; }
}
metrics_exist() {
  local m missing=()
  for m in $(grep -o 'kmirror_[a-z_]*' "$rules" | sort -u); do
    grep -q "\"$m\"" src/metrics.c || missing+=("$m")
  done
  [ ${#missing[@]} -eq 0 ] || { echo "not exported by src/metrics.c: ${missing[*]}"; return 1; }
}

check "promtool check rules $rules" promtool check rules "$rules"
check "promtool test rules $tests" promtool test rules "$tests"
check "every alert has a test that fires it" every_alert_fired
check "no test names an alert that does not exist" bash -c "[ -z \"\$(comm -13 <(sed -n 's/^ *- alert: *\([A-Za-z0-9_]*\).*/\1/p' '$rules' | sort -u) <(sed -n 's/^ *alertname: *\([A-Za-z0-9_]*\).*/\1/p' '$tests' | sort -u))\" ]"
check "the rules read only metrics kmirror exports" metrics_exist
done_testing
