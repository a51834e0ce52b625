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

pub mod gold;
pub mod import;
mod lake_path;
mod lease;
mod read;
pub mod sources;
pub mod watermark;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
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

pub use lake_path::LakePath;
pub use lease::{Lease, LeaseInfo, hostname};
use read::{Reject, SliceData};
use watermark::Watermark;

use crate::config::{
    Config, OnViolation, SilverConfig, SilverMode, SourceConfig, SourceFormat, SourceKind,
};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("unreadable file: {0}")]
    Unreadable(String),
    #[error("schema change: {0}")]
    SchemaDrift(String),
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Leased(String),
    /// A source that is down, refuses the login or times out (the message names the source,
    /// never its secret).
    #[error("{0}")]
    Source(String),
    #[error("expectation failed: {0}")]
    Expectation(String),
    #[error("delta: {0}")]
    Delta(#[from] deltalake::DeltaTableError),
    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("{0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
}

type Result<T, E = IngestError> = std::result::Result<T, E>;

/// `bigint`, `int`, `decimal(12,2)`, ... → Arrow type.
pub fn parse_type(t: &str) -> std::result::Result<DataType, String> {
    let l = t.trim().to_ascii_lowercase();
    let dec = |inner: &str| -> std::result::Result<DataType, String> {
        let (p, s) = inner.split_once(',').unwrap_or((inner, "0"));
        let p: u8 = p
            .trim()
            .parse()
            .map_err(|_| format!("bad precision in `{t}`"))?;
        let s: i8 = s
            .trim()
            .parse()
            .map_err(|_| format!("bad scale in `{t}`"))?;
        if p == 0 || p > 38 || s < 0 || s as u8 > p {
            return Err(format!(
                "`{t}`: precision 1..38 and 0 <= scale <= precision"
            ));
        }
        Ok(DataType::Decimal128(p, s))
    };
    Ok(match l.as_str() {
        "bigint" | "int8" | "long" => DataType::Int64,
        "int" | "integer" | "int4" => DataType::Int32,
        "smallint" | "int2" => DataType::Int16,
        "double" | "double precision" | "float8" | "float" => DataType::Float64,
        "real" | "float4" => DataType::Float32,
        "text" | "string" | "varchar" => DataType::Utf8,
        "date" => DataType::Date32,
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, None),
        "timestamptz" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        "boolean" | "bool" => DataType::Boolean,
        "bytea" | "binary" | "blob" => DataType::Binary,
        "decimal" | "numeric" => DataType::Decimal128(38, 10),
        _ => {
            if let Some(inner) = l
                .strip_prefix("decimal(")
                .or_else(|| l.strip_prefix("numeric("))
                .and_then(|r| r.strip_suffix(')'))
            {
                dec(inner)?
            } else {
                return Err(format!(
                    "unknown type `{t}` (bigint, int, smallint, double, real, decimal(p,s), text, date, timestamp, timestamptz, boolean, bytea)"
                ));
            }
        }
    })
}

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
}

const BRONZE_LINEAGE: [&str; 6] = [
    "_slice_id",
    "_watermark",
    "_source_file",
    "_source_line",
    "_ingested_at",
    "_run_id",
];

/// Bronze columns that are not the source's own (lineage, and a Kafka message's position).
fn is_lineage(name: &str) -> bool {
    BRONZE_LINEAGE.contains(&name) || name.starts_with("_kafka_")
}

pub(crate) fn app_id(stage: &str, table: &str, slice: &str, watermark: &str) -> String {
    format!("lakegate:{stage}:{table}:{slice}:{watermark}")
}

fn quote(s: &str) -> String {
    s.replace('\'', "''")
}

fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

async fn open_table(path: &LakePath) -> Result<Option<DeltaTable>> {
    if !path.is_table().await? {
        return Ok(None);
    }
    Ok(Some(path.open_delta().await?))
}

pub(crate) async fn committed(table: &Option<DeltaTable>, app: &str) -> Result<bool> {
    let Some(t) = table else { return Ok(false) };
    let v = t
        .snapshot()?
        .transaction_version(t.log_store().as_ref(), app)
        .await?;
    Ok(v.is_some())
}

/// One Delta commit: the batches, replacing `replace` (a SQL predicate) or appending, with
/// the application transaction that marks the slice as done.
async fn commit(
    path: &LakePath,
    name: &str,
    batches: Vec<RecordBatch>,
    replace: Option<String>,
    partition_by: &[String],
    app: &str,
    merge_schema: bool,
) -> Result<DeltaTable> {
    path.create()?;
    let exists = path.is_table().await?;
    let table = path.delta_or_new().await?;
    let props = CommitProperties::default().with_application_transaction(Transaction::new(app, 1));
    let mut w = table
        .write(batches)
        .with_table_name(name)
        .with_commit_properties(props);
    if !partition_by.is_empty() {
        w = w.with_partition_columns(partition_by.to_vec());
    }
    if merge_schema && exists {
        w = w.with_schema_mode(SchemaMode::Merge);
    }
    w = match (replace, exists) {
        (Some(p), true) => w.with_save_mode(SaveMode::Overwrite).with_replace_where(p),
        _ => w.with_save_mode(SaveMode::Append),
    };
    Ok(w.await?)
}

/// The quarantine rows one stage wrote for one delivery (slice and watermark): what a
/// re-run of that delivery replaces.
fn quarantine_scope(slice: &str, watermark: &str, stage: &str) -> String {
    format!(
        "_slice_id = '{}' AND _watermark = '{}' AND {stage}",
        quote(slice),
        quote(watermark)
    )
}

fn quarantine_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("_run_id", DataType::Utf8, false),
        Field::new("_slice_id", DataType::Utf8, false),
        Field::new("_watermark", DataType::Utf8, false),
        Field::new("_source_file", DataType::Utf8, true),
        Field::new("_source_line", DataType::Int64, true),
        Field::new("stage", DataType::Utf8, false),
        Field::new("expectation", DataType::Utf8, true),
        Field::new("reason", DataType::Utf8, false),
        Field::new("record", DataType::Utf8, true),
        Field::new(
            "_quarantined_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]))
}

struct QuarantineRow {
    file: Option<String>,
    line: Option<i64>,
    stage: &'static str,
    expectation: Option<String>,
    reason: String,
    record: Option<String>,
}

fn quarantine_batch(
    run: &str,
    slice: &str,
    wm: &str,
    rows: &[QuarantineRow],
) -> Result<RecordBatch> {
    let n = rows.len();
    let now = chrono::Utc::now().timestamp_micros();
    let s = |v: Vec<Option<String>>| Arc::new(StringArray::from(v)) as ArrayRef;
    Ok(RecordBatch::try_new(
        quarantine_schema(),
        vec![
            s(vec![Some(run.to_string()); n]),
            s(vec![Some(slice.to_string()); n]),
            s(vec![Some(wm.to_string()); n]),
            s(rows.iter().map(|r| r.file.clone()).collect()),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.line).collect::<Vec<_>>(),
            )),
            s(rows.iter().map(|r| Some(r.stage.to_string())).collect()),
            s(rows.iter().map(|r| r.expectation.clone()).collect()),
            s(rows.iter().map(|r| Some(r.reason.clone())).collect()),
            s(rows.iter().map(|r| r.record.clone()).collect()),
            Arc::new(TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC")),
        ],
    )?)
}

/// Rows of a batch as JSON objects (for quarantine records).
fn rows_as_json(batch: &RecordBatch) -> Vec<String> {
    let mut buf = Vec::new();
    {
        let mut w = datafusion::arrow::json::LineDelimitedWriter::new(&mut buf);
        if w.write(batch).is_err() || w.finish().is_err() {
            return vec![String::new(); batch.num_rows()];
        }
    }
    String::from_utf8_lossy(&buf)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The slices a source has delivered: slice id → (greatest watermark, its folder).
pub async fn discover(
    lake: &LakePath,
    source: &str,
) -> Result<BTreeMap<String, (Watermark, LakePath)>> {
    let root = lake.join("landing").join(source);
    let mut out = BTreeMap::new();
    for name in root.folders().await? {
        if name.starts_with(['.', '_']) {
            continue;
        }
        let slice = root.join(&name);
        let best = slice
            .folders()
            .await?
            .into_iter()
            .filter(|m| !m.starts_with(['.', '_']))
            .map(|m| (Watermark::parse(&m), slice.join(&m)))
            .max_by(|a, b| a.0.cmp(&b.0));
        if let Some(b) = best {
            out.insert(name, b);
        }
    }
    Ok(out)
}

async fn data_files(dir: &LakePath, format: SourceFormat) -> Result<Vec<object_store::ObjectMeta>> {
    let exts: &[&str] = match format {
        SourceFormat::Csv => &[".csv", ".csv.gz", ".tsv", ".txt"],
        SourceFormat::Json => &[
            ".json",
            ".jsonl",
            ".ndjson",
            ".json.gz",
            ".jsonl.gz",
            ".ndjson.gz",
        ],
        SourceFormat::Parquet => &[".parquet"],
    };
    let mut files: Vec<object_store::ObjectMeta> = dir
        .files()
        .await?
        .into_iter()
        .filter(|m| {
            let n = m.location.filename().unwrap_or_default().to_lowercase();
            !n.starts_with(['.', '_']) && exts.iter().any(|e| n.ends_with(e))
        })
        .collect();
    files.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(files)
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
        }
    }

    /// Alerts to tell of the lease (only the lease holder sends any).
    pub fn with_alerts(mut self, alerts: Option<Arc<crate::alerts::Alerts>>) -> Ingestor {
        self.alerts = alerts;
        self
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
                                run,
                                name,
                                source,
                                &opened[name],
                                &slice,
                                &wm,
                                &dir,
                                selection.force,
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

    #[allow(clippy::too_many_arguments)]
    async fn slice(
        &self,
        run_id: &str,
        name: &str,
        source: &SourceConfig,
        opened: &Opened,
        slice: &str,
        wm: &Watermark,
        dir: &LakePath,
        force: bool,
        report: &mut RunReport,
    ) -> Result<()> {
        let w = wm.name();
        let bronze_path = self.lake.join("bronze").join(name);
        let bronze_app = app_id("bronze", name, slice, w);
        let bronze_done = !force && committed(&opened.bronze, &bronze_app).await?;
        let silvers = self.silver_of(name);
        let mut pending = Vec::new();
        for (table, cfg) in &silvers {
            let done = !force
                && committed(
                    opened.silver.get(*table).unwrap_or(&None),
                    &app_id("silver", table, slice, w),
                )
                .await?;
            let known_bad = self.failed.lock().expect("failed lock").contains(&(
                table.to_string(),
                slice.to_string(),
                w.to_string(),
            ));
            if !done && !(known_bad && !force) {
                pending.push((*table, *cfg));
            }
        }
        if bronze_done && pending.is_empty() {
            report.skipped += 1;
            return Ok(());
        }
        let t0 = Instant::now();
        let mut fresh: Option<RecordBatch> = None;
        if !bronze_done {
            let files = data_files(dir, source.landed_format()).await?;
            report.files_read += files.len();
            // Lineage names files relative to the lake, so a moved lake keeps its meaning.
            // Local files are streamed from disk; remote ones are fetched first.
            let mut inputs: Vec<(read::Input, String)> = Vec::with_capacity(files.len());
            for f in &files {
                let shown = self.lake.relative(&f.location);
                let input = match self.lake.local_file(&f.location) {
                    Some(path) => read::Input::File(path),
                    None => {
                        let fetch =
                            async { self.lake.store().get(&f.location).await?.bytes().await };
                        read::Input::Bytes(
                            fetch
                                .await
                                .map_err(|e| IngestError::Config(format!("{shown}: {e}")))?,
                        )
                    }
                };
                inputs.push((input, shown));
            }
            let columns = match &source.schema {
                Some(s) => Some(
                    s.0.iter()
                        .map(|(n, t)| Ok((n.clone(), parse_type(t).map_err(IngestError::Config)?)))
                        .collect::<Result<Vec<_>>>()?,
                ),
                // A database slice carries its source's column types.
                None if matches!(source.kind(), SourceKind::Postgres | SourceKind::MySql) => {
                    match inputs.first() {
                        Some((input, _)) => read::landed_columns(input)?,
                        None => None,
                    }
                }
                None => None,
            };
            let source2 = source.clone();
            let data: SliceData =
                tokio::task::spawn_blocking(move || read::read_slice(&inputs, &source2, columns))
                    .await
                    .map_err(|e| IngestError::Config(format!("reader task: {e}")))??;
            let rows_in = data.batch.num_rows() as i64 + data.rejects.len() as i64;
            tracing::debug!(slice, rows = rows_in, elapsed = ?t0.elapsed(), "slice read");
            // Unreadable rows: quarantine first (its own txn), then the slice.
            if !data.rejects.is_empty() {
                let qpath = self.lake.join("quarantine").join(name);
                let qapp = app_id("quarantine-parse", name, slice, w);
                if force || !committed(&open_table(&qpath).await?, &qapp).await? {
                    let rows: Vec<QuarantineRow> = data
                        .rejects
                        .iter()
                        .map(|r: &Reject| QuarantineRow {
                            file: Some(r.file.clone()),
                            line: r.line,
                            stage: "parse",
                            expectation: None,
                            reason: r.reason.clone(),
                            record: Some(r.record.clone()),
                        })
                        .collect();
                    let b = quarantine_batch(run_id, slice, w, &rows)?;
                    // Replacing this delivery's parse rejects keeps a forced re-run from
                    // recording them twice.
                    let replace = quarantine_scope(slice, w, "stage = 'parse'");
                    commit(&qpath, name, vec![b], Some(replace), &[], &qapp, false).await?;
                }
            }
            let batch = with_lineage(&data.batch, slice, w, run_id)?;
            let merge = source.schema.is_none()
                || source.on_schema_change == crate::config::SchemaChange::AppendNewColumns;
            fresh = Some(batch.clone());
            commit(
                &bronze_path,
                name,
                vec![batch.clone()],
                Some(format!("_slice_id = '{}'", quote(slice))),
                &["_slice_id".to_string()],
                &bronze_app,
                merge,
            )
            .await?;
            tracing::debug!(slice, elapsed = ?t0.elapsed(), "bronze committed");
            report.slices.push(SliceReport {
                source: name.into(),
                table: format!("bronze.{name}"),
                slice: slice.into(),
                watermark: w.into(),
                status: "ok".into(),
                rows_in,
                rows_out: batch.num_rows() as i64,
                quarantined: data.rejects.len() as i64,
                bytes: data.bytes as i64,
                duration_ms: t0.elapsed().as_millis() as i64,
                ..Default::default()
            });
        }
        if pending.is_empty() {
            return Ok(());
        }
        let bronze = open_table(&bronze_path)
            .await?
            .ok_or_else(|| IngestError::Config(format!("bronze.{name} is missing")))?;
        for (table, cfg) in pending {
            let t1 = Instant::now();
            let r = self
                .silver_slice(
                    run_id,
                    name,
                    source,
                    table,
                    cfg,
                    &bronze,
                    fresh.as_ref(),
                    slice,
                    w,
                    force,
                    None,
                )
                .await;
            let mut rep = match r {
                Ok(rep) => rep,
                Err(e) => {
                    warn!(table = %table, %slice, watermark = w, error = %e, "silver slice failed; the previous version stays served");
                    self.failed.lock().expect("failed lock").insert((
                        table.to_string(),
                        slice.to_string(),
                        w.to_string(),
                    ));
                    self.alert(&format!("silver.{table}"), slice, w, &e.to_string());
                    SliceReport {
                        status: "failed".into(),
                        error: Some(e.to_string()),
                        ..Default::default()
                    }
                }
            };
            rep.source = name.into();
            rep.table = format!("silver.{table}");
            rep.slice = slice.into();
            rep.watermark = w.into();
            rep.duration_ms = t1.elapsed().as_millis() as i64;
            report.slices.push(rep);
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn silver_slice(
        &self,
        run_id: &str,
        source_name: &str,
        source: &SourceConfig,
        table: &str,
        cfg: &SilverConfig,
        bronze: &DeltaTable,
        fresh: Option<&RecordBatch>,
        slice: &str,
        w: &str,
        force: bool,
        since: Option<&str>,
    ) -> Result<SliceReport> {
        let ctx = SessionContext::new();
        // The slice just committed to bronze is still in memory: no need to read it back.
        let business: Vec<String> = match fresh {
            Some(b) => {
                ctx.register_table(
                    "bronze",
                    Arc::new(datafusion::datasource::MemTable::try_new(
                        b.schema(),
                        vec![vec![b.clone()]],
                    )?),
                )?;
                b.schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().to_string())
                    .filter(|n| !is_lineage(n))
                    .collect()
            }
            None => {
                ctx.register_table("bronze", crate::catalog::delta_provider(&bronze).await?)?;
                bronze
                    .snapshot()?
                    .schema()
                    .fields()
                    .map(|f| f.name().to_string())
                    .filter(|n| !is_lineage(n))
                    .collect()
            }
        };
        // `since`: only the rows of later micro-batches (a Kafka slice merging what is new).
        let src = format!(
            "SELECT * FROM bronze WHERE _slice_id = '{}'{}",
            quote(slice),
            since
                .map(|s| format!(" AND _watermark > '{}'", quote(s)))
                .unwrap_or_default()
        );
        let keys = cfg
            .unique_key
            .iter()
            .map(|k| ident(k))
            .collect::<Vec<_>>()
            .join(", ");
        // Ranking needs a sort; a hash aggregate first tells whether any key repeats at all.
        let repeats = !cfg.unique_key.is_empty()
            && count(
                &ctx,
                &format!(
                    "SELECT count(*) FROM (SELECT 1 FROM ({src}) GROUP BY {keys} HAVING count(*) > 1)"
                ),
            )
            .await?
                > 0;
        let ranked = if !repeats {
            format!("SELECT *, 1 AS _lg_rn FROM ({src})")
        } else {
            let latest = cfg
                .latest_by
                .as_ref()
                .map(|l| format!("{} DESC NULLS LAST, ", ident(l)))
                .unwrap_or_default();
            format!(
                "SELECT *, row_number() OVER (PARTITION BY {keys} ORDER BY {latest}_source_file DESC, _source_line DESC) AS _lg_rn FROM ({src})"
            )
        };
        let deleted = cfg
            .delete_when
            .as_ref()
            .map(|d| format!("({d}) IS TRUE"))
            .unwrap_or_else(|| "false".into());
        let mut checks = String::new();
        for (i, e) in cfg.expectations.iter().enumerate() {
            checks.push_str(&format!(", ({}) IS TRUE AS _lg_ok_{i}", e.expect));
        }
        if cfg.mode == SilverMode::Merge {
            // A NULL key never matches: MERGE would insert the row again on every re-read.
            let all = cfg
                .unique_key
                .iter()
                .map(|k| format!("{} IS NOT NULL", ident(k)))
                .collect::<Vec<_>>()
                .join(" AND ");
            checks.push_str(&format!(", ({all}) AS _lg_key_ok"));
        }
        let sql = format!(
            "SELECT *, {deleted} AS _lg_deleted, CAST({} AS VARCHAR) = '{}' AS _lg_in_slice{checks} \
             FROM ({ranked}) WHERE _lg_rn = 1",
            ident(&source.slice_column),
            quote(slice)
        );
        let rows_in = count(&ctx, &format!("SELECT count(*) FROM ({src})")).await?;
        let batches = ctx
            .sql(&sql)
            .await
            .map_err(|e| IngestError::Config(format!("silver.{table}: {e}")))?
            .collect()
            .await?;
        let schema = match batches.first() {
            Some(b) => b.schema(),
            None => ctx.sql(&sql).await?.schema().inner().clone(),
        };
        let batch = datafusion::arrow::compute::concat_batches(&schema, &batches)?;
        let n = batch.num_rows();
        tracing::debug!(slice, rows = n, "silver slice computed");
        let col_bool = |name: &str| -> BooleanArray {
            batch
                .column_by_name(name)
                .map(|c| c.as_boolean().clone())
                .unwrap_or_else(|| BooleanArray::from(vec![true; n]))
        };
        let del = col_bool("_lg_deleted");
        let in_slice = col_bool("_lg_in_slice");
        // Absent (slice mode): every row passes.
        let key_ok = col_bool("_lg_key_ok");
        let mut keep = vec![true; n];
        let mut quarantine: Vec<(usize, Option<String>, String, &'static str)> = Vec::new();
        let (mut deleted_n, mut dropped, mut warned) = (0i64, 0i64, 0i64);
        let mut failures: Vec<String> = Vec::new();
        for r in 0..n {
            if del.value(r) {
                keep[r] = false;
                deleted_n += 1;
                continue;
            }
            if !in_slice.value(r) {
                keep[r] = false;
                quarantine.push((
                    r,
                    None,
                    format!("{} does not belong to slice {slice}", source.slice_column),
                    "slice",
                ));
                continue;
            }
            if !key_ok.value(r) {
                keep[r] = false;
                quarantine.push((
                    r,
                    None,
                    format!("unique_key ({}) has a NULL", cfg.unique_key.join(", ")),
                    "key",
                ));
            }
        }
        for (i, e) in cfg.expectations.iter().enumerate() {
            let ok = col_bool(&format!("_lg_ok_{i}"));
            let mut violations = 0i64;
            for r in 0..n {
                if !keep[r] || ok.value(r) {
                    continue;
                }
                violations += 1;
                match e.on_violation {
                    OnViolation::Warn => warned += 1,
                    OnViolation::Drop => {
                        keep[r] = false;
                        dropped += 1;
                    }
                    OnViolation::Quarantine => {
                        keep[r] = false;
                        quarantine.push((
                            r,
                            Some(e.name.clone()),
                            format!("expectation {} failed: {}", e.name, e.expect),
                            "expectation",
                        ));
                    }
                    OnViolation::Fail => {}
                }
            }
            if violations > 0 && e.on_violation == OnViolation::Fail {
                failures.push(format!(
                    "{} ({} rows violate `{}`)",
                    e.name, violations, e.expect
                ));
            }
            if violations > 0 && e.on_violation == OnViolation::Warn {
                warn!(table, slice, expectation = %e.name, violations, "expectation warning");
            }
        }
        if !failures.is_empty() {
            return Err(IngestError::Expectation(format!(
                "silver.{table} slice {slice} @ {w}: {}",
                failures.join("; ")
            )));
        }
        let duplicates = rows_in - n as i64;
        // Quarantine first, then the slice: each with its own txn.
        if !quarantine.is_empty() {
            let qpath = self.lake.join("quarantine").join(table);
            let qapp = app_id("quarantine", table, slice, w);
            if force || !committed(&open_table(&qpath).await?, &qapp).await? {
                let idx = datafusion::arrow::array::UInt32Array::from(
                    quarantine.iter().map(|q| q.0 as u32).collect::<Vec<_>>(),
                );
                let biz: Vec<usize> = business
                    .iter()
                    .filter_map(|c| batch.schema().index_of(c).ok())
                    .collect();
                let projected = batch.project(&biz)?;
                let taken = datafusion::arrow::compute::take_record_batch(&projected, &idx)?;
                let json = rows_as_json(&taken);
                // Strings come back from Parquet as Utf8View.
                let files = batch
                    .column_by_name("_source_file")
                    .and_then(|c| datafusion::arrow::compute::cast(c, &DataType::Utf8).ok())
                    .map(|c| c.as_string::<i32>().clone());
                let lines = batch.column_by_name("_source_line").map(|c| {
                    c.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                        .clone()
                });
                let rows: Vec<QuarantineRow> = quarantine
                    .iter()
                    .enumerate()
                    .map(|(k, (r, exp, reason, stage))| QuarantineRow {
                        file: files.as_ref().map(|f| f.value(*r).to_string()),
                        line: lines
                            .as_ref()
                            .and_then(|l| l.is_valid(*r).then(|| l.value(*r))),
                        stage,
                        expectation: exp.clone(),
                        reason: reason.clone(),
                        record: json.get(k).cloned(),
                    })
                    .collect();
                let b = quarantine_batch(run_id, slice, w, &rows)?;
                let replace = quarantine_scope(slice, w, "stage <> 'parse'");
                commit(&qpath, table, vec![b], Some(replace), &[], &qapp, false).await?;
            }
        }
        let mut out_cols: Vec<usize> = business
            .iter()
            .filter_map(|c| batch.schema().index_of(c).ok())
            .collect();
        out_cols.push(batch.schema().index_of("_watermark")?);
        let spath = self.lake.join("silver").join(table);
        let sapp = app_id("silver", table, slice, w);
        let merge = source.schema.is_none()
            || source.on_schema_change == crate::config::SchemaChange::AppendNewColumns;
        let rows_out;
        if cfg.mode == SilverMode::Merge {
            // Deletions take part in the MERGE (they delete their key's current row).
            let with_deletions: Vec<bool> = (0..n).map(|r| keep[r] || del.value(r)).collect();
            let mut cols = out_cols.clone();
            cols.push(batch.schema().index_of("_lg_deleted")?);
            let rows =
                filter_record_batch(&batch, &BooleanArray::from(with_deletions))?.project(&cols)?;
            rows_out = keep.iter().filter(|k| **k).count() as i64;
            let lock = self
                .merges
                .lock()
                .expect("merges lock")
                .entry(table.to_string())
                .or_default()
                .clone();
            let _one = lock.lock().await;
            // Rows of later micro-batches only: what they do not have is not gone.
            let incremental = since.is_some();
            merge_slice(
                &spath,
                table,
                rows,
                cfg,
                &source.slice_column,
                slice,
                &sapp,
                incremental,
            )
            .await?;
        } else {
            let kept =
                filter_record_batch(&batch, &BooleanArray::from(keep))?.project(&out_cols)?;
            rows_out = kept.num_rows() as i64;
            commit(
                &spath,
                table,
                vec![kept],
                Some(format!(
                    "{} = '{}'",
                    ident(&source.slice_column),
                    quote(slice)
                )),
                &[source.slice_column.clone()],
                &sapp,
                merge,
            )
            .await?;
        }
        let _ = source_name;
        Ok(SliceReport {
            status: "ok".into(),
            rows_in,
            rows_out,
            quarantined: quarantine.len() as i64,
            dropped,
            deleted: deleted_n,
            duplicates,
            warned,
            ..Default::default()
        })
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

    /// Appends the pass to `_lakegate/slices` and `_lakegate/ingest_runs`.
    async fn log(&self, report: &RunReport, started: chrono::DateTime<chrono::Utc>) -> Result<()> {
        let now = chrono::Utc::now().timestamp_micros();
        let n = report.slices.len();
        let s = |f: &dyn Fn(&SliceReport) -> Option<String>| -> ArrayRef {
            Arc::new(StringArray::from(
                report.slices.iter().map(f).collect::<Vec<_>>(),
            ))
        };
        let i = |f: &dyn Fn(&SliceReport) -> i64| -> ArrayRef {
            Arc::new(Int64Array::from(
                report.slices.iter().map(f).collect::<Vec<_>>(),
            ))
        };
        let ts = || {
            Arc::new(TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC")) as ArrayRef
        };
        let tsf = |name: &str| {
            Field::new(
                name,
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            )
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("run_id", DataType::Utf8, false),
            Field::new("source", DataType::Utf8, false),
            Field::new("table_name", DataType::Utf8, false),
            Field::new("slice_id", DataType::Utf8, false),
            Field::new("watermark", DataType::Utf8, false),
            Field::new("status", DataType::Utf8, false),
            Field::new("rows_in", DataType::Int64, false),
            Field::new("rows_out", DataType::Int64, false),
            Field::new("quarantined", DataType::Int64, false),
            Field::new("dropped", DataType::Int64, false),
            Field::new("deleted", DataType::Int64, false),
            Field::new("duplicates", DataType::Int64, false),
            Field::new("warned", DataType::Int64, false),
            Field::new("bytes", DataType::Int64, false),
            Field::new("duration_ms", DataType::Int64, false),
            Field::new("error", DataType::Utf8, true),
            tsf("finished_at"),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                s(&|_| Some(report.run_id.clone())),
                s(&|r| Some(r.source.clone())),
                s(&|r| Some(r.table.clone())),
                s(&|r| Some(r.slice.clone())),
                s(&|r| Some(r.watermark.clone())),
                s(&|r| Some(r.status.clone())),
                i(&|r| r.rows_in),
                i(&|r| r.rows_out),
                i(&|r| r.quarantined),
                i(&|r| r.dropped),
                i(&|r| r.deleted),
                i(&|r| r.duplicates),
                i(&|r| r.warned),
                i(&|r| r.bytes),
                i(&|r| r.duration_ms),
                s(&|r| r.error.clone()),
                ts(),
            ],
        )?;
        let path = self.lake.join("_lakegate/slices");
        append_log(&path, "slices", batch).await?;
        let runs = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("run_id", DataType::Utf8, false),
                tsf("started_at"),
                tsf("finished_at"),
                Field::new("slices_ok", DataType::Int64, false),
                Field::new("slices_failed", DataType::Int64, false),
                Field::new("slices_skipped", DataType::Int64, false),
                Field::new("files_read", DataType::Int64, false),
            ])),
            vec![
                Arc::new(StringArray::from(vec![report.run_id.clone()])),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![started.timestamp_micros()])
                        .with_timezone("UTC"),
                ),
                Arc::new(TimestampMicrosecondArray::from(vec![now]).with_timezone("UTC")),
                Arc::new(Int64Array::from(vec![
                    report.slices.iter().filter(|s| s.status == "ok").count() as i64,
                ])),
                Arc::new(Int64Array::from(vec![report.failed() as i64])),
                Arc::new(Int64Array::from(vec![report.skipped as i64])),
                Arc::new(Int64Array::from(vec![report.files_read as i64])),
            ],
        )?;
        append_log(
            &self.lake.join("_lakegate/ingest_runs"),
            "ingest_runs",
            runs,
        )
        .await?;
        Ok(())
    }
}

/// `mode: merge`: one Delta MERGE on `unique_key` for the slice's rows (flagged
/// `_lg_deleted` where `delete_when` holds), with the slice's transaction. A newer
/// `latest_by` wins, so a key that moved to another slice keeps exactly one current row, and
/// replaying an old slice cannot bring an old version back.
#[allow(clippy::too_many_arguments)]
async fn merge_slice(
    path: &LakePath,
    table: &str,
    rows: RecordBatch,
    cfg: &SilverConfig,
    slice_column: &str,
    slice: &str,
    app: &str,
    incremental: bool,
) -> Result<()> {
    let deleted = rows.schema().index_of("_lg_deleted")?;
    let business: Vec<String> = rows
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().to_string())
        .filter(|n| n != "_lg_deleted")
        .collect();
    let flag = rows.column(deleted).as_boolean().clone();
    let keep: Vec<usize> = (0..rows.num_columns()).filter(|i| *i != deleted).collect();
    let exists = path.is_table().await?;
    if exists && rows.num_rows() == 0 && !incremental {
        // An empty slice (gone from the source): the rows whose current version is in it go,
        // as in slice mode. A key that moved to another slice carries that slice by now.
        let props =
            CommitProperties::default().with_application_transaction(Transaction::new(app, 1));
        let table = path.open_delta().await?;
        let before = table.version();
        let (after, _) = table
            .delete()
            .with_predicate(format!("{} = '{}'", ident(slice_column), quote(slice)))
            .with_commit_properties(props)
            .await?;
        if after.version() != before {
            return Ok(());
        }
        // Nothing matched, so nothing was committed: an empty append records the transaction.
    }
    if !exists || rows.num_rows() == 0 {
        // Nothing to match against: an append of what is not a deletion, which records the
        // slice's transaction.
        let live = filter_record_batch(&rows, &datafusion::arrow::compute::not(&flag)?)?;
        commit(
            path,
            table,
            vec![live.project(&keep)?],
            None,
            &[slice_column.to_string()],
            app,
            false,
        )
        .await?;
        return Ok(());
    }
    let target = path.open_delta().await?;
    let ctx = SessionContext::new();
    let schema = Arc::new(rows.schema().project(&keep)?);
    let source = ctx.read_batch(rows)?;
    let on = cfg
        .unique_key
        .iter()
        .map(|k| format!("t.{} = s.{}", ident(k), ident(k)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let newer = match &cfg.latest_by {
        Some(l) => format!(
            "(t.{l} IS NULL OR s.{l} IS NOT NULL AND s.{l} >= t.{l})",
            l = ident(l)
        ),
        None => "true".into(),
    };
    let props = CommitProperties::default().with_application_transaction(Transaction::new(app, 1));
    let before = target.version();
    let in_slice = format!("t.{} = '{}'", ident(slice_column), quote(slice));
    let merge = target
        .merge(source, on)
        .with_source_alias("s")
        .with_target_alias("t")
        .with_commit_properties(props)
        // A column the source added since (bronze took it in) joins silver too.
        .with_merge_schema(true)
        .when_matched_delete(|d| d.predicate(format!("s._lg_deleted AND {newer}")))?
        .when_matched_update(|mut u| {
            u = u.predicate(format!("NOT s._lg_deleted AND {newer}"));
            for c in &business {
                u = u.update(ident(c), format!("s.{}", ident(c)));
            }
            u
        })?
        .when_not_matched_insert(|mut i| {
            i = i.predicate("NOT s._lg_deleted");
            for c in &business {
                i = i.set(ident(c), format!("s.{}", ident(c)));
            }
            i
        })?;
    // A row of this slice that the slice no longer has was deleted at the source (or moved to
    // a slice whose MERGE brings it back); rows of new micro-batches say nothing of the rest.
    let merge = if incremental {
        merge
    } else {
        merge.when_not_matched_by_source_delete(|d| d.predicate(in_slice))?
    };
    let (merged, metrics) = merge.await?;
    if merged.version() == before {
        // Nothing changed, so nothing was committed: an empty append records the slice.
        let empty = RecordBatch::new_empty(schema);
        commit(
            path,
            table,
            vec![empty],
            None,
            &[slice_column.to_string()],
            app,
            false,
        )
        .await?;
    }
    tracing::debug!(
        table,
        inserted = metrics.num_target_rows_inserted,
        updated = metrics.num_target_rows_updated,
        deleted = metrics.num_target_rows_deleted,
        "silver merge"
    );
    Ok(())
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

async fn append_log(path: &LakePath, name: &str, batch: RecordBatch) -> Result<()> {
    path.create()?;
    path.delta_or_new()
        .await?
        .write(vec![batch])
        .with_save_mode(SaveMode::Append)
        .with_table_name(name)
        .await?;
    Ok(())
}

/// Bronze rows: the typed columns, `_slice_id`, `_watermark`, the source position,
/// `_ingested_at` and `_run_id`.
fn with_lineage(batch: &RecordBatch, slice: &str, wm: &str, run: &str) -> Result<RecordBatch> {
    let n = batch.num_rows();
    let schema = batch.schema();
    let mut fields: Vec<Field> = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    for (f, c) in schema.fields().iter().zip(batch.columns()) {
        if f.name() == "_source_file" || f.name() == "_source_line" {
            continue;
        }
        fields.push(f.as_ref().clone());
        cols.push(c.clone());
    }
    fields.push(Field::new("_slice_id", DataType::Utf8, false));
    cols.push(Arc::new(StringArray::from(vec![slice; n])));
    fields.push(Field::new("_watermark", DataType::Utf8, false));
    cols.push(Arc::new(StringArray::from(vec![wm; n])));
    for name in ["_source_file", "_source_line"] {
        let i = schema.index_of(name)?;
        fields.push(schema.field(i).clone());
        cols.push(batch.column(i).clone());
    }
    let now = chrono::Utc::now().timestamp_micros();
    fields.push(Field::new(
        "_ingested_at",
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        false,
    ));
    cols.push(Arc::new(
        TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC"),
    ));
    fields.push(Field::new("_run_id", DataType::Utf8, false));
    cols.push(Arc::new(StringArray::from(vec![run; n])));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}

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
