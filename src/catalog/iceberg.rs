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
use std::sync::{Arc, RwLock};

use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use iceberg::io::FileIOBuilder;
use iceberg::table::{StaticTable, Table};
use iceberg::{Catalog, CatalogBuilder, TableIdent};
use iceberg_datafusion::{IcebergCatalogProvider, IcebergStaticTableProvider};
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
    /// The namespaces and tables as of the last refresh.
    provider: RwLock<Option<Arc<IcebergCatalogProvider>>>,
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

async fn connect(name: &str, c: &IcebergCatalogConfig) -> Result<Arc<dyn Catalog>, IcebergError> {
    let err = |message: String| IcebergError::Catalog {
        name: name.to_string(),
        message,
    };
    let mut props: HashMap<String, String> = HashMap::new();
    for (k, v) in &c.properties {
        let value = crate::config::resolve_secret(&format!("iceberg.catalogs.{name}.{k}"), v)
            .map_err(err)?;
        props.insert(k.clone(), value);
    }
    props.insert("uri".into(), c.uri.clone());
    if let Some(w) = &c.warehouse {
        props.insert("warehouse".into(), w.clone());
    }
    let catalog_name = c.catalog_name.clone().unwrap_or_else(|| name.to_string());
    let storage = Arc::new(ObjectStoreStorageFactory);
    match c.kind.as_str() {
        "sql" => {
            let style = if c.uri.starts_with("sqlite") {
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
    pub async fn connect(config: &IcebergConfig) -> Result<IcebergMounts, IcebergError> {
        let mut catalogs = Vec::new();
        for (name, c) in &config.catalogs {
            catalogs.push(Mounted {
                name: name.clone(),
                catalog: connect(name, c).await?,
                provider: RwLock::new(None),
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
                FileIOBuilder::new(Arc::new(ObjectStoreStorageFactory)).build(),
            )
            .await
            .map_err(|e| err(e.to_string()))?
            .into_table();
            let provider = IcebergStaticTableProvider::try_new_from_table(table.clone())
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
            let p = IcebergCatalogProvider::try_new(m.catalog.clone())
                .await
                .map_err(|e| IcebergError::Catalog {
                    name: m.name.clone(),
                    message: e.to_string(),
                })?;
            *m.provider.write().expect("iceberg lock") = Some(Arc::new(p));
        }
        Ok(IcebergMounts { catalogs, tables })
    }

    /// Re-reads each catalog's namespaces and tables; a catalog that fails keeps its last list.
    pub async fn refresh(&self) {
        for m in &self.catalogs {
            match IcebergCatalogProvider::try_new(m.catalog.clone()).await {
                Ok(p) => {
                    debug!(catalog = %m.name, schemas = ?p.schema_names(), "iceberg catalog read");
                    *m.provider.write().expect("iceberg lock") = Some(Arc::new(p));
                }
                Err(e) => {
                    warn!(catalog = %m.name, error = %e, "iceberg catalog refresh failed; keeping the last table list")
                }
            }
        }
    }

    /// `(schema, provider, catalog, namespace)` of every mounted namespace.
    #[allow(clippy::type_complexity)]
    fn namespaces(
        &self,
    ) -> Vec<(
        String,
        Arc<IcebergCatalogProvider>,
        Arc<dyn Catalog>,
        String,
    )> {
        let mut out = Vec::new();
        for m in &self.catalogs {
            if let Some(p) = m.provider.read().expect("iceberg lock").clone() {
                for ns in p.schema_names() {
                    let schema = format!("{}_{}", m.name, ns.replace('.', "_"));
                    out.push((schema, p.clone(), m.catalog.clone(), ns));
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
            .and_then(|(_, p, catalog, ns)| {
                let inner = p.schema(&ns)?;
                Some(Arc::new(Namespace {
                    inner,
                    catalog,
                    namespace: ns,
                }) as Arc<dyn SchemaProvider>)
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

/// A namespace as a schema. iceberg-datafusion lists `t$snapshots` and `t$manifests` next to
/// each table; like Delta's `t$history`, lakegate resolves them (and the other suffixed names,
/// see `iceberg_meta`) but does not list them, so `\dt` and JDBC `getTables` show each table
/// once.
struct Namespace {
    inner: Arc<dyn SchemaProvider>,
    catalog: Arc<dyn Catalog>,
    namespace: String,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl Namespace {
    /// `t@…` (time travel, branches and tags) and `t$…` (metadata tables) of a table here.
    async fn suffixed(
        &self,
        base: &str,
        r: super::travel::TableRef,
    ) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        let ident = TableIdent::new(
            iceberg::NamespaceIdent::new(self.namespace.clone()),
            base.into(),
        );
        let Ok(table) = self.catalog.load_table(&ident).await else {
            return Ok(None);
        };
        let full = format!("{}.{base}", self.namespace);
        super::iceberg_meta::provider(table, &full, r)
            .await
            .map(Some)
    }
}

#[async_trait::async_trait]
impl SchemaProvider for Namespace {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        self.inner
            .table_names()
            .into_iter()
            .filter(|t| !t.contains('$'))
            .collect()
    }

    async fn table(&self, name: &str) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        // Suffixed names first: iceberg-datafusion's own `t$snapshots` ignores projections.
        if let Some((base, r)) = super::travel::split(name)
            && self.inner.table_exist(base)
        {
            return self.suffixed(base, r).await;
        }
        self.inner.table(name).await
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
            || super::travel::split(name).is_some_and(|(b, _)| self.inner.table_exist(b))
    }
}
