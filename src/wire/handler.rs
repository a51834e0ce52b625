//! Per-connection protocol handling: startup, simple and extended query, cancel.
//!
//! One [`Connection`] is created per socket and serves as every pgwire handler for it, so the
//! session (settings, DataFusion context) lives exactly as long as the socket. Results are
//! streamed batch by batch in both protocols: pgwire's default Execute buffers a whole portal,
//! so `on_execute` is ours and sends rows as they are encoded, suspending at `max_rows`.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use futures::{Sink, SinkExt, StreamExt, stream};
use pgwire::api::auth::mechanism::{AuthMechanism, AuthMechanismFactory, AuthState};
use pgwire::api::auth::sasl::scram::ScramAuth;
use pgwire::api::auth::{
    AuthSource, LoginInfo, Password, ServerParameterProvider, StartupHandler,
    finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::api::cancel::CancelHandler;
use pgwire::api::portal::{Format, Portal, PortalExecutionState};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler, send_execution_response};
use pgwire::api::results::{
    DescribePortalResponse, DescribeStatementResponse, FieldFormat, FieldInfo, QueryResponse,
    Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{
    ClientInfo, ClientPortalStore, METADATA_DATABASE, METADATA_USER, PgWireConnectionState,
    PidSecretKeyGenerator, RandomPidSecretKeyGenerator, Type,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::extendedquery::{Execute, PortalSuspended};
use pgwire::messages::response::{NoticeResponse, TransactionStatus};
use pgwire::messages::startup::{ParameterStatus, SecretKey};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tracing::{debug, warn};

use crate::auth::{ConnectionSlot, Security};
use crate::config::TlsMode;

use super::encode::encode_batch;
use super::error::{error_info, to_pgwire};
use super::params;
use super::types::pg_type;
use crate::engine::cancel::QuerySlot;
use crate::engine::{Command, Engine, EngineError, Session};
use crate::engine::{Outcome, Reply, Rows, Transaction};

/// Connections that can be canceled, by backend pid.
#[derive(Default)]
pub struct CancelRegistry {
    pids: RandomPidSecretKeyGenerator,
    live: Mutex<HashMap<i32, (SecretKey, Arc<QuerySlot>)>>,
}

impl CancelRegistry {
    /// Cancels what connection `pid` runs (the status page's cancel button, for admins).
    pub fn cancel_pid(&self, pid: i32) -> bool {
        let slot = self
            .live
            .lock()
            .expect("registry lock")
            .get(&pid)
            .map(|(_, s)| s.clone());
        match slot {
            Some(s) => {
                s.cancel_all();
                true
            }
            None => false,
        }
    }
}

impl Debug for CancelRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelRegistry").finish()
    }
}

/// Everything one socket needs; it is every pgwire handler of that socket.
pub struct Connection {
    engine: Arc<Engine>,
    session: Arc<OnceLock<Arc<Session>>>,
    parser: Arc<StatementParser>,
    registry: Arc<CancelRegistry>,
    slot: Arc<QuerySlot>,
    pid: AtomicI32,
    /// Names of the statements prepared on this connection: pgwire's store cannot list them,
    /// and `DISCARD ALL` / `DEALLOCATE ALL` (connection poolers, Npgsql) must drop them all.
    prepared: std::sync::Mutex<std::collections::BTreeSet<String>>,
    shared: Arc<Shared>,
    peer: std::net::SocketAddr,
    /// The SCRAM exchange in progress during startup.
    mechanism: Mutex<Option<Box<dyn AuthMechanism<()>>>>,
    /// This user's connection slot, released when the socket closes.
    user_slot: Mutex<Option<ConnectionSlot>>,
    /// For `limits.idle_session_timeout`: when the last request ended, and how many run.
    last_active: Mutex<std::time::Instant>,
    busy: AtomicI32,
    span: Mutex<Option<tracing::Span>>,
    /// `query_id` of the last statement begun here, for the log line of a panic.
    last_query: std::sync::atomic::AtomicU64,
}

/// Marks the connection busy while a request runs.
struct Busy<'a>(&'a Connection);

impl<'a> Busy<'a> {
    fn new(c: &'a Connection) -> Busy<'a> {
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
    pub activity: Arc<super::activity::Activity>,
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
    async fn guarded<T>(
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
                    "XX000",
                    format!(
                        "internal error (query_id {query_id} in the server log); this connection is closed"
                    ),
                ))
            }
        }
    }

    fn session(&self) -> PgWireResult<Arc<Session>> {
        self.session.get().cloned().ok_or_else(|| {
            PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "08P01".into(),
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

struct StartupParameters(Vec<(String, String)>);

impl ServerParameterProvider for StartupParameters {
    fn server_parameters<C>(&self, _client: &C) -> Option<HashMap<String, String>>
    where
        C: ClientInfo,
    {
        Some(self.0.iter().cloned().collect())
    }
}

fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".into(),
        code.into(),
        message,
    )))
}

/// Hands lakegate's SCRAM verifiers to pgwire's SCRAM state machine.
#[derive(Debug)]
struct Verifiers(Arc<Security>);

#[async_trait]
impl AuthSource for Verifiers {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        Err(PgWireError::InvalidPassword(
            login.user().unwrap_or_default().to_string(),
        ))
    }
    async fn get_scram_secret(
        &self,
        login: &LoginInfo,
    ) -> PgWireResult<(pgwire::api::auth::sasl::scram::ScramSecret, Option<()>)> {
        Ok((self.0.scram_secret(login.user().unwrap_or_default()), None))
    }
}

#[async_trait]
impl StartupHandler for Connection {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.guarded(async move {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                let user = self.user_of(client);
                let database = client
                    .metadata()
                    .get(METADATA_DATABASE)
                    .cloned()
                    .unwrap_or_else(|| user.clone());
                if database != self.engine.database() {
                    return Err(fatal(
                        "3D000",
                        format!(
                            "database \"{database}\" does not exist (this server serves \"{}\")",
                            self.engine.database()
                        ),
                    ));
                }
                let require_tls = self
                    .shared
                    .tls
                    .as_ref()
                    .is_some_and(|t| t.mode == TlsMode::Require);
                if require_tls && !client.is_secure() {
                    crate::metrics::metrics().rejected("tls_required");
                    warn!(peer = %self.peer, %user, "plain-text connection refused (tls.mode: require)");
                    return Err(fatal(
                        "28000",
                        "this server requires TLS: connect with sslmode=require or stronger".into(),
                    ));
                }
                if self.shared.security.trust() {
                    return self.establish(client, &user, "trust").await;
                }
                // Repeated failures from one address slow its next attempts down.
                let delay = self.shared.security.login_delay(self.peer.ip());
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let mut scram = ScramAuth::new(Arc::new(Verifiers(self.shared.security.clone())));
                if client.is_secure()
                    && let Some(tls) = &self.shared.tls
                {
                    let (_, pem) = tls.acceptor();
                    // SCRAM-SHA-256-PLUS: the proof is bound to this TLS channel.
                    if let Err(e) = scram.configure_certificate(&pem) {
                        debug!(error = %e, "no channel binding for this certificate");
                    }
                }
                let mut mechanism = scram.create();
                match mechanism.begin(&*client).await? {
                    AuthState::InProgress(request) => {
                        *self.mechanism.lock().expect("mechanism lock") = Some(mechanism);
                        client.set_state(PgWireConnectionState::AuthenticationInProgress);
                        client
                            .send(PgWireBackendMessage::Authentication(request))
                            .await?;
                        Ok(())
                    }
                    _ => Err(PgWireError::InvalidSASLState),
                }
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                let user = self.user_of(client);
                let Some(mut mechanism) = self.mechanism.lock().expect("mechanism lock").take()
                else {
                    return Err(PgWireError::NoAuthenticationInProgress);
                };
                match mechanism.next(&*client, message).await {
                    Ok(AuthState::InProgress(next)) => {
                        *self.mechanism.lock().expect("mechanism lock") = Some(mechanism);
                        client
                            .send(PgWireBackendMessage::Authentication(next))
                            .await?;
                        Ok(())
                    }
                    Ok(AuthState::Ok { final_message, .. }) => {
                        if let Some(m) = final_message {
                            client.send(PgWireBackendMessage::Authentication(m)).await?;
                        }
                        self.shared.security.record_success(self.peer.ip());
                        self.establish(client, &user, "scram-sha-256").await
                    }
                    Ok(AuthState::Failed(e)) | Err(e) => {
                        let failures = self.shared.security.record_failure(self.peer.ip());
                        crate::metrics::metrics().logins_failed.inc();
                        crate::metrics::metrics().rejected("authentication");
                        warn!(peer = %self.peer, %user, failures, reason = %e, "authentication failed");
                        // Same answer whatever was wrong (unknown user, bad proof, bad message).
                        Err(PgWireError::InvalidPassword(user))
                    }
                }
            }
            _ => Ok(()),
        }
        })
        .await
    }
}

impl Connection {
    fn user_of<C: ClientInfo>(&self, client: &C) -> String {
        client
            .metadata()
            .get(METADATA_USER)
            .cloned()
            .unwrap_or_else(|| "lakegate".into())
    }

    /// After authentication: the per-user connection limit, the session, cancel registration,
    /// and the startup parameters.
    async fn establish<C>(&self, client: &mut C, user: &str, method: &str) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let Some(slot) = self.shared.security.open_connection(user) else {
            warn!(%user, "connection refused: the user's max_connections is reached");
            return Err(fatal(
                "53300",
                format!("too many connections for role \"{user}\""),
            ));
        };
        *self.user_slot.lock().expect("slot lock") = Some(slot);
        let access = self.shared.security.access(user);
        let session = Arc::new(self.engine.new_session(user, access));
        for (name, value) in startup_settings(client.metadata()) {
            // As in Postgres, a startup parameter is a session default; lakegate skips the ones
            // it does not know instead of refusing the connection (drivers send extras).
            if let Err(e) = session.set(&name, Some(&value)) {
                debug!(%user, name, value, error = %e, "startup parameter ignored");
            }
        }
        let reported = session_parameters(&session);
        let _ = self.session.set(session);
        let (pid, secret) = self.registry.pids.generate(client);
        client.set_pid_and_secret_key(pid, secret.clone());
        self.pid.store(pid, Ordering::Relaxed);
        if let Some(span) = self.span.lock().expect("span lock").as_ref() {
            span.record("pid", pid);
        }
        self.registry
            .live
            .lock()
            .expect("registry lock")
            .insert(pid, (secret, self.slot.clone()));
        debug!(%user, pid, peer = %self.peer, method, tls = client.is_secure(), "connection authenticated");
        finish_authentication(client, &StartupParameters(reported)).await
    }

    /// The connection's log span (its `pid` field is filled at authentication).
    pub fn set_span(&self, span: tracing::Span) {
        *self.span.lock().expect("span lock") = Some(span);
    }

    /// Resolves once the session has been idle (no request running) for `timeout`; never
    /// for a zero timeout.
    pub async fn idle_expired(&self, timeout: std::time::Duration) {
        if timeout.is_zero() {
            return std::future::pending().await;
        }
        loop {
            let last = *self.last_active.lock().expect("activity lock");
            let wait = (last + timeout).saturating_duration_since(std::time::Instant::now());
            if wait.is_zero() && self.busy.load(Ordering::Acquire) == 0 && self.authenticated() {
                return;
            }
            tokio::time::sleep(wait.max(std::time::Duration::from_millis(200))).await;
        }
    }

    /// Whether startup finished (the listener drops connections that do not get there in
    /// `limits.startup_timeout`).
    pub fn authenticated(&self) -> bool {
        self.session.get().is_some()
    }
}

/// Session settings a client asks for at startup: GUC-named parameters (asyncpg's
/// `server_settings`, pgjdbc's `ApplicationName`) and libpq's `options` (`-c name=value`,
/// `--name=value`; a backslash escapes the next character), as `PGOPTIONS` sends them.
fn startup_settings(metadata: &std::collections::HashMap<String, String>) -> Vec<(String, String)> {
    const PROTOCOL: &[&str] = &[
        "user",
        "database",
        "options",
        "replication",
        "client_encoding",
    ];
    let mut out: Vec<(String, String)> = metadata
        .iter()
        .filter(|(k, _)| !PROTOCOL.contains(&k.as_str()) && !k.starts_with("_pq_."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.sort();
    if let Some(options) = metadata.get("options") {
        let mut words = Vec::new();
        let mut word = String::new();
        let mut chars = options.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => word.extend(chars.next()),
                c if c.is_whitespace() => {
                    if !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                }
                c => word.push(c),
            }
        }
        if !word.is_empty() {
            words.push(word);
        }
        let mut words = words.into_iter();
        while let Some(w) = words.next() {
            let setting = if w == "-c" {
                words.next()
            } else if let Some(rest) = w.strip_prefix("--").or_else(|| w.strip_prefix("-c")) {
                Some(rest.to_string())
            } else {
                None
            };
            if let Some((k, v)) = setting.as_deref().and_then(|s| s.split_once('=')) {
                out.push((k.replace('-', "_"), v.to_string()));
            }
        }
    }
    // DataFusion's own options stay behind `SET`, where the sandbox checks them.
    out.retain(|(k, _)| !k.to_ascii_lowercase().starts_with("datafusion."));
    out
}

fn session_parameters(session: &Session) -> Vec<(String, String)> {
    [
        "application_name",
        "client_encoding",
        "DateStyle",
        "default_transaction_read_only",
        "in_hot_standby",
        "integer_datetimes",
        "IntervalStyle",
        "is_superuser",
        "server_encoding",
        "server_version",
        "session_authorization",
        "standard_conforming_strings",
        "TimeZone",
    ]
    .iter()
    .filter_map(|n| session.show(n).ok().map(|v| (n.to_string(), v)))
    .collect()
}

#[async_trait]
impl CancelHandler for Connection {
    async fn on_cancel_request(&self, request: CancelRequest) {
        let slot = {
            let live = self.registry.live.lock().expect("registry lock");
            live.get(&request.pid)
                .filter(|(secret, _)| secret.eq_value(&request.secret_key))
                .map(|(_, slot)| slot.clone())
        };
        if let Some(slot) = slot {
            debug!(pid = request.pid, "cancel request");
            slot.cancel_all();
        }
    }
}

/// A prepared statement: the core's, and the Postgres types of its parameters (as declared by
/// the client, else inferred).
#[derive(Debug, Clone)]
pub struct Prepared {
    core: crate::engine::Prepared,
    params: Vec<Type>,
}

pub struct StatementParser {
    session: Arc<OnceLock<Arc<Session>>>,
    /// Planning at Parse is bounded and cancelable like running.
    slot: Arc<QuerySlot>,
}

#[async_trait]
impl QueryParser for StatementParser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let session = self
            .session
            .get()
            .cloned()
            .ok_or_else(|| fatal("08P01", "parse before startup".into()))?;
        debug!(sql, "parse");
        let core = session
            .prepare(sql, types.len(), &self.slot)
            .await
            .map_err(|e| to_pgwire(e, Some(sql)))?;
        Ok(core.map(|core| {
            let params = core
                .targets
                .iter()
                .enumerate()
                .map(|(i, t)| match types.get(i).cloned().flatten() {
                    Some(t) if t != Type::UNKNOWN => t,
                    _ => t
                        .as_ref()
                        .filter(|t| !matches!(t, DataType::Null))
                        .map(|t| super::types::pg_type_of(t).0)
                        .unwrap_or(Type::TEXT),
                })
                .collect();
            Prepared { core, params }
        }))
    }

    fn get_parameter_types(&self, stmt: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(stmt.params.clone())
    }

    fn get_result_schema(
        &self,
        stmt: &Prepared,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        Ok(match &stmt.core.schema {
            Some(s) => field_infos(
                s,
                &formats(format.unwrap_or(&Format::UnifiedText), s.fields().len()),
            ),
            None => vec![],
        })
    }
}

/// Per-column formats; a single code applies to every column (protocol rule).
fn formats(format: &Format, n: usize) -> Vec<FieldFormat> {
    match format {
        Format::UnifiedText => vec![FieldFormat::Text; n],
        Format::UnifiedBinary => vec![FieldFormat::Binary; n],
        Format::Individual(codes) if codes.len() == 1 => vec![FieldFormat::from(codes[0]); n],
        Format::Individual(codes) => (0..n)
            .map(|i| {
                codes
                    .get(i)
                    .map(|c| FieldFormat::from(*c))
                    .unwrap_or(FieldFormat::Text)
            })
            .collect(),
    }
}

fn type_size(t: &Type) -> i16 {
    match *t {
        Type::BOOL => 1,
        Type::INT2 => 2,
        Type::INT4 | Type::FLOAT4 | Type::DATE => 4,
        Type::INT8 | Type::FLOAT8 | Type::TIMESTAMP | Type::TIMESTAMPTZ | Type::TIME => 8,
        Type::INTERVAL | Type::UUID => 16,
        _ => -1,
    }
}

fn field_infos(schema: &Schema, formats: &[FieldFormat]) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .zip(formats)
        .map(|(f, fmt)| {
            let (t, typmod) = pg_type(f);
            let size = type_size(&t);
            FieldInfo::new(f.name().clone(), None, None, t, *fmt)
                .with_type_modifier(typmod)
                .with_type_size(size)
        })
        .collect()
}

/// Encodes a query's rows as DataRows as the client reads them (the core's stream stops with
/// 57014 when the query is canceled or times out).
fn query_response(
    schema: SchemaRef,
    rows: Rows,
    formats: Vec<FieldFormat>,
    tag: &str,
) -> QueryResponse {
    let fields = Arc::new(field_infos(&schema, &formats));
    let target = schema.clone();
    let rows = rows.flat_map(move |batch| {
        let result = batch.and_then(|b| conform(b, &target)).and_then(|b| {
            let mut out = Vec::with_capacity(b.num_rows());
            encode_batch(&b, &formats, &mut out)?;
            Ok(out)
        });
        match result {
            Ok(rows) => stream::iter(rows.into_iter().map(Ok)).left_stream(),
            Err(e) => stream::iter(vec![Err(to_pgwire(e, None))]).right_stream(),
        }
    });
    let mut response = QueryResponse::new(fields, rows);
    response.set_command_tag(tag);
    response
}

/// Casts a batch to the schema the client was told about (names kept, types converted).
fn conform(batch: RecordBatch, target: &SchemaRef) -> Result<RecordBatch, EngineError> {
    let same = batch.num_columns() == target.fields().len()
        && batch
            .schema()
            .fields()
            .iter()
            .zip(target.fields())
            .all(|(a, b)| a.data_type() == b.data_type());
    if same {
        return Ok(batch);
    }
    let renamed = batch.num_columns() != target.fields().len()
        || batch
            .schema()
            .fields()
            .iter()
            .zip(target.fields())
            .any(|(a, b)| a.name() != b.name());
    if renamed {
        return Err(EngineError::Unsupported(
            "a prepared statement whose result columns changed (the table was altered); \
             prepare it again"
                .into(),
        ));
    }
    let columns = batch
        .columns()
        .iter()
        .zip(target.fields())
        .map(|(c, f)| cast(c, f.data_type()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| EngineError::DataFusion(e.into()))?;
    RecordBatch::try_new(target.clone(), columns).map_err(|e| EngineError::DataFusion(e.into()))
}

impl Connection {
    /// `DEALLOCATE name`, `DEALLOCATE ALL` and `DISCARD ALL` drop prepared statements (and,
    /// for the last two, every portal).
    fn release_prepared<S: PortalStore + ?Sized>(&self, store: &S, command: &Command) {
        let all = match command {
            Command::Deallocate(Some(name)) => {
                store.rm_statement(name);
                self.prepared.lock().expect("prepared lock").remove(name);
                return;
            }
            Command::Deallocate(None) | Command::Discard => true,
            _ => false,
        };
        if all {
            for name in std::mem::take(&mut *self.prepared.lock().expect("prepared lock")) {
                store.rm_statement(&name);
            }
            store.clear_portals();
        }
    }

    /// Says what the core's outcome tells the client before its result: parameter changes
    /// (ParameterStatus) and notices.
    async fn announce<C>(&self, client: &mut C, outcome: &mut Outcome)
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
    {
        report(client, std::mem::take(&mut outcome.reports)).await;
        for n in std::mem::take(&mut outcome.notices) {
            notice(client, n.code, &n.message).await;
        }
    }
}

/// The core's transaction state as the Postgres wire says it, and back.
fn wire_status(t: Transaction) -> TransactionStatus {
    match t {
        Transaction::Idle => TransactionStatus::Idle,
        Transaction::Open => TransactionStatus::Transaction,
        Transaction::Failed => TransactionStatus::Error,
    }
}

fn core_transaction(s: TransactionStatus) -> Transaction {
    match s {
        TransactionStatus::Idle => Transaction::Idle,
        TransactionStatus::Transaction => Transaction::Open,
        TransactionStatus::Error => Transaction::Failed,
    }
}

async fn report<C>(client: &mut C, reports: Vec<(String, String)>)
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
{
    for (k, v) in reports {
        let _ = client
            .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                k, v,
            )))
            .await;
    }
}

async fn notice<C>(client: &mut C, code: &str, message: &str)
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
{
    let info = ErrorInfo::new("WARNING".into(), code.into(), message.into());
    let _ = client
        .feed(PgWireBackendMessage::NoticeResponse(NoticeResponse::from(
            info,
        )))
        .await;
}

#[async_trait]
impl SimpleQueryHandler for Connection {
    /// Runs the statements of a query string one after the other, streaming each result before
    /// the next statement runs (pgwire's default runs them all first): a failing SELECT stops
    /// a SET after it, each statement gets its own cancel token, and an error mid-stream leaves
    /// the transaction status as Postgres would ('E' inside BEGIN).
    async fn on_query<C>(
        &self,
        client: &mut C,
        query: pgwire::messages::simplequery::Query,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.guarded(async move {
            use pgwire::api::query::{send_query_response, send_ready_for_query};
            let _busy = Busy::new(self);
            if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
                return Err(PgWireError::NotReadyForQuery);
            }
            let session = self.session()?;
            let mut status = client.transaction_status();
            client.set_state(PgWireConnectionState::QueryInProgress);
            let sql = query.query;
            debug!(sql, "query");
            let mut running = self.shared.activity.begin(
                self.pid.load(Ordering::Relaxed),
                &session.access().user,
                Arc::from(sql.as_str()),
            );
            self.last_query.store(running.id(), Ordering::Relaxed);
            let mut errored = false;
            let fail = |e: &EngineError| {
                PgWireBackendMessage::ErrorResponse(error_info(e, Some(&sql)).into())
            };
            match session.commands(&sql) {
                Ok(commands) if commands.is_empty() => {
                    client
                        .feed(PgWireBackendMessage::EmptyQueryResponse(
                            pgwire::messages::response::EmptyQueryResponse::new(),
                        ))
                        .await?;
                }
                Ok(commands) => {
                    for command in &commands {
                        self.release_prepared(client.portal_store(), command);
                        let outcome = session
                            .run(command, core_transaction(status), &self.slot)
                            .await;
                        let mut outcome = match outcome {
                            Ok(o) => o,
                            Err(e) => {
                                client.feed(fail(&e)).await?;
                                errored = true;
                                status = status.to_error_state();
                                break;
                            }
                        };
                        self.announce(client, &mut outcome).await;
                        match outcome.reply {
                            Reply::Rows { schema, rows, tag } => {
                                let fmts = formats(&Format::UnifiedText, schema.fields().len());
                                let results = query_response(schema, rows, fmts, tag);
                                if let Err(e) = send_query_response(client, results, true).await {
                                    if matches!(e, PgWireError::IoError(_)) {
                                        return Err(e);
                                    }
                                    let info: ErrorInfo = e.into();
                                    client
                                        .feed(PgWireBackendMessage::ErrorResponse(info.into()))
                                        .await?;
                                    errored = true;
                                    status = status.to_error_state();
                                    break;
                                }
                            }
                            Reply::Done(tag) => {
                                send_execution_response(client, Tag::new(tag)).await?
                            }
                        }
                        status = wire_status(outcome.transaction);
                    }
                }
                Err(e) => {
                    client.feed(fail(&e)).await?;
                    errored = true;
                    status = status.to_error_state();
                }
            }
            if !errored {
                running.ok();
            }
            drop(running);
            client.set_state(PgWireConnectionState::ReadyForQuery);
            client.set_transaction_status(status);
            send_ready_for_query(client, status).await
        })
        .await
    }

    async fn do_query<C>(&self, _client: &mut C, _query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // `on_query` above does the work statement by statement.
        Err(PgWireError::UserError(Box::new(ErrorInfo::new(
            "ERROR".into(),
            "XX000".into(),
            "simple query handled in on_query".into(),
        ))))
    }
}

/// Values for a portal's parameters, in `$n` order.
fn bind(stmt: &Prepared, portal: &Portal<Prepared>) -> Result<Vec<ScalarValue>, EngineError> {
    let n = stmt.params.len().max(portal.parameters.len());
    if portal.parameters.len() != stmt.params.len() {
        return Err(EngineError::InvalidParameter(format!(
            "bind message supplies {} parameters, but prepared statement requires {}",
            portal.parameters.len(),
            stmt.params.len()
        )));
    }
    (0..n)
        .map(|i| {
            let binary = match &portal.parameter_format {
                Format::UnifiedBinary => true,
                Format::UnifiedText => false,
                Format::Individual(c) if c.len() == 1 => c[0] == 1,
                Format::Individual(c) => c.get(i) == Some(&1),
            };
            params::decode(
                portal.parameters[i].as_deref(),
                binary,
                &stmt.params[i],
                stmt.core.targets[i].as_ref(),
            )
        })
        .collect()
}

#[async_trait]
impl ExtendedQueryHandler for Connection {
    type Statement = Prepared;
    type QueryParser = StatementParser;

    fn query_parser(&self) -> Arc<StatementParser> {
        self.parser.clone()
    }

    /// pgwire's Parse, plus a note of the statement's name for `DISCARD ALL`.
    async fn on_parse<C>(
        &self,
        client: &mut C,
        message: pgwire::messages::extendedquery::Parse,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.guarded(async move {
            let name = message
                .name
                .clone()
                .unwrap_or_else(|| pgwire::api::DEFAULT_NAME.to_owned());
            let parser = self.query_parser();
            match StoredStatement::parse(client, &message, parser).await? {
                Some(stmt) => client.portal_store().put_statement(Arc::new(stmt)),
                None => client.portal_store().put_empty_statement(&name),
            }
            if name != pgwire::api::DEFAULT_NAME {
                self.prepared.lock().expect("prepared lock").insert(name);
            }
            client
                .send(PgWireBackendMessage::ParseComplete(
                    pgwire::messages::extendedquery::ParseComplete::new(),
                ))
                .await?;
            Ok(())
        })
        .await
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // `on_execute` below runs portals itself (streaming, suspending at max_rows).
        let _ = (client, portal);
        Err(PgWireError::UserError(Box::new(ErrorInfo::new(
            "ERROR".into(),
            "XX000".into(),
            "extended query handled in on_execute".into(),
        ))))
    }

    async fn do_describe_statement<C>(
        &self,
        _client: &mut C,
        target: &StoredStatement<Prepared>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.guarded(async move {
            let s = &target.statement;
            let fields = self.parser.get_result_schema(s, None)?;
            Ok(DescribeStatementResponse::new(s.params.clone(), fields))
        })
        .await
    }

    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
        target: &Portal<Prepared>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.guarded(async move {
            let fields = self.parser.get_result_schema(
                &target.statement.statement,
                Some(&target.result_column_format),
            )?;
            Ok(DescribePortalResponse::new(fields))
        })
        .await
    }

    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.guarded(async move {
            use pgwire::api::store::Entry;
            let _busy = Busy::new(self);
            if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
                return Err(PgWireError::NotReadyForQuery);
            }
            let mut status = client.transaction_status();
            client.set_state(PgWireConnectionState::QueryInProgress);
            let name = message.name.as_deref().unwrap_or(pgwire::api::DEFAULT_NAME);
            let max_rows = message.max_rows.max(0) as usize;
            let portal = match client.portal_store().get_portal(name) {
                Some(Entry::Value(p)) => p,
                Some(Entry::Empty) => {
                    client
                        .feed(PgWireBackendMessage::EmptyQueryResponse(
                            pgwire::messages::response::EmptyQueryResponse::new(),
                        ))
                        .await?;
                    client.set_state(PgWireConnectionState::ReadyForQuery);
                    return Ok(());
                }
                None => return Err(PgWireError::PortalNotFound(name.to_owned())),
            };
            let mut running = self.session.get().map(|s| {
                self.shared.activity.begin(
                    self.pid.load(Ordering::Relaxed),
                    &s.access().user,
                    portal.statement.statement.core.sql.clone(),
                )
            });
            if let Some(r) = &running {
                self.last_query.store(r.id(), Ordering::Relaxed);
            }
            let state = portal.state();
            let mut state = state.lock().await;
            if matches!(*state, PortalExecutionState::Initial) {
                let session = self.session()?;
                let stmt = &portal.statement.statement;
                self.release_prepared(client.portal_store(), &stmt.core.command);
                let mut outcome = session
                    .run_prepared(
                        &stmt.core,
                        || bind(stmt, &portal),
                        core_transaction(status),
                        &self.slot,
                    )
                    .await
                    .map_err(|e| to_pgwire(e, Some(&stmt.core.sql)))?;
                self.announce(client, &mut outcome).await;
                match outcome.reply {
                    Reply::Rows { schema, rows, tag } => {
                        let fmts = formats(&portal.result_column_format, schema.fields().len());
                        *state =
                            PortalExecutionState::Suspended(query_response(schema, rows, fmts, tag))
                    }
                    Reply::Done(tag) => send_execution_response(client, Tag::new(tag)).await?,
                }
                if matches!(stmt.core.command, Command::Commit | Command::Rollback) {
                    client.portal_store().rm_portal(pgwire::api::DEFAULT_NAME);
                }
                status = wire_status(outcome.transaction);
            }
            match &mut *state {
                PortalExecutionState::Suspended(response) => {
                    let tag = response.command_tag().to_string();
                    let rows = response.data_rows();
                    let mut sent = 0usize;
                    let mut suspended = true;
                    while max_rows == 0 || sent < max_rows {
                        match rows.next().await {
                            Some(row) => {
                                client.feed(PgWireBackendMessage::DataRow(row?)).await?;
                                sent += 1;
                            }
                            None => {
                                suspended = false;
                                break;
                            }
                        }
                    }
                    if suspended {
                        client
                            .feed(PgWireBackendMessage::PortalSuspended(PortalSuspended::new()))
                            .await?;
                    } else {
                        *state = PortalExecutionState::Finished;
                        client
                            .feed(PgWireBackendMessage::CommandComplete(
                                Tag::new(&tag).with_rows(sent).into(),
                            ))
                            .await?;
                    }
                }
                // Executing a completed portal again returns no rows, as Postgres does.
                PortalExecutionState::Finished => {
                    client
                        .feed(PgWireBackendMessage::CommandComplete(
                            Tag::new("SELECT").with_rows(0).into(),
                        ))
                        .await?;
                }
                PortalExecutionState::Initial => {}
            }
            if status != TransactionStatus::Error
                && let Some(r) = running.as_mut()
            {
                r.ok();
            }
            drop(running);
            client.set_state(PgWireConnectionState::ReadyForQuery);
            client.set_transaction_status(status);
            Ok(())
        })
        .await
    }
}
