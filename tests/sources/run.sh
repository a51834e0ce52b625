#!/usr/bin/env bash
# Database and API sources tier: starts a throwaway PostgreSQL 15 (password logins, SCRAM) and
# MariaDB (Debian's packages) on loopback, each with an `etl` login and a `shop` database, and
# runs the ignored `sources` tests against them (tests/it/sources.rs), and the replay of
# captured client statements against the PostgreSQL (tests/it/replay.rs).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
PG_BIN=/usr/lib/postgresql/15/bin
need=()
[ -x "$PG_BIN/initdb" ] || need+=(postgresql-15)
command -v mariadbd > /dev/null 2>&1 || need+=(mariadb-server)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} (Debian)"
  $SUDO apt-get update -qq
  # A package's own service stays stopped: the tier starts its own clusters.
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 $SUDO apt-get install -y -qq "${need[@]}" > /dev/null
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PG_PORT=$(free_port)
MY_PORT=$(free_port)
DATA=$(mktemp -d)
chmod 755 "$DATA"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  as_pg "$PG_BIN/pg_ctl" -D "$DATA/pg/data" -m immediate stop > /dev/null 2>&1 || true
  [ -f "$DATA/my/pid" ] && kill "$(cat "$DATA/my/pid")" 2> /dev/null || true
  wait 2> /dev/null || true
  rm -rf "$DATA" 2> /dev/null || true
}
trap cleanup EXIT
# PostgreSQL: SCRAM for every TCP login, so a wrong password is refused for real.
mkdir -p "$DATA/pg"
[ "$(id -u)" = 0 ] && chown postgres "$DATA/pg"
echo adminpw > "$DATA/pg/pw"
[ "$(id -u)" = 0 ] && chown postgres "$DATA/pg/pw"
as_pg "$PG_BIN/initdb" -D "$DATA/pg/data" -U postgres --auth=scram-sha-256 --pwfile="$DATA/pg/pw" -E UTF8 > /dev/null
as_pg "$PG_BIN/pg_ctl" -D "$DATA/pg/data" -l "$DATA/pg/log" -w start \
  -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$DATA/pg -c fsync=off" > /dev/null
PGPASSWORD=adminpw psql -qX -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE ROLE etl LOGIN PASSWORD 'etl-secret-pw'" > /dev/null
PGPASSWORD=adminpw psql -qX -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE DATABASE shop OWNER etl" > /dev/null
# The replay of captured client statements (tests/it/replay.rs) gets a database of its own,
# used as `postgres`: objects get the owner lakegate reports for its own.
PGPASSWORD=adminpw psql -qX -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE DATABASE replay" > /dev/null
# MariaDB: its own datadir and socket, TCP on loopback only.
mkdir -p "$DATA/my"
MYUSER=$([ "$(id -u)" = 0 ] && echo mysql || id -un)
[ "$(id -u)" = 0 ] && chown mysql "$DATA/my"
mariadb-install-db --no-defaults --datadir="$DATA/my/data" --user="$MYUSER" --auth-root-authentication-method=normal > "$DATA/my/install.log" 2>&1
mariadbd --no-defaults --datadir="$DATA/my/data" --user="$MYUSER" --bind-address=127.0.0.1 --port="$MY_PORT" \
  --socket="$DATA/my/sock" --pid-file="$DATA/my/pid" --skip-name-resolve --innodb-flush-log-at-trx-commit=0 \
  > "$DATA/my/log" 2>&1 &
for _ in $(seq 1 100); do
  mariadb --no-defaults -S "$DATA/my/sock" -u root -e "SELECT 1" > /dev/null 2>&1 && break
  sleep 0.2
done
mariadb --no-defaults -S "$DATA/my/sock" -u root << 'SQL'
CREATE DATABASE shop CHARACTER SET utf8mb4;
CREATE USER 'etl'@'127.0.0.1' IDENTIFIED BY 'etl-secret-pw';
GRANT ALL ON shop.* TO 'etl'@'127.0.0.1';
SQL
echo "sources ready: PostgreSQL $PG_PORT, MariaDB $MY_PORT"
export LAKEGATE_TEST_SRC_PG="postgres://etl@127.0.0.1:$PG_PORT/shop"
export LAKEGATE_TEST_SRC_MYSQL="mysql://etl@127.0.0.1:$MY_PORT/shop"
export LAKEGATE_TEST_SRC_PASSWORD="etl-secret-pw"
export LAKEGATE_TEST_REPLAY_PG="postgres://postgres@127.0.0.1:$PG_PORT/replay"
export LAKEGATE_TEST_REPLAY_PASSWORD="adminpw"
cd "$ROOT"
cargo test --locked --test it -- --ignored --test-threads 1 sources:: replay:: "$@"
