//! The `lakegate` binary: config checking, refusal to expose the lake, graceful shutdown.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn lakegate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lakegate"))
}

#[test]
fn check_reports_file_line_column_and_exits_non_zero() {
    let dir = tempfile::TempDir::new().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(
        &good,
        "lake: ./lake\nlisten: 127.0.0.1:6000\nrefresh_interval: 500ms\n",
    )
    .unwrap();
    let out = lakegate()
        .args(["check", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "lake: ./lake\nlisten: 127.0.0.1:6000\nrefresh_interval: often\n",
    )
    .unwrap();
    let out = lakegate()
        .args(["check", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:3:", bad.display())), "{err}");

    let typo = dir.path().join("typo.yaml");
    std::fs::write(&typo, "lake: ./lake\nlisen: 127.0.0.1:6000\n").unwrap();
    let out = lakegate()
        .args(["check", "--config"])
        .arg(&typo)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:2:1: unknown field `lisen`", typo.display())),
        "{err}"
    );

    // The parts other layers own are checked by them and still located in the file: the lake
    // location and storage secrets (storage), passwords and grant patterns (auth).
    for (i, (yaml, want)) in [
        (
            "lake: ftp://host/lake\n",
            ":1:1: lake: Failed to resolve lake location `ftp://host/lake`: unknown scheme `ftp`",
        ),
        (
            "lake: ./lake\nstorage:\n  aws_secret_access_key: plain\n",
            ":2:1: storage.aws_secret_access_key: secrets are not written in the config",
        ),
        (
            "lake: ./lake\nusers:\n  ann: {password: hunter2}\n",
            ":2:1: users.ann.password:",
        ),
        (
            "lake: ./lake\nroles:\n  r: {grants: [silver]}\n",
            ":2:1: roles.r: `silver` is not `schema.table`, `schema.*` or `*`",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let f = dir.path().join(format!("part{i}.yaml"));
        std::fs::write(&f, yaml).unwrap();
        let out = lakegate()
            .args(["check", "--config"])
            .arg(&f)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{yaml}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("{}{want}", f.display())),
            "{yaml}: {err}"
        );
        assert!(!err.contains("hunter2") && !err.contains("plain"), "{err}");
    }
}

#[test]
fn refuses_a_non_loopback_address_without_authentication() {
    let dir = tempfile::TempDir::new().unwrap();
    let out = lakegate()
        .args(["serve", "--listen", "0.0.0.0:0", "--lake"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a loopback address"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_running_queries_finish_and_exits_zero() {
    let dir = tempfile::TempDir::new().unwrap();
    let lake = lakegate::demo::write_demo_lake(&dir.path().join("lake"), false)
        .await
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = lakegate()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--lake"])
        .arg(&lake)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("host=127.0.0.1 port={port} user=t dbname=lake");
    let mut client = None;
    let start = Instant::now();
    while client.is_none() && start.elapsed() < Duration::from_secs(30) {
        if let Ok((c, conn)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
            tokio::spawn(conn);
            client = Some(c);
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let client = client.expect("server came up");

    // A query in flight when the signal arrives still completes.
    let running = tokio::spawn(async move {
        client
            .query_one(
                "SELECT count(*) FROM silver.watch_events a JOIN silver.watch_events b ON a.user_id = b.user_id",
                &[],
            )
            .await
            .map(|r| r.get::<_, i64>(0))
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let n = running
        .await
        .unwrap()
        .expect("running query finishes during shutdown");
    assert!(n > 0);
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit.code(), Some(0));
    assert!(
        tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .is_err(),
        "no longer accepting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_connection_and_query_ids_and_slow_queries_are_logged() {
    let dir = tempfile::TempDir::new().unwrap();
    let lake = lakegate::demo::write_demo_lake(&dir.path().join("lake"), false)
        .await
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let http_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // A real user, so passwords really travel: SCRAM at the wire, HTTP Basic (in clear) at
    // the status page, each once right and once wrong.
    let verifier = lakegate::auth::Verifier::generate("secret-not-logged").to_string();
    let config = dir.path().join("l.yaml");
    std::fs::write(
        &config,
        format!(
            "lake: {}\nlisten: 127.0.0.1:{port}\nhttp: {{listen: 127.0.0.1:{http_port}}}\n\
             shutdown_timeout: 1s\nlimits: {{slow_query: 200ms}}\n\
             users:\n  carol: {{password: \"{verifier}\", admin: true}}\n",
            lake.display()
        ),
    )
    .unwrap();
    let log = dir.path().join("stderr.log");
    let mut child = lakegate()
        .args([
            "--log-format",
            "json",
            "--log",
            "lakegate=debug",
            "serve",
            "--config",
        ])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let url =
        format!("host=127.0.0.1 port={port} user=carol password=secret-not-logged dbname=lake");
    let mut client = None;
    let start = Instant::now();
    while client.is_none() && start.elapsed() < Duration::from_secs(30) {
        if let Ok((c, conn)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
            tokio::spawn(conn);
            client = Some(c);
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let client = client.expect("server came up");
    let wrong = url.replace("secret-not-logged", "wrong-secret-not-logged");
    assert!(
        tokio_postgres::connect(&wrong, tokio_postgres::NoTls)
            .await
            .is_err()
    );
    for (password, status) in [("secret-not-logged", 200), ("wrong-secret-not-logged", 401)] {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("carol:{password}"));
        let mut s = std::net::TcpStream::connect(("127.0.0.1", http_port)).unwrap();
        use std::io::{Read, Write};
        write!(
            s,
            "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {token}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        assert!(reply.starts_with(&format!("HTTP/1.1 {status}")), "{reply}");
    }
    client
        .simple_query("SELECT pg_sleep(0.4) AS slow_one")
        .await
        .unwrap();
    client.simple_query("SELECT 1 AS fast_one").await.unwrap();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let slow: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "slow query")
        .collect();
    assert_eq!(slow.len(), 1, "{text}");
    let s = slow[0];
    assert!(
        s["fields"]["sql"].as_str().unwrap().contains("slow_one"),
        "{s}"
    );
    assert_eq!(s["fields"]["user"], "carol");
    assert!(s["fields"]["query_id"].as_u64().is_some(), "{s}");
    assert!(s["fields"]["duration_ms"].as_u64().unwrap() >= 400);
    // The connection span ties the line to its client and backend pid.
    assert!(
        s["span"]["pid"].as_i64().is_some() || s["spans"][0]["pid"].as_i64().is_some(),
        "{s}"
    );
    // Debug logging saw both logins and both page requests; no password reached the log.
    assert!(text.contains("carol"), "the log covers the logins: {text}");
    assert!(!text.contains("secret-not-logged"), "{text}");
    let basic = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode("carol:secret-not-logged")
    };
    assert!(!text.contains(&basic), "{text}");
}

/// `lakegate import` writes a Delta table a server then serves: CSV creates, CSV appends,
/// Parquet (written from the served table) overwrites; bad input names the file and changes
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_loads_files_into_a_served_delta_table() {
    let dir = tempfile::TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(lake.join("gold")).unwrap();
    let csv = dir.path().join("a.csv");
    std::fs::write(&csv, "id,name,amount\n1,one,1.5\n2,two,2.5\n3,three,3.5\n").unwrap();
    let import = |args: &[&std::path::Path], extra: &[&str]| {
        let out = lakegate()
            .args(["import", "--lake"])
            .arg(&lake)
            .args(extra)
            .arg("gold.things")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = import(&[&csv], &[]);
    assert!(ok, "{out}");
    assert!(out.contains("version 0"), "{out}");
    let (ok, out) = import(&[&csv], &[]);
    assert!(ok && out.contains("version 1"), "{out}");

    let server = lakegate::server::start(crate::common::config(&lake))
        .await
        .unwrap();
    let c = crate::common::connect_to(&server, "lake").await.unwrap();
    let count = |c: tokio_postgres::Client| async move {
        let row = c
            .query_one("SELECT count(*), sum(amount) FROM gold.things", &[])
            .await
            .unwrap();
        (row.get::<_, i64>(0), row.get::<_, f64>(1))
    };
    assert_eq!(count(c).await, (6, 15.0));

    // Parquet in, replacing the content.
    let parquet = dir.path().join("p.parquet");
    {
        use datafusion::prelude::*;
        let ctx = SessionContext::new();
        let df = ctx
            .sql("SELECT CAST(10 AS BIGINT) AS id, 'ten' AS name, CAST(10.25 AS DOUBLE) AS amount")
            .await
            .unwrap();
        df.write_parquet(
            parquet.to_str().unwrap(),
            datafusion::dataframe::DataFrameWriteOptions::new().with_single_file_output(true),
            None,
        )
        .await
        .unwrap();
    }
    let (ok, out) = import(&[&parquet], &["--overwrite"]);
    assert!(ok, "{out}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let c = crate::common::connect_to(&server, "lake").await.unwrap();
        if count(c).await == (1, 10.25) {
            break;
        }
        assert!(Instant::now() < deadline, "overwrite not served");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A file of unknown type and a missing file: errors naming them, table unchanged.
    let txt = dir.path().join("x.txt");
    std::fs::write(&txt, "hello").unwrap();
    let (ok, out) = import(&[&txt], &[]);
    assert!(
        !ok && out.contains("x.txt") && out.contains("unknown file type"),
        "{out}"
    );
    let (ok, out) = import(&[&dir.path().join("missing.csv")], &[]);
    assert!(!ok && out.contains("missing.csv"), "{out}");
    let c = crate::common::connect_to(&server, "lake").await.unwrap();
    assert_eq!(count(c).await, (1, 10.25));
}
