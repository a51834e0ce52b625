#!/usr/bin/env bash
# Object-store and Iceberg tier: starts Azurite (Azure Blob, npm) and moto (S3-compatible,
# PyPI) on loopback, creates the `lake` container and bucket, and runs the ignored `stores`
# tests against them; the Iceberg test writes its tables with pyiceberg from the same venv.
# Emulators and their installs are cached in ~/.cache/lakegate-stores.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${LAKEGATE_STORES_CACHE:-$HOME/.cache/lakegate-stores}
mkdir -p "$CACHE"
if [ ! -x "$CACHE/node_modules/.bin/azurite-blob" ]; then
  echo "installing azurite (npm)"
  (cd "$CACHE" && npm install --silent --no-audit --no-fund azurite@3 > /dev/null)
fi
if [ ! -x "$CACHE/venv/bin/moto_server" ] || ! "$CACHE/venv/bin/python" -c "import azure.storage.blob, pyiceberg, pyiceberg_core" 2> /dev/null; then
  echo "installing moto[server], azure-storage-blob and pyiceberg (PyPI)"
  python3 -m venv "$CACHE/venv"
  "$CACHE/venv/bin/pip" install -q "moto[server]" azure-storage-blob "pyiceberg[sql-sqlite,pyarrow,pyiceberg-core]"
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
AZ_PORT=$(free_port)
S3_PORT=$(free_port)
S3_TLS_PORT=$(free_port)
DATA=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
  wait 2> /dev/null || true
  rm -rf "$DATA" 2> /dev/null || true
}
trap cleanup EXIT
"$CACHE/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$AZ_PORT" --location "$DATA/azurite" \
  --skipApiVersionCheck --loose --disableTelemetry > "$DATA/azurite.log" 2>&1 &
pids+=($!)
"$CACHE/venv/bin/moto_server" -H 127.0.0.1 -p "$S3_PORT" > "$DATA/moto.log" 2>&1 &
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
"$CACHE/venv/bin/python" - "$AZ_PORT" "$S3_PORT" "$S3_TLS_PORT" "$TLS/ca.pem" << 'PY'
import ssl, sys, time, urllib.request
from azure.storage.blob import BlobServiceClient
az, s3, s3tls, ca = sys.argv[1:5]
key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
conn = (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={key};"
        f"BlobEndpoint=http://127.0.0.1:{az}/devstoreaccount1;")
for attempt in range(100):
    try:
        BlobServiceClient.from_connection_string(conn).create_container("lake")
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{s3}/lake", method="PUT"))
        urllib.request.urlopen(urllib.request.Request(f"https://127.0.0.1:{s3tls}/lake", method="PUT"),
                               context=ssl.create_default_context(cafile=ca))
        break
    except Exception as e:
        if attempt == 99:
            raise
        time.sleep(0.2)
print("emulators ready: Azurite", az, "moto", s3, "moto over TLS", s3tls)
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
export LAKEGATE_TEST_CA="$TLS/ca.pem"
export LAKEGATE_TEST_PYTHON="$CACHE/venv/bin/python"
cd "$ROOT"
cargo test --locked --test it stores:: -- --ignored --test-threads 1 "$@"
