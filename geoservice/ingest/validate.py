"""Type and check every field of a batch, vectorised, collecting every failure of every row.

One validator per field type. Text is stripped; an empty string is "no value". Dates and times: ISO 8601 by
default plus any ``formats`` a field declares; a time without a zone is read as UK local time (Europe/London,
so British Summer Time is honoured) and stored as UTC. Values outside an allowed list are rejected with the
closest allowed value suggested, never silently corrected.

Text: no value may hold NUL or another control character (tab, line feed and carriage return excepted), DEL,
a C1 control, a text-direction embedding, override or isolate (U+202A-U+202E, U+2066-U+2069) or the
non-characters U+FFFE and U+FFFF. They make the XML network exports invalid, reorder what a reader sees (a
right-to-left override makes "gpj.exe" read as "exe.jpg"), and PostgreSQL cannot store NUL in text. Such a row
is rejected (``text_control_character``), never cleaned.

Area codes: a field declared with ``area = "borough"`` (or ``"ward"``) must hold the code of an area of that
level in the boundaries layer (``unknown_area_code``).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Collection, Mapping
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from ..layers import FieldSpec, LayerSpec
from .reasons import IssueLog

EARLIEST = pd.Timestamp("1900-01-01", tz="UTC")
FUTURE_GRACE = pd.Timedelta(minutes=5)
_MONTH_RE = re.compile(r"^\d{4}-\d{1,2}$")
_ZONED_RE = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)
TRUE_WORDS = {"true", "t", "yes", "y", "1"}
FALSE_WORDS = {"false", "f", "no", "n", "0"}
#: Characters no text value may hold (see the module docstring). Tab, LF and CR are allowed: they are valid in
#: XML and arrive inside quoted CSV values.
CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufffe\uffff]")
_ASCII_ALLOWED = bytes(range(0x20, 0x7F)) + b"\t\n\r"
_C0_NAMES = ("NULL", "START OF HEADING", "START OF TEXT", "END OF TEXT", "END OF TRANSMISSION", "ENQUIRY",
             "ACKNOWLEDGE", "BELL", "BACKSPACE", "CHARACTER TABULATION", "LINE FEED", "LINE TABULATION",
             "FORM FEED", "CARRIAGE RETURN", "SHIFT OUT", "SHIFT IN", "DATA LINK ESCAPE", "DEVICE CONTROL ONE",
             "DEVICE CONTROL TWO", "DEVICE CONTROL THREE", "DEVICE CONTROL FOUR", "NEGATIVE ACKNOWLEDGE",
             "SYNCHRONOUS IDLE", "END OF TRANSMISSION BLOCK", "CANCEL", "END OF MEDIUM", "SUBSTITUTE", "ESCAPE",
             "INFORMATION SEPARATOR FOUR", "INFORMATION SEPARATOR THREE", "INFORMATION SEPARATOR TWO",
             "INFORMATION SEPARATOR ONE")
#: What a GSS code looks like (a letter for the nation and eight digits): the check when no boundaries of a
#: field's level are loaded to check it against.
GSS_RE = re.compile(r"^[ENSW]\d{8}$")


def _fmt_values(values, limit: int = 8) -> str:
    values = list(values)
    shown = ", ".join(values[:limit])
    return shown + (f", … ({len(values)} in all)" if len(values) > limit else "")


def _safe_to_datetime(texts: pd.Series, **kwargs) -> pd.Series:
    """``pd.to_datetime`` that never raises: values it cannot read become NaT."""
    try:
        return pd.to_datetime(texts, errors="coerce", **kwargs)
    except (ValueError, OverflowError, TypeError):
        out = []
        for text in texts:
            try:
                out.append(pd.to_datetime(text, errors="coerce", **kwargs))
            except (ValueError, OverflowError, TypeError):
                out.append(pd.NaT)
        return pd.Series(pd.to_datetime(pd.Series(out, dtype=object), errors="coerce", utc=True), index=texts.index)


def _to_utc(parsed: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(parsed, errors="coerce")
    if getattr(parsed.dt, "tz", None) is None:
        return parsed.dt.tz_localize("UTC")
    return parsed.dt.tz_convert("UTC")


def parse_times(texts: pd.Series, kind: str, formats: tuple[str, ...] = ()) -> pd.Series:
    """UTC timestamps of ``texts`` (NaT where unreadable) for a date, month or datetime field. Each distinct text
    is parsed once: a month column of a police.uk file holds one value in tens of thousands of rows."""
    if texts.empty or texts.isna().any():
        return _parse_each(texts, kind, formats)
    text_of_row, distinct = pd.factorize(texts.to_numpy(dtype=object))
    if len(distinct) == len(texts):
        return _parse_each(texts, kind, formats)
    parsed = _parse_each(pd.Series(distinct, dtype=object), kind, formats)
    return pd.Series(parsed.array.take(text_of_row), index=texts.index)


def _parse_each(texts: pd.Series, kind: str, formats: tuple[str, ...]) -> pd.Series:
    result = pd.Series(pd.NaT, index=texts.index, dtype="datetime64[us, UTC]")
    if texts.empty:
        return result
    if kind == "month":
        ok = texts.str.match(_MONTH_RE)
        if ok.any():
            result[ok] = _to_utc(_safe_to_datetime(texts[ok] + "-01", format="%Y-%m-%d"))
        return result
    zoned = texts.str.contains(_ZONED_RE) & (kind == "datetime")
    pending = pd.Series(True, index=texts.index)
    if zoned.any():
        result[zoned] = _safe_to_datetime(texts[zoned], format="ISO8601", utc=True).astype(result.dtype)
        pending &= ~zoned
    for fmt in ("ISO8601", *formats):
        todo = pending & result.isna()
        if not todo.any():
            break
        parsed = _safe_to_datetime(texts[todo], format=fmt)
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC")
        elif kind == "datetime":
            parsed = parsed.dt.tz_localize("Europe/London", ambiguous=False, nonexistent="shift_forward")
            parsed = parsed.dt.tz_convert("UTC")
        else:
            parsed = parsed.dt.tz_localize("UTC")
        result[todo] = parsed.astype(result.dtype)
    if kind == "date":
        result = result.dt.floor("D")
    return result


def _allowed(spec: FieldSpec, texts: pd.Series, present: pd.Series, log: IssueLog) -> None:
    allowed = set(spec.allowed)
    bad = present & ~texts.isin(allowed)
    if not bad.any():
        return
    messages = []
    for value in texts[bad]:
        close = difflib.get_close_matches(value, spec.allowed, n=1, cutoff=0.6) or \
            [a for a in spec.allowed if a.lower() == value.lower()]
        hint = f"; did you mean {close[0]!r}?" if close else ""
        messages.append(f"{spec.name} {value!r} is not one of the allowed values ({_fmt_values(spec.allowed)}){hint}")
    log.add(bad.to_numpy(), spec.name, "value_not_allowed", messages)


def _numbers(spec: FieldSpec, texts: pd.Series, present: pd.Series, log: IssueLog) -> np.ndarray:
    parsed = pd.to_numeric(texts.where(present, None), errors="coerce").astype(float)
    with np.errstate(invalid="ignore"):
        not_num = present & (parsed.isna() | ~np.isfinite(parsed))
    if spec.type == "integer":
        frac = present & ~not_num & (parsed % 1 != 0)
        log.add((not_num | frac).to_numpy(), spec.name, "value_not_integer",
                [f"{spec.name} {t!r} is not a whole number" for t in texts[not_num | frac]])
        not_num = not_num | frac
    else:
        log.add(not_num.to_numpy(), spec.name, "value_not_numeric",
                [f"{spec.name} {t!r} is not a number" for t in texts[not_num]])
    ok = present & ~not_num
    low = ok & (parsed < spec.minimum) if spec.minimum is not None else pd.Series(False, index=texts.index)
    high = ok & (parsed > spec.maximum) if spec.maximum is not None else pd.Series(False, index=texts.index)
    out_range = low | high
    log.add(out_range.to_numpy(), spec.name, "value_out_of_range",
            [f"{spec.name} {t} must be between {spec.minimum:g} and {spec.maximum:g}"
             if spec.minimum is not None and spec.maximum is not None
             else f"{spec.name} {t} is out of range" for t in texts[out_range]])
    values = parsed.where(ok).to_numpy(dtype=float)
    if spec.type == "integer":
        return np.array([None if np.isnan(v) else int(v) for v in values], dtype=object)
    return np.array([None if np.isnan(v) else float(v) for v in values], dtype=object)


def _booleans(spec: FieldSpec, texts: pd.Series, present: pd.Series, log: IssueLog) -> np.ndarray:
    lowered = texts.str.lower()
    true, false = lowered.isin(TRUE_WORDS), lowered.isin(FALSE_WORDS)
    bad = present & ~true & ~false
    log.add(bad.to_numpy(), spec.name, "value_not_boolean",
            [f"{spec.name} {t!r} is not yes/no (use true/false, yes/no or 1/0)" for t in texts[bad]])
    return np.where(true, True, np.where(false, False, None)).astype(object)


def _times(spec: FieldSpec, texts: pd.Series, present: pd.Series, log: IssueLog, now: pd.Timestamp) -> pd.Series:
    parsed = parse_times(texts, spec.type, spec.formats)
    unreadable = present & parsed.isna()
    expected = {"month": "YYYY-MM", "date": "YYYY-MM-DD", "datetime": "YYYY-MM-DDTHH:MM[:SS][+00:00]"}[spec.type]
    extra = f" or {', '.join(spec.formats)}" if spec.formats else ""
    log.add(unreadable.to_numpy(), spec.name, "date_unparseable",
            [f"{spec.name} {t!r} is not a {spec.type} ({expected}{extra})" for t in texts[unreadable]])
    limit = now + FUTURE_GRACE if spec.type == "datetime" else now
    future = present & parsed.notna() & (parsed > limit) & (not spec.future_allowed)
    log.add(future.to_numpy(), spec.name, "date_in_future",
            [f"{spec.name} {t!r} is after now ({now:%Y-%m-%d %H:%M} UTC)" for t in texts[future]])
    old = present & parsed.notna() & (parsed < EARLIEST)
    log.add(old.to_numpy(), spec.name, "date_implausible",
            [f"{spec.name} {t!r} is before 1900" for t in texts[old]])
    return parsed.where(~(future | old))


def character_name(char: str) -> str:
    """``U+202E RIGHT-TO-LEFT OVERRIDE``: a character's code point and name, for messages."""
    point = ord(char)
    if point < 0x20:
        name = _C0_NAMES[point]
    elif point == 0x7F:
        name = "DELETE"
    elif 0x80 <= point <= 0x9F:
        name = "C1 CONTROL"
    else:
        name = unicodedata.name(char, "NON-CHARACTER")
    return f"U+{point:04X} {name}"


def check_characters(values: pd.DataFrame, log: IssueLog) -> None:
    """Reject rows whose text holds a character of ``CONTROL_RE``, naming the column and the character.

    A column is checked whole first (its values joined, one pass in C), so clean columns, nearly all of them,
    cost that one pass; only a column with a hit is searched value by value.
    """
    for column in values.columns:
        texts = values[column].to_numpy(dtype=object)
        if not len(texts):
            continue
        joined = "\n".join(texts)  # "\n" is allowed: it never matches
        if joined.isascii():  # only ASCII controls can be there: deleting every allowed byte is faster than a search
            if not joined.encode("ascii").translate(None, _ASCII_ALLOWED):
                continue
        elif CONTROL_RE.search(joined) is None:
            continue
        found = [CONTROL_RE.search(text) for text in texts]
        rows = np.array([m is not None for m in found], dtype=bool)
        log.add(rows, column, "text_control_character",
                [f"{column} holds {character_name(m.group())} at character {m.start() + 1}: control characters "
                 "(NUL included) and text-direction overrides are not allowed in text; remove it from the source"
                 for m in found if m is not None])


def _area_codes(spec: FieldSpec, texts: pd.Series, present: pd.Series, log: IssueLog,
                known: Collection[str] | None) -> None:
    level = spec.area
    if known:
        known = set(known)
        bad = present & ~texts.isin(known)
        if not bad.any():
            return
        examples = sorted(known)
        messages = []
        for value in texts[bad]:
            close = difflib.get_close_matches(value.upper(), examples, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            messages.append(f"{spec.name} {value!r} is not the GSS code of a {level} in the boundaries layer "
                            f"({len(examples)} {level}s, {_fmt_values(examples, 3)}){hint}")
    else:
        bad = present & ~texts.str.match(GSS_RE)
        if not bad.any():
            return
        messages = [f"{spec.name} {value!r} is not a GSS code (a letter E, W, S or N and eight digits, like "
                    f"E09000024); no {level} boundaries are loaded to check it against" for value in texts[bad]]
    log.add(bad.to_numpy(), spec.name, "unknown_area_code", messages)


def _derive_by_prefix(codes: pd.Series, prefixes: dict[str, str]) -> pd.Series:
    """The value for each code's first matching prefix ("" when none matches), e.g. E09… → borough."""
    out = pd.Series("", index=codes.index, dtype=object)
    for prefix, value in prefixes.items():
        out[(out == "") & codes.str.startswith(prefix)] = value
    return out


def validate_fields(spec: LayerSpec, values: pd.DataFrame, log: IssueLog, now: datetime | None = None, *,
                    area_codes: Mapping[str, Collection[str]] | None = None) -> dict[str, object]:
    """Typed values of every field (``None``/NaT where empty or bad); issues are added to ``log``.

    ``area_codes`` holds the codes of each boundary level loaded (``{"borough": {...}}``); a field with an
    ``area`` whose level has none is checked for the shape of a GSS code only.
    """
    area_codes = area_codes or {}
    now = pd.Timestamp(now or datetime.now(timezone.utc))
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    typed: dict[str, object] = {}
    texts_of = {f.name: values[f.name] for f in spec.fields}
    for f in spec.fields:
        texts = texts_of[f.name]
        if f.derive_from:
            source = texts_of[f.derive_from]
            derived = _derive_by_prefix(source, f.derive_prefix)
            texts = texts.where(texts != "", derived)
            texts_of[f.name] = texts
        present = texts != ""
        if f.required:
            log.add((~present).to_numpy(), f.name, "required_missing", f"{f.name} is required but empty")
        if f.allowed is not None:
            _allowed(f, texts, present, log)
        if f.area is not None:
            _area_codes(f, texts, present, log, area_codes.get(f.area))
        if f.type in ("integer", "number"):
            typed[f.name] = _numbers(f, texts, present, log)
        elif f.type == "boolean":
            typed[f.name] = _booleans(f, texts, present, log)
        elif f.is_time:
            typed[f.name] = _times(f, texts, present, log, now)
        else:
            # np.where, not Series.where: pandas' string dtype would turn None into NaN (stored as 'NaN' text)
            typed[f.name] = np.where(present.to_numpy(), texts.to_numpy(dtype=object), None)
    for check in spec.checks:
        later, earlier = typed[check.field], typed[check.reference]
        wrong = (later.notna() & earlier.notna() & (later < earlier)).to_numpy()
        log.add(wrong, check.field, "time_order",
                [f"{check.field} {a:%Y-%m-%d %H:%M} is before {check.reference} {b:%Y-%m-%d %H:%M}"
                 for a, b in zip(later[wrong], earlier[wrong])])
    return typed
