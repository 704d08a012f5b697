"""Which probe encodes to spend: `--fast`'s coarse grid, its reading of the skipped points and
the refinement that measures what the hull rests on, and the extra CRF step where a size may
beat a rung below its cheapest probe."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from pertitle.config import Settings
from pertitle.estimate import between_sizes, fill_skipped_crfs, nearest_to_hull
from pertitle.hull import upper_hull
from pertitle.ladder import select_rungs, uncovered_contenders
from pertitle.models import EncodeSpec, Measurement, MediaInfo, RdPoint, Resolution
from pertitle.plan import coarse_crfs, crf_past_the_grid, fast_first_sizes
from pertitle.probes import Runner, points_of


def probe_fast(
    runner: Runner,
    info: MediaInfo,
    settings: Settings,
    grid: Sequence[EncodeSpec],
    sizes: Sequence[Resolution],
) -> dict[EncodeSpec, Measurement]:
    """--fast: about every third CRF of the grid at the real preset, libvmaf on every n-th frame,
    at every other size first (`plan.fast_first_sizes`); each size between is then read off its
    neighbours and measured at the two CRFs nearest the hull (`estimate.between_sizes`,
    `estimate.nearest_to_hull`).

    The skipped CRFs are then estimated on each resolution's curve (`estimate.fill_skipped_crfs`)
    and the estimates the hull runs through are measured (`refine_fast`)."""
    frames = info.frame_count if runner.full_pass else sum(w.duration_s for w in runner.windows) * info.fps
    runner.n_subsample = fast_subsample(int(frames), settings.fast_subsample)
    first, others = _split_sizes(sizes)
    coarse = set(coarse_crfs(settings.effective_crfs))
    specs = [s for s in grid if Resolution(s.width, s.height) in first and float(s.crf or 0.0) in coarse]
    measured = runner.run(specs, f"encoding and scoring {len(specs)} probe encodes (fast)")
    if not others:
        return measured
    points = fill_skipped_crfs(points_of(measured), settings.effective_crfs)
    estimates = between_sizes(points, first, others, settings.effective_crfs)
    between = _specs_at(
        grid, nearest_to_hull(estimates, points, settings.metric, FAST_PROBES_PER_SKIPPED_SIZE)
    )
    if between:
        label = f"measuring {len(between)} probe encodes at the sizes between (fast)"
        measured = {**measured, **runner.run(between, label)}
    return measured


# Two: one measured CRF of a skipped size left the 1.4 s 1080p ski clip's hull 3.0% off, two 0.0%.
FAST_PROBES_PER_SKIPPED_SIZE = 2


def _split_sizes(sizes: Sequence[Resolution]) -> tuple[tuple[Resolution, ...], list[Resolution]]:
    """--fast's sizes probed first, and the sizes between them."""
    first = fast_first_sizes(sizes)
    return first, [r for r in sizes if r not in first]


def _specs_at(grid: Sequence[EncodeSpec], points: Iterable[RdPoint]) -> list[EncodeSpec]:
    """The grid's encodes of these (estimated) points: same size and CRF."""
    keys = {(p.width, p.height, float(p.crf)) for p in points}
    return [s for s in grid if (s.width, s.height, float(s.crf or 0.0)) in keys]


def fast_estimates(
    measured: dict[EncodeSpec, Measurement],
    settings: Settings,
    first: Sequence[Resolution],
    others: Sequence[Resolution],
) -> tuple[RdPoint, ...]:
    """Measured points, the CRFs between them read off each size's curve, and the rest of each
    size between read off its neighbours (`estimate.between_sizes`)."""
    points = fill_skipped_crfs(points_of(measured), settings.effective_crfs)
    return points + between_sizes(points, first, others, settings.effective_crfs)


def refine_fast(
    runner: Runner,
    settings: Settings,
    grid: Sequence[EncodeSpec],
    measured: dict[EncodeSpec, Measurement],
    sizes: Sequence[Resolution],
    rounds: int = 3,
) -> tuple[dict[EncodeSpec, Measurement], tuple[RdPoint, ...]]:
    """--fast, second step: measure every estimated point the hull runs through, estimate again
    from the larger set, and repeat while the hull still leans on an estimate (at most `rounds`).
    The points returned are the measured ones and the CRFs between them (`fill_skipped_crfs`);
    readings of a size off its neighbours only guide the search.

    Estimates are good inside a curve and poor where VMAF falls steeply (the 2 s Sintel sample:
    360p CRF 38 read as 53.1 where it measures 44.3), and a hull vertex or a rung placed on a
    poor estimate carries its error. Simulated on the full grids of the eleven clips of the
    README table, with every other CRF as the coarse grid, measuring the estimated vertices took
    the hull from up to 0.9% BD-rate off the full grid's to 0.0% and every rung to within 0.9 VMAF
    of it, for 73% of the full grid's encodes (57% without). With every third CRF (now the coarse
    grid, `plan.coarse_crfs`) it leaves the hull within 0.5% on 17 grids, for 52-86%."""
    first, others = _split_sizes(sizes)
    points = fast_estimates(measured, settings, first, others)
    for _ in range(rounds):
        refine = _specs_at(grid, [v for v in upper_hull(points, settings.metric).vertices if v.estimated])
        if not refine:
            break
        measured = {**measured, **runner.run(refine, f"measuring {len(refine)} estimated hull points")}
        points = fast_estimates(measured, settings, first, others)
    return measured, fill_skipped_crfs(points_of(measured), settings.effective_crfs)


def below_cheapest_probes(
    runner: Runner,
    settings: Settings,
    measured: dict[EncodeSpec, Measurement],
    points: tuple[RdPoint, ...],
    source_height: int,
    rounds: int = 3,
) -> tuple[dict[EncodeSpec, Measurement], tuple[RdPoint, ...]]:
    """Probe a size one CRF step past the grid where it may beat a rung's size below its
    cheapest probe (`ladder.uncovered_contenders`), and again while it still may (at most
    `rounds`, never past the codec's CRF range). The default grid's highest CRF can land a larger
    size just above the ladder's bottom: on a 2 s 640x360 clip in VP9, 360p's CRF 56 probe came
    out at 103 kbps, so the 100 kbps rung took 234p (82.4 VMAF) where 360p gives 88.0."""
    for _ in range(rounds):
        plan = select_rungs(points, settings.constraints, settings.metric, source_height=source_height)
        wanted = []
        for height in uncovered_contenders(plan.targets, points, settings.metric):
            cheapest = max((s for s in measured if s.height == height), key=lambda s: float(s.crf or 0.0))
            crf = crf_past_the_grid(
                float(cheapest.crf or 0.0), settings.effective_crfs, settings.codec_defaults.crf_range[1]
            )
            if crf is not None:
                wanted.append(dataclasses.replace(cheapest, crf=crf))
        if not wanted:
            break
        label = f"measuring {len(wanted)} size(s) below their cheapest probe, where a rung may take them"
        measured = {**measured, **runner.run(wanted, label)}
        points = points_of(measured)
        if settings.fast:
            points = fill_skipped_crfs(points, settings.effective_crfs)
    return measured, points


def fast_subsample(frames: int, most: int, keep: int = 60) -> int:
    """Score every n-th frame, but keep at least `keep` scored frames: a 2 s clip scored one frame
    in four has 12 left, and its mean moves by whole VMAF points (measured by `make bench`)."""
    return max(1, min(most, frames // keep))
