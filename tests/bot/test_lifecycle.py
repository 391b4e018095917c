"""The order lifecycle against the mock in process, with faults: every failure point the
audit named is reproduced here and shown closed (no duplicate after an uncertain submit,
partial fills kept apart, late visibility waited out, crashes recovered without a duplicate,
a cancel's 200 taken as "requested")."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import httpx2
import pytest

from bot.core import orders as core
from bot.core.clock import OffsetEstimator, StampSource
from bot.core.orders import OrderState
from bot.core.ratelimit import RateBudget
from bot.core.retry import Backoff, RetryPolicy
from bot.core.types import OrderMethod, Side
from bot.exchange.rest import RestClient
from bot.exchange.signing import Credentials
from bot.lifecycle import Intent, Lifecycle, LifecycleConfig
from bot.store.repository import Store
from mock_exchange.app import MockExchange, create_app
from mock_exchange.clock import VirtualClock
from mock_exchange.faults import FaultPlan
from mock_exchange.settings import MockSettings
from mock_exchange.validation import OrderRequest as MockOrder
from tests.conftest import ALICE, BOB

pytestmark = pytest.mark.anyio

PAIR = "BTCTRY"
S = OrderState


@dataclass
class World:
    mock: MockExchange
    clock: VirtualClock
    http: httpx2.AsyncClient
    db: str
    life: Lifecycle

    def faults(self, *rules: dict[str, Any]) -> None:
        self.mock.load_faults(FaultPlan.from_mapping({"seed": 1, "rule": list(rules)}))

    def venue_orders(self, client_prefix: str = "") -> list[Any]:
        return [
            o
            for o in self.mock.venue.orders.values()
            if o.account == ALICE.key and o.client_id.startswith(client_prefix)
        ]

    async def restart(self) -> Lifecycle:
        """A new process: a fresh client and lifecycle on the same database."""
        await self.life.store.close()
        self.life = await lifecycle(self.http, self.clock, self.db)
        await self.life.load()
        return self.life


def rest_client(http: httpx2.AsyncClient, clock: VirtualClock) -> RestClient:
    async def sleep(seconds: float) -> None:
        clock.advance(int(seconds * 1000) + 1)

    return RestClient(
        http,
        credentials=Credentials.from_base64(ALICE.key, ALICE.secret),
        budget=RateBudget(),
        stamps=StampSource(OffsetEstimator()),
        now_ms=clock.now_ms,
        sleep=sleep,
        backoff=Backoff(random.Random(3), base_s=0.05, cap_s=1.0),
        policy=RetryPolicy(max_attempts=4, max_elapsed_s=60),
        timeout_s=0.3,
    )


async def lifecycle(http: httpx2.AsyncClient, clock: VirtualClock, db: str) -> Lifecycle:
    store = await Store.open(db)
    config = LifecycleConfig(visibility_budget_ms=60_000, pairs=(PAIR,))
    return Lifecycle(rest_client(http, clock), store, now_ms=clock.now_ms, config=config)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    clock = VirtualClock()
    settings = MockSettings(market=False, rate_limits=False, admin_token="t")
    mock = MockExchange(settings, clock, [ALICE, BOB])
    app = create_app(settings, mock=mock)
    db = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), base_url="http://mock.test"
    ) as http:
        life = await lifecycle(http, clock, db)
        await life.load()
        w = World(mock, clock, http, db, life)
        yield w
        await w.life.store.close()


def bid(intent_id: str, qty: str = "0.001", price: str = "3000000") -> Intent:
    return Intent(intent_id, PAIR, Side.BUY, OrderMethod.LIMIT, D(qty), D(price))


def bob_sells(world: World, qty: str, price: str) -> None:
    world.mock.venue.submit(
        BOB.key, MockOrder(PAIR, "sell", "limit", D(qty), D(price)), world.mock.now()
    )


# -- the plain path -----------------------------------------------------------------------


async def test_a_submit_is_written_ahead_then_acknowledged(world: World) -> None:
    order = await world.life.submit(bid("mm:bid:1"))
    assert order.state is S.OPEN and order.venue_id is not None
    audit = [(a["from_state"], a["to_state"]) for a in await world.life.store.audit()]
    assert audit[:3] == [(None, "intent"), ("intent", "submitting"), ("submitting", "open")]
    assert [o.client_id for o in world.venue_orders()] == [order.client_id]


async def test_two_partial_fills_within_a_second_stay_two_and_count_once(world: World) -> None:
    order = await world.life.submit(bid("mm:bid:1", qty="0.003", price="4000000"))
    bob_sells(world, "0.001", "4000000")
    bob_sells(world, "0.001", "4000000")  # same millisecond: two fills of one order
    report = await world.life.reconcile_once(allow_submit=True)
    assert report.fills == 2
    again = await world.life.reconcile_once(allow_submit=True)
    assert again.fills == 0 and again.plan.empty  # running it twice changes nothing
    mine = world.life.orders[order.client_id]
    assert (mine.state, mine.filled) == (S.PARTIAL, D("0.002"))
    assert len(await world.life.store.fills()) == 2


# -- uncertain submits -------------------------------------------------------------------


async def test_a_timeout_after_apply_is_resolved_without_a_duplicate(world: World) -> None:
    world.faults(
        {
            "kind": "timeout_after_apply",
            "endpoint": "/api/v1/order",
            "method": "POST",
            "nth": 1,
            "hold_ms": 60_000,
        }
    )
    order = await world.life.submit(bid("mm:bid:1"))
    assert order.state is S.UNKNOWN  # a timeout is not a rejection
    await world.life.reconcile_once(allow_submit=True)
    resolved = world.life.orders[order.client_id]
    assert resolved.state is S.OPEN and resolved.venue_id == world.venue_orders()[0].id
    assert len(world.venue_orders()) == 1


async def test_not_found_right_after_create_is_waited_out(world: World) -> None:
    world.faults(
        {
            "kind": "timeout_after_apply",
            "endpoint": "/api/v1/order",
            "method": "POST",
            "nth": 1,
            "hold_ms": 60_000,
        },
        {
            "kind": "visibility_lag",
            "endpoint": "/api/v1/order",
            "method": "POST",
            "nth": 1,
            "lag_ms": 40_000,
        },
    )
    order = await world.life.submit(bid("mm:bid:1"))
    for _ in range(3):  # 30 s of "not found": still unknown, never resubmitted
        world.clock.advance(10_000)
        report = await world.life.reconcile_once(allow_submit=True)
        assert report.resubmitted == 0
        assert world.life.orders[order.client_id].state is S.UNKNOWN
    world.clock.advance(15_000)  # visible now
    await world.life.reconcile_once(allow_submit=True)
    assert world.life.orders[order.client_id].state is S.OPEN
    assert len(world.venue_orders()) == 1


async def test_an_order_proven_absent_is_placed_again_once(world: World) -> None:
    world.faults(
        {
            "kind": "http_5xx_before",
            "endpoint": "/api/v1/order",
            "method": "POST",
            "nth": 1,
            "status": 502,
        }
    )
    first = await world.life.submit(bid("mm:bid:1"))
    assert first.state is S.UNKNOWN  # a 502 on a write proves nothing
    world.clock.advance(30_000)
    assert (await world.life.reconcile_once(allow_submit=True)).resubmitted == 0
    world.clock.advance(31_000)  # past the budget, on a complete read
    report = await world.life.reconcile_once(allow_submit=True)
    assert report.resubmitted == 1
    assert world.life.orders[first.client_id].state is S.REJECTED
    placed = world.venue_orders()
    assert len(placed) == 1 and placed[0].client_id != first.client_id
    again = await world.life.reconcile_once(allow_submit=True)
    assert again.resubmitted == 0 and len(world.venue_orders()) == 1


async def test_observe_mode_holds_resubmits(world: World) -> None:
    world.faults(
        {"kind": "http_5xx_before", "endpoint": "/api/v1/order", "method": "POST", "nth": 1}
    )
    await world.life.submit(bid("mm:bid:1"))
    world.clock.advance(61_000)
    report = await world.life.reconcile_once(allow_submit=False)
    assert report.resubmitted == 0 and world.venue_orders() == []
    assert any("held" in note for note in report.notes)


async def test_a_malformed_row_never_proves_absence(world: World) -> None:
    world.faults(
        {"kind": "http_5xx_after", "endpoint": "/api/v1/order", "method": "POST", "nth": 1},
        {"kind": "malformed_row", "endpoint": "/api/v1/openorders", "corruption": "null_row"},
        {"kind": "malformed_row", "endpoint": "/api/v1/allorders", "corruption": "null_row"},
    )
    order = await world.life.submit(bid("mm:bid:1"))
    assert order.state is S.UNKNOWN
    world.clock.advance(120_000)
    report = await world.life.reconcile_once(allow_submit=True)
    assert not report.complete and report.resubmitted == 0
    assert len(world.venue_orders()) == 1  # never doubled


# -- crashes ----------------------------------------------------------------------------------


async def test_a_crash_after_the_intent_commit_and_before_the_request(world: World) -> None:
    life = world.life
    intent = bid("mm:bid:1")
    order = core.new_intent(
        intent.intent_id,
        pair=PAIR,
        side=Side.BUY,
        method=OrderMethod.LIMIT,
        quantity=intent.quantity,
        price=intent.price,
        at_ms=world.clock.now_ms(),
    )
    await life.store.commit_intent(
        dataclasses.asdict(order),
        {
            "intent_id": intent.intent_id,
            "strategy": "",
            "slot": "",
            "created_ms": 0,
            "payload": "{}",
        },
        world.clock.now_ms(),
    )
    life = await world.restart()  # the process died before sending
    assert life.orders[order.client_id].state is S.REJECTED
    assert world.venue_orders() == []
    again = await life.submit(intent)  # the intent goes again, as attempt 2
    assert again.attempt == 2 and again.state is S.OPEN
    assert len(world.venue_orders()) == 1


async def test_a_crash_after_the_request_and_before_the_response(world: World) -> None:
    life = world.life
    order = await life.submit(bid("mm:bid:1"))
    # Make the store say what it would say had the process died mid-request.
    await life.store.transition(
        order.client_id, "open", {"state": "submitting", "venue_id": None}, "test", 0
    )
    life = await world.restart()
    assert life.orders[order.client_id].state is S.UNKNOWN
    await life.reconcile_once(allow_submit=True)
    assert life.orders[order.client_id].state is S.OPEN
    await life.reconcile_once(allow_submit=True)
    assert len(world.venue_orders()) == 1  # recovered without a duplicate


async def test_two_restarts_in_a_row_change_nothing(world: World) -> None:
    await world.life.submit(bid("mm:bid:1"))
    await world.life.reconcile_once(allow_submit=True)
    before = dict(world.life.orders)
    for _ in range(2):
        life = await world.restart()
        report = await life.reconcile_once(allow_submit=True)
        assert report.plan.empty and report.resubmitted == 0
    assert world.life.orders == before and len(world.venue_orders()) == 1


# -- cancels and outsiders ------------------------------------------------------------------


async def test_a_cancel_is_requested_then_confirmed(world: World) -> None:
    order = await world.life.submit(bid("mm:bid:1"))
    pending = await world.life.cancel(order.client_id)
    assert pending.state is S.CANCEL_PENDING  # a 200 is "requested", not "done"
    await world.life.reconcile_once(allow_submit=True)
    assert world.life.orders[order.client_id].state is S.CANCEL_PENDING  # still on the book
    world.clock.advance(300)
    await world.life.reconcile_once(allow_submit=True)
    assert world.life.orders[order.client_id].state is S.CANCELLED


async def test_a_cancel_racing_a_fill_ends_filled(world: World) -> None:
    order = await world.life.submit(bid("mm:bid:1", price="4000000"))
    await world.life.cancel(order.client_id)
    bob_sells(world, "0.001", "4000000")  # the fill lands before the cancel takes effect
    world.clock.advance(300)
    await world.life.reconcile_once(allow_submit=True)
    done = world.life.orders[order.client_id]
    assert (done.state, done.filled) == (S.FILLED, D("0.001"))


async def test_orders_the_bot_did_not_place_are_imported_not_cancelled(world: World) -> None:
    outsider = world.mock.venue.submit(
        ALICE.key,
        MockOrder(PAIR, "buy", "limit", D("0.001"), D("2000000"), client_id="web"),
        world.mock.now(),
    )
    report = await world.life.reconcile_once(allow_submit=True)
    assert report.imported == 1
    imported = [o for o in world.life.orders.values() if o.external]
    assert [(o.venue_id, o.state) for o in imported] == [(outsider.id, S.OPEN)]
    assert world.mock.venue.orders[outsider.id].is_open
    assert (await world.life.reconcile_once(allow_submit=True)).imported == 0
