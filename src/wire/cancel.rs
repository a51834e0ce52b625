//! CancelRequest: a second socket names a backend pid and its secret; every running query of
//! that connection stops with 57014.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use pgwire::api::RandomPidSecretKeyGenerator;
use pgwire::api::cancel::CancelHandler;
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::startup::SecretKey;
use tracing::debug;

use super::connection::Connection;
use crate::engine::cancel::QuerySlot;

/// Connections that can be canceled, by backend pid.
pub struct CancelRegistry {
    pub(super) pids: RandomPidSecretKeyGenerator,
    pub(super) live: Mutex<HashMap<i32, (SecretKey, Arc<QuerySlot>)>>,
    /// Pids for the doors without a Postgres socket (HTTP, Flight SQL).
    door_pids: std::sync::atomic::AtomicI32,
}

/// A request of another door, listed and cancelable by pid until dropped.
pub struct Registered {
    registry: Arc<CancelRegistry>,
    pub pid: i32,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry
            .live
            .lock()
            .expect("registry lock")
            .remove(&self.pid);
    }
}

impl Default for CancelRegistry {
    fn default() -> Self {
        CancelRegistry {
            pids: RandomPidSecretKeyGenerator::default(),
            live: Mutex::default(),
            // Far from the wire's pids (counted up from 1 by pgwire).
            door_pids: std::sync::atomic::AtomicI32::new(1 << 30),
        }
    }
}

impl CancelRegistry {
    /// Gives a request of another door (HTTP, Flight SQL) a pid of its own, so
    /// `lakegate.queries`, the query log and the status page's cancel see it like a connection.
    pub fn register(self: &Arc<Self>, slot: Arc<QuerySlot>) -> Registered {
        use std::sync::atomic::Ordering;
        let mut live = self.live.lock().expect("registry lock");
        let pid = loop {
            let p = self.door_pids.fetch_add(1, Ordering::Relaxed);
            let p = if p <= 0 { 1 << 30 } else { p };
            if !live.contains_key(&p) {
                break p;
            }
        };
        // No secret anyone knows: only the status page's cancel (admins) reaches it.
        let secret = SecretKey::Bytes(bytes::Bytes::from(crate::auth::random_secret().to_vec()));
        live.insert(pid, (secret, slot));
        Registered {
            registry: self.clone(),
            pid,
        }
    }

    /// Cancels what connection `pid` runs (the status page's cancel button, for admins).
    pub fn cancel_pid(&self, pid: i32) -> bool {
        let slot = self
            .live
            .lock()
            .expect("registry lock")
            .get(&pid)
            .map(|(_, s)| s.clone());
        match slot {
            Some(s) => {
                s.cancel_all();
                true
            }
            None => false,
        }
    }
}

impl Debug for CancelRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelRegistry").finish()
    }
}

#[async_trait]
impl CancelHandler for Connection {
    async fn on_cancel_request(&self, request: CancelRequest) {
        let slot = {
            let live = self.registry.live.lock().expect("registry lock");
            live.get(&request.pid)
                .filter(|(secret, _)| secret.eq_value(&request.secret_key))
                .map(|(_, slot)| slot.clone())
        };
        if let Some(slot) = slot {
            debug!(pid = request.pid, "cancel request");
            slot.cancel_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[test]
    fn door_pids_are_their_own_and_leave_with_their_request() {
        let registry = Arc::new(CancelRegistry::default());
        let slot = Arc::new(QuerySlot::default());
        let query = slot.begin();
        let a = registry.register(slot.clone());
        let b = registry.register(Arc::new(QuerySlot::default()));
        assert!(a.pid >= 1 << 30 && b.pid >= 1 << 30 && a.pid != b.pid);
        assert!(query.cancelled().now_or_never().is_none());
        assert!(registry.cancel_pid(a.pid));
        assert!(query.cancelled().now_or_never().is_some());
        let pid = b.pid;
        drop(b);
        assert!(
            !registry.cancel_pid(pid),
            "a finished request is no longer cancelable"
        );
        assert!(!registry.cancel_pid(12345));
    }
}
