#!/usr/bin/env bash
# Real-client tier: real drivers against a running lakegate serving the demo lake.
#   Python: SQLAlchemy (psycopg2, psycopg 3), pandas, asyncpg, pyodbc over psqlODBC (Debian's
#           odbc-postgresql); the Arrow doors with ADBC's Flight SQL driver (DB-API, pandas,
#           polars), pyarrow.flight and requests (HTTP query API) — from PyPI into a cached venv
#   Java:   pgjdbc from Debian (libpostgresql-jdbc-java), extended and simple query modes
#   Node:   node-postgres from npm
#   Superset: Apache Superset (newest release, own cached venv) driven through its REST API:
#           database, schemas, tables, columns, a dataset, a chart and its data, SQL Lab
# Needs the lakegate binary (cargo test builds it). Prints one `<client>: N passed, M failed`
# line per client and exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-target}"
bin="$target/debug/lakegate"
[ -x "$bin" ] || cargo build --bin lakegate || exit 1
cache="${LAKEGATE_CLIENTS_CACHE:-$HOME/.cache/lakegate-clients}"
mkdir -p "$cache"

# Installs (idempotent; cached between runs on the same machine).
if [ ! -x "$cache/venv/bin/python" ]; then python3 -m venv "$cache/venv" || exit 1; fi
"$cache/venv/bin/pip" install --quiet --upgrade --disable-pip-version-check \
  "psycopg[binary]>=3.1" "psycopg2-binary>=2.9" "sqlalchemy>=2" pandas asyncpg pytest pyodbc "deltalake[pyarrow]" \
  adbc-driver-flightsql adbc-driver-manager adbc-driver-postgresql connectorx pyarrow polars requests || exit 1
# Superset pins its own SQLAlchemy (1.4), so it gets its own venv. Its 6.1 wheel misses three
# runtime dependencies (cachetools, rich) and breaks with Flask-Caching 2.4+
# (`ignore_delete_many_errors`): pinned here as a user following the error messages would.
superset_venv="$HOME/.cache/lakegate-superset/venv"
if ! "$superset_venv/bin/python" -c "import superset, cachetools, rich" 2>/dev/null; then
  python3 -m venv "$superset_venv" || exit 1
  "$superset_venv/bin/pip" install --quiet --disable-pip-version-check apache-superset psycopg2-binary \
    cachetools rich "flask-caching<2.4" requests || exit 1
fi
jar=/usr/share/java/postgresql.jar
odbc=/usr/lib/x86_64-linux-gnu/odbc/psqlodbcw.so
if [ ! -f "$jar" ] || [ ! -f "$odbc" ] || ! command -v chromium >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  pkgs="libpostgresql-jdbc-java odbc-postgresql unixodbc chromium"
  apt-get install -y -q $pkgs >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q $pkgs >/dev/null; } || exit 1
fi
if [ ! -d "$cache/node/node_modules/pg" ]; then
  mkdir -p "$cache/node" && (cd "$cache/node" && npm install --silent --no-audit --no-fund pg@8 >/dev/null) || exit 1
fi

work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
flight_port=$(free_port)
http_port=$(free_port)
"$bin" demo --dir "$work/lake" --listen "127.0.0.1:$port" --flight "127.0.0.1:$flight_port" \
  --http "127.0.0.1:$http_port" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 150); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
  sleep 0.2
done
export LAKEGATE_PORT=$port LAKEGATE_FLIGHT_PORT=$flight_port LAKEGATE_HTTP_PORT=$http_port
export LAKEGATE_LAKE_DIR="$work/lake"
failed_clients=0

"$cache/venv/bin/python" -m pytest -q tests/clients -p no:cacheprovider 2>&1 | tee "$work/py.log" | tail -5
[ "${PIPESTATUS[0]}" -eq 0 ] || failed_clients=$((failed_clients + 1))
py_pass=$(grep -Eo '[0-9]+ passed' "$work/py.log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
py_fail=$(grep -Eo '[0-9]+ failed' "$work/py.log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
echo "python drivers: ${py_pass} passed, ${py_fail} failed"

java_pass=0
java_fail=0
for mode in "" "?preferQueryMode=simple"; do
  if java -cp "$jar" tests/clients/java/JdbcProbe.java "$port" "$mode" 2>&1 | tee "$work/java.log" | tail -3 &&
     grep -q ' passed, 0 failed' "$work/java.log"; then
    java_pass=$((java_pass + $(grep -Eo '[0-9]+ passed' "$work/java.log" | grep -Eo '[0-9]+')))
  else
    java_fail=$((java_fail + 1))
    failed_clients=$((failed_clients + 1))
  fi
done

# ES modules ignore NODE_PATH: link the cached packages next to the test.
ln -sfn "$cache/node/node_modules" tests/clients/node/node_modules
node --test tests/clients/node/ 2>&1 | tee "$work/node.log" | tail -8
grep -q '^# fail 0' "$work/node.log" || failed_clients=$((failed_clients + 1))
node_pass=$(grep -Eo '^# pass [0-9]+' "$work/node.log" | grep -Eo '[0-9]+' || echo 0)
node_fail=$(grep -Eo '^# fail [0-9]+' "$work/node.log" | grep -Eo '[0-9]+' || echo 1)
echo "node-postgres: ${node_pass} passed, ${node_fail} failed"
# The status page in headless Chromium: a second server on the same demo lake with the
# operations endpoint; the rendered DOM must show the lake's tables and views, and a screenshot
# is kept as an artifact.
page_pass=0
page_fail=0
hport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
wport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'lake: %s\nlisten: 127.0.0.1:%s\nviews: views\nhttp: {listen: 127.0.0.1:%s}\n' "$work/lake" "$wport" "$hport" >"$work/status.yaml"
"$bin" serve --config "$work/status.yaml" >"$work/status.log" 2>&1 &
status_server=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$hport/health" >/dev/null 2>&1 && break; sleep 0.2; done
mkdir -p "$cache/artifacts"
if timeout 120 chromium --headless --no-sandbox --disable-gpu --dump-dom "http://127.0.0.1:$hport/" 2>/dev/null >"$work/status.html" &&
   grep -q '<td>silver</td><td>titles</td>' "$work/status.html" &&
   grep -q 'gold.top_titles' "$work/status.html" &&
   grep -q '<svg' "$work/status.html" &&
   timeout 120 chromium --headless --no-sandbox --disable-gpu --window-size=1280,1000 \
     --screenshot="$cache/artifacts/status.png" "http://127.0.0.1:$hport/" >/dev/null 2>&1 &&
   [ -s "$cache/artifacts/status.png" ]; then
  page_pass=1
  echo "status page: rendered in headless Chromium, screenshot $cache/artifacts/status.png"
else
  page_fail=1
  failed_clients=$((failed_clients + 1))
  echo "status page: FAILED"; head -c 2000 "$work/status.html"; tail -5 "$work/status.log"
fi
kill $status_server 2>/dev/null; wait $status_server 2>/dev/null
# Superset: a fresh metadata database, an admin, the web server; then the user's main workflow
# over a lake table, checked against the table read with delta-rs.
ss_pass=0
ss_fail=0
ss_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/superset"
printf 'SECRET_KEY = "lakegate-client-tier-%s"\nSQLALCHEMY_DATABASE_URI = "sqlite:///%s/superset/superset.db"\nWTF_CSRF_ENABLED = False\n' \
  "$RANDOM$RANDOM" "$work" >"$work/superset/superset_config.py"
export SUPERSET_CONFIG_PATH="$work/superset/superset_config.py" FLASK_APP=superset
superset_server=
if "$superset_venv/bin/superset" db upgrade >"$work/superset/setup.log" 2>&1 &&
   "$superset_venv/bin/superset" fab create-admin --username admin --firstname a --lastname b \
     --email admin@example.com --password admin >>"$work/superset/setup.log" 2>&1 &&
   "$superset_venv/bin/superset" init >>"$work/superset/setup.log" 2>&1; then
  "$superset_venv/bin/superset" run -h 127.0.0.1 -p "$ss_port" --with-threads >"$work/superset/run.log" 2>&1 &
  superset_server=$!
  for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$ss_port/health" >/dev/null 2>&1 && break; sleep 0.2; done
  if timeout 300 "$superset_venv/bin/python" tests/clients/superset/drive.py "http://127.0.0.1:$ss_port" "$port" \
       silver users country >"$work/superset/drive.json" 2>"$work/superset/drive.err" &&
     "$cache/venv/bin/python" tests/clients/superset/check.py "$work/superset/drive.json" "$work/lake" \
       silver users country | tee "$work/superset/check.log"; then
    ss_pass=$(grep -Eo '[0-9]+ passed' "$work/superset/check.log" | grep -Eo '[0-9]+')
  else
    ss_fail=1
    echo "superset: FAILED"; tail -c 3000 "$work/superset/drive.err"; grep -n "Error" "$work/superset/run.log" | tail -5
  fi
  kill "$superset_server" 2>/dev/null; wait "$superset_server" 2>/dev/null
else
  ss_fail=1
  echo "superset: setup FAILED"; tail -20 "$work/superset/setup.log"
fi
[ "$ss_fail" -eq 0 ] || failed_clients=$((failed_clients + 1))
echo "clients: $((py_pass + java_pass + node_pass + page_pass + ss_pass)) passed, $((py_fail + java_fail + node_fail + page_fail + ss_fail)) failed"

if [ "$failed_clients" -ne 0 ]; then
  echo "--- server log ---"; tail -20 "$work/server.log"
  exit 1
fi
