//! What the server is running and has run: `lakegate.queries` (active statements) and
//! `lakegate.query_log` (the last `CAPACITY` finished ones), plus the slow-query log.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::Session;
use tracing::warn;

use crate::engine::pg_catalog::ComputedTable;

const CAPACITY: usize = 1000;

#[derive(Clone)]
struct Active {
    /// Ties a statement's log lines together (`query_id` in logs and `lakegate.query_log`).
    id: u64,
    user: String,
    text: Arc<str>,
    started: Instant,
    started_at: i64,
}

#[derive(Clone)]
struct Done {
    pid: i32,
    active: Active,
    duration: Duration,
    outcome: &'static str,
}

pub struct Activity {
    next_id: std::sync::atomic::AtomicU64,
    active: Mutex<HashMap<i32, Active>>,
    log: Mutex<VecDeque<Done>>,
    slow: Duration,
}

impl Activity {
    pub fn new(slow: Duration) -> Arc<Activity> {
        Arc::new(Activity {
            next_id: std::sync::atomic::AtomicU64::new(1),
            active: Mutex::new(HashMap::new()),
            log: Mutex::new(VecDeque::new()),
            slow,
        })
    }

    /// Marks `pid` as running `text`; the guard records the end (as an error unless
    /// [`Running::ok`] was called).
    pub fn begin(self: &Arc<Self>, pid: i32, user: &str, text: Arc<str>) -> Running {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(query_id = id, pid, %user, sql = %text, "statement started");
        self.active.lock().expect("activity lock").insert(
            pid,
            Active {
                id,
                user: user.to_string(),
                text,
                started: Instant::now(),
                started_at: chrono::Utc::now().timestamp_micros(),
            },
        );
        Running {
            activity: self.clone(),
            pid,
            id,
            outcome: "error",
        }
    }

    /// (pid, user, query, running for) of every statement running now.
    pub fn running(&self) -> Vec<(i32, String, String, Duration)> {
        let mut v: Vec<_> = self
            .active
            .lock()
            .expect("activity lock")
            .iter()
            .map(|(p, a)| (*p, a.user.clone(), a.text.to_string(), a.started.elapsed()))
            .collect();
        v.sort_by_key(|r| r.0);
        v
    }

    fn end(&self, pid: i32, outcome: &'static str) {
        let Some(a) = self.active.lock().expect("activity lock").remove(&pid) else {
            return;
        };
        let duration = a.started.elapsed();
        tracing::debug!(
            query_id = a.id,
            pid,
            duration_ms = duration.as_millis() as u64,
            outcome,
            "statement ended"
        );
        if !self.slow.is_zero() && duration >= self.slow {
            warn!(query_id = a.id, pid, user = %a.user, duration_ms = duration.as_millis() as u64, outcome,
                sql = %a.text, "slow query");
        }
        let mut log = self.log.lock().expect("activity lock");
        if log.len() == CAPACITY {
            log.pop_front();
        }
        log.push_back(Done {
            pid,
            active: a,
            duration,
            outcome,
        });
    }
}

pub struct Running {
    activity: Arc<Activity>,
    pid: i32,
    id: u64,
    outcome: &'static str,
}

impl Running {
    pub fn ok(&mut self) {
        self.outcome = "ok";
    }

    /// The statement's `query_id`.
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.activity.end(self.pid, self.outcome);
    }
}

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// `lakegate.queries` and `lakegate.query_log`.
#[derive(Clone)]
pub struct ActivityTable {
    pub activity: Arc<Activity>,
    pub log: bool,
}

impl std::fmt::Debug for ActivityTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.log {
            "lakegate.query_log"
        } else {
            "lakegate.queries"
        })
    }
}

#[async_trait]
impl ComputedTable for ActivityTable {
    fn table_schema(&self) -> SchemaRef {
        let mut f = vec![
            Field::new("query_id", DataType::Int64, false),
            Field::new("pid", DataType::Int32, false),
            Field::new("usename", DataType::Utf8, false),
            Field::new("started_at", ts(), false),
            Field::new("duration_ms", DataType::Int64, false),
            Field::new("query", DataType::Utf8, false),
        ];
        if self.log {
            f.push(Field::new("status", DataType::Utf8, false));
        }
        Arc::new(Schema::new(f))
    }

    async fn compute(&self, state: &dyn Session) -> datafusion::error::Result<RecordBatch> {
        // A non-admin granted these tables sees their own statements only, as on the status
        // page: others' SQL carries their literals.
        let only = state
            .config()
            .get_extension::<crate::auth::Access>()
            .filter(|a| !a.admin)
            .map(|a| a.user.clone());
        let mut rows: Vec<(i32, Active, Duration, &'static str)> = if self.log {
            self.activity
                .log
                .lock()
                .expect("activity lock")
                .iter()
                .map(|d| (d.pid, d.active.clone(), d.duration, d.outcome))
                .collect()
        } else {
            let mut v: Vec<_> = self
                .activity
                .active
                .lock()
                .expect("activity lock")
                .iter()
                .map(|(p, a)| (*p, a.clone(), a.started.elapsed(), "running"))
                .collect();
            v.sort_by_key(|r| r.0);
            v
        };
        if let Some(user) = &only {
            rows.retain(|r| &r.1.user == user);
        }
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.1.id as i64).collect::<Vec<_>>(),
            )),
            Arc::new(Int32Array::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.1.user.clone()).collect::<Vec<_>>(),
            )),
            Arc::new(
                TimestampMicrosecondArray::from(
                    rows.iter().map(|r| r.1.started_at).collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
            Arc::new(Int64Array::from(
                rows.iter()
                    .map(|r| r.2.as_millis() as i64)
                    .collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter()
                    .map(|r| r.1.text.to_string())
                    .collect::<Vec<_>>(),
            )),
        ];
        if self.log {
            cols.push(Arc::new(StringArray::from(
                rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            )));
        }
        Ok(RecordBatch::try_new(self.table_schema(), cols)?)
    }
}
