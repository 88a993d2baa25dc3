"""Finding, verifying and loading zoo weights.

Resolution order for (model, scale):
1. `--weights PATH`: any local safetensors file (its tensors must fit the model);
2. `$SRZOO_WEIGHTS_DIR/<filename>` (see `srzoo.paths.weights_dir`), e.g. written by `srzoo zoo import`;
3. `huggingface_hub.hf_hub_download(repo_id, filename, revision)`, which honours the Hub cache,
   `HF_HUB_OFFLINE`, `HF_ENDPOINT` and `HF_HOME`.
Files from 2 and 3 are checked against the manifest's sha256 before anything reads them; a bad
download is deleted from the Hub cache so that the next run fetches it again.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
from huggingface_hub import constants, hf_hub_download, try_to_load_from_cache
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import logging as hf_logging
from huggingface_hub.utils import silent_tqdm
from torch import nn

from srzoo.zoo.convert import detect_form, first_mismatch
from srzoo.errors import SrzooError, UsageError
from srzoo.fsutil import sha256_file
from srzoo.zoo.manifest import ZooEntry, find_entry
from srzoo.models import build_model, check_scale, get_family
from srzoo.paths import weights_dir
from srzoo.zoo.weightfile import load_weights

# What a failed Hub call can raise (HTTP status, no cached copy, transport or disk errors,
# invalid arguments such as a malformed repo id).
HUB_ERRORS = (HfHubHTTPError, EntryNotFoundError, OSError, httpx2.HTTPError, ValueError)
_NOT_FOUND = ((RepositoryNotFoundError, "repository not found (or private)"),
              (RevisionNotFoundError, "revision not found"),
              (RemoteEntryNotFoundError, "file not found in the repository"))


class ChecksumError(SrzooError):
    """A weights file whose sha256 differs from the manifest's."""


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


def resolve_weights(name: str, scale: int, weights: Path | None = None, progress: bool = False) -> Path:
    """The verified weights file for `name` x`scale` (see the module docstring for the order)."""
    family = get_family(name)
    check_scale(family, scale)
    if weights is not None:
        if not Path(weights).is_file():
            raise SrzooError(f"weights file not found: {weights}")
        return Path(weights)
    entry = require_available(zoo_entry(family.name, scale), hint="; or pass --weights PATH")
    local = weights_dir() / entry.filename
    if local.is_file():
        return verify(local, entry, "replace it (`srzoo zoo import`) or delete it")
    path = download(entry, progress)
    try:
        return verify(path, entry, "it was removed from the Hugging Face cache, so the next run "
                                   "downloads it again")
    except ChecksumError:
        discard_cached(path)
        raise


def verify(path: Path, entry: ZooEntry, remedy: str) -> Path:
    """`path`, after checking its sha256 against the manifest; `ChecksumError` (with `remedy`) if not."""
    actual = sha256_file(path)
    if actual != entry.sha256:
        raise ChecksumError(f"{path}: sha256 {actual[:12]}… does not match the manifest's "
                            f"{entry.sha256[:12]}… for {entry.label}; not loaded: {remedy}")
    return path


def download(entry: ZooEntry, progress: bool = False) -> Path:
    """Fetch `entry`'s file into the Hugging Face cache (or find it there) with huggingface_hub."""
    try:
        with hub_warnings_silenced():
            return Path(hf_hub_download(entry.repo_id, entry.filename, revision=entry.revision,
                                        tqdm_class=None if progress else silent_tqdm))
    except HUB_ERRORS as exc:
        where = f"{entry.repo_id}@{entry.revision}/{entry.filename} from {constants.ENDPOINT}"
        official = entry.source is not None and entry.source.kind == "official"
        hint = (f"; or convert the authors' checkpoint, no network needed: srzoo zoo import --all FOLDER "
                f"(with FOLDER/{entry.source.checkpoint})" if official else "")
        raise SrzooError(f"cannot download {where}: {hub_error_reason(exc)}{hint}") from exc


def discard_cached(path: Path) -> None:
    """Delete a Hub-cache file (its snapshot link and the blob behind it)."""
    blob = path.resolve()
    path.unlink(missing_ok=True)
    blob.unlink(missing_ok=True)


def cached_copy(entry: ZooEntry) -> Path | None:
    """Where `entry`'s file already is on this machine (weights dir, then Hub cache), if anywhere."""
    local = weights_dir() / entry.filename
    if local.is_file():
        return local
    hit = try_to_load_from_cache(entry.repo_id, entry.filename, revision=entry.revision)
    return Path(hit) if isinstance(hit, str) else None


def load_pretrained(name: str, scale: int, weights: Path | None = None) -> nn.Module:
    """The pretrained network in inference form and eval mode; training-form files are folded."""
    family = get_family(name)
    path = resolve_weights(family.name, scale, weights)
    state, metadata = load_weights(path)
    form = metadata.get("form") or detect_form(family, scale, state)
    if form not in family.forms:
        raise SrzooError(f"{path}: form {form!r} is not one of {family.title}'s ({', '.join(family.forms)})")
    model = build_model(family.name, scale, form)
    problem = first_mismatch(model, state)
    if problem is not None:
        raise SrzooError(f"{path} does not fit {family.title} x{scale} ({form} form): {problem}")
    model.load_state_dict(state, strict=True)
    if form == "training":
        if family.fold is None:
            raise SrzooError(f"{family.title} has no re-parameterisation to fold {path} with")
        model = family.fold(model.eval())
    return model.eval()


@contextmanager
def hub_warnings_silenced() -> Iterator[None]:
    """Mute huggingface_hub's per-retry warnings (srzoo reports one line) unless HF_HUB_VERBOSITY is set."""
    if os.environ.get("HF_HUB_VERBOSITY"):
        yield
        return
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def hub_error_reason(exc: BaseException) -> str:
    """One line saying why a huggingface_hub call failed."""
    if isinstance(exc, LocalEntryNotFoundError):
        if constants.HF_HUB_OFFLINE:
            return ("not in the Hugging Face cache and HF_HUB_OFFLINE is set; run `srzoo download` "
                    "while online, or put the file in $SRZOO_WEIGHTS_DIR")
        if exc.__cause__ is not None:
            exc = exc.__cause__
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        status = f"HTTP {exc.response.status_code} {exc.response.reason_phrase}".strip()
        meaning = next((text for kind, text in _NOT_FOUND if isinstance(exc, kind)), "")
        return f"{meaning} ({status})" if meaning else status
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
