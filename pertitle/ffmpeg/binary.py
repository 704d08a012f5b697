"""Which ffmpeg to use and what it can do, detected once and passed around as a value."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pertitle.errors import ToolError


@dataclass(frozen=True)
class FfmpegInfo:
    """An ffmpeg binary and its capabilities. `version` enters every cache key."""

    path: str
    version: str
    encoders: frozenset[str]
    has_libvmaf: bool
    vmaf_models: tuple[str, ...]
    encoder_versions: tuple[tuple[str, str], ...] = ()

    def require_encoder(self, encoder: str) -> None:
        if encoder not in self.encoders:
            raise ToolError(
                f"the ffmpeg at {self.path} has no {encoder} encoder; install pertitle's default "
                "(pip install imageio-ffmpeg) or pass --ffmpeg PATH to one built with it"
            )

    def require_libvmaf(self) -> None:
        if not self.has_libvmaf:
            raise ToolError(
                f"the ffmpeg at {self.path} was built without libvmaf; unset PERTITLE_FFMPEG/--ffmpeg to use "
                "the bundled one (pip install imageio-ffmpeg), or use an ffmpeg built with --enable-libvmaf"
            )


def locate(explicit: str | None = None) -> str:
    """--ffmpeg PATH, else $PERTITLE_FFMPEG, else the imageio-ffmpeg binary.

    Raises:
        ToolError: the named binary does not exist or none can be found.
    """
    if explicit is not None and not explicit.strip():  # a script's unset variable: not "the default"
        raise ToolError("--ffmpeg is an empty path; name the ffmpeg program, or leave the option out")
    chosen = explicit or os.environ.get("PERTITLE_FFMPEG")
    if chosen:
        resolved = shutil.which(chosen) or (chosen if Path(chosen).is_file() else None)
        if not resolved:
            why = "is a directory, not the ffmpeg program" if Path(chosen).is_dir() else "does not exist"
            raise ToolError(f"ffmpeg {chosen!r} (from --ffmpeg or PERTITLE_FFMPEG) {why}")
        return resolved
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except Exception as exc:  # imageio_ffmpeg raises RuntimeError and others when it has no binary
        raise ToolError(
            f"no ffmpeg found ({exc}); pip install imageio-ffmpeg or pass --ffmpeg PATH"
        ) from None


def _run_text(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolError(f"cannot run {argv[0]}: {exc}") from None
    return out.stdout + out.stderr


_ENCODER_VERSION_PROBES = {
    # Encoders print their version while opening; one tiny encode tells it (cached for the process).
    "libx264": r"x264 - core (\d+\S*)",
    "libx265": r"HEVC encoder version (\S+)",
    "libsvtav1": r"SVT-AV1 Encoder Lib (\S+)",
    "libvpx-vp9": r"libvpx(?:-vp9)?.*?v(\d+\.\d+\.\d+)",
}


def parse_encoders(text: str) -> frozenset[str]:
    names = set()
    for line in text.splitlines():
        m = re.match(r"^\s*V[.A-Z]{5}\s+(\S+)", line)
        if m:
            names.add(m.group(1))
    return frozenset(names)


def parse_version(text: str) -> str:
    m = re.search(r"ffmpeg version (\S+)", text)
    return m.group(1) if m else "unknown"


@functools.lru_cache(maxsize=8)
def detect(path: str) -> FfmpegInfo:
    """Ask the binary for its version, encoders and filters.

    Raises:
        ToolError: the binary cannot be run or is not ffmpeg.
    """
    version_text = _run_text([path, "-hide_banner", "-version"])
    if "ffmpeg version" not in version_text:
        raise ToolError(f"{path} does not look like ffmpeg (no 'ffmpeg version' in its output)")
    encoders = parse_encoders(_run_text([path, "-hide_banner", "-encoders"]))
    filters = _run_text([path, "-hide_banner", "-filters"])
    has_vmaf = bool(re.search(r"^\s*\S*\s+libvmaf\s", filters, re.MULTILINE))
    models: tuple[str, ...] = ()
    if has_vmaf:
        # libvmaf >= 2 builds its models into the library; ffmpeg's wrapper accepts them by version name.
        models = ("vmaf_v0.6.1", "vmaf_v0.6.1neg", "vmaf_4k_v0.6.1")
    return FfmpegInfo(
        path=path,
        version=parse_version(version_text),
        encoders=encoders,
        has_libvmaf=has_vmaf,
        vmaf_models=models,
    )


@functools.lru_cache(maxsize=32)
def encoder_version(path: str, encoder: str) -> str:
    """The encoder library's own version (enters cache keys; a new x264 can change bits)."""
    pattern = _ENCODER_VERSION_PROBES.get(encoder)
    if pattern is None:
        return "unknown"
    argv = [
        path,
        "-hide_banner",
        "-loglevel",
        "info",
        "-f",
        "lavfi",
        "-i",
        "color=black:s=64x64:d=0.1",
        "-frames:v",
        "1",
        "-c:v",
        encoder,
        "-f",
        "matroska",
        "pipe:1",
    ]
    try:
        # x264 writes its version into the stream (an SEI), the others onto stderr: search both.
        out = subprocess.run(argv, capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (out.stdout + out.stderr).decode("latin-1")
    m = re.search(pattern, text)
    return m.group(1) if m else "unknown"


def check_vmaf_model(info: FfmpegInfo, model: str) -> None:
    if model not in info.vmaf_models:
        raise ToolError(
            f"VMAF model {model!r} is not available in {info.path}; known: {', '.join(info.vmaf_models)}"
        )
