"""The command line: parse, call, render, map errors to exit codes (0 ok, 1 a title failed, 2 bad
usage or input). Nothing imports this module."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from pertitle import __version__
from pertitle.cache import atomic_write_text, utf8_text
from pertitle.clicmd.common import (
    APP_SETTINGS,
    CacheDirOpt,
    CodecOpt,
    ConstraintsOpt,
    CrfsOpt,
    FastOpt,
    FfmpegOpt,
    FullPassBelowOpt,
    HeightsOpt,
    JobsOpt,
    MetricOpt,
    NoCacheOpt,
    PresetOpt,
    QuietOpt,
    SampleDurationOpt,
    SampleSelectionOpt,
    SamplesOpt,
    ScalerOpt,
    VmafModelOpt,
    build_settings,
    consoles,
    fail,
    interrupt_said,
    nonempty_path,
    output_problem,
    print_literal,
    run_core,
)
from pertitle.config import CODECS, Settings
from pertitle.errors import PertitleError
from pertitle.ffmpeg import binary

app = typer.Typer(
    name="pertitle",
    help="Per-title encoding: the bitrate ladder each title needs, from real encodes and real VMAF.",
    **APP_SETTINGS,
)


def _ffmpeg(path: str | None) -> binary.FfmpegInfo:
    return binary.detect(binary.locate(path))


def _codec_help() -> str:
    rows = [
        f"{name} ({d.encoder}, crfs {','.join(f'{c:g}' for c in d.crfs)}, preset {d.preset})"
        for name, d in CODECS.items()
    ]
    return "Codec: " + "; ".join(rows) + "."


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"pertitle {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Per-title encoding: the bitrate ladder each title needs, from real encodes and real VMAF."""


@app.command(help="Analyse one title and emit its bitrate ladder. " + _codec_help())
def analyze(
    title: Annotated[Path, typer.Argument(parser=nonempty_path, help="The video file to analyse.")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            parser=nonempty_path,
            help="Write <title>.ladder.yaml and .json into this directory.",
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the ladder document as JSON on stdout, nothing else.")
    ] = False,
    codec: CodecOpt = "h264",
    preset: PresetOpt = None,
    heights: HeightsOpt = None,
    crfs: CrfsOpt = None,
    samples: SamplesOpt = 3,
    sample_duration: SampleDurationOpt = 4.0,
    sample_selection: SampleSelectionOpt = "complexity",
    full_pass_below: FullPassBelowOpt = 20.0,
    constraints: ConstraintsOpt = None,
    metric: MetricOpt = "vmaf",
    vmaf_model: VmafModelOpt = None,
    scaler: ScalerOpt = "bicubic",
    jobs: JobsOpt = 0,
    no_cache: NoCacheOpt = False,
    cache_dir: CacheDirOpt = None,
    calibrate: Annotated[
        bool,
        typer.Option(
            help="Confirm each rung with its deployed encode, two-pass or capped CRF as --rate-control "
            "says (the prediction's basis)."
        ),
    ] = True,
    rate_control: Annotated[
        str,
        typer.Option(
            help="How renditions are deployed (and rungs calibrated): abr2pass (two-pass average bitrate) "
            "or capped_crf (one pass at the rung's CRF); both with VBV maxrate/bufsize and a fixed GOP."
        ),
    ] = "abr2pass",
    fast: FastOpt = False,
    emit_commands: Annotated[
        Path | None,
        typer.Option(
            "--emit-commands",
            parser=nonempty_path,
            help="Write a shell script with the exact ffmpeg commands that make each rendition from the "
            "title ('-': print it on stdout instead of the report).",
        ),
    ] = None,
    ffmpeg: FfmpegOpt = None,
    quiet: QuietOpt = False,
) -> None:
    out_console, err = consoles()
    to_stdout = emit_commands is not None and str(emit_commands) == "-"
    if to_stdout and json_out:
        raise fail(err, "--emit-commands -: stdout already carries the --json document; name a file", 2)
    # Checked before the analysis, which would otherwise run only to find it cannot be written.
    shown = utf8_text(str(title))
    if emit_commands is not None and shown != str(title):
        raise fail(err, f"--emit-commands: {shown} has a name that is not UTF-8, which no script names", 2)
    problem = output_problem(out, directory=True) if out is not None else None
    ladders = [out / f"{utf8_text(title.stem)}.ladder.{ext}" for ext in ("json", "yaml")] if out else []
    read = [title, *([constraints] if constraints else [])]
    for ladder in ladders:  # a directory in the way is known now, not after the analysis
        if ladder.is_dir():
            problem = problem or f"{ladder} is a directory, where the ladder goes; move it away"
        problem = problem or output_problem(ladder, inputs=read)
    if emit_commands is not None and not to_stdout:
        problem = problem or output_problem(emit_commands, inputs=read, others=ladders)
    if problem:
        raise fail(err, f"cannot write there: {problem}", 2)
    try:
        settings = build_settings(
            codec=codec,
            preset=preset,
            heights=heights,
            crfs=crfs,
            samples=samples,
            sample_duration=sample_duration,
            sample_selection=sample_selection,
            full_pass_below=full_pass_below,
            constraints=constraints,
            metric=metric,
            vmaf_model=vmaf_model,
            scaler=scaler,
            jobs=jobs,
            no_cache=no_cache,
            cache_dir=cache_dir,
            calibrate=calibrate,
            deploy_rate_control=rate_control,
            fast=fast,
        )
        info = _ffmpeg(ffmpeg)
    except PertitleError as exc:
        raise fail(err, str(exc), 2) from None
    result = _run_analysis(str(title), settings, info, err, quiet or json_out, json_out and not quiet)
    from pertitle.report import serialize

    doc = serialize.to_document(result)
    if out is not None:
        try:
            y, j = serialize.write_documents(doc, out, result.title)
        except OSError as exc:
            raise fail(err, f"cannot write {exc.filename or out}: {exc.strerror or exc}", 2) from None
        if not json_out:
            print_literal(err, f"wrote {y} and {j}", soft_wrap=True)
    if emit_commands is not None:
        script = _rendition_script(result, settings, info, title)
        if to_stdout:
            sys.stdout.write(script)
            return
        try:
            atomic_write_text(emit_commands, script)
        except OSError as exc:
            raise fail(err, f"cannot write {emit_commands}: {exc.strerror or exc}", 2) from None
        if not json_out:
            print_literal(
                err,
                f"wrote {emit_commands} (ffmpeg commands for {len(result.ladder.rungs)} renditions)",
                soft_wrap=True,
            )
    if json_out:
        sys.stdout.write(serialize.to_json(doc))
        return
    from pertitle.report.terminal import render_result

    # The view of what was saved, as `pertitle report` shows it: values rounded as the document
    # keeps them (a rung averaging 123.464 kbps, kept as 123.5, read 123 here and 124 in report).
    render_result(serialize.from_document(doc), out_console)


def _rendition_script(result: Any, settings: Settings, info: binary.FfmpegInfo, title: Path) -> str:
    """The --emit-commands script: each rung's production encode of the whole title."""
    from pertitle.ffmpeg.commands import rendition_script
    from pertitle.plan import rung_spec

    src = result.source
    return rendition_script(
        info.path,
        os.path.abspath(title),
        [rung_spec(settings, r) for r in result.ladder.rungs],
        fps=src.fps,
        stem=result.title,
        keyframes_timed=src.frame_rate_varies,
        header=(
            f"Source: {os.path.abspath(title)} "
            f"({src.width}x{src.height}, {src.fps:g} fps, {src.duration_s:g} s)",
            f"pertitle {__version__}, ffmpeg {info.version}",
        ),
    )


def _run_analysis(
    title: str, settings: Settings, info: binary.FfmpegInfo, err: Console, quiet: bool, keep_warnings: bool
) -> Any:
    from pertitle.pipeline import analyze

    return run_core(
        err,
        quiet,
        title,
        lambda progress: analyze(title, settings, info, on_event=progress),
        keep_warnings=keep_warnings,
        cached=settings.use_cache,
    )


def _doctor_document(
    info: binary.FfmpegInfo | None, path: str | None, problems: list[str], versions: dict[str, str]
) -> dict[str, Any]:
    """The `pertitle.doctor/v1` document; `info` None: no usable ffmpeg at `path`."""
    encoders = info.encoders if info is not None else ()
    return {
        "schema": "pertitle.doctor/v1",
        "pertitle": __version__,
        "ffmpeg": {"path": info.path if info else path, "version": info.version if info else None},
        "libvmaf": bool(info and info.has_libvmaf),
        "vmaf_models": list(info.vmaf_models) if info else [],
        "codecs": {
            name: {
                "encoder": d.encoder,
                "available": d.encoder in encoders,
                "version": versions.get(d.encoder),
            }
            for name, d in CODECS.items()
        },
        "nvenc": sorted(e for e in encoders if e.endswith("_nvenc")),
        "ok": not problems,
        "problems": problems,
    }


@app.command(help="Show the ffmpeg in use, its version, encoders and VMAF models, and a verdict.")
def doctor(
    ffmpeg: FfmpegOpt = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the checks as a pertitle.doctor/v1 document, nothing else.")
    ] = False,
) -> None:
    out, err = consoles()
    try:
        info = _ffmpeg(ffmpeg)
    except PertitleError as exc:
        if json_out:  # the document CI reads is there in the case doctor exists for
            given = ffmpeg or os.environ.get("PERTITLE_FFMPEG") or None
            sys.stdout.write(json.dumps(_doctor_document(None, given, [str(exc)], {}), indent=2) + "\n")
        raise fail(err, str(exc), 2) from None
    versions = {
        d.encoder: binary.encoder_version(info.path, d.encoder)
        for d in CODECS.values()
        if d.encoder in info.encoders
    }
    problems: list[str] = []
    if not info.has_libvmaf:
        problems.append(
            "no libvmaf: pertitle cannot score encodes (use the bundled ffmpeg: pip install imageio-ffmpeg)"
        )
    if CODECS["h264"].encoder not in info.encoders:
        problems.append("no libx264: the default codec cannot be used")
    ok = not problems
    doc = _doctor_document(info, info.path, problems, versions)
    if json_out:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:  # the same document, as lines
        print_literal(out, f"pertitle {__version__}")
        print_literal(out, f"ffmpeg   {info.version}  ({info.path})")
        print_literal(
            out,
            f"libvmaf  {'yes' if info.has_libvmaf else 'NO'}  models: {', '.join(info.vmaf_models) or '-'}",
        )
        for name, c in doc["codecs"].items():
            said = f"ok {c['version'] or ''}" if c["available"] else "MISSING"
            print_literal(out, f"{name:<5}    {c['encoder']:<11} {said}")
        if doc["nvenc"]:
            print_literal(out, f"nvenc    {', '.join(doc['nvenc'])} (optional, needs an NVIDIA GPU)")
        verdict = "ready: pertitle can analyse titles" if ok else "NOT ready: " + "; ".join(problems)
        print_literal(out, f"verdict  {verdict}")
    if not ok:
        raise typer.Exit(1)


def main() -> None:
    """Console-script entry point. Usage errors that Typer finds (an unknown option, a value of
    the wrong type, a missing argument) become one line, as every other error is, rather than a
    box: CI logs and scripts read the first line of stderr. NO_COLOR reaches Typer's own console
    (--help), which would otherwise keep bold and dim as Rich's no_color does."""
    _fit_the_environment()
    try:
        if os.environ.get("NO_COLOR"):
            import typer.rich_utils as typer_rich  # aliased: a bare `import typer...` here would make
            # `typer` a local name of the whole function, unbound in the handlers below.

            typer_rich.COLOR_SYSTEM = None
        code = app(standalone_mode=False)
        sys.stdout.flush()  # here, where a full disk can still be said in one line
    except OSError as exc:  # stdout on a full disk, or gone; or a file no command caught
        if exc.filename is not None:  # a named file is not stdout: say which, not "the output"
            sys.stderr.write(f"error: {exc.filename}: {exc.strerror or exc}\n")
            sys.exit(2)
        _stdout_lost(exc)
    except (KeyboardInterrupt, typer.Abort):  # pragma: no cover - Ctrl-C outside a command
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except typer.TyperException as exc:  # Click's usage errors, as Typer vendors them
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: Typer has shown its help
            sys.exit(2)
        sys.stderr.write(f"error: {exc.format_message()}{_usage_hint(exc, sys.argv[1:])}\n")
        sys.exit(getattr(exc, "exit_code", 2))
    if code == 130 and not interrupt_said.is_set():
        sys.stderr.write("interrupted\n")
    sys.exit(code if isinstance(code, int) else 0)


def _usage_hint(exc: Exception, argv: list[str]) -> str:
    """Where to look after a usage error: the command's --help (Click gives no context for some,
    such as an option missing its value: named from argv then), and for an option that is a file
    there (`-clip.mp4`), how to give such a name."""
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        where = ctx.command_path
    else:
        command = next((a for a in argv if not a.startswith("-")), None)
        where = f"pertitle {command}" if command in _COMMANDS else "pertitle"
    dashed = next((a for a in argv if a.startswith("-") and a != "-" and os.path.isfile(a)), None)
    if type(exc).__name__ == "NoSuchOption" and dashed is not None:
        return f" ({dashed} is a file: give it after -- or as ./{dashed}; see {where} --help)"
    return f" (see {where} --help)"


_COMMANDS = ("analyze", "verify", "compare", "report", "batch", "doctor", "cache")


def _fit_the_environment() -> None:
    """COLUMNS that is not a positive number made Rich draw every line 0 wide, error lines too:
    it is dropped, as a terminal without it would be. A stdout or stderr that cannot encode UTF-8
    (PYTHONIOENCODING=ascii) shows what it cannot encode as '?' rather than raising."""
    columns = os.environ.get("COLUMNS")
    if columns is not None and not (columns.strip().isdigit() and int(columns) > 0):
        del os.environ["COLUMNS"]
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        if encoding != "utf8" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")


def _stdout_lost(exc: OSError) -> NoReturn:
    """stdout could not be written: a closed pipe ends quietly (as `head` expects); anything else
    (a full disk) is one line. stdout then goes to /dev/null, so that the interpreter's last flush
    of what is left does not print a traceback of its own."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    if exc.errno == errno.EPIPE:
        sys.exit(1)
    sys.stderr.write(f"error: cannot write the output: {exc.strerror or exc}\n")
    sys.exit(2)


# Further commands live in pertitle/clicmd/ (one module each) and are registered here.
from pertitle.clicmd import report as _report_cmd  # noqa: E402  (after app exists; light: imports are lazy)

app.command(name="report", help="Show a saved analysis again; --html/--png write a self-contained report.")(
    _report_cmd.report
)

from pertitle.clicmd import compare as _compare_cmd  # noqa: E402
from pertitle.clicmd import verify as _verify_cmd  # noqa: E402

app.command(
    name="verify",
    help="Encode a ladder's rungs on the whole title with the production settings; check predicted "
    "against measured (exit 1 when a rung misses).",
)(_verify_cmd.verify)
app.command(
    name="compare",
    help="Encode a ladder and a reference ladder on the title; report BD-rate (VMAF, PSNR), bits saved "
    "and each ladder's total bitrate.",
)(_compare_cmd.compare)

from pertitle.clicmd import batch as _batch_cmd  # noqa: E402

app.command(
    name="batch",
    help="Analyse a catalog: files, directories and manifests, each title in isolation; resumable "
    "(finished ladders are kept, finished encodes are cached). Writes summary.json, optionally JUnit "
    "and NDJSON events. Exit 0 all ok, 1 a title failed (or the Dask scheduler was lost), 2 bad input, "
    "130 interrupted. --executor dask runs the encodes "
    "on a Dask cluster.",
)(_batch_cmd.batch)

from pertitle.clicmd import cache as _cache_cmd  # noqa: E402

app.add_typer(_cache_cmd.app, name="cache")
