//! `_lakegate/view_history`: every view definition that was served, persisted in the lake.
//!
//! One row per (view, definition) change, appended in one Delta commit per reload, so "what did
//! this view mean last Tuesday" has an answer after restarts. The table is served as
//! `lakegate.view_history`.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider};
use datafusion::prelude::SessionContext;
use deltalake::protocol::SaveMode;

use super::{ViewError, ViewFile};
use crate::storage::LakeUrl;

pub struct ViewHistory {
    location: LakeUrl,
    system: Arc<MemorySchemaProvider>,
    /// Last recorded sha256 per view, so unchanged definitions are not recorded again.
    last: tokio::sync::Mutex<HashMap<(String, String), String>>,
}

fn history_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("schema", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("sha256", DataType::Utf8, false),
        Field::new("definition", DataType::Utf8, false),
        Field::new("file", DataType::Utf8, false),
        Field::new("commit", DataType::Utf8, true),
        Field::new(
            "served_from",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]))
}

fn err(e: impl std::fmt::Display) -> ViewError {
    ViewError::History(e.to_string())
}

impl ViewHistory {
    /// Opens (or prepares) the history table under `<lake>/_lakegate/view_history`.
    pub async fn open(
        lake: &LakeUrl,
        system: Arc<MemorySchemaProvider>,
    ) -> Result<Arc<ViewHistory>, ViewError> {
        let h = ViewHistory {
            location: lake.join("_lakegate/view_history"),
            system,
            last: tokio::sync::Mutex::new(HashMap::new()),
        };
        if let Ok(table) = h.location.open_delta().await {
            let provider = crate::catalog::delta_provider(&table).await.map_err(err)?;
            let ctx = SessionContext::new();
            ctx.register_table("h", provider.clone()).map_err(err)?;
            let batches = ctx
                .sql("SELECT schema, name, sha256 FROM h ORDER BY served_from")
                .await
                .map_err(err)?
                .collect()
                .await
                .map_err(err)?;
            let mut last = h.last.lock().await;
            for b in batches {
                let col = |i: usize| -> Result<StringArray, ViewError> {
                    let c = datafusion::arrow::compute::cast(b.column(i), &DataType::Utf8)
                        .map_err(err)?;
                    Ok(c.as_string::<i32>().clone())
                };
                let (schema, name, sha) = (col(0)?, col(1)?, col(2)?);
                for i in 0..b.num_rows() {
                    last.insert(
                        (schema.value(i).to_string(), name.value(i).to_string()),
                        sha.value(i).to_string(),
                    );
                }
            }
            drop(last);
            h.system
                .register_table("view_history".into(), provider)
                .map_err(err)?;
        }
        Ok(Arc::new(h))
    }

    /// Appends the definitions that changed since they were last recorded.
    pub async fn record(&self, files: &[Arc<ViewFile>]) -> Result<usize, ViewError> {
        let mut last = self.last.lock().await;
        let changed: Vec<&Arc<ViewFile>> = files
            .iter()
            .filter(|f| last.get(&(f.schema.clone(), f.name.clone())) != Some(&f.sha256))
            .collect();
        if changed.is_empty() {
            return Ok(0);
        }
        let now = chrono::Utc::now().timestamp_micros();
        let s = |f: &dyn Fn(&ViewFile) -> Option<String>| -> ArrayRef {
            Arc::new(StringArray::from(
                changed.iter().map(|v| f(v)).collect::<Vec<_>>(),
            ))
        };
        let batch = RecordBatch::try_new(
            history_schema(),
            vec![
                s(&|v| Some(v.schema.clone())),
                s(&|v| Some(v.name.clone())),
                s(&|v| Some(v.sha256.clone())),
                s(&|v| Some(v.sql.clone())),
                s(&|v| Some(v.path.display().to_string())),
                s(&|v| v.git.as_ref().and_then(|g| g.commit.clone())),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![now; changed.len()]).with_timezone("UTC"),
                ),
            ],
        )
        .map_err(err)?;
        let table = self.location.delta_or_new().await.map_err(err)?;
        let table = table
            .write(vec![batch])
            .with_save_mode(SaveMode::Append)
            .with_table_name("view_history")
            .await
            .map_err(err)?;
        for f in &changed {
            last.insert((f.schema.clone(), f.name.clone()), f.sha256.clone());
        }
        let provider = crate::catalog::delta_provider(&table).await.map_err(err)?;
        self.system.deregister_table("view_history").map_err(err)?;
        self.system
            .register_table("view_history".into(), provider)
            .map_err(err)?;
        Ok(changed.len())
    }
}
