"""SQLAlchemy Core tables, generated from the layer specs.

Every layer gets ``layer_<name>`` with its typed fields plus system columns (record identity, batch, row,
retention date) and, per location, the point, how it was located, its borough and ward and its H3 cells.
A layer with locations also gets ``cell_counts_<name>``: its rows counted per cell, month and grouping field
(``store/cell_counts.py``), kept by ingest and retention in the transactions that change the rows.
On PostgreSQL each location also gets a PostGIS ``geometry(Point, 4326)`` column, and boundaries a
``geometry(MultiPolygon, 4326)``, so analysts can open the layers in QGIS.
"""

from __future__ import annotations

from sqlalchemy import (BigInteger, Boolean, Column, Date, DateTime, Float, ForeignKey, Index, Integer,
                        MetaData, String, Table, Text)
from sqlalchemy.dialects.postgresql import base as postgresql_base
from sqlalchemy.types import UserDefinedType

from ..layers import LayerSpec

FIELD_COLUMN_TYPES = {
    "text": Text,
    "integer": BigInteger,
    "number": Float,
    "boolean": Boolean,
    "date": Date,
    "month": Date,
    "datetime": DateTime,
}

LOCATION_SUFFIXES = ("lat", "lng", "located_by", "borough", "borough_match", "ward", "ward_match")


class Geometry(UserDefinedType):
    """A PostGIS geometry column (PostgreSQL only)."""

    cache_ok = True

    def __init__(self, kind: str = "GEOMETRY", srid: int = 4326):
        self.kind = kind
        self.srid = srid

    def get_col_spec(self, **kw) -> str:
        return f"geometry({self.kind},{self.srid})"


# Let reflection (schema checks) recognise PostGIS columns instead of warning about an unknown type.
postgresql_base.ischema_names.setdefault("geometry", Geometry)


def cell_column(location: str, res: int) -> str:
    return f"{location}_cell_{res}"


def geom_column(location: str) -> str:
    return f"{location}_geom"


def location_columns(location: str, resolutions) -> list[str]:
    return [f"{location}_{s}" for s in LOCATION_SUFFIXES] + [cell_column(location, r) for r in resolutions]


def counts_table_name(layer: str) -> str:
    return f"cell_counts_{layer}"


#: The month of a row whose time field is empty, in a cell-count table (a key holds no NULLs).
NO_MONTH = "0001-01-01"


def build_metadata(specs: dict[str, LayerSpec], resolutions, *, postgis: bool) -> tuple[MetaData, dict[str, Table]]:
    """The store's tables for these specs and resolutions."""
    metadata = MetaData()
    Table(
        "batches", metadata,
        Column("batch_id", String(32), primary_key=True),
        Column("layer", String(64), nullable=False, index=True),
        Column("source_name", Text, nullable=False),
        Column("source_sha256", String(64), nullable=False),
        Column("format", String(32), nullable=False),
        Column("started_at", DateTime, nullable=False),
        Column("finished_at", DateTime, nullable=False),
        Column("rows_in", Integer, nullable=False),
        Column("accepted", Integer, nullable=False),
        Column("rejected", Integer, nullable=False),
        Column("duplicate", Integer, nullable=False),
        Column("ignored_columns", Text, nullable=False, default="[]"),
        Column("settings", Text, nullable=False, default="{}"),
        Column("synthetic", Boolean, nullable=False, default=False,
               comment="made by geoservice synth: describes no real person"),
        Column("demo", Boolean, nullable=False, default=False, comment="loaded by geoservice demo"),
        Column("boroughs", Text, nullable=True, comment="boroughs the batch can change products of: ',A,B,'; "
               "'*' every borough; NULL (batches before it was kept) every borough (store/batches.py)"),
    )
    Table(
        "quarantine", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("batch_id", String(32), ForeignKey("batches.batch_id"), nullable=False, index=True),
        Column("layer", String(64), nullable=False),
        Column("source_name", Text, nullable=False),
        Column("row_number", Integer, nullable=False),
        Column("record_key", BigInteger, nullable=False),
        Column("content_hash", BigInteger, nullable=False),
        Column("field", Text, nullable=False),
        Column("reason_code", String(64), nullable=False, index=True),
        Column("message", Text, nullable=False),
        Column("issues", Text, nullable=False),
        Column("raw", Text, nullable=False),
        Index("ix_quarantine_layer_key", "layer", "record_key"),
    )
    Table(
        "users", metadata,
        Column("username", String(64), primary_key=True),
        Column("password_hash", Text, nullable=False),
        Column("roles", Text, nullable=False, comment="comma-separated roles"),
        Column("boroughs", Text, nullable=False, comment="comma-separated GSS codes the user may see"),
        Column("created_at", DateTime, nullable=False),
        Column("disabled", Boolean, nullable=False, default=False),
    )
    Table(  # server-side sessions: sign-out, disabling a user or a new password ends them (privacy/users.py)
        "sessions", metadata,
        Column("token_hash", String(64), primary_key=True, comment="SHA-256 of the session token the cookie holds"),
        Column("username", String(64), ForeignKey("users.username"), nullable=False, index=True),
        Column("created_at", DateTime, nullable=False),
        Column("expires_at", DateTime, nullable=False),
        Column("confirmed_at", DateTime, nullable=False, comment="when the password was last given"),
    )
    Table(  # failed sign-ins, shared by every worker of the service (privacy/users.py)
        "sign_in_failures", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("username", String(64), nullable=False, index=True),
        Column("address", String(64), nullable=False, index=True),
        Column("device", String(64), nullable=True, comment="trusted device id, when the browser had one"),
        Column("at", DateTime, nullable=False, index=True),
    )
    Table(  # stable peer-group ids: each id's latest members, as keyed pseudonyms (network/identity.py)
        "peer_group_ids", metadata,
        Column("group_id", String(16), primary_key=True),
        Column("members", Text, nullable=False, comment="JSON list of the members' keyed pseudonyms"),
        Column("first_seen", Date, nullable=False),
        Column("last_seen", Date, nullable=False),
        Column("note", Text, nullable=False, default="", comment="how it began: new, or split from another id"),
    )
    Table(  # aggregate numbers as first published: later uploads never change them (maps/products.py)
        "publications", metadata,
        Column("product", String(64), nullable=False, primary_key=True,
               comment="digest of what was counted and how it was suppressed"),
        Column("period", String(32), nullable=False, primary_key=True),
        Column("cell", BigInteger, nullable=False, primary_key=True),
        Column("value", Integer, nullable=False),
        Column("published_at", DateTime, nullable=False),
    )
    Table(  # the risk matrix's bands as an administrator configured them (panels/risk.py; none: the preloaded)
        "risk_bands", metadata,
        Column("low", Integer, primary_key=True, autoincrement=False, comment="lowest score in the band"),
        Column("high", Integer, nullable=False, comment="highest score in the band"),
        Column("label", Text, nullable=False),
        Column("set_by", String(64), nullable=False),
        Column("set_at", DateTime, nullable=False),
    )
    Table(  # append-only (triggers refuse UPDATE and DELETE) and hash-chained: see privacy/audit.py
        "audit_events", metadata,
        Column("seq", Integer, primary_key=True, autoincrement=False),
        Column("at", DateTime, nullable=False),
        Column("username", String(64), nullable=False),
        Column("operation", String(16), nullable=False, index=True),
        Column("objects", Text, nullable=False),
        Column("recipient", Text, nullable=True),
        Column("justification", Text, nullable=False),
        Column("prev_hash", String(64), nullable=False),
        Column("hash", String(64), nullable=False),
    )
    Table(  # the chain's latest entry, so removing the last events is detected too
        "audit_head", metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("seq", Integer, nullable=False),
        Column("hash", String(64), nullable=False),
    )
    Table(  # what each cell-count table was built for: a change of spec or resolutions rebuilds it (Store.init)
        "cell_counts_built", metadata,
        Column("layer", String(64), primary_key=True),
        Column("definition", Text, nullable=False, comment="JSON: locations, resolutions, time fields, by fields"),
    )
    layer_tables = {}
    for spec in specs.values():
        columns = [
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("record_key", BigInteger, nullable=False, comment="64-bit digest of the record's identity"),
            Column("content_hash", BigInteger, nullable=False, comment="64-bit digest of its immutable content"),
            Column("batch_id", String(32), ForeignKey("batches.batch_id"), nullable=False, index=True),
            Column("row_number", Integer, nullable=False),
            Column("retain_until", Date, nullable=False, index=True),
        ]
        for f in spec.fields:
            columns.append(Column(f.name, FIELD_COLUMN_TYPES[f.type], nullable=not f.required, comment=f.description
                                  or None))
        for loc in spec.locations:
            columns += [
                Column(f"{loc.name}_lat", Float), Column(f"{loc.name}_lng", Float),
                Column(f"{loc.name}_located_by", String(16)),
                Column(f"{loc.name}_borough", String(16), index=True),
                Column(f"{loc.name}_borough_match", String(16)),
                Column(f"{loc.name}_ward", String(16)),
                Column(f"{loc.name}_ward_match", String(16)),
            ]
            columns += [Column(cell_column(loc.name, r), BigInteger) for r in resolutions]
            if postgis:
                columns.append(Column(geom_column(loc.name), Geometry("POINT")))
        if spec.geometry:
            columns.append(Column("geometry", Text, nullable=False, comment="GeoJSON, WGS84"))
            if postgis:
                columns.append(Column("geom", Geometry("MULTIPOLYGON")))
        table = Table(spec.table_name, metadata, *columns, comment=spec.title)
        # A named unique index rather than a table constraint, so a bulk load can rebuild it (see Store.bulk_load)
        Index(f"uq_{spec.table_name}_record_key", table.c.record_key, unique=True)
        if postgis:
            for loc in spec.locations:
                Index(f"ix_{spec.table_name}_{loc.name}_geom", table.c[geom_column(loc.name)],
                      postgresql_using="gist")
            if spec.geometry:
                Index(f"ix_{spec.table_name}_geom", table.c["geom"], postgresql_using="gist")
        layer_tables[spec.name] = table
        if spec.counts is not None:
            _counts_table(metadata, spec)
    return metadata, layer_tables


def _counts_table(metadata: MetaData, spec: LayerSpec) -> Table:
    """``cell_counts_<layer>``: how many rows per stored cell (of each location and resolution), calendar month
    (of each counted time field; ``NO_MONTH`` when empty, ``time_field`` "" for a layer without time fields) and
    value of each ``by`` field ("" when empty). No key column is ever NULL, so the upsert's key always matches."""
    by = [Column(name, Text, nullable=False) for name in spec.counts.by]
    table = Table(
        counts_table_name(spec.name), metadata,
        Column("location", String(64), nullable=False),
        Column("res", Integer, nullable=False),
        Column("time_field", String(64), nullable=False),
        Column("month", Date, nullable=False),
        *by,
        Column("cell", BigInteger, nullable=False),
        Column("n", BigInteger, nullable=False),
        comment=f"rows of layer_{spec.name} per cell, month and {', '.join(spec.counts.by) or 'nothing else'}",
    )
    Index(f"uq_{table.name}", *[c for c in table.c if c.name != "n"], unique=True)
    return table
