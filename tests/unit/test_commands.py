"""Golden argv of every builder in pertitle.ffmpeg.commands, and filtergraph escaping.

The expected lists are written out in full: a change to any flag shows up here as a diff to review.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from pertitle.ffmpeg.commands import (
    applied_vbv,
    encode_argv,
    escape_filter_value,
    file_arg,
    gop_frames,
    in_context_argv,
    measure_argv,
    prepare_argv,
    ssim_downsample,
)
from pertitle.models import EncodeSpec, SampleWindow

HEAD = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
NORM = "scale=640:360:flags=bicubic,setsar=1,format=yuv420p"
LOSSLESS_OUT = [
    "-map",
    "[out]",
    "-an",
    "-sn",
    "-dn",
    "-c:v",
    "libx264",
    "-qp",
    "0",
    "-preset",
    "ultrafast",
    "-threads",
    "2",
    "-fps_mode",
    "passthrough",
    "-f",
    "matroska",
    "ref.mkv",
]


# --- escape_filter_value --------------------------------------------------------------------------


def test_escape_matches_the_ffmpeg_filters_documentation_example() -> None:
    """ffmpeg-filters(1), "Notes on filtergraph escaping": the drawtext text value
    `this is a 'string': may contain one, or more, special characters` escaped for an option value
    (level 1) and then for the filtergraph (level 2) reads, character for character:"""
    text = "this is a 'string': may contain one, or more, special characters"
    expected = r"this is a \\\'string\\\'\\: may contain one\, or more\, special characters"
    assert escape_filter_value(text) == expected


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("/tmp/plain/vmaf.json", "/tmp/plain/vmaf.json"),
        ("/tmp/my dir/vmaf log.json", "/tmp/my dir/vmaf log.json"),  # spaces pass through
        ("/tmp/it's/vmaf.json", r"/tmp/it\\\'s/vmaf.json"),  # quote: \' then \\\'
        ("C:/x/vmaf.json", r"C\\:/x/vmaf.json"),  # colon: \: then \\:
        ("/tmp/[run 1]/vmaf.json", r"/tmp/\[run 1\]/vmaf.json"),  # brackets: level 2 only
        ("/tmp/a,b;c/vmaf.json", r"/tmp/a\,b\;c/vmaf.json"),  # comma, semicolon: level 2 only
        ("C:\\logs\\v.json", r"C\\:\\\\logs\\\\v.json"),  # backslash: \\ then \\\\
        ("/t/it's: [a], b; c.json", r"/t/it\\\'s\\: \[a\]\, b\; c.json"),
    ],
)
def test_escape_paths(raw: str, escaped: str) -> None:
    assert escape_filter_value(raw) == escaped


# --- gop_frames ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fps", "gop_s", "frames"),
    [(24.0, 2.0, 48), (30000 / 1001, 2.0, 60), (25.0, 0.01, 1), (0.0, 2.0, 48), (math.nan, 2.0, 48)],
)
def test_gop_frames(fps: float, gop_s: float, frames: int) -> None:
    assert gop_frames(fps, gop_s) == frames


# --- prepare_argv -------------------------------------------------------------------------------


def test_prepare_whole_title() -> None:
    argv = prepare_argv("ffmpeg", "in.mp4", None, 640, 360, "ref.mkv", 2)
    assert argv == [
        *HEAD,
        "-i",
        "in.mp4",
        "-filter_complex",
        f"[0:V:0]{NORM},setpts=PTS-STARTPTS[out]",
        *LOSSLESS_OUT,
    ]


def test_prepare_empty_windows_is_the_whole_title() -> None:
    assert prepare_argv("ffmpeg", "in.mp4", (), 640, 360, "ref.mkv", 2) == prepare_argv(
        "ffmpeg", "in.mp4", None, 640, 360, "ref.mkv", 2
    )


def test_prepare_windows_seek_each_input_and_concatenate() -> None:
    windows = (SampleWindow(0, 14.667, 4.0), SampleWindow(1, 48.0, 4.0), SampleWindow(2, 81.3333, 4.0))
    argv = prepare_argv("ffmpeg", "in put.mp4", windows, 640, 360, "ref.mkv", 2)
    graph = (
        f"[0:V:0]{NORM},setpts=PTS-STARTPTS[w0];"
        f"[1:V:0]{NORM},setpts=PTS-STARTPTS[w1];"
        f"[2:V:0]{NORM},setpts=PTS-STARTPTS[w2];"
        "[w0][w1][w2]concat=n=3:v=1:a=0[out]"
    )
    assert argv == [
        *HEAD,
        "-ss",
        "14.667",
        "-t",
        "4.000",
        "-i",
        "in put.mp4",
        "-ss",
        "48.000",
        "-t",
        "4.000",
        "-i",
        "in put.mp4",
        "-ss",
        "81.333",
        "-t",
        "4.000",
        "-i",
        "in put.mp4",
        "-filter_complex",
        graph,
        *LOSSLESS_OUT,
    ]


# --- encode_argv --------------------------------------------------------------------------------

ENC_IN = [*HEAD, "-i", "ref.mkv", "-map", "0:V:0", "-an", "-sn", "-dn"]
SCALE = ["-vf", "scale=480:270:flags=bicubic,setsar=1,format=yuv420p"]

# Encoder, preset, fixed GOP (48 frames = 2 s at 24 fps) and threads, as each codec takes them.
CODEC_ARGS = {
    "h264": [
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-g",
        "48",
        "-keyint_min",
        "48",
        "-sc_threshold",
        "0",
        "-threads",
        "2",
    ],
    "hevc": [
        "-c:v",
        "libx265",
        "-preset",
        "fast",
        "-g",
        "48",
        "-x265-params",
        "keyint=48:min-keyint=48:scenecut=0:open-gop=0:log-level=error:fps=24/1:pools=2",
    ],
    "av1": ["-c:v", "libsvtav1", "-preset", "8", "-g", "48", "-svtav1-params", "fps-denom=1:fps-num=24:lp=2"],
    "vp9": [
        "-c:v",
        "libvpx-vp9",
        "-deadline",
        "good",
        "-cpu-used",
        "4",
        "-row-mt",
        "1",
        "-g",
        "48",
        "-keyint_min",
        "48",
        "-threads",
        "2",
    ],
}
PRESETS = {"h264": "veryfast", "hevc": "fast", "av1": "8", "vp9": "good"}
CONTAINER = {"h264": "mp4", "hevc": "mp4", "av1": "mkv", "vp9": "mkv"}
# A rendition written as MP4 gets its index up front, and HEVC the 'hvc1' tag Apple's players need.
MP4_FLAGS = {
    "h264": ["-movflags", "+faststart"],
    "hevc": ["-movflags", "+faststart", "-tag:v", "hvc1"],
    "av1": [],
    "vp9": [],
}
CRF_ARGS = {
    "h264": ["-crf", "30"],
    "hevc": ["-crf", "30"],
    "av1": ["-crf", "30"],
    "vp9": ["-crf", "30", "-b:v", "0"],  # libvpx constant quality needs -b:v 0
}
VBV = ["-maxrate", "1201k", "-bufsize", "1600k"]
ABR_ARGS = {
    "h264": ["-b:v", "800k", *VBV],
    "hevc": ["-b:v", "800k", *VBV],
    "av1": ["-b:v", "800k"],  # SVT-AV1 rejects maxrate outside CRF mode
    "vp9": ["-b:v", "800k", *VBV],
}


def crf_spec(codec: str) -> EncodeSpec:
    return EncodeSpec(codec, PRESETS[codec], 480, 270, "crf", crf=30.0)


def abr_spec(codec: str) -> EncodeSpec:
    return EncodeSpec(
        codec,
        PRESETS[codec],
        480,
        270,
        "abr2pass",
        bitrate_kbps=800.4,
        maxrate_kbps=1200.6,
        bufsize_kbps=1600.0,
    )


@pytest.mark.parametrize("codec", ["h264", "hevc", "av1", "vp9"])
def test_encode_crf(codec: str) -> None:
    out = f"out.{CONTAINER[codec]}"
    argv = encode_argv("ffmpeg", "ref.mkv", crf_spec(codec), out, fps=24.0, threads=2)
    tail = ["-fps_mode", "passthrough", *MP4_FLAGS[codec], out]
    assert argv == [*ENC_IN, *SCALE, *CODEC_ARGS[codec], *CRF_ARGS[codec], *tail]


@pytest.mark.parametrize("codec", ["h264", "hevc", "av1", "vp9"])
def test_encode_two_pass_first_pass_discards_output(codec: str) -> None:
    out = f"/w/out.{CONTAINER[codec]}"
    argv = encode_argv(
        "ffmpeg", "ref.mkv", abr_spec(codec), out, fps=24.0, threads=2, pass_number=1, passlog=out + ".pass"
    )
    assert argv == [
        *ENC_IN,
        *SCALE,
        *CODEC_ARGS[codec],
        *ABR_ARGS[codec],
        "-pass",
        "1",
        "-passlogfile",
        out + ".pass",
        "-fps_mode",
        "passthrough",
        "-f",
        "null",
        "-",
    ]


@pytest.mark.parametrize("codec", ["h264", "hevc", "av1", "vp9"])
def test_encode_two_pass_second_pass_writes_output(codec: str) -> None:
    out = f"/w/out.{CONTAINER[codec]}"
    argv = encode_argv(
        "ffmpeg", "ref.mkv", abr_spec(codec), out, fps=24.0, threads=2, pass_number=2, passlog=out + ".pass"
    )
    assert argv == [
        *ENC_IN,
        *SCALE,
        *CODEC_ARGS[codec],
        *ABR_ARGS[codec],
        "-pass",
        "2",
        "-passlogfile",
        out + ".pass",
        "-fps_mode",
        "passthrough",
        *MP4_FLAGS[codec],
        out,
    ]


def test_encode_gop_follows_fps_and_scaler_follows_spec() -> None:
    spec = EncodeSpec("h264", "medium", 1280, 720, "crf", crf=23.5, gop_s=4.0, scaler="lanczos")
    argv = encode_argv("ffmpeg", "src.mkv", spec, "o.mp4", fps=30000 / 1001, threads=1)
    assert argv == [
        *HEAD,
        "-i",
        "src.mkv",
        "-map",
        "0:V:0",
        "-an",
        "-sn",
        "-dn",
        "-vf",
        "scale=1280:720:flags=lanczos,setsar=1,format=yuv420p",
        "-c:v",
        "libx264",
        "-preset",
        "medium",
        "-g",
        "120",
        "-keyint_min",
        "120",
        "-sc_threshold",
        "0",
        "-threads",
        "1",
        "-crf",
        "23.5",
        "-fps_mode",
        "passthrough",
        "-movflags",
        "+faststart",
        "o.mp4",
    ]


# --- measure_argv -------------------------------------------------------------------------------

# Both legs re-timed by frame index in one time base, so libvmaf pairs frame i with frame i.
DIST = "[0:V:0]scale=640:360:flags=bicubic,setsar=1,format=yuv420p,settb=1/1000,setpts=N*1000[d]"
REF = "[1:V:0]setsar=1,format=yuv420p,settb=1/1000,setpts=N*1000[r]"


def test_measure_one_libvmaf_pass_with_psnr_and_ssim() -> None:
    argv = measure_argv(
        "ffmpeg",
        "enc.mp4",
        "ref.mkv",
        640,
        360,
        scaler="bicubic",
        model="vmaf_v0.6.1",
        log_path="/tmp/w/vmaf.json",
        threads=2,
    )
    # 640x360 is under 384 lines, so SSIM runs at full size (no downsampling), on copies of both legs.
    ssim = (
        "[d]split[dv][ds];[r]split[rv][rs];"
        "[ds][rs]ssim=stats_file=/tmp/w/vmaf.json.ssim.log:shortest=1,nullsink;"
    )
    vmaf = (
        "libvmaf=model=version=vmaf_v0.6.1:feature=name=psnr:log_fmt=json:shortest=1"
        ":log_path=/tmp/w/vmaf.json:n_threads=2"
    )
    assert argv == [
        *HEAD,
        "-i",
        "enc.mp4",
        "-i",
        "ref.mkv",
        "-lavfi",
        f"{DIST};{REF};{ssim}[dv][rv]{vmaf}",
        "-f",
        "null",
        "-",
    ]


def test_measure_escapes_the_log_path_and_subsamples() -> None:
    argv = measure_argv(
        "ffmpeg",
        "enc.mp4",
        "ref.mkv",
        640,
        360,
        scaler="lanczos",
        model="vmaf_4k_v0.6.1",
        log_path="/tmp/my dir/it's: [x].json",
        threads=1,
        n_subsample=5,
    )
    graph = (
        DIST.replace("bicubic", "lanczos")
        + f";{REF};[d]split[dv][ds];[r]split[rv][rs];[ds][rs]ssim=stats_file="
        "/tmp/my dir/it\\\\\\'s\\\\: \\[x\\].json.ssim.log:shortest=1,nullsink;"
        "[dv][rv]libvmaf=model=version=vmaf_4k_v0.6.1:feature=name=psnr"
        ":log_fmt=json:shortest=1:log_path=/tmp/my dir/it\\\\\\'s\\\\: \\[x\\].json:n_threads=1:n_subsample=5"
    )
    assert argv == [*HEAD, "-i", "enc.mp4", "-i", "ref.mkv", "-lavfi", graph, "-f", "null", "-"]


def test_measure_n_subsample_one_is_left_out() -> None:
    kwargs = {"scaler": "bicubic", "model": "vmaf_v0.6.1", "log_path": "l.json", "threads": 1}
    one = measure_argv("ffmpeg", "e", "r", 64, 36, n_subsample=1, **kwargs)  # type: ignore[arg-type]
    default = measure_argv("ffmpeg", "e", "r", 64, 36, **kwargs)  # type: ignore[arg-type]
    assert one == default
    assert "n_subsample" not in one[-4]


def test_measure_ssim_is_downsampled_like_wangs_ssim_above_384_lines() -> None:
    """1920x1080: round(1080 / 256) = 4, so both SSIM legs are area-averaged to 480x270 first."""
    kwargs = {"scaler": "bicubic", "model": "vmaf_v0.6.1", "log_path": "l.json", "threads": 1}
    graph = measure_argv("ffmpeg", "e", "r", 1920, 1080, **kwargs)[-4]  # type: ignore[arg-type]
    assert "[ds]scale=480:270:flags=area[dss];[rs]scale=480:270:flags=area[rss];[dss][rss]ssim=" in graph
    assert ssim_downsample(640, 360) == 1
    assert ssim_downsample(854, 480) == 2
    assert ssim_downsample(1392, 1040) == 4


def test_measure_without_ssim_is_libvmaf_alone() -> None:
    kwargs = {"scaler": "bicubic", "model": "vmaf_v0.6.1", "log_path": "l.json", "threads": 1}
    graph = measure_argv("ffmpeg", "e", "r", 64, 36, ssim=False, **kwargs)[-4]  # type: ignore[arg-type]
    with_ssim = measure_argv("ffmpeg", "e", "r", 64, 36, **kwargs)[-4]  # type: ignore[arg-type]
    assert "ssim=" not in graph and "split" not in graph
    assert graph.endswith(
        ";[d][r]libvmaf=model=version=vmaf_v0.6.1:feature=name=psnr:log_fmt=json"
        ":shortest=1:log_path=l.json:n_threads=1"
    )
    assert graph.split(";[d][r]")[0] == with_ssim.split(";[d]split")[0]


# --- in_context_argv -----------------------------------------------------------------------------


def test_in_context_pass_decodes_the_title_once_for_every_two_pass_encode() -> None:
    low = dataclasses.replace(abr_spec("h264"), preset="superfast")
    high = dataclasses.replace(low, width=640, height=360, bitrate_kbps=1500.0)
    split = "[0:V:0]setpts=PTS-STARTPTS,split=2[s0][s1]"
    graph = f"{split};[s0]scale=480:270:flags=bicubic,setsar=1,format=yuv420p[e0];[s1]{NORM}[e1]"
    one_thread = ["-g", "48", "-keyint_min", "48", "-sc_threshold", "0", "-threads", "1"]

    def output(i: int, spec: EncodeSpec, rate: list[str], pass_number: int) -> list[str]:
        tail = ["-f", "null", "-"] if pass_number == 1 else ["-f", "matroska", f"e{i}.mkv"]
        return [
            "-map",
            f"[e{i}]",
            *["-c:v", "libx264", "-preset", "superfast", *one_thread],
            *rate,
            *["-pass", str(pass_number), "-passlogfile", f"p{i}", "-fps_mode", "passthrough"],
            *tail,
        ]

    rates = [["-b:v", "800k", *VBV], ["-b:v", "1500k", *VBV]]
    for pass_number in (1, 2):
        argv = in_context_argv(
            "ffmpeg",
            "title.mov",
            [low, high],
            ["e0.mkv", "e1.mkv"],
            ["p0", "p1"],
            fps=24.0,
            pass_number=pass_number,
        )
        expected = [*HEAD, "-i", "title.mov", "-filter_complex", graph]
        for i, spec in enumerate((low, high)):
            expected += output(i, spec, rates[i], pass_number)
        assert argv == expected


def test_in_context_pass_of_one_spec_has_no_split_and_needs_paths_per_spec() -> None:
    argv = in_context_argv("ffmpeg", "t.mp4", [abr_spec("h264")], ["e.mkv"], ["p"], fps=24.0, pass_number=2)
    assert argv[argv.index("-filter_complex") + 1] == (
        "[0:V:0]setpts=PTS-STARTPTS,scale=480:270:flags=bicubic,setsar=1,format=yuv420p[e0]"
    )
    with pytest.raises(ValueError):
        in_context_argv("ffmpeg", "t.mp4", [abr_spec("h264")], [], ["p"], fps=24.0, pass_number=1)


@pytest.mark.parametrize(
    ("path", "given"),
    [
        ("/abs/x:y.mp4", "/abs/x:y.mp4"),
        ("x:y.mp4", "./x:y.mp4"),
        ("pipe:z.mp4", "./pipe:z.mp4"),
        ("-lead.mp4", "./-lead.mp4"),
        ("dir/x:y.mp4", "dir/x:y.mp4"),  # a slash before the colon: no protocol to mistake
        ("plain.mp4", "plain.mp4"),
        ("./x:y.mp4", "./x:y.mp4"),
    ],
)
def test_file_arg_names_a_file_ffmpeg_cannot_take_for_a_protocol_or_option(path: str, given: str) -> None:
    assert file_arg(path) == given


def test_prepare_argv_without_seeking_reads_from_the_start_and_cuts_by_timestamp() -> None:
    windows = (SampleWindow(0, 1.0, 1.0), SampleWindow(1, 7.0, 0.5))
    argv = prepare_argv("ffmpeg", "in.ts", windows, 640, 360, "ref.mkv", 2, 0.25, seek=False)
    assert "-ss" not in argv
    assert argv.count("-i") == 1
    assert argv[argv.index("-i") - 2 : argv.index("-i")] == ["-t", "7.750"]  # the last window's end
    graph = argv[argv.index("-filter_complex") + 1]
    # Timed from the first frame (not the file's start, which ffmpeg places otherwise for TS).
    head = "[0:V:0]setpts=PTS-STARTPTS,split=2[s0][s1];[s0]trim=start=1.000:duration=1.000,scale=640:360"
    assert graph.startswith(head)
    assert "[s1]trim=start=7.000:duration=0.500," in graph
    assert graph.endswith("[w0][w1]concat=n=2:v=1:a=0[out]")


@pytest.mark.parametrize(
    ("codec", "rate_control", "maxrate", "bufsize", "applied"),
    [
        ("h264", "capped_crf", 150.0, 200.0, (150.0, 200.0)),
        ("h264", "capped_crf", 150.0, None, (None, None)),  # x264 applies VBV only given both
        ("hevc", "capped_crf", None, 200.0, (None, None)),
        ("av1", "capped_crf", 150.0, 200.0, (150.0, None)),  # SVT-AV1 has no buffer
        ("vp9", "capped_crf", 150.0, None, (150.0, None)),  # libvpx caps on maxrate alone
        ("vp9", "capped_crf", 150.0, 200.0, (150.0, 200.0)),
        ("av1", "abr2pass", 150.0, 200.0, (None, None)),  # nor a maxrate in two-pass
        ("h264", "abr2pass", 150.0, 200.0, (150.0, 200.0)),
        ("h264", "crf", 150.0, 200.0, (None, None)),
    ],
)
def test_applied_vbv_is_what_each_encoder_takes(
    codec: str, rate_control: str, maxrate: float | None, bufsize: float | None, applied: tuple[Any, Any]
) -> None:
    assert applied_vbv(codec, rate_control, maxrate, bufsize) == applied


def test_svt_av1_is_told_the_frame_rate_up_to_240_fps_only() -> None:
    spec = EncodeSpec("av1", "8", 320, 180, "crf", crf=30)
    told = encode_argv("ffmpeg", "in.mp4", spec, "out.mkv", fps=240.0, threads=1)
    assert "fps-denom=1:fps-num=240:lp=1" in told
    above = encode_argv("ffmpeg", "in.mp4", spec, "out.mkv", fps=480.0, threads=1)
    assert "lp=1" in above and not any("fps-num" in a for a in above)
