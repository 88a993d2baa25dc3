"""Choosing zoo entries from command-line style selections (model names, scales, --all)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from srzoo.errors import SrzooError, UsageError
from srzoo.models import SCALES, get_family
from srzoo.zoo.manifest import ZooEntry, file_entry, load_manifest
from srzoo.zoo.origin import has_origin
from srzoo.zoo.resolve import choose_network, local_copy, require_available, resolve_weights, zoo_entry

Note = Callable[[str], None]


def _quiet(message: str) -> None:
    """The default note: none."""


def entries_to_evaluate(models: list[str], scales: list[int], all_entries: bool, weights: Path | None,
                        on_note: Note = _quiet) -> list[ZooEntry]:
    """The zoo entries to evaluate, in manifest order; entries without weights are skipped with a note."""
    if all_entries and models:
        raise UsageError("--all cannot be combined with --model")
    bad = [s for s in scales if s not in SCALES]
    if bad:
        raise UsageError(f"no model has an x{bad[0]} variant (scales: {', '.join(map(str, SCALES))})")
    if weights is not None:
        if len(models) > 1 or len(scales) > 1:
            raise UsageError("--weights is one network: give at most one --model and one --scale")
        name, scale = choose_network(models[0] if models else None, scales[0] if scales else None, weights)
        if get_family(name).source != "srzoo":
            return [file_entry(get_family(name), scale, weights)]
        return [zoo_entry(name, scale)]
    if models and scales:
        return [require_available(zoo_entry(m, s)) for m in models for s in scales]
    families = {get_family(m).name for m in models}
    chosen = [e for e in load_manifest() if (not families or e.name in families)
              and (not scales or e.scale in scales)]
    skipped = [e.label for e in chosen if not e.available]
    if skipped:
        on_note(f"skipping entries without weights: {', '.join(skipped)}")
    absent = [e for e in chosen if e.available and not e.verified and local_copy(e) is None]
    if absent:
        on_note(f"skipping unverified entries not on this machine (fetch them with srzoo download): "
                          f"{', '.join(e.label for e in absent)}")
    chosen = [e for e in chosen if e.available and e not in absent]
    if not chosen:
        raise UsageError("no zoo entry with weights matches that selection")
    return chosen


def entries_to_download(model: str | None, scale: int | None, all_entries: bool, official_only: bool = False,
                        on_note: Note = _quiet) -> list[ZooEntry]:
    """The available entries that `download`'s options name (only official ones with
    `official_only`); usage errors for bad names/scales."""
    named = model is not None or scale is not None
    if all_entries == named:
        raise UsageError("--all cannot be combined with --model/--scale" if named else
                         "say what to download: --model NAME [--scale N], --scale N, or --all")
    if model is not None and scale is not None:
        entry = require_available(zoo_entry(model, scale))
        if official_only and not has_origin(entry):
            raise UsageError(f"{entry.label} is not an official release: it has no origin to fetch from")
        return [entry]
    if scale is not None and scale not in SCALES:
        raise UsageError(f"no model has an x{scale} variant (scales: {', '.join(map(str, SCALES))})")
    family = get_family(model).name if model is not None else None
    chosen = [e for e in load_manifest()
              if family in (None, e.name) and scale in (None, e.scale)]
    skipped = [e.label for e in chosen if not e.available]
    if skipped:
        on_note(f"skipping entries without weights (untrained): {', '.join(skipped)}")
    available = [e for e in chosen if e.available]
    if official_only:
        trained = [e.label for e in available if not has_origin(e)]
        if trained:
            on_note(f"skipping entries with no authors' checkpoint: {', '.join(trained)}")
        available = [e for e in available if has_origin(e)]
    if not available:
        raise UsageError(f"no weights exist yet for {', '.join(skipped) or 'that selection'}")
    return available


def fetchable(entries: list[ZooEntry], on_note: Note = _quiet) -> list[ZooEntry]:
    """The entries whose weights are here or can be fetched now (fetching them); the others are
    passed over with one note that says why. An error if none is left."""
    kept, failed = [], []
    for entry in entries:
        try:
            resolve_weights(entry.name, entry.scale)
        except SrzooError as exc:
            failed.append((entry.label, str(exc)))
        else:
            kept.append(entry)
    if failed:
        reason = failed[0][1].split(". Offline, these work")[0]
        on_note(f"skipping entries whose weights cannot be fetched now: {', '.join(label for label, _ in failed)} "
                f"({reason})")
    if not kept:
        raise SrzooError(f"no selected entry's weights can be fetched now: {failed[0][1]}")
    return kept
