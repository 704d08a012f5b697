"""The encode and metric commands run with the bundled ffmpeg: every codec in CRF and two-pass mode,
libvmaf scoring, and a libvmaf log path full of filtergraph special characters."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pertitle import encode, measure
from pertitle.config import CODECS, Settings, validate
from pertitle.errors import ConfigError, FfmpegError, InputError
from pertitle.ffmpeg import runner
from pertitle.jobs import (
    ComplexityJob,
    GroupJob,
    InContextJob,
    PointJob,
    PrepareJob,
    prepare_reference,
    run_complexity,
    run_group,
    run_in_context,
    run_point,
    run_prepare,
)
from pertitle.models import EncodeSpec, SampleWindow

if TYPE_CHECKING:
    from tests.conftest import Clips


@pytest.fixture(scope="module")
def reference(clips: Clips, ffmpeg_path: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small clip (320x180, 24 frames) as the lossless reference every encode is made from."""
    out = tmp_path_factory.mktemp("ref") / "reference.mkv"
    job = PrepareJob(
        ffmpeg=ffmpeg_path,
        source=str(clips.small),
        windows=None,
        width=320,
        height=180,
        out_path=str(out),
        threads=2,
        timeout_s=120,
    )
    return Path(run_prepare(job))


def score(ffmpeg_path: str, distorted: Path, reference: Path, workdir: Path) -> measure.FrameScores:
    return measure.score(
        ffmpeg_path,
        str(distorted),
        str(reference),
        320,
        180,
        scaler="bicubic",
        model="vmaf_v0.6.1",
        workdir=str(workdir),
        threads=2,
        timeout_s=120,
    )


def test_reference_is_lossless_and_scores_near_perfect(
    reference: Path, ffmpeg_path: str, tmp_path: Path, clips: Clips
) -> None:
    scores = score(ffmpeg_path, clips.small, reference, tmp_path)
    assert len(scores.vmaf) == 24
    s = measure.summarize(scores)
    assert s["vmaf"] > 95
    assert s["psnr"] >= 59.99  # x264 qp 0 is lossless: identical frames, PSNR at libvmaf's 60 dB cap
    assert s["ssim"] > 0.999
    assert os.listdir(tmp_path) == []  # the log is removed after reading


@pytest.mark.parametrize("codec", ["h264", "hevc", "av1", "vp9"])
def test_every_codec_encodes_in_crf_and_two_pass_and_is_scored(
    codec: str, reference: Path, ffmpeg_path: str, ffmpeg_info: object, tmp_path: Path
) -> None:
    d = CODECS[codec]
    out_crf = tmp_path / f"crf.{d.container}"
    crf = EncodeSpec(codec, d.preset, 160, 90, "crf", crf=d.crfs[3])
    encode.encode(ffmpeg_path, str(reference), crf, str(out_crf), fps=24.0, threads=2, timeout_s=120)
    stats = encode.stream_stats(str(out_crf))
    assert stats.frames == 24
    assert stats.duration_s == pytest.approx(1.0, abs=0.05)
    assert stats.size_bytes > 0

    out_abr = tmp_path / f"abr.{d.container}"
    abr = EncodeSpec(
        codec, d.preset, 160, 90, "abr2pass", bitrate_kbps=150, maxrate_kbps=225, bufsize_kbps=300
    )
    encode.encode(ffmpeg_path, str(reference), abr, str(out_abr), fps=24.0, threads=2, timeout_s=120)
    assert encode.stream_stats(str(out_abr)).frames == 24
    assert not [p for p in os.listdir(tmp_path) if ".pass" in p]  # pass logs cleaned up

    scores = score(ffmpeg_path, out_crf, reference, tmp_path)
    assert len(scores.vmaf) == 24  # upscaled to 320x180, frame i paired with frame i
    assert 0 < measure.summarize(scores)["vmaf"] < 100


def test_vp9_realtime_two_pass_is_refused_up_front() -> None:
    # libvpx refuses two-pass at deadline realtime ('rc_twopass_stats_in.buf not set'): the
    # settings are rejected before any encode, naming the preset and the way out.
    with pytest.raises(ConfigError, match="realtime"):
        validate(Settings(codec="vp9", preset="realtime"))
    validate(Settings(codec="vp9", preset="realtime", deploy_rate_control="capped_crf"))


def test_libvmaf_log_path_with_special_characters(reference: Path, ffmpeg_path: str, tmp_path: Path) -> None:
    # Spaces, quotes, a colon, brackets, a comma and a semicolon: every one is special to some
    # level of filtergraph parsing, and libvmaf must still write its log exactly here.
    workdir = tmp_path / "it's: [a], b; c"
    workdir.mkdir()
    scores = score(ffmpeg_path, reference, reference, workdir)
    assert len(scores.vmaf) == 24
    assert list(workdir.iterdir()) == []


def test_ffmpeg_error_line_names_the_cause(ffmpeg_path: str) -> None:
    argv = [ffmpeg_path, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi"]
    argv += ["-i", "color=c=black:s=64x64:d=0.2", "-c:v", "libx264", "-preset", "nosuch", "-f", "null", "-"]
    with pytest.raises(FfmpegError) as excinfo:
        runner.run(argv, timeout_s=60, what="encode failed")
    assert "nosuch" in excinfo.value.stderr_tail  # the cause is there ...
    assert "preset" in str(excinfo.value)  # ... and should reach the one line the user sees


def test_ssim_from_the_ssim_filter_agrees_with_libvmaf_float_ssim(
    reference: Path, ffmpeg_path: str, tmp_path: Path
) -> None:
    """pertitle scores SSIM with FFmpeg's ssim filter (SIMD) instead of libvmaf's float_ssim (plain
    C, dearer than VMAF itself at small sizes). Same metric, other windows (8x8 blocks against an
    11x11 Gaussian): they agree within 0.005 on the samples at streaming quality and drift apart
    at very low quality (0.025 here at CRF 40 on 160x90); both must fall with quality."""
    means = []
    for crf in (20, 40):
        enc = tmp_path / f"crf{crf}.mp4"
        spec = EncodeSpec("h264", "veryfast", 160, 90, "crf", crf=crf)
        encode.encode(ffmpeg_path, str(reference), spec, str(enc), fps=24.0, threads=2, timeout_s=120)
        ours = measure.summarize(score(ffmpeg_path, enc, reference, tmp_path))["ssim"]
        log = tmp_path / "float_ssim.json"
        graph = (
            "[0:v]scale=320:180:flags=bicubic,format=yuv420p[d];[1:v]format=yuv420p[r];"
            f"[d][r]libvmaf=feature=name=float_ssim:log_fmt=json:log_path={log}"
        )
        runner.run(
            [
                ffmpeg_path,
                "-v",
                "error",
                "-i",
                str(enc),
                "-i",
                str(reference),
                "-lavfi",
                graph,
                "-f",
                "null",
                "-",
            ]
        )
        frames = json.loads(log.read_text())["frames"]
        theirs = sum(f["metrics"]["float_ssim"] for f in frames) / len(frames)
        assert ours == pytest.approx(theirs, abs=0.03)
        means.append(ours)
    assert means[0] > means[1]


def flat_then_noise(ffmpeg_path: str, out: Path, flat_s: int = 2, noise_s: int = 2) -> Path:
    """flat_s seconds of flat colour, then noise_s of full-frame noise, 320x180 at 24 fps."""
    graph = (
        f"color=c=gray:size=320x180:rate=24:duration={flat_s}[a];"
        f"color=c=gray:size=320x180:rate=24:duration={noise_s},noise=alls=60:allf=t[b];"
        "[a][b]concat=n=2:v=1:a=0,format=yuv420p[v]"
    )
    runner.run(
        [ffmpeg_path, "-v", "error", "-filter_complex", graph, "-map", "[v]", "-c:v", "ffv1", str(out)]
    )
    return out


def test_complexity_pass_finds_the_hard_stretch(ffmpeg_path: str, tmp_path: Path) -> None:
    """A title of 2 s of flat colour then 2 s of full-frame noise: the cheap fixed-quality pass
    spends many times more on each noisy second than on each flat one."""
    clip = flat_then_noise(ffmpeg_path, tmp_path / "flat_then_noise.mkv")
    job = ComplexityJob(ffmpeg_path, str(clip), 1.0, str(tmp_path), 2, 120)
    per_second = run_complexity(job)
    assert len(per_second) == 4
    assert min(per_second[2:]) > 5 * max(per_second[:2])
    assert [p.name for p in tmp_path.iterdir()] == ["flat_then_noise.mkv"]  # its work files are gone


@pytest.mark.parametrize("rate_control", ["crf", "abr2pass"])
def test_a_measurement_does_not_depend_on_the_threads_its_job_was_given(
    rate_control: str, reference: Path, ffmpeg_path: str, tmp_path: Path
) -> None:
    """The cache key leaves thread counts out, and the scheduler gives a job more threads when fewer
    encodes miss the cache: x264's output changes with its thread count (two-pass at 2 threads made
    a film's rung 0.19 VMAF off the same rung at 1), so the encoder must not follow the job's threads."""
    spec = EncodeSpec(
        "h264",
        "veryfast",
        320,
        180,
        rate_control,
        crf=30 if rate_control == "crf" else None,
        bitrate_kbps=None if rate_control == "crf" else 120,
        maxrate_kbps=None if rate_control == "crf" else 180,
        bufsize_kbps=None if rate_control == "crf" else 240,
    )

    def measured(threads: int) -> tuple[tuple[float, float], ...]:
        common = dict(ffmpeg=ffmpeg_path, reference=str(reference), ref_width=320, ref_height=180, fps=24.0)
        group = GroupJob(
            **common,
            specs=(spec,),
            vmaf_model="vmaf_v0.6.1",
            workdir=str(tmp_path),
            threads=threads,
            timeout_s=120,
        )
        point = PointJob(
            **common,
            spec=spec,
            vmaf_model="vmaf_v0.6.1",
            workdir=str(tmp_path),
            threads=threads,
            timeout_s=120,
        )
        return tuple((m.bitrate_kbps, m.vmaf) for m in (*run_group(group), run_point(point)))

    one, two = measured(1), measured(3)
    assert one == two
    assert one[0] == one[1]  # a group of one and a single point are the same encode


def test_in_context_pass_gives_a_flat_window_little_and_a_noisy_one_most(
    ffmpeg_path: str, tmp_path: Path
) -> None:
    """Within a two-pass of the whole title, a sampled window gets its share of the budget, not
    the budget: the flat half of a flat-then-noise title gets a fraction of the average bitrate,
    the noisy half more than all of it, while the title as a whole lands near its target."""
    clip = flat_then_noise(ffmpeg_path, tmp_path / "flat_then_noise.mkv")
    spec = EncodeSpec(
        "h264", "superfast", 320, 180, "abr2pass", bitrate_kbps=300, maxrate_kbps=600, bufsize_kbps=600
    )
    work = tmp_path / "work"
    work.mkdir()

    def rates(window: SampleWindow) -> tuple[float, float]:
        job = InContextJob(ffmpeg_path, str(clip), (spec,), (window,), 4.0, 24.0, str(work), 120)
        (result,) = run_in_context(job)
        # One 6 s segment holds the whole 4 s title: its peak is the title's average.
        assert result.peak_kbps == pytest.approx(result.title_kbps, rel=0.03)
        return result.title_kbps, result.windows_kbps

    title, flat = rates(SampleWindow(0, 0.0, 2.0))
    title_again, noisy = rates(SampleWindow(0, 2.0, 2.0))
    assert title == title_again  # the same two-pass, only read over another window
    assert 0.75 * 300 < title < 1.25 * 300
    assert flat < 0.3 * title < title < noisy
    assert (flat + noisy) / 2 == pytest.approx(title, rel=0.01)  # the halves make up the whole
    assert list(work.iterdir()) == []  # its encodes and pass logs are gone


def test_hevc_renditions_have_closed_gops(ffmpeg_path: str, tmp_path: Path) -> None:
    # HLS authoring asks for closed GOPs (each segment decodes on its own). x265 opens them by
    # default: CRA pictures with RASL leading pictures (NAL types 21 and 8/9) between the IDRs.
    from tests.conftest import run_ffmpeg

    source = tmp_path / "five.mkv"
    run_ffmpeg(ffmpeg_path, "-f", "lavfi", "-i", "testsrc2=s=160x90:r=24:d=5", "-c:v", "ffv1", str(source))
    out = tmp_path / "hevc.mp4"
    spec = EncodeSpec("hevc", "ultrafast", 160, 90, "crf", crf=30)  # GOP 2 s: 48 frames
    encode.encode(ffmpeg_path, str(source), spec, str(out), fps=24.0, threads=1, timeout_s=120)
    trace = runner.run(
        [
            ffmpeg_path,
            "-hide_banner",
            "-i",
            str(out),
            "-c",
            "copy",
            "-bsf:v",
            "trace_headers",
            "-f",
            "null",
            "-",
        ]
    )
    types = [int(line.rsplit("=", 1)[1]) for line in trace.splitlines() if "nal_unit_type" in line]
    assert types.count(19) + types.count(20) == 3  # an IDR every 48 of the 120 frames
    assert not {8, 9, 21} & set(types)  # no RASL leading pictures, no CRA


def _frame_hashes(ffmpeg_path: str, path: Path, *filters: str) -> list[str]:
    """MD5 of each decoded frame (yuv420p), in order."""
    import subprocess

    vf = ",".join([*filters, "format=yuv420p"])
    out = subprocess.run(
        [ffmpeg_path, "-v", "error", "-i", str(path), "-map", "0:V:0", "-vf", vf, "-f", "framemd5", "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [line.rsplit(",", 1)[1].strip() for line in out.splitlines() if line and not line.startswith("#")]


def test_windows_of_a_video_that_starts_late_are_cut_at_video_time(ffmpeg_path: str, tmp_path: Path) -> None:
    # Audio from 0 s, video (lossless, 25 fps) from 1 s: a window at 2.0 s of video is frames 50-59,
    # which an -ss counted from the file's start would miss by 25 frames.
    from pertitle.probe import probe
    from tests.conftest import run_ffmpeg

    source = tmp_path / "late.mkv"
    run_ffmpeg(
        ffmpeg_path,
        *("-itsoffset", "1", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=4"),
        *("-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-map", "0:v", "-map", "1:a", "-t", "5"),
        *("-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"),
        str(source),
    )
    info = probe(source)
    assert info.start_offset_s == pytest.approx(1.0, abs=0.01)
    job = PrepareJob(
        ffmpeg=ffmpeg_path,
        source=str(source),
        windows=(SampleWindow(0, 2.0, 0.4),),
        width=info.width,
        height=info.height,
        out_path=str(tmp_path / "reference.mkv"),
        threads=1,
        timeout_s=60,
        start_offset_s=info.start_offset_s,
    )
    cut = _frame_hashes(ffmpeg_path, Path(run_prepare(job)))
    wanted = _frame_hashes(ffmpeg_path, source, "select='between(n,50,59)'")
    assert len(wanted) == 10
    assert cut == wanted


def test_a_title_with_damaged_data_is_said_to_be_damaged(ffmpeg_path: str, tmp_path: Path) -> None:
    from tests.conftest import make_damaged_mp4

    whole, damaged = make_damaged_mp4(ffmpeg_path, tmp_path)

    def prepare(source: Path, windows: tuple[SampleWindow, ...] | None) -> str | None:
        out = tmp_path / f"{source.stem}-{bool(windows)}.mkv"
        job = PrepareJob(ffmpeg_path, str(source), windows, 320, 180, str(out), 1, 60)
        return prepare_reference(job).damage

    said = prepare(damaged, None)
    assert said is not None and "decoder error(s), the first: " in said
    assert prepare(whole, None) is None
    assert prepare(damaged, (SampleWindow(0, 0.0, 2.0),)) is None  # windows: not judged


def _vmaf_mean(log: Path) -> float:
    return float(json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"])


def test_a_full_range_title_is_scored_as_ffmpegs_own_pipeline_scores_it(
    ffmpeg_path: str, tmp_path: Path
) -> None:
    """A phone's full-range (yuvj420p) title stays full range through the reference, the rendition
    and the scoring, as in ffmpeg's default pipeline: pertitle's score is what a plain libvmaf run
    against the source gives, and converting to limited range would read differently."""
    import av

    from tests.conftest import run_ffmpeg

    source = tmp_path / "full.mp4"
    graph = "testsrc2=size=320x180:rate=24:duration=1,format=yuvj420p"
    run_ffmpeg(ffmpeg_path, "-f", "lavfi", "-i", graph, "-c:v", "libx264", "-crf", "8", str(source))
    ref = tmp_path / "ref.mkv"
    run_prepare(PrepareJob(ffmpeg_path, str(source), None, 320, 180, str(ref), 1, 60))
    rendition = tmp_path / "rung.mp4"
    spec = EncodeSpec(
        "h264", "medium", 160, 90, "abr2pass", bitrate_kbps=60, maxrate_kbps=90, bufsize_kbps=120
    )
    encode.encode(ffmpeg_path, str(source), spec, str(rendition), fps=24.0, threads=1, timeout_s=120)
    with av.open(str(rendition)) as container:
        assert container.streams.video[0].codec_context.color_range == 2  # AVCOL_RANGE_JPEG: full

    ours = measure.summarize(score(ffmpeg_path, rendition, ref, tmp_path))["vmaf"]
    by_index = "settb=1/1000,setpts=N*1000"

    def plain(graph: str) -> float:
        log = tmp_path / "plain.json"
        run_ffmpeg(
            ffmpeg_path,
            "-i",
            str(rendition),
            "-i",
            str(source),
            "-lavfi",
            f"{graph}libvmaf=log_fmt=json:log_path={log}",
            "-f",
            "null",
            "-",
        )
        return _vmaf_mean(log)

    same_range = plain(f"[0:v]scale=320:180:flags=bicubic,{by_index}[d];[1:v]{by_index}[r];[d][r]")
    assert ours == pytest.approx(same_range, abs=0.01)
    tv = "scale=out_range=tv,format=yuv420p"
    limited = plain(f"[0:v]scale=320:180:flags=bicubic,{tv},{by_index}[d];[1:v]{tv},{by_index}[r];[d][r]")
    assert abs(limited - ours) > 0.05  # the range makes a difference this test would see


@pytest.mark.parametrize("codec", ["h264", "hevc", "av1", "vp9"])
def test_a_variable_rate_title_gets_the_bits_a_constant_rate_one_gets(
    codec: str, ffmpeg_path: str, tmp_path: Path
) -> None:
    """A phone-like variable-rate title: 30.5 frames a second, timestamps jittering on a 120 fps
    grid. x265 and SVT-AV1 budget bits per frame at the nominal rate ffmpeg gives them, and a
    two-pass at 100 kbps of the talking-head clip came out at 31 and 21 kbps until they were told
    the title's average rate. Held against the same picture at a constant 30 fps."""
    from pertitle.probe import probe
    from tests.conftest import run_ffmpeg

    def two_pass(name: str, graph: str) -> float:
        source = tmp_path / f"{name}.mp4"
        run_ffmpeg(
            ffmpeg_path, "-f", "lavfi", "-i", graph, "-fps_mode", "passthrough", "-crf", "10", str(source)
        )
        d = CODECS[codec]
        out = tmp_path / f"{name}-rung.{d.container}"
        spec = EncodeSpec(
            codec, d.preset, 320, 180, "abr2pass", bitrate_kbps=100, maxrate_kbps=150, bufsize_kbps=200
        )
        encode.encode(
            ffmpeg_path, str(source), spec, str(out), fps=probe(str(source)).fps, threads=1, timeout_s=300
        )
        return encode.stream_stats(str(out)).bitrate_kbps

    picks = "+".join(f"eq(mod(n\\,16)\\,{k})" for k in (0, 4, 7, 12))  # steps of 4, 3, 5, 4 ticks
    variable = two_pass("vfr", f"testsrc2=size=320x180:rate=120:duration=2,select='{picks}'")
    constant = two_pass("cfr", "testsrc2=size=320x180:rate=30:duration=2")
    assert variable == pytest.approx(constant, rel=0.15)


def _fast_then_slow(ffmpeg_path: str, path: Path) -> Path:
    """3 s at 30 frames a second, then 4 s at 10: 18.6 a second on average, so a GOP of 37 frames
    lasts 1.2 s in the fast part and 3.7 s in the slow one."""
    from tests.conftest import run_ffmpeg

    graph = (
        "testsrc2=size=160x90:rate=30:duration=3[a];testsrc2=size=160x90:rate=10:duration=4[b];"
        "[a][b]concat=n=2:v=1[v]"
    )
    run_ffmpeg(
        ffmpeg_path,
        "-filter_complex",
        graph,
        "-map",
        "[v]",
        "-fps_mode",
        "passthrough",
        "-crf",
        "10",
        str(path),
    )
    return path


def _keyframe_times(path: Path) -> list[float]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [
            float(p.pts * p.time_base) for p in container.demux(stream) if p.is_keyframe and p.pts is not None
        ]


def test_the_probe_tells_a_varying_frame_rate_from_a_constant_one(ffmpeg_path: str, tmp_path: Path) -> None:
    from pertitle.probe import probe
    from tests.conftest import run_ffmpeg

    assert probe(str(_fast_then_slow(ffmpeg_path, tmp_path / "vfr.mp4"))).frame_rate_varies
    # Matroska states no average rate: said by the timestamps (33 and 34 ms apart at 30 fps).
    assert probe(str(_fast_then_slow(ffmpeg_path, tmp_path / "vfr.mkv"))).frame_rate_varies
    for name, rate in (("cfr.mkv", "30000/1001"), ("cfr.mp4", "25")):
        run_ffmpeg(
            ffmpeg_path,
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size=160x90:rate={rate}:duration=3",
            str(tmp_path / name),
        )
        assert not probe(str(tmp_path / name)).frame_rate_varies, name


@pytest.mark.parametrize("codec", ["h264", "hevc", "vp9"])  # not SVT-AV1: `keyframes_by_time_for`
def test_a_varying_frame_rate_gets_a_keyframe_every_2_s_of_time(
    codec: str, ffmpeg_path: str, tmp_path: Path
) -> None:
    """HLS wants a keyframe every 2 s; a GOP counted in frames at the average rate put them 1.2 s
    apart where the title runs fast and 3.7 s apart where it runs slow."""
    from pertitle.probe import probe

    source = _fast_then_slow(ffmpeg_path, tmp_path / "vfr.mp4")
    info = probe(str(source))
    d = CODECS[codec]
    preset = {"av1": "12", "vp9": "realtime"}.get(codec, "ultrafast")
    spec = EncodeSpec(codec, preset, 160, 90, "crf", crf=d.crfs[len(d.crfs) // 2])
    times = {}
    for timed in (True, False):
        out = tmp_path / f"{timed}.{d.container}"
        encode.encode(
            ffmpeg_path,
            str(source),
            spec,
            str(out),
            fps=info.fps,
            threads=1,
            timeout_s=300,
            keyframes_timed=timed,
        )
        times[timed] = _keyframe_times(out)
    assert times[True] == pytest.approx([0.0, 2.0, 4.0, 6.0], abs=0.001), times
    assert times[False] != pytest.approx(times[True], abs=0.001), times  # counted in frames: off


@pytest.mark.parametrize(
    ("gop", "seek"),
    [(1000, None), (50, None), (1000, True), (50, True)],
    ids=["one-keyframe", "gop-2s", "one-keyframe-seeked", "gop-2s-seeked"],
)
def test_windows_of_an_mpeg_ts_title_hold_every_frame_they_name(
    ffmpeg_path: str, tmp_path: Path, gop: int, seek: bool | None
) -> None:
    """Seeking into MPEG-TS lands by timestamp, not on a keyframe: with 2 s GOPs the window at
    1 s read frames 50-74 instead of 25-49 and the one at 7 s no frame at all (the title's last
    second went unprobed without a word); with one keyframe every window came out empty (and
    every encode failed with "Duplicate element"). The windows must hold exactly the frames they
    name: read from the title's start for a container that does not seek exactly (None: as the
    probe says), and read again that way when seeking was tried and came back short (True)."""
    from pertitle.probe import probe
    from tests.conftest import run_ffmpeg

    source = tmp_path / f"g{gop}.ts"
    run_ffmpeg(
        ffmpeg_path,
        *("-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=8"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-g", str(gop), "-pix_fmt", "yuv420p"),
        *("-f", "mpegts", str(source)),
    )
    info = probe(source)
    assert info.seeks_exactly is False
    windows = (SampleWindow(0, 1.0, 1.0), SampleWindow(1, 3.0, 1.0), SampleWindow(2, 7.0, 1.0))
    job = PrepareJob(
        *(ffmpeg_path, str(source), windows, 160, 90, str(tmp_path / "ref.mkv"), 1, 60),
        start_offset_s=info.start_offset_s,
        seek=info.seeks_exactly if seek is None else seek,
        fps=info.fps,
    )
    prepared = prepare_reference(job)
    cut = _frame_hashes(ffmpeg_path, Path(prepared.path))
    frames = "+".join(f"between(n,{a},{a + 24})" for a in (25, 75, 175))
    wanted = _frame_hashes(ffmpeg_path, source, f"select='{frames}'")
    assert len(wanted) == 75
    assert cut == wanted
    assert prepared.reread_from_start is bool(seek)  # seeked, it came back short
    assert prepared.still_short is False


def test_windows_across_a_held_frame_are_not_read_again(ffmpeg_path: str, tmp_path: Path) -> None:
    """Frames from 1.2 s to 5 s dropped: one frame is held 3.9 s. Windows at 0, 3 and 5.5 s lose
    that hold's time before their first frame, so their frames last 5.2 of 6 s, under 0.9, though
    the seek was exact. Timed alone, the title was decoded again from its start and called badly
    indexed; it holds its share of the frames (130 of 0.9 x 6 s x 13 fps), so it is not."""
    from pertitle.probe import probe
    from tests.conftest import run_ffmpeg

    source = tmp_path / "held.mp4"
    run_ffmpeg(
        ffmpeg_path,
        *("-f", "lavfi", "-i", "testsrc=size=160x90:rate=25:duration=8"),
        *("-vf", "select='not(between(t,1.2,5))'", "-fps_mode", "vfr", "-g", "25"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(source)),
    )
    info = probe(source)
    assert info.seeks_exactly
    windows = (SampleWindow(0, 0.0, 2.0), SampleWindow(1, 3.0, 2.0), SampleWindow(2, 5.5, 2.0))
    job = PrepareJob(
        *(ffmpeg_path, str(source), windows, 160, 90, str(tmp_path / "ref.mkv"), 1, 60),
        fps=info.fps,
    )
    prepared = prepare_reference(job)
    assert (prepared.reread_from_start, prepared.still_short) == (False, False)


def test_windows_where_a_variable_rate_title_runs_slow_are_not_read_again(
    ffmpeg_path: str, tmp_path: Path
) -> None:
    """25 fps for 2 s, then every third frame (8.3 fps): 67 frames in 4 s, 16.75 fps on average.
    The window at 2.5-3.5 s holds 9 frames, under 0.9 x 16.75: counted, the seek looked short
    and the title was decoded again from its start. Its frames last the window's second."""
    from pertitle.probe import probe
    from tests.conftest import run_ffmpeg

    source = tmp_path / "vfr.mp4"
    run_ffmpeg(
        ffmpeg_path,
        *("-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=4"),
        *("-vf", "select='lt(t,2)+not(mod(n,3))'", "-fps_mode", "vfr"),
        *("-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(source)),
    )
    info = probe(source)
    assert info.seeks_exactly
    job = PrepareJob(
        *(ffmpeg_path, str(source), (SampleWindow(0, 2.5, 1.0),), 160, 90, str(tmp_path / "ref.mkv")),
        *(1, 60),
        fps=info.fps,
    )
    assert info.fps * 0.9 > 9  # what the frame count was held to
    prepared = prepare_reference(job)
    assert prepared.reread_from_start is False
    cut = _frame_hashes(ffmpeg_path, Path(prepared.path))
    wanted = _frame_hashes(ffmpeg_path, source, "select='between(t,2.5,3.49)'")
    assert len(wanted) == 9
    assert cut == wanted


@pytest.mark.parametrize(("container", "seek"), [("mpegts", None), ("matroska", False)])
def test_windows_read_from_the_start_count_from_the_videos_first_frame(
    ffmpeg_path: str, tmp_path: Path, container: str, seek: bool | None
) -> None:
    """Video from 1 s, audio from 0 s: a window at 2.0 s of video is frames 50-59 however the
    windows are read. Cut by the file's time, the TS window read frames 76-85: ffmpeg leaves the
    unused audio out of a TS's start, so the video there starts at 0, not at its offset."""
    from pertitle.probe import probe
    from tests.conftest import run_ffmpeg

    source = tmp_path / f"late.{container}"
    run_ffmpeg(
        ffmpeg_path,
        *("-itsoffset", "1", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=4"),
        *("-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-map", "0:v", "-map", "1:a", "-t", "5"),
        *("-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"),
        *("-f", container, str(source)),
    )
    info = probe(source)
    assert info.start_offset_s == pytest.approx(1.0, abs=0.03)
    job = PrepareJob(
        *(ffmpeg_path, str(source), (SampleWindow(0, 2.0, 0.4),), 160, 90, str(tmp_path / "ref.mkv")),
        *(1, 60),
        start_offset_s=info.start_offset_s,
        seek=info.seeks_exactly if seek is None else seek,
        fps=info.fps,
    )
    cut = _frame_hashes(ffmpeg_path, Path(run_prepare(job)))
    wanted = _frame_hashes(ffmpeg_path, source, "select='between(n,50,59)'")
    assert len(wanted) == 10
    assert cut == wanted


def test_windows_past_the_end_are_read_again_and_said_to_be_short(ffmpeg_path: str, tmp_path: Path) -> None:
    """A 4 s title whose last window runs to 4.5 s: its windows hold 2.5 of their 3 s. Seeking is
    not to blame, so after the read from the start the reference is kept as it is and said to be
    short (not badly indexed)."""
    from tests.conftest import run_ffmpeg

    source = tmp_path / "short.mp4"
    run_ffmpeg(ffmpeg_path, "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=4", str(source))
    windows = (SampleWindow(0, 0.0, 1.0), SampleWindow(1, 2.0, 1.0), SampleWindow(2, 3.5, 1.0))
    job = PrepareJob(ffmpeg_path, str(source), windows, 160, 90, str(tmp_path / "ref.mkv"), 1, 60, fps=25.0)
    prepared = prepare_reference(job)
    assert (prepared.reread_from_start, prepared.still_short) == (True, True)
    assert len(_frame_hashes(ffmpeg_path, Path(prepared.path))) == 25 + 25 + 12


def test_windows_that_decode_to_nothing_are_an_input_error(ffmpeg_path: str, tmp_path: Path) -> None:
    from tests.conftest import run_ffmpeg

    source = tmp_path / "short.mp4"
    run_ffmpeg(ffmpeg_path, "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=2", str(source))
    windows = (SampleWindow(0, 5.0, 1.0),)  # past the end: what a file that lies about its length gives
    job = PrepareJob(ffmpeg_path, str(source), windows, 160, 90, str(tmp_path / "ref.mkv"), 1, 60, fps=25.0)
    with pytest.raises(InputError, match=r"no frame could be decoded in the sampled windows \(5-6 s\)"):
        run_prepare(job)
    assert list(tmp_path.iterdir()) == [source]  # nothing half-written
