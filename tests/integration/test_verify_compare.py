"""verify, compare and analyze --emit-commands end to end: real ffmpeg, real libvmaf, on a tiny
clip made here (320x180, 24 fps, 2 s), analysed once per module into a cache under tmp.

The grid is small (veryfast, CRF 24/32/40) and has two heights at or below the clip (120 and 180:
a 360 in the grid would be dropped as above the source) so that the hull spans two resolutions.
"""

from __future__ import annotations

import json
import math
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pertitle.cli import app
from pertitle.config import Settings, validate
from pertitle.encode import stream_stats
from pertitle.ffmpeg import binary
from pertitle.pipeline import analyze
from pertitle.report import serialize
from tests.conftest import run_in_terminal

GRID = {"heights": "120,180", "crfs": "24,32,40", "preset": "veryfast"}


@dataclass(frozen=True)
class Analysed:
    clip: Path
    ladder_json: Path
    ladder_yaml: Path
    cache: Path
    doc: dict[str, Any]
    ffmpeg: binary.FfmpegInfo


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> Analysed:
    root = tmp_path_factory.mktemp("verify")
    info = binary.detect(binary.locate())
    clip = root / "pattern.mp4"
    make = ["-f", "lavfi", "-i", "testsrc2=s=320x180:r=24:d=2", "-c:v", "libx264", "-preset", "ultrafast"]
    make += ["-crf", "18", "-pix_fmt", "yuv420p", str(clip)]
    subprocess.run(
        [info.path, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *make], check=True, timeout=120
    )
    cache = root / "cache"
    settings = validate(
        Settings(heights=(120, 180), crfs=(24, 32, 40), preset="veryfast", cache_dir=str(cache), jobs=2)
    )
    result = analyze(str(clip), settings, info)
    doc = serialize.to_document(result)
    ladder_yaml, ladder_json = serialize.write_documents(doc, root / "out", result.title)
    return Analysed(clip, ladder_json, ladder_yaml, cache, doc, info)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_verify_passes_when_the_predictions_hold(analysed: Analysed, tmp_path: Path) -> None:
    # A cache of its own: every rung is really encoded again from the whole title.
    fresh = tmp_path / "cache"
    r = invoke("verify", str(analysed.ladder_yaml), str(analysed.clip), "--cache-dir", str(fresh), "-j", "2")
    assert r.exit_code == 0, r.output
    n = len(analysed.doc["rungs"])
    assert f"PASS: all {n} rungs are within tolerance" in r.stdout
    assert f"{n} encodes, 0 from cache" in " ".join(r.stdout.split())
    assert "-0.00" not in r.stdout and "-0.0%" not in r.stdout  # a zero has no sign

    r = invoke("verify", str(analysed.ladder_json), str(analysed.clip), "--cache-dir", str(fresh), "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["schema"] == "pertitle.verify/v1" and doc["ok"] is True and doc["failures"] == []
    assert doc["cache_hits"] == n and doc["encodes"] == 0
    for rung, made in zip(doc["rungs"], analysed.doc["rungs"], strict=True):
        assert (rung["width"], rung["height"], rung["target_kbps"]) == (
            made["width"],
            made["height"],
            made["bitrate_kbps"],
        )
        m = rung["measured"]
        assert abs(m["vmaf"] - made["predicted"]["vmaf"]) <= 2.0
        assert abs(m["bitrate_kbps"] / rung["target_kbps"] - 1) <= 0.10
        # A 2 s title is one 2 s segment: its peak is its average.
        assert m["peak_bitrate_kbps"] == pytest.approx(m["bitrate_kbps"], rel=1e-6)
        assert rung["ok"] is True and rung["problems"] == []


def test_verify_fails_a_rung_whose_prediction_is_too_high(analysed: Analysed, tmp_path: Path) -> None:
    doc = json.loads(analysed.ladder_json.read_text(encoding="utf-8"))
    last = len(doc["rungs"])
    predicted = doc["rungs"][-1]["predicted"]
    predicted["vmaf"] = min(100.0, predicted["vmaf"] + 10.0)  # far above what the encode reaches
    doctored = tmp_path / "doctored.ladder.json"
    doctored.write_text(json.dumps(doc), encoding="utf-8")
    r = invoke("verify", str(doctored), str(analysed.clip), "--cache-dir", str(analysed.cache), "-q")
    assert r.exit_code == 1, r.output
    out = " ".join(r.stdout.split())
    assert f"FAIL: 1 of {last} rungs missed" in out
    assert f"rung {last} (" in out and "below the predicted" in out and "(tolerance 2)" in out

    r = invoke("verify", str(doctored), str(analysed.clip), "--cache-dir", str(analysed.cache), "--json")
    assert r.exit_code == 1
    report = json.loads(r.stdout)
    assert report["ok"] is False
    assert [x["ok"] for x in report["rungs"]] == [True] * (last - 1) + [False]
    assert len(report["failures"]) == 1 and report["failures"][0].startswith(f"rung {last} (")


@pytest.mark.parametrize("value", [float("nan"), None])
def test_a_rung_with_no_predicted_vmaf_is_refused_not_passed(
    analysed: Analysed, tmp_path: Path, value: float | None
) -> None:
    """A rung with nothing to check against cannot fail: verify marked it ok and exited 0."""
    doc = json.loads(analysed.ladder_json.read_text(encoding="utf-8"))
    doc["rungs"][0]["predicted"]["vmaf"] = value
    doctored = tmp_path / "doctored.ladder.json"
    doctored.write_text(json.dumps(doc), encoding="utf-8")  # NaN as JSON's NaN, as Python reads it
    r = invoke("verify", str(doctored), str(analysed.clip), "--cache-dir", str(analysed.cache), "-q")
    assert r.exit_code == 2, r.output
    said = f"error: {doctored}: rungs/0: no predicted VMAF to verify against; "
    assert r.stderr.strip() == said + "make the ladder again with pertitle analyze"


def test_no_color_in_a_terminal_gives_plain_lines_and_no_escape_codes(
    analysed: Analysed, tmp_path: Path
) -> None:
    """NO_COLOR means what it means for batch: no escape code at all (no colour, no bold, no
    cursor control), and progress as plain lines, as without a terminal."""
    args = ["verify", str(analysed.ladder_json), str(analysed.clip), "-j", "2"]
    n = len(analysed.doc["rungs"])
    # In the same terminal without NO_COLOR: a live bar and styles (so the terminal is one).
    code, shown = run_in_terminal([*args, "--cache-dir", str(tmp_path / "a")], env={})
    assert code == 0, shown.decode(errors="replace")
    assert b"\x1b[?25l" in shown and b"\x1b[1m" in shown  # the bar hides the cursor; bold headers

    code, shown = run_in_terminal([*args, "--cache-dir", str(tmp_path / "b")], env={"NO_COLOR": "1"})
    assert code == 0, shown.decode(errors="replace")
    assert b"\x1b" not in shown and b"\x9b" not in shown
    lines = shown.decode().splitlines()
    assert f"encode+score: {n} jobs" in lines
    assert any(line.startswith(f"[{n}/{n}] ") and line.endswith(")") for line in lines)
    assert f"PASS: all {n} rungs are within tolerance" in lines


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (None, "ladder file not found"),
        ("{not json", "invalid JSON at line 1"),
        ('{"schema": "pertitle.ladder/v1", "title": "x"}', "not a valid pertitle.ladder/v1 document"),
        ("- just\n- a list\n", "not a pertitle.ladder/v1 document"),
    ],
)
def test_a_bad_ladder_file_is_one_line_and_exit_2(
    analysed: Analysed, tmp_path: Path, content: str | None, phrase: str
) -> None:
    path = tmp_path / ("ladder.yaml" if content and content.startswith("-") else "ladder.json")
    if content is not None:
        path.write_text(content, encoding="utf-8")
    r = invoke("verify", str(path), str(analysed.clip), "--cache-dir", str(tmp_path / "c"))
    assert r.exit_code == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: ") and phrase in lines[0]


def test_a_bad_title_is_one_line_and_exit_2(analysed: Analysed, tmp_path: Path) -> None:
    r = invoke("verify", str(analysed.ladder_json), str(tmp_path / "missing.mp4"))
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'missing.mp4'}: no such file; check the path"
    ]


def test_a_cache_dir_that_is_a_file_is_one_line_and_exit_2(analysed: Analysed, tmp_path: Path) -> None:
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("x", encoding="utf-8")
    for argv in (
        ["verify", str(analysed.ladder_json), str(analysed.clip)],
        [
            "compare",
            str(analysed.clip),
            "--ladder",
            str(analysed.ladder_json),
            "--reference",
            "apple_hls_h264",
        ],
        ["analyze", str(analysed.clip), "--heights", "180", "--crfs", "30,40"],
    ):
        r = invoke(*argv, "--cache-dir", str(not_a_dir), "-q")
        assert r.exit_code == 2, r.output
        assert r.stderr.strip().splitlines() == [
            f"error: --cache-dir: {not_a_dir} is a file, not a directory"
        ]


def test_compare_with_apple_hls_capped_to_the_clip(analysed: Analysed) -> None:
    r = invoke(
        "compare",
        str(analysed.clip),
        "--ladder",
        str(analysed.ladder_json),
        "--reference",
        "apple_hls_h264",
        "--cache-dir",
        str(analysed.cache),
        "-j",
        "2",
        "--json",
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert list(doc) == [
        "schema",
        "title",
        "source",
        "ladder",
        "reference",
        "bd_rate",
        "bd_vmaf",
        "bits_saved_pct",
        "reference_kbps_at_ladder_best",
        "settings",
        "warnings",
    ]
    assert doc["schema"] == "pertitle.compare/v1" and doc["title"] == "pattern"
    assert any("encoded at that size, keeping their bitrates" in w for w in doc["warnings"])
    assert set(doc["source"]) == {"path", "width", "height", "fps", "duration_s"}
    assert (doc["source"]["width"], doc["source"]["height"]) == (320, 180)
    rung_keys = {
        "width",
        "height",
        "target_kbps",
        "bitrate_kbps",
        "peak_bitrate_kbps",
        "vmaf",
        "psnr",
        "ssim",
    }
    for side in ("ladder", "reference"):
        assert set(doc[side]) == {"name", "measured", "total_kbps", "best"}
        # The best rung is the one with the highest VMAF, as measured.
        top = max(doc[side]["measured"], key=lambda x: x["vmaf"])
        assert doc[side]["best"] == {k: top[k] for k in ("width", "height", "bitrate_kbps", "vmaf")}
        for rung in doc[side]["measured"]:
            assert set(rung) == rung_keys
            assert rung["width"] <= 320 and rung["height"] <= 180
            assert rung["bitrate_kbps"] > 0 and 0 < rung["vmaf"] <= 100
        assert doc[side]["total_kbps"] == pytest.approx(
            sum(x["bitrate_kbps"] for x in doc[side]["measured"]), abs=0.1
        )
    assert doc["reference"]["name"] == "Apple HLS H.264"
    # Apple's nine rungs, every one above 180p encoded at the clip's own size with its own bitrate.
    assert [x["target_kbps"] for x in doc["reference"]["measured"]] == [
        145,
        365,
        730,
        1100,
        2000,
        3000,
        4500,
        6000,
        7800,
    ]
    assert {(x["width"], x["height"]) for x in doc["reference"]["measured"]} == {(320, 180)}
    assert len(doc["ladder"]["measured"]) == len(analysed.doc["rungs"])

    bd = doc["bd_rate"]
    assert set(bd) == {"vmaf_pct", "psnr_pct", "vmaf_range", "psnr_range", "vmaf_switching_pct", "reasons"}
    if bd["vmaf_pct"] is not None:
        # The range BD-rate averages over is where both ladders' VMAF curves reach.
        lo, hi = bd["vmaf_range"]
        for side in ("ladder", "reference"):
            vmafs = [x["vmaf"] for x in doc[side]["measured"]]
            assert min(vmafs) <= lo + 1e-3 and hi <= max(vmafs) + 1e-3
        assert lo == pytest.approx(
            max(min(x["vmaf"] for x in doc[s]["measured"]) for s in ("ladder", "reference")), abs=1e-3
        )
    # What the reference needs for the ladder's best VMAF: within its measured bitrates, or None
    # when the reference never gets there.
    need = doc["reference_kbps_at_ladder_best"]
    ref_rates = [x["bitrate_kbps"] for x in doc["reference"]["measured"]]
    if need is None:
        assert (
            max(x["vmaf"] for x in doc["reference"]["measured"]) < doc["ladder"]["best"]["vmaf"]
            or len({x["bitrate_kbps"] for x in doc["reference"]["measured"]}) < 2
        )
    else:
        assert min(ref_rates) - 0.1 <= need <= max(ref_rates) + 0.1
    for key, label in (("vmaf_pct", "BD-rate (VMAF): "), ("psnr_pct", "BD-rate (PSNR): ")):
        if bd[key] is None:
            assert any(reason.startswith(label) for reason in bd["reasons"])
        else:
            assert isinstance(bd[key], float) and math.isfinite(bd[key])
    if doc["bd_vmaf"] is None:
        assert any(reason.startswith("BD-VMAF: ") for reason in bd["reasons"])
    assert doc["bits_saved_pct"] is None or isinstance(doc["bits_saved_pct"], float)
    s = doc["settings"]
    assert (s["codec"], s["preset"], s["reference_codec"], s["reference_preset"]) == (
        "h264",
        "veryfast",
        "h264",
        "veryfast",
    )
    assert (s["maxrate_factor"], s["bufsize_factor"], s["bd_min_points"]) == (1.5, 2.0, 4)

    # The terminal view says the same, n/a with its reason where there is no number.
    r = invoke(
        "compare",
        str(analysed.clip),
        "--ladder",
        str(analysed.ladder_json),
        "--cache-dir",
        str(analysed.cache),
    )
    assert r.exit_code == 0, r.output
    out = " ".join(r.stdout.split())
    assert "reference: Apple HLS H.264" in out and "BD-rate (VMAF)" in out
    best = doc["ladder"]["best"]
    assert "best rung, ladder" in out
    assert (
        f"VMAF {best['vmaf']:.2f} at {best['bitrate_kbps']:.0f} kbps ({best['width']}x{best['height']})"
        in out
    )
    assert "reference at the ladder's best VMAF" in out
    if bd["vmaf_pct"] is None:
        assert "n/a: BD-rate (VMAF):" in out
    assert "encoded at that size, keeping their bitrates" in " ".join(r.stderr.split())  # a warning


def _retitled(analysed: Analysed, path: Path, title: str) -> Path:
    """The analysed ladder document under another title (a hand-edited or hostile document)."""
    doc = json.loads(analysed.ladder_json.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**doc, "title": title}), encoding="utf-8")
    return path


def test_verify_shows_file_names_as_they_are(analysed: Analysed, tmp_path: Path) -> None:
    """File names are text: brackets are not Rich markup and `:100:` is not an emoji code."""
    ladder = tmp_path / "lad[bold]der:100:.json"
    ladder.write_bytes(analysed.ladder_json.read_bytes())
    clip = tmp_path / "ti[italic]tle.mp4"
    clip.write_bytes(analysed.clip.read_bytes())
    r = invoke("verify", str(ladder), str(clip), "--cache-dir", str(analysed.cache), "-j", "2")
    assert r.exit_code == 0, r.output
    out = " ".join(r.stdout.split())
    assert "ti[italic]tle: lad[bold]der:100:.json verified on the whole title" in out


def test_compare_shows_document_titles_as_they_are(analysed: Analysed, tmp_path: Path) -> None:
    """A document's title is text: `[/z]`, which Rich would reject as markup after every encode
    ran, and styles or emoji codes that would change what it shows, all come out as written."""
    ours = _retitled(analysed, tmp_path / "ours.json", "[/z]")
    theirs = _retitled(analysed, tmp_path / "theirs.json", "[bold red]evil[/] :100:")
    clip = tmp_path / "pat[bold]tern.mp4"
    clip.write_bytes(analysed.clip.read_bytes())
    r = invoke(
        "compare", str(clip), "--ladder", str(ours), "--reference", str(theirs),
        "--cache-dir", str(analysed.cache), "-j", "2",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    out = " ".join(r.stdout.split())
    assert "ladder: per-title ([/z])" in out
    assert "reference: per-title ([bold red]evil[/] :100:)" in out
    assert "pat[bold]tern: ladder against reference" in out


def test_compare_sends_no_control_characters_from_a_document(analysed: Analysed, tmp_path: Path) -> None:
    """A title holding an escape sequence and a newline is shown with them visible, on one line."""
    ours = _retitled(analysed, tmp_path / "ours.json", "evil \x1b[31mESC\nnext")
    r = invoke(
        "compare", str(analysed.clip), "--ladder", str(ours), "--reference", str(analysed.ladder_json),
        "--cache-dir", str(analysed.cache), "-j", "2",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.stdout
    assert "ladder: per-title (evil \\x1b[31mESC\\nnext)" in [line.strip() for line in r.stdout.splitlines()]


def test_a_ladder_compared_with_itself_reads_the_same(analysed: Analysed) -> None:
    """Zero, as shown, is neither better nor worse, and has no sign."""
    ladder = str(analysed.ladder_json)
    r = invoke(
        "compare", str(analysed.clip), "--ladder", ladder, "--reference", ladder,
        "--cache-dir", str(analysed.cache), "-j", "2",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    rows = {}
    for line in r.stdout.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 2:
            rows[cells[0]] = cells[1]
    assert rows["BD-rate (VMAF)"] == "0.00% (same)"
    assert rows["BD-rate (PSNR)"] == "0.00% (same)"
    assert rows["bits saved at equal VMAF"] == "0.00% (same)"
    assert rows["BD-VMAF (quality at equal bitrate)"] == "0.00 VMAF"
    assert "-0.00" not in r.stdout and "+0.00" not in r.stdout


def test_compare_with_a_bad_reference_is_one_line_and_exit_2(analysed: Analysed) -> None:
    r = invoke("compare", str(analysed.clip), "--ladder", str(analysed.ladder_json), "--reference", "nope")
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: nope: reference ladder not found")
    assert "apple_hls_h264" in lines[0]


@pytest.mark.parametrize("rate_control", ["abr2pass", "capped_crf"])
def test_emitted_commands_run_without_pertitle_and_hit_the_targets(
    analysed: Analysed, tmp_path: Path, rate_control: str
) -> None:
    script = tmp_path / "renditions.sh"
    r = invoke(
        "analyze",
        str(analysed.clip),
        *(f"--{k}={v}" for k, v in GRID.items()),
        f"--rate-control={rate_control}",
        "--cache-dir",
        str(analysed.cache),
        "-j",
        "2",
        "-q",
        "--emit-commands",
        str(script),
        "--out",
        str(tmp_path / "doc"),
    )
    assert r.exit_code == 0, r.output
    text = script.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "#!/bin/sh" and "set -e" in lines
    commands = [shlex.split(line) for line in lines if line.startswith(shlex.quote(analysed.ffmpeg.path))]
    rungs = [line for line in lines if line.startswith("# rung ")]
    assert len(commands) == len(rungs) * (2 if rate_control == "abr2pass" else 1)
    assert all(c[c.index("-i") + 1] == str(analysed.clip.resolve()) for c in commands)

    work = tmp_path / "out"
    work.mkdir()
    done = subprocess.run(["bash", str(script)], cwd=work, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    made = sorted(p.name for p in work.iterdir())
    assert not [name for name in made if ".pass" in name]  # pass logs are cleaned up

    # The script makes exactly this run's rungs (the deployed-encode check may move the top of the
    # ladder differently for each rate control).
    doc = json.loads(next((tmp_path / "doc").glob("*.ladder.json")).read_text(encoding="utf-8"))
    expected = [f"pattern_{x['width']}x{x['height']}_{x['bitrate_kbps']:.0f}k_h264.mp4" for x in doc["rungs"]]
    assert made == sorted(expected)
    for rung, name in zip(doc["rungs"], expected, strict=True):
        stats = stream_stats(str(work / name))
        assert stats.frames == 48
        assert stats.bitrate_kbps == pytest.approx(rung["bitrate_kbps"], rel=0.15), name


@pytest.mark.parametrize(("field", "value"), [("codec", "hevc"), ("preset", "ludicrous")])
def test_a_rung_encoded_other_than_its_settings_say_is_refused_by_verify_and_compare(
    analysed: Analysed, tmp_path: Path, field: str, value: str
) -> None:
    doc = json.loads(analysed.ladder_json.read_text(encoding="utf-8"))
    doc["rungs"][0][field] = value
    edited = tmp_path / "edited.ladder.json"
    edited.write_text(json.dumps(doc), encoding="utf-8")
    for argv in (
        ["verify", str(edited), str(analysed.clip)],
        ["compare", str(analysed.clip), "--ladder", str(edited)],
    ):
        r = invoke(*argv, "--cache-dir", str(analysed.cache), "-q")
        assert r.exit_code == 2, r.output
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, r.stderr
        assert lines[0].startswith("error: ") and value in lines[0] and f"settings.{field}" in lines[0]


def test_compare_warns_about_a_ladder_made_for_another_title_and_rungs_above_it(
    analysed: Analysed, tmp_path: Path
) -> None:
    doc = json.loads(analysed.ladder_json.read_text(encoding="utf-8"))
    doc["source"]["width"], doc["source"]["height"] = 640, 360
    top = doc["rungs"][-1]
    doc["rungs"].append({**top, "width": 640, "height": 360, "bitrate_kbps": top["bitrate_kbps"] * 1.5})
    doc["rungs"][-1]["maxrate_kbps"] = doc["rungs"][-1]["bitrate_kbps"] * 1.5
    other = tmp_path / "other.ladder.json"
    other.write_text(json.dumps(doc), encoding="utf-8")
    r = invoke(
        "compare", str(analysed.clip), "--ladder", str(other), "--reference", str(analysed.ladder_json),
        "--cache-dir", str(analysed.cache), "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    warnings = json.loads(r.stdout)["warnings"]
    assert any("made for a 640x360 source; this title is 320x180" in w for w in warnings), warnings
    # A ladder document as the reference keeps its rungs' own maxrate and bufsize, and says so.
    s = json.loads(r.stdout)["settings"]
    assert s["reference_vbv"] == "maxrate and bufsize of the reference document's rungs"
    assert (s["maxrate_factor"], s["bufsize_factor"]) == (None, None)
    assert any("1 rung larger than the title's 320x180 is encoded upscaled: 640x360" in w for w in warnings)
    # The document holds them, and stderr says them too: a script keeping only stdout still logs them.
    assert [f"warning: {w}" for w in warnings] == r.stderr.strip().splitlines()

    r = invoke("verify", str(other), str(analysed.clip), "--cache-dir", str(analysed.cache), "--json")
    warnings = json.loads(r.stdout)["warnings"]
    assert any("encoded upscaled: 640x360" in w for w in warnings), warnings
    assert [f"warning: {w}" for w in warnings] == r.stderr.strip().splitlines()

    # Without --json the same lines, on stderr too: the report on stdout had held them (compare's
    # as "note:"), where the README says warnings go to stderr.
    for command in (
        ["verify", str(other), str(analysed.clip)],
        ["compare", str(analysed.clip), "--ladder", str(other), "--reference", str(analysed.ladder_json)],
    ):
        r = invoke(*command, "--cache-dir", str(analysed.cache))
        assert r.exit_code in (0, 1), r.output
        said = [line for line in r.stderr.splitlines() if line.startswith("warning: ")]
        assert any("encoded upscaled: 640x360" in line for line in said), r.stderr
        assert "encoded upscaled" not in r.stdout and "note: " not in r.stdout.replace("note: rung", "")


def test_a_ladder_compared_with_itself_saves_nothing_and_never_minus_zero(analysed: Analysed) -> None:
    same = str(analysed.ladder_json)
    r = invoke(
        "compare",
        str(analysed.clip),
        "--ladder",
        same,
        "--reference",
        same,
        "--cache-dir",
        str(analysed.cache),
        "--json",
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    for value in (doc["bits_saved_pct"], doc["bd_rate"]["vmaf_pct"], doc["bd_vmaf"]):
        assert value is None or (value == 0 and math.copysign(1.0, value) == 1.0), doc


def test_empty_names_are_said_to_be_empty(analysed: Analysed) -> None:
    for argv, needle in (
        (["compare", str(analysed.clip), "--ladder", ""], "the ladder is an empty name"),
        (["compare", str(analysed.clip), "--ladder", str(analysed.ladder_json), "--reference", " "], "empty"),
    ):
        r = invoke(*argv, "-q")
        assert r.exit_code == 2, r.output
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], r.stderr
