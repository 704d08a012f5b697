"""Prove a ladder: encode every rung on the whole title with the production settings, score it,
and hold the result against what the ladder predicted.

A rung passes when
- its VMAF is not more than `tolerance` below the predicted VMAF (a rung that beats its prediction
  passes, with a note when it beats it by more than the tolerance);
- its average bitrate is within `MAX_BITRATE_ERROR` (10%) of the rung's target;
- its peak bitrate over 6 s segments (`SEGMENT_S`; what HLS writes as BANDWIDTH) is at most
  `MAX_PEAK_RATIO` (2x) its average bitrate.

Encodes go through `probes.Runner` over the whole title, so they are cached and run in parallel,
and are scored like analyze's (same VMAF model, scaler and upscaling to the source's size). The
result is data; `to_document` gives the `pertitle.verify/v1` document; nothing here prints.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pertitle import __version__
from pertitle.cache import utf8_text
from pertitle.config import settings_from_ladder
from pertitle.errors import ConfigError, InputError
from pertitle.ffmpeg.binary import FfmpegInfo
from pertitle.models import (
    MAX_PEAK_RATIO,
    SEGMENT_S,
    EncodeSpec,
    Measurement,
    MediaInfo,
    Rung,
    TitleResult,
    counted,
    for_count,
)
from pertitle.plan import check_rung_sizes, rung_spec
from pertitle.probe import probe
from pertitle.probes import EventSink, ignore_event, whole_title_runner

SCHEMA_ID = "pertitle.verify/v1"
DEFAULT_TOLERANCE_VMAF = 2.0
MAX_BITRATE_ERROR = 0.10


@dataclass(frozen=True)
class RungCheck:
    """One rung: what the ladder promised, what the production encode of the title measured."""

    index: int  # 1-based, in ladder order
    rung: Rung
    spec: EncodeSpec
    measured: Measurement
    problems: tuple[str, ...]  # why it fails; empty when it passes
    notes: tuple[str, ...] = ()  # worth saying, not a failure

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def label(self) -> str:
        return f"rung {self.index} ({self.rung.width}x{self.rung.height} @ {self.rung.bitrate_kbps:.0f} kbps)"

    @property
    def vmaf_delta(self) -> float:
        """Measured minus predicted VMAF (NaN when the ladder holds no prediction)."""
        return self.measured.vmaf - self.rung.predicted.vmaf

    @property
    def bitrate_error(self) -> float:
        """Measured average bitrate over the target, minus one (0.05 = 5% over)."""
        return self.measured.bitrate_kbps / self.rung.bitrate_kbps - 1.0

    @property
    def peak_ratio(self) -> float:
        """Peak segment bitrate over the average (NaN when the peak was not measured)."""
        m = self.measured
        return (
            m.peak_bitrate_kbps / m.bitrate_kbps
            if m.peak_bitrate_kbps > 0 and m.bitrate_kbps > 0
            else math.nan
        )


@dataclass(frozen=True)
class VerifyResult:
    title: str
    ladder_path: str
    source: MediaInfo
    settings: dict[str, object]
    tolerance_vmaf: float
    max_bitrate_error: float
    max_peak_ratio: float
    checks: tuple[RungCheck, ...]
    warnings: tuple[str, ...]
    encodes: int
    cache_hits: int
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> tuple[str, ...]:
        """One line per problem: '<rung>: <why>'."""
        return tuple(f"{c.label}: {p}" for c in self.checks for p in c.problems)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1


def load_ladder(path: str | Path) -> TitleResult:
    """Read a `pertitle.ladder/v1` document (.json or .yaml, as analyze writes them).

    Raises:
        ConfigError: one line naming the file: unreadable, not parseable, or not a valid v1 document.
    """
    from pertitle.report import serialize

    doc = serialize.read_document(path, "ladder file")
    try:
        return serialize.from_document(doc)
    except InputError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def check_rung(
    rung: Rung,
    measured: Measurement,
    *,
    tolerance_vmaf: float = DEFAULT_TOLERANCE_VMAF,
    max_bitrate_error: float = MAX_BITRATE_ERROR,
    max_peak_ratio: float = MAX_PEAK_RATIO,
    segment_s: float = SEGMENT_S,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Hold one measured rung against its prediction and target. Pure.

    Returns:
        (problems, notes): each problem is one reason the rung fails; notes do not fail it.
    """
    problems: list[str] = []
    notes: list[str] = []
    predicted = rung.predicted.vmaf
    if not math.isfinite(predicted):
        notes.append("the ladder holds no predicted VMAF for this rung; VMAF not checked")
    else:
        # To the 3 decimals the ladder keeps its prediction in: the same encode is no miss.
        delta = round(measured.vmaf - predicted, 3)
        if delta < -tolerance_vmaf:
            problems.append(
                f"VMAF {measured.vmaf:.2f} is {-delta:.2f} below the predicted {predicted:.2f} "
                f"(tolerance {tolerance_vmaf:g})"
            )
        elif delta > tolerance_vmaf:
            notes.append(
                f"VMAF {measured.vmaf:.2f} is {delta:.2f} above the predicted {predicted:.2f}: "
                "the prediction is pessimistic"
            )
    target = rung.bitrate_kbps
    error = measured.bitrate_kbps / target - 1.0
    expected = rung.predicted_bitrate_kbps
    if abs(error) > max_bitrate_error:
        miss = (
            f"average bitrate {measured.bitrate_kbps:.0f} kbps is {error:+.1%} off its target "
            f"{target:.0f} kbps (limit ±{max_bitrate_error:.0%})"
        )
        if expected > 0 and abs(measured.bitrate_kbps / expected - 1.0) <= max_bitrate_error:
            # The ladder predicted this miss: its deployed-encode check saw the encoder land at
            # `expected` (x264 overshoots low targets on very short titles). Say so; do not fail.
            notes.append(f"{miss}, as the ladder predicted ({expected:.0f} kbps)")
        else:
            problems.append(miss)
    peak = measured.peak_bitrate_kbps
    if peak <= 0:
        notes.append("peak bitrate not measured")
    elif measured.bitrate_kbps > 0 and peak > max_peak_ratio * measured.bitrate_kbps:
        problems.append(
            f"peak bitrate {peak:.0f} kbps over {segment_s:g} s segments is "
            f"{peak / measured.bitrate_kbps:.2f}x the average {measured.bitrate_kbps:.0f} kbps "
            f"(limit {max_peak_ratio:g}x)"
        )
    return tuple(problems), tuple(notes)


def no_more_quality(rungs: Sequence[Rung], measured: Sequence[Measurement]) -> dict[int, tuple[str, ...]]:
    """index -> a note for each rung whose measured VMAF does not rise over the rung below it (by
    bitrate), on the whole title. Pure. Its prediction may still hold (the windows rose where the
    title does not): each rung passes on its own, but such a rung spends bits for nothing, which
    a ladder that verified should not hide."""
    usable = [
        i
        for i in range(len(rungs))
        if math.isfinite(measured[i].bitrate_kbps) and measured[i].bitrate_kbps > 0
    ]
    order = sorted(usable, key=lambda i: measured[i].bitrate_kbps)
    notes: dict[int, tuple[str, ...]] = {}
    for below, above in itertools.pairwise(order):
        low, high = measured[below], measured[above]
        if high.vmaf <= low.vmaf and high.bitrate_kbps > low.bitrate_kbps:
            size = f"{rungs[below].width}x{rungs[below].height}"
            notes[above] = (
                f"VMAF {high.vmaf:.2f} at {high.bitrate_kbps:.0f} kbps does not rise over the rung below "
                f"({size}: {low.vmaf:.2f} at {low.bitrate_kbps:.0f} kbps); "
                f"{high.bitrate_kbps / low.bitrate_kbps - 1:.0%} more bits for no more quality",
            )
    return notes


# How far a rung's width/height may be from the title's (as a log ratio) and be the same shape.
_SHAPE_TOLERANCE = 0.03


def source_mismatch(
    made_for: MediaInfo, title: MediaInfo, sizes: Sequence[tuple[int, int]] = ()
) -> tuple[str, ...]:
    """Warnings when the title is not the one the ladder was made for (size, length), and when
    rungs (`sizes`) are larger than the title: they are encoded upscaled, bits spent on no detail
    the source has (a ladder edited by hand, or made for a larger source). Pure."""
    out = []
    named, given = Path(made_for.path).name, Path(title.path).name
    if named and named != given and made_for.size_bytes and made_for.size_bytes != title.size_bytes:
        # Same size and length, other content: every rung "pessimistic", and a PASS.
        out.append(
            f"the ladder was made for {named} ({counted(made_for.size_bytes, 'byte')}); this title is {given}"
        )
    if (made_for.width, made_for.height) != (title.width, title.height):
        out.append(
            f"the ladder was made for a {made_for.width}x{made_for.height} source; "
            f"this title is {title.width}x{title.height}"
        )
    if math.isfinite(made_for.duration_s) and abs(made_for.duration_s - title.duration_s) > 0.5:
        out.append(
            f"the ladder was made for a {made_for.duration_s:.1f} s source; "
            f"this title is {title.duration_s:.1f} s"
        )

    aspect = title.width / title.height

    def other_shape(w: int, h: int) -> bool:
        # A 16:9 rung of a 4:3 title stretches its picture, larger than it or not (even sizes
        # round a small rung's shape by a percent or two).
        return abs(math.log((w / h) / aspect)) > _SHAPE_TOLERANCE

    stretched = [f"{w}x{h}" for w, h in sizes if other_shape(w, h)]
    larger = [f"{w}x{h}" for w, h in sizes if not other_shape(w, h) and (w > title.width or h > title.height)]
    if larger:
        out.append(
            f"{counted(len(larger), 'rung')} larger than the title's {title.width}x{title.height} "
            f"{for_count(len(larger), 'is', 'are')} encoded upscaled: {', '.join(larger)}"
        )
    if stretched:
        out.append(
            f"{counted(len(stretched), 'rung')} of another shape than the title's "
            f"{title.width}x{title.height}: its picture is stretched to {', '.join(stretched)}"
        )
    return tuple(out)


def verify(
    ladder_path: str | Path,
    title: str | Path,
    ffmpeg: FfmpegInfo,
    *,
    tolerance_vmaf: float = DEFAULT_TOLERANCE_VMAF,
    jobs: int = 0,
    use_cache: bool = True,
    cache_dir: str | None = None,
    encode_timeout_s: float = 1800.0,
    on_event: EventSink = ignore_event,
    executor: Any | None = None,
) -> VerifyResult:
    """Encode every rung of the ladder on the whole title with the production settings the ladder
    recorded, score each, and check it (see the module docstring).

    Raises:
        ConfigError: the ladder file is missing, unreadable or not a valid v1 document, or the
            tolerance is negative.
        InputError: the title cannot be read.
        ToolError: the ffmpeg lacks the ladder's encoder or libvmaf.
        FfmpegError: an encode or a metric pass failed.
    """
    t0 = time.perf_counter()
    if not math.isfinite(tolerance_vmaf) or tolerance_vmaf < 0:
        raise ConfigError(f"--tolerance: {tolerance_vmaf:g} must be a non-negative number of VMAF points")
    ladder = load_ladder(ladder_path)
    unpredicted = [i for i, r in enumerate(ladder.ladder.rungs) if not math.isfinite(r.predicted.vmaf)]
    if unpredicted:  # a rung with nothing to check against cannot fail, so would pass unseen
        raise ConfigError(
            f"{ladder_path}: rungs/{unpredicted[0]}: no predicted VMAF to verify against; "
            "make the ladder again with pertitle analyze"
        )
    settings = settings_from_ladder(
        ladder.settings,
        where=str(ladder_path),
        rungs=ladder.ladder.rungs,
        jobs=jobs,
        use_cache=use_cache,
        cache_dir=cache_dir,
        encode_timeout_s=encode_timeout_s,
    )
    ffmpeg.require_encoder(settings.codec_defaults.encoder)
    ffmpeg.require_libvmaf()
    info = probe(title)
    specs = [rung_spec(settings, r) for r in ladder.ladder.rungs]
    check_rung_sizes(specs, settings, str(ladder_path))
    runner = whole_title_runner(info, settings, ffmpeg, on_event=on_event, executor=executor)
    try:
        unique = list(dict.fromkeys(specs))
        measured = runner.run(
            unique,
            f"encoding and scoring {counted(len(unique), 'rung')} on the whole title",
            require=("peak_bitrate_kbps",),
        )
    finally:
        runner.close()
    checks = []
    falls = no_more_quality(ladder.ladder.rungs, [measured[s] for s in specs])
    for i, (rung, spec) in enumerate(zip(ladder.ladder.rungs, specs, strict=True), 1):
        problems, notes = check_rung(rung, measured[spec], tolerance_vmaf=tolerance_vmaf)
        checks.append(RungCheck(i, rung, spec, measured[spec], problems, notes + falls.get(i - 1, ())))
    return VerifyResult(
        title=utf8_text(Path(title).stem),
        ladder_path=str(ladder_path),
        source=info,
        settings={
            "codec": settings.codec,
            "encoder": settings.codec_defaults.encoder,
            "preset": settings.effective_preset,
            "deploy_rate_control": settings.deploy_rate_control,
            "gop_s": settings.gop_s,
            "scaler": settings.scaler,
            "vmaf_model": runner.model,
            "ffmpeg": ffmpeg.version,
            "pertitle": __version__,
        },
        tolerance_vmaf=tolerance_vmaf,
        max_bitrate_error=MAX_BITRATE_ERROR,
        max_peak_ratio=MAX_PEAK_RATIO,
        checks=tuple(checks),
        warnings=source_mismatch(ladder.source, info, [(r.width, r.height) for r in ladder.ladder.rungs]),
        encodes=runner.encodes,
        cache_hits=runner.cache_hits,
        elapsed_s=round(time.perf_counter() - t0, 3),
    )


def _num(x: float, digits: int = 3) -> float | None:
    return round(float(x), digits) if math.isfinite(x) else None


def to_document(result: VerifyResult) -> dict[str, Any]:
    """The `pertitle.verify/v1` document: the same facts as the terminal table."""
    info = result.source
    return {
        "schema": SCHEMA_ID,
        "title": result.title,
        "ladder": result.ladder_path,
        "ok": result.ok,
        "source": {
            "path": info.path,
            "width": info.width,
            "height": info.height,
            "fps": info.fps,
            "duration_s": info.duration_s,
        },
        "limits": {
            "vmaf_tolerance": result.tolerance_vmaf,
            "max_bitrate_error_pct": round(result.max_bitrate_error * 100, 3),
            "max_peak_ratio": result.max_peak_ratio,
        },
        "rungs": [_rung_document(c) for c in result.checks],
        "failures": list(result.failures),
        "warnings": list(result.warnings),
        "settings": result.settings,
        "encodes": result.encodes,
        "cache_hits": result.cache_hits,
        "elapsed_s": result.elapsed_s,
    }


def _rung_document(c: RungCheck) -> dict[str, Any]:
    r, m = c.rung, c.measured
    return {
        "index": c.index,
        "width": r.width,
        "height": r.height,
        "target_kbps": _num(r.bitrate_kbps, 1),
        "maxrate_kbps": _num(r.maxrate_kbps, 1),
        "bufsize_kbps": _num(r.bufsize_kbps, 1),
        "predicted": {
            "vmaf": _num(r.predicted.vmaf),
            "psnr": _num(r.predicted.psnr),
            "ssim": _num(r.predicted.ssim, 5),
        },
        "measured": {
            "bitrate_kbps": _num(m.bitrate_kbps),
            "peak_bitrate_kbps": _num(m.peak_bitrate_kbps) if m.peak_bitrate_kbps > 0 else None,
            "vmaf": _num(m.vmaf),
            "vmaf_p5": _num(m.vmaf_p5),
            "psnr": _num(m.psnr),
            "ssim": _num(m.ssim, 5),
        },
        "vmaf_delta": _num(c.vmaf_delta),
        "bitrate_error_pct": _num(c.bitrate_error * 100, 2),
        "peak_ratio": _num(c.peak_ratio),
        "ok": c.ok,
        "problems": list(c.problems),
        "notes": list(c.notes),
    }


def summary_lines(result: VerifyResult) -> Sequence[str]:
    """The verdict in plain lines, for a terminal or a log."""
    if result.ok:
        return (
            f"PASS: all {len(result.checks)} rungs are within tolerance"
            if len(result.checks) != 1
            else "PASS: the rung is within tolerance",
        )
    failed = sum(1 for c in result.checks if not c.ok)
    return (f"FAIL: {failed} of {counted(len(result.checks), 'rung')} missed", *result.failures)
