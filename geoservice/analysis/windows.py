"""Analysis windows: read, checked and bounded in one place.

A window is ``[start, end)``. It must run forwards and span at most ``max_window_years`` (a setting, default 10):
products that work month by month (the hot-spot areas' monthly totals, emerging hot spots) would otherwise be
asked for thousands of months. ``month_windows`` is the one cut of a window into calendar months.
"""

from __future__ import annotations

import pandas as pd

from ..config import default
from ..errors import GeoserviceError
#: No record the service holds is dated outside these years; a window beyond them is a typing slip.
EARLIEST, LATEST = pd.Timestamp("1900-01-01"), pd.Timestamp("2200-01-01")


class WindowError(GeoserviceError, ValueError):
    """A window that cannot be analysed as asked: unreadable, backwards or too long."""


def as_timestamp(value, name: str) -> pd.Timestamp | None:
    """``value`` (a date, a datetime or ``YYYY-MM-DD`` text) as a naive timestamp, None when empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        raise WindowError(f"{name} must be a date written YYYY-MM-DD, got {str(value)[:40]!r}") from None
    if stamp is pd.NaT or pd.isna(stamp):
        raise WindowError(f"{name} must be a date written YYYY-MM-DD, got {str(value)[:40]!r}")
    stamp = stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp
    if not EARLIEST <= stamp <= LATEST:
        raise WindowError(f"{name} ({stamp.date()}) lies outside {EARLIEST.year}-{LATEST.year}: check the year")
    return stamp


def max_years(store) -> float:
    settings = getattr(store, "settings", None)
    return float(settings.max_window_years) if settings is not None else default("max_window_years")


def checked_window(start, end, *, max_window_years: float | None = None):
    """``(start, end)`` as timestamps (either may be None), or a ``WindowError`` saying what to change."""
    max_window_years = default("max_window_years") if max_window_years is None else max_window_years
    start, end = as_timestamp(start, "the start of the window"), as_timestamp(end, "the end of the window")
    if start is not None and end is not None:
        if start >= end:
            raise WindowError(f"the window must run forwards: from {start.date()} to {end.date()}")
        if end - start > pd.Timedelta(days=round(365.25 * max_window_years)):
            raise WindowError(f"the window from {start.date()} to {end.date()} is longer than {max_window_years:g} "
                              "years (the max_window_years setting); ask for a shorter one")
    return start, end


def month_windows(start, end) -> list[tuple[str, pd.Timestamp, pd.Timestamp]]:
    """The calendar months meeting ``[start, end)``, oldest first, each as ``(label, from, to)`` clipped to the
    window (``YYYY-MM``; a window starting mid-month gives a short first month). The one definition of a month
    every product uses, so that the months of a window always add up to the window."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    return [(str(m), max(m.start_time, start), min((m + 1).start_time, end))
            for m in pd.period_range(start, end - pd.Timedelta(1, "ns"), freq="M")]
