"""The request path's shortcuts answer exactly as the long way round does.

``VenueApp`` sends the front door's own endpoints past Starlette's middleware while the
fault plan is empty; the order body parser skips lower-casing documented keys; order bodies
are read with orjson where it agrees with the reference decoder; the journal writes its
fields out when read; cancels wait in a FIFO beside a heap; a signature is checked against
a keyed HMAC state. Each is compared here with the path it shortcuts.
"""

from __future__ import annotations

import heapq
import json
import random
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from mock_exchange.app import MockExchange, VenueApp, create_app
from mock_exchange.auth import auth_headers, sign, verify, verify_raw
from mock_exchange.clock import VirtualClock
from mock_exchange.errors import FAILED_LIMIT_ORDER, VenueError
from mock_exchange.events import OrderDeleted, PublicTrade
from mock_exchange.journal import Journal
from mock_exchange.parsing import parse_decimal, parse_order_body
from mock_exchange.rest import _ORDER_JSON, Query, _decode_order
from mock_exchange.rules import DEFAULT_PAIRS
from mock_exchange.settings import MockSettings
from mock_exchange.validation import OrderRequest
from mock_exchange.venue import Venue
from mock_exchange.views import quantized, text
from tests.conftest import ADMIN_TOKEN, ALICE, BOB, signed

pytestmark = pytest.mark.anyio

ASGI = Callable[[Scope, Receive, Send], Awaitable[None]]


def _venue(**overrides: Any) -> tuple[MockExchange, VenueApp, VirtualClock]:
    options: dict[str, Any] = {"market": False, "rate_limits": False, "admin_token": ADMIN_TOKEN}
    options.update(overrides)
    settings = MockSettings(**options)
    clock = VirtualClock()
    mock = MockExchange(settings, clock, [ALICE, BOB])
    return mock, create_app(settings, mock=mock), clock


def _long_way(app: VenueApp) -> ASGI:
    """The same app entered through Starlette's own ``__call__``: every middleware layer."""

    async def call(scope: Scope, receive: Receive, send: Send) -> None:
        await Starlette.__call__(app, scope, receive, send)

    return call


def _client(app: ASGI) -> httpx2.AsyncClient:
    transport = httpx2.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx2.AsyncClient(transport=transport, base_url="http://mock.test")


def _answer(response: httpx2.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    return response.status_code, sorted(response.headers.multi_items()), response.content


async def _exchange(client: httpx2.AsyncClient, clock: VirtualClock) -> list[Any]:
    """A session of requests that touches every kind of answer the front door gives."""
    answers: list[Any] = []

    async def send(method: str, path: str, body: Any = None, **kw: Any) -> httpx2.Response:
        headers = kw.pop("headers", signed(ALICE, clock.now_ms()))
        content = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        response = await client.request(method, path, headers=headers, content=content, **kw)
        answers.append((method, path, _answer(response)))
        clock.advance(7)
        return response

    order = {
        "quantity": "0.01",
        "price": "3000000",
        "orderMethod": "limit",
        "orderType": "buy",
        "pairSymbol": "BTCTRY",
        "newOrderClientId": "fast-1",
    }
    placed = await send("POST", "/api/v1/order", order)
    order_id = placed.json()["data"]["id"]
    await send("POST", "/api/v1/order", {k.lower(): v for k, v in order.items()})
    await send("POST", "/API/V1/Order/", {**order, "newOrderClientId": "fast-2"})
    await send("POST", "/api/v1/order", {**order, "quantity": 0.01, "price": 3e6})
    await send("POST", "/api/v1/order", {**order, "extra": {"nested": [1.5]}})
    await send("POST", "/api/v1/order", b'{"quantity": NaN}')
    await send("POST", "/api/v1/order", b"\xef\xbb\xbf{}")
    await send("POST", "/api/v1/order", b"not json")
    await send("POST", "/api/v1/order", {**order, "pairSymbol": "NOPE"})
    await send("POST", "/api/v1/order", {**order, "quantity": "1,5"})
    await send("POST", "/api/v1/order", order, headers={"X-PCK": ALICE.key})
    await send("POST", "/api/v1/order", order, headers={**signed(ALICE, 1), "X-Signature": "x"})
    await send("GET", "/api/v1/openOrders", params={"pairSymbol": "BTCTRY"})
    await send("GET", f"/api/v1/order/{order_id}")
    await send("DELETE", "/api/v1/order", params={"id": str(order_id)})
    await send("DELETE", "/api/v1/order", params={"ID": str(order_id)})
    await send("DELETE", "/api/v1/order", params={"id": "123"})
    await send("DELETE", "/api/v1/order")
    await send("PUT", "/api/v1/order", order)
    await send("GET", "/api/v2/server/time")
    await send("GET", "/api/v2/ticker", params={"pairSymbol": "BTCTRY"})
    await send("GET", "/api/v2/nothing-here")
    await send("GET", "/__admin/journal", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    clock.advance(1_000)
    await send("GET", "/api/v1/allOrders", params={"pairSymbol": "BTCTRY"})
    return answers


async def test_the_shortcut_answers_as_every_middleware_layer_does() -> None:
    fast_mock, fast_app, fast_clock = _venue()
    long_mock, long_app, long_clock = _venue()
    async with _client(fast_app) as fast, _client(_long_way(long_app)) as long:
        fast_answers = await _exchange(fast, fast_clock)
        long_answers = await _exchange(long, long_clock)
    assert fast_answers == long_answers
    assert [e.to_json() for e in fast_mock.journal.entries()] == [
        e.to_json() for e in long_mock.journal.entries()
    ]
    assert [vars_of(o) for o in fast_mock.venue.orders.values()] == [
        vars_of(o) for o in long_mock.venue.orders.values()
    ]


def vars_of(order: Any) -> dict[str, Any]:
    return {name: getattr(order, name) for name in order.__slots__}


async def test_with_a_fault_plan_the_shortcut_stands_aside() -> None:
    from mock_exchange.faults import FaultPlan

    mock, app, _ = _venue()
    rule = {"name": "down", "kind": "http_5xx_before", "status": 503, "every": 1}
    plan = FaultPlan.from_mapping({"seed": 1, "rule": [rule]})
    mock.load_faults(plan)
    async with _client(app) as client:
        response = await client.get("/api/v2/server/time")
    assert response.status_code == 503
    assert [e.kind for e in mock.journal.entries(kinds=["fault_fired"])] == ["fault_fired"]


async def test_an_unexpected_failure_is_the_venues_500_both_ways() -> None:
    answers = []
    for entry in ("fast", "long"):
        mock, app, clock = _venue()

        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("boom")

        mock.venue.submit = broken  # type: ignore[method-assign]
        target: ASGI = app if entry == "fast" else _long_way(app)
        async with _client(target) as client:
            response = await client.post(
                "/api/v1/order",
                headers=signed(ALICE, clock.now_ms()),
                json={"orderType": "buy", "orderMethod": "market", "pairSymbol": "BTCTRY"}
                | {"quantity": "100"},
            )
        answers.append(_answer(response))
    assert answers[0] == answers[1]
    assert answers[0][0] == 500 and json.loads(answers[0][2])["code"] == 500


async def test_a_failure_before_any_answer_is_starlettes_plain_500_both_ways() -> None:
    answers = []
    for entry in ("fast", "long"):
        mock, app, _ = _venue(rate_limits=True)

        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("limiter down")

        mock.limiter.check = broken  # type: ignore[method-assign]
        target: ASGI = app if entry == "fast" else _long_way(app)
        async with _client(target) as client:
            response = await client.get("/api/v2/server/time")
        answers.append(_answer(response))
        with pytest.raises(RuntimeError, match="limiter down"):
            await target(
                {
                    "type": "http",
                    "method": "GET",
                    "path": "/api/v2/server/time",
                    "raw_path": b"/api/v2/server/time",
                    "query_string": b"",
                    "headers": [],
                    "client": ("127.0.0.1", 1),
                },
                _no_body,
                _discard,
            )
    assert answers[0] == answers[1]
    assert answers[0][0] == 500 and answers[0][2] == b"Internal Server Error"


async def _no_body() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _discard(message: object) -> None:
    return None


# -- order bodies ------------------------------------------------------------------------


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        result = call()
    except VenueError as exc:
        return ("refused", exc.status, exc.code, exc.message, exc.details)
    if isinstance(result, OrderRequest):
        return tuple(str(getattr(result, f)) for f in result.__slots__)
    return result


def test_documented_keys_read_as_their_lower_cased_copies_do() -> None:
    rng = random.Random(11)
    values: list[Any] = ["buy", "SELL", 1, "limit", "StopLimit", "market", "btc_try", "BTCTRY"]
    values += ["0.001", "3000000", "1e-3", Decimal("2.5"), 7, None, True, [], "", "x" * 70, "c-1"]
    names = ["orderType", "orderMethod", "pairSymbol", "quantity", "price", "stopPrice"]
    names += ["newOrderClientId"]
    for _ in range(3000):
        body = {n: rng.choice(values) for n in rng.sample(names, rng.randint(3, len(names)))}
        lowered = {k.lower(): v for k, v in body.items()}
        assert _outcome(lambda b=body: parse_order_body(b)) == _outcome(
            lambda b=lowered: parse_order_body(b)
        ), body


def test_decimal_text_is_digits_dot_sign_and_exponent_only() -> None:
    family = FAILED_LIMIT_ORDER
    for good in ["1", "0.001", "+1.5", "-.5", "5.", "1e-3", "1E+2", " 7 "]:
        assert parse_decimal(good, "q", family) == Decimal(good.strip())
    for bad in ["", " ", "1,5", "1_000", "NaN", "Infinity", "\u0661", "1 .5", "0x10"]:
        with pytest.raises(VenueError):
            parse_decimal(bad, "q", family)
    with pytest.raises(VenueError, match="too many decimals"):
        parse_decimal("0.0000000000000000001", "q", family)
    with pytest.raises(VenueError, match="too many decimals"):
        parse_decimal("1.0000000000000000000", "q", family)  # trailing zeros count
    assert parse_decimal("0.0000000000000000000", "q", family) == 0
    for huge in ["1e999999999", "-1E+1000000", Decimal("9e999999999")]:
        with pytest.raises(VenueError, match="out of range"):  # no decimal.Overflow
            parse_decimal(huge, "q", family)


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": "1", "b": 2, "c": true, "d": null}',
        b'{"a": 1, "a": 2}',
        b'{"a": 1.5}',
        b'{"a": 1e5}',
        b'{"a": 18446744073709551616}',
        b'{"a": -9223372036854775809}',
        b'{"a": {"b": 1.5}}',
        b'{"a": [1, 2.5]}',
        b'{"a": "\\ud800"}',
        b"[1, 2]",
        b'"text"',
        b"\xef\xbb\xbf{}",
        b'{"a": NaN}',
        b'{"a": "\xff"}',
        b"",
        b"[" * 5000,
    ],
)
def test_order_bodies_decode_as_the_reference_decoder_reads_them(body: bytes) -> None:
    try:
        expected: Any = _ORDER_JSON.decode(body.decode("utf-8"))
    except (ValueError, RecursionError):
        expected = "refused"
    try:
        got: Any = _decode_order(body)
    except VenueError:
        got = "refused"
    assert repr(got) == repr(expected)


def test_one_query_parameter_reads_as_the_whole_table_does() -> None:
    class Scoped:
        def __init__(self, query: bytes) -> None:
            self.scope = {"query_string": query}

    rng = random.Random(2)
    pieces = ["id", "ID", "Id", "x", "=", "&", "1", "2", "", "a=b", "%20", "+", ";"]
    for _ in range(5000):
        query = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8))).encode()
        for name in ("id", "x", "a"):
            request: Any = Scoped(query)
            assert Query.first(request, name) == Query(request).get(name), (query, name)


# -- signatures --------------------------------------------------------------------------


def test_one_pass_over_the_header_list_reads_what_auth_headers_reads() -> None:
    now = 1_763_700_000_000
    secret = ALICE.secret_bytes
    good = [
        (b"host", b"mock.test"),
        (b"x-pck", ALICE.key.encode()),
        (b"x-stamp", str(now).encode()),
        (b"x-signature", sign(ALICE.key, secret, now).encode()),
    ]
    lists = [
        good,
        [*good, (b"x-pck", b"someone-else")],  # the first of a repeated header counts
        [(b"x-pck", b"someone-else"), *good],
        good[:2],
        [*good[:3], (b"x-signature", b"AAAA")],
        [],
    ]

    def secret_of(key: str) -> bytes | None:
        return secret if key == ALICE.key else None

    for raw in lists:
        assert _outcome(lambda r=raw: verify_raw(r, secret_of, now)) == _outcome(
            lambda r=raw: verify(auth_headers(r), secret_of, now)
        )


def test_a_keyed_signature_state_signs_as_a_fresh_one() -> None:
    rng = random.Random(5)
    for n in range(200):
        secret = rng.randbytes(rng.randint(1, 80))
        stamp = 1_763_700_000_000 + n
        headers = {"x-pck": f"key-{n}", "x-stamp": str(stamp)}
        headers["x-signature"] = sign(f"key-{n}", secret, stamp)
        assert verify(headers, lambda _k, s=secret: s, stamp) == f"key-{n}"
        assert verify(headers, lambda _k, s=secret: bytearray(s), stamp) == f"key-{n}"


# -- the journal and the cancel queue ----------------------------------------------------


def test_journal_fields_are_written_out_as_they_were_when_the_event_happened() -> None:
    sunk: list[dict[str, Any]] = []
    journal = Journal(sink=sunk.append)
    venue = Venue(DEFAULT_PAIRS, random.Random(1))
    venue.subscribe(journal.on_event)
    for account in ("maker", "taker"):
        venue.open_account(account)
        venue.fund(account, "TRY", Decimal("100000000"), 0)
        venue.fund(account, "BTC", Decimal("10"), 0)
    maker = venue.submit(
        "maker", OrderRequest("BTCTRY", "sell", "limit", Decimal("0.5"), Decimal("3000000")), 1
    )
    venue.submit(
        "taker", OrderRequest("BTCTRY", "buy", "limit", Decimal("0.2"), Decimal("3000000")), 2
    )
    venue.cancel("maker", maker.id, 3)
    venue.advance(1_000)
    read = [e.to_json() for e in journal.entries()]
    assert read == sunk == [e.to_json() for e in journal.entries()]
    fills = [e for e in read if e["kind"] == "order_filled" and e["account"] == "maker"]
    assert (fills[0]["left"], fills[0]["status"]) == ("0.3", "Partial")  # as it was then
    closed = [e for e in read if e["kind"] == "order_closed" and e["account"] == "maker"]
    assert (closed[0]["left"], closed[0]["status"]) == ("0.3", "Canceled")
    requested = [e for e in read if e["kind"] == "cancel_requested"]
    assert requested[0]["due"] == 253 and maker.cancel_due is None


def test_cancels_take_effect_in_due_then_id_order_whatever_their_delays() -> None:
    venue = Venue(DEFAULT_PAIRS, random.Random(1))
    closed: list[tuple[int, int]] = []
    venue.subscribe(
        lambda e: closed.append((e.timestamp, e.order.id)) if isinstance(e, OrderDeleted) else None
    )
    venue.open_account("a")
    venue.fund("a", "TRY", Decimal("1000000000"), 0)
    request = OrderRequest("BTCTRY", "buy", "limit", Decimal("0.01"), Decimal("3000000"))
    ids = [venue.submit("a", request, 0).id for _ in range(300)]
    rng = random.Random(3)
    rng.shuffle(ids)
    reference: list[tuple[int, int]] = []  # what one heap of (due, id) would hand out
    expected: list[tuple[int, int]] = []

    def take_due(now: int) -> None:
        while reference and reference[0][0] <= now:
            expected.append(heapq.heappop(reference))

    for n, order_id in enumerate(ids):
        now = n // 3
        delay = rng.choice([None, None, 0, 5, 40, 300])
        take_due(now)  # a cancel first carries out what is due
        venue.cancel("a", order_id, now, delay_ms=delay)
        heapq.heappush(reference, (now + (250 if delay is None else delay), order_id))
        venue.advance(now)
        take_due(now)
        assert venue.next_due() == (reference[0][0] if reference else None)
    venue.advance(10_000)
    expected += sorted(reference)
    assert closed == expected
    assert venue.next_due() is None


def test_a_subscriber_of_some_kinds_sees_only_those_in_turn_with_the_others() -> None:
    venue = Venue(DEFAULT_PAIRS, random.Random(1))
    seen: list[tuple[str, str]] = []
    venue.subscribe(lambda e: seen.append(("all", type(e).__name__)))
    venue.subscribe(lambda e: seen.append(("trades", type(e).__name__)), (PublicTrade,))
    venue.subscribe(lambda e: seen.append(("after", type(e).__name__)))
    for account in ("maker", "taker"):
        venue.open_account(account)
        venue.fund(account, "BTC", Decimal("1"), 0)
    request = OrderRequest("BTCTRY", "sell", "limit", Decimal("0.1"), Decimal("3000000"))
    venue.submit("maker", request, 1)
    venue.fund("taker", "TRY", Decimal("10000000"), 1)
    venue.submit("taker", OrderRequest("BTCTRY", "buy", "market", Decimal("1000")), 2)
    kinds = [kind for who, kind in seen if who == "all"]
    assert [kind for who, kind in seen if who == "after"] == kinds
    assert [kind for who, kind in seen if who == "trades"] == ["PublicTrade"]
    at = seen.index(("trades", "PublicTrade"))
    assert seen[at - 1 : at + 2] == [
        ("all", "PublicTrade"),
        ("trades", "PublicTrade"),
        ("after", "PublicTrade"),
    ]


def test_views_write_decimals_in_plain_notation() -> None:
    for value in ["0", "-0", "1E+2", "1E-8", "0E-8", "123.4500", "3000000", "-0.0000001"]:
        number = Decimal(value)
        assert text(number) == format(number, "f")
        assert quantized(number, 8) == format(number.quantize(Decimal("1e-8")), "f")
    assert quantized(Decimal("0"), 40) == format(Decimal("0").quantize(Decimal("1e-40")), "f")
