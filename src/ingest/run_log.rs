//! The run log: each pass appended to `_lakegate/slices` and `_lakegate/ingest_runs`.

use super::*;

impl Ingestor {
    /// Appends the pass to `_lakegate/slices` and `_lakegate/ingest_runs`.
    pub(super) async fn log(
        &self,
        report: &RunReport,
        started: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        let now = chrono::Utc::now().timestamp_micros();
        let n = report.slices.len();
        let s = |f: &dyn Fn(&SliceReport) -> Option<String>| -> ArrayRef {
            Arc::new(StringArray::from(
                report.slices.iter().map(f).collect::<Vec<_>>(),
            ))
        };
        let i = |f: &dyn Fn(&SliceReport) -> i64| -> ArrayRef {
            Arc::new(Int64Array::from(
                report.slices.iter().map(f).collect::<Vec<_>>(),
            ))
        };
        let ts = || {
            Arc::new(TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC")) as ArrayRef
        };
        let tsf = |name: &str| {
            Field::new(
                name,
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            )
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("run_id", DataType::Utf8, false),
            Field::new("source", DataType::Utf8, false),
            Field::new("table_name", DataType::Utf8, false),
            Field::new("slice_id", DataType::Utf8, false),
            Field::new("watermark", DataType::Utf8, false),
            Field::new("status", DataType::Utf8, false),
            Field::new("rows_in", DataType::Int64, false),
            Field::new("rows_out", DataType::Int64, false),
            Field::new("quarantined", DataType::Int64, false),
            Field::new("dropped", DataType::Int64, false),
            Field::new("deleted", DataType::Int64, false),
            Field::new("duplicates", DataType::Int64, false),
            Field::new("warned", DataType::Int64, false),
            Field::new("bytes", DataType::Int64, false),
            Field::new("duration_ms", DataType::Int64, false),
            Field::new("error", DataType::Utf8, true),
            tsf("finished_at"),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                s(&|_| Some(report.run_id.clone())),
                s(&|r| Some(r.source.clone())),
                s(&|r| Some(r.table.clone())),
                s(&|r| Some(r.slice.clone())),
                s(&|r| Some(r.watermark.clone())),
                s(&|r| Some(r.status.clone())),
                i(&|r| r.rows_in),
                i(&|r| r.rows_out),
                i(&|r| r.quarantined),
                i(&|r| r.dropped),
                i(&|r| r.deleted),
                i(&|r| r.duplicates),
                i(&|r| r.warned),
                i(&|r| r.bytes),
                i(&|r| r.duration_ms),
                s(&|r| r.error.clone()),
                ts(),
            ],
        )?;
        let path = self.lake.join("_lakegate/slices");
        append_log(&path, "slices", batch).await?;
        let runs = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("run_id", DataType::Utf8, false),
                tsf("started_at"),
                tsf("finished_at"),
                Field::new("slices_ok", DataType::Int64, false),
                Field::new("slices_failed", DataType::Int64, false),
                Field::new("slices_skipped", DataType::Int64, false),
                Field::new("files_read", DataType::Int64, false),
            ])),
            vec![
                Arc::new(StringArray::from(vec![report.run_id.clone()])),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![started.timestamp_micros()])
                        .with_timezone("UTC"),
                ),
                Arc::new(TimestampMicrosecondArray::from(vec![now]).with_timezone("UTC")),
                Arc::new(Int64Array::from(vec![
                    report.slices.iter().filter(|s| s.status == "ok").count() as i64,
                ])),
                Arc::new(Int64Array::from(vec![report.failed() as i64])),
                Arc::new(Int64Array::from(vec![report.skipped as i64])),
                Arc::new(Int64Array::from(vec![report.files_read as i64])),
            ],
        )?;
        append_log(
            &self.lake.join("_lakegate/ingest_runs"),
            "ingest_runs",
            runs,
        )
        .await?;
        Ok(())
    }
}

pub(super) async fn append_log(path: &LakePath, name: &str, batch: RecordBatch) -> Result<()> {
    path.create()?;
    path.delta_or_new()
        .await?
        .write(vec![batch])
        .with_save_mode(SaveMode::Append)
        .with_table_name(name)
        .await?;
    Ok(())
}
