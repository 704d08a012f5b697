"""The ladder document, schema `pertitle.ladder/v1`, in one place: TitleResult <-> dict, YAML, JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from pertitle.cache import atomic_write_all, utf8_text
from pertitle.config import CODECS
from pertitle.errors import InputError
from pertitle.models import (
    METRIC_RANGES,
    METRICS,
    RUNG_KBPS_RANGE,
    Crossover,
    Hull,
    Ladder,
    MediaInfo,
    Quality,
    RdPoint,
    Rung,
    SampleWindow,
    Timings,
    TitleResult,
    deployable_kbps,
    deployed_kbps,
    shown_count,
    side_problem,
)
from pertitle.report import deployed_encode
from pertitle.yamltext import dump_yaml, load_yaml, too_large, yaml_problem

SCHEMA_ID = "pertitle.ladder/v1"
# A rung's predicted.basis when no deployed encode checked it (--no-calibrate).
UNCALIBRATED_BASIS = "CRF hull interpolation"


def _num(x: float, digits: int = 3) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), digits)


def _point_key(p: RdPoint) -> tuple[int, float, float]:
    return (p.height, p.crf, p.bitrate_kbps)


def to_document(result: TitleResult) -> dict[str, Any]:
    """The v1 document. Field names and units are the contract documented in the README."""
    info = result.source
    on_hull = {_point_key(p) for p in result.hull.vertices}
    probed = "the whole title" if result.full_pass else "the probed samples"
    deployed = f"deployed {deployed_encode(result.settings)} of {probed}"
    if not result.full_pass and result.settings.get("deploy_rate_control") == "abr2pass":
        deployed += ", at the bitrate they get within a two-pass of the whole title"
    return {
        "schema": SCHEMA_ID,
        "title": result.title,
        "source": {
            "path": info.path,
            "width": info.width,
            "height": info.height,
            "display_aspect": info.display_aspect,
            "fps": info.fps,
            "duration_s": info.duration_s,
            "frame_count": info.frame_count,
            "pix_fmt": info.pix_fmt,
            "bit_depth": info.bit_depth,
            "rotation_deg": info.rotation_deg,
            "codec": info.codec,
            "size_bytes": info.size_bytes,
            "interlaced": info.interlaced,
        },
        "settings": result.settings,
        "tool": result.tool,
        "rungs": [
            {
                "width": r.width,
                "height": r.height,
                "bitrate_kbps": _num(r.bitrate_kbps, 1),
                "maxrate_kbps": _num(r.maxrate_kbps, 1),
                "bufsize_kbps": _num(r.bufsize_kbps, 1),
                "codec": r.codec,
                "preset": r.preset,
                "crf": _num(r.crf, 2),
                "predicted": {
                    "vmaf": _num(r.predicted.vmaf),
                    "psnr": _num(r.predicted.psnr),
                    "ssim": _num(r.predicted.ssim, 5),
                    "vmaf_hmean": _num(r.predicted.vmaf_hmean),
                    "vmaf_p1": _num(r.predicted.vmaf_p1),
                    "vmaf_p5": _num(r.predicted.vmaf_p5),
                    "bitrate_kbps": _num(r.predicted_bitrate_kbps, 1)
                    if r.predicted_bitrate_kbps > 0
                    else None,
                    "peak_bitrate_kbps": _num(r.predicted_peak_kbps, 1)
                    if r.predicted_peak_kbps > 0
                    else None,
                    "basis": deployed if r.vmaf_per_frame else UNCALIBRATED_BASIS,
                },
                "hull_predicted": {
                    "vmaf": _num(r.hull_predicted.vmaf),
                    "psnr": _num(r.hull_predicted.psnr),
                    "ssim": _num(r.hull_predicted.ssim, 5),
                },
                "vmaf_per_frame": list(r.vmaf_per_frame),
            }
            for r in result.ladder.rungs
        ],
        "gave_way": list(result.ladder.gave_way),
        "hull": {
            "metric": result.hull.metric,
            "vertices": [
                {
                    "width": p.width,
                    "height": p.height,
                    "crf": p.crf,
                    "bitrate_kbps": _num(p.bitrate_kbps),
                    "value": _num(p.metric(result.hull.metric)),
                }
                for p in result.hull.vertices
            ],
            "crossovers": [
                {
                    "low_height": c.low_height,
                    "high_height": c.high_height,
                    "bitrate_kbps": _num(c.bitrate_kbps, 1),
                }
                for c in result.hull.crossovers
            ],
        },
        "points": [
            {
                "width": p.width,
                "height": p.height,
                "crf": p.crf,
                "bitrate_kbps": _num(p.bitrate_kbps),
                "vmaf": _num(p.vmaf),
                "vmaf_hmean": _num(p.vmaf_hmean),
                "vmaf_p1": _num(p.vmaf_p1),
                "vmaf_p5": _num(p.vmaf_p5),
                "psnr": _num(p.psnr),
                "ssim": _num(p.ssim, 5),
                "on_hull": _point_key(p) in on_hull,
                "estimated": p.estimated,
            }
            for p in result.points
        ],
        "samples": {
            "full_pass": result.full_pass,
            "windows": [
                {"index": w.index, "start_s": w.start_s, "duration_s": w.duration_s} for w in result.samples
            ],
        },
        "timings": {
            "probe_s": result.timings.probe_s,
            "prepare_s": result.timings.prepare_s,
            "encode_measure_s": result.timings.encode_measure_s,
            "calibrate_s": result.timings.calibrate_s,
            "total_s": result.timings.total_s,
            "encodes": result.encodes,
            "cache_hits": result.cache_hits,
        },
    }


def to_json(doc: dict[str, Any]) -> str:
    return utf8_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def to_yaml(doc: dict[str, Any]) -> str:
    return utf8_text(dump_yaml(doc))


def write_documents(doc: dict[str, Any], out_dir: str | Path, name: str) -> tuple[Path, Path]:
    """Write `<name>.ladder.yaml` and `<name>.ladder.json`, both or neither (`atomic_write_all`):
    the two are one document, and a failed second write must not leave a new YAML beside an old
    JSON."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    y, j = out / f"{name}.ladder.yaml", out / f"{name}.ladder.json"
    atomic_write_all([(y, to_yaml(doc)), (j, to_json(doc))])
    return y, j


def load_schema() -> dict[str, Any]:
    text = resources.files("pertitle").joinpath("data/ladder.v1.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_document(doc: dict[str, Any]) -> None:
    """Raises jsonschema.ValidationError when `doc` breaks the v1 schema."""
    import jsonschema

    jsonschema.validate(doc, load_schema())


def from_document(doc: Any) -> TitleResult:
    """The inverse of `to_document`: a v1 ladder document (parsed JSON or YAML) -> TitleResult.

    The document is validated against the shipped schema first. Numbers the document stores as null
    (a non-finite value when written) come back as NaN; optional fields that are absent take neutral
    values (0, "", NaN for unknown qualities). Hull vertices are matched to the measured points by
    (height, crf, bitrate); `Hull.dominated` is every point not on the hull. Values are those the
    document holds (rounded as written), so `to_document(from_document(d)) == d` for a written `d`.

    Raises:
        InputError: one line, when `doc` is not a valid `pertitle.ladder/v1` document.
    """
    _check_ladder_document(doc)
    try:
        result = _result_from(doc)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise InputError(f"not a valid {SCHEMA_ID} document: {_one_line(str(exc))}") from None
    problem = (
        _source_problem(result.source)
        or _rung_problem(result.ladder.rungs)
        or _value_problem(result)
        or _drawn_problem(result)
    )
    if problem:
        raise InputError(f"not a valid {SCHEMA_ID} document: {problem}")
    return result


_MAX_DURATION_S = 1e7  # 115 days: past any title, and short of what the reports' arithmetic overflows
_MAX_FPS = 10_000.0
_MAX_COUNT = 2**63 - 1  # bytes and frames: what a file system and a 64-bit counter hold
MAX_SOURCE_SIDE = 65536  # pixels a side of a source: past FFmpeg's largest frame


def _source_problem(src: MediaInfo) -> str | None:
    """Source values no probe gives (a hand-edited 1e999 reads as infinity, 10**400 is a valid
    JSON integer): the reports do arithmetic on them."""
    for name, value, hi in (
        ("duration_s", src.duration_s, _MAX_DURATION_S),
        ("fps", src.fps, _MAX_FPS),
        ("display_aspect", src.display_aspect, 100.0),
    ):
        if not (math.isfinite(value) and 0 < value <= hi):
            return f"source: {name} {value:g} is not within 0-{hi:g}"
    for name, count in (("size_bytes", src.size_bytes), ("frame_count", src.frame_count)):
        if not 0 <= count <= _MAX_COUNT:
            return f"source: {name} is outside 0-{_MAX_COUNT}"
    for side, pixels in (("width", src.width), ("height", src.height)):
        if not 1 <= pixels <= MAX_SOURCE_SIDE:
            return f"source: {side} {shown_count(pixels)} is not within 1-{MAX_SOURCE_SIDE}"
    if not 1 <= src.bit_depth <= 32:
        return f"source: bit_depth {shown_count(src.bit_depth)} is not within 1-32"
    if src.rotation_deg not in (0, 90, 180, 270):
        return f"source: rotation_deg {shown_count(src.rotation_deg)} is not 0, 90, 180 or 270"
    return None


def _rung_problem(rungs: Sequence[Rung]) -> str | None:
    """What no encoder could deploy, found before verify or compare spend encodes on the rungs:
    the schema holds types, this the values (as `reference.load_reference` checks its rungs)."""
    for i, r in enumerate(rungs):
        where = f"rungs/{i}"
        for side, pixels in (("width", r.width), ("height", r.height)):
            problem = side_problem(pixels)
            if problem:
                return f"{where}: {side} of {r.width}x{r.height} {problem}"
        if not deployable_kbps(r.bitrate_kbps):
            lo, hi = RUNG_KBPS_RANGE
            return f"{where}: bitrate_kbps {r.bitrate_kbps:g} is not within {lo:.0f}-{hi:.0f} kbit/s"
        if not (math.isfinite(r.maxrate_kbps) and r.maxrate_kbps >= r.bitrate_kbps):
            return f"{where}: maxrate_kbps {r.maxrate_kbps:g} is below its bitrate {r.bitrate_kbps:g}"
        if not (math.isfinite(r.bufsize_kbps) and r.bufsize_kbps > 0):
            return f"{where}: bufsize_kbps {r.bufsize_kbps:g} must be positive"
        for name, kbps in (("maxrate_kbps", r.maxrate_kbps), ("bufsize_kbps", r.bufsize_kbps)):
            if not deployable_kbps(kbps):
                lo, hi = RUNG_KBPS_RANGE
                return f"{where}: {name} {kbps:g} is not within {lo:.0f}-{hi:.0f} kbit/s"
        # With capped CRF the CRF is what is deployed; otherwise it is where the hull put the rung.
        lo, hi = CODECS[r.codec].crf_range if r.codec in CODECS else (-math.inf, math.inf)
        if not (math.isfinite(r.crf) and lo <= r.crf <= hi):
            return f"{where}: crf {r.crf:g} is not within {r.codec}'s {lo:g}-{hi:g}"
        if i and deployed_kbps(r.bitrate_kbps) <= deployed_kbps(rungs[i - 1].bitrate_kbps):
            return (
                f"{where}: bitrate_kbps {r.bitrate_kbps:g} is not above the rung below's "
                f"{rungs[i - 1].bitrate_kbps:g} in the whole kbit/s encoders are given "
                "(rungs rise in bitrate)"
            )
    return None


def _out_of(value: float, lo: float, hi: float) -> bool:
    return not math.isnan(value) and not (lo <= value <= hi)


def _quality_problem(where: str, quality: Quality | RdPoint) -> str | None:
    """A quality outside `METRIC_RANGES` (NaN, a null in the document, always may be): the schema
    holds numbers, and a hand-edited 1e308 would reach the plots and the tables."""
    for name, (lo, hi) in METRIC_RANGES.items():
        value = getattr(quality, name)
        if _out_of(value, lo, hi):
            return f"{where}: {name} {value:g} is outside {lo:g}-{hi:g}"
    return None


def _value_problem(result: TitleResult) -> str | None:
    """Qualities and bitrates no measurement gives (the counterpart of `_rung_problem` for what is
    shown rather than encoded)."""
    for i, r in enumerate(result.ladder.rungs):
        for label, quality in (("predicted", r.predicted), ("hull_predicted", r.hull_predicted)):
            problem = _quality_problem(f"rungs/{i}: {label}", quality)
            if problem:
                return problem
        bad = next((v for v in r.vmaf_per_frame if _out_of(v, *METRIC_RANGES["vmaf"])), None)
        if bad is not None:
            return f"rungs/{i}: vmaf_per_frame holds {bad:g}, outside 0-100"
        for field, kbps in (
            ("bitrate_kbps", r.predicted_bitrate_kbps),
            ("peak_bitrate_kbps", r.predicted_peak_kbps),
        ):
            if kbps != 0 and not 1e-3 <= kbps <= RUNG_KBPS_RANGE[1]:  # 0: not measured; NaN is out
                return f"rungs/{i}: predicted {field} {kbps:g} is not a measured bitrate"
    for i, point in enumerate(result.points):
        if _out_of(point.bitrate_kbps, 1e-3, RUNG_KBPS_RANGE[1]):
            return f"points/{i}: bitrate_kbps {point.bitrate_kbps:g} is not a measured bitrate"
        problem = _quality_problem(f"points/{i}", point)
        if problem:
            return problem
    return None


_MAX_STAGE_S = 1e9  # seconds a stage of an analysis can have taken: 31 years


def _drawn_problem(result: TitleResult) -> str | None:
    """The rest of what the reports draw and print: hull, sample windows, timings and per-frame
    lengths, each as an analysis writes it (a vertex edited to 1e300 drew 300-digit axis labels)."""
    hull, (lo, hi) = result.hull, METRIC_RANGES[result.hull.metric]
    kbps_lo, kbps_hi = 1e-3, RUNG_KBPS_RANGE[1]
    for i, v in enumerate(hull.vertices):
        value = getattr(v, hull.metric)
        if not kbps_lo <= v.bitrate_kbps <= kbps_hi:
            return f"hull/vertices/{i}: bitrate_kbps {v.bitrate_kbps:g} is not a measured bitrate"
        if _out_of(value, lo, hi):
            return f"hull/vertices/{i}: value {value:g} is outside {hull.metric}'s {lo:g}-{hi:g}"
    for i, c in enumerate(hull.crossovers):
        if not kbps_lo <= c.bitrate_kbps <= kbps_hi:
            return f"hull/crossovers/{i}: bitrate_kbps {c.bitrate_kbps:g} is not a bitrate"
        if not (1 <= c.low_height < c.high_height <= MAX_SOURCE_SIDE):
            return (
                f"hull/crossovers/{i}: heights {c.low_height} and {c.high_height} are not two rising heights"
            )
    duration = result.source.duration_s
    for i, w in enumerate(result.samples):
        if not (w.start_s >= 0 and w.duration_s > 0 and w.start_s + w.duration_s <= duration * 1.001 + 1):
            return (
                f"samples/windows/{i}: start_s {w.start_s:g}, duration_s {w.duration_s:g} is not a "
                f"stretch of the {duration:g} s title"
            )
    t = result.timings
    for name in ("probe_s", "prepare_s", "encode_measure_s", "calibrate_s", "total_s"):
        value = getattr(t, name)
        if not 0 <= value <= _MAX_STAGE_S:  # NaN too
            return f"timings/{name}: {value:g} is not a number of seconds"
    for name, count in (("encodes", result.encodes), ("cache_hits", result.cache_hits)):
        if not 0 <= count <= _MAX_COUNT:
            return f"timings/{name}: {shown_count(count)} is not a count"
    # Scored frames are the probed part's: at most the title's frames (a frame's slack for rounding).
    frames = max(result.source.frame_count, math.ceil(duration * result.source.fps)) + 1
    for i, r in enumerate(result.ladder.rungs):
        if len(r.vmaf_per_frame) > frames:
            scores = len(r.vmaf_per_frame)
            return f"rungs/{i}: vmaf_per_frame has {scores} scores for a title of {frames - 1} frames"
    return None


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_ladder_document(doc: Any) -> None:
    import jsonschema

    if not isinstance(doc, dict):
        raise InputError(f"not a {SCHEMA_ID} document: expected a mapping, got {type(doc).__name__}")
    if doc.get("schema") != SCHEMA_ID:
        raise InputError(f"not a {SCHEMA_ID} document: schema is {_one_line(repr(doc.get('schema')), 60)}")
    try:
        validate_document(doc)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(part) for part in exc.absolute_path) or "(top level)"
        # jsonschema's own text for a list of the wrong length repeats the whole list.
        if exc.validator == "maxItems" and isinstance(exc.instance, list):
            what = f"{len(exc.instance)} entries, at most {exc.validator_value}"
        elif exc.validator == "type" and (exc.instance is None or isinstance(exc.instance, bool)):
            # jsonschema names JSON's null and true as Python's None and True.
            what = f"{json.dumps(exc.instance)} is not of type {exc.validator_value!r}"
        else:
            what = _one_line(exc.message)
        raise InputError(f"not a valid {SCHEMA_ID} document: {where}: {what}") from None


def _float(value: Any) -> float:
    """A stored number; null (written for NaN/inf) comes back as NaN."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {_one_line(repr(value), 40)}")
    return float(value)


def _int(value: Any) -> int:
    """An integer field; 416.0 is one too (JSON Schema counts it, and JSON writers emit it)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {_one_line(repr(value), 40)}")
    return value


def _quality(raw: dict[str, Any] | None) -> Quality:
    raw = raw or {}
    return Quality(
        vmaf=_float(raw.get("vmaf")),
        psnr=_float(raw.get("psnr")),
        ssim=_float(raw.get("ssim")),
        vmaf_hmean=_float(raw.get("vmaf_hmean")),
        vmaf_p1=_float(raw.get("vmaf_p1")),
        vmaf_p5=_float(raw.get("vmaf_p5")),
    )


def _with_metric(point: RdPoint, metric: str, value: float) -> RdPoint:
    fields: dict[str, Any] = {metric: value}
    return replace(point, **fields)


def _result_from(doc: dict[str, Any]) -> TitleResult:
    src = doc["source"]
    width, height = _int(src["width"]), _int(src["height"])
    source = MediaInfo(
        path=str(src["path"]),
        width=width,
        height=height,
        display_aspect=_float(src.get("display_aspect", width / height)),
        fps=_float(src["fps"]),
        duration_s=_float(src["duration_s"]),
        frame_count=_int(src.get("frame_count", 0)),
        pix_fmt=str(src.get("pix_fmt", "")),
        bit_depth=_int(src.get("bit_depth", 8)),
        rotation_deg=_int(src.get("rotation_deg", 0)),
        codec=str(src.get("codec", "")),
        size_bytes=_int(src.get("size_bytes", 0)),
        interlaced=bool(src.get("interlaced", False)),
    )
    points = tuple(
        RdPoint(
            width=_int(p["width"]),
            height=_int(p["height"]),
            crf=_float(p["crf"]),
            bitrate_kbps=_float(p["bitrate_kbps"]),
            vmaf=_float(p["vmaf"]),
            psnr=_float(p["psnr"]),
            ssim=_float(p["ssim"]),
            vmaf_hmean=_float(p.get("vmaf_hmean")),
            vmaf_p1=_float(p.get("vmaf_p1")),
            vmaf_p5=_float(p.get("vmaf_p5")),
            estimated=bool(p.get("estimated", False)),
        )
        for p in doc["points"]
    )

    raw_hull = doc["hull"]
    metric = str(raw_hull["metric"])
    if metric not in METRICS:
        raise ValueError(f"hull.metric: unknown metric {metric!r} (expected one of {', '.join(METRICS)})")
    by_key = {_point_key(p): p for p in points}
    vertices: list[RdPoint] = []
    for v in raw_hull["vertices"]:
        vertex = RdPoint(
            width=_int(v["width"]),
            height=_int(v["height"]),
            crf=_float(v["crf"]),
            bitrate_kbps=_float(v["bitrate_kbps"]),
            vmaf=math.nan,
            psnr=math.nan,
            ssim=math.nan,
            vmaf_hmean=math.nan,
            vmaf_p1=math.nan,
            vmaf_p5=math.nan,
        )
        # The point the vertex was; a vertex with no point keeps only its hull metric.
        match = by_key.get(_point_key(vertex))
        vertices.append(match if match is not None else _with_metric(vertex, metric, _float(v["value"])))
    on_hull = {_point_key(p) for p in vertices}
    hull = Hull(
        metric=metric,
        vertices=tuple(vertices),
        dominated=tuple(p for p in points if _point_key(p) not in on_hull),
        crossovers=tuple(
            Crossover(
                low_height=_int(c["low_height"]),
                high_height=_int(c["high_height"]),
                bitrate_kbps=_float(c["bitrate_kbps"]),
            )
            for c in raw_hull["crossovers"]
        ),
    )

    settings: dict[str, Any] = doc["settings"]
    rungs = tuple(
        Rung(
            width=_int(r["width"]),
            height=_int(r["height"]),
            bitrate_kbps=_float(r["bitrate_kbps"]),
            maxrate_kbps=_float(r["maxrate_kbps"]),
            bufsize_kbps=_float(r["bufsize_kbps"]),
            codec=str(r["codec"]),
            preset=str(r.get("preset", settings.get("preset") or "")),
            crf=_float(r["crf"]),
            predicted=_quality(r["predicted"]),
            hull_predicted=_quality(r.get("hull_predicted")),
            vmaf_per_frame=tuple(_float(x) for x in r.get("vmaf_per_frame", ())),
            predicted_bitrate_kbps=_float(r["predicted"].get("bitrate_kbps") or 0.0),
            predicted_peak_kbps=_float(r["predicted"].get("peak_bitrate_kbps") or 0.0),
        )
        for r in doc["rungs"]
    )
    ladder = Ladder(rungs=rungs, gave_way=tuple(str(g) for g in doc.get("gave_way", ())))

    samples = doc["samples"]
    windows = tuple(
        SampleWindow(
            index=_int(w.get("index", i)),
            start_s=_float(w["start_s"]),
            duration_s=_float(w["duration_s"]),
        )
        for i, w in enumerate(samples["windows"])
    )
    t = doc["timings"]
    timings = Timings(
        probe_s=_float(t.get("probe_s", 0.0)),
        prepare_s=_float(t.get("prepare_s", 0.0)),
        encode_measure_s=_float(t.get("encode_measure_s", 0.0)),
        calibrate_s=_float(t.get("calibrate_s", 0.0)),
        total_s=_float(t["total_s"]),
    )
    return TitleResult(
        title=str(doc["title"]),
        source=source,
        settings=dict(settings),
        tool={str(k): str(v) for k, v in doc["tool"].items()},
        samples=windows,
        full_pass=bool(samples["full_pass"]),
        points=points,
        hull=hull,
        ladder=ladder,
        timings=timings,
        encodes=_int(t["encodes"]),
        cache_hits=_int(t["cache_hits"]),
    )


def _bounded_int(text: str) -> int:
    """JSON's integers, bounded as YAML's are (`yamltext.too_large`)."""
    digits = text.lstrip("-")
    if len(digits) > 19:  # past MAX_INTEGER, and int() of 4301 digits asks for sys.set_int_max_str_digits
        raise ValueError(f"an integer of {len(digits)} digits is too large for any value here")
    value = int(text)
    problem = too_large(value, text)
    if problem:
        raise ValueError(problem)
    return value


def _once_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are each given once, as the YAML reader requires (`yamltext`): a
    key given twice kept its last value without a word."""
    doc: dict[str, Any] = {}
    for key, value in pairs:
        if key in doc:
            raise ValueError(f"the key {key!r} is given twice in one object")
        doc[key] = value
    return doc


def read_document(path: str | Path, what: str = "document") -> Any:
    """Parse a .json file as JSON and anything else as YAML (which also reads JSON).

    Raises:
        InputError: one line: missing or unreadable file, or a syntax error with its place.
    """
    if str(path) == "":
        raise InputError(f"the {what} path is empty; name a file")
    p = Path(path)
    try:
        # utf-8-sig: editors on Windows start JSON and YAML files with a byte-order mark.
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{p}: {what} not found") from None
    except IsADirectoryError:
        raise InputError(f"{p}: is a directory, not a {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot read the {what}: {exc}") from None
    if p.suffix.lower() == ".json":
        try:
            # NaN and Infinity, which Python's json writes, are read as it reads them: the range
            # checks name the field where a number must be finite.
            return json.loads(text, parse_int=_bounded_int, object_pairs_hook=_once_each)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{p}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from None
        except ValueError as exc:  # _bounded_int's
            raise InputError(f"{p}: invalid JSON: {exc}") from None
        except RecursionError:
            raise InputError(f"{p}: nested too deeply to be a {what}") from None
    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{p}: invalid YAML {yaml_problem(exc)}") from None
    except RecursionError:
        raise InputError(f"{p}: nested too deeply to be a {what}") from None
