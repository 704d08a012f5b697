"""The exceptions pertitle raises; the CLI maps each family to an exit code."""

from __future__ import annotations

import shlex
from collections.abc import Sequence


class PertitleError(Exception):
    """Base of every error pertitle raises on purpose (never a bug)."""

    exit_code = 1


class ConfigError(PertitleError):
    """A bad setting: names the field and the value."""

    exit_code = 2


class InputError(PertitleError):
    """A title that cannot be analysed: missing, not a video, truncated, ..."""

    exit_code = 2


class ToolError(PertitleError):
    """The ffmpeg in use lacks something pertitle needs (an encoder, libvmaf)."""

    exit_code = 2


class HullError(PertitleError):
    """The measurements cannot form a hull (too few usable points)."""

    exit_code = 1


class FfmpegError(PertitleError):
    """An ffmpeg run failed; carries the command and the tail of its stderr."""

    exit_code = 1

    def __init__(self, argv: Sequence[str], returncode: int, stderr_tail: str, what: str = "") -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        self.what = what or "ffmpeg failed"
        last = stderr_tail.strip().splitlines()[-1] if stderr_tail.strip() else "no output"
        super().__init__(f"{self.what} (exit {returncode}): {last}")

    def details(self) -> str:
        return f"{self}\n---cmd---\n{shlex.join(self.argv)}\n---stderr---\n{self.stderr_tail}"


class FfmpegTimeout(FfmpegError):
    """An ffmpeg run outlived its timeout and was killed."""
