"""Where the analysis runs: in this process (``local``, the default) or on Dask (``dask``), the one home of dask.

The analysis has one code path: it cuts its work into partitions and hands the engine a pure function to run on
each; the engine only decides where that function runs. ``LocalEngine`` calls it here, one partition after the
other; ``DaskEngine`` sends it to a ``distributed`` cluster: the scheduler at ``GEOSERVICE_DASK_ADDRESS``, or a
``LocalCluster`` started for the run when that is unset. Either way the results come back in partition order, so
what the analysis does with them next does not depend on the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .errors import GeoserviceError

ENGINES = ("local", "dask")

#: How long to wait for a scheduler at GEOSERVICE_DASK_ADDRESS before saying it cannot be reached (seconds).
CONNECT_TIMEOUT_S = 10


class EngineError(GeoserviceError):
    """The engine asked for cannot be used (unknown name, scheduler not reachable)."""


class LocalEngine:
    """Runs each partition in this process, in order: today's single-process analysis."""

    name = "local"

    def map_partitions(self, function: Callable, partitions: Sequence, shared=None) -> list:
        """``function(partition, shared)`` for each partition, in partition order."""
        return [function(partition, shared) for partition in partitions]

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class DaskEngine(LocalEngine):
    """Runs each partition as a task on a Dask cluster; ``shared`` is one task's result that the partitions'
    tasks fetch (once per worker), not a copy per task."""

    name = "dask"

    def __init__(self, client, cluster=None):
        self.client = client
        self._cluster = cluster  # the LocalCluster this engine started (and so closes), if any

    @classmethod
    def connect(cls, address: str | None = None, *, timeout: float | None = None,
                **cluster_options) -> "DaskEngine":
        """A client of the scheduler at ``address`` (given up on after ``timeout`` seconds, by default
        ``CONNECT_TIMEOUT_S``), or of a new
        ``LocalCluster`` (threads in this process, HTTP on a free port; ``cluster_options`` override) when
        ``address`` is None or empty."""
        from distributed import Client, LocalCluster

        if address:
            try:
                return cls(Client(address, timeout=timeout or CONNECT_TIMEOUT_S))
            except (OSError, TimeoutError) as exc:
                raise EngineError(
                    f"cannot reach the Dask scheduler at GEOSERVICE_DASK_ADDRESS={address!r} ({exc}); start one "
                    "(`dask scheduler`, then `dask worker <address>`), correct the address, or unset it to run a "
                    "local cluster") from None
        # memory_limit=0: a worker of threads in this process would measure the whole process's memory (the
        # host's stores and frames too) against its limit, pause, and refuse work ("No valid workers found")
        options = {"processes": False, "n_workers": 1, "threads_per_worker": 2, "dashboard_address": ":0",
                   "memory_limit": 0}
        options.update(cluster_options)
        cluster = LocalCluster(**options)
        return cls(Client(cluster), cluster)

    def map_partitions(self, function: Callable, partitions: Sequence, shared=None) -> list:
        """``function(partition, shared)`` for each partition on the cluster, gathered in partition order."""
        if not partitions:
            return []
        # a task that returns it, not scattered data: the scheduler keeps the task, so if the worker holding it dies
        # it is made again (scattered data would be lost with its last holder, failing the whole map); a fresh key
        # per call (pure=False), and as one object even when it is a list, tuple or dict
        shared_future = self.client.submit(_shared_value, shared, pure=False) if shared is not None else None
        futures = [self.client.submit(function, partition, shared_future, pure=False) for partition in partitions]
        try:
            return self.client.gather(futures)
        finally:
            for future in futures:
                future.release()
            if shared_future is not None:
                shared_future.release()

    def close(self) -> None:
        """Disconnect, and stop the local cluster if this engine started it."""
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def _shared_value(value):
    """The input every partition shares, as a task's result (see ``DaskEngine.map_partitions``)."""
    return value


def get_engine(settings) -> LocalEngine:
    """The engine ``settings.engine`` names (``local`` or ``dask``); use it as a context manager so a local Dask
    cluster is stopped when the work is done."""
    name = getattr(settings, "engine", "local") or "local"
    if name == "local":
        return LocalEngine()
    if name == "dask":
        return DaskEngine.connect(getattr(settings, "dask_address", None))
    raise EngineError(f"engine must be one of {', '.join(ENGINES)}, got {name!r} (GEOSERVICE_ENGINE)")
