"""Reason codes for rejected rows, and the log that collects them.

Every rejected row is kept in quarantine with one or more issues, each a (field, code, message). The codes are
stable identifiers for reports and tests; the messages say what arrived and what is allowed.
"""

from __future__ import annotations

import numpy as np

#: code → what it means. A test checks that every code here is produced by a real malformed row.
REASONS = {
    "required_missing": "a required field is empty",
    "location_missing": "no coordinates or postcode to locate the row",
    "coord_not_numeric": "a latitude or longitude is not a number",
    "coord_not_finite": "a latitude or longitude is NaN or infinite",
    "coord_out_of_range": "latitude outside -90..90 or longitude outside -180..180",
    "coord_null_island": "the point is (0, 0), a placeholder rather than a place",
    "coord_swapped": "latitude and longitude appear to be swapped",
    "coord_sign_flipped": "the longitude appears to have lost (or gained) its minus sign",
    "outside_study_area": "the point lies outside the study area plus its tolerance",
    "borough_mismatch": "the point lies in a different borough from the one the row claims",
    "bng_not_numeric": "an easting or northing is not a number",
    "bng_out_of_range": "an easting or northing lies outside the British National Grid",
    "postcode_malformed": "the postcode is not in a UK postcode format",
    "postcode_unknown": "the postcode is not in the postcode table",
    "date_unparseable": "a date or time cannot be read",
    "date_in_future": "a date or time is later than now",
    "date_implausible": "a date is before 1900",
    "time_order": "one time is before another it must follow (e.g. found before reported missing)",
    "value_not_allowed": "a value is not in the field's allowed list",
    "value_not_numeric": "a number field holds something else",
    "value_not_integer": "a whole-number field holds a fraction or something else",
    "value_out_of_range": "a number is below the field's minimum or above its maximum",
    "value_not_boolean": "a yes/no field holds something else",
    "geometry_missing": "a boundary feature has no geometry",
    "geometry_not_polygon": "a boundary feature is not a polygon",
    "geometry_invalid": "a boundary polygon is invalid (self-intersecting or similar)",
    "conflicting_record": "a record with the same identity was already loaded with different content",
    "text_control_character": "a text value holds NUL, another control character or a text-direction override",
    "unknown_area_code": "a borough (or ward) code is not one held in the boundaries layer",
    "past_retention": "a personal record's review date has already passed, so it may not be kept",
    "outside_user_scope": "the row's borough is not one of the boroughs the uploader may see",
}


class IssueLog:
    """Collects (row position, field, code, message) for a batch; vectorised producers add many at once."""

    def __init__(self, n_rows: int):
        self.n_rows = n_rows
        self._rows: list[np.ndarray] = []
        self._items: list[tuple[str, str, object]] = []

    def add(self, rows, field: str, code: str, messages) -> None:
        """Record ``code`` on ``rows`` (positions or a boolean mask); ``messages`` is one str or one per row."""
        if code not in REASONS:
            raise ValueError(f"unknown reason code {code!r}")
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        if rows.size == 0:
            return
        if not isinstance(messages, str):
            messages = list(messages)
            if len(messages) != rows.size:
                raise ValueError("one message per row, or a single message")
        self._rows.append(rows.astype(np.int64))
        self._items.append((field, code, messages))

    def rejected_mask(self) -> np.ndarray:
        mask = np.zeros(self.n_rows, dtype=bool)
        for rows in self._rows:
            mask[rows] = True
        return mask

    def by_row(self) -> dict[int, list[dict]]:
        """Row position → its issues in the order found."""
        out: dict[int, list[dict]] = {}
        for rows, (field, code, messages) in zip(self._rows, self._items):
            for i, row in enumerate(rows.tolist()):
                message = messages if isinstance(messages, str) else messages[i]
                out.setdefault(row, []).append({"field": field, "code": code, "message": message})
        return out

    def codes(self) -> set[str]:
        return {code for _, code, _ in self._items}
