#!/usr/bin/env bash
# Captures what real clients send to a real PostgreSQL 15 (tests/replay/clients.py: SQLAlchemy's
# inspector over psycopg2 and psycopg 3, psycopg 3, asyncpg, psqlODBC, ADBC's PostgreSQL
# driver, connectorx; JdbcCapture.java: pgjdbc's DatabaseMetaData; node_capture.cjs:
# node-postgres; psql's \d commands) into tests/replay/captured.jsonl,
# one statement with its bound parameters per line. Run by hand when a client is added or
# upgraded; tests/it/replay.rs replays the file against lakegate and a PostgreSQL 15 and
# compares the answers (the sources tier runs it). Needs the client venv and pgjdbc of
# tests/clients/run.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${LAKEGATE_CLIENTS_PY:-$HOME/.cache/lakegate-clients/venv/bin/python}
PG_BIN=/usr/lib/postgresql/15/bin
DATA=$(mktemp -d)
chmod 755 "$DATA"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$DATA"
trap 'as_pg "$PG_BIN/pg_ctl" -D "$DATA/data" -m immediate stop > /dev/null 2>&1 || true; rm -rf "$DATA"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$PG_BIN/initdb" -D "$DATA/data" -U postgres -A trust -E UTF8 > /dev/null
as_pg "$PG_BIN/pg_ctl" -D "$DATA/data" -l "$DATA/log" -w start -o "-c listen_addresses=127.0.0.1 \
  -c port=$PORT -c unix_socket_directories=$DATA -c logging_collector=on -c log_destination=csvlog \
  -c log_directory=$DATA/csv -c log_statement=all" > /dev/null
psql -qX -h 127.0.0.1 -p "$PORT" -U postgres -c "CREATE DATABASE lake" > /dev/null
psql -qX -h 127.0.0.1 -p "$PORT" -U postgres -d lake -f "$ROOT/tests/replay/schema.sql" > /dev/null
# The capture's relation OIDs (psql's \d sends them): the replay maps each to the same
# relation's OID on the servers it compares.
psql -qXAt -h 127.0.0.1 -p "$PORT" -U postgres -d lake -c "SELECT json_object_agg(c.oid::text, n.nspname || '.' || c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('silver', 'bronze', 'gold', 'lakegate')" \
  > "$ROOT/tests/replay/oids.json"
"$PY" "$ROOT/tests/replay/clients.py" 127.0.0.1 "$PORT" postgres lake
java -cp /usr/share/java/postgresql.jar "$ROOT/tests/replay/JdbcCapture.java" "$PORT" postgres lake
NODE_PATH="$HOME/.cache/lakegate-clients/node/node_modules" node "$ROOT/tests/replay/node_capture.cjs" "$PORT" postgres lake
# psql's describe commands (psql sends its catalog queries in the simple protocol).
for cmd in '\dn' '\dt silver.*' '\dv silver.*' '\d silver.users' '\d+ silver.titles'; do
  PGAPPNAME=psql-describe psql -qX -h 127.0.0.1 -p "$PORT" -U postgres -d lake -c "$cmd" > /dev/null
done
sleep 1
"$PY" - "$DATA/csv" "$ROOT/tests/replay/captured.jsonl" << 'PY'
import csv, glob, json, re, sys
out, seen = [], set()
for f in sorted(glob.glob(sys.argv[1] + "/*.csv")):
    for row in csv.reader(open(f, newline="")):
        app, message, detail = row[22], row[13], row[14]
        if not app or app == "psql":
            continue
        m = re.match(r"(?s)(?:statement|execute [^:]*): (.*)", message)
        if not m:
            continue
        params = [None if v == "NULL" else v[1:-1].replace("''", "'")
                  for _, v in re.findall(r"\$(\d+) = (NULL|'(?:[^']|'')*')", detail)]
        key = (app, m.group(1), tuple(params))
        if key not in seen:
            seen.add(key)
            out.append({"client": app, "sql": m.group(1), "params": params})
with open(sys.argv[2], "w") as w:
    for r in out:
        w.write(json.dumps(r) + "\n")
print(f"{len(out)} statements from {len({r['client'] for r in out})} clients -> {sys.argv[2]}")
PY
