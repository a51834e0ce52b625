"""Produces messages with confluent-kafka (librdkafka) and its Avro serializer, the way the
seed pipelines do, and prints where each one landed: the tests' independent record of what
the topic holds.

    python produce.py BROKERS REGISTRY TOPIC < messages.json > delivered.json

Each input message: {"key": str|null, "partition": int|null, "headers": {str: str},
and one of "avro": {"schema": <avro schema>, "value": {...}}, "json": {...},
"raw_hex": "00ff..", "tombstone": true}}. Output: the same list with "partition" and
"offset" filled in, and "schema_id" for Avro values.
"""
import json
import sys

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

brokers, registry, topic = sys.argv[1:4]
messages = json.load(sys.stdin)
producer = Producer({"bootstrap.servers": brokers, "linger.ms": 5, "enable.idempotence": False,
                     "compression.type": "none", "batch.num.messages": 10000})
client = SchemaRegistryClient({"url": registry})
serializers = {}
out = [None] * len(messages)


def serializer(schema):
    key = json.dumps(schema, sort_keys=True)
    if key not in serializers:
        serializers[key] = AvroSerializer(client, json.dumps(schema),
                                          conf={"auto.register.schemas": True})
    return serializers[key]


def done(i):
    def cb(err, msg):
        if err is not None:
            raise SystemExit(f"delivery failed: {err}")
        m = dict(messages[i])
        m["partition"] = msg.partition()
        m["offset"] = msg.offset()
        out[i] = m
    return cb


ctx = SerializationContext(topic, MessageField.VALUE)
for i, m in enumerate(messages):
    if "avro" in m:
        value = serializer(m["avro"]["schema"])(m["avro"]["value"], ctx)
        messages[i]["schema_id"] = int.from_bytes(value[1:5], "big")
    elif "json" in m:
        value = json.dumps(m["json"]).encode()
    elif "raw_hex" in m:
        value = bytes.fromhex(m["raw_hex"])
    else:
        value = None
    kw = {"key": m["key"].encode() if m.get("key") is not None else None, "value": value,
          "headers": [(k, v.encode()) for k, v in (m.get("headers") or {}).items()] or None,
          "on_delivery": done(i)}
    if m.get("partition") is not None:
        kw["partition"] = m["partition"]
    if m.get("timestamp_ms") is not None:
        kw["timestamp"] = m["timestamp_ms"]
    while True:
        try:
            producer.produce(topic, **kw)
            break
        except BufferError:
            producer.poll(0.1)
    producer.poll(0)
left = producer.flush(60)
if left:
    raise SystemExit(f"{left} messages not delivered")
json.dump(out, sys.stdout)
