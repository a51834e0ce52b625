//! Object stores from lake URLs.
//!
//! A lake root is written as a local path (`./lake`, `/data/lake`) or a URL (`file:///data/lake`).
//! Everything downstream works on a [`LakeUrl`]: an absolute URL plus the `object_store` that
//! reaches it, so catalog discovery and the Delta reader see one kind of location whatever the
//! backend. Cloud schemes (s3, az, abfss, gs) are recognised and refused with a clear message until
//! their credentials handling lands.

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
    #[error("Failed to open object store for `{url}`: {source}")]
    ObjectStore {
        url: String,
        source: object_store::Error,
    },
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// An absolute lake location: a directory-like URL that always ends in `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeUrl {
    url: Url,
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
            "s3" | "s3a" | "az" | "abfs" | "abfss" | "azure" | "gs" => {
                return Err(bad(format!(
                    "the `{}` scheme is not enabled in this build yet; use a local path",
                    url.scheme()
                )));
            }
            other => return Err(bad(format!("unknown scheme `{other}`"))),
        }
        let mut url = url;
        if !url.path().ends_with('/') {
            let p = format!("{}/", url.path());
            url.set_path(&p);
        }
        Ok(LakeUrl { url })
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The child location `rel` (a relative `a/b` path) as a directory URL.
    pub fn join(&self, rel: &str) -> LakeUrl {
        let rel = rel.trim_matches('/');
        let url = self
            .url
            .join(&format!("{rel}/"))
            .expect("relative path joins");
        LakeUrl { url }
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
            other => Err(StorageError::BadLocation {
                location: self.url.to_string(),
                reason: format!("unsupported scheme `{other}`"),
            }),
        }
    }
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
    fn cloud_schemes_are_refused_clearly() {
        let e = LakeUrl::parse("s3://bucket/lake").unwrap_err().to_string();
        assert!(e.contains("`s3` scheme is not enabled"), "{e}");
    }
}
