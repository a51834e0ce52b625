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
#[derive(Default)]
pub struct CancelRegistry {
    pub(super) pids: RandomPidSecretKeyGenerator,
    pub(super) live: Mutex<HashMap<i32, (SecretKey, Arc<QuerySlot>)>>,
}

impl CancelRegistry {
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
