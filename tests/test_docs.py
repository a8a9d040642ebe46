"""The reference docs keep up with the code: every setting and every reason code is documented."""

from __future__ import annotations

import re

from geoservice.config import PROJECT_ROOT, SETTINGS
from geoservice.ingest.reasons import REASONS

DOCS = PROJECT_ROOT / "docs"


def test_every_setting_is_documented_with_its_default():
    text = (DOCS / "settings.md").read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| `GEOSERVICE_\w+` \| ([^|]+) \|", text, re.M)}
    for setting in SETTINGS:
        assert f"`GEOSERVICE_{setting.name.upper()}`" in text, setting.name
        assert setting.help, f"{setting.name} has help text"
        default = setting.default
        shown = "—" if default is None else "`" + str(default).replace(str(PROJECT_ROOT.parent), "<project>/..") \
            .replace("<project>/../" + PROJECT_ROOT.name, "<project>") + "`"
        assert rows.get(setting.name, "").strip() == shown, (setting.name, rows.get(setting.name), shown)
    assert set(rows) == {s.name for s in SETTINGS}, "the table documents exactly the settings declared"


def test_every_reason_code_is_documented():
    text = (DOCS / "reason-codes.md").read_text()
    for code in REASONS:
        assert f"`{code}`" in text, code


def test_every_layer_is_documented(specs):
    text = (DOCS / "layers.md").read_text()
    for name in specs:
        assert f"`{name}`" in text, name
