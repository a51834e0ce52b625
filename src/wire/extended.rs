//! The extended query protocol: Parse (the core prepares and infers parameter types), Bind,
//! Describe and Execute. pgwire's default Execute buffers a whole portal, so `on_execute` is
//! ours and sends rows as they are encoded, suspending at `max_rows`.

use std::fmt::Debug;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use futures::{Sink, SinkExt, StreamExt};
use pgwire::api::portal::{Format, Portal, PortalExecutionState};
use pgwire::api::query::{ExtendedQueryHandler, send_execution_response};
use pgwire::api::results::{
    DescribePortalResponse, DescribeStatementResponse, FieldInfo, Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireConnectionState, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::extendedquery::{Execute, PortalSuspended};
use pgwire::messages::response::TransactionStatus;
use tracing::debug;

use super::connection::{Busy, Connection};
use super::copy::send_copy;
use super::error::to_pgwire;
use super::params;
use super::results::{core_transaction, field_infos, formats, query_response, wire_status};
use super::startup::fatal;
use crate::engine::Reply;
use crate::engine::cancel::QuerySlot;
use crate::engine::{Command, EngineError, Session};

/// A prepared statement: the core's, and the Postgres types of its parameters (as declared by
/// the client, else inferred).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub(super) core: crate::engine::Prepared,
    pub(super) params: Vec<Type>,
}

pub struct StatementParser {
    pub(super) session: Arc<OnceLock<Arc<Session>>>,
    /// Planning at Parse is bounded and cancelable like running.
    pub(super) slot: Arc<QuerySlot>,
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
        let session = self.session.get().cloned().ok_or_else(|| {
            fatal(
                crate::engine::SqlState::ProtocolViolation.code(),
                "parse before startup".into(),
            )
        })?;
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
                        .map(|t| crate::engine::pg_types::pg_type_of(t).0)
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

impl Connection {
    /// `DEALLOCATE name`, `DEALLOCATE ALL` and `DISCARD ALL` drop prepared statements (and,
    /// for the last two, every portal).
    pub(super) fn release_prepared<S: PortalStore + ?Sized>(&self, store: &S, command: &Command) {
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
}

/// Values for a portal's parameters, in `$n` order.
pub(super) fn bind(
    stmt: &Prepared,
    portal: &Portal<Prepared>,
) -> Result<Vec<ScalarValue>, EngineError> {
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
            crate::engine::SqlState::InternalError.code().into(),
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
            let mut copied = false;
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
                    // COPY is not suspended at max_rows (nor is it in Postgres).
                    Reply::Copy {
                        schema,
                        rows,
                        format,
                    } => {
                        let n = send_copy(client, schema, rows, &format).await?;
                        send_execution_response(client, Tag::new("COPY").with_rows(n as usize))
                            .await?;
                        copied = true;
                    }
                }
                if matches!(stmt.core.command, Command::Commit | Command::Rollback) {
                    client.portal_store().rm_portal(pgwire::api::DEFAULT_NAME);
                }
                status = wire_status(outcome.transaction);
            }
            if copied {
                // Done, like a portal that ran to its end (COPY has its own CommandComplete).
                *state = PortalExecutionState::Finished;
            } else {
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
