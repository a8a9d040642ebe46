"""One result shape for every analysis (hot spots, space-time, peer groups): its table (or tables), and
``attrs["settings"]``.

``attrs["settings"]`` is a dictionary of the parameters that produced the result, with at least ``method``,
``seed`` (None when nothing random ran) and ``input_sha256`` (a digest of the input, so two results can be told to
come from the same data). A per-cell result is a pandas DataFrame indexed by cell, whose own ``attrs`` hold it
(``gi_star``, ``concern_index``, ``hotspot_report``). A result of several tables is a small dataclass with the tables
as attributes and the same ``attrs`` dictionary (``EmergingHotspots``, ``KnoxResult``); peer groups are a list of
sets with ``attrs`` (``PeerGroups``). So ``result.attrs["settings"]`` answers "how was this made?" for any of them.
"""

from __future__ import annotations

import hashlib

import numpy as np


def input_sha256(*arrays) -> str:
    """A digest of the input arrays (their values and order)."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(np.asarray(array)).tobytes())
    return digest.hexdigest()


def settings(*, method: str, seed=None, inputs=(), **parameters) -> dict:
    """``attrs["settings"]`` of a result: the method, the seed, the digest of ``inputs`` and the parameters."""
    return {"method": method, **parameters, "seed": seed, "input_sha256": input_sha256(*inputs)}
