"""Video: same frame count and rate, audio and subtitles copied (or re-encoded/dropped), errors stop cleanly."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from srzoo.cli import main
from srzoo.errors import SrzooError
from srzoo.media.video import VideoSettings, muxer_for, upscale_video
from srzoo.models import build_model
from srzoo.zoo.weightfile import save_weights

FPS, SECONDS, WIDTH, HEIGHT, RATE = 10, 2, 32, 24, 48000


def nearest(batch: torch.Tensor, bits: int) -> torch.Tensor:
    """A stand-in x2 frame network: nearest-neighbour, rounded to `bits`."""
    return torch.nn.functional.interpolate(batch, scale_factor=2, mode="nearest").mul(2**bits - 1).round()


def make_video(path: Path, subtitles: Path | None = None, size: tuple[int, int] = (WIDTH, HEIGHT),
               rate: int = RATE, codec: str = "libx264") -> Path:
    """A 2-second 32x24 @ 10 fps H.264 video with a 440 Hz sine in AAC at 48 kHz (and SubRip subtitles)."""
    rng = np.random.default_rng(0)
    width, height = size
    with av.open(str(path), "w") as out:
        video = out.add_stream(codec, rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = out.add_stream("aac", rate=rate)
        audio.layout = "mono"
        if subtitles is not None:
            text = av.open(str(subtitles))
            subtitle = out.add_stream_from_template(text.streams.subtitles[0])
        for index in range(FPS * SECONDS):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            out.mux(video.encode(frame))
        tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(rate * SECONDS) / rate)
        sound = av.AudioFrame.from_ndarray(tone.astype(np.float32)[None], format="flt", layout="mono")
        sound.sample_rate, sound.pts, sound.time_base = rate, 0, Fraction(1, rate)
        out.mux(audio.encode(sound))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))
        if subtitles is not None:
            for packet in text.demux(text.streams.subtitles[0]):
                if packet.dts is not None:
                    packet.stream = subtitle
                    out.mux(packet)
            text.close()
    return path


def describe(path: Path) -> dict[str, object]:
    """Frame count, size and rate of the video; codec and duration (from samples) of the audio."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        info: dict[str, object] = {"size": (video.codec_context.width, video.codec_context.height),
                                   "rate": video.average_rate, "frames": sum(1 for _ in container.decode(video)),
                                   "subtitles": [s.codec_context.name for s in container.streams.subtitles]}
    with av.open(str(path)) as container:
        audio = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(audio))
        info["audio"] = (audio.codec_context.name, samples / audio.codec_context.sample_rate)
    return info


@pytest.fixture
def subtitles(tmp_path: Path) -> Path:
    path = tmp_path / "subs.srt"
    path.write_text("1\n00:00:00,200 --> 00:00:01,000\nHello\n\n2\n00:00:01,200 --> 00:00:01,800\nWorld\n")
    return path


def test_cli_keeps_frame_count_rate_and_audio(tmp_path: Path) -> None:
    weights = tmp_path / "lkdn_x2.safetensors"
    save_weights(weights, build_model("lkdn", 2).state_dict(), {"family": "lkdn", "scale": "2", "form": "inference"})
    source = make_video(tmp_path / "clip.mp4")
    with pytest.raises(SystemExit) as exit_info:
        main(["upscale", str(source), "-m", "lkdn", "-s", "2", "--weights", str(weights), "--crf", "20", "-q"])
    assert exit_info.value.code == 0
    before, after = describe(source), describe(tmp_path / "clip_lkdn_x2.mp4")
    assert after["size"] == (2 * WIDTH, 2 * HEIGHT)
    assert after["frames"] == before["frames"] == FPS * SECONDS and after["rate"] == before["rate"] == FPS
    assert after["audio"] == before["audio"] and before["audio"][1] == pytest.approx(SECONDS, abs=0.05)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_audio_is_reencoded_when_the_container_refuses_it(tmp_path: Path) -> None:
    source = make_video(tmp_path / "clip.mp4")
    target = tmp_path / "out.webm"
    result = upscale_video(source, target, nearest, 2, muxer=muxer_for(target))
    after = describe(target)
    assert result.frames == after["frames"] == FPS * SECONDS
    assert after["audio"][0] != "aac" and after["audio"][1] == pytest.approx(SECONDS, abs=0.05)
    assert any("re-encoded" in note for note in result.notes)


def test_subtitles_are_copied_or_dropped_with_a_note(tmp_path: Path, subtitles: Path) -> None:
    source = make_video(tmp_path / "clip.mkv", subtitles)
    kept = upscale_video(source, tmp_path / "out.mkv", nearest, 2)
    assert describe(tmp_path / "out.mkv")["subtitles"] == describe(source)["subtitles"] != []
    assert kept.notes == []
    dropped = upscale_video(source, tmp_path / "out.mp4", nearest, 2)
    assert describe(tmp_path / "out.mp4")["subtitles"] == [] and "dropped" in dropped.notes[0]


def test_a_failing_frame_stops_every_stage(tmp_path: Path) -> None:
    source = make_video(tmp_path / "clip.mp4")
    calls = []

    def breaks_on_fifth(batch: torch.Tensor, bits: int) -> torch.Tensor:
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("out of memory")
        return nearest(batch, bits)

    threads = threading.active_count()
    with pytest.raises(RuntimeError, match="out of memory"):
        upscale_video(source, tmp_path / "out.mp4", breaks_on_fifth, 2)
    assert threading.active_count() == threads


def test_unknown_container_and_non_video_inputs_are_clear_errors(tmp_path: Path) -> None:
    assert muxer_for(tmp_path / "a.mkv") == "matroska"
    with pytest.raises(SrzooError, match="no video container"):
        muxer_for(tmp_path / "a.nosuchcontainer")
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    with pytest.raises(SrzooError, match="video error"):
        upscale_video(tmp_path / "junk.mp4", tmp_path / "out.mp4", nearest, 2)


def test_odd_output_sizes_get_a_full_chroma_format(tmp_path: Path) -> None:
    """65x47 at x3 is 195x141, which 4:2:0 cannot hold: 4:4:4 instead, exactly 3x the size, with a note."""
    source = make_video(tmp_path / "odd.mkv", size=(65, 47), codec="libvpx-vp9")  # x264 needs even sizes
    target = tmp_path / "odd3.mp4"
    triple = lambda batch, bits: torch.nn.functional.interpolate(  # noqa: E731
        batch, scale_factor=3, mode="nearest").mul(2**bits - 1).round()
    result = upscale_video(source, target, triple, 3, muxer=muxer_for(target))
    after = describe(target)
    assert after["size"] == (195, 141) and after["frames"] == FPS * SECONDS
    with av.open(str(target)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv444p"
    assert any("195x141 is odd" in note and "yuv444p" in note for note in result.notes)
    with pytest.raises(SrzooError, match="--pix-fmt yuv420p: 195x141 is odd"):
        upscale_video(source, tmp_path / "forced.mp4", triple, 3, VideoSettings(pix_fmt="yuv420p"),
                      muxer=muxer_for(target))


def test_audio_at_a_rate_the_encoder_refuses_is_resampled(tmp_path: Path) -> None:
    """44.1 kHz AAC into WebM: Opus takes 48 kHz, so the audio is resampled, with a note."""
    source = make_video(tmp_path / "clip44k.mp4", rate=44100)
    target = tmp_path / "clip.webm"
    result = upscale_video(source, target, nearest, 2, muxer=muxer_for(target))
    with av.open(str(target)) as container:
        assert container.streams.audio[0].codec_context.sample_rate == 48000
    assert describe(target)["audio"][1] == pytest.approx(SECONDS, abs=0.05)
    assert any("resampled from 44100 to 48000 Hz" in note for note in result.notes)
