"""File -> MediaInfo, with PyAV (the imageio-ffmpeg wheel ships no ffprobe).

Every way a file can be unusable becomes one InputError line that says what to do.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

from pertitle.errors import InputError
from pertitle.ffmpeg.commands import file_arg
from pertitle.models import MediaInfo
from pertitle.plan import even

_MAX_FRAMES_TO_DECODE = 3
# How far a declared duration may run past the last frame's end, plus one frame, before the file
# counts as truncated: the shared clips differ by at most 13 ms.
_END_SLACK_S = 0.5
_END_SLACK_SHARE = 0.05
# Where every frame is indexed: its last frame may end this many frames short of the declared end.
_INDEXED_SLACK_FRAMES = 2
# A first frame this much later than the stream's declared start means the start was guessed.
_START_GUESSED_S = 1.0
# Packets whose timestamps say whether the frame rate varies (`_frame_rate_varies`): a minute or
# more of video, read in tens of milliseconds.
_FRAMES_FOR_RATE = 3000
# The highest average frame rate taken as measured (high-speed cameras record 1000 fps).
_MAX_AVERAGE_FPS = 10_000.0
# libvmaf crashes (SIGSEGV) on pictures under 18 pixels a side; a title this small has no ladder
# worth making, so a round limit with room above the crash.
MIN_SIDE = 32
# Elementary streams (no container): their packets carry no timestamps, so Matroska's muxer refuses
# a stream copy of them ("unknown timestamp") where MP4's makes the timestamps up.
_ELEMENTARY_FORMATS = {"h264", "hevc", "mpegvideo", "m4v", "vvc", "obu", "ivf", "mjpeg", "cavsvideo"}
# Demuxers measured to seek to the keyframe before a time, so that input -ss cuts a window exactly
# (a 2 s GOP, windows at 1, 3 and 7 s). MPEG-TS, MPEG-PS and raw streams missed; a format not
# listed has its windows read from the start, which is slower and cannot miss.
_EXACT_SEEK_FORMATS = {"mov", "mp4", "matroska", "webm", "avi", "flv", "mxf", "nut", "yuv4mpegpipe"}
_ATTACHED_PIC = 0x400  # AV_DISPOSITION_ATTACHED_PIC: cover art stored as a video stream
# AVColorTransferCharacteristic values of the HDR transfers. Encoding them as pertitle does (8-bit,
# untagged) would ship washed-out SDR, and VMAF's models are trained on SDR.
_HDR_TRANSFERS = {16: "PQ", 18: "HLG"}


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Describe the first video stream of `path` as it is displayed.

    Raises:
        InputError: missing path, a directory, no video stream, unreadable/truncated data, zero
            duration, a single picture, an HDR transfer.
    """
    if not str(path).strip():
        raise InputError("the title's path is empty; name a video file")
    p = Path(path)
    if not p.exists():
        if p.is_symlink():
            raise InputError(f"{p}: a symbolic link to {os.readlink(p)}, which does not exist")
        raise InputError(f"{p}: no such file; check the path")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, not a video file; name a file (or use 'pertitle batch')")
    if not p.is_file():  # read, a pipe would block, and it has no size to check
        raise InputError(f"{p}: is not a regular file (a pipe, socket or device); give a video file")
    size = p.stat().st_size
    if size == 0:
        raise InputError(f"{p}: the file is empty")
    try:
        import av
    except ImportError as exc:  # pragma: no cover - av is a hard dependency
        raise InputError(f"cannot probe {p}: PyAV is not installed ({exc}); pip install av") from None
    try:
        container = av.open(file_arg(str(p)), metadata_errors="ignore")
    except Exception as exc:
        raise InputError(
            f"{p}: not a readable video file ({_short(exc)}); is it truncated or corrupt?"
        ) from None
    with container:
        if not container.streams.video:
            raise InputError(f"{p}: has no video stream (audio or data only); give a file with video")
        # Cover art is a video stream too (one picture, often the first): the title is the first
        # other one, the stream every command maps as `0:V:0`.
        stream = next((s for s in container.streams.video if not _is_cover(s)), None)
        if stream is None:
            raise InputError(f"{p}: holds only cover art, not a video; give a file with video")
        return _describe(p, size, container, stream)


def _is_cover(stream: Any) -> bool:
    return bool(int(stream.disposition) & _ATTACHED_PIC)


def _short(exc: BaseException) -> str:
    """The library's reason in a few words: PyAV's errors carry FFmpeg's text as `strerror`
    (its str() adds an FFmpeg error number and the path, which the message already names)."""
    reason = getattr(exc, "strerror", None)
    text = str(reason if isinstance(reason, str) and reason.strip() else exc).strip()
    text = text.splitlines()[0] if text else type(exc).__name__
    return text[:160]


def _describe(p: Path, size: int, container: Any, stream: Any) -> MediaInfo:
    ctx = stream.codec_context
    if ctx is None:  # PyAV opens no decoder for a codec this FFmpeg does not know
        raise InputError(
            f"{p}: its video codec is one this ffmpeg cannot decode; transcode it to a common "
            "codec first (H.264, HEVC, ProRes, FFV1)"
        )
    coded_w, coded_h = int(ctx.width or 0), int(ctx.height or 0)
    rotation = 0
    decoded = 0
    transfer = int(getattr(ctx, "color_trc", 0) or 0)
    interlaced = False
    first_pts_s: float | None = None
    try:
        for frame in container.decode(stream):
            decoded += 1
            rotation = round(getattr(frame, "rotation", 0) or 0) % 360
            transfer = int(getattr(frame, "color_trc", 0) or 0) or transfer
            interlaced = interlaced or bool(getattr(frame, "interlaced_frame", False))
            coded_w, coded_h = coded_w or frame.width, coded_h or frame.height
            if frame.time is not None and first_pts_s is None:
                first_pts_s = float(frame.time)
            if decoded >= _MAX_FRAMES_TO_DECODE:
                break
    except Exception as exc:
        raise InputError(
            f"{p}: video data cannot be decoded ({_short(exc)}); the file is truncated or corrupt"
        ) from None
    if decoded == 0:
        raise InputError(f"{p}: no video frame could be decoded; the file is truncated or corrupt")
    if decoded == 1:  # the decoder ran out after one frame: there is no motion to encode
        videos = [v for v in container.streams.video if not _is_cover(v)]
        later = videos.index(stream) + 1 if stream in videos else len(videos)
        if later < len(videos):
            # Cover art that Matroska keeps unflagged: pertitle and its commands take the first
            # video stream (`0:V:0`), so the video must come first.
            out = "OUT" + (p.suffix.lower() or ".mkv")
            raise InputError(
                f"{p}: its first video stream is a single picture (cover art?) and another follows; "
                f"remux with the video first: ffmpeg -i IN -map 0:v:{later} -map '0:a?' -c copy {out}"
            )
        raise InputError(f"{p}: holds a single picture, not a video; give a video file")
    if coded_w <= 0 or coded_h <= 0:
        raise InputError(f"{p}: the video stream has no frame size")
    # The container's field order counts too: Matroska and MP4 can flag woven fields that the
    # bitstream codes as progressive frames (AVFieldOrder: 0 unknown, 1 progressive, 2+ fields).
    interlaced = interlaced or int(getattr(ctx, "field_order", 0) or 0) >= 2
    if transfer in _HDR_TRANSFERS:
        raise InputError(
            f"{p}: HDR video ({_HDR_TRANSFERS[transfer]} transfer); pertitle encodes 8-bit SDR and scores "
            "with SDR VMAF models: tone-map it to SDR BT.709 first (ffmpeg's zscale and tonemap filters)"
        )

    sar = stream.sample_aspect_ratio or ctx.sample_aspect_ratio
    sar_f = float(sar) if sar and float(sar) > 0 else 1.0
    # Anamorphic sources are displayed at coded_w * SAR; pertitle works in display pixels.
    disp_w = _even_side(coded_w * sar_f)
    disp_h = _even_side(coded_h)
    if rotation in (90, 270):
        disp_w, disp_h = disp_h, disp_w
    aspect = disp_w / disp_h
    if min(disp_w, disp_h) < MIN_SIDE:
        raise InputError(
            f"{p}: the picture is {disp_w}x{disp_h}; pertitle needs at least {MIN_SIDE} pixels a side "
            "(libvmaf cannot score smaller pictures)"
        )

    duration, per_stream = _duration_s(container, stream)
    video_start_s = _declared_start_s(stream)
    if first_pts_s is not None and first_pts_s - (video_start_s or 0.0) > _START_GUESSED_S:
        # The video's first frame lay past what libavformat analyses (5 s): it guessed the
        # stream's start (0) and length (the file's). Matroska whose video starts 6 s after its
        # audio read as 10 s of video, truncated at 8 s. Its first frame is the start, and its
        # packets say where it ends.
        video_start_s, per_stream = first_pts_s, False
        duration = float(container.duration) / 1_000_000.0 if container.duration else duration
    if duration <= 0 or not math.isfinite(duration):
        fmt_name = str(getattr(container.format, "name", "") or "")
        out = "OUT.mp4" if _ELEMENTARY_FORMATS & set(fmt_name.split(",")) else "OUT.mkv"
        raise InputError(
            f"{p}: the video has zero or unknown duration; remux it (ffmpeg -i IN -c copy {out})"
        )
    fps = _fps(stream, duration)
    frame_rate_varies = _frame_rate_varies(container, stream)
    duration = _checked_length_s(
        p, container, stream, duration, per_stream=per_stream, fps=fps, start=video_start_s or 0.0
    )
    frames = int(stream.frames or 0) or max(1, round(duration * fps))

    fmt = ctx.format
    pix_fmt = fmt.name if fmt is not None else str(ctx.pix_fmt or "unknown")
    bit_depth = 8
    if fmt is not None and fmt.components:
        bit_depth = int(fmt.components[0].bits)
    return MediaInfo(
        path=str(p),
        width=disp_w,
        height=disp_h,
        display_aspect=round(aspect, 6),
        fps=round(fps, 6),
        duration_s=round(duration, 6),
        frame_count=frames,
        pix_fmt=pix_fmt,
        bit_depth=bit_depth,
        rotation_deg=rotation,
        codec=str(ctx.name),
        size_bytes=size,
        interlaced=interlaced,
        start_offset_s=_start_offset_s(container, video_start_s),
        frame_rate_varies=frame_rate_varies,
        seeks_exactly=bool(_EXACT_SEEK_FORMATS & set(str(container.format.name or "").split(","))),
    )


def _frame_rate_varies(container: Any, stream: Any) -> bool:
    """Whether the frames come at a varying rate (a phone's video): then a fixed count of frames
    is not a fixed time, and keyframes are placed by time (`commands.keyframes_by_time`).

    Said by the stream where its average rate is not its base rate (MP4 from phones: 29.9 against
    120), else by the spacing of the first packets' timestamps (Matroska states no rate): each
    within a tick and 1% of the usual spacing, or the rate varies. Demuxing reads no pictures.
    """
    average, guessed = stream.average_rate, stream.guessed_rate
    if average and guessed and abs(float(average) / float(guessed) - 1.0) > 0.01:
        return True
    if not stream.time_base:
        return False
    stamps: list[int] = []
    with contextlib.suppress(Exception):  # unseekable or unreadable: judged on what was read
        container.seek(stream.start_time or 0, stream=stream, backward=True)
        for packet in container.demux(stream):
            if packet.pts is not None:  # an empty packet is a frame too (Theora's repeats)
                stamps.append(int(packet.pts))
                if len(stamps) >= _FRAMES_FOR_RATE:
                    break
    stamps.sort()
    steps = sorted(b - a for a, b in itertools.pairwise(stamps) if b > a)
    if len(steps) < 2:
        return False
    usual = steps[len(steps) // 2]
    slack = max(1.5, 0.01 * usual)
    return steps[0] < usual - slack or steps[-1] > usual + slack


def _declared_start_s(stream: Any) -> float | None:
    if stream.start_time is None or not stream.time_base:
        return None
    return float(stream.start_time * stream.time_base)


def _start_offset_s(container: Any, video_start_s: float | None) -> float:
    """How far into the file the video starts: ffmpeg's input -ss counts from the file's start
    (its earliest stream's), pertitle's sample windows from the video's first frame."""
    if video_start_s is None or container.start_time is None:
        return 0.0
    offset = video_start_s - float(container.start_time) / 1_000_000.0
    return round(offset, 6) if math.isfinite(offset) and offset > 0 else 0.0


def _checked_length_s(
    p: Path, container: Any, stream: Any, duration: float, *, per_stream: bool, fps: float, start: float
) -> float:
    """The video's length, after looking for packets near the end: a truncated file still
    declares its full duration.

    Where the video's own duration is unknown (Matroska stores none per stream) `duration` is the
    container's, which runs to the end of its longest stream: audio that goes on after the video,
    or a video that starts late, would read as truncated video. There the file is truncated only
    when every stream ends early, and the video's length is where its last packet ends. Demuxing
    reads packets without decoding them, so this costs little. It first seeks near the end; where
    seeking is not possible it reads on from where the probe stopped.
    """
    if duration < 1.0 or not stream.time_base:
        return duration
    tb = float(stream.time_base)
    # The container's duration counts from its earliest stream's start, the video's from its own.
    container_start = float(container.start_time) / 1_000_000.0 if container.start_time else 0.0
    last_video = last_any_end = video_end = -1.0
    with contextlib.suppress(Exception):  # not seekable: demux onwards from where the probe stopped
        container.seek(int((start + duration * 0.9) / tb), stream=stream, backward=True)
    try:
        for packet in container.demux():
            if packet.pts is None or not packet.size or not packet.time_base:
                continue
            ptb = float(packet.time_base)
            at = packet.pts * ptb - start
            # A packet of unknown duration (Matroska without default durations) lasts a frame.
            lasts = packet.duration * ptb if packet.duration else 1.0 / fps
            last_any_end = max(last_any_end, packet.pts * ptb - container_start + lasts)
            if packet.stream.index == stream.index:
                last_video = max(last_video, at)
                video_end = max(video_end, at + lasts)
    except Exception:
        pass  # a read error at the cut is what truncation looks like; judged below
    # A frame's length plus a little: declared durations and the last frame's end differ by
    # rounding and by how long the last frame is shown, not by seconds. Where the container
    # indexes every frame (MP4, MOV) its last one ends at the declared duration: a faststart MP4
    # cut at 85% still read to 3.5 s of 4 and was analysed with 81 of its 96 frames.
    slack = (
        _INDEXED_SLACK_FRAMES / fps
        if per_stream and stream.frames
        else max(_END_SLACK_S, _END_SLACK_SHARE * duration)
    )
    expected = duration - slack - 1.0 / fps
    if (video_end if per_stream else last_any_end) < expected or last_video < 0:
        seen = f"{max(video_end, 0.0):.1f} s" if last_video >= 0 else "no video data"
        raise InputError(
            f"{p}: declares {duration:.1f} s of video but its data ends early ({seen}); "
            "the file is truncated or damaged: re-copy or re-export it"
        )
    if per_stream:
        return duration
    return min(duration, max(video_end, last_video))


def _even_side(x: float) -> int:
    """Even, as 4:2:0 encodes need: an odd side of the coded frame loses its last pixel (427 ->
    426, never scaled up by one), an anamorphic width takes the nearest even number, as every size
    after it does (853.3 -> 854, `plan.even`)."""
    if float(x).is_integer():
        return max(2, int(x) // 2 * 2)
    return even(x)


def _fps(stream: Any, duration_s: float) -> float:
    """The average frame rate. A guessed or base rate of 1000 or more is a time base (Matroska's
    1 ms) rather than a rate; an average rate is measured, so a high-speed camera's 1000 fps
    stands. Else frames over duration, and 25 only when nothing says more."""
    average = float(Fraction(stream.average_rate)) if stream.average_rate else 0.0
    if 0 < average <= _MAX_AVERAGE_FPS:
        return average
    for rate in (stream.guessed_rate, stream.base_rate):
        if rate:
            value = float(Fraction(rate))
            if 0 < value < 1000:
                return value
    frames = int(stream.frames or 0)
    if frames > 1 and duration_s > 0 and 0 < frames / duration_s <= _MAX_AVERAGE_FPS:
        return frames / duration_s
    return 25.0


def _duration_s(container: Any, stream: Any) -> tuple[float, bool]:
    """The declared duration, and whether it is the video stream's own (else the container's)."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base), True
    if container.duration:
        return float(container.duration) / 1_000_000.0, False
    return 0.0, False
