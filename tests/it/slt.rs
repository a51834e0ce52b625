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
            Ok(DBOutput::Rows {
                types: vec![DefaultColumnType::Any; columns],
                rows,
            })
        } else {
            Ok(DBOutput::StatementComplete(0))
        }
    }

    async fn shutdown(&mut self) {}

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await
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
    for file in files {
        // One isolated lake per file.
        let t = demo_server().await;
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
        if complete {
            runner
                .update_test_file(
                    &file,
                    " ",
                    sqllogictest::default_validator,
                    sqllogictest::default_normalizer,
                    sqllogictest::default_column_validator,
                )
                .await
                .unwrap();
        } else if let Err(e) = runner.run_file_async(&file).await {
            panic!("{}: {e}", file.display());
        }
    }
}
