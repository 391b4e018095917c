"""Venue accounts and their API keys, from a TOML file or made up for a demo.

The file holds one table per account::

    [[account]]
    key = "9b0a8437-89fd-4fcd-8f1b-5b2c3e1a0d11"   # X-PCK
    secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="  # base64, as the venue issues it
    name = "desk-1"                                 # optional
    [account.balances]
    TRY = "1000000"
    BTC = "0.5"

A bad file is refused whole, with the account and field named: nothing half-loaded.
"""

from __future__ import annotations

import base64
import binascii
import tomllib
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

__all__ = ["Account", "AccountsError", "demo_account", "load_accounts", "parse_accounts"]


class AccountsError(ValueError):
    """The accounts file cannot be used as it is."""


class RandomBits(Protocol):
    def getrandbits(self, k: int, /) -> int: ...


@dataclass(frozen=True)
class Account:
    key: str
    secret: str  # base64 text, as handed to clients
    name: str
    balances: dict[str, Decimal] = field(default_factory=dict)

    @property
    def secret_bytes(self) -> bytes:
        return base64.b64decode(self.secret, validate=True)

    def __repr__(self) -> str:  # the secret never reaches a log line
        return f"Account(key={self.key!r}, name={self.name!r}, secret=<redacted>)"


def decode_secret(secret: str) -> bytes:
    try:
        raw = base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        raise AccountsError("secret is not valid base64") from None
    if not raw:
        raise AccountsError("secret is empty")
    return raw


def _parse_account(index: int, table: Any) -> Account:
    where = f"account #{index + 1}"
    if not isinstance(table, dict):
        raise AccountsError(f"{where}: must be a table")
    key, secret = table.get("key"), table.get("secret")
    if not isinstance(key, str) or not key.strip():
        raise AccountsError(f"{where}: 'key' must be a non-empty string")
    if not isinstance(secret, str):
        raise AccountsError(f"{where} ({key}): 'secret' must be a base64 string")
    try:
        decode_secret(secret)
    except AccountsError as exc:
        raise AccountsError(f"{where} ({key}): {exc}") from None
    name = table.get("name", key)
    if not isinstance(name, str):
        raise AccountsError(f"{where} ({key}): 'name' must be a string")
    raw_balances = table.get("balances", {})
    if not isinstance(raw_balances, dict):
        raise AccountsError(f"{where} ({key}): 'balances' must be a table")
    balances: dict[str, Decimal] = {}
    for asset, amount in raw_balances.items():
        if isinstance(amount, float | bool):
            raise AccountsError(
                f"{where} ({key}): balance {asset} must be a string or integer, "
                "not a float (money is exact)"
            )
        try:
            value = Decimal(str(amount))
        except InvalidOperation:
            raise AccountsError(f"{where} ({key}): balance {asset} is not a number") from None
        if not value.is_finite() or value < 0:
            raise AccountsError(f"{where} ({key}): balance {asset} must be zero or more")
        balances[asset.upper()] = value
    unknown = set(table) - {"key", "secret", "name", "balances"}
    if unknown:
        raise AccountsError(f"{where} ({key}): unknown field(s) {sorted(unknown)}")
    return Account(key=key.strip(), secret=secret, name=name, balances=balances)


def parse_accounts(document: dict[str, Any]) -> list[Account]:
    tables = document.get("account")
    if not isinstance(tables, list) or not tables:
        raise AccountsError("expected at least one [[account]] table")
    accounts = [_parse_account(i, t) for i, t in enumerate(tables)]
    keys = [a.key for a in accounts]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise AccountsError(f"duplicate key(s): {duplicates}")
    return accounts


def load_accounts(path: Path) -> list[Account]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AccountsError(f"{path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise AccountsError(f"{path}: not valid TOML: {exc}") from None
    try:
        return parse_accounts(document)
    except AccountsError as exc:
        raise AccountsError(f"{path}: {exc}") from None


DEMO_BALANCES = {
    "TRY": Decimal("1000000"),
    "BTC": Decimal("1"),
    "ETH": Decimal("10"),
    "USDT": Decimal("10000"),
}


def demo_account(bits: RandomBits, name: str = "demo") -> Account:
    key = str(uuid.UUID(int=bits.getrandbits(128), version=4))
    secret = base64.b64encode(bits.getrandbits(256).to_bytes(32, "big")).decode("ascii")
    return Account(key=key, secret=secret, name=name, balances=dict(DEMO_BALANCES))
