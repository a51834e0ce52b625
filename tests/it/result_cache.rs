//! The result cache: a repeated query is answered from memory while what it reads is
//! unchanged, recomputed after any commit to an input, never for volatile queries, never across
//! users, bounded. Counts come from this server's `lakegate.result_cache` (not the process-wide
//! metrics other tests move).

use std::time::Duration;

use deltalake::protocol::SaveMode;
use tokio_postgres::Client;

use crate::common::*;

/// (hits, misses, stored) so far.
async fn counts(c: &Client) -> (i64, i64, i64) {
    let r = c
        .query_one(
            "SELECT hits, misses, stored FROM lakegate.result_cache",
            &[],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2))
}

async fn two(c: &Client, sql: &str) -> (i64, i64) {
    let r = c.query_one(sql, &[]).await.unwrap();
    (r.get(0), r.get(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_queries_come_from_memory_until_an_input_commits() {
    let t = empty_server(&["gold"]).await;
    let c = t.connect().await;
    let path = t.lake.join("gold/items");
    write_delta(&path, id_batch(0..10), SaveMode::Overwrite).await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            c.query_one("SELECT count(*) FROM gold.items", &[])
                .await
                .is_ok_and(|r| r.get::<_, i64>(0) == 10)
        })
        .await
    );
    let q = "SELECT CAST(sum(id) AS BIGINT), count(*) FROM gold.items WHERE id >= 0";
    let (h, m, s) = counts(&c).await;
    assert_eq!(two(&c, q).await, (45, 10));
    assert_eq!(
        counts(&c).await,
        (h, m + 1, s + 1),
        "first run: computed and kept"
    );
    assert_eq!(two(&c, q).await, (45, 10));
    assert_eq!(
        counts(&c).await,
        (h + 1, m + 1, s + 1),
        "second run: from memory"
    );
    // Under another name (search_path, quoting) it is another statement, computed once.
    c.simple_query("SET search_path = gold").await.unwrap();
    let q2 = "SELECT CAST(sum(id) AS BIGINT), count(*) FROM \"items\" WHERE id >= 0";
    assert_eq!(two(&c, q2).await, (45, 10));
    assert_eq!(two(&c, q2).await, (45, 10));
    assert_eq!(counts(&c).await, (h + 2, m + 2, s + 2));

    // A commit to the table: the next run recomputes and sees it, never the old answer.
    write_delta(&path, id_batch(10..20), SaveMode::Append).await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            c.query_one("SELECT count(*) FROM gold.items WHERE id < 1000", &[])
                .await
                .is_ok_and(|r| r.get::<_, i64>(0) == 20)
        })
        .await
    );
    let (h, m, s) = counts(&c).await;
    assert_eq!(two(&c, q).await, (190, 20));
    assert_eq!(counts(&c).await, (h, m + 1, s + 1));
    assert_eq!(two(&c, q).await, (190, 20));
    assert_eq!(counts(&c).await, (h + 1, m + 1, s + 1));

    // Prepared statements: keyed by their parameter values too.
    let p = c
        .prepare("SELECT count(*) FROM gold.items WHERE id < $1")
        .await
        .unwrap();
    let run = |v: i64| {
        let (c, p) = (&c, &p);
        async move { c.query_one(p, &[&v]).await.unwrap().get::<_, i64>(0) }
    };
    let (h, m, _) = counts(&c).await;
    assert_eq!(run(5).await, 5);
    assert_eq!(run(5).await, 5);
    assert_eq!(run(7).await, 7);
    let (h2, m2, _) = counts(&c).await;
    assert_eq!((h2 - h, m2 - m), (1, 2));

    // Volatile or stable expressions, EXPLAIN, catalog tables: never cached (not even looked up).
    let (h, m, s) = counts(&c).await;
    for sql in [
        "SELECT count(*), now() FROM gold.items",
        "SELECT count(*), random() FROM gold.items",
        "EXPLAIN SELECT count(*) FROM gold.items",
        "SELECT count(*) FROM pg_catalog.pg_class",
    ] {
        c.simple_query(sql).await.unwrap();
        c.simple_query(sql).await.unwrap();
    }
    assert_eq!(counts(&c).await, (h, m, s));
    // EXPLAIN says what the cache would do, without counting.
    let verdict = |sql: String| {
        let c = &c;
        async move {
            c.query(&format!("EXPLAIN {sql}"), &[])
                .await
                .unwrap()
                .iter()
                .find(|r| r.get::<_, String>(0) == "result_cache")
                .map(|r| r.get::<_, String>(1))
        }
    };
    assert_eq!(
        verdict(q.to_string()).await.as_deref(),
        Some("hit: answered from memory")
    );
    assert!(
        verdict(format!("{q} AND id < 5"))
            .await
            .unwrap()
            .starts_with("miss")
    );
    assert!(
        verdict("SELECT count(*), now() FROM gold.items".into())
            .await
            .unwrap()
            .starts_with("not cacheable")
    );
    assert_eq!(counts(&c).await, (h, m, s));
    // Off for the session.
    c.simple_query("SET lakegate.result_cache = off")
        .await
        .unwrap();
    assert_eq!(two(&c, q).await, (190, 20));
    assert_eq!(counts(&c).await, (h, m, s));
    c.simple_query("RESET lakegate.result_cache").await.unwrap();
    assert_eq!(two(&c, q).await, (190, 20));
    assert_eq!(counts(&c).await, (h + 1, m, s));
    // A dropped table is not answered from memory.
    std::fs::remove_dir_all(&path).unwrap();
    assert!(
        eventually(Duration::from_secs(10), || async {
            c.query_one(q, &[]).await.is_err()
        })
        .await,
        "a dropped table is not answered from memory"
    );
    // Written again at the same path, it starts over at version 0 (another table id): its
    // own answer, not the old table's version 0.
    write_delta(&path, id_batch(100..103), SaveMode::Overwrite).await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            c.query_one(q, &[])
                .await
                .is_ok_and(|r| r.get::<_, i64>(1) == 3)
        })
        .await,
        "a recreated table is not answered from the old one's entry"
    );
    assert_eq!(two(&c, q).await, (303, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_larger_than_an_entry_is_not_kept() {
    let dir = tempfile::TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(lake.join("gold")).unwrap();
    write_delta(
        &lake.join("gold/items"),
        id_batch(0..5000),
        SaveMode::Overwrite,
    )
    .await;
    let mut config = config(&lake);
    config.cache.results = 64 << 10; // entries up to 8 KiB
    let server = lakegate::server::start(config).await.unwrap();
    let t = TestServer::from_parts(server, lake, dir.path().join("kept"));
    let c = t.connect().await;
    let (h, m, s) = counts(&c).await;
    for _ in 0..2 {
        assert_eq!(
            c.query("SELECT * FROM gold.items", &[])
                .await
                .unwrap()
                .len(),
            5000
        );
    }
    assert_eq!(
        counts(&c).await,
        (h, m + 2, s),
        "5,000 rows do not fit 8 KiB"
    );
    for _ in 0..2 {
        assert_eq!(
            two(&c, "SELECT count(*), max(id) FROM gold.items").await,
            (5000, 4999)
        );
    }
    assert_eq!(counts(&c).await, (h + 1, m + 3, s + 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_rewritten_at_the_same_version_between_refreshes_is_not_served_stale() {
    let dir = tempfile::TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(lake.join("gold")).unwrap();
    let path = lake.join("gold/items");
    write_delta(&path, id_batch(0..10), SaveMode::Overwrite).await;
    let mut config = config(&lake);
    // Refreshes only when the test says so.
    config.refresh_interval = Duration::from_secs(3600);
    let server = lakegate::server::start(config).await.unwrap();
    let t = TestServer::from_parts(server, lake, dir.path().join("kept"));
    let c = t.connect().await;
    let q = "SELECT CAST(sum(id) AS BIGINT), count(*) FROM gold.items";
    assert_eq!(two(&c, q).await, (45, 10));
    assert_eq!(two(&c, q).await, (45, 10));
    // Deleted and written again between two refreshes: version 0 again.
    std::fs::remove_dir_all(&path).unwrap();
    // A commit file's time has millisecond resolution; make sure the new one differs.
    tokio::time::sleep(Duration::from_millis(20)).await;
    write_delta(&path, id_batch(100..103), SaveMode::Overwrite).await;
    t.server.catalog.refresh().await.unwrap();
    assert_eq!(two(&c, q).await, (303, 3));
}
