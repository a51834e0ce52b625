//! Cancelling running queries, whichever door they came through: a client's cancel request,
//! a statement timeout, a closed connection.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::EngineError;

/// The running queries of one connection, cancelable from another connection. More than one
/// can be live: a portal suspended at `max_rows` keeps streaming when the client resumes it
/// after running other statements.
#[derive(Default)]
pub struct QuerySlot {
    tokens: Mutex<Vec<QueryCancel>>,
}

impl QuerySlot {
    /// A fresh token for the next query; canceling it stops planning and streaming.
    pub fn begin(&self) -> QueryCancel {
        let t = QueryCancel::default();
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        // Finished and canceled tokens are done with.
        tokens.retain(|t| !t.token.is_cancelled());
        tokens.push(t.clone());
        t
    }

    /// Cancels every query of the connection that is still running (a CancelRequest).
    pub fn cancel_all(&self) {
        for t in self
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            t.cancel();
        }
    }
}

/// Cancels one query: a CancelRequest, or its statement timeout (which says so in the error).
#[derive(Clone, Default)]
pub struct QueryCancel {
    token: CancellationToken,
    timed_out: Arc<std::sync::atomic::AtomicBool>,
}

impl QueryCancel {
    pub fn cancel(&self) {
        self.token.cancel();
    }
    pub fn cancelled(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.token.cancelled()
    }
    pub fn error(&self) -> EngineError {
        if self.timed_out.load(Ordering::Acquire) {
            EngineError::StatementTimeout
        } else {
            EngineError::Canceled
        }
    }
    /// Cancels the query after `timeout` unless it finished first.
    pub fn arm(&self, timeout: Option<std::time::Duration>) {
        let Some(timeout) = timeout else { return };
        let me = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = me.token.cancelled() => {}
                _ = tokio::time::sleep(timeout) => {
                    me.timed_out.store(true, Ordering::Release);
                    me.token.cancel();
                }
            }
        });
    }
    /// The query ended normally: stop its timer.
    pub fn finish(&self) {
        self.token.cancel();
    }
}
