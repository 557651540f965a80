#!/usr/bin/env bash
# Starts and stops the throw-away single-node Apache Kafka clusters the integration tests run on.
#
#   scripts/kafka-test-cluster.sh start NAME PORT   fresh cluster (storage wiped and formatted)
#   scripts/kafka-test-cluster.sh restart NAME      same data dir and port, no format (after kill9)
#   scripts/kafka-test-cluster.sh stop NAME         TERM, KILL after a deadline; no-op if not running
#   scripts/kafka-test-cluster.sh kill9 NAME        SIGKILL, to test recovery from a crashed broker
#   scripts/kafka-test-cluster.sh status NAME       "running pid N bootstrap.servers=..." / exit 1
#   scripts/kafka-test-cluster.sh jars SET          prints the jar directory of SET, fetching it:
#                                                   broker, or mirror-maker (Apache MirrorMaker 2)
#
# start and restart print exactly one line on stdout, "bootstrap.servers=127.0.0.1:PORT", once the
# broker serves requests; everything else goes to stderr, so tests/run.sh can capture the line.
# The broker is combined broker+controller KRaft on 127.0.0.1:PORT with its controller on PORT+1,
# state in build/kafka/NAME/ (server.properties, data/, server.log, stdout.log, pid).
#
# No Kafka tarball is needed: the jars come from Maven Central through tests/kafka/pom.xml, once,
# into ${KMIRROR_KAFKA_CACHE:-~/.cache/kmirror}/kafka-VERSION/libs (mirror-maker-VERSION/libs for
# MirrorMaker 2), shared by every checkout and guarded by a lock so that two clusters starting at
# the same time fetch only once.
#
# Tunables (environment): KMIRROR_KAFKA_CACHE, KMIRROR_KAFKA_HEAP (default 512m),
# KMIRROR_KAFKA_START_TIMEOUT / KMIRROR_KAFKA_STOP_TIMEOUT (seconds, default 120 / 30).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
pom="$root/tests/kafka/pom.xml"
clusters="$root/build/kafka"
start_timeout=${KMIRROR_KAFKA_START_TIMEOUT:-120}
stop_timeout=${KMIRROR_KAFKA_STOP_TIMEOUT:-30}

die() { echo "kafka-test-cluster: $*" >&2; exit 1; }
say() { echo "kafka-test-cluster: $*" >&2; }
usage() {
  sed -n '4,10s/^# \{0,1\}//p' "$0" >&2
  exit 2
}

# A NAME becomes a directory name; keep it from escaping build/kafka.
check_name() {
  [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || die "bad cluster name '$1' (letters, digits, . _ -)"
}

# pom_property NAME: a version pinned in the pom's <properties>.
pom_property() {
  local v
  v=$(sed -n "s:.*<$1>\(.*\)</$1>.*:\1:p" "$pom")
  [ -n "$v" ] || die "no <$1> in $pom"
  echo "$v"
}
kafka_version() { pom_property kafka.version; }

# fetch_jars SET prints the directory holding the jars of a pom profile (broker, mirror-maker),
# fetching them on first use. The pom's checksum is kept beside the jars so that editing the pom
# (a version bump) refetches instead of silently running the old set.
fetch_jars() {
  local set=$1 cache base libs sum tmp
  cache=${KMIRROR_KAFKA_CACHE:-$HOME/.cache/kmirror}
  case $set in
    broker)       base="$cache/kafka-$(kafka_version)" ;;
    mirror-maker) base="$cache/mirror-maker-$(pom_property mirror.version)" ;;
    *)            die "unknown jar set '$set' (broker or mirror-maker)" ;;
  esac
  libs="$base/libs"
  sum=$(sha256sum "$pom" | cut -d' ' -f1)
  if [ -f "$libs/.pom.sha256" ] && [ "$(cat "$libs/.pom.sha256")" = "$sum" ]; then
    echo "$libs"; return
  fi
  mkdir -p "$base" || die "cannot create the jar cache $base"
  command -v mvn >/dev/null 2>&1 || die "Maven (mvn) is not installed; it fetches the Kafka jars once (scripts/install-deps.sh installs it)"
  # The lock serialises concurrent starts; whoever waited finds the finished directory. This runs
  # in the $(...) of the caller, so the descriptor, and the lock, never reach the broker.
  exec 9>"$base/.lock"
  flock 9
  if ! { [ -f "$libs/.pom.sha256" ] && [ "$(cat "$libs/.pom.sha256")" = "$sum" ]; }; then
    say "fetching the $set jars with Maven into $libs (once)"
    rm -rf "$base"/libs.tmp.* # left by a fetch that was killed; nobody else fetches while we hold the lock
    tmp=$(mktemp -d "$base/libs.tmp.XXXXXX")
    # Into a log: Maven 3.8 prints colour escapes even with -q -B, and only a failure is of interest.
    if ! mvn -q -B -f "$pom" -P "$set" dependency:copy-dependencies -DoutputDirectory="$tmp" >"$base/mvn.log" 2>&1; then
      rm -rf "$tmp"
      tail -n 30 "$base/mvn.log" >&2
      die "Maven could not fetch the Kafka jars listed in $pom (is Maven Central reachable? output above, all of it in $base/mvn.log)"
    fi
    echo "$sum" >"$tmp/.pom.sha256"
    rm -rf "$libs"
    mv "$tmp" "$libs"
  fi
  echo "$libs"
}

check_java() {
  command -v java >/dev/null 2>&1 || die "Java is not installed; Kafka $(kafka_version) needs Java 17 or newer (scripts/install-deps.sh installs it)"
  local v
  v=$(java -version 2>&1 | sed -n '1s/.*version "\([0-9]*\).*/\1/p')
  [ -n "$v" ] && [ "$v" -ge 17 ] || die "Kafka $(kafka_version) needs Java 17 or newer; 'java -version' says: $(java -version 2>&1 | head -1)"
}

# PID of the running broker of cluster $1, or nothing. The command line is checked, not only the
# PID, because a stale pid file after a reboot may name an unrelated process.
running_pid() {
  local dir="$clusters/$1" pid
  [ -f "$dir/pid" ] || return 0
  pid=$(cat "$dir/pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "kafka.Kafka $dir/server.properties"; then
    echo "$pid"
  fi
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# A dead broker was reparented when this script's earlier run exited, and its new parent may reap
# it late: a zombie counts as gone. But the JVM's main thread turns zombie while its other threads
# are still exiting, and they hold the listening sockets: gone means no thread left but the leader.
alive() {
  local state
  state=$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] || return 1
  [ "$state" != Z ] || [ "$(ls "/proc/$1/task" 2>/dev/null | wc -l)" -gt 1 ]
}

# Waits for process $1 to disappear; returns 1 if it is still there after $2 seconds.
wait_gone() {
  local pid=$1 deadline=$((SECONDS + $2))
  while alive "$pid"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}

cmd_stop() {
  local name=$1 pid
  pid=$(running_pid "$name")
  if [ -z "$pid" ]; then rm -f "$clusters/$name/pid"; return 0; fi
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" "$stop_timeout"; then
    say "$name (pid $pid) did not stop within ${stop_timeout}s of SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || die "$name (pid $pid) survived SIGKILL"
  fi
  rm -f "$clusters/$name/pid"
}

cmd_kill9() {
  local name=$1 pid
  pid=$(running_pid "$name")
  [ -n "$pid" ] || { say "$name is not running"; return 0; }
  kill -KILL "$pid"
  wait_gone "$pid" 10 || die "$name (pid $pid) survived SIGKILL"
  rm -f "$clusters/$name/pid"
}

cmd_status() {
  local name=$1 pid
  pid=$(running_pid "$name")
  [ -n "$pid" ] || { echo "stopped"; return 1; }
  echo "running pid $pid bootstrap.servers=127.0.0.1:$(cat "$clusters/$name/port")"
}

write_config() {
  local dir=$1 port=$2
  cat >"$dir/server.properties" <<EOF
# Written by scripts/kafka-test-cluster.sh on every start; restart reuses it.
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$((port + 1))
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=127.0.0.1:$((port + 1))
log.dirs=$dir/data

# One node: every replication factor and ISR minimum is 1, and the internal topics are small
# because each of their partitions costs start-up time on two cores.
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Tests create every topic they use; a typo must fail instead of conjuring a topic.
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0

# After kill9 the restarted node finds its own previous registration and may not rejoin before
# that session expires (default 9 s); heartbeats stay in-process, so a short session is safe.
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=1000

# ACL tests create and describe ACLs. ANONYMOUS (every PLAINTEXT client) is a super user, so the
# ACLs a test creates are stored and mirrored but never lock the tests out.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=true

# No time-based retention unless a topic asks for it: tests write records with timestamps years in
# the past, and with the default 7 days and the fast checks below such a segment would be deleted
# about a second after it was written.
log.retention.ms=-1

# Retention and compaction act within seconds so tests can watch them. Topics pick their own
# segment.ms / internal.segment.bytes (the test-only topic config below the 1 MiB segment.bytes
# floor), retention.ms, min.cleanable.dirty.ratio and delete.retention.ms.
log.initial.task.delay.ms=1000
log.retention.check.interval.ms=1000
log.segment.delete.delay.ms=1000
log.cleaner.backoff.ms=500
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=16777216

# Tests replay records with timestamps of their choosing, also ones ahead of the broker's clock.
log.message.timestamp.after.max.ms=9223372036854775807

# Two cores are shared by two brokers, MirrorMaker and the tests.
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
EOF
  cat >"$dir/log4j2.properties" <<EOF
# Written by scripts/kafka-test-cluster.sh: the broker logs to server.log, the start-up wait
# greps it for "Kafka Server started".
appender.file.type=File
appender.file.name=file
appender.file.fileName=$dir/server.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
# Per-request and per-partition state lines drown everything else.
logger.request.name=kafka.request.logger
logger.request.level=WARN
logger.state.name=state.change.logger
logger.state.level=WARN
EOF
}

# Random Kafka Uuid: 16 bytes, URL-safe base64 without padding (what kafka-storage random-uuid
# prints); saves a JVM start. Like Kafka's Uuid.randomUuid it never starts with '-', which
# kafka-storage's option parser would take for an option (1 start in 64 failed that way).
random_cluster_id() {
  local id
  while id=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'); [[ $id == -* ]]; do :; done
  echo "$id"
}

format_storage() {
  local dir=$1 libs=$2
  if ! java -cp "$libs/*" kafka.tools.StorageTool \
      format --standalone -t "$(random_cluster_id)" -c "$dir/server.properties" >"$dir/format.log" 2>&1; then
    cat "$dir/format.log" >&2
    die "formatting KRaft storage in $dir/data failed (output above)"
  fi
}

# Starts the broker of an already configured and formatted $dir and waits until it serves.
launch() {
  local name=$1 dir=$2 port=$3 libs=$4 pid deadline
  if port_open "$port"; then die "port $port is already in use by another process; choose another PORT for $name"; fi
  if port_open "$((port + 1))"; then die "controller port $((port + 1)) is already in use; choose another PORT for $name"; fi
  # Keep the previous run's log (the one before a kill9, say) and start the readiness grep afresh.
  [ -f "$dir/server.log" ] && mv -f "$dir/server.log" "$dir/server.log.1"
  # Serial GC and a capped heap keep two brokers on two cores; stdin and stdout are detached so
  # that $(...) around this script returns once the bootstrap line is printed. Run from $dir so
  # that a JVM crash report (hs_err_pid*.log) lands beside the logs; exec keeps $! the JVM's pid.
  (cd "$dir" && exec java -Xms128m -Xmx"${KMIRROR_KAFKA_HEAP:-512m}" -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$dir/log4j2.properties" \
    -cp "$libs/*" kafka.Kafka "$dir/server.properties") </dev/null >>"$dir/stdout.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/pid"
  echo "$port" >"$dir/port"
  deadline=$((SECONDS + start_timeout))
  while :; do
    if ! alive "$pid"; then
      fail_start "$name" "$dir" "the broker (pid $pid) exited during start-up"
    fi
    if [ -f "$dir/server.log" ] && grep -qF 'Kafka Server started' "$dir/server.log" && port_open "$port"; then
      break
    fi
    [ $SECONDS -lt $deadline ] || fail_start "$name" "$dir" "the broker (pid $pid) did not start within ${start_timeout}s"
    sleep 0.2
  done
  echo "bootstrap.servers=127.0.0.1:$port"
}

# Reports a failed start with the end of the broker's logs and leaves no broker behind: the caller
# never learned its address, so nobody else would stop it.
fail_start() {
  local name=$1 dir=$2 why=$3
  say "$name: $why; last lines of $dir/server.log:"
  tail -n 40 "$dir/server.log" >&2 2>/dev/null || say "(no server.log)"
  if [ -s "$dir/stdout.log" ]; then say "last lines of $dir/stdout.log:"; tail -n 20 "$dir/stdout.log" >&2; fi
  cmd_stop "$name" >&2 || true
  exit 1
}

cmd_start() {
  local name=$1 port=$2 dir="$clusters/$1" libs
  [[ $port =~ ^[0-9]+$ ]] && [ "$port" -ge 1024 ] && [ "$port" -le 65534 ] || die "bad PORT '$port' (1024-65534; PORT+1 is the controller)"
  check_java
  libs=$(fetch_jars broker)
  cmd_stop "$name"
  rm -rf "$dir"
  mkdir -p "$dir" || die "cannot create $dir"
  write_config "$dir" "$port"
  format_storage "$dir" "$libs"
  launch "$name" "$dir" "$port" "$libs"
}

cmd_restart() {
  local name=$1 dir="$clusters/$1" libs port
  [ -f "$dir/port" ] && [ -d "$dir/data" ] || die "$name was never started here (no $dir/port or $dir/data); use start NAME PORT"
  port=$(cat "$dir/port")
  check_java
  libs=$(fetch_jars broker)
  cmd_stop "$name"
  launch "$name" "$dir" "$port" "$libs"
}

[ $# -ge 2 ] || usage
if [ "$1" = jars ]; then [ $# -eq 2 ] || usage; fetch_jars "$2"; exit; fi
check_name "$2"
case $1 in
  start)   [ $# -eq 3 ] || usage; cmd_start "$2" "$3" ;;
  restart) [ $# -eq 2 ] || usage; cmd_restart "$2" ;;
  stop)    [ $# -eq 2 ] || usage; cmd_stop "$2" ;;
  kill9)   [ $# -eq 2 ] || usage; cmd_kill9 "$2" ;;
  status)  [ $# -eq 2 ] || usage; cmd_status "$2" ;;
  *)       usage ;;
esac
