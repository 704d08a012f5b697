"""Runs ffmpeg argv lists (never a shell) with a timeout; failures become FfmpegError."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from pertitle.errors import FfmpegError, FfmpegTimeout

STDERR_TAIL_CHARS = 4000


def run(argv: Sequence[str], *, timeout_s: float | None = None, what: str = "") -> str:
    """Run one ffmpeg command to completion and return its stderr.

    Raises:
        FfmpegError: non-zero exit, with the command and the tail of stderr.
        FfmpegTimeout: the command outlived `timeout_s` and was killed.
    """
    try:
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except OSError as exc:
        raise FfmpegError(argv, -1, str(exc), what or "cannot start ffmpeg") from None
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
    if proc.returncode != 0:
        raise FfmpegError(argv, proc.returncode, text[-STDERR_TAIL_CHARS:], what)
    return text + out.decode("utf-8", "replace")
