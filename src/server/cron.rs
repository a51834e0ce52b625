//! The one-shot commands: `lakegate ingest` (a pass, or the loop without a listener) and
//! `lakegate check` (config, views, freshness).

use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::after_pass::AfterPass;
use super::open;
use crate::config::{Config, ViewsSource};
use crate::views::ViewRegistry;
use crate::views::gitsource::GitSource;
use crate::{Error, Result};

/// `lakegate check`: validates the config and, when it names a lake and a views folder, plans
/// every view against the lake. Returns the view errors as `file:line: message`.
pub async fn check(config: &Config) -> Result<Vec<String>> {
    let views = match &config.views {
        Some(ViewsSource::Folder(dir)) => dir.clone(),
        // Unlike `serve`, a branch that cannot be fetched is an error: it is what is checked.
        Some(ViewsSource::Git(g)) => {
            let src = GitSource::new(g.clone(), g.cache.as_deref());
            src.sync().map_err(|source| Error::ViewsFetch {
                repo: g.git.clone(),
                source,
            })?;
            src.views_dir()
        }
        None => return Ok(vec![]),
    };
    if config.lake.is_none() {
        return Ok(vec![]);
    }
    let root = open::lake_root(config, "set `lake:` in the config")?;
    let (_, engine) = open::catalog_and_engine(config, &root).await?;
    let registry = ViewRegistry::new(&views, engine);
    Ok(registry.reload().await?.errors)
}

/// `lakegate check --freshness`: every relation's freshness now, as a server would judge it.
pub async fn check_freshness(config: &Config) -> Result<Vec<crate::engine::freshness::Status>> {
    let root = open::lake_root(config, "--freshness needs one: set `lake:` in the config")?;
    let (_, engine) = open::catalog_and_engine(config, &root).await?;
    let (views, _) = open::views(config, &engine).await?;
    let lake = crate::ingest::LakePath::open(&root)?;
    let watch = crate::freshness::Watch::new(engine, views, Some(lake), config, None);
    watch.refresh().await;
    Ok(watch.statuses())
}

/// `lakegate import`: parquet/CSV files into a Delta table of the configured lake.
pub async fn import(
    config: &Config,
    table: &str,
    files: &[std::path::PathBuf],
    overwrite: bool,
    partition_by: &[String],
) -> Result<crate::ingest::import::Imported> {
    let lake = open::lake_root(config, "import needs --lake or a config with `lake:`")?;
    Ok(crate::ingest::import::import(&lake, table, files, overwrite, partition_by).await?)
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
    let root = open::lake_root(config, "set `lake:` in the config")?;
    Ok(crate::ingest::LakePath::open(&root)?)
}

/// `lakegate ingest`: one pass (`once`) or the loop until `signal`.
pub async fn ingest(
    config: Config,
    options: IngestOptions,
    signal: impl Future<Output = ()>,
) -> Result<()> {
    use crate::ingest::{Ingestor, Lease, Selection};
    if config.sources.is_empty() {
        return Err(Error::Usage(
            "the config has no `sources:` to ingest".into(),
        ));
    }
    let lake = ingest_lake(&config)?;
    let ttl = config.ingest.lease_ttl;
    let alerts = crate::alerts::Alerts::from_config(&config, Some(lake.clone())).await?;
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
            return Err(Error::Failed(format!(
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
    let (catalog, engine) = open::catalog_and_engine(config, lake.location()).await?;
    let (views, _) = open::views(config, &engine).await?;
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
