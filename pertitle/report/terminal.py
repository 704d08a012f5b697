"""Terminal output: the end-of-analysis report, the rate-quality chart, and the progress sink.

Only `report/` and `cli.py` know Rich. Nothing here computes a result: it reads the frozen models and
prints. `ascii_chart` is pure and returns plain strings, so the chart can be tested without a console;
`render_result` colours it. Every marker differs by character as well as by colour, so the report still
reads with NO_COLOR, in a CI log or through a pipe.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType

from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column, Table
from rich.text import Text

from pertitle.ffmpeg.commands import applied_vbv
from pertitle.hull import hull_spans
from pertitle.models import METRICS, TitleResult
from pertitle.report import deployed_encode, printable, scan_note

__all__ = ["ProgressSink", "ascii_chart", "render_result"]

# Measured points of series i are drawn with _SERIES_MARKERS[i]; the same point on the hull with its
# capital. Letters rather than symbols so that every series has a distinct "on the hull" form.
_SERIES_MARKERS = "oxsvzwknuc"
_HULL_LINE = "."
_LONE_VERTEX = "*"  # a hull vertex that no series point lands on
_RUNG_OVERFLOW = "#"  # rungs are numbered 1-9 like the ladder table; a 10th and beyond share this
_SERIES_STYLES = ("cyan", "magenta", "green", "yellow", "blue", "red", "bright_cyan", "bright_magenta")
_METRIC_NAMES = {
    "vmaf": "VMAF",
    "vmaf_hmean": "VMAF (harmonic mean)",
    "vmaf_p1": "VMAF (1st percentile)",
    "vmaf_p5": "VMAF (5th percentile)",
    "psnr": "PSNR dB",
    "ssim": "SSIM",
}


# --------------------------------------------------------------------------------------------------
# The chart


@dataclass(frozen=True)
class _Chart:
    """Chart lines plus, for every character, what it shows (for colouring).

    A role is "" (axis, label, blank), "s<i>" (measured point of series i), "S<i>" (that point is a hull
    vertex), "hull" (the hull line), "vertex" (a hull vertex with no series point) or "rung".
    """

    lines: list[str]
    roles: list[list[str]]


def ascii_chart(
    series: Mapping[str, Sequence[tuple[float, float]]],
    hull: Sequence[tuple[float, float]],
    rungs: Sequence[tuple[float, float]],
    width: int,
    height: int,
    log_x: bool = True,
    *,
    x_unit: str = "kbps",
) -> list[str]:
    """Draw rate-quality curves as plain text: y-axis ticks, a `width` x `height` plot area, x ticks, legend.

    Each series (label -> (bitrate, metric) points) gets a letter: `o`, `x`, `s`, `v`, ... in order; a
    point that coincides with a hull vertex is drawn as the capital letter. The hull is joined by `.`;
    hull vertices that no series point lands on are `*`. Rungs are numbered `1`-`9` in the given order
    (like the ladder table), `#` after that. Drawing priority, lowest first: hull line, points, rungs.

    The x range is exactly the data's (log10 when `log_x`); the y range is widened to round tick values.
    Plot column c of a line is at index `len(y labels) + 2 + c`; row 0 is the top of the plot. The x tick
    line may run past the plot by half its last label plus `x_unit`; legend lines wrap at the plot's edge.

    Raises:
        ValueError: a plot area smaller than 8x3, a non-finite coordinate, or a bitrate <= 0 with `log_x`.
    """
    return _draw_chart(series, hull, rungs, width, height, log_x, x_unit).lines


def _draw_chart(
    series: Mapping[str, Sequence[tuple[float, float]]],
    hull: Sequence[tuple[float, float]],
    rungs: Sequence[tuple[float, float]],
    width: int,
    height: int,
    log_x: bool,
    x_unit: str,
) -> _Chart:
    if width < 8 or height < 3:
        raise ValueError(f"chart plot area must be at least 8x3 cells, got {width}x{height}")
    everything = [p for pts in series.values() for p in pts] + list(hull) + list(rungs)
    for x, y in everything:
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"cannot plot non-finite point ({x}, {y})")
        if log_x and x <= 0:
            raise ValueError(f"cannot plot bitrate {x} on a log scale; bitrates must be > 0")
    if not everything:
        message = "(no points to plot)"
        return _Chart([message], [[""] * len(message)])

    fx: Callable[[float], float] = math.log10 if log_x else float
    x_lo, x_hi = min(x for x, _ in everything), max(x for x, _ in everything)
    if x_hi - x_lo <= 1e-12 * max(abs(x_hi), 1.0):
        x_lo, x_hi = (x_lo / 2, x_hi * 2) if log_x else (x_lo - 1, x_hi + 1)
    y_min, y_max = min(y for _, y in everything), max(y for _, y in everything)
    y_ticks, y_decimals = _y_ticks(y_min, y_max, intervals=max(1, min(5, (height - 1) // 3)))
    y_lo, y_hi = y_ticks[0], y_ticks[-1]
    fx_lo, fx_hi = fx(x_lo), fx(x_hi)

    def col_of(x: float) -> float:
        return (fx(x) - fx_lo) / (fx_hi - fx_lo) * (width - 1)

    def row_of(y: float) -> float:
        return (height - 1) - (y - y_lo) / (y_hi - y_lo) * (height - 1)

    def cell(x: float, y: float) -> tuple[int, int]:
        c = min(max(round(col_of(x)), 0), width - 1)
        r = min(max(round(row_of(y)), 0), height - 1)
        return c, r

    grid = [[" "] * width for _ in range(height)]
    roles = [[""] * width for _ in range(height)]

    # The hull line: sample each segment finely enough in cell space that it leaves no gaps.
    ordered_hull = sorted(hull)
    for (xa, ya), (xb, yb) in itertools.pairwise(ordered_hull):
        ca, ra, cb, rb = col_of(xa), row_of(ya), col_of(xb), row_of(yb)
        steps = max(1, math.ceil(2 * max(abs(cb - ca), abs(rb - ra))))
        for k in range(steps + 1):
            t = k / steps
            c = min(max(round(ca + t * (cb - ca)), 0), width - 1)
            r = min(max(round(ra + t * (rb - ra)), 0), height - 1)
            grid[r][c], roles[r][c] = _HULL_LINE, "hull"

    vertex_cells = {cell(x, y) for x, y in hull}
    covered: set[tuple[int, int]] = set()
    markers: list[tuple[str, str]] = []
    for i, (label, points) in enumerate(series.items()):
        marker = _SERIES_MARKERS[i % len(_SERIES_MARKERS)]
        markers.append((marker, label))
        for x, y in points:
            c, r = cell(x, y)
            if (c, r) in vertex_cells:
                grid[r][c], roles[r][c] = marker.upper(), f"S{i}"
                covered.add((c, r))
            else:
                grid[r][c], roles[r][c] = marker, f"s{i}"
    lone_vertices = vertex_cells - covered
    for c, r in lone_vertices:
        grid[r][c], roles[r][c] = _LONE_VERTEX, "vertex"
    for n, (x, y) in enumerate(rungs, start=1):
        c, r = cell(x, y)
        grid[r][c], roles[r][c] = (str(n) if n <= 9 else _RUNG_OVERFLOW), "rung"

    # Y axis: a label on the row of each tick.
    tick_labels: dict[int, str] = {}
    for v in y_ticks:
        tick_labels.setdefault(round(row_of(v)), f"{v:.{y_decimals}f}")
    label_w = max(len(s) for s in tick_labels.values())
    lines: list[str] = []
    line_roles: list[list[str]] = []
    for r in range(height):
        prefix = tick_labels.get(r, "").rjust(label_w) + " " + ("┤" if r in tick_labels else "│")
        lines.append(prefix + "".join(grid[r]))
        line_roles.append([""] * len(prefix) + roles[r])

    # X axis: the axis line with tick marks, then labels centred under them where they fit.
    x_ticks = _log_ticks(x_lo, x_hi, max(2, width // 8)) if log_x else _linear_ticks(x_lo, x_hi, width // 8)
    axis = ["─"] * width
    tick_cols = [(round(col_of(v)), _fmt_tick(v)) for v in x_ticks]
    for c, _ in tick_cols:
        if 0 <= c < width:
            axis[c] = "┬"
    lines.append(" " * label_w + " └" + "".join(axis))
    labels = [" "] * (label_w + 2 + width + 2)
    last_end = -1
    for c, text in tick_cols:
        start = max(0, label_w + 2 + c - (len(text) - 1) // 2)
        if start <= last_end + 1:
            continue  # would touch the previous label
        end = start + len(text)
        if end > len(labels):
            labels.extend(" " * (end - len(labels)))
        labels[start:end] = list(text)
        last_end = end - 1
    tick_line = "".join(labels).rstrip()
    if x_unit:
        tick_line += "  " + x_unit + (" (log)" if log_x else "")
    lines.append(tick_line)
    line_roles.extend([[""] * len(lines[-2]), [""] * len(lines[-1])])

    # Legend, wrapped to the chart's width and indented to the plot area.
    entries: list[list[tuple[str, str]]] = []
    for i, (marker, label) in enumerate(markers):
        entries.append([(marker, f"s{i}"), ("/", ""), (marker.upper(), f"S{i}"), (" " + label, "")])
    if hull:
        entries.append([(_HULL_LINE, "hull"), (" hull (capital: point on the hull)", "")])
    if lone_vertices:
        entries.append([(_LONE_VERTEX, "vertex"), (" hull vertex", "")])
    if rungs:
        span = "1" if len(rungs) == 1 else f"1-{min(len(rungs), 9)}"
        extra = f", {_RUNG_OVERFLOW} 10+" if len(rungs) > 9 else ""
        entries.append([(span, "rung"), (" chosen rung" + ("s" if len(rungs) > 1 else "") + extra, "")])
    total_w = label_w + 2 + width
    indent = " " * (label_w + 2)
    line, roles_now = indent, [""] * len(indent)
    for entry in entries:
        text = "".join(piece for piece, _ in entry)
        sep = "" if line == indent else "   "
        if line != indent and len(line) + len(sep) + len(text) > total_w:
            lines.append(line)
            line_roles.append(roles_now)
            line, roles_now, sep = indent, [""] * len(indent), ""
        line += sep
        roles_now += [""] * len(sep)
        for piece, role in entry:
            line += piece
            roles_now += [role] * len(piece)
    if line != indent:
        lines.append(line)
        line_roles.append(roles_now)
    return _Chart(lines, line_roles)


def _nice_step(raw: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is >= raw."""
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * mag >= raw * (1 - 1e-9):
            return m * mag
    return 10.0 * mag


def _decimals_for(step: float) -> int:
    for d in range(0, 8):
        if abs(round(step * 10**d) - step * 10**d) < 1e-6:
            return d
    return 8


def _y_ticks(lo: float, hi: float, intervals: int) -> tuple[list[float], int]:
    """Round tick values covering [lo, hi], about `intervals` apart, and the decimals to print them."""
    if hi - lo <= 1e-12 * max(abs(hi), 1.0):
        pad = max(abs(hi) * 0.05, 1e-3)
        lo, hi = lo - pad, hi + pad
    step = _nice_step((hi - lo) / intervals)
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    ticks = [round(k * step, 10) for k in range(first, last + 1)]
    if len(ticks) < 2:
        ticks.append(round(ticks[0] + step, 10))
    return ticks, _decimals_for(step)


def _linear_ticks(lo: float, hi: float, max_ticks: int) -> list[float]:
    step = _nice_step((hi - lo) / max(1, min(max_ticks, 5)))
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    return [round(k * step, 10) for k in range(first, last + 1)]


def _log_ticks(lo: float, hi: float, max_ticks: int) -> list[float]:
    """Ticks for a log axis: 1-3-10 per decade where that gives 3 or more, else sparser or denser sets."""
    d0, d1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))

    def within(mults: tuple[float, ...]) -> list[float]:
        values = (round(m * 10.0**d, 10) for d in range(d0, d1 + 1) for m in mults)
        return [v for v in values if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9)]

    options = [within(m) for m in ((1, 3), (1,), (1, 2, 5), (1, 1.5, 2, 3, 5, 7))]
    for ticks in options:
        if 3 <= len(ticks) <= max_ticks:
            return ticks
    for ticks in options:
        if 2 <= len(ticks) <= max_ticks:
            return ticks
    decades = options[1]
    if len(decades) > max_ticks:  # a narrow chart over many decades: every other decade, or sparser
        return decades[:: math.ceil(len(decades) / max_ticks)]
    return _linear_ticks(lo, hi, max_ticks)


def _fmt_tick(v: float) -> str:
    return f"{v:.10g}"


# --------------------------------------------------------------------------------------------------
# The report


def render_result(result: TitleResult, console: Console) -> None:
    """Print the end-of-analysis report: source, what was measured, the ladder, crossovers, the chart.

    Titles, paths and messages are printed as text, never parsed as Rich markup, with their control
    characters made visible (`printable`). A chart that cannot be drawn (no points, a bad value) is
    replaced by one line that says why, so the ladder always shows.
    """
    console.print(Text(printable(f"pertitle analysis: {result.title}"), style="bold"))
    console.print()
    console.print(_heading("Source"))
    console.print(_source_table(result))
    console.print()
    console.print(_heading("Measured"))
    console.print(_measured_table(result))
    console.print()
    n = len(result.ladder.rungs)
    console.print(_heading(f"Ladder ({n} rung{'' if n == 1 else 's'})"))
    if result.ladder.rungs:
        print_whole(console, _ladder_table(result))
    else:
        console.print(Text("no rungs were selected", style="yellow"))
    for reason in result.ladder.gave_way:
        console.print(Text("warning: ", style="bold yellow") + Text(printable(reason)))
    console.print()
    console.print(_heading("Hull by resolution"))
    spans = hull_spans(result.hull)
    for span in spans:
        kbps = (
            f"{span.from_kbps:.0f} kbps"
            if round(span.from_kbps) == round(span.to_kbps)
            else f"{span.from_kbps:.0f}-{span.to_kbps:.0f} kbps"
        )
        count = f"{span.vertices} point{'' if span.vertices == 1 else 's'}"
        size = f"{span.width}x{span.height}"
        console.print(Text(f"{size:<10} {kbps:<16} ({count})"))
    if not spans:
        console.print(Text("no hull", style="dim"))
    console.print()
    console.print(_heading("Crossovers (each size's curve against the next smaller size's)"))
    crossovers = sorted(result.hull.crossovers, key=lambda c: c.bitrate_kbps)
    if crossovers:
        for c in crossovers:
            console.print(Text(f"{c.high_height}p overtakes {c.low_height}p at {c.bitrate_kbps:.0f} kbps"))
    else:
        console.print(Text("none in the measured range", style="dim"))
    console.print()
    console.print(_chart_panel(result, console.width))


def _heading(text: str) -> Text:
    return Text(text, style="bold underline")


def _fmt_seconds(s: float) -> str:
    if s < 60:
        return f"{s:.1f} s"
    whole = round(s)
    h, rest = divmod(whole, 3600)
    m, sec = divmod(rest, 60)
    clock = f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
    return f"{s:.1f} s ({clock})"


def _fmt_fps(fps: float) -> str:
    return f"{fps:.3f}".rstrip("0").rstrip(".")


def _key_value_table(rows: Sequence[tuple[str, str]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:  # values quote the source's path, its probed formats, the document's tools
        table.add_row(Text(key), Text(printable(value)))
    return table


def _source_table(result: TitleResult) -> Table:
    src = result.source
    rotation = f"{src.rotation_deg}° (applied: sizes are as displayed)" if src.rotation_deg else "none"
    return _key_value_table(
        [
            ("Path", src.path),
            (
                "Video",
                f"{src.width}x{src.height} (DAR {src.display_aspect:.3g}), "
                f"{_fmt_fps(src.fps)} fps, {src.codec}" + scan_note(src),
            ),
            ("Pixels", f"{src.pix_fmt}, {src.bit_depth}-bit"),
            ("Rotation", rotation),
            (
                "Duration",
                f"{_fmt_seconds(src.duration_s)}, {src.frame_count} frames, {src.size_bytes / 1e6:.1f} MB",
            ),
        ]
    )


def _setting(result: TitleResult, key: str, fallback: str) -> str:
    value = result.settings.get(key)
    return fallback if value is None or value == "" else str(value)


def _measured_table(result: TitleResult) -> Table:
    src = result.source
    if result.full_pass:
        samples = f"whole title ({_fmt_seconds(src.duration_s)})"
    elif result.samples:
        covered = sum(w.duration_s for w in result.samples)
        share = f" ({covered / src.duration_s:.0%})" if src.duration_s > 0 else ""
        windows = ", ".join(
            f"{w.start_s:.1f}-{w.start_s + w.duration_s:.1f} s"
            for w in sorted(result.samples, key=lambda w: w.start_s)
        )
        n = len(result.samples)
        placed = " (placed by complexity)" if result.settings.get("sample_selection") == "complexity" else ""
        samples = (
            f"{n} window{'' if n == 1 else 's'}{placed}, {covered:.1f} s of {src.duration_s:.1f} s{share}: "
            f"{windows}"
        )
    else:
        samples = "none recorded"

    sizes = sorted({(p.height, p.width) for p in result.points})
    crfs = sorted({p.crf for p in result.points})
    first = result.ladder.rungs[0] if result.ladder.rungs else None
    codec = _setting(result, "codec", first.codec if first else "unknown")
    preset = _setting(result, "preset", first.preset if first else "unknown")
    n = len(result.points)
    estimated = sum(1 for p in result.points if p.estimated)
    # --fast leaves some of a size's CRFs out, and reads others off the curves.
    count = f"= {n} points" if n == len(sizes) * len(crfs) else f"grid, {n} points"
    if estimated:
        count += f" ({n - estimated} measured, {estimated} read off the curves)"
    grid = (
        f"{len(sizes)} resolution{'' if len(sizes) == 1 else 's'} x "
        f"{len(crfs)} CRF{'' if len(crfs) == 1 else 's'} {count}; "
        + (", ".join(f"{w}x{h}" for h, w in sizes) or "no resolutions")
        + "; CRF "
        + (", ".join(f"{c:g}" for c in crfs) or "none")
    )
    t = result.timings
    timings = (
        f"probe {t.probe_s:.1f} s, prepare {t.prepare_s:.1f} s, encode+measure {t.encode_measure_s:.1f} s, "
        f"calibrate {t.calibrate_s:.1f} s, total {t.total_s:.1f} s"
    )
    rows = [
        ("Samples", samples),
        ("Grid", grid),
        ("Encoder", f"{codec}, preset {preset}"),
        ("Encodes", f"{result.encodes} ({result.cache_hits} from cache)"),
        ("Timings", timings),
    ]
    if result.tool:
        rows.append(("Tools", ", ".join(f"{k} {v}" for k, v in sorted(result.tool.items()))))
    return _key_value_table(rows)


def _shown(value: float, fmt: str) -> str:
    """A table cell: '-' for a value not measured (NaN, a null in the document), as the caption says."""
    return f"{value:{fmt}}" if math.isfinite(value) else "-"


def _ladder_table(result: TitleResult) -> Table:
    # Two-line headers keep every column whole in an 80-column terminal (a size cut to "640x3…"
    # says nothing).
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    table.add_column("#", justify="right")
    table.add_column("size", justify="right", no_wrap=True)
    for name in (
        "target\nkbps",
        "avg\nkbps",
        "max\nkbps",
        "buf\nkbps",
        "CRF",
        "VMAF",
        "PSNR\ndB",
        "SSIM",
    ):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("hull\nVMAF", justify="right", style="dim", header_style="dim", no_wrap=True)
    rate_control = str(result.settings.get("deploy_rate_control", "abr2pass"))
    for n, r in enumerate(result.ladder.rungs, start=1):
        maxrate, bufsize = applied_vbv(r.codec, rate_control, r.maxrate_kbps, r.bufsize_kbps)
        table.add_row(
            str(n),
            f"{r.width}x{r.height}",
            f"{r.bitrate_kbps:.0f}",
            f"{r.predicted_bitrate_kbps:.0f}" if r.predicted_bitrate_kbps > 0 else "-",
            "-" if maxrate is None else f"{maxrate:.0f}",
            "-" if bufsize is None else f"{bufsize:.0f}",
            _shown(r.crf, ".1f"),
            _shown(r.predicted.vmaf, ".1f"),
            _shown(r.predicted.psnr, ".2f"),
            _shown(r.predicted.ssim, ".4f"),
            _shown(r.hull_predicted.vmaf, ".1f"),
        )
    table.caption = (
        f"avg: what the deployed {deployed_encode(result.settings)} averaged, VMAF/PSNR/SSIM: "
        "predicted for it; hull VMAF: read off the hull; -: none"
    )
    table.caption_style = "dim"
    return table


def _chart_panel(result: TitleResult, console_width: int) -> RenderableType:
    metric = result.hull.metric
    title = f"{_METRIC_NAMES.get(metric, metric)} vs bitrate (log scale)"
    if metric not in METRICS:
        return Text(f"chart unavailable: unknown hull metric {metric!r}", style="yellow")
    series: dict[str, list[tuple[float, float]]] = {}
    for p in sorted(result.points, key=lambda p: (p.height, p.width, p.bitrate_kbps)):
        series.setdefault(f"{p.width}x{p.height}", []).append((p.bitrate_kbps, p.metric(metric)))
    hull = [(v.bitrate_kbps, v.metric(metric)) for v in result.hull.vertices]
    rungs = [(r.bitrate_kbps, float(getattr(r.hull_predicted, metric))) for r in result.ladder.rungs]
    # Leave room for the y labels and axis (<= 8 cells), the x unit after the last tick label (<= 18) and
    # the panel's borders and padding (4).
    width = max(20, min(72, console_width - 30))
    try:
        chart = _draw_chart(series, hull, rungs, width, 20, True, "kbps")
    except ValueError as exc:
        return Text(f"chart unavailable: {exc}", style="yellow")
    return Panel(Group(*_colour(chart)), title=title, title_align="left", expand=False)


def _style_of(role: str) -> str:
    if role.startswith(("s", "S")) and role[1:].isdigit():
        colour = _SERIES_STYLES[int(role[1:]) % len(_SERIES_STYLES)]
        return f"bold {colour}" if role[0] == "S" else colour
    return {"hull": "dim", "vertex": "bold", "rung": "bold reverse"}.get(role, "")


def _colour(chart: _Chart) -> list[Text]:
    texts = []
    for line, roles in zip(chart.lines, chart.roles, strict=True):
        text = Text(no_wrap=True, overflow="crop")
        start = 0
        for i in range(1, len(line) + 1):
            if i == len(line) or roles[i] != roles[start]:
                text.append(line[start:i], style=_style_of(roles[start]))
                start = i
        texts.append(text)
    return texts


# --------------------------------------------------------------------------------------------------
# Progress


def _fmt_eta(s: float) -> str:
    whole = max(0, round(s))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def print_whole(console: Console, table: Table) -> None:
    """Print a table of numbers (no text to wrap) at no less than its natural width: in a
    narrower terminal (a 60-column split) Rich cut its cells to '320x1…' and '35…', numbers that
    read as other numbers. Wider than the terminal, its lines fold there instead, digits intact."""
    from rich.measure import Measurement

    need = Measurement.get(console, console.options.update(width=10_000), table).maximum
    if need <= console.width:
        console.print(table)
        return
    # print(width=) is capped at the console's width: widen the console for this table alone.
    saved = getattr(console, "_width", None)
    console.width = need
    try:
        console.print(table)
    finally:
        setattr(console, "_width", saved)  # noqa: B010 (Rich's own: None is "the terminal's")


def live_display(console: Console) -> bool:
    """Whether progress may be a live bar, which hides the cursor and rewrites its line: on an
    interactive terminal (Rich's `is_interactive`: not TERM=dumb, where Rich does not refresh it
    and showed nothing until a stage ended) without NO_COLOR. FORCE_COLOR asks for colour in a CI
    log, not for a bar there: its redraws filled the log with carriage returns."""
    if console.no_color or not console.is_interactive:
        return False
    if os.environ.get("FORCE_COLOR"):
        isatty = getattr(console.file, "isatty", None)
        return bool(isatty and isatty())
    return True


class ProgressSink:
    """Progress of a batch of jobs, for `with ProgressSink(console, total, description) as sink:`.

    `advance(label)` once per finished job; it may be called from worker threads. On a terminal
    (`console.is_terminal`) without NO_COLOR (`console.no_color`): a Rich progress bar with done/total,
    elapsed and ETA. Elsewhere (CI logs, pipes, NO_COLOR): a header line, then one plain line per job,
    such as `[ 3/36] encoded 640x360 crf 28 (eta 41s)`, with no escape codes. Progress is a diagnostic:
    pass a `Console(stderr=True)`.

    Raises:
        ValueError: a negative total.
    """

    def __init__(
        self,
        console: Console,
        total: int,
        description: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if total < 0:
            raise ValueError(f"total must be >= 0, got {total}")
        self._console = console
        self._total = total
        self._description = description
        self._clock = clock
        self._lock = threading.Lock()
        self._done = 0
        self._started = clock()
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if live_display(console):
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(table_column=Column(no_wrap=True)),
                TimeElapsedColumn(table_column=Column(min_width=7, no_wrap=True)),
                TextColumn("eta"),
                TimeRemainingColumn(table_column=Column(min_width=7, no_wrap=True)),
                # The label gives way first: it had squeezed elapsed and ETA to '0:0…' at 80 columns.
                TextColumn(
                    "{task.fields[label]}",
                    style="dim",
                    markup=False,
                    table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1),
                ),
                console=console,
                expand=True,  # the label's ratio takes what is left, the rest keep their widths
            )
            self._task = self._progress.add_task(description, total=total, label="")

    def __enter__(self) -> ProgressSink:
        self._started = self._clock()
        if self._progress is not None:
            self._progress.start()
        else:
            self._print(f"{self._description}: {self._total} job{'' if self._total == 1 else 's'}")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    @property
    def done(self) -> int:
        return self._done

    @property
    def total(self) -> int:
        return self._total

    def set_total(self, n: int) -> None:
        """Change the number of jobs (never below those already done).

        Raises:
            ValueError: a negative count.
        """
        if n < 0:
            raise ValueError(f"total must be >= 0, got {n}")
        with self._lock:
            self._total = max(n, self._done)
            if self._progress is not None and self._task is not None:
                self._progress.update(self._task, total=self._total)

    def advance(self, label: str) -> None:
        """Record one finished job, described by `label` (e.g. "encoded 640x360 crf 28")."""
        label = printable(" ".join(label.split()))  # one job, one line, nothing a terminal acts on
        with self._lock:
            self._done += 1
            self._total = max(self._total, self._done)
            if self._progress is not None and self._task is not None:
                self._progress.update(self._task, advance=1, total=self._total, label=label)
                return
            elapsed = self._clock() - self._started
            remaining = self._total - self._done
            when = (
                f"eta {_fmt_eta(elapsed / self._done * remaining)}"
                if remaining
                else f"done in {_fmt_eta(elapsed)}"
            )
            width = len(str(self._total))
            self._print(f"[{self._done:>{width}}/{self._total}] {label} ({when})")

    def _print(self, line: str) -> None:
        self._console.print(Text(line), markup=False, highlight=False, emoji=False, soft_wrap=True)
