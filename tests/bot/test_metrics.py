"""Metrics: each bot counts on its own registry, what it counts shows in the text a scrape
gets, and the /metrics endpoint serves on a loopback port and stops when told."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from bot.errors import ConfigError
from bot.metrics import BotMetrics


def value(metrics: BotMetrics, sample: str, **labels: str) -> float | None:
    """One sample's value as a scrape would read it from the rendered text."""
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            if s.name == sample and s.labels == labels:
                return float(s.value)
    return None


def test_counters_change_the_rendered_text() -> None:
    metrics = BotMetrics()
    assert value(metrics, "btcbot_fills_total", source="ws") is None
    metrics.fills.labels(source="ws").inc()
    metrics.fills.labels(source="ws").inc()
    metrics.fills.labels(source="rest").inc()
    metrics.uncertain.labels(what="submit").inc()
    metrics.quarantined.labels(source="allOrders").inc(3)
    metrics.illegal_transitions.inc()
    assert value(metrics, "btcbot_fills_total", source="ws") == 2
    assert value(metrics, "btcbot_fills_total", source="rest") == 1
    assert value(metrics, "btcbot_uncertain_outcomes_total", what="submit") == 1
    assert value(metrics, "btcbot_quarantined_rows_total", source="allOrders") == 3
    assert value(metrics, "btcbot_illegal_transitions_total") == 1


def test_requests_record_latency_and_429s_by_endpoint() -> None:
    metrics = BotMetrics()
    metrics.request("openOrders", 0.02, status=200)
    metrics.request("order", 0.3, status=429)
    metrics.request("order", 0.001)
    assert value(metrics, "btcbot_request_seconds_count", endpoint="order") == 2
    assert value(metrics, "btcbot_request_seconds_bucket", endpoint="order", le="0.005") == 1
    assert value(metrics, "btcbot_request_seconds_sum", endpoint="openOrders") == 0.02
    assert value(metrics, "btcbot_rate_limited_total", endpoint="order") == 1
    assert value(metrics, "btcbot_rate_limited_total", endpoint="openOrders") is None


def test_reconcile_outcomes_and_durations() -> None:
    metrics = BotMetrics()
    metrics.reconciled("ok", 0.2)
    metrics.reconciled("failed", 12.0)
    assert value(metrics, "btcbot_reconciles_total", outcome="ok") == 1
    assert value(metrics, "btcbot_reconciles_total", outcome="failed") == 1
    assert value(metrics, "btcbot_reconcile_seconds_count") == 2
    assert value(metrics, "btcbot_reconcile_seconds_bucket", le="10.0") == 1


def test_orders_by_state_is_the_whole_picture_each_time() -> None:
    metrics = BotMetrics()
    metrics.set_orders({"open": 3, "unknown": 1})
    metrics.set_orders({"open": 2})
    assert value(metrics, "btcbot_orders", state="open") == 2
    assert value(metrics, "btcbot_orders", state="unknown") == 0  # not a stale 1


def test_the_mode_and_its_reason() -> None:
    metrics = BotMetrics()
    assert value(metrics, "btcbot_mode", btcbot_mode="observe") == 1
    metrics.set_mode("live", "gate certificate ok")
    metrics.set_mode("observe", "reconcile_failures")
    assert value(metrics, "btcbot_mode", btcbot_mode="observe") == 1
    assert value(metrics, "btcbot_mode", btcbot_mode="live") == 0
    assert value(metrics, "btcbot_mode_reason_info", reason="reconcile_failures") == 1
    assert value(metrics, "btcbot_mode_changes_total", mode="observe") == 1
    with pytest.raises(ValueError, match="mode must be one of"):
        metrics.set_mode("paused", "no such mode")


def test_two_bots_in_one_process_count_apart_and_off_the_global_registry() -> None:
    one, two = BotMetrics(), BotMetrics()
    one.fills.labels(source="ws").inc()
    assert value(one, "btcbot_fills_total", source="ws") == 1
    assert value(two, "btcbot_fills_total", source="ws") is None
    assert REGISTRY.get_sample_value("btcbot_fills_total", {"source": "ws"}) is None
    given = CollectorRegistry()
    assert BotMetrics(given).registry is given


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_endpoint_serves_metrics_on_a_free_loopback_port_and_stops() -> None:
    metrics = BotMetrics()
    metrics.fills.labels(source="reconcile").inc(5)
    server = metrics.start_http("127.0.0.1", 0)
    try:
        assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}/metrics"
        status, body = get(server.url)
        assert status == 200
        assert b'btcbot_fills_total{source="reconcile"} 5.0' in body
        metrics.fills.labels(source="reconcile").inc()
        assert b'btcbot_fills_total{source="reconcile"} 6.0' in get(server.url)[1]
        assert get(f"http://127.0.0.1:{server.port}/")[0] == 404
    finally:
        server()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), 1):
        pass
    server.stop()  # twice is harmless


def test_the_endpoint_works_as_a_context_manager() -> None:
    metrics = BotMetrics()
    with metrics.start_http("127.0.0.1", 0) as server:
        assert get(server.url)[0] == 200
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), 1):
        pass


def test_a_port_in_use_is_a_config_error() -> None:
    metrics = BotMetrics()
    with metrics.start_http("127.0.0.1", 0) as server, pytest.raises(ConfigError) as caught:
        BotMetrics().start_http("127.0.0.1", server.port)
    assert str(caught.value).startswith(f"metrics cannot listen on 127.0.0.1:{server.port}")


def test_the_rest_client_reports_every_request_and_each_429() -> None:
    import asyncio
    import random

    import httpx2

    from bot.core.clock import OffsetEstimator, StampSource
    from bot.core.ratelimit import RateBudget
    from bot.core.retry import Backoff, RetryPolicy
    from bot.errors import RateLimited
    from bot.exchange.rest import RestClient

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            429,
            json={"success": False, "message": "TOO_MANY_REQUESTS", "code": 429},
            headers={"Retry-After": "1"},
        )

    async def go() -> BotMetrics:
        metrics = BotMetrics()
        async with httpx2.AsyncClient(
            transport=httpx2.MockTransport(answer), base_url="http://venue.test"
        ) as http:
            clock = [0]

            async def sleep(seconds: float) -> None:
                clock[0] += int(seconds * 1000) + 1

            client = RestClient(
                http,
                credentials=None,
                budget=RateBudget(),
                stamps=StampSource(OffsetEstimator()),
                now_ms=lambda: clock[0],
                sleep=sleep,
                backoff=Backoff(random.Random(1)),
                policy=RetryPolicy(max_attempts=2, max_elapsed_s=10),
            )
            client.observer = lambda e, s, st: metrics.request(e, s, status=st)
            with pytest.raises(RateLimited):
                await client.ticker()
        return metrics

    text = asyncio.run(go()).render().decode()
    assert 'btcbot_rate_limited_total{endpoint="GET /api/v2/ticker"} 2.0' in text
    assert 'btcbot_request_seconds_count{endpoint="GET /api/v2/ticker"} 2.0' in text
