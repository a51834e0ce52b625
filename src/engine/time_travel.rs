//! Time-travel clauses the Postgres grammar does not know, rewritten before parsing into the
//! table-name shorthands the lake catalog resolves (see `catalog::travel::TableRef`):
//!
//! - `t FOR VERSION AS OF 12` (Trino), `t VERSION AS OF 12` (Databricks) → `"t@v12"`
//! - `t FOR VERSION AS OF 'audit'` (Trino: an Iceberg branch or tag) → `"t@ref:audit"`
//! - `t FOR TIMESTAMP AS OF '2026-01-01 00:00:00'` (Trino), `t TIMESTAMP AS OF '…'`
//!   (Databricks), `t FOR SYSTEM_TIME AS OF '…'` → `"t@20260101000000000"` (UTC, milliseconds)
//!
//! The rewrite works on tokens with their source positions and splices the original text, so
//! string literals, comments and quoting elsewhere are untouched.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

/// A clause that cannot be served: a timestamp that does not parse.
#[derive(Debug, PartialEq)]
pub struct BadClause(pub String);

pub fn rewrite(sql: &str) -> Result<Cow<'_, str>, BadClause> {
    // Cheap filter on every query, without allocating: every clause has OF after whitespace.
    if !sql
        .as_bytes()
        .windows(3)
        .any(|w| w[0].is_ascii_whitespace() && w[1..].eq_ignore_ascii_case(b"of"))
    {
        return Ok(Cow::Borrowed(sql));
    }
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize_with_location() else {
        return Ok(Cow::Borrowed(sql));
    };
    // Significant tokens only, with their index in `tokens`.
    let sig: Vec<&TokenWithSpan> = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    let offsets = LineOffsets::new(sql);
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut i = 0;
    while i + 3 < sig.len() {
        // [FOR] VERSION|TIMESTAMP|SYSTEM_TIME AS OF <literal>, right after a table name.
        let kind = match keyword(sig[i]) {
            Some(Keyword::VERSION) => Kind::Version,
            Some(Keyword::TIMESTAMP) => Kind::Timestamp,
            Some(Keyword::SYSTEM_TIME) => Kind::Timestamp,
            _ => {
                i += 1;
                continue;
            }
        };
        if keyword(sig[i + 1]) != Some(Keyword::AS) || keyword(sig[i + 2]) != Some(Keyword::OF) {
            i += 1;
            continue;
        }
        let has_for = i > 0 && keyword(sig[i - 1]) == Some(Keyword::FOR);
        let name_end = if has_for { i - 1 } else { i };
        if name_end == 0 {
            i += 1;
            continue;
        }
        let Token::Word(name) = &sig[name_end - 1].token else {
            i += 1;
            continue;
        };
        // The literal: a number, a string, or TIMESTAMP '…'.
        let mut lit = i + 3;
        if keyword(sig[lit]) == Some(Keyword::TIMESTAMP) && lit + 1 < sig.len() {
            lit += 1;
        }
        let suffix = match (&kind, &sig[lit].token) {
            (Kind::Version, Token::Number(n, _)) if n.parse::<u64>().is_ok() => format!("v{n}"),
            // Trino's `FOR VERSION AS OF 'audit'`: an Iceberg branch or tag by name.
            (Kind::Version, Token::SingleQuotedString(s)) if !s.is_empty() => format!("ref:{s}"),
            (Kind::Timestamp, Token::SingleQuotedString(s)) => {
                let ts = parse_timestamp(s).ok_or_else(|| {
                    BadClause(format!(
                        "invalid timestamp {s:?} in TIMESTAMP AS OF (expected e.g. '2026-01-01 00:00:00')"
                    ))
                })?;
                ts.format("%Y%m%d%H%M%S%3f").to_string()
            }
            _ => {
                i += 1;
                continue;
            }
        };
        let start = offsets.byte(sig[name_end - 1].span.start);
        let end = offsets.byte(sig[lit].span.end);
        let quoted = format!("\"{}@{suffix}\"", name.value.replace('"', "\"\""));
        edits.push((start, end, quoted));
        i = lit + 1;
    }
    if edits.is_empty() {
        return Ok(Cow::Borrowed(sql));
    }
    let mut out = String::with_capacity(sql.len());
    let mut at = 0;
    for (start, end, text) in edits {
        out.push_str(&sql[at..start]);
        out.push_str(&text);
        at = end;
    }
    out.push_str(&sql[at..]);
    Ok(Cow::Owned(out))
}

enum Kind {
    Version,
    Timestamp,
}

fn keyword(t: &TokenWithSpan) -> Option<Keyword> {
    match &t.token {
        Token::Word(w) if w.quote_style.is_none() => Some(w.keyword),
        _ => None,
    }
}

/// `2026-01-01`, `2026-01-01 12:00:00[.fff]`, RFC 3339 with an offset; naive times are UTC.
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%#z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.with_timezone(&Utc));
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// Tokenizer locations (line, column in characters, 1-based) to byte offsets.
struct LineOffsets<'a> {
    sql: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineOffsets<'a> {
    fn new(sql: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(sql.match_indices('\n').map(|(i, _)| i + 1));
        LineOffsets { sql, starts }
    }

    fn byte(&self, loc: Location) -> usize {
        let line = (loc.line.max(1) - 1) as usize;
        let start = self.starts.get(line).copied().unwrap_or(self.sql.len());
        self.sql[start..]
            .char_indices()
            .nth((loc.column.max(1) - 1) as usize)
            .map(|(i, _)| start + i)
            .unwrap_or(self.sql.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(sql: &str) -> String {
        rewrite(sql).unwrap().into_owned()
    }

    #[test]
    fn every_syntax_becomes_a_shorthand_name() {
        assert_eq!(
            rw("SELECT * FROM gold.t FOR VERSION AS OF 12 WHERE x = 1"),
            "SELECT * FROM gold.\"t@v12\" WHERE x = 1"
        );
        assert_eq!(
            rw("select * from t version as of 3"),
            "select * from \"t@v3\""
        );
        assert_eq!(
            rw("SELECT * FROM ice.t FOR VERSION AS OF 'audit'"),
            "SELECT * FROM ice.\"t@ref:audit\""
        );
        assert_eq!(
            rw("SELECT * FROM t FOR TIMESTAMP AS OF '2026-01-01 00:00:00' AS x"),
            "SELECT * FROM \"t@20260101000000000\" AS x"
        );
        assert_eq!(
            rw("SELECT * FROM \"My T\" TIMESTAMP AS OF TIMESTAMP '2026-01-02T03:04:05.678Z'"),
            "SELECT * FROM \"My T@20260102030405678\""
        );
        assert_eq!(
            rw("SELECT * FROM t FOR SYSTEM_TIME AS OF '2026-01-01'"),
            "SELECT * FROM \"t@20260101000000000\""
        );
        // Two clauses, multi-byte text before them, a literal that mentions the syntax.
        assert_eq!(
            rw(
                "SELECT 'é VERSION AS OF 1' FROM a VERSION AS OF 1 JOIN b\nFOR VERSION AS\nOF 2 ON true"
            ),
            "SELECT 'é VERSION AS OF 1' FROM \"a@v1\" JOIN \"b@v2\" ON true"
        );
    }

    #[test]
    fn other_text_is_untouched_and_bad_timestamps_are_errors() {
        let sql = "SELECT version() AS of, 'it''s' FROM t";
        assert!(matches!(rewrite(sql).unwrap(), Cow::Borrowed(_)));
        assert!(rewrite("SELECT * FROM t TIMESTAMP AS OF 'yesterday'").is_err());
    }
}
