#!/usr/bin/env bash
# A heavy aggregate computed (result cache off) against repeated (from memory), and the run
# after a commit; one lakegate, one run; rewrites its section of
# docs/benchmarks.md. Options: bench/result_cache.py (--rows, --runs, --out).
#
# Uses the venv of bench/doors.sh ($LAKEGATE_BENCH_DIR/doors-venv, psycopg from PyPI), creating
# a small one when it is missing; lakegate is built in release mode.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_DIR=${LAKEGATE_BENCH_DIR:-$HOME/.cache/lakegate-bench}
mkdir -p "$BENCH_DIR"
VENV="$BENCH_DIR/doors-venv"
if ! "$VENV/bin/python" -c "import psycopg" 2> /dev/null; then
  echo "installing psycopg (PyPI) into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "psycopg[binary]"
fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
echo "building lakegate (release) in $TARGET"
(cd "$ROOT" && cargo build --release --locked --bin lakegate)
exec "$VENV/bin/python" "$ROOT/bench/result_cache.py" --lakegate "$TARGET/release/lakegate" "$@"
