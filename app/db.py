"""Database: declarative base, engines for SQLite and PostgreSQL, sessions that commit."""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import orjson
from sqlalchemy import (
    ARRAY,
    JSON,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    and_,
    any_,
    bindparam,
    column,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    true,
)
from sqlalchemy import cast as cast_
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import (
    DeclarativeBase,
    ORMExecuteState,
    QueryableAttribute,
    Session,
    make_transient_to_detached,
    sessionmaker,
)
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.instrumentation import manager_of_class
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import (
    BindParameter,
    ClauseElement,
    ColumnElement,
    TableValuedAlias,
    TextClause,
)
from sqlalchemy.types import TypeDecorator

from app import connections, sqlite, text_arrays
from app.text_arrays import TextArray

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which keeps no zone) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def normalize_url(raw: str) -> URL:
    """Accept URLs as users write them and pick the drivers we ship with."""
    url = make_url(raw)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    elif url.drivername == "sqlite":
        url = url.set(drivername="sqlite+pysqlite")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {url.get_backend_name()!r}: use sqlite or postgresql")
    return url


def json_text(value: Any) -> str:
    """JSON columns as stored: orjson, several times faster than the standard library on the
    intake's labels and annotations. Keys that are not strings become strings, as `json` does."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def json_value(text: str | bytes) -> Any:
    """A stored JSON column read back; text orjson refuses (a NaN written by an older version,
    numbers beyond 64 bits) is read as the standard library reads it."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


JSON_CODEC = {"json_serializer": json_text, "json_deserializer": json_value}


def sqlite_file(url: URL) -> str | None:
    """The file of a SQLite URL; None for an in-memory database (or another backend)."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return url.database


def build_engine(
    raw_url: str, *, immediate: bool = False, ping: bool = True, own_checkpoints: bool = False
) -> Engine:
    url = normalize_url(raw_url)
    if url.get_backend_name() == "sqlite":
        if (file := sqlite_file(url)) is not None:
            Path(file).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10}, **JSON_CODEC)
        sqlite.setup(engine, immediate=immediate, own_checkpoints=own_checkpoints)
        return engine
    text_arrays.register()
    engine = create_engine(url, pool_size=10, max_overflow=10, **JSON_CODEC)
    connections.check_before_use(engine, connections.IDLE_PING if ping else None)
    return engine


def _generic_plans(dbapi_connection: Any, _record: Any) -> None:
    """The intake writer's connections reuse one plan per statement (PostgreSQL). Its statements
    are few, always the same, and each finds its rows by primary key or by a (key, id) index
    whatever the parameters. Left to choose, the server planned the reads of a list (`unnest`)
    anew at every execution, guessing a one-item list cheaper than the generic ten: 0.15 ms of
    server time per statement, three times a batch."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_generic_plan")
    dbapi_connection.commit()


PAGES_BORN_CLAIMED = "pages_born_claimed"  # the session flag: see Database.pages_born_claimed


class ReadOnlySession(RuntimeError):
    """A write attempted in a session opened for reading (`Database.session()`)."""


def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlySession("a read session cannot write: open it with session(write=True)")


def _refuse_writes(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadOnlySession("a read session cannot write: open it with session(write=True)")


class Database:
    """A reading engine and a writing engine (the same one on PostgreSQL)."""

    def __init__(self, url: str, *, pages_born_claimed: bool = True, checkpoints: bool = False) -> None:
        """`checkpoints`: on a SQLite file, this process's commits never copy the write-ahead
        log back into the file; a thread of its own does (`sqlite.Checkpointer`). For the
        process that runs the intake, whose commits are the ones that must not wait."""
        self.url = url
        # Whether the pages this process writes are born claimed: by itself when it sends them
        # (inline), or for the one worker it hands their ids to (SQLite). Otherwise they wait in
        # the outbox for a worker to claim them (PostgreSQL, any number of workers).
        self.pages_born_claimed = pages_born_claimed
        info = {PAGES_BORN_CLAIMED: pages_born_claimed}
        self.engine = build_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        file = sqlite_file(self.engine.url)
        self.checkpointer = sqlite.Checkpointer(file) if checkpoints and file is not None else None
        self.writer = (
            build_engine(url, immediate=True, own_checkpoints=self.checkpointer is not None)
            if self.is_sqlite
            else self.engine
        )
        if self.checkpointer is not None:
            self.checkpointer.start()
        # Reads on PostgreSQL run without BEGIN and COMMIT (two round trips of three for a read
        # of one row): under READ COMMITTED each statement sees what was committed when it
        # started, in a transaction or not. A read session refuses to write (`ReadOnlySession`).
        reading = self.engine
        if not self.is_sqlite:
            reading = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._read = sessionmaker(reading, expire_on_commit=False, info=info)
        # A read that streams its rows (`yield_per`: a server-side cursor) needs a transaction.
        self._read_streaming = sessionmaker(self.engine, expire_on_commit=False, info=info)
        for reader in (self._read, self._read_streaming):
            event.listen(reader, "before_flush", _refuse_flush)
            event.listen(reader, "do_orm_execute", _refuse_writes)
        self._write = sessionmaker(self.writer, expire_on_commit=False, info=info)
        # The intake writer's connections are never pinged for having sat idle (only when their
        # socket shows the server closed them): it retries a batch whose connection turns out to
        # be lost (see `is_lost_connection`).
        self.intake_engine = self.writer if self.is_sqlite else build_engine(url, ping=False)
        if not self.is_sqlite:
            event.listen(self.intake_engine, "connect", _generic_plans)
        self._intake = sessionmaker(self.intake_engine, expire_on_commit=False, info=info)
        # SQLite has one writer at a time. Threads of this process queue on a lock and are woken
        # the moment it is free, instead of sleeping in SQLite's busy handler (1, 2, 5 ... 100 ms
        # naps) while another thread commits.
        self._write_lock = threading.Lock() if self.is_sqlite else contextlib.nullcontext()

    @contextlib.contextmanager
    def session(
        self, *, write: bool = False, intake: bool = False, streaming: bool = False
    ) -> Iterator[Session]:
        """One unit of work: commits when the block succeeds, rolls back when it raises.
        `intake`: a write of the intake writer, on connections not pinged for being idle.
        `streaming`: a read that streams rows in batches (`yield_per`), in a transaction."""
        if not write:
            with (self._read_streaming if streaming else self._read)() as session, session.begin():
                yield session
            return
        with self._write_lock, (self._intake if intake else self._write)() as session, session.begin():
            yield session
        if self.checkpointer is not None:
            self.checkpointer.wake()

    def dispose(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        for engine in {self.engine, self.writer, self.intake_engine}:
            engine.dispose()


# SQLSTATE classes that mean "the database cannot take this now", not "the request is wrong":
# connection exceptions, invalid transaction state (a read-only database), insufficient resources
# (disk full), operator intervention (shutting down).
UNAVAILABLE_SQLSTATE_CLASSES = ("08", "25", "53", "57")


def is_conflict(exc: DBAPIError) -> bool:
    """A transaction that lost to another (PostgreSQL: serialization failure, deadlock): the
    same work tried again succeeds."""
    return getattr(exc.orig, "sqlstate", None) in ("40001", "40P01")


def is_lost_connection(exc: DBAPIError) -> bool:
    """The connection was found closed (the server restarted, a proxy dropped it): the pool has
    discarded it and the connections as old as it, so the same work tried again gets a new one."""
    return exc.connection_invalidated


def is_unavailable(exc: BaseException) -> bool:
    """Whether a database error means it cannot take the request right now (retry later)."""
    if isinstance(exc, OperationalError):
        return True
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(exc, DBAPIError) and isinstance(code, str) and code[:2] in UNAVAILABLE_SQLSTATE_CLASSES


@dataclass(frozen=True)
class _DriverForm:
    statement: ClauseElement  # held, so its id is never another statement's
    sql: str
    names: tuple[str, ...]  # the parameters in the order the driver takes them
    positional: bool
    processors: tuple[Callable[[Any], Any] | None, ...]  # the column types' bind processors


_driver_forms: dict[tuple[int, str], _DriverForm] = {}


def _driver_form(statement: ClauseElement, dialect: Dialect) -> _DriverForm:
    key = (id(statement), dialect.name)
    found = _driver_forms.get(key)
    if found is None or found.statement is not statement:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(compiled.binds)
        processors = tuple(
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
        )
        found = _driver_forms[key] = _DriverForm(
            statement, str(compiled), names, compiled.positional, processors
        )
    return found


def on_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def any_of(name: str, item: type[String] | type[Integer] = String) -> BindParameter[Any]:
    """A list parameter sent as one array (PostgreSQL's `= ANY(:name)`): the statement's text is
    the same whatever the list's length, so the server parses and plans it once per connection,
    where an expanding IN is a new statement for every length."""
    return bindparam(name, type_=TextArray() if item is String else ARRAY(item))


Compared = ColumnElement[Any] | QueryableAttribute[Any]  # a table's column, or a model's


def newest_for_each(name: str, match: Compared, newest: Compared, columns: Sequence[Any]) -> Select[Any]:
    """PostgreSQL: for each item of the list parameter `name` (`any_of`), `columns` of the row
    whose `match` equals it with the greatest `newest`: `unnest(:name) JOIN LATERAL (... ORDER BY
    newest DESC LIMIT 1)`. One statement text whatever the list's length, and with an index on
    (match, newest) one backward step per item, however many rows share it."""
    wanted = func.unnest(any_of(name)).table_valued("item").render_derived()
    one = select(*columns).where(match == wanted.c.item).order_by(newest.desc()).limit(1).lateral()
    return select(*one.c).select_from(wanted).join(one, true())


class JSONList(TypeDecorator[list[Any]]):
    """A list parameter sent to SQLite as one JSON text, for `json_each` to read."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: list[Any] | None, dialect: Dialect) -> str | None:
        return None if value is None else json_text(value)


def newest_for_each_sqlite(
    name: str, match: Compared, newest: Column[Any], columns: Sequence[Any]
) -> Select[Any]:
    """SQLite's form of `newest_for_each`, `newest` being the table's integer primary key: `FROM
    json_each(:name) JOIN table ON newest = (SELECT max(newest) ... WHERE match = item)`. Like
    PostgreSQL's, one statement text whatever the list's length (SQLite prepares it once per
    connection, where an expanding IN is a new statement for each length) and, with an index on
    (match, newest), one step per item where `max(newest) ... GROUP BY match` read every row of
    each item."""
    wanted = func.json_each(bindparam(name, type_=JSONList())).table_valued("value")
    newest_id = select(func.max(newest)).where(match == wanted.c.value).correlate(wanted).scalar_subquery()
    return select(*columns).select_from(wanted).join(newest.table, newest == newest_id)


def json_recordset(*columns: Column[Any] | tuple[str, Any]) -> TableValuedAlias:
    """Rows sent as one JSON array (PostgreSQL's `jsonb_to_recordset(:rows) AS v(...)`), to join
    an UPDATE against: one parameter in place of a round of parameters per row, which cost the
    driver some 12 us of Python a row. `columns`: table columns, or (name, type) pairs; each row
    is a JSON object of those names (see `json_rows`)."""
    pairs = [(c.name, c.type) if isinstance(c, Column) else c for c in columns]
    rows = cast_(bindparam("rows", type_=String), JSONB)
    return (
        func.jsonb_to_recordset(rows)
        .table_valued(*(column(name, type_) for name, type_ in pairs))
        .render_derived(name="v", with_types=True)
    )


def json_rows_named(id_column: Column[Any], rows: TableValuedAlias) -> ColumnElement[bool]:
    """Where an UPDATE meets its `json_recordset` rows: `id_column` equals a row's `row_id`, and
    is one of the ids sent beside them as an array (`json_update_params`). The planner guesses
    100 rows for any set-returning function, so against the join alone it hashes a whole scan of
    every table under some thousands of rows (the incidents, a young alert table: 0.3 ms and more
    a batch, the first statement by server time); `= ANY(:row_ids)` is an index scan of the rows
    named, whatever the table's size. (Read out of the JSON instead, the ids cost a second parse
    of it: a millisecond a batch of 300 alert rows.)"""
    return and_(id_column == rows.c.row_id, id_column == any_(any_of("row_ids", Integer)))


def json_update_params(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The parameters of an UPDATE against `json_recordset` rows named by `json_rows_named`:
    the rows as one JSON array, and their `row_id`s as an array."""
    return {"rows": json_rows(rows), "row_ids": [row["row_id"] for row in rows]}


def json_insert(table: Table, names: Sequence[str], returning: bool = True) -> TextClause:
    """PostgreSQL: an INSERT of rows sent as one JSON array (`json_rows`), returning their ids.

    One statement text whatever the number of rows, so it is prepared once per connection; a
    multi-row VALUES list is a new text for each length, parsed by the driver and the server each
    time (at 30 rows some 10 kB and 360 parameters). The rows go in the array's order (ORDER BY
    its ordinality), so the ids the sequence hands out rise with it: sorted, the returned ids are
    the rows' in the order given. Without `returning`, for a write whose ids nobody reads."""
    dialect = PGDialect()  # type: ignore[no-untyped-call]
    typed = ", ".join(f"{name} {table.c[name].type.compile(dialect=dialect)}" for name in names)
    listed = ", ".join(names)
    return text(
        f"INSERT INTO {table.name} ({listed}) SELECT {listed} FROM ROWS FROM "
        f"(jsonb_to_recordset(CAST(:rows AS JSONB)) AS ({typed})) WITH ORDINALITY AS v({listed}, n) "
        "ORDER BY n" + (" RETURNING id" if returning else "")
    )


_json_insert_cached = functools.cache(json_insert)


def json_rows(rows: Sequence[dict[str, Any]], names: Sequence[str] | None = None) -> str:
    """The `rows` parameter of a `json_recordset` or `json_insert`: datetimes in UTC, as RFC 3339
    (a naive one counts as UTC, never as the database session's zone). Converted first, as
    UTCDateTime does: PostgreSQL refuses an offset beyond 15:59 that an RFC 3339 time may carry.
    `names`: only these keys of each row, every one required (a missing key raises KeyError,
    where the JSON array would have turned it into a silent NULL)."""
    if names is not None:
        rows = [{name: row[name] for name in names} for row in rows]
    utc: dict[datetime, str] = {}  # a batch repeats its few times across many rows

    def as_utc(value: Any) -> str:
        if not isinstance(value, datetime):
            raise TypeError(f"{type(value).__name__} is not JSON serializable")
        if value not in utc:
            aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
            utc[value] = aware.isoformat()
        return utc[value]

    return orjson.dumps(list(rows), default=as_utc, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()


def execute_many(session: Session, statement: ClauseElement, rows: Sequence[dict[str, Any]]) -> None:
    """Run a module-level Core statement once per row as the driver's own executemany.

    SQLAlchemy's executemany builds and type-processes a parameter dictionary per row, which cost
    more than the database's work for intake's many-row UPDATEs. Here the statement is compiled
    once per dialect and each value goes through its column type's bind processor (the same
    conversion, none skipped), straight into the driver's rows. Values that repeat across rows
    (a batch's one timestamp) are converted once."""
    if not rows:
        return
    form = _driver_form(statement, session.get_bind().dialect)
    memo: dict[tuple[int, Any], Any] = {}

    def value(index: int, raw: Any) -> Any:
        process = form.processors[index]
        if process is None or raw is None:
            return raw
        if isinstance(raw, datetime):
            key = (index, raw)
            if key not in memo:
                memo[key] = process(raw)
            return memo[key]
        return process(raw)

    converted: list[Any] = [
        tuple(value(i, row[name]) for i, name in enumerate(form.names))
        if form.positional
        else {name: value(i, row[name]) for i, name in enumerate(form.names)}
        for row in rows
    ]
    session.connection().exec_driver_sql(form.sql, converted)


T = TypeVar("T", bound=Base)


def insert_tracked(session: Session, model: type[T], values: dict[str, Any]) -> T:
    """Insert one row at once and track it as loaded, without flushing the rest of the session
    (intake writes a batch of changes and flushes them together at the end). The values go as
    parameters of one cached statement; every column should be given, or reading one later
    goes back to the database."""
    return insert_tracked_many(session, model, [values])[0]


def insert_tracked_many(session: Session, model: type[T], rows: Sequence[dict[str, Any]]) -> list[T]:
    """`insert_tracked` for several rows of one table: one INSERT for them all (one round trip),
    their ids returned in the order of `rows`."""
    table = model.__table__
    assert isinstance(table, Table)
    if not rows:
        return []
    with session.no_autoflush:
        connection = session.connection()
        if len(rows) > 1 and connection.dialect.name == "postgresql":
            names = tuple(rows[0])
            found = connection.execute(_json_insert_cached(table, names), {"rows": json_rows(rows, names)})
            ids = sorted(found.scalars())  # handed out in the rows' order (see json_insert)
        else:  # one row; or SQLite, in this process: no round trip to save
            statement = insert(table).returning(table.c.id)
            ids = [connection.execute(statement, values).scalar_one() for values in rows]
    return [track(session, model, {"id": new_id, **values}) for new_id, values in zip(ids, rows, strict=True)]


def track(session: Session, model: type[T], values: dict[str, Any]) -> T:
    """A row written or read outside the ORM (its attributes' values, the id among them), tracked
    as loaded without a SELECT; the session's own object, as a query gives it, if it holds one.
    Attributes not given are read when first used."""
    held: T | None = session.identity_map.get(identity_key(model, values["id"]))
    if held is not None:
        return held
    manager = manager_of_class(model)
    if not values.keys() <= _attributes(model):
        raise TypeError(f"{model.__name__} has no attribute {sorted(values.keys() - _attributes(model))}")
    # As a query loads a row: the values straight into the object's state, no attribute events
    # (the constructor's events cost some 40 us a row, six times this).
    row: T = manager.new_instance()
    row.__dict__.update(values)
    make_transient_to_detached(row)  # it is in the database: track it as it is there
    # What `session.add` does with it, less its walk over the model's relationships for related
    # objects to add as well: a row made here has none loaded, and the walk cost more than the
    # rest (about 20 us a row for an incident).
    session._save_or_update_impl(instance_state(row))
    return row


@functools.cache
def _attributes(model: type[Any]) -> frozenset[str]:
    return frozenset(inspect(model).attrs.keys())
