"""The store: one object that owns the engine, the tables and the queries the rest of geoservice needs.

SQLite (a file under ``instance/``) by default; PostgreSQL with PostGIS when the URL says so. Callers never
write SQL: they call ``Store`` methods, which keeps the two databases behaving the same.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import datetime, timezone
from itertools import islice, repeat
from pathlib import Path

import numpy as np
import shapely
from sqlalchemy import (BigInteger, Boolean, Date, DateTime, Float, bindparam, create_engine, event, func, inspect,
                        or_, select, text)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from ..config import Settings
from ..errors import BatchConflictError, SetupError
from ..layers import LayerSpec, load_layer_specs
from .accounts import AccountQueries
from .audit_log import AuditQueries
from .batches import BatchQueries
from .cell_counts import NO_MONTH_DATE, CellCountQueries
from .erasure import ErasureQueries
from .group_ids import GroupIdQueries
from .risk_bands import RiskBandQueries
from .tables import build_metadata, counts_table_name


def _sqlite_connect(dbapi_connection, _record):
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA cache_size=-262144")  # 256 MiB of page cache: bulk loads touch big indexes
    cursor.execute("PRAGMA secure_delete=ON")  # erased records are overwritten in the file, not left in free pages
    cursor.close()


def _sqlite_begin(connection):
    # An explicit BEGIN makes every statement of a batch, DDL included, part of one transaction. The sqlite3
    # module's own implicit transactions would commit or skip around DDL (SQLAlchemy's documented recipe).
    # Writers ask for BEGIN IMMEDIATE (see Store.writing) so two ingests queue instead of deadlocking.
    mode = connection.get_execution_options().get("sqlite_begin", "")
    connection.exec_driver_sql(f"BEGIN {mode}".strip())


def _time_bound(column, value):
    """``value`` as the column compares it: a date column with dates, a datetime column with (UTC, naive) datetimes
    (on SQLite both are text, and '2025-01-01' >= '2025-01-01 00:00:00' is false)."""
    import pandas as pd

    stamp = pd.Timestamp(value)
    stamp = stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp
    return stamp.to_pydatetime() if isinstance(column.type, DateTime) else stamp.date()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; a SQLite file's folder is created if needed."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    try:
        return create_engine(url, pool_pre_ping=True)
    except ModuleNotFoundError as exc:
        raise SetupError(f"a {url.split(':', 1)[0]} store needs the {exc.name} package: install geoservice with its "
                         "PostgreSQL extra (pip install 'geoservice[postgres]')") from None


#: The most cells a count names in its query (a borough has a few hundred to a few thousand); more are filtered after
MAX_LISTED_CELLS = 5000

APPEND_ONLY_SQL = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS audit_events_no_update BEFORE UPDATE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
        "CREATE TRIGGER IF NOT EXISTS audit_events_no_delete BEFORE DELETE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$",
        "DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events",
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
    ],
}


class Store(AccountQueries, AuditQueries, BatchQueries, CellCountQueries, ErasureQueries, GroupIdQueries,
            RiskBandQueries):
    """Tables and queries over one database.

    Parameters
    ----------
    engine
        A SQLAlchemy engine (SQLite or PostgreSQL).
    specs
        The layer specs; each becomes a ``layer_<name>`` table.
    resolutions
        H3 resolutions stored per location.
    settings
        The settings the store was made from (the audit log's key and anchor live there), when known.
    """

    def __init__(self, engine: Engine, specs: dict[str, LayerSpec], resolutions, settings: Settings | None = None):
        self.engine = engine
        self.settings = settings
        self.specs = specs
        self.resolutions = tuple(resolutions)
        self.is_postgres = engine.dialect.name == "postgresql"
        self._after_commit = {}  # connection of a writing() transaction -> callables to run once it commits
        self.metadata, self.layer_tables = build_metadata(specs, self.resolutions, postgis=self.is_postgres)
        self.batches = self.metadata.tables["batches"]
        self.quarantine = self.metadata.tables["quarantine"]

    @classmethod
    def from_settings(cls, settings: Settings) -> "Store":
        return cls(make_engine(settings.database_url), load_layer_specs(settings.layers_dir), settings.resolutions,
                   settings)

    # set-up ---------------------------------------------------------------------------------------------------
    def init(self) -> None:
        """Create what is missing (PostGIS extension, tables); refuse a schema that no longer fits the specs; count
        the rows of the layers whose cell counts are new or were built for another spec (``store/cell_counts.py``)."""
        if self.is_postgres:
            self._ensure_postgis()
        self.metadata.create_all(self.engine)
        self._ensure_append_only()
        self._check_schema()
        self.build_counts()

    def _ensure_append_only(self) -> None:
        """Triggers that refuse UPDATE and DELETE on the audit log (``privacy/audit.py``)."""
        with self.engine.begin() as conn:
            for statement in APPEND_ONLY_SQL["postgresql" if self.is_postgres else "sqlite"]:
                conn.execute(text(statement))

    def _ensure_postgis(self) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        except (OperationalError, ProgrammingError) as exc:
            raise SetupError(
                "PostGIS is not available on this PostgreSQL server "
                f"({str(exc.orig).strip().splitlines()[0]}). Install it (Debian: apt-get install "
                "postgresql-15-postgis-3) and run CREATE EXTENSION postgis, or use the default SQLite store."
            ) from None

    def _missing_columns(self) -> list:
        """The columns the specs declare that the database's tables lack (a spec grew since it was created). Cell-count
        tables are left out: ``build_counts`` makes them afresh when their spec changes."""
        inspector = inspect(self.engine)
        counted = {counts_table_name(name) for name, spec in self.specs.items() if spec.counts is not None}
        missing = []
        for table in self.metadata.sorted_tables:
            if table.name in counted or not inspector.has_table(table.name):
                continue
            have = {c["name"] for c in inspector.get_columns(table.name)}
            missing += [c for c in table.columns if c.name not in have]
        return missing

    def _check_schema(self) -> None:
        missing = self._missing_columns()
        if not missing:
            return
        names = [f"{c.table.name}.{c.name}" for c in missing]
        if all(c.nullable for c in missing):
            raise SetupError(f"the database lacks columns {names}: a layer spec grew since it was created. Add them, "
                             "keeping the data, with `geoservice init-db --upgrade`.")
        raise SetupError(f"the database lacks columns {names}, some of them required: the layer spec or resolutions "
                         "changed since it was created. Rebuild it with `geoservice init-db --rebuild` (this deletes "
                         "its data) and load the files again.")

    def upgrade(self) -> list[str]:
        """Add the optional columns (and their indexes) that grown layer specs declare and the database lacks,
        keeping every row (their values stay empty), and count the rows into new or outdated cell-count tables; a
        missing required column needs a rebuild. Returns the columns added, as ``table.column``."""
        from sqlalchemy.schema import CreateIndex

        self.metadata.create_all(self.engine)  # new tables
        missing = self._missing_columns()
        required = [f"{c.table.name}.{c.name}" for c in missing if not c.nullable]
        if required:
            raise SetupError(f"cannot add required columns {required} to rows already held: rebuild the database "
                             "with `geoservice init-db --rebuild` and load the files again")
        preparer = self.engine.dialect.identifier_preparer
        with self.engine.begin() as conn:
            for column in missing:
                kind = column.type.compile(dialect=self.engine.dialect)
                conn.execute(text(f"ALTER TABLE {preparer.format_table(column.table)} "
                                  f"ADD COLUMN {preparer.format_column(column)} {kind}"))
            touched = {c.table.name for c in missing}
            indexed = {i["name"] for t in touched for i in inspect(conn).get_indexes(t)}
            for table in self.metadata.sorted_tables:
                for index in table.indexes if table.name in touched else ():
                    if index.name not in indexed:
                        conn.execute(CreateIndex(index))
        self.init()
        return [f"{c.table.name}.{c.name}" for c in missing]

    def has_table(self, name: str) -> bool:
        return inspect(self.engine).has_table(name)

    def drop_all(self) -> None:
        """Drop every table. The audit log goes too, so its anchor file records the reset (``privacy/audit.py``)."""
        from ..privacy.audit import anchor_reset  # here, not at the top: audit imports this module

        with anchor_reset(self):
            self.metadata.drop_all(self.engine)

    # bulk writing -------------------------------------------------------------------------------------------
    @contextmanager
    def writing(self):
        """A write transaction: all or nothing. On SQLite it takes the write lock at once, so a second writer
        waits (up to the busy timeout) instead of failing when both try to upgrade a read lock. What
        ``after_commit`` adds runs once it has committed."""
        engine = self.engine.execution_options(sqlite_begin="IMMEDIATE") if not self.is_postgres else self.engine
        try:
            with engine.begin() as conn:
                self._after_commit[conn] = callbacks = []
                try:
                    yield conn
                finally:
                    self._after_commit.pop(conn, None)
        except OperationalError as exc:
            if "locked" in str(exc.orig) or "busy" in str(exc.orig):
                raise SetupError("the database stayed busy with another writer for 30 s; nothing was written; "
                                 "try again when the other ingest has finished") from None
            raise
        except IntegrityError:  # the transaction has rolled back
            raise BatchConflictError("another writer stored some of the same records meanwhile; nothing of this "
                                     "transaction was kept; try again") from None
        for callback in callbacks:
            callback()

    def after_commit(self, conn, callback) -> None:
        """Call ``callback()`` once the ``writing()`` transaction of ``conn`` has committed; never if it rolls
        back (the audit log's anchor, ``privacy/audit.py``)."""
        if conn not in self._after_commit:
            raise SetupError("after_commit needs a connection from Store.writing() of this store, which runs the "
                             "callback once its transaction commits")
        self._after_commit[conn].append(callback)


    BULK_CHUNK = 50_000
    BULK_REBUILD_MIN_ROWS = 50_000

    def _driver_values(self, column_type, values: np.ndarray) -> list:
        """One column as the driver's native values, without SQLAlchemy's per-row processing.

        Times arrive as numpy datetime64 (UTC, naive; NaT for none), cells as int64 (0 for none), numbers as
        float (NaN for none) or object arrays. SQLite gets dates and times as the text SQLAlchemy itself stores.
        """
        if isinstance(column_type, (DateTime, Date)):
            unit = "us" if isinstance(column_type, DateTime) else "D"
            values = np.asarray(values).astype(f"datetime64[{unit}]")
            missing = np.isnat(values)
            if self.is_postgres:
                out = values.astype(object)  # datetime / date objects
            else:
                out = np.datetime_as_string(values, unit=unit).astype(object)
                if unit == "us":
                    out = np.char.replace(out.astype(str), "T", " ").astype(object)
            out[missing] = None
            return out.tolist()
        values = np.asarray(values)
        if isinstance(column_type, BigInteger) and values.dtype.kind in "iu":
            out = values.astype(object)
            out[values == 0] = None
            return out.tolist()
        if isinstance(column_type, Float) and values.dtype.kind == "f":
            out = values.astype(object)
            out[np.isnan(values)] = None
            return out.tolist()
        if isinstance(column_type, Boolean) and not self.is_postgres:
            return [None if v is None else int(v) for v in values.tolist()]
        return values.tolist()

    def insert_columns(self, conn, layer: str, data: dict[str, np.ndarray], progress=None,
                       constants: dict[str, str] | None = None) -> None:
        """Insert rows given column by column, as fast as the driver allows (COPY on PostgreSQL).

        ``constants`` (column → text, the same on every row, such as the batch id) are bound once, not per row.
        """
        table = self.layer_tables[layer]
        constants = constants or {}
        names = list(data)
        total = len(next(iter(data.values()))) if data else 0
        columns = [self._driver_values(table.c[name].type, data[name]) for name in names]
        if self.is_postgres:  # COPY takes whole rows
            columns += [repeat(value, total) for value in constants.values()]
            names += list(constants)
        rows = zip(*columns)
        quoted = ", ".join(f'"{name}"' for name in names)
        done = 0
        if self.is_postgres:
            with conn.connection.driver_connection.cursor() as cursor:
                with cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
                    for row in rows:
                        copy.write_row(row)
                        done += 1
                        if progress and done % self.BULK_CHUNK == 0:
                            progress("write", done, total)
        else:
            literals = [bindparam(name, value).compile(conn, compile_kwargs={"literal_binds": True}).string
                        for name, value in constants.items()]
            quoted = ", ".join([quoted, *(f'"{name}"' for name in constants)]) if constants else quoted
            sql = f'INSERT INTO "{table.name}" ({quoted}) VALUES ({", ".join(["?"] * len(names) + literals)})'
            while True:
                chunk = list(islice(rows, self.BULK_CHUNK))
                if not chunk:
                    break
                conn.exec_driver_sql(sql, chunk)
                done += len(chunk)
                if progress:
                    progress("write", done, total)

    @contextmanager
    def bulk_load(self, conn, layer: str, incoming: int):
        """Around a large load into a SQLite table no bigger than the load: drop its indexes, rebuild after.

        Building an index once over sorted keys is much cheaper than inserting into it row by row. The rebuild
        runs in the batch's transaction, so it is atomic with the load; the unique index on the record key is
        rebuilt too and still refuses a duplicate.
        """
        table = self.layer_tables[layer]
        if self.is_postgres or incoming < self.BULK_REBUILD_MIN_ROWS:
            yield
            return
        existing = conn.execute(select(func.count()).select_from(table)).scalar_one()
        if existing > incoming:
            yield
            return
        for index in table.indexes:
            conn.exec_driver_sql(f'DROP INDEX IF EXISTS "{index.name}"')
        yield
        for index in table.indexes:
            index.create(conn)

    # reading -------------------------------------------------------------------------------------------------
    def layer_counts(self, boroughs=None) -> dict[str, int]:
        """Rows held per layer, in spec order; with ``boroughs``, only the rows of those boroughs, as each layer's
        scope rule decides a row's borough (rows of unscoped layers, such as boundaries, all count)."""
        with self.engine.connect() as conn:
            return {name: conn.execute(select(func.count()).select_from(table)
                                       .where(*self._in_boroughs(name, boroughs))).scalar_one()
                    for name, table in self.layer_tables.items()}

    def _in_boroughs(self, layer: str, boroughs) -> list:
        """The condition that a row of ``layer`` belongs to one of ``boroughs`` (none when ``boroughs`` is None)."""
        if boroughs is None:
            return []
        spec, table, boroughs = self.specs[layer], self.layer_tables[layer], list(boroughs)
        rule = spec.scope
        if rule.unscoped:
            return []
        if rule.rule == "field":
            return [table.c[rule.names[0]].in_(boroughs)]
        if rule.rule == "location":
            return [table.c[f"{rule.names[0]}_borough"].in_(boroughs)]
        people = self.specs["people"]
        people_table = self.layer_tables["people"]
        ours = select(people_table.c[people.key[0]]).where(people_table.c[people.scope.names[0]].in_(boroughs))
        return [or_(*(table.c[name].in_(ours) for name in rule.names))]

    def quarantine_counts(self) -> dict[str, int]:
        q = self.quarantine
        with self.engine.connect() as conn:
            rows = conn.execute(select(q.c.layer, func.count()).group_by(q.c.layer)).all()
        return {layer: n for layer, n in rows}

    def list_batches(self, layer: str | None = None) -> list[dict]:
        b = self.batches
        query = select(b).order_by(b.c.started_at)
        if layer:
            query = query.where(b.c.layer == layer)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def batch(self, batch_id: str) -> dict | None:
        b = self.batches
        with self.engine.connect() as conn:
            row = conn.execute(select(b).where(b.c.batch_id.startswith(batch_id))).all()
        if len(row) > 1:
            raise SetupError(f"batch id prefix {batch_id!r} matches {len(row)} batches; give more characters")
        return dict(row[0]._mapping) if row else None

    def rejected_rows(self, batch_id: str) -> list[dict]:
        """The quarantined rows of one batch, in file order, with their issues and raw values."""
        q = self.quarantine
        with self.engine.connect() as conn:
            rows = conn.execute(select(q).where(q.c.batch_id == batch_id).order_by(q.c.row_number)).all()
        out = []
        for r in rows:
            item = dict(r._mapping)
            item["issues"] = json.loads(item["issues"])
            item["raw"] = json.loads(item["raw"])
            out.append(item)
        return out

    def boundaries(self, levels=("borough", "ward")) -> list[dict]:
        """Boundary polygons (shapely, WGS84) of the given levels."""
        if "boundaries" not in self.layer_tables:
            return []
        t = self.layer_tables["boundaries"]
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.c.code, t.c.name, t.c.level, t.c.borough_code, t.c.geometry)
                                .where(t.c.level.in_(levels)).order_by(t.c.code)).all()
        return [{"code": r.code, "name": r.name, "level": r.level, "borough_code": r.borough_code,
                 "geometry": shapely.from_geojson(r.geometry)} for r in rows]

    def data_version(self, layers=None, boroughs=None, res: int | None = None) -> tuple:
        """Changes whenever the stored data can have changed: a batch loaded, or records erased or altered
        (retention). Products computed from the store are cached under it.

        With ``layers`` and/or ``boroughs``, only the batches of those layers that can touch those boroughs count
        (see ``BatchQueries.touching``; ``res``: the product counts cells at that resolution only), so a product
        declaring what it reads outlives batches elsewhere; an erasure or alteration still changes every version.
        With neither, every batch counts."""
        audit = self.metadata.tables["audit_events"]
        with self.engine.connect() as conn:
            batches = conn.execute(select(func.count(), func.max(self.batches.c.finished_at))
                                   .where(*self.touching(layers, boroughs, res))).first()
            changes = conn.execute(select(func.count()).select_from(audit)
                                   .where(audit.c.operation.in_(("erasure", "alteration")))).scalar()
        return (batches[0], str(batches[1]), changes)

    def latest(self, layer: str, field: str):
        """The largest value of one field of a layer (None when the layer is empty)."""
        table = self.layer_tables[layer]
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(table.c[field]))).scalar()

    def time_extent(self, layer: str, field: str) -> tuple:
        """The earliest and latest value of one time field of a layer ((None, None) when it holds none)."""
        column = self.layer_tables[layer].c[field]
        with self.engine.connect() as conn:
            low, high = conn.execute(select(func.min(column), func.max(column))).first()
        return low, high

    def checkpoint(self) -> None:
        """Make erasures final on disk: on SQLite, copy the write-ahead log into the database and empty it, so
        erased rows cannot be read from the log file. (PostgreSQL's own vacuum reclaims deleted rows.)"""
        if not self.is_postgres:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def publish(self, product: str, period: str, values, *, whole: bool = False):
        """Aggregate numbers (a pandas Series of int per integer cell) as first published.

        A cell published before keeps its earlier value; the others are recorded now. So a number, once shown,
        never changes, and later uploads cannot be revealed by differencing two views. With ``whole``, the values
        are one partition published together: when anything is published for the product and period, exactly that
        is returned (its cells, not ``values``'s) and nothing is added, so the areas themselves never change."""
        import pandas as pd

        table = self.metadata.tables["publications"]
        mine = (table.c.product == product) & (table.c.period == period)

        def held(conn) -> dict[int, int]:
            return dict(conn.execute(select(table.c.cell, table.c.value).where(mine)).all())

        cells = [int(c) for c in values.index]
        with self.engine.connect() as conn:
            known = held(conn)
        if whole and known:
            return pd.Series(list(known.values()), index=pd.Index(list(known), dtype="int64", name="cell"),
                             dtype="int64", name=values.name)
        if any(c not in known for c in cells):
            with self.writing() as conn:
                if self.is_postgres:  # two first publications at once: the second waits, then reads the first's
                    conn.execute(text("LOCK TABLE publications IN EXCLUSIVE MODE"))
                known = held(conn)
                if whole and known:  # published by another request meanwhile: theirs stands
                    return pd.Series(list(known.values()), index=pd.Index(list(known), dtype="int64", name="cell"),
                                     dtype="int64", name=values.name)
                now = datetime.now(timezone.utc).replace(tzinfo=None)
                new = [{"product": product, "period": period, "cell": c, "value": int(v), "published_at": now}
                       for c, v in zip(cells, values.to_numpy().tolist()) if c not in known]
                if new:
                    conn.execute(table.insert(), new)
                known.update({row["cell"]: row["value"] for row in new})
        return pd.Series([known[c] for c in cells], index=values.index, dtype="int64", name=values.name)

    def _filters(self, table, *, equals=None, among=None, present=(), time_field=None, start=None, end=None):
        """WHERE conditions from plain values: ``equals`` {column: value}, ``among`` {column: values},
        ``present`` (columns that must not be empty) and ``[start, end)`` of ``time_field``."""
        conditions = [table.c[name] == value for name, value in (equals or {}).items()]
        conditions += [table.c[name].in_(list(values)) for name, values in (among or {}).items()]
        conditions += [table.c[name].is_not(None) for name in present]
        if time_field is not None:
            for bound, keep in ((start, lambda c, v: c >= v), (end, lambda c, v: c < v)):
                if bound is not None:
                    conditions.append(keep(table.c[time_field], _time_bound(table.c[time_field], bound)))
        return conditions

    def publications(self) -> list[dict]:
        """What has been published: per period and product, how many cells and when first published."""
        table = self.metadata.tables["publications"]
        query = (select(table.c.period, table.c.product, func.count(), func.min(table.c.published_at))
                 .group_by(table.c.period, table.c.product).order_by(table.c.period, table.c.product))
        with self.engine.connect() as conn:
            return [{"period": p, "product": q, "cells": n, "published_at": at} for p, q, n, at in conn.execute(query)]

    def withdraw_publications(self, conn, period: str) -> int:
        """Forget the numbers published for ``period`` (all products); returns how many cells were withdrawn."""
        table = self.metadata.tables["publications"]
        return conn.execute(table.delete().where(table.c.period == period)).rowcount

    def read_layer(self, layer: str, columns=None, *, equals=None, among=None, present=()):
        """A layer's rows as a pandas DataFrame: some ``columns`` (default all but geometry), only rows whose
        columns equal ``equals`` ({column: value}), lie ``among`` ({column: values}) and have ``present``
        (columns) filled."""
        import pandas as pd

        table = self.layer_tables[layer]
        cols = [table.c[c] for c in columns] if columns else [c for c in table.c if c.name != "geom"
                                                               and not c.name.endswith("_geom")]
        query = select(*cols).where(*self._filters(table, equals=equals, among=among, present=present))
        with self.engine.connect() as conn:
            result = conn.execute(query)
            # plain tuples: pandas probes each Row for attributes it lacks, which SQLAlchemy answers slowly
            return pd.DataFrame([tuple(row) for row in result], columns=list(result.keys()))

    def people_by_cell(self, layer: str, cell: str, person: str, *, time_field: str | None = None, start=None,
                       end=None, equals=None):
        """The distinct (cell, person) pairs of the ``cell`` column and the ``person`` field, among rows dated in
        [start, end) of ``time_field`` whose columns equal ``equals``: what counting distinct people over a group of
        cells needs (a person in two cells of an area is one person of the area). A DataFrame (cell, person)."""
        import pandas as pd

        table = self.layer_tables[layer]
        query = (select(table.c[cell], table.c[person])
                 .where(*self._filters(table, equals=equals, present=[cell, person], time_field=time_field,
                                       start=start, end=end))
                 .distinct())
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return pd.DataFrame({"cell": pd.array([int(c) for c, _ in rows], dtype="int64"),
                             "person": [str(p) for _, p in rows]})

    def count_by_cell(self, layer: str, cell: str, *, time_field: str | None = None, start=None, end=None,
                      equals=None, sum_field: str | None = None, distinct_field: str | None = None):
        """Per cell of the ``cell`` column (a pandas Series indexed by int64 cell): how many rows, or the sum of
        ``sum_field``, or how many distinct values of ``distinct_field``, among rows dated in [start, end) of
        ``time_field`` whose columns equal ``equals``. One GROUP BY; cells with none are absent.

        A plain count over whole months, filtered only on counted fields, is read from the layer's cell counts
        (``store/cell_counts.py``); anything else from the rows. Both give the same answer."""
        import pandas as pd

        plan = None if sum_field is not None or distinct_field is not None else \
            self._counts_plan(layer, cell, time_field, start, end, equals)
        if plan is not None:
            counts, conditions = plan
            query = select(counts.c.cell, func.sum(counts.c.n)).where(*conditions).group_by(counts.c.cell)
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            return pd.Series([int(v) for _, v in rows], index=pd.Index([int(c) for c, _ in rows], dtype="int64",
                                                                      name="cell"), dtype="int64")
        table = self.layer_tables[layer]
        column = table.c[cell]
        if sum_field is not None:
            measure = func.coalesce(func.sum(table.c[sum_field]), 0)
        elif distinct_field is not None:
            measure = func.count(table.c[distinct_field].distinct())
        else:
            measure = func.count()
        query = (select(column, measure)
                 .where(*self._filters(table, equals=equals, present=[cell], time_field=time_field, start=start,
                                       end=end))
                 .group_by(column))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return pd.Series([int(round(float(v))) for _, v in rows], index=pd.Index([int(c) for c, _ in rows],
                                                                                dtype="int64", name="cell"),
                         dtype="int64")

    def count_by_cell_month(self, layer: str, cell: str, *, time_field: str | None = None, start=None, end=None,
                            equals=None, cells=None):
        """How many rows per cell of the ``cell`` column and calendar month of ``time_field`` (default: the layer's
        first time field), among rows dated in [start, end) whose columns equal ``equals``: a pandas int64 Series
        indexed by (``cell`` int64, ``month`` Timestamp of the month's first day), sorted; pairs with none, and rows
        with no time, are absent. One query: from the cell counts when they can answer (see ``count_by_cell``),
        else from the rows. ``cells`` (int64 ids, at most ``MAX_LISTED_CELLS``), when given, are the only cells
        wanted: a borough's map then reads its own cells, not every borough's."""
        import pandas as pd

        spec = self.specs[layer]
        time_field = time_field or (spec.time_fields[0] if spec.time_fields else None)
        if time_field is None:
            raise ValueError(f"layer {layer!r} has no time field to count months of")
        listed = [int(c) for c in cells] if cells is not None and len(cells) <= MAX_LISTED_CELLS else None
        plan = self._counts_plan(layer, cell, time_field, start, end, equals)
        if plan is not None:
            counts, conditions = plan
            if listed is not None:
                conditions = [*conditions, counts.c.cell.in_(listed)]
            query = (select(counts.c.cell, counts.c.month, func.sum(counts.c.n))
                     .where(*conditions, counts.c.month != NO_MONTH_DATE).group_by(counts.c.cell, counts.c.month))
            with self.engine.connect() as conn:
                rows = [(cell_, month, int(n)) for cell_, month, n in conn.execute(query).all()]
            frame = pd.DataFrame(rows, columns=["cell", "month", "n"])
        else:
            table = self.layer_tables[layer]
            query = select(table.c[cell], table.c[time_field]).where(
                *self._filters(table, equals=equals, among=None if listed is None else {cell: listed},
                               present=[cell, time_field], time_field=time_field, start=start, end=end))
            with self.engine.connect() as conn:
                rows = list(map(tuple, conn.execute(query).all()))
            frame = pd.DataFrame(rows, columns=["cell", "month"]).assign(n=1)
        months = pd.to_datetime(frame["month"].astype(str)).dt.to_period("M").dt.to_timestamp()
        cube = (frame.assign(cell=frame["cell"].astype("int64"), month=months, n=frame["n"].astype("int64"))
                .groupby(["cell", "month"])["n"].sum())
        if cube.empty:
            cube = pd.Series([], index=pd.MultiIndex.from_arrays([pd.Index([], dtype="int64"),
                                                                  pd.DatetimeIndex([])], names=["cell", "month"]))
        return cube.astype("int64").rename(None)
