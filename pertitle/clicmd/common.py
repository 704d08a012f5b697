"""Console helpers every command shares: consoles, the one-line error, progress, error mapping."""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, Literal, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from pertitle.config import Settings, load_constraints, parse_number_list, renamed_field, validate
from pertitle.errors import ConfigError, FfmpegError, PertitleError
from pertitle.models import Constraints
from pertitle.report import printable

T = TypeVar("T")


# How every Typer app of pertitle behaves (the root and its command groups): help with no
# arguments and on -h, no shell-completion options, no Rich tracebacks (errors are one line).
APP_SETTINGS: dict[str, Any] = {
    "no_args_is_help": True,
    "add_completion": False,
    "pretty_exceptions_enable": False,
    "context_settings": {"help_option_names": ["-h", "--help"]},
}


def nonempty_path(value: str) -> Path:
    """A path option's parser: Typer reads an empty value as Path('') == '.', so `--cache-dir ""` (an
    unset variable in a script) wrote the cache into the current directory and `batch ""` analysed
    every video under it."""
    if not value.strip():
        raise typer.BadParameter("an empty path; give a file or directory name")
    return Path(value)


# Options shared by several commands: one definition, one help text.
CodecOpt = Annotated[str, typer.Option(help="h264, hevc, av1 or vp9.")]
PresetOpt = Annotated[str | None, typer.Option(help="Encoder preset (default per codec).")]
HeightsOpt = Annotated[
    str | None,
    typer.Option(
        help="Comma-separated picture heights to probe, e.g. 360,540,720; widths follow the display "
        "aspect. Default: the standard heights up to the source's, or for a source wider than 16:9 "
        "or a portrait one the sizes it takes in the standard 16:9 boxes (turned portrait). Include "
        "the source's own height to keep its resolution on the top rung."
    ),
]
CrfsOpt = Annotated[str | None, typer.Option(help="Comma-separated CRF values, e.g. 22,28,34,40.")]
SamplesOpt = Annotated[int, typer.Option(help="Number of sample windows for long titles.")]
SampleDurationOpt = Annotated[float, typer.Option(help="Length of each sample window, seconds.")]
SampleSelectionOpt = Annotated[
    str,
    typer.Option(
        help="How sample windows are placed in a long title: 'complexity' (one cheap whole-title "
        "pass, then windows that mix its easy and hard parts as the title does) or 'even'."
    ),
]
FullPassBelowOpt = Annotated[float, typer.Option(help="Probe titles up to this long whole, seconds.")]
ConstraintsOpt = Annotated[
    Path | None,
    typer.Option(
        parser=nonempty_path, help="Ladder constraints YAML (default: ladders/default.yaml values)."
    ),
]
MetricOpt = Annotated[
    str,
    typer.Option(
        help="Metric that drives the hull: vmaf, vmaf_hmean, vmaf_p1, vmaf_p5, psnr, ssim. The "
        "constraints' quality_ceiling/quality_floor are in its units (psnr, ssim: give --constraints)."
    ),
]
VmafModelOpt = Annotated[str | None, typer.Option(help="vmaf_v0.6.1, vmaf_4k_v0.6.1 or vmaf_v0.6.1neg.")]
ScalerOpt = Annotated[str, typer.Option(help="Scaler for downscaling and for upscaling before metrics.")]
JobsOpt = Annotated[int, typer.Option("--jobs", "-j", help="Parallel encodes (0: one per core).")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the result cache.")]
CacheDirOpt = Annotated[
    Path | None, typer.Option(parser=nonempty_path, help="Result cache directory (default: user cache dir).")
]
FfmpegOpt = Annotated[
    str | None,
    typer.Option("--ffmpeg", help="ffmpeg binary to use (default: $PERTITLE_FFMPEG, else the bundled one)."),
]
FastOpt = Annotated[
    bool,
    typer.Option(
        "--fast",
        help="Probe every third CRF (at least 3) at every other size, the sizes between only at the "
        "2 CRFs nearest the hull, read the rest off the curves, then measure the estimates the hull "
        "runs through; libvmaf scores every 4th frame (at least 60). The chosen rungs are still "
        "checked with full deployed encodes.",
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress, only the result.")]


def consoles() -> tuple[Console, Console]:
    """(stdout, stderr) consoles. Piped or in a CI log there is no terminal width to fit, so stdout
    gets 120 columns and tables stay whole. NO_COLOR (any value but empty) means, as for batch, no
    escape code at all: no colour, nor bold, dim or italic (Rich's own no_color keeps those), and
    progress as plain lines (`ProgressSink` reads `no_color`)."""
    no_color = bool(os.environ.get("NO_COLOR"))
    color_system: Literal["auto"] | None = None if no_color else "auto"
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 120
    return (
        Console(no_color=no_color, color_system=color_system, highlight=False, soft_wrap=False, width=width),
        Console(stderr=True, no_color=no_color, color_system=color_system, highlight=False),
    )


def print_literal(console: Console, text: str, *, style: str = "", soft_wrap: bool = True) -> None:
    """Print a line that may quote text from outside (a file name, a document's title or names, a
    message that quotes them) exactly as it is: as a Rich Text, so that neither `[...]` (Rich
    markup, which can also fail to parse) nor `:name:` (an emoji code) changes it, and with its
    control characters made visible (`printable`), so that it stays one line and sends the
    terminal no escape sequence. Soft-wrapped: a terminal folds a long line on screen, and a log
    (CI, a pipe, no width to fit) keeps it whole, where Rich would cut it at 80 columns."""
    console.print(Text(printable(text), style=style), soft_wrap=soft_wrap)


# Whether a command has said it was interrupted: Typer turns a Ctrl-C that no handler of ours caught
# (an import, a probe of ffmpeg) into a bare exit 130, which `cli.main` then explains.
interrupt_said = threading.Event()


def fail(err: Console, message: str, code: int, *, more: Sequence[str] = ()) -> typer.Exit:
    """One `error:` line (and `more` lines under it, each as literal), and the exit to raise."""
    if code == 130:
        interrupt_said.set()
    print_literal(err, f"error: {message}", soft_wrap=True)
    for line in more:
        print_literal(err, line, soft_wrap=True)
    return typer.Exit(code)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.absolute().resolve() == b.absolute().resolve()


def output_problem(
    path: Path, *, directory: bool = False, inputs: Sequence[Path] = (), others: Sequence[Path] = ()
) -> str | None:
    """Why an output cannot go to `path` (a file, or with `directory` a folder to write into),
    checked before any work so that nothing is computed only to be lost; None when it can.

    Not checked: permissions, which only the write itself tells."""
    try:
        return _output_problem(path, directory=directory, inputs=inputs, others=others)
    except OSError as exc:  # a name the filesystem refuses (too long), a loop of links
        return f"{path}: {exc.strerror or exc}"


def _output_problem(
    path: Path, *, directory: bool, inputs: Sequence[Path], others: Sequence[Path]
) -> str | None:
    if directory:
        if path.exists() and not path.is_dir():
            return f"{path} is a file, not a directory"
    elif path.is_dir():
        return f"{path} is a directory; give a file name"
    elif path.exists() and not path.is_file():
        return f"{path} is not a regular file (a device, pipe or socket); give a file name"
    above = path.absolute().parent if not directory else path.absolute()
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        return f"{above} is a file, not a directory"
    for source in inputs:
        if source.exists() and _same_file(path, source):
            return f"{path} is also an input, which writing it would destroy; give another name"
    for other in others:
        if _same_file(path, other):
            return f"{path} is named for two outputs; give each its own"
    return None


def outputs_problem(
    outputs: Sequence[Path], inputs: Sequence[Path], taken: Sequence[Path] = ()
) -> str | None:
    """`output_problem` of each output in turn, none of them on an input, on a file the run writes
    itself (`taken`) or on an output named before it."""
    for i, output in enumerate(outputs):
        problem = output_problem(output, inputs=inputs, others=[*taken, *outputs[:i]])
        if problem:
            return problem
    return None


def cache_dir_problem(cache_dir: Path | None, no_cache: bool) -> str | None:
    """--cache-dir (or the default, from XDG_CACHE_HOME or HOME) that cannot hold a cache (a file,
    or under one): said once, up front, rather than as a warning per entry or, with --quiet, a run
    that silently caches nothing."""
    if no_cache:
        return None
    if cache_dir is None:
        from pertitle.cache import default_cache_dir

        default = Path(default_cache_dir())
        problem = output_problem(default, directory=True)
        if problem:
            return (
                f"the default cache directory {default} cannot be made: {problem}; "
                "give --cache-dir or --no-cache"
            )
        return None
    problem = output_problem(cache_dir, directory=True)
    return f"--cache-dir: {problem}" if problem else None


def warn_lines(err: Console, warnings: Sequence[str]) -> None:
    """A result's warnings as `warning:` lines on stderr: under --json the document on stdout
    holds them too, but a script that only keeps stdout must still see them in its log."""
    for w in warnings:
        print_literal(err, f"warning: {w}", soft_wrap=True)


class ProgressPrinter:
    """Pipeline events -> stage lines and a progress bar on stderr (nothing when quiet, but the
    warnings with `keep_warnings`: --json keeps stdout for the document, not stderr silent)."""

    def __init__(self, err: Console, quiet: bool, keep_warnings: bool = False) -> None:
        self.err = err
        self.quiet = quiet
        self.keep_warnings = keep_warnings
        self.sink: Any = None

    def __call__(self, event: Any) -> None:
        if self.quiet:
            if self.keep_warnings and event.kind in ("notice", "warning"):
                self.warn(event.message)
            return
        from pertitle.report.terminal import ProgressSink

        if event.kind == "stage" and self.sink is not None and self.sink.done < self.sink.total:
            # Said while planned encodes are still to come (the reference decode): a line above
            # the bar, which goes on counting them.
            print_literal(self.err, event.message)
        elif event.kind in ("stage", "planned"):
            self.close()
            cached = f" ({event.done} from cache)" if event.kind == "planned" and event.done else ""
            print_literal(self.err, f"{event.message}{cached}")
            if event.kind == "planned" and event.done < event.total:
                self.sink = ProgressSink(self.err, event.total - event.done, "encode+score")
                self.sink.__enter__()
        elif event.kind == "notice":
            self.warn(event.message)
        elif event.kind in ("done", "warning"):
            if event.kind == "warning":
                self.warn(event.message)
            if self.sink is not None:
                # A failure is said once, in its warning line; the bar only counts it.
                self.sink.advance(event.message if event.kind == "done" else "failed (the warning above)")

    def warn(self, message: str) -> None:
        if not self.quiet or self.keep_warnings:
            print_literal(self.err, f"warning: {message}", soft_wrap=True)

    def close(self) -> None:
        if self.sink is not None:
            self.sink.__exit__(None, None, None)
            self.sink = None


def run_core(
    err: Console,
    quiet: bool,
    what: str,
    call: Callable[[ProgressPrinter], T],
    *,
    keep_warnings: bool = False,
    cached: bool = True,
) -> T:
    """Run a core function with progress; its errors become one 'error:' line and the exit code of
    their family (2 for bad input, 1 for a failed encode, 130 for Ctrl-C). `cached`: results go
    to the cache, so a rerun after Ctrl-C resumes (the message says so only then)."""
    progress = ProgressPrinter(err, quiet, keep_warnings)
    # SIGTERM (timeout, docker stop, a cancelled CI job) stops as Ctrl-C does: one line, exit 130,
    # the work directory and its lossless reference removed; it had killed the process outright.
    previous_term = None
    if threading.current_thread() is threading.main_thread():
        previous_term = signal.signal(signal.SIGTERM, _term_as_interrupt)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = lambda m, *a, **k: progress.warn(str(m))  # cache faults: one line each
            return call(progress)
    except FfmpegError as exc:
        progress.close()
        if os.environ.get("PERTITLE_DEBUG"):
            for line in exc.details().splitlines():  # the command, then ffmpeg's stderr
                print_literal(err, line, soft_wrap=True)
        raise fail(err, f"{what}: {exc}", 1) from None
    except PertitleError as exc:
        progress.close()
        raise fail(err, str(exc), exc.exit_code) from None
    except KeyboardInterrupt:
        progress.close()
        resume = (
            "finished encodes are cached and a rerun resumes from them"
            if cached
            else "--no-cache: a rerun starts over"
        )
        raise fail(err, f"interrupted; {resume}", 130) from None
    finally:
        progress.close()
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)


def _term_as_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def ffmpeg_info(path: str | None, err: Console) -> Any:
    from pertitle.ffmpeg import binary

    try:
        return binary.detect(binary.locate(path))
    except PertitleError as exc:
        raise fail(err, str(exc), 2) from None


def fmt(x: float, spec: str, missing: str = "-") -> str:
    return format(x, spec) if math.isfinite(x) else missing


def signed(x: float, decimals: int) -> str:
    """`x` with its sign (+1.25, -0.50), except what rounds to zero at `decimals` places: that is
    0.00, neither a gain nor a loss, and never -0.00."""
    shown = f"{x:+.{decimals}f}"
    return f"{0:.{decimals}f}" if math.isfinite(x) and float(shown) == 0 else shown


def build_settings(
    *,
    codec: str,
    preset: str | None,
    heights: str | None,
    crfs: str | None,
    samples: int,
    sample_duration: float,
    full_pass_below: float,
    sample_selection: str = "complexity",
    constraints: Path | None,
    metric: str,
    vmaf_model: str | None,
    scaler: str,
    jobs: int,
    no_cache: bool,
    cache_dir: Path | None,
    calibrate: bool,
    deploy_rate_control: str = "abr2pass",
    fast: bool = False,
    work_dir: Path | None = None,
    encode_timeout: float = 1800.0,
    per_title: bool = False,
) -> Settings:
    """CLI values -> validated Settings. Raises ConfigError naming the option and value.
    `per_title`: what a manifest title may change the meaning of is checked per title (a batch;
    `config.validate`), not here."""
    problem = cache_dir_problem(cache_dir, no_cache)
    if problem is None and work_dir is not None:
        why = output_problem(work_dir, directory=True)
        problem = f"--work-dir: {why}" if why else None
    if problem:
        raise ConfigError(problem)
    cons = load_constraints(constraints) if constraints else Constraints()
    settings = Settings(
        codec=codec.lower(),
        preset=preset,
        heights=parse_number_list(heights, "--heights", integer=True) if heights is not None else None,
        crfs=parse_number_list(crfs, "--crfs", integer=False) if crfs is not None else None,
        sample_count=samples,
        sample_duration_s=sample_duration,
        sample_selection=sample_selection,
        full_pass_below_s=full_pass_below,
        scaler=scaler,
        vmaf_model=vmaf_model,
        metric=metric,
        constraints=cons,
        jobs=jobs,
        use_cache=not no_cache,
        cache_dir=str(cache_dir) if cache_dir else None,
        calibrate=calibrate,
        deploy_rate_control=deploy_rate_control,
        fast=fast,
        work_dir=str(work_dir.absolute()) if work_dir else None,
        encode_timeout_s=encode_timeout,
    )
    try:
        return validate(settings, per_title=per_title)
    except ConfigError as exc:
        raise renamed_field(exc, _OPTION_OF) from None


# Settings fields -> the options that set them, so an error names what the user typed.
_OPTION_OF = {
    "codec": "--codec",
    "preset": "--preset",
    "heights": "--heights",
    "crfs": "--crfs",
    "sample_count": "--samples",
    "sample_duration_s": "--sample-duration",
    "sample_selection": "--sample-selection",
    "full_pass_below_s": "--full-pass-below",
    "scaler": "--scaler",
    "vmaf_model": "--vmaf-model",
    "metric": "--metric",
    "jobs": "--jobs",
    "deploy_rate_control": "--rate-control",
    "encode_timeout_s": "--encode-timeout",
}
