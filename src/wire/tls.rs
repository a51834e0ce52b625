//! TLS for the listener: certificates loaded at start (a configured certificate that cannot be
//! loaded is fatal: never fall back to plain text), and reloaded when their files change.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use pgwire::tokio::TlsAcceptor;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;
use tracing::{info, warn};

use crate::config::{TlsConfig, TlsMode};

/// A certificate or key that does not load: fatal at start, logged on reload.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls: `cert` and `key` are required")]
    Missing,
    /// `tls.cert` / `tls.key` unreadable or not PEM of the right kind.
    #[error("tls.{which} {}: {message}", path.display())]
    File {
        which: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("tls: certificate and key do not form a usable pair: {0}")]
    Pair(#[source] rustls::Error),
}

pub struct TlsSetup {
    pub mode: TlsMode,
    cert: PathBuf,
    key: PathBuf,
    current: Mutex<Loaded>,
}

#[derive(Clone)]
struct Loaded {
    stamps: (Option<SystemTime>, Option<SystemTime>),
    acceptor: TlsAcceptor,
    cert_pem: Arc<Vec<u8>>,
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn load(cert: &Path, key: &Path) -> Result<Loaded, TlsError> {
    let stamps = (modified(cert), modified(key));
    let file = |which, path: &Path, message: String| TlsError::File {
        which,
        path: path.to_path_buf(),
        message,
    };
    let cert_pem = std::fs::read(cert).map_err(|e| file("cert", cert, e.to_string()))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| file("cert", cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(file("cert", cert, "no certificate in the file".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| file("key", key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Pair)?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(TlsError::Pair)?;
    // Postgres 17's direct TLS negotiation asks for this ALPN protocol.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(Loaded {
        stamps,
        acceptor: TlsAcceptor::from(Arc::new(config)),
        cert_pem: Arc::new(cert_pem),
    })
}

impl TlsSetup {
    /// `None` for `mode: disable`; an error (fatal at start) when the files do not load.
    pub fn from_config(c: &TlsConfig) -> Result<Option<Arc<TlsSetup>>, TlsError> {
        if c.mode == TlsMode::Disable {
            return Ok(None);
        }
        let (Some(cert), Some(key)) = (&c.cert, &c.key) else {
            return Err(TlsError::Missing);
        };
        let loaded = load(cert, key)?;
        Ok(Some(Arc::new(TlsSetup {
            mode: c.mode,
            cert: cert.clone(),
            key: key.clone(),
            current: Mutex::new(loaded),
        })))
    }

    /// The acceptor for a new connection, reloading the files first if they changed (a bad
    /// new pair is logged and the previous one kept).
    pub fn acceptor(&self) -> (TlsAcceptor, Arc<Vec<u8>>) {
        let mut cur = self.current.lock().expect("tls lock");
        let stamps = (modified(&self.cert), modified(&self.key));
        if stamps != cur.stamps {
            match load(&self.cert, &self.key) {
                Ok(l) => {
                    info!(cert = %self.cert.display(), "TLS certificate reloaded");
                    *cur = l;
                }
                Err(e) => {
                    warn!(error = %e, "TLS certificate changed but does not load; keeping the previous one");
                    cur.stamps = stamps;
                }
            }
        }
        (cur.acceptor.clone(), cur.cert_pem.clone())
    }
}
