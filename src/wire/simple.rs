//! The simple query protocol: a query string's statements run one after the other, each
//! streamed before the next starts.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::portal::Format;
use pgwire::api::query::{SimpleQueryHandler, send_execution_response};
use pgwire::api::results::{Response, Tag};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireConnectionState};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use tracing::debug;

use super::connection::{Busy, Connection};
use super::copy::send_copy;
use super::error::error_info;
use super::results::{core_transaction, formats, query_response, wire_status};
use crate::engine::EngineError;
use crate::engine::Reply;

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
                        // Rows and COPY stream after their header: an error midway is an
                        // ErrorResponse that ends this query string (the socket's own errors
                        // end the connection).
                        let streamed = match outcome.reply {
                            Reply::Rows { schema, rows, tag } => {
                                let fmts = formats(&Format::UnifiedText, schema.fields().len());
                                let results = query_response(schema, rows, fmts, tag);
                                send_query_response(client, results, true).await
                            }
                            Reply::Done(tag) => {
                                send_execution_response(client, Tag::new(tag)).await
                            }
                            Reply::Copy {
                                schema,
                                rows,
                                format,
                            } => match send_copy(client, schema, rows, &format).await {
                                Ok(n) => {
                                    send_execution_response(
                                        client,
                                        Tag::new("COPY").with_rows(n as usize),
                                    )
                                    .await
                                }
                                Err(e) => Err(e),
                            },
                        };
                        if let Err(e) = streamed {
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
            crate::engine::SqlState::InternalError.code().into(),
            "simple query handled in on_query".into(),
        ))))
    }
}
