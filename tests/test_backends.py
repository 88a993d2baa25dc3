"""The compiled back-end (OpenVINO, the `fast` extra): exact in float32, cached on disk, and any
failure falls back to torch with one note."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from srzoo.engine import openvino as backends
from srzoo.engine.upscaler import Upscaler
from srzoo.models import build_model


def _model(name: str = "aidn") -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(name, 2).eval()


def test_a_backend_failure_falls_back_to_torch_with_one_note(monkeypatch):
    class Broken:
        compile_after, compiled = 1, {}

        def __init__(self, *args, **kwargs) -> None:
            pass

        def wants(self, shape: tuple[int, ...]) -> bool:
            return True

        def __call__(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("cannot compile")

    monkeypatch.setattr(backends, "OpenVINONet", Broken)
    notes: list[str] = []
    model = _model()
    engine = Upscaler(model, "aidn", 2, device="cpu", precision="fp32", tile=0, backend="openvino",
                      on_note=notes.append)
    assert engine.backend == "openvino"
    image = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        torch.testing.assert_close(engine(image), model(image).clamp(0, 1), atol=1e-5, rtol=0)
    engine(image)
    assert len(notes) == 1 and "using torch" in notes[0] and engine.backend == "torch"


def test_auto_backend_follows_the_environment_and_the_profile(monkeypatch):
    model = _model()
    monkeypatch.setenv("SRZOO_BACKEND", "torch")
    assert Upscaler(model, "aidn", 2, device="cpu", precision="fp32").backend == "torch"
    monkeypatch.setenv("SRZOO_BACKEND", "auto")
    monkeypatch.setattr(backends, "openvino_available", lambda: False)
    assert Upscaler(model, "aidn", 2, device="cpu", precision="fp32").backend == "torch"


OPENVINO_CHECK = r"""
import sys
import torch
from srzoo.engine.upscaler import Upscaler
from srzoo.models import build_model

torch.manual_seed(0)
model = build_model("lkdn-s", 2).eval()
image = torch.rand(1, 3, 18, 22)
notes = []
engine = Upscaler(model, "lkdn-s", 2, device="cpu", precision="fp32", tile=0, backend="openvino",
                  on_note=notes.append)
with torch.no_grad():
    reference = model(image).clamp(0, 1)
assert (engine(image) - reference).abs().max() <= 1e-5
assert engine.backend == "openvino" and len(notes) == 1 and "preparing" in notes[0], notes
again = []
second = Upscaler(model, "lkdn-s", 2, device="cpu", precision="fp32", tile=0, backend="openvino",
                  on_note=again.append)
assert (second(image) - reference).abs().max() <= 1e-5 and again == [], again  # from the cache
tiled = Upscaler(model, "lkdn-s", 2, device="cpu", precision="fp32", tile=8, backend="openvino")
other = torch.rand(1, 3, 20, 20)
with torch.no_grad():
    assert (tiled(other) - model(other).clamp(0, 1)).abs().max() <= 1e-5  # tiles run on torch
print("ok")
"""


def test_openvino_is_float32_exact_and_cached(tmp_path):
    """In a subprocess: in a pytest session where OpenVINO had run, test_train's self-sent SIGINT
    ended the whole session (not reproduced outside pytest, where Ctrl-C still raises
    KeyboardInterrupt after an OpenVINO run; not investigated further)."""
    pytest.importorskip("openvino")
    env = {**os.environ, "SRZOO_CACHE_DIR": str(tmp_path), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", OPENVINO_CHECK], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
    assert len(list(tmp_path.glob("lkdn-s_x2-*-f32-1x18x22.xml"))) == 1
    assert not list(tmp_path.glob("*1x20x20.xml"))


def test_auto_prepares_a_graph_only_for_sizes_that_recur(tmp_path):
    """backend "auto": a folder of photos of different sizes never pays for graph preparation;
    the third image of one size (a video's frames) gets its graph."""
    pytest.importorskip("openvino")
    code = f"""
import os
os.environ["SRZOO_CACHE_DIR"] = {str(tmp_path)!r}
import torch
from srzoo.engine.upscaler import Upscaler
from srzoo.models import build_model
torch.manual_seed(0)
model = build_model("lkdn-s", 2).eval()
notes = []
engine = Upscaler(model, "lkdn-s", 2, device="cpu", precision="fp32", tile=0, backend="auto", on_note=notes.append)
for size in ((16, 18), (20, 16), (18, 22)):
    engine(torch.rand(1, 3, *size))
assert notes == [], notes
for _ in range(3):
    engine(torch.rand(1, 3, 16, 16))
assert len(notes) == 1 and "preparing" in notes[0], notes
print("ok")
"""
    env = {**os.environ, "SRZOO_BACKEND": "auto"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
