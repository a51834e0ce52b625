//! One writer per lake: a lease file in `<lake>/_lakegate/ingest.lease` holding the writer's
//! host, pid and heartbeat. A lease is taken over at once when its holder is provably gone
//! (same host, no such process) and otherwise when its heartbeat is older than the TTL.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::IngestError;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeaseInfo {
    pub host: String,
    pub pid: u32,
    pub token: String,
    /// Seconds since the Unix epoch.
    pub heartbeat: u64,
}

pub struct Lease {
    path: PathBuf,
    info: LeaseInfo,
    stop: CancellationToken,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn read(path: &Path) -> Option<LeaseInfo> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn write_new(path: &Path, info: &LeaseInfo) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(
        serde_json::to_string(info)
            .expect("lease serializes")
            .as_bytes(),
    )?;
    f.sync_all()
}

impl Lease {
    /// Takes the lease, waiting up to `wait` for a live holder to let go.
    pub async fn acquire(lake: &Path, ttl: Duration, wait: Duration) -> Result<Lease, IngestError> {
        let dir = lake.join("_lakegate");
        std::fs::create_dir_all(&dir).map_err(|e| IngestError::Io {
            path: dir.clone(),
            source: e,
        })?;
        let path = dir.join("ingest.lease");
        let info = LeaseInfo {
            host: hostname(),
            pid: std::process::id(),
            token: format!("{:x}", now() ^ ((std::process::id() as u64) << 32)),
            heartbeat: now(),
        };
        let started = std::time::Instant::now();
        loop {
            match write_new(&path, &info) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = read(&path);
                    let stale = match &holder {
                        None => true,
                        Some(h) if h.host == info.host && !alive(h.pid) => {
                            info!(
                                pid = h.pid,
                                "taking over the ingest lease of a process that is gone"
                            );
                            true
                        }
                        Some(h) if now().saturating_sub(h.heartbeat) > ttl.as_secs() => {
                            warn!(host = %h.host, pid = h.pid, "taking over an expired ingest lease");
                            true
                        }
                        Some(_) => false,
                    };
                    if stale {
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    if started.elapsed() >= wait {
                        let h = holder.expect("holder read");
                        return Err(IngestError::Leased(format!(
                            "the lake is being ingested by pid {} on {} (lease {}, heartbeat {} s ago); \
                             only one writer runs per lake",
                            h.pid,
                            h.host,
                            path.display(),
                            now().saturating_sub(h.heartbeat)
                        )));
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => {
                    return Err(IngestError::Io {
                        path: path.clone(),
                        source: e,
                    });
                }
            }
        }
        crate::metrics::metrics().ingest_lease_held.set(1);
        let stop = CancellationToken::new();
        let lease = Lease {
            path: path.clone(),
            info: info.clone(),
            stop: stop.clone(),
        };
        // Heartbeat: rewrite the file (atomically) while we hold it.
        let beat = (ttl / 3).max(Duration::from_secs(1));
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(beat) => {}
                }
                match read(&path) {
                    Some(h) if h.token == info.token => {
                        let mut next = info.clone();
                        next.heartbeat = now();
                        let tmp = path.with_extension("lease.tmp");
                        let ok = std::fs::write(
                            &tmp,
                            serde_json::to_string(&next).expect("lease serializes"),
                        )
                        .and_then(|_| std::fs::rename(&tmp, &path));
                        if let Err(e) = ok {
                            warn!(error = %e, "ingest lease heartbeat failed");
                        }
                    }
                    _ => {
                        warn!("the ingest lease was taken over by another writer");
                        break;
                    }
                }
            }
        });
        Ok(lease)
    }

    pub fn holder(&self) -> &LeaseInfo {
        &self.info
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.stop.cancel();
        crate::metrics::metrics().ingest_lease_held.set(0);
        if read(&self.path).is_some_and(|h| h.token == self.info.token) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
