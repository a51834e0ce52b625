//! lakegate serves a Delta data lake to Postgres clients.
//!
//! Module map (each owns one layer and its error type):
//! - [`auth`]: users (SCRAM verifiers), roles, grants and row filters, login throttling.
//! - [`config`]: `lakegate.yaml`, defaults, overrides, validation with file:line:column (each
//!   layer checks its own part: [`CONFIG_CHECKS`]); [`secrets`]: `${ENV}` / `file:` references.
//! - [`storage`]: lake URLs (with their storage options) and the object stores behind them.
//! - [`catalog`]: zones as schemas, Delta tables discovered by walking the lake, refresh.
//! - [`engine`]: DataFusion setup, statement classification (read-only), session settings, and
//!   the protocol-free session core (`Session::prepare`/`run` → `Outcome`) every door renders;
//!   the result cache and the freshness board it consults.
//! - [`wire`]: the Postgres door by protocol phase, Arrow→Postgres encoding, ErrorResponses
//!   (the SQLSTATEs come from `engine::error`).
//! - [`ingest`]: the slice-based ingestion loop, a module per stage (landing, bronze, silver,
//!   quarantine, run log, scheduler), lease, Delta commits carrying a slice's transaction.
//! - [`doors`]: one statement for the doors without a Postgres socket (HTTP, Flight SQL).
//! - [`http`], [`metrics`]: the operations listener (/health, /ready, /metrics, the status
//!   page, the HTTP query API) and the Prometheus registry every layer records into.
//! - [`flight`]: the Arrow Flight SQL door.
//! - [`freshness`], [`alerts`]: the engine's freshness board kept filled from the lake
//!   (metrics, age history) and webhooks told of state changes.
//! - [`server`]: start/serve/shutdown of the whole process, what follows an ingestion pass,
//!   and the one-shot commands (`ingest --once`, `check`).
//! - [`views`]: versioned SQL views from a folder, hot reload, history, git commits, and the
//!   gold models that keep a view as a Delta table (`views::gold`).
//! - [`demo`]: the built-in demo lake.

pub mod alerts;
pub mod auth;
pub mod catalog;
pub mod config;
pub mod demo;
pub mod doors;
pub mod engine;
pub mod flight;
pub mod freshness;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod secrets;
pub mod server;
pub mod storage;
pub mod telemetry;
pub mod views;
pub mod wire;

/// The rules of the layers that own a part of `lakegate.yaml`, run after config's own when a
/// config is loaded or validated: config only knows where each key is written.
pub const CONFIG_CHECKS: &[config::PartCheck] = &[storage::check_config, auth::check_config];

/// Top-level error: what `main` prints before exiting non-zero.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
    #[error(transparent)]
    Catalog(#[from] catalog::CatalogError),
    #[error(transparent)]
    Engine(#[from] engine::EngineError),
    #[error(transparent)]
    Demo(#[from] demo::DemoError),
    #[error(transparent)]
    Views(#[from] views::ViewError),
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    #[error(transparent)]
    Ingest(#[from] ingest::IngestError),
    #[error(transparent)]
    Tls(#[from] wire::tls::TlsError),
    #[error(transparent)]
    Alerts(#[from] alerts::AlertsError),
    #[error(transparent)]
    Iceberg(#[from] catalog::iceberg::IcebergError),
    /// An address of `listen`, `http.listen` or `flight.listen` that does not resolve or bind.
    #[error("{key} `{addr}`: {message}")]
    Listen {
        key: &'static str,
        addr: String,
        message: String,
    },
    /// No users, so anyone reaching the address could read the lake.
    #[error(
        "refusing to listen on {addr} ({key}): it is not a loopback address and no users are \
         configured, so anyone who can reach it could read the lake; listen on 127.0.0.1 or \
         ::1, or add `users:` (see `lakegate passwd`)"
    )]
    Exposed {
        key: &'static str,
        addr: std::net::SocketAddr,
    },
    /// The command needs a lake and none is given; says where to give it.
    #[error("no lake given: {0}")]
    NoLake(&'static str),
    #[error("lake root {} is not a directory", .0.display())]
    NotADirectory(std::path::PathBuf),
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// `views: {git: ...}` could not be fetched (`check` needs the views to plan them).
    #[error("failed to fetch views from {repo}: {source}")]
    ViewsFetch {
        repo: String,
        source: crate::views::ViewError,
    },
    /// What the command line asked cannot be done (bad arguments, unreadable input).
    #[error("{0}")]
    Usage(String),
    /// The command ran and found failures it has printed (failed slices, views, freshness).
    #[error("{0}")]
    Failed(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
