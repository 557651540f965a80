#!/usr/bin/env bash
# Installs the Debian packages kmirror builds and tests with, only those missing.
# Idempotent: a no-op (no apt-get call at all) when everything is present.
# Works as root or through sudo. With --fuzz: only what `make fuzz` adds (clang and its libFuzzer/sanitizer runtimes);
# with --librdkafka-asan: only what scripts/librdkafka-asan.sh adds.
set -euo pipefail

pkgs=(build-essential pkg-config
      librdkafka-dev libpcre2-dev libmicrohttpd-dev libjansson-dev libcmocka-dev libssl-dev
      # the allocator kmirror links (Makefile, JEMALLOC)
      libjemalloc-dev
      # the metrics endpoint's client certificates (GnuTLS, as libmicrohttpd) and bcrypt (libxcrypt)
      libgnutls28-dev libcrypt-dev
      default-jdk-headless maven
      # tests/dist: systemd-analyze (the unit), man (the page), promtool (the alert rules)
      systemd man-db prometheus
      # tests/mock/test_statuspage: renders the status page headless
      chromium)
if [ "${1:-}" = --fuzz ]; then pkgs=(clang libclang-rt-dev); fi
# With --librdkafka-asan: what scripts/librdkafka-asan.sh needs to build librdkafka with the
# compression codecs Debian's package has (kmirror's configuration checks accept zstd only then).
if [ "${1:-}" = --librdkafka-asan ]; then pkgs=(build-essential curl libssl-dev zlib1g-dev libzstd-dev liblz4-dev); fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
# A JDK and Maven already on PATH are good enough for the tests; a JDK (not only a JRE) because
# the interop tests run small Java programs from source (java File.java).
if command -v javac >/dev/null 2>&1; then missing=("${missing[@]/default-jdk-headless}"); fi
if command -v mvn >/dev/null 2>&1; then missing=("${missing[@]/maven}"); fi
read -r -a missing <<< "${missing[*]:-}"

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
