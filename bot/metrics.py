"""The bot's Prometheus metrics, on a registry of its own.

``BotMetrics`` never touches prometheus-client's global registry, so tests, the simulation
and several bots in one process each count their own. The metric objects are public
attributes (``metrics.fills.labels(source="ws").inc()``); the methods below cover the calls
that need more than one metric or some bookkeeping. Label values are the callers' short,
fixed vocabularies (order states, endpoint names, fill sources): never ids or free text,
which would grow the series without bound.

``start_http(host, port)`` serves ``GET /metrics`` from a daemon thread, so a stalled event
loop still answers a scrape; port 0 takes a free port (``server.port`` says which). The
returned ``MetricsServer`` stops when called, on ``stop()`` or at the end of a ``with``.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from socketserver import ThreadingMixIn
from types import TracebackType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
    generate_latest,
    make_wsgi_app,
)

from bot.errors import ConfigError

__all__ = ["MODES", "BotMetrics", "MetricsServer"]

MODES = ("live", "observe")
# Venue round trips: a few ms on a good day, the client timeout (10 s) on a bad one.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_RECONCILE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class BotMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.orders = Gauge("btcbot_orders", "Local orders by state", ["state"], registry=r)
        self.fills = Counter(
            "btcbot_fills",
            "Fills recorded, by source (ws, rest, reconcile)",
            ["source"],
            registry=r,
        )
        self.reconciles = Counter(
            "btcbot_reconciles", "Reconciliation passes by outcome", ["outcome"], registry=r
        )
        self.reconcile_seconds = Histogram(
            "btcbot_reconcile_seconds",
            "Duration of one reconciliation pass",
            buckets=_RECONCILE_BUCKETS,
            registry=r,
        )
        self.mode = Enum("btcbot_mode", "Trading mode", states=list(MODES), registry=r)
        self.mode_reason = Info("btcbot_mode_reason", "Why the bot is in its mode", registry=r)
        self.mode_changes = Counter(
            "btcbot_mode_changes", "Mode changes, by the mode entered", ["mode"], registry=r
        )
        self.rate_limited = Counter(
            "btcbot_rate_limited", "429 answers from the venue", ["endpoint"], registry=r
        )
        self.request_seconds = Histogram(
            "btcbot_request_seconds",
            "Venue request latency by endpoint",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.uncertain = Counter(
            "btcbot_uncertain_outcomes",
            "Writes whose outcome was unknown (submit, cancel)",
            ["what"],
            registry=r,
        )
        self.quarantined = Counter(
            "btcbot_quarantined_rows", "Venue rows set aside unread", ["source"], registry=r
        )
        self.illegal_transitions = Counter(
            "btcbot_illegal_transitions", "Order state transitions refused", registry=r
        )
        self._states: set[str] = set()
        self.mode.state("observe")
        self.mode_reason.info({"reason": "start"})

    def set_orders(self, counts: Mapping[str, int]) -> None:
        """The whole picture: a state seen before and absent now drops to 0, not stale."""
        for state in self._states - set(counts):
            self.orders.labels(state=state).set(0)
        for state, count in counts.items():
            self.orders.labels(state=state).set(count)
        self._states |= set(counts)

    def set_mode(self, mode: str, reason: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.mode.state(mode)
        self.mode_reason.info({"reason": reason})
        self.mode_changes.labels(mode=mode).inc()

    def reconciled(self, outcome: str, seconds: float) -> None:
        self.reconciles.labels(outcome=outcome).inc()
        self.reconcile_seconds.observe(seconds)

    def request(self, endpoint: str, seconds: float, *, status: int | None = None) -> None:
        self.request_seconds.labels(endpoint=endpoint).observe(seconds)
        if status == 429:
            self.rate_limited.labels(endpoint=endpoint).inc()

    def render(self) -> bytes:
        """The text exposition format, as a scrape would get it."""
        return generate_latest(self.registry)

    def start_http(self, host: str, port: int) -> MetricsServer:
        return MetricsServer.start(self.registry, host, port)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape in flight never holds the process open


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not log lines."""


class MetricsServer:
    """A running ``/metrics`` endpoint; call it (or ``stop()``) to shut it down."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.host = str(server.server_address[0])
        self.port = int(server.server_address[1])

    @classmethod
    def start(cls, registry: CollectorRegistry, host: str, port: int) -> MetricsServer:
        metrics_app = make_wsgi_app(registry)

        def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            if environ.get("PATH_INFO") != "/metrics":
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"metrics are at /metrics\n"]
            result: Iterable[bytes] = metrics_app(environ, start_response)
            return result

        try:
            # An IPv6 host needs an IPv6 socket; WSGIServer alone is IPv4 only.
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
            server_class = type("_Server", (_Server,), {"address_family": family})
            server: WSGIServer = make_server(
                host, port, app, server_class, handler_class=_QuietHandler
            )
        except OSError as exc:
            raise ConfigError(f"metrics cannot listen on {host}:{port}: {exc.strerror}") from None
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            daemon=True,
            name=f"metrics:{server.server_address[1]}",
        )
        thread.start()
        return cls(server, thread)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    __call__ = stop

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
