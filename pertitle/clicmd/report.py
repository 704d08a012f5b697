"""`pertitle report LADDER.json`: show a saved analysis again, and write it as an HTML page or a PNG.

Reads a `pertitle.ladder/v1` document (JSON or YAML, as `analyze --out` writes), prints the same view
as the end of `analyze`, and with `--html`/`--png` writes self-contained report files. A comparison
(`--compare`, the JSON of `pertitle compare --json`) or a reference ladder (`--reference`) is drawn
over the curves. Errors in the inputs are one line on stderr and exit 2.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from pertitle.cache import atomic_write_all
from pertitle.clicmd.common import consoles, fail, nonempty_path, outputs_problem, print_literal, signed
from pertitle.errors import InputError, PertitleError

T = TypeVar("T")

__all__ = ["report"]


def _parse(path: Path, parse: Callable[[Any], T], what: str) -> T:
    """Load `path` and parse the document; a message about the content names the file first.

    Raises:
        InputError: one line.
    """
    from pertitle.report import serialize

    doc = serialize.read_document(path, what)  # its messages name the file already
    try:
        return parse(doc)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def _report_path(value: str) -> Path:
    """--html/--png's parser: a file name. `-` is not stdout here (as it is for --emit-commands):
    it had written a file named '-'."""
    if value.strip() == "-":
        raise typer.BadParameter("the report is written to a file; give a file name, not '-'")
    return nonempty_path(value)


def report(
    ladder: Annotated[
        Path,
        typer.Argument(parser=nonempty_path, help="A ladder document written by analyze (.json or .yaml)."),
    ],
    html_out: Annotated[
        Path | None,
        typer.Option(
            "--html", parser=_report_path, help="Write a self-contained HTML report (works offline)."
        ),
    ] = None,
    png_out: Annotated[
        Path | None,
        typer.Option(
            "--png", parser=_report_path, help="Write the curves and per-frame VMAF as one PNG image."
        ),
    ] = None,
    compare: Annotated[
        Path | None,
        typer.Option(
            "--compare",
            parser=nonempty_path,
            help="A `pertitle compare --json` document: draw both measured ladders and the BD-rate.",
        ),
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference",
            help="A reference ladder (a bundled name such as apple_hls_h264, or a YAML file): "
            "mark its bitrates.",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only write the files; no report in the terminal.")
    ] = False,
) -> None:
    """Show a saved analysis; with --html/--png, write it as a report file."""
    out, err = consoles()
    if quiet and html_out is None and png_out is None:
        raise fail(
            err, "--quiet with neither --html nor --png would do nothing: give --html FILE or --png FILE", 2
        )
    inputs = [ladder, *([compare] if compare else []), *([Path(reference)] if reference else [])]
    problem = outputs_problem([p for p in (png_out, html_out) if p is not None], inputs)
    if problem:
        raise fail(err, f"cannot write the report: {problem}", 2)
    from pertitle.compare import as_reference_ladder, load_ladder_source
    from pertitle.reference import cap_to_source
    from pertitle.report import serialize
    from pertitle.report.plots import compared_another_ladder, comparison_from_document

    try:
        result = _parse(ladder, serialize.from_document, "ladder file")
        comparison = (
            _parse(compare, comparison_from_document, "compare file") if compare is not None else None
        )
        ref = None
        if reference is not None:
            # Whatever compare takes as a reference: a bundled name, a reference YAML or a ladder
            # document (drawn at its rungs' sizes and bitrates).
            named = as_reference_ladder(load_ladder_source(reference, "reference ladder"))
            ref = cap_to_source(named, result.source.width, result.source.height)
    except PertitleError as exc:
        raise fail(err, str(exc), 2) from None
    if comparison is not None and comparison.title and comparison.title != result.title:
        print_literal(
            err,
            f"warning: {compare} compares title {comparison.title!r}, not {result.title!r}",
            soft_wrap=True,
        )
    other = compared_another_ladder(comparison, result.ladder.rungs) if comparison is not None else None
    if other:
        print_literal(err, f"warning: {compare} compares another ladder: {other}", soft_wrap=True)

    if not quiet:
        from pertitle.report.terminal import render_result

        render_result(result, out)
        if comparison is not None:
            bd = comparison.bd_rate_vmaf_pct
            shown = f"{signed(bd, 1)}%" if bd is not None else "n/a (" + "; ".join(comparison.reasons) + ")"
            out.print()
            print_literal(
                out, f"BD-rate on VMAF against {comparison.reference.name}: {shown}", soft_wrap=True
            )
        if ref is not None:
            rungs = " ".join(f"{r.width}x{r.height}@{r.bitrate_kbps:g}" for r in ref.rungs)
            if comparison is not None:  # the comparison's measured reference is what is drawn
                drawn = (
                    f"not drawn: the curves show the compare document's measured {comparison.reference.name}"
                )
            elif html_out or png_out:
                drawn = "drawn over the curves"
            else:
                drawn = "drawn over the curves with --html/--png"
            out.print()
            print_literal(
                out, f"Reference {ref.name} at this source (kbps): {rungs}; {drawn}", soft_wrap=True
            )

    # Both files are drawn first, then written as one (`atomic_write_all`): a report that cannot be
    # written leaves neither, rather than a new PNG beside a failed HTML page.
    files: list[tuple[Path, str | bytes]] = []
    if png_out is not None:
        from pertitle.report import plots

        fig = plots.report_figure(result, comparison=comparison, reference=ref)
        files.append((png_out, plots.figure_png(fig)))
    if html_out is not None:
        from pertitle.report.html import render_html

        files.append((html_out, render_html(result, comparison=comparison, reference=ref)))
    try:
        atomic_write_all(files)
    except OSError as exc:
        target = exc.filename or (files[0][0] if len(files) == 1 else "the report")
        raise fail(err, f"cannot write {target}: {exc.strerror or exc}", 2) from None
    for path, _ in files:
        print_literal(err, f"wrote {path}", soft_wrap=True)
