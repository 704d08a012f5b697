"""One title end to end: probe -> plan -> encode+measure -> hull -> ladder -> deployed-encode check.

It emits events for whoever draws progress and returns a TitleResult; it never prints.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pertitle import __version__
from pertitle.cache import ResultCache, utf8_text
from pertitle.calibrate import calibrate, reach_ceiling, uncalibrated_rungs
from pertitle.config import CODECS, Settings
from pertitle.errors import HullError, InputError
from pertitle.ffmpeg.binary import FfmpegInfo
from pertitle.hull import upper_hull
from pertitle.ladder import off_target, over_peak, rising_deployed, select_rungs
from pertitle.models import EncodeSpec, Ladder, MediaInfo, Timings, TitleResult
from pertitle.plan import (
    heights_above_source,
    plan_grid,
    plan_resolutions,
    plan_windows,
    too_small_for_the_codec,
    unprobed_hard_s,
)
from pertitle.probe import probe
from pertitle.probes import Event, EventSink, Runner, ignore_event, points_of, title_complexity
from pertitle.search import below_cheapest_probes, probe_fast, refine_fast

RATE_CONTROL_TEXT = {
    "abr2pass": "two-pass average bitrate with VBV (maxrate, bufsize)",
    "capped_crf": "capped CRF: one pass at the rung's CRF with VBV (maxrate, bufsize)",
}


# What SVT-AV1 is given instead (`commands._rate_args`): its rungs' maxrate/bufsize are not applied.
_AV1_RATE_CONTROL_TEXT = {
    "abr2pass": "two-pass average bitrate, no VBV (libsvtav1 takes no maxrate in two-pass mode)",
    "capped_crf": "capped CRF: one pass at the rung's CRF with a maxrate (libsvtav1 has no bufsize)",
}


# libvpx takes -maxrate in two-pass mode as a limit on a section's share of the bits
# (rc_2pass_vbr_maxsection_pct), not as a buffer model: a 423k maxrate let one second carry 1339 kbit.
_VP9_TWO_PASS_TEXT = (
    "two-pass average bitrate with maxrate and bufsize, which libvpx applies per two-pass section, "
    "not as a strict VBV: segments can peak above maxrate"
)


def rate_control_text(settings: Settings) -> str:
    """How the rungs are encoded, as the ladder document says it."""
    d = settings.codec_defaults
    if d.supports_maxrate and not d.strict_two_pass_vbv and settings.deploy_rate_control == "abr2pass":
        return _VP9_TWO_PASS_TEXT
    texts = _AV1_RATE_CONTROL_TEXT if settings.codec == "av1" else RATE_CONTROL_TEXT
    return texts[settings.deploy_rate_control]


INTERLACED_WARNING = (
    "the title is interlaced: it is probed, as its renditions will be encoded, as progressive frames; "
    "deinterlace it first (ffmpeg -vf bwdif) for a ladder of clean renditions"
)


# The share of a title that may be harder than every sample window before analyze says so.
UNPROBED_HARD_SHARE = 0.1


def _unprobed_hard_line(missed_s: float, duration_s: float, windows: int) -> str:
    return (
        f"{missed_s:.0f} s of the title ({missed_s / duration_s:.0%}) is harder than any of the {windows} "
        "sample windows (over twice their cost in the cheap pass): the predictions there are "
        "optimistic; use more --samples, or probe it whole (--full-pass-below)"
    )


def analyze(
    source: str,
    settings: Settings,
    ffmpeg: FfmpegInfo,
    *,
    on_event: EventSink = ignore_event,
    executor: Any | None = None,
    title: str | None = None,
) -> TitleResult:
    """Analyse one title and return its ladder.

    Raises:
        InputError: the title cannot be read.
        FfmpegError: an encode or a metric pass failed.
        HullError: the measurements do not form a usable hull.
    """
    t_start = time.perf_counter()
    ffmpeg.require_encoder(settings.codec_defaults.encoder)
    ffmpeg.require_libvmaf()
    info = probe(source)
    on_event(
        Event("stage", f"{source}: {info.width}x{info.height}, {info.fps:.3g} fps, {info.duration_s:.1f} s")
    )
    if info.interlaced:
        on_event(Event("notice", INTERLACED_WARNING))
    above = heights_above_source(info, settings)
    if above:
        listed = ", ".join(str(h) for h in above)
        on_event(
            Event(
                "notice",
                f"--heights {listed}: above the source's {info.height}p, not probed (never upscaled)",
            )
        )
    specs = plan_grid(info, settings)
    _check_sizes_for_the_codec(source, info, settings, specs)  # before any encode, the complexity pass too
    cache = ResultCache(settings.cache_dir, enabled=settings.use_cache)
    windows, full_pass, _ = plan_windows(info, settings)
    if not full_pass and settings.sample_selection == "complexity":
        on_event(
            Event(
                "stage", "measuring where the title is hard to encode (one cheap pass) to place the samples"
            )
        )
        complexity = title_complexity(info, settings, ffmpeg, cache)
        windows, full_pass, placement = plan_windows(info, settings, complexity)
        missed = unprobed_hard_s(complexity, windows, settings.sample_duration_s, info.duration_s)
        if not full_pass and missed >= UNPROBED_HARD_SHARE * info.duration_s:
            on_event(Event("notice", _unprobed_hard_line(missed, info.duration_s, len(windows))))
        if placement != "complexity":
            # Too few whole stretches to rank: the windows stayed evenly spaced, and the ladder
            # document (and the report) must say so.
            settings = dataclasses.replace(settings, sample_selection="even")
    t_probe = time.perf_counter() - t_start
    runner = Runner(info, windows, full_pass, settings, ffmpeg, cache, on_event, executor)
    try:
        # Stage times exclude the lossless reference's decode, which `prepare_s` reports.
        t0, prepared = time.perf_counter(), runner.prepare_s
        if settings.fast:
            sizes = plan_resolutions(info, settings)
            measured = probe_fast(runner, info, settings, specs, sizes)
            measured, points = refine_fast(runner, settings, specs, measured, sizes)
        else:
            measured = runner.run(specs, f"encoding and scoring {len(specs)} probe encodes")
            points = points_of(measured)
        if settings.crfs is None:  # --crfs given: probed as given
            measured, points = below_cheapest_probes(runner, settings, measured, points, info.height)
        t_grid = time.perf_counter() - t0 - (runner.prepare_s - prepared)
        hull = upper_hull(points, settings.metric)
        plan = select_rungs(points, settings.constraints, settings.metric, source_height=info.height)
        if not plan.targets:
            raise HullError(f"{source}: no rung could be placed on the hull; widen --crfs or the constraints")
        t0, prepared = time.perf_counter(), runner.prepare_s
        if settings.calibrate:
            rungs = calibrate(runner, settings, plan.targets, points)
            plan, rungs = reach_ceiling(runner, settings, points, plan, rungs, source_height=info.height)
            rungs, dropped = rising_deployed(rungs, settings.metric)
            vbv = settings.codec_defaults.strict_two_pass_vbv or settings.deploy_rate_control != "abr2pass"
            peaks = over_peak(rungs, vbv)
            off = off_target(rungs) if settings.deploy_rate_control == "capped_crf" else []
            plan = dataclasses.replace(plan, gave_way=(*plan.gave_way, *dropped, *peaks, *off))
        else:
            rungs = uncalibrated_rungs(settings, plan)
        t_cal = time.perf_counter() - t0 - (runner.prepare_s - prepared)
    finally:
        runner.close()
    c = settings.constraints
    ladder = Ladder(rungs=tuple(rungs), gave_way=plan.gave_way)
    total = time.perf_counter() - t_start
    return TitleResult(
        title=title or utf8_text(Path(source).stem),
        source=info,
        settings=settings_document(settings, runner.model, c, runner.n_subsample),
        tool={
            "pertitle": __version__,
            "ffmpeg": ffmpeg.version,
            "ffmpeg_path": ffmpeg.path,
            "encoder": str(runner._key_base["encoder"]),
        },
        samples=windows,
        full_pass=full_pass,
        points=points,
        hull=hull,
        ladder=ladder,
        timings=Timings(
            probe_s=round(t_probe, 3),
            prepare_s=round(runner.prepare_s, 3),
            encode_measure_s=round(t_grid, 3),
            calibrate_s=round(t_cal, 3),
            total_s=round(total, 3),
        ),
        encodes=runner.encodes,
        cache_hits=runner.cache_hits,
    )


def _check_sizes_for_the_codec(
    source: str, info: MediaInfo, settings: Settings, specs: Sequence[EncodeSpec]
) -> None:
    """Refuse up front a size the codec's rate control will not take, rather than fail the
    rungs' two-pass encodes after every probe (exit 2, not 1)."""
    d = settings.codec_defaults
    small = too_small_for_the_codec(specs, settings)
    if not small:
        return
    names = [name for name, c in CODECS.items() if c.min_side <= min(small[0])]
    others = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
    if min(info.width, info.height) < d.min_side:
        what, fix = f"this title is {info.width}x{info.height}", f"use --codec {others}"
    else:
        sizes = ", ".join(f"{w}x{h}" for w, h in small)
        what, fix = f"the grid has {sizes}", f"leave those heights out of --heights, or use --codec {others}"
    raise InputError(f"{source}: {d.encoder} needs a picture at least {d.min_side} px a side; {what}: {fix}")


def settings_document(
    settings: Settings, model: str, constraints: Any, vmaf_subsample: int | None = None
) -> dict[str, object]:
    """The result-affecting settings, as written into the ladder document.

    `vmaf_subsample` is the frame step the probes were scored at, when known: `--fast` scores
    fewer frames only where enough are left (`fast_subsample`)."""
    return {
        "codec": settings.codec,
        "encoder": settings.codec_defaults.encoder,
        "preset": settings.effective_preset,
        "heights": list(settings.heights) if settings.heights else None,
        "crfs": [float(c) for c in settings.effective_crfs],
        "sample_count": settings.sample_count,
        "sample_duration_s": settings.sample_duration_s,
        "sample_selection": settings.sample_selection,
        "full_pass_below_s": settings.full_pass_below_s,
        "scaler": settings.scaler,
        "vmaf_model": model,
        "metric": settings.metric,
        "fast": settings.fast,
        "calibrate": settings.calibrate,
        "vmaf_subsample": vmaf_subsample
        if vmaf_subsample is not None
        else (settings.fast_subsample if settings.fast else 1),
        "gop_s": settings.gop_s,
        "rate_control": rate_control_text(settings),
        "deploy_rate_control": settings.deploy_rate_control,
        "constraints": dataclasses.asdict(constraints),
    }
