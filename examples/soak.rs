//! Soak test: hundreds of concurrent connections against one lakegate process for a bounded
//! time — mixed queries, some canceled, some over the statement timeout, some over the memory
//! limit, connects and disconnects, more clients than `max_connections`. Afterwards the server
//! must answer normally and its RSS must be back near the baseline. Prints the figures and
//! exits non-zero on failure.
//!
//! ```sh
//! cargo build --examples --bin lakegate
//! target/debug/examples/soak --clients 300 --secs 20
//! ```

mod common;
use common::*;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MAX_CONNECTIONS: u64 = 200;

#[tokio::main]
async fn main() -> ExitCode {
    let clients = arg("--clients", 300);
    let secs = arg("--secs", 20);
    let dir = tempfile::TempDir::new().unwrap();
    let lake = lakegate::demo::write_demo_lake(&dir.path().join("lake"), false)
        .await
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("soak.yaml");
    std::fs::write(
        &config,
        format!(
            "lake: {}\nlisten: 127.0.0.1:{port}\nmax_connections: {MAX_CONNECTIONS}\n\
             limits: {{statement_timeout: 2s, query_memory: 32MiB, memory: 512MiB}}\n",
            lake.display()
        ),
    )
    .unwrap();
    let exe: PathBuf = std::env::current_exe().unwrap();
    let server_bin = exe.parent().unwrap().parent().unwrap().join("lakegate");
    let mut server = Command::new(&server_bin)
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", server_bin.display()));
    let pid = server.id();
    let url = format!("host=127.0.0.1 port={port} user=soak dbname=lake");
    let probe = loop {
        if let Ok((c, conn)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
            tokio::spawn(conn);
            break c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Warm up the plans and caches a workload touches, then take the baseline.
    for _ in 0..3 {
        probe
            .simple_query("SELECT count(*) FROM silver.watch_events")
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline = rss_kib(pid, "VmRSS:");
    let peak = Arc::new(AtomicU64::new(baseline));
    let held = Arc::new(AtomicU64::new(0));
    let max_held = Arc::new(AtomicU64::new(0));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(pid, "VmRSS:"), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let outcomes: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let count = |o: &Arc<Mutex<BTreeMap<String, u64>>>, k: String| {
        *o.lock().unwrap().entry(k).or_default() += 1;
    };
    let rounds = arg("--rounds", 1);
    let mut afters = Vec::new();
    let started = Instant::now();
    for _round in 0..rounds {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        for i in 0..clients {
            let url = url.clone();
            let outcomes = outcomes.clone();
            let held = held.clone();
            let max_held = max_held.clone();
            tasks.push(tokio::spawn(async move {
            let mut n = i * 7919;
            while Instant::now() < deadline {
                let (c, conn) = match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
                    Ok(x) => x,
                    Err(e) => {
                        let code = e.code().map(|c| c.code().to_string());
                        count(&outcomes, format!("connect {}", code.unwrap_or("io".into())));
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                let h = held.fetch_add(1, Ordering::Relaxed) + 1;
                max_held.fetch_max(h, Ordering::Relaxed);
                let conn = tokio::spawn(conn);
                // A few statements per connection, then disconnect.
                for _ in 0..(n % 5 + 1) {
                    n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let r = match (n >> 33) % 10 {
                        0..=3 => c
                            .query("SELECT user_id, country FROM silver.users WHERE user_id = $1", &[&((n % 400) as i64)])
                            .await
                            .map(|_| ()),
                        4 | 5 => c
                            .simple_query("SELECT title_id, count(*) FROM silver.watch_events GROUP BY 1 ORDER BY 2 DESC LIMIT 5")
                            .await
                            .map(|_| ()),
                        6 => c.simple_query("SELECT pg_sleep(5)").await.map(|_| ()),
                        7 => c
                            .simple_query("SELECT array_length(array_agg(value), 1) FROM generate_series(1, 6000000)")
                            .await
                            .map(|_| ()),
                        8 => {
                            let token = c.cancel_token();
                            tokio::spawn(async move {
                                tokio::time::sleep(Duration::from_millis(100)).await;
                                let _ = token.cancel_query(tokio_postgres::NoTls).await;
                            });
                            c.simple_query("SELECT pg_sleep(1.5)").await.map(|_| ())
                        }
                        _ => c.simple_query("SELECT * FROM silver.titles").await.map(|_| ()),
                    };
                    let k = match r {
                        Ok(()) => "ok".to_string(),
                        Err(e) => e
                            .code()
                            .map(|c| c.code().to_string())
                            .unwrap_or_else(|| "io".into()),
                    };
                    count(&outcomes, k);
                }
                drop(c);
                let _ = conn.await;
                held.fetch_sub(1, Ordering::Relaxed);
            }
        }));
        }
        for t in tasks {
            let _ = t.await;
        }
        tokio::time::sleep(Duration::from_secs(6)).await;
        afters.push(rss_kib(pid, "VmRSS:") / 1024);
    }
    let elapsed = started.elapsed();
    let after = rss_kib(pid, "VmRSS:");
    sampler.abort();
    let healthy = probe
        .query_one("SELECT count(*) FROM silver.titles", &[])
        .await
        .map(|r| r.get::<_, i64>(0) == 60)
        .unwrap_or(false);
    // What the result cache keeps is memory held on purpose (bounded by `cache.results`).
    let cached: i64 = probe
        .query_one("SELECT bytes FROM lakegate.result_cache", &[])
        .await
        .map(|r| r.get(0))
        .unwrap_or(0);
    println!("result cache: {} KiB held", cached / 1024);
    let outcomes = outcomes.lock().unwrap().clone();
    let total: u64 = outcomes.values().sum();
    println!(
        "soak: {clients} clients for {:.1}s against max_connections {MAX_CONNECTIONS}; \
         at most {} connections held at once",
        elapsed.as_secs_f64(),
        max_held.load(Ordering::Relaxed)
    );
    println!("outcomes ({total}):");
    for (k, v) in &outcomes {
        println!("  {k:>14}: {v}");
    }
    println!(
        "server RSS: baseline {} MiB, peak {} MiB, 6 s after each round {:?} MiB",
        baseline / 1024,
        peak.load(Ordering::Relaxed) / 1024,
        afters
    );
    let _ = server.kill();
    let _ = server.wait();
    let back_near_baseline = after <= baseline + 48 * 1024;
    let every_kind = ["ok", "57014", "53200"]
        .iter()
        .all(|k| outcomes.get(*k).copied().unwrap_or(0) > 0);
    println!(
        "after the soak: answers normally: {healthy}; memory back near baseline (+48 MiB): {back_near_baseline}; \
         saw ok, 57014 and 53200: {every_kind}"
    );
    if healthy && back_near_baseline && every_kind {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
