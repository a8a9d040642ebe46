"""The attributions a page, map or report carries: those of the sources it actually drew on.

Which sources a store holds is read from its batches: boundaries (the ONS and Ordnance Survey geography), police.uk
files (read in their own layout), OpenStreetMap points of interest (their layout), and batches made by
``geoservice synth``, whose people are fictional. A product names only what it used: on a council's real records
no page calls its people synthetic, and a store with synthetic batches always says so.
"""

from __future__ import annotations

ATTRIBUTIONS = {
    "boundaries": "Boundaries: contains Ordnance Survey and Office for National Statistics data © Crown copyright "
                  "and database right (Open Government Licence; Ordnance Survey data covered by the OS OpenData "
                  "Licence). GeoJSON packaging by Martin Chorley (github.com/martinjc/UK-GeoJSON), CC BY 4.0.",
    "crime": "Crime and stop and search: data.police.uk. Contains public sector information licensed under the Open "
             "Government Licence v3.0.",
    "places": "Points of interest: © OpenStreetMap contributors, ODbL 1.0.",
    "synthetic": "Synthetic data: the people, associations, missing episodes, survey answers, outreach sessions and "
                 "places here that geoservice synth made are synthetic: they describe no real person or place.",
}
#: The source a batch's file layout (``--format``) names.
FORMAT_SOURCES = {"police-uk": "crime", "osm-pois": "places"}


def attributions(*sources: str) -> list[str]:
    """The attribution lines for some sources (default all), in a stable order."""
    wanted = sources or tuple(ATTRIBUTIONS)
    unknown = set(wanted) - set(ATTRIBUTIONS)
    if unknown:
        raise KeyError(f"no attribution for {sorted(unknown)}; known: {sorted(ATTRIBUTIONS)}")
    return [text for key, text in ATTRIBUTIONS.items() if key in wanted]


def sources_of(origins) -> set[str]:
    """The sources behind batches given as (layer, format, synthetic) triples (``Store.batch_origins``)."""
    found = set()
    for layer, fmt, synthetic in origins:
        if synthetic:
            found.add("synthetic")
        elif layer == "boundaries":
            found.add("boundaries")
        elif fmt in FORMAT_SOURCES:
            found.add(FORMAT_SOURCES[fmt])
    return found


def attributions_for(store, layers=None) -> list[str]:
    """The attribution lines of what ``store`` holds in ``layers`` (default: every layer)."""
    sources = sources_of(store.batch_origins(layers))
    return attributions(*sources) if sources else []
