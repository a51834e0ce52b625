//! lakegate's own `pg_namespace`, `pg_class`, `pg_attribute`, `pg_description`, `pg_views` and
//! `pg_tables`, layered over datafusion-pg-catalog's schema (which keeps the static tables:
//! pg_type, pg_proc, pg_am, ...).
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
    ArrayRef, BooleanArray, Float64Array, Int16Array, Int32Array, StringArray,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Namespace,
    Class,
    Attribute,
    Description,
    Views,
    Tables,
}

/// One dynamic pg_catalog table.
struct PgTable {
    kind: Kind,
    schema: SchemaRef,
    list: Arc<dyn CatalogProviderList>,
    database: String,
    info: Arc<ObjectInfo>,
    /// For pg_class's relpages and reltuples (from each Delta log).
    lake: Arc<crate::catalog::LakeCatalog>,
}

impl std::fmt::Debug for PgTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgTable({:?})", self.kind)
    }
}

fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}
fn i32f(name: &str) -> Field {
    Field::new(name, DataType::Int32, false)
}
fn boolf(name: &str) -> Field {
    Field::new(name, DataType::Boolean, false)
}

fn schema_of(kind: Kind) -> SchemaRef {
    Arc::new(Schema::new(match kind {
        Kind::Namespace => vec![
            i32f("oid"),
            utf8("nspname", false),
            i32f("nspowner"),
            utf8("nspacl", true),
            utf8("options", true),
        ],
        Kind::Class => vec![
            i32f("oid"),
            utf8("relname", false),
            i32f("relnamespace"),
            i32f("reltype"),
            Field::new("reloftype", DataType::Int32, true),
            i32f("relowner"),
            i32f("relam"),
            i32f("relfilenode"),
            i32f("reltablespace"),
            i32f("relpages"),
            Field::new("reltuples", DataType::Float64, false),
            i32f("relallvisible"),
            i32f("reltoastrelid"),
            boolf("relhasindex"),
            boolf("relisshared"),
            utf8("relpersistence", false),
            utf8("relkind", false),
            Field::new("relnatts", DataType::Int16, false),
            Field::new("relchecks", DataType::Int16, false),
            boolf("relhasrules"),
            boolf("relhastriggers"),
            boolf("relhassubclass"),
            boolf("relrowsecurity"),
            boolf("relforcerowsecurity"),
            boolf("relispopulated"),
            utf8("relreplident", false),
            boolf("relispartition"),
            Field::new("relrewrite", DataType::Int32, true),
            i32f("relfrozenxid"),
            i32f("relminmxid"),
            utf8("relacl", true),
            Field::new(
                "reloptions",
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                true,
            ),
            utf8("relpartbound", true),
        ],
        Kind::Attribute => vec![
            i32f("attrelid"),
            utf8("attname", false),
            i32f("atttypid"),
            i32f("attstattarget"),
            Field::new("attlen", DataType::Int16, false),
            Field::new("attnum", DataType::Int16, false),
            i32f("attndims"),
            i32f("attcacheoff"),
            i32f("atttypmod"),
            boolf("attbyval"),
            utf8("attalign", false),
            utf8("attstorage", false),
            utf8("attcompression", true),
            boolf("attnotnull"),
            boolf("atthasdef"),
            boolf("atthasmissing"),
            utf8("attidentity", false),
            utf8("attgenerated", false),
            boolf("attisdropped"),
            boolf("attislocal"),
            i32f("attinhcount"),
            i32f("attcollation"),
            utf8("attacl", true),
            utf8("attoptions", true),
            utf8("attfdwoptions", true),
            utf8("attmissingval", true),
        ],
        Kind::Description => vec![
            i32f("objoid"),
            i32f("classoid"),
            i32f("objsubid"),
            utf8("description", false),
        ],
        Kind::Views => vec![
            utf8("schemaname", true),
            utf8("viewname", true),
            utf8("viewowner", true),
            utf8("definition", true),
        ],
        Kind::Tables => vec![
            utf8("schemaname", false),
            utf8("tablename", false),
            utf8("tableowner", false),
            utf8("tablespace", true),
            boolf("hasindexes"),
            boolf("hasrules"),
            boolf("hastriggers"),
            boolf("rowsecurity"),
        ],
    }))
}

fn strings<I: IntoIterator<Item = Option<String>>>(v: I) -> ArrayRef {
    Arc::new(StringArray::from(v.into_iter().collect::<Vec<_>>()))
}
fn consts_i32(n: usize, v: i32) -> ArrayRef {
    Arc::new(Int32Array::from(vec![v; n]))
}
fn consts_bool(n: usize, v: bool) -> ArrayRef {
    Arc::new(BooleanArray::from(vec![v; n]))
}
fn consts_str(n: usize, v: Option<&str>) -> ArrayRef {
    strings((0..n).map(|_| v.map(str::to_string)))
}

/// (typlen, typbyval, typalign) for a type, as pg_type has them.
fn type_layout(t: &pgwire::api::Type) -> (i16, bool, &'static str) {
    use pgwire::api::Type;
    match *t {
        Type::BOOL => (1, true, "c"),
        Type::INT2 => (2, true, "s"),
        Type::INT4 | Type::FLOAT4 | Type::DATE => (4, true, "i"),
        Type::INT8 | Type::FLOAT8 | Type::TIMESTAMP | Type::TIMESTAMPTZ | Type::TIME => {
            (8, true, "d")
        }
        Type::UUID => (16, false, "c"),
        Type::INTERVAL => (16, false, "d"),
        _ => (-1, false, "i"),
    }
}

impl PgTable {
    async fn batch(&self, list: &Arc<dyn CatalogProviderList>) -> Result<RecordBatch> {
        let (schemas, rels) = walk(list, &self.database).await;
        let n_rel = rels.len();
        let columns: Vec<ArrayRef> = match self.kind {
            Kind::Namespace => {
                let n = schemas.len();
                vec![
                    Arc::new(Int32Array::from(
                        schemas.iter().map(|s| namespace_oid(s)).collect::<Vec<_>>(),
                    )),
                    strings(schemas.iter().map(|s| Some(s.clone()))),
                    consts_i32(n, 10),
                    consts_str(n, None),
                    consts_str(n, None),
                ]
            }
            Kind::Class => {
                let n = n_rel;
                let snapshot = self.lake.snapshot();
                // A row filter or mask hides rows: the whole table's count and size are not
                // this user's to see.
                let access = super::access::session_access(list, &self.database);
                let stats: Vec<Option<crate::catalog::TableStats>> = rels
                    .iter()
                    .map(|r| {
                        (r.kind == "r"
                            && super::access::sees_whole(access.as_deref(), &r.schema, &r.name))
                        .then(|| snapshot.table(&r.schema, &r.name))
                        .flatten()
                        .map(|e| e.stats())
                    })
                    .collect();
                vec![
                    Arc::new(Int32Array::from(
                        rels.iter().map(|r| r.oid).collect::<Vec<_>>(),
                    )),
                    strings(rels.iter().map(|r| Some(r.name.clone()))),
                    Arc::new(Int32Array::from(
                        rels.iter()
                            .map(|r| namespace_oid(&r.schema))
                            .collect::<Vec<_>>(),
                    )),
                    consts_i32(n, 0),
                    Arc::new(Int32Array::from(vec![Some(0); n])),
                    consts_i32(n, 10),
                    Arc::new(Int32Array::from(
                        rels.iter()
                            .map(|r| if r.kind == "r" { 2 } else { 0 })
                            .collect::<Vec<_>>(),
                    )),
                    Arc::new(Int32Array::from(
                        rels.iter().map(|r| r.oid).collect::<Vec<_>>(),
                    )),
                    consts_i32(n, 0),
                    Arc::new(Int32Array::from(
                        stats
                            .iter()
                            .map(|s| {
                                s.map_or(0, |s| {
                                    i32::try_from((s.bytes.max(0) as u64).div_ceil(8192))
                                        .unwrap_or(i32::MAX)
                                })
                            })
                            .collect::<Vec<_>>(),
                    )),
                    // -1: never counted, as Postgres says before the first ANALYZE.
                    Arc::new(Float64Array::from(
                        stats
                            .iter()
                            .map(|s| s.and_then(|s| s.rows).map_or(-1.0, |r| r as f64))
                            .collect::<Vec<_>>(),
                    )),
                    consts_i32(n, 0),
                    consts_i32(n, 0),
                    consts_bool(n, false),
                    consts_bool(n, false),
                    consts_str(n, Some("p")),
                    strings(rels.iter().map(|r| Some(r.kind.to_string()))),
                    Arc::new(Int16Array::from(
                        rels.iter()
                            .map(|r| r.fields.fields().len() as i16)
                            .collect::<Vec<_>>(),
                    )),
                    Arc::new(Int16Array::from(vec![0i16; n])),
                    consts_bool(n, false),
                    consts_bool(n, false),
                    consts_bool(n, false),
                    consts_bool(n, false),
                    consts_bool(n, false),
                    consts_bool(n, true),
                    consts_str(n, Some("d")),
                    consts_bool(n, false),
                    Arc::new(Int32Array::from(vec![Some(0); n])),
                    consts_i32(n, 0),
                    consts_i32(n, 0),
                    consts_str(n, None),
                    datafusion::arrow::array::new_null_array(
                        &self.schema.field(31).data_type().clone(),
                        n,
                    ),
                    consts_str(n, None),
                ]
            }
            Kind::Attribute => {
                let mut relid = Vec::new();
                let mut name = Vec::new();
                let mut typid = Vec::new();
                let mut len = Vec::new();
                let mut num = Vec::new();
                let mut ndims = Vec::new();
                let mut typmod = Vec::new();
                let mut byval = Vec::new();
                let mut align = Vec::new();
                let mut storage = Vec::new();
                let mut notnull = Vec::new();
                for r in &rels {
                    for (i, f) in r.fields.fields().iter().enumerate() {
                        let (t, m) = pg_type(f);
                        let (l, bv, al) = type_layout(&t);
                        relid.push(r.oid);
                        name.push(Some(f.name().clone()));
                        typid.push(t.oid() as i32);
                        len.push(l);
                        num.push(i as i16 + 1);
                        ndims.push(t.name().starts_with('_') as i32);
                        typmod.push(m);
                        byval.push(bv);
                        align.push(Some(al.to_string()));
                        storage.push(Some(if l == -1 { "x" } else { "p" }.to_string()));
                        notnull.push(!f.is_nullable());
                    }
                }
                let n = relid.len();
                vec![
                    Arc::new(Int32Array::from(relid)),
                    strings(name),
                    Arc::new(Int32Array::from(typid)),
                    consts_i32(n, -1),
                    Arc::new(Int16Array::from(len)),
                    Arc::new(Int16Array::from(num)),
                    Arc::new(Int32Array::from(ndims)),
                    consts_i32(n, -1),
                    Arc::new(Int32Array::from(typmod)),
                    Arc::new(BooleanArray::from(byval)),
                    strings(align),
                    strings(storage),
                    consts_str(n, None),
                    Arc::new(BooleanArray::from(notnull)),
                    consts_bool(n, false),
                    consts_bool(n, false),
                    consts_str(n, Some("")),
                    consts_str(n, Some("")),
                    consts_bool(n, false),
                    consts_bool(n, true),
                    consts_i32(n, 0),
                    consts_i32(n, 0),
                    consts_str(n, None),
                    consts_str(n, None),
                    consts_str(n, None),
                    consts_str(n, None),
                ]
            }
            Kind::Description => {
                // Only the objects this session sees: `rels` is walked through its catalog.
                let visible: std::collections::HashSet<i32> = rels.iter().map(|r| r.oid).collect();
                let mut rows: Vec<((i32, i32), String)> = self
                    .info
                    .descriptions
                    .read()
                    .expect("info lock")
                    .iter()
                    .filter(|(k, _)| visible.contains(&k.0))
                    .map(|(k, v)| (*k, v.clone()))
                    .collect();
                rows.sort();
                let n = rows.len();
                vec![
                    Arc::new(Int32Array::from(
                        rows.iter().map(|r| r.0.0).collect::<Vec<_>>(),
                    )),
                    consts_i32(n, PG_CLASS_OID),
                    Arc::new(Int32Array::from(
                        rows.iter().map(|r| r.0.1).collect::<Vec<_>>(),
                    )),
                    strings(rows.iter().map(|r| Some(r.1.clone()))),
                ]
            }
            Kind::Views => {
                let defs = self.info.view_definitions.read().expect("info lock");
                let views: Vec<&Relation> = rels.iter().filter(|r| r.kind == "v").collect();
                let n = views.len();
                vec![
                    strings(views.iter().map(|r| Some(r.schema.clone()))),
                    strings(views.iter().map(|r| Some(r.name.clone()))),
                    consts_str(n, Some("lakegate")),
                    strings(views.iter().map(|r| defs.get(&r.oid).cloned())),
                ]
            }
            Kind::Tables => {
                let tables: Vec<&Relation> = rels.iter().filter(|r| r.kind == "r").collect();
                let n = tables.len();
                vec![
                    strings(tables.iter().map(|r| Some(r.schema.clone()))),
                    strings(tables.iter().map(|r| Some(r.name.clone()))),
                    consts_str(n, Some("lakegate")),
                    consts_str(n, None),
                    consts_bool(n, false),
                    consts_bool(n, false),
                    consts_bool(n, false),
                    consts_bool(n, false),
                ]
            }
        };
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
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

#[async_trait]
impl ComputedTable for PgTable {
    fn table_schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    async fn compute(&self, state: &dyn Session) -> Result<RecordBatch> {
        self.batch(&session_list(state, &self.list)).await
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
        overrides.insert("pg_type", Arc::new(Computed(PgType)));
        for (name, schema) in empty_tables() {
            if let Ok(t) = datafusion::catalog::MemTable::try_new(schema, vec![vec![]]) {
                overrides.insert(name, Arc::new(t));
            }
        }
        LakePgCatalog { inner, overrides }
    }
}

/// Catalog tables that are empty for a lake (no indexes, constraints, defaults), declared with
/// Postgres' column types so drivers can `unnest(indkey)` and compare `conkey`.
fn empty_tables() -> Vec<(&'static str, SchemaRef)> {
    let list = |name: &str, t: DataType| {
        Field::new(
            name,
            DataType::List(Arc::new(Field::new("item", t, true))),
            true,
        )
    };
    let i16f = |name: &str| Field::new(name, DataType::Int16, false);
    vec![
        (
            "pg_index",
            Arc::new(Schema::new(vec![
                i32f("indexrelid"),
                i32f("indrelid"),
                i16f("indnatts"),
                i16f("indnkeyatts"),
                boolf("indisunique"),
                boolf("indnullsnotdistinct"),
                boolf("indisprimary"),
                boolf("indisexclusion"),
                boolf("indimmediate"),
                boolf("indisclustered"),
                boolf("indisvalid"),
                boolf("indcheckxmin"),
                boolf("indisready"),
                boolf("indislive"),
                boolf("indisreplident"),
                list("indkey", DataType::Int16),
                list("indcollation", DataType::Int32),
                list("indclass", DataType::Int32),
                list("indoption", DataType::Int16),
                utf8("indexprs", true),
                utf8("indpred", true),
            ])),
        ),
        (
            "pg_constraint",
            Arc::new(Schema::new(vec![
                i32f("oid"),
                utf8("conname", false),
                i32f("connamespace"),
                utf8("contype", false),
                boolf("condeferrable"),
                boolf("condeferred"),
                boolf("convalidated"),
                i32f("conrelid"),
                i32f("contypid"),
                i32f("conindid"),
                i32f("conparentid"),
                i32f("confrelid"),
                utf8("confupdtype", false),
                utf8("confdeltype", false),
                utf8("confmatchtype", false),
                boolf("conislocal"),
                i32f("coninhcount"),
                boolf("connoinherit"),
                list("conkey", DataType::Int16),
                list("confkey", DataType::Int16),
                list("conpfeqop", DataType::Int32),
                list("conppeqop", DataType::Int32),
                list("conffeqop", DataType::Int32),
                list("confdelsetcols", DataType::Int16),
                list("conexclop", DataType::Int32),
                utf8("conbin", true),
            ])),
        ),
        (
            "pg_attrdef",
            Arc::new(Schema::new(vec![
                i32f("oid"),
                i32f("adrelid"),
                i16f("adnum"),
                utf8("adbin", false),
            ])),
        ),
    ]
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

fn oid_arg(v: &ScalarValue) -> Option<i32> {
    match v {
        ScalarValue::Int32(x) => *x,
        ScalarValue::Int64(x) => x.map(|x| x as i32),
        ScalarValue::UInt32(x) => x.map(|x| x as i32),
        ScalarValue::Utf8(Some(s)) => s.parse().ok(),
        _ => None,
    }
}

fn int_arg(v: &ScalarValue) -> Option<i32> {
    match v {
        ScalarValue::Int16(x) => x.map(|x| x as i32),
        ScalarValue::Int32(x) => *x,
        ScalarValue::Int64(x) => x.map(|x| x as i32),
        _ => None,
    }
}

/// Applies `f` row by row over the arguments (scalars are broadcast).
fn lookup_udf(
    name: &str,
    arg_sets: Vec<Vec<DataType>>,
    f: impl Fn(&[ScalarValue]) -> Option<String> + Send + Sync + 'static,
) -> ScalarUDF {
    let signature = Signature::one_of(
        arg_sets.into_iter().map(TypeSignature::Exact).collect(),
        Volatility::Stable,
    );
    let fun = Arc::new(move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let rows = args.iter().find_map(|a| match a {
            ColumnarValue::Array(a) => Some(a.len()),
            _ => None,
        });
        match rows {
            None => {
                let vals: Vec<ScalarValue> = args
                    .iter()
                    .map(|a| match a {
                        ColumnarValue::Scalar(s) => s.clone(),
                        ColumnarValue::Array(_) => unreachable!(),
                    })
                    .collect();
                Ok(ColumnarValue::Scalar(ScalarValue::Utf8(f(&vals))))
            }
            Some(n) => {
                let mut out = Vec::with_capacity(n);
                for i in 0..n {
                    let vals = args
                        .iter()
                        .map(|a| match a {
                            ColumnarValue::Scalar(s) => Ok(s.clone()),
                            ColumnarValue::Array(arr) => ScalarValue::try_from_array(arr, i),
                        })
                        .collect::<Result<Vec<_>>>()?;
                    out.push(f(&vals));
                }
                Ok(ColumnarValue::Array(Arc::new(StringArray::from(out))))
            }
        }
    });
    ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        name,
        signature,
        DataType::Utf8,
        fun,
    ))
}

/// `obj_description`, `col_description`, `pg_get_viewdef`, `shobj_description`; with
/// `access`, objects that user may not read have none (NULL, as for unknown OIDs).
pub fn description_udfs(
    info: Arc<ObjectInfo>,
    access: Option<Arc<crate::auth::Access>>,
) -> Vec<ScalarUDF> {
    use DataType::*;
    let oids = [Int32, Int64, UInt32];
    let (a1, a2, a3) = (access.clone(), access.clone(), access);
    let i1 = info.clone();
    let obj = lookup_udf(
        "obj_description",
        oids.iter()
            .flat_map(|o| [vec![o.clone()], vec![o.clone(), Utf8]])
            .collect(),
        move |a| {
            let oid = oid_arg(&a[0])?;
            if !i1.visible(a1.as_deref(), oid) {
                return None;
            }
            i1.descriptions.read().ok()?.get(&(oid, 0)).cloned()
        },
    );
    let i2 = info.clone();
    let col = lookup_udf(
        "col_description",
        oids.iter()
            .flat_map(|o| {
                [
                    vec![o.clone(), Int16],
                    vec![o.clone(), Int32],
                    vec![o.clone(), Int64],
                ]
            })
            .collect(),
        move |a| {
            let oid = oid_arg(&a[0])?;
            let sub = int_arg(&a[1])?;
            if !i2.visible(a2.as_deref(), oid) {
                return None;
            }
            i2.descriptions.read().ok()?.get(&(oid, sub)).cloned()
        },
    );
    let i3 = info;
    let viewdef = lookup_udf(
        "pg_get_viewdef",
        oids.iter()
            .flat_map(|o| {
                [
                    vec![o.clone()],
                    vec![o.clone(), Boolean],
                    vec![o.clone(), Int32],
                ]
            })
            .chain([vec![Utf8], vec![Utf8, Boolean]])
            .collect(),
        move |a| {
            let oid = oid_arg(&a[0])?;
            if !i3.visible(a3.as_deref(), oid) {
                return None;
            }
            i3.view_definitions.read().ok()?.get(&oid).cloned()
        },
    );
    let shobj = lookup_udf(
        "shobj_description",
        oids.iter().map(|o| vec![o.clone(), Utf8]).collect(),
        |_| None,
    );
    vec![obj, col, viewdef, shobj]
}

/// `to_regtype(name)`: the OID of a built-in type, NULL for types this server does not have
/// (drivers probe for hstore, citext, ... this way).
pub fn to_regtype_udf() -> ScalarUDF {
    use pgwire::api::Type;
    let known = [
        Type::BOOL,
        Type::BYTEA,
        Type::CHAR,
        Type::NAME,
        Type::INT8,
        Type::INT2,
        Type::INT4,
        Type::TEXT,
        Type::OID,
        Type::JSON,
        Type::JSONB,
        Type::FLOAT4,
        Type::FLOAT8,
        Type::BPCHAR,
        Type::VARCHAR,
        Type::DATE,
        Type::TIME,
        Type::TIMESTAMP,
        Type::TIMESTAMPTZ,
        Type::INTERVAL,
        Type::NUMERIC,
        Type::UUID,
        Type::INT4_ARRAY,
        Type::INT8_ARRAY,
        Type::TEXT_ARRAY,
        Type::FLOAT8_ARRAY,
        Type::BOOL_ARRAY,
        Type::INT2_ARRAY,
        Type::FLOAT4_ARRAY,
        Type::NUMERIC_ARRAY,
        Type::DATE_ARRAY,
        Type::TIMESTAMP_ARRAY,
        Type::TIMESTAMPTZ_ARRAY,
        Type::UUID_ARRAY,
        Type::JSONB_ARRAY,
        Type::BYTEA_ARRAY,
        Type::VARCHAR_ARRAY,
        Type::RECORD,
        Type::UNKNOWN,
    ];
    let aliases = [
        ("integer", "int4"),
        ("int", "int4"),
        ("bigint", "int8"),
        ("smallint", "int2"),
        ("boolean", "bool"),
        ("real", "float4"),
        ("double precision", "float8"),
        ("character varying", "varchar"),
        ("timestamp without time zone", "timestamp"),
        ("timestamp with time zone", "timestamptz"),
        ("decimal", "numeric"),
    ];
    name_to_oid_udf("to_regtype", move |name| {
        let n = name
            .trim()
            .trim_start_matches("pg_catalog.")
            .to_ascii_lowercase();
        let n = aliases
            .iter()
            .find(|a| a.0 == n)
            .map(|a| a.1.to_string())
            .unwrap_or(n);
        let n = match n.strip_suffix("[]") {
            Some(base) => format!("_{base}"),
            None => n,
        };
        known
            .iter()
            .find(|t| t.name() == n)
            .map(|t| t.oid() as i32)
            .or_else(|| n.parse::<i32>().ok())
            .or_else(|| static_catalog().type_oids.get(&n).copied())
    })
}

/// A function `name(text) -> int4` applying `f` row by row (NULL in, NULL out).
fn name_to_oid_udf(
    name: &str,
    f: impl Fn(&str) -> Option<i32> + Send + Sync + 'static,
) -> ScalarUDF {
    let sig = Signature::exact(vec![DataType::Utf8], Volatility::Stable);
    let fun = Arc::new(move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
        Ok(match &args[0] {
            ColumnarValue::Scalar(ScalarValue::Utf8(v)) => {
                ColumnarValue::Scalar(ScalarValue::Int32(v.as_deref().and_then(&f)))
            }
            ColumnarValue::Array(a) => {
                let a = datafusion::arrow::array::AsArray::as_string::<i32>(a.as_ref());
                ColumnarValue::Array(Arc::new(Int32Array::from(
                    a.iter().map(|v| v.and_then(&f)).collect::<Vec<_>>(),
                )))
            }
            _ => ColumnarValue::Scalar(ScalarValue::Int32(None)),
        })
    });
    ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        name,
        sig,
        DataType::Int32,
        fun,
    ))
}

/// Functions drivers reference in branches that never apply to a lake (identity columns,
/// sequences): they must plan, and answer NULL.
pub fn misc_udfs() -> Vec<ScalarUDF> {
    let null_udf = |name: &str, ret: DataType| {
        ScalarUDF::from(SimpleScalarUDF::new_with_signature(
            name,
            Signature::variadic_any(Volatility::Stable),
            ret.clone(),
            Arc::new(move |_: &[ColumnarValue]| {
                Ok(ColumnarValue::Scalar(ScalarValue::try_from(&ret)?))
            }),
        ))
    };
    vec![
        null_udf("pg_get_serial_sequence", DataType::Utf8),
        null_udf("json_build_object", DataType::Utf8),
        null_udf("pg_get_indexdef", DataType::Utf8),
        null_udf("pg_get_triggerdef", DataType::Utf8),
        null_udf("pg_get_ruledef", DataType::Utf8),
        null_udf("pg_get_function_identity_arguments", DataType::Utf8),
        null_udf("pg_get_function_result", DataType::Utf8),
        null_udf("pg_get_function_arguments", DataType::Utf8),
        null_udf("generate_subscripts", DataType::Int32),
        null_udf("pg_get_constraintdef", DataType::Utf8),
        // pgjdbc's getPrimaryKeys: (information_schema._pg_expandarray(i.indkey)).n over the
        // (empty) pg_index.
        null_udf(
            "_pg_expandarray",
            DataType::Struct(
                vec![
                    Field::new("x", DataType::Int16, true),
                    Field::new("n", DataType::Int32, true),
                ]
                .into(),
            ),
        ),
        true_udf("pg_collation_is_visible"),
        true_udf("pg_type_is_visible"),
        true_udf("pg_function_is_visible"),
        true_udf("pg_opclass_is_visible"),
        true_udf("pg_operator_is_visible"),
        true_udf("pg_conversion_is_visible"),
        true_udf("pg_ts_config_is_visible"),
        true_udf("pg_statistics_obj_is_visible"),
    ]
}

/// `array_lower(a, dim)` and `array_upper(a, dim)` for one-dimensional arrays (Postgres
/// arrays start at 1; an empty or NULL array, or another dimension, gives NULL).
pub fn array_bound_udfs() -> Vec<ScalarUDF> {
    use datafusion::arrow::array::{Array, AsArray};
    let bound = |name: &str, upper: bool| {
        let fun = Arc::new(move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
            let n = args
                .iter()
                .find_map(|a| match a {
                    ColumnarValue::Array(a) => Some(a.len()),
                    _ => None,
                })
                .unwrap_or(1);
            let arrays = args[0].to_array(n)?;
            let dims = args[1].cast_to(&DataType::Int64, None)?.to_array(n)?;
            let dims = dims.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            let len = |i: usize| -> Option<i32> {
                if arrays.is_null(i) || dims.is_null(i) || dims.value(i) != 1 {
                    return None;
                }
                let l = match arrays.data_type() {
                    DataType::List(_) => arrays.as_list::<i32>().value_length(i) as i64,
                    DataType::LargeList(_) => arrays.as_list::<i64>().value_length(i),
                    _ => return None,
                };
                (l > 0).then_some(if upper { l as i32 } else { 1 })
            };
            let out: Int32Array = (0..n).map(len).collect();
            Ok(
                if n == 1 && args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
                    ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
                } else {
                    ColumnarValue::Array(Arc::new(out))
                },
            )
        });
        ScalarUDF::from(SimpleScalarUDF::new_with_signature(
            name,
            Signature::any(2, Volatility::Immutable),
            DataType::Int32,
            fun,
        ))
    };
    vec![bound("array_lower", false), bound("array_upper", true)]
}

/// Visibility checks: every object a client can list is visible on its search path.
fn true_udf(name: &str) -> ScalarUDF {
    ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        name,
        Signature::variadic_any(Volatility::Stable),
        DataType::Boolean,
        Arc::new(|_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))),
    ))
}

/// Postgres' built-in types and functions, from datafusion-pg-catalog's static tables, decoded
/// once per process.
struct StaticCatalog {
    /// pg_type with its regproc columns (typinput, typreceive, ...) as function OIDs: a regproc
    /// is an OID that prints as a name, and drivers join on it (`proc.oid = typ.typreceive` in
    /// Npgsql's type loading, `typinput = 'array_in'::regproc` in pgjdbc).
    pg_type: RecordBatch,
    proc_oids: HashMap<String, i32>,
    proc_names: HashMap<i32, String>,
    type_oids: HashMap<String, i32>,
}

/// The name a regproc OID prints as (`int8recv`), `-` for 0, the number when unknown.
pub fn regproc_name(oid: i32) -> std::borrow::Cow<'static, str> {
    if oid == 0 {
        return "-".into();
    }
    match static_catalog().proc_names.get(&oid) {
        Some(n) => n.as_str().into(),
        None => oid.to_string().into(),
    }
}

const REGPROC_COLUMNS: [&str; 8] = [
    "typinput",
    "typoutput",
    "typreceive",
    "typsend",
    "typmodin",
    "typmodout",
    "typanalyze",
    "typsubscript",
];

fn static_catalog() -> &'static StaticCatalog {
    static CATALOG: std::sync::OnceLock<StaticCatalog> = std::sync::OnceLock::new();
    CATALOG.get_or_init(|| {
        build_static_catalog().expect("datafusion-pg-catalog's embedded tables decode")
    })
}

fn build_static_catalog() -> Result<StaticCatalog> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::compute::concat_batches;
    let tables = datafusion_pg_catalog::pg_catalog::PgCatalogStaticTables::try_new()?;
    let procs = concat_batches(&tables.pg_proc.schema(), tables.pg_proc.data())?;
    let mut proc_oids = HashMap::new();
    {
        let oid = procs.column_by_name("oid").expect("pg_proc.oid");
        let oid = oid.as_primitive::<datafusion::arrow::datatypes::Int32Type>();
        let name = procs.column_by_name("proname").expect("pg_proc.proname");
        let name = name.as_string::<i32>();
        for i in 0..procs.num_rows() {
            if let (false, Some(n)) = (oid.is_null(i), name.is_valid(i).then(|| name.value(i))) {
                proc_oids.entry(n.to_string()).or_insert(oid.value(i));
            }
        }
    }
    let types = concat_batches(&tables.pg_type.schema(), tables.pg_type.data())?;
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (f, c) in types.schema().fields().iter().zip(types.columns()) {
        if REGPROC_COLUMNS.contains(&f.name().as_str()) && f.data_type() == &DataType::Utf8 {
            let names = c.as_string::<i32>();
            let oids: Int32Array = names
                .iter()
                .map(|n| Some(n.and_then(|n| proc_oids.get(n).copied()).unwrap_or(0)))
                .collect();
            fields.push(crate::engine::pg_types::regproc_field(f.name()));
            columns.push(Arc::new(oids) as ArrayRef);
        } else {
            fields.push(f.as_ref().clone());
            columns.push(c.clone());
        }
    }
    let pg_type = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
    let mut type_oids = HashMap::new();
    {
        let oid = pg_type.column_by_name("oid").expect("pg_type.oid");
        let oid = oid.as_primitive::<datafusion::arrow::datatypes::Int32Type>();
        let name = pg_type.column_by_name("typname").expect("pg_type.typname");
        let name = name.as_string::<i32>();
        for i in 0..pg_type.num_rows() {
            if oid.is_valid(i) && name.is_valid(i) {
                type_oids.insert(name.value(i).to_string(), oid.value(i));
            }
        }
    }
    let proc_names = proc_oids.iter().map(|(n, o)| (*o, n.clone())).collect();
    Ok(StaticCatalog {
        pg_type,
        proc_oids,
        proc_names,
        type_oids,
    })
}

#[derive(Debug)]
struct PgType;

#[async_trait]
impl ComputedTable for PgType {
    fn table_schema(&self) -> SchemaRef {
        static_catalog().pg_type.schema()
    }
    async fn compute(&self, _state: &dyn Session) -> Result<RecordBatch> {
        Ok(static_catalog().pg_type.clone())
    }
}

/// `'array_in'::regproc`: a built-in function's OID (schema prefix and argument list ignored).
pub fn regproc_udf() -> ScalarUDF {
    name_to_oid_udf("lakegate_regproc", |name| {
        let n = name.trim();
        let n = n.split('(').next().unwrap_or(n).trim();
        let n = n.strip_prefix("pg_catalog.").unwrap_or(n).trim_matches('"');
        match n {
            "-" => Some(0),
            _ => n
                .parse::<i32>()
                .ok()
                .or_else(|| static_catalog().proc_oids.get(n).copied()),
        }
    })
}

/// `'public'::regnamespace`.
pub fn regnamespace_udf() -> ScalarUDF {
    name_to_oid_udf("lakegate_regnamespace", |name| {
        let n = name.trim().trim_matches('"').to_ascii_lowercase();
        Some(n.parse::<i32>().unwrap_or_else(|_| namespace_oid(&n)))
    })
}

/// `'name'::regclass`: the OID a relation name stands for (Postgres' own for catalog tables
/// drivers name, the stable hash for lake tables and views).
pub fn regclass_oid(name: &str) -> i32 {
    let builtin = [
        ("pg_type", 1247),
        ("pg_attribute", 1249),
        ("pg_proc", 1255),
        ("pg_class", 1259),
        ("pg_database", 1262),
        ("pg_constraint", 2606),
        ("pg_namespace", 2615),
        ("pg_index", 2610),
        ("pg_description", 2609),
        ("pg_attrdef", 2604),
        ("pg_trigger", 2620),
        ("pg_rewrite", 2618),
    ];
    let name = name.trim().to_ascii_lowercase();
    let (schema, rel) = match name.rsplit_once('.') {
        Some((s, r)) => (
            s.trim_matches('"').to_string(),
            r.trim_matches('"').to_string(),
        ),
        None => ("pg_catalog".to_string(), name.trim_matches('"').to_string()),
    };
    if schema == "pg_catalog"
        && let Some((_, oid)) = builtin.iter().find(|(n, _)| *n == rel)
    {
        return *oid;
    }
    rel.parse::<i32>()
        .unwrap_or_else(|_| relation_oid(&schema, &rel))
}

/// `lakegate_regclass(text)`: SQL access to [`regclass_oid`].
pub fn regclass_udf() -> ScalarUDF {
    name_to_oid_udf("lakegate_regclass", |name| Some(regclass_oid(name)))
}

/// Translates a LIKE pattern written for `ESCAPE '<c>'` into DataFusion's backslash-escape form,
/// in one left-to-right pass: `<c>x` is a literal x, `<c><c>` a literal `<c>`, a bare `\` a
/// literal backslash.
pub fn translate_like(pattern: &str, esc: char) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == esc {
            match chars.next() {
                Some(n @ ('%' | '_' | '\\')) => {
                    out.push('\\');
                    out.push(n);
                }
                Some(n) => out.push(n),
                None => {}
            }
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    out
}

/// `lakegate_like_escape(pattern, escape)`: SQL access to [`translate_like`].
pub fn like_escape_udf() -> ScalarUDF {
    lookup_udf(
        "lakegate_like_escape",
        vec![vec![DataType::Utf8, DataType::Utf8]],
        |a| match (&a[0], &a[1]) {
            (ScalarValue::Utf8(Some(p)), ScalarValue::Utf8(Some(e))) => {
                Some(translate_like(p, e.chars().next().unwrap_or('\\')))
            }
            _ => None,
        },
    )
}

/// Sizes: a lake table has no local relation size; `pg_size_pretty` formats like Postgres.
/// `pg_total_relation_size`, `pg_relation_size`, `pg_table_size`: a lake table's data file
/// bytes from its Delta log; NULL for anything else (views, catalog tables, an OID or a name
/// that is no lake table, a table `access` may not read whole: row filters and masks hide
/// what its size would tell). Indexes: 0.
/// A name given as text is looked up on the session's `search_path` (`settings`; without a
/// session, in the lake's zones in order).
pub fn size_udfs(
    lake: Arc<crate::catalog::LakeCatalog>,
    access: Option<Arc<crate::auth::Access>>,
    settings: Option<Arc<std::sync::Mutex<super::settings::Settings>>>,
) -> Vec<ScalarUDF> {
    use DataType::*;
    let bytes = |name: &str| {
        let sig = Signature::one_of(
            [Int32, Int64, UInt32, Utf8]
                .into_iter()
                .flat_map(|t| {
                    [
                        TypeSignature::Exact(vec![t.clone()]),
                        TypeSignature::Exact(vec![t, Utf8]),
                    ]
                })
                .collect(),
            Volatility::Stable,
        );
        let (lake, access, settings) = (lake.clone(), access.clone(), settings.clone());
        ScalarUDF::from(SimpleScalarUDF::new_with_signature(
            name,
            sig,
            Int64,
            Arc::new(move |args: &[ColumnarValue]| {
                let scalar = matches!(args[0], ColumnarValue::Scalar(_));
                let values = args[0].to_array(1)?;
                let snapshot = lake.snapshot();
                // One map per call: BI tools ask for every row of pg_class at once.
                let oids: std::collections::HashMap<i32, (String, String)> = snapshot
                    .zones
                    .iter()
                    .flat_map(|(z, tables)| {
                        tables
                            .keys()
                            .map(move |t| (relation_oid(z, t), (z.clone(), t.clone())))
                    })
                    .collect();
                let by_oid = |o: i32| oids.get(&o).cloned();
                let path: Option<Vec<String>> = settings
                    .as_ref()
                    .map(|s| s.lock().expect("settings lock").search_path());
                let out: datafusion::arrow::array::Int64Array = (0..values.len())
                    .map(|i| {
                        let v = ScalarValue::try_from_array(&values, i).ok()?;
                        let (schema, table) = match v {
                            ScalarValue::Int32(Some(o)) => by_oid(o)?,
                            ScalarValue::Int64(Some(o)) => by_oid(i32::try_from(o).ok()?)?,
                            ScalarValue::UInt32(Some(o)) => by_oid(i32::try_from(o).ok()?)?,
                            ScalarValue::Utf8(Some(n)) => {
                                name_of_text(&snapshot, &n, path.as_deref())?
                            }
                            _ => return None,
                        };
                        if !super::access::sees_whole(access.as_deref(), &schema, &table) {
                            return None;
                        }
                        snapshot.table(&schema, &table).map(|e| e.stats().bytes)
                    })
                    .collect();
                Ok(if scalar {
                    ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
                } else {
                    ColumnarValue::Array(Arc::new(out))
                })
            }),
        ))
    };
    let zero = |name: &str| {
        let sig = Signature::one_of(
            [Int32, Int64, UInt32, Utf8]
                .into_iter()
                .map(|t| TypeSignature::Exact(vec![t]))
                .collect(),
            Volatility::Stable,
        );
        ScalarUDF::from(SimpleScalarUDF::new_with_signature(
            name,
            sig,
            Int64,
            Arc::new(|_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::Int64(Some(0))))),
        ))
    };
    let pretty = lookup_udf(
        "pg_size_pretty",
        vec![vec![Int64], vec![Int32], vec![Float64]],
        |a| {
            let bytes = match &a[0] {
                ScalarValue::Int64(v) => (*v)? as f64,
                ScalarValue::Int32(v) => (*v)? as f64,
                ScalarValue::Float64(v) => (*v)?,
                _ => return None,
            };
            let units = ["bytes", "kB", "MB", "GB", "TB", "PB"];
            let mut v = bytes;
            let mut u = 0;
            while v.abs() >= 10.0 * 1024.0 && u + 1 < units.len() {
                v /= 1024.0;
                u += 1;
            }
            Some(format!("{} {}", v.round() as i64, units[u]))
        },
    );
    vec![
        bytes("pg_table_size"),
        zero("pg_indexes_size"),
        bytes("pg_total_relation_size"),
        bytes("pg_relation_size"),
        pretty,
    ]
}

/// The lake table a `schema.table` (or unqualified, quoted or not) text names.
/// `schema.table` or `table` (quotes allowed) → the lake table it names: an unqualified name
/// is the first on `path`, or without one the first zone holding it.
fn name_of_text(
    snapshot: &crate::catalog::Snapshot,
    text: &str,
    path: Option<&[String]>,
) -> Option<(String, String)> {
    let unquote = |s: &str| {
        let s = s.trim();
        match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            Some(q) => q.replace("\"\"", "\""),
            None => s.to_lowercase(),
        }
    };
    match text.split_once('.') {
        Some((s, t)) => Some((unquote(s), unquote(t))),
        None => {
            let t = unquote(text);
            match path {
                Some(path) => path
                    .iter()
                    .find(|z| snapshot.table(z, &t).is_some())
                    .map(|z| (z.clone(), t)),
                None => snapshot
                    .zones
                    .iter()
                    .find(|(_, tables)| tables.contains_key(&t))
                    .map(|(z, _)| (z.clone(), t)),
            }
        }
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

/// `pg_sleep(seconds)`: waits without holding a worker thread (an async function), and is
/// canceled with its query.
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgSleep {
    signature: Signature,
}

impl datafusion::logical_expr::ScalarUDFImpl for PgSleep {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        "pg_sleep"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Null)
    }
    fn invoke_with_args(
        &self,
        _: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> Result<ColumnarValue> {
        datafusion::common::not_impl_err!("pg_sleep is evaluated asynchronously")
    }
}

#[async_trait]
impl datafusion::logical_expr::async_udf::AsyncScalarUDFImpl for PgSleep {
    async fn invoke_async_with_args(
        &self,
        args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> Result<ColumnarValue> {
        // Postgres sleeps once per row: the batch sleeps the sum of its rows' seconds, and
        // answers one (void, here NULL) value per row. A scalar answer became a one-row column,
        // so `SELECT pg_sleep(x) FROM t` returned one row whatever t held.
        let rows = args.number_rows;
        let secs: f64 = match &args.args[0] {
            ColumnarValue::Scalar(v) => match v.cast_to(&DataType::Float64)? {
                ScalarValue::Float64(Some(s)) => s * rows as f64,
                _ => 0.0,
            },
            ColumnarValue::Array(a) => {
                let a = datafusion::arrow::compute::cast(a, &DataType::Float64)?;
                let a = a
                    .as_any()
                    .downcast_ref::<datafusion::arrow::array::Float64Array>()
                    .map(|a| a.iter().flatten().filter(|s| *s > 0.0).sum())
                    .unwrap_or(0.0);
                a
            }
        };
        if secs > 0.0 && secs.is_finite() {
            // At most a day per batch: the statement timeout and cancel end it sooner.
            tokio::time::sleep(std::time::Duration::from_secs_f64(secs.min(86_400.0))).await;
        }
        Ok(ColumnarValue::Array(
            datafusion::arrow::array::new_null_array(&DataType::Null, rows),
        ))
    }
}

pub fn pg_sleep_udf() -> ScalarUDF {
    datafusion::logical_expr::async_udf::AsyncScalarUDF::new(Arc::new(PgSleep {
        signature: Signature::any(1, Volatility::Volatile),
    }))
    .into_scalar_udf()
}
