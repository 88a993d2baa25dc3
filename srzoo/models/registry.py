"""The registry of network families: their names, aliases, scales and forms, and how to build each.

The table is static and imports no torch: the family's module (`srzoo.models.<name>`) is imported
only when a network is built or folded, so that `srzoo --help` and usage errors answer at once.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Literal

from srzoo.errors import UsageError

if TYPE_CHECKING:
    from torch import nn

Form = Literal["inference", "training"]
SCALES: tuple[int, ...] = (2, 3, 4)


@dataclass(frozen=True)
class ModelFamily:
    """Everything the rest of srzoo needs to know about one network family.

    `build(scale, form)` returns a freshly initialised network (`builder` in `module`); `fold(model)`
    (`folder` in `module`, if any) turns a trained training-form network into an equivalent
    inference-form one (re-parameterisation).
    `locality` tells the tiler how far a pixel's output depends on the input: "local" (a finite
    receptive field), or "global" (ESA pooling / image-wide statistics).
    """

    name: str
    title: str
    aliases: tuple[str, ...]
    module: str
    builder: str
    forms: tuple[Form, ...] = ("inference",)
    folder: str | None = None
    min_input_size: int = 1
    locality: Literal["local", "global"] = "local"
    scales: tuple[int, ...] = field(default=SCALES)

    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def build(self, scale: int, form: Form) -> nn.Module:
        """A freshly initialised network (imports the family's module, and torch, on first use)."""
        return getattr(importlib.import_module(self.module), self.builder)(scale, form)

    @property
    def fold(self) -> Callable[[nn.Module], nn.Module] | None:
        """The re-parameterisation from the training to the inference form, if the family has one."""
        return getattr(importlib.import_module(self.module), self.folder) if self.folder else None


_FAMILIES: dict[str, ModelFamily] = {}
_ALIASES: dict[str, str] = {}


def _normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def register(family: ModelFamily) -> ModelFamily:
    """Add a family to the registry (the table below)."""
    for alias in family.names():
        key = _normalise(alias)
        if key in _ALIASES and _ALIASES[key] != family.name:
            raise ValueError(f"alias {alias!r} is already taken by {_ALIASES[key]!r}")
        _ALIASES[key] = family.name
    _FAMILIES[family.name] = family
    return family


for _family in (
    ModelFamily(name="aidn", title="AIDN", aliases=("arfdn", "aidn-ntire22"), module="srzoo.models.aidn",
                builder="build", min_input_size=15, locality="global"),
    ModelFamily(name="alkdn", title="ALKDNet", aliases=("alkdnet",), module="srzoo.models.alkdn",
                builder="build", min_input_size=13, locality="global"),
    ModelFamily(name="ddistill", title="DDistill-SR", aliases=("ddistill-sr", "ddistillsr"),
                module="srzoo.models.ddistill", builder="build", forms=("training", "inference"),
                folder="fold_ddistill", min_input_size=15, locality="global"),
    ModelFamily(name="lkdn", title="LKDN", aliases=("lkdnet",), module="srzoo.models.lkdn",
                builder="build_lkdn"),
    ModelFamily(name="lkdn-s", title="LKDN-S", aliases=("lkdns", "lkdnets"), module="srzoo.models.lkdn",
                builder="build_lkdn_s", forms=("training", "inference"), folder="fold_lkdn"),
):
    register(_family)


def list_families() -> list[ModelFamily]:
    """All registered families, in registration order."""
    return list(_FAMILIES.values())


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
