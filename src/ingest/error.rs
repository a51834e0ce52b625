//! The ingestion layer's error.

use std::path::PathBuf;

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
    /// A source or table configured in a way that cannot work (the message names the key).
    #[error("{0}")]
    Config(String),
    /// The lake's object store refused a read or write at `at`.
    #[error("{at}: {source}")]
    Store {
        at: String,
        source: object_store::Error,
    },
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    /// A silver or gold query that does not plan: which table, and DataFusion's reason.
    #[error("{at}: {source}")]
    Plan {
        at: String,
        source: datafusion::error::DataFusionError,
    },
    /// A table the pass needs is not there (dropped behind its back).
    #[error("{0} is missing")]
    Missing(String),
    /// A reader or writer task died (a panic in it; the slice is failed, the pass goes on).
    #[error("{what} task: {source}")]
    Task {
        what: &'static str,
        source: tokio::task::JoinError,
    },
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

pub type Result<T, E = IngestError> = std::result::Result<T, E>;
