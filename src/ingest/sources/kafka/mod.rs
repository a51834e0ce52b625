//! Kafka topics as a source: micro-batches straight into bronze, exactly once.
//!
//! The lake, not the broker, knows what was consumed: every bronze commit carries one Delta
//! application transaction per topic-partition (`lakegate:kafka:<source>:<topic>:<partition>`,
//! version = the next offset), as Spark's Delta sink does. A restart reads those offsets back
//! and fetches from there, so a crash anywhere repeats at most the micro-batch that did not
//! commit and no message lands twice. Consumer groups are not used (the client, `rskafka`,
//! reads partitions directly).
//!
//! One micro-batch: fetch up to `batch.max_rows` messages or for `batch.max_wait`; decode the
//! values (Avro by schema id from the registry, JSON, raw); messages that do not decode go to
//! `quarantine.<source>` (the dead-letter table, with their bytes, partition, offset and the
//! reason; its own per-partition transactions keep it exactly-once too); the rest is one
//! bronze append partitioned by the slice. Silver then runs for the slices the batch touched:
//! `mode: merge` merges the new rows, a replaced slice is recomputed from bronze. A marker
//! transaction per silver table records the last micro-batch silver has fully taken in.

mod decode;
mod registry;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Int32Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray, UInt32Array, new_null_array,
};
use datafusion::arrow::compute::{cast, concat_batches, filter_record_batch, take};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::{DeltaOperation, SaveMode};
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use tracing::{info, warn};

use super::super::{
    Ingestor, QuarantineRow, RunReport, Selection, SliceReport, app_id, committed, ident,
    open_table, quarantine_schema,
};
use crate::config::{KafkaStart, SilverMode, SourceConfig, ValueFormat};
use crate::ingest::{IngestError, LakePath, Result};

/// How long a fetch of a partition known to have messages may wait (never 0: see `fetch`).
const FIRST_WAIT_MS: i32 = 20;

/// Bytes asked for per partition per fetch.
const FETCH_BYTES: i32 = 8 << 20;

/// The columns bronze keeps of every message, beside the decoded value's.
pub const MESSAGE_COLUMNS: [&str; 7] = [
    "_kafka_topic",
    "_kafka_partition",
    "_kafka_offset",
    "_kafka_timestamp",
    "_kafka_key",
    "_kafka_headers",
    "_kafka_tombstone",
];

/// What a Kafka source keeps between passes of one process: the connection, the lake's
/// offsets (read from bronze once, then advanced by our own commits), known schemas.
#[derive(Default)]
pub struct Stream {
    client: Option<Arc<rskafka::client::Client>>,
    partitions: BTreeMap<i32, Arc<PartitionClient>>,
    /// Next offset per partition, as bronze records it.
    offsets: Option<BTreeMap<i32, i64>>,
    /// Next offset per partition the dead-letter table holds (what it already has).
    dead: Option<BTreeMap<i32, i64>>,
    registry: Option<registry::Registry>,
    /// Silver table → the micro-batch watermark silver has fully taken in.
    silver_done: HashMap<String, i64>,
    /// Bronze slice → files its micro-batches wrote since it was last compacted.
    small_files: HashMap<String, usize>,
    /// `kafka.group`'s coordinator, and the offsets last committed to it.
    group: Option<Arc<rskafka::client::group::GroupClient>>,
    group_offsets: BTreeMap<i32, i64>,
}

impl Stream {
    /// After any failure: connect again and re-read the lake's offsets.
    fn reset(&mut self) {
        self.client = None;
        self.partitions.clear();
        self.offsets = None;
        self.dead = None;
        self.silver_done.clear();
        self.group = None;
        self.group_offsets.clear();
    }

    /// Tells `kafka.group` the lake's offsets, so the group tooling (`kafka-consumer-groups`,
    /// Burrow, lag exporters) sees how far lakegate has read. Advisory only: the lake's own
    /// offsets are what a restart resumes from, so a failure here is logged and retried with
    /// the next batch, never fails ingestion.
    async fn advise_group(&mut self, name: &str, topic: &str) {
        let (Some(group), Some(offsets)) = (&self.group, &self.offsets) else {
            return;
        };
        if *offsets == self.group_offsets {
            return;
        }
        let list: Vec<(i32, i64)> = offsets.iter().map(|(p, o)| (*p, *o)).collect();
        match group.commit_offsets(topic, &list).await {
            Ok(()) => self.group_offsets = offsets.clone(),
            Err(e) => tracing::warn!(
                source = name,
                "committing the lake's offsets to kafka.group failed (advisory; retried): {e}"
            ),
        }
    }
}

/// Where one partition of a Kafka source stands, as this process last saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    pub source: String,
    pub topic: String,
    pub partition: i32,
    /// The next offset bronze holds.
    pub lake_offset: i64,
    /// The broker's high watermark at the last fetch.
    pub high_watermark: i64,
    pub seen_at: chrono::DateTime<chrono::Utc>,
}

/// Where each partition of this server's Kafka sources stands (the status page shows them).
#[derive(Debug, Default)]
pub struct KafkaPositions(std::sync::Mutex<BTreeMap<(String, i32), Position>>);

impl KafkaPositions {
    /// Every partition consumed, with its lag.
    pub fn all(&self) -> Vec<Position> {
        self.0
            .lock()
            .expect("positions lock")
            .values()
            .cloned()
            .collect()
    }

    fn record(&self, source: &str, topic: &str, partition: i32, offset: i64, high: i64) {
        let m = crate::metrics::metrics();
        let label = crate::metrics::PartitionLabel {
            source: source.to_string(),
            topic: topic.to_string(),
            partition: partition as i64,
        };
        m.kafka_lag
            .get_or_create(&label)
            .set((high - offset).max(0));
        m.kafka_offset.get_or_create(&label).set(offset);
        self.0.lock().expect("positions lock").insert(
            (source.to_string(), partition),
            Position {
                source: source.to_string(),
                topic: topic.to_string(),
                partition,
                lake_offset: offset,
                high_watermark: high,
                seen_at: chrono::Utc::now(),
            },
        );
    }
}

pub fn offset_app(source: &str, topic: &str, partition: i32) -> String {
    format!("lakegate:kafka:{source}:{topic}:{partition}")
}

fn dead_app(source: &str, topic: &str, partition: i32) -> String {
    format!("lakegate:kafka-dead:{source}:{topic}:{partition}")
}

fn silver_marker(table: &str) -> String {
    format!("lakegate:kafka-silver:{table}")
}

/// A micro-batch's watermark: the sum of the next offsets over all partitions, zero-padded
/// so text order is number order (it grows with every batch that consumed anything).
fn watermark(offsets: &BTreeMap<i32, i64>) -> (i64, String) {
    let n: i64 = offsets.values().sum();
    (n, format!("{n:020}"))
}

struct Message {
    partition: i32,
    offset: i64,
    record: rskafka::record::Record,
}

/// One micro-batch as fetched: its messages in (partition, offset) order, each partition's
/// next offset after them, and each partition's high watermark.
struct Fetched {
    msgs: Vec<Message>,
    next: BTreeMap<i32, i64>,
    high: BTreeMap<i32, i64>,
}

/// The source a micro-batch belongs to, and the ingestion run reading it.
#[derive(Clone, Copy)]
struct Job<'a> {
    run_id: &'a str,
    name: &'a str,
    source: &'a SourceConfig,
}

/// Text of bytes that are UTF-8; anything else as Postgres' `\x` hex.
fn text(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_string(),
        Err(_) => format!("\\x{}", hex::encode(b)),
    }
}

async fn connect(name: &str, source: &SourceConfig) -> Result<rskafka::client::Client> {
    let k = source.kafka.as_ref().expect("a kafka source");
    let mut b = rskafka::client::ClientBuilder::new(k.brokers.clone()).client_id("lakegate");
    if let Some(sec) = &k.security {
        if let Some(tls) = &sec.tls {
            use crate::config::KafkaTls;
            let mut roots = tokio_rustls::rustls::RootCertStore::empty();
            match tls {
                KafkaTls::On(false) => {}
                KafkaTls::On(true) => {
                    for c in rustls_native_certs::load_native_certs().certs {
                        let _ = roots.add(c);
                    }
                }
                KafkaTls::Ca { ca } => {
                    use rustls_pki_types::pem::PemObject;
                    for c in rustls_pki_types::CertificateDer::pem_file_iter(ca).map_err(|e| {
                        IngestError::Config(format!(
                            "sources.{name}.kafka.security.tls.ca {}: {e}",
                            ca.display()
                        ))
                    })? {
                        let c = c.map_err(|e| {
                            IngestError::Config(format!(
                                "sources.{name}.kafka.security.tls.ca {}: {e}",
                                ca.display()
                            ))
                        })?;
                        roots.add(c).map_err(|e| {
                            IngestError::Config(format!(
                                "sources.{name}.kafka.security.tls.ca {}: {e}",
                                ca.display()
                            ))
                        })?;
                    }
                }
            }
            if !matches!(tls, KafkaTls::On(false)) {
                let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(Arc::new(
                    tokio_rustls::rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .map_err(|e| IngestError::Config(format!("sources.{name}: tls: {e}")))?
                .with_root_certificates(roots)
                .with_no_client_auth();
                b = b.tls_config(Arc::new(config));
            }
        }
        if let Some(s) = &sec.sasl {
            use rskafka::client::{Credentials, SaslConfig};
            let password = crate::secrets::resolve_secret(
                &format!("sources.{name}.kafka.security.sasl.password"),
                &s.password,
            )
            .map_err(IngestError::Config)?;
            let c = Credentials::new(s.username.clone(), password);
            b = b.sasl_config(match s.mechanism.to_ascii_uppercase().as_str() {
                "PLAIN" => SaslConfig::Plain(c),
                "SCRAM-SHA-512" => SaslConfig::ScramSha512(c),
                _ => SaslConfig::ScramSha256(c),
            });
        }
    }
    let brokers = k.brokers.join(",");
    let client = tokio::time::timeout(source.timeout.min(Duration::from_secs(30)), b.build())
        .await
        .map_err(|_| {
            IngestError::Source(format!(
                "sources.{name}: Kafka brokers {brokers}: no answer"
            ))
        })?
        .map_err(|e| {
            IngestError::Source(format!("sources.{name}: Kafka brokers {brokers}: {e}"))
        })?;
    Ok(client)
}

impl Ingestor {
    /// One pass over a Kafka source: micro-batches until caught up with the broker (or one
    /// micro-batch when `selection.stream_batches` says so).
    pub(in crate::ingest) async fn kafka_pass(
        &self,
        run_id: &str,
        name: &str,
        source: &SourceConfig,
        selection: &Selection,
        report: &mut RunReport,
    ) {
        let state = self
            .streams
            .lock()
            .expect("streams lock")
            .entry(name.to_string())
            .or_default()
            .clone();
        let mut st = state.lock().await;
        if let Err(e) = self
            .kafka_batches(run_id, name, source, selection, &mut st, report)
            .await
        {
            st.reset();
            warn!(source = %name, error = %e, "kafka source not read; nothing served changes");
            self.alert(&format!("bronze.{name}"), "*", "", &e.to_string());
            report.slices.push(SliceReport {
                source: name.into(),
                table: format!("bronze.{name}"),
                slice: "*".into(),
                status: "failed".into(),
                error: Some(e.to_string()),
                ..Default::default()
            });
        }
    }

    async fn kafka_batches(
        &self,
        run_id: &str,
        name: &str,
        source: &SourceConfig,
        selection: &Selection,
        st: &mut Stream,
        report: &mut RunReport,
    ) -> Result<()> {
        let k = source.kafka.as_ref().expect("a kafka source");
        let topic = k.topic.as_str();
        let bronze_path = self.lake.join("bronze").join(name);
        let dead_path = self.lake.join("quarantine").join(name);
        if st.client.is_none() {
            st.client = Some(Arc::new(connect(name, source).await?));
        }
        let client = st.client.clone().expect("connected");
        if let Some(g) = &k.group
            && st.group.is_none()
        {
            st.group = Some(Arc::new(client.group_client(g.clone())));
        }
        // Partitions are looked up every pass: a topic can grow.
        let topics = client
            .list_topics()
            .await
            .map_err(|e| IngestError::Source(format!("sources.{name}: Kafka metadata: {e}")))?;
        let Some(t) = topics.into_iter().find(|t| t.name == topic) else {
            return Err(IngestError::Source(format!(
                "sources.{name}: topic `{topic}` does not exist on {}",
                k.brokers.join(",")
            )));
        };
        for p in &t.partitions {
            if !st.partitions.contains_key(p) {
                let pc = client
                    .partition_client(topic, *p, UnknownTopicHandling::Retry)
                    .await
                    .map_err(|e| {
                        IngestError::Source(format!("sources.{name}: {topic}/{p}: {e}"))
                    })?;
                st.partitions.insert(*p, Arc::new(pc));
            }
        }
        let mut bronze = open_table(&bronze_path).await?;
        if st.offsets.is_none() || st.dead.is_none() {
            let dead = open_table(&dead_path).await?;
            let mut offsets = BTreeMap::new();
            let mut dead_offsets = BTreeMap::new();
            for p in st.partitions.keys() {
                if let Some(v) = txn_version(&bronze, &offset_app(name, topic, *p)).await? {
                    offsets.insert(*p, v);
                }
                if let Some(v) = txn_version(&dead, &dead_app(name, topic, *p)).await? {
                    dead_offsets.insert(*p, v);
                }
            }
            st.offsets = Some(offsets);
            st.dead = Some(dead_offsets);
        }
        // Partitions the lake has no offset for start where `kafka.start` says; the start is
        // committed at once, so a restart cannot move it (`latest` would).
        // A partition added to a topic the lake already reads starts at its beginning: all
        // of it is new.
        let mut started = Vec::new();
        let known = !st.offsets.as_ref().expect("read").is_empty();
        for (p, pc) in &st.partitions {
            if st.offsets.as_ref().expect("read").contains_key(p) {
                continue;
            }
            let at = match k.start {
                KafkaStart::Latest if !known => OffsetAt::Latest,
                _ => OffsetAt::Earliest,
            };
            let o = pc
                .get_offset(at)
                .await
                .map_err(|e| IngestError::Source(format!("sources.{name}: {topic}/{p}: {e}")))?;
            started.push((*p, o));
        }
        if !started.is_empty() {
            let txns = started
                .iter()
                .map(|(p, o)| Transaction::new(offset_app(name, topic, *p), *o))
                .collect();
            bronze = Some(commit_txns(&bronze_path, name, bronze, txns).await?);
            for (p, o) in started {
                st.offsets.as_mut().expect("read").insert(p, o);
            }
        }
        st.advise_group(name, topic).await;
        let mut batches = 0usize;
        loop {
            let drain = selection.stream_batches.is_none();
            let fetched = self.fetch(name, topic, source, st, drain).await?;
            for (p, h) in &fetched.high {
                self.kafka.record(
                    name,
                    topic,
                    *p,
                    fetched.next.get(p).copied().unwrap_or_default(),
                    *h,
                );
            }
            let moved = fetched.next != *st.offsets.as_ref().expect("read");
            if fetched.msgs.is_empty() && !moved {
                break;
            }
            let (next, high) = (fetched.next.clone(), fetched.high.clone());
            let job = Job {
                run_id,
                name,
                source,
            };
            bronze = Some(self.kafka_commit(job, st, bronze, fetched, report).await?);
            st.offsets = Some(next.clone());
            st.advise_group(name, topic).await;
            self.kafka_silver(job, st, bronze.as_ref().expect("committed"), report)
                .await?;
            batches += 1;
            let caught_up = high
                .iter()
                .all(|(p, h)| next.get(p).is_some_and(|o| o >= h));
            if caught_up || selection.stream_batches.is_some_and(|n| batches >= n) {
                break;
            }
        }
        Ok(())
    }

    /// One micro-batch's messages: up to `max_rows`, waiting at most `max_wait` for the first
    /// ones (not at all when draining for `--once`).
    async fn fetch(
        &self,
        name: &str,
        topic: &str,
        source: &SourceConfig,
        st: &Stream,
        drain: bool,
    ) -> Result<Fetched> {
        use futures::StreamExt;
        let b = source.batch();
        let deadline = Instant::now() + b.max_wait;
        let mut next = st.offsets.clone().expect("read");
        let mut high: BTreeMap<i32, i64> = BTreeMap::new();
        let mut msgs: Vec<Message> = Vec::new();
        let mut first = true;
        loop {
            // The first round asks every partition, later rounds the partitions still behind
            // (20 ms: Tansu answers a 0 ms fetch with no partitions at all, which the client
            // takes for an error), or (nothing there yet) long-poll all of them and take the
            // first that answers with messages.
            let behind: Vec<i32> = st
                .partitions
                .keys()
                .copied()
                .filter(|p| {
                    first
                        || high
                            .get(p)
                            .is_none_or(|h| next.get(p).is_none_or(|o| o < h))
                })
                .collect();
            let remaining = deadline.saturating_duration_since(Instant::now());
            let (ask, wait_ms): (Vec<i32>, i32) = if first || !behind.is_empty() {
                (behind, FIRST_WAIT_MS)
            } else if msgs.is_empty() && !drain && !remaining.is_zero() {
                (
                    st.partitions.keys().copied().collect(),
                    remaining.as_millis().clamp(1, 30_000) as i32,
                )
            } else {
                break;
            };
            first = false;
            let mut futs = futures::stream::FuturesUnordered::new();
            for p in ask {
                let pc = st.partitions[&p].clone();
                let o = next[&p];
                futs.push(async move {
                    (
                        p,
                        pc.fetch_records_through(o, 1..FETCH_BYTES, wait_ms).await,
                    )
                });
            }
            let timeout =
                source.timeout.min(Duration::from_secs(60)) + Duration::from_millis(wait_ms as u64);
            let until = tokio::time::Instant::now() + timeout;
            let long_poll = wait_ms > 0;
            while let Some(r) = tokio::time::timeout_at(until, futs.next())
                .await
                .map_err(|_| {
                    IngestError::Source(format!("sources.{name}: {topic}: fetch timed out"))
                })?
            {
                let (p, r) = r;
                let (records, hw, through) = r.map_err(|e| {
                    IngestError::Source(format!(
                        "sources.{name}: {topic}/{p} at offset {}: {e}",
                        next[&p]
                    ))
                })?;
                high.insert(p, hw);
                let got = !records.is_empty();
                let mut all = true;
                for rec in records {
                    if msgs.len() >= b.max_rows {
                        all = false;
                        break;
                    }
                    next.insert(p, rec.offset + 1);
                    msgs.push(Message {
                        partition: p,
                        offset: rec.offset,
                        record: rec.record,
                    });
                }
                // Past commit markers and aborted transactions too, when every record of
                // the answer was taken (else from the first one left for the next batch).
                if all && through > next[&p] {
                    next.insert(p, through);
                }
                if long_poll && got {
                    break;
                }
            }
            if msgs.len() >= b.max_rows {
                break;
            }
            if Instant::now() >= deadline && !msgs.is_empty() {
                break;
            }
        }
        msgs.sort_by_key(|m| (m.partition, m.offset));
        Ok(Fetched { msgs, next, high })
    }

    /// Decodes one micro-batch and commits it: dead letters first (their own transactions),
    /// then bronze with the partitions' next offsets in the same commit as the rows.
    async fn kafka_commit(
        &self,
        job: Job<'_>,
        st: &mut Stream,
        bronze: Option<DeltaTable>,
        fetched: Fetched,
        report: &mut RunReport,
    ) -> Result<DeltaTable> {
        let Job {
            run_id,
            name,
            source,
        } = job;
        let Fetched { msgs, next, .. } = fetched;
        let t0 = Instant::now();
        let k = source.kafka.as_ref().expect("a kafka source");
        let topic = k.topic.as_str();
        let (_, wm) = watermark(&next);
        let values: Vec<Option<&[u8]>> = msgs.iter().map(|m| m.record.value.as_deref()).collect();
        let value = source.value.clone().unwrap_or_default();
        let mut decoded = match value.format {
            ValueFormat::Raw => decode::raw(&values),
            ValueFormat::Json => {
                let columns = match &source.schema {
                    Some(s) => Some(
                        s.0.iter()
                            .map(|(n, t)| {
                                Ok((
                                    n.clone(),
                                    crate::ingest::parse_type(t).map_err(IngestError::Config)?,
                                ))
                            })
                            .collect::<Result<Vec<_>>>()?,
                    ),
                    None => None,
                };
                decode::json(&values, source, columns)?
            }
            ValueFormat::Avro => {
                if st.registry.is_none() {
                    st.registry = Some(registry::Registry::new(
                        name,
                        value.registry.as_deref().expect("checked"),
                        value.registry_auth.as_deref(),
                        source.timeout,
                    )?);
                }
                let reg = st.registry.as_mut().expect("made");
                let ids: BTreeSet<u32> = values
                    .iter()
                    .flatten()
                    .filter_map(|v| decode::confluent_id(v).ok())
                    .collect();
                let mut schemas = HashMap::new();
                for id in ids {
                    if let Some(s) = reg.schema(id).await? {
                        schemas.insert(id, s);
                    }
                }
                decode::avro(&values, &schemas)
            }
        };
        let existing: Option<SchemaRef> = match &bronze {
            Some(t) => Some(t.snapshot()?.snapshot().arrow_schema()),
            None => None,
        };
        let rows = self.bronze_rows(
            name,
            source,
            &msgs,
            &mut decoded,
            existing.as_ref(),
            &wm,
            run_id,
        )?;
        let bytes: i64 = values.iter().flatten().map(|v| v.len() as i64).sum();
        // Dead letters: only what the dead-letter table does not hold yet (a micro-batch
        // repeated after a crash between the two commits).
        let dead_done = st.dead.clone().unwrap_or_default();
        let dead: Vec<&(u32, String)> = decoded
            .rejects
            .iter()
            .filter(|(i, _)| {
                let m = &msgs[*i as usize];
                dead_done.get(&m.partition).is_none_or(|d| m.offset >= *d)
            })
            .collect();
        let dead_path = self.lake.join("quarantine").join(name);
        if !dead.is_empty() {
            let batch = dead_letters(run_id, topic, &wm, &msgs, &dead)?;
            let txns: Vec<Transaction> = next
                .iter()
                .map(|(p, o)| Transaction::new(dead_app(name, topic, *p), *o))
                .collect();
            dead_path.create()?;
            let table = dead_path.delta_or_new().await?;
            table
                .write(vec![batch])
                .with_table_name(name)
                .with_save_mode(SaveMode::Append)
                .with_commit_properties(
                    CommitProperties::default().with_application_transactions(txns),
                )
                .await?;
            st.dead = Some(next.clone());
        }
        let txns: Vec<Transaction> = next
            .iter()
            .map(|(p, o)| Transaction::new(offset_app(name, topic, *p), *o))
            .collect();
        let bronze_path = self.lake.join("bronze").join(name);
        let per_slice = slice_counts(&rows)?;
        let table = if rows.num_rows() == 0 {
            commit_txns(&bronze_path, name, bronze, txns).await?
        } else {
            bronze_path.create()?;
            let exists = bronze.is_some();
            let table = match bronze {
                Some(t) => t,
                None => bronze_path.delta_or_new().await?,
            };
            let mut w = table
                .write(vec![rows.clone()])
                .with_table_name(name)
                .with_save_mode(SaveMode::Append)
                .with_partition_columns(vec!["_slice_id".to_string()])
                .with_commit_properties(
                    CommitProperties::default().with_application_transactions(txns),
                );
            if exists {
                w = w.with_schema_mode(SchemaMode::Merge);
            }
            w.await?
        };
        info!(source = %name, messages = msgs.len(), rows = rows.num_rows(), dead = dead.len(), watermark = %wm, elapsed = ?t0.elapsed(), "kafka micro-batch committed");
        let table = compact(name, st, table, per_slice.keys()).await?;
        let ms = t0.elapsed().as_millis() as i64;
        for (slice, n) in per_slice {
            report.slices.push(SliceReport {
                source: name.into(),
                table: format!("bronze.{name}"),
                slice,
                watermark: wm.clone(),
                status: "ok".into(),
                rows_in: n,
                rows_out: n,
                duration_ms: ms,
                ..Default::default()
            });
        }
        if !decoded.rejects.is_empty() {
            report.slices.push(SliceReport {
                source: name.into(),
                table: format!("quarantine.{name}"),
                slice: String::new(),
                watermark: wm.clone(),
                status: "ok".into(),
                rows_in: decoded.rejects.len() as i64,
                quarantined: dead.len() as i64,
                duration_ms: ms,
                ..Default::default()
            });
        }
        // The micro-batch's bytes, once (on its last bronze slice).
        if let Some(last) = report
            .slices
            .iter_mut()
            .rev()
            .find(|s| s.table == format!("bronze.{name}") && s.watermark == wm)
        {
            last.bytes = bytes;
        }
        Ok(table)
    }

    /// Bronze rows of a micro-batch: the value's columns in bronze's column order (new ones
    /// after, missing ones NULL), the message's, the slice, lineage. A group whose schema
    /// cannot join bronze's, and a row whose slice is NULL, become dead letters.
    #[allow(clippy::too_many_arguments)]
    fn bronze_rows(
        &self,
        name: &str,
        source: &SourceConfig,
        msgs: &[Message],
        decoded: &mut decode::Decoded,
        existing: Option<&SchemaRef>,
        wm: &str,
        run_id: &str,
    ) -> Result<RecordBatch> {
        let topic = source.kafka.as_ref().expect("a kafka source").topic.clone();
        let reserved =
            |n: &str| n.starts_with("_kafka_") || super::super::BRONZE_LINEAGE.contains(&n);
        // The value columns bronze has, then the ones groups bring.
        let mut fields: Vec<Field> = existing
            .map(|s| {
                s.fields()
                    .iter()
                    .filter(|f| !reserved(f.name()) && f.name() != &source.slice_column)
                    .map(|f| f.as_ref().clone())
                    .collect()
            })
            .unwrap_or_default();
        let mut groups = Vec::new();
        'groups: for g in std::mem::take(&mut decoded.groups) {
            let mut cols = Vec::new();
            for (f, c) in g.batch.schema().fields().iter().zip(g.batch.columns()) {
                let why = if reserved(f.name()) {
                    Some(format!(
                        "the value's field `{}` uses a name lakegate reserves",
                        f.name()
                    ))
                } else {
                    decode::unsupported(f.data_type())
                };
                if let Some(why) = why {
                    for r in &g.rows {
                        decoded.rejects.push((*r, why.clone()));
                    }
                    continue 'groups;
                }
                let t = decode::delta_type(f.data_type());
                let c = if &t == c.data_type() {
                    c.clone()
                } else {
                    cast(c, &t)?
                };
                match fields.iter().find(|e| e.name() == f.name()) {
                    Some(e) if e.data_type() == &t => cols.push((f.name().clone(), c)),
                    // The same type as Delta names it (list items are `element`, nested
                    // nullability as the table has it).
                    Some(e) if shape(e.data_type()) == shape(&t) => {
                        cols.push((f.name().clone(), cast(&c, e.data_type())?))
                    }
                    Some(e) if widens(&t, e.data_type()) => {
                        cols.push((f.name().clone(), cast(&c, e.data_type())?))
                    }
                    Some(e) => {
                        let id = g
                            .schema_id
                            .map(|i| format!("schema id {i}: "))
                            .unwrap_or_default();
                        let why = format!(
                            "{id}field `{}` is {} but bronze.{name} has it as {} (an incompatible schema change)",
                            f.name(),
                            pg_type(&t),
                            pg_type(e.data_type()),
                        );
                        for r in &g.rows {
                            decoded.rejects.push((*r, why.clone()));
                        }
                        continue 'groups;
                    }
                    None => cols.push((f.name().clone(), c)),
                }
            }
            for (n, c) in &cols {
                if !fields.iter().any(|e| e.name() == n) {
                    fields.push(Field::new(n, c.data_type().clone(), true));
                }
            }
            groups.push((g.rows, cols));
        }
        // Every group on the same columns, one batch in message order.
        let value_schema = Arc::new(Schema::new(fields.clone()));
        let mut parts = Vec::new();
        let mut order: Vec<u32> = Vec::new();
        for (rows, cols) in &groups {
            let n = rows.len();
            let arrays: Vec<ArrayRef> = fields
                .iter()
                .map(|f| {
                    cols.iter()
                        .find(|(c, _)| c == f.name())
                        .map(|(_, a)| a.clone())
                        .unwrap_or_else(|| new_null_array(f.data_type(), n))
                })
                .collect();
            parts.push(RecordBatch::try_new_with_options(
                value_schema.clone(),
                arrays,
                &datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(n)),
            )?);
            order.extend(rows);
        }
        let values = concat_batches(&value_schema, &parts)?;
        // Message columns, taken in the rows' order.
        let idx = UInt32Array::from(order.clone());
        let n = order.len();
        let ts = TimestampMicrosecondArray::from(
            msgs.iter()
                .map(|m| m.record.timestamp.timestamp_micros())
                .collect::<Vec<_>>(),
        )
        .with_timezone("UTC");
        let headers: StringArray = msgs
            .iter()
            .map(|m| {
                (!m.record.headers.is_empty()).then(|| {
                    serde_json::Value::Object(
                        m.record
                            .headers
                            .iter()
                            .map(|(k, v)| (k.clone(), serde_json::Value::String(text(v))))
                            .collect(),
                    )
                    .to_string()
                })
            })
            .collect();
        let message_cols: Vec<(Field, ArrayRef)> = vec![
            (
                Field::new("_kafka_topic", DataType::Utf8, false),
                Arc::new(StringArray::from(vec![topic.as_str(); msgs.len()])),
            ),
            (
                Field::new("_kafka_partition", DataType::Int32, false),
                Arc::new(Int32Array::from(
                    msgs.iter().map(|m| m.partition).collect::<Vec<_>>(),
                )),
            ),
            (
                Field::new("_kafka_offset", DataType::Int64, false),
                Arc::new(Int64Array::from(
                    msgs.iter().map(|m| m.offset).collect::<Vec<_>>(),
                )),
            ),
            (
                Field::new(
                    "_kafka_timestamp",
                    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    false,
                ),
                Arc::new(ts),
            ),
            (
                Field::new("_kafka_key", DataType::Utf8, true),
                Arc::new(StringArray::from(
                    msgs.iter()
                        .map(|m| m.record.key.as_deref().map(text))
                        .collect::<Vec<_>>(),
                )),
            ),
            (
                Field::new("_kafka_headers", DataType::Utf8, true),
                Arc::new(headers),
            ),
            (
                Field::new("_kafka_tombstone", DataType::Boolean, false),
                Arc::new(BooleanArray::from(
                    msgs.iter()
                        .map(|m| m.record.value.is_none())
                        .collect::<Vec<_>>(),
                )),
            ),
        ];
        let mut all_fields: Vec<Field> = fields.clone();
        let mut all_cols: Vec<ArrayRef> = values.columns().to_vec();
        for (f, c) in &message_cols {
            all_fields.push(f.clone());
            all_cols.push(take(c.as_ref(), &idx, None)?);
        }
        let batch = RecordBatch::try_new_with_options(
            Arc::new(Schema::new(all_fields)),
            all_cols,
            &datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(n)),
        )?;
        // The slice: `slice:` over the value's and the message's columns, else the value's
        // own `slice_column`, else the hour of the message timestamp.
        let expr = match &source.slice {
            Some(e) => e.clone(),
            None if fields.iter().any(|f| f.name() == &source.slice_column) => {
                ident(&source.slice_column)
            }
            None => "date_trunc('hour', _kafka_timestamp)".to_string(),
        };
        let slice_values = eval(&batch, &expr)
            .map_err(|e| IngestError::Config(format!("sources.{name}.slice `{expr}`: {e}")))?;
        let slice_values = {
            let t = decode::delta_type(slice_values.data_type());
            if &t == slice_values.data_type() {
                slice_values
            } else {
                cast(&slice_values, &t)?
            }
        };
        let slice_ids = cast(&slice_values, &DataType::Utf8)?;
        let mut keep = vec![true; n];
        for (r, k) in keep.iter_mut().enumerate() {
            if slice_ids.is_null(r) {
                *k = false;
                decoded
                    .rejects
                    .push((order[r], format!("the slice `{expr}` is NULL")));
            }
        }
        // Bronze: value columns, the slice column, message columns, lineage.
        let schema = batch.schema();
        let mut out_fields: Vec<Field> = Vec::new();
        let mut out_cols: Vec<ArrayRef> = Vec::new();
        for (i, f) in schema.fields().iter().enumerate() {
            if f.name() == &source.slice_column {
                continue;
            }
            if i == fields.len() {
                out_fields.push(Field::new(
                    &source.slice_column,
                    slice_values.data_type().clone(),
                    true,
                ));
                out_cols.push(slice_values.clone());
            }
            out_fields.push(f.as_ref().clone());
            out_cols.push(batch.column(i).clone());
        }
        let now = chrono::Utc::now().timestamp_micros();
        let lineage: Vec<(Field, ArrayRef)> = vec![
            (
                Field::new("_slice_id", DataType::Utf8, false),
                slice_ids.clone(),
            ),
            (
                Field::new("_watermark", DataType::Utf8, false),
                Arc::new(StringArray::from(vec![wm; n])),
            ),
            (
                Field::new("_source_file", DataType::Utf8, false),
                Arc::new(StringArray::from(
                    order
                        .iter()
                        .map(|i| format!("kafka:{topic}/{}", msgs[*i as usize].partition))
                        .collect::<Vec<_>>(),
                )),
            ),
            (
                Field::new("_source_line", DataType::Int64, true),
                Arc::new(Int64Array::from(
                    order
                        .iter()
                        .map(|i| msgs[*i as usize].offset)
                        .collect::<Vec<_>>(),
                )),
            ),
            (
                Field::new(
                    "_ingested_at",
                    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    false,
                ),
                Arc::new(TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC")),
            ),
            (
                Field::new("_run_id", DataType::Utf8, false),
                Arc::new(StringArray::from(vec![run_id; n])),
            ),
        ];
        for (f, c) in lineage {
            out_fields.push(f);
            out_cols.push(c);
        }
        let out = RecordBatch::try_new_with_options(
            Arc::new(Schema::new(out_fields)),
            out_cols,
            &datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(n)),
        )?;
        Ok(if keep.iter().all(|k| *k) {
            out
        } else {
            filter_record_batch(&out, &BooleanArray::from(keep))?
        })
    }

    /// Silver for the slices bronze holds beyond what silver has taken in.
    async fn kafka_silver(
        &self,
        job: Job<'_>,
        st: &mut Stream,
        bronze: &DeltaTable,
        report: &mut RunReport,
    ) -> Result<()> {
        let Job {
            run_id,
            name,
            source,
        } = job;
        let (now_n, wm) = watermark(st.offsets.as_ref().expect("read"));
        for (table, cfg) in self.silver_of(name) {
            let spath = self.lake.join("silver").join(table);
            let silver = open_table(&spath).await?;
            let done = match st.silver_done.get(table.as_str()) {
                Some(d) => *d,
                None => txn_version(&silver, &silver_marker(table))
                    .await?
                    .unwrap_or(-1),
            };
            if done >= now_n {
                continue;
            }
            let since = format!("{done:020}");
            let ctx = SessionContext::new();
            ctx.register_table("bronze", crate::catalog::delta_provider(bronze).await?)?;
            let pending: Vec<String> = ctx
                .sql(&format!(
                    "SELECT DISTINCT _slice_id FROM bronze WHERE _watermark > '{since}' ORDER BY 1"
                ))
                .await?
                .collect()
                .await?
                .iter()
                .flat_map(|b| {
                    let c = cast(b.column(0), &DataType::Utf8).expect("text casts to text");
                    let s = c.as_string::<i32>();
                    (0..s.len())
                        .map(|i| s.value(i).to_string())
                        .collect::<Vec<_>>()
                })
                .collect();
            let mut all_ok = true;
            for slice in &pending {
                if committed(&silver, &app_id("silver", table, slice, &wm)).await? {
                    continue;
                }
                // A merge takes the new rows; a replaced slice is recomputed whole.
                let job = crate::ingest::silver::SilverJob {
                    run_id,
                    source_name: name,
                    source,
                    table,
                    cfg,
                    bronze,
                    fresh: None,
                    slice,
                    watermark: &wm,
                    force: false,
                    since: (cfg.mode == SilverMode::Merge).then_some(since.as_str()),
                };
                let rep = self
                    .silver_reported(&job, crate::ingest::silver::OnFailure::Retry)
                    .await;
                all_ok &= rep.status != "failed";
                report.slices.push(rep);
            }
            if all_ok {
                let silver = open_table(&spath).await?;
                if silver.is_some() {
                    commit_txns(
                        &spath,
                        table,
                        silver,
                        vec![Transaction::new(silver_marker(table), now_n)],
                    )
                    .await?;
                    st.silver_done.insert(table.clone(), now_n);
                }
            }
        }
        Ok(())
    }
}

/// A type with nested field names and nullability left out: what makes two types the same
/// column for Delta (Arrow names list items `item`, Delta `element`).
fn shape(t: &DataType) -> DataType {
    let f = |f: &Field| Field::new(f.name(), shape(f.data_type()), true);
    match t {
        DataType::List(i) => {
            DataType::List(Arc::new(Field::new("element", shape(i.data_type()), true)))
        }
        DataType::Struct(fs) => DataType::Struct(fs.iter().map(|x| f(x)).collect()),
        DataType::Map(e, sorted) => DataType::Map(
            Arc::new(Field::new("entries", shape(e.data_type()), false)),
            *sorted,
        ),
        other => other.clone(),
    }
}

/// Files a bronze slice may gather from micro-batches before they are compacted into one.
const COMPACT_AFTER: usize = 32;

/// Every micro-batch adds a small file to each slice it touches; once a slice has
/// [`COMPACT_AFTER`] of them they are rewritten as one (Delta OPTIMIZE of that partition: the
/// rows, the offsets and the dead letters stay as they are).
async fn compact<'a>(
    name: &str,
    st: &mut Stream,
    mut table: DeltaTable,
    slices: impl Iterator<Item = &'a String>,
) -> Result<DeltaTable> {
    for slice in slices {
        let n = st.small_files.entry(slice.clone()).or_insert(0);
        *n += 1;
        if *n < COMPACT_AFTER {
            continue;
        }
        let t0 = Instant::now();
        let filters = [deltalake::PartitionFilter::try_from((
            "_slice_id",
            "=",
            slice.as_str(),
        ))?];
        let (t, metrics) = table
            .optimize()
            .with_filters(&filters)
            .with_target_size(std::num::NonZeroU64::new(128 << 20).expect("not zero"))
            .await?;
        table = t;
        *n = 0;
        info!(source = %name, %slice, removed = metrics.num_files_removed, added = metrics.num_files_added, elapsed = ?t0.elapsed(), "bronze slice compacted");
    }
    Ok(table)
}

/// A column type as a Postgres user reads it.
fn pg_type(t: &DataType) -> String {
    match t {
        DataType::Utf8 => "text".into(),
        DataType::List(f) => format!("{}[]", pg_type(f.data_type())),
        DataType::Struct(_) => "record".into(),
        other => crate::ingest::read::type_name(other),
    }
}

/// A safe widening of a new value column into bronze's existing type.
fn widens(from: &DataType, to: &DataType) -> bool {
    matches!(
        (from, to),
        (DataType::Int32, DataType::Int64)
            | (DataType::Float32, DataType::Float64)
            | (DataType::Int32, DataType::Float64)
            | (DataType::Date32, DataType::Timestamp(..))
    )
}

/// The version of an application transaction a table records.
async fn txn_version(table: &Option<DeltaTable>, app: &str) -> Result<Option<i64>> {
    let Some(t) = table else { return Ok(None) };
    Ok(t.snapshot()?
        .transaction_version(t.log_store().as_ref(), app)
        .await?)
}

/// A commit with only application transactions (offsets that moved with no rows to add).
/// A table that does not exist yet is created with bronze's message and lineage columns.
async fn commit_txns(
    path: &LakePath,
    name: &str,
    table: Option<DeltaTable>,
    txns: Vec<Transaction>,
) -> Result<DeltaTable> {
    let table = match table {
        Some(t) => t,
        None => {
            path.create()?;
            let schema = empty_bronze_schema();
            let empty = RecordBatch::new_empty(schema);
            let t = path.delta_or_new().await?;
            return Ok(t
                .write(vec![empty])
                .with_table_name(name)
                .with_save_mode(SaveMode::Append)
                .with_partition_columns(vec!["_slice_id".to_string()])
                .with_commit_properties(
                    CommitProperties::default().with_application_transactions(txns),
                )
                .await?);
        }
    };
    let snapshot = table.snapshot()?.clone();
    let op = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: None,
        predicate: None,
    };
    CommitBuilder::from(CommitProperties::default().with_application_transactions(txns))
        .build(Some(&snapshot), table.log_store(), op)
        .await?;
    open_table(path)
        .await?
        .ok_or_else(|| IngestError::Missing(name.to_string()))
}

fn empty_bronze_schema() -> SchemaRef {
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("_kafka_topic", DataType::Utf8, false),
        Field::new("_kafka_partition", DataType::Int32, false),
        Field::new("_kafka_offset", DataType::Int64, false),
        Field::new("_kafka_timestamp", ts(), false),
        Field::new("_kafka_key", DataType::Utf8, true),
        Field::new("_kafka_headers", DataType::Utf8, true),
        Field::new("_kafka_tombstone", DataType::Boolean, false),
        Field::new("_slice_id", DataType::Utf8, false),
        Field::new("_watermark", DataType::Utf8, false),
        Field::new("_source_file", DataType::Utf8, false),
        Field::new("_source_line", DataType::Int64, true),
        Field::new("_ingested_at", ts(), false),
        Field::new("_run_id", DataType::Utf8, false),
    ]))
}

/// `expr` evaluated over a batch (one value per row).
fn eval(batch: &RecordBatch, expr: &str) -> std::result::Result<ArrayRef, String> {
    let ctx = SessionContext::new();
    let schema = datafusion::common::DFSchema::try_from(batch.schema().as_ref().clone())
        .map_err(|e| e.to_string())?;
    let e = ctx
        .parse_sql_expr(expr, &schema)
        .map_err(|e| e.to_string())?;
    let physical = ctx
        .create_physical_expr(e, &schema)
        .map_err(|e| e.to_string())?;
    physical
        .evaluate(batch)
        .and_then(|v| v.into_array(batch.num_rows()))
        .map_err(|e| e.to_string())
}

/// Rows per slice of a bronze batch.
fn slice_counts(rows: &RecordBatch) -> Result<BTreeMap<String, i64>> {
    let mut out = BTreeMap::new();
    if rows.num_rows() == 0 {
        return Ok(out);
    }
    let c = rows.column(rows.schema().index_of("_slice_id")?);
    let s = c.as_string::<i32>();
    for i in 0..s.len() {
        *out.entry(s.value(i).to_string()).or_insert(0) += 1;
    }
    Ok(out)
}

/// The dead-letter rows: the quarantine columns plus the message's partition, offset,
/// timestamp, key and raw value bytes.
fn dead_letters(
    run_id: &str,
    topic: &str,
    wm: &str,
    msgs: &[Message],
    dead: &[&(u32, String)],
) -> Result<RecordBatch> {
    let rows: Vec<QuarantineRow> = dead
        .iter()
        .map(|(i, reason)| {
            let m = &msgs[*i as usize];
            QuarantineRow {
                file: Some(format!("kafka:{topic}/{}", m.partition)),
                line: Some(m.offset),
                stage: "decode",
                expectation: None,
                reason: reason.clone(),
                record: m
                    .record
                    .value
                    .as_deref()
                    .and_then(|v| std::str::from_utf8(v).ok())
                    .map(str::to_string),
            }
        })
        .collect();
    let base = super::super::quarantine_batch(run_id, "", wm, &rows)?;
    let mut fields: Vec<Field> = quarantine_schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut cols = base.columns().to_vec();
    let pick = |f: &dyn Fn(&Message) -> i64| -> Vec<i64> {
        dead.iter().map(|(i, _)| f(&msgs[*i as usize])).collect()
    };
    fields.push(Field::new("_kafka_partition", DataType::Int32, false));
    cols.push(Arc::new(Int32Array::from(
        dead.iter()
            .map(|(i, _)| msgs[*i as usize].partition)
            .collect::<Vec<_>>(),
    )));
    fields.push(Field::new("_kafka_offset", DataType::Int64, false));
    cols.push(Arc::new(Int64Array::from(pick(&|m| m.offset))));
    fields.push(Field::new(
        "_kafka_timestamp",
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        false,
    ));
    cols.push(Arc::new(
        TimestampMicrosecondArray::from(pick(&|m| m.record.timestamp.timestamp_micros()))
            .with_timezone("UTC"),
    ));
    fields.push(Field::new("_kafka_key", DataType::Utf8, true));
    cols.push(Arc::new(StringArray::from(
        dead.iter()
            .map(|(i, _)| msgs[*i as usize].record.key.as_deref().map(text))
            .collect::<Vec<_>>(),
    )));
    fields.push(Field::new("raw_value", DataType::Binary, true));
    cols.push(Arc::new(BinaryArray::from(
        dead.iter()
            .map(|(i, _)| msgs[*i as usize].record.value.as_deref())
            .collect::<Vec<_>>(),
    )));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}
