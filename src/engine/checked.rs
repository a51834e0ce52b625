//! Integer arithmetic that fails on overflow, as Postgres' does (`2147483647::int + 1` is
//! 22003 "integer out of range"). DataFusion's `+`, `-` and `*` wrap around on integers, which
//! would serve a wrong number; after type coercion this analyzer rule turns each integer
//! `a + b`, `a - b`, `a * b` into Arrow's checked kernel. Names of unaliased expressions stay
//! what they were.

use std::sync::Arc;

use datafusion::arrow::compute::kernels::numeric;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, PartialEq, Eq, Hash)]
struct Checked {
    op: Operator,
    signature: Signature,
}

impl ScalarUDFImpl for Checked {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn name(&self) -> &str {
        match self.op {
            Operator::Plus => "checked_add",
            Operator::Minus => "checked_sub",
            _ => "checked_mul",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[0].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [a, b] = args.args.as_slice() else {
            return datafusion::common::internal_err!("{} takes two arguments", self.name());
        };
        let scalar = matches!((a, b), (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_)));
        let n = args.number_rows;
        let (a, b) = (a.to_array(n)?, b.to_array(n)?);
        let out = match self.op {
            Operator::Plus => numeric::add(&a, &b)?,
            Operator::Minus => numeric::sub(&a, &b)?,
            _ => numeric::mul(&a, &b)?,
        };
        Ok(if scalar {
            ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(&out, 0)?)
        } else {
            ColumnarValue::Array(out)
        })
    }
}

fn udf(op: Operator) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(Checked {
        op,
        signature: Signature::any(2, Volatility::Immutable),
    }))
}

fn is_int(t: &DataType) -> bool {
    t.is_integer()
}

fn check(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &e else {
        return Ok(Transformed::no(e));
    };
    if !matches!(op, Operator::Plus | Operator::Minus | Operator::Multiply) {
        return Ok(Transformed::no(e));
    }
    // Types are known after coercion; an expression whose type cannot be told is left alone.
    let (Ok(l), Ok(r)) = (left.get_type(schema), right.get_type(schema)) else {
        return Ok(Transformed::no(e));
    };
    if !(is_int(&l) && l == r) {
        return Ok(Transformed::no(e));
    }
    let (left, op, right) = match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => (left, op, right),
        _ => unreachable!(),
    };
    Ok(Transformed::yes(udf(op).call(vec![*left, *right])))
}

#[derive(Debug, Default)]
pub struct CheckedArithmetic;

impl AnalyzerRule for CheckedArithmetic {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| {
            let schema = match &plan {
                LogicalPlan::TableScan(t) => t.projected_schema.as_ref().clone(),
                _ => datafusion::logical_expr::utils::merge_schema(&plan.inputs()),
            };
            let names = NamePreserver::new(&plan);
            plan.map_expressions(|e| {
                let name = names.save(&e);
                let rewritten = e.transform_up(|e| check(e, &schema))?;
                Ok(rewritten.update_data(|e| name.restore(e)))
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "lakegate_checked_arithmetic"
    }
}
