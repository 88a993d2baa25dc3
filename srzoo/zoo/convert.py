"""Reading weights files of any kind (safetensors, the authors' .pth) and converting the authors'
checkpoints into srzoo safetensors files."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srzoo.errors import SrzooError, UsageError
from srzoo.fsutil import sha256_file
from srzoo.models import (
    Form,
    ModelFamily,
    Reading,
    build_model,
    check_scale,
    get_family,
)
from srzoo.models.detect import read_state, unwrap
from srzoo.zoo.manifest import find_entry
from srzoo.zoo.weightfile import load_weights


def read_raw_weights(path: Path) -> dict[str, Any]:
    """A weights file's contents as loaded, wrappers (`params_ema`, ...) intact: a safetensors
    file's tensors, or a checkpoint through `torch.load(weights_only=True)`."""
    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        return dict(load_weights(path)[0])
    return _load_checkpoint(path)


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], str]:
    """Load a legacy PyTorch checkpoint safely and return (flat state dict, sub-dict key used)."""
    return unwrap(_load_checkpoint(path))


def _load_checkpoint(path: Path) -> dict[str, Any]:
    """Only `torch.load(weights_only=True)` is used, so a malicious pickle cannot run code."""
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise SrzooError(f"checkpoint not found: {path}") from exc
    except pickle.UnpicklingError as exc:  # torch's message suggests weights_only=False: never do that
        if "global" not in str(exc).lower():  # not a class it refused to import: not a checkpoint at all
            raise SrzooError(f"{path}: not a weights file (safetensors, or a PyTorch checkpoint)") from exc
        raise SrzooError(f"{path}: not a plain checkpoint (it holds Python objects besides tensors), so it "
                         "is not loaded") from exc
    except Exception as exc:  # noqa: BLE001 - a corrupt file can fail in many ways; report one line
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SrzooError(f"{path}: not a loadable PyTorch checkpoint ({first_line})") from exc
    if not isinstance(raw, dict):
        raise SrzooError(f"{path}: expected a state dict, found {type(raw).__name__}")
    return raw


def read_weights_file(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The state dict of a safetensors file (with its metadata) or of an authors' checkpoint
    (`.pth`, `.pt`, `.ckpt`: loaded with `weights_only=True`; metadata: the wrapper key used)."""
    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        return load_weights(path)
    if not path.is_file():
        raise SrzooError(f"weights file not found: {path}")
    state, key = read_checkpoint(path)
    return state, {"source_param_key": key or "(root)"}


def identify(path: Path, model: str | None = None, scale: int | None = None) -> Reading:
    """What the weights file at `path` holds, read from its keys and shapes; a given `model` or
    `scale` must agree with it (a one-line error says what the file holds)."""
    state, _ = read_weights_file(path)
    reading = read_state({k: tuple(v.shape) for k, v in state.items()}, str(path))
    check_holds(path, get_family(reading.family), reading.scale, model, scale)
    return reading


def check_holds(path: Path, holds: ModelFamily, holds_scale: int, model: str | None, scale: int | None) -> None:
    """A usage error when a given `model` or `scale` is not what the file at `path` holds."""
    what = f"{path} holds {holds.title} x{holds_scale}"
    if model is not None and get_family(model).name != holds.name:
        raise UsageError(f"{what}, not {get_family(model).title}; leave out -m/--model to use what the file holds")
    if scale is not None and scale != holds_scale:
        raise UsageError(f"{what}, not x{scale}; leave out -s/--scale to use the file's")


def first_mismatch(model: nn.Module, state: dict[str, torch.Tensor]) -> str | None:
    """Describe the first missing key, unexpected key or shape mismatch; None if `state` fits."""
    expected = model.state_dict()
    for key, tensor in expected.items():
        if key not in state:
            return f"missing key {key!r}"
        if tuple(state[key].shape) != tuple(tensor.shape):
            return (f"shape mismatch for {key!r}: checkpoint {tuple(state[key].shape)}, "
                    f"model {tuple(tensor.shape)}")
    for key in state:
        if key not in expected:
            return f"unexpected key {key!r}"
    return None


def detect_form(family: ModelFamily, scale: int, state: dict[str, torch.Tensor]) -> Form:
    """Which of the family's forms `state` holds (read from its keys), checked to load strictly;
    a one-line error if it does not fit."""
    reading = family.read({k: tuple(v.shape) for k, v in state.items()})
    forms = [reading.form] if reading is not None and reading.form in family.forms else list(family.forms)
    problems: list[tuple[Form, str]] = []
    for form in forms:
        problem = first_mismatch(build_model(family.name, scale, form), state)
        if problem is None:
            return form
        problems.append((form, problem))
    form, problem = min(problems, key=lambda fp: fp[1].startswith("unexpected"))
    raise SrzooError(f"checkpoint does not fit {family.title} x{scale} ({form} form): {problem}")


def import_checkpoint(path: Path, model: str | None = None, scale: int | None = None, fold: bool = False
                      ) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Convert an official checkpoint into (state dict, metadata) ready for `save_weights`.

    Family and scale are read from the checkpoint (given ones must agree). The state dict is
    verified to load strictly into srzoo's module. With `fold`, a training-form checkpoint is
    re-parameterised into the inference form.
    """
    reading = identify(Path(path), model, scale)
    family, scale = get_family(reading.family), reading.scale
    check_scale(family, scale)
    state, param_key = read_checkpoint(Path(path))
    form = detect_form(family, scale, state)
    if fold and form == "training":
        if family.folder is None:
            raise SrzooError(f"{family.title} has no re-parameterisation to fold")
        net = build_model(family.name, scale, form)
        net.load_state_dict(state, strict=True)
        state = family.fold(net.eval()).state_dict()
        form = "inference"
    return state, _metadata(family, scale, form, Path(path), param_key)


def _metadata(family: ModelFamily, scale: int, form: str, path: Path, param_key: str
              ) -> dict[str, str]:
    meta: dict[str, Any] = {
        "family": family.name,
        "title": family.title,
        "scale": scale,
        "form": form,
        "source_kind": "official",
        "source_checkpoint": path.name,
        "source_checkpoint_sha256": sha256_file(path),
        "source_param_key": param_key or "(root)",
    }
    entry = find_entry(family.name, scale)
    if entry is not None:
        meta.update({
            "licence": entry.licence,
            "source_repo": entry.source.repo if entry.source else "",
            "source_commit": entry.source.commit if entry.source else "",
            "paper": str(entry.citation),
        })
    return {k: str(v) for k, v in meta.items()}
