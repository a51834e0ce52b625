//! Postgres' `format(formatstr, args...)`, `quote_literal` and `quote_nullable`, which DataFusion
//! lacks and catalog readers use (sqlsmith's first query, psql's `\d` helpers, dbt macros).
//!
//! `format` follows Postgres: `%s` (text; NULL is empty), `%I` (identifier, quoted as
//! `quote_ident` does; NULL is an error), `%L` (literal, quoted; NULL is `NULL`), `%%`, the
//! position `%n$`, and a width with the `-` flag (`%-10s`, `%*s` is not supported).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Signature, SimpleScalarUDF, Volatility};

/// The error Postgres raises for a bad format string (22023 at the wire).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(pub String);

fn bad(msg: impl Into<String>) -> DataFusionError {
    DataFusionError::External(Box::new(FormatError(msg.into())))
}

/// Postgres' text of one value (`t`/`f` for booleans), `None` for NULL.
fn texts(a: &ArrayRef) -> Result<Vec<Option<String>>> {
    if let Some(b) = a
        .as_any()
        .downcast_ref::<datafusion::arrow::array::BooleanArray>()
    {
        return Ok(b
            .iter()
            .map(|v| v.map(|v| if v { "t" } else { "f" }.to_string()))
            .collect());
    }
    let s = datafusion::arrow::compute::cast(a, &DataType::Utf8)?;
    let s = s
        .as_any()
        .downcast_ref::<datafusion::arrow::array::StringArray>()
        .ok_or_else(|| bad("format(): argument is not text"))?;
    Ok(s.iter().map(|v| v.map(str::to_string)).collect())
}

pub fn quote_ident(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('"', "\"\""))
    }
}

pub fn quote_literal(s: &str) -> String {
    if s.contains('\\') {
        format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

/// Widths beyond this are refused: a width allocates its padding (PostgreSQL allows up to
/// INT_MAX, which is more memory than a query may take).
const MAX_WIDTH: usize = 1 << 20;

/// One row: the format string and the argument texts.
fn format_row(fmt: &str, args: &[Option<String>]) -> Result<String> {
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    let mut next_arg = 0usize;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        // [n$][-][width]type
        let mut digits = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        let mut position = None;
        if !digits.is_empty() && chars.peek() == Some(&'$') {
            chars.next();
            let n: usize = digits
                .parse()
                .map_err(|_| bad("format(): argument position is too large"))?;
            if n == 0 {
                return Err(bad(
                    "format specifies argument 0, but arguments are numbered from 1",
                ));
            }
            position = Some(n - 1);
            digits.clear();
        }
        let mut left = false;
        if digits.is_empty() {
            if chars.peek() == Some(&'-') {
                left = true;
                chars.next();
            }
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                chars.next();
            }
        }
        if chars.peek() == Some(&'*') {
            return Err(bad(
                "format(): width from an argument (%*) is not supported",
            ));
        }
        let width: usize = if digits.is_empty() {
            0
        } else {
            digits
                .parse()
                .ok()
                .filter(|w| *w <= MAX_WIDTH)
                .ok_or_else(|| bad(format!("format(): width is larger than {MAX_WIDTH}")))?
        };
        let kind = chars
            .next()
            .ok_or_else(|| bad("unterminated format() type specifier"))?;
        let index = position.unwrap_or(next_arg);
        next_arg = index + 1;
        let arg = args
            .get(index)
            .ok_or_else(|| bad("too few arguments for format()"))?;
        let text = match kind {
            's' => arg.clone().unwrap_or_default(),
            'I' => quote_ident(
                arg.as_deref()
                    .ok_or_else(|| bad("null values cannot be formatted as an SQL identifier"))?,
            ),
            'L' => arg
                .as_deref()
                .map(quote_literal)
                .unwrap_or_else(|| "NULL".into()),
            other => {
                return Err(bad(format!(
                    "unrecognized format() type specifier \"{other}\""
                )));
            }
        };
        let pad = width.saturating_sub(text.chars().count());
        if left {
            out.push_str(&text);
            out.extend(std::iter::repeat_n(' ', pad));
        } else {
            out.extend(std::iter::repeat_n(' ', pad));
            out.push_str(&text);
        }
    }
    Ok(out)
}

fn rows(args: &[ColumnarValue]) -> Option<usize> {
    args.iter().find_map(|a| match a {
        ColumnarValue::Array(a) => Some(a.len()),
        _ => None,
    })
}

/// `format`, `quote_literal`, `quote_nullable`.
pub fn udfs() -> Vec<ScalarUDF> {
    let format = Arc::new(|args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = rows(args);
        let arrays: Vec<ArrayRef> = args
            .iter()
            .map(|a| a.to_array(n.unwrap_or(1)))
            .collect::<Result<_>>()?;
        let Some(fmt) = arrays.first() else {
            return Err(bad("function format() needs a format string"));
        };
        let fmt = texts(fmt)?;
        let values: Vec<Vec<Option<String>>> =
            arrays[1..].iter().map(texts).collect::<Result<_>>()?;
        let mut out = StringBuilder::new();
        for (row, f) in fmt.iter().enumerate() {
            match f {
                None => out.append_null(),
                Some(f) => {
                    let args: Vec<Option<String>> = values.iter().map(|v| v[row].clone()).collect();
                    out.append_value(format_row(f, &args)?);
                }
            }
        }
        let array: ArrayRef = Arc::new(out.finish());
        Ok(match n {
            Some(_) => ColumnarValue::Array(array),
            None => {
                ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(&array, 0)?)
            }
        })
    });
    let quoting = |name: &str, null_text: Option<&'static str>| {
        let fun = Arc::new(move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
            let n = rows(args);
            let a = args[0].to_array(n.unwrap_or(1))?;
            let mut out = StringBuilder::new();
            for v in texts(&a)? {
                match (v, null_text) {
                    (Some(v), _) => out.append_value(quote_literal(&v)),
                    (None, Some(t)) => out.append_value(t),
                    (None, None) => out.append_null(),
                }
            }
            let array: ArrayRef = Arc::new(out.finish());
            Ok(match n {
                Some(_) => ColumnarValue::Array(array),
                None => ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(
                    &array, 0,
                )?),
            })
        });
        ScalarUDF::from(SimpleScalarUDF::new_with_signature(
            name,
            Signature::any(1, Volatility::Immutable),
            DataType::Utf8,
            fun,
        ))
    };
    vec![
        ScalarUDF::from(SimpleScalarUDF::new_with_signature(
            "format",
            Signature::variadic_any(Volatility::Stable),
            DataType::Utf8,
            format,
        )),
        quoting("quote_literal", None),
        quoting("quote_nullable", Some("NULL")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(fmt: &str, args: &[Option<&str>]) -> Result<String> {
        let args: Vec<Option<String>> = args.iter().map(|a| a.map(str::to_string)).collect();
        format_row(fmt, &args)
    }

    #[test]
    fn formats_like_postgres() {
        // Expected texts from PostgreSQL 15's documentation examples.
        assert_eq!(f("Hello %s", &[Some("World")]).unwrap(), "Hello World");
        assert_eq!(
            f(
                "Testing %s, %s, %s, %%",
                &[Some("one"), Some("two"), Some("three")]
            )
            .unwrap(),
            "Testing one, two, three, %"
        );
        assert_eq!(
            f(
                "INSERT INTO %I VALUES(%L)",
                &[Some("Foo bar"), Some("O'Reilly")]
            )
            .unwrap(),
            "INSERT INTO \"Foo bar\" VALUES('O''Reilly')"
        );
        assert_eq!(f("|%10s|", &[Some("foo")]).unwrap(), "|       foo|");
        assert_eq!(f("|%-10s|", &[Some("foo")]).unwrap(), "|foo       |");
        assert_eq!(
            f(
                "Testing %3$s, %2$s, %1$s",
                &[Some("one"), Some("two"), Some("three")]
            )
            .unwrap(),
            "Testing three, two, one"
        );
        assert_eq!(
            f("%1$s %1$L %s", &[Some("a"), Some("b")]).unwrap(),
            "a 'a' b"
        );
        assert_eq!(f("%s|%L", &[None, None]).unwrap(), "|NULL");
        assert_eq!(
            f("%I.%I", &[Some("pg_catalog"), Some("Typ")]).unwrap(),
            "pg_catalog.\"Typ\""
        );
        assert!(f("%I", &[None]).is_err());
        assert!(f("%s %s", &[Some("a")]).is_err());
        assert!(f("%x", &[Some("a")]).is_err());
        assert!(f("%", &[]).is_err());
        assert!(f("%999999999999s", &[Some("")]).is_err());
        assert!(f("%99999999999999999999999s", &[Some("")]).is_err());
        assert_eq!(quote_literal("a\\b"), "E'a\\\\b'");
    }
}
