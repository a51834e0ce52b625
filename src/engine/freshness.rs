//! Freshness: how old each served relation's data is, against its rule (dbt's `warn_after` /
//! `error_after`). The [`Board`] holds what is known of every table and view (last ingest, last
//! commit, newest data time, failing slices, what a view reads); states are worked out at the
//! moment they are asked for, so a table turns `warn` on time without anyone refreshing the
//! board. The board is filled by the server (`crate::freshness`); the session asks it for the
//! relations a statement reads (the NOTICE on stale reads), `lakegate.freshness` for all.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;

use super::pg_catalog::{ComputedTable, session_list};
use crate::config::FreshnessRule;

/// `(schema, table)`, lower case.
pub type Key = (String, String);

/// A relation's freshness. Ordered from least to most alarming.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// No rule, or no time to judge by.
    Unknown,
    Fresh,
    Warn,
    Error,
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::Unknown => "unknown",
            State::Fresh => "fresh",
            State::Warn => "warn",
            State::Error => "error",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Table,
    View,
    /// A gold model: a view materialized as a table.
    Gold,
}

/// What is known of one relation.
#[derive(Clone, Debug)]
pub struct Entry {
    pub kind: Kind,
    /// Last successful slice lakegate ingested into it (µs since the epoch).
    pub last_ingest: Option<i64>,
    /// Time of its current Delta commit (µs).
    pub committed: Option<i64>,
    /// `max(loaded_at_field)` (µs), when the rule names one.
    pub newest_data: Option<i64>,
    /// The latest attempt of one of its slices failed: which, and why.
    pub failing: Option<String>,
    /// What a view or gold model reads.
    pub inputs: Vec<Key>,
    pub rule: Option<FreshnessRule>,
}

impl Entry {
    pub fn table() -> Entry {
        Entry {
            kind: Kind::Table,
            last_ingest: None,
            committed: None,
            newest_data: None,
            failing: None,
            inputs: vec![],
            rule: None,
        }
    }
}

/// One row of `lakegate.freshness`.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    pub schema: String,
    pub table: String,
    pub kind: &'static str,
    pub last_ingest: Option<i64>,
    pub newest_data: Option<i64>,
    /// `None` also when the age comes from data the reader may not see whole.
    pub age: Option<Duration>,
    /// The age the state was judged by, told or not (for a view's own judgement).
    judged_age: Option<Duration>,
    pub state: State,
    pub rule: Option<String>,
    pub why: String,
    /// The stalest input behind a view's state (the table itself for a table).
    pub cause: Option<Key>,
}

impl Status {
    pub fn name(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }

    /// The client notice for a read of this relation, when it is stale.
    pub fn notice(&self) -> Option<(State, String)> {
        matches!(self.state, State::Warn | State::Error).then(|| {
            (
                self.state,
                format!(
                    "{} {} is stale ({}): {}",
                    self.kind,
                    self.name(),
                    self.state.name(),
                    self.why
                ),
            )
        })
    }
}

/// Who is asking: which relations they may read, and which they read whole (no row filter, no
/// mask). A time taken from a relation's data (`loaded_at_field`) is told only to a reader who
/// sees all of that data: the newest time over rows a filter hides is not theirs to know.
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    pub may_read: &'a dyn Fn(&Key) -> bool,
    pub sees_rows: &'a dyn Fn(&Key) -> bool,
}

fn yes(_: &Key) -> bool {
    true
}

fn no(_: &Key) -> bool {
    false
}

impl Reader<'static> {
    /// An admin, or the server itself.
    pub fn anyone() -> Reader<'static> {
        Reader {
            may_read: &yes,
            sees_rows: &yes,
        }
    }

    /// Whoever sees no row: told every relation, but no age taken from data
    /// (`loaded_at_field`), only ingest and commit times. What `/metrics` and the status
    /// page's history give to people who do not read every row.
    pub fn public() -> Reader<'static> {
        Reader {
            may_read: &yes,
            sees_rows: &no,
        }
    }
}

impl<'a> Reader<'a> {
    /// What `access` may read and see.
    pub fn of(
        may_read: &'a dyn Fn(&Key) -> bool,
        sees_rows: &'a dyn Fn(&Key) -> bool,
    ) -> Reader<'a> {
        Reader {
            may_read,
            sees_rows,
        }
    }
}

/// Every relation's freshness facts, replaced whole by each refresh.
#[derive(Debug, Default)]
pub struct Board {
    entries: RwLock<Arc<HashMap<Key, Entry>>>,
}

pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn at(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// `7h 3m 12s` (whole seconds).
pub fn format_age(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

impl Board {
    pub fn publish(&self, entries: HashMap<Key, Entry>) {
        *self.entries.write().expect("freshness lock") = Arc::new(entries);
    }

    pub fn entries(&self) -> Arc<HashMap<Key, Entry>> {
        self.entries.read().expect("freshness lock").clone()
    }

    /// Whether any rule is configured (nothing to tell a client otherwise).
    pub fn has_rules(&self) -> bool {
        self.entries().values().any(|e| e.rule.is_some())
    }

    /// The freshness of `key` at `now` (µs), `None` for a relation the board does not know.
    /// What it says of the relations behind a view is only what `reader` may see.
    pub fn status(&self, key: &Key, now: i64, reader: &Reader) -> Option<Status> {
        let entries = self.entries();
        status_of(&entries, key, now, &mut BTreeSet::new(), reader)
    }

    /// Whether `reader` sees every row of `key` and of everything it reads: then a time taken
    /// from its data may be told to them.
    pub fn sees_all_rows(&self, key: &Key, reader: &Reader) -> bool {
        sees_all_rows(&self.entries(), key, reader, &mut BTreeSet::new())
    }

    /// Every known relation, stalest first, told as to someone who may read everything.
    pub fn all(&self, now: i64) -> Vec<Status> {
        self.all_for(now, &Reader::anyone())
    }

    /// Every relation `reader` may read, stalest first.
    pub fn all_for(&self, now: i64, reader: &Reader) -> Vec<Status> {
        let entries = self.entries();
        let mut out: Vec<Status> = entries
            .keys()
            .filter(|k| (reader.may_read)(k))
            .filter_map(|k| status_of(&entries, k, now, &mut BTreeSet::new(), reader))
            .collect();
        out.sort_by(|a, b| {
            b.state
                .cmp(&a.state)
                .then(b.age.cmp(&a.age))
                .then((&a.schema, &a.table).cmp(&(&b.schema, &b.table)))
        });
        out
    }

    /// The notices a statement reading `reads` gets: one per stale relation, in order.
    pub fn notices(&self, reads: &[Key], now: i64, reader: &Reader) -> Vec<(State, String)> {
        let entries = self.entries();
        if entries.is_empty() {
            return vec![];
        }
        let mut seen = BTreeSet::new();
        reads
            .iter()
            .filter(|k| seen.insert((*k).clone()))
            // The words are made only for what is stale: a fresh read costs a few lookups.
            .filter(|k| stale(&entries, k, now, &mut BTreeSet::new()))
            .filter_map(|k| status_of(&entries, k, now, &mut BTreeSet::new(), reader)?.notice())
            .collect()
    }
}

/// Whether `key` is in `warn` or `error` (what [`status_of`] would say, without its words).
fn stale(entries: &HashMap<Key, Entry>, key: &Key, now: i64, visiting: &mut BTreeSet<Key>) -> bool {
    quick(entries, key, now, visiting).is_some_and(|(_, state)| state >= State::Warn)
}

/// (age, state) of `key` as [`status_of`] works them out.
fn quick(
    entries: &HashMap<Key, Entry>,
    key: &Key,
    now: i64,
    visiting: &mut BTreeSet<Key>,
) -> Option<(Option<Duration>, State)> {
    let e = entries.get(key)?;
    if !visiting.insert(key.clone()) {
        return None;
    }
    let by_field = e.rule.as_ref().is_some_and(|r| r.loaded_at_field.is_some());
    let own = match (by_field, e.kind) {
        (true, _) => e.newest_data,
        (false, Kind::View) => None,
        (false, _) => e.last_ingest.or(e.committed),
    };
    let mut age = own.map(|t| Duration::from_micros((now - t).max(0) as u64));
    let mut inherited = State::Unknown;
    for input in &e.inputs {
        if let Some((a, st)) = quick(entries, input, now, visiting) {
            if a > age {
                age = a;
            }
            if st >= State::Warn {
                inherited = inherited.max(st);
            }
        }
    }
    visiting.remove(key);
    let mut state = match (&e.rule, age) {
        (Some(rule), Some(age)) => judge(rule, age),
        _ => State::Unknown,
    };
    state = state.max(inherited);
    if e.failing.is_some() {
        state = state.max(State::Warn);
    }
    Some((age, state))
}

fn judge(rule: &FreshnessRule, age: Duration) -> State {
    if rule.error_after.is_some_and(|e| age > e) {
        State::Error
    } else if rule.warn_after.is_some_and(|w| age > w) {
        State::Warn
    } else {
        State::Fresh
    }
}

fn status_of(
    entries: &HashMap<Key, Entry>,
    key: &Key,
    now: i64,
    visiting: &mut BTreeSet<Key>,
    reader: &Reader,
) -> Option<Status> {
    let visible = reader.may_read;
    let e = entries.get(key)?;
    if !visiting.insert(key.clone()) {
        return None; // a cycle (views refuse them; the board need not trust that)
    }
    let age_of = |t: i64| Duration::from_micros((now - t).max(0) as u64);
    let by_field = e.rule.as_ref().and_then(|r| r.loaded_at_field.clone());
    // A data time is judged by, but told only to a reader who sees every row behind it.
    let data_told = by_field.is_none() || sees_all_rows(entries, key, reader, &mut BTreeSet::new());
    // The relation's own time: its data's newest time, else its last ingest or commit.
    let (own, mut why) = match (&by_field, e.kind) {
        (Some(f), _) if !data_told => (
            e.newest_data,
            format!("newest {f} not shown: your access filters or masks its rows"),
        ),
        (Some(f), _) => match e.newest_data {
            Some(t) => (Some(t), format!("newest {f} is {}", at(t))),
            None => (None, format!("no {f} values yet")),
        },
        (None, Kind::View) => (None, String::new()),
        (None, _) => match (e.last_ingest, e.committed) {
            (Some(t), _) => (Some(t), format!("last ingested {}", at(t))),
            (None, Some(t)) if e.kind == Kind::Gold => (Some(t), format!("last built {}", at(t))),
            (None, Some(t)) => (Some(t), format!("last commit {}", at(t))),
            (None, None) => (None, "never ingested".into()),
        },
    };
    let mut age = own.map(age_of);
    let mut age_told = data_told;
    let mut cause = own.map(|_| key.clone());
    let mut inherited = State::Unknown;
    let mut notes: Vec<String> = Vec::new();
    for input in &e.inputs {
        let Some(s) = status_of(entries, input, now, visiting, reader) else {
            continue;
        };
        if s.judged_age > age {
            age = s.judged_age;
            age_told = s.age.is_some();
            cause = Some(input.clone());
        }
        if matches!(s.state, State::Warn | State::Error) {
            inherited = inherited.max(s.state);
            // What a view reads is not its reader's to know, unless they may read it too.
            if visible(input) {
                notes.push(format!(
                    "reads {} ({}: {})",
                    s.name(),
                    s.state.name(),
                    s.why
                ));
            } else {
                notes.push(format!("an input is stale ({})", s.state.name()));
            }
        }
    }
    if e.kind != Kind::Table && by_field.is_none() {
        why = match (&cause, age) {
            // Which input is stalest would tell something of an age not told.
            (Some(c), Some(_)) if c != key && !age_told => {
                "stalest input not shown: your access filters or masks its rows".to_string()
            }
            (Some(c), Some(_)) if c != key && !visible(c) => "stalest input".to_string(),
            (Some(c), Some(_)) if c != key => format!("stalest input {}.{}", c.0, c.1),
            (Some(_), Some(_)) => why,
            _ => "no input has been ingested".into(),
        };
    }
    let mut state = match (&e.rule, age) {
        (Some(rule), Some(age)) => judge(rule, age),
        _ => State::Unknown,
    };
    if let Some(age) = age.filter(|_| age_told) {
        why = format!("{} old; {why}", format_age(age));
    }
    if let Some(rule) = &e.rule {
        why = format!("{why} ({})", rule.describe());
    }
    state = state.max(inherited);
    if let Some(f) = &e.failing {
        // The data is not what the source holds, however recent the last good slice.
        state = state.max(State::Warn);
        notes.insert(0, f.clone());
    }
    if !notes.is_empty() {
        why = format!("{why}; {}", notes.join("; "));
    }
    visiting.remove(key);
    Some(Status {
        schema: key.0.clone(),
        table: key.1.clone(),
        kind: match e.kind {
            Kind::Table => "table",
            Kind::View => "view",
            Kind::Gold => "gold model",
        },
        last_ingest: e.last_ingest.or(e.committed),
        newest_data: e.newest_data.filter(|_| data_told),
        age: age.filter(|_| age_told),
        judged_age: age,
        state,
        rule: e.rule.as_ref().map(|r| r.describe()),
        why,
        cause,
    })
}

/// Whether `reader` sees every row of `key` and, for a view or model, of everything it reads.
fn sees_all_rows(
    entries: &HashMap<Key, Entry>,
    key: &Key,
    reader: &Reader,
    visiting: &mut BTreeSet<Key>,
) -> bool {
    if !visiting.insert(key.clone()) {
        return true;
    }
    (reader.sees_rows)(key)
        && entries.get(key).is_none_or(|e| {
            e.inputs
                .iter()
                .all(|i| sees_all_rows(entries, i, reader, visiting))
        })
}

/// `lakegate.freshness`: every relation the caller may read, stalest first.
pub struct FreshnessTable {
    pub board: Arc<Board>,
    pub database: String,
    pub list: Arc<dyn datafusion::catalog::CatalogProviderList>,
}

impl std::fmt::Debug for FreshnessTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("lakegate.freshness")
    }
}

pub fn freshness_schema() -> SchemaRef {
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("table_schema", DataType::Utf8, false),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("last_ingest", ts(), true),
        Field::new("newest_data", ts(), true),
        Field::new("age_seconds", DataType::Float64, true),
        Field::new("state", DataType::Utf8, false),
        Field::new("rule", DataType::Utf8, true),
        Field::new("why", DataType::Utf8, false),
    ]))
}

#[async_trait]
impl ComputedTable for FreshnessTable {
    fn table_schema(&self) -> SchemaRef {
        freshness_schema()
    }

    async fn compute(&self, state: &dyn Session) -> datafusion::error::Result<RecordBatch> {
        // The caller's catalog answers only what it may read.
        let list = session_list(state, &self.list);
        let catalog = list.catalog(&self.database);
        let visible = |k: &Key| {
            catalog
                .as_ref()
                .and_then(|c| c.schema(&k.0))
                .is_some_and(|sch| sch.table_exist(&k.1))
        };
        let access = super::access::session_access(&list, &self.database);
        let whole = |k: &Key| super::access::sees_whole(access.as_deref(), &k.0, &k.1);
        let rows: Vec<Status> = self
            .board
            .all_for(now_micros(), &Reader::of(&visible, &whole));
        let text = |f: &dyn Fn(&Status) -> Option<String>| -> ArrayRef {
            Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
        };
        let time = |f: &dyn Fn(&Status) -> Option<i64>| -> ArrayRef {
            Arc::new(
                TimestampMicrosecondArray::from(rows.iter().map(f).collect::<Vec<_>>())
                    .with_timezone("UTC"),
            )
        };
        Ok(RecordBatch::try_new(
            freshness_schema(),
            vec![
                text(&|s| Some(s.schema.clone())),
                text(&|s| Some(s.table.clone())),
                text(&|s| Some(s.kind.to_string())),
                time(&|s| s.last_ingest),
                time(&|s| s.newest_data),
                Arc::new(Float64Array::from(
                    rows.iter()
                        .map(|s| s.age.map(|a| a.as_secs_f64()))
                        .collect::<Vec<_>>(),
                )),
                text(&|s| Some(s.state.name().to_string())),
                text(&|s| s.rule.clone()),
                text(&|s| Some(s.why.clone())),
            ],
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(warn: u64, error: u64) -> Option<FreshnessRule> {
        Some(FreshnessRule {
            warn_after: Some(Duration::from_secs(warn)),
            error_after: Some(Duration::from_secs(error)),
            loaded_at_field: None,
        })
    }

    fn key(s: &str, t: &str) -> Key {
        (s.into(), t.into())
    }

    #[test]
    fn states_follow_the_rule_and_views_take_the_stalest_input() {
        let sec = 1_000_000i64;
        let now = 100_000 * sec;
        let board = Board::default();
        let mut entries = HashMap::new();
        entries.insert(
            key("silver", "orders"),
            Entry {
                last_ingest: Some(now - 3 * 3600 * sec),
                rule: rule(2 * 3600, 6 * 3600),
                ..Entry::table()
            },
        );
        entries.insert(
            key("silver", "users"),
            Entry {
                last_ingest: Some(now - 60 * sec),
                ..Entry::table()
            },
        );
        entries.insert(
            key("gold", "daily"),
            Entry {
                kind: Kind::View,
                inputs: vec![key("silver", "orders"), key("silver", "users")],
                ..Entry::table()
            },
        );
        board.publish(entries);
        let orders = board
            .status(&key("silver", "orders"), now, &Reader::anyone())
            .unwrap();
        assert_eq!(orders.state, State::Warn);
        assert_eq!(orders.age, Some(Duration::from_secs(3 * 3600)));
        assert!(
            orders.why.starts_with("3h old; last ingested"),
            "{}",
            orders.why
        );
        assert!(orders.why.ends_with("(warn after 2h, error after 6h)"));
        // No rule: its state is unknown, its age still told.
        let users = board
            .status(&key("silver", "users"), now, &Reader::anyone())
            .unwrap();
        assert_eq!((users.state, users.rule.clone()), (State::Unknown, None));
        // The view has no rule of its own and inherits the stale input's state and age.
        let daily = board
            .status(&key("gold", "daily"), now, &Reader::anyone())
            .unwrap();
        assert_eq!(daily.state, State::Warn);
        assert_eq!(daily.age, orders.age);
        assert_eq!(daily.cause, Some(key("silver", "orders")));
        assert!(
            daily.why.contains("reads silver.orders (warn:"),
            "{}",
            daily.why
        );
        // Seven hours on, the table is in error; the notices say so once per relation.
        let later = now + 4 * 3600 * sec;
        let n = board.notices(
            &[
                key("silver", "orders"),
                key("silver", "orders"),
                key("silver", "users"),
            ],
            later,
            &Reader::anyone(),
        );
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].0, State::Error);
        assert!(
            n[0].1
                .starts_with("table silver.orders is stale (error): 7h old"),
            "{}",
            n[0].1
        );
        // Stalest first.
        let all = board.all(later);
        assert_eq!(
            all.iter().map(|s| s.name()).collect::<Vec<_>>(),
            ["gold.daily", "silver.orders", "silver.users"]
        );
    }

    #[test]
    fn the_quick_check_agrees_with_the_full_status() {
        let sec = 1_000_000i64;
        let now = 100_000 * sec;
        let mut entries = HashMap::new();
        entries.insert(
            key("silver", "a"),
            Entry {
                last_ingest: Some(now - 90 * sec),
                ..Entry::table()
            },
        );
        entries.insert(
            key("gold", "v1"),
            Entry {
                kind: Kind::View,
                inputs: vec![key("silver", "a")],
                ..Entry::table()
            },
        );
        // A view of a view with its own rule: its age is its inputs' inputs'.
        entries.insert(
            key("gold", "v2"),
            Entry {
                kind: Kind::View,
                inputs: vec![key("gold", "v1")],
                rule: rule(60, 120),
                ..Entry::table()
            },
        );
        let board = Board::default();
        board.publish(entries.clone());
        for (k, later) in [
            (key("gold", "v2"), 0),
            (key("gold", "v2"), 60),
            (key("silver", "a"), 0),
        ] {
            let t = now + later * sec;
            let full = board.status(&k, t, &Reader::anyone()).unwrap().state >= State::Warn;
            assert_eq!(
                stale(&entries, &k, t, &mut BTreeSet::new()),
                full,
                "{k:?} +{later}s"
            );
        }
        assert!(stale(
            &entries,
            &key("gold", "v2"),
            now,
            &mut BTreeSet::new()
        ));
    }

    #[test]
    fn a_failing_slice_warns_and_a_gold_model_says_so() {
        let now = 10_000_000_000i64;
        let board = Board::default();
        let mut entries = HashMap::new();
        entries.insert(
            key("silver", "orders"),
            Entry {
                last_ingest: Some(now - 1_000_000),
                failing: Some("slice 2024-01-02 failed: bad row".into()),
                ..Entry::table()
            },
        );
        entries.insert(
            key("gold", "daily"),
            Entry {
                kind: Kind::Gold,
                committed: Some(now - 2_000_000),
                inputs: vec![key("silver", "orders")],
                rule: rule(3600, 7200),
                ..Entry::table()
            },
        );
        board.publish(entries);
        let g = board
            .status(&key("gold", "daily"), now, &Reader::anyone())
            .unwrap();
        assert_eq!(g.state, State::Warn);
        assert_eq!(g.age, Some(Duration::from_secs(2)));
        assert!(
            g.why.contains("slice 2024-01-02 failed: bad row"),
            "{}",
            g.why
        );
        assert_eq!(g.kind, "gold model");
        // A reader who may not read silver.orders is told the model is stale, not why.
        let g = board
            .status(
                &key("gold", "daily"),
                now,
                &Reader::of(&|k: &Key| k.0 == "gold", &|_: &Key| true),
            )
            .unwrap();
        assert_eq!(g.state, State::Warn);
        assert!(
            !g.why.contains("silver.orders") && !g.why.contains("bad row"),
            "{}",
            g.why
        );
        assert!(g.why.contains("an input is stale (warn)"), "{}", g.why);
    }
}
