"""Whole files that cannot be read give one clear error naming the file and row; never a traceback."""

from __future__ import annotations

import gzip

import pytest
from click.testing import CliRunner

from geoservice.cli import main
from geoservice.errors import InputFileError
from geoservice.ingest.readers import SizeLimit, read_table

HEADER = "crime_id,month,crime_type,latitude,longitude"
ROW = "X1,2024-05,Robbery,51.41,-0.188"
LIMIT = SizeLimit.megabytes(1024, "ingest_max_mb")


def _bytes(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


MALFORMED = {
    "empty file": ("empty.csv", b"", "is empty"),
    "zero-byte gzip": ("empty.csv.gz", b"", "is empty"),
    "gzip holding nothing": ("nothing.csv.gz", gzip.compress(b""), "holds no data"),
    "truncated gzip": ("cut.csv.gz", gzip.compress((HEADER + "\n" + ROW + "\n").encode() * 50)[:40], "gzip"),
    "binary named .csv": ("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary"),
    "bad encoding": ("latin1.csv", (HEADER + "\n" + "X1,2024-05,Robbery,51.41,-0.188\nX2,2024-05,Caf\xe9,1,1\n")
                     .encode("latin-1"), "row 3: byte 0xe9 is not valid utf-8"),
    "ragged row": ("ragged.csv", (HEADER + "\n" + ROW + "\n" + ROW + ",extra,more\n").encode(), "row 3: has 7 fields"),
    "short row": ("short.csv", (HEADER + "\n" + ROW + "\nX2,2024-05\n").encode(), "row 3: has 2 fields"),
    "header only": ("header.csv", (HEADER + "\n").encode(), "no data rows"),
    "missing required column": ("nocol.csv", b"crime_id,latitude,longitude\nX1,51.41,-0.188\n",
                                "required columns ['month', 'crime_type'] are missing"),
    "no location column": ("noloc.csv", b"crime_id,month,crime_type\nX1,2024-05,Robbery\n", "no column locates"),
    "repeated header name": ("dupe.csv", b"month,month,crime_type,latitude,longitude\n", "repeats column names"),
    "blank": ("blank.csv", b"\n\n  \n", "only blank space"),
    "named .gz but plain": ("plain.csv.gz", (HEADER + "\n" + ROW + "\n").encode(), "not gzip-compressed"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_file_gives_a_clear_error(case, tmp_path, specs):
    name, data, expected = MALFORMED[case]
    path = _bytes(tmp_path, name, data)
    with pytest.raises(InputFileError, match=None) as info:
        read_table(path, specs["incidents"], limit=LIMIT)
    assert expected.lower() in str(info.value).lower()
    assert name in str(info.value)
    assert str(tmp_path) not in str(info.value), "a file is named by its name, never its path on the server"


@pytest.mark.parametrize("case", ["empty file", "binary named .csv", "ragged row", "zero-byte gzip"])
def test_cli_reports_a_malformed_file_without_a_traceback(case, tmp_path):
    name, data, expected = MALFORMED[case]
    path = _bytes(tmp_path, name, data)
    runner = CliRunner()
    result = runner.invoke(main, ["--database", f"sqlite:///{tmp_path / 'db.sqlite'}", "ingest", "incidents",
                                  str(path), "--json"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    payload = __import__("json").loads(result.output)
    assert payload["ok"] is False and expected.lower() in payload["error"].lower()


def test_utf8_bom_and_crlf_are_read(tmp_path, specs):
    path = _bytes(tmp_path, "excel.csv", ("\ufeff" + HEADER + "\r\n" + ROW + "\r\n").encode("utf-8"))
    table = read_table(path, specs["incidents"], limit=LIMIT)
    assert table.values.loc[0, "crime_id"] == "X1"
    assert table.values.loc[0, "longitude"] == "-0.188"


def test_another_encoding_can_be_named(tmp_path, specs):
    path = _bytes(tmp_path, "latin.csv", (HEADER + "\nX1,2024-05,Caf\xe9,51.41,-0.188\n").encode("cp1252"))
    table = read_table(path, specs["incidents"], limit=LIMIT, encoding="cp1252")
    assert table.values.loc[0, "crime_type"] == "Caf\u00e9"


def test_quoted_values_with_commas_and_newlines(tmp_path, specs):
    path = _bytes(tmp_path, "quoted.csv", (HEADER + ',context\nX1,2024-05,Robbery,51.41,-0.188,"a, b\nc"\n').encode())
    table = read_table(path, specs["incidents"], limit=LIMIT)
    assert table.values.loc[0, "context"] == "a, b\nc"
    assert list(table.row_numbers) == [2]


def test_police_uk_layout_is_detected(tmp_path, specs):
    header = ("Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Crime type,"
              "Last outcome category,Context")
    row = ",2024-05,Metropolitan Police Service,Metropolitan Police Service,-0.188,51.41,On or near X,E01003,"\
          "Merton 014A,Anti-social behaviour,,"
    path = _bytes(tmp_path, "2024-05-metropolitan-street.csv", (header + "\n" + row + "\n").encode())
    table = read_table(path, specs["incidents"], limit=LIMIT)
    assert table.format == "police-uk"
    assert table.values.loc[0, "lsoa_name"] == "Merton 014A"
    assert table.values.loc[0, "crime_id"] == ""


def test_unknown_format_is_refused(tmp_path, specs):
    path = _bytes(tmp_path, "x.csv", (HEADER + "\n" + ROW + "\n").encode())
    with pytest.raises(InputFileError, match="cannot be read as 'shapefile'"):
        read_table(path, specs["incidents"], "shapefile", limit=LIMIT)


# size: a file is refused by its size, or while it inflates, never read whole ----------------------------------
def _gzip_of_repeated_rows(path, inflated_mb: int, row: str = ROW):
    """A gzip file of HEADER and ``row`` repeated to about ``inflated_mb`` MB: a small "decompression bomb"."""
    import zlib

    block = ((row + "\n") * (1_000_000 // (len(row) + 1))).encode()
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as out:
        out.write(packer.compress((HEADER + "\n").encode()))
        for _ in range(inflated_mb):
            out.write(packer.compress(block))
        out.write(packer.flush())
    return path


def test_a_gzip_file_inflating_past_the_limit_is_refused_while_it_is_read(tmp_path, specs):
    import time
    import tracemalloc

    bomb = _gzip_of_repeated_rows(tmp_path / "bomb.csv.gz", 200)
    assert bomb.stat().st_size < 1_000_000, "200 MB of rows packs into less than 1 MB"
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(InputFileError) as info:
            read_table(bomb, specs["incidents"], limit=SizeLimit.megabytes(2, "ingest_max_mb"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert message.startswith("bomb.csv.gz: inflates past 2 MB; the limit is the ingest_max_mb setting"), message
    assert peak < 10_000_000, f"at most the limit and a block are held, not the 200 MB it inflates to ({peak:,} B)"
    assert time.perf_counter() - started < 5, "refused as soon as it passes the limit, not after inflating it all"


def test_a_gzip_file_within_the_limit_is_read_whole(tmp_path, specs):
    path = _gzip_of_repeated_rows(tmp_path / "rows.csv.gz", 3)
    table = read_table(path, specs["incidents"], limit=SizeLimit.megabytes(4, "ingest_max_mb"))
    assert len(table) == 3 * (1_000_000 // (len(ROW) + 1))
    assert table.values.loc[len(table) - 1, "crime_type"] == "Robbery"


def test_concatenated_gzip_members_are_read_as_one_file(tmp_path, specs):
    path = _bytes(tmp_path, "two.csv.gz", gzip.compress((HEADER + "\n" + ROW + "\n").encode())
                  + gzip.compress(b"X2,2024-06,Burglary,51.42,-0.19\n"))
    table = read_table(path, specs["incidents"], limit=LIMIT)
    assert list(table.values.crime_id) == ["X1", "X2"]


def test_a_plain_file_larger_than_the_limit_is_refused_by_its_size_unread(tmp_path, specs):
    import time

    path = tmp_path / "huge.csv"
    with open(path, "wb") as fh:  # a sparse 20 GB file: reading it would take minutes and all the memory there is
        fh.write((HEADER + "\n").encode())
        fh.truncate(20 * 10**9)
    started = time.perf_counter()
    with pytest.raises(InputFileError, match=r"^huge.csv: is 20,000.0 MB, larger than 5 MB; the limit is the "
                                             r"upload_max_inflated_mb setting"):
        read_table(path, specs["incidents"], limit=SizeLimit.megabytes(5, "upload_max_inflated_mb"))
    assert time.perf_counter() - started < 1


def test_a_geojson_file_larger_than_the_limit_is_refused(tmp_path, specs):
    path = _bytes(tmp_path, "places.geojson", b'{"type": "FeatureCollection", "features": []}' + b" " * 3_000_000)
    with pytest.raises(InputFileError, match="places.geojson: is 3.0 MB, larger than 2 MB"):
        read_table(path, specs["places"], limit=SizeLimit.megabytes(2, "ingest_max_mb"))


def test_the_limit_setting_must_be_positive():
    from geoservice.errors import SetupError

    with pytest.raises(SetupError, match="ingest_max_mb setting must be a positive number"):
        SizeLimit.megabytes(0, "ingest_max_mb")


# UTF-16 and UTF-32, as Excel's "Unicode" saves make them ---------------------------------------------------------
@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le"])
def test_a_csv_with_a_unicode_byte_order_mark_is_read(codec, tmp_path, specs):
    text = "\ufeff" + HEADER + ",context\r\n" + ROW + ",Café – £5\r\n"
    path = _bytes(tmp_path, "unicode.csv", text.encode(codec))
    table = read_table(path, specs["incidents"], limit=LIMIT)
    assert table.values.loc[0, "crime_id"] == "X1"
    assert table.values.loc[0, "context"] == "Café – £5"


def test_a_utf16_police_uk_file_is_recognised(tmp_path, specs):
    header = ("Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Crime type,"
              "Last outcome category,Context")
    row = ",2024-05,Met,Met,-0.188,51.41,On or near X,E01003,Merton 014A,Anti-social behaviour,,"
    path = _bytes(tmp_path, "street.csv", ("\ufeff" + header + "\n" + row + "\n").encode("utf-16-le"))
    table = read_table(path, specs["incidents"], limit=LIMIT)
    assert table.format == "police-uk" and table.values.loc[0, "lsoa_name"] == "Merton 014A"


def test_a_tab_separated_unicode_text_file_is_refused_with_what_to_do(tmp_path, specs):
    text = "\ufeff" + HEADER.replace(",", "\t") + "\r\n" + ROW.replace(",", "\t") + "\r\n"
    path = _bytes(tmp_path, "unicode.txt.csv", text.encode("utf-16-le"))
    with pytest.raises(InputFileError, match=r"unicode.txt.csv row 1: the columns are separated by tabs.*"
                                             r"CSV UTF-8 \(Comma delimited\)"):
        read_table(path, specs["incidents"], limit=LIMIT)


def test_a_cut_short_utf16_file_is_refused(tmp_path, specs):
    data = ("\ufeff" + HEADER + "\n" + ROW + "\n").encode("utf-16-le")[:-1]  # an odd number of bytes
    path = _bytes(tmp_path, "cut.csv", data)
    with pytest.raises(InputFileError, match=r"cut.csv row 2: the file starts with a UTF-16 byte-order mark but"):
        read_table(path, specs["incidents"], limit=LIMIT)


def test_nul_bytes_in_the_first_64_kib_still_make_a_file_binary(tmp_path, specs):
    path = _bytes(tmp_path, "nul.csv", (HEADER + "\n" + ROW + "\n").encode() + b"X2,\x00\x00,Robbery,1,1\n")
    with pytest.raises(InputFileError, match="nul.csv: is a binary file"):
        read_table(path, specs["incidents"], limit=LIMIT)


# errors name files by name only, never by their path on the server ----------------------------------------------
def test_errors_never_show_the_server_path(tmp_path, specs):
    folder = tmp_path / "private-upload-folder"
    folder.mkdir()
    cases = {
        "absent.csv": None,
        "broken.gpkg": b"SQLite format 3\x00" + b"\x00" * 200,
        "broken.geojson": b'{"type": "FeatureCollection", "features": [',
    }
    for name, data in cases.items():
        path = folder / name
        if data is not None:
            path.write_bytes(data)
        layer = "places" if name.endswith(("gpkg", "geojson")) else "incidents"
        with pytest.raises(InputFileError) as info:
            read_table(path, specs[layer], limit=LIMIT)
        message = str(info.value)
        assert message.startswith(name) and "private-upload-folder" not in message and str(tmp_path) not in message, \
            message
    with pytest.raises(InputFileError, match="^private-upload-folder: is a folder"):
        read_table(folder, specs["incidents"], limit=LIMIT)
