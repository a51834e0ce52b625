//! The query engine: one shared DataFusion setup over the lake catalog, and a [`Session`] per
//! connection with its own settings.
//!
//! Statements are parsed once with the Postgres dialect (plus datafusion-pg-catalog's rewrites
//! for what psql and drivers send), then sorted into [`Command`]s. Only queries reach DataFusion,
//! and their plans are verified to contain no DDL, DML or statements, so nothing a client sends
//! can write to the lake or read a path the catalog did not register.

pub mod access;
pub mod activity;
mod barrier;
pub mod cancel;
mod checked;
mod coerce;
pub mod error;
pub mod format;
pub mod freshness;
pub mod information_schema;
mod names;
pub mod pg_catalog;
pub mod pg_types;
pub(crate) mod privileges;
pub mod result_cache;
pub mod run;
pub mod session;
pub mod settings;
pub mod time_travel;

use std::sync::{Arc, Mutex};

use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{ColumnarValue, LogicalPlan, Volatility, create_udf};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{self, Statement};
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use futures::StreamExt;

use crate::catalog::{LakeCatalog, LakeCatalogProvider, ViewMap, ViewSource};
pub use run::{Notice, Outcome, Prepared, Reply, Rows, Transaction};
pub use session::{Cursor, Session};
pub use settings::Settings;

/// Schema of lakegate's system tables (`lakegate.queries`, `lakegate.views`, ...).
pub use crate::config::SYSTEM_SCHEMA;

/// Postgres version lakegate speaks as; drivers parse `server_version` and `version()`.
pub const PG_VERSION: &str = "16.6";
pub const PG_VERSION_NUM: &str = "160006";

pub fn version_string() -> String {
    format!(
        "PostgreSQL {PG_VERSION} on {}-{}, lakegate {}",
        std::env::consts::ARCH,
        std::env::consts::OS,
        env!("CARGO_PKG_VERSION")
    )
}

pub use error::{EngineError, Result, SqlState};

/// What a client statement asks for.
#[derive(Debug, Clone)]
pub enum Command {
    Query(Box<Statement>),
    Set {
        name: String,
        value: Option<String>,
    },
    Show(String),
    ShowAll,
    Reset(Option<String>),
    Begin,
    Commit,
    Rollback,
    /// Accepted and ignored (SET TRANSACTION, savepoints in a read-only session, ...).
    Noop(&'static str),
    Discard,
    Deallocate(Option<String>),
    /// `DECLARE name CURSOR FOR query` (psqlODBC's UseDeclareFetch, psql's FETCH_COUNT).
    Declare {
        name: String,
        query: Box<Statement>,
        hold: bool,
    },
    /// `FETCH [FORWARD] n | ALL FROM name`; `None` is ALL.
    Fetch {
        name: String,
        count: Option<u64>,
    },
    /// `CLOSE name | ALL`
    Close(Option<String>),
    /// `COPY (query) TO STDOUT` and `COPY table [(columns)] TO STDOUT`: the query's rows in
    /// Postgres' COPY format, to the client (never to a server file).
    CopyOut {
        query: Box<Statement>,
        format: CopyFormat,
    },
    Refused(Refusal),
}

/// COPY's output format and options (Postgres' defaults per format).
#[derive(Debug, Clone, PartialEq)]
pub struct CopyFormat {
    pub kind: CopyKind,
    pub delimiter: char,
    pub null: String,
    pub header: bool,
    pub quote: char,
    pub escape: char,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyKind {
    Text,
    Csv,
    Binary,
}

impl CopyFormat {
    /// The format COPY's options ask for, or what of them is not supported.
    fn from_options(
        options: &[ast::CopyOption],
        legacy: &[ast::CopyLegacyOption],
    ) -> std::result::Result<CopyFormat, String> {
        use ast::{CopyLegacyCsvOption as L, CopyLegacyOption as Old, CopyOption as O};
        let mut kind = CopyKind::Text;
        let (mut delimiter, mut null, mut header, mut quote, mut escape) =
            (None, None, false, None, None);
        for o in options {
            match o {
                O::Format(f) => {
                    kind = match f.value.to_ascii_lowercase().as_str() {
                        "text" => CopyKind::Text,
                        "csv" => CopyKind::Csv,
                        "binary" => CopyKind::Binary,
                        other => return Err(format!("COPY format \"{other}\" not recognized")),
                    }
                }
                O::Delimiter(c) => delimiter = Some(*c),
                O::Null(n) => null = Some(n.clone()),
                O::Header(h) => header = *h,
                O::Quote(c) => quote = Some(*c),
                O::Escape(c) => escape = Some(*c),
                O::Freeze(_) => {}
                O::Encoding(e)
                    if e.eq_ignore_ascii_case("utf8") || e.eq_ignore_ascii_case("utf-8") => {}
                other => return Err(format!("COPY option {other}")),
            }
        }
        for o in legacy {
            match o {
                Old::Binary => kind = CopyKind::Binary,
                Old::Delimiter(c) => delimiter = Some(*c),
                Old::Null(n) => null = Some(n.clone()),
                Old::Csv(csv) => {
                    kind = CopyKind::Csv;
                    for c in csv {
                        match c {
                            L::Header => header = true,
                            L::Quote(q) => quote = Some(*q),
                            L::Escape(e) => escape = Some(*e),
                            other => return Err(format!("COPY option {other}")),
                        }
                    }
                }
                other => return Err(format!("COPY option {other}")),
            }
        }
        let csv = kind == CopyKind::Csv;
        let quote = quote.unwrap_or('"');
        Ok(CopyFormat {
            kind,
            delimiter: delimiter.unwrap_or(if csv { ',' } else { '\t' }),
            null: null.unwrap_or_else(|| if csv { String::new() } else { "\\N".into() }),
            header,
            quote,
            escape: escape.unwrap_or(quote),
        })
    }
}

#[derive(Debug, Clone)]
pub enum Refusal {
    ReadOnly(String),
    Forbidden(String),
    Unsupported(String),
}

impl Refusal {
    pub fn into_error(self) -> EngineError {
        match self {
            Refusal::ReadOnly(w) => EngineError::ReadOnly(w),
            Refusal::Forbidden(w) => EngineError::Forbidden(w),
            Refusal::Unsupported(w) => EngineError::Unsupported(w),
        }
    }
}

/// Shared by all connections; immutable after start (views are swapped in through `views`).
pub struct Engine {
    base: SessionContext,
    catalog: Arc<LakeCatalog>,
    views: ViewSource,
    /// Bumped on every view-set swap; part of [`Engine::generation`].
    views_version: std::sync::atomic::AtomicU64,
    system: Arc<datafusion::catalog::MemorySchemaProvider>,
    info: Arc<pg_catalog::ObjectInfo>,
    parser: PostgresCompatibilityParser,
    database: String,
    limits: crate::config::Limits,
    /// Process-wide memory budget every session's pool draws from.
    memory: Arc<dyn datafusion::execution::memory_pool::MemoryPool>,
    /// How old each relation's data is (filled by the server; read for notices).
    freshness: Arc<freshness::Board>,
    /// Results of repeated queries, while their inputs stand (set by the server).
    result_cache: std::sync::OnceLock<Arc<result_cache::ResultCache>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("database", &self.database)
            .finish()
    }
}

impl Engine {
    pub fn new(
        catalog: Arc<LakeCatalog>,
        database: &str,
        limits: &crate::config::Limits,
    ) -> Result<Arc<Engine>> {
        crate::storage::install_request_tracing();
        let config = SessionConfig::new()
            // Ours (Postgres column names and type names) is registered below.
            .with_information_schema(false)
            .with_default_catalog_and_schema(database, crate::catalog::PUBLIC_SCHEMA)
            .with_create_default_catalog_and_schema(false)
            // Spark writes timestamps as INT96; read them as microseconds so year-9999
            // sentinels survive (nanoseconds overflow past 2262).
            .set_str("datafusion.execution.parquet.coerce_int96", "us")
            // deltalake's workaround for a DataFusion 52 hash-join panic on dictionary keys,
            // which Delta partition columns are.
            .set_usize("datafusion.optimizer.hash_join_inlist_pushdown_max_size", 0)
            .set_usize(
                "datafusion.optimizer.hash_join_inlist_pushdown_max_distinct_values",
                0,
            );
        let mut rules = datafusion::optimizer::Analyzer::new().rules;
        rules.insert(0, Arc::new(coerce::UnknownLiterals));
        // After type coercion: the operand types are final.
        rules.push(Arc::new(checked::CheckedArithmetic));
        let state = datafusion::execution::SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .with_analyzer_rules(rules)
            .with_type_planner(Arc::new(coerce::PostgresTypes))
            .with_query_planner(Arc::new(barrier::AccessPlanner))
            .with_optimizer_rule(Arc::new(barrier::LeakproofThroughBarrier))
            .build();
        let ctx = SessionContext::new_with_state(state);
        let views: ViewSource = Arc::new(std::sync::RwLock::new(Arc::new(ViewMap::new())));
        let provider = LakeCatalogProvider::new(catalog.clone(), views.clone());
        let system = Arc::new(datafusion::catalog::MemorySchemaProvider::new());
        datafusion::catalog::CatalogProvider::register_schema(
            &provider,
            SYSTEM_SCHEMA,
            system.clone(),
        )?;
        let provider = Arc::new(provider);
        ctx.register_catalog(database, provider.clone());
        // Scans of a cloud lake resolve files through the runtime's registry (delta-rs keys its
        // own per table; DataFusion's pushdown paths ask for the bucket URL).
        // The bucket keeps the URL's user part: `abfss://container@account…` names its
        // container there (DataFusion's registry key drops it, which is fine for one lake).
        let root = catalog.root().url();
        if root.scheme() != "file"
            && let Ok(bucket) = url::Url::parse(&format!("{}/", &root[..url::Position::BeforePath]))
            && let Ok((store, _)) = crate::storage::store_for(&bucket, catalog.root().options())
        {
            ctx.register_object_store(&bucket, store);
        }
        datafusion_pg_catalog::setup_pg_catalog(&ctx, database, EmptyContextProvider)
            .map_err(|e| EngineError::DataFusion(*e))?;
        // Our own dynamic pg_catalog tables (stable OIDs, typmods, views) in front of the
        // crate's static ones.
        let info = Arc::new(pg_catalog::ObjectInfo::default());
        let inner = datafusion::catalog::CatalogProvider::schema(provider.as_ref(), "pg_catalog")
            .ok_or_else(|| EngineError::Unsupported("pg_catalog setup".into()))?;
        let list = ctx.state().catalog_list().clone();
        datafusion::catalog::CatalogProvider::register_schema(
            provider.as_ref(),
            "pg_catalog",
            Arc::new(pg_catalog::LakePgCatalog::new(
                inner,
                list,
                database,
                info.clone(),
                catalog.clone(),
            )),
        )?;
        datafusion::catalog::CatalogProvider::register_schema(
            provider.as_ref(),
            information_schema::NAME,
            Arc::new(information_schema::InformationSchema::new(
                ctx.state().catalog_list().clone(),
                database,
                info.clone(),
            )),
        )?;
        for udf in pg_catalog::description_udfs(info.clone(), None)
            .into_iter()
            .chain(pg_catalog::size_udfs(catalog.clone(), None, None))
            .chain([
                pg_catalog::to_regtype_udf(),
                pg_catalog::regclass_udf(),
                pg_catalog::regproc_udf(),
                pg_catalog::regnamespace_udf(),
                pg_catalog::like_escape_udf(),
                pg_catalog::pg_sleep_udf(),
            ])
            .chain(pg_catalog::misc_udfs())
            .chain(pg_catalog::array_bound_udfs())
            .chain(format::udfs())
        {
            ctx.register_udf(udf);
        }
        let board = Arc::new(freshness::Board::default());
        datafusion::catalog::SchemaProvider::register_table(
            system.as_ref(),
            "freshness".into(),
            Arc::new(pg_catalog::Computed(freshness::FreshnessTable {
                board: board.clone(),
                database: database.to_string(),
                list: ctx.state().catalog_list().clone(),
            })),
        )?;
        ctx.register_udf(constant_udf("version", version_string()));
        ctx.register_udf(constant_udf("current_database", database.to_string()));
        ctx.register_udf(constant_udf("current_catalog", database.to_string()));
        // Tests of the panic guard need a panic on demand; never registered otherwise.
        if std::env::var("LAKEGATE_FAULT_INJECTION").as_deref() == Ok("panic") {
            ctx.register_udf(create_udf(
                "lakegate_panic",
                vec![],
                DataType::Utf8,
                Volatility::Volatile,
                Arc::new(|_| panic!("lakegate_panic() called (LAKEGATE_FAULT_INJECTION=panic)")),
            ));
        }
        Ok(Arc::new(Engine {
            base: ctx,
            catalog,
            views,
            views_version: std::sync::atomic::AtomicU64::new(0),
            system,
            info,
            parser: PostgresCompatibilityParser::new(),
            database: database.to_string(),
            limits: limits.clone(),
            memory: Arc::new(datafusion::execution::memory_pool::GreedyMemoryPool::new(
                usize::try_from(limits.memory).unwrap_or(usize::MAX),
            )),
            freshness: board,
            result_cache: std::sync::OnceLock::new(),
        }))
    }

    /// Keeps up to `bytes` of query results (`cache.results`; 0 keeps none), and serves
    /// `lakegate.result_cache`.
    pub fn enable_result_cache(&self, bytes: u64) {
        if bytes == 0 {
            return;
        }
        let cache = self
            .result_cache
            .get_or_init(|| Arc::new(result_cache::ResultCache::new(bytes)))
            .clone();
        let _ = datafusion::catalog::SchemaProvider::register_table(
            self.system.as_ref(),
            "result_cache".into(),
            Arc::new(pg_catalog::Computed(result_cache::CacheTable(cache))),
        );
    }

    pub fn result_cache(&self) -> Option<&Arc<result_cache::ResultCache>> {
        self.result_cache.get()
    }

    pub fn freshness(&self) -> &Arc<freshness::Board> {
        &self.freshness
    }

    pub fn catalog(&self) -> &Arc<LakeCatalog> {
        &self.catalog
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    /// Changes whenever what a plan can reference changes (lake tables or the view set), so a
    /// plan made at Parse can be reused at Execute while it is unchanged.
    pub fn generation(&self) -> (u64, u64) {
        let views = self
            .views_version
            .load(std::sync::atomic::Ordering::Acquire);
        (*self.catalog.subscribe().borrow(), views)
    }

    /// Swaps in a new view set (the views layer's only way to publish one).
    pub fn publish_views(&self, map: Arc<ViewMap>) {
        *self.views.write().expect("views lock") = map;
        self.views_version
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// The views every session sees; the views layer swaps new sets in.
    pub fn views_source(&self) -> &ViewSource {
        &self.views
    }

    /// Descriptions and view definitions shown through pg_catalog.
    pub fn object_info(&self) -> &Arc<pg_catalog::ObjectInfo> {
        &self.info
    }

    /// The `lakegate` schema of system tables.
    pub fn system_schema(&self) -> Arc<datafusion::catalog::MemorySchemaProvider> {
        self.system.clone()
    }

    /// A context that sees the lake plus `views` (a set being built), for planning views.
    pub fn planning_context(&self, views: ViewSource) -> SessionContext {
        use datafusion::catalog::{CatalogProviderList, MemoryCatalogProviderList};
        let list = MemoryCatalogProviderList::new();
        list.register_catalog(
            self.database.clone(),
            Arc::new(LakeCatalogProvider::new(self.catalog.clone(), views)),
        );
        let state =
            datafusion::execution::SessionStateBuilder::new_from_existing(self.base.state())
                .with_catalog_list(Arc::new(list))
                .build();
        SessionContext::new_with_state(state)
    }

    /// The server's limits (statement size, timeout, memory).
    pub fn limits(&self) -> &crate::config::Limits {
        &self.limits
    }

    /// A session for one connection: shares catalogs and functions, owns its settings, sees
    /// what `access` allows, and draws query memory from its own pool inside the global one.
    pub fn new_session(self: &Arc<Self>, user: &str, access: crate::auth::Access) -> Session {
        use datafusion::catalog::{CatalogProviderList, MemoryCatalogProviderList};
        let access = Arc::new(access);
        let base = self.base.state();
        // Shares the base runtime's caches (Parquet footers and page indexes: data files are
        // immutable), disk manager and object stores; only the memory pool is the session's.
        let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::from_runtime_env(
            base.runtime_env(),
        )
        .with_memory_pool(Arc::new(access::QueryPool::new(
            self.memory.clone(),
            usize::try_from(self.limits.query_memory).unwrap_or(usize::MAX),
        )))
        .build_arc();
        let config = base.config().clone().with_extension(access.clone());
        let mut builder =
            datafusion::execution::SessionStateBuilder::new_from_existing(base.clone())
                .with_config(config);
        match runtime {
            Ok(rt) => builder = builder.with_runtime_env(rt),
            Err(e) => tracing::warn!(error = %e, "session runtime without its own memory pool"),
        }
        if !access.admin
            && let Some(catalog) = base.catalog_list().catalog(&self.database)
        {
            let list = MemoryCatalogProviderList::new();
            list.register_catalog(
                self.database.clone(),
                Arc::new(access::AuthorizedCatalog {
                    inner: catalog,
                    access: access.clone(),
                }),
            );
            builder = builder.with_catalog_list(Arc::new(list));
        }
        let ctx = SessionContext::new_with_state(builder.build());
        ctx.register_udf(constant_udf("session_user", user.to_string()));
        ctx.register_udf(constant_udf("current_user", user.to_string()));
        let settings = Arc::new(Mutex::new(Settings::new(user)));
        ctx.register_udf(current_setting_udf(settings.clone()));
        ctx.register_udf(set_config_udf(settings.clone()));
        let privileges = privileges::Privileges::new(
            access.clone(),
            user,
            settings.clone(),
            ctx.state().catalog_list().clone(),
            &self.database,
        );
        for udf in privileges.udfs() {
            ctx.register_udf(udf);
        }
        // Sizes: only what this user reads whole, a name resolved as `has_table_privilege`
        // resolves it (this session's relations and search_path, quotes honoured).
        for udf in pg_catalog::size_udfs(
            self.catalog.clone(),
            (!access.admin).then(|| access.clone()),
            Some(privileges.clone()),
        ) {
            ctx.register_udf(udf);
        }
        if !access.admin {
            // Definitions and comments of objects this user may not read are not theirs.
            for udf in pg_catalog::description_udfs(self.info.clone(), Some(access.clone())) {
                ctx.register_udf(udf);
            }
        }
        ctx.register_udtf(
            "table_changes",
            Arc::new(access::TableChanges {
                lake: self.catalog.clone(),
                access: access.clone(),
            }),
        );
        Session {
            engine: self.clone(),
            ctx,
            settings,
            access,
            cursors: tokio::sync::Mutex::new(std::collections::HashMap::new()),
            explain_requests: Mutex::new(None),
            applied_search_path: Mutex::new(None),
            tuned: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

/// `current_setting(name [, missing_ok])` reading this session's settings.
fn current_setting_udf(settings: Arc<Mutex<Settings>>) -> datafusion::logical_expr::ScalarUDF {
    use datafusion::logical_expr::{Signature, SimpleScalarUDF, TypeSignature};
    let signature = Signature::one_of(
        vec![
            TypeSignature::Exact(vec![DataType::Utf8]),
            TypeSignature::Exact(vec![DataType::Utf8, DataType::Boolean]),
        ],
        Volatility::Stable,
    );
    let fun = Arc::new(
        move |args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
            let name = match &args[0] {
                ColumnarValue::Scalar(ScalarValue::Utf8(Some(n))) => n.to_ascii_lowercase(),
                _ => {
                    return Err(DataFusionError::NotImplemented(
                        "current_setting with a non-constant name".into(),
                    ));
                }
            };
            let missing_ok = matches!(
                args.get(1),
                Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
            );
            match settings.lock().expect("settings lock").get(&name) {
                Ok(v) => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(v)))),
                Err(_) if missing_ok => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None))),
                Err(_) => Err(DataFusionError::Plan(format!(
                    "unrecognized configuration parameter \"{name}\""
                ))),
            }
        },
    );
    datafusion::logical_expr::ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        "current_setting",
        signature,
        DataType::Utf8,
        fun,
    ))
}

/// `set_config(name, value, is_local)`: sets this session's parameter as `SET` does and returns
/// the new value (asyncpg, pg_dump's `set_config('search_path', '', false)`, row-security
/// patterns with custom `app.*` parameters). `is_local` is taken as `SET LOCAL` is: for the
/// session. `datafusion.*` engine options stay with `SET`, where they are checked per user.
fn set_config_udf(settings: Arc<Mutex<Settings>>) -> datafusion::logical_expr::ScalarUDF {
    use datafusion::logical_expr::{Signature, SimpleScalarUDF, TypeSignature};
    let signature = Signature::one_of(
        vec![TypeSignature::Exact(vec![
            DataType::Utf8,
            DataType::Utf8,
            DataType::Boolean,
        ])],
        Volatility::Volatile,
    );
    let fun = Arc::new(
        move |args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
            let (
                ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))),
                ColumnarValue::Scalar(value),
            ) = (&args[0], &args[1])
            else {
                return Err(DataFusionError::NotImplemented(
                    "set_config with a non-constant name or value".into(),
                ));
            };
            let lower = name.to_ascii_lowercase();
            if lower.starts_with("datafusion.") {
                return Err(crate::engine::access::denied("parameter", name.clone()));
            }
            let value = match value {
                ScalarValue::Utf8(v) => v.clone(),
                _ => None,
            };
            let mut s = settings.lock().expect("settings lock");
            s.set(&lower, value.as_deref())
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            let now = s
                .get(&lower)
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(now))))
        },
    );
    datafusion::logical_expr::ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        "set_config",
        signature,
        DataType::Utf8,
        fun,
    ))
}

/// Postgres output names for unaliased select items (see `names`).
pub fn names_apply(statement: &mut Statement) {
    names::rewrite(statement, false, false)
}

fn constant_udf(name: &str, value: String) -> datafusion::logical_expr::ScalarUDF {
    create_udf(
        name,
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                value.clone(),
            ))))
        }),
    )
}

/// How deep subquery expressions may nest. DataFusion 52 checks subquery invariants in time exponential in
/// the depth (20 levels: ~40 s of planning in a debug build, CPU the statement timeout cannot
/// preempt); PostgreSQL has no such limit, and BI queries nest a few levels.
pub const MAX_SUBQUERY_DEPTH: usize = 16;

/// Whether the text has two `select`s (so perhaps a subquery): checked on every query, without
/// a lowercase copy.
fn may_have_subquery(sql: &str) -> bool {
    sql.as_bytes()
        .windows(6)
        .filter(|w| w.eq_ignore_ascii_case(b"select"))
        .nth(1)
        .is_some()
}

/// Statements keep their select-list subqueries: the compatibility parser's rewrite would make
/// a correlated one NULL (see `names::protect_projection_subqueries`), a wrong answer for lake
/// tables, and for a catalog query one DataFusion may well answer (it is made NULL later only
/// when DataFusion cannot decorrelate it, keeping its name; see `Session::plan`). Such
/// statements are taken from a plain Postgres parse, protected, then given the compatibility
/// rewrites.
fn keep_projection_subqueries(
    parser: &PostgresCompatibilityParser,
    sql: &str,
    statements: &mut [Statement],
) {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    let Ok(plain) = Parser::parse_sql(&PostgreSqlDialect {}, sql) else {
        return;
    };
    if plain.len() != statements.len() {
        return;
    }
    for (statement, mut original) in statements.iter_mut().zip(plain) {
        if names::protect_projection_subqueries(&mut original) {
            *statement = parser.rewrite(original);
        }
    }
}

/// Refuses plans that could write or reach outside the catalog, whatever the statement text.
fn verify_read_only(plan: &LogicalPlan) -> Result<()> {
    use datafusion::logical_expr::DdlStatement;
    match plan {
        LogicalPlan::Ddl(d) => {
            let what = match d {
                DdlStatement::CreateExternalTable(_) => "CREATE EXTERNAL TABLE",
                _ => "DDL",
            };
            Err(EngineError::ReadOnly(what.into()))
        }
        LogicalPlan::Dml(d) => Err(EngineError::ReadOnly(d.op.to_string())),
        LogicalPlan::Copy(_) => Err(EngineError::Forbidden("COPY to a file".into())),
        LogicalPlan::Statement(_) => Err(EngineError::Unsupported("this statement".into())),
        LogicalPlan::Explain(e) => verify_read_only(&e.plan),
        LogicalPlan::Analyze(a) => verify_read_only(&a.input),
        _ => Ok(()),
    }
}

/// `re` replaced in `sql`, borrowing `sql` as it came when nothing matched.
fn replaced<'a>(
    sql: std::borrow::Cow<'a, str>,
    re: &regex::Regex,
    with: impl regex::Replacer,
) -> std::borrow::Cow<'a, str> {
    match re.replace_all(&sql, with) {
        std::borrow::Cow::Borrowed(_) => sql,
        std::borrow::Cow::Owned(o) => std::borrow::Cow::Owned(o),
    }
}

/// `'pg_class'::regclass` → `lakegate_regclass('pg_class')`, before datafusion-pg-catalog's
/// rewrites drop the cast and leave a string where drivers (pgjdbc, SQLAlchemy) compare an OID.
fn regclass_literals(sql: &str) -> std::borrow::Cow<'_, str> {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(
            r"(?i)'((?:[^']|'')*)'\s*::\s*(?:pg_catalog\s*\.\s*)?(regclass|regprocedure|regproc|regtype|regnamespace)\b",
        )
        .expect("valid regex")
    });
    static OID: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let oid = OID.get_or_init(|| {
        regex::Regex::new(r"(?i)('(?:[^']|'')*')\s*::\s*(?:pg_catalog\s*\.\s*)?oid\b([^\[]|$)")
            .expect("valid regex")
    });
    // Checked on every query: no lowercase copy of the text (`::reg…`, `pg_catalog.reg…`,
    // `::oid`).
    let has = |word: &[u8]| {
        sql.as_bytes().windows(word.len() + 1).any(|w| {
            matches!(w[0], b':' | b'.' | b' ' | b'\n' | b'\t') && w[1..].eq_ignore_ascii_case(word)
        })
    };
    // `'23'::oid` would lose its cast to the compatibility parser and stay text (psql's
    // `\gdesc` passes such OIDs to format_type): the quoted type name survives it, and
    // coerce::PostgresTypes plans `"oid"` as oid.
    let mut sql = std::borrow::Cow::Borrowed(sql);
    if has(b"oid") {
        sql = replaced(sql, oid, "$1::\"oid\"$2");
    }
    if !has(b"reg") {
        return sql;
    }
    // `elemtype::regtype::text` prints the type's name in Postgres (`bigint`, `bigint[]`, `-`
    // for 0; asyncpg's introspection reads it), where the dropped cast would print `20`.
    static NAME: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let name = NAME.get_or_init(|| {
        regex::Regex::new(
            r"(?i)\b([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)?|[0-9]+)\s*::\s*(?:pg_catalog\s*\.\s*)?regtype\s*::\s*(?:pg_catalog\s*\.\s*)?text\b",
        )
        .expect("valid regex")
    });
    let sql = replaced(sql, name, "lakegate_regtype_name($1)");
    // The compatibility parser drops these casts (leaving a name where an OID is meant):
    // resolve the literal before it sees them.
    // `CAST('pg_class' AS REGCLASS)`, as SQLAlchemy writes it, the same way.
    static CAST: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let cast = CAST.get_or_init(|| {
        regex::Regex::new(
            r"(?i)\bCAST\s*\(\s*'((?:[^']|'')*)'\s+AS\s+(?:pg_catalog\s*\.\s*)?(regclass|regprocedure|regproc|regtype|regnamespace)\s*\)",
        )
        .expect("valid regex")
    });
    let sql = replaced(sql, cast, "'$1'::$2");
    replaced(sql, re, |c: &regex::Captures| {
        let function = match c[2].to_ascii_lowercase().as_str() {
            "regclass" => "lakegate_regclass",
            "regproc" | "regprocedure" => "lakegate_regproc",
            "regtype" => "to_regtype",
            _ => "lakegate_regnamespace",
        };
        format!("{function}('{}')", &c[1])
    })
}

/// Words the SQL parser reads as keywords of other dialects (T-SQL's `TOP`, Snowflake's
/// `QUALIFY` and `SAMPLE`, ClickHouse's `PREWHERE` and `SETTINGS`, Hive's `SORT BY`, Oracle's
/// `CONNECT BY` and `MINUS`, …) even with the Postgres dialect, where they are not keywords at
/// all (`pg_get_keywords()` of PostgreSQL 15 lists none of them): `select top from t` failed
/// with "Expected: literal int". Found by trying each of sqlparser's keywords that Postgres
/// does not have as a column, a qualified column, an alias and a table alias against
/// PostgreSQL 15 and lakegate (tested in `tests::foreign_keywords_are_identifiers` and over the
/// wire in `tests/slt/bi_tools.slt`, answers from PostgreSQL 15). `format` stays out: Postgres
/// 16 made it a keyword and it names options (`EXPLAIN (FORMAT ...)`, `COPY ... (FORMAT ...)`).
const FOREIGN_KEYWORDS: &[&str] = &[
    "anti",
    "asof",
    "connect",
    "distribute",
    "match_condition",
    "match_recognize",
    "minus",
    "open",
    "pivot",
    "prewhere",
    "qualify",
    "sample",
    "semi",
    "settings",
    "sort",
    "top",
    "unpivot",
];

/// Each unquoted `FOREIGN_KEYWORDS` word quoted as the identifier Postgres reads it as (folded to
/// lower case), so the parser cannot take it for another dialect's keyword.
pub fn foreign_keywords(sql: &str) -> std::borrow::Cow<'_, str> {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(&format!(r"(?i)\b(?:{})\b", FOREIGN_KEYWORDS.join("|")))
            .expect("valid regex")
    });
    if !re.is_match(sql) {
        return std::borrow::Cow::Borrowed(sql);
    }
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize_with_location() else {
        return std::borrow::Cow::Borrowed(sql);
    };
    // Byte offsets of each line start, to turn the tokenizer's (line, column) into offsets.
    let mut lines = vec![0];
    lines.extend(sql.match_indices('\n').map(|(i, _)| i + 1));
    let offset = |line: u64, column: u64| -> Option<usize> {
        let start = *lines.get((line as usize).checked_sub(1)?)?;
        let chars = (column as usize).checked_sub(1)?;
        sql[start..]
            .char_indices()
            .nth(chars)
            .map(|(i, _)| start + i)
            .or(Some(sql.len()))
    };
    let mut out = String::with_capacity(sql.len() + 8);
    let mut done = 0;
    for t in &tokens {
        let Token::Word(w) = &t.token else { continue };
        if w.quote_style.is_some() {
            continue;
        }
        let lower = w.value.to_ascii_lowercase();
        if !FOREIGN_KEYWORDS.contains(&lower.as_str()) {
            continue;
        }
        let (Some(start), Some(end)) = (
            offset(t.span.start.line, t.span.start.column),
            offset(t.span.end.line, t.span.end.column),
        ) else {
            return std::borrow::Cow::Borrowed(sql);
        };
        if start < done || !sql[start..end].eq_ignore_ascii_case(&lower) {
            return std::borrow::Cow::Borrowed(sql);
        }
        out.push_str(&sql[done..start]);
        out.push('"');
        out.push_str(&lower);
        out.push('"');
        done = end;
    }
    if done == 0 {
        return std::borrow::Cow::Borrowed(sql);
    }
    out.push_str(&sql[done..]);
    std::borrow::Cow::Owned(out)
}

fn located_parse_error(sql: &str) -> Option<EngineError> {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .err()
        .map(EngineError::Syntax)
}

fn leading_write_keyword(sql: &str) -> Option<String> {
    let text: String = sql
        .lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ");
    let mut words = text.split_whitespace().map(|w| w.to_ascii_uppercase());
    let first = words.next()?;
    const WRITES: &[&str] = &[
        "CREATE", "DROP", "ALTER", "INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE", "GRANT",
        "REVOKE", "VACUUM", "OPTIMIZE", "COMMENT", "REFRESH", "CLUSTER", "REINDEX",
    ];
    if !WRITES.contains(&first.as_str()) {
        return None;
    }
    Some(match (first.as_str(), words.next()) {
        ("CREATE" | "DROP" | "ALTER", Some(second)) => format!("{first} {second}"),
        _ => first,
    })
}

fn parse_reset(sql: &str) -> Option<Command> {
    let t = sql.trim().trim_end_matches(';').trim();
    let mut words = t.split_whitespace();
    if !words.next()?.eq_ignore_ascii_case("reset") {
        return None;
    }
    let name = words.next()?;
    if words.next().is_some() {
        return None;
    }
    Some(if name.eq_ignore_ascii_case("all") {
        Command::Reset(None)
    } else {
        Command::Reset(Some(name.trim_matches('"').to_string()))
    })
}

/// Text of a SET value as Postgres would store it.
fn set_value_text(values: &[ast::Expr]) -> Option<String> {
    let parts: Vec<String> = values
        .iter()
        .map(|v| match v {
            ast::Expr::Value(v) => match &v.value {
                ast::Value::SingleQuotedString(s) | ast::Value::DoubleQuotedString(s) => s.clone(),
                other => other.to_string(),
            },
            ast::Expr::Identifier(i) => i.value.clone(),
            other => other.to_string(),
        })
        .collect();
    if parts.len() == 1 && parts[0].eq_ignore_ascii_case("default") {
        return None;
    }
    Some(parts.join(", "))
}

fn statement_kind(s: &Statement) -> String {
    let text = s.to_string();
    let mut words = text.split_whitespace();
    let first = words.next().unwrap_or("statement").to_ascii_uppercase();
    match first.as_str() {
        "CREATE" | "DROP" | "ALTER" | "TRUNCATE" => {
            let second = words.next().unwrap_or("").to_ascii_uppercase();
            format!("{first} {second}").trim().to_string()
        }
        _ => first,
    }
}

pub fn classify(statement: Statement) -> Command {
    use ast::Set;
    match statement {
        Statement::Query(_) => Command::Query(Box::new(statement)),
        Statement::Explain { .. } => Command::Query(Box::new(statement)),
        Statement::Set(Set::SingleAssignment {
            variable, values, ..
        }) => Command::Set {
            name: variable.to_string(),
            value: set_value_text(&values),
        },
        Statement::Set(Set::SetTimeZone { value, .. }) => Command::Set {
            name: "timezone".into(),
            value: set_value_text(std::slice::from_ref(&value)),
        },
        Statement::Set(Set::SetNames { charset_name, .. }) => Command::Set {
            name: "client_encoding".into(),
            value: Some(charset_name.value),
        },
        Statement::Set(Set::SetTransaction { .. }) => Command::Noop("SET"),
        Statement::Set(Set::SetRole { .. }) => {
            Command::Refused(Refusal::Unsupported("SET ROLE".into()))
        }
        Statement::Set(_) => Command::Refused(Refusal::Unsupported("this form of SET".into())),
        Statement::ShowVariable { variable } => {
            let words: Vec<String> = variable.iter().map(|i| i.value.clone()).collect();
            // `SHOW TIME ZONE` arrives as words, `SHOW datafusion.x.y` as dotted parts.
            let spaced = words.join(" ");
            let name = match spaced.to_ascii_lowercase().as_str() {
                "time zone" | "transaction isolation level" | "session authorization" => spaced,
                _ => words.join("."),
            };
            if name.eq_ignore_ascii_case("all") {
                Command::ShowAll
            } else {
                Command::Show(name)
            }
        }
        Statement::StartTransaction { .. } => Command::Begin,
        Statement::Commit { .. } => Command::Commit,
        Statement::Rollback {
            savepoint: Some(_), ..
        } => Command::Noop("ROLLBACK"),
        Statement::Rollback { .. } => Command::Rollback,
        Statement::Savepoint { .. } => Command::Noop("SAVEPOINT"),
        Statement::ReleaseSavepoint { .. } => Command::Noop("RELEASE"),
        Statement::Discard { .. } => Command::Discard,
        Statement::Deallocate { name, .. } => {
            let n = name.value;
            Command::Deallocate((!n.eq_ignore_ascii_case("all")).then_some(n))
        }
        Statement::Declare { mut stmts } if stmts.len() == 1 && stmts[0].for_query.is_some() => {
            let d = stmts.remove(0);
            match (d.names.first(), d.for_query) {
                (Some(name), Some(q)) => Command::Declare {
                    name: name.value.clone(),
                    query: Box::new(Statement::Query(q)),
                    hold: d.hold == Some(true),
                },
                _ => Command::Refused(Refusal::Unsupported("this DECLARE".into())),
            }
        }
        Statement::Fetch {
            name, direction, ..
        } => {
            use ast::FetchDirection as D;
            let n = |v: &ast::Value| v.to_string().parse::<u64>().ok();
            let count = match &direction {
                D::Count { limit } => n(limit),
                D::Next | D::Forward { limit: None } => Some(1),
                D::Forward { limit: Some(l) } => n(l),
                D::All | D::ForwardAll => None,
                _ => {
                    return Command::Refused(Refusal::Unsupported(
                        "FETCH other than forward (cursors are NO SCROLL)".into(),
                    ));
                }
            };
            Command::Fetch {
                name: name.value,
                count,
            }
        }
        Statement::Close { cursor } => Command::Close(match cursor {
            ast::CloseCursor::All => None,
            ast::CloseCursor::Specific { name } => Some(name.value),
        }),
        Statement::Copy { to: false, .. } => {
            Command::Refused(Refusal::ReadOnly("COPY FROM".into()))
        }
        Statement::Copy {
            to: true,
            target: ast::CopyTarget::Stdout,
            source,
            options,
            legacy_options,
            ..
        } => {
            let format = match CopyFormat::from_options(&options, &legacy_options) {
                Ok(f) => f,
                Err(what) => return Command::Refused(Refusal::Unsupported(what)),
            };
            let query = match source {
                ast::CopySource::Query(q) => Statement::Query(q),
                ast::CopySource::Table {
                    table_name,
                    columns,
                } => {
                    // `COPY t (a, b) TO STDOUT` is `COPY (SELECT a, b FROM t) TO STDOUT`.
                    let columns = if columns.is_empty() {
                        "*".to_string()
                    } else {
                        columns
                            .iter()
                            .map(|c| c.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    let sql = format!("SELECT {columns} FROM {table_name}");
                    match datafusion::sql::sqlparser::parser::Parser::parse_sql(
                        &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
                        &sql,
                    ) {
                        Ok(mut s) if s.len() == 1 => s.remove(0),
                        _ => {
                            return Command::Refused(Refusal::Unsupported(format!(
                                "COPY of {table_name}"
                            )));
                        }
                    }
                }
            };
            Command::CopyOut {
                query: Box::new(query),
                format,
            }
        }
        Statement::Copy { to: true, .. } => {
            Command::Refused(Refusal::Forbidden("COPY to a file or program".into()))
        }
        other => Command::Refused(Refusal::ReadOnly(statement_kind(&other))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn oid_and_regtype_casts_survive_the_compatibility_parser() {
        use super::regclass_literals as r;
        assert_eq!(
            r("SELECT '23'::oid, '1'::pg_catalog.oid"),
            "SELECT '23'::\"oid\", '1'::\"oid\""
        );
        assert_eq!(
            r("SELECT '{1}'::oid[], x::oid"),
            "SELECT '{1}'::oid[], x::oid"
        );
        assert_eq!(
            r("SELECT t.typelem::regtype::text, 'int4'::regtype"),
            "SELECT lakegate_regtype_name(t.typelem), to_regtype('int4')"
        );
        assert_eq!(
            r("SELECT 1 WHERE classoid = CAST('pg_catalog.pg_class' AS REGCLASS)"),
            "SELECT 1 WHERE classoid = lakegate_regclass('pg_catalog.pg_class')"
        );
    }

    #[test]
    fn foreign_keywords_are_identifiers() {
        use super::foreign_keywords;
        assert_eq!(
            foreign_keywords("select top, t.Sample from t qualify\nwhere \"top\" = 'top' -- top"),
            "select \"top\", t.\"sample\" from t \"qualify\"\nwhere \"top\" = 'top' -- top"
        );
        assert_eq!(
            foreign_keywords("SELECT é, TOP FROM x"),
            "SELECT é, \"top\" FROM x"
        );
        // Nothing to do: the text is returned as it is.
        assert!(matches!(
            foreign_keywords("select topic, stop from t"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    use super::*;

    fn cmd(sql: &str) -> Command {
        let p = PostgresCompatibilityParser::new();
        classify(p.parse(sql).unwrap().remove(0))
    }

    #[test]
    fn writes_are_refused() {
        for sql in [
            "INSERT INTO t VALUES (1)",
            "DELETE FROM t",
            "CREATE TABLE t (a int)",
            "DROP TABLE t",
            "UPDATE t SET a = 1",
        ] {
            assert!(
                matches!(cmd(sql), Command::Refused(Refusal::ReadOnly(_))),
                "{sql}"
            );
        }
        assert!(matches!(
            cmd("COPY t TO '/tmp/x'"),
            Command::Refused(Refusal::Forbidden(_))
        ));
    }

    #[test]
    fn session_commands_are_recognised() {
        assert!(matches!(cmd("SET search_path = gold, silver"),
            Command::Set { ref name, value: Some(ref v) } if name == "search_path" && v == "gold, silver"));
        assert!(
            matches!(cmd("SET TIME ZONE 'UTC'"), Command::Set { ref name, .. } if name == "timezone")
        );
        assert!(matches!(cmd("SHOW search_path"), Command::Show(ref n) if n == "search_path"));
        assert!(matches!(cmd("BEGIN"), Command::Begin));
        assert!(matches!(cmd("COMMIT"), Command::Commit));
        assert!(matches!(
            parse_reset("RESET ALL;"),
            Some(Command::Reset(None))
        ));
        assert!(matches!(
            parse_reset("reset search_path"),
            Some(Command::Reset(Some(_)))
        ));
    }
}
