"""Prometheus metrics: one registry per service, metric families built by factories.

Factories rather than module-level metrics because several services share one process in tests and
prometheus-client refuses a duplicated name in one registry.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


def new_registry() -> CollectorRegistry:
    return CollectorRegistry(auto_describe=True)


class MetricsServer:
    """The ``/metrics`` endpoint of one service."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        self.host = host
        self.port = self._server.server_port

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class OutboxMetrics:
    published: Counter
    duplicates: Counter
    publish_errors: Counter
    pending: Gauge
    oldest_pending_age: Gauge
    relay_active: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> OutboxMetrics:
        return cls(
            published=Counter(
                "lienthong_outbox_published",
                "Outbox events acknowledged by JetStream",
                ["stream", "subject"],
                registry=registry,
            ),
            duplicates=Counter(
                "lienthong_outbox_duplicate_acks",
                "Outbox events JetStream reported as duplicates (already published before a relay restart)",
                ["stream"],
                registry=registry,
            ),
            publish_errors=Counter(
                "lienthong_outbox_publish_errors",
                "Failed publish attempts (will be retried)",
                ["stream"],
                registry=registry,
            ),
            pending=Gauge(
                "lienthong_outbox_pending_events",
                "Committed events not yet acknowledged by JetStream",
                registry=registry,
            ),
            oldest_pending_age=Gauge(
                "lienthong_outbox_lag_seconds",
                "Age of the oldest committed event not yet published",
                registry=registry,
            ),
            relay_active=Gauge(
                "lienthong_outbox_relay_active",
                "1 while this process holds the relay lease",
                registry=registry,
            ),
        )


@dataclass
class ConsumerMetrics:
    consumed: Counter
    handler_seconds: Histogram
    pending: Gauge
    ack_pending: Gauge
    redelivered: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> ConsumerMetrics:
        return cls(
            consumed=Counter(
                "lienthong_events_consumed",
                "Events taken from JetStream, by outcome (applied, duplicate, dead_lettered)",
                ["consumer", "subject", "outcome"],
                registry=registry,
            ),
            handler_seconds=Histogram(
                "lienthong_consumer_batch_seconds",
                "Time to apply one fetched batch in one transaction",
                ["consumer"],
                registry=registry,
                buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            ),
            pending=Gauge(
                "lienthong_consumer_lag_messages",
                "Messages in the stream not yet delivered to the consumer",
                ["consumer"],
                registry=registry,
            ),
            ack_pending=Gauge(
                "lienthong_consumer_ack_pending",
                "Messages delivered and not yet acknowledged",
                ["consumer"],
                registry=registry,
            ),
            redelivered=Gauge(
                "lienthong_consumer_redelivered",
                "Messages redelivered at least once (server count)",
                ["consumer"],
                registry=registry,
            ),
        )


@dataclass
class BusMetrics:
    connected: Gauge
    disconnects: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> BusMetrics:
        return cls(
            connected=Gauge("lienthong_nats_connected", "1 while connected to NATS", registry=registry),
            disconnects=Counter(
                "lienthong_nats_disconnects", "Times the NATS connection was lost", registry=registry
            ),
        )
