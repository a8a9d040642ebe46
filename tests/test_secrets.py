"""Secrets made on first use: a process starting at the same moment never reads an empty one."""

from __future__ import annotations

import multiprocessing

from geoservice.pseudonyms import make_secret_file


def _race(folder: str, barrier, results) -> None:
    from pathlib import Path

    for i in range(60):
        path = Path(folder) / f"secret-{i}.key"
        barrier.wait()
        if not path.exists():
            make_secret_file(path)
        results.append(path.read_bytes().strip())


def test_processes_racing_to_make_a_secret_all_read_the_same_whole_one(tmp_path):
    context = multiprocessing.get_context("fork")
    manager = context.Manager()
    barrier, results = context.Barrier(4), manager.list()
    workers = [context.Process(target=_race, args=(str(tmp_path), barrier, results)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    values = list(results)
    assert len(values) == 240 and all(len(v) == 64 for v in values), "never an empty or partial secret"
    for i in range(60):
        assert (tmp_path / f"secret-{i}.key").read_bytes().strip() in values
    assert len(set(values)) == 60, "one secret per file, the same for every process"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no drafts left behind"
    manager.shutdown()
