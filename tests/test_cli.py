"""The command line: help everywhere, readable summaries, errors without tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from geoservice.cli import main

COMMANDS = sorted(main.commands)


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_subcommand_has_help(command):
    args = [command, "--help"] if command else ["--help"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0
    assert "Usage:" in result.output and len(result.output.splitlines()) > 3


def test_commands_the_issue_names_exist():
    assert {"ingest", "rejected", "synth", "demo", "init-db", "layers", "batches", "serve"} <= set(COMMANDS)


def test_unknown_layer_is_a_clear_error(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("x\n1\n")
    result = CliRunner().invoke(main, ["--database", f"sqlite:///{tmp_path / 'db.sqlite'}", "ingest", "crimes",
                                       str(path)])
    assert result.exit_code == 2
    assert "no layer called 'crimes'" in result.output and "Traceback" not in result.output


def test_missing_file_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["--database", f"sqlite:///{tmp_path / 'db.sqlite'}", "ingest", "incidents",
                                       str(tmp_path / "nope.csv"), "--json"])
    assert result.exit_code == 2 and '"ok": false' in result.output and "no such file" in result.output


def test_layers_lists_counts(tmp_path):
    result = CliRunner().invoke(main, ["--database", f"sqlite:///{tmp_path / 'db.sqlite'}", "layers"])
    assert result.exit_code == 0
    specs = len(list((Path(__file__).parent.parent / "layers").glob("*.toml")))
    assert "incidents" in result.output and f"{specs} layers, 0 rows" in result.output


def test_unknown_batch_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["--database", f"sqlite:///{tmp_path / 'db.sqlite'}", "rejected", "abc"])
    assert result.exit_code == 2 and "no batch 'abc'" in result.output


def test_the_readme_examples_run(world_settings, tmp_path, monkeypatch):
    """Each analysis command the README shows runs as written (outputs redirected to a temporary folder)."""
    import re
    import shlex

    from geoservice.config import PROJECT_ROOT

    text = (PROJECT_ROOT / "README.md").read_text()
    block = re.search(r"```bash\ngeoservice init-db.*?```", text, re.S).group(0)
    lines = re.sub(r"\\\n\s*", "", block).splitlines()
    commands = [shlex.split(line.split(" #")[0]) for line in lines if line.startswith("geoservice ")]
    chosen = [c for c in commands if c[1] in ("hotspots", "linkage", "map", "missing-panel", "risk", "risk-bands",
                                              "disproportionality")]
    assert len(chosen) >= 8
    monkeypatch.chdir(tmp_path)
    for words in chosen:
        args = ["--database", world_settings.database_url, "--instance", str(world_settings.instance_path), *words[1:]]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, (words, result.output)


def test_user_commands_disable_enable_and_set_a_password(tmp_path, monkeypatch):
    from geoservice.config import Settings
    from geoservice.privacy.users import authenticate
    from geoservice.store.db import Store

    base = ["--database", f"sqlite:///{tmp_path / 'db.sqlite'}", "--instance", str(tmp_path / "instance"), "user"]
    monkeypatch.setenv("FIRST", "a first long password")
    monkeypatch.setenv("SECOND", "a second long password")
    runner = CliRunner()
    assert runner.invoke(main, base + ["add", "ana", "--role", "auditor", "--borough", "E09000024",
                                       "--password-env", "FIRST"]).exit_code == 0
    store = Store.from_settings(Settings.from_env(environ={}, database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                                                  instance_path=str(tmp_path / "instance")))
    try:
        assert runner.invoke(main, base + ["disable", "ana"]).exit_code == 0
        assert authenticate(store, "ana", "a first long password") is None
        assert runner.invoke(main, base + ["enable", "ana"]).exit_code == 0
        assert runner.invoke(main, base + ["password", "ana", "--password-env", "SECOND"]).exit_code == 0
        assert authenticate(store, "ana", "a first long password") is None
        assert authenticate(store, "ana", "a second long password").username == "ana"
        assert runner.invoke(main, base + ["disable", "nobody"]).exit_code == 2
    finally:
        store.engine.dispose()
