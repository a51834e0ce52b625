//! The pg_catalog tables computed from the live catalog (pg_class, pg_attribute, …) and
//! the ones a lake leaves empty, with Postgres' column types.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Namespace,
    Class,
    Attribute,
    Description,
    Views,
    Tables,
}

/// One dynamic pg_catalog table.
pub(super) struct PgTable {
    pub(super) kind: Kind,
    pub(super) schema: SchemaRef,
    pub(super) list: Arc<dyn CatalogProviderList>,
    pub(super) database: String,
    pub(super) info: Arc<ObjectInfo>,
    /// For pg_class's relpages and reltuples (from each Delta log).
    pub(super) lake: Arc<crate::catalog::LakeCatalog>,
}

impl std::fmt::Debug for PgTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgTable({:?})", self.kind)
    }
}

pub(super) fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}
pub(super) fn i32f(name: &str) -> Field {
    Field::new(name, DataType::Int32, false)
}
pub(super) fn boolf(name: &str) -> Field {
    Field::new(name, DataType::Boolean, false)
}

pub(super) fn schema_of(kind: Kind) -> SchemaRef {
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
            // oid, not int4: `array_agg(atttypid)` must be `oid[]`, the one integer array
            // asyncpg decodes before it has introspected any type.
            Field::new("atttypid", DataType::UInt32, false),
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

pub(super) fn strings<I: IntoIterator<Item = Option<String>>>(v: I) -> ArrayRef {
    Arc::new(StringArray::from(v.into_iter().collect::<Vec<_>>()))
}
pub(super) fn consts_i32(n: usize, v: i32) -> ArrayRef {
    Arc::new(Int32Array::from(vec![v; n]))
}
pub(super) fn consts_bool(n: usize, v: bool) -> ArrayRef {
    Arc::new(BooleanArray::from(vec![v; n]))
}
pub(super) fn consts_str(n: usize, v: Option<&str>) -> ArrayRef {
    strings((0..n).map(|_| v.map(str::to_string)))
}

impl PgTable {
    pub(super) async fn batch(&self, list: &Arc<dyn CatalogProviderList>) -> Result<RecordBatch> {
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
                    // `public` belongs to pg_database_owner, as in PostgreSQL 15.
                    Arc::new(Int32Array::from(
                        schemas
                            .iter()
                            .map(|s| if s == "public" { PG_DATABASE_OWNER } else { 10 })
                            .collect::<Vec<_>>(),
                    )),
                    consts_str(n, None),
                    consts_str(n, None),
                ]
            }
            Kind::Class => {
                let n = n_rel;
                let snapshot = self.lake.snapshot();
                // A row filter or mask hides rows: the whole table's count and size are not
                // this user's to see.
                let access = crate::engine::access::session_access(list, &self.database);
                let stats: Vec<Option<crate::catalog::TableStats>> = rels
                    .iter()
                    .map(|r| {
                        (r.kind == "r"
                            && crate::engine::access::sees_whole(
                                access.as_deref(),
                                &r.schema,
                                &r.name,
                            ))
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
                    Arc::new(Int32Array::from(
                        rels.iter()
                            .map(|r| row_type_oid(&r.schema, &r.name))
                            .collect::<Vec<_>>(),
                    )),
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
                        typid.push(t.oid());
                        len.push(l);
                        num.push(i as i16 + 1);
                        ndims.push(t.name().starts_with('_') as i32);
                        typmod.push(m);
                        byval.push(bv);
                        align.push(Some(al.to_string()));
                        // pg_type.typstorage: numeric is `main`, other varlena types
                        // `extended`, fixed-length ones `plain`.
                        let st = match l {
                            -1 if t == pgwire::api::Type::NUMERIC => "m",
                            -1 => "x",
                            _ => "p",
                        };
                        storage.push(Some(st.to_string()));
                        notnull.push(!f.is_nullable());
                    }
                }
                let n = relid.len();
                vec![
                    Arc::new(Int32Array::from(relid)),
                    strings(name),
                    Arc::new(UInt32Array::from(typid)),
                    consts_i32(n, -1),
                    Arc::new(Int16Array::from(len)),
                    Arc::new(Int16Array::from(num)),
                    Arc::new(Int32Array::from(ndims)),
                    consts_i32(n, -1),
                    Arc::new(Int32Array::from(typmod)),
                    Arc::new(BooleanArray::from(byval)),
                    strings(align),
                    strings(storage),
                    // attcompression: '' (the default method), as PostgreSQL 15 shows it.
                    consts_str(n, Some("")),
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

#[async_trait]
impl ComputedTable for PgTable {
    fn table_schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    async fn compute(&self, state: &dyn Session) -> Result<RecordBatch> {
        self.batch(&session_list(state, &self.list)).await
    }
}

/// Catalog tables that are empty for a lake (no indexes, constraints, defaults), declared with
/// Postgres' column types so drivers can `unnest(indkey)` and compare `conkey`.
pub(super) fn empty_tables() -> Vec<(&'static str, SchemaRef)> {
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
