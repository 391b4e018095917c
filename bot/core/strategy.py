"""What to quote: the strategy interface and its default, a spread maker. Pure.

A strategy sees one pair at a time (a ``MarketView``), what it may spend (``Holdings``) and
its quotes resting on the venue, keyed by quote slot, and answers with a ``Decision``: new
quotes for empty slots, slots to cancel, and quotes that replace a live one. The lifecycle
carries out a replace as cancel, confirm, then submit, so a slot never holds two live orders.

``SpreadMaker`` quotes ``levels`` bids and asks around the mid of the book. Every price and
size it emits fits the pair's exchangeinfo rules: prices on the grid of the price decimals
(integers when ``hasFraction`` is false) and the tick, bids rounded down and asks up, never
crossing the book, inside the price bands; sizes rounded down to the quantity scale, and a
quote whose total would be under ``minExchangeValue`` is skipped, never enlarged. A bid
must fit the free quote balance with a reserve for the fee (reference §5.5), an ask the free
base. It never quotes blind: without rules (none are invented), on a stale or dirty book,
on a one-sided or crossed book; by default it pulls its quotes then.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from math import lcm
from typing import Protocol

from bot.core.types import OrderBook, OrderMethod, PairRules, Side, Ticker

__all__ = [
    "Decision",
    "Holdings",
    "LiveQuote",
    "MarketView",
    "Quote",
    "SpreadMaker",
    "SpreadMakerConfig",
    "Strategy",
    "price_band",
    "price_step",
    "slot_name",
]

BPS = Decimal(10_000)
_SIDE_WORD = {Side.BUY: "bid", Side.SELL: "ask"}


def slot_name(pair: str, side: Side, level: int) -> str:
    """``BTCTRY:bid:0`` is the best bid slot of BTCTRY."""
    return f"{pair}:{_SIDE_WORD[side]}:{level}"


@dataclass(frozen=True, slots=True)
class Quote:
    """A resting limit order the strategy wants in ``slot``."""

    slot: str
    pair: str
    side: Side
    price: Decimal
    quantity: Decimal  # base


@dataclass(frozen=True, slots=True)
class LiveQuote:
    """A quote of ours live on the venue: ``quantity`` is what is still open."""

    slot: str
    price: Decimal
    quantity: Decimal
    placed_ms: int


@dataclass(frozen=True, slots=True)
class MarketView:
    pair: str
    book: OrderBook | None
    book_fresh: bool  # false while the local book is stale or awaits a resync
    ticker: Ticker | None
    rules: PairRules | None
    now_ms: int


@dataclass(frozen=True, slots=True)
class Holdings:
    """What this pair may use: free balances (not counting funds locked in live quotes) and
    the position in base."""

    base_free: Decimal
    quote_free: Decimal
    position: Decimal


@dataclass(frozen=True, slots=True)
class Decision:
    """``place`` fills empty slots; ``replace`` targets live slots (cancel, confirm, submit);
    ``cancel`` empties slots. A slot appears at most once. ``notes`` say what was skipped."""

    place: tuple[Quote, ...] = ()
    cancel: tuple[str, ...] = ()
    replace: tuple[Quote, ...] = ()
    notes: tuple[str, ...] = ()


class Strategy(Protocol):
    @property
    def name(self) -> str: ...

    def decide(
        self, view: MarketView, holdings: Holdings, live: Mapping[str, LiveQuote]
    ) -> Decision: ...


def price_step(rules: PairRules) -> Decimal:
    """The finest price grid that satisfies both the price decimals and the tick."""
    quantum = Decimal(1).scaleb(-rules.price_decimals)
    tick = rules.tick_size
    if tick <= 0:
        return quantum
    exponent = min(_exponent(tick), _exponent(quantum))
    common = lcm(int(tick.scaleb(-exponent)), int(quantum.scaleb(-exponent)))
    return Decimal(common).scaleb(exponent)


def price_band(rules: PairRules) -> tuple[Decimal, Decimal]:
    """The lowest and highest limit price the venue accepts: the filter and the bands."""
    low, high = rules.min_price, rules.max_price
    if rules.min_limit_price is not None:
        low = max(low, rules.min_limit_price)
    if rules.max_limit_price is not None:
        high = min(high, rules.max_limit_price)
    return low, high


def _exponent(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return exponent


def _floor(value: Decimal, step: Decimal) -> Decimal:
    return value - value % step  # exact, unlike flooring a quotient; value > 0


def _ceil(value: Decimal, step: Decimal) -> Decimal:
    rest = value % step
    return value if rest == 0 else value - rest + step


@dataclass(frozen=True, slots=True)
class SpreadMakerConfig:
    """``spread_bps`` is the full width between the level-0 bid and ask (each sits half of
    it from the centre); level ``n`` sits ``n * level_step_bps`` further out. Size is either
    ``quantity`` (base) or ``notional`` (quote). A quote older than ``ttl_ms`` or whose
    target price moved more than ``max_drift_bps`` from its own is replaced. With
    ``skew_bps_per_base`` the centre moves against the position (long: lower), at most
    ``max_skew_bps``. ``buy_fee_reserve`` is the share of a bid's notional kept free for the
    fee and its tax."""

    pairs: frozenset[str]
    spread_bps: Decimal
    levels: int = 1
    level_step_bps: Decimal = Decimal(0)
    quantity: Decimal | None = None
    notional: Decimal | None = None
    ttl_ms: int = 60_000
    max_drift_bps: Decimal = Decimal(10)
    skew_bps_per_base: Decimal = Decimal(0)
    max_skew_bps: Decimal = Decimal(100)
    buy_fee_reserve: Decimal = Decimal("0.003")
    pull_when_blind: bool = True

    def __post_init__(self) -> None:
        sizes = [s for s in (self.quantity, self.notional) if s is not None]
        problems = [
            (isinstance(self.pairs, str), "pairs must be a set of pair names, not one string"),
            (len(sizes) != 1, "exactly one of quantity and notional must be set"),
            (any(s <= 0 for s in sizes), "size must be positive"),
            (self.spread_bps <= 0, "spread_bps must be positive"),
            (self.levels < 1, "levels must be at least 1"),
            (self.level_step_bps < 0, "level_step_bps must not be negative"),
            (self.widest_bps >= BPS, "the widest level must stay under 10000 bps"),
            (self.ttl_ms <= 0, "ttl_ms must be positive"),
            (self.max_drift_bps < 0, "max_drift_bps must not be negative"),
            (not 0 <= self.max_skew_bps < BPS, "max_skew_bps must be in [0, 10000)"),
            (self.buy_fee_reserve < 0, "buy_fee_reserve must not be negative"),
        ]
        bad = [why for broken, why in problems if broken]
        if bad:
            raise ValueError(f"SpreadMakerConfig: {'; '.join(bad)}")

    @property
    def widest_bps(self) -> Decimal:
        return self.spread_bps / 2 + (self.levels - 1) * self.level_step_bps


def _blind(view: MarketView) -> str | None:
    """Why no quote may be made on this view, or None."""
    book, rules = view.book, view.rules
    if rules is None:
        return "no exchange rules for the pair"
    if book is None:
        return "no order book"
    if not view.book_fresh:
        return "order book stale or dirty"
    if rules.name != view.pair or book.pair != view.pair:
        return "rules or book belong to another pair"
    if rules.status != "TRADING":
        return f"pair status is {rules.status}"
    if OrderMethod.LIMIT not in rules.order_methods:
        return "limit orders not allowed"
    if not book.bids or not book.asks:
        return "one-sided book"
    if book.crossed:
        return "crossed book"
    if book.bids[0].price <= 0:
        return "non-positive best bid"
    return None


class SpreadMaker:
    """Quotes around the mid of the book; deterministic for equal inputs."""

    name = "spread_maker"

    def __init__(self, config: SpreadMakerConfig) -> None:
        self.config = config

    def decide(
        self, view: MarketView, holdings: Holdings, live: Mapping[str, LiveQuote]
    ) -> Decision:
        if view.pair not in self.config.pairs:
            return Decision()
        mine = {slot: q for slot, q in live.items() if slot.startswith(f"{view.pair}:")}
        why = _blind(view)
        if why is not None:
            pulled = tuple(sorted(mine)) if self.config.pull_when_blind else ()
            return Decision(cancel=pulled, notes=(f"{view.pair}: not quoting: {why}",))
        assert view.book is not None and view.rules is not None
        wanted, notes = self._targets(view.book, view.rules, holdings, mine)
        place: list[Quote] = []
        replace: list[Quote] = []
        for quote in wanted:
            old = mine.get(quote.slot)
            if old is None:
                place.append(quote)
            elif self._needs_refresh(old, quote, view.now_ms):
                replace.append(quote)
        slots = {q.slot for q in wanted}
        cancel = tuple(sorted(slot for slot in mine if slot not in slots))
        return Decision(tuple(place), cancel, tuple(replace), tuple(notes))

    def _needs_refresh(self, old: LiveQuote, new: Quote, now_ms: int) -> bool:
        if now_ms - old.placed_ms >= self.config.ttl_ms:
            return True
        return abs(new.price - old.price) * BPS > self.config.max_drift_bps * old.price

    def _targets(
        self,
        book: OrderBook,
        rules: PairRules,
        holdings: Holdings,
        mine: Mapping[str, LiveQuote],
    ) -> tuple[list[Quote], list[str]]:
        cfg = self.config
        step = price_step(rules)
        quantum = Decimal(1).scaleb(-rules.price_decimals)
        best_bid, best_ask = book.bids[0].price, book.asks[0].price
        skew = max(
            -cfg.max_skew_bps, min(cfg.max_skew_bps, holdings.position * cfg.skew_bps_per_base)
        )
        centre = (best_bid + best_ask) / 2 * (1 - skew / BPS)
        low, high = price_band(rules)
        # Funds of our live quotes come back when they are cancelled or replaced.
        budget = {
            Side.BUY: holdings.quote_free
            + sum((q.price * q.quantity for s, q in mine.items() if ":bid:" in s), Decimal(0)),
            Side.SELL: holdings.base_free
            + sum((q.quantity for s, q in mine.items() if ":ask:" in s), Decimal(0)),
        }
        spent = {Side.BUY: Decimal(0), Side.SELL: Decimal(0)}
        quotes: list[Quote] = []
        notes: list[str] = []
        for side in (Side.BUY, Side.SELL):
            for level in range(cfg.levels):
                slot = slot_name(rules.name, side, level)
                offset = (cfg.spread_bps / 2 + level * cfg.level_step_bps) / BPS
                if side is Side.BUY:
                    price = min(_floor(centre * (1 - offset), step), _ceil(best_ask, step) - step)
                else:
                    price = max(_ceil(centre * (1 + offset), step), _floor(best_bid, step) + step)
                price = price.quantize(quantum)
                size = self._size(price, rules)
                cost = price * size * (1 + cfg.buy_fee_reserve) if side is Side.BUY else size
                skip = self._why_skip(price, size, low, high, rules)
                if skip is None and spent[side] + cost > budget[side]:
                    skip = "not enough free balance"
                if skip is not None:
                    notes.append(f"{slot}: skipped: {skip}")
                    continue
                spent[side] += cost
                quotes.append(Quote(slot, rules.name, side, price, size))
        return quotes, notes

    def _size(self, price: Decimal, rules: PairRules) -> Decimal:
        cfg = self.config
        if price <= 0:
            return Decimal(0)
        if cfg.quantity is not None:
            size = cfg.quantity
        else:
            assert cfg.notional is not None
            size = cfg.notional / price
        return size.quantize(Decimal(1).scaleb(-rules.quantity_scale), rounding=ROUND_DOWN)

    @staticmethod
    def _why_skip(
        price: Decimal, size: Decimal, low: Decimal, high: Decimal, rules: PairRules
    ) -> str | None:
        if price <= 0 or price < low or price > high:
            return f"price {price} outside the bands [{low}, {high}]"
        if size <= 0:
            return "size rounds to zero"
        if price * size < rules.min_total:
            return f"total {price * size} under the minimum {rules.min_total}"
        if rules.min_amount is not None and size < rules.min_amount:
            return f"size {size} under the minimum amount {rules.min_amount}"
        if rules.max_amount is not None and size > rules.max_amount:
            return f"size {size} over the maximum amount {rules.max_amount}"
        return None
