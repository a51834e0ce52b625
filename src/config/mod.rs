//! `lakegate.yaml`: the configuration model, its defaults, validation and overrides.
//!
//! Precedence, highest first: command-line flag, `LAKEGATE_*` environment variable (clap reads
//! both into the same [`Overrides`]), the config file, the defaults below. Every error names the
//! file with `line:column` so `lakegate check` output can be clicked in an editor.
//!
//! ```yaml
//! lake: ./demo-lake           # lake root: a local path or file://, s3://, az://, abfss://, gs:// URL
//! storage: {aws_region: eu-west-1, aws_secret_access_key: ${S3_SECRET}}  # object-store options
//! listen: 127.0.0.1:5433      # Postgres wire address
//! views: ./views              # folder of versioned view definitions (optional), or
//! #  views: {git: <url or path>, branch: main, path: views, poll: 30s}
//! database: lake              # database name clients connect to
//! refresh_interval: 2s        # how often the lake is re-read for new tables and commits
//! max_connections: 256        # further connections are refused with SQLSTATE 53300
//! shutdown_timeout: 30s       # how long running queries may finish after SIGINT/SIGTERM
//! tls: {mode: require, cert: server.crt, key: server.key}   # disable | allow | require
//! users:                      # none: trust, loopback only; any: SCRAM-SHA-256 for everyone
//!   alice: {password: "SCRAM-SHA-256$4096:...", roles: [analyst], max_connections: 10}
//!   ops: {password: "${OPS_PASSWORD}", admin: true}   # or file:/run/secrets/ops
//! roles:
//!   analyst:
//!     grants: [gold.*, silver.orders]
//!     row_filters: {silver.orders: "region = 'EU'"}
//! sources:                    # landed files, or a database / API lakegate reads itself
//!   shop_orders:
//!     postgres: {url: "postgres://etl@db/shop", password: "${SHOP_PG_PASSWORD}"}  # or mysql:
//!     table: public.orders       # or query: "SELECT ..."
//!     slice: "created_at::date"
//!     watermark: "max(coalesce(deleted_at, updated_at, created_at))"
//!     slice_column: order_date
//!   orders_stream:            # or a Kafka topic, consumed into bronze exactly once
//!     kafka: {brokers: "127.0.0.1:9092", topic: dev.orders}
//!     value: {format: avro, registry: "http://127.0.0.1:8081"}   # or json, raw
//!     slice: "date_trunc('minute', event_time)"
//!     slice_column: event_minute
//! silver:
//!   orders: {from: shop_orders, unique_key: [id], latest_by: updated_at, mode: merge,
//!            freshness: {warn_after: 2h, error_after: 6h}}   # loaded_at_field: col (optional)
//! alerts: [{webhook: "${SLACK_WEBHOOK_URL}", on: [slice_failed, freshness_error, view_broken, lease_lost]}]
//! http: {listen: 127.0.0.1:9187, max_rows: 100000}   # /health, /metrics, status page, POST /v1/query
//! #  public_url: https://lakegate.example.com/         # the status page link alerts carry
//! flight: {listen: 127.0.0.1:50051}                   # Arrow Flight SQL
//! cache: {results: 256MiB}   # repeated queries from memory while their tables are unchanged (0: off)
//! limits: {statement_timeout: 5m, idle_session_timeout: 1h, startup_timeout: 10s,
//!          query_memory: 1GiB, memory: 4GiB, max_query_bytes: 1MiB}
//! ```

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod types;
pub use types::parse_type;

/// A rule over the part of the config another layer owns (the lake location and storage
/// options, passwords and grant patterns): that layer checks it, config says where the key is.
/// `Err((key, message))`.
pub type PartCheck = fn(&Config) -> std::result::Result<(), (&'static str, String)>;

/// Errors of the config layer. Each renders as `file:line:column: message`.

/// The schema of lakegate's own tables (freshness, running and logged statements, views,
/// ingestion runs). A wildcard grant (`*`, `*.table`) does not reach it: who ran what is
/// granted by name (`lakegate.freshness`, `lakegate.*`).
pub const SYSTEM_SCHEMA: &str = "lakegate";
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("{path}: Failed to read config: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// YAML syntax, an unknown key, or a value of the wrong type.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A value that parses but cannot work (bad address, missing lake, ...).
    #[error("{location}: {message}")]
    Invalid { location: String, message: String },
}

pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

/// The whole configuration after defaults, file and overrides are merged.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Lake root (local path or URL). Required to serve; `demo` sets it itself.
    #[serde(default)]
    pub lake: Option<String>,
    /// Address of the Postgres wire listener.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Where view definitions come from: a folder, or a git repository polled for changes.
    #[serde(default)]
    pub views: Option<ViewsSource>,
    /// The one database name served; clients asking for another get 3D000.
    #[serde(default = "default_database")]
    pub database: String,
    /// Interval of the lake re-scan that makes new tables and commits visible.
    #[serde(default = "default_refresh", with = "humantime_serde_compat")]
    pub refresh_interval: Duration,
    /// Concurrent connection cap; beyond it clients get 53300 (too_many_connections).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Grace period for running queries on shutdown.
    #[serde(default = "default_shutdown", with = "humantime_serde_compat")]
    pub shutdown_timeout: Duration,
    /// TLS for the wire listener.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Users allowed to log in; empty means trust (loopback listeners only).
    #[serde(default)]
    pub users: std::collections::BTreeMap<String, UserConfig>,
    /// Roles: what their members may read.
    #[serde(default)]
    pub roles: std::collections::BTreeMap<String, RoleConfig>,
    /// Bounds on sessions and queries.
    #[serde(default)]
    pub limits: Limits,
    /// The embedded ingestion loop.
    #[serde(default)]
    pub ingest: IngestConfig,
    /// Operations endpoint: `/health`, `/ready`, `/metrics`.
    #[serde(default)]
    pub http: Option<HttpConfig>,
    /// Arrow Flight SQL endpoint (`flight: {listen: 127.0.0.1:50051}`).
    #[serde(default)]
    pub flight: Option<FlightConfig>,
    /// Landing sources: `landing/<source>/<slice_id>/<watermark>/*` → `bronze.<source>`.
    #[serde(default)]
    pub sources: std::collections::BTreeMap<String, SourceConfig>,
    /// Silver tables built from a source's bronze table.
    #[serde(default)]
    pub silver: std::collections::BTreeMap<String, SilverConfig>,
    /// Object-store options (object_store keys such as `aws_endpoint`, `aws_region`,
    /// `azure_storage_account_name`, `google_service_account`); secrets as `${ENV}` or `file:`.
    #[serde(default)]
    pub storage: std::collections::BTreeMap<String, String>,
    /// Iceberg catalogs mounted as schemas, and single tables from metadata files.
    #[serde(default)]
    pub iceberg: IcebergConfig,
    /// Webhooks told of state changes: `alerts: [{webhook: "${SLACK_WEBHOOK_URL}", on: [...]}]`.
    #[serde(default)]
    pub alerts: Vec<AlertConfig>,
    /// `cache: {results: 256MiB}`
    #[serde(default)]
    pub cache: CacheConfig,
}

/// `cache: {results}`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Memory for query results kept until a table they read commits (0: no result cache).
    #[serde(default = "default_result_cache", with = "bytesize_compat")]
    pub results: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            results: default_result_cache(),
        }
    }
}

fn default_result_cache() -> u64 {
    256 << 20
}

/// `freshness: {warn_after: 2h, error_after: 6h, loaded_at_field: updated_at}` on a source,
/// a silver table or a view's yaml (dbt's source freshness). Without `loaded_at_field` a
/// table's age is the time since its last successful ingest (or its last commit).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FreshnessRule {
    #[serde(default, with = "humantime_serde_compat::option")]
    pub warn_after: Option<Duration>,
    #[serde(default, with = "humantime_serde_compat::option")]
    pub error_after: Option<Duration>,
    /// The column whose max() is the data's own time.
    #[serde(default)]
    pub loaded_at_field: Option<String>,
}

impl FreshnessRule {
    /// `warn after 2h, error after 6h` (what `lakegate.freshness.rule` shows).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(w) = self.warn_after {
            parts.push(format!("warn after {}", humantime::format_duration(w)));
        }
        if let Some(e) = self.error_after {
            parts.push(format!("error after {}", humantime::format_duration(e)));
        }
        if let Some(f) = &self.loaded_at_field {
            parts.push(format!("by max({f})"));
        }
        parts.join(", ")
    }

    pub fn check(&self) -> std::result::Result<(), String> {
        if self.warn_after.is_none() && self.error_after.is_none() {
            return Err("freshness: give warn_after, error_after or both".into());
        }
        if let (Some(w), Some(e)) = (self.warn_after, self.error_after)
            && w > e
        {
            return Err("freshness: warn_after must not be longer than error_after".into());
        }
        Ok(())
    }
}

/// `alerts: [{webhook, on}]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertConfig {
    /// The URL posted to (Slack's incoming-webhook shape); a secret, as `${ENV}` or `file:PATH`.
    pub webhook: String,
    /// The events sent; all of them when left out.
    #[serde(default = "AlertEvent::all")]
    pub on: Vec<AlertEvent>,
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum AlertEvent {
    /// A table's slice failed (and again once it succeeds).
    SliceFailed,
    /// A table entered `error` freshness (and again once it leaves it).
    FreshnessError,
    /// A view's file broke (and again once it plans).
    ViewBroken,
    /// This process lost the ingest lease to another writer.
    LeaseLost,
}

impl AlertEvent {
    pub fn all() -> Vec<AlertEvent> {
        vec![
            AlertEvent::SliceFailed,
            AlertEvent::FreshnessError,
            AlertEvent::ViewBroken,
            AlertEvent::LeaseLost,
        ]
    }

    pub fn name(&self) -> &'static str {
        match self {
            AlertEvent::SliceFailed => "slice_failed",
            AlertEvent::FreshnessError => "freshness_error",
            AlertEvent::ViewBroken => "view_broken",
            AlertEvent::LeaseLost => "lease_lost",
        }
    }
}

/// `iceberg: {catalogs: {name: {...}}, tables: {zone.table: /path/metadata.json}}`
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IcebergConfig {
    #[serde(default)]
    pub catalogs: std::collections::BTreeMap<String, IcebergCatalogConfig>,
    #[serde(default)]
    pub tables: std::collections::BTreeMap<String, String>,
}

impl IcebergConfig {
    pub fn is_empty(&self) -> bool {
        self.catalogs.is_empty() && self.tables.is_empty()
    }
}

/// One Iceberg catalog: `{type: sql | rest, uri, warehouse, catalog_name, properties}`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IcebergCatalogConfig {
    /// `sql` (sqlite:/path or postgres://...) or `rest` (http(s)://...).
    #[serde(rename = "type")]
    pub kind: String,
    pub uri: String,
    #[serde(default)]
    pub warehouse: Option<String>,
    /// The catalog name the writers used (pyiceberg's `SqlCatalog(name)`); default: the key.
    #[serde(default)]
    pub catalog_name: Option<String>,
    /// Extra catalog properties (REST `token`, `credential`, `oauth2-server-uri`, ...);
    /// secrets as `${ENV}` or `file:PATH`.
    #[serde(default)]
    pub properties: std::collections::BTreeMap<String, String>,
}

/// `http: {listen}`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// e.g. `127.0.0.1:9187`
    pub listen: String,
    /// Most rows one `POST /v1/query` answers (0: no limit); a request may ask for fewer.
    #[serde(default = "default_http_max_rows")]
    pub max_rows: u64,
    /// The status page's address as people reach it (alerts link to it); default
    /// `http://<listen>/`.
    #[serde(default)]
    pub public_url: Option<String>,
}

fn default_http_max_rows() -> u64 {
    100_000
}

/// `flight: {listen}`: Arrow Flight SQL, TLS with `tls.cert`/`tls.key` when they are set.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FlightConfig {
    /// e.g. `127.0.0.1:50051`
    pub listen: String,
}

/// `ingest: {interval, on_failure}`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Time between passes (a local landing zone is also watched for new files).
    #[serde(default = "default_ingest_interval", with = "humantime_serde_compat")]
    pub interval: Duration,
    /// Shell command run when a slice fails (env: LAKEGATE_TABLE, LAKEGATE_SLICE,
    /// LAKEGATE_WATERMARK, LAKEGATE_ERROR).
    #[serde(default)]
    pub on_failure: Option<String>,
    /// A lease whose heartbeat is older than this is taken over.
    #[serde(default = "default_lease_ttl", with = "humantime_serde_compat")]
    pub lease_ttl: Duration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            interval: default_ingest_interval(),
            on_failure: None,
            lease_ttl: default_lease_ttl(),
        }
    }
}

fn default_ingest_interval() -> Duration {
    Duration::from_secs(10)
}
fn default_lease_ttl() -> Duration {
    Duration::from_secs(30)
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    #[default]
    Csv,
    Json,
    Parquet,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CsvOptions {
    #[serde(default = "default_true")]
    pub header: bool,
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            header: true,
            delimiter: ',',
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_delimiter() -> char {
    ','
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SchemaChange {
    #[default]
    Fail,
    AppendNewColumns,
}

/// `sources.<name>`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    #[serde(default)]
    pub format: SourceFormat,
    #[serde(default)]
    pub csv: CsvOptions,
    /// The bronze/silver column that holds the slice id.
    pub slice_column: String,
    /// Column → type (`bigint`, `int`, `double`, `decimal(p,s)`, `text`, `date`,
    /// `timestamp`, `timestamptz`, `boolean`). Without it every column is text.
    #[serde(default)]
    pub schema: Option<indexmap_compat::OrderedMap>,
    #[serde(default)]
    pub on_schema_change: SchemaChange,
    /// A PostgreSQL database read by slice and watermark (instead of landed files).
    #[serde(default)]
    pub postgres: Option<DbConnection>,
    /// A MySQL or MariaDB database read by slice and watermark.
    #[serde(default)]
    pub mysql: Option<DbConnection>,
    /// The database table (`schema.table`) a relational source reads ...
    #[serde(default)]
    pub table: Option<String>,
    /// ... or any SELECT, used as a subquery.
    #[serde(default)]
    pub query: Option<String>,
    /// Relational: the slice id, an expression in the source's dialect (`created_at::date`).
    #[serde(default)]
    pub slice: Option<String>,
    /// Relational: an aggregate per slice that moves whenever the slice's rows change
    /// (`max(coalesce(deleted_at, updated_at, created_at))`).
    #[serde(default)]
    pub watermark: Option<String>,
    /// An HTTP API whose JSON pages are landed per slice.
    #[serde(default)]
    pub http: Option<HttpSource>,
    /// A Kafka topic consumed in micro-batches straight into bronze.
    #[serde(default)]
    pub kafka: Option<KafkaSource>,
    /// Kafka: how a message's value is decoded.
    #[serde(default)]
    pub value: Option<ValueConfig>,
    /// Kafka: how many messages one micro-batch (one bronze commit) holds at most, and how
    /// long it waits for them.
    #[serde(default)]
    pub batch: Option<BatchConfig>,
    /// Bound on one source's listing and on reading one slice from it.
    #[serde(default = "default_source_timeout", with = "humantime_serde_compat")]
    pub timeout: Duration,
    /// How old `bronze.<source>` may get.
    #[serde(default)]
    pub freshness: Option<FreshnessRule>,
}

fn default_source_timeout() -> Duration {
    Duration::from_secs(600)
}

/// What kind of source a `sources.<name>` entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Files,
    Postgres,
    MySql,
    Http,
    Kafka,
}

impl SourceConfig {
    pub fn kind(&self) -> SourceKind {
        if self.kafka.is_some() {
            SourceKind::Kafka
        } else if self.postgres.is_some() {
            SourceKind::Postgres
        } else if self.mysql.is_some() {
            SourceKind::MySql
        } else if self.http.is_some() {
            SourceKind::Http
        } else {
            SourceKind::Files
        }
    }

    /// The format of what lands: a database's slices land as Parquet, an API's records as
    /// JSON lines; files are what `format` says.
    pub fn landed_format(&self) -> SourceFormat {
        match self.kind() {
            SourceKind::Files => self.format,
            SourceKind::Postgres | SourceKind::MySql => SourceFormat::Parquet,
            SourceKind::Http | SourceKind::Kafka => SourceFormat::Json,
        }
    }

    /// A Kafka source's micro-batch bounds (defaults when `batch:` is absent).
    pub fn batch(&self) -> BatchConfig {
        self.batch.clone().unwrap_or_default()
    }
}

impl SourceConfig {
    /// The combinations that make sense: one kind, and what that kind needs.
    fn check(&self) -> std::result::Result<(), String> {
        let kinds = [
            self.postgres.is_some(),
            self.mysql.is_some(),
            self.http.is_some(),
            self.kafka.is_some(),
        ]
        .iter()
        .filter(|k| **k)
        .count();
        if kinds > 1 {
            return Err("give one of postgres:, mysql:, http: and kafka:".into());
        }
        if self.kind() == SourceKind::Kafka {
            return self.check_kafka();
        }
        if self.value.is_some() || self.batch.is_some() {
            return Err("value: and batch: belong to a kafka: source".into());
        }
        let relational = matches!(self.kind(), SourceKind::Postgres | SourceKind::MySql);
        if relational {
            if self.table.is_some() == self.query.is_some() {
                return Err("a database source needs exactly one of table: and query:".into());
            }
            if self.slice.is_none() || self.watermark.is_none() {
                return Err("a database source needs slice: and watermark:".into());
            }
            if let Some(t) = &self.table
                && !t.split('.').all(|p| {
                    !p.is_empty()
                        && p.chars()
                            .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
                })
            {
                return Err(format!(
                    "table: `{t}` is not a [schema.]table name (use query: for anything else)"
                ));
            }
        } else if self.table.is_some()
            || self.query.is_some()
            || self.slice.is_some()
            || self.watermark.is_some()
        {
            return Err(
                "table:, query:, slice: and watermark: belong to a postgres: or mysql: source"
                    .into(),
            );
        }
        if self.kind() != SourceKind::Files && self.format != SourceFormat::Csv {
            return Err(
                "format: is for landed files; a database or API source lands its own".into(),
            );
        }
        if self.timeout.is_zero() {
            return Err("timeout: must be more than 0s".into());
        }
        if let Some(h) = &self.http {
            if h.max_pages == 0 {
                return Err("http.max_pages: must be at least 1".into());
            }
            if h.slices.is_empty() {
                return Err("http.slices: name at least one slice".into());
            }
            url::Url::parse(&h.url.replace("{slice}", "x").replace("{page}", "1"))
                .map_err(|e| format!("http.url: {e}"))?;
        }
        Ok(())
    }
}

impl SourceConfig {
    fn check_kafka(&self) -> std::result::Result<(), String> {
        let k = self.kafka.as_ref().expect("a kafka source");
        if self.table.is_some() || self.query.is_some() || self.watermark.is_some() {
            return Err(
                "table:, query: and watermark: belong to a postgres: or mysql: source; \
                 a kafka: source's position is its offsets"
                    .into(),
            );
        }
        if self.format != SourceFormat::Csv {
            return Err("format: is for landed files; a kafka: source decodes with value:".into());
        }
        if k.brokers.is_empty() || k.brokers.iter().any(|b| b.trim().is_empty()) {
            return Err("kafka.brokers: name at least one host:port".into());
        }
        if k.topic.trim().is_empty() {
            return Err("kafka.topic: must not be empty".into());
        }
        if k.group.as_ref().is_some_and(|g| g.trim().is_empty()) {
            return Err("kafka.group: must not be empty (or leave it out)".into());
        }
        if let Some(s) = &k.security
            && let Some(sasl) = &s.sasl
        {
            match sasl.mechanism.to_ascii_uppercase().as_str() {
                "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512" => {}
                m => {
                    return Err(format!(
                        "kafka.security.sasl.mechanism: `{m}` is not one of PLAIN, SCRAM-SHA-256, \
                         SCRAM-SHA-512"
                    ));
                }
            }
        }
        let value = self.value.clone().unwrap_or_default();
        match value.format {
            ValueFormat::Avro if value.registry.is_none() => {
                return Err("value.registry: an avro value needs its schema registry's URL".into());
            }
            ValueFormat::Avro if self.schema.is_some() => {
                return Err("schema: is for json values; avro values carry their own".into());
            }
            ValueFormat::Raw if self.schema.is_some() => {
                return Err("schema: is for json values; a raw value is one bytea column".into());
            }
            _ if value.registry.is_some() && value.format != ValueFormat::Avro => {
                return Err("value.registry: is for format: avro".into());
            }
            _ => {}
        }
        let b = self.batch();
        if b.max_rows == 0 {
            return Err("batch.max_rows: must be at least 1".into());
        }
        if b.max_wait.is_zero() {
            return Err("batch.max_wait: must be more than 0s".into());
        }
        if self.timeout.is_zero() {
            return Err("timeout: must be more than 0s".into());
        }
        Ok(())
    }
}

/// `kafka:` of a source.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KafkaSource {
    /// Bootstrap brokers, `host:port` (one string, comma-separated, or a list).
    #[serde(deserialize_with = "one_or_many")]
    pub brokers: Vec<String>,
    pub topic: String,
    /// A consumer group the lake's offsets are also committed to, for the group tooling's lag
    /// views. Advisory: a restart resumes from the lake's offsets, never the group's.
    #[serde(default)]
    pub group: Option<String>,
    /// Where a topic the lake has no offsets for starts: `earliest` (default) or `latest`.
    #[serde(default)]
    pub start: KafkaStart,
    #[serde(default)]
    pub security: Option<KafkaSecurity>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s.split(',').map(|b| b.trim().to_string()).collect(),
        OneOrMany::Many(v) => v,
    })
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum KafkaStart {
    #[default]
    Earliest,
    Latest,
}

/// `kafka.security`: SASL and/or TLS.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KafkaSecurity {
    #[serde(default)]
    pub sasl: Option<KafkaSasl>,
    /// TLS to the brokers: `true` (system roots) or `{ca: PATH}`.
    #[serde(default)]
    pub tls: Option<KafkaTls>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KafkaSasl {
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub mechanism: String,
    pub username: String,
    /// `${ENV}` or `file:PATH`.
    pub password: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum KafkaTls {
    On(bool),
    Ca {
        /// PEM certificates that verify the brokers (instead of the system's roots).
        ca: PathBuf,
    },
}

/// `value:` of a Kafka source.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ValueConfig {
    #[serde(default)]
    pub format: ValueFormat,
    /// Confluent schema registry (`format: avro`): schemas fetched by id from
    /// `{registry}/schemas/ids/{id}`.
    #[serde(default)]
    pub registry: Option<String>,
    /// Registry basic auth as `user:${PASSWORD_ENV}` (optional).
    #[serde(default)]
    pub registry_auth: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ValueFormat {
    /// A JSON object per message: top-level fields are columns (typed by `schema:`).
    #[default]
    Json,
    /// Confluent wire format: magic byte 0, a 4-byte schema id, the Avro body.
    Avro,
    /// The value's bytes as one `value` column.
    Raw,
}

/// `batch:` of a Kafka source.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    #[serde(default = "default_batch_rows")]
    pub max_rows: usize,
    #[serde(default = "default_batch_wait", with = "humantime_serde_compat")]
    pub max_wait: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_rows: default_batch_rows(),
            max_wait: default_batch_wait(),
        }
    }
}

fn default_batch_rows() -> usize {
    100_000
}
fn default_batch_wait() -> Duration {
    Duration::from_secs(1)
}

/// `postgres:` / `mysql:` of a source.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DbConnection {
    /// `postgres://user@host:port/db` or `mysql://user@host:port/db`.
    pub url: String,
    /// The password, as `${ENV}` or `file:PATH` (kept out of the URL and of every message).
    #[serde(default)]
    pub password: Option<String>,
    /// `disable`, `prefer` (default), `require`, `verify-ca`, `verify-full`.
    #[serde(default)]
    pub tls: Option<String>,
    /// CA certificate (PEM) that verifies the server, for `verify-ca` / `verify-full`.
    #[serde(default)]
    pub ca: Option<PathBuf>,
}

/// `http:` of a source.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpSource {
    /// URL template: `{slice}` and `{page}` are replaced (pages count from `first_page`).
    pub url: String,
    /// Request headers; values may be `${ENV}` or `file:PATH` secrets.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Where a page's list of records is: a dot path into the JSON (`results`,
    /// `data.items`); empty when the page is the list itself.
    #[serde(default)]
    pub records: String,
    /// The slice ids to fetch (each replaces `{slice}`).
    pub slices: Vec<String>,
    /// How often each slice is fetched again.
    #[serde(default = "default_http_every", with = "humantime_serde_compat")]
    pub every: Duration,
    #[serde(default = "default_first_page")]
    pub first_page: u64,
    /// A bound on pages per slice (a misbehaving API that never returns an empty page).
    #[serde(default = "default_max_pages")]
    pub max_pages: u64,
    /// Retries of a 429 / 5xx / network error, with exponential backoff (Retry-After wins).
    #[serde(default = "default_retries")]
    pub retries: u32,
}

fn default_http_every() -> Duration {
    Duration::from_secs(3600)
}
fn default_first_page() -> u64 {
    1
}
fn default_max_pages() -> u64 {
    10_000
}
fn default_retries() -> u32 {
    5
}

/// `silver.<name>.mode`
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SilverMode {
    /// Each slice of silver is replaced by the slice read.
    #[default]
    Slice,
    /// A Delta MERGE on `unique_key` across the whole table: `latest_by` wins,
    /// `delete_when` deletes; a key that moves between slices keeps one row.
    Merge,
}

/// `silver.<name>`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SilverConfig {
    /// The source whose bronze table feeds this one.
    pub from: String,
    #[serde(default)]
    pub unique_key: Vec<String>,
    #[serde(default)]
    pub latest_by: Option<String>,
    /// Rows matching this predicate are deletions: removed from silver.
    #[serde(default)]
    pub delete_when: Option<String>,
    #[serde(default)]
    pub expectations: Vec<Expectation>,
    #[serde(default)]
    pub mode: SilverMode,
    /// How old the silver table may get.
    #[serde(default)]
    pub freshness: Option<FreshnessRule>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    pub name: String,
    /// SQL predicate every good row satisfies.
    pub expect: String,
    #[serde(default)]
    pub on_violation: OnViolation,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OnViolation {
    /// Count and keep.
    #[default]
    Warn,
    /// Count and drop.
    Drop,
    /// Move to `quarantine.<table>` with the reason.
    Quarantine,
    /// Publish nothing of the slice downstream.
    Fail,
}

/// YAML maps keep their order (the schema's column order).
pub mod indexmap_compat {
    use serde::{Deserialize, Deserializer};

    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct OrderedMap(pub Vec<(String, String)>);

    impl<'de> Deserialize<'de> for OrderedMap {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let m = serde_yaml::Mapping::deserialize(d)?;
            let mut out = Vec::new();
            for (k, v) in m {
                let k = k
                    .as_str()
                    .ok_or_else(|| serde::de::Error::custom("column names must be strings"))?
                    .to_string();
                let v = match v {
                    serde_yaml::Value::String(s) => s,
                    other => {
                        return Err(serde::de::Error::custom(format!(
                            "type of column `{k}` must be a string, not {other:?}"
                        )));
                    }
                };
                out.push((k, v));
            }
            Ok(OrderedMap(out))
        }
    }
}

/// `tls: {mode, cert, key}`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// `disable`, `allow` (TLS when the client asks) or `require` (plain connections refused).
    #[serde(default)]
    pub mode: TlsMode,
    /// PEM certificate chain.
    pub cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, RSA or EC).
    pub key: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    Disable,
    #[default]
    Allow,
    Require,
}

/// One user: a SCRAM verifier (or a `${ENV}` / `file:` reference), roles, limits.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub password: String,
    #[serde(default)]
    pub roles: Vec<String>,
    /// Admins read everything, including the `lakegate` system schema.
    #[serde(default)]
    pub admin: bool,
    /// Concurrent connections of this user (beyond it: 53300).
    #[serde(default)]
    pub max_connections: Option<usize>,
}

/// `roles.<name>: {grants, row_filters}`
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// `schema.*`, `schema.table`, or `*` for everything.
    #[serde(default)]
    pub grants: Vec<String>,
    /// `schema.table: <SQL predicate>`: members only see the rows it keeps, also through views.
    #[serde(default)]
    pub row_filters: std::collections::BTreeMap<String, String>,
    /// `schema.table: {column: <SQL expression>}`: members see the expression instead of the
    /// column's value (e.g. `"'***'"` or `"left(email, 2) || '***'"`), also through views.
    #[serde(default)]
    pub column_masks:
        std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
}

/// `limits:`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Default `statement_timeout` of every session (0 = none); sessions may lower it.
    #[serde(default, with = "humantime_serde_compat")]
    pub statement_timeout: Duration,
    /// Sessions idle longer than this are closed (0 = never).
    #[serde(default, with = "humantime_serde_compat")]
    pub idle_session_timeout: Duration,
    /// Connections that have not authenticated within this are closed.
    #[serde(default = "default_startup_timeout", with = "humantime_serde_compat")]
    pub startup_timeout: Duration,
    /// Memory one query may use before it spills or fails with 53200.
    #[serde(default = "default_query_memory", with = "bytesize_compat")]
    pub query_memory: u64,
    /// Memory all queries together may use.
    #[serde(default = "default_memory", with = "bytesize_compat")]
    pub memory: u64,
    /// Statements running longer are logged with their text, user and duration (0 = off).
    #[serde(default = "default_slow_query", with = "humantime_serde_compat")]
    pub slow_query: Duration,
    /// Longest query text accepted (54000 beyond it).
    #[serde(default = "default_max_query_bytes", with = "bytesize_compat")]
    pub max_query_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            statement_timeout: Duration::ZERO,
            idle_session_timeout: Duration::ZERO,
            startup_timeout: default_startup_timeout(),
            query_memory: default_query_memory(),
            memory: default_memory(),
            max_query_bytes: default_max_query_bytes(),
            slow_query: default_slow_query(),
        }
    }
}

fn default_startup_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_query_memory() -> u64 {
    1 << 30
}
fn default_memory() -> u64 {
    4 << 30
}
fn default_slow_query() -> Duration {
    Duration::from_secs(10)
}
fn default_max_query_bytes() -> u64 {
    1 << 20
}

fn default_listen() -> String {
    "127.0.0.1:5433".into()
}
fn default_database() -> String {
    "lake".into()
}
fn default_refresh() -> Duration {
    Duration::from_secs(2)
}
fn default_max_connections() -> usize {
    256
}
fn default_shutdown() -> Duration {
    Duration::from_secs(30)
}

impl Default for Config {
    fn default() -> Self {
        Self {
            lake: None,
            listen: default_listen(),
            views: None,
            database: default_database(),
            refresh_interval: default_refresh(),
            max_connections: default_max_connections(),
            shutdown_timeout: default_shutdown(),
            tls: None,
            users: Default::default(),
            roles: Default::default(),
            limits: Limits::default(),
            ingest: IngestConfig::default(),
            http: None,
            flight: None,
            sources: Default::default(),
            silver: Default::default(),
            storage: Default::default(),
            iceberg: Default::default(),
            alerts: Default::default(),
            cache: Default::default(),
        }
    }
}

/// `views:` — a folder path, or a git repository served at a branch head.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ViewsSource {
    Folder(PathBuf),
    Git(GitViews),
}

/// `views: {git: ..., branch: ..., path: ..., poll: ...}`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GitViews {
    /// Repository URL or local path, as `git clone` takes it.
    pub git: String,
    #[serde(default = "default_branch")]
    pub branch: String,
    /// Folder inside the repository that holds `<schema>/<name>.sql`.
    #[serde(default = "default_views_path")]
    pub path: String,
    /// How often to fetch the branch.
    #[serde(default = "default_poll", with = "humantime_serde_compat")]
    pub poll: Duration,
    /// Local folder for the checkout [default: $HOME/.cache/lakegate/views].
    #[serde(default)]
    pub cache: Option<PathBuf>,
}

fn default_branch() -> String {
    "main".into()
}
fn default_views_path() -> String {
    "views".into()
}
fn default_poll() -> Duration {
    Duration::from_secs(30)
}

/// Values from flags or `LAKEGATE_*` variables; `None` keeps the file's value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub lake: Option<String>,
    pub listen: Option<String>,
    pub views: Option<PathBuf>,
    pub database: Option<String>,
    pub refresh_interval: Option<Duration>,
    /// `http.listen` (the operations endpoint and the HTTP query API).
    pub http: Option<String>,
    /// `flight.listen` (Arrow Flight SQL).
    pub flight: Option<String>,
}

/// Where a config came from, so validation errors can point into the file.
#[derive(Debug, Clone)]
struct Source {
    path: PathBuf,
    text: String,
}

impl Source {
    /// `file:line:col` of a top-level key, or just the file when the key is not written there
    /// (the value then came from a default or an override).
    fn locate(&self, key: &str) -> String {
        let prefix = format!("{key}:");
        for (i, line) in self.text.lines().enumerate() {
            if line.starts_with(&prefix) {
                return format!("{}:{}:1", self.path.display(), i + 1);
            }
        }
        self.path.display().to_string()
    }
}

impl Config {
    /// Parses YAML text; `path` is only used in error messages.
    pub fn from_yaml(path: &Path, text: &str) -> Result<Config> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        serde_yaml::from_str(text).map_err(|e| {
            // serde_yaml appends "at line X column Y" itself; the prefix already says it.
            let message = e.to_string();
            let message = match message.rfind(" at line ") {
                Some(i) => message[..i].to_string(),
                None => message,
            };
            let (line, column) = locate_quoted(text, &message)
                .or_else(|| e.location().map(|l| (l.line(), l.column())))
                .unwrap_or((1, 1));
            ConfigError::Parse {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        })
    }

    /// Reads, parses, applies overrides and validates: config's own rules, then `parts`, the
    /// rules of the layers that own a part of it (`lakegate::CONFIG_CHECKS`).
    pub fn load(path: Option<&Path>, overrides: &Overrides, parts: &[PartCheck]) -> Result<Config> {
        let source = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_path_buf(),
                    source,
                })?;
                Some(Source {
                    path: p.to_path_buf(),
                    text,
                })
            }
            None => None,
        };
        let mut config = match &source {
            Some(s) => Config::from_yaml(&s.path, &s.text)?,
            None => Config::default(),
        };
        config.apply(overrides);
        config.validate_at(source.as_ref(), parts)?;
        Ok(config)
    }

    pub fn apply(&mut self, o: &Overrides) {
        if let Some(v) = &o.lake {
            self.lake = Some(v.clone());
        }
        if let Some(v) = &o.listen {
            self.listen = v.clone();
        }
        if let Some(v) = &o.views {
            self.views = Some(ViewsSource::Folder(v.clone()));
        }
        if let Some(v) = &o.database {
            self.database = v.clone();
        }
        if let Some(v) = o.refresh_interval {
            self.refresh_interval = v;
        }
        if let Some(v) = &o.http {
            match &mut self.http {
                Some(h) => h.listen = v.clone(),
                None => {
                    self.http = Some(HttpConfig {
                        listen: v.clone(),
                        max_rows: default_http_max_rows(),
                        public_url: None,
                    })
                }
            }
        }
        if let Some(v) = &o.flight {
            self.flight = Some(FlightConfig { listen: v.clone() });
        }
    }

    /// Cross-field rules that serde cannot express, then `parts` (see [`Config::load`]).
    pub fn validate(&self, parts: &[PartCheck]) -> Result<()> {
        self.validate_at(None, parts)
    }

    fn validate_at(&self, source: Option<&Source>, parts: &[PartCheck]) -> Result<()> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            location: source
                .map(|s| s.locate(key))
                .unwrap_or_else(|| format!("config key `{key}`")),
            message,
        };
        self.validate_own(&invalid)?;
        for check in parts {
            check(self).map_err(|(key, message)| invalid(key, message))?;
        }
        Ok(())
    }

    fn validate_own(&self, invalid: &dyn Fn(&str, String) -> ConfigError) -> Result<()> {
        self.listen_addrs()
            .map_err(|e| invalid("listen", format!("listen: {e}")))?;
        if self.database.is_empty() {
            return Err(invalid("database", "database: must not be empty".into()));
        }
        if self.refresh_interval < Duration::from_millis(50) {
            return Err(invalid(
                "refresh_interval",
                "refresh_interval: must be at least 50ms".into(),
            ));
        }
        if self.max_connections == 0 {
            return Err(invalid(
                "max_connections",
                "max_connections: must be at least 1".into(),
            ));
        }
        if let Some(tls) = &self.tls
            && tls.mode != TlsMode::Disable
            && (tls.cert.is_none() || tls.key.is_none())
        {
            return Err(invalid(
                "tls",
                "tls: `cert` and `key` are required unless `mode: disable`".into(),
            ));
        }
        for (name, user) in &self.users {
            for role in &user.roles {
                if !self.roles.contains_key(role) {
                    return Err(invalid(
                        "users",
                        format!("users.{name}: role `{role}` is not defined under `roles:`"),
                    ));
                }
            }
        }
        for (name, silver) in &self.silver {
            let Some(source) = self.sources.get(&silver.from) else {
                return Err(invalid(
                    "silver",
                    format!(
                        "silver.{name}.from: no source `{}` under `sources:`",
                        silver.from
                    ),
                ));
            };
            if let Some(schema) = &source.schema {
                let has = |c: &str| schema.0.iter().any(|(n, _)| n == c);
                for c in silver
                    .unique_key
                    .iter()
                    .chain(silver.latest_by.iter())
                    .chain(std::iter::once(&source.slice_column))
                {
                    if !has(c) {
                        return Err(invalid(
                            "silver",
                            format!(
                                "silver.{name}: column `{c}` is not in sources.{}.schema",
                                silver.from
                            ),
                        ));
                    }
                }
            }
        }
        for (name, rule) in self
            .sources
            .iter()
            .filter_map(|(n, s)| Some((format!("sources.{n}"), s.freshness.as_ref()?)))
            .chain(
                self.silver
                    .iter()
                    .filter_map(|(n, s)| Some((format!("silver.{n}"), s.freshness.as_ref()?))),
            )
        {
            let key = name.split('.').next().unwrap_or("sources");
            rule.check()
                .map_err(|e| invalid(key, format!("{name}.{e}")))?;
        }
        for (i, alert) in self.alerts.iter().enumerate() {
            // A `${ENV}` or `file:` reference is resolved when the server starts.
            if alert.webhook.starts_with("${") || alert.webhook.starts_with("file:") {
                continue;
            }
            match url::Url::parse(&alert.webhook) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                // The URL is a secret (Slack's carries its token): never repeated in an error.
                _ => {
                    return Err(invalid(
                        "alerts",
                        format!("alerts[{i}].webhook: not an http(s) URL"),
                    ));
                }
            }
        }
        for (name, silver) in &self.silver {
            if silver.mode == SilverMode::Merge && silver.unique_key.is_empty() {
                return Err(invalid(
                    "silver",
                    format!("silver.{name}: mode: merge needs a unique_key"),
                ));
            }
        }
        for (name, source) in &self.sources {
            source
                .check()
                .map_err(|e| invalid("sources", format!("sources.{name}: {e}")))?;
            for (col, ty) in source.schema.iter().flat_map(|s| s.0.iter()) {
                parse_type(ty)
                    .map_err(|e| invalid("sources", format!("sources.{name}.schema.{col}: {e}")))?;
            }
        }
        Ok(())
    }

    /// Resolves `listen` (host names allowed) to socket addresses.
    pub fn listen_addrs(&self) -> std::result::Result<Vec<SocketAddr>, String> {
        let addrs: Vec<SocketAddr> = self
            .listen
            .to_socket_addrs()
            .map_err(|e| format!("`{}` is not a host:port address ({e})", self.listen))?
            .collect();
        if addrs.is_empty() {
            return Err(format!("`{}` resolves to no address", self.listen));
        }
        Ok(addrs)
    }
}

/// Errors from our own value parsers carry no location; they quote the bad value in
/// backticks, so find where that value is written.
fn locate_quoted(text: &str, message: &str) -> Option<(usize, usize)> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    let value = &message[start..start + len];
    text.lines().enumerate().find_map(|(i, line)| {
        let (key, rest) = line.split_once(':')?;
        let col = rest.find(value)?;
        Some((i + 1, key.len() + 2 + col))
    })
}

/// Parses durations such as `500ms`, `2s`, `1m` (humantime syntax).
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("invalid duration `{s}`: {e}"))
}

/// Parses sizes such as `512MiB`, `2GB`, `1048576`.
pub fn parse_bytes(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid size `{s}`: expected e.g. 512MiB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        _ => return Err(format!("invalid size `{s}`: unknown unit")),
    };
    Ok((n * mult as f64) as u64)
}

mod bytesize_compat {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum V {
            N(u64),
            S(String),
        }
        match V::deserialize(d)? {
            V::N(n) => Ok(n),
            V::S(s) => super::parse_bytes(&s).map_err(serde::de::Error::custom),
        }
    }
}

mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_duration(&s).map_err(serde::de::Error::custom)
    }

    pub mod option {
        use super::*;

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            super::deserialize(d).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_config_parses_with_defaults() {
        let c = Config::from_yaml(Path::new("l.yaml"), "lake: ./x\nviews: ./v\n").unwrap();
        assert_eq!(c.views, Some(ViewsSource::Folder("./v".into())));
        let g = Config::from_yaml(
            Path::new("l.yaml"),
            "views: {git: /srv/repo.git, poll: 5s}\n",
        )
        .unwrap();
        match g.views {
            Some(ViewsSource::Git(g)) => {
                assert_eq!((g.branch.as_str(), g.path.as_str()), ("main", "views"));
                assert_eq!(g.poll, Duration::from_secs(5));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.lake.as_deref(), Some("./x"));
        assert_eq!(c.listen, "127.0.0.1:5433");
        assert_eq!(c.refresh_interval, Duration::from_secs(2));
    }

    #[test]
    fn unknown_key_reports_line_and_column() {
        let e = Config::from_yaml(Path::new("l.yaml"), "lake: ./x\nlisten_addr: 1\n").unwrap_err();
        let s = e.to_string();
        assert!(
            s.starts_with("l.yaml:2:1: unknown field `listen_addr`"),
            "{s}"
        );
    }

    #[test]
    fn bad_duration_is_located() {
        let e = Config::from_yaml(Path::new("l.yaml"), "refresh_interval: soon\n").unwrap_err();
        assert!(e.to_string().starts_with("l.yaml:1:"), "{e}");
        assert!(e.to_string().contains("invalid duration"), "{e}");
    }

    #[test]
    fn validation_points_at_the_key() {
        let src = Source {
            path: "l.yaml".into(),
            text: "lake: ./x\nlisten: nonsense\n".into(),
        };
        let c = Config::from_yaml(&src.path, &src.text).unwrap();
        let e = c.validate_at(Some(&src), &[]).unwrap_err().to_string();
        assert!(e.starts_with("l.yaml:2:1: listen:"), "{e}");
    }

    #[test]
    fn kafka_sources_parse_and_say_what_they_lack() {
        let ok = |y: &str| {
            let c = Config::from_yaml(Path::new("l.yaml"), y).unwrap();
            c.validate(&[]).map(|_| c).map_err(|e| e.to_string())
        };
        let c = ok(
            "sources:\n  s:\n    kafka: {brokers: \"a:1, b:2\", topic: t, start: latest}\n    \
                    value: {format: avro, registry: \"http://r:8081\"}\n    slice_column: m\n",
        )
        .unwrap();
        let s = &c.sources["s"];
        assert_eq!(s.kind(), SourceKind::Kafka);
        let k = s.kafka.as_ref().unwrap();
        assert_eq!(k.brokers, ["a:1", "b:2"]);
        assert_eq!(k.start, KafkaStart::Latest);
        assert_eq!(s.batch(), BatchConfig::default());
        assert_eq!(
            (s.batch().max_rows, s.batch().max_wait),
            (100_000, Duration::from_secs(1))
        );
        let bad = [
            (
                "kafka: {brokers: [\"a:1\"], topic: t, group: \" \"}",
                "kafka.group: must not be empty",
            ),
            (
                "kafka: {brokers: [\"a:1\"], topic: t}\n    value: {format: avro}",
                "value.registry:",
            ),
            ("kafka: {brokers: [], topic: t}", "kafka.brokers:"),
            (
                "kafka: {brokers: [\"a:1\"], topic: t}\n    batch: {max_rows: 0}",
                "batch.max_rows:",
            ),
            (
                "kafka: {brokers: [\"a:1\"], topic: t}\n    table: x.y",
                "table:, query: and watermark:",
            ),
            (
                "kafka: {brokers: [\"a:1\"], topic: t, security: {sasl: {mechanism: GSSAPI, username: u, password: p}}}",
                "`GSSAPI` is not one of",
            ),
            (
                "batch: {max_rows: 5}",
                "value: and batch: belong to a kafka: source",
            ),
        ];
        for (src, want) in bad {
            let e = ok(&format!("sources:\n  s:\n    {src}\n    slice_column: m\n")).unwrap_err();
            assert!(e.contains(want), "{src}: {e}");
        }
    }

    #[test]
    fn overrides_win_over_the_file() {
        let mut c = Config::from_yaml(Path::new("l"), "listen: 127.0.0.1:1\n").unwrap();
        c.apply(&Overrides {
            listen: Some("127.0.0.1:2".into()),
            ..Default::default()
        });
        assert_eq!(c.listen, "127.0.0.1:2");
    }
}
