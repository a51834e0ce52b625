//! A folder of the lake, local or in an object store: what the ingestion loop lists, reads and
//! writes through, so landing zones, Delta tables, state files and the lease live wherever the
//! lake does.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, PutPayload};

use super::{IngestError, Result};
use crate::storage::LakeUrl;

#[derive(Clone)]
pub struct LakePath {
    url: LakeUrl,
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
}

impl std::fmt::Debug for LakePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.url)
    }
}

impl std::fmt::Display for LakePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.url)
    }
}

fn store_err(at: &LakePath, e: object_store::Error) -> IngestError {
    IngestError::Store {
        at: at.to_string(),
        source: e,
    }
}

impl LakePath {
    /// The lake root at `url` (one store, shared by every folder joined from it).
    pub fn open(url: &LakeUrl) -> Result<LakePath> {
        let (store, path) = url.object_store()?;
        Ok(LakePath {
            url: url.clone(),
            store,
            path,
        })
    }

    /// A local lake root.
    pub fn local(dir: &Path) -> Result<LakePath> {
        let abs = std::path::absolute(dir).map_err(|e| IngestError::Io {
            path: dir.to_path_buf(),
            source: e,
        })?;
        let url = LakeUrl::parse(&abs.to_string_lossy())?;
        LakePath::open(&url)
    }

    /// A sub-folder (`rel` may hold several segments: `_lakegate/gold`).
    pub fn join(&self, rel: &str) -> LakePath {
        // Names come from listings as the store's raw segments: appended as they are, not
        // re-encoded (`child` would turn a folder `a%3Ab` into `a%253Ab`, which is not there).
        let mut path = self.path.clone();
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            let raw = if path.as_ref().is_empty() {
                part.to_string()
            } else {
                format!("{path}/{part}")
            };
            path = ObjectPath::parse(&raw).unwrap_or_else(|_| path.child(part));
        }
        LakePath {
            url: self.url.join(rel),
            store: self.store.clone(),
            path,
        }
    }

    /// The folder as a URL.
    pub fn url(&self) -> &url::Url {
        self.url.url()
    }

    /// The folder as a lake location (URL and the lake's storage options).
    pub fn location(&self) -> &LakeUrl {
        &self.url
    }

    /// The Delta table in this folder, opened with the lake's storage options.
    pub async fn open_delta(&self) -> deltalake::DeltaResult<deltalake::DeltaTable> {
        self.url.open_delta().await
    }

    /// The Delta table here, or an uninitialized one to create.
    pub async fn delta_or_new(&self) -> deltalake::DeltaResult<deltalake::DeltaTable> {
        self.url.delta_or_new().await
    }

    pub fn local_path(&self) -> Option<PathBuf> {
        self.url.local_path()
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    pub fn object_path(&self) -> &ObjectPath {
        &self.path
    }

    /// A file of this folder, as an object path.
    pub fn file(&self, name: &str) -> ObjectPath {
        self.path.child(name)
    }

    /// Where `file` of a local lake is on disk.
    pub fn local_file(&self, file: &ObjectPath) -> Option<PathBuf> {
        self.local_path()?;
        object_store::local::LocalFileSystem::new()
            .path_to_filesystem(file)
            .ok()
    }

    /// `a/b/c` of `file` relative to this folder (for lineage and messages).
    pub fn relative(&self, file: &ObjectPath) -> String {
        match file.prefix_match(&self.path) {
            Some(parts) => parts
                .map(|p| p.as_ref().to_string())
                .collect::<Vec<_>>()
                .join("/"),
            None => file.to_string(),
        }
    }

    /// Creates the folder when local (object stores have no folders).
    pub fn create(&self) -> Result<()> {
        if let Some(p) = self.local_path() {
            std::fs::create_dir_all(&p).map_err(|e| IngestError::Io { path: p, source: e })?;
        }
        Ok(())
    }

    /// Whether anything is stored under the folder (one listing page at most).
    pub async fn has_objects(&self) -> Result<bool> {
        crate::storage::has_objects(self.store.as_ref(), &self.path)
            .await
            .map_err(|e| store_err(self, e))
    }

    /// Whether this folder holds a Delta table.
    pub async fn is_table(&self) -> Result<bool> {
        self.join("_delta_log").has_objects().await
    }

    /// Immediate sub-folder names.
    pub async fn folders(&self) -> Result<Vec<String>> {
        match self.store.list_with_delimiter(Some(&self.path)).await {
            Ok(l) => Ok(l
                .common_prefixes
                .iter()
                .filter_map(|p| p.filename().map(str::to_string))
                .collect()),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(store_err(self, e)),
        }
    }

    /// The files directly in this folder.
    pub async fn files(&self) -> Result<Vec<ObjectMeta>> {
        match self.store.list_with_delimiter(Some(&self.path)).await {
            Ok(l) => Ok(l.objects),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(store_err(self, e)),
        }
    }

    /// A file's content, or None when it does not exist.
    pub async fn read(&self, name: &str) -> Result<Option<Bytes>> {
        match self.store.get(&self.file(name)).await {
            Ok(g) => Ok(Some(g.bytes().await.map_err(|e| store_err(self, e))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_err(self, e)),
        }
    }

    pub async fn write(&self, name: &str, data: Bytes) -> Result<()> {
        self.create()?;
        self.store
            .put(&self.file(name), PutPayload::from_bytes(data))
            .await
            .map_err(|e| store_err(self, e))?;
        Ok(())
    }
}

impl From<&LakePath> for LakePath {
    fn from(p: &LakePath) -> LakePath {
        p.clone()
    }
}

/// A local lake (tests and tools): panics only for a path that cannot be made absolute.
impl From<&Path> for LakePath {
    fn from(p: &Path) -> LakePath {
        LakePath::local(p).expect("a local lake path")
    }
}

impl From<PathBuf> for LakePath {
    fn from(p: PathBuf) -> LakePath {
        LakePath::from(p.as_path())
    }
}
