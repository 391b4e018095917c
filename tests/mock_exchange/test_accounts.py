"""Accounts come from a TOML file; a bad file is refused whole with the culprit named."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pytest

from mock_exchange.accounts import AccountsError, demo_account, load_accounts

GOOD = """
[[account]]
key = "k1"
secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="
[account.balances]
TRY = "1000000"
btc = 2
"""


def test_a_good_file_loads_with_exact_balances(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(GOOD)
    [account] = load_accounts(tmp_path / "a.toml")
    assert account.key == "k1" and account.balances == {"TRY": Decimal(1000000), "BTC": 2}
    assert "c2Vj" not in repr(account), "the secret never reaches a log line"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (GOOD.replace('secret = "c2Vj', 'secret = "!!!'), "not valid base64"),
        (GOOD.replace('TRY = "1000000"', "TRY = 1.5"), "not a float"),
        (GOOD.replace('TRY = "1000000"', 'TRY = "-1"'), "zero or more"),
        (GOOD + GOOD, "duplicate key"),
        ("[[account]]\nsecret = 'AA=='\n", "'key'"),
        ("not toml [", "not valid TOML"),
        ("", "at least one"),
    ],
)
def test_a_bad_file_is_refused_with_a_clear_error(tmp_path: Path, text: str, fragment: str) -> None:
    (tmp_path / "a.toml").write_text(text)
    with pytest.raises(AccountsError, match=fragment):
        load_accounts(tmp_path / "a.toml")


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AccountsError, match="No such file"):
        load_accounts(tmp_path / "missing.toml")


def test_demo_credentials_are_a_guid_and_base64_reproducible_by_seed() -> None:
    a, b = demo_account(random.Random(3)), demo_account(random.Random(3))
    assert a.key == b.key and a.secret == b.secret and len(a.secret_bytes) == 32
