"""Every analysis result has one shape: its tables, and ``attrs["settings"]`` saying how it was made."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd

from geoservice.analysis.hotspots import gi_star
from geoservice.analysis.nearrepeat import knox_test
from geoservice.analysis.spacetime import emerging_hotspots
from geoservice.network.groups import peer_groups


def test_every_result_says_its_method_seed_and_input(merton_cells):
    rng = np.random.default_rng(3)
    cells = merton_cells[9]
    counts = pd.Series(rng.poisson(2, len(cells)), index=cells)
    cube = pd.DataFrame(rng.poisson(1, (len(cells), 4)), index=cells, columns=list("abcd"))
    xs, ys, ts = rng.random(200) * 1000, rng.random(200) * 1000, rng.integers(0, 60, 200)
    graph = nx.relabel_nodes(nx.connected_caveman_graph(4, 5), str)
    results = {"gi_star": gi_star(counts), "emerging": emerging_hotspots(cube), "knox": knox_test(xs, ys, ts,
                                                                                                 permutations=9),
               "peer groups": peer_groups(graph)}
    for name, result in results.items():
        settings = result.attrs["settings"]
        assert {"method", "seed", "input_sha256"} <= set(settings), name
        assert len(settings["input_sha256"]) == 64, name
    # the digest follows the data: the same counts give the same digest, other counts another
    assert gi_star(counts).attrs["settings"]["input_sha256"] == results["gi_star"].attrs["settings"]["input_sha256"]
    assert gi_star(counts + 1).attrs["settings"]["input_sha256"] != results["gi_star"].attrs["settings"]["input_sha256"]
