#!/usr/bin/env bash
# Kafka source throughput and freshness: N (default 1,000,000) Avro messages in a 3-partition
# topic of a Tansu broker (in memory), read by `lakegate ingest --once` into bronze, and into
# bronze and a `mode: merge` silver table (release build), against the floor on this machine:
# a plain confluent-kafka (librdkafka) consumer of the same messages, without and with Avro
# decoding (fastavro). Then freshness: `lakegate serve` with the source while a producer sends
# RATE (default 10,000) messages/s for 30 s, and a reader asks `max(sent_ms)` of the silver
# table over the Postgres wire every 100 ms. Prints a markdown section (docs/benchmarks.md,
# "Kafka sources") to stdout.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-1000000}
RATE=${RATE:-10000}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lakegate-target}"
BIN=${LAKEGATE_BIN:-}
if [ -z "$BIN" ]; then
  (cd "$ROOT" && cargo build --release --locked --bin lakegate --example kafka_fetch >&2)
  BIN="$CARGO_TARGET_DIR/release/lakegate"
fi
FETCH="$(dirname "$BIN")/examples/kafka_fetch"
. "$ROOT/tests/kafka/env.sh"
kafka_venv
DATA=$(mktemp -d)
trap 'kill $(cat "$DATA/serve.pid" 2> /dev/null) 2> /dev/null || true; kafka_stop "$DATA"; [ -n "${KEEP:-}" ] || rm -rf "$DATA"' EXIT
kafka_start "$DATA"
PY="$LAKEGATE_TEST_KAFKA_PY"
K="$LAKEGATE_TEST_KAFKA"
R="$LAKEGATE_TEST_REGISTRY"
"$LAKEGATE_TEST_TANSU" topic create --broker "tcp://$K" --partitions 3 bench > /dev/null
"$LAKEGATE_TEST_TANSU" topic create --broker "tcp://$K" --partitions 3 fresh > /dev/null
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
rate() { python3 -c "print(f'{$1 / $2:,.0f}')"; }
produced=$("$PY" "$ROOT/bench/kafka.py" produce "$K" "$R" bench "$N")
plain=$("$PY" "$ROOT/bench/kafka.py" consume "$K" bench "$N")
avro=$("$PY" "$ROOT/bench/kafka.py" consume "$K" bench "$N" --avro "$R")
rs=$("$FETCH" "$K" bench "$N")
config() {
  cat << YAML
lake: $DATA/$1
sources:
  orders:
    kafka: {brokers: "$K", topic: $2}
    value: {format: avro, registry: "$R"}
    slice: "date_trunc('minute', event_time)"
    slice_column: event_minute
    batch: {max_rows: 100000, max_wait: 1s}
YAML
  if [ "$3" = silver ]; then
    echo "silver:"
    echo "  orders: {from: orders, unique_key: [order_id], latest_by: event_time, mode: merge}"
  fi
}
timed() { # config-file → seconds and peak RSS (MiB) of `ingest --once`
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$DATA/rss" "$BIN" ingest --once --config "$1" > "$DATA/ingest.log" 2>&1
  t1=$(date +%s.%N)
  echo "$(echo "$t1 - $t0" | bc) $(( $(cat "$DATA/rss") / 1024 ))"
}
config lake1 bench bronze > "$DATA/bronze.yaml"
config lake2 bench silver > "$DATA/silver.yaml"
read -r bronze_s bronze_rss < <(timed "$DATA/bronze.yaml")
read -r silver_s silver_rss < <(timed "$DATA/silver.yaml")
bronze_files=$(find "$DATA/lake1/bronze/orders" -name '*.parquet' | wc -l)
# Freshness: serve with the source, a producer at RATE msgs/s, a reader over the wire.
PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$DATA/lake3"
config lake3 fresh silver > "$DATA/fresh.yaml"
echo "listen: 127.0.0.1:$PGPORT" >> "$DATA/fresh.yaml"
echo "refresh_interval: 1s" >> "$DATA/fresh.yaml"
LAKEGATE_LOG=warn "$BIN" serve --config "$DATA/fresh.yaml" > "$DATA/serve.log" 2>&1 &
echo $! > "$DATA/serve.pid"
for _ in $(seq 1 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $PGPORT), 1)" 2> /dev/null && break
  sleep 0.2
done

fresh=$("$PY" "$ROOT/bench/kafka.py" fresh "$K" "$R" fresh "$RATE" 30 "$PGPORT" silver.orders)
kill "$(cat "$DATA/serve.pid")" 2> /dev/null || true
n_plain=$(field "$plain" messages)
cat << MD
## Kafka sources — a topic into bronze and silver

Written by \`bench/kafka.sh\` on $(date -u +'%Y-%m-%d %H:%M') UTC: $(printf "%'d" "$N") Avro messages (7 fields: long, double, enum, timestamp-millis, nullable string; $(( $(field "$produced" bytes) / N )) bytes each in the Confluent wire format) in a 3-partition topic of Tansu $("$LAKEGATE_TEST_TANSU" --version 2> /dev/null | awk '{print $NF}') (memory storage) on loopback, produced by confluent-kafka $("$PY" -c 'import confluent_kafka; print(confluent_kafka.version()[0])') at $(rate "$N" "$(field "$produced" seconds)") msgs/s; lakegate release build (commit $(cd "$ROOT" && git rev-parse --short HEAD)), micro-batches of 100,000, minute slices.

| step | seconds | messages/s | note |
|---|---:|---:|---|
| confluent-kafka consumer, no decoding (the floor) | $(printf %.1f "$(field "$plain" seconds)") | $(rate "$n_plain" "$(field "$plain" seconds)") | librdkafka; after its first batch (the group join) |
| rskafka (lakegate's client) fetching the same, no decoding | $(printf %.1f "$(field "$rs" seconds)") | $(rate "$(field "$rs" messages)" "$(field "$rs" seconds)") | \`examples/kafka_fetch.rs\`: all partitions at once, 8 MiB fetches |
| confluent-kafka consumer + AvroDeserializer | $(printf %.1f "$(field "$avro" seconds)") | $(rate "$(field "$avro" messages)" "$(field "$avro" seconds)") | fastavro, one dict per message |
| \`lakegate ingest --once\`: topic → bronze | $(printf %.1f "$bronze_s") | $(rate "$N" "$bronze_s") | decode, dead-letter check, one Delta commit per micro-batch with the offsets; peak RSS $bronze_rss MiB, $bronze_files Parquet files |
| \`lakegate ingest --once\`: topic → bronze → silver (MERGE by key) | $(printf %.1f "$silver_s") | $(rate "$N" "$silver_s") | 200,000 keys, one MERGE per touched slice per micro-batch; peak RSS $silver_rss MiB |

lakegate bronze / plain consumer: **$(python3 -c "print(f'{$bronze_s / $(field "$plain" seconds):.1f}')")×** the time; bronze / consumer with Avro decoding: **$(python3 -c "print(f'{$bronze_s / $(field "$avro" seconds):.2f}')")×**.

Freshness, produce → visible in silver over the wire (\`lakegate serve\`, \`max_wait: 1s\`): a producer at $(printf "%'.0f" "$(field "$fresh" rate)") msgs/s for 30 s; \`SELECT max(sent_ms) FROM silver.orders\` every 100 ms after the first 5 s ($(field "$fresh" samples) samples): staleness p50 **$(printf %.0f "$(field "$fresh" p50_ms)") ms**, p95 **$(printf %.0f "$(field "$fresh" p95_ms)") ms**, max $(printf %.0f "$(field "$fresh" max_ms)") ms; the last message was visible $(python3 -c "v=$(field "$fresh" drain_ms | sed 's/None/None/'); print('never (60 s)' if v is None else f'{v:.0f} ms')") after it was sent.
MD
