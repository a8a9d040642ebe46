"""The production server: gunicorn with several worker processes, sharing sessions and sign-in limits."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse

import pytest

from geoservice.privacy.users import add_user
from geoservice.store.db import Store

from ..conftest import TEST_PASSWORD

pytestmark = [pytest.mark.postgres, pytest.mark.slow]  # the database matters; it takes seconds

pytest.importorskip("gunicorn")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Browser:
    """A client that opens a new connection per request, so requests land on any worker."""

    def __init__(self, port: int):
        self.port, self.cookies = port, {}

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        for cookie in response.headers.get_all("Set-Cookie") or []:
            name, _, value = cookie.split(";")[0].partition("=")
            self.cookies[name] = value
        text = response.read().decode()
        connection.close()
        return response.status, text

    def token(self) -> str:
        return re.search(r'name="csrf_token" value="([^"]+)"', self.request("GET", "/login")[1]).group(1)


def test_the_server_runs_several_workers_that_share_sessions_and_sign_in_limits(settings):
    store = Store.from_settings(settings)
    store.init()
    add_user(store, "ana", TEST_PASSWORD, roles=["auditor"], boroughs=["E09000024"])
    store.engine.dispose()
    port = _free_port()
    env = dict(os.environ, GEOSERVICE_DATABASE_URL=settings.database_url,
               GEOSERVICE_INSTANCE_PATH=str(settings.instance_path))
    server = subprocess.Popen([sys.executable, "-m", "geoservice.cli", "serve", "--port", str(port), "--workers", "3",
                               "--threads", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for _ in range(150):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(server.stdout.read().decode())
                time.sleep(0.2)
        stranger = _Browser(port)
        statuses = [stranger.request("POST", "/login", {"username": "ana", "password": f"guess {i}",
                                                       "csrf_token": stranger.token()})[0] for i in range(7)]
        assert statuses == [401] * 5 + [429] * 2, "the limit holds whichever worker answers"
        ana = _Browser(port)
        status, _ = ana.request("POST", "/login", {"username": "ana", "password": TEST_PASSWORD,
                                                      "csrf_token": ana.token()})
        assert status == 429, "a new browser from the stranger's address waits too"
        # every worker knows a session another worker started, and the end of it
        store = Store.from_settings(settings)
        store.init()
        add_user(store, "bea", TEST_PASSWORD, roles=["auditor"], boroughs=["E09000024"])
        store.engine.dispose()
        bea = _Browser(port)
        assert bea.request("POST", "/login", {"username": "bea", "password": TEST_PASSWORD,
                                              "csrf_token": bea.token()})[0] == 302
        assert {bea.request("GET", "/api/layers")[0] for _ in range(12)} == {200}
        saved = dict(bea.cookies)
        page = bea.request("GET", "/")[1]
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        assert bea.request("POST", "/logout", {"csrf_token": token})[0] == 302
        thief = _Browser(port)
        thief.cookies = saved
        assert {thief.request("GET", "/api/layers")[0] for _ in range(9)} == {401}
    finally:
        server.terminate()
        server.wait(timeout=20)
        server.stdout.close()
