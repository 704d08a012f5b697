"""What `pertitle batch` writes and shows: summary.json, JUnit XML, NDJSON events, the progress lines
and the final table. Each writer is a sink of `pertitle.batch.BatchEvent`s, so the batch core never
prints and a dashboard, a CI system and a terminal all read the same events.

summary.json (`pertitle.batch-summary/v1`) is written atomically when the batch starts, again each
time a title starts or ends, and at the end, so a batch killed at any moment leaves a whole summary
that says which titles had ended. The NDJSON events file gets one JSON object per line, flushed per
line. The JUnit XML is written (atomically) with the summary, so it always describes this run: one
test case per title, a `failure` element with the reason for a failed or interrupted title,
`skipped` for a ladder kept from an earlier run and for a title an interrupt left `pending` (it
never started: not a failure). While the batch runs, a title not yet ended is a `failure` ("not
finished"): a batch killed with -9 leaves a report that is not green, never the last run's.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, ClassVar

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from pertitle.batch import BatchEvent, BatchResult, TitleOutcome
from pertitle.cache import atomic_write_text, utf8_text
from pertitle.catalog import TitleSpec
from pertitle.report import printable

SUMMARY_SCHEMA = "pertitle.batch-summary/v1"
SUMMARY_NAME = "summary.json"

# XML 1.0 cannot hold these at all, even escaped (ffmpeg's stderr can carry them).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def _num(x: float | None, digits: int = 1) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), digits)


def outcome_document(o: TitleOutcome) -> dict[str, Any]:
    """One title in summary.json and in the events file."""
    top = f"{o.top_width}x{o.top_height}" if o.top_width and o.top_height else None
    return {
        "name": o.name,
        "source": o.source,
        "status": o.status,
        "reason": o.reason,
        "error_type": o.error_type,
        "ladder": o.ladder,
        "rungs": o.rungs,
        "top_bitrate_kbps": _num(o.top_bitrate_kbps),
        "top_resolution": top,
        "time_s": round(o.time_s, 3),
        "encodes": o.encodes,
        "cache_hits": o.cache_hits,
        "timings": dict(o.timings),
    }


def summary_document(
    outcomes: Sequence[TitleOutcome],
    *,
    state: str,
    started_at: float,
    updated_at: float,
    meta: Mapping[str, Any],
    exit_code: int | None = None,
    stopped: str | None = None,
) -> dict[str, Any]:
    """The summary.json document. `state`: running | finished | interrupted (by a signal, or
    `stopped` by the loss of where the titles ran, which says why). Pure."""
    counts = {s: 0 for s in ("ok", "failed", "skipped", "interrupted", "running", "pending")}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    return {
        "schema": SUMMARY_SCHEMA,
        "state": state,
        "exit_code": exit_code,
        "stopped": stopped,
        "started_at": _iso(started_at),
        "updated_at": _iso(updated_at),
        "wall_s": round(updated_at - started_at, 3),
        **dict(meta),
        "counts": {"total": len(outcomes), **counts},
        "encodes": sum(o.encodes for o in outcomes),
        "cache_hits": sum(o.cache_hits for o in outcomes),
        "titles": [outcome_document(o) for o in outcomes],
    }


class SummaryWriter:
    """Keeps `DIR/summary.json` current: every title pending at first, each title's status as it
    starts and ends, the final state at `finish`. Every write is atomic."""

    def __init__(
        self,
        out_dir: str | Path,
        titles: Sequence[TitleSpec],
        meta: Mapping[str, Any],
        *,
        junit: str | Path | None = None,
        clock: Any = time.time,
    ) -> None:
        self.path = Path(out_dir) / SUMMARY_NAME
        self.junit = Path(junit) if junit is not None else None
        self._meta = dict(meta)
        self._clock = clock
        self._started = clock()
        self._order = [t.name for t in titles]
        self._outcomes = {t.name: TitleOutcome(t.name, t.source, "pending") for t in titles}
        self._lock = threading.Lock()
        self._finished = False
        self._write("running")

    def _write(self, state: str, exit_code: int | None = None, stopped: str | None = None) -> None:
        doc = summary_document(
            [self._outcomes[n] for n in self._order],
            state=state,
            started_at=self._started,
            updated_at=self._clock(),
            meta=self._meta,
            exit_code=exit_code,
            stopped=stopped,
        )
        atomic_write_text(self.path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        if self.junit is not None and state == "running":  # the final one is the caller's
            outcomes = tuple(self._outcomes[n] for n in self._order)
            write_junit(self.junit, BatchResult(outcomes, doc["wall_s"]), running=True)

    def __call__(self, event: BatchEvent) -> None:
        with self._lock:
            if self._finished:  # a title thread still ending after an interrupt: the summary is final
                return
            if event.kind == "title_started" and event.title in self._outcomes:
                old = self._outcomes[event.title]
                self._outcomes[event.title] = TitleOutcome(old.name, old.source, "running")
                self._write_running()
            elif event.outcome is not None:
                self._outcomes[event.outcome.name] = event.outcome
                self._write_running()

    def _write_running(self) -> None:
        """A write while titles run that fails (a full disk) must not fail the title whose event
        it was: the titles go on, and `finish` writes the whole summary or raises."""
        with contextlib.suppress(OSError):
            self._write("running")

    def finish(self, result: BatchResult) -> None:
        """The final summary. Raises OSError when it cannot be written."""
        with self._lock:
            self._finished = True
            for o in result.outcomes:
                self._outcomes[o.name] = o
            self._write(
                "interrupted" if result.interrupted or result.stopped else "finished",
                result.exit_code,
                result.stopped,
            )


def event_document(event: BatchEvent) -> dict[str, Any]:
    """One NDJSON line. Pure."""
    doc: dict[str, Any] = {"event": event.kind, "time": round(event.time, 3)}
    if event.title is not None:
        doc["title"] = event.title
    if event.message:
        doc["message"] = event.message
    if event.total:
        doc["done"] = event.done
        doc["total"] = event.total
    if event.outcome is not None:
        doc.update({k: v for k, v in outcome_document(event.outcome).items() if k != "name"})
    return doc


class EventsWriter:
    """NDJSON progress events, one JSON object per line, flushed per line (for `tail -f` and
    dashboards). Opened (truncated) at construction; `close()` when the batch ends."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 (closed by close())
        self._lock = threading.Lock()
        # The first write that failed (a full disk): the events stop there, the titles go on.
        self.error: OSError | None = None

    def __call__(self, event: BatchEvent) -> None:
        line = utf8_text(json.dumps(event_document(event), ensure_ascii=False, separators=(",", ":")))
        with self._lock:
            if self._file is not None:
                try:
                    self._file.write(line + "\n")
                    self._file.flush()
                except OSError as exc:
                    self.error = exc
                    self._close_file()
            if event.kind == "batch_finished":
                # The last line: an interrupted batch's title threads may still report as they
                # stop, after the summary says how the batch ended.
                self._close_file()

    def _close_file(self) -> None:
        """Under the lock."""
        if self._file is not None:
            try:
                self._file.close()
            except OSError as exc:  # what was left to flush
                self.error = self.error or exc
            self._file = None

    def close(self) -> None:
        with self._lock:
            self._close_file()


def _xml_text(text: str) -> str:
    return _XML_INVALID.sub("?", text)


UNFINISHED = "not finished: the batch was still running when this report was written (summary.json says more)"


def junit_xml(
    result: BatchResult,
    *,
    suite: str = "pertitle batch",
    timestamp: float | None = None,
    running: bool = False,
) -> str:
    """JUnit XML for a batch: one `testcase` per title (classname `pertitle.batch`, name the title),
    `failure` with the reason for a failed or interrupted title, `skipped` for a kept ladder and for
    a title that never started (`pending`, an interrupted batch's). `running`: the batch has not
    ended, and every title not yet ended is a failure (UNFINISHED). Pure."""
    if running:
        result = BatchResult(
            tuple(
                o
                if o.status not in ("pending", "running")
                else TitleOutcome(o.name, o.source, "interrupted", UNFINISHED, error_type="unfinished")
                for o in result.outcomes
            ),
            result.wall_s,
        )
    failures = sum(1 for o in result.outcomes if o.status in ("failed", "interrupted"))
    skipped = sum(1 for o in result.outcomes if o.status in ("skipped", "pending"))
    attrs = {
        "name": suite,
        "tests": str(len(result.outcomes)),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(skipped),
        "time": f"{result.wall_s:.3f}",
    }
    root = ET.Element("testsuites", attrs)
    ts = ET.SubElement(root, "testsuite", {**attrs, "timestamp": _iso(timestamp or time.time())})
    for o in result.outcomes:
        case = ET.SubElement(
            ts,
            "testcase",
            {"classname": "pertitle.batch", "name": _xml_text(o.name), "time": f"{o.time_s:.3f}"},
        )
        case.set("file", _xml_text(o.source))
        if o.status in ("failed", "interrupted"):
            reason = _xml_text(o.reason or o.status)
            failure = ET.SubElement(case, "failure", {"message": reason, "type": o.error_type or o.status})
            failure.text = reason
        elif o.status in ("skipped", "pending"):
            ET.SubElement(case, "skipped", {"message": _xml_text(o.reason or o.status)})
        if o.status in ("ok", "skipped"):
            out = ET.SubElement(case, "system-out")
            out.text = _xml_text(describe_outcome(o))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(path: str | Path, result: BatchResult, *, running: bool = False) -> None:
    atomic_write_text(path, junit_xml(result, running=running))


def describe_outcome(o: TitleOutcome) -> str:
    """One line for a title that ended: its ladder, or why it has none."""
    if o.status in ("ok", "skipped") and o.rungs:
        top = f"{o.top_bitrate_kbps:.0f} kbps at {o.top_width}x{o.top_height}" if o.top_bitrate_kbps else "-"
        text = f"{o.rungs} rung{'s' if o.rungs != 1 else ''}, top {top}"
        if o.status == "ok":
            text += f", {o.time_s:.1f} s ({o.encodes} encodes, {o.cache_hits} from cache)"
        return text
    return o.reason or o.status


class BatchProgress:
    """Batch events -> stderr. `live` (a terminal without NO_COLOR): one overall progress bar over
    the titles, with the title lines printed above it. Otherwise plain lines with no control
    characters, and a progress line every `heartbeat_s` while encodes finish (so a CI log shows the
    batch is alive). `verbose` adds a line per finished encode; `quiet` prints nothing."""

    _LABELS: ClassVar[dict[str, str]] = {
        "title_started": "start",
        "title_finished": "ok",
        "title_skipped": "skipped",
        "title_failed": "FAILED",
    }

    def __init__(
        self,
        console: Console,
        total: int,
        *,
        live: bool,
        quiet: bool = False,
        verbose: bool = False,
        heartbeat_s: float = 30.0,
        clock: Any = time.monotonic,
    ) -> None:
        self.console = console
        self.total = total
        self.quiet = quiet
        self.verbose = verbose
        self.heartbeat_s = heartbeat_s
        self._clock = clock
        self._last_line = clock()
        self._ended = 0
        self._running: set[str] = set()
        self._encodes = 0
        self._lock = threading.Lock()
        self._closed = False
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if live and not quiet:
            self._progress = Progress(
                TextColumn("titles"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[status]}", markup=False),
                console=console,
                transient=False,
            )
            self._task = self._progress.add_task("titles", total=total, status="")
            self._progress.start()

    def _print(self, text: str) -> None:
        self._last_line = self._clock()
        target = self._progress.console if self._progress is not None else self.console
        # Names are file names: shown as written (a Text: no markup, no emoji codes), controls visible.
        target.print(Text(printable(text)), soft_wrap=True)

    def _status(self) -> str:
        running = f"{len(self._running)} running" if self._running else "idle"
        return f"{running}, {self._encodes} encodes"

    def __call__(self, event: BatchEvent) -> None:
        if self.quiet or self._closed:
            return
        with self._lock:
            self._handle(event)
            if self._progress is not None and self._task is not None:
                self._progress.update(self._task, completed=self._ended, status=self._status())

    def _handle(self, e: BatchEvent) -> None:
        width = len(str(self.total))
        if e.kind == "batch_started":
            self._print(f"batch: {e.message}")
        elif e.kind == "title_started" and e.title is not None:
            self._running.add(e.title)
            self._print(f"[{self._ended:>{width}}/{self.total}] start   {e.title}")
        elif e.kind in ("title_finished", "title_skipped", "title_failed") and e.outcome is not None:
            self._running.discard(e.outcome.name)
            self._ended = e.done
            label = self._LABELS[e.kind] if e.outcome.status != "interrupted" else "stopped"
            line = (
                f"[{e.done:>{width}}/{self.total}] {label:<7} {e.outcome.name}: {describe_outcome(e.outcome)}"
            )
            self._print(line)
        elif e.kind == "job_done":
            self._encodes += 1
            if self.verbose:
                self._print(f"  {e.title}: {e.message} [{e.done}/{e.total}]")
            elif self._progress is None and self._clock() - self._last_line >= self.heartbeat_s:
                self._print(f"progress: {self._ended}/{self.total} titles ended, {self._status()}")
        elif e.kind in ("job_failed", "warning"):
            who = f"{e.title}: " if e.title else ""
            self._print(f"warning: {who}{e.message}")
        elif e.kind == "title_stage" and self.verbose:
            self._print(f"  {e.title}: {e.message}")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._progress is not None:
                self._progress.stop()
                self._progress = None


def render_batch_table(result: BatchResult, console: Console, *, plain: bool) -> None:
    """The final table (title, status, rungs, top bitrate, top resolution, time, encodes), then the
    reason of every failed title, one line each, and the totals."""
    table = Table(box=box.ASCII if plain else box.SIMPLE_HEAVY, show_edge=not plain, pad_edge=False)
    table.add_column("title", overflow="fold")
    table.add_column("status")
    table.add_column("rungs", justify="right")
    table.add_column("top kbps", justify="right")
    table.add_column("top size", justify="right")
    table.add_column("time s", justify="right")
    table.add_column("encodes", justify="right")
    table.add_column("cached", justify="right")
    styles = {"ok": "green", "failed": "red", "skipped": "cyan", "interrupted": "yellow"}
    for o in result.outcomes:
        has_ladder = o.status in ("ok", "skipped")
        # Text cells: a title named like Rich markup ("[bold]") is shown as it is, controls visible.
        table.add_row(
            Text(printable(o.name)),
            Text(o.status, style="" if plain else styles.get(o.status, "")),
            Text(str(o.rungs) if has_ladder else "-"),
            Text(f"{o.top_bitrate_kbps:.0f}" if has_ladder and o.top_bitrate_kbps else "-"),
            Text(f"{o.top_width}x{o.top_height}" if has_ladder and o.top_width else "-"),
            Text(f"{o.time_s:.1f}"),
            Text(str(o.encodes)),
            Text(str(o.cache_hits)),
        )
    console.print(table, highlight=False)
    for o in result.outcomes:
        if o.status in ("failed", "interrupted"):
            console.print(Text(printable(f"{o.status} {o.name}: {o.reason}")), soft_wrap=True)
    counts = ", ".join(
        f"{result.count(s)} {s}"
        for s in ("ok", "skipped", "failed", "interrupted", "pending")
        if result.count(s)
    )
    n = len(result.outcomes)
    console.print(
        f"{n} title{'' if n == 1 else 's'}: {counts or 'none'}; {result.encodes} encodes, "
        f"{result.cache_hits} from cache; {result.wall_s:.1f} s",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
