"""The demo: built from the real data plus the synthetic world, served over HTTP, listing layers with counts."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from geoservice.config import PROJECT_ROOT, Settings
from geoservice.demo import build_demo

from ..conftest import DATA_DIR, POLICE_UK, needs_data


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@needs_data("london_boroughs.geojson", "wards_merton_neighbours.geojson", POLICE_UK.name,
            "osm_pois_merton_neighbours.csv")
def test_demo_builds_and_serves_the_layer_list(tmp_path):
    instance = tmp_path / "instance"
    settings = Settings.from_env(environ={}, instance_path=str(instance), data_dir=str(DATA_DIR),
                                 layers_dir=str(PROJECT_ROOT / "layers"))
    messages = []
    store = build_demo(settings, seed=1, echo=messages.append)
    counts = store.layer_counts()
    store.engine.dispose()
    assert counts["incidents"] > 112_910, "the real police.uk year plus synthetic incidents"
    assert counts["people"] > 400 and counts["missing_episodes"] > 300 and counts["boundaries"] > 1000
    assert all(count > 0 for count in counts.values()), counts
    assert (instance / "geoservice.sqlite").exists()
    assert any("0 rejected" in m for m in messages)

    port = _free_port()
    env = dict(os.environ, GEOSERVICE_INSTANCE_PATH=str(instance), GEOSERVICE_DATA_DIR=str(DATA_DIR))
    env.pop("GEOSERVICE_DATABASE_URL", None)
    server = subprocess.Popen([sys.executable, "-m", "geoservice.cli", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        html = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    html = response.read().decode()
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(server.stdout.read().decode())
                time.sleep(0.2)
        assert html is not None, "the server answered"
        shown = dict(re.findall(r'data-layer="(\w+)">.*?class="num rows">([\d,]+)<', html, re.S))
        assert {name: int(n.replace(",", "")) for name, n in shown.items()} == counts
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()
