"""Terminal report, chart and progress sink: rendered to plain text and checked by hand."""

from __future__ import annotations

import dataclasses
import io
import re
import threading
import time

import pytest
from rich.console import Console

from pertitle.models import (
    Crossover,
    Hull,
    Ladder,
    MediaInfo,
    Quality,
    RdPoint,
    Rung,
    SampleWindow,
    Timings,
    TitleResult,
)
from pertitle.report import printable
from pertitle.report.terminal import ProgressSink, ascii_chart, render_result

ANSI = re.compile(r"\x1b\[")


def _point(w: int, h: int, crf: float, kbps: float, vmaf: float) -> RdPoint:
    return RdPoint(width=w, height=h, crf=crf, bitrate_kbps=kbps, vmaf=vmaf, psnr=30 + vmaf / 10, ssim=0.9)


def _rung(w: int, h: int, kbps: float, crf: float, vmaf: float, hull_vmaf: float) -> Rung:
    return Rung(
        width=w,
        height=h,
        bitrate_kbps=kbps,
        maxrate_kbps=kbps * 1.5,
        bufsize_kbps=kbps * 2,
        codec="h264",
        preset="medium",
        crf=crf,
        predicted=Quality(vmaf=vmaf, psnr=38.25, ssim=0.9712),
        hull_predicted=Quality(vmaf=hull_vmaf, psnr=38.5, ssim=0.975),
        predicted_bitrate_kbps=kbps * 1.02,  # the deployed encode a little over its target
    )


def _result() -> TitleResult:
    p360 = [_point(640, 360, 33, 180, 52.0), _point(640, 360, 28, 330, 66.0), _point(640, 360, 23, 610, 74.0)]
    p540 = [
        _point(960, 540, 33, 400, 63.0),
        _point(960, 540, 28, 760, 78.0),
        _point(960, 540, 23, 1400, 86.0),
    ]
    p720 = [_point(1280, 720, 28, 1300, 87.0), _point(1280, 720, 23, 2600, 94.0)]
    vertices = (p360[0], p360[1], p540[1], p720[0], p720[1])
    dominated = (p360[2], p540[0], p540[2])
    return TitleResult(
        title="demo [clip]",
        source=MediaInfo(
            path="/media/demo.mp4",
            width=1280,
            height=720,
            display_aspect=16 / 9,
            fps=24000 / 1001,
            duration_s=60.0,
            frame_count=1438,
            pix_fmt="yuv420p",
            bit_depth=8,
            rotation_deg=90,
            codec="h264",
            size_bytes=12_345_678,
        ),
        settings={"codec": "libx264", "preset": "medium"},
        tool={"ffmpeg": "7.0.2"},
        samples=(SampleWindow(0, 10.0, 4.0), SampleWindow(1, 30.0, 4.0)),
        full_pass=False,
        points=tuple(p360 + p540 + p720),
        hull=Hull(
            metric="vmaf",
            vertices=vertices,
            dominated=dominated,
            crossovers=(Crossover(360, 540, 512.0), Crossover(540, 720, 1180.0)),
        ),
        ladder=Ladder(
            rungs=(
                _rung(640, 360, 300, 28.6, 64.2, 65.1),
                _rung(960, 540, 700, 28.4, 76.9, 77.3),
                _rung(1280, 720, 1400, 27.7, 87.8, 88.0),
            ),
            gave_way=("max_ratio 2.0 relaxed between rungs 2 and 3",),
        ),
        timings=Timings(probe_s=0.2, prepare_s=1.1, encode_measure_s=80.3, calibrate_s=12.0, total_s=95.0),
        encodes=11,
        cache_hits=4,
    )


def _render(result: TitleResult) -> str:
    out = io.StringIO()
    render_result(result, Console(file=out, width=120, no_color=True, force_terminal=False))
    return out.getvalue()


def test_render_result_shows_ladder_rows_chart_legend_and_no_escape_codes() -> None:
    text = _render(_result())
    assert not ANSI.search(text)
    rows = [line.split() for line in text.splitlines()]
    assert ["1", "640x360", "300", "306", "450", "600", "28.6", "64.2", "38.25", "0.9712", "65.1"] in rows
    assert ["2", "960x540", "700", "714", "1050", "1400", "28.4", "76.9", "38.25", "0.9712", "77.3"] in rows
    assert [
        "3",
        "1280x720",
        "1400",
        "1428",
        "2100",
        "2800",
        "27.7",
        "87.8",
        "38.25",
        "0.9712",
        "88.0",
    ] in rows
    assert "warning: max_ratio 2.0 relaxed between rungs 2 and 3" in text
    assert "540p overtakes 360p at 512 kbps" in text
    # the hull's own sizes, from its vertices: 360p at 180 and 330, 540p at 760, 720p at 1300 and 2600
    assert ["640x360", "180-330", "kbps", "(2", "points)"] in rows
    assert ["960x540", "760", "kbps", "(1", "point)"] in rows
    assert ["1280x720", "1300-2600", "kbps", "(2", "points)"] in rows
    assert "720p overtakes 540p at 1180 kbps" in text
    assert "o/O 640x360" in text and "x/X 960x540" in text and "s/S 1280x720" in text
    assert "1-3 chosen rungs" in text
    assert "VMAF vs bitrate (log scale)" in text
    assert "demo [clip]" in text  # printed as text, not eaten as markup


def test_the_ladder_caption_names_how_the_rungs_are_deployed() -> None:
    result = _result()
    assert "what the deployed two-pass encode averaged" in " ".join(_render(result).split())
    capped = dataclasses.replace(result, settings={**result.settings, "deploy_rate_control": "capped_crf"})
    assert "what the deployed capped-CRF encode averaged" in " ".join(_render(capped).split())


def test_an_av1_two_pass_ladder_shows_no_limits_its_encoder_was_not_given() -> None:
    # SVT-AV1's two-pass takes neither maxrate nor bufsize: the document keeps the constraints'
    # values, the table shows "-" rather than limits no encode had.
    result = _result()
    rungs = tuple(dataclasses.replace(r, codec="av1", preset="8") for r in result.ladder.rungs)
    av1 = dataclasses.replace(result, ladder=dataclasses.replace(result.ladder, rungs=rungs))
    rows = [line.split() for line in _render(av1).splitlines()]
    assert ["1", "640x360", "300", "306", "-", "-", "28.6", "64.2", "38.25", "0.9712", "65.1"] in rows


def test_the_grid_line_counts_what_fast_read_off_the_curves() -> None:
    result = _result()
    points = (dataclasses.replace(result.points[0], estimated=True), *result.points[1:])
    text = _render(dataclasses.replace(result, points=points))
    assert "3 resolutions x 3 CRFs grid, 8 points (7 measured, 1 read off the curves);" in text


def test_render_result_summarises_source_and_measurement() -> None:
    text = _render(_result())
    assert "/media/demo.mp4" in text
    assert "1280x720" in text and "23.976 fps" in text and "h264" in text
    assert "yuv420p, 8-bit" in text and "90°" in text
    assert "10.0-14.0 s, 30.0-34.0 s" in text
    assert "640x360, 960x540, 1280x720; CRF 23, 28, 33" in text
    assert "3 resolutions x 3 CRFs grid, 8 points;" in text  # 720p was not probed at CRF 33
    assert "libx264, preset medium" in text
    assert "11 (4 from cache)" in text
    assert "encode+measure 80.3 s" in text and "total 95.0 s" in text


def test_render_result_whole_title_and_empty_ladder() -> None:
    base = _result()
    result = dataclasses.replace(base, full_pass=True, samples=(), ladder=Ladder(rungs=()))
    text = _render(result)
    assert "whole title (60.0 s (1:00))" in text
    assert "no rungs were selected" in text


# Hand check for width 21, height 7, x over 100..10000 kbps (log), y over 50..100:
#   y ticks: (height-1)//3 = 2 intervals, raw step 25 -> step 25, ticks 50/75/100 on rows 6/3/0;
#   labels are 3 wide, so plot column c is at string index 3 + 2 + c.
#   (1000, 70): column (3-2)/(4-2)*20 = 10, row 6 - (20/50)*6 = 3.6 -> 4 -> lines[4][15].
#   (100, 50) -> column 0, row 6 -> lines[6][5]; (10000, 100) -> column 20, row 0 -> lines[0][25].
#   Hull (100,50)-(1000,70) at its midpoint: column 5, row 6 - 1.2 = 4.8 -> 5 -> lines[5][10].
def test_ascii_chart_places_markers_in_hand_checked_cells() -> None:
    lines = ascii_chart(
        {"a": [(100, 50), (1000, 70)], "b": [(10000, 100)]},
        hull=[(100, 50), (1000, 70)],
        rungs=[(10000, 100)],
        width=21,
        height=7,
    )
    assert lines[0].startswith("100 ┤") and lines[3].startswith(" 75 ┤") and lines[6].startswith(" 50 ┤")
    assert lines[4][15] == "O"  # series "a" on the hull
    assert lines[6][5] == "O"
    assert lines[5][10] == "."  # the hull line between them
    assert lines[0][25] == "1"  # the rung wins over series "b"'s "x"
    assert lines[7] == "    └" + "┬" + "─" * 19 + "┬"  # decade ticks, every other one on so narrow a chart
    assert lines[8].split() == ["100", "10000", "kbps", "(log)"]
    legend = " ".join(lines[9:])
    assert "o/O a" in legend and "x/X b" in legend and "1 chosen rung" in legend


def test_ascii_chart_uses_lowercase_off_hull_and_linear_x() -> None:
    lines = ascii_chart({"a": [(0, 50), (10, 100)]}, hull=[], rungs=[], width=11, height=7, log_x=False)
    assert lines[6][5] == "o" and lines[0][15] == "o"


def test_ascii_chart_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="log scale"):
        ascii_chart({"a": [(0, 50)]}, [], [], 20, 5)
    with pytest.raises(ValueError, match="at least"):
        ascii_chart({"a": [(1, 50)]}, [], [], 4, 5)
    with pytest.raises(ValueError, match="non-finite"):
        ascii_chart({"a": [(1, float("nan"))]}, [], [], 20, 5)


def test_progress_sink_plain_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    now = [0.0]
    console = Console(file=out, width=80, force_terminal=False)
    with ProgressSink(console, total=12, description="encode+measure", clock=lambda: now[0]) as sink:
        for n in range(1, 4):
            now[0] = 3.0 * n
            sink.advance(f"encoded 640x360 crf {20 + n}")
        sink.set_total(4)
        now[0] = 20.0
        sink.advance("encoded 960x540\ncrf 28")
    lines = out.getvalue().splitlines()
    assert lines == [
        "encode+measure: 12 jobs",
        "[ 1/12] encoded 640x360 crf 21 (eta 33s)",
        "[ 2/12] encoded 640x360 crf 22 (eta 30s)",
        "[ 3/12] encoded 640x360 crf 23 (eta 27s)",
        "[4/4] encoded 960x540 crf 28 (done in 20s)",
    ]
    assert not ANSI.search(out.getvalue())


def test_progress_sink_is_thread_safe() -> None:
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)

    def slow_clock() -> float:
        # Read between the count and its line: without the lock, other threads count in between.
        time.sleep(0.0005)
        return time.monotonic()

    with ProgressSink(console, total=200, description="jobs", clock=slow_clock) as sink:

        def work() -> None:
            for _ in range(50):
                sink.advance("job")

        workers = [threading.Thread(target=work) for _ in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    counters = [line.split("]")[0] for line in out.getvalue().splitlines()[1:]]
    assert counters == [f"[{n:>3}/200" for n in range(1, 201)]


def test_progress_sink_draws_a_bar_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=True, no_color=False)
    with ProgressSink(console, total=3, description="encoding") as sink:
        for _ in range(3):
            sink.advance("encoded [x]")
    assert "3/3" in out.getvalue() and sink.done == 3


def test_progress_sink_plain_lines_on_a_terminal_with_no_color() -> None:
    """NO_COLOR on a terminal: the plain lines of a CI log, no bar (it hides the cursor and
    rewrites its line)."""
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=True, no_color=True, color_system=None)
    with ProgressSink(console, total=2, description="encoding", clock=lambda: 0.0) as sink:
        sink.advance("encoded a")
        sink.advance("encoded b")
    assert out.getvalue().splitlines() == [
        "encoding: 2 jobs",
        "[1/2] encoded a (eta 0s)",
        "[2/2] encoded b (done in 0s)",
    ]


def test_progress_printer_keeps_counting_past_a_stage_line_within_a_batch() -> None:
    """The lossless reference is decoded (and said so) after the encodes are planned; the count
    of those encodes must go on below that line, not stop with it."""
    from pertitle.clicmd.common import ProgressPrinter
    from pertitle.probes import Event

    out = io.StringIO()
    printer = ProgressPrinter(Console(file=out, width=100, force_terminal=False), quiet=False)
    printer(Event("planned", "encoding and scoring 2 rungs", 0, 2))
    printer(Event("stage", "decoding the probed part of the title once (lossless reference)"))
    printer(Event("done", "encoded a", 1, 2))
    printer(Event("done", "encoded b", 2, 2))
    printer(Event("stage", "choosing the rungs"))
    printer.close()
    lines = out.getvalue().splitlines()
    assert lines[:3] == [
        "encoding and scoring 2 rungs",
        "encode+score: 2 jobs",
        "decoding the probed part of the title once (lossless reference)",
    ]
    assert lines[3].startswith("[1/2] encoded a (eta ") and lines[4].startswith("[2/2] encoded b (done in ")
    assert lines[5:] == ["choosing the rungs"]


def test_render_result_replaces_an_undrawable_chart_with_a_reason() -> None:
    base = _result()
    broken = dataclasses.replace(base.points[0], bitrate_kbps=0.0)
    text = _render(dataclasses.replace(base, points=(broken, *base.points[1:])))
    assert "chart unavailable: cannot plot bitrate 0.0 on a log scale" in text
    assert "1280x720" in text  # the ladder is still there


def test_printable_shows_control_characters_as_escapes() -> None:
    """What a terminal would act on (move, recolour, clear, ring, a new line) is shown instead."""
    assert printable("evil \x1b[31mESC\nnext\tcol\rback\x07\x7f\x9b\u2028") == (
        "evil \\x1b[31mESC\\nnext\\tcol\\rback\\x07\\x7f\\x9b\\u2028"
    )
    assert printable("Straße [x] 日本 ☃") == "Straße [x] 日本 ☃"  # printable text is left alone
    # A right-to-left override would show 'evil\u202ekcod.mp4' as 'evilcod.mp4' written backwards.
    assert printable("evil\u202ekcod.mp4 \u2066x\u2069") == "evil\\u202ekcod.mp4 \\u2066x\\u2069"
    assert printable("שלום \u200f") == "שלום \u200f"  # right-to-left text and its marks stay
    assert printable("x\udcfey") == "x?y"  # a non-UTF-8 byte of a file name, as utf8_text writes it


def test_render_result_shows_control_characters_from_the_document_visibly() -> None:
    """A document's text cannot send escape sequences to the terminal or break a line."""
    base = _result()
    result = dataclasses.replace(
        base,
        title="evil \x1b[31mESC\nnext",
        source=dataclasses.replace(base.source, path="/media/x\x9b2J.mp4", pix_fmt="yuv\x1b]0;t\x07"),
        tool={"ffmpeg": "7\x1b[2J"},
        ladder=dataclasses.replace(base.ladder, gave_way=("a\rb\x1b[Kc",)),
    )
    text = _render(result)
    assert "\x1b" not in text and "\x9b" not in text and "\r" not in text and "\x07" not in text
    assert "pertitle analysis: evil \\x1b[31mESC\\nnext" in text.splitlines()
    assert "/media/x\\x9b2J.mp4" in text and "yuv\\x1b]0;t\\x07, 8-bit" in text
    assert "ffmpeg 7\\x1b[2J" in text
    assert "warning: a\\rb\\x1b[Kc" in text


def test_progress_sink_shows_control_characters_in_labels_visibly() -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=False)
    with ProgressSink(console, total=1, description="jobs", clock=lambda: 0.0) as sink:
        sink.advance("encoded \x1b[31mred\x9b")
    assert out.getvalue().splitlines()[1] == "[1/1] encoded \\x1b[31mred\\x9b (done in 0s)"


def test_signed_numbers_show_no_sign_on_what_rounds_to_zero() -> None:
    from pertitle.clicmd.common import signed

    assert [signed(x, 2) for x in (1.234, -0.5, 0.0, -0.0, -0.004, 0.004, -0.005001)] == [
        "+1.23",
        "-0.50",
        "0.00",
        "0.00",
        "0.00",
        "0.00",
        "-0.01",
    ]
    assert signed(-0.04, 1) == "0.0" and signed(12.0, 0) == "+12"


def test_a_literal_line_stays_one_line_in_a_log() -> None:
    """Off a terminal Rich fits output to 80 columns: a stage line or a note cut in two is no
    longer one line that a CI log can be grepped for."""
    from pertitle.clicmd.common import print_literal

    buffer = io.StringIO()
    console = Console(file=buffer, width=40, no_color=True)
    text = "encoding and scoring 8 h264 rungs of both ladders on the whole title (8 from cache)"
    print_literal(console, text)
    assert buffer.getvalue() == text + "\n"


@pytest.mark.parametrize(
    ("cached", "said"), [(True, "a rerun resumes from them"), (False, "a rerun starts over")]
)
def test_ctrl_c_says_a_rerun_resumes_only_when_results_are_cached(cached: bool, said: str) -> None:
    import typer

    from pertitle.clicmd.common import run_core

    buffer = io.StringIO()
    err = Console(file=buffer, width=200, no_color=True)

    def interrupted(progress: object) -> None:
        raise KeyboardInterrupt

    with pytest.raises(typer.Exit) as exit_info:
        run_core(err, True, "t.mp4", interrupted, cached=cached)
    assert exit_info.value.exit_code == 130
    assert buffer.getvalue().startswith("error: interrupted; ") and said in buffer.getvalue()


def test_force_color_gives_colour_but_no_live_bar_outside_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """GitHub Actions users set FORCE_COLOR=1 for coloured logs: the bar's redraws then filled the
    log with carriage returns and cursor codes. TERM=dumb: Rich does not refresh a bar there, and
    nothing showed until a stage ended. Both get the plain lines."""
    from pertitle.report.terminal import live_display

    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("TERM", raising=False)
    log = io.StringIO()  # not a terminal
    console = Console(file=log, width=100)
    assert console.is_terminal and not live_display(console)  # Rich takes FORCE_COLOR as a terminal
    with ProgressSink(console, total=2, description="encoding", clock=lambda: 0.0) as sink:
        sink.advance("encoded a")
        sink.advance("encoded b")
    assert "\r" not in log.getvalue() and "[2/2] encoded b" in log.getvalue()
    monkeypatch.delenv("FORCE_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert not live_display(Console(file=io.StringIO(), width=100, force_terminal=True))
    monkeypatch.setenv("TERM", "xterm-256color")
    assert live_display(Console(file=io.StringIO(), width=100, force_terminal=True))


@pytest.mark.parametrize("width", [40, 60])
def test_a_narrow_terminal_gets_the_ladder_table_whole(width: int) -> None:
    """At 60 columns Rich cut the cells to '640x3…', '28…' and '38.…': numbers that read as other
    numbers. The table keeps its natural width, and the terminal folds its lines."""
    out = io.StringIO()
    console = Console(file=out, width=width, no_color=True, force_terminal=False)
    render_result(_result(), console)
    rows = [line.split() for line in out.getvalue().splitlines()]
    assert ["1", "640x360", "300", "306", "450", "600", "28.6", "64.2", "38.25", "0.9712", "65.1"] in rows
    assert console.width == width  # the console is as it was, for what follows


def test_the_bar_gives_its_label_way_before_its_counts_and_times() -> None:
    """At 80 columns a long job label squeezed elapsed and ETA to '0:0…'."""
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, no_color=False)
    with ProgressSink(console, total=3, description="encode+score") as sink:
        for _ in range(3):
            sink.advance("1920x1080 2-pass 4500 kbps: 4488 kbps, VMAF 95.12, PSNR 41.20, SSIM 0.9812")
    last = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue()).replace("\r", "\n").splitlines()
    final = [line for line in last if "3/3" in line][-1]
    assert re.search(r"3/3 \d:\d\d:\d\d eta \d:\d\d:\d\d 1920x1080", final), final
