//! The lake served from object stores: S3 (moto, S3-compatible, path-style) and Azure Blob
//! (Azurite), started on loopback by tests/stores/run.sh, which sets LAKEGATE_TEST_S3 and
//! AZURITE_BLOB_STORAGE_URL and runs these ignored tests. Tables are written with delta-rs through
//! lakegate's store registration (conditional-put commits), served by the `lakegate` binary from
//! a config whose secrets are `file:` references, refreshed after a new commit, time-travelled,
//! and the secret never appears in the debug log.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;

fn batch(from: i64, n: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(from..from + n)),
            Arc::new(StringArray::from_iter_values(
                (from..from + n).map(|i| format!("n{i}")),
            )),
        ],
    )
    .unwrap()
}

async fn append(table: &lakegate::storage::LakeUrl, from: i64, n: i64) -> i64 {
    let t = match table.open_delta().await {
        Ok(t) => t,
        Err(_) => table.delta_or_new().await.unwrap(),
    };
    t.write(vec![batch(from, n)])
        .await
        .unwrap()
        .version()
        .unwrap()
}

/// The first column of every row.
async fn column<T: for<'a> tokio_postgres::types::FromSql<'a>>(
    c: &tokio_postgres::Client,
    sql: &str,
) -> Vec<T> {
    c.query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// A JSON array of integers.
fn json_ids(v: &serde_json::Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect()
}

async fn count(c: &tokio_postgres::Client, sql: &str) -> i64 {
    c.query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .get(0)
}

/// Writes two commits to `<lake>/gold/events`, serves the lake with the binary, checks rows,
/// time travel and refresh, and that `secret` is not in the log.
async fn serve_from(lake: &str, storage: BTreeMap<String, String>, secret: &str) {
    let table = lakegate::storage::LakeUrl::parse(lake)
        .unwrap()
        .with_options(&storage)
        .unwrap()
        .join("gold/events");
    assert_eq!(append(&table, 0, 100).await, 0);
    assert_eq!(append(&table, 100, 50).await, 1);

    let dir = tempfile::TempDir::new().unwrap();
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (port, http) = (free(), free());
    let mut yaml = format!(
        "lake: {lake}\nlisten: 127.0.0.1:{port}\nrefresh_interval: 200ms\n\
         http: {{listen: 127.0.0.1:{http}}}\nstorage:\n"
    );
    for (k, v) in &storage {
        yaml.push_str(&format!("  {k}: \"{v}\"\n"));
    }
    let config = dir.path().join("lakegate.yaml");
    std::fs::write(&config, yaml).unwrap();
    // `lakegate import` writes into the same store, credentials from the config's `storage:`.
    let parquet = dir.path().join("more.parquet");
    {
        let file = std::fs::File::create(&parquet).unwrap();
        let b = batch(1000, 40);
        let mut w =
            datafusion::parquet::arrow::ArrowWriter::try_new(file, b.schema(), None).unwrap();
        w.write(&b).unwrap();
        w.close().unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_lakegate"))
        .args(["import", "--config"])
        .arg(&config)
        .arg("silver.imported")
        .arg(&parquet)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("version 0"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let log = dir.path().join("server.log");
    let mut server = Command::new(env!("CARGO_BIN_EXE_lakegate"))
        .args(["--log", "debug", "serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let url = format!("host=127.0.0.1 port={port} user=tester dbname=lake");
    let start = Instant::now();
    let c = loop {
        if let Ok((c, conn)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
            tokio::spawn(conn);
            break c;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "server did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(count(&c, "SELECT count(*) FROM gold.events").await, 150);
    assert_eq!(
        count(&c, "SELECT count(*) FROM silver.imported WHERE id >= 1000").await,
        40
    );
    assert_eq!(
        count(&c, "SELECT count(*) FROM gold.events VERSION AS OF 0").await,
        100
    );
    assert_eq!(
        count(&c, "SELECT count(*) FROM gold.\"events$history\"").await,
        2
    );
    assert_eq!(
        count(&c, "SELECT sum(id) FROM gold.events WHERE name = 'n149'").await,
        149
    );

    // EXPLAIN ANALYZE reports the query's own object-store requests (the scan's reads).
    let requests = explain_requests(
        &c,
        "EXPLAIN ANALYZE SELECT count(*) FROM gold.events WHERE name = 'n3'",
    )
    .await;
    let gets = requests.get("get").copied().unwrap_or(0);
    assert!(gets > 0, "{requests:?}");
    // Planning's requests count too: TIMESTAMP AS OF lists the table's commits.
    let requests = explain_requests(
        &c,
        "EXPLAIN ANALYZE SELECT count(*) FROM gold.events FOR TIMESTAMP AS OF '2999-01-01'",
    )
    .await;
    assert!(
        requests.get("list").copied().unwrap_or(0) > 0,
        "{requests:?}"
    );

    // A third commit is served after a refresh.
    assert_eq!(append(&table, 150, 25).await, 2);
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&c, "SELECT count(*) FROM gold.events").await != 175 {
        assert!(Instant::now() < deadline, "new commit not served");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Requests to the store are counted per operation in /metrics.
    let metrics = {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", http)).unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).unwrap();
        body
    };
    let scheme = table.url().scheme();
    let requests = |op: &str| -> u64 {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("lakegate_object_store_requests_total{")
                    && l.contains(&format!("scheme=\"{scheme}\""))
                    && l.contains(&format!("op=\"{op}\""))
            })
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0)
    };
    assert!(requests("get") > 0 && requests("list") > 0, "{metrics}");
    let _ = server.kill();
    let _ = server.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.is_empty());
    assert!(
        !text.contains(secret),
        "the secret appears in the server log"
    );
}

/// The `Object store requests` row of an EXPLAIN ANALYZE, by operation.
async fn explain_requests(c: &tokio_postgres::Client, sql: &str) -> BTreeMap<String, u64> {
    let rows = c.simple_query(sql).await.unwrap();
    let line = rows
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r)
                if r.get(0) == Some("Object store requests") =>
            {
                r.get(1).map(str::to_string)
            }
            _ => None,
        })
        .expect("EXPLAIN ANALYZE has an object store requests row");
    eprintln!("{sql}: object store requests {line}");
    line.split(' ')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// moto's S3 options, the secret key given as a `file:` reference.
fn s3_options(endpoint: String, dir: &std::path::Path, secret: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("aws_endpoint".to_string(), endpoint),
        ("aws_region".to_string(), "us-east-1".to_string()),
        ("aws_access_key_id".to_string(), "testing".to_string()),
        (
            "aws_secret_access_key".to_string(),
            secret_file(dir, secret),
        ),
        ("aws_allow_http".to_string(), "true".to_string()),
    ])
}

fn emulator(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: run tests/stores/run.sh"))
}

fn secret_file(dir: &std::path::Path, value: &str) -> String {
    let p = dir.join("secret");
    std::fs::write(&p, value).unwrap();
    format!("file:{}", p.display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the S3 emulator: tests/stores/run.sh"]
async fn lake_served_from_s3() {
    let endpoint = emulator("LAKEGATE_TEST_S3");
    let dir = tempfile::TempDir::new().unwrap();
    let secret = "s3-secret-key-never-logged";
    let storage = s3_options(endpoint, dir.path(), secret);
    serve_from("s3://lake/warehouse", storage, secret).await;
}

/// The ingestion loop on an object-store lake: landing files in S3, `lakegate ingest --once`
/// writes bronze, quarantine and silver there (conditional-put commits), a changed watermark
/// re-ingests only its slice, and the lease is an object created and renewed with conditional
/// puts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the S3 emulator: tests/stores/run.sh"]
async fn ingestion_into_an_s3_lake() {
    use lakegate::ingest::{LakePath, Lease};
    let endpoint = emulator("LAKEGATE_TEST_S3");
    let dir = tempfile::TempDir::new().unwrap();
    let lake = format!("s3://lake/ingest{}", std::process::id());
    let storage = s3_options(endpoint, dir.path(), "testing");
    let root = LakePath::open(
        &lakegate::storage::LakeUrl::parse(&lake)
            .unwrap()
            .with_options(&storage)
            .unwrap(),
    )
    .unwrap();
    let deliver = |slice: &str, wm: &str, rows: &str| {
        let at = root.join(&format!("landing/orders/{slice}/{wm}"));
        let body = format!("id,day,status,amount\n{rows}");
        async move { at.write("orders.csv", body.into()).await.unwrap() }
    };
    deliver(
        "2026-01-01",
        "v1",
        "1,2026-01-01,new,10\n2,2026-01-01,paid,20\n3,2026-01-01,bogus,30\n",
    )
    .await;
    deliver("2026-01-02", "v1", "4,2026-01-02,new,40\n").await;

    let mut yaml = format!("lake: {lake}\nstorage:\n");
    for (k, v) in &storage {
        yaml.push_str(&format!("  {k}: \"{v}\"\n"));
    }
    yaml.push_str(
        "sources:\n  orders:\n    format: csv\n    slice_column: day\n    \
         schema: {id: bigint, day: date, status: text, amount: bigint}\n\
         silver:\n  orders:\n    from: orders\n    unique_key: [id]\n    expectations:\n      \
         - {name: known_status, expect: \"status IN ('new', 'paid')\", on_violation: quarantine}\n",
    );
    let config_path = dir.path().join("lakegate.yaml");
    std::fs::write(&config_path, &yaml).unwrap();
    let ingest = || {
        let out = Command::new(env!("CARGO_BIN_EXE_lakegate"))
            .args(["ingest", "--once", "--config"])
            .arg(&config_path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let first = ingest();
    assert!(
        first.contains("4 ok, 0 failed, 0 already current"),
        "{first}"
    );
    // The lease was released at the end of the run.
    assert!(
        root.join("_lakegate")
            .read("ingest.lease")
            .await
            .unwrap()
            .is_none()
    );
    // A new watermark of one slice: only that slice is ingested again.
    deliver(
        "2026-01-02",
        "v2",
        "4,2026-01-02,paid,41\n5,2026-01-02,new,50\n",
    )
    .await;
    let second = ingest();
    assert!(
        second.contains("2 ok, 0 failed, 1 already current"),
        "{second}"
    );

    let config = lakegate::config::Config::load(
        Some(&config_path),
        &Default::default(),
        lakegate::CONFIG_CHECKS,
    )
    .unwrap();
    let mut config = config;
    config.sources.clear();
    config.silver.clear();
    config.listen = "127.0.0.1:0".into();
    let server = lakegate::server::start(config).await.unwrap();
    let c = crate::common::connect_to(&server, "lake").await.unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM bronze.orders").await, 5);
    assert_eq!(count(&c, "SELECT count(*) FROM quarantine.orders").await, 1);
    let rows: Vec<(i64, String, i64)> = c
        .query(
            "SELECT id, status, amount FROM silver.orders ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        rows,
        vec![
            (1, "new".into(), 10),
            (2, "paid".into(), 20),
            (4, "paid".into(), 41),
            (5, "new".into(), 50)
        ]
    );

    // The lease in the bucket: one holder at a time, released, and a dead holder's taken over.
    let held = Lease::acquire(&root, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    let e = Lease::acquire(&root, Duration::from_secs(30), Duration::from_millis(600))
        .await
        .err()
        .expect("second writer refused")
        .to_string();
    assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
    held.release().await;
    let again = Lease::acquire(&root, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    again.release().await;
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let info = serde_json::json!({
        "host": lakegate::ingest::hostname(), "pid": dead, "token": "x", "heartbeat": 4102444800u64
    });
    root.join("_lakegate")
        .write("ingest.lease", info.to_string().into())
        .await
        .unwrap();
    Lease::acquire(&root, Duration::from_secs(30), Duration::ZERO)
        .await
        .expect("takes over a dead holder's lease")
        .release()
        .await;
    // Another host's expired lease: taken over only after the record has also stood still for
    // a heartbeat period by our own clock (TTL 3 s: heartbeats every 1 s, so over 2 s).
    let info = serde_json::json!({
        "host": "elsewhere", "pid": 1, "token": "theirs", "heartbeat": 0u64
    });
    root.join("_lakegate")
        .write("ingest.lease", info.to_string().into())
        .await
        .unwrap();
    let t0 = std::time::Instant::now();
    Lease::acquire(&root, Duration::from_secs(3), Duration::ZERO)
        .await
        .expect("takes over an expired lease")
        .release()
        .await;
    assert!(t0.elapsed() >= Duration::from_secs(2), "{:?}", t0.elapsed());
}

/// The same over TLS with a private CA: `ca_certificate` names the PEM file; without it the
/// store's certificate is not trusted and the lake does not load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the S3 emulator: tests/stores/run.sh"]
async fn lake_served_from_s3_over_tls_with_a_private_ca() {
    let endpoint = emulator("LAKEGATE_TEST_S3_TLS");
    let ca = emulator("LAKEGATE_TEST_CA");
    let dir = tempfile::TempDir::new().unwrap();
    let secret = "s3-tls-secret-never-logged";
    let mut storage = BTreeMap::from([
        ("aws_endpoint".to_string(), endpoint),
        ("aws_region".to_string(), "us-east-1".to_string()),
        ("aws_access_key_id".to_string(), "testing".to_string()),
        (
            "aws_secret_access_key".to_string(),
            secret_file(dir.path(), secret),
        ),
    ]);
    // Untrusted without the CA: the first listing fails with a certificate error.
    let (store, path) = lakegate::storage::LakeUrl::parse("s3://lake/tls")
        .unwrap()
        .with_options(&storage)
        .unwrap()
        .object_store()
        .unwrap();
    let e = store
        .list_with_delimiter(Some(&path))
        .await
        .expect_err("an untrusted certificate fails");
    assert!(
        format!("{e:?}").to_lowercase().contains("certificate"),
        "{e:?}"
    );
    storage.insert("ca_certificate".to_string(), ca);
    serve_from("s3://lake/tls", storage, secret).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Azurite: tests/stores/run.sh"]
async fn lake_served_from_azure_blob() {
    // object_store's emulator mode reads the endpoint from AZURITE_BLOB_STORAGE_URL.
    emulator("AZURITE_BLOB_STORAGE_URL");
    let dir = tempfile::TempDir::new().unwrap();
    // Azurite's well-known development key (public; it still must not be logged).
    let key =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    let storage = BTreeMap::from([
        (
            "azure_storage_account_name".to_string(),
            "devstoreaccount1".to_string(),
        ),
        (
            "azure_storage_account_key".to_string(),
            secret_file(dir.path(), key),
        ),
        ("azure_storage_use_emulator".to_string(), "true".to_string()),
    ]);
    serve_from("az://lake/warehouse", storage, key).await;
}

/// Google Cloud Storage on fake-gcs-server, read side: object_store's GCS client pointed at the
/// emulator by a service-account file with `gcs_base_url` and `disable_oauth` (as object_store's
/// own tests do). fake-gcs-server lacks the XML-API PUT object_store writes with, so the table is
/// written locally and uploaded through the JSON API; lakegate then discovers, scans, time-travels
/// and refreshes it from `gs://`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs fake-gcs-server: tests/stores/run.sh"]
async fn lake_served_from_google_cloud_storage() {
    let endpoint = emulator("LAKEGATE_TEST_GCS");
    let python = emulator("LAKEGATE_TEST_PYTHON");
    let dir = tempfile::TempDir::new().unwrap();
    let local = dir.path().join("local");
    let table = local.join("gold/events");
    std::fs::create_dir_all(&table).unwrap();
    let table_url = lakegate::storage::LakeUrl::parse(&table.to_string_lossy()).unwrap();
    append(&table_url, 0, 100).await;
    append(&table_url, 100, 50).await;
    let prefix = format!("gcs{}", std::process::id());
    // Uploads every file under `local` to gs://lake/<prefix>/ (JSON API, uploadType=media).
    let upload = || {
        let out = Command::new(&python)
            .arg("-c")
            .arg(
                "import os, sys, urllib.parse, urllib.request\n\
                 root, base, prefix = sys.argv[1:4]\n\
                 for d, _, files in os.walk(root):\n\
                 \x20   for f in files:\n\
                 \x20       p = os.path.join(d, f)\n\
                 \x20       name = prefix + '/' + os.path.relpath(p, root)\n\
                 \x20       url = f'{base}/upload/storage/v1/b/lake/o?uploadType=media&name=' + urllib.parse.quote(name, safe='')\n\
                 \x20       urllib.request.urlopen(urllib.request.Request(url, data=open(p, 'rb').read(), method='POST'))\n",
            )
            .arg(&local)
            .arg(&endpoint)
            .arg(&prefix)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    upload();

    let key = "gcs-private-key-never-logged";
    let account = dir.path().join("service-account.json");
    std::fs::write(
        &account,
        serde_json::json!({
            "gcs_base_url": endpoint,
            "disable_oauth": true,
            "client_email": "lakegate@test.iam.gserviceaccount.com",
            "private_key": key,
            "private_key_id": "test"
        })
        .to_string(),
    )
    .unwrap();
    let lake = dir.path().join("unused");
    let mut config = crate::common::config(&lake);
    config.lake = Some(format!("gs://lake/{prefix}"));
    config.storage = BTreeMap::from([(
        "google_service_account".to_string(),
        account.display().to_string(),
    )]);
    let server = lakegate::server::start(config).await.unwrap();
    let c = crate::common::connect_to(&server, "lake").await.unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM gold.events").await, 150);
    assert_eq!(
        count(&c, "SELECT sum(id) FROM gold.events WHERE name = 'n149'").await,
        149
    );
    assert_eq!(
        count(&c, "SELECT count(*) FROM gold.events VERSION AS OF 0").await,
        100
    );
    assert_eq!(
        count(&c, "SELECT count(*) FROM gold.\"events$history\"").await,
        2
    );
    let requests = explain_requests(
        &c,
        "EXPLAIN ANALYZE SELECT count(*) FROM gold.events WHERE name = 'n7'",
    )
    .await;
    assert!(
        requests.get("get").copied().unwrap_or(0) > 0,
        "{requests:?}"
    );
    // A third commit, uploaded, is served after a refresh.
    append(&table_url, 150, 25).await;
    upload();
    server.catalog.refresh().await.unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM gold.events").await, 175);
}

/// Azure with a container SAS token instead of the account key, and the lake given in ADLS
/// Gen2's `abfss://container@account.dfs.core.windows.net/path` form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Azurite: tests/stores/run.sh"]
async fn lake_served_from_azure_with_a_sas_token_and_an_abfss_url() {
    emulator("AZURITE_BLOB_STORAGE_URL");
    let sas = emulator("LAKEGATE_TEST_AZURE_SAS");
    let dir = tempfile::TempDir::new().unwrap();
    let storage = BTreeMap::from([
        (
            "azure_storage_account_name".to_string(),
            "devstoreaccount1".to_string(),
        ),
        (
            "azure_storage_sas_key".to_string(),
            secret_file(dir.path(), &sas),
        ),
        ("azure_storage_use_emulator".to_string(), "true".to_string()),
    ]);
    let sig = sas
        .split('&')
        .find_map(|kv| kv.strip_prefix("sig="))
        .expect("a SAS has a signature")
        .to_string();
    serve_from(
        "abfss://lake@devstoreaccount1.dfs.core.windows.net/sas",
        storage,
        &sig,
    )
    .await;
}

/// Literal secrets in `storage:` are refused at config load, naming the key.
#[test]
fn literal_storage_secrets_are_config_errors() {
    let e = lakegate::storage::check_options(&BTreeMap::from([(
        "aws_secret_access_key".to_string(),
        "plain".to_string(),
    )]))
    .unwrap_err();
    assert!(e.contains("storage.aws_secret_access_key"), "{e}");
    assert!(
        lakegate::storage::check_options(&BTreeMap::from([(
            "aws_access_key_id".to_string(),
            "AKIA".to_string(),
        )]))
        .is_ok()
    );
}

/// The pyiceberg SqlCatalog the writers make at `root` (sqlite, local warehouse), as a catalog.
fn sqlite_catalog(root: &std::path::Path) -> lakegate::config::IcebergCatalogConfig {
    lakegate::config::IcebergCatalogConfig {
        kind: "sql".into(),
        uri: format!("sqlite://{}/catalog.db", root.display()),
        warehouse: Some(format!("file://{}/warehouse", root.display())),
        catalog_name: Some("lakecat".into()),
        properties: Default::default(),
    }
}

/// Runs tests/stores/iceberg_writer.py into `root` (with `args`); returns the facts it prints.
fn write_iceberg(python: &str, root: &std::path::Path, args: &[&str]) -> serde_json::Value {
    run_writer(python, "iceberg_writer.py", root, args)
}

/// Runs the pyiceberg writer tests/stores/`script` into `root`; returns the facts it prints.
fn run_writer(
    python: &str,
    script: &str,
    root: &std::path::Path,
    args: &[&str],
) -> serde_json::Value {
    std::fs::create_dir_all(root).unwrap();
    let writer = format!("{}/tests/stores/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python)
        .arg(writer)
        .arg(root)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// tests/stores/iceberg_rest.py serving the SQL catalog at `root` over REST (bearer `token`,
/// or OAuth2 client `lakegate:client-secret`); killed when dropped.
struct RestCatalog {
    child: std::process::Child,
    uri: String,
}

impl RestCatalog {
    fn start(python: &str, root: &std::path::Path, token: &str) -> RestCatalog {
        use std::io::BufRead;
        let mut child = Command::new(python)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/stores/iceberg_rest.py"
            ))
            .arg(root)
            .arg(token)
            .arg("lakegate:client-secret")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut port = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        RestCatalog {
            child,
            uri: format!("http://127.0.0.1:{}", port.trim()),
        }
    }
}

impl Drop for RestCatalog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The same pyiceberg tables through the REST catalog protocol: tests/stores/iceberg_rest.py
/// serves the SQL catalog over REST with a bearer token and an OAuth2 client-credentials
/// endpoint. Both credential forms are served; a wrong token is a startup error naming the
/// catalog, within a bound (iceberg-rust's client must not hang on a 401).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs pyiceberg: tests/stores/run.sh"]
async fn iceberg_tables_from_a_rest_catalog() {
    let python = emulator("LAKEGATE_TEST_PYTHON");
    let dir = tempfile::TempDir::new().unwrap();
    let root = dir.path().join("ice");
    let facts = write_iceberg(&python, &root, &[]);
    let rest = RestCatalog::start(&python, &root, "tok-123");
    let uri = rest.uri.clone();

    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    let with = |props: &[(&str, String)]| {
        let mut config = crate::common::config(&lake);
        config.iceberg.catalogs.insert(
            "rest".into(),
            lakegate::config::IcebergCatalogConfig {
                kind: "rest".into(),
                uri: uri.clone(),
                warehouse: None,
                catalog_name: None,
                properties: props
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
            },
        );
        config
    };
    let secrets = dir.path().join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let secret = |name: &str, value: &str| {
        let p = secrets.join(name);
        std::fs::write(&p, value).unwrap();
        format!("file:{}", p.display())
    };

    // A wrong token or client secret fails the start, naming the catalog, and does not hang.
    for props in [
        [("token", secret("bad", "bad-token-8f3a"))],
        [("credential", secret("badcred", "lakegate:bad-token-8f3a"))],
    ] {
        let e = tokio::time::timeout(
            Duration::from_secs(60),
            lakegate::server::start(with(&props)),
        )
        .await
        .expect("start with a wrong credential must not hang")
        .err()
        .expect("wrong credential fails start");
        assert!(e.to_string().contains("iceberg catalog rest"), "{e}");
        assert!(
            !e.to_string().contains("bad-token-8f3a"),
            "secret in error: {e}"
        );
    }

    for props in [
        vec![("token", secret("token", "tok-123"))],
        vec![("credential", secret("cred", "lakegate:client-secret"))],
    ] {
        let server = tokio::time::timeout(
            Duration::from_secs(60),
            lakegate::server::start(with(&props)),
        )
        .await
        .expect("start must not hang")
        .unwrap();
        let c = crate::common::connect_to(&server, "lake").await.unwrap();
        check_iceberg(&c, "rest_sales", &facts).await;
    }
}

/// What every route to the pyiceberg tables must answer, in schema `schema`: the current
/// orders, the merge-on-read deletes, partition evolution, a snapshot id, the listing.
async fn check_iceberg(c: &tokio_postgres::Client, schema: &str, facts: &serde_json::Value) {
    let row = c
        .query_one(
            &format!("SELECT count(*), sum(total) FROM {schema}.orders"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), facts["rows"].as_i64().unwrap());
    assert_eq!(row.get::<_, f64>(1), facts["sum_total"].as_f64().unwrap());
    let got: Vec<i64> = column(c, &format!("SELECT id FROM {schema}.mor ORDER BY id")).await;
    let want = json_ids(&facts["mor"]["ids"]);
    assert_eq!(got, want);
    assert_eq!(
        count(
            c,
            &format!("SELECT count(*) FROM {schema}.events WHERE region = 'EU'")
        )
        .await,
        facts["events"]["eu"].as_i64().unwrap()
    );
    let before = facts["after_second_append"].as_i64().unwrap();
    assert_eq!(
        count(
            c,
            &format!("SELECT count(*) FROM {schema}.orders FOR VERSION AS OF {before}")
        )
        .await,
        5
    );
    assert_eq!(
        count(c, &format!("SELECT count(*) FROM {schema}.\"mor$files\"")).await,
        facts["mor"]["file_contents"].as_array().unwrap().len() as i64
    );
    assert_eq!(
        count(
            c,
            &format!(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = '{schema}'"
            )
        )
        .await,
        5
    );
    // A dropped column is gone from every file's rows, old ones included.
    let d = &facts["dropped"];
    let row = c
        .query_one(
            &format!("SELECT count(*), sum(c) FROM {schema}.dropped"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, f64>(1)),
        (d["rows"].as_i64().unwrap(), d["sum_c"].as_f64().unwrap())
    );
    let columns: Vec<String> = column(&c, &format!(
                "SELECT column_name FROM information_schema.columns \
                 WHERE table_schema = '{schema}' AND table_name = 'dropped' ORDER BY ordinal_position"
            )).await;
    let want: Vec<String> = d["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(columns, want);
}

/// The SQL catalog on PostgreSQL (sqlx's postgres driver, `$1` binds) instead of sqlite: the
/// same pyiceberg tables, written through SQLAlchemy/psycopg2 into a throwaway PostgreSQL 15.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL and pyiceberg: tests/stores/run.sh"]
async fn iceberg_sql_catalog_on_postgresql() {
    let python = emulator("LAKEGATE_TEST_PYTHON");
    let pg = emulator("LAKEGATE_TEST_PG");
    let dir = tempfile::TempDir::new().unwrap();
    let root = dir.path().join("ice");
    std::fs::create_dir_all(&root).unwrap();
    let facts = write_iceberg(&python, &root, &["--pg", &pg]);
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    let mut config = crate::common::config(&lake);
    config.iceberg.catalogs.insert(
        "pg".into(),
        lakegate::config::IcebergCatalogConfig {
            kind: "sql".into(),
            uri: pg,
            warehouse: Some(format!("file://{}/warehouse", root.display())),
            catalog_name: Some("lakecat".into()),
            properties: Default::default(),
        },
    );
    let server = lakegate::server::start(config).await.unwrap();
    let c = crate::common::connect_to(&server, "lake").await.unwrap();
    check_iceberg(&c, "pg_sales", &facts).await;
}

/// An Iceberg warehouse in S3 (moto): pyiceberg writes it through pyarrow's S3 filesystem;
/// lakegate reads it through its own object stores (`storage::iceberg_io`) with the lake's
/// `storage:` options, from the SQL catalog and from a metadata file in the bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the S3 emulator and pyiceberg: tests/stores/run.sh"]
async fn iceberg_warehouse_in_s3() {
    let python = emulator("LAKEGATE_TEST_PYTHON");
    let endpoint = emulator("LAKEGATE_TEST_S3");
    let dir = tempfile::TempDir::new().unwrap();
    let root = dir.path().join(format!("ice{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let facts = write_iceberg(&python, &root, &["--s3", &endpoint]);
    let metadata = facts["metadata_location"].as_str().unwrap().to_string();
    assert!(metadata.starts_with("s3://lake/"), "{metadata}");

    let lake = dir.path().join("lake");
    std::fs::create_dir_all(lake.join("gold")).unwrap();
    let mut config = crate::common::config(&lake);
    config.storage = s3_options(endpoint, dir.path(), "testing");
    config.iceberg.catalogs.insert(
        "s3ice".into(),
        lakegate::config::IcebergCatalogConfig {
            kind: "sql".into(),
            uri: format!("sqlite://{}/catalog.db", root.display()),
            warehouse: Some(format!(
                "s3://lake/{}",
                root.file_name().unwrap().to_string_lossy()
            )),
            catalog_name: Some("lakecat".into()),
            properties: Default::default(),
        },
    );
    config
        .iceberg
        .tables
        .insert("gold.orders_s3".into(), metadata);
    let server = lakegate::server::start(config).await.unwrap();
    let c = crate::common::connect_to(&server, "lake").await.unwrap();
    // The second read of an unchanged table takes its manifest list and manifests from the
    // cached table state: fewer GETs than the first (process-wide counts; this test runs alone).
    let s3_gets = || {
        lakegate::metrics::metrics()
            .object_store_requests
            .get_or_create(&lakegate::metrics::StoreOp {
                scheme: "s3".into(),
                op: "get".into(),
            })
            .get()
    };
    let mut gets = Vec::new();
    for _ in 0..2 {
        let before = s3_gets();
        assert_eq!(
            count(&c, "SELECT count(*) FROM s3ice_sales.mor WHERE id > 3").await,
            facts["mor"]["ids"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|v| v.as_i64().unwrap() > 3)
                .count() as i64
        );
        gets.push(s3_gets() - before);
    }
    eprintln!("iceberg on S3: GETs of a cold and a warm query {gets:?}");
    assert!(gets[1] < gets[0], "{gets:?}");
    // Pruning by partition and file metrics: a filter on the day(ts) partition source reads
    // fewer files than the whole table (both warm; spec-1 files drop out on their ts bounds).
    let mut scans = Vec::new();
    for sql in [
        "SELECT count(*), max(id) FROM s3ice_sales.events",
        "SELECT count(*), max(id) FROM s3ice_sales.events WHERE ts >= TIMESTAMP '2026-01-04 00:00:00'",
    ] {
        c.query_one(sql, &[]).await.unwrap();
        let before = s3_gets();
        c.query_one(sql, &[]).await.unwrap();
        scans.push(s3_gets() - before);
    }
    eprintln!("iceberg on S3: GETs of a full and a pruned scan {scans:?}");
    assert!(scans[1] < scans[0], "{scans:?}");
    check_iceberg(&c, "s3ice_sales", &facts).await;
    assert_eq!(
        count(&c, "SELECT count(*) FROM gold.orders_s3").await,
        facts["rows"].as_i64().unwrap()
    );
    assert_eq!(
        count(&c, "SELECT count(*) FROM gold.\"orders_s3$history\"").await,
        facts["history"].as_i64().unwrap()
    );
    let sql = "EXPLAIN ANALYZE SELECT count(*) FROM s3ice_sales.mor WHERE id > 3";
    let first = explain_requests(&c, sql).await;
    assert!(first.get("get").copied().unwrap_or(0) > 0, "{first:?}");
    // Again: the table's metadata file is unchanged, so its manifest list and manifests come
    // from the cached state; only the metadata file and the data and delete files are read.
    let again = explain_requests(&c, sql).await;
    eprintln!("iceberg on S3, EXPLAIN ANALYZE: {first:?}, then {again:?}");
}

/// Iceberg tables written by pyiceberg (SqlCatalog on sqlite, local warehouse): appends, a
/// copy-on-write delete, a renamed and an added column, an empty table; served as schema
/// `ice_sales` from the catalog and as `gold.orders_v5` from its metadata file; a table created
/// while serving appears after a refresh. Needs LAKEGATE_TEST_PYTHON (a Python with pyiceberg),
/// set by tests/stores/run.sh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs pyiceberg: tests/stores/run.sh"]
async fn iceberg_tables_from_a_sql_catalog_and_a_metadata_file() {
    let python = emulator("LAKEGATE_TEST_PYTHON");
    let dir = tempfile::TempDir::new().unwrap();
    let root = dir.path().join("ice");
    let facts = write_iceberg(&python, &root, &[]);
    let writer = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/stores/iceberg_writer.py"
    );

    let lake = dir.path().join("lake");
    std::fs::create_dir_all(lake.join("gold")).unwrap();
    let mut config = crate::common::config(&lake);
    config
        .iceberg
        .catalogs
        .insert("ice".into(), sqlite_catalog(&root));
    config.iceberg.tables.insert(
        "gold.orders_v5".into(),
        facts["metadata_location"].as_str().unwrap().to_string(),
    );
    // A catalog that cannot be read is a startup error naming it.
    let mut broken = config.clone();
    broken.iceberg.catalogs.get_mut("ice").unwrap().uri =
        format!("sqlite://{}/missing/catalog.db", root.display());
    let e = lakegate::server::start(broken)
        .await
        .err()
        .expect("unreadable catalog fails start");
    assert!(e.to_string().contains("iceberg catalog ice"), "{e}");

    let server = lakegate::server::start(config).await.unwrap();
    let c = crate::common::connect_to(&server, "lake").await.unwrap();

    // Current snapshot: the delete applied, the renamed column read by field id for old files.
    let row = c
        .query_one("SELECT count(*), sum(total) FROM ice_sales.orders", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), facts["rows"].as_i64().unwrap());
    assert_eq!(row.get::<_, f64>(1), facts["sum_total"].as_f64().unwrap());
    let got: Vec<i64> = column(&c, "SELECT id FROM ice_sales.orders ORDER BY id").await;
    let want = json_ids(&facts["ids"]);
    assert_eq!(got, want);
    let rows = c
        .query(
            "SELECT id, total, note FROM ice_sales.orders WHERE id IN (1, 6) ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(i64, f64, Option<String>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(got, vec![(1, 10.0, None), (6, 60.0, Some("late".into()))]);
    // Predicate pushdown still answers right.
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM ice_sales.orders WHERE region = 'EU' AND total > 15"
        )
        .await,
        2
    );
    assert_eq!(count(&c, "SELECT count(*) FROM ice_sales.empty").await, 0);
    // The metadata-file table, in a Delta zone.
    assert_eq!(count(&c, "SELECT count(*) FROM gold.orders_v5").await, 5);
    // Listed where BI tools look.
    let listed: Vec<String> = column(
        &c,
        "SELECT table_schema || '.' || table_name FROM information_schema.tables \
             WHERE table_schema IN ('ice_sales', 'gold') ORDER BY 1",
    )
    .await;
    assert_eq!(
        listed,
        vec![
            "gold.orders_v5",
            "ice_sales.dropped",
            "ice_sales.empty",
            "ice_sales.events",
            "ice_sales.mor",
            "ice_sales.orders"
        ]
    );
    // Time travel by snapshot id: before the delete and the schema change (old column name).
    let before = facts["after_second_append"].as_i64().unwrap();
    let row = c
        .query_one(
            &format!(
                "SELECT count(*), sum(amount) FROM ice_sales.orders FOR VERSION AS OF {before}"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, f64>(1)), (5, 150.0));
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM ice_sales.orders FOR TIMESTAMP AS OF '2999-01-01 00:00:00'"
        )
        .await,
        facts["rows"].as_i64().unwrap()
    );
    let e = c
        .query("SELECT * FROM ice_sales.orders VERSION AS OF 42", &[])
        .await
        .unwrap_err();
    assert_eq!(
        e.code().map(|c| c.code().to_string()),
        Some("22023".into()),
        "{e:?}"
    );
    // Iceberg's snapshots metadata table: the four snapshots pyiceberg wrote.
    assert_eq!(
        count(&c, "SELECT count(*) FROM ice_sales.\"orders$snapshots\"").await,
        facts["snapshots"].as_array().unwrap().len() as i64
    );

    // Branches and tags by name: the tag on the second append (old column name), the audit
    // branch with a row main does not have; an unknown name is 22023.
    let row = c
        .query_one(
            "SELECT count(*), sum(amount) FROM ice_sales.orders FOR VERSION AS OF 'first_two'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, f64>(1)), (5, 150.0));
    assert_eq!(
        count(&c, "SELECT count(*) FROM ice_sales.\"orders@ref:audit\"").await,
        facts["audit_rows"].as_i64().unwrap()
    );
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM ice_sales.orders WHERE note = 'audit'"
        )
        .await,
        0
    );
    let e = c
        .query(
            "SELECT * FROM ice_sales.orders FOR VERSION AS OF 'nope'",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(e.code().map(|c| c.code().to_string()), Some("22023".into()));
    assert!(
        format!("{e:?}").contains("no branch or tag \\\"nope\\\""),
        "{e:?}"
    );
    // $history (main's snapshot log, newest first) and $files, from the catalog and from the
    // metadata file alike.
    for t in ["ice_sales.\"orders$history\"", "gold.\"orders_v5$history\""] {
        let rows = c
            .query(
                &format!("SELECT version, operation, is_current_ancestor FROM {t}"),
                &[],
            )
            .await
            .unwrap();
        assert_eq!(rows.len() as i64, facts["history"].as_i64().unwrap(), "{t}");
        let newest: i64 = rows[0].get(0);
        assert_eq!(
            Some(newest),
            facts["snapshots"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .find(|id| *id == newest),
        );
        assert_eq!(rows[0].get::<_, String>(1), "append");
        assert!(rows.iter().all(|r| r.get::<_, bool>(2)), "{t}");
    }
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM ice_sales.\"orders$files\" WHERE content = 0"
        )
        .await,
        facts["files"].as_i64().unwrap()
    );

    // Merge-on-read deletes: a position delete file and an equality delete file, then a
    // re-insert of an equality-deleted key, which stays (newer sequence number).
    let mor = &facts["mor"];
    let got: Vec<i64> = column(&c, "SELECT id FROM ice_sales.mor ORDER BY id").await;
    let want = json_ids(&mor["ids"]);
    assert_eq!(got, want);
    assert_eq!(
        c.query_one("SELECT name FROM ice_sales.mor WHERE id = 7", &[])
            .await
            .unwrap()
            .get::<_, String>(0),
        "again"
    );
    assert_eq!(
        count(&c, "SELECT count(*) FROM ice_sales.mor WHERE id > 5").await,
        want.iter().filter(|i| **i > 5).count() as i64
    );
    let contents: Vec<i32> = column(
        &c,
        "SELECT content FROM ice_sales.\"mor$files\" ORDER BY content",
    )
    .await;
    let want: Vec<i32> = mor["file_contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap() as i32)
        .collect();
    assert_eq!(contents, want);
    let row = c
        .query_one(
            "SELECT position_delete_file_count, equality_delete_record_count \
             FROM ice_sales.\"mor$partitions\"",
            &[],
        )
        .await
        .unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (1, 2));

    // Partition evolution: identity(region), then day(ts); filters on either column answer
    // across both specs.
    let ev = &facts["events"];
    assert_eq!(
        count(&c, "SELECT count(*) FROM ice_sales.events").await,
        ev["rows"].as_i64().unwrap()
    );
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM ice_sales.events WHERE region = 'EU'"
        )
        .await,
        ev["eu"].as_i64().unwrap()
    );
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM ice_sales.events WHERE ts >= TIMESTAMP '2026-01-03 00:00:00'"
        )
        .await,
        ev["from_jan3"].as_i64().unwrap()
    );
    let row = c
        .query_one(
            "SELECT count(*), count(DISTINCT spec_id), sum(record_count) \
             FROM ice_sales.\"events$partitions\"",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<_, i64>(0),
            row.get::<_, i64>(1),
            row.get::<_, i64>(2)
        ),
        (
            ev["partitions"].as_i64().unwrap(),
            2,
            ev["rows"].as_i64().unwrap()
        )
    );

    // A table created while serving appears after the next refresh.
    let out = Command::new(&python)
        .arg(writer)
        .arg(&root)
        .arg("more")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let c = crate::common::connect_to(&server, "lake").await.unwrap();
        if let Ok(r) = c
            .query_one("SELECT count(*) FROM ice_sales.more", &[])
            .await
        {
            assert_eq!(r.get::<_, i64>(0), 2);
            break;
        }
        assert!(Instant::now() < deadline, "new iceberg table not served");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Rows of `sql` as the simple protocol sends them: column names, and each value as text (a
/// JSON object where `like` — the expected row — has one: structs are sent as JSON).
async fn text_rows(
    c: &tokio_postgres::Client,
    sql: &str,
    like: &[serde_json::Value],
) -> (Vec<String>, Vec<Vec<serde_json::Value>>) {
    use serde_json::Value;
    let mut columns = Vec::new();
    let mut rows = Vec::new();
    for m in c
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
    {
        match m {
            tokio_postgres::SimpleQueryMessage::RowDescription(cols) => {
                columns = cols.iter().map(|c| c.name().to_string()).collect();
            }
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                let row = (0..r.len())
                    .map(|i| match r.get(i) {
                        None => Value::Null,
                        Some(t) if like.get(i).is_some_and(Value::is_object) => {
                            serde_json::from_str(t).unwrap_or_else(|e| panic!("{sql}: {t}: {e}"))
                        }
                        Some(t) => Value::String(t.to_string()),
                    })
                    .collect();
                rows.push(row);
            }
            _ => {}
        }
    }
    (columns, rows)
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn json_rows(v: &serde_json::Value) -> Vec<Vec<serde_json::Value>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().clone())
        .collect()
}

/// One evolved table `t` (schema-qualified) against what pyiceberg read: the current schema and
/// rows, a projection in another order with a pushed-down filter, the listing, each snapshot
/// with its own schema, a tag (its snapshot's schema) and a branch (the current schema), and
/// the metadata tables.
async fn check_evolved(c: &tokio_postgres::Client, t: &str, facts: &serde_json::Value) {
    let columns = strings(&facts["columns"]);
    let rows = json_rows(&facts["rows"]);
    let like = rows[0].clone();
    let got = text_rows(c, &format!("SELECT * FROM {t} ORDER BY id"), &like).await;
    assert_eq!(got, (columns.clone(), rows.clone()), "{t}");
    // The columns backwards, rows with id >= 2: every column named, the filter pushed down.
    let id = columns.iter().position(|c| c == "id").unwrap();
    let backwards: Vec<usize> = (0..columns.len()).rev().collect();
    let want_rows: Vec<Vec<serde_json::Value>> = rows
        .iter()
        .filter(|r| r[id].as_str().unwrap().parse::<i64>().unwrap() >= 2)
        .map(|r| backwards.iter().map(|&i| r[i].clone()).collect())
        .collect();
    let want_like: Vec<serde_json::Value> = backwards.iter().map(|&i| like[i].clone()).collect();
    let list = backwards
        .iter()
        .map(|&i| columns[i].clone())
        .collect::<Vec<_>>()
        .join(", ");
    let got = text_rows(
        c,
        &format!("SELECT {list} FROM {t} WHERE id >= 2 ORDER BY id"),
        &want_like,
    )
    .await;
    assert_eq!(got.1, want_rows, "{t}: {list}");
    let (schema, name) = t.split_once('.').unwrap();
    let listed: Vec<String> = column(
        c,
        &format!(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = '{schema}' AND table_name = '{name}' ORDER BY ordinal_position"
        ),
    )
    .await;
    assert_eq!(listed, columns, "{t}");
    let snapshots = facts["snapshots"].as_array().unwrap();
    for s in snapshots {
        let id = s["id"].as_i64().unwrap();
        let rows = json_rows(&s["rows"]);
        let got = text_rows(
            c,
            &format!("SELECT * FROM {t} FOR VERSION AS OF {id} ORDER BY id"),
            &rows[0],
        )
        .await;
        assert_eq!(got, (strings(&s["columns"]), rows), "{t} at snapshot {id}");
    }
    for (name, r) in facts["refs"].as_object().unwrap() {
        let rows = json_rows(&r["rows"]);
        let got = text_rows(
            c,
            &format!("SELECT * FROM {t} FOR VERSION AS OF '{name}' ORDER BY id"),
            &rows[0],
        )
        .await;
        assert_eq!(got, (strings(&r["columns"]), rows), "{t} at {name}");
    }
    assert_eq!(
        count(
            c,
            &format!("SELECT count(*) FROM {schema}.\"{name}$snapshots\"")
        )
        .await,
        snapshots.len() as i64,
        "{t}"
    );
    assert_eq!(
        count(
            c,
            &format!("SELECT count(*) FROM {schema}.\"{name}$files\"")
        )
        .await,
        facts["files"].as_i64().unwrap(),
        "{t}"
    );
}

/// Schema evolution, each change both after the last write (the current schema newer than every
/// data file) and before one more write, read as Iceberg readers must: the current table with
/// the current schema, data files mapped by field id (a renamed column reads old files, an
/// added one reads NULL or its initial default, a widened type reads narrow files widened), a
/// snapshot with its own schema. The same tables from the SQL catalog, from the REST catalog
/// and from their metadata files; the expected rows are pyiceberg's own reads
/// (tests/stores/iceberg_evolution.py).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs pyiceberg: tests/stores/run.sh"]
async fn iceberg_schema_evolution_matrix() {
    let python = emulator("LAKEGATE_TEST_PYTHON");
    let dir = tempfile::TempDir::new().unwrap();
    let root = dir.path().join("ice");
    std::fs::create_dir_all(&root).unwrap();
    let facts = run_writer(&python, "iceberg_evolution.py", &root, &[]);
    let tables = facts.as_object().unwrap();
    assert_eq!(tables.len(), 20);
    let rest = RestCatalog::start(&python, &root, "tok-evo");

    let lake = dir.path().join("lake");
    std::fs::create_dir_all(lake.join("gold")).unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "tok-evo").unwrap();
    let mut config = crate::common::config(&lake);
    config
        .iceberg
        .catalogs
        .insert("ice".into(), sqlite_catalog(&root));
    config.iceberg.catalogs.insert(
        "rest".into(),
        lakegate::config::IcebergCatalogConfig {
            kind: "rest".into(),
            uri: rest.uri.clone(),
            warehouse: None,
            catalog_name: None,
            properties: [("token".to_string(), format!("file:{}", token.display()))].into(),
        },
    );
    for (name, t) in tables {
        config.iceberg.tables.insert(
            format!("gold.{name}"),
            t["metadata_location"].as_str().unwrap().to_string(),
        );
    }
    let server = lakegate::server::start(config).await.unwrap();
    let c = crate::common::connect_to(&server, "lake").await.unwrap();
    for (name, t) in tables {
        for schema in ["ice_evo", "rest_evo", "gold"] {
            check_evolved(&c, &format!("{schema}.{name}"), t).await;
        }
    }
    // A data file gone from storage: 58030 with the file's path on one line (not iceberg's
    // debug text), for every route, and the server goes on.
    let file: String = column(
        &c,
        "SELECT file_path FROM ice_evo.\"rename_after$files\" ORDER BY file_path LIMIT 1",
    )
    .await
    .remove(0);
    std::fs::remove_file(file.strip_prefix("file://").unwrap_or(&file)).unwrap();
    for t in [
        "ice_evo.rename_after",
        "rest_evo.rename_after",
        "gold.rename_after",
    ] {
        let e = c
            .simple_query(&format!("SELECT * FROM {t}"))
            .await
            .unwrap_err();
        let db = e.as_db_error().unwrap_or_else(|| panic!("{t}: {e:?}"));
        assert_eq!(db.code().code(), "58030", "{t}: {db:?}");
        let name = file.rsplit('/').next().unwrap();
        assert!(db.message().contains(name), "{t}: {}", db.message());
        assert!(!db.message().contains('\n'), "{t}: {}", db.message());
        assert!(!db.message().contains("=>"), "{t}: {}", db.message());
    }
    assert_eq!(
        count(&c, "SELECT count(*) FROM ice_evo.rename_before").await,
        3
    );
}

/// Storage options belong to the lake they were given for: two lakes on two S3 endpoints with
/// two access keys, opened in one process, interleaved, each reach only their own endpoint and
/// sign with their own key (once a process-wide setting, where the last configured won). The
/// endpoints are two loopback listeners that record each request's signing key and answer 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_lakes_in_one_process_keep_their_own_storage_options() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    type Seen = Arc<std::sync::Mutex<Vec<String>>>;
    async fn endpoint() -> (String, Seen) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = format!("http://{}", listener.local_addr().unwrap());
        let seen: Seen = Default::default();
        let s2 = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let seen = s2.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    let Ok(n) = sock.read(&mut buf).await else {
                        return;
                    };
                    let head = String::from_utf8_lossy(&buf[..n]).to_lowercase();
                    // AWS SigV4: `authorization: AWS4-HMAC-SHA256 Credential=<key id>/<date>/…`
                    let key = head
                        .split("credential=")
                        .nth(1)
                        .and_then(|r| r.split('/').next())
                        .unwrap_or("unsigned")
                        .to_string();
                    seen.lock().unwrap().push(key);
                    let body = "<Error><Code>NoSuchKey</Code></Error>";
                    let _ = sock
                        .write_all(
                            format!(
                                "HTTP/1.1 404 Not Found\r\ncontent-length: {}\r\n\
                                 connection: close\r\n\r\n{body}",
                                body.len()
                            )
                            .as_bytes(),
                        )
                        .await;
                });
            }
        });
        (at, seen)
    }
    let ((a_at, a_seen), (b_at, b_seen)) = (endpoint().await, endpoint().await);
    let lake = |name: &str, at: &str, key: &str| {
        let options = BTreeMap::from([
            ("aws_endpoint".to_string(), at.to_string()),
            ("aws_region".to_string(), "us-east-1".to_string()),
            ("aws_allow_http".to_string(), "true".to_string()),
            ("aws_access_key_id".to_string(), key.to_string()),
            ("aws_secret_access_key".to_string(), "${HOME}".to_string()),
        ]);
        lakegate::storage::LakeUrl::parse(&format!("s3://{name}/lake"))
            .unwrap()
            .with_options(&options)
            .unwrap()
    };
    let a = lake("bucket-a", &a_at, "key-of-lake-a");
    let b = lake("bucket-b", &b_at, "key-of-lake-b");
    for l in [&a, &b, &a] {
        // Nothing is there: each open fails at its own endpoint, fast (a 404 is not retried).
        let opened = tokio::time::timeout(
            Duration::from_secs(20),
            l.join("silver/orders").open_delta(),
        )
        .await
        .expect("the lake's own endpoint answers");
        assert!(opened.is_err());
        let (store, path) = l.join("gold").object_store().unwrap();
        let _ = store.list_with_delimiter(Some(&path)).await;
    }
    let a_seen = a_seen.lock().unwrap().clone();
    let b_seen = b_seen.lock().unwrap().clone();
    assert!(!a_seen.is_empty() && !b_seen.is_empty());
    assert!(a_seen.iter().all(|k| k == "key-of-lake-a"), "{a_seen:?}");
    assert!(b_seen.iter().all(|k| k == "key-of-lake-b"), "{b_seen:?}");
    // Debug output names the option keys, never their values.
    let shown = format!("{a:?}");
    assert!(
        shown.contains("aws_access_key_id") && !shown.contains("key-of-lake-a"),
        "{shown}"
    );
}
