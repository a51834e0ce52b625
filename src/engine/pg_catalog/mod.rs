//! lakegate's own `pg_namespace`, `pg_class`, `pg_attribute`, `pg_description`, `pg_views` and
//! `pg_tables`, layered over datafusion-pg-catalog's schema (which keeps the static tables:
//! pg_type, pg_proc, pg_am, ...): the tables in `tables.rs`, the static types and functions in
//! `types.rs`, the SQL functions in `functions.rs`.
//!
//! Why our own: drivers cache OIDs and join these tables with each other, so OIDs must be stable
//! across queries, connections and restarts; datafusion-pg-catalog hands them out from a counter
//! on first sight and resets part of its cache on every pg_attribute scan. Here an OID is a hash
//! of the object's name (`pg_catalog` = 11 and `public` = 2200 as in Postgres), column types
//! come from the same mapping the wire uses (numeric precision/scale in `atttypmod`), and views
//! carry their definitions and descriptions.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int16Array, Int32Array, StringArray, UInt32Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{CatalogProviderList, SchemaProvider, Session};
use datafusion::common::ScalarValue;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarUDF, Signature, SimpleScalarUDF, TypeSignature, Volatility,
};
use datafusion::physical_plan::ExecutionPlan;

use crate::engine::pg_types::pg_type;

mod functions;
mod tables;
mod types;

pub use functions::*;
use tables::*;
pub use types::regproc_name;
use types::*;

/// Descriptions and view definitions keyed by OID, published by the views layer.
#[derive(Debug, Default)]
pub struct ObjectInfo {
    /// (object OID, column number or 0) → description
    pub descriptions: RwLock<HashMap<(i32, i32), String>>,
    /// view OID → definition
    pub view_definitions: RwLock<HashMap<i32, String>>,
    /// OID → (schema, name) of every object above, for access checks.
    pub names: RwLock<HashMap<i32, (String, String)>>,
}

impl ObjectInfo {
    /// Whether `access` (None: everything) may read the object with this OID.
    fn visible(&self, access: Option<&crate::auth::Access>, oid: i32) -> bool {
        access.is_none_or(|a| {
            self.names
                .read()
                .ok()
                .and_then(|n| n.get(&oid).map(|(s, t)| a.can_read(s, t)))
                .unwrap_or(false)
        })
    }
}

const PG_CLASS_OID: i32 = 1259;

/// Stable OID of a namespace.
pub fn namespace_oid(name: &str) -> i32 {
    match name {
        "pg_catalog" => 11,
        "public" => 2200,
        "information_schema" => 13283,
        other => hashed_oid("n", other, ""),
    }
}

/// Stable OID of a relation.
pub fn relation_oid(schema: &str, name: &str) -> i32 {
    hashed_oid("r", schema, name)
}

/// Stable OID of a relation's row type (`pg_class.reltype`, a `pg_type` row).
pub fn row_type_oid(schema: &str, name: &str) -> i32 {
    hashed_oid("t", schema, name)
}

/// FNV-1a into the range user objects get in Postgres (16384 ..= i32::MAX).
fn hashed_oid(kind: &str, a: &str, b: &str) -> i32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in kind
        .bytes()
        .chain([0])
        .chain(a.bytes())
        .chain([0])
        .chain(b.bytes())
    {
        h ^= byte as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (16_384 + (h % (i32::MAX as u64 - 16_384)) as i64) as i32
}

pub(crate) struct Relation {
    pub oid: i32,
    pub schema: String,
    pub name: String,
    pub kind: &'static str,
    pub fields: SchemaRef,
}

/// Every schema and relation of the database, read at scan time.
pub(crate) async fn walk(
    list: &Arc<dyn CatalogProviderList>,
    database: &str,
) -> (Vec<String>, Vec<Relation>) {
    let mut schemas = Vec::new();
    let mut relations = Vec::new();
    let Some(catalog) = list.catalog(database) else {
        return (schemas, relations);
    };
    let mut names = catalog.schema_names();
    names.sort();
    for schema_name in names {
        let Some(schema) = catalog.schema(&schema_name) else {
            continue;
        };
        let mut tables = schema.table_names();
        tables.sort();
        for t in tables {
            let Ok(Some(provider)) = schema.table(&t).await else {
                continue;
            };
            let kind = match provider.table_type() {
                TableType::View => "v",
                _ => "r",
            };
            // pg_catalog's own tables are relations, as in Postgres.
            let kind = if schema_name == "pg_catalog" {
                "r"
            } else {
                kind
            };
            relations.push(Relation {
                oid: relation_oid(&schema_name, &t),
                schema: schema_name.clone(),
                name: t,
                kind,
                fields: provider.schema(),
            });
        }
        schemas.push(schema_name);
    }
    if !schemas.iter().any(|s| s == "information_schema") {
        schemas.push("information_schema".into());
    }
    (schemas, relations)
}

/// A catalog table computed from the live catalog each time it is scanned.
#[async_trait]
pub(crate) trait ComputedTable: std::fmt::Debug + Send + Sync + 'static {
    fn table_schema(&self) -> SchemaRef;
    /// `state` is the scanning session's: its catalog list is what that user may see.
    async fn compute(&self, state: &dyn Session) -> Result<RecordBatch>;
}

/// The catalogs the scanning session sees (a restricted user's list hides what they may not
/// read), or `fallback` when the session is not a DataFusion `SessionState`.
pub(crate) fn session_list(
    state: &dyn Session,
    fallback: &Arc<dyn CatalogProviderList>,
) -> Arc<dyn CatalogProviderList> {
    state
        .as_any()
        .downcast_ref::<datafusion::execution::SessionState>()
        .map(|s| s.catalog_list().clone())
        .unwrap_or_else(|| fallback.clone())
}

/// Serves a [`ComputedTable`] to DataFusion.
#[derive(Debug)]
pub(crate) struct Computed<T>(pub T);

#[async_trait]
impl<T: ComputedTable> TableProvider for Computed<T> {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn schema(&self) -> SchemaRef {
        self.0.table_schema()
    }
    fn table_type(&self) -> TableType {
        TableType::View
    }
    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batch = self.0.compute(state).await?;
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            self.0.table_schema(),
            projection.cloned(),
        )?)
    }
}

/// datafusion-pg-catalog's schema with our dynamic tables in front.
pub struct LakePgCatalog {
    inner: Arc<dyn SchemaProvider>,
    overrides: HashMap<&'static str, Arc<dyn TableProvider>>,
}

impl std::fmt::Debug for LakePgCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LakePgCatalog")
    }
}

impl LakePgCatalog {
    pub fn new(
        inner: Arc<dyn SchemaProvider>,
        list: Arc<dyn CatalogProviderList>,
        database: &str,
        info: Arc<ObjectInfo>,
        lake: Arc<crate::catalog::LakeCatalog>,
    ) -> LakePgCatalog {
        let mut overrides: HashMap<&'static str, Arc<dyn TableProvider>> = HashMap::new();
        for (name, kind) in [
            ("pg_namespace", Kind::Namespace),
            ("pg_class", Kind::Class),
            ("pg_attribute", Kind::Attribute),
            ("pg_description", Kind::Description),
            ("pg_views", Kind::Views),
            ("pg_tables", Kind::Tables),
        ] {
            overrides.insert(
                name,
                Arc::new(Computed(PgTable {
                    kind,
                    schema: schema_of(kind),
                    list: list.clone(),
                    database: database.to_string(),
                    info: info.clone(),
                    lake: lake.clone(),
                })),
            );
        }
        overrides.insert(
            "pg_type",
            Arc::new(Computed(PgType {
                list: list.clone(),
                database: database.to_string(),
            })),
        );
        for (name, schema) in empty_tables() {
            if let Ok(t) = datafusion::catalog::MemTable::try_new(schema, vec![vec![]]) {
                overrides.insert(name, Arc::new(t));
            }
        }
        LakePgCatalog { inner, overrides }
    }
}

#[async_trait]
impl SchemaProvider for LakePgCatalog {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn table_names(&self) -> Vec<String> {
        let mut names = self.inner.table_names();
        for k in self.overrides.keys() {
            if !names.iter().any(|n| n == k) {
                names.push(k.to_string());
            }
        }
        names
    }
    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(t) = self.overrides.get(name) {
            return Ok(Some(t.clone()));
        }
        self.inner.table(name).await
    }
    fn table_exist(&self, name: &str) -> bool {
        self.overrides.contains_key(name) || self.inner.table_exist(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_translate_in_one_pass() {
        assert_eq!(translate_like("pg/_%", '/'), "pg\\_%");
        assert_eq!(translate_like("%1//2%", '/'), "%1/2%");
        assert_eq!(translate_like("a\\b", '/'), "a\\\\b");
    }

    #[test]
    fn oids_are_stable_and_in_the_user_range() {
        assert_eq!(relation_oid("gold", "x"), relation_oid("gold", "x"));
        assert_ne!(relation_oid("gold", "x"), relation_oid("gold", "y"));
        assert_ne!(relation_oid("a", "bc"), relation_oid("ab", "c"));
        assert!(relation_oid("gold", "x") >= 16_384);
        assert_eq!(namespace_oid("pg_catalog"), 11);
        assert_eq!(namespace_oid("public"), 2200);
    }
}
