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

    fn text(&self, e: &str) -> String {
        if self.kind == SourceKind::Postgres {
            format!("CAST(({e}) AS text)")
        } else {
            format!("CAST(({e}) AS CHAR)")
        }
    }

    fn literal(&self, v: &str) -> String {
        if self.kind == SourceKind::Postgres {
            // standard_conforming_strings is set on connect: only quotes are special.
            format!("'{}'", v.replace('\'', "''"))
        } else {
            format!("'{}'", v.replace('\\', "\\\\").replace('\'', "''"))
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
            crate::config::resolve_secret(&format!("sources.{}.password", s.name), p)
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
        Ok(Conn::My(
            s.bounded("connect", sqlx::MySqlConnection::connect_with(&o))
                .await?,
        ))
    }
}

/// A PostgreSQL type as `format_type` writes it → the lake type (`parse_type` syntax).
fn pg_type(t: &str) -> String {
    let t = t.to_ascii_lowercase();
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
        "decimal" | "numeric" => numeric(&t.replace("decimal", "numeric")),
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
pub fn land<'a>(
    lake: &'a LakePath,
    name: &'a str,
    cfg: &'a SourceConfig,
    bronze: &'a Option<DeltaTable>,
    only_slice: Option<&'a str>,
    force: bool,
) -> futures::future::BoxFuture<'a, Result<Landed>> {
    // Its own task over owned values: sqlx's executor futures are Send only for concrete
    // lifetimes, which a future generic over the pass's borrows cannot name.
    let (lake, name, cfg, bronze, only) = (
        lake.clone(),
        name.to_string(),
        cfg.clone(),
        bronze.clone(),
        only_slice.map(str::to_string),
    );
    Box::pin(async move {
        tokio::spawn(async move {
            land_inner(&lake, &name, &cfg, &bronze, only.as_deref(), force).await
        })
        .await
        .map_err(|e| IngestError::Config(format!("source task: {e}")))?
    })
}

async fn land_inner(
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
    let select = if source_cols
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case(&cfg.slice_column))
    {
        "*".to_string()
    } else {
        let alias = if cfg.table.is_some() {
            from.rsplit('.').next().unwrap_or(&from).to_string()
        } else {
            "s".to_string()
        };
        format!(
            "{}.*, ({}) AS {}",
            alias,
            s.slice_expr(),
            s.ident(&cfg.slice_column)
        )
    };
    let columns = describe(
        &s,
        &mut conn,
        &format!("SELECT {select} FROM {from} WHERE 1 = 0"),
    )
    .await?;
    let begin = if s.kind == SourceKind::Postgres {
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
    } else {
        "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"
    };
    exec(&s, &mut conn, begin).await?;
    let listing = format!(
        "SELECT {}, {}, COUNT(*) FROM {from} GROUP BY 1 ORDER BY 1",
        s.text(s.slice_expr()),
        s.text(cfg.watermark.as_deref().unwrap_or_default()),
    );
    let listed = list(&s, &mut conn, &listing).await?;
    let mut slices: Vec<(String, String)> = Vec::new();
    let mut null_rows = 0i64;
    for (slice, wm, rows) in listed {
        match slice {
            Some(slice) => slices.push((slice.clone(), watermark_token(wm.as_deref(), rows))),
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
    // Slices landed before that the source no longer has: land them empty.
    let root = lake.join("landing").join(name);
    let known: std::collections::HashSet<String> = slices.iter().map(|x| x.0.clone()).collect();
    for folder in root.folders().await? {
        if folder.starts_with(['.', '_']) {
            continue;
        }
        let slice = from_folder_name(&folder);
        if !known.contains(&slice) {
            slices.push((slice, GONE.to_string()));
        }
    }
    let names: Vec<String> = columns.iter().map(|c| c.0.clone()).collect();
    let mut out = Landed::default();
    for (slice, token) in slices {
        if only_slice.is_some_and(|o| o != slice) {
            continue;
        }
        let dir = root.join(&folder_name(&slice)).join(&token);
        let done = !force && committed(bronze, &app_id("bronze", name, &slice, &token)).await?;
        let landed = dir
            .files()
            .await?
            .iter()
            .any(|f| f.location.filename() == Some(LANDED_FILE));
        if !done && !landed {
            let t0 = std::time::Instant::now();
            let sql = if token == GONE {
                format!("SELECT {select} FROM {from} WHERE 1 = 0")
            } else {
                format!(
                    "SELECT {select} FROM {from} WHERE {} = {}",
                    s.text(s.slice_expr()),
                    s.literal(&slice)
                )
            };
            match read_slice(&s, &mut conn, &sql, &names, &columns, &dir).await {
                Ok(rows) => {
                    out.rows_read += rows;
                    info!(source = name, %slice, watermark = %token, rows, elapsed = ?t0.elapsed(), "slice read from the source");
                }
                Err(e) => {
                    out.failed.push((slice, token, e.to_string()));
                    // The connection may be mid-result: the rest of the pass waits for the next.
                    break;
                }
            }
        }
        out.deliveries.push(Delivery {
            slice,
            watermark: token,
            dir,
        });
    }
    let _ = exec(&s, &mut conn, "ROLLBACK").await;
    close(conn).await;
    // A failed slice is not delivered (its folder holds nothing complete).
    let failed: std::collections::HashSet<&String> = out.failed.iter().map(|f| &f.0).collect();
    let deliveries = std::mem::take(&mut out.deliveries);
    out.deliveries = deliveries
        .into_iter()
        .filter(|d| !failed.contains(&d.slice))
        .collect();
    Ok(out)
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

/// Reads one slice into `dir/part-0.parquet` (written whole or not at all); returns its rows.
async fn read_slice(
    s: &Source<'_>,
    conn: &mut Conn,
    sql: &str,
    names: &[String],
    columns: &[(String, String)],
    dir: &LakePath,
) -> Result<u64> {
    dir.create()?;
    let staged = super::staging_path(dir, LANDED_FILE);
    // The writer (Parquet encoding, and COPY parsing for PostgreSQL) runs on a blocking
    // thread; the connection only moves bytes or rows to it through a bounded channel.
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(8);
    let writer = {
        let (staged, names, columns) = (staged.clone(), names.to_vec(), columns.to_vec());
        tokio::task::spawn_blocking(move || write_landed(rx, &staged, &names, &columns))
    };
    let read = async {
        match conn {
            Conn::Pg(c) => {
                let copy = format!("COPY ({sql}) TO STDOUT");
                let mut stream = pg::copy_out(c, &copy).await.map_err(|e| s.err("read", e))?;
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| s.err("read", e))?;
                    if tx.send(Chunk::Copy(chunk)).await.is_err() {
                        break; // the writer failed: its error is the one reported
                    }
                }
            }
            Conn::My(c) => {
                let binary: Vec<bool> = columns.iter().map(|c| c.1 == "bytea").collect();
                let mut rows = TextRows::new(names);
                let mut stream = my::rows(c, sql);
                let mut hexed = String::new();
                while let Some(row) = stream.next().await {
                    let row = row.map_err(|e| s.err("read", e))?;
                    for i in 0..rows.width() {
                        let v: Option<&[u8]> =
                            row.try_get_unchecked(i).map_err(|e| s.err("read", e))?;
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
                        && tx.send(Chunk::Rows(b)).await.is_err()
                    {
                        break;
                    }
                }
                if rows.pending() > 0 {
                    let _ = tx.send(Chunk::Rows(rows.take())).await;
                }
            }
        }
        drop(tx);
        Ok::<(), IngestError>(())
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
    let written = writer
        .await
        .map_err(|e| IngestError::Config(format!("landing writer task: {e}")))?;
    let outcome = match (read, written) {
        (Err(e), _) | (Ok(()), Err(e)) => Err(e),
        (Ok(()), Ok(rows)) => Ok(rows),
    };
    match outcome {
        Ok(rows) => {
            super::publish(&staged, dir, LANDED_FILE).await?;
            Ok(rows)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            Err(e)
        }
    }
}

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

    pub fn list<'c>(
        c: &'c mut MySqlConnection,
        sql: &'c str,
    ) -> BoxFuture<'c, R<Vec<(Option<String>, Option<String>, i64)>>> {
        Box::pin(async move { sqlx::query_as(sql).fetch_all(c).await })
    }

    pub fn rows<'c>(c: &'c mut MySqlConnection, sql: &'c str) -> BoxStream<'c, R<MySqlRow>> {
        sqlx::raw_sql(sql).fetch(c)
    }
}

enum Chunk {
    /// Raw bytes of `COPY ... TO STDOUT` (text format), cut anywhere.
    Copy(bytes::Bytes),
    Rows(RecordBatch),
}

fn write_landed(
    mut rx: tokio::sync::mpsc::Receiver<Chunk>,
    staged: &std::path::Path,
    names: &[String],
    columns: &[(String, String)],
) -> Result<u64> {
    let mut w = LandedWriter::create(staged, names, columns)?;
    let mut copy = CopyText::new(names);
    while let Some(chunk) = rx.blocking_recv() {
        match chunk {
            Chunk::Rows(b) => w.write(&b)?,
            Chunk::Copy(bytes) => {
                for b in copy.feed(&bytes)? {
                    w.write(&b)?;
                }
            }
        }
    }
    if let Some(b) = copy.finish()? {
        w.write(&b)?;
    }
    let rows = w.rows;
    w.finish()?;
    Ok(rows)
}

/// PostgreSQL's COPY text format: rows end with `\n`, fields are split by tabs, `\N` is NULL
/// and backslash escapes stand for the special characters (so text with tabs, newlines and
/// backslashes comes back exactly; no quoting ambiguity as in CSV).
struct CopyText {
    rows: TextRows,
    carry: Vec<u8>,
    field: String,
}

impl CopyText {
    fn new(names: &[String]) -> CopyText {
        CopyText {
            rows: TextRows::new(names),
            carry: Vec::new(),
            field: String::new(),
        }
    }

    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<RecordBatch>> {
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
            self.line(line)?;
            if let Some(b) = self.rows.end_row() {
                out.push(b);
            }
            start += end + 1;
        }
        self.carry = data[start..].to_vec();
        Ok(out)
    }

    fn finish(&mut self) -> Result<Option<RecordBatch>> {
        if !self.carry.is_empty() {
            return Err(IngestError::Unreadable(
                "COPY output ended inside a row".into(),
            ));
        }
        Ok((self.rows.pending() > 0).then(|| self.rows.take()))
    }

    fn line(&mut self, line: &[u8]) -> Result<()> {
        let width = self.rows.width();
        let mut col = 0;
        for raw in line.split(|b| *b == b'\t') {
            if col >= width {
                return Err(IngestError::Unreadable(format!(
                    "COPY row has more than {width} fields"
                )));
            }
            if raw == b"\\N" {
                self.rows.push(col, None);
            } else if !raw.contains(&b'\\') {
                let s = std::str::from_utf8(raw)
                    .map_err(|e| IngestError::Unreadable(format!("COPY row: {e}")))?;
                self.rows.push(col, Some(s));
            } else {
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
                self.field.clear();
                self.field.push_str(
                    std::str::from_utf8(&bytes)
                        .map_err(|e| IngestError::Unreadable(format!("COPY row: {e}")))?,
                );
                let f = std::mem::take(&mut self.field);
                self.rows.push(col, Some(&f));
                self.field = f;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};

    #[test]
    fn copy_text_is_read_exactly_across_chunks() {
        let names = vec!["a".to_string(), "b".to_string()];
        let mut c = CopyText::new(&names);
        let input = b"1\tx\\ty\\nz\\\\\n2\t\\N\n3\t\n4\t\\\\x0a1b\n5\tcaf\xc3\xa9, \"q\" 'q'\n";
        let mut batches = Vec::new();
        for piece in input.chunks(3) {
            batches.extend(c.feed(piece).unwrap());
        }
        batches.extend(c.finish().unwrap());
        let b = &batches[0];
        let col = b.column(1).as_string::<i32>();
        assert_eq!(b.num_rows(), 5);
        assert_eq!(col.value(0), "x\ty\nz\\");
        assert!(col.is_null(1));
        assert!(!col.is_null(2) && col.value(2).is_empty());
        assert_eq!(col.value(3), "\\x0a1b");
        assert_eq!(col.value(4), "café, \"q\" 'q'");
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
