//! `information_schema` with Postgres' columns and type names (`data_type = 'integer'`,
//! `udt_name = 'int4'`, `views.view_definition`), which Grafana, Metabase and the JDBC/ODBC
//! drivers read. DataFusion's own information_schema reports Arrow type names, so it is turned
//! off and this one is served as a regular schema of the lake catalog.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Int32Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{CatalogProviderList, SchemaProvider};
use datafusion::datasource::TableProvider;
use datafusion::error::Result;
use pgwire::api::Type;

use super::pg_catalog::{Computed, ComputedTable, ObjectInfo, Relation, relation_oid, walk};
use crate::engine::pg_types::pg_type;

pub const NAME: &str = "information_schema";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Schemata,
    Tables,
    Columns,
    Views,
    /// Constraints and routines: a lake table has no keys and lakegate no user-defined
    /// functions, so these are empty, with Postgres' columns (DBeaver, Metabase and harlequin
    /// read them and fail on a missing table).
    Empty(&'static [&'static str]),
}

const TABLES: [(&str, Kind); 9] = [
    ("schemata", Kind::Schemata),
    ("tables", Kind::Tables),
    ("columns", Kind::Columns),
    ("views", Kind::Views),
    ("table_constraints", Kind::Empty(TABLE_CONSTRAINTS)),
    ("key_column_usage", Kind::Empty(KEY_COLUMN_USAGE)),
    (
        "referential_constraints",
        Kind::Empty(REFERENTIAL_CONSTRAINTS),
    ),
    ("routines", Kind::Empty(ROUTINES)),
    ("parameters", Kind::Empty(PARAMETERS)),
];

// Postgres 15's columns of each (integers are `cardinal_number`; everything else as text).
const TABLE_CONSTRAINTS: &[&str] = &[
    "constraint_catalog",
    "constraint_schema",
    "constraint_name",
    "table_catalog",
    "table_schema",
    "table_name",
    "constraint_type",
    "is_deferrable",
    "initially_deferred",
    "enforced",
    "nulls_distinct",
];
const KEY_COLUMN_USAGE: &[&str] = &[
    "constraint_catalog",
    "constraint_schema",
    "constraint_name",
    "table_catalog",
    "table_schema",
    "table_name",
    "column_name",
    "#ordinal_position",
    "#position_in_unique_constraint",
];
const REFERENTIAL_CONSTRAINTS: &[&str] = &[
    "constraint_catalog",
    "constraint_schema",
    "constraint_name",
    "unique_constraint_catalog",
    "unique_constraint_schema",
    "unique_constraint_name",
    "match_option",
    "update_rule",
    "delete_rule",
];
const ROUTINES: &[&str] = &[
    "specific_catalog",
    "specific_schema",
    "specific_name",
    "routine_catalog",
    "routine_schema",
    "routine_name",
    "routine_type",
    "module_catalog",
    "module_schema",
    "module_name",
    "udt_catalog",
    "udt_schema",
    "udt_name",
    "data_type",
    "#character_maximum_length",
    "#character_octet_length",
    "character_set_catalog",
    "character_set_schema",
    "character_set_name",
    "collation_catalog",
    "collation_schema",
    "collation_name",
    "#numeric_precision",
    "#numeric_precision_radix",
    "#numeric_scale",
    "#datetime_precision",
    "interval_type",
    "#interval_precision",
    "type_udt_catalog",
    "type_udt_schema",
    "type_udt_name",
    "scope_catalog",
    "scope_schema",
    "scope_name",
    "#maximum_cardinality",
    "dtd_identifier",
    "routine_body",
    "routine_definition",
    "external_name",
    "external_language",
    "parameter_style",
    "is_deterministic",
    "sql_data_access",
    "is_null_call",
    "sql_path",
    "schema_level_routine",
    "#max_dynamic_result_sets",
    "is_user_defined_cast",
    "is_implicitly_invocable",
    "security_type",
    "to_sql_specific_catalog",
    "to_sql_specific_schema",
    "to_sql_specific_name",
    "as_locator",
    "created",
    "last_altered",
    "new_savepoint_level",
    "is_udt_dependent",
    "result_cast_from_data_type",
    "result_cast_as_locator",
    "#result_cast_char_max_length",
    "#result_cast_char_octet_length",
    "result_cast_char_set_catalog",
    "result_cast_char_set_schema",
    "result_cast_char_set_name",
    "result_cast_collation_catalog",
    "result_cast_collation_schema",
    "result_cast_collation_name",
    "#result_cast_numeric_precision",
    "#result_cast_numeric_precision_radix",
    "#result_cast_numeric_scale",
    "#result_cast_datetime_precision",
    "result_cast_interval_type",
    "#result_cast_interval_precision",
    "result_cast_type_udt_catalog",
    "result_cast_type_udt_schema",
    "result_cast_type_udt_name",
    "result_cast_scope_catalog",
    "result_cast_scope_schema",
    "result_cast_scope_name",
    "#result_cast_maximum_cardinality",
    "result_cast_dtd_identifier",
];
const PARAMETERS: &[&str] = &[
    "specific_catalog",
    "specific_schema",
    "specific_name",
    "#ordinal_position",
    "parameter_mode",
    "is_result",
    "as_locator",
    "parameter_name",
    "data_type",
    "#character_maximum_length",
    "#character_octet_length",
    "character_set_catalog",
    "character_set_schema",
    "character_set_name",
    "collation_catalog",
    "collation_schema",
    "collation_name",
    "#numeric_precision",
    "#numeric_precision_radix",
    "#numeric_scale",
    "#datetime_precision",
    "interval_type",
    "#interval_precision",
    "udt_catalog",
    "udt_schema",
    "udt_name",
    "scope_catalog",
    "scope_schema",
    "scope_name",
    "#maximum_cardinality",
    "dtd_identifier",
    "parameter_default",
];

fn text(names: &[&str]) -> Vec<Field> {
    names
        .iter()
        .map(|n| Field::new(*n, DataType::Utf8, true))
        .collect()
}

fn schema_of(kind: Kind) -> SchemaRef {
    let fields = match kind {
        // `#name`: a cardinal_number (integer) column.
        Kind::Empty(names) => names
            .iter()
            .map(|n| match n.strip_prefix('#') {
                Some(n) => Field::new(n, DataType::Int32, true),
                None => Field::new(*n, DataType::Utf8, true),
            })
            .collect(),
        Kind::Schemata => text(&[
            "catalog_name",
            "schema_name",
            "schema_owner",
            "default_character_set_catalog",
            "default_character_set_schema",
            "default_character_set_name",
            "sql_path",
        ]),
        Kind::Tables => text(&[
            "table_catalog",
            "table_schema",
            "table_name",
            "table_type",
            "self_referencing_column_name",
            "reference_generation",
            "user_defined_type_catalog",
            "user_defined_type_schema",
            "user_defined_type_name",
            "is_insertable_into",
            "is_typed",
            "commit_action",
        ]),
        Kind::Views => text(&[
            "table_catalog",
            "table_schema",
            "table_name",
            "view_definition",
            "check_option",
            "is_updatable",
            "is_insertable_into",
            "is_trigger_updatable",
            "is_trigger_deletable",
            "is_trigger_insertable_into",
        ]),
        Kind::Columns => {
            let mut f = text(&["table_catalog", "table_schema", "table_name", "column_name"]);
            f.push(Field::new("ordinal_position", DataType::Int32, false));
            f.extend(text(&["column_default", "is_nullable", "data_type"]));
            for n in [
                "character_maximum_length",
                "character_octet_length",
                "numeric_precision",
                "numeric_precision_radix",
                "numeric_scale",
                "datetime_precision",
            ] {
                f.push(Field::new(n, DataType::Int32, true));
            }
            f.extend(text(&[
                "interval_type",
                "udt_catalog",
                "udt_schema",
                "udt_name",
                "is_identity",
                "is_generated",
                "is_updatable",
            ]));
            f
        }
    };
    Arc::new(Schema::new(fields))
}

/// The SQL-standard name information_schema.columns.data_type shows for a type.
fn data_type_name(t: &Type) -> String {
    if t.name().starts_with('_') {
        return "ARRAY".into();
    }
    match *t {
        Type::BOOL => "boolean",
        Type::INT2 => "smallint",
        Type::INT4 => "integer",
        Type::INT8 => "bigint",
        Type::FLOAT4 => "real",
        Type::FLOAT8 => "double precision",
        Type::NUMERIC => "numeric",
        Type::TEXT => "text",
        Type::VARCHAR => "character varying",
        Type::BYTEA => "bytea",
        Type::DATE => "date",
        Type::TIME => "time without time zone",
        Type::TIMESTAMP => "timestamp without time zone",
        Type::TIMESTAMPTZ => "timestamp with time zone",
        Type::INTERVAL => "interval",
        Type::UUID => "uuid",
        Type::JSON => "json",
        Type::JSONB => "jsonb",
        _ => "USER-DEFINED",
    }
    .into()
}

struct InfoTable {
    kind: Kind,
    schema: SchemaRef,
    list: Arc<dyn CatalogProviderList>,
    database: String,
    info: Arc<ObjectInfo>,
}

impl std::fmt::Debug for InfoTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "information_schema.{:?}", self.kind)
    }
}

fn col(v: Vec<Option<String>>) -> ArrayRef {
    Arc::new(StringArray::from(v))
}

impl InfoTable {
    async fn batch(&self, list: &Arc<dyn CatalogProviderList>) -> Result<RecordBatch> {
        let (schemas, rels) = walk(list, &self.database).await;
        let db = Some(self.database.clone());
        let rels: Vec<Relation> = rels.into_iter().filter(|r| r.schema != NAME).collect();
        let columns: Vec<ArrayRef> = match self.kind {
            Kind::Empty(_) => return Ok(RecordBatch::new_empty(self.schema.clone())),
            Kind::Schemata => {
                let n = schemas.len();
                vec![
                    col(vec![db.clone(); n]),
                    col(schemas.iter().map(|s| Some(s.clone())).collect()),
                    col(vec![Some("lakegate".into()); n]),
                    col(vec![None; n]),
                    col(vec![None; n]),
                    col(vec![None; n]),
                    col(vec![None; n]),
                ]
            }
            Kind::Tables => {
                let n = rels.len();
                vec![
                    col(vec![db.clone(); n]),
                    col(rels.iter().map(|r| Some(r.schema.clone())).collect()),
                    col(rels.iter().map(|r| Some(r.name.clone())).collect()),
                    col(rels
                        .iter()
                        .map(|r| {
                            Some(if r.kind == "v" { "VIEW" } else { "BASE TABLE" }.to_string())
                        })
                        .collect()),
                    col(vec![None; n]),
                    col(vec![None; n]),
                    col(vec![None; n]),
                    col(vec![None; n]),
                    col(vec![None; n]),
                    col(vec![Some("NO".into()); n]),
                    col(vec![Some("NO".into()); n]),
                    col(vec![None; n]),
                ]
            }
            Kind::Views => {
                let defs = self.info.view_definitions.read().expect("info lock");
                let views: Vec<&Relation> = rels.iter().filter(|r| r.kind == "v").collect();
                let n = views.len();
                vec![
                    col(vec![db.clone(); n]),
                    col(views.iter().map(|r| Some(r.schema.clone())).collect()),
                    col(views.iter().map(|r| Some(r.name.clone())).collect()),
                    col(views
                        .iter()
                        .map(|r| defs.get(&relation_oid(&r.schema, &r.name)).cloned())
                        .collect()),
                    col(vec![Some("NONE".into()); n]),
                    col(vec![Some("NO".into()); n]),
                    col(vec![Some("NO".into()); n]),
                    col(vec![Some("NO".into()); n]),
                    col(vec![Some("NO".into()); n]),
                    col(vec![Some("NO".into()); n]),
                ]
            }
            Kind::Columns => {
                let mut rows: Vec<(String, String, String, i32, bool, Type, i32)> = Vec::new();
                for r in &rels {
                    for (i, f) in r.fields.fields().iter().enumerate() {
                        let (t, m) = pg_type(f);
                        rows.push((
                            r.schema.clone(),
                            r.name.clone(),
                            f.name().clone(),
                            i as i32 + 1,
                            f.is_nullable(),
                            t,
                            m,
                        ));
                    }
                }
                let n = rows.len();
                let num = |f: &dyn Fn(
                    &(String, String, String, i32, bool, Type, i32),
                ) -> Option<i32>|
                 -> ArrayRef {
                    Arc::new(Int32Array::from(rows.iter().map(f).collect::<Vec<_>>()))
                };
                let numeric =
                    |r: &(String, String, String, i32, bool, Type, i32)| -> Option<(i32, i32)> {
                        match r.5 {
                            Type::INT2 => Some((16, 0)),
                            Type::INT4 => Some((32, 0)),
                            Type::INT8 => Some((64, 0)),
                            Type::FLOAT4 => Some((24, -1)),
                            Type::FLOAT8 => Some((53, -1)),
                            Type::NUMERIC if r.6 >= 4 => {
                                Some((((r.6 - 4) >> 16) & 0xffff, (r.6 - 4) & 0xffff))
                            }
                            _ => None,
                        }
                    };
                vec![
                    col(vec![db.clone(); n]),
                    col(rows.iter().map(|r| Some(r.0.clone())).collect()),
                    col(rows.iter().map(|r| Some(r.1.clone())).collect()),
                    col(rows.iter().map(|r| Some(r.2.clone())).collect()),
                    Arc::new(Int32Array::from(
                        rows.iter().map(|r| r.3).collect::<Vec<_>>(),
                    )),
                    col(vec![None; n]),
                    col(rows
                        .iter()
                        .map(|r| Some(if r.4 { "YES" } else { "NO" }.to_string()))
                        .collect()),
                    col(rows.iter().map(|r| Some(data_type_name(&r.5))).collect()),
                    num(&|_| None),
                    num(&|r| (r.5 == Type::TEXT).then_some(1_073_741_824)),
                    num(&|r| numeric(r).map(|n| n.0)),
                    num(&|r| numeric(r).map(|_| if r.5 == Type::NUMERIC { 10 } else { 2 })),
                    num(&|r| numeric(r).and_then(|n| (n.1 >= 0).then_some(n.1))),
                    num(&|r| {
                        matches!(r.5, Type::DATE).then_some(0).or(matches!(
                            r.5,
                            Type::TIMESTAMP | Type::TIMESTAMPTZ | Type::TIME | Type::INTERVAL
                        )
                        .then_some(6))
                    }),
                    col(vec![None; n]),
                    col(vec![db.clone(); n]),
                    col(vec![Some("pg_catalog".into()); n]),
                    col(rows.iter().map(|r| Some(r.5.name().to_string())).collect()),
                    col(vec![Some("NO".into()); n]),
                    col(vec![Some("NEVER".into()); n]),
                    col(vec![Some("NO".into()); n]),
                ]
            }
        };
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

#[async_trait]
impl ComputedTable for InfoTable {
    fn table_schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    async fn compute(&self, state: &dyn datafusion::catalog::Session) -> Result<RecordBatch> {
        self.batch(&super::pg_catalog::session_list(state, &self.list))
            .await
    }
}

/// The `information_schema` schema provider.
#[derive(Debug)]
pub struct InformationSchema {
    tables: Vec<(&'static str, Arc<Computed<InfoTable>>)>,
}

impl InformationSchema {
    pub fn new(list: Arc<dyn CatalogProviderList>, database: &str, info: Arc<ObjectInfo>) -> Self {
        InformationSchema {
            tables: TABLES
                .iter()
                .map(|(name, kind)| {
                    (
                        *name,
                        Arc::new(Computed(InfoTable {
                            kind: *kind,
                            schema: schema_of(*kind),
                            list: list.clone(),
                            database: database.to_string(),
                            info: info.clone(),
                        })),
                    )
                })
                .collect(),
        }
    }
}

#[async_trait]
impl SchemaProvider for InformationSchema {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn table_names(&self) -> Vec<String> {
        self.tables.iter().map(|t| t.0.to_string()).collect()
    }
    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        Ok(self
            .tables
            .iter()
            .find(|t| t.0 == name)
            .map(|t| t.1.clone() as Arc<dyn TableProvider>))
    }
    fn table_exist(&self, name: &str) -> bool {
        self.tables.iter().any(|t| t.0 == name)
    }
}
