"""An intervention's evaluation as one offline HTML page: the verdict per type of incident, charts, the method.

The page needs nothing from the network (inline styles and SVG charts, no scripts) and every value is escaped. It
states the method and its assumptions in words, so the reader sees what "fell" or "no clear change" rests on.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

from ..analysis.evaluation import MIN_PLACEBOS, MIN_POST_MONTHS, MIN_PRE_MONTHS, MIN_TREATED_EVENTS
from ..analysis.interventions import InterventionEvaluation
from .figures import before_after_chart_svg
from .render import _TEMPLATES

#: Charts drawn at most (all incidents first, then the types with the most incidents that could be evaluated).
MAX_CHARTS = 6


def _pct(value: float) -> str:
    return "" if value is None or math.isnan(value) else f"{value * 100:+.0f}%"


def _rate(before: float, after: float) -> str:
    return "" if math.isnan(before) else f"{before:.2f} → {after:.2f}"


def evaluation_rows(evaluation: InterventionEvaluation) -> list[dict]:
    """One row per type of incident: the numbers of the results table, as text."""
    rows = []
    for name, result in evaluation.effects.items():
        rows.append({"name": name, "treated": _rate(result.treated_pre, result.treated_post),
                     "comparison": _rate(result.comparison_pre, result.comparison_post),
                     "before_after": _pct(result.before_after), "effect": _pct(result.effect),
                     "interval": "" if math.isnan(result.low) else f"{_pct(result.low)} to {_pct(result.high)}",
                     "p": "" if math.isnan(result.p) else f"{result.p:.3f}", "verdict": result.verdict})
    return rows


def render_evaluation_html(evaluation: InterventionEvaluation, *, borough_names: dict | None = None,
                           attributions=()) -> str:
    """The page (see the module)."""
    record = dict(evaluation.record)
    record["kind_words"] = str(record.get("kind", "")).replace("_", " ")
    record["borough_name"] = (borough_names or {}).get(record.get("borough"), record.get("borough"))
    for key in ("started_on", "ended_on"):
        value = record.get(key)
        record[key] = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)[:10]
    charts = []
    for name, result in evaluation.effects.items():
        if result.too_little_data or len(charts) >= MAX_CHARTS:
            continue
        monthly = result.monthly
        charts.append({"name": name, "verdict": result.verdict,
                       "svg": before_after_chart_svg(monthly.month, monthly.treated, monthly.comparison, result.start,
                                                     title=f"{name}: treated area and comparison by month")})
    first = next(iter(evaluation.effects.values()))
    area = "; ".join(evaluation.places + ([f"{len(str(record.get('cells') or '').split(';'))} recorded cell(s)"]
                                          if str(record.get("cells") or "").strip() else []))
    settings_text = ", ".join(f"{k} {v}" for k, v in evaluation.settings.items())
    return _TEMPLATES.get_template("evaluation.html").render(
        title=f"Evaluation: {record.get('title', record['intervention_id'])} ({record['intervention_id']})",
        record=record, area=area, cells=len(evaluation.treated), settings=evaluation.settings,
        months=evaluation.months or ["none"], start=first.start, rows=evaluation_rows(evaluation), charts=charts,
        method=first.method, assumptions=first.assumptions, settings_text=settings_text,
        rules={"min_pre_months": MIN_PRE_MONTHS, "min_post_months": MIN_POST_MONTHS,
               "min_treated_events": MIN_TREATED_EVENTS, "min_placebos": MIN_PLACEBOS},
        generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), attributions=list(attributions))


def write_evaluation_html(evaluation: InterventionEvaluation, path, **kwargs) -> Path:
    path = Path(path)
    path.write_text(render_evaluation_html(evaluation, **kwargs), encoding="utf-8")
    return path
