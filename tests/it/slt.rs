//! sqllogictest files in tests/slt, run over the wire (simple protocol, text results).
//! Errors render as `<SQLSTATE>: <message>`, so `statement error 42P01` checks the code.
//! `LAKEGATE_SLT_COMPLETE=1 cargo test slt` rewrites the expected output (review the diff).

use std::path::Path;

use async_trait::async_trait;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::common::*;

#[derive(Debug)]
struct SqlError(String);

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for SqlError {}

struct Wire(Client);

#[async_trait]
impl AsyncDB for Wire {
    type Error = SqlError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SqlError> {
        let msgs = self.0.simple_query(sql).await.map_err(|e| {
            SqlError(match e.as_db_error() {
                Some(db) => format!("{}: {}", db.code().code(), db.message()),
                None => e.to_string(),
            })
        })?;
        let mut rows = Vec::new();
        let mut columns = 0;
        let mut had_rows = false;
        for m in msgs {
            match m {
                SimpleQueryMessage::RowDescription(d) => {
                    columns = d.len();
                    had_rows = true;
                }
                SimpleQueryMessage::Row(r) => {
                    columns = r.len();
                    had_rows = true;
                    rows.push(
                        (0..r.len())
                            .map(|i| match r.get(i) {
                                None => "NULL".to_string(),
                                Some("") => "(empty)".to_string(),
                                Some(v) => v.to_string(),
                            })
                            .collect(),
                    );
                }
                _ => {}
            }
        }
        if had_rows {
            // The column types, as the extended protocol describes them (the simple one does
            // not): `I` integer, `R` float or numeric, `T` anything else.
            let stmt = self
                .0
                .prepare(sql)
                .await
                .map_err(|e| SqlError(format!("describing the query failed: {e:?}")))?;
            if stmt.columns().len() != columns {
                return Err(SqlError(format!(
                    "described {} columns, sent {columns}",
                    stmt.columns().len()
                )));
            }
            let types = stmt
                .columns()
                .iter()
                .map(|c| column_type(c.type_()))
                .collect();
            Ok(DBOutput::Rows { types, rows })
        } else {
            Ok(DBOutput::StatementComplete(0))
        }
    }

    async fn shutdown(&mut self) {}

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await
    }
}

fn column_type(t: &tokio_postgres::types::Type) -> DefaultColumnType {
    use tokio_postgres::types::Type;
    match *t {
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => DefaultColumnType::Integer,
        Type::FLOAT4 | Type::FLOAT8 | Type::NUMERIC => DefaultColumnType::FloatingPoint,
        _ => DefaultColumnType::Text,
    }
}

/// The lake a file runs against, named on its first line (`# lake: fixtures`): the Spark and
/// Databricks tables of `../shared/fixtures` in `silver`; otherwise the demo lake.
async fn lake_for(file: &Path) -> TestServer {
    let text = std::fs::read_to_string(file).unwrap();
    match text.lines().next().and_then(|l| l.strip_prefix("# lake: ")) {
        Some("fixtures") => {
            let t = empty_server(&["silver"]).await;
            for name in FIXTURES {
                copy_dir(
                    &fixture(name),
                    &t.lake.join("silver").join(name.replace(['-', '.'], "_")),
                );
            }
            t.server.catalog.refresh().await.unwrap();
            t
        }
        Some(other) => panic!("{}: no lake `{other}`", file.display()),
        None => demo_server().await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slt_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let complete = std::env::var("LAKEGATE_SLT_COMPLETE").is_ok();
    // Every record of every file runs; the failures are told together at the end.
    let mut failures: Vec<String> = Vec::new();
    let mut ran = 0;
    for file in files {
        // One isolated lake per file.
        let t = lake_for(&file).await;
        let addr = t.server.addr;
        let mut runner = sqllogictest::Runner::new(move || async move {
            let url = format!(
                "host={} port={} user=slt dbname=lake",
                addr.ip(),
                addr.port()
            );
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .map_err(|e| SqlError(e.to_string()))?;
            tokio::spawn(conn);
            Ok(Wire(client))
        });
        runner.with_column_validator(sqllogictest::strict_column_validator);
        if complete {
            runner
                .update_test_file(
                    &file,
                    " ",
                    sqllogictest::default_validator,
                    sqllogictest::default_normalizer,
                    sqllogictest::strict_column_validator,
                )
                .await
                .unwrap();
            continue;
        }
        let records = sqllogictest::parse_file::<DefaultColumnType>(&file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for record in records {
            let is_test = matches!(
                record,
                sqllogictest::Record::Query { .. } | sqllogictest::Record::Statement { .. }
            );
            ran += usize::from(is_test);
            if let Err(e) = runner.run_async(record).await {
                failures.push(e.display(false).to_string());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ran} slt records failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
