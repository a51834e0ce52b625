//! Database sources against real servers: a PostgreSQL 15 and a MariaDB started on loopback
//! by tests/sources/run.sh (LAKEGATE_TEST_SRC_PG, LAKEGATE_TEST_SRC_MYSQL,
//! LAKEGATE_TEST_SRC_PASSWORD). Expected answers are the source's own rendering of its rows.

use std::collections::BTreeSet;
use std::path::Path;

use datafusion::arrow::array::Array;
use datafusion::prelude::SessionContext;
use lakegate::config::Config;
use lakegate::ingest::{Ingestor, LakePath, RunReport, Selection};
use sqlx::{Connection, Row};
use tempfile::TempDir;

pub(super) type Rows = Vec<Vec<Option<String>>>;

fn env(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: run tests/sources/run.sh"))
}

fn password_file(dir: &Path, pw: &str) -> String {
    let f = dir.join(format!("pw-{}", pw.len()));
    std::fs::write(&f, format!("{pw}\n")).unwrap();
    format!("file:{}", f.display())
}

pub(super) fn config(lake: &Path, yaml: &str) -> Config {
    let c = Config::from_yaml(
        Path::new("sources.yaml"),
        &format!("lake: {}\n{yaml}", lake.display()),
    )
    .unwrap();
    c.validate(lakegate::CONFIG_CHECKS).unwrap();
    c
}

async fn pass(lake: &Path, c: &Config) -> RunReport {
    std::fs::create_dir_all(lake).unwrap();
    Ingestor::new(LakePath::local(lake).unwrap(), c.clone())
        .run_once(&Selection::default())
        .await
        .unwrap()
}

/// (table, slice) of every slice a pass wrote.
pub(super) fn written(r: &RunReport) -> BTreeSet<(String, String)> {
    r.slices
        .iter()
        .filter(|s| s.status == "ok")
        .map(|s| (s.table.clone(), s.slice.clone()))
        .collect()
}

pub(super) fn failures(r: &RunReport) -> Vec<String> {
    r.slices
        .iter()
        .filter(|s| s.status == "failed")
        .map(|s| s.error.clone().unwrap_or_default())
        .collect()
}

/// A query over one Delta table (`t`), every value as text.
pub(super) async fn lake_rows(table: &Path, sql: &str) -> Rows {
    if !table.join("_delta_log").is_dir() {
        return vec![];
    }
    let url = deltalake::ensure_table_uri(table.to_string_lossy()).unwrap();
    let t = deltalake::open_table(url).await.unwrap();
    let ctx = SessionContext::new();
    ctx.register_table("t", t.table_provider().await.unwrap())
        .unwrap();
    let mut out = Vec::new();
    for b in ctx.sql(sql).await.unwrap().collect().await.unwrap() {
        let cols: Vec<_> = b
            .columns()
            .iter()
            .map(|c| {
                datafusion::arrow::compute::cast(c, &datafusion::arrow::datatypes::DataType::Utf8)
                    .unwrap()
            })
            .collect();
        for r in 0..b.num_rows() {
            out.push(
                cols.iter()
                    .map(|c| {
                        let s = datafusion::arrow::array::AsArray::as_string::<i32>(c.as_ref());
                        s.is_valid(r).then(|| s.value(r).to_string())
                    })
                    .collect(),
            );
        }
    }
    out
}

/// Equal row sets, ordered by the numeric key in the first column; a mismatch shows the
/// first differing row, not two tables of thousands of rows.
fn same_rows(mut lake: Rows, mut source: Rows) {
    let key = |r: &Vec<Option<String>>| {
        r.first()
            .cloned()
            .flatten()
            .and_then(|k| k.parse::<i64>().ok())
            .unwrap_or(i64::MIN)
    };
    lake.sort_by_key(key);
    source.sort_by_key(key);
    if let Some(i) = (0..lake.len().max(source.len())).find(|i| lake.get(*i) != source.get(*i)) {
        panic!(
            "lake has {} rows, the source {}; first difference at row {i}:\n lake:   {:?}\n source: {:?}",
            lake.len(),
            source.len(),
            lake.get(i),
            source.get(i)
        );
    }
}

async fn table_version(table: &Path) -> Option<i64> {
    if !table.join("_delta_log").is_dir() {
        return None;
    }
    let url = deltalake::ensure_table_uri(table.to_string_lossy()).unwrap();
    deltalake::open_table(url).await.unwrap().version()
}

async fn pg() -> tokio_postgres::Client {
    crate::common::pg_client(
        &env("LAKEGATE_TEST_SRC_PG"),
        &env("LAKEGATE_TEST_SRC_PASSWORD"),
    )
    .await
}

async fn pg_rows(c: &tokio_postgres::Client, sql: &str) -> Rows {
    let mut out = Vec::new();
    for m in c.simple_query(sql).await.unwrap() {
        if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
            out.push((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect());
        }
    }
    out
}

/// The source's orders as the lake must hold them in silver (deleted rows gone).
const PG_EXPECTED: &str = "SELECT id::text, customer, amount::text, note, paid::text, \
    (extract(epoch FROM updated_at) * 1000000)::bigint::text, encode(raw, 'hex'), \
    (created_at AT TIME ZONE 'UTC')::date::text \
    FROM orders WHERE deleted_at IS NULL ORDER BY id";
const LAKE_ORDERS: &str = "SELECT CAST(id AS VARCHAR) AS k, customer, CAST(amount AS VARCHAR), note, \
    CAST(paid AS VARCHAR), CAST(CAST(updated_at AS BIGINT) AS VARCHAR), encode(raw, 'hex'), \
    CAST(order_date AS VARCHAR) FROM t ORDER BY id";

fn pg_orders_config(lake: &Path, dir: &Path, url: &str, password: &str, extra: &str) -> Config {
    config(
        lake,
        &format!(
            r#"
sources:
  shop_orders:
    postgres: {{url: "{url}", password: "{}"}}
    table: public.orders
    slice: "(created_at AT TIME ZONE 'UTC')::date"
    watermark: "max(coalesce(deleted_at, updated_at, created_at))"
    slice_column: order_date
    timeout: 20s
silver:
  orders:
    from: shop_orders
    unique_key: [id]
    latest_by: updated_at
    delete_when: "deleted_at IS NOT NULL"
{extra}"#,
            password_file(dir, password)
        ),
    )
}

async fn pg_orders_table(c: &tokio_postgres::Client) {
    c.batch_execute(
        "DROP TABLE IF EXISTS orders;
         CREATE TABLE orders (id bigint PRIMARY KEY, customer text, amount numeric(12,2),
           note text, paid boolean, created_at timestamptz NOT NULL, updated_at timestamptz,
           deleted_at timestamptz, raw bytea);
         INSERT INTO orders VALUES
          (1, 'Ann, \"the\" O''Neil', 10.50, E'line1\\nline2\\ttab\\\\back', true,
              '2026-01-01 10:00:00+00', '2026-01-01 10:00:00.123456+00', NULL, '\\x00ff10'),
          (2, 'Bjørn 日本 🙂', -0.01, '', false, '2026-01-01 23:59:59.999999+00', NULL, NULL, ''),
          (3, NULL, 99999999.99, NULL, NULL, '2026-01-02 00:00:00+00', '2026-01-02 08:00:00+00', NULL, NULL),
          (4, 'Dora', 0.00, 'x', true, '2026-01-02 12:00:00+00', '2026-01-02 12:00:00+00', NULL, NULL),
          (5, 'Emil', 1.00, 'y', true, '2026-01-03 12:00:00+00', '2026-01-03 12:00:00+00', NULL, NULL),
          (6, 'Fay', 2.00, 'z', false, '2026-01-03 13:00:00+00', '2026-01-03 13:00:00+00', NULL, NULL);",
    )
    .await
    .unwrap();
}

fn slices(set: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    set.iter()
        .map(|(t, s)| (t.to_string(), s.to_string()))
        .collect()
}

/// Exact values; an in-place update and a late (soft) delete in old slices and a new slice
/// re-read only those slices; a slice deleted at the source is emptied in the lake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: tests/sources/run.sh"]
async fn sources_postgres_slices_exact_values_updates_deletes_and_new_slices() {
    let dir = TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    let c = pg().await;
    pg_orders_table(&c).await;
    let cfg = pg_orders_config(
        &lake,
        dir.path(),
        &env("LAKEGATE_TEST_SRC_PG"),
        &env("LAKEGATE_TEST_SRC_PASSWORD"),
        "",
    );
    let silver = lake.join("silver/orders");
    let r = pass(&lake, &cfg).await;
    assert!(failures(&r).is_empty(), "{:?}", failures(&r));
    assert_eq!(r.slices.len(), 6, "3 slices × bronze and silver");
    let expected = pg_rows(&c, PG_EXPECTED).await;
    assert_eq!(expected.len(), 6);
    same_rows(lake_rows(&silver, LAKE_ORDERS).await, expected.clone());
    // Empty text stays empty, NULL stays NULL; text with tabs, newlines and quotes is exact.
    let two = lake_rows(&silver, "SELECT note, raw IS NULL FROM t WHERE id = 2").await;
    assert_eq!(two, [[Some(String::new()), Some("false".into())]]);
    // The column types are the source's.
    let types = lake_rows(
        &silver,
        "SELECT arrow_typeof(amount), arrow_typeof(created_at), arrow_typeof(paid), arrow_typeof(raw) FROM t LIMIT 1",
    )
    .await;
    assert_eq!(
        types[0],
        [
            Some("Decimal128(12, 2)".into()),
            Some("Timestamp(µs, \"UTC\")".into()),
            Some("Boolean".into()),
            Some("BinaryView".into())
        ]
    );
    // Nothing changed: nothing read.
    let r = pass(&lake, &cfg).await;
    assert!(written(&r).is_empty(), "{:?}", written(&r));
    assert_eq!(r.skipped, 3);
    // An update in slice 1, a late delete in slice 2, a new slice 4: only those are read.
    c.batch_execute(
        "UPDATE orders SET amount = 11.25, updated_at = '2026-02-01 09:00:00+00' WHERE id = 1;
         UPDATE orders SET deleted_at = '2026-02-01 09:30:00+00' WHERE id = 4;
         INSERT INTO orders VALUES (7, 'Gus', 3.00, 'new', true, '2026-01-04 08:00:00+00',
           '2026-01-04 08:00:00+00', NULL, NULL);",
    )
    .await
    .unwrap();
    let r = pass(&lake, &cfg).await;
    assert!(failures(&r).is_empty(), "{:?}", failures(&r));
    let mut want = Vec::new();
    for s in ["2026-01-01", "2026-01-02", "2026-01-04"] {
        want.push(("bronze.shop_orders", s));
        want.push(("silver.orders", s));
    }
    assert_eq!(written(&r), slices(&want));
    assert_eq!(r.skipped, 1, "slice 3 was current");
    let expected = pg_rows(&c, PG_EXPECTED).await;
    same_rows(lake_rows(&silver, LAKE_ORDERS).await, expected.clone());
    assert!(!expected.iter().any(|r| r[0].as_deref() == Some("4")));
    // A row added to slice 4, then deleted: the slice's watermark returns to an earlier value,
    // which is read again (not taken as already done).
    c.batch_execute(
        "INSERT INTO orders VALUES (8, 'Hal', 4.00, 'tmp', true, '2026-01-04 09:00:00+00',
           '2026-01-04 09:00:00+00', NULL, NULL)",
    )
    .await
    .unwrap();
    let r = pass(&lake, &cfg).await;
    assert!(written(&r).contains(&("silver.orders".to_string(), "2026-01-04".to_string())));
    c.batch_execute("DELETE FROM orders WHERE id = 8")
        .await
        .unwrap();
    let r = pass(&lake, &cfg).await;
    assert!(written(&r).contains(&("silver.orders".to_string(), "2026-01-04".to_string())));
    same_rows(
        lake_rows(&silver, LAKE_ORDERS).await,
        pg_rows(&c, PG_EXPECTED).await,
    );
    // Slice 3 deleted at the source (hard delete): the lake's slice 3 is emptied.
    c.batch_execute("DELETE FROM orders WHERE created_at::date = '2026-01-03'")
        .await
        .unwrap();
    let r = pass(&lake, &cfg).await;
    assert!(failures(&r).is_empty(), "{:?}", failures(&r));
    assert_eq!(
        written(&r),
        slices(&[
            ("bronze.shop_orders", "2026-01-03"),
            ("silver.orders", "2026-01-03")
        ])
    );
    let expected = pg_rows(&c, PG_EXPECTED).await;
    assert_eq!(expected.len(), 4);
    same_rows(lake_rows(&silver, LAKE_ORDERS).await, expected.clone());
    // Bronze keeps the raw rows per slice, lineage included.
    let bronze = lake_rows(
        &lake.join("bronze/shop_orders"),
        "SELECT _slice_id, count(*), min(_watermark) FROM t GROUP BY 1 ORDER BY 1",
    )
    .await;
    assert_eq!(
        bronze,
        [
            [
                Some("2026-01-01".into()),
                Some("2".into()),
                Some("20260201T090000.000000Z_2".into())
            ],
            [
                Some("2026-01-02".into()),
                Some("2".into()),
                Some("20260201T093000.000000Z_2".into())
            ],
            [
                Some("2026-01-04".into()),
                Some("1".into()),
                Some("20260104T080000.000000Z_1-g1".into())
            ],
        ]
    );
}

/// `mode: merge`: a customer updated today moves from its old slice to today's and keeps
/// exactly one current row; a soft-deleted one is removed wherever its row was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: tests/sources/run.sh"]
async fn sources_postgres_merge_keeps_one_row_per_key_across_slices() {
    let dir = TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    let c = pg().await;
    c.batch_execute(
        "DROP TABLE IF EXISTS customers;
         CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, tier text,
           updated_at timestamptz NOT NULL, deleted_at timestamptz);
         INSERT INTO customers VALUES
           (1, 'Ann', 'gold', '2026-01-01 10:00:00+00', NULL),
           (2, 'Bob', 'free', '2026-01-01 11:00:00+00', NULL),
           (3, 'Cid', 'free', '2026-01-02 09:00:00+00', NULL);",
    )
    .await
    .unwrap();
    let cfg = config(
        &lake,
        &format!(
            r#"
sources:
  shop_customers:
    postgres: {{url: "{}", password: "{}"}}
    query: "SELECT id, name, tier, updated_at, deleted_at FROM customers"
    slice: "(updated_at AT TIME ZONE 'UTC')::date"
    watermark: "max(coalesce(deleted_at, updated_at))"
    slice_column: changed_on
silver:
  customers:
    from: shop_customers
    unique_key: [id]
    latest_by: updated_at
    delete_when: "deleted_at IS NOT NULL"
    mode: merge
"#,
            env("LAKEGATE_TEST_SRC_PG"),
            password_file(dir.path(), &env("LAKEGATE_TEST_SRC_PASSWORD"))
        ),
    );
    let expected_sql =
        "SELECT id::text, name, tier FROM customers WHERE deleted_at IS NULL ORDER BY id";
    let lake_sql = "SELECT CAST(id AS VARCHAR) AS k, name, tier FROM t ORDER BY id";
    let silver = lake.join("silver/customers");
    let r = pass(&lake, &cfg).await;
    assert!(failures(&r).is_empty(), "{:?}", failures(&r));
    same_rows(
        lake_rows(&silver, lake_sql).await,
        pg_rows(&c, expected_sql).await,
    );
    // Ann is updated on day 3 (her row leaves slice 1 for slice 3), Bob deleted on day 3.
    c.batch_execute(
        "UPDATE customers SET tier = 'platinum', name = 'Ann v2', updated_at = '2026-01-03 08:00:00+00' WHERE id = 1;
         UPDATE customers SET deleted_at = '2026-01-03 09:00:00+00', updated_at = '2026-01-03 09:00:00+00' WHERE id = 2;",
    )
    .await
    .unwrap();
    let r = pass(&lake, &cfg).await;
    assert!(failures(&r).is_empty(), "{:?}", failures(&r));
    let expected = pg_rows(&c, expected_sql).await;
    assert_eq!(
        expected,
        [
            [
                Some("1".into()),
                Some("Ann v2".into()),
                Some("platinum".into())
            ],
            [Some("3".into()), Some("Cid".into()), Some("free".into())]
        ]
    );
    same_rows(lake_rows(&silver, lake_sql).await, expected.clone());
    // Ann's one row carries her new slice.
    assert_eq!(
        lake_rows(
            &silver,
            "SELECT CAST(changed_on AS VARCHAR) FROM t WHERE id = 1"
        )
        .await,
        [[Some("2026-01-03".into())]]
    );
    // Replaying the old slice (forced) cannot bring an old version back: latest_by wins.
    let ing = Ingestor::new(LakePath::local(&lake).unwrap(), cfg.clone());
    let r = ing
        .run_once(&Selection {
            force: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(failures(&r).is_empty(), "{:?}", failures(&r));
    same_rows(lake_rows(&silver, lake_sql).await, expected.clone());
    // Cid's slice is deleted at the source (hard delete): his row goes; it comes back and goes
    // again, and so does the row.
    for round in 0..2 {
        c.batch_execute("DELETE FROM customers WHERE id = 3")
            .await
            .unwrap();
        let r = pass(&lake, &cfg).await;
        assert!(failures(&r).is_empty(), "{:?}", failures(&r));
        same_rows(
            lake_rows(&silver, lake_sql).await,
            pg_rows(&c, expected_sql).await,
        );
        assert_eq!(lake_rows(&silver, lake_sql).await.len(), 1, "round {round}");
        // A pass with nothing changed writes nothing (the emptied slice is recorded as done).
        let r = pass(&lake, &cfg).await;
        assert!(written(&r).is_empty(), "{:?}", written(&r));
        c.batch_execute(
            "INSERT INTO customers VALUES (3, 'Cid', 'free', '2026-01-02 09:00:00+00', NULL)",
        )
        .await
        .unwrap();
        let r = pass(&lake, &cfg).await;
        assert!(failures(&r).is_empty(), "{:?}", failures(&r));
        same_rows(
            lake_rows(&silver, lake_sql).await,
            pg_rows(&c, expected_sql).await,
        );
        assert_eq!(lake_rows(&silver, lake_sql).await.len(), 2, "round {round}");
    }
    // A hard delete inside a slice that stays: the MERGE removes the row too.
    c.batch_execute(
        "INSERT INTO customers VALUES (4, 'Dan', 'free', '2026-01-04 09:00:00+00', NULL),
           (5, 'Eve', 'gold', '2026-01-04 10:00:00+00', NULL)",
    )
    .await
    .unwrap();
    pass(&lake, &cfg).await;
    c.batch_execute("DELETE FROM customers WHERE id = 5")
        .await
        .unwrap();
    let r = pass(&lake, &cfg).await;
    assert!(failures(&r).is_empty(), "{:?}", failures(&r));
    let expected = pg_rows(&c, expected_sql).await;
    assert_eq!(expected.len(), 3);
    same_rows(lake_rows(&silver, lake_sql).await, expected);
}

/// A TCP proxy that closes both sides after `budget` bytes from the server: a source that
/// goes away in the middle of a read.
async fn cutting_proxy(target: u16, budget: usize) -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = l.accept().await {
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let server = tokio::net::TcpStream::connect(("127.0.0.1", target))
                    .await
                    .unwrap();
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut cr, &mut sw).await;
                });
                let mut sent = 0;
                let mut buf = vec![0u8; 16 * 1024];
                while sent < budget {
                    let n = match sr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n.min(budget - sent),
                    };
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    sent += n;
                }
                up.abort();
            });
        }
    });
    port
}

/// A wrong password, a server that is not there, a connection cut in the middle of a slice:
/// the pass fails naming the source (never the secret), nothing served changes, and the next
/// pass catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: tests/sources/run.sh"]
async fn sources_postgres_failures_name_the_source_and_change_nothing() {
    let dir = TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    let c = pg().await;
    pg_orders_table(&c).await;
    let url = env("LAKEGATE_TEST_SRC_PG");
    let good = env("LAKEGATE_TEST_SRC_PASSWORD");
    let silver = lake.join("silver/orders");
    let ok = pg_orders_config(&lake, dir.path(), &url, &good, "");
    let r = pass(&lake, &ok).await;
    assert!(failures(&r).is_empty(), "{:?}", failures(&r));
    let served = table_version(&silver).await;
    // Wrong password.
    let wrong = "not-the-password-3141";
    let r = pass(&lake, &pg_orders_config(&lake, dir.path(), &url, wrong, "")).await;
    let f = failures(&r);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].starts_with("sources.shop_orders (postgres 127.0.0.1:"),
        "{}",
        f[0]
    );
    assert!(f[0].contains("password authentication failed"), "{}", f[0]);
    assert!(!f[0].contains(wrong) && !f[0].contains(&good), "{}", f[0]);
    // No server on that port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut down = url::Url::parse(&url).unwrap();
    down.set_port(Some(closed_port)).unwrap();
    let r = pass(
        &lake,
        &pg_orders_config(&lake, dir.path(), down.as_str(), &good, ""),
    )
    .await;
    let f = failures(&r);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].contains("sources.shop_orders") && f[0].contains("connect"),
        "{}",
        f[0]
    );
    assert_eq!(table_version(&silver).await, served);
    // A server that accepts and never answers: the source's `timeout:` ends the wait.
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hang_port = hang.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut kept = Vec::new();
        while let Ok((sock, _)) = hang.accept().await {
            kept.push(sock);
        }
    });
    let mut silent = url::Url::parse(&url).unwrap();
    silent.set_port(Some(hang_port)).unwrap();
    let mut quick = pg_orders_config(&lake, dir.path(), silent.as_str(), &good, "");
    for s in quick.sources.values_mut() {
        s.timeout = std::time::Duration::from_secs(2);
    }
    let f = failures(&pass(&lake, &quick).await);
    held.abort();
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].starts_with("sources.shop_orders (postgres 127.0.0.1:")
            && f[0].ends_with("connect: timed out after 2s"),
        "{}",
        f[0]
    );
    assert_eq!(table_version(&silver).await, served);
    // A big new slice, and the connection cut in the middle of reading it.
    c.batch_execute(
        "INSERT INTO orders SELECT 1000 + g, repeat('n', 200), g, repeat('x', 300), true,
           '2026-01-09 00:00:00+00'::timestamptz + g * interval '1 second',
           '2026-01-09 00:00:00+00'::timestamptz + g * interval '1 second', NULL, NULL
         FROM generate_series(1, 20000) g",
    )
    .await
    .unwrap();
    let pg_port = url::Url::parse(&url).unwrap().port().unwrap();
    let proxy = cutting_proxy(pg_port, 512 * 1024).await;
    let mut cut = url::Url::parse(&url).unwrap();
    cut.set_port(Some(proxy)).unwrap();
    let r = pass(
        &lake,
        &pg_orders_config(&lake, dir.path(), cut.as_str(), &good, ""),
    )
    .await;
    let f = failures(&r);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].contains("sources.shop_orders") && f[0].contains("read"),
        "{}",
        f[0]
    );
    assert_eq!(
        table_version(&silver).await,
        served,
        "nothing served changed"
    );
    // Nothing half-written is left where a later pass would take it as landed.
    let day9 = lake.join("landing/shop_orders/2026-01-09");
    let leftovers: Vec<_> = walk(&day9);
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The next good pass catches up.
    let r = pass(&lake, &ok).await;
    assert!(failures(&r).is_empty(), "{:?}", failures(&r));
    assert_eq!(
        written(&r),
        slices(&[
            ("bronze.shop_orders", "2026-01-09"),
            ("silver.orders", "2026-01-09")
        ])
    );
    same_rows(
        lake_rows(&silver, LAKE_ORDERS).await,
        pg_rows(&c, PG_EXPECTED).await,
    );
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

/// SIGKILL of `lakegate ingest --once` at random points (a fixed seed), then a clean pass:
/// the lake equals the source.
#[test]
#[ignore = "needs PostgreSQL: tests/sources/run.sh"]
fn sources_postgres_killed_at_random_points_then_a_clean_pass_equals_the_source() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    let c = rt.block_on(pg());
    rt.block_on(async {
        pg_orders_table(&c).await;
        c.batch_execute(
            "INSERT INTO orders SELECT 100 + g, 'c' || g, g % 1000, 'n', g % 2 = 0,
               '2026-03-01 00:00:00+00'::timestamptz + (g % 20) * interval '1 day',
               '2026-03-01 00:00:00+00'::timestamptz + g * interval '1 second', NULL, NULL
             FROM generate_series(1, 20000) g",
        )
        .await
        .unwrap();
    });
    let yaml = format!(
        r#"lake: {}
sources:
  shop_orders:
    postgres: {{url: "{}", password: "{}"}}
    table: public.orders
    slice: "(created_at AT TIME ZONE 'UTC')::date"
    watermark: "max(coalesce(deleted_at, updated_at, created_at))"
    slice_column: order_date
silver:
  orders:
    from: shop_orders
    unique_key: [id]
    latest_by: updated_at
    delete_when: "deleted_at IS NOT NULL"
"#,
        lake.display(),
        env("LAKEGATE_TEST_SRC_PG"),
        password_file(dir.path(), &env("LAKEGATE_TEST_SRC_PASSWORD"))
    );
    let cfg_path = dir.path().join("lakegate.yaml");
    std::fs::write(&cfg_path, &yaml).unwrap();
    let mut seed: u64 = 0x5eed_1234;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % 2500
    };
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_lakegate"))
            .args(["ingest", "--once", "--wait", "0s", "--config"])
            .arg(&cfg_path)
            .env("LAKEGATE_LOG", "error")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    for round in 0..8 {
        let mut child = run();
        std::thread::sleep(std::time::Duration::from_millis(next()));
        let _ = child.kill();
        let _ = child.wait();
        if round == 3 {
            // The source moves on between crashes.
            rt.block_on(c.batch_execute(
                "UPDATE orders SET amount = amount + 1, updated_at = '2026-04-01 00:00:00+00' WHERE id % 97 = 0",
            ))
            .unwrap();
        }
    }
    // The clean pass, with its error output kept for the assertion.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lakegate"))
        .args(["ingest", "--once", "--wait", "0s", "--config"])
        .arg(&cfg_path)
        .env("LAKEGATE_LOG", "error")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let silver = lake.join("silver/orders");
    let expected = rt.block_on(pg_rows(&c, PG_EXPECTED));
    assert_eq!(expected.len(), 20006);
    same_rows(
        rt.block_on(lake_rows(&silver, LAKE_ORDERS)),
        expected.clone(),
    );
    // Bronze holds each source row once.
    assert_eq!(
        rt.block_on(lake_rows(
            &lake.join("bronze/shop_orders"),
            "SELECT count(*), count(DISTINCT id) FROM t"
        )),
        [[Some("20006".into()), Some("20006".into())]]
    );
}

async fn mysql() -> sqlx::MySqlConnection {
    use sqlx::mysql::MySqlConnectOptions;
    let o: MySqlConnectOptions = env("LAKEGATE_TEST_SRC_MYSQL").parse().unwrap();
    sqlx::MySqlConnection::connect_with(&o.password(&env("LAKEGATE_TEST_SRC_PASSWORD")))
        .await
        .unwrap()
}

async fn my_rows(c: &mut sqlx::MySqlConnection, sql: &str) -> Rows {
    sqlx::raw_sql(sql)
        .fetch_all(&mut *c)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (0..r.len())
                .map(|i| {
                    r.try_get_unchecked::<Option<Vec<u8>>, _>(i)
                        .unwrap()
                        .map(|b| String::from_utf8(b).unwrap())
                })
                .collect()
        })
        .collect()
}

/// MariaDB: exact values (DECIMAL, utf8mb4 text with quotes, backslashes and newlines,
/// DATETIME(6), TIMESTAMP, TINYINT(1), BLOB, NULL and ''), changed slices only, and a key
/// moving between slices under `mode: merge`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB: tests/sources/run.sh"]
async fn sources_mysql_exact_values_changed_slices_and_merge() {
    let dir = TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    let mut c = mysql().await;
    sqlx::raw_sql(
        "SET time_zone = '+00:00';
         DROP TABLE IF EXISTS orders;
         CREATE TABLE orders (id BIGINT PRIMARY KEY, customer VARCHAR(100), amount DECIMAL(12,2),
           note TEXT, paid TINYINT(1), created_at DATETIME(6) NOT NULL, updated_at TIMESTAMP(6) NULL,
           raw BLOB) CHARACTER SET utf8mb4;
         INSERT INTO orders VALUES
           (1, 'Ann, \"the\" O''Neil \\\\ x', 10.50, 'line1\\nline2\\ttab', 1, '2026-01-01 10:00:00', '2026-01-01 10:00:00.123456', X'00ff10'),
           (2, 'Bjørn 日本 🙂', -0.01, '', 0, '2026-01-01 23:59:59.999999', NULL, X''),
           (3, NULL, 99999999.99, NULL, NULL, '2026-01-02 00:00:00', '2026-01-02 08:00:00', NULL);",
    )
    .execute(&mut c)
    .await
    .unwrap();
    let cfg = config(
        &lake,
        &format!(
            r#"
sources:
  my_orders:
    mysql: {{url: "{}", password: "{}"}}
    table: orders
    slice: "DATE(created_at)"
    watermark: "MAX(COALESCE(updated_at, created_at))"
    slice_column: order_date
silver:
  orders:
    from: my_orders
    unique_key: [id]
    latest_by: updated_at
    mode: merge
"#,
            env("LAKEGATE_TEST_SRC_MYSQL"),
            password_file(dir.path(), &env("LAKEGATE_TEST_SRC_PASSWORD"))
        ),
    );
    let expected_sql = "SELECT CAST(id AS CHAR), customer, CAST(amount AS CHAR), note, \
        CASE paid WHEN 1 THEN 'true' WHEN 0 THEN 'false' END, \
        CAST(CAST(UNIX_TIMESTAMP(updated_at) * 1000000 AS DECIMAL(20,0)) AS CHAR), LOWER(HEX(raw)), \
        CAST(DATE(created_at) AS CHAR), \
        CAST(CAST(UNIX_TIMESTAMP(created_at) * 1000000 AS DECIMAL(20,0)) AS CHAR) \
        FROM orders ORDER BY id";
    let lake_sql = "SELECT CAST(id AS VARCHAR) AS k, customer, CAST(amount AS VARCHAR), note, \
        CAST(paid AS VARCHAR), CAST(CAST(updated_at AS BIGINT) AS VARCHAR), encode(raw, 'hex'), \
        CAST(order_date AS VARCHAR), CAST(CAST(created_at AS BIGINT) AS VARCHAR) FROM t ORDER BY id";
    let silver = lake.join("silver/orders");
    // A wrong password first: the error names the source and neither password.
    let wrong = "not-the-password-2718";
    let bad = config(
        &lake,
        &format!(
            "sources:\n  my_orders:\n    mysql: {{url: \"{}\", password: \"{}\"}}\n    table: orders\n    \
             slice: \"DATE(created_at)\"\n    watermark: \"MAX(created_at)\"\n    slice_column: order_date\n",
            env("LAKEGATE_TEST_SRC_MYSQL"),
            password_file(dir.path(), wrong)
        ),
    );
    let f = failures(&pass(&lake, &bad).await);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].starts_with("sources.my_orders (mysql 127.0.0.1:"),
        "{}",
        f[0]
    );
    assert!(f[0].contains("Access denied"), "{}", f[0]);
    assert!(!f[0].contains(wrong) && !f[0].contains(&env("LAKEGATE_TEST_SRC_PASSWORD")));
    assert!(!silver.exists());
    let r = pass(&lake, &cfg).await;
    assert!(failures(&r).is_empty(), "{:?}", failures(&r));
    let expected = my_rows(&mut c, expected_sql).await;
    assert_eq!(expected.len(), 3);
    same_rows(lake_rows(&silver, lake_sql).await, expected.clone());
    assert_eq!(
        lake_rows(
            &silver,
            "SELECT arrow_typeof(amount), arrow_typeof(created_at), arrow_typeof(updated_at), arrow_typeof(paid), arrow_typeof(raw) FROM t LIMIT 1"
        )
        .await[0],
        [
            Some("Decimal128(12, 2)".into()),
            Some("Timestamp(µs)".into()),
            Some("Timestamp(µs, \"UTC\")".into()),
            Some("Boolean".into()),
            Some("BinaryView".into())
        ]
    );
    // An update in slice 2 and a new slice: only those are read.
    sqlx::raw_sql(
        "UPDATE orders SET amount = 5.55, updated_at = '2026-02-01 00:00:00' WHERE id = 3;
         INSERT INTO orders VALUES (4, 'Dee', 1.00, 'n', 1, '2026-01-05 00:00:00', NULL, NULL);",
    )
    .execute(&mut c)
    .await
    .unwrap();
    let r = pass(&lake, &cfg).await;
    assert!(failures(&r).is_empty(), "{:?}", failures(&r));
    assert_eq!(
        written(&r),
        slices(&[
            ("bronze.my_orders", "2026-01-02"),
            ("silver.orders", "2026-01-02"),
            ("bronze.my_orders", "2026-01-05"),
            ("silver.orders", "2026-01-05"),
        ])
    );
    same_rows(
        lake_rows(&silver, lake_sql).await,
        my_rows(&mut c, expected_sql).await,
    );
    // A key moves between slices (its created_at is corrected): one row, in its new slice.
    sqlx::raw_sql(
        "UPDATE orders SET created_at = '2026-01-05 06:00:00', updated_at = '2026-02-02 00:00:00' WHERE id = 1",
    )
    .execute(&mut c)
    .await
    .unwrap();
    let r = pass(&lake, &cfg).await;
    assert!(failures(&r).is_empty(), "{:?}", failures(&r));
    same_rows(
        lake_rows(&silver, lake_sql).await,
        my_rows(&mut c, expected_sql).await,
    );
    assert_eq!(
        lake_rows(&silver, "SELECT count(*) FROM t WHERE id = 1").await,
        [[Some("1".into())]]
    );
}

/// A small HTTP API: pages per path, statuses to answer first per path, and what it saw.
#[derive(Default)]
struct Api {
    pages: std::collections::HashMap<String, serde_json::Value>,
    /// path → statuses to answer (in order) before the page.
    fail_first: std::collections::HashMap<String, Vec<u16>>,
    requests: Vec<(String, Option<String>)>,
}

async fn api_server(api: std::sync::Arc<std::sync::Mutex<Api>>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let api = api.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                let path = head.split(' ').nth(1).unwrap_or("/").to_string();
                let auth = head
                    .lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
                    .map(|l| l[14..].trim().to_string());
                let (code, body) = {
                    let mut a = api.lock().unwrap();
                    a.requests.push((path.clone(), auth));
                    let first = a
                        .fail_first
                        .get_mut(&path)
                        .and_then(|v| (!v.is_empty()).then(|| v.remove(0)));
                    match first {
                        Some(code) => (code, "{\"error\": \"try later\"}".to_string()),
                        None => match a.pages.get(&path) {
                            Some(p) => (200, p.to_string()),
                            None => (200, "{\"results\": []}".to_string()),
                        },
                    }
                };
                let reason = match code {
                    200 => "OK",
                    404 => "Not Found",
                    429 => "Too Many Requests",
                    _ => "Service Unavailable",
                };
                let resp = format!(
                    "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nRetry-After: 0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    port
}

/// An HTTP API as a source: pages until an empty one, 429 and 503 retried, records flattened
/// and typed by `schema`, unchanged content not written again, a changed slice alone re-read,
/// and an API error failing the slice with the source's name (never its token).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_source_pages_retries_and_rereads_only_what_changed() {
    use serde_json::json;
    let dir = TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    let api = std::sync::Arc::new(std::sync::Mutex::new(Api::default()));
    {
        let mut a = api.lock().unwrap();
        a.pages.insert(
            "/lists/popular?page=1".into(),
            json!({"results": [
                {"id": 1, "title": "Alien, \"the\" 'first'", "rating": 8.5, "studio": {"name": "Fox"}},
                {"id": 2, "title": "Brazil 日本", "rating": 7.9, "studio": {"name": null}}
            ]}),
        );
        a.pages.insert(
            "/lists/popular?page=2".into(),
            json!({"results": [{"id": 3, "title": "Cube\nnew line", "rating": 6.0, "studio": {"name": "Cinema"}}]}),
        );
        a.pages.insert(
            "/lists/top%20rated?page=1".into(),
            json!({"results": [{"id": 1, "title": "Alien, \"the\" 'first'", "rating": 8.5, "studio": {"name": "Fox"}}]}),
        );
        a.fail_first
            .insert("/lists/popular?page=2".into(), vec![429, 503]);
        a.fail_first
            .insert("/lists/top%20rated?page=1".into(), vec![503]);
    }
    let port = api_server(api.clone()).await;
    let token = "Bearer secret-token-2718";
    let yaml = |every: &str, slices: &str| {
        format!(
            r#"
sources:
  movies:
    http: {{url: "http://127.0.0.1:{port}/lists/{{slice}}?page={{page}}", headers: {{Authorization: "{}"}},
            records: results, slices: [{slices}], every: {every}, retries: 3}}
    slice_column: list
    schema: {{id: bigint, title: text, rating: "decimal(3,1)", studio_name: text, list: text}}
silver:
  movies:
    from: movies
    unique_key: [list, id]
"#,
            password_file(dir.path(), token)
        )
    };
    let cfg = config(&lake, &yaml("0s", "popular, top rated"));
    let r = pass(&lake, &cfg).await;
    assert!(failures(&r).is_empty(), "{:?}", failures(&r));
    let silver = lake.join("silver/movies");
    let sql =
        "SELECT CAST(id AS VARCHAR) AS k, list, title, CAST(rating AS VARCHAR), studio_name FROM t";
    let mut got = lake_rows(&silver, sql).await;
    got.sort();
    let row = |id: &str, list: &str, title: &str, rating: &str, studio: Option<&str>| {
        vec![
            Some(id.to_string()),
            Some(list.to_string()),
            Some(title.to_string()),
            Some(rating.to_string()),
            studio.map(str::to_string),
        ]
    };
    assert_eq!(
        got,
        [
            row("1", "popular", "Alien, \"the\" 'first'", "8.5", Some("Fox")),
            row(
                "1",
                "top rated",
                "Alien, \"the\" 'first'",
                "8.5",
                Some("Fox")
            ),
            row("2", "popular", "Brazil 日本", "7.9", None),
            row("3", "popular", "Cube\nnew line", "6.0", Some("Cinema")),
        ]
    );
    {
        let a = api.lock().unwrap();
        // popular: page 1, page 2 three times (429, 503, 200), page 3 (empty); top rated: 1 twice, 2.
        let paths: Vec<&str> = a.requests.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(
            paths
                .iter()
                .filter(|p| p.starts_with("/lists/popular?page=2"))
                .count(),
            3
        );
        assert_eq!(
            paths
                .iter()
                .filter(|p| **p == "/lists/top%20rated?page=1")
                .count(),
            2
        );
        assert_eq!(a.requests.len(), 8, "{paths:?}");
        assert!(a.requests.iter().all(|r| r.1.as_deref() == Some(token)));
    }
    // Unchanged content: fetched again (every: 0s) but nothing is written.
    let r = pass(&lake, &cfg).await;
    assert!(failures(&r).is_empty(), "{:?}", failures(&r));
    assert!(written(&r).is_empty(), "{:?}", written(&r));
    assert_eq!(r.skipped, 2);
    // One slice changes: only it is re-read.
    api.lock().unwrap().pages.insert(
        "/lists/top%20rated?page=1".into(),
        json!({"results": [{"id": 9, "title": "Zed", "rating": 9.0}]}),
    );
    let r = pass(&lake, &cfg).await;
    assert!(failures(&r).is_empty(), "{:?}", failures(&r));
    assert_eq!(
        written(&r),
        slices(&[
            ("bronze.movies", "top rated"),
            ("silver.movies", "top rated")
        ])
    );
    assert_eq!(
        lake_rows(
            &silver,
            "SELECT CAST(id AS VARCHAR) AS k, title FROM t WHERE list = 'top rated'"
        )
        .await,
        [[Some("9".into()), Some("Zed".into())]]
    );
    // Back to the first content (A → B → A): read again, not taken as done.
    api.lock().unwrap().pages.insert(
        "/lists/top%20rated?page=1".into(),
        json!({"results": [{"id": 1, "title": "Alien, \"the\" 'first'", "rating": 8.5, "studio": {"name": "Fox"}}]}),
    );
    let r = pass(&lake, &cfg).await;
    assert_eq!(
        written(&r),
        slices(&[
            ("bronze.movies", "top rated"),
            ("silver.movies", "top rated")
        ])
    );
    assert_eq!(
        lake_rows(
            &silver,
            "SELECT CAST(id AS VARCHAR) AS k, title FROM t WHERE list = 'top rated'"
        )
        .await,
        [[Some("1".into()), Some("Alien, \"the\" 'first'".into())]]
    );
    // Not due (every: 1h): no request at all, nothing written.
    let before = api.lock().unwrap().requests.len();
    let r = pass(&lake, &config(&lake, &yaml("1h", "popular, top rated"))).await;
    assert!(failures(&r).is_empty() && written(&r).is_empty(), "{r:?}");
    assert_eq!(api.lock().unwrap().requests.len(), before);
    // A missing list (404) and an API that keeps failing: the slice fails, naming the source.
    api.lock()
        .unwrap()
        .fail_first
        .insert("/lists/popular?page=1".into(), vec![503; 10]);
    let version = table_version(&silver).await;
    let r = pass(&lake, &config(&lake, &yaml("0s", "popular, gone"))).await;
    let mut f = failures(&r);
    f.sort();
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].starts_with("sources.movies: GET http://127.0.0.1:")
            && f[0].ends_with("/lists/popular?…: HTTP 503 Service Unavailable (after 3 retries)"),
        "{}",
        f[0]
    );
    assert!(!f.iter().any(|e| e.contains("secret-token")));
    // `gone` answers an empty list: an empty slice, not an error; popular stays as served.
    assert_eq!(
        written(&r),
        slices(&[("bronze.movies", "gone"), ("silver.movies", "gone")])
    );
    assert_eq!(
        lake_rows(&silver, "SELECT count(*) FROM t WHERE list = 'popular'").await,
        [[Some("3".into())]]
    );
    assert!(table_version(&silver).await > version);
}
