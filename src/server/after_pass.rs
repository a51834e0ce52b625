//! What follows an ingestion pass, in `serve` and in `ingest` alike: the orchestration that
//! joins the layers (ingest writes, the catalog re-reads, the views re-plan and materialize
//! their gold models, freshness judges), so none of them calls the others.

use std::sync::Arc;

use tracing::warn;

use crate::catalog::LakeCatalog;
use crate::config::Config;
use crate::engine::Engine;
use crate::views::ViewRegistry;
use crate::{Error, Result};

/// After a pass: the catalog refreshed so
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
    pub(super) watch: Arc<crate::freshness::Watch>,
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

/// Serves `_lakegate/slices` and `_lakegate/ingest_runs` as `lakegate.slices` and
/// `lakegate.ingest_runs` (re-opened after each pass: a Delta provider is a snapshot).
pub(super) async fn register_ingest_logs(lake: &crate::ingest::LakePath, engine: &Engine) {
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
