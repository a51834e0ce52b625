//! Postgres wire protocol: the listener, per-connection handlers by protocol phase over the
//! session core, type mapping and encoding.
//!
//! The listener follows mini-redis: accept in a loop, one task per connection, a semaphore that
//! caps connections (clients beyond it get 53300 `too_many_connections`), and a shutdown token
//! every task watches. On shutdown the listener stops accepting and running connections get a
//! grace period to finish their queries.

mod cancel;
mod connection;
mod copy;
pub mod encode;
pub mod error;
mod extended;
pub mod params;
mod results;
mod simple;
mod startup;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::engine::Engine;
pub use cancel::{CancelRegistry, Registered};
pub use connection::Shared;
use connection::{Connection, Handlers};

/// How the listener admits and bounds connections.
pub struct ListenerOptions {
    pub max_connections: usize,
    /// Grace period for open connections at shutdown.
    pub grace: Duration,
    /// Connections not authenticated by then are closed.
    pub startup_timeout: Duration,
    /// Authenticated connections idle this long are closed (zero: never).
    pub idle_timeout: Duration,
    pub shared: Arc<Shared>,
}

/// Accepts connections until `shutdown` fires, then waits up to `grace` for open ones.
pub async fn run_listener(
    listener: TcpListener,
    engine: Arc<Engine>,
    options: ListenerOptions,
    shutdown: CancellationToken,
) {
    let ListenerOptions {
        max_connections,
        grace,
        startup_timeout,
        idle_timeout,
        shared,
    } = options;
    let limit = Arc::new(Semaphore::new(max_connections));
    let registry = shared.registry.clone();
    let tracker = TaskTracker::new();
    loop {
        let (mut socket, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = socket.set_nodelay(true);
        let permit = match limit.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                crate::metrics::metrics().rejected("max_connections");
                warn!(%peer, max_connections, "connection refused: too many connections");
                tracker.spawn(async move {
                    let _ = socket.write_all(&too_many_clients()).await;
                    let _ = socket.shutdown().await;
                });
                continue;
            }
        };
        let conn = Arc::new(Connection::new(
            engine.clone(),
            registry.clone(),
            shared.clone(),
            peer,
        ));
        let handlers = Handlers(conn.clone());
        let acceptor = shared.tls.as_ref().map(|t| t.acceptor().0);
        let conn_shutdown = shutdown.clone();
        tracker.spawn(async move {
            let m = crate::metrics::metrics();
            m.connections_total.inc();
            m.connections_open.inc();
            debug!(%peer, "connection opened");
            // Every log line of this connection carries its peer and (once known) its pid.
            let span = tracing::info_span!("conn", %peer, pid = tracing::field::Empty);
            let process = tracing::Instrument::instrument(
                pgwire::tokio::process_socket(socket, acceptor, handlers),
                span.clone(),
            );
            conn.set_span(span);
            // Requests are guarded one by one (connection::Connection::guarded); this catches a
            // panic anywhere else in the task, so the socket closes and the gauge comes down.
            let process = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(process));
            tokio::select! {
                r = process => match r {
                    Ok(Err(e)) => debug!(%peer, error = %e, "connection ended with error"),
                    Ok(Ok(())) => {}
                    Err(_) => {
                        m.connection_panics.inc();
                        tracing::error!(%peer, "internal error in a connection task; closed it");
                    }
                },
                // A client that does not finish startup in time holds nothing for long.
                _ = async {
                    tokio::time::sleep(startup_timeout).await;
                    if conn.authenticated() {
                        std::future::pending::<()>().await;
                    }
                } => {
                    crate::metrics::metrics().rejected("startup_timeout");
                    info!(%peer, ?startup_timeout, "connection closed: not authenticated in time");
                }
                _ = conn.idle_expired(idle_timeout) => {
                    info!(%peer, ?idle_timeout, "connection closed: idle session timeout");
                }
                // After the grace period the server stops waiting; connections still open
                // are dropped with the runtime.
                _ = async { conn_shutdown.cancelled().await; tokio::time::sleep(grace).await } => {}
            }
            m.connections_open.dec();
            drop(permit);
            debug!(%peer, "connection closed");
        });
    }
    tracker.close();
    let open = tracker.len();
    if open > 0 {
        info!(open, ?grace, "waiting for open connections to finish");
    }
    let _ = tokio::time::timeout(grace, tracker.wait()).await;
}

/// A FATAL ErrorResponse with 53300, written raw because the connection never gets a handler.
fn too_many_clients() -> BytesMut {
    let mut body = BytesMut::new();
    for (tag, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', crate::engine::SqlState::TooManyConnections.code()),
        (b'M', "sorry, too many clients already"),
    ] {
        body.put_u8(tag);
        body.put_slice(value.as_bytes());
        body.put_u8(0);
    }
    body.put_u8(0);
    let mut msg = BytesMut::with_capacity(body.len() + 5);
    msg.put_u8(b'E');
    msg.put_i32(body.len() as i32 + 4);
    msg.put_slice(&body);
    msg
}
