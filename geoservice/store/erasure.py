"""Named queries for retention: erasing rows past their review date and moving a review date. What is due and
why is ``privacy/retention.py``'s; this module only deletes and updates rows. ``Store`` inherits these methods."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import delete, func, or_, select

IN_CHUNK = 500


class ErasureQueries:
    """Mixed into ``Store``: ``self.layer_tables``, ``self.quarantine``, ``self.batches`` and the cell counts'
    ``subtract_counts`` come from it."""

    def keys_past_review(self, conn, layer: str, key: str, today: date) -> list:
        """The ``key`` values of the rows of ``layer`` whose review date is before ``today``."""
        table = self.layer_tables[layer]
        return [r[0] for r in conn.execute(select(table.c[key]).where(table.c.retain_until < today))]

    def erase_rows(self, conn, layer: str, today: date, *, naming: dict[str, list] | None = None) -> int:
        """Delete the rows of ``layer`` past their review date, and those whose columns name any of the given
        values (``naming``: {column: values}, e.g. the people erased); returns how many went."""
        table = self.layer_tables[layer]
        condition = table.c.retain_until < today
        for column, values in (naming or {}).items():
            for start in range(0, len(values), IN_CHUNK):
                condition = or_(condition, table.c[column].in_(values[start:start + IN_CHUNK]))
        count = conn.execute(select(func.count()).select_from(table).where(condition)).scalar()
        if count:
            self.subtract_counts(conn, layer, condition)  # the cell counts lose exactly what the table loses
            conn.execute(delete(table).where(condition))
        return count

    def erase_quarantine(self, conn, layer: str, loaded_before: datetime) -> int:
        """Delete the quarantined rows of ``layer`` from batches finished before ``loaded_before``."""
        quarantine, batches = self.quarantine, self.batches
        old = select(batches.c.batch_id).where(batches.c.layer == layer, batches.c.finished_at < loaded_before)
        condition = quarantine.c.batch_id.in_(old)
        count = conn.execute(select(func.count()).select_from(quarantine).where(condition)).scalar()
        if count:
            conn.execute(delete(quarantine).where(condition))
        return count

    def set_review_date(self, conn, layer: str, key: str, value, until: date) -> int:
        """Move the review date of the rows whose ``key`` is ``value``; returns how many changed."""
        table = self.layer_tables[layer]
        return conn.execute(table.update().where(table.c[key] == value).values(retain_until=until)).rowcount
