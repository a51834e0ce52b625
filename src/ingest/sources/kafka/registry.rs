//! A Confluent schema registry client: Avro writer schemas fetched by id
//! (`GET {registry}/schemas/ids/{id}`) and kept for the life of the process (an id names one
//! schema forever, so nothing here goes stale).
//!
//! An id the registry does not know is an answer (the message is a dead letter); a registry
//! that is down is not (the micro-batch waits, nothing is dead-lettered for it).

use std::collections::HashMap;
use std::time::Duration;

use crate::ingest::{IngestError, Result};

pub struct Registry {
    base: String,
    auth: Option<(String, String)>,
    http: reqwest::Client,
    /// id → the schema's JSON, or `None` when the registry said it has no such id.
    known: HashMap<u32, Option<String>>,
}

impl Registry {
    pub fn new(source: &str, base: &str, auth: Option<&str>, timeout: Duration) -> Result<Self> {
        let auth = match auth {
            None => None,
            Some(a) => {
                let a = crate::secrets::resolve_secret(
                    &format!("sources.{source}.value.registry_auth"),
                    a,
                )
                .map_err(IngestError::Config)?;
                let (u, p) = a.split_once(':').ok_or_else(|| {
                    IngestError::Config(format!(
                        "sources.{source}.value.registry_auth: give user:password"
                    ))
                })?;
                Some((u.to_string(), p.to_string()))
            }
        };
        let http = reqwest::Client::builder()
            .timeout(timeout.min(Duration::from_secs(30)))
            .user_agent(concat!("lakegate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| IngestError::Source(format!("sources.{source}: registry client: {e}")))?;
        Ok(Registry {
            base: base.trim_end_matches('/').to_string(),
            auth,
            http,
            known: HashMap::new(),
        })
    }

    /// The schema of `id`: `Ok(None)` when the registry has no such schema.
    pub async fn schema(&mut self, id: u32) -> Result<Option<String>> {
        if let Some(s) = self.known.get(&id) {
            return Ok(s.clone());
        }
        let url = format!("{}/schemas/ids/{id}", self.base);
        let mut last = String::new();
        for attempt in 0..4u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
            let mut req = self.http.get(&url);
            if let Some((u, p)) = &self.auth {
                req = req.basic_auth(u, Some(p));
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    last = format!("{e}");
                    continue;
                }
            };
            let status = resp.status();
            if status == reqwest::StatusCode::NOT_FOUND {
                self.known.insert(id, None);
                return Ok(None);
            }
            if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                last = format!("HTTP {status}");
                continue;
            }
            if !status.is_success() {
                return Err(IngestError::Source(format!(
                    "schema registry {}: HTTP {status} for schema id {id}",
                    self.base
                )));
            }
            #[derive(serde::Deserialize)]
            struct Answer {
                schema: String,
                #[serde(default, rename = "schemaType")]
                schema_type: Option<String>,
            }
            let a: Answer = resp.json().await.map_err(|e| {
                IngestError::Source(format!(
                    "schema registry {}: schema id {id}: {e}",
                    self.base
                ))
            })?;
            if a.schema_type.as_deref().is_some_and(|t| t != "AVRO") {
                // A JSON or Protobuf schema: not something an Avro value was written with.
                self.known.insert(id, None);
                return Ok(None);
            }
            self.known.insert(id, Some(a.schema.clone()));
            return Ok(Some(a.schema));
        }
        Err(IngestError::Source(format!(
            "schema registry {} is not answering ({last}); the micro-batch waits",
            self.base
        )))
    }
}
