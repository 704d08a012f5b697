"""A pertitle process killed outright (SIGKILL: a CI timeout, the OOM killer) takes its ffmpeg
children with it, instead of leaving them to burn the cores for the rest of their encodes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_ffmpeg

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc; the guard is Linux's")


def _encoders(pid: int) -> list[int]:
    """Live (not zombie) probe encodes (one reference decode split into several x264 encodes)
    whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) != pid or state == "Z":
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"libx264" in argv and any(arg.startswith(b"[0:V:0]split=") for arg in argv):
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_ffmpeg_children_die_with_a_killed_analysis(tmp_path: Path, ffmpeg_path: str) -> None:
    title = tmp_path / "long.mp4"
    # Long enough that its encodes are still running when the analysis is killed.
    run_ffmpeg(
        ffmpeg_path,
        *("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=24:duration=12,noise=alls=8:allf=t"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p", str(title)),
    )
    argv = [sys.executable, "-m", "pertitle", "analyze", str(title), "--no-cache", "--json"]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    try:
        deadline = time.monotonic() + 60
        children: list[int] = []
        while not children:
            assert proc.poll() is None, "the analysis ended before it could be killed"
            assert time.monotonic() < deadline, "no probe encode started within 60 s"
            time.sleep(0.2)
            children = _encoders(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while any(_alive(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [c for c in children if _alive(c)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for c in left:  # don't leave them running for the rest of the suite
        os.kill(c, signal.SIGKILL)
    assert not left, f"ffmpeg children {left} outlived their killed parent"


def test_a_missing_binary_behind_the_guard_is_a_clear_ffmpeg_error(tmp_path: Path) -> None:
    from pertitle.errors import FfmpegError
    from pertitle.ffmpeg import runner

    with pytest.raises(FfmpegError) as caught:
        runner.run([str(tmp_path / "no-ffmpeg"), "-version"], what="")
    assert caught.value.returncode == -1
    assert "cannot start" in str(caught.value) and "No such file" in str(caught.value)
