"""The venue's JSON shapes: field names, types and quirks of every response body. Pure.

Amounts and prices are strings; ticker values and a few others are JSON numbers on the
venue (doubles in its .NET models), so those alone are turned into ``float`` here, at the
wire, after all arithmetic is done in ``Decimal``. Ids are JSON integers, big ones too,
except the public trade id, which is a string (reference §3.4).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from mock_exchange.candles import Candle, DayStats
from mock_exchange.errors import VenueError
from mock_exchange.events import PublicTrade
from mock_exchange.ledger import Balance
from mock_exchange.matching import Book, BookSide
from mock_exchange.model import SELL, Fill, Order
from mock_exchange.rules import ASSETS, PairRules

__all__ = [
    "balance_row",
    "envelope",
    "error_body",
    "exchange_info",
    "order_row",
    "orderbook",
    "public_trade",
    "server_time",
    "submit_result",
    "ticker",
    "user_trade",
]

Json = dict[str, Any]
_LEFT_QUANTUM = Decimal("1e-16")  # leftAmount carries 16 decimals on the venue
_BALANCE_QUANTUM = Decimal("1e-16")


def text(value: Decimal) -> str:
    """A Decimal as the venue writes it: plain notation, never an exponent."""
    # ``str`` is plain notation unless it shows an exponent; ``format`` costs three times more.
    plain = str(value)
    return plain if "E" not in plain else format(value, "f")


_QUANTA = {decimals: Decimal(1).scaleb(-decimals) for decimals in range(33)}


def quantized(value: Decimal, decimals: int) -> str:
    quantum = _QUANTA.get(decimals)
    if quantum is None:
        quantum = Decimal(1).scaleb(-decimals)
    return text(value.quantize(quantum))


def number(value: Decimal) -> float:
    return float(value)


def envelope(data: Any, message: str | None = None) -> Json:
    return {"data": data, "success": True, "message": message, "code": 0}


def error_body(error: VenueError, success: bool = False) -> Json:
    body: Json = {"success": success, "message": error.message, "code": error.code}
    if error.details:
        body["details"] = error.details
    return body


def server_time(now: int) -> Json:
    moment = datetime.fromtimestamp(now / 1000, tz=UTC)
    return {"serverTime": now, "serverTime2": moment.isoformat(timespec="microseconds")}


def _symbol(rules: PairRules) -> Json:
    return {
        "id": rules.id,
        "name": rules.name,
        "nameNormalized": rules.name_normalized,
        "status": "TRADING",
        "numerator": rules.base,
        "denominator": rules.quote,
        "numeratorScale": rules.base_scale,
        "denominatorScale": rules.quote_scale,
        "hasFraction": rules.has_fraction,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": text(rules.min_price),
                "maxPrice": text(rules.max_price),
                "tickSize": text(rules.tick_size),
                "minExchangeValue": text(rules.min_exchange_value),
                "minAmount": None if rules.min_amount is None else text(rules.min_amount),
                "maxAmount": None if rules.max_amount is None else text(rules.max_amount),
            }
        ],
        "orderMethods": list(rules.order_methods),
        "displayFormat": rules.display_format,
        "commissionFromNumerator": False,
        "order": rules.order,
        "priceRounding": False,
        "isNew": False,
        "marketPriceWarningThresholdPercentage": 0.25,
        "maximumOrderAmount": None,
        "maximumLimitOrderPrice": number(rules.max_limit_price),
        "minimumLimitOrderPrice": number(rules.min_limit_price),
    }


def exchange_info(pairs: Iterable[PairRules], now: int) -> Json:
    return {
        "timeZone": "UTC",
        "serverTime": now,
        "symbols": [_symbol(p) for p in pairs],
        "currencies": [
            {
                "id": a.id,
                "symbol": a.symbol,
                "minWithdrawal": 0.0,
                "minDeposit": 0.0,
                "precision": a.precision,
                "address": {"minLen": None, "maxLen": None},
                "currencyType": "FIAT" if a.symbol == "TRY" else "CRYPTO",
                "tag": {"enable": False, "name": None, "minLen": None, "maxLen": None},
                "color": "#000000",
                "name": a.name,
                "isAddressRenewable": False,
                "getAutoAddressDisabled": False,
                "isPartialWithdrawalEnabled": False,
            }
            for a in ASSETS.values()
        ],
        "currencyOperationBlocks": [
            {"currencySymbol": a.symbol, "withdrawalDisabled": False, "depositDisabled": False}
            for a in ASSETS.values()
        ],
    }


def ticker(rules: PairRules, book: Book, day: DayStats | None, now: int) -> Json:
    bid = book.best_bid() or Decimal(0)
    ask = book.best_ask() or Decimal(0)
    last = day.last if day else Decimal(0)
    open_ = day.open if day else Decimal(0)
    daily = last - open_
    percent = (daily / open_ * 100).quantize(Decimal("0.01")) if open_ else Decimal(0)
    return {
        "pair": rules.name,
        "pairNormalized": rules.name_normalized,
        "timestamp": now,
        "last": number(last),
        "high": number(day.high if day else Decimal(0)),
        "low": number(day.low if day else Decimal(0)),
        "bid": number(bid),
        "ask": number(ask),
        "open": number(open_),
        "volume": number(day.volume if day else Decimal(0)),
        "average": number(day.average.quantize(Decimal("1e-8")) if day else Decimal(0)),
        "daily": number(daily),
        "dailyPercent": number(percent),
        "denominatorSymbol": rules.quote,
        "numeratorSymbol": rules.base,
        "order": rules.order,
    }


def orderbook(rules: PairRules, book: Book, limit: int, now: int) -> Json:
    def levels(side: BookSide) -> list[list[str]]:
        return [
            [quantized(p, rules.quote_scale), quantized(a, rules.base_scale)]
            for p, a in side.depth(limit)
        ]

    # The timestamp is a double on the venue, so it often carries ".0" (§4.4).
    return {"timestamp": float(now), "bids": levels(book.bids), "asks": levels(book.asks)}


def public_trade(rules: PairRules, trade: PublicTrade) -> Json:
    return {
        "pair": rules.name,
        "pairNormalized": rules.name_normalized,
        "numerator": rules.base,
        "denominator": rules.quote,
        "date": trade.timestamp,
        "tid": trade.tid,
        "price": quantized(trade.price, rules.quote_scale),
        "amount": quantized(trade.amount, rules.base_scale),
        "side": trade.side,
    }


def balance_row(asset: str, balance: Balance, now: int) -> Json:
    info = ASSETS.get(asset)
    return {
        "asset": asset,
        "assetname": info.name if info else asset,
        "balance": quantized(balance.total, 16),
        "locked": quantized(balance.locked, 16),
        "free": quantized(balance.free, 16),
        "orderFund": quantized(balance.locked, 16),
        "requestFund": "0",
        "precision": info.precision if info else 8,
        "timestamp": now,
    }


def _order_price(order: Order) -> Decimal:
    # A market order shows the price of its first fill, as GET order/{id} does (§5.4).
    return order.price if order.price is not None else (order.first_fill_price or Decimal(0))


def order_row(rules: PairRules, order: Order, *, open_view: bool = False) -> Json:
    quantity_dp = rules.quote_scale if order.sized_in_quote else rules.base_scale
    quantity = quantized(order.quantity, quantity_dp)
    return {
        "id": order.id,
        "price": quantized(_order_price(order), rules.quote_scale),
        "amount": quantity,
        "quantity": quantity,
        "stopPrice": quantized(order.stop_price, rules.quote_scale) if order.stop_price else "0",
        "pairSymbol": rules.name,
        "pairSymbolNormalized": rules.name_normalized,
        "type": order.side,
        "method": order.method,
        "orderClientId": order.client_id,
        # openOrders shows ``time`` as 0 on the venue; updateTime is real (§5.2).
        "time": 0 if open_view else order.created,
        "updateTime": order.updated,
        "status": order.status,
        "leftAmount": text(max(order.left, Decimal(0)).quantize(_LEFT_QUANTUM)),
    }


def submit_result(rules: PairRules, order: Order) -> Json:
    quantity_dp = rules.quote_scale if order.sized_in_quote else rules.base_scale
    return {
        "id": order.id,
        "datetime": order.created,
        "type": order.side,
        "method": order.method,
        "price": quantized(order.price, rules.quote_scale) if order.price is not None else None,
        "stopPrice": (
            quantized(order.stop_price, rules.quote_scale) if order.stop_price is not None else None
        ),
        "quantity": quantized(order.quantity, quantity_dp),
        "pairSymbol": rules.name,
        "pairSymbolNormalized": rules.name_normalized,
        "newOrderClientId": order.client_id,
    }


def user_trade(rules: PairRules, fill: Fill) -> Json:
    sign = -1 if fill.side == SELL else 1
    amount = fill.amount * sign
    return {
        "id": fill.trade_id,
        "timestamp": fill.timestamp,
        "amount": quantized(amount, rules.base_scale),
        "preciseAmount": number(amount),
        "fee": text(-fill.fee) if fill.fee else "0",
        "tax": text(-fill.tax) if fill.tax else "0",
        "price": quantized(fill.price, rules.quote_scale),
        "numeratorSymbol": rules.base,
        "denominatorSymbol": rules.quote,
        "orderType": fill.side,
        "orderId": fill.order_id,
        "orderClientId": fill.client_id,
    }


def ohlc_row(rules: PairRules, candle: Candle) -> Json:
    change = candle.close - candle.open
    percent = (change / candle.open * 100) if candle.open else Decimal(0)
    return {
        "pair": rules.name,
        "time": candle.start // 1000,
        "open": number(candle.open),
        "high": number(candle.high),
        "low": number(candle.low),
        "close": number(candle.close),
        "volume": number(candle.volume),
        "total": number(candle.total),
        "average": number(candle.total / candle.volume if candle.volume else candle.close),
        "dailyChangeAmount": number(change),
        "dailyChangePercentage": number(percent.quantize(Decimal("0.01"))),
    }


def klines(candles: list[Candle]) -> Json:
    if not candles:
        return {"s": "no_data", "t": [], "o": [], "h": [], "l": [], "c": [], "v": []}
    return {
        "s": "ok",
        "t": [c.start // 1000 for c in candles],
        "o": [number(c.open) for c in candles],
        "h": [number(c.high) for c in candles],
        "l": [number(c.low) for c in candles],
        "c": [number(c.close) for c in candles],
        "v": [number(c.volume) for c in candles],
    }
