//! Object stores from lake URLs.
//!
//! A lake root is written as a local path (`./lake`, `/data/lake`) or a URL: `file:///data/lake`,
//! `s3://bucket/lake` (AWS or any S3-compatible endpoint), `az://container/lake`,
//! `abfss://container@account.dfs.core.windows.net/lake`, `gs://bucket/lake`. Everything
//! downstream works on a [`LakeUrl`]: an absolute URL plus the `object_store` that reaches it, so
//! catalog discovery and the Delta reader see one kind of location whatever the backend.
//!
//! Credentials and endpoints come from the environment (`AWS_*`, `AZURE_*`, `GOOGLE_*`, as the
//! object_store builders read them) overlaid with the config's `storage:` options, whose secret
//! values must be `${ENV}` or `file:PATH` references. They are registered once with delta-rs, so
//! every table open, commit and scan uses the same stores, and never logged.

pub mod iceberg_io;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("Failed to resolve lake location `{location}`: {reason}")]
    BadLocation { location: String, reason: String },
    /// A `storage:` option that is unknown or whose secret reference does not resolve.
    #[error("{0}")]
    Options(String),
    #[error("Failed to open object store for `{url}`: {source}")]
    ObjectStore {
        url: String,
        source: object_store::Error,
    },
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// An absolute lake location: a directory-like URL that always ends in `/`, with the
/// object-store options (credentials, endpoint) every table and file under it is opened with.
/// The options travel with the location, not in a process-wide setting, so two servers over
/// two lakes in one process never read each other's credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct LakeUrl {
    url: Url,
    options: Arc<HashMap<String, String>>,
}

impl std::fmt::Debug for LakeUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Option values are secrets; their keys are not.
        let mut keys: Vec<&String> = self.options.keys().collect();
        keys.sort();
        f.debug_struct("LakeUrl")
            .field("url", &self.url.as_str())
            .field("options", &keys)
            .finish()
    }
}

impl LakeUrl {
    /// Accepts a local path (relative paths are made absolute against the working directory)
    /// or a URL with a scheme.
    pub fn parse(location: &str) -> Result<LakeUrl> {
        let bad = |reason: String| StorageError::BadLocation {
            location: location.to_string(),
            reason,
        };
        if location.trim().is_empty() {
            return Err(bad("empty location".into()));
        }
        let url = match Url::parse(location) {
            // A Windows drive letter parses as a one-letter scheme; treat it as a path.
            Ok(u) if u.scheme().len() > 1 => u,
            _ => {
                let p = Path::new(location);
                let abs = if p.is_absolute() {
                    p.to_path_buf()
                } else {
                    std::env::current_dir()
                        .map_err(|e| bad(format!("no working directory: {e}")))?
                        .join(p)
                };
                let abs = normalize(&abs);
                Url::from_directory_path(&abs)
                    .map_err(|_| bad(format!("`{}` is not a usable path", abs.display())))?
            }
        };
        match url.scheme() {
            "file" => {}
            s if CLOUD_SCHEMES.contains(&s) => {
                if url.host_str().unwrap_or_default().is_empty() {
                    return Err(bad(format!("a {s}:// URL needs a bucket or container")));
                }
            }
            other => return Err(bad(format!("unknown scheme `{other}`"))),
        }
        let mut url = url;
        if url.scheme() == "az" {
            // object_store (and delta-rs through it) reads `az://x/a/b` as account x, container
            // a, path b when it splits paths, but as container x when it builds the store; the
            // fsspec form `abfs://container/path` means what users mean by az:// everywhere.
            url = Url::parse(&format!("abfs{}", &url.as_str()["az".len()..]))
                .map_err(|e| bad(e.to_string()))?;
        }
        if !url.path().ends_with('/') {
            let p = format!("{}/", url.path());
            url.set_path(&p);
        }
        if url.scheme() != "file" {
            register_with_delta();
        }
        Ok(LakeUrl {
            url,
            options: Default::default(),
        })
    }

    /// This location with the config's `storage:` options, secrets (`${ENV}`, `file:`) read now.
    pub fn with_options(self, options: &BTreeMap<String, String>) -> Result<LakeUrl> {
        check_options(options).map_err(StorageError::Options)?;
        let mut resolved = HashMap::new();
        for (k, v) in options {
            let value = crate::secrets::resolve_secret(&format!("storage.{k}"), v)
                .map_err(StorageError::Options)?;
            resolved.insert(k.to_ascii_lowercase(), value);
        }
        Ok(LakeUrl {
            options: Arc::new(resolved),
            ..self
        })
    }

    /// The resolved `storage:` options (object_store keys, lower case).
    pub fn options(&self) -> &HashMap<String, String> {
        &self.options
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The Delta table here, with this location's options.
    pub async fn open_delta(&self) -> deltalake::DeltaResult<deltalake::DeltaTable> {
        deltalake::open_table_with_storage_options(self.url.clone(), (*self.options).clone()).await
    }

    /// The Delta table here, or an uninitialized one to create (delta-rs' `try_from_url`).
    pub async fn delta_or_new(&self) -> deltalake::DeltaResult<deltalake::DeltaTable> {
        deltalake::DeltaTable::try_from_url_with_storage_options(
            self.url.clone(),
            (*self.options).clone(),
        )
        .await
    }

    /// The child location `rel` (a relative `a/b` path) as a directory URL. Each segment is
    /// a name, percent-encoded as needed (a folder called `http:` or `a%3Ab` stays a folder).
    pub fn join(&self, rel: &str) -> LakeUrl {
        let mut url = self.url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty();
            for part in rel.split('/').filter(|p| !p.is_empty()) {
                segments.push(part);
            }
            segments.push("");
        }
        LakeUrl {
            url,
            options: self.options.clone(),
        }
    }

    /// The local filesystem path, for file:// lakes.
    pub fn local_path(&self) -> Option<std::path::PathBuf> {
        self.url.to_file_path().ok()
    }

    /// The object store that holds this location and the location's path inside it.
    pub fn object_store(&self) -> Result<(Arc<dyn ObjectStore>, ObjectPath)> {
        match self.url.scheme() {
            "file" => {
                let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new());
                let path = ObjectPath::from_url_path(self.url.path()).map_err(|e| {
                    StorageError::ObjectStore {
                        url: self.url.to_string(),
                        source: e.into(),
                    }
                })?;
                Ok((store, path))
            }
            _ => store_for(&self.url, &self.options).map_err(|source| StorageError::ObjectStore {
                url: self.url.to_string(),
                source,
            }),
        }
    }
}

/// URL schemes served through object_store's cloud backends.
pub const CLOUD_SCHEMES: &[&str] = &["s3", "s3a", "az", "abfs", "abfss", "azure", "adl", "gs"];

/// Option keys whose values are secrets: written as `${ENV}` or `file:PATH`, never literally.
fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    (k.contains("secret")
        || k.contains("key")
        || k.contains("token")
        || k.contains("sas")
        || k.contains("password"))
        && !k.ends_with("key_id")
        && !k.ends_with("_path")
}

/// This layer's part of the config: the lake location and the `storage:` options (secrets
/// are not read). A [`crate::config::PartCheck`].
pub fn check_config(c: &crate::config::Config) -> Result<(), (&'static str, String)> {
    if let Some(lake) = &c.lake {
        LakeUrl::parse(lake).map_err(|e| ("lake", format!("lake: {e}")))?;
    }
    check_options(&c.storage).map_err(|e| ("storage", e))
}

/// Checks `storage:` options without reading secrets (config validation).
pub fn check_options(options: &BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in options {
        let reference = v.starts_with("${") || v.starts_with("file:");
        if is_secret_key(k) && !reference {
            return Err(format!(
                "storage.{k}: secrets are not written in the config; reference one with \
                 ${{ENV_VAR}} or file:PATH"
            ));
        }
    }
    Ok(())
}

/// Options for one store: the object_store environment variables, then `extra` (the lake's
/// `storage:` options, which delta-rs passes along per table, or an Iceberg catalog's).
fn options_for(extra: &HashMap<String, String>) -> HashMap<String, String> {
    let mut options: HashMap<String, String> = std::env::vars()
        .filter(|(k, _)| {
            k.starts_with("AWS_") || k.starts_with("AZURE_") || k.starts_with("GOOGLE_")
        })
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    options.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    options
}

/// Whether anything is stored under `prefix`, reading one listing page at most (a full listing
/// of a long Delta log costs one request per 1,000 commits).
pub async fn has_objects(
    store: &dyn ObjectStore,
    prefix: &ObjectPath,
) -> Result<bool, object_store::Error> {
    match futures::StreamExt::next(&mut store.list(Some(prefix))).await {
        Some(Ok(_)) => Ok(true),
        None | Some(Err(object_store::Error::NotFound { .. })) => Ok(false),
        Some(Err(e)) => Err(e),
    }
}

/// The store holding `url` and the path inside it.
pub fn store_for(
    url: &Url,
    extra: &HashMap<String, String>,
) -> Result<(Arc<dyn ObjectStore>, ObjectPath), object_store::Error> {
    let options = options_for(extra);
    // One client per bucket and options: every table of a lake shares its connection pool
    // (delta-rs asks for a store per table it opens).
    let mut key: Vec<(&String, &String)> = options.iter().collect();
    key.sort();
    let key = format!("{}|{key:?}", &url[..url::Position::BeforePath]);
    static STORES: std::sync::OnceLock<std::sync::Mutex<HashMap<String, Arc<dyn ObjectStore>>>> =
        std::sync::OnceLock::new();
    let stores = STORES.get_or_init(Default::default);
    let cached = stores.lock().expect("stores lock").get(&key).cloned();
    let store = match cached {
        Some(s) => s,
        None => {
            let built: Arc<dyn ObjectStore> = Arc::new(Counted {
                inner: Arc::from(build_store(url, options)?),
                scheme: url.scheme().to_string(),
            });
            let mut stores = stores.lock().expect("stores lock");
            // Bounded: catalogs that vend short-lived credentials make a new key per refresh.
            if stores.len() >= 64 && !stores.contains_key(&key) {
                stores.clear();
            }
            stores.entry(key).or_insert(built).clone()
        }
    };
    // object_store 0.12 drops the first path segment of `az://container/a/b` (it reads az URLs
    // as account/container/path) while its builder takes the host as the container; the path
    // is the URL path for every cloud scheme.
    let path = ObjectPath::from_url_path(url.path())?;
    Ok((store, path))
}

/// The option naming a PEM file of extra root certificates (a private CA for MinIO, Ceph, an
/// Azurite or proxy with its own certificate): lakegate's own key, object_store only takes
/// certificates through its builders.
pub const CA_CERTIFICATE: &str = "ca_certificate";

fn build_store(
    url: &Url,
    options: HashMap<String, String>,
) -> Result<Box<dyn ObjectStore>, object_store::Error> {
    use object_store::{ClientConfigKey, ClientOptions, ObjectStoreScheme};
    let Some(ca) = options.get(CA_CERTIFICATE) else {
        return Ok(object_store::parse_url_opts(url, options)?.0);
    };
    let generic = |e: String| object_store::Error::Generic {
        store: "tls",
        source: e.into(),
    };
    let pem = std::fs::read(ca).map_err(|e| generic(format!("{CA_CERTIFICATE} {ca}: {e}")))?;
    let mut client = ClientOptions::new();
    for cert in object_store::Certificate::from_pem_bundle(&pem)? {
        client = client.with_root_certificate(cert);
    }
    for (k, v) in &options {
        if let Ok(key) = k.parse::<ClientConfigKey>() {
            client = client.with_config(key, v);
        }
    }
    // Builder options first: `with_client_options` replaces the client part wholesale.
    fn apply<K: std::str::FromStr, B>(
        mut b: B,
        options: &HashMap<String, String>,
        with: impl Fn(B, K, &str) -> B,
    ) -> B {
        for (k, v) in options {
            if let Ok(key) = k.parse::<K>() {
                b = with(b, key, v);
            }
        }
        b
    }
    let (scheme, _) = ObjectStoreScheme::parse(url)?;
    Ok(match scheme {
        ObjectStoreScheme::AmazonS3 => {
            let b = object_store::aws::AmazonS3Builder::new().with_url(url.as_str());
            let b = apply(
                b,
                &options,
                |b, k: object_store::aws::AmazonS3ConfigKey, v| b.with_config(k, v),
            );
            Box::new(b.with_client_options(client).build()?)
        }
        ObjectStoreScheme::MicrosoftAzure => {
            let b = object_store::azure::MicrosoftAzureBuilder::new().with_url(url.as_str());
            let b = apply(
                b,
                &options,
                |b, k: object_store::azure::AzureConfigKey, v| b.with_config(k, v),
            );
            Box::new(b.with_client_options(client).build()?)
        }
        ObjectStoreScheme::GoogleCloudStorage => {
            let b = object_store::gcp::GoogleCloudStorageBuilder::new().with_url(url.as_str());
            let b = apply(
                b,
                &options,
                |b, k: object_store::gcp::GoogleConfigKey, v| b.with_config(k, v),
            );
            Box::new(b.with_client_options(client).build()?)
        }
        _ => object_store::parse_url_opts(url, options)?.0,
    })
}

/// A cloud store that counts its requests in `lakegate_object_store_requests_total`.
#[derive(Debug)]
struct Counted {
    inner: Arc<dyn ObjectStore>,
    scheme: String,
}

impl Counted {
    fn count(&self, op: &str, n: u64) {
        crate::metrics::metrics()
            .object_store_requests
            .get_or_create(&crate::metrics::StoreOp {
                scheme: self.scheme.clone(),
                op: op.to_string(),
            })
            .inc_by(n);
        let _ = QUERY_REQUESTS.try_with(|q| q.add(op, n));
    }
}

/// The object-store requests one query made, by operation (EXPLAIN ANALYZE reports them).
#[derive(Debug, Default)]
pub struct RequestCounts {
    counts: std::sync::Mutex<BTreeMap<&'static str, u64>>,
}

impl RequestCounts {
    fn add(&self, op: &str, n: u64) {
        let op = match op {
            "get" => "get",
            "head" => "head",
            "list" => "list",
            "put" => "put",
            "delete" => "delete",
            _ => "copy",
        };
        *self
            .counts
            .lock()
            .expect("counts lock")
            .entry(op)
            .or_default() += n;
    }

    pub fn total(&self) -> u64 {
        self.counts.lock().expect("counts lock").values().sum()
    }

    /// `get=12 list=1`, or `none`.
    pub fn summary(&self) -> String {
        let counts = self.counts.lock().expect("counts lock");
        if counts.is_empty() {
            return "none".into();
        }
        counts
            .iter()
            .map(|(op, n)| format!("{op}={n}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

tokio::task_local! {
    static QUERY_REQUESTS: Arc<RequestCounts>;
}

/// Runs `f`, counting the cloud object-store requests made by it and by every task DataFusion
/// spawns for it (see [`install_request_tracing`]).
pub async fn counting_requests<F: std::future::Future>(f: F) -> (F::Output, Arc<RequestCounts>) {
    let counts = Arc::new(RequestCounts::default());
    let out = counting_requests_into(counts.clone(), f).await;
    (out, counts)
}

/// Runs `f`, adding its requests to `counts`.
pub async fn counting_requests_into<F: std::future::Future>(
    counts: Arc<RequestCounts>,
    f: F,
) -> F::Output {
    QUERY_REQUESTS.scope(counts, f).await
}

/// DataFusion runs scans in tasks it spawns; this hook carries the current query's request
/// counter into them (task-locals do not cross `tokio::spawn` on their own).
struct CarryCounts;

impl datafusion::common::runtime::JoinSetTracer for CarryCounts {
    fn trace_future(
        &self,
        fut: futures::future::BoxFuture<'static, Box<dyn std::any::Any + Send>>,
    ) -> futures::future::BoxFuture<'static, Box<dyn std::any::Any + Send>> {
        match QUERY_REQUESTS.try_with(Arc::clone) {
            Ok(counts) => Box::pin(QUERY_REQUESTS.scope(counts, fut)),
            Err(_) => fut,
        }
    }

    fn trace_block(
        &self,
        f: Box<dyn FnOnce() -> Box<dyn std::any::Any + Send> + Send>,
    ) -> Box<dyn FnOnce() -> Box<dyn std::any::Any + Send> + Send> {
        match QUERY_REQUESTS.try_with(Arc::clone) {
            Ok(counts) => Box::new(move || QUERY_REQUESTS.sync_scope(counts, f)),
            Err(_) => f,
        }
    }
}

/// Installs [`CarryCounts`] as DataFusion's spawn hook (once per process).
pub fn install_request_tracing() {
    static TRACER: CarryCounts = CarryCounts;
    let _ = datafusion::common::runtime::set_join_set_tracer(&TRACER);
}

impl std::fmt::Display for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Counted({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for Counted {
    async fn put_opts(
        &self,
        location: &ObjectPath,
        payload: object_store::PutPayload,
        opts: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        self.count("put", 1);
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjectPath,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.count("put", 1);
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &ObjectPath,
        options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        self.count(if options.head { "head" } else { "get" }, 1);
        self.inner.get_opts(location, options).await
    }

    async fn get_range(
        &self,
        location: &ObjectPath,
        range: std::ops::Range<u64>,
    ) -> object_store::Result<bytes::Bytes> {
        self.count("get", 1);
        self.inner.get_range(location, range).await
    }

    async fn get_ranges(
        &self,
        location: &ObjectPath,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        // Coalesced by the store; counted as one request per range asked for (an upper bound).
        self.count("get", ranges.len() as u64);
        self.inner.get_ranges(location, ranges).await
    }

    async fn head(&self, location: &ObjectPath) -> object_store::Result<object_store::ObjectMeta> {
        self.count("head", 1);
        self.inner.head(location).await
    }

    async fn delete(&self, location: &ObjectPath) -> object_store::Result<()> {
        self.count("delete", 1);
        self.inner.delete(location).await
    }

    fn list(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.count("list", 1);
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&ObjectPath>,
        offset: &ObjectPath,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.count("list", 1);
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> object_store::Result<object_store::ListResult> {
        self.count("list", 1);
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy(&self, from: &ObjectPath, to: &ObjectPath) -> object_store::Result<()> {
        self.count("copy", 1);
        self.inner.copy(from, to).await
    }

    async fn copy_if_not_exists(
        &self,
        from: &ObjectPath,
        to: &ObjectPath,
    ) -> object_store::Result<()> {
        self.count("copy", 1);
        self.inner.copy_if_not_exists(from, to).await
    }

    async fn rename_if_not_exists(
        &self,
        from: &ObjectPath,
        to: &ObjectPath,
    ) -> object_store::Result<()> {
        self.count("copy", 1);
        self.inner.rename_if_not_exists(from, to).await
    }
}

struct CloudStores;

impl deltalake::logstore::ObjectStoreFactory for CloudStores {
    fn parse_url_opts(
        &self,
        url: &Url,
        config: &deltalake::logstore::StorageConfig,
    ) -> deltalake::DeltaResult<(deltalake::logstore::ObjectStoreRef, ObjectPath)> {
        Ok(store_for(url, &config.raw)?)
    }
}

struct CloudLogStores;

impl deltalake::logstore::LogStoreFactory for CloudLogStores {
    fn with_options(
        &self,
        prefixed_store: deltalake::logstore::ObjectStoreRef,
        root_store: deltalake::logstore::ObjectStoreRef,
        location: &Url,
        options: &deltalake::logstore::StorageConfig,
    ) -> deltalake::DeltaResult<Arc<dyn deltalake::logstore::LogStore>> {
        // Commits are conditional puts (`PutMode::Create`), which S3 (If-None-Match), Azure and
        // GCS all honour: no external lock table is needed.
        Ok(deltalake::logstore::default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

/// delta-rs finds stores by URL scheme in a process-wide registry; lakegate's factories there
/// hold no state (each table's options come with it), so registering once is enough.
fn register_with_delta() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let stores = deltalake::logstore::object_store_factories();
        let logs = deltalake::logstore::logstore_factories();
        for scheme in CLOUD_SCHEMES {
            let url = Url::parse(&format!("{scheme}://")).expect("scheme URL");
            stores.insert(url.clone(), Arc::new(CloudStores));
            logs.insert(url, Arc::new(CloudLogStores));
        }
    });
}

impl std::fmt::Display for LakeUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.local_path() {
            Some(p) => write!(f, "{}", p.display()),
            None => write!(f, "{}", self.url),
        }
    }
}

/// Removes `.` and `..` components without touching the filesystem (the lake may not exist yet).
fn normalize(p: &Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_become_absolute_file_urls() {
        let u = LakeUrl::parse("./some/../lake").unwrap();
        assert_eq!(u.url().scheme(), "file");
        assert!(u.url().path().ends_with("/lake/"), "{}", u.url());
        assert!(!u.url().path().contains(".."));
    }

    #[test]
    fn join_makes_directory_urls() {
        let u = LakeUrl::parse("file:///data/lake").unwrap();
        assert_eq!(
            u.join("silver/orders").url().as_str(),
            "file:///data/lake/silver/orders/"
        );
    }

    #[test]
    fn cloud_urls_parse_and_bad_ones_are_refused_clearly() {
        let u = LakeUrl::parse("s3://bucket/lake").unwrap();
        assert_eq!(u.url().as_str(), "s3://bucket/lake/");
        assert_eq!(u.join("gold/t").url().as_str(), "s3://bucket/lake/gold/t/");
        // az://container/path means the fsspec abfs form everywhere downstream.
        let u = LakeUrl::parse("az://lake/warehouse").unwrap();
        assert_eq!(u.url().as_str(), "abfs://lake/warehouse/");
        let e = LakeUrl::parse("s3:///lake").unwrap_err().to_string();
        assert!(e.contains("needs a bucket or container"), "{e}");
        let e = LakeUrl::parse("ftp://host/lake").unwrap_err().to_string();
        assert!(e.contains("unknown scheme `ftp`"), "{e}");
        assert!(is_secret_key("aws_secret_access_key") && is_secret_key("azure_storage_sas_key"));
        assert!(!is_secret_key("aws_access_key_id") && !is_secret_key("aws_endpoint"));
    }
}
