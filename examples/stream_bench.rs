//! Result streaming benchmark: `SELECT *` of a large Delta table through the wire, text and
//! binary, with the server's peak RSS. Shows that results stream with bounded memory.
//!
//! ```sh
//! cargo build --release --examples --bin lakegate
//! target/release/examples/stream_bench --rows 10000000
//! ```
//! (any profile works; the server binary is taken from the same target folder.)
//!
//! Client-only mode, used by `bench/run.sh` against lakegate and PostgreSQL alike: stream one
//! query's rows in text (simple protocol) and binary (extended protocol) from any server and
//! print one JSON line of timings.
//! ```sh
//! stream_bench --url "host=127.0.0.1 port=5433 user=bench dbname=lake" \
//!     --query "SELECT * FROM gold.lineitem" --runs 3
//! ```

mod common;
use common::*;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{
    BooleanArray, Decimal128Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use deltalake::DeltaTable;
use deltalake::protocol::SaveMode;
use futures::{StreamExt, pin_mut};

fn batch(start: i64, n: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("amount", DataType::Decimal128(12, 2), false),
        Field::new("name", DataType::Utf8, false),
        Field::new("flag", DataType::Boolean, false),
    ]));
    let ids = start..start + n;
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(ids.clone())),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    ids.clone().map(|i| 1_700_000_000_000_000 + i * 1_000),
                )
                .with_timezone("UTC"),
            ),
            Arc::new(
                Decimal128Array::from_iter_values(ids.clone().map(|i| (i % 100_000) as i128))
                    .with_precision_and_scale(12, 2)
                    .unwrap(),
            ),
            Arc::new(StringArray::from_iter_values(
                ids.clone().map(|i| format!("customer-{}", i % 5000)),
            )),
            Arc::new(BooleanArray::from_iter(ids.map(|i| Some(i % 3 == 0)))),
        ],
    )
    .unwrap()
}

/// Rows of `query` read through the simple (text) or extended (binary) protocol.
async fn stream_rows(client: &tokio_postgres::Client, query: &str, binary: bool) -> u64 {
    let mut rows = 0u64;
    if binary {
        let stream = client
            .query_raw(query, std::iter::empty::<i64>())
            .await
            .unwrap();
        pin_mut!(stream);
        while let Some(r) = stream.next().await {
            r.unwrap();
            rows += 1;
        }
    } else {
        let stream = client.simple_query_raw(query).await.unwrap();
        pin_mut!(stream);
        while let Some(m) = stream.next().await {
            if let tokio_postgres::SimpleQueryMessage::Row(_) = m.unwrap() {
                rows += 1;
            }
        }
    }
    rows
}

fn str_arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

/// `--url` mode: time `--query` against an existing server, `--runs` times per protocol.
async fn client_only(url: &str) {
    let query = str_arg("--query").expect("--query is required with --url");
    let runs = arg("--runs", 3);
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    tokio::spawn(conn);
    let mut out = Vec::new();
    for (name, binary) in [("text", false), ("binary", true)] {
        let mut secs = Vec::new();
        let mut rows = 0;
        for _ in 0..runs {
            let t = Instant::now();
            rows = stream_rows(&client, &query, binary).await;
            secs.push(t.elapsed().as_secs_f64());
        }
        secs.sort_by(f64::total_cmp);
        out.push(format!(
            "\"{name}\": {{\"rows\": {rows}, \"seconds\": {:?}}}",
            secs
        ));
    }
    println!("{{{}}}", out.join(", "));
}

#[tokio::main]
async fn main() {
    if let Some(url) = str_arg("--url") {
        return client_only(&url).await;
    }
    let rows = arg("--rows", 10_000_000) as i64;
    let dir = tempfile::TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    let table = lake.join("gold/events");
    let t0 = Instant::now();
    let chunk = 1_000_000i64;
    let mut start = 0;
    while start < rows {
        let n = chunk.min(rows - start);
        let url = deltalake::ensure_table_uri(table.to_string_lossy()).unwrap();
        let batches: Vec<_> = (0..n)
            .step_by(100_000)
            .map(|o| batch(start + o, (n - o).min(100_000)))
            .collect();
        DeltaTable::try_from_url(url)
            .await
            .unwrap()
            .write(batches)
            .with_save_mode(SaveMode::Append)
            .await
            .unwrap();
        start += n;
    }
    println!("wrote {rows} rows in {:.1}s", t0.elapsed().as_secs_f64());

    let exe: PathBuf = std::env::current_exe().unwrap();
    let server_bin = exe.parent().unwrap().parent().unwrap().join("lakegate");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(&server_bin)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--lake"])
        .arg(&lake)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", server_bin.display()));
    let pid = server.id();
    let url = format!("host=127.0.0.1 port={port} user=bench dbname=lake");
    let client = loop {
        if let Ok((c, conn)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
            tokio::spawn(conn);
            break c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let idle = rss_kib(pid, "VmRSS:");
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(idle));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(pid, "VmRSS:"), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    let t = Instant::now();
    let text_rows = stream_rows(&client, "SELECT * FROM gold.events", false).await;
    let text_secs = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let bin_rows = stream_rows(&client, "SELECT * FROM gold.events", true).await;
    let bin_secs = t.elapsed().as_secs_f64();
    sampler.abort();
    let hwm = rss_kib(pid, "VmHWM:");
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed).max(hwm);
    let _ = server.kill();
    assert_eq!(text_rows as i64, rows);
    assert_eq!(bin_rows as i64, rows);
    println!("| protocol | rows | seconds | rows/s |");
    println!("|---|---|---|---|");
    println!(
        "| simple (text) | {text_rows} | {text_secs:.1} | {:.0} |",
        text_rows as f64 / text_secs
    );
    println!(
        "| extended (binary) | {bin_rows} | {bin_secs:.1} | {:.0} |",
        bin_rows as f64 / bin_secs
    );
    println!(
        "server RSS: idle {} MiB, peak {} MiB (bound: 512 MiB)",
        idle / 1024,
        peak / 1024
    );
    if peak / 1024 >= 512 {
        eprintln!("FAIL: peak RSS above 512 MiB");
        std::process::exit(1);
    }
}
