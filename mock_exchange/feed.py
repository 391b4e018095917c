"""The venue's websocket feed without the socket (reference §8). Pure: no I/O, no clock.

The I/O shell owns sockets, ping frames, queues and faults. It gives each connection an
integer id and drives one ``Feed`` with these calls, each returning a list of ``Outgoing``
to write (the one exception is ``disconnect``, which returns nothing):

    Feed(venue, config, secret_of, day_stats=None, user_id=user_id_of)
    connect(conn, now)            991 version message
    receive(conn, text, now)      a client frame: 151 join/leave, 114 login, 101 request
    disconnect(conn)              forget the connection's subscriptions and login
    on_event(event, now)          a venue event, called synchronously from ``Venue.subscribe``
    tick(now)                     periodic tickers, 431 snapshots and 432 diffs due by now
    next_due()                    when ``tick`` next has work (None: nothing periodic)

``Outgoing(conn, message)`` pairs a connection with a ``Message(type, payload, pair, cs)``.
A message published to many subscribers is one object: its payload and its JSON text are
built once (so treat payloads as read-only; a fault layer makes a new ``Message``).

Order books. Each pair has a published state: its top ``snapshot_depth`` levels a side
and a changeset number ``CS``. When a 431 or 432 is due for a pair with subscribers, the
book is read once; if its top levels differ from the published state, ``CS`` goes up by
one and obdiff subscribers get the difference as a 432 (CP 1 new level, 0 new absolute
amount, 3 deleted with its last amount). A 431 shows the published state with its ``CS``,
so on obdiff a 431 with ``CS=k`` is followed by 432s ``k+1, k+2, ...``, and a gap means a
lost diff. The 431 sent on joining is the published state (at most one period old), so the
diffs that follow apply to it exactly. Levels that leave the top ``snapshot_depth`` are
deleted in the diff and levels that enter it are new.

Private messages go to every connection logged in as the order's account; no subscription
is needed (§8.4). Accounts are public-key strings; the integer ``userId``/``user`` on the
wire is ``user_id_of(key)``: 1 + the first 8 bytes of sha256(key) mod 9,999,999, stable
across runs.

Client frames that are not valid JSON, not ``[int, object]``, of an unknown type, or of the
wrong shape are ignored: the venue tells clients to ignore what they do not know (§8.1).

UNCONFIRMED choices (reference §10):
- leave ack ``leave|<channel>:<event>``; a refused join or leave is ``ok:false`` with
  ``invalid|<channel>:<event>``; acks name the pair in canonical form (``BTCTRY``).
- 431 depth is ``snapshot_depth`` (50); a 432 ``A`` on CP 0 is the absolute level amount.
- ``S`` on 421/422 is ``trade_side_buy`` for a taker buy (default 0), else the other value.
- 421 items are newest first, like REST trades. 401 items carry the 402 data fields only.
- login failures: unknown key ``Unauthorized - Invalid Public key``; nonce not an integer
  in [login_nonce_min, login_nonce_max] ``Unauthorized - Invalid Request``; wrong signature
  ``Unauthorized - Invalid Signature``. The timestamp is not checked (it is not signed). A
  failed login leaves an earlier login in place; a new login replaces it.
- ``method`` 3 is stop market. 441 carries no timestamp. 423 carries no ``type``.
- 452 is also sent when an order fills or a market order ends (``delete_on_fill``).
- 451/452 amounts have 16 decimals (the 2024 sample); ``amount`` is the submitted quantity
  (quote for a market buy); a market buy's ``numLeft`` is its quote left over the price.
- 101 answers code 421 (the trade list) only; channel ``U`` joins are acked and ignored;
  ``tradeview`` is not served (refused).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property
from itertools import islice
from typing import TYPE_CHECKING, Any, Protocol

from mock_exchange import auth, views
from mock_exchange.events import (
    OrderDeleted,
    OrderFilled,
    OrderInserted,
    PublicTrade,
    StopTriggered,
    VenueEvent,
)
from mock_exchange.matching import Book
from mock_exchange.model import BUY, Fill, Order
from mock_exchange.rules import PairRules, normalize_symbol

if TYPE_CHECKING:  # the shell passes ``CandleStore.day``; the feed only reads the stats
    from mock_exchange.candles import DayStats

__all__ = [
    "Feed",
    "FeedConfig",
    "Message",
    "MessageType",
    "Outgoing",
    "VenueView",
    "user_id_of",
]

Json = dict[str, Any]
Topic = tuple[str, str]  # (channel, event), event canonical: "all" or a pair name
_ZERO = Decimal(0)
_METHODS = {"limit": 0, "market": 1, "stoplimit": 2, "stopmarket": 3}
_PAIR_CHANNELS = ("ticker", "trade", "orderbook", "obdiff")


class MessageType:
    RESULT = 100
    REQUEST = 101
    LOGIN = 114
    SUBSCRIBE = 151
    TICKER_ALL = 401
    TICKER_PAIR = 402
    TRADE_LIST = 421
    TRADE_SINGLE = 422
    USER_TRADE = 423
    ORDER_BOOK = 431
    ORDER_BOOK_DIFF = 432
    USER_ORDER_MATCH = 441
    ORDER_INSERT = 451
    ORDER_DELETE = 452
    VERSION = 991


class VenueView(Protocol):
    """What the feed reads of the venue; ``mock_exchange.venue.Venue`` is one."""

    @property
    def rules(self) -> Mapping[str, PairRules]: ...
    @property
    def books(self) -> Mapping[str, Book]: ...
    @property
    def public_trades(self) -> Mapping[str, Sequence[PublicTrade]]: ...
    @property
    def last_price(self) -> Mapping[str, Decimal | None]: ...


@dataclass(frozen=True)
class FeedConfig:
    version_current: str = "5.1.0"
    version_min: str = "2.3.0"
    ticker_interval_ms: int = 750
    orderbook_interval_ms: int = 750
    obdiff_interval_ms: int = 250
    snapshot_depth: int = 50
    trade_list_size: int = 50
    trade_side_buy: int = 0  # the ``S`` of a taker buy; the reference's sources conflict
    login_nonce_min: int = 100
    login_nonce_max: int = 60_000
    delete_on_fill: bool = True

    def __post_init__(self) -> None:
        intervals = (self.ticker_interval_ms, self.orderbook_interval_ms, self.obdiff_interval_ms)
        if min(*intervals, self.snapshot_depth, self.trade_list_size) < 1:
            raise ValueError("intervals, snapshot_depth and trade_list_size must be positive")
        if self.trade_side_buy not in (0, 1):
            raise ValueError("trade_side_buy must be 0 or 1")
        if self.login_nonce_min > self.login_nonce_max:
            raise ValueError("login_nonce_min must not exceed login_nonce_max")


@dataclass(frozen=True, eq=False)
class Message:
    """One frame's content. ``pair`` and ``cs`` let a fault layer act without parsing."""

    type: int
    payload: Json
    pair: str | None = None
    cs: int | None = None

    def frame(self) -> list[Any]:
        return [self.type, self.payload]

    @cached_property
    def text(self) -> str:
        return json.dumps(self.frame(), separators=(",", ":"))


@dataclass(frozen=True)
class Outgoing:
    conn: int
    message: Message

    @property
    def type(self) -> int:
        return self.message.type

    @property
    def payload(self) -> Json:
        return self.message.payload

    @property
    def pair(self) -> str | None:
        return self.message.pair

    @property
    def cs(self) -> int | None:
        return self.message.cs

    def frame(self) -> list[Any]:
        return self.message.frame()

    def text(self) -> str:
        return self.message.text


def user_id_of(public_key: str) -> int:
    digest = hashlib.sha256(public_key.encode("utf-8", "replace")).digest()
    return 1 + int.from_bytes(digest[:8], "big") % 9_999_999


def _fixed(value: Decimal, decimals: int) -> str:
    try:
        return views.quantized(value, decimals)
    except InvalidOperation:  # more digits than the context holds: write it as it is
        return views.text(value)


def _parse(text: str | bytes) -> tuple[int, Json] | None:
    try:
        value = json.loads(text)
    except (ValueError, TypeError, RecursionError):
        return None
    if isinstance(value, list) and len(value) == 2:
        kind, body = value
        if type(kind) is int and isinstance(body, dict):
            return kind, body
    return None


@dataclass(slots=True)
class _Session:
    account: str | None = None
    topics: set[Topic] = field(default_factory=set)


@dataclass(slots=True)
class _Published:
    """A pair's book as last published: top levels, best first, and its changeset."""

    asks: dict[Decimal, Decimal] = field(default_factory=dict)
    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    cs: int = 0
    snapshots: dict[str, Message] = field(default_factory=dict)  # 431 per channel, this CS


class Feed:
    def __init__(
        self,
        venue: VenueView,
        config: FeedConfig,
        secret_of: Callable[[str], bytes | None],
        day_stats: Callable[[str, int], DayStats | None] | None = None,
        user_id: Callable[[str], int] = user_id_of,
    ) -> None:
        self._venue = venue
        self._config = config
        self._secret_of = secret_of
        self._day_stats = day_stats
        self._user_id = user_id
        self._sessions: dict[int, _Session] = {}
        self._topics: dict[Topic, dict[int, None]] = {}  # dicts as ordered sets
        self._by_account: dict[str, dict[int, None]] = {}
        self._published = {name: _Published() for name in venue.rules}
        self._dirty: set[str] = set(venue.rules)  # pairs whose book may have changed
        self._intervals = {
            "ticker": config.ticker_interval_ms,
            "orderbook": config.orderbook_interval_ms,
            "obdiff": config.obdiff_interval_ms,
        }
        self._due: dict[str, int | None] = dict.fromkeys(self._intervals)
        self._handlers = {
            MessageType.SUBSCRIBE: self._subscribe,
            MessageType.LOGIN: self._login,
            MessageType.REQUEST: self._request,
        }

    # -- connections -------------------------------------------------------------------

    def connect(self, conn: int, now: int) -> list[Outgoing]:
        self.disconnect(conn)
        self._sessions[conn] = _Session()
        c = self._config
        payload = {"type": MessageType.VERSION, "current": c.version_current, "min": c.version_min}
        return [Outgoing(conn, Message(MessageType.VERSION, payload))]

    def disconnect(self, conn: int) -> None:
        session = self._sessions.pop(conn, None)
        if session is None:
            return
        for topic in list(session.topics):
            self._leave(conn, session, topic)
        self._logout(conn, session)

    def account_of(self, conn: int) -> str | None:
        """The account a connection is logged in as, if any."""
        session = self._sessions.get(conn)
        return session.account if session is not None else None

    def receive(self, conn: int, text: str | bytes, now: int) -> list[Outgoing]:
        session = self._sessions.get(conn)
        frame = _parse(text) if session is not None else None
        if session is None or frame is None:
            return []
        handler = self._handlers.get(frame[0])
        return handler(conn, session, frame[1], now) if handler else []

    def _result(self, conn: int, ok: bool, message: str) -> Outgoing:
        payload = {"type": MessageType.RESULT, "ok": ok, "message": message}
        return Outgoing(conn, Message(MessageType.RESULT, payload))

    # -- subscriptions -----------------------------------------------------------------

    def _subscribe(self, conn: int, session: _Session, body: Json, now: int) -> list[Outgoing]:
        channel, event, join = body.get("channel"), body.get("event"), body.get("join")
        if not isinstance(channel, str) or not isinstance(event, str) or type(join) is not bool:
            return []
        verb = "join" if join else "leave"
        if channel.lower() == "u":  # TSLIB's private subscriptions (§8.4): harmless
            return [self._result(conn, True, f"{verb}|{channel}:{event}")]
        topic = self._topic(channel, event)
        if topic is None:
            return [self._result(conn, False, f"invalid|{channel}:{event}")]
        ack = self._result(conn, True, f"{verb}|{topic[0]}:{topic[1]}")
        if not join:
            self._leave(conn, session, topic)
            return [ack]
        return [ack, *self._join(conn, session, topic, now)]

    def _topic(self, channel: str, event: str) -> Topic | None:
        channel = channel.lower()
        if channel == "ticker" and event.lower() == "all":
            return channel, "all"
        pair = normalize_symbol(event)
        if channel in _PAIR_CHANNELS and pair in self._venue.rules:
            return channel, pair
        return None

    def _join(self, conn: int, session: _Session, topic: Topic, now: int) -> list[Outgoing]:
        channel, pair = topic
        if channel in ("orderbook", "obdiff") and not self._has_book_subscribers(pair):
            self._publish(pair)  # nobody kept the published state current; no one to tell
        session.topics.add(topic)
        self._topics.setdefault(topic, {})[conn] = None
        if channel in self._due and self._due[channel] is None:
            self._due[channel] = now + self._intervals[channel]
        if channel == "trade":
            return [Outgoing(conn, self._trade_list(pair))]
        if channel in ("orderbook", "obdiff"):
            return [Outgoing(conn, self._snapshot(pair, channel))]
        return []

    def _leave(self, conn: int, session: _Session, topic: Topic) -> None:
        session.topics.discard(topic)
        members = self._topics.get(topic)
        if members is not None:
            members.pop(conn, None)
            if not members:
                del self._topics[topic]
        channel = topic[0]
        if channel in self._due and not any(t[0] == channel for t in self._topics):
            self._due[channel] = None

    def _has_book_subscribers(self, pair: str) -> bool:
        return ("orderbook", pair) in self._topics or ("obdiff", pair) in self._topics

    def _request(self, conn: int, session: _Session, body: Json, now: int) -> list[Outgoing]:
        channel, event = body.get("channel"), body.get("event")
        if body.get("code") != MessageType.TRADE_LIST or channel != "trade":
            return []
        topic = self._topic(channel, event) if isinstance(event, str) else None
        return [Outgoing(conn, self._trade_list(topic[1]))] if topic else []

    # -- login -------------------------------------------------------------------------

    def _login(self, conn: int, session: _Session, body: Json, now: int) -> list[Outgoing]:
        key, nonce, signature = body.get("publicKey"), body.get("nonce"), body.get("signature")
        secret = self._secret_of(key) if isinstance(key, str) and key else None
        c = self._config
        if secret is None or not isinstance(key, str):
            return [self._login_result(conn, "Unauthorized - Invalid Public key")]
        if type(nonce) is not int or not c.login_nonce_min <= nonce <= c.login_nonce_max:
            return [self._login_result(conn, "Unauthorized - Invalid Request")]
        expected = auth.sign(key, secret, nonce).encode("ascii")
        given = signature.strip().encode("utf-8", "replace") if isinstance(signature, str) else b""
        if not hmac.compare_digest(expected, given):
            return [self._login_result(conn, "Unauthorized - Invalid Signature")]
        self._logout(conn, session)
        session.account = key
        self._by_account.setdefault(key, {})[conn] = None
        return [self._login_result(conn, None)]

    def _login_result(self, conn: int, failure: str | None) -> Outgoing:
        payload = {"type": MessageType.LOGIN, "ok": failure is None, "id": 0, "message": failure}
        return Outgoing(conn, Message(MessageType.LOGIN, payload))

    def _logout(self, conn: int, session: _Session) -> None:
        if session.account is None:
            return
        conns = self._by_account.get(session.account, {})
        conns.pop(conn, None)
        if not conns:
            self._by_account.pop(session.account, None)
        session.account = None

    # -- venue events ------------------------------------------------------------------

    def on_event(self, event: VenueEvent, now: int) -> list[Outgoing]:
        """Cheap for events nobody listens to: a set insert and a dict lookup."""
        if isinstance(event, PublicTrade):
            self._dirty.add(event.pair)
            subscribers = self._topics.get(("trade", event.pair))
            if not subscribers:
                return []
            return self._fan_out(subscribers, self._trade_single(event))
        if not isinstance(event, OrderFilled | OrderInserted | OrderDeleted | StopTriggered):
            return []
        self._dirty.add(event.order.pair)
        conns = self._by_account.get(event.order.account)
        if not conns or isinstance(event, StopTriggered):
            return []
        if isinstance(event, OrderInserted):
            return self._fan_out(conns, self._order(MessageType.ORDER_INSERT, event.order))
        if isinstance(event, OrderDeleted):
            if event.reason == "filled" and not self._config.delete_on_fill:
                return []
            return self._fan_out(conns, self._order(MessageType.ORDER_DELETE, event.order))
        rules = self._venue.rules[event.order.pair]
        match = self._match(rules, event.order, event.fill)
        trade = Message(MessageType.USER_TRADE, views.user_trade(rules, event.fill), rules.name)
        return [out for c in conns for out in (Outgoing(c, match), Outgoing(c, trade))]

    @staticmethod
    def _fan_out(conns: Mapping[int, None], message: Message) -> list[Outgoing]:
        return [Outgoing(c, message) for c in conns]

    def _order(self, kind: int, order: Order) -> Message:
        rules = self._venue.rules[order.pair]
        price = order.price if order.price is not None else (order.first_fill_price or _ZERO)
        left = max(order.left, _ZERO)
        if order.sized_in_quote:
            num_left, denom_left = (left / price if price else _ZERO), left
        else:
            num_left, denom_left = left, left * price
        payload = {
            "type": kind,
            "pairId": rules.id,
            "symbol": rules.name,
            "id": order.id,
            "method": _METHODS.get(order.method, 0),
            "userId": self._user_id(order.account),
            "orderType": 0 if order.side == BUY else 1,
            "price": _fixed(price, 16),
            "amount": _fixed(order.quantity, 16),
            "numLeft": _fixed(num_left, 16),
            "denomLeft": _fixed(denom_left, 16),
            "newOrderClientId": order.client_id,
        }
        return Message(kind, payload, rules.name)

    def _match(self, rules: PairRules, order: Order, fill: Fill) -> Message:
        payload = {
            "type": MessageType.USER_ORDER_MATCH,
            "id": order.id,
            "user": self._user_id(order.account),
            "isBid": order.side == BUY,
            "method": _METHODS.get(order.method, 0),
            "pair": rules.id,
            "symbol": rules.name,
            "amount": _fixed(fill.amount, 10),
            "price": _fixed(fill.price, 10),
            "clientId": order.client_id,
        }
        return Message(MessageType.USER_ORDER_MATCH, payload, rules.name)

    # -- trades ------------------------------------------------------------------------

    def _trade_fields(self, trade: PublicTrade, single: bool = False) -> Json:
        fields: Json = {"D": str(trade.timestamp), "I": trade.tid}
        fields["A"], fields["P"] = _fixed(trade.amount, 10), _fixed(trade.price, 10)
        if single:
            fields["PS"] = trade.pair
        buy = self._config.trade_side_buy
        fields["S"] = buy if trade.side == BUY else 1 - buy
        return fields

    def _trade_list(self, pair: str) -> Message:
        trades = self._venue.public_trades.get(pair, ())
        recent = islice(reversed(trades), self._config.trade_list_size)
        payload = {
            "symbol": pair,
            "items": [self._trade_fields(t) for t in recent],
            "channel": "trade",
            "event": pair,
            "type": MessageType.TRADE_LIST,
        }
        return Message(MessageType.TRADE_LIST, payload, pair)

    def _trade_single(self, trade: PublicTrade) -> Message:
        payload = self._trade_fields(trade, single=True)
        payload.update(channel="trade", event=trade.pair, type=MessageType.TRADE_SINGLE)
        return Message(MessageType.TRADE_SINGLE, payload, trade.pair)

    # -- periodic ----------------------------------------------------------------------

    def next_due(self) -> int | None:
        due = [t for t in self._due.values() if t is not None]
        return min(due) if due else None

    def tick(self, now: int) -> list[Outgoing]:
        out: list[Outgoing] = []
        if self._take_due("ticker", now):
            out += self._tickers(now)
        book_due = self._take_due("orderbook", now)
        diff_due = self._take_due("obdiff", now)
        if book_due or diff_due:
            out += self._books(book_due, diff_due)
        return out

    def _take_due(self, channel: str, now: int) -> bool:
        due = self._due[channel]
        if due is None or due > now:
            return False
        interval = self._intervals[channel]
        # Missed periods are skipped, not replayed: a stalled shell gets one batch.
        self._due[channel] = due + interval * ((now - due) // interval + 1)
        return True

    def _tickers(self, now: int) -> list[Outgoing]:
        everyone = self._topics.get(("ticker", "all"))
        out: list[Outgoing] = []
        items: list[Json] = []
        for name, rules in self._venue.rules.items():
            subscribers = self._topics.get(("ticker", name))
            if not subscribers and not everyone:
                continue
            fields = self._ticker_fields(rules, now)
            items.append(fields)
            if subscribers:
                payload = {**fields, "channel": "ticker", "event": name, "type": 402}
                out += self._fan_out(subscribers, Message(MessageType.TICKER_PAIR, payload, name))
        if everyone:
            payload = {"items": items, "channel": "ticker", "event": "all", "type": 401}
            out += self._fan_out(everyone, Message(MessageType.TICKER_ALL, payload))
        return out

    def _ticker_fields(self, rules: PairRules, now: int) -> Json:
        book = self._venue.books[rules.name]
        day = self._day_stats(rules.name, now) if self._day_stats else None
        bid, bid_amount = (book.bids.depth(1) or [(_ZERO, _ZERO)])[0]
        ask, ask_amount = (book.asks.depth(1) or [(_ZERO, _ZERO)])[0]
        last = day.last if day else (self._venue.last_price.get(rules.name) or _ZERO)
        open_ = day.open if day else _ZERO
        daily = last - open_ if open_ else _ZERO
        percent = daily / open_ * 100 if open_ else _ZERO

        def price(value: Decimal) -> str:
            return _fixed(value, rules.quote_scale)

        def amount(value: Decimal) -> str:
            return _fixed(value, rules.base_scale)

        return {
            "B": price(bid),
            "A": price(ask),
            "BA": amount(bid_amount),
            "AA": amount(ask_amount),
            "PS": rules.name,
            "H": price(day.high if day else _ZERO),
            "L": price(day.low if day else _ZERO),
            "LA": price(last),
            "O": price(open_),
            "V": amount(day.volume if day else _ZERO),
            "AV": price(day.average if day else _ZERO),
            "D": price(daily),
            "DP": _fixed(percent, 2),
            "DS": rules.quote,
            "NS": rules.base,
            "PId": rules.id,
            "Ord": rules.order,
        }

    def _books(self, book_due: bool, diff_due: bool) -> list[Outgoing]:
        out: list[Outgoing] = []
        for pair in self._venue.rules:
            full = self._topics.get(("orderbook", pair)) if book_due else None
            diffs = self._topics.get(("obdiff", pair))
            if not full and not (diff_due and diffs):
                continue
            change = self._publish(pair)
            # Any publication moves CS, so obdiff hears of it even off its own cadence.
            if change is not None and diffs:
                asks, bids = change
                diff = self._book_message(MessageType.ORDER_BOOK_DIFF, pair, "obdiff", asks, bids)
                out += self._fan_out(diffs, diff)
            if full:
                out += self._fan_out(full, self._snapshot(pair, "orderbook"))
        return out

    def _publish(self, pair: str) -> tuple[list[Json], list[Json]] | None:
        """Read the pair's book once; on a change, advance CS and return (asks, bids) diffs."""
        if pair not in self._dirty:
            return None
        self._dirty.discard(pair)
        book, depth = self._venue.books[pair], self._config.snapshot_depth
        asks, bids = dict(book.asks.depth(depth)), dict(book.bids.depth(depth))
        state = self._published[pair]
        if asks == state.asks and bids == state.bids:
            return None
        rules = self._venue.rules[pair]
        change = _level_diff(rules, state.asks, asks), _level_diff(rules, state.bids, bids)
        state.asks, state.bids = asks, bids
        state.cs += 1
        state.snapshots.clear()
        return change

    def _snapshot(self, pair: str, channel: str) -> Message:
        """The published state as a 431, built once per channel and changeset."""
        state, rules = self._published[pair], self._venue.rules[pair]
        message = state.snapshots.get(channel)
        if message is None:

            def levels(side: dict[Decimal, Decimal]) -> list[Json]:
                return [
                    {"A": _fixed(a, rules.base_scale), "P": _fixed(p, rules.quote_scale)}
                    for p, a in side.items()
                ]

            asks, bids = levels(state.asks), levels(state.bids)
            message = self._book_message(MessageType.ORDER_BOOK, pair, channel, asks, bids)
            state.snapshots[channel] = message
        return message

    def _book_message(
        self, kind: int, pair: str, channel: str, asks: list[Json], bids: list[Json]
    ) -> Message:
        cs = self._published[pair].cs
        payload = {"CS": cs, "PS": pair, "AO": asks, "BO": bids, "channel": channel}
        payload.update(event=pair, type=kind)
        return Message(kind, payload, pair, cs)


def _level_diff(
    rules: PairRules, old: dict[Decimal, Decimal], new: dict[Decimal, Decimal]
) -> list[Json]:
    """CP 3 for levels gone (with their last amount), then CP 1 new and CP 0 changed."""

    def row(cp: int, price: Decimal, amount: Decimal) -> Json:
        return {
            "CP": cp,
            "P": _fixed(price, rules.quote_scale),
            "A": _fixed(amount, rules.base_scale),
        }

    rows = [row(3, p, a) for p, a in old.items() if p not in new]
    for price, amount in new.items():
        before = old.get(price)
        if before is None:
            rows.append(row(1, price, amount))
        elif before != amount:
            rows.append(row(0, price, amount))
    return rows
