//! Freshness end to end: a silver table going fresh → warn → error → fresh as slices land,
//! told over the wire as the NOTICE a real client receives, inherited by a view, counted in
//! /metrics, judged by `check --freshness`; and alerts: exactly one webhook message per state
//! change, to a receiver that is down at first or slow, without holding ingestion up.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use lakegate::config::Config;
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_postgres::{AsyncMessage, Client, NoTls};

use crate::common::*;

const HEADER: &str = "order_id,customer_id,order_date,amount,status\n";

fn deliver(lake: &Path, slice: &str, watermark: &str, body: &str) {
    let dir = lake.join("landing/orders").join(slice).join(watermark);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("orders.csv"), format!("{HEADER}{body}")).unwrap();
}

/// A webhook receiver: records each JSON body; answers after `delay`.
#[derive(Clone, Default)]
struct Receiver {
    messages: Arc<Mutex<Vec<Value>>>,
    delay: Arc<Mutex<Duration>>,
}

impl Receiver {
    async fn serve(&self, listener: tokio::net::TcpListener) {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let me = self.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let body = loop {
                    let Ok(n) = s.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len: usize = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap())
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break buf[end + 4..end + 4 + len].to_vec();
                        }
                    }
                };
                let delay = *me.delay.lock().unwrap();
                tokio::time::sleep(delay).await;
                me.messages
                    .lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    }

    /// (event, state, subject) of each message so far.
    fn said(&self) -> Vec<(String, String, String)> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .map(|m| {
                let l = &m["lakegate"];
                (
                    l["event"].as_str().unwrap().to_string(),
                    l["state"].as_str().unwrap().to_string(),
                    l["subject"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

type Notices = Arc<Mutex<Vec<(String, String)>>>;

/// A client whose connection task keeps the server's notices (severity, message); `login` is
/// `user=… [password=…]`.
async fn client_with_notices(addr: SocketAddr, login: &str) -> (Client, Notices) {
    let url = format!(
        "host={} port={} {login} dbname=lake",
        addr.ip(),
        addr.port()
    );
    let (client, mut conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    let notices: Notices = Default::default();
    let n2 = notices.clone();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(Ok(m)) = messages.next().await {
            if let AsyncMessage::Notice(n) = m {
                n2.lock()
                    .unwrap()
                    .push((n.severity().to_string(), n.message().to_string()));
            }
        }
    });
    (client, notices)
}

/// The notices one statement produced.
async fn notices_of(client: &Client, notices: &Notices, sql: &str) -> Vec<(String, String)> {
    notices.lock().unwrap().clear();
    client.simple_query(sql).await.unwrap();
    // Notices arrive before the statement's result; the connection task has them by now,
    // but give it a moment to hand them over.
    tokio::time::sleep(Duration::from_millis(50)).await;
    notices.lock().unwrap().clone()
}

fn config(dir: &Path, webhooks: &[String]) -> Config {
    let lake = dir.join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    let views = dir.join("views/gold");
    std::fs::create_dir_all(&views).unwrap();
    std::fs::write(
        views.join("daily.sql"),
        "SELECT order_date, sum(amount) AS total FROM silver.orders GROUP BY order_date\n",
    )
    .unwrap();
    // A gold model: the view kept as a table, rebuilt after each pass.
    std::fs::write(
        views.join("totals.sql"),
        "SELECT count(*) AS n, sum(amount) AS total FROM silver.orders\n",
    )
    .unwrap();
    std::fs::write(views.join("totals.yaml"), "materialize: full\n").unwrap();
    let yaml = format!(
        r#"
lake: {}
listen: 127.0.0.1:0
refresh_interval: 200ms
views: {}
http: {{listen: "127.0.0.1:0"}}
ingest: {{interval: 1h}}
sources:
  orders:
    format: csv
    slice_column: order_date
    schema: {{order_id: bigint, customer_id: bigint, order_date: date, amount: "decimal(12,2)", status: text}}
silver:
  orders:
    from: orders
    unique_key: [order_id]
    expectations:
      - {{name: positive_amount, expect: "amount >= 0", on_violation: fail}}
    freshness: {{warn_after: 4s, error_after: 8s}}
alerts:
{}"#,
        lake.display(),
        dir.join("views").display(),
        webhooks
            .iter()
            .map(|w| format!(
                "  - {{webhook: \"{w}\", on: [slice_failed, freshness_error, view_broken]}}\n"
            ))
            .collect::<String>()
    );
    let c = Config::from_yaml(Path::new("test.yaml"), &yaml).unwrap();
    c.validate(lakegate::CONFIG_CHECKS).unwrap();
    c
}

async fn state_of(client: &Client, table: &str) -> String {
    client
        .query_one(
            "SELECT state FROM lakegate.freshness WHERE table_schema || '.' || table_name = $1",
            &[&table],
        )
        .await
        .map(|r| r.get::<_, String>(0))
        .unwrap_or_else(|e| format!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_goes_warn_error_fresh_with_notices_a_view_inherits_and_each_change_alerts_once() {
    let dir = TempDir::new().unwrap();
    // The webhook is down at first: its port is free, nothing listens.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let hook = format!("http://127.0.0.1:{port}/services/T000/B000/secret-token");
    // A second webhook answers only after 30 s (past the sender's 10 s timeout), all along.
    let slow = Receiver::default();
    *slow.delay.lock().unwrap() = Duration::from_secs(30);
    let slow_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow_hook = format!("http://{}/hook", slow_listener.local_addr().unwrap());
    {
        let r = slow.clone();
        tokio::spawn(async move { r.serve(slow_listener).await });
    }
    let c = config(dir.path(), &[hook, slow_hook]);
    let lake = dir.path().join("lake");
    deliver(&lake, "2026-01-01", "1", "1,10,2026-01-01,10.00,new\n");
    let server = lakegate::server::start(c).await.unwrap();
    let http = server.http_addr.unwrap();
    let t = TestServer::from_parts(server, lake.clone(), dir.path().join("kept"));
    let (client, notices) = client_with_notices(t.server.addr, "user=tester").await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            state_of(&client, "silver.orders").await == "fresh"
        })
        .await,
        "{}",
        state_of(&client, "silver.orders").await
    );
    // Fresh: nothing to tell.
    assert_eq!(
        notices_of(&client, &notices, "SELECT count(*) FROM silver.orders").await,
        vec![]
    );
    let row = client
        .query_one(
            "SELECT kind, rule, why, last_ingest IS NOT NULL FROM lakegate.freshness \
             WHERE table_schema = 'gold' AND table_name = 'daily'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "view");
    assert_eq!(row.get::<_, Option<String>>(1), None);
    assert!(
        row.get::<_, String>(2)
            .contains("stalest input silver.orders")
    );

    // Four seconds on: warn, told as a NOTICE on every way of reading it.
    assert!(
        eventually(Duration::from_secs(10), || async {
            state_of(&client, "silver.orders").await == "warn"
        })
        .await
    );
    let n = notices_of(&client, &notices, "SELECT count(*) FROM silver.orders").await;
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(n[0].0, "NOTICE");
    assert!(
        n[0].1
            .starts_with("table silver.orders is stale (warn): 4s old")
            || n[0]
                .1
                .starts_with("table silver.orders is stale (warn): 5s old"),
        "{}",
        n[0].1
    );
    assert!(
        n[0].1.contains("(warn after 4s, error after 8s)"),
        "{}",
        n[0].1
    );
    // Once per statement, however often the table is read; a view reading it says so too.
    let n = notices_of(
        &client,
        &notices,
        "SET search_path = silver, public; \
         WITH o AS (SELECT * FROM orders) SELECT (SELECT count(*) FROM o) AS a, (SELECT count(*) FROM \"silver\".\"orders\") AS b",
    )
    .await;
    assert_eq!(n.len(), 1, "{n:?}");
    let n = notices_of(&client, &notices, "SELECT * FROM gold.daily").await;
    assert_eq!(n.len(), 1, "{n:?}");
    assert!(
        n[0].1.starts_with("view gold.daily is stale (warn)"),
        "{}",
        n[0].1
    );
    assert!(n[0].1.contains("reads silver.orders (warn:"), "{}", n[0].1);
    assert_eq!(state_of(&client, "gold.daily").await, "warn");
    // Prepared statements (extended protocol) are told as well.
    notices.lock().unwrap().clear();
    let stmt = client
        .prepare("SELECT count(*) FROM silver.orders WHERE order_id > $1")
        .await
        .unwrap();
    client.query(&stmt, &[&0i64]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        notices.lock().unwrap().len(),
        1,
        "{:?}",
        notices.lock().unwrap()
    );
    // The HTTP door tells it too: in the JSON body and as a header.
    let resp = reqwest::Client::new()
        .post(format!("http://{http}/v1/query"))
        .json(&serde_json::json!({"sql": "SELECT count(*) AS n FROM silver.orders"}))
        .send()
        .await
        .unwrap();
    let header = resp
        .headers()
        .get("lakegate-notice")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(
        header.starts_with("NOTICE: table silver.orders is stale (warn)"),
        "{header}"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["notices"][0]["severity"], "NOTICE", "{body}");
    assert_eq!(body["notices"][0]["sqlstate"], "01000", "{body}");
    assert_eq!(body["rows"], serde_json::json!([[1]]), "{body}");
    // Silenced per session.
    let n = notices_of(
        &client,
        &notices,
        "SET lakegate.freshness_notices = off; SELECT count(*) FROM silver.orders",
    )
    .await;
    assert_eq!(n, vec![]);
    client
        .simple_query("RESET lakegate.freshness_notices")
        .await
        .unwrap();

    // Eight seconds on: error, told with WARNING severity.
    assert!(
        eventually(Duration::from_secs(10), || async {
            state_of(&client, "silver.orders").await == "error"
        })
        .await
    );
    // The webhook comes up only now: the alert of the error, sent while it was down, still
    // gets through (retried with backoff).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    {
        let r = receiver.clone();
        tokio::spawn(async move { r.serve(listener).await });
    }
    let n = notices_of(&client, &notices, "SELECT count(*) FROM silver.orders").await;
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(n[0].0, "WARNING");
    assert!(
        n[0].1.starts_with("table silver.orders is stale (error)"),
        "{}",
        n[0].1
    );
    // /metrics has the age and the state.
    let metrics = reqwest::get(format!("http://{http}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .contains("lakegate_table_freshness_state{table=\"silver.orders\",state=\"error\"} 1"),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("freshness"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let age: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("lakegate_table_age_seconds{table=\"silver.orders\"} "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(age > 8.0, "{age}");
    assert!(
        eventually(Duration::from_secs(20), || async {
            !receiver.said().is_empty()
        })
        .await,
        "the alert never arrived"
    );

    // The slow webhook holds its own queue, never ingestion: a new slice lands and is served;
    // the table is fresh again.
    deliver(&lake, "2026-01-02", "1", "2,11,2026-01-02,5.00,paid\n");
    assert!(
        eventually(Duration::from_secs(10), || async {
            state_of(&client, "silver.orders").await == "fresh"
        })
        .await,
        "{}",
        state_of(&client, "silver.orders").await
    );
    assert_eq!(
        client
            .query_one("SELECT count(*) FROM silver.orders", &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        2
    );
    assert_eq!(
        notices_of(&client, &notices, "SELECT * FROM gold.daily").await,
        vec![]
    );
    // A slice that fails its expectation: one slice_failed message with its slice and run.
    deliver(&lake, "2026-01-03", "1", "3,12,2026-01-03,-1.00,new\n");
    assert!(
        eventually(Duration::from_secs(40), || async {
            receiver.said().iter().any(|m| m.0 == "slice_failed")
        })
        .await,
        "{:?}",
        receiver.said()
    );
    // The failing slice shows in the table's freshness, and in the view's.
    assert_eq!(state_of(&client, "silver.orders").await, "warn");
    let n = notices_of(&client, &notices, "SELECT * FROM gold.daily").await;
    assert!(
        n.len() == 1 && n[0].1.contains("slice 2026-01-03 failed"),
        "{n:?}"
    );
    // The gold model built from it says so too.
    let n = notices_of(&client, &notices, "SELECT * FROM gold.totals").await;
    assert!(
        n.len() == 1
            && n[0].1.starts_with("gold model gold.totals is stale (warn)")
            && n[0].1.contains("slice 2026-01-03 failed"),
        "{n:?}"
    );
    // Another good slice: still failing (2026-01-03's latest attempt failed), so nothing new.
    deliver(&lake, "2026-01-04", "1", "4,13,2026-01-04,1.00,new\n");
    assert!(
        eventually(Duration::from_secs(10), || async {
            client
                .query_one("SELECT count(*) FROM silver.orders", &[])
                .await
                .map(|r| r.get::<_, i64>(0) == 3)
                .unwrap_or(false)
        })
        .await
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Exactly one message per change, in order; each names the table, the status page, and
    // (for the failure) the slice, the error and the run.
    assert_eq!(
        receiver.said(),
        [
            ("freshness_error", "firing", "silver.orders"),
            ("freshness_error", "resolved", "silver.orders"),
            ("slice_failed", "firing", "silver.orders"),
        ]
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    );
    let messages = receiver.messages.lock().unwrap().clone();
    let failed = &messages[2];
    assert_eq!(failed["lakegate"]["slice"], "2026-01-03");
    assert!(
        failed["lakegate"]["error"]
            .as_str()
            .unwrap()
            .contains("positive_amount"),
        "{failed}"
    );
    assert!(!failed["lakegate"]["run_id"].as_str().unwrap().is_empty());
    assert_eq!(failed["lakegate"]["link"], format!("http://{http}/"));
    assert!(
        failed["text"]
            .as_str()
            .unwrap()
            .contains("slice 2026-01-03 of silver.orders failed")
    );
    // What was said is kept in the lake (a restarted or cron process does not repeat it).
    let said = std::fs::read_to_string(lake.join("_lakegate/alerts.json")).unwrap();
    assert_eq!(said, r#"{"slice_failed:silver.orders":true}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_freshness_exits_1_when_a_table_is_in_error() {
    let dir = TempDir::new().unwrap();
    let c = config(dir.path(), &["http://127.0.0.1:9/hook".to_string()]);
    let lake = dir.path().join("lake");
    deliver(&lake, "2026-01-01", "1", "1,10,2026-01-01,10.00,new\n");
    let ing = lakegate::ingest::Ingestor::new(lake.clone().into(), c.clone());
    assert_eq!(
        ing.run_once(&lakegate::ingest::Selection::default())
            .await
            .unwrap()
            .failed(),
        0
    );
    let yaml = dir.path().join("lakegate.yaml");
    let text = format!(
        "lake: {}\nviews: {}\nsources:\n  orders:\n    format: csv\n    slice_column: order_date\n\
         silver:\n  orders:\n    from: orders\n    unique_key: [order_id]\n    freshness: {{warn_after: RULE, error_after: RULE}}\n",
        lake.display(),
        dir.path().join("views").display()
    );
    let run = |rule: &str| {
        std::fs::write(&yaml, text.replace("RULE", rule)).unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_lakegate"))
            .args(["check", "--freshness", "--config"])
            .arg(&yaml)
            .output()
            .unwrap()
    };
    let ok = run("2h");
    let out = String::from_utf8_lossy(&ok.stdout).to_string();
    assert!(
        ok.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(out.contains("fresh   silver.orders"), "{out}");
    // Older than a millisecond: in error, exit 1.
    let bad = run("1ms");
    let out = String::from_utf8_lossy(&bad.stdout).to_string();
    assert_eq!(bad.status.code(), Some(1), "{out}");
    assert!(out.contains("error   silver.orders"), "{out}");
    assert!(out.contains("error after 1ms"), "{out}");
    // A rule that cannot hold is refused with its place in the file.
    std::fs::write(
        &yaml,
        text.replace(
            "warn_after: RULE, error_after: RULE",
            "warn_after: 2h, error_after: 1h",
        ),
    )
    .unwrap();
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_lakegate"))
        .args(["check", "--config"])
        .arg(&yaml)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&refused.stderr).to_string();
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(
        err.contains("lakegate.yaml:")
            && err.contains("warn_after must not be longer than error_after"),
        "{err}"
    );
}

/// The other alerts: a view breaking and planning again, the ingest lease lost and won back;
/// and a rule by the data's own time (`loaded_at_field`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn view_broken_lease_lost_and_loaded_at_field() {
    let dir = TempDir::new().unwrap();
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    {
        let r = receiver.clone();
        tokio::spawn(async move { r.serve(listener).await });
    }
    let mut c = config(dir.path(), &[hook]);
    c.ingest.interval = Duration::from_secs(1);
    c.ingest.lease_ttl = Duration::from_secs(3);
    c.alerts[0].on = lakegate::config::AlertEvent::all();
    c.sources.get_mut("orders").unwrap().freshness = Some(lakegate::config::FreshnessRule {
        warn_after: Some(Duration::from_secs(3600)),
        error_after: Some(Duration::from_secs(7200)),
        loaded_at_field: Some("order_date".into()),
    });
    let lake = dir.path().join("lake");
    deliver(&lake, "2026-01-01", "1", "1,10,2026-01-01,10.00,new\n");
    deliver(&lake, "2025-06-30", "1", "2,10,2025-06-30,10.00,new\n");
    let server = lakegate::server::start(c).await.unwrap();
    let t = TestServer::from_parts(server, lake.clone(), dir.path().join("kept"));
    let client = t.connect().await;
    let said = |n: usize| {
        let r = receiver.clone();
        async move {
            eventually(Duration::from_secs(20), || async { r.said().len() >= n }).await;
            r.said()
        }
    };
    let s = |v: &[(&str, &str, &str)]| {
        v.iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect::<Vec<_>>()
    };
    // bronze.orders is judged by its newest order_date, 2026-01-01: months old, in error.
    assert_eq!(
        said(1).await,
        s(&[("freshness_error", "firing", "bronze.orders")])
    );
    let row = client
        .query_one(
            "SELECT state, CAST(newest_data AS VARCHAR), rule FROM lakegate.freshness \
             WHERE table_schema = 'bronze' AND table_name = 'orders'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "error");
    assert!(
        row.get::<_, String>(1).starts_with("2026-01-01"),
        "{}",
        row.get::<_, String>(1)
    );
    assert_eq!(
        row.get::<_, String>(2),
        "warn after 1h, error after 2h, by max(order_date)"
    );
    // A view breaks, then plans again: one message each.
    let view = dir.path().join("views/gold/daily.sql");
    std::fs::write(&view, "SELEC order_date FROM silver.orders\n").unwrap();
    assert_eq!(
        said(2).await[1..],
        s(&[("view_broken", "firing", "gold.daily")])
    );
    let m = receiver.messages.lock().unwrap()[1].clone();
    assert!(
        m["lakegate"]["error"]
            .as_str()
            .unwrap()
            .contains("daily.sql:1"),
        "{m}"
    );
    std::fs::write(&view, "SELECT order_date FROM silver.orders\n").unwrap();
    assert_eq!(
        said(3).await[2..],
        s(&[("view_broken", "resolved", "gold.daily")])
    );
    // Another writer takes the lease behind this process's back (its heartbeat then stops):
    // lost, then won back once that heartbeat is older than the TTL.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let other =
        serde_json::json!({"host": "elsewhere", "pid": 1, "token": "theirs", "heartbeat": now});
    std::fs::write(lake.join("_lakegate/ingest.lease"), other.to_string()).unwrap();
    assert_eq!(
        said(5).await[3..],
        s(&[
            ("lease_lost", "firing", "ingest lease"),
            ("lease_lost", "resolved", "ingest lease"),
        ])
    );
    // The status page shows each relation against its rule.
    let http = t.server.http_addr.unwrap();
    let page = reqwest::get(format!("http://{http}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<h2>Freshness</h2>"), "{page}");
    assert!(
        page.contains("<tr><td>bronze.orders</td><td class=bad>error</td>"),
        "{page}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.said().len(), 5, "{:?}", receiver.said());
}

/// A time taken from a table's data (`loaded_at_field`) is the newest over every row: a reader
/// whose row filter hides rows is told the state, but neither that time nor the age it gives,
/// in `lakegate.freshness`, in the notices or on the status page. A view over the table hides
/// it the same way; an admin sees both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_time_behind_a_row_filter_is_not_told() {
    use lakegate::auth::Verifier;
    use lakegate::config::{RoleConfig, UserConfig};
    let dir = TempDir::new().unwrap();
    let mut c = config(dir.path(), &[]);
    c.ingest.interval = Duration::from_secs(1);
    c.sources.get_mut("orders").unwrap().freshness = Some(lakegate::config::FreshnessRule {
        warn_after: Some(Duration::from_secs(3600)),
        error_after: Some(Duration::from_secs(7200)),
        loaded_at_field: Some("order_date".into()),
    });
    std::fs::write(
        dir.path().join("views/gold/recent.sql"),
        "SELECT order_id, order_date FROM bronze.orders\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("views/gold/recent.yaml"),
        "freshness: {warn_after: 1h, error_after: 2h, loaded_at_field: order_date}\n",
    )
    .unwrap();
    // A view judged by its input's time, with no data field of its own.
    std::fs::write(
        dir.path().join("views/gold/recent_any.sql"),
        "SELECT order_id FROM bronze.orders\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("views/gold/recent_any.yaml"),
        "freshness: {warn_after: 1h, error_after: 2h}\n",
    )
    .unwrap();
    let user = |password: &str, roles: &[&str], admin: bool| UserConfig {
        password: Verifier::generate(password).to_string(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        admin,
        max_connections: None,
    };
    c.users.insert("ops".into(), user("ops-pass", &[], true));
    c.users
        .insert("ann".into(), user("ann-pass", &["analyst"], false));
    c.roles.insert(
        "analyst".into(),
        RoleConfig {
            grants: vec![
                "bronze.orders".into(),
                "gold.*".into(),
                "lakegate.freshness".into(),
            ],
            // ann does not see the newest order, dated 2026-01-01.
            row_filters: [(
                "bronze.orders".to_string(),
                "order_date < DATE '2026-01-01'".to_string(),
            )]
            .into_iter()
            .collect(),
            ..Default::default()
        },
    );
    let lake = dir.path().join("lake");
    deliver(&lake, "2026-01-01", "1", "1,10,2026-01-01,10.00,new\n");
    deliver(&lake, "2025-06-30", "1", "2,10,2025-06-30,10.00,new\n");
    let server = lakegate::server::start(c).await.unwrap();
    let t = TestServer::from_parts(server, lake.clone(), dir.path().join("kept"));
    let (ops, _) = client_with_notices(t.server.addr, "user=ops password=ops-pass").await;
    let (ann, ann_notices) = client_with_notices(t.server.addr, "user=ann password=ann-pass").await;
    // Wait for the first pass and the watch to read the data times.
    eventually(Duration::from_secs(20), || async {
        freshness_rows(&ops)
            .await
            .iter()
            .filter(|r| r.2.is_some())
            .count()
            == 2
    })
    .await;
    // The view without a field of its own: ops is told its input's age, ann is not, nor which
    // input is stalest.
    let (state, hidden, why) = judged(&ops).await;
    assert_eq!((state.as_str(), hidden), ("error", false), "{why}");
    assert!(why.contains("stalest input bronze.orders"), "{why}");
    let (state, hidden, why) = judged(&ann).await;
    assert_eq!((state.as_str(), hidden), ("error", true), "{why}");
    assert!(
        !why.contains(" old;") && why.starts_with("stalest input not shown"),
        "{why}"
    );
    let admin = freshness_rows(&ops).await;
    for r in &admin {
        assert_eq!(r.1, "error", "{r:?}");
        assert!(r.2.as_deref().unwrap().starts_with("2026-01-01"), "{r:?}");
        assert!(!r.3, "{r:?}");
        assert!(r.4.contains("newest order_date is 2026-01-01"), "{r:?}");
    }
    assert_eq!(
        admin.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        ["bronze.orders", "gold.recent"]
    );
    let told = freshness_rows(&ann).await;
    assert_eq!(
        told.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        ["bronze.orders", "gold.recent"]
    );
    for r in &told {
        assert_eq!(r.1, "error", "{r:?}");
        assert_eq!((r.2.as_deref(), r.3), (None, true), "{r:?}");
        assert!(!r.4.contains("2026"), "{r:?}");
        assert!(r.4.contains("newest order_date not shown"), "{r:?}");
    }
    // ann's own read gets the notice, without the time.
    let said = notices_of(&ann, &ann_notices, "SELECT count(*) FROM gold.recent").await;
    assert_eq!(said.len(), 1, "{said:?}");
    assert_eq!(said[0].0, "WARNING");
    assert!(
        said[0].1.starts_with("view gold.recent is stale (error)"),
        "{said:?}"
    );
    assert!(
        !said[0].1.contains("2026") && !said[0].1.contains(" old;"),
        "{said:?}"
    );
    // ann still reads only what her filter lets through.
    let n: i64 = ann
        .query_one("SELECT count(*) FROM gold.recent", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);

    // The status page's age chart: ops gets the history of gold.recent, ann no sample of it.
    let http = t.server.http_addr.unwrap();
    let chart_of = |page: &str, relation: &str| {
        let row = format!("<tr><td>{relation}</td>");
        let at = page
            .find(&row)
            .unwrap_or_else(|| panic!("{relation} not on the page"));
        page[at..][..page[at..].find("</tr>").unwrap()].to_string()
    };
    let page_of = |who: &'static str, password: &'static str| async move {
        let r = reqwest::Client::new()
            .get(format!("http://{http}/"))
            .basic_auth(who, Some(password))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.text().await.unwrap()
    };
    let charted = |page: &str| {
        ["bronze.orders", "gold.recent", "gold.recent_any"]
            .iter()
            .all(|r| chart_of(page, r).contains(" min</title>"))
    };
    assert!(
        eventually(Duration::from_secs(10), || async {
            charted(&page_of("ops", "ops-pass").await)
        })
        .await,
        "{}",
        page_of("ops", "ops-pass").await
    );
    // Each landed slice has one row: ops is told so, ann (filtered) sees the slices without it.
    let ops_page = page_of("ops", "ops-pass").await;
    let slice_rows = |page: &str, rows: &str| {
        page.matches(&format!(
            "<td>bronze.orders</td><td>2025-06-30</td><td>1</td><td class=ok>ok</td><td>{rows}</td>"
        ))
        .count()
    };
    assert_eq!(slice_rows(&ops_page, "1"), 1, "{ops_page}");
    let page = page_of("ann", "ann-pass").await;
    assert_eq!(
        (slice_rows(&page, "1"), slice_rows(&page, "-")),
        (0, 1),
        "{page}"
    );
    for relation in ["bronze.orders", "gold.recent", "gold.recent_any"] {
        let row = chart_of(&page, relation);
        assert!(
            !row.contains("</title>") && row.contains("no data yet"),
            "{row}"
        );
        assert!(!row.contains("2026"), "{row}");
    }
    // /metrics needs no login: it gives the state, never an age taken from the data.
    let metrics = reqwest::get(format!("http://{http}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for relation in ["gold.recent", "gold.recent_any"] {
        let state =
            format!("lakegate_table_freshness_state{{table=\"{relation}\",state=\"error\"}} 1");
        assert!(metrics.contains(&state), "{relation}");
        let age = format!("lakegate_table_age_seconds{{table=\"{relation}\"}}");
        assert!(!metrics.contains(&age), "{relation}");
    }
}

/// (state, age_seconds IS NULL, why) of gold.recent_any.
async fn judged(client: &Client) -> (String, bool, String) {
    let r = client
        .query_one(
            "SELECT state, age_seconds IS NULL, why FROM lakegate.freshness \
             WHERE table_schema = 'gold' AND table_name = 'recent_any'",
            &[],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2))
}

type FreshnessRow = (String, String, Option<String>, bool, String);

/// (relation, state, newest_data, age_seconds IS NULL, why) of bronze.orders and gold.recent.
async fn freshness_rows(client: &Client) -> Vec<FreshnessRow> {
    let sql = "SELECT table_schema || '.' || table_name, state, CAST(newest_data AS VARCHAR), \
               age_seconds IS NULL, why FROM lakegate.freshness \
               WHERE table_name IN ('orders', 'recent') AND table_schema <> 'silver' ORDER BY 1";
    client
        .query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect()
}
