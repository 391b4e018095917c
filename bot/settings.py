"""The bot's configuration: one frozen ``BotSettings``, built once at the edge (STYLE.md rule 9).

``load_settings(path, env)`` reads one TOML file and takes the API key and secret from the
environment (``BTCBOT_API_KEY``, ``BTCBOT_API_SECRET``) and from nowhere else: a secret in the
file is refused, so the file can be committed, copied into a ticket or certified by the gate.
Everything else has a default, so ``load_settings(None, env)`` runs against a local mock.
Unknown keys, wrong types and out-of-range values are ``ConfigError``s naming ``section.key``.

``profile`` picks the venue's URLs: ``mock`` (``http://127.0.0.1:8080``, ``ws://127.0.0.1:8080/``)
or ``live`` (the real BTCTurk); ``[venue] rest_url`` / ``ws_url`` override either. Settings
that point at the real venue (the live profile, or a URL on ``btcturk.com``) must state their
risk limits in the file, not inherit the defaults, and trade in ``live`` mode only with a
passing gate certificate (``bot.certificate``).

``fingerprint()`` is what the gate certificate binds: a sha256 over what the bot *does*, the
venue tuning, strategy, risk and lifecycle sections. Where it points (profile, URLs), where it
stores, how it logs or exports metrics, its initial mode and its keys are left out on purpose:
the gate runs the very same behaviour against the mock, with the mock's URLs, keys and store.

Money and basis points are ``Decimal``: TOML numbers are read as ``Decimal``, never through a
float (``quantity = 0.001`` is exactly ``Decimal("0.001")``); strings are accepted too.

Example ``btcbot.toml``::

    profile = "mock"        # "mock" or "live"
    mode = "observe"        # the initial mode: "observe" (reads only) or "live"

    [venue]                 # rest_url and ws_url default from the profile
    timeout_s = 10.0
    rate_margin = 0.8       # use this share of each endpoint's rate limit
    stamp_tolerance_ms = 3000

    [store]
    url = "sqlite+aiosqlite:///var/bot.db"

    [strategy]
    name = "spread_maker"
    pairs = ["BTCTRY", "ETHTRY"]
    spread_bps = 20
    levels = 2
    level_step_bps = 10
    quantity = 0.0005       # base units per order; or notional = 250 (quote units)
    ttl_ms = 60000
    max_drift_bps = 10
    skew_bps_per_base = 0   # move the centre against the position
    max_skew_bps = 100
    buy_fee_reserve = 0.003 # share of a bid's notional kept free for fee and tax
    pull_when_blind = true  # cancel quotes while the book is stale

    [risk]
    max_position = { default = 0.002, ETHTRY = 0.05 }   # base units, per pair
    max_open_orders = 8
    max_open_orders_per_pair = 4
    max_order_notional = 2500                           # quote units, per pair or one value
    max_daily_loss = 1000                               # quote units

    [lifecycle]
    visibility_budget_ms = 60000
    reconcile_interval_s = 5.0
    lookback_ms = 86400000
    import_external = true
    cancel_external = false
    max_reconcile_failures = 3
    auto_resume = true

    [metrics]
    enabled = true
    host = "127.0.0.1"
    port = 9108

    [logging]
    level = "INFO"
    json = true
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from bot.core.clock import VENUE_STAMP_WINDOW_MS
from bot.errors import ConfigError
from bot.exchange.adapter import LIVE_REST_URL, LIVE_WS_URL, ExchangeConfig
from bot.exchange.signing import Credentials

__all__ = [
    "ENV_API_KEY",
    "ENV_API_SECRET",
    "EXAMPLE_TOML",
    "PROFILE_URLS",
    "BotSettings",
    "LifecycleSettings",
    "LoggingSettings",
    "MetricsSettings",
    "PerPair",
    "RiskSettings",
    "StoreSettings",
    "StrategySettings",
    "VenueSettings",
    "load_settings",
]

ENV_API_KEY = "BTCBOT_API_KEY"
ENV_API_SECRET = "BTCBOT_API_SECRET"  # noqa: S105 (the variable's name, not a secret)

Profile = Literal["mock", "live"]
Mode = Literal["live", "observe"]

PROFILE_URLS: Mapping[str, tuple[str, str]] = types.MappingProxyType(
    {
        "mock": ("http://127.0.0.1:8080", "ws://127.0.0.1:8080/"),
        "live": (LIVE_REST_URL, LIVE_WS_URL),
    }
)
REAL_VENUE_DOMAIN = "btcturk.com"
STRATEGIES = ("spread_maker",)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Raised to 2 whenever ``canonical()`` changes shape, so old certificates stop matching.
FINGERPRINT_SCHEMA = 1

_PAIR = re.compile(r"^[A-Z0-9]{2,20}$")
_SECRET_WORDS = ("secret", "password", "passphrase", "token", "credential", "private")
_SECRET_KEYS = frozenset({"key", "api_key", "apikey", "public_key", "pck"})
# The risk limits a configuration pointed at the real venue must state, not inherit.
_EXPLICIT_WHEN_REAL = ("max_position", "max_order_notional", "max_daily_loss")


def _require(ok: bool, key: str, what: str) -> None:
    if not ok:
        raise ConfigError(f"{key} {what}")


@dataclass(frozen=True)
class PerPair:
    """A limit per pair, with an optional ``default`` for the pairs not named.

    In TOML either one number for every pair or a table: ``{ default = 1, BTCTRY = 0.5 }``."""

    default: Decimal | None = None
    pairs: tuple[tuple[str, Decimal], ...] = ()

    def for_pair(self, pair: str) -> Decimal:
        for name, value in self.pairs:
            if name == pair:
                return value
        if self.default is None:
            raise KeyError(pair)
        return self.default

    def covers(self, pair: str) -> bool:
        return self.default is not None or any(name == pair for name, _ in self.pairs)

    def canonical(self) -> dict[str, str]:
        table = {name: _canonical_decimal(value) for name, value in self.pairs}
        if self.default is not None:
            table["default"] = _canonical_decimal(self.default)
        return table

    def check_pairs(self, key: str, pairs: tuple[str, ...]) -> None:
        for pair in pairs:
            _require(self.covers(pair), key, f"has no limit for {pair}: name it or a default")
        for name, _ in self.pairs:
            _require(name in pairs, f"{key}.{name}", "is not one of strategy.pairs")

    def check(self, key: str) -> None:
        names = [name for name, _ in self.pairs]
        _require(len(names) == len(set(names)), key, "names a pair twice")
        _require(self.default is not None or bool(names), key, "is empty")
        for name, value in (("default", self.default), *self.pairs):
            if value is not None:
                _require(value > 0, f"{key}.{name}", "must be positive")


@dataclass(frozen=True)
class VenueSettings:
    rest_url: str | None = None  # None: the profile's
    ws_url: str | None = None
    timeout_s: float = 10.0
    rate_margin: float = 0.8
    stamp_tolerance_ms: int = 3_000

    def __post_init__(self) -> None:
        for key, schemes in (
            ("rest_url", ("http://", "https://")),
            ("ws_url", ("ws://", "wss://")),
        ):
            url = getattr(self, key)
            _require(
                url is None or url.startswith(schemes),
                f"venue.{key}",
                f"must start with {' or '.join(schemes)}",
            )
        _require(self.timeout_s > 0, "venue.timeout_s", "must be positive")
        _require(0 < self.rate_margin <= 1, "venue.rate_margin", "must be in (0, 1]")
        _require(
            0 < self.stamp_tolerance_ms < VENUE_STAMP_WINDOW_MS,
            "venue.stamp_tolerance_ms",
            f"must be between 1 and {VENUE_STAMP_WINDOW_MS - 1} (the venue refuses beyond "
            f"{VENUE_STAMP_WINDOW_MS} ms)",
        )


@dataclass(frozen=True)
class StoreSettings:
    url: str = "sqlite+aiosqlite:///var/bot.db"

    def __post_init__(self) -> None:
        _require("://" in self.url, "store.url", "must be a database URL (scheme://...)")


@dataclass(frozen=True)
class StrategySettings:
    """Size is either ``quantity`` (base) or ``notional`` (quote): giving ``notional`` in
    the file without ``quantity`` sizes by notional."""

    name: str = "spread_maker"
    pairs: tuple[str, ...] = ("BTCTRY",)
    spread_bps: Decimal = Decimal(20)
    levels: int = 1
    level_step_bps: Decimal = Decimal(10)
    quantity: Decimal | None = Decimal("0.0001")
    notional: Decimal | None = None
    ttl_ms: int = 60_000
    max_drift_bps: Decimal = Decimal(10)
    skew_bps_per_base: Decimal = Decimal(0)
    max_skew_bps: Decimal = Decimal(100)
    buy_fee_reserve: Decimal = Decimal("0.003")
    pull_when_blind: bool = True

    def __post_init__(self) -> None:
        _require(self.name in STRATEGIES, "strategy.name", f"must be one of {list(STRATEGIES)}")
        _require(bool(self.pairs), "strategy.pairs", "must name at least one pair")
        _require(len(set(self.pairs)) == len(self.pairs), "strategy.pairs", "names a pair twice")
        for pair in self.pairs:
            _require(bool(_PAIR.match(pair)), "strategy.pairs", f"has {pair!r}; write BTCTRY")
        _require(0 < self.spread_bps < 10_000, "strategy.spread_bps", "must be in (0, 10000)")
        _require(1 <= self.levels <= 20, "strategy.levels", "must be between 1 and 20")
        _require(self.level_step_bps >= 0, "strategy.level_step_bps", "must not be negative")
        widest = self.spread_bps / 2 + (self.levels - 1) * self.level_step_bps
        _require(widest < 10_000, "strategy.level_step_bps", "puts the widest level past 100%")
        _require(
            (self.quantity is None) != (self.notional is None),
            "strategy.quantity",
            "and strategy.notional: give exactly one",
        )
        for key in ("quantity", "notional"):
            size = getattr(self, key)
            _require(size is None or size > 0, f"strategy.{key}", "must be positive")
        _require(self.ttl_ms > 0, "strategy.ttl_ms", "must be positive")
        _require(self.max_drift_bps >= 0, "strategy.max_drift_bps", "must not be negative")
        _require(0 <= self.max_skew_bps < 10_000, "strategy.max_skew_bps", "must be in [0, 10000)")
        _require(self.buy_fee_reserve >= 0, "strategy.buy_fee_reserve", "must not be negative")


@dataclass(frozen=True)
class RiskSettings:
    max_position: PerPair = PerPair(default=Decimal("0.001"))  # base units
    max_open_orders: int = 8
    max_open_orders_per_pair: int | None = None  # None: as many as max_open_orders
    max_order_notional: PerPair = PerPair(default=Decimal(5_000))  # quote units
    max_daily_loss: Decimal = Decimal(1_000)  # quote units

    def __post_init__(self) -> None:
        self.max_position.check("risk.max_position")
        self.max_order_notional.check("risk.max_order_notional")
        _require(self.max_open_orders >= 1, "risk.max_open_orders", "must be at least 1")
        _require(
            1 <= self.open_orders_per_pair <= self.max_open_orders,
            "risk.max_open_orders_per_pair",
            "must be between 1 and risk.max_open_orders",
        )
        _require(self.max_daily_loss > 0, "risk.max_daily_loss", "must be positive")

    @property
    def open_orders_per_pair(self) -> int:
        per_pair = self.max_open_orders_per_pair
        return self.max_open_orders if per_pair is None else per_pair


@dataclass(frozen=True)
class LifecycleSettings:
    visibility_budget_ms: int = 60_000
    reconcile_interval_s: float = 5.0
    lookback_ms: int = 86_400_000
    import_external: bool = True
    cancel_external: bool = False
    max_reconcile_failures: int = 3
    auto_resume: bool = True

    def __post_init__(self) -> None:
        for key in ("visibility_budget_ms", "reconcile_interval_s", "lookback_ms"):
            _require(getattr(self, key) > 0, f"lifecycle.{key}", "must be positive")
        _require(
            self.max_reconcile_failures >= 1,
            "lifecycle.max_reconcile_failures",
            "must be at least 1",
        )


@dataclass(frozen=True)
class MetricsSettings:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 9108

    def __post_init__(self) -> None:
        _require(bool(self.host), "metrics.host", "must not be empty")
        _require(0 <= self.port <= 65_535, "metrics.port", "must be between 0 and 65535")


@dataclass(frozen=True)
class LoggingSettings:
    level: str = "INFO"
    json: bool = True

    def __post_init__(self) -> None:
        _require(self.level in LOG_LEVELS, "logging.level", f"must be one of {list(LOG_LEVELS)}")


_SECTIONS: Mapping[str, type] = types.MappingProxyType(
    {
        "venue": VenueSettings,
        "store": StoreSettings,
        "strategy": StrategySettings,
        "risk": RiskSettings,
        "lifecycle": LifecycleSettings,
        "metrics": MetricsSettings,
        "logging": LoggingSettings,
    }
)


@dataclass(frozen=True)
class BotSettings:
    """Everything the bot is told, checked. Build it with ``load_settings``."""

    profile: Profile = "mock"
    mode: Mode = "observe"
    venue: VenueSettings = field(default_factory=VenueSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    strategy: StrategySettings = field(default_factory=StrategySettings)
    risk: RiskSettings = field(default_factory=RiskSettings)
    lifecycle: LifecycleSettings = field(default_factory=LifecycleSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    api_key: str = field(default="", repr=False)
    api_secret: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        _require(self.profile in PROFILE_URLS, "profile", f"must be one of {list(PROFILE_URLS)}")
        _require(self.mode in ("live", "observe"), "mode", "must be 'live' or 'observe'")
        self.risk.max_position.check_pairs("risk.max_position", self.strategy.pairs)
        self.risk.max_order_notional.check_pairs("risk.max_order_notional", self.strategy.pairs)
        if self.api_key or self.api_secret:
            self.credentials()  # strict base64 now, not at the first signed request

    @property
    def rest_url(self) -> str:
        return self.venue.rest_url or PROFILE_URLS[self.profile][0]

    @property
    def ws_url(self) -> str:
        return self.venue.ws_url or PROFILE_URLS[self.profile][1]

    @property
    def targets_real_venue(self) -> bool:
        """The live profile, or either URL on the real venue's domain."""
        return self.profile == "live" or any(
            _on_real_venue(url) for url in (self.rest_url, self.ws_url)
        )

    @property
    def needs_certificate(self) -> bool:
        """Live trading on the real venue: only with a passing gate certificate."""
        return self.mode == "live" and self.targets_real_venue

    def credentials(self) -> Credentials:
        if not self.api_key or not self.api_secret:
            raise ConfigError(f"set {ENV_API_KEY} and {ENV_API_SECRET} in the environment")
        return Credentials.from_base64(self.api_key, self.api_secret)

    def exchange_config(self) -> ExchangeConfig:
        self.credentials()
        return ExchangeConfig(
            api_key=self.api_key,
            api_secret=self.api_secret,
            rest_url=self.rest_url,
            ws_url=self.ws_url,
            pairs=self.strategy.pairs,
            timeout_s=self.venue.timeout_s,
            rate_margin=self.venue.rate_margin,
            stamp_tolerance_ms=self.venue.stamp_tolerance_ms,
        )

    def canonical(self) -> dict[str, Any]:
        """What the gate certifies, as plain JSON values: the bot's behaviour, no secrets,
        no deployment details (see the module docstring)."""
        venue = self.venue
        return {
            "schema": FINGERPRINT_SCHEMA,
            "venue": {
                "timeout_s": float(venue.timeout_s),
                "rate_margin": float(venue.rate_margin),
                "stamp_tolerance_ms": venue.stamp_tolerance_ms,
            },
            "strategy": _canonical_section(self.strategy),
            "risk": _canonical_section(self.risk),
            "lifecycle": _canonical_section(self.lifecycle),
        }

    def fingerprint(self) -> str:
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("ascii")).hexdigest()


def _on_real_venue(url: str) -> bool:
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    return host == REAL_VENUE_DOMAIN or host.endswith("." + REAL_VENUE_DOMAIN)


def _canonical_decimal(value: Decimal) -> str:
    return format(value.normalize(), "f")  # 0.0010 and 0.001 are one setting


def _canonical_value(value: object) -> object:
    if isinstance(value, Decimal):
        return _canonical_decimal(value)
    if isinstance(value, PerPair):
        return value.canonical()
    if isinstance(value, tuple):
        return sorted(str(item) for item in value)  # pairs: a set, whatever their order
    return value


def _canonical_section(section: object) -> dict[str, object]:
    return {f.name: _canonical_value(getattr(section, f.name)) for f in fields(section)}  # type: ignore[arg-type]


# -- reading the file ---------------------------------------------------------------------


def load_settings(
    path: Path | None, env: Mapping[str, str], *, require_secrets: bool = True
) -> BotSettings:
    """The settings in ``path`` (defaults only when None) with the keys from ``env``.

    ``require_secrets=False`` is for tools that only fingerprint a configuration (the gate
    certifies a live configuration without its live keys); such settings cannot trade."""
    data = _read(path) if path is not None else {}
    _refuse_secrets(data, "")
    for key in data:
        if key not in ("profile", "mode", *_SECTIONS):
            raise ConfigError(_unknown(key, key, ["profile", "mode", *_SECTIONS]))
    strategy = data.get("strategy")
    if isinstance(strategy, dict) and "notional" in strategy and "quantity" not in strategy:
        data["strategy"] = {**strategy, "quantity": None}  # sized by notional instead
    sections = {name: _build(cls, name, data.get(name, {})) for name, cls in _SECTIONS.items()}
    api_key = env.get(ENV_API_KEY, "").strip()
    api_secret = env.get(ENV_API_SECRET, "").strip()
    if require_secrets and (not api_key or not api_secret):
        raise ConfigError(
            f"set {ENV_API_KEY} and {ENV_API_SECRET} in the environment "
            "(keys are never read from the settings file)"
        )
    settings = BotSettings(
        profile=_convert(data.get("profile", "mock"), str, "profile"),
        mode=_convert(data.get("mode", "observe"), str, "mode"),
        api_key=api_key,
        api_secret=api_secret,
        **sections,
    )
    if settings.targets_real_venue:
        stated = data.get("risk", {})
        for key in _EXPLICIT_WHEN_REAL:
            _require(
                key in stated,
                f"risk.{key}",
                "must be set in the file when the settings point at the real venue",
            )
    return settings


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"settings file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"settings file {path} cannot be read: {exc}") from None
    try:
        return tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:  # its message gives line and column, not content
        raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from None


def _refuse_secrets(table: Mapping[str, Any], prefix: str) -> None:
    for key, value in table.items():
        name = f"{prefix}{key}"
        lowered = key.lower()
        if lowered in _SECRET_KEYS or any(word in lowered for word in _SECRET_WORDS):
            raise ConfigError(
                f"{name} looks like a secret: keys are never read from the settings file; "
                f"set {ENV_API_KEY} and {ENV_API_SECRET} in the environment"
            )
        if isinstance(value, dict):
            _refuse_secrets(value, f"{name}.")


def _unknown(name: str, key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
    return f"{name} is not a setting{hint}"


def _build(cls: type, section: str, table: object) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"[{section}] must be a table")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in fields(cls)]
    values: dict[str, object] = {}
    for key, raw in table.items():
        name = f"{section}.{key}"
        if key not in known:
            raise ConfigError(_unknown(name, key, known))
        values[key] = _convert(raw, hints[key], name)
    return cls(**values)


_WORDS = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}


def _convert(raw: object, kind: Any, name: str) -> Any:
    """``raw`` from TOML as ``kind``, or ``ConfigError``. Never quotes the value."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        if raw is None:  # TOML has no null: only the loader itself passes None
            return None
        kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
    if kind is bool and isinstance(raw, bool):
        return raw
    if kind is int and isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if kind is float and isinstance(raw, int | Decimal) and not isinstance(raw, bool):
        return float(raw)
    if kind is str and isinstance(raw, str):
        return raw
    if kind is Decimal:
        return _decimal(raw, name)
    if kind == tuple[str, ...] and isinstance(raw, list):
        if all(isinstance(item, str) for item in raw):
            return tuple(raw)
        raise ConfigError(f"{name} must be a list of strings")
    if kind is PerPair:  # one number for every pair, or a table of pairs and a default
        table = raw if isinstance(raw, dict) else {"": raw}
        limits = {k: _decimal(v, f"{name}.{k}" if k else name) for k, v in sorted(table.items())}
        default = limits.pop("default", None) if isinstance(raw, dict) else limits.pop("")
        return PerPair(default, tuple(limits.items()))
    expected = _WORDS.get(kind, "a list of strings" if kind == tuple[str, ...] else str(kind))
    raise ConfigError(f"{name} must be {expected}, got {_kind_of(raw)}")


def _decimal(raw: object, name: str) -> Decimal:
    if isinstance(raw, Decimal | int | str) and not isinstance(raw, bool):
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise ConfigError(f"{name} must be a number") from None
        if value.is_finite():
            return value
    raise ConfigError(f"{name} must be a finite number, got {_kind_of(raw)}")


_KINDS = {bool: "a boolean", int: "a whole number", Decimal: "a number", str: "a string"}
_KINDS |= {list: "a list", dict: "a table"}


def _kind_of(raw: object) -> str:
    return _KINDS.get(type(raw), type(raw).__name__)


def _example(doc: str) -> str:
    """The indented block after the docstring's ``Example`` line: the example is tested."""
    lines = doc.split("Example ``btcbot.toml``::\n", 1)[1].splitlines()
    body = itertools.takewhile(lambda line: line.startswith("    ") or not line.strip(), lines)
    return "\n".join(line[4:] for line in body).strip() + "\n"


EXAMPLE_TOML = _example(__doc__ or "")
