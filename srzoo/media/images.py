"""Reading, upscaling and writing still images: modes, 16-bit, alpha, EXIF orientation and ICC.

Pixels travel as float32 (H, W, C) arrays in [0, 1], C = 1 (grey), 2 (grey + alpha), 3 (RGB) or
4 (RGBA). Pillow decodes 8-bit images and all metadata; it reduces 16-bit colour PNG/TIFF to
8 bits, so those pixels are decoded and encoded with FFmpeg (PyAV) instead and never pass
through 8 bits. Float (32-bit) grey TIFFs stay float: `bits = 32` (samples must lie in [0, 1]).
"""

from __future__ import annotations

import io
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Literal

import av
import numpy as np
import torch
from PIL import ExifTags, Image, ImageFile, ImageOps, PngImagePlugin, UnidentifiedImageError

from srzoo.errors import SrzooError

# A network call: float32 (B, 3, h, w) in [0, 1] -> float32 (B, 3, s*h, s*w).
Network = Callable[[torch.Tensor], torch.Tensor]
Source = Path | BinaryIO

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"})
DEFAULT_MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
_CHANNELS_16 = {"I": (0,), "LA": (0, 3), "RGB": (0, 1, 2), "RGBA": (0, 1, 2, 3)}
_PACKED_16 = {1: "gray16", 2: "ya16", 3: "rgb48", 4: "rgba64"}
# format -> (FFmpeg encoder, byte order); the Literal selects PyAV's VideoCodecContext overload
_FFMPEG_16: dict[str, tuple[Literal["png", "tiff"], str]] = {"PNG": ("png", "be"), "TIFF": ("tiff", "le")}
_OTHER_COLOUR_MODELS = frozenset({"CMYK", "LAB", "HSV"})  # their ICC profiles do not fit RGB output
_NO_ALPHA = {"JPEG": {"LA": "L", "RGBA": "RGB"}, "BMP": {"LA": "RGBA"}}
_ALPHA_EPS = 1e-6
_PNG_HEADER = 8 + 25  # signature + IHDR chunk
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, av.FFmpegError)  # what broken files raise
_PILLOW_GUARD = threading.Lock()  # Image.MAX_IMAGE_PIXELS is global


@dataclass(frozen=True)
class Picture:
    """Decoded pixels plus what is carried over to the output (bit depth, ICC profile, EXIF)."""

    pixels: np.ndarray
    bits: int = 8
    icc: bytes | None = None
    exif: bytes | None = None
    frames: int = 1  # frames in the file (animated GIF/WebP/PNG); only the first is decoded

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.pixels.shape[1], self.pixels.shape[0]


def read_image(source: Source, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Picture:
    """Decode a file (or binary stream) upright: EXIF orientation applied and removed from the EXIF."""
    try:
        with open_unguarded(source) as image:
            check_pixels(image.size, max_pixels)
            sixteen = image.format in _FFMPEG_16 and ";16" in _raw_mode(image)
            decoded = Picture(_decode_16bit(source, _raw_mode(image)), bits=16) if sixteen else from_pil(image)
            return Picture(orient(decoded.pixels, image.getexif().get(ExifTags.Base.Orientation, 1)),
                           bits=decoded.bits, icc=_icc(image), exif=_exif(image),
                           frames=getattr(image, "n_frames", 1))
    except UnidentifiedImageError:
        raise SrzooError("not an image file Pillow can read (PNG, JPEG, WebP, TIFF, BMP, ...)") from None
    except _DECODE_ERRORS as exc:
        raise SrzooError(f"cannot read image: {exc}") from exc


def check_pixels(size: tuple[int, int], max_pixels: int | None) -> None:
    """Refuse images with more than `max_pixels` pixels (None or 0: no limit)."""
    width, height = size
    if max_pixels and width * height > max_pixels:
        raise SrzooError(f"{width}x{height} is {width * height:,} pixels, over the limit of {max_pixels:,} "
                         "(raise it with --max-pixels N, 0 for none)")


def open_unguarded(source: Source) -> ImageFile.ImageFile:
    """`Image.open` without Pillow's own decompression-bomb guard: `check_pixels` applies srzoo's."""
    with _PILLOW_GUARD:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            return Image.open(source)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _raw_mode(image: ImageFile.ImageFile) -> str:
    """How the file stores its samples, e.g. 'RGB;16B' where Pillow's `mode` says 'RGB'."""
    args = image.tile[0].args if image.tile else None
    raw = args[0] if isinstance(args, tuple) else args
    return raw if isinstance(raw, str) else image.mode


def _icc(image: Image.Image) -> bytes | None:
    """The ICC profile, unless the pixels are converted away from its colour model (CMYK, ...)."""
    return None if image.mode in _OTHER_COLOUR_MODELS else image.info.get("icc_profile") or None


def _exif(image: Image.Image) -> bytes | None:
    """EXIF without the orientation tag (pixels are stored upright); TIFF tags are not EXIF."""
    if image.format == "TIFF":
        return None
    tags = image.getexif()
    tags.pop(ExifTags.Base.Orientation, None)
    return tags.tobytes() if len(tags) else None


def _decode_16bit(source: Source, raw_mode: str) -> np.ndarray:
    """Decode a 16-bit PNG/TIFF with FFmpeg, keeping the channels that `raw_mode` (e.g. 'LA;16B') names."""
    if not isinstance(source, Path):
        source.seek(0)
    layout = raw_mode.split(";")[0]
    if layout not in _CHANNELS_16:
        raise SrzooError(f"unsupported 16-bit sample layout {raw_mode!r}")
    with av.open(str(source) if isinstance(source, Path) else source, "r") as container:
        frame = next(container.decode(video=0), None)
    if frame is None:
        raise SrzooError("cannot read image: no picture in the file")
    rgba = frame.reformat(format="rgba64le").to_ndarray()
    return rgba[..., _CHANNELS_16[layout]].astype(np.float32) / 65535.0


def from_pil(image: Image.Image) -> Picture:
    """Pixels of a Pillow image: palette/1-bit/CMYK/... become L, LA, RGB or RGBA; 'I;16' stays 16-bit,
    float ('F') stays float."""
    if image.mode.startswith("I;16"):
        return Picture(np.asarray(image, dtype=np.float32)[..., None] / 65535.0, bits=16)
    if image.mode == "F":
        return Picture(_unit_floats(np.array(image, dtype=np.float32))[..., None], bits=32)
    grey = image.mode in ("1", "L", "LA", "La", "I")
    mode = ("LA" if grey else "RGBA") if image.has_transparency_data else ("L" if grey else "RGB")
    pixels = np.asarray(image.convert(mode), dtype=np.float32) / 255.0
    return Picture(pixels.reshape(*pixels.shape[:2], len(mode)), icc=image.info.get("icc_profile"))


def _unit_floats(samples: np.ndarray) -> np.ndarray:
    """Float samples, checked to lie in [0, 1] (the networks' range; HDR values would be clipped)."""
    low, high = (float(samples.min()), float(samples.max())) if samples.size else (0.0, 0.0)
    if not (np.isfinite(low) and np.isfinite(high) and 0.0 <= low and high <= 1.0):
        raise SrzooError(f"float samples span [{low:g}, {high:g}]: srzoo upscales floats in [0, 1] only "
                         "(scale HDR images into that range first)")
    return samples


def orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Rotate/flip (H, W, C) pixels as an EXIF orientation says, with Pillow's exif_transpose."""
    if orientation == 1:
        return pixels
    planes = []
    for channel in range(pixels.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(pixels[..., channel]))
        plane.getexif()[ExifTags.Base.Orientation] = orientation
        planes.append(np.asarray(ImageOps.exif_transpose(plane)))
    return np.stack(planes, axis=2)


def upscale_pixels(pixels: np.ndarray, network: Network) -> np.ndarray:
    """Upscale (H, W, C) float pixels; grey and alpha go through the same RGB network.

    Grey is replicated to three channels and averaged back. Alpha is upscaled separately (the
    same way) and the colour is upscaled premultiplied by alpha, then divided by the upscaled
    alpha: transparent pixels' colours cannot bleed into edges as dark halos.
    """
    x = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32)).permute(2, 0, 1)
    has_alpha = x.shape[0] in (2, 4)
    colour, alpha = (x[:-1], x[-1:]) if has_alpha else (x, None)
    opaque = alpha is not None and bool((alpha == 1).all())
    if alpha is not None and not opaque:
        colour = colour * alpha
    batch = [colour.expand(3, -1, -1)]
    if alpha is not None and not opaque:
        batch.append(alpha.expand(3, -1, -1))
    out = network(torch.stack(batch)).float().clamp(0, 1)
    up = out[0] if colour.shape[0] == 3 else out[0].mean(0, keepdim=True)
    if alpha is not None:
        up_alpha = torch.ones_like(up[:1]) if opaque else out[1].mean(0, keepdim=True)
        if not opaque:
            up = torch.where(up_alpha > _ALPHA_EPS, up / up_alpha.clamp_min(_ALPHA_EPS), 0).clamp(0, 1)
        up = torch.cat([up, up_alpha])
    return up.permute(1, 2, 0).contiguous().numpy()


def quantise(pixels: np.ndarray, bits: int) -> np.ndarray:
    """Round [0, 1] floats to uint8 (bits=8) or uint16 (bits=16)."""
    top, dtype = (65535, np.uint16) if bits == 16 else (255, np.uint8)
    return np.rint(np.clip(pixels, 0, 1) * top).astype(dtype)


def to_pil(picture: Picture) -> Image.Image:
    """A Pillow image of the pixels: L/LA/RGB/RGBA at 8 bits, 'I;16' for 16-bit grey, 'F' for float grey."""
    if picture.bits == 32 and picture.pixels.shape[2] == 1:
        image = Image.fromarray(np.clip(picture.pixels[..., 0], 0, 1).astype(np.float32), mode="F")
    elif picture.bits == 16 and picture.pixels.shape[2] == 1:
        image = Image.fromarray(quantise(picture.pixels[..., 0], 16))
    else:
        array = quantise(picture.pixels, 8)
        image = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
    if picture.icc:
        image.info["icc_profile"] = picture.icc
    return image


def pillow_format(suffix: str) -> str:
    """Pillow's format name for a file-name suffix (e.g. '.jpg' -> 'JPEG')."""
    try:
        return Image.registered_extensions()[suffix.lower()]
    except KeyError:
        raise SrzooError(f"unknown image file type {suffix!r}") from None


def write_image(picture: Picture, target: Path | BinaryIO, image_format: str, quality: int | None = None) -> None:
    """Encode `picture` as `image_format` (Pillow's name) with its ICC profile and EXIF.

    16-bit pictures stay 16-bit in PNG and TIFF; float grey stays float in TIFF and becomes 16-bit
    in PNG; other formats get 8 bits. JPEG drops alpha.
    """
    if picture.bits == 32 and image_format != "TIFF":
        picture = replace(picture, bits=16)
    if picture.bits == 16 and image_format in _FFMPEG_16 and picture.pixels.shape[2] != 1:
        data = _encode_16bit(picture, image_format)
        if isinstance(target, Path):
            target.write_bytes(data)
        else:
            target.write(data)
        return
    image = to_pil(replace(picture, bits=picture.bits if image_format in _FFMPEG_16 else 8))
    image = image.convert(_NO_ALPHA.get(image_format, {}).get(image.mode, image.mode))
    options = {"icc_profile": picture.icc, "exif": picture.exif, "quality": quality}
    image.save(target, format=image_format, **{k: v for k, v in options.items() if v is not None})


def _encode_16bit(picture: Picture, image_format: str) -> bytes:
    """16-bit colour PNG/TIFF bytes via FFmpeg (Pillow cannot write them); PNG keeps ICC and EXIF."""
    codec_name, endian = _FFMPEG_16[image_format]
    frame = _frame_16bit(quantise(picture.pixels, 16), endian)
    codec = av.CodecContext.create(codec_name, "w")
    codec.width, codec.height, codec.pix_fmt = frame.width, frame.height, frame.format.name
    data = b"".join(bytes(packet) for packet in [*codec.encode(frame), *codec.encode(None)])
    return _png_metadata(data, picture.icc, picture.exif) if image_format == "PNG" else data


def _frame_16bit(samples: np.ndarray, endian: str) -> av.VideoFrame:
    """A packed 16-bit VideoFrame (gray16/ya16/rgb48/rgba64) holding (H, W, C) uint16 samples."""
    height, width, channels = samples.shape
    frame = av.VideoFrame(width, height, _PACKED_16[channels] + endian)
    plane = frame.planes[0]
    rows = np.zeros((height, plane.line_size // 2), dtype=(">u2" if endian == "be" else "<u2"))
    rows[:, : width * channels] = samples.reshape(height, width * channels)
    plane.update(rows.tobytes())
    return frame


def _png_metadata(png: bytes, icc: bytes | None, exif: bytes | None) -> bytes:
    """Insert iCCP and eXIf chunks after IHDR, as Pillow does (FFmpeg's encoder writes neither)."""
    out = io.BytesIO()
    out.write(png[:_PNG_HEADER])
    if icc:
        PngImagePlugin.putchunk(out, b"iCCP", b"ICC Profile\0\0", zlib.compress(icc))
    if exif:
        PngImagePlugin.putchunk(out, b"eXIf", exif.removeprefix(b"Exif\x00\x00"))
    out.write(png[_PNG_HEADER:])
    return out.getvalue()
