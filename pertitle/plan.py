"""Pure planning: which parts of the title to probe and which encodes to run."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from pertitle.config import STANDARD_HEIGHTS, Settings
from pertitle.errors import ConfigError, InputError
from pertitle.models import EncodeSpec, MediaInfo, RateControl, Resolution, Rung, SampleWindow


class WindowPlan(NamedTuple):
    """What to probe: `windows`, whether they are the whole title (`full_pass`), and how they were
    placed (`placement`: "whole", "complexity" or "even"), which the ladder document reports."""

    windows: tuple[SampleWindow, ...]
    full_pass: bool
    placement: str


def plan_windows(
    info: MediaInfo, settings: Settings, complexity: Sequence[float] | None = None
) -> WindowPlan:
    """The whole title (returned as one window) when it is short or the samples would cover most
    of it anyway; else sample windows, chosen by `complexity` when given (see
    `windows_by_complexity`), evenly spaced otherwise, or when too few stretches to rank."""
    duration = info.duration_s
    total = settings.sample_count * settings.sample_duration_s
    if duration <= settings.full_pass_below_s or total >= settings.full_pass_coverage * duration:
        return WindowPlan((SampleWindow(0, 0.0, round(duration, 3)),), True, "whole")
    if complexity is not None:
        picked = windows_by_complexity(complexity, settings.sample_count, settings.sample_duration_s)
        if picked:
            return WindowPlan(picked, False, "complexity")
    span = duration / settings.sample_count
    windows = []
    for i in range(settings.sample_count):
        centre = (i + 0.5) * span
        start = min(max(0.0, centre - settings.sample_duration_s / 2), duration - settings.sample_duration_s)
        windows.append(SampleWindow(i, round(start, 3), round(settings.sample_duration_s, 3)))
    return WindowPlan(tuple(windows), False, "even")


def windows_by_complexity(
    bytes_per_window: Sequence[float], count: int, window_s: float
) -> tuple[SampleWindow, ...]:
    """Sample windows that represent the title's mix of easy and hard parts.

    `bytes_per_window[i]` is what the i-th `window_s`-long stretch of the title cost in a cheap
    fixed-quality pass (its complexity). The stretches are ranked by log complexity and cut into
    `count` strata of (nearly) equal size; from each, the stretch closest to the stratum's mean is
    taken, so the windows hold the title's mix of easy and hard parts. Evenly spaced windows can
    all land in hard scenes: on a 30 s animation they made every prediction pessimistic, by up to
    5.9 VMAF at the lowest rung. Returns () when there are not more stretches than windows (the
    caller spaces them evenly). Pure.
    """
    if count < 1 or len(bytes_per_window) <= count:
        return ()
    logs = [math.log1p(max(0.0, b)) for b in bytes_per_window]
    ranked = sorted(range(len(logs)), key=lambda i: (logs[i], i))
    chosen = []
    base, extra = divmod(len(ranked), count)
    at = 0
    for k in range(count):
        size = base + (1 if k < extra else 0)
        stratum = ranked[at : at + size]
        at += size
        mean = sum(logs[i] for i in stratum) / len(stratum)
        # Costs within 1% of each other are a tie, settled towards the k-th of `count` equal spans
        # of the title, so a uniform title still gets spread-out windows.
        centre = (k + 0.5) / count * len(logs) - 0.5
        chosen.append(min(stratum, key=lambda i: (round(abs(logs[i] - mean), 2), abs(i - centre), i)))
    return tuple(
        SampleWindow(n, round(i * window_s, 3), round(window_s, 3)) for n, i in enumerate(sorted(chosen))
    )


# A stretch whose cheap-pass cost per second is over this many times that of every window's
# stretch is harder than anything probed (`unprobed_hard_s`).
UNPROBED_COST_RATIO = 2.0


def unprobed_hard_s(
    bytes_per_window: Sequence[float], windows: Sequence[SampleWindow], window_s: float, duration_s: float
) -> float:
    """Seconds of the title whose cost per second in the cheap pass (`bytes_per_window[i]` for the
    i-th `window_s` stretch, the last one as long as what is left) is over `UNPROBED_COST_RATIO`
    times every window's: harder than anything probed, so the predictions are optimistic there.
    Two windows over 3 s of flat colour, 3 s of pattern and 2 s of noise took the colour and the
    pattern, and the ladder was predicted 17 VMAF above what it measured. Easier parts than every
    window only make the predictions pessimistic, and are not counted. Pure."""
    if window_s <= 0 or not windows or not bytes_per_window:
        return 0.0
    last = len(bytes_per_window) - 1

    def rate(i: int) -> tuple[float, float]:
        length = min(window_s, max(0.0, duration_s - i * window_s)) if i == last else window_s
        return math.log1p(max(0.0, bytes_per_window[i]) * window_s / length) if length > 0 else 0.0, length

    taken = {round(w.start_s / window_s) for w in windows}
    costs = [rate(i)[0] for i in taken if 0 <= i < len(bytes_per_window)]
    if not costs:
        return 0.0
    hardest = max(costs) + math.log(UNPROBED_COST_RATIO)
    return sum(length for cost, length in map(rate, range(len(bytes_per_window))) if cost > hardest)


def even(x: float) -> int:
    """The nearest even number, halves up as ffmpeg rounds (405.0 -> 406), at least 2."""
    return max(2, math.floor(x / 2.0 + 0.5) * 2)


WIDE_ASPECT = 16 / 9 * 1.01


def heights_above_source(info: MediaInfo, settings: Settings) -> tuple[int, ...]:
    """The `--heights` that `plan_resolutions` leaves out: a probe is never upscaled."""
    return tuple(h for h in settings.heights or () if h > info.height)


def plan_resolutions(info: MediaInfo, settings: Settings) -> tuple[Resolution, ...]:
    """Standard heights at or below the source plus the source's own height; widths keep the
    source's aspect, rounded to the nearest even number (4:2:0 needs them; `fit_into_box`). A
    source wider than 16:9, or a portrait one, gets the sizes it takes when fitted into the
    standard 16:9 boxes instead (turned portrait for a portrait source), as reference ladders
    deploy it (`reference.cap_to_source`, by the same rule).

    Raises:
        ConfigError: every requested height is above the source.
    """
    if settings.heights is not None:
        above = heights_above_source(info, settings)
        heights = sorted({h for h in settings.heights if h not in above})
        if not heights:
            asked = ", ".join(str(h) for h in settings.heights)
            raise ConfigError(f"heights: none of {asked} is at or below the source height {info.height}")
    elif info.display_aspect > WIDE_ASPECT or info.display_aspect < 1:
        # Wider than 16:9: standard ladders are 16:9 boxes, and a wide picture fitted into them is
        # shorter than the box (a 2:1 title gets 416x208 in the 416x234 box). Probe those sizes: at
        # low bitrates they beat the taller standard heights, which hold more pixels. Portrait: the
        # boxes turn portrait, so the standard heights are the short side (a 3:4 phone video gets
        # 234x312 ... 720x960, where standard heights as its long side gave 176x234 ... 810x1080:
        # smaller than the fixed ladder's rungs, and no size between 810x1080 and 1080x1440).
        boxes = [(even(h * 16 / 9), h) for h in STANDARD_HEIGHTS]
        if info.display_aspect < 1:
            boxes = [(h, w) for w, h in boxes]
        fitted = {fit_into_box(info.width, info.height, w, h) for w, h in boxes}
        source = Resolution(info.width, info.height)
        smaller = {r for r in fitted if r.width < info.width and r.height < info.height}
        return tuple(sorted(smaller | {source}, key=lambda r: r.height))
    else:
        heights = sorted({h for h in STANDARD_HEIGHTS if h <= info.height} | {info.height})
    # Each height is a box as wide as the source: ffmpeg's `scale=-2:H`, the source's own size at H.
    return tuple(fit_into_box(info.width, info.height, info.width, h) for h in heights)


def fit_into_box(source_width: int, source_height: int, box_width: int, box_height: int) -> Resolution:
    """The size a source takes in a box: scaled to fit, keeping its aspect, never upscaled, each
    side rounded to the nearest even number. This is ffmpeg's own box fit
    (`scale=W:H:force_original_aspect_ratio=decrease:force_divisible_by=2`: 2048x1080 in the
    416x234 box gives 416x220), so the probes and a fixed ladder deployed for the same source
    (`reference.cap_to_source`) get the same sizes; a source inside the box keeps its own size."""
    scale = min(box_width / source_width, box_height / source_height)
    if scale >= 1:
        return Resolution(source_width, source_height)
    return Resolution(
        min(box_width, even(source_width * scale)), min(box_height, even(source_height * scale))
    )


def fast_first_sizes(sizes: Sequence[Resolution]) -> tuple[Resolution, ...]:
    """The sizes --fast probes first, at its coarse CRFs: every other one from the largest down,
    and always the smallest. The sizes between are read off their neighbours and measured only
    where they could join the hull (`estimate.between_sizes`, `estimate.nearest_to_hull`)."""
    ordered = sorted(set(sizes), key=lambda r: (r.height, r.width))
    first = set(ordered[::-1][::2]) | set(ordered[:1])
    return tuple(r for r in ordered if r in first)


def crf_past_the_grid(highest_measured: float, grid_crfs: Sequence[float], codec_max: float) -> float | None:
    """The CRF one grid step past `highest_measured` (the step between the grid's two highest
    CRFs, 4 for a lone CRF), clamped to `codec_max`; None when there is no room left. Pure.
    Always a float, as the grid's CRFs are: a cache key tells 51 from 51.0."""
    crfs = sorted(float(c) for c in grid_crfs)
    step = crfs[-1] - crfs[-2] if len(crfs) > 1 else 4.0
    crf = float(min(highest_measured + step, float(codec_max)))
    return crf if crf > highest_measured else None


def plan_grid(info: MediaInfo, settings: Settings) -> tuple[EncodeSpec, ...]:
    """The CRF probe encodes: every resolution x every CRF, cheapest first."""
    specs = []
    for res in plan_resolutions(info, settings):
        for crf in sorted(settings.effective_crfs, reverse=True):
            specs.append(
                EncodeSpec(
                    codec=settings.codec,
                    preset=settings.effective_preset,
                    width=res.width,
                    height=res.height,
                    rate_control="crf",
                    crf=float(crf),
                    gop_s=settings.gop_s,
                    scaler=settings.scaler,
                )
            )
    return tuple(specs)


def deployed_spec(
    settings: Settings,
    width: int,
    height: int,
    bitrate_kbps: float,
    maxrate_kbps: float,
    bufsize_kbps: float,
    *,
    crf: float | None = None,
) -> EncodeSpec:
    """The rendition as it will be deployed, the one place production settings are decided:
    `settings.deploy_rate_control` "abr2pass" is two-pass at the rung bitrate with its VBV;
    "capped_crf" is one pass at the rung's `crf` capped by the same VBV. Both use the codec,
    preset, scaler and fixed closed GOP of `settings`.

    Raises:
        ConfigError: capped CRF was chosen and no `crf` is given.
    """
    rate_control: RateControl = "abr2pass"
    if settings.deploy_rate_control == "capped_crf":
        if crf is None or not math.isfinite(crf):
            raise ConfigError(f"deploy_rate_control: capped_crf needs a CRF for the {width}x{height} rung")
        rate_control = "capped_crf"
        if settings.codec_defaults.whole_crfs:
            crf = float(round(crf))  # what the encoder would round it to: the spec says what runs
    return EncodeSpec(
        codec=settings.codec,
        preset=settings.effective_preset,
        width=width,
        height=height,
        rate_control=rate_control,
        crf=float(crf) if rate_control == "capped_crf" and crf is not None else None,
        # Floats always: the spec enters cache keys, and 150 and 150.0 would hash apart (analyze
        # computes these numbers, verify and compare read them back from the ladder document).
        bitrate_kbps=float(bitrate_kbps),
        maxrate_kbps=float(maxrate_kbps),
        bufsize_kbps=float(bufsize_kbps),
        gop_s=settings.gop_s,
        scaler=settings.scaler,
    )


def too_small_for_the_codec(specs: Sequence[EncodeSpec], settings: Settings) -> list[tuple[int, int]]:
    """The sizes among `specs` smaller than the codec's rate control takes (SVT-AV1 under 64 px a
    side refuses every bitrate-driven mode), in order. Pure."""
    side = settings.codec_defaults.min_side
    return sorted({(s.width, s.height) for s in specs if min(s.width, s.height) < side})


def check_rung_sizes(specs: Sequence[EncodeSpec], settings: Settings, where: str) -> None:
    """Refuse a ladder whose rungs the codec will not encode, before any encode (exit 2, not 1).

    Raises:
        InputError: naming `where` and the sizes.
    """
    small = too_small_for_the_codec(specs, settings)
    if small:
        d = settings.codec_defaults
        sizes = ", ".join(f"{w}x{h}" for w, h in small)
        raise InputError(
            f"{where}: {d.encoder} needs a picture at least {d.min_side} px a side; rung(s) {sizes} "
            "are smaller; leave them out of the ladder, or use another codec"
        )


def rung_spec(settings: Settings, rung: Rung) -> EncodeSpec:
    """The production encode of a ladder rung (`deployed_spec` with the rung's own numbers).

    Raises:
        ConfigError: as `deployed_spec`.
    """
    return deployed_spec(
        settings,
        rung.width,
        rung.height,
        rung.bitrate_kbps,
        rung.maxrate_kbps,
        rung.bufsize_kbps,
        crf=rung.crf,
    )


def vmaf_model_for(info: MediaInfo, settings: Settings) -> str:
    return settings.vmaf_model or default_vmaf_model(info.width, info.height)


def default_vmaf_model(width: int, height: int) -> str:
    """The model a title of this displayed size is scored with when none is chosen. Pure."""
    return "vmaf_4k_v0.6.1" if min(width, height) > 1440 else "vmaf_v0.6.1"


def coarse_crfs(crfs: Sequence[float]) -> tuple[float, ...]:
    """About every third CRF of the grid, evenly over its whole range and never fewer than three
    (18, 30, 42 of the default 18-42 step 4): enough for `--fast` to locate the hull, since it
    then measures every estimated point the hull runs through. Simulated on the full grids of
    the 13 clips of the README table and the 4 samples, this put the hull within 0.5% BD-rate of
    the full grid's for 52-86% of its encodes; every other CRF needed 64-86%, and on a CRF step of
    2 left sintel's hull 1.5% off, where every third was exact."""
    ordered = sorted({float(c) for c in crfs})
    n = len(ordered)
    if n <= 3:
        return tuple(ordered)
    count = max(3, round((n - 1) / 3) + 1)
    return tuple(ordered[round(i * (n - 1) / (count - 1))] for i in range(count))
