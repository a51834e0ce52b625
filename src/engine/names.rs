//! Postgres output column names for unaliased select items.
//!
//! DataFusion names a column after its whole expression (`count(*)`,
//! `min(silver.events.ts)`); Postgres names it after the function (`count`, `min`), the column
//! (`x` for `x::text`), or `?column?`. Drivers and BI tools show these names and some key result
//! handling on them, so unaliased items get the Postgres name as an alias, unless that would
//! make two output columns share a name (DataFusion requires unique projection names).

use std::collections::HashMap;

use datafusion::sql::sqlparser::ast::{Expr, Ident, Query, SelectItem, SetExpr, Statement};

pub fn apply(statement: &mut Statement) {
    if let Statement::Query(q) = statement {
        query(q);
    }
}

fn query(q: &mut Query) {
    set_expr(&mut q.body);
}

fn set_expr(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            let proposed: Vec<Option<String>> = select
                .projection
                .iter()
                .map(|item| match item {
                    SelectItem::UnnamedExpr(e) => pg_name(e),
                    _ => None,
                })
                .collect();
            let mut taken: HashMap<String, usize> = HashMap::new();
            for (item, p) in select.projection.iter().zip(&proposed) {
                let name = match item {
                    SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.to_lowercase()),
                    SelectItem::UnnamedExpr(e) => p.clone().or_else(|| column_name(e)),
                    _ => None,
                };
                if let Some(n) = name {
                    *taken.entry(n).or_default() += 1;
                }
            }
            for (item, p) in select.projection.iter_mut().zip(proposed) {
                let Some(name) = p else { continue };
                if taken.get(&name).copied().unwrap_or(0) != 1 {
                    continue;
                }
                if let SelectItem::UnnamedExpr(e) = item {
                    *item = SelectItem::ExprWithAlias {
                        expr: e.clone(),
                        alias: Ident::with_quote('"', name),
                    };
                }
            }
        }
        SetExpr::Query(q) => query(q),
        SetExpr::SetOperation { left, .. } => set_expr(left),
        _ => {}
    }
}

/// The name a plain column reference already has (DataFusion and Postgres agree on these).
fn column_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(i) => Some(i.value.to_lowercase()),
        Expr::CompoundIdentifier(parts) => parts.last().map(|i| i.value.to_lowercase()),
        _ => None,
    }
}

/// The Postgres name for an expression DataFusion would name differently.
fn pg_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => None,
        Expr::Function(f) => f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(|i| i.value.to_lowercase()),
        Expr::Cast { expr, .. } => match expr.as_ref() {
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => column_name(expr),
            inner => pg_name(inner),
        },
        Expr::Nested(inner) => pg_name(inner),
        Expr::Case { .. } => Some("case".into()),
        Expr::Exists { .. } => Some("exists".into()),
        Expr::Array(_) => Some("array".into()),
        _ => Some("?column?".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn named(sql: &str) -> String {
        let mut s = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        apply(&mut s);
        s.to_string()
    }

    #[test]
    fn functions_and_casts_get_postgres_names() {
        assert_eq!(
            named("SELECT count(*), min(t.a), b::text FROM t"),
            "SELECT count(*) AS \"count\", min(t.a) AS \"min\", b::TEXT AS \"b\" FROM t"
        );
        assert_eq!(
            named("SELECT a, 1 + 1 AS two FROM t"),
            "SELECT a, 1 + 1 AS two FROM t"
        );
    }

    #[test]
    fn duplicate_names_are_left_alone() {
        assert_eq!(named("SELECT 1, 2"), "SELECT 1, 2");
        assert_eq!(
            named("SELECT max(a), max(b) FROM t"),
            "SELECT max(a), max(b) FROM t"
        );
        assert_eq!(
            named("SELECT a, lower(a) FROM t"),
            "SELECT a, lower(a) AS \"lower\" FROM t"
        );
    }
}
