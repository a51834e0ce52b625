//! Session settings (GUCs) that clients read and set: `SET`, `SHOW`, `RESET`, ParameterStatus.
//!
//! Names are case-insensitive; reported parameters carry Postgres' canonical spelling so
//! drivers that key on `TimeZone` or `DateStyle` find them. Unknown names are accepted by `SET`
//! when they contain a dot (custom `extension.name` settings, as Postgres allows) and refused
//! otherwise with 42704, like Postgres.

use std::collections::BTreeMap;

use super::{EngineError, PG_VERSION, PG_VERSION_NUM, Result};

/// (canonical name, default, reported to the client via ParameterStatus, read only, description)
const KNOWN: &[(&str, &str, bool, bool, &str)] = &[
    (
        "application_name",
        "",
        true,
        false,
        "Sets the application name.",
    ),
    (
        "client_encoding",
        "UTF8",
        true,
        false,
        "Sets the client's character set encoding.",
    ),
    (
        "DateStyle",
        "ISO, MDY",
        true,
        false,
        "Sets the display format for date and time values.",
    ),
    (
        "default_transaction_read_only",
        "on",
        true,
        true,
        "Every transaction is read-only.",
    ),
    (
        "extra_float_digits",
        "1",
        false,
        false,
        "Sets the number of digits displayed for floats.",
    ),
    (
        "in_hot_standby",
        "off",
        true,
        true,
        "Shows whether hot standby is active.",
    ),
    (
        "integer_datetimes",
        "on",
        true,
        true,
        "Datetimes are integer based.",
    ),
    (
        "IntervalStyle",
        "postgres",
        true,
        false,
        "Sets the display format for interval values.",
    ),
    (
        "is_superuser",
        "off",
        true,
        true,
        "Shows whether the user is a superuser.",
    ),
    ("lc_collate", "C", false, true, "Collation order locale."),
    (
        "lc_ctype",
        "C",
        false,
        true,
        "Character classification locale.",
    ),
    ("lc_messages", "C", false, false, "Language of messages."),
    (
        "lc_monetary",
        "C",
        false,
        false,
        "Locale for formatting monetary amounts.",
    ),
    (
        "lc_numeric",
        "C",
        false,
        false,
        "Locale for formatting numbers.",
    ),
    (
        "lc_time",
        "C",
        false,
        false,
        "Locale for formatting date and time values.",
    ),
    (
        "max_identifier_length",
        "63",
        false,
        true,
        "Maximum identifier length.",
    ),
    (
        "search_path",
        "\"$user\", public",
        false,
        false,
        "Schema search order.",
    ),
    (
        "server_encoding",
        "UTF8",
        true,
        true,
        "Server character set encoding.",
    ),
    ("server_version", PG_VERSION, true, true, "Server version."),
    (
        "server_version_num",
        PG_VERSION_NUM,
        false,
        true,
        "Server version as an integer.",
    ),
    (
        "session_authorization",
        "",
        true,
        true,
        "Session user name.",
    ),
    (
        "standard_conforming_strings",
        "on",
        true,
        false,
        "'...' strings treat backslashes literally.",
    ),
    (
        "statement_timeout",
        "0",
        false,
        false,
        "Maximum allowed duration of any statement.",
    ),
    (
        "TimeZone",
        "UTC",
        true,
        false,
        "Time zone for displaying time stamps.",
    ),
    (
        "transaction_isolation",
        "read committed",
        false,
        false,
        "Transaction isolation level.",
    ),
    (
        "transaction_read_only",
        "on",
        false,
        true,
        "Every transaction is read-only.",
    ),
    (
        "bytea_output",
        "hex",
        false,
        false,
        "Output format for bytea.",
    ),
    (
        "idle_in_transaction_session_timeout",
        "0",
        false,
        false,
        "Idle-in-transaction timeout.",
    ),
    (
        "lock_timeout",
        "0",
        false,
        false,
        "Maximum wait for a lock.",
    ),
    ("row_security", "on", false, false, "Enable row security."),
    (
        "default_transaction_isolation",
        "read committed",
        false,
        false,
        "Default isolation level.",
    ),
    (
        "synchronous_commit",
        "on",
        false,
        false,
        "Synchronisation level.",
    ),
    (
        "max_index_keys",
        "32",
        false,
        true,
        "Maximum number of index keys.",
    ),
    // Read or set by drivers and tools (SQLAlchemy 2.1, sqlsmith, pg_dump-style clients), with
    // PostgreSQL 16's defaults; they change nothing here.
    (
        "client_min_messages",
        "notice",
        false,
        false,
        "Sets the message levels that are sent to the client.",
    ),
    (
        "default_table_access_method",
        "heap",
        false,
        false,
        "Sets the default table access method for new tables.",
    ),
    (
        "work_mem",
        "4MB",
        false,
        false,
        "Sets the maximum memory to be used for query workspaces.",
    ),
    (
        "maintenance_work_mem",
        "64MB",
        false,
        false,
        "Sets the maximum memory to be used for maintenance operations.",
    ),
    (
        "default_text_search_config",
        "pg_catalog.english",
        false,
        false,
        "Sets default text search configuration.",
    ),
    (
        "max_parallel_workers_per_gather",
        "2",
        false,
        false,
        "Sets the maximum number of parallel processes per executor node.",
    ),
    ("jit", "on", false, false, "Allow JIT compilation."),
    (
        "lakegate.result_cache",
        "on",
        false,
        false,
        "Answers a repeated query from memory while the tables it reads are unchanged.",
    ),
    (
        "lakegate.freshness_notices",
        "on",
        false,
        false,
        "Tells the client, with a NOTICE or WARNING, when a query reads stale data.",
    ),
    (
        "max_connections",
        "100",
        false,
        true,
        "Sets the maximum number of concurrent connections.",
    ),
];

/// The column `SHOW name` answers in: the parameter's own spelling (`SHOW time zone` is
/// `TimeZone`, `SHOW transaction isolation level` is `transaction_isolation`), as Postgres
/// names it; unknown (custom) names as written, lowercased.
pub fn show_column(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if lower == "session authorization" {
        return "session_authorization".into();
    }
    known(&lower).map_or(lower, |k| k.0.to_string())
}

fn known(lower: &str) -> Option<&'static (&'static str, &'static str, bool, bool, &'static str)> {
    if lower == "time zone" {
        return known("timezone");
    }
    if lower == "transaction isolation level" {
        return known("transaction_isolation");
    }
    KNOWN.iter().find(|k| k.0.eq_ignore_ascii_case(lower))
}

#[derive(Debug, Clone)]
pub struct Settings {
    user: String,
    values: BTreeMap<String, String>,
    custom: BTreeMap<String, String>,
}

impl Settings {
    pub fn new(user: &str) -> Settings {
        let mut s = Settings {
            user: user.to_string(),
            values: BTreeMap::new(),
            custom: BTreeMap::new(),
        };
        s.reset_all();
        s
    }

    fn default_of(&self, canonical: &str, default: &str) -> String {
        if canonical == "session_authorization" {
            self.user.clone()
        } else {
            default.to_string()
        }
    }

    /// The schemas of `search_path`, in order, unquoted (`$user` and empty entries left out).
    pub fn search_path(&self) -> Vec<String> {
        self.get("search_path")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().trim_matches('"').to_string())
            .filter(|s| !s.is_empty() && s != "$user")
            .collect()
    }

    /// Parameters sent at startup, in Postgres' spelling.
    pub fn startup_parameters(&self) -> Vec<(String, String)> {
        KNOWN
            .iter()
            .filter(|k| k.2)
            .map(|k| (k.0.to_string(), self.values[k.0].clone()))
            .collect()
    }

    pub fn reset_all(&mut self) -> Vec<(String, String)> {
        let mut reports = Vec::new();
        for (name, default, reported, _, _) in KNOWN {
            let v = self.default_of(name, default);
            if self.values.get(*name) != Some(&v) {
                if *reported && self.values.contains_key(*name) {
                    reports.push((name.to_string(), v.clone()));
                }
                self.values.insert(name.to_string(), v);
            }
        }
        self.custom.clear();
        reports
    }

    /// Sets (or with `None` resets) a parameter; returns what to report to the client.
    pub fn set(&mut self, lower: &str, value: Option<&str>) -> Result<Option<(String, String)>> {
        let Some((name, default, reported, read_only, _)) = known(lower) else {
            if lower.contains('.') {
                match value {
                    Some(v) => self.custom.insert(lower.to_string(), v.to_string()),
                    None => self.custom.remove(lower),
                };
                return Ok(None);
            }
            return Err(EngineError::UnknownSetting(lower.to_string()));
        };
        let new = match value {
            None => self.default_of(name, default),
            Some(v) => normalize(name, v)?,
        };
        if *read_only && new != self.values[*name] {
            return Err(EngineError::InvalidSetting {
                name: name.to_string(),
                value: new,
            });
        }
        self.values.insert(name.to_string(), new.clone());
        Ok(reported.then(|| (name.to_string(), new)))
    }

    pub fn get(&self, lower: &str) -> Result<String> {
        if let Some((name, ..)) = known(lower) {
            return Ok(self.values[*name].clone());
        }
        self.custom
            .get(lower)
            .cloned()
            .ok_or_else(|| EngineError::UnknownSetting(lower.to_string()))
    }

    /// `SHOW ALL`: name, setting, description.
    pub fn all(&self) -> Vec<(String, String, String)> {
        let mut rows: Vec<_> = KNOWN
            .iter()
            .map(|k| (k.0.to_string(), self.values[k.0].clone(), k.4.to_string()))
            .chain(
                self.custom
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone(), String::new())),
            )
            .collect();
        rows.sort_by_key(|r| r.0.to_ascii_lowercase());
        rows
    }
}

/// Validates the values lakegate acts on; others are stored as given.
fn normalize(name: &str, value: &str) -> Result<String> {
    let invalid = || EngineError::InvalidSetting {
        name: name.to_string(),
        value: value.to_string(),
    };
    match name {
        "lakegate.freshness_notices" | "lakegate.result_cache" => {
            match value.trim().to_ascii_lowercase().as_str() {
                "on" | "true" | "yes" | "1" => Ok("on".into()),
                "off" | "false" | "no" | "0" => Ok("off".into()),
                _ => Err(invalid()),
            }
        }
        "client_encoding" => {
            let v = value.to_ascii_uppercase().replace(['-', '_'], "");
            if v == "UTF8" || v == "UNICODE" {
                Ok("UTF8".into())
            } else {
                Err(invalid())
            }
        }
        "TimeZone" => {
            let v = value.trim();
            if v.eq_ignore_ascii_case("utc")
                || v.eq_ignore_ascii_case("gmt")
                || v == "Etc/UTC"
                || v == "0"
                || v == "+00"
                || v == "Z"
            {
                Ok("UTC".into())
            } else {
                // Timestamps are always printed in UTC (with an explicit +00 offset), so a
                // client that asks for another zone still reads correct instants.
                Ok(v.to_string())
            }
        }
        "extra_float_digits" => value
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|v| (-15..=3).contains(v))
            .map(|v| v.to_string())
            .ok_or_else(invalid),
        "statement_timeout" => parse_pg_duration(value)
            .map(format_pg_duration)
            .ok_or_else(invalid),
        "transaction_read_only" | "default_transaction_read_only" => {
            match value.to_ascii_lowercase().as_str() {
                "on" | "true" | "1" | "yes" => Ok("on".into()),
                _ => Err(EngineError::ReadOnly("a read-write transaction".into())),
            }
        }
        _ => Ok(value.to_string()),
    }
}

/// A Postgres time setting: a bare number is milliseconds; units us, ms, s, min, h, d.
pub fn parse_pg_duration(value: &str) -> Option<std::time::Duration> {
    let v = value.trim().trim_matches('\'').trim();
    let split = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().ok()?;
    let ms = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" => n,
        "us" => n / 1000.0,
        "s" => n * 1000.0,
        "min" => n * 60_000.0,
        "h" => n * 3_600_000.0,
        "d" => n * 86_400_000.0,
        _ => return None,
    };
    (ms >= 0.0 && ms.is_finite()).then(|| std::time::Duration::from_micros((ms * 1000.0) as u64))
}

/// How Postgres shows a time setting: the largest unit that divides it exactly.
fn format_pg_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis() as u64;
    match ms {
        0 => "0".into(),
        _ if ms.is_multiple_of(86_400_000) => format!("{}d", ms / 86_400_000),
        _ if ms.is_multiple_of(3_600_000) => format!("{}h", ms / 3_600_000),
        _ if ms.is_multiple_of(60_000) => format!("{}min", ms / 60_000),
        _ if ms.is_multiple_of(1000) => format!("{}s", ms / 1000),
        _ => format!("{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reported_settings_use_canonical_names() {
        let mut s = Settings::new("demo");
        assert_eq!(
            s.set("timezone", Some("utc")).unwrap(),
            Some(("TimeZone".into(), "UTC".into()))
        );
        assert_eq!(s.set("extra_float_digits", Some("3")).unwrap(), None);
        assert_eq!(s.get("session_authorization").unwrap(), "demo");
        assert!(matches!(
            s.set("no_such", Some("1")),
            Err(EngineError::UnknownSetting(_))
        ));
        assert!(s.set("myapp.flag", Some("x")).is_ok());
        assert_eq!(s.get("myapp.flag").unwrap(), "x");
    }

    #[test]
    fn read_only_cannot_be_turned_off() {
        let mut s = Settings::new("demo");
        assert!(s.set("transaction_read_only", Some("off")).is_err());
        assert!(s.set("transaction_read_only", Some("on")).is_ok());
    }
}
