"""Helpers of bench/kafka.sh (confluent-kafka, librdkafka):

    kafka.py produce BROKERS REGISTRY TOPIC N         N Avro orders as fast as librdkafka takes them
    kafka.py consume BROKERS TOPIC N [--avro REGISTRY] a plain consumer of the N messages (the floor)
    kafka.py fresh BROKERS REGISTRY TOPIC RATE SECS PGPORT TABLE
        produce RATE msgs/s for SECS seconds (sent_ms = wall clock) while reading
        max(sent_ms) of TABLE over the Postgres wire every 100 ms: the staleness samples

Each prints one JSON object.
"""
import json
import sys
import time
import uuid

from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

SCHEMA = json.dumps({"type": "record", "name": "Order", "namespace": "bench", "fields": [
    {"name": "order_id", "type": "long"},
    {"name": "customer_id", "type": "long"},
    {"name": "amount", "type": "double"},
    {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID", "SHIPPED"]}},
    {"name": "event_time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "sent_ms", "type": "long"},
    {"name": "note", "type": ["null", "string"], "default": None},
]})
BASE_MS = 1_793_527_200_000
STATUS = ["NEW", "PAID", "SHIPPED"]


def producer(brokers):
    return Producer({"bootstrap.servers": brokers, "linger.ms": 20, "batch.num.messages": 10000,
                     "queue.buffering.max.messages": 1000000, "compression.type": "none",
                     "enable.idempotence": False})


def order(i, t_ms, sent_ms):
    return {"order_id": i % 200_000, "customer_id": i % 10_007, "amount": (i % 100_000) / 100.0,
            "status": STATUS[i % 3], "event_time": t_ms, "sent_ms": sent_ms,
            "note": None if i % 7 == 0 else f"note {i}"}


def send(p, topic, value):
    while True:
        try:
            p.produce(topic, value=value)
            return
        except BufferError:
            p.poll(0.05)


def produce(brokers, registry, topic, n):
    ser = AvroSerializer(SchemaRegistryClient({"url": registry}), SCHEMA)
    ctx = SerializationContext(topic, MessageField.VALUE)
    p = producer(brokers)
    t0 = time.time()
    size = 0
    for i in range(n):
        v = ser(order(i, BASE_MS + i * 6, 0), ctx)
        size += len(v)
        send(p, topic, v)
        if i % 10000 == 0:
            p.poll(0)
    p.flush(120)
    s = time.time() - t0
    print(json.dumps({"messages": n, "seconds": s, "bytes": size}))


def consume(brokers, topic, n, registry=None):
    c = Consumer({"bootstrap.servers": brokers, "group.id": f"bench-{uuid.uuid4()}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "fetch.max.bytes": 52428800, "max.partition.fetch.bytes": 8388608})
    c.subscribe([topic])
    de = AvroDeserializer(SchemaRegistryClient({"url": registry})) if registry else None
    ctx = SerializationContext(topic, MessageField.VALUE)
    got = 0
    t0 = None
    while got < n:
        msgs = c.consume(num_messages=10000, timeout=5.0)
        if not msgs:
            if t0 is not None and time.time() - t0 > 600:
                break
            continue
        if t0 is None:
            t0 = time.time()  # the first batch ends the group join (Tansu takes seconds)
            got += len(msgs)
            continue
        for m in msgs:
            if m.error() is None:
                got += 1
                if de is not None:
                    de(m.value(), ctx)
    s = time.time() - t0
    c.close()
    print(json.dumps({"messages": got, "seconds": s}))


def fresh(brokers, registry, topic, rate, secs, pgport, table):
    import psycopg
    ser = AvroSerializer(SchemaRegistryClient({"url": registry}), SCHEMA)
    ctx = SerializationContext(topic, MessageField.VALUE)
    p = producer(brokers)
    p.list_topics(timeout=10)
    conn = psycopg.connect(f"host=127.0.0.1 port={pgport} user=bench dbname=lake", autocommit=True)
    samples = []
    t0 = time.time()
    sent = 0
    next_read = t0
    while True:
        now = time.time()
        if now - t0 >= secs:
            break
        due = int((now - t0) * rate)
        while sent < due:
            ms = int(time.time() * 1000)
            send(p, topic, ser(order(sent, ms, ms), ctx))
            sent += 1
        p.poll(0)
        if now >= next_read:
            next_read = now + 0.1
            try:
                row = conn.execute(f"SELECT max(sent_ms) FROM {table}").fetchone()
            except Exception:
                row = None
            if row and row[0] is not None and now - t0 > 5:
                samples.append(time.time() * 1000 - row[0])
        time.sleep(0.001)
    p.flush(60)
    # After the last message: how long until it is visible in the table.
    last_sent = ms
    done = None
    deadline = time.time() + 60
    while time.time() < deadline:
        row = conn.execute(f"SELECT max(sent_ms) FROM {table}").fetchone()
        if row[0] is not None and row[0] >= last_sent:
            done = time.time() * 1000 - last_sent
            break
        time.sleep(0.05)
    samples.sort()
    q = lambda f: samples[min(len(samples) - 1, int(f * len(samples)))] if samples else None
    print(json.dumps({"sent": sent, "seconds": secs, "rate": sent / secs, "samples": len(samples),
                      "p50_ms": q(0.5), "p95_ms": q(0.95), "max_ms": samples[-1] if samples else None,
                      "drain_ms": done}))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "produce":
        produce(args[0], args[1], args[2], int(args[3]))
    elif cmd == "consume":
        consume(args[0], args[1], int(args[2]), args[4] if len(args) > 4 and args[3] == "--avro" else None)
    elif cmd == "fresh":
        fresh(args[0], args[1], args[2], float(args[3]), float(args[4]), int(args[5]), args[6])
