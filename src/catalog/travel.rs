//! Table names with a suffix: time travel (`t@v12`, `t@20260101000000000`, Databricks'
//! shorthands, which the `FOR VERSION AS OF` family is rewritten to; `t@ref:audit` for an
//! Iceberg branch or tag) and metadata tables (`t$history`, `t$files`, `t$partitions`; Iceberg
//! also `t$snapshots`, `t$manifests`). They are resolved on lookup and never listed, so
//! catalogs and `\dt` show each table once.

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;

use deltalake::kernel::scalars::ScalarExt;

use super::TableEntry;

/// What a suffixed name asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum TableRef {
    Version(i64),
    Timestamp(DateTime<Utc>),
    /// An Iceberg branch or tag.
    Ref(String),
    History,
    Files,
    Partitions,
    Snapshots,
    Manifests,
}

/// `name@v12` → (`name`, Version(12)); `name@yyyyMMddHHmmssSSS` → Timestamp; `name@ref:b` →
/// Ref(b); `name$history` and the other metadata tables. Anything else is not a suffixed name.
pub fn split(name: &str) -> Option<(&str, TableRef)> {
    if let Some((base, meta)) = name.rsplit_once('$') {
        let r = match meta.to_ascii_lowercase().as_str() {
            "history" => TableRef::History,
            "files" => TableRef::Files,
            "partitions" => TableRef::Partitions,
            "snapshots" => TableRef::Snapshots,
            "manifests" => TableRef::Manifests,
            _ => return None,
        };
        return (!base.is_empty()).then_some((base, r));
    }
    let (base, at) = name.rsplit_once('@')?;
    if base.is_empty() {
        return None;
    }
    if let Some(r) = at.strip_prefix("ref:").filter(|r| !r.is_empty()) {
        return Some((base, TableRef::Ref(r.to_string())));
    }
    if let Some(v) = at.strip_prefix('v').or_else(|| at.strip_prefix('V')) {
        return v.parse().ok().map(|v| (base, TableRef::Version(v)));
    }
    if at.len() == 17 && at.bytes().all(|b| b.is_ascii_digit()) {
        let t = NaiveDateTime::parse_from_str(&at[..14], "%Y%m%d%H%M%S").ok()?;
        let ms: i64 = at[14..].parse().ok()?;
        return Some((
            base,
            TableRef::Timestamp(t.and_utc() + chrono::Duration::milliseconds(ms)),
        ));
    }
    None
}

/// The table a possibly suffixed name reads (grants and row filters apply to it).
pub fn base_name(name: &str) -> &str {
    split(name).map(|(b, _)| b).unwrap_or(name)
}

/// Why a suffixed name cannot be served; SQLSTATE 22023 at the wire.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TravelError(pub String);

fn travel_err(msg: String) -> DataFusionError {
    DataFusionError::External(Box::new(TravelError(msg)))
}

pub async fn provider(
    entry: &TableEntry,
    r: TableRef,
) -> Result<Arc<dyn TableProvider>, DataFusionError> {
    let full = format!("{}.{}", entry.zone, entry.name);
    match r {
        TableRef::Version(v) => {
            if v > entry.version || v < 0 {
                return Err(travel_err(format!(
                    "table {full} has no version {v} (the latest is {})",
                    entry.version
                )));
            }
            at_version(entry, v).await
        }
        TableRef::Timestamp(ts) => {
            // Delta's commit time is the commit file's modification time (as Spark reads it).
            let commits = commits(entry).await?;
            let Some((v, ..)) = commits.iter().rev().find(|(_, _, t)| *t <= ts) else {
                return Err(travel_err(match commits.first() {
                    Some((v, _, t)) => format!(
                        "{full} has no version at {}: the earliest kept is version {v} at {}",
                        ts.format("%Y-%m-%d %H:%M:%S%.3f UTC"),
                        t.format("%Y-%m-%d %H:%M:%S%.3f UTC")
                    ),
                    None => format!("{full} has no commits in its log"),
                }));
            };
            at_version(entry, *v).await
        }
        TableRef::History => history(entry).await,
        TableRef::Files => files(entry),
        TableRef::Partitions => partitions(entry),
        TableRef::Ref(name) => Err(travel_err(format!(
            "{full} is a Delta table: it has no branch or tag {name:?} (branches and tags are Iceberg's)"
        ))),
        TableRef::Snapshots | TableRef::Manifests => Err(travel_err(format!(
            "{full} is a Delta table: $snapshots and $manifests are Iceberg metadata tables (see $history and $files)"
        ))),
    }
}

/// How many past versions stay loaded (across tables), so dashboards pinned to a version do not
/// replay the log on every query.
const CACHED_VERSIONS: usize = 16;

type VersionCache = std::collections::VecDeque<((String, i64), Arc<dyn TableProvider>)>;

fn version_cache() -> &'static std::sync::Mutex<VersionCache> {
    static CACHE: std::sync::OnceLock<std::sync::Mutex<VersionCache>> = std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The provider of version `v` (at most the served version), loaded once and kept in a small
/// most-recently-used cache keyed by location, table id and version: a version's content
/// never changes, and a table rewritten at the same path has another id.
async fn at_version(entry: &TableEntry, v: i64) -> Result<Arc<dyn TableProvider>, DataFusionError> {
    if v == entry.version {
        return Ok(entry.provider());
    }
    let id = entry
        .table
        .snapshot()
        .map(|s| s.metadata().id().to_string())
        .unwrap_or_default();
    let key = (format!("{}#{id}", entry.location), v);
    {
        let mut cache = version_cache().lock().expect("version cache lock");
        if let Some(i) = cache.iter().position(|(k, _)| *k == key) {
            let hit = cache.remove(i).expect("cached entry");
            let provider = hit.1.clone();
            cache.push_front(hit);
            tracing::debug!(table = %entry.location, version = v, "past version from cache");
            return Ok(provider);
        }
    }
    let full = format!("{}.{}", entry.zone, entry.name);
    let mut t = entry.table.clone();
    t.load_version(v)
        .await
        .map_err(|e| travel_err(format!("version {v} of {full} cannot be read: {e}")))?;
    let provider = super::delta_provider(&t).await?;
    let mut cache = version_cache().lock().expect("version cache lock");
    if !cache.iter().any(|(k, _)| *k == key) {
        cache.push_front((key, provider.clone()));
        cache.truncate(CACHED_VERSIONS);
    }
    Ok(provider)
}

/// The commits still in the log up to the served version, oldest first: version, commit file,
/// commit time.
async fn commits(
    entry: &TableEntry,
) -> Result<Vec<(i64, ObjectPath, DateTime<Utc>)>, DataFusionError> {
    let store = entry.table.log_store().object_store(None);
    let log = ObjectPath::from("_delta_log");
    let mut commits: Vec<(i64, ObjectPath, DateTime<Utc>)> = store
        .list(Some(&log))
        .try_filter_map(|m| async move {
            let name = m.location.filename().unwrap_or_default();
            let version = name
                .strip_suffix(".json")
                .filter(|v| v.len() == 20)
                .and_then(|v| v.parse::<i64>().ok());
            Ok(version.map(|v| (v, m.location.clone(), m.last_modified)))
        })
        .try_collect()
        .await
        .map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?;
    commits.retain(|(v, ..)| *v <= entry.version);
    commits.sort_by_key(|c| c.0);
    Ok(commits)
}

/// One row per commit still in the log, newest first, with the `commitInfo` fields of
/// Databricks' DESCRIBE HISTORY; `timestamp` is the commit time `TIMESTAMP AS OF` uses.
async fn history(entry: &TableEntry) -> Result<Arc<dyn TableProvider>, DataFusionError> {
    let store = entry.table.log_store().object_store(None);
    let mut commits = commits(entry).await?;
    commits.reverse();
    let infos: Vec<(i64, DateTime<Utc>, Option<serde_json::Value>)> =
        futures::stream::iter(commits)
            .map(|(v, path, modified)| {
                let store = store.clone();
                async move {
                    let bytes = store.get(&path).await?.bytes().await?;
                    let info = bytes
                        .split(|b| *b == b'\n')
                        .filter_map(|l| serde_json::from_slice::<serde_json::Value>(l).ok())
                        .find_map(|mut a| a.get_mut("commitInfo").map(serde_json::Value::take));
                    Ok::<_, object_store::Error>((v, modified, info))
                }
            })
            .buffered(8)
            .try_collect()
            .await
            .map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?;

    let text = |info: &Option<serde_json::Value>, key: &str| -> Option<String> {
        match info.as_ref()?.get(key)? {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("version", DataType::Int64, false),
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("operation", DataType::Utf8, true),
        Field::new("operation_parameters", DataType::Utf8, true),
        Field::new("operation_metrics", DataType::Utf8, true),
        Field::new("user_name", DataType::Utf8, true),
        Field::new("engine_info", DataType::Utf8, true),
        Field::new("read_version", DataType::Int64, true),
        Field::new("is_blind_append", DataType::Boolean, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(infos.iter().map(|i| i.0))),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                infos
                    .iter()
                    .map(|(_, modified, _)| modified.timestamp_micros()),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(StringArray::from_iter(
            infos.iter().map(|i| text(&i.2, "operation")),
        )),
        Arc::new(StringArray::from_iter(
            infos.iter().map(|i| text(&i.2, "operationParameters")),
        )),
        Arc::new(StringArray::from_iter(
            infos.iter().map(|i| text(&i.2, "operationMetrics")),
        )),
        Arc::new(StringArray::from_iter(
            infos.iter().map(|i| text(&i.2, "userName")),
        )),
        Arc::new(StringArray::from_iter(infos.iter().map(|i| {
            text(&i.2, "engineInfo").or_else(|| text(&i.2, "clientVersion"))
        }))),
        Arc::new(Int64Array::from_iter(infos.iter().map(|i| {
            i.2.as_ref().and_then(|i| i.get("readVersion")?.as_i64())
        }))),
        Arc::new(BooleanArray::from_iter(infos.iter().map(|i| {
            i.2.as_ref().and_then(|i| i.get("isBlindAppend")?.as_bool())
        }))),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

/// A file's partition values as a JSON object (values as Delta serializes them); None for an
/// unpartitioned table.
fn partition_json(f: &deltalake::kernel::LogicalFileView) -> Option<String> {
    f.partition_values().map(|data| {
        let map: serde_json::Map<String, serde_json::Value> = data
            .fields()
            .iter()
            .zip(data.values())
            .map(|(k, v)| {
                let v = if v.is_null() {
                    serde_json::Value::Null
                } else {
                    serde_json::Value::String(v.serialize())
                };
                (k.name().to_string(), v)
            })
            .collect();
        serde_json::Value::Object(map).to_string()
    })
}

/// The data files of the served version: path (relative to the table), size, modification
/// time, partition values and record count.
fn files(entry: &TableEntry) -> Result<Arc<dyn TableProvider>, DataFusionError> {
    let snapshot = entry
        .table
        .snapshot()
        .map_err(|e| travel_err(format!("{}.{}: {e}", entry.zone, entry.name)))?;
    let mut path = Vec::new();
    let mut size = Vec::new();
    let mut modified = Vec::new();
    let mut partitions = Vec::new();
    let mut records = Vec::new();
    for f in snapshot.log_data().iter() {
        path.push(f.path().to_string());
        size.push(f.size());
        modified.push(f.modification_time() * 1000);
        partitions.push(partition_json(&f));
        records.push(f.num_records().map(|n| n as i64));
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("size_bytes", DataType::Int64, false),
        Field::new(
            "modification_time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("partition_values", DataType::Utf8, true),
        Field::new("num_records", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(path)),
            Arc::new(Int64Array::from(size)),
            Arc::new(TimestampMicrosecondArray::from(modified).with_timezone("UTC")),
            Arc::new(StringArray::from(partitions)),
            Arc::new(Int64Array::from(records)),
        ],
    )?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

/// One row per partition of the served version: its values, record count (where the log
/// has statistics), file count and size.
fn partitions(entry: &TableEntry) -> Result<Arc<dyn TableProvider>, DataFusionError> {
    let snapshot = entry
        .table
        .snapshot()
        .map_err(|e| travel_err(format!("{}.{}: {e}", entry.zone, entry.name)))?;
    // partition JSON → (records, files, bytes); records are None once a file lacks stats.
    let mut groups: std::collections::BTreeMap<Option<String>, (Option<i64>, i64, i64)> =
        Default::default();
    for f in snapshot.log_data().iter() {
        let g = groups.entry(partition_json(&f)).or_insert((Some(0), 0, 0));
        g.0 = match (g.0, f.num_records()) {
            (Some(a), Some(n)) => Some(a + n as i64),
            _ => None,
        };
        g.1 += 1;
        g.2 += f.size();
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("partition_values", DataType::Utf8, true),
        Field::new("record_count", DataType::Int64, true),
        Field::new("file_count", DataType::Int64, false),
        Field::new("total_size_bytes", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter(groups.keys().cloned())),
            Arc::new(Int64Array::from_iter(groups.values().map(|g| g.0))),
            Arc::new(Int64Array::from_iter_values(groups.values().map(|g| g.1))),
            Arc::new(Int64Array::from_iter_values(groups.values().map(|g| g.2))),
        ],
    )?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_parse_and_plain_names_do_not() {
        assert_eq!(split("t@v12"), Some(("t", TableRef::Version(12))));
        assert_eq!(
            split("a@b@20260102030405678"),
            Some((
                "a@b",
                TableRef::Timestamp("2026-01-02T03:04:05.678Z".parse().unwrap())
            ))
        );
        assert_eq!(split("t$history"), Some(("t", TableRef::History)));
        assert_eq!(split("t$FILES"), Some(("t", TableRef::Files)));
        assert_eq!(split("t$partitions"), Some(("t", TableRef::Partitions)));
        assert_eq!(
            split("t@ref:audit-1"),
            Some(("t", TableRef::Ref("audit-1".into())))
        );
        for plain in [
            "t",
            "t@",
            "t@vx",
            "t$other",
            "@v1",
            "t@2026",
            "t@ref:",
            "user@example",
        ] {
            assert_eq!(split(plain), None, "{plain}");
        }
        assert_eq!(base_name("t@v1"), "t");
        assert_eq!(base_name("t"), "t");
    }
}
