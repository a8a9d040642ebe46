"""One home per concern, checked on the source: SQL only in the store, H3 only in the cells module, coordinate
systems only in the places module, Flask only in the web layer, and no block of code written twice."""

from __future__ import annotations

import ast
import re
from collections import defaultdict

from geoservice.config import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "geoservice"
MODULES = sorted(PACKAGE.rglob("*.py"))

#: library → where it may be imported (paths relative to the package).
HOMES = {
    "sqlalchemy": ("store/",),
    "h3": ("cells.py",),
    "h3ronpy": ("cells.py",),
    "pyproj": ("places.py",),
    "flask": ("web/", "__init__.py", "server.py"),
    "werkzeug": ("web/", "privacy/users.py", "__init__.py"),
    "gunicorn": ("server.py",),
    "waitress": ("server.py",),
    "dask": ("engine.py",),
    "distributed": ("engine.py",),
}


def _imports(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_each_library_is_imported_only_in_its_home():
    strays = []
    for path in MODULES:
        where = path.relative_to(PACKAGE).as_posix()
        for library in _imports(path) & set(HOMES):
            if not where.startswith(HOMES[library]):
                strays.append(f"{where} imports {library} (its home: {', '.join(HOMES[library])})")
    assert not strays, strays


def test_no_module_outside_the_store_writes_sql():
    sql = re.compile(r"""["'](?:\s*)(?:SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|CREATE TABLE|PRAGMA)\b""",
                     re.IGNORECASE)
    strays = [path.relative_to(PACKAGE).as_posix() for path in MODULES
              if not path.relative_to(PACKAGE).as_posix().startswith("store/") and sql.search(path.read_text())]
    assert not strays, strays


def _code_lines(path) -> list[tuple[int, str]]:
    """Lines that carry code, white space folded: no blank lines, comments, docstring-only lines, imports or lone
    punctuation (what an edit would have to copy to duplicate logic)."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = " ".join(line.split())
        if (not text or text.startswith(("#", "import ", "from ", '"""', "'''", "@")) or
                re.fullmatch(r"[\])}:,]+", text)):
            continue
        out.append((number, text))
    return out


RUN = 6  # lines


def test_no_block_of_code_is_written_twice():
    run = RUN
    seen = defaultdict(list)
    for path in MODULES:
        lines = _code_lines(path)
        for i in range(len(lines) - run + 1):
            block = "\n".join(text for _, text in lines[i:i + run])
            seen[block].append(f"{path.relative_to(PACKAGE).as_posix()}:{lines[i][0]}")
    repeated = {block: places for block, places in seen.items() if len(places) > 1}
    assert not repeated, "\n\n".join(f"{', '.join(places)}:\n{block}" for block, places in list(repeated.items())[:5])
