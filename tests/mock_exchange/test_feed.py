"""The websocket feed speaks the venue's frames (reference §8), driven by a real venue."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_exchange.candles import CandleStore
from mock_exchange.errors import VenueError
from mock_exchange.feed import Feed, FeedConfig, Outgoing, user_id_of
from mock_exchange.model import Order
from mock_exchange.rules import DEFAULT_PAIRS
from mock_exchange.validation import OrderRequest
from mock_exchange.venue import Venue, VenueConfig

ALICE = "alice-public-key"
BOB = "bob-public-key"
SECRETS = {ALICE: b"alice-secret-bytes", BOB: b"bob-secret-bytes"}
START = 1_700_000_000_000

# Captured payloads from the reference (§8.3, §8.5): the field names and JSON types to match.
SAMPLE_451 = json.loads(
    '{"type":451,"pairId":62,"symbol":"DOTUSDT","id":7968322274,"method":0,"userId":343234,'
    '"orderType":1,"price":"20.97","amount":"1","numLeft":"1","denomLeft":"20.96790299999",'
    '"newOrderClientId":"e3670027-694c-4318-abb8-74112b3bfe7c"}'
)
SAMPLE_452 = json.loads(
    '{"type":452,"pairId":1,"symbol":"BTCTRY","id":155726367,"method":0,"userId":1156034,'
    '"orderType":0,"price":"515000.0000000000000000","amount":"5.0000000000000000",'
    '"numLeft":"5.0000000000000000","denomLeft":"2575257.4989700000000000",'
    '"newOrderClientId":"advanced"}'
)
SAMPLE_441 = json.loads(
    '{"type":441,"id":7968322274,"user":343234,"isBid":false,"method":0,"pair":62,'
    '"symbol":"DOTUSDT","amount":"0.6393864025","price":"20.9700000000",'
    '"clientId":"e3670027-694c-4318-abb8-74112b3bfe7c"}'
)
SAMPLE_423 = json.loads(
    '{"id":1149163839863900657,"orderId":25327923517,"timestamp":1729396570700,'
    '"numeratorSymbol":"APE","denominatorSymbol":"USDT","amount":"-205.24","fee":"-0.10467240",'
    '"tax":"-0.02093448","price":"1.020","orderType":"sell","orderClientId":"xxxxxx",'
    '"preciseAmount":-205.24}'
)
SAMPLE_421_ITEM = json.loads(
    '{"D":"1651204111661","I":"100163785789620803","A":"0.0072834700","P":"586484.0000000000",'
    '"S":0}'
)
SAMPLE_422 = json.loads(
    '{"D":"1651204111661","I":"100163785789620803","A":"0.0072834700","P":"586484.0000000000",'
    '"PS":"BTCTRY","S":1,"channel":"trade","event":"BTCTRY","type":422}'
)
SAMPLE_431 = json.loads(
    '{"CS":942654,"PS":"DOTTRY","AO":[{"A":"2","P":"436.25"}],"BO":[{"A":"1","P":"430.1"}],'
    '"channel":"obdiff","event":"DOTTRY","type":431}'
)
SAMPLE_432 = json.loads(
    '{"CS":2166305,"PS":"FILTRY","AO":[],"BO":[{"CP":3,"P":"583.35","A":"41.843"}],'
    '"channel":"obdiff","event":"FILTRY","type":432}'
)
TICKER_KEYS = {"B", "A", "BA", "AA", "PS", "H", "L", "LA", "O", "V", "AV", "D", "DP", "DS", "NS"}


def shape(payload: dict[str, Any]) -> dict[str, type]:
    return {key: type(value) for key, value in payload.items()}


def signature(key: str, secret: bytes, signed: int | str) -> str:
    digest = hmac.new(secret, f"{key}{signed}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass
class Harness:
    """A venue with two funded accounts and a feed that hears every venue event."""

    venue: Venue
    feed: Feed
    candles: CandleStore
    pushed: list[Outgoing] = field(default_factory=list)
    now: int = START

    def connect(self, conn: int) -> list[Outgoing]:
        return self.feed.connect(conn, self.now)

    def send(self, conn: int, kind: int, **payload: Any) -> list[Outgoing]:
        return self.feed.receive(conn, json.dumps([kind, {"type": kind, **payload}]), self.now)

    def join(self, conn: int, channel: str, event: str, join: bool = True) -> list[Outgoing]:
        return self.send(conn, 151, channel=channel, event=event, join=join)

    def login(
        self, conn: int, key: str = ALICE, nonce: Any = 3000, tamper: dict[str, Any] | None = None
    ) -> Outgoing:
        secret = SECRETS.get(key, b"unknown")
        body = {"publicKey": key, "timestamp": self.now, "nonce": nonce}
        body["signature"] = signature(key, secret, nonce)
        (reply,) = self.send(conn, 114, **{**body, **(tamper or {})})
        return reply

    def submit(
        self,
        account: str,
        side: str,
        qty: str,
        price: str | None = None,
        method: str = "limit",
        pair: str = "BTCTRY",
        stop: str | None = None,
    ) -> Order:
        request = OrderRequest(
            pair, side, method, D(qty), D(price) if price else None, D(stop) if stop else None
        )
        return self.venue.submit(account, request, self.now)

    def cancel(self, account: str, order: Order) -> None:
        """Cancel and let the venue's delay pass; the feed's periodic work is left to ``later``."""
        self.venue.cancel(account, order.id, self.now)
        self.now += self.venue.config.cancel_delay_ms
        self.venue.advance(self.now)

    def later(self, ms: int) -> list[Outgoing]:
        """Let ``ms`` pass: the venue does what is due, then the feed's periodic work."""
        self.now += ms
        self.venue.advance(self.now)
        return self.feed.tick(self.now)

    def take(self) -> list[Outgoing]:
        taken = list(self.pushed)
        self.pushed.clear()
        return taken


Factory = Callable[..., Harness]


def build(**config: Any) -> Harness:
    venue = Venue(DEFAULT_PAIRS, random.Random(3), VenueConfig(cancel_delay_ms=250))
    for account in (ALICE, BOB):
        venue.fund(account, "TRY", D("100000000"), START)
        venue.fund(account, "BTC", D("100"), START)
    candles = CandleStore()
    venue.subscribe(candles.on_event)
    feed = Feed(venue, FeedConfig(**config), SECRETS.get, day_stats=candles.day)
    harness = Harness(venue, feed, candles)
    venue.subscribe(lambda event: harness.pushed.extend(feed.on_event(event, venue.now)))
    return harness


@pytest.fixture
def make_feed() -> Factory:
    """``make_feed(**feed_config)``: a fresh venue, accounts funded, and a feed hearing it."""
    return build


@pytest.fixture
def h(make_feed: Factory) -> Harness:
    return make_feed()


def to(conn: int, outs: Iterable[Outgoing]) -> list[Outgoing]:
    return [o for o in outs if o.conn == conn]


def kinds(outs: Iterable[Outgoing]) -> list[int]:
    return [o.type for o in outs]


def one(kind: int, outs: Iterable[Outgoing]) -> dict[str, Any]:
    (payload,) = [o.payload for o in outs if o.type == kind]
    return payload


# -- connection and subscriptions ----------------------------------------------------------


def test_a_new_connection_hears_the_version_message_first(h: Harness) -> None:
    (greeting,) = h.connect(1)
    assert greeting.conn == 1
    assert greeting.text() == '[991,{"type":991,"current":"5.1.0","min":"2.3.0"}]'


@pytest.mark.parametrize(
    ("channel", "event", "named"),
    [
        ("trade", "BTCTRY", "trade:BTCTRY"),
        ("orderbook", "btc_try", "orderbook:BTCTRY"),
        ("obdiff", "BtcTry", "obdiff:BTCTRY"),
        ("ticker", "all", "ticker:all"),
        ("ticker", "USDT_TRY", "ticker:USDTTRY"),
    ],
)
def test_joins_and_leaves_are_acknowledged_by_channel_and_canonical_pair(
    h: Harness, channel: str, event: str, named: str
) -> None:
    h.connect(1)
    joined = h.join(1, channel, event)
    assert joined[0].frame() == [100, {"type": 100, "ok": True, "message": f"join|{named}"}]
    (left,) = h.join(1, channel, event, join=False)
    assert left.payload == {"type": 100, "ok": True, "message": f"leave|{named}"}


@pytest.mark.parametrize(
    ("channel", "event"),
    [("trade", "DOGETRY"), ("candles", "BTCTRY"), ("ticker", ""), ("tradeview", "BTCTRY_60")],
)
def test_a_join_for_an_unknown_pair_or_channel_is_refused(
    h: Harness, channel: str, event: str
) -> None:
    h.connect(1)
    (refused,) = h.join(1, channel, event)
    assert refused.payload == {"type": 100, "ok": False, "message": f"invalid|{channel}:{event}"}
    assert h.feed.next_due() is None


def test_tslib_private_subscriptions_on_channel_u_are_acknowledged_and_change_nothing(
    h: Harness,
) -> None:
    h.connect(1)
    for event in ("OrderInsert", "orderınsert", "UserTrade"):
        (ack,) = h.join(1, "U", event)
        assert ack.payload == {"type": 100, "ok": True, "message": f"join|U:{event}"}
    h.submit(ALICE, "buy", "0.01", "3900000")
    assert h.take() == []  # private messages need a login, not a subscription


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "{}",
        "[151]",
        "[151, {}, 3]",
        "[151, []]",
        '["151", {"channel": "trade", "event": "BTCTRY", "join": true}]',
        '[true, {"channel": "trade", "event": "BTCTRY", "join": true}]',
        '[151, {"channel": "trade", "event": "BTCTRY"}]',
        '[151, {"channel": "trade", "event": "BTCTRY", "join": 1}]',
        '[151, {"channel": ["trade"], "event": "BTCTRY", "join": true}]',
        '[151, {"channel": "trade", "event": null, "join": true}]',
        '[999, {"type": 999}]',
        '[113, {"type": 113}]',
        '[101, {"code": "421", "channel": "trade", "event": "BTCTRY"}]',
        '[101, {"code": 421, "channel": "trade", "event": 5}]',
        '[101, {"code": 431, "channel": "orderbook", "event": "BTCTRY"}]',
        "[" * 100_000,
        b"\xff\xfe[151]",
    ],
)
def test_frames_the_venue_would_not_understand_are_ignored(h: Harness, text: str | bytes) -> None:
    h.connect(1)
    assert h.feed.receive(1, text, h.now) == []
    assert h.feed.next_due() is None


def test_strings_that_cannot_be_encoded_are_answered_without_raising(h: Harness) -> None:
    h.connect(1)
    lone_surrogate = r'"\ud800"'
    (refused,) = h.feed.receive(
        1, f'[151,{{"channel":"trade","event":{lone_surrogate},"join":true}}]', h.now
    )
    assert json.loads(refused.text())[1]["ok"] is False
    (login,) = h.feed.receive(
        1, f'[114,{{"publicKey":{lone_surrogate},"nonce":3000,"signature":"x"}}]', h.now
    )
    assert login.payload["message"] == "Unauthorized - Invalid Public key"


def test_frames_from_a_connection_never_made_or_already_gone_are_ignored(h: Harness) -> None:
    assert h.join(7, "trade", "BTCTRY") == []
    h.connect(7)
    h.join(7, "orderbook", "BTCTRY")
    h.login(7)
    h.feed.disconnect(7)
    h.feed.disconnect(7)  # twice is harmless
    assert h.join(7, "trade", "BTCTRY") == []
    h.submit(ALICE, "buy", "0.01", "3900000")
    assert h.take() == []
    assert h.later(1_000) == []
    assert h.feed.next_due() is None


# -- login -------------------------------------------------------------------------------------


def test_a_login_signed_over_key_and_nonce_is_accepted(h: Harness) -> None:
    h.connect(1)
    reply = h.login(1, ALICE, nonce=3000)
    assert reply.frame() == [114, {"type": 114, "ok": True, "id": 0, "message": None}]
    assert reply.text() == '[114,{"type":114,"ok":true,"id":0,"message":null}]'


@pytest.mark.parametrize(
    ("key", "nonce", "tamper", "message"),
    [
        ("someone-else", 3000, {}, "Unauthorized - Invalid Public key"),
        (ALICE, 3000, {"publicKey": None}, "Unauthorized - Invalid Public key"),
        (ALICE, 3000, {"publicKey": ""}, "Unauthorized - Invalid Public key"),
        (ALICE, 99, {}, "Unauthorized - Invalid Request"),
        (ALICE, 60_001, {}, "Unauthorized - Invalid Request"),
        (ALICE, START, {}, "Unauthorized - Invalid Request"),  # a ms timestamp (ISS#590)
        (ALICE, "3000", {}, "Unauthorized - Invalid Request"),
        (ALICE, 3000.0, {}, "Unauthorized - Invalid Request"),
        (ALICE, True, {}, "Unauthorized - Invalid Request"),
        (ALICE, 3000, {"nonce": None}, "Unauthorized - Invalid Request"),
        (ALICE, 3000, {"signature": "AAAA"}, "Unauthorized - Invalid Signature"),
        (ALICE, 3000, {"signature": None}, "Unauthorized - Invalid Signature"),
        (
            ALICE,
            3000,
            {"signature": signature(BOB, SECRETS[BOB], 3000)},
            "Unauthorized - Invalid Signature",
        ),
        (
            ALICE,
            3000,
            {"signature": signature(ALICE, SECRETS[ALICE], START)},
            "Unauthorized - Invalid Signature",
        ),  # signed the timestamp, as DOGA does
    ],
)
def test_a_bad_login_is_refused_with_the_reason_and_hears_nothing_private(
    h: Harness, key: str, nonce: Any, tamper: dict[str, Any], message: str
) -> None:
    h.connect(1)
    reply = h.login(1, key, nonce, tamper)
    assert reply.payload == {"type": 114, "ok": False, "id": 0, "message": message}
    h.submit(ALICE, "buy", "0.01", "3900000")
    assert h.take() == []


def test_the_nonce_window_is_inclusive_and_configurable(make_feed: Factory) -> None:
    h = make_feed(login_nonce_min=10, login_nonce_max=20)
    h.connect(1)
    assert [h.login(1, ALICE, n).payload["ok"] for n in (9, 10, 20, 21)] == [
        False,
        True,
        True,
        False,
    ]


# -- private messages ----------------------------------------------------------------------


def test_an_order_insert_reaches_only_the_owners_logged_in_connections(h: Harness) -> None:
    for conn in (1, 2, 3, 4):
        h.connect(conn)
    h.login(1, ALICE)
    h.login(2, ALICE)
    h.login(3, BOB)
    order = h.submit(ALICE, "buy", "0.01", "3900000")
    pushed = h.take()
    assert [(o.conn, o.type) for o in pushed] == [(1, 451), (2, 451)]
    assert pushed[0].payload["id"] == order.id


def test_a_second_login_moves_the_connection_to_the_new_account(h: Harness) -> None:
    h.connect(1)
    h.login(1, ALICE)
    h.login(1, BOB)
    h.submit(ALICE, "buy", "0.01", "3900000")
    assert h.take() == []
    h.submit(BOB, "buy", "0.01", "3900000")
    assert kinds(h.take()) == [451]


def test_order_insert_and_delete_have_the_reference_fields_and_types(h: Harness) -> None:
    h.connect(1)
    h.login(1, ALICE)
    order = h.submit(ALICE, "sell", "0.5", "4100000")
    inserted = one(451, h.take())
    assert shape(inserted) == shape(SAMPLE_451)
    assert inserted == {
        "type": 451,
        "pairId": 1,
        "symbol": "BTCTRY",
        "id": order.id,
        "method": 0,
        "userId": user_id_of(ALICE),
        "orderType": 1,
        "price": "4100000.0000000000000000",
        "amount": "0.5000000000000000",
        "numLeft": "0.5000000000000000",
        "denomLeft": "2050000.0000000000000000",
        "newOrderClientId": order.client_id,
    }
    h.submit(BOB, "buy", "0.2", "4100000")
    h.take()
    h.cancel(ALICE, order)
    deleted = one(452, h.take())
    assert shape(deleted) == shape(SAMPLE_452)
    assert (deleted["id"], deleted["numLeft"], deleted["denomLeft"]) == (
        order.id,
        "0.3000000000000000",
        "1230000.0000000000000000",
    )


@pytest.mark.parametrize(
    ("side", "method", "price", "stop", "order_type", "method_code"),
    [
        ("buy", "limit", "3900000", None, 0, 0),
        ("sell", "market", None, None, 1, 1),
        ("sell", "stoplimit", "3700000", "3800000", 1, 2),
        ("buy", "stopmarket", None, "4200000", 0, 3),
    ],
)
def test_order_type_and_method_are_the_reference_integers(
    h: Harness,
    side: str,
    method: str,
    price: str | None,
    stop: str | None,
    order_type: int,
    method_code: int,
) -> None:
    h.submit(BOB, "buy", "1", "3950000")  # liquidity on both sides for the market order
    h.submit(BOB, "sell", "1", "4050000")
    h.connect(1)
    h.login(1, ALICE)
    qty = "10000" if side == "buy" and method == "stopmarket" else "0.1"
    h.submit(ALICE, side, qty, price, method, stop=stop)
    inserted = one(451, h.take())
    assert (inserted["orderType"], inserted["method"]) == (order_type, method_code)


def test_each_match_sends_441_then_423_to_each_side(h: Harness) -> None:
    h.connect(1)
    h.login(1, ALICE)
    h.connect(2)
    h.login(2, BOB)
    resting = h.submit(ALICE, "sell", "0.5", "4000000")
    h.submit(ALICE, "sell", "0.5", "4000100")
    h.take()
    taker = h.submit(BOB, "buy", "0.7", "4000100")
    pushed = h.take()
    assert kinds(to(1, pushed)) == [441, 423, 452, 441, 423]
    assert kinds(to(2, pushed)) == [451, 441, 423, 441, 423, 452]

    alice_match = to(1, pushed)[0].payload
    assert shape(alice_match) == shape(SAMPLE_441)
    assert alice_match == {
        "type": 441,
        "id": resting.id,  # the order id, not a trade id
        "user": user_id_of(ALICE),
        "isBid": False,
        "method": 0,
        "pair": 1,
        "symbol": "BTCTRY",
        "amount": "0.5000000000",
        "price": "4000000.0000000000",
        "clientId": resting.client_id,
    }
    bob_second = to(2, pushed)[3].payload
    assert (bob_second["id"], bob_second["isBid"], bob_second["amount"]) == (
        taker.id,
        True,
        "0.2000000000",
    )
    alice_trade = to(1, pushed)[1].payload
    assert shape(alice_trade) == shape(SAMPLE_423)
    assert (alice_trade["orderId"], alice_trade["amount"], alice_trade["orderType"]) == (
        resting.id,
        "-0.50000000",
        "sell",
    )
    assert to(1, pushed)[1].frame()[0] == 423 and "type" not in alice_trade


def test_a_cancel_is_confirmed_by_452_only_after_the_cancel_delay(h: Harness) -> None:
    h.connect(1)
    h.login(1, ALICE)
    order = h.submit(ALICE, "buy", "0.01", "3900000")
    h.take()
    h.venue.cancel(ALICE, order.id, h.now)
    assert h.take() == []
    h.later(250)
    deleted = one(452, h.take())
    assert deleted["id"] == order.id
    assert set(deleted) == set(SAMPLE_452)


def test_452_on_a_full_fill_can_be_turned_off(make_feed: Factory) -> None:
    h = make_feed(delete_on_fill=False)
    h.connect(1)
    h.login(1, ALICE)
    h.submit(ALICE, "sell", "0.1", "4000000")
    h.submit(BOB, "buy", "0.1", "4000000")
    assert kinds(h.take()) == [451, 441, 423]


# -- trades ------------------------------------------------------------------------------------


def test_joining_trade_sends_recent_trades_newest_first_then_each_new_trade(h: Harness) -> None:
    h.submit(ALICE, "sell", "1", "4000000")
    h.now += 5
    h.submit(BOB, "buy", "0.1", "4000000")
    h.now += 5
    h.submit(BOB, "buy", "0.2", "4000000")
    h.connect(1)
    ack, listing = h.join(1, "trade", "btc_try")
    assert (ack.type, listing.type) == (100, 421)
    assert set(listing.payload) == {"symbol", "items", "channel", "event", "type"}
    assert (listing.payload["symbol"], listing.payload["event"]) == ("BTCTRY", "BTCTRY")
    items = listing.payload["items"]
    assert [shape(i) for i in items] == [shape(SAMPLE_421_ITEM)] * 2
    assert [(i["A"], i["D"]) for i in items] == [
        ("0.2000000000", str(START + 10)),
        ("0.1000000000", str(START + 5)),
    ]
    h.take()
    h.submit(BOB, "buy", "0.3", "4000000")
    (single,) = [o for o in h.take() if o.conn == 1]
    assert shape(single.payload) == shape(SAMPLE_422)
    trade = h.venue.public_trades["BTCTRY"][-1]
    assert single.payload == {
        "D": str(h.now),
        "I": trade.tid,
        "A": "0.3000000000",
        "P": "4000000.0000000000",
        "PS": "BTCTRY",
        "S": 0,
        "channel": "trade",
        "event": "BTCTRY",
        "type": 422,
    }


@pytest.mark.parametrize(("buy", "sell"), [(0, 1), (1, 0)])
def test_the_trade_side_follows_the_configured_meaning_of_buy(
    make_feed: Factory, buy: int, sell: int
) -> None:
    h = make_feed(trade_side_buy=buy)
    h.connect(1)
    h.join(1, "trade", "BTCTRY")
    h.submit(ALICE, "sell", "0.1", "4000000")
    h.submit(BOB, "buy", "0.1", "4000000")  # the taker buys
    h.submit(ALICE, "buy", "0.1", "3990000")
    h.submit(BOB, "sell", "0.1", "3990000")  # the taker sells
    assert [o.payload["S"] for o in h.take() if o.type == 422] == [buy, sell]


def test_the_trade_list_holds_at_most_trade_list_size_trades(make_feed: Factory) -> None:
    h = make_feed(trade_list_size=3)
    h.submit(ALICE, "sell", "1", "4000000")
    for _ in range(5):
        h.submit(BOB, "buy", "0.01", "4000000")
    h.connect(1)
    _, listing = h.join(1, "trade", "BTCTRY")
    tids = [t.tid for t in h.venue.public_trades["BTCTRY"]]
    assert [i["I"] for i in listing.payload["items"]] == tids[::-1][:3]


def test_a_101_request_resends_the_trade_list_and_nothing_else(h: Harness) -> None:
    h.submit(ALICE, "sell", "1", "4000000")
    h.submit(BOB, "buy", "0.01", "4000000")
    h.connect(1)
    (again,) = h.send(1, 101, code=421, channel="trade", event="BTC_TRY")
    assert again.type == 421 and len(again.payload["items"]) == 1
    assert h.send(1, 101, code=421, channel="trade", event="NOPE") == []


def test_a_trade_stops_reaching_a_connection_that_left(h: Harness) -> None:
    h.connect(1)
    h.join(1, "trade", "BTCTRY")
    h.join(1, "trade", "BTCTRY", join=False)
    h.submit(ALICE, "sell", "0.1", "4000000")
    h.submit(BOB, "buy", "0.1", "4000000")
    assert h.take() == []


# -- order book --------------------------------------------------------------------------------


def levels(rows: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(r["P"], r["A"]) for r in rows]


def test_orderbook_sends_a_snapshot_at_once_and_then_every_period(h: Harness) -> None:
    h.submit(ALICE, "buy", "0.1", "3990000")
    h.submit(ALICE, "sell", "0.2", "4010000")
    h.connect(1)
    _, first = h.join(1, "orderbook", "BTCTRY")
    assert first.type == 431 and shape(first.payload) == shape(SAMPLE_431)
    assert levels(first.payload["BO"]) == [("3990000.00", "0.10000000")]
    assert levels(first.payload["AO"]) == [("4010000.00", "0.20000000")]
    assert (first.payload["channel"], first.payload["PS"]) == ("orderbook", "BTCTRY")
    assert h.feed.next_due() == h.now + 750
    assert h.later(749) == []
    (again,) = h.later(1)
    assert again.type == 431 and again.payload["CS"] == first.payload["CS"]  # nothing changed
    h.submit(ALICE, "buy", "0.1", "3980000")
    (changed,) = h.later(750)
    assert changed.payload["CS"] == first.payload["CS"] + 1
    assert levels(changed.payload["BO"])[1] == ("3980000.00", "0.10000000")


def test_obdiff_sends_one_432_per_batch_with_cs_plus_one_and_cp_values(h: Harness) -> None:
    kept = h.submit(ALICE, "buy", "0.1", "3990000")
    gone = h.submit(ALICE, "buy", "0.3", "3980000")
    h.connect(1)
    _, snapshot = h.join(1, "obdiff", "BTCTRY")
    assert (snapshot.type, snapshot.payload["channel"]) == (431, "obdiff")
    cs = snapshot.payload["CS"]

    h.submit(BOB, "buy", "0.1", "3990000")  # the 3,990,000 level grows
    h.submit(BOB, "buy", "0.05", "3995000")  # a new level
    h.submit(BOB, "sell", "0.4", "4020000")  # a new ask
    h.cancel(ALICE, gone)  # the 3,980,000 level goes
    assert kept.is_open
    (diff,) = h.later(0)  # the cancel delay was one obdiff period
    assert shape(diff.payload) == shape(SAMPLE_432)
    assert (diff.type, diff.payload["CS"], diff.cs, diff.pair) == (432, cs + 1, cs + 1, "BTCTRY")
    assert diff.payload["BO"] == [
        {"CP": 3, "P": "3980000.00", "A": "0.30000000"},
        {"CP": 1, "P": "3995000.00", "A": "0.05000000"},
        {"CP": 0, "P": "3990000.00", "A": "0.20000000"},  # the new absolute amount
    ]
    assert diff.payload["AO"] == [{"CP": 1, "P": "4020000.00", "A": "0.40000000"}]
    assert h.later(250) == []  # nothing changed, nothing sent
    h.submit(BOB, "sell", "0.1", "4030000")
    (next_diff,) = h.later(250)
    assert next_diff.payload["CS"] == cs + 2
    assert next_diff.payload["BO"] == []


def test_levels_crossing_the_snapshot_depth_are_deleted_and_new(make_feed: Factory) -> None:
    h = make_feed(snapshot_depth=2)
    h.submit(ALICE, "buy", "0.1", "3990000")
    h.submit(ALICE, "buy", "0.2", "3980000")
    h.submit(ALICE, "buy", "0.3", "3970000")
    h.connect(1)
    _, snapshot = h.join(1, "obdiff", "BTCTRY")
    assert [p for p, _ in levels(snapshot.payload["BO"])] == ["3990000.00", "3980000.00"]
    h.submit(ALICE, "buy", "0.4", "3995000")  # pushes 3,980,000 out of the top two
    (diff,) = h.later(250)
    assert diff.payload["BO"] == [
        {"CP": 3, "P": "3980000.00", "A": "0.20000000"},
        {"CP": 1, "P": "3995000.00", "A": "0.40000000"},
    ]
    h.submit(BOB, "sell", "0.4", "3995000")  # takes it; 3,980,000 is back in view
    (diff,) = h.later(250)
    assert diff.payload["BO"] == [
        {"CP": 3, "P": "3995000.00", "A": "0.40000000"},
        {"CP": 1, "P": "3980000.00", "A": "0.20000000"},
    ]


def test_one_payload_serves_every_subscriber(h: Harness) -> None:
    for conn in (1, 2, 3):
        h.connect(conn)
        h.join(conn, "obdiff", "BTCTRY")
    h.submit(ALICE, "buy", "0.1", "3990000")
    first, *others = h.later(250)
    assert [o.conn for o in (first, *others)] == [1, 2, 3]
    assert all(o.message is first.message for o in others)
    assert json.loads(first.text()) == first.frame()


def test_a_late_joiner_gets_the_published_book_and_the_next_diff_applies_to_it(
    h: Harness,
) -> None:
    h.connect(1)
    h.join(1, "obdiff", "BTCTRY")
    h.submit(ALICE, "buy", "0.1", "3990000")
    h.now += 100  # between two batches
    h.connect(2)
    _, late = h.join(2, "obdiff", "BTCTRY")
    assert late.payload["BO"] == []  # the published state, not yet the new order
    to_first, to_late = h.later(150)
    assert to_first.message is to_late.message
    assert to_late.payload["CS"] == late.payload["CS"] + 1
    assert to_late.payload["BO"] == [{"CP": 1, "P": "3990000.00", "A": "0.10000000"}]


def test_a_change_published_for_orderbook_reaches_obdiff_without_a_gap(
    make_feed: Factory,
) -> None:
    h = make_feed(orderbook_interval_ms=100, obdiff_interval_ms=1_000)
    h.connect(1)
    h.connect(2)
    h.join(1, "orderbook", "BTCTRY")
    _, start = h.join(2, "obdiff", "BTCTRY")
    h.submit(ALICE, "buy", "0.1", "3990000")
    published = h.later(100)
    assert sorted(kinds(published)) == [431, 432]
    assert {o.payload["CS"] for o in published} == {start.payload["CS"] + 1}


def test_stop_orders_are_not_in_the_book_until_triggered(h: Harness) -> None:
    h.submit(ALICE, "sell", "1", "4000000")
    h.connect(1)
    h.join(1, "obdiff", "BTCTRY")
    h.submit(BOB, "sell", "0.1", "3800000", "stoplimit", stop="3900000")
    assert h.later(250) == []


# -- tickers -----------------------------------------------------------------------------------


def test_a_pair_ticker_carries_its_values_as_strings(h: Harness) -> None:
    h.submit(ALICE, "sell", "1", "4000000")
    h.submit(BOB, "buy", "0.5", "4000000")
    h.now += 60_000
    h.submit(BOB, "buy", "0.5", "4000000")
    h.submit(ALICE, "buy", "0.25", "3900000")
    h.submit(ALICE, "sell", "0.75", "4100000")
    h.connect(1)
    assert h.join(1, "ticker", "BTCTRY")[1:] == []  # tickers arrive on their period
    (ticker,) = h.later(750)
    payload = ticker.payload
    assert set(payload) == TICKER_KEYS | {"PId", "Ord", "channel", "event", "type"}
    assert all(isinstance(payload[k], str) for k in TICKER_KEYS)
    assert (payload["PId"], payload["Ord"], payload["type"]) == (1, 1000, 402)
    assert payload["event"] == "BTCTRY" and payload["channel"] == "ticker"
    assert (payload["B"], payload["BA"], payload["A"], payload["AA"]) == (
        "3900000.00",
        "0.25000000",
        "4100000.00",
        "0.75000000",
    )
    assert (payload["LA"], payload["O"], payload["V"]) == ("4000000.00", "4000000.00", "1.00000000")
    assert (payload["D"], payload["DP"], payload["NS"], payload["DS"]) == (
        "0.00",
        "0.00",
        "BTC",
        "TRY",
    )


def test_ticker_all_lists_every_pair_in_one_401(h: Harness) -> None:
    h.connect(1)
    h.join(1, "ticker", "all")
    (everything,) = h.later(750)
    assert everything.type == 401
    assert set(everything.payload) == {"items", "channel", "event", "type"}
    assert [i["PS"] for i in everything.payload["items"]] == [p.name for p in DEFAULT_PAIRS]
    assert all(set(i) == TICKER_KEYS | {"PId", "Ord"} for i in everything.payload["items"])


def test_without_day_stats_the_ticker_shows_the_last_price(h: Harness) -> None:
    feed = Feed(h.venue, FeedConfig(), SECRETS.get)
    h.submit(ALICE, "sell", "1", "4000000")
    h.submit(BOB, "buy", "0.5", "4000000")
    feed.connect(1, h.now)
    feed.receive(1, '[151,{"type":151,"channel":"ticker","event":"BTCTRY","join":true}]', h.now)
    (ticker,) = feed.tick(h.now + 750)
    assert (ticker.payload["LA"], ticker.payload["V"]) == ("4000000.00", "0.00000000")


# -- scheduling --------------------------------------------------------------------------------


def test_next_due_follows_the_periodic_subscriptions(h: Harness) -> None:
    h.connect(1)
    assert h.feed.next_due() is None
    h.join(1, "trade", "BTCTRY")  # trades are pushed, not periodic
    assert h.feed.next_due() is None
    h.join(1, "obdiff", "BTCTRY")
    assert h.feed.next_due() == h.now + 250
    h.join(1, "ticker", "all")
    assert h.feed.next_due() == h.now + 250
    h.join(1, "obdiff", "BTCTRY", join=False)
    assert h.feed.next_due() == h.now + 750
    h.feed.disconnect(1)
    assert h.feed.next_due() is None


def test_a_stalled_shell_gets_one_batch_not_a_backlog(h: Harness) -> None:
    h.connect(1)
    h.join(1, "orderbook", "BTCTRY")
    assert len(h.later(10_000)) == 1
    assert h.feed.next_due() == START + 750 * 14


def test_user_ids_are_stable_positive_and_distinct() -> None:
    assert user_id_of(ALICE) == user_id_of(ALICE)
    assert user_id_of(ALICE) != user_id_of(BOB)
    assert 0 < user_id_of("") < 10_000_000


@pytest.mark.parametrize(
    "bad",
    [
        {"obdiff_interval_ms": 0},
        {"snapshot_depth": 0},
        {"trade_side_buy": 2},
        {"login_nonce_min": 10, "login_nonce_max": 9},
        {"trade_list_size": -1},
    ],
)
def test_a_nonsensical_config_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FeedConfig(**bad)


# -- property: the diffs rebuild the book ----------------------------------------------------

sides = st.sampled_from(["buy", "sell"])
pauses = st.integers(0, 400)  # ms after each operation: batches hold zero, one or more
operations = st.lists(
    st.one_of(
        st.tuples(st.just("limit"), sides, st.integers(-6, 6), st.integers(1, 5), pauses),
        st.tuples(st.just("market"), sides, st.integers(1, 8), st.just(0), pauses),
        st.tuples(st.just("cancel"), st.just(""), st.integers(0, 50), st.just(0), pauses),
    ),
    min_size=10,
    max_size=80,
)


class Client:
    """A bot's local book: reset by each 431, patched by each 432, watching CS."""

    def __init__(self) -> None:
        self.asks: dict[str, str] = {}
        self.bids: dict[str, str] = {}
        self.cs: int | None = None

    def hear(self, outs: Iterable[Outgoing]) -> None:
        for out in outs:
            p = out.payload
            if out.type == 431:
                self.asks, self.bids = dict(levels(p["AO"])), dict(levels(p["BO"]))
            elif out.type == 432:
                assert self.cs is not None and p["CS"] == self.cs + 1, "a gap in CS"
                for side, rows in ((self.asks, p["AO"]), (self.bids, p["BO"])):
                    for row in rows:
                        if row["CP"] == 3:
                            assert side.pop(row["P"]) == row["A"]
                        else:
                            assert (row["P"] in side) == (row["CP"] == 0)
                            side[row["P"]] = row["A"]
            else:
                continue
            self.cs = p["CS"]


@settings(max_examples=100)
@given(ops=operations, depth=st.sampled_from([3, 50]))
def test_replaying_432s_on_the_431_rebuilds_the_venues_book(
    ops: list[tuple[str, str, int, int, int]], depth: int
) -> None:
    h = build(snapshot_depth=depth)
    h.submit(ALICE, "buy", "0.1", "3999000")
    h.submit(ALICE, "sell", "0.1", "4001000")
    client = Client()
    h.connect(1)
    client.hear(h.join(1, "obdiff", "BTCTRY"))
    placed: list[Order] = []
    for kind, side, x, y, pause in ops:
        account = ALICE if x % 2 else BOB
        try:
            if kind == "limit":
                price = str(4_000_000 + 1_000 * x)
                placed.append(h.submit(account, side, f"0.0{y}", price))
            elif kind == "market":
                qty = str(2_000 * x) if side == "buy" else f"0.00{x}"
                h.submit(account, side, qty, method="market")
            elif kind == "cancel" and placed:
                order = placed[x % len(placed)]
                h.venue.cancel(order.account, order.id, h.now)
        except VenueError:
            pass  # a refused order changes nothing
        client.hear(h.later(pause))
    client.hear(h.later(1_000))

    book = h.venue.books["BTCTRY"]

    def expected(side: Any) -> dict[str, str]:
        return {f"{p:.2f}": f"{a:.8f}" for p, a in side.depth(depth)}

    assert (client.asks, client.bids) == (expected(book.asks), expected(book.bids))
    h.connect(2)
    fresh = Client()
    fresh.hear(h.join(2, "obdiff", "BTCTRY"))
    assert (fresh.asks, fresh.bids, fresh.cs) == (client.asks, client.bids, client.cs)
