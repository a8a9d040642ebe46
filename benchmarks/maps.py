"""Map size and build time: our map products against a plain folium GeoJSON map of the same cells.

Run: ``.venv/bin/python benchmarks/maps.py``. Builds a throwaway SQLite store with the real boundaries, OpenStreetMap
places and police.uk year (July 2017 - June 2018), and the synthetic world laid on the same year; then renders
each map product for Merton and for Merton and its five neighbours, and the concern index of the six boroughs at
H3 resolution 10. Beside each, the anchor: ``folium.Map(tiles=None)`` with one ``folium.GeoJson`` of the same
hexagons and values, saved to HTML (folium links Leaflet and its plugins from CDNs, so the anchor is not even
offline; its size counts only the page). Prints sizes, build times and the ratios. Budgets (issue 5): a Merton map
at most 1.5 MB, a six-borough map at most 5 MB; (issue 17) a cold MACE map built within 10x the time of the plain
folium map of the same cells, for Merton and for six boroughs.

Cold means as a running service meets a map it has not built: the service has built maps before (each product is
built once for Kingston upon Thames alone, untimed), and nothing about this map is remembered
(Gi*'s answers are forgotten before each map).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import h3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geoservice.analysis.hotspots import forget_remembered_answers  # noqa: E402
from geoservice.config import MERTON_AND_NEIGHBOURS, PROJECT_ROOT, Settings  # noqa: E402
from geoservice.ingest.pipeline import ingest_file  # noqa: E402
from geoservice.maps.products import build_map  # noqa: E402
from geoservice.maps.render import render_map_html  # noqa: E402
from geoservice.maps.specs import load_map_specs  # noqa: E402
from geoservice.store.db import Store  # noqa: E402
from geoservice.synth.world import write_world  # noqa: E402

MERTON = "E09000024"
WINDOW = {"start": "2017-07-01", "end": "2018-07-01"}


def load(data: Path, folder: Path) -> Store:
    settings = Settings.from_env(database_url=f"sqlite:///{folder / 'bench.sqlite'}", data_dir=str(data),
                                 instance_path=str(folder / "instance"))
    store = Store.from_settings(settings)
    store.init()
    write_world(folder / "world", seed=1, year=2017, data_dir=data)
    sources = [("boundaries", data / "london_boroughs.geojson"),
               ("boundaries", data / "wards_merton_neighbours.geojson"),
               ("places", data / "osm_pois_merton_neighbours.csv"),
               ("incidents", data / "police_uk_street_2017-07_2018-06.csv.gz")]
    sources += [(name, folder / "world" / f"{name}.csv") for name in
                ("places", "people", "associations", "missing_episodes", "survey_responses", "outreach_sessions")]
    for layer, path in sources:
        ingest_file(store, layer, path, settings=settings)
    return store


def folium_anchor(built, path: Path) -> tuple[float, int]:
    """The same hexagons as one folium GeoJson layer (each cell once, with the first layer's value)."""
    import folium

    config = built.config
    ints, origin, scale = config["hexes"], config["origin"], config["scale"]
    values = {}
    for layer in config["layers"]:
        if layer["type"] == "hex":
            for i, v in zip(layer["index"], layer["values"]):
                values.setdefault(i, v)
    start = time.perf_counter()
    features = []
    for i, value in values.items():
        lat, lng = origin[0] + ints[12 * i], origin[1] + ints[12 * i + 1]
        ring = [(lat, lng)]
        for j in range(2, 12, 2):
            lat, lng = lat + ints[12 * i + j], lng + ints[12 * i + j + 1]
            ring.append((lat, lng))
        cell = h3.latlng_to_cell(sum(p[0] for p in ring) / 6 / scale, sum(p[1] for p in ring) / 6 / scale,
                                 config["resolution"])
        boundary = [[b, a] for a, b in h3.cell_to_boundary(cell)]
        features.append({"type": "Feature", "properties": {"cell": cell, "value": value},
                         "geometry": {"type": "Polygon", "coordinates": [boundary + [boundary[0]]]}})
    fmap = folium.Map(location=[(config["bounds"][0][0] + config["bounds"][1][0]) / 2,
                                (config["bounds"][0][1] + config["bounds"][1][1]) / 2], zoom_start=12, tiles=None)
    folium.GeoJson({"type": "FeatureCollection", "features": features},
                   tooltip=folium.GeoJsonTooltip(fields=["cell", "value"])).add_to(fmap)
    fmap.save(str(path))
    return time.perf_counter() - start, path.stat().st_size


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=PROJECT_ROOT.parent / "shared" / "data")
    args = parser.parse_args(argv)
    specs = load_map_specs(PROJECT_ROOT / "maps")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        store = load(args.data, folder)
        print(f"store loaded in {time.perf_counter() - started:.1f} s")
        cases = [(specs[name], boroughs) for name in ("mace_hotspots", "csp_tasking", "youth_area")
                 for boroughs in ((MERTON,), MERTON_AND_NEIGHBOURS)]
        cases.append((dataclasses.replace(specs["csp_tasking"], resolution=10, name="csp_tasking at res 10"),
                      MERTON_AND_NEIGHBOURS))
        for name in ("mace_hotspots", "csp_tasking", "youth_area"):  # a running service, untimed
            kingston = ("E09000021",)
            render_map_html(build_map(store, specs[name], boroughs=kingston,
                                      **({"period": "2017"} if specs[name].fixed_windows else WINDOW)))
        print(f"{'map':28s} {'area':10s} {'hexes':>7s} {'ours':>9s} {'build':>7s} {'folium':>9s} {'build':>7s}"
              f" {'size ratio':>10s} {'time ratio':>10s}")
        for spec, boroughs in cases:
            window = {"period": "2017"} if spec.fixed_windows else WINDOW
            forget_remembered_answers()  # each map cold
            start = time.perf_counter()
            built = build_map(store, spec, boroughs=boroughs, **window)
            html = render_map_html(built)
            ours_s = time.perf_counter() - start
            ours_mb = len(html.encode()) / 1e6
            hexes = len(built.config["hexes"]) // 12
            anchor_s, anchor_bytes = folium_anchor(built, folder / "anchor.html")
            budget = 1.5 if len(boroughs) == 1 else 5.0
            area = "Merton" if len(boroughs) == 1 else "6 boroughs"
            ratio = ours_s / anchor_s
            speed = (f"; time within 10x: {'yes' if ratio <= 10 else 'NO'}" if spec.name == "mace_hotspots" else "")
            print(f"{spec.name:28s} {area:10s} {hexes:7,d} {ours_mb:7.2f}MB {ours_s:6.2f}s {anchor_bytes / 1e6:7.2f}MB "
                  f"{anchor_s:6.2f}s {anchor_bytes / 1e6 / ours_mb:9.1f}x {ratio:9.1f}x  (budget {budget} MB: "
                  f"{'within' if ours_mb <= budget else 'OVER'}{speed})", flush=True)
        every_cell(store, folder)
        store.engine.dispose()


def every_cell(store: Store, folder: Path) -> None:
    """Packing alone: every res-10 cell of the six boroughs (zeros included), as our page carries them and as folium's
    GeoJSON does."""
    import numpy as np

    from geoservice.analysis.counts import study_cells
    from geoservice.maps.products import CellTable, MapData
    from geoservice.maps.render import page_data

    cells = [h3.int_to_str(int(c)) for c in study_cells(store, MERTON_AND_NEIGHBOURS, 10)]
    start = time.perf_counter()
    centre = np.mean([h3.cell_to_latlng(c) for c in cells[:500]], axis=0)
    table = CellTable((float(centre[0]), float(centre[1])))
    layer = {"type": "hex", "title": "every cell", "visible": True, "index": [table.index(c) for c in cells],
             "values": [k % 7 for k in range(len(cells))], "style": {}, "tooltip": "", "legend": False}
    config = {"hexes": table.ints, "origin": table.origin, "scale": 100_000, "resolution": 10, "layers": [layer],
              "bounds": [[51.3, -0.35], [51.5, -0.05]]}
    data = page_data(MapData(None, (), None, None, config, len(cells)))
    ours_s, ours_mb = time.perf_counter() - start, len(data.encode()) / 1e6
    anchor_s, anchor_bytes = folium_anchor(MapData(None, (), None, None, config, len(cells)), folder / "all.html")
    print(f"{'every cell, res 10 (data)':28s} {'6 boroughs':10s} {len(cells):7,d} {ours_mb:7.2f}MB {ours_s:6.2f}s "
          f"{anchor_bytes / 1e6:7.2f}MB {anchor_s:6.2f}s {anchor_bytes / 1e6 / ours_mb:9.1f}x  (data only: add "
          f"0.17 MB of inlined Leaflet to our page)")


if __name__ == "__main__":
    main()
