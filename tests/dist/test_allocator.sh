#!/usr/bin/env bash
# The kmirror binary's allocator settings: built with jemalloc (the default), it sets
# oversize_threshold:0 and dirty_decay_ms:500 itself (src/main.c says why), and an operator's
# MALLOC_CONF still wins.
# A glibc build (JEMALLOC=0, sanitizer builds) has nothing to check.
. "$(dirname "$0")/tap.sh"

jemalloc_linked() { ldd "$KMIRROR_BIN" | grep -q 'libjemalloc'; }
# The value of jemalloc's option $2 as the binary starts with MALLOC_CONF=$1 (stats at exit).
option() { MALLOC_CONF="$1${1:+,}stats_print:true" "$KMIRROR_BIN" version 2>&1 | sed -n "s/^ *opt\.$2: \([^ ]*\).*/\1/p"; }
is() { [ "$1" = "$2" ] || { echo "got '$1', expected '$2'"; return 1; }; }

if jemalloc_linked; then
  check "large buffers stay in jemalloc's ordinary arenas (opt.oversize_threshold 0)" is "$(option '' oversize_threshold)" 0
  check "MALLOC_CONF overrides the binary's setting" is "$(option oversize_threshold:16777216 oversize_threshold)" 16777216
  check "freed pages are kept 0.5 s (opt.dirty_decay_ms 500)" is "$(option '' dirty_decay_ms)" 500
else
  skip "kmirror is built with glibc's malloc (JEMALLOC=0 or a sanitizer build): no jemalloc options to check"
fi
done_testing
