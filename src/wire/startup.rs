//! Startup: TLS negotiation, SCRAM or trust authentication, the connection slot, the session's
//! parameters from the startup packet and the ParameterStatus messages a client expects.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::auth::mechanism::{AuthMechanismFactory, AuthState};
use pgwire::api::auth::sasl::scram::ScramAuth;
use pgwire::api::auth::{
    AuthSource, LoginInfo, Password, ServerParameterProvider, StartupHandler,
    finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::api::{
    ClientInfo, METADATA_DATABASE, METADATA_USER, PgWireConnectionState, PidSecretKeyGenerator,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tracing::{debug, warn};

use super::connection::Connection;
use crate::auth::Security;
use crate::config::TlsMode;
use crate::engine::Session;

pub(super) struct StartupParameters(Vec<(String, String)>);

impl ServerParameterProvider for StartupParameters {
    fn server_parameters<C>(&self, _client: &C) -> Option<HashMap<String, String>>
    where
        C: ClientInfo,
    {
        Some(self.0.iter().cloned().collect())
    }
}

pub(super) fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".into(),
        code.into(),
        message,
    )))
}

/// Hands lakegate's SCRAM verifiers to pgwire's SCRAM state machine.
#[derive(Debug)]
pub(super) struct Verifiers(Arc<Security>);

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
                        crate::engine::SqlState::InvalidCatalogName.code(),
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
                        crate::engine::SqlState::InvalidAuthorization.code(),
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
    pub(super) fn user_of<C: ClientInfo>(&self, client: &C) -> String {
        client
            .metadata()
            .get(METADATA_USER)
            .cloned()
            .unwrap_or_else(|| "lakegate".into())
    }

    /// After authentication: the per-user connection limit, the session, cancel registration,
    /// and the startup parameters.
    pub(super) async fn establish<C>(
        &self,
        client: &mut C,
        user: &str,
        method: &str,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let Some(slot) = self.shared.security.open_connection(user) else {
            warn!(%user, "connection refused: the user's max_connections is reached");
            return Err(fatal(
                crate::engine::SqlState::TooManyConnections.code(),
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
pub(super) fn startup_settings(
    metadata: &std::collections::HashMap<String, String>,
) -> Vec<(String, String)> {
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

pub(super) fn session_parameters(session: &Session) -> Vec<(String, String)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        startup_settings(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn startup_parameters_and_libpq_options_become_settings() {
        // What psql sends with PGOPTIONS='-c search_path=gold -c statement_timeout=5s
        // --application-name=my\ app', plus pgjdbc's GUC-named parameters.
        let got = settings(&[
            ("user", "ann"),
            ("database", "lake"),
            ("client_encoding", "UTF8"),
            ("_pq_.command_protocol", "3.2"),
            ("ApplicationName", "DBeaver"),
            (
                "options",
                r"-c search_path=gold  -cstatement_timeout=5s --application-name=my\ app",
            ),
        ]);
        assert_eq!(
            got,
            [
                ("ApplicationName", "DBeaver"),
                ("search_path", "gold"),
                ("statement_timeout", "5s"),
                ("application_name", "my app"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }

    #[test]
    fn datafusion_options_are_not_set_at_startup() {
        // They stay behind SET, where the sandbox checks them.
        let got = settings(&[
            ("datafusion.execution.batch_size", "1"),
            (
                "options",
                "-c datafusion.execution.target_partitions=64 -c TimeZone=UTC",
            ),
        ]);
        assert_eq!(got, [("TimeZone".to_string(), "UTC".to_string())]);
        // A word that is no setting is skipped, not an error.
        assert_eq!(settings(&[("options", "-x --verbose -c")]), vec![]);
    }
}
