//! The operations listener (`http.listen`): `/health` (the process answers), `/ready` (lake
//! reachable, catalog and views loaded; 503 with the reason otherwise) and `/metrics`
//! (Prometheus text format), and the status page at `/` (same users as the wire, HTTP Basic;
//! open when the server trusts loopback clients). Plain hyper: a few routes need no framework.

pub mod query;
pub mod status;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::catalog::LakeCatalog;
use crate::views::ViewRegistry;

/// Every response body: whole for the small pages, streamed for query results.
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// What `/ready` checks, and what the query door runs on.
pub struct ReadyState {
    pub doors: Arc<crate::doors::Doors>,
    /// `http.max_rows` (0: no limit).
    pub max_rows: u64,
    pub catalog: Arc<LakeCatalog>,
    pub views: Option<Arc<ViewRegistry>>,
    pub security: Arc<crate::auth::Security>,
    pub activity: Arc<crate::engine::activity::Activity>,
    pub registry: Arc<crate::wire::CancelRegistry>,
    pub database: String,
    pub freshness: Arc<crate::freshness::Watch>,
    /// Where this server's Kafka partitions stand.
    pub kafka: Arc<crate::ingest::sources::kafka::KafkaPositions>,
    /// (unix time, queries so far) at each status page view, for its query-rate chart.
    pub samples: std::sync::Mutex<Vec<(i64, f64)>>,
}

/// The HTTP Basic user, if the request carries valid credentials (or the server trusts all).
/// A wrong password is held back and recorded per address like every other door's login, so the
/// status page is no faster oracle for guessing passwords than the wire.
async fn authenticate(
    req: &Request<Incoming>,
    security: &crate::auth::Security,
    peer: std::net::IpAddr,
) -> Option<crate::auth::Access> {
    if security.trust() {
        return Some(crate::auth::Access::everything("trust"));
    }
    let header = req.headers().get("authorization")?.to_str().ok()?;
    let (user, password) = crate::auth::basic_credentials(header)?;
    security.login(&user, &password, Some(peer)).await
}

fn unauthorized() -> Response<Body> {
    let mut r = text(
        StatusCode::UNAUTHORIZED,
        "authentication required\n".into(),
        "text/plain",
    );
    r.headers_mut().insert(
        "www-authenticate",
        hyper::header::HeaderValue::from_static("Basic realm=\"lakegate\", charset=\"UTF-8\""),
    );
    r
}

/// Why `/ready` answers 503 (it needs no login, so the reason names nothing).
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error("the lake is not reachable")]
    LakeUnreachable,
}

impl ReadyState {
    /// `Err(reason)` when the server should not get traffic.
    pub async fn check(&self) -> Result<String, NotReady> {
        let root = self.catalog.root().clone();
        if let Some(p) = root.local_path() {
            let p = p.to_path_buf();
            let ok = tokio::task::spawn_blocking(move || std::fs::read_dir(&p).is_ok())
                .await
                .unwrap_or(false);
            if !ok {
                // `/ready` needs no login: where the lake is stays in the log.
                tracing::warn!(lake = %root, "ready check: the lake is not reachable");
                return Err(NotReady::LakeUnreachable);
            }
        }
        let tables: usize = self
            .catalog
            .snapshot()
            .zones
            .values()
            .map(|t| t.len())
            .sum();
        let views = match &self.views {
            Some(v) => {
                let statuses = v.status();
                let broken = statuses.iter().filter(|s| s.served.is_none()).count();
                format!(
                    "{} views ({} without a good definition)",
                    statuses.len(),
                    broken
                )
            }
            None => "no views folder".into(),
        };
        Ok(format!("ready: {tables} tables, {views}\n"))
    }
}

fn text(status: StatusCode, body: String, content_type: &str) -> Response<Body> {
    query::full(status, content_type, body)
}

async fn handle(
    req: Request<Incoming>,
    ready: Arc<ReadyState>,
    peer: SocketAddr,
) -> Result<Response<Body>, Infallible> {
    match (req.method(), req.uri().path()) {
        (&Method::POST, "/v1/query") => return Ok(query::query(req, ready, peer.ip()).await),
        (&Method::POST, "/v1/token") => return Ok(query::token(req, &ready, peer.ip()).await),
        (_, "/v1/query" | "/v1/token") => {
            return Ok(text(
                StatusCode::METHOD_NOT_ALLOWED,
                "POST only\n".into(),
                "text/plain",
            ));
        }
        _ => {}
    }
    if req.method() == Method::POST && req.uri().path() == "/cancel" {
        let Some(access) = authenticate(&req, &ready.security, peer.ip()).await else {
            return Ok(unauthorized());
        };
        if !access.admin {
            return Ok(text(
                StatusCode::FORBIDDEN,
                "admins only\n".into(),
                "text/plain",
            ));
        }
        use http_body_util::BodyExt;
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let pid = String::from_utf8_lossy(&body)
            .split('&')
            .find_map(|kv| kv.strip_prefix("pid=").and_then(|v| v.parse::<i32>().ok()));
        let canceled = pid.is_some_and(|p| ready.registry.cancel_pid(p));
        info!(?pid, canceled, user = %access.user, "cancel from the status page");
        let mut r = text(StatusCode::SEE_OTHER, String::new(), "text/plain");
        r.headers_mut()
            .insert("location", hyper::header::HeaderValue::from_static("/"));
        return Ok(r);
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(text(
            StatusCode::METHOD_NOT_ALLOWED,
            "GET only\n".into(),
            "text/plain",
        ));
    }
    Ok(match req.uri().path() {
        "/" => match authenticate(&req, &ready.security, peer.ip()).await {
            Some(access) => text(
                StatusCode::OK,
                status::render(&ready, &access).await,
                "text/html; charset=utf-8",
            ),
            None => unauthorized(),
        },
        "/health" => text(StatusCode::OK, "ok\n".into(), "text/plain"),
        "/ready" => match ready.check().await {
            Ok(s) => text(StatusCode::OK, s, "text/plain"),
            Err(reason) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {reason}\n"),
                "text/plain",
            ),
        },
        "/metrics" => text(
            StatusCode::OK,
            crate::metrics::metrics().render(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /, /health, /ready, /metrics, POST /v1/query, POST /v1/token\n".into(),
            "text/plain",
        ),
    })
}

/// Binds `addr` and serves until `shutdown`; returns the bound address.
pub async fn start(
    addr: &str,
    ready: Arc<ReadyState>,
    shutdown: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    info!(addr = %bound, "operations endpoint: /health /ready /metrics");
    tokio::spawn(async move {
        loop {
            let (socket, peer) = tokio::select! {
                _ = shutdown.cancelled() => break,
                a = listener.accept() => match a {
                    Ok(a) => a,
                    Err(e) => {
                        warn!(error = %e, "http accept failed");
                        continue;
                    }
                },
            };
            let ready = ready.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(req, ready.clone(), peer));
                if let Err(e) = http1::Builder::new()
                    .serve_connection(TokioIo::new(socket), service)
                    .await
                {
                    debug!(%peer, error = %e, "http connection ended");
                }
            });
        }
    });
    Ok(bound)
}
