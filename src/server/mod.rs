//! Server lifecycle: load the lake, bind the listeners, keep the catalog fresh, shut down
//! cleanly; what follows an ingestion pass ([`AfterPass`]); the one-shot commands.
//!
//! [`start`] returns a [`RunningServer`] bound to a real socket (tests use `127.0.0.1:0`);
//! [`serve`] runs one until a signal arrives and returns after the grace period.

mod after_pass;
mod cron;
mod open;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use after_pass::AfterPass;
use after_pass::register_ingest_logs;
pub use cron::{IngestOptions, check, check_freshness, import, ingest};

use crate::catalog::LakeCatalog;
use crate::config::Config;
use crate::views::ViewRegistry;
use crate::views::history::ViewHistory;
use crate::{Error, Result};

/// A server running in the background of the current runtime.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub catalog: Arc<LakeCatalog>,
    /// The views layer, when a views folder is configured.
    pub views: Option<Arc<ViewRegistry>>,
    /// Where `/health`, `/ready` and `/metrics` are served, when `http.listen` is set.
    pub http_addr: Option<SocketAddr>,
    /// Where Flight SQL is served, when `flight.listen` is set.
    pub flight_addr: Option<SocketAddr>,
    views_task: Option<tokio::task::JoinHandle<()>>,
    shutdown: CancellationToken,
    listener: tokio::task::JoinHandle<()>,
    refresher: tokio::task::JoinHandle<()>,
    watch: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// Stops accepting, lets open connections finish (bounded by `shutdown_timeout`).
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.listener.await;
        let _ = self.refresher.await;
        let _ = self.watch.await;
        if let Some(t) = self.views_task {
            let _ = t.await;
        }
    }
}

pub async fn start(config: Config) -> Result<RunningServer> {
    let security = Arc::new(crate::auth::Security::from_config(&config)?);
    let addrs = listen_checked(&config, security.trust())?;
    let tls = match &config.tls {
        Some(t) => crate::wire::tls::TlsSetup::from_config(t)?,
        None => None,
    };
    let root = open::lake_root(&config, "pass --lake ROOT or set `lake:` in the config")?;
    if let Some(p) = root.local_path()
        && !p.is_dir()
    {
        return Err(Error::NotADirectory(p));
    }
    let (catalog, engine) = open::catalog_and_engine(&config, &root).await?;
    engine.enable_result_cache(config.cache.results);
    let shutdown = CancellationToken::new();
    let (views, views_task) = serve_views(&config, &engine, &root, &shutdown).await?;
    let listener = TcpListener::bind(addrs.as_slice())
        .await
        .map_err(|e| listen_error("listen", &config.listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| listen_error("listen", &config.listen, e))?;
    let refresher = catalog.spawn_refresher(config.refresh_interval, shutdown.clone());
    spawn_memory_trim(shutdown.clone());
    let state_lake = crate::ingest::LakePath::open(&root).ok();
    let alerts = crate::alerts::Alerts::from_config(&config, state_lake.clone()).await?;
    if let Some(a) = &alerts {
        // With ingestion, only the lease holder speaks (replicas would repeat each other).
        a.set_sending(config.sources.is_empty()).await;
    }
    let watch = crate::freshness::Watch::new(
        engine.clone(),
        views.clone(),
        state_lake,
        &config,
        alerts.clone(),
    );
    watch.refresh().await;
    let watch_task = watch.spawn(shutdown.clone());
    let kafka = Arc::new(crate::ingest::sources::kafka::KafkaPositions::default());
    if !config.sources.is_empty() {
        let lake = crate::ingest::LakePath::open(&root)?;
        register_ingest_logs(&lake, &engine).await;
        let ingestor = Arc::new(
            crate::ingest::Ingestor::new(lake.clone(), config.clone())
                .with_alerts(alerts.clone())
                .with_kafka_positions(kafka.clone()),
        );
        let follow = Arc::new(AfterPass::new(
            catalog.clone(),
            engine.clone(),
            views.clone(),
            lake,
            config.clone(),
            watch.clone(),
        ));
        tokio::spawn(crate::ingest::run_loop(
            ingestor,
            shutdown.clone(),
            move |report| {
                let follow = follow.clone();
                let report = report.clone();
                tokio::spawn(async move { follow.run(&report).await });
            },
        ));
    }
    let activity = crate::engine::activity::Activity::new(config.limits.slow_query);
    register_activity_tables(&engine, &activity);
    let registry = Arc::new(crate::wire::CancelRegistry::default());
    let doors = Arc::new(crate::doors::Doors {
        engine: engine.clone(),
        security: security.clone(),
        activity: activity.clone(),
        registry: registry.clone(),
    });
    let listener = tokio::spawn(crate::wire::run_listener(
        listener,
        engine,
        crate::wire::ListenerOptions {
            max_connections: config.max_connections,
            grace: config.shutdown_timeout,
            startup_timeout: config.limits.startup_timeout,
            idle_timeout: config.limits.idle_session_timeout,
            shared: Arc::new(crate::wire::Shared {
                registry: registry.clone(),
                security: security.clone(),
                tls,
                activity: activity.clone(),
            }),
        },
        shutdown.clone(),
    ));
    let http_addr = match &config.http {
        Some(h) => Some(
            crate::http::start(
                &h.listen,
                Arc::new(crate::http::ReadyState {
                    doors: doors.clone(),
                    max_rows: h.max_rows,
                    catalog: catalog.clone(),
                    views: views.clone(),
                    security: security.clone(),
                    activity: activity.clone(),
                    registry: registry.clone(),
                    database: config.database.clone(),
                    freshness: watch.clone(),
                    kafka: kafka.clone(),
                    samples: Default::default(),
                }),
                shutdown.clone(),
            )
            .await
            .map_err(|e| listen_error("http.listen", &h.listen, e))?,
        ),
        None => None,
    };
    if let (Some(a), Some(bound), Some(h)) = (&alerts, http_addr, &config.http) {
        a.set_bound(bound, h.public_url.as_deref());
    }
    let flight_addr = match &config.flight {
        Some(f) => Some(
            crate::flight::start(
                &f.listen,
                doors.clone(),
                flight_tls(&config)?,
                shutdown.clone(),
            )
            .await
            .map_err(|e| listen_error("flight.listen", &f.listen, e))?,
        ),
        None => None,
    };
    info!(%addr, database = %config.database, "serving the lake over the Postgres protocol");
    Ok(RunningServer {
        addr,
        http_addr,
        flight_addr,
        catalog,
        views,
        views_task,
        shutdown,
        listener,
        refresher,
        watch: watch_task,
    })
}

fn listen_error(key: &'static str, addr: &str, e: impl std::fmt::Display) -> Error {
    Error::Listen {
        key,
        addr: addr.to_string(),
        message: e.to_string(),
    }
}

/// The Postgres port's addresses, after checking every listener: trust mode answers anyone
/// who connects, so each (the Postgres port, the status page that shows tables and running
/// SQL, Flight SQL) stays on loopback.
fn listen_checked(config: &Config, trust: bool) -> Result<Vec<SocketAddr>> {
    use std::net::ToSocketAddrs;
    let addrs = config
        .listen_addrs()
        .map_err(|message| listen_error("listen", &config.listen, message))?;
    let mut listeners = vec![("listen", addrs.clone())];
    for (key, listen) in [
        ("http.listen", config.http.as_ref().map(|h| &h.listen)),
        ("flight.listen", config.flight.as_ref().map(|f| &f.listen)),
    ] {
        if let Some(listen) = listen {
            let resolved = listen
                .to_socket_addrs()
                .map_err(|e| listen_error(key, listen, e))?;
            listeners.push((key, resolved.collect()));
        }
    }
    if trust {
        for (key, addrs) in &listeners {
            if let Some(a) = addrs.iter().find(|a| !a.ip().is_loopback()) {
                return Err(Error::Exposed { key, addr: *a });
            }
        }
    }
    Ok(addrs)
}

/// Flight SQL uses the Postgres port's certificate, when there is one.
fn flight_tls(config: &Config) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|source| Error::Io {
            path: p.to_path_buf(),
            source,
        })
    };
    Ok(match &config.tls {
        Some(t) if t.mode != crate::config::TlsMode::Disable => match (&t.cert, &t.key) {
            (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
            _ => None,
        },
        _ => None,
    })
}

/// The views served, with their watcher (reloads, history) and the git poller running.
async fn serve_views(
    config: &Config,
    engine: &Arc<crate::engine::Engine>,
    root: &crate::storage::LakeUrl,
    shutdown: &CancellationToken,
) -> Result<(
    Option<Arc<ViewRegistry>>,
    Option<tokio::task::JoinHandle<()>>,
)> {
    let (Some(registry), git) = open::views(config, engine).await? else {
        return Ok((None, None));
    };
    let history = match ViewHistory::open(root, engine.system_schema()).await {
        Ok(h) => {
            if let Err(e) = h.record(&registry.served_files()).await {
                warn!(error = %e, "failed to record view history");
            }
            Some(h)
        }
        Err(e) => {
            warn!(error = %e, "view history unavailable");
            None
        }
    };
    let task = registry.spawn_watcher(history, shutdown.clone());
    if let Some(src) = git {
        src.spawn_poller(registry.clone(), shutdown.clone());
    }
    Ok((Some(registry), Some(task)))
}

/// `lakegate.queries` (running now) and `lakegate.query_log` (recent, finished).
fn register_activity_tables(
    engine: &crate::engine::Engine,
    activity: &Arc<crate::engine::activity::Activity>,
) {
    use crate::engine::activity::ActivityTable;
    use crate::engine::pg_catalog::Computed;
    use datafusion::catalog::SchemaProvider;
    let system = engine.system_schema();
    for (name, log) in [("queries", false), ("query_log", true)] {
        let _ = system.register_table(
            name.to_string(),
            Arc::new(Computed(ActivityTable {
                activity: activity.clone(),
                log,
            })),
        );
    }
}

/// Runs until `signal` completes, then shuts down gracefully.
pub async fn serve(config: Config, signal: impl Future<Output = ()>) -> Result<()> {
    let database = config.database.clone();
    let server = start(config).await?;
    println!(
        "lakegate is serving {} on {}\nconnect with: psql -h {} -p {} -U {} {}",
        server.catalog.root(),
        server.addr,
        server.addr.ip(),
        server.addr.port(),
        std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "demo".into()),
        database
    );
    signal.await;
    info!("shutting down: no new connections, waiting for running queries");
    server.stop().await;
    info!("stopped");
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// glibc keeps freed memory in its per-thread arenas; after a burst of large queries the
/// process would keep hundreds of MiB it no longer uses. Handing it back every few seconds
/// keeps RSS near what is really in use (see examples/soak.rs).
fn spawn_memory_trim(shutdown: CancellationToken) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tokio::spawn(async move {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
            }
            // SAFETY: malloc_trim only releases free heap pages; it takes no pointers.
            let _ = tokio::task::spawn_blocking(|| unsafe { malloc_trim(0) }).await;
        }
    });
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = shutdown;
}
