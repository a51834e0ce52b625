//! Server lifecycle: load the lake, bind the listener, keep the catalog fresh, shut down cleanly.
//!
//! [`start`] returns a [`RunningServer`] bound to a real socket (tests use `127.0.0.1:0`);
//! [`serve`] runs one until a signal arrives and returns after the grace period.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::catalog::LakeCatalog;
use crate::config::{Config, ViewsSource};
use crate::engine::Engine;
use crate::storage::LakeUrl;
use crate::views::ViewRegistry;
use crate::views::gitsource::GitSource;
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

/// The views folder: the configured one, or the git cache after a sync (a failed fetch
/// serves what the cache holds), with the git source to keep polling.
async fn views_dir(config: &Config) -> (Option<std::path::PathBuf>, Option<Arc<GitSource>>) {
    match &config.views {
        Some(ViewsSource::Folder(dir)) => (Some(dir.clone()), None),
        Some(ViewsSource::Git(g)) => {
            let src = Arc::new(GitSource::new(g.clone(), g.cache.as_deref()));
            let s2 = src.clone();
            match tokio::task::spawn_blocking(move || s2.sync()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    warn!(repo = %g.git, error = %e, "views clone/fetch failed; serving what the cache holds")
                }
                Err(e) => warn!(error = %e, "views fetch task failed"),
            }
            (Some(src.views_dir()), Some(src))
        }
        None => (None, None),
    }
}

/// What follows an ingestion pass, in `serve` and in `ingest` alike: the catalog refreshed so
/// new slices are served at once, views over new tables re-planned, the gold models of the
/// affected slices rebuilt, the log tables re-opened.
pub struct AfterPass {
    catalog: Arc<LakeCatalog>,
    engine: Arc<Engine>,
    views: Option<Arc<ViewRegistry>>,
    lake: crate::ingest::LakePath,
    config: Config,
    /// One follow-up at a time.
    one: tokio::sync::Mutex<()>,
    /// The first pass also builds gold models that do not exist yet; later passes that wrote
    /// nothing leave everything as it is (gold's silver-state query scans every silver
    /// table, too much for every idle interval).
    first: std::sync::atomic::AtomicBool,
    /// Freshness after the pass: the board, metrics and alerts.
    watch: Arc<crate::freshness::Watch>,
}

impl AfterPass {
    pub fn new(
        catalog: Arc<LakeCatalog>,
        engine: Arc<Engine>,
        views: Option<Arc<ViewRegistry>>,
        lake: crate::ingest::LakePath,
        config: Config,
        watch: Arc<crate::freshness::Watch>,
    ) -> AfterPass {
        AfterPass {
            catalog,
            engine,
            views,
            lake,
            config,
            one: tokio::sync::Mutex::new(()),
            first: std::sync::atomic::AtomicBool::new(true),
            watch,
        }
    }

    /// Returns the gold models rebuilt, or the error that kept them from being rebuilt.
    pub async fn run(&self, report: &crate::ingest::RunReport) -> Result<Vec<String>> {
        let changed = report.slices.iter().any(|s| s.status == "ok");
        let first = self.first.swap(false, std::sync::atomic::Ordering::Relaxed);
        if !changed && !first && report.slices.is_empty() {
            return Ok(vec![]);
        }
        let _one = self.one.lock().await;
        if changed {
            let _ = self.catalog.refresh().await;
        }
        let mut built = Ok(vec![]);
        if let Some(v) = self.views.as_ref().filter(|_| changed || first) {
            // Views over tables that did not exist before this pass plan only now: re-plan
            // them here rather than wait for the watcher, so their gold models are built in
            // the same follow-up.
            if changed && let Err(e) = v.reload().await {
                warn!(error = %e, "views not reloaded after ingestion");
            }
            built = crate::views::gold::materialize(
                &self.engine,
                &v.served_files(),
                &self.lake,
                &self.config,
            )
            .await
            .map_err(Error::from);
            match &built {
                Ok(m) if !m.is_empty() => {
                    let _ = self.catalog.refresh().await;
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "gold models not refreshed"),
            }
        }
        register_ingest_logs(&self.lake, &self.engine).await;
        self.watch.arm();
        self.watch.refresh().await;
        self.watch.evaluate().await;
        built
    }
}

pub async fn start(config: Config) -> Result<RunningServer> {
    let addrs = config
        .listen_addrs()
        .map_err(|message| Error::Startup(format!("listen: {message}")))?;
    let security = Arc::new(crate::auth::Security::from_config(&config)?);
    // Trust mode answers anyone who connects: every listener (the Postgres port and the
    // status page, which shows tables and running SQL) stays on loopback.
    let mut listeners = vec![("listen", addrs.clone())];
    if let Some(h) = &config.http {
        use std::net::ToSocketAddrs;
        let http: Vec<SocketAddr> = h
            .listen
            .to_socket_addrs()
            .map_err(|e| Error::Startup(format!("http.listen `{}`: {e}", h.listen)))?
            .collect();
        listeners.push(("http.listen", http));
    }
    if let Some(f) = &config.flight {
        use std::net::ToSocketAddrs;
        let flight: Vec<SocketAddr> = f
            .listen
            .to_socket_addrs()
            .map_err(|e| Error::Startup(format!("flight.listen `{}`: {e}", f.listen)))?
            .collect();
        listeners.push(("flight.listen", flight));
    }
    if security.trust() {
        for (key, addrs) in &listeners {
            if let Some(a) = addrs.iter().find(|a| !a.ip().is_loopback()) {
                return Err(Error::Startup(format!(
                    "refusing to listen on {a} ({key}): it is not a loopback address and no \
                     users are configured, so anyone who can reach it could read the lake; \
                     listen on 127.0.0.1 or ::1, or add `users:` (see `lakegate passwd`)"
                )));
            }
        }
    }
    let tls = match &config.tls {
        Some(t) => crate::wire::tls::TlsSetup::from_config(t).map_err(Error::Startup)?,
        None => None,
    };
    let lake = config.lake.as_deref().ok_or_else(|| {
        Error::Startup("no lake given: pass --lake ROOT or set `lake:` in the config".into())
    })?;
    let root = LakeUrl::parse(lake)?
        .with_options(&config.storage)
        .map_err(Error::Startup)?;
    if let Some(p) = root.local_path()
        && !p.is_dir()
    {
        return Err(Error::Startup(format!(
            "lake root {} is not a directory",
            p.display()
        )));
    }
    let catalog = LakeCatalog::new(root.clone())?;
    if !config.iceberg.is_empty() {
        let mounts =
            crate::catalog::iceberg::IcebergMounts::connect(&config.iceberg, root.options())
                .await
                .map_err(|e| Error::Startup(e.to_string()))?;
        catalog.set_iceberg(mounts);
    }
    let metrics = catalog.refresh().await?;
    info!(lake = %root, tables = metrics.tables, failed = metrics.failed, "lake loaded");
    let engine = Engine::new(catalog.clone(), &config.database, &config.limits)?;
    engine.enable_result_cache(config.cache.results);
    let shutdown = CancellationToken::new();
    let (views_dir, mut poller) = views_dir(&config).await;
    let (views, views_task) = match &views_dir {
        Some(dir) => {
            let registry = ViewRegistry::new(dir, engine.clone());
            let report = registry.reload().await?;
            for e in &report.errors {
                warn!("{e}");
            }
            info!(ok = report.ok, errors = report.errors.len(), dir = %dir.display(), "views loaded");
            let history = match ViewHistory::open(&root, engine.system_schema()).await {
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
            if let Some(src) = poller.take() {
                src.spawn_poller(registry.clone(), shutdown.clone());
            }
            (Some(registry), Some(task))
        }
        None => (None, None),
    };
    let listener = TcpListener::bind(addrs.as_slice())
        .await
        .map_err(|e| Error::Startup(format!("Failed to listen on {}: {e}", config.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Startup(format!("Failed to read the bound address: {e}")))?;
    let refresher = catalog.spawn_refresher(config.refresh_interval, shutdown.clone());
    spawn_memory_trim(shutdown.clone());
    let state_lake = crate::ingest::LakePath::open(&root).ok();
    let alerts = crate::alerts::Alerts::from_config(&config, state_lake.clone())
        .await
        .map_err(Error::Startup)?;
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
        let lake = ingest_lake(&config)?;
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
    let registry = Arc::new(crate::wire::CancelRegistry::default());
    {
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
            .map_err(|e| Error::Startup(format!("http.listen {}: {e}", h.listen)))?,
        ),
        None => None,
    };
    if let (Some(a), Some(bound), Some(h)) = (&alerts, http_addr, &config.http) {
        a.set_bound(bound, h.public_url.as_deref());
    }
    let flight_addr = match &config.flight {
        Some(f) => {
            // The same certificate as the Postgres port, when there is one.
            let tls = match &config.tls {
                Some(t) if t.mode != crate::config::TlsMode::Disable => match (&t.cert, &t.key) {
                    (Some(c), Some(k)) => Some((
                        std::fs::read(c).map_err(|e| {
                            Error::Startup(format!("tls.cert {}: {e}", c.display()))
                        })?,
                        std::fs::read(k)
                            .map_err(|e| Error::Startup(format!("tls.key {}: {e}", k.display())))?,
                    )),
                    _ => None,
                },
                _ => None,
            };
            Some(
                crate::flight::start(&f.listen, doors.clone(), tls, shutdown.clone())
                    .await
                    .map_err(|e| Error::Startup(format!("flight.listen {}: {e}", f.listen)))?,
            )
        }
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

/// `lakegate check`: validates the config and, when it names a lake and a views folder, plans
/// every view against the lake. Returns the view errors as `file:line: message`.
pub async fn check(config: &Config) -> Result<Vec<String>> {
    let views = match &config.views {
        Some(ViewsSource::Folder(dir)) => dir.clone(),
        Some(ViewsSource::Git(g)) => {
            let src = GitSource::new(g.clone(), g.cache.as_deref());
            src.sync().map_err(|e| {
                Error::Startup(format!("Failed to fetch views from {}: {e}", g.git))
            })?;
            src.views_dir()
        }
        None => return Ok(vec![]),
    };
    let Some(lake) = config.lake.as_deref() else {
        return Ok(vec![]);
    };
    let root = LakeUrl::parse(lake)?
        .with_options(&config.storage)
        .map_err(Error::Startup)?;
    let catalog = LakeCatalog::new(root)?;
    catalog.refresh().await?;
    let engine = Engine::new(catalog, &config.database, &config.limits)?;
    let registry = ViewRegistry::new(&views, engine);
    Ok(registry.reload().await?.errors)
}

/// `lakegate check --freshness`: every relation's freshness now, as a server would judge it.
pub async fn check_freshness(config: &Config) -> Result<Vec<crate::engine::freshness::Status>> {
    let lake = config.lake.as_deref().ok_or_else(|| {
        Error::Startup("--freshness needs a lake: set `lake:` in the config".into())
    })?;
    let root = LakeUrl::parse(lake)?
        .with_options(&config.storage)
        .map_err(Error::Startup)?;
    let catalog = LakeCatalog::new(root.clone())?;
    catalog.refresh().await?;
    let engine = Engine::new(catalog, &config.database, &config.limits)?;
    let views = match views_dir(config).await.0 {
        Some(dir) => {
            let registry = ViewRegistry::new(&dir, engine.clone());
            registry.reload().await?;
            Some(registry)
        }
        None => None,
    };
    let lake = crate::ingest::LakePath::open(&root).map_err(|e| Error::Startup(e.to_string()))?;
    let watch = crate::freshness::Watch::new(engine, views, Some(lake), config, None);
    watch.refresh().await;
    Ok(watch.statuses())
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

/// `lakegate ingest` options.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    pub once: bool,
    pub source: Option<String>,
    pub slice: Option<String>,
    pub force: bool,
    pub wait: std::time::Duration,
}

/// The lake the ingestion loop writes to, local or in an object store.
fn ingest_lake(config: &Config) -> Result<crate::ingest::LakePath> {
    let lake = config
        .lake
        .as_deref()
        .ok_or_else(|| Error::Startup("no lake given: set `lake:` in the config".into()))?;
    let root = LakeUrl::parse(lake)?
        .with_options(&config.storage)
        .map_err(Error::Startup)?;
    crate::ingest::LakePath::open(&root).map_err(|e| Error::Startup(e.to_string()))
}

/// `lakegate ingest`: one pass (`once`) or the loop until `signal`.
pub async fn ingest(
    config: Config,
    options: IngestOptions,
    signal: impl Future<Output = ()>,
) -> Result<()> {
    use crate::ingest::{Ingestor, Lease, Selection};
    if config.sources.is_empty() {
        return Err(Error::Startup(
            "the config has no `sources:` to ingest".into(),
        ));
    }
    let lake = ingest_lake(&config)?;
    let ttl = config.ingest.lease_ttl;
    let alerts = crate::alerts::Alerts::from_config(&config, Some(lake.clone()))
        .await
        .map_err(Error::Startup)?;
    let follow = Arc::new(ingest_follow_up(&config, lake.clone(), alerts.clone()).await?);
    let ingestor = Arc::new(Ingestor::new(lake.clone(), config).with_alerts(alerts.clone()));
    if options.once {
        let lease = Lease::acquire(&lake, ttl, options.wait).await?;
        let report = ingestor
            .run_once(&Selection {
                source: options.source,
                slice: options.slice,
                force: options.force,
                ..Default::default()
            })
            .await;
        lease.release().await;
        // Cron mode: the alert hooks of this pass run to the end (bounded) before exit.
        ingestor.finish_hooks().await;
        let report = report?;
        // Cron mode does what `serve` does after a pass: gold models of the affected slices,
        // freshness and its alerts (delivered, or given up on, before exit).
        let gold = follow.run(&report).await;
        if let Some(a) = &alerts {
            a.flush(std::time::Duration::from_secs(30)).await;
        }
        for s in &report.slices {
            println!(
                "{} {} slice {} @ {}: {} in, {} out, {} quarantined, {} dropped, {} deleted{}",
                s.status,
                s.table,
                s.slice,
                s.watermark,
                s.rows_in,
                s.rows_out,
                s.quarantined,
                s.dropped,
                s.deleted,
                s.error
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            );
        }
        println!(
            "run {}: {} ok, {} failed, {} already current, {} files read",
            report.run_id,
            report.slices.iter().filter(|s| s.status == "ok").count(),
            report.failed(),
            report.skipped,
            report.files_read
        );
        match &gold {
            Ok(models) => {
                for m in models {
                    println!("ok gold model {m} rebuilt");
                }
            }
            Err(e) => println!("failed gold models: {e}"),
        }
        if report.failed() > 0 {
            return Err(Error::Startup(format!(
                "{} slice(s) failed",
                report.failed()
            )));
        }
        gold?;
        return Ok(());
    }
    let shutdown = CancellationToken::new();
    let watch_task = follow.watch.spawn(shutdown.clone());
    let task = tokio::spawn(crate::ingest::run_loop(
        ingestor.clone(),
        shutdown.clone(),
        move |report| {
            let (follow, report) = (follow.clone(), report.clone());
            tokio::spawn(async move { follow.run(&report).await });
        },
    ));
    signal.await;
    shutdown.cancel();
    let _ = task.await;
    let _ = watch_task.await;
    ingestor.finish_hooks().await;
    if let Some(a) = &alerts {
        a.flush(std::time::Duration::from_secs(10)).await;
    }
    Ok(())
}

/// The engine and views an `ingest` process needs to build gold models (no listener).
async fn ingest_follow_up(
    config: &Config,
    lake: crate::ingest::LakePath,
    alerts: Option<Arc<crate::alerts::Alerts>>,
) -> Result<AfterPass> {
    let root = lake.location().clone();
    let catalog = LakeCatalog::new(root.clone())?;
    if !config.iceberg.is_empty() {
        let mounts =
            crate::catalog::iceberg::IcebergMounts::connect(&config.iceberg, root.options())
                .await
                .map_err(|e| Error::Startup(e.to_string()))?;
        catalog.set_iceberg(mounts);
    }
    catalog.refresh().await?;
    let engine = Engine::new(catalog.clone(), &config.database, &config.limits)?;
    let views = match views_dir(config).await.0 {
        Some(dir) => {
            let registry = ViewRegistry::new(&dir, engine.clone());
            let report = registry.reload().await?;
            for e in &report.errors {
                warn!("{e}");
            }
            Some(registry)
        }
        None => None,
    };
    let watch = crate::freshness::Watch::new(
        engine.clone(),
        views.clone(),
        Some(lake.clone()),
        config,
        alerts,
    );
    watch.refresh().await;
    Ok(AfterPass::new(
        catalog,
        engine,
        views,
        lake,
        config.clone(),
        watch,
    ))
}

/// Serves `_lakegate/slices` and `_lakegate/ingest_runs` as `lakegate.slices` and
/// `lakegate.ingest_runs` (re-opened after each pass: a Delta provider is a snapshot).
async fn register_ingest_logs(lake: &crate::ingest::LakePath, engine: &Engine) {
    use datafusion::catalog::SchemaProvider;
    let system = engine.system_schema();
    for (dir, name) in [("slices", "slices"), ("ingest_runs", "ingest_runs")] {
        let path = lake.join("_lakegate").join(dir);
        if !path.is_table().await.unwrap_or(false) {
            continue;
        }
        match path.open_delta().await {
            Ok(t) => match crate::catalog::delta_provider(&t).await {
                Ok(p) => {
                    let _ = system.deregister_table(name);
                    let _ = system.register_table(name.to_string(), p);
                }
                Err(e) => warn!(table = name, error = %e, "ingest log unavailable"),
            },
            Err(e) => warn!(table = name, error = %e, "ingest log unavailable"),
        }
    }
}
