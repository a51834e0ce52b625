//! What real clients send, replayed: tests/replay/captured.jsonl holds every statement
//! SQLAlchemy's inspector (psycopg2, psycopg 3), psycopg 3, asyncpg, pgjdbc, psqlODBC,
//! node-postgres, ADBC's PostgreSQL driver, connectorx and psql's `\d` sent to a real
//! PostgreSQL 15 (tests/replay/capture.sh). Each is replayed against lakegate's demo lake and
//! against a PostgreSQL 15 holding the same tables and rows (tests/replay/schema.sql, filled
//! with lakegate's own `COPY ... TO STDOUT`); the answers must agree. Run by tests/sources/run.sh
//! (LAKEGATE_TEST_REPLAY_PG, LAKEGATE_TEST_REPLAY_PASSWORD: the cluster's `postgres` role, so
//! objects have the owner lakegate reports).

use futures::{SinkExt, TryStreamExt};
use tokio_postgres::SimpleQueryMessage;

type Answer = (Vec<String>, Vec<Vec<Option<String>>>);

async fn answer(c: &tokio_postgres::Client, sql: &str) -> Result<Answer, tokio_postgres::Error> {
    // `COPY (...) TO STDOUT` (ADBC's PostgreSQL driver, connectorx): its bytes, in whatever
    // format it asks for.
    if sql.trim_start().to_ascii_uppercase().starts_with("COPY") {
        let data: Vec<bytes::Bytes> = c.copy_out(sql).await?.try_collect().await?;
        let hex = data.concat().iter().map(|b| format!("{b:02x}")).collect();
        return Ok((vec!["copy".into()], vec![vec![Some(hex)]]));
    }
    let mut columns = Vec::new();
    let mut rows = Vec::new();
    for m in c.simple_query(sql).await? {
        match m {
            SimpleQueryMessage::RowDescription(d) => {
                columns = d.iter().map(|c| c.name().to_string()).collect();
            }
            SimpleQueryMessage::Row(r) => {
                rows.push((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect());
            }
            _ => {}
        }
    }
    rows.sort();
    Ok((columns, rows))
}

/// The statement with its bound parameters as literals (both servers then type them as
/// Postgres types an untyped literal), highest number first so `$1` does not eat `$10`.
fn bound(sql: &str, params: &[Option<String>]) -> String {
    let mut out = sql.to_string();
    for (i, p) in params.iter().enumerate().rev() {
        let literal = match p {
            Some(v) => format!("'{}'", v.replace('\'', "''")),
            None => "NULL".into(),
        };
        out = out.replace(&format!("${}", i + 1), &literal);
    }
    out
}

/// OIDs of the user objects a server has (its schemas, relations and their row types), by
/// the object they name: each server numbers its own.
type Oids = std::collections::HashMap<String, String>;

/// The answer with each OID of a user object written as the object it names
/// (`oid:relation silver.users`), sorted again: the two servers' answers then compare as text.
fn named_oids(mut a: Answer, oids: &Oids) -> Answer {
    for row in &mut a.1 {
        for cell in row.iter_mut() {
            if let Some(name) = cell.as_ref().and_then(|v| oids.get(v)) {
                *cell = Some(format!("oid:{name}"));
            }
        }
    }
    a.1.sort();
    a
}

/// Cells that may differ between two catalogs of the same tables: the server's version string.
fn same_cell(column: &str, pg: &Option<String>, lake: &Option<String>) -> bool {
    pg == lake || column == "version"
}

/// Statements whose answers differ for a reason that is known and documented.
const KNOWN: &[(&str, &str)] = &[
    (
        "pg_settings WHERE name='max_index_keys'",
        "pg_settings is datafusion-pg-catalog's fixed list, without max_index_keys",
    ),
    (
        "FROM\n    pg_catalog.pg_attribute\nORDER BY",
        "every attribute of the database: PostgreSQL's system catalogs are not lakegate's",
    ),
    (
        "FROM pg_catalog.pg_type WHERE (typreceive != 0 OR typsend != 0)",
        "every type of the database: PostgreSQL has a row type per system catalog",
    ),
];

/// Column names as Postgres gives them, where DataFusion needs them unique: a name Postgres
/// repeats (`?column?` for two NULLs, `pg_get_expr` twice) is numbered here (`_1`,
/// `pg_get_expr_2`), a documented difference (docs/clients.md).
fn same_names(pg: &[String], lake: &[String]) -> bool {
    pg.len() == lake.len()
        && pg.iter().zip(lake).all(|(p, l)| {
            p == l
                || (pg.iter().filter(|x| *x == p).count() > 1
                    && l.rsplit_once('_').is_some_and(|(stem, n)| {
                        n.parse::<usize>().is_ok()
                            && (stem == p || (stem.is_empty() && p == "?column?"))
                    }))
        })
}

fn same(pg: &Answer, lake: &Answer) -> bool {
    same_names(&pg.0, &lake.0)
        && pg.1.len() == lake.1.len()
        && pg.1.iter().zip(&lake.1).all(|(a, b)| {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .zip(&pg.0)
                    .all(|((x, y), col)| same_cell(col, x, y))
        })
}

async fn postgres() -> tokio_postgres::Client {
    let var = |v: &str| {
        std::env::var(v).unwrap_or_else(|_| panic!("{v} is not set: run tests/sources/run.sh"))
    };
    crate::common::pg_client(
        &var("LAKEGATE_TEST_REPLAY_PG"),
        &var("LAKEGATE_TEST_REPLAY_PASSWORD"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL 15: tests/sources/run.sh"]
async fn captured_client_statements_answer_as_postgresql_does() {
    // The demo as `lakegate demo` serves it: its lake and the repository's views.
    let dir = tempfile::TempDir::new().unwrap();
    let lake = lakegate::demo::write_demo_lake(&dir.path().join("lake"), false)
        .await
        .unwrap();
    let mut config = crate::common::config(&lake);
    config.views = Some(lakegate::config::ViewsSource::Folder(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("views"),
    ));
    let server = lakegate::server::start(config).await.unwrap();
    let lg = crate::common::connect_to(&server, "lake").await.unwrap();
    let pg = postgres().await;
    pg.batch_execute("DROP SCHEMA IF EXISTS silver, bronze, gold, lakegate CASCADE")
        .await
        .unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/replay");
    pg.batch_execute(&std::fs::read_to_string(root.join("schema.sql")).unwrap())
        .await
        .unwrap();
    // The same rows on both sides: lakegate's COPY text into PostgreSQL's COPY FROM.
    for table in ["silver.users", "silver.titles"] {
        let data: Vec<bytes::Bytes> = lg
            .copy_out(&format!("COPY {table} TO STDOUT"))
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let sink = pg
            .copy_in(&format!("COPY {table} FROM STDIN"))
            .await
            .unwrap();
        futures::pin_mut!(sink);
        sink.send(bytes::Bytes::from(data.concat())).await.unwrap();
        sink.finish().await.unwrap();
    }
    let (n_pg, n_lake) = (
        answer(&pg, "SELECT count(*) FROM silver.users")
            .await
            .unwrap(),
        answer(&lg, "SELECT count(*) FROM silver.users")
            .await
            .unwrap(),
    );
    assert_eq!(n_pg.1, n_lake.1);
    assert_eq!(n_pg.1[0][0].as_deref(), Some("412"));

    // psql's `\d` names a relation by the OID the capture server gave it: each server gets
    // its own OID for the same relation.
    let captured_oids: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(root.join("oids.json")).unwrap()).unwrap();
    let oid_sql = "SELECT c.oid::text, 'relation ' || n.nspname || '.' || c.relname \
                   FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                   WHERE c.oid >= 16384 \
                   UNION ALL SELECT c.reltype::text, 'row type ' || n.nspname || '.' || c.relname \
                   FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                   WHERE c.reltype >= 16384 \
                   UNION ALL SELECT oid::text, 'schema ' || nspname FROM pg_catalog.pg_namespace \
                   WHERE oid >= 16384";
    // OID → object, for reading answers.
    let oids_of = |a: Answer| -> Oids {
        a.1.into_iter()
            .filter_map(|r| Some((r[0].clone()?, r[1].clone()?)))
            .collect()
    };
    let (pg_named, lake_named) = (
        oids_of(answer(&pg, oid_sql).await.unwrap()),
        oids_of(answer(&lg, oid_sql).await.unwrap()),
    );
    // Relation → OID, for writing statements (psql's `\d` names a relation by its OID).
    let by_relation = |named: &Oids| -> Oids {
        named
            .iter()
            .filter_map(|(oid, name)| {
                Some((name.strip_prefix("relation ")?.to_string(), oid.clone()))
            })
            .collect()
    };
    let (pg_oids, lake_oids) = (by_relation(&pg_named), by_relation(&lake_named));
    // In one pass, so an OID replaced is not replaced again.
    // Quoted (psql) or bare (psqlODBC's `c.oid = 16391`).
    let number = regex::Regex::new(r"\b(\d{5,10})\b").unwrap();
    let with_oids = |sql: &str, oids: &std::collections::HashMap<String, String>| {
        number
            .replace_all(sql, |c: &regex::Captures| {
                match captured_oids.get(&c[1]).and_then(|name| oids.get(name)) {
                    Some(new) => new.clone(),
                    None => c[0].to_string(),
                }
            })
            .into_owned()
    };
    let captured = std::fs::read_to_string(root.join("captured.jsonl")).unwrap();
    let mut failures = Vec::new();
    let mut clients = std::collections::BTreeSet::new();
    let mut compared = 0;
    for line in captured.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        let client = r["client"].as_str().unwrap();
        clients.insert(client.to_string());
        let params: Vec<Option<String>> = r["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().map(str::to_string))
            .collect();
        let sql = bound(r["sql"].as_str().unwrap(), &params);
        if let Some((_, why)) = KNOWN.iter().find(|(text, _)| sql.contains(text)) {
            eprintln!("not compared ({why}): {sql}");
            continue;
        }
        let want = match answer(&pg, &with_oids(&sql, &pg_oids)).await {
            Ok(a) => named_oids(a, &pg_named),
            Err(e) => panic!("PostgreSQL refused a captured statement ({client}): {e}\n{sql}"),
        };
        compared += 1;
        let sql = with_oids(&sql, &lake_oids);
        match answer(&lg, &sql).await.map(|a| named_oids(a, &lake_named)) {
            Ok(got) if same(&want, &got) => {}
            Ok(got) => failures.push(format!(
                "{client}: different answer\n{sql}\nPostgreSQL: {want:?}\nlakegate:   {got:?}"
            )),
            Err(e) => failures.push(format!(
                "{client}: {}\n{sql}",
                e.as_db_error()
                    .map_or(e.to_string(), |d| d.message().to_string())
            )),
        }
    }
    assert_eq!(clients.len(), 10, "{clients:?}");
    assert!(
        failures.is_empty(),
        "{} of {compared} captured statements answered differently:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
