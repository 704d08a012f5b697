"""Runs ffmpeg argv lists (never a shell) with a timeout; failures become FfmpegError."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Sequence

from pertitle.errors import FfmpegError, FfmpegTimeout

STDERR_TAIL_CHARS = 4000

# On Linux each ffmpeg starts as a tiny Python that asks the kernel to SIGKILL it when its parent
# dies (PR_SET_PDEATHSIG, kept across exec) and then becomes ffmpeg. Without it a pertitle killed
# outright (a CI job's timeout, the OOM killer, kill -9) leaves its encodes running to the end,
# minutes of every core on a long title. A preexec_fn would do the same without the extra
# process, but is unsafe in a threaded parent; the start costs ~25 ms against seconds of encode.
# The parent's pid is checked after the prctl: a parent that died before it leaves no signal.
_ORPHAN_GUARD = """\
import ctypes, os, sys
ctypes.CDLL(None).prctl(1, 9)
if os.getppid() != int(sys.argv[1]):
    os._exit(137)
try:
    os.execvp(sys.argv[2], sys.argv[2:])
except OSError as exc:
    sys.stderr.write(f"cannot start {sys.argv[2]}: {exc.strerror}\\n")
    os._exit(127)
"""
_EXEC_FAILED = 127


def _guarded(argv: list[str]) -> list[str]:
    """`argv` behind the orphan guard, where the platform has one (Linux)."""
    if sys.platform != "linux" or not sys.executable:
        return argv
    return [sys.executable, "-I", "-S", "-c", _ORPHAN_GUARD, str(os.getpid()), *argv]


# Every ffmpeg running now, from any thread: an interrupt lands in the main thread only, while
# the worker threads wait on their encodes, and the pool then waits for those to end (a SIGTERM
# to pertitle alone, as `timeout` and `docker stop` send, took 22 s on one 432p encode).
_RUNNING: set[subprocess.Popen[bytes]] = set()
_RUNNING_LOCK = threading.Lock()


def kill_running() -> int:
    """Kill every ffmpeg this process is running (on an interrupt); how many were."""
    with _RUNNING_LOCK:
        procs = list(_RUNNING)
    for proc in procs:
        with contextlib.suppress(OSError):
            proc.kill()
    return len(procs)


def run(argv: Sequence[str], *, timeout_s: float | None = None, what: str = "") -> str:
    """Run one ffmpeg command to completion and return its stderr.

    Raises:
        FfmpegError: non-zero exit, with the command and the tail of stderr.
        FfmpegTimeout: the command outlived `timeout_s` and was killed.
    """
    try:
        proc = subprocess.Popen(
            _guarded(list(argv)),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        raise FfmpegError(argv, -1, str(exc), what or "cannot start ffmpeg") from None
    with _RUNNING_LOCK:
        _RUNNING.add(proc)
    try:
        return _finish(proc, argv, timeout_s, what)
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(proc)


def _finish(proc: subprocess.Popen[bytes], argv: Sequence[str], timeout_s: float | None, what: str) -> str:
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        tail = err.decode("utf-8", "replace")[-STDERR_TAIL_CHARS:]
        raise FfmpegTimeout(
            argv, -9, tail + f"\nkilled after {timeout_s:g} s", what or "ffmpeg timed out"
        ) from None
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    text = err.decode("utf-8", "replace")
    if proc.returncode == _EXEC_FAILED and text.startswith("cannot start "):
        raise FfmpegError(argv, -1, text.strip(), what or "cannot start ffmpeg")
    if proc.returncode != 0:
        raise FfmpegError(argv, proc.returncode, text[-STDERR_TAIL_CHARS:], what)
    return text + out.decode("utf-8", "replace")
