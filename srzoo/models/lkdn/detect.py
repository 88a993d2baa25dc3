"""Recognises LKDN and LKDN-S state dicts (either form): the width tells the two apart."""

from __future__ import annotations

from srzoo.models.family import Reading, Shapes, shuffle_scale

_WIDTHS = {56: "lkdn", 42: "lkdn-s"}


def read(shapes: Shapes) -> Reading | None:
    """LKDN (56 channels) or LKDN-S (42), the scale from the upsampler, the form from its branches."""
    head = shapes.get("fea_conv.pw.weight")
    if head is None or "c_up.weight" in shapes:  # ALKDNet shares the head; its upsampler is `c_up`
        return None
    training = "upsampler.conv3.weight" in shapes
    upsampler = shapes.get("upsampler.conv3.weight" if training else "upsampler.0.weight")
    family = _WIDTHS.get(head[0])
    scale = shuffle_scale(upsampler[0]) if upsampler else None
    if family is None or scale is None:
        return None
    return Reading(family, scale, "training" if training else "inference")
