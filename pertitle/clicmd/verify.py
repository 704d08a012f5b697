"""`pertitle verify LADDER TITLE`: encode the ladder's rungs on the whole title with the production
settings and show predicted against measured. Exit 0: every rung within tolerance; 1: a rung
missed (the output says which and why) or an encode failed; 2: bad ladder file, title or option.

The work is `pertitle.verify.verify`; this module parses, renders and maps exit codes.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
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
from pertitle.report import printable
from pertitle.report.terminal import print_whole

if TYPE_CHECKING:
    from pertitle.verify import VerifyResult


def verify(
    ladder: Annotated[
        Path,
        typer.Argument(parser=nonempty_path, help="A ladder document written by analyze (.json or .yaml)."),
    ],
    title: Annotated[
        Path,
        typer.Argument(parser=nonempty_path, help="The title to encode the ladder on (the whole of it)."),
    ],
    tolerance: Annotated[
        float, typer.Option(help="A rung fails when its VMAF is this far below the prediction.")
    ] = 2.0,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the pertitle.verify/v1 document on stdout, nothing else.")
    ] = False,
    jobs: JobsOpt = 0,
    no_cache: NoCacheOpt = False,
    cache_dir: CacheDirOpt = None,
    ffmpeg: FfmpegOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Encode every rung on the whole title with the production settings and check it against its
    prediction: VMAF within --tolerance, average bitrate within 10% of the target, peak (2 s
    segments) at most 2x the average. Exit 0 when all pass, 1 when any misses."""
    from pertitle import verify as core

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
        lambda progress: core.verify(
            ladder,
            title,
            info,
            tolerance_vmaf=tolerance,
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
    else:
        if not quiet:  # on stderr, as with --json: the report on stdout is the result's alone
            warn_lines(err, result.warnings)
        render(result, out)
    raise typer.Exit(result.exit_code)


def render(result: VerifyResult, console: Console) -> None:
    """The predicted-against-measured table, the verdict, and which rung failed why."""
    # Two-line headers and a light box keep the table readable in an 80-column terminal.
    table = Table(
        title=Text(
            printable(f"{result.title}: {Path(result.ladder_path).name} verified on the whole title"),
            style="table.title",
        ),
        box=box.SIMPLE_HEAD,
        padding=(0, 0),
    )
    table.add_column("#", justify="right")
    table.add_column("size")
    for name in (
        "target\nkbps",
        "avg\nkbps",
        "off",
        "peak\nkbps",
        "VMAF\npred.",
        "VMAF\nmeas.",
        "Δ",
        "PSNR",
        "SSIM",
    ):
        table.add_column(name, justify="right")
    table.add_column("")
    for c in result.checks:
        m = c.measured
        table.add_row(
            str(c.index),
            f"{c.rung.width}x{c.rung.height}",
            f"{c.rung.bitrate_kbps:.0f}",
            f"{m.bitrate_kbps:.0f}",
            f"{signed(c.bitrate_error * 100, 1)}%",
            f"{m.peak_bitrate_kbps:.0f}" if m.peak_bitrate_kbps > 0 else "-",
            fmt(c.rung.predicted.vmaf, ".2f"),
            f"{m.vmaf:.2f}",
            signed(c.vmaf_delta, 2) if math.isfinite(c.vmaf_delta) else "-",
            fmt(m.psnr, ".2f"),
            f"{m.ssim:.3f}",
            "ok" if c.ok else "FAIL",
            style=None if c.ok else "red",
        )
    print_whole(console, table)
    s = result.settings
    print_literal(
        console,
        f"{s['codec']} preset {s['preset']}, {s['deploy_rate_control']}, GOP {s['gop_s']:g} s, "
        f"{s['vmaf_model']}; limits: VMAF -{result.tolerance_vmaf:g}, "
        f"bitrate ±{result.max_bitrate_error:.0%}, peak {result.max_peak_ratio:g}x average; "
        f"{result.encodes} encodes, {result.cache_hits} from cache",
    )
    for c in result.checks:
        for n in c.notes:
            print_literal(console, f"note: {c.label}: {n}")
    from pertitle.verify import summary_lines

    lines = summary_lines(result)
    print_literal(console, lines[0], style="bold green" if result.ok else "bold red")
    for line in lines[1:]:
        print_literal(console, f"  {line}")
