"""Order validation against a pair's published rules, with the venue's error for each breach.

Pure. The checks run in the order a client would meet them on the venue: method and
pair, then scales, then price bands, then the minimum total; balances are the venue's.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from mock_exchange import errors
from mock_exchange.errors import ErrorCode
from mock_exchange.model import BUY
from mock_exchange.rules import PairRules

__all__ = ["OrderRequest", "decimals_of", "validate"]

METHOD_FILTER_NAMES = {
    "limit": "LIMIT",
    "market": "MARKET",
    "stoplimit": "STOP_LIMIT",
    "stopmarket": "STOP_MARKET",
}


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A submit request after parsing: canonical pair name, lower-case enums, Decimals."""

    pair: str
    side: str
    method: str
    quantity: Decimal
    price: Decimal | None = None
    stop_price: Decimal | None = None
    client_id: str | None = None

    @property
    def sized_in_quote(self) -> bool:
        return self.side == BUY and self.method in ("market", "stopmarket")

    @property
    def family_error(self) -> ErrorCode:
        market = self.method in ("market", "stopmarket")
        return errors.FAILED_MARKET_ORDER if market else errors.FAILED_LIMIT_ORDER


def decimals_of(value: Decimal) -> int:
    """Significant decimal places: ``1.50`` has one, ``100`` has none."""
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def _too_precise(value: Decimal, scale: int) -> bool:
    """``decimals_of(value) > scale``, without normalising in the common case."""
    # A Decimal's str shows exactly its digits after the point unless it uses an exponent;
    # reading them there is cheaper than taking the number apart with ``as_tuple``.
    text = str(value)
    if "E" in text or not value.is_finite():
        exponent = value.as_tuple().exponent
        assert isinstance(exponent, int)
        places = -exponent
    else:
        dot = text.find(".")
        places = 0 if dot < 0 else len(text) - dot - 1
    return places > scale and decimals_of(value) > scale


def validate(
    request: OrderRequest,
    rules: PairRules,
    *,
    enforce_tick_size: bool = False,
) -> None:
    """Raise the venue's error for the first rule the request breaks."""
    method = request.method
    if METHOD_FILTER_NAMES[method] not in rules.order_methods:
        raise errors.ORDER_METHOD_NOT_SUPPORTED()
    quantity = request.quantity
    if quantity <= 0:
        raise request.family_error("quantity must be positive")
    sized_in_quote = request.sized_in_quote
    quantity_scale = rules.quote_scale if sized_in_quote else rules.base_scale
    if _too_precise(quantity, quantity_scale):
        raise errors.FAILED_INVALID_QUANTITY_SCALE()
    limit = method == "limit" or method == "stoplimit"
    price = request.price
    if limit:
        if price is None or price <= 0:
            raise errors.FAILED_LIMIT_ORDER("price is required")
        _check_price(price, rules, errors.FAILED_INVALID_PRICE_SCALE, enforce_tick_size)
    if method == "stoplimit" or method == "stopmarket":
        if request.stop_price is None or request.stop_price <= 0:
            raise request.family_error("stopPrice is required")
        _check_price(
            request.stop_price, rules, errors.FAILED_INVALID_STOP_PRICE_SCALE, enforce_tick_size
        )
    if limit:
        assert price is not None
        total = price * quantity
        if total < rules.min_exchange_value:
            raise errors.FAILED_MIN_TOTAL_AMOUNT()
    elif sized_in_quote and quantity < rules.min_exchange_value:
        raise errors.FAILED_MIN_TOTAL_AMOUNT()
    if not sized_in_quote:
        if rules.min_amount is not None and quantity < rules.min_amount:
            raise request.family_error("quantity below minAmount")
        if rules.max_amount is not None and quantity > rules.max_amount:
            raise request.family_error("quantity above maxAmount")


def _check_price(
    price: Decimal, rules: PairRules, scale_error: ErrorCode, enforce_tick_size: bool
) -> None:
    if _too_precise(price, rules.price_decimals):
        raise scale_error()
    if enforce_tick_size and price % rules.tick_size != 0:
        raise scale_error(f"price must be a multiple of {rules.tick_size}")
    if price > rules.max_limit_price or price > rules.max_price:
        raise errors.PRICE_MUST_BE_LESS_THAN_MAXPRICE()
    if price < rules.min_limit_price or price < rules.min_price:
        raise errors.PRICE_MUST_BE_LESS_THAN_MINPRICE()
