"""A catalog of titles (`catalog` reads and checks them): run each title in isolation, resume
from what earlier runs left, and report every title's outcome as events.

A title that fails (unreadable file, no video, an ffmpeg crash or timeout, no usable hull) is
recorded with a one-line reason and the other titles go on. A title whose `<name>.ladder.json` is
already in the output directory, is a valid `pertitle.ladder/v1` document and was made from the same
source size and settings, is skipped unless `force`; the encodes of a title that was cut short come
back from the result cache. Ladders are written atomically (YAML first, the JSON last), so a run
killed at any moment leaves either a whole ladder or none.

Nothing here prints: progress, summary.json, JUnit XML and NDJSON events are event sinks in
`pertitle.report.batch_out`, wired by the command.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from pertitle.cache import remove_stale_temps
from pertitle.catalog import TitleSpec
from pertitle.errors import ExecutorLost, FfmpegError, FfmpegTimeout, PertitleError
from pertitle.ffmpeg.binary import FfmpegInfo
from pertitle.pipeline import analyze, settings_document
from pertitle.plan import default_vmaf_model
from pertitle.probes import Event
from pertitle.report import printable, serialize
from pertitle.yamltext import load_yaml

STATUSES = ("pending", "running", "ok", "failed", "skipped", "interrupted")


@dataclass(frozen=True)
class TitleOutcome:
    """How a title ended (or where it stands). `reason` is one line for failed and skipped titles."""

    name: str
    source: str
    status: str
    reason: str | None = None
    error_type: str | None = None
    ladder: str | None = None  # the ladder JSON's file name in the output directory
    rungs: int = 0
    top_bitrate_kbps: float | None = None
    top_width: int | None = None
    top_height: int | None = None
    time_s: float = 0.0
    encodes: int = 0
    cache_hits: int = 0
    timings: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchEvent:
    """Progress for the edge. kind: batch_started | title_started | title_stage | job_done |
    job_failed | title_finished | title_failed | title_skipped | warning | batch_finished.

    `done`/`total` count the jobs of the title's current stage (job_done) or the titles that have
    ended (batch_started, title_* endings, batch_finished). Title endings carry their outcome.
    """

    kind: str
    title: str | None = None
    message: str = ""
    done: int = 0
    total: int = 0
    outcome: TitleOutcome | None = None
    time: float = field(default_factory=time.time)


BatchSink = Callable[[BatchEvent], None]


def _ignore(_: BatchEvent) -> None:
    return None


@dataclass(frozen=True)
class BatchResult:
    outcomes: tuple[TitleOutcome, ...]
    wall_s: float
    interrupted: bool = False
    # Why the batch stopped before its titles ended, when where they ran was lost (ExecutorLost):
    # the titles stand as an interrupt leaves them, and a rerun resumes.
    stopped: str | None = None

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def encodes(self) -> int:
        return sum(o.encodes for o in self.outcomes)

    @property
    def cache_hits(self) -> int:
        return sum(o.cache_hits for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        """0: every title ok or skipped; 1: a title failed, or the executor was lost; 130: interrupted."""
        if self.interrupted:
            return 130
        return 1 if self.count("failed") or self.stopped else 0


def ladder_path(out_dir: str | os.PathLike[str], name: str) -> Path:
    return Path(out_dir) / f"{name}.ladder.json"


def existing_ladder(
    out_dir: str | os.PathLike[str], title: TitleSpec, ffmpeg_version: str | None = None
) -> tuple[dict[str, Any] | None, str]:
    """The title's ladder from an earlier run, when it can stand: (document, "") or (None, why not).

    It must be a valid `pertitle.ladder/v1` document, of a source of the same size, made with the
    same result-affecting settings (with no VMAF model chosen, the model the source gets by default:
    a ladder scored with another one is analysed again) and, given `ffmpeg_version`, by that
    ffmpeg: another build's encoders give other bits, as the cache's keys say.
    """
    path = ladder_path(out_dir, title.name)
    if not path.is_file():
        return None, "no ladder yet"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        serialize.from_document(doc)
    except (OSError, ValueError, RecursionError, PertitleError) as exc:
        return None, f"the existing {path.name} is not a valid ladder ({str(exc).splitlines()[0][:120]})"
    # Its YAML twin is written first: a run cut short between the two (or a hand edit) leaves
    # them apart, and a kept title must have both.
    twin = path.parent / f"{title.name}.ladder.yaml"
    try:
        same = load_yaml(twin.read_text(encoding="utf-8")) == doc
    except (OSError, ValueError, RecursionError, yaml.YAMLError):
        same = False
    if not same:
        return None, f"its {twin.name} is missing or is not the same ladder"
    try:
        size = os.path.getsize(title.source)
    except OSError:
        size = -1
    if doc["source"].get("size_bytes") != size:
        return None, f"the existing {path.name} was made from another version of the source"
    s = title.settings
    expected = json.loads(json.dumps(settings_document(s, s.vmaf_model or "", s.constraints)))
    recorded = dict(doc.get("settings", {}))
    if "calibrate" not in recorded:  # written before the key was: the rungs' basis tells
        recorded["calibrate"] = any(
            (r.get("predicted") or {}).get("basis") != serialize.UNCALIBRATED_BASIS
            for r in doc.get("rungs") or []
        )
    if not s.vmaf_model:  # the model this source gets by default, by its size as recorded
        src = doc["source"]
        expected["vmaf_model"] = default_vmaf_model(int(src["width"]), int(src["height"]))
    expected.pop("vmaf_subsample", None)  # what the title's length allowed; `fast` is the setting
    changed = sorted(k for k, v in expected.items() if recorded.get(k) != v)
    if changed:
        return None, f"the existing {path.name} was made with other settings ({', '.join(changed)})"
    made_with = str((doc.get("tool") or {}).get("ffmpeg", ""))
    if ffmpeg_version is not None and made_with != ffmpeg_version:
        return None, f"the existing {path.name} was made with another ffmpeg ({made_with or 'unknown'})"
    return doc, ""


def _ladder_outcome(
    title: TitleSpec, doc: Mapping[str, Any], status: str, reason: str | None
) -> TitleOutcome:
    rungs = list(doc.get("rungs") or [])
    top = max(rungs, key=lambda r: r.get("bitrate_kbps") or 0.0) if rungs else None
    t = doc.get("timings") or {}
    return TitleOutcome(
        name=title.name,
        source=title.source,
        status=status,
        reason=reason,
        ladder=ladder_path("", title.name).name,
        rungs=len(rungs),
        top_bitrate_kbps=top.get("bitrate_kbps") if top else None,
        top_width=top.get("width") if top else None,
        top_height=top.get("height") if top else None,
        timings={k: float(v) for k, v in t.items() if k.endswith("_s") and isinstance(v, int | float)},
    )


def auto_title_jobs(n_titles: int, slots: int) -> int:
    """Titles at once when --jobs is 0: two on a small machine (one title's serial stretches, probe,
    reference, hull, fill the other's gaps), a quarter of the slots on a big one."""
    return max(1, min(n_titles, max(2, slots // 4)))


def one_line(text: str, limit: int = 300) -> str:
    """Whitespace collapsed, control characters (escape codes in a tool's output, in a file name)
    as visible escapes (`report.printable`: \\x1b), as every other view shows them."""
    text = printable(" ".join(str(text).split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def failure_reason(exc: BaseException) -> tuple[str, str]:
    """(one-line reason, error type) for a title that failed."""
    if isinstance(exc, FfmpegTimeout):
        tail = exc.stderr_tail.strip().splitlines()
        killed = tail[-1] if tail and tail[-1].startswith("killed after") else "killed"
        return one_line(f"timed out: {exc.what} ({killed}; see --encode-timeout)"), "FfmpegTimeout"
    if isinstance(exc, PertitleError):
        return one_line(str(exc)), type(exc).__name__
    if isinstance(exc, OSError):
        return one_line(f"cannot write the ladder: {exc}"), "OSError"
    return one_line(f"internal error: {type(exc).__name__}: {exc}"), "InternalError"


class BatchCancelled(Exception):
    """Raised inside a title's event callback to stop its work when the batch is interrupted."""


class _TitleRun:
    """One title: skip or analyse, write the ladder, and count its encodes and cache hits."""

    def __init__(
        self,
        title: TitleSpec,
        *,
        out_dir: Path,
        ffmpeg: FfmpegInfo,
        executor: Any,
        force: bool,
        emit: BatchSink,
        cancelled: threading.Event,
        commit_lock: threading.Lock,
        on_lost: Callable[[str], None],
        stop_reason: Callable[[], str],
    ) -> None:
        self.title = title
        self.on_lost = on_lost  # the executor is gone: the batch stops
        self.stop_reason = stop_reason  # why the batch stopped, for an interrupted title's reason
        self.out_dir = out_dir
        self.ffmpeg = ffmpeg
        self.executor = executor
        self.force = force
        self.emit = emit
        self.cancelled = cancelled
        self.commit_lock = commit_lock
        self.encodes = 0
        self.cache_hits = 0
        self.started = time.perf_counter()
        # The title's outcome once its ladder is written (or kept): a Ctrl-C that lands after that
        # reports the ladder, not an interruption. Set and read under run_batch's lock.
        self.finished: TitleOutcome | None = None

    def on_event(self, event: Event) -> None:
        if self.cancelled.is_set():
            raise BatchCancelled
        name = self.title.name
        if event.kind == "done":
            self.encodes += 1
            self.emit(BatchEvent("job_done", name, event.message, event.done, event.total))
        elif event.kind == "warning":
            self.emit(BatchEvent("job_failed", name, event.message, event.done, event.total))
        elif event.kind == "notice":
            self.emit(BatchEvent("warning", name, event.message))
        elif event.kind == "planned":
            self.cache_hits += event.done
            cached = f" ({event.done} from cache)" if event.done else ""
            self.emit(BatchEvent("title_stage", name, event.message + cached, event.done, event.total))
        else:
            self.emit(BatchEvent("title_stage", name, event.message))

    def run(self) -> TitleOutcome:
        title = self.title
        t0 = self.started = time.perf_counter()
        why = "--force asked for a new one"
        if not self.force:
            doc, why = existing_ladder(self.out_dir, title, self.ffmpeg.version)
            if doc is not None:
                kept = _ladder_outcome(
                    title, doc, "skipped", "ladder from an earlier run (--force redoes it)"
                )
                with self.commit_lock:
                    self.finished = kept
                return kept
            if why != "no ladder yet":
                self.emit(BatchEvent("title_stage", title.name, f"{why}; analysing again"))
        try:
            result = analyze(
                title.source,
                title.settings,
                self.ffmpeg,
                on_event=self.on_event,
                executor=self.executor,
                title=title.name,
            )
            doc = serialize.to_document(result)
            done = replace(
                _ladder_outcome(title, doc, "ok", None),
                time_s=round(time.perf_counter() - t0, 3),
                encodes=result.encodes,
                cache_hits=result.cache_hits,
            )
            # Under the batch's lock, so that an interrupt finds the ladder either not written
            # (and the title interrupted) or written and the title finished, never between.
            with self.commit_lock:
                if self.cancelled.is_set():
                    raise BatchCancelled
                serialize.write_documents(doc, self.out_dir, title.name)
                self.finished = done
        except BatchCancelled:
            return self.interrupted()
        except ExecutorLost as exc:  # no title can go on: the batch stops here
            self.on_lost(str(exc))
            return self.interrupted()
        except Exception as exc:
            if self.cancelled.is_set():  # Ctrl-C reached ffmpeg too: not the title's fault
                return self.interrupted()
            reason, kind = failure_reason(exc)
            if isinstance(exc, FfmpegError) and os.environ.get("PERTITLE_DEBUG"):
                reason = exc.details()
            earlier = ladder_path(self.out_dir, title.name)
            if earlier.is_file():  # left as it was: a failed run loses nothing, nor passes it off
                reason += f" (the output directory keeps the ladder of an earlier run: {why})"
            return TitleOutcome(
                title.name,
                title.source,
                "failed",
                reason,
                error_type=kind,
                time_s=round(time.perf_counter() - t0, 3),
                encodes=self.encodes,
                cache_hits=self.cache_hits,
            )
        return done

    def interrupted(self) -> TitleOutcome:
        """Where the title stands when the batch is interrupted: the time it ran, the encodes it did."""
        return TitleOutcome(
            self.title.name,
            self.title.source,
            "interrupted",
            f"{self.stop_reason()}; a rerun resumes from the cache",
            time_s=round(time.perf_counter() - self.started, 3),
            encodes=self.encodes,
            cache_hits=self.cache_hits,
        )


# The event that ends a title, by its outcome's status.
_END_EVENTS = {"ok": "title_finished", "skipped": "title_skipped", "interrupted": "title_failed"}


NOT_STARTED = "not started: the batch was interrupted first; a rerun runs it"
NOT_STARTED_LOST = "not started: the batch stopped first ({}); a rerun runs it"


def run_batch(
    titles: Sequence[TitleSpec],
    out_dir: str | os.PathLike[str],
    ffmpeg: FfmpegInfo,
    *,
    executor: Any,
    cores: int,
    title_jobs: int = 0,
    force: bool = False,
    on_event: BatchSink = _ignore,
) -> BatchResult:
    """Run every title, `title_jobs` at once (0: auto), all on one shared `executor`.

    Each title's Settings.jobs becomes `cores // title_jobs` (at least 1): the threads of its
    reference decode and, with a local executor, how its encodes are split between processes and
    ffmpeg threads. A LocalExecutor of `cores` workers shared by every title keeps the machine at
    about `cores` ffmpeg processes in all.

    A title's failure is recorded on its outcome and the others go on. KeyboardInterrupt (Ctrl-C)
    stops the titles after the encodes in flight; the result then says `interrupted`, every title
    that was running is `interrupted` (with the time it ran) unless its ladder was already written
    or kept (then `ok` or `skipped`; an interrupted title writes none), and every title that had
    not started stays `pending` (the caller exits 130). The outcomes are final at the interrupt: a
    title thread that stops later neither changes nor reports its outcome again.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)  # what a run killed mid-write left (hidden, never a whole file)
    slots = int(getattr(executor, "slots", cores) or cores)
    jobs = title_jobs if title_jobs > 0 else auto_title_jobs(len(titles), slots)
    jobs = max(1, min(jobs, len(titles) or 1))
    per_title = max(1, cores // jobs)
    lock = threading.Lock()
    outcomes: dict[str, TitleOutcome] = {t.name: TitleOutcome(t.name, t.source, "pending") for t in titles}
    ended = 0
    final_at_interrupt = False  # under the lock
    cancelled = threading.Event()
    started = time.perf_counter()
    runs: dict[str, _TitleRun] = {}
    lost: list[str] = []  # why the executor is gone, once it is (under the lock)

    def on_lost(reason: str) -> None:
        with lock:
            if not lost:
                lost.append(reason)
        cancelled.set()  # the other titles stop at their next event, none starts

    def stop_reason() -> str:  # called with the lock held too (the interrupt): reads without it
        return f"the batch stopped: {lost[0]}" if lost else "the batch was interrupted"

    def emit(event: BatchEvent) -> None:
        with lock:
            on_event(event)

    def one(title: TitleSpec) -> TitleOutcome:
        nonlocal ended
        if cancelled.is_set():
            raise BatchCancelled
        with lock:
            # Ctrl-C may land between the check above and here: the interrupt has then said where
            # this title stands (pending), and it must not start.
            if final_at_interrupt or cancelled.is_set():
                raise BatchCancelled
            outcomes[title.name] = replace(outcomes[title.name], status="running")
        emit(BatchEvent("title_started", title.name, title.source))
        spec = replace(title, settings=replace(title.settings, jobs=per_title))
        runner = _TitleRun(
            spec,
            out_dir=out,
            ffmpeg=ffmpeg,
            executor=executor,
            force=force,
            emit=emit,
            cancelled=cancelled,
            commit_lock=lock,
            on_lost=on_lost,
            stop_reason=stop_reason,
        )
        with lock:
            runs[title.name] = runner
        outcome = runner.run()
        with lock:
            if final_at_interrupt:  # the interrupt said where this title stood
                return outcome
            outcomes[title.name] = outcome
            ended += 1
            on_event(
                BatchEvent(
                    _END_EVENTS.get(outcome.status, "title_failed"),
                    title.name,
                    outcome.reason or "",
                    ended,
                    len(titles),
                    outcome,
                )
            )
        return outcome

    on_event(
        BatchEvent(
            "batch_started",
            None,
            f"{len(titles)} title{'' if len(titles) == 1 else 's'}, {jobs} at once, "
            f"{per_title} core{'' if per_title == 1 else 's'} each",
            0,
            len(titles),
        )
    )
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="pertitle-title")
    interrupted = False
    try:
        futures: dict[Future[TitleOutcome], TitleSpec] = {pool.submit(one, t): t for t in titles}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in done:
                exc = fut.exception()
                if exc is not None and not isinstance(exc, BatchCancelled):
                    # A sink failed (say, the disk filled while writing the summary): a fault of
                    # the batch, not of the title, but the title has no ladder; say so.
                    reason, kind = failure_reason(exc)
                    with lock:
                        title = futures[fut]
                        outcomes[title.name] = TitleOutcome(title.name, title.source, "failed", reason, kind)
    except KeyboardInterrupt:
        interrupted = True
        cancelled.set()
        pool.shutdown(wait=False, cancel_futures=True)
        with lock:
            final_at_interrupt = True
            for name, o in outcomes.items():
                if o.status == "pending":
                    outcomes[name] = replace(o, reason=NOT_STARTED)
                elif o.status == "running":
                    run = runs.get(name)  # what a running title had done: its encodes are cached
                    if run is not None and run.finished is not None:  # its ladder is written
                        outcomes[name] = run.finished
                    else:
                        outcomes[name] = (
                            run.interrupted()
                            if run
                            else replace(o, status="interrupted", reason="the batch was interrupted")
                        )
                    ended += 1
                    on_event(
                        BatchEvent(
                            _END_EVENTS.get(outcomes[name].status, "title_failed"),
                            name,
                            outcomes[name].reason or "",
                            ended,
                            len(titles),
                            outcomes[name],
                        )
                    )
    finally:
        if not interrupted:
            pool.shutdown(wait=True)
    with lock:
        stopped = None if interrupted or not lost else lost[0]
        if stopped is not None:  # the titles the loss kept from starting say why
            for name, o in outcomes.items():
                if o.status == "pending":
                    outcomes[name] = replace(o, reason=NOT_STARTED_LOST.format(stopped))
        final = tuple(outcomes[t.name] for t in titles)
    result = BatchResult(final, round(time.perf_counter() - started, 3), interrupted, stopped)
    emit(
        BatchEvent(
            "batch_finished",
            None,
            "interrupted" if interrupted or stopped else "finished",
            sum(1 for o in final if o.status in ("ok", "failed", "skipped")),
            len(titles),
        )
    )
    return result
