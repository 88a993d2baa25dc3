"""Recognises DDistill-SR state dicts: `upsamplerx<s>` names the scale, `dbb_reparam` the form."""

from __future__ import annotations

import re

from srzoo.models.family import Reading, Shapes

_UPSAMPLER = re.compile(r"upsamplerx(\d+)\.0\.weight")


def read(shapes: Shapes) -> Reading | None:
    """DDistill-SR at the scale its upsampler's name says; inference form when the dynamic units
    hold folded `dbb_reparam` convs, else training form (DBB branches)."""
    if "B1.c1_d.weight" not in shapes or "PAconv.weight" not in shapes:
        return None
    scales = [int(m[1]) for key in shapes if (m := _UPSAMPLER.fullmatch(key))]
    if len(scales) != 1:
        return None
    inference = any(".dbb_reparam." in key for key in shapes)
    return Reading("ddistill", scales[0], "inference" if inference else "training")
