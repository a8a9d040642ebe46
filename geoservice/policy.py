"""Who may see what: the one place that says it. Routes, map specs, the CLI and the audit view ask here.

Five roles, each user scoped to boroughs (GSS codes). A borough, or a person of a borough, outside the user's own is
treated as if it did not exist. Map products have a disclosure tier that decides both who may open them and which
layer kinds they may show at all: an ``aggregate`` map carries only suppressed counts of distinct people, counts of
public open data (a layer whose sensitivity is ``public``) and boundaries, so nothing person-level can reach a youth
worker however a spec is written.
"""

from __future__ import annotations

MACE_ANALYST, TASKING_OFFICER, YOUTH_WORKER, AUDITOR, ADMIN = ROLES = (
    "mace_analyst", "tasking_officer", "youth_worker", "auditor", "admin")

#: Person-level answers (peer groups, a person, linkage, network exports).
PERSON_ROLES = (MACE_ANALYST,)
#: Disproportionality tables (aggregate, suppressed): the analyst and the community safety partnership's tasking
#: officer. The children to protect listed beside them are person-level: PERSON_ROLES only.
DISPROPORTIONALITY_ROLES = (MACE_ANALYST, TASKING_OFFICER)
#: CSP tasking: where outreach is missing, the actions tasked, the tasking sheet (places, not people).
TASKING_ROLES = (TASKING_OFFICER, MACE_ANALYST)
#: Hot spots of the concern index (aggregate over places, not people).
HOTSPOT_ROLES = (MACE_ANALYST, TASKING_OFFICER)
#: What is loaded: layer row and quarantine counts.
DATA_ROLES = (ADMIN, MACE_ANALYST, AUDITOR)
#: Loading files through the service.
UPLOAD_ROLES = (ADMIN, MACE_ANALYST)
#: Loading reference geography (boundaries) through the service.
BOUNDARY_UPLOAD_ROLES = (ADMIN,)
#: The audit log.
AUDIT_ROLES = (AUDITOR, ADMIN)

#: Layer sensitivities that hold personal data: reviewed and erased by retention, refused at ingest past review.
#: Public open data (police.uk, places, boundaries) is neither.
PERSONAL_SENSITIVITIES = ("person", "aggregate")

#: Map tiers: who may open a map of each tier, and which layer kinds it may show.
TIER_ROLES = {"analyst": (MACE_ANALYST,), "tasking": (TASKING_OFFICER, MACE_ANALYST),
              "aggregate": (YOUTH_WORKER, TASKING_OFFICER, MACE_ANALYST)}
TIER_KINDS = {
    "analyst": {"hotspots", "counts", "emerging", "hotspot_areas", "group_places", "concern", "outreach", "gaps",
                "boundaries", "where_to_act"},
    "tasking": {"hotspots", "counts", "hotspot_areas", "concern", "outreach", "gaps", "boundaries", "where_to_act"},
    # public_counts: open data only (police.uk street crime), which is published at street level already
    "aggregate": {"distinct", "public_counts", "boundaries"},
}
#: The tier of each audience's maps.
AUDIENCE_TIERS = {MACE_ANALYST: "analyst", TASKING_OFFICER: "tasking", YOUTH_WORKER: "aggregate"}
#: Every role that may open some map.
MAP_ROLES = tuple(sorted({role for roles in TIER_ROLES.values() for role in roles}))


def may_open_map(roles, tier: str) -> bool:
    """May a user with ``roles`` open a map of ``tier``?"""
    return bool(set(roles) & set(TIER_ROLES[tier]))


def within(user_boroughs, boroughs) -> bool:
    """Are all ``boroughs`` among the user's? (An empty request is not.)"""
    boroughs = set(boroughs)
    return bool(boroughs) and None not in boroughs and boroughs <= set(user_boroughs)


def may_see_people(roles) -> bool:
    """May a user with ``roles`` see person-level answers (children named by their ids)?"""
    return bool(set(roles) & set(PERSON_ROLES))
