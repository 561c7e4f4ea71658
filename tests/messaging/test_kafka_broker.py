"""The test Kafka broker itself: it starts on free loopback ports, serves a producer and a
consumer group, keeps its log across a stop and start (an outage), and leaves no process."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from tests.support.kafka_broker import running_kafka

pytestmark = pytest.mark.slow


def _produce(bootstrap_servers: str, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap_servers, "message.timeout.ms": 20000})
    for value in values:
        producer.produce(topic, value)
    assert producer.flush(30) == 0, "messages still undelivered after 30 s"


def _consume(bootstrap_servers: str, topic: str, count: int, group: str) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": group,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    try:
        for _ in range(300):
            if len(values) == count:
                break
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                values.append(message.value())
                consumer.commit(message, asynchronous=False)
    finally:
        consumer.close()
    return values


def test_broker_serves_survives_a_restart_and_stops(tmp_path: Path) -> None:
    with running_kafka(tmp_path / "kafka") as broker:
        assert broker.ports.broker not in (9092, 9093)
        _produce(broker.bootstrap_servers, "self-test", [b"one", b"two"])
        assert _consume(broker.bootstrap_servers, "self-test", 2, "first") == [b"one", b"two"]

        broker.stop()
        broker.start()
        _produce(broker.bootstrap_servers, "self-test", [b"three"])
        # The log survived the outage (a new group reads all three), and so did the first
        # group's committed offset (it gets only the new one).
        everything = _consume(broker.bootstrap_servers, "self-test", 3, "second")
        assert everything == [b"one", b"two", b"three"]
        assert _consume(broker.bootstrap_servers, "self-test", 1, "first") == [b"three"]
        process_id = broker.process.pid
    assert not Path(f"/proc/{process_id}").exists(), "the broker outlived its fixture"
