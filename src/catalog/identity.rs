//! Which lake table a scan reads, carried by the provider itself.
//!
//! Access rules (row filters, column masks) must attach to the table a plan reads, whatever
//! name the user typed: unqualified under any `search_path`, quoted, time travel, inside a
//! view that resolved its names in its own schema. So every table the lake catalog hands out
//! is wrapped in a [`LakeTable`] that knows its schema, base table and what part of the table
//! it serves (rows, or metadata such as `$files`); the engine looks for it on each `TableScan`
//! after planning. Views are [`LakeView`]s, which the engine inlines itself after planning, so
//! the tables (and views) inside them are found the same way.

use std::any::Any;
use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{SchemaProvider, Session};
use datafusion::common::{Constraints, Statistics};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use super::travel::{self, TableRef};

/// What part of a table a provider serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Its rows, current or at an earlier version.
    Rows,
    /// Its metadata (`$history`, `$files`, `$partitions`, ...): file statistics and commit
    /// details can reveal values a row filter or mask hides.
    Metadata,
}

/// A lake table provider with the identity of the table it reads.
#[derive(Debug)]
pub struct LakeTable {
    pub schema: String,
    /// The base table (`orders` for `orders@v3` and `orders$files`).
    pub table: String,
    pub part: Part,
    /// Which table at which version it reads (Delta table id, version, commit time), when it
    /// is a current lake table: what the result cache keys on. `None` for time travel,
    /// metadata and Iceberg tables.
    pub revision: Option<Arc<str>>,
    inner: Arc<dyn TableProvider>,
}

impl LakeTable {
    /// Wraps `provider`, served as `schema.name`; views and already wrapped providers are
    /// returned unchanged.
    pub fn wrap(
        schema: &str,
        name: &str,
        provider: Arc<dyn TableProvider>,
    ) -> Arc<dyn TableProvider> {
        if provider.get_logical_plan().is_some()
            || provider.as_any().is::<LakeTable>()
            || provider.as_any().is::<LakeView>()
        {
            return provider;
        }
        let (table, part) = match travel::split(name) {
            Some((base, r)) => (base, part_of(&r)),
            None => (name, Part::Rows),
        };
        Arc::new(LakeTable {
            schema: schema.to_string(),
            table: table.to_string(),
            part,
            revision: None,
            inner: provider,
        })
    }

    /// A current lake table at `revision` (see [`LakeTable::revision`]).
    pub fn at_revision(
        schema: &str,
        name: &str,
        provider: Arc<dyn TableProvider>,
        revision: Arc<str>,
    ) -> Arc<dyn TableProvider> {
        Arc::new(LakeTable {
            schema: schema.to_string(),
            table: name.to_string(),
            part: Part::Rows,
            revision: Some(revision),
            inner: provider,
        })
    }

    /// The identity of a provider a scan reads, if it is a lake table.
    pub fn of(provider: &dyn TableProvider) -> Option<&LakeTable> {
        provider.as_any().downcast_ref::<LakeTable>()
    }

    pub fn inner(&self) -> &Arc<dyn TableProvider> {
        &self.inner
    }
}

/// The lake tables and views a plan reads directly (not what its views read), by the
/// identity their providers carry, in plan order: `(schema, table)`.
pub fn relations_read(plan: &LogicalPlan) -> Vec<(String, String)> {
    use datafusion::common::tree_node::TreeNodeRecursion;
    let mut out = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(p) = datafusion::datasource::source_as_provider(&scan.source)
        {
            if let Some(v) = LakeView::of(p.as_ref()) {
                out.push((v.schema.to_lowercase(), v.name.to_lowercase()));
            } else if let Some(t) = LakeTable::of(p.as_ref()) {
                out.push((t.schema.to_lowercase(), t.table.to_lowercase()));
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

/// What part of its table a (possibly suffixed) name serves.
pub fn part_of_name(name: &str) -> Part {
    travel::split(name)
        .map(|(_, r)| part_of(&r))
        .unwrap_or(Part::Rows)
}

fn part_of(r: &TableRef) -> Part {
    match r {
        TableRef::Version(_) | TableRef::Timestamp(_) | TableRef::Ref(_) => Part::Rows,
        TableRef::History
        | TableRef::Files
        | TableRef::Partitions
        | TableRef::Snapshots
        | TableRef::Manifests => Part::Metadata,
    }
}

#[async_trait]
impl TableProvider for LakeTable {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
    fn constraints(&self) -> Option<&Constraints> {
        self.inner.constraints()
    }
    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }
    fn get_table_definition(&self) -> Option<&str> {
        self.inner.get_table_definition()
    }
    fn get_logical_plan(&'_ self) -> Option<Cow<'_, LogicalPlan>> {
        self.inner.get_logical_plan()
    }
    fn get_column_default(&self, column: &str) -> Option<&Expr> {
        self.inner.get_column_default(column)
    }
    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.scan(state, projection, filters, limit).await
    }
    async fn scan_with_args<'a>(
        &self,
        state: &dyn Session,
        args: datafusion::catalog::ScanArgs<'a>,
    ) -> Result<datafusion::catalog::ScanResult> {
        self.inner.scan_with_args(state, args).await
    }
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }
    fn statistics(&self) -> Option<Statistics> {
        self.inner.statistics()
    }
}

/// A schema whose tables come out as [`LakeTable`]s.
#[derive(Debug)]
pub struct IdentifiedSchema {
    pub name: String,
    pub inner: Arc<dyn SchemaProvider>,
}

#[async_trait]
impl SchemaProvider for IdentifiedSchema {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }
    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        Ok(self
            .inner
            .table(name)
            .await?
            .map(|p| LakeTable::wrap(&self.name, name, p)))
    }
    async fn table_type(&self, name: &str) -> Result<Option<TableType>> {
        self.inner.table_type(name).await
    }
    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

/// A served view with its identity. DataFusion inlines a provider that has a logical plan
/// while planning, which would lose which view the rows came from (and a view read through
/// another view was inlined when that one was planned). So a `LakeView` is not inlined by the
/// planner: the engine inlines it after planning (`engine::access::apply_access`), where rules
/// configured on the view apply to its rows. Executed as a scan (plans that skip that step,
/// such as gold models), it plans its own query.
#[derive(Debug)]
pub struct LakeView {
    pub schema: String,
    pub name: String,
    plan: LogicalPlan,
    sql: String,
    fields: SchemaRef,
}

impl LakeView {
    pub fn new(schema: &str, name: &str, plan: LogicalPlan, sql: String) -> LakeView {
        LakeView {
            schema: schema.to_string(),
            name: name.to_string(),
            fields: std::sync::Arc::new(plan.schema().as_arrow().clone()),
            plan,
            sql,
        }
    }

    pub fn of(provider: &dyn TableProvider) -> Option<&LakeView> {
        provider.as_any().downcast_ref::<LakeView>()
    }

    /// The view's query (its own views not inlined yet).
    pub fn plan(&self) -> &LogicalPlan {
        &self.plan
    }

    /// `plan` (the view's query, or one derived from it) narrowed to a scan's projection.
    pub fn project(
        &self,
        plan: LogicalPlan,
        projection: Option<&Vec<usize>>,
    ) -> Result<datafusion::logical_expr::LogicalPlanBuilder> {
        let builder = datafusion::logical_expr::LogicalPlanBuilder::from(plan);
        let Some(p) = projection else {
            return Ok(builder);
        };
        let columns = p
            .iter()
            .map(|i| {
                Expr::Column(datafusion::common::Column::from(
                    self.plan.schema().qualified_field(*i),
                ))
            })
            .collect::<Vec<_>>();
        builder.project(columns)
    }
}

#[async_trait]
impl TableProvider for LakeView {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn schema(&self) -> SchemaRef {
        self.fields.clone()
    }
    fn table_type(&self) -> TableType {
        TableType::View
    }
    fn get_table_definition(&self) -> Option<&str> {
        Some(&self.sql)
    }
    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut builder = self.project(self.plan.clone(), projection)?;
        if let Some(n) = limit {
            builder = builder.limit(0, Some(n))?;
        }
        state.create_physical_plan(&builder.build()?).await
    }
}
