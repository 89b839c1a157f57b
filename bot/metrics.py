"""Prometheus metrics, one registry per app (no process-global collectors)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REPLY_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 10.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.callbacks = Counter(
            "gongkai_callbacks",
            "WeChat callbacks received, by message kind and outcome",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.reply_seconds = Histogram(
            "gongkai_reply_seconds",
            "Time from receiving a callback to answering it",
            buckets=REPLY_BUCKETS,
            registry=self.registry,
        )
        self.dedupe_hits = Counter(
            "gongkai_dedupe_hits",
            "Retried callbacks answered from the stored reply",
            registry=self.registry,
        )
        self.late_replies = Counter(
            "gongkai_late_replies",
            "Answers sent through the customer-service API after the reply budget ran out",
            ["result"],
            registry=self.registry,
        )
        self.outbound = Counter(
            "gongkai_wechat_api_calls",
            "Outbound WeChat API calls, by API path and result",
            ["api", "result"],
            registry=self.registry,
        )

        # Each callback counts once; the labelled child is looked up once per (kind, outcome).
        self._callback_counts: dict[tuple[str, str], Counter] = {}

    def count_callback(self, kind: str, outcome: str) -> None:
        counter = self._callback_counts.get((kind, outcome))
        if counter is None:
            counter = self.callbacks.labels(kind=kind, outcome=outcome)
            self._callback_counts[kind, outcome] = counter
        counter.inc()

    def count_outbound(self, api: str, result: str) -> None:
        self.outbound.labels(api=api, result=result).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
