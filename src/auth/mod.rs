//! Who may connect and what they may read.
//!
//! Users hold SCRAM-SHA-256 verifiers (`SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`,
//! the form Postgres stores in `pg_authid`), so the config never holds a password; a password
//! may also come from `${ENV_VAR}` or `file:PATH` and is turned into a verifier at start.
//! Roles grant `schema.*` / `schema.table` and may filter rows. Without any user configured the
//! server trusts every client, and then only listens on loopback (see `server`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use pgwire::api::auth::sasl::scram::{ScramSecret, gen_salted_password};
use ring::hmac;
use sha2::{Digest, Sha256};

use crate::config::Config;

/// Errors of the auth layer (all at start: a bad secret is fatal, never silently skipped).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("users.{user}.password: {message}")]
    Password { user: String, message: String },
}

pub const SCRAM_ITERATIONS: usize = 4096;

/// A SCRAM-SHA-256 verifier.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    pub iterations: usize,
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier(<redacted>)")
    }
}

impl Verifier {
    pub fn parse(s: &str) -> Result<Verifier, String> {
        let bad = || {
            "not a SCRAM-SHA-256 verifier (SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>)".to_string()
        };
        let rest = s.strip_prefix("SCRAM-SHA-256$").ok_or_else(bad)?;
        let (head, keys) = rest.split_once('$').ok_or_else(bad)?;
        let (iter, salt) = head.split_once(':').ok_or_else(bad)?;
        let (stored, server) = keys.split_once(':').ok_or_else(bad)?;
        let iterations: usize = iter.parse().map_err(|_| bad())?;
        let dec = |v: &str| B64.decode(v).map_err(|_| bad());
        let v = Verifier {
            iterations,
            salt: dec(salt)?,
            stored_key: dec(stored)?,
            server_key: dec(server)?,
        };
        if v.iterations < 4096 || v.stored_key.len() != 32 || v.server_key.len() != 32 {
            return Err(bad());
        }
        Ok(v)
    }

    pub fn derive(password: &str, salt: &[u8], iterations: usize) -> Verifier {
        let salted = gen_salted_password(password, salt, iterations);
        let key = hmac::Key::new(hmac::HMAC_SHA256, &salted);
        let client_key = hmac::sign(&key, b"Client Key");
        let server_key = hmac::sign(&key, b"Server Key");
        Verifier {
            iterations,
            salt: salt.to_vec(),
            stored_key: Sha256::digest(client_key.as_ref()).to_vec(),
            server_key: server_key.as_ref().to_vec(),
        }
    }

    /// A verifier with a fresh random salt (what `lakegate passwd` prints).
    pub fn generate(password: &str) -> Verifier {
        let salt: [u8; 16] = random_bytes();
        Verifier::derive(password, &salt, SCRAM_ITERATIONS)
    }

    pub fn secret(&self) -> ScramSecret {
        ScramSecret::Verifier {
            salt: self.salt.clone(),
            iterations: self.iterations,
            stored_key: self.stored_key.clone(),
            server_key: self.server_key.clone(),
        }
    }
}

impl std::fmt::Display for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            B64.encode(&self.salt),
            B64.encode(&self.stored_key),
            B64.encode(&self.server_key)
        )
    }
}

/// `user:password` of an `Authorization: Basic ...` header.
pub fn basic_credentials(header: &str) -> Option<(String, String)> {
    let encoded = header.strip_prefix("Basic ")?;
    let decoded = B64.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// 32 random bytes (secrets nobody is told).
pub fn random_secret() -> [u8; 32] {
    random_bytes::<32>()
}

fn random_bytes<const N: usize>() -> [u8; N] {
    use ring::rand::SecureRandom;
    let mut b = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("system randomness");
    b
}

/// This layer's part of the config: every user's `password:` and every role's grant, row
/// filter and mask pattern. A [`crate::config::PartCheck`].
pub fn check_config(c: &Config) -> Result<(), (&'static str, String)> {
    for (name, user) in &c.users {
        check_password_syntax(&user.password)
            .map_err(|e| ("users", format!("users.{name}.password: {e}")))?;
    }
    for (name, role) in &c.roles {
        for g in role
            .grants
            .iter()
            .chain(role.row_filters.keys())
            .chain(role.column_masks.keys())
        {
            ObjectPattern::parse(g).map_err(|e| ("roles", format!("roles.{name}: {e}")))?;
        }
        // A rule that reads a setting reads what the user sets: `SET app.tenant = 'other'`.
        let rules = role
            .row_filters
            .iter()
            .map(|(t, e)| (format!("row_filters.{t}"), e))
            .chain(role.column_masks.iter().flat_map(|(t, cols)| {
                cols.iter()
                    .map(move |(c, e)| (format!("column_masks.{t}.{c}"), e))
            }));
        for (at, expr) in rules {
            let lower = expr.to_ascii_lowercase();
            if let Some(f) = ["current_setting", "set_config"]
                .into_iter()
                .find(|f| lower.contains(f))
            {
                return Err((
                    "roles",
                    format!(
                        "roles.{name}.{at}: `{f}` reads a setting the user may change with SET; \
                         key rules on current_user, or give each tenant its own role"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Config-time check of a `password:` value: a verifier, `${ENV}` or `file:PATH`.
pub fn check_password_syntax(value: &str) -> Result<(), String> {
    if value.starts_with("${") || value.starts_with("file:") {
        return Ok(());
    }
    Verifier::parse(value).map(|_| ()).map_err(|e| {
        format!(
            "{e}; passwords are not written in the config: paste the output of \
             `lakegate passwd USER`, or reference a secret with ${{ENV_VAR}} or file:PATH"
        )
    })
}

/// Resolves a `password:` value to a verifier (secrets read now; a plaintext secret is
/// hashed with a fresh salt and dropped).
fn resolve_password(user: &str, value: &str) -> Result<Verifier, AuthError> {
    let err = |message: String| AuthError::Password {
        user: user.to_string(),
        message,
    };
    if !(value.starts_with("${") || value.starts_with("file:")) {
        return Verifier::parse(value).map_err(err);
    }
    let secret = crate::secrets::resolve_secret("password", value).map_err(err)?;
    if secret.starts_with("SCRAM-SHA-256$") {
        return Verifier::parse(&secret).map_err(err);
    }
    if secret.is_empty() {
        return Err(err("the referenced secret is empty".into()));
    }
    Ok(Verifier::generate(&secret))
}

/// `schema.table`, `schema.*` or `*` (case-insensitive, quotes allowed around parts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPattern {
    schema: Option<String>,
    table: Option<String>,
}

impl ObjectPattern {
    pub fn parse(s: &str) -> Result<ObjectPattern, String> {
        let t = s.trim();
        let part = |p: &str| -> Option<String> {
            let p = p.trim().trim_matches('"');
            (p != "*").then(|| p.to_ascii_lowercase())
        };
        match t.split_once('.') {
            _ if t == "*" || t == "*.*" => Ok(ObjectPattern {
                schema: None,
                table: None,
            }),
            Some((schema, table)) if !schema.trim().is_empty() && !table.trim().is_empty() => {
                Ok(ObjectPattern {
                    schema: part(schema),
                    table: part(table),
                })
            }
            _ => Err(format!("`{s}` is not `schema.table`, `schema.*` or `*`")),
        }
    }

    fn matches(&self, schema: &str, table: &str) -> bool {
        self.covers_schema(schema)
            && self
                .table
                .as_deref()
                .is_none_or(|t| t.eq_ignore_ascii_case(table))
    }

    fn covers_schema(&self, schema: &str) -> bool {
        match self.schema.as_deref() {
            Some(s) => s.eq_ignore_ascii_case(schema),
            // Others' statements and every view's definition are not in "everything".
            None => !schema.eq_ignore_ascii_case(crate::config::SYSTEM_SCHEMA),
        }
    }
}

/// What one user may read.
#[derive(Debug, Clone)]
pub struct Access {
    pub user: String,
    pub admin: bool,
    grants: Vec<ObjectPattern>,
    /// (table, predicate) row filters of the user's roles.
    row_filters: Vec<(ObjectPattern, String)>,
    /// (table, column, expression) masks of the user's roles.
    column_masks: Vec<(ObjectPattern, String, String)>,
}

/// Schemas every client may list (their contents are filtered per user).
const CATALOG_SCHEMAS: [&str; 2] = ["pg_catalog", "information_schema"];

impl Access {
    /// Trust mode, and admins: everything.
    pub fn everything(user: &str) -> Access {
        Access {
            user: user.to_string(),
            admin: true,
            grants: vec![],
            row_filters: vec![],
            column_masks: vec![],
        }
    }

    pub fn can_read(&self, schema: &str, table: &str) -> bool {
        self.admin
            || CATALOG_SCHEMAS
                .iter()
                .any(|s| s.eq_ignore_ascii_case(schema))
            || self.grants.iter().any(|g| g.matches(schema, table))
    }

    pub fn can_see_schema(&self, schema: &str) -> bool {
        self.admin
            || CATALOG_SCHEMAS
                .iter()
                .any(|s| s.eq_ignore_ascii_case(schema))
            || self.grants.iter().any(|g| g.covers_schema(schema))
    }

    /// Predicates that restrict the rows of `schema.table` for this user (ANDed).
    pub fn row_filters(&self, schema: &str, table: &str) -> Vec<&str> {
        self.row_filters
            .iter()
            .filter(|(p, _)| p.matches(schema, table))
            .map(|(_, sql)| sql.as_str())
            .collect()
    }

    pub fn has_row_filters(&self) -> bool {
        !self.row_filters.is_empty() || !self.column_masks.is_empty()
    }

    /// (column, expression) masks on `schema.table` for this user.
    pub fn column_masks(&self, schema: &str, table: &str) -> Vec<(&str, &str)> {
        self.column_masks
            .iter()
            .filter(|(p, _, _)| p.matches(schema, table))
            .map(|(_, c, e)| (c.as_str(), e.as_str()))
            .collect()
    }
}

struct UserEntry {
    verifier: Verifier,
    access: Access,
    max_connections: Option<usize>,
}

/// Users, their verifiers and access, and the state that protects logins.
pub struct Security {
    users: HashMap<String, UserEntry>,
    /// Key for the fake verifiers of unknown users (same answer every time, no hint).
    mock_key: hmac::Key,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
    connections: Mutex<HashMap<String, usize>>,
    /// Bearer tokens handed out after a password check (HTTP `/v1/token`, Flight SQL's
    /// handshake): token → (user, last use).
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

/// How long a bearer token lives without being used.
pub const TOKEN_IDLE: Duration = Duration::from_secs(3600);

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("users", &self.users.len())
            .finish()
    }
}

impl Security {
    pub fn from_config(config: &Config) -> Result<Security, AuthError> {
        let mut users = HashMap::new();
        for (name, u) in &config.users {
            let verifier = resolve_password(name, &u.password)?;
            let mut grants = vec![];
            let mut row_filters = vec![];
            let mut column_masks = vec![];
            for role in &u.roles {
                if let Some(r) = config.roles.get(role) {
                    grants.extend(r.grants.iter().filter_map(|g| ObjectPattern::parse(g).ok()));
                    for (t, sql) in &r.row_filters {
                        if let Ok(p) = ObjectPattern::parse(t) {
                            row_filters.push((p, sql.clone()));
                        }
                    }
                    for (t, masks) in &r.column_masks {
                        if let Ok(p) = ObjectPattern::parse(t) {
                            for (c, e) in masks {
                                column_masks.push((p.clone(), c.to_ascii_lowercase(), e.clone()));
                            }
                        }
                    }
                }
            }
            let access = Access {
                user: name.clone(),
                admin: u.admin,
                grants,
                row_filters: if u.admin { vec![] } else { row_filters },
                column_masks: if u.admin { vec![] } else { column_masks },
            };
            users.insert(
                name.clone(),
                UserEntry {
                    verifier,
                    access,
                    max_connections: u.max_connections,
                },
            );
        }
        Ok(Security {
            users,
            mock_key: hmac::Key::new(hmac::HMAC_SHA256, &random_bytes::<32>()),
            failures: Mutex::new(HashMap::new()),
            connections: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// No users configured: every client is trusted (loopback only).
    pub fn trust(&self) -> bool {
        self.users.is_empty()
    }

    /// The verifier to run SCRAM against: the user's, or for an unknown user a fake one that
    /// no password matches (so the exchange looks the same and fails the same way, 28P01).
    pub fn scram_secret(&self, user: &str) -> ScramSecret {
        match self.users.get(user) {
            Some(u) => u.verifier.secret(),
            None => {
                let tag = hmac::sign(&self.mock_key, user.as_bytes());
                let t = tag.as_ref();
                Verifier {
                    iterations: SCRAM_ITERATIONS,
                    salt: t[..16].to_vec(),
                    stored_key: random_bytes::<32>().to_vec(),
                    server_key: random_bytes::<32>().to_vec(),
                }
                .secret()
            }
        }
    }

    /// Checks a password against the user's verifier (HTTP Basic on the status page).
    pub fn verify(&self, user: &str, password: &str) -> Option<Access> {
        let u = self.users.get(user)?;
        let v = Verifier::derive(password, &u.verifier.salt, u.verifier.iterations);
        // Constant-time comparison of the derived and stored keys.
        let diff = v
            .stored_key
            .iter()
            .zip(&u.verifier.stored_key)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        (diff == 0 && v.stored_key.len() == u.verifier.stored_key.len()).then(|| u.access.clone())
    }

    /// A password login of a door without SCRAM (HTTP Basic, Flight SQL's handshake): held
    /// back and recorded per address like a wire login, counted in `lakegate_logins_failed_total`.
    pub async fn login(&self, user: &str, password: &str, ip: Option<IpAddr>) -> Option<Access> {
        if let Some(ip) = ip {
            let delay = self.login_delay(ip);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        }
        let access = self.verify(user, password);
        match (&access, ip) {
            (Some(_), Some(ip)) => self.record_success(ip),
            (None, Some(ip)) => {
                self.record_failure(ip);
            }
            _ => {}
        }
        if access.is_none() {
            crate::metrics::metrics().logins_failed.inc();
            tracing::warn!(%user, client = ?ip, "password authentication failed");
        }
        access
    }

    /// A new bearer token for `user` (who has just proven their password).
    pub fn issue_token(&self, user: &str) -> String {
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>());
        let mut t = self.tokens.lock().expect("tokens lock");
        t.retain(|_, (_, used)| used.elapsed() < TOKEN_IDLE);
        t.insert(token.clone(), (user.to_string(), Instant::now()));
        token
    }

    /// The access of a token's user while the token is live (each use extends it).
    pub fn token_access(&self, token: &str) -> Option<Access> {
        let mut t = self.tokens.lock().expect("tokens lock");
        let user = match t.get_mut(token) {
            Some((user, used)) if used.elapsed() < TOKEN_IDLE => {
                *used = Instant::now();
                user.clone()
            }
            Some(_) => {
                t.remove(token);
                return None;
            }
            None => return None,
        };
        drop(t);
        self.users.get(&user).map(|u| u.access.clone())
    }

    pub fn access(&self, user: &str) -> Access {
        match self.users.get(user) {
            Some(u) => u.access.clone(),
            None => Access::everything(user),
        }
    }

    /// How long to hold a login attempt from `ip` before answering (grows with recent
    /// failures; zero for the first few).
    pub fn login_delay(&self, ip: IpAddr) -> Duration {
        let mut f = self.failures.lock().expect("failures lock");
        f.retain(|_, (_, at)| at.elapsed() < Duration::from_secs(600));
        match f.get(&ip) {
            Some((n, _)) if *n >= 3 => {
                Duration::from_millis(100u64.saturating_mul(1 << (n - 3).min(6)))
                    .min(Duration::from_secs(5))
            }
            _ => Duration::ZERO,
        }
    }

    pub fn record_failure(&self, ip: IpAddr) -> u32 {
        let mut f = self.failures.lock().expect("failures lock");
        let e = f.entry(ip).or_insert((0, Instant::now()));
        e.0 += 1;
        e.1 = Instant::now();
        e.0
    }

    pub fn record_success(&self, ip: IpAddr) {
        self.failures.lock().expect("failures lock").remove(&ip);
    }

    /// Takes one of the user's connection slots; `None` when the user is at its limit.
    pub fn open_connection(self: &std::sync::Arc<Self>, user: &str) -> Option<ConnectionSlot> {
        let limit = self.users.get(user).and_then(|u| u.max_connections);
        let mut c = self.connections.lock().expect("connections lock");
        let n = c.entry(user.to_string()).or_insert(0);
        if limit.is_some_and(|l| *n >= l) {
            return None;
        }
        *n += 1;
        Some(ConnectionSlot {
            security: self.clone(),
            user: user.to_string(),
        })
    }
}

/// A held per-user connection slot, released on drop.
pub struct ConnectionSlot {
    security: std::sync::Arc<Security>,
    user: String,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut c = self.security.connections.lock().expect("connections lock");
        if let Some(n) = c.get_mut(&self.user) {
            *n = n.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_matches_postgres() {
        // Expected string from an independent derivation (Python hashlib.pbkdf2_hmac + hmac,
        // RFC 5802 / Postgres' pg_authid format).
        let v = Verifier::derive("secret", b"saltsaltsaltsalt", 4096);
        let s = v.to_string();
        assert_eq!(
            s,
            "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$Ce3wZiZ+yIBCjltccfRiqM0+XDsLE3qPdkEeZKe3hus=:k3q4nlLsA09ST5FLo9zNmfyXR+Ci1J4KmBK5JRVSxeI="
        );
        assert_eq!(Verifier::parse(&s).unwrap(), v);
        assert!(Verifier::parse("secret").is_err());
        assert!(check_password_syntax("hunter2").is_err());
        assert!(check_password_syntax("${X}").is_ok());
    }

    #[test]
    fn grants_match_tables_and_schemas() {
        let a = Access {
            user: "a".into(),
            admin: false,
            grants: vec![
                ObjectPattern::parse("gold.*").unwrap(),
                ObjectPattern::parse("silver.Orders").unwrap(),
            ],
            row_filters: vec![],
            column_masks: vec![],
        };
        assert!(a.can_read("gold", "anything"));
        assert!(a.can_read("SILVER", "orders"));
        assert!(!a.can_read("silver", "users"));
        assert!(a.can_see_schema("silver") && !a.can_see_schema("bronze"));
        assert!(a.can_read("pg_catalog", "pg_class"));
        assert!(ObjectPattern::parse("orders").is_err());
        // A wildcard is every zone, not lakegate's own tables; those are granted by name.
        let star = |g: &str| Access {
            grants: vec![ObjectPattern::parse(g).unwrap()],
            ..a.clone()
        };
        assert!(star("*").can_read("bronze", "x") && star("*.x").can_read("gold", "x"));
        assert!(!star("*").can_read("lakegate", "query_log"));
        assert!(!star("*").can_see_schema("LAKEGATE"));
        assert!(star("lakegate.*").can_read("lakegate", "query_log"));
        assert!(star("lakegate.freshness").can_read("lakegate", "freshness"));
    }

    #[test]
    fn rules_reading_settings_the_user_sets_are_refused() {
        let with = |filter: &str, mask: &str| {
            let mut c = Config::default();
            c.roles.insert(
                "r".into(),
                crate::config::RoleConfig {
                    grants: vec!["silver.*".into()],
                    row_filters: [("silver.t".to_string(), filter.to_string())].into(),
                    column_masks: [(
                        "silver.t".to_string(),
                        [("email".to_string(), mask.to_string())].into(),
                    )]
                    .into(),
                },
            );
            check_config(&c)
        };
        assert!(with("tenant = current_user", "'***'").is_ok());
        let e = with("tenant = current_setting('app.tenant')", "'***'").unwrap_err();
        assert!(
            e.1.contains("roles.r.row_filters.silver.t") && e.1.contains("SET"),
            "{e:?}"
        );
        let e = with(
            "true",
            "CASE WHEN CURRENT_SETTING('x.y') = '1' THEN email END",
        )
        .unwrap_err();
        assert!(e.1.contains("column_masks.silver.t.email"), "{e:?}");
    }
}
