use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use deltalake::protocol::SaveMode;
use lakegate::config::Config;
use lakegate::server::{RunningServer, start};
use tempfile::TempDir;
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::{Client, NoTls};

pub struct TestServer {
    pub server: RunningServer,
    pub lake: PathBuf,
    _dir: Option<TempDir>,
    _kept: Option<PathBuf>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(p) = &self._kept {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

impl TestServer {
    pub fn from_parts(server: RunningServer, lake: PathBuf, dir: PathBuf) -> TestServer {
        TestServer {
            server,
            lake,
            _dir: None,
            _kept: Some(dir),
        }
    }

    pub async fn connect(&self) -> Client {
        connect_to(&self.server, "lake").await.expect("connect")
    }

    pub fn url(&self, db: &str) -> String {
        format!(
            "host={} port={} user=tester dbname={db}",
            self.server.addr.ip(),
            self.server.addr.port()
        )
    }
}

/// A client of a server given as `postgres://user@host:port/db`, with `password`.
pub async fn pg_client(url: &str, password: &str) -> Client {
    let url = url::Url::parse(url).unwrap();
    let conn = format!(
        "host={} port={} user={} password={password} dbname={}",
        url.host_str().unwrap(),
        url.port().unwrap(),
        url.username(),
        url.path().trim_start_matches('/')
    );
    let (client, connection) = tokio_postgres::connect(&conn, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

pub async fn connect_to(server: &RunningServer, db: &str) -> Result<Client, tokio_postgres::Error> {
    let url = format!(
        "host={} port={} user=tester dbname={db}",
        server.addr.ip(),
        server.addr.port()
    );
    let (client, conn) = tokio_postgres::connect(&url, NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

pub fn config(lake: &Path) -> Config {
    Config {
        lake: Some(lake.to_string_lossy().into_owned()),
        listen: "127.0.0.1:0".into(),
        refresh_interval: Duration::from_millis(200),
        shutdown_timeout: Duration::from_secs(2),
        ..Config::default()
    }
}

/// A server over a fresh copy of the demo lake.
pub async fn demo_server() -> TestServer {
    let dir = TempDir::new().expect("temp dir");
    let lake = lakegate::demo::write_demo_lake(&dir.path().join("lake"), false)
        .await
        .expect("demo lake");
    let server = start(config(&lake)).await.expect("server starts");
    TestServer {
        server,
        lake,
        _dir: Some(dir),
        _kept: None,
    }
}

/// A server over an empty lake with the given zone folders.
pub async fn empty_server(zones: &[&str]) -> TestServer {
    let dir = TempDir::new().expect("temp dir");
    let lake = dir.path().join("lake");
    for z in zones {
        std::fs::create_dir_all(lake.join(z)).unwrap();
    }
    let server = start(config(&lake)).await.expect("server starts");
    TestServer {
        server,
        lake,
        _dir: Some(dir),
        _kept: None,
    }
}

/// The Spark/Databricks tables of `../shared/fixtures/delta`.
pub const FIXTURES: [&str; 9] = [
    "table-with-dv-small",
    "table_with_deletion_logs",
    "table_with_column_mapping",
    "checkpoint-v2-table",
    "table_with_liquid_clustering",
    "cdf-table",
    "delta-2.2.0-partitioned-types",
    "simple_table",
    "table_with_edge_timestamps",
];

/// `../shared/fixtures/delta/<name>`: tables written by Spark/Databricks.
pub fn fixture(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/delta")
        .join(name);
    assert!(p.is_dir(), "fixture {} is missing", p.display());
    p
}

pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
}

/// SQLSTATE of a failed statement.
pub fn code(e: &tokio_postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("no SQLSTATE: {e}"))
}

/// Polls `check` until it holds or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// numeric in binary, decoded independently of the server's encoder.
#[derive(Debug, PartialEq)]
pub struct Numeric(pub String);

impl<'a> FromSql<'a> for Numeric {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let rd = |i: usize| i16::from_be_bytes([raw[i], raw[i + 1]]);
        let (n, weight, sign, dscale) =
            (rd(0) as usize, rd(2) as i32, rd(4) as u16, rd(6) as usize);
        let digits: Vec<i32> = (0..n).map(|i| rd(8 + 2 * i) as i32).collect();
        let mut int = String::new();
        for w in 0..=weight.max(-1) {
            let d = digits.get(w as usize).copied().unwrap_or(0);
            if int.is_empty() {
                int = d.to_string();
            } else {
                int.push_str(&format!("{d:04}"));
            }
        }
        if int.is_empty() {
            int = "0".into();
        }
        let mut frac = String::new();
        let mut pos = weight + 1;
        while frac.len() < dscale {
            let d = if pos < 0 {
                0
            } else {
                digits.get(pos as usize).copied().unwrap_or(0)
            };
            frac.push_str(&format!("{d:04}"));
            pos += 1;
        }
        frac.truncate(dscale);
        let sign = if sign == 0x4000 { "-" } else { "" };
        Ok(Numeric(if dscale > 0 {
            format!("{sign}{int}.{frac}")
        } else {
            format!("{sign}{int}")
        }))
    }
    fn accepts(t: &Type) -> bool {
        *t == Type::NUMERIC
    }
}

/// A `lakegate serve` process (the real binary) over a demo lake, with its log in a file.
pub struct ServeProcess {
    pub child: std::process::Child,
    pub lake: PathBuf,
    pub port: u16,
    pub http_port: u16,
    pub log: PathBuf,
    _dir: TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl ServeProcess {
    /// Starts the binary on a fresh demo lake with `extra` appended to its config and `env`
    /// set; waits until it answers.
    pub async fn start(extra: &str, env: &[(&str, &str)]) -> ServeProcess {
        let dir = TempDir::new().unwrap();
        let lake = lakegate::demo::write_demo_lake(&dir.path().join("lake"), false)
            .await
            .unwrap();
        let (port, http_port) = (free_port(), free_port());
        let config = dir.path().join("lakegate.yaml");
        std::fs::write(
            &config,
            format!(
                "lake: {}\nlisten: 127.0.0.1:{port}\nhttp: {{listen: 127.0.0.1:{http_port}}}\nshutdown_timeout: 1s\n{extra}",
                lake.display()
            ),
        )
        .unwrap();
        let log = dir.path().join("stderr.log");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_lakegate"))
            .args(["--log", "lakegate=info", "serve", "--config"])
            .arg(&config)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let p = ServeProcess {
            child,
            lake: lake.clone(),
            port,
            http_port,
            log,
            _dir: dir,
        };
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if p.metric("lakegate_connections_open").await.is_some() {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("lakegate serve did not come up: {}", p.log_text());
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One sample of `/metrics` (this process's counters only).
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let port = self.http_port;
        let name = name.to_string();
        tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
            write!(
                s,
                "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .ok()?;
            let mut body = String::new();
            s.read_to_string(&mut body).ok()?;
            body.lines()
                .find(|l| l.split([' ', '{']).next() == Some(name.as_str()))
                .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        })
        .await
        .unwrap()
    }

    pub async fn connect(&self, user: &str) -> Result<Client, tokio_postgres::Error> {
        let url = format!("host=127.0.0.1 port={} user={user} dbname=lake", self.port);
        let (client, conn) = tokio_postgres::connect(&url, NoTls).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Rows `id` (bigint) and `name` (`n<id>`) for the ids given.
pub fn id_batch(ids: std::ops::Range<i64>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(ids.clone())),
            Arc::new(StringArray::from_iter_values(ids.map(|i| format!("n{i}")))),
        ],
    )
    .unwrap()
}

/// Writes `b` to the Delta table at `path` (created if missing) in `mode`.
pub async fn write_delta(path: &Path, b: RecordBatch, mode: SaveMode) {
    let url = deltalake::ensure_table_uri(path.to_string_lossy()).unwrap();
    deltalake::DeltaTable::try_from_url(url)
        .await
        .unwrap()
        .write(vec![b])
        .with_save_mode(mode)
        .await
        .unwrap();
}
