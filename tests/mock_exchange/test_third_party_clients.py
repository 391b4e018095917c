"""Third-party BTCTurk clients against the real mock server, configured with nothing but its
base URL and an account's key and secret: ccxt's ``btcturk`` (as ALICE) and outlier-1's
``btcturk_api`` (as BOB) list markets, read tickers, books, trades and balances, place,
list, look up and cancel orders, and read their own fills.

Where a client departs from the venue's contract, the test does what that client's user
would have to do on the real venue too, and says why; the mock is not bent to suit it:

- ccxt sends the client id as ``newClientOrderId``; the venue documents ``newOrderClientId``
  and the mock honours only that (reference §5.5), so the id goes in ``params`` under the
  documented name.
- ccxt's ``create_order('market', 'buy', amount)`` sends ``amount`` as ``quantity``, which the
  venue reads in quote currency for a market buy (§5.5): the amount given here is TRY.
- ccxt takes price precision from ``denominatorScale`` and ignores ``hasFraction: false``
  (§4.2), so it would let a fractional BTCTRY price through to a 1126 refusal: prices here
  are whole numbers.
- ccxt's ``cancel_order`` returns an empty order: the venue's cancel answers with no data
  and finishes later (§5.6), so the tests wait for the order to leave the open orders.
- ccxt's ``fetch_ohlcv`` without ``since`` sends a negative ``from`` (minus 99 periods);
  the mock reads it as "from the start".
- btcturk_api stamps whole seconds (accepted, §2.2) but reads the clock twice, once for the
  signature and once for ``X-Stamp``: a request that straddles a second boundary fails its
  signature, on the venue as on the mock. It is rare enough not to work around.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, TypeVar

import ccxt
import pytest
from btcturk_api.client import Client

from tests.conftest import ALICE, BOB, LiveServer

pytestmark = pytest.mark.slow

T = TypeVar("T")

# What the venue publishes for its four pairs: (numeratorScale, denominatorScale, hasFraction).
PAIRS = {
    "BTCTRY": (8, 2, False),
    "ETHTRY": (8, 2, False),
    "USDTTRY": (2, 3, True),
    "BTCUSDT": (8, 2, True),
}
SYMBOLS = {"BTCTRY": "BTC/TRY", "ETHTRY": "ETH/TRY", "USDTTRY": "USDT/TRY", "BTCUSDT": "BTC/USDT"}
FUNDED = {
    "TRY": Decimal("10000000"),
    "BTC": Decimal("5"),
    "ETH": Decimal("50"),
    "USDT": Decimal("100000"),
}
CANCEL_SETTLES_S = 2.0  # the mock's cancel takes effect 250 ms after it is accepted
MARKET_BUY_TRY = Decimal("250")


def eventually(probe: Callable[[], T | None], timeout: float = 10.0, what: str = "") -> T:
    """The first truthy value ``probe`` returns within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what or probe}")
        time.sleep(0.1)


def resting_price(best_bid: Decimal) -> Decimal:
    """A whole-number bid a fifth below the touch: it rests and nothing fills it."""
    return (best_bid * Decimal("0.8")).to_integral_value()


def client_id(name: str) -> str:
    return f"{name}-{time.monotonic_ns()}"


# -- ccxt ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exchange(live_server: LiveServer) -> ccxt.btcturk:
    exchange = ccxt.btcturk({"apiKey": ALICE.key, "secret": ALICE.secret, "timeout": 10_000})
    base = live_server.base_url
    exchange.urls["api"] = {
        "public": f"{base}/api/v2",
        "private": f"{base}/api/v1",
        "graph": f"{base}/v1",
    }
    exchange.load_markets()
    return exchange


def ccxt_best_bid(exchange: ccxt.btcturk, symbol: str = "BTC/TRY") -> Decimal:
    book = eventually(
        lambda: (b := exchange.fetch_order_book(symbol))["bids"] and b, what="a bid on the book"
    )
    return Decimal(str(book["bids"][0][0]))


def ccxt_open_ids(exchange: ccxt.btcturk, symbol: str = "BTC/TRY") -> set[str]:
    return {o["id"] for o in exchange.fetch_open_orders(symbol)}


@pytest.fixture
def ccxt_resting_buy(exchange: ccxt.btcturk) -> Iterator[tuple[dict[str, Any], str]]:
    """A limit buy well below the market, with the client id sent under the venue's name;
    cancelled afterwards (a repeated cancel of a cancelled order succeeds, §5.6)."""
    wanted = client_id("ccxt")
    price = resting_price(ccxt_best_bid(exchange))
    order = exchange.create_order(
        "BTC/TRY", "limit", "buy", 0.001, float(price), {"newOrderClientId": wanted}
    )
    yield order, wanted
    with contextlib.suppress(ccxt.BaseError):
        exchange.cancel_order(order["id"], "BTC/TRY")


@pytest.fixture(scope="module")
def ccxt_market_buy(exchange: ccxt.btcturk) -> dict[str, Any]:
    """A market buy of 250 TRY of BTC; ``amount`` is quote currency for a market buy (§5.5)."""
    ccxt_best_bid(exchange)  # the market is up
    return exchange.create_order("BTC/TRY", "market", "buy", float(MARKET_BUY_TRY))


def test_ccxt_lists_the_four_markets_with_the_venues_precision(exchange: ccxt.btcturk) -> None:
    markets = exchange.fetch_markets()
    by_id = {m["id"]: m for m in markets}
    assert set(PAIRS) <= set(by_id)
    for pair_id, (amount_scale, price_scale, _) in PAIRS.items():
        market = by_id[pair_id]
        assert market["symbol"] == SYMBOLS[pair_id]
        assert market["active"] and market["spot"]
        assert market["precision"] == {
            "amount": 10.0**-amount_scale,
            "price": 10.0**-price_scale,
        }
    assert by_id["BTCTRY"]["limits"]["cost"]["min"] == 99.91


def test_ccxt_reads_one_ticker_and_all_tickers(exchange: ccxt.btcturk) -> None:
    ticker = eventually(
        lambda: (t := exchange.fetch_ticker("BTC/TRY"))["last"] and t, what="a BTCTRY trade"
    )
    assert ticker["symbol"] == "BTC/TRY"
    assert 0 < ticker["bid"] < ticker["ask"]
    assert ticker["low"] <= ticker["last"] <= ticker["high"]
    assert ticker["baseVolume"] > 0
    assert set(SYMBOLS.values()) <= set(exchange.fetch_tickers())


def test_ccxt_reads_an_order_book_best_first(exchange: ccxt.btcturk) -> None:
    ccxt_best_bid(exchange)
    book = exchange.fetch_order_book("BTC/TRY")
    bids, asks = book["bids"], book["asks"]
    assert bids and asks
    assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
    assert [p for p, _ in asks] == sorted(p for p, _ in asks)
    assert bids[0][0] < asks[0][0]
    assert all(amount > 0 for _, amount in bids + asks)
    assert book["timestamp"] > 0


def test_ccxt_reads_recent_public_trades(exchange: ccxt.btcturk) -> None:
    trades = eventually(lambda: exchange.fetch_trades("BTC/TRY"), what="a BTCTRY trade")
    for trade in trades:
        assert trade["symbol"] == "BTC/TRY"
        assert trade["side"] in ("buy", "sell")
        assert trade["price"] > 0 and trade["amount"] > 0 and trade["id"]


def test_ccxt_reads_alices_balances(exchange: ccxt.btcturk) -> None:
    balance = exchange.fetch_balance()
    for asset, funded in FUNDED.items():
        entry = balance[asset]
        assert entry["total"] == pytest.approx(float(funded), rel=0.05)
        assert entry["free"] + entry["used"] == pytest.approx(entry["total"])


def test_ccxt_places_a_limit_buy_below_the_market(
    ccxt_resting_buy: tuple[dict[str, Any], str],
) -> None:
    order, wanted = ccxt_resting_buy
    assert order["id"] and order["symbol"] == "BTC/TRY"
    assert (order["side"], order["type"], order["amount"]) == ("buy", "limit", 0.001)
    # ccxt reads the client id from ``orderClientId``, which only the listings carry.
    assert order["info"]["newOrderClientId"] == wanted


def test_ccxt_lists_the_resting_order_among_open_orders_with_its_client_id(
    exchange: ccxt.btcturk, ccxt_resting_buy: tuple[dict[str, Any], str]
) -> None:
    placed, wanted = ccxt_resting_buy
    listed = {o["id"]: o for o in exchange.fetch_open_orders("BTC/TRY")}
    order = listed[placed["id"]]
    assert (order["status"], order["side"], order["type"]) == ("open", "buy", "limit")
    assert order["clientOrderId"] == wanted
    assert order["price"] == placed["price"]
    assert order["amount"] == order["remaining"] == 0.001


def test_ccxt_looks_the_order_up_among_all_orders(
    exchange: ccxt.btcturk, ccxt_resting_buy: tuple[dict[str, Any], str]
) -> None:
    placed, wanted = ccxt_resting_buy
    # ``since`` goes out as allOrders' startTime in seconds (§5.3).
    since = placed["timestamp"] - 60_000
    found = {o["id"]: o for o in exchange.fetch_orders("BTC/TRY", since=since)}
    order = found[placed["id"]]
    assert (order["status"], order["clientOrderId"]) == ("open", wanted)
    assert order["info"]["time"] == placed["timestamp"]


def test_ccxt_cancels_the_order_and_it_leaves_the_open_orders(
    exchange: ccxt.btcturk, ccxt_resting_buy: tuple[dict[str, Any], str]
) -> None:
    placed, _ = ccxt_resting_buy
    answer = exchange.cancel_order(placed["id"], "BTC/TRY")
    assert answer["info"] == {"success": True, "message": "SUCCESS", "code": 0}
    eventually(
        lambda: placed["id"] not in ccxt_open_ids(exchange),
        timeout=CANCEL_SETTLES_S,
        what="the cancelled order leaving openOrders",
    )
    found = {o["id"]: o for o in exchange.fetch_orders("BTC/TRY")}
    assert found[placed["id"]]["status"] == "canceled"


def test_ccxt_market_buy_sized_in_try_fills_and_shows_in_my_trades(
    exchange: ccxt.btcturk, ccxt_market_buy: dict[str, Any]
) -> None:
    order_id = ccxt_market_buy["id"]
    assert ccxt_market_buy["info"]["quantity"] == "250.00"
    fills = [t for t in exchange.fetch_my_trades("BTC/TRY") if t["order"] == order_id]
    assert fills, "the market buy filled"
    assert all(t["side"] == "buy" and t["fee"]["currency"] == "TRY" for t in fills)
    assert all(t["fee"]["cost"] > 0 and t["amount"] > 0 for t in fills)
    spent = sum(Decimal(str(t["price"])) * Decimal(str(t["amount"])) for t in fills)
    assert MARKET_BUY_TRY - 1 < spent <= MARKET_BUY_TRY
    status = {o["id"]: o["status"] for o in exchange.fetch_orders("BTC/TRY")}
    assert status[order_id] == "closed"


def test_ccxt_fetches_candles_once_trades_exist(
    exchange: ccxt.btcturk, ccxt_market_buy: dict[str, Any]
) -> None:
    # Without ``since`` ccxt asks klines/history for ``from`` = minus 99 periods.
    for timeframe, period_ms in (("1m", 60_000), ("1h", 3_600_000)):
        candles = exchange.fetch_ohlcv("BTC/TRY", timeframe)
        assert candles, f"{timeframe} candles"
        stamps = [c[0] for c in candles]
        assert stamps == sorted(stamps) and all(s % period_ms == 0 for s in stamps)
        for _, open_, high, low, close, volume in candles:
            assert 0 < low <= min(open_, close) <= max(open_, close) <= high
            assert volume > 0
        bought = ccxt_market_buy["timestamp"]
        assert any(c[0] <= bought < c[0] + period_ms for c in candles), "the buy's candle"
    since = ccxt_market_buy["timestamp"] - 600_000
    recent = exchange.fetch_ohlcv("BTC/TRY", "1m", since=since)
    assert recent and recent[0][0] >= since - 60_000


# -- btcturk_api (outlier-1) ----------------------------------------------------------------


@pytest.fixture(scope="module")
def client(live_server: LiveServer) -> Client:
    """``API_BASE`` is read in the constructor, which fetches exchangeinfo and authenticates
    at once, so the base URL goes on a subclass."""

    class MockClient(Client):
        API_BASE = live_server.base_url

    return MockClient(api_key=BOB.key, api_secret=BOB.secret)


def api_best_bid(client: Client, pair: str = "BTCTRY") -> Decimal:
    book = eventually(
        lambda: (b := client.get_order_book(pair))["bids"] and b, what="a bid on the book"
    )
    return Decimal(book["bids"][0][0])


def api_open_bids(client: Client, pair: str = "BTCTRY") -> dict[int, dict[str, Any]]:
    return {o["id"]: o for o in client.get_open_orders(pair)["bids"]}


@pytest.fixture
def api_resting_buy(client: Client) -> Iterator[tuple[dict[str, Any], str]]:
    wanted = client_id("btcturk-api")
    price = resting_price(api_best_bid(client))
    order = client.submit_limit_order(
        quantity=0.001,
        price=float(price),
        order_type="buy",
        pair_symbol="BTCTRY",
        new_order_client_id=wanted,
    )
    yield order, wanted
    with contextlib.suppress(Exception):  # cleanup only: a filled order cannot be cancelled
        client.cancel_order(order["id"])


@pytest.fixture(scope="module")
def api_market_buy(client: Client) -> dict[str, Any]:
    """The client scales a market buy's quantity as a price: it is quote currency (§5.5)."""
    api_best_bid(client)
    result: dict[str, Any] = client.submit_market_order(
        quantity=float(MARKET_BUY_TRY), order_type="buy", pair_symbol="BTCTRY"
    )
    return result


def test_btcturk_api_lists_the_four_markets_with_the_venues_scales(client: Client) -> None:
    symbols = {s["name"]: s for s in client.get_exchange_info()}
    assert set(PAIRS) <= set(symbols)
    for name, (amount_scale, price_scale, has_fraction) in PAIRS.items():
        symbol = symbols[name]
        assert symbol["status"] == "TRADING"
        published = (symbol["numeratorScale"], symbol["denominatorScale"], symbol["hasFraction"])
        assert published == (amount_scale, price_scale, has_fraction)
        assert (
            client.scale_limits[name]
            == client.scale_limits[symbol["nameNormalized"]]
            == {
                "price_scale": price_scale,
                "amount_scale": amount_scale,
                "has_fraction": has_fraction,
            }
        )
    assert [s["name"] for s in client.get_exchange_info(["ETHTRY"])] == ["ETHTRY"]


def test_btcturk_api_reads_the_server_time(client: Client) -> None:
    answer = client.get_server_time()
    assert abs(answer["serverTime"] - time.time() * 1000) < 5_000
    assert isinstance(answer["serverTime2"], str)


def test_btcturk_api_reads_one_ticker_and_all_tickers(client: Client) -> None:
    [ticker] = eventually(
        lambda: (t := client.tick("BTCTRY"))[0]["last"] and t, what="a BTCTRY trade"
    )
    assert (ticker["pair"], ticker["pairNormalized"]) == ("BTCTRY", "BTC_TRY")
    assert 0 < ticker["bid"] < ticker["ask"]
    assert ticker["low"] <= ticker["last"] <= ticker["high"]
    assert set(PAIRS) <= {t["pair"] for t in client.tick()}


def test_btcturk_api_reads_an_order_book_best_first(client: Client) -> None:
    api_best_bid(client)
    book = client.get_order_book("BTCTRY", limit=5)
    bids = [Decimal(p) for p, _ in book["bids"]]
    asks = [Decimal(p) for p, _ in book["asks"]]
    assert 0 < len(bids) <= 5 and 0 < len(asks) <= 5
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert bids[0] < asks[0]


def test_btcturk_api_reads_recent_public_trades(client: Client) -> None:
    trades = eventually(lambda: client.get_trades("BTCTRY", last=10), what="a BTCTRY trade")
    assert len(trades) <= 10
    stamps = [t["date"] for t in trades]
    assert stamps == sorted(stamps, reverse=True)
    for trade in trades:
        assert trade["pair"] == "BTCTRY" and isinstance(trade["tid"], str)
        assert Decimal(trade["price"]) > 0 and Decimal(trade["amount"]) > 0


def test_btcturk_api_reads_bobs_balances(client: Client) -> None:
    rows = {row["asset"]: row for row in client.get_account_balance()}
    assert set(FUNDED) <= set(rows)
    for asset, funded in FUNDED.items():
        row = rows[asset]
        total, free, locked = (Decimal(row[k]) for k in ("balance", "free", "locked"))
        assert abs(total - funded) <= funded / 20
        assert free + locked == total
    assert [r["asset"] for r in client.get_account_balance(["try"])] == ["TRY"]


def test_btcturk_api_places_a_limit_buy_below_the_market(
    api_resting_buy: tuple[dict[str, Any], str],
) -> None:
    order, wanted = api_resting_buy
    assert (order["type"], order["method"], order["pairSymbol"]) == ("buy", "limit", "BTCTRY")
    assert Decimal(order["quantity"]) == Decimal("0.001")
    assert order["newOrderClientId"] == wanted


def test_btcturk_api_lists_the_resting_order_among_open_orders_with_its_client_id(
    client: Client, api_resting_buy: tuple[dict[str, Any], str]
) -> None:
    placed, wanted = api_resting_buy
    order = api_open_bids(client)[placed["id"]]
    assert (order["status"], order["orderClientId"]) == ("Untouched", wanted)
    assert Decimal(order["leftAmount"]) == Decimal(order["quantity"]) == Decimal("0.001")
    assert placed["id"] in {o["id"] for o in client.get_open_orders()["bids"]}, "all pairs"


def test_btcturk_api_looks_the_order_up_among_all_orders(
    client: Client, api_resting_buy: tuple[dict[str, Any], str]
) -> None:
    placed, wanted = api_resting_buy
    everything = {o["id"]: o for o in client.get_all_orders(pair_symbol="BTCTRY")}
    assert everything[placed["id"]]["status"] == "Untouched"
    # ``order_id`` asks for orders with an id at least this one (the client sends id - 1).
    from_here = client.get_all_orders(order_id=placed["id"], pair_symbol="BTCTRY")
    assert placed["id"] in {o["id"] for o in from_here}
    assert {o["orderClientId"] for o in from_here if o["id"] == placed["id"]} == {wanted}


def test_btcturk_api_cancels_the_order_and_it_leaves_the_open_orders(
    client: Client, api_resting_buy: tuple[dict[str, Any], str]
) -> None:
    placed, _ = api_resting_buy
    assert client.cancel_order(placed["id"]) is True
    eventually(
        lambda: placed["id"] not in api_open_bids(client),
        timeout=CANCEL_SETTLES_S,
        what="the cancelled order leaving openOrders",
    )
    [order] = [o for o in client.get_all_orders(pair_symbol="BTCTRY") if o["id"] == placed["id"]]
    assert order["status"] == "Canceled"


def test_btcturk_api_market_buy_sized_in_try_fills_and_shows_in_trade_history(
    client: Client, api_market_buy: dict[str, Any]
) -> None:
    order_id = api_market_buy["id"]
    assert (api_market_buy["method"], api_market_buy["quantity"]) == ("market", "250.00")
    fills = [t for t in client.get_trade_history() if t["orderId"] == order_id]
    assert fills, "the market buy filled"
    for fill in fills:
        assert fill["orderType"] == "buy"
        assert (fill["numeratorSymbol"], fill["denominatorSymbol"]) == ("BTC", "TRY")
        assert Decimal(fill["amount"]) > 0 and Decimal(fill["fee"]) < 0
        assert fill["orderClientId"] == api_market_buy["newOrderClientId"]
    spent = sum(Decimal(t["price"]) * Decimal(t["amount"]) for t in fills)
    assert MARKET_BUY_TRY - 1 < spent <= MARKET_BUY_TRY
    only_buys = client.get_trade_history(trade_type=["buy"], symbol=["btc"])
    assert {t["id"] for t in fills} <= {t["id"] for t in only_buys}
    assert all(t["orderType"] == "buy" for t in only_buys)
