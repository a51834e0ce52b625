//! The operations endpoint: /health, /ready (flips when the lake is unreachable), /metrics
//! (counters move with a workload).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    let status = buf[9..12].parse().unwrap();
    let body = buf
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The value of one sample line (`name{labels} value`) in Prometheus text output.
fn sample(metrics: &str, prefix: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Runs the real binary, so its registry holds only this workload's counts: each counter is
/// checked for the exact amount the workload moves it by.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_and_metrics_move_with_a_workload() {
    let p = ServeProcess::start("", &[]).await;
    let http: SocketAddr = format!("127.0.0.1:{}", p.http_port).parse().unwrap();
    assert_eq!(get(http, "/health").await, (200, "ok\n".into()));
    let (code, body) = get(http, "/ready").await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("7 tables"), "{body}");
    // No login on /ready: it does not say where the lake is.
    let lake_dir = p.lake.to_string_lossy().to_string();
    assert!(!body.contains(&lake_dir), "{body}");

    let (_, before) = get(http, "/metrics").await;
    let ok = "lakegate_queries_total{outcome=\"ok\",sqlstate_class=\"00\"}";
    let undefined = "lakegate_queries_total{outcome=\"error\",sqlstate_class=\"42\"}";
    assert_eq!(sample(&before, ok), 0.0, "{before}");
    assert_eq!(sample(&before, "lakegate_connections_total"), 0.0);
    let client = p.connect("tester").await.unwrap();
    for _ in 0..3 {
        client
            .simple_query("SELECT * FROM silver.titles")
            .await
            .unwrap();
    }
    let _ = client.simple_query("SELECT * FROM nope").await.unwrap_err();
    let (_, after) = get(http, "/metrics").await;
    assert_eq!(sample(&after, ok), 3.0, "{after}");
    assert_eq!(sample(&after, undefined), 1.0, "{after}");
    // silver.titles has 60 rows (the demo lake's definition).
    assert_eq!(sample(&after, "lakegate_rows_sent_total"), 180.0, "{after}");
    assert_eq!(sample(&after, "lakegate_connections_total"), 1.0, "{after}");
    assert_eq!(sample(&after, "lakegate_connections_open"), 1.0, "{after}");
    // silver.users has 4 versions (0..=3) in the demo lake.
    assert_eq!(
        sample(&after, "lakegate_table_version{table=\"silver.users\"}"),
        3.0,
        "{after}"
    );
    // Run times are observed for the statements that completed.
    assert_eq!(
        sample(&after, "lakegate_query_duration_seconds_count"),
        3.0,
        "{after}"
    );
    drop(client);
    assert!(
        eventually(Duration::from_secs(5), || async {
            sample(&get(http, "/metrics").await.1, "lakegate_connections_open") == 0.0
        })
        .await
    );

    // The lake goes away: /ready says so with 503; it comes back: 200 again.
    let lake = p.lake.clone();
    let moved = lake.with_extension("moved");
    std::fs::rename(&lake, &moved).unwrap();
    let (code, body) = get(http, "/ready").await;
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("not reachable") && !body.contains(&lake_dir),
        "{body}"
    );
    std::fs::rename(&moved, &lake).unwrap();
    assert!(
        eventually(Duration::from_secs(5), || async {
            get(http, "/ready").await.0 == 200
        })
        .await
    );
    assert_eq!(get(http, "/nope").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_queries_and_the_query_log_are_queryable() {
    let t = demo_server().await;
    let a = t.connect().await;
    let b = t.connect().await;
    let sleeper = tokio::spawn(async move {
        a.simple_query("SELECT pg_sleep(1.5) /* long one */")
            .await
            .unwrap();
        a
    });
    assert!(
        eventually(Duration::from_secs(3), || async {
            b.query("SELECT query, duration_ms FROM lakegate.queries", &[])
                .await
                .unwrap()
                .iter()
                .any(|r| r.get::<_, String>(0).contains("long one"))
        })
        .await,
        "running statement not listed"
    );
    let _a = sleeper.await.unwrap();
    let _ = b.simple_query("SELECT * FROM nope").await.unwrap_err();
    let rows = b
        .query(
            "SELECT query, status, duration_ms FROM lakegate.query_log ORDER BY started_at",
            &[],
        )
        .await
        .unwrap();
    let long = rows
        .iter()
        .find(|r| r.get::<_, String>(0).contains("long one"))
        .expect("logged");
    assert_eq!(long.get::<_, String>(1), "ok");
    assert!(long.get::<_, i64>(2) >= 1400);
    assert!(
        rows.iter()
            .any(|r| r.get::<_, String>(0) == "SELECT * FROM nope"
                && r.get::<_, String>(1) == "error")
    );
}

async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, String) {
    use base64::Engine as _;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = auth
        .map(|a| {
            format!(
                "Authorization: Basic {}\r\n",
                base64::engine::general_purpose::STANDARD.encode(a)
            )
        })
        .unwrap_or_default();
    s.write_all(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    let status = buf[9..12].parse().unwrap();
    (
        status,
        buf.split_once("\r\n\r\n")
            .map(|x| x.1.to_string())
            .unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_needs_a_user_and_only_admins_cancel() {
    let dir = tempfile::TempDir::new().unwrap();
    let lake = lakegate::demo::write_demo_lake(&dir.path().join("lake"), false)
        .await
        .unwrap();
    let mut c = config(&lake);
    c.http = Some(lakegate::config::HttpConfig {
        listen: "127.0.0.1:0".into(),
        max_rows: 100_000,
        public_url: None,
    });
    let user = |pw: &str, admin: bool, roles: Vec<String>| lakegate::config::UserConfig {
        password: lakegate::auth::Verifier::generate(pw).to_string(),
        roles,
        admin,
        max_connections: None,
    };
    c.roles.insert(
        "reader".into(),
        lakegate::config::RoleConfig {
            grants: vec!["silver.*".into()],
            ..Default::default()
        },
    );
    c.users
        .insert("alice".into(), user("a", false, vec!["reader".into()]));
    c.users.insert("ops".into(), user("o", true, vec![]));
    let server = lakegate::server::start(c).await.unwrap();
    let http = server.http_addr.unwrap();
    let port = server.addr.port();
    let _t = TestServer::from_parts(server, lake.clone(), dir.path().join("kept"));
    assert_eq!(request(http, "GET", "/", None, "").await.0, 401);
    assert_eq!(
        request(http, "GET", "/", Some("alice:wrong"), "").await.0,
        401
    );
    let (code, page) = request(http, "GET", "/", Some("alice:a"), "").await;
    assert_eq!(code, 200);
    assert!(page.contains("<td>silver</td><td>titles</td>"), "{page}");
    // Only what alice's roles grant: silver, not the bronze and gold tables ops sees.
    assert!(
        !page.contains("<td>bronze</td>") && !page.contains("<td>gold</td>"),
        "{page}"
    );
    let (_, ops_page) = request(http, "GET", "/", Some("ops:o"), "").await;
    assert!(ops_page.contains("<td>bronze</td>") && ops_page.contains("<td>gold</td>"));
    // ops runs a long statement; alice may not cancel it, ops may.
    let (ops, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=ops password=o dbname=lake"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let long = tokio::spawn(async move { ops.simple_query("SELECT pg_sleep(30)").await });
    let mut pid = None;
    for _ in 0..50 {
        let (_, page) = request(http, "GET", "/", Some("ops:o"), "").await;
        if let Some(i) = page.find("name=pid value=") {
            pid = page[i + 15..].split('>').next().map(str::to_string);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid = pid.expect("running statement with a cancel button for admins");
    let (_, alice_page) = request(http, "GET", "/", Some("alice:a"), "").await;
    assert!(
        !alice_page.contains("name=pid"),
        "no cancel button for non-admins"
    );
    // Nor anyone else's statement: alice sees only her own.
    assert!(!alice_page.contains("pg_sleep(30)"), "{alice_page}");
    assert_eq!(
        request(
            http,
            "POST",
            "/cancel",
            Some("alice:a"),
            &format!("pid={pid}")
        )
        .await
        .0,
        403
    );
    assert_eq!(
        request(
            http,
            "POST",
            "/cancel",
            Some("ops:o"),
            &format!("pid={pid}")
        )
        .await
        .0,
        303
    );
    let e = tokio::time::timeout(Duration::from_secs(5), long)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert_eq!(code_of(&e), "57014");
}

fn code_of(e: &tokio_postgres::Error) -> String {
    e.code().map(|c| c.code().to_string()).unwrap_or_default()
}
