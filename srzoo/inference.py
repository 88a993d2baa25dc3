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

Exact tiling (`tiling="breadth-first"`, the default for every zoo family): the network is
run stage by stage over all tiles (`srzoo.staged`), with the image-wide parts computed once on
whole maps, so tiles equal the whole image up to float rounding at any tile size. The scheme
above is `tiling="overlap"` (the only one for networks outside the zoo).

Precision. `auto` is bf16 autocast (float32 weights, channels-last) on CPUs with native bf16
arithmetic (AVX512-BF16 or AMX, detected at run time), float16 on CUDA for the families safe in it
and bf16 for the others where the GPU has it, float32 elsewhere. `fp32` is exact.
"""

from __future__ import annotations

import copy
import functools
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from srzoo import backends
from srzoo.errors import SrzooError, UsageError
from srzoo.models import ModelFamily, get_family
from srzoo.models.layers import ChannelMoments
from srzoo.staged import count_tile_runs, program, run_program
from srzoo.tiling import Canvas, Tile, plan_tiles, split_axis

TileCallback = Callable[[int, int], None]
Precision = Literal["auto", "fp32", "fp16", "bf16"]

ESA_GRID = 6  # stride-2 conv, then 7/3 max-pool: the ESA's coarse grid, in LR pixels
FEATHER = 8  # local families: blend-band half-width beyond the receptive radius, LR px
GLOBAL_OVERLAP = 24  # global families: default overlap, LR px
MIN_TILE = 16  # auto tiling gives up below this tile size
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
TILINGS = ("auto", "breadth-first", "overlap")
BACKENDS = ("auto", "torch", "openvino")


@dataclass(frozen=True)
class Profile:
    """What the engine needs to know about a family beyond the registry.

    `fp16`: safe in float16 (measured: LKDN's and LKDN-S's pre-LayerNorm activations reach
    3e10 and 7e4 on Set14 ppt3, so they overflow; DDistill-SR is overflow-prone on
    full-amplitude input, see its spec). `bytes_per_px`: peak memory per LR pixel in float32 at
    x4 (peak RSS on the CPU at 192x192, x1.5 margin). `channels_last`: the device types on which
    that memory format is used, where `srzoo bench -l nchw -l nhwc` measured a gain (2-core CPU,
    x4, LR 128 and 192 px: AIDN 1.5-1.85x, DDistill-SR 1.1-1.3x faster; the others within about
    10 %, either way). Not measured on a GPU yet, so off on CUDA. `openvino`: the precisions in
    which `backend="auto"` runs whole images through OpenVINO on the CPU when it is installed,
    where it measured faster than the torch path (see the README's speed table).
    """

    fp16: bool
    bytes_per_px: int
    channels_last: frozenset[str] = frozenset()
    openvino: frozenset[str] = frozenset()


PROFILES: dict[str, Profile] = {
    "lkdn": Profile(fp16=False, bytes_per_px=10_000, openvino=frozenset({"fp32", "bf16"})),
    "lkdn-s": Profile(fp16=False, bytes_per_px=6_500, openvino=frozenset({"fp32", "bf16"})),
    "alkdn": Profile(fp16=True, bytes_per_px=13_000, openvino=frozenset({"fp32"})),
    "aidn": Profile(fp16=True, bytes_per_px=6_000, channels_last=frozenset({"cpu"}),
                    openvino=frozenset({"fp32", "bf16"})),
    "ddistill": Profile(fp16=False, bytes_per_px=10_000, channels_last=frozenset({"cpu"}),
                        openvino=frozenset({"fp32", "bf16"})),
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


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes in bf16 natively (AVX512-BF16 or AMX-BF16 on x86, the BF16
    extension on Arm), detected at run time. Without it oneDNN emulates bf16, which is slower
    than float32 (measured here: 1.5x slower capped at AVX-512 without BF16, 8-50x at AVX2)."""
    cpu = getattr(torch, "cpu", None)
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        try:
            if getattr(cpu, probe)():
                return True
        except (AttributeError, RuntimeError):
            pass
    try:
        with open("/proc/cpuinfo") as f:
            flags = {word for line in f if line.lower().startswith(("flags", "features"))
                     for word in line.split(":", 1)[1].split()}
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def pick_dtype(precision: str, device: torch.device, profile: Profile) -> torch.dtype:
    """`auto`: bf16 on CPUs with native bf16; on CUDA float16 for families safe in it, else bf16
    where supported; float32 otherwise."""
    if precision == "auto":
        if device.type == "cpu":
            return torch.bfloat16 if cpu_has_native_bf16() else torch.float32
        if device.type == "cuda":
            if profile.fp16:
                return torch.float16
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        return torch.float32
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
    `channels_last` None: the family's profile decides, per device type (always on for bf16).
    `tiling`: "breadth-first" (exact, stage by stage over all tiles), "overlap" (each tile run
    through the whole network with overlap, cross-faded), or "auto" (breadth-first wherever the
    network has a program, i.e. for every zoo family: exact, and measured 2-5x faster than
    overlap tiles for LKDN and LKDN-S, whose overlap is 71-107 px). bf16 runs as autocast
    over float32 weights, so its float32 retry shares the network. `backend`: "torch", "openvino"
    (whole images on the CPU through `srzoo.backends`, falling back to torch with one note on any
    failure) or "auto" (OpenVINO where installed and measured faster, see `Profile.openvino`).
    `on_note` receives such one-line notes (default: stderr).
    """

    def __init__(self, model: nn.Module, family: ModelFamily | str, scale: int, *,
                 device: str | torch.device = "auto", precision: str = "auto",
                 tile: int | str | None = "auto", tile_overlap: int | None = None,
                 ensemble: bool = False, channels_last: bool | None = None,
                 tiling: str = "auto", backend: str = "auto",
                 on_note: Callable[[str], None] | None = None) -> None:
        self.family = get_family(family) if isinstance(family, str) else family
        self.scale, self.ensemble = scale, ensemble
        self.profile = PROFILES.get(self.family.name, DEFAULT_PROFILE)
        self.device = pick_device(device)
        self.requested_precision = precision
        self.dtype = pick_dtype(precision, self.device, self.profile)
        if tiling not in TILINGS:
            raise UsageError(f"unknown tiling {tiling!r} ({', '.join(TILINGS)})")
        if backend not in BACKENDS:
            raise UsageError(f"unknown backend {backend!r} ({', '.join(BACKENDS)})")
        self.requested_backend = backend
        self.note = on_note or backends.stderr_note
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
            channels_last = (self.device.type in self.profile.channels_last
                             or self.dtype == torch.bfloat16)
        self.channels_last = channels_last
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self._model = model
        self._build_nets()
        self.tiling = tiling
        if tiling == "auto":  # breadth-first where the family has a program: exact and the fastest
            tiling = "breadth-first"
        self.programs = [program(net) if tiling == "breadth-first" else None for net, _ in self.nets]
        self.tiling_used = "breadth-first" if self.programs[0] is not None else "overlap"
        self._warn_costly_tiles()
        self._pick_backend()

    def _warn_costly_tiles(self) -> None:
        """A note when overlap tiles are so small that their context costs more than their core."""
        if self.tiling_used != "overlap" or not isinstance(self.tile, int) or self.tile <= 0:
            return
        work = ((self.tile + 2 * self.overlap) / self.tile) ** 2
        if work > 2:
            self.note(f"{self.tile}-px tiles with {self.overlap} px of overlap each compute {work:.1f}x their "
                      f"own pixels; use larger tiles, --tile 0 (whole image) or breadth-first tiling")

    def _pick_backend(self) -> None:
        """The compiled back-end for whole images, or None for torch."""
        self.compiled: backends.OpenVINONet | None = None
        wanted = self.requested_backend
        if wanted == "auto" and backends.default_backend() in ("torch", "openvino"):
            wanted = backends.default_backend()
        if wanted == "auto":
            wanted = ("openvino" if self.device.type == "cpu" and self.precision in self.profile.openvino
                      and backends.openvino_available() else "torch")
        if wanted == "torch":
            return
        if self.device.type != "cpu" or self.dtype not in backends.HINTS:
            self.note(f"the OpenVINO back-end runs float32 or bf16 on the CPU; using torch")
            return
        try:
            self.compiled = backends.OpenVINONet(self.nets[-1][0], f"{self.family.name}_x{self.scale}",
                                                 self.dtype, self.note)
        except Exception as exc:  # noqa: BLE001 - any failure falls back to torch
            self.note(f"OpenVINO unavailable ({type(exc).__name__}: {exc}); using torch")

    @property
    def backend(self) -> str:
        """The back-end whole images run on: torch or openvino."""
        return "torch" if self.compiled is None else "openvino"

    def _build_nets(self) -> None:
        """The network in the chosen precision, then (in reduced precision) float32 for the retry
        of any tile whose output is not finite: the same module for bf16 (autocast over float32
        weights), a float32 copy for fp16."""
        net = copy.deepcopy(self._model).to(self.device, memory_format=self.memory_format)
        if self.dtype == torch.float32:
            self.nets = [(net, torch.float32)]
        elif self.dtype == torch.bfloat16:
            self.nets = [(net, torch.bfloat16), (net, torch.float32)]
        else:
            reduced = copy.deepcopy(net).to(self.dtype)
            self.nets = [(reduced, self.dtype), (net, torch.float32)]
        self.moments = [[m for m in net.modules() if isinstance(m, ChannelMoments)]
                        for net, _ in self.nets]

    @property
    def precision(self) -> str:
        """The precision that runs: fp32, fp16 or bf16."""
        return next(name for name, dtype in DTYPES.items() if dtype == self.dtype)

    def exact(self) -> Upscaler:
        """This upscaler in float32 when its precision was `auto` (the evaluation protocol);
        itself when float32 was asked for or chosen, or another precision was asked for."""
        if self.dtype == torch.float32 or self.requested_precision != "auto":
            return self
        other = copy.copy(self)
        other.dtype = torch.float32
        other.channels_last = self.device.type in self.profile.channels_last
        other.memory_format = torch.channels_last if other.channels_last else torch.contiguous_format
        other._build_nets()
        other.programs = [program(net) if p is not None else None
                          for (net, _), p in zip(other.nets, self.programs)]
        other._pick_backend()
        return other

    def _context(self, dtype: torch.dtype):
        """Autocast for bf16 (float32 weights), nothing otherwise."""
        if dtype == torch.bfloat16:
            return torch.autocast(self.device.type, torch.bfloat16)
        return nullcontext()

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
        if self.programs[0] is not None:
            total = sum(1 if plan is None else count_tile_runs(self.programs[0], len(plan))
                        for plan in plans)
        else:
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
                y = self._run(xt, whole=True)
                step()
            else:
                y = self._tiled(xt, plan, step)
            y = _inverse(y, *view)
            out = y if out is None else out.add_(y)
        assert out is not None
        return out.div_(len(views))

    def _plan(self, height: int, width: int, tile: int) -> list[Tile] | None:
        """The tiles for an image of this size, or None to run it whole (breadth-first: only the
        cores matter, and they need no alignment)."""
        if tile == 0:
            return None
        if self.programs[0] is not None:
            rows, cols = split_axis(height, tile, 0), split_axis(width, tile, 0)
            tiles = [Tile(r, c) for r in rows for c in cols]
        else:
            tiles = plan_tiles(height, width, tile, self.overlap, self.align,
                               self.family.min_input_size)
        return tiles if len(tiles) > 1 else None

    def _tiled(self, x: torch.Tensor, tiles: list[Tile], step: Callable[[], None]) -> torch.Tensor:
        """Run tile by tile, blending on the CPU, with whole-image statistics when needed; or
        breadth-first (exact)."""
        if self.programs[0] is not None:
            return self._breadth_first(x, tiles, step)
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

    def _breadth_first(self, x: torch.Tensor, tiles: list[Tile],
                       step: Callable[[], None]) -> torch.Tensor:
        """The family's program over the tile cores; a non-finite result is re-run in float32."""
        cores = [(t.rows.core, t.cols.core) for t in tiles]
        for (net, dtype), steps in zip(self.nets, self.programs):
            cast = dtype if dtype in (torch.float16,) else None

            def to_device(t: torch.Tensor) -> torch.Tensor:
                t = t.to(self.device, non_blocking=True)
                if cast is not None and t.is_floating_point():
                    t = t.to(cast)
                return t.contiguous(memory_format=self.memory_format) if t.ndim == 4 else t

            assert steps is not None
            with self._context(dtype):
                y = run_program(steps, x, cores, to_device, step).float()
            if bool(torch.isfinite(y).all()):
                return y
        raise SrzooError(f"non-finite output (NaN or inf) from {self.family.title} "
                         f"x{self.scale} on {self.device}, even in float32")

    def _run(self, x: torch.Tensor, whole: bool = False) -> torch.Tensor:
        """One network call on the device, float32 out; a non-finite output is re-run in float32,
        and in float32 it is an error. Whole images go to the compiled back-end when there is one."""
        if whole and self.compiled is not None:
            try:
                y = self.compiled(x)
            except Exception as exc:  # noqa: BLE001 - any failure falls back to torch, once
                self.note(f"OpenVINO failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
                          "using torch")
                self.compiled = None
            else:
                if bool(torch.isfinite(y).all()):
                    return y
        x = x.to(self.device)
        for net, dtype in self.nets:
            xin = x if dtype == torch.bfloat16 else x.to(dtype)
            with self._context(dtype):
                y = net(xin.contiguous(memory_format=self.memory_format)).float()
            if bool(torch.isfinite(y).all()):
                return y
        raise SrzooError(f"non-finite output (NaN or inf) from {self.family.title} "
                         f"x{self.scale} on {self.device}, even in float32")


def _transform(x: torch.Tensor, flip: bool, turns: int) -> torch.Tensor:
    return torch.rot90(x.flip(-1) if flip else x, turns, (-2, -1))


def _inverse(y: torch.Tensor, flip: bool, turns: int) -> torch.Tensor:
    y = torch.rot90(y, -turns, (-2, -1))
    return y.flip(-1) if flip else y
