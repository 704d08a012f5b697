"""The exceptions pertitle raises; the CLI maps each family to an exit code."""

from __future__ import annotations

import re
import shlex
import signal
from collections.abc import Sequence

# ffmpeg's closing lines say that something failed, not what: skip them when naming the cause.
_GENERIC = (
    "nothing was written into output file",
    "conversion failed",
    "task finished with error code",
    "terminating thread with return code",
    "error while opening encoder",
    "error sending frames to consumers",
    "could not open encoder before eof",
    "error while filtering",
    "exiting with exit code",
    "error opening output files",
)


# Encoder libraries print their own banner and notes whatever ffmpeg's log level (SVT-AV1 starts
# every run with "Svt[info]: ----"): never the cause.
_CHATTER = ("svt[info]", "svt[warn]", "x265 [info]", "x265 [warning]")


# "[libx264 @ 0x55fe812972c0]": the context's address, different every run and of no use to a reader.
_ADDRESS = re.compile(r" @ 0x[0-9a-f]+\]")


def cause_line(stderr: str) -> str:
    """The most telling line of ffmpeg's stderr: the first that is neither a generic closing remark
    nor an encoder library's own banner or note."""
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    if not lines:
        return "no output"
    for line in lines:
        low = line.lower()
        if not any(g in low for g in _GENERIC) and not low.startswith(_CHATTER):
            return _ADDRESS.sub("]", line)[:300]
    return _ADDRESS.sub("]", lines[-1])[:300]


# Causes whose fix the encoder's own words leave unsaid: (pattern, advice with the groups).
_ADVICE = (
    (
        re.compile(r"requested bitrate is too low\. estimated minimum is (\d+) kbps"),
        "x264 cannot encode this title at so low a bitrate: give the rung at least {0} kbit/s",
    ),
)


def advice_for(stderr: str) -> str | None:
    """What to do about a failure whose cause is known, or None."""
    for pattern, advice in _ADVICE:
        found = pattern.search(stderr)
        if found:
            return advice.format(*found.groups())
    return None


def _how_it_ended(returncode: int) -> str:
    """'exit N', or the signal that killed the process (subprocess reports it as -N; -1 is
    pertitle's own code for a process that never started)."""
    if returncode < -1:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit {returncode}"


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


class ExecutorLost(PertitleError):
    """Where the work runs is gone (the Dask scheduler lost): no title can go on, and none failed
    of its own. A batch stops at the first, as an interrupt stops it."""

    exit_code = 1


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
        advice = advice_for(stderr_tail)
        cause = cause_line(stderr_tail)
        if returncode < -1 and cause.lower().startswith(_CHATTER):
            # Killed with only the encoder's banner said (SVT-AV1 at preset 12 on a 160x90 picture):
            # quoting the banner told nothing.
            cause = "nothing said but the encoder's banner"
            if returncode == -signal.SIGSEGV and any("libsvtav1" in a for a in self.argv):
                advice = (
                    "SVT-AV1's fastest presets (9-13) crash now and then on small pictures: "
                    "use --preset 8 or slower"
                )
        said = f"{self.what} ({_how_it_ended(returncode)}): {cause}"
        super().__init__(f"{said}; {advice}" if advice else said)

    def details(self) -> str:
        return f"{self}\n---cmd---\n{shlex.join(self.argv)}\n---stderr---\n{self.stderr_tail}"


class FfmpegTimeout(FfmpegError):
    """An ffmpeg run outlived its timeout and was killed."""
