"""The market simulator: seeded agents that keep every pair's book quoted and traded.

It owns a reference price per pair, which follows a random walk with a weak pull back to
where it started, and a handful of agents per pair, each a venue account with a faker
identity. Every ``step_ms`` the agents move their quotes to follow the reference (one agent
quote per price slot on a fixed grid, ``levels`` slots a side) and now and then one of them
takes liquidity, so a resting order near the touch fills within seconds.

It acts through the venue's public surface only, like any other trader, and is seeded:
the same venue, seed and step times give the same market. Time arrives as ``now`` (Unix ms)
and randomness as an injected ``random.Random``.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal

from faker import Faker

from mock_exchange.errors import VenueError
from mock_exchange.model import BUY, SELL, Order
from mock_exchange.rules import PairRules
from mock_exchange.validation import OrderRequest
from mock_exchange.venue import Venue

__all__ = ["Agent", "MarketConfig", "MarketSimulator"]

_FUND_HEADROOM = Decimal("1.01")  # a buy also reserves the worst-case fee (about 0.18%)


@dataclass(frozen=True)
class MarketConfig:
    agents_per_pair: int = 6
    step_ms: int = 250  # how often the simulator acts
    volatility: Decimal = Decimal("0.0004")  # per-step relative std-dev of the reference walk
    levels: int = 10  # price slots each side kept quoted near the reference
    spacing: Decimal = Decimal("0.0002")  # grid step, relative to the starting price
    slack_levels: int = 2  # quotes live this far past ``levels`` before they are cancelled
    reversion: Decimal = Decimal("0.00002")  # per-step pull back to the starting price
    quote_size: tuple[int, int] = (2, 60)  # a quote's total, in multiples of the pair's minimum
    taker_probability: float = 0.3  # per pair and step
    taker_size: tuple[int, int] = (5, 100)  # a taker's total, in multiples of the minimum
    funding: Decimal = Decimal(200_000)  # each agent's balances, in multiples of the minimum
    max_catch_up: int = 40  # steps replayed after a pause; older ones are skipped

    def __post_init__(self) -> None:
        if min(self.agents_per_pair, self.step_ms, self.levels, self.max_catch_up) < 1:
            raise ValueError("agents_per_pair, step_ms, levels and max_catch_up must be positive")


@dataclass(frozen=True)
class Agent:
    """A simulated trader: one venue account quoting and taking on one pair."""

    account: str
    name: str
    email: str
    pair: str


class _PairState:
    """What the simulator knows of one pair: the walk and the agents' resting quotes."""

    def __init__(self, rules: PairRules, agents: list[Agent], config: MarketConfig) -> None:
        self.rules = rules
        self.agents = agents
        self.anchor = rules.reference_price.quantize(rules.price_quantum)
        self.reference = self.anchor
        tick = max(rules.price_quantum, rules.tick_size)
        # A fixed grid, so quotes keep their price while the reference wanders within a slot
        # and only the slots the walk crossed are refreshed.
        self.grid = max(1, int(self.anchor * config.spacing / tick)) * tick
        low, high = _band(rules)
        # Half the band either way leaves room for every quote and taker price around it.
        self.floor = (low * 2).quantize(rules.price_quantum, ROUND_CEILING)
        self.ceiling = (high / 2).quantize(rules.price_quantum, ROUND_FLOOR)
        self.funds = {
            rules.quote: (rules.min_exchange_value * config.funding).quantize(Decimal("0.01")),
            rules.base: (rules.min_exchange_value * config.funding / self.anchor).quantize(
                rules.amount_quantum, ROUND_DOWN
            ),
        }
        self.low_water = {asset: amount / 4 for asset, amount in self.funds.items()}
        self.quotes: dict[tuple[str, Decimal], Order] = {}
        self.open_count: Counter[str] = Counter()  # quotes per agent account


def _band(rules: PairRules) -> tuple[Decimal, Decimal]:
    """The prices the venue accepts for a limit order on this pair."""
    return max(rules.min_limit_price, rules.min_price), min(rules.max_limit_price, rules.max_price)


def _clamp(rules: PairRules, price: Decimal) -> Decimal:
    low, high = _band(rules)
    return min(max(price, low), high)


def _base_amount(rules: PairRules, total: Decimal, price: Decimal) -> Decimal:
    """The base amount worth ``total`` at ``price``, never below the pair's minimum total."""
    amount = (total / price).quantize(rules.amount_quantum, ROUND_DOWN)
    if amount * price < rules.min_exchange_value:
        amount += rules.amount_quantum
    return amount


class MarketSimulator:
    def __init__(
        self,
        venue: Venue,
        rng: random.Random,
        config: MarketConfig = MarketConfig(),
        now: int = 0,
    ) -> None:
        self.venue = venue
        self.rng = rng
        self.config = config
        self.refusals: Counter[str] = Counter()  # venue refusals by message, for the admin
        self.agents: list[Agent] = []
        faker = Faker("tr_TR")
        faker.seed_instance(rng.getrandbits(64))
        self._pairs: dict[str, _PairState] = {}
        for name, rules in venue.rules.items():
            agents = [
                Agent(f"agent-{name.lower()}-{i}", faker.unique.name(), faker.unique.email(), name)
                for i in range(1, config.agents_per_pair + 1)
            ]
            state = self._pairs[name] = _PairState(rules, agents, config)
            for agent in agents:
                venue.open_account(agent.account)
                for asset, amount in state.funds.items():
                    venue.fund(agent.account, asset, amount, now)
            self.agents.extend(agents)
        self._last = now
        for state in self._pairs.values():
            self._requote(state, now)

    def reference(self, pair: str) -> Decimal:
        return self._pairs[pair].reference

    def next_due(self) -> int:
        """When ``step`` next has something to do: the next ``step_ms`` boundary."""
        return self._last + self.config.step_ms

    def step(self, now: int) -> None:
        """Act once for every ``step_ms`` boundary passed since the last call."""
        step_ms = self.config.step_ms
        due = (now - self._last) // step_ms
        if due <= 0:
            return
        self._last += due * step_ms
        for n in range(min(due, self.config.max_catch_up) - 1, -1, -1):
            # Never stamp behind the venue's clock: it may already have acted at ``now``.
            at = max(self._last - n * step_ms, self.venue.now)
            for state in self._pairs.values():
                self._walk(state)
                # Takers first: they may pick off quotes the walk just left stale, and the
                # requote after them leaves every step with a full grid on both sides.
                if self.rng.random() < self.config.taker_probability:
                    self._take(state, at)
                self._prune(state, at)
                self._requote(state, at)

    # -- the reference ---------------------------------------------------------------------

    def _walk(self, state: _PairState) -> None:
        shock = Decimal(repr(self.rng.gauss(0.0, 1.0))) * self.config.volatility
        pull = self.config.reversion * (state.anchor - state.reference) / state.anchor
        moved = state.reference * (1 + shock + pull)
        moved = min(max(moved, state.floor), state.ceiling)
        state.reference = moved.quantize(state.rules.price_quantum)

    # -- quotes ----------------------------------------------------------------------------

    def _prune(self, state: _PairState, now: int) -> None:
        """Forget quotes that traded away; cancel those on the wrong side or too far out."""
        reach = state.grid * (self.config.levels + self.config.slack_levels)
        ref = state.reference
        for key, order in list(state.quotes.items()):
            side, price = key
            if order.is_open:
                near = ref - reach <= price < ref if side == BUY else ref < price <= ref + reach
                if near:
                    continue
                try:
                    self.venue.cancel(order.account, order.id, now)
                except VenueError as exc:
                    self.refusals[exc.message] += 1
            del state.quotes[key]
            state.open_count[order.account] -= 1

    def _requote(self, state: _PairState, now: int) -> None:
        """Fill the empty slots of the grid nearest the reference, ``levels`` a side."""
        grid, ref = state.grid, state.reference
        top_bid = (ref / grid).to_integral_value(ROUND_FLOOR) * grid
        if top_bid == ref:
            top_bid -= grid
        low_ask = (ref / grid).to_integral_value(ROUND_CEILING) * grid
        if low_ask == ref:
            low_ask += grid
        for i in range(self.config.levels):
            for side, price in ((BUY, top_bid - i * grid), (SELL, low_ask + i * grid)):
                if (side, price) not in state.quotes:
                    self._quote(state, side, price, now)

    def _quote(self, state: _PairState, side: str, price: Decimal, now: int) -> None:
        rules = state.rules
        agent = self._pick_agent(state)
        if agent is None or _clamp(rules, price) != price:
            return
        total = rules.min_exchange_value * self.rng.randint(*self.config.quote_size)
        amount = _base_amount(rules, total, price)
        order = self._submit(
            state, agent, OrderRequest(rules.name, side, "limit", amount, price), now
        )
        if order is not None and order.is_open:
            state.quotes[(side, price)] = order
            state.open_count[agent.account] += 1

    def _pick_agent(self, state: _PairState) -> Agent | None:
        agent = self.rng.choice(state.agents)
        if state.open_count[agent.account] < 2 * self.config.levels:
            return agent
        # Rare: the drawn agent holds its share of quotes; hand the slot to the least busy.
        agent = min(state.agents, key=lambda a: state.open_count[a.account])
        return agent if state.open_count[agent.account] < 2 * self.config.levels else None

    # -- takers ----------------------------------------------------------------------------

    def _take(self, state: _PairState, now: int) -> None:
        """Trade with the touch, whoever rests there: a market order or a crossing limit."""
        rules, book = state.rules, self.venue.books[state.rules.name]
        side = self.rng.choice((BUY, SELL))
        touch = book.best_ask() if side == BUY else book.best_bid()
        if touch is None:
            return
        total = rules.min_exchange_value * self.rng.randint(*self.config.taker_size)
        agent = self.rng.choice(state.agents)
        if self.rng.random() < 0.5:
            if side == BUY:  # a market buy is sized in quote currency
                amount = total.quantize(Decimal(1).scaleb(-rules.quote_scale), ROUND_DOWN)
            else:
                amount = _base_amount(rules, total, touch)
            self._submit(state, agent, OrderRequest(rules.name, side, "market", amount), now)
            return
        # Reach a slot or two past the touch, so a sweep can take more than one level.
        reach = state.grid * self.rng.randint(0, 2)
        price = touch + reach if side == BUY else touch - reach
        price = _clamp(rules, price)
        amount = _base_amount(rules, total, price)
        request = OrderRequest(rules.name, side, "limit", amount, price)
        order = self._submit(state, agent, request, now)
        if order is not None and order.is_open:
            # A taker wants no resting remainder: cancel it, as an immediate-or-cancel would.
            try:
                self.venue.cancel(agent.account, order.id, now)
            except VenueError as exc:
                self.refusals[exc.message] += 1

    # -- the venue -------------------------------------------------------------------------

    def _submit(
        self, state: _PairState, agent: Agent, request: OrderRequest, now: int
    ) -> Order | None:
        self._top_up(state, agent, request, now)
        try:
            return self.venue.submit(agent.account, request, now)
        except VenueError as exc:
            self.refusals[exc.message] += 1
            return None

    def _top_up(self, state: _PairState, agent: Agent, request: OrderRequest, now: int) -> None:
        """Refund an agent before it runs dry: agents trade forever, at a loss to fees."""
        rules = state.rules
        if request.side == SELL:
            asset, need = rules.base, request.quantity
        elif request.price is None:
            asset, need = rules.quote, request.quantity * _FUND_HEADROOM
        else:
            asset, need = rules.quote, request.quantity * request.price * _FUND_HEADROOM
        free = self.venue.ledger.balance(agent.account, asset).free
        if free < need or free < state.low_water[asset]:
            self.venue.fund(agent.account, asset, state.funds[asset], now)
