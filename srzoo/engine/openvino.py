"""Compiled CPU back-end: the network exported to OpenVINO (`pip install "srzoo[fast]"`).

The torch path stays the reference; this one is used for whole-image runs on the CPU when
OpenVINO is installed and was measured faster for the family and precision (see
`ModelFamily.openvino`). Graphs are exported once per (network weights, precision, input
shape) and cached on disk under `graph_cache_dir()`; the first run of a shape says that it is
preparing. Any failure to export, compile or run is reported once and the run falls back to
torch. Tiles never go through it (the breadth-first stages and the statistics overrides are
torch code).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from srzoo.constants import graph_cache_dir

HINTS = {torch.float32: "f32", torch.bfloat16: "bf16"}


def openvino_available() -> bool:
    return importlib.util.find_spec("openvino") is not None


def weights_digest(model: nn.Module) -> str:
    """A short hash of the network's class, tensor names, shapes and values."""
    h = hashlib.sha256(type(model).__qualname__.encode())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(tensor.detach().cpu().contiguous().float().numpy().tobytes())
    return h.hexdigest()[:16]


def log_note(message: str) -> None:
    """The default for one-line notes: a warning on the "srzoo" logger (the CLI prints it)."""
    logging.getLogger("srzoo").warning(message)


class OpenVINONet:
    """Calls an OpenVINO graph of `model` (float32 weights) with the given precision hint;
    (B, 3, H, W) float32 CPU tensors in and out.

    Preparing a graph for a new input size costs far more than one torch run, so `wants(shape)`
    says whether to use it for an input of that shape: when its graph is compiled or cached on
    disk, or once `compile_after` inputs of that shape have been asked about (a video's frames,
    a folder of same-size photos); until then the caller runs torch."""

    def __init__(self, model: nn.Module, label: str, dtype: torch.dtype,
                 note: Callable[[str], None] = log_note, compile_after: int = 1) -> None:
        if compile_after == 1:  # asked for by name: fail here when it is missing ("auto" checked already)
            import openvino  # noqa: F401

        self.model, self.label, self.hint, self.note = model, label, HINTS[dtype], note
        self.digest = weights_digest(model)
        self.compiled: dict[tuple[tuple[int, ...], int], object] = {}
        self.compile_after = compile_after
        self.seen: dict[tuple[int, ...], int] = {}

    def wants(self, shape: tuple[int, ...]) -> bool:
        """Whether an input of `shape` should run here (see the class doc); counts the asking."""
        self.seen[shape] = self.seen.get(shape, 0) + 1
        if (shape, torch.get_num_threads()) in self.compiled or self.seen[shape] >= self.compile_after:
            return True
        path = self.path(shape)
        return path.exists() and path.with_suffix(".bin").exists()

    def path(self, shape: tuple[int, ...]) -> Path:
        b, _, h, w = shape
        return graph_cache_dir() / f"{self.label}-{self.digest}-{self.hint}-{b}x{h}x{w}.xml"

    def _compile(self, shape: tuple[int, ...]) -> object:
        import openvino as ov

        core = ov.Core()
        path = self.path(shape)
        if path.exists() and path.with_suffix(".bin").exists():
            graph = core.read_model(str(path))
        else:
            self.note(f"preparing the OpenVINO graph for {self.label}, {self.hint}, input "
                      f"{shape[-1]}x{shape[-2]} (once; cached in {path.parent})")
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the tracer's notes on shape checks
                graph = ov.convert_model(self.model, example_input=torch.zeros(shape))
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.stem + f".{os.getpid()}.partial.xml")
            ov.save_model(graph, str(partial), compress_to_fp16=False)
            partial.with_suffix(".bin").replace(path.with_suffix(".bin"))
            partial.replace(path)
        config = {"INFERENCE_PRECISION_HINT": self.hint, "PERFORMANCE_HINT": "LATENCY",
                  "INFERENCE_NUM_THREADS": torch.get_num_threads()}
        return core.compile_model(graph, "CPU", config)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        key = (tuple(x.shape), torch.get_num_threads())
        compiled = self.compiled.get(key)
        if compiled is None:
            compiled = self.compiled[key] = self._compile(key[0])
        out = compiled(x.detach().float().contiguous().numpy())[0]  # type: ignore[operator]
        return torch.from_numpy(out.copy())
