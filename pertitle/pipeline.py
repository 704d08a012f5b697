"""One title end to end: probe -> plan -> encode+measure -> hull -> ladder -> deployed-encode check.

It emits events for whoever draws progress and returns a TitleResult; it never prints.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pertitle import __version__
from pertitle.cache import ResultCache, fingerprint_file, make_key, utf8_text
from pertitle.config import CODECS, IN_CONTEXT_PRESETS, Settings
from pertitle.errors import FfmpegError, HullError, InputError
from pertitle.estimate import between_sizes, fill_skipped_crfs, nearest_to_hull
from pertitle.executors.local import LocalExecutor
from pertitle.ffmpeg.binary import FfmpegInfo, encoder_version
from pertitle.hull import upper_hull
from pertitle.jobs import (
    ComplexityJob,
    GroupJob,
    InContextJob,
    InContextRates,
    PrepareJob,
    prepare_reference,
    run_complexity,
    run_group,
    run_in_context,
)
from pertitle.ladder import over_peak, rising_deployed, select_rungs, uncovered_contenders
from pertitle.models import (
    METRIC_RANGES,
    EncodeSpec,
    Ladder,
    LadderPlan,
    Measurement,
    MediaInfo,
    Quality,
    RdPoint,
    Resolution,
    Rung,
    SampleWindow,
    Timings,
    TitleResult,
)
from pertitle.plan import (
    coarse_crfs,
    crf_past_the_grid,
    deployed_spec,
    fast_first_sizes,
    heights_above_source,
    plan_grid,
    plan_resolutions,
    plan_windows,
    unprobed_hard_s,
    vmaf_model_for,
)
from pertitle.probe import probe
from pertitle.workdir import make_workdir, remove_workdir

# Bump when a change in how points are produced would make old cache entries wrong.
PIPELINE_VERSION = 3  # 2: peak bitrate over 6 s segments; 3: SSIM from the ssim filter

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


@dataclass(frozen=True)
class Event:
    """Progress for the edge to render. kind: stage | planned | done | warning (a job failed) |
    notice (something about the title worth a warning line; nothing failed)."""

    kind: str
    message: str
    done: int = 0
    total: int = 0


EventSink = Callable[[Event], None]


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


def _reread_line(path: str) -> str:
    name = os.path.basename(path)
    return (
        f"seeking to the sample windows of {name} came back short (its index does not match its "
        "frames): they were read from the title's start instead, which is slower; a remux "
        f"(ffmpeg -i {name} -c copy fixed.mkv) makes probing it faster"
    )


def _ignore(_: Event) -> None:
    return None


def measurement_to_dict(m: Measurement) -> dict[str, Any]:
    d = dataclasses.asdict(m)
    d["vmaf_per_frame"] = list(m.vmaf_per_frame)
    return d


def measurement_from_dict(d: dict[str, Any]) -> Measurement:
    """A cached measurement, each field checked for its type: an entry holding something else
    (edited by hand, or written by a broken tool) raises here and is measured again, rather than
    failing later in arithmetic.

    Raises:
        ValueError: a field missing, or a value that is not a number (or a list of numbers).
    """
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Measurement):
        if f.name not in d:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"{f.name} is missing")
            continue
        value = d[f.name]
        if f.name == "vmaf_per_frame":
            if not isinstance(value, list | tuple):
                raise ValueError(f"vmaf_per_frame = {value!r} is not a list")
            values[f.name] = tuple(_number(f.name, v) for v in value)
        elif f.type in (int, "int"):
            values[f.name] = _count(f.name, value)
        else:
            values[f.name] = _number(f.name, value)
    bitrate = values.get("bitrate_kbps", 1.0)
    if not (math.isfinite(bitrate) and bitrate > 0):
        raise ValueError(f"bitrate_kbps = {bitrate!r}, which no encode measures")
    # Every metric in its range, as the ladder document's reader checks them: a hit outside it
    # would become a ladder that pertitle's own report and verify refuse.
    for name, (lo, hi) in METRIC_RANGES.items():
        value = values.get(name, lo)
        if not (math.isfinite(value) and lo <= value <= hi):
            raise ValueError(f"{name} = {value!r}, outside {lo:g}-{hi:g}")
    lo, hi = METRIC_RANGES["vmaf"]
    if any(not (math.isfinite(v) and lo <= v <= hi) for v in values.get("vmaf_per_frame", ())):
        raise ValueError(f"vmaf_per_frame holds a value outside {lo:g}-{hi:g}")
    return Measurement(**values)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} = {value!r} is not a number")
    return float(value)


def _count(name: str, value: Any) -> int:
    number = _number(name, value)
    if not (math.isfinite(number) and number >= 0):
        raise ValueError(f"{name} = {value!r} is not a count")
    return int(number)


class Runner:
    """Runs specs for one title: cache first, prepare the reference lazily, then the executor."""

    def __init__(
        self,
        info: MediaInfo,
        windows: tuple[SampleWindow, ...],
        full_pass: bool,
        settings: Settings,
        ffmpeg: FfmpegInfo,
        cache: ResultCache,
        on_event: EventSink,
        executor: Any | None = None,
    ) -> None:
        self.info = info
        self.windows = windows
        self.full_pass = full_pass
        self.settings = settings
        self.ffmpeg = ffmpeg
        self.cache = cache
        self.on_event = on_event
        self.cores = settings.effective_jobs()
        self.executor = executor or LocalExecutor(self.cores)
        self.model = vmaf_model_for(info, settings)
        # Under Settings.work_dir when set: with the Dask executor it must be a path every worker shares.
        if settings.work_dir:
            os.makedirs(settings.work_dir, exist_ok=True)
        self.workdir = make_workdir(settings.work_dir or None)
        self.reference: str | None = None
        # The executor decides how many specs share one process: 4 locally, 1 on Dask (each encode
        # and score is its own task, so one title spreads over the whole cluster).
        self.max_group = int(getattr(self.executor, "max_group", 4))
        self.n_subsample = 1
        self.memo: dict[EncodeSpec, Measurement] = {}
        self.encodes = 0
        self.cache_hits = 0
        self.prepare_s = 0.0
        enc = settings.codec_defaults.encoder
        revision = settings.codec_defaults.args_revision
        self._key_base = {
            "pipeline": PIPELINE_VERSION,
            "source": fingerprint_file(info.path),
            "windows": None if full_pass else [dataclasses.astuple(w) for w in windows],
            # Only where windows are cut and the video starts late, so every other key stays.
            **({"start_offset_s": info.start_offset_s} if info.start_offset_s and not full_pass else {}),
            # Windows of a container that does not seek exactly were cut wrong before revision 1,
            # and those of a late-starting video in one before revision 2 (timed from the file).
            **({"windows_read": 2} if not info.seeks_exactly and not full_pass else {}),
            "reference_size": [info.width, info.height],
            "ffmpeg": ffmpeg.version,
            # The revision only where there is one, so the other codecs' keys stay as they were.
            "encoder": f"{enc} {encoder_version(ffmpeg.path, enc)}"
            + (f" args {revision}" if revision else ""),
            "vmaf_model": self.model,
        }
        # What the decoder said of the whole title, kept so that a run served from the cache
        # (which decodes nothing) still says it; windows are not judged (`prepare_reference`).
        self._damage_key = (
            make_key({"decode_errors": 1, "source": self._key_base["source"]}) if full_pass else None
        )
        known = (self.cache.get(self._damage_key) or {}) if self._damage_key else {}
        damage = known.get("damage")
        self._damage_said = isinstance(damage, str) and bool(damage)
        if self._damage_said:
            self._say_damage(str(damage))

    def _say_damage(self, damage: str) -> None:
        self.on_event(
            Event(
                "notice",
                f"the title has damaged data ({damage}): it was probed as decoded, with the damage "
                "concealed; re-copy or re-export it if that is not how it should look",
            )
        )

    def close(self) -> None:
        remove_workdir(self.workdir)

    def group_limit_by_memory(self, budget_bytes: float = 1.5e9) -> int:
        """How many encodes may share a process: each holds about 60 source-size frames in flight
        (encoder lookahead plus the reference frames waiting for their scores), so a 4K title gets
        small groups. Bounded by the encoders' lookahead, never by the title's length."""
        frame_bytes = self.info.width * self.info.height * 1.5
        return max(1, int(budget_bytes // (60 * frame_bytes)))

    def key(self, spec: EncodeSpec) -> str:
        subsample = self.n_subsample if spec.rate_control == "crf" else 1
        return make_key({**self._key_base, "spec": dataclasses.asdict(spec), "n_subsample": subsample})

    def in_context_key(self, spec: EncodeSpec) -> str:
        """The key of `spec`'s whole-title rates (`in_context_rates`), apart from its measurements."""
        return make_key({"in_context": 2, **self._key_base, "spec": dataclasses.asdict(spec)})

    def _prepare(self) -> str:
        if self.reference is None:
            t0 = time.perf_counter()
            self.on_event(Event("stage", "decoding the probed part of the title once (lossless reference)"))
            job = PrepareJob(
                ffmpeg=self.ffmpeg.path,
                source=self.info.path,
                windows=None if self.full_pass else self.windows,
                width=self.info.width,
                height=self.info.height,
                out_path=os.path.join(self.workdir, "reference.mkv"),
                threads=self.cores,
                timeout_s=self.settings.encode_timeout_s,
                start_offset_s=self.info.start_offset_s,
                seek=self.info.seeks_exactly,
                fps=self.info.fps,
            )
            prepared = prepare_reference(job)
            self.reference, damage = prepared.path, prepared.damage
            self.prepare_s += time.perf_counter() - t0
            if prepared.reread_from_start:
                self.on_event(Event("notice", _reread_line(self.info.path)))
            if self._damage_key and damage:  # a clean title adds no entry
                self.cache.put(self._damage_key, {"damage": damage})
            if damage and not self._damage_said:
                self._say_damage(damage)
                self._damage_said = True
        return self.reference

    def run(
        self, specs: Sequence[EncodeSpec], label: str, *, require: Sequence[str] = ()
    ) -> dict[EncodeSpec, Measurement]:
        """Measure every spec; raises the first FfmpegError after the others have finished.

        A cached entry that lacks a field named in `require` (written before that field was
        measured, e.g. "peak_bitrate_kbps") is a miss and is measured again.
        """
        results: dict[EncodeSpec, Measurement] = {}
        misses: list[EncodeSpec] = []
        for spec in specs:
            if spec in self.memo:  # measured earlier in this run (matters with the cache off)
                results[spec] = self.memo[spec]
                continue
            cached = self.cache.get(self.key(spec))
            if cached is not None and all(name in cached for name in require):
                try:
                    results[spec] = measurement_from_dict(cached)
                    self.cache_hits += 1
                    continue
                except ValueError as exc:
                    warnings.warn(f"cache entry {self.key(spec)} holds {exc}; recomputing", stacklevel=2)
            misses.append(spec)
        total = len(specs)
        done = len(results)
        self.on_event(Event("planned", label, done, total))
        if not misses:
            return results
        reference = self._prepare()
        groups = group_specs(misses, self.cores, min(self.max_group, self.group_limit_by_memory()))
        workers = min(self.cores, len(groups))
        # For libvmaf and the decoders: the encoders run single-threaded (MEASURED_ENCODER_THREADS).
        threads = getattr(self.executor, "threads_per_job", None) or max(1, self.cores // workers)
        jobs = [
            GroupJob(
                ffmpeg=self.ffmpeg.path,
                reference=reference,
                ref_width=self.info.width,
                ref_height=self.info.height,
                fps=self.info.fps,
                specs=group,
                vmaf_model=self.model,
                workdir=self.workdir,
                threads=threads,
                timeout_s=self.settings.encode_timeout_s,
                n_subsample=self.n_subsample if group[0].rate_control == "crf" else 1,
            )
            for group in groups
        ]
        first_error: BaseException | None = None
        for job, group_result, error in self.executor.map_unordered(run_group, jobs):
            if error is not None or group_result is None:
                done += len(job.specs)
                first_error = first_error or error
                what = f"{len(job.specs)} encodes at {job.specs[0].width}x{job.specs[0].height}"
                # An ffmpeg failure already says which encodes failed (`jobs.run_group`).
                said = str(error) if isinstance(error, FfmpegError) else f"{what} failed: {error}"
                self.on_event(Event("warning", said, done, total))
                continue
            for spec, result in zip(job.specs, group_result, strict=True):
                done += 1
                self.encodes += 1
                self.cache.put(self.key(spec), measurement_to_dict(result))
                results[spec] = result
                self.memo[spec] = result
                message = f"{describe(spec)}: {result.bitrate_kbps:.0f} kbps, VMAF {result.vmaf:.1f}"
                self.on_event(Event("done", message, done, total))
        if first_error is not None:
            raise first_error
        return results


def whole_title_runner(
    info: MediaInfo,
    settings: Settings,
    ffmpeg: FfmpegInfo,
    *,
    on_event: EventSink = _ignore,
    executor: Any | None = None,
) -> Runner:
    """A Runner over the whole title as one window, for final renditions (verify, compare).

    Its cache keys are those of an analysis that probed the title whole, so the calibration
    encodes of a short title are reused. The caller closes it.
    """
    windows = (SampleWindow(0, 0.0, round(info.duration_s, 3)),)
    cache = ResultCache(settings.cache_dir, enabled=settings.use_cache)
    return Runner(info, windows, True, settings, ffmpeg, cache, on_event, executor)


def title_complexity(
    info: MediaInfo, settings: Settings, ffmpeg: FfmpegInfo, cache: ResultCache
) -> tuple[float, ...]:
    """Bytes per `sample_duration_s` stretch of the whole title in a cheap fixed-quality pass
    (`commands.complexity_argv`), cached by content.

    Raises:
        FfmpegError: the title cannot be decoded.
    """
    window_s = settings.sample_duration_s
    key = make_key(
        {"complexity": 1, "source": fingerprint_file(info.path), "bin_s": window_s, "ffmpeg": ffmpeg.version}
    )
    hit = cache.get(key)
    cached = hit.get("bytes") if hit is not None else None
    if isinstance(cached, list) and all(type(b) in (int, float) and 0 <= b < math.inf for b in cached):
        return tuple(float(b) for b in cached)
    job = ComplexityJob(
        ffmpeg=ffmpeg.path,
        source=info.path,
        bin_s=window_s,
        workdir=settings.work_dir,
        threads=settings.effective_jobs(),
        timeout_s=settings.encode_timeout_s,
    )
    per_bin = run_complexity(job)
    # Only whole stretches count: a short tail is no candidate window.
    whole = per_bin[: int(info.duration_s / window_s + 1e-9)]
    cache.put(key, {"bytes": list(whole)})
    return whole


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
    points = fill_skipped_crfs(_points(measured), settings.effective_crfs)
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
    points = fill_skipped_crfs(_points(measured), settings.effective_crfs)
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
    return measured, fill_skipped_crfs(_points(measured), settings.effective_crfs)


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
        points = _points(measured)
        if settings.fast:
            points = fill_skipped_crfs(points, settings.effective_crfs)
    return measured, points


def _points(measured: dict[EncodeSpec, Measurement]) -> tuple[RdPoint, ...]:
    return tuple(to_point(spec, m) for spec, m in sorted(measured.items(), key=_spec_order))


def fast_subsample(frames: int, most: int, keep: int = 60) -> int:
    """Score every n-th frame, but keep at least `keep` scored frames: a 2 s clip scored one frame
    in four has 12 left, and its mean moves by whole VMAF points (measured by `make bench`)."""
    return max(1, min(most, frames // keep))


def group_specs(specs: Sequence[EncodeSpec], cores: int, max_group: int) -> list[tuple[EncodeSpec, ...]]:
    """Specs of one size and rate-control family share a process (one decode of the reference);
    large groups are halved until every core has a group to run."""
    by_key: dict[tuple[int, int, bool], list[EncodeSpec]] = {}
    for spec in specs:
        by_key.setdefault((spec.width, spec.height, spec.rate_control == "abr2pass"), []).append(spec)
    groups: list[list[EncodeSpec]] = []
    for members in by_key.values():
        for i in range(0, len(members), max_group):
            groups.append(members[i : i + max_group])
    while len(groups) < cores:
        largest = max(groups, key=len)
        if len(largest) < 2:
            break
        groups.remove(largest)
        half = (len(largest) + 1) // 2
        groups += [largest[:half], largest[half:]]
    # Heaviest first, so the last group to finish is a small one.
    groups.sort(key=lambda g: -len(g) * g[0].width * g[0].height)
    return [tuple(g) for g in groups]


def describe(spec: EncodeSpec) -> str:
    if spec.rate_control == "crf":
        rate = f"crf {spec.crf:g}"
    elif spec.rate_control == "capped_crf":
        rate = f"capped crf {spec.crf:g} ({spec.bitrate_kbps:.0f} kbps)"
    else:
        rate = f"2-pass {spec.bitrate_kbps:.0f} kbps"
    return f"{spec.width}x{spec.height} {rate}"


def analyze(
    source: str,
    settings: Settings,
    ffmpeg: FfmpegInfo,
    *,
    on_event: EventSink = _ignore,
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
            points = _points(measured)
        if settings.crfs is None:  # --crfs given: probed as given
            measured, points = below_cheapest_probes(runner, settings, measured, points, info.height)
        t_grid = time.perf_counter() - t0 - (runner.prepare_s - prepared)
        hull = upper_hull(points, settings.metric)
        plan = select_rungs(points, settings.constraints, settings.metric, source_height=info.height)
        if not plan.targets:
            raise HullError(f"{source}: no rung could be placed on the hull; widen --crfs or the constraints")
        t0, prepared = time.perf_counter(), runner.prepare_s
        if settings.calibrate:
            rungs = calibrate(runner, settings, plan.targets)
            plan, rungs = reach_ceiling(runner, settings, points, plan, rungs, source_height=info.height)
            rungs, dropped = rising_deployed(rungs, settings.metric)
            vbv = settings.codec_defaults.strict_two_pass_vbv or settings.deploy_rate_control != "abr2pass"
            peaks = over_peak(rungs, vbv)
            plan = dataclasses.replace(plan, gave_way=(*plan.gave_way, *dropped, *peaks))
        else:
            rungs = _uncalibrated(settings, plan)
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
    small = sorted({(s.width, s.height) for s in specs if min(s.width, s.height) < d.min_side})
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


def _spec_order(item: tuple[EncodeSpec, Measurement]) -> tuple[int, float]:
    return (item[0].height, -(item[0].crf or 0.0))


def to_point(spec: EncodeSpec, m: Measurement) -> RdPoint:
    return RdPoint(
        width=spec.width,
        height=spec.height,
        crf=float(spec.crf or 0.0),
        bitrate_kbps=m.bitrate_kbps,
        vmaf=m.vmaf,
        psnr=m.psnr,
        ssim=m.ssim,
        vmaf_hmean=m.vmaf_hmean,
        vmaf_p1=m.vmaf_p1,
        vmaf_p5=m.vmaf_p5,
    )


def _quality(m: Measurement) -> Quality:
    return Quality(
        vmaf=m.vmaf, psnr=m.psnr, ssim=m.ssim, vmaf_hmean=m.vmaf_hmean, vmaf_p1=m.vmaf_p1, vmaf_p5=m.vmaf_p5
    )


def calibrate(runner: Runner, settings: Settings, targets: Sequence[Any]) -> list[Rung]:
    """Encode each chosen rung the way it will be deployed (two-pass, VBV) on the probed part of
    the title and take that score as the prediction: CRF probes overstate what a capped
    average-bitrate encode reaches, and a ladder is judged on the deployed encode.

    On sampled windows of a long title, a two-pass at the rung's bitrate gives the windows the
    whole budget, while within the title they get their share of it: the hard parts outside them
    take more. So the windows are encoded at the bitrate a two-pass of the whole title gives them
    (`in_context_rates`), and the prediction's bitrate is the title's."""
    c = settings.constraints
    specs = {}
    for t in targets:
        specs[t] = deployed_spec(
            settings,
            t.width,
            t.height,
            t.bitrate_kbps,
            round(t.bitrate_kbps * c.maxrate_factor),
            round(t.bitrate_kbps * c.bufsize_factor),
            crf=round(t.crf, 2),
        )
    how = "two-pass" if settings.deploy_rate_control == "abr2pass" else "capped-CRF"
    label = f"checking {len(specs)} rungs with deployed {how} encodes"
    if runner.full_pass:
        measured = runner.run(list(specs.values()), label)
        by_target = {t: measured[spec] for t, spec in specs.items()}
        title_kbps = {t: m.bitrate_kbps for t, m in by_target.items()}
        title_peak = {t: m.peak_bitrate_kbps for t, m in by_target.items()}
    elif settings.deploy_rate_control != "abr2pass":
        # Capped CRF: the windows' encode reaches the quality the rung's CRF gives them inside the
        # title, but spends what the windows need; the title's average and peak are the title's.
        measured = runner.run(list(specs.values()), label)
        by_target = {t: measured[spec] for t, spec in specs.items()}
        rates = in_context_rates(runner, settings, list(specs.values()))
        title_kbps = {t: rates[spec].title_kbps for t, spec in specs.items()}
        title_peak = {t: rates[spec].peak_kbps for t, spec in specs.items()}
    else:
        rates = in_context_rates(runner, settings, list(specs.values()))
        title_kbps = {t: rates[spec].title_kbps for t, spec in specs.items()}
        # The windows' encode runs at their share of the budget: its peak is not the title's.
        title_peak = {t: rates[spec].peak_kbps for t, spec in specs.items()}
        by_target = _windows_at_their_share(
            runner, specs, {t: rates[spec].windows_kbps for t, spec in specs.items()}, label
        )
    rungs = []
    for t, spec in specs.items():
        m = by_target[t]
        rungs.append(
            Rung(
                width=t.width,
                height=t.height,
                bitrate_kbps=t.bitrate_kbps,
                maxrate_kbps=float(spec.maxrate_kbps or 0),
                bufsize_kbps=float(spec.bufsize_kbps or 0),
                codec=settings.codec,
                preset=settings.effective_preset,
                crf=round(t.crf, 2),
                predicted=_quality(m),
                hull_predicted=t.hull_predicted,
                vmaf_per_frame=m.vmaf_per_frame,
                predicted_bitrate_kbps=round(title_kbps[t], 3),
                predicted_peak_kbps=round(title_peak[t], 3),
            )
        )
    return rungs


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
            Event("stage", f"reading what {len(misses)} rungs' encodes of the whole title spend, and where")
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
    rungs2 = calibrate(runner, settings, plan2.targets)
    if getattr(rungs2[-1].predicted, metric) <= reached:
        return plan, rungs
    note = (
        f"quality_ceiling: deployed encodes reach {shortfall:.1f} {metric} less than the CRF hull at the "
        f"top rung, so the ladder was planned for {raised.quality_ceiling:.1f} on the hull to come closer "
        f"to {c.quality_ceiling:g} deployed"
    )
    return dataclasses.replace(plan2, gave_way=(*plan2.gave_way, note)), rungs2


def _uncalibrated(settings: Settings, plan: Any) -> list[Rung]:
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
