//! The Flight SQL door with arrow-flight's own client: handshake and bearer tokens, statements
//! and prepared statements, the catalog calls, grants, row filters and masks, the statement
//! timeout and CancelQuery. Expected rows come from delta-rs reading the tables directly.
//! (Python's ADBC driver and pyarrow.flight run against it in the client tier.)

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{ActionCancelQueryRequest, CommandGetTables, ProstMessageExt};
use arrow_flight::{Action, FlightInfo};
use datafusion::arrow::array::{Array, Int64Array, StringArray};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use futures::TryStreamExt;
use prost::Message;
use tonic::transport::Channel;

use crate::http_api::delta_rs;
use crate::security::secure_server;

async fn flight_server() -> (crate::common::TestServer, tempfile::TempDir, SocketAddr) {
    let limits = lakegate::config::Limits {
        statement_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let (server, dir) = secure_server(None, limits, |c| {
        c.flight = Some(lakegate::config::FlightConfig {
            listen: "127.0.0.1:0".into(),
        });
    })
    .await;
    let addr = server.server.flight_addr.expect("flight listener");
    (server, dir, addr)
}

async fn client(addr: SocketAddr) -> FlightSqlServiceClient<Channel> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("connect");
    FlightSqlServiceClient::new(channel)
}

async fn logged_in(
    addr: SocketAddr,
    user: &str,
    password: &str,
) -> FlightSqlServiceClient<Channel> {
    let mut c = client(addr).await;
    c.handshake(user, password).await.expect("handshake");
    c
}

async fn fetch(
    c: &mut FlightSqlServiceClient<Channel>,
    info: FlightInfo,
) -> Result<RecordBatch, String> {
    let schema = Arc::new(
        info.clone()
            .try_decode_schema()
            .map_err(|e| e.to_string())?,
    );
    let mut batches = vec![];
    for endpoint in info.endpoint {
        let ticket = endpoint.ticket.expect("a ticket");
        let stream = c.do_get(ticket).await.map_err(|e| e.to_string())?;
        batches.extend(
            stream
                .try_collect::<Vec<_>>()
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    concat_batches(&schema, &batches).map_err(|e| e.to_string())
}

async fn run(c: &mut FlightSqlServiceClient<Channel>, sql: &str) -> Result<RecordBatch, String> {
    let info = c
        .execute(sql.to_string(), None)
        .await
        .map_err(|e| e.to_string())?;
    fetch(c, info).await
}

fn texts(b: &RecordBatch, i: usize) -> Vec<Option<String>> {
    let c = cast(b.column(i), &DataType::Utf8).unwrap();
    let c = c.as_any().downcast_ref::<StringArray>().unwrap();
    (0..c.len())
        .map(|r| c.is_valid(r).then(|| c.value(r).to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_sql_serves_statements_under_the_wire_rules() {
    let (server, _dir, addr) = flight_server().await;
    let users = server.lake.join("silver/users");
    // alice: silver.users with `country = 'DE'` and `left(email, 2) || '***'` for email.
    let expected = delta_rs(
        &users,
        "SELECT user_id, left(email, 2) || '***' AS email, country FROM t \
         WHERE country = 'DE' AND user_id <= 60 ORDER BY user_id",
    )
    .await;
    let expected = concat_batches(&expected[0].schema(), &expected).unwrap();
    assert!(expected.num_rows() >= 3);
    let want_ids = expected
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .values()
        .to_vec();
    let want_emails = texts(&expected, 1);

    let mut alice = logged_in(addr, "alice", "alice-pass").await;
    for sql in [
        "SELECT user_id, email, country FROM silver.users WHERE user_id <= 60 ORDER BY user_id",
        "WITH u AS (SELECT * FROM lake.silver.users) SELECT user_id, email, country FROM u WHERE user_id <= 60 ORDER BY user_id",
    ] {
        let got = run(&mut alice, sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(got.schema().field(0).name(), "user_id");
        assert_eq!(
            got.column(0).data_type(),
            &DataType::Int64,
            "Arrow types as the engine has them"
        );
        assert_eq!(
            got.column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec(),
            want_ids,
            "{sql}"
        );
        assert_eq!(texts(&got, 1), want_emails, "{sql}");
        assert!(
            texts(&got, 2).iter().all(|c| c.as_deref() == Some("DE")),
            "{sql}"
        );
    }

    // A prepared statement with a bound parameter gives the same rows.
    let mut stmt = alice
        .prepare(
            "SELECT user_id, email, country FROM silver.users WHERE user_id <= $1 ORDER BY user_id"
                .into(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(stmt.parameter_schema().unwrap().fields().len(), 1);
    let params = RecordBatch::try_from_iter(vec![(
        "$1",
        Arc::new(Int64Array::from(vec![60])) as Arc<dyn Array>,
    )])
    .unwrap();
    stmt.set_parameters(params).unwrap();
    let info = stmt.execute().await.unwrap();
    let got = fetch(&mut alice, info).await.unwrap();
    assert_eq!(
        got.column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .values()
            .to_vec(),
        want_ids
    );
    assert_eq!(texts(&got, 1), want_emails);
    stmt.close().await.unwrap();

    // Outside the grants: PermissionDenied carrying 42501, at planning (GetFlightInfo).
    let e = run(&mut alice, "SELECT count(*) FROM bronze.watch_events")
        .await
        .unwrap_err();
    assert!(e.contains("permission") && e.contains("42501"), "{e}");
    // Writes are refused (read-only, 25006).
    let e = alice
        .execute_update("DELETE FROM silver.users".into(), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("25006"), "{e}");
    // Syntax errors: 42601.
    let e = run(&mut alice, "SELEC 1").await.unwrap_err();
    assert!(e.contains("42601"), "{e}");

    // GetTables answers what alice may see: silver.users, not silver.titles nor bronze.
    let info = alice
        .get_tables(CommandGetTables {
            catalog: None,
            db_schema_filter_pattern: None,
            table_name_filter_pattern: None,
            table_types: vec![],
            include_schema: true,
        })
        .await
        .unwrap();
    let tables = fetch(&mut alice, info).await.unwrap();
    let names: Vec<String> = texts(&tables, 1)
        .into_iter()
        .zip(texts(&tables, 2))
        .map(|(s, t)| format!("{}.{}", s.unwrap(), t.unwrap()))
        .collect();
    assert!(names.contains(&"silver.users".to_string()), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n == "silver.titles" || n.starts_with("bronze.")),
        "{names:?}"
    );
    // With each table's Arrow schema.
    let i = names.iter().position(|n| n == "silver.users").unwrap();
    let schema_bytes = tables
        .column_by_name("table_schema")
        .unwrap()
        .as_any()
        .downcast_ref::<datafusion::arrow::array::BinaryArray>()
        .unwrap()
        .value(i)
        .to_vec();
    let schema =
        datafusion::arrow::ipc::convert::try_schema_from_ipc_buffer(&schema_bytes).unwrap();
    assert!(schema.field_with_name("email").is_ok(), "{schema:?}");

    // The statement timeout (2 s): the stream ends with Cancelled and 57014.
    let e = run(&mut alice, "SELECT pg_sleep(10)").await.unwrap_err();
    assert!(e.contains("57014"), "{e}");
}

/// gRPC's Unauthenticated, as arrow-flight's client prints it (by name or description).
fn unauthenticated(e: &str) -> bool {
    e.contains("Unauthenticated") || e.contains("does not have valid authentication credentials")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_sql_authenticates_and_cancels() {
    let (_server, _dir, addr) = flight_server().await;
    let mut c = client(addr).await;
    let e = c.handshake("alice", "wrong").await.unwrap_err().to_string();
    assert!(
        unauthenticated(&e) && e.contains("28P01") && !e.contains("wrong"),
        "{e}"
    );
    let e = run(&mut c, "SELECT 1").await.unwrap_err();
    assert!(unauthenticated(&e) && e.contains("28000"), "no token: {e}");
    c.set_token("made-up".into());
    let e = run(&mut c, "SELECT 1").await.unwrap_err();
    assert!(
        unauthenticated(&e) && e.contains("28000"),
        "a made-up token: {e}"
    );

    // ops runs a long statement; alice cannot cancel it, ops can.
    let mut ops = logged_in(addr, "ops", "ops-pass").await;
    let info = ops
        .execute("SELECT pg_sleep(30)".into(), None)
        .await
        .unwrap();
    let mut runner = logged_in(addr, "ops", "ops-pass").await;
    let long = {
        let info = info.clone();
        tokio::spawn(async move { fetch(&mut runner, info).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cancel = |info: &FlightInfo| Action {
        r#type: "CancelQuery".into(),
        body: ActionCancelQueryRequest {
            info: info.encode_to_vec().into(),
        }
        .as_any()
        .encode_to_vec()
        .into(),
    };
    let mut alice = logged_in(addr, "alice", "alice-pass").await;
    let answer = alice.do_action(cancel(&info)).await.unwrap();
    let answer: Vec<_> = answer.try_collect().await.unwrap();
    let r = arrow_flight::sql::Any::decode(answer[0].body.clone()).unwrap();
    let r: arrow_flight::sql::ActionCancelQueryResult = r.unpack().unwrap().unwrap();
    assert_eq!(r.result, 3, "NOT_CANCELLABLE for another user");
    let answer: Vec<_> = ops
        .do_action(cancel(&info))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let r = arrow_flight::sql::Any::decode(answer[0].body.clone()).unwrap();
    let r: arrow_flight::sql::ActionCancelQueryResult = r.unpack().unwrap().unwrap();
    assert_eq!(r.result, 1, "CANCELLED");
    let e = tokio::time::timeout(Duration::from_secs(10), long)
        .await
        .expect("canceled well before 30 s")
        .unwrap()
        .unwrap_err();
    // Canceled, not timed out (the statement timeout is 2 s).
    assert!(e.contains("57014") && e.contains("user request"), "{e}");

    // The server goes on.
    let got = run(&mut ops, "SELECT 41 + 1 AS n").await.unwrap();
    assert_eq!(
        got.column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0),
        42
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_sql_refuses_hostile_input_and_foreign_handles() {
    let (_server, _dir, addr) = flight_server().await;
    // Bytes that are not HTTP/2, then a stream of garbage frames after a valid preface.
    {
        use tokio::io::AsyncWriteExt;
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(&[0xffu8; 4096]).await;
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
        let _ = s.write_all(&[0x7fu8; 65536]).await;
    }
    let mut alice = logged_in(addr, "alice", "alice-pass").await;
    // A ticket this server never made.
    let e = alice
        .do_get(arrow_flight::Ticket::new(vec![1u8, 2, 3, 4]))
        .await
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(!e.is_empty());
    // A statement ticket naming a table alice may not read: planned for alice, refused.
    let ticket = arrow_flight::sql::TicketStatementQuery {
        statement_handle: "SELECT * FROM bronze.watch_events".into(),
    }
    .as_any()
    .encode_to_vec();
    let e = match alice.do_get(arrow_flight::Ticket::new(ticket)).await {
        Ok(s) => s
            .try_collect::<Vec<_>>()
            .await
            .map(|_| ())
            .unwrap_err()
            .to_string(),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("42501"), "{e}");
    // ops' prepared statement is not alice's to run.
    let mut ops = logged_in(addr, "ops", "ops-pass").await;
    let mut stmt = ops
        .prepare("SELECT count(*) FROM bronze.watch_events".into(), None)
        .await
        .unwrap();
    let info = stmt.execute().await.unwrap();
    let e = fetch(&mut alice, info.clone()).await.unwrap_err();
    assert!(e.contains("26000"), "{e}");
    let n = fetch(&mut ops, info).await.unwrap();
    assert_eq!(n.num_rows(), 1);
    // The server goes on for everyone.
    let got = run(&mut alice, "SELECT 1 AS one").await.unwrap();
    assert_eq!(got.num_rows(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_sql_is_tls_with_the_servers_certificate() {
    let certs = tempfile::TempDir::new().unwrap();
    crate::security::test_certificates(certs.path());
    let tls = lakegate::config::TlsConfig {
        mode: lakegate::config::TlsMode::Require,
        cert: Some(certs.path().join("server.crt")),
        key: Some(certs.path().join("server.key")),
    };
    let (server, _dir) = secure_server(Some(tls), Default::default(), |c| {
        c.flight = Some(lakegate::config::FlightConfig {
            listen: "127.0.0.1:0".into(),
        });
    })
    .await;
    let addr = server.server.flight_addr.unwrap();
    // Plain HTTP/2 gets nowhere.
    let plain = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await;
    if let Ok(channel) = plain {
        let mut plain = FlightSqlServiceClient::new(channel);
        assert!(plain.handshake("alice", "alice-pass").await.is_err());
    }
    let ca = std::fs::read(certs.path().join("ca.pem")).unwrap();
    let channel = Channel::from_shared(format!("https://localhost:{}", addr.port()))
        .unwrap()
        .tls_config(
            tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(ca))
                .domain_name("localhost"),
        )
        .unwrap()
        .connect()
        .await
        .expect("TLS connect verified against the test CA");
    let mut c = FlightSqlServiceClient::new(channel);
    c.handshake("alice", "alice-pass").await.unwrap();
    let got = run(&mut c, "SELECT 1 AS one").await.unwrap();
    assert_eq!(got.num_rows(), 1);
}
