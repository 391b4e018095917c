"""Pre-trade risk: may this order be submitted now? Pure; asked before EVERY submit.

Position limits are symmetric and counted at their worst case, as if every resting order on
the same side filled: a buy is refused when ``position + open buys + quantity`` would pass
``max_position``, a sell when ``position - open sells - quantity`` would pass
``-max_position``. So a sell that brings an over-limit long back down is always allowed, and
no mix of fills of accepted orders can carry a position from inside the limit past it.

Once the day's loss (realised today plus mark-to-market) reaches ``max_daily_loss``, only
orders that reduce risk pass: a buy that cannot take the position above zero, or a sell that
cannot take it below zero, even if every open order on its side filled.

A pair without a configured limit is refused: like symbol rules, limits are never invented.
The order count and notional caps hold for every order, reducing or not. Daily PnL and the
loss limit are in one accounting currency, which the caller converts to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from bot.core.types import Side

__all__ = ["ProposedOrder", "RiskLimits", "RiskState", "RiskVerdict"]

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class ProposedOrder:
    pair: str
    side: Side
    price: Decimal  # the limit price (an estimate for a market order)
    quantity: Decimal  # base

    @property
    def notional(self) -> Decimal:
        return self.price * self.quantity


@dataclass(frozen=True, slots=True)
class RiskState:
    """The book as the bot knows it right before the submit. Open exposure is the base
    quantity still open on resting orders, per pair and side."""

    positions: Mapping[str, Decimal] = field(default_factory=dict)
    open_orders: Mapping[str, int] = field(default_factory=dict)
    open_buy: Mapping[str, Decimal] = field(default_factory=dict)
    open_sell: Mapping[str, Decimal] = field(default_factory=dict)
    realised_pnl_today: Decimal = _ZERO
    unrealised_pnl: Decimal = _ZERO  # mark-to-market of the open positions

    @property
    def open_orders_total(self) -> int:
        return sum(self.open_orders.values())

    @property
    def pnl_today(self) -> Decimal:
        return self.realised_pnl_today + self.unrealised_pnl


@dataclass(frozen=True, slots=True)
class RiskVerdict:
    ok: bool
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """``max_position`` (base) and ``max_order_notional`` (the pair's quote) per pair;
    ``max_daily_loss`` is a positive amount of the accounting currency."""

    max_position: Mapping[str, Decimal]
    max_order_notional: Mapping[str, Decimal]
    max_open_orders_per_pair: int
    max_open_orders: int
    max_daily_loss: Decimal

    def __post_init__(self) -> None:
        negative = [p for p, v in {**self.max_position}.items() if v < 0]
        negative += [p for p, v in {**self.max_order_notional}.items() if v < 0]
        if negative:
            raise ValueError(f"risk limits must not be negative: {sorted(set(negative))}")
        if self.max_daily_loss <= 0:
            raise ValueError("max_daily_loss must be positive")
        if self.max_open_orders_per_pair < 0 or self.max_open_orders < 0:
            raise ValueError("open order limits must not be negative")

    def check(self, order: ProposedOrder, state: RiskState) -> RiskVerdict:
        """Every reason the order is refused; ``ok`` only when there are none."""
        reasons = _shape(order)
        if reasons:
            return RiskVerdict(False, tuple(reasons))
        pair, qty = order.pair, order.quantity
        position = state.positions.get(pair, _ZERO)
        buy = order.side is Side.BUY
        resting = (state.open_buy if buy else state.open_sell).get(pair, _ZERO)
        # Each side can only push the position its own way: up for buys, down for sells.
        sign = 1 if buy else -1
        worst = position + sign * (resting + qty)
        reduces = sign * worst <= 0
        limit = self.max_position.get(pair)
        if limit is None:
            reasons.append(f"no position limit configured for {pair}")
        elif sign * worst > limit:
            reasons.append(
                f"{pair} {order.side} {qty} could take the position from {position} to "
                f"{worst} (counting open {order.side}s), past the limit of ±{limit}"
            )
        cap = self.max_order_notional.get(pair)
        if cap is None:
            reasons.append(f"no order notional limit configured for {pair}")
        elif order.notional > cap:
            reasons.append(f"{pair} order notional {order.notional} over the cap of {cap}")
        on_pair = state.open_orders.get(pair, 0)
        if on_pair + 1 > self.max_open_orders_per_pair:
            reasons.append(
                f"{pair} already has {on_pair} open orders (limit {self.max_open_orders_per_pair})"
            )
        if state.open_orders_total + 1 > self.max_open_orders:
            reasons.append(
                f"{state.open_orders_total} open orders in all (limit {self.max_open_orders})"
            )
        if state.pnl_today <= -self.max_daily_loss and not reduces:
            reasons.append(
                f"daily loss limit reached (PnL today {state.pnl_today}, limit "
                f"-{self.max_daily_loss}): only risk-reducing orders"
            )
        return RiskVerdict(not reasons, tuple(reasons))


def _shape(order: ProposedOrder) -> list[str]:
    reasons = []
    if order.quantity <= 0:
        reasons.append(f"quantity must be positive, got {order.quantity}")
    if order.price <= 0:
        reasons.append(f"price must be positive, got {order.price}")
    return reasons
