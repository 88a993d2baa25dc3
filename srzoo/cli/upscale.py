"""`srzoo upscale`: parses the options and prints; the work is `srzoo.batch.upscale_files`."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer
from PIL import Image

from srzoo.cli.app import app, err_console
from srzoo.errors import UsageError

DEFAULT_MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485  # Pillow's decompression-bomb limit


class OutputFormat(str, Enum):
    """Image output format; `same` keeps the input's (stdin: PNG)."""

    same = "same"
    png = "png"
    jpg = "jpg"
    webp = "webp"


@app.command("upscale")
def upscale_command(
    inputs: list[str] = typer.Argument(..., help="Image files, folders, videos, or - for PNG/JPEG bytes on stdin.",
                                       show_default=False),
    model: str = typer.Option("lkdn", "--model", "-m", help="Model name or alias."),
    scale: int = typer.Option(4, "--scale", "-s", help="Upscaling factor."),
    output: Path | None = typer.Option(None, "--output", "-o", show_default=False,
                                       help="Output file (one input) or folder (created if needed). "
                                            "Default: next to each input; stdout for -."),
    image_format: OutputFormat = typer.Option(OutputFormat.same, "--format", help="Image output format."),
    quality: int | None = typer.Option(None, "--quality", min=1, max=100, help="JPEG/WebP quality."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Descend into sub-folders of folder inputs."),
    pattern: str | None = typer.Option(None, "--glob", help="Only files in folder inputs matching this, e.g. '*.png'."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo outputs that already exist (default: skip)."),
    tile: str = typer.Option("auto", "--tile", help="Tile size in input pixels; 0 = whole image; auto."),
    tile_overlap: int | None = typer.Option(None, "--tile-overlap", min=0, help="Tile overlap in input pixels."),
    ensemble: bool = typer.Option(False, "--ensemble", help="Self-ensemble: average 8 flips/rotations (8x slower)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    precision: str = typer.Option("auto", "--precision", help="auto, fp32, fp16 or bf16."),
    weights: Path | None = typer.Option(None, "--weights", help="A local safetensors file instead of the zoo's."),
    codec: str | None = typer.Option(None, "--codec", help="Video encoder, e.g. libx264 (default: the container's)."),
    crf: int | None = typer.Option(None, "--crf", min=0, help="Video constant-quality level (encoder's default)."),
    pix_fmt: str | None = typer.Option(None, "--pix-fmt", help="Video pixel format (default: the input's)."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", min=0,
                                   help="Refuse larger images (decompression-bomb guard); 0 = no limit."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or per-file lines (errors still show)."),
) -> int:
    """Upscale images, folders, videos or stdin; existing outputs are skipped, so reruns resume.

    Exit code: 0 all done (or skipped), 1 some inputs failed, 2 usage error.
    """
    if as_json and "-" in inputs and output is None:  # "-": the image goes to stdout
        raise UsageError("--json cannot share stdout with the image; write it to a file with -o")
    from srzoo.batch import upscale_files  # torch, PyAV and the engine: only when there is work

    summary = upscale_files(inputs, output, model, scale, image_format=None if image_format is OutputFormat.same
                            else image_format.value, quality=quality, recursive=recursive, pattern=pattern,
                            overwrite=overwrite, tile=parse_tile(tile), tile_overlap=tile_overlap,
                            ensemble=ensemble, device=device, precision=precision, weights=weights, codec=codec,
                            crf=crf, pix_fmt=pix_fmt, max_pixels=max_pixels or None, quiet=quiet)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    if not quiet:
        err_console.print(f"{len(summary['outputs'])} written, {len(summary['skipped'])} skipped, "
                          f"{len(summary['failed'])} failed ({summary['timings']['total_s']:.1f} s)")
    return summary["exit_code"]


def parse_tile(text: str) -> int | str:
    """`auto` or a non-negative number of input pixels."""
    if text == "auto":
        return text
    if not text.isdigit():
        raise UsageError(f"--tile takes a number of pixels (0 = whole image) or auto, not {text!r}")
    return int(text)
