//! The HTTP query door (`POST /v1/query`) against the same rules as the wire: users, bearer
//! tokens, grants, row filters and masks under every name, limits, the query log, hostile
//! bodies. Expected rows come from delta-rs reading the demo lake's tables directly.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use serde_json::{Value, json};

use crate::security::secure_server;

enum Auth<'a> {
    None,
    Basic(&'a str, &'a str),
    Bearer(&'a str),
}

async fn post(
    addr: SocketAddr,
    path: &str,
    auth: Auth<'_>,
    accept: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, String, bytes::Bytes) {
    let client = reqwest::Client::new();
    let mut r = client
        .post(format!("http://{addr}{path}"))
        .header("content-type", "application/json")
        .body(body);
    r = match auth {
        Auth::None => r,
        Auth::Basic(u, p) => r.basic_auth(u, Some(p)),
        Auth::Bearer(t) => r.bearer_auth(t),
    };
    if let Some(a) = accept {
        r = r.header("accept", a);
    }
    let resp = r.send().await.expect("request");
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, resp.bytes().await.expect("body"))
}

async fn query(addr: SocketAddr, auth: Auth<'_>, body: Value) -> (u16, Value) {
    let (status, _, bytes) = post(addr, "/v1/query", auth, None, body.to_string()).await;
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status, v)
}

/// Runs `sql` over the Delta table at `table` (registered as `t`) with delta-rs alone.
pub(crate) async fn delta_rs(table: &Path, sql: &str) -> Vec<RecordBatch> {
    let url = deltalake::ensure_table_uri(table.to_string_lossy()).unwrap();
    let t = deltalake::open_table(url).await.unwrap();
    let ctx = SessionContext::new();
    ctx.register_table("t", t.table_provider().await.unwrap())
        .unwrap();
    ctx.sql(sql).await.unwrap().collect().await.unwrap()
}

/// The one bigint `sql` answers over the Delta table at `table` (as `t`), by delta-rs alone.
pub(crate) async fn delta_rs_i64(table: &Path, sql: &str) -> i64 {
    delta_rs(table, sql).await[0]
        .column(0)
        .as_any()
        .downcast_ref::<datafusion::arrow::array::Int64Array>()
        .expect("a bigint")
        .value(0)
}

async fn http_server() -> (crate::common::TestServer, tempfile::TempDir, SocketAddr) {
    let limits = lakegate::config::Limits {
        statement_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let (server, dir) = secure_server(None, limits, |c| {
        c.http = Some(lakegate::config::HttpConfig {
            listen: "127.0.0.1:0".into(),
            max_rows: 1000,
            public_url: None,
        });
    })
    .await;
    let addr = server.server.http_addr.expect("http listener");
    (server, dir, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_query_answers_json_with_the_wire_rules() {
    let (server, _dir, addr) = http_server().await;
    let users = server.lake.join("silver/users");
    // alice's role: silver.users with `country = 'DE'` and email masked `left(email, 2) || '***'`.
    let expected: Vec<Value> = {
        let batches = delta_rs(
            &users,
            "SELECT user_id, left(email, 2) || '***' AS email, country FROM t \
             WHERE country = 'DE' AND user_id <= 60 ORDER BY user_id",
        )
        .await;
        let mut rows = vec![];
        for b in batches {
            let ids = b
                .column(0)
                .as_any()
                .downcast_ref::<datafusion::arrow::array::Int64Array>()
                .unwrap();
            let emails = datafusion::arrow::compute::cast(
                b.column(1),
                &datafusion::arrow::datatypes::DataType::Utf8,
            )
            .unwrap();
            let emails = emails
                .as_any()
                .downcast_ref::<datafusion::arrow::array::StringArray>()
                .unwrap();
            for i in 0..b.num_rows() {
                rows.push(json!([ids.value(i), emails.value(i), "DE"]));
            }
        }
        rows
    };
    assert!(
        expected.len() >= 3,
        "the demo lake has German users among the first 60"
    );
    // Every way of naming the table gets the same filtered, masked rows.
    for sql in [
        "SELECT user_id, email, country FROM silver.users WHERE user_id <= $1 ORDER BY user_id",
        "SELECT user_id, email, country FROM \"silver\".\"USERS\" WHERE user_id <= $1 ORDER BY user_id",
        "SELECT user_id, email, country FROM lake.silver.users WHERE user_id <= $1 ORDER BY user_id",
        "WITH u AS (SELECT * FROM silver.users) SELECT user_id, email, country FROM u WHERE user_id <= $1 ORDER BY user_id",
        "SELECT user_id, email, country FROM silver.users VERSION AS OF 1 WHERE user_id <= $1 ORDER BY user_id",
    ] {
        let (status, v) = query(
            addr,
            Auth::Basic("alice", "alice-pass"),
            json!({"sql": sql, "params": [60]}),
        )
        .await;
        if sql.contains("USERS") {
            // Quoted upper case is another name in Postgres: no such table.
            assert_eq!(status, 400, "{sql}: {v}");
            assert_eq!(v["error"]["sqlstate"], "42P01", "{sql}: {v}");
            continue;
        }
        if sql.contains("VERSION AS OF") {
            // An older version holds other rows; the filter and mask still apply to each.
            assert_eq!(status, 200, "{sql}: {v}");
            for row in v["rows"].as_array().unwrap() {
                assert_eq!(row[2], "DE", "{sql}: {row}");
                assert!(row[1].as_str().unwrap().ends_with("***"), "{sql}: {row}");
            }
            continue;
        }
        assert_eq!(status, 200, "{sql}: {v}");
        assert_eq!(
            v["columns"],
            json!([
                {"name": "user_id", "type": "int8"},
                {"name": "email", "type": "text"},
                {"name": "country", "type": "text"}
            ]),
            "{sql}"
        );
        assert_eq!(v["rows"], Value::Array(expected.clone()), "{sql}");
        assert_eq!(v["row_count"], expected.len(), "{sql}");
        assert_eq!(v["truncated"], false);
        assert_eq!(v["command"], "SELECT");
    }

    // A table outside alice's grants, named directly or through a CTE: 403 with 42501.
    for sql in [
        "SELECT count(*) FROM bronze.watch_events",
        "WITH e AS (SELECT * FROM bronze.watch_events) SELECT count(*) FROM e",
    ] {
        let (status, v) = query(
            addr,
            Auth::Basic("alice", "alice-pass"),
            json!({"sql": sql}),
        )
        .await;
        assert_eq!(
            (status, v["error"]["sqlstate"].clone()),
            (403, json!("42501")),
            "{sql}: {v}"
        );
    }

    // Mistakes: 4xx with the SQLSTATE Postgres gives, and a position for syntax errors.
    let ops = || Auth::Basic("ops", "ops-pass");
    let (status, v) = query(addr, ops(), json!({"sql": "SELEC 1"})).await;
    assert_eq!(
        (status, v["error"]["sqlstate"].as_str()),
        (400, Some("42601")),
        "{v}"
    );
    let (status, v) = query(addr, ops(), json!({"sql": "SELECT * FROM silver.nope"})).await;
    assert_eq!(
        (status, v["error"]["sqlstate"].as_str()),
        (400, Some("42P01")),
        "{v}"
    );
    let (status, v) = query(
        addr,
        ops(),
        json!({"sql": "SELECT $1::int + $2::int", "params": [1]}),
    )
    .await;
    assert_eq!(
        (status, v["error"]["sqlstate"].as_str()),
        (400, Some("08P01")),
        "{v}"
    );
    let (status, v) = query(
        addr,
        ops(),
        json!({"sql": "SELECT $1::int", "params": ["x"]}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    let (status, v) = query(addr, ops(), json!({"sql": "SELECT 1; SELECT 2"})).await;
    assert_eq!(status, 400, "{v}");
    let (status, v) = query(addr, ops(), json!({"sql": "DELETE FROM silver.users"})).await;
    assert_eq!(
        (status, v["error"]["sqlstate"].as_str()),
        (400, Some("25006")),
        "{v}"
    );
    // Typed parameters and values.
    let (status, v) = query(
        addr,
        ops(),
        json!({"sql": "SELECT $1::bigint * 2 AS n, $2::text AS s, $3::boolean AS b, $4::int AS z, DATE '2024-02-29' AS d, 1.50::numeric(5,2) AS m",
               "params": [21, "x", true, null]}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["rows"],
        json!([[42, "x", true, null, "2024-02-29", "1.50"]]),
        "{v}"
    );
    assert_eq!(
        v["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["int8", "text", "bool", "int4", "date", "numeric"]
    );

    // The row limit: the request's, never above the server's (1000 here).
    let (status, v) = query(
        addr,
        ops(),
        json!({"sql": "SELECT user_id FROM silver.users ORDER BY user_id", "max_rows": 3}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["rows"], json!([[1], [2], [3]]));
    assert_eq!(
        (v["row_count"].clone(), v["truncated"].clone()),
        (json!(3), json!(true))
    );
    let (_, v) = query(
        addr,
        ops(),
        json!({"sql": "SELECT * FROM generate_series(1, 5000)", "max_rows": 100000}),
    )
    .await;
    assert_eq!(
        (v["row_count"].clone(), v["truncated"].clone()),
        (json!(1000), json!(true))
    );

    // The statement timeout (2 s here): 504 with 57014.
    let (status, v) = query(addr, ops(), json!({"sql": "SELECT pg_sleep(10)"})).await;
    assert_eq!(
        (status, v["error"]["sqlstate"].as_str()),
        (504, Some("57014")),
        "{v}"
    );

    // Every statement is in the query log with its user and outcome.
    let (_, v) = query(
        addr,
        ops(),
        json!({"sql": "SELECT usename, status FROM lakegate.query_log WHERE query = $1",
               "params": ["SELECT count(*) FROM bronze.watch_events"]}),
    )
    .await;
    assert_eq!(v["rows"], json!([["alice", "error"]]), "{v}");
    let (_, v) = query(
        addr,
        ops(),
        json!({"sql": "SELECT usename, status FROM lakegate.query_log WHERE query = $1",
               "params": ["SELECT user_id, email, country FROM lake.silver.users WHERE user_id <= $1 ORDER BY user_id"]}),
    )
    .await;
    assert_eq!(v["rows"], json!([["alice", "ok"]]), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_query_authenticates_like_the_wire_and_survives_hostile_bodies() {
    let (_server, _dir, addr) = http_server().await;
    let one = json!({"sql": "SELECT 1 AS one"}).to_string();
    let (status, _, _) = post(addr, "/v1/query", Auth::None, None, one.clone()).await;
    assert_eq!(status, 401);
    let (status, _, body) = post(
        addr,
        "/v1/query",
        Auth::Basic("alice", "wrong"),
        None,
        one.clone(),
    )
    .await;
    assert_eq!(status, 401);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["sqlstate"], "28P01");
    assert!(
        !String::from_utf8_lossy(&body).contains("wrong"),
        "the password is not echoed"
    );
    let (status, _, _) = post(
        addr,
        "/v1/query",
        Auth::Basic("nobody", "x"),
        None,
        one.clone(),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _, _) = post(
        addr,
        "/v1/query",
        Auth::Bearer("made-up"),
        None,
        one.clone(),
    )
    .await;
    assert_eq!(status, 401);

    // A bearer token from /v1/token works in place of the password.
    let (status, _, body) = post(
        addr,
        "/v1/token",
        Auth::Basic("alice", "alice-pass"),
        None,
        "",
    )
    .await;
    assert_eq!(status, 200);
    let token: Value = serde_json::from_slice(&body).unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    let (status, _, body) = post(addr, "/v1/query", Auth::Bearer(&token), None, one.clone()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["rows"], json!([[1]]));
    // ... with alice's rules, not an admin's.
    let (status, _, _) = post(
        addr,
        "/v1/query",
        Auth::Bearer(&token),
        None,
        json!({"sql": "SELECT count(*) FROM bronze.watch_events"}).to_string(),
    )
    .await;
    assert_eq!(status, 403);

    // Hostile bodies: each gets its 4xx and the server goes on.
    let ops = || Auth::Basic("ops", "ops-pass");
    let (status, _, _) = post(addr, "/v1/query", ops(), None, "{not json").await;
    assert_eq!(status, 400);
    let (status, _, _) = post(
        addr,
        "/v1/query",
        ops(),
        None,
        json!({"sql": 1}).to_string(),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, _) = post(
        addr,
        "/v1/query",
        ops(),
        None,
        json!({"sql": "SELECT 1", "extra": 1}).to_string(),
    )
    .await;
    assert_eq!(status, 400);
    // A body larger than the limit is refused from its Content-Length, before it is read.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!(
                "POST /v1/query HTTP/1.1\r\nHost: x\r\nAuthorization: Basic b3BzOm9wcy1wYXNz\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{{\"sql\": \"",
                64 << 20
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let mut buf = vec![0u8; 12];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"HTTP/1.1 413");
    }
    // A chunked body without a length is cut off at the limit.
    let huge = format!("{{\"sql\": \"SELECT '{}'\"}}", "x".repeat(3 << 20));
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = huge
        .into_bytes()
        .chunks(1 << 16)
        .map(|c| Ok(c.to_vec()))
        .collect();
    match reqwest::Client::new()
        .post(format!("http://{addr}/v1/query"))
        .basic_auth("ops", Some("ops-pass"))
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
    {
        Ok(r) => assert_eq!(r.status().as_u16(), 413),
        // The server answered and closed while the client was still sending.
        Err(e) => assert!(e.is_request(), "{e}"),
    }
    let (status, _, _) = post(
        addr,
        "/v1/query",
        ops(),
        Some("application/xml"),
        one.clone(),
    )
    .await;
    assert_eq!(status, 406);
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let (status, _, _) = post(
        addr,
        "/v1/query",
        ops(),
        None,
        format!("{{\"sql\": \"SELECT 1\", \"params\": {deep}}}"),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, body) = post(addr, "/v1/query", ops(), None, one.clone()).await;
    assert_eq!(
        (
            status,
            serde_json::from_slice::<Value>(&body).unwrap()["rows"].clone()
        ),
        (200, json!([[1]]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_query_streams_arrow_and_csv() {
    let (server, _dir, addr) = http_server().await;
    let titles = server.lake.join("silver/titles");
    let expected = delta_rs(&titles, "SELECT * FROM t ORDER BY 1").await;
    let expected =
        datafusion::arrow::compute::concat_batches(&expected[0].schema(), &expected).unwrap();
    let sql = json!({"sql": "SELECT * FROM silver.titles ORDER BY 1"}).to_string();
    let (status, ct, body) = post(
        addr,
        "/v1/query",
        Auth::Basic("ops", "ops-pass"),
        Some("application/vnd.apache.arrow.stream"),
        sql.clone(),
    )
    .await;
    assert_eq!(
        (status, ct.as_str()),
        (200, "application/vnd.apache.arrow.stream")
    );
    let reader =
        datafusion::arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(body), None)
            .unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    let got = datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    assert_eq!(got.num_rows(), expected.num_rows());
    assert_eq!(got.num_columns(), expected.num_columns());
    for (i, f) in expected.schema().fields().iter().enumerate() {
        assert_eq!(got.schema().field(i).name(), f.name());
        // Same values; string columns may come back as Utf8 where delta-rs gives views.
        let want = datafusion::arrow::compute::cast(expected.column(i), got.column(i).data_type())
            .unwrap();
        assert_eq!(got.column(i).as_ref(), want.as_ref(), "column {}", f.name());
    }

    let (status, ct, body) = post(
        addr,
        "/v1/query",
        Auth::Basic("ops", "ops-pass"),
        Some("text/csv"),
        json!({"sql": "SELECT title_id, name FROM silver.titles WHERE title_id <= 2 ORDER BY 1"})
            .to_string(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/csv"), "{ct}");
    let text = String::from_utf8(body.to_vec()).unwrap();
    let names = delta_rs(
        &titles,
        "SELECT name FROM t WHERE title_id <= 2 ORDER BY title_id",
    )
    .await;
    let names = datafusion::arrow::compute::cast(
        names[0].column(0),
        &datafusion::arrow::datatypes::DataType::Utf8,
    )
    .unwrap();
    let names = names
        .as_any()
        .downcast_ref::<datafusion::arrow::array::StringArray>()
        .unwrap();
    assert_eq!(
        text,
        format!(
            "title_id,name\n1,{}\n2,{}\n",
            names.value(0),
            names.value(1)
        )
    );
    // An empty result still has its header.
    let (_, _, body) = post(
        addr,
        "/v1/query",
        Auth::Basic("ops", "ops-pass"),
        Some("text/csv"),
        json!({"sql": "SELECT title_id, name FROM silver.titles WHERE false"}).to_string(),
    )
    .await;
    assert_eq!(String::from_utf8(body.to_vec()).unwrap(), "title_id,name\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_password_guesses_are_slowed_like_the_wire() {
    let (_server, _dir, addr) = http_server().await;
    let get = |user: &'static str, password: &'static str| async move {
        reqwest::Client::new()
            .get(format!("http://{addr}/"))
            .basic_auth(user, Some(password))
            .send()
            .await
            .expect("request")
            .status()
            .as_u16()
    };
    for _ in 0..4 {
        assert_eq!(get("ops", "guess").await, 401);
    }
    // The fifth wrong guess from this address waits (100 ms × 2 after four failures).
    let started = std::time::Instant::now();
    assert_eq!(get("ops", "guess").await, 401);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    // The same address is slowed on the query door too: one record per address, every door.
    let started = std::time::Instant::now();
    let (status, _, _) = post(
        addr,
        "/v1/query",
        Auth::Basic("ops", "guess"),
        None,
        json!({"sql": "SELECT 1"}).to_string(),
    )
    .await;
    assert_eq!(status, 401);
    assert!(started.elapsed() >= Duration::from_millis(400));
    // The right password still gets in.
    assert_eq!(get("ops", "ops-pass").await, 200);
}
