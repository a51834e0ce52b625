//! Arrow → Postgres type mapping: the OID and typmod a client sees in RowDescription.
//!
//! The rules are what Postgres drivers expect for each lake type: `Int8` is int2 (Postgres has no
//! one-byte integer a driver would decode as a number; `"char"` would come back as a letter),
//! unsigned integers widen to the next signed type (UInt64 to numeric) but for UInt32, which is
//! Postgres' unsigned `oid`, decimals carry precision
//! and scale in the typmod (`((p << 16) | s) + 4`, as `numeric(p,s)` does), structs and maps are
//! jsonb, lists are one-dimensional arrays of their element type, and dictionaries are their values.

use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};
use pgwire::api::Type;

/// Arrow extension name that marks a 16-byte FixedSizeBinary as a UUID.
pub const UUID_EXTENSION: &str = "arrow.uuid";

/// Field metadata key naming a Postgres type an Arrow type alone does not tell.
pub const PG_TYPE_KEY: &str = "lakegate.pg_type";

/// A `regproc` column (pg_type.typreceive, ...): Int32 OIDs that compare and join as numbers
/// and print as the function's name (`int8recv`), as Postgres' regproc does; ADBC's
/// PostgreSQL driver resolves types by those names.
pub fn regproc_field(name: &str) -> Field {
    Field::new(name, DataType::Int32, false).with_metadata(
        [(PG_TYPE_KEY.to_string(), "regproc".to_string())]
            .into_iter()
            .collect(),
    )
}

pub fn is_regproc(field: &Field) -> bool {
    field.data_type() == &DataType::Int32
        && field.metadata().get(PG_TYPE_KEY).map(String::as_str) == Some("regproc")
}

/// Postgres type and typmod (-1 when none) for an Arrow field.
pub fn pg_type(field: &Field) -> (Type, i32) {
    if is_regproc(field) {
        return (Type::REGPROC, -1);
    }
    if is_uuid(field) {
        return (Type::UUID, -1);
    }
    pg_type_of(field.data_type())
}

pub fn is_uuid(field: &Field) -> bool {
    matches!(field.data_type(), DataType::FixedSizeBinary(16))
        && field
            .metadata()
            .get("ARROW:extension:name")
            .is_some_and(|n| n == UUID_EXTENSION)
}

pub fn pg_type_of(dt: &DataType) -> (Type, i32) {
    use DataType::*;
    let t = match dt {
        Null => Type::TEXT,
        Boolean => Type::BOOL,
        Int8 | Int16 | UInt8 => Type::INT2,
        Int32 | UInt16 => Type::INT4,
        // Postgres' oid is its one unsigned 4-byte integer; UInt32 is how lakegate carries
        // oids whose type a client must see (`array_agg(atttypid)` is `oid[]`).
        UInt32 => Type::OID,
        Int64 => Type::INT8,
        UInt64 => Type::NUMERIC,
        Float16 | Float32 => Type::FLOAT4,
        Float64 => Type::FLOAT8,
        Decimal32(p, s) | Decimal64(p, s) => return (Type::NUMERIC, numeric_typmod(*p, *s)),
        Decimal128(p, s) | Decimal256(p, s) => return (Type::NUMERIC, numeric_typmod(*p, *s)),
        Utf8 | LargeUtf8 | Utf8View => Type::TEXT,
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => Type::BYTEA,
        Date32 | Date64 => Type::DATE,
        Timestamp(unit, None) => return (Type::TIMESTAMP, time_typmod(unit)),
        Timestamp(unit, Some(_)) => return (Type::TIMESTAMPTZ, time_typmod(unit)),
        Time32(_) | Time64(_) => Type::TIME,
        Interval(_) | Duration(_) => Type::INTERVAL,
        Struct(_) | Map(_, _) | Union(_, _) => Type::JSONB,
        List(f) | LargeList(f) | ListView(f) | LargeListView(f) | FixedSizeList(f, _) => {
            return (array_of(f), -1);
        }
        Dictionary(_, v) => return pg_type_of(v),
        RunEndEncoded(_, v) => return pg_type_of(v.data_type()),
    };
    (t, -1)
}

/// Array type of a list's element; nested lists and other element types fall back to jsonb,
/// since Postgres arrays are rectangular and a ragged list of lists would not fit one.
fn array_of(element: &Field) -> Type {
    if is_uuid(element) {
        return Type::UUID_ARRAY;
    }
    match pg_type_of(element.data_type()).0 {
        t if t == Type::BOOL => Type::BOOL_ARRAY,
        t if t == Type::INT2 => Type::INT2_ARRAY,
        t if t == Type::INT4 => Type::INT4_ARRAY,
        t if t == Type::INT8 => Type::INT8_ARRAY,
        t if t == Type::OID => Type::OID_ARRAY,
        t if t == Type::FLOAT4 => Type::FLOAT4_ARRAY,
        t if t == Type::FLOAT8 => Type::FLOAT8_ARRAY,
        t if t == Type::NUMERIC => Type::NUMERIC_ARRAY,
        t if t == Type::TEXT => Type::TEXT_ARRAY,
        t if t == Type::BYTEA => Type::BYTEA_ARRAY,
        t if t == Type::DATE => Type::DATE_ARRAY,
        t if t == Type::TIMESTAMP => Type::TIMESTAMP_ARRAY,
        t if t == Type::TIMESTAMPTZ => Type::TIMESTAMPTZ_ARRAY,
        t if t == Type::TIME => Type::TIME_ARRAY,
        t if t == Type::INTERVAL => Type::INTERVAL_ARRAY,
        t if t == Type::JSONB => Type::JSONB_ARRAY,
        _ => Type::JSONB,
    }
}

/// `numeric(p,s)` typmod; Arrow allows negative scales, Postgres clients do not expect them.
fn numeric_typmod(precision: u8, scale: i8) -> i32 {
    let p = (precision as i32).min(1000);
    let s = (scale as i32).max(0);
    ((p << 16) | s) + 4
}

/// Fractional-second precision of timestamps; Postgres stops at microseconds.
fn time_typmod(unit: &TimeUnit) -> i32 {
    match unit {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 3,
        TimeUnit::Microsecond | TimeUnit::Nanosecond => -1,
    }
}

/// The Arrow type a bound parameter of Postgres type `t` decodes to.
pub fn arrow_type_of(t: &Type) -> Option<DataType> {
    Some(match t {
        t if *t == Type::BOOL => DataType::Boolean,
        t if *t == Type::INT2 => DataType::Int16,
        t if *t == Type::INT4 => DataType::Int32,
        t if *t == Type::INT8 => DataType::Int64,
        t if *t == Type::FLOAT4 => DataType::Float32,
        t if *t == Type::FLOAT8 => DataType::Float64,
        t if *t == Type::NUMERIC => DataType::Decimal128(38, 10),
        t if *t == Type::TEXT || *t == Type::VARCHAR || *t == Type::BPCHAR || *t == Type::NAME => {
            DataType::Utf8
        }
        t if *t == Type::BYTEA => DataType::Binary,
        t if *t == Type::DATE => DataType::Date32,
        t if *t == Type::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
        t if *t == Type::TIMESTAMPTZ => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        }
        t if *t == Type::TIME => DataType::Time64(TimeUnit::Microsecond),
        t if *t == Type::JSON || *t == Type::JSONB || *t == Type::UUID => DataType::Utf8,
        t if *t == Type::OID => DataType::UInt32,
        // `= ANY($1)` with a bound array: a list of the element type.
        t => DataType::List(std::sync::Arc::new(
            datafusion::arrow::datatypes::Field::new_list_field(
                arrow_type_of(&array_element(t)?)?,
                true,
            ),
        )),
    })
}

/// The element type of a Postgres array type drivers bind (`_int8` → `int8`).
pub fn array_element(t: &Type) -> Option<Type> {
    Some(match t {
        t if *t == Type::BOOL_ARRAY => Type::BOOL,
        t if *t == Type::INT2_ARRAY => Type::INT2,
        t if *t == Type::INT4_ARRAY => Type::INT4,
        t if *t == Type::INT8_ARRAY => Type::INT8,
        t if *t == Type::OID_ARRAY => Type::OID,
        t if *t == Type::FLOAT4_ARRAY => Type::FLOAT4,
        t if *t == Type::FLOAT8_ARRAY => Type::FLOAT8,
        t if *t == Type::NUMERIC_ARRAY => Type::NUMERIC,
        t if *t == Type::TEXT_ARRAY => Type::TEXT,
        t if *t == Type::VARCHAR_ARRAY => Type::VARCHAR,
        t if *t == Type::BPCHAR_ARRAY => Type::BPCHAR,
        t if *t == Type::NAME_ARRAY => Type::NAME,
        t if *t == Type::BYTEA_ARRAY => Type::BYTEA,
        t if *t == Type::DATE_ARRAY => Type::DATE,
        t if *t == Type::TIMESTAMP_ARRAY => Type::TIMESTAMP,
        t if *t == Type::TIMESTAMPTZ_ARRAY => Type::TIMESTAMPTZ,
        t if *t == Type::TIME_ARRAY => Type::TIME,
        t if *t == Type::UUID_ARRAY => Type::UUID,
        t if *t == Type::JSON_ARRAY => Type::JSON,
        t if *t == Type::JSONB_ARRAY => Type::JSONB,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn int8_is_int2_not_char() {
        assert_eq!(pg_type_of(&DataType::Int8).0, Type::INT2);
    }

    #[test]
    fn decimals_carry_precision_and_scale() {
        let (t, m) = pg_type_of(&DataType::Decimal128(12, 2));
        assert_eq!(t, Type::NUMERIC);
        assert_eq!(((m - 4) >> 16, (m - 4) & 0xffff), (12, 2));
        assert_eq!(pg_type_of(&DataType::Decimal256(50, 5)).0, Type::NUMERIC);
    }

    #[test]
    fn lists_are_arrays_and_nested_lists_jsonb() {
        let l = DataType::List(Arc::new(Field::new("item", DataType::Int32, true)));
        assert_eq!(pg_type_of(&l).0, Type::INT4_ARRAY);
        let ll = DataType::List(Arc::new(Field::new("item", l, true)));
        assert_eq!(pg_type_of(&ll).0, Type::JSONB);
    }
}
