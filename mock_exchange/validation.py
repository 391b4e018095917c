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
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return -exponent > scale and decimals_of(value) > scale


def validate(
    request: OrderRequest,
    rules: PairRules,
    *,
    enforce_tick_size: bool = False,
) -> None:
    """Raise the venue's error for the first rule the request breaks."""
    if METHOD_FILTER_NAMES[request.method] not in rules.order_methods:
        raise errors.ORDER_METHOD_NOT_SUPPORTED()
    if request.quantity <= 0:
        raise request.family_error("quantity must be positive")
    quantity_scale = rules.quote_scale if request.sized_in_quote else rules.base_scale
    if _too_precise(request.quantity, quantity_scale):
        raise errors.FAILED_INVALID_QUANTITY_SCALE()
    if request.method in ("limit", "stoplimit"):
        if request.price is None or request.price <= 0:
            raise errors.FAILED_LIMIT_ORDER("price is required")
        _check_price(request.price, rules, errors.FAILED_INVALID_PRICE_SCALE, enforce_tick_size)
    if request.method in ("stoplimit", "stopmarket"):
        if request.stop_price is None or request.stop_price <= 0:
            raise request.family_error("stopPrice is required")
        _check_price(
            request.stop_price, rules, errors.FAILED_INVALID_STOP_PRICE_SCALE, enforce_tick_size
        )
    if request.method in ("limit", "stoplimit"):
        assert request.price is not None
        total = request.price * request.quantity
        if total < rules.min_exchange_value:
            raise errors.FAILED_MIN_TOTAL_AMOUNT()
    elif request.sized_in_quote and request.quantity < rules.min_exchange_value:
        raise errors.FAILED_MIN_TOTAL_AMOUNT()
    if not request.sized_in_quote:
        if rules.min_amount is not None and request.quantity < rules.min_amount:
            raise request.family_error("quantity below minAmount")
        if rules.max_amount is not None and request.quantity > rules.max_amount:
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
