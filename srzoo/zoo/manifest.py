"""The zoo manifest (`zoo.toml`): which weights exist for each (family, scale), and where.

The manifest is validated when it is loaded: unknown keys, missing or mistyped fields, unsafe
filenames and malformed checksums are rejected with a one-line error naming the entry and field.
`$SRZOO_MANIFEST` points srzoo at another manifest file (tests, private zoos).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from srzoo.constants import manifest_override, origin_mirror
from srzoo.errors import SrzooError
from srzoo.fsutil import atomic_path
from srzoo.models import Form, ModelFamily, get_family

MANIFEST_PATH = Path(__file__).resolve().parent / "zoo.toml"
SCHEMA_VERSION = 1
DATASETS = ("Set5", "Set14", "B100", "Urban100", "Manga109")

Status = Literal["available", "unverified", "untrained"]
Scores = dict[str, tuple[float, float | None]]  # dataset -> (PSNR, SSIM or None if unpublished)

_SHA256 = re.compile(r"[0-9a-f]{64}")
_GIT_BLOB = re.compile(r"[0-9a-f]{40}")
ORIGIN_HOST = "https://github.com"
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")

# key -> expected type; `int` means int but not bool.
_FIELDS: dict[str, type] = {
    "name": str, "aliases": list, "scale": int, "status": str, "form": str, "params": int, "published": bool,
    "filename": str, "repo_id": str, "revision": str, "licence": str, "citation": dict,
    "sha256": str, "source": dict, "how": str,
    "paper": dict, "paper_note": str, "paper_verified": bool, "measured": dict, "measured_note": str,
}
_ALWAYS = ("name", "aliases", "scale", "status", "form", "params", "filename", "repo_id",
           "revision", "licence", "citation")
# status -> (required keys, forbidden keys)
_BY_STATUS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "available": (("sha256", "source"), ("how",)),
    "unverified": (("source",), ("sha256", "how", "measured", "measured_note")),
    "untrained": (("how",), ("sha256", "source", "measured", "measured_note")),
}
# kind -> (required fields, optional fields); an official source has exactly one checkpoint hash.
_SOURCE_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "official": (("repo", "commit", "checkpoint", "url"), ("checkpoint_sha256", "checkpoint_git_blob")),
    "srzoo-train": (("command", "data"), ()),
}
_CITATION_FIELDS: dict[str, type] = {"title": str, "venue": str, "year": int}


@dataclass(frozen=True)
class Source:
    """Where the weights come from: the authors' release, or an `srzoo train` run.

    Official: `repo` at the full `commit`, the checkpoint's `url` there, its local name
    `checkpoint` (relative to a folder of official checkpoints, for `srzoo zoo import --all`) and
    its hash: `checkpoint_sha256`, or only `checkpoint_git_blob` where the file was never seen by us.
    """

    kind: Literal["official", "srzoo-train"]
    repo: str = ""
    commit: str = ""
    checkpoint: str = ""
    url: str = ""
    checkpoint_sha256: str = ""
    checkpoint_git_blob: str = ""
    command: str = ""
    data: str = ""

    def origin_url(self) -> str:
        """`url`, on the mirror named by `$SRZOO_ORIGIN_ENDPOINT` if set (like `HF_ENDPOINT` for the Hub)."""
        mirror = origin_mirror()
        return mirror + self.url.removeprefix(ORIGIN_HOST) if mirror else self.url


@dataclass(frozen=True)
class Citation:
    """The paper that introduced the network."""

    title: str
    venue: str
    year: int

    def __str__(self) -> str:
        return f"{self.title}, {self.venue}, {self.year}"


@dataclass(frozen=True)
class ZooEntry:
    """One (family, scale) of the zoo. `paper` / `measured` map dataset -> (PSNR, SSIM);
    `paper_verified` is False for a row not taken from the authors (`srzoo eval --check` skips it)."""

    name: str
    aliases: tuple[str, ...]
    scale: int
    status: Status
    form: Form
    params: int
    filename: str
    repo_id: str
    revision: str
    licence: str
    citation: Citation
    sha256: str | None = None
    source: Source | None = None
    how: str | None = None
    paper: Scores = field(default_factory=dict)
    paper_note: str | None = None
    paper_verified: bool = True
    measured: Scores = field(default_factory=dict)
    measured_note: str | None = None
    published: bool = True  # the file is live on the Hub at repo_id/revision (publishing sets it)

    @property
    def label(self) -> str:
        """`name xN`, as used in messages."""
        return f"{self.name} x{self.scale}"

    @property
    def available(self) -> bool:
        """Weights exist (checked against `sha256`, or, when unverified, against the source's hash)."""
        return self.status in ("available", "unverified")

    @property
    def verified(self) -> bool:
        """srzoo's file for this entry has a known sha256 (false for `status = "unverified"`)."""
        return self.sha256 is not None


def file_entry(family: ModelFamily, scale: int, path: Path) -> ZooEntry:
    """An entry for a weights file outside the zoo (another architecture's): nothing to fetch, no
    paper row; `params` is 0 (unknown until loaded)."""
    return ZooEntry(name=family.name, aliases=(), scale=scale, status="available", form="inference", params=0,
                    filename=Path(path).name, repo_id="-", revision="-", licence="as the file's",
                    citation=Citation(family.title, "-", 0))


def manifest_path() -> Path:
    """`$SRZOO_MANIFEST`, else the `zoo.toml` shipped inside the package."""
    return manifest_override() or MANIFEST_PATH


def load_manifest(path: Path | None = None) -> tuple[ZooEntry, ...]:
    """All validated entries of the manifest (default: `manifest_path()`), in file order."""
    path = Path(path) if path is not None else manifest_path()
    try:
        stat = path.stat()
    except OSError as exc:
        raise SrzooError(f"cannot read the model manifest {path}: {exc.strerror}") from exc
    return _load(path, (stat.st_mtime_ns, stat.st_size))


@lru_cache(maxsize=8)
def _load(path: Path, stamp: tuple[int, int]) -> tuple[ZooEntry, ...]:
    del stamp  # part of the cache key only: an edited file is read again
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SrzooError(f"cannot read the model manifest {path}: {exc}") from exc
    return parse_manifest(data, str(path))


def parse_manifest(data: dict[str, Any], where: str = "zoo.toml") -> tuple[ZooEntry, ...]:
    """Validate a decoded manifest and return its entries; `where` prefixes every error."""
    unknown = sorted(set(data) - {"schema", "models"})
    if unknown:
        raise SrzooError(f"{where}: unknown top-level key {unknown[0]!r}")
    if data.get("schema") != SCHEMA_VERSION:
        raise SrzooError(f"{where}: expected schema = {SCHEMA_VERSION}, found {data.get('schema')!r}")
    rows = data.get("models")
    if not isinstance(rows, list) or not rows:
        raise SrzooError(f"{where}: no [[models]] entries")
    entries = tuple(_entry(row, f"{where}: models[{i}]") for i, row in enumerate(rows))
    _check_unique(entries, where)
    return entries


def find_entry(family: str, scale: int) -> ZooEntry | None:
    """The manifest entry for a canonical family name and scale, or None."""
    return next((e for e in load_manifest() if e.name == family and e.scale == scale), None)


def _check_unique(entries: tuple[ZooEntry, ...], where: str) -> None:
    for what, values in (("entry", [e.label for e in entries]), ("filename", [e.filename for e in entries])):
        repeated = next((v for i, v in enumerate(values) if v in values[:i]), None)
        if repeated is not None:
            raise SrzooError(f"{where}: duplicate {what} {repeated!r}")


def _entry(row: Any, where: str) -> ZooEntry:
    if not isinstance(row, dict):
        raise SrzooError(f"{where}: expected a table")
    if isinstance(row.get("name"), str) and isinstance(row.get("scale"), int):
        where = f"{where} ({row['name']} x{row['scale']})"
    _check_keys(row, where)
    family = _family(row, where)
    if row["status"] == "unverified" and "checkpoint_git_blob" not in row["source"]:
        raise SrzooError(f"{where}: status 'unverified' is for an official checkpoint known only by "
                         "its checkpoint_git_blob")
    return ZooEntry(
        name=row["name"],
        aliases=tuple(row["aliases"]),
        scale=_choice(row, "scale", family.scales, where),
        status=row["status"],
        form=_choice(row, "form", family.forms, where),
        params=_positive(row, "params", where),
        filename=_filename(row["filename"], where),
        repo_id=_match(row, "repo_id", _REPO_ID, "owner/name", where),
        revision=_nonempty(row, "revision", where),
        licence=_nonempty(row, "licence", where),
        citation=_citation(row["citation"], where),
        sha256=_match(row, "sha256", _SHA256, "64 lowercase hex digits", where) if "sha256" in row else None,
        source=_source(row["source"], where) if "source" in row else None,
        how=_nonempty(row, "how", where) if "how" in row else None,
        paper=_scores(row.get("paper", {}), f"{where}: paper", ssim_optional=True),
        paper_note=row.get("paper_note"),
        paper_verified=row.get("paper_verified", True),
        measured=_scores(row.get("measured", {}), f"{where}: measured"),
        measured_note=row.get("measured_note"),
        published=row.get("published", True),
    )


def _check_keys(row: dict[str, Any], where: str) -> None:
    unknown = sorted(set(row) - set(_FIELDS))
    if unknown:
        raise SrzooError(f"{where}: unknown key {unknown[0]!r}")
    for key, value in row.items():
        _check_type(value, _FIELDS[key], f"{where}: {key!r}")
    for key in _ALWAYS:
        if key not in row:
            raise SrzooError(f"{where}: missing field {key!r}")
    required, forbidden = _BY_STATUS[_choice(row, "status", tuple(_BY_STATUS), where)]
    for key in required:
        if key not in row:
            raise SrzooError(f"{where}: missing field {key!r} (required when status = {row['status']!r})")
    for key in forbidden:
        if key in row:
            raise SrzooError(f"{where}: {key!r} is not allowed when status = {row['status']!r}")
    if not all(isinstance(a, str) for a in row["aliases"]):
        raise SrzooError(f"{where}: 'aliases' must be a list of strings")


def _check_type(value: Any, expected: type, what: str) -> None:
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise SrzooError(f"{what} must be {expected.__name__}, found {type(value).__name__}")


def _family(row: dict[str, Any], where: str) -> ModelFamily:
    try:
        family = get_family(row["name"])
    except SrzooError as exc:
        raise SrzooError(f"{where}: {exc}") from exc
    if family.name != row["name"]:
        raise SrzooError(f"{where}: name must be the canonical {family.name!r}, not an alias")
    for alias in row["aliases"]:
        if alias not in family.aliases:
            raise SrzooError(f"{where}: alias {alias!r} is not one of {family.title}'s "
                             f"({', '.join(family.aliases)})")
    return family


def _choice(row: dict[str, Any], key: str, allowed: tuple[Any, ...], where: str) -> Any:
    if row[key] not in allowed:
        raise SrzooError(f"{where}: {key} = {row[key]!r} is not one of {', '.join(map(str, allowed))}")
    return row[key]


def _positive(row: dict[str, Any], key: str, where: str) -> int:
    if row[key] <= 0:
        raise SrzooError(f"{where}: {key} must be positive")
    return row[key]


def _nonempty(row: dict[str, Any], key: str, where: str) -> str:
    if not row[key].strip():
        raise SrzooError(f"{where}: {key} must not be empty")
    return row[key]


def _match(row: dict[str, Any], key: str, pattern: re.Pattern[str], expected: str, where: str) -> str:
    if not pattern.fullmatch(row[key]):
        raise SrzooError(f"{where}: malformed {key} {row[key]!r} (expected {expected})")
    return row[key]


def _filename(name: str, where: str) -> str:
    if "/" in name or "\\" in name or ".." in name or not name.endswith(".safetensors"):
        raise SrzooError(f"{where}: filename {name!r} must be a plain *.safetensors name "
                         "(no path separator, no '..')")
    return name


def _citation(table: dict[str, Any], where: str) -> Citation:
    where = f"{where}: citation"
    _exact_keys(table, tuple(_CITATION_FIELDS), where)
    for key, expected in _CITATION_FIELDS.items():
        _check_type(table[key], expected, f"{where}.{key}")
    return Citation(**table)


def _source(table: dict[str, Any], where: str) -> Source:
    where = f"{where}: source"
    kind = table.get("kind")
    if kind not in _SOURCE_FIELDS:
        raise SrzooError(f"{where}: kind = {kind!r} is not one of {', '.join(_SOURCE_FIELDS)}")
    required, optional = _SOURCE_FIELDS[kind]
    _exact_keys(table, ("kind", *required), where, optional)
    for key in (*required, *optional):
        if key in table:
            _check_type(table[key], str, f"{where}.{key}")
    if kind == "official":
        _check_official(table, where)
    return Source(**table)


def _check_official(table: dict[str, Any], where: str) -> None:
    hashes = [key for key in _SOURCE_FIELDS["official"][1] if key in table]
    if len(hashes) != 1:
        raise SrzooError(f"{where}: give exactly one of checkpoint_sha256, checkpoint_git_blob")
    if not _GIT_BLOB.fullmatch(table["commit"]):
        raise SrzooError(f"{where}: commit {table['commit']!r} must be the full 40-digit hash")
    prefix = f"{ORIGIN_HOST}/{table['repo']}/raw/{table['commit']}/"
    if not table["url"].startswith(prefix) or table["url"] == prefix:
        raise SrzooError(f"{where}: url must be {prefix}PATH (the file at the pinned commit)")
    if Path(table["url"]).name != Path(table["checkpoint"]).name:
        raise SrzooError(f"{where}: url and checkpoint must name the same file")
    pattern = _SHA256 if hashes[0] == "checkpoint_sha256" else _GIT_BLOB
    if not pattern.fullmatch(table[hashes[0]]):
        raise SrzooError(f"{where}: malformed {hashes[0]} {table[hashes[0]]!r}")


def _exact_keys(table: dict[str, Any], keys: tuple[str, ...], where: str,
                optional: tuple[str, ...] = ()) -> None:
    unknown = sorted(set(table) - set(keys) - set(optional))
    if unknown:
        raise SrzooError(f"{where}: unknown key {unknown[0]!r}")
    missing = [k for k in keys if k not in table]
    if missing:
        raise SrzooError(f"{where}: missing field {missing[0]!r}")


def _scores(table: dict[str, Any], where: str, ssim_optional: bool = False) -> Scores:
    """Validated {dataset: (psnr, ssim)}; with `ssim_optional`, `[psnr]` alone means no published SSIM."""
    scores: Scores = {}
    shape = "[psnr, ssim] or [psnr]" if ssim_optional else "[psnr, ssim]"
    for dataset, pair in table.items():
        if dataset not in DATASETS:
            raise SrzooError(f"{where}: unknown dataset {dataset!r} (known: {', '.join(DATASETS)})")
        if (not isinstance(pair, list) or len(pair) not in ((1, 2) if ssim_optional else (2,))
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair)):
            raise SrzooError(f"{where}.{dataset} must be {shape}")
        psnr, ssim = float(pair[0]), (float(pair[1]) if len(pair) == 2 else None)
        if not (0 < psnr < 100 and (ssim is None or 0 <= ssim <= 1)):
            raise SrzooError(f"{where}.{dataset}: {pair} is not a plausible {shape}")
        scores[dataset] = (psnr, ssim)
    return scores


def update_measured(scores: dict[tuple[str, int], Scores], path: Path) -> list[str]:
    """Merge (name, scale) -> {dataset: (PSNR, SSIM)} into the entries' `measured` tables at `path`.

    Only each entry's `measured = {...}` line changes (or is added), so the file keeps its layout and
    comments; the new text is validated before it atomically replaces the file. Returns the labels
    of the entries written.
    """
    path = Path(path).resolve()  # a symlinked manifest: replace its target
    entries = {(e.name, e.scale): e for e in load_manifest(path)}
    text = path.read_text(encoding="utf-8")
    for key, new in scores.items():
        entry = entries.get(key)
        if entry is None or not entry.available:
            raise SrzooError(f"{path}: no entry with weights for {key[0]} x{key[1]}; nothing was written")
        text = _set_measured(text, key, _measured_line({**entry.measured, **new}))
    parse_manifest(tomllib.loads(text), str(path))
    mode = path.stat().st_mode & 0o777
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(mode)
    return [entries[key].label for key in scores]


def _measured_line(scores: Scores) -> str:
    cells = ", ".join(f"{name} = [{scores[name][0]:.3f}, {scores[name][1]:.4f}]"
                      for name in DATASETS if name in scores)
    return f"measured = {{ {cells} }}"


_BLOCK = "[[models]]"
_KEY = re.compile(r"^(\w+)\s*=\s*(.*)$")


def _set_measured(text: str, key: tuple[str, int], line: str) -> str:
    """`text` with the `measured` line of entry `key` = (name, scale) replaced by `line` (or added).

    A new line goes after the entry's `paper` / `paper_note` / `paper_verified` lines, else after its last key.
    """
    lines = text.splitlines(keepends=True)
    starts = [i for i, raw in enumerate(lines) if raw.strip() == _BLOCK] + [len(lines)]
    for start, end in zip(starts, starts[1:]):
        keys = {m[1]: (i, m[2]) for i in range(start + 1, end) if (m := _KEY.match(lines[i].strip()))}
        if (_plain(keys, "name"), _plain(keys, "scale")) != (key[0], str(key[1])):
            continue
        if "measured" in keys:
            lines[keys["measured"][0]] = line + "\n"
            return "".join(lines)
        after = max((keys[k][0] for k in ("paper", "paper_note", "paper_verified") if k in keys),
                    default=max(i for i, _ in keys.values()))
        lines[after] = lines[after].rstrip("\r\n") + "\n"
        lines.insert(after + 1, line + "\n")
        return "".join(lines)
    raise SrzooError(f"no [[models]] entry for {key[0]} x{key[1]} in the manifest")


def _plain(keys: dict[str, tuple[int, str]], name: str) -> str | None:
    """A simple value (string or number) as written in the entry, unquoted, without a comment."""
    return keys[name][1].split("#")[0].strip().strip('"') if name in keys else None
