//! One client's session: its DataFusion context (with the user's grants, row filters and
//! masks built in), settings, open cursors; parsing, the dialect rewrites and planning of
//! each statement happen here, whatever door the statement came through.

use super::*;

/// A declared cursor: the running query and the rows of the batch being read.
pub struct Cursor {
    /// WITH HOLD: survives the end of its transaction.
    pub hold: bool,
    pub schema: SchemaRef,
    /// Held by a FETCH while its rows stream.
    rows: Arc<tokio::sync::Mutex<CursorRows>>,
}

struct CursorRows {
    batches: SendableRecordBatchStream,
    current: Option<RecordBatch>,
    offset: usize,
}

impl Cursor {
    pub fn new(hold: bool, schema: SchemaRef, batches: SendableRecordBatchStream) -> Cursor {
        Cursor {
            hold,
            schema,
            rows: Arc::new(tokio::sync::Mutex::new(CursorRows {
                batches,
                current: None,
                offset: 0,
            })),
        }
    }

    /// The next `n` rows (all remaining when `None`) as a stream of batches read from the
    /// cursor's query as the client takes them: nothing is collected, so a `FETCH ALL` is
    /// bounded like any query (memory pool, timeout and cancel apply to the stream).
    /// Fails with 55006 when another FETCH of the same cursor is still streaming.
    pub fn fetch(&self, name: &str, n: Option<u64>) -> Result<SendableRecordBatchStream> {
        let rows = self
            .rows
            .clone()
            .try_lock_owned()
            .map_err(|_| EngineError::CursorInUse(name.to_string()))?;
        let want = n
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
            .unwrap_or(usize::MAX);
        let stream = futures::stream::unfold(Some((rows, want)), |state| async move {
            let (mut c, want) = state?;
            if want == 0 {
                return None;
            }
            loop {
                if let Some(b) = &c.current
                    && c.offset < b.num_rows()
                {
                    let len = want.min(b.num_rows() - c.offset);
                    let part = b.slice(c.offset, len);
                    c.offset += len;
                    return Some((Ok(part), Some((c, want - len))));
                }
                match c.batches.next().await {
                    Some(Ok(b)) => {
                        c.current = Some(b);
                        c.offset = 0;
                    }
                    Some(Err(e)) => return Some((Err(e), None)),
                    None => return None,
                }
            }
        });
        Ok(Box::pin(
            datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                self.schema.clone(),
                stream,
            ),
        ))
    }
}

/// Per-connection state.
pub struct Session {
    pub(super) engine: Arc<Engine>,
    pub(super) ctx: SessionContext,
    pub(super) settings: Arc<Mutex<Settings>>,
    pub(super) access: Arc<crate::auth::Access>,
    /// Open SQL cursors (DECLARE), by name.
    pub(super) cursors: tokio::sync::Mutex<std::collections::HashMap<String, Cursor>>,
    /// Object-store requests made while planning the last EXPLAIN ANALYZE (table metadata,
    /// time-travel log replay); its run adds to them.
    pub(super) explain_requests: Mutex<Option<Arc<crate::storage::RequestCounts>>>,
    /// The `search_path` the default schema was last chosen from: `set_config('search_path',
    /// ...)` changes the setting from inside a query, and the next statement applies it.
    pub(super) applied_search_path: Mutex<Option<String>>,
    /// An admin changed an engine setting (`SET datafusion.…`) that may change results: this
    /// session's results are not the shared ones any more (no result cache).
    pub(super) tuned: std::sync::atomic::AtomicBool,
}

impl Session {
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub fn cursors(&self) -> &tokio::sync::Mutex<std::collections::HashMap<String, Cursor>> {
        &self.cursors
    }

    /// Parses a query string into statements (empty for an empty query).
    pub fn parse(&self, sql: &str) -> Result<Vec<Statement>> {
        if sql.len() as u64 > self.engine.limits.max_query_bytes {
            return Err(EngineError::QueryTooLong {
                len: sql.len(),
                max: self.engine.limits.max_query_bytes,
            });
        }
        let sql = time_travel::rewrite(sql).map_err(|e| EngineError::InvalidParameter(e.0))?;
        let sql = regclass_literals(&sql);
        let sql = foreign_keywords(&sql);
        let mut statements = self.engine.parser.parse(&sql)?;
        if may_have_subquery(&sql) {
            keep_projection_subqueries(&self.engine.parser, &sql, &mut statements);
        }
        // Measured on what will be planned (`VALUES (EXISTS (VALUES ...))` nests without a
        // second `select`).
        for s in &statements {
            let depth = names::subquery_depth(s);
            if depth > MAX_SUBQUERY_DEPTH {
                return Err(EngineError::TooDeeplyNested { depth });
            }
        }
        Ok(statements)
    }

    /// Splits a query string into commands. `RESET` is recognised here because the SQL parser
    /// has no statement for it.
    pub fn commands(&self, sql: &str) -> Result<Vec<Command>> {
        if let Some(reset) = parse_reset(sql) {
            return Ok(vec![reset]);
        }
        match self.parse(sql) {
            Ok(statements) => Ok(statements.into_iter().map(classify).collect()),
            Err(
                e @ (EngineError::QueryTooLong { .. }
                | EngineError::InvalidParameter(_)
                | EngineError::TooDeeplyNested { .. }),
            ) => Err(e),
            // A write the Postgres grammar does not know (DataFusion's CREATE EXTERNAL TABLE,
            // MERGE variants, ...) is still a write: refuse it as one, not as a typo.
            Err(e) => match leading_write_keyword(sql) {
                Some(kind) => Ok(vec![Command::Refused(Refusal::ReadOnly(kind))]),
                // The compatibility parser works on re-joined tokens and loses positions;
                // parsing the original text again gives the error with its line and column.
                None => Err(located_parse_error(sql).unwrap_or(e)),
            },
        }
    }

    /// Plans a query; the plan is verified read-only.
    /// Plans a statement: its plan with the user's rules applied, and the lake tables and views
    /// it reads (for freshness notices).
    pub async fn plan(
        &self,
        mut statement: Statement,
    ) -> Result<(LogicalPlan, Vec<freshness::Key>)> {
        let path = self
            .settings
            .lock()
            .expect("settings lock")
            .get("search_path")
            .ok();
        if *self.applied_search_path.lock().expect("search path lock") != path {
            self.apply_search_path();
        }
        let catalog_only = names::is_catalog_only(&statement);
        // A catalog query's correlated subqueries are kept when DataFusion decorrelates them
        // (asyncpg's `array_agg(atttypid)` of a row type); when it cannot (psql's collation
        // and default lookups), they become NULL, which is what a lake table has there.
        let unnested =
            (catalog_only && names::has_correlated_subquery(&statement)).then(|| statement.clone());
        names::rewrite(&mut statement, catalog_only, false);
        let analyze = matches!(statement, Statement::Explain { analyze: true, .. });
        let state = self.ctx.state();
        let planning = state.statement_to_plan(DfStatement::Statement(Box::new(statement)));
        let mut plan = if analyze {
            let counts = Arc::new(crate::storage::RequestCounts::default());
            let plan = crate::storage::counting_requests_into(counts.clone(), planning).await;
            *self.explain_requests.lock().expect("explain lock") = Some(counts);
            plan
        } else {
            planning.await
        };
        if let Some(mut statement) = unnested
            && plan.as_ref().map_or(true, |p| {
                state.optimize(p).map_or(true, |p| subqueries_left(&p))
            })
        {
            names::rewrite(&mut statement, catalog_only, true);
            plan = state
                .statement_to_plan(DfStatement::Statement(Box::new(statement)))
                .await;
        }
        let plan = plan?;
        verify_read_only(&plan)?;
        // Before the views are inlined: a view is named as itself (its state is its inputs').
        let reads = crate::catalog::identity::relations_read(&plan);
        let (plan, governed) = access::apply_access(plan, &self.access, &self.ctx)?;
        // EXPLAIN shows the scans below the rules: statistics (row counts, min/max of masked
        // columns), rows read before the filter, the rules' text.
        if governed && matches!(plan, LogicalPlan::Explain(_) | LogicalPlan::Analyze(_)) {
            return Err(EngineError::DataFusion(access::denied(
                "EXPLAIN of a query reading tables with row filters or column masks, or views over tables you may not read whole",
                "(run it without EXPLAIN)".into(),
            )));
        }
        Ok((plan, reads))
    }

    /// The settings a cached result depends on (`None` when the session turned the result
    /// cache off).
    pub fn result_cache_settings(&self) -> Option<String> {
        if self.tuned.load(std::sync::atomic::Ordering::Relaxed) {
            return None;
        }
        let settings = self.settings.lock().expect("settings lock");
        if settings.get("lakegate.result_cache").ok().as_deref() != Some("on") {
            return None;
        }
        Some(format!(
            "TimeZone={}\nsearch_path={}",
            settings.get("timezone").unwrap_or_default(),
            settings.get("search_path").unwrap_or_default()
        ))
    }

    /// A notice per stale relation a statement reads (unless `lakegate.freshness_notices` is
    /// off): NOTICE for `warn`, WARNING for `error`.
    pub fn freshness_notices(&self, reads: &[freshness::Key]) -> Vec<super::run::Notice> {
        if reads.is_empty() {
            return vec![];
        }
        let on = self
            .settings
            .lock()
            .expect("settings lock")
            .get("lakegate.freshness_notices")
            .is_ok_and(|v| v == "on");
        if !on {
            return vec![];
        }
        self.engine
            .freshness()
            .notices(
                reads,
                freshness::now_micros(),
                &freshness::Reader::of(
                    &|k: &freshness::Key| self.access.can_read(&k.0, &k.1),
                    &|k: &freshness::Key| super::access::sees_whole(Some(&self.access), &k.0, &k.1),
                ),
            )
            .into_iter()
            .map(|(state, message)| super::run::Notice {
                code: super::SqlState::Warning.code(),
                severity: if state == freshness::State::Error {
                    "WARNING"
                } else {
                    "NOTICE"
                },
                message,
            })
            .collect()
    }

    pub fn access(&self) -> &crate::auth::Access {
        &self.access
    }

    /// The bound on this statement's run time: the session's `statement_timeout`, capped by
    /// the server's `limits.statement_timeout` (zero means none).
    pub fn statement_timeout(&self) -> Option<std::time::Duration> {
        let session = self
            .settings
            .lock()
            .expect("settings lock")
            .get("statement_timeout")
            .ok()
            .and_then(|v| settings::parse_pg_duration(&v))
            .filter(|d| !d.is_zero());
        let server = Some(self.engine.limits.statement_timeout).filter(|d| !d.is_zero());
        match (session, server) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub async fn execute(&self, plan: LogicalPlan) -> Result<SendableRecordBatchStream> {
        let analyze = matches!(plan, LogicalPlan::Analyze(_));
        let df = self.ctx.execute_logical_plan(plan).await?;
        if !analyze {
            return Ok(df.execute_stream().await?);
        }
        // EXPLAIN ANALYZE runs the query while collecting; count its object-store requests
        // (from planning on: execution tasks are spawned when the stream is created) and
        // report them as one more row of the plan output.
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let requests = self
            .explain_requests
            .lock()
            .expect("explain lock")
            .take()
            .unwrap_or_default();
        let batches =
            crate::storage::counting_requests_into(
                requests.clone(),
                async move { df.collect().await },
            )
            .await;
        let mut batches = batches?;
        if let [plan_type, plan] = schema
            .fields()
            .iter()
            .map(|f| f.data_type())
            .collect::<Vec<_>>()[..]
            && plan_type == &DataType::Utf8
            && plan == &DataType::Utf8
        {
            let row = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(vec!["Object store requests"])),
                    Arc::new(StringArray::from(vec![requests.summary()])),
                ],
            )
            .map_err(DataFusionError::from)?;
            batches.push(row);
        }
        Ok(Box::pin(
            datafusion::physical_plan::memory::MemoryStream::try_new(batches, schema, None)?,
        ))
    }

    pub fn result_schema(plan: &LogicalPlan) -> SchemaRef {
        Arc::new(plan.schema().as_arrow().clone())
    }

    /// Applies `SET name = value` (value `None` = DEFAULT). Returns the ParameterStatus to
    /// report when the parameter is one Postgres reports.
    pub fn set(&self, name: &str, value: Option<&str>) -> Result<Option<(String, String)>> {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("datafusion.") {
            // EXPLAIN and display knobs are harmless; the rest is for admins (optimizer
            // settings include the hash-join workaround set at start, execution settings the
            // limits), and catalog paths and runtime limits for no one.
            let harmless = ["datafusion.explain.", "datafusion.format."]
                .iter()
                .any(|p| lower.starts_with(p));
            let never = ["datafusion.catalog.", "datafusion.runtime."]
                .iter()
                .any(|p| lower.starts_with(p));
            if never || !(harmless || self.access.admin) {
                return Err(EngineError::Forbidden(format!(
                    "to set parameter \"{name}\""
                )));
            }
            let state = self.ctx.state_ref();
            let mut state = state.write();
            let value = match value {
                Some(v) => v.to_string(),
                None => {
                    return Err(EngineError::Unsupported(
                        "SET datafusion.* TO DEFAULT".into(),
                    ));
                }
            };
            state
                .config_mut()
                .options_mut()
                .set(&lower, &value)
                .map_err(|_| EngineError::InvalidSetting {
                    name: name.to_string(),
                    value: value.clone(),
                })?;
            if !harmless {
                self.tuned.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            return Ok(None);
        }
        let report = self
            .settings
            .lock()
            .expect("settings lock")
            .set(&lower, value)?;
        if lower == "search_path" {
            self.apply_search_path();
        }
        Ok(report)
    }

    pub fn reset(&self, name: Option<&str>) -> Result<Vec<(String, String)>> {
        let reports = {
            let mut s = self.settings.lock().expect("settings lock");
            match name {
                Some(n) => s.set(&n.to_ascii_lowercase(), None)?.into_iter().collect(),
                None => s.reset_all(),
            }
        };
        self.apply_search_path();
        Ok(reports)
    }

    pub fn show(&self, name: &str) -> Result<String> {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("datafusion.") {
            let state = self.ctx.state();
            return state
                .config()
                .options()
                .entries()
                .into_iter()
                .find(|e| e.key == lower)
                .map(|e| e.value.unwrap_or_default())
                .ok_or(EngineError::UnknownSetting(name.to_string()));
        }
        self.settings.lock().expect("settings lock").get(&lower)
    }

    pub fn show_all(&self) -> Vec<(String, String, String)> {
        self.settings.lock().expect("settings lock").all()
    }

    /// Maps `search_path` onto DataFusion's default schema: the first listed schema that exists.
    fn apply_search_path(&self) {
        let (path, text) = {
            let s = self.settings.lock().expect("settings lock");
            (s.search_path(), s.get("search_path").unwrap_or_default())
        };
        *self.applied_search_path.lock().expect("search path lock") = Some(text);
        let schemas = self
            .ctx
            .catalog(&self.engine.database)
            .map(|c| c.schema_names())
            .unwrap_or_default();
        let chosen = path
            .into_iter()
            .find(|s| schemas.contains(s) && s != "pg_catalog")
            .unwrap_or_else(|| crate::catalog::PUBLIC_SCHEMA.to_string());
        let state = self.ctx.state_ref();
        let mut state = state.write();
        state.config_mut().options_mut().catalog.default_schema = chosen;
    }
}

/// Whether an optimized plan still holds subquery expressions (DataFusion could not turn them
/// into joins; its physical planner would refuse them).
fn subqueries_left(plan: &LogicalPlan) -> bool {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    let mut left = false;
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|e| {
                if matches!(
                    e,
                    datafusion::logical_expr::Expr::ScalarSubquery(_)
                        | datafusion::logical_expr::Expr::Exists(_)
                        | datafusion::logical_expr::Expr::InSubquery(_)
                ) {
                    left = true;
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    left
}
