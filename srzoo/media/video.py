"""Video upscaling with PyAV: decode, upscale and encode overlap in a three-stage pipeline.

A reader thread demuxes the input and decodes video frames; the calling thread upscales them;
a writer thread encodes and muxes. Audio and subtitle packets travel through the same queues, so
they are muxed in order, copied as they are, or re-encoded (audio only) when the output
container cannot hold their codec. Frames keep their timestamps: same frame rate, same count.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from av.stream import Stream
from av.video.stream import VideoStream

from srzoo.errors import SrzooError

# float (B, 3, h, w) in [0, 1] and a bit depth (8 or 16) -> the upscaled frames as integers at
# that depth, rounded where they were computed (on the device: a quarter of the float32 traffic).
FrameNetwork = Callable[[torch.Tensor, int], torch.Tensor]

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v"})
_QUEUE_SIZE = 8
_POLL_S = 0.1
_END = object()


@dataclass(frozen=True)
class VideoSettings:
    """Encoder choices; None means the container's default codec, the codec's default quality,
    and the input's pixel format where the encoder supports it."""

    codec: str | None = None
    crf: int | None = None
    pix_fmt: str | None = None


@dataclass
class VideoResult:
    """What was written: the number of frames, and notes on streams that could not be copied."""

    frames: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Route:
    """Where a non-video input stream goes: its output stream, re-encoded or copied."""

    source: Stream
    target: Stream
    transcode: bool


class _Stopped(Exception):
    """Another stage failed or was interrupted; this one just stops."""


class _Pipe:
    """A bounded queue whose put/get give up as soon as `stop` is set."""

    def __init__(self, stop: threading.Event) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(_QUEUE_SIZE)
        self._stop = stop

    def put(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue
        raise _Stopped

    def __iter__(self) -> Iterator[Any]:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if item is _END:
                return
            yield item
        raise _Stopped


def muxer_for(path: Path) -> str:
    """The FFmpeg muxer that FFmpeg picks for `path`'s file name (nothing is written)."""
    try:
        with av.open(str(path), "w") as probe:
            return probe.format.name
    except (av.FFmpegError, ValueError) as exc:
        raise SrzooError(f"{path}: no video container for {path.suffix!r} ({exc})") from exc


def upscale_video(source: Path, target: Path, network: FrameNetwork, scale: int,
                  settings: VideoSettings = VideoSettings(), muxer: str | None = None,
                  on_frame: Callable[[int, int | None], None] | None = None) -> VideoResult:
    """Upscale every frame of `source` into `target` (container `muxer`, default: from the name)."""
    try:
        with av.open(str(source)) as reader, av.open(str(target), "w", format=muxer) as writer:
            if not reader.streams.video:
                raise SrzooError("no video stream")
            video_in = reader.streams.video[0]
            video_in.thread_type = "AUTO"
            video_out, notes = _add_video_stream(writer, video_in, scale, settings)
            routes, stream_notes = _add_other_streams(writer, reader)
            notes += stream_notes
            writer.metadata.update(reader.metadata)
            frames = _run(reader, writer, video_in, video_out, routes, network, on_frame)
            return VideoResult(frames, notes)
    except av.FFmpegError as exc:
        raise SrzooError(f"video error: {exc}") from exc


def _add_video_stream(writer: OutputContainer, video_in: VideoStream, scale: int,
                      settings: VideoSettings) -> tuple[VideoStream, list[str]]:
    """The upscaled output stream: same rate and time base, `scale` times the size (and notes)."""
    rate = video_in.average_rate or video_in.guessed_rate or Fraction(25)
    codec = settings.codec or writer.default_video_codec
    stream = writer.add_stream(codec, rate=rate)
    if not isinstance(stream, VideoStream):  # e.g. --codec aac
        raise SrzooError(f"{codec} is not a video encoder")
    context = stream.codec_context
    stream.width, stream.height = video_in.codec_context.width * scale, video_in.codec_context.height * scale
    chosen = _pix_fmt(context.codec, settings.pix_fmt, video_in.codec_context.pix_fmt)
    stream.pix_fmt, notes = _fit_chroma(context.codec, chosen, stream.width, stream.height,
                                        requested=settings.pix_fmt is not None)
    assert video_in.time_base is not None  # every demuxed stream has one
    stream.time_base = context.time_base = video_in.time_base
    stream.metadata.update(video_in.metadata)
    if settings.crf is not None:
        if "crf" not in {option.name for option in context.supported_options.private}:
            raise SrzooError(f"encoder {context.codec.name} has no crf option")
        context.options = {**context.options, "crf": str(settings.crf)}
    return stream, notes


def _fit_chroma(codec: av.Codec, name: str, width: int, height: int, requested: bool) -> tuple[str, list[str]]:
    """`name`, or where its chroma subsampling needs an even size that the output does not have, the
    encoder's first full-chroma format of the same bit depth (with a note saying so)."""
    def too_odd(fmt: str) -> bool:
        planes = av.VideoFormat(fmt, width, height).components
        return (any(p.width < width for p in planes) and width % 2 == 1) or \
               (any(p.height < height for p in planes) and height % 2 == 1)

    if not too_odd(name):
        return name, []
    problem = f"{width}x{height} is odd and {name} subsamples the chroma"
    if requested:
        raise SrzooError(f"--pix-fmt {name}: {problem}; choose a 4:4:4 format (e.g. yuv444p)")
    bits = max(p.bits for p in av.VideoFormat(name).components)
    for candidate in (f.name for f in codec.video_formats or ()):
        planes = av.VideoFormat(candidate).components
        if len(planes) >= 3 and max(p.bits for p in planes) == bits and not too_odd(candidate):
            return candidate, [f"{problem}, so the video is encoded as {candidate} (some players need 4:2:0)"]
    raise SrzooError(f"encoder {codec.name} cannot encode {width}x{height}: {problem} and it takes no 4:4:4 "
                     "format of that depth; choose another --codec")


def _pix_fmt(codec: av.Codec, requested: str | None, source: str | None) -> str:
    """The requested format (checked), else the source's if the encoder takes it, else yuv420p or
    the encoder's first."""
    names = [f.name for f in codec.video_formats or ()]
    if requested is not None:
        if names and requested not in names:
            raise SrzooError(f"encoder {codec.name} cannot take pixel format {requested!r} "
                             f"(it takes {', '.join(names)})")
        return requested
    return next((name for name in (source, "yuv420p") if name in names), names[0] if names else "yuv420p")


def _add_other_streams(writer: OutputContainer, reader: InputContainer) -> tuple[dict[int, _Route], list[str]]:
    """Copy every audio and subtitle stream; re-encode audio the container cannot hold."""
    routes: dict[int, _Route] = {}
    notes: list[str] = []
    for stream in [*reader.streams.audio, *reader.streams.subtitles]:
        codec = stream.codec_context.name
        if codec in writer.supported_codecs:
            routes[stream.index] = _Route(stream, writer.add_stream_from_template(stream), transcode=False)
        elif isinstance(stream, AudioStream):
            source_rate = stream.codec_context.sample_rate
            rate = _audio_rate(av.Codec(writer.default_audio_codec, "w"), source_rate)
            target = writer.add_stream(writer.default_audio_codec, rate=rate)
            assert isinstance(target, AudioStream)  # the container's default audio codec
            target.layout = stream.codec_context.layout
            target.metadata.update(stream.metadata)
            routes[stream.index] = _Route(stream, target, transcode=True)
            resampled = f", resampled from {source_rate} to {rate} Hz" if rate != source_rate else ""
            notes.append(f"audio stream #{stream.index} re-encoded from {codec} to {target.codec_context.name}"
                         f"{resampled}: {writer.format.name} cannot hold {codec}")
        else:
            notes.append(f"subtitle stream #{stream.index} ({codec}) dropped: {writer.format.name} cannot hold it")
    return routes, notes


def _audio_rate(codec: av.Codec, rate: int) -> int:
    """`rate` if the encoder takes it (or takes any), else its lowest rate above, else its highest."""
    rates = sorted(codec.audio_rates or ())
    if not rates or rate in rates:
        return rate
    return next((r for r in rates if r > rate), rates[-1])


def _run(reader: InputContainer, writer: OutputContainer, video_in: VideoStream, video_out: VideoStream,
         routes: dict[int, _Route], network: FrameNetwork,
         on_frame: Callable[[int, int | None], None] | None) -> int:
    """Run the reader and writer threads around the upscaling loop in this thread."""
    stop = threading.Event()
    decoded, upscaled = _Pipe(stop), _Pipe(stop)
    streams = [video_in, *(route.source for route in routes.values())]
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="srzoo-video")
    stages: list[Future[None]] = []
    finished = False
    try:  # from the first submit on: a signal at any moment must reach `stop` before the join below
        stages.append(pool.submit(_stage, stop, _read, reader, streams, video_in, decoded))
        stages.append(pool.submit(_stage, stop, _write, writer, video_out, routes, upscaled))
        frames = _upscale_frames(decoded, upscaled, network, video_in.frames or None, on_frame)
        for stage in stages:
            stage.result()
        finished = True
    except _Stopped:
        stop.set()
        failures = [e for e in (stage.exception() for stage in stages) if e and not isinstance(e, _Stopped)]
        if failures:
            raise failures[0] from None
        raise
    finally:
        if not finished:
            stop.set()
        pool.shutdown(wait=True)  # the stages give up within _POLL_S once `stop` is set
    return frames


def _stage(stop: threading.Event, work: Callable[..., None], *args: Any) -> None:
    """Run one pipeline stage in a worker thread; if it fails, tell the others to stop."""
    try:
        work(*args)
    except BaseException:
        stop.set()
        raise


def _read(reader: InputContainer, streams: list[Stream], video_in: VideoStream, out: _Pipe) -> None:
    """Demux; decode video frames, pass other packets on as they are."""
    for packet in reader.demux(streams):
        if packet.stream.index == video_in.index:
            for frame in packet.decode():
                out.put(frame)
        elif packet.dts is not None:
            out.put(packet)
    out.put(_END)


def _upscale_frames(frames_in: _Pipe, frames_out: _Pipe, network: FrameNetwork, total: int | None,
                    on_frame: Callable[[int, int | None], None] | None) -> int:
    """Upscale each video frame (other items pass through); returns the number of frames."""
    count = 0
    for item in frames_in:
        if isinstance(item, av.VideoFrame):
            item = _upscale_frame(item, network)
            count += 1
            if on_frame is not None:
                on_frame(count, total)
        frames_out.put(item)
    frames_out.put(_END)
    return count


def _upscale_frame(frame: av.VideoFrame, network: FrameNetwork) -> av.VideoFrame:
    """One frame through the network, at 16 bits per channel when the source has more than 8."""
    deep = any(component.bits > 8 for component in frame.format.components)
    layout, bits, dtype = ("rgb48le", 16, np.uint16) if deep else ("rgb24", 8, np.uint8)
    pixels = torch.from_numpy(frame.to_ndarray(format=layout).astype(np.float32) / (2**bits - 1))
    samples = network(pixels.permute(2, 0, 1)[None], bits)[0].permute(1, 2, 0).numpy().astype(dtype)
    result = av.VideoFrame.from_ndarray(np.ascontiguousarray(samples), format=layout)
    result.pts, result.time_base = frame.pts, frame.time_base
    return result


def _write(writer: OutputContainer, video_out: VideoStream, routes: dict[int, _Route], items: _Pipe) -> None:
    """Encode frames and mux them with the copied (or re-encoded) packets; flush at the end."""
    for item in items:
        if isinstance(item, av.VideoFrame):
            writer.mux(video_out.encode(item))
        else:
            _mux_packet(writer, routes[item.stream.index], item)
    writer.mux(video_out.encode(None))
    for route in routes.values():
        if route.transcode:
            _transcode(writer, route, None)


def _mux_packet(writer: OutputContainer, route: _Route, packet: av.Packet) -> None:
    if route.transcode:
        _transcode(writer, route, packet)
    else:
        packet.stream = route.target
        writer.mux(packet)


def _transcode(writer: OutputContainer, route: _Route, packet: av.Packet | None) -> None:
    """Decode an audio packet and encode it for the output (None flushes both codecs)."""
    assert isinstance(route.source, AudioStream) and isinstance(route.target, AudioStream)  # only audio is re-encoded
    for frame in route.source.decode(packet):
        writer.mux(route.target.encode(frame))
    if packet is None:
        writer.mux(route.target.encode(None))
