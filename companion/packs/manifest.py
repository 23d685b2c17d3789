"""A pack's manifest (``manifest.json``): what is in the pack, who made it, and each file's SHA-256.

    {"format": "companion-pack", "format_version": 1, "name": "evening-neck", "title": "Evening neck",
     "author": "Dr. A. Example", "created": "2026-12-03T14:05:00Z",
     "files": {"routine.toml": "<sha256>", "clips/settle-1.flac": "<sha256>", ...}}

Every file of the pack but the manifest is listed, and nothing else is: an installer accepts a pack only
when the files it holds and the manifest's list are the same set and every hash matches.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from companion.errors import BadInputError

FORMAT = "companion-pack"
FORMAT_VERSION = 1
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_TEXT_LIMIT = 200          # characters of title and author


@dataclass(frozen=True)
class Manifest:
    name: str
    title: str
    author: str
    created: str
    files: dict[str, str]      # path inside the pack -> sha256 (hex)

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, "name": self.name,
                           "title": self.title, "author": self.author, "created": self.created,
                           "files": dict(sorted(self.files.items()))}, indent=2, ensure_ascii=False) + "\n"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pack_name(text: str) -> str:
    """A pack name from a file name or title: lower case, a-z 0-9 and '-'."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:63].strip("-")
    return slug or "routine"


def parse_manifest(raw: bytes, where: str) -> Manifest:
    """Validate a manifest's bytes; every problem is one BadInputError naming ``where`` and the key."""
    try:
        data: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise BadInputError(f"{where}: manifest.json is not valid JSON: {err}") from err
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BadInputError(f"{where}: manifest.json is not a companion pack manifest (format '{FORMAT}')")
    if data.get("format_version") != FORMAT_VERSION:
        raise BadInputError(f"{where}: pack format version {data.get('format_version')!r} is not supported "
                            f"(this companion reads version {FORMAT_VERSION})", hint="update companion")
    name = data.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise BadInputError(f"{where}: manifest name {name!r} is not allowed (a-z, 0-9 and '-', at most 63)")
    texts = {}
    for key in ("title", "author", "created"):
        value = data.get(key)
        if not isinstance(value, str) or not value.strip() or len(value) > _TEXT_LIMIT:
            raise BadInputError(f"{where}: manifest '{key}' must be a text of 1 to {_TEXT_LIMIT} characters")
        texts[key] = value.strip()
    files = data.get("files")
    if not isinstance(files, dict) or not files:
        raise BadInputError(f"{where}: manifest 'files' must list the pack's files and their sha256")
    for path, digest in files.items():
        if not isinstance(digest, str) or not _SHA256_RE.match(digest):
            raise BadInputError(f"{where}: manifest hash of {path!r} is not a sha256 in hex")
    return Manifest(name=name, files=dict(files), **texts)
