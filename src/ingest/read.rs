//! Reading one slice's files into typed Arrow columns, with every row that cannot be read
//! kept as a reject (file, line, reason) instead of failing the slice.
//!
//! Fields are first collected as text and then cast column by column with Arrow's cast kernel
//! (vectorized); a value the cast turns into NULL was not valid for its type.

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Int64Builder, RecordBatch, StringBuilder,
};
use datafusion::arrow::compute::{CastOptions, cast_with_options, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};

use super::IngestError;
use crate::config::{SchemaChange, SourceConfig, SourceFormat};

/// A row that could not be read, kept for quarantine.
#[derive(Debug, Clone)]
pub struct Reject {
    pub file: String,
    pub line: Option<i64>,
    pub reason: String,
    pub record: String,
}

/// One slice read: typed rows (business columns, then `_source_file`, `_source_line`).
pub struct SliceData {
    pub batch: RecordBatch,
    pub rejects: Vec<Reject>,
    pub bytes: u64,
}

/// Text columns being filled, growing when files bring new columns.
struct Collector {
    names: Vec<String>,
    types: Vec<DataType>,
    builders: Vec<StringBuilder>,
    file: StringBuilder,
    line: Int64Builder,
    rows: usize,
    rejects: Vec<Reject>,
    policy: SchemaChange,
    fixed: bool,
}

impl Collector {
    fn new(columns: Option<Vec<(String, DataType)>>, policy: SchemaChange) -> Collector {
        let fixed = columns.is_some();
        let columns = columns.unwrap_or_default();
        Collector {
            names: columns.iter().map(|c| c.0.clone()).collect(),
            types: columns.iter().map(|c| c.1.clone()).collect(),
            builders: columns.iter().map(|_| StringBuilder::new()).collect(),
            file: StringBuilder::new(),
            line: Int64Builder::new(),
            rows: 0,
            rejects: Vec::new(),
            policy,
            fixed,
        }
    }

    /// Index of a column named in a file; new columns follow `on_schema_change`.
    fn column(&mut self, name: &str, at: &str) -> Result<usize, IngestError> {
        if let Some(i) = self.names.iter().position(|n| n.eq_ignore_ascii_case(name)) {
            return Ok(i);
        }
        if self.fixed && self.policy == SchemaChange::Fail {
            return Err(IngestError::SchemaDrift(format!(
                "{at}: column `{name}` is not in the source's schema (on_schema_change: fail)"
            )));
        }
        let mut b = StringBuilder::new();
        for _ in 0..self.rows {
            b.append_null();
        }
        self.names.push(name.to_string());
        self.types.push(DataType::Utf8);
        self.builders.push(b);
        Ok(self.names.len() - 1)
    }

    fn push_row(&mut self, file: &str, line: i64, values: &[(usize, Option<&str>)]) {
        let mut filled = vec![false; self.builders.len()];
        for (i, v) in values {
            // An empty value is NULL for a typed column; a text column keeps it (CSV, which
            // cannot tell "" from nothing, passes NULL itself).
            match v {
                Some(s) if !s.is_empty() || self.types[*i] == DataType::Utf8 => {
                    self.builders[*i].append_value(s)
                }
                _ => self.builders[*i].append_null(),
            }
            filled[*i] = true;
        }
        for (i, f) in filled.iter().enumerate() {
            if !f {
                self.builders[i].append_null();
            }
        }
        self.file.append_value(file);
        self.line.append_value(line);
        self.rows += 1;
    }

    fn reject(&mut self, file: &str, line: Option<i64>, reason: String, record: String) {
        self.rejects.push(Reject {
            file: file.to_string(),
            line,
            reason,
            record,
        });
    }

    /// Casts the text columns to their types; rows with a value that does not cast are rejects.
    fn finish(mut self, bytes: u64) -> Result<SliceData, IngestError> {
        let strings: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        let files = self.file.finish();
        let lines = self.line.finish();
        let mut keep = vec![true; self.rows];
        let mut typed = Vec::with_capacity(strings.len());
        let options = CastOptions {
            safe: true,
            ..Default::default()
        };
        for (i, s) in strings.iter().enumerate() {
            let t = &self.types[i];
            if t == &DataType::Utf8 {
                typed.push(s.clone());
                continue;
            }
            let c = if t == &DataType::Binary {
                bytea(s)
            } else {
                cast_with_options(s, t, &options)?
            };
            if c.null_count() != s.null_count() {
                let text = datafusion::arrow::array::AsArray::as_string::<i32>(s.as_ref());
                for r in 0..self.rows {
                    if s.is_valid(r) && c.is_null(r) && keep[r] {
                        keep[r] = false;
                        self.rejects.push(Reject {
                            file: files.value(r).to_string(),
                            line: Some(lines.value(r)),
                            reason: format!(
                                "column {}: `{}` is not a valid {}",
                                self.names[i],
                                text.value(r),
                                type_name(t)
                            ),
                            record: text.value(r).to_string(),
                        });
                    }
                }
            }
            typed.push(c);
        }
        let mut fields: Vec<Field> = self
            .names
            .iter()
            .zip(&self.types)
            .map(|(n, t)| Field::new(n, t.clone(), true))
            .collect();
        fields.push(Field::new("_source_file", DataType::Utf8, false));
        fields.push(Field::new("_source_line", DataType::Int64, true));
        typed.push(Arc::new(files));
        typed.push(Arc::new(lines));
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), typed)?;
        let batch = if keep.iter().all(|k| *k) {
            batch
        } else {
            filter_record_batch(&batch, &BooleanArray::from(keep))?
        };
        Ok(SliceData {
            batch,
            rejects: self.rejects,
            bytes,
        })
    }
}

/// `\x0a1b...` (Postgres' hex output, also what a MySQL source lands) → bytes; anything else
/// is not a valid bytea (NULL here, a reject for the caller).
fn bytea(s: &ArrayRef) -> ArrayRef {
    let text = datafusion::arrow::array::AsArray::as_string::<i32>(s.as_ref());
    let out: datafusion::arrow::array::BinaryArray = text
        .iter()
        .map(|v| v.and_then(|v| hex::decode(v.strip_prefix("\\x")?).ok()))
        .collect();
    Arc::new(out)
}

/// The columns a database source recorded in its landed Parquet file (its own types mapped).
pub fn landed_columns(input: &Input) -> Result<Option<Vec<(String, DataType)>>, IngestError> {
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = match input {
        Input::File(p) => {
            let f = std::fs::File::open(p).map_err(|e| IngestError::Io {
                path: p.to_path_buf(),
                source: e,
            })?;
            SerializedFileReader::new(f).map(|r| r.metadata().file_metadata().clone())
        }
        Input::Bytes(b) => {
            SerializedFileReader::new(b.clone()).map(|r| r.metadata().file_metadata().clone())
        }
    }
    .map_err(|e| IngestError::Unreadable(e.to_string()))?;
    let Some(kv) = reader.key_value_metadata() else {
        return Ok(None);
    };
    let Some(json) = kv
        .iter()
        .find(|k| k.key == super::sources::COLUMNS_KEY)
        .and_then(|k| k.value.clone())
    else {
        return Ok(None);
    };
    let cols: Vec<(String, String)> = serde_json::from_str(&json)
        .map_err(|e| IngestError::Unreadable(format!("landed column types: {e}")))?;
    cols.into_iter()
        .map(|(n, t)| Ok((n, super::parse_type(&t).map_err(IngestError::Config)?)))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

pub fn type_name(t: &DataType) -> String {
    match t {
        DataType::Int64 => "bigint".into(),
        DataType::Int32 => "integer".into(),
        DataType::Int16 => "smallint".into(),
        DataType::Float64 => "double precision".into(),
        DataType::Float32 => "real".into(),
        DataType::Decimal128(p, s) => format!("numeric({p},{s})"),
        DataType::Date32 => "date".into(),
        DataType::Timestamp(_, None) => "timestamp".into(),
        DataType::Timestamp(_, Some(_)) => "timestamptz".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Binary => "bytea".into(),
        other => other.to_string(),
    }
}

/// One file of a slice: on local disk (streamed) or already fetched from an object store.
pub enum Input {
    File(std::path::PathBuf),
    Bytes(bytes::Bytes),
}

impl Input {
    fn len(&self) -> u64 {
        match self {
            Input::File(p) => std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
            Input::Bytes(b) => b.len() as u64,
        }
    }
}

fn open(input: &Input, shown: &str) -> Result<Box<dyn Read>, IngestError> {
    let raw: Box<dyn Read> = match input {
        Input::File(path) => Box::new(std::fs::File::open(path).map_err(|e| IngestError::Io {
            path: path.to_path_buf(),
            source: e,
        })?),
        Input::Bytes(b) => Box::new(std::io::Cursor::new(b.clone())),
    };
    Ok(if shown.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(raw)))
    } else {
        Box::new(BufReader::new(raw))
    })
}

/// Reads the files of one slice.
/// `files`: each file's path and the name recorded for it (relative to the lake root).
pub fn read_slice(
    files: &[(Input, String)],
    source: &SourceConfig,
    columns: Option<Vec<(String, DataType)>>,
) -> Result<SliceData, IngestError> {
    let mut c = Collector::new(columns, source.on_schema_change);
    let mut bytes = 0u64;
    for (path, shown) in files {
        bytes += path.len();
        let shown = shown.as_str();
        match source.landed_format() {
            SourceFormat::Csv => read_csv(path, shown, source, &mut c)?,
            SourceFormat::Json => read_json(path, shown, &mut c, source.http.is_some())?,
            SourceFormat::Parquet => read_parquet(path, shown, &mut c)?,
        }
    }
    c.finish(bytes)
}

fn read_csv(
    path: &Input,
    shown: &str,
    source: &SourceConfig,
    c: &mut Collector,
) -> Result<(), IngestError> {
    let delimiter = u8::try_from(source.csv.delimiter).map_err(|_| {
        IngestError::Config(format!(
            "csv.delimiter `{}` is not one byte",
            source.csv.delimiter
        ))
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(open(path, shown)?);
    let mut records = reader.records();
    let mapping: Vec<usize> = if source.csv.header {
        match records.next() {
            Some(Ok(h)) => h
                .iter()
                .map(|name| c.column(name.trim(), &format!("{shown}:1")))
                .collect::<Result<_, _>>()?,
            Some(Err(e)) => {
                return Err(IngestError::Unreadable(format!("{shown}:1: {e}")));
            }
            None => return Ok(()),
        }
    } else {
        (0..c.names.len()).collect()
    };
    for r in records {
        let rec = match r {
            Ok(rec) => rec,
            Err(e) => {
                let line = e.position().map(|p| p.line() as i64);
                c.reject(shown, line, format!("unreadable CSV: {e}"), String::new());
                continue;
            }
        };
        let line = rec.position().map(|p| p.line() as i64).unwrap_or(0);
        if rec.len() != mapping.len() {
            let raw = rec
                .iter()
                .collect::<Vec<_>>()
                .join(&(delimiter as char).to_string());
            c.reject(
                shown,
                Some(line),
                format!("expected {} fields, found {}", mapping.len(), rec.len()),
                raw,
            );
            continue;
        }
        let values: Vec<(usize, Option<&str>)> = rec
            .iter()
            .enumerate()
            .map(|(i, v)| (mapping[i], (!v.is_empty()).then_some(v)))
            .collect();
        c.push_row(shown, line, &values);
    }
    Ok(())
}

/// Nested objects as `parent_child` keys (an API's records; arrays stay JSON text).
fn flatten(
    prefix: &str,
    obj: &serde_json::Map<String, serde_json::Value>,
    out: &mut Vec<(String, serde_json::Value)>,
) {
    for (k, v) in obj {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}_{k}")
        };
        match v {
            serde_json::Value::Object(inner) => flatten(&key, inner, out),
            other => out.push((key, other.clone())),
        }
    }
}

fn read_json(path: &Input, shown: &str, c: &mut Collector, flat: bool) -> Result<(), IngestError> {
    let reader = BufReader::new(open(path, shown)?);
    for (n, line) in reader.lines().enumerate() {
        let line_no = n as i64 + 1;
        let line = line.map_err(|e| IngestError::Unreadable(format!("{shown}:{line_no}: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let obj = match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&line) {
            Ok(o) => o,
            Err(e) => {
                c.reject(shown, Some(line_no), format!("invalid JSON: {e}"), line);
                continue;
            }
        };
        let mut owned: Vec<(usize, Option<String>)> = Vec::with_capacity(obj.len());
        let fields: Vec<(String, serde_json::Value)> = if flat {
            let mut f = Vec::new();
            flatten("", &obj, &mut f);
            f
        } else {
            obj.into_iter().collect()
        };
        for (k, v) in &fields {
            let i = c.column(k, &format!("{shown}:{line_no}"))?;
            let s = match v {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            };
            owned.push((i, s));
        }
        let values: Vec<(usize, Option<&str>)> =
            owned.iter().map(|(i, s)| (*i, s.as_deref())).collect();
        c.push_row(shown, line_no, &values);
    }
    Ok(())
}

/// Message values that are JSON objects, each a row (top-level fields are columns; nested
/// values stay JSON text). `_source_line` is the message's index in `values`; a value that is
/// not an object, has a field the schema does not allow, or does not type is a reject (with
/// that index as its line), never an error: a stream must not stall on one bad message.
pub fn read_json_messages(
    values: &[Option<&[u8]>],
    source: &SourceConfig,
    columns: Option<Vec<(String, DataType)>>,
) -> Result<SliceData, IngestError> {
    let mut c = Collector::new(columns, source.on_schema_change);
    let mut bytes = 0u64;
    'messages: for (n, v) in values.iter().enumerate() {
        let Some(v) = v else { continue };
        bytes += v.len() as u64;
        let line = n as i64;
        let raw = || String::from_utf8_lossy(v).into_owned();
        let obj = match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(v) {
            Ok(o) => o,
            Err(e) => {
                c.reject("", Some(line), format!("not a JSON object: {e}"), raw());
                continue;
            }
        };
        let mut owned: Vec<(usize, Option<String>)> = Vec::with_capacity(obj.len());
        for (k, v) in &obj {
            let i = match c.column(k, "message") {
                Ok(i) => i,
                Err(e) => {
                    c.reject("", Some(line), e.to_string(), raw());
                    continue 'messages;
                }
            };
            let s = match v {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            };
            owned.push((i, s));
        }
        let values: Vec<(usize, Option<&str>)> =
            owned.iter().map(|(i, s)| (*i, s.as_deref())).collect();
        c.push_row("", line, &values);
    }
    c.finish(bytes)
}

fn read_parquet(path: &Input, shown: &str, c: &mut Collector) -> Result<(), IngestError> {
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let reader = match path {
        Input::File(p) => {
            let f = std::fs::File::open(p).map_err(|e| IngestError::Io {
                path: p.to_path_buf(),
                source: e,
            })?;
            ParquetRecordBatchReaderBuilder::try_new(f).and_then(|b| b.build())
        }
        Input::Bytes(b) => {
            ParquetRecordBatchReaderBuilder::try_new(b.clone()).and_then(|b| b.build())
        }
    }
    .map_err(|e| IngestError::Unreadable(format!("{shown}: {e}")))?;
    let mut row = 0i64;
    for batch in reader {
        let batch = batch.map_err(|e| IngestError::Unreadable(format!("{shown}: {e}")))?;
        let mut cols = Vec::new();
        for (f, a) in batch.schema().fields().iter().zip(batch.columns()) {
            let i = c.column(f.name(), shown)?;
            let text = datafusion::arrow::compute::cast(a, &DataType::Utf8)?;
            cols.push((i, text));
        }
        for r in 0..batch.num_rows() {
            row += 1;
            let values: Vec<(usize, Option<&str>)> = cols
                .iter()
                .map(|(i, a)| {
                    let s = datafusion::arrow::array::AsArray::as_string::<i32>(a.as_ref());
                    (*i, s.is_valid(r).then(|| s.value(r)))
                })
                .collect();
            c.push_row(shown, row, &values);
        }
    }
    Ok(())
}
