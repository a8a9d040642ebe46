"""Where outreach is missing: the places that need it most against the outreach they have had.

*Need* is the "where to act" ranking of the hot-spot work (``hotspots.where_to_act``: the concern index of
incidents weighted by type, missing-episode finds and survey concern, forecast for next month), gathered into the
named places a team can go to. *Coverage* is the outreach held at or next to a place (its hexagons and the ring
around them) in the last ``weeks`` weeks: sessions, and young people reached.

The rule (``CoverageRule``) is explicit and configurable: a place with no session in the last ``weeks`` weeks is
**uncovered**; one with fewer than ``under_covered_below`` sessions is **under-covered**; the rest are **covered**.
Gaps are the uncovered and under-covered places, ranked by need; covered places are listed apart, so a place that
already gets most of the outreach is never called a gap.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from .. import cells as h3cells
from ..errors import GeoserviceError

STATUSES = ("uncovered", "under-covered", "covered")


class TaskingError(GeoserviceError, ValueError):
    """A coverage rule that cannot be applied (a window of no weeks, a threshold below one session)."""


@dataclasses.dataclass(frozen=True)
class CoverageRule:
    """``weeks``: how far back outreach counts; ``under_covered_below``: fewer sessions than this in those weeks is
    under-covered (the default, 4 in 8 weeks, is less than one a fortnight); ``ring``: how many rings of hexagons
    around a place's own count as "at the place" (1: about 350 m at resolution 9)."""

    weeks: int = 8
    under_covered_below: int = 4
    ring: int = 1

    def __post_init__(self):
        if not 1 <= self.weeks <= 104:
            raise TaskingError(f"outreach counts over 1 to 104 weeks; got {self.weeks}")
        if not 1 <= self.under_covered_below <= 1000:
            raise TaskingError(f"'under-covered' is fewer than 1 to 1000 sessions; got {self.under_covered_below}")
        if not 0 <= self.ring <= 3:
            raise TaskingError(f"the ring around a place is 0 to 3 hexagons; got {self.ring}")

    def words(self) -> str:
        return (f"uncovered: no outreach session at or next to the place in the last {self.weeks} weeks; "
                f"under-covered: fewer than {self.under_covered_below} sessions in those weeks; covered: "
                f"{self.under_covered_below} or more")

    def status(self, sessions: int) -> str:
        return "uncovered" if sessions == 0 else "under-covered" if sessions < self.under_covered_below else "covered"


def outreach_coverage(need: pd.DataFrame, sessions: pd.Series, reached: pd.Series,
                      rule: CoverageRule = CoverageRule()) -> pd.DataFrame:
    """Each place of ``need`` (columns ``place``, ``cells``: its hexagons, ``need``: expected events next month, in
    need order) with the outreach around it: ``sessions`` and ``reached`` (young people) summed over its hexagons
    and ``rule.ring`` rings around them (``sessions``/``reached``: per cell over the rule's weeks, int64-indexed),
    and its ``status``. Rows keep the need order; ``rank`` is the place's rank by need."""
    rows = []
    for rank, place in enumerate(need.itertuples(), start=1):
        around = {h3cells.int_of(c) for ring in h3cells.disks(list(place.cells), rule.ring) for c in ring}
        held = int(sessions.reindex(list(around), fill_value=0).sum())
        met = int(reached.reindex(list(around), fill_value=0).sum())
        rows.append({"rank": rank, "place": place.place, "need": float(place.need), "sessions": held,
                     "reached": met, "status": rule.status(held), "cells": list(place.cells)})
    return pd.DataFrame(rows, columns=["rank", "place", "need", "sessions", "reached", "status", "cells"])


def gaps_and_covered(coverage: pd.DataFrame, top: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The gaps (uncovered and under-covered places) and the covered places, each in need order; ``top`` keeps the
    first places of each."""
    gaps = coverage[coverage.status != "covered"]
    covered = coverage[coverage.status == "covered"]
    return (gaps.head(top) if top else gaps), (covered.head(top) if top else covered)
