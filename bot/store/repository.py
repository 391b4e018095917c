"""The bot's books on disk: orders, intents, fills, the audit trail, snapshots, small values.

``Store`` is the only user of a database session (STYLE.md). Callers hand it plain values
(order dicts with the lifecycle's ``LocalOrder`` field names, ``Fill`` and ``Balance`` from
``bot.core.types``) and get the same back; no row object leaves this module.

SQLite (WAL, ``synchronous=NORMAL``, a busy timeout) is the default for one process;
PostgreSQL by URL lets several bot processes share one account. Three writes carry the
safety, and each is one transaction:

- ``commit_intent`` (write-ahead): the order row in state ``intent``, its intent and an
  audit row are committed *before* the request leaves, so a crash at any later point leaves
  a row to resolve against the venue by client id.
- ``transition`` is a compare-and-set on the state (``UPDATE ... WHERE client_id = ? AND
  state = ?``) plus its audit row. If another process moved the order first, nothing is
  written and it answers False. PostgreSQL's row lock makes the loser wait and then match
  no row; SQLite serialises writers outright.
- ``record_fill`` is ``INSERT ... ON CONFLICT (trade_id) DO NOTHING``: a fill seen on the
  websocket and again in a REST backfill, or by two processes at once, is recorded exactly
  once, and only the first caller is told it is new.

Errors: a URL that cannot be used or a database that cannot be reached raises
``ConfigError`` when the store opens (the password never appears in the message); a write
that breaks a constraint (a client id committed twice, a float where money goes) raises
``Bug``. Other database failures in mid-run are not translated.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from decimal import Decimal
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Row, Select, Table, bindparam, func, select, text
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    InvalidRequestError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
    StatementError,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.schema import CreateIndex, CreateTable

from bot.core.types import Balance, Fill, OrderMethod, Side
from bot.errors import Bug, ConfigError
from bot.store.tables import (
    TABLES,
    AuditRow,
    BalanceSnapshotRow,
    FillRow,
    IntentRow,
    KVRow,
    OrderRow,
    PositionSnapshotRow,
    table_of,
)

__all__ = [
    "AUDIT_FIELDS",
    "DEFAULT_URL",
    "FILL_SOURCES",
    "LIVE_STATES",
    "ORDER_FIELDS",
    "TERMINAL_STATES",
    "Store",
]

DEFAULT_URL = "sqlite+aiosqlite:///var/bot.db"

TERMINAL_STATES = frozenset({"filled", "cancelled", "rejected"})
# 'intent' is live: after a crash nobody knows whether its request left.
LIVE_STATES = frozenset({"intent", "submitting", "open", "partial", "cancel_pending", "unknown"})
FILL_SOURCES = frozenset({"ws", "rest"})

_ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
# One key for pg_advisory_xact_lock: two processes creating the tables at once would
# otherwise race in the catalogue ("duplicate key value violates ... pg_type").
_SCHEMA_LOCK = 0x0B07_5700

_ORDERS = table_of(OrderRow)
_INTENTS = table_of(IntentRow)
_FILLS = table_of(FillRow)
_BALANCES = table_of(BalanceSnapshotRow)
_POSITIONS = table_of(PositionSnapshotRow)
_AUDIT = table_of(AuditRow)
_KV = table_of(KVRow)

# The lifecycle's LocalOrder, field for field and in its order; what it may leave out.
ORDER_FIELDS: tuple[str, ...] = tuple(column.name for column in _ORDERS.columns)
_ORDER_FIELD_SET = frozenset(ORDER_FIELDS)
_ORDER_DEFAULTS: dict[str, Any] = {
    **{column.name: None for column in _ORDERS.columns if column.nullable},
    "filled": Decimal(0),
    "external": False,
}
AUDIT_FIELDS: tuple[str, ...] = tuple(column.name for column in _AUDIT.columns)
_FILL_FIELDS = tuple(field.name for field in dataclasses.fields(Fill))  # FillRow less source


_SCHEMA_ATTEMPTS = 20


async def _create_schema(engine: AsyncEngine, backend: str) -> None:
    async with engine.begin() as conn:
        if backend == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
        for table in TABLES:
            await conn.execute(CreateTable(table, if_not_exists=True))
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                await conn.execute(CreateIndex(index, if_not_exists=True))


class Store:
    """The bot's persistent state over one async SQLAlchemy engine. Build it with ``open``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._sql = _STATEMENTS[self._postgres]
        # SQLite takes one writer at a time; without this, this process's own writers
        # would wait for each other in SQLite's busy handler, which sleeps in steps of up
        # to 100 ms. Other processes still meet the busy timeout.
        self._one_writer: AbstractAsyncContextManager[Any] = (
            nullcontext() if self._postgres else asyncio.Lock()
        )

    # ---- opening and closing -------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        url: str = DEFAULT_URL,
        *,
        connect_timeout_s: float = 10.0,
        busy_timeout_ms: int = 5_000,
    ) -> Store:
        """Connect, and create the tables that are missing.

        ``sqlite:///path`` and ``postgresql://...`` without a driver get the async one
        (aiosqlite, asyncpg). A relative SQLite path is relative to the working directory;
        its parent directories are created. ``ConfigError`` if the URL is unusable or the
        database cannot be reached; the message shows the URL without its password."""
        parsed = _parse_url(url)
        safe = parsed.render_as_string(hide_password=True)
        backend = parsed.get_backend_name()
        options: dict[str, Any] = {}
        if backend == "sqlite":
            database = parsed.database or ""
            if database in ("", ":memory:") or parsed.query.get("mode") == "memory":
                options["poolclass"] = StaticPool  # one connection, or each sees its own DB
            elif not database.startswith("file:"):
                try:
                    Path(database).parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise ConfigError(
                        f"cannot create the directory of the store {safe}: {exc.strerror}"
                    ) from None
        else:
            options["pool_pre_ping"] = True  # a restarted server must not fail the next write
            # whatever the server's default: under READ COMMITTED the loser of a race on one
            # order re-reads the row after the winner commits and matches nothing (False);
            # under REPEATABLE READ it would fail with a serialisation error instead
            options["isolation_level"] = "READ COMMITTED"
            if parsed.get_driver_name() == "asyncpg":
                options["connect_args"] = {"timeout": connect_timeout_s}
        try:
            engine = create_async_engine(parsed, **options)
        except ModuleNotFoundError as exc:
            raise ConfigError(
                f"the store URL {safe} needs the {exc.name} driver, which is not installed"
            ) from None
        except (ArgumentError, NoSuchModuleError, InvalidRequestError, TypeError) as exc:
            raise ConfigError(f"the store URL {safe} is not usable: {exc}") from None
        if backend == "sqlite":
            sa_event.listen(engine.sync_engine, "connect", _sqlite_pragmas(busy_timeout_ms))
        try:
            for attempt in range(_SCHEMA_ATTEMPTS):
                try:
                    await _create_schema(engine, backend)
                    break
                except OperationalError as exc:
                    # SQLite answers "database is locked" at once, without its busy timeout,
                    # when two connections both try to upgrade to writing (its deadlock
                    # rule): several processes creating one new file meet it. Try again.
                    locked = backend == "sqlite" and "locked" in str(exc.orig)
                    if not locked or attempt == _SCHEMA_ATTEMPTS - 1:
                        raise
                    await asyncio.sleep(0.02 * (attempt + 1))
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            await engine.dispose()
            reason = _reason(exc, parsed.password)
            raise ConfigError(f"cannot open the store at {safe}: {reason}") from None
        return cls(engine)

    async def close(self) -> None:
        await self._engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    async def diagnostics(self) -> dict[str, str]:
        """The settings that matter, as the database reports them (for ``btcbot check``)."""
        found = {"dialect": self.dialect}
        async with self._engine.connect() as conn:
            if self._postgres:
                for name in ("server_version", "transaction_isolation"):
                    found[name] = str((await conn.exec_driver_sql(f"SHOW {name}")).scalar())
            else:
                for name in ("journal_mode", "synchronous", "busy_timeout"):
                    found[name] = str((await conn.exec_driver_sql(f"PRAGMA {name}")).scalar())
        return found

    # ---- orders ----------------------------------------------------------------------------

    async def commit_intent(
        self,
        order: Mapping[str, Any],
        intent: Mapping[str, Any],
        at_ms: int,
        *,
        event: str = "intent",
        detail: str | None = None,
    ) -> None:
        """Write ahead: the order row in state ``intent``, its intent (once per intent, so a
        later attempt finds it there) and an audit row, in one transaction. ``Bug`` if the
        client id, or the intent's attempt number, is already taken."""
        values = _order_values(order, at_ms=at_ms)
        if values["state"] != "intent":
            raise Bug(f"commit_intent for {values['client_id']} in state {values['state']!r}")
        intent_values = _intent_values(intent, at_ms)
        if intent_values["intent_id"] != values["intent_id"]:
            raise Bug(
                f"order {values['client_id']} belongs to intent {values['intent_id']}, "
                f"not {intent_values['intent_id']}"
            )
        sql = self._sql
        async with self._transaction() as conn:
            await conn.execute(sql.insert_intent, intent_values)
            await conn.execute(_INSERT_ORDER, values)
            await conn.execute(
                _INSERT_AUDIT, _audit(values["client_id"], None, "intent", event, at_ms, detail)
            )

    async def transition(
        self,
        client_id: str,
        expected_state: str,
        new_values: Mapping[str, Any],
        event: str,
        at_ms: int,
        detail: str | None = None,
    ) -> bool:
        """Compare-and-set: apply ``new_values`` (any order fields but the client id;
        ``updated_ms`` defaults to ``at_ms``) only if the order is still in
        ``expected_state``, and audit it, in one transaction. False, and nothing written,
        if the order is elsewhere or absent."""
        values = _order_values(new_values, partial=True)
        if "client_id" in values:
            raise Bug(f"transition cannot change the client id of {client_id}")
        values.setdefault("updated_ms", at_ms)
        expected = _plain(expected_state)
        target = values.get("state", expected)
        params = {**values, _CAS_CLIENT_ID: client_id, _CAS_STATE: expected}
        async with self._transaction() as conn:
            result = await conn.execute(_UPDATE_ORDER_CAS, params)
            if result.rowcount != 1:
                return False
            await conn.execute(
                _INSERT_AUDIT, _audit(client_id, expected, target, event, at_ms, detail)
            )
        return True

    async def upsert_order(
        self,
        order: Mapping[str, Any],
        at_ms: int,
        *,
        event: str = "import",
        detail: str | None = None,
    ) -> bool:
        """Insert the whole order keyed by client id, or overwrite the one there whatever
        its state (``updated_ms`` defaults to ``at_ms``; ``created_ms``, if not given,
        stays); audit a change of state. For imports (orders the bot did not place) and
        repairs by reconciliation; the lifecycle's own changes go through ``transition``.
        True if the row is new."""
        values = _order_values(order, at_ms=at_ms)
        client_id = values["client_id"]
        changes = {"updated_ms": at_ms, **_order_values(order, partial=True)}
        del changes["client_id"]
        async with self._transaction() as conn:
            result = await conn.execute(self._sql.insert_order_new, values)
            if result.rowcount == 1:
                audit = _audit(client_id, None, values["state"], event, at_ms, detail)
                await conn.execute(_INSERT_AUDIT, audit)
                return True
            before = (
                await conn.execute(_LOCK_ORDER_STATE, {_CAS_CLIENT_ID: client_id})
            ).scalar_one()
            await conn.execute(_UPDATE_ORDER, {**changes, _CAS_CLIENT_ID: client_id})
            if before != values["state"]:
                audit = _audit(client_id, before, values["state"], event, at_ms, detail)
                await conn.execute(_INSERT_AUDIT, audit)
        return False

    async def orders(self, states: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Every order (or those in ``states``), oldest first."""
        async with self._connection() as conn:
            if states is None:
                rows = await conn.execute(_ALL_ORDERS)
            else:
                rows = await conn.execute(
                    _ORDERS_IN_STATES, {"states": [_plain(s) for s in states]}
                )
            return [_order_dict(row) for row in rows]

    async def live_orders(self) -> list[dict[str, Any]]:
        """Orders not yet filled, cancelled or rejected, ``intent`` included."""
        return await self.orders(LIVE_STATES)

    async def order_by_client_id(self, client_id: str) -> dict[str, Any] | None:
        return await self._one_order(_ORDER_BY_CLIENT_ID, client_id)

    async def order_by_venue_id(self, venue_id: int) -> dict[str, Any] | None:
        return await self._one_order(_ORDER_BY_VENUE_ID, venue_id)

    async def orders_for_intent(self, intent_id: str) -> list[dict[str, Any]]:
        """Every attempt of one intent, first attempt first."""
        async with self._connection() as conn:
            rows = await conn.execute(_ORDERS_FOR_INTENT, {"key": intent_id})
            return [_order_dict(row) for row in rows]

    async def intent(self, intent_id: str) -> dict[str, Any] | None:
        """The intent as committed; ``payload`` parsed back from JSON (Decimals as strings)."""
        async with self._connection() as conn:
            row = (await conn.execute(_INTENT_BY_ID, {"key": intent_id})).first()
        if row is None:
            return None
        found = dict(zip(_INTENT_FIELDS, row, strict=True))
        found["payload"] = json.loads(found["payload"])
        return found

    async def audit(self, client_id: str | None = None) -> list[dict[str, Any]]:
        """The audit trail (of one order) in insertion order: for one order, the order in
        which its transitions committed (each waits for the last one's row lock)."""
        async with self._connection() as conn:
            if client_id is None:
                rows = await conn.execute(_ALL_AUDIT)
            else:
                rows = await conn.execute(_AUDIT_OF_ORDER, {"key": client_id})
            return [dict(zip(AUDIT_FIELDS, row, strict=True)) for row in rows]

    # ---- fills -----------------------------------------------------------------------------

    async def record_fill(
        self, fill: Fill, client_id: str | None = None, source: str = "ws"
    ) -> bool:
        """Record one fill, keyed by its trade id. True if it is new; False if that trade id
        is already recorded (by this process or another), whatever else the copy says.
        ``client_id``, when given, overrides ``fill.client_id`` (a 423 may lack it)."""
        if source not in FILL_SOURCES:
            raise Bug(f"fill source must be one of {sorted(FILL_SOURCES)}, not {source!r}")
        values = {name: _plain(getattr(fill, name)) for name in _FILL_FIELDS}
        if client_id is not None:
            values["client_id"] = client_id
        values["source"] = source
        async with self._transaction() as conn:
            result = await conn.execute(self._sql.insert_fill, values)
        return result.rowcount == 1

    async def fills(
        self,
        since_ms: int | None = None,
        *,
        client_id: str | None = None,
        order_id: int | None = None,
    ) -> list[Fill]:
        """Recorded fills with ``timestamp >= since_ms`` (of one order), by time then trade
        id. ``client_id`` is the recorded one."""
        query = _fills_query(since_ms is not None, client_id is not None, order_id is not None)
        params = {"since_ms": since_ms, "client_id": client_id, "order_id": order_id}
        async with self._connection() as conn:
            return [_fill(row) for row in await conn.execute(query, params)]

    async def fill_ids(self) -> set[int]:
        async with self._connection() as conn:
            return set((await conn.execute(_FILL_IDS)).scalars())

    async def fill_counts(self) -> dict[str, int]:
        """How many fills each source recorded first (``rest``: backfilled after a gap)."""
        async with self._connection() as conn:
            return {source: count for source, count in await conn.execute(_FILL_COUNTS)}

    # ---- small values and snapshots ------------------------------------------------------

    async def kv_get(self, key: str, default: str | None = None) -> str | None:
        async with self._connection() as conn:
            value = (await conn.execute(_KV_GET, {"key": key})).scalar_one_or_none()
        return default if value is None else str(value)

    async def kv_set(self, key: str, value: str) -> None:
        async with self._transaction() as conn:
            await conn.execute(self._sql.kv_set, {"key": key, "value": value})

    async def save_balances(
        self, snapshot: Iterable[Balance] | Mapping[str, Balance], at_ms: int
    ) -> None:
        """One snapshot of every asset, stamped ``at_ms``; an empty one records nothing."""
        balances = list(snapshot.values() if isinstance(snapshot, Mapping) else snapshot)
        rows = [
            {
                "taken_ms": at_ms,
                "asset": b.asset,
                "total": b.total,
                "locked": b.locked,
                "free": b.free,
                "venue_ms": b.timestamp,
            }
            for b in balances
        ]
        if rows:
            async with self._transaction() as conn:
                await conn.execute(_BALANCES.insert().values(rows))

    async def latest_balances(self) -> dict[str, Balance]:
        """The newest snapshot by asset; ``{}`` before the first."""
        async with self._connection() as conn:
            return {
                r.asset: Balance(r.asset, r.total, r.locked, r.free, r.venue_ms)
                for r in await conn.execute(_LATEST_BALANCES)
            }

    async def save_positions(self, positions: Mapping[str, Decimal], at_ms: int) -> None:
        """One snapshot of net positions by pair (or asset), stamped ``at_ms``."""
        rows = [{"taken_ms": at_ms, "pair": k, "amount": v} for k, v in positions.items()]
        if rows:
            async with self._transaction() as conn:
                await conn.execute(_POSITIONS.insert().values(rows))

    async def latest_positions(self) -> dict[str, Decimal]:
        async with self._connection() as conn:
            return {r.pair: r.amount for r in await conn.execute(_LATEST_POSITIONS)}

    # ---- plumbing ----------------------------------------------------------------------------

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads; its implicit transaction is rolled back on exit."""
        async with self._engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        """One transaction: committed on exit, rolled back on error. A broken constraint or
        a value the columns refuse is our bug, and says which."""
        try:
            async with self._one_writer, self._engine.begin() as conn:
                yield conn
        except IntegrityError as exc:
            raise Bug(f"store constraint violated: {_first_line(exc.orig)}") from exc
        except StatementError as exc:
            if isinstance(exc.orig, TypeError | ValueError):
                raise Bug(f"store refused a value: {exc.orig}") from exc
            raise

    async def _one_order(self, query: Select[Any], key: Any) -> dict[str, Any] | None:
        async with self._connection() as conn:
            row = (await conn.execute(query, {"key": key})).first()
        return None if row is None else _order_dict(row)


# ---- statements, built once: a reused statement object finds its compiled form cached -----

# bound names for the WHERE of an UPDATE (a column's own name is reserved for its SET)
_CAS_CLIENT_ID = "cas_client_id"
_CAS_STATE = "cas_state"

_INSERT_ORDER = _ORDERS.insert()
_INSERT_AUDIT = _AUDIT.insert()
# no values of their own: the SET is the columns named in the parameters
_UPDATE_ORDER_CAS = _ORDERS.update().where(
    _ORDERS.c.client_id == bindparam(_CAS_CLIENT_ID), _ORDERS.c.state == bindparam(_CAS_STATE)
)
_UPDATE_ORDER = _ORDERS.update().where(_ORDERS.c.client_id == bindparam(_CAS_CLIENT_ID))
_LOCK_ORDER_STATE = (
    select(_ORDERS.c.state)
    .where(_ORDERS.c.client_id == bindparam(_CAS_CLIENT_ID))
    .with_for_update()
)

_ALL_ORDERS = select(_ORDERS).order_by(_ORDERS.c.created_ms, _ORDERS.c.client_id)
_ORDERS_IN_STATES = _ALL_ORDERS.where(_ORDERS.c.state.in_(bindparam("states", expanding=True)))
_ORDER_BY_CLIENT_ID = select(_ORDERS).where(_ORDERS.c.client_id == bindparam("key"))
_ORDER_BY_VENUE_ID = select(_ORDERS).where(_ORDERS.c.venue_id == bindparam("key"))
_ORDERS_FOR_INTENT = (
    select(_ORDERS).where(_ORDERS.c.intent_id == bindparam("key")).order_by(_ORDERS.c.attempt)
)

_INTENT_FIELDS = ("intent_id", "strategy", "slot", "created_ms", "payload")
_INTENT_BY_ID = select(*(_INTENTS.c[name] for name in _INTENT_FIELDS)).where(
    _INTENTS.c.intent_id == bindparam("key")
)

_ALL_AUDIT = select(*(_AUDIT.c[name] for name in AUDIT_FIELDS)).order_by(_AUDIT.c.id)
_AUDIT_OF_ORDER = _ALL_AUDIT.where(_AUDIT.c.client_id == bindparam("key"))

_FILL_ROWS = select(*(_FILLS.c[name] for name in _FILL_FIELDS)).order_by(
    _FILLS.c.timestamp, _FILLS.c.trade_id
)
_FILL_IDS = select(_FILLS.c.trade_id)
_FILL_COUNTS = select(_FILLS.c.source, func.count()).group_by(_FILLS.c.source)

_KV_GET = select(_KV.c.value).where(_KV.c.key == bindparam("key"))


def _latest(table: Table) -> Select[Any]:
    newest = select(func.max(table.c.taken_ms)).scalar_subquery()
    return select(table).where(table.c.taken_ms == newest).order_by(table.c.id)


_LATEST_BALANCES = _latest(_BALANCES)
_LATEST_POSITIONS = _latest(_POSITIONS)


@functools.cache
def _fills_query(since: bool, client_id: bool, order_id: bool) -> Select[Any]:
    query = _FILL_ROWS
    if since:
        query = query.where(_FILLS.c.timestamp >= bindparam("since_ms"))
    if client_id:
        query = query.where(_FILLS.c.client_id == bindparam("client_id"))
    if order_id:
        query = query.where(_FILLS.c.order_id == bindparam("order_id"))
    return query


class _DialectStatements:
    """The statements whose ON CONFLICT clause is the dialect's own (the same on both)."""

    def __init__(self, postgres: bool) -> None:
        insert = postgresql.insert if postgres else sqlite.insert
        self.insert_intent = insert(_INTENTS).on_conflict_do_nothing(index_elements=["intent_id"])
        self.insert_order_new = insert(_ORDERS).on_conflict_do_nothing(index_elements=["client_id"])
        self.insert_fill = insert(_FILLS).on_conflict_do_nothing(index_elements=["trade_id"])
        kv = insert(_KV)
        self.kv_set = kv.on_conflict_do_update(
            index_elements=["key"], set_={"value": kv.excluded.value}
        )


_STATEMENTS = {postgres: _DialectStatements(postgres) for postgres in (False, True)}


def _plain(value: Any) -> Any:
    """An enum's value (``Side.BUY`` → ``'buy'``), anything else as it is."""
    return value.value if isinstance(value, Enum) else value


def _order_values(
    order: Mapping[str, Any], *, at_ms: int | None = None, partial: bool = False
) -> dict[str, Any]:
    unknown = order.keys() - _ORDER_FIELD_SET
    if unknown:
        raise Bug(f"not order fields: {sorted(unknown)}")
    values = {k: _plain(v) for k, v in order.items()}
    if partial:
        return values
    values = {**_ORDER_DEFAULTS, "created_ms": at_ms, "updated_ms": at_ms, **values}
    missing = [f for f in ORDER_FIELDS if f not in values]
    if missing:
        raise Bug(f"order fields missing: {missing}")
    return values


def _intent_values(intent: Mapping[str, Any], at_ms: int) -> dict[str, Any]:
    if "intent_id" not in intent:
        raise Bug("an intent needs its intent_id")
    payload = intent.get("payload", {})
    try:
        if isinstance(payload, str):
            json.loads(payload)  # JSON text is stored as given, but it must be JSON
        else:
            payload = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=_json)
    except (TypeError, ValueError) as exc:
        raise Bug(f"the payload of intent {intent['intent_id']} is not JSON: {exc}") from exc
    return {
        "intent_id": intent["intent_id"],
        "strategy": _plain(intent.get("strategy", "")),
        "slot": _plain(intent.get("slot", "")),
        "created_ms": intent.get("created_ms", at_ms),
        "payload": payload,
    }


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot store {type(value).__name__} in an intent payload")


def _audit(
    client_id: str, before: str | None, after: str, event: str, at_ms: int, detail: str | None
) -> dict[str, Any]:
    return {
        "at_ms": at_ms,
        "client_id": client_id,
        "from_state": before,
        "to_state": after,
        "event": event,
        "detail": detail,
    }


def _order_dict(row: Row[Any]) -> dict[str, Any]:
    found = dict(zip(ORDER_FIELDS, row, strict=True))
    found["side"] = Side(found["side"])
    found["method"] = OrderMethod(found["method"])
    return found


def _fill(row: Row[Any]) -> Fill:
    values = dict(zip(_FILL_FIELDS, row, strict=True))
    values["side"] = Side(values["side"])
    return Fill(**values)


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            # WAL: readers never block the writer; NORMAL: durable at checkpoints, safe
            # against corruption, and a commit costs no fsync of its own.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        finally:
            cursor.close()

    return on_connect


def _parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ConfigError(f"the store URL {_redact(url)!r} is not a database URL") from None
    backend = parsed.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise ConfigError(
            f"the store needs sqlite or postgresql, not {backend!r} "
            f"({parsed.render_as_string(hide_password=True)})"
        )
    if parsed.drivername == backend:
        parsed = parsed.set(drivername=f"{backend}+{_ASYNC_DRIVERS[backend]}")
    return parsed


def _redact(url: str) -> str:
    return re.sub(r"(//[^/@:]*:)[^@/]*@", r"\1***@", url)


def _first_line(exc: BaseException | None) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


def _reason(exc: BaseException, password: str | None) -> str:
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    reason = f"{type(cause).__name__}: {_first_line(cause)}"
    return reason.replace(password, "***") if password else reason
