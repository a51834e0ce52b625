//! Protocol behaviour through tokio-postgres: both protocols, both formats, errors, sessions.

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::{NoTls, SimpleQueryMessage};

use crate::common::*;

/// interval in binary: (months, days, microseconds).
#[derive(Debug, PartialEq)]
struct Interval(i32, i32, i64);

impl<'a> FromSql<'a> for Interval {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let us = i64::from_be_bytes(raw[0..8].try_into()?);
        let d = i32::from_be_bytes(raw[8..12].try_into()?);
        let m = i32::from_be_bytes(raw[12..16].try_into()?);
        Ok(Interval(m, d, us))
    }
    fn accepts(t: &Type) -> bool {
        *t == Type::INTERVAL
    }
}

async fn simple_row(client: &tokio_postgres::Client, sql: &str) -> Vec<Option<String>> {
    for m in client.simple_query(sql).await.unwrap() {
        if let SimpleQueryMessage::Row(r) = m {
            return (0..r.len()).map(|i| r.get(i).map(str::to_string)).collect();
        }
    }
    panic!("no row for {sql}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_round_trips_in_text_and_binary() {
    let t = demo_server().await;
    let c = t.connect().await;
    let sql = "SELECT CAST(1 AS SMALLINT) AS i2, CAST(2 AS INT) AS i4, CAST(3 AS BIGINT) AS i8, \
        CAST(1.5 AS REAL) AS f4, CAST(-2.25 AS DOUBLE) AS f8, 'héllo' AS txt, true AS b, \
        DATE '2024-01-02' AS d, TIMESTAMP '2024-01-02 03:04:05.123456' AS ts, \
        CAST(-12.34 AS DECIMAL(10,2)) AS num, CAST(NULL AS INT) AS nul, \
        TIME '01:02:03.5' AS tm, INTERVAL '1 month 2 days 3 hours' AS iv, \
        arrow_cast(TIMESTAMP '2024-01-02 03:04:05', 'Timestamp(Microsecond, Some(\"UTC\"))') AS tstz, \
        make_array(1, 2, 3) AS arr, CAST(X'DEADBEEF' AS BYTEA) AS bin";
    // Binary (extended protocol, tokio-postgres asks for binary results).
    let row = c.query_one(sql, &[]).await.unwrap();
    assert_eq!(row.get::<_, i16>("i2"), 1);
    assert_eq!(row.get::<_, i32>("i4"), 2);
    assert_eq!(row.get::<_, i64>("i8"), 3);
    assert_eq!(row.get::<_, f32>("f4"), 1.5);
    assert_eq!(row.get::<_, f64>("f8"), -2.25);
    assert_eq!(row.get::<_, String>("txt"), "héllo");
    assert!(row.get::<_, bool>("b"));
    assert_eq!(
        row.get::<_, NaiveDate>("d"),
        NaiveDate::from_ymd_opt(2024, 1, 2).unwrap()
    );
    assert_eq!(
        row.get::<_, NaiveDateTime>("ts"),
        NaiveDate::from_ymd_opt(2024, 1, 2)
            .unwrap()
            .and_hms_micro_opt(3, 4, 5, 123456)
            .unwrap()
    );
    assert_eq!(row.get::<_, Numeric>("num"), Numeric("-12.34".into()));
    assert_eq!(row.get::<_, Option<i32>>("nul"), None);
    assert_eq!(
        row.get::<_, NaiveTime>("tm"),
        NaiveTime::from_hms_milli_opt(1, 2, 3, 500).unwrap()
    );
    assert_eq!(
        row.get::<_, Interval>("iv"),
        Interval(1, 2, 3 * 3_600_000_000)
    );
    assert_eq!(
        row.get::<_, DateTime<Utc>>("tstz"),
        "2024-01-02T03:04:05Z".parse::<DateTime<Utc>>().unwrap()
    );
    assert_eq!(row.get::<_, Vec<i64>>("arr"), vec![1, 2, 3]);
    assert_eq!(row.get::<_, Vec<u8>>("bin"), vec![0xde, 0xad, 0xbe, 0xef]);
    // Text (simple protocol): the same values as Postgres prints them.
    let text = simple_row(&c, sql).await;
    let expect = [
        Some("1"),
        Some("2"),
        Some("3"),
        Some("1.5"),
        Some("-2.25"),
        Some("héllo"),
        Some("t"),
        Some("2024-01-02"),
        Some("2024-01-02 03:04:05.123456"),
        Some("-12.34"),
        None,
        Some("01:02:03.5"),
        Some("1 mon 2 days 03:00:00"),
        Some("2024-01-02 03:04:05+00"),
        Some("{1,2,3}"),
        Some("\\xdeadbeef"),
    ];
    assert_eq!(text, expect.map(|v| v.map(str::to_string)).to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lake_types_come_back_exact_in_both_formats() {
    let t = demo_server().await;
    let c = t.connect().await;
    let sql = "SELECT title_id, name, maturity_rating, avg_rating, budget_usd, poster_thumb, \
        release_date, genres, details FROM silver.titles WHERE title_id = 2";
    let row = c.query_one(sql, &[]).await.unwrap();
    let cols: Vec<(String, Type)> = row
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), c.type_().clone()))
        .collect();
    assert_eq!(
        cols.iter().map(|c| c.1.clone()).collect::<Vec<_>>(),
        [
            Type::INT4,
            Type::TEXT,
            Type::INT2,
            Type::FLOAT4,
            Type::NUMERIC,
            Type::BYTEA,
            Type::DATE,
            Type::TEXT_ARRAY,
            Type::JSONB
        ]
    );
    let text = simple_row(&c, sql).await;
    assert_eq!(row.get::<_, i32>(0).to_string(), text[0].clone().unwrap());
    assert_eq!(row.get::<_, String>(1), text[1].clone().unwrap());
    assert_eq!(row.get::<_, i16>(2).to_string(), text[2].clone().unwrap());
    assert_eq!(row.get::<_, f32>(3).to_string(), text[3].clone().unwrap());
    assert_eq!(row.get::<_, Numeric>(4).0, text[4].clone().unwrap());
    assert_eq!(row.get::<_, Vec<u8>>(5), vec![0x89, b'P', b'N', b'G', 2]);
    assert_eq!(text[5].as_deref(), Some("\\x89504e4702"));
    assert_eq!(
        row.get::<_, NaiveDate>(6).to_string(),
        text[6].clone().unwrap()
    );
    assert_eq!(row.get::<_, Vec<String>>(7), vec!["documentary", "family"]);
    assert_eq!(text[7].as_deref(), Some("{documentary,family}"));
    let details: serde_json::Value = row.get(8);
    assert_eq!(
        details,
        serde_json::json!({"studio": "Paper Moon", "language": "ja"})
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(text[8].as_deref().unwrap()).unwrap(),
        details
    );

    // Timestamps with and without zone, maps, lists, and the numeric typmod.
    let row = c
        .query_one(
            "SELECT s.started_at, e.local_ts, u.preferences, u.languages, s.monthly_price \
             FROM silver.subscriptions s JOIN silver.users u ON u.user_id = s.user_id \
             JOIN silver.watch_events e ON e.user_id = u.user_id \
             WHERE s.subscription_id = 1 ORDER BY e.event_id LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.columns()[0].type_(), &Type::TIMESTAMPTZ);
    assert_eq!(row.columns()[1].type_(), &Type::TIMESTAMP);
    let _: DateTime<Utc> = row.get(0);
    let _: NaiveDateTime = row.get(1);
    let prefs: serde_json::Value = row.get(2);
    assert!(prefs.get("quality").is_some(), "{prefs}");
    let langs: Vec<String> = row.get(3);
    assert_eq!(langs[0], "en");
    let price: Numeric = row.get(4);
    assert!(
        ["7.99", "12.99", "19.99"].contains(&price.0.as_str()),
        "{price:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_of_every_type_bind_in_both_formats() {
    let t = demo_server().await;
    let c = t.connect().await;
    let rows = c
        .query(
            "SELECT user_id, email FROM silver.users WHERE user_id = $1 OR email = $2 ORDER BY user_id",
            &[&5i64, &"user9@example.com"],
        )
        .await
        .unwrap();
    let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(ids, vec![5, 9]);
    let d = NaiveDate::from_ymd_opt(2024, 6, 3).unwrap();
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM silver.watch_events WHERE event_date = $1 AND completed = $2",
            &[&d, &true],
        )
        .await
        .unwrap()
        .get(0);
    let want = crate::http_api::delta_rs_i64(
        &t.lake.join("silver/watch_events"),
        "SELECT count(*) FROM t WHERE event_date = DATE '2024-06-03' AND completed",
    )
    .await;
    assert!(want > 0);
    assert_eq!(n, want);
    // Lists bound to `= ANY($1)` (binary int8[] and text[], as tokio-postgres sends them).
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM silver.users WHERE user_id = ANY($1) AND country <> ALL($2)",
            &[
                &vec![1i64, 2, 3, 401, 999_999],
                &vec!["FR", "a \"quoted\" one"],
            ],
        )
        .await
        .unwrap()
        .get(0);
    let want = crate::http_api::delta_rs_i64(
        &t.lake.join("silver/users"),
        "SELECT count(*) FROM t WHERE user_id IN (1, 2, 3, 401, 999999) AND country <> 'FR'",
    )
    .await;
    assert!(want > 0);
    assert_eq!(n, want);
    let stmt = c
        .prepare_typed(
            "SELECT $1::int4, $2::float8 * 2, $3::text || '!', $4::int2, $5::bool",
            &[Type::INT4, Type::FLOAT8, Type::TEXT, Type::INT2, Type::BOOL],
        )
        .await
        .unwrap();
    let row = c
        .query_one(&stmt, &[&41i32, &1.25f64, &"hi", &7i16, &false])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 41);
    assert_eq!(row.get::<_, f64>(1), 2.5);
    assert_eq!(row.get::<_, String>(2), "hi!");
    assert_eq!(row.get::<_, i16>(3), 7);
    assert!(!row.get::<_, bool>(4));
    // NULL parameters.
    let row = c
        .query_one("SELECT $1::bigint IS NULL", &[&None::<i64>])
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
    // A prepared statement reused many times.
    let stmt = c
        .prepare("SELECT email FROM silver.users WHERE user_id = $1")
        .await
        .unwrap();
    assert_eq!(stmt.params(), &[Type::INT8]);
    for id in [1i64, 2, 3] {
        let e: String = c.query_one(&stmt, &[&id]).await.unwrap().get(0);
        assert_eq!(e, format!("user{id}@example.com"));
    }
    // asyncpg's type introspection, in its shape: `$1::oid[]` and `array_agg(atttypid)` must
    // be `oid[]` (asyncpg decodes no other integer array before it has introspected one),
    // and the oids are the types the table's own RowDescription gives.
    let want: Vec<u32> = c
        .prepare("SELECT * FROM silver.users")
        .await
        .unwrap()
        .columns()
        .iter()
        .map(|col| col.type_().oid())
        .collect();
    // The table's row type (pg_class.reltype), followed to its attributes as asyncpg does.
    let reltype: i32 = c
        .query_one(
            "SELECT reltype FROM pg_class WHERE oid = 'silver.users'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let stmt = c
        .prepare(
            "SELECT t.oid, t.typtype, (CASE WHEN t.typtype = 'c' THEN \
             (SELECT array_agg(ia.atttypid ORDER BY ia.attnum) \
             FROM pg_attribute ia INNER JOIN pg_class c ON (ia.attrelid = c.oid) \
             WHERE ia.attnum > 0 AND NOT ia.attisdropped AND c.reltype = t.oid) \
             ELSE NULL END) AS attrtypoids \
             FROM pg_type t WHERE t.oid = any($1::oid[]) ORDER BY 1",
        )
        .await
        .unwrap();
    assert_eq!(stmt.params(), &[Type::OID_ARRAY]);
    assert_eq!(stmt.columns()[2].type_(), &Type::OID_ARRAY);
    let rows = c
        .query(&stmt, &[&vec![20u32, reltype as u32]])
        .await
        .unwrap();
    let got: Vec<(i32, String, Option<Vec<u32>>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        got,
        [
            (20, "b".to_string(), None),
            (reltype, "c".to_string(), Some(want))
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portals_suspend_at_max_rows_inside_a_transaction() {
    let t = demo_server().await;
    let mut c = t.connect().await;
    let tx = c.transaction().await.unwrap();
    let portal = tx
        .bind(
            "SELECT event_id FROM silver.watch_events ORDER BY event_id",
            &[],
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    loop {
        let rows = tx.query_portal(&portal, 1000).await.unwrap();
        if rows.is_empty() {
            break;
        }
        assert!(rows.len() <= 1000);
        seen.extend(rows.iter().map(|r| r.get::<_, i64>(0)));
    }
    let total: i64 = tx
        .query_one("SELECT count(*) FROM silver.watch_events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(seen.len() as i64, total);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_sqlstates_and_the_session_survives() {
    let t = demo_server().await;
    let c = t.connect().await;
    // A file COPY may not write: one nobody else writes, so its absence means something.
    let scratch = tempfile::TempDir::new().unwrap();
    let out = scratch.path().join("out.csv");
    let copy_to_file = format!("COPY silver.users TO '{}'", out.display());
    let cases = [
        ("SELECT * FROM silver.nope", "42P01"),
        ("SELECT nope FROM silver.users", "42703"),
        ("SELEC 1", "42601"),
        ("SELECT no_such_function(1)", "42883"),
        ("SELECT 1/0", "22012"),
        ("SELECT CAST('abc' AS INT)", "22P02"),
        ("SHOW no_such_setting", "42704"),
        ("INSERT INTO silver.users (user_id) VALUES (1)", "25006"),
        ("UPDATE silver.users SET email = 'x'", "25006"),
        ("DELETE FROM silver.users", "25006"),
        ("CREATE TABLE gold.x (a INT)", "25006"),
        ("DROP TABLE silver.users", "25006"),
        (
            "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
            "25006",
        ),
        (copy_to_file.as_str(), "42501"),
        ("SELECT * FROM '/etc/passwd'", "42P01"),
    ];
    for (sql, expected) in cases {
        let e = c.simple_query(sql).await.expect_err(sql);
        assert_eq!(code(&e), expected, "simple: {sql}: {e}");
        let e = c.query(sql, &[]).await.expect_err(sql);
        assert_eq!(code(&e), expected, "extended: {sql}: {e}");
        // The session keeps working after every error.
        assert_eq!(
            c.query_one("SELECT 1::int4", &[])
                .await
                .unwrap()
                .get::<_, i32>(0),
            1
        );
    }
    let e = c
        .simple_query("SELECT 1 FROM silver.users WHERE )")
        .await
        .unwrap_err();
    let db = e.as_db_error().unwrap();
    assert_eq!(db.code().code(), "42601");
    assert!(db.position().is_some(), "syntax errors carry a position");
    // Nothing was written: the table is as the demo made it.
    let n: i64 = c
        .query_one("SELECT count(*) FROM silver.users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        n,
        crate::http_api::delta_rs_i64(&t.lake.join("silver/users"), "SELECT count(*) FROM t").await
    );
    assert!(!out.exists(), "COPY wrote {}", out.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_report_status_and_recover_from_errors() {
    let t = demo_server().await;
    let c = t.connect().await;
    c.batch_execute("BEGIN").await.unwrap();
    c.simple_query("SELECT count(*) FROM silver.users")
        .await
        .unwrap();
    let e = c
        .simple_query("SELECT * FROM silver.nope")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "42P01");
    let e = c.simple_query("SELECT 1").await.unwrap_err();
    assert_eq!(code(&e), "25P02", "aborted transaction ignores commands");
    c.batch_execute("ROLLBACK").await.unwrap();
    c.simple_query("SELECT 1").await.unwrap();
    c.batch_execute("START TRANSACTION READ ONLY; SELECT 1; COMMIT")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_protocol_handles_many_statements_and_empty_queries() {
    let t = demo_server().await;
    let c = t.connect().await;
    let msgs = c
        .simple_query("SELECT 1 AS a; SELECT 'x' AS b, 2 AS c;")
        .await
        .unwrap();
    let rows: Vec<_> = msgs
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap().to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(rows, vec!["1", "x"]);
    let completes = msgs
        .iter()
        .filter(|m| matches!(m, SimpleQueryMessage::CommandComplete(_)))
        .count();
    assert_eq!(completes, 2);
    assert!(
        c.simple_query("")
            .await
            .unwrap()
            .iter()
            .all(|m| !matches!(m, SimpleQueryMessage::Row(_)))
    );
    c.simple_query(";").await.unwrap();
    // A failing statement stops the rest of the string, like Postgres.
    let e = c
        .simple_query("SELECT 1; SELECT * FROM nope; SELECT 3")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "42P01");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_settings_set_show_reset_and_search_path() {
    let t = demo_server().await;
    let c = t.connect().await;
    c.batch_execute("SET application_name = 'report-builder'")
        .await
        .unwrap();
    assert_eq!(
        simple_row(&c, "SHOW application_name").await,
        vec![Some("report-builder".into())]
    );
    c.batch_execute("SET search_path TO silver, public")
        .await
        .unwrap();
    let n = simple_row(&c, "SELECT count(*) FROM users").await;
    let want =
        crate::http_api::delta_rs_i64(&t.lake.join("silver/users"), "SELECT count(*) FROM t").await;
    assert_eq!(n, vec![Some(want.to_string())]);
    c.batch_execute("RESET search_path").await.unwrap();
    let e = c
        .simple_query("SELECT count(*) FROM users")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "42P01");
    assert_eq!(
        simple_row(&c, "SHOW server_version").await,
        vec![Some("16.6".into())]
    );
    let v = simple_row(&c, "SELECT version()").await;
    assert!(v[0].as_deref().unwrap().starts_with("PostgreSQL 16.6"));
    let e = c
        .batch_execute("SET transaction_read_only = off")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "25006");
    c.batch_execute("SET datafusion.execution.batch_size = 1024")
        .await
        .unwrap();
    assert_eq!(
        simple_row(&c, "SHOW datafusion.execution.batch_size").await,
        vec![Some("1024".into())]
    );
    c.batch_execute("DISCARD ALL").await.unwrap();
    assert_eq!(
        simple_row(&c, "SHOW application_name").await,
        vec![Some("".into())]
    );
    // Extended protocol: SHOW returns a row, SET none.
    let row = c.query_one("SHOW TimeZone", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "UTC");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_running_query_within_a_second() {
    let t = demo_server().await;
    let c = t.connect().await;
    let token = c.cancel_token();
    let query = tokio::spawn(async move {
        let r = c
            .simple_query(
                "SELECT count(*) FROM silver.watch_events a, silver.watch_events b, silver.watch_events c \
                 WHERE a.seconds_watched + b.seconds_watched = c.seconds_watched + 1",
            )
            .await;
        (r, c)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let asked = Instant::now();
    token.cancel_query(NoTls).await.unwrap();
    let (r, c) = tokio::time::timeout(Duration::from_secs(5), query)
        .await
        .expect("query ends")
        .unwrap();
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "took {:?}",
        asked.elapsed()
    );
    assert_eq!(code(&r.unwrap_err()), "57014");
    c.simple_query("SELECT 1").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_database_is_refused_with_3d000() {
    let t = demo_server().await;
    let e = connect_to(&t.server, "other").await.expect_err("refused");
    assert_eq!(code(&e), "3D000");
    let _ = t.url("lake");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_columns_are_named_like_postgres() {
    let t = demo_server().await;
    let c = t.connect().await;
    let row = c
        .query_one(
            "SELECT count(*), max(u.user_id), u.country::text, 1 + 1, upper(u.country) AS up \
             FROM silver.users u GROUP BY u.country ORDER BY count(*) DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    let names: Vec<&str> = row.columns().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["count", "max", "country", "?column?", "up"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_get_53300() {
    let dir = tempfile::TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(lake.join("gold")).unwrap();
    let mut config = config(&lake);
    config.max_connections = 1;
    let server = lakegate::server::start(config).await.unwrap();
    let first = connect_to(&server, "lake").await.unwrap();
    let e = connect_to(&server, "lake")
        .await
        .expect_err("second connection refused");
    assert_eq!(code(&e), "53300");
    first.simple_query("SELECT 1").await.unwrap();
    drop(first);
    assert!(
        eventually(Duration::from_secs(2), || async {
            connect_to(&server, "lake").await.is_ok()
        })
        .await,
        "a slot frees up when a client leaves"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_declare_fetch_close() {
    let t = demo_server().await;
    let c = t.connect().await;
    c.batch_execute("BEGIN; DECLARE cur CURSOR WITH HOLD FOR SELECT title_id FROM silver.titles ORDER BY title_id")
        .await
        .unwrap();
    let ids = |msgs: Vec<SimpleQueryMessage>| -> Vec<String> {
        msgs.iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap().to_string()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        ids(c.simple_query("FETCH 2 FROM cur").await.unwrap()),
        ["1", "2"]
    );
    assert_eq!(
        ids(c.simple_query("FETCH FORWARD 3 FROM cur").await.unwrap()),
        ["3", "4", "5"]
    );
    // Extended protocol: Describe of a FETCH gives the cursor's columns.
    let rows = c.query("FETCH 2 FROM cur", &[]).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.get::<_, i32>(0)).collect::<Vec<_>>(),
        vec![6, 7]
    );
    let rest = ids(c.simple_query("FETCH ALL FROM cur").await.unwrap());
    assert_eq!(rest.len(), 60 - 7);
    assert!(ids(c.simple_query("FETCH 5 FROM cur").await.unwrap()).is_empty());
    c.batch_execute("CLOSE cur").await.unwrap();
    let e = c.simple_query("FETCH 1 FROM cur").await.unwrap_err();
    assert_eq!(code(&e), "34000");
    c.batch_execute("ROLLBACK").await.unwrap();
    // A cursor does not outlive a transaction that failed (psql's FETCH_COUNT after an error).
    c.batch_execute("BEGIN; DECLARE _psql_cursor NO SCROLL CURSOR FOR SELECT 1")
        .await
        .unwrap();
    let _ = c.simple_query("SELECT * FROM nope").await.unwrap_err();
    c.batch_execute("ROLLBACK").await.unwrap();
    c.batch_execute("BEGIN; DECLARE _psql_cursor NO SCROLL CURSOR FOR SELECT 1; COMMIT")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn like_escape_characters_other_than_backslash() {
    let t = demo_server().await;
    let c = t.connect().await;
    let n = |sql: &'static str| {
        let c = &c;
        async move { simple_row(c, sql).await[0].clone().unwrap() }
    };
    // SQLAlchemy's autoescape: '/' escapes '%', '_' and itself.
    assert_eq!(
        n("SELECT count(*) FROM silver.users WHERE email LIKE 'user1/_%' ESCAPE '/'").await,
        "0"
    );
    assert_eq!(
        n("SELECT CAST('1/2' LIKE '%1//2%' ESCAPE '/' AS TEXT)").await,
        "true"
    );
    assert_eq!(
        n("SELECT CAST('1\\2' LIKE '%1//2%' ESCAPE '/' AS TEXT)").await,
        "false"
    );
    assert_eq!(
        n("SELECT CAST('a_b' LIKE 'a!_b' ESCAPE '!' AS TEXT)").await,
        "true"
    );
    assert_eq!(
        n("SELECT CAST('axb' LIKE 'a!_b' ESCAPE '!' AS TEXT)").await,
        "false"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discard_all_and_deallocate_drop_prepared_statements() {
    let t = demo_server().await;
    let c = t.connect().await;
    let one = c.prepare("SELECT 1::int4").await.unwrap();
    let two = c.prepare("SELECT 2::int4").await.unwrap();
    assert_eq!(c.query_one(&one, &[]).await.unwrap().get::<_, i32>(0), 1);
    // DEALLOCATE ALL drops every statement of this connection.
    c.batch_execute("DEALLOCATE ALL").await.unwrap();
    assert_eq!(code(&c.query_one(&one, &[]).await.unwrap_err()), "26000");
    assert_eq!(code(&c.query_one(&two, &[]).await.unwrap_err()), "26000");
    let two = c.prepare("SELECT 2::int4").await.unwrap();
    assert_eq!(c.query_one(&two, &[]).await.unwrap().get::<_, i32>(0), 2);
    // DISCARD ALL (what poolers and Npgsql send on connection reset) drops the rest.
    c.batch_execute("DISCARD ALL").await.unwrap();
    assert_eq!(code(&c.query_one(&two, &[]).await.unwrap_err()), "26000");
    // The connection goes on: new statements prepare and run.
    let three = c.prepare("SELECT 3::int4").await.unwrap();
    assert_eq!(c.query_one(&three, &[]).await.unwrap().get::<_, i32>(0), 3);
}

/// libpq's `options` (PGOPTIONS) and GUC-named startup parameters set session defaults, so
/// `options='-c search_path=gold'` lets unqualified names resolve, as in Postgres.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_options_set_session_defaults() {
    let t = demo_server().await;
    let url = format!(
        "{} options='-c search_path=gold,silver --application-name=bench -c no_such_setting=1'",
        t.url("lake")
    );
    let (c, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(conn);
    assert_eq!(
        simple_row(&c, "SHOW search_path").await,
        vec![Some("gold,silver".into())]
    );
    assert_eq!(
        simple_row(&c, "SHOW application_name").await,
        vec![Some("bench".into())]
    );
    // Unqualified names now resolve in gold (the first schema of the path).
    let n = simple_row(&c, "SELECT count(*) FROM daily_watch_time").await;
    let direct = simple_row(
        &t.connect().await,
        "SELECT count(*) FROM gold.daily_watch_time",
    )
    .await;
    assert_eq!(n, direct);
    // Without options the default path does not find it.
    let plain = t.connect().await;
    assert_eq!(
        code(
            &plain
                .simple_query("SELECT count(*) FROM daily_watch_time")
                .await
                .unwrap_err()
        ),
        "42P01"
    );
}

/// information_schema's constraint and routine tables (DBeaver, Metabase, harlequin read them):
/// empty for a lake, with exactly the columns PostgreSQL 15 has (captured from a real one:
/// `SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns
/// WHERE table_schema = 'information_schema' AND table_name = ...`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn information_schema_constraint_and_routine_tables_have_postgres_columns() {
    let server = demo_server().await;
    let client = server.connect().await;
    for (table, columns) in [
        (
            "key_column_usage",
            "constraint_catalog,constraint_schema,constraint_name,table_catalog,table_schema,table_name,column_name,ordinal_position,position_in_unique_constraint",
        ),
        (
            "parameters",
            "specific_catalog,specific_schema,specific_name,ordinal_position,parameter_mode,is_result,as_locator,parameter_name,data_type,character_maximum_length,character_octet_length,character_set_catalog,character_set_schema,character_set_name,collation_catalog,collation_schema,collation_name,numeric_precision,numeric_precision_radix,numeric_scale,datetime_precision,interval_type,interval_precision,udt_catalog,udt_schema,udt_name,scope_catalog,scope_schema,scope_name,maximum_cardinality,dtd_identifier,parameter_default",
        ),
        (
            "referential_constraints",
            "constraint_catalog,constraint_schema,constraint_name,unique_constraint_catalog,unique_constraint_schema,unique_constraint_name,match_option,update_rule,delete_rule",
        ),
        (
            "routines",
            "specific_catalog,specific_schema,specific_name,routine_catalog,routine_schema,routine_name,routine_type,module_catalog,module_schema,module_name,udt_catalog,udt_schema,udt_name,data_type,character_maximum_length,character_octet_length,character_set_catalog,character_set_schema,character_set_name,collation_catalog,collation_schema,collation_name,numeric_precision,numeric_precision_radix,numeric_scale,datetime_precision,interval_type,interval_precision,type_udt_catalog,type_udt_schema,type_udt_name,scope_catalog,scope_schema,scope_name,maximum_cardinality,dtd_identifier,routine_body,routine_definition,external_name,external_language,parameter_style,is_deterministic,sql_data_access,is_null_call,sql_path,schema_level_routine,max_dynamic_result_sets,is_user_defined_cast,is_implicitly_invocable,security_type,to_sql_specific_catalog,to_sql_specific_schema,to_sql_specific_name,as_locator,created,last_altered,new_savepoint_level,is_udt_dependent,result_cast_from_data_type,result_cast_as_locator,result_cast_char_max_length,result_cast_char_octet_length,result_cast_char_set_catalog,result_cast_char_set_schema,result_cast_char_set_name,result_cast_collation_catalog,result_cast_collation_schema,result_cast_collation_name,result_cast_numeric_precision,result_cast_numeric_precision_radix,result_cast_numeric_scale,result_cast_datetime_precision,result_cast_interval_type,result_cast_interval_precision,result_cast_type_udt_catalog,result_cast_type_udt_schema,result_cast_type_udt_name,result_cast_scope_catalog,result_cast_scope_schema,result_cast_scope_name,result_cast_maximum_cardinality,result_cast_dtd_identifier",
        ),
        (
            "table_constraints",
            "constraint_catalog,constraint_schema,constraint_name,table_catalog,table_schema,table_name,constraint_type,is_deferrable,initially_deferred,enforced,nulls_distinct",
        ),
    ] {
        let sql = format!("SELECT * FROM information_schema.{table}");
        let stmt = client
            .prepare(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let names: Vec<&str> = stmt.columns().iter().map(|c| c.name()).collect();
        assert_eq!(names.join(","), columns, "{table}");
        assert_eq!(client.query(&stmt, &[]).await.unwrap().len(), 0, "{table}");
    }
}
