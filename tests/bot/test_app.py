"""The running bot against the mock in process: venue, bot and websocket on one virtual
clock. Every failure point of the audited bot is shown closed at the level of ``Bot``:
start-up reconciles first, quotes stay within the rules with one live order per slot,
risk limits hold before every submit, and the kill switch drops to observe (and back)
for each cause the issue names."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import httpx2
import pytest

from bot import cli
from bot.app import Bot
from bot.core.clock import OffsetEstimator, StampSource
from bot.core.modes import Mode
from bot.core.orders import OrderState
from bot.core.ratelimit import RateBudget
from bot.core.retry import Backoff, RetryPolicy
from bot.exchange.adapter import WS_LOGIN_NONCE, Exchange
from bot.exchange.rest import RestClient
from bot.exchange.signing import Credentials, ws_login
from bot.exchange.stream import StreamClient, WsConnection
from bot.settings import ENV_API_KEY, ENV_API_SECRET, BotSettings, load_settings
from bot.store.repository import Store
from chaos.engines.sim import HubSocket
from mock_exchange.app import MockExchange, create_app
from mock_exchange.clock import VirtualClock
from mock_exchange.faults import FaultPlan
from mock_exchange.model import Order
from mock_exchange.settings import MockSettings
from mock_exchange.stream import Connection
from mock_exchange.validation import OrderRequest as MockOrder
from tests.conftest import ALICE, BOB

pytestmark = pytest.mark.anyio

PAIR = "BTCTRY"
ENV = {ENV_API_KEY: ALICE.key, ENV_API_SECRET: ALICE.secret}

SETTINGS = """
profile = "mock"
mode = "live"

[venue]
rest_url = "http://mock.test"
ws_url = "ws://mock/ws"

[store]
url = "sqlite+aiosqlite:///{db}"

[strategy]
pairs = ["BTCTRY"]
spread_bps = 20
levels = 1
quantity = 0.001
ttl_ms = {ttl_ms}
max_drift_bps = 10

[risk]
max_position = {max_position}
max_open_orders = {max_open_orders}
max_order_notional = {max_order_notional}
max_daily_loss = {max_daily_loss}

[lifecycle]
visibility_budget_ms = {budget_ms}
reconcile_interval_s = 2.0
max_reconcile_failures = 3
auto_resume = true

[metrics]
enabled = false
"""


def mode(bot: Bot) -> Mode:
    """The bot's mode, read afresh (each step may change it)."""
    return bot.mode


def settings_file(tmp_path: Path, **overrides: Any) -> BotSettings:
    values: dict[str, Any] = {
        "db": tmp_path / "bot.db",
        "ttl_ms": 60_000,
        "max_position": "0.01",
        "max_open_orders": 4,
        "max_order_notional": 10_000,
        "budget_ms": 20_000,
        "max_daily_loss": 100_000,
    }
    values.update(overrides)
    path = tmp_path / "btcbot.toml"
    path.write_text(SETTINGS.format(**values))
    return load_settings(path, ENV)


@dataclass
class World:
    mock: MockExchange
    clock: VirtualClock
    app: Any
    settings: BotSettings
    requests: list[tuple[str, str]] = field(default_factory=list)
    conns: list[Connection] = field(default_factory=list)
    bots: list[Bot] = field(default_factory=list)

    @property
    def bot(self) -> Bot:
        return self.bots[-1]

    # -- the venue ------------------------------------------------------------------------

    def faults(self, *rules: dict[str, Any]) -> None:
        self.mock.load_faults(FaultPlan.from_mapping({"seed": 1, "rule": list(rules)}))

    def bob(self, side: str, qty: str, price: str) -> Order:
        request = MockOrder(PAIR, side, "limit", D(qty), D(price))
        return self.mock.venue.submit(BOB.key, request, self.mock.now())

    def ours(self) -> list[Order]:
        return [o for o in self.mock.venue.orders.values() if o.account == ALICE.key]

    def ours_open(self) -> list[Order]:
        return [o for o in self.ours() if o.is_open]

    def posts(self) -> int:
        return sum(1 for method, path in self.requests if method == "POST")

    def slot_of(self, order: Order) -> str:
        """The quote slot a venue order of ours belongs to, from the bot's own books."""
        local = self.bot.lifecycle.orders[order.client_id]
        return local.intent_id.split(":", 1)[1].rsplit(":", 2)[0]

    def live_per_slot(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for order in self.ours_open():
            slot = self.slot_of(order)
            counts[slot] = counts.get(slot, 0) + 1
        return counts

    # -- time -----------------------------------------------------------------------------

    async def settle(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0)

    async def run_for(self, ms: int, step: int = 50) -> None:
        for _ in range(max(1, ms // step)):
            self.clock.advance(step)
            self.mock.advance()
            self.mock.stream.tick()
            await self.settle()

    async def until(self, condition: Callable[[], bool], within_ms: int = 20_000) -> None:
        waited = 0
        while not condition():
            assert waited < within_ms, f"not true within {within_ms} ms of venue time"
            await self.run_for(50)
            waited += 50

    async def steps(
        self, n: int, gap_ms: int = 500, check: Callable[[], None] | None = None
    ) -> None:
        """``n`` bot steps with ``gap_ms`` of venue time between them (the run loop's sleep)."""
        for _ in range(n):
            await self.bot.step()
            if check is not None:
                check()
            await self.run_for(gap_ms)
            if check is not None:
                check()

    async def steps_until(self, condition: Callable[[], bool], most: int = 10) -> None:
        for _ in range(most):
            if condition():
                return
            await self.steps(1)
        assert condition(), f"not true within {most} steps"

    def quoting(self) -> bool:
        """Both slots hold exactly one live order on the venue."""
        return self.live_per_slot() == {f"{PAIR}:bid:0": 1, f"{PAIR}:ask:0": 1}

    # -- the bot --------------------------------------------------------------------------

    async def new_bot(self, settings: BotSettings | None = None, queue_size: int = 1_000) -> Bot:
        settings = settings or self.settings
        clock = self.clock

        async def advance(seconds: float) -> None:  # the bot's own waits move venue time
            clock.advance(max(1, round(seconds * 1000)))

        async def wait(seconds: float) -> None:  # the feed's watchdog waits for it
            await clock.sleep_ms(max(1, round(seconds * 1000)))

        async def record(request: httpx2.Request) -> None:
            self.requests.append((request.method, request.url.path))

        http = httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=self.app),
            base_url=settings.rest_url,
            event_hooks={"request": [record]},
        )
        credentials = Credentials.from_base64(settings.api_key, settings.api_secret)
        budget = RateBudget(margin=settings.venue.rate_margin)
        rng = random.Random(7)
        rest = RestClient(
            http,
            credentials=credentials,
            budget=budget,
            stamps=StampSource(OffsetEstimator(), tolerance_ms=settings.venue.stamp_tolerance_ms),
            now_ms=clock.now_ms,
            sleep=advance,
            backoff=Backoff(rng, base_s=0.05, cap_s=1.0),
            policy=RetryPolicy(max_attempts=3, max_elapsed_s=10),
            timeout_s=5.0,
        )

        @contextlib.asynccontextmanager
        async def connect(url: str) -> AsyncIterator[WsConnection]:
            assert url == settings.ws_url
            conn = self.mock.stream.open("10.0.0.1")
            self.conns.append(conn)
            try:
                yield HubSocket(self.mock.stream, conn)
            finally:
                self.mock.stream.close(conn, conn.closed or "client closed")

        stream = StreamClient(
            settings.ws_url,
            connect,
            pairs=settings.strategy.pairs,
            channels=("obdiff", "orderbook"),
            login_frame=lambda: ws_login(credentials, WS_LOGIN_NONCE, clock.now_ms()),
            queue_size=queue_size,
            stale_after_s=15.0,
            rng=rng,
            now=lambda: clock.now_ms() / 1000,
            sleep=wait,
        )
        store = await Store.open(settings.store.url)
        bot = Bot(
            settings,
            Exchange(rest, stream, budget),
            store,
            now_ms=clock.now_ms,
            sleep=advance,
        )
        self.bots.append(bot)
        return bot

    async def start(self, bot: Bot | None = None) -> Bot:
        """Start the bot and wait until its feed is logged in with a clean book."""
        bot = bot or self.bot
        await bot.start()
        stream = bot.exchange.stream
        await self.until(lambda: stream.logged_in and not stream.books[PAIR].dirty)
        return bot

    async def stop(self, bot: Bot) -> None:
        await bot.exchange.close()
        await bot.store.close()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    clock = VirtualClock()
    mock_settings = MockSettings(market=False, rate_limits=False, admin_token="t")
    mock = MockExchange(mock_settings, clock, [ALICE, BOB])
    app = create_app(mock_settings, mock=mock)
    w = World(mock, clock, app, settings_file(tmp_path))
    w.bob("buy", "0.05", "3990000")
    w.bob("sell", "0.05", "4010000")
    try:
        async with asyncio.timeout(30):
            yield w
    finally:
        for bot in w.bots:
            with contextlib.suppress(Exception):
                await w.stop(bot)


# -- start-up ---------------------------------------------------------------------------------


async def test_start_up_reconciles_before_any_new_order(world: World) -> None:
    bot = await world.new_bot()
    await bot.start()
    assert world.posts() == 0
    paths = [path.lower() for _, path in world.requests]
    assert paths[:5] == [
        "/api/v2/server/time",
        "/api/v2/server/time",
        "/api/v2/server/time",
        "/api/v2/server/exchangeinfo",
        "/api/v1/openorders",  # the first reconcile's first read
    ]
    assert bot.state.last_reconcile_ms is not None and mode(bot) is Mode.LIVE
    await world.until(lambda: bot.exchange.stream.logged_in)
    await world.steps_until(world.quoting)
    quoted = {o.id for o in world.ours_open()}
    # A restart on the same store finds its quotes on the venue before quoting again.
    await world.stop(bot)
    again = await world.new_bot()
    first = len(world.requests)
    await world.start(again)
    assert all(method == "GET" for method, _ in world.requests[first:])
    await world.steps(10)
    assert {o.id for o in world.ours()} == quoted and world.posts() == 2


async def test_quotes_both_sides_within_rules_and_one_live_order_per_slot(
    world: World, tmp_path: Path
) -> None:
    bot = await world.new_bot(settings_file(tmp_path, ttl_ms=3_000))
    await world.start(bot)

    def one_per_slot() -> None:
        counts = world.live_per_slot()
        assert all(n == 1 for n in counts.values()), counts

    await world.steps(40, check=one_per_slot)
    rules = world.mock.venue.rules[PAIR]
    ours = world.ours()
    by_slot: dict[str, list[Order]] = {}
    for order in ours:
        by_slot.setdefault(world.slot_of(order), []).append(order)
    assert set(by_slot) == {f"{PAIR}:bid:0", f"{PAIR}:ask:0"}
    assert min(len(orders) for orders in by_slot.values()) >= 4  # the TTL replaced them
    for order in ours:
        assert order.price is not None
        assert order.price == order.price.to_integral_value()  # hasFraction false, tick 1
        assert order.quantity == D("0.001")
        assert order.price * order.quantity >= rules.min_exchange_value
        # Inside the touch, never crossing it: a maker quote on each side of the mid.
        if order.side == "buy":
            assert D("3990000") < order.price < D("4000000")
        else:
            assert D("4000000") < order.price < D("4010000")
    for orders in by_slot.values():
        orders.sort(key=lambda o: o.id)
        for old, new in itertools.pairwise(orders):
            # Cancel, confirm, then submit: the new one came after the old one left.
            assert old.status == "Canceled" and new.created >= old.updated
        assert [o.is_open for o in orders].count(True) == 1
    assert not [o for o in bot.lifecycle.orders.values() if o.state is OrderState.REJECTED]
    assert mode(bot) is Mode.LIVE and bot.lifecycle.illegal == 0


# -- risk -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "placed"),
    [
        ({"max_position": "0.0005"}, 0),  # one quote would take the position past it
        ({"max_order_notional": 1_000}, 0),  # a quote is worth about 4000 TRY
        ({"max_open_orders": 1}, 1),  # the bid goes, the ask waits
    ],
)
async def test_risk_limits_are_checked_before_every_submit(
    world: World, tmp_path: Path, limits: dict[str, Any], placed: int
) -> None:
    bot = await world.new_bot(settings_file(tmp_path, ttl_ms=2_000, **limits))
    await world.start(bot)

    def within_limit() -> None:
        assert len(world.ours_open()) <= placed

    await world.steps(20, check=within_limit)
    if placed:
        assert len(world.ours()) > placed  # TTL replaces went on, one order at a time
        assert {o.side for o in world.ours()} == {"buy"}  # the ask never had room
    else:
        assert world.posts() == 0 and world.ours() == []
    assert mode(bot) is Mode.LIVE  # a refused quote is not a fault


async def test_past_the_daily_loss_only_orders_that_reduce_the_position_go(
    world: World, tmp_path: Path
) -> None:
    bot = await world.new_bot(settings_file(tmp_path, max_daily_loss=300))
    await world.start(bot)
    await world.steps_until(world.quoting)
    bid = next(o for o in world.ours_open() if o.side == "buy")
    before = {o.id for o in world.ours()}
    for order in world.mock.venue.open_orders(BOB.key):
        world.mock.venue.cancel(BOB.key, order.id, world.mock.now())
    world.bob("sell", "0.001", str(bid.price))  # our bid fills: long 0.001 at 3996000
    await world.run_for(300)
    world.bob("buy", "0.05", "3500000")  # then the market falls about 12%
    world.bob("sell", "0.05", "3510000")
    await world.run_for(300)
    posts = world.posts()
    await world.steps(10)
    assert bot.portfolio.position(PAIR) == D("0.001")
    placed = [o for o in world.ours() if o.id not in before]
    # Marked to market the position has lost about 490 TRY, past the limit of 300: the
    # ask is re-quoted at the new price (it brings the position back to zero), no bid goes.
    assert [o.side for o in placed] == ["sell"] and world.posts() == posts + 1
    assert placed[0].price is not None and placed[0].price < D("3600000")
    assert mode(bot) is Mode.LIVE


# -- the kill switch: each cause, and back -----------------------------------------------------


async def test_reconcile_failing_n_times_in_a_row_drops_to_observe_and_clears(
    world: World,
) -> None:
    bot = await world.new_bot()
    await world.start(bot)
    await world.steps(2)
    assert len(world.ours_open()) == 2
    world.faults({"kind": "http_5xx_before", "endpoint": "/api/v1/openOrders"})
    await world.run_for(2_000)  # the next reconcile is due
    for expected in (1, 2):
        await world.steps(1)
        assert bot.state.reconcile_failures == expected and mode(bot) is Mode.LIVE
    await world.steps(1)
    assert mode(bot) is Mode.OBSERVE
    assert any("reconciliation failed 3 times in a row" in r for r in bot.modes.reasons)
    # In observe nothing new reaches the venue, even when the quotes want replacing.
    posts = world.posts()
    for order in list(world.ours_open()):
        world.mock.venue.cancel(ALICE.key, order.id, world.mock.now())
    await world.steps(6, gap_ms=2_000)
    assert world.posts() == posts and world.ours_open() == []
    assert mode(bot) is Mode.OBSERVE
    world.faults()  # the cause clears
    await world.steps(2, gap_ms=2_000)
    assert bot.state.reconcile_failures == 0 and mode(bot) is Mode.LIVE
    assert len(world.ours_open()) == 2 and world.posts() == posts + 2
    assert [c.mode for c in bot.modes.history] == [Mode.LIVE, Mode.OBSERVE, Mode.LIVE]


async def test_an_order_unknown_past_its_budget_drops_to_observe(world: World) -> None:
    bot = await world.new_bot()
    await world.start(bot)
    world.faults(
        # The first submit's outcome is unknown, and allOrders cannot prove it absent.
        {"kind": "http_5xx_before", "endpoint": "/api/v1/order", "method": "POST", "nth": 1},
        {"kind": "http_5xx_before", "endpoint": "/api/v1/allOrders"},
    )
    await world.steps(1)
    unknown = [o for o in bot.lifecycle.orders.values() if o.state is OrderState.UNKNOWN]
    assert len(unknown) == 1 and len(world.ours_open()) == 1
    await world.steps(10, gap_ms=2_000)  # 20 s: the budget
    assert mode(bot) is Mode.LIVE
    await world.steps(2, gap_ms=2_000)
    assert mode(bot) is Mode.OBSERVE
    assert any(unknown[0].client_id in r for r in bot.modes.reasons)
    assert len(world.ours()) == 1  # never placed again while in doubt
    ask = world.ours_open()[0]
    world.mock.venue.cancel(ALICE.key, ask.id, world.mock.now())
    posts = world.posts()
    await world.steps(4)
    assert world.posts() == posts and world.ours_open() == []  # observe: no new quotes
    world.faults()
    await world.steps(3, gap_ms=2_000)
    assert bot.lifecycle.orders[unknown[0].client_id].state is OrderState.REJECTED  # absent
    assert mode(bot) is Mode.LIVE
    await world.steps_until(world.quoting)


async def test_without_exchangeinfo_there_are_no_rules_and_no_quotes(world: World) -> None:
    world.faults({"kind": "maintenance_503", "endpoint": "/api/v2/server/exchangeinfo"})
    bot = await world.new_bot()
    await world.start(bot)
    await world.steps(6)
    assert bot.rules == {} and mode(bot) is Mode.OBSERVE
    assert any(f"symbol rules missing for {PAIR}" in r for r in bot.modes.reasons)
    assert world.posts() == 0 and world.ours() == []
    world.faults()
    await world.steps(2)
    assert PAIR in bot.rules and mode(bot) is Mode.LIVE
    assert len(world.ours_open()) == 2


async def test_an_untrusted_clock_halts_writes_until_a_resync_brings_it_back(
    world: World, tmp_path: Path
) -> None:
    bot = await world.new_bot(settings_file(tmp_path, ttl_ms=3_000))
    await world.start(bot)
    await world.steps(2)
    before = {o.id for o in world.ours_open()}
    assert len(before) == 2
    world.faults({"kind": "clock_skew", "skew_ms": 7_000, "window": {"end_ms": 30_000}})
    start = len(world.requests)
    await world.steps(2, gap_ms=2_000)
    assert not bot.exchange.rest.stamps.trusted and mode(bot) is Mode.OBSERVE
    assert any("clock cannot be trusted" in r for r in bot.modes.reasons)
    # The quotes outlive their TTL meanwhile: neither their cancels nor new orders go out.
    await world.steps(11, gap_ms=2_000)
    writes = [m for m, _ in world.requests[start:] if m in ("POST", "DELETE")]
    assert writes == [] and {o.id for o in world.ours_open()} == before
    await world.steps(10, gap_ms=2_000)  # past the window: the venue's clock is back
    assert bot.exchange.rest.stamps.trusted and mode(bot) is Mode.LIVE
    # The stale quotes were cancelled once writes could go, and the slots quote again.
    await world.steps_until(world.quoting)
    assert not before & {o.id for o in world.ours_open()}
    assert not [o for o in bot.lifecycle.live_orders() if o.state is OrderState.CANCEL_PENDING]


async def test_signed_reads_work_right_after_the_venue_clock_steps_back(world: World) -> None:
    bot = await world.new_bot()
    await world.start(bot)
    await world.steps_until(world.quoting)
    world.faults({"kind": "clock_skew", "skew_ms": 7_000, "window": {"end_ms": 10_000}})
    await world.steps(3, gap_ms=2_000)
    assert mode(bot) is Mode.OBSERVE and bot.state.reconcile_failures == 0
    await world.run_for(6_000)  # the window is over: the venue's clock steps back 7 s
    for _ in range(8):
        await world.steps(1)
        assert bot.state.reconcile_failures == 0
    assert mode(bot) is Mode.LIVE


async def test_a_manual_kill_cancels_ours_persists_over_a_restart_and_resume_lifts_it(
    world: World,
) -> None:
    bot = await world.new_bot()
    await world.start(bot)
    await world.steps(2)
    assert len(world.ours_open()) == 2
    outsider = world.mock.venue.submit(
        ALICE.key, MockOrder(PAIR, "buy", "limit", D("0.001"), D("3000000"), client_id="web"), 0
    )
    await world.steps(5)
    assert await bot.kill(cancel_all=True) == 2  # ours, not the one placed on the website
    assert mode(bot) is Mode.OBSERVE and "manual kill" in bot.modes.reasons
    await world.steps(6)
    assert [o.id for o in world.ours_open()] == [outsider.id]
    posts = world.posts()
    await world.stop(bot)
    again = await world.new_bot()
    await world.start(again)
    await world.steps(6)
    assert mode(again) is Mode.OBSERVE and "manual kill" in again.modes.reasons
    assert world.posts() == posts
    assert await again.resume()
    await world.steps(2)
    assert mode(again) is Mode.LIVE and len(world.ours_open()) == 3
    assert world.posts() == posts + 2


async def test_kill_and_resume_from_another_process_reach_the_running_bot(
    world: World,
) -> None:
    bot = await world.new_bot()
    await world.start(bot)
    await world.steps_until(world.quoting)
    assert await cli.kill(world.settings, cancel_all=False)  # ``btcbot kill``, elsewhere
    await world.steps(1)
    assert mode(bot) is Mode.OBSERVE and "manual kill" in bot.modes.reasons
    posts = world.posts()
    for order in list(world.ours_open()):
        world.mock.venue.cancel(ALICE.key, order.id, world.mock.now())
    await world.steps(4)
    assert world.posts() == posts and world.ours_open() == []
    assert await cli.resume(world.settings)  # ``btcbot resume``: the operator's decision
    await world.steps_until(world.quoting, most=4)
    assert mode(bot) is Mode.LIVE


async def test_private_events_dropped_under_backpressure_are_backfilled_from_rest_once(
    world: World, tmp_path: Path
) -> None:
    settings = dataclasses.replace(
        world.settings,
        lifecycle=dataclasses.replace(world.settings.lifecycle, reconcile_interval_s=600.0),
    )
    bot = await world.new_bot(settings, queue_size=2)
    await world.start(bot)
    await world.steps(3)
    bid = next(o for o in world.ours_open() if o.side == "buy")
    assert bid.price is not None
    last = bot.state.last_reconcile_ms
    for _ in range(3):  # three fills, with their inserts, matches and deletes
        world.bob("sell", "0.0003", str(bid.price))
    await world.run_for(300)
    stream = bot.exchange.stream
    assert stream.metrics.queue_overflows >= 1 and stream.private_dirty
    await bot.step()
    assert bot.state.last_reconcile_ms != last  # at once, not at the interval
    venue_fills = sorted(f.trade_id for f in world.mock.venue.account_fills(ALICE.key))
    assert len(venue_fills) == 3
    assert sorted(f.trade_id for f in await bot.store.fills()) == venue_fills
    local = bot.lifecycle.orders[bid.client_id]
    assert (local.state, local.filled) == (OrderState.PARTIAL, D("0.0009"))
    counts = await bot.store.fill_counts()
    assert sum(counts.values()) == 3 and counts.get("rest", 0) >= 1
    await world.run_for(500)
    await world.steps(3)
    assert len(await bot.store.fills()) == 3  # a second pass changes nothing
    assert mode(bot) is Mode.LIVE and bot.divergences == ()


async def test_balances_that_diverge_for_good_drop_to_observe(world: World) -> None:
    bot = await world.new_bot()
    await world.start(bot)
    await world.steps(4, gap_ms=1_000)
    assert mode(bot) is Mode.LIVE
    world.mock.venue.fund(ALICE.key, "TRY", D("1000"), world.mock.now())  # behind its back
    await world.steps(1, gap_ms=2_000)
    assert mode(bot) is Mode.LIVE  # one pass may catch reads taken at different instants
    await world.steps(1, gap_ms=2_000)
    assert mode(bot) is Mode.OBSERVE
    assert [d.asset for d in bot.divergences] == ["TRY"]
    assert any("balances diverge" in r for r in bot.modes.reasons)
    posts = world.posts()
    for order in list(world.ours_open()):
        world.mock.venue.cancel(ALICE.key, order.id, world.mock.now())
    await world.steps(6, gap_ms=2_000)
    assert world.posts() == posts and mode(bot) is Mode.OBSERVE
