"""The inference engine: device and precision, tiling, image-global statistics, self-ensemble.

`Upscaler(model, family, scale)(images)` maps float (B, 3, H, W) images in [0, 1] on the CPU to
(B, 3, sH, sW) on the CPU, clamped to [0, 1]; `Upscaler.quantised` rounds on the device instead.

Tiling. Only tiles travel to the device; the output is blended on the CPU (`srzoo.engine.tiling`).
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
run stage by stage over all tiles (`srzoo.engine.breadth_first`), with the image-wide parts computed once on
whole maps, so tiles equal the whole image up to float rounding at any tile size. The scheme
above is `tiling="overlap"` (the only one for networks outside the zoo).

On the CPU in float32 the engine runs its own copy of the network with the exact rewrites of
`srzoo.engine.rewrites` (a dilated convolution as a plain one on the image's phases).

Precision. `auto` is bf16 autocast (float32 weights, channels-last) on CPUs with native bf16
arithmetic (AVX512-BF16 or AMX, detected at run time), float16 on CUDA for the families safe in it
and bf16 for the others where the GPU has it, float32 elsewhere. `fp32` is exact.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from srzoo.constants import forced_backend
from srzoo.engine import openvino
from srzoo.engine.breadth_first import Local, count_tile_runs, run_program
from srzoo.engine.device import (
    DTYPES,
    Precision,
    free_memory,
    is_out_of_memory,
    pick_device,
    pick_dtype,
)
from srzoo.engine.ensemble import DIHEDRAL, inverse, transform
from srzoo.engine.rewrites import rewrite_for_inference
from srzoo.engine.statistics import ImageStatistics
from srzoo.engine.tiling import Canvas, Tile, plan_tiles, split_axis
from srzoo.errors import SrzooError, UsageError
from srzoo.models import ModelFamily, get_family
from srzoo.models.layers import ChannelMoments, receptive_radius

TileCallback = Callable[[int, int], None]
Tiling = Literal["auto", "breadth-first", "overlap"]
Backend = Literal["auto", "torch", "openvino"]

ESA_GRID = 6  # stride-2 conv, then 7/3 max-pool: the ESA's coarse grid, in LR pixels
FEATHER = 8  # local families: blend-band half-width beyond the receptive radius, LR px
GLOBAL_OVERLAP = 24  # global families: default overlap, LR px
MIN_TILE = 16  # auto tiling gives up below this tile size
COMPILE_AFTER = 3  # backend "auto": prepare an OpenVINO graph for a size once it has come this often
TILINGS: tuple[Tiling, ...] = get_args(Tiling)
BACKENDS: tuple[Backend, ...] = get_args(Backend)


class Upscaler:
    """A network of `family` at `scale` wrapped for inference on images (see the module doc).

    `tile` is in LR pixels (0 or None: whole image; "auto": the largest that fits in free
    memory, halved on out-of-memory); `tile_overlap` is the context each tile carries beyond its
    core on every side (default: per family). `ensemble` averages the 8 flips/rotations.
    `channels_last` None: the family's facts decide, per device type (always on for bf16).
    `tiling`: "breadth-first" (exact, stage by stage over all tiles), "overlap" (each tile run
    through the whole network with overlap, cross-faded), or "auto" (breadth-first wherever the
    network has a program, i.e. for every zoo family: exact, and measured 2-5x faster than
    overlap tiles for LKDN and LKDN-S, whose overlap is 71-107 px). bf16 runs as autocast
    over float32 weights, so its float32 retry shares the network. `backend`: "torch", "openvino"
    (whole images on the CPU through `srzoo.engine.openvino`, falling back to torch with one note on any
    failure) or "auto" (OpenVINO where installed and measured faster, see `ModelFamily.openvino`, for
    image sizes whose graph is cached or that came `COMPILE_AFTER` times: no first-run penalty).
    `on_note` receives such one-line notes (default: a warning on the "srzoo" logger).
    """

    def __init__(self, model: nn.Module, family: ModelFamily | str, scale: int, *,
                 device: str | torch.device = "auto", precision: Precision = "auto",
                 tile: int | str | None = "auto", tile_overlap: int | None = None,
                 ensemble: bool = False, channels_last: bool | None = None,
                 tiling: Tiling = "auto", backend: Backend = "auto",
                 on_note: Callable[[str], None] | None = None) -> None:
        self.family = get_family(family) if isinstance(family, str) else family
        self.scale, self.ensemble = scale, ensemble
        self.device = pick_device(device)
        self.requested_precision = precision
        self.dtype = pick_dtype(precision, self.device, self.family)
        if tiling not in TILINGS:
            raise UsageError(f"unknown tiling {tiling!r} ({', '.join(TILINGS)})")
        if backend not in BACKENDS:
            raise UsageError(f"unknown backend {backend!r} ({', '.join(BACKENDS)})")
        self.requested_backend = backend
        self.note = on_note or openvino.log_note
        if tile != "auto" and not (tile is None or (isinstance(tile, int) and tile >= 0)):
            raise UsageError(f"tile must be a number of pixels >= 0 or 'auto', not {tile!r}")
        if tile_overlap is not None and tile_overlap < 0:
            raise UsageError(f"tile overlap must be >= 0, not {tile_overlap}")
        self.tile = tile or 0
        if self.family.source != "srzoo" and self.tile != 0 and (
                self.family.locality == "global" or self.family.multiple_of > 1):
            why = ("is image-global (or its authors advise against tiling)" if self.family.locality == "global"
                   else f"needs input sizes that are multiples of {self.family.multiple_of}")
            self.note(f"{self.family.title} {why}: whole images only, so a large image needs the memory for it")
            self.tile = 0

        model = self._inference_form(model).eval()
        local = self.family.locality == "local"
        radius = (self.family.receptive_radius or receptive_radius(model)) if local else None
        self.overlap = tile_overlap if tile_overlap is not None else (
            radius + FEATHER if radius is not None else GLOBAL_OVERLAP)
        exact = radius is not None and self.overlap > radius
        self.feather = self.overlap - radius if exact and radius is not None else self.overlap // 2
        self.align = 1 if local else ESA_GRID

        if channels_last is None:
            channels_last = (self.device.type in self.family.channels_last
                             or self.dtype == torch.bfloat16)
        self.channels_last = channels_last
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self._model = model
        self._build_nets()
        self.tiling = tiling
        if tiling == "auto":  # breadth-first where the family has a program: exact and the fastest
            tiling = "breadth-first"
        self.programs = [self.family.program(net) if tiling == "breadth-first" else None for net, _ in self.nets]
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
        self.compiled: openvino.OpenVINONet | None = None
        wanted: str = self.requested_backend
        if wanted == "auto" and forced_backend() in ("torch", "openvino"):
            wanted = forced_backend()
        if wanted == "auto":
            wanted = ("openvino" if self.device.type == "cpu" and self.precision in self.family.openvino
                      and openvino.openvino_available() else "torch")
        if wanted == "torch":
            return
        if self.device.type != "cpu" or self.dtype not in openvino.HINTS:
            self.note("the OpenVINO back-end runs float32 or bf16 on the CPU; using torch")
            return
        compile_after = COMPILE_AFTER if self.requested_backend == "auto" else 1
        try:
            # the network as written: OpenVINO's dilated convolutions are fast, the rewrites' reshuffles not
            self.compiled = openvino.OpenVINONet(self._model, f"{self.family.name}_x{self.scale}",
                                                 self.dtype, self.note, compile_after)
        except Exception as exc:  # noqa: BLE001 - any failure falls back to torch
            self.note(f"OpenVINO unavailable ({type(exc).__name__}: {exc}); using torch")

    @property
    def backend(self) -> str:
        """The back-end whole images run on: torch, openvino, or torch with OpenVINO for sizes that
        recur (`backend="auto"` before any graph is prepared)."""
        if self.compiled is None:
            return "torch"
        if self.compiled.compile_after > 1 and not self.compiled.compiled:
            return "torch (openvino for sizes that recur)"
        return "openvino"

    def _build_nets(self) -> None:
        """The network in the chosen precision, then (in reduced precision) float32 for the retry
        of any tile whose output is not finite: the same module for bf16 (autocast over float32
        weights), a float32 copy for fp16."""
        # torch's stubs omit Module.to's memory_format keyword (accepted at run time)
        net = copy.deepcopy(self._model).to(self.device, memory_format=self.memory_format)  # type: ignore[call-overload]
        if self.device.type == "cpu" and self.dtype == torch.float32:  # where they were measured faster
            rewrite_for_inference(net)
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
        other.channels_last = self.device.type in self.family.channels_last
        other.memory_format = torch.channels_last if other.channels_last else torch.contiguous_format
        other._build_nets()
        other.programs = [self.family.program(net) if p is not None else None
                          for (net, _), p in zip(other.nets, self.programs)]
        other._pick_backend()
        return other

    def _context(self, dtype: torch.dtype):
        """Autocast for bf16 (float32 weights), nothing otherwise."""
        if dtype == torch.bfloat16:
            return torch.autocast(self.device.type, torch.bfloat16)
        return nullcontext()

    def _inference_form(self, model: nn.Module) -> nn.Module:
        """Fold a training-form network (recognised by its state dict, as files are)."""
        if "training" not in self.family.forms:
            return model
        state = model.state_dict()
        reading = self.family.read({key: tuple(value.shape) for key, value in state.items()})
        return self.family.fold(model.eval()) if reading is not None and reading.form == "training" else model

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
        size, multiple = self.family.min_input_size, self.family.multiple_of
        x = images.detach().to("cpu", torch.float32)
        padded_h, padded_w = max(h, size), max(w, size)
        padded_h, padded_w = padded_h + -padded_h % multiple, padded_w + -padded_w % multiple
        if (padded_h, padded_w) != (h, w):
            x = F.pad(x, (0, padded_w - w, 0, padded_h - h), mode="replicate")
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
        run fits in free memory (0 when the whole image does), with its context: a breadth-first
        step's crop reaches only that step's radius beyond the tile, an overlap tile the whole
        network's overlap."""
        if self.tile != "auto":
            assert isinstance(self.tile, int)  # __init__ admits only "auto" and ints
            return self.tile
        bytes_per_px = self.family.bytes_per_px * x.shape[0] * torch.finfo(self.dtype).bits // 32
        pixels = free_memory(self.device) // bytes_per_px
        if x.shape[-2] * x.shape[-1] <= pixels:
            return 0
        steps = self.programs[0]
        context = (self.overlap if steps is None
                   else max((st.radius for st in steps if isinstance(st, Local)), default=0))
        return max(MIN_TILE, math.isqrt(pixels) - 2 * context - self.align)

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
            xt = transform(x, *view)
            if plan is None:
                y = self._run(xt, whole=True)
                step()
            else:
                y = self._tiled(xt, plan, step)
            y = inverse(y, *view)
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
                canvas.add(tile, self._run(x[(...,) + tile.window()]).cpu())
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
                self._run(x[(...,) + tile.window()])
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
        for (_, dtype), steps in zip(self.nets, self.programs):
            cast = dtype if dtype in (torch.float16,) else None

            def to_device(t: torch.Tensor, cast: torch.dtype | None = cast) -> torch.Tensor:
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
        if whole and self.compiled is not None and self.compiled.wants(tuple(x.shape)):
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


