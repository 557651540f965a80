#!/usr/bin/env bash
# dist/kmirror@.service: systemd-analyze verify accepts it (no warning either) with the paths
# make install writes, and it runs kmirror the way the README says.
. "$(dirname "$0")/tap.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bindir=$(dirname "$KMIRROR_BIN")
sed "s|@BINDIR@|$bindir|g; s|@SYSCONFDIR@|/etc|g" 'dist/kmirror@.service' > "$tmp/kmirror@.service"
# verify looks up Documentation=man:kmirror(1): give it the page.
mkdir -p "$tmp/man/man1" && cp dist/kmirror.1 "$tmp/man/man1/"

verifies() {
  local out
  out=$(cd "$tmp" && MANPATH="$tmp/man" systemd-analyze verify "$tmp/kmirror@example.service" 2>&1) || { printf '%s\n' "$out"; return 1; }
  [ -z "$out" ] || { printf '%s\n' "$out"; return 1; }
}
has() { grep -qxF -- "$1" "$tmp/kmirror@.service" || { echo "no line '$1'"; return 1; }; }

check "systemd-analyze verify kmirror@example.service: no error, no warning" verifies
check "instance NAME runs /etc/kmirror/NAME.properties" has "ExecStart=$bindir/kmirror /etc/kmirror/%i.properties"
check "Type=notify: started once kmirror says READY=1" has "Type=notify"
check "the watchdog is on" has "WatchdogSec=60s"
check "the stop timeout is above shutdown.timeout.ms's default (30 s)" has "TimeoutStopSec=60s"
check "restarts are bounded" has "StartLimitBurst=5"
check "no placeholder left" bash -c "! grep -n '@[A-Z]*@' '$tmp/kmirror@.service'"
done_testing
