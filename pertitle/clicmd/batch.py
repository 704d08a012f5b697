"""`pertitle batch INPUT... --out DIR`: a catalog of titles, each analysed in isolation, resumable.

Exit 0: every title ok (or kept from an earlier run); 1: a title failed (the others still ran);
2: bad usage or input, found before any work starts; 130: interrupted. The work is
`pertitle.batch`; this module parses, wires the sinks of `pertitle.report.batch_out` (terminal,
summary.json, NDJSON events, JUnit) and maps exit codes.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.console import Console

from pertitle import __version__
from pertitle.clicmd.common import (
    CacheDirOpt,
    CodecOpt,
    ConstraintsOpt,
    CrfsOpt,
    FastOpt,
    FfmpegOpt,
    FullPassBelowOpt,
    HeightsOpt,
    MetricOpt,
    NoCacheOpt,
    PresetOpt,
    SampleDurationOpt,
    SampleSelectionOpt,
    SamplesOpt,
    ScalerOpt,
    VmafModelOpt,
    build_settings,
    fail,
    interrupt_said,
    nonempty_path,
    output_problem,
)
from pertitle.config import MAX_JOBS
from pertitle.errors import PertitleError
from pertitle.models import shown_count


def _close(pool: Any) -> None:
    close = getattr(pool, "close", None)
    if close is not None:
        close()


class _Interrupts:
    """SIGINT and SIGTERM while the batch runs: the first stops it (KeyboardInterrupt: titles in
    flight end as interrupted, the summary and JUnit say so); any more while that is being wound
    up are counted, not raised, so the summary is still written (a second KeyboardInterrupt had
    escaped mid-way, leaving summary.json 'running' and no JUnit report), and then stop at once."""

    def __init__(self) -> None:
        self.count = 0
        self.running = True  # False once the batch has returned: from then on, only counted

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count == 1 and self.running:
            raise KeyboardInterrupt


def _stop_now(signum: int, frame: FrameType | None) -> None:
    """A second Ctrl-C (or SIGTERM) while the encodes in flight finish: stop now. The summary and
    ladders are written already; the ffmpeg children die with this process (the orphan guard),
    and the work directories (each title's lossless reference) go with it."""
    from pertitle.workdir import remove_mine

    remove_mine()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


def _os_problem(exc: OSError) -> str:
    """An OSError as a short phrase that names the path it is about."""
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


def _checked(check: Callable[[], str | None]) -> str | None:
    """A path check's problem, or the OSError it ran into (a name too long to look up) as one."""
    try:
        return check()
    except OSError as exc:
        return _os_problem(exc)


def _make_folder(folder: Path) -> None:
    """Make `folder` (and its parents) and make a file in it, as a write into it later will.

    Raises:
        OSError: the folder cannot be made, or no file can be made in it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    fd, probe = tempfile.mkstemp(prefix=".pertitle-", suffix=".tmp", dir=folder)
    os.close(fd)
    os.unlink(probe)


def _make_folder_of(path: Path) -> None:
    """`_make_folder` for the folder of the report file `path`, which the atomic write at the end
    writes into."""
    _make_folder(path.absolute().parent)


def batch(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            parser=nonempty_path,
            help="Video files, directories (searched recursively, see --include) and manifests "
            "(.yaml/.yml/.csv: path, name, codec, preset, heights, crfs, constraints, samples, "
            "sample_duration, encode_timeout, fast per title).",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            parser=nonempty_path,
            help="Output directory: <name>.ladder.yaml/.json per title and summary.json.",
        ),
    ],
    include: Annotated[
        list[str] | None,
        typer.Option(
            "--include",
            help="Glob of files to take from directories (repeatable or comma-separated; default: "
            "common video extensions). A glob with '/' matches the path below the directory.",
        ),
    ] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", help="Titles at once (0: two, or a quarter of the slots).")
    ] = 0,
    cores: Annotated[
        int,
        typer.Option(
            "--cores",
            help="Cores of this machine for the batch (0: all): at most this many ffmpeg processes at "
            "once, split between the titles that run together.",
        ),
    ] = 0,
    force: Annotated[
        bool, typer.Option("--force", help="Redo titles whose ladder is already in --out.")
    ] = False,
    junit: Annotated[
        Path | None,
        typer.Option("--junit", parser=nonempty_path, help="Write JUnit XML: one test case per title."),
    ] = None,
    events: Annotated[
        Path | None,
        typer.Option(
            "--events", parser=nonempty_path, help="Write progress events as NDJSON (one JSON per line)."
        ),
    ] = None,
    executor: Annotated[
        str, typer.Option("--executor", help="local (this machine) or dask (a Dask distributed cluster).")
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Dask scheduler address, e.g. tcp://HOST:8786 (default: start a local cluster).",
        ),
    ] = None,
    dask_workers: Annotated[
        int | None,
        typer.Option(
            "--dask-workers",
            help="Local cluster: worker processes (default: one per core). With --scheduler: wait for "
            "this many workers before starting.",
        ),
    ] = None,
    work_dir: Annotated[
        Path | None,
        typer.Option(
            "--work-dir",
            parser=nonempty_path,
            help="Where references and encodes are made (default: the system temp dir). With a Dask "
            "cluster: a path every worker shares.",
        ),
    ] = None,
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
    no_cache: NoCacheOpt = False,
    cache_dir: CacheDirOpt = None,
    calibrate: Annotated[
        bool, typer.Option(help="Confirm each rung with a deployed encode (the prediction's basis).")
    ] = True,
    rate_control: Annotated[
        str, typer.Option(help="How renditions are deployed: abr2pass or capped_crf.")
    ] = "abr2pass",
    fast: FastOpt = False,
    encode_timeout: Annotated[
        float,
        typer.Option(help="Seconds one ffmpeg run may take before it is killed and its title fails."),
    ] = 1800.0,
    ffmpeg: FfmpegOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress, only the final table.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="A line per stage and per finished encode.")
    ] = False,
) -> None:
    no_color = bool(os.environ.get("NO_COLOR"))
    err = Console(stderr=True, no_color=no_color, highlight=False)
    from pertitle.report.terminal import live_display

    live = live_display(err)
    plain_out = not sys.stdout.isatty() or no_color
    out_console = Console(
        no_color=no_color,
        highlight=False,
        color_system=None if plain_out else "auto",
        width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 132,
    )

    if executor not in ("local", "dask"):
        raise fail(err, f"--executor: {executor!r} is not one of local, dask", 2)
    if executor != "dask" and (scheduler or dask_workers):
        raise fail(err, "--scheduler and --dask-workers need --executor dask", 2)
    if not (0 <= jobs <= MAX_JOBS and 0 <= cores <= MAX_JOBS):
        raise fail(err, f"--jobs and --cores must be 0 (auto) to {MAX_JOBS}", 2)
    if dask_workers is not None and not 1 <= dask_workers <= MAX_JOBS:
        # A local cluster starts that many worker processes: 10**20 took the machine's memory.
        raise fail(err, f"--dask-workers: {shown_count(dask_workers)} must be 1 to {MAX_JOBS}", 2)

    from pertitle import batch as core
    from pertitle import catalog
    from pertitle.ffmpeg import binary

    try:
        settings = build_settings(
            jobs=0,
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
            no_cache=no_cache,
            cache_dir=cache_dir,
            work_dir=work_dir,
            calibrate=calibrate,
            deploy_rate_control=rate_control,
            fast=fast,
            encode_timeout=encode_timeout,
            per_title=True,
        )
        info = binary.detect(binary.locate(ffmpeg))
        titles = catalog.plan_inputs([str(p) for p in inputs], include, settings, out, info)
    except catalog.BatchInputError as exc:  # every problem on a line of its own
        raise fail(err, exc.headline, 2, more=exc.details) from None
    except PertitleError as exc:
        raise fail(err, str(exc), 2) from None

    from pertitle.report import batch_out

    # --junit and --events must not land on a source, a manifest, or a file the batch writes.
    written = [out / batch_out.SUMMARY_NAME]
    for t in titles:
        ladder = core.ladder_path(out, t.name)
        written += [ladder, ladder.with_suffix(".yaml")]
    read = [*inputs, *(Path(t.source) for t in titles)]
    reports = [(option, p) for option, p in (("--junit", junit), ("--events", events)) if p is not None]
    problem = _checked(lambda: output_problem(out, directory=True))
    if problem:
        raise fail(err, f"cannot write there: {problem}", 2)
    for i, (option, path) in enumerate(reports):
        others = [*written, *(p for _, p in reports[:i])]
        problem = _checked(partial(output_problem, path, inputs=read, others=others))
        if problem:
            raise fail(err, f"{option}: cannot write there: {problem}", 2)
    n_cores = cores or max(1, os.cpu_count() or 1)

    sinks: list[Callable[[Any], None]] = []
    events_writer: batch_out.EventsWriter | None = None
    # The reports' folders are made as --out is (with their parents), and tried, before any work:
    # the JUnit file is written with the summary, from the start, so it always describes this run.
    if work_dir is not None:  # one that cannot be made failed every title, "cannot write the ladder"
        problem = _checked(partial(_make_folder, work_dir))
        if problem:
            raise fail(err, f"--work-dir: cannot write in {work_dir}: {problem}", 2)
    if junit is not None:
        problem = _checked(partial(_make_folder_of, junit))
        if problem:
            raise fail(err, f"--junit: cannot write {junit}: {problem}", 2)
    if events is not None:  # opened (truncated) once the executor is up: a failed start keeps the old
        problem = _checked(partial(_make_folder_of, events))
        if problem:
            raise fail(err, f"--events: cannot write {events}: {problem}", 2)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(err, f"cannot write there: {exc}", 2) from None

    if executor == "dask":
        from pertitle.executors.dask import DaskExecutor

        pool: Any = DaskExecutor(scheduler, dask_workers)
        try:
            pool.start()
        except PertitleError as exc:
            raise fail(err, str(exc), 2) from None
        if scheduler and not work_dir:
            err.print(
                "note: the workers must see --work-dir; without it, this machine's temp dir is used",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        where = pool.description
    else:
        from pertitle.executors.local import LocalExecutor

        pool = LocalExecutor(n_cores)
        where = f"local ({n_cores} cores)"

    meta = {
        "pertitle": __version__,
        "ffmpeg": info.version,
        "executor": where,
        "out_dir": str(out.absolute()),
        "force": force,
        "codec": settings.codec,
        "heights": list(settings.heights) if settings.heights else None,
        "crfs": [float(c) for c in settings.effective_crfs],
    }
    if events is not None:
        try:
            events_writer = batch_out.EventsWriter(events)
        except OSError as exc:
            _close(pool)
            raise fail(err, f"--events: cannot write {events}: {_os_problem(exc)}", 2) from None
    try:
        summary = batch_out.SummaryWriter(out, titles, meta, junit=junit)
    except OSError as exc:
        _close(pool)
        if events_writer is not None:
            events_writer.close()
        where = exc.filename or out / batch_out.SUMMARY_NAME
        raise fail(err, f"cannot write {where}: {_os_problem(exc)}", 2) from None
    progress = batch_out.BatchProgress(err, len(titles), live=live, quiet=quiet, verbose=verbose)
    sinks += [progress, summary]
    if events_writer is not None:
        sinks.append(events_writer)

    def fan_out(event: Any) -> None:
        for sink in sinks:
            sink(event)

    interrupts = _Interrupts()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, interrupts) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            # Cache faults (a corrupt entry is a miss) arrive as warnings, from any title's thread.
            warnings.showwarning = lambda m, *a, **k: fan_out(core.BatchEvent("warning", None, str(m)))
            result = core.run_batch(
                titles,
                out,
                info,
                executor=pool,
                cores=n_cores,
                title_jobs=jobs,
                force=force,
                on_event=fan_out,
            )
    finally:
        interrupts.running = False
        progress.close()
        _close(pool)
        if events_writer is not None:
            events_writer.close()
    try:
        _wind_up(result, summary, junit, events_writer, out_console, err, plain_out)
    finally:
        if not result.interrupted:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    if result.interrupted:
        interrupt_said.set()
        err.print(
            "error: interrupted; finished ladders are kept and finished encodes are cached: a rerun resumes "
            "(encodes in flight finish first; interrupt again to stop them now)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        if interrupts.count > 1:  # interrupted again while the summary was written: stop now
            _stop_now(signal.SIGINT, None)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, _stop_now)
            signal.signal(signal.SIGTERM, _stop_now)
    elif interrupts.count:  # asked to stop as the batch ended: every title ran, but say it was asked
        raise typer.Exit(130)
    elif result.stopped:
        raise fail(
            err,
            f"{result.stopped}: the batch stopped; finished ladders are kept and finished encodes are "
            "cached: a rerun resumes",
            result.exit_code,
        )
    raise typer.Exit(result.exit_code)


def _wind_up(
    result: Any,
    summary: Any,
    junit: Path | None,
    events_writer: Any,
    out_console: Console,
    err: Console,
    plain_out: bool,
) -> None:
    """The batch's records once it has returned: summary.json, JUnit, the table, and what could
    not be written (exit 2)."""
    from pertitle.report import batch_out

    try:
        summary.finish(result)
        unwritten = None
    except OSError as exc:  # the table below still shows how every title ended
        unwritten = exc
    if junit is not None:
        try:
            batch_out.write_junit(junit, result)
        except OSError as exc:
            raise fail(err, f"cannot write {junit}: {exc}", 2) from None
    batch_out.render_batch_table(result, out_console, plain=plain_out)
    if unwritten is not None:
        raise fail(err, f"cannot write the summary {summary.path}: {unwritten.strerror or unwritten}", 2)
    if events_writer is not None and events_writer.error is not None:
        problem = events_writer.error.strerror or str(events_writer.error)
        raise fail(err, f"cannot write the events file {events_writer.path}: {problem}; it stops there", 2)
