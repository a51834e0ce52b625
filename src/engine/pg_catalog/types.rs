//! Postgres' built-in types and functions from datafusion-pg-catalog's static tables
//! (decoded once per process), pg_type, and each type's storage layout.

use super::*;

/// (typlen, typbyval, typalign) for a type, as pg_type has them.
pub(super) fn type_layout(t: &pgwire::api::Type) -> (i16, bool, &'static str) {
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

/// Postgres' built-in types and functions, from datafusion-pg-catalog's static tables, decoded
/// once per process.
pub(super) struct StaticCatalog {
    /// pg_type with its regproc columns (typinput, typreceive, ...) as function OIDs: a regproc
    /// is an OID that prints as a name, and drivers join on it (`proc.oid = typ.typreceive` in
    /// Npgsql's type loading, `typinput = 'array_in'::regproc` in pgjdbc).
    pub(super) pg_type: RecordBatch,
    pub(super) proc_oids: HashMap<String, i32>,
    pub(super) proc_names: HashMap<i32, String>,
    pub(super) type_oids: HashMap<String, i32>,
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

pub(super) const REGPROC_COLUMNS: [&str; 8] = [
    "typinput",
    "typoutput",
    "typreceive",
    "typsend",
    "typmodin",
    "typmodout",
    "typanalyze",
    "typsubscript",
];

pub(super) fn static_catalog() -> &'static StaticCatalog {
    static CATALOG: std::sync::OnceLock<StaticCatalog> = std::sync::OnceLock::new();
    CATALOG.get_or_init(|| {
        build_static_catalog().expect("datafusion-pg-catalog's embedded tables decode")
    })
}

pub(super) fn build_static_catalog() -> Result<StaticCatalog> {
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

/// pg_type: the built-in types, then one row type per relation the session sees (as
/// Postgres has for every table and view: `pg_class.reltype`, `typtype = 'c'`, `typrelid`),
/// which asyncpg's and Npgsql's type introspection follow to a relation's attributes.
pub(super) struct PgType {
    pub(super) list: Arc<dyn CatalogProviderList>,
    pub(super) database: String,
}

impl std::fmt::Debug for PgType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgType")
    }
}

#[async_trait]
impl ComputedTable for PgType {
    fn table_schema(&self) -> SchemaRef {
        static_catalog().pg_type.schema()
    }
    async fn compute(&self, state: &dyn Session) -> Result<RecordBatch> {
        let builtin = &static_catalog().pg_type;
        let (_, rels) = walk(&session_list(state, &self.list), &self.database).await;
        let rows = row_types(builtin.schema(), &rels)?;
        Ok(datafusion::arrow::compute::concat_batches(
            &builtin.schema(),
            [builtin, &rows],
        )?)
    }
}

/// The row types of `rels`, in pg_type's columns: what Postgres stores for a table's type,
/// with `record_in`/`record_out`/`record_recv`/`record_send` as its I/O functions.
fn row_types(schema: SchemaRef, rels: &[Relation]) -> Result<RecordBatch> {
    use datafusion::common::ScalarValue as S;
    let procs = &static_catalog().proc_oids;
    let proc = |name: &str| S::Int32(Some(procs.get(name).copied().unwrap_or(0)));
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            let values = rels.iter().map(|r| {
                let v = match f.name().as_str() {
                    "oid" => S::Int32(Some(row_type_oid(&r.schema, &r.name))),
                    "typname" => S::Utf8(Some(r.name.clone())),
                    "typnamespace" => S::Int32(Some(namespace_oid(&r.schema))),
                    "typowner" => S::Int32(Some(10)),
                    "typlen" => S::Int16(Some(-1)),
                    "typbyval" | "typispreferred" | "typnotnull" => S::Boolean(Some(false)),
                    "typisdefined" => S::Boolean(Some(true)),
                    "typtype" => S::Utf8(Some("c".into())),
                    "typcategory" => S::Utf8(Some("C".into())),
                    "typdelim" => S::Utf8(Some(",".into())),
                    "typrelid" => S::Int32(Some(r.oid)),
                    "typinput" => proc("record_in"),
                    "typoutput" => proc("record_out"),
                    "typreceive" => proc("record_recv"),
                    "typsend" => proc("record_send"),
                    "typalign" => S::Utf8(Some("d".into())),
                    "typstorage" => S::Utf8(Some("x".into())),
                    "typtypmod" => S::Int32(Some(-1)),
                    _ if f.is_nullable() => S::Null,
                    _ => S::new_zero(f.data_type()).unwrap_or(S::Null),
                };
                v.cast_to(f.data_type())
            });
            let values = values.collect::<Result<Vec<_>>>()?;
            if values.is_empty() {
                Ok(datafusion::arrow::array::new_empty_array(f.data_type()))
            } else {
                S::iter_to_array(values)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema, columns)?)
}
