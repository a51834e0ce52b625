//! `COPY ... TO STDOUT` in text, CSV and binary, read by tokio-postgres' COPY client (its
//! binary decoder too) and psql's `\copy`, under grants, row filters and the statement
//! timeout. Expected rows come from delta-rs reading the tables directly.

use std::time::Duration;

use datafusion::arrow::array::{Array, Int32Array, StringArray};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::DataType;
use futures::{StreamExt, TryStreamExt, pin_mut};
use tokio_postgres::binary_copy::BinaryCopyOutStream;
use tokio_postgres::types::Type;

use crate::common::code;
use crate::http_api::delta_rs;
use crate::security::secure_server;

async fn copy_text(c: &tokio_postgres::Client, sql: &str) -> Result<String, tokio_postgres::Error> {
    let stream = c.copy_out(sql).await?;
    let chunks: Vec<bytes::Bytes> = stream.try_collect().await?;
    Ok(String::from_utf8(chunks.concat()).unwrap())
}

async fn login(port: u16, user: &str, password: &str) -> tokio_postgres::Client {
    let (c, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user={user} password={password} dbname=lake"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_to_stdout_in_text_csv_and_binary_under_the_rules() {
    let limits = lakegate::config::Limits {
        statement_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let (server, _dir) = secure_server(None, limits, |_| {}).await;
    let port = server.server.addr.port();
    let titles = delta_rs(
        &server.lake.join("silver/titles"),
        "SELECT title_id, name FROM t ORDER BY title_id",
    )
    .await;
    let titles = concat_batches(&titles[0].schema(), &titles).unwrap();
    let ids = titles
        .column(0)
        .as_any()
        .downcast_ref::<Int32Array>()
        .unwrap()
        .clone();
    let names = cast(titles.column(1), &DataType::Utf8).unwrap();
    let names = names
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
        .clone();
    let ops = login(port, "ops", "ops-pass").await;

    // Text: tab-separated, one line per row.
    let got = copy_text(
        &ops,
        "COPY (SELECT title_id, name FROM silver.titles WHERE title_id <= 3 ORDER BY 1) TO STDOUT",
    )
    .await
    .unwrap();
    let want: String = (0..3)
        .map(|i| format!("{}\t{}\n", ids.value(i), names.value(i)))
        .collect();
    assert_eq!(got, want);

    // CSV with a header, a whole table by name with a column list (order as stored: sorted here).
    let got = copy_text(
        &ops,
        "COPY silver.titles (title_id, name) TO STDOUT WITH (FORMAT csv, HEADER)",
    )
    .await
    .unwrap();
    let mut lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines.remove(0), "title_id,name");
    lines.sort_by_key(|l| l.split(',').next().unwrap().parse::<i32>().unwrap());
    let want: Vec<String> = (0..ids.len())
        .map(|i| format!("{},{}", ids.value(i), names.value(i)))
        .collect();
    assert_eq!(lines, want);
    // The old syntax psql users type.
    let got = copy_text(
        &ops,
        "COPY (SELECT 'a,b' AS x, NULL AS y, '' AS z) TO STDOUT WITH CSV HEADER",
    )
    .await
    .unwrap();
    assert_eq!(got, "x,y,z\n\"a,b\",,\"\"\n");

    // Binary, decoded by tokio-postgres' binary COPY reader.
    let stream = ops
        .copy_out(
            "COPY (SELECT title_id, name FROM silver.titles ORDER BY 1) TO STDOUT (FORMAT binary)",
        )
        .await
        .unwrap();
    let rows = BinaryCopyOutStream::new(stream, &[Type::INT4, Type::TEXT]);
    pin_mut!(rows);
    let mut n = 0;
    while let Some(row) = rows.next().await {
        let row = row.unwrap();
        assert_eq!(row.get::<i32>(0), ids.value(n));
        assert_eq!(row.get::<&str>(1), names.value(n));
        n += 1;
    }
    assert_eq!(n, ids.len());

    // alice: her row filter (country = 'DE') and mask hold in COPY under any name.
    let users = delta_rs(
        &server.lake.join("silver/users"),
        "SELECT user_id FROM t WHERE country = 'DE' ORDER BY user_id",
    )
    .await;
    let de: usize = users.iter().map(|b| b.num_rows()).sum();
    let alice = login(port, "alice", "alice-pass").await;
    for sql in [
        "COPY silver.users (user_id) TO STDOUT",
        "COPY (SELECT user_id FROM lake.silver.users) TO STDOUT",
        "COPY (WITH u AS (SELECT * FROM \"silver\".users) SELECT user_id FROM u) TO STDOUT (FORMAT csv)",
    ] {
        let got = copy_text(&alice, sql).await.unwrap();
        assert_eq!(got.lines().count(), de, "{sql}");
    }
    let got = copy_text(&alice, "COPY (SELECT email FROM silver.users) TO STDOUT")
        .await
        .unwrap();
    assert!(got.lines().all(|l| l.ends_with("***")), "masked: {got}");
    for (sql, state) in [
        ("COPY bronze.watch_events TO STDOUT", "42501"),
        (
            "COPY (SELECT * FROM bronze.watch_events) TO STDOUT",
            "42501",
        ),
        ("COPY silver.users TO '/tmp/lakegate-copy-test'", "42501"),
        ("COPY (SELECT 1) TO STDOUT (FORMAT xml)", "0A000"),
    ] {
        let e = copy_text(&alice, sql).await.unwrap_err();
        assert_eq!(code(&e), state, "{sql}: {e}");
    }
    assert!(!std::path::Path::new("/tmp/lakegate-copy-test").exists());

    // The statement timeout (2 s) stops a COPY.
    let e = copy_text(&ops, "COPY (SELECT pg_sleep(10)) TO STDOUT")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "57014", "{e}");
    // The session goes on.
    let row = ops.query_one("SELECT 1::int4", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 1);

    // psql's \copy ... to writes the client's file.
    let out = tempfile::NamedTempFile::new().unwrap();
    let st = std::process::Command::new("psql")
        .args([
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
            &format!("host=127.0.0.1 port={port} user=ops password=ops-pass dbname=lake"),
            "-c",
            &format!(
                "\\copy (SELECT title_id, name FROM silver.titles WHERE title_id <= 2 ORDER BY 1) to '{}' csv",
                out.path().display()
            ),
        ])
        .output()
        .expect("psql runs");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(out.path()).unwrap(),
        format!("1,{}\n2,{}\n", names.value(0), names.value(1))
    );
}
