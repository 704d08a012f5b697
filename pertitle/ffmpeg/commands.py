"""Pure argv builders. Every ffmpeg command pertitle runs is written here, and golden-tested."""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence
from fractions import Fraction

from pertitle.config import CODECS
from pertitle.models import EncodeSpec, SampleWindow
from pertitle.report import printable

# Quiet, non-interactive, overwrite: the runner owns the process and reads stderr only on failure.
_BASE = ("-hide_banner", "-nostdin", "-loglevel", "error", "-y")


def file_arg(path: str) -> str:
    """`path` as ffmpeg (and PyAV) must be given it to read it as a file: a relative name with a
    colon before any slash (`x:y.mp4`, `pipe:z.mp4`) is otherwise taken for a protocol, and one
    that starts with a dash for an option. `./` in front keeps both plain files."""
    if path.startswith("/"):
        return path
    if path.startswith("-") or ":" in path.split("/", 1)[0]:
        return "./" + path
    return path


def escape_filter_value(value: str) -> str:
    """Escape an option value for use inside a filtergraph string (both escaping levels).

    Level 1 (option value): backslash, quote and colon. Level 2 (filtergraph): backslash, quote,
    brackets, comma and semicolon. Paths with any character survive this.
    """
    level1 = "".join("\\" + ch if ch in "\\':" else ch for ch in value)
    return "".join("\\" + ch if ch in "\\'[],;" else ch for ch in level1)


def gop_frames(fps: float, gop_s: float) -> int:
    return max(1, round(fps * gop_s)) if math.isfinite(fps) and fps > 0 else 48


def prepare_argv(
    ffmpeg: str,
    source: str,
    windows: Sequence[SampleWindow] | None,
    width: int,
    height: int,
    out_path: str,
    threads: int,
    start_offset_s: float = 0.0,
    *,
    seek: bool = True,
) -> list[str]:
    """Lossless 8-bit 4:2:0 copy of the probed part of a title (windows concatenated, or all of it).

    Every probe encode reads this instead of the source, so the source is decoded (and seeked,
    rotated, range-converted) once. x264 at qp 0 is mathematically lossless, so the reference for
    scoring is still exactly the decoded source. Windows count from the video's first frame. With
    `seek`, each window is an input seek: cheap, and frame-exact where the container seeks to
    keyframes; input -ss counts from the file's start, so each seek adds `start_offset_s`
    (`MediaInfo`). Without, the title is decoded from its start to the last window's end and
    the windows are cut out by their time from the first frame: MPEG-TS and MPEG-PS seek by
    timestamp and land past the window, or on no keyframe at all (`MediaInfo.seeks_exactly`).
    """
    argv = [ffmpeg, *_BASE]
    legs: list[str] = []
    norm = f"scale={width}:{height}:flags=bicubic,setsar=1,format=yuv420p"
    if windows and seek:
        for w in windows:
            # Input seeking with transcoding is frame-accurate; -t bounds the decode.
            at = w.start_s + start_offset_s
            argv += ["-ss", f"{at:.3f}", "-t", f"{w.duration_s:.3f}", "-i", file_arg(source)]
        for i in range(len(windows)):
            legs.append(f"[{i}:V:0]{norm},setpts=PTS-STARTPTS[w{i}]")
    elif windows:
        end = max(w.start_s + w.duration_s for w in windows) + start_offset_s
        argv += ["-t", f"{end:.3f}", "-i", file_arg(source)]
        split = "".join(f"[s{i}]" for i in range(len(windows)))
        # Timed from the video's first frame: where ffmpeg puts the file's start differs (for
        # MPEG-TS it leaves out the streams that are not used, audio that starts earlier among them).
        legs.append(f"[0:V:0]setpts=PTS-STARTPTS,split={len(windows)}{split}")
        for i, w in enumerate(windows):
            cut = f"trim=start={w.start_s:.3f}:duration={w.duration_s:.3f}"
            legs.append(f"[s{i}]{cut},{norm},setpts=PTS-STARTPTS[w{i}]")
    if windows:
        joined = "".join(f"[w{i}]" for i in range(len(windows)))
        graph = ";".join(legs) + f";{joined}concat=n={len(windows)}:v=1:a=0[out]"
    else:
        argv += ["-i", file_arg(source)]
        graph = f"[0:V:0]{norm},setpts=PTS-STARTPTS[out]"
    argv += ["-filter_complex", graph, "-map", "[out]"]
    return argv + _ultrafast_mkv(["-qp", "0"], threads, out_path)


def _ultrafast_mkv(rate: list[str], threads: int, out_path: str) -> list[str]:
    """Video only, x264 ultrafast at `rate`, frames as they come, into Matroska: the tail of
    pertitle's two whole-title passes (the lossless reference and the complexity pass)."""
    return [
        "-an",
        "-sn",
        "-dn",
        "-c:v",
        "libx264",
        *rate,
        "-preset",
        "ultrafast",
        "-threads",
        str(threads),
        "-fps_mode",
        "passthrough",
        "-f",
        "matroska",
        file_arg(out_path),
    ]


COMPLEXITY_HEIGHT = 180
COMPLEXITY_CRF = 28


def complexity_argv(ffmpeg: str, source: str, out_path: str, threads: int) -> list[str]:
    """A cheap whole-title pass whose bits per second measure how hard each part is to encode:
    the title at 180 lines, x264 ultrafast at a fixed CRF (bits at a fixed quality)."""
    scale = f"scale=-2:{COMPLEXITY_HEIGHT}:flags=fast_bilinear,format=yuv420p"
    head = [ffmpeg, *_BASE, "-i", file_arg(source), "-map", "0:V:0", "-vf", scale]
    return head + _ultrafast_mkv(["-crf", str(COMPLEXITY_CRF)], threads, out_path)


# Encoders of measured points run single-threaded: x264's output changes with its thread count (a
# two-pass rung at 2 threads came out 0.19 VMAF off the same rung at 1), and the scheduler gives a
# job more threads when fewer encodes miss the cache, while cache keys leave thread counts out. At
# one thread a result depends on its key alone, on any machine; the cores go to parallel encodes
# and to libvmaf, which gives the same scores at any thread count.
MEASURED_ENCODER_THREADS = 1


def encoder_frame_rate(fps: float) -> tuple[int, int] | None:
    """The title's average frame rate as the fraction x265 and SVT-AV1 are given, or None.

    ffmpeg hands an encoder the stream's nominal rate, which for a phone's variable-rate video
    is its timestamps' finest step (120 fps for 30 frames a second). x264 and libvpx budget bits
    by timestamps; x265 and SVT-AV1 budget them per frame at that rate, so a two-pass at 100 kbps
    of such a title came out at 31 (x265) and 21 kbps (SVT-AV1), and x265's CRF and VBV moved
    with it. Told the average rate, they land on the target as on a constant-rate title.
    """
    if not (math.isfinite(fps) and fps > 0):
        return None
    rate = Fraction(fps).limit_denominator(1001)
    return rate.numerator, rate.denominator


# Where the frame rate varies, a keyframe every `gop` frames is not one every gop_s seconds: ffmpeg
# forces one on the first frame of each gop_s slot of the timeline instead, and the encoders' own
# interval is raised out of the way (a stretch at up to 10x the average rate gets no extra ones).
_VARYING_RATE_GOP_CAP = 10
# A frame due on a slot's edge is stamped a hair before it in floating point (1.9999999 s).
_KEY_SLACK_S = 0.001


def keyframes_by_time_for(codec: str) -> bool:
    """Whether `codec`'s encodes of a varying-rate title get their keyframes by time. Not SVT-AV1:
    its two-pass rate control undershoots with forced keyframes (a 100 kbps rung of a 30-then-10
    fps title: 64 kbps, and 39 with the interval raised, against 76 without), so its GOP stays a
    count of frames at the average rate, as before."""
    return codec != "av1"


def keyframes_by_time(gop_s: float) -> list[str]:
    """ffmpeg's options that force a keyframe at the first frame of every `gop_s` seconds."""
    slot = f"floor((t+{_KEY_SLACK_S:g})/{gop_s:g})"
    last = f"floor((prev_forced_t+{_KEY_SLACK_S:g})/{gop_s:g})"
    return ["-force_key_frames", f"expr:if(isnan(prev_forced_t),1,gt({slot},{last}))"]


def _codec_args(spec: EncodeSpec, fps: float, threads: int | None, *, by_time: bool = False) -> list[str]:
    """Encoder, preset and the fixed GOP (every gop_s seconds of frames at `fps`, or with `by_time`
    at every gop_s seconds of the timeline); `threads` None leaves threading to the encoder."""
    defaults = CODECS[spec.codec]
    gop = gop_frames(fps, spec.gop_s)
    by_time = by_time and keyframes_by_time_for(spec.codec)
    most = gop * _VARYING_RATE_GOP_CAP if by_time else gop
    args = ["-c:v", defaults.encoder]
    if by_time:
        args += keyframes_by_time(spec.gop_s)
        if spec.codec in ("h264", "hevc"):
            args += ["-forced-idr", "1"]  # a forced keyframe starts a closed GOP
    if spec.codec == "h264":
        # Fixed GOP, no scene-cut keyframes: segments align across rungs as HLS authoring requires.
        args += ["-preset", spec.preset, "-g", str(most), "-keyint_min", str(gop), "-sc_threshold", "0"]
        if threads is not None:
            args += ["-threads", str(threads)]
    elif spec.codec == "hevc":
        args += ["-preset", spec.preset, "-g", str(most)]
        pools = "" if threads is None else f":pools={threads}"
        rate = encoder_frame_rate(fps)
        frame_rate = "" if rate is None else f":fps={rate[0]}/{rate[1]}"
        # open-gop=0: x265 opens GOPs by default (CRA with leading pictures); HLS wants them closed.
        x265 = f"keyint={most}:min-keyint={gop}:scenecut=0:open-gop=0:log-level=error{frame_rate}{pools}"
        args += ["-x265-params", x265]
    elif spec.codec == "av1":
        args += ["-preset", spec.preset, "-g", str(most)]
        rate = encoder_frame_rate(fps)
        told = rate is not None and fps <= defaults.max_told_fps
        svt = [f"fps-denom={rate[1]}", f"fps-num={rate[0]}"] if rate and told else []
        if threads is not None:
            svt.append(f"lp={threads}")
        if svt:
            args += ["-svtav1-params", ":".join(svt)]
    elif spec.codec == "vp9":
        args += ["-deadline", spec.preset, "-cpu-used", "4", "-row-mt", "1", "-g", str(most)]
        args += ["-keyint_min", str(gop)]
        if threads is not None:
            args += ["-threads", str(threads)]
    return args


def applied_vbv(
    codec: str, rate_control: str, maxrate_kbps: float | None, bufsize_kbps: float | None
) -> tuple[float | None, float | None]:
    """(maxrate, bufsize) an encode is really given, None for what its encoder takes none of:
    SVT-AV1 takes no maxrate in two-pass and no buffer at all. The one rule `_rate_args` and the
    reports share, so a ladder table never shows a limit that was not applied."""
    maxrate = maxrate_kbps or None
    bufsize = bufsize_kbps or None
    if rate_control == "crf":
        return None, None
    known = CODECS.get(codec)
    if rate_control == "capped_crf":
        takes = known.capped_vbv if known else "both"
        if takes == "maxrate":
            return maxrate, None
        if takes == "maxrate_and_any_buffer":
            return maxrate, bufsize
        return (maxrate, bufsize) if maxrate and bufsize else (None, None)
    takes_vbv = known.supports_maxrate if known else True
    return (maxrate, bufsize) if takes_vbv and maxrate and bufsize else (None, None)


def _rate_args(spec: EncodeSpec) -> list[str]:
    if spec.rate_control == "crf":
        assert spec.crf is not None
        args = ["-crf", f"{spec.crf:g}"]
        if spec.codec == "vp9":
            args += ["-b:v", "0"]  # constant quality mode in libvpx needs b:v 0
        return args
    maxrate, bufsize = applied_vbv(spec.codec, spec.rate_control, spec.maxrate_kbps, spec.bufsize_kbps)
    if spec.rate_control == "capped_crf":
        assert spec.crf is not None
        args = ["-crf", f"{spec.crf:g}"]
        if maxrate is None:
            return args
        # libvpx "constrained quality": with a CRF, -b:v is the cap, not a target. SVT-AV1 takes a
        # CRF plus a maximum bitrate as its "capped CRF" mode; it has no buffer.
        args += ["-b:v" if spec.codec == "vp9" else "-maxrate", f"{maxrate:.0f}k"]
        return args + (["-bufsize", f"{bufsize:.0f}k"] if bufsize else [])
    assert spec.bitrate_kbps is not None
    args = ["-b:v", f"{spec.bitrate_kbps:.0f}k"]
    if maxrate and bufsize:
        args += ["-maxrate", f"{maxrate:.0f}k", "-bufsize", f"{bufsize:.0f}k"]
    return args


def _scale_filter(spec: EncodeSpec) -> str:
    return f"scale={spec.width}:{spec.height}:flags={spec.scaler},setsar=1,format=yuv420p"


def encode_argv(
    ffmpeg: str,
    input_path: str,
    spec: EncodeSpec,
    out_path: str,
    *,
    fps: float,
    threads: int | None,
    pass_number: int | None = None,
    passlog: str | None = None,
    keyframes_timed: bool = False,
) -> list[str]:
    """One encode of `input_path` at the spec's size and rate control (keyframes placed by time
    with `keyframes_timed`, for a title whose frame rate varies).

    For two-pass (`abr2pass`) call it with pass_number 1 (output discarded) and then 2.
    `threads` None leaves the thread count to the encoder (for commands run elsewhere).
    """
    argv = [ffmpeg, *_BASE, "-i", file_arg(input_path), "-map", "0:V:0", "-an", "-sn", "-dn"]
    argv += ["-vf", _scale_filter(spec)]
    argv += _codec_args(spec, fps, threads, by_time=keyframes_timed) + _rate_args(spec)
    if pass_number is not None:
        assert passlog is not None
        argv += ["-pass", str(pass_number), "-passlogfile", passlog]
    argv += ["-fps_mode", "passthrough"]
    if pass_number == 1:
        argv += ["-f", "null", "-"]
        return argv
    if out_path.endswith(".mp4"):  # a rendition to ship (measured encodes are Matroska)
        # The index up front, for players that start before the whole file is there; Apple's
        # players (HLS) take HEVC only as 'hvc1', where ffmpeg writes 'hev1' by default.
        argv += ["-movflags", "+faststart", *(["-tag:v", "hvc1"] if spec.codec == "hevc" else [])]
    return [*argv, file_arg(out_path)]


def vmaf_model_option(model: str) -> str:
    return f"version={model}"


_RETIME = "settb=1/1000,setpts=N*1000"


def _libvmaf(model: str, log_path: str, threads: int, n_subsample: int) -> str:
    opts = [
        f"model={escape_filter_value(vmaf_model_option(model))}",
        "feature=" + escape_filter_value("name=psnr"),
        "log_fmt=json",
        "shortest=1",
        f"log_path={escape_filter_value(log_path)}",
        f"n_threads={threads}",
    ]
    if n_subsample > 1:
        opts.append(f"n_subsample={n_subsample}")
    return "libvmaf=" + ":".join(opts)


def ssim_log_path(log_path: str) -> str:
    """Where the per-frame SSIM of the libvmaf log at `log_path` is written."""
    return log_path + ".ssim.log"


def ssim_downsample(width: int, height: int) -> int:
    """The automatic downsampling of Wang et al.'s SSIM (and libvmaf's float_ssim): by
    max(1, round(min(w, h) / 256)), so SSIM sees the picture at about a viewer's scale."""
    return max(1, round(min(width, height) / 256))


def _scores(
    tag: str, model: str, log_path: str, threads: int, n_subsample: int, width: int, height: int
) -> str:
    """libvmaf (VMAF, PSNR-Y) on [d<tag>]/[r<tag>], and FFmpeg's SIMD ssim filter on a copy of both.

    libvmaf's own float_ssim is plain C and cost more than VMAF itself at 640x360 (6.2 s against
    2.5 s of CPU per encode of a 9.6 s clip); the ssim filter costs a few percent of that. Both
    legs are downsampled first as float_ssim does, which keeps the two within 0.005 of each other.
    """
    factor = ssim_downsample(width, height)
    ssim = f"ssim=stats_file={escape_filter_value(ssim_log_path(log_path))}:shortest=1,nullsink"
    graph = f"[d{tag}]split[dv{tag}][ds{tag}];[r{tag}]split[rv{tag}][rs{tag}];"
    if factor > 1:
        w, h = max(2, width // factor // 2 * 2), max(2, height // factor // 2 * 2)
        shrink = f"scale={w}:{h}:flags=area"
        graph += f"[ds{tag}]{shrink}[dss{tag}];[rs{tag}]{shrink}[rss{tag}];[dss{tag}][rss{tag}]{ssim};"
    else:
        graph += f"[ds{tag}][rs{tag}]{ssim};"
    return graph + f"[dv{tag}][rv{tag}]{_libvmaf(model, log_path, threads, n_subsample)}"


def _metric_legs(dist_in: str, ref_in: str, ref_width: int, ref_height: int, scaler: str, tag: str) -> str:
    """Upscale the encode to the reference's size and re-time both legs by frame index in one
    time base, so libvmaf pairs frame i with frame i: containers round timestamps differently
    (Matroska to 1 ms), and pairing by rounded time matches neighbouring frames."""
    return (
        f"{dist_in}scale={ref_width}:{ref_height}:flags={scaler},setsar=1,format=yuv420p,{_RETIME}[d{tag}];"
        f"{ref_in}setsar=1,format=yuv420p,{_RETIME}[r{tag}]"
    )


def measure_argv(
    ffmpeg: str,
    distorted: str,
    reference: str,
    ref_width: int,
    ref_height: int,
    *,
    scaler: str,
    model: str,
    log_path: str,
    threads: int,
    n_subsample: int = 1,
    ssim: bool = True,
) -> list[str]:
    """One pass giving VMAF and PSNR-Y per frame (libvmaf, JSON at `log_path`) and SSIM-Y per
    frame (the ssim filter, at `ssim_log_path(log_path)`). `ssim=False` leaves SSIM out, so a
    benchmark can tell what it costs."""
    legs = _metric_legs("[0:V:0]", "[1:V:0]", ref_width, ref_height, scaler, "")
    if ssim:
        scores = _scores("", model, log_path, threads, n_subsample, ref_width, ref_height)
    else:
        scores = f"[d][r]{_libvmaf(model, log_path, threads, n_subsample)}"
    graph = f"{legs};{scores}"
    inputs = ["-i", file_arg(distorted), "-i", file_arg(reference)]
    return [ffmpeg, *_BASE, *inputs, "-lavfi", graph, "-f", "null", "-"]


def _fan_out(head: str, specs: Sequence[EncodeSpec]) -> str:
    """One decoded input (`head`: its pad and any filters, ending where the next filter goes)
    split to every spec's scaler, as pads [e0], [e1], ...: one decode feeds every encoder."""
    if len(specs) == 1:
        return f"{head}{_scale_filter(specs[0])}[e0]"
    graph = f"{head}split={len(specs)}" + "".join(f"[s{i}]" for i in range(len(specs)))
    return graph + "".join(f";[s{i}]{_scale_filter(spec)}[e{i}]" for i, spec in enumerate(specs))


def _encoder_output(
    i: int, spec: EncodeSpec, fps: float, pass_number: int | None, passlog: str | None, by_time: bool
) -> list[str]:
    """The options of the output encoding pad [e<i>] (`_fan_out`), up to its destination."""
    codec = _codec_args(spec, fps, MEASURED_ENCODER_THREADS, by_time=by_time)
    args = ["-map", f"[e{i}]", *codec, *_rate_args(spec)]
    if pass_number is not None:
        assert passlog is not None
        args += ["-pass", str(pass_number), "-passlogfile", passlog]
    return [*args, "-fps_mode", "passthrough"]


def group_argv(
    ffmpeg: str,
    reference: str,
    specs: Sequence[EncodeSpec],
    out_paths: Sequence[str],
    log_paths: Sequence[str],
    *,
    ref_width: int,
    ref_height: int,
    fps: float,
    threads: int,
    model: str,
    n_subsample: int = 1,
    pass_number: int | None = None,
    passlogs: Sequence[str] = (),
    keyframes_timed: bool = False,
) -> list[str]:
    """Several encodes of one reference and their scores in a single ffmpeg process.

    The reference is decoded once and split to every encoder; each encoder's output is decoded
    again inside the same process (a loopback decoder, `-dec`) and scored in its own filtergraph
    against the same decoded reference frames. Compared with one encode process and one metric
    process per point, this decodes the reference once instead of 2N times. With pass_number 1 it
    only runs the first passes (no outputs, no scores).
    """
    n = len(specs)
    if n == 0 or len(out_paths) != n or len(log_paths) != n:
        raise ValueError("group_argv needs one output path and one log path per spec")
    argv = [ffmpeg, *_BASE, "-i", file_arg(reference), "-filter_complex", _fan_out("[0:V:0]", specs)]
    for i, spec in enumerate(specs):
        passlog = passlogs[i] if pass_number else None
        argv += _encoder_output(i, spec, fps, pass_number, passlog, keyframes_timed)
        argv += ["-f", "null", "-"] if pass_number == 1 else [file_arg(out_paths[i])]
    if pass_number == 1:
        return argv
    for i in range(n):
        argv += ["-dec", f"{i}:0"]
    for i, spec in enumerate(specs):
        legs = _metric_legs(f"[dec:{i}]", "[0:V:0]", ref_width, ref_height, spec.scaler, str(i))
        scores = _scores(str(i), model, log_paths[i], threads, n_subsample, ref_width, ref_height)
        argv += ["-filter_complex", f"{legs};{scores}[m{i}]"]
    for i in range(n):
        argv += ["-map", f"[m{i}]"]
    argv += ["-f", "null", "-"]
    return argv


def in_context_argv(
    ffmpeg: str,
    source: str,
    specs: Sequence[EncodeSpec],
    out_paths: Sequence[str],
    passlogs: Sequence[str],
    *,
    fps: float,
    pass_number: int | None,
    keyframes_timed: bool = False,
) -> list[str]:
    """One pass of the two-pass encodes of `specs` over the whole title (or, `pass_number` None,
    their one-pass capped-CRF encodes), decoded once and split to every encoder (pass 1 writes
    only its logs). What each encode spends on the sampled windows, against the whole title, is
    how a deployed encode shares its bits between them; its busiest segment is its peak."""
    n = len(specs)
    if n == 0 or len(out_paths) != n or len(passlogs) != n:
        raise ValueError("in_context_argv needs one output path and one pass log per spec")
    graph = _fan_out("[0:V:0]setpts=PTS-STARTPTS,", specs)
    argv = [ffmpeg, *_BASE, "-i", file_arg(source), "-filter_complex", graph]
    for i, spec in enumerate(specs):
        argv += _encoder_output(i, spec, fps, pass_number, passlogs[i], keyframes_timed)
        argv += ["-f", "null", "-"] if pass_number == 1 else ["-f", "matroska", file_arg(out_paths[i])]
    return argv


def rendition_commands(
    ffmpeg: str,
    source: str,
    spec: EncodeSpec,
    *,
    fps: float,
    out_path: str,
    threads: int | None = None,
    keyframes_timed: bool = False,
) -> list[list[str]]:
    """The commands that make one final rendition from the whole `source`, in order.

    Two-pass (`abr2pass`) gives two: pass 1 analyses into the pass log `out_path + ".pass"`
    (its output discarded), pass 2 writes `out_path`. Capped CRF gives one. The same argv as
    pertitle's own encodes, so a pipeline that runs them gets the renditions pertitle measured.
    """
    if spec.rate_control == "abr2pass":
        passlog = out_path + ".pass"
        return [
            encode_argv(
                ffmpeg,
                source,
                spec,
                out_path,
                fps=fps,
                threads=threads,
                pass_number=n,
                passlog=passlog,
                keyframes_timed=keyframes_timed,
            )
            for n in (1, 2)
        ]
    return [
        encode_argv(ffmpeg, source, spec, out_path, fps=fps, threads=threads, keyframes_timed=keyframes_timed)
    ]


def rendition_name(stem: str, spec: EncodeSpec) -> str:
    """File name of a rendition: `<stem>_<w>x<h>_<kbps>k_<codec>.<container>`. The codec keeps the
    scripts of two codecs' ladders, run in one directory, from writing over each other's files and
    pass logs."""
    rate = f"{spec.bitrate_kbps:.0f}k" if spec.bitrate_kbps is not None else f"crf{spec.crf:g}"
    return f"{stem}_{spec.width}x{spec.height}_{rate}_{spec.codec}.{CODECS[spec.codec].container}"


def describe_rendition(spec: EncodeSpec, fps: float, keyframes_timed: bool = False) -> str:
    """One line naming what decides the bits of a rendition (for script comments and logs)."""
    gop = gop_frames(fps, spec.gop_s)
    gop_said = (
        f"closed GOP of {spec.gop_s:g} s (keyframes by time: the frame rate varies)"
        if keyframes_timed and keyframes_by_time_for(spec.codec)
        else f"closed GOP of {gop} frames ({spec.gop_s:g} s)"
    )
    maxrate, bufsize = applied_vbv(spec.codec, spec.rate_control, spec.maxrate_kbps, spec.bufsize_kbps)
    limits = [f"{name} {kbps:.0f}k" for name, kbps in (("maxrate", maxrate), ("bufsize", bufsize)) if kbps]
    vbv = ", ".join(limits) or "no VBV"
    if spec.rate_control == "abr2pass" and not CODECS[spec.codec].supports_maxrate:
        vbv = f"no VBV ({CODECS[spec.codec].encoder} takes no maxrate in two-pass mode)"
    elif spec.rate_control == "capped_crf" and spec.codec == "av1":
        vbv += f" (no buffer: {CODECS[spec.codec].encoder} takes none)"
    elif spec.rate_control == "abr2pass" and not CODECS[spec.codec].strict_two_pass_vbv:
        vbv += " (libvpx applies them per two-pass section, not as a strict VBV: segments can peak above)"
    if spec.rate_control == "abr2pass":
        rate = f"two-pass average {spec.bitrate_kbps or 0:.0f} kbps, {vbv}"
    elif spec.rate_control == "capped_crf":
        rate = f"capped CRF {spec.crf or 0:g} (target {spec.bitrate_kbps or 0:.0f} kbps), {vbv}"
    else:
        rate = f"CRF {spec.crf or 0:g}"
    return (
        f"{spec.width}x{spec.height} {spec.codec} ({CODECS[spec.codec].encoder} preset {spec.preset}), "
        f"{rate}, {gop_said}, {spec.scaler} scaling"
    )


def _comment(text: str) -> str:
    """A script comment quoting outside text (a title, a path): a newline in it would end the
    comment and run the rest of the name as a command, so control characters become escapes."""
    return "# " + printable(text)


def _thread_pins(specs: Sequence[EncodeSpec]) -> str:
    pins = {"h264": "-threads 1", "hevc": ":pools=1", "av1": "lp=1 (-svtav1-params)", "vp9": "-threads 1"}
    return " / ".join(dict.fromkeys(pins[s.codec] for s in specs)) or "-threads 1"


def rendition_script(
    ffmpeg: str,
    source: str,
    specs: Sequence[EncodeSpec],
    *,
    fps: float,
    stem: str,
    header: Sequence[str] = (),
    keyframes_timed: bool = False,
) -> str:
    """A POSIX shell script that makes every rendition of a ladder without pertitle.

    One `shlex.join`ed command per line under a comment per rung, `set -e` so the first failure
    stops it, pass logs removed after each two-pass rendition. Renditions are written to the
    directory the script runs in, named by `rendition_name`; give `source` as an absolute path.
    """
    lines = [
        "#!/bin/sh",
        _comment(f"Renditions of {stem}: {len(specs)} rung(s), written by pertitle analyze --emit-commands."),
        *(_comment(h) for h in header),
        "# Run it in the directory the renditions should go to: sh THIS_FILE",
        "# Video only (audio is packaged separately); the ffmpeg below is the one pertitle measured with.",
        "# Each encoder runs on one thread, as pertitle measured it, so these are the encodes its",
        "# predictions are for. The encoders' own threading is faster but changes their output",
        f"# slightly: drop the {_thread_pins(specs)} to use it.",
        "set -e",
    ]
    if any(s.codec == "av1" for s in specs):
        # SVT-AV1 prints its banner on every pass of a two-pass, whatever ffmpeg's log level.
        lines.append('export SVT_LOG="${SVT_LOG:-1}"  # SVT-AV1: errors only')
    for i, spec in enumerate(specs, 1):
        name = file_arg(rendition_name(stem, spec))
        lines += ["", f"# rung {i}/{len(specs)}: {describe_rendition(spec, fps, keyframes_timed)}"]
        commands = rendition_commands(
            ffmpeg,
            source,
            spec,
            fps=fps,
            out_path=name,
            threads=MEASURED_ENCODER_THREADS,
            keyframes_timed=keyframes_timed,
        )
        lines += [shlex.join(argv) for argv in commands]
        if spec.rate_control == "abr2pass":
            lines.append(f"rm -f -- {shlex.quote(name + '.pass')}*")
    return "\n".join(lines) + "\n"
