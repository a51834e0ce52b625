//! Ingestion benchmark: rows/s from CSV through bronze to silver, and freshness — seconds from
//! a file landing to its rows being served in silver over the wire.
//!
//! ```sh
//! cargo build --release --examples
//! target/release/examples/ingest_bench --rows 10000000 --slices 10
//! ```

mod common;
use common::*;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use lakegate::config::Config;
use lakegate::ingest::{Ingestor, Selection};

fn config(lake: &Path) -> Config {
    let yaml = format!(
        r#"
lake: {}
listen: 127.0.0.1:0
refresh_interval: 30s
ingest: {{interval: 60s}}
sources:
  orders:
    format: csv
    slice_column: order_date
    schema: {{order_id: bigint, customer_id: bigint, order_date: date, amount: "decimal(12,2)",
             status: text, updated_at: timestamp}}
silver:
  orders:
    from: orders
    unique_key: [order_id]
    latest_by: updated_at
    expectations:
      - {{name: valid_status, expect: "status IN ('new','paid','shipped')", on_violation: quarantine}}
      - {{name: positive_amount, expect: "amount >= 0", on_violation: drop}}
"#,
        lake.display()
    );
    Config::from_yaml(Path::new("bench.yaml"), &yaml).unwrap()
}

fn write_slice(lake: &Path, day: u64, watermark: &str, rows: u64, first_id: u64) -> u64 {
    let date = format!("2026-{:02}-{:02}", 1 + day / 28, 1 + day % 28);
    let dir = lake.join("landing/orders").join(&date).join(watermark);
    std::fs::create_dir_all(&dir).unwrap();
    let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join("orders.csv")).unwrap());
    writeln!(
        f,
        "order_id,customer_id,order_date,amount,status,updated_at"
    )
    .unwrap();
    let statuses = ["new", "paid", "shipped"];
    for i in 0..rows {
        let id = first_id + i;
        writeln!(
            f,
            "{id},{},{date},{}.{:02},{},{date} {:02}:{:02}:00",
            id % 100_000,
            id % 1000,
            id % 100,
            statuses[(id % 3) as usize],
            (id / 60) % 24,
            id % 60
        )
        .unwrap();
    }
    f.flush().unwrap();
    std::fs::metadata(dir.join("orders.csv")).unwrap().len()
}

#[tokio::main]
async fn main() {
    lakegate::telemetry::init(&std::env::var("LAKEGATE_LOG").unwrap_or_else(|_| "warn".into()));
    let rows = arg("--rows", 1_000_000);
    let slices = arg("--slices", 10).max(1);
    let dir = tempfile::TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    let per = rows / slices;
    let mut bytes = 0;
    for d in 0..slices {
        bytes += write_slice(&lake, d, "1", per, d * per);
    }
    println!(
        "landing: {} rows in {slices} slices, {:.1} MiB of CSV",
        per * slices,
        bytes as f64 / (1 << 20) as f64
    );
    let ingestor = Ingestor::new(lake.clone().into(), config(&lake));
    let t0 = Instant::now();
    let report = ingestor.run_once(&Selection::default()).await.unwrap();
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(report.failed(), 0, "{report:?}");
    println!(
        "CSV → bronze → silver: {:.2} s, {:.0} rows/s end to end ({:.1} MiB/s)",
        secs,
        (per * slices) as f64 / secs,
        bytes as f64 / (1 << 20) as f64 / secs
    );
    let t1 = Instant::now();
    let again = ingestor.run_once(&Selection::default()).await.unwrap();
    println!(
        "unchanged re-run: {:.3} s, {} slices skipped, {} files read",
        t1.elapsed().as_secs_f64(),
        again.skipped,
        again.files_read
    );

    // Freshness: a 10,000-row slice lands while the server runs.
    let server = lakegate::server::start(config(&lake)).await.unwrap();
    let url = format!(
        "host=127.0.0.1 port={} user=bench dbname=lake",
        server.addr.port()
    );
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut samples = Vec::new();
    for k in 0..5u64 {
        let day = slices + 1 + k;
        let date = format!("2026-{:02}-{:02}", 1 + day / 28, 1 + day % 28);
        let started = Instant::now();
        write_slice(&lake, day, "1", 10_000, 50_000_000 + k * 10_000);
        loop {
            let n: i64 = client
                .query_one(
                    &format!("SELECT count(*) FROM silver.orders WHERE order_date = DATE '{date}'"),
                    &[],
                )
                .await
                .map(|r| r.get(0))
                .unwrap_or(0);
            if n > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        samples.push(started.elapsed().as_secs_f64());
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "freshness (file landed → rows served in silver over the wire), 5 slices of 10,000 rows: \
         median {:.2} s, max {:.2} s",
        samples[2], samples[4]
    );
}
