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
from srzoo.models import build_model
from srzoo.video import muxer_for, upscale_video
from srzoo.zoo.weightfile import save_weights

FPS, SECONDS, WIDTH, HEIGHT, RATE = 10, 2, 32, 24, 48000


def nearest(batch: torch.Tensor, bits: int) -> torch.Tensor:
    """A stand-in x2 frame network: nearest-neighbour, rounded to `bits`."""
    return torch.nn.functional.interpolate(batch, scale_factor=2, mode="nearest").mul(2**bits - 1).round()


def make_video(path: Path, subtitles: Path | None = None) -> Path:
    """A 2-second 32x24 @ 10 fps H.264 video with a 440 Hz sine in AAC (and SubRip subtitles)."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        audio = out.add_stream("aac", rate=RATE)
        audio.layout = "mono"
        if subtitles is not None:
            text = av.open(str(subtitles))
            subtitle = out.add_stream_from_template(text.streams.subtitles[0])
        for index in range(FPS * SECONDS):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8))
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            out.mux(video.encode(frame))
        tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(RATE * SECONDS) / RATE)
        sound = av.AudioFrame.from_ndarray(tone.astype(np.float32)[None], format="flt", layout="mono")
        sound.sample_rate, sound.pts, sound.time_base = RATE, 0, Fraction(1, RATE)
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
