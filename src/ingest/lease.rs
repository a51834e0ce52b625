//! One writer per lake: a lease file in `<lake>/_lakegate/ingest.lease` holding the writer's
//! host, pid and heartbeat. A lease is taken over at once when its holder is provably gone
//! (same host, no such process) and otherwise when its heartbeat is older than the TTL.
//!
//! On local disk the file is created exclusively and rewritten by rename; in an object store
//! it is created with a conditional put (`PutMode::Create`) and every heartbeat or takeover is
//! a put conditional on the ETag read (`PutMode::Update`), so two writers never both win.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutMode, PutPayload, UpdateVersion};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{IngestError, LakePath};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeaseInfo {
    pub host: String,
    pub pid: u32,
    pub token: String,
    /// Seconds since the Unix epoch.
    pub heartbeat: u64,
}

pub struct Lease {
    at: At,
    info: LeaseInfo,
    stop: CancellationToken,
    /// Set by the heartbeat when another writer took the lease over.
    lost: Arc<std::sync::atomic::AtomicBool>,
}

enum At {
    Local(PathBuf),
    Remote {
        store: Arc<dyn ObjectStore>,
        path: ObjectPath,
    },
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
    pub async fn acquire(
        lake: impl Into<LakePath>,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Lease, IngestError> {
        let lake: LakePath = lake.into();
        match lake.local_path() {
            Some(dir) => Lease::acquire_local(&dir, ttl, wait).await,
            None => Lease::acquire_remote(&lake, ttl, wait).await,
        }
    }

    async fn acquire_local(
        lake: &Path,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Lease, IngestError> {
        let dir = lake.join("_lakegate");
        std::fs::create_dir_all(&dir).map_err(|e| IngestError::Io {
            path: dir.clone(),
            source: e,
        })?;
        let path = dir.join("ingest.lease");
        let info = new_info();
        let started = std::time::Instant::now();
        loop {
            match write_new(&path, &info) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = read(&path);
                    if is_stale(holder.as_ref(), &info, ttl) {
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    if started.elapsed() >= wait {
                        return Err(held_by(holder.as_ref(), &path.display().to_string()));
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
        let lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let lease = Lease {
            at: At::Local(path.clone()),
            info: info.clone(),
            stop: stop.clone(),
            lost: lost.clone(),
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
                        lost.store(true, std::sync::atomic::Ordering::SeqCst);
                        break;
                    }
                }
            }
        });
        Ok(lease)
    }

    async fn acquire_remote(
        lake: &LakePath,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Lease, IngestError> {
        let store = lake.store().clone();
        let path = lake.join("_lakegate").file("ingest.lease");
        let where_ = format!("{}_lakegate/ingest.lease", lake);
        let fail = |e: object_store::Error| IngestError::Store {
            at: where_.clone(),
            source: e,
        };
        let info = new_info();
        let body =
            |i: &LeaseInfo| PutPayload::from(serde_json::to_vec(i).expect("lease serializes"));
        let started = std::time::Instant::now();
        let beat = (ttl / 3).max(Duration::from_secs(1));
        // A record another host's clock calls expired, and when we first saw it (our clock).
        let mut suspect: Option<(Option<String>, std::time::Instant)> = None;
        let version = loop {
            match store
                .put_opts(&path, body(&info), PutMode::Create.into())
                .await
            {
                Ok(r) => {
                    break UpdateVersion {
                        e_tag: r.e_tag,
                        version: r.version,
                    };
                }
                Err(object_store::Error::AlreadyExists { .. }) => {}
                Err(e) => return Err(fail(e)),
            }
            let current = match store.get(&path).await {
                Ok(g) => {
                    let meta = g.meta.clone();
                    let bytes = g.bytes().await.map_err(fail)?;
                    (meta, serde_json::from_slice::<LeaseInfo>(&bytes).ok())
                }
                // Released in between: try to create it again.
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(fail(e)),
            };
            let (meta, holder) = current;
            // Our own record: a create the store retried after it had succeeded.
            if holder.as_ref().is_some_and(|h| h.token == info.token) {
                break UpdateVersion {
                    e_tag: meta.e_tag,
                    version: meta.version,
                };
            }
            let mut take = holder.is_none() || gone_here(holder.as_ref(), &info);
            if !take && expired(holder.as_ref(), ttl) {
                // Clocks of two hosts may differ: take over only once the record has also stood
                // still for longer than a heartbeat period by our own clock.
                match &suspect {
                    Some((etag, since)) if *etag == meta.e_tag => {
                        if since.elapsed() > beat + Duration::from_secs(1) {
                            take = true;
                        } else {
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            continue;
                        }
                    }
                    _ => {
                        suspect = Some((meta.e_tag.clone(), std::time::Instant::now()));
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                }
            }
            if take {
                let expected = UpdateVersion {
                    e_tag: meta.e_tag,
                    version: meta.version,
                };
                match store
                    .put_opts(&path, body(&info), PutMode::Update(expected).into())
                    .await
                {
                    Ok(r) => {
                        break UpdateVersion {
                            e_tag: r.e_tag,
                            version: r.version,
                        };
                    }
                    // Someone else took it over first: look again.
                    Err(object_store::Error::Precondition { .. }) => continue,
                    Err(e) => return Err(fail(e)),
                }
            }
            if started.elapsed() >= wait {
                return Err(held_by(holder.as_ref(), &where_));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        crate::metrics::metrics().ingest_lease_held.set(1);
        let stop = CancellationToken::new();
        let lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
        {
            let (store, path, info, stop, lost) = (
                store.clone(),
                path.clone(),
                info.clone(),
                stop.clone(),
                lost.clone(),
            );
            tokio::spawn(async move {
                let mut version = version;
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(beat) => {}
                    }
                    let mut next = info.clone();
                    next.heartbeat = now();
                    let payload =
                        PutPayload::from(serde_json::to_vec(&next).expect("lease serializes"));
                    match store
                        .put_opts(&path, payload, PutMode::Update(version.clone()).into())
                        .await
                    {
                        Ok(r) => {
                            version = UpdateVersion {
                                e_tag: r.e_tag,
                                version: r.version,
                            }
                        }
                        Err(object_store::Error::Precondition { .. })
                        | Err(object_store::Error::NotFound { .. }) => {
                            warn!("the ingest lease was taken over by another writer");
                            lost.store(true, std::sync::atomic::Ordering::SeqCst);
                            break;
                        }
                        Err(e) => warn!(error = %e, "ingest lease heartbeat failed"),
                    }
                }
            });
        }
        Ok(Lease {
            at: At::Remote { store, path },
            info,
            stop,
            lost,
        })
    }

    pub fn holder(&self) -> &LeaseInfo {
        &self.info
    }

    /// Whether another writer took the lease over (this writer must stop writing).
    pub fn is_lost(&self) -> bool {
        self.lost.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Lets go of the lease now (Drop does too, but cannot wait for an object store).
    pub async fn release(self) {
        self.stop.cancel();
        if let At::Remote { store, path } = &self.at {
            release_remote(store.clone(), path.clone(), self.info.token.clone()).await;
        }
    }
}

/// This writer's lease record; the token is unique per acquisition (two leases taken in one
/// process and second must differ).
fn new_info() -> LeaseInfo {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    LeaseInfo {
        host: hostname(),
        pid: std::process::id(),
        token: format!(
            "{:x}-{:x}-{:x}",
            nanos,
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ),
        heartbeat: now(),
    }
}

/// Whether the lease `holder` may be taken over by `me` (local leases: one host, one clock).
fn is_stale(holder: Option<&LeaseInfo>, me: &LeaseInfo, ttl: Duration) -> bool {
    holder.is_none() || gone_here(holder, me) || expired(holder, ttl)
}

/// The holder ran on this host and its process is gone.
fn gone_here(holder: Option<&LeaseInfo>, me: &LeaseInfo) -> bool {
    let gone = holder.is_some_and(|h| h.host == me.host && !alive(h.pid));
    if let (true, Some(h)) = (gone, holder) {
        info!(
            pid = h.pid,
            "taking over the ingest lease of a process that is gone"
        );
    }
    gone
}

/// The holder's last heartbeat is older than the TTL by this host's clock.
fn expired(holder: Option<&LeaseInfo>, ttl: Duration) -> bool {
    let old = holder.is_some_and(|h| now().saturating_sub(h.heartbeat) > ttl.as_secs());
    if let (true, Some(h)) = (old, holder) {
        warn!(host = %h.host, pid = h.pid, "the ingest lease's heartbeat is older than the TTL");
    }
    old
}

fn held_by(holder: Option<&LeaseInfo>, at: &str) -> IngestError {
    match holder {
        Some(h) => IngestError::Leased(format!(
            "the lake is being ingested by pid {} on {} (lease {at}, heartbeat {} s ago); \
             only one writer runs per lake",
            h.pid,
            h.host,
            now().saturating_sub(h.heartbeat)
        )),
        None => IngestError::Leased(format!("the lake's ingest lease {at} is held")),
    }
}

async fn release_remote(store: Arc<dyn ObjectStore>, path: ObjectPath, token: String) {
    let ours = match store.get(&path).await {
        Ok(g) => g
            .bytes()
            .await
            .ok()
            .and_then(|b| serde_json::from_slice::<LeaseInfo>(&b).ok())
            .is_some_and(|h| h.token == token),
        Err(_) => false,
    };
    if ours {
        let _ = store.delete(&path).await;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.stop.cancel();
        crate::metrics::metrics().ingest_lease_held.set(0);
        match &self.at {
            At::Local(path) => {
                if read(path).is_some_and(|h| h.token == self.info.token) {
                    let _ = std::fs::remove_file(path);
                }
            }
            At::Remote { store, path } => {
                // Best effort; `release` is the way to wait for it.
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn(release_remote(
                        store.clone(),
                        path.clone(),
                        self.info.token.clone(),
                    ));
                }
            }
        }
    }
}
