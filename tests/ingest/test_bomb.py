"""A decompression bomb (issue 10): a 2.5 MB gzip file inflating to 1 GB is refused while it is read, and the
process refusing it stays small.

The command runs in a child process whose peak resident memory is measured by a small go-between process: on
Linux a child's peak (``ru_maxrss``) includes the memory of the process it was forked from, so a child forked
from pytest itself (often several hundred MB) would report pytest's size, not its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib

import pytest

from geoservice.config import PROJECT_ROOT

pytestmark = pytest.mark.slow

HEADER = "crime_id,month,crime_type,latitude,longitude\n"
ROW = "X1,2024-05,Robbery,51.41,-0.188\n"
INFLATED_MB = 1000
LIMIT_MB = 5
PEAK_LIMIT_MB = 300

#: Runs argv[1:] and prints its exit status, output and peak resident memory (of that child alone) as JSON.
MEASURE = """
import json, resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr,
                  "peak_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def _measured(argv: list[str], env: dict) -> dict:
    done = subprocess.run([sys.executable, "-c", MEASURE, *argv], capture_output=True, text=True, env=env,
                          timeout=300, check=True)
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    """``bomb.csv.gz``: a header and one CSV row repeated to 1 GB, packed into about 2.5 MB."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.csv.gz"
    block = (ROW * (1_000_000 // len(ROW))).encode()
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as out:
        out.write(packer.compress(HEADER.encode()))
        for _ in range(INFLATED_MB):
            out.write(packer.compress(block))
        out.write(packer.flush())
    return path


def test_a_gzip_bomb_is_refused_by_the_cli_in_little_memory(bomb, tmp_path):
    assert bomb.stat().st_size < 3_000_000
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "GEOSERVICE_INGEST_MAX_MB": str(LIMIT_MB)}
    cli = [sys.executable, "-m", "geoservice.cli", "--database", f"sqlite:///{tmp_path / 'bomb.sqlite'}",
           "--instance", str(tmp_path / "instance")]
    # Boundaries are not loaded, so were the file read past the limit, the ingest would stop at "no borough
    # boundaries are loaded": the refusal must come first, while the file is read.
    run = _measured([*cli, "ingest", "incidents", str(bomb), "--json"], env)
    baseline = _measured([sys.executable, "-c", "import geoservice.cli, geoservice.ingest.pipeline"], env)
    peak_mb, imports_mb = run["peak_kb"] / 1024, baseline["peak_kb"] / 1024
    print(f"\npeak memory refusing a {INFLATED_MB} MB bomb: {peak_mb:.0f} MB "
          f"(importing the ingest's libraries alone: {imports_mb:.0f} MB)")
    assert run["returncode"] == 2, run
    payload = json.loads(run["stdout"])
    assert payload["ok"] is False
    assert payload["error"].startswith(f"bomb.csv.gz: inflates past {LIMIT_MB} MB; the limit is the ingest_max_mb "
                                       "setting"), payload
    assert str(bomb.parent) not in payload["error"], "the file is named, never its path"
    assert "Traceback" not in run["stdout"] + run["stderr"]
    assert peak_mb < PEAK_LIMIT_MB, f"peak {peak_mb:.0f} MB (imports alone {imports_mb:.0f} MB)"
    assert peak_mb - imports_mb < 4 * LIMIT_MB + 20, "beyond the imports, only about the limit's worth is held"
