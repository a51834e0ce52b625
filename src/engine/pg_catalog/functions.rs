//! The Postgres functions drivers and BI tools call: regclass/regtype/regproc lookups,
//! descriptions, sizes, array bounds, LIKE escapes, pg_sleep.

use super::*;

pub(super) fn oid_arg(v: &ScalarValue) -> Option<i32> {
    match v {
        ScalarValue::Int32(x) => *x,
        ScalarValue::Int64(x) => x.map(|x| x as i32),
        ScalarValue::UInt32(x) => x.map(|x| x as i32),
        ScalarValue::Utf8(Some(s)) => s.parse().ok(),
        _ => None,
    }
}

pub(super) fn int_arg(v: &ScalarValue) -> Option<i32> {
    match v {
        ScalarValue::Int16(x) => x.map(|x| x as i32),
        ScalarValue::Int32(x) => *x,
        ScalarValue::Int64(x) => x.map(|x| x as i32),
        _ => None,
    }
}

/// Applies `f` row by row over the arguments (scalars are broadcast).
pub(super) fn lookup_udf(
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
pub(super) fn name_to_oid_udf(
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
        // A lake has no stored expressions (pg_attrdef, pg_index, pg_policy are empty), and
        // Postgres gives NULL for a NULL one; datafusion-pg-catalog's answers ''.
        null_udf("pg_get_expr", DataType::Utf8),
        pg_get_userbyid_udf(),
        regtype_name_udf(),
        pg_typeof_udf(),
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

/// OID of PostgreSQL's `pg_database_owner` role, which owns `public` since PostgreSQL 15.
pub const PG_DATABASE_OWNER: i32 = 6171;

/// A function of one OID argument (int4, int8 or oid) that answers text, row by row.
fn oid_text_udf(
    name: &str,
    f: impl Fn(&ArrayRef) -> Result<StringArray> + Send + Sync + 'static,
) -> ScalarUDF {
    let fun = Arc::new(move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = match &args[0] {
            ColumnarValue::Array(a) => a.len(),
            ColumnarValue::Scalar(_) => 1,
        };
        let out = f(&args[0].to_array(n)?)?;
        Ok(match &args[0] {
            ColumnarValue::Scalar(_) => {
                ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
            }
            ColumnarValue::Array(_) => ColumnarValue::Array(Arc::new(out)),
        })
    });
    ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        name,
        Signature::one_of(
            [DataType::Int32, DataType::Int64, DataType::UInt32]
                .into_iter()
                .map(|t| TypeSignature::Exact(vec![t]))
                .collect(),
            Volatility::Stable,
        ),
        DataType::Utf8,
        fun,
    ))
}

/// `pg_get_userbyid(oid)`: `pg_database_owner` for its OID, otherwise the one owner
/// lakegate's objects have (`postgres`).
fn pg_get_userbyid_udf() -> ScalarUDF {
    oid_text_udf("pg_get_userbyid", |oids| {
        use datafusion::arrow::array::{Array, AsArray};
        let oids = datafusion::arrow::compute::cast(oids, &DataType::Int64)?;
        let oids = oids.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        Ok((0..oids.len())
            .map(|i| {
                (!oids.is_null(i)).then(|| {
                    if oids.value(i) == PG_DATABASE_OWNER as i64 {
                        "pg_database_owner"
                    } else {
                        "postgres"
                    }
                })
            })
            .collect())
    })
}

/// Type names as Postgres prints a regtype (`bigint`, `integer[]`; `-` for 0), by
/// datafusion-pg-catalog's format_type.
fn regtype_names(oids: &ArrayRef) -> Result<StringArray> {
    use datafusion::arrow::array::{Array, AsArray};
    static FORMAT: std::sync::OnceLock<ScalarUDF> = std::sync::OnceLock::new();
    let format =
        FORMAT.get_or_init(datafusion_pg_catalog::pg_catalog::format_type::create_format_type_udf);
    let n = oids.len();
    let oids = datafusion::arrow::compute::cast(oids, &DataType::Int32)?;
    let typmods = ColumnarValue::Array(Arc::new(Int32Array::from(vec![None::<i32>; n])));
    let field = Arc::new(Field::new("oid", DataType::Int32, true));
    let named = format.invoke_with_args(datafusion::logical_expr::ScalarFunctionArgs {
        args: vec![ColumnarValue::Array(oids.clone()), typmods],
        arg_fields: vec![field.clone(), field],
        number_rows: n,
        return_field: Arc::new(Field::new("t", DataType::Utf8, true)),
        config_options: Arc::new(datafusion::config::ConfigOptions::default()),
    })?;
    let named = datafusion::arrow::compute::cast(&named.to_array(n)?, &DataType::Utf8)?;
    let (named, oids) = (
        named.as_string::<i32>(),
        oids.as_primitive::<datafusion::arrow::datatypes::Int32Type>(),
    );
    Ok((0..n)
        .map(|i| {
            if oids.is_null(i) {
                None
            } else if oids.value(i) == 0 {
                Some("-".to_string())
            } else {
                named.is_valid(i).then(|| named.value(i).to_string())
            }
        })
        .collect())
}

/// `pg_typeof(x)`: the Postgres type of its argument, by name (`integer`, `text[]`).
fn pg_typeof_udf() -> ScalarUDF {
    let fun = Arc::new(|args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let oid = crate::engine::pg_types::pg_type_of(&args[0].data_type())
            .0
            .oid() as i32;
        let names = regtype_names(&(Arc::new(Int32Array::from(vec![oid])) as ArrayRef))?;
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
            &names, 0,
        )?))
    });
    ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        "pg_typeof",
        Signature::any(1, Volatility::Immutable),
        DataType::Utf8,
        fun,
    ))
}

/// `x::regtype::text` (rewritten to this before the compatibility parser drops the cast): the
/// type's name as Postgres prints a regtype, `-` for 0.
fn regtype_name_udf() -> ScalarUDF {
    oid_text_udf("lakegate_regtype_name", regtype_names)
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
pub(super) fn true_udf(name: &str) -> ScalarUDF {
    ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        name,
        Signature::variadic_any(Volatility::Stable),
        DataType::Boolean,
        Arc::new(|_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))),
    ))
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
    names: Option<Arc<crate::engine::privileges::Privileges>>,
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
        let (lake, access, names) = (lake.clone(), access.clone(), names.clone());
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
                let out: datafusion::arrow::array::Int64Array = (0..values.len())
                    .map(|i| {
                        let v = ScalarValue::try_from_array(&values, i).ok()?;
                        let (schema, table) = match v {
                            ScalarValue::Int32(Some(o)) => by_oid(o)?,
                            ScalarValue::Int64(Some(o)) => by_oid(i32::try_from(o).ok()?)?,
                            ScalarValue::UInt32(Some(o)) => by_oid(i32::try_from(o).ok()?)?,
                            ScalarValue::Utf8(Some(n)) => match &names {
                                Some(names) => names.resolve_name(&n)?,
                                None => name_of_text(&snapshot, &n)?,
                            },
                            _ => return None,
                        };
                        if !crate::engine::access::sees_whole(access.as_deref(), &schema, &table) {
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

/// `schema.table` or `table` (quotes allowed) → the lake table it names, outside a session:
/// an unqualified name is the first zone holding it.
pub(super) fn name_of_text(
    snapshot: &crate::catalog::Snapshot,
    text: &str,
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
            snapshot
                .zones
                .iter()
                .find(|(_, tables)| tables.contains_key(&t))
                .map(|(z, _)| (z.clone(), t))
        }
    }
}

/// `pg_sleep(seconds)`: waits without holding a worker thread (an async function), and is
/// canceled with its query.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct PgSleep {
    pub(super) signature: Signature,
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
