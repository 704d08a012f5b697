"""Measuring one title's encodes: the lossless reference, the cache, the executor and the
groups of encodes that share a decode (`Runner`), and what turns their results into points.

It emits events for whoever draws progress; it never prints.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pertitle.cache import ResultCache, fingerprint_file, make_key
from pertitle.config import Settings
from pertitle.errors import FfmpegError
from pertitle.executors.local import LocalExecutor
from pertitle.ffmpeg.binary import FfmpegInfo, encoder_version
from pertitle.ffmpeg.commands import keyframes_by_time_for
from pertitle.jobs import ComplexityJob, GroupJob, PrepareJob, prepare_reference, run_complexity, run_group
from pertitle.models import METRIC_RANGES, EncodeSpec, Measurement, MediaInfo, RdPoint, SampleWindow, counted
from pertitle.plan import vmaf_model_for
from pertitle.workdir import make_workdir, remove_workdir

# Bump when a change in how points are produced would make old cache entries wrong.
PIPELINE_VERSION = 3  # 2: peak bitrate over 6 s segments; 3: SSIM from the ssim filter


@dataclass(frozen=True)
class Event:
    """Progress for the edge to render. kind: stage | planned | done | warning (a job failed) |
    notice (something about the title worth a warning line; nothing failed)."""

    kind: str
    message: str
    done: int = 0
    total: int = 0


EventSink = Callable[[Event], None]


def _short_windows_line(path: str) -> str:
    return (
        f"the sample windows of {os.path.basename(path)} hold under 0.9 of their time and frames, "
        "read from the title's start: the title has gaps or is shorter than it says, and the "
        "probes cover what is there; re-export it, or probe it whole (--full-pass-below)"
    )


def _reread_line(path: str) -> str:
    name = os.path.basename(path)
    return (
        f"seeking to the sample windows of {name} came back short (its index does not match its "
        "frames): they were read from the title's start instead, which is slower; a remux "
        f"(ffmpeg -i {name} -c copy fixed.mkv) makes probing it faster"
    )


def ignore_event(_: Event) -> None:
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
    # What one encode's numbers say of each other (`jobs.to_measurement`): an entry whose 48
    # frames had 4800 per-frame scores, or whose bitrate is not its bytes over its length, is
    # no measurement of this encode.
    frames, per_frame = values.get("frames", 1), values.get("vmaf_per_frame", ())
    if frames < 1 or (per_frame and len(per_frame) != frames):
        raise ValueError(f"frames = {frames} with {len(per_frame)} per-frame scores")
    size, duration = values.get("size_bytes"), values.get("duration_s")
    if size is not None and duration is not None:
        if not (size >= 1 and math.isfinite(duration) and duration > 0):
            raise ValueError(f"size_bytes = {size!r} over duration_s = {duration!r}")
        if not math.isclose(size * 8.0 / duration / 1000.0, bitrate, rel_tol=1e-3, abs_tol=0.01):
            raise ValueError(f"bitrate_kbps = {bitrate!r} is not its {size} bytes over {duration:g} s")
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
        # Keyframes by time where the frame rate varies, as the deployed encodes place them; only on
        # the whole title: cut windows each start a GOP of their own, counted in frames.
        timed = info.frame_rate_varies and keyframes_by_time_for(settings.codec)
        self.keyframes_timed = full_pass and timed
        # The cache keys say so only where it is, so every other key stays; the whole-title
        # in-context encodes are timed wherever the title is.
        self._timed_key = {"keyframes": "timed"} if timed else {}
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
            **(self._timed_key if full_pass else {}),
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
        """The key of `spec`'s whole-title rates (`calibrate.in_context_rates`), apart from its
        measurements."""
        return make_key(
            {"in_context": 2, **self._key_base, **self._timed_key, "spec": dataclasses.asdict(spec)}
        )

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
            if prepared.still_short:
                self.on_event(Event("notice", _short_windows_line(self.info.path)))
            elif prepared.reread_from_start:
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
                keyframes_timed=self.keyframes_timed,
            )
            for group in groups
        ]
        first_error: BaseException | None = None
        for job, group_result, error in self.executor.map_unordered(run_group, jobs):
            if error is not None or group_result is None:
                done += len(job.specs)
                first_error = first_error or error
                n = len(job.specs)
                what = f"{counted(n, 'encode')} at {job.specs[0].width}x{job.specs[0].height}"
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
    on_event: EventSink = ignore_event,
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


def points_of(measured: dict[EncodeSpec, Measurement]) -> tuple[RdPoint, ...]:
    return tuple(to_point(spec, m) for spec, m in sorted(measured.items(), key=_spec_order))


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
