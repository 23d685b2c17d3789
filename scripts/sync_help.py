#!/usr/bin/env python3
"""Copy the README's help regions into companion/cli/topics/<topic>.md, the text `companion help TOPIC` prints.

The README is the one source: a region is the text between ``<!-- help:TOPIC -->`` and
``<!-- /help:TOPIC -->``. The package carries a copy (the README is not installed with it), and
tests/test_help.py fails when a copy and the README disagree. Run this after editing those parts.

    python scripts/sync_help.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REGION = re.compile(r"<!-- help:(?P<topic>[a-z-]+) -->\n(?P<text>.*?)<!-- /help:(?P=topic) -->", re.S)


def regions(readme: str) -> dict[str, str]:
    return {m.group("topic"): m.group("text").strip() + "\n" for m in REGION.finditer(readme)}


def main() -> int:
    folder = ROOT / "companion" / "cli" / "topics"
    found = regions((ROOT / "README.md").read_text(encoding="utf-8"))
    for stale in folder.glob("*.md"):
        if stale.stem not in found:
            stale.unlink()
    for topic, text in found.items():
        (folder / f"{topic}.md").write_text(text, encoding="utf-8")
    print(f"{len(found)} help topics: {', '.join(sorted(found))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
