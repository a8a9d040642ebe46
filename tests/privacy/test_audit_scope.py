"""Whose events an auditor sees (issue 10): those of users whose boroughs all lie within the auditor's own; the
command line's and the service's own only when the auditor's boroughs cover the whole study area."""

from __future__ import annotations

import pytest

from geoservice import create_app
from geoservice.config import MERTON_AND_NEIGHBOURS
from geoservice.privacy.audit import events, record
from geoservice.privacy.users import add_user

from ..conftest import TEST_PASSWORD, sign_in

pytestmark = pytest.mark.postgres  # the database matters here: run on PostgreSQL too

MERTON, BROMLEY = "E09000024", "E09000006"
#: who acted, and the boroughs of those who are users (None: not a user of the service)
ACTORS = {"merton_analyst": [MERTON], "wide_analyst": [MERTON, BROMLEY], "cli:ops": None, "system": None,
          "retention": None, "former_user": None}


@pytest.fixture
def logged(store):
    for username, boroughs in ACTORS.items():
        if boroughs:
            add_user(store, username, TEST_PASSWORD, roles=["mace_analyst"], boroughs=boroughs)
        record(store, username=username, operation="consultation", objects=["C0001"],
               justification=f"work of {username}")
    return store


def _who(store, boroughs, **filters) -> set[str]:
    return {e["username"] for e in events(store, visible_to=boroughs, **filters)}


def test_a_borough_auditor_sees_only_users_within_their_boroughs(logged):
    assert _who(logged, [MERTON]) == {"merton_analyst"}
    assert _who(logged, [MERTON, BROMLEY]) == {"merton_analyst", "wide_analyst"}
    assert _who(logged, [BROMLEY]) == set()
    assert _who(logged, [MERTON], username="wide_analyst") == set(), "the user filter does not widen the scope"


def test_command_line_and_service_events_need_the_whole_study_area(logged):
    assert _who(logged, MERTON_AND_NEIGHBOURS) == {"merton_analyst", "cli:ops", "system", "retention",
                                                   "former_user"}
    assert _who(logged, [*MERTON_AND_NEIGHBOURS, BROMLEY]) == set(ACTORS)
    assert _who(logged, MERTON_AND_NEIGHBOURS[:-1]) == {"merton_analyst"}


def test_without_a_viewer_every_event_is_listed(logged):
    assert {e["username"] for e in events(logged)} == set(ACTORS)


def test_the_audit_page_shows_an_auditor_only_their_scope(logged, settings):
    app = create_app({"GEOSERVICE_SETTINGS": settings, "TESTING": True})
    try:
        client = app.test_client()
        sign_in(client, logged, "auditor", [MERTON], username="merton_auditor")
        page = client.get("/audit/").get_data(as_text=True)
        assert "work of merton_analyst" in page
        for hidden in ("wide_analyst", "cli:ops", "system", "retention", "former_user"):
            assert f"work of {hidden}" not in page, hidden
        assert client.get("/audit/?user=wide_analyst").get_data(as_text=True).count("work of") == 0
        assert "6 entries; the hash chain is\n  <strong>intact</strong>" in page, "the check covers the whole log"

        admin = app.test_client()
        sign_in(admin, logged, "admin", MERTON_AND_NEIGHBOURS, username="area_admin")
        page = admin.get("/audit/").get_data(as_text=True)
        assert "work of cli:ops" in page and "work of merton_analyst" in page
        assert "work of wide_analyst" not in page
    finally:
        app.extensions["geoservice_store"].engine.dispose()
