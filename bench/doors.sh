#!/usr/bin/env bash
# `SELECT * FROM lineitem` into pandas through lakegate's doors (Flight SQL, HTTP Arrow, psycopg,
# asyncpg, ADBC PostgreSQL and connectorx over COPY) against DuckDB in-process on the same Parquet (the floor); rewrites its section of
# docs/benchmarks.md. Options: bench/doors.py (--sf, --runs, --out).
#
# Installs its Python clients (PyPI) into $LAKEGATE_BENCH_DIR/doors-venv (default
# ~/.cache/lakegate-bench) and keeps the generated data there; lakegate is built in release mode.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_DIR=${LAKEGATE_BENCH_DIR:-$HOME/.cache/lakegate-bench}
mkdir -p "$BENCH_DIR"
VENV="$BENCH_DIR/doors-venv"
if ! "$VENV/bin/python" -c "import duckdb, psycopg, asyncpg, pandas, adbc_driver_flightsql, adbc_driver_postgresql, connectorx, pyarrow, requests" 2> /dev/null; then
  echo "installing tpchgen-cli, duckdb, psycopg, asyncpg, pandas, adbc-driver-flightsql, pyarrow (PyPI) into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q tpchgen-cli duckdb "psycopg[binary]" asyncpg pandas \
    adbc-driver-flightsql adbc-driver-manager adbc-driver-postgresql connectorx pyarrow requests
fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
echo "building lakegate (release) in $TARGET"
(cd "$ROOT" && cargo build --release --locked --bin lakegate)
exec "$VENV/bin/python" "$ROOT/bench/doors.py" --lakegate "$TARGET/release/lakegate" --work "$BENCH_DIR" "$@"
