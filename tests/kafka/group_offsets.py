"""Prints a consumer group's committed offsets for a topic's partitions, as the broker reports
them to librdkafka (confluent-kafka): the independent view of what `kafka.group` received.

    python group_offsets.py BROKERS GROUP TOPIC PARTITIONS  ->  {"0": 11, ...}  (-1001: none)
"""
import json
import sys

from confluent_kafka import Consumer, TopicPartition

brokers, group, topic, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
c = Consumer({"bootstrap.servers": brokers, "group.id": group, "enable.auto.commit": False})
got = c.committed([TopicPartition(topic, p) for p in range(n)], timeout=60)
c.close()
json.dump({str(tp.partition): tp.offset for tp in got}, sys.stdout)
