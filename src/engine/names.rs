//! Postgres output column names for unaliased select items.
//!
//! DataFusion names a column after its whole expression (`count(*)`,
//! `min(silver.events.ts)`); Postgres names it after the function (`count`, `min`), the column
//! (`x` for `x::text`), or `?column?`. Drivers and BI tools show these names and some key result
//! handling on them, so unaliased items get the Postgres name as an alias, unless that would
//! make two output columns share a name (DataFusion requires unique projection names).

use std::collections::HashMap;

use datafusion::sql::sqlparser::ast::{Expr, Ident, Query, SelectItem, SetExpr, Statement};

/// Every rewrite from Postgres' dialect to what DataFusion plans, in order. `catalog_only`:
/// the statement reads only catalog tables (see [`is_catalog_only`]); `null_correlated`: its
/// correlated scalar subqueries become NULL (for when DataFusion cannot decorrelate them).
pub fn rewrite(statement: &mut Statement, catalog_only: bool, null_correlated: bool) {
    array_subqueries(statement, catalog_only);
    function_aliases(statement);
    recursive_cte_columns(statement);
    like_escapes(statement);
    reg_casts(statement);
    set_returning_functions(statement);
    bare_user(statement);
    field_access(statement);
    if catalog_only {
        oidvector_unnest(statement);
        aggregate_lookups(statement);
        if null_correlated {
            null_correlated_subqueries(statement);
        }
    }
    apply(statement)
}

pub fn apply(statement: &mut Statement) {
    if let Statement::Query(q) = statement {
        query(q);
    }
}

fn query(q: &mut Query) {
    set_expr(&mut q.body);
}

/// `SELECT 1`: Postgres types an integer literal that fits as int4; DataFusion as int8. Bare
/// literals in the select list get the Postgres type, so drivers see int4 (node-postgres, for
/// one, returns int8 as a string).
fn int4_literal(e: &mut Expr) {
    use datafusion::sql::sqlparser::ast::{CastKind, DataType, Value};
    if let Expr::Value(v) = e
        && let Value::Number(n, _) = &v.value
        && n.parse::<i32>().is_ok()
    {
        *e = Expr::Cast {
            kind: CastKind::Cast,
            expr: Box::new(e.clone()),
            data_type: DataType::Int(None),
            format: None,
        };
    }
}

fn set_expr(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            let wildcard = select.projection.iter().any(|i| {
                matches!(
                    i,
                    SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
                )
            });
            for item in select.projection.iter_mut() {
                match item {
                    SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                        int4_literal(e)
                    }
                    _ => {}
                }
            }
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
                // Names a wildcard brings in are unknown here; an alias could collide with one.
                if wildcard {
                    break;
                }
                let Some(mut name) = p else { continue };
                if taken.get(&name).copied().unwrap_or(0) != 1 {
                    // DataFusion names a scalar subquery after its item too, so two would
                    // clash (`count(*), (SELECT count(*) ...)`): the subquery gets a number,
                    // as the compatibility parser numbers other repeated names.
                    let subquery = match &*item {
                        SelectItem::UnnamedExpr(Expr::Subquery(_)) => true,
                        SelectItem::UnnamedExpr(Expr::Nested(n)) => {
                            matches!(n.as_ref(), Expr::Subquery(_))
                        }
                        _ => false,
                    };
                    if !subquery {
                        continue;
                    }
                    let mut k = 1;
                    while taken.contains_key(&format!("{name}_{k}")) {
                        k += 1;
                    }
                    name = format!("{name}_{k}");
                    taken.insert(name.clone(), 1);
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
        Expr::Function(f) => {
            let name = f
                .name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(|i| i.value.to_lowercase())?;
            match name.as_str() {
                // `x = ANY(arr)`, as the compatibility parser rewrites it: an operator.
                "array_contains" => Some("?column?".into()),
                // `x::regtype::text` (see regclass_literals): named as the cast is, after x.
                "lakegate_regtype_name" => match &f.args {
                    datafusion::sql::sqlparser::ast::FunctionArguments::List(l) => {
                        match l.args.first() {
                            Some(datafusion::sql::sqlparser::ast::FunctionArg::Unnamed(
                                datafusion::sql::sqlparser::ast::FunctionArgExpr::Expr(a),
                            )) => column_name(a).or_else(|| pg_name(a)),
                            _ => Some("?column?".into()),
                        }
                    }
                    _ => Some("?column?".into()),
                },
                _ => Some(name),
            }
        }
        // Postgres names a CASE after its ELSE result when that has a name of its own.
        Expr::Case {
            else_result: Some(e),
            ..
        } => column_name(e)
            .or_else(|| pg_name(e).filter(|n| n != "?column?"))
            .or_else(|| Some("case".into())),
        // A scalar subquery after its one select item.
        Expr::Subquery(q) => match q.body.as_ref() {
            SetExpr::Select(s) => match s.projection.first() {
                Some(SelectItem::ExprWithAlias { alias, .. }) => Some(alias.value.to_lowercase()),
                Some(SelectItem::UnnamedExpr(e)) => column_name(e).or_else(|| pg_name(e)),
                _ => Some("?column?".into()),
            },
            _ => Some("?column?".into()),
        },
        Expr::Cast { expr, .. } => match expr.as_ref() {
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => column_name(expr),
            Expr::Value(_) => Some("?column?".into()),
            inner => pg_name(inner),
        },
        Expr::Nested(inner) => pg_name(inner),
        Expr::Case { .. } => Some("case".into()),
        Expr::Substring { shorthand, .. } => {
            Some(if *shorthand { "substr" } else { "substring" }.into())
        }
        Expr::Trim { .. } => Some("btrim".into()),
        Expr::Extract { .. } => Some("extract".into()),
        Expr::Position { .. } => Some("position".into()),
        Expr::Ceil { .. } => Some("ceil".into()),
        Expr::Floor { .. } => Some("floor".into()),
        Expr::Exists { .. } => Some("exists".into()),
        Expr::Array(_) => Some("array".into()),
        _ => Some("?column?".into()),
    }
}

/// `ARRAY(SELECT x ...)` (psql's `\d+` uses it) → `(SELECT array_agg(x) FROM (SELECT x ...))`,
/// which DataFusion plans; it has no array constructor over a subquery.
pub fn array_subqueries(statement: &mut Statement, catalog_only: bool) {
    use datafusion::sql::sqlparser::ast::{FunctionArguments, visit_expressions_mut};
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Function(f) = expr {
            let is_array = f
                .name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .is_some_and(|i| i.value.eq_ignore_ascii_case("array"));
            if let (true, FunctionArguments::Subquery(q)) = (is_array, &f.args) {
                // DataFusion cannot decorrelate an aggregate over a correlated subquery. In a
                // catalog query (psql's toast reloptions) the array is always empty for a lake:
                // NULL. In a user query it stays as written and fails loudly.
                if is_correlated(q) {
                    if catalog_only {
                        *expr = Expr::Value(datafusion::sql::sqlparser::ast::Value::Null.into());
                    }
                    return std::ops::ControlFlow::Continue(());
                }
                let mut inner = q.as_ref().clone();
                if let SetExpr::Select(select) = inner.body.as_mut()
                    && let Some(first) = select.projection.first_mut()
                {
                    let e = match first {
                        SelectItem::UnnamedExpr(e) => Some(e.clone()),
                        SelectItem::ExprWithAlias { expr, .. } => Some(expr.clone()),
                        _ => None,
                    };
                    if let Some(e) = e {
                        *first = SelectItem::ExprWithAlias {
                            expr: e,
                            alias: Ident::new("__array_elem"),
                        };
                        let text = format!(
                            "(SELECT array_agg(__array_sub.__array_elem) FROM ({inner}) AS __array_sub)"
                        );
                        if let Ok(new) = Parser::new(&PostgreSqlDialect {})
                            .try_with_sql(&text)
                            .and_then(|mut p| p.parse_expr())
                        {
                            *expr = new;
                        }
                    }
                }
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

/// `FROM unnest(a) x`: in Postgres the alias names the column too (`SELECT x FROM ...`).
pub fn function_aliases(statement: &mut Statement) {
    use datafusion::sql::sqlparser::ast::{TableAliasColumnDef, TableFactor, VisitMut, VisitorMut};
    struct V;
    impl VisitorMut for V {
        type Break = ();
        fn pre_visit_table_factor(&mut self, t: &mut TableFactor) -> std::ops::ControlFlow<()> {
            let alias = match t {
                TableFactor::Table {
                    name,
                    args: Some(_),
                    alias: Some(alias),
                    ..
                } if name
                    .0
                    .last()
                    .and_then(|p| p.as_ident())
                    .is_some_and(|i| i.value.eq_ignore_ascii_case("unnest")) =>
                {
                    Some(alias)
                }
                TableFactor::UNNEST {
                    alias: Some(alias),
                    array_exprs,
                    ..
                } if array_exprs.len() == 1 => Some(alias),
                _ => None,
            };
            if let Some(alias) = alias
                && alias.columns.is_empty()
            {
                alias.columns = vec![TableAliasColumnDef::from_name(alias.name.value.clone())];
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut V);
}

/// `WITH RECURSIVE t(a, b, depth) AS (SELECT x, y, 0 ... UNION ALL SELECT ..., t.depth + 1
/// FROM t)`: DataFusion names the recursive term's `t` after the static term's own columns,
/// not the CTE's column list, so `t.depth` is not found (asyncpg's type introspection). The
/// list's names are given to the static term's select items, which is what they mean.
pub fn recursive_cte_columns(statement: &mut Statement) {
    use datafusion::sql::sqlparser::ast::{VisitMut, VisitorMut};
    struct V;
    impl VisitorMut for V {
        type Break = ();
        fn pre_visit_query(&mut self, q: &mut Query) -> std::ops::ControlFlow<()> {
            let Some(with) = q.with.as_mut().filter(|w| w.recursive) else {
                return std::ops::ControlFlow::Continue(());
            };
            for cte in &mut with.cte_tables {
                let names: Vec<Ident> = cte.alias.columns.iter().map(|c| c.name.clone()).collect();
                let SetExpr::SetOperation { left, .. } = cte.query.body.as_mut() else {
                    continue;
                };
                let SetExpr::Select(select) = left.as_mut() else {
                    continue;
                };
                if names.is_empty()
                    || names.len() != select.projection.len()
                    || select.projection.iter().any(|i| {
                        !matches!(
                            i,
                            SelectItem::UnnamedExpr(_) | SelectItem::ExprWithAlias { .. }
                        )
                    })
                {
                    continue;
                }
                for (item, alias) in select.projection.iter_mut().zip(names) {
                    let expr =
                        match std::mem::replace(item, SelectItem::Wildcard(Default::default())) {
                            SelectItem::UnnamedExpr(e)
                            | SelectItem::ExprWithAlias { expr: e, .. } => e,
                            other => {
                                *item = other;
                                continue;
                            }
                        };
                    *item = SelectItem::ExprWithAlias { expr, alias };
                }
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut V);
}

/// Whether a subquery names a qualifier (`t.col`) that it does not define itself.
fn is_correlated(q: &Query) -> bool {
    use datafusion::sql::sqlparser::ast::{TableFactor, Visit, Visitor};
    struct V {
        defined: Vec<String>,
        used: Vec<String>,
    }
    impl Visitor for V {
        type Break = ();
        fn pre_visit_table_factor(&mut self, t: &TableFactor) -> std::ops::ControlFlow<()> {
            match t {
                TableFactor::Table { name, alias, .. } => {
                    if let Some(a) = alias {
                        self.defined.push(a.name.value.to_lowercase());
                    }
                    if let Some(last) = name.0.last().and_then(|p| p.as_ident()) {
                        self.defined.push(last.value.to_lowercase());
                    }
                }
                TableFactor::Derived { alias: Some(a), .. }
                | TableFactor::UNNEST { alias: Some(a), .. }
                | TableFactor::Function { alias: Some(a), .. } => {
                    self.defined.push(a.name.value.to_lowercase())
                }
                _ => {}
            }
            std::ops::ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &Expr) -> std::ops::ControlFlow<()> {
            // `t.col` names a table; `t.col.field` may be a struct field of `t.col`, so only the
            // first part is a qualifier candidate.
            if let Expr::CompoundIdentifier(parts) = e
                && parts.len() >= 2
            {
                self.used.push(parts[0].value.to_lowercase());
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut v = V {
        defined: vec![],
        used: vec![],
    };
    let _ = q.visit(&mut v);
    v.used.iter().any(|u| !v.defined.contains(u))
}

/// `LIKE p ESCAPE '/'` → `LIKE <p with '/' turned into '\'>`: DataFusion only knows the
/// backslash escape (SQLAlchemy escapes with '/').
pub fn like_escapes(statement: &mut Statement) {
    use datafusion::sql::sqlparser::ast::{Value, visit_expressions_mut};
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Like {
            pattern,
            escape_char,
            ..
        }
        | Expr::ILike {
            pattern,
            escape_char,
            ..
        } = expr
        {
            let esc = match escape_char.as_ref() {
                Some(Value::SingleQuotedString(s)) if s.chars().count() == 1 && s != "\\" => {
                    s.clone()
                }
                _ => return std::ops::ControlFlow::<()>::Continue(()),
            };
            let esc_lit = esc.replace('\'', "''");
            let text = format!("lakegate_like_escape({pattern}, '{esc_lit}')");
            if let Ok(new) = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(&text)
                .and_then(|mut p| p.parse_expr())
            {
                **pattern = new;
                *escape_char = None;
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

/// Casts to `regclass`, `regtype`, `regproc`, `regnamespace` and `oid` in any spelling
/// (`CAST(x AS REGCLASS)` as SQLAlchemy writes it) are dropped: OIDs are plain integers here.
pub fn reg_casts(statement: &mut Statement) {
    use datafusion::sql::sqlparser::ast::{DataType, visit_expressions_mut};
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Cast {
            expr: inner,
            data_type,
            ..
        } = expr
        {
            let target = match data_type {
                DataType::Regclass => Some("regclass".to_string()),
                DataType::Custom(name, _) => name
                    .0
                    .last()
                    .and_then(|p| p.as_ident())
                    .map(|i| i.value.to_ascii_lowercase())
                    .filter(|n| {
                        matches!(
                            n.as_str(),
                            "regclass"
                                | "regtype"
                                | "regproc"
                                | "regprocedure"
                                | "regnamespace"
                                | "regoper"
                                | "regrole"
                                | "oid"
                        )
                    }),
                _ => None,
            };
            // `oid` is a type DataFusion plans (UInt32, see coerce::PostgresTypes), and
            // `'23'::oid` is a number, not a name.
            if let Some(target) = target.filter(|t| t != "oid") {
                use datafusion::sql::sqlparser::ast::Value;
                // A parameter or literal cast to regclass is a name ('pg_catalog.pg_class'):
                // keep it text. Anything else is an OID already.
                let is_name = matches!(
                    inner.as_ref(),
                    Expr::Value(v) if matches!(v.value, Value::Placeholder(_) | Value::SingleQuotedString(_))
                );
                if is_name {
                    // Resolved to an OID by a function of the pg_catalog module.
                    let function = match target.as_str() {
                        "regtype" => "to_regtype",
                        "regproc" | "regprocedure" => "lakegate_regproc",
                        "regnamespace" => "lakegate_regnamespace",
                        _ => "lakegate_regclass",
                    };
                    if let Ok(new) = datafusion::sql::sqlparser::parser::Parser::new(
                        &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
                    )
                    .try_with_sql(&format!("{function}(CAST({inner} AS TEXT))"))
                    .and_then(|mut p| p.parse_expr())
                    {
                        *expr = new;
                    }
                } else {
                    *expr = (**inner).clone();
                }
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

/// Whether every relation the statement reads is a catalog table (pg_catalog,
/// information_schema): client introspection, where lakegate has no defaults, identities or
/// collations for correlated lookups to find.
pub fn is_catalog_only(statement: &Statement) -> bool {
    use datafusion::sql::sqlparser::ast::visit_relations;
    // A CTE's name reads what its body reads, which is visited on its own (asyncpg's
    // `typeinfo_tree`, its `typebases` inside a scalar subquery).
    let ctes = cte_names(statement);
    let mut all = true;
    let mut any = false;
    let _ = visit_relations(statement, |name| {
        let parts: Vec<String> = name
            .0
            .iter()
            .filter_map(|p| p.as_ident().map(|i| i.value.to_lowercase()))
            .collect();
        if let [t] = parts.as_slice()
            && ctes.contains(t)
        {
            return std::ops::ControlFlow::<()>::Continue(());
        }
        any = true;
        let catalog = match parts.as_slice() {
            // Set-returning functions in FROM read no relation.
            [t] if matches!(
                t.as_str(),
                "unnest" | "generate_series" | "generate_subscripts"
            ) =>
            {
                true
            }
            [t] => t.starts_with("pg_"),
            [.., s, _] => s == "pg_catalog" || s == "information_schema",
            [] => false,
        };
        all &= catalog;
        std::ops::ControlFlow::<()>::Continue(())
    });
    any && all
}

/// The names every `WITH` in the statement defines, lowercased.
fn cte_names(statement: &Statement) -> Vec<String> {
    use datafusion::sql::sqlparser::ast::{Visit, Visitor};
    struct Names(Vec<String>);
    impl Visitor for Names {
        type Break = ();
        fn pre_visit_query(&mut self, q: &Query) -> std::ops::ControlFlow<()> {
            if let Some(with) = &q.with {
                self.0.extend(
                    with.cte_tables
                        .iter()
                        .map(|c| c.alias.name.value.to_lowercase()),
                );
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut names = Names(vec![]);
    let _ = statement.visit(&mut names);
    names.0
}

/// The deepest nesting of subquery expressions (scalar, `EXISTS`, `IN (SELECT ...)`) in a
/// statement; derived tables in FROM do not count.
pub fn subquery_depth(statement: &Statement) -> usize {
    use datafusion::sql::sqlparser::ast::{Visit, Visitor};
    struct Depth {
        now: usize,
        max: usize,
    }
    fn is_subquery(e: &Expr) -> bool {
        matches!(
            e,
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }
        )
    }
    impl Visitor for Depth {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> std::ops::ControlFlow<()> {
            if is_subquery(e) {
                self.now += 1;
                self.max = self.max.max(self.now);
            }
            std::ops::ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, e: &Expr) -> std::ops::ControlFlow<()> {
            if is_subquery(e) {
                self.now -= 1;
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut d = Depth { now: 0, max: 0 };
    let _ = statement.visit(&mut d);
    d.max
}

/// Wraps each scalar subquery that is a select item in parentheses (`Expr::Nested`), which
/// DataFusion plans the same. datafusion-pg-catalog's `RemoveSubqueryFromProjection` rewrite
/// replaces a bare correlated one with NULL and adds `LIMIT 1` to the others: right for
/// catalog queries (see `null_correlated_subqueries`), a silently wrong answer for a query of
/// lake tables. Returns whether any was found.
pub fn protect_projection_subqueries(statement: &mut Statement) -> bool {
    use datafusion::sql::sqlparser::ast::{SelectItem, SetExpr, VisitMut, VisitorMut};
    struct Protect(bool);
    impl VisitorMut for Protect {
        type Break = ();
        fn pre_visit_query(
            &mut self,
            query: &mut datafusion::sql::sqlparser::ast::Query,
        ) -> std::ops::ControlFlow<()> {
            if let SetExpr::Select(select) = query.body.as_mut() {
                for item in &mut select.projection {
                    let expr = match item {
                        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
                        _ => continue,
                    };
                    if let Expr::Subquery(q) = expr {
                        // An uncorrelated one gets the `LIMIT 1` the rewrite would have added
                        // (DataFusion would otherwise return each of its rows).
                        if !is_correlated(q) && q.limit_clause.is_none() && q.fetch.is_none() {
                            q.limit_clause =
                                Some(datafusion::sql::sqlparser::ast::LimitClause::LimitOffset {
                                    limit: Some(Expr::Value(
                                        datafusion::sql::sqlparser::ast::Value::Number(
                                            "1".into(),
                                            false,
                                        )
                                        .into(),
                                    )),
                                    offset: None,
                                    limit_by: vec![],
                                });
                        }
                        let inner = std::mem::replace(
                            expr,
                            Expr::Value(datafusion::sql::sqlparser::ast::Value::Null.into()),
                        );
                        *expr = Expr::Nested(Box::new(inner));
                        self.0 = true;
                    }
                }
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut v = Protect(false);
    let _ = statement.visit(&mut v);
    v.0
}

/// `unnest(proargtypes)` → `unnest(CAST(string_to_array(nullif(proargtypes, ''), ' ') AS INT[]))`:
/// datafusion-pg-catalog keeps the `oidvector` column as its text form (`16 16`, which pgjdbc
/// splits itself), and unnest needs an array (sqlsmith reads routine arguments this way).
fn oidvector_unnest(statement: &mut Statement) {
    use datafusion::sql::sqlparser::ast::{FunctionArg, FunctionArgExpr, visit_expressions_mut};
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Function(f) = expr
            && f.name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .is_some_and(|i| i.value.eq_ignore_ascii_case("unnest"))
            && let datafusion::sql::sqlparser::ast::FunctionArguments::List(list) = &mut f.args
            && let [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))] = list.args.as_mut_slice()
            && column_name(arg).is_some_and(|c| c.eq_ignore_ascii_case("proargtypes"))
        {
            let text = format!("CAST(string_to_array(nullif({arg}, ''), ' ') AS INT[])");
            if let Ok(new) = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(&text)
                .and_then(|mut p| p.parse_expr())
            {
                *arg = new;
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

/// In catalog-only statements, `(SELECT col FROM t WHERE ...)` whose correlation is not
/// spelled with a qualifier (sqlsmith's `(select nspname from pg_namespace where oid =
/// pronamespace)`) becomes `(SELECT max(col) ...)`: DataFusion decorrelates a scalar subquery
/// only when it is aggregated, and the compatibility rewrite's `LIMIT 1` made it unplannable.
/// Catalog lookups are by key, so the one row and its max are the same.
fn aggregate_lookups(statement: &mut Statement) {
    use datafusion::sql::sqlparser::ast::{
        Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments,
        GroupByExpr, ObjectName, visit_expressions_mut,
    };
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Subquery(q) = expr
            && !is_correlated(q)
            && let SetExpr::Select(select) = q.body.as_mut()
            && select.selection.is_some()
            && matches!(&select.group_by, GroupByExpr::Expressions(g, _) if g.is_empty())
            && select.projection.len() == 1
        {
            let item = match &mut select.projection[0] {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
                _ => return std::ops::ControlFlow::<()>::Continue(()),
            };
            if matches!(item, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
                let column = std::mem::replace(
                    item,
                    Expr::Value(datafusion::sql::sqlparser::ast::Value::Null.into()),
                );
                *item = Expr::Function(Function {
                    name: ObjectName::from(vec![Ident::new("max")]),
                    uses_odbc_syntax: false,
                    parameters: FunctionArguments::None,
                    args: FunctionArguments::List(FunctionArgumentList {
                        duplicate_treatment: None,
                        args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(column))],
                        clauses: vec![],
                    }),
                    filter: None,
                    null_treatment: None,
                    over: None,
                    within_group: vec![],
                });
                q.limit_clause = None;
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

/// Whether the statement has a correlated scalar subquery.
pub fn has_correlated_subquery(statement: &Statement) -> bool {
    use datafusion::sql::sqlparser::ast::visit_expressions;
    visit_expressions(statement, |expr| match expr {
        Expr::Subquery(q) if is_correlated(q) => std::ops::ControlFlow::Break(()),
        _ => std::ops::ControlFlow::Continue(()),
    })
    .is_break()
}

/// In catalog-only statements, correlated scalar subqueries DataFusion cannot decorrelate become
/// NULL (they look up defaults, identity options, collations and sequences, none of which a lake
/// table has).
pub fn null_correlated_subqueries(statement: &mut Statement) {
    use datafusion::sql::sqlparser::ast::{Value, VisitMut, VisitorMut, visit_expressions_mut};
    // A select item keeps the name Postgres gives the subquery (psql's `\d` reads the
    // `pg_get_expr` column of its default lookup).
    struct Items;
    impl VisitorMut for Items {
        type Break = ();
        fn pre_visit_query(&mut self, q: &mut Query) -> std::ops::ControlFlow<()> {
            if let SetExpr::Select(select) = q.body.as_mut() {
                for item in &mut select.projection {
                    let SelectItem::UnnamedExpr(e) = item else {
                        continue;
                    };
                    let mut inner = &*e;
                    while let Expr::Nested(n) = inner {
                        inner = n;
                    }
                    if let Expr::Subquery(sub) = inner
                        && is_correlated(sub)
                        && let Some(name) = pg_name(inner)
                    {
                        *item = SelectItem::ExprWithAlias {
                            expr: Expr::Value(Value::Null.into()),
                            alias: Ident::with_quote('"', name),
                        };
                    }
                }
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Items);
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Subquery(q) = expr
            && is_correlated(q)
        {
            *expr = Expr::Value(Value::Null.into());
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

/// `(expr).field` → `get_field(expr, 'field')`: DataFusion resolves dots only on column names.
pub fn field_access(statement: &mut Statement) {
    use datafusion::sql::sqlparser::ast::{AccessExpr, visit_expressions_mut};
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::CompoundFieldAccess { root, access_chain } = expr {
            let on_value = !matches!(
                root.as_ref(),
                Expr::Identifier(_) | Expr::CompoundIdentifier(_)
            );
            let all_dots = access_chain
                .iter()
                .all(|a| matches!(a, AccessExpr::Dot(Expr::Identifier(_))));
            if on_value && all_dots {
                let mut text = root.to_string();
                for a in access_chain.iter() {
                    if let AccessExpr::Dot(Expr::Identifier(i)) = a {
                        text = format!("get_field({text}, '{}')", i.value.replace('\'', "''"));
                    }
                }
                if let Ok(new) = Parser::new(&PostgreSqlDialect {})
                    .try_with_sql(&text)
                    .and_then(|mut p| p.parse_expr())
                {
                    *expr = new;
                }
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

/// Functions in FROM that DataFusion cannot run as table functions, as Postgres runs them:
/// `generate_series(array_lower(a, 1), array_upper(a, 1)) AS i` (arguments that are not
/// literals) and scalar functions such as `string_to_array(...) s` (one row, one column named
/// after the alias). Grafana's table browser joins the two over `search_path`.
pub fn set_returning_functions(statement: &mut Statement) {
    use datafusion::sql::sqlparser::ast::{
        FunctionArg, FunctionArgExpr, TableFactor, Value, VisitMut, VisitorMut,
    };
    struct V;
    impl VisitorMut for V {
        type Break = ();
        fn pre_visit_table_factor(
            &mut self,
            factor: &mut TableFactor,
        ) -> std::ops::ControlFlow<()> {
            let TableFactor::Table {
                name,
                args: Some(args),
                alias,
                with_ordinality: false,
                ..
            } = factor
            else {
                return std::ops::ControlFlow::Continue(());
            };
            let Some(function) = name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(|i| i.value.to_ascii_lowercase())
            else {
                return std::ops::ControlFlow::Continue(());
            };
            let literal = |a: &FunctionArg| {
                matches!(
                    a,
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v)))
                        if !matches!(v.value, Value::Placeholder(_))
                ) || matches!(
                    a,
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::UnaryOp { expr, .. }))
                        if matches!(expr.as_ref(), Expr::Value(_))
                )
            };
            let scalar = matches!(
                function.as_str(),
                "string_to_array"
                    | "regexp_split_to_array"
                    | "current_schemas"
                    | "array_lower"
                    | "array_upper"
                    | "current_setting"
            );
            let series = function == "generate_series" && !args.args.iter().all(literal);
            if !scalar && !series {
                // `generate_series(1, 3) AS g`: Postgres names the column after the alias.
                if function == "generate_series"
                    && let Some(a) = alias.as_mut().filter(|a| a.columns.is_empty())
                {
                    a.columns
                        .push(datafusion::sql::sqlparser::ast::TableAliasColumnDef {
                            name: a.name.clone(),
                            data_type: None,
                        });
                }
                return std::ops::ControlFlow::Continue(());
            }
            let column = alias
                .as_ref()
                .map(|a| {
                    a.columns
                        .first()
                        .map(|c| c.name.clone())
                        .unwrap_or_else(|| a.name.clone())
                })
                .unwrap_or_else(|| Ident::new(function.clone()));
            let table = alias
                .as_ref()
                .map(|a| a.name.clone())
                .unwrap_or_else(|| Ident::new(function.clone()));
            let list = args
                .args
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let call = format!("{name}({list})");
            let item = if series {
                format!("unnest({call})")
            } else {
                call
            };
            let sql = format!("SELECT * FROM (SELECT {item} AS {column}) AS {table}");
            if let Ok(Statement::Query(q)) = datafusion::sql::sqlparser::parser::Parser::new(
                &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
            )
            .try_with_sql(&sql)
            .and_then(|mut p| p.parse_statement())
                && let SetExpr::Select(s) = *q.body
                && let Some(t) = s.from.into_iter().next()
            {
                *factor = t.relation;
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut V);
}

/// A bare `user` is Postgres' `current_user` (a reserved word, so a column named user is
/// always quoted).
pub fn bare_user(statement: &mut Statement) {
    use datafusion::sql::sqlparser::ast::{FunctionArguments, ObjectName, visit_expressions_mut};
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Function(f) = expr {
            let bare = matches!(f.args, FunctionArguments::None)
                && matches!(f.name.0.as_slice(), [p] if p.as_ident().is_some_and(|i| i.quote_style.is_none() && i.value.eq_ignore_ascii_case("user")));
            if bare {
                f.name = ObjectName::from(vec![Ident::new("session_user")]);
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
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
        assert_eq!(
            named("SELECT 1, 2"),
            "SELECT CAST(1 AS INT), CAST(2 AS INT)"
        );
        assert_eq!(named("SELECT 1"), "SELECT CAST(1 AS INT) AS \"?column?\"");
        assert_eq!(
            named("SELECT 5000000000 AS big"),
            "SELECT 5000000000 AS big"
        );
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
