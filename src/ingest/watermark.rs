//! Watermark folder names: compared as timestamps when they parse as one (RFC 3339,
//! `YYYYMMDD[THHMMSS]`, `YYYY-MM-DD[THH:MM:SS]`), else as integers, else as text.

use std::cmp::Ordering;

use chrono::{NaiveDate, NaiveDateTime};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watermark {
    Text(String),
    Integer(i128, String),
    Timestamp(i64, String),
}

impl Watermark {
    pub fn parse(name: &str) -> Watermark {
        if let Some(us) = timestamp_micros(name) {
            return Watermark::Timestamp(us, name.to_string());
        }
        if let Ok(n) = name.parse::<i128>() {
            return Watermark::Integer(n, name.to_string());
        }
        Watermark::Text(name.to_string())
    }

    pub fn name(&self) -> &str {
        match self {
            Watermark::Text(s) | Watermark::Integer(_, s) | Watermark::Timestamp(_, s) => s,
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Watermark::Text(_) => 0,
            Watermark::Integer(..) => 1,
            Watermark::Timestamp(..) => 2,
        }
    }
}

impl Ord for Watermark {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Watermark::Timestamp(a, x), Watermark::Timestamp(b, y)) => a.cmp(b).then(x.cmp(y)),
            (Watermark::Integer(a, x), Watermark::Integer(b, y)) => a.cmp(b).then(x.cmp(y)),
            (Watermark::Text(a), Watermark::Text(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Watermark {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn timestamp_micros(s: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    for f in [
        "%Y%m%dT%H%M%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y%m%d%H%M%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    // `YYYYMMDD` would also read as an integer: a date wins, as the examples mean.
    for f in ["%Y%m%d", "%Y-%m-%d"] {
        if s.len() >= 8
            && let Ok(d) = NaiveDate::parse_from_str(s, f)
        {
            return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_then_integers_then_text() {
        let w = |s: &str| Watermark::parse(s);
        assert!(w("20260102") > w("20260101T235959"));
        assert!(w("2026-01-01T10:00:00Z") > w("20260101T095959"));
        assert!(w("10") > w("9"));
        assert!(w("b") > w("a"));
        assert!(matches!(w("20260101"), Watermark::Timestamp(..)));
        assert!(matches!(w("42"), Watermark::Integer(..)));
        let mut v = [w("3"), w("20"), w("1")];
        v.sort();
        assert_eq!(
            v.iter().map(|x| x.name()).collect::<Vec<_>>(),
            ["1", "3", "20"]
        );
    }
}
