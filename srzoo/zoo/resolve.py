"""Finding the weights of (model, scale) in the order of `srzoo.zoo`'s docstring, and loading them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from huggingface_hub import constants

from srzoo.constants import DEFAULT_MODEL, DEFAULT_SCALE, weights_dir
from srzoo.errors import SrzooError, UsageError
from srzoo.models import SCALES, build_model, check_scale, get_family, list_families
from srzoo.zoo.hub import HubMissError, discard_cached, hub_cached, hub_download
from srzoo.zoo.integrity import ChecksumError, verify
from srzoo.zoo.manifest import ZooEntry, find_entry, load_manifest
from srzoo.zoo.network import Unreachable, host_of, probe
from srzoo.zoo.origin import fetch_from_origin, has_origin

if TYPE_CHECKING:
    from torch import nn

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"

Origin = Literal["file", "dir", "bundled", "hub cache", "hub", "origin"]
_REMEDY: dict[Origin, str] = {
    "dir": "replace it (`srzoo download`, `srzoo zoo import`) or delete it",
    "bundled": "the installed package is damaged; reinstall srzoo",
    "hub cache": "it was removed from the Hugging Face cache, so the next run downloads it again",
}

__all__ = ["BUNDLED_DIR", "ChecksumError", "Located", "load_pretrained", "local_copy", "require_available",
           "resolve_weights", "zoo_entry"]


@dataclass(frozen=True)
class Located:
    """A verified weights file and where it was found."""

    path: Path
    origin: Origin


def zoo_entry(name: str, scale: int) -> ZooEntry:
    """The manifest entry for a model name (or alias) and scale; usage errors for bad names/scales."""
    family = get_family(name)
    check_scale(family, scale)
    entry = find_entry(family.name, scale)
    if entry is None:
        raise UsageError(f"the model manifest has no entry for {family.title} x{scale}")
    return entry


def require_available(entry: ZooEntry, hint: str = "") -> ZooEntry:
    """`entry` itself, or a usage error explaining that its weights do not exist yet (plus `hint`)."""
    if not entry.available:
        raise UsageError(f"{entry.label} has no weights yet (status {entry.status}): {entry.how}{hint}")
    return entry


def bundled_file(entry: ZooEntry) -> Path | None:
    """The package's copy of `entry`'s file, if the bundle's SHA256SUMS lists the entry's sha256."""
    return BUNDLED_DIR / entry.filename if (entry.sha256, entry.filename) in _bundle_index() else None


@lru_cache(maxsize=1)
def _bundle_index() -> frozenset[tuple[str, str]]:
    lines = (BUNDLED_DIR / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    return frozenset((digest, name) for digest, name in (line.split() for line in lines if line.strip()))


def local_copy(entry: ZooEntry) -> Located | None:
    """Where `entry`'s file already is on this machine, in resolution order (unverified: no hashing)."""
    candidates: tuple[tuple[Path | None, Origin], ...] = (
        (weights_dir() / entry.filename, "dir"),
        (bundled_file(entry), "bundled"),
        (hub_cached(entry), "hub cache"),
    )
    return next((Located(path, origin) for path, origin in candidates if path is not None and path.is_file()),
                None)


def resolve_weights(name: str, scale: int, weights: Path | None = None, progress: bool = False,
                    origin_only: bool = False) -> Located:
    """The verified weights file for `name` x`scale` and where it came from.

    `origin_only` skips every copy and the Hub and converts the authors' checkpoint afresh.
    """
    family = get_family(name)
    check_scale(family, scale)
    if weights is not None:
        if not Path(weights).is_file():
            raise SrzooError(f"weights file not found: {weights}")
        return Located(Path(weights), "file")
    entry = require_available(zoo_entry(family.name, scale), hint="; or pass --weights PATH")
    if origin_only:
        return _from_origin(entry, progress)
    found = local_copy(entry)
    if found is not None:
        return _checked(found, entry)
    passed_over = ""
    if entry.published or hub_mirrored():
        try:
            if not constants.HF_HUB_OFFLINE:
                probe(constants.ENDPOINT, "the Hugging Face Hub")
            _note(f"downloading {entry.label} ({entry.filename}) from {constants.ENDPOINT}")
            return _checked(Located(hub_download(entry, progress), "hub"), entry)
        except Unreachable as exc:
            if not has_origin(entry):
                raise _offline(entry, str(exc)) from exc
            passed_over = str(exc)
        except HubMissError:
            if not has_origin(entry):
                raise
            passed_over = "the Hub has no copy"
        except SrzooError as exc:
            if not has_origin(entry):
                raise
            assert entry.source is not None
            raise SrzooError(f"{exc}; or download {entry.source.url} and convert it, no network needed: "
                             f"srzoo zoo import --all FOLDER (with FOLDER/{entry.source.checkpoint})") from exc
    elif not has_origin(entry):
        raise SrzooError(f"{entry.label} is not published on the Hub yet ({entry.repo_id}) and has no authors' "
                         "checkpoint to convert; pass --weights FILE")
    assert entry.source is not None
    try:
        probe(entry.source.origin_url(), "the authors' site")
    except Unreachable as exc:
        raise _offline(entry, "; ".join(filter(None, (passed_over, str(exc))))) from exc
    _note(f"downloading {entry.label}: the authors' checkpoint {entry.source.origin_url()}")
    return _from_origin(entry, progress, after=passed_over)


def hub_mirrored() -> bool:
    """Whether `HF_ENDPOINT` names a Hub other than huggingface.co (a mirror or a test server)."""
    return host_of(constants.ENDPOINT) != "https://huggingface.co"


def offline_entries() -> list[str]:
    """The labels of the entries whose weights are on this machine (bundled, weights dir, Hub cache)."""
    return [entry.label for entry in load_manifest() if entry.available and local_copy(entry) is not None]


def _offline(entry: ZooEntry, reason: str) -> SrzooError:
    """The one-line error for weights that cannot be fetched: why, what works offline, the offline route."""
    route = ""
    if entry.source is not None and entry.source.kind == "official":
        route = (f"; or fetch {entry.source.url} on another machine and run "
                 f"`srzoo zoo import --all FOLDER` (with FOLDER/{entry.source.checkpoint})")
    works = ", ".join(offline_entries()) or "none"
    return Unreachable(f"cannot fetch {entry.label}: {reason}. Offline, these work: {works}{route}")


def _note(message: str) -> None:
    logging.getLogger("srzoo").info(message)


def _from_origin(entry: ZooEntry, progress: bool, after: str = "") -> Located:
    """Fetch from the authors' origin; `after` says why the earlier sources were passed over."""
    if not has_origin(entry):
        raise UsageError(f"{entry.label} is not an official release: it has no origin to fetch from")
    try:
        return Located(fetch_from_origin(entry, progress), "origin")
    except SrzooError as exc:
        if not after:
            raise
        raise type(exc)(f"{exc} ({after})") from exc


def _checked(found: Located, entry: ZooEntry) -> Located:
    """`found`, after its sha256 check; a bad Hub download is also deleted from the cache."""
    try:
        verify(found.path, entry, _REMEDY.get(found.origin, _REMEDY["hub cache"]))
    except ChecksumError:
        if found.origin in ("hub", "hub cache"):
            discard_cached(found.path)
        raise
    return found


def origin_hint(entry: ZooEntry) -> str:
    """Where `srzoo models` says the weights would come from now, without touching the network."""
    if not entry.available:
        return "-"
    found = local_copy(entry)
    if found is not None:
        return found.origin
    if constants.HF_HUB_OFFLINE:
        return "offline"
    hub = entry.published or hub_mirrored()
    return "/".join(name for name, ok in (("hub", hub), ("origin", has_origin(entry))) if ok) or "-"


def load_pretrained(name: str, scale: int, weights: Path | None = None) -> nn.Module:
    """The pretrained network in inference form and eval mode; training-form files are folded."""
    family = get_family(name)
    return load_network(family.name, scale, resolve_weights(family.name, scale, weights).path)


def check_choice(model: str | None, scale: int | None, weights: bool = False) -> None:
    """Usage errors for an unknown model, or a scale that it (or, without a model, every model)
    lacks; with a weights file (which may hold another architecture), only a model that is one of
    srzoo's families is checked here, and the file decides the rest."""
    if weights:
        family = next((f for f in list_families() if model is not None and model.lower() in f.names()), None)
        if family is not None and scale is not None:
            check_scale(family, scale)
        return
    if model is not None:
        family = get_family(model)
        if scale is not None:
            check_scale(family, scale)
    elif scale is not None and scale not in SCALES:
        raise UsageError(f"no model has an x{scale} variant (scales: {', '.join(map(str, SCALES))})")


def choose_network(model: str | None, scale: int | None, weights: Path | None) -> tuple[str, int]:
    """The family name and scale to run: what a `weights` file holds (a given model or scale must
    agree with it), else the given ones, else the defaults. Usage errors come before any file is read."""
    check_choice(model, scale, weights is not None)
    if weights is not None:
        from srzoo.models.detect import UnknownNetwork  # torch: only when a file is read
        from srzoo.zoo.convert import identify

        try:
            reading = identify(Path(weights), model, scale)
        except UnknownNetwork:
            return _external(Path(weights), model, scale)
        return reading.family, reading.scale
    family = get_family(model or DEFAULT_MODEL)
    scale = DEFAULT_SCALE if scale is None else scale
    check_scale(family, scale)
    return family.name, scale


def _external(path: Path, model: str | None, scale: int | None) -> tuple[str, int]:
    """A network of another architecture (spandrel); a given model or scale must agree with it."""
    from srzoo.models.external import load_external
    from srzoo.zoo.convert import check_holds

    network = load_external(path)
    check_holds(path, network.family, network.scale, model, scale)
    return network.family.name, network.scale


def load_network(name: str, scale: int, path: Path) -> nn.Module:
    """The network stored in the (already verified) weights file `path` (safetensors, or an authors'
    checkpoint), in inference form."""
    from srzoo.zoo.convert import (  # torch: only when loading
        detect_form,
        first_mismatch,
        read_weights_file,
    )

    family = get_family(name)
    if family.source == "spandrel":
        from srzoo.models.external import load_external

        return load_external(path).model
    state, metadata = read_weights_file(path)
    form = metadata.get("form") or detect_form(family, scale, state)
    if form not in family.forms:
        raise SrzooError(f"{path}: form {form!r} is not one of {family.title}'s ({', '.join(family.forms)})")
    model = build_model(family.name, scale, form)
    problem = first_mismatch(model, state)
    if problem is not None:
        raise SrzooError(f"{path} does not fit {family.title} x{scale} ({form} form): {problem}")
    model.load_state_dict(state, strict=True)
    if form == "training":
        if family.folder is None:
            raise SrzooError(f"{family.title} has no re-parameterisation to fold {path} with")
        model = family.fold(model.eval())
    return model.eval()
