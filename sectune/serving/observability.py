"""What an operator sees of a running server: Prometheus metrics and a JSON-lines access log on stderr.

The access log records who asked what route, the status and the time, never a request body (CVE drafts and
command lines from an EDR are sensitive) nor a query string or token. Metrics live in the app's own registry,
so two servers in one process (the tests) do not share counters.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from sectune.errors import shorten
from sectune.serving.security import Receive, Scope, Send

access_log = logging.getLogger("sectune.access")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "sectune_requests", "HTTP requests answered", ["route", "method", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "sectune_request_seconds",
            "time from request to response",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "sectune_batch_texts",
            "texts per forward pass (micro-batching merges concurrent requests)",
            ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
            registry=self.registry,
        )
        self.texts = Counter("sectune_texts", "texts scored", ["model"], registry=self.registry)
        self.rejected = Counter(
            "sectune_rejected", "requests refused before inference", ["reason"], registry=self.registry
        )
        self.in_flight = Gauge("sectune_in_flight", "inference requests in flight", registry=self.registry)

    def batch(self, model: str, n: int) -> None:
        self.batch_size.labels(model=model).observe(n)
        self.texts.labels(model=model).inc(n)

    def reject(self, reason: str) -> None:
        self.rejected.labels(reason=reason).inc()


def configure_access_log(enabled: bool) -> None:
    """One JSON object a line on stderr, apart from sectune's own ``sectune: ...`` log lines."""
    access_log.propagate = False
    access_log.setLevel(logging.INFO if enabled else logging.WARNING)
    if not any(getattr(h, "_sectune_access", False) for h in access_log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._sectune_access = True  # type: ignore[attr-defined]
        access_log.addHandler(handler)


class AccessLog:
    """ASGI middleware, outermost: times every request, counts it by route template, logs one JSON line."""

    def __init__(self, app: Callable, *, metrics: Metrics, route_of: Callable[[Scope], str]) -> None:
        self.app, self.metrics, self.route_of = app, metrics, route_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, sent = 500, 0
        received = 0

        async def counted_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            return message

        async def watched_send(message: dict[str, Any]) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        finally:
            seconds = time.perf_counter() - started
            route = self.route_of(scope)
            self.metrics.requests.labels(route=route, method=scope["method"], status=str(status)).inc()
            self.metrics.latency.labels(route=route).observe(seconds)
            if access_log.isEnabledFor(logging.INFO):
                client = scope.get("client") or ("", 0)
                access_log.info(
                    json.dumps(
                        {
                            "ts": round(time.time(), 3),
                            "client": client[0],
                            "method": scope["method"],
                            "path": shorten(scope["path"], 200),
                            "route": route,
                            "status": status,
                            "ms": round(seconds * 1000, 2),
                            "bytes_in": received,
                            "bytes_out": sent,
                        }
                    )
                )
