"""The demo: built from the real data plus the synthetic world, served over HTTP, listing layers with counts."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from geoservice.config import PROJECT_ROOT, Settings
from geoservice.demo import DEMO_PASSWORD, DEMO_USERS, build_demo, demo_sources
from geoservice.store.db import Store

from ..conftest import DATA_DIR, POLICE_UK, needs_data

pytestmark = pytest.mark.slow


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _fetch(url: str, cookie: str | None = None, form: dict | None = None) -> tuple[int, str, str]:
    """(status, session cookie set, body) of one request, redirects not followed."""
    data = urllib.parse.urlencode(form).encode() if form else None
    request = urllib.request.Request(url, data=data, headers={"Cookie": cookie} if cookie else {})
    try:
        response = urllib.request.build_opener(_NoRedirect).open(request, timeout=5)
    except urllib.error.HTTPError as redirect:  # a 302 arrives as an error when redirects are not followed
        response = redirect
    with response:
        cookies = [c.split(";")[0] for c in response.headers.get_all("Set-Cookie") or []]
        session = next((c for c in cookies if c.startswith("session=")), "")
        return response.status, session, response.read().decode()


def _signed_in(base: str, username: str) -> str:
    """The session cookie of a demo user signed in (the cookie is Secure, which browsers send to 127.0.0.1 over plain
    HTTP but urllib's cookie jar does not, so it is carried by hand)."""
    _, cookie, page = _fetch(f"{base}/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    status, cookie, _ = _fetch(f"{base}/login", cookie,
                               {"username": username, "password": DEMO_PASSWORD, "csrf_token": token})
    assert status == 302, username
    return cookie


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
    analyst_counts = store.layer_counts(boroughs=dict((u, b) for u, _, b in DEMO_USERS)["analyst"])
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
        base = f"http://127.0.0.1:{port}"
        login = None
        for _ in range(100):
            try:
                login = _fetch(f"{base}/login")
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(server.stdout.read().decode())
                time.sleep(0.2)
        assert login is not None, "the server answered"
        cookie = _signed_in(base, "analyst")
        status, _, html = _fetch(f"{base}/", cookie)
        assert status == 200
        shown = dict(re.findall(r'data-layer="(\w+)">.*?class="num rows">([\d,]+)<', html, re.S))
        shown = {name: int(n.replace(",", "")) for name, n in shown.items()}
        assert shown == analyst_counts, "the rows of their boroughs"
        # the youth worker's default view: named areas with counts, not a grey map
        youth_cookie = _signed_in(base, "youth")
        status, _, body = _fetch(f"{base}/api/maps/youth_area?borough=E09000024", youth_cookie)
        assert status == 200
        youth = json.loads(body)["map"]
        shown_layer = next(layer for layer in youth["layers"] if layer["visible"] and layer.get("areas"))
        table = next(t for t in youth["tables"] if t["layer"] == shown_layer["title"])
        assert table["rows"] and all(row[0] and row[2] >= 10 for row in table["rows"]), table
        assert any(row[0].startswith("Around ") for row in table["rows"]), "areas named by their places"
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()
    built = Store.from_settings(settings)
    assert built.foreign_batches(demo_sources()) == [], "every batch is the demo's own: it may rebuild this store"
    built.engine.dispose()
