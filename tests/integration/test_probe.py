"""probe() on clips generated with the bundled ffmpeg, and on every kind of bad input."""

from __future__ import annotations

import json
import os
import shlex
import struct
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pertitle.errors import InputError
from pertitle.probe import probe

if TYPE_CHECKING:
    from tests.conftest import Clips


def test_detailed_clip(clips: Clips) -> None:
    info = probe(clips.detailed)
    assert (info.width, info.height) == (640, 360)
    assert info.display_aspect == pytest.approx(16 / 9, abs=1e-5)
    assert info.fps == pytest.approx(24.0)
    assert info.duration_s == pytest.approx(2.0, abs=0.05)
    assert info.frame_count == 48
    assert (info.pix_fmt, info.bit_depth, info.codec, info.rotation_deg) == ("yuv420p", 8, "h264", 0)
    assert info.size_bytes == clips.detailed.stat().st_size
    assert info.path == str(clips.detailed)


def test_small_and_flat_clips(clips: Clips) -> None:
    small = probe(str(clips.small))  # a str path works as well as a Path
    assert (small.width, small.height, small.frame_count) == (320, 180, 24)
    assert small.duration_s == pytest.approx(1.0, abs=0.05)
    flat = probe(clips.flat)
    assert (flat.width, flat.height, flat.frame_count) == (640, 360, 48)


def test_interlaced_frames_are_noticed(clips: Clips, interlaced_clip: Path) -> None:
    info = probe(interlaced_clip)
    assert info.interlaced
    assert (info.width, info.height, info.fps) == (320, 180, 24.0)
    assert not probe(clips.detailed).interlaced


def _x264_clip(ffmpeg_path: str, out: Path, graph: str, *options: str) -> Path:
    """A lavfi source encoded with x264 ultrafast (and `options`) into `out`."""
    from tests.conftest import run_ffmpeg

    run_ffmpeg(
        ffmpeg_path, "-f", "lavfi", "-i", graph, "-c:v", "libx264", "-preset", "ultrafast", *options, str(out)
    )
    return out


def test_interlacing_flagged_only_by_the_container_is_noticed(tmp_path: Path, ffmpeg_path: str) -> None:
    graph = "testsrc2=size=320x180:rate=50:duration=0.5,tinterlace=interleave_top"
    clip = _x264_clip(ffmpeg_path, tmp_path / "woven.mkv", graph, "-pix_fmt", "yuv420p", "-field_order", "tt")
    assert probe(clip).interlaced


def test_rotated_clip_is_described_as_displayed(rotated_clip: Path) -> None:
    info = probe(rotated_clip)
    assert info.rotation_deg in (90, 270)
    assert (info.width, info.height) == (180, 320)  # coded 320x180, shown upright
    assert info.display_aspect == pytest.approx(180 / 320, abs=1e-5)
    assert info.frame_count == 24


def test_anamorphic_clip_is_described_at_its_display_size(anamorphic_clip: Path) -> None:
    # A 720x480 frame with 32:27 pixels (16:9 DVD): 720 * 32/27 = 853.3 -> 854x480, the size
    # every later step works in (`plan.fit_into_box`, `reference.cap_to_source`).
    info = probe(anamorphic_clip)
    assert (info.width, info.height) == (854, 480)
    assert info.display_aspect == pytest.approx(854 / 480, abs=1e-5)


def test_odd_size_clip_is_described_at_the_even_size_below(odd_size_clip: Path) -> None:
    # 4:2:0 encodes need even sides, and the source's own size is never upscaled: 427x241 -> 426x240.
    info = probe(odd_size_clip)
    assert (info.width, info.height) == (426, 240)


@pytest.mark.parametrize(
    "name",
    [
        "empty",
        "truncated",
        "text",
        "audio_m4a",
        "audio_mka",
        "directory",
        "missing",
        "hdr_pq",
        "hdr_hlg",
        "still",
        "one_frame",
        "tiny",
        "raw_h264",
    ],
)
def test_bad_input_is_one_clear_input_error(bad_inputs: dict[str, tuple[Path, str]], name: str) -> None:
    path, phrase = bad_inputs[name]
    with pytest.raises(InputError) as excinfo:
        probe(path)
    message = str(excinfo.value)
    assert "\n" not in message
    assert phrase in message
    assert message.startswith(str(path))  # names the file first
    assert "Traceback" not in message


def test_truncated_faststart_mp4_is_an_input_error(faststart_truncated: Path) -> None:
    with pytest.raises(InputError, match="truncated"):
        probe(faststart_truncated)


def test_an_mp4_cut_short_of_its_declared_end_is_an_input_error(tmp_path: Path, ffmpeg_path: str) -> None:
    # 6 s with the index first, cut at 85%: it opens and declares 6 s, and its data ends near
    # 5.1 s, within the 20% an earlier check let pass.
    graph = "testsrc2=size=160x90:rate=25:duration=6"
    whole = _x264_clip(ffmpeg_path, tmp_path / "whole.mp4", graph, "-g", "25", "-movflags", "+faststart")
    assert probe(whole).duration_s == pytest.approx(6.0, abs=0.05)
    cut = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 85 // 100])
    with pytest.raises(InputError, match=r"declares 6\.0 s of video but its data ends early \(5\.\d s\)"):
        probe(cut)


@pytest.mark.parametrize("kept", [85, 90, 95])
def test_a_short_mp4_cut_by_a_few_frames_is_an_input_error(
    tmp_path: Path, ffmpeg_path: str, kept: int
) -> None:
    # 4 s, index first: cut at 85% its data reaches 3.5 s, inside the 0.5 s of slack a file
    # that does not index its frames gets, and it was analysed with 81 of its 96 frames.
    graph = "testsrc2=size=320x180:rate=24:duration=4"
    whole = _x264_clip(ffmpeg_path, tmp_path / "whole.mp4", graph, "-g", "24", "-movflags", "+faststart")
    assert probe(whole).frame_count == 96
    cut = tmp_path / f"cut{kept}.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * kept // 100])
    with pytest.raises(InputError, match=r"declares 4\.0 s of video but its data ends early \(3\.\d s\)"):
        probe(cut)


def test_a_1000_fps_source_keeps_its_rate(tmp_path: Path, ffmpeg_path: str) -> None:
    # A high-speed camera's rate, not Matroska's 1 ms time base: the GOP is 2 s of its frames.
    info = probe(
        _x264_clip(ffmpeg_path, tmp_path / "fast.mp4", "testsrc2=size=160x90:rate=1000:duration=0.3")
    )
    assert info.fps == pytest.approx(1000)
    assert info.frame_count == 300


def test_video_that_starts_after_its_audio_says_how_far_in(tmp_path: Path, ffmpeg_path: str) -> None:
    # Sample windows count from the video's first frame, ffmpeg's -ss from the file's start.
    clip = _mkv_with_audio(ffmpeg_path, tmp_path / "late.mkv", video_s=1.5, total_s=3.0, offset_s=1.0)
    assert probe(clip).start_offset_s == pytest.approx(1.0, abs=0.01)
    on_time = _mkv_with_audio(ffmpeg_path, tmp_path / "on-time.mkv", video_s=1.5, total_s=3.0)
    assert probe(on_time).start_offset_s == pytest.approx(0.0, abs=0.03)


@pytest.mark.parametrize(("offset_s", "total_s"), [(6.0, 10.0), (6.0, 8.0), (12.0, 15.0)])
def test_video_that_starts_past_what_libavformat_analyses_is_read_from_its_frames(
    tmp_path: Path, ffmpeg_path: str, offset_s: float, total_s: float
) -> None:
    """Video 6 s or more after the audio: libavformat analyses 5 s, guesses the video's start
    (0) and length (the file's), and the intact file was refused as truncated (10 s declared,
    data to 8 s) or probed as 8 s of video (192 frames) where it holds 2 s (48)."""
    clip = _mkv_with_audio(
        ffmpeg_path, tmp_path / "late.mkv", video_s=2.0, total_s=total_s, offset_s=offset_s
    )
    info = probe(clip)
    assert info.start_offset_s == pytest.approx(offset_s, abs=0.05)
    assert info.duration_s == pytest.approx(2.0, abs=0.05)
    assert info.frame_count == 48


def _mkv_with_audio(
    ffmpeg_path: str, out: Path, *, video_s: float, total_s: float, offset_s: float = 0
) -> Path:
    from tests.conftest import run_ffmpeg

    video = ("-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=24:duration={video_s}")
    run_ffmpeg(
        ffmpeg_path,
        *(("-itsoffset", str(offset_s)) if offset_s else ()),
        *video,
        *("-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-map", "0:v", "-map", "1:a"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-t", str(total_s), str(out)),
    )
    return out


@pytest.mark.parametrize(
    ("total_s", "offset_s"),
    [(4.0, 0.0), (2.3, 0.0), (3.0, 1.0)],
    ids=["audio-runs-on", "audio-runs-on-a-little", "video-starts-late"],
)
def test_matroska_video_shorter_than_its_audio_is_the_video_length(
    tmp_path: Path, ffmpeg_path: str, total_s: float, offset_s: float
) -> None:
    # Matroska keeps no per-stream duration; the container's runs to the end of the audio.
    clip = _mkv_with_audio(ffmpeg_path, tmp_path / "a.mkv", video_s=1.5, total_s=total_s, offset_s=offset_s)
    info = probe(clip)
    assert info.duration_s == pytest.approx(1.5, abs=0.01)
    assert info.frame_count == 36


def test_truncated_matroska_with_audio_is_an_input_error(tmp_path: Path, ffmpeg_path: str) -> None:
    whole = _mkv_with_audio(ffmpeg_path, tmp_path / "whole.mkv", video_s=6, total_s=6)
    cut = tmp_path / "cut.mkv"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated"):
        probe(cut)


def test_a_file_name_with_a_colon_is_a_file_not_a_protocol(
    clips: Clips, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("x:y.mp4", "pipe:z.mp4"):
        (tmp_path / name).write_bytes(clips.small.read_bytes())
    monkeypatch.chdir(tmp_path)
    assert probe("x:y.mp4").frame_count == 24
    assert probe("pipe:z.mp4").frame_count == 24


def test_an_empty_path_is_said_to_be_empty() -> None:
    with pytest.raises(InputError, match="the title's path is empty"):
        probe("")


def _cover_art_first(ffmpeg_path: str, root: Path, video: Path) -> Path:
    """An MP4 of `video` whose cover art (an `attached_pic` stream) demuxes as stream 0: ffmpeg
    writes the cover into moov/udta after the tracks; moving udta before them (as some taggers
    write it) makes the cover the first video stream. Offsets into mdat, before moov, hold."""
    from tests.conftest import run_ffmpeg

    cover = root / "cover.png"
    run_ffmpeg(ffmpeg_path, "-f", "lavfi", "-i", "color=red:s=64x64", "-frames:v", "1", str(cover))
    tagged = root / "tagged.mp4"
    run_ffmpeg(
        ffmpeg_path,
        *("-i", str(video), "-i", str(cover), "-map", "0:v", "-map", "1"),
        *("-c:v:0", "copy", "-c:v:1", "mjpeg", "-disposition:v:1", "attached_pic", str(tagged)),
    )
    data = bytearray(tagged.read_bytes())

    def atoms(start: int, end: int) -> list[tuple[int, int, bytes]]:
        out, i = [], start
        while i < end:
            size, kind = struct.unpack(">I4s", data[i : i + 8])
            out.append((i, size, kind))
            i += size
        return out

    moov = next(a for a in atoms(0, len(data)) if a[2] == b"moov")
    assert moov[0] + moov[1] == len(data), "moov is expected last (after mdat)"
    kids = atoms(moov[0] + 8, moov[0] + moov[1])
    blobs = [(kind, bytes(data[i : i + size])) for i, size, kind in kids]
    udta = [b for k, b in blobs if k == b"udta"]
    rest = [b for k, b in blobs if k != b"udta"]
    assert udta, "no udta atom to move"
    data[moov[0] + 8 : moov[0] + moov[1]] = b"".join([rest[0], *udta, *rest[1:]])
    out = root / "cover-first.mp4"
    out.write_bytes(bytes(data))
    return out


def test_cover_art_first_is_passed_over_for_the_video(clips: Clips, tmp_path: Path, ffmpeg_path: str) -> None:
    import av

    clip = _cover_art_first(ffmpeg_path, tmp_path, clips.small)
    with av.open(str(clip)) as container:
        assert container.streams.video[0].codec_context.name == "mjpeg"  # the cover comes first
    info = probe(clip)
    assert (info.codec, info.width, info.height, info.frame_count) == ("h264", 320, 180, 24)

    # Every command maps the title's stream (0:V:0, never the cover): all 24 frames are scored.
    from typer.testing import CliRunner

    from pertitle.cli import app

    run = CliRunner().invoke(
        app, ["analyze", str(clip), "--heights", "180", "--crfs", "28,40", "--no-cache", "--json", "-q"]
    )
    assert run.exit_code == 0, run.stderr
    doc = json.loads(run.stdout)
    assert all(len(r["vmaf_per_frame"]) == 24 for r in doc["rungs"])


def test_unflagged_cover_art_first_in_matroska_says_how_to_put_the_video_first(
    clips: Clips, tmp_path: Path, ffmpeg_path: str
) -> None:
    # Matroska keeps no attached_pic flag: the cover is the first video stream (0:V:0), and the
    # title was refused as "a single picture, not a video" though it holds one.
    from tests.conftest import run_ffmpeg

    still, clip = tmp_path / "still.jpg", tmp_path / "cover.mkv"
    run_ffmpeg(ffmpeg_path, "-i", str(clips.small), "-frames:v", "1", str(still))
    run_ffmpeg(
        ffmpeg_path,
        "-i",
        str(clips.small),
        "-i",
        str(still),
        "-map",
        "1",
        "-map",
        "0",
        "-c",
        "copy",
        str(clip),
    )
    with pytest.raises(InputError) as caught:
        probe(clip)
    said = str(caught.value)
    assert "first video stream is a single picture (cover art?) and another follows" in said
    fixed = tmp_path / "OUT.mkv"
    parts = shlex.split(said.split("remux with the video first: ")[1])  # the command, as said
    parts[parts.index("IN")] = str(clip)
    run_ffmpeg(ffmpeg_path, *parts[1:-1], str(fixed))
    assert probe(fixed).frame_count == 24


def test_a_video_codec_ffmpeg_cannot_decode_is_an_input_error(clips: Clips, tmp_path: Path) -> None:
    # An unknown FourCC: PyAV opens no codec context, and the probe died on its width (traceback).
    unknown = tmp_path / "unknown.mp4"
    unknown.write_bytes(clips.small.read_bytes().replace(b"avc1", b"zzzz"))
    with pytest.raises(InputError, match="its video codec is one this ffmpeg cannot decode"):
        probe(unknown)


def test_a_pipe_and_a_broken_link_are_said_to_be_what_they_are(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="is not a regular file"):
        probe(fifo)  # and returns: opening a pipe to read would wait for a writer
    link = tmp_path / "gone.mp4"
    link.symlink_to(tmp_path / "moved-away.mp4")
    with pytest.raises(InputError, match=r"a symbolic link to .*moved-away\.mp4, which does not exist"):
        probe(link)
