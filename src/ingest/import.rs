//! `lakegate import`: load files (Parquet, CSV, NDJSON) into one Delta table of the lake as a
//! single commit, streamed through DataFusion, so a table bigger than memory can be loaded.
//! It is the one-off counterpart of the slice loop (bulk loads, benchmark data, backfills).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::datasource::file_format::options::{CsvReadOptions, NdJsonReadOptions};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use deltalake::protocol::SaveMode;

use super::{IngestError, Result};

/// What an import did.
#[derive(Debug)]
pub struct Imported {
    pub table: String,
    pub version: i64,
    pub files: usize,
}

/// Which reader a set of files needs, from their (common) extension.
fn format_of(files: &[PathBuf]) -> Result<&'static str> {
    let mut format = None;
    for f in files {
        let name = f.to_string_lossy().to_ascii_lowercase();
        let this = if name.ends_with(".parquet") {
            "parquet"
        } else if name.ends_with(".csv") || name.ends_with(".csv.gz") {
            "csv"
        } else if name.ends_with(".json") || name.ends_with(".ndjson") || name.ends_with(".jsonl") {
            "json"
        } else {
            return Err(IngestError::Config(format!(
                "{}: unknown file type (expected .parquet, .csv, .csv.gz, .json, .ndjson)",
                f.display()
            )));
        };
        if format.is_some_and(|f| f != this) {
            return Err(IngestError::Config(
                "all files of one import must have the same format".into(),
            ));
        }
        format = Some(this);
    }
    format.ok_or_else(|| IngestError::Config("no input files".into()))
}

/// Import `files` into `<lake>/<zone>/<name>` (table given as `zone.name`), replacing the
/// table's content when `overwrite`, appending otherwise.
pub async fn import(
    lake: &crate::storage::LakeUrl,
    table: &str,
    files: &[PathBuf],
    overwrite: bool,
    partition_by: &[String],
) -> Result<Imported> {
    let (zone, name) = table
        .split_once('.')
        .filter(|(z, n)| !z.is_empty() && !n.is_empty() && !n.contains('.'))
        .ok_or_else(|| IngestError::Config(format!("table must be zone.name, got {table:?}")))?;
    for part in [zone, name] {
        if !part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(IngestError::Config(format!(
                "{part:?}: zone and table names may only hold letters, digits, _ and -"
            )));
        }
    }
    for f in files {
        if !f.is_file() {
            return Err(IngestError::Io {
                path: f.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
    }
    let format = format_of(files)?;
    let paths: Vec<String> = files
        .iter()
        .map(|f| std::path::absolute(f).unwrap_or_else(|_| f.clone()))
        .map(|f| f.to_string_lossy().into_owned())
        .collect();

    // The write plan needs delta-rs' planner (its metric-observer nodes), so read in its session.
    let ctx: SessionContext = deltalake::delta_datafusion::DeltaSessionContext::new().into();
    let df = match format {
        "parquet" => {
            ctx.read_parquet(paths, ParquetReadOptions::default())
                .await?
        }
        "csv" => {
            let gz = paths
                .iter()
                .all(|p| p.to_ascii_lowercase().ends_with(".gz"));
            let mut opts = CsvReadOptions::new().has_header(true);
            if gz {
                opts = opts
                    .file_extension(".csv.gz")
                    .file_compression_type(
                        datafusion::datasource::file_format::file_compression_type::FileCompressionType::GZIP,
                    );
            }
            ctx.read_csv(paths, opts).await?
        }
        _ => {
            let ext = Path::new(&paths[0])
                .extension()
                .map(|e| format!(".{}", e.to_string_lossy()))
                .unwrap_or_default();
            ctx.read_json(paths, NdJsonReadOptions::default().file_extension(&ext))
                .await?
        }
    };

    let location = lake.join(&format!("{zone}/{name}"));
    if let Some(path) = location.local_path() {
        std::fs::create_dir_all(&path).map_err(|e| IngestError::Io { path, source: e })?;
    }
    // A table exists when its log has any object (local or remote).
    let (store, root) = location.object_store()?;
    let exists = crate::storage::has_objects(store.as_ref(), &root.child("_delta_log"))
        .await
        .map_err(|e| IngestError::Store {
            at: location.to_string(),
            source: e,
        })?;
    let delta = if exists {
        location.open_delta().await?
    } else {
        location.delta_or_new().await?
    };
    let mut w = delta
        .write(Vec::new())
        .with_input_plan(df.into_unoptimized_plan())
        .with_session_state(Arc::new(ctx.state()))
        .with_table_name(name)
        .with_save_mode(if overwrite {
            SaveMode::Overwrite
        } else {
            SaveMode::Append
        });
    if overwrite && exists {
        w = w.with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite);
    }
    if !partition_by.is_empty() {
        w = w.with_partition_columns(partition_by.to_vec());
    }
    let written = w.await?;
    Ok(Imported {
        table: location.to_string(),
        version: written.version().unwrap_or(0),
        files: written.get_file_uris()?.count(),
    })
}
