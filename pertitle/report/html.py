"""A self-contained HTML report of one analysis: figures embedded as base64 PNG, CSS inline.

The page works offline and from any directory: no scripts, no stylesheets or fonts fetched from
anywhere, no links to other files. Every text that comes from the document (title, paths, settings,
reasons) is HTML-escaped. Pure: `render_html` returns the page as a string; the caller writes it.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pertitle.ffmpeg.commands import applied_vbv
from pertitle.hull import hull_spans
from pertitle.models import TitleResult
from pertitle.reference import ReferenceLadder
from pertitle.report import deployed_encode, plots, printable, scan_note

__all__ = ["render_html"]

_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f4f5f7; color: #1d2330;
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
header { border-bottom: 3px solid #1f4e9c; margin-bottom: 18px; padding-bottom: 10px; }
h1 { font-size: 26px; margin: 0 0 4px; word-break: break-all; }
h2 { font-size: 19px; margin: 30px 0 10px; color: #1f4e9c; }
.sub { color: #5a6272; font-size: 13px; word-break: break-all; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 14px 0 4px; }
.card { background: #fff; border: 1px solid #dde1e8; border-radius: 8px; padding: 10px 14px;
        min-width: 150px; }
.card .k { color: #5a6272; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .v { font-size: 20px; font-weight: 600; }
.card .v.good { color: #1e7b34; } .card .v.bad { color: #b3261e; }
section { background: #fff; border: 1px solid #dde1e8; border-radius: 8px; padding: 4px 18px 16px;
          margin-top: 18px; }
table { border-collapse: collapse; margin: 6px 0; font-size: 14px; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; }
th, td { padding: 4px 8px; border-bottom: 1px solid #e6e9ef; text-align: right; white-space: nowrap; }
th { background: #eef1f6; font-size: 13px; white-space: normal; vertical-align: bottom; }
td.l, th.l { text-align: left; white-space: normal; word-break: break-word; }
tr.hl td { background: #fff8d0; }
table.kv td:first-child { text-align: left; font-weight: 600; color: #39404d; }
table.kv td { text-align: left; white-space: normal; word-break: break-word; }
figure { margin: 8px 0; }
figure img { width: 100%; height: auto; border: 1px solid #e6e9ef; }
figcaption { color: #5a6272; font-size: 13px; margin-top: 4px; }
.warn { background: #fff4e5; border-left: 4px solid #e8a33d; padding: 6px 10px; margin: 6px 0; }
.muted { color: #5a6272; }
details summary { cursor: pointer; color: #1f4e9c; margin: 8px 0; }
footer { color: #8a91a0; font-size: 12px; margin-top: 26px; }
"""


def _esc(value: object) -> str:
    """Text in the page: HTML-escaped, and its control characters and bidirectional overrides made
    visible (`printable`), as the terminal and the PNG show them: a U+202E in a title had reversed
    the page's heading."""
    return html.escape(printable(str(value)), quote=True)


def _num(value: float | None, fmt: str = ".1f", *, suffix: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:{fmt}}{suffix}"


def _table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    left: int = 0,
    highlight: Sequence[bool] | None = None,
) -> str:
    """An HTML table of already-escaped cells; the first `left` columns are left-aligned."""
    head = "".join(f"<th{' class=l' if i < left else ''}>{h}</th>" for i, h in enumerate(headers))
    body = []
    for k, row in enumerate(rows):
        cells = "".join(f"<td{' class=l' if i < left else ''}>{c}</td>" for i, c in enumerate(row))
        cls = ' class="hl"' if highlight is not None and k < len(highlight) and highlight[k] else ""
        body.append(f"<tr{cls}>{cells}</tr>")
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f'<div class="scroll">{table}</div>'


def _kv(rows: Iterable[tuple[str, str]]) -> str:
    """A two-column key/value table; both sides are escaped here."""
    cells = "".join(f"<tr><td>{_esc(k)}</td><td>{_esc(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv"><tbody>{cells}</tbody></table>'


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows += _flatten(value, name + ".")
        elif isinstance(value, list | tuple):
            rows.append((name, ", ".join(_plain(v) for v in value) or "(none)"))
        else:
            rows.append((name, _plain(value)))
    return rows


def _plain(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str | int | bool):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _img(fig_png: bytes, alt: str, caption: str) -> str:
    data = base64.b64encode(fig_png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_esc(alt)}">'
        f"<figcaption>{_esc(caption)}</figcaption></figure>"
    )


def _seconds(s: float) -> str:
    return _num(s, ".1f", suffix=" s")


def render_html(
    result: TitleResult,
    *,
    comparison: plots.Comparison | None = None,
    reference: ReferenceLadder | None = None,
    dpi: int = 110,
) -> str:
    """The report page: summary, ladder table, rate-quality and per-frame figures, comparison or
    reference ladder when given, crossovers, source, measured points, settings, samples and timings.
    """
    src = result.source
    rungs = result.ladder.rungs
    # What the deployed encodes average (their targets where not checked): storage and CDN cost.
    total_kbps = sum(plots.rung_bitrate(r) for r in rungs if math.isfinite(plots.rung_bitrate(r)))
    parts: list[str] = []

    # Header and summary cards.
    parts.append(
        f"<header><h1>{_esc(result.title)}</h1>"
        f'<div class="sub">pertitle per-title ladder report · source {_esc(src.path)}</div></header>'
    )
    cards = [
        ("Source", f"{src.width}x{src.height}"),
        ("Duration", f"{_num(src.duration_s)} s at {src.fps:g} fps"),
        ("Rungs", str(len(rungs))),
        ("Ladder total", f"{total_kbps:,.0f} kbps"),
        ("Top rung VMAF", _num(rungs[-1].predicted.vmaf) if rungs else "–"),
    ]
    card_html = [
        f'<div class="card"><div class="k">{_esc(k)}</div><div class="v">{_esc(v)}</div></div>'
        for k, v in cards
    ]
    if comparison is not None:
        bd = comparison.bd_rate_vmaf_pct
        cls = "" if bd is None else (" good" if bd < 0 else " bad")
        card_html.append(
            f'<div class="card"><div class="k">BD-rate (VMAF) vs {_esc(comparison.reference.name)}</div>'
            f'<div class="v{cls}">{_esc(_num(bd, "+.1f", suffix="%") if bd is not None else "n/a")}'
            "</div></div>"
        )
    parts.append(f'<div class="cards">{"".join(card_html)}</div>')

    # The ladder.
    parts.append(_ladder_section(result))

    # Rate-quality figure.
    rq = plots.rate_quality_figure(result, comparison=comparison, reference=reference)
    caption = (
        "VMAF against bitrate (log scale) for each resolution probed; the grey band is the convex hull, the "
        "diamonds are the chosen rungs at their deployed-encode VMAF, dotted verticals are crossovers."
    )
    if comparison is not None:
        caption += " Black squares and grey triangles: both ladders encoded and measured on the title."
    elif reference is not None:
        caption += f" Triangles on the x axis: {reference.name} bitrates (not measured on this title)."
    parts.append(
        f"<section><h2>Rate-quality curves</h2>{_img(plots.figure_png(rq, dpi=dpi), 'rate-quality', caption)}"
    )
    parts.append(_hull_and_crossovers(result) + "</section>")

    if comparison is not None:
        parts.append(_comparison_section(comparison))
    if reference is not None:
        parts.append(_reference_section(reference))

    # Per-frame VMAF.
    pf = plots.per_frame_figure(result)
    parts.append(
        "<section><h2>Per-frame VMAF</h2>"
        + _img(
            plots.figure_png(pf, dpi=dpi),
            "per-frame VMAF of each rung",
            f"Each rung's deployed {deployed_encode(result.settings)}, scored frame by frame against "
            "the source; the low "
            "percentiles show the worst moments a viewer sees.",
        )
        + _per_frame_table(result)
        + "</section>"
    )

    parts.append(_source_section(result))
    parts.append(_points_section(result))
    parts.append(
        "<section><h2>Settings</h2>"
        + _kv(_flatten(result.settings))
        + "<h2>Tools</h2>"
        + _kv(sorted(result.tool.items()))
        + "</section>"
    )
    t = result.timings
    parts.append(
        "<section><h2>Timings</h2>"
        + _kv(
            [
                ("probe", _seconds(t.probe_s)),
                ("prepare (lossless reference)", _seconds(t.prepare_s)),
                ("encode + measure", _seconds(t.encode_measure_s)),
                ("calibrate (deployed encodes)", _seconds(t.calibrate_s)),
                ("total", _seconds(t.total_s)),
                ("encodes", f"{result.encodes} ({result.cache_hits} from cache)"),
            ]
        )
        + "</section>"
    )
    parts.append(
        f"<footer>Generated by pertitle {_esc(result.tool.get('pertitle', ''))} from the saved ladder "
        "document. Self-contained: no scripts, no external resources.</footer>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>pertitle report: {_esc(result.title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body><main>\n{chr(10).join(parts)}\n</main></body>\n</html>\n"
    )


def _ladder_section(result: TitleResult) -> str:
    rows = []
    rate_control = str(result.settings.get("deploy_rate_control", "abr2pass"))
    for n, r in enumerate(result.ladder.rungs, start=1):
        stats = plots.rung_percentiles(r)
        maxrate, bufsize = applied_vbv(r.codec, rate_control, r.maxrate_kbps, r.bufsize_kbps)
        p1 = stats[1] if stats else r.predicted.vmaf_p1
        p5 = stats[2] if stats else r.predicted.vmaf_p5
        rows.append(
            [
                str(n),
                f"{r.width}x{r.height}",
                _num(r.bitrate_kbps, ",.0f"),
                _num(r.predicted_bitrate_kbps, ",.0f") if r.predicted_bitrate_kbps > 0 else "-",
                "-" if maxrate is None else _num(maxrate, ",.0f"),
                "-" if bufsize is None else _num(bufsize, ",.0f"),
                _esc(f"{r.codec} {r.preset}"),
                _num(r.crf),
                _num(r.predicted.vmaf),
                _num(p5),
                _num(p1),
                _num(r.predicted.psnr, ".2f"),
                _num(r.predicted.ssim, ".4f"),
                _num(r.hull_predicted.vmaf),
            ]
        )
    headers = [
        "#",
        "Resolution",
        "Target kbps",
        "Avg kbps",
        "Maxrate kbps",
        "Bufsize kbps",
        "Codec",
        "CRF",
        "VMAF",
        "VMAF p5",
        "VMAF p1",
        "PSNR dB",
        "SSIM",
        "Hull VMAF",
    ]
    warnings = "".join(f'<div class="warn">{_esc(g)}</div>' for g in result.ladder.gave_way)
    calibrated = any(r.vmaf_per_frame for r in result.ladder.rungs)
    note = (
        f"Avg: what the deployed {deployed_encode(result.settings)} of the probed video averaged; "
        "VMAF, percentiles, PSNR and SSIM: measured on it; "
        "Hull VMAF: read off the CRF hull; -: none (the encoder takes no such limit)."
        if calibrated
        else "Qualities are read off the CRF hull (the rungs were not checked with deployed encodes)."
    )
    table = _table(headers, rows) if rows else '<p class="muted">no rungs were selected</p>'
    return f'<section><h2>Ladder</h2>{table}<p class="muted">{_esc(note)}</p>{warnings}</section>'


def _hull_and_crossovers(result: TitleResult) -> str:
    items = [
        f"<li>{c.high_height}p overtakes {c.low_height}p at {_num(c.bitrate_kbps, ',.0f')} kbps</li>"
        for c in sorted(result.hull.crossovers, key=lambda c: c.bitrate_kbps)
    ]
    body = f"<ul>{''.join(items)}</ul>" if items else '<p class="muted">none in the measured range</p>'
    spans = [
        f"<li>{s.width}x{s.height}: {_num(s.from_kbps, ',.0f')}"
        + ("" if round(s.from_kbps) == round(s.to_kbps) else f"-{_num(s.to_kbps, ',.0f')}")
        + f" kbps ({s.vertices} point{'' if s.vertices == 1 else 's'})</li>"
        for s in hull_spans(result.hull)
    ]
    on_hull = f"<h3>Hull by resolution</h3><ul>{''.join(spans)}</ul>" if spans else ""
    return f"{on_hull}<h3>Crossovers (each size's curve against the next smaller size's)</h3>{body}"


def _comparison_section(c: plots.Comparison) -> str:
    summary = _kv(
        [
            (
                "BD-rate on VMAF",
                _num(c.bd_rate_vmaf_pct, "+.2f", suffix=" %") if c.bd_rate_vmaf_pct is not None else "n/a",
            ),
            (
                "BD-rate on VMAF, linear between rungs",
                _num(c.bd_rate_vmaf_switching_pct, "+.2f", suffix=" %")
                if c.bd_rate_vmaf_switching_pct is not None
                else "n/a",
            ),
            (
                "BD-rate on PSNR",
                _num(c.bd_rate_psnr_pct, "+.2f", suffix=" %") if c.bd_rate_psnr_pct is not None else "n/a",
            ),
            ("BD-VMAF (equal bitrate)", _num(c.bd_vmaf, "+.2f") if c.bd_vmaf is not None else "n/a"),
            (
                "Bits saved at equal quality",
                _num(c.bits_saved_pct, ".1f", suffix=" %") if c.bits_saved_pct is not None else "n/a",
            ),
            (f"Total of {c.ladder.name}", _num(c.ladder.total_kbps, ",.0f", suffix=" kbps")),
            (f"Total of {c.reference.name}", _num(c.reference.total_kbps, ",.0f", suffix=" kbps")),
        ]
        + [("Note", r) for r in c.reasons]
    )
    tables = []
    for ladder in (c.ladder, c.reference):
        rows = [
            [f"{r.width}x{r.height}", _num(r.bitrate_kbps, ",.0f"), _num(r.vmaf)]
            for r in sorted(ladder.rungs, key=lambda r: r.bitrate_kbps)
        ]
        tables.append(
            f"<div><h3>{_esc(ladder.name)}</h3>{_table(['Resolution', 'Measured kbps', 'VMAF'], rows)}</div>"
        )
    return (
        f"<section><h2>Compared with {_esc(c.reference.name)}</h2>{summary}"
        '<p class="muted">Negative BD-rate: the per-title ladder needs fewer bits for the same VMAF.</p>'
        f'<div style="display:flex;gap:40px;flex-wrap:wrap">{"".join(tables)}</div></section>'
    )


def _reference_section(ref: ReferenceLadder) -> str:
    rows = [[f"{r.width}x{r.height}", _num(r.bitrate_kbps, ",.0f")] for r in ref.rungs]
    return (
        f"<section><h2>Reference ladder: {_esc(ref.name)}</h2>"
        f'<p class="muted">{_esc(ref.source)} (rungs above the source are capped at its size)</p>'
        f"{_table(['Resolution', 'Bitrate kbps'], rows)}</section>"
    )


def _per_frame_table(result: TitleResult) -> str:
    rows = []
    for n, r in enumerate(result.ladder.rungs, start=1):
        stats = plots.rung_percentiles(r)
        if stats is None:
            continue
        mean, p1, p5 = stats
        finite = [v for v in r.vmaf_per_frame if math.isfinite(v)]
        rows.append(
            [
                str(n),
                f"{r.width}x{r.height}",
                _num(r.bitrate_kbps, ",.0f"),
                str(len(r.vmaf_per_frame)),
                _num(mean),
                _num(p5),
                _num(p1),
                _num(min(finite) if finite else math.nan),
            ]
        )
    if not rows:
        return ""
    return _table(["#", "Resolution", "kbps", "Frames", "Mean", "p5", "p1", "Min"], rows)


def _source_section(result: TitleResult) -> str:
    src = result.source
    if result.full_pass:
        samples = f"whole title ({src.duration_s:.1f} s)"
    else:
        windows = ", ".join(
            f"{w.start_s:.1f}–{w.start_s + w.duration_s:.1f} s"
            for w in sorted(result.samples, key=lambda w: w.start_s)
        )
        covered = sum(w.duration_s for w in result.samples)
        samples = f"{len(result.samples)} windows, {covered:.1f} s of {src.duration_s:.1f} s: {windows}"
    return (
        "<section><h2>Source</h2>"
        + _kv(
            [
                ("Path", src.path),
                (
                    "Video",
                    f"{src.width}x{src.height}, DAR {src.display_aspect:.3g}, {src.fps:g} fps, {src.codec}"
                    + scan_note(src),
                ),
                ("Pixels", f"{src.pix_fmt}, {src.bit_depth}-bit"),
                ("Rotation", f"{src.rotation_deg}°" if src.rotation_deg else "none"),
                (
                    "Duration",
                    f"{src.duration_s:.2f} s, {src.frame_count} frames, {src.size_bytes / 1e6:.2f} MB",
                ),
                ("Probed", samples),
            ]
        )
        + "</section>"
    )


def _points_section(result: TitleResult) -> str:
    on_hull = {(p.height, p.crf, p.bitrate_kbps) for p in result.hull.vertices}
    pts = sorted(result.points, key=lambda p: (p.height, p.bitrate_kbps))
    rows = [
        [
            f"{p.width}x{p.height}",
            _num(p.crf, "g"),
            _num(p.bitrate_kbps, ",.1f"),
            _num(p.vmaf),
            _num(p.vmaf_hmean),
            _num(p.vmaf_p5),
            _num(p.vmaf_p1),
            _num(p.psnr, ".2f"),
            _num(p.ssim, ".4f"),
            "yes" if (p.height, p.crf, p.bitrate_kbps) in on_hull else "",
            "read off the curve" if p.estimated else "encoded",
        ]
        for p in pts
    ]
    highlight = [(p.height, p.crf, p.bitrate_kbps) in on_hull for p in pts]
    table = _table(
        [
            "Resolution",
            "CRF",
            "kbps",
            "VMAF",
            "VMAF hmean",
            "p5",
            "p1",
            "PSNR dB",
            "SSIM",
            "On hull",
            "Point",
        ],
        rows,
        highlight=highlight,
    )
    read_off = sum(1 for p in pts if p.estimated)
    heading = (
        f"Points ({len(pts)}: {len(pts) - read_off} encoded, {read_off} read off the curves by --fast)"
        if read_off
        else f"Measured points ({len(pts)})"
    )
    return (
        f"<section><h2>{_esc(heading)}</h2>"
        "<details><summary>Show every CRF probe (hull vertices highlighted)</summary>"
        f"{table}</details></section>"
    )
