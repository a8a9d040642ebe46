"""Text leaving the service for other programs: spreadsheets and XML.

- A spreadsheet runs a cell that begins with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return before one)
  as a formula: ``=HYPERLINK("http://...","adult")`` in an uploaded field would reach an analyst's Excel.
  ``for_spreadsheet`` writes such text with a leading apostrophe, which spreadsheets show as text; numbers stay
  numbers (a negative longitude is not a formula).
- XML 1.0 cannot hold NUL and most other control characters at all; ``for_xml`` replaces them with U+FFFD so a
  GraphML or GEXF file always parses.
"""

from __future__ import annotations

import re

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def for_spreadsheet(value):
    """``value`` safe to write into a CSV cell: text that a spreadsheet would run as a formula gets a leading
    apostrophe; everything else is returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.match(value):
        return "'" + value
    return value


def frame_for_spreadsheet(frame: pd.DataFrame) -> pd.DataFrame:
    """Every text cell of ``frame`` (and its column names and index) through ``for_spreadsheet``."""
    out = frame.map(for_spreadsheet) if len(frame.columns) else frame.copy()
    out.columns = [for_spreadsheet(str(c)) for c in frame.columns]
    if out.index.dtype == object:
        out.index = pd.Index([for_spreadsheet(i) for i in out.index], name=frame.index.name)
    return out


def for_xml(value: str) -> str:
    """``value`` with the characters XML 1.0 cannot hold replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", value)
