//! The ingestion loop of `serve`: a pass every interval, at once when files land, under the
//! lake's lease.

use super::*;

/// The loop `lakegate serve` runs: a pass every `interval`, and at once when files land in a
/// local landing zone. Holds the lake's lease while it runs; `after_pass` is told the
/// outcome (the server refreshes its catalog so new slices are served at once).
pub async fn run_loop(
    ingestor: Arc<Ingestor>,
    shutdown: tokio_util::sync::CancellationToken,
    after_pass: impl Fn(&RunReport) + Send + 'static,
) {
    use notify::Watcher;
    let ttl = ingestor.config.ingest.lease_ttl;
    let interval = ingestor.config.ingest.interval;
    let acquire = || async {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                l = Lease::acquire(&ingestor.lake, ttl, Duration::ZERO) => match l {
                    Ok(l) => return Some(l),
                    Err(e) => {
                        warn!(error = %e, "ingestion waits for the lease");
                        tokio::select! {
                            _ = shutdown.cancelled() => return None,
                            _ = tokio::time::sleep(interval) => {}
                        }
                    }
                }
            }
        }
    };
    let lease_alert = |lost: bool| {
        let alerts = ingestor.alerts.clone();
        async move {
            let Some(a) = alerts else { return };
            if !lost {
                a.set_sending(true).await;
            }
            a.change(
                crate::config::AlertEvent::LeaseLost,
                "ingest lease",
                lost,
                crate::alerts::Details {
                    text: if lost {
                        "this process lost the ingest lease to another writer; it waits to \
                         take it back"
                            .into()
                    } else {
                        "this process holds the ingest lease".into()
                    },
                    ..Default::default()
                },
            )
            .await;
            if lost {
                a.set_sending(false).await;
            }
        }
    };
    let Some(mut lease) = acquire().await else {
        return;
    };
    lease_alert(false).await;
    let wake = Arc::new(tokio::sync::Notify::new());
    // A local landing zone is watched; an object store's is polled every `interval`.
    let _watcher = ingestor.lake.join("landing").local_path().and_then(|landing| {
        let _ = std::fs::create_dir_all(&landing);
        let w2 = wake.clone();
        let watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            // Deliveries create, write and rename; reading the files (our own pass) is no
            // reason for another pass.
            if ev.is_ok_and(|e| !matches!(e.kind, notify::EventKind::Access(_))) {
                w2.notify_one();
            }
        });
        match watcher {
            Ok(mut w) => match w.watch(&landing, notify::RecursiveMode::Recursive) {
                Ok(()) => Some(w),
                Err(e) => {
                    warn!(error = %e, "not watching the landing zone; polling every {interval:?}");
                    None
                }
            },
            Err(_) => None,
        }
    });
    // Kafka sources are read continuously (each pass waits up to `batch.max_wait` for
    // messages); every other source is looked at every `interval` or when files land.
    let streams = ingestor
        .config
        .sources
        .values()
        .any(|s| s.kind() == SourceKind::Kafka);
    let mut last_full: Option<Instant> = None;
    let mut woke = false;
    loop {
        // A writer whose lease was taken over stops writing and queues for it again.
        if lease.is_lost() {
            lease_alert(true).await;
            let Some(l) = acquire().await else {
                return;
            };
            lease = l;
            lease_alert(false).await;
        }
        let full = !streams || woke || last_full.is_none_or(|t| t.elapsed() >= interval);
        if full {
            last_full = Some(Instant::now());
            woke = false;
        }
        let selection = Selection {
            stream_batches: Some(1),
            only_streams: !full,
            ..Default::default()
        };
        let mut failed = false;
        match ingestor.run_once(&selection).await {
            Ok(r) => {
                failed = r.failed() > 0;
                after_pass(&r)
            }
            Err(e) => warn!(error = %e, "ingest pass failed"),
        }
        if streams {
            // A broker that is down is asked again after a pause, not in a tight loop.
            let pause = if failed {
                interval.min(Duration::from_secs(5))
            } else {
                Duration::ZERO
            };
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = wake.notified() => {
                    woke = true;
                }
                _ = tokio::time::sleep(pause) => {}
            }
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(interval) => {}
            _ = wake.notified() => {
                // Let a delivery finish writing its files before reading them.
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
    // Let go now: a lease object left behind would hold a restarted writer off for the TTL.
    lease.release().await;
}
