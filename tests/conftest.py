"""Clips made at test time with the bundled ffmpeg (lavfi sources), shared by the whole session.

Every clip is tiny (at most 640x360, 2 s) so that the real-encode tests stay fast on two cores.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pertitle.ffmpeg import binary


def run_ffmpeg(ffmpeg: str, *args: str) -> None:
    """Run the bundled ffmpeg quietly; a failure shows its stderr in the test report."""
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"making a test clip failed: {argv}\n{proc.stderr}")


def make_damaged_mp4(ffmpeg: str, root: Path) -> tuple[Path, Path]:
    """(a whole 2 s 320x180 MP4, a copy with a fifth of its bytes zeroed in the middle): ffmpeg
    conceals that damage and exits 0."""
    whole = root / "whole.mp4"
    graph = "testsrc2=size=320x180:rate=25:duration=2"
    run_ffmpeg(ffmpeg, "-f", "lavfi", "-i", graph, "-c:v", "libx264", "-preset", "ultrafast", str(whole))
    damaged = root / "damaged.mp4"
    data = bytearray(whole.read_bytes())
    data[len(data) // 3 : len(data) // 3 + len(data) // 5] = bytes(len(data) // 5)
    damaged.write_bytes(bytes(data))
    return whole, damaged


def wait_for_a_reference(proc: subprocess.Popen[Any], work: Path, what: str) -> None:
    """Until a pertitle run in `work` has made its lossless reference (within 120 s): the moment a
    signal finds real work to stop."""
    deadline = time.monotonic() + 120
    while not list(work.glob("pertitle-*/reference.mkv")):
        assert time.monotonic() < deadline, "no reference was made in time"
        assert proc.poll() is None, f"{what} ended before it could be stopped"
        time.sleep(0.05)


def run_in_terminal(args: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, bytes]:
    """Run `python -m pertitle ARGS` with stdout and stderr on a pseudo-terminal, 120x40, as in an
    interactive shell, and return its exit code and every byte it wrote there: what a user's
    terminal gets, escape sequences included. `env` is added to this process's environment, less
    whatever could make Rich decide about the terminal on its own (COLUMNS, FORCE_COLOR, ...)."""
    import pertitle

    base = {k: v for k, v in os.environ.items() if k not in _TERMINAL_OVERRIDES}
    base["PYTHONPATH"] = str(Path(pertitle.__file__).parents[1])  # this checkout's pertitle
    base["TERM"] = "xterm-256color"
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pertitle", *args],
            stdin=subprocess.DEVNULL,
            stdout=terminal,
            stderr=terminal,
            env={**base, **env},
        )
    finally:
        os.close(terminal)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                proc.kill()
                raise TimeoutError(f"pertitle {args} ran past {timeout} s")
            if not select.select([controller], [], [], left)[0]:
                continue
            try:
                data = os.read(controller, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(controller)
    return proc.wait(timeout=30), b"".join(chunks)


_TERMINAL_OVERRIDES = ("COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR")


# x264 at crf 18 keeps the detail of the lavfi source; ultrafast keeps clip-making under a second.
_X264 = ("-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p")


@dataclass(frozen=True)
class Clips:
    """Paths of the generated clips, and the bad inputs (see `bad_inputs`)."""

    root: Path
    detailed: Path  # 640x360, 24 fps, 2 s: moving test pattern under temporal noise
    flat: Path  # 640x360, 24 fps, 2 s: one flat colour with a small box sliding across it
    static: Path  # 320x180, 24 fps, 1 s: one flat colour, nothing moves
    small: Path  # 320x180, 24 fps, 1 s: moving test pattern, for quick end-to-end runs
    audio_m4a: Path  # 1 s sine tone, AAC in MP4: no video stream
    audio_mka: Path  # 1 s sine tone, PCM in Matroska: no video stream


@pytest.fixture(scope="session")
def ffmpeg_path() -> str:
    return binary.locate()


@pytest.fixture(scope="session")
def ffmpeg_info(ffmpeg_path: str) -> binary.FfmpegInfo:
    return binary.detect(ffmpeg_path)


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory, ffmpeg_path: str) -> Clips:
    root = tmp_path_factory.mktemp("clips")
    c = Clips(
        root=root,
        detailed=root / "detailed.mp4",
        flat=root / "flat.mp4",
        static=root / "static.mp4",
        small=root / "small.mp4",
        audio_m4a=root / "tone.m4a",
        audio_mka=root / "tone.mka",
    )
    f = ffmpeg_path
    run_ffmpeg(
        f,
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=24:duration=2,noise=alls=8:allf=t",
        *_X264,
        str(c.detailed),
    )
    # drawbox evaluates its position once, so the moving box is an overlay (evaluated per frame).
    flat_graph = (
        "color=c=0x336699:size=640x360:rate=24:duration=2[bg];"
        "color=c=white:size=32x32:rate=24:duration=2[box];"
        "[bg][box]overlay=x='40+t*60':y=160"
    )
    run_ffmpeg(f, "-f", "lavfi", "-i", flat_graph, *_X264, str(c.flat))
    run_ffmpeg(
        f, "-f", "lavfi", "-i", "color=c=0x336699:size=320x180:rate=24:duration=1", *_X264, str(c.static)
    )
    run_ffmpeg(f, "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=24:duration=1", *_X264, str(c.small))
    tone = "sine=frequency=440:duration=1"
    run_ffmpeg(f, "-f", "lavfi", "-i", tone, "-c:a", "aac", str(c.audio_m4a))
    run_ffmpeg(f, "-f", "lavfi", "-i", tone, "-c:a", "pcm_s16le", str(c.audio_mka))
    return c


@pytest.fixture(scope="session")
def rotated_clip(clips: Clips, ffmpeg_path: str) -> Path:
    """The small clip with a 90 degree display rotation in its container (stream copy)."""
    out = clips.root / "rotated.mp4"
    run_ffmpeg(ffmpeg_path, "-display_rotation", "90", "-i", str(clips.small), "-c", "copy", str(out))
    return out


@pytest.fixture(scope="session")
def anamorphic_clip(clips: Clips, ffmpeg_path: str) -> Path:
    """720x480 coded, 32:27 pixels (a 16:9 DVD frame), 0.5 s."""
    out = clips.root / "anamorphic.mp4"
    graph = "testsrc2=size=720x480:rate=24:duration=0.5,setsar=32/27"
    run_ffmpeg(ffmpeg_path, "-f", "lavfi", "-i", graph, *_X264, str(out))
    return out


@pytest.fixture(scope="session")
def odd_size_clip(clips: Clips, ffmpeg_path: str) -> Path:
    """427x241, square pixels, 4:4:4 lossless (FFV1), 0.5 s: a frame 4:2:0 cannot code as it is."""
    out = clips.root / "odd-size.mkv"
    graph = "testsrc2=size=428x242:rate=24:duration=0.5,scale=427:241,setsar=1"
    run_ffmpeg(ffmpeg_path, "-f", "lavfi", "-i", graph, "-c:v", "ffv1", "-pix_fmt", "yuv444p", str(out))
    return out


@pytest.fixture(scope="session")
def interlaced_clip(clips: Clips, ffmpeg_path: str) -> Path:
    """320x180, 1 s: the small test pattern woven into top-field-first frames, coded interlaced."""
    out = clips.root / "interlaced.mp4"
    graph = "testsrc2=size=320x180:rate=48:duration=1,interlace=scan=tff"
    run_ffmpeg(ffmpeg_path, "-f", "lavfi", "-i", graph, *_X264, "-flags", "+ildct+ilme", str(out))
    return out


@pytest.fixture(scope="session")
def faststart_truncated(clips: Clips, ffmpeg_path: str) -> Path:
    """The detailed clip remuxed with its index (moov) first, then cut to 30%: it still opens and
    declares 2 s, but only the first frames' data is there."""
    fast = clips.root / "detailed-faststart.mp4"
    run_ffmpeg(ffmpeg_path, "-i", str(clips.detailed), "-c", "copy", "-movflags", "+faststart", str(fast))
    out = clips.root / "truncated-faststart.mp4"
    data = fast.read_bytes()
    out.write_bytes(data[: int(len(data) * 0.3)])
    return out


@pytest.fixture(scope="session")
def bad_inputs(clips: Clips, ffmpeg_path: str) -> dict[str, tuple[Path, str]]:
    """name -> (path, a phrase the one-line error must contain)."""
    bad = clips.root / "bad"
    bad.mkdir(exist_ok=True)
    empty = bad / "empty.mp4"
    empty.write_bytes(b"")
    # ffmpeg's mp4 muxer writes the index (moov) last, so the first 30% has no index at all.
    truncated = bad / "truncated.mp4"
    data = clips.detailed.read_bytes()
    truncated.write_bytes(data[: int(len(data) * 0.3)])
    text = bad / "notes.mp4"
    text.write_text("this is a text file, not a video\n", encoding="utf-8")
    directory = bad / "a-directory.mp4"
    directory.mkdir(exist_ok=True)
    # HDR: 10-bit BT.2020 tagged with the PQ and the HLG transfer (the tags are what a player reads).
    hdr = {}
    for name, trc in (("hdr_pq", "smpte2084"), ("hdr_hlg", "arib-std-b67")):
        hdr[name] = bad / f"{name}.mkv"
        tags = f"setparams=color_trc={trc}:color_primaries=bt2020:colorspace=bt2020nc"
        graph = f"testsrc2=size=320x180:rate=24:duration=1,{tags},format=yuv420p10le"
        run_ffmpeg(ffmpeg_path, "-f", "lavfi", "-i", graph, *_X264[:-2], str(hdr[name]))
    still = bad / "still.png"
    run_ffmpeg(ffmpeg_path, "-f", "lavfi", "-i", "testsrc2=size=320x180", "-frames:v", "1", str(still))
    # The same picture as a one-frame MP4: it declares a duration (one frame's), but is no video.
    one_frame = bad / "one-frame.mp4"
    run_ffmpeg(
        ffmpeg_path,
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=25",
        "-frames:v",
        "1",
        *_X264,
        str(one_frame),
    )
    # libvmaf crashes on pictures under 18 pixels a side.
    tiny = bad / "tiny.mp4"
    run_ffmpeg(ffmpeg_path, "-f", "lavfi", "-i", "testsrc2=size=16x16:rate=25:duration=1", *_X264, str(tiny))
    # An H.264 elementary stream has no timestamps: Matroska refuses a stream copy, MP4 takes it.
    raw = bad / "raw.264"
    run_ffmpeg(
        ffmpeg_path,
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=25:duration=1",
        *_X264,
        "-f",
        "h264",
        str(raw),
    )
    return {
        "empty": (empty, "the file is empty"),
        "truncated": (truncated, "truncated or corrupt"),
        "text": (text, "not a readable video file"),
        "audio_m4a": (clips.audio_m4a, "no video stream"),
        "audio_mka": (clips.audio_mka, "no video stream"),
        "directory": (directory, "is a directory"),
        "missing": (bad / "missing.mp4", "no such file"),
        "hdr_pq": (hdr["hdr_pq"], "HDR video (PQ transfer)"),
        "hdr_hlg": (hdr["hdr_hlg"], "HDR video (HLG transfer)"),
        "still": (still, "a single picture, not a video"),
        "one_frame": (one_frame, "a single picture, not a video"),
        "tiny": (tiny, "the picture is 16x16; pertitle needs at least 32 pixels a side"),
        "raw_h264": (raw, "ffmpeg -i IN -c copy OUT.mp4"),
    }
