"""Points at the CRFs --fast skips, read off each resolution's curve through the CRFs it measured.

Bitrate falls geometrically and quality smoothly as the CRF rises, so a monotone cubic (pchip) in
CRF through four measured CRFs puts the three skipped ones within a fraction of a VMAF point. With
them the hull keeps the vertices a coarse grid would cut off: on the ten clips of the README table
the fast hull's BD-rate against the full grid's fell from up to +2.0% (skipped CRFs left out) to
within +/-0.9%. Pure: no ffmpeg, no I/O.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from scipy.interpolate import PchipInterpolator

from pertitle.models import RdPoint

# Interpolated in these units: bitrate in log (it halves every few CRF steps), the rest as is.
_LINEAR_FIELDS = ("vmaf", "psnr", "ssim", "vmaf_hmean", "vmaf_p1", "vmaf_p5")


def fill_skipped_crfs(points: Sequence[RdPoint], crfs: Iterable[float]) -> tuple[RdPoint, ...]:
    """`points` plus an estimated point at every CRF of `crfs` that a resolution did not measure
    and that lies between two it did (never extrapolated). A resolution with fewer than two
    measured CRFs gets none. Estimated points are flagged `estimated`."""
    wanted = sorted({float(c) for c in crfs})
    by_size: dict[tuple[int, int], list[RdPoint]] = {}
    for p in points:
        by_size.setdefault((p.width, p.height), []).append(p)
    out = list(points)
    for measured in by_size.values():
        measured = sorted((p for p in measured if not p.estimated), key=lambda p: p.crf)
        have = [p.crf for p in measured]
        if len(have) < 2 or len(set(have)) != len(have) or min(p.bitrate_kbps for p in measured) <= 0:
            continue
        missing = [c for c in wanted if have[0] < c < have[-1] and c not in have]
        if not missing:
            continue
        x = np.asarray(have, dtype=float)
        log_rate = _curve(x, [math.log(p.bitrate_kbps) for p in measured], missing)
        values = {"bitrate_kbps": [math.exp(v) for v in log_rate]}
        for name in _LINEAR_FIELDS:
            values[name] = _curve(x, [float(getattr(p, name)) for p in measured], missing)
        for i, crf in enumerate(missing):
            fields: dict[str, Any] = {name: values[name][i] for name in values}
            out.append(dataclasses.replace(measured[0], crf=crf, estimated=True, **fields))
    return tuple(out)


def _curve(x: np.ndarray, y: Sequence[float], at: Sequence[float]) -> list[float]:
    ys = np.asarray(y, dtype=float)
    if not np.all(np.isfinite(ys)):
        # PSNR of identical frames is infinite; a curve through it means nothing.
        return [math.nan] * len(at)
    return [float(v) for v in PchipInterpolator(x, ys)(np.asarray(at, dtype=float))]
