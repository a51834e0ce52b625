//! PostgreSQL and MySQL/MariaDB sources, read by slice and watermark (sqlx).
//!
//! One pass opens one read-only snapshot transaction (REPEATABLE READ), asks the source for
//! `(slice, watermark, rows)` of every slice, and reads only the slices whose watermark the
//! lake has not ingested yet. The watermark folder is the source's watermark (timestamps in a
//! sortable UTC form) and the slice's row count, so a hard delete that leaves the greatest
//! timestamp alone is still a change. A slice that is gone from the source lands empty.
//!
//! Values are landed as the source renders them (PostgreSQL's COPY text output, MySQL's text
//! protocol), in one Parquet file per slice with the source's column types mapped in its
//! metadata; bronze types them, so a value that does not fit its type (`NaN`, `infinity`,
//! `0000-00-00`) is quarantined with its row instead of failing or changing silently.

use datafusion::arrow::array::RecordBatch;
use deltalake::DeltaTable;
use futures::StreamExt;
use sqlx::{Column, Connection, Row, TypeInfo};
use tracing::{info, warn};

use super::{Delivery, LANDED_FILE, LandedWriter, TextRows, folder_name, from_folder_name};
use crate::config::{DbConnection, SourceConfig, SourceKind};
use crate::ingest::{IngestError, LakePath, Result, app_id, committed};

/// The watermark folder of a slice the source no longer has.
pub const GONE: &str = "gone";

enum Conn {
    Pg(sqlx::PgConnection),
    My(sqlx::MySqlConnection),
}

/// What a pass did with one database source.
#[derive(Debug, Default)]
pub struct Landed {
    pub deliveries: Vec<Delivery>,
    /// Slices whose read failed: (slice, watermark, error).
    pub failed: Vec<(String, String, String)>,
    pub rows_read: u64,
}

struct Source<'a> {
    name: &'a str,
    cfg: &'a SourceConfig,
    kind: SourceKind,
    /// `host:port/db`, for messages (never the URL, which may hold a password).
    shown: String,
}

impl Source<'_> {
    fn err(&self, what: &str, e: impl std::fmt::Display) -> IngestError {
        let kind = if self.kind == SourceKind::Postgres {
            "postgres"
        } else {
            "mysql"
        };
        IngestError::Source(format!(
            "sources.{} ({kind} {}): {what}: {e}",
            self.name, self.shown
        ))
    }

    /// A bounded step: a source that hangs fails the step instead of the pass waiting.
    async fn bounded<T, E: std::fmt::Display>(
        &self,
        what: &str,
        f: impl std::future::Future<Output = std::result::Result<T, E>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.cfg.timeout, f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.err(what, e)),
            Err(_) => Err(self.err(
                what,
                format!(
                    "timed out after {}",
                    humantime::format_duration(self.cfg.timeout)
                ),
            )),
        }
    }

    fn db(&self) -> &DbConnection {
        self.cfg
            .postgres
            .as_ref()
            .or(self.cfg.mysql.as_ref())
            .expect("a relational source has a connection")
    }

    fn from(&self) -> String {
        match (&self.cfg.table, &self.cfg.query) {
            (Some(t), _) => t.clone(),
            (None, Some(q)) => format!("({}) AS s", q.trim().trim_end_matches(';')),
            (None, None) => unreachable!("checked by the config"),
        }
    }

    fn slice_expr(&self) -> &str {
        self.cfg.slice.as_deref().unwrap_or_default()
    }

    /// An expression as text; MySQL's compared byte for byte (its default collations fold
    /// case, accents and trailing spaces, which would merge distinct slices).
    fn text(&self, e: &str) -> String {
        if self.kind == SourceKind::Postgres {
            format!("CAST(({e}) AS text)")
        } else {
            format!("CAST(({e}) AS CHAR CHARACTER SET utf8mb4) COLLATE utf8mb4_bin")
        }
    }

    fn literal(&self, v: &str) -> String {
        if self.kind == SourceKind::Postgres {
            // standard_conforming_strings is set on connect: only quotes are special.
            format!("'{}'", v.replace('\'', "''"))
        } else {
            // Hex: independent of sql_mode (NO_BACKSLASH_ESCAPES) and of quoting.
            format!(
                "CONVERT(X'{}' USING utf8mb4) COLLATE utf8mb4_bin",
                hex::encode(v.as_bytes())
            )
        }
    }

    fn ident(&self, v: &str) -> String {
        if self.kind == SourceKind::Postgres {
            format!("\"{}\"", v.replace('"', "\"\""))
        } else {
            format!("`{}`", v.replace('`', "``"))
        }
    }
}

fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}{}{}",
            u.host_str().unwrap_or("localhost"),
            u.port().map(|p| format!(":{p}")).unwrap_or_default(),
            u.path()
        ),
        Err(_) => "(unparsable url)".into(),
    }
}

async fn connect(s: &Source<'_>) -> Result<Conn> {
    let db = s.db();
    let password = match &db.password {
        Some(p) => Some(
            crate::secrets::resolve_secret(&format!("sources.{}.password", s.name), p)
                .map_err(IngestError::Config)?,
        ),
        None => None,
    };
    if s.kind == SourceKind::Postgres {
        use sqlx::postgres::{PgConnectOptions, PgSslMode};
        let mut o: PgConnectOptions = db.url.parse().map_err(|e| s.err("url", e))?;
        if let Some(p) = &password {
            o = o.password(p);
        }
        if let Some(t) = &db.tls {
            o = o.ssl_mode(t.parse::<PgSslMode>().map_err(|e| s.err("tls", e))?);
        }
        if let Some(ca) = &db.ca {
            o = o.ssl_root_cert(ca);
        }
        // What the text rendering relies on: UTC timestamps with offsets, ISO dates, floats
        // that round-trip, hex bytea, and quotes as the only special character in literals.
        // sqlx logs every statement over 1 s at WARN: a slice read is expected to take longer.
        o = sqlx::ConnectOptions::log_slow_statements(
            o,
            tracing::log::LevelFilter::Debug,
            std::time::Duration::from_secs(3600),
        );
        o = o.application_name("lakegate").options([
            ("TimeZone", "UTC"),
            ("DateStyle", "ISO"),
            ("extra_float_digits", "3"),
            ("bytea_output", "hex"),
            ("standard_conforming_strings", "on"),
            ("IntervalStyle", "postgres"),
        ]);
        Ok(Conn::Pg(
            s.bounded("connect", sqlx::PgConnection::connect_with(&o))
                .await?,
        ))
    } else {
        use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
        let mut o: MySqlConnectOptions = db.url.parse().map_err(|e| s.err("url", e))?;
        if let Some(p) = &password {
            o = o.password(p);
        }
        if let Some(t) = &db.tls {
            let mode = match t.as_str() {
                "disable" => MySqlSslMode::Disabled,
                "prefer" => MySqlSslMode::Preferred,
                "require" => MySqlSslMode::Required,
                "verify-ca" => MySqlSslMode::VerifyCa,
                "verify-full" => MySqlSslMode::VerifyIdentity,
                other => return Err(s.err("tls", format!("unknown mode `{other}`"))),
            };
            o = o.ssl_mode(mode);
        }
        if let Some(ca) = &db.ca {
            o = o.ssl_ca(ca);
        }
        // TIMESTAMP values in UTC (they are timestamptz in the lake).
        o = o.timezone(Some("+00:00".into())).charset("utf8mb4");
        o = sqlx::ConnectOptions::log_slow_statements(
            o,
            tracing::log::LevelFilter::Debug,
            std::time::Duration::from_secs(3600),
        );
        Ok(Conn::My(
            s.bounded("connect", sqlx::MySqlConnection::connect_with(&o))
                .await?,
        ))
    }
}

/// A PostgreSQL type as `format_type` writes it → the lake type (`parse_type` syntax).
fn pg_type(t: &str) -> String {
    let t = t.to_ascii_lowercase();
    if t.ends_with("[]") || t.starts_with('_') {
        return "text".into(); // arrays, as `{1,2}`
    }
    let base = t.split('(').next().unwrap_or("").trim();
    match base {
        "smallint" | "int2" => "smallint".into(),
        "integer" | "int4" | "int" => "int".into(),
        "bigint" | "int8" => "bigint".into(),
        "real" | "float4" => "real".into(),
        "double precision" | "float8" => "double".into(),
        "boolean" | "bool" => "boolean".into(),
        "date" => "date".into(),
        "bytea" => "bytea".into(),
        "numeric" => numeric(&t),
        _ if t.starts_with("timestamp") => {
            if t.contains("with time zone") || t == "timestamptz" {
                "timestamptz".into()
            } else {
                "timestamp".into()
            }
        }
        _ => "text".into(),
    }
}

/// `numeric(p,s)` → `decimal(p,s)`; a numeric without a declared precision (or wider than
/// Arrow's 38 digits) → `decimal(38,18)`, Spark's choice for the same case.
fn numeric(t: &str) -> String {
    if let Some(inner) = t.split_once('(').and_then(|(_, r)| r.strip_suffix(')')) {
        let (p, sc) = inner.split_once(',').unwrap_or((inner, "0"));
        if let (Ok(p), Ok(sc)) = (p.trim().parse::<u8>(), sc.trim().parse::<u8>())
            && p <= 38
            && sc <= p
        {
            return format!("decimal({p},{sc})");
        }
    }
    "decimal(38,18)".into()
}

/// A MySQL type (`COLUMN_TYPE` of information_schema, or sqlx's name) → the lake type.
fn mysql_type(t: &str) -> String {
    let t = t.to_ascii_lowercase();
    let unsigned = t.contains("unsigned");
    let base = t.split(['(', ' ']).next().unwrap_or("").trim().to_string();
    match base.as_str() {
        "boolean" | "bool" => "boolean".into(),
        "tinyint" if t.starts_with("tinyint(1)") => "boolean".into(),
        "tinyint" | "smallint" => {
            if unsigned && base == "smallint" {
                "int".into()
            } else {
                "smallint".into()
            }
        }
        "mediumint" => "int".into(),
        "int" | "integer" => {
            if unsigned {
                "bigint".into()
            } else {
                "int".into()
            }
        }
        "bigint" => {
            if unsigned {
                "decimal(20,0)".into()
            } else {
                "bigint".into()
            }
        }
        "float" => "real".into(),
        "double" | "real" => "double".into(),
        "decimal" | "numeric" => numeric(
            t.replace("decimal", "numeric")
                .replace(" unsigned", "")
                .replace(" zerofill", "")
                .trim(),
        ),
        "date" => "date".into(),
        "datetime" => "timestamp".into(),
        "timestamp" => "timestamptz".into(),
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => "bytea".into(),
        _ => "text".into(),
    }
}

/// The folder-safe watermark of a slice: a timestamp in sortable UTC form, else the text.
fn watermark_token(wm: Option<&str>, rows: i64) -> String {
    let w = match wm {
        None => "none".to_string(),
        Some(w) => match datafusion::arrow::compute::kernels::cast_utils::string_to_datetime(
            &chrono::Utc,
            w.trim(),
        ) {
            Ok(t) => t.format("%Y%m%dT%H%M%S%.6fZ").to_string(),
            Err(_) => w.trim().to_string(),
        },
    };
    folder_name(&format!("{w}_{rows}"))
}

/// Reads what a pass needs from one database source into landing.
pub async fn land(
    lake: &LakePath,
    name: &str,
    cfg: &SourceConfig,
    bronze: &Option<DeltaTable>,
    only_slice: Option<&str>,
    force: bool,
) -> Result<Landed> {
    let db = cfg
        .postgres
        .as_ref()
        .or(cfg.mysql.as_ref())
        .expect("relational");
    let s = Source {
        name,
        cfg,
        kind: cfg.kind(),
        shown: shown(&db.url),
    };
    let mut conn = connect(&s).await?;
    let from = s.from();
    // The slice column is added from the slice expression unless the source has it.
    let probe = format!("SELECT * FROM {from} WHERE 1 = 0");
    let source_cols = describe(&s, &mut conn, &probe).await?;
    let alias = if cfg.table.is_some() {
        from.rsplit('.').next().unwrap_or(&from).to_string()
    } else {
        "s".to_string()
    };
    let has_slice_column = source_cols
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case(&cfg.slice_column));
    let select = if has_slice_column {
        format!("{alias}.*")
    } else {
        format!(
            "{}.*, ({}) AS {}",
            alias,
            s.slice_expr(),
            s.ident(&cfg.slice_column)
        )
    };
    let mut columns = if has_slice_column {
        source_cols
    } else {
        describe(
            &s,
            &mut conn,
            &format!("SELECT {select} FROM {from} WHERE 1 = 0"),
        )
        .await?
    };
    // The added slice column holds the slice id as the listing wrote it: typed only where
    // that text is also how the lake writes the type back (silver checks each row's slice).
    if !has_slice_column
        && let Some(last) = columns.last_mut()
        && !matches!(
            last.1.as_str(),
            "date" | "smallint" | "int" | "bigint" | "text"
        )
    {
        last.1 = "text".into();
    }
    let begin = if s.kind == SourceKind::Postgres {
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
    } else {
        // A consistent snapshot needs REPEATABLE READ, whatever the server's default.
        exec(
            &s,
            &mut conn,
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        )
        .await?;
        "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"
    };
    exec(&s, &mut conn, begin).await?;
    let listing = format!(
        "SELECT {}, {}, COUNT(*) FROM {from} GROUP BY 1 ORDER BY 1",
        s.text(s.slice_expr()),
        s.text(cfg.watermark.as_deref().unwrap_or_default()),
    );
    let listed = list(&s, &mut conn, &listing).await?;
    let mut slices: Vec<(String, String, i64)> = Vec::new();
    let mut null_rows = 0i64;
    for (slice, wm, rows) in listed {
        match slice {
            Some(slice) => slices.push((slice, watermark_token(wm.as_deref(), rows), rows)),
            None => null_rows += rows,
        }
    }
    if null_rows > 0 {
        warn!(
            source = name,
            rows = null_rows,
            "rows whose slice expression is NULL are not read"
        );
    }
    let root = lake.join("landing").join(name);
    // Slices landed before that the source no longer has: land them empty.
    let known: std::collections::HashSet<String> = slices.iter().map(|x| x.0.clone()).collect();
    for folder in root.folders().await? {
        if folder.starts_with(['.', '_']) {
            continue;
        }
        let slice = from_folder_name(&folder);
        if !known.contains(&slice) {
            slices.push((slice, GONE.to_string(), 0));
        }
    }
    // A delivery is recorded by its watermark, so a watermark that comes back (a slice that
    // went and came back, a row added then hard-deleted) would look done: `_slices.json` keeps
    // each slice's last watermark, and one seen before gets a generation suffix (`-g1`).
    let mut state: SliceState = root
        .read(STATE_FILE)
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let before = state.clone();
    for (slice, token, _) in slices.iter_mut() {
        let e = state.0.entry(slice.clone()).or_insert((String::new(), 0));
        if e.0 != *token {
            if !e.0.is_empty() {
                let seen = root.join(&folder_name(slice)).folders().await?;
                if seen.contains(&generation(token, e.1)) {
                    e.1 += 1;
                }
            }
            e.0 = token.clone();
        }
        *token = generation(token, e.1);
    }
    if state != before {
        root.write(
            STATE_FILE,
            serde_json::to_vec(&state).unwrap_or_default().into(),
        )
        .await?;
    }
    let read = SliceRead {
        names: columns.iter().map(|c| c.0.clone()).collect(),
        select,
        from,
        columns,
    };
    let mut out = Landed::default();
    let mut wanted: Vec<Wanted> = Vec::new();
    for (slice, token, rows) in slices {
        if only_slice.is_some_and(|o| o != slice) {
            continue;
        }
        let dir = root.join(&folder_name(&slice)).join(&token);
        let done = !force && committed(bronze, &app_id("bronze", name, &slice, &token)).await?;
        let landed = done
            || dir
                .files()
                .await?
                .iter()
                .any(|f| f.location.filename() == Some(LANDED_FILE));
        if !landed {
            wanted.push(Wanted {
                slice: slice.clone(),
                rows,
                dir: dir.clone(),
            });
        }
        out.deliveries.push(Delivery {
            slice,
            watermark: token,
            dir,
        });
    }
    // Changed slices are read together, a bounded number per query: one scan of the source
    // for many slices instead of one per slice (a slice expression rarely has an index).
    let t0 = std::time::Instant::now();
    let mut failed: Vec<(String, String)> = Vec::new();
    let chunks: Vec<&[Wanted]> = wanted.chunks(SLICES_PER_READ).collect();
    for (k, chunk) in chunks.iter().enumerate() {
        if let Err(e) = read_slices(&s, &mut conn, &read, chunk).await {
            for w in *chunk {
                failed.push((w.slice.clone(), e.to_string()));
            }
            // The connection may be mid-result: the rest waits for the next pass.
            for w in chunks[k + 1..].iter().flat_map(|c| c.iter()) {
                failed.push((
                    w.slice.clone(),
                    "not read: an earlier read of this pass failed".into(),
                ));
            }
            break;
        }
        out.rows_read += chunk.iter().map(|w| w.rows.max(0) as u64).sum::<u64>();
    }
    if !wanted.is_empty() {
        info!(source = name, slices = wanted.len(), rows = out.rows_read, elapsed = ?t0.elapsed(), "slices read from the source");
    }
    let _ = exec(&s, &mut conn, "ROLLBACK").await;
    close(conn).await;
    // A failed slice is not delivered (its folder holds nothing complete).
    let deliveries = std::mem::take(&mut out.deliveries);
    for d in deliveries {
        match failed.iter().find(|f| f.0 == d.slice) {
            Some((_, e)) => out.failed.push((d.slice, d.watermark, e.clone())),
            None => out.deliveries.push(d),
        }
    }
    Ok(out)
}

/// Slices read by one query.
const SLICES_PER_READ: usize = 256;
const STATE_FILE: &str = "_slices.json";

/// slice → (its last watermark, its generation)
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct SliceState(std::collections::BTreeMap<String, (String, u32)>);

fn generation(token: &str, g: u32) -> String {
    if g == 0 {
        token.to_string()
    } else {
        format!("{token}-g{g}")
    }
}

/// A slice to read, the rows the listing counted, and its landing folder.
struct Wanted {
    slice: String,
    rows: i64,
    dir: LakePath,
}

async fn close(conn: Conn) {
    let _ = match conn {
        Conn::Pg(c) => c.close().await,
        Conn::My(c) => c.close().await,
    };
}

async fn exec(s: &Source<'_>, conn: &mut Conn, sql: &str) -> Result<()> {
    match conn {
        Conn::Pg(c) => s.bounded(sql, pg::exec(c, sql)).await.map(drop),
        Conn::My(c) => s.bounded(sql, my::exec(c, sql)).await.map(drop),
    }
}

/// Column names and their lake types, from the source's own description of the query (and,
/// for table columns, the declared type with its precision).
async fn describe(s: &Source<'_>, conn: &mut Conn, sql: &str) -> Result<Vec<(String, String)>> {
    match conn {
        Conn::Pg(c) => {
            let d = s.bounded("describe", pg::describe(c, sql)).await?;
            let mut out = Vec::new();
            for col in d.columns() {
                let declared = match (col.relation_id(), col.relation_attribute_no()) {
                    (Some(rel), Some(att)) => {
                        s.bounded("describe", pg::declared(c, rel, att)).await?
                    }
                    _ => None,
                };
                let t = declared.unwrap_or_else(|| col.type_info().name().to_string());
                out.push((col.name().to_string(), pg_type(&t)));
            }
            Ok(out)
        }
        Conn::My(c) => {
            let d = s.bounded("describe", my::describe(c, sql)).await?;
            // A table's declared types carry DECIMAL's precision and scale; a query's
            // description does not (decimal(38,18) then).
            let mut declared = std::collections::HashMap::new();
            if let Some(t) = &s.cfg.table {
                let (schema, table) = match t.split_once('.') {
                    Some((a, b)) => (Some(a.to_string()), b.to_string()),
                    None => (None, t.clone()),
                };
                let rows = s
                    .bounded("describe", my::declared(c, schema, table))
                    .await?;
                declared.extend(rows.into_iter().map(|(n, t)| (n.to_lowercase(), t)));
            }
            Ok(d.columns()
                .iter()
                .map(|col| {
                    let t = declared
                        .get(&col.name().to_lowercase())
                        .cloned()
                        .unwrap_or_else(|| col.type_info().name().to_string());
                    (col.name().to_string(), mysql_type(&t))
                })
                .collect())
        }
    }
}

/// `(slice, watermark, rows)` of every slice, as text.
async fn list(
    s: &Source<'_>,
    conn: &mut Conn,
    sql: &str,
) -> Result<Vec<(Option<String>, Option<String>, i64)>> {
    match conn {
        Conn::Pg(c) => s.bounded("list slices", pg::list(c, sql)).await,
        Conn::My(c) => s.bounded("list slices", my::list(c, sql)).await,
    }
}

/// Reads `slices` with one query into `<dir>/part-0.parquet` each (written whole or not at
/// all): rows are routed by their slice while they stream. A slice whose row count differs
/// from the listing's (both come from one snapshot) fails rather than landing a wrong slice.
async fn read_slices(
    s: &Source<'_>,
    conn: &mut Conn,
    read: &SliceRead,
    slices: &[Wanted],
) -> Result<()> {
    let SliceRead {
        select,
        from,
        names,
        columns,
    } = read;
    let mut staged = std::collections::HashMap::new();
    for w in slices {
        w.dir.create()?;
        staged.insert(w.slice.clone(), super::staging_path(&w.dir, LANDED_FILE));
    }
    let listed: Vec<&Wanted> = slices.iter().filter(|w| w.slice_listed()).collect();
    // The writer (Parquet encoding, and COPY parsing for PostgreSQL) runs on a blocking
    // thread; the connection only moves bytes or rows to it through a bounded channel.
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(8);
    let writer = {
        let (staged, names, columns) = (staged.clone(), names.to_vec(), columns.to_vec());
        tokio::task::spawn_blocking(move || write_landed(rx, &staged, &names, &columns))
    };
    let read = async {
        if listed.is_empty() {
            drop(tx);
            return Ok::<(), IngestError>(());
        }
        let list = listed
            .iter()
            .map(|w| s.literal(&w.slice))
            .collect::<Vec<_>>()
            .join(", ");
        let slice_text = s.text(s.slice_expr());
        let sql =
            format!("SELECT {slice_text}, {select} FROM {from} WHERE {slice_text} IN ({list})");
        match conn {
            Conn::Pg(c) => {
                let copy = format!("COPY ({sql}) TO STDOUT");
                let mut stream = pg::copy_out(c, &copy).await.map_err(|e| s.err("read", e))?;
                // COPY sends one message per row: they go to the writer a megabyte at a time
                // (a channel hand-off per row cost more than the parsing).
                let mut buf = bytes::BytesMut::with_capacity(1 << 20);
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| s.err("read", e))?;
                    buf.extend_from_slice(&chunk);
                    if buf.len() >= 1 << 20 {
                        let full =
                            std::mem::replace(&mut buf, bytes::BytesMut::with_capacity(1 << 20));
                        if tx.send(Chunk::Copy(full.freeze())).await.is_err() {
                            break; // the writer failed: its error is the one reported
                        }
                    }
                }
                if !buf.is_empty() {
                    let _ = tx.send(Chunk::Copy(buf.freeze())).await;
                }
            }
            Conn::My(c) => {
                let binary: Vec<bool> = columns.iter().map(|c| c.1 == "bytea").collect();
                let mut routed: std::collections::HashMap<String, TextRows> =
                    std::collections::HashMap::new();
                let mut stream = my::rows(c, &sql);
                let mut hexed = String::new();
                while let Some(row) = stream.next().await {
                    let row = row.map_err(|e| s.err("read", e))?;
                    let key: Option<&[u8]> =
                        row.try_get_unchecked(0).map_err(|e| s.err("read", e))?;
                    let key = String::from_utf8_lossy(key.unwrap_or_default()).into_owned();
                    let rows = routed
                        .entry(key.clone())
                        .or_insert_with(|| TextRows::with_batch(names, ROUTED_BATCH_ROWS));
                    for i in 0..rows.width() {
                        let v: Option<&[u8]> =
                            row.try_get_unchecked(i + 1).map_err(|e| s.err("read", e))?;
                        match v {
                            None => rows.push(i, None),
                            Some(b) if binary[i] => {
                                hexed.clear();
                                hexed.push_str("\\x");
                                hexed.push_str(&hex::encode(b));
                                rows.push(i, Some(&hexed));
                            }
                            Some(b) => match std::str::from_utf8(b) {
                                Ok(t) => rows.push(i, Some(t)),
                                Err(_) => rows.push(i, Some(&String::from_utf8_lossy(b))),
                            },
                        }
                    }
                    if let Some(b) = rows.end_row()
                        && tx.send(Chunk::Rows(key, b)).await.is_err()
                    {
                        break;
                    }
                }
                for (key, mut rows) in routed {
                    if rows.pending() > 0 && tx.send(Chunk::Rows(key, rows.take())).await.is_err() {
                        break;
                    }
                }
            }
        }
        drop(tx);
        Ok(())
    };
    let read = match tokio::time::timeout(s.cfg.timeout, read).await {
        Ok(r) => r,
        Err(_) => Err(s.err(
            "read",
            format!(
                "timed out after {}",
                humantime::format_duration(s.cfg.timeout)
            ),
        )),
    };
    let written = writer.await.map_err(|source| IngestError::Task {
        what: "landing writer",
        source,
    })?;
    let outcome = match (read, written) {
        (Err(e), _) | (Ok(()), Err(e)) => Err(e),
        (Ok(()), Ok(counts)) => Ok(counts),
    };
    let counts = match outcome {
        Ok(c) => c,
        Err(e) => {
            for f in staged.values() {
                let _ = std::fs::remove_file(f);
            }
            return Err(e);
        }
    };
    for w in slices {
        let got = counts.get(&w.slice).copied().unwrap_or(0);
        if got != w.rows.max(0) as u64 {
            for f in staged.values() {
                let _ = std::fs::remove_file(f);
            }
            return Err(s.err(
                "read",
                format!(
                    "slice {}: the listing counted {} rows, the read returned {got} (a slice \
                     expression that does not compare equal to its own text?)",
                    w.slice, w.rows
                ),
            ));
        }
    }
    for w in slices {
        super::publish(&staged[&w.slice], &w.dir, LANDED_FILE).await?;
    }
    Ok(())
}

/// What every slice read of one source selects: the select list (with the slice column),
/// the relation, and the landed columns (name, Postgres type) in the select's order.
struct SliceRead {
    select: String,
    from: String,
    names: Vec<String>,
    columns: Vec<(String, String)>,
}

impl Wanted {
    /// A slice the source listed (a gone slice, with no rows, lands empty without a query).
    fn slice_listed(&self) -> bool {
        self.rows > 0
    }
}

/// Rows buffered per slice while a read routes many slices (bounds memory: slices x this).
const ROUTED_BATCH_ROWS: usize = 8 * 1024;

/// PostgreSQL calls as boxed futures (as for MySQL below).
mod pg {
    use futures::future::BoxFuture;
    use futures::stream::BoxStream;
    use sqlx::PgConnection;
    use sqlx::postgres::types::Oid;

    type R<T> = Result<T, sqlx::Error>;

    pub fn exec<'c>(c: &'c mut PgConnection, sql: &'c str) -> BoxFuture<'c, R<()>> {
        // Drained through sqlx's own boxed stream: `raw_sql(..).execute` is not Send.
        Box::pin(async move {
            use futures::StreamExt;
            let mut s = sqlx::raw_sql(sql).fetch_many(c);
            while let Some(r) = s.next().await {
                r?;
            }
            Ok(())
        })
    }

    pub fn describe<'c>(
        c: &'c mut PgConnection,
        sql: &'c str,
    ) -> BoxFuture<'c, R<sqlx::Describe<sqlx::Postgres>>> {
        Box::pin(async move { sqlx::Executor::describe(c, sql).await })
    }

    pub fn declared(c: &mut PgConnection, rel: Oid, att: i16) -> BoxFuture<'_, R<Option<String>>> {
        Box::pin(async move {
            sqlx::query_scalar(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
                 WHERE attrelid = $1 AND attnum = $2",
            )
            .bind(rel)
            .bind(att)
            .fetch_optional(c)
            .await
        })
    }

    pub fn list<'c>(
        c: &'c mut PgConnection,
        sql: &'c str,
    ) -> BoxFuture<'c, R<Vec<(Option<String>, Option<String>, i64)>>> {
        Box::pin(async move { sqlx::query_as(sql).fetch_all(c).await })
    }

    pub fn copy_out<'c>(
        c: &'c mut PgConnection,
        sql: &'c str,
    ) -> BoxFuture<'c, R<BoxStream<'c, R<bytes::Bytes>>>> {
        Box::pin(async move { c.copy_out_raw(sql).await })
    }
}

/// MySQL calls as boxed futures with named lifetimes: sqlx's MySQL executor futures are Send
/// only for concrete lifetimes, which the pass's own (generic) future cannot name.
mod my {
    use futures::future::BoxFuture;
    use futures::stream::BoxStream;
    use sqlx::MySqlConnection;
    use sqlx::mysql::MySqlRow;

    type R<T> = Result<T, sqlx::Error>;

    pub fn exec<'c>(c: &'c mut MySqlConnection, sql: &'c str) -> BoxFuture<'c, R<()>> {
        // Drained through sqlx's own boxed stream: `raw_sql(..).execute` on MySQL is not Send.
        Box::pin(async move {
            use futures::StreamExt;
            let mut s = sqlx::raw_sql(sql).fetch_many(c);
            while let Some(r) = s.next().await {
                r?;
            }
            Ok(())
        })
    }

    pub fn describe<'c>(
        c: &'c mut MySqlConnection,
        sql: &'c str,
    ) -> BoxFuture<'c, R<sqlx::Describe<sqlx::MySql>>> {
        Box::pin(async move { sqlx::Executor::describe(c, sql).await })
    }

    pub fn declared<'c>(
        c: &'c mut MySqlConnection,
        schema: Option<String>,
        table: String,
    ) -> BoxFuture<'c, R<Vec<(String, String)>>> {
        Box::pin(async move {
            sqlx::query_as(
                "SELECT CAST(COLUMN_NAME AS CHAR), CAST(COLUMN_TYPE AS CHAR) \
                 FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?",
            )
            .bind(schema)
            .bind(table)
            .fetch_all(c)
            .await
        })
    }

    /// Text compared byte for byte comes back flagged binary: decoded as bytes.
    pub fn list<'c>(
        c: &'c mut MySqlConnection,
        sql: &'c str,
    ) -> BoxFuture<'c, R<Vec<(Option<String>, Option<String>, i64)>>> {
        Box::pin(async move {
            use sqlx::Row;
            let text = |r: &MySqlRow, i: usize| -> R<Option<String>> {
                Ok(r.try_get_unchecked::<Option<Vec<u8>>, _>(i)?
                    .map(|b| String::from_utf8_lossy(&b).into_owned()))
            };
            sqlx::query(sql)
                .fetch_all(c)
                .await?
                .iter()
                .map(|r| Ok((text(r, 0)?, text(r, 1)?, r.try_get::<i64, _>(2)?)))
                .collect()
        })
    }

    pub fn rows<'c>(c: &'c mut MySqlConnection, sql: &'c str) -> BoxStream<'c, R<MySqlRow>> {
        sqlx::raw_sql(sql).fetch(c)
    }
}

enum Chunk {
    /// Raw bytes of `COPY ... TO STDOUT` (text format, the slice first), cut anywhere.
    Copy(bytes::Bytes),
    /// Rows of one slice.
    Rows(String, RecordBatch),
}

/// Writes every slice's file; returns the rows written per slice.
fn write_landed(
    mut rx: tokio::sync::mpsc::Receiver<Chunk>,
    staged: &std::collections::HashMap<String, std::path::PathBuf>,
    names: &[String],
    columns: &[(String, String)],
) -> Result<std::collections::HashMap<String, u64>> {
    let mut writers: std::collections::HashMap<String, LandedWriter> =
        std::collections::HashMap::new();
    let mut write = |slice: &str, b: &RecordBatch| -> Result<()> {
        if !writers.contains_key(slice) {
            let path = staged.get(slice).ok_or_else(|| {
                IngestError::Unreadable(format!(
                    "the read returned a row of slice `{slice}`, which was not asked for"
                ))
            })?;
            writers.insert(
                slice.to_string(),
                LandedWriter::create(path, names, columns)?,
            );
        }
        writers.get_mut(slice).expect("inserted").write(b)
    };
    let mut copy = CopyText::new(names);
    while let Some(chunk) = rx.blocking_recv() {
        match chunk {
            Chunk::Rows(slice, b) => write(&slice, &b)?,
            Chunk::Copy(bytes) => {
                for (slice, b) in copy.feed(&bytes)? {
                    write(&slice, &b)?;
                }
            }
        }
    }
    for (slice, b) in copy.finish()? {
        write(&slice, &b)?;
    }
    let mut counts = std::collections::HashMap::new();
    for (slice, w) in writers {
        counts.insert(slice, w.rows);
        w.finish()?;
    }
    // Slices without rows (a gone slice) land as an empty file with the columns.
    for (slice, path) in staged {
        if !counts.contains_key(slice) {
            LandedWriter::create(path, names, columns)?.finish()?;
            counts.insert(slice.clone(), 0);
        }
    }
    Ok(counts)
}

/// PostgreSQL's COPY text format: rows end with `\n`, fields are split by tabs, `\N` is NULL
/// and backslash escapes stand for the special characters (so text with tabs, newlines and
/// backslashes comes back exactly; no quoting ambiguity as in CSV).
struct CopyText {
    names: Vec<String>,
    routed: std::collections::HashMap<String, TextRows>,
    carry: Vec<u8>,
    field: String,
    scratch: String,
}

impl CopyText {
    fn new(names: &[String]) -> CopyText {
        CopyText {
            names: names.to_vec(),
            routed: std::collections::HashMap::new(),
            carry: Vec::new(),
            field: String::new(),
            scratch: String::new(),
        }
    }

    /// Parses the complete rows in `bytes` (and what was carried over); returns full batches
    /// per slice.
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<(String, RecordBatch)>> {
        let mut out = Vec::new();
        let mut start = 0;
        let data: std::borrow::Cow<[u8]> = if self.carry.is_empty() {
            std::borrow::Cow::Borrowed(bytes)
        } else {
            let mut v = std::mem::take(&mut self.carry);
            v.extend_from_slice(bytes);
            std::borrow::Cow::Owned(v)
        };
        while let Some(end) = data[start..].iter().position(|b| *b == b'\n') {
            let line = &data[start..start + end];
            let (key, rest) = match line.iter().position(|b| *b == b'\t') {
                Some(t) => (&line[..t], &line[t + 1..]),
                None => (line, &line[line.len()..]),
            };
            unescape(key, &mut self.field)?;
            if !self.routed.contains_key(&self.field) {
                self.routed.insert(
                    self.field.clone(),
                    TextRows::with_batch(&self.names, ROUTED_BATCH_ROWS),
                );
            }
            let rows = self.routed.get_mut(&self.field).expect("inserted");
            fields(rest, rows, &mut self.scratch)?;
            if let Some(b) = rows.end_row() {
                out.push((self.field.clone(), b));
            }
            start += end + 1;
        }
        self.carry = data[start..].to_vec();
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<(String, RecordBatch)>> {
        if !self.carry.is_empty() {
            return Err(IngestError::Unreadable(
                "COPY output ended inside a row".into(),
            ));
        }
        Ok(self
            .routed
            .iter_mut()
            .filter(|(_, r)| r.pending() > 0)
            .map(|(k, r)| (k.clone(), r.take()))
            .collect())
    }
}

/// One COPY field's text, escapes resolved, into `out`.
fn unescape(raw: &[u8], out: &mut String) -> Result<()> {
    out.clear();
    if !raw.contains(&b'\\') {
        out.push_str(
            std::str::from_utf8(raw)
                .map_err(|e| IngestError::Unreadable(format!("COPY row: {e}")))?,
        );
        return Ok(());
    }
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' && i + 1 < raw.len() {
            let c = raw[i + 1];
            i += 2;
            match c {
                b'n' => bytes.push(b'\n'),
                b'r' => bytes.push(b'\r'),
                b't' => bytes.push(b'\t'),
                b'b' => bytes.push(8),
                b'f' => bytes.push(12),
                b'v' => bytes.push(11),
                b'0'..=b'7' => {
                    let mut v = (c - b'0') as u32;
                    let mut k = 0;
                    while k < 2 && i < raw.len() && (b'0'..=b'7').contains(&raw[i]) {
                        v = v * 8 + (raw[i] - b'0') as u32;
                        i += 1;
                        k += 1;
                    }
                    bytes.push(v as u8);
                }
                b'x' if i < raw.len() && raw[i].is_ascii_hexdigit() => {
                    let mut v = 0u32;
                    let mut k = 0;
                    while k < 2 && i < raw.len() && raw[i].is_ascii_hexdigit() {
                        v = v * 16 + (raw[i] as char).to_digit(16).unwrap_or(0);
                        i += 1;
                        k += 1;
                    }
                    bytes.push(v as u8);
                }
                other => bytes.push(other),
            }
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    out.push_str(
        std::str::from_utf8(&bytes)
            .map_err(|e| IngestError::Unreadable(format!("COPY row: {e}")))?,
    );
    Ok(())
}

/// The fields of one COPY row (after its slice) into `rows`: `\N` is NULL.
fn fields(line: &[u8], rows: &mut TextRows, field: &mut String) -> Result<()> {
    let width = rows.width();
    let mut col = 0;
    for raw in line.split(|b| *b == b'\t') {
        if col >= width {
            return Err(IngestError::Unreadable(format!(
                "COPY row has more than {width} fields"
            )));
        }
        if raw == b"\\N" {
            rows.push(col, None);
        } else if !raw.contains(&b'\\') {
            let s = std::str::from_utf8(raw)
                .map_err(|e| IngestError::Unreadable(format!("COPY row: {e}")))?;
            rows.push(col, Some(s));
        } else {
            unescape(raw, field)?;
            rows.push(col, Some(field));
        }
        col += 1;
    }
    if col != width {
        return Err(IngestError::Unreadable(format!(
            "COPY row has {col} fields, expected {width}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};

    #[test]
    fn copy_text_is_read_exactly_across_chunks() {
        let names = vec!["a".to_string(), "b".to_string()];
        let mut c = CopyText::new(&names);
        let input = b"d1\t1\tx\\ty\\nz\\\\\nd2\t2\t\\N\nd1\t3\t\nd1\t4\t\\\\x0a1b\nd1\t5\tcaf\xc3\xa9, \"q\" 'q'\n";
        let mut batches = Vec::new();
        for piece in input.chunks(3) {
            batches.extend(c.feed(piece).unwrap());
        }
        batches.extend(c.finish().unwrap());
        batches.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(batches.len(), 2);
        let (k, b) = &batches[0];
        assert_eq!(k, "d1");
        let col = b.column(1).as_string::<i32>();
        assert_eq!(b.num_rows(), 4);
        assert_eq!(col.value(0), "x\ty\nz\\");
        assert!(!col.is_null(1) && col.value(1).is_empty());
        assert_eq!(col.value(2), "\\x0a1b");
        assert_eq!(col.value(3), "café, \"q\" 'q'");
        let (k, b) = &batches[1];
        assert_eq!((k.as_str(), b.num_rows()), ("d2", 1));
        assert!(b.column(1).as_string::<i32>().is_null(0));
    }

    #[test]
    fn types_map_exactly() {
        assert_eq!(pg_type("numeric(12,2)"), "decimal(12,2)");
        assert_eq!(pg_type("numeric"), "decimal(38,18)");
        assert_eq!(pg_type("numeric(50,2)"), "decimal(38,18)");
        assert_eq!(pg_type("timestamp(3) with time zone"), "timestamptz");
        assert_eq!(pg_type("timestamp without time zone"), "timestamp");
        assert_eq!(pg_type("TIMESTAMPTZ"), "timestamptz");
        assert_eq!(pg_type("character varying(20)"), "text");
        assert_eq!(pg_type("integer[]"), "text");
        assert_eq!(pg_type("jsonb"), "text");
        assert_eq!(mysql_type("decimal(12,2)"), "decimal(12,2)");
        assert_eq!(mysql_type("decimal(10,2) unsigned"), "decimal(10,2)");
        assert_eq!(pg_type("numeric(12,2)[]"), "text");
        assert_eq!(mysql_type("tinyint(1)"), "boolean");
        assert_eq!(mysql_type("int(10) unsigned"), "bigint");
        assert_eq!(mysql_type("bigint(20) unsigned"), "decimal(20,0)");
        assert_eq!(mysql_type("datetime(6)"), "timestamp");
        assert_eq!(mysql_type("timestamp"), "timestamptz");
        assert_eq!(mysql_type("longblob"), "bytea");
        assert_eq!(mysql_type("json"), "text");
    }

    #[test]
    fn watermarks_are_folder_safe_and_sortable() {
        assert_eq!(
            watermark_token(Some("2026-01-02 10:00:00.5+00"), 3),
            "20260102T100000.500000Z_3"
        );
        assert_eq!(watermark_token(Some("42"), 1), "42_1");
        assert_eq!(watermark_token(None, 0), "none_0");
    }
}
