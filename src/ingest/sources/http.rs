//! HTTP/JSON sources: each slice's pages are fetched (`{slice}` and `{page}` in the URL) until
//! a page brings no records, and landed as one JSON-lines file per slice and content.
//!
//! The watermark is a hash of the records: a slice whose content did not change is not landed
//! again (and nothing downstream is rewritten). A single-page slice asks with the last ETag /
//! Last-Modified first, so an unchanged API answers 304 without a body. A slice is fetched at
//! most every `every`; 429, 5xx and network errors are retried with exponential backoff
//! (Retry-After wins, bounded); any other status fails the slice naming the source.

use std::time::Duration;

use deltalake::DeltaTable;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use tracing::info;

use super::relational::Landed;
use super::{Delivery, folder_name};
use crate::config::{HttpSource, SourceConfig};
use crate::ingest::{IngestError, LakePath, Result, Selection};

/// The landed file of an API slice.
pub const RECORDS_FILE: &str = "records.jsonl";
const STATE_FILE: &str = "_state.json";

/// What the last fetch of a slice saw (beside its folders, ignored as data).
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// Unix seconds of the last complete fetch.
    fetched_at: i64,
    /// The watermark folder of the content then.
    watermark: String,
    #[serde(default)]
    etag: Option<String>,
    #[serde(default)]
    last_modified: Option<String>,
    /// The content hash of `watermark`, and how often content seen before came back (a
    /// delivery is recorded by its watermark: content going A → B → A must be read again).
    #[serde(default)]
    base: String,
    #[serde(default)]
    generation: u32,
}

pub async fn land(
    lake: &LakePath,
    name: &str,
    cfg: &SourceConfig,
    _bronze: &Option<DeltaTable>,
    selection: &Selection,
) -> Result<Landed> {
    let http = cfg.http.as_ref().expect("an http source");
    let client = reqwest::Client::builder()
        .timeout(cfg.timeout)
        .user_agent(concat!("lakegate/", env!("CARGO_PKG_VERSION")))
        // Headers carry the source's secrets: follow a redirect only within its origin.
        .redirect(reqwest::redirect::Policy::custom(|a| {
            let same = a
                .previous()
                .first()
                .is_some_and(|first| first.origin() == a.url().origin());
            if same && a.previous().len() < 10 {
                a.follow()
            } else {
                a.stop()
            }
        }))
        .build()
        .map_err(|e| IngestError::Source(format!("sources.{name}: http client: {e}")))?;
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in &http.headers {
        let v = crate::secrets::resolve_secret(&format!("sources.{name}.http.headers.{k}"), v)
            .map_err(IngestError::Config)?;
        let (Ok(k), Ok(v)) = (
            reqwest::header::HeaderName::from_bytes(k.as_bytes()),
            reqwest::header::HeaderValue::from_str(&v),
        ) else {
            return Err(IngestError::Config(format!(
                "sources.{name}.http.headers.{k}: not a valid header"
            )));
        };
        headers.insert(k, v);
    }
    let root = lake.join("landing").join(name);
    let mut out = Landed::default();
    for slice in &http.slices {
        if selection.slice.as_ref().is_some_and(|s| s != slice) {
            continue;
        }
        let dir = root.join(&folder_name(slice));
        let state: State = dir
            .read(STATE_FILE)
            .await
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let now = chrono::Utc::now().timestamp();
        let due = selection.force
            || state.watermark.is_empty()
            || now - state.fetched_at >= http.every.as_secs() as i64;
        if !due {
            out.deliveries.push(Delivery {
                slice: slice.clone(),
                watermark: state.watermark.clone(),
                dir: dir.join(&state.watermark),
            });
            continue;
        }
        match fetch_slice(&client, &headers, name, cfg, slice, &state).await {
            Ok(Fetched::NotModified) => {
                let watermark = state.watermark.clone();
                save_state(
                    &dir,
                    &State {
                        fetched_at: now,
                        ..state
                    },
                )
                .await;
                out.deliveries.push(Delivery {
                    slice: slice.clone(),
                    dir: dir.join(&watermark),
                    watermark,
                });
            }
            Ok(Fetched::Records {
                body,
                records,
                pages,
                etag,
                last_modified,
            }) => {
                let hash = sha2::Sha256::digest(&body);
                let base = format!("h{}", &hex::encode(hash)[..16]);
                let mut generation = state.generation;
                let named = |g: u32| {
                    if g == 0 {
                        base.clone()
                    } else {
                        format!("{base}-g{g}")
                    }
                };
                if base != state.base
                    && !state.base.is_empty()
                    && dir.folders().await?.contains(&named(generation))
                {
                    generation += 1;
                }
                let watermark = named(generation);
                let wdir = dir.join(&watermark);
                let landed = wdir
                    .files()
                    .await?
                    .iter()
                    .any(|f| f.location.filename() == Some(RECORDS_FILE));
                if !landed {
                    wdir.create()?;
                    let staged = super::staging_path(&wdir, RECORDS_FILE);
                    super::stage_bytes(&staged, &body)?;
                    super::publish(&staged, &wdir, RECORDS_FILE).await?;
                    info!(source = name, %slice, records, pages, %watermark, "slice fetched");
                }
                save_state(
                    &dir,
                    &State {
                        fetched_at: now,
                        watermark: watermark.clone(),
                        etag,
                        last_modified,
                        base: base.clone(),
                        generation,
                    },
                )
                .await;
                out.deliveries.push(Delivery {
                    slice: slice.clone(),
                    watermark,
                    dir: wdir,
                });
            }
            Err(e) => out
                .failed
                .push((slice.clone(), String::new(), e.to_string())),
        }
    }
    Ok(out)
}

async fn save_state(dir: &LakePath, state: &State) {
    let _ = dir.create();
    if let Err(e) = dir
        .write(
            STATE_FILE,
            serde_json::to_vec(state).unwrap_or_default().into(),
        )
        .await
    {
        tracing::warn!(error = %e, "http source state not saved; the slice is fetched again");
    }
}

enum Fetched {
    NotModified,
    Records {
        /// The records as JSON lines.
        body: Vec<u8>,
        records: usize,
        pages: u64,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

/// A URL as messages show it: no user info, no query (either may hold a key).
fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            let had_query = u.query().is_some();
            u.set_query(None);
            if had_query {
                format!("{u}?…")
            } else {
                u.to_string()
            }
        }
        Err(_) => "(url)".into(),
    }
}

fn page_url(template: &str, slice: &str, page: u64) -> String {
    let mut encoded = String::new();
    for b in slice.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    template
        .replace("{slice}", &encoded)
        .replace("{page}", &page.to_string())
}

/// The list a page holds at the `records` dot path.
fn records_at<'a>(v: &'a serde_json::Value, path: &str) -> Option<&'a Vec<serde_json::Value>> {
    let mut cur = v;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        cur = cur.get(part)?;
    }
    cur.as_array()
}

async fn fetch_slice(
    client: &reqwest::Client,
    headers: &reqwest::header::HeaderMap,
    name: &str,
    cfg: &SourceConfig,
    slice: &str,
    state: &State,
) -> Result<Fetched> {
    let http: &HttpSource = cfg.http.as_ref().expect("an http source");
    let paged = http.url.contains("{page}");
    let mut body = Vec::new();
    let (mut records, mut pages) = (0usize, 0u64);
    let (mut etag, mut last_modified) = (None, None);
    let mut page = http.first_page;
    loop {
        let url = page_url(&http.url, slice, page);
        // Only a single-page slice can be known unchanged from one answer.
        let conditional = !paged && !state.watermark.is_empty();
        let resp = get(
            client,
            headers,
            name,
            &url,
            http.retries,
            conditional.then_some(state),
        )
        .await?;
        if resp.status() == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if pages == 0 {
            let h = |k: reqwest::header::HeaderName| {
                resp.headers()
                    .get(k)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            etag = h(reqwest::header::ETAG);
            last_modified = h(reqwest::header::LAST_MODIFIED);
        }
        let text = resp.bytes().await.map_err(|e| {
            IngestError::Source(format!(
                "sources.{name}: {}: {}",
                shown(&url),
                e.without_url()
            ))
        })?;
        let json: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
            IngestError::Source(format!("sources.{name}: {}: not JSON: {e}", shown(&url)))
        })?;
        let list = records_at(&json, &http.records).ok_or_else(|| {
            IngestError::Source(format!(
                "sources.{name}: {}: no list at `{}`",
                shown(&url),
                if http.records.is_empty() {
                    "(the page itself)"
                } else {
                    &http.records
                }
            ))
        })?;
        pages += 1;
        if list.is_empty() {
            break;
        }
        for r in list {
            let Some(obj) = r.as_object() else {
                return Err(IngestError::Source(format!(
                    "sources.{name}: {}: a record is not a JSON object",
                    shown(&url)
                )));
            };
            // Each record says which slice it came from (as a database slice's rows do).
            if obj.contains_key(&cfg.slice_column) {
                serde_json::to_writer(&mut body, r).expect("a JSON value serializes");
            } else {
                let mut o = obj.clone();
                o.insert(
                    cfg.slice_column.clone(),
                    serde_json::Value::String(slice.to_string()),
                );
                serde_json::to_writer(&mut body, &o).expect("a JSON value serializes");
            }
            body.push(b'\n');
            records += 1;
        }
        if !paged {
            break;
        }
        if pages >= http.max_pages {
            return Err(IngestError::Source(format!(
                "sources.{name}: slice {slice}: still records after {} pages (http.max_pages)",
                http.max_pages
            )));
        }
        page += 1;
    }
    Ok(Fetched::Records {
        body,
        records,
        pages,
        etag,
        last_modified,
    })
}

/// A client error's text without the URL it carries (shown separately, cleaned).
fn strip_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "");
    }
    s.replace(" for url ()", "").replace(" ()", "")
}

/// One GET with retries of what is worth retrying.
async fn get(
    client: &reqwest::Client,
    headers: &reqwest::header::HeaderMap,
    name: &str,
    url: &str,
    retries: u32,
    conditional: Option<&State>,
) -> Result<reqwest::Response> {
    let mut attempt = 0u32;
    loop {
        let mut req = client.get(url).headers(headers.clone());
        if let Some(s) = conditional {
            if let Some(e) = &s.etag {
                req = req.header(reqwest::header::IF_NONE_MATCH, e);
            }
            if let Some(m) = &s.last_modified {
                req = req.header(reqwest::header::IF_MODIFIED_SINCE, m);
            }
        }
        let outcome = req.send().await;
        let (retry, why, after) = match &outcome {
            Ok(r) if r.status().is_success() || r.status() == reqwest::StatusCode::NOT_MODIFIED => {
                return Ok(outcome.expect("matched Ok"));
            }
            Ok(r)
                if r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS
                    || r.status().is_server_error() =>
            {
                let after = r
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|s| Duration::from_secs(s.min(60)));
                (true, format!("HTTP {}", r.status()), after)
            }
            Ok(r) => (false, format!("HTTP {}", r.status()), None),
            Err(e) => (true, strip_url(e), None),
        };
        if !retry || attempt >= retries {
            // The URL is the source's; its secrets live in headers, which are never shown.
            return Err(IngestError::Source(format!(
                "sources.{name}: GET {}: {why}{}",
                shown(url),
                if attempt > 0 {
                    format!(" (after {attempt} retries)")
                } else {
                    String::new()
                }
            )));
        }
        let backoff =
            Duration::from_millis(200 * 2u64.pow(attempt.min(6))).min(Duration::from_secs(10));
        tokio::time::sleep(after.unwrap_or(backoff)).await;
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_record_paths() {
        assert_eq!(
            page_url("https://x/lists/{slice}?page={page}", "top rated/x", 3),
            "https://x/lists/top%20rated%2Fx?page=3"
        );
        let v: serde_json::Value = serde_json::json!({"data": {"items": [{"a": 1}]}});
        assert_eq!(records_at(&v, "data.items").unwrap().len(), 1);
        assert!(records_at(&v, "data").is_none());
        let list = serde_json::json!([{"a": 1}, {"a": 2}]);
        assert_eq!(records_at(&list, "").unwrap().len(), 2);
    }
}
