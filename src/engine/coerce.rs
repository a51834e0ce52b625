//! Postgres treats a quoted literal as "unknown" and gives it the type of what it is compared
//! with (`completed = 'true'`, as pgjdbc's simple mode and many BI tools inline parameters).
//! DataFusion types it as text and then cannot compare text with a boolean; this analyzer rule,
//! run before type coercion, casts such literals to the other side's type.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::{BinaryExpr, Cast, Expr, ExprSchemable, LogicalPlan, Operator};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, Default)]
pub struct UnknownLiterals;

fn is_text_literal(e: &Expr) -> bool {
    matches!(
        e,
        Expr::Literal(
            ScalarValue::Utf8(Some(_))
                | ScalarValue::Utf8View(Some(_))
                | ScalarValue::LargeUtf8(Some(_)),
            _
        )
    )
}

fn fix(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    if let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &e {
        let comparison = matches!(
            op,
            Operator::Eq
                | Operator::NotEq
                | Operator::Lt
                | Operator::LtEq
                | Operator::Gt
                | Operator::GtEq
        );
        if comparison {
            let (lit_left, other) = match (is_text_literal(left), is_text_literal(right)) {
                (true, false) => (true, right),
                (false, true) => (false, left),
                _ => return Ok(Transformed::no(e)),
            };
            if let Ok(t) = other.get_type(schema) {
                let lit = if lit_left { left } else { right };
                if let Some(fixed) = reshape(lit, &t) {
                    let (l, r) = if lit_left {
                        (Box::new(fixed), right.clone())
                    } else {
                        (left.clone(), Box::new(fixed))
                    };
                    return Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
                        l, *op, r,
                    ))));
                }
                if t == DataType::Boolean {
                    let lit = if lit_left { left } else { right };
                    let cast = Expr::Cast(Cast::new(lit.clone(), t));
                    let (l, r) = if lit_left {
                        (Box::new(cast), right.clone())
                    } else {
                        (left.clone(), Box::new(cast))
                    };
                    return Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
                        l, *op, r,
                    ))));
                }
            }
        }
    }
    Ok(Transformed::no(e))
}

/// Date and timestamp spellings Postgres accepts and Arrow's parser does not: a date with a
/// zone suffix (`2024-06-01 +00`, pgjdbc) and `+HH` offsets.
fn reshape(lit: &Expr, target: &DataType) -> Option<Expr> {
    let Expr::Literal(v, _) = lit else {
        return None;
    };
    let s = match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => s,
        _ => return None,
    };
    let new = match target {
        DataType::Date32 | DataType::Date64 => {
            let first = s.split_whitespace().next()?;
            (first != s).then(|| first.to_string())?
        }
        DataType::Timestamp(..) => {
            let t = s.trim();
            let b = t.as_bytes();
            let n = b.len();
            let short = n > 3
                && matches!(b[n - 3], b'+' | b'-')
                && b[n - 2].is_ascii_digit()
                && b[n - 1].is_ascii_digit()
                && t[..n - 3].contains(':');
            if !short {
                return None;
            }
            format!("{}{}:00", t[..n - 3].trim_end(), &t[n - 3..])
        }
        _ => return None,
    };
    Some(Expr::Literal(ScalarValue::Utf8(Some(new)), None))
}

impl AnalyzerRule for UnknownLiterals {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| {
            let schema = plan
                .inputs()
                .iter()
                .map(|i| i.schema().as_ref().clone())
                .reduce(|mut a, b| {
                    a.merge(&b);
                    a
                })
                .unwrap_or_else(DFSchema::empty);
            plan.map_expressions(|e| e.transform_up(|e| fix(e, &schema)))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "lakegate_unknown_literals"
    }
}
