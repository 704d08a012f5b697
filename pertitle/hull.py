"""Pure rate-quality geometry: Pareto filtering, the upper convex hull, interpolation, crossovers.

Everything here works on plain `RdPoint`s and returns plain values; nothing runs ffmpeg or prints.

Interpolation along one resolution's curve is done in log(bitrate), with scipy's monotone cubic
(PCHIP) for three or more points, a straight line for two, and the point itself for one. It never
extrapolates: outside a curve's measured bitrate range the answer is `None`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.optimize import brentq

from pertitle.errors import HullError
from pertitle.models import METRICS, Crossover, Hull, RdPoint

# Relative slack (in log-bitrate) when deciding whether a bitrate lies on a curve's measured range;
# it only absorbs float noise such as exp(log(b)) != b, never a real extrapolation.
_LOG_TOL = 1e-9
# Steps of the log-spaced scan that brackets a crossover before brentq refines it.
_SCAN_STEPS = 400


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")


def _usable(bitrate_kbps: float, value: float) -> bool:
    return math.isfinite(bitrate_kbps) and bitrate_kbps > 0 and math.isfinite(value)


def pareto_filter(points: Iterable[RdPoint], metric: str) -> list[RdPoint]:
    """The points no cheaper point matches or beats on `metric`, ordered by rising bitrate.

    Points with a non-finite or non-positive bitrate, or a non-finite metric, are dropped. A point
    survives only when its metric is strictly greater than that of every cheaper survivor, so more
    rate for less or equal quality is dominated (at equal bitrates the best point wins).

    Raises:
        ValueError: `metric` is not one of `models.METRICS`.
    """
    _check_metric(metric)
    usable = [p for p in points if _usable(p.bitrate_kbps, p.metric(metric))]
    usable.sort(key=lambda p: (p.bitrate_kbps, -p.metric(metric)))
    kept: list[RdPoint] = []
    for p in usable:
        if not kept or p.metric(metric) > kept[-1].metric(metric):
            kept.append(p)
    return kept


def _turn(o: RdPoint, a: RdPoint, b: RdPoint, metric: str) -> float:
    """Cross product of o->a and o->b in (bitrate, metric); >= 0 means `a` is not above o->b."""
    ax, ay = a.bitrate_kbps - o.bitrate_kbps, a.metric(metric) - o.metric(metric)
    bx, by = b.bitrate_kbps - o.bitrate_kbps, b.metric(metric) - o.metric(metric)
    return ax * by - ay * bx


def upper_hull(points: Sequence[RdPoint], metric: str = "vmaf") -> Hull:
    """The upper convex hull of all points, across resolutions, in linear (bitrate_kbps, metric).

    Algorithm: Pareto-filter the points (`pareto_filter`), then run the upper half of Andrew's
    monotone chain over them in order of rising bitrate, popping the last vertex while it lies
    below or on the segment from the one before it to the new point. Collinear middle points are
    therefore not vertices. The result is concave: the slope falls from vertex to vertex.

    Output order: `vertices` by rising bitrate (and so rising metric); `dominated` is every input
    point that is not a vertex, unusable ones (NaN, zero bitrate) included, in input order;
    `crossovers` as from `crossovers()`, by rising height.

    Raises:
        HullError: no point has a finite positive bitrate and a finite metric.
        ValueError: `metric` is not one of `models.METRICS`.
    """
    front = pareto_filter(points, metric)
    if not front:
        raise HullError(
            f"no usable rate-quality point: {len(points)} given, none with a finite positive "
            f"bitrate and a finite {metric}"
        )
    chain: list[RdPoint] = []
    for p in front:
        while len(chain) >= 2 and _turn(chain[-2], chain[-1], p, metric) >= 0:
            chain.pop()
        chain.append(p)
    on_hull = {id(p) for p in chain}
    dominated = tuple(p for p in points if id(p) not in on_hull)
    return Hull(
        metric=metric,
        vertices=tuple(chain),
        dominated=dominated,
        crossovers=crossovers(points, metric),
    )


class HullSpan(NamedTuple):
    """A run of consecutive hull vertices at one resolution: where that size is the one to use."""

    width: int
    height: int
    from_kbps: float
    to_kbps: float
    vertices: int


def hull_spans(hull: Hull) -> tuple[HullSpan, ...]:
    """The hull as the resolutions it runs through, by rising bitrate.

    Pairwise crossovers say where one size's curve overtakes the next size's, which can lie far off
    the hull (a size may beat its neighbour only where a third size beats both); these spans say
    which size the hull itself takes, from its first vertex to its last in each run. A size the
    hull leaves and comes back to gets two spans.
    """
    spans: list[HullSpan] = []
    for v in hull.vertices:
        last = spans[-1] if spans else None
        if last is not None and (last.width, last.height) == (v.width, v.height):
            spans[-1] = last._replace(to_kbps=v.bitrate_kbps, vertices=last.vertices + 1)
        else:
            spans.append(HullSpan(v.width, v.height, v.bitrate_kbps, v.bitrate_kbps, 1))
    return tuple(spans)


def curves_by_height(points: Iterable[RdPoint], metric: str) -> dict[int, list[RdPoint]]:
    """Each resolution's Pareto-filtered curve, keyed by height in rising order.

    Heights whose points are all unusable are left out.

    Raises:
        ValueError: `metric` is not one of `models.METRICS`.
    """
    _check_metric(metric)
    groups: dict[int, list[RdPoint]] = {}
    for p in points:
        groups.setdefault(p.height, []).append(p)
    curves = {h: pareto_filter(groups[h], metric) for h in sorted(groups)}
    return {h: c for h, c in curves.items() if c}


class _Curve:
    """One curve's knots in (log bitrate, metric) and its interpolant over that range."""

    def __init__(self, curve: Iterable[RdPoint], metric: str) -> None:
        _check_metric(metric)
        best: dict[float, float] = {}
        for p in curve:
            value = p.metric(metric)
            if _usable(p.bitrate_kbps, value):
                best[p.bitrate_kbps] = max(value, best.get(p.bitrate_kbps, -math.inf))
        self.bitrates = sorted(best)
        self.values = [best[b] for b in self.bitrates]
        self.logs = [math.log(b) for b in self.bitrates]
        self._pchip: PchipInterpolator | None = None
        if len(self.logs) >= 3:
            self._pchip = PchipInterpolator(np.array(self.logs), np.array(self.values), extrapolate=False)

    def __bool__(self) -> bool:
        return bool(self.logs)

    def clamp(self, log_b: float) -> float | None:
        """`log_b` pulled onto the measured range when it is within float noise of it, else None."""
        lo, hi = self.logs[0], self.logs[-1]
        if log_b < lo - _LOG_TOL or log_b > hi + _LOG_TOL:
            return None
        return min(max(log_b, lo), hi)

    def at(self, log_b: float) -> float:
        """The interpolated metric at a log-bitrate already inside the range (see `clamp`)."""
        if len(self.logs) == 1:
            return self.values[0]
        if self._pchip is None:
            (x0, x1), (y0, y1) = self.logs, self.values
            return y0 + (log_b - x0) * (y1 - y0) / (x1 - x0)
        return float(self._pchip(log_b))

    def value(self, log_b: float) -> float | None:
        inside = self.clamp(log_b)
        return None if inside is None else self.at(inside)


def interpolate(curve: Sequence[RdPoint], bitrate_kbps: float, metric: str) -> float | None:
    """`metric` at `bitrate_kbps` on one resolution's curve, or None outside its measured range.

    Monotone cubic (PCHIP) in log(bitrate) for 3+ points, linear in log(bitrate) for 2, and for a
    single point its own value at its own bitrate only. Never extrapolates. Unusable points are
    ignored; at equal bitrates the higher metric is used.

    Raises:
        ValueError: `metric` is not one of `models.METRICS`.
    """
    c = _Curve(curve, metric)
    if not c or not (math.isfinite(bitrate_kbps) and bitrate_kbps > 0):
        return None
    return c.value(math.log(bitrate_kbps))


def bitrate_for(curve: Sequence[RdPoint], target: float, metric: str) -> float | None:
    """The lowest bitrate at which the interpolated curve reaches `target`, or None if it never does.

    When even the curve's cheapest point reaches `target`, that point's bitrate is returned. The
    root is found with brentq on the first segment whose upper end reaches `target` (PCHIP is
    monotone between neighbouring knots, so that segment holds the first crossing).

    Raises:
        ValueError: `metric` is not one of `models.METRICS`.
    """
    c = _Curve(curve, metric)
    if not c or not math.isfinite(target):
        return None
    if c.values[0] >= target:
        return c.bitrates[0]
    for i in range(len(c.values) - 1):
        if c.values[i + 1] < target:
            continue
        lo, hi = c.logs[i], c.logs[i + 1]
        if c.values[i + 1] == target or c.at(hi) - target <= 0:
            return c.bitrates[i + 1]
        root = brentq(lambda t: c.at(t) - target, lo, hi, xtol=1e-12)
        return float(math.exp(root))
    return None


def crf_at(curve: Sequence[RdPoint], bitrate_kbps: float) -> float:
    """The CRF that should give `bitrate_kbps` on this curve.

    Linear in log(bitrate) between the neighbouring points; outside the measured range, the CRF of
    the nearest end point.

    Raises:
        HullError: the curve has no point with a finite positive bitrate and a finite CRF.
    """
    pairs = sorted((p.bitrate_kbps, p.crf) for p in curve if _usable(p.bitrate_kbps, p.crf))
    if not pairs:
        raise HullError("cannot read a CRF off an empty curve")
    if not (math.isfinite(bitrate_kbps) and bitrate_kbps > 0):
        raise HullError(f"cannot read a CRF at a bitrate of {bitrate_kbps} kbps")
    logs = np.log(np.array([b for b, _ in pairs]))
    crfs = np.array([crf for _, crf in pairs])
    return float(np.interp(math.log(bitrate_kbps), logs, crfs))


def _crossover(low: _Curve, high: _Curve) -> float | None:
    """Log-bitrate in the overlap where `high` last rises to `low` (the overlap start when it is
    level or ahead there and never falls behind and rises again), or None if it never reaches it.

    The last rise, not the first: curves of neighbouring sizes can cross more than once (a size
    can lead for a stretch at low bitrates where both are far below the hull), and a reader wants
    the bitrate from which the larger size keeps winning."""
    start, end = max(low.logs[0], high.logs[0]), min(low.logs[-1], high.logs[-1])
    if start > end:
        return None

    def gap(t: float) -> float:
        return high.at(t) - low.at(t)

    grid = [float(t) for t in np.linspace(start, end, _SCAN_STEPS + 1)] if end > start else [start]
    gaps = [gap(t) for t in grid]
    for i in range(len(grid) - 1, 0, -1):
        if gaps[i - 1] < 0 <= gaps[i]:
            return float(brentq(gap, grid[i - 1], grid[i], xtol=1e-12))
    return start if gaps[0] >= 0 else None


def crossovers(points: Iterable[RdPoint], metric: str = "vmaf") -> tuple[Crossover, ...]:
    """Where each resolution starts to beat the next lower one, by rising height.

    For each pair of adjacent heights (both with a usable curve), the bitrate in the overlap of
    their measured bitrate ranges where the higher resolution's interpolated metric last rises to
    the lower one's (the last sign change of a 400-step log-spaced scan, refined with brentq), or
    the overlap start when it is level or ahead there and never falls behind to rise again. A pair
    is left out when the higher resolution never catches up inside the overlap, or the ranges do
    not overlap.

    Raises:
        ValueError: `metric` is not one of `models.METRICS`.
    """
    curves = {h: _Curve(c, metric) for h, c in curves_by_height(points, metric).items()}
    heights = sorted(curves)
    found: list[Crossover] = []
    for low_h, high_h in itertools.pairwise(heights):
        log_b = _crossover(curves[low_h], curves[high_h])
        if log_b is not None:
            found.append(Crossover(low_height=low_h, high_height=high_h, bitrate_kbps=math.exp(log_b)))
    return tuple(found)
