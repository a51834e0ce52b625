//! The Arrow Flight SQL door (`flight: {listen}`): statements and prepared statements answer
//! Arrow record batches as the engine makes them, streamed without collecting, and the
//! catalog calls (GetCatalogs, GetDbSchemas, GetTables, GetTableTypes, GetSqlInfo) answer from
//! the caller's own `information_schema`. It is a renderer over the same session core as the
//! Postgres wire ([`crate::doors`]): the same users (the handshake checks the password against
//! the SCRAM verifier and hands out a bearer token), grants, row filters, masks, limits, query
//! log, metrics and TLS certificate. Read-only, like the wire.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightServiceServer;
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionCancelQueryRequest, ActionCancelQueryResult, ActionClosePreparedStatementRequest,
    ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult, Any,
    CommandGetCatalogs, CommandGetDbSchemas, CommandGetSqlInfo, CommandGetTableTypes,
    CommandGetTables, CommandPreparedStatementQuery, CommandStatementQuery, CommandStatementUpdate,
    DoPutPreparedStatementResult, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse,
    IpcMessage, SchemaAsIpc, Ticket,
};
use bytes::Bytes;
use datafusion::arrow::array::{Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion::common::ScalarValue;
use futures::{Stream, StreamExt, TryStreamExt, stream};
use prost::Message;
use tokio_util::sync::CancellationToken;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status, Streaming};
use tracing::{debug, info, warn};

use crate::auth::Access;
use crate::doors::{DoorError, Doors, Said, Started};
use crate::engine::EngineError;
use crate::engine::cancel::QuerySlot;

type Running = Arc<Mutex<HashMap<Bytes, (String, Arc<QuerySlot>)>>>;

/// A ticket listed for CancelQuery until its statement's stream ends or is dropped.
struct Listed {
    running: Running,
    ticket: Bytes,
}

impl Drop for Listed {
    fn drop(&mut self) {
        self.running
            .lock()
            .expect("running lock")
            .remove(&self.ticket);
    }
}

type DoGetStream = Pin<Box<dyn Stream<Item = Result<arrow_flight::FlightData, Status>> + Send>>;

/// A prepared statement of this door: whose it is, its SQL and parameter types, and the
/// parameter values bound last (DoPut).
struct Statement {
    user: String,
    sql: String,
    params: Option<RecordBatch>,
}

/// Most prepared statements one user keeps open (a client that never closes them cannot
/// grow the server without bound).
const STATEMENTS_PER_USER: usize = 256;

pub struct FlightDoor {
    doors: Arc<Doors>,
    statements: Mutex<HashMap<Bytes, Statement>>,
    /// The statements streaming now, by ticket, for CancelQuery.
    running: Running,
    sql_info: SqlInfoData,
}

impl FlightDoor {
    pub fn new(doors: Arc<Doors>) -> FlightDoor {
        let mut info = SqlInfoDataBuilder::new();
        info.append(SqlInfo::FlightSqlServerName, "lakegate");
        info.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
        // The Arrow IPC format version (Schema.fbs MetadataVersion V5).
        info.append(SqlInfo::FlightSqlServerArrowVersion, "1.5");
        info.append(SqlInfo::FlightSqlServerReadOnly, true);
        info.append(SqlInfo::FlightSqlServerSql, true);
        info.append(SqlInfo::FlightSqlServerSubstrait, false);
        info.append(SqlInfo::FlightSqlServerTransaction, 0i32);
        info.append(SqlInfo::FlightSqlServerCancel, true);
        info.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
        info.append(SqlInfo::SqlDdlCatalog, false);
        info.append(SqlInfo::SqlDdlSchema, false);
        info.append(SqlInfo::SqlDdlTable, false);
        FlightDoor {
            doors,
            statements: Mutex::new(HashMap::new()),
            running: Arc::new(Mutex::new(HashMap::new())),
            sql_info: info.build().expect("static SqlInfo"),
        }
    }

    /// The caller: a bearer token from the handshake, or HTTP Basic on the call itself
    /// (throttled per address like a wire login).
    async fn caller(
        &self,
        metadata: &MetadataMap,
        peer: Option<SocketAddr>,
    ) -> Result<Access, Status> {
        let security = &self.doors.security;
        if security.trust() {
            return Ok(Access::everything("trust"));
        }
        let header = metadata
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| unauthenticated("authentication required (handshake or basic auth)"))?;
        if let Some(token) = header.strip_prefix("Bearer ") {
            return security.token_access(token.trim()).ok_or_else(|| {
                crate::metrics::metrics().logins_failed.inc();
                unauthenticated("the bearer token is not valid (unknown or expired)")
            });
        }
        let (user, password) = crate::auth::basic_credentials(header)
            .ok_or_else(|| unauthenticated("authorization is neither Basic nor Bearer"))?;
        security
            .login(&user, &password, peer.map(|p| p.ip()))
            .await
            .ok_or_else(|| {
                Status::unauthenticated(format!(
                    "password authentication failed for user \"{user}\" (SQLSTATE 28P01)"
                ))
            })
    }

    async fn caller_of<T>(&self, request: &Request<T>) -> Result<Access, Status> {
        self.caller(request.metadata(), request.remote_addr()).await
    }

    /// Runs `sql` and streams its rows; `ticket` names it for CancelQuery from the moment
    /// it starts planning until its stream ends or is dropped.
    async fn stream(
        &self,
        access: Access,
        sql: &str,
        params: Option<&RecordBatch>,
        ticket: Bytes,
    ) -> Result<Response<DoGetStream>, Status> {
        let given = params.map_or(0, |b| b.num_columns());
        let slot = Arc::new(QuerySlot::default());
        self.running
            .lock()
            .expect("running lock")
            .insert(ticket.clone(), (access.user.clone(), slot.clone()));
        let listed = Listed {
            running: self.running.clone(),
            ticket,
        };
        let started = self
            .doors
            .start(access, sql, slot, given, |targets| bind(params, targets))
            .await
            .map_err(|e| door_status(&e, Some(sql)))?;
        // Freshness notices as response metadata (`severity: message`), as the HTTP door's
        // headers: Flight has no notice message of its own.
        let notices: Vec<String> = started
            .notices
            .iter()
            .map(|n| {
                format!("{}: {}", n.severity, n.message)
                    .chars()
                    .map(|c| {
                        if c.is_ascii_graphic() || c == ' ' {
                            c
                        } else {
                            '?'
                        }
                    })
                    // Header limits (gRPC's 8–16 KiB) must not fail the call.
                    .take(1000)
                    .collect()
            })
            .collect();
        let mut response = Response::new(Self::rows(started, listed));
        for n in notices {
            if let Ok(v) = n.parse() {
                response.metadata_mut().append("lakegate-notice", v);
            }
        }
        Ok(response)
    }

    fn rows(started: Started, listed: Listed) -> DoGetStream {
        let Started {
            schema, rows, held, ..
        } = started;
        let rows = rows.unwrap_or_else(|| Box::pin(stream::empty()));
        let target = schema.clone();
        let batches = stream::unfold(Some((rows, held, listed)), move |state| {
            let target = target.clone();
            async move {
                let (mut rows, mut held, listed) = state?;
                match rows.next().await {
                    Some(Ok(b)) => Some((
                        crate::engine::run::conform(b, &target)
                            .map_err(|e| flight_error(&DoorError::Engine(e))),
                        Some((rows, held, listed)),
                    )),
                    Some(Err(e)) => Some((Err(flight_error(&DoorError::Engine(e))), None)),
                    None => {
                        held.finished();
                        drop(listed);
                        None
                    }
                }
            }
        });
        Box::pin(
            FlightDataEncoderBuilder::new()
                .with_schema(schema)
                .build(batches)
                .map_err(Status::from),
        )
    }

    /// A FlightInfo whose one endpoint's ticket is `ticket`, for results of `schema`.
    fn info(
        schema: &Schema,
        ticket: Bytes,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let info = FlightInfo::new()
            .try_with_schema(schema)
            .map_err(|e| Status::internal(format!("encoding the schema: {e}")))?
            .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
            .with_descriptor(descriptor);
        Ok(Response::new(info))
    }

    /// A catalog call's FlightInfo: its result schema, and the command itself as the ticket.
    async fn command_info(
        &self,
        request: Request<FlightDescriptor>,
        schema: &Schema,
        command: Vec<u8>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller_of(&request).await?;
        Self::info(schema, command.into(), request.into_inner())
    }

    /// Rows of a catalog query run for `access` (so it sees only what the user may).
    async fn catalog_rows(&self, access: Access, sql: &str) -> Result<Vec<RecordBatch>, Status> {
        let started = self
            .doors
            .start(access, sql, Default::default(), 0, |_| Ok(vec![]))
            .await
            .map_err(|e| door_status(&e, Some(sql)))?;
        let Started { rows, mut held, .. } = started;
        let mut out = vec![];
        if let Some(mut rows) = rows {
            while let Some(b) = rows.next().await {
                out.push(b.map_err(|e| door_status(&DoorError::Engine(e), Some(sql)))?);
            }
        }
        held.finished();
        Ok(out)
    }

    fn one_batch(batch: Result<RecordBatch, FlightError>) -> DoGetStream {
        let schema = batch
            .as_ref()
            .map(|b| b.schema())
            .unwrap_or_else(|_| Arc::new(Schema::empty()));
        Box::pin(
            FlightDataEncoderBuilder::new()
                .with_schema(schema)
                .build(stream::once(async { batch }))
                .map_err(Status::from),
        )
    }
}

fn unauthenticated(message: &str) -> Status {
    Status::unauthenticated(format!("{message} (SQLSTATE 28000)"))
}

/// A statement's error as a gRPC status: the code by SQLSTATE class, the SQLSTATE in the
/// message (what ADBC and pyarrow show) and in `x-lakegate-sqlstate` metadata.
fn said_status(said: &Said) -> Status {
    use tonic::Code;
    let s = said.sqlstate.as_str();
    let code = match s {
        "42501" => Code::PermissionDenied,
        "57014" => Code::Cancelled,
        "0A000" => Code::Unimplemented,
        "42P01" | "3F000" | "3D000" | "34000" | "26000" => Code::NotFound,
        _ if s.starts_with("28") => Code::Unauthenticated,
        _ if s.starts_with("53") || s.starts_with("54") => Code::ResourceExhausted,
        _ if s.starts_with("XX") || s.starts_with("58") => Code::Internal,
        _ => Code::InvalidArgument,
    };
    let mut status = Status::new(code, format!("{} (SQLSTATE {s})", said.message));
    if let Ok(v) = MetadataValue::try_from(s) {
        status.metadata_mut().insert("x-lakegate-sqlstate", v);
    }
    status
}

fn door_status(e: &DoorError, sql: Option<&str>) -> Status {
    said_status(&e.said(sql))
}

fn flight_error(e: &DoorError) -> FlightError {
    FlightError::Tonic(Box::new(door_status(e, None)))
}

/// The first row of a bound parameter batch as the statement's parameter values.
fn bind(
    params: Option<&RecordBatch>,
    targets: &[Option<DataType>],
) -> Result<Vec<ScalarValue>, EngineError> {
    let Some(batch) = params else {
        return Ok(vec![]);
    };
    if batch.num_rows() != 1 {
        return Err(EngineError::Unsupported(format!(
            "a query binds one row of parameters, not {}",
            batch.num_rows()
        )));
    }
    batch
        .columns()
        .iter()
        .zip(targets)
        .map(|(c, t)| {
            let v = ScalarValue::try_from_array(c.as_ref(), 0)?;
            Ok(match t {
                Some(t) if v.is_null() => ScalarValue::try_from(t)?,
                Some(t) if *t != v.data_type() => v.cast_to(t)?,
                _ => v,
            })
        })
        .collect::<datafusion::error::Result<Vec<_>>>()
        .map_err(EngineError::from)
}

fn parameter_schema(targets: &[Option<DataType>]) -> Schema {
    Schema::new(
        targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                Field::new(
                    format!("${}", i + 1),
                    t.clone().unwrap_or(DataType::Utf8),
                    true,
                )
            })
            .collect::<Vec<_>>(),
    )
}

fn ipc_schema(schema: &Schema) -> Result<Bytes, Status> {
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: datafusion::arrow::error::ArrowError| {
            Status::internal(format!("encoding a schema: {e}"))
        })?;
    Ok(bytes)
}

fn new_handle() -> Bytes {
    use base64::Engine as _;
    Bytes::from(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(&crate::auth::random_secret()[..18]),
    )
}

fn strings(batches: &[RecordBatch], column: usize) -> Vec<Option<String>> {
    let mut out = vec![];
    for b in batches {
        let c = datafusion::arrow::compute::cast(b.column(column), &DataType::Utf8)
            .expect("text columns cast to Utf8");
        let c = c
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("a Utf8 column");
        out.extend((0..c.len()).map(|i| c.is_valid(i).then(|| c.value(i).to_string())));
    }
    out
}

/// A SQL identifier, quoted.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[tonic::async_trait]
impl FlightSqlService for FlightDoor {
    type FlightService = FlightDoor;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<
        Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>,
        Status,
    > {
        let access = self.caller_of(&request).await?;
        let token = self.doors.security.issue_token(&access.user);
        debug!(user = %access.user, "flight handshake");
        let reply = HandshakeResponse {
            protocol_version: 0,
            payload: Bytes::from(token.clone()),
        };
        let mut response: Response<Pin<Box<dyn Stream<Item = _> + Send>>> =
            Response::new(Box::pin(stream::iter(vec![Ok(reply)])));
        let header = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|e| Status::internal(e.to_string()))?;
        response.metadata_mut().insert("authorization", header);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let access = self.caller_of(&request).await?;
        let prepared = self
            .doors
            .prepare(access, &query.query)
            .await
            .map_err(|e| door_status(&e, Some(&query.query)))?;
        let schema = prepared
            .schema
            .clone()
            .unwrap_or_else(|| Arc::new(Schema::empty()));
        // The ticket carries the SQL: DoGet plans it again for whoever presents it, with
        // that caller's access, so a ticket grants nothing by itself.
        let ticket = TicketStatementQuery {
            statement_handle: Bytes::from(query.query.clone()),
        }
        .as_any()
        .encode_to_vec();
        Self::info(&schema, ticket.into(), request.into_inner())
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let access = self.caller_of(&request).await?;
        let sql = String::from_utf8(ticket.statement_handle.to_vec()).map_err(|_| {
            Status::invalid_argument("the ticket is not a statement of this server")
        })?;
        let key = request.into_inner().ticket;
        self.stream(access, &sql, None, key).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let access = self.caller_of(&request).await?;
        let user = access.user.clone();
        let prepared = self
            .doors
            .prepare(access, &query.query)
            .await
            .map_err(|e| door_status(&e, Some(&query.query)))?;
        let schema = prepared
            .schema
            .clone()
            .unwrap_or_else(|| Arc::new(Schema::empty()));
        let handle = new_handle();
        {
            let mut statements = self.statements.lock().expect("statements lock");
            if statements.values().filter(|s| s.user == user).count() >= STATEMENTS_PER_USER {
                return Err(said_status(&Said {
                    sqlstate: "53400".into(),
                    message: format!(
                        "{user} has {STATEMENTS_PER_USER} prepared statements open; close some"
                    ),
                    position: None,
                }));
            }
            statements.insert(
                handle.clone(),
                Statement {
                    user,
                    sql: query.query.clone(),
                    params: None,
                },
            );
        }
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle,
            dataset_schema: ipc_schema(&schema)?,
            parameter_schema: ipc_schema(&parameter_schema(&prepared.targets))?,
        })
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let access = self.caller_of(&request).await?;
        let stream = arrow_flight::decode::FlightRecordBatchStream::new_from_flight_data(
            request.into_inner().map_err(FlightError::from),
        );
        let batches: Vec<RecordBatch> = stream.try_collect().await.map_err(Status::from)?;
        let params = match batches.len() {
            0 => None,
            1 => batches.into_iter().next(),
            _ => Some(
                datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches)
                    .map_err(|e| Status::invalid_argument(e.to_string()))?,
            ),
        };
        let mut statements = self.statements.lock().expect("statements lock");
        let statement = statements
            .get_mut(&query.prepared_statement_handle)
            .filter(|s| s.user == access.user)
            .ok_or_else(|| Status::not_found("no such prepared statement (SQLSTATE 26000)"))?;
        statement.params = params;
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(query.prepared_statement_handle),
        })
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let access = self.caller_of(&request).await?;
        let sql = {
            let statements = self.statements.lock().expect("statements lock");
            statements
                .get(&query.prepared_statement_handle)
                .filter(|s| s.user == access.user)
                .map(|s| s.sql.clone())
                .ok_or_else(|| Status::not_found("no such prepared statement (SQLSTATE 26000)"))?
        };
        let prepared = self
            .doors
            .prepare(access, &sql)
            .await
            .map_err(|e| door_status(&e, Some(&sql)))?;
        let schema = prepared
            .schema
            .clone()
            .unwrap_or_else(|| Arc::new(Schema::empty()));
        Self::info(
            &schema,
            query.as_any().encode_to_vec().into(),
            request.into_inner(),
        )
    }

    async fn do_get_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let access = self.caller_of(&request).await?;
        let (sql, params) = {
            let statements = self.statements.lock().expect("statements lock");
            let s = statements
                .get(&query.prepared_statement_handle)
                .filter(|s| s.user == access.user)
                .ok_or_else(|| Status::not_found("no such prepared statement (SQLSTATE 26000)"))?;
            (s.sql.clone(), s.params.clone())
        };
        let key = request.into_inner().ticket;
        self.stream(access, &sql, params.as_ref(), key).await
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        let access = self.caller_of(&request).await?;
        let mut statements = self.statements.lock().expect("statements lock");
        if statements
            .get(&query.prepared_statement_handle)
            .is_some_and(|s| s.user == access.user)
        {
            statements.remove(&query.prepared_statement_handle);
        }
        Ok(())
    }

    async fn do_put_statement_update(
        &self,
        query: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        // The lake is read-only for clients: the engine refuses (25006) as on the wire.
        let access = self.caller_of(&request).await?;
        let started = self
            .doors
            .start(access, &query.query, Default::default(), 0, |_| Ok(vec![]))
            .await
            .map_err(|e| door_status(&e, Some(&query.query)))?;
        let mut held = started.held;
        held.finished();
        Ok(0)
    }

    async fn do_action_cancel_query(
        &self,
        query: ActionCancelQueryRequest,
        request: Request<Action>,
    ) -> Result<ActionCancelQueryResult, Status> {
        let access = self.caller_of(&request).await?;
        let info = FlightInfo::decode(query.info)
            .map_err(|e| Status::invalid_argument(format!("not a FlightInfo: {e}")))?;
        let running = self.running.lock().expect("running lock");
        // CancelResult (not re-exported by arrow-flight): 1 CANCELLED, 3 NOT_CANCELLABLE.
        let mut result = 3;
        for ticket in info.endpoint.iter().filter_map(|e| e.ticket.as_ref()) {
            // A ticket names SQL, not a user: only the caller running it may cancel it.
            if let Some((_, slot)) = running
                .get(&ticket.ticket)
                .filter(|(user, _)| *user == access.user)
            {
                slot.cancel_all();
                result = 1;
            }
        }
        Ok(ActionCancelQueryResult { result })
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        self.command_info(request, &schema, query.as_any().encode_to_vec())
            .await
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let access = self.caller_of(&request).await?;
        let rows = self
            .catalog_rows(
                access,
                "SELECT DISTINCT catalog_name FROM information_schema.schemata ORDER BY 1",
            )
            .await?;
        let mut builder = query.into_builder();
        for c in strings(&rows, 0).into_iter().flatten() {
            builder.append(c);
        }
        Ok(Response::new(Self::one_batch(builder.build())))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        self.command_info(request, &schema, query.as_any().encode_to_vec())
            .await
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let access = self.caller_of(&request).await?;
        let rows = self
            .catalog_rows(
                access,
                "SELECT catalog_name, schema_name FROM information_schema.schemata ORDER BY 1, 2",
            )
            .await?;
        let mut builder = query.into_builder();
        for (c, s) in strings(&rows, 0).into_iter().zip(strings(&rows, 1)) {
            builder.append(c.unwrap_or_default(), s.unwrap_or_default());
        }
        Ok(Response::new(Self::one_batch(builder.build())))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        self.command_info(request, &schema, query.as_any().encode_to_vec())
            .await
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let access = self.caller_of(&request).await?;
        let include_schema = query.include_schema;
        let rows = self
            .catalog_rows(
                access.clone(),
                "SELECT table_catalog, table_schema, table_name, table_type \
                 FROM information_schema.tables ORDER BY 1, 2, 3",
            )
            .await?;
        let mut builder = query.into_builder();
        let catalogs = strings(&rows, 0);
        let schemas = strings(&rows, 1);
        let names = strings(&rows, 2);
        let types = strings(&rows, 3);
        for i in 0..names.len() {
            let (c, s, n) = (
                catalogs[i].clone().unwrap_or_default(),
                schemas[i].clone().unwrap_or_default(),
                names[i].clone().unwrap_or_default(),
            );
            // Flight SQL's (and JDBC's) words for the kinds.
            let kind = match types[i].as_deref() {
                Some("BASE TABLE") => "TABLE",
                Some("VIEW") => "VIEW",
                Some(other) => other,
                None => "TABLE",
            };
            let schema = if include_schema {
                let sql = format!("SELECT * FROM {}.{}.{}", quote(&c), quote(&s), quote(&n));
                match self.doors.prepare(access.clone(), &sql).await {
                    Ok(p) => p
                        .schema
                        .map(|s| s.as_ref().clone())
                        .unwrap_or_else(Schema::empty),
                    Err(e) => {
                        debug!(table = %n, error = %e, "no schema for GetTables");
                        Schema::empty()
                    }
                }
            } else {
                Schema::empty()
            };
            builder
                .append(c, s, n, kind, &schema)
                .map_err(|e| Status::internal(e.to_string()))?;
        }
        Ok(Response::new(Self::one_batch(builder.build())))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        self.command_info(request, &schema, query.as_any().encode_to_vec())
            .await
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.caller_of(&request).await?;
        let mut builder = query.into_builder();
        for kind in ["TABLE", "VIEW"] {
            builder.append(kind);
        }
        Ok(Response::new(Self::one_batch(builder.build())))
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder(&self.sql_info).schema();
        self.command_info(request, &schema, query.as_any().encode_to_vec())
            .await
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.caller_of(&request).await?;
        Ok(Response::new(Self::one_batch(
            query.into_builder(&self.sql_info).build(),
        )))
    }

    async fn do_get_fallback(
        &self,
        _request: Request<Ticket>,
        message: Any,
    ) -> Result<Response<DoGetStream>, Status> {
        Err(Status::unimplemented(format!(
            "{} is not served (SQLSTATE 0A000)",
            message.type_url
        )))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

/// Why the Flight SQL endpoint did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Bind(std::io::Error),
    #[error("TLS: {0}")]
    Tls(tonic::transport::Error),
}

/// Binds `addr` and serves Flight SQL until `shutdown`; returns the bound address. With
/// `tls` (the server's certificate and key, PEM) every connection is TLS: gRPC has no
/// in-band upgrade, so Flight SQL is TLS whenever the server has a certificate.
pub async fn start(
    addr: &str,
    doors: Arc<Doors>,
    tls: Option<(Vec<u8>, Vec<u8>)>,
    shutdown: CancellationToken,
) -> Result<SocketAddr, StartError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(StartError::Bind)?;
    let bound = listener.local_addr().map_err(StartError::Bind)?;
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let mut builder = Server::builder();
    let secure = tls.is_some();
    if let Some((cert, key)) = tls {
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(Identity::from_pem(cert, key)))
            .map_err(StartError::Tls)?;
    }
    let service = FlightServiceServer::new(FlightDoor::new(doors))
        // Bound every message a client sends (parameter batches, actions).
        .max_decoding_message_size(16 << 20);
    info!(addr = %bound, tls = secure, "Flight SQL endpoint");
    let router = builder.add_service(service);
    tokio::spawn(async move {
        if let Err(e) = router
            .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
            .await
        {
            warn!(error = %e, "Flight SQL server ended");
        }
    });
    Ok(bound)
}
