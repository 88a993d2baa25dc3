"""Where each public benchmark's HR images can be fetched, in the order they are tried.

1. The Hugging Face Hub dataset repos `eugenesiow/<Repo>`: the archive `data/<Repo>_HR.tar.gz`
   at a pinned commit, holding `<Repo>_HR/<name>.png` (BSD100 by BSDS id). Only the HR archive is
   used. Nobody has checked that these pixels are the canonical ones: that is what the check
   against `benchmarks.tsv` is for (a copy that differs is refused and the next source tried).
2. The canonical copies on GitHub, one file per image at a pinned commit, through
   `$SRZOO_ORIGIN_ENDPOINT` when it names a mirror: majedelhelou/denoising_datasets (`CSet5/`,
   `CSet14/`, `CUrban100/`, PNG; Set14 `bridge` is stored grey) and BIDS/BSDS500 (B100 = the
   BSDS500 val JPEGs, decoded with Pillow and stored as PNG).

Each source writes the images it got into a scratch folder and returns them by name; the caller
checks and stores them (`srzoo.evaluation.fetch`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from huggingface_hub import constants

from srzoo.constants import origin_mirror
from srzoo.errors import SrzooError
from srzoo.evaluation.archive import extract
from srzoo.evaluation.facts import benchmark_facts
from srzoo.evaluation.transfer import (
    OfflineError,
    Progress,
    cached_hub_file,
    discard_hub_file,
    download,
    hub_dataset_file,
    offline,
)
from srzoo.zoo.manifest import ORIGIN_HOST
from srzoo.zoo.network import probe

__all__ = ["GithubFiles", "HubArchive", "SOURCES", "Source"]

# Pinned commits of the Hub dataset repos (found on huggingface.co through each repo's history:
# the head of main when looked up, or, for BSD100, the commit that added the data; the later
# commits there change only the README). The archives were not downloaded from these commits by
# us: their pixels are checked against benchmarks.tsv on every fetch.
HUB_REVISIONS = {
    "Set5": "d8b579a20afde95b4d8ed6bf6383447d33027295",
    "Set14": "5afcf80d267dba61cdfa9a32b1a6fe4cca57b6d7",
    "BSD100": "600666edcba3b8386c367fcb03e72424a1ff9f86",
    "Urban100": "fb0d8a4c6b2471d32bd133de40bb8bb10dde69b9",
}
DENOISING_DATASETS = ("majedelhelou/denoising_datasets", "58234876fef6f1b56306705c78dfd40cdb837b86")
BSDS500 = ("BIDS/BSDS500", "a04b7c6c3a9f0ace74bf205c72a43d32e1c72722")


@dataclass(frozen=True)
class HubArchive:
    """An HR archive in a Hub dataset repo: `data/<repo>_HR.tar.gz`, images in `<repo>_HR/`."""

    repo: str  # the repo's name under eugenesiow (BSD100 for B100)

    @property
    def repo_id(self) -> str:
        return f"eugenesiow/{self.repo}"

    @property
    def filename(self) -> str:
        return f"data/{self.repo}_HR.tar.gz"

    @property
    def revision(self) -> str:
        return HUB_REVISIONS[self.repo]

    @property
    def label(self) -> str:
        return f"the Hugging Face Hub ({self.repo_id})"

    def fetch(self, dataset: str, scratch: Path, progress: Progress | None = None) -> dict[str, Path]:
        """The archive's PNG images (from the Hugging Face cache, or downloaded into it), by name."""
        archive = cached_hub_file(self.repo_id, self.filename, self.revision)
        if archive is None:
            if not offline():
                probe(constants.ENDPOINT, "the Hugging Face Hub")
            archive = hub_dataset_file(self.repo_id, self.filename, self.revision, progress)
        folder = PurePosixPath(f"{self.repo}_HR")

        def select(member: PurePosixPath) -> PurePosixPath | None:
            keep = member.parent == folder and member.suffix.lower() == ".png" and not member.name.startswith(".")
            return PurePosixPath(member.name) if keep else None

        try:
            files = extract(archive, scratch, select)
        except SrzooError:
            self.forget()
            raise
        if not files:
            self.forget()
            raise SrzooError(f"{self.filename} holds no {folder}/*.png images")
        return {path.stem: path for path in files}

    def forget(self) -> None:
        """Drop the cached archive (it failed a check), so that the next run downloads it again."""
        discard_hub_file(self.repo_id, self.filename, self.revision)


@dataclass(frozen=True)
class GithubFiles:
    """One file per image, `<folder>/<name><suffix>` in a GitHub repo at a pinned commit."""

    repo: str
    commit: str
    folder: str
    suffix: str

    @property
    def label(self) -> str:
        return f"GitHub ({self.repo})"

    def url(self, name: str) -> str:
        """The raw-file URL of image `name`, on `$SRZOO_ORIGIN_ENDPOINT` when that names a mirror."""
        host = origin_mirror() or ORIGIN_HOST
        return f"{host}/{self.repo}/raw/{self.commit}/{self.folder}/{name}{self.suffix}"

    def fetch(self, dataset: str, scratch: Path, progress: Progress | None = None) -> dict[str, Path]:
        """Every image of `dataset`'s table, downloaded one by one into `scratch`, by name."""
        names = sorted(benchmark_facts(dataset))
        if not names:
            raise SrzooError(f"the benchmark table lists no {dataset} images to fetch")
        if offline():
            raise OfflineError(f"not fetching from {self.repo}: HF_HUB_OFFLINE is set")
        probe(self.url(names[0]), "GitHub" if not origin_mirror() else "the $SRZOO_ORIGIN_ENDPOINT mirror")
        images = {}
        for done, name in enumerate(names):
            if progress is not None:
                progress(f"{dataset} from {self.repo}", done, len(names), "images")
            images[name] = download(self.url(name), scratch / f"{name}{self.suffix}")
        if progress is not None:
            progress(f"{dataset} from {self.repo}", len(names), len(names), "images")
        return images

    def forget(self) -> None:
        """Nothing is cached between runs."""


Source = HubArchive | GithubFiles

SOURCES: dict[str, tuple[Source, ...]] = {
    "Set5": (HubArchive("Set5"), GithubFiles(*DENOISING_DATASETS, "CSet5", ".png")),
    "Set14": (HubArchive("Set14"), GithubFiles(*DENOISING_DATASETS, "CSet14", ".png")),
    "B100": (HubArchive("BSD100"), GithubFiles(*BSDS500, "BSDS500/data/images/val", ".jpg")),
    "Urban100": (HubArchive("Urban100"), GithubFiles(*DENOISING_DATASETS, "CUrban100", ".png")),
}
