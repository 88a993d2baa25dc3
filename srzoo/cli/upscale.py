"""`srzoo upscale`: parses the options and prints; the work is `srzoo.media.batch.upscale_files`."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer
from PIL import Image

from srzoo.cli.common import command, err_console
from srzoo.constants import DEFAULT_MODEL, DEFAULT_SCALE
from srzoo.errors import UsageError
from srzoo.models import list_families
from srzoo.zoo.resolve import check_choice

DEFAULT_MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485  # Pillow's decompression-bomb limit


class OutputFormat(StrEnum):
    """Image output format; `same` keeps the input's (stdin: PNG)."""

    same = "same"
    png = "png"
    jpg = "jpg"
    webp = "webp"


_MODELS = ", ".join(family.name for family in list_families())


@command("upscale", short_help="Upscale images, folders, videos or a pipe.",
             epilog="""Examples:

\b
  srzoo upscale photo.png -s 4                  # photo_lkdn_x4.png
  srzoo upscale shots/ -r -m alkdn -s 2 -o out/ # a folder tree, mirrored
  srzoo upscale - -s 2 < small.png > big.png    # a pipe
  srzoo upscale clip.mp4 -s 2 --crf 18          # video, audio kept""")
def upscale_command(
    inputs: list[str] = typer.Argument(..., metavar="INPUT...", show_default=False,
                                       help="Image files, folders, videos, or - (PNG/JPEG on stdin)."),
    model: str | None = typer.Option(None, "--model", "-m", metavar="NAME", show_default=f"{DEFAULT_MODEL}, or what "
                                     "--weights holds", help=f"Model: {_MODELS}."),
    scale: int | None = typer.Option(None, "--scale", "-s", metavar="N", show_default=f"{DEFAULT_SCALE}, or what "
                                     "--weights holds", help="Upscaling factor: 2, 3 or 4."),
    output: str | None = typer.Option(None, "--output", "-o", metavar="PATH", show_default="next to each input",
                                       help="Output file (one input) or folder (created if needed); stdout "
                                            "for -."),
    image_format: OutputFormat = typer.Option(OutputFormat.same, "--format", metavar="FMT",
                                              help="Image output format: same (as the input; stdin: png), png, jpg "
                                                   "or webp."),
    quality: int | None = typer.Option(None, "--quality", min=1, max=100, metavar="Q", show_default="Pillow's",
                                       help="JPEG/WebP quality, 1-100."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Descend into sub-folders of folder inputs."),
    pattern: str | None = typer.Option(None, "--glob", metavar="PATTERN",
                                       help="Only files in folder inputs matching this, e.g. '*.png'."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo outputs that exist (else they are skipped)."),
    shard: str | None = typer.Option(None, "--shard", metavar="K/N",
                                     help="Do only share K of N of the inputs (by sorted path), e.g. 2/4."),
    tile: str = typer.Option("auto", "--tile", metavar="PX", help="Tile size in input pixels; 0 = whole image."),
    tile_overlap: int | None = typer.Option(None, "--tile-overlap", min=0, metavar="PX",
                                            show_default="per model", help="Tile overlap in input pixels."),
    tiling: str = typer.Option("auto", "--tiling", metavar="SCHEME",
                               help="auto, breadth-first (exact for every family) or overlap (blended tiles)."),
    ensemble: bool = typer.Option(False, "--ensemble", help="Self-ensemble: average 8 flips/rotations (8x slower)."),
    device: str = typer.Option("auto", "--device", metavar="DEVICE",
                               help="auto, cpu, cuda, cuda:N, mps; a list (cuda:0,cuda:1) or cuda:all runs "
                                    "one worker per device."),
    precision: str = typer.Option("auto", "--precision", metavar="P", help="auto, fp32, fp16 or bf16."),
    backend: str = typer.Option("auto", "--backend", metavar="NAME",
                                help="auto, torch or openvino (pip install 'srzoo[fast]') for whole images."),
    weights: Path | None = typer.Option(None, "--weights", metavar="FILE",
                                        help="A local weights file (safetensors, or the authors' .pth) instead "
                                             "of the zoo's; it says which model and scale it holds."),
    codec: str | None = typer.Option(None, "--codec", metavar="NAME", show_default="the container's",
                                     help="Video encoder, e.g. libx264."),
    crf: int | None = typer.Option(None, "--crf", min=0, metavar="N", show_default="the encoder's",
                                   help="Video constant-quality level."),
    pix_fmt: str | None = typer.Option(None, "--pix-fmt", metavar="FMT", show_default="the input's",
                                       help="Video pixel format."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", min=0, metavar="N",
                                   help="Refuse larger images (decompression-bomb guard); 0 = no limit."),
    threads: int | None = typer.Option(None, "--threads", min=1, metavar="N",
                                       show_default="$SRZOO_THREADS, else one per core",
                                       help="CPU threads for torch."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or per-file lines (errors still show)."),
) -> int:
    """Upscale images, folders, videos or stdin; existing outputs are skipped, so reruns resume.

    Exit code: 0 all done (or skipped), 1 some inputs failed, 2 usage error, 130 interrupted
    (Ctrl-C), 143 terminated (SIGTERM).
    """
    if as_json and "-" in inputs and output is None:  # "-": the image goes to stdout
        raise UsageError("--json cannot share stdout with the image; write it to a file with -o")
    check_choice(model if model or weights else DEFAULT_MODEL, scale, weights is not None)  # before torch loads
    tile_px, shard_k_n = parse_tile(tile), parse_shard(shard)
    from srzoo.cli.progress import (
        RichReporter,  # torch, PyAV and the engine: only when there is work
    )
    from srzoo.media.batch import upscale_files

    with RichReporter(quiet) as reporter:
        summary = upscale_files(inputs, output, model, scale, image_format=None if image_format is OutputFormat.same
                                else image_format.value, quality=quality, recursive=recursive, pattern=pattern,
                                overwrite=overwrite, tile=tile_px, tile_overlap=tile_overlap,
                                ensemble=ensemble, device=device, precision=precision, weights=weights, codec=codec,
                                crf=crf, pix_fmt=pix_fmt, max_pixels=max_pixels or None, reporter=reporter,
                                tiling=tiling, backend=backend, shard=shard_k_n, threads=threads)
    if as_json:
        typer.echo(json.dumps(summary.to_json(), indent=2))
    if not quiet:
        err_console.print(f"{len(summary.outputs)} written, {len(summary.skipped)} skipped, "
                          f"{len(summary.failed)} failed ({summary.timings['total_s']:.1f} s)")
    return summary.exit_code


def parse_tile(text: str) -> int | str:
    """`auto` or a non-negative number of input pixels."""
    if text == "auto":
        return text
    if not text.isdigit():
        raise UsageError(f"--tile takes a number of pixels (0 = whole image) or auto, not {text!r}")
    return int(text)


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """`K/N` as (K, N), 1 <= K <= N."""
    if text is None:
        return None
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
        raise UsageError(f"--shard takes K/N with 1 <= K <= N (e.g. 1/4), not {text!r}")
    return int(k), int(n)
