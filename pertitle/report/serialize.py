"""The ladder document, schema `pertitle.ladder/v1`, in one place: TitleResult <-> dict, YAML, JSON."""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from pertitle.cache import atomic_write_text
from pertitle.models import RdPoint, TitleResult

SCHEMA_ID = "pertitle.ladder/v1"


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
                    "basis": "deployed two-pass encode of the probed samples"
                    if r.vmaf_per_frame
                    else "CRF hull interpolation",
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
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def to_yaml(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110)


def write_documents(doc: dict[str, Any], out_dir: str | Path, name: str) -> tuple[Path, Path]:
    """Write `<name>.ladder.yaml` and `<name>.ladder.json`, each atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    y, j = out / f"{name}.ladder.yaml", out / f"{name}.ladder.json"
    atomic_write_text(y, to_yaml(doc))
    atomic_write_text(j, to_json(doc))
    return y, j


def load_schema() -> dict[str, Any]:
    text = resources.files("pertitle").joinpath("data/ladder.v1.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_document(doc: dict[str, Any]) -> None:
    """Raises jsonschema.ValidationError when `doc` breaks the v1 schema."""
    import jsonschema

    jsonschema.validate(doc, load_schema())
