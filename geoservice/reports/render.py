"""A report as JSON, as CSV files (one per section, plus ``about.json``) and as one self-contained HTML page.

The HTML needs nothing from the network: styles are inline, there are no scripts, images or fonts, and every value
is escaped. Each format carries the report's period, dates, notes and the data attributions.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from pathlib import Path

import jinja2
import pandas as pd

from ..safe_text import frame_for_spreadsheet

_TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("geoservice.reports", "templates"),
                                autoescape=True, undefined=jinja2.StrictUndefined)


def plain(value):
    """A value JSON can hold: dates as ISO text, numpy scalars as Python numbers, NaN as None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(v) for v in value]
    if isinstance(value, (datetime, date, pd.Timestamp)):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _about(report) -> dict:
    """What the report says about itself, its attributions apart (they are printed as such)."""
    return {k: v for k, v in report.about.items() if k != "attributions"}


def _matrix(frame: pd.DataFrame) -> bool:
    return frame.index.name == "home borough"


def report_dict(report, sections: dict) -> dict:
    """``{"about": ..., "attributions": [...], "sections": {name: {"title", "description", "rows"}}}``."""
    out = {"about": plain(_about(report)), "attributions": report.about.get("attributions", []), "sections": {}}
    for name, (title, description) in sections.items():
        frame = report.tables[name]
        rows = ({str(i): plain(r) for i, r in frame.to_dict(orient="index").items()} if _matrix(frame)
                else [plain(r) for r in frame.to_dict(orient="records")])
        out["sections"][name] = {"title": title, "description": description, "rows": rows}
    return out


def write_json(report, sections: dict, path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(report_dict(report, sections), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _cell_text(value) -> str:
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, list):
        return "; ".join(_cell_text(v) for v in value)
    if isinstance(value, dict):
        if "cell" in value:  # a place: its name, else its cell
            named = value.get("name") or value["cell"]
            return f"{named} ({value['visits']} visits)" if "visits" in value else named
        return "; ".join(f"{k}: {_cell_text(v)}" for k, v in value.items() if v not in ([], "", None))
    return str(value)


def write_csv(report, sections: dict, folder) -> Path:
    """One CSV per section (lists joined with "; "; text a spreadsheet would run as a formula neutralised), and
    ``about.json``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in sections:
        frame = report.tables[name]
        text = frame.map(_cell_text) if len(frame.columns) else frame
        frame_for_spreadsheet(text).to_csv(folder / f"{name}.csv", index=_matrix(frame))
    (folder / "about.json").write_text(json.dumps({"about": plain(_about(report)),
                                                   "attributions": report.about.get("attributions", [])},
                                                  indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return folder


def render_html(report, sections: dict, *, title: str) -> str:
    tables = []
    for name, (heading, description) in sections.items():
        frame = report.tables[name]
        matrix = _matrix(frame)
        columns = ([frame.index.name] if matrix else []) + [str(c) for c in frame.columns]
        rows = [([str(index)] if matrix else []) + [_cell_text(v) for v in row]
                for index, row in zip(frame.index, frame.itertuples(index=False))]
        tables.append({"name": name, "title": heading, "description": description, "columns": columns,
                       "rows": rows, "numeric": [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])
                                                 and not pd.api.types.is_bool_dtype(frame[c])]})
    return _TEMPLATES.get_template("report.html").render(title=title, about=plain(_about(report)), tables=tables,
                                                         attributions=report.about.get("attributions", []))


def write_html(report, sections: dict, path, *, title: str) -> Path:
    path = Path(path)
    path.write_text(render_html(report, sections, title=title), encoding="utf-8")
    return path
