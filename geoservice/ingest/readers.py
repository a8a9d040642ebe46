"""Read a source file into a table of strings laid out as a layer's input columns.

One reader per format: plain CSV (columns named as the spec's fields), a named layout declared in the spec
(``police-uk``, ``osm-pois``), GeoJSON and GeoPackage. Every value arrives as a stripped string ("" when empty);
typing and checking happen in ``validate``, so a bad value becomes a row's reason code, never a crash here.

Files that cannot be read as a whole (empty, binary, bad encoding, ragged rows, missing columns, too large)
raise ``InputFileError`` with the file, the row and what to do about it. Row numbers count the header as row 1,
as a spreadsheet does; for GeoJSON and GeoPackage they are feature numbers from 1. Messages name a file by its
name only, never by its path on the server (a web upload sits in a temporary folder the user must not see).

Size: a file is read whole into memory, so every read has a ``SizeLimit``. A plain file larger than the limit
is refused by its size before it is read; a gzip file is inflated in blocks and refused the moment its
inflated size passes the limit, so a small "decompression bomb" never grows in memory.

Text: UTF-8 (a BOM is dropped) unless another encoding is named; a file that starts with a UTF-16 or UTF-32
byte-order mark (Excel's "Unicode" saves) is decoded by its mark and converted to UTF-8.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import gzip
import io
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..errors import InputFileError, SetupError
from ..layers import FormatSpec, LayerSpec

GEO_FORMATS = ("geojson", "gpkg")
SNIFF_BYTES = 64 * 1024
INFLATE_BLOCK = 1 << 20  # inflated bytes produced per step while reading a gzip file
MB = 1_000_000
#: Byte-order marks that name a file's encoding, longest first (UTF-32 LE starts with UTF-16 LE's mark).
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


@dataclasses.dataclass(frozen=True)
class SizeLimit:
    """The most bytes a file may hold once decompressed, and the setting that sets it (named when refusing)."""

    max_bytes: int
    setting: str = "ingest_max_mb"

    @classmethod
    def megabytes(cls, mb: float, setting: str) -> "SizeLimit":
        if not mb > 0:
            raise SetupError(f"the {setting} setting must be a positive number of MB, got {mb!r}")
        return cls(int(mb * MB), setting)

    def describe(self) -> str:
        return f"{self.max_bytes / MB:g} MB"

    def refusal(self, name: str, what: str) -> InputFileError:
        return InputFileError(f"{name}: {what} {self.describe()}; the limit is the {self.setting} setting. Split "
                              "the data into smaller files and load them one after another")


@dataclasses.dataclass
class SourceTable:
    """A file's rows as strings, with where each came from."""

    path: Path
    format: str
    values: pd.DataFrame  # one column per layer input column, all str, "" for empty
    row_numbers: np.ndarray  # spreadsheet-style row number of each row in the file
    ignored_columns: tuple[str, ...] = ()
    geometries: np.ndarray | None = None  # shapely geometries, for polygon layers

    def __len__(self) -> int:
        return len(self.values)


def formats_for(spec: LayerSpec) -> tuple[str, ...]:
    """The formats a layer can be read from."""
    geo = GEO_FORMATS
    return ("csv", *spec.formats) + geo if not spec.geometry else geo


def _file_size(path: Path) -> int:
    """The size of an existing, non-empty file, or an InputFileError naming it (by name, never its path)."""
    if not path.exists():
        raise InputFileError(f"{path.name}: no such file")
    if path.is_dir():
        raise InputFileError(f"{path.name}: is a folder, not a file")
    size = path.stat().st_size
    if size == 0:
        raise InputFileError(f"{path.name}: the file is empty (0 bytes); nothing to ingest")
    return size


def _open_bytes(path: Path, limit: SizeLimit) -> bytes:
    """The file's whole content, inflated if gzip, within ``limit``; or an InputFileError saying why not."""
    size = _file_size(path)
    with open(path, "rb") as fh:
        if fh.read(2) == b"\x1f\x8b":
            fh.seek(0)
            return _inflate(fh, path.name, limit)
        if path.suffix == ".gz":
            raise InputFileError(f"{path.name}: is named .gz but is not gzip-compressed")
        if size > limit.max_bytes:
            raise limit.refusal(path.name, f"is {size / MB:,.1f} MB, larger than")
        fh.seek(0)
        raw = fh.read(limit.max_bytes + 1)  # never more, even if the file grew since it was measured
        if len(raw) > limit.max_bytes:
            raise limit.refusal(path.name, "grew while it was read, past")
        return raw


def _inflate(fh, name: str, limit: SizeLimit) -> bytes:
    """Inflate a gzip stream block by block, refusing it as soon as it passes ``limit``.

    At most ``limit.max_bytes`` plus one block is ever held, whatever the file would inflate to.
    """
    out = io.BytesIO()
    total = 0
    try:
        with gzip.GzipFile(fileobj=fh, mode="rb") as stream:
            while block := stream.read(INFLATE_BLOCK):
                total += len(block)
                if total > limit.max_bytes:
                    raise limit.refusal(name, "inflates past")
                out.write(block)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputFileError(f"{name}: looks like gzip but cannot be decompressed ({exc}); "
                             "the download may be truncated") from None
    if not total:
        raise InputFileError(f"{name}: the gzip file holds no data; nothing to ingest")
    return out.getvalue()


def _binary(path: Path) -> InputFileError:
    return InputFileError(f"{path.name}: is a binary file, not CSV text (it contains NUL bytes); "
                          "export the data as CSV and try again")


def _from_bom(path: Path, raw: bytes) -> bytes | None:
    """UTF-8 bytes of a file that starts with a UTF-16 or UTF-32 byte-order mark; None for any other file."""
    codec = next((name for bom, name in BOMS if raw.startswith(bom)), None)
    if codec is None:
        return None
    try:
        text = raw.decode(codec)  # the codec reads the mark for the byte order, and drops it
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].decode(codec, "replace").count("\n") + 1
        raise InputFileError(f"{path.name} row {line}: the file starts with a {codec.upper()} byte-order mark but "
                             f"bytes {exc.start}-{exc.end - 1} are not valid {codec.upper()} text (is it cut "
                             "short?); save it again from Excel as \"CSV UTF-8 (Comma delimited)\"") from None
    if "\x00" in text[:SNIFF_BYTES]:
        raise _binary(path)
    return text.encode("utf-8")


def _check_text(path: Path, raw: bytes, encoding: str) -> bytes:
    """UTF-8 bytes of the file (BOM removed), after rejecting binary content and undecodable bytes."""
    converted = _from_bom(path, raw)
    if converted is not None:
        return converted
    head = raw[:SNIFF_BYTES]
    if b"\x00" in head:
        raise _binary(path)
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        hint = " If it was saved from Excel, try --encoding cp1252." if encoding.lower().startswith("utf") else ""
        raise InputFileError(f"{path.name} row {line}: byte 0x{raw[exc.start]:02x} is not valid {encoding} text."
                             f"{hint}") from None
    except LookupError:
        raise InputFileError(f"unknown encoding {encoding!r}; use a Python codec name such as utf-8 or cp1252") \
            from None
    if encoding.lower().replace("-", "").replace("_", "") in ("utf8", "utf8sig"):
        data = raw  # already valid UTF-8: no need to copy it through str
    else:
        data = text.encode("utf-8")
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data


def _first_ragged_row(text: str, width: int) -> tuple[int, int] | None:
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if row and len(row) != width:
            return number, len(row)
    return None


def _read_csv_text(path: Path, data: bytes) -> pd.DataFrame:
    """Parse UTF-8 CSV bytes strictly: every row must have the header's number of fields. Values are trimmed."""
    if not data.strip():
        raise InputFileError(f"{path.name}: the file holds only blank space; nothing to ingest")
    first_line = data.split(b"\n", 1)[0].decode("utf-8")
    header = [h.strip() for h in next(csv.reader([first_line]))]
    if len(header) == 1 and "\t" in header[0]:
        raise InputFileError(f"{path.name} row 1: the columns are separated by tabs, not commas (Excel's "
                             "\"Unicode Text\" saves them so); save the sheet from Excel as \"CSV UTF-8 (Comma "
                             "delimited)\" and load that file")
    if len(set(header)) != len(header):
        dupes = sorted({h for h in header if header.count(h) > 1})
        raise InputFileError(f"{path.name} row 1: the header repeats column names {dupes}")
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, use_threads=True),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={h: pa.string() for h in header},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, pa.ArrowException) as exc:
        ragged = _first_ragged_row(data.decode("utf-8"), len(header))
        if ragged:
            number, width = ragged
            raise InputFileError(f"{path.name} row {number}: has {width} fields but the header has {len(header)}; "
                                 "the file is ragged (a stray comma or an unquoted value?); fix that row or "
                                 "re-export the file") from None
        raise InputFileError(f"{path.name}: cannot be parsed as CSV ({exc})") from None
    # dtype=object keeps pandas from converting every column to its Arrow string type and back again
    return pd.DataFrame({name: np.asarray(pc.utf8_trim_whitespace(table.column(i)).to_numpy(zero_copy_only=False),
                                          dtype=object)
                         for i, name in enumerate(header)}, dtype=object)


def _strip(frame: pd.DataFrame) -> pd.DataFrame:
    """Every value as a trimmed string, "" for missing (for formats that arrive typed, such as GeoJSON)."""
    return pd.DataFrame({c: np.array(["" if pd.isna(v) else str(v).strip() for v in frame[c].tolist()],
                                     dtype=object) for c in frame.columns}, index=pd.RangeIndex(len(frame)),
                        dtype=object)


def _map_columns(path: Path, frame: pd.DataFrame, spec: LayerSpec, fmt: FormatSpec | None):
    """Rename source columns onto the layer's input columns; report missing and ignored ones."""
    wanted = list(spec.input_columns)
    if fmt is not None:
        mapping = {src: dst for src, dst in fmt.columns.items() if src in frame.columns}
        absent_sources = [src for src, dst in fmt.columns.items()
                          if src not in frame.columns and dst in _required_columns(spec)]
        if absent_sources:
            raise InputFileError(f"{path.name} row 1: the {fmt.name} layout needs columns {absent_sources}, "
                                 f"which the header lacks; it has {list(frame.columns)}")
    else:
        lookup = {c.lower(): c for c in wanted}
        mapping = {col: lookup[col.lower()] for col in frame.columns if col.lower() in lookup}
    out = pd.DataFrame({dst: frame[src] for src, dst in mapping.items()}, index=frame.index, dtype=object)
    if fmt is not None:
        for column, value in fmt.constants.items():
            out[column] = value
    missing = [c for c in _required_columns(spec) if c not in out.columns]
    location_missing = [loc.name for loc in spec.locations if loc.required
                        and not any(c in out.columns for c in loc.input_columns)]
    if missing or location_missing:
        parts = []
        if missing:
            parts.append(f"required columns {missing} are missing")
        for name in location_missing:
            loc = next(location for location in spec.locations if location.name == name)
            parts.append(f"no column locates {name!r} (give {list(loc.input_columns)})")
        raise InputFileError(f"{path.name} row 1: {'; '.join(parts)}. The header has {list(frame.columns)}.")
    for column in wanted:
        if column not in out.columns:
            out[column] = np.full(len(out), "", dtype=object)
    ignored = tuple(c for c in frame.columns if c not in mapping)
    return out[wanted], ignored


def _required_columns(spec: LayerSpec) -> list[str]:
    return [f.name for f in spec.fields if f.required and not f.derive_from]


def _detect_format(path: Path, spec: LayerSpec, raw_head: bytes | None) -> str:
    name = path.name.lower()
    if name.endswith((".geojson", ".json")):
        return "geojson"
    if name.endswith(".gpkg"):
        return "gpkg"
    if raw_head is not None:
        first_line = raw_head.split(b"\n", 1)[0].decode("utf-8", "replace").lstrip("\ufeff")
        header = {h.strip() for h in next(csv.reader([first_line]), [])}
        # A plain CSV names the spec's fields; a layout is chosen only when its own required columns are there.
        if {c.lower() for c in _required_columns(spec)} <= {h.lower() for h in header}:
            return "csv"
        required = set(_required_columns(spec))
        for fmt in spec.formats.values():
            needed = {src for src, dst in fmt.columns.items() if dst in required}
            if needed and needed <= header:
                return fmt.name
    return "csv"


def read_table(path, spec: LayerSpec, fmt: str | None = None, *, limit: SizeLimit,
               encoding: str = "utf-8") -> SourceTable:
    """Read ``path`` as layer ``spec``; ``fmt`` is detected from the name and header when not given.

    ``limit`` bounds the bytes read (after decompression): a larger file is refused, never read whole.
    """
    path = Path(path)
    if fmt is not None and fmt not in formats_for(spec):
        raise InputFileError(f"layer {spec.name!r} cannot be read as {fmt!r}; "
                             f"use one of: {', '.join(formats_for(spec))}")
    if fmt in GEO_FORMATS or (fmt is None and path.suffix.lower() in (".geojson", ".json", ".gpkg")):
        return _read_geo(path, spec, fmt or _detect_format(path, spec, None), limit)
    raw = _open_bytes(path, limit)
    if spec.geometry:
        raise InputFileError(f"layer {spec.name!r} holds polygons; give a GeoJSON or GeoPackage file")
    data = _check_text(path, raw, encoding)
    del raw  # the UTF-8 text is all that is needed from here
    fmt = fmt or _detect_format(path, spec, data[:SNIFF_BYTES])
    frame = _read_csv_text(path, data)
    if frame.empty:
        raise InputFileError(f"{path.name}: has a header row but no data rows; nothing to ingest")
    values, ignored = _map_columns(path, frame, spec, spec.formats.get(fmt))
    return SourceTable(path, fmt, values, np.arange(2, len(values) + 2), ignored)


def _without_path(text: str, path: Path) -> str:
    """``text`` (a library's error) with every spelling of ``path`` replaced by the file's name."""
    spellings = {str(path), str(path.absolute()), str(path.resolve()), path.as_posix()}
    for spelling in sorted(spellings, key=len, reverse=True):
        text = text.replace(spelling, path.name)
    for folder in sorted({str(path.parent), str(path.absolute().parent), str(path.resolve().parent)},
                         key=len, reverse=True):
        if folder not in ("", "."):
            text = text.replace(folder + "/", "").replace(folder, "")
    return text


def _read_geo(path: Path, spec: LayerSpec, fmt: str, limit: SizeLimit) -> SourceTable:
    import pyogrio
    import shapely

    size = _file_size(path)
    if size > limit.max_bytes:
        raise limit.refusal(path.name, f"is {size / MB:,.1f} MB, larger than")
    try:
        with warnings.catch_warnings():  # GDAL's warnings name the file by its full path; its error says enough
            warnings.simplefilter("ignore", RuntimeWarning)
            frame = pyogrio.read_dataframe(path)
    except Exception as exc:  # pyogrio raises several GDAL-derived types; all mean "unreadable"
        raise InputFileError(f"{path.name}: cannot be read as {fmt} "
                             f"({_without_path(str(exc).strip(), path)})") from None
    if frame.empty:
        raise InputFileError(f"{path.name}: holds no features; nothing to ingest")
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    attributes = _strip(pd.DataFrame(frame.drop(columns=frame.geometry.name)))
    if spec.locations:
        loc = spec.locations[0]
        if loc.lat and loc.lat not in attributes.columns:
            is_point = np.array([g is not None and g.geom_type == "Point" for g in geoms])
            lat = np.full(len(geoms), "", dtype=object)
            lng = np.full(len(geoms), "", dtype=object)
            if is_point.any():
                pts = geoms[is_point]
                lng[is_point] = [repr(float(x)) for x in shapely.get_x(pts)]
                lat[is_point] = [repr(float(y)) for y in shapely.get_y(pts)]
            attributes[loc.lat] = lat
            attributes[loc.lng] = lng
    values, ignored = _map_columns(path, attributes, spec, spec.formats.get(fmt))
    return SourceTable(path, fmt, values, np.arange(1, len(values) + 1), ignored,
                       geoms if spec.geometry else None)
