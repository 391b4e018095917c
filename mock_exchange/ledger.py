"""Balances per account and asset: total and the part held by open orders. Pure.

``free = total - locked``. Orders lock funds when they are accepted and release them as
they fill or leave the book; a fill moves totals. Every change goes through ``lock``,
``release`` or ``transfer``, which refuse to make a balance negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["Balance", "Ledger", "LedgerError"]

_ZERO = Decimal(0)


class LedgerError(Exception):
    """A change that would break the books; a bug in the caller, never a client error."""


@dataclass(slots=True)
class Balance:
    total: Decimal = _ZERO
    locked: Decimal = _ZERO

    @property
    def free(self) -> Decimal:
        return self.total - self.locked


class Ledger:
    def __init__(self) -> None:
        self._accounts: dict[str, dict[str, Balance]] = {}

    def open_account(self, account: str) -> None:
        self._accounts.setdefault(account, {})

    def has_account(self, account: str) -> bool:
        return account in self._accounts

    def accounts(self) -> list[str]:
        return list(self._accounts)

    def balance(self, account: str, asset: str) -> Balance:
        try:
            return self._accounts[account][asset]
        except KeyError:
            bal = self._accounts.setdefault(account, {}).setdefault(asset, Balance())
            return bal

    def balances(self, account: str) -> dict[str, Balance]:
        return self._accounts.get(account, {})

    def credit(self, account: str, asset: str, amount: Decimal) -> None:
        """Funds arriving from outside the venue (a deposit, or the admin API)."""
        if amount < 0:
            raise LedgerError(f"negative credit {amount} {asset}")
        self.balance(account, asset).total += amount

    def lock(self, account: str, asset: str, amount: Decimal) -> None:
        bal = self.balance(account, asset)
        if amount < 0 or amount > bal.free:
            raise LedgerError(f"cannot lock {amount} {asset}: free {bal.free}")
        bal.locked += amount

    def release(self, account: str, asset: str, amount: Decimal) -> None:
        bal = self.balance(account, asset)
        if amount < 0 or amount > bal.locked:
            raise LedgerError(f"cannot release {amount} {asset}: locked {bal.locked}")
        bal.locked -= amount

    def spend_locked(self, account: str, asset: str, release: Decimal, spend: Decimal) -> None:
        """Release ``release`` of a lock and take ``spend`` out of the total, in one step."""
        bal = self.balance(account, asset)
        if release > bal.locked or spend > bal.total or spend < 0 or release < 0:
            raise LedgerError(
                f"cannot spend {spend} (release {release}) {asset}: "
                f"total {bal.total} locked {bal.locked}"
            )
        bal.locked -= release
        bal.total -= spend
        if bal.locked > bal.total:
            raise LedgerError(f"{asset} locked {bal.locked} above total {bal.total}")
