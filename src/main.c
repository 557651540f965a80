/* main.c — the process entry point: everything happens in the CLI (cli.c). */
#include "cli.h"

/* jemalloc (linked by default, see the Makefile) reads this before its first allocation; an
 * operator's MALLOC_CONF still overrides it. By default jemalloc serves every allocation of 8 MiB
 * or more from an arena that returns freed pages to the kernel at once, and librdkafka receives
 * each fetch response (up to fetch.max.bytes, 50 MiB by default) into one such buffer: every
 * response was written into freshly faulted pages. In the ordinary arenas those buffers are reused,
 * but their 10 s decay kept up to 0.3 GB more at 100 B (dev clusters, 16 partitions: 10 KB page
 * faults 565k → 324k-457k per 200k records, CPU per record 15.0-16.6 → 12.0-12.9 µs;
 * bench/results/2026-12-06.md section 8). With the prefetch and in-flight shares of a source and
 * target on the same LAN, most of the 100 B peak was memory not yet given back: 0.5 s against 2 s
 * took it from 200-248 MB to 147-166 MB at the same rate, for ~15% more CPU per record at 10 KB
 * (2026-12-07.md section 2). A glibc build ignores the symbol. */
const char *malloc_conf = "oversize_threshold:0,dirty_decay_ms:500";

int main(int argc, char **argv) { return km_cli_main(argc, argv); }
