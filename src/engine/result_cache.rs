//! The result cache: a repeated query whose inputs have not changed is answered from memory,
//! as Databricks SQL's query result cache does — but with no TTL, because the key says exactly
//! what the result depends on, so it is never stale:
//!
//! - the Delta table id, version and commit time of every table the plan scans (from the
//!   providers the plan holds, not from a catalog read that could race a refresh; a table
//!   deleted and written again starts at version 0 with another id), and the view set's generation (taken
//!   before planning: a reload during planning can only make an entry newer than its key);
//! - the user (rules — grants, row filters, masks — are per user: results never cross users),
//!   the statement's text and parameter values, and the settings that change what a query
//!   returns (`TimeZone`, `search_path`).
//!
//! A plan is cacheable only when every scan is a current lake table (no time travel, no
//! metadata, Iceberg, system or catalog tables) and no expression is volatile or stable
//! (`now()`, `random()`, `current_user`, ...). A result is kept once it has streamed to the end
//! and fits one entry (an eighth of the cache); memory is bounded by a size-weighted
//! TinyLFU/LRU store (moka). `SET lakegate.result_cache = off` skips it per session.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};
use futures::{StreamExt, stream};

use super::run::Rows;
use crate::catalog::identity::{LakeTable, Part};

/// A SHA-256 of everything a result depends on: a key's size does not grow with the
/// statement's text or its parameters.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub struct Key([u8; 32]);

/// What a kept entry costs beyond its batches (key, bookkeeping): even empty results weigh.
const ENTRY_OVERHEAD: u64 = 256;

struct Entry {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    bytes: u64,
}

/// Counts since the server started (also in `lakegate.result_cache`).
#[derive(Debug, Default)]
pub struct Counts {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub stored: AtomicU64,
}

pub struct ResultCache {
    store: moka::sync::Cache<Key, Arc<Entry>>,
    capacity: u64,
    /// Bytes copied from results still streaming (not kept yet): bounded by half the
    /// capacity across all queries, so many concurrent big queries do not double memory.
    in_flight: Arc<AtomicU64>,
    pub counts: Counts,
}

/// A share of the in-flight budget, given back when the copy is kept or dropped.
struct Reserved {
    bytes: u64,
    budget: Arc<AtomicU64>,
}

impl Drop for Reserved {
    fn drop(&mut self) {
        self.budget.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for ResultCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultCache")
            .field("capacity", &self.capacity)
            .finish()
    }
}

/// The lake tables (schema, table, version) a plan reads, or `None` when anything it reads or
/// computes could change without a table version moving.
pub fn inputs(plan: &LogicalPlan) -> Option<Vec<(String, String, Arc<str>)>> {
    let mut out = Vec::new();
    let mut ok = true;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let table = datafusion::datasource::source_as_provider(&scan.source)
                .ok()
                .and_then(|p| {
                    let t = LakeTable::of(p.as_ref())?;
                    (t.part == Part::Rows)
                        .then_some(())
                        .and(t.revision.clone())
                        .map(|v| (t.schema.clone(), t.table.clone(), v))
                });
            match table {
                Some(t) => out.push(t),
                None => ok = false,
            }
        }
        let _ = node.apply_expressions(|e| {
            e.apply(|e| {
                let volatile = match e {
                    Expr::ScalarFunction(f) => {
                        f.func.signature().volatility != Volatility::Immutable
                    }
                    Expr::ScalarVariable(..) | Expr::Placeholder(_) => true,
                    _ => false,
                };
                if volatile {
                    ok = false;
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        });
        Ok(if ok {
            TreeNodeRecursion::Continue
        } else {
            TreeNodeRecursion::Stop
        })
    });
    // A query that reads no table (`SELECT 1`) costs nothing to compute again.
    (ok && !out.is_empty()).then(|| {
        out.sort();
        out.dedup();
        out
    })
}

impl ResultCache {
    pub fn new(capacity: u64) -> ResultCache {
        ResultCache {
            store: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .weigher(|_, e: &Arc<Entry>| {
                    u32::try_from(e.bytes + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
                })
                .build(),
            capacity,
            in_flight: Arc::new(AtomicU64::new(0)),
            counts: Counts::default(),
        }
    }

    /// `params` is formatted only here, for a plan known to be cacheable.
    pub fn key(
        user: &str,
        statement: &str,
        params: &[datafusion::common::ScalarValue],
        settings: &str,
        views: u64,
        inputs: &[(String, String, Arc<str>)],
    ) -> Key {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        // Each part with its length, so no two different keys hash the same bytes.
        let mut part = |b: &[u8]| {
            h.update((b.len() as u64).to_le_bytes());
            h.update(b);
        };
        part(user.as_bytes());
        part(statement.as_bytes());
        part(format!("{params:?}").as_bytes());
        part(settings.as_bytes());
        part(&views.to_le_bytes());
        for (s, t, r) in inputs {
            part(s.as_bytes());
            part(t.as_bytes());
            part(r.as_bytes());
        }
        Key(h.finalize().into())
    }

    /// The rows of an earlier run under `key`, if there is one.
    pub fn get(&self, key: &Key) -> Option<(SchemaRef, Vec<RecordBatch>)> {
        let m = crate::metrics::metrics();
        match self.store.get(key) {
            Some(e) => {
                self.counts.hits.fetch_add(1, Ordering::Relaxed);
                m.result_cache_hits.inc();
                Some((e.schema.clone(), e.batches.clone()))
            }
            None => {
                self.counts.misses.fetch_add(1, Ordering::Relaxed);
                m.result_cache_misses.inc();
                None
            }
        }
    }

    /// Whether an entry is kept under `key` (counted as neither hit nor miss: EXPLAIN asks).
    pub fn contains(&self, key: &Key) -> bool {
        self.store.contains_key(key)
    }

    /// `rows` as they stream, kept under `key` once they have all streamed (and fit).
    pub fn keep(self: &Arc<Self>, key: Key, schema: SchemaRef, rows: Rows) -> Rows {
        let limit = self.capacity / 8;
        let budget = self.capacity / 2;
        let cache = self.clone();
        let reserved = Reserved {
            bytes: 0,
            budget: self.in_flight.clone(),
        };
        Box::pin(stream::unfold(
            Some((rows, Some((Vec::new(), reserved)), 0u64, key, schema, cache)),
            move |state| async move {
                let (mut rows, mut kept, mut bytes, key, schema, cache) = state?;
                match rows.next().await {
                    Some(Ok(b)) => {
                        let copy = kept.as_ref().and_then(|_| compact(&b));
                        if copy.is_none() {
                            kept = None;
                        }
                        if let (Some((k, r)), Some(copy)) = (kept.as_mut(), copy) {
                            let more = copy.get_array_memory_size() as u64;
                            bytes += more;
                            r.bytes += more;
                            let total = r.budget.fetch_add(more, Ordering::Relaxed) + more;
                            if bytes > limit || total > budget {
                                kept = None; // dropping the share gives it back
                            } else {
                                k.push(copy);
                            }
                        }
                        Some((Ok(b), Some((rows, kept, bytes, key, schema, cache))))
                    }
                    // An error is the client's; nothing is kept.
                    Some(Err(e)) => Some((Err(e), Some((rows, None, bytes, key, schema, cache)))),
                    None => {
                        if let Some((batches, _reserved)) = kept {
                            cache.counts.stored.fetch_add(1, Ordering::Relaxed);
                            cache.store.insert(
                                key,
                                Arc::new(Entry {
                                    schema,
                                    batches,
                                    bytes: bytes.max(1),
                                }),
                            );
                            crate::metrics::metrics()
                                .result_cache_bytes
                                .set(cache.bytes() as i64);
                        }
                        None
                    }
                }
            },
        ))
    }

    /// Bytes held now (after pending evictions).
    pub fn bytes(&self) -> u64 {
        self.store.run_pending_tasks();
        self.store.weighted_size()
    }

    pub fn entries(&self) -> u64 {
        self.store.run_pending_tasks();
        self.store.entry_count()
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }
}

/// A copy of `batch` that owns only its own rows. Results often share the buffers they were
/// computed from (a filtered string view column keeps every string of its input; a slice keeps
/// the whole array): kept as they are, 400 one-row lookups held 24 MiB.
fn compact(batch: &RecordBatch) -> Option<RecordBatch> {
    use datafusion::arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
    use datafusion::arrow::datatypes::DataType;
    let n = u32::try_from(batch.num_rows()).ok()?;
    let all = UInt32Array::from_iter_values(0..n);
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            DataType::Utf8View => Some(Arc::new(c.as_string_view().gc()) as ArrayRef),
            DataType::BinaryView => Some(Arc::new(c.as_binary_view().gc()) as ArrayRef),
            _ => datafusion::arrow::compute::take(c.as_ref(), &all, None).ok(),
        })
        .collect::<Option<_>>()?;
    RecordBatch::try_new(batch.schema(), columns).ok()
}

/// `lakegate.result_cache`: one row of what the cache holds and has done.
#[derive(Debug)]
pub struct CacheTable(pub Arc<ResultCache>);

#[async_trait::async_trait]
impl super::pg_catalog::ComputedTable for CacheTable {
    fn table_schema(&self) -> SchemaRef {
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        Arc::new(Schema::new(
            [
                "capacity_bytes",
                "bytes",
                "entries",
                "hits",
                "misses",
                "stored",
            ]
            .map(|n| Field::new(n, DataType::Int64, false))
            .to_vec(),
        ))
    }

    async fn compute(
        &self,
        _state: &dyn datafusion::catalog::Session,
    ) -> datafusion::error::Result<RecordBatch> {
        use datafusion::arrow::array::{ArrayRef, Int64Array};
        let c = &self.0;
        let v = [
            c.capacity(),
            c.bytes(),
            c.entries(),
            c.counts.hits.load(Ordering::Relaxed),
            c.counts.misses.load(Ordering::Relaxed),
            c.counts.stored.load(Ordering::Relaxed),
        ];
        Ok(RecordBatch::try_new(
            self.table_schema(),
            v.iter()
                .map(|x| Arc::new(Int64Array::from(vec![*x as i64])) as ArrayRef)
                .collect(),
        )?)
    }
}
