"""The websocket client against the real mock: in memory through ``StreamHub`` under a
virtual clock shared by venue and bot, and over a real socket to a live server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import httpx2
import pytest

from bot.core.types import BookLevel, Fill, Side
from bot.errors import RateLimited, TransportError
from bot.exchange.channels import OrderDelete, OrderInsert, OrderMatch
from bot.exchange.stream import (
    Backoff,
    Connect,
    StreamClient,
    WsConnection,
    retry_delay,
    websockets_connect,
)
from chaos.engines.sim import HubSocket
from mock_exchange.accounts import Account
from mock_exchange.app import MockExchange
from mock_exchange.clock import VirtualClock
from mock_exchange.faults import FaultPlan
from mock_exchange.settings import MockSettings
from mock_exchange.stream import Connection, StreamHub
from mock_exchange.validation import OrderRequest
from tests.conftest import (
    ALICE,
    BOB,
    LiveServer,
    free_port,
    signed,
    start_server,
    stop_server,
)

PAIR = "BTCTRY"


def login_frame(account: Account = ALICE, nonce: int = 3000) -> Callable[[], list[Any]]:
    def build() -> list[Any]:
        digest = hmac.digest(account.secret_bytes, f"{account.key}{nonce}".encode(), "sha256")
        signature = base64.b64encode(digest).decode()
        body = {"type": 114, "publicKey": account.key, "timestamp": 0, "nonce": nonce}
        return [114, body | {"signature": signature}]

    return build


# -- in memory: a connect function bridged to the mock's StreamHub -------------------------------


@dataclass
class Rig:
    mock: MockExchange
    clock: VirtualClock
    client: StreamClient
    task: asyncio.Task[None]
    conns: list[Connection] = field(default_factory=list)

    @property
    def hub(self) -> StreamHub:
        return self.mock.stream

    async def settle(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0)

    async def run_for(self, ms: int, step: int = 50) -> None:
        for _ in range(max(1, ms // step)):
            self.clock.advance(step)
            self.mock.advance()
            self.hub.tick()
            await self.settle()

    async def until(self, condition: Callable[[], bool], within_ms: int = 20_000) -> None:
        waited = 0
        while not condition():
            assert waited < within_ms, f"not true within {within_ms} ms of venue time"
            await self.run_for(50)
            waited += 50

    def book_matches_venue(self) -> bool:
        book = self.client.books[PAIR]
        venue = self.mock.venue.books[PAIR]
        view = book.snapshot()
        return (
            not book.dirty
            and [(lv.price, lv.amount) for lv in view.bids] == venue.bids.depth(50)
            and [(lv.price, lv.amount) for lv in view.asks] == venue.asks.depth(50)
        )

    def order(self, side: str, qty: str, price: str, account: Account = BOB, **kw: Any) -> int:
        request = OrderRequest(PAIR, side, "limit", D(qty), D(price), **kw)
        return self.mock.venue.submit(account.key, request, self.mock.now()).id

    def fired(self) -> list[str]:
        return [e.data["fault"] for e in self.mock.journal.entries(kinds=["fault_fired"])]

    def logins(self) -> list[bool]:
        return [e.data["ok"] for e in self.mock.journal.entries(kinds=["ws_login"])]


@contextlib.asynccontextmanager
async def rig(rules: list[dict[str, Any]] | None = None, **options: Any) -> AsyncIterator[Rig]:
    clock = VirtualClock()
    plan = FaultPlan.from_mapping({"seed": 3, "rule": rules or []})
    mock = MockExchange(
        MockSettings(market=False, rate_limits=False, faults=plan), clock, [ALICE, BOB]
    )
    conns: list[Connection] = []

    @contextlib.asynccontextmanager
    async def connect(url: str) -> AsyncIterator[WsConnection]:
        assert url == "ws://mock/ws"
        conn = mock.stream.open("10.0.0.1")
        conns.append(conn)
        try:
            yield HubSocket(mock.stream, conn)
        finally:
            mock.stream.close(conn, conn.closed or "client closed")

    async def sleep(seconds: float) -> None:
        await clock.sleep_ms(max(1, round(seconds * 1000)))

    settings: dict[str, Any] = {
        "pairs": [PAIR],
        "channels": ("obdiff",),
        "stale_after_s": 5.0,
        "resync_after_s": 0.5,
        "handshake_timeout_s": 2.0,
        "backoff": Backoff(base_s=0.2, cap_s=2.0, stable_after_s=10.0),
        "rng": random.Random(1),
        "now": lambda: clock.now_ms() / 1000,
        "sleep": sleep,
    }
    client = StreamClient("ws://mock/ws", connect, **(settings | options))
    task = asyncio.create_task(client.run())
    the_rig = Rig(mock, clock, client, task, conns)
    try:
        async with asyncio.timeout(20):
            await the_rig.settle()
            yield the_rig
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def drain(client: StreamClient) -> list[Any]:
    out = []
    while not client.private_events.empty():
        out.append(client.private_events.get_nowait())
    return out


@pytest.mark.anyio
async def test_the_book_follows_the_venue_through_inserts_fills_and_cancels() -> None:
    async with rig() as r:
        await r.until(lambda: r.client.connected and not r.client.books[PAIR].dirty)
        for i in range(5):
            r.order("buy", "0.01", str(3_000_000 + i * 1000))
            r.order("sell", "0.02", str(3_100_000 + i * 1000))
        await r.run_for(300)
        assert r.book_matches_venue()
        assert len(r.client.books[PAIR].snapshot().bids) == 5
        r.order("buy", "0.03", "3102000", ALICE)  # takes 1.5 ask levels
        cancelled = r.order("buy", "0.05", "2000000")
        await r.run_for(300)
        r.mock.venue.cancel(BOB.key, cancelled, r.mock.now())
        await r.run_for(600)
        assert r.book_matches_venue()
        view = r.client.books[PAIR].snapshot()
        assert view.asks[0] == BookLevel(D("3101000"), D("0.01"))
        assert D("2000000") not in [lv.price for lv in view.bids]
        assert r.client.metrics.gaps == 0 and r.client.metrics.resubscribes == 0
        assert r.client.metrics.connects == 1 and r.client.resync_needed == frozenset()


@pytest.mark.anyio
async def test_a_lost_diff_marks_the_book_dirty_and_a_resubscribe_recovers_it() -> None:
    async with rig([{"kind": "ws_gap", "nth": 2}]) as r:
        await r.until(lambda: r.client.connected and not r.client.books[PAIR].dirty)
        await r.run_for(600)  # past resync_after_s since the join
        for i in range(4):
            r.order("buy", "0.01", str(3_000_000 + i * 1000))
            await r.run_for(300)
        assert r.fired() == ["ws_gap"]
        await r.until(r.book_matches_venue)
        assert r.client.metrics.gaps == 1
        assert r.client.metrics.resubscribes == 1 and r.client.metrics.connects == 1
        assert len(r.client.books[PAIR].snapshot().bids) == 4


@pytest.mark.anyio
async def test_a_malformed_diff_is_counted_dropped_and_recovered_from() -> None:
    rule = {"kind": "ws_malformed", "msg_type": 432, "nth": 1, "corruption": "null_row"}
    async with rig([rule]) as r:
        await r.until(lambda: r.client.connected and not r.client.books[PAIR].dirty)
        for i in range(3):
            r.order("sell", "0.01", str(3_000_000 + i * 1000))
            await r.run_for(300)
        assert r.fired() == ["ws_malformed"]
        await r.until(r.book_matches_venue)
        assert r.client.metrics.malformed_frames == 1 and r.client.metrics.gaps == 1
        assert r.client.metrics.resubscribes == 1 and r.client.metrics.connects == 1
        assert not r.client.private_dirty  # a public frame says nothing of private events


@pytest.mark.anyio
async def test_a_silent_socket_is_dropped_by_the_staleness_watchdog() -> None:
    stall = {"kind": "ws_stall", "msg_type": 431, "nth": 3, "duration_ms": 600_000}
    async with rig([stall], channels=("orderbook",), stale_after_s=3.0) as r:
        await r.until(lambda: r.fired() == ["ws_stall"])
        stalled = r.clock.now_ms()
        first = r.conns[0]
        await r.until(lambda: r.client.metrics.stale_reconnects == 1)
        assert r.clock.now_ms() - stalled >= 2_000  # not before the data went quiet
        assert first.closed == "client closed"  # the socket was open: the client left it
        await r.until(lambda: len(r.conns) == 2 and r.book_matches_venue())
        r.order("buy", "0.01", "3000000")
        await r.run_for(1_000)
        assert r.book_matches_venue() and len(r.client.books[PAIR].snapshot().bids) == 1
        assert r.client.metrics.reconnects == 1


@pytest.mark.anyio
async def test_a_dropped_socket_reconnects_logs_in_again_and_rejoins() -> None:
    drop = {"kind": "ws_drop", "msg_type": 402, "nth": 2}
    async with rig([drop], channels=("obdiff", "ticker"), login_frame=login_frame()) as r:
        await r.until(lambda: r.client.logged_in)
        assert r.logins() == [True]
        await r.until(lambda: r.client.metrics.reconnects == 1)
        assert r.conns[0].closed == "ws_drop"
        await r.until(lambda: r.client.logged_in and not r.client.books[PAIR].dirty)
        assert r.logins() == [True, True]
        drain(r.client)
        placed = r.order("buy", "0.01", "3000000", ALICE)
        await r.run_for(300)
        assert [type(e) for e in drain(r.client)] == [OrderInsert]  # private: logged in again
        assert r.book_matches_venue() and r.client.books[PAIR].snapshot().bids  # joined again
        assert r.client.tickers[PAIR].pair == PAIR
        assert placed in r.mock.venue.orders
        assert r.client.metrics.logins == 2 and r.client.metrics.stale_reconnects == 0


@pytest.mark.anyio
async def test_private_events_arrive_in_order_as_core_values() -> None:
    async with rig(login_frame=login_frame()) as r:
        await r.until(lambda: r.client.logged_in)
        assert r.client.take_dirty()  # a login means earlier events were not seen
        r.order("sell", "0.1", "4000000", BOB)
        taker = r.order("buy", "0.04", "4000000", ALICE, client_id="c-1")
        resting = r.order("buy", "0.01", "3000000", ALICE, client_id="c-2")
        r.mock.venue.cancel(ALICE.key, resting, r.mock.now())
        await r.run_for(500)  # the cancel takes effect 250 ms later
        events = drain(r.client)
        kinds = [type(e) for e in events]
        assert kinds == [OrderInsert, OrderMatch, Fill, OrderDelete, OrderInsert, OrderDelete]
        insert, match, fill, filled, _, cancel = events
        assert (insert.id, insert.client_id, insert.side) == (taker, "c-1", Side.BUY)
        assert (match.order_id, match.amount, match.price) == (taker, D("0.04"), D("4000000"))
        venue_fill = next(f for f in r.mock.venue.fills if f.account == ALICE.key)
        assert (fill.trade_id, fill.order_id, fill.client_id) == (venue_fill.trade_id, taker, "c-1")
        assert (fill.side, fill.amount, fill.fee) == (Side.BUY, D("0.04"), venue_fill.fee)
        assert (filled.id, filled.left) == (taker, D(0))
        assert (cancel.id, cancel.left, cancel.client_id) == (resting, D("0.01"), "c-2")
        assert not r.client.take_dirty()


@pytest.mark.anyio
async def test_a_full_private_queue_sets_private_dirty_and_never_blocks_the_reader() -> None:
    async with rig(login_frame=login_frame(), queue_size=2) as r:
        await r.until(lambda: r.client.logged_in and not r.client.books[PAIR].dirty)
        assert r.client.take_dirty()
        for i in range(3):
            r.order("buy", "0.01", str(3_000_000 + i * 1000), ALICE)
        await r.run_for(300)
        assert r.client.private_events.qsize() == 2
        assert r.client.private_dirty and r.client.metrics.queue_overflows == 1
        assert r.book_matches_venue() and len(r.client.books[PAIR].snapshot().bids) == 3
        assert r.client.take_dirty() and not r.client.take_dirty()


@pytest.mark.anyio
async def test_a_refused_login_is_reported_and_not_retried_while_the_public_feed_goes_on() -> None:
    drop = {"kind": "ws_drop", "msg_type": 402, "nth": 2}
    wrong = Account(key=ALICE.key, secret=BOB.secret, name="wrong")
    channels = ("obdiff", "ticker")
    async with rig([drop], channels=channels, login_frame=login_frame(wrong)) as r:
        await r.until(lambda: r.client.auth_error is not None)
        assert r.client.auth_error is not None
        assert r.client.auth_error.message == "Unauthorized - Invalid Signature"
        assert r.client.metrics.reconnects == 0 and r.client.connected
        await r.until(lambda: r.client.metrics.reconnects == 1)
        await r.until(lambda: r.client.connected and not r.client.books[PAIR].dirty)
        await r.run_for(1_000)
        assert r.logins() == [False] and r.client.metrics.login_failures == 1
        assert not r.client.logged_in and PAIR in r.client.tickers


@pytest.mark.anyio
async def test_no_version_message_means_subscribing_after_the_handshake_timeout() -> None:
    async with rig([{"kind": "ws_drop_type", "msg_type": 991}]) as r:
        await r.until(lambda: r.client.connected, within_ms=2_500)
        assert r.client.metrics.handshake_timeouts == 1
        await r.until(lambda: not r.client.books[PAIR].dirty)


@pytest.mark.anyio
async def test_stop_ends_run() -> None:
    async with rig() as r:
        await r.until(lambda: r.client.connected)
        r.client.stop()
        await r.settle()
        assert r.task.done() and r.task.exception() is None
        assert r.conns[0].closed == "client closed" and not r.client.connected
        assert r.client.books[PAIR].dirty


def test_backoff_grows_is_jittered_capped_and_honours_retry_after() -> None:
    backoff = Backoff(base_s=1.0, cap_s=8.0)
    rng = random.Random(4)
    delays = [backoff.delay(attempt, rng) for attempt in range(6)]
    steps = [1, 2, 4, 8, 8, 8]
    assert all(step / 2 <= d <= step for d, step in zip(delays, steps, strict=True))
    assert len(set(delays[3:])) == 3  # jittered, never one fixed value
    assert retry_delay(RateLimited(45), 0, backoff, rng) == 45
    assert retry_delay(TransportError("x"), 0, backoff, rng) <= 1


# -- over a real socket --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def drop_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("bot-ws")
    plan = Path(tmp / "faults.toml")
    plan.write_text('seed = 1\n[[rule]]\nkind = "ws_drop"\nmsg_type = 402\nnth = 3\n')
    server = start_server(tmp, "--rate-limits", "off", "--no-market", "--faults", str(plan))
    yield server
    stop_server(server)


async def eventually(condition: Callable[[], bool], seconds: float = 15.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not true within {seconds} s")


async def place(server: LiveServer, price: str) -> int:
    body = {
        "quantity": "0.001",
        "price": price,
        "orderMethod": "limit",
        "orderType": "buy",
        "pairSymbol": PAIR,
    }
    async with httpx2.AsyncClient(base_url=server.base_url) as http:
        headers = signed(ALICE, int(time.time() * 1000))
        response = await http.post("/api/v1/order", headers=headers, json=body)
    assert response.status_code == 200, response.text
    return int(response.json()["data"]["id"])


async def next_insert(client: StreamClient) -> OrderInsert:
    async with asyncio.timeout(10):
        while True:
            event = await client.private_events.get()
            if isinstance(event, OrderInsert):
                return event


@pytest.mark.anyio
@pytest.mark.slow
async def test_over_a_real_socket_the_client_survives_a_drop(drop_server: LiveServer) -> None:
    connect: Connect = websockets_connect(open_timeout=10)
    client = StreamClient(
        f"ws://127.0.0.1:{drop_server.port}/",
        connect,
        pairs=[PAIR],
        channels=("obdiff", "ticker"),
        login_frame=login_frame(),
        stale_after_s=5.0,
        backoff=Backoff(base_s=0.05, cap_s=0.5),
        rng=random.Random(2),
    )
    task = asyncio.create_task(client.run())
    try:
        book = client.books[PAIR]
        await eventually(lambda: client.logged_in and not book.dirty)
        first = await place(drop_server, "3000000")
        assert (await next_insert(client)).id == first
        await eventually(lambda: [lv.price for lv in book.snapshot().bids] == [D("3000000")])
        await eventually(lambda: client.metrics.reconnects == 1)  # the third ticker drops it
        await eventually(lambda: client.logged_in and not book.dirty)
        second = await place(drop_server, "3001000")
        assert (await next_insert(client)).id == second
        want = [D("3001000"), D("3000000")]
        await eventually(lambda: [lv.price for lv in book.snapshot().bids] == want)
        assert client.metrics.logins == 2 and client.metrics.gaps == 0
        client.stop()
        async with asyncio.timeout(10):
            await task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.anyio
@pytest.mark.slow
async def test_the_adapter_turns_a_refused_upgrade_into_rate_limited(
    drop_server: LiveServer,
) -> None:
    connect = websockets_connect(open_timeout=10)
    with pytest.raises(RateLimited) as refused:  # the venue allows 15 connects a minute
        for _ in range(20):
            async with connect(f"ws://127.0.0.1:{drop_server.port}/ws") as ws:
                assert (await ws.recv()).startswith("[991,")
    assert refused.value.retry_after_s == 60  # no Retry-After header: a minute


@pytest.mark.anyio
async def test_the_adapter_turns_a_refused_connection_into_a_transport_error() -> None:
    with pytest.raises(TransportError):
        async with websockets_connect(open_timeout=2)(f"ws://127.0.0.1:{free_port()}/"):
            pass
