"""The analyst's workbench: peer groups, one group, one child and one place, as plain data for the pages.

Each function is a product of the evidenced graph and the store, and returns what a page shows: tables as lists of
dicts, drawings as SVG (``figures.py``). Children and adults who pose risk are kept apart in every list; a link is
always shown with its evidence (source, record, date, 3x5x2 grade, expiry). Which people a view showed is in
``people`` so the caller can audit it.
"""

from __future__ import annotations

import networkx as nx
import pandas as pd

from .. import cells as h3cells
from ..network.build import ADULT, CHILD, NetworkInputError
from ..network.ego import ego_network
from ..network.identity import identified_child_groups
from ..network.places import person_places
from ..network.roles import group_summaries
from ..network.timeline import child_timelines, flag_children
from ..places import PlaceNamer, borough_names, named_places, with_borough_names
from ..store.db import Store
from . import figures


def evidence_anchor(a: str, b: str) -> str:
    """The page anchor of the evidence of the link between ``a`` and ``b`` (either order)."""
    first, second = sorted((str(a), str(b)))
    return f"ev-{first}-{second}"


def _evidence_rows(graph: nx.Graph, edges) -> list[dict]:
    category = nx.get_node_attributes(graph, "subject_category")
    rows = []
    for a, b in edges:
        child, other = (a, b) if category.get(a) == CHILD else (b, a)
        for item in graph.edges[a, b]["evidence"]:
            rows.append({"anchor": evidence_anchor(a, b), "child": child, "other": other,
                         "other_is_adult": category.get(other) == ADULT, "type": item["type"],
                         "source": item["source_layer"], "record": item["source_record"],
                         "date": item["evidence_date"], "grade": item["grading"], "expires": item["expires_on"]})
    return sorted(rows, key=lambda r: (r["anchor"], r["date"]))


def _names(store: Store) -> dict[str, str]:
    return borough_names(store) | {"": "outside London"}


def peer_group_list(store: Store, graph: nx.Graph, borough: str, *, since) -> dict:
    """The peer groups with a child of ``borough``: id (and how it changed), children, adults who pose risk
    linked (their own column), boroughs, places, what is new since the last panel; and how stable the grouping is
    over other seeds."""
    groups, ids = identified_child_groups(store, graph)
    home = nx.get_node_attributes(graph, "home_borough")
    chosen = [(g, i) for g, i in zip(groups, ids) if any(home.get(m) == borough for m in g)]
    visits = person_places(store, as_of=graph.graph.get("as_of"), graph=graph)
    summary = group_summaries(graph, [g for g, _ in chosen], since=since, visits=visits,
                              namer=PlaceNamer(named_places(store)), ids=[i for _, i in chosen])
    names = _names(store)
    rows = [{"group": r.group, "id_note": r.id_note, "children": r.children, "size": r.size,
             "adults": r.adults_posing_risk, "boroughs": [names.get(b, b) for b in r.boroughs],
             "places": [p.get("name") or p["cell"] for p in r.places], "links": r.links,
             "last_evidence": r.last_evidence, "new_links": r.new_links_since, "new_members": r.new_members_since}
            for r in summary.itertuples()] if len(summary) else []
    people = sorted({p for r in rows for p in r["children"] + r["adults"]})
    return {"groups": rows, "stability": groups.stability, "people": people}


def peer_group(store: Store, graph: nx.Graph, group_id: str, *, boroughs, since) -> dict:
    """One peer group by its id: its network drawn (children, and the adults who pose risk linked to them), every
    link's evidence, its places on a small map, and its timeline. A group with no child in ``boroughs`` is not
    found."""
    groups, ids = identified_child_groups(store, graph)
    match = next(((g, i) for g, i in zip(groups, ids) if i.group_id == group_id), None)
    home = nx.get_node_attributes(graph, "home_borough")
    if match is None or not any(home.get(m) in set(boroughs) for m in match[0]):
        raise NetworkInputError(f"no peer group {group_id!r} among your boroughs' groups today")
    members, identity = sorted(match[0]), match[1]
    category = nx.get_node_attributes(graph, "subject_category")
    adults = sorted({n for m in members for n in graph.neighbors(m) if category.get(n) == ADULT})
    drawn = graph.subgraph(members + adults)
    edges = [(a, b) for a, b in drawn.edges() if CHILD in (category.get(a), category.get(b))]
    evidence = _evidence_rows(graph, edges)
    visits = person_places(store, as_of=graph.graph.get("as_of"), graph=graph)
    mine = visits[visits.person_id.isin(members)]
    namer = PlaceNamer(named_places(store))
    places = []
    for cell, part in mine.groupby("cell"):
        named = namer.near([cell], limit=1)
        places.append({"cell": cell, "name": named[0] if named else "", "visits": len(part),
                       "people": part.person_id.nunique(), "last": str(part.date.max())})
    places.sort(key=lambda p: (-p["visits"], p["cell"]))
    outline = [b["geometry"] for b in store.boundaries(("borough",)) if b["code"] in set(mine.borough)]
    place_map = figures.cell_map_svg(outlines=outline, cells={p["cell"]: figures.CLASSES[2] for p in places},
                                     points=[(*h3cells.centre(p["cell"]), str(k)) for k, p in
                                             enumerate(places[:9], start=1)],
                                     width=420, height=320, title=f"places of {group_id}",
                                     legend=[(figures.CLASSES[2], "where members were found or involved")])
    timeline = []
    names = _names(store)
    for member, rows in child_timelines(store, graph, members).items():
        for r in rows.itertuples():
            if r.kind != "link":
                timeline.append({"date": f"{r.date:%Y-%m-%d}", "child": member, "kind": r.kind,
                                 "what": with_borough_names(r.detail, names), "record": r.record})
    for row in evidence:
        if not row["other_is_adult"]:
            timeline.append({"date": row["date"], "child": row["child"], "kind": "link",
                             "what": f"{row['type']} with {row['other']} ({row['grade']}, {row['source']})",
                             "record": row["record"]})
    timeline.sort(key=lambda r: (r["date"], r["child"]), reverse=True)
    return {"group": group_id, "status": identity.status, "note": identity.note, "children": members,
            "home_codes": sorted({home.get(m) for m in members if home.get(m) in set(boroughs)}),
            "adults": adults, "boroughs": sorted({names.get(home.get(m) or "", "") for m in members}),
            "svg": figures.network_svg(drawn, link_href=lambda a, b: "#" + evidence_anchor(a, b),
                                       title=f"peer group {group_id}"),
            "child_evidence": [r for r in evidence if not r["other_is_adult"]],
            "adult_evidence": [r for r in evidence if r["other_is_adult"]],
            "places": places, "place_map": place_map, "timeline": timeline, "people": members + adults,
            "new_since": str(pd.Timestamp(since).date()) if since is not None else None}


def child_view(store: Store, graph: nx.Graph, person: str, *, hops: int = 2, as_of=None) -> dict:
    """One child: the ego network drawn (``hops`` links), every link's evidence, the timeline, escalation with its
    reasons, places, and the other boroughs involved."""
    if person not in graph or graph.nodes[person]["subject_category"] != CHILD:
        raise NetworkInputError(f"{person!r} is not a child in the network today")
    ego = ego_network(graph, person, hops=hops)
    category = nx.get_node_attributes(graph, "subject_category")
    home = nx.get_node_attributes(graph, "home_borough")
    edges = [(a, b) for a, b in ego.graph.edges() if CHILD in (category.get(a), category.get(b))]
    evidence = _evidence_rows(graph, edges)
    as_of = as_of or graph.graph.get("as_of")
    # the child and the children around them, whose flags the new-link rule reads: one read of the store
    timelines = child_timelines(store, graph, [person, *ego.children])
    timeline = timelines[person]
    reasons = flag_children(store, graph, as_of=as_of, people=list(timelines), timelines=timelines).get(person, [])
    visits = person_places(store, as_of=as_of, graph=graph)
    mine = visits[visits.person_id == person]
    namer = PlaceNamer(named_places(store))
    names = _names(store)
    places = [{"cell": cell, "name": (namer.near([cell], limit=1) or [""])[0], "visits": len(part),
               "borough": names.get(part.borough.iloc[0], part.borough.iloc[0]), "last": str(part.date.max())}
              for cell, part in mine.groupby("cell")]
    places.sort(key=lambda p: (-p["visits"], p["cell"]))
    others = sorted({names.get(home.get(n) or "", "") for n in ego.graph if home.get(n) != home.get(person)}
                    | {p["borough"] for p in places if p["borough"] != names.get(home.get(person), "")})
    return {"person": person, "home_borough": names.get(home.get(person), home.get(person)), "hops": hops,
            "home_code": home.get(person),
            "svg": figures.network_svg(ego.graph, focus=person, link_href=lambda a, b: "#" + evidence_anchor(a, b),
                                       title=f"network of {person}"),
            "children": ego.children, "adults": ego.adults_posing_risk,
            "child_evidence": [r for r in evidence if not r["other_is_adult"]],
            "adult_evidence": [r for r in evidence if r["other_is_adult"]],
            "timeline": [{"date": f"{r.date:%Y-%m-%d}", "kind": r.kind, "what": with_borough_names(r.detail, names),
                          "risk": r.risk if isinstance(r.risk, str) else "",  # NaN for links and incidents
                          "record": r.record} for r in timeline.iloc[::-1].itertuples()],
            "escalation": reasons, "places": places, "other_boroughs": [o for o in others if o],
            "people": [person, *ego.children, *ego.adults_posing_risk]}


def place_view(store: Store, graph: nx.Graph, cell: str, *, start, end, res: int = 9) -> dict:
    """One place (an H3 cell): incidents by month and type, children found there after going missing, and the
    peer groups whose members were found or involved there."""
    try:
        if h3cells.resolution(cell) != res:
            raise NetworkInputError(f"give a resolution-{res} cell")
    except h3cells.CellError:
        raise NetworkInputError(f"{cell!r} is not an H3 cell") from None
    column = f"location_cell_{res}"
    incidents = store.read_layer("incidents", ["crime_id", "month", "crime_type", column],
                                 equals={column: h3cells.int_of(cell)})
    incidents["month"] = pd.to_datetime(incidents["month"])
    incidents = incidents[(incidents.month >= pd.Timestamp(start)) & (incidents.month < pd.Timestamp(end))]
    by_month = (incidents.assign(month=incidents.month.dt.strftime("%Y-%m"))
                .pivot_table(index="month", columns="crime_type", values="crime_id", aggfunc="count", fill_value=0)
                if len(incidents) else pd.DataFrame())
    visits = person_places(store, res=res, as_of=graph.graph.get("as_of"), start=start, end=end, graph=graph)
    here = visits[visits.cell == h3cells.hex_of(cell)]
    found = here[here.kind == "found"]
    groups, ids = identified_child_groups(store, graph)
    using = [{"group": i.group_id, "members_here": sorted(set(here.person_id) & set(g)), "size": len(g)}
             for g, i in zip(groups, ids) if set(here.person_id) & set(g)]
    namer = PlaceNamer(named_places(store))
    lat, lng = h3cells.centre(cell)
    return {"cell": h3cells.hex_of(cell), "name": (namer.near([cell], limit=1) or ["unnamed place"])[0],
            "lat": lat, "lng": lng, "incidents": len(incidents),
            "by_month": {"columns": [str(c) for c in by_month.columns],
                         "rows": [[m, *map(int, r)] for m, r in zip(by_month.index, by_month.to_numpy())]},
            "found": [{"date": str(r.date), "child": r.person_id, "record": r.record} for r in found.itertuples()],
            "groups": using, "people": sorted(set(here.person_id))}


def network_to_export(store: Store, graph: nx.Graph, *, borough: str, group: str | None = None,
                      child: str | None = None, hops: int = 2) -> tuple[nx.Graph, str]:
    """The part of the evidenced network an export holds, and its name: one peer group (its children and the
    adults who pose risk linked to them), one child's network within ``hops`` links, or the borough's people and
    everyone linked to them. A group or child outside ``borough`` is not found."""
    home = nx.get_node_attributes(graph, "home_borough")
    category = nx.get_node_attributes(graph, "subject_category")
    if group and child:
        raise NetworkInputError("export a group or a child, not both")
    if group:
        view = peer_group(store, graph, group, boroughs=[borough], since=None)
        return graph.subgraph(view["children"] + view["adults"]).copy(), f"group-{group}"
    if child:
        if child not in graph or home.get(child) != borough or category.get(child) != CHILD:
            raise NetworkInputError(f"{child!r} is not a child of {borough} in the network today")
        return ego_network(graph, child, hops=hops).graph.copy(), f"child-{child}"
    ours = [n for n in graph if home.get(n) == borough]
    return graph.subgraph(set(ours) | {m for n in ours for m in graph.neighbors(n)}).copy(), f"borough-{borough}"
