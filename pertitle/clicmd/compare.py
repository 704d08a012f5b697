"""`pertitle compare TITLE --ladder A --reference B`: encode both ladders on the title and report
BD-rate (VMAF, PSNR), BD-VMAF, bits saved at equal quality and each ladder's total bitrate.
Exit 0 with a result (whichever ladder wins), 1 when an encode failed, 2 for bad input.

The work is `pertitle.compare.compare`; this module parses, renders and maps exit codes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pertitle.clicmd.common import (
    CacheDirOpt,
    FfmpegOpt,
    JobsOpt,
    NoCacheOpt,
    QuietOpt,
    cache_dir_problem,
    consoles,
    fail,
    ffmpeg_info,
    fmt,
    nonempty_path,
    print_literal,
    run_core,
    signed,
    warn_lines,
)
from pertitle.config import MAX_JOBS
from pertitle.models import counted
from pertitle.report import printable
from pertitle.report.terminal import print_whole

if TYPE_CHECKING:
    from pertitle.compare import CompareResult, MeasuredLadder


def compare(
    title: Annotated[
        Path,
        typer.Argument(parser=nonempty_path, help="The title to encode both ladders on (the whole of it)."),
    ],
    ladder: Annotated[
        str,
        typer.Option(
            "--ladder",
            help="The ladder under test: a ladder document from analyze, or a reference ladder YAML.",
        ),
    ],
    reference: Annotated[
        str,
        typer.Option(
            "--reference",
            help="The ladder to beat: a bundled name (apple_hls_h264, apple_hls_hevc_sdr, netflix_2015), "
            "a reference ladder YAML or a ladder document.",
        ),
    ] = "apple_hls_h264",
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the pertitle.compare/v1 document on stdout, nothing else.")
    ] = False,
    jobs: JobsOpt = 0,
    no_cache: NoCacheOpt = False,
    cache_dir: CacheDirOpt = None,
    ffmpeg: FfmpegOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Encode both ladders' rungs on the whole title with the production settings and compare them:
    BD-rate on VMAF and PSNR (pchip, overlapping quality range only, which is shown), quality
    gained at equal bitrate, bits saved at equal quality, each ladder's best rung and what the
    reference spends to reach the ladder's best VMAF, and each ladder's total bitrate."""
    from pertitle import compare as core

    out, err = consoles()
    if not 0 <= jobs <= MAX_JOBS:
        raise fail(err, f"--jobs: {jobs} must be 0 (all cores) to {MAX_JOBS}", 2)
    problem = cache_dir_problem(cache_dir, no_cache)
    if problem:
        raise fail(err, problem, 2)
    info = ffmpeg_info(ffmpeg, err)
    result = run_core(
        err,
        quiet or json_out,
        str(title),
        lambda progress: core.compare(
            title,
            ladder,
            reference,
            info,
            jobs=jobs,
            use_cache=not no_cache,
            cache_dir=str(cache_dir) if cache_dir else None,
            on_event=progress,
        ),
        keep_warnings=json_out and not quiet,
        cached=not no_cache,
    )
    if json_out:
        from pertitle.report.serialize import to_json

        if not quiet:
            warn_lines(err, result.warnings)
        sys.stdout.write(to_json(core.to_document(result)))
        return
    if not quiet:  # on stderr, as with --json: the report on stdout is the result's alone
        warn_lines(err, result.warnings)
    render(result, out)


def _ladder_table(ladder: MeasuredLadder, caption: str) -> Table:
    table = Table(
        title=Text(printable(f"{caption}: {ladder.name}"), style="table.title"), title_justify="left"
    )
    table.add_column("size")
    for name in ("target kbps", "avg kbps", "peak kbps", "VMAF", "PSNR", "SSIM"):
        table.add_column(name, justify="right")
    for r in ladder.rungs:
        m = r.measured
        table.add_row(
            f"{r.width}x{r.height}",
            f"{r.target_kbps:.0f}",
            f"{m.bitrate_kbps:.0f}",
            f"{m.peak_bitrate_kbps:.0f}" if m.peak_bitrate_kbps > 0 else "-",
            f"{m.vmaf:.2f}",
            fmt(m.psnr, ".2f"),
            f"{m.ssim:.4f}",
        )
    target = sum(r.target_kbps for r in ladder.rungs)
    table.caption = Text(
        printable(
            f"{counted(len(ladder.rungs), 'rung')}, {ladder.codec} preset {ladder.preset}, "
            f"{ladder.rate_control}; "
            f"total {ladder.total_kbps:.0f} kbps measured ({target:.0f} kbps targeted)"
        ),
        style="table.caption",
    )
    table.caption_justify = "left"
    return table


def _vmaf_range(result: CompareResult) -> str:
    overlap = result.bd_rate_vmaf.overlap
    if overlap is None:
        return "n/a"
    return f"VMAF {overlap[0]:.1f}-{overlap[1]:.1f} (what both ladders reach)"


def _best(ladder: MeasuredLadder) -> str:
    best = ladder.best
    return (
        f"VMAF {best.measured.vmaf:.2f} at {best.measured.bitrate_kbps:.0f} kbps ({best.width}x{best.height})"
    )


def render(result: CompareResult, console: Console) -> None:
    """Both ladders as measured, then the comparison; a missing number comes with its reason."""
    print_whole(console, _ladder_table(result.ladder, "ladder"))
    print_whole(console, _ladder_table(result.reference, "reference"))

    def pct(x: float | None, better_when_negative: bool) -> str:
        if x is None:
            return "n/a"
        shown = signed(x, 2)
        if float(shown) == 0:  # as shown: the same ladders, or as good as
            return f"{shown}% (same)"
        good = x < 0 if better_when_negative else x > 0
        return f"{shown}% ({'better' if good else 'worse'})"

    rows = [
        ("BD-rate (VMAF)", pct(result.bd_rate_vmaf.value_pct, True)),
        ("BD-rate (VMAF), linear between rungs", pct(result.bd_rate_vmaf_switching.value_pct, True)),
        ("BD-rate (PSNR)", pct(result.bd_rate_psnr.value_pct, True)),
        (
            "BD-VMAF (quality at equal bitrate)",
            "n/a" if result.bd_vmaf.value is None else f"{signed(result.bd_vmaf.value, 2)} VMAF",
        ),
        ("bits saved at equal VMAF", pct(result.bits_saved_pct, False)),
        ("BD-rate averaged over", _vmaf_range(result)),
        ("best rung, ladder", _best(result.ladder)),
        ("best rung, reference", _best(result.reference)),
        (
            "reference at the ladder's best VMAF",
            "never reached"
            if result.reference_kbps_at_ladder_best is None
            else f"{result.reference_kbps_at_ladder_best:.0f} kbps",
        ),
        ("total bitrate, ladder", f"{result.ladder.total_kbps:.0f} kbps"),
        ("total bitrate, reference", f"{result.reference.total_kbps:.0f} kbps"),
    ]
    summary = Table(
        title=Text(printable(f"{result.title}: ladder against reference"), style="table.title"),
        title_justify="left",
        show_header=False,
    )
    summary.add_column("what")
    summary.add_column("value", justify="right")
    for name, value in rows:
        summary.add_row(name, value)
    console.print(summary)
    for reason in result.reasons:
        print_literal(console, f"n/a: {reason}")
    s = result.settings
    print_literal(
        console,
        f"scored with {s['vmaf_model']}, {s['scaler']} scaling, GOP {s['gop_s']:g} s; "
        f"{result.encodes} encodes, {result.cache_hits} from cache",
    )
