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

pub type Result<T, E = IngestError> = std::result::Result<T, E>;
