//! One [`Connection`] per socket: it is every pgwire handler of that socket, so the session
//! (settings, DataFusion context) lives exactly as long as the socket.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use pgwire::api::auth::StartupHandler;
use pgwire::api::auth::mechanism::AuthMechanism;
use pgwire::api::cancel::CancelHandler;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};

use super::cancel::CancelRegistry;
use super::extended::StatementParser;
use super::startup::fatal;
use crate::auth::{ConnectionSlot, Security};
use crate::engine::cancel::QuerySlot;
use crate::engine::{Engine, Session};

/// Everything one socket needs; it is every pgwire handler of that socket.
pub struct Connection {
    pub(super) engine: Arc<Engine>,
    pub(super) session: Arc<OnceLock<Arc<Session>>>,
    pub(super) parser: Arc<StatementParser>,
    pub(super) registry: Arc<CancelRegistry>,
    pub(super) slot: Arc<QuerySlot>,
    pub(super) pid: AtomicI32,
    /// Names of the statements prepared on this connection: pgwire's store cannot list them,
    /// and `DISCARD ALL` / `DEALLOCATE ALL` (connection poolers, Npgsql) must drop them all.
    pub(super) prepared: std::sync::Mutex<std::collections::BTreeSet<String>>,
    pub(super) shared: Arc<Shared>,
    pub(super) peer: std::net::SocketAddr,
    /// The SCRAM exchange in progress during startup.
    pub(super) mechanism: Mutex<Option<Box<dyn AuthMechanism<()>>>>,
    /// This user's connection slot, released when the socket closes.
    pub(super) user_slot: Mutex<Option<ConnectionSlot>>,
    /// For `limits.idle_session_timeout`: when the last request ended, and how many run.
    pub(super) last_active: Mutex<std::time::Instant>,
    pub(super) busy: AtomicI32,
    pub(super) span: Mutex<Option<tracing::Span>>,
    /// `query_id` of the last statement begun here, for the log line of a panic.
    pub(super) last_query: std::sync::atomic::AtomicU64,
}

/// Marks the connection busy while a request runs.
pub(super) struct Busy<'a>(&'a Connection);

impl<'a> Busy<'a> {
    pub(super) fn new(c: &'a Connection) -> Busy<'a> {
        c.busy.fetch_add(1, Ordering::AcqRel);
        Busy(c)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        *self.0.last_active.lock().expect("activity lock") = std::time::Instant::now();
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What every connection of a listener shares.
pub struct Shared {
    pub registry: Arc<CancelRegistry>,
    pub security: Arc<Security>,
    pub tls: Option<Arc<super::tls::TlsSetup>>,
    pub activity: Arc<crate::engine::activity::Activity>,
}

impl Connection {
    pub fn new(
        engine: Arc<Engine>,
        registry: Arc<CancelRegistry>,
        shared: Arc<Shared>,
        peer: std::net::SocketAddr,
    ) -> Connection {
        let session = Arc::new(OnceLock::new());
        let slot = Arc::new(QuerySlot::default());
        Connection {
            shared,
            peer,
            mechanism: Mutex::new(None),
            user_slot: Mutex::new(None),
            last_active: Mutex::new(std::time::Instant::now()),
            busy: AtomicI32::new(0),
            span: Mutex::new(None),
            last_query: Default::default(),
            engine,
            parser: Arc::new(StatementParser {
                session: session.clone(),
                slot: slot.clone(),
            }),
            session,
            registry,
            slot,
            pid: AtomicI32::new(0),
            prepared: Default::default(),
        }
    }

    /// Runs one client request; a panic inside it is logged with the statement's query id,
    /// counted in `/metrics`, and answered with one FATAL XX000 that closes this connection
    /// only (the server and other clients go on).
    pub(super) async fn guarded<T>(
        &self,
        request: impl std::future::Future<Output = PgWireResult<T>> + Send,
    ) -> PgWireResult<T> {
        use futures::FutureExt;
        match std::panic::AssertUnwindSafe(request).catch_unwind().await {
            Ok(r) => r,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-text panic".into());
                let query_id = self.last_query.load(Ordering::Relaxed);
                tracing::error!(
                    query_id,
                    pid = self.pid.load(Ordering::Relaxed),
                    panic = %message,
                    "internal error in a connection; closing it"
                );
                crate::metrics::metrics().connection_panics.inc();
                Err(fatal(
                    crate::engine::SqlState::InternalError.code(),
                    format!(
                        "internal error (query_id {query_id} in the server log); this connection is closed"
                    ),
                ))
            }
        }
    }

    pub(super) fn session(&self) -> PgWireResult<Arc<Session>> {
        self.session.get().cloned().ok_or_else(|| {
            PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                crate::engine::SqlState::ProtocolViolation.code().into(),
                "query before startup completed".into(),
            )))
        })
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let pid = self.pid.load(Ordering::Relaxed);
        if pid != 0 {
            self.registry
                .live
                .lock()
                .expect("registry lock")
                .remove(&pid);
        }
    }
}

/// Per-socket handler set handed to pgwire.
pub struct Handlers(pub Arc<Connection>);

impl pgwire::api::PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.0.clone()
    }
    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.0.clone()
    }
    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.0.clone()
    }
    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.0.clone()
    }
}
