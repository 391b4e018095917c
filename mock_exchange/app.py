"""The mock venue as an ASGI app: ``create_app()`` wires the venue, accounts, clock, rate
limiter, market simulator and routes, declared as data.

``MockExchange`` is the service object behind the routes: it owns the venue and the
accounts, knows the time from the injected clock, and carries out due work (asynchronous
cancels, the market's agents) whenever it is asked to ``advance``: on a timer under a live
server, before every request, and by hand under a virtual clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from mock_exchange import admin, auth, errors, rest, views
from mock_exchange.accounts import Account, demo_account, load_accounts
from mock_exchange.admin import AdminError
from mock_exchange.candles import CandleStore
from mock_exchange.clock import Clock, LiveClock
from mock_exchange.errors import VenueError
from mock_exchange.events import PublicTrade
from mock_exchange.fault_gate import FaultGate
from mock_exchange.faults import FaultPlan, Faults
from mock_exchange.journal import Journal
from mock_exchange.middleware import VenueFrontDoor
from mock_exchange.model import Fill, Order
from mock_exchange.ratelimit import RateLimiter
from mock_exchange.responses import JSON
from mock_exchange.rules import ASSETS, DEFAULT_PAIRS, PairRules
from mock_exchange.settings import MockSettings
from mock_exchange.stream import StreamHub, serve_websocket
from mock_exchange.venue import Venue

if TYPE_CHECKING:
    from mock_exchange.market import MarketSimulator

__all__ = ["MockExchange", "VenueApp", "create_app"]

log = logging.getLogger("mock_exchange")


class MockExchange:
    def __init__(
        self,
        settings: MockSettings,
        clock: Clock,
        accounts: list[Account] | None = None,
        pairs: tuple[PairRules, ...] = DEFAULT_PAIRS,
        journal_sink: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        # Separate streams, so that adding an account does not change the market.
        self._ids = random.Random(f"{settings.seed}:ids")
        self._credentials = random.Random(f"{settings.seed}:credentials")
        self.venue = Venue(pairs, self._ids, settings.venue)
        self.candles = CandleStore()
        self.venue.subscribe(self.candles.on_event, (PublicTrade,))  # all it reads
        self.journal = Journal(
            capacity=settings.journal_capacity,
            sink=journal_sink,
            include=lambda account: settings.journal_market or account in self.accounts,
        )
        self.venue.subscribe(self.journal.on_event)
        self.faults = Faults(settings.faults, start_ms=clock.now_ms())
        # Orders an accepted-order visibility_lag hides: id -> (visible again at, views).
        self._hidden: dict[int, tuple[int, frozenset[str]]] = {}
        self.limiter = RateLimiter(scale=settings.rate_limit_scale, enabled=settings.rate_limits)
        self.admin_token = settings.admin_token or secrets.token_urlsafe(24)
        self.accounts: dict[str, Account] = {}
        self._secrets: dict[str, bytes] = {}
        if accounts is None:
            if settings.accounts_file is not None:
                accounts = load_accounts(settings.accounts_file)
            else:
                accounts = [demo_account(self._credentials)]
        for account in accounts:
            self.add_account(account)
        self.stream = StreamHub(self, settings.stream)
        self.market: MarketSimulator | None = None
        self._last_prune = self.now()
        if settings.market:
            from mock_exchange.market import MarketSimulator

            self.market = MarketSimulator(
                self.venue, random.Random(f"{settings.seed}:market"), now=self.now()
            )

    def now(self) -> int:
        """The venue's time: the clock's, shifted by any ``clock_skew`` the plan has active."""
        now = self.clock.now_ms()
        faults = self.faults
        # Asked several times a request; a plan without rules has no skew to add.
        return now + faults.skew_at(now) if faults.plan.rules else now

    def load_faults(self, plan: FaultPlan) -> None:
        """Replace the fault plan; its windows and counters start afresh from now."""
        self.faults = Faults(plan, start_ms=self.clock.now_ms())
        self.journal.record("fault_plan_loaded", self.now(), rules=len(plan.rules), seed=plan.seed)

    def hide(self, order_id: int, until: int, views: Iterable[str]) -> None:
        """``visibility_lag``: keep an accepted order out of ``views`` until ``until``."""
        self._hidden[order_id] = (until, frozenset(views))

    def _visible(self, order_id: int, view: str) -> bool:
        hidden = self._hidden.get(order_id)
        if hidden is None:
            return True
        until, views = hidden
        if self.clock.now_ms() >= until:
            del self._hidden[order_id]
            return True
        return view not in views

    def advance(self) -> int:
        """Carry out what is due; the venue time it was done at."""
        now = self.now()
        self.venue.advance(now)
        if self.market is not None:
            self.market.step(now)
            if now - self._last_prune >= 60_000:
                self._last_prune = now
                agents = {agent.account for agent in self.market.agents}
                self.venue.forget_closed(agents, now - self.settings.agent_history_ms)
        return now

    # -- accounts ----------------------------------------------------------------------

    def new_credentials(self) -> Account:
        return demo_account(self._credentials, name="")

    def add_account(self, account: Account) -> None:
        if account.key in self.accounts:
            raise ValueError(f"account {account.key} exists")
        self.accounts[account.key] = account
        self._secrets[account.key] = account.secret_bytes
        self.venue.open_account(account.key)
        for asset, amount in account.balances.items():
            self.venue.fund(account.key, asset, amount, self.now())

    def secret_of(self, key: str) -> bytes | None:
        return self._secrets.get(key)

    def is_account(self, key: str) -> bool:
        return key in self._secrets

    def authenticate(self, headers: Mapping[str, str]) -> str:
        return auth.verify(headers, self._secrets.get, self.now(), self.settings.stamp_window_ms)

    def authenticate_raw(self, headers: Iterable[tuple[bytes, bytes]], now: int) -> str:
        """``authenticate`` for an ASGI header list, read in one pass, at venue time ``now``."""
        window = self.settings.stamp_window_ms
        return auth.verify_raw(headers, self._secrets.get, now, window)

    def assets(self) -> list[str]:
        return list(ASSETS)

    # -- what the venue's views show --------------------------------------------------------

    def visible_open_orders(self, account: str, pair: str | None) -> list[Order]:
        orders = self.venue.open_orders(account, pair)
        if not self._hidden:
            return orders
        return [o for o in orders if self._visible(o.id, "openOrders")]

    def visible_account_orders(self, account: str, pair: str) -> list[Order]:
        orders = self.venue.account_orders(account, pair)
        if not self._hidden:
            return orders
        return [o for o in orders if self._visible(o.id, "allOrders")]

    def visible_order(self, account: str, order_id: int) -> Order | None:
        order = self.venue.order_of(account, order_id)
        if order is None or not self._hidden or self._visible(order_id, "order"):
            return order
        return None

    def visible_fills(self, account: str) -> list[Fill]:
        fills = self.venue.account_fills(account)
        if not self._hidden:
            return fills
        return [f for f in fills if self._visible(f.order_id, "transactions")]

    def ticker(self, rules: PairRules) -> dict[str, Any]:
        now = self.now()
        day = self.candles.day(rules.name, now)
        return views.ticker(rules, self.venue.books[rules.name], day, now)


class VenueApp(Starlette):
    """The Starlette app with one shortcut in front of its middleware.

    A request for an endpoint the front door serves itself (``VenueFrontDoor.direct``), at
    a time when the fault plan has no rules (so ``FaultGate`` would pass it on untouched),
    goes straight to the front door: the layers around it would only hand it down, at
    about a tenth of an order submit's or cancel's cost in process. Every other request
    takes the full stack. ``VenueFrontDoor.serve_direct`` does what the outermost layer,
    Starlette's ``ServerErrorMiddleware``, would have done.
    """

    mock: MockExchange
    front_door: VenueFrontDoor | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        layer: Any = stack
        while layer is not None and not isinstance(layer, VenueFrontDoor):
            layer = getattr(layer, "app", None)
        self.front_door = layer
        return stack

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
        door = self.front_door
        if door is not None and scope["type"] == "http" and not self.mock.faults.plan.rules:
            scope["app"] = self
            found = door.direct(scope)
            if found is not None:
                await door.serve_direct(found[0], found[1], receive, send)
                return
        await super().__call__(scope, receive, send)


async def _venue_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, VenueError)
    mock: MockExchange = request.app.state.mock
    success = exc.status == 401 and mock.settings.auth_failure_success
    return JSON(views.error_body(exc, success=success), status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        error = errors.METHOD_NOT_ALLOWED()
    elif exc.status_code == 404:
        error = errors.NOT_FOUND()
    else:
        error = VenueError(exc.status_code, "INVALID_REQUEST", exc.status_code)
    return JSON(views.error_body(error), status_code=error.status, headers=exc.headers)


async def _admin_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AdminError)
    return JSON({"error": exc.message}, status_code=exc.status)


def create_app(
    settings: MockSettings | None = None,
    *,
    clock: Clock | None = None,
    accounts: list[Account] | None = None,
    mock: MockExchange | None = None,
) -> VenueApp:
    """The ASGI app. Pass ``mock`` to serve an existing venue (the harness does)."""
    settings = settings or MockSettings()
    if mock is None:
        mock = MockExchange(settings, clock or LiveClock(), accounts)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(_tick(mock)), asyncio.create_task(mock.stream.run_ticks())]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    handlers: dict[Any, Any] = {
        VenueError: _venue_error,
        HTTPException: _http_error,
        AdminError: _admin_error,
    }
    app = VenueApp(
        routes=[
            *rest.routes,
            *admin.routes,
            # The venue serves its feed at the root of its own host; here also at /ws.
            WebSocketRoute("/ws", serve_websocket),
            WebSocketRoute("/", serve_websocket),
        ],
        middleware=[
            Middleware(FaultGate, mock=mock, clock_now=mock.clock.now_ms),
            Middleware(
                VenueFrontDoor,
                limiter=mock.limiter,
                now=mock.now,
                known_key=mock.is_account,
                endpoints=rest.exact_endpoints(),
                error_handlers=handlers,
            ),
        ],
        exception_handlers=handlers,
        lifespan=lifespan,
    )
    # The venue answers a wrong path with 404, never a redirect.
    app.router.redirect_slashes = False
    app.state.mock = mock
    app.mock = mock
    return app


async def _tick(mock: MockExchange) -> None:
    """Carry out due work between requests: cancels that took effect, the market's agents."""
    interval = mock.settings.tick_ms / 1000
    while True:
        await asyncio.sleep(interval)
        try:
            mock.advance()
        except Exception:
            log.exception("market tick failed")
