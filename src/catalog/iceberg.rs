//! Iceberg tables next to the Delta lake.
//!
//! - Catalogs (`iceberg.catalogs:`): a SQL catalog (sqlite or PostgreSQL, as pyiceberg's
//!   SqlCatalog and Java's JdbcCatalog write it) or a REST catalog. Each namespace `ns` of catalog
//!   `c` is served as the schema `c_ns` (nested namespaces joined with `_`). The table list is
//!   re-read at every lake refresh; every scan reads the table's current snapshot.
//! - Single tables (`iceberg.tables:`): `zone.name: /path/to/metadata.json`, served in that zone.
//!
//! Warehouses and metadata files may be local or in any object store the lake supports: file
//! IO goes through `storage::iceberg_io`, with the same `storage:` options and credentials.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use datafusion::catalog::{SchemaProvider, TableProvider};
use iceberg::io::FileIOBuilder;
use iceberg::spec::TableMetadata;
use iceberg::table::{StaticTable, Table};
use iceberg::{Catalog, CatalogBuilder, NamespaceIdent, TableIdent};
use iceberg_datafusion::IcebergStaticTableProvider;
use tracing::{debug, warn};

use crate::config::{IcebergCatalogConfig, IcebergConfig};
use crate::storage::iceberg_io::ObjectStoreStorageFactory;

#[derive(Debug, thiserror::Error)]
pub enum IcebergError {
    #[error("iceberg catalog {name}: {message}")]
    Catalog { name: String, message: String },
    #[error("iceberg table {name} ({location}): {message}")]
    Table {
        name: String,
        location: String,
        message: String,
    },
}

struct Mounted {
    name: String,
    catalog: Arc<dyn Catalog>,
    /// The namespaces and their table names as of the last refresh.
    listing: RwLock<Option<Arc<Listing>>>,
    /// The last loaded state of each table read: reused while its metadata file is the same,
    /// so the manifest list and manifests iceberg caches with it are not read again.
    loaded: Arc<Mutex<HashMap<TableIdent, Loaded>>>,
}

/// A table as loaded, and its current snapshot under its current schema (the same `Table`
/// when the two schemas agree), each with its own manifest cache.
#[derive(Clone)]
struct Loaded {
    table: Table,
    current: Table,
}

/// namespace → table names.
type Listing = BTreeMap<NamespaceIdent, Arc<Vec<String>>>;

/// Lists namespaces (nested ones too) and their tables: one request per namespace, no table
/// metadata read.
async fn list(catalog: &dyn Catalog) -> iceberg::Result<Listing> {
    let mut out = Listing::new();
    let mut todo = catalog.list_namespaces(None).await?;
    while let Some(ns) = todo.pop() {
        if out.contains_key(&ns) {
            continue;
        }
        // One namespace that cannot be listed (e.g. a SQL catalog with `a.b` but no `a` row)
        // is skipped, not the whole catalog.
        let tables = match catalog.list_tables(&ns).await {
            Ok(t) => t,
            Err(e) => {
                warn!(namespace = %ns.join("."), error = %e, "iceberg namespace not listed");
                continue;
            }
        };
        out.insert(
            ns.clone(),
            Arc::new(tables.iter().map(|t| t.name().to_string()).collect()),
        );
        if out.len() < 10_000
            && let Ok(children) = catalog.list_namespaces(Some(&ns)).await
        {
            todo.extend(children.into_iter().filter(|c| c != &ns));
        }
    }
    Ok(out)
}

/// The current state of `ident`: one catalog call, and the cached `Table` (with its manifest
/// cache) when the metadata file has not changed.
async fn load(
    catalog: &dyn Catalog,
    loaded: &Mutex<HashMap<TableIdent, Loaded>>,
    ident: &TableIdent,
) -> iceberg::Result<Loaded> {
    let fresh = catalog.load_table(ident).await?;
    let mut cache = loaded.lock().expect("iceberg cache lock");
    // Same metadata file and same storage credentials (REST catalogs may vend short-lived
    // ones with each load): the cached state, with its manifests, is still right.
    if let Some(l) = cache.get(ident)
        && l.table.metadata_location().is_some()
        && l.table.metadata_location() == fresh.metadata_location()
        && l.table.file_io().config().props() == fresh.file_io().config().props()
    {
        return Ok(l.clone());
    }
    let current = current_state(&fresh)?;
    let l = Loaded {
        table: fresh,
        current,
    };
    cache.insert(ident.clone(), l.clone());
    Ok(l)
}

/// `table` with the snapshot `snapshot` read under the table's current schema.
///
/// A schema change (rename, add, drop, widen) writes no snapshot, and iceberg-rust 0.9 builds
/// every scan with the schema its snapshot was written under: after a change and before the next
/// write, the current table names columns the scan rejects ("Column remark not found in
/// table", apache/iceberg-rust#2565 and #2905, both open). Iceberg readers (Java's
/// `SnapshotScan`, pyiceberg) read the current state, and a branch, with the current schema;
/// data files map to it by field id either way. Until the fix lands upstream, the snapshot's
/// `schema-id` is rewritten to the current one in a copy of the metadata. The copy is made
/// once per metadata file (the catalog caches it, see `load`), and only when they differ.
pub(super) fn under_current_schema(table: &Table, snapshot: i64) -> iceberg::Result<Table> {
    let metadata = table.metadata();
    let current = metadata.current_schema_id();
    match metadata.snapshot_by_id(snapshot) {
        Some(s) if s.schema_id().is_some_and(|id| id != current) => {}
        _ => return Ok(table.clone()),
    }
    let invalid = |e: serde_json::Error| {
        iceberg::Error::new(iceberg::ErrorKind::DataInvalid, "table metadata").with_source(e)
    };
    let mut json = serde_json::to_value(metadata).map_err(invalid)?;
    if let Some(snapshots) = json.get_mut("snapshots").and_then(|s| s.as_array_mut()) {
        for s in snapshots {
            if s.get("snapshot-id").and_then(|v| v.as_i64()) == Some(snapshot) {
                s["schema-id"] = current.into();
            }
        }
    }
    let rewritten: TableMetadata = serde_json::from_value(json).map_err(invalid)?;
    let mut builder = Table::builder()
        .metadata(rewritten)
        .identifier(table.identifier().clone())
        .file_io(table.file_io().clone())
        .readonly(true);
    if let Some(location) = table.metadata_location() {
        builder = builder.metadata_location(location);
    }
    builder.build()
}

/// `table`'s current state: its current snapshot under its current schema.
fn current_state(table: &Table) -> iceberg::Result<Table> {
    match table.metadata().current_snapshot_id() {
        Some(id) => under_current_schema(table, id),
        None => Ok(table.clone()),
    }
}

type StaticEntry = (Table, Arc<dyn TableProvider>);

/// Every configured Iceberg catalog and metadata-file table.
#[derive(Default)]
pub struct IcebergMounts {
    catalogs: Vec<Mounted>,
    /// zone → name → (table, provider).
    tables: BTreeMap<String, BTreeMap<String, StaticEntry>>,
}

impl std::fmt::Debug for IcebergMounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IcebergMounts")
            .field(
                "catalogs",
                &self.catalogs.iter().map(|c| &c.name).collect::<Vec<_>>(),
            )
            .field("tables", &self.tables.keys().collect::<Vec<_>>())
            .finish()
    }
}

async fn connect(
    name: &str,
    c: &IcebergCatalogConfig,
    storage: &ObjectStoreStorageFactory,
) -> Result<Arc<dyn Catalog>, IcebergError> {
    let err = |message: String| IcebergError::Catalog {
        name: name.to_string(),
        message,
    };
    let mut props: HashMap<String, String> = HashMap::new();
    for (k, v) in &c.properties {
        let value = crate::secrets::resolve_secret(&format!("iceberg.catalogs.{name}.{k}"), v)
            .map_err(err)?;
        props.insert(k.clone(), value);
    }
    // The URI may hold a password (postgres://user:pw@host/db): a ${ENV} or file: reference.
    let uri = crate::secrets::resolve_secret(&format!("iceberg.catalogs.{name}.uri"), &c.uri)
        .map_err(err)?;
    props.insert("uri".into(), uri.clone());
    if let Some(w) = &c.warehouse {
        props.insert("warehouse".into(), w.clone());
    }
    let catalog_name = c.catalog_name.clone().unwrap_or_else(|| name.to_string());
    let storage = Arc::new(storage.clone());
    match c.kind.as_str() {
        "sql" => {
            let style = if uri.starts_with("sqlite") {
                "QMark"
            } else {
                "DollarNumeric"
            };
            props.insert("sql_bind_style".into(), style.into());
            let catalog = iceberg_catalog_sql::SqlCatalogBuilder::default()
                .with_storage_factory(storage)
                .load(catalog_name, props)
                .await
                .map_err(|e| err(e.to_string()))?;
            Ok(Arc::new(catalog))
        }
        "rest" => {
            let catalog = iceberg_catalog_rest::RestCatalogBuilder::default()
                .with_storage_factory(storage)
                .load(catalog_name, props)
                .await
                .map_err(|e| err(e.to_string()))?;
            Ok(Arc::new(catalog))
        }
        other => Err(err(format!(
            "unknown type {other:?} (expected sql or rest)"
        ))),
    }
}

impl IcebergMounts {
    /// Connects every catalog and loads every metadata-file table; any failure is a startup
    /// error naming the catalog or table.
    /// `storage`: the lake's `storage:` options, under what each catalog hands out.
    pub async fn connect(
        config: &IcebergConfig,
        storage: &std::collections::HashMap<String, String>,
    ) -> Result<IcebergMounts, IcebergError> {
        let storage = ObjectStoreStorageFactory::with_options(storage);
        let mut catalogs = Vec::new();
        for (name, c) in &config.catalogs {
            catalogs.push(Mounted {
                name: name.clone(),
                catalog: connect(name, c, &storage).await?,
                listing: RwLock::new(None),
                loaded: Default::default(),
            });
        }
        let mut tables: BTreeMap<String, BTreeMap<String, StaticEntry>> = BTreeMap::new();
        for (full, location) in &config.tables {
            let err = |message: String| IcebergError::Table {
                name: full.clone(),
                location: location.clone(),
                message,
            };
            let (zone, name) = full
                .split_once('.')
                .ok_or_else(|| err("the key must be zone.table".into()))?;
            let ident = TableIdent::from_strs([zone, name]).map_err(|e| err(e.to_string()))?;
            let table = StaticTable::from_metadata_file(
                location,
                ident,
                FileIOBuilder::new(Arc::new(storage.clone())).build(),
            )
            .await
            .map_err(|e| err(e.to_string()))?
            .into_table();
            let current = current_state(&table).map_err(|e| err(e.to_string()))?;
            let provider = IcebergStaticTableProvider::try_new_from_table(current)
                .await
                .map_err(|e| err(e.to_string()))?;
            tables
                .entry(zone.to_string())
                .or_default()
                .insert(name.to_string(), (table, Arc::new(provider)));
        }
        // The first listing must work: a wrong URI or credential is a startup error naming the
        // catalog, not an empty schema list (later refresh failures keep the last list).
        for m in &catalogs {
            let l = list(m.catalog.as_ref())
                .await
                .map_err(|e| IcebergError::Catalog {
                    name: m.name.clone(),
                    message: e.to_string(),
                })?;
            *m.listing.write().expect("iceberg lock") = Some(Arc::new(l));
        }
        Ok(IcebergMounts { catalogs, tables })
    }

    /// Re-lists each catalog's namespaces and tables; a catalog that fails keeps its last list.
    /// Tables dropped from the catalog leave the cache too.
    pub async fn refresh(&self) {
        for m in &self.catalogs {
            match list(m.catalog.as_ref()).await {
                Ok(l) => {
                    debug!(catalog = %m.name, namespaces = l.len(), "iceberg catalog listed");
                    m.loaded
                        .lock()
                        .expect("iceberg cache lock")
                        .retain(|ident, _| {
                            l.get(ident.namespace())
                                .is_some_and(|t| t.iter().any(|n| n == ident.name()))
                        });
                    *m.listing.write().expect("iceberg lock") = Some(Arc::new(l));
                }
                Err(e) => {
                    warn!(catalog = %m.name, error = %e, "iceberg catalog refresh failed; keeping the last table list")
                }
            }
        }
    }

    /// `(schema, namespace, tables, mount)` of every mounted namespace (table lists shared,
    /// not copied: schema lookups run for every table a query names).
    fn namespaces(&self) -> Vec<(String, NamespaceIdent, Arc<Vec<String>>, &Mounted)> {
        let mut out = Vec::new();
        for m in &self.catalogs {
            if let Some(l) = m.listing.read().expect("iceberg lock").clone() {
                for (ns, tables) in l.iter() {
                    let schema = format!("{}_{}", m.name, ns.join("_"));
                    out.push((schema, ns.clone(), tables.clone(), m));
                }
            }
        }
        out
    }

    /// Schemas served from catalogs.
    pub fn schema_names(&self) -> Vec<String> {
        self.namespaces().into_iter().map(|(s, ..)| s).collect()
    }

    pub fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        self.namespaces()
            .into_iter()
            .find(|(s, ..)| s == name)
            .map(|(_, namespace, tables, m)| {
                Arc::new(Namespace {
                    namespace,
                    tables,
                    catalog: m.catalog.clone(),
                    loaded: m.loaded.clone(),
                }) as Arc<dyn SchemaProvider>
            })
    }

    /// Zones holding metadata-file tables.
    pub fn table_zones(&self) -> impl Iterator<Item = &String> {
        self.tables.keys()
    }

    pub fn table(&self, zone: &str, name: &str) -> Option<Arc<dyn TableProvider>> {
        self.tables.get(zone)?.get(name).map(|(_, p)| p.clone())
    }

    /// `t@…` and `t$…` of a metadata-file table, if `name` is one.
    pub async fn suffixed_table(
        &self,
        zone: &str,
        name: &str,
    ) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        let Some((base, r)) = super::travel::split(name) else {
            return Ok(None);
        };
        let Some((table, _)) = self.tables.get(zone).and_then(|t| t.get(base)) else {
            return Ok(None);
        };
        super::iceberg_meta::provider(table.clone(), &format!("{zone}.{base}"), r)
            .await
            .map(Some)
    }

    /// Whether `name` is `t@…` or `t$…` of a metadata-file table of `zone`.
    pub fn has_suffixed(&self, zone: &str, name: &str) -> bool {
        super::travel::split(name)
            .is_some_and(|(base, _)| self.tables.get(zone).is_some_and(|t| t.contains_key(base)))
    }

    pub fn table_names(&self, zone: &str) -> Vec<String> {
        self.tables
            .get(zone)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// A namespace as a schema: the tables listed at the last refresh. Each query loads the
/// table's current snapshot (one catalog call; manifests come from the cached state while the
/// metadata file is unchanged). `t@…` and `t$…` names (see `iceberg_meta`) are resolved but not
/// listed, so `\dt` and JDBC `getTables` show each table once.
struct Namespace {
    namespace: NamespaceIdent,
    tables: Arc<Vec<String>>,
    catalog: Arc<dyn Catalog>,
    loaded: Arc<Mutex<HashMap<TableIdent, Loaded>>>,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl Namespace {
    fn has(&self, name: &str) -> bool {
        self.tables.iter().any(|t| t == name)
    }

    async fn load(&self, name: &str) -> datafusion::error::Result<Loaded> {
        let ident = TableIdent::new(self.namespace.clone(), name.into());
        load(self.catalog.as_ref(), &self.loaded, &ident)
            .await
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))
    }
}

#[async_trait::async_trait]
impl SchemaProvider for Namespace {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        self.tables.to_vec()
    }

    async fn table(&self, name: &str) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        if self.has(name) {
            let provider =
                IcebergStaticTableProvider::try_new_from_table(self.load(name).await?.current)
                    .await
                    .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
            return Ok(Some(Arc::new(provider)));
        }
        match super::travel::split(name) {
            Some((base, r)) if self.has(base) => {
                let table = self.load(base).await?.table;
                let full = format!("{}.{base}", self.namespace.join("."));
                super::iceberg_meta::provider(table, &full, r)
                    .await
                    .map(Some)
            }
            _ => Ok(None),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.has(name) || super::travel::split(name).is_some_and(|(b, _)| self.has(b))
    }
}
