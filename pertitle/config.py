"""Settings: validated values from the CLI and YAML files, and the per-codec defaults in one table."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from pertitle.errors import ConfigError
from pertitle.models import (
    DEPLOY_RATE_CONTROLS,
    MAX_RUNGS,
    METRICS,
    RUNG_KBPS_RANGE,
    Constraints,
    Rung,
    shown_count,
)
from pertitle.yamltext import load_yaml, yaml_problem

STANDARD_HEIGHTS = (234, 288, 360, 432, 540, 720, 1080, 1440, 2160)
VMAF_MODELS = ("vmaf_v0.6.1", "vmaf_4k_v0.6.1", "vmaf_v0.6.1neg")
SCALERS = ("bicubic", "bilinear", "lanczos", "spline", "neighbor", "area")


@dataclass(frozen=True)
class CodecDefaults:
    """What pertitle knows of one codec: its ffmpeg encoder, quality scale and defaults."""

    name: str
    encoder: str
    crfs: tuple[float, ...]
    crf_range: tuple[float, float]
    preset: str
    presets: tuple[str, ...]
    supports_maxrate: bool
    container: str
    # Bumped when pertitle's arguments to this encoder change what it produces (part of the cache
    # key, so no result of the old arguments is reused). hevc 1: closed GOPs (x265 open-gop=0);
    # hevc 2, av1 1: the title's average frame rate (`commands.encoder_frame_rate`).
    args_revision: int = 0
    # The encoder's CRF is an integer option (ffmpeg rounds 30.5 to 31 without a word).
    whole_crfs: bool = False
    # Its two-pass mode keeps maxrate/bufsize as a buffer model; libvpx takes maxrate as a limit on
    # a two-pass section's share of the bits instead, so its segments can peak above it.
    strict_two_pass_vbv: bool = True
    # The smallest side its rate control takes: SVT-AV1 turns adaptive quantization off under 64 px
    # and then refuses every bitrate-driven mode ("can not be turned OFF when RC ON").
    min_side: int = 2
    # What a capped-CRF encode takes of maxrate/bufsize (`commands.applied_vbv`): "both" (x264 and
    # x265 apply VBV only given both), "maxrate" (SVT-AV1 has no buffer) or "maxrate_and_any_buffer"
    # (libvpx caps on maxrate alone; its buffer is optional).
    capped_vbv: str = "both"
    # The highest frame rate the encoder is told (`commands.encoder_frame_rate`); SVT-AV1 refuses
    # more than 240.
    max_told_fps: float = math.inf


_X26X_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)

CODECS: dict[str, CodecDefaults] = {
    "h264": CodecDefaults(
        "h264",
        "libx264",
        (18, 22, 26, 30, 34, 38, 42),
        (0, 51),
        "medium",
        _X26X_PRESETS,
        True,
        "mp4",
    ),
    "hevc": CodecDefaults(
        "hevc",
        "libx265",
        (20, 24, 28, 32, 36, 40, 44),
        (0, 51),
        "medium",
        _X26X_PRESETS,
        True,
        "mp4",
        args_revision=2,
    ),
    # SVT-AV1 rejects maxrate outside CRF mode, so its deployed encodes are plain two-pass VBR.
    "av1": CodecDefaults(
        "av1",
        "libsvtav1",
        (24, 30, 36, 42, 48, 54, 60),
        (1, 63),
        "8",
        tuple(str(p) for p in range(14)),
        False,
        "mkv",
        args_revision=1,
        whole_crfs=True,
        strict_two_pass_vbv=False,
        min_side=64,
        capped_vbv="maxrate",
        max_told_fps=240,
    ),
    "vp9": CodecDefaults(
        "vp9",
        "libvpx-vp9",
        (20, 26, 32, 38, 44, 50, 56),
        (0, 63),
        "good",
        ("good", "realtime", "best"),
        True,
        "mkv",
        whole_crfs=True,
        strict_two_pass_vbv=False,
        capped_vbv="maxrate_and_any_buffer",
    ),
}


# The whole-title pass that shares a rung's bits between the sampled windows and the rest of the
# title (`calibrate.in_context_rates`) may run a faster preset than the real one where one splits
# the bits as the real one does. x264, share of the title's average the windows got in a two-pass
# at 100 kbps, against medium's: a 43 s title of four kinds of content 0.895 (medium), faster
# 0.899, veryfast 0.921, superfast 0.898, ultrafast 0.853; a 30 s traffic camera 1.018 (medium),
# faster 0.991, veryfast 0.992, superfast 0.924. Other codecs, unmeasured, use their real preset.
IN_CONTEXT_PRESETS = {"h264": "faster"}

SAMPLE_SELECTIONS = ("complexity", "even")


@dataclass(frozen=True)
class Settings:
    """Every knob of an analysis. `result_affecting()` is what enters cache keys and the report."""

    codec: str = "h264"
    preset: str | None = None
    heights: tuple[int, ...] | None = None
    crfs: tuple[float, ...] | None = None
    sample_count: int = 3
    sample_duration_s: float = 4.0
    # How sample windows are placed in a long title: "complexity" (a cheap whole-title pass, then
    # windows stratified by how hard each part is to encode) or "even" (evenly spaced).
    sample_selection: str = "complexity"
    full_pass_below_s: float = 20.0
    full_pass_coverage: float = 0.6
    scaler: str = "bicubic"
    vmaf_model: str | None = None
    metric: str = "vmaf"
    gop_s: float = 2.0
    # How final renditions are encoded: "abr2pass" (two-pass average bitrate with VBV) or
    # "capped_crf" (one pass at the rung's CRF, capped by the same VBV).
    deploy_rate_control: str = "abr2pass"
    constraints: Constraints = field(default_factory=Constraints)
    jobs: int = 0
    use_cache: bool = True
    cache_dir: str | None = None
    # Where the Runner keeps the reference and encodes (None: the system temp dir); shared by Dask workers.
    work_dir: str | None = None
    encode_timeout_s: float = 1800.0
    calibrate: bool = True
    # --fast: about every third CRF of the grid (`plan.coarse_crfs`) at every other size
    # (`plan.fast_first_sizes`), libvmaf scoring every `fast_subsample`-th frame.
    fast: bool = False
    fast_subsample: int = 4

    @property
    def codec_defaults(self) -> CodecDefaults:
        return CODECS[self.codec]

    @property
    def effective_preset(self) -> str:
        return self.preset or self.codec_defaults.preset

    @property
    def effective_crfs(self) -> tuple[float, ...]:
        return self.crfs or self.codec_defaults.crfs

    def effective_jobs(self) -> int:
        return self.jobs if self.jobs > 0 else max(1, os.cpu_count() or 1)


MIN_SAMPLE_DURATION_S = 0.5


# The highest value each non-VMAF hull metric takes: SSIM 1; libvmaf's PSNR-Y of 8-bit video stops
# at 60 dB (6 x bit depth + 12). Constraints' quality bounds are in the hull metric's units.
_METRIC_MAX = {"ssim": 1.0, "psnr": 60.0}
_METRIC_EXAMPLE = {
    "ssim": "quality_ceiling: 0.98, quality_floor: 0.6",
    "psnr": "quality_ceiling: 45, quality_floor: 25",
}


def _metric_units_problem(metric: str, c: Constraints) -> str | None:
    """A quality bound no value of `metric` reaches: the VMAF-scale defaults (95, 20) under
    --metric ssim or psnr would make every ladder top out at the grid's lowest CRF."""
    top = _METRIC_MAX.get(metric)
    if top is None:
        return None
    for name in ("quality_ceiling", "quality_floor"):
        value = getattr(c, name)
        if value is not None and value > top:
            return (
                f"{name}: {value:g} is above what {metric} reaches ({top:g}); with --metric {metric} the "
                f"constraints' quality bounds are {metric} values: give --constraints with, e.g., "
                f"{_METRIC_EXAMPLE[metric]}"
            )
    return None


def renamed_field(exc: ConfigError, names: Mapping[str, str]) -> ConfigError:
    """`exc` (a `validate` error, "field: what is wrong") naming the field as the user wrote it
    (an option, a manifest key) where `names` has it."""
    field_name, sep, rest = str(exc).partition(": ")
    return ConfigError(f"{names[field_name]}{sep}{rest}") if sep and field_name in names else exc


def validate(settings: Settings, *, per_title: bool = False) -> Settings:
    """Check every field; raise ConfigError naming the field and the bad value. With `per_title`
    (a batch's own settings), what a manifest title may change the meaning of is left to the
    check of each title's settings: the preset and CRFs against the codec (a title may be vp9,
    whose CRFs go to 63), the quality bounds against the metric (a title may bring constraints).

    Raises:
        ConfigError: on the first bad value (`settings_problems` lists them all).
    """
    for problem in _problems(settings, per_title=per_title):
        raise ConfigError(problem)
    return settings


def settings_problems(settings: Settings) -> list[str]:
    """Every bad value of `settings`, each a line naming the field (a batch lists them at once)."""
    return list(_problems(settings, per_title=False))


def _problems(settings: Settings, *, per_title: bool) -> Iterator[str]:
    s = settings
    if s.codec not in CODECS:
        yield f"codec: {s.codec!r} is not supported; choose one of {', '.join(CODECS)}"
        return  # the checks below need the codec's facts
    d = CODECS[s.codec]
    if s.preset is not None and s.preset not in d.presets and not per_title:
        yield f"preset: {s.preset!r} is not a preset of {s.codec}; choose one of {', '.join(d.presets)}"
    if s.codec == "vp9" and s.effective_preset == "realtime" and s.deploy_rate_control == "abr2pass":
        yield (
            "preset: libvpx cannot do two-pass encodes at 'realtime'; use --preset good or best, "
            "or --rate-control capped_crf"
        )
    if s.heights is not None:
        if not s.heights:
            yield "heights: the list is empty"
        for h in s.heights:
            if h < 16 or h > 8640:
                yield f"heights: {shown_count(h)} is out of range (16-8640)"
            elif h % 2:
                yield f"heights: {h} is odd; 4:2:0 video needs even heights ({h - 1} or {h + 1})"
    if s.crfs is not None:
        if not s.crfs:
            yield "crfs: the list is empty"
        for c in () if per_title else s.crfs:
            outside = crf_range_outside(s.codec, c)
            if outside:
                yield f"crfs: {c:g} is outside {s.codec}'s range {outside[0]:g}-{outside[1]:g}"
            elif d.whole_crfs and not float(c).is_integer():
                # ffmpeg rounds them: the point would be recorded at a CRF never encoded.
                yield f"crfs: {c:g}: {d.encoder} takes whole CRFs only"
    if not 1 <= s.sample_count <= MAX_SAMPLES:
        yield f"sample_count: {shown_count(s.sample_count)} must be 1 to {MAX_SAMPLES}"
    if not (math.isfinite(s.sample_duration_s) and s.sample_duration_s >= MIN_SAMPLE_DURATION_S):
        yield (
            f"sample_duration_s: {s.sample_duration_s:g} must be at least {MIN_SAMPLE_DURATION_S:g} s "
            "(a window needs frames to encode and score)"
        )
    if math.isnan(s.full_pass_below_s) or s.full_pass_below_s < 0:
        yield (
            f"full_pass_below_s: {s.full_pass_below_s:g} must be 0 or more seconds (inf: every title whole)"
        )
    if not (math.isfinite(s.encode_timeout_s) and s.encode_timeout_s > 0):
        yield f"encode_timeout_s: {s.encode_timeout_s:g} must be a positive number of seconds"
    if s.sample_selection not in SAMPLE_SELECTIONS:
        yield f"sample_selection: {s.sample_selection!r} is not one of {', '.join(SAMPLE_SELECTIONS)}"
    if s.scaler not in SCALERS:
        yield f"scaler: {s.scaler!r} is not one of {', '.join(SCALERS)}"
    if s.vmaf_model is not None and s.vmaf_model not in VMAF_MODELS:
        yield f"vmaf_model: {s.vmaf_model!r} is not one of {', '.join(VMAF_MODELS)}"
    if s.metric not in METRICS:
        yield f"metric: {s.metric!r} is not one of {', '.join(METRICS)}"
    problem = None if per_title else _metric_units_problem(s.metric, s.constraints)
    if problem:
        yield problem
    if not (math.isfinite(s.gop_s) and 0 < s.gop_s <= MAX_GOP_S):
        yield f"gop_s: {s.gop_s:g} must be a number of seconds in 0-{MAX_GOP_S:g} (HLS uses 1-10)"
    if s.deploy_rate_control not in DEPLOY_RATE_CONTROLS:
        yield (
            f"deploy_rate_control: {s.deploy_rate_control!r} is not one of {', '.join(DEPLOY_RATE_CONTROLS)}"
        )
    if not 0 <= s.jobs <= MAX_JOBS:
        yield f"jobs: {s.jobs} must be 0 (all cores) to {MAX_JOBS}"
    try:
        validate_constraints(s.constraints, where="constraints")
    except ConfigError as exc:
        yield str(exc)


def validate_constraints(c: Constraints, where: str) -> Constraints:
    def bad(name: str, why: str) -> ConfigError:
        return ConfigError(f"{where}: {name} = {getattr(c, name)!r} {why}")

    for f in fields(c):
        value = getattr(c, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise bad(f.name, "must be a finite number")
    if c.min_bitrate_kbps <= 0:
        raise bad("min_bitrate_kbps", "must be positive")
    if c.max_bitrate_kbps <= c.min_bitrate_kbps:
        raise bad("max_bitrate_kbps", f"must be above min_bitrate_kbps ({c.min_bitrate_kbps:g})")
    top_kbps = RUNG_KBPS_RANGE[1]
    if c.max_bitrate_kbps > top_kbps:
        raise bad("max_bitrate_kbps", f"must be at most {top_kbps:.0f} kbit/s (what encoders take)")
    if not 1 <= c.max_rungs <= MAX_RUNGS:
        raise bad("max_rungs", f"must be 1 to {MAX_RUNGS}")
    if not 1 <= c.min_rungs <= c.max_rungs:
        raise bad("min_rungs", f"must be between 1 and max_rungs ({c.max_rungs})")
    if c.min_ratio <= 1.0:
        raise bad("min_ratio", "must be above 1.0")
    if c.max_ratio < c.min_ratio:
        raise bad("max_ratio", f"must be at least min_ratio ({c.min_ratio:g})")
    if not 0 < c.quality_ceiling <= 100:
        raise bad("quality_ceiling", "must be in (0, 100]")
    if c.quality_floor is not None and not 0 <= c.quality_floor < c.quality_ceiling:
        raise bad("quality_floor", f"must be in [0, quality_ceiling={c.quality_ceiling:g})")
    if not 1.0 <= c.maxrate_factor <= MAX_VBV_FACTOR:
        raise bad("maxrate_factor", f"must be at least 1.0 and at most {MAX_VBV_FACTOR:g}")
    if not 0 < c.bufsize_factor <= MAX_VBV_FACTOR:
        raise bad("bufsize_factor", f"must be positive and at most {MAX_VBV_FACTOR:g}")
    # The top rung's maxrate and bufsize go to the encoder too, in the range it takes.
    for name in ("maxrate_factor", "bufsize_factor"):
        if c.max_bitrate_kbps * getattr(c, name) > top_kbps:
            raise bad(
                name,
                f"times max_bitrate_kbps ({c.max_bitrate_kbps:g}) must be at most {top_kbps:.0f} kbit/s",
            )
    return c


def constraints_from_mapping(data: Mapping[str, Any], where: str) -> Constraints:
    """Build Constraints from a YAML mapping; unknown keys and wrong types are errors."""
    known = {f.name: f for f in fields(Constraints)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("name", "description", "source"):
            continue
        if key not in known:
            raise ConfigError(f"{where}: unknown key {key!r}; known keys: {', '.join(known)}")
        default = getattr(Constraints(), key)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: {key} = {value!r} must be true or false")
        elif key == "quality_floor" and value is None:
            pass
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: {key} = {value!r} must be a number")
        elif isinstance(default, int) and not isinstance(default, bool) and not float(value).is_integer():
            raise ConfigError(f"{where}: {key} = {value!r} must be a whole number")
        elif isinstance(default, int):
            value = int(value)
        values[key] = value
    if "max_rungs" in values and "min_rungs" not in values:
        # A file that only lowers max_rungs means "at most that many", not a conflict with the default.
        values["min_rungs"] = min(Constraints().min_rungs, values["max_rungs"])
    return validate_constraints(replace(Constraints(), **values), where)


def load_constraints(path: str | Path) -> Constraints:
    """Read a constraints YAML file (see ladders/default.yaml).

    Raises:
        ConfigError: missing file, bad YAML, unknown key, bad value.
    """
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"constraints file {str(p)!r} is a directory; give a YAML file")
    if not p.exists():  # a pipe (`--constraints <(...)`) is read as a file is
        raise ConfigError(f"constraints file {str(p)!r} does not exist")
    try:
        data = load_yaml(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"constraints file {str(p)!r} is not valid YAML {yaml_problem(exc)}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"constraints file {str(p)!r} is not UTF-8 text ({exc.reason})") from None
    except RecursionError:
        raise ConfigError(f"constraints file {str(p)!r} is nested too deeply to be constraints") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"constraints file {str(p)!r} must hold a mapping of key: value")
    if "constraints" in data and isinstance(data["constraints"], dict):
        data = data["constraints"]
    return constraints_from_mapping(data, where=str(p))


# The most parallel encodes (and threads) one machine is given: ffmpeg refuses a thread count in the
# millions, and 100000 threads froze the machine rather than fail.
MAX_JOBS = 1024
# Sample windows of a title: past this, each window is a few frames of any title pertitle samples.
MAX_SAMPLES = 1000
# Longer GOPs than this are no streaming ladder's (HLS recommends 2 s segments' keyframes, 6 s at most).
MAX_GOP_S = 60.0
# maxrate and bufsize are at most this many times a rung's bitrate (streaming uses 1-4).
MAX_VBV_FACTOR = 10.0


def parse_number_list(text: str, name: str, integer: bool) -> tuple[Any, ...]:
    """'360,540, 720' -> (360, 540, 720); errors name the option and the bad item."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ConfigError(f"{name}: {text!r} holds no values")
    out: list[Any] = []
    for item in items:
        # Plain decimal only: int() and float() also take '1_80' and full-width digits as 180.
        if not (_INTEGER if integer else _DECIMAL).fullmatch(item):
            kind = "a whole number" if integer else "a number"
            raise ConfigError(f"{name}: {item!r} is not {kind}")
        out.append(int(item) if integer else float(item))
    return tuple(sorted(set(out)))


_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(
    r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(nan|inf|infinity)", re.IGNORECASE
)


def _rungs_problem(rungs: Sequence[Rung], settings: Settings, where: str) -> str | None:
    """Rungs whose codec or preset is not the one their document's settings record: verify and
    compare encode every rung with those settings, so such a rung would be encoded other than it
    says (hand-edited, or joined from two documents)."""
    codecs = sorted({r.codec for r in rungs})
    if codecs != [settings.codec]:
        return f"{where}: rungs use {', '.join(codecs)} but settings.codec is {settings.codec}"
    presets = sorted({r.preset for r in rungs})
    if presets != [settings.effective_preset]:
        return (
            f"{where}: rungs use preset {', '.join(presets)} but settings.preset is "
            f"{settings.effective_preset}"
        )
    if settings.deploy_rate_control == "capped_crf":  # the CRF is what the encoder is given
        for i, r in enumerate(rungs):
            outside = crf_range_outside(settings.codec, r.crf)
            if outside:
                lo, hi = outside
                return (
                    f"{where}: rungs/{i}/crf: {r.crf:g} is outside {settings.codec}'s CRF range {lo:g}-{hi:g}"
                )
    return None


def crf_range_outside(codec: str, crf: float) -> tuple[float, float] | None:
    """`codec`'s CRF range where `crf` lies outside it (x264 clamps 70 to 51 and refuses -5), else
    None: the one check of the grid's CRFs and of a capped-CRF rung's."""
    lo, hi = CODECS[codec].crf_range
    return None if math.isfinite(crf) and lo <= crf <= hi else (lo, hi)


def settings_from_ladder(
    recorded: Mapping[str, Any], *, where: str, rungs: Sequence[Rung] = (), **overrides: Any
) -> Settings:
    """The production settings a ladder document recorded (its `settings` block) as Settings, so
    that verify and compare encode renditions exactly as analyze did: codec, preset, scaler, GOP,
    VMAF model, deploy rate control and constraints. Keys it does not need are ignored; `overrides`
    (jobs, cache, timeouts) replace fields afterwards. The document's `rungs` must be encoded as
    these settings say (codec, preset): every rung is encoded with them.

    Raises:
        ConfigError: a recorded value is missing, of the wrong type or invalid, or a rung's codec
            or preset is not the settings' (named with `where`).
    """
    values: dict[str, Any] = {}
    for key in ("codec", "preset", "scaler", "vmaf_model", "deploy_rate_control"):
        value = recorded.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ConfigError(f"{where}: settings.{key} = {value!r} must be text")
        values[key] = value
    gop = recorded.get("gop_s")
    if gop is not None:
        if isinstance(gop, bool) or not isinstance(gop, int | float):
            raise ConfigError(f"{where}: settings.gop_s = {gop!r} must be a number")
        values["gop_s"] = float(gop)
    raw_constraints = recorded.get("constraints")
    if isinstance(raw_constraints, Mapping):
        values["constraints"] = constraints_from_mapping(
            raw_constraints, where=f"{where}: settings.constraints"
        )
    try:
        settings = replace(Settings(), **{**values, **overrides})
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    try:
        settings = validate(settings)
    except ConfigError as exc:
        raise ConfigError(f"{where}: settings.{exc}") from None
    problem = _rungs_problem(rungs, settings, where) if rungs else None
    if problem:
        raise ConfigError(problem)
    return settings
