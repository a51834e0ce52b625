//! Running one command of a session, whatever door it came through: the protocol-free core the
//! Postgres wire (and any other door) renders. A door parses with [`Session::commands`] or
//! prepares with [`Session::prepare`], calls [`Session::run`] or [`Session::run_prepared`],
//! and turns the [`Outcome`] into its own messages.

use std::collections::HashMap;
use std::pin::Pin;

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::sql::sqlparser::ast::Statement;
use futures::{Stream, StreamExt, stream};

use super::CopyFormat;
use super::cancel::{QueryCancel, QuerySlot};
use super::*;

/// Where the session's transaction block stands (Postgres' `I`, `T` and `E`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transaction {
    Idle,
    Open,
    /// A statement of the block failed: only COMMIT or ROLLBACK (which both roll back) run.
    Failed,
}

/// A warning for the client (a Postgres NOTICE with its SQLSTATE).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub code: &'static str,
    /// `NOTICE` or `WARNING`.
    pub severity: &'static str,
    pub message: String,
}

/// Result rows as the query produces them. Nothing is collected: the stream is read as the
/// client takes rows, stops with 57014 when canceled or timed out, and ends the query's timer.
pub type Rows = Pin<Box<dyn Stream<Item = Result<RecordBatch>> + Send>>;

pub enum Reply {
    /// Rows under `schema`; `tag` names the command (`SELECT`, `EXPLAIN`, `FETCH`, `SHOW`).
    Rows {
        schema: SchemaRef,
        rows: Rows,
        tag: &'static str,
    },
    /// A command without rows, by its tag (`SET`, `BEGIN`, `DECLARE CURSOR`, ...).
    Done(&'static str),
    /// `COPY ... TO STDOUT`: rows under `schema` for the door to write in `format`.
    Copy {
        schema: SchemaRef,
        rows: Rows,
        format: CopyFormat,
    },
}

/// What a command did.
pub struct Outcome {
    pub reply: Reply,
    /// The transaction state after the command.
    pub transaction: Transaction,
    /// Session parameters whose value changed (Postgres' ParameterStatus), in order.
    pub reports: Vec<(String, String)>,
    pub notices: Vec<Notice>,
}

impl Outcome {
    fn done(tag: &'static str, transaction: Transaction) -> Outcome {
        Outcome {
            reply: Reply::Done(tag),
            transaction,
            reports: vec![],
            notices: vec![],
        }
    }
}

/// A prepared statement: its command, the plan made at prepare time (for Describe, reused
/// while the catalog generation holds) and what was inferred of its parameters.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub sql: Arc<str>,
    pub command: Command,
    pub plan: Option<LogicalPlan>,
    /// DataFusion's type for each `$n`, when it could infer one (at least as many entries as
    /// the client declared types).
    pub targets: Vec<Option<DataType>>,
    /// The result columns a client is told of; results are made to match them.
    pub schema: Option<SchemaRef>,
    /// Engine generation the plan was made against.
    pub generation: (u64, u64),
    /// The lake tables and views the plan reads.
    pub reads: Vec<freshness::Key>,
}

/// A query planned ahead, with the cancel token its planning ran under.
struct Planned {
    plan: LogicalPlan,
    schema: SchemaRef,
    reads: Vec<freshness::Key>,
    cancel: QueryCancel,
    /// For the result cache: the parameter values, and the view set's generation taken
    /// before the plan was made.
    params: Vec<ScalarValue>,
    views: u64,
}

impl Session {
    /// Prepares one statement (`Ok(None)` for an empty one). `declared` is how many parameter
    /// types the client named; planning is bounded and cancelable like running.
    pub async fn prepare(
        &self,
        sql: &str,
        declared: usize,
        slot: &QuerySlot,
    ) -> Result<Option<Prepared>> {
        let token = slot.begin();
        token.arm(self.statement_timeout());
        let prepared = tokio::select! {
            biased;
            _ = token.cancelled() => Err(token.error()),
            p = self.prepare_unbounded(sql, declared) => p,
        };
        token.finish();
        prepared
    }

    async fn prepare_unbounded(&self, sql: &str, declared: usize) -> Result<Option<Prepared>> {
        let mut commands = self.commands(sql)?;
        if commands.is_empty() {
            return Ok(None);
        }
        if commands.len() > 1 {
            return Err(EngineError::MultipleStatements);
        }
        let command = commands.remove(0);
        // Taken before planning: a change during planning makes Execute plan again.
        let generation = self.engine().generation();
        let mut reads = vec![];
        let (plan, schema, targets) = match &command {
            Command::Query(stmt) => {
                let (plan, read) = self.plan((**stmt).clone()).await?;
                reads = read;
                let mut inferred = plan.get_parameter_types()?;
                // `$1::bigint` tells the type as Postgres infers it; DataFusion leaves it open.
                for (id, t) in cast_placeholder_types(&plan) {
                    if let Some(slot @ None) = inferred.get_mut(&id) {
                        *slot = Some(t);
                    }
                }
                let n = inferred
                    .keys()
                    .filter_map(|k| k.trim_start_matches('$').parse::<usize>().ok())
                    .max()
                    .unwrap_or(0)
                    .max(declared);
                let targets: Vec<Option<DataType>> = (1..=n)
                    .map(|i| inferred.get(&format!("${i}")).cloned().flatten())
                    .collect();
                let schema = Session::result_schema(&plan);
                (Some(plan), Some(schema), targets)
            }
            Command::Show(name) => (
                None,
                Some(text_schema(&[&super::settings::show_column(name)])),
                vec![],
            ),
            Command::Fetch { name, .. } => {
                let cursors = self.cursors().lock().await;
                let cursor = cursors
                    .get(name)
                    .ok_or_else(|| EngineError::UnknownCursor(name.clone()))?;
                (None, Some(cursor.schema.clone()), vec![])
            }
            Command::ShowAll => (
                None,
                Some(text_schema(&["name", "setting", "description"])),
                vec![],
            ),
            Command::Refused(r) => return Err(r.clone().into_error()),
            _ => (None, None, vec![]),
        };
        Ok(Some(Prepared {
            generation,
            sql: sql.into(),
            command,
            plan,
            targets,
            schema,
            reads,
        }))
    }

    /// Runs a prepared statement with its parameter values (`values` is called only when the
    /// statement is a query the transaction state lets run). The prepare-time plan is reused
    /// unless the lake or the views changed since; then it is planned again, so a long-lived
    /// prepared statement sees the current lake.
    pub async fn run_prepared(
        &self,
        stmt: &Prepared,
        values: impl FnOnce() -> Result<Vec<ScalarValue>>,
        transaction: Transaction,
        slot: &QuerySlot,
    ) -> Result<Outcome> {
        let planned = match (&stmt.command, &stmt.plan, &stmt.schema) {
            (Command::Query(ast), Some(plan), Some(schema)) => {
                if transaction == Transaction::Failed {
                    return Err(EngineError::TransactionAborted);
                }
                let values = values()?;
                // The statement's timer and cancel start here: a re-plan is part of it.
                let token = slot.begin();
                token.arm(self.statement_timeout());
                let now = self.engine().generation();
                let views = if stmt.generation == now {
                    stmt.generation.1
                } else {
                    now.1
                };
                let (plan, reads) = if stmt.generation == now {
                    (plan.clone(), stmt.reads.clone())
                } else {
                    tokio::select! {
                        biased;
                        _ = token.cancelled() => return Err(token.error()),
                        p = self.plan((**ast).clone()) => p.inspect_err(|_| token.finish())?,
                    }
                };
                let params = values.clone();
                let plan = if values.is_empty() {
                    plan
                } else {
                    plan.with_param_values(values)?
                };
                Some(Planned {
                    plan,
                    schema: schema.clone(),
                    reads,
                    cancel: token,
                    params,
                    views,
                })
            }
            _ => None,
        };
        self.run_planned(&stmt.command, transaction, slot, planned)
            .await
    }

    /// Runs one command: a query (planned and started here, its rows streamed by the caller),
    /// SET/RESET/SHOW, a transaction command, or a cursor command.
    pub async fn run(
        &self,
        command: &Command,
        transaction: Transaction,
        slot: &QuerySlot,
    ) -> Result<Outcome> {
        self.run_planned(command, transaction, slot, None).await
    }

    async fn run_planned(
        &self,
        command: &Command,
        transaction: Transaction,
        slot: &QuerySlot,
        planned: Option<Planned>,
    ) -> Result<Outcome> {
        if transaction == Transaction::Failed
            && !matches!(command, Command::Commit | Command::Rollback)
        {
            return Err(EngineError::TransactionAborted);
        }
        Ok(match command {
            Command::CopyOut { query, format } => {
                let (schema, rows, notices) = self.start(query, slot, planned).await?;
                Outcome {
                    reply: Reply::Copy {
                        schema,
                        rows,
                        format: format.clone(),
                    },
                    transaction,
                    reports: vec![],
                    notices,
                }
            }
            Command::Query(stmt) => {
                let tag = if matches!(**stmt, Statement::Explain { .. }) {
                    "EXPLAIN"
                } else {
                    "SELECT"
                };
                let (schema, rows, notices) = self.start(stmt, slot, planned).await?;
                Outcome {
                    reply: Reply::Rows { schema, rows, tag },
                    transaction,
                    reports: vec![],
                    notices,
                }
            }
            Command::Set { name, value } => {
                let mut out = Outcome::done("SET", transaction);
                out.reports.extend(self.set(name, value.as_deref())?);
                out
            }
            Command::Reset(name) => {
                let mut out = Outcome::done("RESET", transaction);
                out.reports = self.reset(name.as_deref())?;
                out
            }
            Command::Show(name) => {
                let value = self.show(name)?;
                let schema = text_schema(&[&super::settings::show_column(name)]);
                text_rows(schema, vec![vec![value]], transaction)?
            }
            Command::ShowAll => {
                let rows = self
                    .show_all()
                    .into_iter()
                    .map(|(a, b, c)| vec![a, b, c])
                    .collect();
                let schema = text_schema(&["name", "setting", "description"]);
                text_rows(schema, rows, transaction)?
            }
            Command::Begin => {
                if transaction == Transaction::Idle {
                    Outcome::done("BEGIN", Transaction::Open)
                } else {
                    let mut out = Outcome::done("BEGIN", transaction);
                    out.notices.push(Notice {
                        code: super::SqlState::ActiveSqlTransaction.code(),
                        severity: "WARNING",
                        message: "there is already a transaction in progress".into(),
                    });
                    out
                }
            }
            Command::Commit | Command::Rollback => {
                let rollback =
                    matches!(command, Command::Rollback) || transaction == Transaction::Failed;
                let mut out = Outcome::done(
                    if rollback { "ROLLBACK" } else { "COMMIT" },
                    Transaction::Idle,
                );
                if transaction == Transaction::Idle {
                    out.notices.push(Notice {
                        code: super::SqlState::NoActiveSqlTransaction.code(),
                        severity: "WARNING",
                        message: "there is no transaction in progress".into(),
                    });
                }
                self.close_transaction_cursors(rollback).await;
                out
            }
            Command::Noop(tag) => Outcome::done(tag, transaction),
            Command::Discard => {
                let mut out = Outcome::done("DISCARD ALL", transaction);
                out.reports = self.reset(None)?;
                out
            }
            Command::Deallocate(_) => Outcome::done("DEALLOCATE", transaction),
            Command::Declare { name, query, hold } => {
                // Planning and starting the query are this statement's; each FETCH is bounded
                // on its own (statement_timeout is per statement, as in Postgres).
                let token = slot.begin();
                token.arm(self.statement_timeout());
                let started = async {
                    let (plan, reads) = self.plan((**query).clone()).await?;
                    let schema = Session::result_schema(&plan);
                    Ok::<_, EngineError>((schema, self.execute(plan).await?, reads))
                };
                let started = tokio::select! {
                    biased;
                    _ = token.cancelled() => return Err(token.error()),
                    r = started => r,
                };
                token.finish();
                let (schema, batches, reads) = started?;
                let cursor = Cursor::new(*hold, schema, batches);
                let mut cursors = self.cursors().lock().await;
                if cursors.contains_key(name) {
                    return Err(EngineError::DuplicateCursor(name.clone()));
                }
                cursors.insert(name.clone(), cursor);
                let mut out = Outcome::done("DECLARE CURSOR", transaction);
                out.notices = self.freshness_notices(&reads);
                out
            }
            Command::Fetch { name, count } => {
                let (schema, rows) = {
                    let cursors = self.cursors().lock().await;
                    let cursor = cursors
                        .get(name)
                        .ok_or_else(|| EngineError::UnknownCursor(name.clone()))?;
                    (cursor.schema.clone(), cursor.fetch(name, *count)?)
                };
                // The rows stream under this statement's timeout and cancel, like a query.
                let token = slot.begin();
                token.arm(self.statement_timeout());
                Outcome {
                    reply: Reply::Rows {
                        schema,
                        rows: cancelable(rows, token),
                        tag: "FETCH",
                    },
                    transaction,
                    reports: vec![],
                    notices: vec![],
                }
            }
            Command::Close(name) => {
                let mut cursors = self.cursors().lock().await;
                match name {
                    Some(n) => {
                        cursors
                            .remove(n)
                            .ok_or_else(|| EngineError::UnknownCursor(n.clone()))?;
                    }
                    None => cursors.clear(),
                }
                Outcome::done("CLOSE CURSOR", transaction)
            }
            Command::Refused(r) => return Err(r.clone().into_error()),
        })
    }

    /// Plans (unless planned ahead) and starts a query under the statement's timer and
    /// cancel token; its rows stream under them. The notices are the freshness of what it reads.
    async fn start(
        &self,
        stmt: &Statement,
        slot: &QuerySlot,
        planned: Option<Planned>,
    ) -> Result<(SchemaRef, Rows, Vec<Notice>)> {
        let Planned {
            plan,
            schema,
            reads,
            cancel: token,
            params,
            views,
        } = match planned {
            Some(p) => p,
            None => {
                let views = self.engine().generation().1;
                let token = slot.begin();
                token.arm(self.statement_timeout());
                let (plan, reads) = tokio::select! {
                    biased;
                    _ = token.cancelled() => return Err(token.error()),
                    p = self.plan(stmt.clone()) => p.inspect_err(|_| token.finish())?,
                };
                let schema = Session::result_schema(&plan);
                Planned {
                    plan,
                    schema,
                    reads,
                    cancel: token,
                    params: vec![],
                    views,
                }
            }
        };
        let notices = self.freshness_notices(&reads);
        let cache = self.engine().result_cache().cloned();
        let key = cache.as_ref().and_then(|_| {
            if matches!(plan, LogicalPlan::Explain(_) | LogicalPlan::Analyze(_)) {
                return None;
            }
            let settings = self.result_cache_settings()?;
            let inputs = super::result_cache::inputs(&plan)?;
            Some(super::result_cache::ResultCache::key(
                &self.access().user,
                &stmt.to_string(),
                &params,
                &settings,
                views,
                &inputs,
            ))
        });
        if let (Some(cache), Some(key)) = (&cache, &key)
            && let Some((kept, batches)) = cache.get(key)
        {
            let rows = datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                kept,
                stream::iter(batches.into_iter().map(Ok)),
            );
            return Ok((schema, cancelable(Box::pin(rows), token), notices));
        }
        // EXPLAIN says what the result cache would do with the query it explains.
        let verdict = match (&plan, stmt, &cache) {
            (LogicalPlan::Explain(e), Statement::Explain { statement, .. }, Some(cache)) => {
                Some(match self.result_cache_settings() {
                    None => "off for this session".to_string(),
                    Some(settings) => match super::result_cache::inputs(&e.plan) {
                        None => "not cacheable: it reads something without a table version, \
                                 or calls a volatile or stable function"
                            .to_string(),
                        Some(inputs) => {
                            let key = super::result_cache::ResultCache::key(
                                &self.access().user,
                                &statement.to_string(),
                                &params,
                                &settings,
                                views,
                                &inputs,
                            );
                            if cache.contains(&key) {
                                "hit: answered from memory".to_string()
                            } else {
                                "miss: computed, then kept if it fits".to_string()
                            }
                        }
                    },
                })
            }
            _ => None,
        };
        let batches = tokio::select! {
            biased;
            _ = token.cancelled() => return Err(token.error()),
            s = self.execute(plan) => s.inspect_err(|_| token.finish())?,
        };
        let produced = batches.schema();
        let batches: SendableRecordBatchStream = match verdict {
            Some(v)
                if produced.fields().len() == 2
                    && produced
                        .fields()
                        .iter()
                        .all(|f| f.data_type() == &DataType::Utf8) =>
            {
                let row = RecordBatch::try_new(
                    produced.clone(),
                    vec![
                        Arc::new(StringArray::from(vec!["result_cache"])) as ArrayRef,
                        Arc::new(StringArray::from(vec![v])),
                    ],
                )
                .map_err(DataFusionError::from)?;
                Box::pin(
                    datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                        produced.clone(),
                        batches.chain(stream::once(async move { Ok(row) })),
                    ),
                )
            }
            _ => batches,
        };
        let rows = cancelable(batches, token);
        let rows = match (cache, key) {
            (Some(cache), Some(key)) => cache.keep(key, produced, rows),
            _ => rows,
        };
        Ok((schema, rows, notices))
    }

    /// Cursors end with their transaction (Postgres closes non-holdable ones at COMMIT, and
    /// every cursor of a transaction that rolls back).
    async fn close_transaction_cursors(&self, rollback: bool) {
        self.cursors()
            .lock()
            .await
            .retain(|_, c| c.hold && !rollback);
    }
}

/// The batches of a query, stopping with the token's error (57014) once it is canceled or
/// timed out; at the end the token's timer stops and the query counts as succeeded.
fn cancelable(batches: SendableRecordBatchStream, token: QueryCancel) -> Rows {
    let started = std::time::Instant::now();
    Box::pin(stream::unfold(
        Some((batches, token, 0u64)),
        move |state| async move {
            let (mut batches, token, n) = state?;
            tokio::select! {
                biased;
                _ = token.cancelled() => Some((Err(token.error()), None)),
                item = batches.next() => match item {
                    Some(Ok(b)) => {
                        let rows = n + b.num_rows() as u64;
                        Some((Ok(b), Some((batches, token, rows))))
                    }
                    Some(Err(e)) => Some((Err(e.into()), Some((batches, token, n)))),
                    None => {
                        token.finish();
                        crate::metrics::metrics().query_ok(started.elapsed(), n);
                        None
                    }
                },
            }
        },
    ))
}

/// Casts a batch to the schema the client was told about (names kept, types converted).
pub fn conform(batch: RecordBatch, target: &SchemaRef) -> Result<RecordBatch> {
    let same = batch.num_columns() == target.fields().len()
        && batch
            .schema()
            .fields()
            .iter()
            .zip(target.fields())
            .all(|(a, b)| a.data_type() == b.data_type());
    if same {
        return Ok(batch);
    }
    let renamed = batch.num_columns() != target.fields().len()
        || batch
            .schema()
            .fields()
            .iter()
            .zip(target.fields())
            .any(|(a, b)| a.name() != b.name());
    if renamed {
        return Err(EngineError::Unsupported(
            "a prepared statement whose result columns changed (the table was altered); \
             prepare it again"
                .into(),
        ));
    }
    let columns = batch
        .columns()
        .iter()
        .zip(target.fields())
        .map(|(c, f)| datafusion::arrow::compute::cast(c, f.data_type()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| EngineError::DataFusion(e.into()))?;
    RecordBatch::try_new(target.clone(), columns).map_err(|e| EngineError::DataFusion(e.into()))
}

fn text_schema(names: &[&str]) -> SchemaRef {
    Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

/// A one-batch text result (SHOW).
fn text_rows(
    schema: SchemaRef,
    rows: Vec<Vec<String>>,
    transaction: Transaction,
) -> Result<Outcome> {
    let columns = (0..schema.fields().len())
        .map(|i| {
            Arc::new(StringArray::from(
                rows.iter().map(|r| r[i].clone()).collect::<Vec<_>>(),
            )) as ArrayRef
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(DataFusionError::from)?;
    let stream = datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
        schema.clone(),
        stream::iter(vec![Ok(batch)]),
    );
    Ok(Outcome {
        reply: Reply::Rows {
            schema,
            rows: cancelable(Box::pin(stream), QueryCancel::default()),
            tag: "SHOW",
        },
        transaction,
        reports: vec![],
        notices: vec![],
    })
}

/// The types `$n::type` casts give parameters DataFusion leaves untyped.
fn cast_placeholder_types(plan: &LogicalPlan) -> HashMap<String, DataType> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::logical_expr::ExprSchemable;
    use datafusion::logical_expr::{Cast, Expr, TryCast};
    let mut out = HashMap::new();
    let _ = plan.apply_with_subqueries(|p| {
        let schema = datafusion::logical_expr::utils::merge_schema(&p.inputs());
        p.apply_expressions(|e| {
            e.apply(|e| {
                // `x = ANY($1)` (planned as array_has($1, x)): $1 is an array of x's type, as
                // Postgres infers it; drivers bind lists there.
                if let Expr::ScalarFunction(f) = e
                    && f.name() == "array_has"
                    && let [Expr::Placeholder(ph), x] = f.args.as_slice()
                    && let Ok(t) = x.get_type(&schema)
                {
                    out.insert(
                        ph.id.clone(),
                        DataType::List(std::sync::Arc::new(
                            datafusion::arrow::datatypes::Field::new_list_field(t, true),
                        )),
                    );
                    return Ok(TreeNodeRecursion::Continue);
                }
                let (inner, t) = match e {
                    Expr::Cast(Cast { expr, data_type }) => (expr.as_ref(), data_type),
                    Expr::TryCast(TryCast { expr, data_type }) => (expr.as_ref(), data_type),
                    _ => return Ok(TreeNodeRecursion::Continue),
                };
                if let Expr::Placeholder(ph) = inner {
                    out.insert(ph.id.clone(), t.clone());
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    out
}
