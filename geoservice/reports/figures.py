"""Static figures as SVG: a small map of cells and places, and a drawn network.

One drawing serves every medium: inline in the offline HTML pages and packs (links in a network open the evidence
of that link on the same page), and converted to vector graphics in the PDF packs. Nothing is fetched: a map here
is the borough outline, coloured hexagons and numbered places, with no tiles, so it prints and works offline.

Children and adults who pose risk are drawn apart by shape and colour (circles and squares; the palette is
Okabe-Ito, readable by colour-blind readers), and the legend says which is which.
"""

from __future__ import annotations

import math
from html import escape

import networkx as nx
import numpy as np

from .. import cells as h3cells
from ..network.build import ADULT

#: Okabe-Ito colours.
BLUE, ORANGE, GREEN, VERMILION, GREY = "#0072B2", "#E69F00", "#009E73", "#D55E00", "#999999"
#: Sequential classes for cell maps, light to dark (ColorBrewer Oranges 4).
CLASSES = ("#fdbe85", "#fd8d3c", "#e6550d", "#a63603")


def _attr(value) -> str:
    return escape(str(value), quote=True)


class _Frame:
    """Longitude and latitude to SVG pixels (equirectangular at the drawing's mean latitude; y down)."""

    def __init__(self, lng: np.ndarray, lat: np.ndarray, width: int, height: int, pad: int = 14):
        self.lat0 = float(np.mean(lat)) if len(lat) else 51.4
        squeeze = math.cos(math.radians(self.lat0))
        x, y = np.asarray(lng) * squeeze, -np.asarray(lat)
        self.x0, self.y0 = float(x.min()), float(y.min())
        span = max(float(x.max()) - self.x0, float(y.max()) - self.y0, 1e-9)
        self.scale = min(width - 2 * pad, height - 2 * pad) / span
        self.squeeze, self.pad = squeeze, pad

    def __call__(self, lng, lat) -> tuple[float, float]:
        return (self.pad + (lng * self.squeeze - self.x0) * self.scale,
                self.pad + (-lat - self.y0) * self.scale)


def _rings(geometry) -> list[np.ndarray]:
    polygons = getattr(geometry, "geoms", [geometry])
    return [np.asarray(p.exterior.coords) for p in polygons if hasattr(p, "exterior")]


def cell_map_svg(*, outlines=(), cells: dict | None = None, points=(), width: int = 520, height: int = 420,
                 title: str = "", legend=()) -> str:
    """A map: ``outlines`` (shapely polygons, drawn as grey lines), ``cells`` ({cell: colour}), ``points``
    ([(lat, lng, label)], drawn as numbered markers), and ``legend`` ([(colour, words)])."""
    cells = cells or {}
    rings = [ring for geometry in outlines for ring in _rings(geometry)]
    hexes = {cell: np.asarray([(lng, lat) for lat, lng in h3cells.boundary(cell)]) for cell in cells}
    every = [r for r in rings] + list(hexes.values()) + [np.array([[lng, lat]]) for lat, lng, _ in points]
    if not every:
        return _empty_svg(width, 60, "nothing to draw")
    stacked = np.vstack(every)
    frame = _Frame(stacked[:, 0], stacked[:, 1], width, height)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{_attr(title or "map")}" '
             'font-family="Helvetica, Arial, sans-serif">', f'<rect width="{width}" height="{height}" fill="#ffffff"/>']
    if title:
        parts.append(f"<title>{escape(title)}</title>")
    for cell, ring in hexes.items():
        xy = " ".join(f"{x:.1f},{y:.1f}" for x, y in (frame(lng, lat) for lng, lat in ring))
        parts.append(f'<polygon points="{xy}" fill="{_attr(cells[cell])}" stroke="#ffffff" stroke-width="0.4"/>')
    for ring in rings:
        xy = " ".join(f"{x:.1f},{y:.1f}" for x, y in (frame(lng, lat) for lng, lat in ring))
        parts.append(f'<polygon points="{xy}" fill="none" stroke="#555555" stroke-width="1"/>')
    for lat, lng, label in points:
        x, y = frame(lng, lat)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="9" fill="#000000" stroke="#ffffff" stroke-width="1.5"/>'
                     f'<text x="{x:.1f}" y="{y + 3:.1f}" font-size="7.5" text-anchor="middle" fill="#ffffff">'
                     f"{escape(str(label))}</text>")
    parts += _legend(legend, width, height)
    parts.append("</svg>")
    return "".join(parts)


def _legend(entries, width: int, height: int, shapes: dict | None = None) -> list[str]:
    out = []
    y = height - 8 - 14 * len(entries)
    for colour, words in entries:
        shape = (shapes or {}).get(words, "rect")
        if shape == "circle":
            out.append(f'<circle cx="14" cy="{y + 5}" r="5" fill="{_attr(colour)}"/>')
        else:
            out.append(f'<rect x="9" y="{y}" width="10" height="10" fill="{_attr(colour)}"/>')
        out.append(f'<text x="24" y="{y + 9}" font-size="10" fill="#222222">{escape(words)}</text>')
        y += 14
    return out


def _empty_svg(width: int, height: int, words: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}"><text x="10" y="{height // 2}" font-size="12" '
            f'font-family="Helvetica, Arial, sans-serif" fill="#555555">{escape(words)}</text></svg>')


def network_svg(graph: nx.Graph, *, focus: str | None = None, link_href=None, width: int = 520, height: int = 380,
                seed: int = 0, title: str = "") -> str:
    """The people of ``graph`` (a ``graph_from_evidence`` subgraph) and their links: children as blue circles,
    adults who pose risk as vermilion squares, ``focus`` ringed; a link's width grows with its evidence items and
    ``link_href(a, b)`` (when given) makes it a link to that evidence. Laid out by a seeded spring layout."""
    if graph.number_of_nodes() == 0:
        return _empty_svg(width, 40, "no evidenced links in force")
    # a seeded layout still follows the order of the nodes, which can come from a set (so from the hash seed):
    # lay out a copy in a fixed order, so the same graph is drawn the same way in every process
    ordered = graph.__class__()
    ordered.add_nodes_from(sorted(graph.nodes, key=str))
    ordered.add_edges_from(graph.edges(data=True))
    layout = nx.spring_layout(ordered, seed=seed, k=1.6 / math.sqrt(graph.number_of_nodes()))
    xy = np.array(list(layout.values())) if layout else np.zeros((1, 2))
    low, high = xy.min(axis=0), xy.max(axis=0)
    span = np.where(high - low > 1e-9, high - low, 1.0)
    pad, legend_h = 28, 34

    def at(node) -> tuple[float, float]:
        p = (np.asarray(layout[node]) - low) / span
        return pad + p[0] * (width - 2 * pad - 50), pad + p[1] * (height - 2 * pad - legend_h)  # 50: labels

    category = nx.get_node_attributes(graph, "subject_category")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{_attr(title or "network")}" '
             'font-family="Helvetica, Arial, sans-serif">', f'<rect width="{width}" height="{height}" fill="#ffffff"/>']
    if title:
        parts.append(f"<title>{escape(title)}</title>")
    edges = [(*sorted((a, b), key=str), data) for a, b, data in graph.edges(data=True)]  # each drawn one way round
    for a, b, data in sorted(edges, key=lambda e: (str(e[0]), str(e[1]))):
        (x1, y1), (x2, y2) = at(a), at(b)
        items = len(data.get("evidence", [])) or 1
        adult = ADULT in (category.get(a), category.get(b))
        line = (f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                f'stroke="{VERMILION if adult else GREY}" stroke-width="{min(1 + items, 6)}" stroke-opacity="0.8">'
                f"<title>{escape(f'{a} – {b}: {items} evidence item(s)')}</title></line>")
        parts.append(f'<a href="{_attr(link_href(a, b))}">{line}</a>' if link_href else line)
    for node in sorted(graph.nodes, key=str):
        x, y = at(node)
        ring = ' stroke="#000000" stroke-width="3"' if node == focus else ' stroke="#ffffff" stroke-width="1"'
        if category.get(node) == ADULT:
            parts.append(f'<rect x="{x - 7:.1f}" y="{y - 7:.1f}" width="14" height="14" fill="{VERMILION}"{ring}/>')
        else:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="7" fill="{BLUE}"{ring}/>')
        parts.append(f'<text x="{x + 10:.1f}" y="{y + 4:.1f}" font-size="10" fill="#222222">{escape(str(node))}</text>')
    parts += _legend([(BLUE, "child at risk"), (VERMILION, "adult who poses risk")], width, height,
                     shapes={"child at risk": "circle"})
    parts.append("</svg>")
    return "".join(parts)



def before_after_chart_svg(months, treated, comparison, start: str, *, width: int = 560, height: int = 240,
                           title: str = "") -> str:
    """Monthly counts of a treated area (solid blue line, dots) and its comparison scaled to the treated area's level
    before the start (dashed orange line), with the start marked by a vertical line: the chart of an evaluation."""
    months = [str(m) for m in months]
    treated = np.asarray(treated, dtype=float)
    comparison = np.asarray(comparison, dtype=float)
    if not months:
        return _empty_svg(width, 40, "no months to draw")
    left, right, top, bottom = 44, 12, 24, 52
    top_value = max(float(np.nanmax(np.concatenate([treated, comparison]))), 1.0) * 1.1
    step = (width - left - right) / max(len(months) - 1, 1)

    def x(i) -> float:
        return left + i * step

    def y(v) -> float:
        return top + (1 - v / top_value) * (height - top - bottom)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{_attr(title or "monthly counts")}" '
             'font-family="Helvetica, Arial, sans-serif">', f'<rect width="{width}" height="{height}" fill="#ffffff"/>']
    if title:
        parts.append(f"<title>{escape(title)}</title>")
    for tick in np.linspace(0, top_value / 1.1, 4):
        parts.append(f'<line x1="{left}" y1="{y(tick):.1f}" x2="{width - right}" y2="{y(tick):.1f}" stroke="#e5e5e5"/>'
                     f'<text x="{left - 6}" y="{y(tick) + 3:.1f}" font-size="9" text-anchor="end" fill="#444444">'
                     f"{tick:.0f}</text>")
    for i, month in enumerate(months):
        if len(months) <= 14 or i % 2 == 0:
            parts.append(f'<text x="{x(i):.1f}" y="{height - bottom + 14}" font-size="8.5" text-anchor="middle" '
                         f'fill="#444444">{escape(month)}</text>')
    if start in months:
        at = x(months.index(start)) - step / 2
        parts.append(f'<line x1="{at:.1f}" y1="{top - 8}" x2="{at:.1f}" y2="{height - bottom}" stroke="#000000" '
                     f'stroke-dasharray="2,2"/><text x="{at + 3:.1f}" y="{top - 10}" font-size="9" fill="#000000">'
                     "start</text>")

    def path(values) -> str:
        points = [f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values) if np.isfinite(v)]
        return " ".join(points)

    parts.append(f'<polyline points="{path(comparison)}" fill="none" stroke="{ORANGE}" stroke-width="2" '
                 'stroke-dasharray="6,3"/>')
    parts.append(f'<polyline points="{path(treated)}" fill="none" stroke="{BLUE}" stroke-width="2"/>')
    parts += [f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{BLUE}"><title>{escape(months[i])}: '
              f"{v:g}</title></circle>" for i, v in enumerate(treated)]
    legend_y = height - 14
    parts.append(f'<line x1="{left}" y1="{legend_y}" x2="{left + 22}" y2="{legend_y}" stroke="{BLUE}" '
                 f'stroke-width="2"/><text x="{left + 27}" y="{legend_y + 3}" font-size="10" fill="#222222">'
                 "treated area</text>")
    parts.append(f'<line x1="{left + 120}" y1="{legend_y}" x2="{left + 142}" y2="{legend_y}" stroke="{ORANGE}" '
                 f'stroke-width="2" stroke-dasharray="6,3"/><text x="{left + 147}" y="{legend_y + 3}" font-size="10" '
                 'fill="#222222">comparison areas, scaled to the treated level before the start</text>')
    parts.append("</svg>")
    return "".join(parts)
