"""The gate certificate: proof that this code, with this configuration, passed ``chaos gate``.

``chaos gate`` writes it (``issue_certificate`` then ``write_certificate``); ``btcbot run``
calls ``check_live_allowed`` before trading, which refuses live trading on the real venue
unless a certificate exists, records a passing gate, is bound to the code and configuration
about to run, and has not expired. The mock never needs one, nor does observe mode.

The file is JSON, one object, keys sorted::

    {
      "version": 1,
      "code_fingerprint": "<sha256 hex>",     # code_fingerprint(root)
      "packages": {"bot": "<sha256>", ...},   # per package, to say which one changed
      "config_fingerprint": "<sha256 hex>",   # BotSettings.fingerprint()
      "config": {...},                        # BotSettings.canonical(), to say what changed
      "suite": ["scenario", ...],             # the scenarios run, non-empty to pass
      "seeds": [1, 2, ...],
      "passed": true,
      "violations": 0,
      "created_ms": 1700000000000,
      "expires_ms": 1700604800000,            # or null: never
      "tool_version": "0.1.0"
    }

The code fingerprint covers every ``*.py`` file under ``bot/``, ``chaos/`` and
``mock_exchange/``: the verdict depends on the code that trades, the harness that judged it and
the model of the venue it was judged against, so a change to any of the three means the gate
has not seen this tree. Each package hashes its sorted relative paths and contents
(length-prefixed, so no two trees share a digest); ``code_fingerprint`` hashes the three.
Dependencies' versions are not covered.

This guards against accidents (trading code the gate never saw, or a configuration edited
after the gate), not against attackers: anyone who can edit the code can write a certificate.
There is no signature on purpose; it would need a key the bot host must not hold.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.errors import ConfigError
from bot.settings import BotSettings

__all__ = [
    "CERTIFICATE_VERSION",
    "CERTIFIED_PACKAGES",
    "DEFAULT_CERTIFICATE_PATH",
    "Certificate",
    "check_live_allowed",
    "code_fingerprint",
    "issue_certificate",
    "package_fingerprints",
    "read_certificate",
    "tool_version",
    "write_certificate",
]

CERTIFICATE_VERSION = 1
CERTIFIED_PACKAGES = ("bot", "chaos", "mock_exchange")
DEFAULT_CERTIFICATE_PATH = Path("var/gate-certificate.json")
_RERUN = "run `chaos gate` with this code and configuration"


@dataclass(frozen=True)
class Certificate:
    code_fingerprint: str
    config_fingerprint: str
    suite: tuple[str, ...]
    seeds: tuple[int, ...]
    passed: bool
    violations: int
    created_ms: int
    tool_version: str
    expires_ms: int | None = None
    packages: Mapping[str, str] = field(default_factory=dict, hash=False)
    config: Mapping[str, Any] = field(default_factory=dict, hash=False)
    version: int = CERTIFICATE_VERSION

    def to_json(self) -> str:
        body = {
            "version": self.version,
            "code_fingerprint": self.code_fingerprint,
            "packages": dict(self.packages),
            "config_fingerprint": self.config_fingerprint,
            "config": dict(self.config),
            "suite": list(self.suite),
            "seeds": list(self.seeds),
            "passed": self.passed,
            "violations": self.violations,
            "created_ms": self.created_ms,
            "expires_ms": self.expires_ms,
            "tool_version": self.tool_version,
        }
        return json.dumps(body, sort_keys=True, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Certificate:
        """Strict: every field present with its type, or ``ValueError`` saying which."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        version = _field(data, "version", int)
        if version != CERTIFICATE_VERSION:
            raise ValueError(f"version {version}; this bot reads version {CERTIFICATE_VERSION}")
        suite = _field(data, "suite", list)
        seeds = _field(data, "seeds", list)
        if not all(isinstance(name, str) for name in suite):
            raise ValueError("suite must be a list of scenario names")
        if not all(isinstance(seed, int) and not isinstance(seed, bool) for seed in seeds):
            raise ValueError("seeds must be a list of integers")
        expires = data.get("expires_ms")
        if expires is not None:
            expires = _field(data, "expires_ms", int)
        return cls(
            code_fingerprint=_field(data, "code_fingerprint", str),
            config_fingerprint=_field(data, "config_fingerprint", str),
            suite=tuple(suite),
            seeds=tuple(seeds),
            passed=_field(data, "passed", bool),
            violations=_field(data, "violations", int),
            created_ms=_field(data, "created_ms", int),
            tool_version=_field(data, "tool_version", str),
            expires_ms=expires,
            packages=_field(data, "packages", dict) if "packages" in data else {},
            config=_field(data, "config", dict) if "config" in data else {},
        )


def _field(data: Mapping[str, Any], key: str, kind: type) -> Any:
    value = data.get(key)
    wrong_bool = isinstance(value, bool) and kind is not bool
    if key not in data or not isinstance(value, kind) or wrong_bool:
        raise ValueError(f"{key} is missing or not of type {kind.__name__}")
    return value


def _tree_digest(package: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(package.rglob("*.py")):
        name = file.relative_to(package).as_posix().encode()
        content = file.read_bytes()
        for part in (name, content):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return digest.hexdigest()


def package_fingerprints(root: Path) -> dict[str, str]:
    """One sha256 per certified package under ``root``; a missing package is ``"absent"``."""
    if not (root / "bot").is_dir():
        raise ConfigError(f"no bot/ package under {root}: cannot fingerprint the code")
    return {
        name: _tree_digest(root / name) if (root / name).is_dir() else "absent"
        for name in CERTIFIED_PACKAGES
    }


def code_fingerprint(root: Path) -> str:
    """sha256 over the certified packages' sources under ``root`` (the repository root)."""
    return _combine(package_fingerprints(root))


def _combine(packages: Mapping[str, str]) -> str:
    text = json.dumps(dict(packages), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def tool_version() -> str:
    try:
        return importlib.metadata.version("btcturk-testbed")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def issue_certificate(
    settings: BotSettings,
    root: Path,
    *,
    suite: Iterable[str],
    seeds: Iterable[int],
    violations: int,
    now_ms: int,
    valid_for_ms: int | None = None,
) -> Certificate:
    """The gate's verdict on ``settings`` and the code under ``root``; passed iff the suite
    ran at least one scenario and found no violation."""
    names, seed_list = tuple(suite), tuple(seeds)
    packages = package_fingerprints(root)
    return Certificate(
        code_fingerprint=_combine(packages),
        config_fingerprint=settings.fingerprint(),
        suite=names,
        seeds=seed_list,
        passed=violations == 0 and bool(names),
        violations=violations,
        created_ms=now_ms,
        tool_version=tool_version(),
        expires_ms=None if valid_for_ms is None else now_ms + valid_for_ms,
        packages=packages,
        config=settings.canonical(),
    )


def write_certificate(path: Path, certificate: Certificate) -> None:
    """Atomically: a reader sees the old certificate or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(certificate.to_json())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def read_certificate(path: Path) -> Certificate:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no gate certificate at {path}: {_RERUN}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"gate certificate {path} is unreadable: {exc}") from None
    try:
        return Certificate.from_json(text)
    except ValueError as exc:  # json.JSONDecodeError is one
        raise ConfigError(f"gate certificate {path} is unreadable: {exc}") from None


def check_live_allowed(
    settings: BotSettings, certificate_path: Path, root: Path, now_ms: int
) -> None:
    """``ConfigError`` saying why, unless these settings may trade live now.

    Only live mode against the real venue needs a certificate; anything else passes."""
    if not settings.needs_certificate:
        return
    cert = read_certificate(certificate_path)
    if not cert.passed or cert.violations or not cert.suite:
        raise ConfigError(
            f"gate certificate {certificate_path} records a failed gate "
            f"({cert.violations} violations, {len(cert.suite)} scenarios): fix and {_RERUN}"
        )
    packages = package_fingerprints(root)
    if _combine(packages) != cert.code_fingerprint:
        changed = [name for name in packages if cert.packages.get(name) != packages[name]]
        raise ConfigError(
            f"code changed since the gate ({', '.join(changed) or 'unknown package'} differ "
            f"from {certificate_path}): {_RERUN}"
        )
    if settings.fingerprint() != cert.config_fingerprint:
        changed = _changed_keys(cert.config, settings.canonical()) if cert.config else []
        raise ConfigError(
            f"configuration changed since the gate ({', '.join(changed) or 'details unknown'} "
            f"differ from {certificate_path}): {_RERUN}"
        )
    if cert.expires_ms is not None and now_ms >= cert.expires_ms:
        raise ConfigError(
            f"gate certificate {certificate_path} expired at {_iso(cert.expires_ms)}: {_RERUN}"
        )


def _changed_keys(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    changed: list[str] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            changed += _changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            changed.append(f"{prefix}{key}")
    return changed


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")
