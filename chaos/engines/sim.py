"""The ``sim`` engine: the bot and the mock in one process under one virtual clock.

``run_sim(scenario, seed, workdir)`` builds a ``MockExchange`` (its market seeded from
``seed``, its fault plan the scenario's), serves it to the bot over
``httpx2.ASGITransport`` and an in-memory websocket bridged to the mock's ``StreamHub``,
runs the very ``bot.app.Bot`` the CLI runs for ``scenario.duration_s`` of virtual time,
crashing and restarting it where the scenario says, lets it reconcile one last time with
the faults lifted, and returns a ``RunResult`` of ground truth and the bot's books.

Determinism: one seed gives the same journal and the same result, byte for byte.

* Time is a ``VirtualClock``. Nothing waits on the wall clock: the REST client's retries,
  budget waits and per-request deadline, the websocket client's watchdog and backoff, the
  mock's held answers and latency all sleep on it. The driver moves it to the next 50 ms
  boundary or the next sleeper's due time, whichever comes first, carries out the venue's
  due work (``mock.advance()``: cancels, market agents) and the feed's (``hub.tick()``),
  then lets every task run until the loop is quiescent, and only then moves on.
* Quiescent means: no task ready to run (the loop's ready queue is empty after the
  driver yields) and no store call in flight. The store is the one thing that leaves the
  loop (aiosqlite runs SQLite on a thread, whose answer arrives whenever it does): every
  store call first lets all other ready work finish, so nothing can interleave with the
  thread's answer, and the driver never moves time while a call is in flight.
* Randomness: the mock derives its streams from ``seed``; the fault plan's seed is
  ``seed`` (or, when the plan names one, a digest of both); the bot's retry jitter is
  ``Random(f"{seed}:jitter:{n}")`` for its n-th start. Log lines carry virtual time.
  Replays agree across processes whatever ``PYTHONHASHSEED`` is, as long as nothing the
  run does depends on the iteration order of a set of strings.

Crash points (``scenario.crashes``): ``at_s`` fires when virtual time reaches it (or as
soon after as the bot is up); event points fire in the order listed, each counting its
event from the moment the previous one fired: ``after_intent_commit`` right after the
store committed an intent (the request never leaves), ``after_request_sent`` when a submit
(``POST /api/v1/order``) has been carried out by the mock and its answer is then lost. A
crash stops the bot where it stands: its tasks are cancelled, its websocket dropped and its
store closed with no cleanup by the bot; ``restart_after_s`` later (the venue runs on) a
new ``Bot`` starts on the same store file. A bot that dies of an unexpected exception is
restarted after one second, as a supervisor would, and the death is noted.

Setup keys (``scenario.setup``):

``balances``        {asset: amount}: the bot account's starting funds (default: ample
                    TRY, BTC, ETH and USDT).
``static_book``     bool, default true when ``market`` is off: a helper account rests five
                    bids and five asks around the pair's reference price, so the bot has a
                    book to quote against.
``external_orders`` [{side, price, quantity, pair?}]: limit orders placed on the bot's
                    account before it starts, not by the bot.
``history_orders``  N: N small orders of the bot's account, each filled at once, placed a
                    lookback plus an hour before the run (the clock starts there, then
                    jumps to the run's start; the fault plan starts at the run's start).
``bad_secret``      true: the bot is given its secret in unpadded URL-safe base64; it must
                    refuse to start. The refusal is noted and the run ends there.
``exchangeinfo_unavailable_s``  N: ``maintenance_503`` on exchangeinfo for the first N s.
``private_queue_size``  N: the websocket client's private event queue (default 1000).
``burst_fills``     N: N partial fills of one resting bot order within one second, by
                    counter-orders of the helper account, each sized to take whatever rests
                    ahead of the bot's order plus one N+1-th of it.
``burst_at_s``      when the burst starts, default 10 s (at the first bot order then).
``unknown_status``  a status text, or {status, after_s?, for_s?}: from ``after_s`` (default
                    0) for ``for_s`` (default: to the end) every row of the bot's
                    openOrders, allOrders and order/{id} answers shows that status.

The result's ``rate_limit_blocks`` counts the refusals of the mock's own rate limiter
(each one a front-door 429); the fault plan's ``http_429`` never passes through it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import dataclasses
import hashlib
import inspect
import json
import logging
import math
import random
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Any, cast

import aiosqlite
import httpx2
from sqlalchemy import event as sa_event
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.app import Bot
from bot.core.clock import OffsetEstimator, StampSource
from bot.core.orders import OrderState
from bot.core.ratelimit import RateBudget
from bot.core.retry import Backoff, RetryPolicy
from bot.errors import BotError, ConfigError, RateLimited, TransportError
from bot.exchange.adapter import WS_LOGIN_NONCE, Exchange
from bot.exchange.rest import RestClient
from bot.exchange.signing import Credentials, RedactingFilter, ws_login
from bot.exchange.stream import StreamClient, WsConnection
from bot.logs import JsonFormatter
from bot.settings import ENV_API_KEY, ENV_API_SECRET, BotSettings, load_settings
from bot.store.repository import Store
from chaos.model import CRASH_EVENTS, CrashPoint, RunResult, Scenario
from chaos.scenario import settings_toml as to_toml
from mock_exchange.accounts import Account
from mock_exchange.admin import fill_json, order_json
from mock_exchange.app import MockExchange, create_app
from mock_exchange.clock import VirtualClock
from mock_exchange.faults import FaultPlan
from mock_exchange.model import BUY, SELL, Order
from mock_exchange.ratelimit import Decision, RateLimiter
from mock_exchange.settings import MockSettings
from mock_exchange.stream import Connection, StreamHub
from mock_exchange.validation import OrderRequest as VenueOrderRequest

__all__ = [
    "BOT_ACCOUNT",
    "HELPER_ACCOUNT",
    "SLICE_MS",
    "HubSocket",
    "run_fault_plan",
    "run_sim",
    "run_sim_sync",
    "sim_settings",
    "to_toml",
]

log = logging.getLogger("chaos.sim")

SLICE_MS = 50  # the longest step of virtual time between two looks at the venue
PAIR = "BTCTRY"
REST_URL = "http://mock.sim"
WS_URL = "ws://mock.sim/"
CLIENT_IP = "127.0.0.1"  # httpx2.ASGITransport's client address: REST and feed share it
_RAW_SECRET = b"chaos-sim-bot-secret:never-in-a-log"  # 35 bytes: padded base64
BOT_ACCOUNT = Account(
    key="5c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5",
    secret=base64.b64encode(_RAW_SECRET).decode("ascii"),
    name="bot",
    balances={
        "TRY": Decimal(10_000_000),
        "BTC": Decimal(5),
        "ETH": Decimal(50),
        "USDT": Decimal(100_000),
    },
)
HELPER_ACCOUNT = Account(
    key="9e8d7c6b-5a49-4837-a625-140f0e0d0c0b",
    secret=base64.b64encode(b"chaos-sim-helper-secret-0123456789").decode("ascii"),
    name="helper",
    balances={
        "TRY": Decimal(1_000_000_000),
        "BTC": Decimal(1_000),
        "ETH": Decimal(10_000),
        "USDT": Decimal(100_000_000),
    },
)
_SETUP_KEYS = frozenset(
    {
        "balances",
        "static_book",
        "external_orders",
        "history_orders",
        "bad_secret",
        "exchangeinfo_unavailable_s",
        "private_queue_size",
        "burst_fills",
        "burst_at_s",
        "unknown_status",
    }
)
_UNSETTLED = (OrderState.INTENT, OrderState.SUBMITTING, OrderState.UNKNOWN)
_SETTLE_LIMIT = 100_000  # loop turns before a run that never settles is a bug


def run_sim_sync(scenario: Scenario, seed: int, workdir: Path) -> RunResult:
    return asyncio.run(run_sim(scenario, seed, workdir))


async def run_sim(scenario: Scenario, seed: int, workdir: Path) -> RunResult:
    """Run ``scenario`` once under ``seed``; ``workdir`` holds the bot's settings and store."""
    unknown = sorted(set(scenario.setup) - _SETUP_KEYS)
    if unknown:
        raise ValueError(f"scenario {scenario.name}: unknown setup keys {unknown}")
    sim = _Sim(scenario, seed, workdir)
    return await sim.run()


def sim_settings(scenario: Scenario, workdir: Path) -> dict[str, Any]:
    """The bot's settings for a simulated run: defaults suited to the mock, then the
    scenario's ``bot`` sections over them (section by section)."""
    merged: dict[str, Any] = {
        "profile": "mock",
        "mode": "live",
        "venue": {"rest_url": REST_URL, "ws_url": WS_URL},
        "store": {"url": f"sqlite+aiosqlite:///{workdir.resolve() / 'bot.db'}"},
        "strategy": {"pairs": [PAIR], "quantity": Decimal("0.001"), "ttl_ms": 30_000},
        "risk": {
            "max_position": Decimal("0.05"),
            "max_open_orders": 8,
            "max_order_notional": Decimal(20_000),
            "max_daily_loss": Decimal(100_000),
        },
        "lifecycle": {"visibility_budget_ms": 60_000},
        "metrics": {"enabled": False},
        "logging": {"level": "INFO", "json": True},
    }
    for key, value in scenario.bot.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            section = dict(merged[key])
            if key == "strategy" and "notional" in value and "quantity" not in value:
                section.pop("quantity", None)
            section.update(value)
            merged[key] = section
        else:
            merged[key] = value
    return merged


def run_fault_plan(scenario: Scenario, seed: int, setup: Mapping[str, Any]) -> dict[str, Any]:
    """The scenario's fault plan for one run: seeded by the run (mixed with the plan's own
    seed when it names one), plus the set-up's exchangeinfo outage. Both engines use it."""
    data = dict(scenario.faults)
    if "seed" in data:
        digest = hashlib.sha256(f"{seed}:{data['seed']}".encode()).digest()
        data["seed"] = int.from_bytes(digest[:4], "big")
    else:
        data["seed"] = seed
    down_s = setup.get("exchangeinfo_unavailable_s")
    if down_s:
        rule = {
            "name": "setup-exchangeinfo-503",
            "kind": "maintenance_503",
            "endpoint": "/api/v2/server/exchangeinfo",
            "window": {"start_ms": 0, "end_ms": int(float(down_s) * 1000)},
        }
        data["rule"] = [*data.get("rule", []), rule]
    return data


def _plain(value: Any) -> Any:
    """A store or core value as JSON-ready data: Decimals as plain strings, enums' values."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# -- the loop's quiescence ---------------------------------------------------------------


def _ready_count(loop: asyncio.AbstractEventLoop) -> int | None:
    ready = getattr(loop, "_ready", None)  # BaseEventLoop's run queue; None elsewhere
    return len(ready) if ready is not None else None


class _Gate:
    """Store calls in flight, and the loop's quiescence (see the module docstring)."""

    def __init__(self) -> None:
        self.busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.busy += 1
        self._idle.clear()

    def leave(self) -> None:
        self.busy -= 1
        if self.busy == 0:
            self._idle.set()

    async def drain(self) -> None:
        """Yield until no other callback is ready to run."""
        loop = asyncio.get_running_loop()
        for turn in range(_SETTLE_LIMIT):
            await asyncio.sleep(0)
            count = _ready_count(loop)
            if count == 0 or (count is None and turn >= 50):
                return
        raise RuntimeError("the simulation does not settle")

    async def quiesce(self) -> None:
        """Return once no task can run without time moving and no store call is pending."""
        loop = asyncio.get_running_loop()
        for turn in range(_SETTLE_LIMIT):
            if self.busy:
                await self._idle.wait()
                continue
            await asyncio.sleep(0)
            count = _ready_count(loop)
            if not self.busy and (count == 0 or (count is None and turn >= 50)):
                return
        raise RuntimeError("the simulation does not settle")


class _Crash(BaseException):
    """The process dies here. Not an ``Exception``: no handler of the bot may catch it."""


class _TrackedStore:
    """The bot's ``Store`` with every call counted by the gate and the intent commit hooked.

    ``kv_get`` answers are remembered until the next ``kv_set``: the store file is the
    run's own and this wrapper the only writer of its small values (no ``btcbot kill``
    runs beside a simulated bot), so the bot's kill-flag read every step need not go to
    SQLite. The call still lets all other ready work finish first, as every call does."""

    def __init__(self, store: Store, gate: _Gate, on_commit: Callable[[], None]) -> None:
        self._store = store
        self._gate = gate
        self._on_commit = on_commit
        self._kv: dict[tuple[Any, ...], Any] = {}

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._store, name)
        if not inspect.iscoroutinefunction(value):
            return value
        gate = self._gate

        kv = self._kv

        async def call(*args: Any, **kwargs: Any) -> Any:
            gate.enter()
            try:
                await gate.drain()
                if name == "kv_get":
                    key = (*args, *sorted(kwargs.items()))
                    if key not in kv:
                        kv[key] = await value(*args, **kwargs)
                    result = kv[key]
                else:
                    if name == "kv_set":
                        kv.clear()
                    result = await value(*args, **kwargs)
            finally:
                gate.leave()
            if name == "commit_intent":
                self._on_commit()
            return result

        return call


class _InlineQueue:
    """aiosqlite's request queue, served at once on the caller's thread."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the waiter, as the thread does
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        if future is not None and not future.done():
            future.set_result(result)


class _InlineSqlite(aiosqlite.Connection):
    """An aiosqlite connection without its worker thread: every call runs at once, on the
    loop's thread, against the same SQLite file. A store call then never leaves the loop:
    no thread's answer can arrive whenever it does, and none costs two thread hops."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, 64)
        self._tx = cast(Any, _InlineQueue())

    def __await__(self) -> Any:  # no thread to start
        return self._connect().__await__()

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)


def _inline_connect(database: str | Path, **kwargs: Any) -> _InlineSqlite:
    return _InlineSqlite(partial(sqlite3.connect, str(database), **kwargs))


async def _open_store(url: str) -> Store:
    """``Store.open(url)``, its SQLite connections then served on the loop's thread."""
    store = await Store.open(url)
    engine = store._engine  # the sim's own wiring of the bot's store
    if engine.dialect.driver == "aiosqlite":

        def inline(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
            cparams["async_creator_fn"] = _inline_connect

        sa_event.listen(engine.sync_engine, "do_connect", inline)
        await engine.dispose()  # the threaded connection that created the tables goes
    return store


class _CountingLimiter(RateLimiter):
    """The mock's rate limiter, counting its refusals: each is one front-door 429."""

    refused: int = 0

    def check(self, method: str, path: str, ip: str, account: str | None, now: int) -> Decision:
        decision = super().check(method, path, ip, account, now)
        if not decision.allowed:
            self.refused += 1
        return decision


class HubSocket:
    """``WsConnection`` over one hub connection: what the endpoint does, without a socket."""

    def __init__(self, hub: StreamHub, conn: Connection) -> None:
        self.hub, self.conn = hub, conn
        self._wake = asyncio.Event()
        conn.notify = self._wake.set

    async def send(self, text: str) -> None:
        if self.conn.closed is not None:
            raise TransportError(f"closed: {self.conn.closed}")
        self.hub.receive(self.conn, text)

    async def recv(self) -> str:
        while True:
            if self.conn.outbox:
                return self.conn.outbox.popleft()
            if self.conn.closed is not None:
                raise TransportError(f"closed: {self.conn.closed}")
            self._wake.clear()
            await self._wake.wait()

    async def close(self) -> None:
        self.hub.close(self.conn, "client closed")


class _LogCapture(logging.Handler):
    """The bot's JSON lines for every record of the run, stamped with virtual time."""

    def __init__(self, clock: VirtualClock, credentials: Credentials | None) -> None:
        super().__init__(logging.INFO)
        self.clock = clock
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter(credentials))
        if credentials is not None:
            self.addFilter(RedactingFilter(credentials))

    def emit(self, record: logging.LogRecord) -> None:
        record = copy.copy(record)
        record.created = self.clock.now_ms() / 1000
        record.msecs = record.created % 1 * 1000
        try:
            self.lines.append(self.format(record))
        except Exception:  # a broken record must not end the run
            self.handleError(record)


# -- crash points ------------------------------------------------------------------------


class _Crashes:
    def __init__(self, points: tuple[CrashPoint, ...]) -> None:
        for point in points:
            if (point.at_s is None) == (point.event is None):
                raise ValueError(f"a crash point needs at_s or event, not both: {point}")
            if point.event is not None and point.event not in CRASH_EVENTS:
                raise ValueError(f"unknown crash event {point.event!r}; known: {CRASH_EVENTS}")
            if point.nth < 1 or point.restart_after_s < 0:
                raise ValueError(f"crash point out of range: {point}")
        self.timed = sorted((p for p in points if p.at_s is not None), key=lambda p: p.at_s or 0)
        self.events = [p for p in points if p.event is not None]
        self.armed = True
        self._seen = 0
        self.fired: CrashPoint | None = None

    def reached(self, event: str) -> bool:
        """The bot reached ``event``: True when it must die here."""
        if not self.armed or not self.events or self.events[0].event != event:
            return False
        self._seen += 1
        if self._seen < self.events[0].nth:
            return False
        self.fired = self.events.pop(0)
        self._seen = 0
        return True

    def due(self, elapsed_ms: int) -> CrashPoint | None:
        if self.armed and self.timed and elapsed_ms >= (self.timed[0].at_s or 0) * 1000:
            return self.timed.pop(0)
        return None


_ORDER_VIEWS = re.compile(r"^/api/v1/(openorders|allorders|order/[^/]+)$")


class _BotDoor:
    """The bot's side of the ASGI transport. A submit may be carried out and its answer lost
    to a crash (``after_request_sent``); while ``unknown_status()`` names a status, the
    order views (openOrders, allOrders, order/{id}) show every row with it."""

    def __init__(
        self, app: ASGIApp, crashes: _Crashes, unknown_status: Callable[[], str | None]
    ) -> None:
        self.app = app
        self.crashes = crashes
        self.unknown_status = unknown_status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"].lower().rstrip("/")
        if (
            scope["method"] == "POST"
            and path == "/api/v1/order"
            and self.crashes.reached("after_request_sent")
        ):
            await self.app(scope, receive, _discard)
            raise _Crash("after_request_sent")
        status = self.unknown_status()
        if status is None or scope["method"] != "GET" or not _ORDER_VIEWS.match(path):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []

        async def keep(message: Message) -> None:
            messages.append(message)

        await self.app(scope, receive, keep)
        for message in _restatus(messages, status):
            await send(message)


def _restatus(messages: Sequence[Message], status: str) -> Sequence[Message]:
    """A 200 answer's order rows, each with ``status``; anything else as it was."""
    start = next((m for m in messages if m["type"] == "http.response.start"), None)
    if start is None or start["status"] != 200:
        return messages
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    try:
        payload = json.loads(body)
    except ValueError:
        return messages
    data = payload.get("data") if isinstance(payload, dict) else None
    rows = [data] if isinstance(data, dict) and "status" in data else []
    if isinstance(data, dict):
        rows += [r for side in ("asks", "bids") for r in data.get(side) or []]
    elif isinstance(data, list):
        rows = data
    for row in rows:
        if isinstance(row, dict) and "status" in row:
            row["status"] = status
    text = json.dumps(payload, separators=(",", ":")).encode()
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(text)).encode()))
    return [{**start, "headers": headers}, {"type": "http.response.body", "body": text}]


async def _discard(message: Message) -> None:
    return None


# -- one run -----------------------------------------------------------------------------


@dataclass(eq=False)
class _Incarnation:
    """One start of the bot: what the driver must tear down when it dies."""

    number: int
    bot: Bot
    store: Store
    runner: asyncio.Task[None] | None = None
    conns: list[Connection] = field(default_factory=list)
    busy: bool = True  # starting or in a step
    stopping: bool = False
    # The mode and reasons after start-up and after every step: an observe entered at start
    # (no switch: the bot starts there) or held for new reasons shows in the history too.
    polled: list[dict[str, Any]] = field(default_factory=list)
    last_poll: tuple[str, tuple[str, ...]] | None = None
    died_ms: int | None = None
    died_why: str = ""

    def poll_mode(self, now_ms: int) -> None:
        state = (self.bot.modes.mode.value, tuple(self.bot.modes.reasons))
        if state != self.last_poll:
            self.last_poll = state
            self.polled.append(
                {"at_ms": now_ms, "mode": state[0], "previous": None, "reasons": list(state[1])}
            )

    def mode_history(self) -> list[dict[str, Any]]:
        """Switches and polled states in time order, without an entry that repeats the
        one before it; then, if this start died, an observe entry: the bot is down."""
        switches = [
            {
                "at_ms": change.at_ms,
                "mode": change.mode.value,
                "previous": change.previous.value,
                "reasons": list(change.reasons),
            }
            for change in self.bot.modes.history
        ]
        merged: list[dict[str, Any]] = []
        for entry in sorted([*switches, *self.polled], key=lambda e: e["at_ms"]):
            if merged and (merged[-1]["mode"], merged[-1]["reasons"]) == (
                entry["mode"],
                entry["reasons"],
            ):
                continue
            merged.append({**entry, "start": self.number})
        if self.died_ms is not None:
            down = {"at_ms": self.died_ms, "mode": "observe", "previous": None}
            merged.append({**down, "reasons": [f"down: {self.died_why}"], "start": self.number})
        return merged


class _Sim:
    def __init__(self, scenario: Scenario, seed: int, workdir: Path) -> None:
        self.scenario = scenario
        self.seed = seed
        self.workdir = workdir
        self.setup = dict(scenario.setup)
        self.notes: list[str] = []
        self.settings: BotSettings | None = None
        self.credentials: Credentials | None = None
        try:
            self.settings = self._load_settings()
            self.credentials = self.settings.credentials()
        except ConfigError as exc:
            self.notes.append(f"the bot refused to start: {exc}")
        self.start_ms = VirtualClock().now_ms()
        history = int(self.setup.get("history_orders", 0) or 0)
        # History is made a lookback and an hour before the run: the clock starts there.
        lookback = self.settings.lifecycle.lookback_ms if self.settings else 86_400_000
        early = lookback + 3_600_000 + history * 1_000 if history else 0
        self.clock = VirtualClock(self.start_ms - early)
        self.crashes = _Crashes(scenario.crashes)
        self.gate = _Gate()
        self.plan = self._fault_plan()
        funds = self.setup.get("balances")
        bot_account = BOT_ACCOUNT
        if funds is not None:
            balances = {str(a).upper(): Decimal(str(v)) for a, v in dict(funds).items()}
            bot_account = dataclasses.replace(BOT_ACCOUNT, balances=balances)
        self.mock_settings = MockSettings(
            seed=seed,
            market=scenario.market,
            rate_limits=True,
            faults=self.plan,
            journal_market=False,
            admin_token="chaos-sim-admin",  # noqa: S106 (the mock's admin surface is unused)
        )
        self.mock = MockExchange(self.mock_settings, self.clock, [bot_account, HELPER_ACCOUNT])
        self.limiter = _CountingLimiter(
            scale=self.mock_settings.rate_limit_scale, enabled=self.mock_settings.rate_limits
        )
        self.mock.limiter = self.limiter  # before the app is built: its front door takes it
        venue_app = create_app(self.mock_settings, mock=self.mock)
        self.app = _BotDoor(venue_app, self.crashes, self._unknown_status)
        self.market_live = scenario.market
        self.incarnations: list[_Incarnation] = []
        self.current: _Incarnation | None = None
        self.restart_at: int | None = None
        self.external_ids: set[int] = set()
        self.illegal = 0
        self.burst: list[int] = []  # virtual times of the burst's counter-orders
        self.burst_target: Order | None = None
        self.burst_slice = Decimal(0)
        self.burst_done = "burst_fills" not in self.setup

    # -- set-up ---------------------------------------------------------------------------

    def _fault_plan(self) -> FaultPlan:
        return FaultPlan.from_mapping(run_fault_plan(self.scenario, self.seed, self.setup))

    def _now(self) -> int:
        return self.mock.now()

    def _unknown_status(self) -> str | None:
        """The status the order views show now (setup ``unknown_status``), if any."""
        spec = self.setup.get("unknown_status")
        if spec is None:
            return None
        if not isinstance(spec, Mapping):
            spec = {"status": spec}
        elapsed = self.clock.now_ms() - self.start_ms
        begin = float(spec.get("after_s", 0)) * 1000
        length = spec.get("for_s")
        if elapsed < begin or (length is not None and elapsed >= begin + float(length) * 1000):
            return None
        return str(spec["status"])

    def _submit(self, account: Account, side: str, price: Decimal, qty: Decimal) -> Order:
        request = VenueOrderRequest(PAIR, side, "limit", qty, price)
        return self.mock.venue.submit(account.key, request, self._now())

    def _prepare_venue(self) -> None:
        rules = self.mock.venue.rules[PAIR]
        history = int(self.setup.get("history_orders", 0) or 0)
        if self.setup.get("static_book", not self.scenario.market):
            ref = rules.reference_price
            size = (rules.min_exchange_value * 200 / ref).quantize(rules.amount_quantum)
            for level in range(5):
                away = Decimal(30 + 10 * level) / 10_000
                bid = (ref * (1 - away)).quantize(rules.price_quantum, ROUND_DOWN)
                ask = (ref * (1 + away)).quantize(rules.price_quantum, ROUND_CEILING)
                self._submit(HELPER_ACCOUNT, BUY, bid, size)
                self._submit(HELPER_ACCOUNT, SELL, ask, size)
        if history:
            self._history(history)
            self.clock.set(self.start_ms)
            self.mock.advance()
            self.mock.load_faults(self.plan)  # its windows count from the run's start
        for spec in self.setup.get("external_orders", ()):
            side = str(spec["side"]).lower()
            price, qty = Decimal(str(spec["price"])), Decimal(str(spec["quantity"]))
            request = VenueOrderRequest(str(spec.get("pair", PAIR)), side, "limit", qty, price)
            order = self.mock.venue.submit(BOT_ACCOUNT.key, request, self._now())
            self.external_ids.add(order.id)
        if self.external_ids:
            self.notes.append(f"setup: {len(self.external_ids)} external orders")

    def _history(self, count: int) -> None:
        rules = self.mock.venue.rules[PAIR]
        book = self.mock.venue.books[PAIR]
        filled = 0
        for n in range(count):
            self.clock.advance(1_000)
            self.mock.advance()
            side = BUY if n % 2 == 0 else SELL
            touch = book.best_ask() if side == BUY else book.best_bid()
            if touch is None:
                continue
            price = (touch * (Decimal("1.01") if side == BUY else Decimal("0.99"))).quantize(
                rules.price_quantum
            )
            qty = (rules.min_exchange_value * 2 / touch).quantize(
                rules.amount_quantum, ROUND_CEILING
            )
            order = self._submit(BOT_ACCOUNT, side, price, qty)
            if order.is_open:
                self.mock.venue.cancel(BOT_ACCOUNT.key, order.id, self._now(), delay_ms=0)
            else:
                filled += 1
        self.mock.advance()
        self.notes.append(f"setup: {filled} of {count} history orders filled before the run")

    # -- the bot --------------------------------------------------------------------------

    def _load_settings(self) -> BotSettings:
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / "btcbot.toml"
        path.write_text(to_toml(sim_settings(self.scenario, self.workdir)), encoding="utf-8")
        secret = BOT_ACCOUNT.secret
        if self.setup.get("bad_secret"):
            secret = base64.urlsafe_b64encode(_RAW_SECRET).decode("ascii").rstrip("=")
        return load_settings(path, {ENV_API_KEY: BOT_ACCOUNT.key, ENV_API_SECRET: secret})

    async def _sleep(self, seconds: float) -> None:
        await self.clock.sleep_ms(math.ceil(seconds * 1000))

    async def _deadline(
        self, seconds: float, request: Awaitable[httpx2.Response]
    ) -> httpx2.Response:
        """The per-request timeout on the virtual clock: the request against a sleeper."""
        loop = asyncio.get_running_loop()
        call = asyncio.ensure_future(request)
        timer = asyncio.ensure_future(self.clock.sleep_ms(max(1, math.ceil(seconds * 1000))))
        first: asyncio.Future[None] = loop.create_future()

        def wake(_: object) -> None:
            if not first.done():
                first.set_result(None)

        call.add_done_callback(wake)
        timer.add_done_callback(wake)
        try:
            await first
        finally:
            timer.cancel()
            answered = call.done()
            if not answered:
                call.cancel()
        if not answered:
            await asyncio.wait([call])  # the request unwinds; its outcome is not ours
            raise TimeoutError(f"no answer within {seconds} s of virtual time")
        return call.result()

    def _connect(
        self, incarnation: list[_Incarnation]
    ) -> Callable[[str], contextlib.AbstractAsyncContextManager[WsConnection]]:
        hub = self.mock.stream

        @contextlib.asynccontextmanager
        async def connect(url: str) -> AsyncIterator[WsConnection]:
            if not hub.admit(CLIENT_IP):  # the venue's 429 on the upgrade has no Retry-After
                raise RateLimited(60.0, "websocket upgrade")
            conn = hub.open(CLIENT_IP)
            incarnation[0].conns.append(conn)
            try:
                yield HubSocket(hub, conn)
            finally:
                hub.close(conn, conn.closed or "client closed")

        return connect

    async def _new_bot(self) -> _Incarnation:
        settings = self.settings
        assert settings is not None and self.credentials is not None
        number = len(self.incarnations) + 1
        config = settings.exchange_config()
        jitter = random.Random(f"{self.seed}:jitter:{number}")
        http = httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=self.app), base_url=settings.rest_url
        )
        budget = RateBudget(margin=config.rate_margin)
        rest = RestClient(
            http,
            credentials=self.credentials,
            budget=budget,
            stamps=StampSource(OffsetEstimator(), tolerance_ms=config.stamp_tolerance_ms),
            now_ms=self.clock.now_ms,
            sleep=self._sleep,
            backoff=Backoff(jitter),
            policy=RetryPolicy(),
            timeout_s=config.timeout_s,
            deadline=self._deadline,
        )
        credentials = self.credentials
        clock = self.clock
        holder: list[_Incarnation] = []
        stream = StreamClient(
            config.ws_url,
            self._connect(holder),
            pairs=config.pairs,
            channels=config.channels,
            login_frame=lambda: ws_login(credentials, WS_LOGIN_NONCE, clock.now_ms()),
            queue_size=int(self.setup.get("private_queue_size", config.queue_size)),
            stale_after_s=config.stale_after_s,
            rng=jitter,
            now=lambda: clock.now_ms() / 1000,
            sleep=self._sleep,
        )
        store = await _open_store(settings.store.url)
        tracked = cast(Store, _TrackedStore(store, self.gate, self._after_commit))
        canaries = frozenset({self.scenario.canary}) if self.scenario.canary else frozenset()
        bot = Bot(
            settings,
            Exchange(rest, stream, budget),
            tracked,
            now_ms=clock.now_ms,
            sleep=self._sleep,
            tick_s=self.scenario.tick_ms / 1000,
            canaries=canaries,
        )
        incarnation = _Incarnation(number, bot, store)
        holder.append(incarnation)
        self.incarnations.append(incarnation)
        return incarnation

    def _after_commit(self) -> None:
        if self.crashes.reached("after_intent_commit"):
            raise _Crash("after_intent_commit")

    async def _run_bot(self, incarnation: _Incarnation) -> None:
        """``Bot.run`` without its cleanup, stepping on the virtual clock."""
        bot = incarnation.bot
        await bot.start()
        incarnation.poll_mode(self.clock.now_ms())
        while not incarnation.stopping:
            incarnation.busy = True
            try:
                await bot.step()
            except BotError as exc:
                log.error("step failed: %s", exc)
            finally:
                incarnation.busy = False
            incarnation.poll_mode(self.clock.now_ms())
            if incarnation.stopping:
                return
            await self.clock.sleep_ms(self.scenario.tick_ms)

    async def _start_bot(self) -> None:
        incarnation = await self._new_bot()
        self.current = incarnation
        self.restart_at = None
        incarnation.runner = asyncio.ensure_future(self._run_bot(incarnation))
        await self.gate.quiesce()

    async def _kill(self, why: str, restart_after_s: float) -> None:
        """The process dies: no cleanup by the bot, the venue runs on."""
        incarnation = self.current
        assert incarnation is not None and incarnation.runner is not None
        runner = incarnation.runner
        if not runner.done():
            runner.cancel()
        await asyncio.wait([runner])
        for conn in incarnation.conns:
            self.mock.stream.close(conn, "client died")
        await incarnation.bot.exchange.close()  # its tasks and sockets die with the process
        await incarnation.store.close()
        self.illegal += incarnation.bot.lifecycle.illegal
        self.current = None
        now = self.clock.now_ms()
        incarnation.died_ms, incarnation.died_why = now, why
        self.restart_at = now + round(restart_after_s * 1000)
        self.notes.append(f"{why} at {now - self.start_ms} ms (start {incarnation.number})")
        await self.gate.quiesce()

    async def _supervise(self) -> None:
        """Carry out deaths, timed crashes and restarts due now, until none is left."""
        while await self._supervise_once():
            pass

    async def _supervise_once(self) -> bool:
        incarnation = self.current
        elapsed = self.clock.now_ms() - self.start_ms
        if incarnation is not None and incarnation.runner is not None:
            runner = incarnation.runner
            if runner.done() and not runner.cancelled():
                error = runner.exception()
                if isinstance(error, _Crash):
                    point = self.crashes.fired
                    after = point.restart_after_s if point is not None else 1.0
                    await self._kill(f"crash {error}", after)
                elif error is not None:
                    log.error("the bot died: %r", error, exc_info=error)
                    await self._kill(f"the bot died of {type(error).__name__}: {error}", 1.0)
                elif incarnation.stopping:
                    return False
                else:
                    await self._kill("the bot stopped by itself", 1.0)
                return True
            if (point := self.crashes.due(elapsed)) is not None:
                await self._kill(f"crash at {point.at_s} s", point.restart_after_s)
                return True
        restart = self.restart_at
        if self.current is None and restart is not None and self.clock.now_ms() >= restart:
            await self._start_bot()
            return True
        return False

    # -- time -----------------------------------------------------------------------------

    async def _moment(self, target_ms: int) -> None:
        """Move time to the next boundary, sleeper or ``target_ms``, and let it play out.

        A boundary at which nothing is due (no sleeper, no venue cancel, no market step,
        no feed message, no crash or restart) would play out as nothing at all: the loop is
        quiescent and no task runs until time moves. Such boundaries are passed over, to
        the first boundary at which something is due; the moments that remain are exactly
        those at which anything happens, so a run is the same with or without them."""
        now = self.clock.now_ms()
        boundary = now + SLICE_MS - (now - self.start_ms) % SLICE_MS
        due = self._next_due()
        if due is not None:
            boundary = max(boundary, self._boundary_from(due))
        wake = self.clock.next_wake()
        moment = min(boundary, target_ms, wake if wake is not None else boundary)
        self.clock.set(max(moment, now + 1))
        if self.market_live:
            self.mock.advance()
        else:
            self.mock.venue.advance(self._now())
        self.mock.stream.tick()
        self._burst()
        await self.gate.quiesce()
        await self._supervise()

    def _boundary_from(self, at_ms: int) -> int:
        """The first slice boundary at or after ``at_ms``."""
        return at_ms + (self.start_ms - at_ms) % SLICE_MS

    def _next_due(self) -> int | None:
        """The earliest venue time at which the driver's own work (``_moment``: venue,
        market, feed, burst; ``_supervise``: crashes, restarts) has anything to do, or
        ``None`` when every boundary must be visited: a fault plan is loaded (a clock skew
        moves venue time against the clock; rules fire on time windows) or a burst is on."""
        mock = self.mock
        if mock.faults.plan.rules or not self.burst_done:
            return None
        far = self.clock.now_ms() + 3_600_000
        dues = [mock.venue.next_due(), mock.stream.next_due()]
        if self.market_live:
            market = mock.market
            last_prune = getattr(mock, "_last_prune", None)
            if market is None or not isinstance(last_prune, int):
                return None
            dues += [market.next_due(), last_prune + 60_000]
        if self.crashes.armed and self.crashes.timed:
            dues.append(self.start_ms + math.ceil((self.crashes.timed[0].at_s or 0) * 1000))
        if self.current is None:
            dues.append(self.restart_at)
        return min((d for d in dues if d is not None), default=far)

    async def _until(self, done: Callable[[], bool], within_ms: int) -> bool:
        limit = self.clock.now_ms() + within_ms
        while not done():
            if self.clock.now_ms() >= limit:
                return False
            await self._moment(limit)
        return True

    # -- the burst ------------------------------------------------------------------------

    def _burst(self) -> None:
        if self.burst_done:
            return
        now = self.clock.now_ms()
        if now < self.start_ms + float(self.setup.get("burst_at_s", 10.0)) * 1000:
            return
        venue = self.mock.venue
        if self.burst_target is None:
            ours = [
                o
                for o in venue.open_orders(BOT_ACCOUNT.key, PAIR)
                if o.id not in self.external_ids and o.method == "limit" and o.triggered
            ]
            if not ours:
                return
            count = int(self.setup["burst_fills"])
            target = min(ours, key=lambda o: o.id)
            rules = venue.rules[PAIR]
            assert target.price is not None
            least = (rules.min_exchange_value / target.price).quantize(
                rules.amount_quantum, ROUND_CEILING
            )
            self.burst_slice = max(
                least, (target.left / (count + 1)).quantize(rules.amount_quantum, ROUND_DOWN)
            )
            self.burst_target = target
            self.burst = [now + i * (1_000 // count) for i in range(count)]
            self.notes.append(f"setup: burst of {count} fills on venue order {target.id}")
        target = self.burst_target
        while self.burst and self.burst[0] <= now:
            self.burst.pop(0)
            if not target.is_open:
                self.notes.append(f"setup: burst stopped, order {target.id} left the book")
                self.burst = []
                break
            assert target.price is not None
            book_side = venue.books[PAIR].side_of(target)
            ahead = Decimal(0)
            for order in book_side.orders():
                if order is target:
                    break
                ahead += order.left
            amount = ahead + min(self.burst_slice, target.left)
            self._submit(HELPER_ACCOUNT, SELL if target.side == BUY else BUY, target.price, amount)
        self.burst_done = not self.burst

    # -- the run --------------------------------------------------------------------------

    async def run(self) -> RunResult:
        root = logging.getLogger()
        level = root.level
        capture: _LogCapture | None = None
        try:
            capture = _LogCapture(self.clock, self.credentials)
            root.addHandler(capture)
            root.setLevel(logging.INFO)
            self._prepare_venue()
            if self.settings is None:
                return await self._result(capture)
            await self._start_bot()
            await self._supervise()
            end = self.start_ms + round(self.scenario.duration_s * 1000)
            while self.clock.now_ms() < end:
                await self._moment(end)
            await self._final()
            return await self._result(capture)
        finally:
            if capture is not None:
                root.removeHandler(capture)
            root.setLevel(level)
            await self._shutdown()

    async def _final(self) -> None:
        """Lift the faults, freeze the market, stop the bot between two steps, and let it
        reconcile until its books are settled (or the visibility budget and more passed)."""
        self.crashes.armed = False
        self.mock.load_faults(FaultPlan())
        self.market_live = False
        self.burst_done = True
        incarnation = await self._stop_between_steps()
        if incarnation is None:
            self.notes.append("final reconcile: skipped, the bot did not come back")
            return
        runner = incarnation.runner
        assert runner is not None
        if not runner.done():
            runner.cancel()
        await asyncio.wait([runner])
        await self.gate.quiesce()
        bot = incarnation.bot
        assert self.settings is not None
        budget = self.settings.lifecycle.visibility_budget_ms
        limit = self.clock.now_ms() + budget + 30_000
        passes = 0
        while self.clock.now_ms() < limit:
            task = asyncio.ensure_future(self._final_pass(bot))
            await self.gate.quiesce()
            if not await self._until(task.done, 120_000):
                task.cancel()
                await asyncio.wait([task])
            passes += 1
            incarnation.poll_mode(self.clock.now_ms())
            finished = task.done() and not task.cancelled()
            if finished and (error := task.exception()) is not None:
                log.error("final reconcile died: %r", error, exc_info=error)
                self.notes.append(f"final reconcile died of {type(error).__name__}: {error}")
                break
            report = task.result() if finished else None
            settled = report is not None and report.plan.settled
            if passes >= 2 and settled and not self._unsettled(bot):
                break
            await self._until(lambda: False, 1_000)
        state = "settled" if not self._unsettled(bot) else "not settled"
        self.notes.append(f"final reconcile: {state} after {passes} passes")

    async def _stop_between_steps(self) -> _Incarnation | None:
        """The running bot, told to stop and done with its step (restarted first if down)."""
        for _ in range(10):  # a bot that dies on the way is restarted, a few times
            if not await self._until(lambda: self.current is not None, 600_000):
                return None
            incarnation = self.current
            assert incarnation is not None
            incarnation.stopping = True
            idle = await self._until(partial(self._between_steps, incarnation), 120_000)
            if self.current is incarnation:
                if not idle:
                    self.notes.append("the bot's last step did not end in 120 s: cancelled")
                return incarnation
        return None

    def _between_steps(self, incarnation: _Incarnation) -> bool:
        return not incarnation.busy or self.current is not incarnation

    @staticmethod
    def _unsettled(bot: Bot) -> list[str]:
        states = (*_UNSETTLED, OrderState.CANCEL_PENDING)
        return [o.client_id for o in bot.lifecycle.orders.values() if o.state in states]

    @staticmethod
    async def _final_pass(bot: Bot) -> Any:
        try:
            await bot.drain_events()
            report = await bot.reconcile()
        except BotError as exc:
            log.error("final reconcile failed: %s", exc)
            return None
        bot.update_mode()
        return report

    async def _result(self, capture: _LogCapture) -> RunResult:
        venue = self.mock.venue
        key = BOT_ACCOUNT.key
        balances = {
            asset: {
                "total": format(b.total, "f"),
                "locked": format(b.locked, "f"),
                "free": format(b.free, "f"),
            }
            for asset, b in sorted(venue.ledger.balances(key).items())
        }
        bot_orders: list[dict[str, Any]] = []
        bot_fills: list[dict[str, Any]] = []
        bot_balances: dict[str, str] = {}
        positions: dict[str, str] = {}
        unknown: list[str] = []
        incarnation = self.current
        if incarnation is not None:
            bot = incarnation.bot
            bot_orders = [_plain(row) for row in await incarnation.store.orders()]
            bot_orders.sort(key=lambda row: (row["created_ms"], row["client_id"]))
            bot_fills = [_plain(dataclasses.asdict(f)) for f in await incarnation.store.fills()]
            if bot.baseline is not None:
                expected = bot.session.expected_balances(bot.baseline)
                bot_balances = {a: format(v, "f") for a, v in sorted(expected.items())}
            positions = {
                pair: format(p.quantity, "f") for pair, p in sorted(bot.portfolio.positions.items())
            }
            budget = bot.settings.lifecycle.visibility_budget_ms
            unknown = list(bot.lifecycle.unknown_past(budget))
        modes = [entry for inc in self.incarnations for entry in inc.mode_history()]
        illegal = self.illegal + (incarnation.bot.lifecycle.illegal if incarnation else 0)
        secrets = [BOT_ACCOUNT.secret, _RAW_SECRET.decode("ascii")]
        if self.setup.get("bad_secret"):
            secrets.append(base64.urlsafe_b64encode(_RAW_SECRET).decode("ascii").rstrip("="))
        budget_ms = self.settings.lifecycle.visibility_budget_ms if self.settings else 60_000
        return RunResult(
            scenario=self.scenario.name,
            seed=self.seed,
            engine="sim",
            canary=self.scenario.canary,
            duration_ms=self.clock.now_ms() - self.start_ms,
            journal=[entry.to_json() for entry in self.mock.journal.entries()],
            venue_orders=[order_json(o) for o in venue.account_orders(key)],
            venue_fills=[fill_json(f) for f in venue.account_fills(key)],
            venue_balances=balances,
            bot_orders=bot_orders,
            bot_fills=bot_fills,
            bot_balances=bot_balances,
            bot_positions=positions,
            mode_history=modes,
            illegal_transitions=illegal,
            unknown_past_budget=unknown,
            rate_limit_blocks=self.limiter.refused,
            log_lines=list(capture.lines),
            secrets=secrets,
            start_ms=self.start_ms,
            notes=list(self.notes),
            expectations=self.scenario.expect_modes,
            visibility_budget_ms=budget_ms,
        )

    async def _shutdown(self) -> None:
        incarnation, self.current = self.current, None
        if incarnation is None:
            return
        if incarnation.runner is not None and not incarnation.runner.done():
            incarnation.runner.cancel()
            await asyncio.wait([incarnation.runner])
        await incarnation.bot.exchange.close()
        await incarnation.store.close()
