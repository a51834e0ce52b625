//! The embedded ingestion loop: slice-based, incremental, idempotent, audited.
//!
//! A source delivers `landing/<source>/<slice_id>/<watermark>/*`; the greatest watermark of a
//! slice is its complete current content. Each pass compares those watermarks with what the
//! lake's tables record and (re)ingests only missing or changed slices:
//!
//! - bronze.<source>: typed rows plus lineage (`_slice_id`, `_watermark`, `_source_file`,
//!   `_source_line`, `_ingested_at`, `_run_id`), the slice's partition replaced whole;
//!   unreadable rows go to `quarantine.<source>` with file and line.
//! - silver.<table>: the slice from bronze, deduplicated by `unique_key` (`latest_by` wins),
//!   deletions removed, expectations applied (warn / drop / quarantine / fail), the slice
//!   replaced whole. A `fail` publishes nothing of the slice: the previous version stays served.
//!
//! Every write is one Delta commit carrying a Delta application transaction (`txn`) named
//! after (table, slice, watermark), so progress and data cannot disagree: a re-run after a
//! crash skips what committed and redoes what did not. One writer per lake holds a lease.

mod bronze;
pub(crate) mod delta;
pub mod error;
pub mod import;
mod lake_path;
mod landing;
mod lease;
mod quarantine;
mod read;
mod run_log;
mod scheduler;
mod silver;
pub mod sources;
pub mod watermark;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use tracing::{info, warn};

pub use crate::config::parse_type;
use delta::*;
pub use error::IngestError;
use error::Result;
pub use lake_path::LakePath;
pub use landing::discover;
use landing::*;
pub use lease::{Lease, LeaseInfo, hostname};
use quarantine::*;
use read::{Reject, SliceData};
pub use scheduler::run_loop;
use watermark::Watermark;

use crate::config::{
    Config, OnViolation, SilverConfig, SilverMode, SourceConfig, SourceFormat, SourceKind,
};

/// What one pass did to one (table, slice).
#[derive(Debug, Clone, Default)]
pub struct SliceReport {
    pub source: String,
    pub table: String,
    pub slice: String,
    pub watermark: String,
    pub status: String,
    pub rows_in: i64,
    pub rows_out: i64,
    pub quarantined: i64,
    pub dropped: i64,
    pub deleted: i64,
    pub duplicates: i64,
    pub warned: i64,
    pub bytes: i64,
    pub duration_ms: i64,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub run_id: String,
    pub slices: Vec<SliceReport>,
    /// Slices already current: nothing read.
    pub skipped: usize,
    pub files_read: usize,
}

impl RunReport {
    pub fn failed(&self) -> usize {
        self.slices.iter().filter(|s| s.status == "failed").count()
    }
}

/// A source's tables as the pass found them (for the skip check).
struct Opened {
    bronze: Option<DeltaTable>,
    silver: HashMap<String, Option<DeltaTable>>,
}

/// Which slices a pass looks at (backfill on demand).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub source: Option<String>,
    pub slice: Option<String>,
    /// Re-ingest even if the tables say the slice is current.
    pub force: bool,
    /// Kafka sources: micro-batches per pass; `None` reads until caught up with the broker
    /// (`ingest --once`), `serve` takes one at a time.
    pub stream_batches: Option<usize>,
    /// Only the Kafka sources (the serve loop's passes between full ones).
    pub only_streams: bool,
}

pub struct Ingestor {
    lake: LakePath,
    config: Config,
    /// (table, slice, watermark) that failed in this process: not retried until the watermark
    /// changes (a `--once` run retries them).
    failed: Mutex<HashSet<(String, String, String)>>,
    /// Running `ingest.on_failure` hooks: a `--once` run waits for them before it exits.
    hooks: tokio_util::task::TaskTracker,
    /// One MERGE at a time per `mode: merge` table: slices run two at a time, and two merges
    /// into one table would conflict (each reads what the other rewrites).
    merges: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Kafka sources' connections and offsets between passes.
    streams: Mutex<HashMap<String, Arc<tokio::sync::Mutex<sources::kafka::Stream>>>>,
    /// Told when the ingest lease is won and lost.
    alerts: Option<Arc<crate::alerts::Alerts>>,
    /// Where each Kafka partition stands (shared with the status page).
    kafka: Arc<sources::kafka::KafkaPositions>,
}

impl Ingestor {
    pub fn new(lake: LakePath, config: Config) -> Ingestor {
        Ingestor {
            lake,
            config,
            failed: Mutex::new(HashSet::new()),
            hooks: tokio_util::task::TaskTracker::new(),
            merges: Mutex::new(HashMap::new()),
            streams: Mutex::new(HashMap::new()),
            alerts: None,
            kafka: Default::default(),
        }
    }

    /// Where Kafka partitions are recorded (the server's, which its status page reads).
    pub fn with_kafka_positions(mut self, kafka: Arc<sources::kafka::KafkaPositions>) -> Ingestor {
        self.kafka = kafka;
        self
    }

    /// Alerts to tell of the lease (only the lease holder sends any).
    pub fn with_alerts(mut self, alerts: Option<Arc<crate::alerts::Alerts>>) -> Ingestor {
        self.alerts = alerts;
        self
    }

    /// Where its Kafka partitions stand.
    pub fn kafka_positions(&self) -> &Arc<sources::kafka::KafkaPositions> {
        &self.kafka
    }

    pub fn lake(&self) -> &LakePath {
        &self.lake
    }

    fn silver_of(&self, source: &str) -> Vec<(&String, &SilverConfig)> {
        self.config
            .silver
            .iter()
            .filter(|(_, s)| s.from == source)
            .collect()
    }

    /// One pass over every source (or the selection). Failures of a slice are reported, not
    /// returned: other slices go on.
    pub async fn run_once(&self, selection: &Selection) -> Result<RunReport> {
        let started_at = chrono::Utc::now();
        let run_id = format!(
            "{}-{}",
            started_at.format("%Y%m%dT%H%M%S%.3f"),
            std::process::id()
        );
        let mut report = RunReport {
            run_id: run_id.clone(),
            ..Default::default()
        };
        let mut work = Vec::new();
        let mut opened = HashMap::new();
        for (name, source) in &self.config.sources {
            if selection.source.as_ref().is_some_and(|s| s != name) {
                continue;
            }
            if source.kind() == SourceKind::Kafka {
                self.kafka_pass(&run_id, name, source, selection, &mut report)
                    .await;
                continue;
            }
            if selection.only_streams {
                continue;
            }
            // Each table's log is read once per pass, not once per slice: what a slice's
            // application transaction says is all the skip check needs (only this process
            // writes, under the lease).
            let mut silver = HashMap::new();
            for (table, _) in self.silver_of(name) {
                silver.insert(
                    table.clone(),
                    open_table(&self.lake.join("silver").join(table)).await?,
                );
            }
            opened.insert(
                name.clone(),
                Opened {
                    bronze: open_table(&self.lake.join("bronze").join(name)).await?,
                    silver,
                },
            );
            match source.kind() {
                SourceKind::Files => {
                    for (slice, (wm, dir)) in discover(&self.lake, name).await? {
                        if selection.slice.as_ref().is_none_or(|s| s == &slice) {
                            work.push((name, source, slice, wm, dir));
                        }
                    }
                }
                SourceKind::Kafka => unreachable!("consumed above"),
                SourceKind::Postgres | SourceKind::MySql | SourceKind::Http => {
                    let bronze = &opened[name].bronze;
                    let landed = if source.kind() == SourceKind::Http {
                        sources::http::land(&self.lake, name, source, bronze, selection).await
                    } else {
                        sources::relational::land(
                            &self.lake,
                            name,
                            source,
                            bronze,
                            selection.slice.as_deref(),
                            selection.force,
                        )
                        .await
                    };
                    let landed = match landed {
                        Ok(l) => l,
                        Err(e) => sources::relational::Landed {
                            failed: vec![("*".into(), String::new(), e.to_string())],
                            ..Default::default()
                        },
                    };
                    for (slice, wm, error) in landed.failed {
                        warn!(source = %name, %slice, watermark = %wm, %error, "source not read; nothing served changes");
                        self.alert(&format!("bronze.{name}"), &slice, &wm, &error);
                        report.slices.push(SliceReport {
                            source: name.clone(),
                            table: format!("bronze.{name}"),
                            slice,
                            watermark: wm,
                            status: "failed".into(),
                            error: Some(error),
                            ..Default::default()
                        });
                    }
                    for d in landed.deliveries {
                        work.push((name, source, d.slice, Watermark::Text(d.watermark), d.dir));
                    }
                }
            }
        }
        let opened = &opened;
        // Slices are independent (each replaces its own partitions): two at a time keep both
        // cores busy, one parsing while the other commits.
        use futures::StreamExt;
        let parallel = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(1, 4);
        let run = run_id.as_str();
        type Done<'a> = (RunReport, Result<()>, &'a String, String, Watermark);
        let tasks: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = Done<'_>> + Send + '_>>> =
            work.into_iter()
                .map(|(name, source, slice, wm, dir)| {
                    Box::pin(async move {
                        let mut part = RunReport::default();
                        let r = self
                            .slice(
                                bronze::BronzeJob {
                                    run_id: run,
                                    name,
                                    source,
                                    opened: &opened[name],
                                    slice: &slice,
                                    watermark: &wm,
                                    dir: &dir,
                                    force: selection.force,
                                },
                                &mut part,
                            )
                            .await;
                        (part, r, name, slice, wm)
                    })
                        as std::pin::Pin<
                            Box<dyn std::future::Future<Output = Done<'_>> + Send + '_>,
                        >
                })
                .collect();
        let mut results = futures::stream::iter(tasks).buffered(parallel);
        while let Some((part, r, name, slice, wm)) = results.next().await {
            report.skipped += part.skipped;
            report.files_read += part.files_read;
            report.slices.extend(part.slices);
            if let Err(e) = r {
                warn!(source = %name, %slice, watermark = wm.name(), error = %e, "slice failed");
                self.alert(&format!("bronze.{name}"), &slice, wm.name(), &e.to_string());
                report.slices.push(SliceReport {
                    source: name.clone(),
                    table: format!("bronze.{name}"),
                    slice: slice.clone(),
                    watermark: wm.name().to_string(),
                    status: "failed".into(),
                    error: Some(e.to_string()),
                    ..Default::default()
                });
            }
        }
        drop(results);
        if !report.slices.is_empty()
            && let Err(e) = self.log(&report, started_at).await
        {
            warn!(error = %e, "could not append to _lakegate/slices");
        }
        let m = crate::metrics::metrics();
        m.ingest_runs.inc();
        for s in &report.slices {
            m.ingest_slices
                .get_or_create(&crate::metrics::Status {
                    status: s.status.clone(),
                })
                .inc();
            if s.status == "ok" {
                m.table_last_ingest
                    .get_or_create(&crate::metrics::TableLabel {
                        table: s.table.clone(),
                    })
                    .set(chrono::Utc::now().timestamp_micros() as f64 / 1e6);
                m.ingest_rows.inc_by(s.rows_out.max(0) as u64);
                m.quarantined_rows.inc_by(s.quarantined.max(0) as u64);
            }
        }
        let ok = report.slices.iter().filter(|s| s.status == "ok").count();
        if ok + report.failed() > 0 {
            info!(run = %run_id, ok, failed = report.failed(), skipped = report.skipped, "ingest pass finished");
        }
        Ok(report)
    }

    /// Waits for the `on_failure` hooks started so far (each is bounded by its 30 s timeout,
    /// after which it is killed).
    pub async fn finish_hooks(&self) {
        self.hooks.close();
        self.hooks.wait().await;
        self.hooks.reopen();
    }

    fn alert(&self, table: &str, slice: &str, watermark: &str, error: &str) {
        let Some(cmd) = self.config.ingest.on_failure.clone() else {
            return;
        };
        let (table, slice, watermark, error) = (
            table.to_string(),
            slice.to_string(),
            watermark.to_string(),
            error.to_string(),
        );
        self.hooks.spawn(async move {
            let child = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(&cmd)
                .env("LAKEGATE_TABLE", &table)
                .env("LAKEGATE_SLICE", &slice)
                .env("LAKEGATE_WATERMARK", &watermark)
                .env("LAKEGATE_ERROR", &error)
                .kill_on_drop(true)
                .status();
            match tokio::time::timeout(Duration::from_secs(30), child).await {
                Ok(Ok(s)) if s.success() => {}
                Ok(Ok(s)) => warn!(%cmd, status = %s, "ingest.on_failure hook failed"),
                Ok(Err(e)) => warn!(%cmd, error = %e, "ingest.on_failure hook did not run"),
                Err(_) => warn!(%cmd, "ingest.on_failure hook timed out"),
            }
        });
    }
}

/// The single `count(*)` a query returns.
async fn count(ctx: &SessionContext, sql: &str) -> Result<i64> {
    let b = ctx.sql(sql).await?.collect().await?;
    Ok(b.first()
        .map(|b| {
            b.column(0)
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .value(0)
        })
        .unwrap_or(0))
}
