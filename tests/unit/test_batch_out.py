"""summary.json and the events file when the disk fills during a batch: the titles go on, and the
end says what could not be written (it was an OSError traceback, with summary.json left 'running')."""

from __future__ import annotations

import errno
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pertitle import batch
from pertitle.batch import BatchEvent, BatchResult, TitleOutcome
from pertitle.catalog import TitleSpec
from pertitle.config import Settings
from pertitle.report import batch_out


def _titles() -> list[TitleSpec]:
    return [TitleSpec(name=n, source=f"/m/{n}.mp4", settings=Settings(), origin="test") for n in ("a", "b")]


def test_a_summary_write_that_fails_mid_batch_fails_no_title_and_finish_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = batch_out.SummaryWriter(tmp_path, _titles(), {})
    assert json.loads(summary.path.read_text(encoding="utf-8"))["state"] == "running"

    def full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(batch_out, "atomic_write_text", full)
    done = TitleOutcome("a", "/m/a.mp4", "ok")
    summary(BatchEvent("title_started", "a"))  # did raise into the title's thread
    summary(BatchEvent("title_finished", "a", outcome=done))
    with pytest.raises(OSError, match="No space"):
        summary.finish(BatchResult(outcomes=(done, TitleOutcome("b", "/m/b.mp4", "ok")), wall_s=1.0))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_an_events_file_on_a_full_disk_stops_and_keeps_the_error() -> None:
    events = batch_out.EventsWriter("/dev/full")
    events(BatchEvent("batch_started", None, done=0, total=2))  # a full disk: flush fails
    events(BatchEvent("title_started", "a"))
    events(BatchEvent("batch_finished", None, done=2, total=2))
    events.close()
    assert events.error is not None and events.error.errno == errno.ENOSPC


def test_the_junit_report_describes_this_run_from_its_start(tmp_path: Path) -> None:
    """CI publishes the JUnit file in an always() step: a batch killed with -9 must leave a report
    of its own run that is not green, never the last run's all-green one."""
    junit = tmp_path / "reports" / "junit.xml"
    junit.parent.mkdir()
    junit.write_text("<testsuites tests='2' failures='0'/>", encoding="utf-8")  # the last run's
    summary = batch_out.SummaryWriter(tmp_path, _titles(), {}, junit=junit)

    def cases() -> dict[str, tuple[str | None, str | None]]:
        root = ET.fromstring(junit.read_text(encoding="utf-8"))
        return {
            c.get("name", ""): (
                next((e.tag for e in c if e.tag in ("failure", "skipped")), None),
                next((e.get("message") for e in c if e.tag in ("failure", "skipped")), None),
            )
            for c in root.iter("testcase")
        }

    assert cases() == {"a": ("failure", batch_out.UNFINISHED), "b": ("failure", batch_out.UNFINISHED)}
    done = TitleOutcome("a", "/m/a.mp4", "ok", rungs=3)
    summary(BatchEvent("title_started", "a"))
    summary(BatchEvent("title_finished", "a", outcome=done))
    assert cases() == {"a": (None, None), "b": ("failure", batch_out.UNFINISHED)}
    # The end is written by the command (write_junit), as an interrupt leaves it: b never started.
    pending = TitleOutcome("b", "/m/b.mp4", "pending", batch.NOT_STARTED)
    summary.finish(BatchResult(outcomes=(done, pending), wall_s=1.0, interrupted=True))
    batch_out.write_junit(junit, BatchResult(outcomes=(done, pending), wall_s=1.0, interrupted=True))
    assert cases() == {"a": (None, None), "b": ("skipped", batch.NOT_STARTED)}
