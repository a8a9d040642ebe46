"""MACE packs: seven Strategic themes in order, aggregate only; Pre-MACE never lists a child with an adult; real
PDFs (opened, their text read and their pages rendered) and offline HTML; the CLI's ``pack`` commands."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pytest
from click.testing import CliRunner

from geoservice.cli import main
from geoservice.privacy.audit import events
from geoservice.reports.packs import (NO_DATA, SMALL, STRATEGIC_THEMES, Figure, PackError, Table, periods,
                                      pre_mace_pack, shown_count, strategic_pack, write_pack)

from ..conftest import DATA_DIR, private_world

MERTON = "E09000024"
CHILD_ID, ADULT_ID = re.compile(r"\bC\d{4}\b"), re.compile(r"\bA\d{3}\b")
PERSON_ID = re.compile(r"\b(?:C\d{4}|A\d{3}|P\d{3})\b")


@pytest.fixture(scope="module")
def world(world_template, tmp_path_factory):
    """A private copy of the whole synthetic world, shared by this module's tests (packs only read)."""
    return private_world(world_template, tmp_path_factory.mktemp("packs"))


@pytest.fixture(scope="module")
def strategic(world):
    return strategic_pack(world[0], MERTON, since="2025-10-01", to="2026-01-01", previous=2)


@pytest.fixture(scope="module")
def pre_mace(world):
    return pre_mace_pack(world[0], MERTON, since="2025-12-01", to="2026-01-01", recipient="Merton Pre-MACE")


class _Tables(HTMLParser):
    """The text of every table cell, table by table."""

    def __init__(self):
        super().__init__()
        self.tables, self._cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1].append(self._cell.strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def _cells(html: str) -> list[list[str]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def test_small_counts_and_periods():
    assert [shown_count(n) for n in (0, 1, 9, 10, 12, 13, 1234)] == [SMALL, SMALL, SMALL, "10", "10", "15", "1,235"]
    from datetime import date

    quarters = periods(date(2025, 10, 1), date(2026, 1, 1), 2)
    assert quarters == [(date(2025, 10, 1), date(2026, 1, 1)), (date(2025, 7, 1), date(2025, 10, 1)),
                        (date(2025, 4, 1), date(2025, 7, 1))]
    weeks = periods(date(2025, 12, 3), date(2025, 12, 31), 1)
    assert weeks[1] == (date(2025, 11, 5), date(2025, 12, 3))


def test_strategic_pack_has_the_seven_themes_in_order(strategic):
    assert [(s.key, s.title) for s in strategic.sections] == list(STRATEGIC_THEMES)
    for section in strategic.sections:
        assert section.blocks or section.text == [NO_DATA], section.title
    # the synthetic world has something in every theme this quarter, with the trend beside it
    assert all(s.blocks for s in strategic.sections)
    trend = strategic.sections[4].blocks[0]
    assert trend.columns == ["measure", "this period", "1 before", "2 before"]
    locations = strategic.sections[1]
    drawing = next(b.svg for b in locations.blocks if hasattr(b, "svg"))
    assert "<polygon" in drawing and drawing.count("<circle") >= 5, "the borough and its top places are drawn"


def test_a_theme_with_nothing_says_so_and_is_kept(world):
    empty = strategic_pack(world[0], MERTON, since="2012-01-01", to="2012-04-01", previous=1)
    assert [s.title for s in empty.sections] == [title for _, title in STRATEGIC_THEMES]
    assert all(s.text == [NO_DATA] and not s.blocks for s in empty.sections)
    assert html_text(empty).count(NO_DATA) == 7


def html_text(pack) -> str:
    from geoservice.reports import pack_render

    return pack_render.html(pack)


def test_strategic_pack_names_no_one_and_shows_no_count_from_1_to_9(strategic, tmp_path):
    page = html_text(strategic)
    assert not PERSON_ID.search(page)
    assert not re.search(r"\b(?:ME|AS|OS|SR)\d{5}\b", page), "no record numbers"
    cells = [cell for table in _cells(page) for cell in table]
    assert len(cells) > 100
    small = [c for c in cells if re.fullmatch(r"[1-9]", c.replace(",", ""))]
    assert not small, small
    assert SMALL in cells, "small counts are there, suppressed"
    counts = [int(c.replace(",", "")) for c in cells if re.fullmatch(r"[\d,]+", c)]
    assert counts and all(n == 0 or (n >= 10 and n % 5 == 0) for n in counts), counts
    pdf = write_pack(strategic, tmp_path / "strategic.pdf")
    text = _pdf_text(pdf)
    assert not PERSON_ID.search(text)


def test_pre_mace_never_lists_a_child_and_an_adult_in_one_table(pre_mace):
    assert pre_mace.about["children"] and pre_mace.about["adults"], "the December panel has both to discuss"
    for table in pre_mace.tables():
        text = " ".join(str(v) for row in table.rows for v in row)
        assert not (CHILD_ID.search(text) and ADULT_ID.search(text)), table.caption
    for cells in _cells(html_text(pre_mace)):
        text = " ".join(cells)
        assert not (CHILD_ID.search(text) and ADULT_ID.search(text)), cells[:8]
    # but every adult linked to a child discussed is there, with the evidence of each link, in their own section
    adults = next(s for s in pre_mace.sections if s.key == "adults")
    listed = {row[0] for row in adults.blocks[0].rows}
    assert listed == set(pre_mace.about["adults"])
    evidence = adults.blocks[1]
    assert {"source", "record", "date", "grade (3x5x2)", "expires"} <= set(evidence.columns)


def test_the_county_line_child_is_discussed_first_among_the_most_pressing(pre_mace, truth):
    table = next(s for s in pre_mace.sections if s.key == "children").blocks[0]
    reasons = {row[1]: row[3] for row in table.rows}
    line = [c for c in truth["county_line"]["children"] if c in reasons]
    assert line, "a county-line child is raised for the December panel"
    assert "outside London" in reasons[line[0]] and "red-graded" in reasons[line[0]]
    assert [row[1] for row in table.rows].index(line[0]) < 3, "the most serious come first"


def test_pre_mace_children_come_with_network_timeline_and_places(pre_mace):
    first = next(s for s in pre_mace.sections if s.key == "child-1")
    kinds = [type(b).__name__ for b in first.blocks]
    assert "Figure" in kinds
    captions = " ".join(b.caption for b in first.blocks if isinstance(b, Table))
    assert "Timeline" in captions and "Places" in captions
    drawing = next(b.svg for b in first.blocks if hasattr(b, "svg"))
    assert "<circle" in drawing and "child at risk" in drawing and "adult who poses risk" in drawing


def _pdf_text(path) -> str:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    return "\n".join(page.get_textpage().get_text_range() for page in pdf)


def _coloured_pixels(path, colour: tuple[int, int, int], tolerance: int = 30) -> list[int]:
    """Per page, how many rendered pixels are near ``colour``."""
    import pypdfium2 as pdfium

    out = []
    for page in pdfium.PdfDocument(str(path)):
        image = np.asarray(page.render(scale=1).to_pil().convert("RGB")).astype(int)
        out.append(int((np.abs(image - np.array(colour)).sum(axis=2) < tolerance).sum()))
    return out


def test_the_pdfs_are_real_a4_with_marking_footer_and_drawings(strategic, pre_mace, tmp_path):
    import pypdfium2 as pdfium

    path = write_pack(pre_mace, tmp_path / "pre-mace.pdf")
    assert path.read_bytes().startswith(b"%PDF")
    pdf = pdfium.PdfDocument(str(path))
    pages = len(pdf)
    assert pages >= 3
    width, height = pdf[0].get_size()
    assert (round(width), round(height)) == (595, 842), "A4 in points"
    for number in (1, pages):
        text = pdf[number - 1].get_textpage().get_text_range()
        assert text.count("OFFICIAL-SENSITIVE") == 2, "marking at the top and the bottom"
        assert f"page {number} of {pages}" in text and "Prepared for Merton Pre-MACE" in text
    text = _pdf_text(path)
    assert "Children for discussion" in text and "Adults who pose risk" in text
    assert pre_mace.about["children"][0] in text
    assert sum(_coloured_pixels(path, (0x00, 0x72, 0xB2))) > 200, "the networks' children are drawn (blue)"
    strategic_pdf = write_pack(strategic, tmp_path / "strategic.pdf")
    text = _pdf_text(strategic_pdf)
    for _, title in STRATEGIC_THEMES:
        assert title in text
    assert text.index("Locations") < text.index("Best Practice")
    assert "OFFICIAL" in text
    assert sum(_coloured_pixels(strategic_pdf, (0x55, 0x55, 0x55), tolerance=25)) > 300, "the borough is drawn"


def test_the_html_pack_is_one_offline_page(pre_mace, tmp_path):
    path = write_pack(pre_mace, tmp_path / "pre-mace.html")
    page = path.read_text(encoding="utf-8")
    assert "<script" not in page
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", page), "nothing is fetched"
    assert page.count("<svg") >= len(pre_mace.about["children"])
    assert "OFFICIAL-SENSITIVE" in page


def test_bad_requests_are_clear(world, tmp_path):
    store = world[0]
    with pytest.raises(PackError, match="run forwards"):
        strategic_pack(store, MERTON, since="2026-01-01", to="2025-10-01")
    with pytest.raises(PackError, match="unknown borough"):
        pre_mace_pack(store, "E09999999", since="2025-12-01", to="2026-01-01")
    with pytest.raises(PackError, match="YYYY-MM-DD"):
        pre_mace_pack(store, MERTON, since="2025-12-40", to="2026-01-01")
    with pytest.raises(PackError, match=".html or .pdf"):
        write_pack(None, tmp_path / "pack.docx")


def test_the_cli_makes_both_packs_and_audits_the_pre_mace_one(world, tmp_path):
    store, settings = world
    env = {"GEOSERVICE_DATABASE_URL": settings.database_url, "GEOSERVICE_INSTANCE_PATH": str(settings.instance_path),
           "GEOSERVICE_DATA_DIR": str(DATA_DIR)}
    runner = CliRunner()
    args = ["--borough", MERTON, "--since", "2025-12-01", "--to", "2026-01-01"]
    refused = runner.invoke(main, ["pack", "pre-mace", *args, "--out", str(tmp_path / "p.pdf")], env=env)
    assert refused.exit_code != 0 and "--why" in refused.output
    made = runner.invoke(main, ["pack", "pre-mace", *args, "--out", str(tmp_path / "p.pdf"), "--why",
                                "Pre-MACE 5 January"], env=env)
    assert made.exit_code == 0, made.output
    assert (tmp_path / "p.pdf").read_bytes().startswith(b"%PDF")
    logged = events(store, operation="combination")
    assert any(e["justification"] == "Pre-MACE 5 January" and "pre-mace pack" in str(e["objects"])
               for e in logged)
    made = runner.invoke(main, ["pack", "strategic", *args, "--previous", "0", "--out", str(tmp_path / "s.html")],
                         env=env)
    assert made.exit_code == 0, made.output
    assert "Strategic MACE" in (tmp_path / "s.html").read_text(encoding="utf-8")
    wrong = runner.invoke(main, ["pack", "strategic", *args, "--out", str(tmp_path / "s.docx")], env=env)
    assert wrong.exit_code != 0 and ".html or .pdf" in wrong.output


def test_actions_are_carried_with_the_overdue_marked(pre_mace, world_dir):
    import pandas as pd

    section = next(s for s in pre_mace.sections if s.key == "actions")
    assert section.blocks, section.text
    assert [b.caption for b in section.blocks][0] == "Actions about children"
    marked = [row for table in section.blocks for i, row in enumerate(table.rows) if i in table.marked]
    assert marked and all(row[-1].endswith("(overdue)") for row in marked)
    # the panel on 1 January: Merton's actions raised before it, not done and due before it, are exactly the marked
    actions = pd.read_csv(world_dir / "mace_actions.csv", dtype=str)
    merton = actions[actions.borough == MERTON]
    due = merton[merton.status.isin(["open", "in_progress"]) & (merton.due_on < "2026-01-01")]
    assert {row[0] for row in marked} == set(due.action_id)
    assert {row[0] for table in section.blocks for row in table.rows} == set(merton.action_id)


def test_risk_band_rises_are_raised_for_pre_mace_and_band_movement_is_in_the_strategic_pack(strategic, pre_mace,
                                                                                            world, truth):
    people = world[0].read_layer("people", ["person_id", "home_borough"])
    merton = set(people.person_id[people.home_borough == MERTON])
    rises = sorted(set(truth["risk_matrix"]["band_rises"]) & merton)
    assert rises, "the world plants a December band rise in Merton"
    overview = next(s for s in pre_mace.sections if s.key == "children")
    reasons = {row[-2] if len(row) == 2 else row[1]: row[-1] for table in overview.blocks for row in table.rows}
    for child in rises:
        assert "risk band rose: Early Help (Emerging) to Targeted (Moderate)" in reasons[child], child
    assert not [c for c, r in reasons.items() if "risk band rose" in r and c not in rises]
    movement = next(b for b in strategic.sections[0].blocks if b.caption == "Risk-matrix band movement")
    assert [row[0][:8] for row in movement.rows] == ["3 months", "6 months"]
    assert all(row[1] == SMALL or int(row[1].replace(",", "")) % 5 == 0 for row in movement.rows)


def test_the_missing_panels_places_feed_both_packs(strategic, pre_mace):
    """The places where children were found (the missing panel's) appear in the Pre-MACE pack with the map, and in
    the Strategic pack's Missing theme only where 10 or more finds keep the count safe."""
    found = next(s for s in pre_mace.sections if s.key == "found")
    assert any(isinstance(b, Figure) for b in found.blocks) and found.blocks[0].rows
    missing = next(s for s in strategic.sections if s.key == "missing")
    often = [b for b in missing.blocks if isinstance(b, Table) and "found 10 or more times" in b.caption]
    assert often or any("No place was where" in line for line in missing.text)
    for table in often:
        assert all(row[-1] != "<10" for row in table.rows), "only places with 10 or more finds"
