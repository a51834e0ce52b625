//! Kafka topics as a source, against a real Kafka-protocol broker (Tansu) and a schema
//! registry started by tests/kafka/run.sh (LAKEGATE_TEST_KAFKA, LAKEGATE_TEST_REGISTRY,
//! LAKEGATE_TEST_TANSU, LAKEGATE_TEST_KAFKA_PY). Messages are produced by confluent-kafka
//! (librdkafka and its Avro serializer); the expected answers are where the producer says
//! each message landed (partition, offset) and what it sent.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};
use tempfile::TempDir;

use super::sources::{Rows, config, failures, lake_rows};
use lakegate::ingest::{Ingestor, LakePath, Selection};

fn env(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: run tests/kafka/run.sh"))
}

/// A new topic with `partitions` partitions.
fn topic(name: &str, partitions: u32) -> String {
    let name = format!("{name}-{}", std::process::id());
    let out = std::process::Command::new(env("LAKEGATE_TEST_TANSU"))
        .args(["topic", "create", "--broker"])
        .arg(format!("tcp://{}", env("LAKEGATE_TEST_KAFKA")))
        .args(["--partitions", &partitions.to_string(), &name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    name
}

/// Produces `messages` (see tests/kafka/produce.py) and returns them with partition and offset.
fn produce(topic: &str, messages: &[Value]) -> Vec<Value> {
    use std::io::Write;
    let mut child = std::process::Command::new(env("LAKEGATE_TEST_KAFKA_PY"))
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/kafka/produce.py"
        ))
        .args([
            env("LAKEGATE_TEST_KAFKA"),
            env("LAKEGATE_TEST_REGISTRY"),
            topic.to_string(),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(messages).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// 2026-11-01T10:00:00Z in milliseconds.
const BASE_MS: i64 = 1_793_527_200_000;

fn schema_v1() -> Value {
    json!({"type": "record", "name": "Order", "namespace": "shop", "fields": [
        {"name": "order_id", "type": "long"},
        {"name": "amount", "type": "double"},
        {"name": "event_time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID"]}},
        {"name": "customer", "type": {"type": "record", "name": "Customer", "fields": [
            {"name": "name", "type": "string"},
            {"name": "tags", "type": {"type": "array", "items": "string"}}]}}
    ]})
}

/// v1 and a nullable `coupon` with a default: a compatible change.
fn schema_v2() -> Value {
    let mut s = schema_v1();
    s["fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "coupon", "type": ["null", "string"], "default": null}));
    s
}

/// `amount` as a string: a change bronze cannot take.
fn schema_v3() -> Value {
    let mut s = schema_v1();
    s["fields"][1] = json!({"name": "amount", "type": "string"});
    s
}

fn order(schema: Value, id: i64, cents: i64, t_ms: i64, coupon: Option<&str>) -> Value {
    let mut v = json!({
        "order_id": id,
        "amount": cents as f64 / 100.0,
        "event_time": t_ms,
        "status": if id % 2 == 0 { "NEW" } else { "PAID" },
        "customer": {"name": format!("c{id}"), "tags": ["t", format!("x{}", id % 3)]},
    });
    if schema["fields"].as_array().unwrap().len() == 6 {
        v["coupon"] = coupon.map(Value::from).unwrap_or(Value::Null);
    }
    if schema["fields"][1]["type"] == "string" {
        v["amount"] = json!(format!("{cents}"));
    }
    json!({"key": format!("{id}"), "avro": {"schema": schema, "value": v},
           "headers": {"origin": "test"}})
}

fn yaml(name: &str, topic: &str, extra: &str) -> String {
    format!(
        r#"sources:
  {name}:
    kafka: {{brokers: "{}", topic: {topic}}}
    value: {{format: avro, registry: "{}"}}
    slice: "date_trunc('minute', event_time)"
    slice_column: event_minute
    batch: {{max_rows: 120, max_wait: 300ms}}
silver:
  {name}_orders: {{from: {name}, unique_key: [order_id], latest_by: event_time, mode: merge}}
{extra}"#,
        env("LAKEGATE_TEST_KAFKA"),
        env("LAKEGATE_TEST_REGISTRY"),
    )
}

/// What bronze must hold for delivered Avro messages that decode:
/// partition, offset, order_id, amount in cents, status, customer name, coupon.
fn bronze_expected(delivered: &[Value]) -> Rows {
    delivered
        .iter()
        .filter(|m| m.get("avro").is_some() && m["avro"]["schema"]["fields"][1]["type"] == "double")
        .map(|m| {
            let v = &m["avro"]["value"];
            vec![
                Some(m["partition"].to_string()),
                Some(m["offset"].to_string()),
                Some(v["order_id"].to_string()),
                Some(format!(
                    "{}",
                    (v["amount"].as_f64().unwrap() * 100.0).round() as i64
                )),
                Some(v["status"].as_str().unwrap().to_string()),
                Some(v["customer"]["name"].as_str().unwrap().to_string()),
                v.get("coupon").and_then(|c| c.as_str()).map(str::to_string),
            ]
        })
        .collect()
}

/// Bronze as [`bronze_expected`] has it (`coupon` exists once a v2 message landed).
fn bronze_sql(coupon: bool) -> String {
    format!(
        "SELECT _kafka_partition, _kafka_offset, order_id, CAST(round(amount * 100) AS BIGINT), \
         status, customer['name'], {} FROM t",
        if coupon {
            "coupon"
        } else {
            "CAST(NULL AS VARCHAR)"
        }
    )
}

fn sorted(mut r: Rows) -> Rows {
    r.sort();
    r
}

/// Equal row sets; a mismatch names the sizes and the first rows each side lacks.
#[track_caller]
fn same(got: Rows, want: Rows) {
    let (g, w) = (sorted(got), sorted(want));
    if g != w {
        let extra: Vec<_> = g.iter().filter(|r| !w.contains(r)).take(3).collect();
        let missing: Vec<_> = w.iter().filter(|r| !g.contains(r)).take(3).collect();
        panic!(
            "lake has {} rows, expected {}; not expected: {extra:?}; missing: {missing:?}",
            g.len(),
            w.len()
        );
    }
}

async fn txn(table: &Path, app: &str) -> Option<i64> {
    let url = deltalake::ensure_table_uri(table.to_string_lossy()).unwrap();
    let t = deltalake::open_table(url).await.unwrap();
    t.snapshot()
        .unwrap()
        .transaction_version(t.log_store().as_ref(), app)
        .await
        .unwrap()
}

/// The next offset per partition of what was delivered.
fn ends(delivered: &[Value]) -> BTreeMap<i64, i64> {
    let mut out = BTreeMap::new();
    for m in delivered {
        let (p, o) = (
            m["partition"].as_i64().unwrap(),
            m["offset"].as_i64().unwrap(),
        );
        let e = out.entry(p).or_insert(0);
        *e = (*e).max(o + 1);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Kafka broker and a schema registry: tests/kafka/run.sh"]
async fn kafka_avro_lands_every_message_once_with_dead_letters_and_schema_evolution() {
    let dir = TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    let t = topic("orders", 3);
    let cfg = config(&lake, &yaml("orders_stream", &t, ""));
    let ing = Ingestor::new(LakePath::local(&lake).unwrap(), cfg.clone());
    // 200 orders in v1, seven seconds apart (slices of a minute).
    let v1: Vec<Value> = (0..200)
        .map(|i| order(schema_v1(), i, 1000 + i * 25, BASE_MS + i * 7_000, None))
        .collect();
    let mut delivered = produce(&t, &v1);
    let id_v1 = delivered[0]["schema_id"].as_i64().unwrap() as u32;
    // Messages that do not decode: no framing, an id the registry does not have, a body
    // cut short, JSON on an Avro topic.
    let bad = vec![
        json!({"key": "b1", "partition": 0, "raw_hex": "ff00"}),
        json!({"key": "b2", "partition": 1, "raw_hex": "000000270f02"}),
        json!({"key": "b3", "partition": 2, "raw_hex": format!("00{id_v1:08x}02")}),
        json!({"key": "b4", "partition": 0, "raw_hex": hex::encode(br#"{"order_id": 1}"#)}),
    ];
    let bad = produce(&t, &bad);
    delivered.extend(bad.clone());
    let r = ing.run_once(&Selection::default()).await.unwrap();
    assert!(failures(&r).is_empty(), "{:?}", failures(&r));
    let bronze = lake.join("bronze/orders_stream");
    let expected = sorted(bronze_expected(&delivered));
    assert_eq!(expected.len(), 200);
    same(lake_rows(&bronze, &bronze_sql(false)).await, expected);
    // The dead letters: each bad message once, with its bytes, position and reason.
    let dead = sorted(
        lake_rows(
            &lake.join("quarantine/orders_stream"),
            "SELECT _kafka_partition, _kafka_offset, _kafka_key, encode(raw_value, 'hex'), reason FROM t",
        )
        .await,
    );
    let reasons = [
        "not in the Confluent wire format (no magic byte 0 and 4-byte schema id)",
        "schema id 9999 is not in the schema registry",
        "corrupt Avro body for schema id",
        "not in the Confluent wire format (no magic byte 0 and 4-byte schema id)",
    ];
    let mut want: Rows = bad
        .iter()
        .zip(reasons)
        .map(|(m, why)| {
            vec![
                Some(m["partition"].to_string()),
                Some(m["offset"].to_string()),
                Some(m["key"].as_str().unwrap().to_string()),
                Some(m["raw_hex"].as_str().unwrap().to_string()),
                Some(why.to_string()),
            ]
        })
        .collect();
    want.sort();
    assert_eq!(dead.len(), 4, "{dead:?}");
    for (got, want) in dead.iter().zip(&want) {
        assert_eq!(got[..4], want[..4]);
        let reason = got[4].as_deref().unwrap();
        assert!(reason.starts_with(want[4].as_deref().unwrap()), "{reason}");
    }
    // The offsets are the lake's: each partition's next offset, in bronze's log.
    for (p, end) in ends(&delivered) {
        let app = lakegate::ingest::sources::kafka::offset_app("orders_stream", &t, p as i32);
        assert_eq!(txn(&bronze, &app).await, Some(end), "partition {p}");
        let label = lakegate::metrics::PartitionLabel {
            source: "orders_stream".into(),
            topic: t.clone(),
            partition: p,
        };
        let m = lakegate::metrics::metrics();
        assert_eq!(m.kafka_lag.get_or_create(&label).get(), 0);
        assert_eq!(m.kafka_offset.get_or_create(&label).get(), end);
        // What the status page lists.
        let pos = ing.kafka_positions().all();
        let pos = pos
            .iter()
            .find(|x| x.topic == t && x.partition == p as i32)
            .expect("listed");
        assert_eq!((pos.lake_offset, pos.high_watermark), (end, end));
    }
    // A pass with nothing new changes nothing.
    let r = ing.run_once(&Selection::default()).await.unwrap();
    assert!(r.slices.is_empty(), "{:?}", r.slices);
    // A compatible v2 (a new nullable column): updates of orders 150..199 a minute later,
    // and new orders 200..209; bronze grows the column. An incompatible v3 is dead-lettered.
    let mut more: Vec<Value> = (150..210)
        .map(|i| {
            order(
                schema_v2(),
                i,
                5000 + i,
                BASE_MS + i * 7_000 + 60_000,
                Some("SAVE5"),
            )
        })
        .collect();
    more.push(order(schema_v3(), 300, 1, BASE_MS, None));
    let more = produce(&t, &more);
    delivered.extend(more.clone());
    // A new process: offsets come from the lake.
    let ing = Ingestor::new(LakePath::local(&lake).unwrap(), cfg.clone());
    let r = ing.run_once(&Selection::default()).await.unwrap();
    assert!(failures(&r).is_empty(), "{:?}", failures(&r));
    let expected = sorted(bronze_expected(&delivered));
    assert_eq!(expected.len(), 260);
    same(lake_rows(&bronze, &bronze_sql(true)).await, expected);
    let v3 = lake_rows(
        &lake.join("quarantine/orders_stream"),
        "SELECT _kafka_key, reason FROM t WHERE _kafka_key = '300'",
    )
    .await;
    assert_eq!(v3.len(), 1, "{v3:?}");
    assert!(
        v3[0][1].as_deref().unwrap().contains(
            "field `amount` is text but bronze.orders_stream has it as double precision (an incompatible schema change)"
        ),
        "{v3:?}"
    );
    // Silver: one row per order, the latest by event_time (the v2 update for 150..199).
    let mut want: Rows = (0..210)
        .map(|i: i64| {
            let (cents, coupon) = if i >= 150 {
                (5000 + i, Some("SAVE5".to_string()))
            } else {
                (1000 + i * 25, None)
            };
            vec![Some(i.to_string()), Some(cents.to_string()), coupon]
        })
        .collect();
    want.sort();
    let got = sorted(
        lake_rows(
            &lake.join("silver/orders_stream_orders"),
            "SELECT order_id, CAST(round(amount * 100) AS BIGINT), coupon FROM t",
        )
        .await,
    );
    same(got, want);
}

/// JSON values typed by `schema:`; a value that does not type, or is not an object, is a
/// dead letter; `slice:` over the message timestamp.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Kafka broker and a schema registry: tests/kafka/run.sh"]
async fn kafka_json_values_typed_by_schema_and_sliced_by_message_time() {
    let dir = TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    let t = topic("plays", 2);
    let yaml = format!(
        r#"sources:
  plays:
    kafka: {{brokers: ["{}"], topic: {t}}}
    value: {{format: json}}
    schema: {{user_id: bigint, video: text, seconds: double}}
    slice: "date_trunc('hour', _kafka_timestamp)"
    slice_column: hour
"#,
        env("LAKEGATE_TEST_KAFKA")
    );
    let cfg = config(&lake, &yaml);
    let mut msgs: Vec<Value> = (0..50)
        .map(|i| {
            json!({"key": null, "json": {"user_id": i, "video": format!("v{}", i % 4), "seconds": i as f64 / 2.0},
                   "timestamp_ms": BASE_MS + i * 120_000})
        })
        .collect();
    msgs.push(json!({"json": {"user_id": "not a number", "video": "v", "seconds": 1}, "timestamp_ms": BASE_MS}));
    msgs.push(json!({"raw_hex": hex::encode(b"[1, 2]"), "timestamp_ms": BASE_MS}));
    msgs.push(json!({"json": {"user_id": 7, "extra": true}, "timestamp_ms": BASE_MS}));
    let delivered = produce(&t, &msgs);
    let ing = Ingestor::new(LakePath::local(&lake).unwrap(), cfg);
    let r = ing.run_once(&Selection::default()).await.unwrap();
    assert!(failures(&r).is_empty(), "{:?}", failures(&r));
    let got = sorted(
        lake_rows(
            &lake.join("bronze/plays"),
            "SELECT _kafka_partition, _kafka_offset, user_id, video, CAST(seconds * 2 AS BIGINT), _slice_id FROM t",
        )
        .await,
    );
    let want = sorted(
        delivered[..50]
            .iter()
            .map(|m| {
                let i = m["json"]["user_id"].as_i64().unwrap();
                let hour = chrono::DateTime::from_timestamp_millis(
                    BASE_MS + i * 120_000 - (i * 120_000) % 3_600_000,
                )
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
                vec![
                    Some(m["partition"].to_string()),
                    Some(m["offset"].to_string()),
                    Some(i.to_string()),
                    Some(format!("v{}", i % 4)),
                    Some(i.to_string()),
                    Some(hour),
                ]
            })
            .collect(),
    );
    assert_eq!(got, want);
    let dead = sorted(
        lake_rows(
            &lake.join("quarantine/plays"),
            "SELECT _kafka_offset, _kafka_partition, reason FROM t",
        )
        .await,
    );
    let reasons: Vec<&str> = dead.iter().map(|r| r[2].as_deref().unwrap()).collect();
    assert_eq!(dead.len(), 3, "{dead:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("column user_id: `not a number` is not a valid bigint")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.starts_with("not a JSON object")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("column `extra` is not in the source's schema")),
        "{reasons:?}"
    );
}

/// SIGKILL of `lakegate ingest` (the continuous loop) at random points while the topic grows,
/// then `--once`: bronze holds every message exactly once, the dead letters too, and silver
/// one row per key.
#[test]
#[ignore = "needs a Kafka broker and a schema registry: tests/kafka/run.sh"]
fn kafka_killed_at_random_points_then_bronze_holds_every_message_exactly_once() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    let t = topic("killed", 3);
    let cfg_path = dir.path().join("lakegate.yaml");
    std::fs::write(
        &cfg_path,
        format!(
            "lake: {}\n{}",
            lake.display(),
            yaml("killed", &t, "ingest: {interval: 1s}\n")
        ),
    )
    .unwrap();
    let mut seed: u64 = 0x6b61_666b;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % 3000
    };
    let spawn = |once: bool| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_lakegate"));
        c.arg("ingest");
        if once {
            c.arg("--once");
        }
        c.args(["--wait", "10s", "--config"])
            .arg(&cfg_path)
            .env("LAKEGATE_LOG", "error")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut delivered = Vec::new();
    for round in 0..8i64 {
        // The topic moves on between crashes: new orders, updates, a dead letter.
        let mut msgs: Vec<Value> = (0..400)
            .map(|i| {
                let id = round * 300 + i;
                order(
                    schema_v1(),
                    id,
                    id * 10 + round,
                    BASE_MS + id * 1_000 + round * 10,
                    None,
                )
            })
            .collect();
        msgs.push(json!({"key": format!("bad{round}"), "raw_hex": "ffee"}));
        delivered.extend(produce(&t, &msgs));
        let mut child = spawn(false);
        std::thread::sleep(std::time::Duration::from_millis(200 + next()));
        let _ = child.kill();
        let _ = child.wait();
    }
    let out = spawn(true).wait_with_output().unwrap();
    assert!(out.status.success());
    let bronze = lake.join("bronze/killed");
    let expected = sorted(bronze_expected(&delivered));
    assert_eq!(expected.len(), 3200);
    let got = rt.block_on(lake_rows(&bronze, &bronze_sql(false)));
    same(got, expected);
    let dead = rt.block_on(lake_rows(
        &lake.join("quarantine/killed"),
        "SELECT count(*), count(DISTINCT _kafka_key) FROM t",
    ));
    assert_eq!(dead, [[Some("8".into()), Some("8".into())]]);
    // Silver: ids overlap between rounds (round r writes r*300 .. r*300+399); the latest
    // event_time wins, which is the later round's.
    let mut latest: BTreeMap<i64, i64> = BTreeMap::new();
    for round in 0..8i64 {
        for i in 0..400 {
            latest.insert(round * 300 + i, (round * 300 + i) * 10 + round);
        }
    }
    let got = sorted(rt.block_on(lake_rows(
        &lake.join("silver/killed_orders"),
        "SELECT order_id, CAST(round(amount * 100) AS BIGINT) FROM t",
    )));
    let want = sorted(
        latest
            .iter()
            .map(|(k, v)| vec![Some(k.to_string()), Some(v.to_string())])
            .collect(),
    );
    same(got, want);
}

/// Forty micro-batches into one slice: the slice's small files are compacted into one after
/// 32 (8 more follow), and every message is there once; raw values land as bytea.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Kafka broker and a schema registry: tests/kafka/run.sh"]
async fn kafka_small_micro_batches_of_a_slice_are_compacted() {
    let dir = TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    let t = topic("raw", 1);
    let yaml = format!(
        r#"sources:
  raw_events:
    kafka: {{brokers: "{}", topic: {t}}}
    value: {{format: raw}}
    slice: "'all'"
    slice_column: part
    batch: {{max_rows: 10}}
"#,
        env("LAKEGATE_TEST_KAFKA")
    );
    let cfg = config(&lake, &yaml);
    let msgs: Vec<Value> = (0..400)
        .map(|i| json!({"key": format!("k{i}"), "raw_hex": hex::encode(format!("event {i}"))}))
        .collect();
    let delivered = produce(&t, &msgs);
    let ing = Ingestor::new(LakePath::local(&lake).unwrap(), cfg);
    let r = ing.run_once(&Selection::default()).await.unwrap();
    assert!(failures(&r).is_empty(), "{:?}", failures(&r));
    let bronze = lake.join("bronze/raw_events");
    let got = lake_rows(
        &bronze,
        "SELECT _kafka_offset, _kafka_key, encode(value, 'hex') FROM t",
    )
    .await;
    let want: Rows = delivered
        .iter()
        .map(|m| {
            let k = m["key"].as_str().unwrap();
            vec![
                Some(m["offset"].to_string()),
                Some(k.to_string()),
                Some(hex::encode(format!("event {}", &k[1..]))),
            ]
        })
        .collect();
    same(got, want);
    let url = deltalake::ensure_table_uri(bronze.to_string_lossy()).unwrap();
    let table = deltalake::open_table(url).await.unwrap();
    assert_eq!(table.get_file_uris().unwrap().count(), 9);
}

/// A transactional producer's aborted transactions never reach bronze; the offsets go past
/// the commit and abort markers (the lag ends at 0, not at 1). The lake's offsets are also
/// committed to `kafka.group`, as librdkafka then reads them from the broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Kafka broker and a schema registry: tests/kafka/run.sh"]
async fn kafka_aborted_transactions_are_left_out() {
    use std::io::Write;
    let dir = TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    let t = topic("txn", 1);
    let txns = json!([
        {"abort": true, "values": ["a1", "a2", "a3"]},
        {"abort": false, "values": ["c1", "c2"]},
        {"abort": true, "values": ["a4"]},
        {"abort": false, "values": ["c3"]},
    ]);
    let mut child = std::process::Command::new(env("LAKEGATE_TEST_KAFKA_PY"))
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/kafka/transactions.py"
        ))
        .args([env("LAKEGATE_TEST_KAFKA"), t.clone()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(txns.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(committed, ["c1", "c2", "c3"]);
    let yaml = format!(
        r#"sources:
  txn_events:
    kafka: {{brokers: "{}", topic: {t}, group: "lakegate-{t}"}}
    value: {{format: raw}}
    slice: "'all'"
    slice_column: part
"#,
        env("LAKEGATE_TEST_KAFKA")
    );
    let ing = Ingestor::new(LakePath::local(&lake).unwrap(), config(&lake, &yaml));
    let r = ing.run_once(&Selection::default()).await.unwrap();
    assert!(failures(&r).is_empty(), "{:?}", failures(&r));
    let got = lake_rows(
        &lake.join("bronze/txn_events"),
        "SELECT encode(value, 'hex') FROM t ORDER BY _kafka_offset",
    )
    .await;
    let want: Rows = committed
        .iter()
        .map(|v| vec![Some(hex::encode(v))])
        .collect();
    assert_eq!(got, want);
    // 7 records and 4 markers: the lake's offset is past all 11.
    let app = lakegate::ingest::sources::kafka::offset_app("txn_events", &t, 0);
    assert_eq!(txn(&lake.join("bronze/txn_events"), &app).await, Some(11));
    let out = std::process::Command::new(env("LAKEGATE_TEST_KAFKA_PY"))
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/kafka/group_offsets.py"
        ))
        .args([
            env("LAKEGATE_TEST_KAFKA"),
            format!("lakegate-{t}"),
            t.clone(),
        ])
        .arg("1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let group: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(group, json!({"0": 11}));
}
