"""`pertitle report`: a saved analysis shown again and written as PNG and self-contained HTML.

One real analysis (lavfi testsrc2, 320x180, 2 s, one height, three CRFs, with the deployed-encode check)
feeds every test; it takes a few seconds on two cores. The HTML is also opened in headless Chromium and
screenshotted, a test skipped only when no Chromium is installed.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from pertitle.cli import app
from pertitle.errors import InputError
from pertitle.ffmpeg import binary
from pertitle.report import serialize
from tests.conftest import run_in_terminal

runner = CliRunner()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ladder JSON of a real analysis of a tiny generated clip."""
    root = tmp_path_factory.mktemp("report")
    clip = root / "pattern.mp4"
    argv = [
        binary.locate(),
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=25:duration=2",
        *("-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p"),
        str(clip),
    ]
    subprocess.run(argv, check=True, capture_output=True, timeout=60)
    result = runner.invoke(
        app,
        [
            "analyze",
            str(clip),
            "--heights",
            "180",
            "--crfs",
            "26,34,42",
            "--preset",
            "veryfast",
            "--out",
            str(root),
            "--cache-dir",
            str(root / "cache"),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    ladder = root / "pattern.ladder.json"
    assert ladder.is_file()
    return ladder


def _doc(ladder: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(ladder.read_text(encoding="utf-8"))
    return doc


def _compare_doc(doc: dict[str, Any]) -> dict[str, Any]:
    """A `pertitle.compare/v1` document as `pertitle compare --json` writes it, numbers made up."""

    def rung(w: int, h: int, kbps: float, vmaf: float) -> dict[str, Any]:
        return {
            "width": w,
            "height": h,
            "target_kbps": kbps,
            "bitrate_kbps": kbps * 1.01,
            "peak_bitrate_kbps": kbps * 1.4,
            "vmaf": vmaf,
            "psnr": 30 + vmaf / 5,
            "ssim": 0.9 + vmaf / 1000,
        }

    ours = [rung(r["width"], r["height"], r["bitrate_kbps"], r["predicted"]["vmaf"]) for r in doc["rungs"]]
    theirs = [rung(320, 180, k, v) for k, v in ((145, 70.0), (365, 84.0), (730, 91.0), (1100, 94.0))]
    return {
        "schema": "pertitle.compare/v1",
        "title": doc["title"],
        "source": doc["source"],
        "ladder": {"name": "per-title", "measured": ours, "total_kbps": sum(r["bitrate_kbps"] for r in ours)},
        "reference": {"name": "Apple HLS H.264", "measured": theirs, "total_kbps": 2340.0},
        "bd_rate": {"vmaf_pct": -31.5, "psnr_pct": None, "reasons": ["PSNR curves overlap too little"]},
        "bd_vmaf": 3.2,
        "bits_saved_pct": 28.0,
        "settings": {},
    }


def _check_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        width, height = im.size
        pixels = np.asarray(im.convert("L"), dtype=float)
    assert 800 <= width <= 3000 and 600 <= height <= 5000, (width, height)
    assert pixels.std() > 10  # lines, text and axes, not one flat colour


# No script at all, no stylesheet link, and no src/href/url() that reaches out of the file.
_EXTERNAL = re.compile(
    r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import""", re.I
)


def _check_self_contained(page: str) -> None:
    assert not _EXTERNAL.search(page), _EXTERNAL.search(page)
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert "@font-face" not in page.lower()
    for src in re.findall(r"""src\s*=\s*["']([^"']*)["']""", page):
        assert src.startswith("data:image/png;base64,"), src[:80]


def _embedded_pngs(page: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_report_shows_the_saved_analysis_in_the_terminal(analysed: Path) -> None:
    result = runner.invoke(app, ["report", str(analysed)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    doc = _doc(analysed)
    assert f"pertitle analysis: {doc['title']}" in out
    assert f"Ladder ({len(doc['rungs'])} rung" in out
    assert "320x180" in out
    assert "VMAF vs bitrate" in out


def test_real_document_round_trips(analysed: Path) -> None:
    doc = _doc(analysed)
    assert serialize.to_document(serialize.from_document(doc)) == doc


def test_report_writes_png_and_self_contained_html(analysed: Path, tmp_path: Path) -> None:
    png, page_path = tmp_path / "out" / "report.png", tmp_path / "out" / "report.html"
    result = runner.invoke(app, ["report", str(analysed), "--html", str(page_path), "--png", str(png), "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # --quiet: files only
    assert f"wrote {png}" in result.stderr and f"wrote {page_path}" in result.stderr
    _check_png(png)
    assert not list(png.parent.glob(".*.tmp"))  # atomic writes leave no temp files behind

    page = page_path.read_text(encoding="utf-8")
    _check_self_contained(page)
    images = _embedded_pngs(page)
    assert len(images) == 2  # rate-quality curves and per-frame VMAF
    assert all(img[:8] == PNG_SIGNATURE for img in images)
    doc = _doc(analysed)
    rows = re.findall(r"<tr>(<td>\d+</td><td>\d+x\d+</td>.*?)</tr>", page)
    assert len(rows) >= len(doc["rungs"])  # the ladder table (and the per-frame table after it)
    for n, rung in enumerate(doc["rungs"], start=1):
        assert (
            f"<td>{n}</td><td>{rung['width']}x{rung['height']}</td><td>{rung['bitrate_kbps']:,.0f}</td>"
            in page
        )
    assert doc["source"]["path"] in page
    assert "Timings" in page and "Settings" in page
    # The hull by resolution: every vertex of the document's hull is counted in one listed span.
    spans = re.findall(r"<li>(\d+)x(\d+): [\d,]+(?:-[\d,]+)? kbps \((\d+) points?\)</li>", page)
    assert sum(int(n) for _, _, n in spans) == len(doc["hull"]["vertices"])
    assert (int(spans[0][0]), int(spans[0][1])) == (
        doc["hull"]["vertices"][0]["width"],
        doc["hull"]["vertices"][0]["height"],
    )


def test_report_reads_yaml_and_overlays_a_comparison_and_a_reference(analysed: Path, tmp_path: Path) -> None:
    compare = tmp_path / "compare.json"
    compare.write_text(json.dumps(_compare_doc(_doc(analysed))), encoding="utf-8")
    yaml_doc = analysed.with_suffix(".yaml")
    assert yaml_doc.is_file()
    png, page_path = tmp_path / "cmp.png", tmp_path / "cmp.html"
    args = ["report", str(yaml_doc), "--compare", str(compare), "--reference", "apple_hls_h264"]
    result = runner.invoke(app, [*args, "--html", str(page_path), "--png", str(png)])
    assert result.exit_code == 0, result.output
    assert "BD-rate on VMAF against Apple HLS H.264: -31.5%" in result.stdout
    # The PNG draws the comparison's measured reference, not --reference's bitrates: said so.
    assert "not drawn: the curves show the compare document's measured Apple HLS H.264" in result.stdout
    _check_png(png)
    page = page_path.read_text(encoding="utf-8")
    _check_self_contained(page)
    assert "Compared with Apple HLS H.264" in page
    assert "-31.50 %" in page
    assert "PSNR curves overlap too little" in page
    assert "Reference ladder: Apple HLS H.264" in page
    # The 1080p reference rungs are capped to the 320x180 source.
    assert "1920x1080" not in page


def test_report_shows_names_from_documents_and_paths_as_they_are(analysed: Path, tmp_path: Path) -> None:
    """Names from a compare document and file names are text, never Rich markup or emoji codes."""
    doc = _compare_doc(_doc(analysed))
    doc["reference"]["name"] = "[/z] ref :100:"
    doc["title"] = "other [bold]title:100:"
    compare = tmp_path / "com[italic]pare:100:.json"
    compare.write_text(json.dumps(doc), encoding="utf-8")
    result = runner.invoke(app, ["report", str(analysed), "--compare", str(compare)])
    assert result.exit_code == 0, result.output
    assert "BD-rate on VMAF against [/z] ref :100:: -31.5%" in result.stdout
    assert f"warning: {compare} compares title 'other [bold]title:100:'" in result.stderr


def test_a_compare_document_of_another_ladder_of_the_title_is_said_to_be_one(
    analysed: Path, tmp_path: Path
) -> None:
    # Several ladders of one title (codecs, constraints) make it easy to pair the wrong files; the
    # report would show the other ladder's BD-rate as this one's.
    doc = _compare_doc(_doc(analysed))
    right = tmp_path / "right.json"
    right.write_text(json.dumps({**doc, "settings": {"codec": "h264"}}), encoding="utf-8")
    result = runner.invoke(app, ["report", str(analysed), "--compare", str(right)])
    assert result.exit_code == 0 and "warning" not in result.stderr, result.stderr

    moved = json.loads(json.dumps(doc))
    moved["ladder"]["measured"][0]["target_kbps"] += 50
    wrong = tmp_path / "rungs.json"
    wrong.write_text(json.dumps(moved), encoding="utf-8")
    result = runner.invoke(app, ["report", str(analysed), "--compare", str(wrong)])
    assert result.exit_code == 0
    assert f"warning: {wrong} compares another ladder: its ladder's rungs are " in result.stderr

    other_codec = tmp_path / "codec.json"
    other_codec.write_text(json.dumps({**doc, "settings": {"codec": "hevc"}}), encoding="utf-8")
    result = runner.invoke(app, ["report", str(analysed), "--compare", str(other_codec)])
    assert "its ladder was encoded in hevc, this ladder is h264" in " ".join(result.stderr.split())


def test_an_error_quotes_the_file_name_as_it_is(tmp_path: Path) -> None:
    missing = tmp_path / "no[/z]pe:100:.json"
    result = runner.invoke(app, ["report", str(missing)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {missing}: "), result.stderr


def test_report_sends_no_control_characters_from_a_document(analysed: Path, tmp_path: Path) -> None:
    """A title holding an escape sequence and a newline is shown with them visible, on one line."""
    hostile = tmp_path / "hostile.json"
    hostile.write_text(json.dumps({**_doc(analysed), "title": "evil \x1b[31mESC\nnext"}), encoding="utf-8")
    result = runner.invoke(app, ["report", str(hostile)], env={"NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout
    assert result.stdout.splitlines()[0] == "pertitle analysis: evil \\x1b[31mESC\\nnext"


def test_an_error_shows_control_characters_of_a_file_name_visibly(tmp_path: Path) -> None:
    """One line, whatever the name holds: a newline or an escape sequence is shown, not obeyed."""
    missing = tmp_path / "no\x1b[31mpe\nx.json"
    result = runner.invoke(app, ["report", str(missing)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "\x1b" not in result.stderr, result.stderr
    assert lines[0].startswith(f"error: {tmp_path}/no\\x1b[31mpe\\nx.json: ")


def test_report_with_no_color_in_a_terminal_sends_no_escape_codes(analysed: Path) -> None:
    """NO_COLOR: no colour and no bold, dim or italic either, as batch does."""
    code, shown = run_in_terminal(["report", str(analysed)], env={})
    assert code == 0 and b"\x1b[1m" in shown  # styled in this terminal without NO_COLOR
    code, shown = run_in_terminal(["report", str(analysed)], env={"NO_COLOR": "1"})
    assert code == 0, shown.decode(errors="replace")
    assert b"\x1b" not in shown
    assert shown.decode().startswith(f"pertitle analysis: {_doc(analysed)['title']}\r\n")


def test_report_shows_a_bd_rate_that_rounds_to_zero_without_a_sign(analysed: Path, tmp_path: Path) -> None:
    doc = _compare_doc(_doc(analysed))
    doc["bd_rate"]["vmaf_pct"] = -0.04
    compare = tmp_path / "compare.json"
    compare.write_text(json.dumps(doc), encoding="utf-8")
    result = runner.invoke(app, ["report", str(analysed), "--compare", str(compare)])
    assert result.exit_code == 0, result.output
    assert "BD-rate on VMAF against Apple HLS H.264: 0.0%" in result.stdout


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="no chromium or chromium-browser binary installed")
def test_html_renders_in_headless_chromium(analysed: Path, tmp_path: Path) -> None:
    page_path = tmp_path / "report.html"
    result = runner.invoke(app, ["report", str(analysed), "--html", str(page_path), "-q"])
    assert result.exit_code == 0, result.output
    shot = tmp_path / "shot.png"
    argv = [
        str(_chromium()),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        f"--screenshot={shot}",
        "--window-size=1200,2400",
        page_path.as_uri(),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert shot.is_file(), proc.stderr[-2000:]
    with Image.open(shot) as im:
        assert im.size == (1200, 2400)
        pixels = np.asarray(im.convert("RGB"), dtype=int)
    not_white = (pixels < 235).any(axis=2)
    assert not_white.mean() > 0.02  # text, tables and the embedded figures were drawn
    # The figures arrived: a good share of the page has colour (the curves, the rung markers).
    saturated = (pixels.max(axis=2) - pixels.min(axis=2)) > 60
    assert saturated.sum() > 500


def _edit_rung(doc: dict[str, Any], path: Path, **values: Any) -> None:
    """The document with its first rung edited by hand (as a user could) and written to `path`."""
    doc["rungs"][0].update(values)
    path.write_text(json.dumps(doc), encoding="utf-8")


def _edit_point(doc: dict[str, Any], path: Path, **values: Any) -> None:
    """The document with its first probe point edited by hand and written to `path`."""
    doc["points"][0].update(values)
    path.write_text(json.dumps(doc), encoding="utf-8")


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda d, p: p.write_text(json.dumps(_compare_doc(d))), "not a pertitle.ladder/v1 document"),
        (lambda d, p: p.write_text(json.dumps({**d, "rungs": []})), "rungs"),
        (lambda d, p: p.write_text("{not json"), "invalid JSON"),
        (lambda d, p: None, "file not found"),
        (lambda d, p: _edit_rung(d, p, width=321), "rungs/0: width of 321x"),
        (lambda d, p: _edit_rung(d, p, bitrate_kbps=math.nan), "rungs/0: bitrate_kbps nan"),
        (lambda d, p: _edit_rung(d, p, bitrate_kbps=1e12), "not within 1-1000000 kbit/s"),
        (lambda d, p: _edit_rung(d, p, maxrate_kbps=1.0), "maxrate_kbps 1 is below its bitrate"),
        (lambda d, p: _edit_rung(d, p, bitrate_kbps=1e5, maxrate_kbps=2e5), "rungs/1: bitrate_kbps"),
        (lambda d, p: _edit_rung(d, p, width=100_000), "rungs/0: width of 100000x"),
        (lambda d, p: _edit_rung(d, p, vmaf_per_frame=[1e308, -1e308, 0]), "rungs/0: vmaf_per_frame"),
        (lambda d, p: _edit_rung(d, p, predicted={**d["rungs"][0]["predicted"], "vmaf": 500}), "0-100"),
        (lambda d, p: _edit_point(d, p, vmaf=-5), "points/0: vmaf -5"),
        (lambda d, p: _edit_point(d, p, bitrate_kbps=1e300), "points/0: bitrate_kbps"),
    ],
    ids=[
        "compare-document",
        "no-rungs",
        "not-json",
        "missing",
        "odd",
        "nan",
        "huge",
        "maxrate",
        "order",
        "wide",
        "per-frame",
        "predicted",
        "point-vmaf",
        "point-rate",
    ],
)
def test_a_bad_document_is_exit_2_and_one_line(
    analysed: Path, tmp_path: Path, make: Any, needle: str
) -> None:
    bad = tmp_path / "bad.json"
    make(_doc(analysed), bad)
    out_png = tmp_path / "never.png"
    result = runner.invoke(app, ["report", str(bad), "--png", str(out_png)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {bad}: ")
    assert needle in lines[0]
    assert result.stdout == ""
    assert not out_png.exists()


def test_a_ladder_document_is_a_reference_for_report_as_for_compare(analysed: Path, tmp_path: Path) -> None:
    page_path = tmp_path / "self.html"
    result = runner.invoke(
        app, ["report", str(analysed), "--reference", str(analysed), "--html", str(page_path)]
    )
    assert result.exit_code == 0, result.output
    assert f"Reference ladder: per-title ({_doc(analysed)['title']})" in page_path.read_text(encoding="utf-8")


def test_bad_compare_or_reference_is_exit_2_and_one_line(analysed: Path, tmp_path: Path) -> None:
    not_compare = tmp_path / "ladder-as-compare.json"
    not_compare.write_text(analysed.read_text(encoding="utf-8"), encoding="utf-8")
    for extra, needle in (
        (["--compare", str(not_compare)], "not a pertitle.compare/v1 document"),
        (["--reference", str(tmp_path / "nope.yaml")], "reference ladder not found"),
        (["--reference", ""], "the reference ladder is an empty name"),  # was '.: Is a directory'
    ):
        result = runner.invoke(app, ["report", str(analysed), *extra])
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], result.stderr


def test_report_never_writes_over_its_input_or_one_output_over_another(
    analysed: Path, tmp_path: Path
) -> None:
    ladder = tmp_path / "ladder.json"
    ladder.write_bytes(analysed.read_bytes())
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    for extra, needle in (
        (["--html", str(ladder)], "is also an input"),
        (["--html", str(tmp_path / "r.out"), "--png", str(tmp_path / "r.out")], "named for two outputs"),
        (["--png", str(tmp_path)], "is a directory"),
        (["--html", str(tmp_path / "a-file" / "r.html")], "a-file is a file, not a directory"),
    ):
        result = runner.invoke(app, ["report", str(ladder), "-q", *extra])
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], result.stderr
    assert ladder.read_bytes() == analysed.read_bytes()
    assert not (tmp_path / "r.out").exists()


def test_report_writes_through_a_symlink_and_refuses_a_device(analysed: Path, tmp_path: Path) -> None:
    target = tmp_path / "target.html"
    target.write_text("original", encoding="utf-8")
    link = tmp_path / "link.html"
    link.symlink_to(target)
    result = runner.invoke(app, ["report", str(analysed), "-q", "--html", str(link)])
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")

    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    result = runner.invoke(app, ["report", str(analysed), "-q", "--png", str(fifo)])
    assert result.exit_code == 2, result.output
    assert "is not a regular file" in result.stderr.strip().splitlines()[0]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)  # still the pipe, not replaced by a file


def test_a_ladder_without_deployed_encode_check_still_reports(analysed: Path, tmp_path: Path) -> None:
    doc = _doc(analysed)
    for rung in doc["rungs"]:
        rung["vmaf_per_frame"] = []
        rung["predicted"]["basis"] = "CRF hull interpolation"
    ladder = tmp_path / "uncalibrated.ladder.json"
    ladder.write_text(json.dumps(doc), encoding="utf-8")
    png, page_path = tmp_path / "u.png", tmp_path / "u.html"
    result = runner.invoke(app, ["report", str(ladder), "--html", str(page_path), "--png", str(png), "-q"])
    assert result.exit_code == 0, result.output
    _check_png(png)
    page = page_path.read_text(encoding="utf-8")
    _check_self_contained(page)
    assert "the rungs were not checked with deployed encodes" in page
    assert len(_embedded_pngs(page)) == 2  # the per-frame figure says why it is empty


def test_comparison_reads_the_bd_range_and_the_reference_cost_of_the_ladder_top() -> None:
    from pertitle.report import plots

    def side(name: str, rungs: list[tuple[float, float]]) -> dict[str, Any]:
        measured = [{"width": 640, "height": 360, "bitrate_kbps": kbps, "vmaf": vmaf} for kbps, vmaf in rungs]
        best = max(measured, key=lambda m: m["vmaf"])
        return {"name": name, "measured": measured, "total_kbps": sum(k for k, _ in rungs), "best": best}

    doc = {
        "schema": "pertitle.compare/v1",
        "title": "t",
        "ladder": side("per-title", [(100.0, 70.0), (300.0, 88.0), (1385.0, 95.55)]),
        "reference": side("Apple HLS H.264", [(150.0, 42.4), (2012.0, 97.84), (7792.0, 99.98)]),
        "bd_rate": {"vmaf_pct": -1.4, "psnr_pct": -5.6, "vmaf_range": [42.367, 95.55], "reasons": []},
        "bd_vmaf": 0.46,
        "bits_saved_pct": 1.9,
        "reference_kbps_at_ladder_best": 1495.0,
    }
    c = plots.comparison_from_document(doc)
    assert c.bd_vmaf_range == (42.367, 95.55) and c.reference_kbps_at_ladder_best == 1495.0
    text = plots._comparison_text(c)
    assert "averaged over VMAF 42.4-95.5" in text  # 95.55 rounds half to even
    assert "best rung VMAF 95.5 at 1,385 kbps; the reference needs 1,495" in text
    assert "linear between rungs" not in text
    doc["bd_rate"]["vmaf_switching_pct"] = -11.11
    assert "  linear between rungs: -11.1%" in plots._comparison_text(plots.comparison_from_document(doc))
    # A document written before compare reported them still reads, without those lines.
    del (
        doc["reference_kbps_at_ladder_best"],
        doc["bd_rate"]["vmaf_range"],
        doc["bd_rate"]["vmaf_switching_pct"],
    )
    old = plots.comparison_from_document(doc)
    assert old.bd_vmaf_range is None and old.reference_kbps_at_ladder_best is None
    assert old.bd_rate_vmaf_switching_pct is None
    assert "averaged over" not in plots._comparison_text(old)
    doc["bd_rate"]["vmaf_range"] = [95.0, 42.0]
    with pytest.raises(InputError, match=r"bd_rate\.vmaf_range: expected \[low, high\] with low <= high"):
        plots.comparison_from_document(doc)
    # Values no measurement gives, as the ladder reader refuses them: they were drawn (or fell off
    # the plot) with exit 0, and an empty list garbled the warning that names the rungs.
    doc["bd_rate"]["vmaf_range"] = [42.0, 95.0]
    for field, value, problem in (
        ("vmaf", 1e308, r"ladder\.measured\[0\]\.vmaf: expected a VMAF score, 0-100"),
        ("bitrate_kbps", -5, r"ladder\.measured\[0\]\.bitrate_kbps: expected a measured bitrate"),
    ):
        edited = json.loads(json.dumps(doc))
        edited["ladder"]["measured"][0][field] = value
        with pytest.raises(InputError, match=problem):
            plots.comparison_from_document(edited)
    # Figures no comparison gives: a BD-rate of 1e300 pushed the legend and the box off the PNG.
    for where, value, problem in (
        (("bd_rate", "vmaf_pct"), 1e300, r"bd_rate\.vmaf_pct: expected a number within -100-10000"),
        (("ladder", "total_kbps"), -5, r"ladder\.total_kbps: expected a number within 0-"),
        (("bd_vmaf",), 500, r"bd_vmaf: expected a number within -100-100"),
    ):
        edited = json.loads(json.dumps(doc))
        at = edited
        for key in where[:-1]:
            at = at[key]
        at[where[-1]] = value
        with pytest.raises(InputError, match=problem):
            plots.comparison_from_document(edited)
    # 416.0 is an integer to the ladder reader, and now to this one.
    edited = json.loads(json.dumps(doc))
    edited["ladder"]["measured"][0]["width"] = float(edited["ladder"]["measured"][0]["width"])
    assert (
        plots.comparison_from_document(edited).ladder.rungs[0].width == doc["ladder"]["measured"][0]["width"]
    )
    # A ladder named after a master's 90-character file: cut to 60 for the legend and the box.
    edited["ladder"]["name"] = "per-title (" + "Big_Buck_Bunny_S01E07_" * 4 + ")"
    named = plots.comparison_from_document(edited).ladder.name
    assert len(named) == 60 and named.endswith("...")
    doc["reference"]["measured"] = []
    with pytest.raises(InputError, match=r"reference\.measured: expected a non-empty list of rungs"):
        plots.comparison_from_document(doc)


def test_rung_labels_never_cover_each_other_when_rungs_crowd_the_top(analysed: Path) -> None:
    """The macro shot's eight rungs, the top three at VMAF 96.9-99.1 within 2.8x of bitrate: each
    label still gets its own place. Before, a label with no free offset fell back
    to the first one and hid the labels of the rungs beside it."""
    from matplotlib.text import Annotation

    from pertitle.report import plots

    doc = _doc(analysed)
    template = doc["rungs"][-1]
    rates = [126.0, 211.0, 355.0, 596.0, 1000.0, 1680.0, 2820.0, 4730.0]
    vmafs = [22.1, 38.2, 58.8, 75.6, 89.4, 96.9, 98.5, 99.1]
    doc["rungs"] = [
        {
            **template,
            "bitrate_kbps": b,
            "maxrate_kbps": 1.5 * b,
            "bufsize_kbps": 2 * b,
            "predicted": {**template["predicted"], "vmaf": v, "bitrate_kbps": b},
            "hull_predicted": {**template["hull_predicted"], "vmaf": v},
        }
        for b, v in zip(rates, vmafs, strict=True)
    ]
    fig = plots.rate_quality_figure(serialize.from_document(doc))
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    labels = [t for t in ax.texts if isinstance(t, Annotation) and t.get_text().startswith("#")]
    assert sorted(t.get_text().split()[0] for t in labels) == [f"#{n}" for n in range(1, 9)]
    boxes = [plots._text_extent(t, renderer) for t in labels]
    axes_box = ax.get_window_extent(renderer)
    for i, a in enumerate(boxes):
        assert axes_box.contains(a.x0, a.y0) and axes_box.contains(a.x1, a.y1), labels[i].get_text()
        for j in range(i + 1, len(boxes)):
            assert not a.overlaps(boxes[j]), (labels[i].get_text(), labels[j].get_text())


def test_a_title_a_figure_cannot_show_as_is_is_drawn_without_warnings(analysed: Path, tmp_path: Path) -> None:
    # CJK the bundled font lacks, a terminal escape and 5000 characters: the figure shows what it
    # can, and stderr holds no matplotlib warnings (only `error:` lines belong there).
    doc = _doc(analysed)
    doc["title"] = "猫の動画 \x1b[31m" + "x" * 5000
    ladder = tmp_path / "odd-title.json"
    ladder.write_text(json.dumps(doc), encoding="utf-8")
    png = tmp_path / "odd.png"
    argv = [sys.executable, "-m", "pertitle", "report", str(ladder), "--png", str(png), "-q"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if not line.startswith("wrote ")] == []
    _check_png(png)


def test_a_matplotlib_config_dir_it_cannot_write_puts_no_line_on_stderr(
    analysed: Path, tmp_path: Path
) -> None:
    # As in a CI container whose home is read-only: matplotlib makes a temporary one and said so
    # in two lines, under -q too. A fresh process, since matplotlib says it at import.
    png = tmp_path / "r.png"
    env = {**os.environ, "MPLCONFIGDIR": "/proc/no-such-dir"}
    run = subprocess.run(
        [sys.executable, "-m", "pertitle", "report", str(analysed), "-q", "--png", str(png)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr.splitlines() == [f"wrote {png}"]
    _check_png(png)


def test_points_fast_read_off_the_curves_are_told_apart_from_encoded_ones(analysed: Path) -> None:
    """--fast reads some points off each size's curve instead of encoding them: the HTML listed
    them under "Measured points" and the PNG drew them as encoded dots."""
    import dataclasses

    from pertitle.report import html, plots, serialize

    result = serialize.from_document(_doc(analysed))
    first = result.points[0]
    points = (dataclasses.replace(first, estimated=True), *result.points[1:])
    result = dataclasses.replace(result, points=points)
    page = html.render_html(result)
    n = len(points)
    assert f"Points ({n}: {n - 1} encoded, 1 read off the curves by --fast)" in page
    assert page.count("<td>read off the curve</td>") == 1 and "Measured points" not in page
    fig = plots.rate_quality_figure(result)
    hollow = [
        c
        for c in fig.axes[0].collections
        if len(c.get_offsets()) == 1 and tuple(c.get_facecolor()[0]) == (1.0, 1.0, 1.0, 1.0)
    ]
    assert [tuple(c.get_offsets()[0]) for c in hollow] == [(first.bitrate_kbps, first.vmaf)]
    assert "read off the curve (--fast)" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_a_reference_alone_is_listed_in_the_terminal_view(analysed: Path) -> None:
    # Without --html/--png, --reference used to be read and then shown nowhere.
    result = runner.invoke(app, ["report", str(analysed), "--reference", "apple_hls_h264"])
    assert result.exit_code == 0, result.output
    width, height = (_doc(analysed)["source"][k] for k in ("width", "height"))
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("Reference Apple HLS H.264"))
    # Every rung of Apple's ladder is above 320x180: each is capped at the source's size.
    assert line.count(f"{width}x{height}@") == 9 and "@145 " in line and "@7800;" in line, line
    assert line.endswith("drawn over the curves with --html/--png"), line


def test_quiet_with_nothing_to_write_is_bad_usage(analysed: Path) -> None:
    result = runner.invoke(app, ["report", str(analysed), "--quiet"])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "--quiet with neither --html nor --png" in result.stderr


def test_report_shows_exactly_what_analyze_showed(analysed: Path, tmp_path: Path) -> None:
    # analyze rendered its in-memory numbers and report the document's rounded ones: a rung that
    # averaged 123.464 kbps (kept as 123.5) read 123 in one and 124 in the other.
    clip = analysed.parent / "pattern.mp4"
    args = ["--heights", "180", "--crfs", "26,34,42", "--preset", "veryfast", "--cache-dir"]
    again = runner.invoke(
        app, ["analyze", str(clip), *args, str(analysed.parent / "cache"), "--out", str(tmp_path)]
    )
    assert again.exit_code == 0, again.output
    shown = runner.invoke(app, ["report", str(tmp_path / "pattern.ladder.json")])
    assert shown.exit_code == 0, shown.output
    assert again.stdout == shown.stdout


def test_a_png_and_an_html_page_are_written_both_or_neither(
    analysed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--png was written, then --html failed (exit 2) and left the new PNG behind. Both are drawn
    first and written as one. A name the filesystem refuses (256 bytes) is said up front; a page
    whose rename fails (EPERM: an immutable file, which root cannot make fail otherwise) takes the
    PNG back with it."""
    png, page = tmp_path / "ok.png", tmp_path / "r.html"
    refused = tmp_path / ("r" * 251 + ".html")
    result = runner.invoke(app, ["report", str(analysed), "-q", "--png", str(png), "--html", str(refused)])
    assert result.exit_code == 2, result.output
    assert "File name too long" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == []

    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        if Path(dst).name == page.name:
            raise PermissionError(1, "Operation not permitted", str(dst))
        real_replace(src, dst)

    with monkeypatch.context() as m:
        m.setattr(os, "replace", replace)
        failed = runner.invoke(app, ["report", str(analysed), "-q", "--png", str(png), "--html", str(page)])
    assert failed.exit_code == 2, failed.output
    assert f"cannot write {page}: Operation not permitted" in " ".join(failed.output.split())
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    both = runner.invoke(app, ["report", str(analysed), "-q", "--png", str(png), "--html", str(page)])
    assert both.exit_code == 0, both.output
    assert png.read_bytes().startswith(PNG_SIGNATURE) and page.is_file()


@pytest.mark.parametrize("option", ["--html", "--png"])
def test_a_report_to_dash_is_refused_not_a_file_named_dash(
    analysed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["report", str(analysed), "-q", option, "-"], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert "give a file name, not '-'" in result.output
    assert not (tmp_path / "-").exists()


def test_text_from_the_document_cannot_restyle_the_page_or_the_table(analysed: Path, tmp_path: Path) -> None:
    """A U+202E in a title reversed the HTML page's heading (the terminal and the PNG show it as an
    escape), and a null score printed 'nan' in the terminal's table where its caption says '-'."""
    doc = _doc(analysed)
    doc["title"] = "report_\u202egpj.exe\x1b[31m"
    doc["rungs"][0]["predicted"]["vmaf"] = None
    edited = tmp_path / "edited.ladder.json"
    edited.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    page = tmp_path / "r.html"
    result = runner.invoke(app, ["report", str(edited), "--html", str(page)], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    text = page.read_text(encoding="utf-8")
    assert "\u202e" not in text and "\x1b" not in text
    assert "report_\\u202egpj.exe\\x1b[31m" in text
    first = next(line for line in result.output.splitlines() if line.lstrip().startswith("1 "))
    assert "nan" not in first and " - " in first
