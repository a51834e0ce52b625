//! Ingestion end to end: real files in a landing zone, real Delta tables, queried back.

use std::path::{Path, PathBuf};
use std::time::Duration;

use datafusion::arrow::util::display::array_value_to_string;
use datafusion::prelude::SessionContext;
use lakegate::config::Config;
use lakegate::ingest::{Ingestor, Lease, Selection};
use tempfile::TempDir;

use crate::common::*;

const HEADER: &str = "order_id,customer_id,order_date,amount,status,updated_at,deleted_at\n";

fn orders_config(lake: &Path, extra: &str) -> Config {
    let yaml = format!(
        r#"
lake: {}
sources:
  orders:
    format: csv
    slice_column: order_date
    schema: {{order_id: bigint, customer_id: bigint, order_date: date, amount: "decimal(12,2)",
             status: text, updated_at: timestamp, deleted_at: timestamp}}
silver:
  orders:
    from: orders
    unique_key: [order_id]
    latest_by: updated_at
    delete_when: "deleted_at IS NOT NULL"
    expectations:
      - {{name: valid_status, expect: "status IN ('new','paid','shipped','cancelled')", on_violation: quarantine}}
      - {{name: positive_amount, expect: "amount >= 0", on_violation: drop}}
      - {{name: known_customer, expect: "customer_id < 1000", on_violation: warn}}
{extra}"#,
        lake.display()
    );
    let c = Config::from_yaml(Path::new("test.yaml"), &yaml).unwrap();
    c.validate(lakegate::CONFIG_CHECKS).unwrap();
    c
}

fn deliver(lake: &Path, slice: &str, watermark: &str, body: &str) -> PathBuf {
    let dir = lake.join("landing/orders").join(slice).join(watermark);
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("orders.csv");
    std::fs::write(&f, format!("{HEADER}{body}")).unwrap();
    f
}

/// Rows of a Delta table as sorted text lines, without the columns that differ between runs.
async fn rows(table: &Path) -> Vec<String> {
    if !table.join("_delta_log").is_dir() {
        return vec![];
    }
    let url = deltalake::ensure_table_uri(table.to_string_lossy()).unwrap();
    let t = deltalake::open_table(url).await.unwrap();
    let ctx = SessionContext::new();
    ctx.register_table("t", t.table_provider().await.unwrap())
        .unwrap();
    let batches = ctx
        .sql("SELECT * FROM t")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let mut out = Vec::new();
    for b in batches {
        let skip: Vec<bool> = b
            .schema()
            .fields()
            .iter()
            .map(|f| {
                matches!(
                    f.name().as_str(),
                    "_ingested_at" | "_run_id" | "_quarantined_at"
                )
            })
            .collect();
        for r in 0..b.num_rows() {
            let mut line = Vec::new();
            for (i, c) in b.columns().iter().enumerate() {
                if !skip[i] {
                    line.push(format!(
                        "{}={}",
                        b.schema().field(i).name(),
                        array_value_to_string(c, r).unwrap()
                    ));
                }
            }
            line.sort();
            out.push(line.join(" "));
        }
    }
    out.sort();
    out
}

async fn silver_ids(lake: &Path) -> Vec<String> {
    rows(&lake.join("silver/orders"))
        .await
        .iter()
        .map(|r| {
            let id = r.split(' ').find(|p| p.starts_with("order_id=")).unwrap();
            let amount = r.split(' ').find(|p| p.starts_with("amount=")).unwrap();
            format!("{}:{}", &id[9..], &amount[7..])
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_load_rerun_update_late_slice_deletes_duplicates_and_expectations() {
    let dir = TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    deliver(
        &lake,
        "2026-01-01",
        "20260102T000000",
        "1,10,2026-01-01,10.50,new,2026-01-01 10:00:00,\n\
         1,10,2026-01-01,12.00,paid,2026-01-01 11:00:00,\n\
         2,11,2026-01-01,5.00,shipped,2026-01-01 09:00:00,\n\
         3,12,2026-01-01,-1.00,paid,2026-01-01 09:00:00,\n\
         4,13,2026-01-01,7.00,weird,2026-01-01 09:00:00,\n\
         5,14,2026-01-01,abc,new,2026-01-01 09:00:00,\n\
         6,15,2026-01-01,3.00,new,2026-01-01 09:00:00,2026-01-01 12:00:00\n\
         7,16\n\
         11,5000,2026-01-01,1.00,new,2026-01-01 09:00:00,\n",
    );
    deliver(
        &lake,
        "2026-01-02",
        "20260103T000000",
        "8,10,2026-01-02,1.00,new,2026-01-02 10:00:00,\n",
    );
    let ing = Ingestor::new(lake.clone().into(), orders_config(&lake, ""));
    let r = ing.run_once(&Selection::default()).await.unwrap();
    assert_eq!(r.failed(), 0, "{r:?}");
    assert_eq!(r.files_read, 2);
    // Duplicates: latest wins; deletes removed; drop and quarantine applied; warn kept.
    assert_eq!(
        silver_ids(&lake).await,
        ["11:1.00", "1:12.00", "2:5.00", "8:1.00"]
    );
    let silver1 = r
        .slices
        .iter()
        .find(|s| s.table == "silver.orders" && s.slice == "2026-01-01")
        .unwrap();
    assert_eq!(
        (
            silver1.duplicates,
            silver1.deleted,
            silver1.dropped,
            silver1.quarantined,
            silver1.warned
        ),
        (1, 1, 1, 1, 1)
    );
    // Unparsable rows and failed expectations in quarantine, with file and line and reason.
    let q = rows(&lake.join("quarantine/orders")).await;
    assert_eq!(q.len(), 3, "{q:?}");
    assert!(
        q.iter()
            .any(|l| l.contains("_source_line=7") && l.contains("is not a valid numeric(12,2)")),
        "{q:?}"
    );
    assert!(
        q.iter()
            .any(|l| l.contains("_source_line=9") && l.contains("expected 7 fields, found 2")),
        "{q:?}"
    );
    assert!(
        q.iter()
            .any(|l| l.contains("expectation=valid_status") && l.contains("\"order_id\":4")),
        "{q:?}"
    );
    let bronze_before = rows(&lake.join("bronze/orders")).await;
    let silver_before = silver_ids(&lake).await;

    // A forced re-run of the same deliveries gives the same tables: no second copy of the
    // quarantined rows.
    let forced = Selection {
        force: true,
        ..Default::default()
    };
    let r = ing.run_once(&forced).await.unwrap();
    assert_eq!((r.failed(), r.files_read), (0, 2), "{r:?}");
    // (`rows` leaves out the run id and timestamps, which a re-run changes.)
    assert_eq!(rows(&lake.join("quarantine/orders")).await, q);
    assert_eq!(silver_ids(&lake).await, silver_before);
    assert_eq!(rows(&lake.join("bronze/orders")).await, bronze_before);

    // Unchanged re-run reads no landing data and changes nothing.
    let r = ing.run_once(&Selection::default()).await.unwrap();
    assert_eq!((r.files_read, r.skipped, r.slices.len()), (0, 2, 0));

    // Slice 2 re-delivered: only it changes downstream; rows gone from the delivery are gone.
    deliver(
        &lake,
        "2026-01-02",
        "20260104T000000",
        "9,11,2026-01-02,2.50,paid,2026-01-02 11:00:00,\n",
    );
    let r = ing.run_once(&Selection::default()).await.unwrap();
    assert_eq!((r.files_read, r.skipped), (1, 1), "{r:?}");
    assert_eq!(
        silver_ids(&lake).await,
        ["11:1.00", "1:12.00", "2:5.00", "9:2.50"]
    );
    let bronze_after = rows(&lake.join("bronze/orders")).await;
    let slice1 = |v: &[String]| {
        v.iter()
            .filter(|l| l.contains("_slice_id=2026-01-01"))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(slice1(&bronze_before), slice1(&bronze_after));

    // A late slice arrives.
    deliver(
        &lake,
        "2025-12-31",
        "20260105T000000",
        "12,10,2025-12-31,9.00,new,2025-12-31 10:00:00,\n",
    );
    let r = ing.run_once(&Selection::default()).await.unwrap();
    assert_eq!((r.files_read, r.skipped), (1, 2));
    assert!(silver_ids(&lake).await.contains(&"12:9.00".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_expectation_publishes_nothing_and_runs_the_alert_hook() {
    let dir = TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    let alert = dir.path().join("alert.txt");
    let extra = format!(
        "ingest: {{on_failure: \"echo $LAKEGATE_TABLE $LAKEGATE_SLICE >> {}\"}}\n",
        alert.display()
    );
    let mut config = orders_config(&lake, &extra);
    config.silver.get_mut("orders").unwrap().expectations[1].on_violation =
        lakegate::config::OnViolation::Fail;
    deliver(
        &lake,
        "2026-01-01",
        "1",
        "1,10,2026-01-01,10.00,new,2026-01-01 10:00:00,\n",
    );
    let ing = Ingestor::new(lake.clone().into(), config);
    assert_eq!(
        ing.run_once(&Selection::default()).await.unwrap().failed(),
        0
    );
    // The new delivery violates a `fail` expectation: silver keeps the previous version.
    deliver(
        &lake,
        "2026-01-01",
        "2",
        "1,10,2026-01-01,-10.00,new,2026-01-01 11:00:00,\n",
    );
    let r = ing.run_once(&Selection::default()).await.unwrap();
    assert_eq!(r.failed(), 1);
    let err = r
        .slices
        .iter()
        .find(|s| s.status == "failed")
        .unwrap()
        .error
        .clone()
        .unwrap();
    assert!(err.contains("positive_amount"), "{err}");
    assert_eq!(silver_ids(&lake).await, ["1:10.00"]);
    assert!(
        eventually(Duration::from_secs(5), || async {
            std::fs::read_to_string(&alert).is_ok_and(|s| s.contains("silver.orders 2026-01-01"))
        })
        .await
    );
    // The failure is in lakegate's log table.
    let log = rows(&lake.join("_lakegate/slices")).await;
    assert!(
        log.iter()
            .any(|l| l.contains("status=failed") && l.contains("positive_amount"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_drift_fails_or_appends_new_columns() {
    let dir = TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    let d = lake.join("landing/orders/2026-01-01/1");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("orders.csv"),
        format!("{}coupon\n", HEADER.trim_end().to_string() + ","),
    )
    .unwrap();
    std::fs::write(
        d.join("orders.csv"),
        "order_id,customer_id,order_date,amount,status,updated_at,deleted_at,coupon\n\
         1,10,2026-01-01,1.00,new,2026-01-01 10:00:00,,XMAS\n",
    )
    .unwrap();
    let ing = Ingestor::new(lake.clone().into(), orders_config(&lake, ""));
    let r = ing.run_once(&Selection::default()).await.unwrap();
    assert_eq!(r.failed(), 1);
    assert!(
        r.slices[0].error.as_ref().unwrap().contains("coupon"),
        "{r:?}"
    );
    let mut config = orders_config(&lake, "");
    config.sources.get_mut("orders").unwrap().on_schema_change =
        lakegate::config::SchemaChange::AppendNewColumns;
    let ing = Ingestor::new(lake.clone().into(), config);
    let r = ing.run_once(&Selection::default()).await.unwrap();
    assert_eq!(r.failed(), 0, "{r:?}");
    let silver = rows(&lake.join("silver/orders")).await;
    assert!(silver[0].contains("coupon=XMAS"), "{silver:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_writer_per_lake_and_a_dead_holder_is_taken_over() {
    let dir = TempDir::new().unwrap();
    let lake = dir.path();
    let held = Lease::acquire(lake, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    let e = Lease::acquire(lake, Duration::from_secs(30), Duration::from_millis(600))
        .await
        .err()
        .expect("second writer refused")
        .to_string();
    assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
    drop(held);
    let again = Lease::acquire(lake, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    drop(again);
    // A lease left by a process that no longer exists on this host is taken over at once.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let info = serde_json::json!({
        "host": lakegate::ingest::hostname(), "pid": dead, "token": "x", "heartbeat": 4102444800u64
    });
    std::fs::write(lake.join("_lakegate/ingest.lease"), info.to_string()).unwrap();
    let lease = Lease::acquire(lake, Duration::from_secs(3), Duration::ZERO)
        .await
        .expect("takes over a dead holder's lease");
    // Taken over behind its back: the next heartbeat (every TTL/3) notices, and the writer
    // knows to stop.
    assert!(!lease.is_lost());
    let other = serde_json::json!({
        "host": "elsewhere", "pid": 1, "token": "theirs", "heartbeat": 4102444800u64
    });
    std::fs::write(lake.join("_lakegate/ingest.lease"), other.to_string()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !lease.is_lost() {
        assert!(std::time::Instant::now() < deadline, "takeover not noticed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn crash_lake(root: &Path) -> PathBuf {
    let lake = root.join("lake");
    for day in 1..=6 {
        let slice = format!("2026-02-{day:02}");
        let mut body = String::new();
        for i in 0..300 {
            let id = day * 1000 + i;
            let status = if i % 37 == 0 { "weird" } else { "paid" };
            body.push_str(&format!(
                "{id},{},{slice},{}.25,{status},{slice} 10:00:00,\n",
                i % 50,
                i % 90
            ));
            if i % 10 == 0 {
                body.push_str(&format!(
                    "{id},{},{slice},{}.75,{status},{slice} 11:00:00,\n",
                    i % 50,
                    i % 90
                ));
            }
        }
        body.push_str("broken,line\n");
        deliver(&lake, &slice, "20260301T000000", &body);
    }
    lake
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_points_then_rerun_gives_the_same_tables_as_a_clean_run() {
    let bin = env!("CARGO_BIN_EXE_lakegate");
    let write_config = |root: &Path, lake: &Path| {
        let c = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/ingest_orders.yaml"),
        )
        .unwrap();
        std::fs::write(
            root.join("lakegate.yaml"),
            c.replace("LAKE", &lake.display().to_string()),
        )
        .unwrap();
    };
    let clean = TempDir::new().unwrap();
    let clean_lake = crash_lake(clean.path());
    write_config(clean.path(), &clean_lake);
    let st = std::process::Command::new(bin)
        .args(["ingest", "--once", "--config"])
        .arg(clean.path().join("lakegate.yaml"))
        .env("LAKEGATE_LOG", "error")
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let full = std::time::Instant::now();
    let crashed = TempDir::new().unwrap();
    let lake = crash_lake(crashed.path());
    write_config(crashed.path(), &lake);
    let _ = full;
    // Kill the writer at pseudo-random moments, many times; each restart carries on.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut kills = 0;
    for _ in 0..12 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut child = std::process::Command::new(bin)
            .args(["ingest", "--once", "--config"])
            .arg(crashed.path().join("lakegate.yaml"))
            .env("LAKEGATE_LOG", "error")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(20 + seed % 400));
        if child.try_wait().unwrap().is_none() {
            let _ = child.kill();
            kills += 1;
        }
        let _ = child.wait();
    }
    let st = std::process::Command::new(bin)
        .args(["ingest", "--once", "--config"])
        .arg(crashed.path().join("lakegate.yaml"))
        .env("LAKEGATE_LOG", "error")
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    assert!(kills >= 3, "only {kills} runs were killed mid-way");
    for t in ["bronze/orders", "silver/orders", "quarantine/orders"] {
        let a = rows(&clean_lake.join(t)).await;
        let b = rows(&lake.join(t)).await;
        assert!(!a.is_empty(), "{t} is empty");
        assert_eq!(
            a.len(),
            b.len(),
            "{t}: row counts differ after {kills} kills"
        );
        assert!(a == b, "{t}: contents differ after {kills} kills");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_ingests_what_lands_and_serves_it_with_its_log() {
    let dir = TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    deliver(
        &lake,
        "2026-01-01",
        "1",
        "1,10,2026-01-01,10.00,new,2026-01-01 10:00:00,\n",
    );
    let mut c = orders_config(&lake, "ingest: {interval: 30s}\n");
    c.listen = "127.0.0.1:0".into();
    c.refresh_interval = Duration::from_secs(30);
    let server = lakegate::server::start(c).await.unwrap();
    let t = TestServer::from_parts(server, lake.clone(), dir.path().join("kept"));
    let client = t.connect().await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            client
                .query_one("SELECT count(*) FROM silver.orders", &[])
                .await
                .map(|r| r.get::<_, i64>(0) == 1)
                .unwrap_or(false)
        })
        .await
    );
    // A new slice lands: the landing watcher runs a pass at once (the interval is 30 s and
    // so is the catalog refresh), and the rows are served within a few seconds.
    let landed = std::time::Instant::now();
    deliver(
        &lake,
        "2026-01-02",
        "1",
        "2,11,2026-01-02,5.00,paid,2026-01-02 10:00:00,\n",
    );
    assert!(
        eventually(Duration::from_secs(10), || async {
            client
                .query_one("SELECT count(*) FROM silver.orders", &[])
                .await
                .map(|r| r.get::<_, i64>(0) == 2)
                .unwrap_or(false)
        })
        .await,
        "new slice not served"
    );
    assert!(
        landed.elapsed() < Duration::from_secs(5),
        "{:?}",
        landed.elapsed()
    );
    // The log table is re-registered right after the catalog refresh that served the rows.
    let log = || async {
        client
            .query(
                "SELECT table_name, slice_id, status FROM lakegate.slices ORDER BY finished_at, table_name",
                &[],
            )
            .await
            .map(|rows| {
                rows.iter()
                    .map(|r| {
                        format!(
                            "{} {} {}",
                            r.get::<_, String>(0),
                            r.get::<_, String>(1),
                            r.get::<_, String>(2)
                        )
                    })
                    .collect::<Vec<String>>()
            })
            .unwrap_or_default()
    };
    assert!(
        eventually(Duration::from_secs(5), || async {
            log()
                .await
                .contains(&"silver.orders 2026-01-02 ok".to_string())
        })
        .await,
        "{:?}",
        log().await
    );
}

/// Paths of the Delta data files of a table whose path contains `part`.
async fn files_of(table: &Path, part: &str) -> Vec<String> {
    let url = deltalake::ensure_table_uri(table.to_string_lossy()).unwrap();
    let t = deltalake::open_table(url).await.unwrap();
    let mut v: Vec<String> = t
        .get_file_uris()
        .unwrap()
        .filter(|f| f.contains(part))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gold_models_are_refreshed_per_changed_slice() {
    let dir = TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    let views = dir.path().join("views/gold");
    std::fs::create_dir_all(&views).unwrap();
    std::fs::write(
        views.join("daily_revenue.sql"),
        "SELECT order_date, count(*) AS orders, sum(amount) AS revenue FROM silver.orders GROUP BY order_date",
    )
    .unwrap();
    std::fs::write(
        views.join("daily_revenue.yaml"),
        "materialize: {slice_column: order_date}\n",
    )
    .unwrap();
    std::fs::write(
        views.join("all_revenue.sql"),
        "SELECT sum(amount) AS revenue FROM silver.orders",
    )
    .unwrap();
    std::fs::write(views.join("all_revenue.yaml"), "materialize: full\n").unwrap();
    deliver(
        &lake,
        "2026-01-01",
        "1",
        "1,10,2026-01-01,10.00,new,2026-01-01 10:00:00,\n2,10,2026-01-01,5.00,new,2026-01-01 10:00:00,\n",
    );
    deliver(
        &lake,
        "2026-01-02",
        "1",
        "3,11,2026-01-02,1.00,paid,2026-01-02 10:00:00,\n",
    );
    let mut c = orders_config(&lake, "ingest: {interval: 30s}\n");
    c.listen = "127.0.0.1:0".into();
    c.refresh_interval = Duration::from_millis(300);
    c.views = Some(lakegate::config::ViewsSource::Folder(
        dir.path().join("views"),
    ));
    let server = lakegate::server::start(c).await.unwrap();
    let t = TestServer::from_parts(server, lake.clone(), dir.path().join("kept"));
    let client = std::sync::Arc::new(t.connect().await);
    let gold = lake.join("gold/daily_revenue");
    assert!(
        eventually(Duration::from_secs(15), || async {
            gold.join("_delta_log").is_dir()
        })
        .await,
        "gold model not written"
    );
    let revenue = |c: std::sync::Arc<tokio_postgres::Client>| async move {
        c.query(
            "SELECT CAST(order_date AS TEXT), orders, CAST(revenue AS TEXT) FROM gold.daily_revenue ORDER BY 1",
            &[],
        )
        .await
        .map(|rows| {
            rows.iter()
                .map(|r| format!("{} {} {}", r.get::<_, String>(0), r.get::<_, i64>(1), r.get::<_, String>(2)))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
    };
    let _ = &client;
    assert!(
        eventually(Duration::from_secs(10), || {
            let c = client.clone();
            async move { revenue(c).await == ["2026-01-01 2 15.00", "2026-01-02 1 1.00"] }
        })
        .await
    );
    // It is served as a table once the catalog has picked the commit up (the Delta table then
    // shadows the live view, which computes the same numbers until then).
    assert!(
        eventually(Duration::from_secs(10), || {
            let c = client.clone();
            async move {
                c.query_one(
                    "SELECT table_type FROM information_schema.tables WHERE table_schema = 'gold' AND table_name = 'daily_revenue'",
                    &[],
                )
                .await
                .map(|r| r.get::<_, String>(0) == "BASE TABLE")
                .unwrap_or(false)
            }
        })
        .await,
        "gold.daily_revenue not served as a table"
    );
    assert_eq!(
        revenue(client.clone()).await,
        ["2026-01-01 2 15.00", "2026-01-02 1 1.00"]
    );
    let day1 = files_of(&gold, "2026-01-01").await;
    // Slice 2 changes: only its gold slice is rewritten; the full model follows.
    deliver(
        &lake,
        "2026-01-02",
        "2",
        "3,11,2026-01-02,4.00,paid,2026-01-02 11:00:00,\n4,12,2026-01-02,2.00,new,2026-01-02 11:00:00,\n",
    );
    assert!(
        eventually(Duration::from_secs(15), || {
            let c = client.clone();
            async move { revenue(c).await == ["2026-01-01 2 15.00", "2026-01-02 2 6.00"] }
        })
        .await,
        "gold slice not refreshed"
    );
    assert_eq!(
        files_of(&gold, "2026-01-01").await,
        day1,
        "untouched slice kept its files"
    );
    assert!(
        eventually(Duration::from_secs(10), || {
            let c = client.clone();
            async move {
                c.query_one("SELECT CAST(revenue AS TEXT) FROM gold.all_revenue", &[])
                    .await
                    .map(|r| r.get::<_, String>(0) == "21.00")
                    .unwrap_or(false)
            }
        })
        .await
    );
}

/// Landing names are taken as they are: a watermark folder with `%`, `:` and a space in its
/// name (Hive-style escaping, timestamps) is read, and lineage names the file as it is on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landing_names_with_escapes_and_spaces_are_read_as_they_are() {
    let dir = TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    let file = deliver(
        &lake,
        "2026-03-01",
        "ts=10%3A00 v:2",
        "21,10,2026-03-01,3.00,new,2026-03-01 10:00:00,\n\
         22,11,2026-03-01,4.00,paid,2026-03-01 10:00:00,\n",
    );
    assert!(file.is_file());
    let ing = Ingestor::new(lake.clone().into(), orders_config(&lake, ""));
    let r = ing.run_once(&Selection::default()).await.unwrap();
    assert_eq!(r.failed(), 0, "{r:?}");
    assert_eq!(r.files_read, 1);
    assert_eq!(silver_ids(&lake).await, ["21:3.00", "22:4.00"]);
    let bronze = rows(&lake.join("bronze/orders")).await;
    assert!(
        bronze.iter().all(|l| l
            .contains("_source_file=landing/orders/2026-03-01/ts=10%3A00 v:2/orders.csv")
            && l.contains("_watermark=ts=10%3A00 v:2")),
        "{bronze:?}"
    );
}

/// Cron mode: `ingest --once` waits for the `on_failure` hook of a failed slice before it
/// exits (it was killed with the process), and exits 1.
#[test]
fn ingest_once_waits_for_the_failure_hook() {
    let dir = TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    let alert = dir.path().join("alert.txt");
    let config = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/ingest_orders.yaml"),
    )
    .unwrap()
    .replace("LAKE", &lake.display().to_string())
        + &format!(
            "      - {{name: positive_amount, expect: \"amount > 0\", on_violation: fail}}\n\
             ingest: {{on_failure: \"sleep 1; echo $LAKEGATE_TABLE $LAKEGATE_SLICE > {}\"}}\n",
            alert.display()
        );
    std::fs::write(dir.path().join("lakegate.yaml"), config).unwrap();
    deliver(
        &lake,
        "2026-01-01",
        "1",
        "1,10,2026-01-01,-10.00,new,2026-01-01 10:00:00,\n",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lakegate"))
        .args(["ingest", "--once", "--config"])
        .arg(dir.path().join("lakegate.yaml"))
        .env("LAKEGATE_LOG", "error")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Read right after exit: the hook (which sleeps first) has finished.
    assert_eq!(
        std::fs::read_to_string(&alert).unwrap_or_default().trim(),
        "silver.orders 2026-01-01"
    );
}

/// Cron mode does the whole pipeline: `ingest --once` builds the gold models of the slices it
/// changed, as `serve` does (it used to stop at silver).
#[test]
fn ingest_once_builds_gold_for_the_changed_slices() {
    let dir = TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    let views = dir.path().join("views/gold");
    std::fs::create_dir_all(&views).unwrap();
    std::fs::write(
        views.join("daily_revenue.sql"),
        "SELECT order_date, count(*) AS orders, sum(amount) AS revenue FROM silver.orders GROUP BY order_date",
    )
    .unwrap();
    std::fs::write(
        views.join("daily_revenue.yaml"),
        "materialize: {slice_column: order_date}\n",
    )
    .unwrap();
    let config = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/ingest_orders.yaml"),
    )
    .unwrap()
    .replace("LAKE", &lake.display().to_string())
        + &format!("views: {}\n", dir.path().join("views").display());
    std::fs::write(dir.path().join("lakegate.yaml"), config).unwrap();
    let once = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_lakegate"))
            .args(["ingest", "--once", "--config"])
            .arg(dir.path().join("lakegate.yaml"))
            .env("LAKEGATE_LOG", "error")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    deliver(
        &lake,
        "2026-01-01",
        "1",
        "1,10,2026-01-01,10.00,new,2026-01-01 10:00:00,\n2,10,2026-01-01,5.00,new,2026-01-01 10:00:00,\n",
    );
    deliver(
        &lake,
        "2026-01-02",
        "1",
        "3,11,2026-01-02,1.00,paid,2026-01-02 10:00:00,\n",
    );
    let out = once();
    assert!(
        out.contains("ok gold model gold.daily_revenue rebuilt"),
        "{out}"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let gold = lake.join("gold/daily_revenue");
    assert_eq!(
        rt.block_on(rows(&gold)),
        [
            "order_date=2026-01-01 orders=2 revenue=15.00",
            "order_date=2026-01-02 orders=1 revenue=1.00"
        ]
    );
    // Slice 2 changes: the next cron pass rewrites its gold slice and leaves slice 1's files.
    let day1 = rt.block_on(files_of(&gold, "2026-01-01"));
    deliver(
        &lake,
        "2026-01-02",
        "2",
        "3,11,2026-01-02,1.00,paid,2026-01-02 10:00:00,\n4,12,2026-01-02,2.50,new,2026-01-02 11:00:00,\n",
    );
    let out = once();
    assert!(
        out.contains("ok gold model gold.daily_revenue rebuilt"),
        "{out}"
    );
    assert_eq!(
        rt.block_on(rows(&gold)),
        [
            "order_date=2026-01-01 orders=2 revenue=15.00",
            "order_date=2026-01-02 orders=2 revenue=3.50"
        ]
    );
    assert_eq!(rt.block_on(files_of(&gold, "2026-01-01")), day1);
    // Nothing changed: nothing rebuilt.
    let out = once();
    assert!(!out.contains("gold model"), "{out}");
}

/// `mode: merge` over landed files: a key delivered again in another slice keeps one current
/// row (the later `updated_at` wins, whichever slice is read first), and a row without a key is
/// quarantined instead of being inserted again on every re-read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_mode_keeps_one_row_per_key_and_quarantines_null_keys() {
    let dir = TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    let yaml = format!(
        r#"
lake: {}
sources:
  orders:
    format: csv
    slice_column: order_date
    schema: {{order_id: bigint, customer_id: bigint, order_date: date, amount: "decimal(12,2)",
             status: text, updated_at: timestamp, deleted_at: timestamp}}
silver:
  orders:
    from: orders
    unique_key: [order_id]
    latest_by: updated_at
    delete_when: "deleted_at IS NOT NULL"
    mode: merge
"#,
        lake.display()
    );
    let c = Config::from_yaml(Path::new("m.yaml"), &yaml).unwrap();
    c.validate(lakegate::CONFIG_CHECKS).unwrap();
    let ing = Ingestor::new(lakegate::ingest::LakePath::local(&lake).unwrap(), c);
    deliver(
        &lake,
        "2026-01-01",
        "1",
        "1,10,2026-01-01,10.00,new,2026-01-01 10:00:00,\n2,10,2026-01-01,5.00,new,2026-01-01 10:00:00,\n,10,2026-01-01,1.00,new,2026-01-01 10:00:00,\n",
    );
    let r = ing.run_once(&Selection::default()).await.unwrap();
    assert_eq!(r.failed(), 0, "{r:?}");
    assert_eq!(silver_ids(&lake).await, ["1:10.00", "2:5.00"]);
    let q = rows(&lake.join("quarantine/orders")).await;
    assert_eq!(q.len(), 1, "{q:?}");
    assert!(
        q[0].contains("reason=unique_key (order_id) has a NULL"),
        "{}",
        q[0]
    );
    // Order 1 moves to the next day's slice, order 2 is deleted there; a forced re-read of
    // day 1's old delivery does not bring order 1's old version back.
    deliver(
        &lake,
        "2026-01-02",
        "1",
        "1,10,2026-01-02,12.50,paid,2026-01-02 09:00:00,\n2,10,2026-01-02,5.00,new,2026-01-02 09:00:00,2026-01-02 09:00:00\n",
    );
    let r = ing.run_once(&Selection::default()).await.unwrap();
    assert_eq!(r.failed(), 0, "{r:?}");
    assert_eq!(silver_ids(&lake).await, ["1:12.50"]);
    let r = ing
        .run_once(&Selection {
            slice: Some("2026-01-01".into()),
            force: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(r.failed(), 0, "{r:?}");
    let ids = silver_ids(&lake).await;
    assert!(
        ids.contains(&"1:12.50".to_string()) && !ids.contains(&"1:10.00".to_string()),
        "{ids:?}"
    );
    // Re-reading day 1 did not quarantine its key-less row twice.
    assert_eq!(rows(&lake.join("quarantine/orders")).await.len(), 1);
}
