//! Security through the real interface: SCRAM logins, TLS modes with psql, grants and row
//! filters, limits with their SQLSTATEs, hostile protocol input.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use lakegate::auth::Verifier;
use lakegate::config::{Config, Limits, RoleConfig, TlsConfig, TlsMode, UserConfig};
use lakegate::server::start;
use tempfile::TempDir;
use tokio_postgres::NoTls;

use crate::common::*;

fn user(password: &str, roles: &[&str], admin: bool) -> UserConfig {
    UserConfig {
        password: password.to_string(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        admin,
        max_connections: None,
    }
}

/// Demo lake + the repository's views, users alice (analyst) and ops (admin, password from
/// a file reference), optional TLS.
pub(crate) async fn secure_server(
    tls: Option<TlsConfig>,
    limits: Limits,
    edit: impl FnOnce(&mut Config),
) -> (TestServer, TempDir) {
    let dir = TempDir::new().unwrap();
    let lake = lakegate::demo::write_demo_lake(&dir.path().join("lake"), false)
        .await
        .unwrap();
    let secret = dir.path().join("ops.password");
    std::fs::write(&secret, "ops-pass\n").unwrap();
    let mut c = config(&lake);
    c.views = Some(lakegate::config::ViewsSource::Folder(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("views"),
    ));
    c.tls = tls;
    c.limits = limits;
    c.users.insert(
        "alice".into(),
        user(
            &Verifier::generate("alice-pass").to_string(),
            &["analyst"],
            false,
        ),
    );
    c.users.insert(
        "ops".into(),
        user(&format!("file:{}", secret.display()), &[], true),
    );
    c.roles.insert(
        "analyst".into(),
        RoleConfig {
            grants: vec!["gold.*".into(), "silver.users".into()],
            row_filters: [("silver.users".to_string(), "country = 'DE'".to_string())]
                .into_iter()
                .collect(),
            column_masks: [(
                "silver.users".to_string(),
                [("email".to_string(), "left(email, 2) || '***'".to_string())]
                    .into_iter()
                    .collect(),
            )]
            .into_iter()
            .collect(),
        },
    );
    edit(&mut c);
    let server = start(c).await.expect("server starts");
    let kept = dir.path().join("kept");
    (TestServer::from_parts(server, lake, kept), dir)
}

async fn login(
    t: &TestServer,
    user: &str,
    password: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let url = format!(
        "host=127.0.0.1 port={} user={user} password={password} dbname=lake",
        t.server.addr.port()
    );
    let (client, conn) = tokio_postgres::connect(&url, NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_logins_succeed_and_failures_give_28p01_without_hints() {
    let (t, _d) = secure_server(None, Limits::default(), |_| {}).await;
    let c = login(&t, "alice", "alice-pass")
        .await
        .expect("alice logs in");
    let row = c.query_one("SELECT current_user", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "alice");
    // The file: reference works for ops.
    login(&t, "ops", "ops-pass").await.expect("ops logs in");
    // Wrong password and unknown user fail the same way.
    let wrong = login(&t, "alice", "nope").await.unwrap_err();
    let unknown = login(&t, "mallory", "nope").await.unwrap_err();
    assert_eq!(code(&wrong), "28P01");
    assert_eq!(code(&unknown), "28P01");
    let msg = |e: &tokio_postgres::Error| {
        e.as_db_error()
            .unwrap()
            .message()
            .replace("mallory", "alice")
    };
    assert_eq!(msg(&wrong), msg(&unknown));
    // Repeated failures from one address are slowed down; the right password still works.
    for _ in 0..4 {
        let _ = login(&t, "alice", "nope").await;
    }
    let started = Instant::now();
    let _ = login(&t, "alice", "nope").await.unwrap_err();
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    login(&t, "alice", "alice-pass")
        .await
        .expect("still logs in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_hide_and_deny_row_filters_apply_through_views() {
    let (t, _d) = secure_server(None, Limits::default(), |_| {}).await;
    let alice = login(&t, "alice", "alice-pass").await.unwrap();
    let ops = login(&t, "ops", "ops-pass").await.unwrap();
    let listed = |c: tokio_postgres::Client| async move {
        let rows = c
            .query(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables \
                 WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
                &[],
            )
            .await
            .unwrap();
        rows.iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
    };
    let seen = listed(alice).await;
    assert!(seen.contains(&"silver.users".to_string()), "{seen:?}");
    assert!(
        seen.iter()
            .all(|t| t.starts_with("gold.") || t == "silver.users"),
        "{seen:?}"
    );
    assert!(listed(ops).await.contains(&"silver.titles".to_string()));
    let alice = login(&t, "alice", "alice-pass").await.unwrap();
    // pg_class and pg_namespace hide the same objects (psql's \dt reads them).
    let n: i64 = alice
        .query_one(
            "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n \
             ON n.oid = c.relnamespace WHERE n.nspname IN ('bronze', 'silver') AND c.relname <> 'users'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    // Naming a table outside the grants: 42501 with the table's name.
    let e = alice
        .query("SELECT * FROM silver.titles", &[])
        .await
        .unwrap_err();
    assert_eq!(code(&e), "42501");
    assert!(
        e.as_db_error().unwrap().message().contains("silver.titles"),
        "{e}"
    );
    // Row filter: only German users.
    let row = alice
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE country <> 'DE') FROM silver.users",
            &[],
        )
        .await
        .unwrap();
    let ops = login(&t, "ops", "ops-pass").await.unwrap();
    let admin_count = |sql: &'static str| {
        let ops = &ops;
        async move { ops.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    let de = admin_count("SELECT count(*) FROM silver.users WHERE country = 'DE'").await;
    assert!(de > 0);
    assert_eq!(row.get::<_, i64>(0), de);
    assert_eq!(row.get::<_, i64>(1), 0);
    // Column mask: alice sees a masked email, in both protocols; ops sees the real one.
    let masked: String = alice
        .query_one(
            "SELECT email FROM silver.users ORDER BY user_id LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(masked.ends_with("***") && masked.len() == 5, "{masked}");
    let real: String = ops
        .query_one(
            "SELECT email FROM silver.users WHERE country = 'DE' ORDER BY user_id LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        real.contains('@') && real.starts_with(&masked[..2]),
        "{real} vs {masked}"
    );
    // A gold view reading silver tables alice cannot read directly works (definer's rights)
    // and the row filter on silver.users applies inside it too.
    let n: i64 = alice
        .query_one("SELECT count(*) FROM gold.top_titles", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, admin_count("SELECT count(*) FROM gold.top_titles").await);
    let by_country: Vec<(String, i64)> = alice
        .query(
            "SELECT country, active_users FROM gold.active_users_by_country",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let de_active =
        admin_count("SELECT count(*) FROM silver.users WHERE is_active AND country = 'DE'").await;
    assert_eq!(by_country, vec![("DE".to_string(), de_active)]);
    // Sandbox: no file-reading table functions, no writes, no runtime settings.
    for (sql, state) in [
        ("SET datafusion.execution.batch_size = 1", "42501"),
        (
            "SET datafusion.optimizer.hash_join_inlist_pushdown_max_size = 100",
            "42501",
        ),
        (
            "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
            "25006",
        ),
        ("COPY (SELECT 1) TO '/tmp/x.csv'", "42501"),
        ("SELECT * FROM read_csv('/etc/passwd')", "42883"),
        ("SELECT * FROM '/etc/passwd'", "42P01"),
    ] {
        let e = alice.batch_execute(sql).await.unwrap_err();
        assert_eq!(code(&e), state, "{sql}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_memory_limit_and_per_user_connections() {
    let limits = Limits {
        statement_timeout: Duration::from_secs(3),
        query_memory: 16 << 20,
        ..Limits::default()
    };
    let (t, _d) = secure_server(None, limits, |c| {
        c.users.get_mut("alice").unwrap().max_connections = Some(2);
    })
    .await;
    let c = login(&t, "ops", "ops-pass").await.unwrap();
    // The session's own timeout.
    c.batch_execute("SET statement_timeout = '300ms'")
        .await
        .unwrap();
    let started = Instant::now();
    let e = c.query("SELECT pg_sleep(5)", &[]).await.unwrap_err();
    assert_eq!(code(&e), "57014");
    assert!(
        e.as_db_error()
            .unwrap()
            .message()
            .contains("statement timeout")
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // The server's limit caps a session that turned its own off.
    c.batch_execute("SET statement_timeout = 0").await.unwrap();
    let started = Instant::now();
    let e = c.simple_query("SELECT pg_sleep(10)").await.unwrap_err();
    assert_eq!(code(&e), "57014");
    assert!(started.elapsed() < Duration::from_secs(6));
    // Over the per-query memory limit: 53200, and the session and server carry on.
    let e = c
        .query(
            "SELECT array_length(array_agg(value), 1) FROM generate_series(1, 3000000)",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(code(&e), "53200", "{e}");
    let n: i64 = c
        .query_one("SELECT count(*) FROM silver.users", &[])
        .await
        .unwrap()
        .get(0);
    assert!(n > 0);
    // Cursors are bounded the same way: each FETCH runs under the statement timeout, cancel
    // and the memory pool (FETCH ALL streams; it does not collect the result first).
    c.batch_execute("SET statement_timeout = '300ms'")
        .await
        .unwrap();
    c.batch_execute("BEGIN; DECLARE slow CURSOR FOR SELECT pg_sleep(5)")
        .await
        .unwrap();
    let started = Instant::now();
    let e = c.simple_query("FETCH ALL FROM slow").await.unwrap_err();
    assert_eq!(code(&e), "57014", "{e}");
    assert!(started.elapsed() < Duration::from_secs(2));
    c.batch_execute("ROLLBACK; SET statement_timeout = 0")
        .await
        .unwrap();
    c.batch_execute(
        "BEGIN; DECLARE big CURSOR FOR \
         SELECT array_length(array_agg(value), 1) FROM generate_series(1, 3000000)",
    )
    .await
    .unwrap();
    let e = c.simple_query("FETCH ALL FROM big").await.unwrap_err();
    assert_eq!(code(&e), "53200", "{e}");
    c.batch_execute("ROLLBACK").await.unwrap();
    c.batch_execute("BEGIN; DECLARE long CURSOR FOR SELECT pg_sleep(30)")
        .await
        .unwrap();
    let cancel = c.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cancel.cancel_query(NoTls).await.unwrap();
        Instant::now()
    });
    let e = c.simple_query("FETCH 1 FROM long").await.unwrap_err();
    let asked = canceller.await.unwrap();
    assert_eq!(code(&e), "57014", "{e}");
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "cancel answered within 1 s"
    );
    c.batch_execute("ROLLBACK").await.unwrap();
    // Enormous and deeply nested statements are refused before planning.
    let long = format!("SELECT 1 /* {} */", "x".repeat(2 << 20));
    assert_eq!(code(&c.simple_query(&long).await.unwrap_err()), "54000");
    let deep = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
    assert_eq!(code(&c.simple_query(&deep).await.unwrap_err()), "54001");
    assert_eq!(
        code(&c.query(deep.as_str(), &[]).await.unwrap_err()),
        "54001"
    );
    c.simple_query("SELECT 1").await.unwrap();
    // alice may hold two connections, not three.
    let _a = login(&t, "alice", "alice-pass").await.unwrap();
    let b = login(&t, "alice", "alice-pass").await.unwrap();
    let e = login(&t, "alice", "alice-pass").await.unwrap_err();
    assert_eq!(code(&e), "53300");
    drop(b);
    assert!(
        eventually(Duration::from_secs(5), || async {
            login(&t, "alice", "alice-pass").await.is_ok()
        })
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_and_idle_connections_are_closed() {
    let limits = Limits {
        startup_timeout: Duration::from_millis(500),
        idle_session_timeout: Duration::from_millis(800),
        ..Limits::default()
    };
    let (t, _d) = secure_server(None, limits, |_| {}).await;
    let mut raw = std::net::TcpStream::connect(t.server.addr).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let n = raw.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the server closes a silent connection");
    assert!(started.elapsed() < Duration::from_secs(3));
    let c = login(&t, "ops", "ops-pass").await.unwrap();
    c.simple_query("SELECT 1").await.unwrap();
    // A running query is not idle.
    c.simple_query("SELECT pg_sleep(1.2)").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        c.simple_query("SELECT 1").await.is_err(),
        "idle session closed"
    );
}

fn psql(args: &[&str]) -> (bool, String) {
    let out = Command::new("psql")
        .args(args)
        .env("PGCONNECT_TIMEOUT", "5")
        .output()
        .expect("psql runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A test CA and a server certificate for localhost / 127.0.0.1, made with openssl.
pub(crate) fn test_certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let st = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            st.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&st.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "30",
        "-subj",
        "/CN=lakegate test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "30",
        "-extfile",
        "ext.cnf",
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_require_and_verify_full_with_psql() {
    let certs = TempDir::new().unwrap();
    test_certificates(certs.path());
    let tls = TlsConfig {
        mode: TlsMode::Require,
        cert: Some(certs.path().join("server.crt")),
        key: Some(certs.path().join("server.key")),
    };
    let (t, _d) = secure_server(Some(tls.clone()), Limits::default(), |_| {}).await;
    let port = t.server.addr.port().to_string();
    let ca = certs.path().join("ca.pem");
    let conninfo = |mode: &str| {
        format!(
            "host=localhost port={port} user=alice password=alice-pass dbname=lake \
             sslmode={mode} sslrootcert={}",
            ca.display()
        )
    };
    let (ok, out) = tokio::task::spawn_blocking({
        // channel_binding=require: the client insists on SCRAM-SHA-256-PLUS.
        let c = conninfo("verify-full") + " channel_binding=require";
        move || {
            psql(&[
                &c,
                "-tAc",
                "SELECT count(*) > 0 FROM silver.users",
                "-c",
                "\\conninfo",
            ])
        }
    })
    .await
    .unwrap();
    assert!(ok, "{out}");
    assert!(out.starts_with("t\n"), "{out}");
    assert!(out.contains("SSL connection (protocol: TLSv1.3"), "{out}");
    // Plain text is refused under `mode: require`.
    let (ok, out) = tokio::task::spawn_blocking({
        let c = conninfo("disable");
        move || psql(&[&c, "-tAc", "SELECT 1"])
    })
    .await
    .unwrap();
    assert!(!ok && out.contains("requires TLS"), "{out}");
    // The wrong CA fails verification on the client.
    let (ok, out) = tokio::task::spawn_blocking({
        let c = conninfo("verify-full").replace("ca.pem", "server.crt");
        move || psql(&[&c, "-tAc", "SELECT 1"])
    })
    .await
    .unwrap();
    assert!(!ok, "{out}");
    // A configured certificate that does not load is fatal at start.
    let mut bad = tls.clone();
    bad.cert = Some(certs.path().join("missing.crt"));
    let dir = TempDir::new().unwrap();
    let lake = lakegate::demo::write_demo_lake(&dir.path().join("lake"), false)
        .await
        .unwrap();
    let mut c = config(&lake);
    c.tls = Some(bad);
    let err = start(c).await.err().expect("refuses to start").to_string();
    assert!(err.contains("missing.crt"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_loopback_listen_without_users_is_refused() {
    let dir = TempDir::new().unwrap();
    let lake = lakegate::demo::write_demo_lake(&dir.path().join("lake"), false)
        .await
        .unwrap();
    let mut c = config(&lake);
    c.listen = "0.0.0.0:0".into();
    let err = start(c).await.err().expect("refuses").to_string();
    assert!(err.contains("no users are configured"), "{err}");
    // The status page (tables, running SQL) is held to the same rule.
    let mut c = config(&lake);
    c.http = Some(lakegate::config::HttpConfig {
        listen: "0.0.0.0:0".into(),
        max_rows: 100_000,
        public_url: None,
    });
    let err = start(c).await.err().expect("refuses").to_string();
    assert!(
        err.contains("http.listen") && err.contains("no users are configured"),
        "{err}"
    );
    // And Flight SQL.
    let mut c = config(&lake);
    c.flight = Some(lakegate::config::FlightConfig {
        listen: "0.0.0.0:0".into(),
    });
    let err = start(c).await.err().expect("refuses").to_string();
    assert!(
        err.contains("flight.listen") && err.contains("no users are configured"),
        "{err}"
    );
    let mut c = config(&lake);
    c.http = Some(lakegate::config::HttpConfig {
        listen: "127.0.0.1:0".into(),
        max_rows: 100_000,
        public_url: None,
    });
    start(c).await.expect("loopback is fine in trust mode");
}

async fn ask(c: &tokio_postgres::Client, sql: String) -> tokio_postgres::Row {
    c.query_one(&sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {:?}", e.as_db_error()))
}

/// The catalog functions BI tools call answer what the session may read: privileges from the
/// grants, and definitions and comments only of objects the user can see.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_functions_answer_per_user() {
    let (t, _d) = secure_server(None, Limits::default(), |_| {}).await;
    let ops = login(&t, "ops", "ops-pass").await.unwrap();
    let alice = login(&t, "alice", "alice-pass").await.unwrap();
    // silver.active_users is a view with a description and column comments; alice is not
    // granted it (her grants: gold.*, silver.users).
    let oid: i64 = ops
        .query_one(
            "SELECT CAST('silver.active_users'::regclass AS BIGINT)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let sql = format!(
        "SELECT pg_get_viewdef({oid}), obj_description({oid}, 'pg_class'), \
         col_description({oid}, 1), \
         (SELECT count(*) FROM pg_catalog.pg_description WHERE objoid = {oid})"
    );
    let row = ask(&ops, sql.clone()).await;
    assert!(
        row.get::<_, Option<String>>(0)
            .unwrap()
            .contains("is_active")
    );
    assert_eq!(
        row.get::<_, Option<String>>(1).as_deref(),
        Some("Users whose account is active (not paused or closed).")
    );
    assert_eq!(
        row.get::<_, Option<String>>(2).as_deref(),
        Some("Stable user identifier.")
    );
    assert_eq!(row.get::<_, i64>(3), 3);
    let row = ask(&alice, sql).await;
    assert_eq!(row.get::<_, Option<String>>(0), None);
    assert_eq!(row.get::<_, Option<String>>(1), None);
    assert_eq!(row.get::<_, Option<String>>(2), None);
    assert_eq!(row.get::<_, i64>(3), 0);
    // Privileges: SELECT where granted, USAGE on schemas the grants reach, never a write.
    let users_oid: i64 = ops
        .query_one("SELECT CAST('silver.users'::regclass AS BIGINT)", &[])
        .await
        .unwrap()
        .get(0);
    let privileges = format!(
        "SELECT has_table_privilege('silver.users', 'SELECT'), \
                has_table_privilege('silver.titles', 'SELECT'), \
                has_table_privilege('silver.users', 'INSERT'), \
                has_table_privilege({users_oid}, 'select'), \
                has_table_privilege('alice', 'silver.users', 'SELECT'), \
                has_schema_privilege('gold', 'USAGE'), \
                has_schema_privilege('bronze', 'USAGE'), \
                has_schema_privilege('gold', 'CREATE'), \
                has_any_column_privilege('gold.top_titles', 'SELECT'), \
                has_column_privilege('silver.titles', 'name', 'SELECT'), \
                has_database_privilege('lake', 'CONNECT')"
    );
    let answers =
        |row: tokio_postgres::Row| (0..11).map(|i| row.get::<_, bool>(i)).collect::<Vec<_>>();
    assert_eq!(
        answers(ask(&alice, privileges.clone()).await),
        [
            true, false, false, true, true, true, false, false, true, false, true
        ]
    );
    assert_eq!(
        answers(ask(&ops, privileges).await),
        [
            true, true, false, true, false, true, true, false, true, true, true
        ]
    );
    // Under a search_path, unqualified names resolve as queries do.
    alice
        .batch_execute("SET search_path = silver")
        .await
        .unwrap();
    let row = ask(
        &alice,
        "SELECT has_table_privilege('users', 'SELECT'), has_table_privilege('titles', 'SELECT')"
            .into(),
    )
    .await;
    assert_eq!(
        (row.get::<_, bool>(0), row.get::<_, bool>(1)),
        (true, false)
    );
}

/// xorshift: deterministic "random" protocol garbage, reproducible from the seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn startup_message(user: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&196608u32.to_be_bytes());
    for (k, v) in [("user", user), ("database", "lake")] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut m = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    m.extend(body);
    m
}

fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend(((body.len() + 4) as u32).to_be_bytes());
    m.extend(body);
    m
}

/// Parse `SELECT $1::<type>`, Bind one text parameter of `value`, Execute, Sync.
fn bound_query(pg_type: &str, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut parse = b"\0SELECT $1::".to_vec();
    parse.extend(pg_type.as_bytes());
    parse.extend(b"\0\0\0");
    out.extend(message(b'P', &parse));
    let mut bind = b"\0\0\0\0\0\x01".to_vec();
    bind.extend((value.len() as u32).to_be_bytes());
    bind.extend(value);
    bind.extend(b"\0\0");
    out.extend(message(b'B', &bind));
    out.extend(message(b'E', b"\0\0\0\0\0"));
    out.extend(message(b'S', b""));
    out
}

/// How a hostile session ended.
#[derive(Debug, PartialEq)]
enum Ending {
    /// The server closed the connection (after an ErrorResponse or our EOF).
    Closed,
    /// Still open after our EOF and the read timeout: a hang.
    Hung,
}

/// One hostile session: a random mix of valid startup, garbage, truncated and oversized
/// messages, and bound parameters with hostile text (multi-byte characters where a
/// timestamp's time part starts). After our EOF the server must close within the timeout.
fn hostile_session(addr: std::net::SocketAddr, rng: &mut Rng) -> (Ending, Vec<u8>) {
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return (Ending::Closed, vec![]);
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut out: Vec<u8> = Vec::new();
    match rng.below(5) {
        0 => {}
        1 => out.extend(startup_message("tester")),
        2 => {
            let m = startup_message("tester");
            out.extend(&m[..rng.below(m.len() as u64) as usize]);
        }
        3 => {
            out.extend(startup_message("tester"));
            let types = [
                "timestamp",
                "timestamptz",
                "date",
                "numeric",
                "int8",
                "bool",
                "interval",
            ];
            let pieces: [&[u8]; 8] = [
                b"2026-01-0",
                "\u{e9}".as_bytes(),
                b" 10:00:00",
                b"+02",
                "\u{1F600}".as_bytes(),
                b"-",
                b":",
                &[0xff, 0xfe],
            ];
            for _ in 0..1 + rng.below(3) {
                let mut value = Vec::new();
                for _ in 0..rng.below(6) {
                    value.extend(pieces[rng.below(8) as usize]);
                }
                out.extend(bound_query(types[rng.below(7) as usize], &value));
            }
        }
        _ => out.extend(&(u32::MAX - rng.below(10) as u32).to_be_bytes()),
    }
    for _ in 0..rng.below(6) {
        let tag = [
            b'Q', b'P', b'B', b'E', b'D', b'S', b'X', b'p', b'C', b'H', b'F', b'd', 0, 255,
        ][rng.below(14) as usize];
        out.push(tag);
        let len = match rng.below(5) {
            0 => u32::MAX,
            1 => 0x7fff_fff0,
            2 => rng.below(3) as u32,
            _ => rng.below(64) as u32 + 4,
        };
        out.extend(&len.to_be_bytes());
        for _ in 0..rng.below(80) {
            out.push(rng.next() as u8);
        }
    }
    let _ = s.write_all(&out);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (Ending::Closed, reply),
            Ok(n) => reply.extend(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (Ending::Closed, reply);
            }
            Err(_) => return (Ending::Hung, reply),
        }
    }
}

/// The real binary under protocol garbage and hostile parameters: every session ends with the
/// server closing it (after an ErrorResponse, or at our EOF), nothing panics (log and
/// `/metrics` of that process), connections are counted down, and clients keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_protocol_input_never_takes_the_server_down() {
    let p = ServeProcess::start("", &[]).await;
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", p.port).parse().unwrap();
    let seed: u64 = std::env::var("LAKEGATE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1a4e_6a7e);
    let budget = Duration::from_secs(
        std::env::var("LAKEGATE_FUZZ_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5),
    );
    // Frames that panicked pgwire's decoders (vendor/README.md): each now closes its
    // connection without a panic.
    let mut bind_past_end = b"\0\0\0\0\0\x01".to_vec();
    bind_past_end.extend(0x7fff_0000u32.to_be_bytes());
    bind_past_end.extend(b"ab\0\0");
    for (what, frame) in [
        ("query of length 0", vec![b'Q', 0, 0, 0, 0]),
        ("copy data of length 2", vec![b'd', 0, 0, 0, 2, 0, 0]),
        ("password of length 1", vec![b'p', 0, 0, 0, 1, 0]),
        ("truncated parse", message(b'P', b"\0SELECT 1\0\0\x05")),
        ("bind past its end", message(b'B', &bind_past_end)),
        ("execute without max_rows", message(b'E', b"\0")),
        ("describe without a name", message(b'D', b"")),
    ] {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(&startup_message("tester")).unwrap();
        s.write_all(&frame).unwrap();
        // pgwire closes on a frame it cannot decode (PostgreSQL sends 08P01 first).
        let mut reply = Vec::new();
        let closed = s.read_to_end(&mut reply);
        assert!(closed.is_ok(), "{what}: not closed ({closed:?})");
        assert!(
            !reply.windows(6).any(|w| w == b"CXX000"),
            "{what}: {:?}",
            String::from_utf8_lossy(&reply)
        );
    }
    assert_eq!(
        p.metric("lakegate_connection_panics_total").await,
        Some(0.0)
    );
    let before = p.connect("tester").await.unwrap();
    let (sessions, errors, bound) = tokio::task::spawn_blocking(move || {
        let mut rng = Rng(seed);
        let started = Instant::now();
        let (mut n, mut errors, mut bound) = (0, 0, 0);
        while started.elapsed() < budget {
            let (ending, reply) = hostile_session(addr, &mut rng);
            assert_eq!(ending, Ending::Closed, "session {n} (seed {seed:#x}) hung");
            if reply.windows(6).any(|w| w == b"SXX000" || w == b"CXX000") {
                panic!("session {n} (seed {seed:#x}) got XX000: {reply:?}");
            }
            if reply.contains(&b'E') {
                errors += 1;
            }
            if reply.windows(2).any(|w| w == b"2\0") {
                bound += 1;
            }
            n += 1;
        }
        (n, errors, bound)
    })
    .await
    .unwrap();
    assert!(sessions > 20, "only {sessions} sessions ran");
    eprintln!(
        "hostile input: {sessions} sessions in {budget:?} (seed {seed:#x}), {errors} answered with an error, {bound} bound a parameter"
    );
    // A session opened before the storm, and a new one, both still work.
    let n: i64 = before
        .query_one("SELECT count(*) FROM silver.titles", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 60);
    p.connect("tester")
        .await
        .unwrap()
        .simple_query("SELECT 1")
        .await
        .unwrap();
    assert_eq!(
        p.metric("lakegate_connection_panics_total").await,
        Some(0.0)
    );
    // Every hostile connection was counted down: only `before` (and the closed probe) remain.
    assert!(
        eventually(Duration::from_secs(5), || async {
            p.metric("lakegate_connections_open").await == Some(1.0)
        })
        .await,
        "connections_open: {:?}",
        p.metric("lakegate_connections_open").await
    );
    let log = p.log_text();
    assert!(!log.contains("panicked"), "{log}");
}

/// A panic while serving one client closes that client's connection with one XX000, is
/// logged with its query id and counted; the server and other clients go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_one_connection_closes_only_that_connection() {
    let p = ServeProcess::start("", &[("LAKEGATE_FAULT_INJECTION", "panic")]).await;
    let other = p.connect("tester").await.unwrap();
    for extended in [false, true] {
        let victim = p.connect("tester").await.unwrap();
        let e = if extended {
            victim
                .query("SELECT lakegate_panic()", &[])
                .await
                .unwrap_err()
        } else {
            victim
                .simple_query("SELECT lakegate_panic()")
                .await
                .unwrap_err()
        };
        assert_eq!(code(&e), "XX000", "{e}");
        assert!(victim.simple_query("SELECT 1").await.is_err(), "closed");
    }
    other.simple_query("SELECT 1").await.unwrap();
    assert_eq!(
        p.metric("lakegate_connection_panics_total").await,
        Some(2.0)
    );
    assert!(
        eventually(Duration::from_secs(5), || async {
            p.metric("lakegate_connections_open").await == Some(1.0)
        })
        .await
    );
    let log = p.log_text();
    assert!(
        log.contains("internal error in a connection; closing it") && log.contains("query_id"),
        "{log}"
    );
}

/// Rows of `sql` as (country, email) text, through the simple protocol.
async fn simple_rows(c: &tokio_postgres::Client, sql: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for m in c
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {:?}", e.as_db_error()))
    {
        if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
            out.push((
                r.get(0).unwrap_or("").to_string(),
                r.get(1).unwrap_or("").to_string(),
            ));
        }
    }
    out
}

/// Row filters and masks attach to the table a scan reads, however it is named: under any
/// search_path, quoted, fully qualified, time travel, in views that name it unqualified, CTEs,
/// subqueries, UNION branches, lateral joins and cursors, in both protocols. Each case must
/// return exactly the German users (the admin's count with an explicit WHERE), all masked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_filters_and_masks_hold_under_every_name() {
    let views = TempDir::new().unwrap();
    let repo_views = Path::new(env!("CARGO_MANIFEST_DIR")).join("views");
    copy_dir(&repo_views, views.path());
    // Unqualified names resolve in the view's own schema (silver), not `public`.
    std::fs::write(
        views.path().join("silver/users_unqualified.sql"),
        "SELECT country, email, user_id FROM users",
    )
    .unwrap();
    std::fs::write(
        views.path().join("gold/users_by_view.sql"),
        "SELECT country, email FROM silver.users_unqualified",
    )
    .unwrap();
    let views_dir = views.path().to_path_buf();
    let (t, _d) = secure_server(None, Limits::default(), move |c| {
        c.views = Some(lakegate::config::ViewsSource::Folder(views_dir));
        c.roles
            .get_mut("analyst")
            .unwrap()
            .grants
            .push("silver.users_unqualified".into());
    })
    .await;
    let ops = login(&t, "ops", "ops-pass").await.unwrap();
    let count = |sql: &'static str| {
        let ops = &ops;
        async move { ops.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) as usize }
    };
    let de = count("SELECT count(*) FROM silver.users WHERE country = 'DE'").await;
    let all = count("SELECT count(*) FROM silver.users").await;
    let de_v0 = count("SELECT count(*) FROM silver.\"users@v0\" WHERE country = 'DE'").await;
    assert!(
        de > 0 && de < all,
        "the demo lake has German and other users: {de}/{all}"
    );
    let check = |what: &str, rows: &[(String, String)], expected: usize| {
        assert_eq!(rows.len(), expected, "{what}: {rows:?}");
        for (country, email) in rows {
            assert_eq!(country, "DE", "{what}: row filter bypassed");
            assert!(
                email.ends_with("***") && !email.contains('@'),
                "{what}: mask bypassed ({email})"
            );
        }
    };
    let alice = login(&t, "alice", "alice-pass").await.unwrap();
    let cases: Vec<(&str, usize)> = vec![
        ("SELECT country, email FROM silver.users", de),
        ("SELECT country, email FROM \"silver\".\"users\"", de),
        ("SELECT country, email FROM lake.silver.users", de),
        ("SELECT country, email FROM silver.\"users@v0\"", de_v0),
        (
            "SELECT country, email FROM silver.users FOR VERSION AS OF 0",
            de_v0,
        ),
        ("SELECT country, email FROM silver.users_unqualified", de),
        ("SELECT country, email FROM gold.users_by_view", de),
        (
            "WITH u AS (SELECT * FROM silver.users) SELECT country, email FROM u",
            de,
        ),
        (
            "SELECT country, email FROM (SELECT * FROM (SELECT * FROM silver.users) a) b",
            de,
        ),
        (
            "SELECT country, email FROM silver.users UNION ALL \
             SELECT country, email FROM silver.users_unqualified",
            2 * de,
        ),
        (
            "SELECT 'DE', 'x***' WHERE EXISTS \
             (SELECT 1 FROM silver.users WHERE country <> 'DE' OR email LIKE '%@%')",
            0,
        ),
        (
            "SELECT country, email FROM silver.users \
             WHERE user_id IN (SELECT user_id FROM silver.users WHERE country <> 'DE')",
            0,
        ),
    ];
    for (sql, expected) in &cases {
        check(sql, &simple_rows(&alice, sql).await, *expected);
        // Extended protocol: Parse/Bind/Execute of the same text.
        let rows: Vec<(String, String)> = alice
            .query(*sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        check(&format!("extended: {sql}"), &rows, *expected);
    }
    // Unqualified names under a search_path, set by SET or at connect.
    alice
        .batch_execute("SET search_path = silver")
        .await
        .unwrap();
    for (sql, expected) in [
        ("SELECT country, email FROM users", de),
        ("SELECT country, email FROM \"users\"", de),
        ("SELECT country, email FROM \"users@v0\"", de_v0),
        (
            "SELECT country, email FROM users FOR VERSION AS OF 0",
            de_v0,
        ),
        // DataFusion 52 plans no correlated LATERAL (0A000 for everyone); uncorrelated
        // LATERAL and correlated subqueries read through the rules.
        (
            "SELECT l.country, l.email FROM (VALUES (1)) x(k) CROSS JOIN LATERAL \
             (SELECT country, email FROM users) l",
            de,
        ),
        (
            "SELECT u.country, u.email FROM users u \
             WHERE EXISTS (SELECT 1 FROM users v WHERE v.user_id = u.user_id)",
            de,
        ),
    ] {
        check(sql, &simple_rows(&alice, sql).await, expected);
    }
    // A cursor reads through the same rules.
    let rows = simple_rows(
        &alice,
        "BEGIN; DECLARE c CURSOR FOR SELECT country, email FROM users; FETCH ALL FROM c; COMMIT",
    )
    .await;
    check("cursor", &rows, de);
    let url = format!(
        "host=127.0.0.1 port={} user=alice password=alice-pass dbname=lake options='-c search_path=silver'",
        t.server.addr.port()
    );
    let (c, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(conn);
    check(
        "startup search_path",
        &simple_rows(&c, "SELECT country, email FROM users").await,
        de,
    );
    // Metadata tables and the change feed of a filtered table would show what the rules hide.
    for sql in [
        "SELECT * FROM silver.\"users$history\"",
        "SELECT * FROM silver.\"users$files\"",
        "SELECT * FROM \"users$partitions\"",
        "SELECT * FROM table_changes('silver.users', 0)",
    ] {
        let e = c.simple_query(sql).await.unwrap_err();
        assert_eq!(code(&e), "42501", "{sql}: {e}");
    }
    // The admin is not filtered.
    let n = ops
        .query("SELECT country FROM silver.users_unqualified", &[])
        .await
        .unwrap()
        .len();
    assert_eq!(n, all);
}

async fn by_country(c: &tokio_postgres::Client) -> Vec<(String, i64)> {
    c.query(
        "SELECT country, active_users FROM gold.active_users_by_country",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// A row filter or mask configured on a view applies to the view's rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_filters_on_a_view_apply_to_it() {
    let (t, _d) = secure_server(None, Limits::default(), |c| {
        let analyst = c.roles.get_mut("analyst").unwrap();
        analyst.row_filters.insert(
            "gold.active_users_by_country".into(),
            "country = 'FR'".into(),
        );
        let mut viewer = analyst.clone();
        viewer.row_filters.remove("gold.active_users_by_country");
        viewer.column_masks.insert(
            "gold.active_users_by_country".into(),
            [("active_users".to_string(), "-1".to_string())]
                .into_iter()
                .collect(),
        );
        // carl: a mask on silver.active_users, a view he reads only through another view.
        let mut through = viewer.clone();
        through.column_masks.clear();
        through.column_masks.insert(
            "silver.active_users".into(),
            [("country".to_string(), "'XX'".to_string())]
                .into_iter()
                .collect(),
        );
        c.roles.insert("through".into(), through);
        c.users.insert(
            "carl".into(),
            user(
                &Verifier::generate("carl-pass").to_string(),
                &["through"],
                false,
            ),
        );
        c.roles.insert("viewer".into(), viewer);
        c.users.insert(
            "bob".into(),
            user(
                &Verifier::generate("bob-pass").to_string(),
                &["viewer"],
                false,
            ),
        );
    })
    .await;
    let alice = login(&t, "alice", "alice-pass").await.unwrap();
    let rows = alice
        .query(
            "SELECT country, active_users FROM gold.active_users_by_country",
            &[],
        )
        .await
        .unwrap();
    // The silver.users filter (DE) and the view's own (FR) together leave nothing.
    assert_eq!(rows.len(), 0, "{rows:?}");
    // bob: the same silver filter, and a mask on the view's column.
    let bob = login(&t, "bob", "bob-pass").await.unwrap();
    let rows = by_country(&bob).await;
    assert_eq!(rows, vec![("DE".to_string(), -1)]);
    let ops = login(&t, "ops", "ops-pass").await.unwrap();
    let de_active: i64 = ops
        .query_one(
            "SELECT count(*) FROM silver.users WHERE is_active AND country = 'DE'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    // Rules on a view hold when another view reads it (it was inlined when that view was
    // planned, before the reader's rules were known).
    let carl = login(&t, "carl", "carl-pass").await.unwrap();
    let rows = by_country(&carl).await;
    assert_eq!(rows, vec![("XX".to_string(), de_active)]);
    // EXPLAIN would show what is below the rules (statistics, rows read, the rules' text).
    for sql in [
        "EXPLAIN SELECT * FROM silver.users",
        "EXPLAIN ANALYZE SELECT count(*) FROM gold.active_users_by_country",
        "EXPLAIN VERBOSE SELECT email FROM silver.users",
    ] {
        let e = carl.simple_query(sql).await.unwrap_err();
        assert_eq!(code(&e), "42501", "{sql}: {e}");
    }
    carl.simple_query("EXPLAIN SELECT 1").await.unwrap();
    ops.simple_query("EXPLAIN ANALYZE SELECT count(*) FROM silver.users")
        .await
        .unwrap();
    let fr = ops
        .query(
            "SELECT country FROM gold.active_users_by_country WHERE country = 'FR'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(fr.len(), 1, "the demo lake has active French users");
}

/// A deeply nested statement that sqlsmith found (planning overflowed tokio's default 2 MiB
/// worker stack and aborted the process), and nesting at the parser's recursion limit: the
/// real binary answers each and stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_statements_do_not_overflow_the_stack() {
    let p = ServeProcess::start("", &[]).await;
    let c = p.connect("tester").await.unwrap();
    let found = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/deeply_nested.sql"),
    )
    .unwrap();
    let e = c.simple_query(&found).await.unwrap_err();
    assert!(e.code().is_some(), "answered with a SQLSTATE: {e}");
    let mut derived = "SELECT user_id FROM silver.users".to_string();
    for i in 0..45 {
        derived = format!("SELECT user_id FROM ({derived}) d{i} WHERE user_id > {i}");
    }
    let n = c.query(&derived, &[]).await.unwrap().len();
    let all: i64 = c
        .query_one("SELECT count(*) FROM silver.users WHERE user_id > 44", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n as i64, all);
    // Nested scalar subqueries: 16 levels are planned; 17 are refused with 54001 before
    // planning (DataFusion's subquery checks take time exponential in the depth).
    let nested = |n: usize| {
        let mut q = "1".to_string();
        for _ in 0..n {
            q = format!("(SELECT {q} + 1)");
        }
        format!("SELECT {q}")
    };
    let v: i64 = c.query_one(&nested(16), &[]).await.unwrap().get(0);
    assert_eq!(v, 17);
    let e = c.simple_query(&nested(17)).await.unwrap_err();
    assert_eq!(code(&e), "54001", "{e}");
    // Nesting without a second SELECT keyword is bounded too. (Parsing this deep needs more
    // than a 2 MiB debug stack: it runs here, on the binary's 16 MiB workers.)
    let mut v = "VALUES (1)".to_string();
    for _ in 0..17 {
        v = format!("VALUES ((EXISTS ({v})))");
    }
    let e = c.simple_query(&v).await.unwrap_err();
    assert_eq!(code(&e), "54001", "{e}");
    c.simple_query("SELECT 1").await.unwrap();
    assert_eq!(
        p.metric("lakegate_connection_panics_total").await,
        Some(0.0)
    );
}

/// The privilege functions say no for what a query would be refused; format() widths are
/// bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privileges_match_what_queries_get() {
    let (t, _d) = secure_server(None, Limits::default(), |_| {}).await;
    let alice = login(&t, "alice", "alice-pass").await.unwrap();
    let row = alice
        .query_one(
            "SELECT has_table_privilege('silver.\"users$files\"', 'SELECT'), \
                    has_table_privilege('silver.\"users@v1\"', 'SELECT'), \
                    has_table_privilege('gold.no_such_table', 'SELECT')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<_, bool>(0),
            row.get::<_, bool>(1),
            row.get::<_, bool>(2)
        ),
        (false, true, false)
    );
    let e = alice
        .simple_query("SELECT format('%999999999999s', 'x')")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "22023", "{e}");
}

/// A cancel reaches a portal suspended at `max_rows` even after other statements ran on the
/// connection (pgjdbc with fetchSize works this way), and `pg_sleep` in a select list answers
/// (and sleeps) once per row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_reaches_a_suspended_portal() {
    let (t, _d) = secure_server(None, Limits::default(), |_| {}).await;
    let mut c = login(&t, "ops", "ops-pass").await.unwrap();
    let n = c
        .simple_query("SELECT pg_sleep(0.001) FROM generate_series(1, 50)")
        .await
        .unwrap()
        .iter()
        .filter(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)))
        .count();
    assert_eq!(n, 50);
    // One row per batch, so the rows after the first are computed only when asked for.
    c.batch_execute("SET datafusion.execution.batch_size = 1")
        .await
        .unwrap();
    let cancel = c.cancel_token();
    let tx = c.transaction().await.unwrap();
    let portal = tx
        .bind("SELECT pg_sleep(0.2) FROM generate_series(1, 100)", &[])
        .await
        .unwrap();
    assert_eq!(tx.query_portal(&portal, 1).await.unwrap().len(), 1);
    tx.simple_query("SELECT 1").await.unwrap();
    cancel.cancel_query(NoTls).await.unwrap();
    let started = Instant::now();
    let e = tx.query_portal(&portal, 0).await.unwrap_err();
    assert_eq!(code(&e), "57014", "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the rest did not stream"
    );
}

/// Table sizes and row counts (what DBeaver, pgAdmin and Superset show) come from each Delta
/// log, checked against the data files on disk and a count by delta-rs; a table the user may
/// not read whole (not granted, or under a row filter or mask) has none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_sizes_and_row_counts_from_the_log_only_for_readable_tables() {
    // A view gold.users, earlier on a path than the table silver.users it shadows.
    let views = TempDir::new().unwrap();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("views"),
        views.path(),
    );
    std::fs::write(
        views.path().join("gold/users.sql"),
        "SELECT user_id FROM silver.users",
    )
    .unwrap();
    let views_dir = views.path().to_path_buf();
    let (t, _d) = secure_server(None, Limits::default(), move |c| {
        c.views = Some(lakegate::config::ViewsSource::Folder(views_dir));
    })
    .await;
    let ops = login(&t, "ops", "ops-pass").await.unwrap();
    let alice = login(&t, "alice", "alice-pass").await.unwrap();
    let on_disk = |table: &str| {
        let table = t.lake.join(table.replace('.', "/"));
        async move {
            let url = deltalake::ensure_table_uri(table.to_string_lossy()).unwrap();
            let d = deltalake::open_table(url).await.unwrap();
            d.get_file_uris()
                .unwrap()
                .map(|u| {
                    let p = match url::Url::parse(&u) {
                        Ok(url) if url.scheme() == "file" => url.to_file_path().unwrap(),
                        _ => std::path::PathBuf::from(&u),
                    };
                    std::fs::metadata(&p).unwrap().len() as i64
                })
                .sum::<i64>()
        }
    };
    let users_bytes = on_disk("silver.users").await;
    assert!(users_bytes > 0);
    let users_rows =
        crate::http_api::delta_rs_i64(&t.lake.join("silver/users"), "SELECT count(*) FROM t").await;
    let sizes = "SELECT pg_total_relation_size('silver.users'), pg_relation_size('silver.users'::regclass), \
                 pg_table_size('\"silver\".\"users\"'), pg_indexes_size('silver.users'::regclass)";
    let class = |table: &str| {
        let (s, t) = table.split_once('.').unwrap();
        format!(
            "SELECT reltuples, relpages FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n \
             ON n.oid = c.relnamespace WHERE n.nspname = '{s}' AND c.relname = '{t}'"
        )
    };
    let row = ask(&ops, sizes.into()).await;
    assert_eq!(
        (0..4)
            .map(|i| row.get::<_, Option<i64>>(i))
            .collect::<Vec<_>>(),
        [
            Some(users_bytes),
            Some(users_bytes),
            Some(users_bytes),
            Some(0)
        ]
    );
    let row = ask(&ops, class("silver.users")).await;
    assert_eq!(row.get::<_, f64>(0) as i64, users_rows);
    assert_eq!(row.get::<_, i32>(1) as i64, (users_bytes + 8191) / 8192);
    // alice reads silver.users through a row filter and a mask: the whole table's size and
    // row count are not hers to see ...
    let row = ask(&alice, sizes.into()).await;
    assert_eq!(row.get::<_, Option<i64>>(0), None);
    let row = ask(&alice, class("silver.users")).await;
    assert_eq!((row.get::<_, f64>(0), row.get::<_, i32>(1)), (-1.0, 0));
    // ... those of a table she reads whole are.
    let gold = on_disk("gold.plan_revenue").await;
    let row = ask(
        &alice,
        "SELECT pg_total_relation_size('gold.plan_revenue')".into(),
    )
    .await;
    assert_eq!(row.get::<_, Option<i64>>(0), Some(gold));
    let gold_rows =
        crate::http_api::delta_rs_i64(&t.lake.join("gold/plan_revenue"), "SELECT count(*) FROM t")
            .await;
    let row = ask(&alice, class("gold.plan_revenue")).await;
    assert_eq!(row.get::<_, f64>(0) as i64, gold_rows);
    assert_eq!(row.get::<_, i32>(1) as i64, (gold + 8191) / 8192);
    // Not granted to alice: no size for her (ops, an admin, gets it); a view has none either.
    let hidden = "SELECT pg_total_relation_size('bronze.watch_events'), pg_relation_size('silver.active_users')";
    let row = ask(&ops, hidden.into()).await;
    assert_eq!(
        row.get::<_, Option<i64>>(0),
        Some(on_disk("bronze.watch_events").await)
    );
    assert_eq!(row.get::<_, Option<i64>>(1), None);
    let row = ask(&alice, hidden.into()).await;
    assert_eq!(row.get::<_, Option<i64>>(0), None);
    // An unqualified name is the table on the session's search_path, as in Postgres: a
    // bronze.users of another size beside silver.users.
    crate::common::write_delta(
        &t.lake.join("bronze/users"),
        crate::common::id_batch(0..3),
        deltalake::protocol::SaveMode::ErrorIfExists,
    )
    .await;
    let bronze = on_disk("bronze.users").await;
    assert_ne!(bronze, users_bytes);
    assert!(
        crate::common::eventually(Duration::from_secs(10), || async {
            ask(&ops, "SELECT pg_total_relation_size('bronze.users')".into())
                .await
                .get::<_, Option<i64>>(0)
                .is_some()
        })
        .await
    );
    // As in Postgres, the view named first on the path is what the name means: not a table,
    // so no size (Postgres answers 0 for a view), never the table it shadows.
    for (path, want) in [
        ("silver, gold", Some(users_bytes)),
        ("bronze, silver", Some(bronze)),
        ("gold, silver", None),
    ] {
        ops.batch_execute(&format!("SET search_path = {path}"))
            .await
            .unwrap();
        let row = ask(
            &ops,
            "SELECT pg_total_relation_size('users'), pg_table_size('\"users\"')".into(),
        )
        .await;
        assert_eq!(
            (row.get::<_, Option<i64>>(0), row.get::<_, Option<i64>>(1)),
            (want, want),
            "search_path {path}"
        );
    }
    ops.batch_execute("SET search_path = public").await.unwrap();
    let row = ask(&ops, "SELECT pg_total_relation_size('users')".into()).await;
    assert_eq!(row.get::<_, Option<i64>>(0), None, "not on the path");
}

/// The result cache never hands one user's rows to another: alice's row filter applies to her
/// repeated query however often ops ran it first. Expected counts come from delta-rs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_results_never_cross_users() {
    let (t, _d) = secure_server(None, Limits::default(), |_| {}).await;
    let ops = login(&t, "ops", "ops-pass").await.unwrap();
    let alice = login(&t, "alice", "alice-pass").await.unwrap();
    let count = |sql: &'static str| {
        let path = t.lake.join("silver/users");
        async move { crate::http_api::delta_rs_i64(&path, sql).await }
    };
    let all = count("SELECT count(*) FROM t").await;
    let de = count("SELECT count(*) FROM t WHERE country = 'DE'").await;
    assert_ne!(all, de);
    let q = "SELECT count(*) FROM silver.users";
    for _ in 0..3 {
        assert_eq!(ops.query_one(q, &[]).await.unwrap().get::<_, i64>(0), all);
    }
    for _ in 0..3 {
        assert_eq!(alice.query_one(q, &[]).await.unwrap().get::<_, i64>(0), de);
    }
    let r = ops
        .query_one("SELECT hits, misses FROM lakegate.result_cache", &[])
        .await
        .unwrap();
    // Each user computed once and was answered from memory twice.
    assert_eq!((r.get::<_, i64>(0), r.get::<_, i64>(1)), (4, 2));
}

/// A `*` grant reaches every zone but not lakegate's own tables (others' SQL, every view's
/// definition); granted by name, the statement tables show a non-admin only their own
/// statements; and a table a user may not read is refused under a time-travel or metadata
/// name without a word of its versions (the provider is never built).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcards_skip_the_system_schema_and_refusals_open_nothing() {
    let (t, _d) = secure_server(None, Limits::default(), |c| {
        for (name, role, grants) in [
            ("bob", "everything", vec!["*"]),
            (
                "carl",
                "watcher",
                vec!["lakegate.query_log", "lakegate.queries"],
            ),
        ] {
            c.users.insert(
                name.into(),
                user(
                    &Verifier::generate(&format!("{name}-pass")).to_string(),
                    &[role],
                    false,
                ),
            );
            c.roles.insert(
                role.into(),
                RoleConfig {
                    grants: grants.into_iter().map(String::from).collect(),
                    ..Default::default()
                },
            );
        }
        // A mask with a typo in its column must not leave the column in clear.
        c.users.insert(
            "eve".into(),
            user(
                &Verifier::generate("eve-pass").to_string(),
                &["typo"],
                false,
            ),
        );
        c.roles.insert(
            "typo".into(),
            RoleConfig {
                grants: vec!["silver.users".into()],
                column_masks: [(
                    "silver.users".to_string(),
                    [("emial".to_string(), "'***'".to_string())].into(),
                )]
                .into(),
                ..Default::default()
            },
        );
    })
    .await;
    let eve = login(&t, "eve", "eve-pass").await.unwrap();
    let e = eve
        .query("SELECT email FROM silver.users", &[])
        .await
        .unwrap_err();
    assert_eq!(code(&e), "42501", "{e}");
    assert!(e.as_db_error().unwrap().message().contains("emial"), "{e}");
    let ops = login(&t, "ops", "ops-pass").await.unwrap();
    ops.simple_query("SELECT 'ops-secret-literal'")
        .await
        .unwrap();
    let bob = login(&t, "bob", "bob-pass").await.unwrap();
    let users =
        crate::http_api::delta_rs_i64(&t.lake.join("silver/users"), "SELECT count(*) FROM t").await;
    let n: i64 = bob
        .query_one("SELECT count(*) FROM silver.users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, users);
    for sql in [
        "SELECT * FROM lakegate.query_log",
        "SELECT * FROM lakegate.queries",
        "SELECT * FROM lakegate.views",
    ] {
        let e = bob.query(sql, &[]).await.unwrap_err();
        assert_eq!(code(&e), "42501", "{sql}: {e}");
    }
    let logged = "SELECT count(*) FROM lakegate.query_log WHERE query LIKE '%ops-secret-literal%'";
    let n: i64 = ops.query_one(logged, &[]).await.unwrap().get(0);
    assert_eq!(n, 1, "ops sees its own statement");
    let carl = login(&t, "carl", "carl-pass").await.unwrap();
    carl.simple_query("SELECT 'carl-literal'").await.unwrap();
    let n: i64 = carl.query_one(logged, &[]).await.unwrap().get(0);
    assert_eq!(n, 0, "carl sees another user's statement");
    let rows = carl
        .query("SELECT DISTINCT usename FROM lakegate.query_log", &[])
        .await
        .unwrap();
    let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(names, ["carl"]);

    // alice may not read bronze.watch_events: every name of it is refused alike.
    let alice = login(&t, "alice", "alice-pass").await.unwrap();
    for name in [
        "bronze.watch_events",
        "bronze.\"watch_events@v999999\"",
        "bronze.\"watch_events@20000101000000000\"",
        "bronze.\"watch_events$history\"",
    ] {
        let e = alice
            .query(&format!("SELECT * FROM {name}"), &[])
            .await
            .unwrap_err();
        assert_eq!(code(&e), "42501", "{name}: {e}");
        let said = e.as_db_error().unwrap().message().to_string();
        assert!(
            said.contains("bronze.watch_events") && !said.contains("version"),
            "{name}: {said}"
        );
    }
}

/// A user's own WHERE runs only on the rows their row filter lets through, and on the rows a
/// view lets through when they may not read its inputs (Postgres' row security and
/// security_barrier views): a predicate that fails on a hidden row (a cast of an email to int)
/// must not fail, nor a CASE ask a yes/no question of hidden rows. Leakproof predicates still
/// reach the scan. Counts come from delta-rs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_predicates_never_run_on_hidden_rows() {
    let views = TempDir::new().unwrap();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("views"),
        views.path(),
    );
    std::fs::write(
        views.path().join("gold/de_emails.sql"),
        "SELECT email, country FROM silver.users WHERE country = 'DE'",
    )
    .unwrap();
    let views_dir = views.path().to_path_buf();
    let (t, _d) = secure_server(None, Limits::default(), move |c| {
        c.views = Some(lakegate::config::ViewsSource::Folder(views_dir));
        c.users.insert(
            "dora".into(),
            user(
                &Verifier::generate("dora-pass").to_string(),
                &["gold_only"],
                false,
            ),
        );
        c.roles.insert(
            "gold_only".into(),
            RoleConfig {
                grants: vec!["gold.*".into()],
                ..Default::default()
            },
        );
    })
    .await;
    let users = t.lake.join("silver/users");
    let de =
        crate::http_api::delta_rs_i64(&users, "SELECT count(*) FROM t WHERE country = 'DE'").await;
    let de_active = crate::http_api::delta_rs_i64(
        &users,
        "SELECT count(*) FROM t WHERE country = 'DE' AND email IS NOT NULL",
    )
    .await;
    assert!(de > 0);
    let probe = |table: &str| {
        format!(
            "SELECT count(*) FROM {table} WHERE CASE WHEN country <> 'DE' THEN CAST(email AS INT) ELSE 1 END = 1"
        )
    };
    let alice = login(&t, "alice", "alice-pass").await.unwrap();
    let dora = login(&t, "dora", "dora-pass").await.unwrap();
    for (who, client, table) in [
        ("alice (row filter)", &alice, "silver.users"),
        ("alice (search_path)", &alice, "users"),
        ("dora (view)", &dora, "gold.de_emails"),
    ] {
        if table == "users" {
            client
                .batch_execute("SET search_path = silver")
                .await
                .unwrap();
        }
        // Both protocols.
        let n: i64 = client
            .query_one(&probe(table), &[])
            .await
            .unwrap_or_else(|e| panic!("{who}: {e:?}"))
            .get(0);
        assert_eq!(n, de, "{who}");
        let rows = client.simple_query(&probe(table)).await.unwrap();
        let n = rows
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                _ => None,
            })
            .unwrap();
        assert_eq!(n, de.to_string(), "{who}");
        // A leakproof predicate gives the same answer pushed down.
        let n: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM {table} WHERE email IS NOT NULL AND country = 'DE'"),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, de_active, "{who}");
    }
    // EXPLAIN would show what the view reads (files, statistics, rows before its WHERE).
    let e = dora
        .simple_query("EXPLAIN SELECT count(*) FROM gold.de_emails")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "42501", "{e}");
    // The admin, who sees every row, gets the error Postgres would give.
    let ops = login(&t, "ops", "ops-pass").await.unwrap();
    assert!(ops.query_one(&probe("silver.users"), &[]).await.is_err());
}
