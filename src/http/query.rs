//! The HTTP query door: `POST /v1/query` with `{"sql": ..., "params": [...]}` answers JSON rows
//! (column names and Postgres type names), an Arrow IPC stream or CSV by `Accept`. It is a
//! renderer over the same session core as the Postgres wire: the same users (HTTP Basic, or a
//! bearer token from `POST /v1/token`), grants, row filters, masks, connection and memory
//! limits, statement timeout, query log and metrics. Results stream batch by batch.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::{DataType, FieldRef, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use futures::{StreamExt, stream};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;

use super::{Body, ReadyState};
use crate::auth::Access;
use crate::doors::{DoorError, Held, Started};
use crate::engine::{EngineError, Rows};

const JSON: &str = "application/json";
const ARROW: &str = "application/vnd.apache.arrow.stream";
const CSV: &str = "text/csv";

/// The request body of `POST /v1/query`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryRequest {
    sql: String,
    /// Values for `$1`, `$2`, ...: JSON numbers, strings, booleans or null, typed as the
    /// statement needs them (as a Postgres driver's text parameters are).
    #[serde(default)]
    params: Vec<serde_json::Value>,
    /// At most this many rows (never more than the server's `http.max_rows`).
    #[serde(default)]
    max_rows: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Format {
    Json,
    Arrow,
    Csv,
}

/// The first media type of `Accept` this door renders (JSON when there is no header).
fn format_of(accept: Option<&str>) -> Option<Format> {
    let Some(accept) = accept else {
        return Some(Format::Json);
    };
    accept
        .split(',')
        .find_map(|m| match m.split(';').next().unwrap_or("").trim() {
            JSON | "application/*" | "*/*" => Some(Format::Json),
            ARROW => Some(Format::Arrow),
            CSV | "text/*" => Some(Format::Csv),
            _ => None,
        })
}

pub(super) fn full(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(
            Full::new(body.into())
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .expect("valid response")
}

/// A JSON error body: `{"error": {"sqlstate", "message", "position"?}}`.
fn error(
    status: StatusCode,
    sqlstate: &str,
    message: &str,
    position: Option<u64>,
) -> Response<Body> {
    let mut e = serde_json::json!({"sqlstate": sqlstate, "message": message});
    if let Some(p) = position {
        e["position"] = p.into();
    }
    let mut r = full(status, JSON, serde_json::json!({ "error": e }).to_string());
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            "www-authenticate",
            hyper::header::HeaderValue::from_static("Basic realm=\"lakegate\", charset=\"UTF-8\""),
        );
    }
    r
}

/// The HTTP status for a SQLSTATE: privileges 403, resources 503, a canceled or timed-out
/// statement 504, internal errors 500, every other mistake in the request 400.
fn status_of(sqlstate: &str) -> StatusCode {
    match sqlstate {
        "42501" => StatusCode::FORBIDDEN,
        "57014" => StatusCode::GATEWAY_TIMEOUT,
        s if s.starts_with("53") => StatusCode::SERVICE_UNAVAILABLE,
        s if s.starts_with("XX") || s.starts_with("58") => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// The caller, by HTTP Basic (throttled per address like a wire login) or bearer token.
pub(super) async fn authorize(
    req: &Request<Incoming>,
    ready: &ReadyState,
    ip: IpAddr,
) -> Result<Access, Response<Body>> {
    let security = &ready.security;
    if security.trust() {
        return Ok(Access::everything("trust"));
    }
    let refused = || {
        error(
            StatusCode::UNAUTHORIZED,
            crate::engine::SqlState::InvalidAuthorization.code(),
            "authentication required",
            None,
        )
    };
    let Some(header) = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
    else {
        return Err(refused());
    };
    if let Some(token) = header.strip_prefix("Bearer ") {
        return security.token_access(token.trim()).ok_or_else(|| {
            crate::metrics::metrics().logins_failed.inc();
            error(
                StatusCode::UNAUTHORIZED,
                crate::engine::SqlState::InvalidAuthorization.code(),
                "the bearer token is not valid (unknown or expired)",
                None,
            )
        });
    }
    let Some((user, password)) = crate::auth::basic_credentials(header) else {
        return Err(refused());
    };
    match security.login(&user, &password, Some(ip)).await {
        Some(access) => Ok(access),
        // Postgres' words for a failed password, whoever the user is (no hint that it exists).
        None => Err(error(
            StatusCode::UNAUTHORIZED,
            crate::engine::SqlState::InvalidPassword.code(),
            &format!("password authentication failed for user \"{user}\""),
            None,
        )),
    }
}

/// `POST /v1/token`: a bearer token for the Basic-authenticated user.
pub(super) async fn token(
    req: Request<Incoming>,
    ready: &ReadyState,
    ip: IpAddr,
) -> Response<Body> {
    let access = match authorize(&req, ready, ip).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let token = ready.security.issue_token(&access.user);
    full(
        StatusCode::OK,
        JSON,
        serde_json::json!({
            "token": token,
            "token_type": "Bearer",
            "expires_in": crate::auth::TOKEN_IDLE.as_secs(),
        })
        .to_string(),
    )
}

/// `POST /v1/query`.
pub(super) async fn query(
    req: Request<Incoming>,
    ready: Arc<ReadyState>,
    ip: IpAddr,
) -> Response<Body> {
    let access = match authorize(&req, &ready, ip).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let accept = req
        .headers()
        .get("accept")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    let Some(format) = format_of(accept.as_deref()) else {
        return error(
            StatusCode::NOT_ACCEPTABLE,
            crate::engine::SqlState::FeatureNotSupported.code(),
            &format!("results are {JSON}, {ARROW} or {CSV}"),
            None,
        );
    };
    // The SQL text is bounded like the wire's (limits.max_query_bytes), plus room for params.
    let limit = usize::try_from(ready.doors.engine.limits().max_query_bytes)
        .unwrap_or(usize::MAX)
        .saturating_mul(2)
        .saturating_add(1 << 20);
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            crate::engine::SqlState::ProgramLimitExceeded.code(),
            &format!("the request body is larger than {limit} bytes"),
            None,
        )
    };
    // Refused before reading when the client says how much it sends.
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    let body = match http_body_util::Limited::new(req.into_body(), limit)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => return too_large(),
    };
    let request: QueryRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                crate::engine::SqlState::InvalidTextRepresentation.code(),
                &format!(
                    "the body is not a query request ({{\"sql\": ..., \"params\": [...]}}): {e}"
                ),
                None,
            );
        }
    };
    let server_max = ready.max_rows;
    let max_rows = match (request.max_rows, server_max) {
        (Some(r), 0) => r,
        (Some(r), s) => r.min(s),
        (None, s) => s,
    };
    run(ready, access, request, format, max_rows).await
}

async fn run(
    ready: Arc<ReadyState>,
    access: Access,
    request: QueryRequest,
    format: Format,
    max_rows: u64,
) -> Response<Body> {
    let sql = request.sql;
    let params = request.params;
    let values = |targets: &[Option<DataType>]| {
        params
            .iter()
            .zip(targets)
            .map(|(v, t)| param(v, t.as_ref()))
            .collect::<Result<Vec<_>, _>>()
    };
    let started = match ready
        .doors
        .start(access, &sql, Default::default(), params.len(), values)
        .await
    {
        Ok(s) => s,
        Err(e) => {
            let said = e.said(Some(&sql));
            let status = match e {
                DoorError::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
                _ => status_of(&said.sqlstate),
            };
            return error(status, &said.sqlstate, &said.message, said.position);
        }
    };
    let Started {
        schema,
        rows,
        tag,
        notices,
        mut held,
    } = started;
    let Some(rows) = rows else {
        held.finished();
        return full(
            StatusCode::OK,
            JSON,
            serde_json::json!({ "command": tag }).to_string(),
        );
    };
    let content_type = match format {
        Format::Json => JSON,
        Format::Arrow => ARROW,
        Format::Csv => "text/csv; charset=utf-8",
    };
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", content_type);
    // Every format carries the notices as headers (`severity: message`); JSON also in its body.
    for n in &notices {
        let line: String = format!("{}: {}", n.severity, n.message)
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
            .collect();
        response = response.header("lakegate-notice", line);
    }
    let chunks = render(schema, rows, tag, format, max_rows, held, &notices);
    response
        .body(BodyExt::boxed_unsync(StreamBody::new(
            chunks.map(|c| c.map(Frame::data)),
        )))
        .expect("valid response")
}

/// A JSON parameter as the text a Postgres driver would send, decoded for the type the
/// statement needs (numbers for a text column stay their text; objects and arrays as JSON).
fn param(v: &serde_json::Value, target: Option<&DataType>) -> Result<ScalarValue, EngineError> {
    use serde_json::Value;
    let text = match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    };
    let pg = match target {
        Some(t) => crate::engine::pg_types::pg_type_of(t).0,
        None => pgwire::api::Type::TEXT,
    };
    crate::wire::params::decode(text.as_deref().map(str::as_bytes), false, &pg, target)
}

/// The response body: the result rendered batch by batch as it streams, cut at `max_rows`.
/// An error after the first bytes ends a JSON body with `"error"`; an Arrow or CSV body is
/// cut off (the client sees a broken stream, never a silently short one).
fn render(
    schema: SchemaRef,
    rows: Rows,
    tag: &'static str,
    format: Format,
    max_rows: u64,
    held: Held,
    notices: &[crate::engine::run::Notice],
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + use<> {
    struct State {
        rows: Rows,
        writer: Writer,
        sent: u64,
        /// Rows were left out for the limit.
        cut: bool,
        done: bool,
        held: Held,
        schema: SchemaRef,
    }
    let writer = Writer::new(format, &schema, notices);
    let state = State {
        rows,
        writer,
        sent: 0,
        cut: false,
        done: false,
        held,
        schema,
    };
    stream::unfold(Some(state), move |state| async move {
        let mut st = state?;
        if st.done {
            return None;
        }
        let limit_left = if max_rows == 0 {
            u64::MAX
        } else {
            max_rows - st.sent
        };
        let next = if limit_left == 0 {
            None
        } else {
            st.rows.next().await
        };
        let out = match next {
            Some(Ok(batch)) => {
                let batch = crate::engine::run::conform(batch, &st.schema).and_then(|b| {
                    let n = (b.num_rows() as u64).min(limit_left) as usize;
                    st.cut |= n < b.num_rows();
                    Ok(b.slice(0, n))
                });
                match batch.and_then(|b| {
                    st.sent += b.num_rows() as u64;
                    st.writer.batch(&b)
                }) {
                    Ok(bytes) => Ok(bytes),
                    Err(e) => {
                        st.done = true;
                        st.writer.fail(&e)
                    }
                }
            }
            Some(Err(e)) => {
                st.done = true;
                st.writer.fail(&e)
            }
            None => {
                st.done = true;
                let truncated = st.cut || (limit_left == 0 && st.rows.next().await.is_some());
                st.held.finished();
                st.writer.finish(st.sent, truncated, tag)
            }
        };
        Some((out, Some(st)))
    })
}

enum Writer {
    Json { header: Option<String>, first: bool },
    Arrow(datafusion::arrow::ipc::writer::StreamWriter<Vec<u8>>),
    Csv { header: bool, schema: SchemaRef },
}

impl Writer {
    fn new(format: Format, schema: &SchemaRef, notices: &[crate::engine::run::Notice]) -> Writer {
        match format {
            Format::Json => {
                let columns: Vec<_> = schema
                    .fields()
                    .iter()
                    .map(|f| {
                        serde_json::json!({
                            "name": f.name(),
                            "type": crate::engine::pg_types::pg_type(f).0.name(),
                        })
                    })
                    .collect();
                let notices: Vec<_> = notices
                    .iter()
                    .map(|n| {
                        serde_json::json!({
                            "severity": n.severity,
                            "sqlstate": n.code,
                            "message": n.message,
                        })
                    })
                    .collect();
                let notices = if notices.is_empty() {
                    String::new()
                } else {
                    format!("\"notices\":{},", serde_json::Value::Array(notices))
                };
                Writer::Json {
                    header: Some(format!(
                        "{{{notices}\"columns\":{},\"rows\":[",
                        serde_json::Value::Array(columns)
                    )),
                    first: true,
                }
            }
            Format::Arrow => Writer::Arrow(
                datafusion::arrow::ipc::writer::StreamWriter::try_new(Vec::new(), schema)
                    .expect("an Arrow stream header for a planned schema"),
            ),
            Format::Csv => Writer::Csv {
                header: true,
                schema: schema.clone(),
            },
        }
    }

    fn batch(&mut self, batch: &RecordBatch) -> Result<Bytes, EngineError> {
        let arrow = |e: datafusion::arrow::error::ArrowError| EngineError::DataFusion(e.into());
        match self {
            Writer::Json { header, first } => {
                let mut out = header.take().map(String::into_bytes).unwrap_or_default();
                json_rows(batch, first, &mut out).map_err(arrow)?;
                Ok(out.into())
            }
            Writer::Arrow(w) => {
                w.write(batch).map_err(arrow)?;
                Ok(std::mem::take(w.get_mut()).into())
            }
            Writer::Csv { header, .. } => {
                let mut out = Vec::new();
                let text = text_columns(batch).map_err(arrow)?;
                datafusion::arrow::csv::WriterBuilder::new()
                    .with_header(std::mem::take(header))
                    .build(&mut out)
                    .write(&text)
                    .map_err(arrow)?;
                Ok(out.into())
            }
        }
    }

    fn finish(&mut self, rows: u64, truncated: bool, tag: &str) -> Result<Bytes, std::io::Error> {
        match self {
            Writer::Json { header, .. } => {
                let mut out = header.take().unwrap_or_default();
                out.push_str(&format!(
                    "],\"row_count\":{rows},\"truncated\":{truncated},\"command\":\"{tag}\"}}"
                ));
                Ok(out.into())
            }
            Writer::Arrow(w) => {
                w.finish().map_err(std::io::Error::other)?;
                Ok(std::mem::take(w.get_mut()).into())
            }
            Writer::Csv { header, schema } => {
                // An empty result still has its header line.
                if !*header {
                    return Ok(Bytes::new());
                }
                let empty = RecordBatch::new_empty(schema.clone());
                self.batch(&empty).map_err(std::io::Error::other)
            }
        }
    }

    fn fail(&mut self, e: &EngineError) -> Result<Bytes, std::io::Error> {
        let info = crate::wire::error::error_info(e, None);
        match self {
            Writer::Json { header, .. } => {
                let mut out = header.take().unwrap_or_default();
                out.push_str(&format!(
                    "],\"error\":{}}}",
                    serde_json::json!({"sqlstate": info.code, "message": info.message})
                ));
                Ok(out.into())
            }
            _ => Err(std::io::Error::other(format!(
                "{}: {}",
                info.code, info.message
            ))),
        }
    }
}

/// Appends each row of `batch` as a JSON array of its values (numbers, strings, booleans,
/// nested lists and structs as JSON; what JSON has no type for as Postgres text).
fn json_rows(
    batch: &RecordBatch,
    first: &mut bool,
    out: &mut Vec<u8>,
) -> Result<(), datafusion::arrow::error::ArrowError> {
    use datafusion::arrow::json::writer::{EncoderOptions, make_encoder};
    let options = EncoderOptions::default();
    let columns: Vec<(FieldRef, Arc<dyn Array>)> = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| json_column(f, c))
        .collect::<Result<_, _>>()?;
    let mut encoders = columns
        .iter()
        .map(|(f, c)| make_encoder(f, c.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()?;
    for row in 0..batch.num_rows() {
        if !std::mem::take(first) {
            out.push(b',');
        }
        out.push(b'[');
        for (i, e) in encoders.iter_mut().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if e.is_null(row) {
                out.extend_from_slice(b"null");
            } else {
                e.encode(row, out);
            }
        }
        out.push(b']');
    }
    Ok(())
}

/// A column as arrow-json encodes it, or as Postgres text where it has no JSON form.
fn json_column(
    f: &FieldRef,
    c: &Arc<dyn Array>,
) -> Result<(FieldRef, Arc<dyn Array>), datafusion::arrow::error::ArrowError> {
    let native = matches!(
        f.data_type(),
        DataType::Boolean
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Float32
            | DataType::Float64
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::List(_)
            | DataType::LargeList(_)
            | DataType::Struct(_)
            | DataType::Map(..)
    );
    if native {
        return Ok((f.clone(), c.clone()));
    }
    let text = text_column(f, c)?;
    Ok((
        Arc::new(datafusion::arrow::datatypes::Field::new(
            f.name(),
            DataType::Utf8,
            true,
        )),
        text,
    ))
}

/// Postgres' text form of a column (dates, timestamps, decimals, intervals, bytes).
fn text_column(
    f: &FieldRef,
    c: &Arc<dyn Array>,
) -> Result<Arc<dyn Array>, datafusion::arrow::error::ArrowError> {
    crate::wire::encode::text_column(c, f)
        .map(|a| Arc::new(a) as Arc<dyn Array>)
        .map_err(|e| datafusion::arrow::error::ArrowError::ExternalError(Box::new(e)))
}

/// Every column as Postgres text, for CSV (what `COPY ... TO STDOUT (FORMAT csv)` writes).
fn text_columns(batch: &RecordBatch) -> Result<RecordBatch, datafusion::arrow::error::ArrowError> {
    let fields: Vec<_> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| datafusion::arrow::datatypes::Field::new(f.name(), DataType::Utf8, true))
        .collect();
    let columns = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| text_column(f, c))
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(
        Arc::new(datafusion::arrow::datatypes::Schema::new(fields)),
        columns,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_picks_the_first_format_rendered() {
        assert_eq!(format_of(None), Some(Format::Json));
        assert_eq!(format_of(Some("*/*")), Some(Format::Json));
        assert_eq!(
            format_of(Some(
                "application/xml, application/vnd.apache.arrow.stream;q=0.9"
            )),
            Some(Format::Arrow)
        );
        assert_eq!(format_of(Some("text/csv")), Some(Format::Csv));
        assert_eq!(format_of(Some("application/xml")), None);
    }

    #[test]
    fn sqlstates_map_to_http_statuses() {
        assert_eq!(status_of("42501"), StatusCode::FORBIDDEN);
        assert_eq!(status_of("42P01"), StatusCode::BAD_REQUEST);
        assert_eq!(status_of("57014"), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(status_of("53200"), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status_of("XX000"), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
