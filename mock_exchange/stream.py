"""The websocket feed's shell: connections, queues, the fault plan's websocket faults, and
the Starlette endpoint that serves them (reference §8).

Two layers:

* ``StreamHub`` has no socket. It owns the ``Feed`` (the pure protocol), one outbox per
  connection, the per-IP connection-attempt limit, and the websocket faults. Venue events
  reach it synchronously from ``Venue.subscribe`` and are only appended to outboxes, so
  publishing never waits on a client. A connection whose outbox is full is cut off, as the
  venue cuts off a slow subscriber. The chaos harness drives a hub in memory; the endpoint
  below drives it over a real socket.
* ``serve_websocket`` is the Starlette endpoint: it accepts, pumps client frames into the
  hub, and writes the connection's outbox. Protocol ping frames (every 5 s on the venue)
  are uvicorn's ``ws_ping_interval``; they continue through a ``ws_stall``.

Websocket faults are decided per message and connection (``Faults.on_ws_message``):
``ws_drop`` closes the socket; ``ws_stall`` drops everything for the connection until the
stall ends while the socket stays open; ``ws_gap`` and ``ws_drop_type`` drop the message;
``ws_duplicate`` sends it twice; ``ws_reorder`` sends it after the next one;
``ws_malformed`` corrupts one field of its payload. Each firing, connect, login and close
is journalled.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from mock_exchange.events import VenueEvent
from mock_exchange.faults import Firing, corrupt_row
from mock_exchange.feed import Feed, FeedConfig, MessageType, Outgoing

if TYPE_CHECKING:
    from mock_exchange.app import MockExchange

__all__ = ["Connection", "StreamConfig", "StreamHub", "serve_websocket"]

log = logging.getLogger("mock_exchange.stream")

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008  # the venue's cut-off of a slow subscriber, and a dropped socket
CLOSE_TRY_AGAIN = 1013


@dataclass(frozen=True)
class StreamConfig:
    feed: FeedConfig = field(default_factory=FeedConfig)
    connects_per_minute: int = 15  # per IP (reference §6.3)
    outbox_limit: int = 5_000  # messages queued for one client before it is cut off
    ping_interval_s: float = 5.0
    deflate: bool = True  # permessage-deflate, as the venue offers it

    def __post_init__(self) -> None:
        if self.connects_per_minute < 1 or self.outbox_limit < 1:
            raise ValueError("connects_per_minute and outbox_limit must be positive")
        if self.ping_interval_s <= 0:
            raise ValueError("ping_interval_s must be positive")


@dataclass(eq=False)
class Connection:
    id: int
    ip: str
    outbox: deque[str] = field(default_factory=deque)
    closed: str | None = None  # the reason, once the hub closed it
    close_code: int = CLOSE_NORMAL
    stalled_until: int = 0
    held: str | None = None  # a ws_reorder message, sent after the next one
    notify: Callable[[], None] = lambda: None  # the shell's wake-up


class StreamHub:
    def __init__(self, mock: MockExchange, config: StreamConfig | None = None) -> None:
        self.mock = mock
        self.config = config or StreamConfig()
        self.feed = Feed(mock.venue, self.config.feed, mock.secret_of, day_stats=mock.candles.day)
        self.connections: dict[int, Connection] = {}
        self._ids = itertools.count(1)
        self._attempts: dict[str, deque[int]] = {}
        mock.venue.subscribe(self._on_event)

    # -- connections ---------------------------------------------------------------------

    def admit(self, ip: str) -> bool:
        """Count a connection attempt; False beyond ``connects_per_minute`` for the IP."""
        now = self.mock.clock.now_ms()
        attempts = self._attempts.setdefault(ip, deque())
        while attempts and attempts[0] <= now - 60_000:
            attempts.popleft()
        if len(attempts) >= self.config.connects_per_minute:
            self.mock.journal.record("ws_refused", self.mock.now(), ip=ip, reason="rate")
            return False
        attempts.append(now)
        return True

    def open(self, ip: str) -> Connection:
        conn = Connection(next(self._ids), ip)
        self.connections[conn.id] = conn
        self.mock.journal.record("ws_connected", self.mock.now(), conn=conn.id, ip=ip)
        self._deliver(self.feed.connect(conn.id, self.mock.now()))
        return conn

    def receive(self, conn: Connection, text: str | bytes) -> None:
        if conn.closed is not None:
            return
        before = self.feed.account_of(conn.id)
        out = self.feed.receive(conn.id, text, self.mock.now())
        after = self.feed.account_of(conn.id)
        for item in out:
            if item.type == MessageType.LOGIN:
                self.mock.journal.record(
                    "ws_login",
                    self.mock.now(),
                    conn=conn.id,
                    ok=bool(item.payload.get("ok")),
                    account=after if after != before or item.payload.get("ok") else None,
                )
        self._deliver(out)

    def close(self, conn: Connection, reason: str, code: int = CLOSE_NORMAL) -> None:
        """Forget a connection: the client left, or the hub cut it off."""
        if conn.closed is None:
            conn.closed = reason
            conn.close_code = code
            if code == CLOSE_TRY_AGAIN:
                conn.outbox.clear()  # a slow subscriber loses what it did not read
            self.mock.journal.record("ws_closed", self.mock.now(), conn=conn.id, reason=reason)
        self.feed.disconnect(conn.id)
        self.connections.pop(conn.id, None)
        conn.notify()

    # -- publishing ----------------------------------------------------------------------

    def tick(self) -> None:
        """Periodic messages due now (tickers, 431 snapshots, 432 diffs)."""
        self._deliver(self.feed.tick(self.mock.now()))

    def next_due(self) -> int | None:
        return self.feed.next_due()

    def _on_event(self, event: VenueEvent) -> None:
        if self.connections:
            out = self.feed.on_event(event, self.mock.now())
            if out:  # most venue events (the market's own) are sent to nobody
                self._deliver(out)

    def _deliver(self, out: list[Outgoing]) -> None:
        faults = self.mock.faults
        check = bool(faults.plan.rules)
        clock_now = self.mock.clock.now_ms()
        touched: dict[int, Connection] = {}
        for item in out:
            conn = self.connections.get(item.conn)
            if conn is None or conn.closed is not None:
                continue
            if conn.stalled_until > clock_now:
                continue  # a stalled socket says nothing; what it would have said is lost
            texts = [item.text()]
            if check:
                account = self.feed.account_of(conn.id)
                fired = faults.on_ws_message(item.type, clock_now, account)
                if fired:
                    texts = self._apply(conn, item, fired[0], clock_now)
            if conn.closed is not None:
                continue
            for text in texts:
                conn.outbox.append(text)
                if conn.held is not None and text is not conn.held:
                    conn.outbox.append(conn.held)  # a ws_reorder: the held one goes after
                    conn.held = None
            if len(conn.outbox) > self.config.outbox_limit:
                self.close(conn, "slow consumer", CLOSE_TRY_AGAIN)
                continue
            touched[conn.id] = conn
        for conn in touched.values():
            conn.notify()

    def _apply(self, conn: Connection, item: Outgoing, firing: Firing, now: int) -> list[str]:
        """The texts to send instead of ``item``'s, after the websocket fault ``firing``."""
        self.mock.journal.record(
            "fault_fired",
            self.mock.now(),
            rule=firing.rule,
            fault=firing.kind,
            counter=firing.counter,
            conn=conn.id,
            msg_type=item.type,
            cs=item.cs,
        )
        kind = firing.kind
        if kind == "ws_drop":
            self.close(conn, "ws_drop", CLOSE_POLICY)
            return []
        if kind == "ws_stall":
            conn.stalled_until = firing.until_ms
            return []
        if kind in ("ws_gap", "ws_drop_type"):
            return []
        if kind == "ws_duplicate":
            return [item.text(), item.text()]
        if kind == "ws_reorder":
            if conn.held is None:
                conn.held = item.text()
                return []
            return [item.text()]
        if kind == "ws_malformed":
            broken = corrupt_row(item.payload, firing.row_key, firing.corruption)
            return [json.dumps([item.type, broken], separators=(",", ":"))]
        return [item.text()]

    async def run_ticks(self) -> None:
        """Publish periodic messages on the mock's clock until cancelled."""
        while True:
            due = self.next_due()
            now = self.mock.now()
            wait = 50 if due is None else max(0, due - now)
            await self.mock.clock.sleep_ms(min(wait, 1_000))
            try:
                self.tick()
            except Exception:
                log.exception("websocket tick failed")


async def serve_websocket(websocket: WebSocket) -> None:
    """The endpoint: served at ``/ws`` and at the root for websocket upgrades."""
    hub: StreamHub = websocket.app.state.mock.stream
    client = websocket.client
    ip = client.host if client else "unknown"
    if not hub.admit(ip):
        body = {"message": "TOO_MANY_REQUESTS", "success": False, "code": 429}
        with contextlib.suppress(Exception):
            await websocket.send_denial_response(JSONResponse(body, status_code=429))
            return
        await websocket.close(code=CLOSE_POLICY)
        return
    await websocket.accept()
    wake = asyncio.Event()
    conn = hub.open(ip)
    conn.notify = wake.set
    wake.set()
    reader = asyncio.ensure_future(_read(hub, conn, websocket))
    try:
        await _write(conn, websocket, wake, reader)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        hub.close(conn, conn.closed or "client closed")


async def _read(hub: StreamHub, conn: Connection, websocket: WebSocket) -> None:
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            data = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            hub.receive(conn, data)
    except WebSocketDisconnect:
        pass
    hub.close(conn, "client closed")


async def _write(
    conn: Connection, websocket: WebSocket, wake: asyncio.Event, reader: asyncio.Future[None]
) -> None:
    while True:
        await wake.wait()
        wake.clear()
        while conn.outbox:
            text = conn.outbox.popleft()
            try:
                await websocket.send_text(text)
            except (WebSocketDisconnect, RuntimeError, OSError):
                return
        if conn.closed is not None:
            if not reader.done():
                with contextlib.suppress(Exception):
                    await websocket.close(code=conn.close_code)
            return
