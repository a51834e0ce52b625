//! What every mode opens first: the lake root with its storage options, the catalog over it
//! (Iceberg mounts included), the engine, and the views folder.

use std::sync::Arc;

use tracing::{info, warn};

use crate::catalog::LakeCatalog;
use crate::config::{Config, ViewsSource};
use crate::engine::Engine;
use crate::storage::LakeUrl;
use crate::views::ViewRegistry;
use crate::views::gitsource::GitSource;
use crate::{Error, Result};

/// The configured lake with its `storage:` options; `hint` says where to give one.
pub(super) fn lake_root(config: &Config, hint: &'static str) -> Result<LakeUrl> {
    let lake = config.lake.as_deref().ok_or(Error::NoLake(hint))?;
    Ok(LakeUrl::parse(lake)?.with_options(&config.storage)?)
}

/// The catalog over `root`, Iceberg catalogs mounted, read once; and the engine over it. A
/// local root need not exist yet (`ingest` creates it).
pub(super) async fn catalog_and_engine(
    config: &Config,
    root: &LakeUrl,
) -> Result<(Arc<LakeCatalog>, Arc<Engine>)> {
    let catalog = LakeCatalog::new(root.clone())?;
    if !config.iceberg.is_empty() {
        let mounts =
            crate::catalog::iceberg::IcebergMounts::connect(&config.iceberg, root.options())
                .await?;
        catalog.set_iceberg(mounts);
    }
    let metrics = catalog.refresh().await?;
    info!(lake = %root, tables = metrics.tables, failed = metrics.failed, "lake loaded");
    let engine = Engine::new(catalog.clone(), &config.database, &config.limits)?;
    Ok((catalog, engine))
}

/// The views registry, loaded once (a broken view is logged, the others served), with the
/// git source to keep polling when the views come from a branch.
pub(super) async fn views(
    config: &Config,
    engine: &Arc<Engine>,
) -> Result<(Option<Arc<ViewRegistry>>, Option<Arc<GitSource>>)> {
    let (dir, git) = views_dir(config).await;
    let Some(dir) = dir else {
        return Ok((None, None));
    };
    let registry = ViewRegistry::new(&dir, engine.clone());
    let report = registry.reload().await?;
    for e in &report.errors {
        warn!("{e}");
    }
    info!(ok = report.ok, errors = report.errors.len(), dir = %dir.display(), "views loaded");
    Ok((Some(registry), git))
}

/// The views folder: the configured one, or the git cache after a sync (a failed fetch
/// serves what the cache holds), with the git source to keep polling.
pub(super) async fn views_dir(
    config: &Config,
) -> (Option<std::path::PathBuf>, Option<Arc<GitSource>>) {
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
