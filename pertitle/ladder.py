"""Pure rung selection: measured rate-quality points + constraints -> the rungs to encode.

No ffmpeg, no I/O: `select_rungs` reads the per-resolution curves (see `pertitle.hull`) and returns
a `LadderPlan`, with one sentence in `gave_way` for every constraint it could not keep.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from pertitle.errors import ConfigError, HullError
from pertitle.hull import bitrate_for, crf_at, curves_by_height, interpolate
from pertitle.models import (
    MAX_PEAK_RATIO,
    METRICS,
    SEGMENT_S,
    Constraints,
    LadderPlan,
    Quality,
    RdPoint,
    Rung,
    RungTarget,
)

Curves = dict[int, list[RdPoint]]

# Relative slack for comparisons of computed ratios and bitrates, so float noise never counts as a
# broken constraint (a 2.0x step computed as 2.0000000000000004x still obeys max_ratio=2).
_EPS = 1e-9
_SIG_FIGS = 3


def select_rungs(
    points: Sequence[RdPoint],
    constraints: Constraints,
    metric: str = "vmaf",
    *,
    source_height: int | None = None,
) -> LadderPlan:
    """Choose the ladder's rungs (height, bitrate, CRF, hull-predicted quality) from measured points.

    Algorithm:
      1. One Pareto-filtered curve per height on `metric`; H is the highest height. The envelope
         env(b) is the best metric interpolated over the heights whose curve covers b.
      2. Top bitrate: with `keep_source_resolution`, the lowest bitrate at which H's curve reaches
         `quality_ceiling`, else H's highest measured bitrate; without it, the lowest bitrate at
         which env reaches the ceiling, else the highest measured bitrate. Raised to
         `min_bitrate_kbps` when the ceiling is reached below it (as far as measured), then clamped
         to `max_bitrate_kbps` (stopping below the ceiling there is normal, not a give-way).
         With `keep_source_resolution`, when H only joins the envelope (is at least as good as
         every other height) above that bitrate, the top moves one `min_ratio` step above the
         join, as far as H was measured and `max_bitrate_kbps` allows (to the join itself when H
         is not ahead there). When every encode measured is above `max_bitrate_kbps`, the ladder
         is one rung at the lowest bitrate measured where the top rung may go.
      3. Bottom bitrate: max(`min_bitrate_kbps`, lowest measured bitrate), raised to the lowest
         bitrate where env reaches `quality_floor` when that is set and reachable below the top.
         A bottom at or above the top gives a single rung at the top.
      4. Rung count n: round(log R / log r*) + 1 for R = top/bottom and r* = sqrt(min_ratio *
         max_ratio); raised until the step R^(1/(n-1)) is <= max_ratio, lowered until it is >=
         min_ratio (min_ratio wins a conflict), clamped to [min_rungs, max_rungs].
      5. Bitrates geometric from bottom to top.
      6. Heights from the top down: the top rung takes H (keep_source_resolution) or env's best
         height at the top; each lower rung the best height at its bitrate among heights no higher
         than the rung above whose curve covers that bitrate, so resolution never falls as bitrate
         rises. A rung no allowed curve covers moves up to the nearest measured bitrate (dropped if
         that duplicates the rung above).
      7. Bitrates are rounded to 3 significant figures (whole kbit/s under 100), nudged back
         inside [bottom, top] when rounding would push a rung out (so it never breaks a bitrate
         bound or the floor).
      8. Per rung: CRF read off its height's curve (linear in log bitrate), every quality metric
         interpolated on the same points (clamped to the nearest point at the curve's edges), and
         the width most common among that height's points.
      9. Rungs that do not rise over the one below in quality are dropped (`rising_targets`): only
         a source-size top rung held under the bitrate where that size joins the hull (a
         `max_bitrate_kbps` below the join) can fall under them, and it stays.
    Ties between heights go to the lower one. `source_height` (the title's, when known) above every
    probed height means the grid left the source's resolution out: `keep_source_resolution` then
    holds for the tallest probed height, and `gave_way` says so.

    Returns:
        LadderPlan with targets by rising bitrate and one sentence per broken constraint.

    Raises:
        HullError: no point has a finite positive bitrate and a finite `metric`.
        ConfigError: the constraints contradict themselves (e.g. min_rungs > max_rungs).
        ValueError: `metric` is not one of `models.METRICS`.
    """
    c = constraints
    _check_constraints(c)
    curves = curves_by_height(points, metric)
    if not curves:
        raise HullError(
            f"no usable rate-quality point: {len(points)} given, none with a finite positive "
            f"bitrate and a finite {metric}"
        )
    gave_way: list[str] = []
    source_h = max(curves)
    if c.keep_source_resolution and source_height is not None and source_height > source_h:
        gave_way.append(
            f"keep_source_resolution: the source's {source_height}p is not in the grid, so the top rung "
            f"takes {source_h}p, the tallest probed; add {source_height} to --heights to keep it"
        )
    joins_at = _source_joins_at(curves, source_h, metric) if c.keep_source_resolution else None
    if c.keep_source_resolution and joins_at is None and len(curves) > 1:
        gave_way.append(
            f"keep_source_resolution: {source_h}p is beaten by a lower resolution at every bitrate "
            "measured, so the top rung takes the best resolution instead"
        )
        c = replace(c, keep_source_resolution=False)

    if min(curve[0].bitrate_kbps for curve in curves.values()) > c.max_bitrate_kbps * (1 + _EPS):
        return _single_rung_above_limit(points, curves, c, metric, source_h, gave_way)
    b_top = _top_bitrate(curves, c, metric, source_h, gave_way)
    if joins_at is not None and joins_at > b_top * (1 + _EPS) and joins_at <= c.max_bitrate_kbps:
        # Below this bitrate a lower resolution beats the source's: a top rung there would be a
        # dominated point (worse than the rung a lower resolution gives for the same bits).
        above = _source_top_above_join(curves, source_h, joins_at, c, metric)
        gave_way.append(
            f"quality_ceiling: {source_h}p only beats lower resolutions from {joins_at:.0f} kbps, above "
            f"the {b_top:.0f} kbps where it reaches {c.quality_ceiling:g}; "
            + (
                "the top rung sits there"
                if above == joins_at
                else f"the top rung sits one min_ratio step above that, at {above:.0f} kbps"
            )
        )
        b_top = above
    elif joins_at is not None and joins_at > c.max_bitrate_kbps * (1 + _EPS):
        # The source's size stays available (keep_source_resolution), but under the limit it is a
        # dominated point: say so rather than let the ladder look as if the limit cost nothing.
        gave_way.append(
            f"keep_source_resolution: {source_h}p only beats lower resolutions from {joins_at:.0f} kbps, "
            f"above max_bitrate_kbps {c.max_bitrate_kbps:g}; the top rung keeps {source_h}p at "
            f"{b_top:.0f} kbps, where a lower resolution gives more"
        )
    if b_top < c.min_bitrate_kbps:
        # Quality saturates below the minimum bitrate (a still or near-still title): one rung at the
        # minimum, at the source's size; its quality is the best measured there (more bits never
        # lower it). Encoders also refuse two-pass targets of a few kbps.
        if c.min_rungs > 1:
            gave_way.append(
                f"min_rungs: one rung at the {c.min_bitrate_kbps:g} kbps minimum; every encode measured "
                f"is below it ({b_top:.0f} kbps at most), so more rungs would add no quality"
            )
        widths = _widths(points)
        top = _target(curves[source_h], source_h, widths[source_h], c.min_bitrate_kbps)
        return LadderPlan(targets=(top,), gave_way=tuple(gave_way))
    b_bot = _bottom_bitrate(curves, c, metric, b_top, gave_way)
    if b_bot >= b_top:
        planned = [b_top]
        if c.min_rungs > 1:
            gave_way.append(
                f"min_rungs: a single rung at {b_top:.0f} kbps, since the bottom of the ladder "
                f"({b_bot:.0f} kbps) is not below its top"
            )
    else:
        n = _rung_count(b_bot, b_top, c, gave_way)
        planned = _geometric(b_bot, b_top, n)

    placed = _place_heights(curves, planned, c, metric, source_h, gave_way)
    rounded = _round_bitrates(placed, b_bot, b_top, gave_way)
    widths = _widths(points)
    targets, dropped = rising_targets([_target(curves[h], h, widths[h], b) for h, b in rounded], metric)
    said = _spacing_as_built(gave_way, dropped, planned, [t.bitrate_kbps for t in targets], c)
    return LadderPlan(targets=tuple(targets), gave_way=said)


def _spacing_as_built(
    gave_way: Sequence[str],
    dropped: Sequence[str],
    planned: Sequence[float],
    kbps: Sequence[float],
    c: Constraints,
) -> tuple[str, ...]:
    """Every sentence, with the spacing of the ladder as built rather than as planned (`planned`
    the even steps, `kbps` the rungs kept): a rung moved for coverage left two rungs 1.16x apart
    where the min_ratio sentence said 1.31x, and rungs dropped left 100 and 566 kbps 5.7x apart
    with only the drops said."""
    said = [*gave_way, *dropped]
    if len(kbps) < 2:
        return tuple(said)
    steps = [(b / a, a, b) for a, b in itertools.pairwise(kbps)]
    closest, low, high = min(steps)
    even = min((b / a for a, b in itertools.pairwise(planned)), default=math.inf)
    if closest < c.min_ratio * (1 - _EPS) and round(closest, 2) < round(even, 2):
        forced = any(g.startswith("min_ratio: ") for g in said)  # min_rungs forced small steps
        said = [g for g in said if not g.startswith("min_ratio: ")]
        why = f"min_rungs is {c.min_rungs}" if forced else "a rung was moved for coverage"
        said.append(
            f"min_ratio: rungs as close as {closest:.2f}x ({low:.0f} and {high:.0f} kbps; min_ratio "
            f"{c.min_ratio:g}x; {why})"
        )
    widest, low, high = max(steps)
    if widest > c.max_ratio * (1 + _EPS) and not any(g.startswith("max_ratio: ") for g in said):
        why = "rungs between were dropped" if any("dropped" in g for g in said) else "no rung fits between"
        said.append(
            f"max_ratio: rungs as far apart as {widest:.2f}x ({low:.0f} and {high:.0f} kbps; max_ratio "
            f"{c.max_ratio:g}x; {why})"
        )
    return tuple(said)


def _single_rung_above_limit(
    points: Sequence[RdPoint], curves: Curves, c: Constraints, metric: str, source_h: int, gave_way: list[str]
) -> LadderPlan:
    """Every encode measured is above max_bitrate_kbps: one rung at the lowest bitrate measured
    where the top rung may go, said in one sentence (the later steps would only quote bounds that
    no rung can keep)."""
    if c.keep_source_resolution:
        h, lowest = source_h, curves[source_h][0].bitrate_kbps
        where = f"{h}p, the source's size, at {lowest:.0f} kbps"
    else:
        lowest = min(curve[0].bitrate_kbps for curve in curves.values())
        best = _best_height(curves, lowest, list(curves), metric)
        assert best is not None, "a measured bitrate is covered by its own curve"
        h, where = best, f"{best}p at {lowest:.0f} kbps"
    gave_way.append(
        f"max_bitrate_kbps: every encode measured is above the {c.max_bitrate_kbps:g} kbps limit; one "
        f"rung at {where}, the lowest measured (higher CRFs in --crfs measure lower bitrates)"
    )
    rounded = _round_bitrates([(h, lowest)], lowest, lowest, gave_way)
    widths = _widths(points)
    return LadderPlan(
        targets=tuple(_target(curves[h], h, widths[h], b) for h, b in rounded), gave_way=tuple(gave_way)
    )


def _check_constraints(c: Constraints) -> None:
    if not (math.isfinite(c.min_bitrate_kbps) and c.min_bitrate_kbps > 0):
        raise ConfigError(f"min_bitrate_kbps must be a positive number, not {c.min_bitrate_kbps}")
    if not (math.isfinite(c.max_bitrate_kbps) and c.max_bitrate_kbps >= c.min_bitrate_kbps):
        raise ConfigError(
            f"max_bitrate_kbps ({c.max_bitrate_kbps}) must be at least "
            f"min_bitrate_kbps ({c.min_bitrate_kbps})"
        )
    if not 1 <= c.min_rungs <= c.max_rungs:
        raise ConfigError(f"need 1 <= min_rungs ({c.min_rungs}) <= max_rungs ({c.max_rungs})")
    if not (c.min_ratio > 1 and c.max_ratio >= c.min_ratio and math.isfinite(c.max_ratio)):
        raise ConfigError(f"need 1 < min_ratio ({c.min_ratio}) <= max_ratio ({c.max_ratio})")


def _lowest_reaching(curves: Curves, heights: Sequence[int], target: float, metric: str) -> float | None:
    """Lowest bitrate at which env (over `heights`) reaches `target`.

    Each Pareto curve is monotone, so env reaches the target at b exactly when some curve covering
    b does: the answer is the least of the curves' own answers.
    """
    found = [b for b in (bitrate_for(curves[h], target, metric) for h in heights) if b is not None]
    return min(found) if found else None


def _source_joins_at(curves: Curves, source_h: int, metric: str, steps: int = 200) -> float | None:
    """Lowest measured-range bitrate at which the source's height is at least as good as every
    other height covering that bitrate (None when it never is). A log-spaced scan: the curves are
    monotone pchip, so 200 steps over the source curve's range are far finer than its points."""
    curve = curves[source_h]
    lo, hi = curve[0].bitrate_kbps, curve[-1].bitrate_kbps
    for i in range(steps + 1):
        b = lo * (hi / lo) ** (i / steps) if hi > lo else lo
        if _source_leads_at(curves, source_h, b, metric):
            return b
    return None


def _source_leads_at(curves: Curves, source_h: int, bitrate: float, metric: str) -> bool:
    """The source's curve covers `bitrate` and is at least as good as every other curve that does."""
    v = interpolate(curves[source_h], bitrate, metric)
    if v is None:
        return False
    others = (interpolate(curves[h], bitrate, metric) for h in curves if h != source_h)
    return all(o is None or v >= o for o in others)


def _source_top_above_join(
    curves: Curves, source_h: int, joins_at: float, c: Constraints, metric: str
) -> float:
    """Where the source-resolution top rung goes when the source only joins the hull at `joins_at`.

    At the join the source's curve merely ties a lower resolution's, so a rung there adds nothing
    a lower rung does not, and a deployed two-pass encode at the larger size, which usually lands
    a little under its CRF probe, falls behind it. One min_ratio step above the join (as far as
    measured and allowed) the source's size is ahead, and the step below is left to the lower
    resolution that wins there. Falls back to the join when the source is not ahead there.
    """
    highest = curves[source_h][-1].bitrate_kbps
    above = min(joins_at * c.min_ratio, highest, c.max_bitrate_kbps)
    if above > joins_at and _source_leads_at(curves, source_h, above, metric):
        return above
    return joins_at


def _top_bitrate(curves: Curves, c: Constraints, metric: str, source_h: int, gave_way: list[str]) -> float:
    heights = [source_h] if c.keep_source_resolution else list(curves)
    highest = max(curves[h][-1].bitrate_kbps for h in heights)
    b_top = _lowest_reaching(curves, heights, c.quality_ceiling, metric)
    if b_top is None:
        b_top = highest
    if b_top < c.min_bitrate_kbps:
        # The ceiling is met below the minimum bitrate: spend up to the minimum, as far as measured.
        b_top = min(c.min_bitrate_kbps, highest)
        if b_top < c.min_bitrate_kbps:
            gave_way.append(
                f"min_bitrate_kbps: the highest bitrate measured is {highest:.0f} kbps, below the "
                f"{c.min_bitrate_kbps:g} kbps minimum"
            )
    return float(min(b_top, c.max_bitrate_kbps))


def _bottom_bitrate(curves: Curves, c: Constraints, metric: str, b_top: float, gave_way: list[str]) -> float:
    b_bot = max(c.min_bitrate_kbps, min(curve[0].bitrate_kbps for curve in curves.values()))
    if c.quality_floor is None:
        return b_bot
    b_floor = _lowest_reaching(curves, list(curves), c.quality_floor, metric)
    if b_floor is None or b_floor > b_top * (1 + _EPS):
        gave_way.append(
            f"quality_floor: {metric} {c.quality_floor:g} is not reached at or below the top rung's "
            f"{b_top:.0f} kbps; the bottom rung stays at {b_bot:.0f} kbps"
        )
        return b_bot
    return max(b_bot, b_floor)


def _rung_count(b_bot: float, b_top: float, c: Constraints, gave_way: list[str]) -> int:
    """Rungs for a geometric ladder from b_bot to b_top (b_bot < b_top); notes broken bounds."""
    log_span = math.log(b_top / b_bot)
    n = round(log_span / math.log(math.sqrt(c.min_ratio * c.max_ratio))) + 1
    fewest_for_max = math.ceil(log_span / math.log(c.max_ratio) - _EPS) + 1  # step <= max_ratio
    most_for_min = math.floor(log_span / math.log(c.min_ratio) + _EPS) + 1  # step >= min_ratio
    n = min(max(n, fewest_for_max), most_for_min)
    n = min(max(n, c.min_rungs), c.max_rungs)

    span = f"{b_bot:.0f}-{b_top:.0f} kbps"
    ratio = b_top / b_bot
    if n == 1:
        if ratio > c.max_ratio * (1 + _EPS):
            gave_way.append(
                f"max_ratio: a single rung at {b_top:.0f} kbps leaves a {ratio:.2f}x gap down to "
                f"{b_bot:.0f} kbps (max_ratio {c.max_ratio:g}x, max_rungs {c.max_rungs})"
            )
        return n
    step = ratio ** (1 / (n - 1))
    if step > c.max_ratio * (1 + _EPS):
        why = (
            f"max_rungs is {c.max_rungs}"
            if fewest_for_max > c.max_rungs
            else f"more rungs would step less than min_ratio {c.min_ratio:g}x"
        )
        gave_way.append(
            f"max_ratio: {step:.2f}x between rungs needed to span {span} in {n} rungs "
            f"(max_ratio {c.max_ratio:g}x; {why})"
        )
    if step < c.min_ratio * (1 - _EPS):
        gave_way.append(
            f"min_ratio: {step:.2f}x between rungs to span {span} in {n} rungs "
            f"(min_ratio {c.min_ratio:g}x; min_rungs is {c.min_rungs})"
        )
    return n


def _geometric(b_bot: float, b_top: float, n: int) -> list[float]:
    if n == 1:
        return [b_top]
    ratio = b_top / b_bot
    rates = [b_bot * ratio ** (i / (n - 1)) for i in range(n)]
    rates[0], rates[-1] = b_bot, b_top
    return rates


def _best_height(curves: Curves, bitrate: float, heights: Sequence[int], metric: str) -> int | None:
    """The height with the best interpolated metric at `bitrate` (ties: the lower), or None."""
    best_h: int | None = None
    best_v = -math.inf
    for h in sorted(heights):
        v = interpolate(curves[h], bitrate, metric)
        if v is not None and v > best_v:
            best_h, best_v = h, v
    return best_h


def _nearest_covered(curves: Curves, bitrate: float, heights: Sequence[int], prefer_up: bool) -> float:
    """The measured bitrate nearest `bitrate` on the `heights` curves, up or down as preferred."""
    ups = [curves[h][0].bitrate_kbps for h in heights if curves[h][0].bitrate_kbps > bitrate]
    downs = [curves[h][-1].bitrate_kbps for h in heights if curves[h][-1].bitrate_kbps < bitrate]
    if ups and (prefer_up or not downs):
        return min(ups)
    return max(downs)


def _place_heights(
    curves: Curves,
    planned: Sequence[float],
    c: Constraints,
    metric: str,
    source_h: int,
    gave_way: list[str],
) -> list[tuple[int, float]]:
    """(height, bitrate) per rung by rising bitrate; heights chosen from the top rung down."""
    placed: list[tuple[int, float]] = []  # built top-down
    for i, b in enumerate(reversed(planned)):
        if i == 0:
            allowed = [source_h] if c.keep_source_resolution else list(curves)
        else:
            allowed = [h for h in curves if h <= placed[-1][0]]
        h = _best_height(curves, b, allowed, metric)
        if h is None:
            # Top rung: staying under max_bitrate beats reaching for quality; lower rungs move up,
            # never past the rung above, whose own curve covers its bitrate.
            moved = _nearest_covered(curves, b, allowed, prefer_up=i > 0)
            h = _best_height(curves, moved, allowed, metric)
            assert h is not None, "a measured bitrate is covered by its own curve"
            if placed and moved >= placed[-1][1] * (1 - _EPS):
                gave_way.append(
                    f"coverage: the rung planned at {b:.0f} kbps was dropped: nothing at or below "
                    f"{placed[-1][0]}p was measured between it and the {placed[-1][1]:.0f} kbps rung above"
                )
                continue
            if moved > c.max_bitrate_kbps * (1 + _EPS):
                gave_way.append(
                    f"max_bitrate_kbps: the top rung at {h}p needs at least {moved:.0f} kbps, the lowest "
                    f"bitrate measured there, above the {c.max_bitrate_kbps:g} kbps limit"
                )
            else:
                gave_way.append(
                    f"coverage: no curve allowed for the rung planned at {b:.0f} kbps covers that "
                    f"bitrate; it moved to {moved:.0f} kbps ({h}p)"
                )
            b = moved
        placed.append((h, b))
    placed.reverse()
    return placed


def _round_sig(value: float, digits: int = _SIG_FIGS) -> tuple[float, float]:
    """`value` rounded to `digits` significant figures but never finer than whole kbit/s (what
    the encoders are given: a rung kept as 38.3 kbps ran at -b:v 38k), and the size of one unit
    in the last place kept."""
    places = min(0, digits - 1 - math.floor(math.log10(value)))
    return float(round(value, places)), 10.0**-places


def _round_bitrates(
    placed: Sequence[tuple[int, float]], lo: float, hi: float, gave_way: list[str]
) -> list[tuple[int, float]]:
    """Bitrates to 3 significant figures (whole kbit/s under 100), order kept.

    A rung inside [lo, hi] (the ladder's bottom and top) is nudged one unit back inside when
    rounding would push it out, so rounding never breaks min/max bitrate or the quality floor.
    """
    out: list[tuple[int, float]] = []
    for h, b in placed:
        r, unit = _round_sig(b)
        if r > hi >= b:
            r = _round_sig(r - unit)[0]
        if r < lo <= b:
            r = _round_sig(r + unit)[0]
        if out and r <= out[-1][1]:
            gave_way.append(f"rounding: the rung at {b:.1f} kbps rounds onto the one below; dropped")
            continue
        out.append((h, r))
    return out


def _widths(points: Sequence[RdPoint]) -> dict[int, int]:
    """The most common width among each height's points (first seen on a tie)."""
    counts: dict[int, Counter[int]] = {}
    for p in points:
        counts.setdefault(p.height, Counter())[p.width] += 1
    return {h: counter.most_common(1)[0][0] for h, counter in counts.items()}


def _metric_on(curve: Sequence[RdPoint], bitrate: float, name: str) -> float:
    """`name` interpolated on the curve's points; at or past an edge, the nearest point's value."""
    value = interpolate(curve, bitrate, name)
    if value is not None:
        return value
    finite = [p for p in curve if math.isfinite(p.metric(name))]
    if not finite:
        return math.nan
    nearest = min(finite, key=lambda p: abs(math.log(p.bitrate_kbps / bitrate)))
    return nearest.metric(name)


def _target(curve: Sequence[RdPoint], height: int, width: int, bitrate: float) -> RungTarget:
    predicted = {name: _metric_on(curve, bitrate, name) for name in METRICS}
    return RungTarget(
        width=width,
        height=height,
        bitrate_kbps=bitrate,
        crf=crf_at(curve, bitrate),
        hull_predicted=Quality(**predicted),
    )


_Item = TypeVar("_Item")


def _rising(
    items: Sequence[_Item],
    target: Callable[[_Item], float],
    kbps: Callable[[_Item], float],
    value: Callable[[_Item], float],
) -> tuple[list[_Item], list[tuple[_Item, str, _Item]]]:
    """`items` by rising `target` bitrate, each kept only where it rises over the kept one below in
    both `kbps` and `value`; the top one always stays, and a kept one under it that is not below it
    in both gives way. Returns the kept ones and, per dropped one, (it, relation, the one it failed)."""
    if not items:
        return [], []

    def below(low: _Item, high: _Item) -> bool:
        return kbps(low) < kbps(high) and value(low) < value(high)

    *lower, top = sorted(items, key=target)
    kept: list[_Item] = []
    dropped: list[tuple[_Item, str, _Item]] = []
    for r in lower:
        if kept and not below(kept[-1], r):
            dropped.append((r, "rise over", kept[-1]))
        else:
            kept.append(r)
    while kept and not below(kept[-1], top):
        dropped.append((kept.pop(), "stay below", top))
    return [*kept, top], dropped


def uncovered_contenders(
    targets: Sequence[RungTarget], points: Sequence[RdPoint], metric: str = "vmaf"
) -> tuple[int, ...]:
    """Heights that may beat a rung's height at its bitrate but were not measured that low. Pure.

    A rung only takes a height whose curve covers its bitrate, so a taller height whose cheapest
    probe lies just above the rung (an easy title's larger sizes start above the ladder's bottom)
    is never considered there, however far ahead it is. Such a height, allowed for the rung (no
    taller than the rung above) and ahead of the rung's own height at that cheapest probe, is
    returned, so that it can be probed at a higher CRF and the ladder choose between measured
    points rather than extrapolate.
    """
    curves = curves_by_height(points, metric)
    found: set[int] = set()
    for i, t in enumerate(targets):
        own = curves.get(t.height)
        if not own:
            continue
        tallest = targets[i + 1].height if i + 1 < len(targets) else max(curves)
        for h, curve in curves.items():
            cheapest = curve[0]
            if not t.height < h <= tallest or cheapest.bitrate_kbps <= t.bitrate_kbps * (1 + _EPS):
                continue
            # More bits never lower quality: past the end of its curve, the rung's height gives
            # at most its best measured.
            if cheapest.bitrate_kbps > own[-1].bitrate_kbps:
                there: float | None = own[-1].metric(metric)
            else:
                there = interpolate(own, cheapest.bitrate_kbps, metric)
            if there is not None and cheapest.metric(metric) > there:
                found.add(h)
    return tuple(sorted(found))


def rising_targets(targets: Sequence[RungTarget], metric: str) -> tuple[list[RungTarget], list[str]]:
    """The plan's rungs, each rising over the one below on the hull. They do, but for a top rung
    that keep_source_resolution holds at a source size under the bitrate where it joins the hull
    (max_bitrate_kbps below the join): the lower-resolution rungs under it that look better than it
    are dropped, so that no rung up the ladder is a worse picture. Pure."""

    def rate(t: RungTarget) -> float:
        return t.bitrate_kbps

    def value(t: RungTarget) -> float:
        return float(getattr(t.hull_predicted, metric))

    kept, dropped = _rising(targets, rate, rate, value)
    return kept, [
        f"keep_source_resolution: the {r.height}p rung at {r.bitrate_kbps:g} kbps was dropped: on the hull "
        f"it does not {relation} the {o.height}p rung at {o.bitrate_kbps:g} kbps in {metric} "
        f"({getattr(r.hull_predicted, metric):.2f} against {getattr(o.hull_predicted, metric):.2f})"
        for r, relation, o in dropped
    ]


def rising_deployed(rungs: Sequence[Rung], metric: str = "vmaf") -> tuple[list[Rung], list[str]]:
    """The rungs whose deployed encodes rise in both bitrate and `metric` over the rung below, and
    one sentence per rung dropped.

    The plan's rungs rise on the CRF hull, but a two-pass encode can land far from its target (an
    encoder that undershoots, VBV that cannot be met) or gain nothing over the rung below (rungs
    forced close together by min_rungs): a rung that spends no more, or looks no better, than the
    one below it is one no player should switch up to. The top rung stays (it holds the source's
    resolution), so a rung under it that is not below it in both is the one dropped. Pure.
    """

    def kbps(r: Rung) -> float:
        return r.predicted_bitrate_kbps if r.predicted_bitrate_kbps > 0 else r.bitrate_kbps

    def value(r: Rung) -> float:
        return float(getattr(r.predicted, metric))

    kept, dropped = _rising(rungs, lambda r: r.bitrate_kbps, kbps, value)
    return kept, [
        f"deployed: the {r.height}p rung at {r.bitrate_kbps:g} kbps was dropped: its deployed encode "
        f"({kbps(r):.0f} kbps, {metric} {getattr(r.predicted, metric):.2f}) does not {relation} the "
        f"{o.height}p rung at {o.bitrate_kbps:g} kbps ({kbps(o):.0f} kbps, "
        f"{getattr(o.predicted, metric):.2f}) in both bitrate and {metric}"
        for r, relation, o in dropped
    ]


def over_peak(rungs: Sequence[Rung], vbv: bool = True) -> list[str]:
    """One sentence per rung whose deployed encode peaked over `MAX_PEAK_RATIO` times its average
    over `SEGMENT_S` segments (HLS BANDWIDTH), which verify fails. The VBV's maxrate is relative to
    the target, so a title whose bits sit in one part of it (a still, then noise) can keep its VBV
    and still peak there: the encode averages under its target. Otherwise the encoder did not hold
    the VBV, or (`vbv` False) the deployed rate control has none. Pure."""
    out = []
    for r in rungs:
        average = r.predicted_bitrate_kbps if r.predicted_bitrate_kbps > 0 else r.bitrate_kbps
        if r.predicted_peak_kbps > MAX_PEAK_RATIO * average > 0:
            if average < 0.9 * r.bitrate_kbps:  # VBV caps the peak by the target, not the average
                share = average / r.bitrate_kbps
                why = f"it averaged {share:.0%} of its target: the title's bits sit in part of it"
            elif vbv:
                why = "the encoder did not hold its VBV there"
            else:
                why = "its two-pass mode holds no strict VBV"
            out.append(
                f"maxrate_factor: the {r.height}p rung at {r.bitrate_kbps:g} kbps peaks at "
                f"{r.predicted_peak_kbps / average:.2f}x its average over {SEGMENT_S:g} s segments of "
                f"its deployed encode ({why}); verify fails a rung over {MAX_PEAK_RATIO:g}x"
            )
    return out


# A capped-CRF rung further than this from its bitrate after it was re-aimed is said in gave_way.
OFF_TARGET_RATIO = 0.10


def off_target(rungs: Sequence[Rung]) -> list[str]:
    """One sentence per capped-CRF rung whose deployed encode averages more than `OFF_TARGET_RATIO`
    off its bitrate even at the CRF re-aimed at it (`calibrate._re_aim_capped`): libvpx's
    constrained quality spends at most about its cap on a short title, whatever the CRF. Pure."""
    out = []
    for r in rungs:
        landed = r.predicted_bitrate_kbps
        if landed <= 0 or r.bitrate_kbps <= 0 or abs(landed / r.bitrate_kbps - 1) <= OFF_TARGET_RATIO:
            continue
        out.append(
            f"bitrate: the {r.height}p rung at {r.bitrate_kbps:g} kbps averages {landed:.0f} kbps "
            f"({landed / r.bitrate_kbps:.0%} of it) in its deployed capped-CRF encode at CRF {r.crf:g}, "
            "the nearest the probed CRFs came; verify checks it against that"
        )
    return out
