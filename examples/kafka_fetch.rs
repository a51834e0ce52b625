//! The Kafka client lakegate uses (`rskafka`), alone: every message of a topic fetched from
//! the earliest offset, all partitions at once, 8 MiB per fetch, nothing decoded. `bench/kafka.sh`
//! sets it beside a librdkafka consumer of the same messages (the choice of client, measured).
//!
//! ```sh
//! kafka_fetch 127.0.0.1:9092 bench 1000000    # prints {"messages": N, "seconds": S}
//! ```

use std::time::Instant;

use rskafka::client::ClientBuilder;
use rskafka::client::partition::{OffsetAt, UnknownTopicHandling};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (brokers, topic, want) = (
        args[1].clone(),
        args[2].clone(),
        args[3].parse::<usize>().expect("a message count"),
    );
    let client = ClientBuilder::new(vec![brokers])
        .build()
        .await
        .expect("brokers");
    let t = client
        .list_topics()
        .await
        .expect("metadata")
        .into_iter()
        .find(|t| t.name == topic)
        .expect("the topic");
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for p in t.partitions {
        let pc = client
            .partition_client(topic.clone(), p, UnknownTopicHandling::Retry)
            .await
            .expect("partition");
        tasks.push(tokio::spawn(async move {
            let end = pc
                .get_offset(OffsetAt::Latest)
                .await
                .expect("high watermark");
            let mut offset = pc
                .get_offset(OffsetAt::Earliest)
                .await
                .expect("low watermark");
            let mut n = 0usize;
            while offset < end {
                let (records, _) = pc
                    .fetch_records(offset, 1..8 << 20, 20)
                    .await
                    .expect("fetch");
                if let Some(last) = records.last() {
                    offset = last.offset + 1;
                }
                n += records.len();
            }
            n
        }));
    }
    let mut got = 0;
    for t in tasks {
        got += t.await.expect("partition task");
    }
    let s = t0.elapsed().as_secs_f64();
    assert!(got >= want, "fetched {got} of {want}");
    println!("{{\"messages\": {got}, \"seconds\": {s}}}");
}
