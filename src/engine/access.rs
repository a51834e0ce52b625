//! Per-session enforcement of a user's [`Access`]: the catalog a restricted session plans
//! against (unlisted objects are invisible, named ones are denied with 42501), row filters
//! injected above table scans (also inside views, which otherwise run with their definer's
//! rights), and the memory pool that bounds one session's query inside the global budget.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider};
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::memory_pool::{
    GreedyMemoryPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};
use datafusion::logical_expr::{Filter, LogicalPlan};
use datafusion::prelude::SessionContext;

use crate::auth::Access;
use crate::catalog::identity::{LakeTable, LakeView, Part};
use crate::catalog::travel::base_name;

/// A table the user may not read was named: 42501 at the wire.
#[derive(Debug, thiserror::Error)]
#[error("permission denied for {kind} {name}")]
pub struct PermissionDenied {
    pub kind: &'static str,
    pub name: String,
}

pub fn denied(kind: &'static str, name: String) -> DataFusionError {
    DataFusionError::External(Box::new(PermissionDenied { kind, name }))
}

/// The database catalog as one user sees it.
#[derive(Debug)]
pub struct AuthorizedCatalog {
    pub inner: Arc<dyn CatalogProvider>,
    pub access: Arc<Access>,
}

/// The rules of the session whose catalog list this is (`None`: an admin's, unrestricted).
pub fn session_access(
    list: &Arc<dyn datafusion::catalog::CatalogProviderList>,
    database: &str,
) -> Option<Arc<Access>> {
    let catalog = list.catalog(database)?;
    catalog
        .as_any()
        .downcast_ref::<AuthorizedCatalog>()
        .map(|c| c.access.clone())
}

/// Whether `access` reads all of `schema.table` as it is (no row filter, no mask): only then
/// may it see the table's row count and size.
pub fn sees_whole(access: Option<&Access>, schema: &str, table: &str) -> bool {
    access.is_none_or(|a| {
        a.can_read(schema, table)
            && a.row_filters(schema, table).is_empty()
            && a.column_masks(schema, table).is_empty()
    })
}

impl CatalogProvider for AuthorizedCatalog {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn schema_names(&self) -> Vec<String> {
        self.inner
            .schema_names()
            .into_iter()
            .filter(|s| self.access.can_see_schema(s))
            .collect()
    }
    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let inner = self.inner.schema(name)?;
        if matches!(name, "pg_catalog" | "information_schema") {
            return Some(inner);
        }
        Some(Arc::new(AuthorizedSchema {
            name: name.to_string(),
            inner,
            access: self.access.clone(),
        }))
    }
}

#[derive(Debug)]
struct AuthorizedSchema {
    name: String,
    inner: Arc<dyn SchemaProvider>,
    access: Arc<Access>,
}

#[async_trait]
impl SchemaProvider for AuthorizedSchema {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn table_names(&self) -> Vec<String> {
        self.inner
            .table_names()
            .into_iter()
            .filter(|t| self.access.can_read(&self.name, t))
            .collect()
    }
    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        // Earlier versions and metadata of a table are governed by the table's own grant.
        if self.access.can_read(&self.name, base_name(name)) {
            return self.inner.table(name).await;
        }
        // Refused on the base name, without opening anything: building `t@v9` or `t$history`
        // would replay the log of a table the user may not read, and its errors (no such
        // version, the earliest kept) would tell them of it.
        let base = base_name(name);
        if self.inner.table_exist(base) {
            let kind = match self.inner.table_type(base).await {
                Ok(Some(datafusion::datasource::TableType::View)) => "view",
                _ => "table",
            };
            return Err(denied(kind, format!("{}.{base}", self.name)));
        }
        Ok(None)
    }
    fn table_exist(&self, name: &str) -> bool {
        self.access.can_read(&self.name, base_name(name)) && self.inner.table_exist(name)
    }
}

/// Inlines the served views of a plan ([`LakeView`], recursively) and puts the user's row
/// filters and column masks above every scan and view they apply to, wherever it is in the
/// plan and however it was named: the rules are found by the identity the lake catalog gives
/// each provider, never by the name typed. Returns the plan and whether any rule applied.
pub fn apply_access(
    plan: LogicalPlan,
    access: &Access,
    ctx: &SessionContext,
) -> Result<(LogicalPlan, bool)> {
    let mut governed = false;
    let plan = restrict_plan(plan, access, ctx, &mut governed)?;
    Ok((plan, governed))
}

fn restrict_plan(
    plan: LogicalPlan,
    access: &Access,
    ctx: &SessionContext,
    governed: &mut bool,
) -> Result<LogicalPlan> {
    let rules = access.has_row_filters();
    plan.transform_up_with_subqueries(|node| {
        let LogicalPlan::TableScan(scan) = &node else {
            return Ok(Transformed::no(node));
        };
        let Ok(provider) = datafusion::datasource::source_as_provider(&scan.source) else {
            return Ok(Transformed::no(node));
        };
        if let Some(view) = LakeView::of(provider.as_ref()) {
            // A view over what the user may not read whole is all they see of it: their own
            // predicates stay above it (a barrier), as above a row filter.
            let shields = !access.admin && !reads_whole(view.plan(), access);
            // EXPLAIN would show what is behind the view (files, statistics, rows before its
            // WHERE).
            *governed |= shields;
            let inner = restrict_plan(view.plan().clone(), access, ctx, governed)?;
            let inlined = view
                .project(inner, scan.projection.as_ref())?
                .alias(scan.table_name.clone())?
                .build()?;
            let inlined = if shields {
                super::barrier::barrier(inlined)
            } else {
                inlined
            };
            if !rules {
                return Ok(Transformed::yes(inlined));
            }
            let predicates = access.row_filters(&view.schema, &view.name);
            let masks = access.column_masks(&view.schema, &view.name);
            *governed |= !predicates.is_empty() || !masks.is_empty();
            return restrict(inlined, &predicates, &masks, ctx).map(Transformed::yes);
        }
        if !rules {
            return Ok(Transformed::no(node));
        }
        let Some(table) = LakeTable::of(provider.as_ref()) else {
            return Ok(Transformed::no(node));
        };
        let predicates = access.row_filters(&table.schema, &table.table);
        let masks = access.column_masks(&table.schema, &table.table);
        if predicates.is_empty() && masks.is_empty() {
            return Ok(Transformed::no(node));
        }
        if table.part == Part::Metadata {
            // File statistics and commit details would show what the rules hide.
            return Err(denied(
                "the metadata of table",
                format!(
                    "{}.{} (row filters or column masks apply to it)",
                    table.schema, table.table
                ),
            ));
        }
        *governed = true;
        restrict(node, &predicates, &masks, ctx).map(Transformed::yes)
    })
    .map(|t| t.data)
}

/// `plan` filtered by `predicates` (ANDed), with masked columns computed from their
/// expressions (same names and types).
fn restrict(
    plan: LogicalPlan,
    predicates: &[&str],
    masks: &[(&str, &str)],
    ctx: &SessionContext,
) -> Result<LogicalPlan> {
    let df_schema: DFSchema = plan.schema().as_ref().clone();
    let mut plan = plan;
    let mut predicate = None;
    for sql in predicates {
        let e = ctx.parse_sql_expr(sql, &df_schema)?;
        predicate = Some(match predicate {
            None => e,
            Some(p) => datafusion::logical_expr::and(p, e),
        });
    }
    let filtered = predicate.is_some();
    if let Some(predicate) = predicate {
        plan = LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(plan))?);
    }
    if !masks.is_empty() {
        // A mask naming no column (a typo, a renamed column, `address.zip`) would leave the
        // value it meant to hide in clear: reads are refused until the role is fixed.
        if let Some((c, _)) = masks.iter().find(|(c, _)| {
            !df_schema
                .fields()
                .iter()
                .any(|f| f.name().eq_ignore_ascii_case(c))
        }) {
            return Err(denied(
                "a relation whose column mask names no column:",
                format!("`{c}` (fix the role's column_masks)"),
            ));
        }
        let mut exprs = Vec::new();
        for (qualifier, field) in df_schema.iter() {
            let column = datafusion::logical_expr::Expr::Column(datafusion::common::Column::new(
                qualifier.cloned(),
                field.name(),
            ));
            let mask = masks
                .iter()
                .find(|(c, _)| c.eq_ignore_ascii_case(field.name()));
            let e = match mask {
                Some((_, sql)) => {
                    let m = ctx.parse_sql_expr(sql, &df_schema)?;
                    datafusion::logical_expr::Expr::TryCast(datafusion::logical_expr::TryCast::new(
                        Box::new(m),
                        field.data_type().clone(),
                    ))
                    .alias_qualified(qualifier.cloned(), field.name())
                }
                None => column,
            };
            exprs.push(e);
        }
        plan = LogicalPlan::Projection(datafusion::logical_expr::Projection::try_new(
            exprs,
            Arc::new(plan),
        )?);
    }
    // The user's own predicates run on what the filter lets through, never before it.
    Ok(if filtered {
        super::barrier::barrier(plan)
    } else {
        plan
    })
}

/// Whether `access` reads whole every table and view `plan` scans directly (a view's own
/// inputs are judged when it is inlined).
fn reads_whole(plan: &LogicalPlan, access: &Access) -> bool {
    use datafusion::common::tree_node::TreeNodeRecursion;
    let mut whole = true;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(p) = datafusion::datasource::source_as_provider(&scan.source)
        {
            let named = LakeView::of(p.as_ref())
                .map(|v| (v.schema.clone(), v.name.clone()))
                .or_else(|| LakeTable::of(p.as_ref()).map(|t| (t.schema.clone(), t.table.clone())));
            if let Some((schema, table)) = named
                && !sees_whole(Some(access), &schema, &table)
            {
                whole = false;
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    whole
}

/// One session's memory pool: its own limit, inside the process-wide pool.
#[derive(Debug)]
pub struct QueryPool {
    global: Arc<dyn MemoryPool>,
    local: GreedyMemoryPool,
    limit: usize,
}

impl QueryPool {
    pub fn new(global: Arc<dyn MemoryPool>, limit: usize) -> QueryPool {
        QueryPool {
            global,
            local: GreedyMemoryPool::new(limit),
            limit,
        }
    }
}

impl MemoryPool for QueryPool {
    fn register(&self, consumer: &MemoryConsumer) {
        self.global.register(consumer);
        self.local.register(consumer);
    }
    fn unregister(&self, consumer: &MemoryConsumer) {
        self.global.unregister(consumer);
        self.local.unregister(consumer);
    }
    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.global.grow(reservation, additional);
        self.local.grow(reservation, additional);
    }
    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.global.shrink(reservation, shrink);
        self.local.shrink(reservation, shrink);
    }
    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        self.local.try_grow(reservation, additional).map_err(|_| {
            DataFusionError::ResourcesExhausted(format!(
                "query memory limit reached ({} bytes, limits.query_memory)",
                self.limit
            ))
        })?;
        if self.global.try_grow(reservation, additional).is_err() {
            self.local.shrink(reservation, additional);
            return Err(DataFusionError::ResourcesExhausted(
                "server memory budget reached (limits.memory); try again later".into(),
            ));
        }
        Ok(())
    }
    fn reserved(&self) -> usize {
        self.local.reserved()
    }
    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

/// `table_changes('zone.table', start [, end])`: the change data feed of a Delta table with
/// `delta.enableChangeDataFeed`, between versions (integers) or times (timestamp strings),
/// with Databricks' `_change_type`, `_commit_version` and `_commit_timestamp` columns. Bound to
/// one session: it reads only tables the user may read, and not those under row filters or
/// masks (the feed would bypass them).
#[derive(Debug)]
pub struct TableChanges {
    pub lake: Arc<crate::catalog::LakeCatalog>,
    pub access: Arc<Access>,
}

impl datafusion::catalog::TableFunctionImpl for TableChanges {
    fn call(&self, args: &[datafusion::prelude::Expr]) -> Result<Arc<dyn TableProvider>> {
        use datafusion::prelude::Expr;
        let usage = || {
            DataFusionError::Plan(
                "table_changes('zone.table', start [, end]): start and end are versions or timestamps"
                    .into(),
            )
        };
        let literal = |e: &Expr| match e {
            Expr::Literal(v, _) => Some(v.clone()),
            _ => None,
        };
        let name = match args.first().and_then(literal) {
            Some(ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s))) => s,
            _ => return Err(usage()),
        };
        let (zone, table) = name.split_once('.').ok_or_else(usage)?;
        if !self.access.can_read(zone, table) {
            return Err(denied("table", name.clone()));
        }
        if !self.access.row_filters(zone, table).is_empty()
            || !self.access.column_masks(zone, table).is_empty()
        {
            return Err(denied("the change feed of table", name.clone()));
        }
        let snapshot = self.lake.snapshot();
        let entry = snapshot
            .table(zone, table)
            .ok_or_else(|| DataFusionError::Plan(format!("table \"{name}\" does not exist")))?;
        let mut cdf = entry.delta().clone().scan_cdf();
        for (i, arg) in args.iter().enumerate().skip(1).take(2) {
            let bound = literal(arg).ok_or_else(usage)?;
            let version = match &bound {
                ScalarValue::Int64(Some(v)) => Some(*v),
                ScalarValue::Int32(Some(v)) => Some(i64::from(*v)),
                _ => None,
            };
            let text = match &bound {
                ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => Some(s.clone()),
                _ => None,
            };
            cdf = match (i, version, text) {
                (1, Some(v), _) => cdf.with_starting_version(v),
                (2, Some(v), _) => cdf.with_ending_version(v),
                (i, None, Some(t)) => {
                    let ts = crate::engine::time_travel::parse_timestamp(&t).ok_or_else(usage)?;
                    if i == 1 {
                        cdf.with_starting_timestamp(ts)
                    } else {
                        cdf.with_ending_timestamp(ts)
                    }
                }
                _ => return Err(usage()),
            };
        }
        if args.len() < 2 || args.len() > 3 {
            return Err(usage());
        }
        let provider = deltalake::delta_datafusion::DeltaCdfTableProvider::try_new(cdf)
            .map_err(|e| DataFusionError::Plan(format!("table_changes({name}): {e}")))?;
        Ok(Arc::new(provider))
    }
}
