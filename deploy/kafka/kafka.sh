#!/usr/bin/env bash
# Single-node Apache Kafka 4.x (KRaft, combined broker+controller) on 127.0.0.1, no Docker.
# Jars come from Maven Central through ./pom.xml (needs java 17+ and mvn). See README.md.
#
#   kafka.sh up            fetch jars (once), format, start, wait until ready; prints KAFKA_BROKERS=...
#   kafka.sh up-secure     same, plus a SASL_SSL listener (SCRAM-SHA-256/512 + PLAIN)  (= KAFKA_SASL=1 up)
#   kafka.sh down          stop cleanly and wait for the JVM to exit
#   kafka.sh status        exit 0 if running (prints details), 3 if not
#   kafka.sh topics T[:PARTITIONS] ...   create topics (idempotent)
#   kafka.sh env           print the KEY=VALUE lines again (broker must be up)
#   kafka.sh logs [N]      tail the broker log
#   kafka.sh tool CLASS ARGS...          run a Kafka tool class with the broker classpath
#   kafka.sh reset         stop and delete the data dir (jar cache is kept)
#   kafka.sh fetch         only fetch the jars into the cache
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

KAFKA_VERSION="${KAFKA_VERSION:-4.3.1}"
KAFKA_HOME="${KAFKA_HOME:-${HOME:-/root}/.cache/notify-kafka}"
KAFKA_PORT="${KAFKA_PORT:-19092}"
[[ "$KAFKA_PORT" =~ ^[0-9]+$ ]] || { echo "kafka.sh: ERROR: KAFKA_PORT must be a number (got '$KAFKA_PORT')" >&2; exit 1; }
KAFKA_SASL_PORT="${KAFKA_SASL_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 2))}"
KAFKA_SASL="${KAFKA_SASL:-0}"
KAFKA_SASL_USER="${KAFKA_SASL_USER:-notify}"
KAFKA_SASL_PASSWORD="${KAFKA_SASL_PASSWORD:-notify-secret}"
KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-${TMPDIR:-/tmp}/notify-kafka-${KAFKA_PORT}}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-60}"
KAFKA_TOPICS="${KAFKA_TOPICS:-}"
KAFKA_NUM_PARTITIONS="${KAFKA_NUM_PARTITIONS:-1}"
KAFKA_MVN_ARGS="${KAFKA_MVN_ARGS:-}"

HOST=127.0.0.1
READY_TOPIC=_notify_ready
LIB_DIR="$KAFKA_HOME/lib-$KAFKA_VERSION"
CONF="$KAFKA_DATA_DIR/server.properties"
LOG_DIR="$KAFKA_DATA_DIR/data"
LOG_FILE="$KAFKA_DATA_DIR/kafka.log"
PID_FILE="$KAFKA_DATA_DIR/kafka.pid"
TLS_DIR="$KAFKA_DATA_DIR/tls"
CA_PEM="$TLS_DIR/ca.pem"
CLIENT_CONF="$KAFKA_DATA_DIR/client-sasl.properties"
TOOL_LOG4J="$KAFKA_DATA_DIR/log4j2-tools.properties"
BROKER_LOG4J="$KAFKA_DATA_DIR/log4j2-broker.properties"

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { printf 'kafka.sh: ERROR: %s\n' "$*" >&2; exit 1; }

is_int() { [[ "$1" =~ ^[0-9]+$ ]]; }
for v in KAFKA_PORT KAFKA_CONTROLLER_PORT KAFKA_SASL_PORT KAFKA_START_TIMEOUT KAFKA_STOP_TIMEOUT KAFKA_NUM_PARTITIONS; do
  is_int "${!v}" || die "$v must be a number (got '${!v}')"
done
case "$KAFKA_SASL" in 0|1|true|false|yes|no|"") ;; *) die "KAFKA_SASL must be 0 or 1 (got '$KAFKA_SASL')";; esac
[[ "$KAFKA_SASL" == 1 || "$KAFKA_SASL" == true || "$KAFKA_SASL" == yes ]] && KAFKA_SASL=1 || KAFKA_SASL=0

# ---------------------------------------------------------------------------------------------
need_java() {
  command -v java >/dev/null 2>&1 || die "java not found (need Java 17+; e.g. apt-get install -y openjdk-17-jre-headless)"
  local ver
  ver="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)"
  [[ -n "$ver" && "$ver" -ge 17 ]] || die "Java 17+ required (found: $(java -version 2>&1 | head -n1))"
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

fetch_jars() {
  if [[ -f "$LIB_DIR/.complete" ]]; then return 0; fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found (needed once to fetch the Kafka jars; apt-get install -y maven)"
  mkdir -p "$KAFKA_HOME"
  local tmp="$LIB_DIR.tmp.$$"
  rm -rf "$tmp"
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIB_DIR (first run only)"
  # shellcheck disable=SC2086
  if ! mvn -q -B -f "$SCRIPT_DIR/pom.xml" -Dkafka.version="$KAFKA_VERSION" $KAFKA_MVN_ARGS \
        dependency:copy-dependencies -DoutputDirectory="$tmp" >"$KAFKA_HOME/mvn-fetch.log" 2>&1; then
    rm -rf "$tmp"
    tail -n 30 "$KAFKA_HOME/mvn-fetch.log" >&2 || true
    die "mvn could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION (log: $KAFKA_HOME/mvn-fetch.log)"
  fi
  [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] || { rm -rf "$tmp"; die "fetch finished but kafka_2.13-$KAFKA_VERSION.jar is missing"; }
  touch "$tmp/.complete"
  rm -rf "$LIB_DIR"
  mv "$tmp" "$LIB_DIR"
}

write_tool_log4j() {
  mkdir -p "$KAFKA_DATA_DIR"
  cat >"$TOOL_LOG4J" <<'EOF'
status = error
appender.console.type = Console
appender.console.name = STDERR
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = STDERR
EOF
}

# Run a Kafka class in a short-lived, small JVM (tools: StorageTool, TopicCommand, console tools).
run_tool() {
  [[ -f "$TOOL_LOG4J" ]] || write_tool_log4j
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$TOOL_LOG4J" -cp "$LIB_DIR/*" "$@"
}

random_cluster_id() {
  # Same shape as StorageTool random-uuid: 16 random bytes, base64url, no padding, not starting with '-'.
  local id
  while :; do
    id="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "${id:0:1}" != "-" && ${#id} -eq 22 ]] && break
  done
  printf '%s' "$id"
}

gen_tls() {
  [[ -f "$TLS_DIR/server.p12" && -f "$CA_PEM" ]] && return 0
  command -v openssl >/dev/null 2>&1 || die "openssl not found (needed for KAFKA_SASL=1; apt-get install -y openssl)"
  log "generating self-signed CA and server certificate in $TLS_DIR"
  rm -rf "$TLS_DIR"; mkdir -p "$TLS_DIR"; chmod 700 "$TLS_DIR"
  (
    cd "$TLS_DIR"
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -keyout ca.key -out ca.pem \
      -subj "/CN=notify-kafka-test-ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -sha256 -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" >server.ext
    openssl x509 -req -sha256 -days 3650 -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
      -extfile server.ext -out server.pem 2>/dev/null
    openssl pkcs12 -export -name kafka -in server.pem -inkey server.key -certfile ca.pem \
      -passout pass:notify-kafka -out server.p12.tmp
    mv server.p12.tmp server.p12
  ) || die "TLS material generation failed in $TLS_DIR"
}

# Everything that is baked into the formatted log dir; a change means re-format.
format_fingerprint() {
  printf 'v=%s node=1 cport=%s user=%s pass=%s\n' "$KAFKA_VERSION" "$KAFKA_CONTROLLER_PORT" \
    "$KAFKA_SASL_USER" "$KAFKA_SASL_PASSWORD" | sha256sum | cut -c1-32
}

render_config() {
  local listeners="PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT"
  local advertised="PLAINTEXT://$HOST:$KAFKA_PORT"
  local protomap="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  if [[ "$KAFKA_SASL" == 1 ]]; then
    listeners+=",SASL_SSL://$HOST:$KAFKA_SASL_PORT"
    advertised+=",SASL_SSL://$HOST:$KAFKA_SASL_PORT"
    protomap+=",SASL_SSL:SASL_SSL"
  fi
  cat <<EOF
# Generated by deploy/kafka/kafka.sh -- do not edit, it is rewritten on every 'up'.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$HOST:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
listeners=$listeners
advertised.listeners=$advertised
listener.security.protocol.map=$protomap
inter.broker.listener.name=PLAINTEXT
log.dirs=$LOG_DIR

# single node: every internal topic RF 1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
default.replication.factor=1
min.insync.replicas=1

# test friendliness / small footprint (2 cores)
num.partitions=$KAFKA_NUM_PARTITIONS
auto.create.topics.enable=true
delete.topic.enable=true
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
log.retention.hours=24
log.segment.bytes=67108864
log.cleaner.dedupe.buffer.size=8388608
EOF
  if [[ "$KAFKA_SASL" == 1 ]]; then
    cat <<EOF

# SASL_SSL listener: SCRAM-SHA-256/512 (credentials stored in KRaft metadata at format time) + PLAIN
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${KAFKA_SASL_USER}="${KAFKA_SASL_PASSWORD}";
listener.name.sasl_ssl.ssl.keystore.type=PKCS12
listener.name.sasl_ssl.ssl.keystore.location=$TLS_DIR/server.p12
listener.name.sasl_ssl.ssl.keystore.password=notify-kafka
listener.name.sasl_ssl.ssl.key.password=notify-kafka
listener.name.sasl_ssl.ssl.client.auth=none
EOF
  fi
}

write_broker_log4j() {
  cat >"$BROKER_LOG4J" <<'EOF'
status = error
appender.console.type = Console
appender.console.name = STDOUT
appender.console.target = SYSTEM_OUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = INFO
logger.controller.name = org.apache.kafka.controller
logger.controller.level = WARN
logger.raft.name = org.apache.kafka.raft
logger.raft.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.common.name = org.apache.kafka.common
logger.common.level = WARN
EOF
}

write_client_conf() {
  cat >"$CLIENT_CONF" <<EOF
# Java client settings for the SASL_SSL listener $HOST:$KAFKA_SASL_PORT (SCRAM-SHA-512).
bootstrap.servers=$HOST:$KAFKA_SASL_PORT
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$KAFKA_SASL_USER" password="$KAFKA_SASL_PASSWORD";
ssl.truststore.type=PEM
ssl.truststore.location=$CA_PEM
EOF
}

running_pid() {
  # Prints the broker pid if OUR broker (this data dir) is alive.
  [[ -f "$PID_FILE" ]] || return 1
  local pid; pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ -n "$pid" ]] && is_int "$pid" || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "kafka.Kafka $CONF" || return 1
  printf '%s' "$pid"
}

sasl_on_running() { [[ -f "$CONF" ]] && grep -q '^listeners=.*SASL_SSL://' "$CONF"; }

print_env() {
  echo "KAFKA_BROKERS=$HOST:$KAFKA_PORT"
  if sasl_on_running; then
    echo "KAFKA_SASL_BROKERS=$HOST:$KAFKA_SASL_PORT"
    echo "KAFKA_SASL_USERNAME=$KAFKA_SASL_USER"
    echo "KAFKA_SASL_PASSWORD=$KAFKA_SASL_PASSWORD"
    echo "KAFKA_SASL_MECHANISMS=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN"
    echo "KAFKA_CA_PEM=$CA_PEM"
    echo "KAFKA_CLIENT_CONFIG=$CLIENT_CONF"
  fi
}

create_topic() { # name[:partitions]  [extra args]
  local spec="$1"; shift
  local name="${spec%%:*}" parts=1
  [[ "$spec" == *:* ]] && parts="${spec#*:}"
  is_int "$parts" || die "bad topic spec '$spec' (want NAME or NAME:PARTITIONS)"
  run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$KAFKA_PORT" \
    --create --if-not-exists --topic "$name" --partitions "$parts" --replication-factor 1 "$@" >/dev/null
}

wait_ready() {
  local pid="$1" deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  # 1) listener accepts TCP and the server logged its startup
  until port_open "$KAFKA_PORT" && grep -q 'Kafka Server started' "$LOG_FILE" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 40 "$LOG_FILE" >&2 || true
      die "broker exited during startup (full log: $LOG_FILE)"
    fi
    (( SECONDS < deadline )) || { tail -n 40 "$LOG_FILE" >&2 || true; die "broker not listening on $HOST:$KAFKA_PORT after ${KAFKA_START_TIMEOUT}s (log: $LOG_FILE)"; }
    sleep 0.3
  done
  # 2) really ready: the controller accepts a CreateTopics round-trip
  until create_topic "$READY_TOPIC" 2>>"$KAFKA_DATA_DIR/ready-check.log"; do
    kill -0 "$pid" 2>/dev/null || die "broker exited during startup (log: $LOG_FILE)"
    (( SECONDS < deadline )) || { tail -n 20 "$KAFKA_DATA_DIR/ready-check.log" >&2 || true; die "broker not ready after ${KAFKA_START_TIMEOUT}s (log: $LOG_FILE)"; }
    sleep 1
  done
  # 3) secure listener: TLS + SCRAM login round-trip with the Java client
  if sasl_on_running; then
    until run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$KAFKA_SASL_PORT" \
          --command-config "$CLIENT_CONF" --list >/dev/null 2>>"$KAFKA_DATA_DIR/ready-check.log"; do
      kill -0 "$pid" 2>/dev/null || die "broker exited during startup (log: $LOG_FILE)"
      (( SECONDS < deadline )) || { tail -n 20 "$KAFKA_DATA_DIR/ready-check.log" >&2 || true; die "SASL_SSL listener $HOST:$KAFKA_SASL_PORT not usable after ${KAFKA_START_TIMEOUT}s (see $KAFKA_DATA_DIR/ready-check.log)"; }
      sleep 1
    done
  fi
}

do_down() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE"
    log "not running (data dir $KAFKA_DATA_DIR)"
    return 0
  fi
  log "stopping broker pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + KAFKA_STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if (( SECONDS >= deadline )); then
      log "broker did not stop within ${KAFKA_STOP_TIMEOUT}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  rm -f "$PID_FILE"
  log "stopped"
}

do_up() {
  need_java
  mkdir -p "$KAFKA_DATA_DIR"
  fetch_jars
  write_tool_log4j
  [[ "$KAFKA_SASL" == 1 ]] && { gen_tls; write_client_conf; }

  local newconf; newconf="$(render_config)"
  local pid
  if pid="$(running_pid)"; then
    if [[ "$(cat "$CONF")" == "$newconf" ]]; then
      log "already running (pid $pid); checking readiness"
      wait_ready "$pid"
      for t in ${KAFKA_TOPICS//,/ }; do create_topic "$t"; done
      print_env
      return 0
    fi
    log "running with a different configuration; restarting"
    do_down
  fi

  for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" $([[ "$KAFKA_SASL" == 1 ]] && echo "$KAFKA_SASL_PORT"); do
    port_open "$p" && die "port $HOST:$p is already in use by another process (set KAFKA_PORT / KAFKA_CONTROLLER_PORT / KAFKA_SASL_PORT)"
  done

  printf '%s\n' "$newconf" >"$CONF"
  write_broker_log4j

  # Format once; re-format (wiping test data) only if something baked into the log dir changed.
  local fp; fp="$(format_fingerprint)"
  if [[ -f "$LOG_DIR/meta.properties" && "$(cat "$KAFKA_DATA_DIR/format.fingerprint" 2>/dev/null)" != "$fp" ]]; then
    log "format-time settings changed (version/controller port/SASL user); wiping $LOG_DIR"
    rm -rf "$LOG_DIR"
  fi
  if [[ ! -f "$LOG_DIR/meta.properties" ]]; then
    local cid="${KAFKA_CLUSTER_ID:-$(random_cluster_id)}"
    log "formatting $LOG_DIR (cluster id $cid)"
    rm -rf "$LOG_DIR"
    run_tool kafka.tools.StorageTool format --config "$CONF" --cluster-id "$cid" --standalone \
      --add-scram "SCRAM-SHA-256=[name=$KAFKA_SASL_USER,password=$KAFKA_SASL_PASSWORD]" \
      --add-scram "SCRAM-SHA-512=[name=$KAFKA_SASL_USER,password=$KAFKA_SASL_PASSWORD]" \
      >"$KAFKA_DATA_DIR/format.log" 2>&1 \
      || { cat "$KAFKA_DATA_DIR/format.log" >&2; die "StorageTool format failed"; }
    printf '%s\n' "$fp" >"$KAFKA_DATA_DIR/format.fingerprint"
  fi

  log "starting Kafka $KAFKA_VERSION on $HOST:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT$([[ "$KAFKA_SASL" == 1 ]] && echo ", SASL_SSL $KAFKA_SASL_PORT")); log: $LOG_FILE"
  : >"$LOG_FILE"; : >"$KAFKA_DATA_DIR/ready-check.log"
  rm -f "$PID_FILE"
  # shellcheck disable=SC2086,SC2016  # word-split heap opts; $$/$0/$@ are for the inner bash
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PID_FILE" \
    java $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$BROKER_LOG4J" \
    -cp "$LIB_DIR/*" kafka.Kafka "$CONF" </dev/null >>"$LOG_FILE" 2>&1 9>&- &
  local i=0
  until [[ -s "$PID_FILE" ]]; do sleep 0.05; i=$((i+1)); (( i < 100 )) || die "broker process did not start"; done
  pid="$(cat "$PID_FILE")"
  wait_ready "$pid"
  for t in ${KAFKA_TOPICS//,/ }; do create_topic "$t"; done
  log "ready"
  print_env
}

do_status() {
  local pid
  if pid="$(running_pid)"; then
    echo "running pid=$pid version=$KAFKA_VERSION data=$KAFKA_DATA_DIR log=$LOG_FILE"
    print_env
    port_open "$KAFKA_PORT" || { echo "WARNING: process alive but $HOST:$KAFKA_PORT not accepting connections"; return 1; }
    return 0
  fi
  echo "stopped (data dir $KAFKA_DATA_DIR)"
  return 3
}

cmd="${1:-}"; [[ $# -gt 0 ]] && shift
# Serialise concurrent invocations on the same data dir.
if [[ "$cmd" =~ ^(up|up-secure|down|reset|topics)$ ]] && command -v flock >/dev/null 2>&1; then
  mkdir -p "$KAFKA_DATA_DIR"
  exec 9>"$KAFKA_DATA_DIR/.lock"
  flock -w "${KAFKA_LOCK_TIMEOUT:-180}" 9 || die "another kafka.sh is busy with $KAFKA_DATA_DIR (lock $KAFKA_DATA_DIR/.lock)"
fi

case "$cmd" in
  up)        do_up ;;
  up-secure) KAFKA_SASL=1; do_up ;;
  down|stop) do_down ;;
  status)    do_status ;;
  env)       running_pid >/dev/null || die "broker is not running"; print_env ;;
  topics)
    [[ $# -gt 0 ]] || die "usage: kafka.sh topics NAME[:PARTITIONS] ..."
    running_pid >/dev/null || die "broker is not running (run: kafka.sh up)"
    need_java; for t in "$@"; do create_topic "$t"; log "topic $t ok"; done ;;
  logs)      tail -n "${1:-100}" "$LOG_FILE" ;;
  tool)
    [[ $# -gt 0 ]] || die "usage: kafka.sh tool CLASS [ARGS...]  e.g. org.apache.kafka.tools.TopicCommand --help"
    need_java; fetch_jars; run_tool "$@" ;;
  fetch)     need_java; fetch_jars; echo "$LIB_DIR" ;;
  reset)     do_down; rm -rf "$KAFKA_DATA_DIR"; log "removed $KAFKA_DATA_DIR" ;;
  ""|-h|--help|help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown command '$cmd' (try: up, up-secure, down, status, topics, env, logs, tool, fetch, reset)" ;;
esac
