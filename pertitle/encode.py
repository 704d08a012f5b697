"""EncodeSpec -> encoded file, and the bitrate read from the encoded stream itself."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

from pertitle.errors import FfmpegError
from pertitle.ffmpeg import commands, runner
from pertitle.models import EncodeSpec, SampleWindow


@dataclass(frozen=True)
class StreamStats:
    size_bytes: int
    duration_s: float
    frames: int
    peak_bitrate_kbps: float = 0.0

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
    keyframes_timed: bool = False,
) -> None:
    """Encode `input_path` per `spec` into `out_path` (two passes for abr2pass, one otherwise).

    Raises:
        FfmpegError: the encoder failed.
    """
    what = f"encode {spec.width}x{spec.height} {spec.codec}"
    argvs = commands.rendition_commands(
        ffmpeg, input_path, spec, fps=fps, out_path=out_path, threads=threads, keyframes_timed=keyframes_timed
    )
    if len(argvs) == 1:  # CRF or capped CRF: one pass
        runner.run(argvs[0], timeout_s=timeout_s, what=what + f" crf {spec.crf:g} failed")
        return
    passlog = out_path + ".pass"  # as rendition_commands names it
    try:
        for n, argv in enumerate(argvs, start=1):
            runner.run(
                argv, timeout_s=timeout_s, what=what + f" {spec.bitrate_kbps:.0f} kbps pass {n} failed"
            )
    finally:
        directory = os.path.dirname(passlog) or "."
        prefix = os.path.basename(passlog)
        for name in os.listdir(directory):
            if name.startswith(prefix):
                os.unlink(os.path.join(directory, name))


def peak_bitrate_kbps(packets: Sequence[tuple[float, float, int]], segment_s: float) -> float:
    """Highest bitrate over consecutive segments of `segment_s` seconds, as HLS measures a
    variant's BANDWIDTH from its segments. Pure.

    `packets` are (pts_s, duration_s, size_bytes) in any order. Segments start at the earliest
    timestamp; a packet belongs to the segment its presentation time falls in. Each segment's
    bitrate is its bytes over its length; the last segment's length is where the stream ends, and a
    last segment shorter than half a segment joins the one before it (a one-frame tail would
    otherwise read as a spike that no player sees). 0.0 for an empty stream or no time span.

    Raises:
        ValueError: `segment_s` is not positive.
    """
    if segment_s <= 0:
        raise ValueError(f"segment_s must be positive, got {segment_s!r}")
    if not packets:
        return 0.0
    start = min(p[0] for p in packets)
    end = max(p[0] + max(0.0, p[1]) for p in packets)
    span = end - start
    if span <= 0:
        return 0.0
    count = max(1, math.ceil(span / segment_s - 1e-9))
    tail = span - (count - 1) * segment_s
    if count > 1 and tail < segment_s / 2:
        count -= 1
    sizes = _bin_sizes([(pts, size) for pts, _dur, size in packets], start, count, segment_s)
    lengths = [segment_s] * (count - 1) + [span - (count - 1) * segment_s]
    return max(size * 8.0 / length / 1000.0 for size, length in zip(sizes, lengths, strict=True))


def stream_stats(path: str, segment_s: float = 2.0) -> StreamStats:
    """Sum the video packets (container overhead excluded), span their timestamps, and find the
    peak bitrate over `segment_s`-long segments (see `peak_bitrate_kbps`).

    Raises:
        FfmpegError: the encoded file cannot be read back.
    """
    size, frames, timed = _demux(path)
    first = min((t for t, _, _ in timed), default=0.0)
    end = max((t + d for t, d, _ in timed), default=0.0)
    duration = max(0.0, end - first)  # 0 when the stream has no timestamps
    return StreamStats(size, duration, frames, peak_bitrate_kbps(timed, segment_s))


def packet_times(path: str) -> list[tuple[float, int]]:
    """(presentation time in seconds, bytes) of every video packet with a timestamp.

    Raises:
        FfmpegError: the file cannot be read back.
    """
    return [(t, size) for t, _, size in timed_packets(path)]


def timed_packets(path: str) -> list[tuple[float, float, int]]:
    """(presentation time, duration in seconds, bytes) of every video packet with a timestamp.

    Raises:
        FfmpegError: the file cannot be read back.
    """
    return _demux(path)[2]


def _demux(path: str) -> tuple[int, int, list[tuple[float, float, int]]]:
    """(bytes, packets, [(pts_s, duration_s, bytes) of those with a timestamp]) of the first video
    stream, empty packets skipped.

    Raises:
        FfmpegError: the file cannot be read back.
    """
    import av

    size = 0
    frames = 0
    timed: list[tuple[float, float, int]] = []
    try:
        with av.open(commands.file_arg(path)) as container:
            stream = container.streams.video[0]
            tb = float(stream.time_base or 0)
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                size += packet.size
                frames += 1
                if packet.pts is not None:
                    timed.append((packet.pts * tb, (packet.duration or 0) * tb, packet.size))
    except Exception as exc:
        raise FfmpegError(["av.open", path], 0, str(exc), "cannot read the encoded file") from None
    return size, frames, timed


def title_and_window_kbps(
    packets: Sequence[tuple[float, int]], windows: Sequence[SampleWindow], duration_s: float
) -> tuple[float, float]:
    """(average kbps over the whole title, average kbps over the `windows`) of one encode of the
    whole title; packet times count from the first packet, as the windows count from the title's
    start. Pure.

    Raises:
        ValueError: no packets, no window time or no duration.
    """
    window_s = sum(w.duration_s for w in windows)
    if not packets or window_s <= 0 or duration_s <= 0:
        raise ValueError("title_and_window_kbps needs packets, windows and a duration")
    start = min(t for t, _ in packets)
    total = sum(size for _, size in packets)
    eps = 1e-6  # a frame at exactly a window's end belongs to the next stretch, as the cut does
    inside = sum(
        size
        for t, size in packets
        if any(w.start_s - eps <= t - start < w.start_s + w.duration_s - eps for w in windows)
    )
    return total * 8 / duration_s / 1000, inside * 8 / window_s / 1000


def bytes_per_bin(packets: Sequence[tuple[float, int]], bin_s: float) -> tuple[float, ...]:
    """Bytes of the packets whose presentation time falls in each `bin_s`-long bin, from the
    first packet on. Pure.

    Raises:
        ValueError: `bin_s` is not positive.
    """
    if bin_s <= 0:
        raise ValueError(f"bin_s must be positive, got {bin_s!r}")
    if not packets:
        return ()
    start = min(t for t, _ in packets)
    count = int((max(t for t, _ in packets) - start) / bin_s + 1e-9) + 1
    return tuple(float(b) for b in _bin_sizes(packets, start, count, bin_s))


def _bin_sizes(packets: Sequence[tuple[float, int]], start: float, count: int, bin_s: float) -> list[int]:
    """Bytes per bin of `bin_s` seconds from `start`; packets past the last bin count in it."""
    sizes = [0] * count
    for t, size in packets:
        sizes[min(count - 1, int((t - start) / bin_s + 1e-9))] += size
    return sizes
