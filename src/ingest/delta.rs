//! Delta helpers of every stage: lineage columns, commits that carry the slice's
//! application transaction, and the check that a transaction already committed.

use super::*;

pub(super) const BRONZE_LINEAGE: [&str; 6] = [
    "_slice_id",
    "_watermark",
    "_source_file",
    "_source_line",
    "_ingested_at",
    "_run_id",
];

/// Bronze columns that are not the source's own (lineage, and a Kafka message's position).
pub(super) fn is_lineage(name: &str) -> bool {
    BRONZE_LINEAGE.contains(&name) || name.starts_with("_kafka_")
}

pub(crate) fn app_id(stage: &str, table: &str, slice: &str, watermark: &str) -> String {
    format!("lakegate:{stage}:{table}:{slice}:{watermark}")
}

pub(crate) fn quote(s: &str) -> String {
    s.replace('\'', "''")
}

pub(crate) fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

pub(super) async fn open_table(path: &LakePath) -> Result<Option<DeltaTable>> {
    if !path.is_table().await? {
        return Ok(None);
    }
    Ok(Some(path.open_delta().await?))
}

pub(crate) async fn committed(table: &Option<DeltaTable>, app: &str) -> Result<bool> {
    let Some(t) = table else { return Ok(false) };
    let v = t
        .snapshot()?
        .transaction_version(t.log_store().as_ref(), app)
        .await?;
    Ok(v.is_some())
}

/// One Delta commit: the batches, replacing `replace` (a SQL predicate) or appending, with
/// the application transaction that marks the slice as done.
pub(crate) async fn commit(
    path: &LakePath,
    name: &str,
    batches: Vec<RecordBatch>,
    replace: Option<String>,
    partition_by: &[String],
    app: &str,
    merge_schema: bool,
) -> Result<DeltaTable> {
    path.create()?;
    let exists = path.is_table().await?;
    let table = path.delta_or_new().await?;
    let props = CommitProperties::default().with_application_transaction(Transaction::new(app, 1));
    let mut w = table
        .write(batches)
        .with_table_name(name)
        .with_commit_properties(props);
    if !partition_by.is_empty() {
        w = w.with_partition_columns(partition_by.to_vec());
    }
    if merge_schema && exists {
        w = w.with_schema_mode(SchemaMode::Merge);
    }
    w = match (replace, exists) {
        (Some(p), true) => w.with_save_mode(SaveMode::Overwrite).with_replace_where(p),
        _ => w.with_save_mode(SaveMode::Append),
    };
    Ok(w.await?)
}

/// Bronze rows: the typed columns, `_slice_id`, `_watermark`, the source position,
/// `_ingested_at` and `_run_id`.
pub(super) fn with_lineage(
    batch: &RecordBatch,
    slice: &str,
    wm: &str,
    run: &str,
) -> Result<RecordBatch> {
    let n = batch.num_rows();
    let schema = batch.schema();
    let mut fields: Vec<Field> = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    for (f, c) in schema.fields().iter().zip(batch.columns()) {
        if f.name() == "_source_file" || f.name() == "_source_line" {
            continue;
        }
        fields.push(f.as_ref().clone());
        cols.push(c.clone());
    }
    fields.push(Field::new("_slice_id", DataType::Utf8, false));
    cols.push(Arc::new(StringArray::from(vec![slice; n])));
    fields.push(Field::new("_watermark", DataType::Utf8, false));
    cols.push(Arc::new(StringArray::from(vec![wm; n])));
    for name in ["_source_file", "_source_line"] {
        let i = schema.index_of(name)?;
        fields.push(schema.field(i).clone());
        cols.push(batch.column(i).clone());
    }
    let now = chrono::Utc::now().timestamp_micros();
    fields.push(Field::new(
        "_ingested_at",
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        false,
    ));
    cols.push(Arc::new(
        TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC"),
    ));
    fields.push(Field::new("_run_id", DataType::Utf8, false));
    cols.push(Arc::new(StringArray::from(vec![run; n])));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}
