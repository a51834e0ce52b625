//! Sources that lakegate reads itself: relational databases by slice and watermark
//! ([`relational`]), HTTP APIs ([`http`]) and Kafka topics ([`kafka`], which writes bronze
//! itself: see there).
//!
//! Each lands what it read under `landing/<source>/<slice>/<watermark>/` exactly as a file
//! delivery would (one Parquet file or JSON lines, written whole or not at all), and hands the
//! pass the deliveries to ingest. From there on bronze, silver, quarantine, the Delta
//! transactions and `lakegate.slices` are the file pipeline's: bronze stays raw and can be
//! rebuilt from landing while the source is down.

pub mod http;
pub mod kafka;
pub mod relational;

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::metadata::KeyValue;
use datafusion::parquet::file::properties::WriterProperties;

use super::{IngestError, LakePath, Result};

/// Parquet metadata key of a landed file: the source's columns and their mapped types.
pub const COLUMNS_KEY: &str = "lakegate.columns";

/// The landed file of a database slice.
pub const LANDED_FILE: &str = "part-0.parquet";

/// One slice a source has ready in landing for this pass.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The slice id as the source gave it (the folder holds it escaped).
    pub slice: String,
    pub watermark: String,
    pub dir: LakePath,
}

/// A slice or folder name that is safe on every store: bytes outside `[A-Za-z0-9-_.]` (and a
/// leading `.` or `_`, which landing ignores) as `%XX`.
pub fn folder_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, b) in s.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'-' || (i > 0 && (b == b'_' || b == b'.'));
        if plain {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    out
}

/// The inverse of [`folder_name`].
pub fn from_folder_name(s: &str) -> String {
    if s == "%00" {
        return String::new();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Text columns filled row by row, cut into batches (the source's own rendering of each
/// value; bronze types them, and a value that does not type is quarantined with its row).
pub struct TextRows {
    schema: SchemaRef,
    builders: Vec<StringBuilder>,
    rows: usize,
    batch: usize,
}

/// Rows per landed batch (and per message between the reader and the writer).
pub const BATCH_ROWS: usize = 32 * 1024;

impl TextRows {
    pub fn new(names: &[String]) -> TextRows {
        Self::with_batch(names, BATCH_ROWS)
    }

    /// Rows per batch `batch` (smaller when many slices are filled at once).
    pub fn with_batch(names: &[String], batch: usize) -> TextRows {
        let schema = Arc::new(Schema::new(
            names
                .iter()
                .map(|n| Field::new(n, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        TextRows {
            builders: names.iter().map(|_| StringBuilder::new()).collect(),
            schema,
            rows: 0,
            batch,
        }
    }

    pub fn width(&self) -> usize {
        self.builders.len()
    }

    pub fn push(&mut self, col: usize, value: Option<&str>) {
        self.builders[col].append_option(value);
    }

    /// Ends a row; returns a full batch when one is due.
    pub fn end_row(&mut self) -> Option<RecordBatch> {
        self.rows += 1;
        (self.rows >= self.batch).then(|| self.take())
    }

    pub fn take(&mut self) -> RecordBatch {
        let cols: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), cols).expect("text columns match their schema")
    }

    pub fn pending(&self) -> usize {
        self.rows
    }
}

/// Writes one landed Parquet file to a local path (the caller moves it into place).
pub struct LandedWriter {
    writer: ArrowWriter<std::fs::File>,
    pub rows: u64,
}

impl LandedWriter {
    pub fn create(
        path: &std::path::Path,
        names: &[String],
        types: &[(String, String)],
    ) -> Result<LandedWriter> {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(|e| IngestError::Io {
                path: d.to_path_buf(),
                source: e,
            })?;
        }
        let file = std::fs::File::create(path).map_err(|e| IngestError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        let schema = TextRows::new(names).schema;
        // Small row groups: a read that fills many slices at once holds one group per slice.
        let props = WriterProperties::builder()
            .set_max_row_group_size(64 * 1024)
            .set_key_value_metadata(Some(vec![KeyValue::new(
                COLUMNS_KEY.to_string(),
                serde_json::to_string(types).unwrap_or_default(),
            )]))
            .build();
        let writer = ArrowWriter::try_new(file, schema, Some(props))
            .map_err(|e| IngestError::Unreadable(format!("landing writer: {e}")))?;
        Ok(LandedWriter { writer, rows: 0 })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        self.writer
            .write(batch)
            .map_err(|e| IngestError::Unreadable(format!("landing writer: {e}")))
    }

    /// Closes the file and makes it durable before it is moved into place.
    pub fn finish(self) -> Result<()> {
        let file = self
            .writer
            .into_inner()
            .map_err(|e| IngestError::Unreadable(format!("landing writer: {e}")))?;
        file.sync_all()
            .map_err(|e| IngestError::Unreadable(format!("landing writer: {e}")))?;
        Ok(())
    }
}

/// Where a landed file is written before it is complete: beside its place on a local lake
/// (a dot file landing ignores, then one rename), else a local temporary file uploaded whole.
pub fn staging_path(dir: &LakePath, name: &str) -> std::path::PathBuf {
    match dir.local_path() {
        Some(p) => p.join(format!(".{name}.{}.partial", std::process::id())),
        None => std::env::temp_dir().join(format!(
            "lakegate-{}-{}-{name}",
            std::process::id(),
            chrono::Utc::now().timestamp_micros()
        )),
    }
}

/// Writes `bytes` to a staging file and makes it durable (as [`LandedWriter::finish`] does).
pub fn stage_bytes(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let io = |e| IngestError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let mut f = std::fs::File::create(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Moves a finished staging file to `dir/name` as one step: a rename on local disk, one
/// upload (a single object appears only when complete) on an object store.
pub async fn publish(staged: &std::path::Path, dir: &LakePath, name: &str) -> Result<()> {
    if let Some(p) = dir.local_path() {
        let target = p.join(name);
        return std::fs::rename(staged, &target).map_err(|e| IngestError::Io {
            path: target,
            source: e,
        });
    }
    use object_store::ObjectStore;
    use tokio::io::AsyncReadExt;
    let location = dir.file(name);
    let store: &Arc<dyn ObjectStore> = dir.store();
    let upload = store
        .put_multipart(&location)
        .await
        .map_err(|e| IngestError::Store {
            at: location.to_string(),
            source: e,
        })?;
    let mut w = object_store::WriteMultipart::new(upload);
    let mut f = tokio::fs::File::open(staged)
        .await
        .map_err(|e| IngestError::Io {
            path: staged.to_path_buf(),
            source: e,
        })?;
    let mut buf = vec![0u8; 8 << 20];
    loop {
        let n = f.read(&mut buf).await.map_err(|e| IngestError::Io {
            path: staged.to_path_buf(),
            source: e,
        })?;
        if n == 0 {
            break;
        }
        w.write(&buf[..n]);
    }
    w.finish().await.map_err(|e| IngestError::Store {
        at: location.to_string(),
        source: e,
    })?;
    let _ = tokio::fs::remove_file(staged).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_round_trip() {
        for s in [
            "2026-01-01",
            "a/b",
            "_x",
            ".hidden",
            "caf\u{e9} 1",
            "",
            "50%",
            "x_y.z",
        ] {
            let f = folder_name(s);
            assert!(
                f.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.%".contains(&b)),
                "{f}"
            );
            assert!(!f.starts_with(['.', '_']), "{f}");
            assert_eq!(from_folder_name(&f), s);
        }
        assert_eq!(folder_name("2026-01-01"), "2026-01-01");
    }
}
