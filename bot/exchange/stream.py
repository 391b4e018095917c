"""The websocket client: one feed connection kept alive, books kept from it, and the private
events handed to the lifecycle (reference §8). The wire is read by ``channels``; this is the
shell that does the I/O, over an injected ``connect`` and an injected clock.

One connection, from ``run()``:

    connect ─► 991 ─► 151 joins ─► 114 login (if configured) ─► frames ─┐
       ▲                                                                │ close, error,
       └──────────── jittered exponential backoff ◄─────────────────────┘ stale, no 114

* **Reconnect.** Any transport failure, close, missing login reply, or stale socket ends the
  connection; the next attempt waits ``Backoff.delay`` (exponential, "equal jitter": never
  less than half the step, so replicas do not reconnect in step). A 429 on the upgrade is
  waited out for at least its ``Retry-After``. The attempt count goes back to zero after a
  connection that lasted ``stable_after_s``, so a venue that drops every socket at once is
  not hammered (it allows 15 connects a minute per IP).
* **Handshake.** The joins and the login go out when the 991 version message arrives. A
  venue that stops sending 991 must not take the bot offline: after ``handshake_timeout_s``
  without it the client subscribes anyway and counts ``handshake_timeouts``.
* **Books.** Every book is dirty from a disconnect until the fresh 431 of the next join. A
  book that turns dirty on a live connection (CS gap, crossed) is resynced by the client
  itself: it leaves and re-joins the pair's book channel, which makes the venue send a 431;
  while the book stays dirty the request is repeated every ``resync_after_s``.
  ``resync_needed`` names the dirty pairs; an owner may also resync one from REST with
  ``books[pair].reset_from(rest_book)``.
* **Staleness.** The socket can stay open and silent for hours (§8.6, ISS#577; protocol
  pings keep flowing). If no data frame arrives for ``stale_after_s`` while subscribed, the
  connection is dropped and counted (``stale_reconnects``). Choose it above the cadence of
  the quietest subscribed channel: ``orderbook`` and ``ticker`` publish every 750 ms;
  ``obdiff`` only when the book changes. Without public channels there is no watchdog.
* **Login.** The 114 frame comes from the injected ``login_frame()`` (fresh per connection)
  and is never logged. A reply ``ok:false`` is final: it is kept in ``auth_error`` and no
  later connection logs in again (a key without the WebSocket permission or a wrong IP does
  not heal by retrying), while the public feed goes on. The lifecycle must watch
  ``auth_error`` and stop relying on private events. No reply within
  ``handshake_timeout_s`` is a transport failure: reconnect.
* **Private events** go to ``private_events``, a bounded queue. The reader never blocks on
  it: when it is full the event is dropped and ``private_dirty`` is set (and counted), as
  it is after every successful login (events sent while the bot was not logged in are
  never replayed) and after a malformed private frame. ``take_dirty()`` returns the flag and
  clears it; a True means the lifecycle must reconcile from REST.

Foreign exceptions (``websockets``, ``OSError``) are translated to ``bot.errors`` in one
place, the default connect adapter ``websockets_connect``; an injected ``connect`` raises
``TransportError`` (or another ``Retryable``) when its socket is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.core.types import Fill, PublicTrade, Ticker
from bot.errors import AuthFailed, RateLimited, Retryable, TransportError
from bot.exchange.channels import (
    BookDiff,
    BookOutcome,
    BookSnapshot,
    LocalBook,
    LoginResult,
    Malformed,
    OrderDelete,
    OrderInsert,
    OrderMatch,
    OrderUpdate,
    PrivateEvent,
    SubscribeResult,
    TradeList,
    Version,
    decode,
    normalize_pair,
)

__all__ = [
    "CHANNELS",
    "Backoff",
    "Connect",
    "StreamClient",
    "StreamMetrics",
    "WsConnection",
    "retry_delay",
    "websockets_connect",
]

log = logging.getLogger("bot.exchange.stream")

CHANNELS = ("orderbook", "obdiff", "trade", "ticker")
_BOOK_CHANNELS = ("obdiff", "orderbook")  # the one re-joined to resync a book, in preference
_PRIVATE = (OrderInsert, OrderDelete, OrderUpdate, OrderMatch, Fill)


class WsConnection(Protocol):
    """One open websocket. ``recv`` raises ``TransportError`` once the socket is gone."""

    async def send(self, text: str) -> None: ...
    async def recv(self) -> str: ...
    async def close(self) -> None: ...


Connect = Callable[[str], AbstractAsyncContextManager[WsConnection]]


# -- retry: a pure delay generator and classifier ------------------------------------------


class Jitter(Protocol):
    def random(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Backoff:
    base_s: float = 0.5
    cap_s: float = 30.0
    stable_after_s: float = 30.0  # a connection this long resets the attempt count

    def __post_init__(self) -> None:
        if not 0 < self.base_s <= self.cap_s:
            raise ValueError("backoff needs 0 < base_s <= cap_s")

    def delay(self, attempt: int, rng: Jitter) -> float:
        """Equal jitter: half the exponential step, plus a random part of the other half."""
        step = min(self.cap_s, self.base_s * 2.0 ** min(attempt, 32))
        return step / 2 + step / 2 * rng.random()


def retry_delay(error: BaseException | None, attempt: int, backoff: Backoff, rng: Jitter) -> float:
    delay = backoff.delay(attempt, rng)
    if isinstance(error, RateLimited):
        return max(delay, float(error.retry_after_s))
    return delay


# -- the default connect -------------------------------------------------------------------


class _WebsocketsConnection:
    def __init__(self, ws: Any) -> None:
        self._ws = ws

    async def send(self, text: str) -> None:
        from websockets.exceptions import WebSocketException

        try:
            await self._ws.send(text)
        except (WebSocketException, OSError) as exc:
            raise TransportError(f"websocket send failed: {exc}") from exc

    async def recv(self) -> str:
        from websockets.exceptions import WebSocketException

        try:
            data = await self._ws.recv()
        except (WebSocketException, OSError) as exc:
            raise TransportError(f"websocket closed: {exc}") from exc
        return data if isinstance(data, str) else bytes(data).decode("utf-8", "replace")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._ws.close()


def websockets_connect(
    *,
    open_timeout: float = 10.0,
    ping_interval: float | None = 20.0,
    ping_timeout: float | None = 20.0,
    close_timeout: float = 2.0,
    max_size: int | None = 2**24,
) -> Connect:
    """``connect`` over ``websockets.asyncio.client``; it answers the venue's pings."""

    @contextlib.asynccontextmanager
    async def connect(url: str) -> AsyncIterator[WsConnection]:
        from websockets.asyncio.client import connect as ws_connect
        from websockets.exceptions import InvalidStatus, WebSocketException

        try:
            ws = await ws_connect(
                url,
                open_timeout=open_timeout,
                ping_interval=ping_interval,
                ping_timeout=ping_timeout,
                close_timeout=close_timeout,
                max_size=max_size,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status == 429:
                retry_after = exc.response.headers.get("Retry-After", "")
                wait = float(retry_after) if retry_after.strip().isdigit() else 60.0
                raise RateLimited(wait, "websocket upgrade") from exc
            raise TransportError(f"websocket upgrade refused: HTTP {status}") from exc
        except (WebSocketException, OSError, TimeoutError) as exc:
            raise TransportError(f"websocket connect failed: {exc!r}") from exc
        conn = _WebsocketsConnection(ws)
        try:
            yield conn
        finally:
            await conn.close()

    return connect


# -- the client ----------------------------------------------------------------------------


@dataclass(slots=True)
class StreamMetrics:
    connects: int = 0
    reconnects: int = 0
    transport_errors: int = 0
    stale_reconnects: int = 0
    handshake_timeouts: int = 0  # no 991 in time: subscribed anyway
    login_timeouts: int = 0
    logins: int = 0
    login_failures: int = 0
    join_failures: int = 0
    gaps: int = 0
    crossed: int = 0
    resubscribes: int = 0
    malformed_frames: int = 0
    queue_overflows: int = 0


@dataclass(slots=True)
class _Session:
    conn: WsConnection
    opened: float
    last_data: float
    subscribed: bool = False
    login_sent: float | None = None
    logged_in: bool = False
    resync_asked: dict[str, float] = field(default_factory=dict)  # pair -> when


class StreamClient:
    def __init__(
        self,
        url: str,
        connect: Connect,
        *,
        pairs: Iterable[str],
        channels: Sequence[str] = ("obdiff",),
        login_frame: Callable[[], list[Any]] | None = None,
        queue_size: int = 1000,
        stale_after_s: float = 15.0,
        resync_after_s: float = 2.0,
        handshake_timeout_s: float = 10.0,
        backoff: Backoff | None = None,
        rng: Jitter | None = None,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        trade_side_buy: int | None = None,
        trades_kept: int = 200,
    ) -> None:
        unknown = [c for c in channels if c not in CHANNELS]
        if unknown:
            raise ValueError(f"unknown channels {unknown}; known: {CHANNELS}")
        if min(queue_size, stale_after_s, resync_after_s, handshake_timeout_s) <= 0:
            raise ValueError("queue_size and the timeouts must be positive")
        self.url = url
        self.pairs = tuple(dict.fromkeys(normalize_pair(p) for p in pairs))
        self.channels = tuple(dict.fromkeys(channels))
        self._connect = connect
        self._login_frame = login_frame
        self._stale_after_s = stale_after_s
        self._resync_after_s = resync_after_s
        self._handshake_timeout_s = handshake_timeout_s
        self._check_every_s = min(stale_after_s, resync_after_s, handshake_timeout_s) / 4
        self._backoff = backoff or Backoff()
        # Replicas must not share a jitter sequence (DESIGN.md): the default is OS-seeded.
        self._rng: Jitter = rng or random.Random()
        self._now = now
        self._sleep = sleep
        self._trade_side_buy = trade_side_buy
        book_channel = next((c for c in _BOOK_CHANNELS if c in self.channels), None)
        self._book_channel = book_channel
        self.books = {p: LocalBook(p) for p in self.pairs} if book_channel else {}
        self.tickers: dict[str, Ticker] = {}
        self.trades = {p: deque[PublicTrade](maxlen=trades_kept) for p in self.pairs}
        self.private_events: asyncio.Queue[PrivateEvent] = asyncio.Queue(maxsize=queue_size)
        self.private_dirty = False
        self.auth_error: AuthFailed | None = None
        self.metrics = StreamMetrics()
        self._session: _Session | None = None
        self._stopping = asyncio.Event()

    # -- what the owner reads ----------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._session is not None and self._session.subscribed

    @property
    def logged_in(self) -> bool:
        return self._session is not None and self._session.logged_in

    @property
    def resync_needed(self) -> frozenset[str]:
        return frozenset(pair for pair, book in self.books.items() if book.dirty)

    def take_dirty(self) -> bool:
        """True once after private events may have been missed: reconcile from REST."""
        dirty, self.private_dirty = self.private_dirty, False
        return dirty

    def stop(self) -> None:
        """Make ``run()`` return after closing the connection (cancelling it works too)."""
        self._stopping.set()

    # -- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            started = self._now()
            error: Retryable | None = None
            try:
                async with self._connect(self.url) as conn:
                    reason = await self._run_session(conn)
            except Retryable as exc:
                error, reason = exc, f"{type(exc).__name__}: {exc}"
                self.metrics.transport_errors += 1
            finally:
                self._disconnected()
            if self._stopping.is_set():
                break
            if self._now() - started >= self._backoff.stable_after_s:
                attempt = 0
            delay = retry_delay(error, attempt, self._backoff, self._rng)
            attempt += 1
            log.warning("feed connection ended (%s); reconnecting in %.2f s", reason, delay)
            await self._sleep(delay)

    async def _run_session(self, conn: WsConnection) -> str:
        now = self._now()
        self.metrics.connects += 1
        if self.metrics.connects > 1:
            self.metrics.reconnects += 1
        session = _Session(conn, opened=now, last_data=now)
        self._session = session
        reader = asyncio.create_task(self._read(session))
        watchdog = asyncio.create_task(self._watch(session))
        stopper = asyncio.create_task(self._stopping.wait())
        tasks = (reader, watchdog, stopper)
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if reader in done:
            reader.result()  # a TransportError propagates to run()
            return "reader ended"
        with contextlib.suppress(Retryable):
            await conn.close()
        return watchdog.result() if watchdog in done else "stopped"

    def _disconnected(self) -> None:
        self._session = None
        for book in self.books.values():
            book.mark_dirty("disconnected")

    async def _read(self, session: _Session) -> None:
        while True:
            text = await session.conn.recv()
            await self._handle(session, text)

    async def _watch(self, session: _Session) -> str:
        """Deadlines of one connection; returns why it must end."""
        while True:
            await self._sleep(self._check_every_s)
            now = self._now()
            if not session.subscribed:
                if now - session.opened >= self._handshake_timeout_s:
                    self.metrics.handshake_timeouts += 1
                    log.warning("no 991 version message in time; subscribing anyway")
                    await self._subscribe(session)
                continue
            waiting = session.login_sent is not None and not session.logged_in
            if waiting and now - (session.login_sent or now) >= self._handshake_timeout_s:
                self.metrics.login_timeouts += 1
                return "no login reply"
            if self._subscriptions() and now - session.last_data >= self._stale_after_s:
                self.metrics.stale_reconnects += 1
                return f"no data for {now - session.last_data:.1f} s"
            for pair in self.resync_needed:
                await self._resync(session, pair, now)

    # -- frames --------------------------------------------------------------------------

    async def _handle(self, session: _Session, text: str) -> None:
        now = self._now()
        now_ms = int(now * 1000)
        event = decode(text, now_ms, self._trade_side_buy)
        if not isinstance(event, Version | SubscribeResult | LoginResult):
            session.last_data = now  # unknown types and bad frames still show the feed lives
        if event is None:
            return
        if isinstance(event, Malformed):
            self._malformed(event)
        elif isinstance(event, BookSnapshot | BookDiff):
            await self._book(session, event, now, now_ms)
        elif isinstance(event, _PRIVATE):
            self._push(event)
        elif isinstance(event, Ticker):
            self.tickers[event.pair] = event
        elif isinstance(event, PublicTrade):
            if event.pair in self.trades:
                self.trades[event.pair].append(event)
        elif isinstance(event, TradeList):
            if event.pair in self.trades:
                self.trades[event.pair].extend(reversed(event.trades))
        elif isinstance(event, Version):
            if not session.subscribed:
                await self._subscribe(session)
        elif isinstance(event, SubscribeResult):
            if not event.ok:
                self.metrics.join_failures += 1
                log.warning("feed refused a subscription: %s", event.message)
        elif isinstance(event, LoginResult):
            self._login_result(session, event)

    def _malformed(self, event: Malformed) -> None:
        self.metrics.malformed_frames += 1
        log.warning("dropped a malformed frame of type %d: %s", event.type, event.reason)
        if event.private:
            self._mark_private_dirty("a private frame was malformed")

    async def _book(
        self, session: _Session, message: BookSnapshot | BookDiff, now: float, now_ms: int
    ) -> None:
        book = self.books.get(message.pair)
        if book is None:
            return
        outcome = book.apply(message, now_ms)
        if outcome is BookOutcome.GAP:
            self.metrics.gaps += 1
            log.info("%s: %s; resyncing", book.pair, book.dirty_reason)
        elif outcome is BookOutcome.CROSSED:
            self.metrics.crossed += 1
            log.warning("%s: the book crossed; resyncing", book.pair)
        if book.dirty and session.subscribed:
            await self._resync(session, book.pair, now)

    def _push(self, event: PrivateEvent) -> None:
        try:
            self.private_events.put_nowait(event)
        except asyncio.QueueFull:
            self.metrics.queue_overflows += 1
            self._mark_private_dirty("the private event queue is full")

    def _mark_private_dirty(self, why: str) -> None:
        if not self.private_dirty:
            log.warning("private stream incomplete (%s): a REST reconcile is needed", why)
        self.private_dirty = True

    def _login_result(self, session: _Session, result: LoginResult) -> None:
        if session.login_sent is None:
            return  # not ours to judge
        if result.ok:
            session.logged_in = True
            self.metrics.logins += 1
            log.info("feed login accepted")
            self._mark_private_dirty("logged in: earlier events are not replayed")
            return
        self.metrics.login_failures += 1
        message = result.message or "login refused"
        self.auth_error = AuthFailed(message, None, 0, "websocket login (114)")
        session.login_sent = None
        log.error("feed login refused: %s; not retrying it, public feed goes on", message)

    # -- what the client sends ---------------------------------------------------------

    def _subscriptions(self) -> list[tuple[str, str]]:
        return [(channel, pair) for pair in self.pairs for channel in self.channels]

    async def _subscribe(self, session: _Session) -> None:
        session.subscribed = True
        now = self._now()
        session.last_data = now
        for channel, pair in self._subscriptions():
            await session.conn.send(_join(channel, pair, True))
        session.resync_asked.update(dict.fromkeys(self.books, now))  # the joins bring 431s
        if self._login_frame is not None and self.auth_error is None:
            session.login_sent = now
            await session.conn.send(json.dumps(self._login_frame(), separators=(",", ":")))
            log.info("feed login sent")  # never the frame: it carries the signature

    async def _resync(self, session: _Session, pair: str, now: float) -> None:
        asked = session.resync_asked.get(pair)
        if self._book_channel is None or (asked is not None and now - asked < self._resync_after_s):
            return
        session.resync_asked[pair] = now
        self.metrics.resubscribes += 1
        await session.conn.send(_join(self._book_channel, pair, False))
        await session.conn.send(_join(self._book_channel, pair, True))


def _join(channel: str, pair: str, join: bool) -> str:
    body = {"type": 151, "channel": channel, "event": pair, "join": join}
    return json.dumps([151, body], separators=(",", ":"))
