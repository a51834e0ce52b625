#!/usr/bin/env bash
# Database source throughput: N rows (default 10,000,000) of an orders table in a throwaway
# PostgreSQL 15, read by `lakegate ingest --once` into bronze and silver (release build), against
# the physical floor on this machine: `COPY orders TO STDOUT` of the same rows into a file.
# Prints a markdown section (docs/benchmarks.md, "Database sources") to stdout.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROWS=${1:-10000000}
SLICES=${SLICES:-100}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lakegate-target}"
(cd "$ROOT" && cargo build --release --locked --bin lakegate >&2)
BIN="$CARGO_TARGET_DIR/release/lakegate"
PG_BIN=/usr/lib/postgresql/15/bin
DATA=$(mktemp -d)
chmod 755 "$DATA"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  as_pg "$PG_BIN/pg_ctl" -D "$DATA/pg/data" -m immediate stop > /dev/null 2>&1 || true
  rm -rf "$DATA"
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$DATA/pg"
[ "$(id -u)" = 0 ] && chown postgres "$DATA/pg"
as_pg "$PG_BIN/initdb" -D "$DATA/pg/data" -U postgres --auth=trust -E UTF8 > /dev/null
as_pg "$PG_BIN/pg_ctl" -D "$DATA/pg/data" -l "$DATA/pg/log" -w start \
  -o "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$DATA/pg -c fsync=off -c shared_buffers=2GB" > /dev/null
PSQL=(psql -qX -h 127.0.0.1 -p "$PORT" -U postgres postgres)
"${PSQL[@]}" << SQL
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL, amount numeric(12,2) NOT NULL,
  status text NOT NULL, note text, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
INSERT INTO orders SELECT g, g % 100000, (g % 100000) / 100.0, (ARRAY['new','paid','shipped'])[1 + g % 3],
  CASE WHEN g % 7 = 0 THEN NULL ELSE 'note ' || g END,
  '2026-01-01 00:00:00+00'::timestamptz + (g % $SLICES) * interval '1 day' + (g % 86400) * interval '1 second',
  '2026-01-01 00:00:00+00'::timestamptz + (g % $SLICES) * interval '1 day' + (g % 86400) * interval '1 second'
FROM generate_series(1, $ROWS) g;
VACUUM ANALYZE orders;
SQL
start=$(date +%s.%N)
"${PSQL[@]}" -c "COPY orders TO STDOUT" > "$DATA/orders.copy"
copy_s=$(echo "$(date +%s.%N) - $start" | bc)
copy_bytes=$(stat -c %s "$DATA/orders.copy")
rm -f "$DATA/orders.copy"
cat > "$DATA/lakegate.yaml" << YAML
lake: $DATA/lake
sources:
  orders:
    postgres: {url: "postgres://postgres@127.0.0.1:$PORT/postgres"}
    table: public.orders
    slice: "(created_at AT TIME ZONE 'UTC')::date"
    watermark: "max(updated_at)"
    slice_column: order_date
    timeout: 1h
silver:
  orders:
    from: orders
    unique_key: [id]
    latest_by: updated_at
YAML
mkdir -p "$DATA/lake"
start=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$DATA/rss" "$BIN" ingest --once --config "$DATA/lakegate.yaml" > "$DATA/out.txt"
lg_s=$(echo "$(date +%s.%N) - $start" | bc)
rss_mb=$(( $(cat "$DATA/rss") / 1024 ))
ok=$(grep -c '^ok silver' "$DATA/out.txt")
# A second pass with nothing changed: only the per-slice listing.
start=$(date +%s.%N)
"$BIN" ingest --once --config "$DATA/lakegate.yaml" > /dev/null
idle_s=$(echo "$(date +%s.%N) - $start" | bc)
landed_mb=$(( $(du -sk "$DATA/lake/landing" | cut -f1) / 1024 ))
rate() { python3 -c "print(f'{$ROWS / $1:,.0f}')"; }
ratio=$(python3 -c "print(f'{$lg_s / $copy_s:.1f}')")
cat << MD
## Database sources — PostgreSQL into silver

Written by \`bench/sources.sh\` on $(date -u +'%Y-%m-%d %H:%M') UTC: $(printf "%'d" "$ROWS") rows of an orders table (7 columns: bigint, numeric(12,2), text, timestamptz) in $SLICES daily slices, PostgreSQL 15 on loopback, lakegate release build (commit $(cd "$ROOT" && git rev-parse --short HEAD)).

| step | seconds | rows/s | note |
|---|---:|---:|---|
| \`COPY orders TO STDOUT\` into a file (the floor) | $(printf %.1f "$copy_s") | $(rate "$copy_s") | $(( copy_bytes / 1048576 )) MiB of COPY text |
| \`lakegate ingest --once\`: source → landing → bronze → silver | $(printf %.1f "$lg_s") | $(rate "$lg_s") | $ok silver slices, peak RSS $rss_mb MiB, landing $landed_mb MiB of Parquet |
| the same with nothing changed (listing only) | $(printf %.1f "$idle_s") | | |

lakegate / floor: **${ratio}×** the time of the bare COPY, for the whole pipeline (landing Parquet, bronze and silver Delta commits, dedup by key).
MD
