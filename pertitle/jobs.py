"""The unit of work: encode one spec and score it. Plain top-level functions over frozen
dataclasses, so a thread pool, a process pool and a Dask cluster can all run them."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pertitle import encode as encode_mod
from pertitle import measure
from pertitle.config import CODECS
from pertitle.errors import FfmpegError, InputError
from pertitle.ffmpeg import commands, runner
from pertitle.models import SEGMENT_S, EncodeSpec, Measurement, SampleWindow, counted
from pertitle.workdir import make_workdir, remove_workdir


@dataclass(frozen=True)
class PrepareJob:
    ffmpeg: str
    source: str
    windows: tuple[SampleWindow, ...] | None
    width: int
    height: int
    out_path: str
    threads: int
    timeout_s: float
    start_offset_s: float = 0.0
    # Whether windows are cut by input seeking (`commands.prepare_argv`).
    seek: bool = True
    # The title's average frame rate, which says how many frames the windows hold; 0: unknown.
    fps: float = 0.0


def run_prepare(job: PrepareJob) -> str:
    """Write the lossless probe reference (atomically) and return its path.

    Raises:
        FfmpegError: the source cannot be decoded.
    """
    return prepare_reference(job).path


@dataclass(frozen=True)
class PreparedReference:
    """The lossless probe reference, and what writing it found out about the source."""

    path: str
    # What the decoder said was wrong with the source, when it decoded the whole title: ffmpeg
    # conceals damaged data (a stretch of zeroed bytes decodes as smeared or grey frames) and goes
    # on, so a damaged title would be probed without a word. None when the decoder said nothing,
    # or when only windows were decoded (seeking into an open GOP makes harmless complaints about
    # the frames before the first keyframe).
    damage: str | None = None
    # The windows were read again from the title's start because seeking to them came back short:
    # the container's index does not match its frames. Correct, but slower.
    reread_from_start: bool = False
    # Read from the start too, the windows hold less than their time: the title has gaps, or is
    # shorter than it says. The probes cover what is there.
    still_short: bool = False


def prepare_reference(job: PrepareJob) -> PreparedReference:
    """`run_prepare`, with what it found out (`PreparedReference`).

    Raises:
        FfmpegError: the source cannot be decoded.
        InputError: the sampled windows decode to no frame.
    """
    if os.path.exists(job.out_path):
        return PreparedReference(job.out_path)
    tmp = job.out_path + f".{os.getpid()}.tmp.mkv"
    reread = False
    try:
        said = _write_reference(job, tmp, seek=job.seek)
        packets = _packets(tmp) if job.windows else []
        windows_s = window_s(job)
        short = bool(job.windows) and cut_short(packets, job.fps, windows_s)
        if short and job.seek:
            # The container did not seek to the windows (its index lies, or it has none): read
            # them from the title's start instead, which cannot miss.
            said = _write_reference(job, tmp, seek=False)
            reread = True
            packets = _packets(tmp)
            short = cut_short(packets, job.fps, windows_s)
        if job.windows and not packets:
            spans = ", ".join(f"{w.start_s:g}-{w.start_s + w.duration_s:g} s" for w in job.windows)
            raise InputError(
                f"{job.source}: no frame could be decoded in the sampled windows ({spans}); the file "
                "is damaged or shorter than it says: re-export it, or probe it whole (--full-pass-below)"
            )
        os.replace(tmp, job.out_path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return PreparedReference(job.out_path, None if job.windows else decode_errors(said), reread, short)


# A window reference holding under this share of both the windows' time and the frames they span
# at the title's average rate was cut wrong (a seek that missed reads a window short or empty).
# Either alone misfires: a variable-rate title's slow stretch holds fewer frames, and a frame held
# across a window's edge (a screen capture) loses its time before the window's first frame.
_WINDOW_SHARE_HELD = 0.9


def cut_short(packets: Sequence[tuple[float, float, int]], fps: float, windows_s: float) -> bool:
    """Whether a window reference's frames ((pts, duration, bytes)) fall short of the windows'
    `windows_s` in both time and count (`_WINDOW_SHARE_HELD`); never where the rate is unknown.
    Pure."""
    held = _WINDOW_SHARE_HELD * windows_s
    return len(packets) < held * fps and frames_span_s(packets, fps) < held


def window_s(job: PrepareJob) -> float:
    """How long `job`'s windows are, together. Pure."""
    return sum(w.duration_s for w in job.windows or ())


def frames_span_s(packets: Sequence[tuple[float, float, int]], fps: float) -> float:
    """How long the frames of `packets` ((pts, duration, bytes)) are shown, first to last; a frame
    of unknown duration lasts 1/`fps` (nothing where that is unknown too). Pure."""
    if not packets:
        return 0.0
    fallback = 1.0 / fps if fps > 0 else 0.0
    end = max(t + (d if d > 0 else fallback) for t, d, _ in packets)
    return max(0.0, end - min(t for t, _, _ in packets))


def _write_reference(job: PrepareJob, out: str, *, seek: bool) -> str:
    size = (job.width, job.height)
    argv = commands.prepare_argv(
        job.ffmpeg, job.source, job.windows, *size, out, job.threads, job.start_offset_s, seek=seek
    )
    return runner.run(argv, timeout_s=job.timeout_s, what=f"decoding {os.path.basename(job.source)} failed")


def _packets(path: str) -> list[tuple[float, float, int]]:
    try:
        return encode_mod.timed_packets(path)
    except FfmpegError:  # a Matroska file with no frame cannot be opened
        return []


def decode_errors(stderr: str) -> str | None:
    """A line for the decoder's complaints in a pass run at -loglevel error, or None. Pure."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return None
    first = lines[0].split("] ", 1)[-1] if lines[0].startswith("[") else lines[0]
    return f"{len(lines)} decoder error(s), the first: {first[:120]}"


@dataclass(frozen=True)
class ComplexityJob:
    """One cheap fixed-quality pass over the whole title (see commands.complexity_argv)."""

    ffmpeg: str
    source: str
    bin_s: float
    workdir: str | None
    threads: int
    timeout_s: float


def run_complexity(job: ComplexityJob) -> tuple[float, ...]:
    """Bytes the cheap pass spent on each `bin_s`-long stretch of the title, in order.

    Raises:
        FfmpegError: the title cannot be decoded.
    """
    tmp = make_workdir(job.workdir, prefix="pertitle-complexity-")
    try:
        out = os.path.join(tmp, "complexity.mkv")
        argv = commands.complexity_argv(job.ffmpeg, job.source, out, job.threads)
        runner.run(argv, timeout_s=job.timeout_s, what=f"decoding {os.path.basename(job.source)} failed")
        return encode_mod.bytes_per_bin(encode_mod.packet_times(out), job.bin_s)
    finally:
        remove_workdir(tmp)


@dataclass(frozen=True)
class InContextJob:
    """The encodes of `specs` over the whole title, two-pass or capped CRF, all of one kind (see
    commands.in_context_argv)."""

    ffmpeg: str
    source: str
    specs: tuple[EncodeSpec, ...]
    windows: tuple[SampleWindow, ...]
    duration_s: float
    fps: float
    workdir: str | None
    timeout_s: float
    keyframes_timed: bool = False  # the title's frame rate varies (`MediaInfo.frame_rate_varies`)


@dataclass(frozen=True)
class InContextRates:
    """What one encode of the whole title spent: its average, its sampled windows' average, and
    its busiest `SEGMENT_S` segment (what HLS declares as BANDWIDTH), kbit/s."""

    title_kbps: float
    windows_kbps: float
    peak_kbps: float


def run_in_context(job: InContextJob) -> tuple[InContextRates, ...]:
    """What each spec's encode of the whole title spent (`InContextRates`): two passes for
    two-pass specs, one for capped CRF.

    Raises:
        FfmpegError: the title cannot be decoded or encoded.
    """
    tmp = make_workdir(job.workdir, prefix="pertitle-in-context-")
    try:
        n = len(job.specs)
        outs = [os.path.join(tmp, f"e{i}.mkv") for i in range(n)]
        logs = [os.path.join(tmp, f"pass{i}") for i in range(n)]
        two_pass = all(spec.rate_control == "abr2pass" for spec in job.specs)
        how = "two-pass" if two_pass else "capped-CRF encode"
        what = f"the whole-title {how} of {os.path.basename(job.source)} failed"
        for pass_number in (1, 2) if two_pass else (None,):
            argv = commands.in_context_argv(
                job.ffmpeg,
                job.source,
                job.specs,
                outs,
                logs,
                fps=job.fps,
                pass_number=pass_number,
                keyframes_timed=job.keyframes_timed,
            )
            runner.run(argv, timeout_s=job.timeout_s, what=what)
        rates = []
        for out in outs:
            packets = encode_mod.timed_packets(out)
            title_kbps, windows_kbps = encode_mod.title_and_window_kbps(
                [(t, size) for t, _, size in packets], job.windows, job.duration_s
            )
            rates.append(
                InContextRates(title_kbps, windows_kbps, encode_mod.peak_bitrate_kbps(packets, SEGMENT_S))
            )
        return tuple(rates)
    finally:
        remove_workdir(tmp)


@dataclass(frozen=True)
class PointJob:
    """Encode `spec` from the prepared reference and score it against that reference."""

    ffmpeg: str
    reference: str
    ref_width: int
    ref_height: int
    fps: float
    spec: EncodeSpec
    vmaf_model: str
    workdir: str
    threads: int
    timeout_s: float
    n_subsample: int = 1
    keyframes_timed: bool = False


def run_point(job: PointJob) -> Measurement:
    """Encode, read the bitrate from the stream, score; the encoded file is deleted after.

    Raises:
        FfmpegError: the encode or the metric pass failed.
    """
    spec = job.spec
    ext = CODECS[spec.codec].container
    os.makedirs(job.workdir, exist_ok=True)
    fd, out_path = tempfile.mkstemp(prefix=f"enc-{spec.height}p-", suffix=f".{ext}", dir=job.workdir)
    os.close(fd)
    try:
        t0 = time.perf_counter()
        encode_mod.encode(
            job.ffmpeg,
            job.reference,
            spec,
            out_path,
            fps=job.fps,
            threads=commands.MEASURED_ENCODER_THREADS,
            timeout_s=job.timeout_s,
            keyframes_timed=job.keyframes_timed,
        )
        t1 = time.perf_counter()
        stats = encode_mod.stream_stats(out_path, segment_s=SEGMENT_S)
        scores = measure.score(
            job.ffmpeg,
            out_path,
            job.reference,
            job.ref_width,
            job.ref_height,
            scaler=spec.scaler,
            model=job.vmaf_model,
            workdir=job.workdir,
            threads=job.threads,
            n_subsample=job.n_subsample,
            timeout_s=job.timeout_s,
        )
        t2 = time.perf_counter()
    finally:
        Path(out_path).unlink(missing_ok=True)
    return to_measurement(stats, scores, job.fps, encode_s=t1 - t0, measure_s=t2 - t1)


def to_measurement(
    stats: encode_mod.StreamStats,
    scores: measure.FrameScores,
    fps: float,
    *,
    encode_s: float,
    measure_s: float,
) -> Measurement:
    summary = measure.summarize(scores)
    duration = stats.duration_s if stats.duration_s > 0 else stats.frames / fps
    bitrate = stats.size_bytes * 8.0 / duration / 1000.0 if duration > 0 else 0.0
    return Measurement(
        bitrate_kbps=round(bitrate, 3),
        size_bytes=stats.size_bytes,
        duration_s=round(duration, 6),
        frames=len(scores.vmaf),
        vmaf=summary["vmaf"],
        vmaf_hmean=summary["vmaf_hmean"],
        vmaf_p1=summary["vmaf_p1"],
        vmaf_p5=summary["vmaf_p5"],
        psnr=summary["psnr"],
        ssim=summary["ssim"],
        vmaf_per_frame=tuple(round(v, 3) for v in scores.vmaf),
        encode_s=round(encode_s, 3),
        measure_s=round(measure_s, 3),
        peak_bitrate_kbps=round(stats.peak_bitrate_kbps, 3),
    )


@dataclass(frozen=True)
class GroupJob:
    """Several specs of one resolution, encoded and scored in one ffmpeg process from a single
    decode of the reference (see commands.group_argv)."""

    ffmpeg: str
    reference: str
    ref_width: int
    ref_height: int
    fps: float
    specs: tuple[EncodeSpec, ...]
    vmaf_model: str
    workdir: str
    threads: int
    timeout_s: float
    n_subsample: int = 1
    # Keyframes by time, not by count: a whole title whose frame rate varies (`Runner`).
    keyframes_timed: bool = False


def run_group(job: GroupJob) -> tuple[Measurement, ...]:
    """Measure every spec of the group, in the group's order; files are deleted after.

    Raises:
        FfmpegError: an encoder or a metric pass failed (the whole group fails together).
    """
    os.makedirs(job.workdir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="group-", dir=job.workdir)
    n = len(job.specs)
    outs = [os.path.join(tmp, f"enc{i}.{CODECS[s.codec].container}") for i, s in enumerate(job.specs)]
    logs = [os.path.join(tmp, f"vmaf{i}.json") for i in range(n)]
    passlogs = [os.path.join(tmp, f"pass{i}") for i in range(n)]
    two_pass = any(s.rate_control == "abr2pass" for s in job.specs)

    def argv_for(pass_number: int | None) -> list[str]:
        return commands.group_argv(
            job.ffmpeg,
            job.reference,
            job.specs,
            outs,
            logs,
            ref_width=job.ref_width,
            ref_height=job.ref_height,
            fps=job.fps,
            threads=job.threads,
            model=job.vmaf_model,
            n_subsample=job.n_subsample,
            pass_number=pass_number,
            passlogs=passlogs if pass_number else (),
            keyframes_timed=job.keyframes_timed,
        )

    label = f"{job.specs[0].width}x{job.specs[0].height}"
    try:
        t0 = time.perf_counter()
        if two_pass:
            if not all(s.rate_control == "abr2pass" for s in job.specs):
                raise ValueError("a group mixes two-pass and one-pass specs")
            argv = argv_for(1)
            runner.run(
                argv, timeout_s=job.timeout_s, what=f"first pass of {counted(n, 'encode')} at {label} failed"
            )
        argv = argv_for(2 if two_pass else None)
        runner.run(argv, timeout_s=job.timeout_s, what=f"{counted(n, 'encode')} at {label} failed")
        elapsed = time.perf_counter() - t0
        results = []
        for out, log in zip(outs, logs, strict=True):
            stats = encode_mod.stream_stats(out, segment_s=SEGMENT_S)
            scores = measure.read_log(log, argv)
            results.append(to_measurement(stats, scores, job.fps, encode_s=elapsed / n, measure_s=0.0))
        return tuple(results)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
