"""Figures for report files: rate-quality curves with the hull and the ladder, and per-frame VMAF.

Pure figure building: every public function takes the data and returns a new matplotlib `Figure`
drawn on the Agg canvas. Nothing here touches pyplot or its global state, writes a file or prints,
so figures can be built from several threads and in tests. The y axis is always VMAF (the metric a
reference ladder's measurements and the deployed-encode check share); when the hull was built on
another metric, the legend says so.

Also here: the data classes the figures take beyond a `TitleResult` (a measured comparison with a
reference ladder) and `comparison_from_document`, which reads the `pertitle.compare/v1` document that
`pertitle compare --json` writes.
"""

from __future__ import annotations

import io
import math
import textwrap
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure, SubFigure
from matplotlib.text import Annotation, Text
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from matplotlib.transforms import Bbox, blended_transform_factory

from pertitle.errors import InputError
from pertitle.models import METRIC_RANGES, RUNG_KBPS_RANGE, Rung, TitleResult
from pertitle.reference import ReferenceLadder
from pertitle.report import printable

# A title in a script the bundled font lacks (CJK, emoji) draws as boxes; matplotlib's warning per
# missing glyph would fill stderr with lines that are not errors.
warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from", category=UserWarning)

__all__ = [
    "COMPARE_SCHEMA_ID",
    "Comparison",
    "MeasuredLadder",
    "MeasuredRung",
    "comparison_from_document",
    "figure_png",
    "per_frame_figure",
    "rate_quality_figure",
    "report_figure",
    "rung_percentiles",
]

COMPARE_SCHEMA_ID = "pertitle.compare/v1"

# Tableau colours, one per resolution (by rising height); the ladder and comparisons use black/grey.
_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
)
_RQ_SIZE_IN = (11.0, 6.4)
_FRAME_ROW_IN = 1.35


# --------------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class MeasuredRung:
    """One rung of a ladder as encoded and scored on the title."""

    width: int
    height: int
    bitrate_kbps: float
    vmaf: float
    target_kbps: float | None = None  # the rung's own bitrate (None in older documents)


@dataclass(frozen=True)
class MeasuredLadder:
    name: str
    rungs: tuple[MeasuredRung, ...]
    total_kbps: float | None
    best: MeasuredRung | None = None  # the highest-VMAF rung, as compare reports it


@dataclass(frozen=True)
class Comparison:
    """A per-title ladder and a reference ladder, both measured on the same title.

    `bd_rate_*_pct` is negative when the per-title ladder needs fewer bits for the same quality; None
    when it could not be computed, and `reasons` says why.
    """

    title: str
    ladder: MeasuredLadder
    reference: MeasuredLadder
    bd_rate_vmaf_pct: float | None
    bd_rate_psnr_pct: float | None
    reasons: tuple[str, ...]
    bd_vmaf: float | None
    bits_saved_pct: float | None
    # The VMAF range BD-rate averages over, and what the reference spends for the ladder's best
    # VMAF (None in documents written before compare reported them).
    bd_vmaf_range: tuple[float, float] | None = None
    reference_kbps_at_ladder_best: float | None = None
    codec: str | None = None  # the codec the ladder's rungs were encoded in (settings.codec)
    # BD-rate on VMAF read linearly between rungs (`compare.switching_bd_rate`); None before it was.
    bd_rate_vmaf_switching_pct: float | None = None


def comparison_from_document(doc: Any) -> Comparison:
    """Read a `pertitle.compare/v1` document (as written by `pertitle compare --json`).

    Only what the report shows is read: each ladder's name, measured rungs (width, height,
    bitrate_kbps, vmaf) and total, and the BD figures. Other fields are ignored.

    Raises:
        InputError: one line naming the field, when `doc` is not such a document.
    """
    if not isinstance(doc, dict):
        raise InputError(f"not a {COMPARE_SCHEMA_ID} document: expected a mapping, got {type(doc).__name__}")
    if doc.get("schema") != COMPARE_SCHEMA_ID:
        raise InputError(f"not a {COMPARE_SCHEMA_ID} document: schema is {_short(repr(doc.get('schema')))}")
    bd = doc.get("bd_rate")
    if not isinstance(bd, dict):
        raise InputError(f"not a valid {COMPARE_SCHEMA_ID} document: bd_rate: expected a mapping")
    reasons = bd.get("reasons", [])
    if not isinstance(reasons, list):
        raise InputError(f"not a valid {COMPARE_SCHEMA_ID} document: bd_rate.reasons: expected a list")
    return Comparison(
        title=str(doc.get("title", "")),
        ladder=_measured_ladder(doc.get("ladder"), "ladder"),
        reference=_measured_ladder(doc.get("reference"), "reference"),
        bd_rate_vmaf_pct=_optional_number(bd.get("vmaf_pct"), "bd_rate.vmaf_pct", _PCT),
        bd_rate_psnr_pct=_optional_number(bd.get("psnr_pct"), "bd_rate.psnr_pct", _PCT),
        bd_rate_vmaf_switching_pct=_optional_number(
            bd.get("vmaf_switching_pct"), "bd_rate.vmaf_switching_pct", _PCT
        ),
        reasons=tuple(" ".join(str(r).split()) for r in reasons),
        bd_vmaf=_optional_number(doc.get("bd_vmaf"), "bd_vmaf", (-100.0, 100.0)),
        bits_saved_pct=_optional_number(doc.get("bits_saved_pct"), "bits_saved_pct", (-10_000.0, 100.0)),
        bd_vmaf_range=_optional_range(bd.get("vmaf_range"), "bd_rate.vmaf_range"),
        reference_kbps_at_ladder_best=_optional_number(
            doc.get("reference_kbps_at_ladder_best"), "reference_kbps_at_ladder_best", _KBPS_TOTAL
        ),
        codec=_codec(doc.get("settings")),
    )


def _codec(settings: Any) -> str | None:
    codec = settings.get("codec") if isinstance(settings, dict) else None
    return codec if isinstance(codec, str) else None


def compared_another_ladder(comparison: Comparison, rungs: Sequence[Rung]) -> str | None:
    """Why `comparison` is not of the ladder with these `rungs` (its sizes and bitrates, or its
    codec, differ), or None: a compare document of another ladder of the same title would show
    that ladder's BD-rate as this one's."""
    if any(r.target_kbps is None for r in comparison.ladder.rungs):
        return None  # a document from before target_kbps: nothing to hold it against
    theirs = sorted((r.width, r.height, round(r.target_kbps or 0.0, 1)) for r in comparison.ladder.rungs)
    mine = sorted((r.width, r.height, round(r.bitrate_kbps, 1)) for r in rungs)
    if theirs != mine:

        def shown(items: Sequence[tuple[int, int, float]]) -> str:
            return " ".join(f"{h}p@{t:.0f}" for _, h, t in items)

        return f"its ladder's rungs are {shown(theirs)}, this ladder's {shown(mine)}"
    codecs = {r.codec for r in rungs}
    if comparison.codec is not None and codecs and comparison.codec not in codecs:
        return f"its ladder was encoded in {comparison.codec}, this ladder is {', '.join(sorted(codecs))}"
    return None


def _optional_range(value: Any, where: str) -> tuple[float, float] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise _bad(where, "expected [low, high] or null", value)
    lo, hi = (_optional_number(v, where, METRIC_RANGES["vmaf"]) for v in value)
    if lo is None or hi is None or hi < lo:
        raise _bad(where, "expected [low, high] with low <= high", value)
    return lo, hi


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bad(where: str, what: str, value: Any) -> InputError:
    return InputError(f"not a valid {COMPARE_SCHEMA_ID} document: {where}: {what}, got {_short(repr(value))}")


def _optional_number(
    value: Any, where: str, within: tuple[float, float] = (-math.inf, math.inf)
) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(where, "expected a number or null", value)
    lo, hi = within
    if not lo <= value <= hi:
        raise _bad(where, f"expected a number within {lo:g}-{hi:g}", value)
    return float(value)


# What a comparison's figures can be: a BD-rate cannot save more than every bit, and one edited to
# 1e300 pushed the PNG's legend and box off the figure. kbps as the rungs' (`RUNG_KBPS_RANGE`).
_PCT = (-100.0, 10_000.0)
_KBPS_TOTAL = (0.0, RUNG_KBPS_RANGE[1] * 64)


def _measured_ladder(raw: Any, where: str) -> MeasuredLadder:
    if not isinstance(raw, dict):
        raise _bad(where, "expected a mapping", raw)
    measured = raw.get("measured")
    if not isinstance(measured, list) or not measured:
        raise _bad(f"{where}.measured", "expected a non-empty list of rungs", measured)
    rungs = [_measured_rung(item, f"{where}.measured[{i}]") for i, item in enumerate(measured)]
    best = raw.get("best")
    return MeasuredLadder(
        # A name as the figure shows it: compare names a ladder after its file, and a 90-character
        # master's name in the legend squeezed the axes to a third of the figure.
        name=plain_title(" ".join(str(raw.get("name") or where).split()), 60),
        rungs=tuple(rungs),
        total_kbps=_optional_number(raw.get("total_kbps"), f"{where}.total_kbps", _KBPS_TOTAL),
        best=None if best is None else _measured_rung(best, f"{where}.best"),
    )


def _measured_rung(item: Any, at: str) -> MeasuredRung:
    if not isinstance(item, dict):
        raise _bad(at, "expected a mapping", item)
    size = {}
    for key in ("width", "height"):
        v = item.get(key)
        if isinstance(v, float) and v.is_integer():  # 416.0, as the ladder reader takes it
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise _bad(f"{at}.{key}", "expected a positive integer", v)
        size[key] = v
    kbps = _optional_number(item.get("bitrate_kbps"), f"{at}.bitrate_kbps")
    vmaf = _optional_number(item.get("vmaf"), f"{at}.vmaf")
    # What no measurement gives (a hand edit): the ladder reader refuses the same
    # (`serialize._value_problem`); drawn, such a rung fell off the plot with exit 0.
    if kbps is not None and not 0 < kbps <= RUNG_KBPS_RANGE[1]:
        raise _bad(f"{at}.bitrate_kbps", "expected a measured bitrate", kbps)
    lo, hi = METRIC_RANGES["vmaf"]
    if vmaf is not None and not lo <= vmaf <= hi:
        raise _bad(f"{at}.vmaf", f"expected a VMAF score, {lo:g}-{hi:g}", vmaf)
    return MeasuredRung(
        width=size["width"],
        height=size["height"],
        bitrate_kbps=math.nan if kbps is None else kbps,
        vmaf=math.nan if vmaf is None else vmaf,
        target_kbps=_optional_number(item.get("target_kbps"), f"{at}.target_kbps"),
    )


# --------------------------------------------------------------------------------------------------
# Small helpers


def _new_figure(width_in: float, height_in: float) -> Figure:
    fig = Figure(figsize=(width_in, height_in), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)  # attaches itself to the figure: text extents and savefig work, no pyplot
    return fig


def figure_png(fig: Figure, *, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (white background, no timestamp in the metadata)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white", metadata={"Software": None})
    return buf.getvalue()


def plain_title(title: str, limit: int = 80) -> str:
    """A title as a figure can show it: control characters as visible escapes (`printable`, as
    the terminal shows them), at most `limit` characters."""
    text = printable(title)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def _kbps_label(kbps: float) -> str:
    return f"{kbps:,.0f} kbps" if kbps >= 100 else f"{kbps:.3g} kbps"


def _rung_quality(rung: Rung) -> float:
    """The VMAF the rung is drawn at: the deployed-encode value, else the hull's."""
    return rung.predicted.vmaf if math.isfinite(rung.predicted.vmaf) else rung.hull_predicted.vmaf


def rung_bitrate(rung: Rung) -> float:
    """The bitrate the rung is drawn at: what its deployed encode averaged when that VMAF is the
    deployed encode's, else its target. A VBV encode that overshoots (VP9 by 10-15% on 2 s) drawn
    at its target would sit above the CRF hull it cannot beat."""
    if math.isfinite(rung.predicted.vmaf) and rung.predicted_bitrate_kbps > 0:
        return rung.predicted_bitrate_kbps
    return rung.bitrate_kbps


def rung_percentiles(rung: Rung) -> tuple[float, float, float] | None:
    """(mean, 1st percentile, 5th percentile) of the rung's per-frame VMAF; None without frames.

    Percentiles as `measure` computes them (numpy's linear interpolation), over the frames drawn.
    """
    frames = np.asarray([v for v in rung.vmaf_per_frame if math.isfinite(v)], dtype=float)
    if frames.size == 0:
        return None
    return float(frames.mean()), float(np.percentile(frames, 1)), float(np.percentile(frames, 5))


# --------------------------------------------------------------------------------------------------
# Rate-quality


def rate_quality_figure(
    result: TitleResult,
    *,
    comparison: Comparison | None = None,
    reference: ReferenceLadder | None = None,
) -> Figure:
    """VMAF against bitrate (log x): each resolution's measured curve, the hull, the chosen rungs
    (numbered like the ladder table and labelled with resolution and kbps) and the crossovers.

    With `comparison`, both ladders' measured curves are drawn and the BD-rate is written in the plot.
    With `reference` (and no comparison), the reference rungs' bitrates are marked on the x axis.
    """
    fig = _new_figure(*_RQ_SIZE_IN)
    _draw_rate_quality(fig, result, comparison, reference)
    return fig


def _draw_rate_quality(
    fig: Figure | SubFigure,
    result: TitleResult,
    comparison: Comparison | None,
    reference: ReferenceLadder | None,
) -> None:
    ax = fig.add_subplot()
    metric = result.hull.metric
    xs: list[float] = []
    ys: list[float] = []

    by_size: dict[tuple[int, int], list[tuple[float, float, bool]]] = {}
    for p in result.points:
        if _finite(p.bitrate_kbps, p.vmaf) and p.bitrate_kbps > 0:
            by_size.setdefault((p.height, p.width), []).append((p.bitrate_kbps, p.vmaf, p.estimated))
    for i, ((h, w), size_points) in enumerate(sorted(by_size.items())):
        size_points.sort()
        curve_x = [b for b, _, _ in size_points]
        curve_y = [v for _, v, _ in size_points]
        colour = _COLOURS[i % len(_COLOURS)]
        ax.plot(curve_x, curve_y, marker="o", ms=5, lw=1.6, color=colour, label=f"{w}x{h}", zorder=3)
        read_off = [(b, v) for b, v, estimated in size_points if estimated]
        if read_off:  # --fast's points read off the curve, not encoded: hollow
            ex, ey = zip(*read_off, strict=True)
            ax.scatter(ex, ey, s=26, facecolor="white", edgecolor=colour, linewidths=1.4, zorder=4)
        xs += curve_x
        ys += curve_y
    if any(p.estimated for p in result.points):
        ax.scatter([], [], s=26, facecolor="white", edgecolor="#555555", label="read off the curve (--fast)")

    hull = [
        (v.bitrate_kbps, v.vmaf)
        for v in result.hull.vertices
        if _finite(v.bitrate_kbps, v.vmaf) and v.bitrate_kbps > 0
    ]
    if hull:
        hull.sort()
        hx, hy = zip(*hull, strict=True)
        hull_label = "convex hull" if metric == "vmaf" else f"convex hull (built on {metric})"
        ax.plot(hx, hy, color="black", lw=3.2, alpha=0.22, label=hull_label, zorder=2, solid_capstyle="round")

    rung_xy: list[tuple[int, Rung, float, float]] = []
    for n, r in enumerate(result.ladder.rungs, start=1):
        q, kbps = _rung_quality(r), rung_bitrate(r)
        if _finite(kbps, q) and kbps > 0:
            rung_xy.append((n, r, kbps, q))
    if rung_xy:
        ax.scatter(
            [x for _, _, x, _ in rung_xy],
            [y for _, _, _, y in rung_xy],
            s=110,
            marker="D",
            facecolor="gold",
            edgecolor="black",
            linewidth=1.2,
            zorder=6,
            label="chosen rungs (deployed encode)",
        )
        xs += [x for _, _, x, _ in rung_xy]
        ys += [y for _, _, _, y in rung_xy]

    if comparison is not None:
        for ladder, colour, line, marker in (
            (comparison.ladder, "black", "-", "s"),
            (comparison.reference, "#555555", "--", "^"),
        ):
            pts = sorted(
                (r.bitrate_kbps, r.vmaf)
                for r in ladder.rungs
                if _finite(r.bitrate_kbps, r.vmaf) and r.bitrate_kbps > 0
            )
            if not pts:
                continue
            x, y = zip(*pts, strict=True)
            ax.plot(
                x,
                y,
                color=colour,
                ls=line,
                marker=marker,
                lw=1.3,
                ms=6,
                mfc="white",
                zorder=4,
                label=f"{ladder.name} (measured)",
            )
            xs += x
            ys += y

    if not xs:
        ax.text(
            0.5,
            0.5,
            "no finite rate-quality points to plot",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        ax.set_axis_off()
        return

    _set_axes(ax, xs, ys, reference if comparison is None else None)
    if reference is not None and comparison is None:
        _mark_reference(ax, reference)
    _mark_crossovers(ax, result)
    # Legend and comparison outside the plot, on the right: inside they would hide markers or labels.
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8.5, framealpha=1.0)
    if comparison is not None:
        ax.text(
            1.01,
            0.0,
            _comparison_text(comparison),
            transform=ax.transAxes,
            ha="left",
            va="bottom",
            fontsize=8.5,
            bbox={"boxstyle": "round,pad=0.4", "facecolor": "white", "edgecolor": "#999999"},
            zorder=8,
        )
    ax.set_title(f"{plain_title(result.title)}: VMAF vs bitrate", loc="left", fontsize=12, fontweight="bold")
    _label_rungs(fig, ax, rung_xy, list(zip(xs, ys, strict=True)))


def _set_axes(ax: Axes, xs: Sequence[float], ys: Sequence[float], reference: ReferenceLadder | None) -> None:
    x_lo, x_hi = min(xs), max(xs)
    if reference is not None:
        ref = [r.bitrate_kbps for r in reference.rungs]
        x_lo, x_hi = min(x_lo, *ref), max(x_hi, *ref)
    pad = 1.25 if x_hi / x_lo > 1.01 else 2.0
    ax.set_xscale("log")
    ax.set_xlim(x_lo / pad, x_hi * pad)
    decades = math.log10(x_hi / x_lo)
    subs = (1.0, 2.0, 5.0) if decades > 1.2 else (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    y_lo, y_hi = min(ys), max(ys)
    span = max(y_hi - y_lo, 5.0)
    # Room above for the crossover labels, below for the reference markers and rung labels.
    ax.set_ylim(max(-5.0, y_lo - 0.18 * span), min(110.0, y_hi + 0.16 * span))
    ax.set_xlabel("bitrate (kbps, log scale)")
    ax.set_ylabel("VMAF")
    ax.grid(True, which="major", color="#dddddd", lw=0.8)
    ax.set_axisbelow(True)


def _mark_crossovers(ax: Axes, result: TitleResult) -> None:
    lo, hi = ax.get_xlim()
    top = blended_transform_factory(ax.transData, ax.transAxes)
    labelled = False
    for c in sorted(result.hull.crossovers, key=lambda c: c.bitrate_kbps):
        if not (math.isfinite(c.bitrate_kbps) and lo < c.bitrate_kbps < hi):
            continue
        ax.axvline(
            c.bitrate_kbps,
            color="#888888",
            ls=":",
            lw=1.1,
            zorder=1,
            label=None if labelled else "crossover (higher resolution wins)",
        )
        labelled = True
        ax.text(
            c.bitrate_kbps,
            0.99,
            f" {c.low_height}p→{c.high_height}p at {c.bitrate_kbps:,.0f} ",
            transform=top,
            rotation=90,
            ha="right",
            va="top",
            fontsize=7.5,
            color="#555555",
            zorder=5,
        )


def _mark_reference(ax: Axes, reference: ReferenceLadder) -> None:
    """The reference rungs as triangles on the x axis, with their heights; they have no VMAF yet."""
    bottom = blended_transform_factory(ax.transData, ax.transAxes)
    xs = [r.bitrate_kbps for r in reference.rungs]
    ax.scatter(
        xs,
        [0.0] * len(xs),
        transform=bottom,
        marker="^",
        s=70,
        color="#444444",
        clip_on=False,
        zorder=7,
        label=f"{reference.name} rungs (bitrate only, not measured)",
    )
    for r in reference.rungs:
        ax.text(
            r.bitrate_kbps,
            0.035,
            f"{r.height}p",
            transform=bottom,
            rotation=90,
            ha="center",
            va="bottom",
            fontsize=7,
            color="#444444",
        )


def _comparison_text(c: Comparison) -> str:
    lines = [f"{c.ladder.name} vs {c.reference.name}"]
    if c.bd_rate_vmaf_pct is not None:
        verdict = "fewer" if c.bd_rate_vmaf_pct < 0 else "more"
        lines.append(f"BD-rate (VMAF): {c.bd_rate_vmaf_pct:+.1f}% ({verdict} bits at equal VMAF)")
    else:
        lines.append("BD-rate (VMAF): n/a")
    if c.bd_vmaf_range is not None:
        lines.append(f"  averaged over VMAF {c.bd_vmaf_range[0]:.1f}-{c.bd_vmaf_range[1]:.1f}")
    if c.bd_rate_vmaf_switching_pct is not None:
        lines.append(f"  linear between rungs: {c.bd_rate_vmaf_switching_pct:+.1f}%")
    if c.bd_rate_psnr_pct is not None:
        lines.append(f"BD-rate (PSNR): {c.bd_rate_psnr_pct:+.1f}%")
    if c.bd_vmaf is not None:
        lines.append(f"BD-VMAF: {c.bd_vmaf:+.2f} at equal bitrate")
    if c.ladder.total_kbps is not None and c.reference.total_kbps is not None:
        lines.append(f"ladder totals: {c.ladder.total_kbps:,.0f} vs {c.reference.total_kbps:,.0f} kbps")
    best = c.ladder.best
    if c.reference_kbps_at_ladder_best is not None and best is not None:
        lines.append(
            f"best rung VMAF {best.vmaf:.1f} at {best.bitrate_kbps:,.0f} kbps; "
            f"the reference needs {c.reference_kbps_at_ladder_best:,.0f}"
        )
    # Every reason, whole: cut at 70 characters they lost why a BD-rate is n/a (the PNG stands alone).
    for reason in c.reasons:
        lines += textwrap.wrap(f"note: {reason}", 72, subsequent_indent="  ")
    return "\n".join(lines)


def _text_extent(ann: Annotation, renderer: Any) -> Bbox:
    """The label's text with its rounded box, without the leader line to the point (which
    `Annotation.get_window_extent` includes, and which always touches the rung's own marker)."""
    ann.update_positions(renderer)
    return Text.get_window_extent(ann, renderer).padded(5)


# Label offsets in points, nearest first: below-right first (the curves rise to the right, so that
# side is emptiest), then further out, down into the empty area under the curves' high end, where
# the labels of rungs that crowd together near the top of the curve find room.
_LABEL_OFFSETS: tuple[tuple[int, int], ...] = (
    (12, -30),
    (12, 12),
    (-12, 16),
    (-12, -34),
    (26, -52),
    (26, 30),
    (-30, 38),
    (-30, -58),
    (40, -76),
    (14, -100),
    (-14, -100),
    (30, -130),
    (-30, -130),
    (14, -160),
    (-14, -160),
    (30, -190),
    (-30, -190),
)


def _rung_label(ax: Axes, label: str, x: float, y: float, dx: int, dy: int) -> Annotation:
    return ax.annotate(
        label,
        (x, y),
        xytext=(dx, dy),
        textcoords="offset points",
        ha="left" if dx > 0 else "right",
        va="center",
        fontsize=8.5,
        bbox={"boxstyle": "round,pad=0.25", "facecolor": "#fff8d0", "edgecolor": "#b59a00", "lw": 0.8},
        arrowprops={"arrowstyle": "-", "color": "#8a7500", "lw": 0.8, "shrinkA": 0, "shrinkB": 5},
        zorder=9,
    )


def _overlap_area(a: Bbox, b: Bbox) -> float:
    both = Bbox.intersection(a, b)
    return 0.0 if both is None else both.width * both.height


def _label_rungs(
    fig: Figure | SubFigure,
    ax: Axes,
    rungs: Sequence[tuple[int, Rung, float, float]],
    markers: Sequence[tuple[float, float]],
) -> None:
    """Label each rung "#n WxH / kbps", trying offsets until the label covers no text, no marker (the
    points in `markers`, data coordinates) and no label placed so far, and stays inside the axes; when
    no offset is free, the one inside the axes that covers the least of them.

    Call it last: it reads the final layout, and the labels are kept out of the layout so that they do
    not move the axes they were placed against.
    """
    if not rungs:
        return
    renderer = fig.figure.canvas.get_renderer()  # type: ignore[attr-defined]
    # Settle the constrained layout (one pass may not converge with a legend outside the axes), then
    # freeze it below, so that the extents measured here are those of the saved image.
    for _ in range(4):
        before = ax.get_position().bounds
        fig.figure.draw_without_rendering()
        if np.allclose(before, ax.get_position().bounds, atol=1e-4):
            break
    axes_box = ax.get_window_extent(renderer)
    taken: list[Bbox] = [text.get_window_extent(renderer) for text in ax.texts]
    pad = 7.0  # pixels around a marker
    for px, py in ax.transData.transform(np.asarray(markers, dtype=float).reshape(-1, 2)):
        taken.append(Bbox.from_extents(px - pad, py - pad, px + pad, py + pad))
    for n, r, x, y in rungs:
        label = f"#{n} {r.width}x{r.height}\n{_kbps_label(x)}"
        # (outside the axes, area covered): the first free offset wins; when none is free (rungs
        # crowding near the top), the one inside the axes that covers least.
        best: tuple[tuple[bool, float], Annotation] | None = None
        for dx, dy in _LABEL_OFFSETS:
            ann = _rung_label(ax, label, x, y, dx, dy)
            box = _text_extent(ann, renderer)
            inside = axes_box.contains(box.x0, box.y0) and axes_box.contains(box.x1, box.y1)
            cost = (not inside, sum(_overlap_area(box, t) for t in taken))
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, ann)
            else:
                ann.remove()
            if cost == (False, 0.0):
                break
        assert best is not None
        placed = best[1]
        placed.set_in_layout(False)
        taken.append(_text_extent(placed, renderer))
    fig.figure.set_layout_engine("none")


# --------------------------------------------------------------------------------------------------
# Per-frame VMAF


def per_frame_figure(result: TitleResult) -> Figure:
    """Per-frame VMAF of each rung's deployed encode over time, one row per rung (lowest rung at the
    top), with its mean, 1st and 5th percentiles drawn as lines and written beside the row.

    Time is seconds into the probed video (the sample windows back to back, their joins marked). A
    ladder without per-frame scores gets a figure that says so.
    """
    rows = max(1, sum(1 for r in result.ladder.rungs if r.vmaf_per_frame))
    fig = _new_figure(_RQ_SIZE_IN[0], 0.9 + _FRAME_ROW_IN * rows)
    _draw_per_frame(fig, result)
    return fig


def _draw_per_frame(fig: Figure | SubFigure, result: TitleResult) -> None:
    numbered = [(n, r) for n, r in enumerate(result.ladder.rungs, start=1) if r.vmaf_per_frame]
    if not numbered:
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.text(
            0.5,
            0.5,
            "no per-frame VMAF in this analysis: the rungs were not checked with deployed encodes\n"
            "(run pertitle analyze with --calibrate, the default)",
            ha="center",
            va="center",
            fontsize=10,
            color="#555555",
            transform=ax.transAxes,
        )
        return
    fps = result.source.fps if math.isfinite(result.source.fps) and result.source.fps > 0 else 1.0
    unit = "s" if fps != 1.0 else "frames"
    axes = fig.subplots(len(numbered), 1, sharex=True, squeeze=False)[:, 0]
    joins: list[float] = []
    if not result.full_pass and len(result.samples) > 1:
        edge = 0.0
        for w in sorted(result.samples, key=lambda w: w.start_s)[:-1]:
            edge += w.duration_s
            joins.append(edge)
    for ax, (n, rung) in zip(axes, numbered, strict=True):
        values = np.asarray(rung.vmaf_per_frame, dtype=float)
        t = np.arange(values.size) / fps
        colour = "#1f4e9c"
        ax.plot(t, values, color=colour, lw=1.0)
        stats = rung_percentiles(rung)
        if stats is not None:
            mean, p1, p5 = stats
            ax.axhline(mean, color="#2ca02c", lw=1.0, ls="-", alpha=0.8)
            ax.axhline(p5, color="#ff7f0e", lw=1.0, ls="--")
            ax.axhline(p1, color="#d62728", lw=1.0, ls=":")
            for k, (text, colour_k) in enumerate(
                (
                    (f"mean {mean:5.1f}", "#2a7d2a"),
                    (f"p5   {p5:5.1f}", "#c25e00"),
                    (f"p1   {p1:5.1f}", "#b22222"),
                )
            ):
                ax.text(
                    1.01,
                    0.78 - 0.28 * k,
                    text,
                    transform=ax.transAxes,
                    ha="left",
                    va="center",
                    fontsize=8.5,
                    family="monospace",
                    color=colour_k,
                )
        for j in joins:
            ax.axvline(j, color="#999999", lw=0.8, ls="-.")
        finite = values[np.isfinite(values)]
        lo = float(finite.min()) if finite.size else 0.0
        hi = float(finite.max()) if finite.size else 100.0
        span = max(hi - lo, 6.0)
        top = hi + 0.12 * span
        ax.set_ylim(max(0.0, lo - 0.12 * span), min(top, 101.5) if hi <= 100 else top)
        ax.set_ylabel("VMAF", fontsize=8.5)
        ax.tick_params(labelsize=8)
        ax.grid(True, color="#e4e4e4", lw=0.7)
        ax.set_title(
            # The target: the label on the curves gives what the deployed encode averaged.
            f"#{n} {rung.width}x{rung.height}, target {_kbps_label(rung.bitrate_kbps)}",
            loc="left",
            fontsize=9.5,
            pad=3,
        )
    axes[-1].set_xlabel(
        f"time into the probed video ({unit})"
        + (", sample windows back to back (dash-dot: joins)" if joins else "")
    )
    axes[0].set_xlim(0, max(1, max(len(r.vmaf_per_frame) for _, r in numbered) - 1) / fps)
    fig.suptitle(
        "Per-frame VMAF of each rung's deployed encode "
        "(green: mean, orange dashed: 5th pct, red dotted: 1st pct)",
        x=0.01,
        ha="left",
        fontsize=10.5,
        fontweight="bold",
    )


# --------------------------------------------------------------------------------------------------
# Both, for a single PNG


def report_figure(
    result: TitleResult,
    *,
    comparison: Comparison | None = None,
    reference: ReferenceLadder | None = None,
) -> Figure:
    """The rate-quality plot above the per-frame VMAF rows, in one figure (the `--png` report)."""
    rows = max(1, sum(1 for r in result.ladder.rungs if r.vmaf_per_frame))
    frame_h = 0.9 + _FRAME_ROW_IN * rows if rows else 1.2
    fig = _new_figure(_RQ_SIZE_IN[0], _RQ_SIZE_IN[1] + frame_h + 0.2)
    grid = fig.add_gridspec(2, 1, height_ratios=[_RQ_SIZE_IN[1], frame_h])
    top, bottom = fig.add_subfigure(grid[0]), fig.add_subfigure(grid[1])
    _draw_per_frame(bottom, result)
    _draw_rate_quality(top, result, comparison, reference)  # last: its labels need the final layout
    return fig
