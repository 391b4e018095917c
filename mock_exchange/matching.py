"""Price-time-priority order books, one per pair. Pure: no I/O, no clock, stdlib only.

A book holds resting orders and answers one question: given an incoming order, which
resting orders does it trade with, at what price and for how much. Money, fees and
order status belong to the venue; the book only moves ``left`` and the queue.

Each side keeps a dict of price levels (a FIFO deque each), a sorted list of level keys
whose last element is the best price, and the level totals, updated as orders come and
go, so that depth is read without walking orders.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from mock_exchange.model import BUY, Order

__all__ = ["Book", "BookSide", "Match"]

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Match:
    maker: Order
    price: Decimal
    amount: Decimal  # base


class BookSide:
    """One side of a book. Keys are prices for bids and negated prices for asks,
    so that the best level is always the last key."""

    __slots__ = ("is_bid", "keys", "levels", "sizes")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.keys: list[Decimal] = []
        self.levels: dict[Decimal, deque[Order]] = {}
        self.sizes: dict[Decimal, Decimal] = {}

    def _key(self, price: Decimal) -> Decimal:
        return price if self.is_bid else -price

    def __len__(self) -> int:
        return len(self.keys)

    def best_price(self) -> Decimal | None:
        if not self.keys:
            return None
        key = self.keys[-1]
        return key if self.is_bid else -key

    def add(self, order: Order) -> None:
        assert order.price is not None
        key = self._key(order.price)
        level = self.levels.get(key)
        if level is None:
            level = self.levels[key] = deque()
            self.sizes[key] = _ZERO
            insort(self.keys, key)
        level.append(order)
        self.sizes[key] += order.left

    def remove(self, order: Order) -> bool:
        assert order.price is not None
        key = self._key(order.price)
        level = self.levels.get(key)
        if level is None:
            return False
        try:
            level.remove(order)
        except ValueError:
            return False
        self._shrink(key, order.left)
        if not level:
            self._drop_level(key)
        return True

    def _shrink(self, key: Decimal, amount: Decimal) -> None:
        self.sizes[key] -= amount

    def _drop_level(self, key: Decimal) -> None:
        del self.levels[key]
        del self.sizes[key]
        index = bisect_left(self.keys, key)
        del self.keys[index]

    def depth(self, limit: int) -> list[tuple[Decimal, Decimal]]:
        """Aggregated ``(price, amount)`` levels, best first."""
        out: list[tuple[Decimal, Decimal]] = []
        sign = 1 if self.is_bid else -1
        for key in reversed(self.keys[-limit:] if limit > 0 else []):
            out.append((key * sign, self.sizes[key]))
        return out

    def orders(self) -> Iterator[Order]:
        for key in reversed(self.keys):
            yield from self.levels[key]


class Book:
    """The resting orders of one pair."""

    __slots__ = ("asks", "bids", "pair")

    def __init__(self, pair: str) -> None:
        self.pair = pair
        self.bids = BookSide(is_bid=True)
        self.asks = BookSide(is_bid=False)

    def side_of(self, order: Order) -> BookSide:
        return self.bids if order.side == BUY else self.asks

    def opposite(self, side: str) -> BookSide:
        return self.asks if side == BUY else self.bids

    def best_bid(self) -> Decimal | None:
        return self.bids.best_price()

    def best_ask(self) -> Decimal | None:
        return self.asks.best_price()

    def rest(self, order: Order) -> None:
        self.side_of(order).add(order)

    def remove(self, order: Order) -> bool:
        return self.side_of(order).remove(order)

    def match(
        self,
        side: str,
        *,
        base: Decimal | None = None,
        quote: Decimal | None = None,
        limit: Decimal | None = None,
        amount_quantum: Decimal | None = None,
    ) -> list[Match]:
        """Trade against the opposite side, best price first, oldest order first.

        ``base`` caps the amount in base currency; ``quote`` caps the quote spent (a market
        buy), with amounts rounded down to ``amount_quantum``. ``limit`` is the worst price
        accepted: the limit price, or the slippage guard of a market order. Makers that are
        filled leave the book; the caller settles the returned matches.
        """
        opposite = self.opposite(side)
        keys, levels, sizes = opposite.keys, opposite.levels, opposite.sizes
        sign = -1 if side == BUY else 1
        matches: list[Match] = []
        remaining_base = base
        remaining_quote = quote
        while keys:
            key = keys[-1]
            price = key * sign
            if limit is not None and (price > limit if side == BUY else price < limit):
                break
            level = levels[key]
            while level:
                maker = level[0]
                if remaining_base is not None:
                    amount = maker.left if maker.left < remaining_base else remaining_base
                else:
                    assert remaining_quote is not None and amount_quantum is not None
                    affordable = (remaining_quote / price).quantize(amount_quantum, ROUND_DOWN)
                    amount = maker.left if maker.left < affordable else affordable
                if amount <= _ZERO:
                    return matches
                maker.left -= amount
                sizes[key] -= amount
                matches.append(Match(maker, price, amount))
                if maker.left <= _ZERO:
                    level.popleft()
                if remaining_base is not None:
                    remaining_base -= amount
                    if remaining_base <= _ZERO:
                        if not level:
                            opposite._drop_level(key)
                        return matches
                else:
                    assert remaining_quote is not None
                    remaining_quote -= amount * price
            opposite._drop_level(key)
        return matches
