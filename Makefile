# kmirror — build, test, demo, bench.  See README.md.
#   make            build build/kmirror
#   make test       install deps, build, run every test (ends with "N passed, N failed")
#   make demo       install deps, build, run the embedded demo
#   make itest KMIRROR_IT_A=host:port KMIRROR_IT_B=host:port   end-to-end suite on external clusters
#   make SANITIZE=1 ...   build with AddressSanitizer + UBSan (into build-san/)
#   make test SANITIZE=1 SANITIZE_LIBRDKAFKA=1   ... and run against an ASan build of librdkafka
#   make JEMALLOC=0       link kmirror without jemalloc (glibc's malloc); see README, Performance
#   make install [PREFIX=/usr/local] [DESTDIR=]   binary, man page, systemd unit, dashboards, alerts

PKGS    := rdkafka libpcre2-8 libmicrohttpd jansson libcrypto gnutls libxcrypt
CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
           -Wmissing-prototypes -Wstrict-prototypes -fno-common -pthread
LDLIBS  += -pthread -lm

ifeq ($(FUZZ),1)
# `make fuzz`: libFuzzer needs clang; warnings stay warnings so another compiler's view of
# files no fuzz target is about cannot stop a fuzzing run.
BUILD   := build-fuzz
CC      := clang
CFLAGS  += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -Wno-error
LDFLAGS += -fsanitize=address,undefined
else ifeq ($(SANITIZE),1)
BUILD   := build-san
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
BUILD   := build
endif

SRC      := $(wildcard src/*.c)
LIB_SRC  := $(filter-out src/main.c,$(SRC))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
SUP_SRC  := $(wildcard tests/support/*.c)
SUP_OBJ  := $(SUP_SRC:tests/support/%.c=$(BUILD)/obj/support/%.o)
TEST_SRC := $(wildcard tests/unit/test_*.c tests/mock/test_*.c tests/it/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/%.c=$(BUILD)/tests/%)
FUZZ_NAMES := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_SECONDS ?= 30
BENCH_SRC:= $(wildcard bench/*.c)
BENCH_BIN:= $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all deps test itest demo bench clean check-pkgs install uninstall fuzz
all: $(BUILD)/kmirror

# Resolved lazily so that `make test` on a fresh machine can install the packages first.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

check-pkgs:
	@pkg-config --exists $(PKGS) $(KMIRROR_PKGS) || { echo "missing build dependencies: run scripts/install-deps.sh (or make test / make demo)" >&2; exit 1; }

deps:
	@scripts/install-deps.sh

$(BUILD)/obj/%.o: src/%.c $(wildcard src/*.h) | check-pkgs
	@mkdir -p $(dir $@)
	@echo "CC $<"; $(CC) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

# The status page is assembled into this object (.incbin): an edit of the page rebuilds it.
$(BUILD)/obj/statuspage.o: src/statuspage.html

$(BUILD)/obj/support/%.o: tests/support/%.c $(wildcard src/*.h tests/support/*.h) | check-pkgs
	@mkdir -p $(dir $@)
	@echo "CC $<"; $(CC) $(CFLAGS) $(PKG_CFLAGS) -Isrc -c -o $@ $<

$(BUILD)/libkmirror.a: $(LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

# kmirror links jemalloc instead of using glibc's malloc (JEMALLOC=0 builds without): every
# record costs librdkafka several small allocations freed in other threads, and glibc's arenas
# spend that in lock hand-offs and heap growth. At 16 partitions, 100 B records, jemalloc took
# 35% off CPU per record and raised records/s 1.3-1.6x (bench/results/2026-12-03.md, section 4). Sanitizer
# and fuzzing builds keep glibc's malloc, which ASan replaces.
JEMALLOC ?= $(if $(filter 1,$(SANITIZE) $(FUZZ)),0,1)
KMIRROR_PKGS := $(if $(filter 1,$(JEMALLOC)),jemalloc)
KMIRROR_LIBS = $(if $(KMIRROR_PKGS),$(shell pkg-config --libs $(KMIRROR_PKGS) 2>/dev/null))

$(BUILD)/kmirror: $(BUILD)/obj/main.o $(BUILD)/libkmirror.a
	@echo "LD $@"; $(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(KMIRROR_LIBS) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libkmirror.a $(SUP_OBJ) $(wildcard src/*.h tests/support/*.h)
	@mkdir -p $(dir $@)
	@echo "LD $@"; $(CC) $(CFLAGS) $(PKG_CFLAGS) -Isrc -Itests/support $(LDFLAGS) -o $@ $< $(SUP_OBJ) $(BUILD)/libkmirror.a $(PKG_LIBS) -lcmocka $(LDLIBS)

# A fuzz target with a plain main that runs its corpus once (make test), or under FUZZ=1 the
# libFuzzer binary (make fuzz).
ifeq ($(FUZZ),1)
$(BUILD)/tests/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(BUILD)/libkmirror.a $(wildcard src/*.h)
	@mkdir -p $(dir $@)
	@echo "LD $@"; $(CC) $(CFLAGS) $(PKG_CFLAGS) -Isrc -fsanitize=fuzzer $(LDFLAGS) -o $@ $< $(BUILD)/libkmirror.a $(PKG_LIBS) $(LDLIBS)
else
$(BUILD)/tests/fuzz/%: tests/fuzz/%.c tests/fuzz/driver.c tests/fuzz/fuzz.h $(BUILD)/libkmirror.a $(wildcard src/*.h)
	@mkdir -p $(dir $@)
	@echo "LD $@"; $(CC) $(CFLAGS) $(PKG_CFLAGS) -Isrc $(LDFLAGS) -o $@ $< tests/fuzz/driver.c $(BUILD)/libkmirror.a $(PKG_LIBS) $(LDLIBS)
endif

$(BUILD)/bench/%: bench/%.c $(BUILD)/libkmirror.a
	@mkdir -p $(dir $@)
	@echo "LD $@"; $(CC) $(CFLAGS) $(PKG_CFLAGS) -Isrc $(LDFLAGS) -o $@ $< $(BUILD)/libkmirror.a $(PKG_LIBS) $(LDLIBS)

.PHONY: build-tests
build-tests: $(BUILD)/kmirror $(TEST_BIN) $(FUZZ_BIN)

# Each target for FUZZ_SECONDS, starting from its seed corpus (new inputs go to build-fuzz/,
# not into the repository); a crash stops here with the input in build-fuzz/crashes/: fix it
# and add the input to tests/fuzz/corpus/<target>/.
fuzz: deps
	@scripts/install-deps.sh --fuzz
	@$(MAKE) --no-print-directory FUZZ=1 $(FUZZ_SRC:tests/%.c=build-fuzz/tests/%)
	@mkdir -p build-fuzz/crashes
	@for t in $(FUZZ_NAMES); do \
	    mkdir -p build-fuzz/corpus/$$t; \
	    echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
	    build-fuzz/tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	        -artifact_prefix=build-fuzz/crashes/$$t- build-fuzz/corpus/$$t tests/fuzz/corpus/$$t >build-fuzz/fuzz_$$t.log 2>&1; \
	    rc=$$?; \
	    grep -E '^(stat::number_of_executed_units|stat::new_units_added|==[0-9]+==ERROR|SUMMARY|.*runtime error|Test unit written)' build-fuzz/fuzz_$$t.log; \
	    test $$rc -eq 0 || { echo "fuzz_$$t failed (exit $$rc): see build-fuzz/fuzz_$$t.log and build-fuzz/crashes/"; exit 1; }; \
	done

test: deps
	@$(MAKE) --no-print-directory build-tests
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) SANITIZE_LIBRDKAFKA=$(SANITIZE_LIBRDKAFKA) tests/run.sh

itest: deps
	@test -n "$(KMIRROR_IT_A)" -a -n "$(KMIRROR_IT_B)" || { echo "usage: make itest KMIRROR_IT_A=host:port KMIRROR_IT_B=host:port" >&2; exit 2; }
	@$(MAKE) --no-print-directory build-tests
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) SANITIZE_LIBRDKAFKA=$(SANITIZE_LIBRDKAFKA) KMIRROR_IT_A=$(KMIRROR_IT_A) KMIRROR_IT_B=$(KMIRROR_IT_B) tests/run.sh --it-only

demo: deps
	@$(MAKE) --no-print-directory $(BUILD)/kmirror
	$(BUILD)/kmirror demo

bench: deps
	@$(MAKE) --no-print-directory $(BUILD)/kmirror $(BENCH_BIN)
	@BUILD=$(BUILD) bench/run.sh

# Where `make install` puts things: systemd and systemd-sysusers also search /usr/local/lib.
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
DATADIR     ?= $(PREFIX)/share/kmirror
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
SYSCONFDIR  ?= /etc
INSTALLED   := $(BINDIR)/kmirror $(MANDIR)/man1/kmirror.1 $(UNITDIR)/kmirror@.service \
               $(SYSUSERSDIR)/kmirror.conf $(DATADIR)/grafana/kmirror.json \
               $(DATADIR)/prometheus/kmirror-alerts.yml

install: $(BUILD)/kmirror
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
	    $(DESTDIR)$(DATADIR)/grafana $(DESTDIR)$(DATADIR)/prometheus $(DESTDIR)$(SYSCONFDIR)/kmirror
	install -m 0755 $(BUILD)/kmirror $(DESTDIR)$(BINDIR)/kmirror
	install -m 0644 dist/kmirror.1 $(DESTDIR)$(MANDIR)/man1/kmirror.1
	sed 's|@BINDIR@|$(BINDIR)|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' 'dist/kmirror@.service' > '$(DESTDIR)$(UNITDIR)/kmirror@.service'
	chmod 0644 '$(DESTDIR)$(UNITDIR)/kmirror@.service'
	install -m 0644 dist/kmirror.sysusers $(DESTDIR)$(SYSUSERSDIR)/kmirror.conf
	install -m 0644 contrib/grafana/kmirror.json $(DESTDIR)$(DATADIR)/grafana/kmirror.json
	install -m 0644 contrib/prometheus/kmirror-alerts.yml $(DESTDIR)$(DATADIR)/prometheus/kmirror-alerts.yml

# Leaves $(SYSCONFDIR)/kmirror alone: it holds the operator's configuration.
uninstall:
	rm -f $(addprefix '$(DESTDIR),$(addsuffix ',$(INSTALLED)))
	-rmdir $(DESTDIR)$(DATADIR)/grafana $(DESTDIR)$(DATADIR)/prometheus $(DESTDIR)$(DATADIR) 2>/dev/null

clean:
	rm -rf build build-san build-fuzz
.SECONDARY: $(SUP_OBJ)
