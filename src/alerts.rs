//! Alerts: a JSON message to each configured webhook when something changes state — a table's
//! slices start (or stop) failing, a table enters (or leaves) `error` freshness, a view breaks
//! (or plans again), this process loses the ingest lease.
//!
//! The message is Slack's incoming-webhook shape (`{"text": ...}`) plus a structured `lakegate`
//! object. Only changes are sent, never every pass: what was last said per (event, subject) is
//! kept in `_lakegate/alerts.json`, so a cron `ingest --once` does not repeat itself either.
//! Sending never blocks the caller: each webhook has its own queue and task, which retries with
//! backoff; a full queue drops (and counts) the message. A webhook URL is a secret (Slack's
//! carries its token): logs name its host only.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::sync::{Notify, mpsc};
use tracing::{info, warn};

use crate::config::{AlertEvent, Config};
use crate::ingest::LakePath;
use crate::secrets::resolve_secret;

/// Messages waiting per webhook before new ones are dropped.
const QUEUE: usize = 256;
/// Attempts per message (backoff 1 s, 2 s, 4 s, ... between them).
const ATTEMPTS: u32 = 5;
const TIMEOUT: Duration = Duration::from_secs(10);

/// What one change is about, beyond its event and subject.
#[derive(Debug, Clone, Default)]
pub struct Details {
    pub slice: Option<String>,
    pub error: Option<String>,
    pub run_id: Option<String>,
    /// A human sentence (the message's `text`).
    pub text: String,
}

struct Hook {
    events: Vec<AlertEvent>,
    tx: mpsc::Sender<serde_json::Value>,
}

/// A webhook that cannot be set up (its secret reference, its URL): fatal at start.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AlertsError(String);

pub struct Alerts {
    hooks: Vec<Hook>,
    /// The status page (`http.public_url`, else the address it is bound to).
    link: Mutex<Option<String>>,
    /// What was last said per `event:subject` (true: firing).
    said: Mutex<BTreeMap<String, bool>>,
    state: Option<LakePath>,
    /// Only the process that ingests sends (replicas would repeat each other).
    sending: AtomicBool,
    pending: Arc<AtomicUsize>,
    idle: Arc<Notify>,
    save: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Alerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerts")
            .field("hooks", &self.hooks.len())
            .finish()
    }
}

/// `https://hooks.slack.com/…` for logs: scheme and host, nothing of the path or query.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("?")),
        Err(_) => "(webhook)".into(),
    }
}

impl Alerts {
    /// The configured webhooks (`None` without any), each with its sending task; `lake` keeps
    /// what was said. Secrets are resolved here; an unresolvable one is an error naming the
    /// entry, never the URL.
    pub async fn from_config(
        config: &Config,
        lake: Option<LakePath>,
    ) -> Result<Option<Arc<Alerts>>, AlertsError> {
        if config.alerts.is_empty() {
            return Ok(None);
        }
        let pending = Arc::new(AtomicUsize::new(0));
        let idle = Arc::new(Notify::new());
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| AlertsError(format!("alerts: {e}")))?;
        let mut hooks = Vec::new();
        for (i, a) in config.alerts.iter().enumerate() {
            let url =
                resolve_secret(&format!("alerts[{i}].webhook"), &a.webhook).map_err(AlertsError)?;
            if url::Url::parse(&url).is_err() {
                return Err(AlertsError(format!(
                    "alerts[{i}].webhook: not an http(s) URL"
                )));
            }
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(deliver(
                client.clone(),
                url,
                rx,
                pending.clone(),
                idle.clone(),
            ));
            hooks.push(Hook {
                events: a.on.clone(),
                tx,
            });
        }
        let link = config.http.as_ref().map(|h| {
            h.public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}/", h.listen))
        });
        let link = Mutex::new(link);
        let state = lake.map(|l| l.join("_lakegate"));
        let said = match &state {
            Some(s) => s
                .read("alerts.json")
                .await
                .ok()
                .flatten()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default(),
            None => BTreeMap::new(),
        };
        Ok(Some(Arc::new(Alerts {
            hooks,
            link,
            said: Mutex::new(said),
            state,
            sending: AtomicBool::new(true),
            pending,
            idle,
            save: tokio::sync::Mutex::new(()),
        })))
    }

    /// The status page's bound address, unless `http.public_url` names it.
    pub fn set_bound(&self, addr: std::net::SocketAddr, public_url: Option<&str>) {
        *self.link.lock().expect("alerts lock") =
            Some(public_url.map_or_else(|| format!("http://{addr}/"), str::to_string));
    }

    /// Whether this process sends (it holds the ingest lease, or nothing ingests). Taking over
    /// reads what the previous sender said, so a change it already told is not told again.
    pub async fn set_sending(&self, on: bool) {
        if on
            && !self.sending.load(Ordering::SeqCst)
            && let Some(dir) = &self.state
            && let Some(said) = dir
                .read("alerts.json")
                .await
                .ok()
                .flatten()
                .and_then(|b| serde_json::from_slice::<BTreeMap<String, bool>>(&b).ok())
        {
            let mut mine = self.said.lock().expect("alerts lock");
            // This process's own lease state is its own to tell.
            let lease = mine.get("lease_lost:ingest lease").copied();
            *mine = said;
            if let Some(l) = lease {
                mine.insert("lease_lost:ingest lease".into(), l);
            }
        }
        self.sending.store(on, Ordering::SeqCst);
    }

    /// `subject` is (`firing`) or is not in `event`'s state now; a message goes out only when
    /// that differs from what was last said. A subject first seen healthy says nothing.
    pub async fn change(&self, event: AlertEvent, subject: &str, firing: bool, details: Details) {
        if !self.sending.load(Ordering::SeqCst) {
            return;
        }
        let key = format!("{}:{subject}", event.name());
        {
            let mut said = self.said.lock().expect("alerts lock");
            let before = said.get(&key).copied().unwrap_or(false);
            if before == firing {
                return;
            }
            if firing {
                said.insert(key, true);
            } else {
                said.remove(&key);
            }
        }
        // Losing the lease is this process's own news; the file is the lease holder's.
        if event != AlertEvent::LeaseLost {
            self.persist().await;
        }
        let message = json!({
            "text": format!(
                "{} lakegate: {}",
                if firing { ":red_circle:" } else { ":large_green_circle:" },
                details.text
            ),
            "lakegate": {
                "event": event.name(),
                "state": if firing { "firing" } else { "resolved" },
                "subject": subject,
                "table": subject,
                "slice": details.slice,
                "error": details.error,
                "run_id": details.run_id,
                "link": self.link.lock().expect("alerts lock").clone(),
                "at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            },
        });
        info!(event = event.name(), subject, firing, "alert");
        for h in self.hooks.iter().filter(|h| h.events.contains(&event)) {
            self.pending.fetch_add(1, Ordering::SeqCst);
            if h.tx.try_send(message.clone()).is_err() {
                self.pending.fetch_sub(1, Ordering::SeqCst);
                crate::metrics::metrics()
                    .alerts
                    .get_or_create(&crate::metrics::Status {
                        status: "dropped".into(),
                    })
                    .inc();
                warn!(
                    event = event.name(),
                    subject, "alert queue full; message dropped"
                );
            }
        }
    }

    async fn persist(&self) {
        let Some(dir) = &self.state else {
            return;
        };
        let _one = self.save.lock().await;
        let body = serde_json::to_vec(&*self.said.lock().expect("alerts lock")).unwrap_or_default();
        if let Err(e) = dir.write("alerts.json", body.into()).await {
            warn!(error = %e, "could not record alert state in _lakegate/alerts.json");
        }
    }

    /// Waits (at most `limit`) until every queued message is delivered or given up on: a
    /// `--once` run says what it has to say before it exits.
    pub async fn flush(&self, limit: Duration) {
        let wait = async {
            while self.pending.load(Ordering::SeqCst) > 0 {
                let idle = self.idle.notified();
                if self.pending.load(Ordering::SeqCst) == 0 {
                    break;
                }
                idle.await;
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
    }
}

/// One webhook's sender: messages in order, each retried with backoff.
async fn deliver(
    client: reqwest::Client,
    url: String,
    mut rx: mpsc::Receiver<serde_json::Value>,
    pending: Arc<AtomicUsize>,
    idle: Arc<Notify>,
) {
    let shown = redact(&url);
    while let Some(message) = rx.recv().await {
        let mut outcome = "failed";
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
            }
            match client.post(&url).json(&message).send().await {
                Ok(r) if r.status().is_success() => {
                    outcome = "ok";
                    break;
                }
                // A client error will not get better by repeating it.
                Ok(r) if r.status().is_client_error() && r.status().as_u16() != 429 => {
                    warn!(webhook = %shown, status = r.status().as_u16(), "alert refused");
                    break;
                }
                Ok(r) => {
                    warn!(webhook = %shown, status = r.status().as_u16(), attempt, "alert not delivered")
                }
                // reqwest's error text includes the URL: log its kind only.
                Err(e) => warn!(
                    webhook = %shown,
                    attempt,
                    timeout = e.is_timeout(),
                    connect = e.is_connect(),
                    "alert not delivered"
                ),
            }
        }
        crate::metrics::metrics()
            .alerts
            .get_or_create(&crate::metrics::Status {
                status: outcome.into(),
            })
            .inc();
        if pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn logs_name_the_webhook_host_only() {
        assert_eq!(
            super::redact("https://hooks.slack.com/services/T0/B0/XyZsecret?x=1"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(super::redact("not a url secret"), "(webhook)");
    }
}
