"""pertitle batch without ffmpeg: input discovery, manifests, up-front validation, the output
writers (summary, JUnit, NDJSON, plain progress lines), the shared local executor's bound and the
Dask executor's error transport."""

from __future__ import annotations

import io
import json
import pickle
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from pertitle import batch, catalog
from pertitle.batch import BatchEvent, BatchResult, TitleOutcome
from pertitle.catalog import BatchInputError, Entry, Overrides, name_problem
from pertitle.clicmd.common import ProgressPrinter
from pertitle.config import Settings
from pertitle.errors import FfmpegError, FfmpegTimeout, advice_for
from pertitle.executors.dask import DaskExecutor, RemoteFfmpegError, call_remote
from pertitle.executors.local import LocalExecutor
from pertitle.models import EncodeSpec
from pertitle.probes import Event, group_specs
from pertitle.report import batch_out


def entries_of(inputs: list[Path], include: list[str] | None = None) -> list[Entry]:
    """The titles that inputs without a problem name."""
    entries = catalog.found_entries(inputs, include)
    assert [e.problems for e in entries if e.problems] == []
    return entries


def plan(inputs: list[Path], out: Path) -> list[catalog.TitleSpec]:
    return catalog.plan_inputs(inputs, None, Settings(), out)


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_batchs_settings_are_held_against_each_titles_codec_and_metric(tmp_path: Path) -> None:
    """--metric psnr: the batch's VMAF-scale default bounds are wrong only for the titles that
    use them; a manifest title with PSNR constraints of its own was refused with them."""
    from pertitle.clicmd.common import build_settings
    from pertitle.errors import ConfigError

    touch(tmp_path / "a.mp4")
    (tmp_path / "psnr.yaml").write_text("quality_ceiling: 45\nquality_floor: 25\n", encoding="utf-8")
    options: dict[str, Any] = {
        "codec": "h264", "preset": None, "heights": None, "crfs": None, "samples": 3,
        "sample_duration": 4.0, "full_pass_below": 20.0, "constraints": None, "metric": "psnr",
        "vmaf_model": None, "scaler": "bicubic", "jobs": 0, "no_cache": True, "cache_dir": None,
        "calibrate": True,
    }  # fmt: skip
    with pytest.raises(ConfigError, match="quality_ceiling: 95 is above what psnr reaches"):
        build_settings(**options)  # analyze: one title, its bounds are these
    base = build_settings(**options, per_title=True)
    manifest = tmp_path / "m.yaml"
    manifest.write_text("titles:\n  - {path: a.mp4, name: own, constraints: psnr.yaml}\n", encoding="utf-8")
    (title,) = catalog.plan_inputs([manifest], None, base, tmp_path / "out")
    assert title.settings.constraints.quality_ceiling == 45
    manifest.write_text(
        manifest.read_text(encoding="utf-8") + "  - {path: a.mp4, name: theirs}\n", encoding="utf-8"
    )
    with pytest.raises(BatchInputError) as info:
        catalog.plan_inputs([manifest], None, base, tmp_path / "out")
    assert info.value.problems == [
        f"{manifest} title 2: quality_ceiling: 95 is above what psnr reaches (60); with --metric psnr the "
        "constraints' quality bounds are psnr values: give --constraints with, e.g., quality_ceiling: 45, "
        "quality_floor: 25"
    ]
    # The CRFs and the preset are held against each title's codec, not the batch's.
    crf55 = build_settings(**{**options, "metric": "vmaf", "crfs": "55"}, per_title=True)
    manifest.write_text("titles:\n  - {path: a.mp4, codec: vp9}\n", encoding="utf-8")
    (vp9,) = catalog.plan_inputs([manifest], None, crf55, tmp_path / "out")
    assert (vp9.settings.codec, vp9.settings.crfs) == ("vp9", (55.0,))
    manifest.write_text("titles:\n  - {path: a.mp4, codec: vp9}\n  - a.mp4\n", encoding="utf-8")
    with pytest.raises(BatchInputError) as info:
        catalog.plan_inputs([manifest], None, crf55, tmp_path / "out")
    assert info.value.problems == [f"{manifest} title 2: crfs: 55 is outside h264's range 0-51"]
    # A directory's titles share its origin: their one problem is said once.
    touch(tmp_path / "d" / "x.mp4")
    touch(tmp_path / "d" / "y.mp4")
    with pytest.raises(BatchInputError) as info:
        catalog.plan_inputs([tmp_path / "d"], None, base, tmp_path / "out")
    assert len(info.value.problems) == 1


# -- names ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["title", 'it\'s "odd"; $(touch x) ü', "a b", "ÉTÉ 2024", "x.y", "名前"],
)
def test_plain_names_are_accepted(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "phrase"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("../up", "path separator"),
        ("/abs/path", "path separator"),
        ("a/b", "path separator"),
        ("a\\b", "path separator"),
        ("..", "path separator"),
        (".", "leave the output directory"),
        (".hidden", "hidden"),
        ("tab\there", "control character"),
        ("x" * 201, "longer than"),
    ],
)
def test_names_that_leave_the_output_dir_or_hide_are_rejected(name: str, phrase: str) -> None:
    why = name_problem(name)
    assert why is not None
    assert phrase in why or (name == ".." and "leave the output directory" in why)


# -- discovery --------------------------------------------------------------------------------------


def test_directory_is_searched_recursively_with_default_video_globs(tmp_path: Path) -> None:
    touch(tmp_path / "a.mp4")
    touch(tmp_path / "sub" / "deeper" / "B.MKV")
    touch(tmp_path / "notes.txt")
    touch(tmp_path / ".hidden.mp4")
    touch(tmp_path / ".git" / "c.mp4")
    entries = entries_of([tmp_path])
    assert [e.path.relative_to(tmp_path).as_posix() for e in entries] == ["a.mp4", "sub/deeper/B.MKV"]


def test_include_globs_are_repeatable_comma_separated_and_may_name_paths(tmp_path: Path) -> None:
    touch(tmp_path / "a.mp4")
    touch(tmp_path / "b.y4m")
    touch(tmp_path / "keep" / "c.mov")
    touch(tmp_path / "drop" / "d.mov")
    found = entries_of([tmp_path], include=["*.y4m", "keep/*.mov,nothing"])
    assert sorted(e.path.name for e in found) == ["b.y4m", "c.mov"]


def test_every_missing_input_and_empty_directory_is_reported_together(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(BatchInputError) as info:
        plan([tmp_path / "nope.mp4", tmp_path / "empty", tmp_path / "gone"], tmp_path / "out")
    assert len(info.value.problems) == 3
    text = str(info.value)
    assert "nope.mp4: no such file" in text and "no files match" in text
    assert info.value.exit_code == 2


def test_an_explicit_file_is_taken_whatever_its_extension(tmp_path: Path) -> None:
    f = touch(tmp_path / "title.weird")
    assert [e.path for e in entries_of([f])] == [f]


# -- manifests --------------------------------------------------------------------------------------


def test_yaml_manifest_with_overrides_relative_to_its_folder(tmp_path: Path) -> None:
    touch(tmp_path / "clips" / "a.mp4")
    touch(tmp_path / "clips" / "b.mp4")
    (tmp_path / "strict.yaml").write_text("max_rungs: 2\n", encoding="utf-8")
    manifest = tmp_path / "catalog.yaml"
    manifest.write_text(
        "titles:\n"
        "  - clips/a.mp4\n"
        "  - path: clips/b.mp4\n"
        "    name: b-hevc\n"
        "    codec: HEVC\n"
        "    crfs: [24, 30]\n"
        "    heights: '360,720'\n"
        "    constraints: strict.yaml\n"
        "    samples: 2\n"
        "    sample_duration: 3.5\n"
        "    encode_timeout: 60\n"
        "    fast: true\n",
        encoding="utf-8",
    )
    a, b = entries_of([manifest])
    assert a.path == tmp_path / "clips" / "a.mp4" and a.name is None and a.overrides == Overrides()
    assert b.name == "b-hevc"
    assert b.overrides.crfs == (24.0, 30.0) and b.overrides.heights == (360, 720)
    settings = b.overrides.apply(Settings())
    assert settings.codec == "hevc"
    assert settings.constraints.max_rungs == 2
    assert (settings.sample_count, settings.sample_duration_s, settings.encode_timeout_s) == (2, 3.5, 60.0)
    assert settings.fast and not a.overrides.apply(Settings()).fast
    assert "catalog.yaml title 2" in b.origin


def test_a_numbered_preset_is_taken_as_svt_av1_names_its_presets(tmp_path: Path) -> None:
    # `preset: 8` was refused as "must be text": SVT-AV1's presets are numbers.
    touch(tmp_path / "a.mp4")
    manifest = tmp_path / "m.yaml"
    manifest.write_text("- {path: a.mp4, codec: av1, preset: 8}\n", encoding="utf-8")
    (entry,) = entries_of([manifest])
    assert entry.overrides.preset == "8"
    assert entry.overrides.apply(Settings()).preset == "8"


def test_whole_heights_written_as_floats_are_heights(tmp_path: Path) -> None:
    touch(tmp_path / "a.mp4")
    manifest = tmp_path / "m.yaml"
    manifest.write_text("- {path: a.mp4, heights: [90.0, 1.8e2], crfs: [24.5]}\n", encoding="utf-8")
    (entry,) = entries_of([manifest])
    assert entry.overrides.heights == (90, 180) and entry.overrides.crfs == (24.5,)
    manifest.write_text("- {path: a.mp4, heights: [90.5]}\n", encoding="utf-8")
    with pytest.raises(BatchInputError, match=r"heights: '90\.5' is not a whole number"):
        plan([manifest], tmp_path / "out")


def test_csv_manifest_empty_cells_keep_the_batch_value(tmp_path: Path) -> None:
    manifest = tmp_path / "catalog.csv"
    manifest.write_text(
        "path,name,codec,crfs,samples,fast\nx.mp4,,,,,\ny.mp4,why,vp9,30;40,2,yes\n",
        encoding="utf-8",
    )
    x, y = entries_of([manifest])
    assert x.name is None and x.overrides == Overrides()
    assert y.name == "why"
    assert y.overrides == Overrides(codec="vp9", crfs=(30.0, 40.0), sample_count=2, fast=True)
    assert y.path == tmp_path / "y.mp4"
    assert "row 3" in y.origin


@pytest.mark.parametrize(
    ("text", "suffix", "phrase"),
    [
        ("- path: a.mp4\n  codex: hevc\n", ".yaml", "unknown key 'codex'"),
        ("- name: nameless\n", ".yaml", "'path' is missing"),
        ("- path: 5\n", ".yaml", "path = 5 must be text"),
        ("- path: a.mp4\n  fast: maybe\n", ".yaml", "fast = 'maybe' must be true or false"),
        ("path,fast\na.mp4,sometimes\n", ".csv", "fast = 'sometimes' must be true or false"),
        ("- path: a.mp4\n  samples: many\n", ".yaml", "samples = 'many' must be a number"),
        ("- path: a.mp4\n  samples: 1.5\n", ".yaml", "must be a whole number"),
        ("- path: a.mp4\n  crfs: [20, x]\n", ".yaml", "'x' is not a number"),
        ("films: []\n", ".yaml", "unknown top-level key 'films'"),
        ("[unclosed\n", ".yaml", "not valid YAML"),
        ("", ".yaml", "expected a list of titles"),
        ("titles: []\n", ".yaml", "m.yaml: holds no titles; list at least one"),  # was: "expected a list"
        ("- path: a.mp4\n  preset: [8]\n", ".yaml", "preset = [8] must be text"),
        ("name,codec\nx,h264\n", ".csv", "'path' among them"),
        ("path,codec\na.mp4,h264,extra\n", ".csv", "3 cells for 2 columns"),
    ],
)
def test_bad_manifests_name_the_file_and_the_problem(
    tmp_path: Path, text: str, suffix: str, phrase: str
) -> None:
    manifest = tmp_path / f"m{suffix}"
    manifest.write_text(text, encoding="utf-8")
    with pytest.raises(BatchInputError) as info:
        plan([manifest], tmp_path / "out")
    assert phrase in str(info.value)
    assert str(manifest) in str(info.value)


# -- planning ---------------------------------------------------------------------------------------


def test_stem_collisions_are_rejected_case_insensitively(tmp_path: Path) -> None:
    a = touch(tmp_path / "one" / "Title.mp4")
    b = touch(tmp_path / "two" / "title.mov")
    with pytest.raises(BatchInputError) as info:
        plan([a, b], tmp_path / "out")
    text = str(info.value)
    assert "collide" in text and str(a) in text and str(b) in text and "manifest" in text


def test_every_problem_is_reported_before_any_work(tmp_path: Path) -> None:
    good = touch(tmp_path / "good.mp4")
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "- {path: good.mp4, name: ../escape}\n"
        "- {path: good.mp4, name: /etc/passwd}\n"
        "- {path: good.mp4, name: sub/dir}\n"
        "- {path: missing.mp4}\n"
        "- {path: good.mp4, name: badcodec, codec: mpeg2}\n"
        "- {path: good.mp4, name: badcrf, crfs: [99]}\n",
        encoding="utf-8",
    )
    with pytest.raises(BatchInputError) as info:
        plan([manifest, good], tmp_path / "out")
    problems = info.value.problems
    assert len(problems) == 6, problems
    text = str(info.value)
    assert text.startswith("6 problems with the batch input:")
    assert "'../escape'" in text and "'/etc/passwd'" in text and "'sub/dir'" in text
    assert "missing.mp4: no such file" in text
    assert "'mpeg2' is not supported" in text and "title 5" in text
    assert "crfs: 99" in text


def test_problems_of_every_kind_are_listed_in_one_run(tmp_path: Path) -> None:
    """A manifest's parse problems (types, unknown keys) must not hide the other titles' missing
    files, bad names, bad values and collisions: one run lists them all, title by title."""
    touch(tmp_path / "good.mp4")
    touch(tmp_path / "a" / "dup.mp4")
    touch(tmp_path / "b" / "dup.mp4")
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "titles:\n"
        "  - path: nope.mp4\n"  # 1: missing file
        "  - {path: good.mp4, name: q, colour: red, crfs: [abc]}\n"  # 2: unknown key, bad type
        "  - {path: good.mp4, name: f, fast: maybe}\n"  # 3: bad flag
        "  - {path: good.mp4, name: ../esc}\n"  # 4: name leaves the output directory
        "  - {path: good.mp4, name: c, codec: mpeg2}\n"  # 5: unknown codec
        "  - {path: good.mp4, name: s, samples: -1, sample_duration: 0, heights: [0]}\n"  # 6: 3 bad values
        "  - a/dup.mp4\n"  # 7 and 8: the same stem twice
        "  - b/dup.mp4\n",
        encoding="utf-8",
    )
    missing_arg = tmp_path / "gone.mp4"
    with pytest.raises(BatchInputError) as info:
        catalog.plan_inputs([manifest, missing_arg], None, Settings(), tmp_path / "out")
    text = str(info.value)
    expected = [
        "title 1: " + str(tmp_path / "nope.mp4") + ": no such file",
        "title 2: unknown key 'colour'",
        "title 2: crfs",
        "title 3: fast = 'maybe'",
        "title 4: output name '../esc'",
        "title 5: ",
        "'mpeg2' is not supported",
        "title 6: heights: 0 is out of range",
        "title 6: samples: -1 must be 1 to 1000",
        "title 6: sample_duration: 0 must be at least",
        "collide on the output name 'dup'",
        f"{missing_arg}: no such file or directory",
    ]
    missed = [e for e in expected if e not in text]
    assert not missed, text
    at = [text.index(e) for e in expected]
    assert at == sorted(at), text  # in the order of the inputs, not grouped by kind
    assert len(info.value.problems) == 11, info.value.problems
    assert not (tmp_path / "out").exists()


def test_same_file_twice_is_one_title_but_named_copies_are_separate(tmp_path: Path) -> None:
    f = touch(tmp_path / "cat" / "a.mp4")
    manifest = tmp_path / "m.yaml"
    manifest.write_text("- {path: cat/a.mp4, name: a-hevc, codec: hevc}\n", encoding="utf-8")
    titles = plan([tmp_path / "cat", f, manifest], tmp_path / "out")
    assert [(t.name, t.settings.codec) for t in titles] == [("a", "h264"), ("a-hevc", "hevc")]
    assert all(Path(t.source).is_absolute() for t in titles)


def test_a_directory_listed_in_a_manifest_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    entry = Entry(path=tmp_path / "d", origin="m.yaml title 1")
    titles, problems = catalog.planned_titles([entry], Settings(), tmp_path / "out")
    assert titles == [] and len(problems) == 1 and "is a directory" in problems[0]


def test_auto_title_jobs() -> None:
    assert batch.auto_title_jobs(1, 2) == 1
    assert batch.auto_title_jobs(10, 2) == 2
    assert batch.auto_title_jobs(100, 64) == 16
    assert batch.auto_title_jobs(3, 64) == 3


def test_a_timeout_is_named_in_the_reason() -> None:
    exc = FfmpegTimeout(["ffmpeg", "-i", "x"], -9, "frame=1\nkilled after 2 s", "3 encodes at 320x180 failed")
    reason, kind = batch.failure_reason(exc)
    assert kind == "FfmpegTimeout"
    assert reason.startswith("timed out:") and "killed after 2 s" in reason and "\n" not in reason


# -- outputs ----------------------------------------------------------------------------------------


def outcomes() -> tuple[TitleOutcome, ...]:
    return (
        TitleOutcome(
            "good",
            "/c/good.mp4",
            "ok",
            ladder="good.ladder.json",
            rungs=3,
            top_bitrate_kbps=1234.5,
            top_width=640,
            top_height=360,
            time_s=2.5,
            encodes=8,
            cache_hits=2,
        ),
        TitleOutcome("bad", "/c/bad.mp4", "failed", "not a video", error_type="InputError"),
        TitleOutcome("kept", "/c/kept.mp4", "skipped", "ladder from an earlier run", rungs=1),
    )


def test_junit_has_one_case_per_title_with_failures_and_skips() -> None:
    result = BatchResult(outcomes(), wall_s=3.0)
    root = ET.fromstring(batch_out.junit_xml(result, timestamp=0.0))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"good", "bad", "kept"}
    failure = cases["bad"].find("failure")
    assert failure is not None and failure.get("type") == "InputError"
    assert failure.get("message", "").startswith("not a video")
    assert cases["kept"].find("skipped") is not None
    assert cases["good"].find("failure") is None
    assert "1234 kbps at 640x360" in (cases["good"].findtext("system-out") or "")


def test_summary_counts_and_totals() -> None:
    doc = batch_out.summary_document(
        outcomes(), state="finished", started_at=0.0, updated_at=4.0, meta={"executor": "local"}, exit_code=1
    )
    assert doc["schema"] == "pertitle.batch-summary/v1"
    assert doc["counts"]["total"] == 3 and doc["counts"]["ok"] == 1 and doc["counts"]["failed"] == 1
    assert (doc["encodes"], doc["cache_hits"], doc["wall_s"], doc["exit_code"]) == (8, 2, 4.0, 1)
    assert doc["titles"][0]["top_resolution"] == "640x360"
    json.dumps(doc)  # serialisable as it is


def test_summary_writer_rewrites_the_file_whole_as_titles_end(tmp_path: Path) -> None:
    specs = [catalog.TitleSpec(o.name, o.source, Settings(), "x") for o in outcomes()]
    writer = batch_out.SummaryWriter(tmp_path, specs, {"executor": "local"})
    first = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert first["state"] == "running" and {t["status"] for t in first["titles"]} == {"pending"}
    writer(BatchEvent("title_started", "good"))
    writer(BatchEvent("title_finished", "good", outcome=outcomes()[0]))
    mid = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert [t["status"] for t in mid["titles"]] == ["ok", "pending", "pending"]
    writer.finish(BatchResult(outcomes(), 1.0))
    end = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert end["state"] == "finished" and end["exit_code"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]  # no temp files left


def test_events_are_one_flushed_json_object_per_line(tmp_path: Path) -> None:
    path = tmp_path / "ev" / "events.ndjson"
    writer = batch_out.EventsWriter(path)
    writer(BatchEvent("title_started", "a", "/c/a.mp4"))
    writer(BatchEvent("job_done", "a", "320x180 crf 26", 1, 6))
    # Flushed per line: readable before close.
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["title_started", "job_done"]
    writer(BatchEvent("title_failed", "b", "x", 1, 2, outcomes()[1]))
    writer.close()
    last = json.loads(path.read_text(encoding="utf-8").splitlines()[-1])
    assert last["status"] == "failed" and last["error_type"] == "InputError" and last["total"] == 2


def test_batch_finished_is_the_last_event_written(tmp_path: Path) -> None:
    # An interrupted batch's title threads report as they stop, after the batch has finished.
    path = tmp_path / "events.ndjson"
    writer = batch_out.EventsWriter(path)
    writer(BatchEvent("batch_started", None, "1 title", 0, 1))
    writer(BatchEvent("batch_finished", None, "interrupted", 0, 1))
    writer(BatchEvent("title_failed", "b", "x", 1, 1, outcomes()[1]))
    writer.close()
    kinds = [json.loads(line)["event"] for line in path.read_text(encoding="utf-8").splitlines()]
    assert kinds == ["batch_started", "batch_finished"]


def test_plain_progress_and_table_have_no_control_characters() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False, color_system=None, width=100)
    progress = batch_out.BatchProgress(console, 3, live=False, verbose=True)
    progress(BatchEvent("batch_started", None, "3 titles", 0, 3))
    progress(BatchEvent("title_started", "good"))
    progress(BatchEvent("job_done", "good", "320x180 crf 26: 100 kbps", 1, 6))
    for i, o in enumerate(outcomes(), start=1):
        kind = {"ok": "title_finished", "failed": "title_failed", "skipped": "title_skipped"}[o.status]
        progress(BatchEvent(kind, o.name, o.reason or "", i, 3, o))
    progress.close()
    batch_out.render_batch_table(BatchResult(outcomes(), 3.0), console, plain=True)
    text = buf.getvalue()
    assert "[3/3] skipped kept" in text and "FAILED  bad" in text and "good: 320x180 crf 26" in text
    assert "3 titles: 1 ok, 1 skipped, 1 failed" in text
    assert not [c for c in text if (ord(c) < 32 and c != "\n") or ord(c) == 127]


def test_title_names_are_shown_as_they_are_with_control_characters_visible() -> None:
    """A title named after a file can hold anything a file name can: markup, an emoji code, an
    escape sequence. The lines and the table show it as written, the controls as escapes."""
    name = "ev[/z]il:100:\x1b[31m"
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False, color_system=None, width=100)
    progress = batch_out.BatchProgress(console, 1, live=False)
    progress(BatchEvent("title_started", name))
    failed = TitleOutcome(name, f"/c/{name}.mp4", "failed", "not a video", error_type="InputError")
    progress(BatchEvent("title_failed", name, "not a video", 1, 1, failed))
    progress.close()
    batch_out.render_batch_table(BatchResult((failed,), 1.0), console, plain=True)
    text = buf.getvalue()
    shown = "ev[/z]il:100:\\x1b[31m"
    assert f"[0/1] start   {shown}" in text and f"FAILED  {shown}: not a video" in text
    assert f"{shown} | failed" in text and f"failed {shown}: not a video" in text
    assert "\x1b" not in text


def test_reasons_are_one_line_without_control_characters() -> None:
    exc = FfmpegError(["ffmpeg"], 1, "\x1b[31mError\x1b[0m opening\n\tinput\x07", "decode failed")
    reason, kind = batch.failure_reason(exc)
    assert kind == "FfmpegError"
    assert reason.startswith("decode failed (exit 1): ")
    assert not [c for c in reason if ord(c) < 32 or ord(c) == 127]
    # Control characters as the visible escapes every view uses (a file name stays recognisable).
    assert batch.one_line("a\x1b[1mb\n c\x01") == "a\\x1b[1mb c\\x01"


def test_the_cause_named_is_the_encoders_error_not_its_banner() -> None:
    # SVT-AV1's own lines as it refuses a two-pass at 40x40 (bundled ffmpeg, -loglevel error).
    stderr = "\n".join(
        [
            "Svt[info]: -------------------------------------------",
            "Svt[info]: SVT [version]:\tSVT-AV1 Encoder Lib v4.2.0",
            "Svt[warn]: AQ mode 2 is unsupported with source dimensions (40 / 40), setting AQ mode to 0",
            "Svt[error]: Adaptive quantization can not be turned OFF when RC ON",
            "[libsvtav1 @ 0x55] Error setting encoder parameters: bad parameter (0x80001005)",
            "[vf#0:0 @ 0x55] Error sending frames to consumers: Invalid argument",
        ]
    )
    exc = FfmpegError(["ffmpeg"], 234, stderr, "first pass failed")
    assert (
        str(exc)
        == "first pass failed (exit 234): Svt[error]: Adaptive quantization can not be turned OFF when RC ON"
    )


def test_a_known_cause_comes_with_what_to_do_and_no_context_address() -> None:
    # x264's own line, as it refused a two-pass 416x234 rung of 3 kbps on the 2 s Sintel.
    stderr = "[libx264 @ 0x558eec775280] requested bitrate is too low. estimated minimum is 5 kbps\n"
    exc = FfmpegError(["ffmpeg"], 187, stderr, "1 encode at 416x234 failed")
    assert str(exc) == (
        "1 encode at 416x234 failed (exit 187): [libx264] requested bitrate is too low. estimated "
        "minimum is 5 kbps; x264 cannot encode this title at so low a bitrate: give the rung at "
        "least 5 kbit/s"
    )
    assert advice_for("Error while opening encoder") is None


def test_an_encoder_killed_with_only_its_banner_said_is_said_to_be_so() -> None:
    # SVT-AV1 at preset 12 on 160x90 segfaults in its first pass now and then, saying only its
    # banner: the error quoted "Svt[info]: -----", which told nothing.
    import signal

    banner = "Svt[info]: -------------------------------------------\nSvt[info]: SVT [version]: v4.2.0\n"
    exc = FfmpegError(
        ["ffmpeg", "-c:v", "libsvtav1"], -signal.SIGSEGV, banner, "first pass of 1 encode failed"
    )
    assert str(exc) == (
        "first pass of 1 encode failed (killed by SIGSEGV): nothing said but the encoder's banner; "
        "SVT-AV1's fastest presets (9-13) crash now and then on small pictures: use --preset 8 or slower"
    )
    other = FfmpegError(
        ["ffmpeg", "-c:v", "libx265"], -signal.SIGKILL, "x265 [info]: HEVC encoder\n", "x failed"
    )
    assert str(other) == "x failed (killed by SIGKILL): nothing said but the encoder's banner"


def test_a_failed_encode_is_said_once_and_only_counted_by_the_bar() -> None:
    buf = io.StringIO()
    err = Console(file=buf, force_terminal=False, color_system=None, width=200)
    printer = ProgressPrinter(err, quiet=False)
    printer(Event("planned", "encoding 2 points", 0, 2))
    printer(Event("warning", "1 encode at 416x234 failed (exit 187): cause", 1, 2))
    printer(Event("done", "640x360 crf 30: 300 kbps, VMAF 90.0", 2, 2))
    printer.close()
    text = buf.getvalue()
    assert text.count("cause") == 1, text
    assert "failed (the warning above)" in text and "VMAF 90.0" in text, text


def test_plain_progress_prints_a_heartbeat_when_quiet_for_long() -> None:
    buf = io.StringIO()
    now = [0.0]
    console = Console(file=buf, force_terminal=False, color_system=None, width=100)
    progress = batch_out.BatchProgress(console, 1, live=False, heartbeat_s=30, clock=lambda: now[0])
    progress(BatchEvent("job_done", "a", "x", 1, 9))
    now[0] = 31.0
    progress(BatchEvent("job_done", "a", "y", 2, 9))
    assert buf.getvalue().splitlines() == ["progress: 0/1 titles ended, idle, 2 encodes"]


# -- executors --------------------------------------------------------------------------------------


def test_one_local_executor_bounds_jobs_across_concurrent_callers() -> None:
    executor = LocalExecutor(2)
    running = 0
    peak = 0
    lock = threading.Lock()

    def job(_: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return 1

    def caller() -> None:
        assert sum(r or 0 for _, r, _ in executor.map_unordered(job, range(6))) == 6

    threads = [threading.Thread(target=caller) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == 2


def test_executors_say_how_many_specs_share_a_process() -> None:
    assert LocalExecutor.max_group > 1 and LocalExecutor.threads_per_job is None
    assert DaskExecutor.max_group == 1 and DaskExecutor.threads_per_job == 1
    specs = [EncodeSpec("h264", "veryfast", 320, 180, "crf", crf=c) for c in (20, 26, 32, 38)]
    assert [len(g) for g in group_specs(specs, 1, DaskExecutor.max_group)] == [1, 1, 1, 1]
    assert [len(g) for g in group_specs(specs, 1, 4)] == [4]


def _fails(argv: list[str]) -> int:
    raise FfmpegTimeout(argv, -9, "killed after 1 s", "encode failed")


def test_ffmpeg_errors_cross_the_process_boundary_as_values() -> None:
    value = call_remote(_fails, ["ffmpeg", "-i", "in.mp4"])
    assert isinstance(value, RemoteFfmpegError)
    back = pickle.loads(pickle.dumps(value)).rebuild()
    assert isinstance(back, FfmpegTimeout) and isinstance(back, FfmpegError)
    assert back.argv == ["ffmpeg", "-i", "in.mp4"] and back.returncode == -9
    assert str(back) == "encode failed (killed by SIGKILL): killed after 1 s"
    assert call_remote(len, [1, 2]) == 2


def test_dask_executor_rejects_zero_workers() -> None:
    with pytest.raises(ValueError):
        DaskExecutor(None, 0)


def test_a_manifest_nested_too_deeply_is_one_config_error(tmp_path: Path) -> None:
    from pertitle.errors import ConfigError

    deep = tmp_path / "titles.yaml"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(ConfigError, match="nested too deeply to be a manifest"):
        catalog.manifest_entries(deep)


def test_every_bad_title_of_a_manifest_is_listed_at_once(tmp_path: Path) -> None:
    (tmp_path / "a.mp4").write_bytes(b"x")
    yaml_manifest = tmp_path / "titles.yaml"
    yaml_manifest.write_text(
        "- {path: a.mp4, fast: maybe}\n- {path: a.mp4, frobnicate: 1}\n- 42\n- a.mp4\n", encoding="utf-8"
    )
    csv_manifest = tmp_path / "more.csv"
    csv_manifest.write_text("path,samples\na.mp4,abc\na.mp4,3,extra\na.mp4,2\n", encoding="utf-8")
    problems = [p for e in catalog.found_entries([yaml_manifest, csv_manifest]) for p in e.problems]
    assert len(problems) == 5, problems
    assert problems[0].startswith(f"{yaml_manifest} title 1: fast")
    assert problems[1].startswith(f"{yaml_manifest} title 2:") and "frobnicate" in problems[1]
    assert problems[2].startswith(f"{yaml_manifest} title 3: expected a path or a mapping")
    assert problems[3].startswith(f"{csv_manifest} row 2:") and "samples" in problems[3]
    assert problems[4] == f"{csv_manifest} row 3: 3 cells for 2 columns"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("path,path\na.mp4,b.mp4\n", "column 'path' is named twice"),
        ("path,codec\n", "no titles under the header"),
    ],
)
def test_a_csv_manifest_with_a_doubled_column_or_no_rows_is_refused(
    tmp_path: Path, text: str, needle: str
) -> None:
    from pertitle.errors import ConfigError

    manifest = tmp_path / "titles.csv"
    manifest.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=needle):
        catalog.manifest_entries(manifest)


def _one_stubbed_title(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, analyze: Any
) -> tuple[Any, list[str]]:
    """A title whose analysis is `analyze` and whose ladder writes are recorded, not made."""
    source = touch(tmp_path / "a.mp4")
    title = catalog.TitleSpec(name="a", source=str(source), settings=Settings(), origin=str(source))
    rung = {"width": 640, "height": 360, "bitrate_kbps": 480.0}
    monkeypatch.setattr(batch, "analyze", analyze)
    monkeypatch.setattr(batch.serialize, "to_document", lambda result: {"rungs": [rung]})
    written: list[str] = []
    monkeypatch.setattr(batch.serialize, "write_documents", lambda doc, out, name: written.append(name))
    return title, written


def _run_one(title: Any, tmp_path: Path, events: list[BatchEvent]) -> batch.BatchResult:
    from types import SimpleNamespace

    return batch.run_batch(
        [title],
        tmp_path / "out",
        SimpleNamespace(version="n9-test", path="ffmpeg"),  # type: ignore[arg-type]
        executor=SimpleNamespace(slots=1),
        cores=1,
        on_event=events.append,
    )


def test_a_title_whose_ladder_is_written_when_ctrl_c_lands_is_reported_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C after a title wrote its ladder but before the batch recorded it: the ladder is on
    disk, so the title is ok, not interrupted. The analysis is stubbed: this is the batch's
    bookkeeping."""
    import _thread
    from types import SimpleNamespace

    stub = SimpleNamespace(encodes=3, cache_hits=1)
    title, written = _one_stubbed_title(tmp_path, monkeypatch, lambda *a, **k: stub)
    run = batch._TitleRun.run

    def run_then_interrupt(self: batch._TitleRun) -> batch.TitleOutcome:
        outcome = run(self)
        _thread.interrupt_main()
        time.sleep(3)  # the interrupt is handled before this title reports
        return outcome

    monkeypatch.setattr(batch._TitleRun, "run", run_then_interrupt)
    events: list[BatchEvent] = []
    result = _run_one(title, tmp_path, events)
    assert result.interrupted and written == ["a"]
    [outcome] = result.outcomes
    assert (outcome.status, outcome.encodes, outcome.top_height) == ("ok", 3, 360)
    assert [e.kind for e in events if e.title == "a" and e.kind.startswith("title_")] == [
        "title_started",
        "title_finished",
    ]


def test_a_title_interrupted_before_its_ladder_is_written_writes_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C after the analysis, before the write: the title is interrupted, and it must not
    then write a ladder that the summary says it does not have."""
    import _thread
    from types import SimpleNamespace

    def analyze_then_interrupt(*a: Any, **k: Any) -> Any:
        _thread.interrupt_main()
        time.sleep(3)  # the interrupt is handled before the write
        return SimpleNamespace(encodes=3, cache_hits=0)

    title, written = _one_stubbed_title(tmp_path, monkeypatch, analyze_then_interrupt)
    ended = threading.Event()
    run = batch._TitleRun.run

    def run_and_say(self: batch._TitleRun) -> batch.TitleOutcome:
        try:
            return run(self)
        finally:
            ended.set()

    monkeypatch.setattr(batch._TitleRun, "run", run_and_say)
    result = _run_one(title, tmp_path, [])
    assert result.interrupted and result.outcomes[0].status == "interrupted"
    assert ended.wait(10)
    assert written == []


def test_a_file_in_a_directory_whose_name_cannot_name_a_ladder_says_how_to_fix_it(tmp_path: Path) -> None:
    # "give a plain name" cannot be done for a title found in a directory: it has no name: key.
    touch(tmp_path / "cat" / "e\x1b[31mred.mp4")
    with pytest.raises(BatchInputError) as info:
        plan([tmp_path / "cat"], tmp_path / "out")
    (said,) = info.value.problems
    assert "contains a control character; rename " in said
    assert said.endswith("or list it in a manifest with a name: of its own")


def test_a_text_file_lists_one_title_a_line(tmp_path: Path) -> None:
    # `pertitle batch list.txt` took the list for a video ("truncated or corrupt?").
    touch(tmp_path / "clips" / "a.mp4")
    touch(tmp_path / "clips" / "b c.mp4")
    listing = tmp_path / "titles.txt"
    listing.write_text("# made by find\nclips/a.mp4\n\n  clips/b c.mp4  \n", encoding="utf-8")
    a, b = entries_of([listing])
    assert (a.path, b.path) == (tmp_path / "clips" / "a.mp4", tmp_path / "clips" / "b c.mp4")
    assert b.origin == f"{listing} line 4"
    listing.write_text("clips/a.mp4\nclips/gone.mp4\n", encoding="utf-8")
    with pytest.raises(BatchInputError, match=r"titles\.txt line 2: .*gone\.mp4: no such file"):
        plan([listing], tmp_path / "out")
    listing.write_text("# nothing yet\n", encoding="utf-8")
    with pytest.raises(BatchInputError, match="holds no titles; list one path per line"):
        plan([listing], tmp_path / "out")
