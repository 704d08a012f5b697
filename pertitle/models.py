"""The plain data that flows through the pipeline. Frozen, typed, units in the names."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

# Peak bitrate is measured as HLS does (BANDWIDTH: the peak segment bitrate), over segments of
# Apple's recommended target duration, 6 s (three 2 s GOPs).
SEGMENT_S = 6.0
# The most a rung's peak segment bitrate may be over its average (verify fails a rung above it).
MAX_PEAK_RATIO = 2.0

RateControl = Literal["crf", "abr2pass", "capped_crf"]
DEPLOY_RATE_CONTROLS = ("abr2pass", "capped_crf")
METRICS = ("vmaf", "vmaf_hmean", "vmaf_p1", "vmaf_p5", "psnr", "ssim")
# What a measured value of each metric can be: a cached result or a saved ladder outside these was
# not measured (PSNR's bound is loose: libvmaf's PSNR-Y of 8-bit video stops at 60 dB).
METRIC_RANGES = {
    "vmaf": (0.0, 100.0),
    "vmaf_hmean": (0.0, 100.0),
    "vmaf_p1": (0.0, 100.0),
    "vmaf_p5": (0.0, 100.0),
    "psnr": (0.0, 1000.0),
    "ssim": (-1.0, 1.0),
}


@dataclass(frozen=True)
class MediaInfo:
    """The first video stream of a title, as it is displayed (rotation applied)."""

    path: str
    width: int
    height: int
    display_aspect: float
    fps: float
    duration_s: float
    frame_count: int
    pix_fmt: str
    bit_depth: int
    rotation_deg: int
    codec: str
    size_bytes: int
    # Frames flagged interlaced: pertitle scales them as progressive frames, as the deployed encodes
    # of the ladder will, so the ladder holds; the title should be deinterlaced before both.
    interlaced: bool = False
    # Where the video starts after the file's start (video that starts after its audio, a capture's
    # first frame): sample windows count from the video's first frame, ffmpeg's -ss from the file's.
    start_offset_s: float = 0.0
    # Whether the container seeks to the keyframe before a time, so a window is cut exactly by
    # input seeking; MPEG-TS and MPEG-PS seek by timestamp and miss (`commands.prepare_argv`).
    seeks_exactly: bool = True
    # Frames at a varying rate (a phone's video): its keyframes are placed by time, not by count.
    frame_rate_varies: bool = False


@dataclass(frozen=True)
class SampleWindow:
    """A stretch of the title that is probed; start (from the video's first frame) and length in
    seconds."""

    index: int
    start_s: float
    duration_s: float


@dataclass(frozen=True)
class Resolution:
    width: int
    height: int

    @property
    def label(self) -> str:
        return f"{self.width}x{self.height}"


@dataclass(frozen=True)
class EncodeSpec:
    """Everything that decides the bits of one encode (and so enters the cache key).

    `rate_control` is "crf" for hull probes; the deployed renditions use "abr2pass" (two-pass at
    `bitrate_kbps` with VBV `maxrate_kbps`/`bufsize_kbps`) or "capped_crf" (one pass at `crf`,
    capped by the same VBV; `bitrate_kbps` is then the target it is expected to land near).
    """

    codec: str
    preset: str
    width: int
    height: int
    rate_control: RateControl
    crf: float | None = None
    bitrate_kbps: float | None = None
    maxrate_kbps: float | None = None
    bufsize_kbps: float | None = None
    gop_s: float = 2.0
    scaler: str = "bicubic"


@dataclass(frozen=True)
class Measurement:
    """Scores of one encode against its reference, plus the bitrate read from the stream."""

    bitrate_kbps: float
    size_bytes: int
    duration_s: float
    frames: int
    vmaf: float
    vmaf_hmean: float
    vmaf_p1: float
    vmaf_p5: float
    psnr: float
    ssim: float
    vmaf_per_frame: tuple[float, ...] = field(default=(), repr=False)
    encode_s: float = 0.0
    measure_s: float = 0.0
    # Highest bitrate over consecutive GOP-long segments (HLS BANDWIDTH); 0.0 = not measured.
    peak_bitrate_kbps: float = 0.0


@dataclass(frozen=True)
class RdPoint:
    """One point of a rate-quality curve: measured, or (`estimated`) interpolated between measured
    CRFs of the same resolution."""

    width: int
    height: int
    crf: float
    bitrate_kbps: float
    vmaf: float
    psnr: float
    ssim: float
    vmaf_hmean: float = 0.0
    vmaf_p1: float = 0.0
    vmaf_p5: float = 0.0
    estimated: bool = False  # read off the resolution's curve through its measured CRFs (--fast)

    def metric(self, name: str) -> float:
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(METRICS)}")
        return float(getattr(self, name))


@dataclass(frozen=True)
class Crossover:
    """Bitrate at which `high_height` starts to beat `low_height` on the chosen metric."""

    low_height: int
    high_height: int
    bitrate_kbps: float


@dataclass(frozen=True)
class Hull:
    """Upper convex hull of all points in (bitrate, metric), ordered by rising bitrate."""

    metric: str
    vertices: tuple[RdPoint, ...]
    dominated: tuple[RdPoint, ...]
    crossovers: tuple[Crossover, ...]


@dataclass(frozen=True)
class Quality:
    vmaf: float
    psnr: float
    ssim: float
    vmaf_hmean: float = 0.0
    vmaf_p1: float = 0.0
    vmaf_p5: float = 0.0


@dataclass(frozen=True)
class Constraints:
    """Rules a ladder must obey; loaded from a constraints YAML (ladders/default.yaml)."""

    min_bitrate_kbps: float = 100.0
    max_bitrate_kbps: float = 12000.0
    max_rungs: int = 8
    min_rungs: int = 4
    min_ratio: float = 1.5
    max_ratio: float = 2.0
    quality_ceiling: float = 95.0
    quality_floor: float | None = 20.0
    maxrate_factor: float = 1.5
    bufsize_factor: float = 2.0
    keep_source_resolution: bool = True


# The bitrates a rendition may ask an encoder for, kbit/s: below 1 the encoders' own units round
# to 0 ("0k"), above 1 Gbit/s x264 and ffmpeg refuse them.
RUNG_KBPS_RANGE = (1.0, 1_000_000.0)
# The most rungs a ladder may hold: players list a few dozen variants at most, and the reports
# (one per-frame plot row per rung) are sized for ladders, not for catalogues of encodes.
MAX_RUNGS = 32


def deployed_kbps(kbps: float) -> int:
    """The whole kbit/s an encoder is given for `kbps` (the commands write `-b:v {kbps:.0f}k`):
    two rungs that give the same are one encode."""
    return int(f"{kbps:.0f}")


def deployable_kbps(kbps: float) -> bool:
    """Whether an encoder can be asked for this average bitrate (the one rule for ladder
    documents and reference ladders alike)."""
    lo, hi = RUNG_KBPS_RANGE
    return math.isfinite(kbps) and lo <= kbps <= hi


# The largest side x264, x265 and SVT-AV1 take (16384; libvpx allows 16383), pixels.
MAX_SIDE = 16384


def side_problem(pixels: int) -> str | None:
    """Why a rendition's width or height cannot be encoded as 4:2:0 video (even, 2-16384), or None."""
    if pixels <= 0:
        return f"must be positive, got {pixels}"
    if pixels > MAX_SIDE:
        return f"must be at most {MAX_SIDE} (what encoders take), got {pixels}"
    if pixels % 2:
        return f"must be even (4:2:0 video), got {pixels}"
    return None


@dataclass(frozen=True)
class Rung:
    """One rendition of the ladder; `predicted` is for the deployed two-pass encode."""

    width: int
    height: int
    bitrate_kbps: float
    maxrate_kbps: float
    bufsize_kbps: float
    codec: str
    preset: str
    crf: float
    predicted: Quality
    hull_predicted: Quality
    vmaf_per_frame: tuple[float, ...] = field(default=(), repr=False)
    # What the deployed encode really averaged on the probed part (encoders miss short targets).
    predicted_bitrate_kbps: float = 0.0
    # Its peak over SEGMENT_S segments in that encode (HLS BANDWIDTH); 0.0 = not measured.
    predicted_peak_kbps: float = 0.0


@dataclass(frozen=True)
class Ladder:
    rungs: tuple[Rung, ...]
    gave_way: tuple[str, ...] = ()


@dataclass(frozen=True)
class RungTarget:
    """A rung as chosen on the hull, before it is confirmed with a deployed encode."""

    width: int
    height: int
    bitrate_kbps: float
    crf: float
    hull_predicted: Quality


@dataclass(frozen=True)
class LadderPlan:
    targets: tuple[RungTarget, ...]
    gave_way: tuple[str, ...] = ()


@dataclass(frozen=True)
class Timings:
    probe_s: float = 0.0
    prepare_s: float = 0.0
    encode_measure_s: float = 0.0
    calibrate_s: float = 0.0
    total_s: float = 0.0


@dataclass(frozen=True)
class TitleResult:
    """Everything one analysis produced; `report.serialize` turns it into the v1 document."""

    title: str
    source: MediaInfo
    settings: dict[str, object]
    tool: dict[str, str]
    samples: tuple[SampleWindow, ...]
    full_pass: bool
    points: tuple[RdPoint, ...]
    hull: Hull
    ladder: Ladder
    timings: Timings
    encodes: int
    cache_hits: int


def shown_count(n: int) -> str:
    """`n` as a message gives it: 'that' for a number of a dozen digits or more (a typo of
    `--samples 1000...0` is not echoed back in full)."""
    return str(n) if abs(n) < 10**12 else "that"


def counted(n: int, noun: str) -> str:
    """'1 rung', '3 rungs': a count in messages (the nouns here take an s)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def for_count(n: int, one: str, many: str) -> str:
    """The word that agrees with a count of `n` ('is'/'are', 'its bitrate'/'their bitrates')."""
    return one if n == 1 else many
