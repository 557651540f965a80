#!/usr/bin/env bash
# Starts and stops the throw-away single-node Apache Kafka clusters the integration tests run on.
#
#   scripts/kafka-test-cluster.sh start NAME PORT [SECURITY]
#                                                   fresh cluster (storage wiped and formatted);
#                                                   SECURITY: plaintext (default), ssl, mtls, sasl_ssl,
#                                                   open (plaintext without an authorizer)
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
# Secured clusters (SECURITY other than plaintext and open): the listener on PORT requires TLS — server
# authenticated (ssl), with client certificates (mtls), or SASL_SSL with SCRAM-SHA-512 and PLAIN
# (sasl_ssl) — and StandardAuthorizer refuses whoever holds no ACL (allow.everyone.if.no.acl.found
# is false), except the super users: the broker, admin (User:admin for SASL, User:CN=admin for a
# certificate) and ANONYMOUS, which is what the plaintext controller listener on PORT+1 and an ssl
# client without a certificate authenticate as. Every start makes a new CA and certificates in
# build/kafka/NAME/tls/ (the broker's for IP 127.0.0.1 only, so "localhost" fails hostname checks):
#   ca.pem                   the CA; truststore.jks / truststore.p12 hold it (password trust-secret)
#   admin.pem, admin.key     client certificate (CN=admin) and unencrypted PKCS#8 key
#   admin.p12                the same as PKCS#12 (password store-secret)
#   admin.jks                the same as JKS: store password store-secret, key password key-secret
#   expired.jks              a CN=admin key whose certificate by the same CA expired in 2020 (same passwords)
#   other-truststore.jks     a trust store holding an unrelated CA (password trust-secret)
# SASL users (SCRAM-SHA-512, added at format time, and PLAIN): admin/admin-secret (super user),
# alice/alice-secret (no ACLs), broker/broker-secret (inter-broker).
#
# Tunables (environment): KMIRROR_KAFKA_CACHE, KMIRROR_KAFKA_HEAP (default 512m),
# KMIRROR_KAFKA_START_TIMEOUT / KMIRROR_KAFKA_STOP_TIMEOUT (seconds, default 120 / 30),
# KMIRROR_KAFKA_EXTRA_LISTENER=PORT2:ADVERTISED_PORT (plaintext only, read by start): a second
# plaintext listener "WAN" on 127.0.0.1:PORT2 that advertises 127.0.0.1:ADVERTISED_PORT, for a proxy
# (bench/run.sh's BENCH_WAN puts toxiproxy there) in front of some clients while others use PORT.
# Unset (the default), the broker has the one listener on PORT.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
pom="$root/tests/kafka/pom.xml"
clusters="$root/build/kafka"
start_timeout=${KMIRROR_KAFKA_START_TIMEOUT:-120}
stop_timeout=${KMIRROR_KAFKA_STOP_TIMEOUT:-30}

die() { echo "kafka-test-cluster: $*" >&2; exit 1; }
say() { echo "kafka-test-cluster: $*" >&2; }
usage() {
  sed -n '4,13s/^# \{0,1\}//p' "$0" >&2
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

# make_certs DIR NAME: a fresh CA and the broker and client stores listed at the top, in DIR/tls.
make_certs() {
  local dir=$1 name=$2 tls="$1/tls"
  command -v openssl >/dev/null 2>&1 || die "openssl is not installed; secured clusters need it for their certificates"
  command -v keytool >/dev/null 2>&1 || die "keytool (from the JDK) is not installed; secured clusters need it for their JKS stores"
  mkdir -p "$tls"
  (
    set -e
    cd "$tls"
    ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
    ec ca.key
    openssl req -x509 -new -key ca.key -subj "/CN=kmirror test CA $name" -days 3 -out ca.pem
    # openssl ca, for its -startdate/-enddate (the expired certificate) and SAN copying.
    : >index.txt
    echo 01 >serial
    printf '%s\n' '[ca]' 'default_ca = test_ca' '[test_ca]' "database = $tls/index.txt" "new_certs_dir = $tls" \
      "serial = $tls/serial" 'default_md = sha256' 'policy = anything' 'copy_extensions = copy' 'unique_subject = no' \
      '[anything]' 'commonName = supplied' >ca.cnf
    sign() { # sign KEY CN OUT [openssl ca options...]; SAN= in the environment adds a subjectAltName
      local key=$1 cn=$2 out=$3
      shift 3
      openssl req -new -key "$key" -subj "/CN=$cn" ${SAN:+-addext "subjectAltName=$SAN"} -out "$out.csr"
      openssl ca -batch -notext -config ca.cnf -cert ca.pem -keyfile ca.key -in "$out.csr" -out "$out" "$@"
      rm -f "$out.csr"
    }
    ec broker.key
    SAN=IP:127.0.0.1 sign broker.key broker broker.pem -days 3
    openssl pkcs12 -export -inkey broker.key -in broker.pem -certfile ca.pem -name broker -passout pass:broker-secret -out broker.p12
    ec admin.key.ec
    openssl pkcs8 -topk8 -nocrypt -in admin.key.ec -out admin.key
    rm -f admin.key.ec
    sign admin.key admin admin.pem -days 3
    openssl pkcs12 -export -inkey admin.key -in admin.pem -certfile ca.pem -name admin -passout pass:store-secret -out admin.p12
    keytool -importkeystore -noprompt -srckeystore admin.p12 -srcstoretype PKCS12 -srcstorepass store-secret \
      -destkeystore admin.jks -deststoretype JKS -deststorepass store-secret -destkeypass key-secret
    ec expired.key
    sign expired.key admin expired.pem -startdate 20200101000000Z -enddate 20200102000000Z
    openssl pkcs12 -export -inkey expired.key -in expired.pem -certfile ca.pem -name admin -passout pass:store-secret -out expired.p12
    keytool -importkeystore -noprompt -srckeystore expired.p12 -srcstoretype PKCS12 -srcstorepass store-secret \
      -destkeystore expired.jks -deststoretype JKS -deststorepass store-secret -destkeypass key-secret
    keytool -importcert -noprompt -alias ca -file ca.pem -keystore truststore.jks -storetype JKS -storepass trust-secret
    keytool -importcert -noprompt -alias ca -file ca.pem -keystore truststore.p12 -storetype PKCS12 -storepass trust-secret
    ec other.key
    openssl req -x509 -new -key other.key -subj "/CN=some other CA" -days 3 -out other.pem
    keytool -importcert -noprompt -alias other -file other.pem -keystore other-truststore.jks -storetype JKS -storepass trust-secret
  ) >"$dir/certs.log" 2>&1 || { cat "$dir/certs.log" >&2; die "making the certificates of $name in $tls failed (output above)"; }
}

# Listener lines of server.properties for SECURITY $3 on port $2 (the controller stays plaintext).
listener_config() {
  local dir=$1 port=$2 security=$3 proto
  case $security in
    plaintext|open)
      if [ -n "${KMIRROR_KAFKA_EXTRA_LISTENER:-}" ]; then
        local p2=${KMIRROR_KAFKA_EXTRA_LISTENER%%:*} adv=${KMIRROR_KAFKA_EXTRA_LISTENER#*:}
        echo "listeners=PLAINTEXT://127.0.0.1:$port,WAN://127.0.0.1:$p2,CONTROLLER://127.0.0.1:$((port + 1))"
        echo "advertised.listeners=PLAINTEXT://127.0.0.1:$port,WAN://127.0.0.1:$adv"
        echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,WAN:PLAINTEXT,CONTROLLER:PLAINTEXT"
        echo "inter.broker.listener.name=PLAINTEXT"
        return
      fi
      echo "listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$((port + 1))"
      echo "advertised.listeners=PLAINTEXT://127.0.0.1:$port"
      echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
      echo "inter.broker.listener.name=PLAINTEXT"
      return ;;
    ssl|mtls) proto=SSL ;;
    sasl_ssl) proto=SASL_SSL ;;
  esac
  echo "listeners=SECURED://127.0.0.1:$port,CONTROLLER://127.0.0.1:$((port + 1))"
  echo "advertised.listeners=SECURED://127.0.0.1:$port"
  echo "listener.security.protocol.map=SECURED:$proto,CONTROLLER:PLAINTEXT"
  echo "inter.broker.listener.name=SECURED"
  echo "ssl.keystore.type=PKCS12"
  echo "ssl.keystore.location=$dir/tls/broker.p12"
  echo "ssl.keystore.password=broker-secret"
  echo "ssl.truststore.type=PEM"
  echo "ssl.truststore.location=$dir/tls/ca.pem"
  echo "ssl.endpoint.identification.algorithm=https"
  if [ "$security" = mtls ]; then echo "ssl.client.auth=required"; else echo "ssl.client.auth=none"; fi
  if [ "$security" = sasl_ssl ]; then
    echo "sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN"
    echo "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512"
    echo 'listener.name.secured.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="broker-secret";'
    echo 'listener.name.secured.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="broker-secret" user_broker="broker-secret" user_admin="admin-secret" user_alice="alice-secret";'
  fi
}

# The authorizer lines of server.properties for SECURITY $1.
acl_config() {
  if [ "$1" = open ]; then
    echo "# No authorizer: ACL requests fail with SECURITY_DISABLED, as on a cluster nobody secured."
    return
  fi
  echo "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"
  if [ "$1" = plaintext ]; then
    echo "# ACL tests create and describe ACLs. ANONYMOUS (every PLAINTEXT client) is a super user, so the"
    echo "# ACLs a test creates are stored and mirrored but never lock the tests out."
    echo "super.users=User:ANONYMOUS"
    echo "allow.everyone.if.no.acl.found=true"
  else
    echo "# Secured: only super users act without ACLs. ANONYMOUS is the plaintext controller listener"
    echo "# (and an ssl client without a certificate)."
    echo "super.users=User:ANONYMOUS;User:broker;User:admin;User:CN=broker;User:CN=admin"
    echo "allow.everyone.if.no.acl.found=false"
  fi
}

write_config() {
  local dir=$1 port=$2 security=$3
  cat >"$dir/server.properties" <<EOF
# Written by scripts/kafka-test-cluster.sh on every start; restart reuses it.
process.roles=broker,controller
node.id=1
$(listener_config "$dir" "$port" "$security")
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

$(acl_config "$security")

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
  local dir=$1 libs=$2 security=$3 scram=()
  if [ "$security" = sasl_ssl ]; then
    scram=(--add-scram 'SCRAM-SHA-512=[name=admin,password=admin-secret]'
           --add-scram 'SCRAM-SHA-512=[name=alice,password=alice-secret]'
           --add-scram 'SCRAM-SHA-512=[name=broker,password=broker-secret]')
  fi
  if ! java -cp "$libs/*" kafka.tools.StorageTool \
      format --standalone -t "$(random_cluster_id)" -c "$dir/server.properties" "${scram[@]}" >"$dir/format.log" 2>&1; then
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
  local name=$1 port=$2 security=${3:-plaintext} dir="$clusters/$1" libs
  [[ $port =~ ^[0-9]+$ ]] && [ "$port" -ge 1024 ] && [ "$port" -le 65534 ] || die "bad PORT '$port' (1024-65534; PORT+1 is the controller)"
  case $security in plaintext|open|ssl|mtls|sasl_ssl) ;; *) die "bad SECURITY '$security' (plaintext, open, ssl, mtls or sasl_ssl)" ;; esac
  check_java
  libs=$(fetch_jars broker)
  cmd_stop "$name"
  rm -rf "$dir"
  mkdir -p "$dir" || die "cannot create $dir"
  case $security in plaintext|open) ;; *) make_certs "$dir" "$name" ;; esac
  if [ -n "${KMIRROR_KAFKA_EXTRA_LISTENER:-}" ]; then
    case $security in plaintext|open) ;; *) die "KMIRROR_KAFKA_EXTRA_LISTENER is for plaintext clusters only" ;; esac
    [[ $KMIRROR_KAFKA_EXTRA_LISTENER =~ ^[0-9]+:[0-9]+$ ]] || die "bad KMIRROR_KAFKA_EXTRA_LISTENER '$KMIRROR_KAFKA_EXTRA_LISTENER' (PORT2:ADVERTISED_PORT)"
    ! port_open "${KMIRROR_KAFKA_EXTRA_LISTENER%%:*}" || die "port ${KMIRROR_KAFKA_EXTRA_LISTENER%%:*} (KMIRROR_KAFKA_EXTRA_LISTENER) is already in use"
  fi
  write_config "$dir" "$port" "$security"
  format_storage "$dir" "$libs" "$security"
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
  start)   [ $# -eq 3 ] || [ $# -eq 4 ] || usage; cmd_start "$2" "$3" "${4:-}" ;;
  restart) [ $# -eq 2 ] || usage; cmd_restart "$2" ;;
  stop)    [ $# -eq 2 ] || usage; cmd_stop "$2" ;;
  kill9)   [ $# -eq 2 ] || usage; cmd_kill9 "$2" ;;
  status)  [ $# -eq 2 ] || usage; cmd_status "$2" ;;
  *)       usage ;;
esac
