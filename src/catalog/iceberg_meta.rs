//! Time travel and metadata tables of one Iceberg table, from a catalog or a metadata file:
//! `t@v<snapshot id>`, `t@<time>`, `t@ref:<branch or tag>`, and `t$history`, `t$files`,
//! `t$partitions`, `t$snapshots`, `t$manifests` (the last two through iceberg-rust's inspect
//! tables). Metadata tables are small and built in memory, so projections and filters just work.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use futures::TryStreamExt;
use iceberg::spec::{
    DataContentType, Literal, ManifestStatus, PartitionSpec, PrimitiveLiteral, Struct,
};
use iceberg::table::Table;
use iceberg_datafusion::IcebergStaticTableProvider;

use super::travel::{TableRef, TravelError};

fn fail(m: String) -> DataFusionError {
    DataFusionError::External(Box::new(TravelError(m)))
}

/// What `r` asks of `table` (`full` names it in errors).
pub async fn provider(
    table: Table,
    full: &str,
    r: TableRef,
) -> Result<Arc<dyn TableProvider>, DataFusionError> {
    let metadata = table.metadata();
    // A branch is read with the table's current schema, a tag or a snapshot with its own (the
    // spec's rule, as Java and pyiceberg do).
    let mut branch = false;
    let snapshot = match r {
        TableRef::Version(id) => {
            if metadata.snapshot_by_id(id).is_none() {
                return Err(fail(format!("iceberg table {full} has no snapshot {id}")));
            }
            id
        }
        TableRef::Timestamp(ts) => metadata
            .history()
            .iter()
            .rev()
            .find(|l| l.timestamp_ms <= ts.timestamp_millis())
            .map(|l| l.snapshot_id)
            .ok_or_else(|| {
                fail(format!(
                    "iceberg table {full} has no snapshot at {}",
                    ts.format("%Y-%m-%d %H:%M:%S%.3f UTC")
                ))
            })?,
        TableRef::Ref(name) => {
            branch = is_branch(metadata, &name);
            metadata
                .snapshot_for_ref(&name)
                .map(|s| s.snapshot_id())
                .ok_or_else(|| {
                    fail(format!(
                        "iceberg table {full} has no branch or tag {name:?}"
                    ))
                })?
        }
        TableRef::History => return history(&table),
        TableRef::Files => return files(&table).await,
        TableRef::Partitions => return partitions(&table).await,
        TableRef::Snapshots => {
            return inspect(table.inspect().snapshots().scan().await).await;
        }
        TableRef::Manifests => {
            return inspect(table.inspect().manifests().scan().await).await;
        }
    };
    let table = if branch {
        super::iceberg::under_current_schema(&table, snapshot)
            .map_err(|e| DataFusionError::External(Box::new(e)))?
    } else {
        table
    };
    let provider = IcebergStaticTableProvider::try_new_from_table_snapshot(table, snapshot)
        .await
        .map_err(|e| fail(format!("{full} at snapshot {snapshot}: {e}")))?;
    Ok(Arc::new(provider))
}

/// Whether `name` is a branch (iceberg-rust keeps the refs' kinds private; the metadata's JSON
/// form has them as `refs.<name>.type`).
fn is_branch(metadata: &iceberg::spec::TableMetadata, name: &str) -> bool {
    name == "main"
        || serde_json::to_value(metadata).is_ok_and(|j| j["refs"][name]["type"] == "branch")
}

fn memtable(
    schema: Schema,
    columns: Vec<ArrayRef>,
) -> Result<Arc<dyn TableProvider>, DataFusionError> {
    let schema = Arc::new(schema);
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

async fn inspect(
    stream: iceberg::Result<iceberg::scan::ArrowRecordBatchStream>,
) -> Result<Arc<dyn TableProvider>, DataFusionError> {
    let ext = |e: iceberg::Error| DataFusionError::External(Box::new(e));
    let batches: Vec<RecordBatch> = stream.map_err(ext)?.try_collect().await.map_err(ext)?;
    let Some(first) = batches.first() else {
        return Err(fail("iceberg metadata table returned no schema".into()));
    };
    let schema = first.schema();
    Ok(Arc::new(MemTable::try_new(schema, vec![batches])?))
}

fn utc_micros(ms: impl Iterator<Item = i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter_values(ms.map(|m| m * 1000)).with_timezone("UTC"))
}

fn timestamp_field(name: &str) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        false,
    )
}

/// The snapshots that were current on the main branch, newest first, in the columns Delta's
/// `$history` has: version (the snapshot id), timestamp, operation, and the snapshot summary
/// as `operation_metrics`; plus parent id and whether it is an ancestor of the current one.
fn history(table: &Table) -> Result<Arc<dyn TableProvider>, DataFusionError> {
    let m = table.metadata();
    let mut ancestors = std::collections::HashSet::new();
    let mut at = m.current_snapshot().map(|s| s.snapshot_id());
    while let Some(id) = at {
        if !ancestors.insert(id) {
            break;
        }
        at = m.snapshot_by_id(id).and_then(|s| s.parent_snapshot_id());
    }
    let log: Vec<_> = m.history().iter().rev().collect();
    let snap = |id: i64| m.snapshot_by_id(id);
    let summary = |id: i64| {
        snap(id).map(|s| {
            let props: BTreeMap<&String, &String> =
                s.summary().additional_properties.iter().collect();
            serde_json::to_string(&props).unwrap_or_default()
        })
    };
    memtable(
        Schema::new(vec![
            Field::new("version", DataType::Int64, false),
            timestamp_field("timestamp"),
            Field::new("operation", DataType::Utf8, true),
            Field::new("operation_metrics", DataType::Utf8, true),
            Field::new("parent_id", DataType::Int64, true),
            Field::new("is_current_ancestor", DataType::Boolean, false),
        ]),
        vec![
            Arc::new(Int64Array::from_iter_values(
                log.iter().map(|l| l.snapshot_id),
            )),
            utc_micros(log.iter().map(|l| l.timestamp_ms)),
            Arc::new(StringArray::from_iter(log.iter().map(|l| {
                snap(l.snapshot_id).map(|s| s.summary().operation.as_str().to_string())
            }))),
            Arc::new(StringArray::from_iter(
                log.iter().map(|l| summary(l.snapshot_id)),
            )),
            Arc::new(Int64Array::from_iter(log.iter().map(|l| {
                snap(l.snapshot_id).and_then(|s| s.parent_snapshot_id())
            }))),
            Arc::new(BooleanArray::from_iter(
                log.iter().map(|l| Some(ancestors.contains(&l.snapshot_id))),
            )),
        ],
    )
}

/// A live file of the current snapshot.
struct LiveFile {
    content: DataContentType,
    path: String,
    format: String,
    spec_id: i32,
    partition: Option<String>,
    records: i64,
    size: i64,
}

async fn live_files(table: &Table) -> Result<Vec<LiveFile>, DataFusionError> {
    let ext = |e: iceberg::Error| DataFusionError::External(Box::new(e));
    let m = table.metadata();
    let Some(snapshot) = m.current_snapshot() else {
        return Ok(Vec::new());
    };
    let list = snapshot
        .load_manifest_list(table.file_io(), m)
        .await
        .map_err(ext)?;
    let mut out = Vec::new();
    for mf in list.entries() {
        let manifest = mf.load_manifest(table.file_io()).await.map_err(ext)?;
        let spec = manifest.metadata().partition_spec().clone();
        for e in manifest.entries() {
            if e.status() == ManifestStatus::Deleted {
                continue;
            }
            let f = e.data_file();
            out.push(LiveFile {
                content: f.content_type(),
                path: f.file_path().to_string(),
                format: format!("{:?}", f.file_format()).to_ascii_uppercase(),
                spec_id: spec.spec_id(),
                partition: partition_json(&spec, f.partition()),
                records: f.record_count() as i64,
                size: f.file_size_in_bytes() as i64,
            });
        }
    }
    Ok(out)
}

/// Partition values by partition field name, as JSON; None when unpartitioned.
fn partition_json(spec: &PartitionSpec, values: &Struct) -> Option<String> {
    if spec.fields().is_empty() {
        return None;
    }
    let map: serde_json::Map<String, serde_json::Value> = spec
        .fields()
        .iter()
        .zip(values.iter())
        .map(|(f, v)| (f.name.clone(), literal_json(v)))
        .collect();
    Some(serde_json::Value::Object(map).to_string())
}

fn literal_json(v: Option<&Literal>) -> serde_json::Value {
    use serde_json::Value;
    match v {
        None => Value::Null,
        Some(Literal::Primitive(p)) => match p {
            PrimitiveLiteral::Boolean(b) => Value::Bool(*b),
            PrimitiveLiteral::Int(i) => Value::from(*i),
            PrimitiveLiteral::Long(i) => Value::from(*i),
            PrimitiveLiteral::Float(f) => Value::from(f.0 as f64),
            PrimitiveLiteral::Double(f) => Value::from(f.0),
            PrimitiveLiteral::String(s) => Value::String(s.clone()),
            other => Value::String(format!("{other:?}")),
        },
        Some(other) => Value::String(format!("{other:?}")),
    }
}

fn content_code(c: DataContentType) -> i32 {
    match c {
        DataContentType::Data => 0,
        DataContentType::PositionDeletes => 1,
        DataContentType::EqualityDeletes => 2,
    }
}

/// The live data and delete files of the current snapshot (`content` as Iceberg numbers it:
/// 0 data, 1 position deletes, 2 equality deletes).
async fn files(table: &Table) -> Result<Arc<dyn TableProvider>, DataFusionError> {
    let files = live_files(table).await?;
    memtable(
        Schema::new(vec![
            Field::new("content", DataType::Int32, false),
            Field::new("file_path", DataType::Utf8, false),
            Field::new("file_format", DataType::Utf8, false),
            Field::new("spec_id", DataType::Int32, false),
            Field::new("partition", DataType::Utf8, true),
            Field::new("record_count", DataType::Int64, false),
            Field::new("file_size_in_bytes", DataType::Int64, false),
        ]),
        vec![
            Arc::new(Int32Array::from_iter_values(
                files.iter().map(|f| content_code(f.content)),
            )),
            Arc::new(StringArray::from_iter_values(files.iter().map(|f| &f.path))),
            Arc::new(StringArray::from_iter_values(
                files.iter().map(|f| &f.format),
            )),
            Arc::new(Int32Array::from_iter_values(
                files.iter().map(|f| f.spec_id),
            )),
            Arc::new(StringArray::from_iter(
                files.iter().map(|f| f.partition.clone()),
            )),
            Arc::new(Int64Array::from_iter_values(
                files.iter().map(|f| f.records),
            )),
            Arc::new(Int64Array::from_iter_values(files.iter().map(|f| f.size))),
        ],
    )
}

/// One row per (spec, partition) of the current snapshot, with Spark's columns: data records,
/// files and bytes, and position/equality delete records and files.
async fn partitions(table: &Table) -> Result<Arc<dyn TableProvider>, DataFusionError> {
    #[derive(Default)]
    struct Acc {
        records: i64,
        files: i64,
        bytes: i64,
        pos_records: i64,
        pos_files: i64,
        eq_records: i64,
        eq_files: i64,
    }
    let mut groups: BTreeMap<(i32, Option<String>), Acc> = BTreeMap::new();
    for f in live_files(table).await? {
        let a = groups.entry((f.spec_id, f.partition)).or_default();
        match f.content {
            DataContentType::Data => {
                a.records += f.records;
                a.files += 1;
                a.bytes += f.size;
            }
            DataContentType::PositionDeletes => {
                a.pos_records += f.records;
                a.pos_files += 1;
            }
            DataContentType::EqualityDeletes => {
                a.eq_records += f.records;
                a.eq_files += 1;
            }
        }
    }
    let col = |f: fn(&Acc) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(groups.values().map(f)))
    };
    memtable(
        Schema::new(vec![
            Field::new("partition", DataType::Utf8, true),
            Field::new("spec_id", DataType::Int32, false),
            Field::new("record_count", DataType::Int64, false),
            Field::new("file_count", DataType::Int64, false),
            Field::new("total_data_file_size_in_bytes", DataType::Int64, false),
            Field::new("position_delete_record_count", DataType::Int64, false),
            Field::new("position_delete_file_count", DataType::Int64, false),
            Field::new("equality_delete_record_count", DataType::Int64, false),
            Field::new("equality_delete_file_count", DataType::Int64, false),
        ]),
        vec![
            Arc::new(StringArray::from_iter(groups.keys().map(|k| k.1.clone()))),
            Arc::new(Int32Array::from_iter_values(groups.keys().map(|k| k.0))),
            col(|a| a.records),
            col(|a| a.files),
            col(|a| a.bytes),
            col(|a| a.pos_records),
            col(|a| a.pos_files),
            col(|a| a.eq_records),
            col(|a| a.eq_files),
        ],
    )
}
