//! Keeps the engine's freshness board ([`crate::engine::freshness::Board`]) filled from the
//! lake, and acts on it: metrics, the status page's age history, alerts on state changes.
//!
//! Everything comes from the lake, so a replica or a restarted process tells the same story:
//! the rules from the config and the views' yaml, each table's last successful ingest and
//! failing slices from `_lakegate/slices`, the time of each table's current Delta commit from
//! its log, `max(loaded_at_field)` from the table itself (read again only when its version
//! moves), and what each view reads from its plan.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::alerts::{Alerts, Details};
use crate::config::{AlertEvent, Config, FreshnessRule};
use crate::engine::Engine;
use crate::engine::freshness::{Entry, Key, Kind, State, Status, format_age, now_micros};
use crate::ingest::LakePath;
use crate::views::ViewRegistry;

/// Samples of each relation's age kept for the status page's chart.
const HISTORY: usize = 120;

/// A slice whose latest attempt failed.
#[derive(Clone, Debug, PartialEq)]
struct Failure {
    slice: String,
    error: String,
    run_id: String,
}

#[derive(Default)]
struct LogFacts {
    version: Option<i64>,
    last_ok: HashMap<Key, i64>,
    failing: HashMap<Key, Failure>,
}

pub struct Watch {
    engine: Arc<Engine>,
    views: Option<Arc<ViewRegistry>>,
    lake: Option<LakePath>,
    rules: HashMap<Key, FreshnessRule>,
    alerts: Option<Arc<Alerts>>,
    log: tokio::sync::Mutex<LogFacts>,
    /// `max(loaded_at_field)` per relation, with the version it was read at.
    newest: tokio::sync::Mutex<HashMap<Key, (Option<i64>, Option<i64>)>>,
    /// Age samples per relation: (µs, age as anyone sees it, age as told without seeing rows).
    history: Mutex<HashMap<Key, VecDeque<Sample>>>,
    one: tokio::sync::Mutex<()>,
    /// With sources, alerts wait for the first ingest pass: before it, views over tables not
    /// built yet and tables never ingested are no news.
    armed: std::sync::atomic::AtomicBool,
}

/// One age sample: when, the whole age, and the age told to readers who do not see every row
/// (no data times; `None` when the age comes from one).
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub at: i64,
    pub age: f64,
    pub public: Option<f64>,
}

fn key(schema: &str, table: &str) -> Key {
    (schema.to_lowercase(), table.to_lowercase())
}

/// `bronze.orders` → key.
fn key_of(name: &str) -> Option<Key> {
    let (s, t) = name.split_once('.')?;
    Some(key(s, t))
}

impl Watch {
    pub fn new(
        engine: Arc<Engine>,
        views: Option<Arc<ViewRegistry>>,
        lake: Option<LakePath>,
        config: &Config,
        alerts: Option<Arc<Alerts>>,
    ) -> Arc<Watch> {
        let mut rules = HashMap::new();
        for (name, s) in &config.sources {
            if let Some(r) = &s.freshness {
                rules.insert(key("bronze", name), r.clone());
            }
        }
        for (name, s) in &config.silver {
            if let Some(r) = &s.freshness {
                rules.insert(key("silver", name), r.clone());
            }
        }
        Arc::new(Watch {
            engine,
            views,
            lake,
            rules,
            alerts,
            log: Default::default(),
            newest: Default::default(),
            history: Default::default(),
            one: Default::default(),
            armed: std::sync::atomic::AtomicBool::new(config.sources.is_empty()),
        })
    }

    /// An ingest pass has finished: alerts may go out.
    pub fn arm(&self) {
        self.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The shortest threshold of any rule, which sets how often states are looked at.
    fn tick(&self) -> Duration {
        let views = self
            .views
            .iter()
            .flat_map(|v| v.served_files())
            .filter_map(|f| f.meta.freshness.clone())
            .collect::<Vec<_>>();
        let shortest = self
            .rules
            .values()
            .chain(views.iter())
            .flat_map(|r| r.warn_after.into_iter().chain(r.error_after))
            .min();
        // Also how soon a broken view or a new failure is alerted on.
        match shortest {
            Some(d) => (d / 10).clamp(Duration::from_millis(200), Duration::from_secs(2)),
            None => Duration::from_secs(2),
        }
    }

    /// Re-reads what the board is made of and publishes it.
    pub async fn refresh(&self) {
        let _one = self.one.lock().await;
        let snapshot = self.engine.catalog().snapshot();
        let served = self
            .views
            .as_ref()
            .map(|v| v.served_relations())
            .unwrap_or_default();
        let mut rules = self.rules.clone();
        for (file, _) in &served {
            if let Some(r) = &file.meta.freshness {
                rules.insert(key(&file.schema, &file.name), r.clone());
            }
        }
        self.read_log().await;
        let log = self.log.lock().await;
        let mut entries: HashMap<Key, Entry> = HashMap::new();
        let mut versions: HashMap<Key, i64> = HashMap::new();
        for (zone, tables) in &snapshot.zones {
            for (name, t) in tables {
                let k = key(zone, name);
                let committed = t
                    .delta()
                    .snapshot()
                    .ok()
                    .and_then(|s| s.version_timestamp(t.version))
                    .map(|ms| ms * 1000);
                versions.insert(k.clone(), t.version);
                entries.insert(
                    k.clone(),
                    Entry {
                        committed,
                        last_ingest: log.last_ok.get(&k).copied(),
                        failing: log
                            .failing
                            .get(&k)
                            .map(|f| format!("slice {} failed: {}", f.slice, first_line(&f.error))),
                        ..Entry::table()
                    },
                );
            }
        }
        for (file, reads) in &served {
            let k = key(&file.schema, &file.name);
            let reads: Vec<Key> = reads.iter().filter(|r| **r != k).cloned().collect();
            match entries.get_mut(&k) {
                // A gold model: the table built from the view.
                Some(e) if file.meta.materialize.is_some() => {
                    e.kind = Kind::Gold;
                    e.inputs = reads;
                }
                Some(_) => {}
                None => {
                    entries.insert(
                        k,
                        Entry {
                            kind: Kind::View,
                            inputs: reads,
                            ..Entry::table()
                        },
                    );
                }
            }
        }
        drop(log);
        for (k, rule) in rules {
            if let Some(e) = entries.get_mut(&k) {
                e.rule = Some(rule);
            }
        }
        self.read_newest(&mut entries, &versions).await;
        self.engine.freshness().publish(entries);
    }

    /// `_lakegate/slices`, read again only when its version moved.
    async fn read_log(&self) {
        let Some(lake) = &self.lake else {
            return;
        };
        let path = lake.join("_lakegate/slices");
        if !path.is_table().await.unwrap_or(false) {
            return;
        }
        let table = match path.open_delta().await {
            Ok(t) => t,
            Err(e) => {
                warn!(error = %e, "freshness: _lakegate/slices unreadable");
                return;
            }
        };
        let mut log = self.log.lock().await;
        if log.version == table.version() {
            return;
        }
        match read_slices(&table).await {
            Ok((last_ok, failing)) => {
                *log = LogFacts {
                    version: table.version(),
                    last_ok,
                    failing,
                };
            }
            Err(e) => warn!(error = %e, "freshness: _lakegate/slices unreadable"),
        }
    }

    /// `max(loaded_at_field)` of each relation whose rule names one, read again when the
    /// relation's version moved (views: every refresh).
    async fn read_newest(&self, entries: &mut HashMap<Key, Entry>, versions: &HashMap<Key, i64>) {
        let mut cache = self.newest.lock().await;
        let ctx = self
            .engine
            .planning_context(self.engine.views_source().clone());
        for (k, e) in entries.iter_mut() {
            let Some(field) = e.rule.as_ref().and_then(|r| r.loaded_at_field.clone()) else {
                continue;
            };
            let version = versions.get(k).copied();
            if let Some((v, newest)) = cache.get(k)
                && version.is_some()
                && *v == version
            {
                e.newest_data = *newest;
                continue;
            }
            let sql = format!(
                "SELECT max({}) FROM {}.{}",
                quote_ident(&field),
                quote_ident(&k.0),
                quote_ident(&k.1)
            );
            // Bounded: a slow relation must not hold the board (and every alert) up.
            let read = tokio::time::timeout(Duration::from_secs(30), max_time(&ctx, &sql));
            let newest = match read.await.unwrap_or_else(|_| {
                Err(datafusion::error::DataFusionError::Execution(
                    "timed out after 30 s".into(),
                ))
            }) {
                Ok(t) => t,
                Err(e) => {
                    warn!(relation = %format!("{}.{}", k.0, k.1), %field, error = %e, "freshness: loaded_at_field not readable");
                    None
                }
            };
            e.newest_data = newest;
            cache.insert(k.clone(), (version, newest));
        }
    }

    /// Looks at every state now: metrics, the age history, alerts on changes.
    pub async fn evaluate(&self) {
        let now = now_micros();
        let board = self.engine.freshness();
        let all = board.all(now);
        // `/metrics` needs no login: it gets the ages told to someone who sees no rows.
        let public: HashMap<Key, Option<f64>> = board
            .all_for(now, &crate::engine::freshness::Reader::public())
            .into_iter()
            .map(|s| ((s.schema, s.table), s.age.map(|a| a.as_secs_f64())))
            .collect();
        let public_age = |s: &Status| {
            public
                .get(&(s.schema.clone(), s.table.clone()))
                .copied()
                .flatten()
        };
        let m = crate::metrics::metrics();
        for s in &all {
            let table = s.name();
            let label = crate::metrics::TableLabel {
                table: table.clone(),
            };
            match public_age(s) {
                Some(age) => {
                    m.table_age.get_or_create(&label).set(age);
                }
                None => {
                    m.table_age.remove(&label);
                }
            }
            for state in [State::Unknown, State::Fresh, State::Warn, State::Error] {
                m.table_freshness
                    .get_or_create(&crate::metrics::TableState {
                        table: table.clone(),
                        state: state.name().into(),
                    })
                    .set(i64::from(state == s.state));
            }
        }
        {
            let mut h = self.history.lock().expect("history lock");
            for s in &all {
                let Some(age) = s.age else { continue };
                let q = h.entry((s.schema.clone(), s.table.clone())).or_default();
                // One sample per 30 s at most: two hours of history in 120 points... or the
                // whole life of a test.
                if q.back().is_some_and(|p| now - p.at < 30_000_000) {
                    q.pop_back();
                }
                q.push_back(Sample {
                    at: now,
                    age: age.as_secs_f64(),
                    public: public_age(s),
                });
                while q.len() > HISTORY {
                    q.pop_front();
                }
            }
        }
        let Some(alerts) = &self.alerts else {
            return;
        };
        if !self.armed.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        for s in all.iter().filter(|s| s.rule.is_some()) {
            let firing = s.state == State::Error;
            alerts
                .change(
                    AlertEvent::FreshnessError,
                    &s.name(),
                    firing,
                    Details {
                        text: if firing {
                            format!("{} {} is stale: {}", s.kind, s.name(), s.why)
                        } else {
                            format!(
                                "{} {} is no longer in error ({})",
                                s.kind,
                                s.name(),
                                s.state.name()
                            )
                        },
                        error: firing.then(|| s.why.clone()),
                        ..Default::default()
                    },
                )
                .await;
        }
        let failing: BTreeMap<Key, Failure> = self
            .log
            .lock()
            .await
            .failing
            .iter()
            .map(|(k, f)| (k.clone(), f.clone()))
            .collect();
        let known: Vec<Key> = self
            .engine
            .freshness()
            .entries()
            .keys()
            .cloned()
            .chain(failing.keys().cloned())
            .collect();
        for k in known {
            let name = format!("{}.{}", k.0, k.1);
            let f = failing.get(&k);
            alerts
                .change(
                    AlertEvent::SliceFailed,
                    &name,
                    f.is_some(),
                    match f {
                        Some(f) => Details {
                            text: format!("slice {} of {name} failed: {}", f.slice, f.error),
                            slice: Some(f.slice.clone()),
                            error: Some(f.error.clone()),
                            run_id: Some(f.run_id.clone()),
                        },
                        None => Details {
                            text: format!("{name}'s slices succeed again"),
                            ..Default::default()
                        },
                    },
                )
                .await;
        }
        if let Some(v) = &self.views {
            for s in v.status() {
                let name = format!("{}.{}", s.schema, s.name);
                let broken = s.status != "ok";
                alerts
                    .change(
                        AlertEvent::ViewBroken,
                        &name,
                        broken,
                        Details {
                            text: match &s.error {
                                Some(e) if broken => format!("view {name} is broken: {e}"),
                                _ => format!("view {name} plans again"),
                            },
                            error: s.error.clone().filter(|_| broken),
                            ..Default::default()
                        },
                    )
                    .await;
            }
        }
    }

    /// Each relation's age samples (µs, seconds) as `access` may know them, for the status
    /// page: the whole ages where it sees every row behind the relation, else only the samples
    /// whose age came from ingest or commit times.
    pub fn history_for(&self, access: &crate::auth::Access) -> HashMap<Key, Vec<(i64, f64)>> {
        let board = self.engine.freshness();
        let may_read = |k: &Key| access.can_read(&k.0, &k.1);
        let sees = |k: &Key| crate::engine::access::sees_whole(Some(access), &k.0, &k.1);
        let reader = crate::engine::freshness::Reader::of(&may_read, &sees);
        self.history
            .lock()
            .expect("history lock")
            .iter()
            .filter(|(k, _)| may_read(k))
            .map(|(k, q)| {
                let whole = board.sees_all_rows(k, &reader);
                let points = q
                    .iter()
                    .filter_map(|p| Some((p.at, if whole { p.age } else { p.public? })))
                    .collect();
                (k.clone(), points)
            })
            .collect()
    }

    pub fn statuses(&self) -> Vec<Status> {
        self.engine.freshness().all(now_micros())
    }

    /// The relations `access` may read, told as it may know them.
    pub fn statuses_for(&self, access: &crate::auth::Access) -> Vec<Status> {
        self.engine.freshness().all_for(
            now_micros(),
            &crate::engine::freshness::Reader::of(
                &|k: &Key| access.can_read(&k.0, &k.1),
                &|k: &Key| crate::engine::access::sees_whole(Some(access), &k.0, &k.1),
            ),
        )
    }

    /// Refreshes when the lake or the views change, looks at the states every tick.
    pub fn spawn(self: &Arc<Self>, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let watch = self.clone();
        tokio::spawn(async move {
            let mut seen = None;
            loop {
                let generation = watch.engine.generation();
                if seen != Some(generation) {
                    seen = Some(generation);
                    watch.refresh().await;
                }
                watch.evaluate().await;
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(watch.tick()) => {}
                }
            }
            debug!("freshness watch stopped");
        })
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The one value of `sql` (a max over a time or date column) as µs since the epoch.
async fn max_time(
    ctx: &datafusion::prelude::SessionContext,
    sql: &str,
) -> datafusion::error::Result<Option<i64>> {
    let batches = ctx.sql(sql).await?.collect().await?;
    let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(None);
    };
    let c = datafusion::arrow::compute::cast(
        b.column(0),
        &DataType::Timestamp(TimeUnit::Microsecond, None),
    )?;
    let c = c.as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>();
    Ok(c.is_valid(0).then(|| c.value(0)))
}

type SliceFacts = (HashMap<Key, i64>, HashMap<Key, Failure>);

/// From the slices log: each table's last successful slice, and the slices whose latest
/// attempt failed (the newest such per table).
async fn read_slices(table: &deltalake::DeltaTable) -> datafusion::error::Result<SliceFacts> {
    let ctx = datafusion::prelude::SessionContext::new();
    let provider = crate::catalog::delta_provider(table).await?;
    ctx.register_table("slices", provider)?;
    let sql = "SELECT CAST(table_name AS VARCHAR), CAST(slice_id AS VARCHAR), \
               CAST(status AS VARCHAR), CAST(coalesce(error, '') AS VARCHAR), \
               CAST(run_id AS VARCHAR), CAST(finished_at AS BIGINT) FROM slices";
    let batches = ctx.sql(sql).await?.collect().await?;
    let mut last_ok: HashMap<Key, i64> = HashMap::new();
    let mut latest: HashMap<(Key, String), (i64, bool, String, String)> = HashMap::new();
    for b in &batches {
        let text = |i: usize| datafusion::arrow::compute::cast(b.column(i), &DataType::Utf8);
        let (t, s, st, e, r) = (text(0)?, text(1)?, text(2)?, text(3)?, text(4)?);
        let at = b
            .column(5)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let (t, s, st, e, r) = (
            t.as_string::<i32>(),
            s.as_string::<i32>(),
            st.as_string::<i32>(),
            e.as_string::<i32>(),
            r.as_string::<i32>(),
        );
        for i in 0..b.num_rows() {
            let Some(k) = key_of(t.value(i)) else {
                continue;
            };
            let when = at.value(i);
            let ok = st.value(i) == "ok";
            if ok {
                let e = last_ok.entry(k.clone()).or_insert(when);
                *e = (*e).max(when);
            }
            let slot = latest.entry((k, s.value(i).to_string())).or_insert((
                i64::MIN,
                true,
                String::new(),
                String::new(),
            ));
            if when >= slot.0 {
                *slot = (when, ok, e.value(i).to_string(), r.value(i).to_string());
            }
        }
    }
    let mut failing: HashMap<Key, (i64, Failure)> = HashMap::new();
    for ((k, slice), (when, ok, error, run_id)) in latest {
        if ok {
            continue;
        }
        let f = Failure {
            slice,
            error,
            run_id,
        };
        match failing.get(&k) {
            Some((w, _)) if *w >= when => {}
            _ => {
                failing.insert(k, (when, f));
            }
        }
    }
    Ok((
        last_ok,
        failing.into_iter().map(|(k, (_, f))| (k, f)).collect(),
    ))
}

/// `lakegate check --freshness`: the states now, stalest first, and whether any is `error`.
pub fn report(statuses: &[Status]) -> (String, bool) {
    let mut out = String::new();
    let mut error = false;
    for s in statuses
        .iter()
        .filter(|s| s.rule.is_some() || s.state >= State::Warn)
    {
        error |= s.state == State::Error;
        out.push_str(&format!(
            "{:<7} {:<40} {:>12}  {}\n",
            s.state.name(),
            s.name(),
            s.age.map(format_age).unwrap_or_else(|| "-".into()),
            s.why
        ));
    }
    (out, error)
}
