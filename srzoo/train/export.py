"""Export a training checkpoint as an inference-form safetensors file, plus its zoo.toml entry."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srzoo.constants import weights_dir
from srzoo.errors import SrzooError
from srzoo.fsutil import sha256_file
from srzoo.models import build_model, get_family
from srzoo.models.layers import count_parameters
from srzoo.train.config import TrainConfig, command_line
from srzoo.zoo.manifest import find_entry, load_manifest
from srzoo.zoo.weightfile import save_weights


@dataclass(frozen=True)
class Exported:
    """The written file and the manifest entry that points at it."""

    path: Path
    sha256: str
    params: int
    metadata: dict[str, str]
    entry: str


def trained_state(checkpoint: dict[str, Any], use_ema: bool = True) -> tuple[dict[str, torch.Tensor], str]:
    """The weights to ship: the EMA when the run kept one (and `use_ema`), else the raw model."""
    ema = checkpoint.get("ema")
    if use_ema and ema:
        return {k.removeprefix("module."): v for k, v in ema.items() if k.startswith("module.")}, "ema"
    return checkpoint["model"], "model"


def inference_model(config: TrainConfig, state: dict[str, torch.Tensor]) -> nn.Module:
    """The trained network in inference form and eval mode (training forms are folded)."""
    family = get_family(config.family)
    model = build_model(family.name, config.scale, config.recipe.form)
    model.load_state_dict(state, strict=True)
    model.eval()
    if config.recipe.form == "training":
        model = family.fold(model)
    return model.eval()


def default_path(config: TrainConfig, iteration: int) -> Path:
    """`<weights dir>/<run name>_<iterations>it.safetensors` (never a zoo entry's own filename)."""
    return weights_dir() / f"{Path(config.run_dir).name}_{iteration}it.safetensors"


def export(checkpoint: dict[str, Any], out: Path | None = None, use_ema: bool = True) -> Exported:
    """Write the checkpoint's network (inference form) with metadata; return the file and entry."""
    config = TrainConfig.from_dict(checkpoint["config"])
    state, which = trained_state(checkpoint, use_ema)
    try:
        model = inference_model(config, state)
    except RuntimeError as exc:
        raise SrzooError(f"{checkpoint.get('path', 'checkpoint')}: weights do not fit the model ({exc})") from exc
    iteration = int(checkpoint["iteration"])
    path = Path(out) if out is not None else default_path(config, iteration)
    metadata = _metadata(config, checkpoint, which)
    save_weights(path, model.state_dict(), metadata)
    sha = sha256_file(path)
    params = count_parameters(model)
    return Exported(path, sha, params, metadata, zoo_entry(config, path.name, sha, params, metadata))


def _metadata(config: TrainConfig, checkpoint: dict[str, Any], which: str) -> dict[str, str]:
    family = get_family(config.family)
    val = checkpoint.get("val") or {}
    meta: dict[str, Any] = {
        "family": family.name, "title": family.title, "scale": config.scale, "form": "inference",
        "source_kind": "srzoo-train", "command": command_line(config), "data": ", ".join(config.data),
        "recipe": json.dumps(config.recipe.to_dict(), sort_keys=True), "iterations": checkpoint["iteration"],
        "weights": which, "seed": config.seed, "init": config.init or "",
        "val_dataset": config.val or "", "val_iteration": val.get("iteration", ""),
        "val_psnr": f"{val['psnr']:.4f}" if "psnr" in val else "",
    }
    entry = find_entry(family.name, config.scale)
    if entry is not None:
        meta.update({"licence": entry.licence, "paper": str(entry.citation)})
    return {k: str(v) for k, v in meta.items()}


def zoo_entry(config: TrainConfig, filename: str, sha256: str, params: int, metadata: dict[str, str]) -> str:
    """The `[[models]]` block of zoo.toml for an exported file (to replace the family/scale's entry)."""
    family = get_family(config.family)
    template = find_entry(family.name, config.scale) or next(
        (e for e in load_manifest() if e.name == family.name), None)
    if template is None:
        raise SrzooError(f"the manifest has no {family.title} entry to take the citation from")
    citation = template.citation
    source = (f'{{ kind = "srzoo-train", command = {_str(metadata["command"])}, '
              f'data = {_str(metadata["data"])} }}')
    lines = [
        "[[models]]", f"name = {_str(family.name)}", f"aliases = {json.dumps(list(family.aliases))}",
        f"scale = {config.scale}", 'status = "available"', 'form = "inference"', f"params = {params}",
        f"filename = {_str(filename)}", f"repo_id = {_str(template.repo_id)}",
        f"revision = {_str(template.revision)}", f"sha256 = {_str(sha256)}",
        f"licence = {_str(template.licence)}", f"source = {source}",
        f"citation = {{ title = {_str(citation.title)}, venue = {_str(citation.venue)}, year = {citation.year} }}",
    ]
    if metadata["val_psnr"]:
        lines.append(f"# validation: {metadata['val_dataset']} Y-PSNR {metadata['val_psnr']} dB at iteration "
                     f"{metadata['val_iteration']}; `srzoo eval --weights` measures the full row")
    return "\n".join(lines) + "\n"


def _str(text: str) -> str:
    """A TOML basic string (JSON string escapes are valid TOML)."""
    return json.dumps(text, ensure_ascii=False)
