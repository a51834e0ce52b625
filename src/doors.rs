//! What the doors without a Postgres socket (the HTTP query API, Flight SQL) share: one
//! statement, from the caller's access to its streaming rows, under the wire's rules — the
//! user's connection limit, a session with the user's grants, row filters and masks, the
//! statement timeout, a pid in `lakegate.queries` and the query log, the status page's cancel.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::ScalarValue;
use futures::{StreamExt, stream};

use crate::auth::{Access, ConnectionSlot, Security};
use crate::engine::activity::{Activity, Running};
use crate::engine::cancel::QuerySlot;
use crate::engine::{Engine, EngineError, Prepared, Reply, Rows, Session, Transaction};
use crate::wire::{CancelRegistry, Registered};

/// The server parts a door runs statements with.
pub struct Doors {
    pub engine: Arc<Engine>,
    pub security: Arc<Security>,
    pub activity: Arc<Activity>,
    pub registry: Arc<CancelRegistry>,
}

/// Why a statement did not start, with its SQLSTATE.
#[derive(Debug, thiserror::Error)]
pub enum DoorError {
    #[error("too many connections for role \"{0}\"")]
    Busy(String),
    #[error("the query is empty")]
    Empty,
    #[error("the request supplies {given} parameters, but the statement requires {wanted}")]
    Parameters { given: usize, wanted: usize },
    #[error(transparent)]
    Engine(EngineError),
}

/// A door's error as Postgres would say it.
pub struct Said {
    pub sqlstate: String,
    pub message: String,
    /// 1-based character position in the statement, for syntax errors.
    pub position: Option<u64>,
}

impl DoorError {
    /// The SQLSTATE and message (counted in `lakegate_query_errors_total` like the wire's).
    pub fn said(&self, sql: Option<&str>) -> Said {
        let (sqlstate, message) = match self {
            DoorError::Busy(_) => (
                crate::engine::SqlState::TooManyConnections.code(),
                self.to_string(),
            ),
            DoorError::Empty => (
                crate::engine::SqlState::SyntaxError.code(),
                self.to_string(),
            ),
            DoorError::Parameters { .. } => (
                crate::engine::SqlState::ProtocolViolation.code(),
                self.to_string(),
            ),
            DoorError::Engine(e) => {
                let info = crate::wire::error::error_info(e, sql);
                return Said {
                    sqlstate: info.code,
                    message: info.message,
                    position: info.position.and_then(|p| p.parse().ok()),
                };
            }
        };
        crate::metrics::metrics().query_error(sqlstate);
        Said {
            sqlstate: sqlstate.into(),
            message,
            position: None,
        }
    }
}

impl From<EngineError> for DoorError {
    fn from(e: EngineError) -> Self {
        DoorError::Engine(e)
    }
}

/// What a statement holds while its rows stream: the user's connection slot, its pid, its
/// entry in `lakegate.queries` (logged as an error unless [`Held::finished`] is called).
pub struct Held {
    _connection: ConnectionSlot,
    _registered: Registered,
    running: Option<Running>,
    session: Session,
    slot: Arc<QuerySlot>,
}

impl Held {
    /// The statement ran to its end: it is logged as `ok`.
    pub fn finished(&mut self) {
        if let Some(mut r) = self.running.take() {
            r.ok();
        }
    }

    /// Cancels the running statement (Flight SQL's CancelQuery).
    pub fn slot(&self) -> Arc<QuerySlot> {
        self.slot.clone()
    }

    pub fn session(&self) -> &Session {
        &self.session
    }
}

/// A statement that started.
pub struct Started {
    pub schema: SchemaRef,
    /// The rows, or `None` for a command without rows (with its tag).
    pub rows: Option<Rows>,
    pub tag: &'static str,
    /// What the client should be told (freshness of what the statement reads).
    pub notices: Vec<crate::engine::run::Notice>,
    pub held: Held,
}

impl Doors {
    /// Prepares `sql` for `access` without running it: its result schema and the types its
    /// parameters take (Flight SQL's GetFlightInfo and CreatePreparedStatement).
    pub async fn prepare(&self, access: Access, sql: &str) -> Result<Prepared, DoorError> {
        let session = self.engine.new_session(&access.user.clone(), access);
        let slot = QuerySlot::default();
        session
            .prepare(sql, 0, &slot)
            .await?
            .ok_or(DoorError::Empty)
    }

    /// Runs one statement for `access` under `slot` (which cancels it, also while it plans
    /// and computes its first batch). `given` parameter values are turned into the
    /// statement's types by `values`. The first batch is computed before this returns, so
    /// a failure before any row (a timeout, a missing file) is an error here, not mid-stream.
    pub async fn start(
        &self,
        access: Access,
        sql: &str,
        slot: Arc<QuerySlot>,
        given: usize,
        values: impl FnOnce(&[Option<DataType>]) -> Result<Vec<ScalarValue>, EngineError>,
    ) -> Result<Started, DoorError> {
        let user = access.user.clone();
        let connection = self
            .security
            .open_connection(&user)
            .ok_or_else(|| DoorError::Busy(user.clone()))?;
        let session = self.engine.new_session(&user, access);
        let registered = self.registry.register(slot.clone());
        let mut running = self.activity.begin(registered.pid, &user, Arc::from(sql));
        tracing::debug!(%user, pid = registered.pid, sql, "statement from a door");
        let prepared = session
            .prepare(sql, 0, &slot)
            .await?
            .ok_or(DoorError::Empty)?;
        if given != prepared.targets.len() {
            return Err(DoorError::Parameters {
                given,
                wanted: prepared.targets.len(),
            });
        }
        let outcome = session
            .run_prepared(
                &prepared,
                || values(&prepared.targets),
                Transaction::Idle,
                &slot,
            )
            .await?;
        let notices = outcome.notices;
        let (schema, rows, tag) = match outcome.reply {
            Reply::Rows { schema, rows, tag } => (schema, Some(rows), tag),
            // COPY TO STDOUT through a door without COPY: its rows, as a query's.
            Reply::Copy { schema, rows, .. } => (schema, Some(rows), "COPY"),
            Reply::Done(tag) => {
                running.ok();
                (
                    Arc::new(datafusion::arrow::datatypes::Schema::empty()),
                    None,
                    tag,
                )
            }
        };
        let rows = match rows {
            Some(mut rows) => {
                let first = match rows.next().await {
                    Some(Err(e)) => return Err(e.into()),
                    first => first,
                };
                // An ended stream is not polled again.
                Some(match first {
                    Some(first) => Box::pin(stream::once(async { first }).chain(rows)) as Rows,
                    None => Box::pin(stream::empty()) as Rows,
                })
            }
            None => None,
        };
        Ok(Started {
            schema,
            rows,
            tag,
            notices,
            held: Held {
                _connection: connection,
                _registered: registered,
                running: Some(running),
                session,
                slot,
            },
        })
    }
}
