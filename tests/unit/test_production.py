"""Production encode settings in one place (plan.deployed_spec + commands), the rendition script,
the peak-bitrate measurement, and the pure parts of verify and compare. No ffmpeg runs here.

Argv lists are written out in full: a change to any flag shows up as a diff to review.
"""

from __future__ import annotations

import math
import shlex
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from pertitle.compare import (
    LadderSource,
    MeasuredLadder,
    MeasuredRung,
    PlannedRung,
    bd_summary,
    both_settings,
    cap_ladder,
    production_settings,
    told_apart,
)
from pertitle.config import CODECS, Settings, settings_from_ladder, validate
from pertitle.encode import peak_bitrate_kbps
from pertitle.errors import ConfigError
from pertitle.ffmpeg.commands import (
    applied_vbv,
    describe_rendition,
    encode_argv,
    encoder_frame_rate,
    rendition_commands,
    rendition_name,
    rendition_script,
)
from pertitle.models import EncodeSpec, Measurement, Quality, Rung
from pertitle.pipeline import settings_document
from pertitle.plan import deployed_spec, rung_spec
from pertitle.probes import measurement_from_dict
from pertitle.verify import check_rung, no_more_quality

HEAD = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
SCALE_360 = "scale=640:360:flags=bicubic,setsar=1,format=yuv420p"
X264_GOP_48 = ["-c:v", "libx264", "-preset", "medium", "-g", "48", "-keyint_min", "48", "-sc_threshold", "0"]


def _settings(**kw: object) -> Settings:
    return validate(replace(Settings(), **kw))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# deployed_spec: the one place production settings are decided


def test_deployed_spec_default_is_two_pass_abr_with_vbv_and_a_2s_gop() -> None:
    spec = deployed_spec(Settings(), 640, 360, 800, 1200, 1600, crf=27.5)
    assert spec == EncodeSpec(
        codec="h264",
        preset="medium",
        width=640,
        height=360,
        rate_control="abr2pass",
        crf=None,  # two-pass ignores the CRF, and it stays out of the cache key
        bitrate_kbps=800.0,
        maxrate_kbps=1200.0,
        bufsize_kbps=1600.0,
        gop_s=2.0,
        scaler="bicubic",
    )


def test_deployed_spec_numbers_are_floats_so_cache_keys_match_the_document() -> None:
    # analyze computes maxrate as round(...) (an int); verify reads 1200.0 back from the document.
    a = deployed_spec(Settings(), 640, 360, 800, 1200, 1600)
    b = deployed_spec(Settings(), 640, 360, 800.0, 1200.0, 1600.0)
    assert a == b
    assert all(isinstance(x, float) for x in (a.bitrate_kbps, a.maxrate_kbps, a.bufsize_kbps))


def test_deployed_spec_capped_crf_keeps_the_rung_crf_and_vbv() -> None:
    settings = _settings(deploy_rate_control="capped_crf", preset="veryfast", gop_s=4.0, scaler="lanczos")
    spec = deployed_spec(settings, 1280, 720, 3000, 4500, 6000, crf=23.25)
    assert (spec.rate_control, spec.crf, spec.bitrate_kbps, spec.maxrate_kbps, spec.bufsize_kbps) == (
        "capped_crf",
        23.25,
        3000.0,
        4500.0,
        6000.0,
    )
    assert (spec.preset, spec.gop_s, spec.scaler) == ("veryfast", 4.0, "lanczos")


@pytest.mark.parametrize("codec", ["vp9", "av1"])
def test_codecs_of_whole_crfs_refuse_fractions_and_deploy_whole_crfs(codec: str) -> None:
    # libvpx and SVT-AV1 take an integer CRF: ffmpeg rounded 30.5 to 31, and the document recorded
    # a point at 30.5 that was never encoded (the same bitrate and VMAF as 31).
    with pytest.raises(ConfigError, match=f"crfs: 30.5: {CODECS[codec].encoder} takes whole CRFs only"):
        validate(Settings(codec=codec, crfs=(30.0, 30.5)))
    validate(Settings(codec=codec, crfs=(30.0, 31.0)))
    capped = _settings(codec=codec, deploy_rate_control="capped_crf")
    assert deployed_spec(capped, 640, 360, 800, 1200, 1600, crf=39.91).crf == 40.0
    h264 = _settings(deploy_rate_control="capped_crf")
    assert deployed_spec(h264, 640, 360, 800, 1200, 1600, crf=39.91).crf == 39.91


@pytest.mark.parametrize("crf", [None, math.nan])
def test_capped_crf_without_a_crf_is_a_config_error(crf: float | None) -> None:
    with pytest.raises(ConfigError, match="capped_crf needs a CRF for the 640x360 rung"):
        deployed_spec(_settings(deploy_rate_control="capped_crf"), 640, 360, 800, 1200, 1600, crf=crf)


def test_rung_spec_takes_the_rung_numbers() -> None:
    q = Quality(90.0, 40.0, 0.98)
    rung = Rung(640, 360, 800.0, 1200.0, 1600.0, "h264", "medium", 26.5, q, q)
    assert rung_spec(Settings(), rung) == deployed_spec(Settings(), 640, 360, 800, 1200, 1600)
    capped = rung_spec(_settings(deploy_rate_control="capped_crf"), rung)
    assert (capped.rate_control, capped.crf) == ("capped_crf", 26.5)


def test_deploy_rate_control_is_validated() -> None:
    with pytest.raises(ConfigError, match="deploy_rate_control: 'cbr' is not one of abr2pass, capped_crf"):
        _settings(deploy_rate_control="cbr")


def test_the_ladder_document_records_the_deploy_rate_control() -> None:
    from pertitle.models import Constraints

    doc = settings_document(_settings(deploy_rate_control="capped_crf"), "vmaf_v0.6.1", Constraints())
    assert doc["deploy_rate_control"] == "capped_crf"
    assert "capped CRF" in str(doc["rate_control"])
    assert settings_document(Settings(), "vmaf_v0.6.1", Constraints())["deploy_rate_control"] == "abr2pass"


# --------------------------------------------------------------------------------------------------
# encode_argv for the deployed rate controls (golden)


def test_two_pass_abr_h264_golden() -> None:
    spec = deployed_spec(Settings(), 640, 360, 800, 1200, 1600)
    common = [*HEAD, "-i", "in.mkv", "-map", "0:V:0", "-an", "-sn", "-dn", "-vf", SCALE_360, *X264_GOP_48]
    rate = ["-threads", "2", "-b:v", "800k", "-maxrate", "1200k", "-bufsize", "1600k"]
    p1 = encode_argv(
        "ffmpeg", "in.mkv", spec, "o.mp4", fps=24, threads=2, pass_number=1, passlog="o.mp4.pass"
    )
    p2 = encode_argv(
        "ffmpeg", "in.mkv", spec, "o.mp4", fps=24, threads=2, pass_number=2, passlog="o.mp4.pass"
    )
    passlog = ["-passlogfile", "o.mp4.pass", "-fps_mode", "passthrough"]
    assert p1 == [*common, *rate, "-pass", "1", *passlog, "-f", "null", "-"]
    assert p2 == [*common, *rate, "-pass", "2", *passlog, "-movflags", "+faststart", "o.mp4"]


def test_capped_crf_h264_golden_is_one_pass_crf_with_maxrate_and_bufsize() -> None:
    spec = deployed_spec(_settings(deploy_rate_control="capped_crf"), 640, 360, 800, 1200, 1600, crf=26.5)
    assert encode_argv("ffmpeg", "in.mkv", spec, "o.mp4", fps=24, threads=2) == [
        *HEAD,
        "-i",
        "in.mkv",
        "-map",
        "0:V:0",
        "-an",
        "-sn",
        "-dn",
        "-vf",
        SCALE_360,
        *X264_GOP_48,
        "-threads",
        "2",
        "-crf",
        "26.5",
        "-maxrate",
        "1200k",
        "-bufsize",
        "1600k",
        "-fps_mode",
        "passthrough",
        "-movflags",
        "+faststart",
        "o.mp4",
    ]


@pytest.mark.parametrize(
    ("codec", "rate"),
    [
        ("hevc", ["-crf", "30", "-maxrate", "1200k", "-bufsize", "1600k"]),
        # libvpx constrained quality: with a CRF, -b:v is the cap.
        ("vp9", ["-crf", "30", "-b:v", "1200k", "-bufsize", "1600k"]),
        # SVT-AV1's capped CRF takes a maximum bitrate and no buffer.
        ("av1", ["-crf", "30", "-maxrate", "1200k"]),
    ],
)
def test_capped_crf_rate_arguments_per_codec(codec: str, rate: list[str]) -> None:
    settings = _settings(codec=codec, deploy_rate_control="capped_crf")
    spec = deployed_spec(settings, 640, 360, 800, 1200, 1600, crf=30)
    argv = encode_argv("ffmpeg", "in.mkv", spec, "o.mkv", fps=24, threads=2)
    start = argv.index("-crf")
    assert argv[start : start + len(rate)] == rate
    assert argv[start + len(rate)] == "-fps_mode"
    assert "-pass" not in argv


def test_threads_none_leaves_threading_to_the_encoder() -> None:
    for codec, flag in (("h264", "-threads"), ("vp9", "-threads")):
        spec = deployed_spec(_settings(codec=codec), 640, 360, 800, 1200, 1600)
        assert flag not in encode_argv("ffmpeg", "in", spec, "o", fps=24, threads=None)
        assert flag in encode_argv("ffmpeg", "in", spec, "o", fps=24, threads=3)
    av1 = deployed_spec(_settings(codec="av1"), 640, 360, 800, 1200, 1600)
    assert "fps-denom=1:fps-num=24" in encode_argv("ffmpeg", "in", av1, "o", fps=24, threads=None)
    assert "fps-denom=1:fps-num=24:lp=3" in encode_argv("ffmpeg", "in", av1, "o", fps=24, threads=3)
    hevc = deployed_spec(_settings(codec="hevc"), 640, 360, 800, 1200, 1600)
    params = encode_argv("ffmpeg", "in", hevc, "o", fps=24, threads=None)
    assert "keyint=48:min-keyint=48:scenecut=0:open-gop=0:log-level=error:fps=24/1" in params
    assert "keyint=48:min-keyint=48:scenecut=0:open-gop=0:log-level=error:fps=24/1:pools=3" in encode_argv(
        "ffmpeg", "in", hevc, "o", fps=24, threads=3
    )


def test_svt_av1_keeps_its_gop_in_frames_on_a_varying_rate_title() -> None:
    # SVT-AV1's two-pass undershot with forced keyframes (a 100 kbps rung at 39-64 kbps).
    spec = deployed_spec(_settings(codec="av1"), 640, 360, 800, 1200, 1600)
    counted = encode_argv("ffmpeg", "in", spec, "o", fps=24, threads=1)
    assert encode_argv("ffmpeg", "in", spec, "o", fps=24, threads=1, keyframes_timed=True) == counted
    assert "closed GOP of 48 frames (2 s)" in describe_rendition(spec, 24, keyframes_timed=True)


@pytest.mark.parametrize("codec", ["h264", "hevc", "vp9"])
def test_keyframes_by_time_raise_the_encoders_own_interval_out_of_the_way(codec: str) -> None:
    spec = deployed_spec(_settings(codec=codec), 640, 360, 800, 1200, 1600)
    counted = encode_argv("ffmpeg", "in", spec, "o", fps=24, threads=1)
    timed = encode_argv("ffmpeg", "in", spec, "o", fps=24, threads=1, keyframes_timed=True)
    assert "-force_key_frames" not in counted and "-forced-idr" not in counted
    at = timed.index("-force_key_frames")
    assert (
        timed[at + 1]
        == "expr:if(isnan(prev_forced_t),1,gt(floor((t+0.001)/2),floor((prev_forced_t+0.001)/2)))"
    )
    assert ("-forced-idr" in timed) == (codec in ("h264", "hevc"))  # forced keyframes start closed GOPs
    if codec == "hevc":
        assert any(a.startswith("keyint=480:min-keyint=48:") for a in timed)
    else:
        assert timed[timed.index("-g") + 1] == "480"  # 10x the 48 frames: never before the forced one
    assert "closed GOP of 2 s (keyframes by time" in describe_rendition(spec, 24, keyframes_timed=True)
    assert "closed GOP of 48 frames (2 s)" in describe_rendition(spec, 24)


def test_applied_vbv_is_what_the_encoder_is_given() -> None:
    assert applied_vbv("h264", "abr2pass", 150, 200) == (150, 200)
    assert applied_vbv("vp9", "capped_crf", 150, 200) == (150, 200)
    assert applied_vbv("av1", "abr2pass", 150, 200) == (None, None)  # SVT-AV1: plain two-pass
    assert applied_vbv("av1", "capped_crf", 150, 200) == (150, None)  # a cap, no buffer
    assert applied_vbv("h264", "crf", 150, 200) == (None, None)
    assert applied_vbv("h264", "abr2pass", 150, 0) == (None, None)  # x264 takes maxrate with a buffer only
    assert applied_vbv("hevc", "capped_crf", 150, 0) == (None, None)  # ... in capped CRF too
    assert applied_vbv("vp9", "capped_crf", 150, 0) == (150, None)  # libvpx: a cap on its own


def test_x265_and_svt_av1_are_given_the_titles_average_frame_rate() -> None:
    # A phone's variable-rate video: 120 fps nominal, 29.877 on average. 29.877 = 29877/1000, the
    # nearest fraction with a denominator up to 1001; NTSC's 29.97... is 30000/1001 exactly.
    assert encoder_frame_rate(29.877) == (29877, 1000)
    assert encoder_frame_rate(30000 / 1001) == (30000, 1001)
    assert encoder_frame_rate(math.nan) is None
    hevc = deployed_spec(_settings(codec="hevc"), 640, 360, 800, 1200, 1600)
    assert any(":fps=29877/1000" in a for a in encode_argv("ffmpeg", "in", hevc, "o", fps=29.877, threads=1))
    av1 = deployed_spec(_settings(codec="av1"), 640, 360, 800, 1200, 1600)
    assert "fps-denom=1000:fps-num=29877:lp=1" in encode_argv("ffmpeg", "in", av1, "o", fps=29.877, threads=1)
    # SVT-AV1 takes at most 240 fps: a 1000 fps title keeps the encoder's own reading.
    assert "lp=1" in encode_argv("ffmpeg", "in", av1, "o", fps=1000, threads=1)


# --------------------------------------------------------------------------------------------------
# The rendition commands and script (analyze --emit-commands)


def test_rendition_commands_two_pass_share_one_pass_log_and_leave_threads_alone() -> None:
    spec = deployed_spec(Settings(), 640, 360, 800, 1200, 1600)
    cmds = rendition_commands(
        "/opt/ffmpeg", "/media/title one.mov", spec, fps=25, out_path="t_640x360_800k.mp4"
    )
    assert len(cmds) == 2
    assert cmds[0] == encode_argv(
        "/opt/ffmpeg",
        "/media/title one.mov",
        spec,
        "t_640x360_800k.mp4",
        fps=25,
        threads=None,
        pass_number=1,
        passlog="t_640x360_800k.mp4.pass",
    )
    assert cmds[0][-3:] == ["-f", "null", "-"] and cmds[1][-1] == "t_640x360_800k.mp4"
    assert cmds[1][cmds[1].index("-pass") + 1] == "2"
    assert "-threads" not in cmds[0]
    # A 2 s GOP at 25 fps is 50 frames, closed and fixed.
    assert cmds[0][cmds[0].index("-g") + 1] == "50" and cmds[0][cmds[0].index("-sc_threshold") + 1] == "0"


def test_rendition_commands_capped_crf_is_one_command() -> None:
    spec = deployed_spec(_settings(deploy_rate_control="capped_crf"), 640, 360, 800, 1200, 1600, crf=24)
    (cmd,) = rendition_commands("ffmpeg", "/in.mp4", spec, fps=24, out_path="o.mp4")
    assert cmd == encode_argv("ffmpeg", "/in.mp4", spec, "o.mp4", fps=24, threads=None)


def test_rendition_names() -> None:
    assert (
        rendition_name("film", deployed_spec(Settings(), 640, 360, 800, 1200, 1600))
        == "film_640x360_800k_h264.mp4"
    )
    vp9 = deployed_spec(_settings(codec="vp9"), 1280, 720, 2350.4, 3500, 4700)
    assert rendition_name("film", vp9) == "film_1280x720_2350k_vp9.mkv"


def test_rendition_script_is_set_e_and_one_shlex_line_per_command() -> None:
    specs = [
        deployed_spec(Settings(), 416, 234, 145, 218, 290),
        deployed_spec(Settings(), 640, 360, 365, 548, 730),
    ]
    source = "/media/it's a title.mov"
    script = rendition_script(
        "/opt/ff mpeg", source, specs, fps=24, stem="it's", header=("Source: somewhere",)
    )
    lines = script.splitlines()
    assert lines[0] == "#!/bin/sh"
    assert "# Source: somewhere" in lines
    assert "set -e" in lines
    assert lines.index("set -e") < min(i for i, line in enumerate(lines) if line.startswith("'/opt/ff mpeg'"))
    comments = [line for line in lines if line.startswith("# rung ")]
    assert comments == [
        "# rung 1/2: 416x234 h264 (libx264 preset medium), two-pass average 145 kbps, maxrate 218k, "
        "bufsize 290k, closed GOP of 48 frames (2 s), bicubic scaling",
        "# rung 2/2: 640x360 h264 (libx264 preset medium), two-pass average 365 kbps, maxrate 548k, "
        "bufsize 730k, closed GOP of 48 frames (2 s), bicubic scaling",
    ]
    commands = [shlex.split(line) for line in lines if line.startswith("'/opt/ff mpeg'")]
    # Pinned to one encoder thread, as measured: the encodes the predictions are for.
    expected = [
        *rendition_commands(
            "/opt/ff mpeg", source, specs[0], fps=24, out_path="it's_416x234_145k_h264.mp4", threads=1
        ),
        *rendition_commands(
            "/opt/ff mpeg", source, specs[1], fps=24, out_path="it's_640x360_365k_h264.mp4", threads=1
        ),
    ]
    assert commands == expected
    assert "# slightly: drop the -threads 1 to use it." in lines
    cleanups = [line for line in lines if line.startswith("rm -f -- ")]
    assert cleanups == [
        "rm -f -- 'it'\"'\"'s_416x234_145k_h264.mp4.pass'*",
        "rm -f -- 'it'\"'\"'s_640x360_365k_h264.mp4.pass'*",
    ]
    assert script.endswith("\n")


def test_rendition_script_comments_cannot_end_in_a_command(tmp_path: Path) -> None:
    # A title or path with a newline ended its comment line: the rest ran as a command (touch PWNED).
    # Run by sh with `true` for ffmpeg: the quoted arguments may hold the newline, no comment may.
    evil = "evil\ntouch PWNED\nx"
    spec = deployed_spec(Settings(), 416, 234, 145, 218, 290)
    header = (f"Source: /m/{evil}.mp4",)
    script = rendition_script("true", f"/m/{evil}.mp4", [spec], fps=24, stem=evil, header=header)
    assert "# Source: /m/evil\\ntouch PWNED\\nx.mp4" in script.splitlines()
    (tmp_path / "run.sh").write_text(script, encoding="utf-8")
    run = subprocess.run(["sh", "run.sh"], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(
    ("codec", "pin"),
    [("h264", "-threads 1"), ("hevc", ":pools=1"), ("av1", "lp=1 (-svtav1-params)"), ("vp9", "-threads 1")],
)
def test_rendition_script_pins_each_encoder_as_measured(codec: str, pin: str) -> None:
    spec = deployed_spec(_settings(codec=codec), 640, 360, 365, 548, 730)
    script = rendition_script("ffmpeg", "/m/t.mp4", [spec], fps=24, stem="t")
    assert f"# slightly: drop the {pin} to use it." in script
    name = rendition_name("t", spec)
    assert [
        shlex.split(line) for line in script.splitlines() if line.startswith("ffmpeg")
    ] == rendition_commands("ffmpeg", "/m/t.mp4", spec, fps=24, out_path=name, threads=1)


def test_rendition_script_names_a_title_starting_with_a_dash_as_a_path() -> None:
    spec = deployed_spec(Settings(), 416, 234, 145, 218, 290)
    script = rendition_script("ffmpeg", "/media/-x.mp4", [spec], fps=24, stem="-x")
    commands = [shlex.split(line) for line in script.splitlines() if line.startswith("ffmpeg")]
    assert [argv[-1] for argv in commands] == ["-", "./-x_416x234_145k_h264.mp4"]  # pass 1 to -f null -
    assert "rm -f -- ./-x_416x234_145k_h264.mp4.pass*" in script


def test_vp9_two_pass_says_its_maxrate_is_no_strict_vbv() -> None:
    from pertitle.pipeline import rate_control_text

    spec = deployed_spec(_settings(codec="vp9"), 640, 360, 365, 548, 730)
    script = rendition_script("ffmpeg", "/m/t.mp4", [spec], fps=24, stem="t")
    assert (
        "maxrate 548k, bufsize 730k (libvpx applies them per two-pass section, not as a strict VBV" in script
    )
    assert "not as a strict VBV" in rate_control_text(validate(_settings(codec="vp9")))


def test_rendition_script_says_when_a_codec_deploys_without_vbv() -> None:
    spec = deployed_spec(_settings(codec="av1"), 640, 360, 365, 548, 730)
    script = rendition_script("ffmpeg", "/m/t.mp4", [spec], fps=24, stem="t")
    assert "no VBV (libsvtav1 takes no maxrate in two-pass mode)" in script
    assert "-maxrate" not in script
    assert 'export SVT_LOG="${SVT_LOG:-1}"' in script  # no banner on every pass
    capped = deployed_spec(
        _settings(codec="av1", deploy_rate_control="capped_crf"), 640, 360, 365, 548, 730, crf=40
    )
    script = rendition_script("ffmpeg", "/m/t.mp4", [capped], fps=24, stem="t")
    assert "maxrate 548k (no buffer: libsvtav1 takes none)" in script and "bufsize" not in script
    h264 = deployed_spec(_settings(codec="h264"), 640, 360, 365, 548, 730)
    assert "SVT_LOG" not in rendition_script("ffmpeg", "/m/t.mp4", [h264], fps=24, stem="t")


# --------------------------------------------------------------------------------------------------
# Peak bitrate over GOP-long segments


def test_peak_bitrate_is_the_busiest_segment() -> None:
    # 1 fps, one packet a second: segments [0,2) 2000 B, [2,4) 4000 B, [4,6) 2000 B.
    sizes = [1000, 1000, 3000, 1000, 1000, 1000]
    packets = [(float(t), 1.0, size) for t, size in enumerate(sizes)]
    assert peak_bitrate_kbps(packets, 2.0) == pytest.approx(4000 * 8 / 2 / 1000)  # 16 kbps
    # Presentation order does not matter (B-frames come out of decode order).
    assert peak_bitrate_kbps(list(reversed(packets)), 2.0) == pytest.approx(16.0)
    # One segment as long as the stream: the peak is the average.
    assert peak_bitrate_kbps(packets, 6.0) == pytest.approx(8000 * 8 / 6 / 1000)


def test_a_short_tail_joins_the_segment_before_it() -> None:
    # Packets at 0..4 s, the last 0.5 s long: span 4.5 s; the 0.5 s tail joins [2,4) -> [2,4.5).
    packets = [(0.0, 1.0, 100), (1.0, 1.0, 100), (2.0, 1.0, 100), (3.0, 1.0, 100), (4.0, 0.5, 2000)]
    assert peak_bitrate_kbps(packets, 2.0) == pytest.approx(2200 * 8 / 2.5 / 1000)
    # A tail of at least half a segment stands alone: span 5 s, last segment [4,5) 1 s long.
    packets[-1] = (4.0, 1.0, 2000)
    assert peak_bitrate_kbps(packets, 2.0) == pytest.approx(2000 * 8 / 1.0 / 1000)


def test_a_stream_shorter_than_a_segment_is_one_segment_over_its_own_length() -> None:
    packets = [(i / 24, 1 / 24, 500) for i in range(24)]  # 1 s at 24 fps
    assert peak_bitrate_kbps(packets, 2.0) == pytest.approx(24 * 500 * 8 / 1.0 / 1000)


def test_peak_of_nothing_is_zero_and_a_bad_segment_is_an_error() -> None:
    assert peak_bitrate_kbps([], 2.0) == 0.0
    assert peak_bitrate_kbps([(1.0, 0.0, 100)], 2.0) == 0.0  # no time span
    with pytest.raises(ValueError, match="segment_s must be positive"):
        peak_bitrate_kbps([(0.0, 1.0, 1)], 0.0)


def test_old_cache_entries_without_a_peak_still_load() -> None:
    old = {
        "bitrate_kbps": 800.0,
        "size_bytes": 200000,
        "duration_s": 2.0,
        "frames": 48,
        "vmaf": 90.0,
        "vmaf_hmean": 89.0,
        "vmaf_p1": 80.0,
        "vmaf_p5": 85.0,
        "psnr": 40.0,
        "ssim": 0.98,
        "vmaf_per_frame": [90.0] * 48,
    }
    assert measurement_from_dict(old).peak_bitrate_kbps == 0.0
    assert measurement_from_dict({**old, "peak_bitrate_kbps": 950.5}).peak_bitrate_kbps == 950.5
    for bad in (
        {"bitrate_kbps": "x"},
        {"frames": None},
        {"vmaf": True},
        {"vmaf_per_frame": [90.0, "x"]},
        {"bitrate_kbps": float("nan")},
        {"bitrate_kbps": -3.0},
        {"vmaf": -5.0},
        {"vmaf": float("nan")},
        {"frames": float("inf")},  # was an OverflowError, which no caller expects
        {"size_bytes": -1},
        # Out of its metric's range: served as a hit, it became a ladder its own reader refused.
        {"ssim": 7.0},
        {"psnr": -1.0},
        {"vmaf_p1": 101.0},
        {"vmaf_hmean": float("inf")},
        {"vmaf_per_frame": [90.0] * 47 + [1e308]},
        # Numbers that do not belong together were a hit: 4800 per-frame scores went into the ladder.
        {"vmaf_per_frame": [90.0] * 4800},
        {"frames": 0, "vmaf_per_frame": []},
        {"size_bytes": 1e30},
        {"duration_s": 0.0},
    ):
        with pytest.raises(ValueError):
            measurement_from_dict({**old, **bad})
    for field in ("ssim", "frames", "vmaf"):  # a field missing was a TypeError from Measurement()
        with pytest.raises(ValueError, match=f"{field} is missing"):
            measurement_from_dict({k: v for k, v in old.items() if k != field})


# --------------------------------------------------------------------------------------------------
# verify: the pure checks


def _measurement(kbps: float, vmaf: float, peak: float) -> Measurement:
    return Measurement(
        kbps, int(kbps * 250), 2.0, 48, vmaf, vmaf, vmaf, vmaf, 40.0, 0.98, peak_bitrate_kbps=peak
    )


def _rung(kbps: float = 1000.0, vmaf: float = 90.0) -> Rung:
    q = Quality(vmaf, 40.0, 0.98)
    return Rung(1280, 720, kbps, kbps * 1.5, kbps * 2, "h264", "medium", 25.0, q, q)


def test_a_rung_within_every_limit_passes() -> None:
    assert check_rung(_rung(), _measurement(1050.0, 88.5, 1500.0)) == ((), ())


def test_a_rung_that_measures_no_better_than_the_one_below_gets_a_note() -> None:
    # The sweep's AV1 ladder: 314 kbps at 92.41, then 504 kbps at 92.36 (+60% bits), then 93.22.
    rungs = [_rung(300.0), _rung(500.0), _rung(700.0)]
    measured = [
        _measurement(314.0, 92.41, 320.0),
        _measurement(504.0, 92.36, 510.0),
        _measurement(715.0, 93.22, 720.0),
    ]
    assert no_more_quality(rungs, measured) == {
        1: (
            "VMAF 92.36 at 504 kbps does not rise over the rung below (1280x720: 92.41 at 314 kbps); "
            "61% more bits for no more quality",
        )
    }
    assert no_more_quality(rungs[::2], measured[::2]) == {}
    # A rung not measured (no bits, no bitrate) is left out, not divided by nor sorted on.
    gaps = [
        _measurement(0.0, 0.0, 0.0),
        replace(_measurement(1.0, 90.0, 0.0), bitrate_kbps=math.nan),
        *measured,
    ]
    assert list(no_more_quality([_rung(), _rung(), *rungs], gaps)) == [3]


def test_each_limit_names_its_numbers() -> None:
    problems, _ = check_rung(_rung(), _measurement(1150.0, 87.5, 2400.0))
    assert problems == (
        "VMAF 87.50 is 2.50 below the predicted 90.00 (tolerance 2)",
        "average bitrate 1150 kbps is +15.0% off its target 1000 kbps (limit ±10%)",
        "peak bitrate 2400 kbps over 6 s segments is 2.09x the average 1150 kbps (limit 2x)",
    )


def test_a_bitrate_miss_the_ladder_predicted_is_a_note_not_a_failure() -> None:
    # Target 1000 kbps, but the ladder's deployed-encode check saw the encoder average 1400 kbps
    # (x264 overshoots low targets on very short titles); verify measures 1450: +45% off the
    # target, but 1450/1400 - 1 = +3.6% off the prediction -> a note.
    rung = replace(_rung(), predicted_bitrate_kbps=1400.0)
    problems, notes = check_rung(rung, _measurement(1450.0, 89.0, 1500.0))
    assert problems == ()
    assert notes == (
        "average bitrate 1450 kbps is +45.0% off its target 1000 kbps (limit ±10%), "
        "as the ladder predicted (1400 kbps)",
    )
    # 1600 is +14.3% off the predicted 1400 too: a failure.
    problems, _ = check_rung(rung, _measurement(1600.0, 89.0, 1700.0))
    assert problems == ("average bitrate 1600 kbps is +60.0% off its target 1000 kbps (limit ±10%)",)


def test_limits_are_inclusive_and_the_tolerance_is_an_option() -> None:
    # exactly 2.0 below, exactly 10% under, exactly 2x: all pass
    assert check_rung(_rung(), _measurement(900.0, 88.0, 1800.0))[0] == ()
    assert check_rung(_rung(), _measurement(1000.0, 89.0, 1000.0), tolerance_vmaf=0.5)[0] == (
        "VMAF 89.00 is 1.00 below the predicted 90.00 (tolerance 0.5)",
    )
    # A prediction is kept to 3 decimals: the encode it was read from is no miss at tolerance 0.
    assert check_rung(_rung(vmaf=77.345), _measurement(1000.0, 77.34491, 1000.0), tolerance_vmaf=0)[0] == ()
    assert check_rung(_rung(vmaf=77.345), _measurement(1000.0, 77.3435, 1000.0), tolerance_vmaf=0)[0] != ()


def test_beating_the_prediction_is_a_note_and_missing_data_is_not_a_failure() -> None:
    problems, notes = check_rung(_rung(), _measurement(1000.0, 95.0, 0.0))
    assert problems == ()
    assert notes == (
        "VMAF 95.00 is 5.00 above the predicted 90.00: the prediction is pessimistic",
        "peak bitrate not measured",
    )
    problems, notes = check_rung(_rung(vmaf=math.nan), _measurement(1000.0, 50.0, 1000.0))
    assert problems == () and notes[0].startswith("the ladder holds no predicted VMAF")


def test_settings_come_back_from_the_ladder_document() -> None:
    recorded = settings_document(
        _settings(preset="veryfast", gop_s=4.0, deploy_rate_control="capped_crf", scaler="lanczos"),
        "vmaf_v0.6.1",
        Settings().constraints,
    )
    s = settings_from_ladder(recorded, where="x.json", jobs=3)
    assert (s.codec, s.preset, s.gop_s, s.deploy_rate_control, s.scaler, s.vmaf_model, s.jobs) == (
        "h264",
        "veryfast",
        4.0,
        "capped_crf",
        "lanczos",
        "vmaf_v0.6.1",
        3,
    )
    # A document from before deploy_rate_control existed is two-pass.
    del recorded["deploy_rate_control"]
    assert settings_from_ladder(recorded, where="x.json").deploy_rate_control == "abr2pass"


@pytest.mark.parametrize(("crf", "ok"), [(-5.0, False), (70.0, False), (51.0, True), (26.5, True)])
def test_a_capped_crf_rung_outside_the_codecs_crf_range_is_bad_input(crf: float, ok: bool) -> None:
    # CRF 70 was clamped by x264 (the rung "missed" by 25 VMAF, exit 1), -5 failed the encode.
    recorded = settings_document(
        _settings(deploy_rate_control="capped_crf"), "vmaf_v0.6.1", Settings().constraints
    )
    rung = replace(_rung(), crf=crf)
    if ok:
        assert (
            settings_from_ladder(recorded, where="x.json", rungs=[rung]).deploy_rate_control == "capped_crf"
        )
        return
    with pytest.raises(ConfigError, match=rf"x\.json: rungs/0/crf: {crf:g} is outside h264's CRF range 0-51"):
        settings_from_ladder(recorded, where="x.json", rungs=[rung])
    # A two-pass rung's CRF is the hull's, never given to the encoder: no range to keep.
    two_pass = settings_document(_settings(), "vmaf_v0.6.1", Settings().constraints)
    assert settings_from_ladder(two_pass, where="x.json", rungs=[rung]).deploy_rate_control == "abr2pass"


@pytest.mark.parametrize(
    ("recorded", "message"),
    [
        ({"codec": "mpeg2"}, "x.json: settings.codec: 'mpeg2' is not supported"),
        ({"preset": 5}, "x.json: settings.preset = 5 must be text"),
        ({"gop_s": "two"}, "x.json: settings.gop_s = 'two' must be a number"),
        ({"deploy_rate_control": "cbr"}, "x.json: settings.deploy_rate_control: 'cbr' is not one of"),
    ],
)
def test_bad_recorded_settings_name_the_file_and_field(recorded: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_ladder(recorded, where="x.json")
    assert str(info.value).startswith(message)


# --------------------------------------------------------------------------------------------------
# compare: capping, settings and the BD summary


def _reference_source() -> LadderSource:
    rungs = (
        PlannedRung(416, 234, 145, 218, 290),
        PlannedRung(640, 360, 365, 548, 730),
        PlannedRung(1280, 720, 3000, 4500, 6000),
    )
    return LadderSource(
        "Apple HLS H.264", "reference", "bundled:apple_hls_h264", "h264", rungs, None, "Apple"
    )


def test_reference_rungs_above_the_title_are_capped_and_said_so() -> None:
    capped, notes = cap_ladder(_reference_source(), 640, 360)
    assert [(r.width, r.height, r.bitrate_kbps) for r in capped.rungs] == [
        (416, 234, 145),
        (640, 360, 365),
        (640, 360, 3000),
    ]
    assert notes == (
        "Apple HLS H.264: 1 rung above the title's 640x360 is encoded at that size, keeping its "
        "bitrate: 1280x720 at 3000 kbps",
    )
    assert cap_ladder(_reference_source(), 1920, 1080)[1] == ()


def test_reference_rungs_fitted_to_the_title_s_shape_are_not_called_above_it() -> None:
    # A 4:3 title: the 16:9 boxes below its size hold it at 312x234 and 480x360 (smaller than the
    # title, not capped to it); only the 1280x720 box holds the whole title.
    capped, notes = cap_ladder(_reference_source(), 768, 576)
    assert [(r.width, r.height) for r in capped.rungs] == [(312, 234), (480, 360), (768, 576)]
    assert notes == (
        "Apple HLS H.264: 1 rung above the title's 768x576 is encoded at that size, keeping its "
        "bitrate: 1280x720 at 3000 kbps",
        "Apple HLS H.264: 2 rungs fitted to the title's shape, keeping their bitrates: 416x234 as "
        "312x234 at 145, 640x360 as 480x360 at 365 kbps",
    )


def test_a_box_that_only_meets_the_title_is_fitted_not_capped() -> None:
    # 640x360 holds a 480x360 title as itself, and stands on end as 360x640 for a portrait one:
    # neither is a rung "above the title", as the notes had said.
    for width, height, fitted in ((480, 360, "640x360 as 480x360"), (360, 640, "640x360 as 360x640")):
        _, notes = cap_ladder(_reference_source(), width, height)
        assert fitted in notes[-1] and "fitted to the title's shape" in notes[-1], notes
        assert notes[0].startswith("Apple HLS H.264: 1 rung above the title's"), notes
        assert "1280x720 at 3000" in notes[0]


def test_a_reference_gets_the_tested_preset_only_for_the_same_codec_and_always_two_pass() -> None:
    base = _settings(preset="veryfast", deploy_rate_control="capped_crf")
    ref = production_settings(_reference_source(), base, same_codec_preset="veryfast")
    assert (ref.codec, ref.preset, ref.deploy_rate_control) == ("h264", "veryfast", "abr2pass")
    hevc = replace(_reference_source(), codec="hevc")
    ref = production_settings(hevc, base, same_codec_preset="veryfast")
    assert (ref.codec, ref.effective_preset) == ("hevc", "medium")


def test_two_ladders_of_one_name_are_told_apart() -> None:
    doc = replace(_reference_source(), name="per-title (t16x9)")
    hevc, h264 = _settings(codec="hevc"), _settings(preset="veryfast")
    a, b = told_apart(doc, hevc, doc, h264)
    assert (a.name, b.name) == ("per-title (t16x9), hevc medium", "per-title (t16x9), h264 veryfast")
    a, b = told_apart(doc, h264, doc, h264)
    assert (a.name, b.name) == ("per-title (t16x9), ladder", "per-title (t16x9), reference")
    other = replace(doc, name="Apple HLS H.264")
    assert told_apart(doc, h264, other, h264) == (doc, other)


def test_a_fixed_ladder_takes_the_other_sides_preset_on_either_side() -> None:
    # Given as --ladder against a document made at veryfast, a fixed ladder took medium: BD-rate
    # read +8.5% one way round and -31% the other, measuring the presets.
    document = replace(_reference_source(), name="per-title", settings=_settings(preset="veryfast"))
    fixed = _reference_source()
    base = _settings()  # analyze's default preset: medium
    for test, reference in ((document, fixed), (fixed, document)):
        a, b, notes = both_settings(test, reference, base)
        assert (a.effective_preset, b.effective_preset, notes) == ("veryfast", "veryfast", ())
    slow = replace(document, name="slow", settings=_settings(preset="slow"))
    a, b, notes = both_settings(document, slow, base)
    assert (a.effective_preset, b.effective_preset) == ("veryfast", "slow")
    assert notes == (
        "the ladders are encoded at different h264 presets (per-title: veryfast, slow: slow), as their "
        "documents record: the BD-rate measures the presets as well as the ladders",
    )
    # An AV1 ladder against Apple's HEVC ladder read -44% with no word that codecs were compared.
    av1 = replace(document, name="per-title", settings=_settings(codec="av1"))
    hevc = replace(fixed, name="Apple HLS HEVC", codec="hevc")
    a, b, notes = both_settings(av1, hevc, base)
    assert (a.codec, b.codec) == ("av1", "hevc")
    assert notes == (
        "the ladders are in different codecs (per-title: av1 8, Apple HLS HEVC: hevc medium): the "
        "BD-rate measures the codecs as well as the ladders",
    )


def _measured(name: str, points: list[tuple[float, float, float]]) -> MeasuredLadder:
    spec = deployed_spec(Settings(), 640, 360, 1, 1, 1)
    rungs = tuple(
        MeasuredRung(
            640,
            360,
            kbps,
            spec,
            Measurement(kbps, 1, 2.0, 48, vmaf, vmaf, vmaf, vmaf, psnr, 0.98, peak_bitrate_kbps=kbps),
        )
        for kbps, vmaf, psnr in points
    )
    return MeasuredLadder(name, "reference", name, "h264", "medium", "abr2pass", rungs)


def test_bd_summary_of_a_ladder_that_needs_half_the_bits() -> None:
    ref = _measured("ref", [(250, 60, 32), (500, 75, 36), (1000, 85, 39), (2000, 92, 42)])
    test = _measured("test", [(125, 60, 32), (250, 75, 36), (500, 85, 39), (1000, 92, 42)])
    vmaf, psnr, quality, equal, saved, reasons = bd_summary(test, ref)
    assert vmaf.value_pct == pytest.approx(-50.0)
    assert psnr.value_pct == pytest.approx(-50.0)
    assert quality.value is not None and quality.value > 0
    assert saved == pytest.approx(50.0)
    assert len(equal) == 4 and reasons == ()
    assert test.total_kbps == 1875.0


def test_switching_bd_rate_reads_each_ladder_linearly_between_its_rungs() -> None:
    from pertitle.compare import switching_bd_rate

    ref = _measured("ref", [(250, 60, 32), (500, 75, 36), (1000, 85, 39), (2000, 92, 42)])
    half = _measured("half", [(125, 60, 32), (250, 75, 36), (500, 85, 39), (1000, 92, 42)])
    assert switching_bd_rate(half, ref).value_pct == pytest.approx(-50.0)
    # Rungs on the reference's chords (375 kbps is halfway from 250 to 500: 67.5 VMAF) read the
    # same, though pchip, bending between the reference's rungs, does not.
    on_chords = _measured("chords", [(250, 60, 32), (375, 67.5, 34), (500, 75, 36), (2000, 92, 42)])
    on_chords_with_the_rest = _measured(
        "chords+", [(250, 60, 32), (375, 67.5, 34), (500, 75, 36), (1000, 85, 39), (2000, 92, 42)]
    )
    assert switching_bd_rate(on_chords_with_the_rest, ref).value_pct == pytest.approx(0.0, abs=1e-9)
    assert switching_bd_rate(on_chords, ref).value_pct > 0  # the chord 500 -> 2000 passes under 1000
    assert bd_summary(on_chords_with_the_rest, ref)[0].value_pct != pytest.approx(0.0, abs=0.01)


def test_bd_summary_without_enough_rungs_gives_reasons_not_numbers() -> None:
    ref = _measured("Apple", [(250, 60, 32), (500, 75, 36), (1000, 85, 39), (2000, 92, 42)])
    test = _measured("per-title", [(300, 70, 35), (700, 84, 39)])
    vmaf, psnr, quality, _equal, saved, reasons = bd_summary(test, ref)
    assert (vmaf.value_pct, vmaf.overlap, vmaf.notes) == (None, None, ())
    assert vmaf.value_pct is None and psnr.value_pct is None and quality.value is None
    assert reasons[0] == ("BD-rate (VMAF): per-title has 2 usable point(s) after cleaning; at least 4 needed")
    assert len(reasons) == 3  # VMAF, PSNR, BD-VMAF; bits saved still has a number
    assert saved is not None


def test_the_document_says_av1_rungs_get_no_vbv_in_two_pass() -> None:
    from pertitle.config import Settings, validate
    from pertitle.pipeline import rate_control_text

    assert "with VBV (maxrate, bufsize)" in rate_control_text(validate(Settings(codec="h264")))
    av1 = rate_control_text(validate(Settings(codec="av1")))
    assert "no VBV" in av1 and "with VBV" not in av1
    capped = rate_control_text(validate(Settings(codec="av1", deploy_rate_control="capped_crf")))
    assert "no bufsize" in capped


def test_rungs_smaller_than_the_codec_takes_are_bad_input_before_any_encode() -> None:
    """SVT-AV1 refuses every bitrate-driven mode under 64 px a side: a reference's 64x36 rung
    started the encodes and failed them (exit 1) with SVT's own message. Refused up front now."""
    from pertitle.compare import rung_specs
    from pertitle.errors import InputError

    rungs = (PlannedRung(64, 36, 50, 75, 100), PlannedRung(320, 180, 150, 225, 300))
    av1 = LadderSource("AV1 small", "reference", "lad/av1small.yaml", "av1", rungs)
    with pytest.raises(InputError, match=r"lad/av1small\.yaml: libsvtav1 needs a picture at least 64 px"):
        rung_specs(av1, Settings(codec="av1"))
    assert len(rung_specs(replace(av1, codec="h264"), Settings())) == 2  # x264 takes it


def test_the_reference_reaching_the_ladders_best_vmaf_at_every_rung_says_its_cheapest() -> None:
    """Every reference rung above the ladder's best VMAF (96.16): it was "never reached"; its
    cheapest rung reaches it. Above every rung it is never reached; inside, it is read off."""
    from pertitle.compare import reference_kbps_for

    ref = _measured("ref", [(600, 97.10, 40), (1200, 98.86, 44), (2400, 99.43, 48)])
    assert reference_kbps_for(ref, 96.16) == 600
    assert reference_kbps_for(ref, 99.9) is None
    inside = reference_kbps_for(ref, 97.98)
    assert inside is not None and 600 < inside < 1200  # pchip of log-rate, as BD-rate reads it
    assert reference_kbps_for(_measured("one", [(500, 97.0, 40)]), 96.16) == 500


def test_rungs_of_another_shape_are_said_to_be_stretched_not_upscaled() -> None:
    """A 320x180 ladder on a 180x320 title: as many pixels, stretched to another shape. It was
    called "larger than the title ... encoded upscaled"."""
    from pertitle.models import MediaInfo
    from pertitle.verify import source_mismatch

    def info(w: int, h: int) -> MediaInfo:
        return MediaInfo("x", w, h, w / h, 25.0, 2.0, 50, "yuv420p", 8, 0, "h264", 1)

    said = source_mismatch(info(320, 180), info(180, 320), [(320, 180), (160, 90)])
    assert said[-1] == (
        "2 rungs of another shape than the title's 180x320: its picture is stretched to 320x180, 160x90"
    )
    assert not any("upscaled" in s for s in said)
    # 4:3 under a 16:9 ladder: more pixels, but stretched sideways, which "upscaled" did not say.
    said = source_mismatch(info(320, 180), info(240, 180), [(320, 180), (160, 90)])
    assert said[-1] == (
        "2 rungs of another shape than the title's 240x180: its picture is stretched to 320x180, 160x90"
    )
    assert not any("upscaled" in s for s in said)
    # Even sizes round a small rung's shape: 416x234 is the 854x480 title's shape.
    assert source_mismatch(info(854, 480), info(854, 480), [(416, 234), (854, 480)]) == ()
    # Another file of the same size and length: verify passed it, every rung "pessimistic".
    other = replace(info(854, 480), path="/clips/other.mp4", size_bytes=2)
    assert source_mismatch(replace(info(854, 480), path="/out/x.mp4"), other) == (
        "the ladder was made for x.mp4 (1 byte); this title is other.mp4",
    )
    moved = replace(info(854, 480), path="/elsewhere/x.mp4")  # the same file, moved: no word
    assert source_mismatch(replace(info(854, 480), path="/out/x.mp4"), moved) == ()
    said = source_mismatch(info(640, 360), info(320, 180), [(640, 360), (320, 180)])
    assert said[-1] == "1 rung larger than the title's 320x180 is encoded upscaled: 640x360"
