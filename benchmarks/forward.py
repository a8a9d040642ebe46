"""Forward evaluation on the shared police.uk year: does each map, built on earlier months, point to where
incidents fell next?

Run: ``.venv/bin/python benchmarks/forward.py [--res 9] [--out docs/forward-res9.md]``. For Merton alone and for
the five boroughs (Merton, Wandsworth, Lambeth, Sutton, Kingston), for all crime (every row, anti-social behaviour
included), violence and sexual offences, robbery, and anti-social behaviour, three schemes:

- ``6 -> 6``: trained on July-December 2017, scored on January-June 2018 (summed);
- ``1 -> 1``: each month's map scored on the next month (11 pairs; the mean is shown);
- ``all -> 1``: all the months before each month scored on it (11 months; the mean is shown).

Each method ranks the study cells; its top cells at equal area shares (0.5%, 1%, 2%, 5% of the cells) are scored
by PAI (hit rate / area share) and PEI (PAI over the best PAI possible with that many cells), with
``evaluate.prediction_scores`` (true cell areas). Methods, all given the same training months:

- ``where to act``: ``where_to_act`` on the training months (its own backtest inside them picks the predictor);
- ``top counts``: training counts, ties in cell order;
- ``place test``: ``place_test`` on the training counts, by p then count;
- ``Gi* z``: ``gi_star`` (k = 1), cells ranked by z. Gi* flags a variable number of cells (q < 0.05), so at an
  equal area share it is ranked by z; the flagged set itself, at its own area share, is reported separately;
- ``KDE 150 m``, ``KDE 400 m``: a Gaussian kernel density of the training incidents' own points (BNG metres,
  KD-tree, cut at 4 bandwidths) at the cell centres.

Incidents count where their point's cell lies in the study cells (cells filled from the borough polygons at their
centres), whatever ``borough_code`` says; the header prints how the file's rows fall.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geoservice.analysis.concentration import place_test  # noqa: E402
from geoservice.analysis.evaluate import prediction_scores  # noqa: E402
from geoservice.analysis.hotspots import gi_star, where_to_act  # noqa: E402
from geoservice.analysis.ranking import SHARES, cells_at  # noqa: E402
from geoservice.cells import area_km2, centres, points_to_cells, polygons_to_cells  # noqa: E402
from geoservice.config import Settings  # noqa: E402
from geoservice.places import lnglat_to_bng  # noqa: E402

POLICE_UK = "police_uk_street_2017-07_2018-06.csv.gz"
MERTON = "E09000024"
FIVE = {MERTON: "Merton", "E09000032": "Wandsworth", "E09000022": "Lambeth", "E09000029": "Sutton",
        "E09000021": "Kingston"}
AREAS = {"Merton": [MERTON], "five boroughs": list(FIVE)}
LAYERS = {"all crime": None, "violence and sexual offences": "Violence and sexual offences",
          "robbery": "Robbery", "anti-social behaviour": "Anti-social behaviour"}
METHODS = ("where to act", "top counts", "place test", "Gi* z", "KDE 150 m", "KDE 400 m")
BASELINES = METHODS[1:]


def kde(cell_xy: np.ndarray, points: np.ndarray, bandwidth: float) -> np.ndarray:
    """Gaussian kernel density (unnormalised) of ``points`` at each cell centre, all in BNG metres."""
    if len(points) == 0:
        return np.zeros(len(cell_xy))
    unique, weight = np.unique(points, axis=0, return_counts=True)  # police.uk snap points repeat
    pairs = cKDTree(cell_xy).sparse_distance_matrix(cKDTree(unique), 4 * bandwidth, output_type="coo_matrix")
    kernel = np.exp(-0.5 * (pairs.data / bandwidth) ** 2) * weight[pairs.col]
    return np.bincount(pairs.row, weights=kernel, minlength=len(cell_xy))


def rank_order(*keys) -> np.ndarray:
    """Positions best first by the keys (each: higher first), then by cell order."""
    return np.lexsort((np.arange(len(keys[0])), *[-np.asarray(k, dtype=float) for k in reversed(keys)]))


class Study:
    """One area's cells and one layer's incidents: counts per cell and month, and the incidents' points."""

    def __init__(self, cells: pd.Index, events: pd.DataFrame, months: list[str]):
        self.cells = cells
        self.months = months
        self.areas = area_km2(cells)
        lat_lng = centres(cells)
        x, y = lnglat_to_bng(lat_lng[:, 1], lat_lng[:, 0])
        self.xy = np.column_stack([x, y])
        position = cells.get_indexer(events["cell"].to_numpy())
        inside = position >= 0
        self.events = events[inside].assign(position=position[inside])
        self.counts = np.zeros((len(cells), len(months)))
        np.add.at(self.counts, (self.events["position"].to_numpy(), self.events["month"].to_numpy()), 1)

    def orders(self, train: list[int]) -> tuple[dict[str, np.ndarray], dict]:
        """Each method's cells best first, built on the ``train`` months; and what the ranking chose."""
        counts = self.counts[:, train]
        total = pd.Series(counts.sum(axis=1), index=self.cells)
        points = self.events[self.events["month"].isin(train)][["x", "y"]].to_numpy()
        history = pd.DataFrame(counts, index=self.cells, columns=[self.months[t] for t in train])
        ranking = where_to_act(history)
        gi = gi_star(total, k=1)
        place = place_test(total)
        out = {
            "where to act": self.cells.get_indexer(ranking.index),
            "top counts": rank_order(total),
            "place test": rank_order(-place["p"].to_numpy(), total),
            "Gi* z": rank_order(gi["z"].to_numpy()),
            "KDE 150 m": rank_order(kde(self.xy, points, 150.0)),
            "KDE 400 m": rank_order(kde(self.xy, points, 400.0)),
        }
        return out, {"predictor": ranking.attrs["settings"]["predictor"], "note": ranking.attrs["settings"]["note"],
                     "gi_hot": np.flatnonzero(gi["hot"].to_numpy())}

    def score(self, train: list[int], test: list[int]) -> tuple[list[dict], dict]:
        """PAI and PEI of every method at every share, and of Gi*'s flagged cells at their own share."""
        actual = pd.Series(self.counts[:, test].sum(axis=1), index=self.cells)
        orders, chosen = self.orders(train)
        rows = []
        for share in SHARES:
            top = cells_at(share, len(self.cells))
            ours = set(orders["where to act"][:top].tolist())
            for method, ranked in orders.items():
                scores = prediction_scores(self.cells[ranked[:top]], actual, self.areas)
                theirs = set(ranked[:top].tolist())
                # incidents in the cells only one of the two chose: what a difference in hits is made of
                rows.append({"method": method, "share": share, "pai": scores["pai"], "pei": scores["pei"],
                             "only_ours": actual.iloc[sorted(ours - theirs)].sum(),
                             "only_theirs": actual.iloc[sorted(theirs - ours)].sum()})
        gi = prediction_scores(self.cells[chosen["gi_hot"]], actual, self.areas)
        chosen["gi"] = {"cells": gi["cells_flagged"], "area_share": gi["area_share"], "pai": gi["pai"],
                        "pei": gi["pei"]}
        return rows, chosen


SCHEMES = {
    "6 -> 6": lambda n: [(list(range(6)), list(range(6, 12)))],
    "1 -> 1": lambda n: [([t - 1], [t]) for t in range(1, n)],
    "all -> 1": lambda n: [(list(range(t)), [t]) for t in range(1, n)],
}


def load(data_dir: Path, res: int):
    """The police.uk year (points in BNG, month number, cell at ``res``) and each area's study cells."""
    import geopandas as gpd

    boroughs = gpd.read_file(data_dir / "london_boroughs.geojson", engine="pyogrio").set_index("code")
    frame = pd.read_csv(data_dir / POLICE_UK, usecols=["Month", "Longitude", "Latitude", "Crime type", "borough_code"])
    months = sorted(frame["Month"].unique())
    frame["month"] = frame["Month"].map({m: i for i, m in enumerate(months)})
    frame["x"], frame["y"] = lnglat_to_bng(frame["Longitude"].to_numpy(), frame["Latitude"].to_numpy())
    frame["cell"] = points_to_cells(frame["Latitude"].to_numpy(), frame["Longitude"].to_numpy(), (res,))[res]
    cells = {name: polygons_to_cells([boroughs.geometry[c] for c in codes], res) for name, codes in AREAS.items()}
    return frame, months, cells


def run(data_dir: Path, res: int) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Every combination's scores (mean over the scheme's pairs), Gi*'s own scores, the predictor counts."""
    frame, months, cells = load(data_dir, res)
    header = [f"police.uk {months[0]} .. {months[-1]}: {len(frame):,} rows; by borough_code: " + ", ".join(
        f"{FIVE.get(code, code)} {n:,}" for code, n in frame["borough_code"].value_counts().items())]
    rows, gi_rows = [], []
    for area, area_cells in cells.items():
        inside = frame["cell"].isin(area_cells)
        header.append(f"{area}: {len(area_cells):,} res-{res} cells; {int(inside.sum()):,} rows in them "
                      f"({int((inside & ~frame['borough_code'].isin(AREAS[area])).sum()):,} of them with another "
                      f"borough_code; {int((~inside & frame['borough_code'].isin(AREAS[area])).sum()):,} rows of "
                      f"the area's boroughs fall outside its cells)")
        for layer, crime_type in LAYERS.items():
            events = frame if crime_type is None else frame[frame["Crime type"] == crime_type]
            study = Study(area_cells, events, months)
            for scheme, pairs in SCHEMES.items():
                started = time.perf_counter()
                for train, test in pairs(len(months)):
                    scored, chosen = study.score(train, test)
                    key = {"scheme": scheme, "area": area, "layer": layer, "scored_on": months[test[0]]}
                    rows.extend({**key, **r} for r in scored)
                    gi_rows.append({**key, **chosen["gi"], "predictor": chosen["predictor"],
                                    "note": chosen["note"] is not None})
                print(f"  {area:13s} {layer:29s} {scheme:8s} {time.perf_counter() - started:6.1f} s", flush=True)
        header.append(timing(Study(area_cells, frame, months), area))
    return pd.DataFrame(rows), pd.DataFrame(gi_rows), header


def timing(study: Study, area: str, repeats: int = 3) -> str:
    """The time ``where_to_act`` takes on the whole year of all crime (the best of a few runs)."""
    history = pd.DataFrame(study.counts, index=study.cells, columns=study.months)
    where_to_act(history)
    took = []
    for _ in range(repeats):
        started = time.perf_counter()
        where_to_act(history)
        took.append(time.perf_counter() - started)
    return (f"where_to_act on the 12 months of all crime in {area} ({len(study.cells):,} cells): {min(took):.3f} s "
            f"(best of {repeats})")


def summarise(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean PAI and PEI per combination and method; the best baseline; the ranking's margin over it, and that
    margin in incidents over its Poisson standard error (the square root of the incidents in the cells only one
    of the two chose, summed over the months)."""
    keys = ["scheme", "area", "layer", "share"]
    mean = scores.groupby([*keys, "method"], sort=False)[["pai", "pei"]].mean()
    table = mean.unstack("method")
    best = table["pai"][list(BASELINES)]
    table[("best baseline", "name")] = best.idxmax(axis=1)
    table[("best baseline", "pai")] = best.max(axis=1)
    table[("margin", "pai")] = table[("pai", "where to act")] - best.max(axis=1)
    table[("margin", "relative")] = table[("pai", "where to act")] / best.max(axis=1) - 1
    split = scores.groupby([*keys, "method"], sort=False)[["only_ours", "only_theirs"]].sum()
    chosen = [split.loc[(*key, name)] for key, name in table[("best baseline", "name")].items()]
    ours = np.array([c["only_ours"] for c in chosen])
    theirs = np.array([c["only_theirs"] for c in chosen])
    with np.errstate(invalid="ignore", divide="ignore"):
        table[("margin", "z")] = np.where(ours + theirs > 0, (ours - theirs) / np.sqrt(ours + theirs), 0.0)
    table[("margin", "incidents")] = ours - theirs
    return table


SCHEME_WORDS = {"6 -> 6": "trained on 2017-07..2017-12, scored on 2018-01..2018-06",
                "1 -> 1": "each month scored on the next; mean of 11 months",
                "all -> 1": "all earlier months scored on the next; mean of 11 months"}


def markdown(table: pd.DataFrame, gi: pd.DataFrame, header: list[str], res: int) -> str:
    """The tables as Markdown: one per scheme, then where the ranking is behind, Gi*'s own share, the picks."""
    lines = [f"Res {res}, measured with `benchmarks/forward.py --res {res}`:", "", *[f"- {h}." for h in header], "",
             "Each cell: PAI / PEI of the method's top cells at that area share. *margin*: the ranking's PAI minus "
             "the best baseline's; *z*: that difference in incidents caught over its Poisson standard error.", ""]
    for scheme in SCHEMES:
        lines += [f"**{scheme}** ({SCHEME_WORDS[scheme]})", "",
                  "| area | layer | share | " + " | ".join(METHODS) + " | best baseline | margin | z |",
                  "|" + "---|" * (len(METHODS) + 6)]
        for (_, area, layer, share), row in table.xs(scheme, level="scheme", drop_level=False).iterrows():
            cells = [f"{row[('pai', m)]:.2f} / {row[('pei', m)]:.3f}" for m in METHODS]
            lines.append(f"| {area} | {layer} | {100 * share:g}% | " + " | ".join(cells) +
                         f" | {row[('best baseline', 'name')]} | {row[('margin', 'pai')]:+.2f} | "
                         f"{row[('margin', 'z')]:+.1f} |")
        lines.append("")
    behind = table[table[("margin", "pai")] < -1e-9]
    lines += [f"The ranking is at least as predictive as the best baseline in {len(table) - len(behind)} of "
              f"{len(table)} combinations; behind in {len(behind)}, of which "
              f"{int((behind[('margin', 'z')] <= -2).sum())} by more than two standard errors.", "",
              "| share | ranking >= best baseline | mean PAI ratio to the best baseline | worst ratio |",
              "|---|---|---|---|"]
    ratio = table[("pai", "where to act")] / table[("best baseline", "pai")]
    for share, part in ratio.groupby(level="share"):
        ahead = int((table.loc[part.index, ("margin", "pai")] >= -1e-9).sum())
        lines.append(f"| {100 * share:g}% | {ahead} of {len(part)} | {part.mean():.3f} | {part.min():.3f} |")
    if len(behind):
        lines += ["", "Where it is behind:", ""]
        lines += [f"- {scheme}, {area}, {layer}, {100 * share:g}%: {row[('margin', 'pai')]:+.2f} PAI "
                  f"({100 * row[('margin', 'relative')]:+.1f}%, {row[('margin', 'incidents')]:+.0f} incidents, "
                  f"z = {row[('margin', 'z')]:+.1f}) against {row[('best baseline', 'name')]}"
                  for (scheme, area, layer, share), row in behind.iterrows()]
    pai = table["pai"][list(METHODS)]
    top = pai.max(axis=1)
    lines += ["", "How often each method is the best of the six (ties count for each), and the ranking against each "
              "baseline alone:", "", "| method | best or tied best | ranking >= it | ranking's mean PAI ratio to it |",
              "|---|---|---|---|"]
    for method in METHODS:
        beside = "" if method == METHODS[0] else (
            f"{int((pai[METHODS[0]] >= pai[method] - 1e-9).sum())} of {len(pai)} | "
            f"{(pai[METHODS[0]] / pai[method]).mean():.3f}")
        lines.append(f"| {method} | {int((pai[method] >= top - 1e-9).sum())} of {len(pai)} | "
                     f"{beside or '- | -'} |")
    own = gi.groupby(["scheme", "area", "layer"], sort=False)[["cells", "area_share", "pai", "pei"]].mean()
    empty = gi.assign(empty=gi["cells"] == 0).groupby(["scheme", "area", "layer"], sort=False)["empty"].sum()
    lines += ["", "Gi* hot cells (k = 1, q < 0.05) as flagged, at their own area share (means over the months; PAI "
              "and PEI over the months with any hot cell):", "",
              "| scheme | area | layer | cells flagged | area share | PAI | PEI | months with none |",
              "|---|---|---|---|---|---|---|---|"]
    for (scheme, area, layer), row in own.iterrows():
        scored = "- | -" if np.isnan(row["pai"]) else f"{row['pai']:.2f} | {row['pei']:.3f}"
        lines.append(f"| {scheme} | {area} | {layer} | {row['cells']:.1f} | {100 * row['area_share']:.2f}% | "
                     f"{scored} | {int(empty[(scheme, area, layer)])} |")
    picks = gi.assign(predictor=np.where(gi["note"], gi["predictor"] + " (not backtested)", gi["predictor"]))
    picks = picks.groupby(["scheme", "predictor"], sort=False).size().unstack(fill_value=0)
    lines += ["", "How often the ranking picked each predictor (one pick per training set; *not backtested*: one "
              "month, or too few incidents held back, so the default):", "",
              "| scheme | " + " | ".join(picks.columns) + " |", "|" + "---|" * (len(picks.columns) + 1)]
    lines += [f"| {scheme} | " + " | ".join(str(v) for v in row) + " |" for scheme, row in picks.iterrows()]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--res", type=int, default=9)
    parser.add_argument("--data-dir", type=Path, default=Settings.from_env().data_dir)
    parser.add_argument("--out", type=Path, help="write the tables here as Markdown: between the lines "
                        "'<!-- forward res N -->' and '<!-- /forward res N -->' when the file has them (so "
                        "docs/analysis.md keeps the measured table), else the whole file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    scores, gi, header = run(args.data_dir, args.res)
    text = markdown(summarise(scores), gi, header, args.res)
    print(text)
    print(f"({time.perf_counter() - started:.0f} s)")
    if args.out:
        args.out.write_text(into(args.out.read_text() if args.out.exists() else "", text, args.res))


def into(document: str, text: str, res: int) -> str:
    """``document`` with the block between its markers for ``res`` replaced by ``text`` (or ``text`` alone)."""
    start, end = f"<!-- forward res {res} -->", f"<!-- /forward res {res} -->"
    if start not in document or end not in document:
        return text
    before, rest = document.split(start, 1)
    return f"{before}{start}\n{text}{end}{rest.split(end, 1)[1]}"


if __name__ == "__main__":
    main()
