"""Stable peer-group ids: "group G0006" means one group in the map, the API, the linkage report and next month's pack.

Community detection numbers its groups afresh on every run. Here each group found is matched, by its members, to
the ids handed out before (a registry in the store), so a group keeps its id while it keeps most of its members:

- a group and an earlier id *match* when they share at least ``MIN_SHARED`` members and at least half the members
  of the smaller of the two; the pairs sharing most members are matched first, each id to one group at most;
- a group that matches no id is **new** and gets the next id (``G0001``, ``G0002``, ...);
- a group that matches no free id but most of whose members were in an id another group kept was **split** from
  it: it gets a new id, and says so;
- a group that holds most of the members of earlier ids besides its own **merged** them: it keeps the id it
  shares most members with, and says which others it took in.

The registry holds each id's latest members as keyed pseudonyms (``pseudonyms.py``, context "peer groups"), never
as plain ids, so it is not a list of people; it is updated in one transaction per run. Ids are never reused.
"""

from __future__ import annotations

import dataclasses
from datetime import date

import networkx as nx
import pandas as pd

from ..pseudonyms import Pseudonymiser, pseudonym_key
from ..store.db import Store

MIN_SHARED = 2
PREFIX = "G"


@dataclasses.dataclass(frozen=True)
class GroupId:
    """One group's id, ``status`` (new / same / changed / merged / split) and ``note`` in words."""

    group_id: str
    members: frozenset
    status: str
    note: str


def _overlaps(a: set, b: set) -> bool:
    shared = len(a & b)
    return shared >= MIN_SHARED and shared * 2 >= min(len(a), len(b))


def assign_ids(groups, registry: list[dict], *, as_of: date, pseudonymise) -> tuple[list[GroupId], dict]:
    """The ids of ``groups`` (sets of person ids) given the ``registry`` rows, and the registry's changes. Pure:
    the store's transaction around it is ``Store.record_group_ids``."""
    refs = [{pseudonymise(m) for m in group} for group in groups]
    known = {row["group_id"]: set(row["members"]) for row in registry}
    pairs = sorted(((len(r & members), i, gid) for i, r in enumerate(refs) for gid, members in known.items()
                    if _overlaps(r, members)), key=lambda p: (-p[0], p[1], p[2]))
    matched: dict[int, str] = {}
    taken: set[str] = set()
    for _, i, gid in pairs:
        if i not in matched and gid not in taken:
            matched[i], taken = gid, taken | {gid}
    number = max((int(gid[len(PREFIX):]) for gid in known if gid[len(PREFIX):].isdigit()), default=0)
    rows = {row["group_id"]: row for row in registry}
    # a product made for an earlier day (a pack for a past period) names groups like the rest, but does not
    # rewrite what later runs saw, nor call later groups' history a split or a merge
    earlier = {gid for gid, row in rows.items() if pd.Timestamp(row["last_seen"]).date() <= as_of}
    out, changes = [], {}
    for i, group in enumerate(groups):
        overlapping = sorted({gid for _, j, gid in pairs if j == i})
        if i in matched:
            gid = matched[i]
            # merged: most of another id's members are now in this group
            others = [g for g in overlapping if g != gid and g in earlier
                      and len(refs[i] & known[g]) * 2 >= len(known[g])]
            if others:
                status, note = "merged", f"took in members of {', '.join(others)}"
            elif refs[i] == known[gid]:
                status, note = "same", "same members as before"
            else:
                joined, left = len(refs[i] - known[gid]), len(known[gid] - refs[i])
                status, note = "changed", f"{joined} joined, {left} left since last seen"
            if gid in earlier:
                changes[gid] = {"members": refs[i], "first_seen": rows[gid]["first_seen"], "last_seen": as_of,
                                "note": rows[gid]["note"]}
        else:
            number += 1
            gid = f"{PREFIX}{number:04d}"
            sources = [g for g in overlapping if g in earlier and len(refs[i] & known[g]) * 2 >= len(refs[i])]
            if sources:  # most of this group's members were in an id another group kept
                status, note = "split", f"split from {', '.join(sources)}"
            else:
                status, note = "new", "first seen now"
            changes[gid] = {"members": refs[i], "first_seen": as_of, "last_seen": as_of, "note": note}
        out.append(GroupId(gid, frozenset(group), status, note))
    return out, changes


def identify(store: Store, groups, *, as_of=None, key: bytes | None = None) -> list[GroupId]:
    """Stable ids for ``groups`` (sets of person ids), recorded in the store's registry."""
    as_of = pd.Timestamp(as_of or date.today()).date()
    pseudonymise = Pseudonymiser(key or pseudonym_key(store.settings), "peer groups")
    groups = [set(g) for g in groups]
    return store.record_group_ids(lambda registry: assign_ids(groups, registry, as_of=as_of,
                                                              pseudonymise=pseudonymise))


def identified_child_groups(store: Store, graph: nx.Graph, *, seed: int = 0, key: bytes | None = None):
    """``child_peer_groups`` of ``graph`` with their stable ids: (groups, ids), in the same order. Every product
    showing peer groups numbers them this way."""
    from .groups import child_peer_groups

    groups = child_peer_groups(graph, seed=seed)
    return groups, identify(store, groups, as_of=graph.graph.get("as_of"), key=key)
