#!/usr/bin/env bash
# make install into a temporary DESTDIR puts exactly the expected files in place, with the unit
# pointing at the installed binary; make uninstall takes them away again.
. "$(dirname "$0")/tap.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
san=(); [ "$BUILD" = build-san ] && san=(SANITIZE=1)

expected="etc/kmirror/
opt/km/bin/kmirror
opt/km/lib/systemd/system/kmirror@.service
opt/km/lib/sysusers.d/kmirror.conf
opt/km/share/kmirror/grafana/kmirror.json
opt/km/share/kmirror/prometheus/kmirror-alerts.yml
opt/km/share/man/man1/kmirror.1"
# Files, and directories that stay empty.
listing() { (cd "$tmp/root" && { find . -type f; find . -type d -empty -printf '%p/\n'; } | sed 's|^\./||' | sort); }
installs() {
  make --no-print-directory -s install DESTDIR="$tmp/root" PREFIX=/opt/km "${san[@]}" || return 1
  local got
  got=$(listing)
  [ "$got" = "$expected" ] || { diff <(echo "$expected") <(echo "$got"); return 1; }
}
unit_points_at_binary() {
  grep -qxF 'ExecStart=/opt/km/bin/kmirror /etc/kmirror/%i.properties' "$tmp/root/opt/km/lib/systemd/system/kmirror@.service"
}
modes() {
  [ "$(stat -c %a "$tmp/root/opt/km/bin/kmirror")" = 755 ] &&
  [ "$(stat -c %a "$tmp/root/opt/km/lib/systemd/system/kmirror@.service")" = 644 ] &&
  [ "$(stat -c %a "$tmp/root/opt/km/share/man/man1/kmirror.1")" = 644 ]
}
uninstalls() {
  make --no-print-directory -s uninstall DESTDIR="$tmp/root" PREFIX=/opt/km "${san[@]}" || return 1
  local left
  left=$(cd "$tmp/root" && find . -type f)
  [ -z "$left" ] || { echo "left behind: $left"; return 1; }
}

check "make install DESTDIR=... PREFIX=/opt/km installs exactly the expected files" installs
check "the installed unit runs the installed binary" unit_points_at_binary
check "the installed binary runs" "$tmp/root/opt/km/bin/kmirror" --version
check "modes: 755 for the binary, 644 for the rest" modes
check "the installed page is the one the man page test checks" cmp dist/kmirror.1 "$tmp/root/opt/km/share/man/man1/kmirror.1"
check "make uninstall removes every installed file" uninstalls
done_testing
