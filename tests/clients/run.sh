#!/usr/bin/env bash
# Real-client tier: installs the Python drivers (PyPI) into a cached venv, starts lakegate on the
# demo lake, and runs tests/clients/test_*.py against it. Needs the lakegate binary built
# (cargo test builds it). Usage: tests/clients/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-target}"
bin="$target/debug/lakegate"
[ -x "$bin" ] || cargo build --bin lakegate
venv="${LAKEGATE_CLIENTS_VENV:-$HOME/.cache/lakegate-clients-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  "psycopg[binary]>=3.1" "psycopg2-binary>=2.9" "sqlalchemy>=2" pandas asyncpg pytest
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" demo --dir "$work/lake" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; then break; fi
  sleep 0.2
done
LAKEGATE_PORT=$port "$venv/bin/python" -m pytest -q tests/clients
