"""What `GET /metrics` shows, through `prometheus_client`: requests by route and status, latency,
the batches the model ran (texts and tokens), the queue, the result cache, the classifiers made and
the model's load time. One registry per server (tests make several in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

POWERS_OF_TWO = tuple(float(2**n) for n in range(0, 17))


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "sparkner_requests", "Requests answered, by route and status", ["route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "sparkner_request_seconds", "Time from a request's arrival to its answer", ["route"], registry=self.registry
        )
        self.batch_texts = Histogram(
            "sparkner_batch_texts", "Texts per model call", buckets=POWERS_OF_TWO, registry=self.registry
        )
        self.batch_tokens = Histogram(
            "sparkner_batch_tokens", "Tokens per model call (estimated)", buckets=POWERS_OF_TWO, registry=self.registry
        )
        self.queue_texts = Gauge("sparkner_queue_texts", "Texts waiting for the model", registry=self.registry)
        self.cache = Counter(
            "sparkner_cache", "Texts looked up in the result cache", ["result"], registry=self.registry
        )
        self.classifier_loads = Counter(
            "sparkner_classifier_loads", "Classifiers made, one per parameter set seen", registry=self.registry
        )
        self.model_load_seconds = Gauge(
            "sparkner_model_load_seconds", "Seconds the model took to load", registry=self.registry
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
