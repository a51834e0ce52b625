//! The status page: server-rendered HTML, no JavaScript, no build step. Tables per zone, views
//! with their status and commit, recent ingestion and failed slices, running statements (with
//! a cancel button for admins), and small inline SVG charts of query rate and
//! of each relation's age against its freshness rule.

use std::fmt::Write;
use std::time::Duration;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;

use super::ReadyState;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn queries_total() -> f64 {
    crate::metrics::metrics()
        .render()
        .lines()
        .filter(|l| l.starts_with("lakegate_queries_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// An SVG sparkline of `values` (bars), `w`×`h` pixels.
fn bars(values: &[(String, f64)], w: u32, h: u32, unit: &str) -> String {
    if values.is_empty() {
        return format!(
            "<svg width='{w}' height='{h}' role='img' xmlns='http://www.w3.org/2000/svg'>\
             <rect x='0' y='0' width='{w}' height='{h}' fill='#f9fafb' stroke='#e5e7eb'/>\
             <text x='8' y='{}' font-size='11' fill='#777'>no data yet</text></svg>",
            h / 2
        );
    }
    let max = values.iter().map(|v| v.1).fold(0.0f64, f64::max).max(1e-9);
    let bw = (w as f64 / values.len() as f64).max(2.0);
    let mut svg = format!(
        "<svg width='{w}' height='{}' viewBox='0 0 {w} {}' role='img' xmlns='http://www.w3.org/2000/svg'>",
        h + 14,
        h + 14
    );
    for (i, (label, v)) in values.iter().enumerate() {
        let bh = (v / max * h as f64).max(1.0);
        let _ = write!(
            svg,
            "<rect x='{:.1}' y='{:.1}' width='{:.1}' height='{:.1}' fill='#3b82f6'><title>{}: {:.1} {unit}</title></rect>",
            i as f64 * bw + 1.0,
            h as f64 - bh,
            (bw - 2.0).max(1.0),
            bh,
            esc(label),
            v
        );
    }
    let _ = write!(
        svg,
        "<text x='0' y='{}' font-size='10' fill='#555'>max {:.1} {unit}</text></svg>",
        h + 12,
        max
    );
    svg
}

struct SliceRow {
    table: String,
    slice: String,
    watermark: String,
    status: String,
    rows_out: i64,
    error: String,
    finished: String,
}

async fn recent_slices(lake: &std::path::Path) -> Vec<SliceRow> {
    let path = lake.join("_lakegate/slices");
    if !path.join("_delta_log").is_dir() {
        return vec![];
    }
    let Ok(url) = deltalake::ensure_table_uri(path.to_string_lossy()) else {
        return vec![];
    };
    let Ok(t) = deltalake::open_table(url).await else {
        return vec![];
    };
    let ctx = SessionContext::new();
    let Ok(p) = crate::catalog::delta_provider(&t).await else {
        return vec![];
    };
    if ctx.register_table("s", p).is_err() {
        return vec![];
    }
    let sql = "SELECT table_name, slice_id, watermark, status, rows_out, coalesce(error, '') AS error, \
               CAST(finished_at AS VARCHAR) AS finished \
               FROM s ORDER BY s.finished_at DESC LIMIT 200";
    let batches = match ctx.sql(sql).await {
        Ok(df) => df.collect().await,
        Err(e) => Err(e),
    };
    let batches = match batches {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "status page: ingestion log unreadable");
            return vec![];
        }
    };
    let mut out = Vec::new();
    for b in batches {
        let txt = |i: usize| {
            datafusion::arrow::compute::cast(b.column(i), &DataType::Utf8)
                .map(|a| a.as_string::<i32>().clone())
        };
        let (Ok(t), Ok(s), Ok(w), Ok(st), Ok(e), Ok(f)) =
            (txt(0), txt(1), txt(2), txt(3), txt(5), txt(6))
        else {
            tracing::warn!("status page: unexpected ingestion log columns");
            continue;
        };
        let rows = b
            .column(4)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .clone();
        for i in 0..b.num_rows() {
            out.push(SliceRow {
                table: t.value(i).into(),
                slice: s.value(i).into(),
                watermark: w.value(i).into(),
                status: st.value(i).into(),
                rows_out: rows.value(i),
                error: e.value(i).into(),
                finished: f.value(i).into(),
            });
        }
    }
    out
}

/// The page as `access` may see it: tables, views and ingestion of what their roles grant,
/// and only their own running statements unless they are an admin.
pub async fn render(state: &ReadyState, access: &crate::auth::Access) -> String {
    let admin = access.admin;
    // `zone.table` names in the ingestion log.
    let readable = |qualified: &str| match qualified.split_once('.') {
        Some((s, t)) => access.can_read(s, t),
        None => admin,
    };
    let mut h = String::new();
    let root = state.catalog.root().clone();
    let snap = state.catalog.snapshot();
    let now = chrono::Utc::now();
    {
        let mut s = state.samples.lock().expect("samples lock");
        s.push((now.timestamp(), queries_total()));
        if s.len() > 60 {
            s.remove(0);
        }
    }
    let _ = write!(
        h,
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>lakegate status</title>\
         <meta name=viewport content='width=device-width'>\
         <style>body{{font:14px system-ui,sans-serif;margin:2em;color:#111}}\
         table{{border-collapse:collapse;margin:.5em 0 1.5em}}td,th{{border-bottom:1px solid #ddd;\
         padding:.25em .75em;text-align:left}}th{{background:#f3f4f6}}.dim{{color:#777}}\
         .ok{{color:#15803d}}.bad{{color:#b91c1c}}h2{{margin-top:1.5em}}code{{font-size:12px}}\
         .charts{{display:flex;gap:3em}}</style></head><body>\
         <h1>lakegate</h1><p>database <b>{}</b> · lake <code>{}</code> · {} · version {}</p>",
        esc(&state.database),
        esc(&root.to_string()),
        now.format("%Y-%m-%d %H:%M:%S UTC"),
        env!("CARGO_PKG_VERSION")
    );

    // Charts: query rate between page views, freshness per ingested table.
    let slices = match root.local_path() {
        Some(p) => recent_slices(&p).await,
        None => vec![],
    };
    let rate: Vec<(String, f64)> = {
        let s = state.samples.lock().expect("samples lock");
        s.windows(2)
            .map(|w| {
                let dt = (w[1].0 - w[0].0).max(1) as f64;
                (
                    format!("t={}", w[1].0),
                    ((w[1].1 - w[0].1) / dt * 60.0).max(0.0),
                )
            })
            .collect()
    };
    // Row counts, error text (which may quote source rows) and offsets only of what this user
    // reads whole: under a row filter or mask a slice is shown, its figures are not.
    let whole = |qualified: &str| match qualified.split_once('.') {
        Some((s, t)) => crate::engine::access::sees_whole(Some(access), s, t),
        None => admin,
    };
    let slices: Vec<SliceRow> = slices
        .into_iter()
        .filter(|s| readable(&s.table))
        .map(|mut s| {
            if !whole(&s.table) {
                s.rows_out = -1;
                if !s.error.is_empty() {
                    s.error =
                        "failed (details hidden: your access filters or masks this table)".into();
                }
            }
            s
        })
        .collect();
    let _ = write!(
        h,
        "<div class=charts><div><h2>Query rate</h2>{}<p class=dim>queries/min between page views</p></div></div>",
        bars(&rate, 320, 60, "q/min"),
    );

    // Freshness: every relation the user may read against its rule, stalest first, each with
    // its age over time.
    let history = state.freshness.history_for(access);
    let statuses = state.freshness.statuses_for(access);
    let _ = write!(
        h,
        "<h2>Freshness</h2><table><tr><th>relation</th><th>state</th><th>age</th><th>rule</th><th>age over time</th><th>why</th></tr>"
    );
    for s in &statuses {
        let class = match s.state {
            crate::engine::freshness::State::Error | crate::engine::freshness::State::Warn => "bad",
            crate::engine::freshness::State::Fresh => "ok",
            crate::engine::freshness::State::Unknown => "dim",
        };
        // The history holds only ages this reader may be told (no data time behind a filter).
        let points: Vec<(String, f64)> = history
            .get(&(s.schema.clone(), s.table.clone()))
            .map(|v| {
                v.iter()
                    .map(|(t, age)| {
                        (
                            chrono::DateTime::from_timestamp_micros(*t)
                                .map(|t| t.format("%H:%M:%S").to_string())
                                .unwrap_or_default(),
                            age / 60.0,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let _ = write!(
            h,
            "<tr><td>{}</td><td class={class}>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.name()),
            s.state.name(),
            s.age
                .map(crate::engine::freshness::format_age)
                .unwrap_or_else(|| "-".into()),
            esc(s.rule.as_deref().unwrap_or("")),
            bars(&points, 160, 24, "min"),
            esc(&s.why)
        );
    }
    h.push_str("</table>");

    let _ = write!(
        h,
        "<h2>Tables</h2><table><tr><th>zone</th><th>table</th><th>version</th><th>location</th></tr>"
    );
    for (zone, tables) in &snap.zones {
        for (name, t) in tables.iter().filter(|(n, _)| access.can_read(zone, n)) {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                esc(zone),
                esc(name),
                t.version,
                esc(&t.location.to_string())
            );
        }
    }
    h.push_str("</table>");

    if let Some(v) = &state.views {
        let _ = write!(
            h,
            "<h2>Views</h2><table><tr><th>view</th><th>status</th><th>commit</th><th>error</th></tr>"
        );
        for s in v
            .status()
            .into_iter()
            .filter(|s| access.can_read(&s.schema, &s.name))
        {
            let commit = s
                .served
                .as_ref()
                .and_then(|f| f.git.as_ref())
                .and_then(|g| g.commit.clone())
                .map(|c| c.chars().take(10).collect::<String>())
                .unwrap_or_default();
            let class = if s.status == "ok" { "ok" } else { "bad" };
            let _ = write!(
                h,
                "<tr><td>{}.{}</td><td class={class}>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                esc(&s.schema),
                esc(&s.name),
                s.status,
                esc(&commit),
                esc(s.error.as_deref().unwrap_or(""))
            );
        }
        h.push_str("</table>");
    }

    let _ = write!(h, "<h2>Ingestion</h2>");
    if slices.is_empty() {
        h.push_str("<p class=dim>no ingestion runs recorded</p>");
    } else {
        let _ = write!(
            h,
            "<table><tr><th>finished</th><th>table</th><th>slice</th><th>watermark</th><th>status</th><th>rows</th><th>error</th></tr>"
        );
        let failed: Vec<&SliceRow> = slices.iter().filter(|s| s.status != "ok").collect();
        for s in failed
            .iter()
            .copied()
            .chain(slices.iter().filter(|s| s.status == "ok").take(20))
        {
            let class = if s.status == "ok" { "ok" } else { "bad" };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class={class}>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&s.finished),
                esc(&s.table),
                esc(&s.slice),
                esc(&s.watermark),
                esc(&s.status),
                if s.rows_out < 0 {
                    "-".to_string()
                } else {
                    s.rows_out.to_string()
                },
                esc(&s.error)
            );
        }
        h.push_str("</table>");
    }

    let streams: Vec<_> = state
        .kafka
        .all()
        .into_iter()
        .filter(|p| whole(&format!("bronze.{}", p.source)))
        .collect();
    if !streams.is_empty() {
        let _ = write!(
            h,
            "<h2>Kafka sources</h2><table><tr><th>source</th><th>topic</th><th>partition</th>\
             <th>in bronze up to</th><th>broker high watermark</th><th>lag</th><th>seen</th></tr>"
        );
        for p in &streams {
            let lag = (p.high_watermark - p.lake_offset).max(0);
            let class = if lag == 0 { "ok" } else { "dim" };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class={class}>{lag}</td><td>{}</td></tr>",
                esc(&p.source),
                esc(&p.topic),
                p.partition,
                p.lake_offset,
                p.high_watermark,
                p.seen_at.format("%H:%M:%S")
            );
        }
        h.push_str("</table>");
    }

    let _ = write!(h, "<h2>Running statements</h2>");
    let running: Vec<_> = state
        .activity
        .running()
        .into_iter()
        .filter(|(_, user, _, _)| admin || *user == access.user)
        .collect();
    if running.is_empty() {
        h.push_str("<p class=dim>none</p>");
    } else {
        let _ = write!(
            h,
            "<table><tr><th>pid</th><th>user</th><th>for</th><th>statement</th><th></th></tr>"
        );
        for (pid, user, text, d) in running {
            let cancel = if admin {
                format!(
                    "<form method=post action='/cancel'><input type=hidden name=pid value={pid}>\
                     <button type=submit>cancel</button></form>"
                )
            } else {
                String::new()
            };
            let _ = write!(
                h,
                "<tr><td>{pid}</td><td>{}</td><td>{:.1} s</td><td><code>{}</code></td><td>{cancel}</td></tr>",
                esc(&user),
                d.as_secs_f64(),
                esc(&text.chars().take(300).collect::<String>())
            );
        }
        h.push_str("</table>");
    }
    let _ = Duration::ZERO;
    h.push_str("<p class=dim>/metrics · /ready · /health</p></body></html>");
    h
}
