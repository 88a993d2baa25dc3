"""Recognises ALKDNet state dicts: a BSConv head and the `c_up` sub-pixel conv."""

from __future__ import annotations

from srzoo.models.family import Reading, Shapes, shuffle_scale


def read(shapes: Shapes) -> Reading | None:
    """ALKDNet, its scale from `c_up` (3 x scale^2 outputs); it has one form."""
    if "fea_conv.pw.weight" not in shapes or "c_up.weight" not in shapes:
        return None
    scale = shuffle_scale(shapes["c_up.weight"][0])
    return Reading("alkdn", scale, "inference") if scale else None
