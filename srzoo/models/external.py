"""Networks of other architectures (ESRGAN, Real-ESRGAN Compact, SPAN, SwinIR, ...), loaded and
described by spandrel (`pip install "srzoo[spandrel]"`), and run by srzoo's engine.

srzoo reads the file itself (safetensors, or a `.pth` through `torch.load(weights_only=True)`)
and hands the state dict to spandrel, which recognises the architecture and builds the network.
What spandrel says about it becomes a `ModelFamily` with `source="spandrel"`: its scale, the
input sizes it needs, whether it is safe in float16/bfloat16. Its receptive radius is measured
(`measure_radius`): the input extent that one output pixel's gradient reaches on a probe image.
A network whose gradient reaches the probe's border, or that spandrel says should not be tiled,
is image-global and runs on whole images.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srzoo.constants import graph_cache_dir
from srzoo.errors import SrzooError, UsageError
from srzoo.fsutil import atomic_path, sha256_file
from srzoo.models.family import ModelFamily
from srzoo.models.registry import register_external

PROBE_SIZES = (64, 128, 256)  # LR pixels: probe images for the receptive radius, smallest first
REFUSED_PURPOSES = {"Inpainting": "needs a mask besides the image", "FaceSR": "restores aligned faces only"}
INSTALL = 'pip install "srzoo[spandrel]"'


@dataclass(frozen=True)
class ExternalNetwork:
    """A loaded network of another architecture and the family that describes it."""

    model: nn.Module
    family: ModelFamily
    scale: int


def available() -> bool:
    """Whether spandrel can be imported."""
    try:
        import spandrel  # noqa: F401
    except ImportError:
        return False
    return True


def architectures() -> list[str]:
    """The architectures spandrel recognises, by name (empty without spandrel)."""
    if not available():
        return []
    from spandrel import MAIN_REGISTRY

    return sorted(support.architecture.name for support in MAIN_REGISTRY.architectures())


def load_external(path: Path, state: dict[str, Any] | None = None) -> ExternalNetwork:
    """The network in the weights file at `path` (its state dict already read, if given), built by
    spandrel and registered under its architecture's name; a one-line error when spandrel is not
    installed, does not recognise the file, or the model is not an image-to-image network."""
    if not available():
        raise UsageError(f"{path} is none of srzoo's five families; networks of other architectures "
                         f"need spandrel: {INSTALL}")
    from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError

    if state is None:
        from srzoo.zoo.convert import read_raw_weights  # torch: reads the file

        state = read_raw_weights(path)
    try:
        descriptor = ModelLoader().load_from_state_dict(state)
    except UnsupportedModelError as exc:
        raise SrzooError(f"{path}: neither one of srzoo's families nor an architecture spandrel knows "
                         "(see `srzoo models --architectures`)") from exc
    except Exception as exc:  # noqa: BLE001 - a malformed state dict can fail in many ways inside spandrel
        raise SrzooError(f"{path}: spandrel could not build the network ({type(exc).__name__}: {exc})") from exc
    name = descriptor.architecture.name
    if not isinstance(descriptor, ImageModelDescriptor) or descriptor.purpose in REFUSED_PURPOSES:
        reason = REFUSED_PURPOSES.get(getattr(descriptor, "purpose", ""), "needs inputs besides the image")
        raise UsageError(f"{path} is a {name} model, which {reason}; srzoo runs image-to-image models")
    if descriptor.input_channels != 3 or descriptor.output_channels != 3:
        raise UsageError(f"{path} is a {name} model for {descriptor.input_channels}-channel input; srzoo runs "
                         "RGB models")
    model = descriptor.model.eval()
    requirements = descriptor.size_requirements
    radius = None if descriptor.tiling.name == "DISCOURAGED" else cached_radius(path, model, descriptor.scale,
                                                                                requirements.minimum,
                                                                                requirements.multiple_of)
    family = ModelFamily(
        name=_slug(name), title=name, aliases=(), package="", scales=(descriptor.scale,),
        min_input_size=max(1, requirements.minimum), locality="local" if radius is not None else "global",
        fp16=descriptor.supports_half, bf16=descriptor.supports_bfloat16, source="spandrel",
        receptive_radius=radius, multiple_of=max(1, requirements.multiple_of))
    return ExternalNetwork(model, register_external(family), descriptor.scale)


def _slug(name: str) -> str:
    """A file-name-safe lowercase name: "RealESRGAN Compact" -> "realesrgan-compact"."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def cached_radius(path: Path, model: nn.Module, scale: int, minimum: int, multiple_of: int) -> int | None:
    """`measure_radius`, remembered per weights file (by its sha256) in the graph cache folder."""
    cache = graph_cache_dir() / "receptive_radius.json"
    key = hashlib.sha256(sha256_file(path).encode()).hexdigest()[:32]
    try:
        known = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    if key in known:
        return known[key]
    radius = measure_radius(model, scale, minimum, multiple_of)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache) as tmp:
            tmp.write_text(json.dumps({**known, key: radius}), encoding="utf-8")
    except (OSError, SrzooError):
        pass  # a cache that cannot be written only costs the measurement next time
    return radius


def measure_radius(model: nn.Module, scale: int, minimum: int = 1, multiple_of: int = 1) -> int | None:
    """How far (in input pixels) one output pixel's value depends on the input: the extent of the
    gradient of the centre output pixel on a probe image, plus one pixel of margin, on the smallest
    of `PROBE_SIZES` whose border the gradient does not reach; None when it reaches every one's
    (image-global, or a field wider than the largest probe)."""
    for size in PROBE_SIZES:
        size = max(size, minimum)
        size += -size % multiple_of
        radius = _probe(model, scale, size)
        if radius is not None:
            return radius
    return None


def _probe(model: nn.Module, scale: int, size: int) -> int | None:
    """The radius on one `size` x `size` probe, or None when the gradient reaches its border."""
    generator = torch.Generator().manual_seed(0)
    probe = (0.5 + 0.1 * torch.rand(1, 3, size, size, generator=generator)).requires_grad_(True)
    parameter = next(model.parameters(), None)
    if parameter is not None:
        probe = probe.to(parameter.device).detach().requires_grad_(True)
    centre = size // 2
    with torch.enable_grad():
        out = model(probe)
        (gradient,) = torch.autograd.grad(out[..., centre * scale, centre * scale].sum(), probe)
    reached = gradient.abs().sum(dim=(0, 1)).nonzero()
    if reached.numel() == 0:
        return 1
    rows, cols = reached[:, 0], reached[:, 1]
    if int(rows.min()) == 0 or int(cols.min()) == 0 or int(rows.max()) == size - 1 or int(cols.max()) == size - 1:
        return None
    return int(max(centre - rows.min(), rows.max() - centre, centre - cols.min(), cols.max() - centre)) + 1
