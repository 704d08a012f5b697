"""`pertitle analyze` end to end: real encodes, real libvmaf, on clips generated at test time.

One analysis per clip is shared by the tests of this module (module-scoped fixtures), on a small
grid: heights 180 and 360 of a 640x360 source, CRF 24/32/40, x264 veryfast, 2 jobs.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from typer.testing import CliRunner

from pertitle import pipeline
from pertitle.cli import app
from pertitle.config import Settings, load_constraints, validate
from pertitle.ffmpeg import runner
from pertitle.ffmpeg.binary import FfmpegInfo
from pertitle.probes import Event
from pertitle.report import serialize

if TYPE_CHECKING:
    from tests.conftest import Clips

GRID = ["--heights", "180,360", "--crfs", "24,32,40", "--preset", "veryfast", "--jobs", "2"]
# Tighter than the defaults so that each rule binds on these tiny clips: at most 4 rungs between
# 60 and 600 kbps (the detailed clip measures about 50-900 kbps).
CONSTRAINTS = """\
name: test
source: tests/integration/test_analyze.py
min_bitrate_kbps: 60
max_bitrate_kbps: 600
max_rungs: 4
"""


@dataclass(frozen=True)
class CliRun:
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None


def invoke(*args: str) -> CliRun:
    result = CliRunner().invoke(app, list(args))
    exc = result.exception
    if isinstance(exc, SystemExit):
        exc = None
    return CliRun(result.exit_code, result.stdout, result.stderr, exc)


def json_of(run: CliRun) -> dict[str, Any]:
    assert run.exit_code == 0, run.stderr
    assert run.exception is None, run.exception
    doc: dict[str, Any] = json.loads(run.stdout)
    return doc


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("analyze")
    (root / "constraints.yaml").write_text(CONSTRAINTS, encoding="utf-8")
    return root


def detailed_args(clips: Clips, work: Path) -> list[str]:
    return [
        "analyze",
        str(clips.detailed),
        *GRID,
        "--constraints",
        str(work / "constraints.yaml"),
        "--cache-dir",
        str(work / "cache"),
        "--json",
    ]


@pytest.fixture(scope="module")
def detailed_run(clips: Clips, work: Path) -> CliRun:
    """The detailed clip through the CLI, calibrated (deployed two-pass rungs), --json and --out."""
    return invoke(*detailed_args(clips, work), "--out", str(work / "out"))


@pytest.fixture(scope="module")
def detailed(detailed_run: CliRun) -> dict[str, Any]:
    return json_of(detailed_run)


@pytest.fixture(scope="module")
def detailed_again(detailed: dict[str, Any], clips: Clips, work: Path) -> dict[str, Any]:
    """The same analysis run a second time over the same cache."""
    return json_of(invoke(*detailed_args(clips, work)))


@pytest.fixture(scope="module")
def flat_events() -> list[Event]:
    return []


@pytest.fixture(scope="module")
def flat(clips: Clips, work: Path, ffmpeg_info: FfmpegInfo, flat_events: list[Event]) -> dict[str, Any]:
    """The flat clip through pertitle.pipeline.analyze directly, same grid and constraints,
    uncalibrated (the rungs' bitrates come from the hull either way)."""
    settings = validate(
        Settings(
            heights=(180, 360),
            crfs=(24.0, 32.0, 40.0),
            preset="veryfast",
            jobs=2,
            constraints=load_constraints(work / "constraints.yaml"),
            cache_dir=str(work / "cache"),
            calibrate=False,
        )
    )
    result = pipeline.analyze(str(clips.flat), settings, ffmpeg_info, on_event=flat_events.append)
    return serialize.to_document(result)


@pytest.fixture(params=["detailed", "flat"])
def either(request: pytest.FixtureRequest) -> dict[str, Any]:
    doc: dict[str, Any] = request.getfixturevalue(request.param)
    return doc


def curve(doc: dict[str, Any], height: int) -> list[dict[str, Any]]:
    """The points of one height, by falling CRF (rising quality)."""
    return sorted((p for p in doc["points"] if p["height"] == height), key=lambda p: -p["crf"])


# --- the document -------------------------------------------------------------------------------


def test_json_stdout_is_only_the_ladder_document(detailed_run: CliRun, detailed: dict[str, Any]) -> None:
    assert detailed_run.stdout.startswith("{")
    assert detailed_run.stdout.rstrip().endswith("}")
    serialize.validate_document(detailed)
    assert detailed["schema"] == "pertitle.ladder/v1"
    assert detailed["title"] == "detailed"
    assert "error" not in detailed_run.stderr


def test_out_writes_yaml_and_json_of_the_same_document(detailed: dict[str, Any], work: Path) -> None:
    out = work / "out"
    assert sorted(p.name for p in out.iterdir()) == ["detailed.ladder.json", "detailed.ladder.yaml"]
    from_json = json.loads((out / "detailed.ladder.json").read_text(encoding="utf-8"))
    from_yaml = yaml.safe_load((out / "detailed.ladder.yaml").read_text(encoding="utf-8"))
    assert from_json == from_yaml == detailed
    serialize.validate_document(from_yaml)


def test_document_describes_the_source_and_the_full_grid(detailed: dict[str, Any]) -> None:
    src = detailed["source"]
    assert (src["width"], src["height"], src["frame_count"]) == (640, 360, 48)
    assert src["fps"] == pytest.approx(24.0)
    assert detailed["samples"]["full_pass"] is True  # 2 s is far below the 20 s full-pass limit
    assert {(p["width"], p["height"], p["crf"]) for p in detailed["points"]} == {
        (w, h, crf) for w, h in [(320, 180), (640, 360)] for crf in (24.0, 32.0, 40.0)
    }
    settings = detailed["settings"]
    assert (settings["codec"], settings["preset"], settings["vmaf_model"]) == (
        "h264",
        "veryfast",
        "vmaf_v0.6.1",
    )
    assert settings["constraints"]["max_rungs"] == 4
    assert detailed["timings"]["encodes"] == len(detailed["points"]) + len(detailed["rungs"])
    assert detailed["timings"]["cache_hits"] == 0
    t = detailed["timings"]
    stages = t["probe_s"] + t["prepare_s"] + t["encode_measure_s"] + t["calibrate_s"]
    assert 0.9 * t["total_s"] <= stages <= t["total_s"]  # prepare is not counted twice


def test_hull_vertices_are_measured_points_by_rising_bitrate(detailed: dict[str, Any]) -> None:
    vertices = detailed["hull"]["vertices"]
    assert vertices
    rates = [v["bitrate_kbps"] for v in vertices]
    assert rates == sorted(rates)
    on_hull = {(p["height"], p["crf"]) for p in detailed["points"] if p["on_hull"]}
    assert {(v["height"], v["crf"]) for v in vertices} == on_hull


# --- rate and quality ---------------------------------------------------------------------------


def test_bitrate_rises_as_crf_falls_at_every_resolution(either: dict[str, Any]) -> None:
    for height in (180, 360):
        rates = [p["bitrate_kbps"] for p in curve(either, height)]
        assert len(rates) == 3
        assert all(lo < hi for lo, hi in itertools.pairwise(rates)), (height, rates)


def test_quality_rises_as_crf_falls_on_the_detailed_clip(detailed: dict[str, Any]) -> None:
    for height in (180, 360):
        scores = [p["vmaf"] for p in curve(detailed, height)]
        assert all(lo < hi for lo, hi in itertools.pairwise(scores)), (height, scores)
        assert all(0 < s <= 100 for s in scores)
    # at equal CRF, the full-size encode beats the 180p one upscaled
    for crf in (24.0, 32.0, 40.0):
        by_h = {p["height"]: p["vmaf"] for p in detailed["points"] if p["crf"] == crf}
        assert by_h[360] > by_h[180]


def lowest_rate_reaching(doc: dict[str, Any], height: int, vmaf: float) -> float:
    rates = [p["bitrate_kbps"] for p in curve(doc, height) if p["vmaf"] >= vmaf]
    return min(rates) if rates else math.inf


def test_detailed_title_needs_more_bits_than_the_flat_one(
    detailed: dict[str, Any], flat: dict[str, Any]
) -> None:
    d = {(p["height"], p["crf"]): p["bitrate_kbps"] for p in detailed["points"]}
    f = {(p["height"], p["crf"]): p["bitrate_kbps"] for p in flat["points"]}
    assert d.keys() == f.keys()
    for key in d:  # the same encode settings cost several times more bits on detail and noise
        assert d[key] > 3 * f[key], (key, d[key], f[key])
    # equal quality: the flat clip reaches VMAF 80 at 360p on a fraction of the detailed clip's bits
    flat_need = lowest_rate_reaching(flat, 360, 80.0)
    assert math.isfinite(flat_need)
    assert lowest_rate_reaching(detailed, 360, 80.0) > 5 * flat_need
    # and the ladders follow: the detailed clip's top rung is far above the flat clip's
    assert detailed["rungs"][-1]["bitrate_kbps"] > 5 * flat["rungs"][-1]["bitrate_kbps"]


# --- the ladder ---------------------------------------------------------------------------------


def check_constraints(doc: dict[str, Any]) -> None:
    """Every rule of the document's own constraints holds, unless `gave_way` names it."""
    c = doc["settings"]["constraints"]
    gave = {line.split(":", 1)[0] for line in doc["gave_way"]}
    rungs = doc["rungs"]
    assert rungs
    rates = [r["bitrate_kbps"] for r in rungs]
    assert all(lo < hi for lo, hi in itertools.pairwise(rates)), rates
    assert len(rungs) <= c["max_rungs"]
    if "min_rungs" not in gave:
        assert len(rungs) >= c["min_rungs"]
    if "min_bitrate_kbps" not in gave:
        assert rates[0] >= c["min_bitrate_kbps"]
    if "max_bitrate_kbps" not in gave:
        assert rates[-1] <= c["max_bitrate_kbps"]
    # Bitrates are rounded to 3 significant figures after the steps are chosen: 1% slack.
    for lo, hi in itertools.pairwise(rates):
        if not gave & {"max_ratio", "coverage", "rounding"}:
            assert hi / lo <= c["max_ratio"] * 1.01, (rates, doc["gave_way"])
        if not gave & {"min_ratio", "coverage", "rounding"}:
            assert hi / lo >= c["min_ratio"] * 0.99, (rates, doc["gave_way"])
    heights = [r["height"] for r in rungs]
    assert heights == sorted(heights), "resolution must not fall as bitrate rises"
    if c["keep_source_resolution"]:
        assert heights[-1] == doc["source"]["height"]
    measured = {(p["width"], p["height"]) for p in doc["points"]}
    for r in rungs:
        assert (r["width"], r["height"]) in measured
        assert r["maxrate_kbps"] == pytest.approx(r["bitrate_kbps"] * c["maxrate_factor"], abs=1.0)
        assert r["bufsize_kbps"] == pytest.approx(r["bitrate_kbps"] * c["bufsize_factor"], abs=1.0)
        lo_crf, hi_crf = min(doc["settings"]["crfs"]), max(doc["settings"]["crfs"])
        assert lo_crf - 1e-6 <= r["crf"] <= hi_crf + 1e-6


def test_ladder_obeys_its_constraints(either: dict[str, Any]) -> None:
    check_constraints(either)


def test_detailed_ladder_uses_the_constraints_file(detailed: dict[str, Any]) -> None:
    # 60-600 kbps is a 10x span: 4 rungs need 2.15x steps, more than max_ratio 2 allows, and the
    # ladder says so instead of breaking max_rungs.
    assert detailed["rungs"][-1]["bitrate_kbps"] <= 600
    assert len(detailed["rungs"]) == 4
    assert any(line.startswith("max_ratio:") for line in detailed["gave_way"])


def test_rungs_are_scored_on_deployed_encodes_of_every_frame(detailed: dict[str, Any]) -> None:
    frames = detailed["source"]["frame_count"]
    for r in detailed["rungs"]:
        # A short title is probed whole, and its basis says so (it said 'the probed samples').
        assert r["predicted"]["basis"] == "deployed two-pass encode of the whole title"
        assert len(r["vmaf_per_frame"]) == frames
        assert 0 < r["predicted"]["vmaf"] <= 100
        assert r["hull_predicted"]["vmaf"] is not None
    vmafs = [r["predicted"]["vmaf"] for r in detailed["rungs"]]
    assert vmafs[-1] > vmafs[0]  # more bits, better picture


# --- the cache ----------------------------------------------------------------------------------


def test_second_run_is_served_entirely_from_the_cache(
    detailed: dict[str, Any], detailed_again: dict[str, Any]
) -> None:
    t = detailed_again["timings"]
    assert t["encodes"] == 0
    assert t["cache_hits"] == len(detailed["points"]) + len(detailed["rungs"])
    for part in ("points", "hull", "rungs", "gave_way", "settings", "source"):
        assert detailed_again[part] == detailed[part], part


def test_flat_analysis_reuses_nothing_of_the_detailed_one(flat: dict[str, Any]) -> None:
    # same cache directory, same grid, other content: every point is a miss
    assert flat["timings"]["cache_hits"] == 0
    assert flat["timings"]["encodes"] == len(flat["points"]) == 6


def test_pipeline_reports_progress_as_events(flat: dict[str, Any], flat_events: list[Event]) -> None:
    kinds = [e.kind for e in flat_events]
    assert kinds[0] == "stage"
    assert "planned" in kinds
    assert kinds.count("done") == 6
    planned = next(e for e in flat_events if e.kind == "planned")
    assert (planned.done, planned.total) == (0, 6)


def test_cache_entries_of_the_wrong_types_are_measured_again(
    clips: Clips, ffmpeg_info: FfmpegInfo, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    settings = validate(
        Settings(
            heights=(180,),
            crfs=(30.0, 40.0),
            preset="veryfast",
            jobs=2,
            calibrate=False,
            cache_dir=str(cache),
        )
    )
    first = pipeline.analyze(str(clips.small), settings, ffmpeg_info)
    for entry in cache.glob("*/*.json"):
        doc = json.loads(entry.read_text(encoding="utf-8"))
        if "bitrate_kbps" in doc["value"]:
            doc["value"]["bitrate_kbps"] = "x"  # valid JSON, not a number
            entry.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.warns(UserWarning, match="bitrate_kbps = 'x' is not a number; recomputing"):
        again = pipeline.analyze(str(clips.small), settings, ffmpeg_info)
    assert (again.encodes, again.cache_hits) == (2, 0)
    assert again.points == first.points


def test_no_cache_neither_reads_nor_writes(clips: Clips, tmp_path: Path) -> None:
    args = ["analyze", str(clips.small), "--heights", "180", "--crfs", "40", "--preset", "veryfast"]
    args += ["--jobs", "2", "--no-calibrate", "--json"]
    cache = tmp_path / "cache"
    first = json_of(invoke(*args, "--cache-dir", str(cache)))
    assert first["timings"]["encodes"] == 1
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*")}
    assert any(p.suffix == ".json" for p in before)

    second = json_of(invoke(*args, "--cache-dir", str(cache), "--no-cache"))
    assert (second["timings"]["encodes"], second["timings"]["cache_hits"]) == (1, 0)
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*")} == before

    fresh = tmp_path / "fresh"
    json_of(invoke(*args, "--cache-dir", str(fresh), "--no-cache"))
    assert not fresh.exists()


# --- other clips --------------------------------------------------------------------------------


def test_rotated_title_is_analysed_upright_and_the_pipeline_never_prints(
    rotated_clip: Path, ffmpeg_info: FfmpegInfo, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    settings = validate(
        Settings(heights=(180,), crfs=(40.0,), preset="veryfast", jobs=2, calibrate=False, use_cache=False)
    )
    result = pipeline.analyze(str(rotated_clip), settings, ffmpeg_info)
    assert (result.source.width, result.source.height) == (180, 320)
    assert [(p.width, p.height) for p in result.points] == [(102, 180)]  # 180 * 9/16 = 101.25 -> 102
    assert 0 < result.points[0].vmaf <= 100
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_odd_size_title_is_probed_and_checked_at_its_even_size(
    odd_size_clip: Path, ffmpeg_info: FfmpegInfo
) -> None:
    settings = validate(
        Settings(heights=(240,), crfs=(30.0, 40.0), preset="veryfast", jobs=2, use_cache=False)
    )
    result = pipeline.analyze(str(odd_size_clip), settings, ffmpeg_info)
    assert {(p.width, p.height) for p in result.points} == {(426, 240)}
    assert all(0 < p.vmaf <= 100 for p in result.points)
    rungs = result.ladder.rungs
    assert rungs and all((r.width, r.height) == (426, 240) for r in rungs)


def test_a_size_whose_cheapest_probe_lies_above_the_bottom_rung_is_probed_lower(
    ffmpeg_path: str, ffmpeg_info: FfmpegInfo, tmp_path: Path
) -> None:
    # testsrc2 at 640x360 in VP9: the default grid's highest CRF (56) lands 360p at about 120 kbps,
    # well ahead of 234p there (90 against 84 VMAF), so the 100 kbps rung, which only 234p was
    # measured at, took 234p. One more 360p probe, one CRF step on (62), lets it take 360p.
    from tests.conftest import run_ffmpeg

    source = tmp_path / "bars.mp4"
    graph = "testsrc2=size=640x360:rate=24:duration=1"
    run_ffmpeg(ffmpeg_path, "-f", "lavfi", "-i", graph, "-c:v", "libx264", "-crf", "10", str(source))
    settings = validate(
        Settings(codec="vp9", heights=(234, 360), jobs=2, calibrate=False, cache_dir=tmp_path / "cache")
    )
    result = pipeline.analyze(str(source), settings, ffmpeg_info)
    assert max(p.crf for p in result.points if p.height == 360) == 62
    assert result.ladder.rungs[0].height == 360
    # --crfs given: probed as given, and the bottom rung is left to what was measured.
    given = pipeline.analyze(
        str(source), validate(dataclasses.replace(settings, crfs=(44.0, 50.0, 56.0))), ffmpeg_info
    )
    assert max(p.crf for p in given.points if p.height == 360) == 56
    assert given.ladder.rungs[0].height == 234


def test_a_size_svt_av1_cannot_rate_control_is_refused_before_any_encode(
    ffmpeg_path: str, clips: Clips, tmp_path: Path
) -> None:
    # Under 64 px a side SVT-AV1 refuses every bitrate-driven encode, so the rungs' two-pass would
    # fail after all the probes (exit 1, and a message quoting its banner). Say so up front.
    from tests.conftest import run_ffmpeg

    tiny = tmp_path / "tiny.mp4"
    run_ffmpeg(ffmpeg_path, "-f", "lavfi", "-i", "testsrc2=size=48x48:rate=24:duration=4", str(tiny))
    cache = ["--cache-dir", str(tmp_path / "cache")]
    # Sampled, so that the cheap complexity pass would come first: refused before that too.
    sampled = ["--full-pass-below", "1", "--samples", "1", "--sample-duration", "1"]
    run = invoke("analyze", str(tiny), "--codec", "av1", "-q", *sampled, *cache)
    assert run.exit_code == 2 and run.exception is None
    assert run.stderr.strip().splitlines() == [
        f"error: {tiny}: libsvtav1 needs a picture at least 64 px a side; this title is 48x48: "
        "use --codec h264, hevc or vp9"
    ]
    run = invoke("analyze", str(clips.small), "--codec", "av1", "--heights", "36,180", *cache)
    assert run.exit_code == 2
    assert "the grid has 64x36: leave those heights out of --heights, or use --codec" in run.stderr
    assert not list((tmp_path / "cache").rglob("*.json"))  # nothing was encoded


def test_static_title_gets_a_ladder(clips: Clips, tmp_path: Path) -> None:
    run = invoke(
        "analyze",
        str(clips.static),
        "--heights",
        "180",
        "--crfs",
        "32,40",
        "--preset",
        "veryfast",
        "--jobs",
        "2",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--json",
    )
    doc = json_of(run)
    assert len(doc["rungs"]) == 1


def test_interlaced_title_gets_a_warning_and_says_so_in_its_document(
    interlaced_clip: Path, tmp_path: Path
) -> None:
    grid = ["--heights", "180", "--crfs", "26,38", "--preset", "veryfast", "--no-calibrate"]
    run = invoke(
        "analyze", str(interlaced_clip), *grid, "--cache-dir", str(tmp_path / "c"), "--out", str(tmp_path)
    )
    assert run.exit_code == 0, run.stderr
    assert run.stderr.count("warning: the title is interlaced") == 1, run.stderr
    assert "interlaced (scaled as progressive frames)" in run.stdout
    ladder = tmp_path / "interlaced.ladder.json"
    assert json.loads(ladder.read_text())["source"]["interlaced"] is True
    again = invoke("report", str(ladder))
    assert again.exit_code == 0, again.stderr
    assert "interlaced (scaled as progressive frames)" in again.stdout


# --- errors -------------------------------------------------------------------------------------


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def check_usage_error(run: CliRun, *phrases: str) -> None:
    """Exit 2, nothing on stdout, one `error:` line (the last) naming the problem, no traceback."""
    assert run.exit_code == 2, (run.stdout, run.stderr, run.exception)
    assert run.exception is None, repr(run.exception)
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    assert error_lines(run.stderr) == [lines[-1]], run.stderr
    for phrase in phrases:
        assert phrase in lines[-1], (phrase, lines[-1])


@pytest.mark.parametrize(
    "name",
    [
        *("empty", "truncated", "text", "audio_m4a", "audio_mka", "directory", "missing", "hdr_pq"),
        *("still", "one_frame", "tiny"),
    ],
)
def test_bad_input_exits_2_with_one_error_line(
    bad_inputs: dict[str, tuple[Path, str]], name: str, tmp_path: Path
) -> None:
    path, phrase = bad_inputs[name]
    run = invoke("analyze", str(path), *GRID, "--cache-dir", str(tmp_path / "c"), "--quiet")
    check_usage_error(run, phrase, path.name)
    assert run.stderr.splitlines() == [run.stderr.splitlines()[-1]]  # with --quiet: only that line


def test_bad_input_without_quiet_is_exactly_one_line(
    bad_inputs: dict[str, tuple[Path, str]], tmp_path: Path
) -> None:
    path, _ = bad_inputs["missing"]
    run = invoke("analyze", str(path), "--cache-dir", str(tmp_path / "c"))
    assert run.exit_code == 2
    assert len(run.stderr.splitlines()) == 1, run.stderr


BAD_CONSTRAINTS = {
    "unknown-key.yaml": ("max_rungs: 4\nmax_rungz: 5\n", ["unknown key 'max_rungz'"]),
    "negative.yaml": ("min_bitrate_kbps: -100\n", ["min_bitrate_kbps", "-100"]),
    "nan.yaml": ("min_bitrate_kbps: .nan\n", ["nan.yaml", "min_bitrate_kbps", "finite"]),
}


@pytest.mark.parametrize(
    ("options", "phrases"),
    [
        (["--crfs", "abc"], ["--crfs", "'abc'"]),
        (["--heights", "360,x"], ["--heights", "'x'"]),
        (["--codec", "foo"], ["codec", "'foo'"]),
        (["--heights", "99999"], ["heights", "99999"]),
        (["--heights", "720"], ["720", "source height 180"]),
        (["--crfs", "60"], ["crfs", "60"]),
        (["--preset", "warp"], ["preset", "'warp'"]),
        (["--metric", "mos"], ["metric", "'mos'"]),
        (["--constraints", "unknown-key.yaml"], ["unknown key 'max_rungz'"]),
        (["--constraints", "negative.yaml"], ["min_bitrate_kbps", "-100"]),
        (["--constraints", "absent.yaml"], ["absent.yaml", "does not exist"]),
        (["--constraints", "nan.yaml"], ["nan.yaml", "min_bitrate_kbps", "finite"]),
        (["--constraints", "."], ["'.'", "is a directory"]),
        (["--crfs", ""], ["--crfs", "holds no values"]),
        (["--heights", ""], ["--heights", "holds no values"]),
        (["--heights", "91"], ["heights", "91", "odd"]),
        (["--sample-duration", "nan"], ["--sample-duration: nan"]),
        (["--full-pass-below", "-1"], ["--full-pass-below: -1"]),
        (["--out", "negative.yaml"], ["negative.yaml is a file, not a directory"]),
        (["--emit-commands", "."], ["is a directory"]),
        (
            ["--constraints", "negative.yaml", "--emit-commands", "negative.yaml"],
            ["negative.yaml is also an input"],
        ),
    ],
)
def test_bad_setting_exits_2_with_one_error_line(
    clips: Clips, tmp_path: Path, options: list[str], phrases: list[str]
) -> None:
    for name, (text, _) in BAD_CONSTRAINTS.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    options = [str(tmp_path / o) if o.endswith(".yaml") else o for o in options]
    run = invoke("analyze", str(clips.small), *options, "--cache-dir", str(tmp_path / "c"), "--quiet")
    check_usage_error(run, *phrases)
    assert len(run.stderr.splitlines()) == 1
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    ("make_args", "phrase"),
    [
        (lambda clips, bad: ["analyze", str(bad["truncated"][0]), "--quiet"], "truncated or corrupt"),
        (lambda clips, bad: ["analyze", str(clips.small), "--crfs", "abc"], "'abc'"),
        # Typer's own usage errors: one line too, not its box
        (lambda clips, bad: ["analyze", str(clips.small), "--samples", "abc"], "'--samples'"),
        (lambda clips, bad: ["analyze", str(clips.small), "--bogus"], "No such option: --bogus"),
        (lambda clips, bad: ["nosuch"], "No such command 'nosuch'"),
        (lambda clips, bad: ["batch", str(clips.small)], "Missing option '--out'"),
        # a typed value with a terminal escape in it is quoted with the escape visible
        (lambda clips, bad: ["analyze", str(clips.small), "--bo\x1b[31m"], "--bo\\x1b[31m (see"),
    ],
    ids=[
        "truncated-input",
        "bad-crfs",
        "not-a-number",
        "unknown-option",
        "unknown-command",
        "missing-option",
        "escape-in-value",
    ],
)
def test_real_process_prints_one_error_line_and_exits_2(
    clips: Clips,
    bad_inputs: dict[str, tuple[Path, str]],
    tmp_path: Path,
    make_args: Callable[[Clips, dict[str, tuple[Path, str]]], list[str]],
    phrase: str,
) -> None:
    argv = [
        sys.executable,
        "-m",
        "pertitle",
        *make_args(clips, bad_inputs),
        "--cache-dir",
        str(tmp_path / "c"),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert phrase in lines[0]


# --- other commands -----------------------------------------------------------------------------


def test_doctor_names_libx264_and_libvmaf() -> None:
    run = invoke("doctor")
    assert run.exit_code == 0, run.stdout + run.stderr
    assert "libx264" in run.stdout
    assert "libvmaf" in run.stdout
    assert "ready" in run.stdout


def test_emit_commands_never_overwrites_the_ladder_out_writes(clips: Clips, tmp_path: Path) -> None:
    out = tmp_path / "out"
    for ext in ("json", "yaml"):
        script = out / f"{clips.small.stem}.ladder.{ext}"
        run = invoke("analyze", str(clips.small), "--out", str(out), "--emit-commands", str(script), "-q")
        assert run.exit_code == 2, run.output
        assert run.stderr.splitlines() == [
            f"error: cannot write there: {script} is named for two outputs; give each its own"
        ]
    assert not out.exists()


def test_a_directory_where_the_ladder_goes_stops_analyze_before_any_work(
    clips: Clips, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    (out / f"{clips.small.stem}.ladder.json").mkdir(parents=True)
    run = invoke("analyze", str(clips.small), "--out", str(out), "--cache-dir", str(tmp_path / "c"), "-q")
    assert run.exit_code == 2, run.output
    assert run.stderr.splitlines() == [
        f"error: cannot write there: {out / 'small.ladder.json'} is a directory, where the ladder goes; "
        "move it away"
    ]
    assert not (tmp_path / "c").exists()  # nothing was measured
    assert sorted(p.name for p in out.iterdir()) == ["small.ladder.json"]


def test_the_written_files_are_named_as_they_are(clips: Clips, tmp_path: Path) -> None:
    """What analyze wrote is said with the names as given: brackets are no Rich markup and
    `:100:` no emoji code (a name that is bad markup would fail the run after the analysis)."""
    out = tmp_path / "la[bold]dders:100:"
    script = tmp_path / "enc[bold]ode:100:.sh"
    run = invoke(
        "analyze", str(clips.small), *("--heights", "180", "--crfs", "26,38", "--no-calibrate"),
        "--out", str(out), "--emit-commands", str(script), "--cache-dir", str(tmp_path / "c"),
    )  # fmt: skip
    assert run.exit_code == 0, run.stderr
    assert f"wrote {out / 'small.ladder.yaml'} and {out / 'small.ladder.json'}" in run.stderr
    assert f"wrote {script} (ffmpeg commands for " in run.stderr


def test_the_emitted_commands_place_a_varying_rate_titles_keyframes_by_time(
    ffmpeg_path: str, tmp_path: Path
) -> None:
    """A title at 30 then 10 frames a second: the renditions the script makes have a keyframe
    every 2 s of time, as the renditions pertitle measured do, not every 37 frames."""
    from tests.integration.test_encode_measure import _fast_then_slow, _keyframe_times

    title = _fast_then_slow(ffmpeg_path, tmp_path / "vfr.mp4")
    script = tmp_path / "renditions" / "make.sh"
    run = invoke(
        "analyze", str(title), *("--heights", "90", "--crfs", "22,30,38,46", "--preset", "veryfast"),
        "--emit-commands", str(script), "--cache-dir", str(tmp_path / "c"), "-q",
    )  # fmt: skip
    assert run.exit_code == 0, run.stderr
    text = script.read_text(encoding="utf-8")
    assert "keyframes by time: the frame rate varies" in text and "-force_key_frames" in text
    subprocess.run(["sh", str(script)], cwd=script.parent, check=True, capture_output=True, timeout=300)
    renditions = sorted(script.parent.glob("*.mp4"))
    assert renditions
    for rendition in renditions:
        assert _keyframe_times(rendition) == pytest.approx([0.0, 2.0, 4.0, 6.0], abs=0.001), rendition


def _start_in(work: Path, argv: list[str], *, alone: bool = False) -> subprocess.Popen[str]:
    """A pertitle run whose work directories go under `work`; `alone`: in its own session."""
    return subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(work)},
        start_new_session=alone,
    )


def test_sigterm_stops_analyze_as_ctrl_c_does(ffmpeg_path: str, tmp_path: Path) -> None:
    """timeout, docker stop and a cancelled CI job send SIGTERM: it killed analyze outright (exit
    143, no word), leaving its work directory and the lossless reference in it behind."""
    import signal

    from tests.conftest import run_ffmpeg, wait_for_a_reference

    title = tmp_path / "noisy.mp4"
    run_ffmpeg(
        ffmpeg_path,
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=24:duration=6,noise=alls=9:allf=t",
        str(title),
    )
    work = tmp_path / "tmp"
    work.mkdir()
    argv = [sys.executable, "-m", "pertitle", "analyze", str(title), "--no-cache", "--jobs", "1"]
    argv += ["--heights", "90,136,180", "--crfs", "22,26,30,34,38,42", "--preset", "medium"]
    proc = _start_in(work, argv)
    try:
        wait_for_a_reference(proc, work, "analyze")
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "error: interrupted; --no-cache: a rerun starts over"
    assert list(work.glob("pertitle-*")) == []


def test_sigterm_to_analyze_alone_stops_its_encodes_at_once(ffmpeg_path: str, tmp_path: Path) -> None:
    """A SIGTERM sent to pertitle alone (timeout, docker stop) reaches the main thread only: the
    worker threads waited on their encodes, and analyze exited once those ended (22 s after the
    signal on one 432p encode; docker's SIGKILL comes after 10). Its encodes are killed at once."""
    import signal
    import time

    from tests.conftest import run_ffmpeg, wait_for_a_reference

    title = tmp_path / "noisy.mp4"
    graph = "testsrc2=size=320x180:rate=24:duration=30,noise=alls=12:allf=t"
    run_ffmpeg(ffmpeg_path, "-f", "lavfi", "-i", graph, "-c:v", "libx264", "-preset", "ultrafast", str(title))
    work = tmp_path / "tmp"
    work.mkdir()
    argv = [sys.executable, "-m", "pertitle", "analyze", str(title), "--no-cache", "--jobs", "1"]
    argv += ["--heights", "180", "--crfs", "18,22,26,30", "--preset", "veryslow", "--full-pass-below", "60"]
    proc = _start_in(work, argv, alone=True)  # the signal reaches pertitle alone, not its ffmpeg children
    try:
        wait_for_a_reference(proc, work, "analyze")
        time.sleep(1.0)  # the encode group has started
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert took < 8, f"exited {took:.1f} s after SIGTERM"
    assert list(work.glob("pertitle-*")) == []


def test_emit_commands_refuses_a_title_whose_name_a_script_cannot_hold(clips: Clips, tmp_path: Path) -> None:
    try:
        title = tmp_path / os.fsdecode(b"x\xfey.mp4")
        shutil.copy(clips.small, title)
    except (OSError, UnicodeError):
        pytest.skip("this file system does not take non-UTF-8 names")
    run = invoke("analyze", str(title), "--emit-commands", str(tmp_path / "r.sh"), "-q")
    assert run.exit_code == 2, run.output
    (line,) = run.stderr.splitlines()
    assert "x?y.mp4 has a name that is not UTF-8" in line
    assert not (tmp_path / "r.sh").exists()


def test_an_ffmpeg_that_is_missing_or_a_directory_is_one_line_and_exit_2(tmp_path: Path) -> None:
    for given, phrase in ((tmp_path / "nope", "does not exist"), (tmp_path, "is a directory")):
        run = invoke("doctor", "--ffmpeg", str(given))
        assert run.exit_code == 2, run.output
        (line,) = run.stderr.splitlines()
        assert str(given) in line and phrase in line, line


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        # Typer read "" as '.': the cache went into the current directory, batch "" analysed every
        # video under it, --ffmpeg "" silently took the bundled one.
        (["analyze", "t.mp4", "--cache-dir", ""], "Invalid value for '--cache-dir': an empty path"),
        (["analyze", "t.mp4", "--out", ""], "Invalid value for '--out' / '-o': an empty path"),
        (["analyze", ""], "Invalid value for 'title': an empty path"),
        (["batch", "", "--out", "o"], "Invalid value for 'inputs': an empty path"),
        (["batch", "t.mp4", "--out", ""], "an empty path"),
        (["cache", "prune", "--all", "--cache-dir", ""], "an empty path"),
        (["verify", "l.json", ""], "Invalid value for 'title': an empty path"),
        (["doctor", "--ffmpeg", ""], "--ffmpeg is an empty path"),
        # 100000 froze the machine, 1e23 was an ffmpeg failure (exit 1).
        (["analyze", "t.mp4", "--jobs", "100000"], "jobs: 100000 must be 0 (all cores) to 1024"),
        (["verify", "l.json", "t.mp4", "--jobs", "99999999999999999999999"], "must be 0 (all cores) to 1024"),
        (["batch", "t.mp4", "--out", "o", "--cores", "5000"], "--jobs and --cores must be 0 (auto) to 1024"),
    ],
)
def test_empty_paths_and_unbounded_jobs_are_usage_errors(
    args: list[str], phrase: str, tmp_path: Path
) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pertitle", *args], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2, run.stderr
    (line,) = run.stderr.splitlines()
    assert line.startswith("error: ") and phrase in line, line
    assert not list(tmp_path.iterdir())  # nothing written into the current directory


def test_a_default_cache_directory_under_a_file_is_said_once(clips: Clips, tmp_path: Path) -> None:
    # XDG_CACHE_HOME naming a file: analyze cached nothing (with -q, not a word), cache info said
    # '(not created yet)'.
    (tmp_path / "xdg").write_text("a file")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    for args in (["analyze", str(clips.small), "-q"], ["cache", "info"]):
        run = subprocess.run(
            [sys.executable, "-m", "pertitle", *args], env=env, capture_output=True, text=True
        )
        assert run.returncode == 2, run.stderr
        assert run.stderr.startswith("error: the default cache directory ") and "is a file" in run.stderr


def test_doctor_json() -> None:
    run = invoke("doctor", "--json")
    assert run.exit_code == 0
    doc = json.loads(run.stdout)
    assert doc["schema"] == "pertitle.doctor/v1"
    assert doc["libvmaf"] is True and doc["ok"] is True
    assert doc["codecs"]["h264"]["encoder"] == "libx264"
    assert doc["codecs"]["h264"]["available"] is True


def test_doctor_json_is_a_document_also_when_there_is_no_usable_ffmpeg(tmp_path: Path) -> None:
    """`pertitle doctor --json > doctor.json` in CI must give a document in the very case doctor
    is for: an ffmpeg that is missing or is not ffmpeg at all."""
    not_ffmpeg = tmp_path / "ffmpeg"
    not_ffmpeg.write_text("#!/bin/sh\necho hello\n", encoding="utf-8")
    not_ffmpeg.chmod(0o755)
    for given in (tmp_path / "missing", not_ffmpeg):
        run = invoke("doctor", "--json", "--ffmpeg", str(given))
        assert run.exit_code == 2, run.stderr
        doc = json.loads(run.stdout)
        assert (doc["schema"], doc["ok"], doc["libvmaf"]) == ("pertitle.doctor/v1", False, False)
        assert doc["ffmpeg"] == {"path": str(given), "version": None}
        assert not any(c["available"] for c in doc["codecs"].values())
        assert len(doc["problems"]) == 1 and str(given) in doc["problems"][0]
        assert run.stderr.splitlines() == [f"error: {doc['problems'][0]}"]


@pytest.mark.parametrize("args", [["--help"], ["analyze", "--help"], ["--version"]])
def test_help_and_version_exit_0(args: list[str]) -> None:
    run = invoke(*args)
    assert run.exit_code == 0, run.stderr
    assert run.stdout
    if "analyze" in args:
        assert "--heights" in run.stdout and "--no-cache" in run.stdout


@pytest.mark.parametrize("args", [["--help"], ["analyze", "--help"], ["cache", "prune", "--help"]])
def test_help_sends_no_escape_codes_under_no_color(args: list[str]) -> None:
    """Typer draws --help with its own Rich console, which kept bold and dim under NO_COLOR where
    every other output of pertitle sends no escape code. FORCE_COLOR stands in for a terminal."""
    env = {**os.environ, "FORCE_COLOR": "1", "NO_COLOR": ""}
    styled = subprocess.run(
        [sys.executable, "-m", "pertitle", *args], env=env, capture_output=True, text=True
    )
    assert styled.returncode == 0 and "\x1b[" in styled.stdout  # a terminal does get them
    env["NO_COLOR"] = "1"
    plain = subprocess.run([sys.executable, "-m", "pertitle", *args], env=env, capture_output=True, text=True)
    assert plain.returncode == 0, plain.stderr
    assert "\x1b" not in plain.stdout and "Usage" in plain.stdout


@pytest.mark.parametrize("no_color", ["", "1"])
def test_a_usage_error_is_one_line_and_exit_2_with_or_without_no_color(no_color: str) -> None:
    """Through the console script's own entry point (the CliRunner tests call the app)."""
    env = {**os.environ, "NO_COLOR": no_color}
    run = subprocess.run(
        [sys.executable, "-m", "pertitle", "analyze", "--bogus"], env=env, capture_output=True, text=True
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1, run.stderr
    assert "Traceback" not in run.stderr


def _entry(*args: str, env: dict[str, str] | None = None, **kw: Any) -> subprocess.CompletedProcess[str]:
    """The console script's own entry point, as a shell runs it."""
    argv = [sys.executable, "-m", "pertitle", *args]
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(argv, env={**os.environ, **(env or {})}, text=True, timeout=60, **kw)


def test_a_usage_error_says_where_to_look_and_how_to_name_a_dashed_file(clips: Clips, tmp_path: Path) -> None:
    """`--out` with no value was the one usage error without the --help hint (Click gives it no
    context), and `analyze -clip.mp4` said only 'No such option: -c'."""
    missing = _entry("analyze", str(clips.small), "--out")
    assert missing.returncode == 2
    assert missing.stderr == "error: Option '--out' requires an argument. (see pertitle analyze --help)\n"
    shutil.copy(clips.small, tmp_path / "-clip.mp4")
    dashed = _entry("analyze", "-clip.mp4", cwd=tmp_path)
    assert dashed.returncode == 2
    assert "(-clip.mp4 is a file: give it after -- or as ./-clip.mp4; see " in dashed.stderr
    assert dashed.stderr.endswith(" analyze --help)\n")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["--version"], ["doctor", "--json"], ["--help"]])
def test_stdout_on_a_full_disk_is_one_error_line_not_a_traceback(args: list[str]) -> None:
    with open("/dev/full", "w") as full:
        run = _entry(*args, stdout=full, stderr=subprocess.PIPE)
    assert run.returncode == 2
    assert run.stderr == "error: cannot write the output: No space left on device\n"


def test_a_file_error_no_command_caught_names_the_file_not_stdout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pertitle import cli

    def locked(path: str | None) -> None:
        raise PermissionError(13, "Permission denied", "/opt/locked/ffmpeg")

    monkeypatch.setattr(cli.binary, "locate", locked)
    monkeypatch.setattr(sys, "argv", ["pertitle", "doctor"])
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    assert stopped.value.code == 2
    assert capsys.readouterr().err == "error: /opt/locked/ffmpeg: Permission denied\n"


@pytest.mark.parametrize("columns", ["0", "-5", "abc"])
def test_a_columns_that_is_no_width_keeps_error_lines(columns: str, tmp_path: Path) -> None:
    # COLUMNS=0 made Rich draw every line 0 wide: the error vanished, exit 2 with nothing said.
    run = _entry("analyze", str(tmp_path / "missing.mp4"), env={"COLUMNS": columns})
    assert run.returncode == 2
    assert run.stderr.startswith("error: ") and "no such file" in run.stderr


def test_a_stdout_that_cannot_encode_utf8_gets_question_marks_not_a_traceback(
    clips: Clips, tmp_path: Path
) -> None:
    args = ["analyze", str(clips.small), "--heights", "180", "--crfs", "30,40", "--no-calibrate"]
    run = _entry(*args, "--cache-dir", str(tmp_path), env={"PYTHONIOENCODING": "ascii", "NO_COLOR": "1"})
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr and "320x180" in run.stdout


_CTRL_C_AT = {
    # While the CLI's modules import (the console script's entry point runs first).
    "import": "import pertitle.entry as e\n"
    "class F:\n"
    "    def find_spec(self, name, path, target=None):\n"
    "        if name == 'pertitle.cli': raise KeyboardInterrupt\n"
    "sys.meta_path.insert(0, F()); sys.argv = ['pertitle', 'doctor']; e.main()",
    # In a command, outside the handlers of the core's work: Typer made it a silent exit 130.
    "command": "import pertitle.cli as c\n"
    "def stop(*a, **k): raise KeyboardInterrupt\n"
    "c._ffmpeg = stop; sys.argv = ['pertitle', 'doctor']; c.main()",
}


@pytest.mark.parametrize("where", sorted(_CTRL_C_AT))
def test_ctrl_c_anywhere_says_interrupted_and_exits_130(where: str) -> None:
    code = "import sys\n" + _CTRL_C_AT[where]
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 130, run.stderr
    assert run.stderr == "interrupted\n"


def test_fast_encodes_every_other_crf_and_estimates_the_rest(clips: Clips, tmp_path: Path) -> None:
    """--fast on a five-CRF grid encodes 24/32/40 per height, reads 28/36 off each resolution's
    curve (flagged estimated, between their measured neighbours), then measures the estimates the
    hull runs through."""
    args = ["analyze", str(clips.detailed), "--heights", "180,360", "--crfs", "24,28,32,36,40"]
    args += ["--preset", "veryfast", "--jobs", "2", "--no-calibrate", "--fast", "--json"]
    doc = json_of(invoke(*args, "--cache-dir", str(tmp_path)))
    by_key = {(p["height"], p["crf"]): p for p in doc["points"]}
    assert sorted(by_key) == [(h, float(c)) for h in (180, 360) for c in (24, 28, 32, 36, 40)]
    estimated = {k for k, p in by_key.items() if p["estimated"]}
    assert {crf for _, crf in estimated} <= {28.0, 36.0}
    assert doc["timings"]["encodes"] == 10 - len(estimated)
    assert 6 <= doc["timings"]["encodes"] < 10  # the coarse grid, plus at most a few refinements
    for height, crf in estimated:
        lower, upper = by_key[(height, crf - 4)], by_key[(height, crf + 4)]
        assert upper["bitrate_kbps"] < by_key[(height, crf)]["bitrate_kbps"] < lower["bitrate_kbps"]
        assert upper["vmaf"] <= by_key[(height, crf)]["vmaf"] <= lower["vmaf"]
    vertices = {(v["height"], v["crf"]) for v in doc["hull"]["vertices"]}
    assert not vertices & estimated  # the hull runs through measured points only
    serialize.validate_document(doc)
    # The stages account for the run, the refinement's encodes included; none is counted twice.
    t = doc["timings"]
    stages = t["probe_s"] + t["prepare_s"] + t["encode_measure_s"] + t["calibrate_s"]
    assert 0.9 * t["total_s"] <= stages <= t["total_s"]


def test_fast_probes_the_size_between_only_near_the_hull(clips: Clips, tmp_path: Path) -> None:
    """--fast with three sizes: 180p and 360p at the coarse CRFs first, then 240p, read off them,
    at the two CRFs nearest the hull; the document holds measured points and readings between
    them, never a reading of 240p off its neighbours."""
    args = ["analyze", str(clips.detailed), "--heights", "180,240,360", "--crfs", "24,28,32,36,40"]
    args += ["--preset", "veryfast", "--jobs", "2", "--no-calibrate", "--fast", "--json"]
    doc = json_of(invoke(*args, "--cache-dir", str(tmp_path)))
    measured = {(p["height"], p["crf"]) for p in doc["points"] if not p["estimated"]}
    assert {c for h, c in measured if h in (180, 360)} >= {24.0, 32.0, 40.0}
    middle = sorted(c for h, c in measured if h == 240)
    assert len(middle) >= 2
    assert not {24.0, 32.0, 40.0} <= set(middle)  # not the coarse grid its neighbours got
    assert doc["timings"]["encodes"] == len(measured) < 15
    for p in doc["points"]:
        if p["estimated"] and p["height"] == 240:
            assert middle[0] < p["crf"] < middle[-1]  # read off its own curve only
    vertices = {(v["height"], v["crf"]) for v in doc["hull"]["vertices"]}
    assert vertices <= measured
    serialize.validate_document(doc)


def test_long_title_is_probed_on_windows_placed_by_complexity(clips: Clips, tmp_path: Path) -> None:
    """Treated as a long title (2 s, windows of 0.5 s): the cheap pass ranks its four stretches
    and one window is taken per stratum, on the stretch grid; 'even' spaces them instead, and a
    bad value is a usage error."""
    args = ["analyze", str(clips.detailed), "--heights", "180", "--crfs", "32,40", "--preset", "veryfast"]
    args += ["--full-pass-below", "0.5", "--samples", "2", "--sample-duration", "0.5", "--no-calibrate"]
    args += ["--json", "--cache-dir", str(tmp_path)]
    doc = json_of(invoke(*args))
    assert doc["samples"]["full_pass"] is False
    assert doc["settings"]["sample_selection"] == "complexity"
    windows = doc["samples"]["windows"]
    assert [w["duration_s"] for w in windows] == [0.5, 0.5]
    assert all(w["start_s"] in (0.0, 0.5, 1.0, 1.5) for w in windows)
    assert windows[0]["start_s"] < windows[1]["start_s"]

    even = json_of(invoke(*args, "--sample-selection", "even"))
    assert [w["start_s"] for w in even["samples"]["windows"]] == [0.25, 1.25]

    bad = invoke(*args, "--sample-selection", "random")
    assert bad.exit_code == 2
    assert "--sample-selection: 'random'" in bad.stderr and "complexity" in bad.stderr

    # One 1.1 s window in 2 s: a single whole stretch, nothing to rank. The windows fall back to
    # even spacing, and the document (and so the report) says so rather than "complexity".
    single = json_of(invoke(*args[:-2], "--samples", "1", "--sample-duration", "1.1", *args[-2:]))
    assert single["samples"]["full_pass"] is False
    assert [w["start_s"] for w in single["samples"]["windows"]] == [0.45]
    assert single["settings"]["sample_selection"] == "even"


def test_sampled_rungs_are_checked_at_the_bitrate_the_windows_get_within_the_title(
    ffmpeg_path: str, tmp_path: Path
) -> None:
    """4 s of flat colour then 2 s of noise, probed on one 2 s window: the cheap pass ranks the
    three stretches and takes a flat one. Within a two-pass of the title, that window gets a
    fraction of each rung's bitrate (the noise takes the rest), so the rungs are checked on the
    window at that fraction, and the prediction's bitrate is the whole title's."""
    from tests.integration.test_encode_measure import flat_then_noise

    clip = flat_then_noise(ffmpeg_path, tmp_path / "flat_then_noise.mkv", flat_s=4, noise_s=2)
    args = ["analyze", str(clip), "--heights", "180", "--crfs", "20,30,40", "--preset", "veryfast", "--json"]
    args += [
        "--full-pass-below",
        "1",
        "--samples",
        "1",
        "--sample-duration",
        "2",
        "--cache-dir",
        str(tmp_path),
    ]
    run = invoke(*args)
    doc = json_of(run)
    assert doc["samples"]["full_pass"] is False
    assert doc["samples"]["windows"][0]["start_s"] in (0.0, 2.0)  # a flat stretch
    rungs = doc["rungs"]
    assert rungs
    for r in rungs:
        assert r["predicted"]["basis"].endswith(
            "at the bitrate they get within a two-pass of the whole title"
        )
        # The whole title's two-pass lands near its target; the flat window alone would not.
        assert 0.7 * r["bitrate_kbps"] < r["predicted"]["bitrate_kbps"] < 1.3 * r["bitrate_kbps"]
        # Its peak is the title's too (the busiest segment holds the noise), not the flat window's.
        assert r["predicted"]["peak_bitrate_kbps"] >= r["predicted"]["bitrate_kbps"]
    # The in-context pass is cached with the rest: a second run encodes nothing.
    again = json_of(invoke(*args))
    assert again["timings"]["encodes"] == 0
    assert again["rungs"] == rungs


def test_a_title_named_like_a_protocol_is_analysed_and_its_script_runs(
    clips: Clips, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ffmpeg reads a relative `x:y.mp4` as protocol "x"; every command pertitle builds or emits
    # must name it as a file.
    (tmp_path / "x:y.mp4").write_bytes(clips.small.read_bytes())
    monkeypatch.chdir(tmp_path)
    grid = ("--heights", "180", "--crfs", "26,38")
    run = invoke("analyze", "x:y.mp4", *grid, "--no-cache", "--emit-commands", "make.sh", "--json", "-q")
    doc = json_of(run)
    made = tmp_path / "renditions"
    made.mkdir()
    done = subprocess.run(
        ["sh", str(tmp_path / "make.sh")], cwd=made, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    expected = {f"x:y_{r['width']}x{r['height']}_{r['bitrate_kbps']:.0f}k_h264.mp4" for r in doc["rungs"]}
    assert {p.name for p in made.iterdir()} == expected


def test_json_keeps_the_warnings_on_stderr_and_quiet_drops_them(interlaced_clip: Path) -> None:
    grid = ("--heights", "180", "--crfs", "28,40", "--no-cache")
    run = invoke("analyze", str(interlaced_clip), *grid, "--json")
    assert json_of(run)["source"]["interlaced"] is True
    lines = run.stderr.strip().splitlines()
    assert lines and all(line.startswith("warning: ") for line in lines), run.stderr
    assert any("interlaced" in line for line in lines)
    quiet = invoke("analyze", str(interlaced_clip), *grid, "--json", "-q")
    json_of(quiet)
    assert quiet.stderr == ""


def test_heights_above_the_source_are_left_out_with_a_warning(clips: Clips) -> None:
    run = invoke(
        "analyze", str(clips.small), "--heights", "90,180,360,720", "--crfs", "28,40", "--no-cache", "--json"
    )
    doc = json_of(run)
    assert {p["height"] for p in doc["points"]} == {90, 180}
    assert "warning: --heights 360, 720: above the source's 180p, not probed (never upscaled)" in run.stderr


def test_damaged_data_is_said_on_every_run_the_cache_serves_too(tmp_path: Path, ffmpeg_path: str) -> None:
    # A fifth of an MP4's bytes zeroed: ffmpeg conceals the damage and exits 0. The second run
    # decodes nothing (every encode cached) and must still say it.
    from tests.conftest import make_damaged_mp4

    _, damaged = make_damaged_mp4(ffmpeg_path, tmp_path)
    grid = ["--heights", "180", "--crfs", "26,38", "--preset", "veryfast", "--no-calibrate"]
    args = [
        "analyze",
        str(damaged),
        "--out",
        str(tmp_path / "out"),
        "--cache-dir",
        str(tmp_path / "c"),
        *grid,
    ]
    for _ in range(2):
        run = invoke(*args)
        assert run.exit_code == 0, run.stderr
        said = [line for line in run.stderr.splitlines() if "damaged data" in line]
        assert len(said) == 1 and said[0].startswith("warning: the title has damaged data ("), run.stderr


def test_a_sampled_mpeg_ts_title_is_probed_on_the_frames_of_its_windows(
    ffmpeg_path: str, tmp_path: Path
) -> None:
    """An MPEG-TS capture with one keyframe: input seeks into it decoded nothing, so every probe
    read an empty reference and the title failed ("Duplicate element"). Its windows are read from
    the start: two 1 s windows at 25 fps are 50 frames in each rung's check."""
    from tests.conftest import run_ffmpeg

    clip = tmp_path / "capture.ts"
    run_ffmpeg(
        ffmpeg_path,
        *("-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=4", "-c:v", "libx264"),
        *("-preset", "ultrafast", "-g", "1000", "-pix_fmt", "yuv420p", "-f", "mpegts", str(clip)),
    )
    args = ["analyze", str(clip), "--heights", "90", "--crfs", "30,40", "--preset", "veryfast"]
    args += ["--full-pass-below", "1", "--samples", "2", "--sample-duration", "1"]
    doc = json_of(invoke(*args, "--sample-selection", "even", "--json", "--no-cache"))
    assert doc["samples"]["full_pass"] is False
    assert doc["rungs"]
    assert all(len(r["vmaf_per_frame"]) == 50 for r in doc["rungs"])


def test_windows_that_seeking_misses_are_read_from_the_start_with_a_warning(
    ffmpeg_path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container whose index lies about its frames, played by an MPEG-TS capture with one
    keyframe that the probe is made to trust: seeking to its windows decodes nothing, so they are
    read from the title's start (50 frames in each rung's check) and the run says it was slower."""
    import dataclasses

    from pertitle import pipeline
    from pertitle.probe import probe
    from tests.conftest import run_ffmpeg

    clip = tmp_path / "capture.ts"
    run_ffmpeg(
        ffmpeg_path,
        *("-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=4", "-c:v", "libx264"),
        *("-preset", "ultrafast", "-g", "1000", "-pix_fmt", "yuv420p", "-f", "mpegts", str(clip)),
    )
    monkeypatch.setattr(pipeline, "probe", lambda path: dataclasses.replace(probe(path), seeks_exactly=True))
    args = ["analyze", str(clip), "--heights", "90", "--crfs", "30,40", "--preset", "veryfast"]
    args += ["--full-pass-below", "1", "--samples", "2", "--sample-duration", "1", "--sample-selection"]
    run = invoke(*args, "even", "--json", "--no-cache")
    doc = json_of(run)
    assert doc["rungs"] and all(len(r["vmaf_per_frame"]) == 50 for r in doc["rungs"])
    said = [line for line in run.stderr.splitlines() if "came back short" in line]
    assert len(said) == 1, run.stderr
    assert said[0].startswith("warning: seeking to the sample windows of capture.ts")


def test_windows_that_hold_less_than_their_time_are_said_to_be_short(
    ffmpeg_path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 4 s title that the probe is made to read as 8 s: its windows past 4 s hold nothing, read
    from the start too, and the run says the title is shorter than it says (not badly indexed)."""
    import dataclasses

    from pertitle import pipeline
    from pertitle.probe import probe
    from tests.conftest import run_ffmpeg

    clip = tmp_path / "four.mp4"
    run_ffmpeg(ffmpeg_path, "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=4", str(clip))
    longer = lambda path: dataclasses.replace(probe(path), duration_s=8.0, frame_count=200)  # noqa: E731
    monkeypatch.setattr(pipeline, "probe", longer)
    args = ["analyze", str(clip), "--heights", "90", "--crfs", "30,40", "--preset", "veryfast", "--json"]
    args += ["--full-pass-below", "1", "--samples", "2", "--sample-duration", "2", "--no-calibrate"]
    run = invoke(*args, "--sample-selection", "even", "--no-cache")
    assert run.exit_code == 0, run.stderr
    said = [line for line in run.stderr.splitlines() if "hold under 0.9 of their time" in line]
    assert len(said) == 1 and "shorter than it says" in said[0], run.stderr
    assert "came back short" not in run.stderr


def test_a_title_harder_than_every_sample_window_is_said_to_be(ffmpeg_path: str, tmp_path: Path) -> None:
    """3 s flat colour, 3 s pattern, 2 s noise, probed on two 1 s windows: one per stratum takes
    the colour and the pattern, and the noise (a quarter of the title, over twice the pattern's
    cost in the cheap pass) is probed nowhere. The ladder was predicted 17 VMAF above what it
    measured, without a word; analyze now says so."""
    clip = tmp_path / "mixed.mkv"
    graph = (
        "color=c=blue:size=160x90:rate=25:duration=3[a];testsrc2=size=160x90:rate=25:duration=3[b];"
        "color=c=gray:size=160x90:rate=25:duration=2,noise=alls=60:allf=t[c];"
        "[a][b][c]concat=n=3:v=1:a=0,format=yuv420p[v]"
    )
    runner.run([ffmpeg_path, "-v", "error", "-filter_complex", graph, "-map", "[v]", str(clip)])
    args = ["analyze", str(clip), "--heights", "90", "--crfs", "30,40", "--preset", "veryfast", "--json"]
    args += ["--full-pass-below", "3", "--sample-duration", "1", "--no-calibrate"]
    args += ["--cache-dir", str(tmp_path / "cache")]
    run = invoke(*args, "--samples", "2")
    doc = json_of(run)
    starts = [w["start_s"] for w in doc["samples"]["windows"]]
    assert all(s < 6.0 for s in starts)  # neither window on the noise
    assert "2 s of the title (25%) is harder than any of the 2 sample windows" in run.stderr
    # Three windows take the noise too: nothing to say.
    three = invoke(*args, "--samples", "3")
    assert any(w["start_s"] >= 6.0 for w in json_of(three)["samples"]["windows"])
    assert "harder than any" not in three.stderr


def test_a_sampled_capped_crf_ladder_predicts_the_whole_titles_bitrate_and_peak(
    ffmpeg_path: str, tmp_path: Path
) -> None:
    """4 s of flat colour then 2 s of noise, probed on one 2 s window (a flat one). A capped-CRF
    rung spends what the title needs at its CRF: read off the flat window alone, its average and
    peak were a fraction of the title's (the peak that HLS declares 17-37% low on real content).
    They come from a capped-CRF encode of the whole title, which verify's encode matches."""
    from pertitle.encode import stream_stats
    from pertitle.ffmpeg.commands import rendition_commands
    from pertitle.models import SEGMENT_S, EncodeSpec
    from tests.integration.test_encode_measure import flat_then_noise

    clip = flat_then_noise(ffmpeg_path, tmp_path / "flat_then_noise.mkv", flat_s=4, noise_s=2)
    args = ["analyze", str(clip), "--heights", "180", "--crfs", "20,30,40", "--preset", "veryfast"]
    args += ["--rate-control", "capped_crf", "--full-pass-below", "1", "--samples", "1"]
    args += ["--sample-duration", "2", "--json", "--cache-dir", str(tmp_path / "cache")]
    doc = json_of(invoke(*args))
    assert doc["samples"]["full_pass"] is False
    assert doc["samples"]["windows"][0]["start_s"] in (0.0, 2.0)  # a flat stretch
    assert doc["rungs"]
    for r in doc["rungs"]:
        spec = EncodeSpec(
            "h264", "veryfast", r["width"], r["height"], "capped_crf", crf=r["crf"],
            bitrate_kbps=r["bitrate_kbps"], maxrate_kbps=r["maxrate_kbps"], bufsize_kbps=r["bufsize_kbps"],
        )  # fmt: skip
        out = tmp_path / f"rung{r['bitrate_kbps']:.0f}.mp4"
        # One thread, as pertitle measures and as --emit-commands writes: x264's own threading
        # changes its output (this rung has landed 5% apart between runs of the suite with it).
        for argv in rendition_commands(ffmpeg_path, str(clip), spec, fps=24.0, out_path=str(out), threads=1):
            runner.run(argv)
        whole = stream_stats(str(out), SEGMENT_S)
        assert r["predicted"]["bitrate_kbps"] == pytest.approx(whole.bitrate_kbps, rel=0.05)
        assert r["predicted"]["peak_bitrate_kbps"] == pytest.approx(whole.peak_bitrate_kbps, rel=0.05)
    again = json_of(invoke(*args))  # the whole-title encodes are cached with the rest
    assert again["timings"]["encodes"] == 0


def test_a_vp9_capped_crf_rung_is_re_aimed_at_its_bitrate(clips: Clips, tmp_path: Path) -> None:
    """libvpx's capped CRF (constrained quality, `-crf N -b:v MAXRATE`) spends less than the CRF
    probe at the same CRF: `-b:v` moves its quantizer. Deployed at the hull's CRF, VP9 rungs of
    a 4 s traffic cut landed 30% under their targets (100 kbps -> 67). So a capped-CRF rung
    whose deployed encode misses its bitrate by more than 5% is encoded again at a CRF aimed at
    it, and the ladder says the CRF that is deployed."""
    args = ["analyze", str(clips.detailed), "--codec", "vp9", "--heights", "180", "--crfs", "30,40,50,60"]
    args += ["--preset", "realtime", "--rate-control", "capped_crf", "--json"]
    args += ["--cache-dir", str(tmp_path / "cache")]
    doc = json_of(invoke(*args))
    assert doc["rungs"]
    for r in doc["rungs"]:
        assert float(r["crf"]).is_integer()  # libvpx's CRF is whole: the one that runs
        landed = r["predicted"]["bitrate_kbps"]
        assert landed == pytest.approx(r["bitrate_kbps"], rel=0.08), r
