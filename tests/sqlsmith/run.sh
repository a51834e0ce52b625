#!/usr/bin/env bash
# SQL fuzzing tier: Debian's sqlsmith reads lakegate's pg_catalog (types, tables, columns,
# operators, routines, aggregates) and sends random queries built from them to a lakegate
# serving the demo lake. The server must stay up, answer every query or an error with a
# SQLSTATE, never panic (lakegate_connection_panics_total), and its memory must come back to
# the baseline. Prints the queries run and the errors by SQLSTATE class, and a
# `sqlsmith: N passed, M failed` line.
#   SQLSMITH_QUERIES (default 400), SQLSMITH_SEED (default 42), SQLSMITH_SECS (default 150)
set -uo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-target}"
bin="$target/debug/lakegate"
[ -x "$bin" ] || cargo build --bin lakegate || exit 1
if ! command -v sqlsmith >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q sqlsmith >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q sqlsmith >/dev/null; } || exit 1
fi
queries="${SQLSMITH_QUERIES:-400}"
seed="${SQLSMITH_SEED:-42}"
secs="${SQLSMITH_SECS:-150}"

work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
http=$(free_port)
"$bin" demo --dir "$work/lake" --no-serve >/dev/null 2>&1 || exit 1
cat >"$work/lakegate.yaml" <<YAML
lake: $work/lake
listen: 127.0.0.1:$port
http: {listen: 127.0.0.1:$http}
limits: {statement_timeout: 10s, query_memory: 256MiB, memory: 1GiB}
YAML
"$bin" serve --config "$work/lakegate.yaml" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
metrics() { python3 - "$http" <<'PY'
import sys, urllib.request
print(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode())
PY
}
for _ in $(seq 1 150); do metrics >/dev/null 2>&1 && break; sleep 0.2; done
rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }
psql_() { psql -X -A -t -h 127.0.0.1 -p "$port" -U sqlsmith -d lake -c "$1"; }
# Baseline: the catalog loaded and each table read once.
for t in $(psql_ "SELECT table_schema || '.' || table_name FROM information_schema.tables WHERE table_schema IN ('bronze','silver','gold')"); do
  psql_ "SELECT count(*) FROM $t" >/dev/null
done
sleep 6
base=$(rss)

start=$(date +%s)
timeout "$secs" sqlsmith --target="host=127.0.0.1 port=$port user=sqlsmith dbname=lake" \
  --seed="$seed" --max-queries="$queries" --verbose >"$work/sqlsmith.log" 2>&1
status=$?
elapsed=$(( $(date +%s) - start ))
failed=0
fail() { echo "sqlsmith: $1"; failed=$((failed + 1)); }
# 124: stopped by the time bound (fine); anything else but 0 means sqlsmith broke off.
if [ "$status" -ne 0 ] && [ "$status" -ne 124 ]; then
  fail "sqlsmith exited $status"; tail -5 "$work/sqlsmith.log"
fi
alive=$(psql_ "SELECT 1" 2>&1)
if [ "$alive" != "1" ]; then
  fail "server does not answer after the run: $alive"
  wait $server; echo "sqlsmith: server exit status $?; end of its log:"; tail -20 "$work/server.log"
  grep -E '^queries:' "$work/sqlsmith.log"; tail -3 "$work/sqlsmith.log"
  [ -n "${SQLSMITH_KEEP:-}" ] && cp -r "$work" "$SQLSMITH_KEEP"
  echo "sqlsmith: 0 passed, $failed failed"
  exit 1
fi
m=$(metrics)
panics=$(echo "$m" | awk '/^lakegate_connection_panics_total/ {print $2}')
[ "${panics:-x}" = "0" ] || fail "$panics panics caught (server log follows)"
echo "sqlsmith: seed $seed, ${elapsed}s, statements by outcome and SQLSTATE class:"
echo "$m" | grep '^lakegate_queries_total' | sed 's/^lakegate_queries_total/  /'
grep -E '^queries:' "$work/sqlsmith.log" | sed 's/^/  sqlsmith /'
if grep -q 'panicked' "$work/server.log"; then
  fail "panic in the server log"; grep -A2 'panicked' "$work/server.log" | head -20
fi
# Memory back to the baseline (malloc_trim runs every 5 s).
sleep 8
after=$(rss)
echo "sqlsmith: RSS baseline ${base} kB, after the run ${after} kB"
[ "$after" -le $((base + 65536)) ] || fail "RSS ${after} kB is more than 64 MiB above the baseline ${base} kB"
passed=$(( failed == 0 ? 1 : 0 ))
echo "sqlsmith: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
