"""Load: concurrent signed-in clients against the demo's hot-spot, map and person endpoints.

Run: ``.venv/bin/python benchmarks/load.py [--clients 50] [--seconds 60] [--workers 2] [--instance DIR]``. It uses the
demo store in ``instance/``, building it first if it is missing. It serves it with ``geoservice serve`` (gunicorn,
``--workers`` processes) in a separate process, signs in one session per client as the demo analyst, and has every
client loop for the given time over:

- hot spots (`/api/hotspots`);
- the three map products (pages and data);
- one person in ten requests (`/api/people/<id>`, audited).

It prints p50/p95/p99 latency overall, after a 10 s warm-up, and per endpoint, and the errors. It also compares
the audit events logged with the successful person requests: none may be lost, and the chain must verify.
Target (issue 6): p95 at most 300 ms, zero errors, zero lost audit events.

``--trickle 10`` (issue 17) adds a steady trickle of uploads while the clients read: every 10 s one incidents file
for a borough next to Merton (``--trickle-boroughs``, default Lambeth), a month of that borough's
police.uk rows cut from the shared file, given new crime ids and a month of the world's year (so they are new
records inside the months already held), loaded as ``geoservice ingest`` would beside the server. The clients
also read Kingston's map and hot spots, a borough no upload is near. It then reports which boroughs each upload
touched (``batches.boroughs``) and, from the server's ``geoservice.cache`` log, the products rebuilt per borough:
a rebuild of a product none of whose boroughs an upload touched is a wrong invalidation and must not happen.
Before the clock starts every client asks for each product once (steady state). A month of Lambeth crime holds
rows in Merton's own cells, so it rightly rebuilds Merton's products; ``--trickle-away-from-merton`` uploads only
the rows whose cells do not reach Merton, the case where Merton's products must stand.
Target (issue 17): read p95 at most 300 ms at 50 clients, 0 errors, 0 rebuilds for untouched boroughs.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geoservice.config import PROJECT_ROOT, Settings  # noqa: E402
from geoservice.demo import DEMO_PASSWORD, build_demo  # noqa: E402
from geoservice.privacy.audit import verify  # noqa: E402
from geoservice.store.db import Store  # noqa: E402

MERTON = "E09000024"
KINGSTON = "E09000021"
POLICE_FILE = "police_uk_street_2017-07_2018-06.csv.gz"
ENDPOINTS = {
    "hotspots": f"/api/hotspots?borough={MERTON}&from=2025-01-01&to=2026-01-01",
    "mace map": f"/maps/mace_hotspots?borough={MERTON}",
    "tasking map": f"/maps/csp_tasking?borough={MERTON}",
    "youth map data": f"/api/maps/youth_area?borough={MERTON}&period=2025",
}
#: Read as well under a trickle of uploads: a borough no upload is near, whose products must never be rebuilt.
UNTOUCHED_ENDPOINTS = {
    "Kingston hotspots": f"/api/hotspots?borough={KINGSTON}&from=2025-01-01&to=2026-01-01",
    "Kingston tasking map": f"/maps/csp_tasking?borough={KINGSTON}",
}
#: The server, with the product cache's build log switched on (INFO on the geoservice.cache logger).
SERVE_WITH_CACHE_LOG = ("import logging, sys; logging.basicConfig(format='%(asctime)s %(name)s %(message)s'); "
                        "logging.getLogger('geoservice.cache').setLevel(logging.INFO); "
                        "from geoservice.cli import main; sys.argv[0] = 'geoservice'; main()")


class Client:
    """One signed-in session over one keep-alive connection."""

    def __init__(self, port: int):
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookie = ""
        status, page = self.request("GET", "/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode({"username": "analyst", "password": os.environ.get(
            "GEOSERVICE_DEMO_PASSWORD", DEMO_PASSWORD), "csrf_token": token})
        status, _ = self.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 302:
            raise SystemExit(f"sign-in failed with {status}: is the demo store built with its users?")

    def request(self, method: str, path: str, body=None, headers=None) -> tuple[int, str]:
        headers = {**(headers or {}), **({"Cookie": self.cookie} if self.cookie else {})}
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        data = response.read().decode("utf-8", "replace")
        for cookie in response.headers.get_all("Set-Cookie") or []:
            if cookie.startswith("session="):  # the session, not the trusted-device cookie
                self.cookie = cookie.split(";")[0]
        return response.status, data


class Trickle(threading.Thread):
    """Every ``every`` seconds, one incidents file for the next of ``boroughs``: a month of its police.uk rows with
    new crime ids, dated in ``year`` (inside the months already held), ingested into the store beside the server."""

    def __init__(self, store, settings, folder: Path, boroughs, year: int, every: float, until: float,
                 away_from: str | None = None):
        super().__init__(daemon=True)
        import pandas as pd

        rows = pd.read_csv(Path(settings.data_dir) / POLICE_FILE, dtype=str, keep_default_na=False)
        if away_from:
            rows = rows[~reaches(store, rows.Latitude.astype(float), rows.Longitude.astype(float), away_from)]
        self.months = [(borough, month, rows[(rows.borough_code == borough) & (rows.Month == month)])
                       for month in sorted(rows.Month.unique()) for borough in boroughs]
        self.store, self.settings, self.folder, self.year = store, settings, folder, year
        self.every, self.until = every, until
        self.run_id = f"{time.time():.0f}"
        self.uploads: list[dict] = []  # started (s), borough, rows, accepted, seconds, batch id
        self.errors: list[str] = []

    def run(self) -> None:
        from geoservice.ingest.pipeline import ingest_file

        self.folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        for k, (borough, month, frame) in enumerate(self.months):
            due = start + (k + 1) * self.every
            if due >= self.until:
                break
            time.sleep(max(0.0, due - time.perf_counter()))
            upload = frame.assign(**{"Crime ID": [f"load-{self.run_id}-{k}-{i}" for i in range(len(frame))],
                                     "Month": f"{self.year}-{month[5:]}"})
            path = self.folder / f"incidents-{borough}-{k}.csv"
            upload.to_csv(path, index=False)
            began = time.perf_counter()
            try:
                report = ingest_file(self.store, "incidents", path, settings=self.settings, fmt="police-uk")
            except Exception as exc:  # reported, not raised: the readers go on
                self.errors.append(f"{path.name}: {exc}")
                continue
            self.uploads.append({"at": began - start, "borough": borough, "rows": len(upload),
                                 "accepted": report.accepted, "seconds": time.perf_counter() - began,
                                 "batch_id": report.batch_id})


def reaches(store, lat, lng, borough: str):
    """Which points lie in a cell (at any stored resolution) whose centre is within 50 m of ``borough``: the rows
    an upload would change ``borough``'s products with (``ingest/touched.py``)."""
    import shapely

    from geoservice.cells import centres, points_to_cells
    from geoservice.places import lnglat_to_bng

    geometry = next(b["geometry"] for b in store.boundaries(("borough",)) if b["code"] == borough)
    polygon = shapely.transform(geometry, lambda xy: np.column_stack(lnglat_to_bng(xy[:, 0], xy[:, 1])))
    lat, lng = np.asarray(lat, float), np.asarray(lng, float)
    near = np.zeros(len(lat), bool)
    for cells in points_to_cells(lat, lng, store.resolutions).values():
        unique, inverse = np.unique(cells, return_inverse=True)
        at = centres(unique)
        x, y = lnglat_to_bng(at[:, 1], at[:, 0])
        near |= (shapely.distance(polygon, shapely.points(x, y)) <= 50.0)[inverse]
    return near


def touched_boroughs(store, batch_ids) -> dict[str, str]:
    """batch id -> ``batches.boroughs`` of the trickle's batches."""
    from sqlalchemy import select

    b = store.batches
    with store.engine.connect() as conn:
        return dict(conn.execute(select(b.c.batch_id, b.c.boroughs).where(b.c.batch_id.in_(list(batch_ids)))).all())


def rebuilds_in_log(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(product kind, its boroughs) of every rebuild the server's product caches logged ("every borough" for a
    product no borough names: the network, the months held)."""
    found = []
    for line in path.read_text(errors="replace").splitlines():
        match = re.search(r"geoservice\.cache rebuilt (.+?) of (.+?) \(", line)
        if match:
            found.append((match.group(1), tuple(match.group(2).split(","))))
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--instance", type=Path, default=PROJECT_ROOT / "instance")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the server")
    parser.add_argument("--trickle", type=float, default=0, metavar="SECONDS",
                        help="upload one incidents file for a neighbouring borough every SECONDS (0: no uploads)")
    parser.add_argument("--trickle-boroughs", default="E09000022",
                        help="the boroughs the uploads are for, by turns (GSS codes, comma-separated)")
    parser.add_argument("--trickle-away-from-merton", action="store_true",
                        help="upload only the rows whose cells do not reach Merton (so Merton's products stand)")
    args = parser.parse_args(argv)
    endpoints = {**ENDPOINTS, **(UNTOUCHED_ENDPOINTS if args.trickle else {})}
    settings = Settings.from_env(instance_path=str(args.instance))
    store = Store.from_settings(settings)
    if not (args.instance / "geoservice.sqlite").exists() or "users" not in store.metadata.tables or \
            not store.layer_counts().get("people"):
        print("building the demo store ...", flush=True)
        store = build_demo(settings, echo=lambda _: None)
    store.init()
    people = store.read_layer("people", ["person_id", "home_borough", "subject_category"])
    merton_children = people.person_id[(people.home_borough == MERTON)
                                       & (people.subject_category == "child_at_risk")].tolist()
    audit_before = verify(store).entries

    port = _free_port()
    env = dict(os.environ, GEOSERVICE_INSTANCE_PATH=str(args.instance))
    env.pop("GEOSERVICE_DATABASE_URL", None)
    log = open(args.instance / "load-server.log", "w")  # the server's own messages, for what went wrong
    server = subprocess.Popen([sys.executable, "-c", SERVE_WITH_CACHE_LOG, "serve", "--port", str(port),
                               "--workers", str(args.workers)], env=env, stdout=log, stderr=subprocess.STDOUT)
    trickle = None
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        clients = [Client(port) for _ in range(args.clients)]
        if args.trickle:  # steady state: every client asks for each product once, so each worker has built it
            warm = [threading.Thread(target=lambda c=c: [c.request("GET", path) for path in endpoints.values()])
                    for c in clients]
            for t in warm:
                t.start()
            for t in warm:
                t.join()
            print("warmed: every client asked for each product once", flush=True)
        print(f"{args.clients} clients signed in; running {args.seconds:.0f} s ...", flush=True)
        results: list[tuple[str, float, float, int]] = []  # endpoint, started (s), latency (s), status
        lock = threading.Lock()
        start = time.perf_counter()
        if args.trickle:
            year = int(str(store.latest("incidents", "month"))[:4])
            trickle = Trickle(store, settings, args.instance / "load-trickle", args.trickle_boroughs.split(","), year,
                              args.trickle, start + args.seconds, MERTON if args.trickle_away_from_merton else None)
            trickle.start()

        def run(client: Client, seed: int) -> None:
            rng = random.Random(seed)
            while time.perf_counter() - start < args.seconds:
                if rng.random() < 0.1:
                    name, path = "person (audited)", f"/api/people/{rng.choice(merton_children)}?why=load%20test"
                else:
                    name, path = rng.choice(list(endpoints.items()))
                began = time.perf_counter()
                try:
                    status, _ = client.request("GET", path)
                except (OSError, http.client.HTTPException):
                    status = 0
                    client.connection.close()
                    client.connection = http.client.HTTPConnection("127.0.0.1", client.port, timeout=60)
                with lock:
                    results.append((name, began - start, time.perf_counter() - began, status))

        threads = [threading.Thread(target=run, args=(c, k)) for k, c in enumerate(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if trickle is not None:
            trickle.join()
    finally:
        server.terminate()
        server.wait(timeout=10)

    names = np.array([r[0] for r in results])
    began = np.array([r[1] for r in results])
    latency = np.array([r[2] for r in results]) * 1000
    status = np.array([r[3] for r in results])

    def line(label, mask):
        if not mask.any():
            return
        p50, p95, p99 = np.percentile(latency[mask], [50, 95, 99])
        errors = int((status[mask] != 200).sum())
        print(f"{label:22s} {int(mask.sum()):7,d} requests  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  p99 {p99:7.1f} ms"
              f"  errors {errors}")

    print(f"{len(results):,} requests in {args.seconds:.0f} s ({len(results) / args.seconds:.0f}/s)")
    failed = collections.Counter((names[k], int(status[k])) for k in np.flatnonzero(status != 200))
    if failed:
        print("not 200: " + ", ".join(f"{name} {code} x{n}" for (name, code), n in sorted(failed.items())))
    line("all", np.ones(len(results), bool))
    line("after 10 s warm-up", began >= 10)
    for name in [*endpoints, "person (audited)"]:
        line(name, names == name)
    audited = int(((names == "person (audited)") & (status == 200)).sum())
    check = verify(store)
    logged = check.entries - audit_before
    print(f"audit: {audited} person answers, {logged} events logged ({audited - logged} lost); chain "
          f"{'intact' if check.ok else 'BROKEN'}; target p95 <= 300 ms, 0 errors, 0 lost")
    if trickle is not None:
        _report_trickle(store, trickle, args.instance / "load-server.log")
    store.engine.dispose()


def _report_trickle(store, trickle: Trickle, log_path: Path) -> None:
    """The uploads, the boroughs they touched, and the products rebuilt per borough (touched or not)."""
    touched_by = touched_boroughs(store, [u["batch_id"] for u in trickle.uploads])
    touched: set[str] = set()
    for u in trickle.uploads:
        codes = touched_by.get(u["batch_id"]) or ""
        # "B@9": B's cells at resolution 9 only; counted here as touching B at every resolution (conservative)
        touched |= {code.split("@")[0] for code in codes.strip(",").split(",")} if codes not in ("", "*") else set()
        print(f"upload at {u['at']:5.1f} s for {u['borough']}: {u['accepted']:,} of {u['rows']:,} rows accepted in "
              f"{u['seconds']:.1f} s; touched {codes.strip(',') or 'no borough'}")
    for error in trickle.errors:
        print(f"upload failed: {error}")
    rebuilds = rebuilds_in_log(log_path)
    per_borough = collections.Counter(b for _, boroughs in rebuilds for b in boroughs)
    untouched = [(kind, boroughs) for kind, boroughs in rebuilds
                 if "every borough" not in boroughs and not touched & set(boroughs)]
    print(f"{len(trickle.uploads)} uploads (one every {trickle.every:g} s); boroughs touched (at some resolution): "
          f"{', '.join(sorted(touched)) or 'none'}")
    print("product rebuilds per borough: " + (", ".join(f"{b} {n}" for b, n in sorted(per_borough.items()))
                                              or "none"))
    print(f"rebuilds of products of untouched boroughs: {len(untouched)} (target 0)"
          + (": " + ", ".join(f"{k} of {'+'.join(b)}" for k, b in untouched[:5]) if untouched else ""))


if __name__ == "__main__":
    main()
