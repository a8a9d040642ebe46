"""Differencing attacks on published aggregate numbers: could subtracting shown numbers reveal a small count?

Each published number counts a *population* (what is counted, e.g. distinct children found, perhaps only those
with a field equal to a value) over a *period* ([start, end)) and an *area* (a set of hexagons). Two numbers can be
subtracted to reveal the count of what one covers and the other does not when one is nested in the other in all
three; a total minus the sum of disjoint parts inside it reveals the rest. ``differencing_leaks`` tries every such
difference among the numbers given and reports each that comes out from 1 to ``below - 1``. It is the attack
the youth map's tests run over everything a youth worker can open (``tests/web/test_youth_differencing.py``).

A difference of published (rounded) numbers is what an attacker sees; it is checked as published. Overlapping
areas that are not nested are checked the same way (conservatively: a small difference between two overlapping
areas is reported too).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import date


@dataclasses.dataclass(frozen=True)
class Population:
    """What a number counts: a base (layer, location and person field) and the fields it is filtered on. A
    population with more filters is inside one with fewer, of the same base."""

    base: str
    where: frozenset = frozenset()

    @classmethod
    def of(cls, base: str, where: Mapping[str, object] | None = None) -> Population:
        return cls(base, frozenset((where or {}).items()))

    def within(self, other: Population) -> bool:
        return self.base == other.base and other.where <= self.where


@dataclasses.dataclass(frozen=True)
class Published:
    """One published number: its population, period, the hexagons it covers and its value, and where it was
    shown (named in any report)."""

    population: Population
    start: date
    end: date
    cells: frozenset
    value: int
    shown_in: str = ""

    def within(self, other: Published) -> bool:
        """Is this number's population, period and area each inside the other's?"""
        return (self.population.within(other.population) and other.start <= self.start and self.end <= other.end
                and self.cells <= other.cells)

    def overlaps(self, other: Published) -> bool:
        nested = self.population.within(other.population) or other.population.within(self.population)
        return nested and self.start < other.end and other.start < self.end and bool(self.cells & other.cells)

    def same(self, other: Published) -> bool:
        return (self.population, self.start, self.end, self.cells) == (other.population, other.start, other.end,
                                                                       other.cells)

    def describe(self) -> str:
        return (f"{self.value} ({self.population.base}, {self.start}..{self.end}, {len(self.cells)} cells, "
                f"{self.shown_in})")


def differencing_leaks(published: Iterable[Published], *, below: int = 10) -> list[str]:
    """Every difference of the ``published`` numbers that reveals a count from 1 to ``below - 1``: the same area
    shown with two values, a number inside another, overlapping areas, and a number minus the disjoint numbers
    inside it. An empty list means no such difference was found."""
    numbers = list(dict.fromkeys(published))
    leaks = []

    def small(difference: int) -> bool:
        return 1 <= abs(difference) < below

    for i, a in enumerate(numbers):
        for b in numbers[i + 1:]:
            if not a.overlaps(b):
                continue
            if a.same(b):
                if a.value != b.value and small(a.value - b.value):
                    leaks.append(f"the same area shown twice: {a.describe()} and {b.describe()}")
            elif a.within(b) or b.within(a):
                inner, outer = (a, b) if a.within(b) else (b, a)
                if small(outer.value - inner.value) and outer.value > inner.value:
                    leaks.append(f"{outer.describe()} minus {inner.describe()} = {outer.value - inner.value}")
            elif small(a.value - b.value):
                leaks.append(f"overlapping areas: {a.describe()} and {b.describe()}")
    for whole in numbers:
        parts, covered = [], frozenset()
        for part in sorted((n for n in numbers if n.within(whole) and not n.same(whole)),
                           key=lambda n: -len(n.cells)):
            if part.population == whole.population and (part.start, part.end) == (whole.start, whole.end) \
                    and not part.cells & covered:
                parts.append(part)
                covered |= part.cells
        if len(parts) >= 2:
            rest = whole.value - sum(p.value for p in parts)
            if 1 <= rest < below:
                leaks.append(f"{whole.describe()} minus its {len(parts)} parts shown = {rest}")
    return leaks
