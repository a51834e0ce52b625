//! `has_table_privilege`, `has_schema_privilege`, `has_any_column_privilege`,
//! `has_column_privilege` and `has_database_privilege`, answered from the session's grants.
//! BI tools call them to decide what to list, so they must say what the user may really do:
//! SELECT where the roles grant it, USAGE on schemas the grants reach, and never a write
//! privilege (clients are read-only).

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{ArrayRef, BooleanBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::CatalogProviderList;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::pg_catalog::{namespace_oid, relation_oid};
use super::settings::Settings;
use crate::auth::Access;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Object {
    Table,
    Column,
    AnyColumn,
    Schema,
    Database,
}

/// What the privilege functions of one session read.
pub struct Privileges {
    access: Arc<Access>,
    user: String,
    settings: Arc<Mutex<Settings>>,
    /// The session's catalogs: a restricted user's list shows only what they may read.
    list: Arc<dyn CatalogProviderList>,
    database: String,
}

impl Privileges {
    pub fn new(
        access: Arc<Access>,
        user: &str,
        settings: Arc<Mutex<Settings>>,
        list: Arc<dyn CatalogProviderList>,
        database: &str,
    ) -> Arc<Privileges> {
        Arc::new(Privileges {
            access,
            user: user.to_string(),
            settings,
            list,
            database: database.to_string(),
        })
    }

    /// The five functions, bound to this session.
    pub fn udfs(self: &Arc<Self>) -> Vec<ScalarUDF> {
        [
            ("has_table_privilege", Object::Table),
            ("has_column_privilege", Object::Column),
            ("has_any_column_privilege", Object::AnyColumn),
            ("has_schema_privilege", Object::Schema),
            ("has_database_privilege", Object::Database),
        ]
        .into_iter()
        .map(|(name, object)| {
            ScalarUDF::new_from_impl(HasPrivilege {
                name,
                object,
                signature: Signature::variadic_any(Volatility::Stable),
                p: self.clone(),
            })
        })
        .collect()
    }

    /// OID → (schema, table) of every relation the session sees (built once per call).
    fn relation_oids(&self) -> HashMap<i32, (String, String)> {
        let mut out = HashMap::new();
        if let Some(catalog) = self.list.catalog(&self.database) {
            for schema in catalog.schema_names() {
                if let Some(s) = catalog.schema(&schema) {
                    for table in s.table_names() {
                        out.insert(relation_oid(&schema, &table), (schema.clone(), table));
                    }
                }
            }
        }
        out
    }

    /// A relation named as text: `schema.table` (quotes allowed) or a name found on the
    /// search_path.
    pub(crate) fn resolve_name(&self, text: &str) -> Option<(String, String)> {
        let parts = split_name(text);
        let catalog = self.list.catalog(&self.database)?;
        let exists = |schema: &str, table: &str| {
            catalog.schema(schema).is_some_and(|s| s.table_exist(table))
        };
        match parts.as_slice() {
            [schema, table] => Some((schema.clone(), table.clone())),
            [_, schema, table] => Some((schema.clone(), table.clone())),
            [table] => {
                let path = self.settings.lock().expect("settings lock").search_path();
                std::iter::once("pg_catalog".to_string())
                    .chain(path)
                    .find(|s| exists(s, table))
                    .map(|s| (s, table.clone()))
            }
            _ => None,
        }
    }

    fn exists(&self, schema: &str, table: &str) -> bool {
        self.list
            .catalog(&self.database)
            .and_then(|c| c.schema(schema))
            .is_some_and(|s| s.table_exist(table))
    }

    fn schema_of_oid(&self, oid: i32) -> Option<String> {
        let catalog = self.list.catalog(&self.database)?;
        catalog
            .schema_names()
            .into_iter()
            .find(|s| namespace_oid(s) == oid)
    }

    /// Whether the session's own user is asked about (another role's grants are not known to
    /// this session: the answer for them is false).
    fn is_self(&self, v: &ScalarValue) -> bool {
        match v {
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)) => s == &self.user,
            // A role OID: the session's user is the only role it knows.
            _ => true,
        }
    }
}

/// `a.b` / `"A"."b"` → parts, unquoted; unquoted parts are folded to lower case (Postgres).
fn split_name(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => {
                quoted = !quoted;
                was_quoted = true;
            }
            '.' if !quoted => {
                parts.push(if was_quoted {
                    cur.clone()
                } else {
                    cur.to_lowercase()
                });
                cur.clear();
                was_quoted = false;
            }
            c => cur.push(c),
        }
    }
    parts.push(if was_quoted { cur } else { cur.to_lowercase() });
    parts
}

/// Each privilege of a list such as `'SELECT, INSERT WITH GRANT OPTION'`.
fn privileges(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(',').map(|p| {
        let p = p.trim().to_ascii_lowercase();
        p.strip_suffix("with grant option")
            .map(|s| s.trim().to_string())
            .unwrap_or(p)
    })
}

#[derive(Debug)]
struct HasPrivilege {
    name: &'static str,
    object: Object,
    signature: Signature,
    p: Arc<Privileges>,
}

impl std::fmt::Debug for Privileges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Privileges")
            .field("user", &self.user)
            .finish()
    }
}

impl PartialEq for HasPrivilege {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.p, &other.p)
    }
}
impl Eq for HasPrivilege {}
impl std::hash::Hash for HasPrivilege {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        (Arc::as_ptr(&self.p) as usize).hash(state);
    }
}

impl ScalarUDFImpl for HasPrivilege {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // (object..., privilege) after an optional leading user.
        let objects = match self.object {
            Object::Column => 2,
            _ => 1,
        };
        let n = args.args.len();
        if n != objects + 1 && n != objects + 2 {
            return Err(datafusion::error::DataFusionError::Plan(format!(
                "function {}() takes {} or {} arguments",
                self.name,
                objects + 1,
                objects + 2
            )));
        }
        let rows = args.number_rows;
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<_>>()?;
        let with_user = n == objects + 2;
        let mut oids: Option<HashMap<i32, (String, String)>> = None;
        let mut out = BooleanBuilder::with_capacity(rows);
        for i in 0..rows {
            let vals: Vec<ScalarValue> = arrays
                .iter()
                .map(|a| ScalarValue::try_from_array(a, i))
                .collect::<Result<_>>()?;
            if vals.iter().any(ScalarValue::is_null) {
                out.append_null();
                continue;
            }
            let (user, rest) = if with_user {
                (Some(&vals[0]), &vals[1..])
            } else {
                (None, &vals[..])
            };
            if user.is_some_and(|u| !self.p.is_self(u)) {
                out.append_value(false);
                continue;
            }
            let wanted = text(&rest[rest.len() - 1]);
            let answer = match self.object {
                Object::Database => privileges(&wanted).any(|p| p == "connect"),
                Object::Schema => {
                    let schema = match oid(&rest[0]) {
                        Some(o) => self.p.schema_of_oid(o),
                        None => Some(split_name(&text(&rest[0])).pop().unwrap_or_default()),
                    };
                    schema.is_some_and(|s| {
                        privileges(&wanted).any(|p| p == "usage")
                            && self.p.access.can_see_schema(&s)
                    })
                }
                Object::Table | Object::Column | Object::AnyColumn => {
                    let relation = match oid(&rest[0]) {
                        Some(o) => oids
                            .get_or_insert_with(|| self.p.relation_oids())
                            .get(&o)
                            .cloned(),
                        None => self.p.resolve_name(&text(&rest[0])),
                    };
                    relation.is_some_and(|(s, t)| {
                        let base = crate::catalog::travel::base_name(&t);
                        // A filtered or masked table's metadata tables are refused to queries.
                        let refused_metadata = crate::catalog::identity::part_of_name(&t)
                            == crate::catalog::identity::Part::Metadata
                            && (!self.p.access.row_filters(&s, base).is_empty()
                                || !self.p.access.column_masks(&s, base).is_empty());
                        privileges(&wanted).any(|p| p == "select")
                            && self.p.access.can_read(&s, base)
                            && !refused_metadata
                            && self.p.exists(&s, &t)
                    })
                }
            };
            out.append_value(answer);
        }
        let array = out.finish();
        Ok(
            if rows == 1
                && args
                    .args
                    .iter()
                    .all(|a| matches!(a, ColumnarValue::Scalar(_)))
            {
                ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?)
            } else {
                ColumnarValue::Array(Arc::new(array) as ArrayRef)
            },
        )
    }
}

fn text(v: &ScalarValue) -> String {
    match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => s.clone(),
        other => other.to_string(),
    }
}

/// An OID argument (integers); text arguments are names.
fn oid(v: &ScalarValue) -> Option<i32> {
    match v {
        ScalarValue::Int32(Some(x)) => Some(*x),
        ScalarValue::Int64(Some(x)) => Some(*x as i32),
        ScalarValue::UInt32(Some(x)) => Some(*x as i32),
        ScalarValue::Int16(Some(x)) => Some(i32::from(*x)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_privilege_lists() {
        assert_eq!(split_name("silver.Users"), vec!["silver", "users"]);
        assert_eq!(split_name("\"Silver\".\"a.b\""), vec!["Silver", "a.b"]);
        assert_eq!(split_name("t"), vec!["t"]);
        let p: Vec<String> = privileges("SELECT, insert WITH GRANT OPTION").collect();
        assert_eq!(p, vec!["select", "insert"]);
    }
}
