//! Silver: a slice from bronze deduplicated, deletions applied, expectations checked, then
//! replaced whole or merged by key.

use super::*;

/// One silver slice to build: the run, the source and silver table, which bronze slice.
#[derive(Clone, Copy)]
pub(super) struct SilverJob<'a> {
    pub run_id: &'a str,
    pub source_name: &'a str,
    pub source: &'a SourceConfig,
    pub table: &'a str,
    pub cfg: &'a SilverConfig,
    pub bronze: &'a DeltaTable,
    /// The slice just committed to bronze, still in memory (not read back).
    pub fresh: Option<&'a RecordBatch>,
    pub slice: &'a str,
    pub watermark: &'a str,
    /// Rebuild even when the slice's transaction is already in silver.
    pub force: bool,
    /// Only the rows of bronze micro-batches after this watermark (a Kafka slice merging what
    /// is new).
    pub since: Option<&'a str>,
}

/// What the rows merged into a slice are.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum MergeRows {
    /// Every row of the slice: a key it no longer has is deleted.
    WholeSlice,
    /// Only rows of later micro-batches (Kafka): a key they do not have is kept.
    LaterBatches,
}

/// What a failed silver slice leaves behind.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum OnFailure {
    /// Not retried until forced or its landed files change (a file slice).
    Remember,
    /// Retried with the next batch (a Kafka slice).
    Retry,
}

impl Ingestor {
    /// Builds one silver slice and reports it. A failure is logged, alerted and reported; the
    /// previous version stays served.
    pub(super) async fn silver_reported(
        &self,
        job: &SilverJob<'_>,
        on_failure: OnFailure,
    ) -> SliceReport {
        let t1 = Instant::now();
        let (table, slice, w) = (job.table, job.slice, job.watermark);
        let mut rep = match self.silver_slice(job).await {
            Ok(rep) => rep,
            Err(e) => {
                warn!(table = %table, %slice, watermark = w, error = %e, "silver slice failed; the previous version stays served");
                if on_failure == OnFailure::Remember {
                    self.failed.lock().expect("failed lock").insert((
                        table.to_string(),
                        slice.to_string(),
                        w.to_string(),
                    ));
                }
                self.alert(&format!("silver.{table}"), slice, w, &e.to_string());
                SliceReport {
                    status: "failed".into(),
                    error: Some(e.to_string()),
                    ..Default::default()
                }
            }
        };
        rep.source = job.source_name.into();
        rep.table = format!("silver.{table}");
        rep.slice = slice.into();
        rep.watermark = w.into();
        rep.duration_ms = t1.elapsed().as_millis() as i64;
        rep
    }

    async fn silver_slice(&self, job: &SilverJob<'_>) -> Result<SliceReport> {
        let SilverJob {
            run_id,
            source_name,
            source,
            table,
            cfg,
            bronze,
            fresh,
            slice,
            watermark: w,
            force,
            since,
        } = *job;
        let ctx = SessionContext::new();
        // The slice just committed to bronze is still in memory: no need to read it back.
        let business: Vec<String> = match fresh {
            Some(b) => {
                ctx.register_table(
                    "bronze",
                    Arc::new(datafusion::datasource::MemTable::try_new(
                        b.schema(),
                        vec![vec![b.clone()]],
                    )?),
                )?;
                b.schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().to_string())
                    .filter(|n| !is_lineage(n))
                    .collect()
            }
            None => {
                ctx.register_table("bronze", crate::catalog::delta_provider(&bronze).await?)?;
                bronze
                    .snapshot()?
                    .schema()
                    .fields()
                    .map(|f| f.name().to_string())
                    .filter(|n| !is_lineage(n))
                    .collect()
            }
        };
        // `since`: only the rows of later micro-batches (a Kafka slice merging what is new).
        let src = format!(
            "SELECT * FROM bronze WHERE _slice_id = '{}'{}",
            quote(slice),
            since
                .map(|s| format!(" AND _watermark > '{}'", quote(s)))
                .unwrap_or_default()
        );
        let keys = cfg
            .unique_key
            .iter()
            .map(|k| ident(k))
            .collect::<Vec<_>>()
            .join(", ");
        // Ranking needs a sort; a hash aggregate first tells whether any key repeats at all.
        let repeats = !cfg.unique_key.is_empty()
            && count(
                &ctx,
                &format!(
                    "SELECT count(*) FROM (SELECT 1 FROM ({src}) GROUP BY {keys} HAVING count(*) > 1)"
                ),
            )
            .await?
                > 0;
        let ranked = if !repeats {
            format!("SELECT *, 1 AS _lg_rn FROM ({src})")
        } else {
            let latest = cfg
                .latest_by
                .as_ref()
                .map(|l| format!("{} DESC NULLS LAST, ", ident(l)))
                .unwrap_or_default();
            format!(
                "SELECT *, row_number() OVER (PARTITION BY {keys} ORDER BY {latest}_source_file DESC, _source_line DESC) AS _lg_rn FROM ({src})"
            )
        };
        let deleted = cfg
            .delete_when
            .as_ref()
            .map(|d| format!("({d}) IS TRUE"))
            .unwrap_or_else(|| "false".into());
        let mut checks = String::new();
        for (i, e) in cfg.expectations.iter().enumerate() {
            checks.push_str(&format!(", ({}) IS TRUE AS _lg_ok_{i}", e.expect));
        }
        if cfg.mode == SilverMode::Merge {
            // A NULL key never matches: MERGE would insert the row again on every re-read.
            let all = cfg
                .unique_key
                .iter()
                .map(|k| format!("{} IS NOT NULL", ident(k)))
                .collect::<Vec<_>>()
                .join(" AND ");
            checks.push_str(&format!(", ({all}) AS _lg_key_ok"));
        }
        let sql = format!(
            "SELECT *, {deleted} AS _lg_deleted, CAST({} AS VARCHAR) = '{}' AS _lg_in_slice{checks} \
             FROM ({ranked}) WHERE _lg_rn = 1",
            ident(&source.slice_column),
            quote(slice)
        );
        let rows_in = count(&ctx, &format!("SELECT count(*) FROM ({src})")).await?;
        let batches = ctx
            .sql(&sql)
            .await
            .map_err(|source| IngestError::Plan {
                at: format!("silver.{table}"),
                source,
            })?
            .collect()
            .await?;
        let schema = match batches.first() {
            Some(b) => b.schema(),
            None => ctx.sql(&sql).await?.schema().inner().clone(),
        };
        let batch = datafusion::arrow::compute::concat_batches(&schema, &batches)?;
        let n = batch.num_rows();
        tracing::debug!(slice, rows = n, "silver slice computed");
        let col_bool = |name: &str| -> BooleanArray {
            batch
                .column_by_name(name)
                .map(|c| c.as_boolean().clone())
                .unwrap_or_else(|| BooleanArray::from(vec![true; n]))
        };
        let del = col_bool("_lg_deleted");
        let in_slice = col_bool("_lg_in_slice");
        // Absent (slice mode): every row passes.
        let key_ok = col_bool("_lg_key_ok");
        let mut keep = vec![true; n];
        let mut quarantine: Vec<(usize, Option<String>, String, &'static str)> = Vec::new();
        let (mut deleted_n, mut dropped, mut warned) = (0i64, 0i64, 0i64);
        let mut failures: Vec<String> = Vec::new();
        for r in 0..n {
            if del.value(r) {
                keep[r] = false;
                deleted_n += 1;
                continue;
            }
            if !in_slice.value(r) {
                keep[r] = false;
                quarantine.push((
                    r,
                    None,
                    format!("{} does not belong to slice {slice}", source.slice_column),
                    "slice",
                ));
                continue;
            }
            if !key_ok.value(r) {
                keep[r] = false;
                quarantine.push((
                    r,
                    None,
                    format!("unique_key ({}) has a NULL", cfg.unique_key.join(", ")),
                    "key",
                ));
            }
        }
        for (i, e) in cfg.expectations.iter().enumerate() {
            let ok = col_bool(&format!("_lg_ok_{i}"));
            let mut violations = 0i64;
            for r in 0..n {
                if !keep[r] || ok.value(r) {
                    continue;
                }
                violations += 1;
                match e.on_violation {
                    OnViolation::Warn => warned += 1,
                    OnViolation::Drop => {
                        keep[r] = false;
                        dropped += 1;
                    }
                    OnViolation::Quarantine => {
                        keep[r] = false;
                        quarantine.push((
                            r,
                            Some(e.name.clone()),
                            format!("expectation {} failed: {}", e.name, e.expect),
                            "expectation",
                        ));
                    }
                    OnViolation::Fail => {}
                }
            }
            if violations > 0 && e.on_violation == OnViolation::Fail {
                failures.push(format!(
                    "{} ({} rows violate `{}`)",
                    e.name, violations, e.expect
                ));
            }
            if violations > 0 && e.on_violation == OnViolation::Warn {
                warn!(table, slice, expectation = %e.name, violations, "expectation warning");
            }
        }
        if !failures.is_empty() {
            return Err(IngestError::Expectation(format!(
                "silver.{table} slice {slice} @ {w}: {}",
                failures.join("; ")
            )));
        }
        let duplicates = rows_in - n as i64;
        // Quarantine first, then the slice: each with its own txn.
        if !quarantine.is_empty() {
            let qpath = self.lake.join("quarantine").join(table);
            let qapp = app_id("quarantine", table, slice, w);
            if force || !committed(&open_table(&qpath).await?, &qapp).await? {
                let idx = datafusion::arrow::array::UInt32Array::from(
                    quarantine.iter().map(|q| q.0 as u32).collect::<Vec<_>>(),
                );
                let biz: Vec<usize> = business
                    .iter()
                    .filter_map(|c| batch.schema().index_of(c).ok())
                    .collect();
                let projected = batch.project(&biz)?;
                let taken = datafusion::arrow::compute::take_record_batch(&projected, &idx)?;
                let json = rows_as_json(&taken);
                // Strings come back from Parquet as Utf8View.
                let files = batch
                    .column_by_name("_source_file")
                    .and_then(|c| datafusion::arrow::compute::cast(c, &DataType::Utf8).ok())
                    .map(|c| c.as_string::<i32>().clone());
                let lines = batch.column_by_name("_source_line").map(|c| {
                    c.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                        .clone()
                });
                let rows: Vec<QuarantineRow> = quarantine
                    .iter()
                    .enumerate()
                    .map(|(k, (r, exp, reason, stage))| QuarantineRow {
                        file: files.as_ref().map(|f| f.value(*r).to_string()),
                        line: lines
                            .as_ref()
                            .and_then(|l| l.is_valid(*r).then(|| l.value(*r))),
                        stage,
                        expectation: exp.clone(),
                        reason: reason.clone(),
                        record: json.get(k).cloned(),
                    })
                    .collect();
                let b = quarantine_batch(run_id, slice, w, &rows)?;
                let replace = quarantine_scope(slice, w, "stage <> 'parse'");
                commit(&qpath, table, vec![b], Some(replace), &[], &qapp, false).await?;
            }
        }
        let mut out_cols: Vec<usize> = business
            .iter()
            .filter_map(|c| batch.schema().index_of(c).ok())
            .collect();
        out_cols.push(batch.schema().index_of("_watermark")?);
        let spath = self.lake.join("silver").join(table);
        let sapp = app_id("silver", table, slice, w);
        let merge = source.schema.is_none()
            || source.on_schema_change == crate::config::SchemaChange::AppendNewColumns;
        let rows_out;
        if cfg.mode == SilverMode::Merge {
            // Deletions take part in the MERGE (they delete their key's current row).
            let with_deletions: Vec<bool> = (0..n).map(|r| keep[r] || del.value(r)).collect();
            let mut cols = out_cols.clone();
            cols.push(batch.schema().index_of("_lg_deleted")?);
            let rows =
                filter_record_batch(&batch, &BooleanArray::from(with_deletions))?.project(&cols)?;
            rows_out = keep.iter().filter(|k| **k).count() as i64;
            let lock = self
                .merges
                .lock()
                .expect("merges lock")
                .entry(table.to_string())
                .or_default()
                .clone();
            let _one = lock.lock().await;
            // Rows of later micro-batches only: what they do not have is not gone.
            let rows_are = if since.is_some() {
                MergeRows::LaterBatches
            } else {
                MergeRows::WholeSlice
            };
            merge_slice(
                &spath,
                table,
                rows,
                cfg,
                &source.slice_column,
                slice,
                &sapp,
                rows_are,
            )
            .await?;
        } else {
            let kept =
                filter_record_batch(&batch, &BooleanArray::from(keep))?.project(&out_cols)?;
            rows_out = kept.num_rows() as i64;
            commit(
                &spath,
                table,
                vec![kept],
                Some(format!(
                    "{} = '{}'",
                    ident(&source.slice_column),
                    quote(slice)
                )),
                &[source.slice_column.clone()],
                &sapp,
                merge,
            )
            .await?;
        }
        let _ = source_name;
        Ok(SliceReport {
            status: "ok".into(),
            rows_in,
            rows_out,
            quarantined: quarantine.len() as i64,
            dropped,
            deleted: deleted_n,
            duplicates,
            warned,
            ..Default::default()
        })
    }
}

/// `mode: merge`: one Delta MERGE on `unique_key` for the slice's rows (flagged
/// `_lg_deleted` where `delete_when` holds), with the slice's transaction. A newer
/// `latest_by` wins, so a key that moved to another slice keeps exactly one current row, and
/// replaying an old slice cannot bring an old version back.
#[allow(clippy::too_many_arguments)]
pub(super) async fn merge_slice(
    path: &LakePath,
    table: &str,
    rows: RecordBatch,
    cfg: &SilverConfig,
    slice_column: &str,
    slice: &str,
    app: &str,
    rows_are: MergeRows,
) -> Result<()> {
    let incremental = rows_are == MergeRows::LaterBatches;
    let deleted = rows.schema().index_of("_lg_deleted")?;
    let business: Vec<String> = rows
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().to_string())
        .filter(|n| n != "_lg_deleted")
        .collect();
    let flag = rows.column(deleted).as_boolean().clone();
    let keep: Vec<usize> = (0..rows.num_columns()).filter(|i| *i != deleted).collect();
    let exists = path.is_table().await?;
    if exists && rows.num_rows() == 0 && !incremental {
        // An empty slice (gone from the source): the rows whose current version is in it go,
        // as in slice mode. A key that moved to another slice carries that slice by now.
        let props =
            CommitProperties::default().with_application_transaction(Transaction::new(app, 1));
        let table = path.open_delta().await?;
        let before = table.version();
        let (after, _) = table
            .delete()
            .with_predicate(format!("{} = '{}'", ident(slice_column), quote(slice)))
            .with_commit_properties(props)
            .await?;
        if after.version() != before {
            return Ok(());
        }
        // Nothing matched, so nothing was committed: an empty append records the transaction.
    }
    if !exists || rows.num_rows() == 0 {
        // Nothing to match against: an append of what is not a deletion, which records the
        // slice's transaction.
        let live = filter_record_batch(&rows, &datafusion::arrow::compute::not(&flag)?)?;
        commit(
            path,
            table,
            vec![live.project(&keep)?],
            None,
            &[slice_column.to_string()],
            app,
            false,
        )
        .await?;
        return Ok(());
    }
    let target = path.open_delta().await?;
    let ctx = SessionContext::new();
    let schema = Arc::new(rows.schema().project(&keep)?);
    let source = ctx.read_batch(rows)?;
    let on = cfg
        .unique_key
        .iter()
        .map(|k| format!("t.{} = s.{}", ident(k), ident(k)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let newer = match &cfg.latest_by {
        Some(l) => format!(
            "(t.{l} IS NULL OR s.{l} IS NOT NULL AND s.{l} >= t.{l})",
            l = ident(l)
        ),
        None => "true".into(),
    };
    let props = CommitProperties::default().with_application_transaction(Transaction::new(app, 1));
    let before = target.version();
    let in_slice = format!("t.{} = '{}'", ident(slice_column), quote(slice));
    let merge = target
        .merge(source, on)
        .with_source_alias("s")
        .with_target_alias("t")
        .with_commit_properties(props)
        // A column the source added since (bronze took it in) joins silver too.
        .with_merge_schema(true)
        .when_matched_delete(|d| d.predicate(format!("s._lg_deleted AND {newer}")))?
        .when_matched_update(|mut u| {
            u = u.predicate(format!("NOT s._lg_deleted AND {newer}"));
            for c in &business {
                u = u.update(ident(c), format!("s.{}", ident(c)));
            }
            u
        })?
        .when_not_matched_insert(|mut i| {
            i = i.predicate("NOT s._lg_deleted");
            for c in &business {
                i = i.set(ident(c), format!("s.{}", ident(c)));
            }
            i
        })?;
    // A row of this slice that the slice no longer has was deleted at the source (or moved to
    // a slice whose MERGE brings it back); rows of new micro-batches say nothing of the rest.
    let merge = if incremental {
        merge
    } else {
        merge.when_not_matched_by_source_delete(|d| d.predicate(in_slice))?
    };
    let (merged, metrics) = merge.await?;
    if merged.version() == before {
        // Nothing changed, so nothing was committed: an empty append records the slice.
        let empty = RecordBatch::new_empty(schema);
        commit(
            path,
            table,
            vec![empty],
            None,
            &[slice_column.to_string()],
            app,
            false,
        )
        .await?;
    }
    tracing::debug!(
        table,
        inserted = metrics.num_target_rows_inserted,
        updated = metrics.num_target_rows_updated,
        deleted = metrics.num_target_rows_deleted,
        "silver merge"
    );
    Ok(())
}
