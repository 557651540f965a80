#!/usr/bin/env bash
# scripts/librdkafka-asan.sh DIR — builds Debian's librdkafka 2.0.2 (the exact source of the
# librdkafka1 package kmirror links: upstream 2.0.2 plus a Makefile-only patch) with
# AddressSanitizer into DIR/librdkafka.so.1, once; prints DIR.
#
# Why: `make test SANITIZE=1` instruments kmirror, not librdkafka, so a use-after-free or a NULL
# dereference inside librdkafka (which kmirror's use of it can trigger) shows only as a bare
# SIGSEGV. With LD_LIBRARY_PATH=DIR the sanitized kmirror and tests load this build instead, and
# ASan names the line and both stacks (`make test SANITIZE=1 SANITIZE_LIBRDKAFKA=1`). This is how
# librdkafka #5040 (group offsets answered NOT_COORDINATOR → SIGSEGV) was found.
set -euo pipefail
dir=${1:?usage: scripts/librdkafka-asan.sh DIR}
if [ -f "$dir/librdkafka.so.1" ]; then echo "$dir"; exit 0; fi

version=2.0.2
pool=http://deb.debian.org/debian/pool/main/libr/librdkafka
# From librdkafka_2.0.2-1.dsc (Debian bookworm).
sha256=f321bcb1e015a34114c83cf1aa7b99ee260236aab096b85c003170c90a47ca9d
"$(dirname "$0")/install-deps.sh" --librdkafka-asan
mkdir -p "$dir"
work=$(mktemp -d "${TMPDIR:-/tmp}/librdkafka-asan-XXXXXX")
trap 'rm -rf "$work"' EXIT
curl -fsS --retry 3 -o "$work/src.tar.gz" "$pool/librdkafka_$version.orig.tar.gz"
echo "$sha256  $work/src.tar.gz" | sha256sum -c --quiet -
tar -xzf "$work/src.tar.gz" -C "$work"
cd "$work/librdkafka-$version"
# Only the library, with Debian's codecs (zstd, system lz4), TLS and SCRAM/OAUTHBEARER; without
# GSSAPI and the OIDC token fetcher (curl), which no test configuration uses.
CFLAGS="-fsanitize=address -fno-omit-frame-pointer -g -O1" LDFLAGS="-fsanitize=address" \
  ./configure --enable-zstd --enable-lz4-ext --enable-ssl --disable-gssapi --disable-curl >"$work/configure.log" 2>&1 ||
  { tail -20 "$work/configure.log" >&2; exit 1; }
make -C src -j"$(nproc)" librdkafka.so.1 >"$work/make.log" 2>&1 || { tail -20 "$work/make.log" >&2; exit 1; }
cp src/librdkafka.so.1 "$dir/"
echo "$dir"
