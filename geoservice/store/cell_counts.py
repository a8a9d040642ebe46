"""Counts per cell, month and grouping field, kept beside each layer with locations so products read small counts
instead of grouping rows on every map.

``cell_counts_<layer>`` (``store/tables.py``) holds, for every stored cell of every location at every stored
resolution, every calendar month of each counted time field and every value of the spec's ``counts.by`` fields,
how many rows there are. Each resolution's cell is counted as stored: a point's res-9 cell is not always the
parent of its res-10 cell, so nothing is derived from another resolution.

The counts change only with the rows and in the same transaction: a batch adds what it inserted
(``add_column_counts``, counted in numpy from the batch's arrays), an erasure subtracts what it is about to delete
(``subtract_counts``, counted in SQL). A batch that fails rolls back both. ``build_counts`` (run by ``Store.init``
and so by ``init-db --upgrade``) counts a layer's rows afresh when its table is new or was built for another spec
or other resolutions.

``Store`` inherits these methods.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from itertools import repeat

import numpy as np

from sqlalchemy import Date, Integer, String, cast, delete, func, literal, literal_column, select, text, true
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .tables import NO_MONTH, cell_column, counts_table_name

NO_MONTH_DATE = date.fromisoformat(NO_MONTH)


class CellCountQueries:
    """Mixed into ``Store``: ``self.specs``, ``self.layer_tables``, ``self.metadata``, ``self.resolutions``,
    ``self.is_postgres`` and ``self.engine`` come from it."""

    def counts_table(self, layer: str):
        """The cell-count table of ``layer``; None for a layer without locations."""
        return self.metadata.tables.get(counts_table_name(layer)) if self.specs[layer].counts else None

    def _counts_definition(self, layer: str) -> str:
        """What a layer's counts are built for: when it changes, they are counted afresh."""
        spec = self.specs[layer]
        return json.dumps({"locations": [loc.name for loc in spec.locations], "resolutions": list(self.resolutions),
                           "time_fields": list(spec.counts.time_fields), "by": list(spec.counts.by)})

    # keeping them ---------------------------------------------------------------------------------------------
    def add_column_counts(self, conn, layer: str, data: dict[str, np.ndarray]) -> None:
        """Add rows given column by column, as ``insert_columns`` takes them, to the counts of ``layer``, in the
        batch's transaction. Counted in numpy from the batch's own arrays: grouping the rows again in SQL took
        several times longer."""
        counts = self.counts_table(layer)
        if counts is None:
            return
        rows = column_counts(self.specs[layer], self.resolutions, data, months_as_dates=self.is_postgres)
        if not rows:
            return
        names = [c.name for c in counts.c]
        key = ", ".join(f'"{c.name}"' for c in counts.c if c.name != "n")
        columns = ", ".join(f'"{name}"' for name in names)
        if self.is_postgres:
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": counts.name})
            conn.exec_driver_sql(f'CREATE TEMP TABLE incoming_counts (LIKE "{counts.name}") ON COMMIT DROP')
            with conn.connection.driver_connection.cursor() as cursor:
                with cursor.copy(f"COPY incoming_counts ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            conn.exec_driver_sql(f'INSERT INTO "{counts.name}" ({columns}) SELECT {columns} FROM incoming_counts '
                                 f'ON CONFLICT ({key}) DO UPDATE SET n = "{counts.name}".n + excluded.n')
            conn.exec_driver_sql("DROP TABLE incoming_counts")
        else:
            conn.exec_driver_sql(f'INSERT INTO "{counts.name}" ({columns}) VALUES ({", ".join("?" * len(names))}) '
                                 f"ON CONFLICT ({key}) DO UPDATE SET n = n + excluded.n",
                                 rows)

    def subtract_counts(self, conn, layer: str, condition) -> None:
        """Take the rows of ``layer`` matching ``condition`` out of its counts; call it just before deleting them,
        in the same transaction."""
        counts = self.counts_table(layer)
        if counts is not None:
            self._count_rows(conn, layer, condition, -1)
            conn.execute(delete(counts).where(counts.c.n == 0))

    def _no_month(self):
        return literal_column(f"DATE '{NO_MONTH}'" if self.is_postgres else f"'{NO_MONTH}'")

    def _month_of(self, column):
        """The first day of the calendar month of a date or (UTC) datetime column, ``NO_MONTH`` when empty."""
        if self.is_postgres:
            return func.coalesce(cast(func.date_trunc(literal_column("'month'"), column), Date), self._no_month())
        # SQLite holds dates as 'YYYY-MM-DD' and datetimes as 'YYYY-MM-DD HH:MM:SS[.ffffff]'
        return func.coalesce(func.substr(column, 1, 7).op("||")(literal_column("'-01'")), self._no_month())

    def _count_rows(self, conn, layer: str, condition, sign: int) -> None:
        """Add (``sign`` 1) or subtract (-1) the rows of ``layer`` matching ``condition`` to its counts: one
        INSERT .. SELECT .. GROUP BY .. ON CONFLICT DO UPDATE per location, resolution and time field."""
        spec, rows, counts = self.specs[layer], self.layer_tables[layer], self.counts_table(layer)
        by = spec.counts.by
        if self.is_postgres:  # two batches of a layer count one after the other: upserts in two orders could deadlock
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": counts.name})
        upsert = postgresql_insert if self.is_postgres else sqlite_insert
        key = [c for c in counts.c if c.name != "n"]
        for loc in spec.locations:
            for res in self.resolutions:
                cell = rows.c[cell_column(loc.name, res)]
                for time_field in spec.counts.time_fields or ("",):
                    month = self._month_of(rows.c[time_field]) if time_field else self._no_month()
                    each = (select(cell.label("cell"), month.label("month"),
                                   *[func.coalesce(rows.c[name], literal_column("''")).label(name) for name in by])
                            .where(condition, cell.is_not(None)).subquery())
                    keys = [each.c.month, *[each.c[name] for name in by], each.c.cell]
                    # the WHERE keeps SQLite from reading the upsert's ON as a join's
                    grouped = (select(literal(loc.name, String).label("location"), literal(res, Integer).label("res"),
                                      literal(time_field, String).label("time_field"), *keys,
                                      (func.count() * literal_column(str(sign))).label("n"))
                               .where(true()).group_by(*keys))
                    statement = upsert(counts).from_select(["location", "res", "time_field", "month", *by, "cell",
                                                            "n"], grouped)
                    statement = statement.on_conflict_do_update(index_elements=key,
                                                                set_={"n": counts.c.n + statement.excluded.n})
                    conn.execute(statement)

    def build_counts(self) -> list[str]:
        """Count afresh the layers whose count table is new or was built for another spec or other resolutions,
        each in one transaction; returns the count tables built."""
        registry = self.metadata.tables["cell_counts_built"]
        built = []
        for layer, spec in self.specs.items():
            if spec.counts is None:
                continue
            definition = self._counts_definition(layer)
            mine = select(registry.c.definition).where(registry.c.layer == layer)
            with self.engine.connect() as conn:
                if conn.execute(mine).scalar() == definition:
                    continue
            with self.writing() as conn:
                if self.is_postgres:  # two processes starting at once: the second waits, then finds it built
                    conn.execute(text("LOCK TABLE cell_counts_built IN EXCLUSIVE MODE"))
                held = conn.execute(mine).scalar()
                if held == definition:
                    continue
                counts = self.counts_table(layer)
                counts.drop(conn, checkfirst=True)
                counts.create(conn)
                self._count_rows(conn, layer, true(), 1)
                if held is None:
                    conn.execute(registry.insert().values(layer=layer, definition=definition))
                else:
                    conn.execute(registry.update().where(registry.c.layer == layer).values(definition=definition))
            built.append(counts.name)
        return built

    # reading them ---------------------------------------------------------------------------------------------
    def read_cell_counts(self, layer: str):
        """The whole count table of ``layer`` as a DataFrame sorted by its key (months as 'YYYY-MM-DD' text): what
        checks compare with a count of the rows."""
        import pandas as pd

        counts = self.counts_table(layer)
        key = [c.name for c in counts.c if c.name != "n"]
        with self.engine.connect() as conn:
            result = conn.execute(select(counts).order_by(*[counts.c[name] for name in key]))
            frame = pd.DataFrame(list(map(tuple, result.all())), columns=list(result.keys()))  # tuples: far quicker
        frame["month"] = frame["month"].astype(str)
        return frame.astype({"res": "int64", "cell": "int64", "n": "int64"}).sort_values(key, ignore_index=True)

    def _counts_plan(self, layer: str, cell: str, time_field: str | None, start, end, equals):
        """``(count table, conditions)`` that answer a plain count of ``layer``'s rows per ``cell`` from the counts,
        or None when they cannot: a cell column, time field or ``equals`` field not counted, an ``equals`` value that
        is not a non-empty text, or a window bound that is not the start of a month."""
        spec = self.specs[layer]
        counts = self.counts_table(layer)
        if counts is None:
            return None
        where = [(loc.name, res) for loc in spec.locations for res in self.resolutions
                 if cell_column(loc.name, res) == cell]
        if not where:
            return None
        (location, res), = where
        if time_field is not None and time_field not in spec.counts.time_fields:
            return None
        equals = equals or {}
        if any(name not in spec.counts.by or not isinstance(value, str) or not value for name, value in equals.items()):
            return None
        counted = time_field if time_field is not None else (spec.counts.time_fields or ("",))[0]
        conditions = [counts.c.location == location, counts.c.res == res, counts.c.time_field == counted]
        conditions += [counts.c[name] == value for name, value in equals.items()]
        if time_field is not None and (start is not None or end is not None):
            from .db import _time_bound  # the rows' own reading of a bound

            column = self.layer_tables[layer].c[time_field]
            bounds = [None if value is None else _time_bound(column, value) for value in (start, end)]
            if any(b is not None and not _month_start(b) for b in bounds):
                return None
            low, high = (None if b is None else date(b.year, b.month, 1) for b in bounds)
            conditions.append(counts.c.month >= low if low is not None else counts.c.month != NO_MONTH_DATE)
            if high is not None:
                conditions.append(counts.c.month < high)
        return counts, conditions


def column_counts(spec, resolutions, data: dict[str, np.ndarray], *, months_as_dates: bool = False) -> list[tuple]:
    """The count rows that rows given column by column add: tuples in the count table's column order (location,
    res, time field, month, ``by`` values, cell, n), sorted by its key, so an upsert walks its index in order.
    Cells are int64 (0 for none), times datetime64 (UTC; NaT for none), ``by`` fields text (None for none), as
    ``insert_columns`` takes them. Months are 'YYYY-MM-DD' text, or dates with ``months_as_dates``."""
    import pandas as pd

    length = len(next(iter(data.values()))) if data else 0
    by = []
    for name in spec.counts.by:  # integer codes in the order of the texts, so grouping and sorting stay numeric
        values = pd.Series(np.asarray(data[name], dtype=object), dtype=object)
        codes, uniques = pd.factorize(values.where(values.notna(), "").astype(str).to_numpy(dtype=object), sort=True)
        by.append((codes, np.asarray(uniques, dtype=object)))
    months = {}
    for field in sorted(spec.counts.time_fields) or [""]:
        month = np.asarray(data[field]).astype("datetime64[M]") if field else np.full(length, np.datetime64("NaT", "M"))
        codes, uniques = pd.factorize(month.astype("int64"), sort=True)  # NaT is the smallest: NO_MONTH comes first
        uniques = uniques.astype("datetime64[M]")
        texts = np.where(np.isnat(uniques), NO_MONTH, np.datetime_as_string(uniques, unit="D")).astype(object)
        months[field] = codes, (np.array([date.fromisoformat(t) for t in texts], dtype=object) if months_as_dates
                                else texts)
    rows: list[tuple] = []
    for loc in sorted(loc.name for loc in spec.locations):
        for res in sorted(resolutions):
            cells = np.asarray(data[cell_column(loc, res)])
            cells = np.where(pd.isna(cells), 0, cells).astype("int64") if cells.dtype == object else \
                cells.astype("int64")
            held = cells != 0
            for field, (month_codes, month_values) in months.items():
                keys = [month_codes[held], *[codes[held] for codes, _ in by], cells[held]]
                grouped = pd.DataFrame({str(i): k for i, k in enumerate(keys)}).groupby(
                    [str(i) for i in range(len(keys))], sort=True).size()
                levels = [grouped.index.get_level_values(i).to_numpy() for i in range(len(keys))]
                columns = [month_values[levels[0]].tolist(),
                           *[values[level].tolist() for (_, values), level in zip(by, levels[1:-1])],
                           levels[-1].tolist(), grouped.to_numpy().tolist()]
                rows += zip(repeat(loc), repeat(res), repeat(field), *columns)
    return rows


def _month_start(value) -> bool:
    """Whether a date or datetime is the first moment of a calendar month."""
    if isinstance(value, datetime):
        return value == datetime(value.year, value.month, 1)
    return value.day == 1
