#!/usr/bin/env bash
# kmirror(1): renders without a warning, and names every command and option of `kmirror --help`
# and every key src/config.c knows (MM2's, kmirror's own, the Connect worker's).
. "$(dirname "$0")/tap.sh"
page=dist/kmirror.1

renders() {
  local err
  err=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null) || return 1
  [ -z "$err" ] || { printf '%s\n' "$err"; return 1; }
}
# The page as text, each word on its own line, so "key," and "key." both match "key".
words() { MANWIDTH=200 man -l "$page" 2>/dev/null | tr -s ' \t,;()[]|' '\n' | sed 's/[.:]$//'; }
documents() {
  local missing=() w text
  text=$(words)
  for w in "$@"; do grep -qxF -- "$w" <<<"$text" || missing+=("$w"); done
  [ ${#missing[@]} -eq 0 ] || { echo "not in $page: ${missing[*]}"; return 1; }
}
# "kmirror COMMAND" written out (in the synopsis and in COMMANDS).
documents_commands() {
  local missing=() c text
  text=$(MANWIDTH=200 man -l "$page" 2>/dev/null | tr -s ' \t' ' ')
  for c in "$@"; do grep -qF -- "kmirror $c " <<<"$text" || missing+=("$c"); done
  [ ${#missing[@]} -eq 0 ] || { echo "commands not described in $page: ${missing[*]}"; return 1; }
}
help_commands() { "$KMIRROR_BIN" --help | sed -n 's/^  kmirror \([a-z][a-z-]*\).*/\1/p' | grep -v '^--' | sort -u; }
help_options() { "$KMIRROR_BIN" --help | grep -o -- '--[a-z][a-z-]*\|-[vqh]\b' | sort -u; }
# Every string literal in the key tables of config.c: connector_keys, global_keys, worker_keys,
# worker_prefixes (prefixes lose their trailing dot).
config_keys() {
  awk '/^static const .*(connector_keys|global_keys|worker_keys|worker_prefixes)\[\] = \{/ {on=1; next}
       on && /^\};/ {on=0} on' src/config.c | grep -o '"[a-z][a-z0-9._-]*"' | tr -d '"' | sed 's/\.$//' | sort -u
}

check "man -l renders $page without warnings" renders
check "the page describes every command of kmirror --help" documents_commands $(help_commands)
check "the page names every option of kmirror --help" documents $(help_options)
check "kmirror --help lists commands and options (the lists above are not empty)" \
  test "$(help_commands | wc -l)" -ge 6 -a "$(help_options | wc -l)" -ge 6
check "the page names every key of src/config.c" documents $(config_keys)
check "src/config.c's key tables were found (more than 60 keys)" test "$(config_keys | wc -l)" -gt 60
check "the page names the subcommands' own options" documents --brokers --topic --mm2-peer --seconds \
  --group --source --target --cluster --url --partitions --json --log-level --metrics-listen
done_testing
