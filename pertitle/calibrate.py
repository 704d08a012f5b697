"""The deployed-encode check: each chosen rung encoded as it will be deployed (two-pass or
capped CRF with VBV) on the probed part of the title, at the share of the bits it gets within
the whole title where the title was sampled, and scored; its score is the rung's prediction."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from pertitle.config import IN_CONTEXT_PRESETS, Settings
from pertitle.jobs import InContextJob, InContextRates, run_in_context
from pertitle.ladder import select_rungs
from pertitle.models import EncodeSpec, LadderPlan, Measurement, Quality, RdPoint, Rung, counted
from pertitle.plan import deployed_spec
from pertitle.probes import Event, Runner


def _quality(m: Measurement) -> Quality:
    return Quality(
        vmaf=m.vmaf, psnr=m.psnr, ssim=m.ssim, vmaf_hmean=m.vmaf_hmean, vmaf_p1=m.vmaf_p1, vmaf_p5=m.vmaf_p5
    )


def calibrate(
    runner: Runner,
    settings: Settings,
    targets: Sequence[Any],
    points: Sequence[RdPoint] = (),
    *,
    why: str = "",
) -> list[Rung]:
    """Encode each chosen rung the way it will be deployed (two-pass, VBV) on the probed part of
    the title and take that score as the prediction: CRF probes overstate what a capped
    average-bitrate encode reaches, and a ladder is judged on the deployed encode.

    On sampled windows of a long title, a two-pass at the rung's bitrate gives the windows the
    whole budget, while within the title they get their share of it: the hard parts outside them
    take more. So the windows are encoded at the bitrate a two-pass of the whole title gives them
    (`in_context_rates`), and the prediction's bitrate is the title's.

    A capped-CRF rung whose encode misses its bitrate is encoded again at a CRF aimed at it
    (`_re_aim_capped`), from the resolution's curve in `points`."""
    specs = {t: _deployed_at(settings, t, round(t.crf, 2)) for t in targets}
    how = "two-pass" if settings.deploy_rate_control == "abr2pass" else "capped-CRF"
    label = f"{why}checking {counted(len(specs), 'rung')} with deployed {how} encodes"
    checked = _check(runner, settings, specs, label)
    if settings.deploy_rate_control == "capped_crf":
        specs, checked = _re_aim_capped(runner, settings, specs, checked, points)
    rungs = []
    for t, spec in specs.items():
        m, title_kbps, title_peak = checked[t]
        rungs.append(
            Rung(
                width=t.width,
                height=t.height,
                bitrate_kbps=t.bitrate_kbps,
                maxrate_kbps=float(spec.maxrate_kbps or 0),
                bufsize_kbps=float(spec.bufsize_kbps or 0),
                codec=settings.codec,
                preset=settings.effective_preset,
                # Capped CRF: the CRF that is deployed (whole where the encoder's is).
                crf=spec.crf if spec.crf is not None else round(t.crf, 2),
                predicted=_quality(m),
                hull_predicted=t.hull_predicted,
                vmaf_per_frame=m.vmaf_per_frame,
                predicted_bitrate_kbps=round(title_kbps, 3),
                predicted_peak_kbps=round(title_peak, 3),
            )
        )
    return rungs


def _deployed_at(settings: Settings, t: Any, crf: float) -> EncodeSpec:
    c = settings.constraints
    return deployed_spec(
        settings,
        t.width,
        t.height,
        t.bitrate_kbps,
        round(t.bitrate_kbps * c.maxrate_factor),
        round(t.bitrate_kbps * c.bufsize_factor),
        crf=crf,
    )


# target -> (the deployed encode's measurement, the title's average and peak kbps in it)
Checked = dict[Any, tuple[Measurement, float, float]]


def _check(runner: Runner, settings: Settings, specs: dict[Any, EncodeSpec], label: str) -> Checked:
    """Each target's deployed encode on the probed part of the title, with the title's average
    and peak bitrate under it (the encode's own where the title is probed whole)."""
    if runner.full_pass:
        measured = runner.run(list(specs.values()), label)
        return {
            t: (measured[spec], measured[spec].bitrate_kbps, measured[spec].peak_bitrate_kbps)
            for t, spec in specs.items()
        }
    rates = in_context_rates(runner, settings, list(specs.values()))
    if settings.deploy_rate_control != "abr2pass":
        # Capped CRF: the windows' encode reaches the quality the rung's CRF gives them inside the
        # title, but spends what the windows need; the title's average and peak are the title's.
        measured = runner.run(list(specs.values()), label)
        by_target = {t: measured[spec] for t, spec in specs.items()}
    else:
        # The windows' encode runs at their share of the budget: its peak is not the title's.
        by_target = _windows_at_their_share(
            runner, specs, {t: rates[spec].windows_kbps for t, spec in specs.items()}, label
        )
    return {t: (by_target[t], rates[spec].title_kbps, rates[spec].peak_kbps) for t, spec in specs.items()}


# A capped-CRF encode spends what its CRF takes, capped by the VBV; libvpx's constrained quality
# also moves its quantizer with `-b:v` (the cap), and VP9 rungs at the hull's CRF landed 30% under
# their targets on a traffic cut (and 10-35% over on noise). A rung further than this from its
# bitrate is encoded again at a CRF aimed at it, at most `CAPPED_RE_AIMS` times.
CAPPED_RATE_TOLERANCE = 0.05
CAPPED_RE_AIMS = 2


def _re_aim_capped(
    runner: Runner,
    settings: Settings,
    specs: dict[Any, EncodeSpec],
    checked: Checked,
    points: Sequence[RdPoint],
) -> tuple[dict[Any, EncodeSpec], Checked]:
    """Capped-CRF rungs moved to a CRF whose deployed encode lands near the rung's bitrate: first
    by the resolution's CRF curve (the deployed encode spends a share of what the probe at its CRF
    spent; the new CRF is where the probe spends the target over that share), then by the secant
    through the deployed encodes. Each rung keeps the encode that landed nearest."""
    whole = settings.codec_defaults.whole_crfs
    specs, checked = dict(specs), dict(checked)
    tried: dict[Any, list[tuple[float, float]]] = {
        t: [(float(spec.crf or 0.0), checked[t][1])] for t, spec in specs.items()
    }
    for round_no in range(CAPPED_RE_AIMS):
        again: dict[Any, EncodeSpec] = {}
        for t in specs:
            if _miss(checked[t][1], t.bitrate_kbps) <= CAPPED_RATE_TOLERANCE:
                continue
            curve = _log_rate_curve(points, t.width, t.height)
            crf = _aimed_crf(tried[t], t.bitrate_kbps, curve, first=round_no == 0)
            if crf is None:
                continue
            # Within the CRFs probed: past them the curve is a guess, and where the cap binds
            # (libvpx spends at most about its `-b:v`) a secant runs off towards CRF 0.
            lo, hi = _probed_crfs(curve, settings.codec_defaults.crf_range)
            crf = min(hi, max(lo, float(round(crf)) if whole else round(crf, 2)))
            if any(abs(crf - c) < 1e-9 for c, _ in tried[t]):
                continue
            again[t] = _deployed_at(settings, t, crf)
        if not again:
            break
        label = f"re-aiming {counted(len(again), 'capped-CRF rung')} at their bitrates"
        for t, result in _check(runner, settings, again, label).items():
            tried[t].append((float(again[t].crf or 0.0), result[1]))
            if _miss(result[1], t.bitrate_kbps) < _miss(checked[t][1], t.bitrate_kbps):
                specs[t], checked[t] = again[t], result
    return specs, checked


def _miss(kbps: float, target_kbps: float) -> float:
    return abs(kbps / target_kbps - 1) if kbps > 0 and target_kbps > 0 else math.inf


def _log_rate_curve(points: Sequence[RdPoint], width: int, height: int) -> list[tuple[float, float]]:
    """(crf, log kbps) of one resolution's probes, by CRF, measured ones only. Pure."""
    by_crf = {
        p.crf: math.log(p.bitrate_kbps)
        for p in points
        if p.width == width and p.height == height and not p.estimated and p.bitrate_kbps > 0
    }
    return sorted(by_crf.items())


def _aimed_crf(
    tried: Sequence[tuple[float, float]],
    target_kbps: float,
    curve: Sequence[tuple[float, float]],
    *,
    first: bool,
) -> float | None:
    """The CRF to try next for `target_kbps`, from (crf, kbps landed) so far: on the first try the
    probe curve shifted by what the deployed encode spent against the probe at its CRF; after
    that the secant through the last two tries. None when there is nothing to go by. Pure."""
    goal = math.log(target_kbps)
    if not first and len(tried) >= 2:
        (c0, r0), (c1, r1) = tried[-2], tried[-1]
        if r0 <= 0 or r1 <= 0 or math.log(r1) == math.log(r0) or c1 == c0:
            return None
        return c1 + (goal - math.log(r1)) * (c1 - c0) / (math.log(r1) - math.log(r0))
    if len(curve) < 2 or not tried or tried[-1][1] <= 0:
        return None
    crf, landed = tried[-1]
    share = math.log(landed) - _interpolate(curve, crf)
    return _crf_at(curve, goal - share)


def _probed_crfs(curve: Sequence[tuple[float, float]], crf_range: tuple[float, float]) -> tuple[float, float]:
    lo, hi = crf_range
    if not curve:
        return lo, hi
    return max(lo, curve[0][0]), min(hi, curve[-1][0])


def _interpolate(curve: Sequence[tuple[float, float]], crf: float) -> float:
    """log kbps at `crf`, linear between the curve's CRFs and along its end segments beyond. Pure."""
    i = next((k for k in range(1, len(curve) - 1) if crf < curve[k][0]), len(curve) - 1)
    (c0, l0), (c1, l1) = curve[i - 1], curve[i]
    return l0 + (crf - c0) * (l1 - l0) / (c1 - c0)


def _crf_at(curve: Sequence[tuple[float, float]], log_kbps: float) -> float | None:
    """The CRF where the curve spends `log_kbps`, the inverse of `_interpolate` on a curve that
    falls with CRF (None where a segment does not fall). Pure."""
    falling = [(-lk, c) for c, lk in curve]  # rises with CRF: search it as (-log kbps) -> crf
    x = -log_kbps
    i = next((k for k in range(1, len(falling) - 1) if x < falling[k][0]), len(falling) - 1)
    (x0, c0), (x1, c1) = falling[i - 1], falling[i]
    if x1 <= x0:
        return None
    return c0 + (x - x0) * (c1 - c0) / (x1 - x0)


# Two-pass encodes of a few seconds miss their target (by +5% on 12 s of windows at 100 kbps), so a
# windows' encode that lands further than this from the bitrate they get within the title is
# encoded once more, at a target corrected by that miss.
IN_CONTEXT_RATE_TOLERANCE = 0.03


def _windows_at_their_share(
    runner: Runner, specs: dict[Any, EncodeSpec], windows_kbps: dict[Any, float], label: str
) -> dict[Any, Measurement]:
    """Each rung's deployed encode of the windows, at the bitrate the windows get within the title
    (its VBV kept: maxrate and bufsize are absolute limits, the same inside the title)."""

    def at(t: Any, kbps: float) -> EncodeSpec:
        return dataclasses.replace(specs[t], bitrate_kbps=float(max(1, round(kbps))))

    # Windows the whole-title pass spent (next to) nothing on: 1 kbps, the least an encoder takes.
    windows_kbps = {t: max(1.0, kbps) for t, kbps in windows_kbps.items()}
    first = {t: at(t, windows_kbps[t]) for t in specs}
    measured = runner.run(list(first.values()), label)
    chosen = {t: measured[spec] for t, spec in first.items()}
    retry = {}
    for t, spec in first.items():
        landed = chosen[t].bitrate_kbps
        if landed > 0 and abs(landed / windows_kbps[t] - 1) > IN_CONTEXT_RATE_TOLERANCE:
            retry[t] = at(t, (spec.bitrate_kbps or 0) * windows_kbps[t] / landed)
    if retry:
        again = runner.run(list(retry.values()), f"re-aiming {len(retry)} of them at the windows' bitrate")
        for t, spec in retry.items():
            miss_before = abs(chosen[t].bitrate_kbps / windows_kbps[t] - 1)
            if abs(again[spec].bitrate_kbps / windows_kbps[t] - 1) < miss_before:
                chosen[t] = again[spec]
    return chosen


def in_context_rates(
    runner: Runner, settings: Settings, specs: Sequence[EncodeSpec]
) -> dict[EncodeSpec, InContextRates]:
    """spec -> what an encode of the whole title at the spec's bitrate (or CRF) and VBV spends
    (average, sampled windows' average, peak segment); a two-pass with a faster preset where one
    is known to split the bits as the real one does (`config.IN_CONTEXT_PRESETS`). The title is decoded once
    per pass for all specs (or per `memory_chunks` of them, for large sizes). Cached by content,
    per spec, like every measurement.

    Raises:
        FfmpegError: the title cannot be decoded or encoded.
    """
    # The stand-in preset splits a two-pass budget as the real one does; at a CRF it would spend
    # other bits, so a capped-CRF rung is encoded at its own preset.
    fast = {
        spec: dataclasses.replace(spec, preset=IN_CONTEXT_PRESETS.get(spec.codec, spec.preset))
        if spec.rate_control == "abr2pass"
        else spec
        for spec in specs
    }
    rates: dict[EncodeSpec, InContextRates] = {}
    fields = ("title_kbps", "windows_kbps", "peak_kbps")
    for spec, stand_in in fast.items():
        hit = runner.cache.get(runner.in_context_key(stand_in))
        if hit is not None and _usable_rates(hit, fields):
            rates[spec] = InContextRates(*(float(hit[k]) for k in fields))
    # Only the rungs not met before (a re-planned ladder shares most of its rungs) are encoded.
    misses = [spec for spec in specs if spec not in rates]
    if misses:
        runner.on_event(
            Event(
                "stage",
                f"reading what the encodes of {counted(len(misses), 'rung')} spend on the whole title, "
                "and where",
            )
        )
    for chunk in memory_chunks(misses):
        job = InContextJob(
            ffmpeg=runner.ffmpeg.path,
            source=runner.info.path,
            specs=tuple(fast[spec] for spec in chunk),
            windows=runner.windows,
            duration_s=runner.info.duration_s,
            fps=runner.info.fps,
            workdir=runner.workdir,
            timeout_s=runner.settings.encode_timeout_s,
            keyframes_timed=runner.info.frame_rate_varies,  # the whole title, as deployed
        )
        for spec, rate in zip(chunk, run_in_context(job), strict=True):
            rates[spec] = rate
            entry = {k: getattr(rate, k) for k in fields}
            runner.cache.put(runner.in_context_key(fast[spec]), entry)
    return rates


def _usable_rates(entry: dict[str, Any], fields: Sequence[str]) -> bool:
    """Whether a cached in-context entry holds every rate, finite and positive; a peak may be 0.0
    (a title with no time span has none), or such a title is encoded again on every run."""
    for k in fields:
        v = entry.get(k)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v < math.inf:
            return False
        if v == 0 and k != "peak_kbps":
            return False
    return True


def memory_chunks(
    specs: Sequence[EncodeSpec], budget_bytes: float = 2e9, frames_in_flight: int = 40
) -> list[tuple[EncodeSpec, ...]]:
    """Consecutive runs of `specs` whose encoders together hold at most `budget_bytes` of frames
    (each about `frames_in_flight` 4:2:0 frames of its size: lookahead, B-frames, references),
    at least one spec each: a ladder of 4K rungs is not encoded in one process. Pure."""
    chunks: list[tuple[EncodeSpec, ...]] = []
    current: list[EncodeSpec] = []
    held = 0.0
    for spec in specs:
        need = spec.width * spec.height * 1.5 * frames_in_flight
        if current and held + need > budget_bytes:
            chunks.append(tuple(current))
            current, held = [], 0.0
        current.append(spec)
        held += need
    if current:
        chunks.append(tuple(current))
    return chunks


def reach_ceiling(
    runner: Runner,
    settings: Settings,
    points: Sequence[RdPoint],
    plan: LadderPlan,
    rungs: list[Rung],
    *,
    source_height: int | None = None,
) -> tuple[LadderPlan, list[Rung]]:
    """When the deployed top rung falls well short of the quality ceiling the hull promised (screen
    content under VBV loses most: its bits sit in keyframes that the buffer caps), plan the ladder
    once more for a ceiling raised by that shortfall and keep it if its top rung gets closer."""
    c, metric = settings.constraints, settings.metric
    top = rungs[-1]
    reached = getattr(top.predicted, metric)
    shortfall = getattr(top.hull_predicted, metric) - reached
    if shortfall <= 1.0 or reached >= c.quality_ceiling - 1.0 or top.bitrate_kbps >= c.max_bitrate_kbps:
        return plan, rungs
    raised = dataclasses.replace(c, quality_ceiling=min(100.0, c.quality_ceiling + shortfall))
    plan2 = select_rungs(points, raised, metric, source_height=source_height)
    if not plan2.targets or plan2.targets[-1].bitrate_kbps <= top.bitrate_kbps * 1.05:
        return plan, rungs
    # Said, or the same stage line twice read as a loop.
    why = (
        f"re-planned for {metric} {raised.quality_ceiling:.1f} on the hull "
        f"(the top rung fell {shortfall:.1f} short): "
    )
    rungs2 = calibrate(runner, settings, plan2.targets, points, why=why)
    if getattr(rungs2[-1].predicted, metric) <= reached:
        return plan, rungs
    note = (
        f"quality_ceiling: deployed encodes reach {shortfall:.1f} {metric} less than the CRF hull at the "
        f"top rung, so the ladder was planned for {raised.quality_ceiling:.1f} on the hull to come closer "
        f"to {c.quality_ceiling:g} deployed"
    )
    return dataclasses.replace(plan2, gave_way=(*plan2.gave_way, note)), rungs2


def uncalibrated_rungs(settings: Settings, plan: Any) -> list[Rung]:
    c = settings.constraints
    return [
        Rung(
            width=t.width,
            height=t.height,
            bitrate_kbps=t.bitrate_kbps,
            maxrate_kbps=round(t.bitrate_kbps * c.maxrate_factor),
            bufsize_kbps=round(t.bitrate_kbps * c.bufsize_factor),
            codec=settings.codec,
            preset=settings.effective_preset,
            crf=round(t.crf, 2),
            predicted=t.hull_predicted,
            hull_predicted=t.hull_predicted,
        )
        for t in plan.targets
    ]
