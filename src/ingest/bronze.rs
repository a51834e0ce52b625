//! Bronze: one landed slice read, typed and stamped with lineage, its partition replaced.

use super::*;

/// One landed slice of a source to take to bronze and silver.
#[derive(Clone, Copy)]
pub(super) struct BronzeJob<'a> {
    pub run_id: &'a str,
    pub name: &'a str,
    pub source: &'a SourceConfig,
    /// The source's bronze and silver tables as the pass opened them.
    pub opened: &'a Opened,
    pub slice: &'a str,
    pub watermark: &'a Watermark,
    /// The slice's landing folder.
    pub dir: &'a LakePath,
    /// Rebuild even when the slice's transactions are already committed.
    pub force: bool,
}

impl Ingestor {
    pub(super) async fn slice(&self, job: BronzeJob<'_>, report: &mut RunReport) -> Result<()> {
        let BronzeJob {
            run_id,
            name,
            source,
            opened,
            slice,
            watermark: wm,
            dir,
            force,
        } = job;
        let w = wm.name();
        let bronze_path = self.lake.join("bronze").join(name);
        let bronze_app = app_id("bronze", name, slice, w);
        let bronze_done = !force && committed(&opened.bronze, &bronze_app).await?;
        let silvers = self.silver_of(name);
        let mut pending = Vec::new();
        for (table, cfg) in &silvers {
            let done = !force
                && committed(
                    opened.silver.get(*table).unwrap_or(&None),
                    &app_id("silver", table, slice, w),
                )
                .await?;
            let known_bad = self.failed.lock().expect("failed lock").contains(&(
                table.to_string(),
                slice.to_string(),
                w.to_string(),
            ));
            if !done && !(known_bad && !force) {
                pending.push((*table, *cfg));
            }
        }
        if bronze_done && pending.is_empty() {
            report.skipped += 1;
            return Ok(());
        }
        let t0 = Instant::now();
        let mut fresh: Option<RecordBatch> = None;
        if !bronze_done {
            let files = data_files(dir, source.landed_format()).await?;
            report.files_read += files.len();
            // Lineage names files relative to the lake, so a moved lake keeps its meaning.
            // Local files are streamed from disk; remote ones are fetched first.
            let mut inputs: Vec<(read::Input, String)> = Vec::with_capacity(files.len());
            for f in &files {
                let shown = self.lake.relative(&f.location);
                let input = match self.lake.local_file(&f.location) {
                    Some(path) => read::Input::File(path),
                    None => {
                        let fetch =
                            async { self.lake.store().get(&f.location).await?.bytes().await };
                        read::Input::Bytes(
                            fetch
                                .await
                                .map_err(|e| IngestError::Config(format!("{shown}: {e}")))?,
                        )
                    }
                };
                inputs.push((input, shown));
            }
            let columns = match &source.schema {
                Some(s) => Some(
                    s.0.iter()
                        .map(|(n, t)| Ok((n.clone(), parse_type(t).map_err(IngestError::Config)?)))
                        .collect::<Result<Vec<_>>>()?,
                ),
                // A database slice carries its source's column types.
                None if matches!(source.kind(), SourceKind::Postgres | SourceKind::MySql) => {
                    match inputs.first() {
                        Some((input, _)) => read::landed_columns(input)?,
                        None => None,
                    }
                }
                None => None,
            };
            let source2 = source.clone();
            let data: SliceData =
                tokio::task::spawn_blocking(move || read::read_slice(&inputs, &source2, columns))
                    .await
                    .map_err(|source| IngestError::Task {
                        what: "reader",
                        source,
                    })??;
            let rows_in = data.batch.num_rows() as i64 + data.rejects.len() as i64;
            tracing::debug!(slice, rows = rows_in, elapsed = ?t0.elapsed(), "slice read");
            // Unreadable rows: quarantine first (its own txn), then the slice.
            if !data.rejects.is_empty() {
                let qpath = self.lake.join("quarantine").join(name);
                let qapp = app_id("quarantine-parse", name, slice, w);
                if force || !committed(&open_table(&qpath).await?, &qapp).await? {
                    let rows: Vec<QuarantineRow> = data
                        .rejects
                        .iter()
                        .map(|r: &Reject| QuarantineRow {
                            file: Some(r.file.clone()),
                            line: r.line,
                            stage: "parse",
                            expectation: None,
                            reason: r.reason.clone(),
                            record: Some(r.record.clone()),
                        })
                        .collect();
                    let b = quarantine_batch(run_id, slice, w, &rows)?;
                    // Replacing this delivery's parse rejects keeps a forced re-run from
                    // recording them twice.
                    let replace = quarantine_scope(slice, w, "stage = 'parse'");
                    commit(&qpath, name, vec![b], Some(replace), &[], &qapp, false).await?;
                }
            }
            let batch = with_lineage(&data.batch, slice, w, run_id)?;
            let merge = source.schema.is_none()
                || source.on_schema_change == crate::config::SchemaChange::AppendNewColumns;
            fresh = Some(batch.clone());
            commit(
                &bronze_path,
                name,
                vec![batch.clone()],
                Some(format!("_slice_id = '{}'", quote(slice))),
                &["_slice_id".to_string()],
                &bronze_app,
                merge,
            )
            .await?;
            tracing::debug!(slice, elapsed = ?t0.elapsed(), "bronze committed");
            report.slices.push(SliceReport {
                source: name.into(),
                table: format!("bronze.{name}"),
                slice: slice.into(),
                watermark: w.into(),
                status: "ok".into(),
                rows_in,
                rows_out: batch.num_rows() as i64,
                quarantined: data.rejects.len() as i64,
                bytes: data.bytes as i64,
                duration_ms: t0.elapsed().as_millis() as i64,
                ..Default::default()
            });
        }
        if pending.is_empty() {
            return Ok(());
        }
        let bronze = open_table(&bronze_path)
            .await?
            .ok_or_else(|| IngestError::Missing(format!("bronze.{name}")))?;
        for (table, cfg) in pending {
            let job = silver::SilverJob {
                run_id,
                source_name: name,
                source,
                table,
                cfg,
                bronze: &bronze,
                fresh: fresh.as_ref(),
                slice,
                watermark: w,
                force,
                since: None,
            };
            let rep = self
                .silver_reported(&job, silver::OnFailure::Remember)
                .await;
            report.slices.push(rep);
        }
        Ok(())
    }
}
