"""Products (maps, hot spots) kept while the data they came from is unchanged.

A product is keyed by its request and by ``Store.data_version()``. That version changes with every batch
loaded and every erasure or alteration, so a product never outlives the records it was made from: after a
retention run, the next request builds it afresh. The cache is per process and holds the ``size`` most recently
used products.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from flask import current_app

from .store import get_store


class ProductCache:
    def __init__(self, size: int = 64):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._building: dict = {}
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key, build):
        """The product for ``key`` under the store's current data version, built by ``build()`` when missing.

        One request builds a missing product; requests for the same product meanwhile wait for it, instead of
        building it again side by side (fifty clients opening a map at once would otherwise build it fifty times).
        """
        full = (get_store().data_version(), key)
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
                    break
            waiting.wait()  # built by another request (or it failed: then try ourselves)
        try:
            value = build()
            with self._lock:
                self._items[full] = value
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
            return value
        finally:
            with self._lock:
                self._building.pop(full).set()


def product_cache() -> ProductCache:
    return current_app.extensions.setdefault("product_cache", ProductCache())
