"""Recognises AIDN state dicts: ARFDB blocks (`B1.c0_d`) and a sub-pixel upsampler."""

from __future__ import annotations

from srzoo.models.family import Reading, Shapes, shuffle_scale


def read(shapes: Shapes) -> Reading | None:
    """AIDN, its scale from `upsampler.0` (3 x scale^2 outputs); it has one form."""
    if "B1.c0_d.weight" not in shapes or "upsampler.0.weight" not in shapes:
        return None
    scale = shuffle_scale(shapes["upsampler.0.weight"][0])
    return Reading("aidn", scale, "inference") if scale else None
