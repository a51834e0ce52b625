//! The security barrier above rows an access rule hides (Postgres' `security_barrier`, and how
//! it orders row-level-security quals before a user's own).
//!
//! A user's WHERE runs only on the rows their row filter lets through, and only on the rows a
//! view lets through when they may not read what the view reads. Without the barrier the
//! optimizer merges the user's predicate into the filter below or pushes it into the scan, so
//! it runs on every row: `CAST(name AS INT) = 0` then fails quoting a hidden row, and
//! `CASE WHEN country = 'FR' AND salary > 1e5 THEN 1/0 END` asks yes/no questions of them.
//!
//! Leakproof predicates, those that cannot fail whatever the row holds (column-to-literal
//! comparisons, IS NULL, IN lists, AND/OR/NOT of those), still go below, so pruning and
//! Parquet pushdown keep working for the common dashboard filter; everything else stays above.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchemaRef, Result};
use datafusion::execution::SessionState;
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::utils::{conjunction, split_conjunction_owned};
use datafusion::logical_expr::{
    BinaryExpr, Expr, Extension, Filter, LogicalPlan, Operator, UserDefinedLogicalNode,
    UserDefinedLogicalNodeCore,
};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};

/// The logical barrier: its input's rows, unchanged; nothing is pushed through it but what
/// [`LeakproofThroughBarrier`] moves.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Hash)]
pub struct Barrier {
    input: LogicalPlan,
}

/// `plan` behind a barrier.
pub fn barrier(plan: LogicalPlan) -> LogicalPlan {
    LogicalPlan::Extension(Extension {
        node: Arc::new(Barrier { input: plan }),
    })
}

impl UserDefinedLogicalNodeCore for Barrier {
    fn name(&self) -> &str {
        "AccessBarrier"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }

    /// Every column (by name, as the optimizer's filter pushdown compares them): it stops
    /// here. A predicate without columns is a constant and may pass.
    fn prevent_predicate_push_down_columns(&self) -> HashSet<String> {
        self.input
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "AccessBarrier")
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        Ok(Barrier {
            input: inputs.swap_remove(0),
        })
    }

    /// The same columns pass through: unused ones may be pruned below.
    fn necessary_children_exprs(&self, output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        Some(vec![output_columns.to_vec()])
    }

    /// A limit hides nothing and tells nothing of the rows it drops.
    fn supports_limit_pushdown(&self) -> bool {
        true
    }
}

/// Whether `e` cannot fail, nor tell anything but its truth, on any row: then it may run
/// below the barrier (before the rule it sits above).
fn leakproof(e: &Expr) -> bool {
    match e {
        Expr::Column(_) | Expr::Literal(..) => true,
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            matches!(
                op,
                Operator::Eq
                    | Operator::NotEq
                    | Operator::Lt
                    | Operator::LtEq
                    | Operator::Gt
                    | Operator::GtEq
                    | Operator::And
                    | Operator::Or
                    | Operator::IsDistinctFrom
                    | Operator::IsNotDistinctFrom
            ) && leakproof(left)
                && leakproof(right)
        }
        Expr::Not(e)
        | Expr::IsNull(e)
        | Expr::IsNotNull(e)
        | Expr::IsTrue(e)
        | Expr::IsFalse(e)
        | Expr::IsNotTrue(e)
        | Expr::IsNotFalse(e) => leakproof(e),
        Expr::Between(b) => leakproof(&b.expr) && leakproof(&b.low) && leakproof(&b.high),
        Expr::InList(l) => {
            leakproof(&l.expr) && l.list.iter().all(|v| matches!(v, Expr::Literal(..)))
        }
        // Casts, functions, arithmetic, CASE, LIKE on a column: each can fail or branch on
        // a hidden value.
        _ => false,
    }
}

/// Moves the leakproof conjuncts of a filter right above a barrier to below it.
#[derive(Debug, Default)]
pub struct LeakproofThroughBarrier;

impl OptimizerRule for LeakproofThroughBarrier {
    fn name(&self) -> &str {
        "leakproof_through_access_barrier"
    }

    fn apply_order(&self) -> Option<datafusion::optimizer::ApplyOrder> {
        Some(datafusion::optimizer::ApplyOrder::TopDown)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Filter(filter) = &plan else {
            return Ok(Transformed::no(plan));
        };
        let LogicalPlan::Extension(ext) = filter.input.as_ref() else {
            return Ok(Transformed::no(plan));
        };
        let Some(b) = ext.node.as_any().downcast_ref::<Barrier>() else {
            return Ok(Transformed::no(plan));
        };
        let (below, above): (Vec<Expr>, Vec<Expr>) =
            split_conjunction_owned(filter.predicate.clone())
                .into_iter()
                .partition(leakproof);
        let Some(below) = conjunction(below) else {
            return Ok(Transformed::no(plan));
        };
        let input = barrier(LogicalPlan::Filter(Filter::try_new(
            below,
            Arc::new(b.input.clone()),
        )?));
        Ok(Transformed::yes(match conjunction(above) {
            Some(above) => LogicalPlan::Filter(Filter::try_new(above, Arc::new(input))?),
            None => input,
        }))
    }
}

/// The physical barrier: its child's batches, unchanged. It keeps the default answer of an
/// operator to filter pushdown (none passes), so neither a parent's filter nor a join's or
/// TopK's dynamic filter reaches the scan of hidden rows.
#[derive(Debug)]
pub struct BarrierExec {
    input: Arc<dyn ExecutionPlan>,
}

impl datafusion::physical_plan::DisplayAs for BarrierExec {
    fn fmt_as(
        &self,
        _t: datafusion::physical_plan::DisplayFormatType,
        f: &mut fmt::Formatter,
    ) -> fmt::Result {
        write!(f, "AccessBarrierExec")
    }
}

impl ExecutionPlan for BarrierExec {
    fn name(&self) -> &str {
        "AccessBarrierExec"
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn properties(&self) -> &datafusion::physical_plan::PlanProperties {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(BarrierExec {
            input: children.swap_remove(0),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<datafusion::execution::TaskContext>,
    ) -> Result<datafusion::execution::SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }

    fn partition_statistics(
        &self,
        partition: Option<usize>,
    ) -> Result<datafusion::common::Statistics> {
        self.input.partition_statistics(partition)
    }
}

struct BarrierPlanner;

#[async_trait]
impl ExtensionPlanner for BarrierPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session_state: &SessionState,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        if node.as_any().downcast_ref::<Barrier>().is_none() {
            return Ok(None);
        }
        Ok(Some(Arc::new(BarrierExec {
            input: physical_inputs[0].clone(),
        })))
    }
}

/// DataFusion's planner, knowing the barrier.
#[derive(Debug, Default)]
pub struct AccessPlanner;

#[async_trait]
impl QueryPlanner for AccessPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &SessionState,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(BarrierPlanner)])
            .create_physical_plan(logical_plan, session_state)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{cast, col, lit};

    #[test]
    fn only_what_cannot_fail_is_leakproof() {
        use datafusion::arrow::datatypes::DataType;
        assert!(leakproof(&col("country").eq(lit("DE"))));
        assert!(leakproof(&col("day").gt_eq(lit(3)).and(
            col("x").is_null().or(col("y").in_list(vec![lit(1)], false))
        )));
        assert!(!leakproof(&cast(col("name"), DataType::Int32).eq(lit(0))));
        assert!(!leakproof(&(col("a") / lit(0)).eq(lit(1))));
        assert!(!leakproof(
            &col("y").in_list(vec![col("a") / col("b")], false)
        ));
    }
}
