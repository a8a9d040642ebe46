"""A deployed store whose layer specs grew (new optional fields, a new layer) is upgraded in place, its rows kept;
one that would need a required column is refused with what to do."""

from __future__ import annotations

import dataclasses
import shutil

import pytest
from click.testing import CliRunner

from geoservice.cli import main
from geoservice.config import PROJECT_ROOT
from geoservice.errors import SetupError
from geoservice.ingest.pipeline import ingest_file
from geoservice.store.db import Store

pytestmark = pytest.mark.postgres

NOTES = """name = "notes"
sensitivity = "public"
key = ["note_id"]
retention = { years = 100 }
scope = "unscoped"

[[fields]]
name = "note_id"
required = true

[[fields]]
name = "words"
required = true
"""
GROWN = NOTES + """
[[fields]]
name = "topic"
allowed = ["place", "general"]

[[fields]]
name = "noted_on"
type = "date"
"""
REQUIRED = NOTES + """
[[fields]]
name = "author"
required = true
"""


def _specs(folder, notes: str, *extra: str):
    folder.mkdir(exist_ok=True)
    shutil.copy(PROJECT_ROOT / "layers" / "boundaries.toml", folder)
    (folder / "notes.toml").write_text(notes)
    for name in extra:
        (folder / f"{name}.toml").write_text(NOTES.replace('"notes"', f'"{name}"'))
    return folder


def _made(settings) -> None:
    """A store created with ``settings``' specs, then let go."""
    store = Store.from_settings(settings)
    store.init()
    store.engine.dispose()


def test_a_grown_spec_is_added_in_place_and_the_rows_kept(settings, tmp_path, write_csv):
    old = dataclasses.replace(settings, layers_dir=_specs(tmp_path / "old", NOTES))
    store = Store.from_settings(old)
    store.init()
    report = ingest_file(store, "notes", write_csv("notes.csv", ["note_id,words", "N1,kept"]), settings=old)
    assert report.accepted == 1
    store.engine.dispose()

    new = dataclasses.replace(settings, layers_dir=_specs(tmp_path / "new", GROWN, "tags"))
    grown = Store.from_settings(new)
    with pytest.raises(SetupError, match="init-db --upgrade"):
        grown.init()
    assert sorted(grown.upgrade()) == ["layer_notes.noted_on", "layer_notes.topic"]
    grown.init()  # now fits
    kept = grown.read_layer("notes", ["note_id", "words", "topic", "noted_on"])
    assert kept.note_id.tolist() == ["N1"] and kept.words.tolist() == ["kept"]
    assert kept.topic.isna().all() and kept.noted_on.isna().all(), "the new fields are empty on the rows held"
    assert grown.has_table("layer_tags"), "a new layer's table is made too"
    assert grown.upgrade() == [], "nothing more to add"
    report = ingest_file(grown, "notes", write_csv("more.csv", ["note_id,words,topic,noted_on",
                                                                 "N2,new,place,2025-01-02"]), settings=new)
    assert report.accepted == 1
    grown.engine.dispose()


def test_a_required_column_is_refused_with_what_to_do(settings, tmp_path):
    _made(dataclasses.replace(settings, layers_dir=_specs(tmp_path / "old", NOTES)))
    needs = Store.from_settings(dataclasses.replace(settings, layers_dir=_specs(tmp_path / "new", REQUIRED)))
    with pytest.raises(SetupError, match="--rebuild"):
        needs.init()
    with pytest.raises(SetupError, match="cannot add required columns"):
        needs.upgrade()
    needs.engine.dispose()


def test_the_command_adds_them(settings, tmp_path):
    _made(dataclasses.replace(settings, layers_dir=_specs(tmp_path / "old", NOTES)))
    env = {"GEOSERVICE_DATABASE_URL": settings.database_url, "GEOSERVICE_INSTANCE_PATH": str(settings.instance_path),
           "GEOSERVICE_LAYERS_DIR": str(_specs(tmp_path / "new", GROWN))}
    result = CliRunner().invoke(main, ["init-db", "--upgrade"], env=env)
    assert result.exit_code == 0 and "layer_notes.topic" in result.output, result.output
