"""Named queries for ingest: what a batch needs to know about what is held, and the writing of the batch itself.
The checks and decisions are ``ingest/pipeline.py``'s; this module only reads and writes rows. ``Store`` inherits
these methods."""

from __future__ import annotations

import numpy as np
from sqlalchemy import func, inspect, or_, select, text

LOOKUP_CHUNK = 5000
WRITE_CHUNK = 20_000
#: ``batches.boroughs`` of a batch that can change products of every borough (a layer without boroughs).
EVERY_BOROUGH = "*"


def boroughs_text(codes) -> str:
    """``batches.boroughs`` for a batch touching ``codes`` (None: every borough): ",A,B@9," so one code is found
    with LIKE on any database; ``B@9``: only B's cells at resolution 9 (``ingest/touched.py``); "" touches none
    (rows outside every borough)."""
    if codes is None:
        return EVERY_BOROUGH
    codes = sorted({c for c in codes if c})
    return f",{','.join(codes)}," if codes else ""


class BatchQueries:
    """Mixed into ``Store``: ``self.layer_tables``, ``self.quarantine``, ``self.batches`` and ``self.engine`` come
    from it."""

    def held_pairs(self, conn, layer: str, keys: np.ndarray, *, quarantined: bool = False,
                   except_reason: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(record key, content hash) pairs already held for these keys: in the layer's table, or (with
        ``quarantined``) among the layer's quarantined rows, leaving out those quarantined for ``except_reason``."""
        if quarantined:
            q = self.quarantine
            key_col, hash_col = q.c.record_key, q.c.content_hash
            base = select(key_col, hash_col).where(q.c.layer == layer)
            if except_reason is not None:
                base = base.where(q.c.reason_code != except_reason)
        else:
            table = self.layer_tables[layer]
            key_col, hash_col = table.c.record_key, table.c.content_hash
            base = select(key_col, hash_col)
        unique_keys = np.unique(keys)
        size = conn.execute(select(func.count()).select_from(base.subquery())).scalar_one()
        if size == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        if size <= 4 * unique_keys.size:  # cheaper to read them all than to ask in pieces
            rows = conn.execute(base).all()
        else:
            rows = []
            for start in range(0, unique_keys.size, LOOKUP_CHUNK):
                rows += conn.execute(base.where(key_col.in_(unique_keys[start:start + LOOKUP_CHUNK].tolist()))).all()
        pairs = np.array(rows, dtype=np.int64).reshape(-1, 2)
        return pairs[:, 0], pairs[:, 1]

    def boundary_codes(self, levels) -> list[tuple[str, str]]:
        """(code, level) of every loaded boundary of these levels."""
        if "boundaries" not in self.layer_tables or not levels:
            return []
        table = self.layer_tables["boundaries"]
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(select(table.c.code, table.c.level)
                                                   .where(table.c.level.in_(list(levels)))).all()]

    def values_by_key(self, layer: str, key: str, value: str, wanted) -> dict:
        """``{key: value}`` for the rows of ``layer`` whose ``key`` column is among ``wanted``."""
        table = self.layer_tables[layer]
        wanted = sorted(set(wanted))
        found: dict = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), LOOKUP_CHUNK):
                found.update(conn.execute(select(table.c[key], table.c[value])
                                          .where(table.c[key].in_(wanted[start:start + LOOKUP_CHUNK]))).all())
        return found

    def touching(self, layers=None, boroughs=None, res: int | None = None) -> list:
        """The condition that a batch is of one of ``layers`` and can touch one of ``boroughs`` (None: any) for a
        product counting cells at resolution ``res`` (None: any resolution, or not by cells). A batch touching every
        borough (``EVERY_BOROUGH``), or loaded before batches kept their boroughs (NULL), touches each."""
        b = self.batches
        where = []
        if layers is not None:
            where.append(b.c.layer.in_(sorted(layers)))
        if boroughs is not None:
            cells = "@" if res is None else f"@{int(res)},"
            where.append(or_(b.c.boroughs.is_(None), b.c.boroughs == EVERY_BOROUGH,
                             *(b.c.boroughs.contains(f",{code}{tail}", autoescape=True)
                               for code in sorted(boroughs) for tail in (",", cells))))
        return where

    def batch_origins(self, layers=None) -> set[tuple[str, str, bool]]:
        """(layer, format, synthetic) of the batches held (of ``layers`` only, when given)."""
        b = self.batches
        query = select(b.c.layer, b.c.format, b.c.synthetic).distinct()
        if layers is not None:
            query = query.where(b.c.layer.in_(list(layers)))
        with self.engine.connect() as conn:
            return {(layer, fmt, bool(synthetic)) for layer, fmt, synthetic in conn.execute(query).all()}

    def foreign_batches(self, demo_sources) -> list[str]:
        """Source names of the batches ``geoservice demo`` did not load (a store made before batches were marked
        counts a batch as the demo's when its file is one of ``demo_sources``)."""
        if not inspect(self.engine).has_table("batches"):
            return []
        have = {c["name"] for c in inspect(self.engine).get_columns("batches")}
        b = self.batches
        query = select(b.c.source_name)
        query = query.where(b.c.demo.is_not(True)) if "demo" in have else query.where(
            b.c.source_name.not_in(list(demo_sources)))
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(query).all()]

    def batch_ids_for_source(self, layer: str, source_sha256: str, fmt: str) -> list[str]:
        """Ids of the batches of ``layer`` in format ``fmt`` already recorded for a file with this SHA-256."""
        b = self.batches
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(b.c.batch_id).where(
                b.c.layer == layer, b.c.source_sha256 == source_sha256, b.c.format == fmt)).all()]

    def insert_batch(self, conn, row: dict) -> None:
        conn.execute(self.batches.insert(), [row])

    def insert_quarantine(self, conn, rows: list[dict]) -> None:
        for start in range(0, len(rows), WRITE_CHUNK):
            conn.execute(self.quarantine.insert(), rows[start:start + WRITE_CHUNK])

    def fill_polygons(self, conn, layer: str, batch_id: str) -> None:
        """PostGIS only: the batch's polygons as geometry, from their GeoJSON, so QGIS can open the layer."""
        if self.is_postgres:
            table = self.layer_tables[layer]
            conn.execute(text(f'UPDATE "{table.name}" SET geom = ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON(geometry), '
                              "4326)) WHERE batch_id = :b"), {"b": batch_id})
