"""What a network family is, as plain facts (no torch): `ModelFamily`, and the `Form` and scale types.

A family lives in its own package `srzoo.models.<package>`: `__init__.py` states its facts as
`FAMILIES` (this class, no torch), `network.py` builds it, `program.py` is its breadth-first
program for exact tiling, `recipe.py` its training recipe and `detect.py` recognises its state
dicts. The methods below import those modules only when they are used.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from torch import nn

    from srzoo.engine.breadth_first import Step
    from srzoo.train.recipes import Recipe

Form = Literal["inference", "training"]
Locality = Literal["local", "global"]
SCALES: tuple[int, ...] = (2, 3, 4)
Shapes = Mapping[str, tuple[int, ...]]


@dataclass(frozen=True)
class Reading:
    """What a state dict says about itself: the family, its scale and its form."""

    family: str
    scale: int
    form: Form


def shuffle_scale(out_channels: int, colours: int = 3) -> int | None:
    """The scale of a sub-pixel upsampler conv with `out_channels` outputs (colours x scale^2)."""
    scale = round((out_channels / colours) ** 0.5)
    return scale if scale > 0 and colours * scale * scale == out_channels else None


@dataclass(frozen=True)
class ModelFamily:
    """Everything the rest of srzoo needs to know about one network family.

    Network: `builder` (a function `(scale, form) -> nn.Module` in the package's `network.py`),
    `folder` (the re-parameterisation from the training to the inference form, if any),
    `min_input_size` (LR px), `locality` ("local": a finite receptive field; "global": ESA
    pooling or image-wide statistics).
    Engine: `fp16` (safe in float16), `bf16` (safe in bfloat16), `bytes_per_px` (peak memory per
    LR pixel in float32 at x4, measured on the CPU with a 1.5x margin), `channels_last` (device
    types on which that memory format measured faster), `openvino` (precisions in which the
    OpenVINO back-end measured faster than torch).
    Networks of other architectures (`source="spandrel"`, see `srzoo.models.external`) have no
    package: their `receptive_radius` is measured (None: image-global) and `multiple_of` is the
    input size they need a multiple of.
    """

    name: str
    title: str
    aliases: tuple[str, ...]
    package: str
    builder: str = "build"
    forms: tuple[Form, ...] = ("inference",)
    folder: str | None = None
    min_input_size: int = 1
    locality: Locality = "local"
    scales: tuple[int, ...] = field(default=SCALES)
    fp16: bool = False
    bf16: bool = True
    bytes_per_px: int = 16_000
    channels_last: frozenset[str] = frozenset()
    openvino: frozenset[str] = frozenset()
    source: str = "srzoo"
    receptive_radius: int | None = None
    multiple_of: int = 1

    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def _module(self, name: str) -> Any:
        return importlib.import_module(f"{self.package}.{name}")

    def build(self, scale: int, form: Form) -> nn.Module:
        """A freshly initialised network (imports the family's network, and torch, on first use)."""
        return getattr(self._module("network"), self.builder)(scale, form)

    def fold(self, model: nn.Module) -> nn.Module:
        """The inference form of a training-form network (the network itself if there is no folder)."""
        return getattr(self._module("network"), self.folder)(model) if self.folder else model

    def program(self, net: nn.Module) -> list[Step] | None:
        """The breadth-first program of an inference-form network of this family (None: none)."""
        return self._module("program").program(net) if self.source == "srzoo" else None

    def recipe(self, scale: int) -> Recipe:
        """The family's published training recipe at `scale`."""
        return self._module("recipe").recipe(self.name, scale)

    def read(self, shapes: Shapes) -> Reading | None:
        """What a state dict's key -> shape map says, if it is one of this family's (else None)."""
        if self.source != "srzoo":
            return None
        reading = self._module("detect").read(shapes)
        return reading if reading is not None and reading.family == self.name else None
