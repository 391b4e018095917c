"""The store's rows: SQLModel tables, the third shape of each concept (STYLE.md rule 8).

Only ``bot.store.repository`` touches them; everything above it sees plain values and the
core types. The same tables serve SQLite (one process) and PostgreSQL (several processes
sharing one account).

Two column types carry the exactness the books need:

- **Money is TEXT** (``DecimalText``). SQLite has no exact decimal: its NUMERIC affinity
  turns ``0.1`` into a binary float. PostgreSQL's NUMERIC is exact, but SQLAlchemy's
  ``Numeric`` still differs per dialect (SQLite warns and rounds, a declared scale pads or
  rounds). TEXT in ``str(Decimal)`` form, the decimal spec's to-scientific-string, turns
  back into the very same ``Decimal`` (coefficient and exponent, so ``1.10`` stays ``1.10``)
  on both databases through one code path. The price of it: no sums or comparisons of money
  in SQL, which the store never does.
- **Venue ids and millisecond stamps are BIGINT.** Trade ids are about 1.2e18 and a stamp is
  about 1.7e12, both past a 32-bit INTEGER, which is what a plain ``int`` field would get on
  PostgreSQL. SQLite's INTEGER is 64-bit whatever it is called.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, Table, Text, UniqueConstraint, text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

__all__ = [
    "TABLES",
    "AuditRow",
    "BalanceSnapshotRow",
    "DecimalText",
    "FillRow",
    "IntentRow",
    "KVRow",
    "OrderRow",
    "PositionSnapshotRow",
    "table_of",
]


class DecimalText(TypeDecorator[Decimal]):
    """A ``Decimal`` stored as its exact string; refuses floats and non-finite values."""

    impl = Text
    cache_ok = True

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            # a float here has already lost the amount; an exact store must not hide that
            raise TypeError(f"money must be Decimal, got {type(value).__name__}: {value!r}")
        value = Decimal(value)
        if not value.is_finite():
            raise ValueError(f"money must be finite, got {value}")
        return str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


# SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid alias), which is 64-bit there.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def _money(**kw: Any) -> Any:
    return Field(sa_type=DecimalText, **kw)


def _big(**kw: Any) -> Any:
    return Field(sa_type=BigInteger, **kw)


class OrderRow(SQLModel, table=True):
    """One order attempt; mirrors the lifecycle's ``LocalOrder`` field for field, in its
    order (the store's ``ORDER_FIELDS`` are these columns)."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("intent_id", "attempt", name="uq_orders_intent_attempt"),
        # NULL until the venue acks; both databases let NULLs repeat, the WHERE says so outright
        Index(
            "uq_orders_venue_id",
            "venue_id",
            unique=True,
            sqlite_where=text("venue_id IS NOT NULL"),
            postgresql_where=text("venue_id IS NOT NULL"),
        ),
    )

    intent_id: str
    client_id: str = Field(primary_key=True)
    attempt: int
    pair: str
    side: str
    method: str
    price: Decimal | None = _money(default=None)
    stop_price: Decimal | None = _money(default=None)
    quantity: Decimal = _money()
    state: str = Field(index=True)
    venue_id: int | None = _big(default=None)
    filled: Decimal = _money()
    created_ms: int = _big()
    updated_ms: int = _big()
    submitted_ms: int | None = _big(default=None)
    unknown_since_ms: int | None = _big(default=None)
    cancel_requested_ms: int | None = _big(default=None)
    external: bool = False
    reason: str | None = None


class IntentRow(SQLModel, table=True):
    """What the strategy wanted, once per intent whatever the number of attempts."""

    __tablename__ = "intents"

    intent_id: str = Field(primary_key=True)
    strategy: str
    slot: str
    created_ms: int = _big()
    payload: str  # JSON text


class FillRow(SQLModel, table=True):
    """One own fill; the venue's trade id as primary key is what makes it exactly once."""

    __tablename__ = "fills"

    trade_id: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    order_id: int = _big(index=True)
    client_id: str | None = Field(default=None, index=True)
    pair: str
    base: str
    quote: str
    side: str
    price: Decimal = _money()
    amount: Decimal = _money()
    fee: Decimal = _money()
    tax: Decimal = _money()
    timestamp: int = _big(index=True)
    source: str  # 'ws' | 'rest'


class BalanceSnapshotRow(SQLModel, table=True):
    """One asset of a balance snapshot; a snapshot is the rows sharing ``taken_ms``."""

    __tablename__ = "balance_snapshots"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntPK)
    taken_ms: int = _big(index=True)
    asset: str
    total: Decimal = _money()
    locked: Decimal = _money()
    free: Decimal = _money()
    venue_ms: int | None = _big(default=None)  # the venue's own stamp, when it sent one


class PositionSnapshotRow(SQLModel, table=True):
    """One pair's (or asset's) net position in a snapshot sharing ``taken_ms``."""

    __tablename__ = "position_snapshots"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntPK)
    taken_ms: int = _big(index=True)
    pair: str
    amount: Decimal = _money()


class AuditRow(SQLModel, table=True):
    """Every state change of every order, in commit order (``id``)."""

    __tablename__ = "audit"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntPK)
    at_ms: int = _big()
    client_id: str = Field(index=True)
    from_state: str | None = None  # None: the row was created
    to_state: str
    event: str
    detail: str | None = None


class KVRow(SQLModel, table=True):
    """Small named values: mode, its reasons, cursors such as the last reconcile."""

    __tablename__ = "kv"

    key: str = Field(primary_key=True)
    value: str


def table_of(model: type[SQLModel]) -> Table:
    """The Core table behind a row class, for statements that need no ORM."""
    table = model.__table__  # type: ignore[attr-defined]  # set by table=True
    assert isinstance(table, Table)
    return table


# what ``Store.open`` creates: these, not every SQLModel table the process happens to import
TABLES: tuple[Table, ...] = tuple(
    table_of(model)
    for model in (
        OrderRow,
        IntentRow,
        FillRow,
        BalanceSnapshotRow,
        PositionSnapshotRow,
        AuditRow,
        KVRow,
    )
)
