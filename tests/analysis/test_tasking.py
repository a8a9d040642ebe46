"""Where outreach is missing: the coverage rule, and a place with many sessions never a gap."""

from __future__ import annotations

import pandas as pd
import pytest

from geoservice import cells as h3cells
from geoservice.analysis.tasking import CoverageRule, TaskingError, gaps_and_covered, outreach_coverage

PARK = h3cells.point_to_cell(51.4100, -0.1880, 9)
ESTATE = h3cells.point_to_cell(51.4200, -0.1500, 9)
PARADE = h3cells.point_to_cell(51.4000, -0.2200, 9)


def _need() -> pd.DataFrame:
    return pd.DataFrame({"place": ["Kestrel Park", "Cedar Court Estate", "Junction Parade"],
                         "cells": [[PARK], [ESTATE], [PARADE]], "need": [20.0, 12.0, 3.0]})


def test_the_rule_sorts_places_into_uncovered_under_covered_and_covered():
    next_to_park = next(c for c in h3cells.disks([PARK], 1)[0] if c != h3cells.int_of(PARK))
    sessions = pd.Series({next_to_park: 9, h3cells.int_of(ESTATE): 2}, dtype="int64")
    reached = pd.Series({next_to_park: 80, h3cells.int_of(ESTATE): 11}, dtype="int64")
    coverage = outreach_coverage(_need(), sessions, reached, CoverageRule(weeks=8, under_covered_below=4))
    assert coverage.status.tolist() == ["covered", "under-covered", "uncovered"]
    assert coverage.sessions.tolist() == [9, 2, 0] and coverage.reached.tolist() == [80, 11, 0]
    gaps, covered = gaps_and_covered(coverage)
    assert gaps.place.tolist() == ["Cedar Court Estate", "Junction Parade"], "gaps keep the need order"
    assert covered.place.tolist() == ["Kestrel Park"], "the place with most outreach is never a gap"
    lonely = outreach_coverage(_need(), sessions, reached, CoverageRule(ring=0))
    assert lonely.status.tolist()[0] == "uncovered", "with no ring, sessions next door do not count"


@pytest.mark.parametrize("arguments, words", [({"weeks": 0}, "1 to 104 weeks"),
                                              ({"under_covered_below": 0}, "fewer than 1 to 1000"),
                                              ({"ring": 5}, "0 to 3 hexagons")])
def test_a_rule_that_cannot_apply_says_what_to_give(arguments, words):
    with pytest.raises(TaskingError, match=words):
        CoverageRule(**arguments)


def test_the_rule_in_words():
    words = CoverageRule(weeks=6, under_covered_below=3).words()
    assert "last 6 weeks" in words and "fewer than 3 sessions" in words
