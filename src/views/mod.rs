//! Versioned views: `views/<schema>/<name>.sql` files served as SQL views, hot-reloaded.
//!
//! A reload reads every file, orders the views by their dependencies, plans each one against
//! the lake plus the views planned before it, and swaps the whole set in at once. A view that
//! fails (syntax, unknown column, missing or broken dependency, cycle) keeps serving its last
//! good definition and its error is shown in `lakegate.views`; a view whose file is gone is
//! dropped. Views are planned again whenever the lake catalog changes, so they always read the
//! current table versions, and a running query keeps the plan it started with.
//!
//! Each definition that is served is appended to `_lakegate/view_history` (a Delta table in the
//! lake, served as `lakegate.view_history`), with the git commit it came from when the folder
//! is in a git work tree.

mod git;
pub mod gitsource;
pub mod gold;
pub mod history;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use datafusion::arrow::array::{ArrayRef, BooleanArray, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{MemTable, MemorySchemaProvider, SchemaProvider};
use datafusion::datasource::TableProvider;
use datafusion::sql::sqlparser::ast::{ObjectName, Statement, Visit, Visitor};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::catalog::{ViewMap, ViewSource};
use crate::engine::Engine;
pub use git::GitInfo;

pub use crate::engine::SYSTEM_SCHEMA;

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("Failed to read views folder {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Failed to record view history: {0}")]
    History(String),
    /// `git` is not installed or could not start.
    #[error("cannot run git: {0}")]
    GitMissing(std::io::Error),
    /// A git command failed (network, auth, unknown branch); `message` is git's stderr.
    #[error("git {command}: {message}")]
    Git {
        command: &'static str,
        message: String,
    },
    #[error("cannot create the views cache {path}: {source}")]
    Cache {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = ViewError> = std::result::Result<T, E>;

/// `views/<schema>/<name>.yaml`: optional metadata beside the SQL.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ViewMeta {
    /// Shown to BI users as the view's comment.
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    /// Column name → description.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Gold materialization settings, read by the ingestion layer.
    #[serde(default)]
    pub materialize: Option<serde_yaml::Value>,
    /// How old the view's data may get (a view is as stale as the stalest thing it reads).
    #[serde(default)]
    pub freshness: Option<crate::config::FreshnessRule>,
}

/// One view file as read from disk.
#[derive(Debug, Clone)]
pub struct ViewFile {
    pub schema: String,
    pub name: String,
    pub path: PathBuf,
    pub sql: String,
    pub sha256: String,
    pub meta: ViewMeta,
    pub git: Option<GitInfo>,
}

/// A view as currently served (its last good definition) plus its current status.
#[derive(Debug, Clone)]
pub struct ViewStatus {
    pub schema: String,
    pub name: String,
    /// ok, error (file broken, last good served), stale (dependency changed under it)
    pub status: &'static str,
    pub error: Option<String>,
    /// The definition being served, if any.
    pub served: Option<Arc<ViewFile>>,
    /// The file on disk now (may differ from `served` when broken).
    pub file: PathBuf,
    pub loaded_at: i64,
}

struct Served {
    file: Arc<ViewFile>,
    table: Arc<dyn TableProvider>,
}

/// The views layer: the served set, its status, and the reloader.
pub struct ViewRegistry {
    dir: PathBuf,
    engine: Arc<Engine>,
    served: RwLock<HashMap<(String, String), Arc<Served>>>,
    status: RwLock<Vec<ViewStatus>>,
    system: Arc<MemorySchemaProvider>,
    reload_lock: tokio::sync::Mutex<()>,
    /// Wakes the watcher for a reload that no file event announces (git source moved).
    trigger: tokio::sync::Notify,
}

impl std::fmt::Debug for ViewRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewRegistry")
            .field("dir", &self.dir)
            .finish()
    }
}

/// Outcome of one reload, for logs, tests and `lakegate check`.
#[derive(Debug, Default, Clone)]
pub struct ReloadReport {
    pub ok: usize,
    /// `file:line: message` for every view that failed.
    pub errors: Vec<String>,
}

impl ViewRegistry {
    pub fn new(dir: &Path, engine: Arc<Engine>) -> Arc<ViewRegistry> {
        let system = engine.system_schema();
        Arc::new(ViewRegistry {
            dir: dir.to_path_buf(),
            engine,
            served: RwLock::new(HashMap::new()),
            status: RwLock::new(Vec::new()),
            system,
            reload_lock: tokio::sync::Mutex::new(()),
            trigger: tokio::sync::Notify::new(),
        })
    }

    /// Asks the watcher task to reload now.
    pub fn trigger_reload(&self) {
        self.trigger.notify_one();
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn status(&self) -> Vec<ViewStatus> {
        self.status.read().expect("status lock").clone()
    }

    /// Reads, plans and swaps in the whole views folder.
    pub async fn reload(&self) -> Result<ReloadReport> {
        let _guard = self.reload_lock.lock().await;
        let (files, mut load_errors) = read_folder(&self.dir)?;
        let git = git::GitInfo::for_files(&self.dir, files.iter().map(|f| f.path.as_path()));
        let files: Vec<Arc<ViewFile>> = files
            .into_iter()
            .map(|mut f| {
                f.git = git.get(&f.path).cloned();
                Arc::new(f)
            })
            .collect();
        let previous = self.served.read().expect("served lock").clone();
        let now = chrono::Utc::now().timestamp_micros();

        let pending: ViewSource = Arc::new(RwLock::new(Arc::new(ViewMap::new())));
        let ctx = self.engine.planning_context(pending.clone());
        let lake_tables = self.engine.catalog().snapshot();

        // Parse and find dependencies.
        let mut parsed: BTreeMap<(String, String), (Arc<ViewFile>, Result<Statement, String>)> =
            BTreeMap::new();
        for f in &files {
            let stmt = parse_view(f);
            parsed.insert((f.schema.clone(), f.name.clone()), (f.clone(), stmt));
        }
        let keys: BTreeSet<(String, String)> = parsed.keys().cloned().collect();
        let mut deps: BTreeMap<(String, String), Vec<(String, String)>> = BTreeMap::new();
        for (key, (_, stmt)) in &parsed {
            let refs = match stmt {
                Ok(s) => relations(s),
                Err(_) => vec![],
            };
            let resolved = refs
                .into_iter()
                .filter_map(|r| resolve(&r, &key.0, &keys))
                .filter(|k| keys.contains(k) && k != key)
                .collect();
            deps.insert(key.clone(), resolved);
        }
        let (order, cyclic) = topo_order(&deps);

        let mut served: HashMap<(String, String), Arc<Served>> = HashMap::new();
        let mut statuses = Vec::new();
        let mut report = ReloadReport::default();
        for key in order.iter().chain(cyclic.iter()) {
            let (file, stmt) = &parsed[key];
            let outcome: Result<Arc<dyn TableProvider>, String> = if cyclic.contains(key) {
                let others: Vec<String> = deps[key]
                    .iter()
                    .filter(|d| cyclic.contains(d))
                    .map(|d| format!("{}.{}", d.0, d.1))
                    .collect();
                Err(located(
                    file,
                    &others.join(", "),
                    &format!(
                        "view {}.{} is part of a dependency cycle with {}",
                        key.0,
                        key.1,
                        others.join(", ")
                    ),
                ))
            } else if lake_tables.table(&key.0, &key.1).is_some() && file.meta.materialize.is_none()
            {
                // A gold model's own table has its name: the definition stays planned (it is
                // what the model is rebuilt from, also after a restart); the table is served.
                Err(format!(
                    "{}:1: view {}.{} has the name of a lake table; rename the file",
                    file.path.display(),
                    key.0,
                    key.1
                ))
            } else {
                match stmt {
                    Err(e) => Err(e.clone()),
                    Ok(stmt) => plan_view(&ctx, file, stmt.clone()).await,
                }
            };
            let (status, error) = match outcome {
                Ok(table) => {
                    let s = Arc::new(Served {
                        file: file.clone(),
                        table,
                    });
                    insert(&pending, key, s.table.clone());
                    served.insert(key.clone(), s);
                    report.ok += 1;
                    ("ok", None)
                }
                Err(message) => {
                    report.errors.push(message.clone());
                    // Keep serving the last good definition, planned again against today's lake.
                    if let Some(prev) = previous.get(key) {
                        let replanned = match parse_view(&prev.file) {
                            Ok(stmt) => plan_view(&ctx, &prev.file, stmt).await.ok(),
                            Err(_) => None,
                        };
                        let table = replanned.unwrap_or_else(|| prev.table.clone());
                        insert(&pending, key, table.clone());
                        served.insert(
                            key.clone(),
                            Arc::new(Served {
                                file: prev.file.clone(),
                                table,
                            }),
                        );
                    }
                    ("error", Some(message))
                }
            };
            statuses.push(ViewStatus {
                schema: key.0.clone(),
                name: key.1.clone(),
                status,
                error,
                served: served.get(key).map(|s| s.file.clone()),
                file: file.path.clone(),
                loaded_at: now,
            });
        }
        report.errors.append(&mut load_errors);

        // Swap: the served map first, then the status.
        let map = pending.read().expect("views lock").clone();
        self.engine.publish_views(map);
        self.publish_object_info(&served);
        *self.served.write().expect("served lock") = served;
        statuses.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        *self.status.write().expect("status lock") = statuses;
        if let Err(e) = self.publish_status() {
            warn!(error = %e, "failed to publish lakegate.views");
        }
        let m = crate::metrics::metrics();
        let status = |s: &str| crate::metrics::Status { status: s.into() };
        m.view_reloads
            .get_or_create(&status("ok"))
            .inc_by(report.ok as u64);
        m.view_reloads
            .get_or_create(&status("error"))
            .inc_by(report.errors.len() as u64);
        Ok(report)
    }

    /// Each served view with its file and the lake tables and views its query reads.
    pub fn served_relations(&self) -> Vec<(Arc<ViewFile>, Vec<(String, String)>)> {
        let served = self.served.read().expect("served lock");
        let mut out: Vec<_> = served
            .values()
            .map(|s| {
                let reads = crate::catalog::identity::LakeView::of(s.table.as_ref())
                    .map(|v| crate::catalog::identity::relations_read(v.plan()))
                    .unwrap_or_default();
                (s.file.clone(), reads)
            })
            .collect();
        out.sort_by(|a, b| (&a.0.schema, &a.0.name).cmp(&(&b.0.schema, &b.0.name)));
        out
    }

    /// Descriptions and definitions for pg_description, obj_description, pg_get_viewdef.
    fn publish_object_info(&self, served: &HashMap<(String, String), Arc<Served>>) {
        use crate::engine::pg_catalog::relation_oid;
        let mut descriptions = HashMap::new();
        let mut definitions = HashMap::new();
        let mut names = HashMap::new();
        for ((schema, name), s) in served {
            let oid = relation_oid(schema, name);
            names.insert(oid, (schema.clone(), name.clone()));
            definitions.insert(oid, s.file.sql.clone());
            if let Some(d) = &s.file.meta.description {
                descriptions.insert((oid, 0), d.clone());
            }
            let fields = s.table.schema();
            for (col, text) in &s.file.meta.columns {
                if let Some((i, _)) = fields.column_with_name(col) {
                    descriptions.insert((oid, i as i32 + 1), text.clone());
                }
            }
        }
        let info = self.engine.object_info();
        *info.descriptions.write().expect("info lock") = descriptions;
        *info.view_definitions.write().expect("info lock") = definitions;
        *info.names.write().expect("info lock") = names;
    }

    /// Rebuilds `lakegate.views` from the current status.
    fn publish_status(&self) -> datafusion::error::Result<()> {
        let status = self.status();
        let s = |f: &dyn Fn(&ViewStatus) -> Option<String>| -> ArrayRef {
            Arc::new(StringArray::from(status.iter().map(f).collect::<Vec<_>>()))
        };
        let batch = RecordBatch::try_new(
            views_schema(),
            vec![
                s(&|v| Some(v.schema.clone())),
                s(&|v| Some(v.name.clone())),
                s(&|v| Some(v.status.to_string())),
                s(&|v| v.error.clone()),
                s(&|v| v.served.as_ref().map(|f| f.sql.clone())),
                s(&|v| v.served.as_ref().map(|f| f.sha256.clone())),
                s(&|v| Some(v.file.display().to_string())),
                s(&|v| git(v).and_then(|g| g.commit.clone())),
                Arc::new(
                    TimestampMicrosecondArray::from(
                        status
                            .iter()
                            .map(|v| git(v).and_then(|g| g.author_time))
                            .collect::<Vec<_>>(),
                    )
                    .with_timezone("UTC"),
                ),
                Arc::new(BooleanArray::from(
                    status
                        .iter()
                        .map(|v| git(v).map(|g| g.dirty))
                        .collect::<Vec<_>>(),
                )),
                s(&|v| v.served.as_ref().and_then(|f| f.meta.description.clone())),
                Arc::new(
                    TimestampMicrosecondArray::from(
                        status.iter().map(|v| v.loaded_at).collect::<Vec<_>>(),
                    )
                    .with_timezone("UTC"),
                ),
            ],
        )?;
        let table = MemTable::try_new(views_schema(), vec![vec![batch]])?;
        self.system.deregister_table("views")?;
        self.system
            .register_table("views".into(), Arc::new(table))?;
        Ok(())
    }

    /// Definitions served now, for the history log.
    pub fn served_files(&self) -> Vec<Arc<ViewFile>> {
        self.served
            .read()
            .expect("served lock")
            .values()
            .map(|s| s.file.clone())
            .collect()
    }

    /// Reloads on file changes (debounced) and on lake changes until `shutdown`.
    pub fn spawn_watcher(
        self: &Arc<Self>,
        history: Option<Arc<history::ViewHistory>>,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let registry = Arc::clone(self);
        tokio::spawn(async move {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
            let watcher = {
                use notify::Watcher;
                let tx = tx.clone();
                match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                    use notify::EventKind;
                    use notify::event::ModifyKind;
                    // Reading the files (our own reload) raises access events: only content
                    // and name changes count.
                    let relevant = matches!(
                        res.map(|e| e.kind),
                        Ok(EventKind::Create(_)
                            | EventKind::Remove(_)
                            | EventKind::Modify(
                                ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any
                            ))
                    );
                    if relevant {
                        let _ = tx.send(());
                    }
                }) {
                    Ok(mut w) => {
                        if let Err(e) = w.watch(&registry.dir, notify::RecursiveMode::Recursive) {
                            warn!(error = %e, dir = %registry.dir.display(), "cannot watch the views folder");
                        }
                        Some(w)
                    }
                    // Keep reloading on lake changes and git polls even without file events.
                    Err(e) => {
                        warn!(error = %e, "cannot watch the views folder; views reload with the lake only");
                        None
                    }
                }
            };
            let mut lake = registry.engine.catalog().subscribe();
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    Some(()) = rx.recv() => {
                        // A checkout or an editor's save is many events: wait for quiet.
                        loop {
                            match tokio::time::timeout(Duration::from_millis(150), rx.recv()).await {
                                Ok(Some(())) => continue,
                                _ => break,
                            }
                        }
                    }
                    r = lake.changed() => { if r.is_err() { break; } }
                    _ = registry.trigger.notified() => {}
                }
                match registry.reload().await {
                    Ok(report) => {
                        info!(
                            ok = report.ok,
                            errors = report.errors.len(),
                            "views reloaded"
                        );
                        for e in &report.errors {
                            warn!("{e}");
                        }
                        if let Some(h) = &history
                            && let Err(e) = h.record(&registry.served_files()).await
                        {
                            warn!(error = %e, "failed to record view history");
                        }
                    }
                    Err(e) => warn!(error = %e, "views reload failed; serving the previous set"),
                }
            }
            drop(watcher);
        })
    }
}

fn git(v: &ViewStatus) -> Option<&GitInfo> {
    v.served.as_ref().and_then(|f| f.git.as_ref())
}

fn insert(source: &ViewSource, key: &(String, String), table: Arc<dyn TableProvider>) {
    let mut guard = source.write().expect("views lock");
    let mut map = (**guard).clone();
    map.entry(key.0.clone())
        .or_default()
        .insert(key.1.clone(), table);
    *guard = Arc::new(map);
}

pub fn views_schema() -> Arc<Schema> {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("schema", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("error", DataType::Utf8, true),
        Field::new("definition", DataType::Utf8, true),
        Field::new("sha256", DataType::Utf8, true),
        Field::new("file", DataType::Utf8, false),
        Field::new("commit", DataType::Utf8, true),
        Field::new("commit_time", ts.clone(), true),
        Field::new("uncommitted_changes", DataType::Boolean, true),
        Field::new("description", DataType::Utf8, true),
        Field::new("loaded_at", ts, false),
    ]))
}

/// Reads `<dir>/<schema>/<name>.sql` (+ `.yaml`); unreadable metadata is an error of that view.
fn read_folder(dir: &Path) -> Result<(Vec<ViewFile>, Vec<String>)> {
    let read_err = |path: &Path, source| ViewError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((files, errors)),
        Err(e) => return Err(read_err(dir, e)),
    };
    for schema_dir in entries {
        let schema_dir = schema_dir.map_err(|e| read_err(dir, e))?;
        let schema = schema_dir.file_name().to_string_lossy().to_string();
        if !schema_dir.path().is_dir() || schema.starts_with('.') {
            continue;
        }
        for entry in
            std::fs::read_dir(schema_dir.path()).map_err(|e| read_err(&schema_dir.path(), e))?
        {
            let path = entry.map_err(|e| read_err(&schema_dir.path(), e))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("sql") {
                continue;
            }
            let Some(name) = path.file_stem().map(|s| s.to_string_lossy().to_string()) else {
                continue;
            };
            let sql = match std::fs::read_to_string(&path) {
                Ok(s) => s,
                // Vanished between listing and reading (a checkout in progress): next reload.
                Err(_) => continue,
            };
            let meta_path = path.with_extension("yaml");
            let meta = match std::fs::read_to_string(&meta_path) {
                Ok(text) if !text.trim().is_empty() => {
                    match serde_yaml::from_str::<ViewMeta>(&text) {
                        Ok(m) => m,
                        Err(e) => {
                            let line = e.location().map(|l| l.line()).unwrap_or(1);
                            errors.push(format!("{}:{line}: {e}", meta_path.display()));
                            ViewMeta::default()
                        }
                    }
                }
                _ => ViewMeta::default(),
            };
            let sha256 = hex::encode(Sha256::digest(sql.as_bytes()));
            files.push(ViewFile {
                schema: schema.to_lowercase(),
                name: name.to_lowercase(),
                path,
                sql,
                sha256,
                meta,
                git: None,
            });
        }
    }
    Ok((files, errors))
}

/// Parses a view file: exactly one query.
fn parse_view(f: &ViewFile) -> Result<Statement, String> {
    // The words only other dialects reserve (`top`, `qualify`, ...) are identifiers here too,
    // as in a query (see `engine::foreign_keywords`).
    let sql = crate::engine::foreign_keywords(&f.sql);
    let mut stmts = Parser::parse_sql(&PostgreSqlDialect {}, &sql).map_err(|e| {
        let msg = e.to_string();
        let msg = msg
            .strip_prefix("sql parser error: ")
            .unwrap_or(&msg)
            .to_string();
        let line = msg
            .rfind("Line: ")
            .and_then(|i| msg[i + 6..].split(',').next()?.trim().parse::<usize>().ok())
            .unwrap_or(1);
        format!("{}:{line}: syntax error: {msg}", f.path.display())
    })?;
    match (stmts.len(), stmts.first()) {
        (1, Some(Statement::Query(_))) => Ok(stmts.remove(0)),
        (0, _) => Err(format!("{}:1: the file holds no query", f.path.display())),
        (1, _) => Err(format!(
            "{}:1: a view file must hold one SELECT",
            f.path.display()
        )),
        _ => Err(format!(
            "{}:1: a view file must hold exactly one query",
            f.path.display()
        )),
    }
}

async fn plan_view(
    ctx: &datafusion::prelude::SessionContext,
    file: &ViewFile,
    mut stmt: Statement,
) -> Result<Arc<dyn TableProvider>, String> {
    crate::engine::names_apply(&mut stmt);
    // Unqualified names resolve in the view's own schema first, as its dependencies do.
    let mut state = ctx.state();
    state.config_mut().options_mut().catalog.default_schema = file.schema.clone();
    let plan = state
        .statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(
            stmt,
        )))
        .await
        .map_err(|e| {
            let msg = e.find_root().to_string();
            located(file, &msg, &msg.to_string())
        })?;
    if !matches!(
        plan,
        datafusion::logical_expr::LogicalPlan::Projection(_)
            | datafusion::logical_expr::LogicalPlan::Sort(_)
            | datafusion::logical_expr::LogicalPlan::Limit(_)
            | datafusion::logical_expr::LogicalPlan::Aggregate(_)
            | datafusion::logical_expr::LogicalPlan::Union(_)
            | datafusion::logical_expr::LogicalPlan::Distinct(_)
            | datafusion::logical_expr::LogicalPlan::SubqueryAlias(_)
            | datafusion::logical_expr::LogicalPlan::Filter(_)
            | datafusion::logical_expr::LogicalPlan::Window(_)
    ) {
        return Err(format!("{}:1: a view must be a query", file.path.display()));
    }
    Ok(Arc::new(crate::catalog::identity::LakeView::new(
        &file.schema,
        &file.name,
        plan,
        file.sql.clone(),
    )))
}

/// `file:line: message`, with the line where the name the error is about first appears.
fn located(file: &ViewFile, error_text: &str, message: &str) -> String {
    let clean = |w: &str| -> String {
        let w = w.trim_matches(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'));
        let w = w.trim_end_matches('.');
        w.rsplit('.').next().unwrap_or(w).to_string()
    };
    // The subject of DataFusion's messages: "No field named x", "table 'a.b' not found", ...
    let mut needles: Vec<String> = Vec::new();
    if let Some(i) = error_text.find("named ") {
        needles.extend(error_text[i + 6..].split_whitespace().next().map(clean));
    }
    needles.extend(error_text.split('\'').skip(1).step_by(2).map(clean));
    needles.extend(error_text.split(", ").map(clean));
    let line = needles
        .iter()
        .filter(|n| n.len() > 1)
        .find_map(|n| {
            file.sql.lines().enumerate().find_map(|(i, l)| {
                let code = l.split("--").next().unwrap_or("");
                code.contains(n.as_str()).then_some(i + 1)
            })
        })
        .unwrap_or(1);
    format!("{}:{line}: {message}", file.path.display())
}

/// Relations a query reads (CTE names excluded).
fn relations(stmt: &Statement) -> Vec<Vec<String>> {
    struct V {
        found: Vec<Vec<String>>,
        ctes: BTreeSet<String>,
    }
    impl Visitor for V {
        type Break = ();
        fn pre_visit_query(
            &mut self,
            q: &datafusion::sql::sqlparser::ast::Query,
        ) -> std::ops::ControlFlow<()> {
            if let Some(with) = &q.with {
                for c in &with.cte_tables {
                    self.ctes.insert(c.alias.name.value.to_lowercase());
                }
            }
            std::ops::ControlFlow::Continue(())
        }
        fn pre_visit_relation(&mut self, r: &ObjectName) -> std::ops::ControlFlow<()> {
            let parts: Vec<String> =
                r.0.iter()
                    .filter_map(|p| p.as_ident().map(|i| i.value.to_lowercase()))
                    .collect();
            if !(parts.len() == 1 && self.ctes.contains(&parts[0])) {
                self.found.push(parts);
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut v = V {
        found: vec![],
        ctes: BTreeSet::new(),
    };
    let _ = stmt.visit(&mut v);
    v.found
}

/// Resolves a relation name to (schema, name): unqualified names look in the view's own schema.
fn resolve(
    parts: &[String],
    own: &str,
    views: &BTreeSet<(String, String)>,
) -> Option<(String, String)> {
    match parts {
        [name] => {
            let k = (own.to_string(), name.clone());
            if views.contains(&k) {
                Some(k)
            } else {
                Some(("public".into(), name.clone()))
            }
        }
        [.., schema, name] => Some((schema.clone(), name.clone())),
        [] => None,
    }
}

/// Kahn's algorithm; returns (order, views on or behind a cycle).
fn topo_order(
    deps: &BTreeMap<(String, String), Vec<(String, String)>>,
) -> (Vec<(String, String)>, BTreeSet<(String, String)>) {
    let mut remaining: BTreeMap<_, BTreeSet<_>> = deps
        .iter()
        .map(|(k, d)| (k.clone(), d.iter().cloned().collect()))
        .collect();
    let mut order = Vec::new();
    loop {
        let ready: Vec<_> = remaining
            .iter()
            .filter(|(_, d)| d.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        if ready.is_empty() {
            break;
        }
        for k in ready {
            remaining.remove(&k);
            for d in remaining.values_mut() {
                d.remove(&k);
            }
            order.push(k);
        }
    }
    (order, remaining.into_keys().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str, n: &str) -> (String, String) {
        (s.into(), n.into())
    }

    #[test]
    fn dependencies_come_first_and_cycles_are_found() {
        let mut deps = BTreeMap::new();
        deps.insert(key("gold", "a"), vec![key("gold", "b")]);
        deps.insert(key("gold", "b"), vec![]);
        deps.insert(key("gold", "x"), vec![key("gold", "y")]);
        deps.insert(key("gold", "y"), vec![key("gold", "x")]);
        let (order, cyclic) = topo_order(&deps);
        assert_eq!(order, vec![key("gold", "b"), key("gold", "a")]);
        assert_eq!(
            cyclic,
            [key("gold", "x"), key("gold", "y")].into_iter().collect()
        );
    }

    #[test]
    fn view_files_read_other_dialects_keywords_as_names() {
        let f = ViewFile {
            schema: "gold".into(),
            name: "top_titles".into(),
            path: "gold/top_titles.sql".into(),
            sql: "SELECT title AS top FROM silver.titles sample".into(),
            sha256: String::new(),
            meta: Default::default(),
            git: None,
        };
        assert!(parse_view(&f).is_ok(), "{:?}", parse_view(&f).err());
    }

    #[test]
    fn relations_skip_ctes() {
        let s = Parser::parse_sql(
            &PostgreSqlDialect {},
            "WITH t AS (SELECT * FROM silver.users) SELECT * FROM t JOIN gold.x ON true",
        )
        .unwrap()
        .remove(0);
        assert_eq!(
            relations(&s),
            vec![
                vec!["silver".to_string(), "users".to_string()],
                vec!["gold".into(), "x".into()]
            ]
        );
    }
}
