"""Symbol rules: what exchangeinfo publishes and what order validation enforces.

A pair's rules are data; the default market is the venue's four most traded pairs with
scales, tick sizes, minimum totals and price bands shaped like the live exchangeinfo.
Price bands are set at 10x and 0.1x of the reference price, as in the captured
exchangeinfo of 2022 (reference §4.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

__all__ = ["ASSETS", "DEFAULT_PAIRS", "Asset", "PairRules", "normalize_symbol"]


@dataclass(frozen=True, slots=True)
class Asset:
    symbol: str
    name: str
    precision: int
    id: int


@dataclass(frozen=True, slots=True)
class PairRules:
    id: int
    base: str
    quote: str
    base_scale: int  # numeratorScale: quantity decimals
    quote_scale: int  # denominatorScale: price decimals
    has_fraction: bool  # False: prices are whole numbers
    tick_size: Decimal
    min_exchange_value: Decimal
    reference_price: Decimal  # the market simulator starts here
    min_price: Decimal = Decimal("0.0000000000001")
    max_price: Decimal = Decimal("10000000")
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    order_methods: tuple[str, ...] = ("MARKET", "LIMIT", "STOP_MARKET", "STOP_LIMIT")
    display_format: str = "#,###"
    order: int = 1000
    max_limit_price: Decimal = field(default=Decimal(0))
    min_limit_price: Decimal = field(default=Decimal(0))

    def __post_init__(self) -> None:
        if self.max_limit_price == 0:
            object.__setattr__(self, "max_limit_price", self.reference_price * 10)
        if self.min_limit_price == 0:
            band = (self.reference_price / 10).quantize(self.price_quantum)
            object.__setattr__(self, "min_limit_price", band)

    @property
    def name(self) -> str:
        return f"{self.base}{self.quote}"

    @property
    def name_normalized(self) -> str:
        return f"{self.base}_{self.quote}"

    @property
    def price_decimals(self) -> int:
        return self.quote_scale if self.has_fraction else 0

    @property
    def price_quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.price_decimals)

    @property
    def amount_quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.base_scale)


def normalize_symbol(symbol: str) -> str:
    """``btc_try``, ``BTC_TRY`` and ``BTCTRY`` all name the same pair."""
    return symbol.replace("_", "").replace("-", "").strip().upper()


ASSETS: dict[str, Asset] = {
    a.symbol: a
    for a in (
        Asset("TRY", "Türk Lirası", 2, 1),
        Asset("BTC", "Bitcoin", 8, 2),
        Asset("ETH", "Ethereum", 8, 3),
        Asset("USDT", "Tether", 6, 4),
    )
}

DEFAULT_PAIRS: tuple[PairRules, ...] = (
    PairRules(
        id=1,
        base="BTC",
        quote="TRY",
        base_scale=8,
        quote_scale=2,
        has_fraction=False,
        tick_size=Decimal("1"),
        min_exchange_value=Decimal("99.91"),
        reference_price=Decimal("4000000"),
        order=1000,
    ),
    PairRules(
        id=2,
        base="ETH",
        quote="TRY",
        base_scale=8,
        quote_scale=2,
        has_fraction=False,
        tick_size=Decimal("1"),
        min_exchange_value=Decimal("99.91"),
        reference_price=Decimal("140000"),
        order=1001,
    ),
    PairRules(
        id=3,
        base="USDT",
        quote="TRY",
        base_scale=2,
        quote_scale=3,
        has_fraction=True,
        tick_size=Decimal("0.001"),
        min_exchange_value=Decimal("99.91"),
        reference_price=Decimal("42.500"),
        display_format="#,###.###",
        order=1002,
    ),
    PairRules(
        id=4,
        base="BTC",
        quote="USDT",
        base_scale=8,
        quote_scale=2,
        has_fraction=True,
        tick_size=Decimal("0.01"),
        min_exchange_value=Decimal("9.99"),
        reference_price=Decimal("94000.00"),
        display_format="#,###.##",
        order=1003,
    ),
)
