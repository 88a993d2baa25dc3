"""The Hugging Face Hub as a source of zoo files: download into its cache, and say why a call failed."""

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

from srzoo.errors import SrzooError
from srzoo.zoo.manifest import ZooEntry

# What a failed Hub call can raise (HTTP status, no cached copy, transport or disk errors,
# invalid arguments such as a malformed repo id).
HUB_ERRORS = (HfHubHTTPError, EntryNotFoundError, OSError, httpx2.HTTPError, ValueError)
_NOT_FOUND = ((RepositoryNotFoundError, "repository not found (or private)"),
              (RevisionNotFoundError, "revision not found"),
              (RemoteEntryNotFoundError, "file not found in the repository"))


class HubMissError(SrzooError):
    """The Hub answered that the repository, revision or file does not exist (not a transport error)."""


def hub_download(entry: ZooEntry, progress: bool = False) -> Path:
    """Fetch `entry`'s file into the Hugging Face cache (or find it there) with huggingface_hub."""
    try:
        with hub_warnings_silenced():
            return Path(hf_hub_download(entry.repo_id, entry.filename, revision=entry.revision,
                                        tqdm_class=None if progress else silent_tqdm))
    except HUB_ERRORS as exc:
        where = f"{entry.repo_id}@{entry.revision}/{entry.filename} from {constants.ENDPOINT}"
        missing = isinstance(_cause(exc), (RepositoryNotFoundError, RevisionNotFoundError,
                                           RemoteEntryNotFoundError))
        raise (HubMissError if missing else SrzooError)(f"cannot download {where}: {hub_error_reason(exc)}") from exc


def hub_cached(entry: ZooEntry) -> Path | None:
    """`entry`'s file in the Hugging Face cache, if it is there (no network)."""
    hit = try_to_load_from_cache(entry.repo_id, entry.filename, revision=entry.revision)
    return Path(hit) if isinstance(hit, str) else None


def discard_cached(path: Path) -> None:
    """Delete a Hub-cache file (its snapshot link and the blob behind it)."""
    blob = path.resolve()
    path.unlink(missing_ok=True)
    blob.unlink(missing_ok=True)


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


def _cause(exc: BaseException) -> BaseException:
    if isinstance(exc, LocalEntryNotFoundError) and not constants.HF_HUB_OFFLINE and exc.__cause__ is not None:
        return exc.__cause__
    return exc


def hub_error_reason(exc: BaseException) -> str:
    """One line saying why a huggingface_hub call failed."""
    if isinstance(exc, LocalEntryNotFoundError) and constants.HF_HUB_OFFLINE:
        return ("not in the Hugging Face cache and HF_HUB_OFFLINE is set; run `srzoo download` "
                "while online, or put the file in $SRZOO_WEIGHTS_DIR")
    exc = _cause(exc)
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        status = f"HTTP {exc.response.status_code} {exc.response.reason_phrase}".strip()
        meaning = next((text for kind, text in _NOT_FOUND if isinstance(exc, kind)), "")
        return f"{meaning} ({status})" if meaning else status
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
