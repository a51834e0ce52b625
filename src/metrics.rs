//! Prometheus metrics (prometheus-client), one process-wide registry. Layers record into
//! [`metrics()`]; the HTTP listener renders it at `/metrics`.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    pub outcome: String,
    /// First two characters of the SQLSTATE ("00" for success).
    pub sqlstate_class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableState {
    pub table: String,
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabel {
    pub table: String,
}

/// One partition of a Kafka source.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabel {
    pub source: String,
    pub topic: String,
    pub partition: i64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreOp {
    pub scheme: String,
    pub op: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Status {
    pub status: String,
}

pub struct Metrics {
    registry: Registry,
    pub connections_open: Gauge,
    pub connections_total: Counter,
    pub connections_rejected: Family<Reason, Counter>,
    /// Panics caught in connection tasks (each closed that connection only).
    pub connection_panics: Counter,
    pub logins_failed: Counter,
    pub queries: Family<Outcome, Counter>,
    /// `queries{outcome="ok"}`, looked up once: it is bumped for every result.
    queries_ok: Counter,
    pub query_seconds: Histogram,
    pub rows_sent: Counter,
    pub catalog_refresh_seconds: Histogram,
    pub catalog_tables: Gauge,
    pub table_version: Family<TableLabel, Gauge>,
    pub view_reloads: Family<Status, Counter>,
    pub ingest_runs: Counter,
    pub ingest_slices: Family<Status, Counter>,
    pub ingest_rows: Counter,
    pub quarantined_rows: Counter,
    /// Unix time of each table's last successfully ingested slice (alert on `time() - x`).
    pub table_last_ingest: Family<TableLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// Age of each relation's data (seconds), as `lakegate.freshness` tells it.
    pub table_age: Family<TableLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// 1 for each relation's current freshness state, 0 for the others.
    pub table_freshness: Family<TableState, Gauge>,
    /// Alert messages by outcome (ok, failed after retries, dropped on a full queue).
    pub alerts: Family<Status, Counter>,
    /// Result cache lookups that found (hits) or did not find (misses) an entry.
    pub result_cache_hits: Counter,
    pub result_cache_misses: Counter,
    /// Bytes of results the cache holds.
    pub result_cache_bytes: Gauge,
    /// 1 while this process holds the lake's ingest lease.
    pub ingest_lease_held: Gauge,
    /// Messages on the broker not yet in bronze (high watermark minus the lake's offset).
    pub kafka_lag: Family<PartitionLabel, Gauge>,
    /// The next offset bronze holds per partition (what the lake has consumed).
    pub kafka_offset: Family<PartitionLabel, Gauge>,
    /// Requests to cloud object stores (get, head, list, put, delete, copy).
    pub object_store_requests: Family<StoreOp, Counter>,
}

pub fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| {
        let mut registry = Registry::with_prefix("lakegate");
        let m = Metrics {
            connections_open: Gauge::default(),
            connections_total: Counter::default(),
            connections_rejected: Family::default(),
            connection_panics: Counter::default(),
            logins_failed: Counter::default(),
            queries: Family::default(),
            queries_ok: Counter::default(),
            query_seconds: Histogram::new(exponential_buckets(0.001, 4.0, 10)),
            rows_sent: Counter::default(),
            catalog_refresh_seconds: Histogram::new(exponential_buckets(0.001, 4.0, 10)),
            catalog_tables: Gauge::default(),
            table_version: Family::default(),
            view_reloads: Family::default(),
            ingest_runs: Counter::default(),
            ingest_slices: Family::default(),
            ingest_rows: Counter::default(),
            quarantined_rows: Counter::default(),
            table_last_ingest: Family::default(),
            ingest_lease_held: Gauge::default(),
            table_age: Family::default(),
            result_cache_hits: Counter::default(),
            result_cache_misses: Counter::default(),
            result_cache_bytes: Gauge::default(),
            table_freshness: Family::default(),
            alerts: Family::default(),
            kafka_lag: Family::default(),
            kafka_offset: Family::default(),
            object_store_requests: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "connections_open",
            "Client connections open now",
            m.connections_open.clone(),
        );
        registry.register(
            "connections",
            "Client connections accepted",
            m.connections_total.clone(),
        );
        registry.register(
            "connections_rejected",
            "Connections refused (max_connections, authentication, TLS, startup timeout)",
            m.connections_rejected.clone(),
        );
        registry.register(
            "connection_panics",
            "Panics caught in connection tasks; each closed its own connection with XX000",
            m.connection_panics.clone(),
        );
        registry.register(
            "logins_failed",
            "Failed authentications",
            m.logins_failed.clone(),
        );
        registry.register(
            "queries",
            "Statements by outcome and SQLSTATE class",
            m.queries.clone(),
        );
        registry.register(
            "query_duration_seconds",
            "Statement run time including streaming",
            m.query_seconds.clone(),
        );
        registry.register(
            "rows_sent",
            "Result rows sent to clients",
            m.rows_sent.clone(),
        );
        registry.register(
            "catalog_refresh_duration_seconds",
            "Time to re-read the lake",
            m.catalog_refresh_seconds.clone(),
        );
        registry.register("catalog_tables", "Tables served", m.catalog_tables.clone());
        registry.register(
            "table_version",
            "Delta version served per table",
            m.table_version.clone(),
        );
        registry.register(
            "view_reloads",
            "View reloads by outcome",
            m.view_reloads.clone(),
        );
        registry.register("ingest_runs", "Ingestion passes", m.ingest_runs.clone());
        registry.register(
            "ingest_slices",
            "Slices written per table, by status",
            m.ingest_slices.clone(),
        );
        registry.register(
            "ingest_rows",
            "Rows written by ingestion",
            m.ingest_rows.clone(),
        );
        registry.register(
            "quarantined_rows",
            "Rows sent to quarantine",
            m.quarantined_rows.clone(),
        );
        registry.register(
            "table_last_ingest_timestamp_seconds",
            "Unix time of the table's last ingested slice (freshness: time() minus this)",
            m.table_last_ingest.clone(),
        );
        registry.register(
            "result_cache_hits",
            "Queries answered from the result cache",
            m.result_cache_hits.clone(),
        );
        registry.register(
            "result_cache_misses",
            "Cacheable queries computed (their inputs changed, or first seen)",
            m.result_cache_misses.clone(),
        );
        registry.register(
            "result_cache_bytes",
            "Bytes of results the result cache holds",
            m.result_cache_bytes.clone(),
        );
        registry.register(
            "table_age_seconds",
            "Age of the relation's data against its freshness rule (see lakegate.freshness)",
            m.table_age.clone(),
        );
        registry.register(
            "table_freshness_state",
            "1 for the relation's current freshness state (fresh, warn, error, unknown)",
            m.table_freshness.clone(),
        );
        registry.register(
            "alerts",
            "Alert webhook messages by outcome (ok, failed, dropped)",
            m.alerts.clone(),
        );
        registry.register(
            "kafka_consumer_lag",
            "Messages of a Kafka partition on the broker and not yet in bronze",
            m.kafka_lag.clone(),
        );
        registry.register(
            "kafka_lake_offset",
            "Next offset of a Kafka partition that bronze holds (committed with its rows)",
            m.kafka_offset.clone(),
        );
        registry.register(
            "ingest_lease_held",
            "1 while this process holds the ingest lease",
            m.ingest_lease_held.clone(),
        );
        registry.register(
            "object_store_requests",
            "Requests lakegate made to cloud object stores, by scheme and operation",
            m.object_store_requests.clone(),
        );
        let queries_ok = m
            .queries
            .get_or_create(&Outcome {
                outcome: "ok".into(),
                sqlstate_class: "00".into(),
            })
            .clone();
        Metrics {
            registry,
            queries_ok,
            ..m
        }
    })
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// A result streamed to its end (errors are counted by [`Metrics::query_error`]).
    pub fn query_ok(&self, elapsed: Duration, rows: u64) {
        self.queries_ok.inc();
        self.query_seconds.observe(elapsed.as_secs_f64());
        self.rows_sent.inc_by(rows);
    }

    pub fn query_error(&self, sqlstate: &str) {
        self.queries
            .get_or_create(&Outcome {
                outcome: "error".into(),
                sqlstate_class: sqlstate.get(..2).unwrap_or("XX").into(),
            })
            .inc();
    }

    pub fn rejected(&self, reason: &str) {
        self.connections_rejected
            .get_or_create(&Reason {
                reason: reason.into(),
            })
            .inc();
    }
}
