"""A transactional producer (confluent-kafka): transactions of raw values, each committed or
aborted as the input says, and prints the values that were committed (what a read_committed
consumer must see, in order).

    python transactions.py BROKERS TOPIC < [{"abort": bool, "values": [str, ...]}, ...]
"""
import json
import sys

from confluent_kafka import Producer

brokers, topic = sys.argv[1:3]
p = Producer({"bootstrap.servers": brokers, "transactional.id": f"lakegate-test-{topic}"})
p.init_transactions(60)
committed = []
for t in json.load(sys.stdin):
    p.begin_transaction()
    for v in t["values"]:
        p.produce(topic, value=v.encode(), partition=0)
    p.flush(60)
    if t["abort"]:
        p.abort_transaction(60)
    else:
        p.commit_transaction(60)
        committed.extend(t["values"])
json.dump(committed, sys.stdout)
