//! The lake catalog: zones become schemas, Delta tables inside them become tables.
//!
//! The lake is the source of truth. [`LakeCatalog::refresh`] walks the lake root: every top-level
//! folder is a zone (except `landing`, which holds raw files, and folders starting with `_` or
//! `.`, which hold lakegate's own state), and every folder inside a zone that has a `_delta_log`
//! is a table. Each refresh builds a complete new [`Snapshot`] and swaps it in; queries resolve
//! table names against the snapshot current at planning time and keep the Delta version they
//! planned with, so a running query never sees a table change under it.
//!
//! A table that fails to load keeps its last good version (and the error is logged); a table
//! whose folder disappears disappears from the catalog at the next refresh.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, MemorySchemaProvider, SchemaProvider};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use deltalake::DeltaTable;
use futures::future::join_all;
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::storage::LakeUrl;

/// Zone that holds raw delivered files; never served as tables.
pub const LANDING_ZONE: &str = "landing";
/// Empty schema kept so clients that assume `public` exists find it.
pub const PUBLIC_SCHEMA: &str = "public";

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("Failed to list {location}: {source}")]
    List {
        location: String,
        source: object_store::Error,
    },
    #[error("Failed to open Delta table {location}: {source}")]
    OpenTable {
        location: String,
        source: deltalake::DeltaTableError,
    },
    #[error("Failed to build the reader for Delta table {location}: {source}")]
    Provider {
        location: String,
        source: DataFusionError,
    },
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
}

pub mod iceberg;
mod iceberg_meta;
pub mod identity;
pub mod travel;

/// The reader of a Delta table as lakegate serves it. Strings are read as `Utf8`, not
/// `Utf8View`: DataFusion 52 charges every batch for the whole string buffers a view array
/// shares, so a hash join over a few million rows with a text column (TPC-H Q18) "needed" more
/// than 8 GiB of query memory. Parquet filter pushdown stays on (delta-rs' default).
pub async fn delta_provider(
    table: &DeltaTable,
) -> std::result::Result<Arc<dyn TableProvider>, DataFusionError> {
    static SCAN_SESSION: std::sync::OnceLock<Arc<datafusion::execution::SessionState>> =
        std::sync::OnceLock::new();
    let session = SCAN_SESSION.get_or_init(|| {
        let mut config = datafusion::prelude::SessionConfig::new();
        let parquet = &mut config.options_mut().execution.parquet;
        parquet.schema_force_view_types = false;
        parquet.pushdown_filters = true;
        Arc::new(
            datafusion::execution::SessionStateBuilder::new()
                .with_config(config)
                .build(),
        )
    });
    let provider = table.table_provider().with_session(session.clone()).await?;
    Ok(provider)
}

pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

/// One served Delta table at one version.
pub struct TableEntry {
    pub zone: String,
    pub name: String,
    pub location: LakeUrl,
    pub version: i64,
    table: DeltaTable,
    provider: Arc<dyn TableProvider>,
    /// Worked out from the log on first use (what pg_class and the size functions answer).
    stats: std::sync::OnceLock<TableStats>,
    /// Which table at which version: its Delta table id, version and commit time. A table
    /// deleted and written again at the same path starts again at version 0 with another id.
    pub revision: Arc<str>,
}

/// What the Delta log says of a table's current version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableStats {
    /// Bytes of its data files.
    pub bytes: i64,
    pub files: usize,
    /// Rows, when every file's statistics have `numRecords`.
    pub rows: Option<i64>,
}

impl std::fmt::Debug for TableEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableEntry")
            .field("zone", &self.zone)
            .field("name", &self.name)
            .field("version", &self.version)
            .finish()
    }
}

impl TableEntry {
    pub fn provider(&self) -> Arc<dyn TableProvider> {
        self.provider.clone()
    }

    /// The loaded Delta table (at `version`).
    pub fn delta(&self) -> &DeltaTable {
        &self.table
    }

    /// File bytes and row count of the served version, from the log's add actions.
    pub fn stats(&self) -> TableStats {
        *self.stats.get_or_init(|| {
            let Ok(state) = self.table.snapshot() else {
                return TableStats {
                    bytes: 0,
                    files: 0,
                    rows: None,
                };
            };
            let (mut bytes, mut files, mut rows) = (0i64, 0usize, Some(0i64));
            for f in state.log_data().iter() {
                bytes += f.size();
                files += 1;
                rows = rows.zip(f.num_records()).map(|(a, b)| a + b as i64);
            }
            TableStats { bytes, files, rows }
        })
    }
}

/// An immutable view of the whole lake; replaced, never mutated.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub zones: BTreeMap<String, BTreeMap<String, Arc<TableEntry>>>,
}

impl Snapshot {
    pub fn table(&self, zone: &str, name: &str) -> Option<&Arc<TableEntry>> {
        self.zones.get(zone)?.get(name)
    }
}

/// What a refresh did, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RefreshMetrics {
    pub tables: usize,
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
    pub failed: usize,
}

pub struct LakeCatalog {
    root: LakeUrl,
    store: Arc<dyn ObjectStore>,
    root_path: ObjectPath,
    current: RwLock<Arc<Snapshot>>,
    /// Bumped whenever a refresh changes the snapshot; views re-plan on it.
    generation: tokio::sync::watch::Sender<u64>,
    /// Serializes refreshes (the timer and explicit calls) so two never race to swap.
    refresh_lock: tokio::sync::Mutex<()>,
    /// Iceberg catalogs and metadata-file tables served next to the Delta zones.
    iceberg: RwLock<Arc<iceberg::IcebergMounts>>,
}

impl std::fmt::Debug for LakeCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeCatalog")
            .field("root", &self.root)
            .finish()
    }
}

impl LakeCatalog {
    pub fn new(root: LakeUrl) -> Result<Arc<LakeCatalog>> {
        let (store, root_path) = root.object_store()?;
        Ok(Arc::new(LakeCatalog {
            root,
            store,
            root_path,
            current: RwLock::new(Arc::new(Snapshot::default())),
            generation: tokio::sync::watch::Sender::new(0),
            refresh_lock: tokio::sync::Mutex::new(()),
            iceberg: RwLock::new(Arc::new(iceberg::IcebergMounts::default())),
        }))
    }

    /// Serves these Iceberg catalogs and tables from now on.
    pub fn set_iceberg(&self, mounts: iceberg::IcebergMounts) {
        *self.iceberg.write().expect("iceberg lock") = Arc::new(mounts);
    }

    pub fn iceberg(&self) -> Arc<iceberg::IcebergMounts> {
        self.iceberg.read().expect("iceberg lock").clone()
    }

    pub fn root(&self) -> &LakeUrl {
        &self.root
    }

    /// Changes whenever the served tables change.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.read().expect("catalog lock poisoned").clone()
    }

    /// Immediate sub-folders of `prefix` (names only).
    async fn folders(&self, prefix: &ObjectPath) -> Result<Vec<String>> {
        match self.store.list_with_delimiter(Some(prefix)).await {
            Ok(listing) => Ok(listing
                .common_prefixes
                .iter()
                .filter_map(|p| p.filename().map(str::to_string))
                .collect()),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(source) => Err(CatalogError::List {
                location: format!("{}/{}", self.root, prefix),
                source,
            }),
        }
    }

    /// Re-reads the lake and swaps in the new snapshot.
    pub async fn refresh(&self) -> Result<RefreshMetrics> {
        // Iceberg catalogs first and outside the lock: a slow or unreachable catalog delays
        // this pass but never blocks another refresh (it keeps its last table list on failure).
        self.iceberg().refresh().await;
        let _guard = self.refresh_lock.lock().await;
        let started = std::time::Instant::now();
        let old = self.snapshot();
        let mut metrics = RefreshMetrics::default();
        let mut zones: BTreeMap<String, BTreeMap<String, Arc<TableEntry>>> = BTreeMap::new();

        for zone in self.folders(&self.root_path).await? {
            if zone == LANDING_ZONE || zone.starts_with('_') || zone.starts_with('.') {
                continue;
            }
            let zone_path = self.root_path.child(zone.as_str());
            let candidates = self.folders(&zone_path).await?;
            let loads = candidates.into_iter().map(|name| {
                let zone = zone.clone();
                let zone_path = zone_path.clone();
                let previous = old.table(&zone, &name).cloned();
                async move {
                    let table_path = zone_path.child(name.as_str());
                    let outcome = self
                        .load_table(&zone, &name, &table_path, previous.clone())
                        .await;
                    (name, previous, outcome)
                }
            });
            let mut tables = BTreeMap::new();
            for (name, previous, outcome) in join_all(loads).await {
                match outcome {
                    Ok(Some(entry)) => {
                        match &previous {
                            None => metrics.added += 1,
                            Some(p) if !Arc::ptr_eq(p, &entry) => metrics.updated += 1,
                            _ => {}
                        }
                        tables.insert(name, entry);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        metrics.failed += 1;
                        // Keep serving the last good version rather than losing the table.
                        if let Some(p) = previous {
                            warn!(error = %e, table = %format!("{zone}.{name}"), version = p.version,
                                "keeping last good version");
                            tables.insert(name, p);
                        } else {
                            warn!(error = %e, "skipping table that does not load");
                        }
                    }
                }
            }
            metrics.tables += tables.len();
            zones.insert(zone, tables);
        }
        for (zone, tables) in &old.zones {
            for name in tables.keys() {
                if zones.get(zone).is_none_or(|t| !t.contains_key(name)) {
                    metrics.removed += 1;
                    info!(table = %format!("{zone}.{name}"), "table removed from the lake");
                }
            }
        }
        let m = crate::metrics::metrics();
        m.catalog_refresh_seconds
            .observe(started.elapsed().as_secs_f64());
        m.catalog_tables.set(metrics.tables as i64);
        for (zone, tables) in &zones {
            for (name, t) in tables {
                m.table_version
                    .get_or_create(&crate::metrics::TableLabel {
                        table: format!("{zone}.{name}"),
                    })
                    .set(t.version);
            }
        }
        *self.current.write().expect("catalog lock poisoned") = Arc::new(Snapshot { zones });
        if metrics.added + metrics.updated + metrics.removed > 0 {
            self.generation.send_modify(|g| *g += 1);
            info!(?metrics, "catalog refreshed");
        } else {
            debug!(?metrics, "catalog refreshed");
        }
        Ok(metrics)
    }

    /// Loads or updates one table; `Ok(None)` when the folder is not a Delta table.
    async fn load_table(
        &self,
        zone: &str,
        name: &str,
        path: &ObjectPath,
        previous: Option<Arc<TableEntry>>,
    ) -> Result<Option<Arc<TableEntry>>> {
        // Any object under _delta_log/ makes a table.
        let log = path.child("_delta_log");
        let has_log = crate::storage::has_objects(self.store.as_ref(), &log)
            .await
            .map_err(|source| CatalogError::List {
                location: log.to_string(),
                source,
            })?;
        if !has_log {
            return Ok(None);
        }
        let location = self.root.join(&format!("{zone}/{name}"));
        let open_err = |source| CatalogError::OpenTable {
            location: location.to_string(),
            source,
        };
        let fresh = || async { location.open_delta().await.map_err(open_err) };
        let table = match previous {
            Some(prev) => {
                // Advance the loaded state; a table deleted and written again at the same path
                // (fewer versions, another table id) is opened afresh instead.
                let advanced = async {
                    let latest = prev.table.get_latest_version().await.ok()?;
                    if latest == prev.version {
                        // Deleted and written again between two refreshes, back at the same
                        // version: its commit file is another one (seen on a local lake, where
                        // looking costs a stat; an object store would need a HEAD per table).
                        if rewritten_locally(&prev) {
                            return None;
                        }
                        return Some(None);
                    }
                    if latest < prev.version {
                        return None;
                    }
                    let mut table = prev.table.clone();
                    table.update_state().await.ok()?;
                    Some(Some(table))
                }
                .await;
                match advanced {
                    Some(None) => return Ok(Some(prev)),
                    Some(Some(t)) if same_table(&t, &prev.table) => t,
                    _ => fresh().await?,
                }
            }
            None => fresh().await?,
        };
        let version = table.version().unwrap_or(-1);
        let revision: Arc<str> = match table.snapshot() {
            Ok(s) => format!(
                "{}:{version}:{}",
                s.metadata().id(),
                s.version_timestamp(version).unwrap_or(0)
            )
            .into(),
            Err(_) => format!("?:{version}").into(),
        };
        let provider = delta_provider(&table)
            .await
            .map_err(|source| CatalogError::Provider {
                location: location.to_string(),
                source,
            })?;
        debug!(table = %format!("{zone}.{name}"), version, "loaded Delta table");
        Ok(Some(Arc::new(TableEntry {
            zone: zone.to_string(),
            name: name.to_string(),
            location,
            version,
            table,
            provider,
            stats: Default::default(),
            revision,
        })))
    }

    /// Refreshes every `interval` until `shutdown` fires. Errors are logged, never fatal:
    /// the last good snapshot keeps being served.
    pub fn spawn_refresher(
        self: &Arc<Self>,
        interval: Duration,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let catalog = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => {
                        if let Err(e) = catalog.refresh().await {
                            warn!(error = %e, "catalog refresh failed; serving the previous snapshot");
                        }
                    }
                }
            }
        })
    }
}

/// Views served next to the tables, by schema and name; replaced whole on reload.
pub type ViewMap = BTreeMap<String, BTreeMap<String, Arc<dyn TableProvider>>>;

/// Where a catalog provider finds views: the served set, or a set being built.
pub type ViewSource = Arc<RwLock<Arc<ViewMap>>>;

/// Whether two loaded states belong to the same Delta table (same table id in the metadata).
/// Whether the commit file of `entry`'s version on a local lake is not the one it was loaded
/// from (another modification time).
fn rewritten_locally(entry: &TableEntry) -> bool {
    let Some(dir) = entry.location.local_path() else {
        return false;
    };
    let Ok(snapshot) = entry.table.snapshot() else {
        return false;
    };
    let Some(loaded) = snapshot.version_timestamp(entry.version) else {
        return false;
    };
    let file = dir.join(format!("_delta_log/{:020}.json", entry.version));
    match std::fs::metadata(&file).and_then(|m| m.modified()) {
        Ok(t) => t
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64 != loaded)
            .unwrap_or(false),
        // Gone (the folder is being rewritten): the next refresh looks again.
        Err(_) => false,
    }
}

fn same_table(a: &DeltaTable, b: &DeltaTable) -> bool {
    match (a.snapshot(), b.snapshot()) {
        (Ok(a), Ok(b)) => a.metadata().id() == b.metadata().id(),
        _ => false,
    }
}

/// DataFusion view of the lake: one catalog whose schemas are the zones (plus view schemas).
pub struct LakeCatalogProvider {
    lake: Arc<LakeCatalog>,
    views: ViewSource,
    /// Schemas registered by the server itself (pg_catalog, public, system schemas).
    extra: RwLock<HashMap<String, Arc<dyn SchemaProvider>>>,
}

impl std::fmt::Debug for LakeCatalogProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeCatalogProvider").finish()
    }
}

impl LakeCatalogProvider {
    pub fn new(lake: Arc<LakeCatalog>, views: ViewSource) -> Self {
        let mut extra: HashMap<String, Arc<dyn SchemaProvider>> = HashMap::new();
        extra.insert(PUBLIC_SCHEMA.into(), Arc::new(MemorySchemaProvider::new()));
        LakeCatalogProvider {
            lake,
            views,
            extra: RwLock::new(extra),
        }
    }

    fn views(&self) -> Arc<ViewMap> {
        self.views.read().expect("views lock").clone()
    }
}

impl CatalogProvider for LakeCatalogProvider {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.lake.snapshot().zones.keys().cloned().collect();
        for name in self.views().keys() {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        for name in self.extra.read().expect("lock").keys() {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        let iceberg = self.lake.iceberg();
        for name in iceberg
            .schema_names()
            .into_iter()
            .chain(iceberg.table_zones().cloned())
        {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let schema = self.schema_unidentified(name)?;
        // The catalog's own tables are not lake tables; access rules never name them.
        if matches!(name, "pg_catalog" | "information_schema") {
            return Some(schema);
        }
        Some(Arc::new(identity::IdentifiedSchema {
            name: name.to_string(),
            inner: schema,
        }))
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> DfResult<Option<Arc<dyn SchemaProvider>>> {
        Ok(self
            .extra
            .write()
            .expect("lock")
            .insert(name.to_string(), schema))
    }
}

impl LakeCatalogProvider {
    fn schema_unidentified(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if let Some(s) = self.extra.read().expect("lock").get(name) {
            return Some(s.clone());
        }
        let iceberg = self.lake.iceberg();
        if let Some(s) = iceberg.schema(name) {
            return Some(s);
        }
        let exists = self.lake.snapshot().zones.contains_key(name)
            || self.views().contains_key(name)
            || iceberg.table_zones().any(|z| z == name);
        exists.then(|| -> Arc<dyn SchemaProvider> {
            Arc::new(ZoneSchema {
                lake: self.lake.clone(),
                views: self.views.clone(),
                zone: name.to_string(),
            })
        })
    }
}

/// A zone as a schema; every lookup reads the current snapshot. Tables win over views of
/// the same name (the views layer reports such a view as an error).
struct ZoneSchema {
    lake: Arc<LakeCatalog>,
    views: ViewSource,
    zone: String,
}

impl std::fmt::Debug for ZoneSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZoneSchema")
            .field("zone", &self.zone)
            .finish()
    }
}

impl ZoneSchema {
    /// Whether `name` is a time-travel or metadata name of a lake table of this zone.
    fn suffixed(&self, name: &str) -> bool {
        travel::split(name)
            .is_some_and(|(base, _)| self.lake.snapshot().table(&self.zone, base).is_some())
            || self.lake.iceberg().has_suffixed(&self.zone, name)
    }

    fn view(&self, name: &str) -> Option<Arc<dyn TableProvider>> {
        self.views
            .read()
            .expect("views lock")
            .get(&self.zone)?
            .get(name)
            .cloned()
    }
}

#[async_trait]
impl SchemaProvider for ZoneSchema {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .lake
            .snapshot()
            .zones
            .get(&self.zone)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        if let Some(views) = self.views.read().expect("views lock").get(&self.zone) {
            for v in views.keys() {
                if !names.contains(v) {
                    names.push(v.clone());
                }
            }
        }
        for t in self.lake.iceberg().table_names(&self.zone) {
            if !names.contains(&t) {
                names.push(t);
            }
        }
        names
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let snapshot = self.lake.snapshot();
        if let Some(t) = snapshot.table(&self.zone, name) {
            return Ok(Some(identity::LakeTable::at_revision(
                &self.zone,
                name,
                t.provider(),
                t.revision.clone(),
            )));
        }
        if let Some(view) = self.view(name) {
            return Ok(Some(view));
        }
        if let Some(t) = self.lake.iceberg().table(&self.zone, name) {
            return Ok(Some(t));
        }
        // `t@v12`, `t@20260101000000000`, `t$history`, … of a lake table.
        match travel::split(name) {
            Some((base, r)) => match snapshot.table(&self.zone, base) {
                Some(t) => travel::provider(t, r).await.map(Some),
                None => self.lake.iceberg().suffixed_table(&self.zone, name).await,
            },
            None => Ok(None),
        }
    }

    async fn table_type(&self, name: &str) -> DfResult<Option<TableType>> {
        if self.lake.snapshot().table(&self.zone, name).is_some() {
            return Ok(Some(TableType::Base));
        }
        if let Some(v) = self.view(name) {
            return Ok(Some(v.table_type()));
        }
        if self.lake.iceberg().table(&self.zone, name).is_some() {
            return Ok(Some(TableType::Base));
        }
        Ok(self.suffixed(name).then_some(TableType::Base))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.lake.snapshot().table(&self.zone, name).is_some()
            || self.view(name).is_some()
            || self.lake.iceberg().table(&self.zone, name).is_some()
            || self.suffixed(name)
    }
}
