#!/usr/bin/env bash
# make bench: rawpipe (the librdkafka ceiling), kmirror and Apache MirrorMaker 2 on the same data,
# printed as one markdown table. Figures only: nothing here passes or fails.
#
# Clusters (environment):
#   default              two single-node Apache Kafka clusters, scripts/kafka-test-cluster.sh,
#                        on 127.0.0.1:BENCH_PORT_A / BENCH_PORT_B (28392 / 28492: below the kernel's ephemeral
#                        ports, which start at 32768, so a client socket cannot hold them; the tests
#                        use 19092/19192)
#   BENCH_CLUSTERS=mock  two `kmirror mock-cluster` processes (small loads; no Apache MM2, which
#                        needs a real broker; every topic is created up front, the mock has no CreateTopics)
#   KMIRROR_BENCH_A/_B   two external clusters (host:port); topics named bench_* are created and deleted
# Other knobs: BENCH_QUICK=1 (fewer sizes, rounds and records), BENCH_ROUNDS, BENCH_MM2=0|1,
# BENCH_EOS=1 (kmirror with exactly.once.support=required as another contender),
# BENCH_KMIRROR_CONF (lines appended to kmirror's configuration, e.g. "offset.flush.records = 0"),
# BENCH_SIZES, BENCH_PARTITIONS, BENCH_LAT_SECONDS, BENCH_RESULTS (the report file; default
# bench/results/YYYY-MM-DD.md for a full run on Kafka, else build/bench/results-MODE.md),
# BENCH_LAT_LOADS (the paced loads of the latency runs: N = N% of rawpipe's median peak rate,
# Nrps = N records/s; the first goes into the main table; default "5000rps 10", quick "5000rps").
# BENCH_LATENCY=1: the latency runs alone (see latency_runs; KMIRROR_BENCH_A/_B work too).
#
# Variant runs (BENCH_WAN=1 or BENCH_VARIANTS set; default clusters only): peak throughput only,
# one record size and partition count (BENCH_SIZES / BENCH_PARTITIONS, default 1024 and 16),
# BENCH_VARIANT_RECORDS records (default 500000), each contender under each variant of
# BENCH_VARIANTS, interleaved: per round every variant, each round starting from the next one,
# contenders alternating; MM2 once per variant (not for env-* variants, which only set kmirror's
# environment). Variants (see variant()):
#   default                 nothing changed
#   mpfb fmb fwm buf tuned  consumer max.partition.fetch.bytes=8 MiB, fetch.max.bytes=64 MiB,
#                           fetch.max.wait.ms=100, receive/send.buffer.bytes=4 MiB, all four
#   gzip lz4 zstd snappy    producer compression.type
#   qmin100k qmin250k       consumer queued.min.messages=100000 / 250000 (default 1000000)
#   infl32m infl64m         inflight.max.bytes = 32 / 64 MiB alone (the budget is then twice it; default 64 of 512 MiB)
#   lean32 lean64           both: queued.min.messages=250000 and inflight.max.bytes 32 / 64 MiB
#   lean                    max.partition.fetch.bytes 1 MiB, queued.min.messages 250000, queued.max.messages.kbytes 16384
#   qmax16m                 consumer queued.max.messages.kbytes=16384 (default 65536)
#   mpfb1m mpfb2m mpfb4m    max.partition.fetch.bytes=1 / 2 / 4 MiB (librdkafka's default is 1 MiB)
#   fmb32m                  fetch.max.bytes=32 MiB (glibc's largest mmap threshold)
#   idemsyncs               idempotent offset-syncs producer (kmirror's default before 2026-12-03)
#   old                     both: kmirror's consumer and offset-syncs defaults before 2026-12-03
#   env-arena2 env-arena8   kmirror with MALLOC_ARENA_MAX=2 / 8
#   env-jemalloc            kmirror with LD_PRELOAD of libjemalloc.so.2 (BENCH_JEMALLOC)
#   env-arena0              kmirror with MALLOC_ARENA_MAX unset in its environment
#   env-tun                 kmirror with glibc malloc tunables: mmap_threshold 32 MiB, trim_threshold
#                           256 MiB, top_pad 16 MiB (no heap shrinking and growing back)
#   env-jeconf              kmirror with MALLOC_CONF=$BENCH_MALLOC_CONF (jemalloc's options; default
#                           oversize_threshold:0, which keeps freed fetch buffers for reuse)
#   env-tcache              kmirror with glibc's per-thread cache at 65535 chunks per size (default 7)
#   noprov                  replication.provenance.enabled = false (no kmirror.path header)
#   bin-NAME                the kmirror binary at $BENCH_KMIRROR_NAME (A/B of two builds in one run)
#   tasks2                  tasks.max = 2 (two tasks, each with its consumer and producer)
#   precreate               the target topic exists before kmirror starts (as rawpipe's always does):
#                           start-up without creating it
#   conf-NAME               the lines of $BENCH_CONF_NAME added to kmirror's file (@SRC@: the source
#                           alias), e.g. BENCH_CONF_LEAN="inflight.max.bytes = 33554432"
# mpfb1m and the ones after it are kmirror's only (no rawpipe or MM2 runs).
# BENCH_WAN=1: Shopify's toxiproxy (BENCH_TOXIPROXY_VERSION, default v2.5.0, `go install`ed into
# $BUILD/toxiproxy/ once) sits between every mirror and the source cluster, whose broker gets a
# second listener advertised at the proxy (KMIRROR_KAFKA_EXTRA_LISTENER of
# scripts/kafka-test-cluster.sh); loaders and probes use the direct listener. Every variant runs at
# each round trip of BENCH_WAN_RTTS (ms, default "0 50 100 200"): latency toxics of RTT/2 on the
# upstream and the downstream stream. Ports: source listener BENCH_PORT_A+2, proxy +3, toxiproxy's
# API +4. The proxy ends TCP on both sides in user space: it adds delay, never a bandwidth-delay
# product, so TCP windows and socket buffer sizes have no effect through it (see bench/results).
#
# Method, per record size S and partition count P:
#  * peak throughput: N records are loaded into a source topic first and copied once by rawpipe,
#    untimed (the first copy after a load is slow for anyone); then each contender mirrors
#    all of them into a fresh target topic, rawpipe and kmirror alternating for BENCH_ROUNDS rounds,
#    MM2 once. `probe watch` polls the target's high watermarks: steady state is the window from
#    10% to 90% of N (leaves out start-up and the tail); records/s over that window, CPU-µs per
#    record = user+sys of the mirror process (all its threads; the JVM for MM2) over the window
#    from /proc/PID/stat, peak RSS = VmHWM of the process. Medians over rounds.
#  * latency at moderate load: a fresh topic per contender, the mirror started and proven live
#    (one empty marker record per partition must arrive), then `load pace` writes at the loads of
#    BENCH_LAT_LOADS for BENCH_LAT_SECONDS. Each value carries its send time (µs) and a sequence
#    number; on Kafka both topics have message.timestamp.type=LogAppendTime, read after the run:
#    mirror latency = target append - source append of the same record, end to end = target
#    append - send time; on the mock, end to end = receive time of a live probe - send time
#    (includes the probe's fetch).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
BUILD=${BUILD:-build}
bin=$root/$BUILD/bench
kmirror=$root/$BUILD/kmirror
work=$root/$BUILD/bench/run
mkdir -p "$work"
quick=${BENCH_QUICK:-0}

if [ -n "${KMIRROR_BENCH_A:-}" ] && [ -n "${KMIRROR_BENCH_B:-}" ]; then mode=external
elif [ "${BENCH_CLUSTERS:-kafka}" = mock ]; then mode=mock
else mode=kafka; fi

if [ "$quick" = 1 ]; then
  sizes=${BENCH_SIZES:-"100 10240"}; parts_list=${BENCH_PARTITIONS:-"8 256"}; rounds=${BENCH_ROUNDS:-1}; lat_secs=${BENCH_LAT_SECONDS:-5}
  lat_pcts=${BENCH_LAT_LOADS:-5000rps}
else
  sizes=${BENCH_SIZES:-"100 1024 10240"}; parts_list=${BENCH_PARTITIONS:-"8 256"}; rounds=${BENCH_ROUNDS:-3}; lat_secs=${BENCH_LAT_SECONDS:-15}
  lat_pcts=${BENCH_LAT_LOADS:-"5000rps 10"}
fi
mm2=${BENCH_MM2:-1}; [ $mode = mock ] && mm2=0
eos=${BENCH_EOS:-0}

# Records per (size, partitions). Real clusters: enough for several seconds of steady state at a
# few hundred MB/s. Mock: within 100k records and 5 MB per partition (the mock keeps all in memory).
records_for() {
  local s=$1 p=$2 n
  if [ $mode = mock ]; then
    case $s in 100) n=800000 ;; 1024) n=200000 ;; *) n=40000 ;; esac
  else
    case $s in 100) n=2500000 ;; 1024) n=1000000 ;; *) n=150000 ;; esac
  fi
  [ "$quick" = 1 ] && n=$((n / 4))
  [ $mode = mock ] && [ $n -gt $(mock_cap "$s" "$p") ] && n=$(mock_cap "$s" "$p")
  echo $n
}
# The mock keeps at most 5 MB (and 100k batches) per partition and drops the oldest beyond that,
# so a larger load would lose records before they are mirrored; 4 MB leaves room for the
# per-record overhead.
mock_cap() { local c=$((4 * 1024 * 1024 / ($1 + 64))); [ $c -gt 100000 ] && c=100000; echo $((c * $2)); }

log() { echo "bench: $*" >&2; }

# ---- clusters ---------------------------------------------------------------------------------

# One run at a time per checkout: runs share the clusters' names, and a run stopped by a signal
# stops its clusters by name on its way out, seconds later: under a run started meanwhile. (A
# pid file, not flock: the brokers a run starts would inherit the lock's descriptor.)
run_pid_file=$BUILD/bench/.run.pid
mkdir -p "$BUILD/bench"
other=$(cat "$run_pid_file" 2>/dev/null)
if [ -n "$other" ] && [ "$other" != $$ ] && grep -qs 'run\.sh' "/proc/$other/cmdline"; then
  log "waiting for the bench run already going in this checkout (pid $other) to end"
  while kill -0 "$other" 2>/dev/null; do sleep 1; done
fi
echo $$ >"$run_pid_file"

mock_pids=()
kafka_started=()
toxi_pid=
cleanup() {
  for p in "${pids_running[@]}"; do kill -TERM "$p" 2>/dev/null; done
  [ -n "$toxi_pid" ] && kill -TERM "$toxi_pid" 2>/dev/null
  for p in "${mock_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for n in "${kafka_started[@]}"; do scripts/kafka-test-cluster.sh stop "$n" >/dev/null 2>&1; done
  [ "$(cat "$run_pid_file" 2>/dev/null)" = $$ ] && rm -f "$run_pid_file"
}
pids_running=()
trap cleanup EXIT
trap 'exit 130' INT TERM

start_mock() { # NAME TOPIC:PARTS... ; sets $REPLY to the bootstrap servers
  local name=$1; shift
  local args=()
  for t in "$@"; do args+=(--topic "$t"); done
  "$kmirror" mock-cluster "${args[@]}" >"$work/$name.out" 2>"$work/$name.err" &
  mock_pids+=($!)
  # Creating many partitions takes the mock a while (seconds for a few thousand).
  for _ in $(seq 1200); do
    REPLY=$(sed -n 's/^bootstrap.servers=//p' "$work/$name.out")
    [ -n "$REPLY" ] && return 0
    sleep 0.1
  done
  log "mock cluster $name did not start: $(cat "$work/$name.err")"; exit 1
}

# Every topic name the run will use, so that the mock can create them at start: with each
# kmirror alias k the internal topics of the flow k->b (positions, checkpoints, offset-syncs,
# heartbeats, the source's heartbeats replicated as k.heartbeats, and the group's tasks topic).
cfg_index=0
src_topic() { echo "bench_s$1_p$2"; }
lat_topic() { echo "benchlat$4_s$1_p$2_$3"; } # S P contender percent
alias_for() { echo "$1$2x$3"; } # contender letter, config index, round
letter() { case $1 in eos) echo e ;; *) echo "${1:0:1}" ;; esac; }

internal_topics() { printf '%s\n' "mm2-offsets.$1.internal:25" "$1.checkpoints.internal:1" "$1.heartbeats:1" "mm2-offset-syncs.$1.internal:1" "mm2-kmirror-tasks.$1.$1-mm2.internal:1"; }
mock_topics() { # side a|b
  local i=0 s p r c
  if [ "$1" = a ]; then printf '%s\n' heartbeats:1 mm2-offset-syncs.b.internal:1; else echo heartbeats:1; fi
  for s in $sizes; do for p in $parts_list; do
    i=$((i + 1))
    if [ "$1" = a ]; then
      echo "$(src_topic $s $p):$p"
      for r in $lat_pcts; do for c in rawpipe kmirror eos; do echo "$(lat_topic $s $p $c $r):$p"; done; done
    else
      for r in $(seq "$rounds"); do
        echo "$(alias_for r $i $r).$(src_topic $s $p):$p"
        echo "$(alias_for k $i $r).$(src_topic $s $p):$p"
        internal_topics "$(alias_for k $i $r)"
        if [ "$eos" = 1 ]; then echo "$(alias_for e $i $r).$(src_topic $s $p):$p"; internal_topics "$(alias_for e $i $r)"; fi
      done
      for r in $lat_pcts; do
        echo "$(alias_for r $i L$r).$(lat_topic $s $p rawpipe $r):$p"
        echo "$(alias_for k $i L$r).$(lat_topic $s $p kmirror $r):$p"
        internal_topics "$(alias_for k $i L$r)"
        if [ "$eos" = 1 ]; then echo "$(alias_for e $i L$r).$(lat_topic $s $p eos $r):$p"; internal_topics "$(alias_for e $i L$r)"; fi
      done
    fi
  done; done
}

target_broker_pid=
case $mode in
  mock)
    log "starting two mock clusters"
    mapfile -t ta < <(mock_topics a); mapfile -t tb < <(mock_topics b)
    start_mock bench-mock-a "${ta[@]}"; A=$REPLY
    start_mock bench-mock-b "${tb[@]}"; B=$REPLY ;;
  external) A=$KMIRROR_BENCH_A; B=$KMIRROR_BENCH_B ;;
  kafka)
    log "starting two Kafka clusters (ports ${BENCH_PORT_A:-28392}, ${BENCH_PORT_B:-28492})"
    for spec in "bench-a ${BENCH_PORT_A:-28392}" "bench-b ${BENCH_PORT_B:-28492}"; do
      set -- $spec
      extra=
      [ "$1" = bench-a ] && [ "${BENCH_WAN:-0}" = 1 ] && extra="$(($2 + 2)):$(($2 + 3))"
      line=$(KMIRROR_KAFKA_EXTRA_LISTENER=$extra scripts/kafka-test-cluster.sh start "$1" "$2" | grep '^bootstrap.servers=' | tail -1)
      [ -n "$line" ] || { log "could not start Kafka cluster $1"; exit 1; }
      kafka_started+=("$1")
      if [ "$1" = bench-a ]; then A=${line#bootstrap.servers=}; else B=${line#bootstrap.servers=}; fi
    done
    # What the mirror's produce requests cost the target broker is part of its price (latency runs).
    target_broker_pid=$(scripts/kafka-test-cluster.sh status bench-b | sed -n 's/^running pid \([0-9]*\).*/\1/p') ;;
esac
real=1; [ $mode = mock ] && real=0
AM=$A # the source as the mirrors see it (the proxy in WAN runs)
v_conf= v_env=() v_rawpipe=() v_bin= # the current variant's kmirror/MM2 lines, kmirror environment, rawpipe arguments
if [ $mm2 = 1 ]; then
  mm_libs=$(scripts/kafka-test-cluster.sh jars mirror-maker) || { log "no MirrorMaker 2 jars; running without MM2"; mm2=0; }
fi

# ---- one mirror run ---------------------------------------------------------------------------

# Topics are created on Kafka only; on the mock they exist from the start.
mk_topic() { [ $real = 1 ] || return 0; "$bin/load" create "$@" >/dev/null; }
rm_topics() { [ $real = 1 ] && "$bin/load" delete "$@" >/dev/null 2>&1; return 0; }

# mm2_config ALIAS TOPIC FILE: the same MM2-format file for kmirror and Apache MM2. Every key
# not listed is at its default; the replication factors are 1 because each cluster has one broker.
mm2_config() {
  cat >"$3" <<EOF
clusters = $1, b
$1.bootstrap.servers = $AM
b.bootstrap.servers = $B
$1->b.enabled = true
$1->b.topics = $2
b->$1.enabled = false
replication.factor = 1
checkpoints.topic.replication.factor = 1
heartbeats.topic.replication.factor = 1
offset-syncs.topic.replication.factor = 1
offset.storage.replication.factor = 1
status.storage.replication.factor = 1
config.storage.replication.factor = 1
EOF
}

# start_mirror CONTENDER ALIAS SRC DST COUNT LOG; sets $mirror_pid.
start_mirror() {
  local c=$1 alias=$2 src=$3 dst=$4 count=$5 out=$6
  case $c in
    rawpipe) "$bin/rawpipe" "$AM" "$B" "$src" "$dst" "$count" "${v_rawpipe[@]}" >"$out" 2>&1 & ;;
    kmirror)
      mm2_config "$alias" "$src" "$out.properties"
      [ -n "${BENCH_KMIRROR_CONF:-}" ] && printf '%s\n' "${BENCH_KMIRROR_CONF//@SRC@/$alias}" >>"$out.properties"
      [ -n "$v_conf" ] && printf '%s\n' "${v_conf//@SRC@/$alias}" >>"$out.properties"
      env "${v_env[@]}" "${v_bin:-$kmirror}" "$out.properties" >"$out" 2>&1 & ;;
    eos)
      mm2_config "$alias" "$src" "$out.properties"
      echo "exactly.once.support = required" >>"$out.properties"
      "$kmirror" "$out.properties" >"$out" 2>&1 & ;;
    mm2)
      mm2_config "$alias" "$src" "$out.properties"
      [ -n "$v_conf" ] && printf '%s\n' "${v_conf//@SRC@/$alias}" >>"$out.properties"
      # The heap and GC options connect-mirror-maker.sh and kafka-run-class.sh use by default.
      java -Xms256M -Xmx2G -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
        -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true -cp "$mm_libs/*" \
        org.apache.kafka.connect.mirror.MirrorMaker "$out.properties" >"$out" 2>&1 & ;;
  esac
  mirror_pid=$!
  pids_running=("$mirror_pid")
}

stop_mirror() {
  kill -TERM "$mirror_pid" 2>/dev/null
  for _ in $(seq 600); do kill -0 "$mirror_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$mirror_pid" 2>/dev/null
  wait "$mirror_pid" 2>/dev/null
  pids_running=()
}

field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<<"$2"; }

# warm_up SRC P N: one untimed rawpipe copy of a source just loaded, then one by kmirror. The
# first run after a load ran 4-5x slower than the next ones, whoever ran first
# (bench/results/2026-12-04.md §11), and after the rawpipe copy the first kmirror run still ran
# at 0.4-0.5x the next ones, with a second more to its first record (2026-12-07.md §1): what
# kmirror alone asks of the clusters the first time (its group, its internal topics).
warm_up() {
  [ $real = 1 ] || return 0
  local dst=warm.$1 out=$work/warm-up.log c
  for c in rawpipe kmirror; do
    [ $c = rawpipe ] && mk_topic "$B" "$dst" "$2"
    start_mirror $c warm "$1" "$dst" "$3" "$out.$c"
    "$bin/probe" watch "$B" "$dst" "$3" "$mirror_pid" 300 >/dev/null || log "the warm-up copy by $c did not finish (log: $out.$c)"
    stop_mirror
    rm_topics "$B" "$dst"
  done
}

# A run without a result keeps its log under a name the next series does not reuse.
keep_failed() { local kept; kept=$work/failed-$(date +%Y%m%dT%H%M%S)-$(basename "$1"); cp "$1" "$kept" 2>/dev/null; echo "$kept"; }

results=$work/results.txt
: >"$results"

# peak CONTENDER CFG ROUND S P N: one throughput run; appends "peak c s p rate cpu hwm" to $results.
peak() {
  local c=$1 i=$2 r=$3 s=$4 p=$5 n=$6 src alias dst out line
  src=$(src_topic "$s" "$p"); alias=$(alias_for "$(letter "$c")" "$i" "$r"); dst=$alias.$src
  out=$work/peak-$c-$i-$r.log
  [ "$c" = rawpipe ] && mk_topic "$B" "$dst" "$p"
  start_mirror "$c" "$alias" "$src" "$dst" "$n" "$out"
  line=$("$bin/probe" watch "$B" "$dst" "$n" "$mirror_pid" 300)
  stop_mirror
  rm_topics "$B" "$dst"
  if [ -z "$line" ]; then log "$c S=$s P=$p round $r: no result (log: $(keep_failed "$out"))"; return; fi
  log "$c S=$s P=$p round $r: $line"
  echo "peak $c $s $p $(field rate "$line") $(field cpu_us_per_rec "$line") $(field hwm_kb "$line") $(field first_s "$line")" >>"$results"
  # rawpipe's own view (its latency is DR time minus source timestamp, during a backlog drain).
  [ "$c" = rawpipe ] && line="$line | $(grep '^rawpipe' "$out")"
  echo "raw peak $c S=$s P=$p round=$r $line" >>"$results"
}

# cpu_s PID: user+sys CPU seconds of a process so far (empty when it is not there, as the mock's
# brokers, which run inside another process).
cpu_s() {
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 0
  awk -v hz="$clk_tck" '{sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz}' "/proc/$1/stat"
}
clk_tck=$(getconf CLK_TCK)

# latency CONTENDER CFG S P RATE PCT [RUN [LABEL]]: one paced run; appends "latPCT LABEL s p p50
# p99 rate src_p50 src_p99 mirror_p50 mirror_p99 broker_cpu mirror_cpu" (LABEL defaults to
# CONTENDER; Kafka only: src_* the paced producer's own latency to the source, mirror_* target
# minus source append time of the same record, *_cpu the target broker's and the mirror's CPU over
# the paced load in % of a core). RUN tells repeated runs' topics apart.
latency() {
  local c=$1 i=$2 s=$3 p=$4 rate=$5 pct=$6 run=${7:-} label=${8:-$1} src alias dst out line total probe_pid secs
  src=$(lat_topic "$s" "$p" "$c" "$pct$run"); alias=$(alias_for "$(letter "$c")" "$i" "L$pct$run"); dst=$alias.$src
  out=$work/lat$pct$run-$c-$i.log
  total=$((rate * lat_secs))
  # On the mock the paced load obeys the same per-partition cap as the backlog: shorter, not slower.
  if [ $mode = mock ] && [ $total -gt $(mock_cap "$s" "$p") ]; then
    total=$(mock_cap "$s" "$p"); secs=$(awk -v t=$total -v r=$rate 'BEGIN {printf "%d", t / r < 1 ? 1 : t / r}'); total=$((rate * secs))
  else secs=$lat_secs; fi
  # LogAppendTime on the source too: the probe then also reads how late the paced producer's own
  # records reached the source, which is not the mirror's doing.
  # A topic left over from an interrupted run would mix its records into this one's.
  if ! mk_topic "$A" "$src" "$p" message.timestamp.type=LogAppendTime || ! mk_topic "$B" "$dst" "$p" message.timestamp.type=LogAppendTime; then
    log "$c S=$s P=$p: cannot create $src on the source or $dst on the target (left over from an interrupted run?)"; return
  fi
  start_mirror "$c" "$alias" "$src" "$dst" $((total + p)) "$out"
  # Live: one empty marker per partition must come through before the paced load starts.
  "$bin/load" fill "$A" "$src" "$p" 0 >/dev/null
  if ! "$bin/probe" watch "$B" "$dst" "$p" "$mirror_pid" 300 >/dev/null; then
    log "$c S=$s P=$p: mirror never became live (log: $out)"; stop_mirror; return
  fi
  if [ $real = 0 ]; then "$bin/probe" latency "$B" "$dst" "$total" 60 >"$out.probe" & probe_pid=$!; sleep 1; fi
  local tb0 m0 t0=$EPOCHREALTIME
  tb0=$(cpu_s "$target_broker_pid"); m0=$(cpu_s "$mirror_pid")
  "$bin/load" pace "$A" "$src" "$rate" "$secs" "$s" >/dev/null
  local busy
  busy=$(awk -v b0="$tb0" -v b1="$(cpu_s "$target_broker_pid")" -v m0="$m0" -v m1="$(cpu_s "$mirror_pid")" \
    -v t0="$t0" -v t1="$EPOCHREALTIME" 'BEGIN {w = t1 - t0; if (b0 == "" || m0 == "" || w <= 0) print "target_broker_cpu_pct= mirror_cpu_pct="
      else printf "target_broker_cpu_pct=%.1f mirror_cpu_pct=%.1f", (b1 - b0) * 100 / w, (m1 - m0) * 100 / w}')
  if [ $real = 0 ]; then wait "$probe_pid"; line=$(cat "$out.probe")
  else line=$("$bin/probe" latency "$B" "$dst" "$total" 120 "$A" "$src"); fi
  stop_mirror
  rm_topics "$A" "$src"; rm_topics "$B" "$dst"
  [ -n "$line" ] || { log "$c S=$s P=$p: no latency result"; return; }
  line="$line $busy"
  log "$label S=$s P=$p at $rate rec/s: $line"
  echo "lat$pct $label $s $p $(field p50_ms "$line") $(field p99_ms "$line") $rate $(field source_p50_ms "$line") $(field source_p99_ms "$line") $(field mirror_p50_ms "$line") $(field mirror_p99_ms "$line") $(field target_broker_cpu_pct "$line") $(field mirror_cpu_pct "$line")" >>"$results"
  echo "raw lat$pct $label S=$s P=$p rate=$rate $line" >>"$results"
}

# load_rate LOAD RAWPIPE_RATE: records/s of a latency load (N% of rawpipe's peak, or Nrps).
load_rate() { case $1 in *rps) echo "${1%rps}" ;; *) awk -v r="$2" -v f="$1" 'BEGIN {printf "%d", r * f / 100}' ;; esac; }
load_desc() { case $1 in *rps) echo "${1%rps} records/s" ;; *) echo "$1% of rawpipe's peak" ;; esac; }
median() { sort -g | awk '{v[NR]=$1} END {if (NR == 0) print ""; else if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
# med KIND C S P COLUMN: median of a column of matching result lines.
med() { awk -v k="$1" -v c="$2" -v s="$3" -v p="$4" -v col="$5" '$1==k && $2==c && $3==s && $4==p {print $col}' "$results" | median; }

# ---- shared by the report and the variant runs ---------------------------------------------

fmt() { awk -v v="$1" -v f="$2" 'BEGIN {if (v == "") print "–"; else printf f, v}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "" || b == "" || b == 0) print "–"; else printf "%.2f×", a / b}'; }
name_of() { case $1 in rawpipe) echo rawpipe ;; kmirror) echo kmirror ;; eos) echo "kmirror EOS" ;; mm2) echo "Apache MM2" ;; esac; }
# raw_details: the result file's raw lines (and measured round trips) as a folded block of the report.
raw_details() {
  echo "<details><summary>raw figures</summary>"
  echo
  echo '```'
  grep '^raw \|^rtt ' "$results" | sed 's/^raw //'
  echo '```'
  echo "</details>"
}

machine() {
  echo "- machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) memory, kernel $(uname -r)"
  echo "- librdkafka $(pkg-config --modversion rdkafka 2>/dev/null), kmirror $(git -C "$root" rev-parse --short HEAD 2>/dev/null)$(git -C "$root" diff --quiet 2>/dev/null || echo '+changes')"
  echo "- clusters: $mode ($A, $B)$([ $mode = kafka ] && echo ", Kafka $(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' tests/kafka/pom.xml) single-node KRaft each, on this machine")"
  [ $mm2 = 1 ] && echo "- Apache MirrorMaker 2 $(sed -n 's:.*<mirror.version>\(.*\)</mirror.version>.*:\1:p' tests/kafka/pom.xml), -Xms256M -Xmx2G G1 (connect-mirror-maker.sh's defaults)"
  echo "- run: $start_time to $(date -u +%FT%TZ), $rounds round(s) rawpipe/kmirror alternating$([ $mm2 = 1 ] && { [ "${BENCH_LATENCY:-0}" = 1 ] && echo ', MM2 in every round' || echo ', MM2 once'; }), moderate load for ${lat_secs} s$([ "$quick" = 1 ] && echo ', BENCH_QUICK=1')"
  echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# ---- variant runs (BENCH_WAN / BENCH_VARIANTS) --------------------------------------------------

# variant NAME: sets v_conf (lines for kmirror's and MM2's file; @SRC@ is the source alias),
# v_env (kmirror's environment) and v_rawpipe (rawpipe's extra arguments).
variant() {
  v_conf= v_env=() v_rawpipe=() v_bin=
  local mpfb="@SRC@.consumer.max.partition.fetch.bytes = 8388608" fmb="@SRC@.consumer.fetch.max.bytes = 67108864"
  local fwm="@SRC@.consumer.fetch.max.wait.ms = 100"
  local buf="@SRC@.consumer.receive.buffer.bytes = 4194304"$'\n'"@SRC@.consumer.send.buffer.bytes = 4194304"
  case $1 in
    default) ;;
    mpfb) v_conf=$mpfb; v_rawpipe=(consumer.max.partition.fetch.bytes=8388608) ;;
    fmb) v_conf=$fmb; v_rawpipe=(consumer.fetch.max.bytes=67108864) ;;
    fwm) v_conf=$fwm; v_rawpipe=(consumer.fetch.wait.max.ms=100) ;;
    buf) v_conf=$buf; v_rawpipe=(consumer.socket.receive.buffer.bytes=4194304 consumer.socket.send.buffer.bytes=4194304) ;;
    tuned) v_conf="$mpfb"$'\n'"$fmb"$'\n'"$fwm"$'\n'"$buf"
      v_rawpipe=(consumer.max.partition.fetch.bytes=8388608 consumer.fetch.max.bytes=67108864 consumer.fetch.wait.max.ms=100
                 consumer.socket.receive.buffer.bytes=4194304 consumer.socket.send.buffer.bytes=4194304) ;;
    gzip|lz4|zstd|snappy) v_conf="b.producer.compression.type = $1"; v_rawpipe=(producer.compression.type=$1) ;;
    qmin100k|qmin250k) local q=${1#qmin}; q=${q%k}000
      v_conf="@SRC@.consumer.queued.min.messages = $q"; v_rawpipe=(consumer.queued.min.messages=$q) ;;
    infl32m|infl64m) local m=${1#infl}; v_conf="inflight.max.bytes = $((${m%m} * 1048576))" ;;
    lean32|lean64) v_conf="inflight.max.bytes = $((${1#lean} * 1048576))"$'\n'"@SRC@.consumer.queued.min.messages = 250000"
      v_rawpipe=(consumer.queued.min.messages=250000) ;;
    lean) v_conf="@SRC@.consumer.max.partition.fetch.bytes = 1048576"$'\n'"@SRC@.consumer.queued.min.messages = 250000"$'\n'"@SRC@.consumer.queued.max.messages.kbytes = 16384"
      v_rawpipe=(consumer.queued.min.messages=250000 consumer.queued.max.messages.kbytes=16384) ;;
    qmax16m) v_conf="@SRC@.consumer.queued.max.messages.kbytes = 16384"; v_rawpipe=(consumer.queued.max.messages.kbytes=16384) ;;
    mpfb1m|mpfb2m|mpfb4m) local mb=${1#mpfb}; v_conf="@SRC@.consumer.max.partition.fetch.bytes = $((${mb%m} * 1048576))" ;;
    fmb32m) v_conf="@SRC@.consumer.fetch.max.bytes = 33554432" ;;
    idemsyncs) v_conf="@SRC@.producer.enable.idempotence = true" ;;
    old) v_conf="@SRC@.consumer.max.partition.fetch.bytes = 1048576"$'\n'"@SRC@.producer.enable.idempotence = true" ;;
    env-arena2) v_env=(MALLOC_ARENA_MAX=2) ;;
    env-arena8) v_env=(MALLOC_ARENA_MAX=8) ;;
    env-arena0) v_env=(-u MALLOC_ARENA_MAX) ;;
    env-jemalloc) v_env=(LD_PRELOAD=${BENCH_JEMALLOC:-/usr/lib/x86_64-linux-gnu/libjemalloc.so.2}) ;;
    env-tun) v_env=(GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456:glibc.malloc.top_pad=16777216) ;;
    noprov) v_conf="replication.provenance.enabled = false" ;;
    tasks2) v_conf="tasks.max = 2" ;;
    precreate) ;;
    env-jeconf) v_env=(MALLOC_CONF=${BENCH_MALLOC_CONF:-oversize_threshold:0}) ;;
    env-tcache) v_env=(GLIBC_TUNABLES=glibc.malloc.tcache_count=65535) ;;
    conf-*) local cvar=BENCH_CONF_${1#conf-}; v_conf=${!cvar:-}
      [ -n "$v_conf" ] || { log "variant $1: set $cvar to configuration lines"; exit 2; } ;;
    bin-*) local var=BENCH_KMIRROR_${1#bin-}; v_bin=${!var:-}
      [ -x "$v_bin" ] || { log "variant $1: set $var to a kmirror binary"; exit 2; } ;;
    *) log "unknown variant '$1'"; exit 2 ;;
  esac
}

kmirror_only() { case $1 in env-*|bin-*|conf-*|precreate|infl*|mpfb1m|mpfb2m|mpfb4m|fmb32m|idemsyncs|old|noprov|tasks2) return 0 ;; esac; return 1; }

toxi_api=
# set_rtt MS: latency toxics of MS/2 each way on the proxy (none for 0).
set_rtt() {
  local half=$(($1 / 2)) t
  for t in up down; do curl -sf -X DELETE "$toxi_api/proxies/source/toxics/lat_$t" >/dev/null; done
  [ "$1" = 0 ] && return 0
  for t in up down; do
    curl -sf -X POST "$toxi_api/proxies/source/toxics" -H 'Content-Type: application/json' \
      -d "{\"name\":\"lat_$t\",\"type\":\"latency\",\"stream\":\"${t}stream\",\"toxicity\":1,\"attributes\":{\"latency\":$half,\"jitter\":0}}" >/dev/null \
      || { log "toxiproxy refused the latency toxic"; exit 1; }
  done
}

start_toxiproxy() {
  local pa=${BENCH_PORT_A:-28392} tdir=$root/$BUILD/toxiproxy ver=${BENCH_TOXIPROXY_VERSION:-v2.5.0}
  if [ ! -x "$tdir/$ver/server" ]; then
    log "building toxiproxy $ver (go install github.com/Shopify/toxiproxy/v2/cmd/server@$ver)"
    GOBIN=$tdir/$ver go install "github.com/Shopify/toxiproxy/v2/cmd/server@$ver" >&2 || { log "could not build toxiproxy"; exit 1; }
  fi
  toxi_api=http://127.0.0.1:$((pa + 4))
  "$tdir/$ver/server" -host 127.0.0.1 -port $((pa + 4)) >"$work/toxiproxy.log" 2>&1 &
  toxi_pid=$!
  for _ in $(seq 100); do curl -sf "$toxi_api/version" >/dev/null && break; sleep 0.1; done
  curl -sf -X POST "$toxi_api/proxies" -H 'Content-Type: application/json' \
    -d "{\"name\":\"source\",\"listen\":\"127.0.0.1:$((pa + 3))\",\"upstream\":\"127.0.0.1:$((pa + 2))\",\"enabled\":true}" >/dev/null \
    || { log "toxiproxy did not start (log: $work/toxiproxy.log)"; exit 1; }
  AM=127.0.0.1:$((pa + 3))
  log "toxiproxy $ver: $AM -> 127.0.0.1:$((pa + 2)) (the source's proxied listener)"
}

# rtt_probe: median of 5 metadata round trips through the proxy (librdkafka's own figure would do,
# this needs nothing but the probe): time of `probe watch` for 0 records is dominated by connects,
# so a bash /dev/tcp ApiVersions request is timed instead.
rtt_probe() {
  local i t0 t1 out=()
  for i in 1 2 3 4 5; do
    exec 3<>"/dev/tcp/${AM%:*}/${AM#*:}" || return
    t0=${EPOCHREALTIME/./}
    # ApiVersions v0: size 4+... = length 10: api_key 18, version 0, correlation 1, client id "" (-1).
    printf '\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x00\x01\xff\xff' >&3
    head -c 4 <&3 >/dev/null
    t1=${EPOCHREALTIME/./}
    exec 3<&-
    out+=($((t1 - t0)))
  done
  printf '%s\n' "${out[@]}" | median | awk '{printf "%.1f", $1 / 1000}'
}

# vpeak CONTENDER ALIAS RTT VARIANT S P N: one throughput run; appends
# "var c rtt variant rate cpu hwm" to $results.
vpeak() {
  local c=$1 alias=$2 rtt=$3 v=$4 s=$5 p=$6 n=$7 src dst out line
  src=$(src_topic "$s" "$p"); dst=$alias.$src
  out=$work/var-$c-$alias.log
  { [ "$c" = rawpipe ] || [ "$v" = precreate ]; } && mk_topic "$B" "$dst" "$p"
  start_mirror "$c" "$alias" "$src" "$dst" "$n" "$out"
  line=$("$bin/probe" watch "$B" "$dst" "$n" "$mirror_pid" 300)
  stop_mirror
  rm_topics "$B" "$dst"
  if [ -z "$line" ]; then log "$c rtt=$rtt $v: no result (log: $(keep_failed "$out"))"; return; fi
  log "$c rtt=$rtt $v: $line"
  echo "var $c $rtt $v $(field rate "$line") $(field cpu_us_per_rec "$line") $(field hwm_kb "$line")" >>"$results"
  echo "raw var $c rtt=$rtt variant=$v alias=$alias $line" >>"$results"
}

# rotate N WORD...: the words, starting from the (N mod count)th.
rotate() {
  local n=$1; shift
  local words=("$@") i
  for i in "${!words[@]}"; do printf '%s ' "${words[$(((i + n) % ${#words[@]}))]}"; done
}

variant_runs() {
  local s=${BENCH_SIZES:-1024} p=${BENCH_PARTITIONS:-16} n=${BENCH_VARIANT_RECORDS:-500000}
  local variants=${BENCH_VARIANTS:-default tuned} rtts=0 rtt v r c k=0 order src measured
  local vcont="rawpipe kmirror"; [ "${BENCH_RAWPIPE:-1}" = 0 ] && vcont=kmirror
  [ "$wan" = 1 ] && { start_toxiproxy; rtts=${BENCH_WAN_RTTS:-0 50 100 200}; }
  src=$(src_topic "$s" "$p")
  log "S=$s P=$p: loading $n records"
  mk_topic "$A" "$src" "$p"
  log "  $("$bin/load" fill "$A" "$src" "$n" "$s")"
  warm_up "$src" "$p" "$n"
  for rtt in $rtts; do
    if [ "$wan" = 1 ]; then set_rtt "$rtt"; measured=$(rtt_probe); log "RTT $rtt ms: measured $measured ms"; echo "rtt $rtt $measured" >>"$results"; fi
    for r in $(seq "$rounds"); do
      # Each round starts from the next variant: the first run after a load or an RTT change is
      # the slow one (start-up), and that must not always fall on the same variant.
      for v in $(rotate $((r - 1)) $variants); do
        variant "$v"
        if [ $(((r + k) % 2)) = 1 ]; then order=$vcont; else order=$(echo "$vcont" | awk '{for (i = NF; i > 0; i--) printf "%s ", $i}'); fi
        k=$((k + 1))
        for c in $order; do
          [ "$c" = kmirror ] || ! kmirror_only "$v" || continue
          vpeak "$c" "$(letter "$c")${k}x$r" "$rtt" "$v" "$s" "$p" "$n"
        done
      done
    done
    if [ $mm2 = 1 ]; then
      for v in $variants; do
        kmirror_only "$v" && continue
        variant "$v"; k=$((k + 1)); vpeak mm2 "m${k}x1" "$rtt" "$v" "$s" "$p" "$n"
      done
    fi
  done
  v_conf= v_env=() v_rawpipe=() v_bin=
  rm_topics "$A" "$src"
  vsize=$s vparts=$p vrecords=$n vrtts=$rtts vvariants=$variants
}

# vmed C RTT VARIANT COLUMN
vmed() { awk -v c="$1" -v t="$2" -v v="$3" -v col="$4" '$1=="var" && $2==c && $3==t && $4==v {print $col}' "$results" | median; }

variant_table() {
  local rtt v c rate cpu rss n
  local lan_k lan_r
  echo "| RTT ms (measured) | variant | contender | records/s | MB/s | CPU µs/record | peak RSS MB | runs | ÷ rawpipe | ÷ MM2 | ÷ own RTT-0 rate |"
  echo "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for rtt in $vrtts; do
    local meas; meas=$(awk -v t="$rtt" '$1=="rtt" && $2==t {print $3}' "$results")
    for v in $vvariants; do
      local rp mm
      rp=$(vmed rawpipe "$rtt" "$v" 5); mm=$(vmed mm2 "$rtt" "$v" 5)
      for c in rawpipe kmirror mm2; do
        rate=$(vmed "$c" "$rtt" "$v" 5); [ -n "$rate" ] || continue
        cpu=$(vmed "$c" "$rtt" "$v" 6); rss=$(vmed "$c" "$rtt" "$v" 7)
        n=$(awk -v c="$c" -v t="$rtt" -v v="$v" '$1=="var" && $2==c && $3==t && $4==v' "$results" | wc -l)
        local base; base=$(vmed "$c" "$(echo $vrtts | cut -d' ' -f1)" "$v" 5)
        echo "| $rtt${meas:+ ($meas)} | $v | $(name_of "$c") | $(fmt "$rate" %.0f) | $(fmt "$(awk -v r="$rate" -v s="$vsize" 'BEGIN {print r * s / 1e6}')" %.1f) | $(fmt "$cpu" %.2f) | $(fmt "$(awk -v k="$rss" 'BEGIN {if (k != "") print k / 1024}')" %.0f) | $n | $([ "$c" = rawpipe ] && echo – || ratio "$rate" "$rp") | $([ "$c" = mm2 ] && echo – || ratio "$rate" "$mm") | $(ratio "$rate" "$base") |"
      done
    done
  done
}

# ---- latency runs (BENCH_LATENCY=1) ------------------------------------------------------------

# Only the paced latency runs, BENCH_ROUNDS (default 3) rounds of every load of BENCH_LAT_LOADS
# (Nrps only: there is no peak run to take a percentage of), one size and partition count
# (BENCH_SIZES / BENCH_PARTITIONS, default 1024 and 16), contenders alternating, MM2 in every round
# when BENCH_MM2=1, each kmirror variant of BENCH_VARIANTS (default: default) as its own contender.
latency_runs() {
  local s=${BENCH_SIZES:-1024} p=${BENCH_PARTITIONS:-16} r pct c v order lcont=rawpipe k=0
  for v in ${BENCH_VARIANTS:-default}; do lcont="$lcont kmirror/$v"; done
  [ $mm2 = 1 ] && lcont="$lcont mm2"
  for r in $(seq "$rounds"); do for pct in $lat_pcts; do
    case $pct in *rps) ;; *) log "BENCH_LATENCY=1 takes loads in records/s (Nrps), not '$pct'"; exit 2 ;; esac
    order=$lcont; [ $((r % 2)) = 0 ] && order=$(echo "$lcont" | awk '{for (i = NF; i > 0; i--) printf "%s ", $i}')
    for c in $order; do
      k=$((k + 1))
      case $c in kmirror/*) variant "${c#kmirror/}"; latency kmirror "$k" "$s" "$p" "${pct%rps}" "$pct" "r$r" "$c" ;;
                 *) variant default; latency "$c" "$k" "$s" "$p" "${pct%rps}" "$pct" "r$r" ;; esac
    done
  done; done
  v_conf= v_env=() v_rawpipe=() v_bin=
  lsize=$s lparts=$p lconts=$lcont
}

latency_table() {
  local pct c n
  echo "| load records/s | contender | runs | mirror p50 ms | mirror p99 ms | end to end p50 ms | p99 ms | paced producer → source p50 ms | p99 ms | target broker CPU % | mirror CPU % | each run, mirror: p50 / p99 ms |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  for pct in $lat_pcts; do for c in $lconts; do
    n=$(awk -v k="lat$pct" -v c="$c" '$1==k && $2==c' "$results" | wc -l)
    echo "| ${pct%rps} | $(name_of "${c%%/*}")${c#${c%%/*}} | $n | $(fmt "$(med "lat$pct" "$c" "$lsize" "$lparts" 10)" %.1f) | $(fmt "$(med "lat$pct" "$c" "$lsize" "$lparts" 11)" %.1f) | $(fmt "$(med "lat$pct" "$c" "$lsize" "$lparts" 5)" %.1f) | $(fmt "$(med "lat$pct" "$c" "$lsize" "$lparts" 6)" %.1f) | $(fmt "$(med "lat$pct" "$c" "$lsize" "$lparts" 8)" %.1f) | $(fmt "$(med "lat$pct" "$c" "$lsize" "$lparts" 9)" %.1f) | $(fmt "$(med "lat$pct" "$c" "$lsize" "$lparts" 12)" %.0f) | $(fmt "$(med "lat$pct" "$c" "$lsize" "$lparts" 13)" %.0f) | $(awk -v k="lat$pct" -v c="$c" '$1==k && $2==c {printf "%s%s / %s", sep, $10, $11; sep = "; "}' "$results") |"
  done; done
}

if [ "${BENCH_LATENCY:-0}" = 1 ]; then
  [ $mode != mock ] || { log "latency runs need Kafka clusters (LogAppendTime)"; exit 2; }
  [ -n "${BENCH_ROUNDS:-}" ] || rounds=3
  start_time=$(date -u +%FT%TZ)
  latency_runs
  report=${BENCH_RESULTS:-$work/../results-latency.md}
  {
    echo "# kmirror latency benchmark, $(date +%F)"
    echo
    machine
    echo "- $lsize B records, $lparts partitions, paced for $lat_secs s per run; loads: $lat_pcts"
    echo
    latency_table
    echo
    echo "Mirror = target LogAppendTime minus source LogAppendTime of the same record (whole ms): what"
    echo "the mirror adds. End to end = target LogAppendTime minus the send time the paced producer"
    echo "wrote into the value; the paced producer's own share (send to source append) is in the last"
    echo "two figures. CPU % = user+sys of the target's broker and of the mirror over the paced load, in %"
    echo "of one core (the broker only on clusters the bench started). Medians over runs. See bench/run.sh."
    echo
    raw_details
  } >"$report"
  latency_table
  log "report written to $report"
  exit 0
fi

wan=${BENCH_WAN:-0}
if [ "$wan" = 1 ] || [ -n "${BENCH_VARIANTS:-}" ]; then
  [ $mode != mock ] || { log "variant and WAN runs need Kafka clusters (not BENCH_CLUSTERS=mock)"; exit 2; }
  [ "$wan" != 1 ] || [ $mode = kafka ] || { log "WAN runs need the default clusters (the source's second listener), not KMIRROR_BENCH_A/_B"; exit 2; }
  [ -n "${BENCH_ROUNDS:-}" ] || rounds=3
  start_time=$(date -u +%FT%TZ)
  variant_runs
  report=${BENCH_RESULTS:-$work/../results-variants.md}
  {
    echo "# kmirror variant benchmark$([ "$wan" = 1 ] && echo ' across a WAN (toxiproxy)'), $(date +%F)"
    echo
    machine
    echo "- $vsize B records × $vrecords, $vparts partitions; variants: $vvariants$([ "$wan" = 1 ] && echo "; RTTs (ms): $vrtts, latency toxics of RTT/2 each way, measured = median of 5 ApiVersions round trips through the proxy")"
    echo
    variant_table
    echo
    echo "Peak rates over the 10%–90% window of a preloaded backlog; CPU µs/record is user+sys of the"
    echo "mirror process over that window; peak RSS its VmHWM; medians over rounds (runs = rounds"
    echo "measured). See bench/run.sh."
    echo
    raw_details
  } >"$report"
  variant_table
  log "report written to $report"
  exit 0
fi

# ---- the runs ---------------------------------------------------------------------------------

contenders="rawpipe kmirror"; [ "$eos" = 1 ] && contenders="$contenders eos"; [ $mm2 = 1 ] && contenders="$contenders mm2"
start_time=$(date -u +%FT%TZ)
i=0
for s in $sizes; do for p in $parts_list; do
  i=$((i + 1))
  n=$(records_for "$s" "$p")
  src=$(src_topic "$s" "$p")
  log "S=$s P=$p: loading $n records"
  mk_topic "$A" "$src" "$p"
  log "  $("$bin/load" fill "$A" "$src" "$n" "$s")"
  warm_up "$src" "$p" "$n"
  for r in $(seq "$rounds"); do
    # Alternate the order so that drift in the machine's load does not favour one side.
    if [ $((r % 2)) = 1 ]; then order="rawpipe kmirror"; else order="kmirror rawpipe"; fi
    [ "$eos" = 1 ] && if [ $((r % 2)) = 1 ]; then order="$order eos"; else order="eos $order"; fi
    for c in $order; do peak "$c" "$i" "$r" "$s" "$p" "$n"; done
  done
  [ $mm2 = 1 ] && peak mm2 "$i" 1 "$s" "$p" "$n"
  rm_topics "$A" "$src"
  rp_rate=$(med peak rawpipe "$s" "$p" 5)
  if [ -n "$rp_rate" ]; then
    for pct in $lat_pcts; do
      rate=$(load_rate "$pct" "$rp_rate")
      for c in $contenders; do latency "$c" "$i" "$s" "$p" "$rate" "$pct"; done
    done
  fi
done; done

# ---- the table --------------------------------------------------------------------------------


# The first of BENCH_LAT_PERCENT goes into the main table, the others into one table each.
lat_main=${lat_pcts%% *}

table() {
  echo "| record | partitions | contender | records/s | MB/s | CPU µs/record | peak RSS MB | start-up s | moderate load records/s | latency p50 ms | latency p99 ms | mirror p50 ms | mirror p99 ms |"
  echo "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for s in $sizes; do for p in $parts_list; do
    local rp_rate rp_cpu rp_rss rp_p50 rp_p99 rp_up rp_m50 rp_m99 km_rate km_cpu m50 m99
    for c in $contenders; do
      rate=$(med peak "$c" "$s" "$p" 5); cpu=$(med peak "$c" "$s" "$p" 6); rss=$(med peak "$c" "$s" "$p" 7); up=$(med peak "$c" "$s" "$p" 8)
      p50=$(med "lat$lat_main" "$c" "$s" "$p" 5); p99=$(med "lat$lat_main" "$c" "$s" "$p" 6); lrate=$(med "lat$lat_main" "$c" "$s" "$p" 7)
      m50=$(med "lat$lat_main" "$c" "$s" "$p" 10); m99=$(med "lat$lat_main" "$c" "$s" "$p" 11)
      mbs=$(awk -v r="$rate" -v s="$s" 'BEGIN {if (r != "") print r * s / 1e6}')
      rssmb=$(awk -v k="$rss" 'BEGIN {if (k != "") print k / 1024}')
      echo "| $s B | $p | $(name_of "$c") | $(fmt "$rate" %.0f) | $(fmt "$mbs" %.1f) | $(fmt "$cpu" %.2f) | $(fmt "$rssmb" %.0f) | $(fmt "$up" %.2f) | $(fmt "$lrate" %.0f) | $(fmt "$p50" %.1f) | $(fmt "$p99" %.1f) | $(fmt "$m50" %.1f) | $(fmt "$m99" %.1f) |"
      if [ "$c" = rawpipe ]; then rp_rate=$rate; rp_cpu=$cpu; rp_rss=$rssmb; rp_p50=$p50; rp_p99=$p99; rp_up=$up; rp_m50=$m50; rp_m99=$m99; fi
      if [ "$c" = kmirror ]; then
        echo "| | | *kmirror ÷ rawpipe* | *$(ratio "$rate" "$rp_rate")* | | *$(ratio "$cpu" "$rp_cpu")* | *$(ratio "$rssmb" "$rp_rss")* | *$(awk -v a="$up" -v b="$rp_up" 'BEGIN {if (a == "" || b == "") print "–"; else printf "%+.2f s", a - b}')* | | *$(ratio "$p50" "$rp_p50")* | *$(ratio "$p99" "$rp_p99")* | *$(ratio "$m50" "$rp_m50")* | *$(ratio "$m99" "$rp_m99")* |"
        km_rate=$rate; km_cpu=$cpu
      fi
      if [ "$c" = eos ]; then
        echo "| | | *EOS ÷ kmirror* | *$(ratio "$rate" "$km_rate")* | | *$(ratio "$cpu" "$km_cpu")* | | | | | | | |"
      fi
    done
  done; done
}

# lat_table PCT: latency at another paced load.
lat_table() {
  echo "| record | partitions | contender | load records/s | latency p50 ms | latency p99 ms |"
  echo "|---:|---:|---|---:|---:|---:|"
  for s in $sizes; do for p in $parts_list; do for c in $contenders; do
    echo "| $s B | $p | $(name_of "$c") | $(fmt "$(med "lat$1" "$c" "$s" "$p" 7)" %.0f) | $(fmt "$(med "lat$1" "$c" "$s" "$p" 5)" %.1f) | $(fmt "$(med "lat$1" "$c" "$s" "$p" 6)" %.1f) |"
  done; done; done
}

other_tables() {
  for pct in ${lat_pcts#$lat_main}; do
    echo
    echo "Latency at another paced load, $(load_desc "$pct"):"
    echo
    lat_table "$pct"
  done
}


report=${BENCH_RESULTS:-}
if [ -z "$report" ]; then
  if [ $mode = kafka ] && [ "$quick" != 1 ]; then report=bench/results/$(date +%F).md; else report=$work/../results-$mode.md; fi
fi
mkdir -p "$(dirname "$report")"
{
  echo "# kmirror benchmark, $(date +%F)"
  echo
  machine
  echo
  table
  other_tables
  echo
  echo "Records/s and MB/s (record values) are peak rates over the 10%–90% window of a preloaded"
  echo "backlog; CPU µs/record is user+sys of the mirror process over that window; peak RSS is its"
  echo "VmHWM; start-up is from the mirror process's start to the first record on the target. Latency is measured separately, at the paced load shown ($(load_desc "$lat_main")):"
  if [ $real = 1 ]; then echo "target LogAppendTime minus the send time the paced producer wrote into each value; mirror latency is target minus source LogAppendTime of the same record."
  else echo "receive time of a live consumer on the target minus the send time written into each value."; fi
  echo "Medians over rounds. See bench/run.sh for the method."
  [ "$eos" = 1 ] && echo "kmirror EOS writes in transactions committed every offset.flush.interval.ms (5 s here): its records/s and latency are those of records arriving on the target; a read_committed consumer sees them at the next commit."
  echo
  raw_details
} >"$report"
table
other_tables
log "report written to $report"
