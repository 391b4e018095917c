"""Positions, average cost, fees and realised PnL, from fills applied exactly once. Pure.

Fills are keyed by the venue's trade id: a second fill with a seen id changes nothing (it is
reported as a duplicate, or as a conflict when its contents differ from the first). The
accounting is by average cost, with fee and tax (charged in the quote currency, reference
§5.7) expensed into realised PnL on every fill. Average cost depends on the order in which
fills are applied, so fills are booked in one canonical order, by (timestamp, trade id): a
fill that arrives late, as after a websocket gap backfilled over REST, triggers a replay
and the result is the same whatever order the fills came in.

Balances expected from fills are a plain sum (order does not matter): a buy adds the base
and costs ``price * amount + fee + tax`` of the quote; a sell takes the base and brings
``price * amount - fee - tax``. ``compare`` sets them against the venue's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from bot.core.types import Balance, Fill, Side

__all__ = ["DAY_MS", "Divergence", "FillResult", "Portfolio", "Position", "compare"]

DAY_MS = 86_400_000  # Unix time has no leap seconds: a UTC day is ``ms // DAY_MS``
_ZERO = Decimal(0)
# The share of cost a partial close releases is the one inexact step; rounded to this, every
# amount keeps at most 16 decimals, so the sums stay exact and independent of grouping.
_COST_QUANTUM = Decimal("1e-16")


class FillResult(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # the same trade id with the same contents: a no-op
    CONFLICT = "conflict"  # the same trade id with other contents: a no-op, kept for review


@dataclass(frozen=True, slots=True)
class Position:
    """One pair's book: ``quantity`` in base (negative: short); ``cost`` is the signed entry
    value of the open quantity in quote; realised PnL is net of fee and tax."""

    pair: str
    base: str
    quote: str
    quantity: Decimal = _ZERO
    cost: Decimal = _ZERO
    realised_pnl: Decimal = _ZERO
    fees: Decimal = _ZERO
    taxes: Decimal = _ZERO
    fills: int = 0

    @property
    def average_cost(self) -> Decimal | None:
        return None if self.quantity == 0 else self.cost / self.quantity

    def after(self, fill: Fill) -> tuple[Position, Decimal]:
        """This position with ``fill`` booked, and the realised PnL the fill made."""
        signed = fill.amount if fill.side is Side.BUY else -fill.amount
        qty, cost, pnl = self.quantity, self.cost, -(fill.fee + fill.tax)
        if qty == 0 or (qty > 0) == (signed > 0):
            qty, cost = qty + signed, cost + signed * fill.price
        else:
            closed = min(abs(signed), abs(qty))
            released = (
                cost if closed == abs(qty) else (cost * closed / abs(qty)).quantize(_COST_QUANTUM)
            )
            direction = 1 if qty > 0 else -1
            pnl += direction * closed * fill.price - released
            rest = abs(signed) - closed  # what is left opens a position the other way
            if rest > 0:
                qty, cost = -direction * rest, -direction * rest * fill.price
            else:
                qty, cost = qty - direction * closed, cost - released
        booked = replace(
            self,
            quantity=qty,
            cost=cost,
            realised_pnl=self.realised_pnl + pnl,
            fees=self.fees + fill.fee,
            taxes=self.taxes + fill.tax,
            fills=self.fills + 1,
        )
        return booked, pnl


@dataclass(frozen=True, slots=True)
class Divergence:
    asset: str
    expected: Decimal
    actual: Decimal

    @property
    def difference(self) -> Decimal:
        return self.actual - self.expected


def _key(fill: Fill) -> tuple[int, int]:
    return (fill.timestamp, fill.trade_id)


def _same(a: Fill, b: Fill) -> bool:
    fields = ("order_id", "pair", "side", "price", "amount", "fee", "tax")
    return all(getattr(a, f) == getattr(b, f) for f in fields)


class Portfolio:
    """Every fill the bot has seen, and the books they make."""

    def __init__(self) -> None:
        self._fills: dict[int, Fill] = {}
        self._conflicts: list[Fill] = []
        self._flows: defaultdict[str, Decimal] = defaultdict(Decimal)
        self._positions: dict[str, Position] = {}
        self._pnl_by_fill: dict[int, Decimal] = {}
        self._last: tuple[int, int] | None = None
        self._stale = False  # a late fill arrived: replay before the next read

    def apply_fill(self, fill: Fill) -> FillResult:
        first = self._fills.get(fill.trade_id)
        if first is not None:
            if _same(first, fill):
                return FillResult.DUPLICATE
            self._conflicts.append(fill)
            return FillResult.CONFLICT
        self._fills[fill.trade_id] = fill
        notional = fill.price * fill.amount
        charges = fill.fee + fill.tax
        if fill.side is Side.BUY:
            self._flows[fill.base] += fill.amount
            self._flows[fill.quote] -= notional + charges
        else:
            self._flows[fill.base] -= fill.amount
            self._flows[fill.quote] += notional - charges
        if self._stale or (self._last is not None and _key(fill) < self._last):
            self._stale = True
        else:
            self._book(fill)
        return FillResult.APPLIED

    def __contains__(self, trade_id: object) -> bool:
        return trade_id in self._fills

    @property
    def fills(self) -> tuple[Fill, ...]:
        """Every fill applied, in booking order."""
        return tuple(sorted(self._fills.values(), key=_key))

    @property
    def conflicts(self) -> tuple[Fill, ...]:
        """Fills refused because their trade id was seen with other contents."""
        return tuple(self._conflicts)

    @property
    def positions(self) -> dict[str, Position]:
        self._replay_if_stale()
        return dict(self._positions)

    def position(self, pair: str) -> Decimal:
        """The position in base, zero for a pair never traded."""
        book = self.positions.get(pair)
        return _ZERO if book is None else book.quantity

    def average_cost(self, pair: str) -> Decimal | None:
        book = self.positions.get(pair)
        return None if book is None else book.average_cost

    def realised_pnl(self, pair: str) -> Decimal:
        book = self.positions.get(pair)
        return _ZERO if book is None else book.realised_pnl

    @property
    def fees(self) -> dict[str, Decimal]:
        """Fee plus tax paid, by currency."""
        paid: defaultdict[str, Decimal] = defaultdict(Decimal)
        for fill in self._fills.values():
            paid[fill.quote] += fill.fee + fill.tax
        return dict(paid)

    def daily_realised_pnl(self, now_ms: int) -> dict[str, Decimal]:
        """Realised PnL per pair, in its quote, from fills on the UTC day of ``now_ms``."""
        self._replay_if_stale()
        day = now_ms // DAY_MS
        pnl: defaultdict[str, Decimal] = defaultdict(Decimal)
        for trade_id, made in self._pnl_by_fill.items():
            fill = self._fills[trade_id]
            if fill.timestamp // DAY_MS == day:
                pnl[fill.pair] += made
        return dict(pnl)

    def expected_balances(self, start: Mapping[str, Decimal]) -> dict[str, Decimal]:
        """``start`` plus what the fills moved, per asset, net of fee and tax."""
        balances = dict(start)
        for asset, moved in self._flows.items():
            balances[asset] = balances.get(asset, _ZERO) + moved
        return balances

    def _book(self, fill: Fill) -> None:
        book = self._positions.get(fill.pair) or Position(fill.pair, fill.base, fill.quote)
        self._positions[fill.pair], self._pnl_by_fill[fill.trade_id] = book.after(fill)
        self._last = _key(fill)

    def _replay_if_stale(self) -> None:
        if not self._stale:
            return
        self._positions.clear()
        self._pnl_by_fill.clear()
        self._last = None
        for fill in self.fills:
            self._book(fill)
        self._stale = False


def compare(
    venue_balances: Sequence[Balance],
    expected: Mapping[str, Decimal],
    tolerance: Decimal | Mapping[str, Decimal] = _ZERO,
) -> tuple[Divergence, ...]:
    """Assets whose venue total (free + locked) differs from the expected by more than the
    tolerance (one for all assets, or per asset; zero when missing). An asset missing on one
    side counts as zero there, so pass the whole starting snapshot to ``expected_balances``."""
    actual = {b.asset: b.total for b in venue_balances}
    found = []
    for asset in sorted(actual.keys() | expected.keys()):
        want, have = expected.get(asset, _ZERO), actual.get(asset, _ZERO)
        limit = tolerance.get(asset, _ZERO) if isinstance(tolerance, Mapping) else tolerance
        if abs(have - want) > limit:
            found.append(Divergence(asset, want, have))
    return tuple(found)
