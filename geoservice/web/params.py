"""Query parameters, read and checked in one place: a malformed value is a 400 that says what to send instead.

Routes call these instead of reading ``request.args`` themselves, so every parameter of every route is checked
the same way (a test sends malformed values to each). Borough scope is checked here too: a well-formed borough
outside the user's own is a 404, as if it did not exist.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from flask import abort, current_app, request

from ..places import borough_names
from .access import current_user, in_scope
from .store import get_store

GSS_CODE = re.compile(r"^[EWSN]\d{8}$")
MAX_TEXT = 500


def _bad(message: str):
    abort(400, description=message)


def has_control_characters(value: str) -> bool:
    """Control, format (bidi overrides, zero-width) or unassigned characters: never wanted in a parameter."""
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cn", "Co", "Cs") for ch in value)


def text(name: str, default: str | None = None, *, max_length: int = MAX_TEXT) -> str | None:
    """A short line of text, stripped; control characters and overlong values are refused."""
    value = request.args.get(name)
    if value is None or not value.strip():
        return default
    value = value.strip()
    if len(value) > max_length:
        _bad(f"{name} is too long: at most {max_length} characters")
    if has_control_characters(value):
        _bad(f"{name} holds control or formatting characters: send plain text")
    return value


def why() -> str:
    """The user's reason for asking for personal data (recorded in the audit log)."""
    value = text("why")
    if value is None or len(value) < 5:
        _bad("say why you need this personal data: add ?why=… (for example the panel or case)")
    return value


def gss(name: str, value: str | None = None) -> str:
    value = request.args.get(name) if value is None else value
    if value is None or not GSS_CODE.match(value):
        _bad(f"{name} must be a GSS code such as E09000024 (Merton), got {_shown(value)}")
    return value


def home_borough() -> str:
    """The borough pages open on: the service's home borough when the user may see it, else the user's first."""
    home = current_app.config["GEOSERVICE_SETTINGS"].home_borough
    boroughs = current_user().boroughs
    return home if home in boroughs else boroughs[0]


def user_borough_names() -> dict[str, str]:
    """The user's boroughs by name, for pickers (a borough not loaded shows its code)."""
    names = borough_names(get_store())
    return {code: names.get(code, code) for code in current_user().boroughs}


def borough(name: str = "borough") -> str:
    """One borough of the user's (default: the home borough); another borough is a 404."""
    value = request.args.get(name)
    value = home_borough() if value is None or value == "" else gss(name, value)
    in_scope(value)
    return value


def boroughs(name: str = "borough") -> tuple[str, ...]:
    """One or more boroughs (the parameter repeated), all of the user's; default the home borough."""
    values = request.args.getlist(name)
    if len(values) > 50:
        _bad(f"at most 50 {name} values")
    chosen = tuple(dict.fromkeys(gss(name, v) for v in values)) or (home_borough(),)
    in_scope(*chosen)
    return chosen


def day(name: str, *, required: bool = False) -> date | None:
    """A date, YYYY-MM-DD."""
    value = request.args.get(name)
    if value is None or value == "":
        if required:
            _bad(f"give {name}=YYYY-MM-DD")
        return None
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        _bad(f"{name} must be a date written YYYY-MM-DD, got {_shown(value)}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        _bad(f"{name} is not a real date: {_shown(value)}")


def window(*, required: bool = False) -> tuple[date | None, date | None]:
    """``from`` and ``to`` (the end excluded), running forwards. How long a window may be is the analysis's own
    rule (``analysis.windows``), so the command line and the library keep it too."""
    start, end = day("from", required=required), day("to", required=required)
    if start is not None and end is not None and start >= end:
        _bad(f"the window must run forwards: from {start} to {end}")
    return start, end


def year_to_records(latest: date | None) -> tuple[date, date]:
    """The default window of a page that counts ended months: the twelve months up to the month after the records'
    last day (``latest``), and never past the start of this month (so a demo's or an old store's window holds its
    records, and a current store's window has ended)."""
    today = date.today()
    last = latest or today
    after = date(last.year + last.month // 12, last.month % 12 + 1, 1)
    end = min(date(today.year, today.month, 1), after)
    return date(end.year - 1, end.month, 1), end


def whole(name: str, default: int, allowed) -> int:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    if number not in allowed:
        _bad(f"{name} must be one of {', '.join(map(str, allowed))}, got {_shown(value)}")
    return number


def choice(name: str, choices, default: str | None = None) -> str | None:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    if value not in choices:
        _bad(f"{name} must be one of {', '.join(choices)}, got {_shown(value)}")
    return value


def _shown(value) -> str:
    """A value quoted for a message: shortened, control characters escaped."""
    if value is None:
        return "nothing"
    shown = value if len(value) <= 40 else value[:40] + "…"
    return repr(shown)
