/* main.c — the process entry point: everything happens in the CLI (cli.c). */
#include "cli.h"

/* jemalloc (linked by default, see the Makefile) reads this before its first allocation; an
 * operator's MALLOC_CONF still overrides it. By default jemalloc serves every allocation of 8 MiB
 * or more from an arena that returns freed pages to the kernel at once, and librdkafka receives
 * each fetch response (up to fetch.max.bytes, 50 MiB by default) into one such buffer: every
 * response was then written into freshly faulted pages. With those buffers in the ordinary arenas
 * their pages are reused (10 KB records, 16 partitions, dev clusters: 540k page faults per 200k
 * records → 200k, CPU per record −16%, records/s +14%; bench/results/2026-12-06.md section 8).
 * A glibc build ignores the symbol. */
const char *malloc_conf = "oversize_threshold:0";

int main(int argc, char **argv) { return km_cli_main(argc, argv); }
