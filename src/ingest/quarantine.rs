//! `quarantine.<source>`: rows a stage could not accept, with file, line and reason.

use super::*;

/// The quarantine rows one stage wrote for one delivery (slice and watermark): what a
/// re-run of that delivery replaces.
pub(super) fn quarantine_scope(slice: &str, watermark: &str, stage: &str) -> String {
    format!(
        "_slice_id = '{}' AND _watermark = '{}' AND {stage}",
        quote(slice),
        quote(watermark)
    )
}

pub(super) fn quarantine_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("_run_id", DataType::Utf8, false),
        Field::new("_slice_id", DataType::Utf8, false),
        Field::new("_watermark", DataType::Utf8, false),
        Field::new("_source_file", DataType::Utf8, true),
        Field::new("_source_line", DataType::Int64, true),
        Field::new("stage", DataType::Utf8, false),
        Field::new("expectation", DataType::Utf8, true),
        Field::new("reason", DataType::Utf8, false),
        Field::new("record", DataType::Utf8, true),
        Field::new(
            "_quarantined_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]))
}

pub(super) struct QuarantineRow {
    pub(super) file: Option<String>,
    pub(super) line: Option<i64>,
    pub(super) stage: &'static str,
    pub(super) expectation: Option<String>,
    pub(super) reason: String,
    pub(super) record: Option<String>,
}

pub(super) fn quarantine_batch(
    run: &str,
    slice: &str,
    wm: &str,
    rows: &[QuarantineRow],
) -> Result<RecordBatch> {
    let n = rows.len();
    let now = chrono::Utc::now().timestamp_micros();
    let s = |v: Vec<Option<String>>| Arc::new(StringArray::from(v)) as ArrayRef;
    Ok(RecordBatch::try_new(
        quarantine_schema(),
        vec![
            s(vec![Some(run.to_string()); n]),
            s(vec![Some(slice.to_string()); n]),
            s(vec![Some(wm.to_string()); n]),
            s(rows.iter().map(|r| r.file.clone()).collect()),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.line).collect::<Vec<_>>(),
            )),
            s(rows.iter().map(|r| Some(r.stage.to_string())).collect()),
            s(rows.iter().map(|r| r.expectation.clone()).collect()),
            s(rows.iter().map(|r| Some(r.reason.clone())).collect()),
            s(rows.iter().map(|r| r.record.clone()).collect()),
            Arc::new(TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC")),
        ],
    )?)
}

/// Rows of a batch as JSON objects (for quarantine records).
pub(super) fn rows_as_json(batch: &RecordBatch) -> Vec<String> {
    let mut buf = Vec::new();
    {
        let mut w = datafusion::arrow::json::LineDelimitedWriter::new(&mut buf);
        if w.write(batch).is_err() || w.finish().is_err() {
            return vec![String::new(); batch.num_rows()];
        }
    }
    String::from_utf8_lossy(&buf)
        .lines()
        .map(str::to_string)
        .collect()
}
