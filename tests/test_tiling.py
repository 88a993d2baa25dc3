"""Tile geometry and feathered blending."""

from __future__ import annotations

import pytest
import torch

from srzoo.engine.tiling import Canvas, Span, plan_tiles, ramp, split_axis


@pytest.mark.parametrize("length,tile,overlap,align,min_size", [
    (100, 32, 8, 1, 1), (97, 30, 12, 6, 15), (13, 64, 4, 1, 1), (250, 40, 24, 6, 13), (31, 8, 0, 1, 1),
])
def test_cores_partition_the_axis_and_extents_carry_the_overlap(length, tile, overlap, align, min_size):
    spans = split_axis(length, tile, overlap, align, min_size)
    assert spans[0].core[0] == 0 and spans[-1].core[1] == length
    assert all(a.core[1] == b.core[0] for a, b in zip(spans, spans[1:]))
    for span in spans:
        (c0, c1), (e0, e1) = span.core, span.extent
        assert c1 - c0 <= tile + align
        assert c0 % align == 0 and e0 % align == 0
        assert e0 <= max(0, c0 - overlap) and e1 >= min(length, c1 + overlap)
        assert e1 - e0 >= min(min_size, length) and 0 <= e0 and e1 <= length


def test_plan_is_the_product_of_the_axes_in_raster_order():
    tiles = plan_tiles(50, 70, 32, 4)
    assert len(tiles) == 2 * 3
    assert [t.rows.core for t in tiles[:3]] == [(0, 25)] * 3
    assert tiles[0].window() == (slice(0, 29), slice(0, 27))


def test_ramp_weights_add_up_to_one_along_an_axis():
    length, scale, feather = 90, 3, 5
    spans = split_axis(length, 30, 10)
    total = torch.zeros(length * scale)
    for span in spans:
        total[span.extent[0] * scale:span.extent[1] * scale] += ramp(span, length, feather, scale)
    torch.testing.assert_close(total, torch.ones_like(total))


def test_ramp_is_one_in_the_core_and_zero_outside_the_feather_band():
    span = Span((40, 60), (30, 70))
    weights = ramp(span, 100, 4, 1)
    assert torch.all(weights[14:26] == 1)  # core pixels 44..55: away from both edges
    assert torch.all(weights[:6] == 0) and torch.all(weights[-6:] == 0)  # beyond edge +- 4
    hard = ramp(span, 100, 0, 1)
    assert torch.equal(hard, ((torch.arange(30, 70) >= 40) & (torch.arange(30, 70) < 60)).float())


def test_canvas_blend_of_consistent_tiles_is_exact():
    torch.manual_seed(0)
    scale, height, width = 2, 37, 53
    image = torch.rand(2, 3, height * scale, width * scale)
    canvas = Canvas(2, height, width, scale, feather=3)
    for tile in plan_tiles(height, width, 16, 6):
        rows, cols = tile.window()
        canvas.add(tile, image[..., rows.start * scale:rows.stop * scale, cols.start * scale:cols.stop * scale])
    assert torch.equal(canvas.out, image)
