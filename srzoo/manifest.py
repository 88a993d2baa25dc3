"""The zoo manifest (`zoo.toml`): which weights exist for each (family, scale), and where."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from srzoo.errors import SrzooError

MANIFEST_PATH = Path(__file__).resolve().parent / "zoo.toml"


@lru_cache(maxsize=1)
def load_manifest(path: Path = MANIFEST_PATH) -> tuple[dict[str, Any], ...]:
    """All entries of the manifest, in file order."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SrzooError(f"cannot read the model manifest {path}: {exc}") from exc
    return tuple(data.get("models", ()))


def find_entry(family: str, scale: int) -> dict[str, Any] | None:
    """The manifest entry for a canonical family name and scale, or None."""
    for entry in load_manifest():
        if entry["family"] == family and entry["scale"] == scale:
            return entry
    return None
