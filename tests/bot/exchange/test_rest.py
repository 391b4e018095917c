"""The bot's REST client against the real mock: every endpoint, and every HTTP fault of the
plan giving its classified outcome. In process (``httpx2.ASGITransport``, venue and bot on
one virtual clock) and over a real uvicorn socket."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import httpx2
import pytest

from bot.core.clock import OffsetEstimator, StampSource
from bot.core.ratelimit import RateBudget
from bot.core.retry import Backoff, RetryPolicy
from bot.core.types import OrderMethod, OrderStatus, Side
from bot.errors import (
    AuthFailed,
    ClockUntrusted,
    ConfigError,
    InsufficientBalance,
    NotCancellable,
    NotSent,
    OrderNotFound,
    OrderRefused,
    RateLimited,
    ServerError,
    Uncertain,
)
from bot.exchange.rest import OrderRequest, RestClient
from bot.exchange.signing import Credentials
from mock_exchange.app import MockExchange, create_app
from mock_exchange.clock import VirtualClock
from mock_exchange.faults import FaultPlan
from mock_exchange.settings import MockSettings
from mock_exchange.validation import OrderRequest as MockOrder
from tests.conftest import ALICE, BOB, LiveServer, free_port, start_server, stop_server

pytestmark = pytest.mark.anyio

PAIR = "BTCTRY"


@dataclass
class Rig:
    mock: MockExchange
    clock: VirtualClock
    client: RestClient
    slept: list[float]

    def faults(self, *rules: dict[str, Any], seed: int = 3) -> None:
        self.mock.load_faults(FaultPlan.from_mapping({"seed": seed, "rule": list(rules)}))


def build_client(
    http: httpx2.AsyncClient,
    clock: VirtualClock | None,
    slept: list[float],
    *,
    account: Any = ALICE,
    timeout_s: float = 10.0,
    tolerance_ms: int = 3_000,
) -> RestClient:
    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if clock is not None:
            clock.advance(int(seconds * 1000) + 1)
        else:
            await asyncio.sleep(seconds)

    def now_ms() -> int:
        if clock is not None:
            return clock.now_ms()
        return int(asyncio.get_running_loop().time() * 1000)

    return RestClient(
        http,
        credentials=Credentials.from_base64(account.key, account.secret),
        budget=RateBudget(),
        stamps=StampSource(OffsetEstimator(), tolerance_ms=tolerance_ms),
        now_ms=now_ms if clock is not None else _wall_ms,
        sleep=sleep,
        backoff=Backoff(random.Random(7), base_s=0.05, cap_s=1.0),
        policy=RetryPolicy(max_attempts=5, max_elapsed_s=120),
        timeout_s=timeout_s,
    )


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    clock = VirtualClock()
    settings = MockSettings(market=False, rate_limits=True, admin_token="t")
    mock = MockExchange(settings, clock, [ALICE, BOB])
    app = create_app(settings, mock=mock)
    slept: list[float] = []
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), base_url="http://mock.test"
    ) as http:
        yield Rig(mock, clock, build_client(http, clock, slept, timeout_s=0.5), slept)


def limit(side: Side, qty: str, price: str, cid: str) -> OrderRequest:
    return OrderRequest(PAIR, side, OrderMethod.LIMIT, D(qty), cid, price=D(price))


# -- every endpoint ------------------------------------------------------------------------


async def test_public_endpoints_parse_into_core_types(rig: Rig) -> None:
    c = rig.client
    assert await c.server_time() == rig.clock.now_ms()
    info = await c.exchange_info()
    assert {r.name for r in info.items} >= {"BTCTRY", "ETHTRY", "USDTTRY", "BTCUSDT"}
    assert info.quarantined == ()
    btctry = next(r for r in info.items if r.name == PAIR)
    assert (btctry.base, btctry.quote, btctry.min_total) == ("BTC", "TRY", D("99.91"))
    await c.submit(limit(Side.SELL, "0.01", "4000000", "s-1"))
    await c.submit(limit(Side.BUY, "0.005", "4000000", "b-1"))
    book = await c.orderbook(PAIR)
    assert book.asks[0].price == D("4000000") and book.asks[0].amount == D("0.005")
    trades = await c.trades(PAIR)
    assert [(t.price, t.amount) for t in trades.items] == [(D("4000000"), D("0.005"))]
    tickers = await c.ticker(PAIR)
    assert [t.pair for t in tickers.items] == [PAIR] and tickers.items[0].last == D("4000000")


async def test_private_reads_and_writes_round_trip(rig: Rig) -> None:
    c = rig.client
    ack = await c.submit(limit(Side.BUY, "0.001", "3000000", "cid-1"))
    assert (ack.client_id, ack.side, ack.price) == ("cid-1", Side.BUY, D("3000000"))
    opened = await c.open_orders(PAIR)
    assert [(o.id, o.client_id, o.status) for o in opened.items] == [
        (ack.id, "cid-1", OrderStatus.UNTOUCHED)
    ]
    assert opened.items[0].created is None  # openOrders shows time 0 (reference §5.2)
    single = await c.order(ack.id)
    assert single.created == ack.created and single.left == D("0.001")
    balances = {b.asset: b for b in (await c.balances()).items}
    assert balances["TRY"].locked > D("3000")
    await c.cancel(ack.id, "cid-1")
    # Requested, not done: the order is still open until the venue's delay passes.
    assert (await c.order(ack.id)).status is OrderStatus.UNTOUCHED
    rig.clock.advance(300)
    assert (await c.order(ack.id)).status is OrderStatus.CANCELED
    history = await c.all_orders(PAIR)
    assert [o.id for o in history.items] == [ack.id]


async def test_own_fills_come_back_exactly(rig: Rig) -> None:
    c = rig.client
    rig.mock.venue.submit(
        BOB.key,
        MockOrder(PAIR, "sell", "limit", D("0.01"), D("4000000")),
        rig.mock.now(),
    )
    ack = await c.submit(limit(Side.BUY, "0.004", "4000000", "taker-1"))
    fills = await c.user_trades(order_id=ack.id)
    assert [(f.order_id, f.client_id, f.side, f.amount, f.price) for f in fills.items] == [
        (ack.id, "taker-1", Side.BUY, D("0.004"), D("4000000"))
    ]
    assert fills.items[0].fee > 0 and fills.items[0].tax > 0
    assert fills.items[0].trade_id == rig.mock.venue.fills[-1].trade_id
    with pytest.raises(ConfigError):
        await c.user_trades(order_id=ack.id, pair=PAIR)


async def test_the_venue_saying_no_is_classified_by_its_message(rig: Rig) -> None:
    c = rig.client
    with pytest.raises(InsufficientBalance):
        await c.submit(limit(Side.BUY, "1000", "4000000", "too-big"))
    with pytest.raises(OrderRefused) as refused:
        await c.submit(limit(Side.BUY, "0.00001", "4000000", "too-small"))
    assert refused.value.message == "FAILED_MIN_TOTAL_AMOUNT"
    with pytest.raises(OrderNotFound):
        await c.cancel(1)
    with pytest.raises(OrderNotFound):
        await c.order(1)
    ack = await c.submit(limit(Side.BUY, "0.001", "3000000", "x"))
    await c.cancel(ack.id)
    rig.clock.advance(300)
    await c.cancel(ack.id)  # cancelling a cancelled order succeeds on the venue (§5.6)
    rig.mock.venue.submit(
        BOB.key,
        MockOrder(PAIR, "sell", "limit", D("0.01"), D("3500000")),
        rig.mock.now(),
    )
    filled = await c.submit(limit(Side.BUY, "0.001", "3500000", "f"))
    with pytest.raises(NotCancellable):
        await c.cancel(filled.id)


async def test_a_wrong_secret_is_an_auth_failure_whatever_success_says(rig: Rig) -> None:
    transport = rig.client.http
    wrong = build_client(transport, rig.clock, [], account=BOB)
    wrong.credentials = Credentials.from_base64(ALICE.key, BOB.secret)
    with pytest.raises(AuthFailed) as failed:
        await wrong.balances()
    assert failed.value.status == 401 and "Signature" in failed.value.message


# -- every HTTP fault ------------------------------------------------------------------------


async def test_a_429_waits_for_retry_after_then_succeeds(rig: Rig) -> None:
    rig.faults({"kind": "http_429", "endpoint": "/api/v1/openorders", "nth": 1, "retry_after": 3})
    opened = await rig.client.open_orders()
    assert opened.items == ()
    assert rig.client.metrics.rate_limited == 1
    assert any(s >= 3 for s in rig.slept)  # waited at least Retry-After


async def test_a_429_on_submit_is_retried_because_nothing_was_applied(rig: Rig) -> None:
    rig.faults({"kind": "http_429", "endpoint": "/api/v1/order", "method": "POST", "nth": 1})
    ack = await rig.client.submit(limit(Side.BUY, "0.001", "3000000", "once"))
    orders = [o for o in rig.mock.venue.orders.values() if o.client_id == "once"]
    assert [o.id for o in orders] == [ack.id]


async def test_5xx_on_a_read_is_retried(rig: Rig) -> None:
    rig.faults({"kind": "http_5xx_before", "endpoint": "/api/v1/users/balances", "nth": [1, 2]})
    balances = await rig.client.balances()
    assert {b.asset for b in balances.items} >= {"TRY", "BTC"}
    assert rig.client.metrics.retries == 2


async def test_5xx_on_a_read_gives_up_after_the_policy(rig: Rig) -> None:
    rig.faults({"kind": "http_5xx_before", "endpoint": "/api/v1/users/balances", "status": 502})
    with pytest.raises(ServerError):
        await rig.client.balances()
    assert rig.client.metrics.requests == 5 + 3  # five tries, after three clock samples


async def test_5xx_after_apply_on_submit_is_uncertain_and_the_order_exists(rig: Rig) -> None:
    rig.faults({"kind": "http_5xx_after", "endpoint": "/api/v1/order", "method": "POST"})
    with pytest.raises(Uncertain) as uncertain:
        await rig.client.submit(limit(Side.BUY, "0.001", "3000000", "maybe-1"))
    assert uncertain.value.client_id == "maybe-1" and uncertain.value.what == "submit"
    placed = [o for o in rig.mock.venue.orders.values() if o.client_id == "maybe-1"]
    assert len(placed) == 1  # sent once: never retried blindly
    assert rig.client.metrics.uncertain == 1


async def test_timeout_after_apply_on_submit_is_uncertain_and_the_order_exists(rig: Rig) -> None:
    rig.faults(
        {
            "kind": "timeout_after_apply",
            "endpoint": "/api/v1/order",
            "method": "POST",
            "hold_ms": 60_000,
        }
    )
    with pytest.raises(Uncertain) as uncertain:
        await rig.client.submit(limit(Side.BUY, "0.001", "3000000", "held-1"))
    assert uncertain.value.client_id == "held-1"
    assert [o.client_id for o in rig.mock.venue.orders.values()] == ["held-1"]


async def test_an_uncertain_cancel_is_reported_as_such(rig: Rig) -> None:
    ack = await rig.client.submit(limit(Side.BUY, "0.001", "3000000", "c-1"))
    rig.faults({"kind": "http_5xx_after", "endpoint": "/api/v1/order", "method": "DELETE"})
    with pytest.raises(Uncertain) as uncertain:
        await rig.client.cancel(ack.id, "c-1")
    assert uncertain.value.what == "cancel"
    assert rig.mock.venue.orders[ack.id].cancel_due is not None  # it was applied


async def test_maintenance_503_on_a_read_is_retried_then_given_up(rig: Rig) -> None:
    rig.faults({"kind": "maintenance_503", "endpoint": "/api/v1/openorders"})
    with pytest.raises(ServerError) as failed:
        await rig.client.open_orders()
    assert failed.value.status == 503


async def test_a_malformed_row_is_quarantined_and_counted(rig: Rig) -> None:
    for i in range(3):
        await rig.client.submit(limit(Side.BUY, "0.001", str(3_000_000 + i * 1000), f"r-{i}"))
    rig.faults(
        {"kind": "malformed_row", "endpoint": "/api/v1/openorders", "corruption": "drop_field"}
    )
    opened = await rig.client.open_orders(PAIR)
    assert len(opened.items) == 2 and len(opened.quarantined) == 1
    assert rig.client.metrics.quarantined["openOrders"] == 1


async def test_visibility_lag_shows_not_found_right_after_create(rig: Rig) -> None:
    rig.faults(
        {"kind": "visibility_lag", "endpoint": "/api/v1/order", "method": "POST", "lag_ms": 20_000}
    )
    ack = await rig.client.submit(limit(Side.BUY, "0.001", "3000000", "late-1"))
    with pytest.raises(OrderNotFound):
        await rig.client.order(ack.id)
    assert (await rig.client.open_orders()).items == ()
    rig.clock.advance(20_001)
    assert (await rig.client.order(ack.id)).client_id == "late-1"


async def test_a_small_clock_skew_is_measured_and_stamps_follow_it(rig: Rig) -> None:
    rig.faults({"kind": "clock_skew", "skew_ms": 2_500})
    offset = await rig.client.sync_clock()
    assert offset is not None and abs(offset - 2_500) <= 5
    ack = await rig.client.submit(limit(Side.BUY, "0.001", "3000000", "skewed"))
    assert ack.client_id == "skewed"


async def test_a_skew_beyond_tolerance_halts_writes_but_not_reads(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.faults({"kind": "clock_skew", "skew_ms": 7_000})
    with caplog.at_level(logging.ERROR, logger="bot.exchange.rest"):
        await rig.client.sync_clock()
    assert rig.client.metrics.clock_alerts == 1
    assert any("ALERT" in r.getMessage() for r in caplog.records)
    with pytest.raises(ClockUntrusted):
        await rig.client.submit(limit(Side.BUY, "0.001", "3000000", "halted"))
    assert rig.mock.venue.orders == {}
    assert (await rig.client.balances()).items  # reads still sign with the measured offset


async def test_a_stale_offset_is_resynced_after_a_nonce_refusal(rig: Rig) -> None:
    await rig.client.sync_clock()
    rig.faults({"kind": "clock_skew", "skew_ms": 6_000})  # the venue jumps ahead
    balances = await rig.client.balances()  # 401 Invalid Nonce, resync, retry
    assert balances.items and rig.client.metrics.clock_syncs == 2


async def test_the_rate_budget_keeps_the_client_inside_the_venue_limits(rig: Rig) -> None:
    for i in range(25):
        await rig.client.submit(limit(Side.BUY, "0.001", str(3_000_000 + i), f"burst-{i}"))
    assert rig.client.metrics.rate_limited == 0
    assert rig.client.metrics.budget_waits > 0  # it waited instead of earning a 429


async def test_no_secret_or_signature_reaches_a_log_line(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.faults({"kind": "http_5xx_before", "endpoint": "/api/v1/users/balances", "nth": 1})
    with caplog.at_level(logging.DEBUG):
        await rig.client.balances()
        await rig.client.submit(limit(Side.BUY, "0.001", "3000000", "logged"))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records
    assert ALICE.secret not in text and "X-Signature" not in text and "x-signature" not in text


# -- over a real socket -----------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("rest")
    plan = Path(tmp / "faults.toml")
    # Only BOB's second submit is lost, so the tests sharing this server stay independent.
    plan.write_text(
        'seed = 1\n[[rule]]\nkind = "timeout_after_apply"\nendpoint = "/api/v1/order"\n'
        f'method = "POST"\nnth = 2\nhold_ms = 5000\naccount = "{BOB.key}"\n'
    )
    server = start_server(tmp, "--no-market", "--faults", str(plan))
    yield server
    stop_server(server)


async def test_over_a_real_socket_a_lost_answer_is_uncertain(server: LiveServer) -> None:
    async with httpx2.AsyncClient(base_url=server.base_url) as http:
        client = build_client(http, None, [], account=BOB, timeout_s=1.0)
        assert (await client.sync_clock()) is not None
        first = await client.submit(limit(Side.BUY, "0.001", "3000000", "wire-1"))
        with pytest.raises(Uncertain):
            await client.submit(limit(Side.BUY, "0.001", "3000000", "wire-2"))
        opened = await client.open_orders(PAIR)
        assert {o.client_id for o in opened.items} == {"wire-1", "wire-2"}
        assert first.client_id == "wire-1"


async def test_a_closed_port_is_not_sent_and_reads_give_up_cleanly() -> None:
    async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{free_port()}") as http:
        client = build_client(http, None, [], timeout_s=1.0)
        client.policy = RetryPolicy(max_attempts=2, max_elapsed_s=5)
        with pytest.raises(NotSent):
            await client.server_time()


async def test_rate_limited_is_raised_when_retry_after_exceeds_the_budget(rig: Rig) -> None:
    rig.client.policy = RetryPolicy(max_attempts=3, max_elapsed_s=10)
    rig.faults({"kind": "http_429", "endpoint": "/api/v1/openorders", "retry_after": 60})
    with pytest.raises(RateLimited):
        await rig.client.open_orders()


async def test_latency_beyond_the_timeout_on_a_read_is_retried(rig: Rig) -> None:
    rig.faults({"kind": "latency", "endpoint": "/api/v1/users/balances", "nth": 1, "ms": 60_000})
    balances = await rig.client.balances()  # the first answer is too late: retried
    assert balances.items and rig.client.metrics.retries == 1


async def test_latency_beyond_the_timeout_on_a_submit_is_uncertain(rig: Rig) -> None:
    rig.faults(
        {"kind": "latency", "endpoint": "/api/v1/order", "method": "POST", "nth": 1, "ms": 60_000}
    )
    with pytest.raises(Uncertain):
        await rig.client.submit(limit(Side.BUY, "0.001", "3000000", "slow-1"))


async def test_every_endpoint_over_a_real_socket(server: LiveServer) -> None:
    async with httpx2.AsyncClient(base_url=server.base_url) as http:
        client = build_client(http, None, [], timeout_s=5.0)
        await client.sync_clock()
        assert client.stamps.trusted
        assert {r.name for r in (await client.exchange_info()).items} >= {"BTCTRY"}
        assert (await client.ticker(PAIR)).items[0].pair == PAIR
        await client.orderbook(PAIR)
        await client.trades(PAIR)
        assert any(b.asset == "TRY" for b in (await client.balances()).items)
        ack = await client.submit(limit(Side.BUY, "0.001", "2900000", "every-1"))
        assert (await client.order(ack.id)).client_id == "every-1"
        assert ack.id in {o.id for o in (await client.open_orders(PAIR)).items}
        assert ack.id in {o.id for o in (await client.all_orders(PAIR)).items}
        assert (await client.user_trades(order_id=ack.id)).items == ()
        await client.cancel(ack.id, "every-1")
