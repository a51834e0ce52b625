//! Bound parameter values (Bind message) → DataFusion scalars.
//!
//! Binary values follow the Postgres `*recv` formats; text values are parsed by Arrow's casts,
//! which accept what Postgres' input functions accept for the common types.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use pgwire::api::Type;

use crate::engine::EngineError;
use crate::engine::pg_types::arrow_type_of;

const PG_EPOCH_DAYS: i32 = 10_957;
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

fn bad(t: &Type, why: impl std::fmt::Display) -> EngineError {
    EngineError::InvalidParameter(format!(
        "invalid input for parameter of type {}: {why}",
        t.name()
    ))
}

fn fixed<const N: usize>(t: &Type, b: &[u8]) -> Result<[u8; N], EngineError> {
    b.try_into()
        .map_err(|_| bad(t, format!("expected {N} bytes, got {}", b.len())))
}

/// Decodes one parameter. `target` is the type DataFusion inferred for the placeholder.
pub fn decode(
    value: Option<&[u8]>,
    binary: bool,
    pg: &Type,
    target: Option<&DataType>,
) -> Result<ScalarValue, EngineError> {
    let natural = arrow_type_of(pg);
    let want = target
        .cloned()
        .or(natural.clone())
        .unwrap_or(DataType::Utf8);
    let Some(bytes) = value else {
        return ScalarValue::try_from(&want).map_err(|e| bad(pg, e));
    };
    // An untyped (or text) value where an array is expected (`= ANY($1)`): the array's text.
    let element = crate::engine::pg_types::array_element(pg).or_else(|| match target {
        Some(DataType::List(f))
            if !binary && [Type::UNKNOWN, Type::TEXT, Type::VARCHAR].contains(pg) =>
        {
            crate::engine::pg_types::pg_type_of(f.data_type()).0.into()
        }
        _ => None,
    });
    let scalar = if let Some(element) = element {
        decode_array(bytes, binary, pg, &element)?
    } else if binary {
        decode_binary(bytes, pg)?
    } else {
        let s = std::str::from_utf8(bytes).map_err(|e| bad(pg, e))?;
        decode_text(s, pg).or_else(|e| {
            // `$1::regclass` arrives with the cast stripped (OIDs are integers here): a
            // relation name bound where an OID is expected stands for that relation's OID.
            if [Type::INT4, Type::INT8, Type::OID].contains(pg) && is_relation_name(s) {
                Ok(ScalarValue::Int32(Some(
                    crate::engine::pg_catalog::regclass_oid(s),
                )))
            } else {
                Err(e)
            }
        })?
    };
    match target {
        Some(t) if *t != scalar.data_type() && *t != DataType::Null => {
            scalar.cast_to(t).or_else(|e| {
                // As above, for parameters the client sent untyped.
                match (&scalar, t) {
                    (
                        ScalarValue::Utf8(Some(name)),
                        DataType::Int32 | DataType::Int64 | DataType::UInt32,
                    ) if is_relation_name(name) => {
                        ScalarValue::Int32(Some(crate::engine::pg_catalog::regclass_oid(name)))
                            .cast_to(t)
                            .map_err(|e| bad(pg, e))
                    }
                    _ => Err(bad(pg, e)),
                }
            })
        }
        _ => Ok(scalar),
    }
}

/// A one-dimensional array parameter (`= ANY($1)` with a driver's list), text (`{1,"a b",NULL}`)
/// or binary (Postgres' array_send layout), as a list of the element's Arrow type.
fn decode_array(
    b: &[u8],
    binary: bool,
    pg: &Type,
    element: &Type,
) -> Result<ScalarValue, EngineError> {
    let item = arrow_type_of(element).ok_or_else(|| {
        bad(
            pg,
            format!("arrays of {} are not supported", element.name()),
        )
    })?;
    let values: Vec<Option<ScalarValue>> = if binary {
        let int = |at: usize| -> Result<i32, EngineError> {
            b.get(at..at + 4)
                .map(|s| i32::from_be_bytes(s.try_into().expect("4 bytes")))
                .ok_or_else(|| bad(pg, "truncated array"))
        };
        let dims = int(0)?;
        match dims {
            0 => vec![],
            1 => {
                let n = usize::try_from(int(12)?).map_err(|_| bad(pg, "negative length"))?;
                let mut at = 20;
                let mut out = Vec::with_capacity(n.min(1 << 16));
                for _ in 0..n {
                    let len = int(at)?;
                    at += 4;
                    if len < 0 {
                        out.push(None);
                        continue;
                    }
                    let end = at + len as usize;
                    let bytes = b.get(at..end).ok_or_else(|| bad(pg, "truncated array"))?;
                    out.push(Some(decode_binary(bytes, element)?));
                    at = end;
                }
                out
            }
            _ => return Err(bad(pg, "only one-dimensional arrays are supported")),
        }
    } else {
        let s = std::str::from_utf8(b).map_err(|e| bad(pg, e))?;
        text_array_items(s)
            .ok_or_else(|| bad(pg, format!("\"{s}\" is not a one-dimensional array")))?
            .into_iter()
            .map(|v| v.map(|v| decode_text(&v, element)).transpose())
            .collect::<Result<_, _>>()?
    };
    let values = values
        .into_iter()
        .map(|v| match v {
            Some(v) if v.data_type() != item => v.cast_to(&item).map_err(|e| bad(pg, e)),
            Some(v) => Ok(v),
            None => ScalarValue::try_from(&item).map_err(|e| bad(pg, e)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ScalarValue::List(ScalarValue::new_list_nullable(
        &values, &item,
    )))
}

/// `{a,"b c",NULL,"x\"y"}` → its items (`None` for an unquoted NULL); `None` for text that
/// is not a one-dimensional array.
fn text_array_items(s: &str) -> Option<Vec<Option<String>>> {
    let inner = s.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut out = Vec::new();
    if inner.trim().is_empty() {
        return Some(out);
    }
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut item = String::new();
        let quoted = chars.peek() == Some(&'"');
        if quoted {
            chars.next();
            loop {
                match chars.next()? {
                    '\\' => item.push(chars.next()?),
                    '"' => break,
                    c => item.push(c),
                }
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if c == '{' || c == '"' {
                    return None;
                }
                item.push(c);
                chars.next();
            }
            item = item.trim().to_string();
        }
        out.push((quoted || !item.eq_ignore_ascii_case("null")).then_some(item));
        match chars.next() {
            Some(',') => continue,
            None => return Some(out),
            Some(_) => return None,
        }
    }
}

/// Only qualified catalog names (`pg_catalog.pg_constraint`, as drivers pass for `classoid`
/// lookups): a user's typo in an integer parameter must still be 22P02.
fn is_relation_name(s: &str) -> bool {
    let s = s.trim();
    s.strip_prefix("pg_catalog.")
        .is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

fn decode_text(s: &str, pg: &Type) -> Result<ScalarValue, EngineError> {
    if *pg == Type::NUMERIC {
        return numeric_from_str(s).ok_or_else(|| bad(pg, format!("\"{s}\"")));
    }
    if *pg == Type::BOOL {
        return match s.trim().to_ascii_lowercase().as_str() {
            "t" | "true" | "y" | "yes" | "on" | "1" => Ok(ScalarValue::Boolean(Some(true))),
            "f" | "false" | "n" | "no" | "off" | "0" => Ok(ScalarValue::Boolean(Some(false))),
            _ => Err(bad(pg, format!("\"{s}\""))),
        };
    }
    if *pg == Type::BYTEA {
        let hex = s
            .strip_prefix("\\x")
            .ok_or_else(|| bad(pg, "expected \\x hex"))?;
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|e| bad(pg, e))?;
        return Ok(ScalarValue::Binary(Some(bytes)));
    }
    // Drivers send dates with a zone ("2024-06-01 +00", pgjdbc) and offsets as "+02";
    // Arrow's parsers want a bare date and "+02:00".
    let s = if *pg == Type::DATE {
        s.split_whitespace().next().unwrap_or(s).to_string()
    } else if *pg == Type::TIMESTAMPTZ {
        normalize_offset(s)
    } else if *pg == Type::TIMESTAMP {
        // Postgres ignores an offset on `timestamp without time zone` input.
        strip_offset(s)
    } else {
        s.to_string()
    };
    let s = s.as_str();
    let text = ScalarValue::Utf8(Some(s.to_string()));
    match arrow_type_of(pg) {
        Some(DataType::Utf8) | None => Ok(text),
        Some(t) => text.cast_to(&t).map_err(|_| bad(pg, format!("\"{s}\""))),
    }
}

/// Where a trailing UTC offset (`+02`, `-05:30`, `Z`) starts, if the text has a time part.
fn offset_start(t: &str) -> Option<usize> {
    // Byte 10 may fall inside a multi-byte character: then this is no timestamp text.
    if !t.get(10..).is_some_and(|rest| rest.contains(':')) {
        return None;
    }
    if t.ends_with('Z') || t.ends_with('z') {
        return Some(t.len() - 1);
    }
    let i = t.rfind(['+', '-'])?;
    (i > 10 && t[i + 1..].chars().all(|c| c.is_ascii_digit() || c == ':')).then_some(i)
}

fn normalize_offset(s: &str) -> String {
    let t = s.trim();
    match offset_start(t) {
        Some(i) if t.len() - i == 3 => format!("{}{}:00", t[..i].trim_end(), &t[i..]),
        Some(i) => format!("{}{}", t[..i].trim_end(), &t[i..]),
        None => t.to_string(),
    }
}

fn strip_offset(s: &str) -> String {
    let t = s.trim();
    match offset_start(t) {
        Some(i) => t[..i].trim_end().to_string(),
        None => t.to_string(),
    }
}

/// Parses a decimal literal into a Decimal128 with exactly its own scale.
fn numeric_from_str(s: &str) -> Option<ScalarValue> {
    let s = s.trim();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty()
        || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let all = format!("{int}{frac}");
    let unscaled: i128 = all.parse().ok()?;
    let scale = frac.len() as i8;
    let precision = all
        .trim_start_matches('0')
        .len()
        .clamp(1, 38)
        .max(scale as usize) as u8;
    Some(ScalarValue::Decimal128(
        Some(if neg { -unscaled } else { unscaled }),
        precision.max(1),
        scale,
    ))
}

fn decode_binary(b: &[u8], pg: &Type) -> Result<ScalarValue, EngineError> {
    Ok(match pg {
        t if *t == Type::BOOL => ScalarValue::Boolean(Some(fixed::<1>(t, b)?[0] != 0)),
        t if *t == Type::INT2 => ScalarValue::Int16(Some(i16::from_be_bytes(fixed(t, b)?))),
        t if *t == Type::INT4 => ScalarValue::Int32(Some(i32::from_be_bytes(fixed(t, b)?))),
        t if *t == Type::INT8 => ScalarValue::Int64(Some(i64::from_be_bytes(fixed(t, b)?))),
        t if *t == Type::OID => ScalarValue::UInt32(Some(u32::from_be_bytes(fixed(t, b)?))),
        t if *t == Type::FLOAT4 => ScalarValue::Float32(Some(f32::from_be_bytes(fixed(t, b)?))),
        t if *t == Type::FLOAT8 => ScalarValue::Float64(Some(f64::from_be_bytes(fixed(t, b)?))),
        t if *t == Type::BYTEA => ScalarValue::Binary(Some(b.to_vec())),
        t if *t == Type::DATE => {
            ScalarValue::Date32(Some(i32::from_be_bytes(fixed(t, b)?) + PG_EPOCH_DAYS))
        }
        t if *t == Type::TIMESTAMP => ScalarValue::TimestampMicrosecond(
            Some(i64::from_be_bytes(fixed(t, b)?) + PG_EPOCH_MICROS),
            None,
        ),
        t if *t == Type::TIMESTAMPTZ => ScalarValue::TimestampMicrosecond(
            Some(i64::from_be_bytes(fixed(t, b)?) + PG_EPOCH_MICROS),
            Some("UTC".into()),
        ),
        t if *t == Type::TIME => {
            ScalarValue::Time64Microsecond(Some(i64::from_be_bytes(fixed(t, b)?)))
        }
        t if *t == Type::UUID => {
            let u: [u8; 16] = fixed(t, b)?;
            let h: String = u.iter().map(|x| format!("{x:02x}")).collect();
            ScalarValue::Utf8(Some(format!(
                "{}-{}-{}-{}-{}",
                &h[..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..]
            )))
        }
        t if *t == Type::JSONB => {
            let body = b
                .strip_prefix(&[1u8])
                .ok_or_else(|| bad(t, "unknown jsonb version"))?;
            ScalarValue::Utf8(Some(
                String::from_utf8(body.to_vec()).map_err(|e| bad(t, e))?,
            ))
        }
        t if *t == Type::NUMERIC => numeric_from_binary(b).ok_or_else(|| bad(t, "bad numeric"))?,
        t if [
            Type::TEXT,
            Type::VARCHAR,
            Type::BPCHAR,
            Type::NAME,
            Type::UNKNOWN,
            Type::JSON,
        ]
        .contains(t) =>
        {
            ScalarValue::Utf8(Some(String::from_utf8(b.to_vec()).map_err(|e| bad(t, e))?))
        }
        t => {
            return Err(EngineError::Unsupported(format!(
                "binary parameters of type {}",
                t.name()
            )));
        }
    })
}

/// Postgres `numeric_send` layout back to a decimal.
fn numeric_from_binary(b: &[u8]) -> Option<ScalarValue> {
    let rd =
        |i: usize| -> Option<i16> { Some(i16::from_be_bytes(b.get(i..i + 2)?.try_into().ok()?)) };
    let ndigits = rd(0)? as usize;
    let weight = rd(2)? as i32;
    let sign = rd(4)? as u16;
    let dscale = rd(6)? as u16 as i32;
    if sign == 0xC000 {
        return Some(ScalarValue::Float64(Some(f64::NAN)));
    }
    let mut unscaled: i128;
    // value = sum(d_i * 10000^(weight - i)); scaled by 10^dscale.
    let mut int_digits = String::new();
    for i in 0..ndigits {
        let d = rd(8 + 2 * i)?;
        int_digits.push_str(&format!("{d:04}"));
    }
    // Position of the decimal point within int_digits: (weight + 1) * 4 digits.
    let point = (weight + 1) * 4;
    let mut s = String::new();
    if point <= 0 {
        s.push_str(&"0".repeat((-point) as usize));
        s.push_str(&int_digits);
        let frac: String = s
            .chars()
            .chain(std::iter::repeat('0'))
            .take(dscale as usize)
            .collect();
        unscaled = frac.parse().ok()?;
    } else {
        let p = point as usize;
        let padded: String = int_digits
            .chars()
            .chain(std::iter::repeat('0'))
            .take(p.max(int_digits.len()))
            .collect();
        let (int, frac) = padded.split_at(p);
        let frac: String = frac
            .chars()
            .chain(std::iter::repeat('0'))
            .take(dscale as usize)
            .collect();
        let all = format!("{int}{frac}");
        // More digits than an i128 holds is an error, never a silent 0.
        unscaled = all.parse().ok()?;
    }
    if sign == 0x4000 {
        unscaled = -unscaled;
    }
    Some(ScalarValue::Decimal128(Some(unscaled), 38, dscale as i8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_parameters_decode_in_text_and_binary() {
        let list = |v: Vec<ScalarValue>, t: DataType| {
            ScalarValue::List(ScalarValue::new_list_nullable(&v, &t))
        };
        // What psycopg sends for [401, 402, None] in text, and for ["DE", "a \"b\""].
        assert_eq!(
            decode(Some(b"{401,402,NULL}"), false, &Type::INT8_ARRAY, None).unwrap(),
            list(
                vec![
                    ScalarValue::Int64(Some(401)),
                    ScalarValue::Int64(Some(402)),
                    ScalarValue::Int64(None)
                ],
                DataType::Int64
            )
        );
        assert_eq!(
            decode(
                Some(br#"{DE,"a \"b\"","NULL"}"#),
                false,
                &Type::TEXT_ARRAY,
                None
            )
            .unwrap(),
            list(
                vec![
                    ScalarValue::Utf8(Some("DE".into())),
                    ScalarValue::Utf8(Some("a \"b\"".into())),
                    ScalarValue::Utf8(Some("NULL".into())),
                ],
                DataType::Utf8
            )
        );
        // array_send of int4[] {7, NULL}: ndim 1, has nulls, element oid 23, length 2, lbound 1.
        let mut b = vec![];
        for v in [1i32, 1, 23, 2, 1, 4, 7, -1] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        let b = {
            // The element 7 is four bytes after its length.
            let mut out = b[..24].to_vec();
            out.extend_from_slice(&7i32.to_be_bytes());
            out.extend_from_slice(&(-1i32).to_be_bytes());
            out
        };
        assert_eq!(
            decode(Some(&b), true, &Type::INT4_ARRAY, None).unwrap(),
            list(
                vec![ScalarValue::Int32(Some(7)), ScalarValue::Int32(None)],
                DataType::Int32
            )
        );
        assert_eq!(
            decode(Some(b"{}"), false, &Type::INT4_ARRAY, None).unwrap(),
            list(vec![], DataType::Int32)
        );
        for bad_text in ["{1,{2}}", "1,2", "{\"open}"] {
            assert!(
                decode(Some(bad_text.as_bytes()), false, &Type::INT4_ARRAY, None).is_err(),
                "{bad_text}"
            );
        }
        assert!(decode(Some(&b[..10]), true, &Type::INT4_ARRAY, None).is_err());
    }

    #[test]
    fn multibyte_text_timestamps_are_errors_not_panics() {
        // 'é' spans bytes 9..11: byte 10 is inside it.
        for text in ["2026-01-0é 10:00:00+02", "2026-01-01é", "ééééééééééé:"] {
            for t in [Type::TIMESTAMP, Type::TIMESTAMPTZ, Type::DATE] {
                assert!(
                    decode(Some(text.as_bytes()), false, &t, None).is_err(),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn text_numeric_keeps_scale() {
        assert_eq!(
            decode(Some(b"-12.50"), false, &Type::NUMERIC, None).unwrap(),
            ScalarValue::Decimal128(Some(-1250), 4, 2)
        );
    }

    #[test]
    fn binary_numeric_round_trips() {
        // 123.45: ndigits 2, weight 0, sign +, dscale 2, digits [123, 4500]
        let b = [0, 2, 0, 0, 0, 0, 0, 2, 0, 123, 0x11, 0x94];
        assert_eq!(
            numeric_from_binary(&b),
            Some(ScalarValue::Decimal128(Some(12345), 38, 2))
        );
        // -0.05: ndigits 1, weight -1, sign -, dscale 2, digits [500]
        let b = [0, 1, 0xff, 0xff, 0x40, 0, 0, 2, 0x01, 0xf4];
        assert_eq!(
            numeric_from_binary(&b),
            Some(ScalarValue::Decimal128(Some(-5), 38, 2))
        );
    }

    #[test]
    fn driver_date_and_timestamp_spellings_parse() {
        assert_eq!(
            decode(Some(b"2024-06-01 +00"), false, &Type::DATE, None).unwrap(),
            ScalarValue::Date32(Some(19875))
        );
        let ts = decode(
            Some(b"2024-06-01 02:00:00+02"),
            false,
            &Type::TIMESTAMPTZ,
            None,
        )
        .unwrap();
        assert_eq!(
            ts.cast_to(&DataType::Timestamp(
                datafusion::arrow::datatypes::TimeUnit::Microsecond,
                None
            ))
            .unwrap(),
            ScalarValue::TimestampMicrosecond(Some(1_717_200_000_000_000), None)
        );
    }

    #[test]
    fn timestamp_without_zone_ignores_an_offset_and_dates_are_not_offsets() {
        assert_eq!(
            decode(
                Some(b"2024-06-01 02:00:00+02"),
                false,
                &Type::TIMESTAMP,
                None
            )
            .unwrap(),
            ScalarValue::TimestampMicrosecond(Some(1_717_207_200_000_000), None)
        );
        assert_eq!(normalize_offset("2024-06-01"), "2024-06-01");
        assert_eq!(
            normalize_offset("2024-06-01 10:00:00-05"),
            "2024-06-01 10:00:00-05:00"
        );
    }

    #[test]
    fn text_is_cast_to_the_inferred_type() {
        assert_eq!(
            decode(Some(b"42"), false, &Type::UNKNOWN, Some(&DataType::Int64)).unwrap(),
            ScalarValue::Int64(Some(42))
        );
        assert!(decode(Some(b"x"), false, &Type::INT4, None).is_err());
        assert_eq!(
            decode(Some(b"pg_catalog.pg_class"), false, &Type::INT4, None).unwrap(),
            ScalarValue::Int32(Some(1259))
        );
    }
}
