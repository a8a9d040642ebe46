"""A seeded synthetic safeguarding world on the real geography of Merton and its neighbours.

There is no public data about individual children and there must never be, so this module makes a realistic
stand-in: children at risk, adults who pose risk, evidenced associations forming peer groups, missing
episodes with return home interviews, youth-survey answers and outreach sessions, written in the layer formats
of ``layers/``, plus ``ground_truth.json`` recording every planted pattern so tests can check the analyses find
them. Same seed, same world.

Realism sources (figures used as targets, not copied data):
- Merton Safeguarding Children Partnership annual report 2022-23: return home interviews offered within
  24 hours for 98% of episodes, completed within 72 hours for 82%.
- DfE children looked after statistics (``dfe_cla_missing_london_2020_2024.csv`` in the shared data): episodes
  per missing child are heavily skewed (a few children go missing many times).
- ONS Census 2021 for south London boroughs: ethnic mix of young people roughly white 45%, black 20-25%,
  asian 15%, mixed 10-12%, other 5%; children known to exploitation services are mostly 14-17 and more often male.
Place names are fictional on purpose, so that no planted "hot place" can be mistaken for a statement about a
real park or estate. Wards, boroughs and coordinates are real.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from ..config import MERTON_AND_NEIGHBOURS, default

MERTON = "E09000024"
# Wards in the east of Merton (2013 wards), where the planted concentration of harm lies.
EAST_MERTON_WARDS = ("Figge's Marsh", "Pollards Hill", "Longthornton", "Graveney", "Lavender Fields", "Cricket Green")
# Boroughs outside the study area that some adults who pose risk are based in.
ELSEWHERE_BOROUGHS = ("E09000023", "E09000028", "E09000006")  # Lewisham, Southwark, Bromley
COUNTY_LINE_TOWN = {"name": "Hastings", "lat": 50.8553, "lng": 0.5729, "la_code": "E07000062"}
# Where a planted escalating child is found outside London (far from the county line's town).
ESCALATION_TOWNS = ({"name": "Brighton", "lat": 50.8225, "lng": -0.1372}, {"name": "Crawley", "lat": 51.1092,
                                                                            "lng": -0.1872})
# The planted escalation patterns, in turn (see ``WorldBuilder._plant_escalations``).
ESCALATION_PATTERNS = ("burst", "adult_then_missing", "found_outside_london", "more_serious", "burst",
                       "adult_then_missing", "found_outside_london", "link_to_flagged")

#: Host authorities outside London for children placed out of borough (Kent, Surrey, East Sussex county councils).
PLACEMENTS_OUTSIDE_LONDON = ("E10000016", "E10000030", "E10000011")
PUSH_FACTORS = ("conflict at home", "placement breakdown", "bereavement", "school exclusion", "neglect")
PULL_FACTORS = ("peers", "a relationship", "an adult", "family elsewhere", "exploitation")
FOLLOW_ONS = ("early_help", "social_care_referral", "safety_plan", "mentoring", "rescue_and_response", "other")
FICTIONAL_PARKS = ("Kestrel Park", "Wandle Meadow", "Heron Rise Recreation Ground", "Fernbank Common",
                   "Millpond Gardens", "Ashgrove Fields")
FICTIONAL_ESTATES = ("Harrow Lane Estate", "Cedar Court Estate", "Brookside Estate", "Lindfield Estate",
                     "Marlow Rise Estate")
FICTIONAL_OTHER = (("Junction Parade", "shopping_parade"), ("Station Approach Underpass", "station"),
                   ("Chicken Corner", "fast_food"), ("Riverside Skate Park", "park"),
                   ("Northgate Shopping Centre", "shopping_centre"), ("The Arches Youth Club", "youth_club"))

ASSOCIATION_TYPES = ("reported_association", "co_offending", "missing_together", "school", "online", "sibling")
CRIME_TYPES_CONCERN = ("Violence and sexual offences", "Robbery", "Drugs", "Possession of weapons",
                       "Anti-social behaviour", "Public order")
CRIME_TYPES_BACKGROUND = ("Anti-social behaviour", "Violence and sexual offences", "Vehicle crime", "Other theft",
                          "Burglary", "Criminal damage and arson", "Shoplifting", "Public order", "Drugs",
                          "Theft from the person", "Robbery", "Bicycle theft")
#: The synthetic under-18 ethnic mix (near ONS Census 2021 for south London), and the group planted over-represented
#: among children searched or arrested, at this relative rate to its baseline share.
BASELINE_ETHNIC_MIX = {"white": 0.45, "black": 0.23, "asian": 0.15, "mixed": 0.12, "other": 0.05}
PLANTED_GROUP, PLANTED_RELATIVE_RATE = "black", 2.0
SURVEY_REASONS = ("gangs", "drugs", "knife_crime", "poor_lighting", "adults_hanging_around", "harassment",
                  "bullying", "other")


@dataclasses.dataclass
class Geography:
    """Ward polygons of the study area, with sampling helpers."""

    wards: pd.DataFrame  # code, name, borough_code, borough_name, geometry (WGS84)
    boroughs: pd.DataFrame

    @classmethod
    def load(cls, data_dir: Path) -> "Geography":
        import geopandas as gpd

        wards_path = Path(data_dir) / "wards_merton_neighbours.geojson"
        boroughs_path = Path(data_dir) / "london_boroughs.geojson"
        for path in (wards_path, boroughs_path):
            if not path.exists():
                from ..errors import SetupError

                raise SetupError(f"the synthetic world is laid on the real geography and needs {path}; "
                                 "set GEOSERVICE_DATA_DIR to the folder holding the shared data")
        wards = gpd.read_file(wards_path, engine="pyogrio").sort_values("code").reset_index(drop=True)
        boroughs = gpd.read_file(boroughs_path, engine="pyogrio").sort_values("code").reset_index(drop=True)
        return cls(pd.DataFrame(wards), pd.DataFrame(boroughs))

    def wards_of(self, borough_codes) -> pd.DataFrame:
        return self.wards[self.wards["borough_code"].isin(list(borough_codes))]

    def sample_in(self, rng: np.random.Generator, geometry, n: int) -> np.ndarray:
        """``n`` uniform (lat, lng) points inside ``geometry``."""
        shapely.prepare(geometry)
        xmin, ymin, xmax, ymax = geometry.bounds
        out = np.empty((0, 2))
        while len(out) < n:
            lng = rng.uniform(xmin, xmax, n * 3)
            lat = rng.uniform(ymin, ymax, n * 3)
            keep = shapely.contains_xy(geometry, lng, lat)
            out = np.vstack([out, np.column_stack([lat[keep], lng[keep]])])
        return out[:n]

    def sample_near(self, rng: np.random.Generator, lat: float, lng: float, n: int, sd_m: float,
                    area) -> np.ndarray:
        """``n`` points scattered around (lat, lng) with a normal spread of ``sd_m`` metres, kept inside ``area``."""
        out = np.empty((0, 2))
        shapely.prepare(area)
        while len(out) < n:
            dlat = rng.normal(0, sd_m / 111_320, n * 2)
            dlng = rng.normal(0, sd_m / (111_320 * np.cos(np.radians(lat))), n * 2)
            pts = np.column_stack([lat + dlat, lng + dlng])
            keep = shapely.contains_xy(area, pts[:, 1], pts[:, 0])
            out = np.vstack([out, pts[keep]])
        return out[:n]

    def ward_at(self, lat: float, lng: float) -> pd.Series | None:
        point = shapely.Point(lng, lat)
        for _, row in self.wards.iterrows():
            if row.geometry.contains(point):
                return row
        return None


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _round6(values) -> list[str]:
    return [f"{v:.6f}" for v in values]


class WorldBuilder:
    """Builds one world; each ``make_*`` step adds rows and ground truth."""

    def __init__(self, geo: Geography, seed: int, year: int):
        self.geo = geo
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self.year = year
        self.start = datetime(year, 1, 1)
        self.end = datetime(year + 1, 1, 1)
        self.study_area = shapely.union_all(list(geo.wards_of(MERTON_AND_NEIGHBOURS).geometry))
        self.truth: dict = {"seed": seed, "year": year, "synthetic": True}
        self.tables: dict[str, pd.DataFrame] = {}
        self._assoc_rows: list[dict] = []

    # time helpers -------------------------------------------------------------------------------------------
    def random_times(self, n: int, evening: bool = False) -> list[datetime]:
        days = self.rng.integers(0, (self.end - self.start).days, n)
        if evening:  # missing episodes and street incidents peak in the late afternoon and evening
            hours = np.clip(self.rng.normal(19, 3.5, n), 0, 23.99)
        else:
            hours = self.rng.uniform(8, 22, n)
        return [self.start + timedelta(days=int(d), hours=float(h)) for d, h in zip(days, hours)]

    # places -------------------------------------------------------------------------------------------------
    def make_places(self) -> None:
        rng = self.rng
        wards = self.geo.wards_of(MERTON_AND_NEIGHBOURS)
        east = wards[(wards.borough_code == MERTON) & wards.name.isin(EAST_MERTON_WARDS)]
        rows, hot = [], []
        names = [(n, "park") for n in FICTIONAL_PARKS] + [(n, "estate") for n in FICTIONAL_ESTATES] + \
            list(FICTIONAL_OTHER)
        order = rng.permutation(len(names))
        # Hot places: three in east Merton, one in each of three neighbours; the rest are ordinary places.
        hot_wards = list(east.sample(3, random_state=int(rng.integers(1 << 31))).itertuples())
        for code in ("E09000032", "E09000022", "E09000029"):
            hot_wards.append(next(wards[wards.borough_code == code]
                                  .sample(1, random_state=int(rng.integers(1 << 31))).itertuples()))
        for i, idx in enumerate(order):
            name, kind = names[idx]
            if i < len(hot_wards):
                ward = hot_wards[i]
            else:
                ward = next(wards.sample(1, random_state=int(rng.integers(1 << 31))).itertuples())
            lat, lng = self.geo.sample_in(rng, ward.geometry.buffer(-0.001) if ward.geometry.area > 2e-6
                                          else ward.geometry, 1)[0]
            place_id = f"SP{i + 1:03d}"
            rows.append({"place_id": place_id, "name": name, "kind": kind, "source": "synthetic",
                         "latitude": f"{lat:.6f}", "longitude": f"{lng:.6f}", "borough_code": ward.borough_code})
            if i < len(hot_wards):
                hot.append({"place_id": place_id, "name": name, "kind": kind, "lat": round(lat, 6),
                            "lng": round(lng, 6), "borough": ward.borough_code, "ward": ward.code,
                            "ward_name": ward.name, "outreach": None})
        self.tables["places"] = pd.DataFrame(rows)
        self.hot_places = hot
        self.truth["hot_places"] = hot

    # people -------------------------------------------------------------------------------------------------
    def make_people(self) -> None:
        rng = self.rng
        n_children = int(rng.integers(430, 571))
        n_adults = int(rng.integers(36, 55))
        boroughs = list(MERTON_AND_NEIGHBOURS)
        home_weights = np.array([0.55, 0.1, 0.1, 0.1, 0.08, 0.07])
        home = rng.choice(boroughs, n_children, p=home_weights)
        ages = rng.choice(np.arange(10, 18), n_children, p=[.03, .05, .08, .12, .17, .2, .19, .16])
        mid = datetime(self.year, 7, 1)
        birth = [mid - timedelta(days=int(a * 365.25 + rng.integers(0, 365))) for a in ages]
        sex = rng.choice(["male", "female", "other", "not_known"], n_children, p=[.58, .40, .01, .01])
        ethnicity = rng.choice(["white", "black", "asian", "mixed", "other", "not_known"], n_children,
                               p=[.44, .23, .14, .12, .05, .02])
        # home points: east Merton weighted for Merton children
        homes = np.empty((n_children, 2))
        wards = self.geo.wards_of(boroughs)
        for code in boroughs:
            idx = np.flatnonzero(home == code)
            w = wards[wards.borough_code == code]
            weights = np.where(w.name.isin(EAST_MERTON_WARDS), 3.0, 1.0) if code == MERTON else np.ones(len(w))
            chosen = rng.choice(len(w), idx.size, p=weights / weights.sum())
            for j, ward_pos in zip(idx, chosen):
                homes[j] = self.geo.sample_in(rng, w.iloc[ward_pos].geometry, 1)[0]
        schools = np.array([f"SCH-{code[-3:]}-{int(rng.integers(1, 7)):02d}" for code in home])
        recorded = self.random_times(n_children)
        children = pd.DataFrame({
            "person_id": [f"C{i + 1:04d}" for i in range(n_children)],
            "subject_category": "child_at_risk",
            "birth_month": [b.strftime("%Y-%m") for b in birth],
            "sex": sex, "ethnicity": ethnicity, "home_borough": home, "school_id": schools,
            "recorded_on": [min(r, datetime(self.year, 12, 31)).strftime("%Y-%m-%d") for r in recorded],
        })
        adult_home = rng.choice(boroughs + list(ELSEWHERE_BOROUGHS), n_adults,
                                p=np.r_[np.full(6, 0.8 / 6), np.full(3, 0.2 / 3)])
        adult_ages = rng.integers(18, 36, n_adults)
        adults = pd.DataFrame({
            "person_id": [f"A{i + 1:03d}" for i in range(n_adults)],
            "subject_category": "adult_posing_risk",
            "birth_month": [(mid - timedelta(days=int(a * 365.25 + rng.integers(0, 365)))).strftime("%Y-%m")
                            for a in adult_ages],
            "sex": rng.choice(["male", "female"], n_adults, p=[.85, .15]),
            "ethnicity": rng.choice(["white", "black", "asian", "mixed", "other"], n_adults, p=[.4, .3, .12, .13, .05]),
            "home_borough": adult_home, "school_id": "",
            "recorded_on": [r.strftime("%Y-%m-%d") for r in self.random_times(n_adults)],
        })
        n_prof = 12
        professionals = pd.DataFrame({
            "person_id": [f"P{i + 1:03d}" for i in range(n_prof)], "subject_category": "professional",
            "birth_month": "", "sex": "not_known", "ethnicity": "not_known",
            "home_borough": rng.choice(boroughs, n_prof), "school_id": "",
            "recorded_on": f"{self.year}-01-02",
        })
        self.children, self.adults = children, adults
        self.homes = homes
        self.tables["people"] = pd.concat([children, adults, professionals], ignore_index=True)
        self.truth["counts"] = {"children": n_children, "adults_posing_risk": n_adults, "professionals": n_prof}
        self.truth["children_ids"] = children.person_id.tolist()
        self.truth["adult_ids"] = adults.person_id.tolist()

    # peer groups and associations ----------------------------------------------------------------------------
    def _evidence(self, a: str, b: str, kind: str, when: datetime, source_layer: str, source_record: str,
                  grading: tuple[str, str] | None = None, expires: datetime | None = None) -> dict:
        rng = self.rng
        grading = grading or (str(rng.choice(["A", "B", "C"], p=[.35, .5, .15])),
                              str(rng.choice(["1", "2", "3", "4"], p=[.3, .35, .25, .1])))
        expires = expires or when + timedelta(days=int(rng.integers(365, 731)))
        row = {"association_id": f"AS{len(self._assoc_rows) + 1:05d}", "person_a": a, "person_b": b,
               "association_type": kind, "source_layer": source_layer, "source_record": source_record,
               "evidence_date": when.strftime("%Y-%m-%d"), "source_evaluation": grading[0],
               "intelligence_assessment": grading[1], "expires_on": expires.strftime("%Y-%m-%d")}
        self._assoc_rows.append(row)
        return row

    def make_groups(self) -> None:
        rng = self.rng
        children = self.children
        by_borough = {code: list(children.index[children.home_borough == code]) for code in MERTON_AND_NEIGHBOURS}
        for members in by_borough.values():
            rng.shuffle(members)
        groups = []
        n_cross = 0
        # Groups of 3-15, mostly 4-8, drawn from one borough; about one in six also takes members from a neighbour.
        while True:
            size = int(np.clip(rng.poisson(6), 3, 15))
            code = str(rng.choice(MERTON_AND_NEIGHBOURS, p=[.5, .1, .1, .1, .1, .1]))
            pool = by_borough[code]
            cross = rng.random() < 0.18 and size >= 4
            local = size - (int(rng.integers(1, 3)) if cross else 0)
            if len(pool) < local:
                break
            members = [pool.pop() for _ in range(local)]
            if cross:
                other_code = str(rng.choice([c for c in MERTON_AND_NEIGHBOURS if c != code]))
                other = by_borough[other_code]
                if len(other) >= size - local:
                    members += [other.pop() for _ in range(size - local)]
                    n_cross += 1
            groups.append(members)
            if sum(len(g) for g in groups) > 0.62 * len(children):
                break
        adults = list(self.adults.person_id)
        truth_groups = []
        places = self.hot_places
        for gi, members in enumerate(groups):
            ids = [children.person_id[m] for m in members]
            # a connected set of evidenced links: a random spanning tree plus extra edges
            edges = set()
            order = rng.permutation(len(ids))
            for k in range(1, len(ids)):
                edges.add(tuple(sorted((ids[order[k]], ids[order[rng.integers(0, k)]]))))
            for _ in range(int(len(ids) * 0.8)):
                a, b = rng.choice(len(ids), 2, replace=False)
                edges.add(tuple(sorted((ids[a], ids[b]))))
            for a, b in sorted(edges):
                for _ in range(int(rng.integers(1, 3))):
                    kind = str(rng.choice(["reported_association", "school", "online", "co_offending"],
                                          p=[.45, .2, .15, .2]))
                    when = self.random_times(1)[0]
                    source = ("intelligence", f"INT-{rng.integers(100000, 999999)}") if kind != "co_offending" \
                        else ("incidents", "")
                    row = self._evidence(a, b, kind, when, *source)
                    if kind == "co_offending":
                        self._pending_co_offending.append((row, gi))
            linked_adults = []
            if rng.random() < 0.45:
                linked_adults = list(rng.choice(adults, int(rng.integers(1, 3)), replace=False))
                for adult in linked_adults:
                    for child in rng.choice(ids, min(len(ids), int(rng.integers(1, 4))), replace=False):
                        self._evidence(str(child), str(adult), "reported_association", self.random_times(1)[0],
                                       "intelligence", f"INT-{rng.integers(100000, 999999)}")
            hangout = places[gi % len(places)] if rng.random() < 0.6 else None
            boroughs = sorted(set(children.home_borough[m] for m in members))
            truth_groups.append({"group_id": f"G{gi + 1:02d}", "members": ids, "adults": linked_adults,
                                 "boroughs": boroughs, "spans_boroughs": len(boroughs) > 1,
                                 "hangout_place": hangout["place_id"] if hangout else None})
        # sibling pairs (same home) and a little noise between groups: real data is never perfectly clustered
        grouped = [m for g in groups for m in g]
        for _ in range(int(len(children) * 0.03)):
            a, b = rng.choice(grouped, 2, replace=False)
            self._evidence(children.person_id[a], children.person_id[b], "school", self.random_times(1)[0],
                           "education", f"EDU-{rng.integers(1000, 9999)}", grading=("B", "3"))
        self.groups = groups
        self.truth["peer_groups"] = truth_groups
        self.truth["cross_borough_groups"] = [g["group_id"] for g in truth_groups if g["spans_boroughs"]]

    def make_expired_associations(self) -> None:
        """Links whose evidence has expired: analyses must not show them."""
        rng = self.rng
        children = self.children.person_id.tolist()
        expired = []
        for _ in range(12):
            a, b = rng.choice(children, 2, replace=False)
            when = self.start - timedelta(days=int(rng.integers(500, 900)))
            row = self._evidence(str(a), str(b), "reported_association", when, "intelligence",
                                 f"INT-{rng.integers(100000, 999999)}", expires=when + timedelta(days=365))
            expired.append(row["association_id"])
        self.truth["expired_associations"] = expired

    # incidents ------------------------------------------------------------------------------------------------
    def make_incidents(self) -> None:
        rng = self.rng
        rows = []
        wards = self.geo.wards_of(MERTON_AND_NEIGHBOURS)
        n_background = 5000
        ward_pick = rng.choice(len(wards), n_background)
        for pos, count in zip(*np.unique(ward_pick, return_counts=True)):
            ward = wards.iloc[pos]
            for lat, lng in self.geo.sample_in(rng, ward.geometry, int(count)):
                rows.append((lat, lng, str(rng.choice(CRIME_TYPES_BACKGROUND)), ward.borough_code))
        intensity = {}
        for place in self.hot_places:
            n = int(rng.integers(70, 120))
            intensity[place["place_id"]] = n
            for lat, lng in self.geo.sample_near(rng, place["lat"], place["lng"], n, 90, self.study_area):
                rows.append((lat, lng, str(rng.choice(CRIME_TYPES_CONCERN)), place["borough"]))
        times = self.random_times(len(rows), evening=True)
        order = rng.permutation(len(rows))
        table = []
        for i, k in enumerate(order):
            lat, lng, crime, borough = rows[k]
            table.append({"crime_id": f"SYN{self.year}{i + 1:06d}", "month": times[i].strftime("%Y-%m"),
                          "reported_by": "Synthetic", "falls_within": "Synthetic",
                          "latitude": f"{lat:.6f}", "longitude": f"{lng:.6f}", "location_description": "",
                          "crime_type": crime, "last_outcome_category": "", "borough_code": ""})
        # co-offending evidence points at an incident near the group's hang-out or a random one
        for row, _gi in self._pending_co_offending:
            row["source_record"] = table[int(rng.integers(0, len(table)))]["crime_id"]
        self.tables["incidents"] = pd.DataFrame(table)
        for place in self.hot_places:
            place["planted_incidents"] = intensity[place["place_id"]]

    # missing episodes --------------------------------------------------------------------------------------
    def make_missing(self) -> None:
        rng = self.rng
        children = self.children
        n_target = int(rng.integers(320, 431))
        # heavy tail: a few children go missing many times
        group_of = {m: gi for gi, g in enumerate(self.groups) for m in g}
        county_group = self._county_line_group()
        # the county line: four members of one group, each missing several times, often found in the town
        line_members = set(self.groups[county_group][:4]) if county_group is not None else set()
        others = np.setdiff1d(np.arange(len(children)), list(line_members))
        missing_children = np.r_[sorted(line_members),
                                 rng.choice(others, int(len(children) * 0.24) - len(line_members), replace=False)]
        weights = rng.pareto(1.6, missing_children.size) + 1
        counts = rng.multinomial(n_target - missing_children.size, weights / weights.sum()) + 1
        counts[: len(line_members)] = np.clip(counts[: len(line_members)], 3, 6)
        rows, line_episodes = [], []
        town = COUNTY_LINE_TOWN
        for child, count in zip(missing_children, counts):
            home_lat, home_lng = self.homes[child]
            from_type = str(rng.choice(["home", "children_home", "foster_placement", "school", "other"],
                                       p=[.58, .22, .12, .05, .03]))
            for reported in self.random_times(int(count), evening=True):
                hours = float(np.clip(rng.lognormal(np.log(14), 1.0), 1, 24 * 14))
                found_at = reported + timedelta(hours=hours)
                r = rng.random()
                gi = group_of.get(child)
                to_line = child in line_members and rng.random() < 0.6
                if to_line:
                    flat, flng = self.geo_jitter(town["lat"], town["lng"], 900)
                    where = "county_line"
                elif r < 0.7:
                    flat, flng = self.geo.sample_near(rng, home_lat, home_lng, 1, 1200, self.study_area)[0]
                    where = "local"
                elif r < 0.85 and gi is not None and self.truth["peer_groups"][gi]["hangout_place"]:
                    place = next(p for p in self.hot_places
                                 if p["place_id"] == self.truth["peer_groups"][gi]["hangout_place"])
                    flat, flng = self.geo.sample_near(rng, place["lat"], place["lng"], 1, 120, self.study_area)[0]
                    where = "hangout"
                else:
                    ward = self.geo.wards.iloc[int(rng.integers(0, len(self.geo.wards)))]
                    flat, flng = self.geo.sample_in(rng, ward.geometry, 1)[0]
                    where = "elsewhere"
                still_missing = rng.random() < 0.01 and not to_line
                offered = found_at + timedelta(hours=float(rng.uniform(1, 23)) if rng.random() < 0.98
                                               else float(rng.uniform(25, 120)))
                # 82% completed within 72 hours of being found, 8% later, 10% never (declined or not reached)
                completed = None
                draw = rng.random()
                if draw < 0.82 and offered + timedelta(hours=1) < found_at + timedelta(hours=72):
                    room = (found_at + timedelta(hours=72) - offered).total_seconds() / 3600
                    completed = offered + timedelta(hours=float(rng.uniform(0.5, room)))
                elif draw < 0.90:
                    completed = max(found_at + timedelta(hours=float(rng.uniform(73, 240))),
                                    offered + timedelta(hours=float(rng.uniform(1, 48))))
                risk = "red" if to_line else str(rng.choice(["red", "amber", "green"], p=[.08, .42, .5]))
                episode_id = f"ME{len(rows) + 1:05d}"
                rows.append({
                    "episode_id": episode_id, "person_id": children.person_id[child],
                    "reported_missing_at": _iso(reported), "missing_from_type": from_type,
                    "missing_from_latitude": f"{home_lat:.6f}", "missing_from_longitude": f"{home_lng:.6f}",
                    "found_at": "" if still_missing else _iso(found_at),
                    "found_latitude": "" if still_missing else f"{flat:.6f}",
                    "found_longitude": "" if still_missing else f"{flng:.6f}",
                    "rhi_offered_at": "" if still_missing else _iso(offered),
                    "rhi_completed_at": "" if still_missing or completed is None else _iso(completed),
                    "risk_grade": risk, "_where": where,
                })
                if to_line:
                    line_episodes.append(episode_id)
        self._plant_missing_together(rows, group_of)
        self._plant_escalations(rows, line_episodes)
        frame = pd.DataFrame(rows).sort_values("reported_missing_at").reset_index(drop=True)
        frame = self._panel_fields(frame)
        self.truth["missing"] = {
            "episodes": len(frame), "children": int(frame.person_id.nunique()),
            "found_by_kind": frame["_where"].value_counts().to_dict(),
        }
        self.tables["missing_episodes"] = frame.drop(columns="_where")
        adults = self.truth["peer_groups"][county_group]["adults"] if county_group is not None else []
        self.truth["county_line"] = {
            "destination": town["name"], "lat": town["lat"], "lng": town["lng"],
            "group_id": self.truth["peer_groups"][county_group]["group_id"] if county_group is not None else None,
            "children": sorted({r["person_id"] for r in rows if r["episode_id"] in set(line_episodes)}),
            "adults": adults, "episode_ids": line_episodes,
        }
        found = frame[frame.found_at != ""]
        offered = pd.to_datetime(found.rhi_offered_at) - pd.to_datetime(found.found_at)
        done = found[found.rhi_completed_at != ""]
        completed = pd.to_datetime(done.rhi_completed_at) - pd.to_datetime(done.found_at)
        self.truth["return_home_interviews"] = {
            "offered_within_24h": round(float((offered <= pd.Timedelta(hours=24)).mean()), 3),
            "completed_within_72h_of_found": round(float((completed <= pd.Timedelta(hours=72)).sum() / len(found)), 3),
        }

    def _panel_fields(self, frame: pd.DataFrame) -> pd.DataFrame:
        """What the weekly missing panel reads, on every episode: notification, care and placement, the panel's
        grade (the last days' episodes partly ungraded), RHI consent and availability (a completed interview had
        both), the police debrief, push and pull factors, and the follow-on. A generator of its own, so every other
        column and planted pattern is unchanged; what is planted is recorded in ``truth["missing_panel"]``."""
        rng = np.random.default_rng([self.seed, 17])
        found = frame.found_at != ""
        completed = frame.rhi_completed_at != ""
        in_care = frame.missing_from_type.isin(["children_home", "foster_placement"])
        home_of = dict(zip(self.children.person_id, self.children.home_borough))
        placed: dict[str, str] = {}
        for child in sorted(frame.person_id[in_care].unique()):
            if rng.random() < 0.35:
                hosts = [b for b in MERTON_AND_NEIGHBOURS if b != home_of[child]] + list(PLACEMENTS_OUTSIDE_LONDON)
                placed[child] = str(rng.choice(hosts))
        n = len(frame)
        reported = pd.to_datetime(frame.reported_missing_at).dt.tz_localize(None)
        found_at = pd.to_datetime(frame.found_at.where(found, None)).dt.tz_localize(None)
        offered_after = pd.to_datetime(frame.rhi_offered_at.where(found, None)).dt.tz_localize(None) - found_at
        # the service hears of the return within four hours of it, and before it offers an interview
        notified = found_at + offered_after.clip(upper=pd.Timedelta(hours=4)) * rng.uniform(0.05, 1, n)
        late = reported >= pd.Timestamp(self.end) - pd.Timedelta(days=10)
        ungraded = late & (rng.random(n) < 0.4)
        regrade = rng.random(n) < 0.1
        other = rng.choice(["red", "amber", "green"], n, p=[.15, .45, .4])
        grade = frame.risk_grade.where(~regrade, other).where(~ungraded, "")
        graded_at = (reported + pd.to_timedelta(rng.uniform(2, 96, n), "h")).where(~ungraded)
        graders = rng.choice(["missing panel chair", "missing children's coordinator",
                              "police missing persons unit"], n)
        consented = np.where(completed, True, rng.random(n) >= 0.6)
        available = np.where(completed, True, rng.random(n) >= 0.25)
        mode = rng.choice(["in_person", "phone", "video", "not_done"], n, p=[.78, .12, .04, .06])
        spoke = np.select([mode == "in_person", mode == "phone", mode == "video"],
                          [rng.random(n) < 0.95, rng.random(n) < 0.5, rng.random(n) < 0.9], False)
        line = set(frame.episode_id[frame["_where"] == "county_line"])
        push = [";".join(sorted(set(rng.choice(PUSH_FACTORS, int(k))))) for k in rng.integers(0, 3, n)]
        pull = [";".join(sorted(set(rng.choice(PULL_FACTORS, int(k))) | ({"exploitation"} if e in line else set())))
                for k, e in zip(rng.integers(0, 3, n), frame.episode_id)]
        red_amber = grade.where(grade != "", frame.risk_grade).isin(["red", "amber"])
        follow = np.where(completed & red_amber & (rng.random(n) < 0.35),
                          rng.choice(FOLLOW_ONS, n), np.where(completed, "none", ""))

        def when(values: pd.Series) -> pd.Series:
            return values.dt.strftime("%Y-%m-%dT%H:%M:%S+00:00").fillna("")

        def flag(values) -> pd.Series:
            return pd.Series(np.where(values, "true", "false"), index=frame.index).where(found, "")

        frame = frame.assign(
            notified_at=when(notified),
            care_status=np.where(in_care, "in_care", "at_home"),
            placed_out_of_borough=np.where(frame.person_id.isin(list(placed)), "true", "false"),
            host_borough=frame.person_id.map(placed).fillna(""),
            pre_missing_grade=grade, graded_by=np.where(ungraded, "", graders), graded_at=when(graded_at),
            rhi_consented=flag(consented), rhi_available=flag(available),
            debrief_mode=pd.Series(mode, index=frame.index).where(found, ""), spoken_to_directly=flag(spoke),
            push_factors=push, pull_factors=pull, follow_on_intervention=follow)
        self.truth["missing_panel"] = {
            "ungraded": frame.episode_id[ungraded].tolist(),
            "phone_debriefs": frame.episode_id[found & (mode == "phone")].tolist(),
            "not_spoken_to": frame.episode_id[found & ~spoke].tolist(),
            "placed_out_of_borough": placed,
        }
        return frame

    def geo_jitter(self, lat: float, lng: float, sd_m: float) -> tuple[float, float]:
        return (lat + self.rng.normal(0, sd_m / 111_320),
                lng + self.rng.normal(0, sd_m / (111_320 * np.cos(np.radians(lat)))))

    def _county_line_group(self) -> int | None:
        """The planted county line runs through one Merton group linked to an adult based outside the study area."""
        candidates = [gi for gi, g in enumerate(self.truth["peer_groups"])
                      if MERTON in g["boroughs"] and len(g["members"]) >= 4]
        if not candidates:
            return None
        gi = candidates[0]
        group = self.truth["peer_groups"][gi]
        elsewhere = self.adults[self.adults.home_borough.isin(ELSEWHERE_BOROUGHS)].person_id.tolist()
        line_adult = elsewhere[0] if elsewhere else self.adults.person_id.iloc[0]
        if line_adult not in group["adults"]:
            group["adults"].append(line_adult)
            for child in group["members"][:3]:
                self._evidence(child, line_adult, "reported_association", self.random_times(1)[0], "intelligence",
                               f"INT-{self.rng.integers(100000, 999999)}", grading=("B", "2"))
        group["county_line"] = True
        return gi

    def _plant_escalations(self, rows: list[dict], line_episodes: list[str]) -> None:
        """Children whose missing episodes escalate, and a matched set of stable children, for the escalation rules
        of ``network/timeline.py``. Both are made by re-timing (and re-grading, re-placing) the episodes of children
        who already go missing 3-5 times, so the number of episodes and children is unchanged; a separate random
        stream leaves every other planted pattern as it was. The county-line children escalate too."""
        rng = np.random.default_rng([self.seed, 13])
        by_child: dict[str, list[dict]] = {}
        for r in rows:
            by_child.setdefault(r["person_id"], []).append(r)
        together = {e for t in self.truth["missing_together"] for e in t["episodes"]}
        line_children = {r["person_id"] for r in rows if r["episode_id"] in set(line_episodes)}
        adult_ids = set(self.adults.person_id)
        with_adults = {p for a in self._assoc_rows for p in (a["person_a"], a["person_b"])
                       if a["person_a"] in adult_ids or a["person_b"] in adult_ids}
        pool = sorted(p for p, eps in by_child.items() if 3 <= len(eps) <= 5 and p not in line_children
                      and not any(e["episode_id"] in together or e["found_at"] == "" or e["_where"] == "hangout"
                                  for e in eps))
        home_of = dict(zip(self.children.person_id, self.children.home_borough))
        index_of = {p: i for i, p in enumerate(self.children.person_id)}
        group_of = {self.children.person_id[m]: gi for gi, g in enumerate(self.groups) for m in g}
        escalating = [p for p in rng.permutation(pool) if len(by_child[p]) >= 4][: len(ESCALATION_PATTERNS)]
        stable = [p for p in pool if p not in escalating and p not in with_adults]
        borough_area = {code: shapely.union_all(list(self.geo.wards_of([code]).geometry)).buffer(-0.002)
                        for code in MERTON_AND_NEIGHBOURS}

        def when(day: datetime) -> datetime:
            return day + timedelta(hours=float(np.clip(rng.normal(19, 3, 1)[0], 8, 23.5)))

        def retime(episode: dict, reported: datetime, grade: str, where: str, point=None, max_hours=None) -> None:
            old = {k: datetime.fromisoformat(episode[k].replace("+00:00", "")) if episode[k] else None
                   for k in ("reported_missing_at", "found_at", "rhi_offered_at", "rhi_completed_at")}
            hours = (old["found_at"] - old["reported_missing_at"]).total_seconds() / 3600
            found = reported + timedelta(hours=min(hours, max_hours) if max_hours else hours)
            episode["reported_missing_at"], episode["found_at"] = _iso(reported), _iso(found)
            episode["rhi_offered_at"] = _iso(found + (old["rhi_offered_at"] - old["found_at"]))
            if old["rhi_completed_at"]:
                episode["rhi_completed_at"] = _iso(found + (old["rhi_completed_at"] - old["found_at"]))
            episode["risk_grade"], episode["_where"] = grade, where
            if point is not None:
                episode["found_latitude"], episode["found_longitude"] = f"{point[0]:.6f}", f"{point[1]:.6f}"

        def near_home(child: str) -> tuple[float, float]:
            lat, lng = self.homes[index_of[child]]
            area = borough_area[home_of[child]]
            if not shapely.contains_xy(area, lng, lat):
                return tuple(self.geo.sample_in(rng, area, 1)[0])
            return tuple(self.geo.sample_near(rng, lat, lng, 1, 800, area)[0])

        def other_borough(child: str) -> tuple[float, float]:
            code = str(rng.choice([c for c in MERTON_AND_NEIGHBOURS if c != home_of[child]]))
            return tuple(self.geo.sample_in(rng, borough_area[code], 1)[0])

        def spread(n: int, first: datetime, last: datetime) -> list[datetime]:
            """``n`` days spread evenly over [first, last], each somewhere in the middle of its share."""
            share = (last - first).days / max(n, 1)
            return [first + timedelta(days=int(share * (k + rng.uniform(0.25, 0.75)))) for k in range(n)]

        def new_link(child: str, other: str, linked: datetime) -> str:
            """A fresh, well-graded intelligence link between two people; its association id."""
            return self._evidence(child, other, "reported_association", linked, "intelligence",
                                  f"INT-{rng.integers(100000, 999999)}", grading=("B", "2"),
                                  expires=linked + timedelta(days=730))["association_id"]

        def missing_elsewhere(child: str, recent: list[dict], as_of: datetime, within_days: int) -> None:
            """The recent episodes moved into the last ``within_days``, amber, found in another borough."""
            for episode, back in zip(recent, sorted(rng.choice(np.arange(5, within_days), len(recent),
                                                               replace=False))[::-1]):
                retime(episode, when(as_of - timedelta(days=int(back))), "amber", "elsewhere",
                       other_borough(child), max_hours=48)

        escalations = []
        for child in sorted(line_children):  # the county line: found far outside London, red-graded, linked adult
            mine = [r for r in by_child[child] if r["episode_id"] in set(line_episodes)]
            last = max(datetime.fromisoformat(r["found_at"].replace("+00:00", "")) for r in mine)
            as_of = (last.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)
            escalations.append({"person_id": child, "pattern": "county_line", "as_of": as_of.strftime("%Y-%m-%d"),
                                "why": f"found in {COUNTY_LINE_TOWN['name']}, far outside London, in red-graded "
                                       "episodes; linked to an adult who poses risk",
                                "expect": ["red-graded", "found outside London"],
                                "episode_ids": sorted(r["episode_id"] for r in mine
                                                      if datetime.fromisoformat(r["found_at"].replace("+00:00", ""))
                                                      > as_of - timedelta(days=90)), "association_ids": []})
            escalations[-1]["records"] = escalations[-1]["episode_ids"]
        partner = None
        for pattern, child in zip(ESCALATION_PATTERNS, escalating):
            episodes = sorted(by_child[child], key=lambda r: r["reported_missing_at"])
            if pattern == "link_to_flagged" and partner is not None:
                as_of = datetime.strptime(partner["as_of"], "%Y-%m-%d")
            else:
                as_of = datetime(self.year, int(rng.integers(7, 13)), 1) + timedelta(days=32)
                as_of = as_of.replace(day=1) - timedelta(days=1)
            n = len(episodes)
            burst = {"burst": 3, "adult_then_missing": 2, "found_outside_london": 3, "more_serious": 2,
                     "link_to_flagged": 2}[pattern]
            early = spread(n - burst, self.start + timedelta(days=3), as_of - timedelta(days=100))
            for episode, day in zip(episodes, early):
                retime(episode, when(day), "green", "local", near_home(child))
            recent = episodes[n - burst:]
            links, expect = [], []
            if pattern == "burst":  # a recent burst of episodes, each more serious, the last ones in another borough
                days = sorted(rng.choice(np.arange(5, 70), burst, replace=False))[::-1]
                for episode, grade, back in zip(recent, ("amber", "red", "red"), days):
                    retime(episode, when(as_of - timedelta(days=int(back))), grade, "elsewhere", other_borough(child),
                           max_hours=48)
                why = "a recent burst of three missing episodes, each more serious, found in another borough"
                expect = ["repeat missing", "red-graded", "found in another borough", "more events", "more serious"]
            elif pattern == "adult_then_missing":  # a new link to an adult who poses risk, then missing episodes
                linked = as_of - timedelta(days=int(rng.integers(50, 70)))
                gi = group_of.get(child)
                adults = (self.truth["peer_groups"][gi]["adults"] if gi is not None else []) \
                    or [str(rng.choice(self.adults.person_id))]
                adult = str(adults[int(rng.integers(0, len(adults)))])
                links.append(new_link(child, adult, linked))
                if gi is not None and adult not in self.truth["peer_groups"][gi]["adults"]:
                    self.truth["peer_groups"][gi]["adults"].append(adult)
                missing_elsewhere(child, recent, as_of, 45)
                why = (f"a new link to an adult who poses risk ({adult}) on {linked:%Y-%m-%d}, then missing twice "
                       "and found in another borough")
                expect = ["new link to an adult who poses risk", "found in another borough"]
            elif pattern == "found_outside_london":  # a burst ending far outside London
                town = ESCALATION_TOWNS[sum(e["pattern"] == pattern for e in escalations) % len(ESCALATION_TOWNS)]
                days = sorted(rng.choice(np.arange(5, 70), burst, replace=False))[::-1]
                for k, (episode, back) in enumerate(zip(recent, days)):
                    last = k == burst - 1
                    point = ((town["lat"] + rng.normal(0, 900 / 111_320),  # this stream's own draws, so
                              town["lng"] + rng.normal(0, 900 / (111_320 * np.cos(np.radians(town["lat"])))))
                             if last else near_home(child))  # the world's other tables stay as they were
                    retime(episode, when(as_of - timedelta(days=int(back))), "red" if last else "amber",
                           "elsewhere" if last else "local", point, max_hours=48)
                why = f"a recent burst of missing episodes, the last found in {town['name']}, far outside London"
                expect = ["repeat missing", "red-graded", "found outside London", "more serious"]
            elif pattern == "more_serious":  # as often as before, but now amber then red
                days = spread(burst, as_of - timedelta(days=85), as_of - timedelta(days=5))
                for episode, grade, day in zip(recent, ("amber", "red"), days):
                    retime(episode, when(day), grade, "local", near_home(child), max_hours=48)
                why = "missing as often as before, but the last episodes graded amber, then red"
                expect = ["red-graded", "more serious"]
            else:  # link_to_flagged: a new link to a child already of concern, then missing, found where they were
                other = partner["person_id"]
                linked = as_of - timedelta(days=int(rng.integers(40, 60)))
                links.append(new_link(child, other, linked))
                missing_elsewhere(child, recent, as_of, 35)
                why = (f"a new link to {other}, a child already escalating, on {linked:%Y-%m-%d}, then missing twice "
                       "and found in another borough")
                expect = ["new link to a child already flagged", "found in another borough"]
            entry = {"person_id": child, "pattern": pattern, "as_of": as_of.strftime("%Y-%m-%d"), "why": why,
                     "expect": expect, "episode_ids": sorted(e["episode_id"] for e in recent), "association_ids": links,
                     "records": sorted(e["episode_id"] for e in recent if pattern != "more_serious"
                                       or e["risk_grade"] == "red") + links}
            escalations.append(entry)
            if pattern == "adult_then_missing" or pattern == "burst":
                partner = entry
        for child in stable:  # as many episodes, spread evenly over the year, one grade, found near home
            grade = str(rng.choice(["green", "amber"]))
            episodes = sorted(by_child[child], key=lambda r: r["reported_missing_at"])
            for episode, day in zip(episodes, spread(len(episodes), self.start, self.end - timedelta(days=3))):
                retime(episode, when(day), grade, "local", near_home(child))
        self.truth["escalations"] = escalations
        self.truth["stable_children"] = stable

    def _plant_missing_together(self, rows: list[dict], group_of: dict) -> None:
        """For some groups, two members go missing together and are found together: evidence of a link."""
        rng = self.rng
        by_child = {}
        for r in rows:
            by_child.setdefault(r["person_id"], []).append(r)
        together = []
        for gi, members in enumerate(self.groups):
            ids = [self.children.person_id[m] for m in members if self.children.person_id[m] in by_child]
            if len(ids) < 2 or rng.random() > 0.5:
                continue
            a, b = ids[:2]
            ea = by_child[a][0]
            eb = dict(ea)
            eb.update({"episode_id": f"ME{len(rows) + 1:05d}", "person_id": b,
                       "missing_from_latitude": by_child[b][0]["missing_from_latitude"],
                       "missing_from_longitude": by_child[b][0]["missing_from_longitude"]})
            rows.append(eb)
            when = datetime.fromisoformat(ea["reported_missing_at"].replace("+00:00", ""))
            self._evidence(a, b, "missing_together", when, "missing_episodes", f"{ea['episode_id']}|{eb['episode_id']}",
                           grading=("A", "1"))
            together.append({"group_id": f"G{gi + 1:02d}", "episodes": [ea["episode_id"], eb["episode_id"]]})
        self.truth["missing_together"] = together

    # survey and outreach ------------------------------------------------------------------------------------
    def make_survey(self) -> None:
        rng = self.rng
        rows = []
        wards = self.geo.wards_of(MERTON_AND_NEIGHBOURS)
        n = int(rng.integers(1200, 1600))
        answered = [datetime(self.year, 3, 1) + timedelta(days=int(d)) for d in rng.integers(0, 75, n)]
        for i in range(n):
            if rng.random() < 0.35:
                place = self.hot_places[int(rng.integers(0, len(self.hot_places)))]
                lat, lng = self.geo.sample_near(rng, place["lat"], place["lng"], 1, 100, self.study_area)[0]
                feeling, name = "unsafe", place["name"]
                reason = str(rng.choice(SURVEY_REASONS, p=[.25, .2, .2, .1, .15, .05, .03, .02]))
            else:
                ward = wards.iloc[int(rng.integers(0, len(wards)))]
                lat, lng = self.geo.sample_in(rng, ward.geometry, 1)[0]
                feeling = "unsafe" if rng.random() < 0.3 else "safe"
                name = f"near {ward['name']}"
                reason = str(rng.choice(SURVEY_REASONS)) if feeling == "unsafe" else ""
            rows.append({"response_id": f"SR{i + 1:05d}", "survey": f"Young People's Safety Survey {self.year}",
                         "answered_on": answered[i].strftime("%Y-%m-%d"),
                         "age_band": str(rng.choice(["10-12", "13-15", "16-17", "18-24"], p=[.25, .4, .3, .05])),
                         "feeling": feeling, "reason": reason, "place_name": name,
                         "latitude": f"{lat:.6f}", "longitude": f"{lng:.6f}"})
        self.tables["survey_responses"] = pd.DataFrame(rows)

    def make_outreach(self) -> None:
        """Weekly detached sessions at fixed sites; some hot places are covered and the rest are planted gaps."""
        rng = self.rng
        hot = list(self.hot_places)
        covered = hot[: len(hot) // 2]
        for place in hot:
            place["outreach"] = place in covered
        sites = [(p["lat"], p["lng"]) for p in covered]
        gaps = np.array([(p["lat"], p["lng"]) for p in hot if not p["outreach"]])
        wards = self.geo.wards_of(MERTON_AND_NEIGHBOURS)
        while len(sites) < len(covered) + 6:  # other sites, kept 1 km from the planted gaps so the gaps stay gaps
            ward = wards.iloc[int(rng.integers(0, len(wards)))]
            site = tuple(self.geo.sample_in(rng, ward.geometry, 1)[0])
            metres = np.hypot((gaps[:, 0] - site[0]) * 111_320,
                              (gaps[:, 1] - site[1]) * 111_320 * np.cos(np.radians(site[0]))) if len(gaps) else [1e9]
            if np.min(metres) > 1000:
                sites.append(site)
        teams = ["Merton Detached Team", "Wandle Outreach", "Southside Youth Project"]
        rows = []
        for s, (lat, lng) in enumerate(sites):
            weekday = int(rng.integers(0, 5))
            day = self.start + timedelta(days=(weekday - self.start.weekday()) % 7)
            while day < self.end:
                if rng.random() < 0.85:
                    start = day + timedelta(hours=float(rng.choice([16, 17, 18, 19])))
                    plat, plng = self.geo_jitter(lat, lng, 60)
                    rows.append({"session_id": f"OS{len(rows) + 1:05d}", "team": teams[s % len(teams)],
                                 "started_at": _iso(start), "ended_at": _iso(start + timedelta(hours=2.5)),
                                 "young_people_reached": str(int(rng.poisson(9))),
                                 "concerns_raised": str(int(rng.poisson(0.6))),
                                 "latitude": f"{plat:.6f}", "longitude": f"{plng:.6f}"})
                day += timedelta(days=7)
        self.tables["outreach_sessions"] = pd.DataFrame(rows)
        self.truth["outreach_gaps"] = [p["place_id"] for p in hot if not p["outreach"]]

    # MACE actions --------------------------------------------------------------------------------------------
    def make_actions(self) -> None:
        """Actions agreed at each borough's monthly panel: about children (protective), adults who pose risk,
        hot places or the partnership; most done by their due date, some overdue at the year's end. A generator of
        its own, so adding actions changes nothing else in the world."""
        rng = np.random.default_rng(self.seed + 7919)
        agencies = [("social worker", "children's social care"), ("MACE police lead", "police"),
                    ("designated safeguarding lead", "education"), ("detached youth team", "youth service"),
                    ("CSP officer", "community safety partnership"), ("health liaison nurse", "health")]
        wording = {"child": ["safety plan review", "return home interview follow-up", "referral to Rescue and Response",
                             "school attendance support", "disruption of the exploiting adult's contact"],
                   "adult": ["child abduction warning notice considered", "intelligence submission",
                             "licence conditions reviewed"],
                   "place": ["outreach sessions at the place", "guardianship visit with the owner",
                             "CCTV and lighting review"],
                   "general": ["county-lines briefing for schools", "partner data-sharing review"]}
        rows = []
        year_end = pd.Timestamp(self.end)
        for borough in MERTON_AND_NEIGHBOURS:
            children = self.children[self.children.home_borough == borough].person_id.tolist()
            adults = self.adults[self.adults.home_borough == borough].person_id.tolist()
            for month in range(1, 13):
                panel = pd.Timestamp(self.year, month, 1) + pd.offsets.Week(weekday=0)  # the first Monday after the 1st
                for _ in range(int(rng.integers(3, 7))):
                    kind = str(rng.choice(["child", "adult", "place", "general"], p=[.55, .15, .2, .1]))
                    ref = ""
                    if kind == "child" and children:
                        ref = str(rng.choice(children))
                    elif kind == "adult" and adults:
                        ref = str(rng.choice(adults))
                    elif kind == "place" and self.hot_places:
                        ref = self.hot_places[int(rng.integers(0, len(self.hot_places)))]["name"]
                    if not ref and kind != "general":
                        kind = "general"
                    owner, agency = agencies[int(rng.integers(0, len(agencies)))]
                    due = panel + pd.Timedelta(days=int(rng.integers(14, 43)))
                    late = due > year_end - pd.Timedelta(days=45)
                    status = str(rng.choice(["done", "open", "in_progress", "cancelled"],
                                            p=[.3, .4, .25, .05] if late else [.8, .08, .07, .05]))
                    rows.append({"action_id": f"MA{len(rows) + 1:05d}", "borough": borough, "about_kind": kind,
                                 "about_ref": ref, "action": str(rng.choice(wording[kind])), "owner": owner,
                                 "agency": agency, "raised_on": f"{panel:%Y-%m-%d}", "due_on": f"{due:%Y-%m-%d}",
                                 "status": status})
        frame = pd.DataFrame(rows)
        overdue = frame.status.isin(["open", "in_progress"]) & (pd.to_datetime(frame.due_on) < year_end)
        self.tables["mace_actions"] = frame
        self.truth["mace_actions"] = {"actions": len(frame), "overdue_at_year_end": int(overdue.sum()),
                                      "overdue_ids": frame.action_id[overdue].tolist()}

    # referrals and the risk matrix ---------------------------------------------------------------------------
    def make_referrals(self) -> None:
        """Safeguarding referrals: MASH for many children, the NRM and Rescue and Response for the county-line
        children and a few others (``risk_world.py``). A generator of its own, so nothing else changes."""
        from .risk_world import referrals_table

        self.tables["safeguarding_referrals"], self.truth["referrals"] = referrals_table(self)

    def make_risk_assessments(self) -> None:
        """Risk-matrix assessments and worker allocations, with the planted flags of ``truth["risk_matrix"]``
        (``risk_world.py``). A generator of its own, so nothing else changes."""
        from .risk_world import risk_tables

        assessments, allocations, truth = risk_tables(self, self.tables["safeguarding_referrals"])
        self.tables["risk_assessments"], self.tables["worker_allocations"] = assessments, allocations
        self.truth["risk_matrix"] = truth
    # disproportionality: care status, police contacts, the under-18 baseline ----------------------------------
    def make_care_status(self) -> None:
        """Children looked after (about 15-25%), including every child who went missing from a children's home or
        a foster placement; adults and professionals 'not_known'. A generator of its own, so the rest of the world
        stays as it was and people.csv only gains the column."""
        rng = np.random.default_rng(self.seed + 104729)
        people = self.tables["people"]
        children = people.subject_category == "child_at_risk"
        episodes = self.tables["missing_episodes"]
        placed = set(episodes.person_id[episodes.missing_from_type.isin(["children_home", "foster_placement"])])
        looked_after = people.person_id.isin(placed) & children
        target = int(round(rng.uniform(0.15, 0.25) * children.sum()))
        more = np.flatnonzero((children & ~looked_after).to_numpy())
        extra = rng.choice(more, max(0, min(len(more), target - int(looked_after.sum()))), replace=False)
        looked_after.iloc[extra] = True
        status = np.where(looked_after, "looked_after", np.where(children, "not_looked_after", "not_known"))
        people.insert(int(people.columns.get_loc("ethnicity")) + 1, "care_status", status)
        self.children = self.children.assign(care_status=status[: len(self.children)])
        self.truth["looked_after"] = {"children": int(looked_after.sum()),
                                      "share": round(float(looked_after.sum() / children.sum()), 3)}

    def make_baseline(self) -> None:
        """A synthetic under-18 population per borough of the study area (tens of thousands of children), by
        ethnicity, sex and single year of age, near the south London mix. Counts, not people; own generator."""
        rng = np.random.default_rng(self.seed + 130363)
        rows = []
        for borough in MERTON_AND_NEIGHBOURS:
            total = int(rng.integers(40_000, 90_000))
            mix = rng.dirichlet(np.array(list(BASELINE_ETHNIC_MIX.values())) * 400)
            dimensions = {"ethnicity": (list(BASELINE_ETHNIC_MIX), mix),
                          "sex": (["female", "male"], np.array([0.49, 0.51])),
                          "age": ([str(a) for a in range(18)], rng.dirichlet(np.full(18, 300.0)))}
            for dimension, (categories, shares) in dimensions.items():
                for category, count in zip(categories, rng.multinomial(total, shares / shares.sum())):
                    rows.append({"borough": borough, "dimension": dimension, "category": category,
                                 "children": int(count), "source": "synthetic"})
        self.tables["population_baseline"] = pd.DataFrame(rows)

    def make_police_contacts(self) -> None:
        """Police contacts with children: searched, arrested, recorded as a suspect or as a victim, over the year.

        Planted: in every borough, the children searched or arrested hold PLANTED_GROUP at PLANTED_RELATIVE_RATE
        times its share of the borough's under-18 baseline (chosen by count, so the rate is met exactly for the
        whole year); some children are recorded as suspects. Own generator."""
        rng = np.random.default_rng(self.seed + 15485863)
        baseline = self.tables["population_baseline"]
        children = self.children
        days = (self.end - self.start).days
        rows, planted = [], {}

        def contact(child: str, kind: str, group: str) -> None:
            day = self.start + timedelta(days=int(rng.integers(0, days)))
            rows.append({"person_id": child, "kind": kind, "recorded_on": day.strftime("%Y-%m-%d"),
                         "offence_group": group})

        for borough in MERTON_AND_NEIGHBOURS:
            ours = children[children.home_borough == borough]
            ethnic = baseline[(baseline.borough == borough) & (baseline.dimension == "ethnicity")]
            share = float(ethnic.children[ethnic.category == PLANTED_GROUP].sum() / ethnic.children.sum())
            n = int(round(0.4 * len(ours)))
            group = ours.person_id[ours.ethnicity == PLANTED_GROUP].to_numpy()
            rest = ours.person_id[ours.ethnicity != PLANTED_GROUP].to_numpy()
            n_group = min(len(group), int(round(PLANTED_RELATIVE_RATE * share * n)))
            chosen = np.r_[rng.choice(group, n_group, replace=False), rng.choice(rest, n - n_group, replace=False)]
            for child in chosen:
                contact(str(child), "searched", str(rng.choice(["drugs", "weapons", "stolen property"])))
                if rng.random() < 0.35:
                    contact(str(child), "arrested", str(rng.choice(["drugs", "weapons", "violence", "robbery"])))
            planted[borough] = {"searched_or_arrested": n, "in_group": n_group, "baseline_share": round(share, 4),
                                "relative_rate": round(n_group / n / share, 3) if n and share else None}
        everyone = children.person_id.to_numpy()
        for child in rng.choice(everyone, int(0.12 * len(everyone)), replace=False):  # suspects
            contact(str(child), "suspect", str(rng.choice(["drugs", "violence", "robbery", "theft"])))
        for child in rng.choice(everyone, int(0.15 * len(everyone)), replace=False):  # harmed
            contact(str(child), "victim", str(rng.choice(["violence", "robbery", "sexual offences", "exploitation"])))
        frame = pd.DataFrame(rows).sort_values(["recorded_on", "person_id", "kind"], kind="stable")
        frame.insert(0, "contact_id", [f"PC{i + 1:05d}" for i in range(len(frame))])
        self.tables["police_contacts"] = frame.reset_index(drop=True)
        self.truth["disproportionality"] = {"cohort": "arrested_or_searched", "dimension": "ethnicity",
                                            "category": PLANTED_GROUP, "by_borough": planted}

    def _truth_suspects_without_referral(self) -> None:
        """Children recorded as a suspect (or arrested) with no safeguarding referral of any kind within the
        ``suspect_referral_days`` setting's default either side of the contact, computed from the final tables
        (referrals come from another step; with none, every such child). Judged at the year's end: contacts whose
        window runs past it are left out. Run last in ``build``."""
        days = default("suspect_referral_days")
        contacts = self.tables["police_contacts"]
        contacts = contacts[contacts.kind.isin(["suspect", "arrested"])]
        referrals = self.tables.get("safeguarding_referrals")
        referred = {} if referrals is None else {
            person: pd.to_datetime(group.referred_on) for person, group in referrals.groupby("person_id")}
        flagged = set()
        for row in contacts.itertuples():
            when = pd.Timestamp(row.recorded_on)
            if when + pd.Timedelta(days=days) >= pd.Timestamp(self.end):
                continue
            dates = referred.get(row.person_id)
            if dates is None or not ((dates - when).abs() <= pd.Timedelta(days=days)).any():
                flagged.add(row.person_id)
        self.truth["suspects_without_referral"] = {"days": days, "judged_on": self.end.strftime("%Y-%m-%d"),
                                                   "children": sorted(flagged)}

    # CSP tasking actions -------------------------------------------------------------------------------------------
    def make_tasking_actions(self) -> None:
        """The partnership's tasking at the hot places: ongoing detached youth work where outreach is held (the
        covered places), and a planned week of collaborative action at one planted gap per borough that has one,
        starting after the year's end (so the gap is still uncovered on the tasking page). Own generator."""
        rng = np.random.default_rng(self.seed + 7949)
        agencies = [("detached youth team", "youth service"), ("CSP officer", "community safety partnership"),
                    ("safer neighbourhoods sergeant", "police"), ("estate services manager", "housing association")]
        rows = []
        for place in self.hot_places:
            owner, agency = agencies[0] if place["outreach"] else agencies[int(rng.integers(1, len(agencies)))]
            if place["outreach"]:
                starts, ends, status = self.start, self.end + timedelta(days=180), "in_progress"
                action, measure = "weekly detached youth work sessions", "sessions held; young people reached"
            else:
                starts = self.end + timedelta(days=int(rng.integers(7, 28)))
                ends, status = starts + timedelta(days=6), "planned"
                action, measure = "week of collaborative action", "robbery and violence at the place over 3 months"
            rows.append({"action_id": f"TA{len(rows) + 1:04d}", "borough": place["borough"], "place": place["name"],
                         "theme": ("positive_diversion_from_violence" if place["outreach"]
                                   else "working_with_communities_and_neighbourhoods"),
                         "stage": "current" if place["outreach"] else "developing",
                         "priority": "robbery, violence and drugs with young people present", "action": action,
                         "lead_agency": agency, "owner": owner,
                         "partners": "police;youth service" if agency != "police" else "youth service;housing",
                         "starts_on": f"{starts:%Y-%m-%d}", "ends_on": f"{ends:%Y-%m-%d}",
                         "funding": str(rng.choice(["VRU locality fund", "CSP core budget", "MOPAC"])),
                         "outcome_measure": measure, "status": status,
                         "rag": "green" if place["outreach"] else "amber", "updated_on": f"{self.end:%Y-%m-%d}"})
        self.tables["tasking_actions"] = pd.DataFrame(rows)
        self.truth["tasking_actions"] = {"covered_places": [p["name"] for p in self.hot_places if p["outreach"]],
                                         "planned_at_gaps": [p["name"] for p in self.hot_places if not p["outreach"]]}

    # interventions -------------------------------------------------------------------------------------------
    def make_interventions(self) -> None:
        """Interventions the partnership recorded: a week of collaborative action at a hot place in Merton, detached
        youth work at an ordinary park (recorded by its cell) and a housing-association patrol on an estate.

        No effect is planted. The incidents are drawn before the hot places' other planted patterns (peer-group
        hang-outs, co-offending evidence) that tests check, so thinning them here would change those truths; the
        evaluation's known effects are planted in ``synth.evaluation_panel`` instead, and an evaluation of these
        records should find no clear change (or too little data). A generator of its own, so nothing else changes."""
        from .. import cells as h3cells

        rng = np.random.default_rng(self.seed + 1299709)
        places = self.tables["places"]
        in_merton = [p for p in self.hot_places if p["borough"] == MERTON]
        hot = next((p for p in in_merton if p["kind"] == "park"), in_merton[0] if in_merton else self.hot_places[0])
        hot_ids = {p["place_id"] for p in self.hot_places}
        ordinary = places[~places.place_id.isin(hot_ids)]
        park = ordinary[ordinary.kind == "park"].iloc[0] if (ordinary.kind == "park").any() else ordinary.iloc[0]
        estate = ordinary[ordinary.kind == "estate"].iloc[0] if (ordinary.kind == "estate").any() else ordinary.iloc[1]

        def day(month: int) -> datetime:
            return datetime(self.year, month, int(rng.integers(1, 22)))

        week = day(7)
        youth, patrol = day(4), day(10)
        park_cell = h3cells.hex_of(h3cells.point_to_cell(float(park.latitude), float(park.longitude), 9))
        rows = [
            {"intervention_id": "INT001", "title": f"Week of collaborative action, {hot['name']}",
             "kind": "week_of_collaborative_action", "places": hot["name"], "cells": "",
             "started_on": f"{week:%Y-%m-%d}", "ended_on": f"{week + timedelta(days=6):%Y-%m-%d}",
             "funder": "Mayor's Office for Policing and Crime", "lead_agency": "community safety partnership",
             "borough": hot["borough"]},
            {"intervention_id": "INT002", "title": f"Detached youth work, {park['name']}",
             "kind": "detached_youth_work", "places": "", "cells": park_cell, "started_on": f"{youth:%Y-%m-%d}",
             "ended_on": "",
             "funder": "youth service", "lead_agency": "youth service", "borough": park["borough_code"] or MERTON},
            {"intervention_id": "INT003", "title": f"Housing-association patrol, {estate['name']}",
             "kind": "housing_association_patrol", "places": estate["name"], "cells": "",
             "started_on": f"{patrol:%Y-%m-%d}", "ended_on": f"{patrol + timedelta(days=60):%Y-%m-%d}",
             "funder": "housing association", "lead_agency": "housing association",
             "borough": estate["borough_code"] or MERTON},
        ]
        self.tables["interventions"] = pd.DataFrame(rows)
        self.truth["interventions"] = {
            "recorded": [r["intervention_id"] for r in rows], "hot_place": hot["place_id"], "effect_planted": False,
            "why": "incidents are drawn before the planted patterns that depend on them; planted effects live in "
                   "geoservice.synth.evaluation_panel"}

    def build(self) -> None:
        self._pending_co_offending = []
        self.make_places()
        self.make_people()
        self.make_groups()
        self.make_expired_associations()
        self.make_incidents()
        self.make_missing()
        self.make_survey()
        self.make_outreach()
        self.make_actions()
        self.make_referrals()
        self.make_risk_assessments()
        self.tables["associations"] = pd.DataFrame(self._assoc_rows)
        self.make_care_status()
        self.make_baseline()
        self.make_police_contacts()
        self._truth_suspects_without_referral()
        self.make_tasking_actions()
        self.make_interventions()
        self.truth["counts"].update({name: len(t) for name, t in self.tables.items()})


def build_world(data_dir, *, seed: int = 1, year: int = 2025) -> WorldBuilder:
    """Make the world in memory (tables and ground truth)."""
    builder = WorldBuilder(Geography.load(Path(data_dir)), seed, year)
    builder.build()
    return builder


LAYER_FILES = ("places", "people", "associations", "incidents", "missing_episodes", "survey_responses",
               "outreach_sessions", "mace_actions", "safeguarding_referrals", "risk_assessments", "worker_allocations",
               "police_contacts", "population_baseline", "tasking_actions", "interventions")


def write_world(out_dir, *, seed: int = 1, year: int = 2025, data_dir) -> str:
    """Write each layer as ``<layer>.csv`` plus ``ground_truth.json`` into ``out_dir``; return a summary line."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    world = build_world(data_dir, seed=seed, year=year)
    for name in LAYER_FILES:
        world.tables[name].to_csv(out / f"{name}.csv", index=False)
    (out / "ground_truth.json").write_text(json.dumps(world.truth, indent=2, default=str) + "\n", encoding="utf-8")
    (out / "README.txt").write_text(
        "SYNTHETIC DATA. Every person, link, episode, answer and session in these files is invented by\n"
        f"`geoservice synth --seed {seed}` on real public boundaries. Place names are fictional.\n", encoding="utf-8")
    counts = world.truth["counts"]
    return (f"synthetic world (seed {seed}, {year}) in {out}: {counts['children']} children, "
            f"{counts['adults_posing_risk']} adults who pose risk, {len(world.truth['peer_groups'])} peer groups "
            f"({len(world.truth['cross_borough_groups'])} cross-borough), {counts['associations']} associations, "
            f"{counts['missing_episodes']} missing episodes, {counts['survey_responses']} survey answers, "
            f"{counts['outreach_sessions']} outreach sessions, {len(world.hot_places)} planted hot places")
