"""The attributions every page, map and report carries (from the shared data's README), in one place."""

from __future__ import annotations

ATTRIBUTIONS = {
    "boundaries": "Boundaries: contains Ordnance Survey and Office for National Statistics data © Crown copyright "
                  "and database right (Open Government Licence; Ordnance Survey data covered by the OS OpenData "
                  "Licence). GeoJSON packaging by Martin Chorley (github.com/martinjc/UK-GeoJSON), CC BY 4.0.",
    "crime": "Crime and stop and search: data.police.uk. Contains public sector information licensed under the Open "
             "Government Licence v3.0.",
    "places": "Points of interest: © OpenStreetMap contributors, ODbL 1.0.",
    "synthetic": "People, associations, missing episodes, survey answers and outreach sessions in the demo are "
                 "synthetic: they describe no real person.",
}


def attributions(*sources: str) -> list[str]:
    """The attribution lines for some sources (default all), in a stable order."""
    wanted = sources or tuple(ATTRIBUTIONS)
    unknown = set(wanted) - set(ATTRIBUTIONS)
    if unknown:
        raise KeyError(f"no attribution for {sorted(unknown)}; known: {sorted(ATTRIBUTIONS)}")
    return [text for key, text in ATTRIBUTIONS.items() if key in wanted]
