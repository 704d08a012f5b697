"""probe() on clips generated with the bundled ffmpeg, and on every kind of bad input."""

from __future__ import annotations

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
