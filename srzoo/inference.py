"""The inference engine: device and precision, tiling, image-global statistics, self-ensemble.

`Upscaler(model, family, scale)(images)` maps float (B, 3, H, W) images in [0, 1] on the CPU to
(B, 3, sH, sW) on the CPU, clamped to [0, 1]; `Upscaler.quantised` rounds on the device instead.

Tiling. Only tiles travel to the device; the output is blended on the CPU (`srzoo.tiling`).
- Local families (finite receptive field, `locality="local"`): the default overlap is the
  receptive radius plus `FEATHER`, and tiles cross-fade only where both are exact, so the tiled
  result equals the whole-image one.
- Global families (ESA pooling, `ChannelMoments`): tile starts lie on the ESA's pooling grid
  (`ESA_GRID` LR px) and, before the real pass, a statistics pass runs every tile once and
  accumulates each `ChannelMoments` module's input over the tile's core; the whole-image
  mean/std so obtained are then set as `ChannelMoments.override` for the real pass. The first
  pass sees tile-local statistics itself, so its estimate is not exact, but the error is of
  second order (see benchmarks/tiling_table.py for the measured effect).
An image that fits in one tile runs whole (exact, no statistics pass).
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from srzoo.errors import SrzooError, UsageError
from srzoo.models import ModelFamily, get_family
from srzoo.models.layers import ChannelMoments
from srzoo.tiling import Canvas, Tile, plan_tiles

TileCallback = Callable[[int, int], None]
Precision = Literal["auto", "fp32", "fp16", "bf16"]

ESA_GRID = 6  # stride-2 conv, then 7/3 max-pool: the ESA's coarse grid, in LR pixels
FEATHER = 8  # local families: blend-band half-width beyond the receptive radius, LR px
GLOBAL_OVERLAP = 24  # global families: default overlap, LR px
MIN_TILE = 16  # auto tiling gives up below this tile size
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class Profile:
    """What the engine needs to know about a family beyond the registry.

    `fp16`: safe in float16 (measured: LKDN's and LKDN-S's pre-LayerNorm activations reach
    3e10 and 7e4 on Set14 ppt3, so they overflow; DDistill-SR is overflow-prone on
    full-amplitude input, see its spec). `bytes_per_px`: peak memory per LR pixel in float32 at
    x4 (peak RSS on the CPU at 192x192, x1.5 margin). `channels_last`: the device types on which
    that memory format is used, where `srzoo bench -l nchw -l nhwc` measured a gain (2-core CPU,
    x4, LR 128 and 192 px: AIDN 1.5-1.85x, DDistill-SR 1.1-1.3x faster; the others within about
    10 %, either way). Not measured on a GPU yet, so off on CUDA.
    """

    fp16: bool
    bytes_per_px: int
    channels_last: frozenset[str] = frozenset()


PROFILES: dict[str, Profile] = {
    "lkdn": Profile(fp16=False, bytes_per_px=10_000),
    "lkdn-s": Profile(fp16=False, bytes_per_px=6_500),
    "alkdn": Profile(fp16=True, bytes_per_px=13_000),
    "aidn": Profile(fp16=True, bytes_per_px=6_000, channels_last=frozenset({"cpu"})),
    "ddistill": Profile(fp16=False, bytes_per_px=10_000, channels_last=frozenset({"cpu"})),
}
DEFAULT_PROFILE = Profile(fp16=False, bytes_per_px=16_000)

# The dihedral group as (flip left-right, quarter turns); the identity first.
DIHEDRAL: tuple[tuple[bool, int], ...] = tuple((f, k) for f in (False, True) for k in range(4))


def receptive_radius(model: nn.Module) -> int:
    """An upper bound of a conv-only network's receptive radius in input pixels: the sum over
    all its convolutions (every path's radius is at most that). Exact for LKDN: 3 + 12 per block
    (3x3 head; four 3x3, a 5x5 and a 5x5 dilated-3 conv per block; 3x3 tail and upsampler)."""
    return sum(max(d * (k - 1) // 2 for d, k in zip(m.dilation, m.kernel_size))
               for m in model.modules() if isinstance(m, nn.Conv2d))


def pick_device(device: str | torch.device) -> torch.device:
    """`auto` is CUDA, else MPS, else the CPU; an unavailable device is a usage error."""
    if str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if torch.backends.mps.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except RuntimeError as exc:
        raise UsageError(f"unknown device {str(device)!r} (auto, cpu, cuda, cuda:N or mps)") from exc
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("CUDA is not available on this machine")
    if chosen.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError("MPS is not available on this machine")
    return chosen


def pick_dtype(precision: str, device: torch.device, profile: Profile) -> torch.dtype:
    """`auto` is float16 on CUDA for families safe in it, else float32."""
    if precision == "auto":
        return torch.float16 if device.type == "cuda" and profile.fp16 else torch.float32
    if precision not in DTYPES:
        raise UsageError(f"unknown precision {precision!r} (auto, fp32, fp16 or bf16)")
    return DTYPES[precision]


def free_memory(device: torch.device) -> int:
    """Bytes the next run may use: free plus cached CUDA memory, else half the available RAM."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    try:
        with open("/proc/meminfo") as f:
            available = next(int(line.split()[1]) * 1024 for line in f
                             if line.startswith("MemAvailable:"))
    except (OSError, StopIteration):
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            available = 4 << 30
    return available // 2


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is an allocation failure (CUDA, MPS or CPU)."""
    text = str(exc).lower()
    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate" in text))


class ImageStatistics:
    """Whole-image channel mean/std of every `ChannelMoments` input, accumulated tile by tile
    over each tile's core (Chan's parallel algorithm, float64 on the CPU).

    `hook(i)` is a forward pre-hook for the i-th module that measures the current tile (see
    `start`); `commit()` adds it once its output has been accepted, so that a tile re-run in
    float32 counts once.
    """

    def __init__(self, count: int) -> None:
        self.n = 0
        self.mean: list[torch.Tensor | float] = [0.0] * count
        self.m2: list[torch.Tensor | float] = [0.0] * count
        self.pending: list[tuple[torch.Tensor, torch.Tensor]] = [None] * count  # type: ignore
        self.tile: Tile | None = None

    def start(self, tile: Tile) -> None:
        """Measure `tile` next."""
        self.tile = tile

    def hook(self, index: int) -> Callable[[nn.Module, tuple[torch.Tensor, ...]], None]:
        def measure(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            assert self.tile is not None
            (r0, r1), (e0, e1) = self.tile.rows.core, self.tile.rows.extent
            (c0, c1), (f0, f1) = self.tile.cols.core, self.tile.cols.extent
            x = args[0]
            if tuple(x.shape[-2:]) != (e1 - e0, f1 - f0):
                raise SrzooError(f"tiling: a ChannelMoments input of size {tuple(x.shape[-2:])} "
                                 f"in a tile of size {(e1 - e0, f1 - f0)}")
            core = x[..., r0 - e0:r1 - e0, c0 - f0:c1 - f0].float()
            mean = core.mean(dim=(2, 3), keepdim=True)
            m2 = (core - mean).pow(2).sum(dim=(2, 3), keepdim=True)
            self.pending[index] = (mean.double().cpu(), m2.double().cpu())
        return measure

    def commit(self) -> None:
        """Fold the measured tile into the running totals."""
        assert self.tile is not None
        rows, cols = self.tile.rows.core, self.tile.cols.core
        n_t = (rows[1] - rows[0]) * (cols[1] - cols[0])
        total = self.n + n_t
        for i, (mean_t, m2_t) in enumerate(self.pending):
            delta = mean_t - self.mean[i]
            self.mean[i] = self.mean[i] + delta * (n_t / total)
            self.m2[i] = self.m2[i] + m2_t + delta.pow(2) * (self.n * n_t / total)
        self.n = total

    def moments(self, index: int, with_std: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The i-th module's whole-image (mean, std), float32."""
        mean = torch.as_tensor(self.mean[index]).float()
        std = torch.as_tensor(self.m2[index] / self.n).sqrt().float() if with_std else None
        return mean, std


class Upscaler:
    """A network of `family` at `scale` wrapped for inference on images (see the module doc).

    `tile` is in LR pixels (0 or None: whole image; "auto": the largest that fits in free
    memory, halved on out-of-memory); `tile_overlap` is the context each tile carries beyond its
    core on every side (default: per family). `ensemble` averages the 8 flips/rotations.
    `channels_last` None: the family's profile decides, per device type.
    """

    def __init__(self, model: nn.Module, family: ModelFamily | str, scale: int, *,
                 device: str | torch.device = "auto", precision: str = "auto",
                 tile: int | str | None = "auto", tile_overlap: int | None = None,
                 ensemble: bool = False, channels_last: bool | None = None) -> None:
        self.family = get_family(family) if isinstance(family, str) else family
        self.scale, self.ensemble = scale, ensemble
        self.profile = PROFILES.get(self.family.name, DEFAULT_PROFILE)
        self.device = pick_device(device)
        self.dtype = pick_dtype(precision, self.device, self.profile)
        if tile != "auto" and not (tile is None or (isinstance(tile, int) and tile >= 0)):
            raise UsageError(f"tile must be a number of pixels >= 0 or 'auto', not {tile!r}")
        if tile_overlap is not None and tile_overlap < 0:
            raise UsageError(f"tile overlap must be >= 0, not {tile_overlap}")
        self.tile = tile or 0

        model = self._inference_form(model).eval()
        local = self.family.locality == "local"
        radius = receptive_radius(model) if local else None
        self.overlap = tile_overlap if tile_overlap is not None else (
            radius + FEATHER if radius is not None else GLOBAL_OVERLAP)
        exact = radius is not None and self.overlap > radius
        self.feather = self.overlap - radius if exact else self.overlap // 2
        self.align = 1 if local else ESA_GRID

        if channels_last is None:
            channels_last = self.device.type in self.profile.channels_last
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        # The network in the chosen precision, then (in reduced precision) a float32 copy that
        # re-runs any tile whose output is not finite.
        dtypes = [self.dtype] + ([torch.float32] if self.dtype != torch.float32 else [])
        self.nets = [(copy.deepcopy(model).to(self.device, dt, memory_format=self.memory_format), dt)
                     for dt in dtypes]
        self.moments = [[m for m in net.modules() if isinstance(m, ChannelMoments)]
                        for net, _ in self.nets]

    def _inference_form(self, model: nn.Module) -> nn.Module:
        """Fold a training-form network (recognised by its state-dict keys)."""
        family = self.family
        if family.fold is None or "training" not in family.forms:
            return model
        training = family.build(self.scale, "training").state_dict().keys()
        return family.fold(model.eval()) if model.state_dict().keys() == training else model

    def __call__(self, images: torch.Tensor, on_tile: TileCallback | None = None) -> torch.Tensor:
        """Upscale float (B, 3, H, W) images in [0, 1]: float (B, 3, sH, sW) on the CPU, clamped."""
        return self._upscale(images, on_tile).clamp(0, 1).cpu()

    def quantised(self, images: torch.Tensor, bits: Literal[8, 16] = 8,
                  on_tile: TileCallback | None = None) -> torch.Tensor:
        """Like calling, but rounded where the result lies (on the device when not tiled):
        uint8 for 8 bits, int32 in 0..65535 for 16 bits."""
        top, dtype = (255, torch.uint8) if bits == 8 else (65535, torch.int32)
        out = self._upscale(images, on_tile).clamp(0, 1).mul_(top).round_()
        return out.to(dtype).cpu()

    @torch.inference_mode()
    def _upscale(self, images: torch.Tensor, on_tile: TileCallback | None) -> torch.Tensor:
        """Pad to the family's minimum size, run (halving an auto tile on out-of-memory), crop."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected a (B, 3, H, W) tensor, got {tuple(images.shape)}")
        h, w = images.shape[-2:]
        size = self.family.min_input_size
        x = images.detach().to("cpu", torch.float32)
        if h < size or w < size:
            x = F.pad(x, (0, max(0, size - w), 0, max(0, size - h)), mode="replicate")
        tile = self.tile_for(x)
        while True:
            try:
                out = self._ensemble(x, tile, on_tile)
                break
            except RuntimeError as exc:
                if self.tile != "auto" or not is_out_of_memory(exc):
                    raise
                tile = (tile or max(x.shape[-2:])) // 2
                if tile < MIN_TILE:
                    raise SrzooError(f"out of memory on {self.device} even with {2 * tile} px "
                                     "tiles") from exc
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
        return out[..., :h * self.scale, :w * self.scale]

    def tile_for(self, x: torch.Tensor) -> int:
        """The tile size a run on `x` starts with (0: whole image); `auto` is the largest tile whose
        run fits in free memory (0 when the whole image does)."""
        if self.tile != "auto":
            return self.tile
        bytes_per_px = self.profile.bytes_per_px * x.shape[0] * torch.finfo(self.dtype).bits // 32
        pixels = free_memory(self.device) // bytes_per_px
        if x.shape[-2] * x.shape[-1] <= pixels:
            return 0
        return max(MIN_TILE, math.isqrt(pixels) - 2 * self.overlap - self.align)

    def _ensemble(self, x: torch.Tensor, tile: int, on_tile: TileCallback | None) -> torch.Tensor:
        """Plain, or the mean of the 8 dihedral transforms, each run and inverted."""
        views = DIHEDRAL if self.ensemble else DIHEDRAL[:1]
        h, w = x.shape[-2:]
        plans = [self._plan(*((w, h) if turns % 2 else (h, w)), tile) for _, turns in views]
        passes = 2 if self.moments[0] else 1
        total = sum(1 if plan is None else len(plan) * passes for plan in plans)
        done = 0

        def step() -> None:
            nonlocal done
            done += 1
            if on_tile is not None:
                on_tile(done, total)

        out = None
        for view, plan in zip(views, plans):
            xt = _transform(x, *view)
            if plan is None:
                y = self._run(xt)
                step()
            else:
                y = self._tiled(xt, plan, step)
            y = _inverse(y, *view)
            out = y if out is None else out.add_(y)
        assert out is not None
        return out.div_(len(views))

    def _plan(self, height: int, width: int, tile: int) -> list[Tile] | None:
        """The tiles for an image of this size, or None to run it whole."""
        if tile == 0:
            return None
        tiles = plan_tiles(height, width, tile, self.overlap, self.align,
                           self.family.min_input_size)
        return tiles if len(tiles) > 1 else None

    def _tiled(self, x: torch.Tensor, tiles: list[Tile], step: Callable[[], None]) -> torch.Tensor:
        """Run tile by tile, blending on the CPU, with whole-image statistics when needed."""
        canvas = Canvas(x.shape[0], x.shape[-2], x.shape[-1], self.scale, self.feather)
        with self._image_statistics(x, tiles, step):
            for tile in tiles:
                canvas.add(tile, self._run(x[(..., *tile.window())]).cpu())
                step()
        return canvas.out

    @contextmanager
    def _image_statistics(self, x: torch.Tensor, tiles: list[Tile],
                          step: Callable[[], None]) -> Iterator[None]:
        """Measure every ChannelMoments input over the whole image (a first pass over the tiles)
        and make the modules return those statistics until the context exits."""
        if not self.moments[0]:
            yield
            return
        stats = ImageStatistics(len(self.moments[0]))
        hooks = [m.register_forward_pre_hook(stats.hook(i))
                 for modules in self.moments for i, m in enumerate(modules)]
        try:
            for tile in tiles:
                stats.start(tile)
                self._run(x[(..., *tile.window())])
                stats.commit()
                step()
        finally:
            for hook in hooks:
                hook.remove()
        overrides = [stats.moments(i, m.with_std) for i, m in enumerate(self.moments[0])]
        for modules in self.moments:
            for module, (mean, std) in zip(modules, overrides):
                module.override = (mean.to(self.device),
                                   None if std is None else std.to(self.device))
        try:
            yield
        finally:
            for modules in self.moments:
                for module in modules:
                    module.override = None

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        """One network call on the device, float32 out; a non-finite output is re-run in float32,
        and in float32 it is an error."""
        x = x.to(self.device)
        for net, dtype in self.nets:
            y = net(x.to(dtype, memory_format=self.memory_format)).float()
            if bool(torch.isfinite(y).all()):
                return y
        raise SrzooError(f"non-finite output (NaN or inf) from {self.family.title} "
                         f"x{self.scale} on {self.device}, even in float32")


def _transform(x: torch.Tensor, flip: bool, turns: int) -> torch.Tensor:
    return torch.rot90(x.flip(-1) if flip else x, turns, (-2, -1))


def _inverse(y: torch.Tensor, flip: bool, turns: int) -> torch.Tensor:
    y = torch.rot90(y, -turns, (-2, -1))
    return y.flip(-1) if flip else y
