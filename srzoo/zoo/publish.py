"""Publishing the weights dir to the Hub, and the zoo.toml lines that point at the upload."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi, constants

from srzoo.errors import SrzooError
from srzoo.fsutil import sha256_file
from srzoo.models.layers import count_parameters
from srzoo.zoo.hub import HUB_ERRORS, hub_error_reason, hub_warnings_silenced
from srzoo.zoo.manifest import ZooEntry, load_manifest
from srzoo.zoo.resolve import load_pretrained


@dataclass(frozen=True)
class Publishable:
    """A weights-dir file named as a manifest entry, checked to load into that entry's model."""

    entry: ZooEntry
    path: Path
    params: int
    sha256: str


def publishable_files(directory: Path, on_note: Callable[[str], None] = lambda _: None) -> list[Publishable]:
    """The files in `directory` named as manifest entries; a one-line error if one does not fit.
    Files in it that no entry names are passed over with a note."""

    files = [Publishable(e, path, count_parameters(load_pretrained(e.name, e.scale, weights=path)),
                         sha256_file(path))
             for e in load_manifest() if (path := directory / e.filename).is_file()]
    if not files:
        raise SrzooError(f"no zoo weights in {directory}: nothing to publish "
                         "(files must be named as in zoo.toml; see `srzoo zoo import`)")
    known = {item.path.name for item in files}
    for stray in sorted(p.name for p in directory.glob("*.safetensors") if p.name not in known):
        on_note(f"skipping {stray}: not a file named in the manifest")
    return files


def manifest_lines(item: Publishable, repo_id: str, revision: str) -> str:
    """The zoo.toml lines that make `item`'s entry point at the uploaded file."""
    lines = [f"# {item.entry.label} ({item.path.name})", 'status = "available"', f'repo_id = "{repo_id}"',
             f'revision = "{revision}"', "published = true", f'sha256 = "{item.sha256}"',
             f"params = {item.params}"]
    if item.entry.source is None:
        lines.append('# and replace `how` with source = { kind = "srzoo-train", command = "...", data = "..." }')
    return "\n".join(lines) + "\n"


def upload(files: list[Publishable], repo_id: str) -> tuple[str, str]:
    """Upload `files` to the Hub model repo `repo_id` in one commit; returns (commit hash, commit URL)."""
    operations = [CommitOperationAdd(path_in_repo=f.path.name, path_or_fileobj=str(f.path)) for f in files]
    api = HfApi()
    try:
        with hub_warnings_silenced():
            api.create_repo(repo_id, exist_ok=True)
            commit = api.create_commit(repo_id, operations,
                                       commit_message=f"srzoo: upload {len(files)} weight file(s)")
    except HUB_ERRORS as exc:
        raise SrzooError(f"cannot upload to {repo_id} on {constants.ENDPOINT}: {hub_error_reason(exc)}") from exc
    return commit.oid, commit.commit_url
