"""Recognising a state dict: which family, scale and form it holds, from its keys and shapes.

`unwrap` takes a loaded checkpoint apart the way BasicSR-style trainers wrap it (`params_ema`,
`params`, `state_dict`, `model`; `module.` prefixes); `read_state` asks every family's
`detect.read` in turn. No torch: shapes are plain tuples.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from srzoo.errors import SrzooError
from srzoo.models.family import Reading, Shapes
from srzoo.models.registry import list_families


class UnknownNetwork(SrzooError):
    """A state dict of none of srzoo's families (perhaps another architecture: `srzoo.models.external`)."""


WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model")  # most preferred first
PREFIXES = ("module.",)


def unwrap(raw: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """The flat key -> tensor dict inside a checkpoint, and the wrapper key it was under ("" for none)."""
    key = next((k for k in WRAPPER_KEYS if isinstance(raw.get(k), Mapping)), "")
    state = raw[key] if key else raw
    return {_strip(k): v for k, v in state.items() if hasattr(v, "shape")}, key


def _strip(key: str) -> str:
    for prefix in PREFIXES:
        key = key.removeprefix(prefix)
    return key


def read_state(shapes: Shapes, source: str = "the weights") -> Reading:
    """The family, scale and form of a state dict (key -> shape); one clear error if none fits."""
    for family in list_families():
        reading = family.read(shapes)
        if reading is not None:
            return reading
    known = ", ".join(f.title for f in list_families())
    raise UnknownNetwork(f"{source}: not a network srzoo knows ({len(shapes)} tensors; expected the state dict of "
                     f"one of {known}, in either form)")
