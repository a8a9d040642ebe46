"""The JSON API for analysts and tasking officers. Every answer about people is audited with the user's reason.

- ``GET /api/hotspots?borough=&from=&to=&layer=&res=[&format=geojson]``: hot-spot areas, as JSON or GeoJSON.
  Aggregate; analysts and tasking officers.
- ``GET /api/peer-groups?borough=&why=``: peer groups with a child of the borough. Analysts; audited as a
  consultation.
- ``GET /api/people/<id>?why=``: one person and their evidenced links, each with its evidence. Analysts; a person
  of another borough is a 404; audited as a consultation.
- ``GET /api/linkage?borough=&from=&to=&why=``: the cross-borough linkage report. Analysts; needs a password
  confirmed in the last five minutes; audited as a combination.
- ``GET /api/openapi.json``: this API, described.
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, jsonify, request

from ..analysis.hotspot_areas import hotspot_report
from ..cells import geojson_polygon
from ..network.build import graph_from_evidence
from ..network.ego import ego_network
from ..network.identity import identified_child_groups
from ..network.places import person_places
from ..network.roles import group_summaries
from ..places import PlaceNamer, named_places
from ..privacy.audit import person_refs, record
from ..pseudonyms import pseudonym_key
from ..reports.linkage import SECTIONS, audited_linkage, linkage_report
from ..reports.render import plain, report_dict
from . import params
from ..policy import HOTSPOT_ROLES, PERSON_ROLES, ROLES
from .access import allow, current_user, fresh, in_scope
from .cache import EVERYTHING, Depends, graph_depends, product_cache, time_extents
from .store import get_store

bp = Blueprint("api", __name__)


def _audit(operation: str, objects, why: str, recipient: str | None = None) -> None:
    record(get_store(), username=current_user().username, operation=operation, objects=objects,
           justification=why, recipient=recipient)


def _key() -> bytes:
    """The pseudonym key, read once per app (every audited answer needs it)."""
    if "pseudonym_key" not in current_app.extensions:
        current_app.extensions["pseudonym_key"] = pseudonym_key(current_app.config["GEOSERVICE_SETTINGS"])
    return current_app.extensions["pseudonym_key"]


def _graph():
    """Today's evidenced network, shared by requests while the data and the day are unchanged."""
    from datetime import date

    return product_cache().get(("graph", date.today()), lambda: graph_from_evidence(get_store()), graph_depends())


def hotspot_layers(store, layer: str | None) -> set[str]:
    """The layers a hot-spot answer counts: the one asked for, or the concern index's components."""
    from ..analysis.counts import load_concern_index

    return {layer} if layer is not None else {c.layer for c in load_concern_index()} & set(store.specs)


def hotspot_depends(read: set[str], borough: str, res: int) -> tuple[Depends, ...]:
    """What a hot-spot answer depends on: its layers in its borough at its resolution, and the boundaries and
    places that name its areas, anywhere."""
    return Depends.on(read, [borough], res), Depends.on({"boundaries", "places"})


@bp.get("/api/hotspots")
@allow(*HOTSPOT_ROLES)
def hotspots():
    """Named hot-spot areas of the concern index (or one layer) for a borough and window."""
    store = get_store()
    borough = params.borough()
    res = params.whole("res", 9, store.resolutions)
    start, end = params.window()
    located = [name for name, spec in store.specs.items() if spec.locations]
    layer = params.choice("layer", located)
    fmt = params.choice("format", ("json", "geojson"), "json")
    read = hotspot_layers(store, layer)

    def build():
        cells, areas = hotspot_report(get_store(), boroughs=[borough], res=res, start=start, end=end, layer=layer)
        columns = ["area", "name", "ward_name", "n_cells", "cells", "lat", "lng", "value", "max_z", "min_q"]
        return {"ok": True, "settings": plain(cells.attrs["settings"]),
                "areas": [plain(r) for r in areas[columns].to_dict(orient="records")] if len(areas) else []}

    answer = product_cache().get(("hotspots", borough, res, start, end, layer, time_extents(read)), build,
                                 hotspot_depends(read, borough, res))
    if fmt == "geojson":  # each area as a MultiPolygon of its hexagons (lng, lat order)
        features = [{"type": "Feature",
                     "properties": {k: v for k, v in area.items() if k not in ("cells", "lat", "lng")},
                     "geometry": {"type": "MultiPolygon",
                                  "coordinates": [geojson_polygon(c) for c in area["cells"]]}}
                    for area in answer["areas"]]
        response = jsonify({"type": "FeatureCollection", "features": features, "settings": answer["settings"]})
        response.mimetype = "application/geo+json"
        return response
    return jsonify(answer)


@bp.get("/api/peer-groups")
@allow(*PERSON_ROLES)
def groups():
    """Peer groups with a child of the borough: children, linked adults apart, boroughs, places."""
    from datetime import date

    borough, why = params.borough(), params.why()

    def build():
        graph = _graph()
        home = {n: d.get("home_borough") for n, d in graph.nodes(data=True)}
        groups, ids = identified_child_groups(get_store(), graph, key=_key())
        chosen = [(g, i) for g, i in zip(groups, ids) if any(home[m] == borough for m in g)]
        visits = person_places(get_store(), as_of=date.today(), graph=graph)
        return group_summaries(graph, [g for g, _ in chosen], ids=[i for _, i in chosen], visits=visits,
                               namer=PlaceNamer(named_places(get_store())))

    summary = product_cache().get(("peer groups", borough, date.today()), build, EVERYTHING)
    people = sorted({p for row in summary.itertuples() for p in row.children + row.adults_posing_risk})
    _audit("consultation", [f"peer-groups:{borough}", *person_refs(_key(), people)], why)
    return jsonify({"ok": True, "borough": borough,
                    "groups": [plain(r) for r in summary.to_dict(orient="records")]})


@bp.get("/api/people/<person_id>")
@allow(*PERSON_ROLES)
def person(person_id: str):
    """One person (of the user's boroughs) and their evidenced links, each with its evidence."""
    why = params.why()
    graph = _graph()
    if person_id not in graph:
        abort(404, description="not found")
    node = graph.nodes[person_id]
    in_scope(node.get("home_borough"))
    ego = ego_network(graph, person_id, hops=1)
    _audit("consultation", person_refs(_key(), [person_id]), why)
    return jsonify({"ok": True, "person": {"person_id": person_id, "subject_category": node["subject_category"],
                                           "home_borough": node["home_borough"]},
                    "links": [plain(r) for r in ego.links.to_dict(orient="records")]})


def _audited_linkage(share_with: str | None = None):
    """The linkage report the request asks for, made (and shared) as ``audited_linkage`` records it."""
    borough, why = params.borough(), params.why()
    start, end = params.window(required=True)
    since = params.day("since")
    if share_with is not None and share_with == borough:
        abort(400, description="share_with must be another borough than the report's own")
    from datetime import date

    def build():
        return linkage_report(get_store(), borough, start=start, end=end, since=since, as_of=date.today())

    report = product_cache().get(("linkage", borough, start, end, since, date.today()), build, EVERYTHING)
    return audited_linkage(get_store(), borough, start=start, end=end, since=since, share_with=share_with,
                           username=current_user().username, justification=why, key=_key(), report=report)


@bp.get("/api/linkage")
@allow(*PERSON_ROLES)
@fresh
def linkage():
    """The cross-borough linkage report of a borough (JSON)."""
    return jsonify({"ok": True, **report_dict(_audited_linkage(), SECTIONS)})


@bp.get("/reports/linkage")
@allow(*PERSON_ROLES)
@fresh
def linkage_page():
    """The linkage report as a page; with ``share_with``, the minimised version for that borough, a disclosure."""
    from ..reports.render import render_html

    share_with = params.gss("share_with") if request.args.get("share_with") else None
    report = _audited_linkage(share_with=share_with)
    title = f"Cross-borough linkage: {report.about['borough_name']}"
    if report.about.get("shared_with"):
        title += f", minimised for {report.about['shared_with_name']}"
    return render_html(report, SECTIONS, title=title)


EXPORT_FORMATS = {"graphml": ("application/graphml+xml", "to_graphml"), "gexf": ("application/gexf+xml", "to_gexf")}


@bp.get("/exports/network.<fmt>")
@allow(*PERSON_ROLES)
@fresh
def export_network(fmt: str):
    """The evidenced network around a borough's people (GraphML or GEXF, for Gephi), every edge with its
    evidence. The file leaves the service, so the export is audited as a disclosure to a file."""
    import tempfile
    from pathlib import Path

    from flask import Response

    from ..network import export

    if fmt not in EXPORT_FORMATS:
        abort(404, description=f"export formats: {', '.join(EXPORT_FORMATS)}")
    borough, why = params.borough(), params.why()
    graph = _graph()
    ours = [n for n, d in graph.nodes(data=True) if d.get("home_borough") == borough]
    keep = set(ours) | {m for n in ours for m in graph.neighbors(n)}
    sub = graph.subgraph(keep)
    _audit("disclosure", [f"network export:{borough}:{fmt}", *person_refs(_key(), sorted(sub.nodes))], why,
           recipient=f"file export ({fmt}) by {current_user().username}")
    mimetype, writer = EXPORT_FORMATS[fmt]
    with tempfile.TemporaryDirectory() as folder:
        path = getattr(export, writer)(sub, Path(folder) / f"network.{fmt}")
        data = path.read_bytes()
    return Response(data, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="network-{borough}.{fmt}"'})


OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "Places & Spaces API", "version": "1",
             "description": "Signed-in use only (session cookie from /login). Person-level answers need a reason "
                            "(why) and are audited."},
    "paths": {
        "/api/layers": {"get": {"summary": "Layers with row and quarantine counts"}},
        "/api/hotspots": {"get": {"summary": "Named hot-spot areas (format=geojson: a FeatureCollection)",
                                  "parameters": [{"name": n, "in": "query", "schema": {"type": "string"}}
                                                 for n in ("borough", "from", "to", "layer", "res", "format")]}},
        "/api/peer-groups": {"get": {"summary": "Peer groups with a child of the borough (audited)",
                                     "parameters": [{"name": n, "in": "query", "schema": {"type": "string"},
                                                     "required": n == "why"} for n in ("borough", "why")]}},
        "/api/people/{person_id}": {"get": {"summary": "One person and their evidenced links (audited)",
                                            "parameters": [{"name": "person_id", "in": "path", "required": True,
                                                            "schema": {"type": "string"}},
                                                           {"name": "why", "in": "query", "required": True,
                                                            "schema": {"type": "string"}}]}},
        "/api/linkage": {"get": {"summary": "Cross-borough linkage report (audited; password confirmed in the last "
                                            "5 minutes)",
                                 "parameters": [{"name": n, "in": "query", "schema": {"type": "string"},
                                                 "required": n in ("from", "to", "why")}
                                                for n in ("borough", "from", "to", "since", "why")]}},
        "/api/maps/{name}": {"get": {"summary": "A map product's data",
                                     "parameters": [{"name": "name", "in": "path", "required": True,
                                                     "schema": {"type": "string"}}]}},
    },
}


@bp.get("/api/openapi.json")
@allow(*ROLES)
def openapi():
    """This API, described as OpenAPI 3.1; each operation's ``x-roles`` are the roles its route declares."""
    views = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule): current_app.view_functions[rule.endpoint]
             for rule in current_app.url_map.iter_rules()}
    paths = {path: {method: {**operation, "x-roles": sorted(views[path].allowed_roles)}
                    for method, operation in operations.items()}
             for path, operations in OPENAPI["paths"].items()}
    return jsonify({**OPENAPI, "paths": paths})
