//! Iceberg tables next to the Delta lake.
//!
//! - Catalogs (`iceberg.catalogs:`): a SQL catalog (sqlite or PostgreSQL, as pyiceberg's
//!   SqlCatalog and Java's JdbcCatalog write it) or a REST catalog. Each namespace `ns` of catalog
//!   `c` is served as the schema `c_ns` (nested namespaces joined with `_`). The table list is
//!   re-read at every lake refresh; every scan reads the table's current snapshot.
//! - Single tables (`iceberg.tables:`): `zone.name: /path/to/metadata.json`, served in that zone.
//!
//! Warehouses on local disk (file://) are read; cloud warehouses need a storage factory that
//! iceberg 0.9 keeps in a separate crate and are refused with a clear error.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use iceberg::io::{FileIO, LocalFsStorageFactory};
use iceberg::table::StaticTable;
use iceberg::{Catalog, CatalogBuilder, TableIdent};
use iceberg_datafusion::{IcebergCatalogProvider, IcebergStaticTableProvider};
use tracing::{debug, warn};

use crate::config::{IcebergCatalogConfig, IcebergConfig};

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

/// Every configured Iceberg catalog and metadata-file table.
#[derive(Default)]
pub struct IcebergMounts {
    catalogs: Vec<Mounted>,
    /// zone → name → provider.
    tables: BTreeMap<String, BTreeMap<String, Arc<dyn TableProvider>>>,
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

fn local_only(name: &str, location: &str) -> Result<(), IcebergError> {
    let scheme = location.split_once("://").map(|(s, _)| s).unwrap_or("file");
    if scheme == "file" {
        Ok(())
    } else {
        Err(IcebergError::Catalog {
            name: name.to_string(),
            message: format!(
                "warehouse {location}: only local (file://) Iceberg warehouses are read in this build"
            ),
        })
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
        local_only(name, w)?;
        props.insert("warehouse".into(), w.clone());
    }
    let catalog_name = c.catalog_name.clone().unwrap_or_else(|| name.to_string());
    let storage = Arc::new(LocalFsStorageFactory);
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
        let mut tables: BTreeMap<String, BTreeMap<String, Arc<dyn TableProvider>>> =
            BTreeMap::new();
        for (full, location) in &config.tables {
            let err = |message: String| IcebergError::Table {
                name: full.clone(),
                location: location.clone(),
                message,
            };
            let (zone, name) = full
                .split_once('.')
                .ok_or_else(|| err("the key must be zone.table".into()))?;
            local_only(full, location)?;
            let ident = TableIdent::from_strs([zone, name]).map_err(|e| err(e.to_string()))?;
            let table = StaticTable::from_metadata_file(location, ident, FileIO::new_with_fs())
                .await
                .map_err(|e| err(e.to_string()))?
                .into_table();
            let provider = IcebergStaticTableProvider::try_new_from_table(table)
                .await
                .map_err(|e| err(e.to_string()))?;
            tables
                .entry(zone.to_string())
                .or_default()
                .insert(name.to_string(), Arc::new(provider));
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
        self.tables.get(zone)?.get(name).cloned()
    }

    pub fn table_names(&self, zone: &str) -> Vec<String> {
        self.tables
            .get(zone)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// A namespace as a schema. iceberg-datafusion lists `t$snapshots` and `t$manifests` next to
/// each table; like Delta's `t$history`, they are resolvable but not listed, so `\dt` and
/// JDBC `getTables` show each table once.
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
    /// `t@v<snapshot id>` / `FOR VERSION AS OF <snapshot id>`, and `t@<time>` / `FOR TIMESTAMP
    /// AS OF`: the snapshot that was current then (from the table's snapshot log).
    async fn travel(
        &self,
        base: &str,
        r: super::travel::TableRef,
    ) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        use super::travel::{TableRef, TravelError};
        let fail =
            |m: String| datafusion::error::DataFusionError::External(Box::new(TravelError(m)));
        let full = format!("{}.{base}", self.namespace);
        let ident = TableIdent::new(
            iceberg::NamespaceIdent::new(self.namespace.clone()),
            base.into(),
        );
        let Ok(table) = self.catalog.load_table(&ident).await else {
            return Ok(None);
        };
        let snapshot = match r {
            TableRef::Version(id) => {
                if table.metadata().snapshot_by_id(id).is_none() {
                    return Err(fail(format!("iceberg table {full} has no snapshot {id}")));
                }
                id
            }
            TableRef::Timestamp(ts) => table
                .metadata()
                .history()
                .iter()
                .rev()
                .find(|l| l.timestamp_ms <= ts.timestamp_millis())
                .map(|l| l.snapshot_id)
                .ok_or_else(|| {
                    fail(format!(
                        "iceberg table {full} has no snapshot at {}",
                        ts.format("%Y-%m-%d %H:%M:%S%.3f UTC")
                    ))
                })?,
            _ => return Ok(None),
        };
        let provider = IcebergStaticTableProvider::try_new_from_table_snapshot(table, snapshot)
            .await
            .map_err(|e| fail(format!("{full} at snapshot {snapshot}: {e}")))?;
        Ok(Some(Arc::new(provider)))
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
        let table = self.inner.table(name).await?;
        if table.is_none()
            && let Some((base, r)) = super::travel::split(name)
        {
            return self.travel(base, r).await;
        }
        Ok(match table {
            // iceberg-datafusion 0.9's metadata tables ignore the scan's projection, which
            // breaks `count(*)` and column lists ("Physical input schema should be the same").
            Some(t) if name.contains('$') => Some(Arc::new(Projected(t))),
            other => other,
        })
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
            || super::travel::split(name).is_some_and(|(b, _)| self.inner.table_exist(b))
    }
}

/// Scans the whole table and projects on top, for providers that ignore projections.
#[derive(Debug)]
struct Projected(Arc<dyn TableProvider>);

#[async_trait::async_trait]
impl TableProvider for Projected {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn schema(&self) -> datafusion::arrow::datatypes::SchemaRef {
        self.0.schema()
    }

    fn table_type(&self) -> datafusion::datasource::TableType {
        self.0.table_type()
    }

    async fn scan(
        &self,
        state: &dyn datafusion::catalog::Session,
        projection: Option<&Vec<usize>>,
        _filters: &[datafusion::prelude::Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        use datafusion::physical_expr::expressions::Column;
        let plan = self.0.scan(state, None, &[], None).await?;
        let Some(projection) = projection else {
            return Ok(plan);
        };
        let schema = plan.schema();
        let exprs = projection
            .iter()
            .map(|&i| {
                let name = schema.field(i).name().clone();
                (
                    Arc::new(Column::new(&name, i))
                        as Arc<dyn datafusion::physical_expr::PhysicalExpr>,
                    name,
                )
            })
            .collect::<Vec<_>>();
        Ok(Arc::new(
            datafusion::physical_plan::projection::ProjectionExec::try_new(exprs, plan)?,
        ))
    }
}
