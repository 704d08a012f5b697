"""Compare a ladder with the one it would replace, on one title, from real production encodes.

Both ladders' rungs are encoded on the whole title with the production settings (`plan.deployed_spec`:
the codec, preset, GOP and rate control of the ladder under test; a reference ladder keeps its
own codec, takes the preset only when the codec is the same, and gets VBV from the default
`Constraints`), cached like every other encode, and scored the same way (one VMAF model, one
scaler, upscaled to the source's size). Then, with the ladder under test as the test curve and the
reference as the reference curve (`bdrate`):

- BD-rate on VMAF and on PSNR: pchip of log10(rate) over the overlapping quality range only; no
  number, and the reason instead, when a curve keeps fewer than 4 efficient points or the overlap
  is under half the shorter curve;
- BD-VMAF: the quality gained at equal bitrate;
- bits saved at equal quality: at each reference rung whose VMAF the ladder under test also
  reaches, the share of bits it saves (interpolated the same way), averaged;
- each ladder's total bitrate (the sum of its measured average bitrates), a proxy for storage and
  CDN cost.

A rung of a reference ladder above the title's resolution is capped to it (`reference.cap_to_source`).
The result is data; `to_document` gives the `pertitle.compare/v1` document; nothing here prints.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pertitle import __version__
from pertitle.bdrate import (
    DEFAULT_MIN_OVERLAP,
    BdQualityResult,
    BdResult,
    EqualQualityPoint,
    bd_quality,
    bd_rate,
    bits_saved_at_equal_quality,
    hull_bd_rate,
    rate_for_quality,
)
from pertitle.cache import utf8_text
from pertitle.config import CODECS, Settings, settings_from_ladder, validate
from pertitle.errors import ConfigError, InputError
from pertitle.ffmpeg.binary import FfmpegInfo
from pertitle.models import Constraints, EncodeSpec, Measurement, MediaInfo, counted, for_count
from pertitle.plan import check_rung_sizes, deployed_spec, vmaf_model_for
from pertitle.probe import probe
from pertitle.probes import EventSink, Runner, ignore_event, whole_title_runner
from pertitle.reference import (
    BUNDLED_LADDERS,
    ReferenceLadder,
    ReferenceRung,
    cap_to_source,
    load_reference,
    reference_from_document,
)
from pertitle.report.serialize import read_document
from pertitle.verify import source_mismatch

SCHEMA_ID = "pertitle.compare/v1"
BD_MIN_POINTS = 4
LADDER_SCHEMA_ID = "pertitle.ladder/v1"


@dataclass(frozen=True)
class PlannedRung:
    width: int
    height: int
    bitrate_kbps: float
    maxrate_kbps: float
    bufsize_kbps: float
    crf: float | None = None  # a per-title rung's CRF (used by capped-CRF deployment)


@dataclass(frozen=True)
class LadderSource:
    """A ladder to encode, from a v1 ladder document ("per-title") or a reference YAML ("reference")."""

    name: str
    kind: str
    origin: str
    codec: str
    rungs: tuple[PlannedRung, ...]
    settings: Settings | None = None  # the production settings a v1 document recorded
    provenance: str = ""
    made_for: MediaInfo | None = None  # the source a v1 document was analysed on


@dataclass(frozen=True)
class MeasuredRung:
    width: int
    height: int
    target_kbps: float
    spec: EncodeSpec
    measured: Measurement


@dataclass(frozen=True)
class MeasuredLadder:
    name: str
    kind: str
    origin: str
    codec: str
    preset: str
    rate_control: str
    rungs: tuple[MeasuredRung, ...]

    @property
    def total_kbps(self) -> float:
        """Sum of the measured average bitrates: what storing (and serving) every rung costs."""
        return sum(r.measured.bitrate_kbps for r in self.rungs)

    @property
    def best(self) -> MeasuredRung:
        """The rung with the highest VMAF: the most this ladder offers a viewer."""
        return max(self.rungs, key=lambda r: r.measured.vmaf)

    def curve(self, metric: str) -> list[tuple[float, float]]:
        """(bitrate_kbps, metric) of every rung, as `bdrate` takes it."""
        return [(r.measured.bitrate_kbps, float(getattr(r.measured, metric))) for r in self.rungs]


@dataclass(frozen=True)
class CompareResult:
    title: str
    source: MediaInfo
    ladder: MeasuredLadder
    reference: MeasuredLadder
    bd_rate_vmaf: BdResult
    bd_rate_psnr: BdResult
    bd_vmaf: BdQualityResult
    # BD-rate on VMAF read linearly between rungs (`switching_bd_rate`), beside pchip's reading.
    bd_rate_vmaf_switching: BdResult
    equal_quality: tuple[EqualQualityPoint, ...]
    bits_saved_pct: float | None
    # What the reference spends to reach the ladder's best VMAF (None: it never does). BD-rate only
    # averages over the VMAF range both ladders reach, so this and each ladder's best rung say
    # what lies beyond it: a per-title ladder that stops at VMAF 95 where the fixed one goes on to
    # 99.9 at five times the bits saves those bits outside the BD-rate's range.
    reference_kbps_at_ladder_best: float | None
    reasons: tuple[str, ...]  # why each missing number is missing
    settings: dict[str, object]
    warnings: tuple[str, ...]
    encodes: int
    cache_hits: int
    elapsed_s: float


def load_ladder_source(name_or_path: str, what: str) -> LadderSource:
    """A bundled reference name (e.g. "apple_hls_h264"), a reference-ladder YAML, or a
    `pertitle.ladder/v1` document (.json/.yaml written by analyze).

    Raises:
        ConfigError: one line naming the file (or option `what`) and what is wrong with it.
    """
    if not name_or_path.strip():
        raise ConfigError(f"the {what} is an empty name; give a ladder file or a bundled ladder")
    if name_or_path in BUNDLED_LADDERS:
        return _from_reference(load_reference(name_or_path), f"bundled:{name_or_path}")
    if not Path(name_or_path).exists():
        raise ConfigError(
            f"{name_or_path}: {what} not found; give a ladder document from analyze, a reference "
            f"ladder YAML or a bundled ladder ({', '.join(BUNDLED_LADDERS)})"
        )
    doc = read_document(name_or_path, f"{what} file")
    if isinstance(doc, dict) and "schema" in doc:
        if doc["schema"] != LADDER_SCHEMA_ID:
            raise ConfigError(
                f"{name_or_path}: schema {doc['schema']!r} is not a ladder ({LADDER_SCHEMA_ID}); "
                f"give a ladder document, a reference ladder YAML or one of {', '.join(BUNDLED_LADDERS)}"
            )
        return _from_document(doc, name_or_path)
    if not isinstance(doc, dict) or "rungs" not in doc:
        raise ConfigError(
            f"{name_or_path}: neither a {LADDER_SCHEMA_ID} document nor a reference ladder "
            f"(name, source, codec, rungs); bundled ladders: {', '.join(BUNDLED_LADDERS)}"
        )
    # The document read above: a second read of a pipe (`--reference <(...)`) would find it empty.
    return _from_reference(reference_from_document(doc, origin=name_or_path), name_or_path)


def _from_reference(ref: ReferenceLadder, origin: str) -> LadderSource:
    if ref.codec not in CODECS:
        raise ConfigError(
            f"{origin}: codec {ref.codec!r} is not supported; choose one of {', '.join(CODECS)}"
        )
    c = Constraints()
    rungs = tuple(
        PlannedRung(
            r.width,
            r.height,
            r.bitrate_kbps,
            float(round(r.bitrate_kbps * c.maxrate_factor)),
            float(round(r.bitrate_kbps * c.bufsize_factor)),
        )
        for r in ref.rungs
    )
    return LadderSource(ref.name, "reference", origin, ref.codec, rungs, None, ref.source)


def _reference_vbv(ref: LadderSource) -> dict[str, Any]:
    """How the reference's maxrate and bufsize were set, for the document: a fixed ladder's from
    the default constraints' factors (`_from_reference`), a ladder document's as its rungs say."""
    if ref.kind == "reference":
        c = Constraints()
        return {
            "reference_vbv": "maxrate and bufsize from the default constraints",
            "maxrate_factor": c.maxrate_factor,
            "bufsize_factor": c.bufsize_factor,
        }
    return {
        "reference_vbv": "maxrate and bufsize of the reference document's rungs",
        "maxrate_factor": None,
        "bufsize_factor": None,
    }


def _from_document(doc: dict[str, Any], origin: str) -> LadderSource:
    from pertitle.report import serialize

    try:
        result = serialize.from_document(doc)
    except InputError as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    settings = settings_from_ladder(result.settings, where=origin, rungs=result.ladder.rungs)
    rungs = tuple(
        PlannedRung(
            r.width,
            r.height,
            r.bitrate_kbps,
            r.maxrate_kbps,
            r.bufsize_kbps,
            r.crf if math.isfinite(r.crf) else None,
        )
        for r in result.ladder.rungs
    )
    return LadderSource(
        f"per-title ({result.title})",
        "per-title",
        origin,
        settings.codec,
        rungs,
        settings,
        "pertitle analyze",
        result.source,
    )


def cap_ladder(ladder: LadderSource, width: int, height: int) -> tuple[LadderSource, tuple[str, ...]]:
    """A reference ladder capped to the title's size (`reference.cap_to_source`), with a note per
    capped rung. Per-title ladders are left as they are. Pure."""
    if ladder.kind != "reference":
        return ladder, ()
    capped = cap_to_source(as_reference_ladder(ladder), width, height)
    rungs = tuple(
        replace(r, width=c.width, height=c.height) for r, c in zip(ladder.rungs, capped.rungs, strict=True)
    )
    title = (width // 2 * 2, height // 2 * 2)
    changed = [
        (r, c) for r, c in zip(ladder.rungs, rungs, strict=True) if (r.width, r.height) != (c.width, c.height)
    ]

    # A box larger than the title both ways gives the title's size: capped. Any other box gives
    # the title's shape inside it (a 4:3 title in 416x234 is 312x234; a 480x360 title in 640x360 is
    # itself; a portrait title in 640x360, whose boxes stand on end, is 360x640): no cap.
    def capped_rung(r: PlannedRung, c: PlannedRung) -> bool:
        box_w, box_h = (r.height, r.width) if height > width and r.width > r.height else (r.width, r.height)
        return (c.width, c.height) == title and box_w > width and box_h > height

    above = [f"{r.width}x{r.height} at {r.bitrate_kbps:g}" for r, c in changed if capped_rung(r, c)]
    fitted = [
        f"{r.width}x{r.height} as {c.width}x{c.height} at {r.bitrate_kbps:g}"
        for r, c in changed
        if not capped_rung(r, c)
    ]
    notes: list[str] = []
    if above:
        notes.append(
            f"{ladder.name}: {counted(len(above), 'rung')} above the title's {width}x{height} "
            f"{for_count(len(above), 'is', 'are')} encoded at that size, keeping "
            f"{for_count(len(above), 'its bitrate', 'their bitrates')}: {', '.join(above)} kbps"
        )
    if fitted:
        notes.append(
            f"{ladder.name}: {counted(len(fitted), 'rung')} fitted to the title's shape, keeping "
            f"{for_count(len(fitted), 'its bitrate', 'their bitrates')}: "
            f"{', '.join(fitted)} kbps"
        )
    return replace(ladder, rungs=rungs), tuple(notes)


def as_reference_ladder(ladder: LadderSource) -> ReferenceLadder:
    """Any ladder as a fixed one: its rungs' sizes and bitrates, and where it came from."""
    rungs = tuple(ReferenceRung(r.width, r.height, r.bitrate_kbps) for r in ladder.rungs)
    return ReferenceLadder(ladder.name, ladder.provenance, ladder.codec, rungs)


def production_settings(ladder: LadderSource, base: Settings, *, same_codec_preset: str | None) -> Settings:
    """The settings a ladder's rungs are encoded with: its own recorded settings when it has them
    (codec, preset, rate control), else `base` with the ladder's codec, the preset of the ladder
    under test when the codec is the same (else the codec's default), and two-pass ABR (a fixed
    ladder has bitrates, no CRFs). Scaler, GOP and VMAF model always come from `base`, so both
    ladders are encoded and scored alike. Pure.
    """
    if ladder.settings is not None:
        own = ladder.settings
        return replace(
            base, codec=own.codec, preset=own.effective_preset, deploy_rate_control=own.deploy_rate_control
        )
    preset = same_codec_preset if ladder.codec == base.codec else None
    return replace(base, codec=ladder.codec, preset=preset, deploy_rate_control="abr2pass")


def both_settings(
    test: LadderSource, reference: LadderSource, base: Settings
) -> tuple[Settings, Settings, tuple[str, ...]]:
    """The production settings of each ladder (`production_settings`), and a warning where they
    differ in codec, or in preset for one codec. A fixed ladder records no preset: it is encoded at the other
    side's, on either side (given as --ladder against a document made at veryfast it had taken
    medium, and the BD-rate measured the presets: +8.5% one way round, -31% the other). Pure."""
    own = reference.settings
    peer = own.effective_preset if own is not None and own.codec == base.codec else base.effective_preset
    test_settings = production_settings(test, base, same_codec_preset=peer)
    ref_settings = production_settings(reference, base, same_codec_preset=test_settings.effective_preset)
    a, b = test_settings.effective_preset, ref_settings.effective_preset
    if test_settings.codec != ref_settings.codec:  # a fair question (AV1 against HEVC), said as one
        said = (
            f"the ladders are in different codecs ({test.name}: {test_settings.codec} {a}, "
            f"{reference.name}: {ref_settings.codec} {b}): the BD-rate measures the codecs as well as "
            "the ladders"
        )
        return test_settings, ref_settings, (said,)
    if a != b:
        said = (
            f"the ladders are encoded at different {test_settings.codec} presets ({test.name}: {a}, "
            f"{reference.name}: {b}), as their documents record: the BD-rate measures the presets "
            "as well as the ladders"
        )
        return test_settings, ref_settings, (said,)
    return test_settings, ref_settings, ()


def told_apart(
    test: LadderSource, test_settings: Settings, reference: LadderSource, ref_settings: Settings
) -> tuple[LadderSource, LadderSource]:
    """Two ladders of one name (two documents of the title: both 'per-title (t16x9)') named by
    their codec and preset, or by their side, so that every view tells them apart. Pure."""
    if test.name != reference.name:
        return test, reference
    a = f"{test_settings.codec} {test_settings.effective_preset}"
    b = f"{ref_settings.codec} {ref_settings.effective_preset}"
    if a == b:
        a, b = "ladder", "reference"
    return replace(test, name=f"{test.name}, {a}"), replace(reference, name=f"{reference.name}, {b}")


def rung_specs(ladder: LadderSource, settings: Settings) -> tuple[EncodeSpec, ...]:
    """Production specs of every rung. Pure.

    Raises:
        ConfigError: capped CRF is asked for a rung without a CRF.
        InputError: a rung is smaller than the codec takes (`plan.check_rung_sizes`).
    """
    specs = tuple(
        deployed_spec(settings, r.width, r.height, r.bitrate_kbps, r.maxrate_kbps, r.bufsize_kbps, crf=r.crf)
        for r in ladder.rungs
    )
    check_rung_sizes(specs, settings, ladder.origin)
    return specs


def bd_summary(
    ladder: MeasuredLadder, reference: MeasuredLadder
) -> tuple[BdResult, BdResult, BdQualityResult, tuple[EqualQualityPoint, ...], float | None, tuple[str, ...]]:
    """BD-rate (VMAF, PSNR), BD-VMAF, equal-quality points and bits saved of `ladder` against
    `reference`, with a reason for each number that cannot be given. Pure.

    Returns:
        (bd_rate_vmaf, bd_rate_psnr, bd_vmaf, equal_quality, bits_saved_pct, reasons)
    """
    test_v, ref_v = ladder.curve("vmaf"), reference.curve("vmaf")
    rate_vmaf = bd_rate(ref_v, test_v, min_points=BD_MIN_POINTS)
    rate_psnr = bd_rate(reference.curve("psnr"), ladder.curve("psnr"), min_points=BD_MIN_POINTS)
    quality = bd_quality(ref_v, test_v, min_points=BD_MIN_POINTS)
    equal = bits_saved_at_equal_quality(ref_v, test_v, min_points=2)
    saved = -sum(p.rate_change_pct for p in equal) / len(equal) if equal else None

    def said(reason: str) -> str:
        return _named(reason, ladder, reference)

    reasons = []
    if rate_vmaf.reason:
        reasons.append(f"BD-rate (VMAF): {said(rate_vmaf.reason)}")
    if rate_psnr.reason:
        reasons.append(f"BD-rate (PSNR): {said(rate_psnr.reason)}")
    if quality.reason:
        reasons.append(f"BD-VMAF: {said(quality.reason)}")
    if saved is None:
        reasons.append(
            f"bits saved: no rung of {reference.name} has a VMAF that {ladder.name} also reaches "
            "(or a ladder has fewer than 2 efficient rungs)"
        )
    return rate_vmaf, rate_psnr, quality, equal, saved, tuple(reasons)


def _named(reason: str, ladder: MeasuredLadder, reference: MeasuredLadder) -> str:
    """A `bdrate` reason with the ladders' names for its "test curve" and "reference curve"."""
    return reason.replace("test curve", ladder.name).replace("reference curve", reference.name)


def reference_kbps_for(reference: MeasuredLadder, vmaf: float) -> float | None:
    """The bitrate at which `reference` reaches `vmaf`: read off its curve, or where every rung is
    above it, its cheapest rung that reaches it; None where no rung does. Pure."""
    curve = reference.curve("vmaf")
    rate = rate_for_quality(curve, vmaf)
    if rate is None:
        reaching = [kbps for kbps, q in curve if q >= vmaf]
        rate = min(reaching) if reaching and all(q >= vmaf for _, q in curve) else None
    return rate


def switching_bd_rate(ladder: MeasuredLadder, reference: MeasuredLadder) -> BdResult:
    """BD-rate on VMAF with each ladder read linearly in (bitrate, VMAF) between its rungs: what a
    player that shares its time between two neighbouring rungs delivers (average bits and average
    VMAF both mix linearly). pchip, the standard reading, bends between sparse rungs: on the film
    sample Apple's 145 and 365 kbps rungs read 5-6% cheaper than the title's own encodes over VMAF
    80-87, which took the per-title ladder from -11.1% on this reading to +2.3% on pchip's. Pure."""
    return hull_bd_rate(reference.curve("vmaf"), ladder.curve("vmaf"))


def compare(
    title: str | Path,
    ladder: str,
    reference: str,
    ffmpeg: FfmpegInfo,
    *,
    jobs: int = 0,
    use_cache: bool = True,
    cache_dir: str | None = None,
    encode_timeout_s: float = 1800.0,
    on_event: EventSink = ignore_event,
    executor: Any | None = None,
) -> CompareResult:
    """Encode and score both ladders on the whole title and compare them (see the module docstring).

    Raises:
        ConfigError: a ladder is missing, unreadable or invalid.
        InputError: the title cannot be read.
        ToolError: the ffmpeg lacks an encoder or libvmaf.
        FfmpegError: an encode or a metric pass failed.
    """
    t0 = time.perf_counter()
    test_src = load_ladder_source(ladder, "ladder")
    ref_src = load_ladder_source(reference, "reference ladder")
    overrides: dict[str, Any] = {
        "jobs": jobs,
        "use_cache": use_cache,
        "cache_dir": cache_dir,
        "encode_timeout_s": encode_timeout_s,
    }
    if test_src.settings is not None:
        base = replace(test_src.settings, **overrides)
    else:
        base = validate(Settings(codec=test_src.codec, **overrides))
    ffmpeg.require_libvmaf()
    info = probe(title)
    base = replace(base, vmaf_model=vmaf_model_for(info, base))
    warnings: list[str] = []
    for src in (test_src, ref_src):
        if src.made_for is not None:
            sizes = [(r.width, r.height) for r in src.rungs]
            warnings += [f"{src.origin}: {w}" for w in source_mismatch(src.made_for, info, sizes)]
    test_src, notes = cap_ladder(test_src, info.width, info.height)
    warnings += notes
    ref_src, notes = cap_ladder(ref_src, info.width, info.height)
    warnings += notes
    test_settings, ref_settings, notes = both_settings(test_src, ref_src, base)
    warnings += notes
    test_src, ref_src = told_apart(test_src, test_settings, ref_src, ref_settings)
    test_specs = rung_specs(test_src, test_settings)
    ref_specs = rung_specs(ref_src, ref_settings)
    for s in {test_settings.codec, ref_settings.codec}:
        ffmpeg.require_encoder(CODECS[s].encoder)

    # One Runner per codec (the encoder's version is part of its cache key); one run per Runner, so
    # the rungs of both ladders share the workers and the decoded reference.
    by_codec: dict[str, list[EncodeSpec]] = {}
    for spec in (*test_specs, *ref_specs):
        by_codec.setdefault(spec.codec, [])
        if spec not in by_codec[spec.codec]:
            by_codec[spec.codec].append(spec)
    measured: dict[EncodeSpec, Measurement] = {}
    encodes = hits = 0
    for codec, specs in by_codec.items():
        settings = test_settings if codec == test_settings.codec else ref_settings
        runner: Runner = whole_title_runner(info, settings, ffmpeg, on_event=on_event, executor=executor)
        try:
            measured.update(
                runner.run(
                    specs,
                    f"encoding and scoring {counted(len(specs), codec + ' rung')} of both ladders "
                    "on the whole title",
                    require=("peak_bitrate_kbps",),
                )
            )
        finally:
            runner.close()
        encodes += runner.encodes
        hits += runner.cache_hits

    test_measured = _measured(test_src, test_settings, test_specs, measured)
    ref_measured = _measured(ref_src, ref_settings, ref_specs, measured)
    rate_vmaf, rate_psnr, quality, equal, saved, reasons = bd_summary(test_measured, ref_measured)
    switching = switching_bd_rate(test_measured, ref_measured)
    if switching.reason:
        reasons += (
            f"BD-rate (VMAF), linear between rungs: {_named(switching.reason, test_measured, ref_measured)}",
        )
    return CompareResult(
        title=utf8_text(Path(title).stem),
        source=info,
        ladder=test_measured,
        reference=ref_measured,
        bd_rate_vmaf=rate_vmaf,
        bd_rate_psnr=rate_psnr,
        bd_vmaf=quality,
        bd_rate_vmaf_switching=switching,
        equal_quality=equal,
        bits_saved_pct=saved,
        reference_kbps_at_ladder_best=reference_kbps_for(ref_measured, test_measured.best.measured.vmaf),
        reasons=reasons,
        settings={
            "codec": test_settings.codec,
            "preset": test_settings.effective_preset,
            "rate_control": test_settings.deploy_rate_control,
            "reference_codec": ref_settings.codec,
            "reference_preset": ref_settings.effective_preset,
            "reference_rate_control": ref_settings.deploy_rate_control,
            "reference_source": ref_src.provenance,
            **_reference_vbv(ref_src),
            "gop_s": base.gop_s,
            "scaler": base.scaler,
            "vmaf_model": base.vmaf_model,
            "bd_method": "pchip of log10(bitrate) over the overlapping quality range (JCTVC-L1100)",
            "bd_min_points": BD_MIN_POINTS,
            "bd_min_overlap": DEFAULT_MIN_OVERLAP,
            "ffmpeg": ffmpeg.version,
            "pertitle": __version__,
        },
        warnings=tuple(warnings),
        encodes=encodes,
        cache_hits=hits,
        elapsed_s=round(time.perf_counter() - t0, 3),
    )


def _measured(
    src: LadderSource,
    settings: Settings,
    specs: Sequence[EncodeSpec],
    measured: dict[EncodeSpec, Measurement],
) -> MeasuredLadder:
    rungs = tuple(
        MeasuredRung(r.width, r.height, r.bitrate_kbps, spec, measured[spec])
        for r, spec in zip(src.rungs, specs, strict=True)
    )
    return MeasuredLadder(
        name=src.name,
        kind=src.kind,
        origin=src.origin,
        codec=settings.codec,
        preset=settings.effective_preset,
        rate_control=settings.deploy_rate_control,
        rungs=rungs,
    )


def _num(x: float | None, digits: int = 3) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), digits) + 0.0  # + 0.0: a -0.0 that rounding leaves reads as 0.0


def _ladder_document(ladder: MeasuredLadder) -> dict[str, Any]:
    return {
        "name": ladder.name,
        "measured": [
            {
                "width": r.width,
                "height": r.height,
                "target_kbps": _num(r.target_kbps, 1),
                "bitrate_kbps": _num(r.measured.bitrate_kbps),
                "peak_bitrate_kbps": _num(r.measured.peak_bitrate_kbps)
                if r.measured.peak_bitrate_kbps
                else None,
                "vmaf": _num(r.measured.vmaf),
                "psnr": _num(r.measured.psnr),
                "ssim": _num(r.measured.ssim, 5),
            }
            for r in ladder.rungs
        ],
        "total_kbps": _num(ladder.total_kbps, 1),
        "best": {
            "width": ladder.best.width,
            "height": ladder.best.height,
            "bitrate_kbps": _num(ladder.best.measured.bitrate_kbps),
            "vmaf": _num(ladder.best.measured.vmaf),
        },
    }


def _range(result: BdResult) -> list[float] | None:
    return None if result.overlap is None else [round(result.overlap[0], 3), round(result.overlap[1], 3)]


def to_document(result: CompareResult) -> dict[str, Any]:
    """The `pertitle.compare/v1` document (its shape is a contract: other tools render it)."""
    info = result.source
    return {
        "schema": SCHEMA_ID,
        "title": result.title,
        "source": {
            "path": info.path,
            "width": info.width,
            "height": info.height,
            "fps": info.fps,
            "duration_s": info.duration_s,
        },
        "ladder": _ladder_document(result.ladder),
        "reference": _ladder_document(result.reference),
        "bd_rate": {
            "vmaf_pct": _num(result.bd_rate_vmaf.value_pct, 2),
            "psnr_pct": _num(result.bd_rate_psnr.value_pct, 2),
            "vmaf_range": _range(result.bd_rate_vmaf),
            "psnr_range": _range(result.bd_rate_psnr),
            # Read linearly between rungs, as switching between them delivers (`switching_bd_rate`).
            "vmaf_switching_pct": _num(result.bd_rate_vmaf_switching.value_pct, 2),
            "reasons": list(result.reasons),
        },
        "bd_vmaf": _num(result.bd_vmaf.value, 3),
        "bits_saved_pct": _num(result.bits_saved_pct, 2),
        "reference_kbps_at_ladder_best": _num(result.reference_kbps_at_ladder_best, 1),
        "settings": result.settings,
        "warnings": list(result.warnings),
    }
