//! Postgres coercions DataFusion lacks, as an analyzer rule run before type coercion:
//!
//! - Postgres treats a quoted literal as "unknown" and gives it the type of what it is compared
//!   with (`completed = 'true'`, as pgjdbc's simple mode and many BI tools inline parameters).
//!   DataFusion types it as text and then cannot compare text with a boolean, or compares a
//!   number with it as text (`user_id <= '3'` was true for 10); such literals are cast to the
//!   other side's type, as Postgres does (a literal that is not a number is then 22P02).
//! - An array cast to text (`ix.indkey::varchar`, which SQLAlchemy's and so Superset's index
//!   reflection sends) is Postgres' array text, `{1,2}`; Arrow has no List → Utf8 cast.

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

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
}

/// `CAST(list AS text)` as `CASE WHEN list IS NULL THEN NULL ELSE '{' || array_to_string(list,
/// ',', 'NULL') || '}' END`, in the cast's text type.
fn array_text(e: &Expr, schema: &DFSchema) -> Option<Expr> {
    use datafusion::functions::expr_fn::concat;
    use datafusion::functions_nested::string::array_to_string_udf;
    use datafusion::logical_expr::expr::ScalarFunction;
    use datafusion::logical_expr::{lit, when};
    let Expr::Cast(Cast { expr, data_type }) = e else {
        return None;
    };
    if !is_text(data_type) {
        return None;
    }
    if !matches!(
        expr.get_type(schema).ok()?,
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..)
    ) {
        return None;
    }
    let items = Expr::ScalarFunction(ScalarFunction::new_udf(
        array_to_string_udf(),
        vec![(**expr).clone(), lit(","), lit("NULL")],
    ));
    let text = concat(vec![lit("{"), items, lit("}")]);
    let text = when(
        expr.as_ref().clone().is_null(),
        lit(ScalarValue::Utf8(None)),
    )
    .otherwise(text)
    .ok()?;
    Some(Expr::Cast(Cast::new(Box::new(text), data_type.clone())))
}

fn fix(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    if let Some(text) = array_text(&e, schema) {
        return Ok(Transformed::yes(text));
    }
    if let Some(fixed) = int4_literal_operand(&e, schema) {
        return Ok(Transformed::yes(fixed));
    }
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
                // Numbers too: DataFusion would compare `user_id <= '3'` as text ('10' <=
                // '3'), where Postgres reads the literal as a bigint.
                if t == DataType::Boolean || t.is_numeric() {
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

/// `int_col + 1`: Postgres types the literal int4, so the sum is int4 and overflows as one
/// (22003 for `2147483647::int + 1`); DataFusion types it int8 and widens the sum. An integer
/// literal that fits int4, in arithmetic with an int2/int4 operand, becomes an Int32.
fn int4_literal_operand(e: &Expr, schema: &DFSchema) -> Option<Expr> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = e else {
        return None;
    };
    if !matches!(
        op,
        Operator::Plus | Operator::Minus | Operator::Multiply | Operator::Divide | Operator::Modulo
    ) {
        return None;
    }
    let small = |x: &Expr| {
        matches!(
            x.get_type(schema),
            Ok(DataType::Int32 | DataType::Int16 | DataType::Int8)
        )
    };
    let int4 = |x: &Expr| match x {
        Expr::Literal(ScalarValue::Int64(Some(v)), m) => i32::try_from(*v)
            .ok()
            .map(|v| Expr::Literal(ScalarValue::Int32(Some(v)), m.clone())),
        _ => None,
    };
    if small(left)
        && let Some(r) = int4(right)
    {
        return Some(Expr::BinaryExpr(BinaryExpr::new(
            left.clone(),
            *op,
            Box::new(r),
        )));
    }
    if small(right)
        && let Some(l) = int4(left)
    {
        return Some(Expr::BinaryExpr(BinaryExpr::new(
            Box::new(l),
            *op,
            right.clone(),
        )));
    }
    None
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
            // A rewritten expression keeps its name: an aggregate's output (`count(*) FILTER
            // (WHERE user_id <= '3')`) is referenced by name from the projection above.
            let names = datafusion::logical_expr::expr_rewriter::NamePreserver::new(&plan);
            plan.map_expressions(|e| {
                let saved = names.save(&e);
                let t = e.transform_up(|e| fix(e, &schema))?;
                Ok(if t.transformed {
                    t.update_data(|e| saved.restore(e))
                } else {
                    t
                })
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "lakegate_unknown_literals"
    }
}

/// SQL type names Postgres has and DataFusion's planner does not (`'{"a":1}'::json`,
/// `relname::name`, as asyncpg, psycopg and hand-written queries cast): planned as the Arrow
/// type lakegate stores them as. A `json` value is text here (Postgres would send type json;
/// drivers then give the text where they would give a parsed value).
#[derive(Debug, Default)]
pub struct PostgresTypes;

impl datafusion::logical_expr::planner::TypePlanner for PostgresTypes {
    fn plan_type(
        &self,
        sql_type: &datafusion::sql::sqlparser::ast::DataType,
    ) -> Result<Option<DataType>> {
        use datafusion::sql::sqlparser::ast::DataType as Sql;
        Ok(match sql_type {
            // `uuid '…'` literals and casts: text (Arrow cannot cast text to the 16-byte uuid
            // extension lakegate reads uuid columns as).
            Sql::JSON | Sql::JSONB | Sql::Uuid => Some(DataType::Utf8),
            Sql::Custom(name, modifiers) if modifiers.is_empty() => {
                let last = name.0.last().map(|p| p.to_string().to_ascii_lowercase());
                match last.as_deref() {
                    Some("name" | "citext" | "\"char\"" | "bpchar") => Some(DataType::Utf8),
                    // `oid` is unsigned as in Postgres, so `$1::oid[]` is described as `oid[]`
                    // (asyncpg decodes no other integer array before introspecting types).
                    // The reg* types stay Int32, this pg_catalog's OID columns
                    // (datafusion-pg-catalog's choice); both compare as integers.
                    // `"oid"`: how a literal's cast reaches here (see regclass_literals).
                    Some("oid" | "\"oid\"") => Some(DataType::UInt32),
                    Some("regtype" | "regclass" | "regproc" | "regnamespace") => {
                        Some(DataType::Int32)
                    }
                    _ => None,
                }
            }
            _ => None,
        })
    }
}
