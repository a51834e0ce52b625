//! The lake as source of truth: tables written by other engines, and live refresh.

use std::time::Duration;

use deltalake::protocol::SaveMode;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_written_by_spark_and_databricks_read_correctly() {
    let t = empty_server(&["silver"]).await;
    let fixtures = [
        ("table-with-dv-small", 8),
        ("table_with_deletion_logs", 98),
        ("table_with_column_mapping", 5),
        ("checkpoint-v2-table", 44),
        ("table_with_liquid_clustering", 10),
        ("cdf-table", 9),
        ("delta-2.2.0-partitioned-types", 3),
        ("simple_table", 3),
        ("table_with_edge_timestamps", -1),
    ];
    for (name, _) in fixtures {
        copy_dir(
            &fixture(name),
            &t.lake.join("silver").join(name.replace(['-', '.'], "_")),
        );
    }
    t.server.catalog.refresh().await.unwrap();
    let c = t.connect().await;
    for (name, rows) in fixtures {
        let table = format!("silver.{}", name.replace(['-', '.'], "_"));
        let n: i64 = c
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap_or_else(|e| panic!("{table}: {e:?}"))
            .get(0);
        if rows >= 0 {
            assert_eq!(n, rows, "{table}");
        }
        // Every column of every row encodes in both formats.
        c.query(&format!("SELECT * FROM {table}"), &[])
            .await
            .unwrap_or_else(|e| panic!("{table}: {e:?}"));
        c.simple_query(&format!("SELECT * FROM {table}"))
            .await
            .unwrap_or_else(|e| panic!("{table}: {e:?}"));
    }
    // Column mapping: logical names with spaces and capitals.
    let rows = c
        .simple_query(
            "SELECT \"Company Very Short\", \"Super Name\" FROM silver.table_with_column_mapping",
        )
        .await
        .unwrap();
    assert!(rows.len() >= 5);
    // Timestamps far outside the nanosecond range come back exact (INT96 read as microseconds).
    let msgs = c
        .simple_query("SELECT * FROM silver.table_with_edge_timestamps")
        .await
        .unwrap();
    let text: Vec<String> = msgs
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("NULL").to_string())
                    .collect::<Vec<_>>()
                    .join("|"),
            ),
            _ => None,
        })
        .collect();
    let all = text.join("\n");
    assert!(all.contains("9999-12-31"), "edge timestamps: {all}");
    assert!(!all.contains("1816-"), "INT96 overflowed: {all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_tables_commits_and_deletions_show_up_without_restart() {
    let t = empty_server(&["bronze", "gold"]).await;
    let c = t.connect().await;
    let e = c
        .simple_query("SELECT count(*) FROM gold.items")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "42P01");

    let path = t.lake.join("gold/items");
    write_delta(&path, id_batch(0..10), SaveMode::Overwrite).await;
    let count = || async {
        match c.query_one("SELECT count(*) FROM gold.items", &[]).await {
            Ok(r) => r.get::<_, i64>(0),
            Err(_) => -1,
        }
    };
    assert!(
        eventually(Duration::from_secs(2), || async { count().await == 10 }).await,
        "new table within 2 s"
    );

    // A running query keeps its snapshot while a commit lands.
    let mut c2 = t.connect().await;
    let tx = c2.transaction().await.unwrap();
    let portal = tx.bind("SELECT id FROM gold.items", &[]).await.unwrap();
    let first = tx.query_portal(&portal, 2).await.unwrap();
    let prepared = c.prepare("SELECT count(*) FROM gold.items").await.unwrap();
    assert_eq!(
        c.query_one(&prepared, &[]).await.unwrap().get::<_, i64>(0),
        10
    );
    write_delta(&path, id_batch(10..15), SaveMode::Append).await;
    assert!(
        eventually(Duration::from_secs(2), || async { count().await == 15 }).await,
        "new commit within 2 s"
    );
    // A statement prepared before the commit is planned again and sees it too.
    assert_eq!(
        c.query_one(&prepared, &[]).await.unwrap().get::<_, i64>(0),
        15
    );
    let rest = tx.query_portal(&portal, 0).await.unwrap();
    assert_eq!(
        first.len() + rest.len(),
        10,
        "the open portal still reads its version"
    );
    tx.commit().await.unwrap();

    // Deleted and written again at the same path with fewer versions: the new table is served.
    std::fs::remove_dir_all(&path).unwrap();
    write_delta(&path, id_batch(100..103), SaveMode::Overwrite).await;
    assert!(
        eventually(Duration::from_secs(3), || async { count().await == 3 }).await,
        "a table recreated at the same path is served"
    );

    // A new zone folder becomes a schema.
    write_delta(
        &t.lake.join("silver/things"),
        id_batch(0..3),
        SaveMode::Overwrite,
    )
    .await;
    assert!(
        eventually(Duration::from_secs(2), || async {
            c.query_one("SELECT count(*) FROM silver.things", &[])
                .await
                .map(|r| r.get::<_, i64>(0) == 3)
                .unwrap_or(false)
        })
        .await
    );

    // Delete the folder: the table disappears.
    std::fs::remove_dir_all(&path).unwrap();
    assert!(
        eventually(Duration::from_secs(2), || async { count().await == -1 }).await,
        "deleted table disappears"
    );
    // A broken table never takes the others down.
    std::fs::create_dir_all(t.lake.join("bronze/broken/_delta_log")).unwrap();
    std::fs::write(
        t.lake
            .join("bronze/broken/_delta_log/00000000000000000000.json"),
        "not json",
    )
    .unwrap();
    t.server.catalog.refresh().await.unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM silver.things", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_written_by_delta_rs_python_come_back_exact() {
    // Written by tests/fixtures/make_delta_python.py: partitioned by region and date, appended,
    // deleted from, updated, checkpointed.
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/delta-python");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("expected.json")).unwrap()).unwrap();
    let t = empty_server(&["silver"]).await;
    copy_dir(&src.join("orders"), &t.lake.join("silver/orders"));
    t.server.catalog.refresh().await.unwrap();
    let c = t.connect().await;
    let sql = "SELECT id, region, order_date, amount, qty, price, note, flag, ts, tags FROM silver.orders ORDER BY id";
    let rows = c.query(sql, &[]).await.unwrap();
    let want = expected["rows"].as_array().unwrap();
    assert_eq!(rows.len(), want.len());
    for (row, w) in rows.iter().zip(want) {
        assert_eq!(row.get::<_, i64>(0), w["id"].as_i64().unwrap());
        assert_eq!(row.get::<_, String>(1), w["region"].as_str().unwrap());
        assert_eq!(
            row.get::<_, chrono::NaiveDate>(2).to_string(),
            w["order_date"].as_str().unwrap()
        );
        assert_eq!(row.get::<_, Numeric>(3).0, w["amount"].as_str().unwrap());
        assert_eq!(row.get::<_, i16>(4) as i64, w["qty"].as_i64().unwrap());
        assert_eq!(row.get::<_, f64>(5), w["price"].as_f64().unwrap());
        assert_eq!(
            row.get::<_, Option<String>>(6).as_deref(),
            w["note"].as_str()
        );
        assert_eq!(row.get::<_, bool>(7), w["flag"].as_bool().unwrap());
        let ts: chrono::DateTime<chrono::Utc> = row.get(8);
        assert_eq!(
            ts,
            chrono::DateTime::parse_from_rfc3339(w["ts"].as_str().unwrap()).unwrap()
        );
        let tags: Vec<String> = row.get(9);
        let want_tags: Vec<String> = w["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(tags, want_tags);
    }
    // The same values in text form, as Postgres prints them.
    let first = &want[0];
    let msgs = c.simple_query(&format!("{sql} LIMIT 1")).await.unwrap();
    let row = msgs
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .unwrap();
    assert_eq!(row.get(3), first["amount"].as_str());
    assert_eq!(row.get(8), Some("2024-05-01 00:17:00+00"));
    // Partition pruning still answers correctly.
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM silver.orders WHERE region = 'eu' AND note = 'fixed'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        n as usize,
        want.iter().filter(|w| w["region"] == "eu").count()
    );
    // $partitions: one row per (region, order_date) of the live rows, adding up to the rows
    // and to the files $files lists.
    let row = c
        .query_one(
            "SELECT count(*), sum(record_count), sum(file_count), \
                    (SELECT count(*) FROM silver.\"orders$files\") \
             FROM silver.\"orders$partitions\"",
            &[],
        )
        .await
        .unwrap();
    let partitions: std::collections::BTreeSet<(String, String)> = want
        .iter()
        .map(|w| (w["region"].to_string(), w["order_date"].to_string()))
        .collect();
    assert_eq!(row.get::<_, i64>(0) as usize, partitions.len());
    assert_eq!(row.get::<_, Option<i64>>(1), Some(want.len() as i64));
    assert_eq!(row.get::<_, i64>(2), row.get::<_, i64>(3));
    let one: String = c
        .query_one(
            "SELECT partition_values FROM silver.\"orders$partitions\" ORDER BY 1 LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        one.contains("\"region\"") && one.contains("\"order_date\""),
        "{one}"
    );
}

/// Every time-travel syntax reads the right version of a table Spark wrote over 5 commits
/// (expected rows replayed from its log's add/remove actions with DuckDB), and `$history` /
/// `$files` describe it. Commit times are the commit files' modification times, set here to
/// the commitInfo timestamps Spark recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_travel_reads_each_version_by_number_and_time() {
    let t = empty_server(&["bronze"]).await;
    let table = t.lake.join("bronze/simple_table");
    copy_dir(&fixture("simple_table"), &table);
    // 2020-04-27 06:23:06.154 UTC + the gaps Spark left between its commits.
    let commit_ms = [
        1587968586154i64,
        1587968596254,
        1587968604143,
        1587968614187,
        1587968626537,
    ];
    for (v, ms) in commit_ms.iter().enumerate() {
        let f = std::fs::File::options()
            .write(true)
            .open(table.join(format!("_delta_log/{v:020}.json")))
            .unwrap();
        f.set_modified(std::time::UNIX_EPOCH + Duration::from_millis(*ms as u64))
            .unwrap();
    }
    t.server.catalog.refresh().await.unwrap();
    let c = t.connect().await;
    // (count, sum(id)) per version.
    let expected = [(5, 10), (20, 190), (5, 35), (5, 235), (3, 21)];
    let q = |from: String| format!("SELECT count(*), sum(id) FROM {from}");
    for (v, want) in expected.iter().enumerate() {
        for from in [
            format!("bronze.simple_table FOR VERSION AS OF {v}"),
            format!("bronze.simple_table VERSION AS OF {v}"),
            format!("bronze.\"simple_table@v{v}\""),
        ] {
            let row = c
                .query_one(&q(from.clone()), &[])
                .await
                .unwrap_or_else(|e| panic!("{from}: {e:?}"));
            assert_eq!(
                (row.get::<_, i64>(0), row.get::<_, i64>(1)),
                *want,
                "{from}"
            );
        }
        // Just after commit v (and before v + 1): that version, in every timestamp syntax.
        let at = chrono::DateTime::from_timestamp_millis(commit_ms[v] + 500).unwrap();
        let text = at.format("%Y-%m-%d %H:%M:%S%.3f").to_string();
        for from in [
            format!("bronze.simple_table FOR TIMESTAMP AS OF '{text}'"),
            format!("bronze.simple_table TIMESTAMP AS OF TIMESTAMP '{text}'"),
            format!("bronze.\"simple_table@{}\"", at.format("%Y%m%d%H%M%S%3f")),
        ] {
            let row = c
                .query_one(&q(from.clone()), &[])
                .await
                .unwrap_or_else(|e| panic!("{from}: {e:?}"));
            assert_eq!(
                (row.get::<_, i64>(0), row.get::<_, i64>(1)),
                *want,
                "{from}"
            );
        }
    }
    // In a join, two versions of one table side by side (what changed between 2 and 3).
    let rows = c
        .query(
            "SELECT b.id FROM bronze.simple_table VERSION AS OF 3 b \
             LEFT JOIN bronze.simple_table VERSION AS OF 2 a ON a.id = b.id WHERE a.id IS NULL ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        rows.iter().map(|r| r.get::<_, i64>(0)).collect::<Vec<_>>(),
        vec![106, 108]
    );

    // Errors: a version that does not exist, a time before the first commit, a bad timestamp.
    let e = c
        .query("SELECT * FROM bronze.simple_table VERSION AS OF 9", &[])
        .await
        .unwrap_err();
    assert_eq!(code(&e), "22023", "{e:?}");
    assert!(format!("{e:?}").contains("latest is 4"), "{e:?}");
    let e = c
        .query(
            "SELECT * FROM bronze.simple_table FOR TIMESTAMP AS OF '2001-01-01 00:00:00'",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(code(&e), "22023", "{e:?}");
    let e = c
        .query(
            "SELECT * FROM bronze.simple_table TIMESTAMP AS OF 'soon'",
            &[],
        )
        .await
        .unwrap_err();
    assert!(format!("{e:?}").contains("invalid timestamp"), "{e:?}");

    // $history: one row per commit, newest first, with Spark's operations and parameters.
    let rows = c
        .query(
            "SELECT version, operation, operation_parameters, timestamp \
             FROM bronze.\"simple_table$history\"",
            &[],
        )
        .await
        .unwrap();
    let ops: Vec<(i64, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        ops,
        vec![
            (4, "DELETE".into()),
            (3, "UPDATE".into()),
            (2, "WRITE".into()),
            (1, "MERGE".into()),
            (0, "WRITE".into())
        ]
    );
    assert!(rows[2].get::<_, String>(2).contains("Overwrite"));
    let ts: chrono::DateTime<chrono::Utc> = rows[4].get(3);
    assert_eq!(ts.timestamp_millis(), commit_ms[0]);
    // $files: the 5 data files of the latest version with their sizes (Spark wrote no stats in
    // 2020, so record counts are unknown).
    let row = c
        .query_one(
            "SELECT count(*), sum(num_records), min(size_bytes) > 0 FROM bronze.\"simple_table$files\"",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<_, i64>(0),
            row.get::<_, Option<i64>>(1),
            row.get::<_, bool>(2)
        ),
        (5, None, true)
    );
    // EXPLAIN ANALYZE ends with the query's object-store requests: none on a local lake
    // (tests/it/stores.rs checks the counts against S3 and Azure).
    let rows = c
        .simple_query("EXPLAIN ANALYZE SELECT count(*) FROM bronze.simple_table")
        .await
        .unwrap();
    let last = rows
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                Some((r.get(0).unwrap().to_string(), r.get(1).unwrap().to_string()))
            }
            _ => None,
        })
        .last()
        .unwrap();
    assert_eq!(last, ("Object store requests".into(), "none".into()));
    // Suffixed names are not listed as tables.
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'simple_table%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}

/// `table_changes` serves the change data feed Spark wrote (`_change_data/` files and inserts
/// from add actions), by version range; expected counts replayed from the log with DuckDB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_changes_serves_the_change_data_feed() {
    let t = empty_server(&["silver"]).await;
    copy_dir(&fixture("cdf-table"), &t.lake.join("silver/cdf_table"));
    t.server.catalog.refresh().await.unwrap();
    let c = t.connect().await;
    let rows = c
        .query(
            "SELECT _commit_version, _change_type, count(*) FROM table_changes('silver.cdf_table', 0) \
             GROUP BY 1, 2 ORDER BY 1, 2",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(i64, String, i64)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let want: Vec<(i64, String, i64)> = [
        (0, "insert", 10),
        (1, "update_postimage", 3),
        (1, "update_preimage", 3),
        (2, "update_postimage", 3),
        (2, "update_preimage", 3),
        (3, "delete", 1),
    ]
    .into_iter()
    .map(|(v, k, n)| (v, k.to_string(), n))
    .collect();
    assert_eq!(got, want);
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM table_changes('silver.cdf_table', 1, 2)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 12);
    let e = c
        .query("SELECT * FROM table_changes('silver.nope', 0)", &[])
        .await
        .unwrap_err();
    assert_eq!(code(&e), "42P01", "{e:?}");
    let e = c
        .query("SELECT * FROM table_changes('silver.cdf_table')", &[])
        .await
        .unwrap_err();
    assert!(
        format!("{e:?}").contains("table_changes('zone.table', start"),
        "{e:?}"
    );
}
