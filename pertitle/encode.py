"""EncodeSpec -> encoded file, and the bitrate read from the encoded stream itself."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pertitle.errors import FfmpegError
from pertitle.ffmpeg import commands, runner
from pertitle.models import EncodeSpec


@dataclass(frozen=True)
class StreamStats:
    size_bytes: int
    duration_s: float
    frames: int

    @property
    def bitrate_kbps(self) -> float:
        return self.size_bytes * 8.0 / self.duration_s / 1000.0 if self.duration_s > 0 else 0.0


def encode(
    ffmpeg: str,
    input_path: str,
    spec: EncodeSpec,
    out_path: str,
    *,
    fps: float,
    threads: int,
    timeout_s: float | None = None,
) -> None:
    """Encode `input_path` per `spec` into `out_path` (two passes for abr2pass).

    Raises:
        FfmpegError: the encoder failed.
    """
    what = f"encode {spec.width}x{spec.height} {spec.codec}"
    if spec.rate_control == "crf":
        argv = commands.encode_argv(ffmpeg, input_path, spec, out_path, fps=fps, threads=threads)
        runner.run(argv, timeout_s=timeout_s, what=what + f" crf {spec.crf:g} failed")
        return
    passlog = out_path + ".pass"
    try:
        for n in (1, 2):
            argv = commands.encode_argv(
                ffmpeg, input_path, spec, out_path, fps=fps, threads=threads, pass_number=n, passlog=passlog
            )
            runner.run(
                argv, timeout_s=timeout_s, what=what + f" {spec.bitrate_kbps:.0f} kbps pass {n} failed"
            )
    finally:
        directory = os.path.dirname(passlog) or "."
        prefix = os.path.basename(passlog)
        for name in os.listdir(directory):
            if name.startswith(prefix):
                os.unlink(os.path.join(directory, name))


def stream_stats(path: str) -> StreamStats:
    """Sum the video packets (container overhead excluded) and span their timestamps.

    Raises:
        FfmpegError: the encoded file cannot be read back.
    """
    import av

    size = 0
    frames = 0
    first: float | None = None
    end = 0.0
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            tb = float(stream.time_base or 0)
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                size += packet.size
                frames += 1
                if packet.pts is not None:
                    start = packet.pts * tb
                    first = start if first is None else min(first, start)
                    end = max(end, start + (packet.duration or 0) * tb)
    except Exception as exc:
        raise FfmpegError(["av.open", path], 0, str(exc), "cannot read the encoded file") from None
    duration = max(0.0, end - (first or 0.0))  # 0 when the stream has no timestamps
    return StreamStats(size, duration, frames)
