"""Named queries for the configured risk-matrix bands (``panels/risk.py``): read them, and replace them all in one
transaction (the caller records the change in the audit log inside the same transaction). ``Store`` inherits these
methods."""

from __future__ import annotations

from sqlalchemy import select


class RiskBandQueries:
    """Mixed into ``Store``: ``self.metadata`` and ``self.engine`` come from it."""

    def risk_band_rows(self, conn=None) -> list[dict]:
        """The configured bands, lowest first (``low``, ``high``, ``label``, ``set_by``, ``set_at``); empty when
        none are configured."""
        table = self.metadata.tables["risk_bands"]
        query = select(table).order_by(table.c.low)
        if conn is not None:
            return [dict(r) for r in conn.execute(query).mappings().all()]
        with self.engine.connect() as own:
            return [dict(r) for r in own.execute(query).mappings().all()]

    def replace_risk_bands(self, conn, rows: list[dict]) -> None:
        """Replace every configured band by ``rows`` (dicts of ``low``, ``high``, ``label``, ``set_by``,
        ``set_at``), inside the ``writing()`` transaction ``conn``."""
        table = self.metadata.tables["risk_bands"]
        conn.execute(table.delete())
        if rows:
            conn.execute(table.insert(), rows)
