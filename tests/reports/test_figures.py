"""The drawings in packs: the same graph is drawn byte for byte the same in every process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DRAW = """
import hashlib, networkx as nx
from geoservice.reports.figures import network_svg
people = {f"P{i:03d}" for i in range(14)}  # a set: its order follows the hash seed
graph = nx.Graph()
for person in people:
    graph.add_node(person, subject_category="adult_risk" if person.endswith("3") else "child")
chain = sorted(people)
for a, b in zip(chain, chain[1:]):
    graph.add_edge(b, a, evidence=["e"])
graph.add_edge("P000", "P007", evidence=["e", "f"])
print(hashlib.sha256(network_svg(graph, focus="P004").encode()).hexdigest())
"""


def test_a_network_drawing_does_not_depend_on_the_hash_seed():
    drawings = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        run = subprocess.run([sys.executable, "-c", DRAW], env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        drawings.add(run.stdout.strip())
    assert len(drawings) == 1 and len(next(iter(drawings))) == 64
