"""(reference, encode) -> Measurement: one pass for VMAF and PSNR-Y (libvmaf) and SSIM-Y (ssim filter)."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pertitle.errors import FfmpegError
from pertitle.ffmpeg import commands, runner


@dataclass(frozen=True)
class FrameScores:
    vmaf: tuple[float, ...]
    psnr_y: tuple[float, ...]
    ssim: tuple[float, ...]


def parse_vmaf_log(data: dict[str, Any]) -> FrameScores:
    """libvmaf's JSON log -> per-frame scores (SSIM only where the log has float_ssim; pertitle's
    own passes write SSIM to a separate file, see `parse_ssim_stats`).

    Raises:
        ValueError: the log holds no frames or lacks a metric.
    """
    frames = data.get("frames") or []
    if not frames:
        raise ValueError("the libvmaf log holds no frames")
    vmaf, psnr, ssim = [], [], []
    for f in frames:
        m = f.get("metrics", {})
        try:
            vmaf.append(float(m["vmaf"]))
            psnr.append(float(m["psnr_y"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"the libvmaf log lacks {exc} in frame {f.get('frameNum')}") from None
        if "float_ssim" in m:
            ssim.append(float(m["float_ssim"]))
    return FrameScores(tuple(vmaf), tuple(psnr), tuple(ssim))


_SSIM_Y = re.compile(r"\bY:([0-9.]+)")


def parse_ssim_stats(text: str) -> tuple[float, ...]:
    """The ssim filter's stats file (`n:1 Y:0.98 U:.. V:.. All:.. (dB)` per frame) -> SSIM-Y per frame.

    Raises:
        ValueError: no frame line in it.
    """
    values = tuple(float(m.group(1)) for m in map(_SSIM_Y.search, text.splitlines()) if m)
    if not values:
        raise ValueError("the SSIM stats file holds no frames")
    return values


def harmonic_mean_vmaf(values: Sequence[float] | np.ndarray) -> float:
    """Netflix's harmonic mean for VMAF: shifted by one so a zero-score frame stays finite."""
    arr = np.asarray(values, dtype=float)
    return float(len(arr) / np.sum(1.0 / (arr + 1.0)) - 1.0)


def summarize(scores: FrameScores) -> dict[str, float]:
    vmaf = np.asarray(scores.vmaf, dtype=float)
    # PSNR is capped for identical frames (libvmaf reports up to ~60 dB for 8-bit); mean in dB.
    psnr = np.asarray(scores.psnr_y, dtype=float)
    psnr = psnr[np.isfinite(psnr)]
    return {
        "vmaf": float(vmaf.mean()),
        "vmaf_hmean": harmonic_mean_vmaf(vmaf),
        "vmaf_p1": float(np.percentile(vmaf, 1)),
        "vmaf_p5": float(np.percentile(vmaf, 5)),
        "psnr": float(psnr.mean()) if psnr.size else math.inf,
        "ssim": float(np.mean(scores.ssim)) if scores.ssim else math.nan,
    }


def score(
    ffmpeg: str,
    distorted: str,
    reference: str,
    ref_width: int,
    ref_height: int,
    *,
    scaler: str,
    model: str,
    workdir: str,
    threads: int,
    n_subsample: int = 1,
    timeout_s: float | None = None,
) -> FrameScores:
    """Run libvmaf on one encode against the reference.

    Raises:
        FfmpegError: the metric pass failed or wrote no usable log.
    """
    log_path = os.path.join(workdir, f"vmaf-{os.getpid()}-{id(distorted)}.json")
    argv = commands.measure_argv(
        ffmpeg,
        distorted,
        reference,
        ref_width,
        ref_height,
        scaler=scaler,
        model=model,
        log_path=log_path,
        threads=threads,
        n_subsample=n_subsample,
    )
    runner.run(argv, timeout_s=timeout_s, what="VMAF measurement failed")
    try:
        return read_log(log_path, argv)
    finally:
        Path(log_path).unlink(missing_ok=True)
        Path(commands.ssim_log_path(log_path)).unlink(missing_ok=True)


def read_log(log_path: str, argv: Sequence[str]) -> FrameScores:
    """Parse the JSON log libvmaf wrote and the SSIM stats written beside it.

    Raises:
        FfmpegError: a log is missing or unusable (named with the command that wrote it).
    """
    try:
        data = json.loads(Path(log_path).read_text(encoding="utf-8"))
        scores = parse_vmaf_log(data)
        ssim = parse_ssim_stats(Path(commands.ssim_log_path(log_path)).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FfmpegError(argv, 0, str(exc), "VMAF measurement wrote no usable log") from None
    return FrameScores(scores.vmaf, scores.psnr_y, ssim)
