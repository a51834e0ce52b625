//! Iceberg's file IO over lakegate's object stores, so Iceberg warehouses on S3, Azure and GCS
//! read with the same `storage:` options, credentials and request counting as the Delta lake.
//! iceberg 0.9 keeps its own cloud IO in iceberg-storage-opendal (a second HTTP stack and a
//! second credential surface); this adaptor is about 150 lines over object_store instead.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use iceberg::io::{
    FileMetadata, FileRead, FileWrite, InputFile, OutputFile, Storage, StorageConfig,
    StorageFactory,
};
use iceberg::{Error, ErrorKind, Result};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};
use serde::{Deserialize, Serialize};
use url::Url;

/// Builds [`ObjectStoreStorage`] for iceberg's `FileIO`, with the lake's `storage:` options
/// under the catalog's own properties.
#[derive(Default, Clone, Serialize, Deserialize)]
pub struct ObjectStoreStorageFactory {
    /// Secrets: never serialized (a deserialized factory has the environment's options only).
    #[serde(skip)]
    base: Arc<HashMap<String, String>>,
}

impl ObjectStoreStorageFactory {
    pub fn with_options(base: &HashMap<String, String>) -> ObjectStoreStorageFactory {
        ObjectStoreStorageFactory {
            base: Arc::new(base.clone()),
        }
    }
}

/// Option values are secrets (keys, tokens): Debug shows their names only.
fn option_names(options: &HashMap<String, String>) -> Vec<&str> {
    let mut keys: Vec<&str> = options.keys().map(String::as_str).collect();
    keys.sort();
    keys
}

impl std::fmt::Debug for ObjectStoreStorageFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStoreStorageFactory")
            .field("options", &option_names(&self.base))
            .finish()
    }
}

#[typetag::serde]
impl StorageFactory for ObjectStoreStorageFactory {
    fn build(&self, config: &StorageConfig) -> Result<Arc<dyn Storage>> {
        let mut options = (*self.base).clone();
        options.extend(iceberg_options(config.props()));
        Ok(Arc::new(ObjectStoreStorage {
            inner: Arc::new(Inner {
                options,
                stores: Default::default(),
            }),
        }))
    }
}

/// Iceberg's S3/ADLS/GCS property names (as catalogs hand them out) → object_store's keys.
fn iceberg_options(props: &HashMap<String, String>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in props {
        let key = match k.as_str() {
            "s3.endpoint" => "aws_endpoint",
            "s3.access-key-id" => "aws_access_key_id",
            "s3.secret-access-key" => "aws_secret_access_key",
            "s3.session-token" => "aws_session_token",
            "s3.region" | "client.region" => "aws_region",
            "s3.path-style-access" => {
                let virtual_hosted = if v == "true" { "false" } else { "true" };
                out.insert(
                    "aws_virtual_hosted_style_request".into(),
                    virtual_hosted.into(),
                );
                continue;
            }
            "adls.account-name" => "azure_storage_account_name",
            "adls.account-key" => "azure_storage_account_key",
            "adls.sas-token" => "azure_storage_sas_token",
            "gcs.oauth2.token" => "google_bearer_token",
            _ => continue,
        };
        out.insert(key.into(), v.clone());
    }
    out
}

#[derive(Default)]
struct Inner {
    /// Object-store options: lakegate.yaml's `storage:`, then the catalog's Iceberg properties
    /// (`storage::store_for` adds the environment's and caches one client per bucket and
    /// options).
    options: HashMap<String, String>,
    /// `scheme://authority/` (user part included: abfss names its container there) → store,
    /// so reading a file does not rebuild the option set `store_for` keys on.
    stores: std::sync::Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("options", &option_names(&self.options))
            .finish_non_exhaustive()
    }
}

/// Iceberg `Storage` on object_store. Not meant to be serialized (iceberg requires the
/// traits); a deserialized one has only the environment's options.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct ObjectStoreStorage {
    #[serde(skip)]
    inner: Arc<Inner>,
}

fn io_err(path: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Unexpected, format!("{path}: {e}"))
}

impl ObjectStoreStorage {
    /// The store and key of an Iceberg location. Iceberg stores locations as literal keys
    /// (`ts=10%3A00` is the object's name, not an escape), so the key is taken from the string
    /// as it is, never URL-decoded.
    fn resolve(&self, location: &str) -> Result<(Arc<dyn ObjectStore>, ObjectPath)> {
        let local = location
            .strip_prefix("file://")
            .or_else(|| location.strip_prefix("file:"))
            .or_else(|| location.starts_with('/').then_some(location));
        if let Some(rest) = local {
            // As iceberg's LocalFsStorage reads it: `file:///p`, `file://p` and `file:/p` are `/p`.
            let fs = if rest.starts_with('/') {
                rest.to_string()
            } else {
                format!("/{rest}")
            };
            let path = ObjectPath::from_absolute_path(&fs).map_err(|e| io_err(location, e))?;
            static LOCAL: std::sync::OnceLock<Arc<dyn ObjectStore>> = std::sync::OnceLock::new();
            let store = LOCAL
                .get_or_init(|| Arc::new(object_store::local::LocalFileSystem::new()))
                .clone();
            return Ok((store, path));
        }
        let (scheme, rest) = location
            .split_once("://")
            .ok_or_else(|| io_err(location, "not an absolute path or URL"))?;
        let (authority, key) = rest.split_once('/').unwrap_or((rest, ""));
        let path = ObjectPath::parse(key).map_err(|e| io_err(location, e))?;
        let bucket = format!("{scheme}://{authority}/");
        let cached = self
            .inner
            .stores
            .lock()
            .expect("stores lock")
            .get(&bucket)
            .cloned();
        let store = match cached {
            Some(s) => s,
            None => {
                let url = Url::parse(&bucket).map_err(|e| io_err(location, e))?;
                let (store, _) =
                    super::store_for(&url, &self.inner.options).map_err(|e| io_err(location, e))?;
                self.inner
                    .stores
                    .lock()
                    .expect("stores lock")
                    .insert(bucket, store.clone());
                store
            }
        };
        Ok((store, path))
    }
}

#[async_trait::async_trait]
#[typetag::serde]
impl Storage for ObjectStoreStorage {
    async fn exists(&self, path: &str) -> Result<bool> {
        let (store, p) = self.resolve(path)?;
        match store.head(&p).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(io_err(path, e)),
        }
    }

    async fn metadata(&self, path: &str) -> Result<FileMetadata> {
        let (store, p) = self.resolve(path)?;
        let meta = store.head(&p).await.map_err(|e| io_err(path, e))?;
        Ok(FileMetadata { size: meta.size })
    }

    async fn read(&self, path: &str) -> Result<Bytes> {
        let (store, p) = self.resolve(path)?;
        let get = store.get(&p).await.map_err(|e| io_err(path, e))?;
        get.bytes().await.map_err(|e| io_err(path, e))
    }

    async fn reader(&self, path: &str) -> Result<Box<dyn FileRead>> {
        let (store, p) = self.resolve(path)?;
        Ok(Box::new(Reader {
            store,
            path: p,
            location: path.to_string(),
        }))
    }

    async fn write(&self, path: &str, bs: Bytes) -> Result<()> {
        let (store, p) = self.resolve(path)?;
        store
            .put(&p, PutPayload::from_bytes(bs))
            .await
            .map_err(|e| io_err(path, e))?;
        Ok(())
    }

    async fn writer(&self, path: &str) -> Result<Box<dyn FileWrite>> {
        let (store, p) = self.resolve(path)?;
        Ok(Box::new(Writer {
            store,
            path: p,
            location: path.to_string(),
            buf: Vec::new(),
            closed: false,
        }))
    }

    async fn delete(&self, path: &str) -> Result<()> {
        let (store, p) = self.resolve(path)?;
        match store.delete(&p).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(io_err(path, e)),
        }
    }

    async fn delete_prefix(&self, path: &str) -> Result<()> {
        let (store, p) = self.resolve(path)?;
        let files: Vec<_> = store
            .list(Some(&p))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(|e| io_err(path, e))?;
        for f in files {
            store.delete(&f).await.map_err(|e| io_err(path, e))?;
        }
        Ok(())
    }

    fn new_input(&self, path: &str) -> Result<InputFile> {
        Ok(InputFile::new(Arc::new(self.clone()), path.to_string()))
    }

    fn new_output(&self, path: &str) -> Result<OutputFile> {
        Ok(OutputFile::new(Arc::new(self.clone()), path.to_string()))
    }
}

struct Reader {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    location: String,
}

#[async_trait::async_trait]
impl FileRead for Reader {
    async fn read(&self, range: Range<u64>) -> Result<Bytes> {
        self.store
            .get_range(&self.path, range)
            .await
            .map_err(|e| io_err(&self.location, e))
    }
}

/// Buffers and puts on close: lakegate writes only small metadata files through iceberg.
struct Writer {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    location: String,
    buf: Vec<u8>,
    closed: bool,
}

#[async_trait::async_trait]
impl FileWrite for Writer {
    async fn write(&mut self, bs: Bytes) -> Result<()> {
        self.buf.extend_from_slice(&bs);
        Ok(())
    }

    async fn close(&mut self) -> Result<()> {
        if self.closed {
            return Err(io_err(&self.location, "closed twice"));
        }
        self.closed = true;
        let data = Bytes::from(std::mem::take(&mut self.buf));
        self.store
            .put(&self.path, PutPayload::from_bytes(data))
            .await
            .map_err(|e| io_err(&self.location, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_names_options_without_their_secrets() {
        let base = HashMap::from([(
            "aws_secret_access_key".to_string(),
            "from-lakegate-yaml".to_string(),
        )]);
        let factory = ObjectStoreStorageFactory::with_options(&base);
        let storage = factory
            .build(&StorageConfig::from_props(HashMap::from([(
                "s3.session-token".to_string(),
                "from-the-catalog".to_string(),
            )])))
            .unwrap();
        let shown = format!("{factory:?} {storage:?}");
        assert!(shown.contains("aws_secret_access_key"), "{shown}");
        assert!(shown.contains("aws_session_token"), "{shown}");
        assert!(!shown.contains("from-"), "{shown}");
    }

    #[tokio::test]
    async fn reads_writes_and_lists_local_files() {
        let dir = tempfile::TempDir::new().unwrap();
        let io =
            iceberg::io::FileIOBuilder::new(Arc::new(ObjectStoreStorageFactory::default())).build();
        let file = format!("file://{}/a/b.bin", dir.path().display());
        let out = io.new_output(&file).unwrap();
        out.write(Bytes::from_static(b"0123456789")).await.unwrap();
        assert!(io.exists(&file).await.unwrap());
        let input = io.new_input(&file).unwrap();
        assert_eq!(input.metadata().await.unwrap().size, 10);
        assert_eq!(
            input.reader().await.unwrap().read(2..5).await.unwrap(),
            "234"
        );
        // Names are literal: `%3A` is part of the file name, as Iceberg writers escape values.
        let odd = format!("file://{}/ts=10%3A00/x.bin", dir.path().display());
        io.new_output(&odd)
            .unwrap()
            .write(Bytes::from_static(b"x"))
            .await
            .unwrap();
        assert!(dir.path().join("ts=10%3A00/x.bin").is_file());
        assert_eq!(io.new_input(&odd).unwrap().read().await.unwrap(), "x");
        let bare = format!("{}/a/b.bin", dir.path().display());
        assert_eq!(
            io.new_input(&bare).unwrap().read().await.unwrap(),
            "0123456789"
        );
        io.delete_prefix(format!("file://{}/a", dir.path().display()))
            .await
            .unwrap();
        assert!(!io.exists(&file).await.unwrap());
    }

    #[test]
    fn iceberg_property_names_map_to_object_store_keys() {
        let props: HashMap<String, String> = [
            ("s3.endpoint", "http://127.0.0.1:9000"),
            ("s3.path-style-access", "true"),
            ("s3.secret-access-key", "x"),
            ("unrelated", "y"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let o = iceberg_options(&props);
        assert_eq!(o["aws_endpoint"], "http://127.0.0.1:9000");
        assert_eq!(o["aws_virtual_hosted_style_request"], "false");
        assert_eq!(o["aws_secret_access_key"], "x");
        assert_eq!(o.len(), 3);
    }
}
