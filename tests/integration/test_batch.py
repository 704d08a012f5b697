"""pertitle batch end to end, with real ffmpeg and libvmaf on clips made here (320x180, 24 fps, 1 s):
good and bad titles side by side, SIGKILL and resume, two batches on one cache, --force, manifest
overrides, and bad usage found before any work.

Every run uses `--cores 2 --jobs 2`: two titles at once with one core each, so every encode runs
with one ffmpeg thread whatever was cached before. x264 output depends on its thread count, so
this is what makes a resumed run give the same bits as a clean one, and lets the ladders be
compared exactly.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from pertitle.cache import STALE_TEMP_S, ResultCache
from pertitle.cli import app
from pertitle.report import serialize
from tests.conftest import wait_for_a_reference

GRID = ["--heights", "90,180", "--crfs", "26,34,42", "--preset", "veryfast"]
LOCAL = ["--cores", "2", "--jobs", "2"]
ODD = 'it\'s "odd"; $(touch pwned) ü'  # a good title: spaces, quotes, ';', '$()', non-ASCII

# lavfi graphs of three titles with different content (so that no title hits another's cache).
SOURCES = {
    "alpha": "testsrc2=size=320x180:rate=24:duration=1",
    ODD: "testsrc2=size=320x180:rate=24:duration=1,hue=h=90",
    "gamma": "testsrc2=size=320x180:rate=24:duration=1,negate",
}


def make_clip(ffmpeg: str, out: Path, graph: str, *codec: str) -> Path:
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", graph]
    argv += list(codec or ("-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p"))
    subprocess.run([*argv, str(out)], check=True, capture_output=True, timeout=120)
    return out


def batch_argv(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "pertitle", "batch", *[str(a) for a in args]]


def run_batch(*args: str | Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(batch_argv(*args), capture_output=True, text=True, timeout=timeout, env=env)


def ladders(out: Path) -> dict[str, dict[str, Any]]:
    """What must not change between runs: rungs, hull and every measured point, per title."""
    found = {}
    for path in sorted(out.glob("*.ladder.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        found[doc["title"]] = {k: doc[k] for k in ("rungs", "hull", "points", "gave_way")}
    return found


def summary(out: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return doc


def statuses(doc: dict[str, Any]) -> dict[str, str]:
    return {t["name"]: t["status"] for t in doc["titles"]}


def cache_entries(root: Path) -> set[str]:
    """Keys of the whole entries in a cache dir (a killed writer's hidden temp file is not one)."""
    return {p.stem for p in root.glob("*/*.json") if not p.name.startswith(".")}


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory, ffmpeg_path: str) -> Path:
    root = tmp_path_factory.mktemp("good")
    for name, graph in SOURCES.items():
        make_clip(ffmpeg_path, root / f"{name}.mp4", graph)
    return root


@pytest.fixture(scope="module")
def reference(good: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One clean run over the good titles: (out dir, cache dir)."""
    root = tmp_path_factory.mktemp("reference")
    out, cache = root / "out", root / "cache"
    proc = run_batch(good, "--out", out, "--cache-dir", cache, *GRID, *LOCAL)
    assert proc.returncode == 0, proc.stderr
    assert set(ladders(out)) == set(SOURCES)
    return out, cache


def test_bad_titles_fail_with_reasons_and_good_ones_get_ladders(
    good: Path, reference: tuple[Path, Path], tmp_path: Path, ffmpeg_path: str
) -> None:
    catalog = tmp_path / "catalog"
    (catalog / "sub dir").mkdir(parents=True)
    shutil.copy(good / "alpha.mp4", catalog / "alpha.mp4")
    shutil.copy(good / f"{ODD}.mp4", catalog / "sub dir" / f"{ODD}.mp4")
    (catalog / "empty.mp4").write_bytes(b"")
    data = (good / "gamma.mp4").read_bytes()
    (catalog / "truncated.mp4").write_bytes(data[: len(data) * 3 // 10])  # the index (moov) is at the end
    make_clip(ffmpeg_path, catalog / "voiceover.mp4", "sine=frequency=440:duration=1", "-c:a", "aac")
    (catalog / "notes.mp4").write_text("this is a text file, not a video\n", encoding="utf-8")
    (catalog / "moved.mp4").symlink_to(tmp_path / "elsewhere.mp4")  # a link to a title since moved
    os.mkfifo(catalog / "pipe.mp4")  # read, it would wait for a writer forever
    out, junit, events = tmp_path / "out", tmp_path / "ci" / "junit.xml", tmp_path / "ci" / "events.ndjson"

    proc = run_batch(
        catalog,
        "--out",
        out,
        "--cache-dir",
        reference[1],
        "--junit",
        junit,
        "--events",
        events,
        *GRID,
        *LOCAL,
    )

    assert proc.returncode == 1, proc.stderr
    doc = summary(out)
    assert doc["state"] == "finished" and doc["exit_code"] == 1
    assert statuses(doc) == {
        "alpha": "ok",
        ODD: "ok",
        "empty": "failed",
        "truncated": "failed",
        "voiceover": "failed",
        "notes": "failed",
        "moved": "failed",
        "pipe": "failed",
    }
    reasons = {t["name"]: t["reason"] for t in doc["titles"]}
    assert "the file is empty" in reasons["empty"]
    assert "truncated or corrupt" in reasons["truncated"]
    assert "no video stream" in reasons["voiceover"]
    assert "not a readable video file" in reasons["notes"]
    assert "a symbolic link to" in reasons["moved"] and "which does not exist" in reasons["moved"]
    assert "not a regular file" in reasons["pipe"]
    assert all("\n" not in r for r in reasons.values() if r)
    assert ladders(out) == {k: v for k, v in ladders(reference[0]).items() if k in ("alpha", ODD)}
    for name in ("alpha", ODD):
        serialize.from_document(json.loads((out / f"{name}.ladder.json").read_text(encoding="utf-8")))
        assert yaml.safe_load((out / f"{name}.ladder.yaml").read_text(encoding="utf-8"))["title"] == name
    assert not list(tmp_path.rglob("pwned")) and not Path("pwned").exists()  # no shell ever ran

    import xml.etree.ElementTree as ET

    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert len(cases) == 8
    for name, reason in reasons.items():
        failure = cases[name].find("failure")
        if reason is None:
            assert failure is None
        else:
            assert failure is not None and failure.get("message") == reason

    lines = events.read_text(encoding="utf-8").splitlines()
    kinds = [json.loads(line)["event"] for line in lines]  # every line is one JSON object
    assert kinds[0] == "batch_started" and kinds[-1] == "batch_finished"
    assert kinds.count("title_started") == 8
    assert kinds.count("title_failed") == 6 and kinds.count("title_finished") == 2

    # CI log: plain lines, no control characters; the final table and the reasons on stdout.
    assert "\x1b" not in proc.stderr and "\x1b" not in proc.stdout
    assert "FAILED  empty" in proc.stderr
    assert "8 titles: 2 ok, 6 failed" in proc.stdout


def test_a_batch_killed_partway_resumes_without_redoing_work(
    good: Path, reference: tuple[Path, Path], tmp_path: Path
) -> None:
    out, cache, events = tmp_path / "out", tmp_path / "cache", tmp_path / "events.ndjson"
    args = [good, "--out", out, "--cache-dir", cache, *GRID, *LOCAL]
    proc = subprocess.Popen(
        batch_argv(*args, "--events", events),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: SIGKILL reaches the ffmpeg children too
    )
    killed_after: dict[str, Any] | None = None
    try:
        deadline = time.monotonic() + 120
        while killed_after is None:
            assert time.monotonic() < deadline, "no title finished in time"
            assert proc.poll() is None, "the batch ended before it could be killed"
            seen = (
                [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
                if (events.exists())
                else []
            )
            first = next((i for i, e in enumerate(seen) if e["event"] == "title_finished"), None)
            if first is not None:
                # An encode of an unfinished title is done too: the kill lands in the middle of one.
                killed_after = next(
                    (
                        e
                        for e in seen[first:]
                        if e["event"] == "job_done" and e["title"] != seen[first]["title"]
                    ),
                    None,
                )
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert killed_after is not None

    # Nothing half-written is visible: the summary and every ladder parse whole.
    first_summary = summary(out)
    assert first_summary["state"] == "running"
    finished = set(ladders(out))
    assert finished and finished != set(SOURCES)
    for name in finished:
        assert yaml.safe_load((out / f"{name}.ladder.yaml").read_text(encoding="utf-8"))["title"] == name
    before = cache_entries(cache)
    # What a kill between a temp file's creation and its rename leaves (an hour ago), and one
    # another run may be writing now.
    stale, fresh = out / f".summary.json.{'a' * 12}.tmp", out / f".summary.json.{'b' * 12}.tmp"
    for f, age_s in ((stale, STALE_TEMP_S + 60), (fresh, 5.0)):
        f.write_bytes(b"")
        os.utime(f, (time.time() - age_s, time.time() - age_s))

    rerun = run_batch(*args)

    assert rerun.returncode == 0, rerun.stderr
    assert not stale.exists() and fresh.exists()
    doc = summary(out)
    assert doc["state"] == "finished"
    assert statuses(doc) == {n: ("skipped" if n in finished else "ok") for n in SOURCES}
    after = cache_entries(cache)
    assert before <= after
    # Every encode of the rerun is a new cache entry: nothing finished before was encoded again.
    assert doc["encodes"] == len(after - before)
    by_name = {t["name"]: t for t in doc["titles"]}
    if killed_after["title"] not in finished:
        assert by_name[killed_after["title"]]["cache_hits"] >= 1
    reference_encodes = summary(reference[0])["encodes"]
    assert doc["encodes"] < reference_encodes
    assert ladders(out) == ladders(reference[0])


def test_two_batches_share_one_cache(good: Path, reference: tuple[Path, Path], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {**os.environ, "NO_COLOR": "1"}
    procs = [
        subprocess.Popen(
            batch_argv(good, "--out", tmp_path / f"out{i}", "--cache-dir", cache, *GRID, *LOCAL),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in (1, 2)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
    assert ladders(tmp_path / "out1") == ladders(tmp_path / "out2") == ladders(reference[0])
    store = ResultCache(str(cache))
    keys = cache_entries(cache)
    assert keys
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a corrupt entry would warn
        assert all(store.get(k) is not None for k in keys)


def test_finished_titles_are_kept_unless_forced(
    reference: tuple[Path, Path], tmp_path: Path, good: Path
) -> None:
    out = tmp_path / "out"
    shutil.copytree(reference[0], out)
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.ladder.json")}
    runner = CliRunner()
    where = ["batch", str(good), "--out", str(out), "--cache-dir", str(reference[1])]
    base = [*where, *GRID, *LOCAL]

    kept = runner.invoke(app, base)
    assert kept.exit_code == 0, kept.output
    doc = summary(out)
    assert set(statuses(doc).values()) == {"skipped"} and doc["encodes"] == 0
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.ladder.json")} == mtimes

    forced = runner.invoke(app, [*base, "--force"])
    assert forced.exit_code == 0, forced.output
    doc = summary(out)
    assert set(statuses(doc).values()) == {"ok"}
    assert doc["encodes"] == 0 and doc["cache_hits"] > 0  # redone, from the cache
    assert all(out.joinpath(n).stat().st_mtime_ns != t for n, t in mtimes.items())
    assert ladders(out) == ladders(reference[0])

    # A ladder whose YAML twin is missing or cut short is redone (a run killed between the two
    # writes, or a hand edit); so is one made without --no-calibrate's opposite.
    alpha_yaml = out / "alpha.ladder.yaml"
    alpha_yaml.write_text(alpha_yaml.read_text(encoding="utf-8")[:100], encoding="utf-8")
    (out / "gamma.ladder.yaml").unlink()
    redone = runner.invoke(app, base)
    assert redone.exit_code == 0, redone.output
    status = statuses(summary(out))
    assert status["alpha"] == status["gamma"] == "ok" and "skipped" in status.values(), status
    assert ladders(out) == ladders(reference[0])
    uncalibrated = runner.invoke(app, [*base, "--no-calibrate"])
    assert uncalibrated.exit_code == 0, uncalibrated.output
    assert set(statuses(summary(out)).values()) == {"ok"}
    again = runner.invoke(app, base)  # calibrated again: the uncalibrated ladders are stale
    assert set(statuses(summary(out)).values()) == {"ok"}, again.output
    assert ladders(out) == ladders(reference[0])

    # A ladder written before settings recorded `calibrate` is judged by its rungs' basis.
    for path in out.glob("*.ladder.json"):
        legacy = json.loads(path.read_text(encoding="utf-8"))
        del legacy["settings"]["calibrate"]
        path.write_text(json.dumps(legacy), encoding="utf-8")
        path.with_name(path.name.replace(".json", ".yaml")).write_text(
            yaml.safe_dump(legacy), encoding="utf-8"
        )
    legacy_run = runner.invoke(app, base)
    assert legacy_run.exit_code == 0, legacy_run.output
    assert set(statuses(summary(out)).values()) == {"skipped"}

    # Other settings make an existing ladder stale: it is redone even without --force.
    one_height = ["--heights", "180", "--crfs", "26,34,42", "--preset", "veryfast"]
    changed = runner.invoke(app, [*where, *one_height, *LOCAL])
    assert changed.exit_code == 0, changed.output
    assert set(statuses(summary(out)).values()) == {"ok"}


def test_a_ladder_scored_with_another_vmaf_model_is_stale_once_no_model_is_chosen(
    reference: tuple[Path, Path], tmp_path: Path, good: Path
) -> None:
    """With no --vmaf-model a title gets its default model (vmaf_v0.6.1 here): a ladder in --out
    scored with vmaf_v0.6.1neg is not this run's ladder, though no model was named."""
    out = tmp_path / "out"
    shutil.copytree(reference[0], out)
    base = ["batch", str(good), "--out", str(out), "--cache-dir", str(reference[1]), *GRID, *LOCAL]
    neg = CliRunner().invoke(app, [*base, "--vmaf-model", "vmaf_v0.6.1neg"])
    assert neg.exit_code == 0, neg.output
    assert set(statuses(summary(out)).values()) == {"ok"}
    default = CliRunner().invoke(app, base)
    assert default.exit_code == 0, default.output
    assert set(statuses(summary(out)).values()) == {"ok"}  # redone: was kept with the neg scores
    assert ladders(out) == ladders(reference[0])
    assert {json.loads(p.read_text(encoding="utf-8"))["settings"]["vmaf_model"] for p in out.glob("*.json")
            if p.name != "summary.json"} == {"vmaf_v0.6.1"}  # fmt: skip
    again = CliRunner().invoke(app, base)
    assert set(statuses(summary(out)).values()) == {"skipped"}, again.output


def test_a_ladder_made_by_another_ffmpeg_build_is_analysed_again(
    reference: tuple[Path, Path], tmp_path: Path, good: Path
) -> None:
    """Another ffmpeg's encoders give other bits (the cache's keys hold its version): a ladder in
    --out that another build made is not this run's."""
    from pertitle.report import serialize

    out = tmp_path / "out"
    shutil.copytree(reference[0], out)
    path = out / "alpha.ladder.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["tool"]["ffmpeg"] = "n8.0-older-build"
    path.write_text(serialize.to_json(doc), encoding="utf-8")
    path.with_suffix(".yaml").write_text(serialize.to_yaml(doc), encoding="utf-8")
    base = ["batch", str(good), "--out", str(out), "--cache-dir", str(tmp_path / "cache"), *GRID, *LOCAL]
    run = CliRunner().invoke(app, [*base, "--verbose"])
    assert run.exit_code == 0, run.output
    status = statuses(summary(out))
    assert status.pop("alpha") == "ok" and set(status.values()) == {"skipped"}, status
    assert "was made with another ffmpeg (n8.0-older-build); analysing again" in run.output


def test_a_title_that_fails_on_a_rerun_says_its_earlier_ladder_is_stale(
    reference: tuple[Path, Path], tmp_path: Path, good: Path
) -> None:
    """The source changed and no longer reads: the title fails, its ladder from the earlier run is
    left as it was (nothing is lost), and the reason says it is not this source's."""
    out, catalog = tmp_path / "out", tmp_path / "catalog"
    shutil.copytree(reference[0], out)
    catalog.mkdir()
    shutil.copy(good / "alpha.mp4", catalog / "alpha.mp4")
    data = (catalog / "alpha.mp4").read_bytes()
    (catalog / "alpha.mp4").write_bytes(data[: len(data) // 3])
    before = (out / "alpha.ladder.json").read_bytes()
    run = CliRunner().invoke(
        app, ["batch", str(catalog), "--out", str(out), "--cache-dir", str(reference[1]), *GRID, *LOCAL]
    )
    assert run.exit_code == 1, run.output
    (row,) = [t for t in summary(out)["titles"] if t["name"] == "alpha"]
    assert row["status"] == "failed"
    assert row["reason"].endswith(
        "(the output directory keeps the ladder of an earlier run: the existing alpha.ladder.json "
        "was made from another version of the source)"
    )
    assert "\n" not in row["reason"]
    assert (out / "alpha.ladder.json").read_bytes() == before


def test_fast_batch_probes_fewer_encodes_and_makes_earlier_ladders_stale(
    reference: tuple[Path, Path], tmp_path: Path, good: Path
) -> None:
    """--fast reaches every title of a batch: a full ladder in --out is stale for it, and on a
    7-CRF grid its ladders rest on fewer measured points (the others read off the curves)."""
    out = tmp_path / "out"
    shutil.copytree(reference[0], out)
    grid = ["--heights", "90,180", "--crfs", "18,22,26,30,34,38,42", "--preset", "veryfast"]
    where = ["batch", str(good), "--out", str(out), "--cache-dir", str(tmp_path / "cache"), *LOCAL]
    fast = CliRunner().invoke(app, [*where, *grid, "--fast"])
    assert fast.exit_code == 0, fast.output
    assert set(statuses(summary(out)).values()) == {"ok"}
    for path in out.glob("*.ladder.json"):
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert doc["settings"]["fast"] is True
        assert len(doc["points"]) == 14
        measured = [p for p in doc["points"] if not p.get("estimated")]
        assert 6 <= len(measured) < 14, path.name
        assert doc["settings"]["vmaf_subsample"] == 1  # too few frames to score one in four
    # The frame step is what the title allowed, not a setting: a rerun keeps every ladder.
    again = CliRunner().invoke(app, [*where, *grid, "--fast"])
    assert again.exit_code == 0, again.output
    assert set(statuses(summary(out)).values()) == {"skipped"}


def test_a_file_name_that_is_not_utf8_is_analysed_and_written_as_valid_utf8(
    reference: tuple[Path, Path], tmp_path: Path, good: Path
) -> None:
    """Linux file names are bytes: b'x\\xfey.mp4' reaches Python as 'x\\udcfey.mp4', which no UTF-8
    writer takes. It used to crash the batch before any title ran (summary.json)."""
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    try:
        odd = catalog / os.fsdecode(b"x\xfey.mp4")
        shutil.copy(good / "alpha.mp4", odd)
    except (OSError, UnicodeError):
        pytest.skip("this file system does not take non-UTF-8 names")
    out = tmp_path / "out"
    argv = ["batch", str(catalog), "--out", str(out), "--cache-dir", str(reference[1]), *GRID, *LOCAL]
    run = CliRunner().invoke(app, [*argv, "--junit", str(out / "j.xml"), "--events", str(out / "e.ndjson")])
    assert run.exit_code == 0, run.output
    assert statuses(summary(out)) == {"x?y": "ok"}
    for written in out.iterdir():
        written.read_bytes().decode("utf-8")  # every file pertitle wrote is valid UTF-8
    (ladder,) = out.glob("*.ladder.json")
    assert json.loads(ladder.read_text(encoding="utf-8"))["title"] == "x?y"


def test_junit_and_events_never_overwrite_an_input_or_a_file_the_batch_writes(
    good: Path, tmp_path: Path
) -> None:
    source = tmp_path / "a.mp4"
    shutil.copy(good / "alpha.mp4", source)
    manifest = tmp_path / "titles.yaml"
    manifest.write_text("- a.mp4\n", encoding="utf-8")
    out = tmp_path / "out"
    for inputs, extra, phrase in (
        ([source], ["--junit", source], "is also an input"),
        ([manifest], ["--events", source], "is also an input"),
        ([manifest], ["--events", manifest], "is also an input"),
        ([source], ["--junit", out / "summary.json"], "named for two outputs"),
        ([source], ["--events", out / "a.ladder.json"], "named for two outputs"),
        ([source], ["--junit", tmp_path / "r.x", "--events", tmp_path / "r.x"], "named for two outputs"),
    ):
        argv = ["batch", *map(str, inputs), "--out", str(out), *map(str, extra), *GRID, *LOCAL]
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == 2, result.output
        assert phrase in result.output
    assert source.read_bytes() == (good / "alpha.mp4").read_bytes()
    assert manifest.read_text(encoding="utf-8") == "- a.mp4\n"
    assert not out.exists()


@pytest.mark.parametrize("option", ["--junit", "--events"])
@pytest.mark.parametrize("where", ["under_a_file", "uncreatable_dir", "unwritable_dir", "long_name"])
def test_a_report_that_cannot_be_written_is_one_line_before_any_work(
    good: Path, tmp_path: Path, option: str, where: str
) -> None:
    """--junit and --events make their missing folders (as --out does); a folder that cannot be
    made, or one no file can be made in, is one line and exit 2 before any work (and before --out
    is made), not a traceback nor a failure at the end, after every title ran."""
    (tmp_path / "afile").write_bytes(b"")
    target = {
        "under_a_file": tmp_path / "afile" / "sub" / "report",
        "uncreatable_dir": Path("/proc/pertitle-no-such-dir/report"),  # procfs makes no folders
        "unwritable_dir": Path("/proc/report"),  # nor files
        "long_name": tmp_path / ("x" * 300) / "report",
    }[where]
    if where in ("uncreatable_dir", "unwritable_dir") and not Path("/proc/self").is_dir():
        pytest.skip("needs Linux procfs")
    out = tmp_path / "out"
    argv = ["batch", str(good / "alpha.mp4"), "--out", str(out), option, str(target), *GRID, *LOCAL]
    result = CliRunner().invoke(app, [*argv, "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {option}: cannot write "), result.stderr
    assert "Traceback" not in result.output
    assert not out.exists() and not (tmp_path / "cache").exists()


def test_manifest_overrides_apply_per_title(good: Path, tmp_path: Path) -> None:
    (tmp_path / "two-rungs.yaml").write_text("max_rungs: 2\nmin_rungs: 1\n", encoding="utf-8")
    shutil.copy(good / "alpha.mp4", tmp_path / "alpha.mp4")
    shutil.copy(good / "gamma.mp4", tmp_path / "gamma.mp4")
    (tmp_path / "catalog.yaml").write_text(
        "titles:\n"
        "  - path: alpha.mp4\n"
        "    name: alpha-two-crfs\n"
        "    crfs: [30, 42]\n"
        "    constraints: two-rungs.yaml\n"
        "    samples: 2\n"
        "    sample_duration: 0.5\n"
        "  - path: alpha.mp4\n"
        "    name: alpha-hang\n"
        "    encode_timeout: 0.001\n",
        encoding="utf-8",
    )
    (tmp_path / "more.csv").write_text(
        "path,name,codec,heights\ngamma.mp4,gamma-hevc,hevc,180\n", encoding="utf-8"
    )
    out = tmp_path / "out"

    result = CliRunner().invoke(
        app,
        [
            "batch",
            str(tmp_path / "catalog.yaml"),
            str(tmp_path / "more.csv"),
            "--out",
            str(out),
            "--cache-dir",
            str(tmp_path / "cache"),
            *GRID,
            *LOCAL,
        ],
    )

    assert result.exit_code == 1, result.output
    doc = summary(out)
    assert statuses(doc) == {"alpha-two-crfs": "ok", "alpha-hang": "failed", "gamma-hevc": "ok"}
    hang = next(t for t in doc["titles"] if t["name"] == "alpha-hang")
    assert hang["reason"].startswith("timed out:") and hang["error_type"] == "FfmpegTimeout"
    two = json.loads((out / "alpha-two-crfs.ladder.json").read_text(encoding="utf-8"))
    assert two["settings"]["crfs"] == [30.0, 42.0]
    assert {p["crf"] for p in two["points"]} == {30.0, 42.0}
    assert (two["settings"]["sample_count"], two["settings"]["sample_duration_s"]) == (2, 0.5)
    assert two["settings"]["constraints"]["max_rungs"] == 2 and len(two["rungs"]) <= 2
    hevc = json.loads((out / "gamma-hevc.ladder.json").read_text(encoding="utf-8"))
    assert (hevc["settings"]["codec"], hevc["settings"]["encoder"]) == ("hevc", "libx265")
    assert {p["height"] for p in hevc["points"]} == {180}
    assert hevc["rungs"][0]["codec"] == "hevc"


@pytest.mark.parametrize(
    ("manifest", "extra", "phrase"),
    [
        (None, ["missing.mp4"], "no such file"),
        ("- {path: alpha.mp4, name: ../escape}\n", [], "would leave the output directory"),
        ("- {path: alpha.mp4, name: /tmp/abs}\n", [], "path separator"),
        ("- {path: alpha.mp4, name: x}\n- {path: gamma.mp4, name: X}\n", [], "collide"),
        ("- {path: alpha.mp4, codec: mpeg2}\n", [], "'mpeg2' is not supported"),
        (None, ["--scheduler", "tcp://127.0.0.1:1"], "need --executor dask"),
        (None, ["--executor", "spark"], "not one of local, dask"),
        (None, ["--junit", "."], "is a directory"),
        (None, ["--encode-timeout", "nan"], "--encode-timeout: nan"),
        ("- {path: alpha.mp4, sample_duration: .nan}\n", [], "title 1: sample_duration: nan"),
        ("- {path: alpha.mp4, samples: 0}\n", [], "title 1: samples: "),
        ("- {path: alpha.mp4, encode_timeout: -1}\n", [], "title 1: encode_timeout: "),
        # A work directory that cannot be made failed every title as "cannot write the ladder".
        (None, ["--work-dir", "/proc/pertitle-work"], "--work-dir: cannot write in /proc/pertitle-work"),
        # A local cluster of that many worker processes took the machine's memory (OOM-killed).
        (None, ["--executor", "dask", "--dask-workers", "9" * 20], "--dask-workers: that must be 1 to 1024"),
        (None, ["--samples", "5000"], "--samples: 5000 must be 1 to 1000"),
        # Past what a float holds: a traceback (OverflowError) in every reader.
        ("- {path: alpha.mp4, samples: 1" + "0" * 400 + "}\n", [], "an integer of 401 digits is too large"),
    ],
)
def test_bad_usage_exits_2_before_any_work(
    good: Path, tmp_path: Path, manifest: str | None, extra: list[str], phrase: str
) -> None:
    inputs = [str(good / "alpha.mp4")]
    if manifest is not None:
        shutil.copy(good / "alpha.mp4", tmp_path / "alpha.mp4")
        shutil.copy(good / "gamma.mp4", tmp_path / "gamma.mp4")
        (tmp_path / "m.yaml").write_text(manifest, encoding="utf-8")
        inputs = [str(tmp_path / "m.yaml")]
    extra = [str(tmp_path / e) if e.endswith(".mp4") else e for e in extra]
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["batch", *inputs, *extra, "--out", str(out), "--cache-dir", str(tmp_path)]
    )
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and phrase in result.output
    assert "Traceback" not in result.output
    assert not (out / "summary.json").exists()


def test_every_input_problem_is_listed_on_a_line_of_its_own(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["batch", str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4"), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "error: 2 problems with the batch input:"
    assert len(lines) == 3 and all(line.startswith("  - ") for line in lines[1:]), result.stderr
    assert "a.mp4" in lines[1] and "b.mp4" in lines[2] and "\\n" not in result.stderr


def _start_a_slow_batch(
    tmp_path: Path, ffmpeg_path: str, *args: str | Path, stderr: Any = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """A batch of one noisy 6 s title on a grid of 18 medium-preset encodes at one core, no cache:
    slow enough to be stopped partway."""
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    make_clip(
        ffmpeg_path, catalog / "long.mp4", "testsrc2=size=320x180:rate=24:duration=6,noise=alls=9:allf=t"
    )
    grid = ["--heights", "90,136,180", "--crfs", "22,26,30,34,38,42", "--preset", "medium", "--cores", "1"]
    return subprocess.Popen(
        batch_argv(catalog, "--no-cache", *args, *grid), stdout=subprocess.DEVNULL, stderr=stderr
    )


def _first_encodes_done(proc: subprocess.Popen[Any], events: Path) -> list[dict[str, Any]]:
    """The job_done events of a running batch's NDJSON, once there is one (within 120 s)."""
    deadline = time.monotonic() + 120
    done: list[dict[str, Any]] = []
    while not done:
        assert time.monotonic() < deadline, "no encode finished in time"
        assert proc.poll() is None, "the batch ended before it could be stopped"
        time.sleep(0.1)
        lines = events.read_text(encoding="utf-8").splitlines() if events.exists() else []
        done = [e for e in map(json.loads, lines) if e["event"] == "job_done"]
    return done


def test_an_interrupted_title_keeps_the_count_of_the_encodes_it_finished(
    tmp_path: Path, ffmpeg_path: str
) -> None:
    out, events = tmp_path / "out", tmp_path / "events.ndjson"
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr:
        proc = _start_a_slow_batch(tmp_path, ffmpeg_path, "--out", out, "--events", events, stderr=stderr)
        try:
            done = _first_encodes_done(proc, events)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=120) == 130
        finally:
            if proc.poll() is None:
                proc.kill()
    # An error line, as analyze, verify and compare give: a log grepped for '^error:' finds it.
    assert any(line.startswith("error: interrupted; ") for line in log.read_text().splitlines())
    (title,) = summary(out)["titles"]
    assert title["status"] == "interrupted"
    assert title["encodes"] >= len(done) >= 1  # those encodes happened (without a cache: redone)


def test_an_interrupted_batch_leaves_titles_that_never_started_pending(
    tmp_path: Path, ffmpeg_path: str
) -> None:
    """Ctrl-C mid-title: the running title is `interrupted` with the time it ran; the titles after
    it never started and stay `pending` (JUnit `skipped`, not failures), in every output alike."""
    catalog, out = tmp_path / "catalog", tmp_path / "out"
    # Folders that are not there yet: made, with their parents, as --out's is.
    events, junit = tmp_path / "reports" / "ev" / "events.ndjson", tmp_path / "reports" / "ju" / "junit.xml"
    catalog.mkdir()
    make_clip(
        ffmpeg_path, catalog / "a_long.mp4", "testsrc2=size=320x180:rate=24:duration=6,noise=alls=9:allf=t"
    )
    for name in ("b", "c"):
        make_clip(ffmpeg_path, catalog / f"{name}.mp4", SOURCES["alpha"])
    grid = ["--heights", "90,136,180", "--crfs", "22,26,30,34,38,42", "--preset", "medium"]
    argv = batch_argv(catalog, "--out", out, "--no-cache", "--events", events, "--junit", junit, *grid)
    proc = subprocess.Popen(
        [*argv, "--cores", "1", "--jobs", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1"},
        # SIGINT as a terminal sends it, even where pytest runs with SIGINT ignored (a background job)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        _first_encodes_done(proc, events)
        proc.send_signal(signal.SIGINT)
        stdout, _ = proc.communicate(timeout=120)
        assert proc.returncode == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    doc = summary(out)
    assert doc["state"] == "interrupted"
    assert statuses(doc) == {"a_long": "interrupted", "b": "pending", "c": "pending"}
    by_name = {t["name"]: t for t in doc["titles"]}
    assert by_name["a_long"]["time_s"] > 0 and by_name["a_long"]["encodes"] >= 1
    assert by_name["b"]["encodes"] == 0 and by_name["b"]["time_s"] == 0
    assert doc["counts"]["pending"] == 2 and doc["counts"]["interrupted"] == 1

    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert cases["a_long"].find("failure") is not None and float(cases["a_long"].get("time", 0)) > 0
    for name in ("b", "c"):
        assert cases[name].find("failure") is None and cases[name].find("skipped") is not None
    suite = ET.parse(junit).getroot()
    assert (suite.get("failures"), suite.get("skipped")) == ("1", "2")

    seen = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
    ends = [e for e in seen if e["event"] in ("title_finished", "title_failed", "title_skipped")]
    assert [(e["title"], e["status"]) for e in ends] == [("a_long", "interrupted")]
    assert ends[0]["time_s"] == by_name["a_long"]["time_s"]
    assert seen[-1]["event"] == "batch_finished"

    cells = [[c.strip() for c in line.split("|")] for line in stdout.decode().splitlines() if "|" in line]
    rows = {c[0]: c for c in cells}
    assert rows["b"][1] == "pending" and rows["a_long"][1] == "interrupted"
    assert float(rows["a_long"][5]) > 0
    assert "2 pending" in stdout.decode()


def test_a_second_stop_leaves_no_work_directory_behind(tmp_path: Path, ffmpeg_path: str) -> None:
    # The first SIGTERM lets the encodes in flight finish; the second stops at once (os._exit),
    # which skipped every cleanup: each running title's lossless reference stayed in the work dir.
    work = tmp_path / "work"
    proc = _start_a_slow_batch(tmp_path, ffmpeg_path, "--out", tmp_path / "out", "--work-dir", work)
    try:
        wait_for_a_reference(proc, work, "the batch")
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    assert list(work.glob("pertitle-*")) == []


@pytest.mark.parametrize("gap_s", [0.0, 0.02])
def test_a_second_stop_right_after_the_first_still_leaves_the_records(
    tmp_path: Path, ffmpeg_path: str, gap_s: float
) -> None:
    """A CI runner that cancels a job sends SIGTERM twice; a user double-taps Ctrl-C. The second
    signal landed while the first was being wound up and escaped it: summary.json said 'running',
    no JUnit report was written and the events had no batch_finished."""
    out, events, junit = tmp_path / "out", tmp_path / "events.ndjson", tmp_path / "junit.xml"
    proc = _start_a_slow_batch(tmp_path, ffmpeg_path, "--out", out, "--events", events, "--junit", junit)
    try:
        _first_encodes_done(proc, events)
        proc.send_signal(signal.SIGTERM)
        time.sleep(gap_s)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    doc = summary(out)
    assert doc["state"] == "interrupted" and doc["exit_code"] == 130
    assert statuses(doc) == {"long": "interrupted"}
    assert ET.parse(junit).getroot().get("failures") == "1"
    seen = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
    assert seen[-1]["event"] == "batch_finished"
