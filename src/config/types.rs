//! SQL type names as sources' `schema:` writes them.

use datafusion::arrow::datatypes::{DataType, TimeUnit};

/// `bigint`, `int`, `decimal(12,2)`, ... → Arrow type.
pub fn parse_type(t: &str) -> std::result::Result<DataType, String> {
    let l = t.trim().to_ascii_lowercase();
    let dec = |inner: &str| -> std::result::Result<DataType, String> {
        let (p, s) = inner.split_once(',').unwrap_or((inner, "0"));
        let p: u8 = p
            .trim()
            .parse()
            .map_err(|_| format!("bad precision in `{t}`"))?;
        let s: i8 = s
            .trim()
            .parse()
            .map_err(|_| format!("bad scale in `{t}`"))?;
        if p == 0 || p > 38 || s < 0 || s as u8 > p {
            return Err(format!(
                "`{t}`: precision 1..38 and 0 <= scale <= precision"
            ));
        }
        Ok(DataType::Decimal128(p, s))
    };
    Ok(match l.as_str() {
        "bigint" | "int8" | "long" => DataType::Int64,
        "int" | "integer" | "int4" => DataType::Int32,
        "smallint" | "int2" => DataType::Int16,
        "double" | "double precision" | "float8" | "float" => DataType::Float64,
        "real" | "float4" => DataType::Float32,
        "text" | "string" | "varchar" => DataType::Utf8,
        "date" => DataType::Date32,
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, None),
        "timestamptz" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        "boolean" | "bool" => DataType::Boolean,
        "bytea" | "binary" | "blob" => DataType::Binary,
        "decimal" | "numeric" => DataType::Decimal128(38, 10),
        _ => {
            if let Some(inner) = l
                .strip_prefix("decimal(")
                .or_else(|| l.strip_prefix("numeric("))
                .and_then(|r| r.strip_suffix(')'))
            {
                dec(inner)?
            } else {
                return Err(format!(
                    "unknown type `{t}` (bigint, int, smallint, double, real, decimal(p,s), text, date, timestamp, timestamptz, boolean, bytea)"
                ));
            }
        }
    })
}
