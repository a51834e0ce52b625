#!/usr/bin/env bash
# lakegate against PostgreSQL and DuckDB on TPC-H, through the wire; writes docs/benchmarks.md.
#
#   bench/run.sh              # SF1, 3 timed runs per query (median), every part
#   bench/run.sh --sf 0.1 --runs 1 --out /tmp/bench.md
#   bench/run.sh --help       # all options (bench/tpch.py)
#
# Installs what it needs (PostgreSQL 15 server and pgjdbc from Debian, tpchgen-cli, DuckDB and
# psycopg from PyPI into a venv) and keeps data, venv and the PostgreSQL cluster under
# $LAKEGATE_BENCH_DIR (default ~/.cache/lakegate-bench), so a second run skips generation and
# loading. lakegate is built in release mode (CARGO_TARGET_DIR is honoured).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_DIR=${LAKEGATE_BENCH_DIR:-$HOME/.cache/lakegate-bench}
mkdir -p "$BENCH_DIR"

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
need_apt=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || need_apt+=(postgresql-15)
command -v pgbench > /dev/null || need_apt+=(postgresql-contrib)
[ -f /usr/share/java/postgresql.jar ] || need_apt+=(libpostgresql-jdbc-java)
command -v java > /dev/null || need_apt+=(default-jre-headless)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing ${need_apt[*]} (Debian)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" > /dev/null
fi

VENV="$BENCH_DIR/venv"
if [ ! -x "$VENV/bin/tpchgen-cli" ] || ! "$VENV/bin/python" -c "import duckdb, psycopg" 2> /dev/null; then
  echo "installing tpchgen-cli, duckdb, psycopg (PyPI) into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q tpchgen-cli duckdb "psycopg[binary]"
fi

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
echo "building lakegate (release) in $TARGET"
(cd "$ROOT" && cargo build --release --locked --bin lakegate --example stream_bench)

exec "$VENV/bin/python" "$ROOT/bench/tpch.py" \
  --lakegate "$TARGET/release/lakegate" \
  --stream-bench "$TARGET/release/examples/stream_bench" \
  --work "$BENCH_DIR" "$@"
