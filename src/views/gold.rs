//! Gold models: views whose `views/<schema>/<name>.yaml` says `materialize: full` or
//! `materialize: {slice_column: <col>}` are kept as Delta tables at `<lake>/<schema>/<name>`
//! (which then shadow the live view of the same name).
//!
//! What a model was last built from is the silver state it saw: per silver table, each slice's
//! `_watermark`. It is stored beside the lake in `_lakegate/gold/<schema>.<name>.json` after the
//! commit; a slice model recomputes only the slices whose silver watermarks changed, and a
//! full model recomputes when anything changed. Recomputing is idempotent (the slices are
//! replaced), so a crash between the commit and the state file only repeats work.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::DataType;
use tracing::{info, warn};

use super::ViewFile;
use crate::config::Config;
use crate::engine::Engine;
use crate::ingest::delta::{commit, ident, quote};
use crate::ingest::error::Result;
use crate::ingest::{IngestError, LakePath};

/// slice id → (silver table → watermark)
type SilverState = BTreeMap<String, BTreeMap<String, String>>;

#[derive(Debug, Clone, PartialEq)]
enum Mode {
    Full,
    Slices(String),
}

fn mode(v: &serde_yaml::Value) -> Option<Mode> {
    match v {
        serde_yaml::Value::String(s) if s == "full" => Some(Mode::Full),
        serde_yaml::Value::Mapping(m) => m
            .get("slice_column")
            .and_then(|c| c.as_str())
            .map(|c| Mode::Slices(c.to_string())),
        _ => None,
    }
}

/// The silver state now: for each configured silver table, slice id → watermark.
async fn silver_state(engine: &Arc<Engine>, config: &Config) -> Result<SilverState> {
    let ctx = engine.planning_context(engine.views_source().clone());
    let mut state = SilverState::new();
    for (table, silver) in &config.silver {
        let Some(source) = config.sources.get(&silver.from) else {
            continue;
        };
        let sql = format!(
            "SELECT DISTINCT CAST({} AS VARCHAR), CAST(_watermark AS VARCHAR) FROM silver.{}",
            ident(&source.slice_column),
            ident(table)
        );
        let Ok(df) = ctx.sql(&sql).await else {
            continue; // not built yet
        };
        for b in df.collect().await? {
            // VARCHAR may come back as Utf8View.
            let s = datafusion::arrow::compute::cast(b.column(0), &DataType::Utf8)?;
            let w = datafusion::arrow::compute::cast(b.column(1), &DataType::Utf8)?;
            let (s, w) = (s.as_string::<i32>(), w.as_string::<i32>());
            for i in 0..b.num_rows() {
                if s.is_valid(i) {
                    state
                        .entry(s.value(i).to_string())
                        .or_default()
                        .insert(table.clone(), w.value(i).to_string());
                }
            }
        }
    }
    Ok(state)
}

/// Rebuilds what changed in every gold model; returns the models written.
pub async fn materialize(
    engine: &Arc<Engine>,
    views: &[Arc<ViewFile>],
    lake: &LakePath,
    config: &Config,
) -> Result<Vec<String>> {
    let models: Vec<(&Arc<ViewFile>, Mode)> = views
        .iter()
        .filter_map(|v| v.meta.materialize.as_ref().and_then(mode).map(|m| (v, m)))
        .collect();
    if models.is_empty() {
        return Ok(vec![]);
    }
    let now = silver_state(engine, config).await?;
    let mut written = Vec::new();
    for (view, mode) in models {
        let name = format!("{}.{}", view.schema, view.name);
        let state_dir = lake.join("_lakegate/gold");
        let state_file = format!("{name}.json");
        let table_path = lake.join(&view.schema).join(&view.name);
        let exists = table_path.is_table().await?;
        let before: SilverState = if exists {
            state_dir
                .read(&state_file)
                .await
                .ok()
                .flatten()
                .and_then(|s| serde_json::from_slice(&s).ok())
                .unwrap_or_default()
        } else {
            SilverState::new()
        };
        if before == now && exists {
            continue;
        }
        let ctx = engine.planning_context(engine.views_source().clone());
        let sql = view.sql.trim().trim_end_matches(';');
        let (query, replace, partition) = match &mode {
            Mode::Full => (format!("SELECT * FROM ({sql})"), None, vec![]),
            Mode::Slices(col) if exists => {
                let changed: BTreeSet<&String> = now
                    .keys()
                    .chain(before.keys())
                    .filter(|s| now.get(*s) != before.get(*s))
                    .collect();
                if changed.is_empty() {
                    continue;
                }
                let list = changed
                    .iter()
                    .map(|s| format!("'{}'", quote(s)))
                    .collect::<Vec<_>>()
                    .join(", ");
                (
                    format!(
                        "SELECT * FROM ({sql}) WHERE CAST({} AS VARCHAR) IN ({list})",
                        ident(col)
                    ),
                    Some(format!("CAST({} AS VARCHAR) IN ({list})", ident(col))),
                    vec![col.clone()],
                )
            }
            Mode::Slices(col) => (format!("SELECT * FROM ({sql})"), None, vec![col.clone()]),
        };
        let df = ctx.sql(&query).await.map_err(|source| IngestError::Plan {
            at: format!("gold model {name}"),
            source,
        })?;
        let batches = df.collect().await?;
        // Views may produce Utf8View / dictionary types Delta cannot store as is.
        let batches = batches
            .into_iter()
            .map(|b| plain_types(&b))
            .collect::<Result<Vec<_>>>()?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        let app = format!(
            "lakegate:gold:{name}:{}",
            chrono::Utc::now().timestamp_micros()
        );
        if matches!(mode, Mode::Full) && exists {
            overwrite(&table_path, &view.name, batches, &app).await?;
        } else {
            commit(
                &table_path,
                &view.name,
                batches,
                replace,
                &partition,
                &app,
                true,
            )
            .await?;
        }
        let state = serde_json::to_vec(&now).unwrap_or_default();
        if let Err(e) = state_dir.write(&state_file, state.into()).await {
            warn!(model = %name, error = %e, "gold state not saved; the next pass recomputes");
        }
        info!(model = %name, rows, "gold model refreshed");
        written.push(name);
    }
    Ok(written)
}

async fn overwrite(
    path: &LakePath,
    name: &str,
    batches: Vec<datafusion::arrow::array::RecordBatch>,
    app: &str,
) -> Result<()> {
    use deltalake::kernel::Transaction;
    use deltalake::kernel::transaction::CommitProperties;
    path.delta_or_new()
        .await?
        .write(batches)
        .with_table_name(name)
        .with_save_mode(deltalake::protocol::SaveMode::Overwrite)
        .with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite)
        .with_commit_properties(
            CommitProperties::default().with_application_transaction(Transaction::new(app, 1)),
        )
        .await?;
    Ok(())
}

fn plain_types(
    b: &datafusion::arrow::array::RecordBatch,
) -> Result<datafusion::arrow::array::RecordBatch> {
    use datafusion::arrow::datatypes::{Field, Schema};
    let mut fields = Vec::new();
    let mut cols = Vec::new();
    for (f, c) in b.schema().fields().iter().zip(b.columns()) {
        let t = match f.data_type() {
            DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
            DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
            DataType::Dictionary(_, v) => v.as_ref().clone(),
            other => other.clone(),
        };
        let c = if &t == f.data_type() {
            c.clone()
        } else {
            datafusion::arrow::compute::cast(c, &t)?
        };
        fields.push(Field::new(f.name(), t, true));
        cols.push(c);
    }
    Ok(datafusion::arrow::array::RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        cols,
    )?)
}
