"""The package's rooms stay layered: a module imports only rooms in rows below its own (README table).

Read from the source with ``ast`` (imports inside functions count too), so a lazy upward import is
caught as surely as one at the top of a file.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "companion"


def rows_from_readme() -> dict[str, int]:
    """room -> row number (0 = top) from the README's layout table, e.g. ``| `terminal/`, `dsp/` | ...``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## For developers"):]
    rows: dict[str, int] = {}
    table_rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    for number, first_cell in enumerate(table_rows):
        for room in re.findall(r"`(\w+)/`", first_cell):
            rows[room] = number
    return rows


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every ``companion.*`` import in a file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            found += [(node.lineno, f"{base}.{alias.name}" if base == "companion" else base) for alias in node.names]
    return [(line, name) for line, name in found if name == "companion" or name.startswith("companion.")]


def room_of(dotted: str, rows: dict[str, int]) -> str | None:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in rows else None


def test_the_readme_table_names_every_room_in_the_package():
    rows = rows_from_readme()
    rooms = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} - {"routines"}
    assert set(rows) == rooms, "README 'For developers' table and companion/ disagree on the rooms"
    assert rows["cli"] == 0 and rows["terminal"] == rows["dsp"] == max(rows.values())


def test_no_module_imports_a_room_above_or_beside_its_own():
    rows = rows_from_readme()
    bottom = max(rows.values()) + 1          # companion/*.py (errors, durations, controls...): the floor
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        own = room_of(dotted, rows)
        own_row = rows[own] if own else (-1 if path.name == "__main__.py" else bottom)   # __main__: the entry
        for line, name in imported_modules(path):
            other = room_of(name, rows)
            if other is None or other == own:
                continue
            if rows[other] <= own_row:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {name} (row {rows[other]} <= {own_row})")
    assert not upward, "imports that point upward or sideways:\n" + "\n".join(upward)
