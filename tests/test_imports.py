"""The house rules on imports, read from the source: ``bot`` and ``mock_exchange`` never import
each other, and the pure modules import the standard library only (DESIGN.md, rules 1 and 2)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Pure modules: no I/O, no clock, no randomness; stdlib only (plus their own package's pure
# siblings). time, random and asyncio are banned even though they are stdlib.
PURE = {
    "mock_exchange": [
        "matching",
        "ledger",
        "model",
        "rules",
        "validation",
        "errors",
        "events",
        "venue",
        "ratelimit",
        "auth",
        "parsing",
        "candles",
        "views",
        "journal",
        "faults",
        "feed",
    ],
    "bot": ["core", "errors"],
}
BANNED_IN_PURE = {"time", "random", "asyncio", "socket", "threading", "subprocess"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if "." in node.module or node.module not in PURE:
                names.add(node.module)
            else:  # ``from mock_exchange import errors`` imports mock_exchange.errors
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def modules_in(package: str, name: str) -> list[Path]:
    base = ROOT / package / name
    if base.is_dir():
        return sorted(base.rglob("*.py"))
    return [base.with_suffix(".py")]


def pure_files() -> list[Path]:
    return [f for pkg, names in PURE.items() for n in names for f in modules_in(pkg, n)]


def test_bot_never_imports_the_mock() -> None:
    offenders = [
        (str(f.relative_to(ROOT)), name)
        for f in (ROOT / "bot").rglob("*.py")
        for name in imports_of(f)
        if name.split(".")[0] == "mock_exchange"
    ]
    assert offenders == []


def test_mock_never_imports_the_bot() -> None:
    offenders = [
        (str(f.relative_to(ROOT)), name)
        for f in (ROOT / "mock_exchange").rglob("*.py")
        for name in imports_of(f)
        if name.split(".")[0] == "bot"
    ]
    assert offenders == []


def test_the_pure_modules_exist() -> None:
    assert all(f.exists() for f in pure_files()), [f for f in pure_files() if not f.exists()]


@pytest.mark.parametrize("path", pure_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_module_imports_the_standard_library_only(path: Path) -> None:
    package = path.relative_to(ROOT).parts[0]
    allowed_own = {f"{package}.{n}" for n in PURE[package]}
    bad = []
    for name in imports_of(path):
        top = name.split(".")[0]
        if top == "__future__":
            continue
        if top == package:
            if not any(name == own or name.startswith(own + ".") for own in allowed_own):
                bad.append(name)
        elif top not in sys.stdlib_module_names or top in BANNED_IN_PURE:
            bad.append(name)
    assert bad == [], f"{path.name} imports {bad}"


def test_the_checker_catches_a_violation(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import time\nfrom mock_exchange.app import create_app\nimport httpx2\n"
        "from mock_exchange import market\n"
    )
    assert imports_of(sample) == {"time", "mock_exchange.app", "httpx2", "mock_exchange.market"}
