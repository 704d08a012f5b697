"""The unit of work: encode one spec and score it. Plain top-level functions over frozen
dataclasses, so a thread pool, a process pool and a Dask cluster can all run them."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pertitle import encode as encode_mod
from pertitle import measure
from pertitle.config import CODECS
from pertitle.ffmpeg import commands, runner
from pertitle.models import EncodeSpec, Measurement, SampleWindow


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


def run_prepare(job: PrepareJob) -> str:
    """Write the lossless probe reference (atomically) and return its path.

    Raises:
        FfmpegError: the source cannot be decoded.
    """
    if os.path.exists(job.out_path):
        return job.out_path
    tmp = job.out_path + f".{os.getpid()}.tmp.mkv"
    argv = commands.prepare_argv(job.ffmpeg, job.source, job.windows, job.width, job.height, tmp, job.threads)
    try:
        runner.run(argv, timeout_s=job.timeout_s, what=f"decoding {os.path.basename(job.source)} failed")
        os.replace(tmp, job.out_path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return job.out_path


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
            threads=job.threads,
            timeout_s=job.timeout_s,
        )
        t1 = time.perf_counter()
        stats = encode_mod.stream_stats(out_path, segment_s=spec.gop_s)
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
    summary = measure.summarize(scores)
    duration = stats.duration_s if stats.duration_s > 0 else stats.frames / job.fps
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
        encode_s=round(t1 - t0, 3),
        measure_s=round(t2 - t1, 3),
        peak_bitrate_kbps=round(stats.peak_bitrate_kbps, 3),
    )
