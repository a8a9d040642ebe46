"""Products (maps, hot spots, graphs) kept while the data they came from is unchanged.

A product is keyed by its request and by the version of what it depends on: each caller declares the layers it
reads and the boroughs whose rows it can count (``Depends``), and the key holds ``Store.data_version(layers,
boroughs)`` for each, so a batch for Lambeth leaves Merton's maps standing while a batch for Merton, an erasure or
an alteration (retention) rebuilds them on the next request. A product declaring ``EVERYTHING`` depends on
every batch, as all did before. Facts that follow the data held anywhere (the months held, which set a hot-spot
map's months) are products of their own (``time_extents``), put in the key of the borough's product.

The cache is per process and holds the ``size`` most recently used products. Each build is logged on the
``geoservice.cache`` logger (INFO): first builds, and rebuilds because what the product depends on changed, with
the boroughs it depends on, so a load test can count the rebuilds of boroughs no upload touched.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import Counter, OrderedDict
from functools import partial

from flask import current_app, g, has_app_context

from .store import get_store

log = logging.getLogger("geoservice.cache")

#: The network's layers: the evidenced graph reads these for every borough.
NETWORK_LAYERS = frozenset({"people", "associations", "missing_episodes"})


@dataclasses.dataclass(frozen=True)
class Depends:
    """What a product reads: ``layers`` (None: every layer) in ``boroughs`` (None: every borough's rows), counted
    in cells of resolution ``res`` (None: any resolution, or not by cells)."""

    layers: frozenset | None = None
    boroughs: frozenset | None = None
    res: int | None = None

    @classmethod
    def on(cls, layers=None, boroughs=None, res: int | None = None) -> Depends:
        return cls(None if layers is None else frozenset(layers), None if boroughs is None else frozenset(boroughs),
                   res)

    def words(self) -> str:
        layers = "every layer" if self.layers is None else "+".join(sorted(self.layers))
        where = "every borough" if self.boroughs is None else "+".join(sorted(self.boroughs))
        return f"{layers} in {where}" + (f" at resolution {self.res}" if self.res is not None else "")


#: A product that may read anything: every batch, erasure and alteration rebuilds it.
EVERYTHING = (Depends(),)


class ProductCache:
    def __init__(self, size: int = 64):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._building: dict = {}
        self._versions: OrderedDict = OrderedDict()  # key -> versions it was last built under (rebuild or first?)
        self._scoped: dict = {}  # (overall version, layers, boroughs, res) -> that scope's version
        self._lock = threading.Lock()
        self.hits = self.misses = 0
        self.misses_by: Counter = Counter()  # product kind (the key's first part) -> builds
        self.rebuilds: Counter = Counter()  # borough of the product (or "every borough") -> rebuilds: data changed

    def get(self, key, build, depends):
        """The product for ``key`` under the current version of what it ``depends`` on (``Depends``, one or
        several), built by ``build()`` when missing.

        One request builds a missing product; requests for the same product meanwhile wait for it, instead of
        building it again side by side (fifty clients opening a map at once would otherwise build it fifty times).
        """
        depends = (depends,) if isinstance(depends, Depends) else tuple(depends)
        versions = self.versions(depends)
        full = (versions, key)
        while True:
            with self._lock:
                if full in self._items:
                    self._items.move_to_end(full)
                    self.hits += 1
                    return self._items[full]
                waiting = self._building.get(full)
                if waiting is None:
                    self._building[full] = threading.Event()
                    self.misses += 1
                    self.misses_by[key[0]] += 1
                    rebuild = key in self._versions and self._versions[key] != versions
                    break
            waiting.wait()  # built by another request (or it failed: then try ourselves)
        try:
            began = time.perf_counter()
            value = build()
            with self._lock:
                self._items[full] = value
                self._versions[key] = versions
                self._versions.move_to_end(key)
                while len(self._versions) > 4 * self.size:  # bounded too: keys hold dates and windows
                    self._versions.popitem(last=False)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
                if rebuild:
                    self.rebuilds.update(_product_boroughs(depends))
            log.info("%s %s of %s (%s) in %.2f s", "rebuilt" if rebuild else "built", key[0],
                     ",".join(_product_boroughs(depends)), "; ".join(d.words() for d in depends),
                     time.perf_counter() - began)
            return value
        finally:
            with self._lock:
                self._building.pop(full).set()

    def has(self, key, depends=EVERYTHING) -> bool:
        """Whether the product for ``key`` is ready now (a page can then answer at once rather than show progress)."""
        depends = (depends,) if isinstance(depends, Depends) else tuple(depends)
        versions = self.versions(depends)
        with self._lock:
            return (versions, key) in self._items

    def versions(self, depends: tuple) -> tuple:
        """The current version of each of ``depends``. The store's overall version is read once a request (two
        small queries); each scoped version is worked out once per overall version and reused until the data
        change, since a scoped version can only change when the overall one does (a request for a map asks a
        dozen: its layers, the months held, the places)."""
        overall = g.get("_geoservice_data_version") if has_app_context() else None
        if overall is None:
            overall = get_store().data_version()
            if has_app_context():
                g._geoservice_data_version = overall
        answers = []
        for d in depends:
            question = (overall, d.layers, d.boroughs, d.res)
            with self._lock:
                known = self._scoped.get(question)
            if known is None:
                known = get_store().data_version(d.layers, d.boroughs, d.res)
                with self._lock:
                    if self._scoped and next(iter(self._scoped))[0] != overall:
                        self._scoped.clear()  # the data changed: every version worked out before is stale
                    self._scoped[question] = known
            answers.append(known)
        return tuple(answers)


def _product_boroughs(depends) -> list[str]:
    """The boroughs a product is of: those its parts name (a map of Merton also reads the places of every borough),
    or "every borough" when no part names one (the network, the months held)."""
    named = sorted(set().union(*(d.boroughs for d in depends if d.boroughs is not None)))
    return named or ["every borough"]


def product_cache() -> ProductCache:
    return current_app.extensions.setdefault("product_cache", ProductCache())


def time_extents(layers) -> tuple:
    """The earliest and latest value of every time field of ``layers``, held anywhere: a borough's hot spots count
    the months the data hold (not only the borough's), so this goes in such a product's key. Each layer's is cached
    under the layer's own version in every borough: recomputed once after a batch of it, shared by every product."""
    store = get_store()

    def extents(name):
        return tuple(tuple(map(str, store.time_extent(name, field))) for field in store.specs[name].time_fields)

    return tuple((name, product_cache().get(("time extents", name), partial(extents, name), Depends.on([name])))
                 for name in sorted(set(layers) & set(store.layer_tables)))


def graph_depends() -> tuple[Depends, ...]:
    """The evidenced network's: people, associations and missing episodes (missing together), every borough."""
    return (Depends.on(layers=NETWORK_LAYERS),)
