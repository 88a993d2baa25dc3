"""The registry of network families: names, aliases and lookup (no torch).

Each family states its own facts in its package (`srzoo.models.<package>.FAMILIES`); this module
only collects them, so adding a family is one folder and one name in the import below.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from srzoo.errors import UsageError
from srzoo.models import aidn, alkdn, ddistill, lkdn
from srzoo.models.family import Form, ModelFamily

if TYPE_CHECKING:
    from torch import nn

_FAMILIES: dict[str, ModelFamily] = {}
_ALIASES: dict[str, str] = {}


def _normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _register(family: ModelFamily) -> None:
    for alias in family.names():
        key = _normalise(alias)
        if key in _ALIASES and _ALIASES[key] != family.name:
            raise ValueError(f"alias {alias!r} is already taken by {_ALIASES[key]!r}")
        _ALIASES[key] = family.name
    _FAMILIES[family.name] = family


for _package in (aidn, alkdn, ddistill, lkdn):
    for _family in _package.FAMILIES:
        _register(_family)


def list_families() -> list[ModelFamily]:
    """srzoo's own families, in registration order."""
    return [family for family in _FAMILIES.values() if family.source == "srzoo"]


def register_external(family: ModelFamily) -> ModelFamily:
    """Make a loaded network of another architecture (`srzoo.models.external`) known by its name
    for the rest of this process; one that shares a name with srzoo's own families is refused."""
    known = _FAMILIES.get(family.name)
    if known is not None and known.source == "srzoo":
        raise UsageError(f"an architecture named {family.name!r} clashes with srzoo's own {known.title}")
    _FAMILIES.pop(family.name, None)
    _ALIASES[_normalise(family.name)] = family.name
    _FAMILIES[family.name] = family
    return family


def get_family(name: str) -> ModelFamily:
    """Look a family up by canonical name or alias; unknown names suggest the closest one."""
    key = _normalise(name)
    if key in _ALIASES:
        return _FAMILIES[_ALIASES[key]]
    close = difflib.get_close_matches(key, list(_ALIASES), n=1, cutoff=0.5)
    hint = f"; did you mean {_ALIASES[close[0]]!r}?" if close else ""
    known = ", ".join(_FAMILIES)
    raise UsageError(f"unknown model {name!r}{hint} (known: {known})")


def check_scale(family: ModelFamily, scale: int) -> None:
    """Raise a usage error when `family` has no x`scale` variant."""
    if scale not in family.scales:
        allowed = ", ".join(str(s) for s in family.scales)
        raise UsageError(f"{family.title} has no x{scale} variant (scales: {allowed})")


def build_model(name: str, scale: int, form: Form = "inference") -> nn.Module:
    """Build an (untrained) network of the named family at `scale` in the given form."""
    family = get_family(name)
    check_scale(family, scale)
    if form not in family.forms:
        raise UsageError(f"{family.title} has no {form} form (forms: {', '.join(family.forms)})")
    return family.build(scale, form)
