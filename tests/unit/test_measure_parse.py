"""libvmaf's JSON log -> per-frame scores -> summary, on hand-written logs with hand-checked numbers."""

from __future__ import annotations

import math
from typing import Any

import pytest

from pertitle.measure import FrameScores, harmonic_mean_vmaf, parse_ssim_stats, parse_vmaf_log, summarize


def log(*frames: dict[str, Any]) -> dict[str, Any]:
    """A libvmaf v2 JSON log, as `log_fmt=json` writes it (pooled metrics left out: unused)."""
    return {
        "version": "3.0.0",
        "fps": 24.0,
        "frames": [{"frameNum": i, "metrics": m} for i, m in enumerate(frames)],
        "pooled_metrics": {},
    }


def frame(vmaf: float, psnr_y: float = 40.0, ssim: float = 0.98) -> dict[str, Any]:
    return {
        "integer_adm2": 0.95,
        "integer_motion": 1.5,
        "psnr_y": psnr_y,
        "psnr_cb": psnr_y + 2,
        "psnr_cr": psnr_y + 3,
        "float_ssim": ssim,
        "vmaf": vmaf,
    }


def test_parse_reads_vmaf_psnr_y_and_float_ssim_per_frame_in_order() -> None:
    scores = parse_vmaf_log(log(frame(90.5, 41.0, 0.99), frame(70.25, 35.5, 0.9), frame(80, 38, 0.95)))
    assert scores == FrameScores(
        vmaf=(90.5, 70.25, 80.0),
        psnr_y=(41.0, 35.5, 38.0),
        ssim=(0.99, 0.9, 0.95),
    )


def test_parse_leaves_ssim_to_the_stats_file_when_the_log_has_none() -> None:
    f = frame(50.0)
    del f["float_ssim"]
    assert parse_vmaf_log(log(f)) == FrameScores(vmaf=(50.0,), psnr_y=(40.0,), ssim=())


def test_parse_ssim_stats_reads_y_per_frame() -> None:
    # The ssim filter's stats_file lines, as FFmpeg 7-9 writes them.
    text = (
        "n:1 Y:0.923092 U:0.972031 V:0.974603 All:0.939833 (12.206451)\n"
        "n:2 Y:0.5 U:0.972095 V:0.974647 All:0.939886 (12.210214)\n"
    )
    assert parse_ssim_stats(text) == (0.923092, 0.5)


def test_parse_ssim_stats_rejects_an_empty_file() -> None:
    with pytest.raises(ValueError, match="no frames"):
        parse_ssim_stats("")


def test_parse_rejects_a_log_without_frames() -> None:
    with pytest.raises(ValueError, match="no frames"):
        parse_vmaf_log({"version": "3.0.0", "frames": []})
    with pytest.raises(ValueError, match="no frames"):
        parse_vmaf_log({})


@pytest.mark.parametrize("missing", ["vmaf", "psnr_y"])
def test_parse_rejects_a_frame_without_a_metric(missing: str) -> None:
    bad = frame(60.0)
    del bad[missing]
    with pytest.raises(ValueError, match=rf"lacks '{missing}' in frame 1"):
        parse_vmaf_log(log(frame(70.0), bad))


def test_harmonic_mean_is_shifted_by_one() -> None:
    # 2 / (1/51 + 1/101) - 1 = 2 * 51 * 101 / 152 - 1 = 10302 / 152 - 1 = 66.7763157894...
    assert harmonic_mean_vmaf([50.0, 100.0]) == pytest.approx(10302 / 152 - 1, abs=1e-12)
    # a zero-score frame stays finite: 3 / (1/1 + 1/101 + 1/101) - 1 = 303 / 103 - 1
    assert harmonic_mean_vmaf([0.0, 100.0, 100.0]) == pytest.approx(303 / 103 - 1, abs=1e-12)
    # equal scores: the mean is the score
    assert harmonic_mean_vmaf([87.5] * 7) == pytest.approx(87.5, abs=1e-12)


def test_harmonic_mean_punishes_bad_frames_more_than_the_mean() -> None:
    values = [95.0, 95.0, 95.0, 20.0]
    assert harmonic_mean_vmaf(values) < sum(values) / len(values)


def test_summary_mean_hmean_and_percentiles() -> None:
    # VMAF 10, 20, 30, 40, 50. numpy's linear percentile sits at rank p/100 * (n - 1):
    # p1 at rank 0.04 is 10 + 0.04 * 10 = 10.4; p5 at rank 0.2 is 10 + 0.2 * 10 = 12.
    scores = FrameScores(
        vmaf=(30.0, 10.0, 50.0, 20.0, 40.0),
        psnr_y=(30.0, 40.0, 35.0, 45.0, 50.0),
        ssim=(0.9, 0.8, 1.0, 0.85, 0.95),
    )
    s = summarize(scores)
    assert s["vmaf"] == pytest.approx(30.0)
    assert s["vmaf_p1"] == pytest.approx(10.4)
    assert s["vmaf_p5"] == pytest.approx(12.0)
    # 1/11 + 1/21 + 1/31 + 1/41 + 1/51 = 0.0909091 + 0.0476190 + 0.0322581 + 0.0243902 + 0.0196078
    # = 0.2147842; 5 / 0.2147842 - 1 = 22.2792
    expected_h = 5 / (1 / 11 + 1 / 21 + 1 / 31 + 1 / 41 + 1 / 51) - 1
    assert s["vmaf_hmean"] == pytest.approx(expected_h, abs=1e-9)
    assert s["vmaf_hmean"] == pytest.approx(22.2792, abs=1e-4)
    assert s["psnr"] == pytest.approx(40.0)
    assert s["ssim"] == pytest.approx(0.9)
    assert s["vmaf_p1"] <= s["vmaf_p5"] <= s["vmaf_hmean"] <= s["vmaf"]


def test_summary_of_one_frame_is_that_frame() -> None:
    s = summarize(FrameScores(vmaf=(77.0,), psnr_y=(33.0,), ssim=(0.91,)))
    assert s == {
        "vmaf": 77.0,
        "vmaf_hmean": pytest.approx(77.0),
        "vmaf_p1": 77.0,
        "vmaf_p5": 77.0,
        "psnr": 33.0,
        "ssim": 0.91,
    }


def test_summary_psnr_skips_infinite_frames_and_is_inf_only_when_all_are() -> None:
    some = summarize(FrameScores(vmaf=(99.0, 99.0), psnr_y=(math.inf, 48.0), ssim=(1.0, 0.99)))
    assert some["psnr"] == 48.0
    every = summarize(FrameScores(vmaf=(99.0,), psnr_y=(math.inf,), ssim=(1.0,)))
    assert every["psnr"] == math.inf


def test_parse_then_summarize_end_to_end() -> None:
    data = log(frame(100.0, 60.0, 1.0), frame(50.0, 30.0, 0.8))
    s = summarize(parse_vmaf_log(data))
    assert s["vmaf"] == 75.0
    assert s["vmaf_hmean"] == pytest.approx(2 / (1 / 101 + 1 / 51) - 1)
    assert s["vmaf_p5"] == pytest.approx(50.0 + 0.05 * 50.0)  # rank 0.05 between 50 and 100
    assert s["psnr"] == 45.0
    assert s["ssim"] == pytest.approx(0.9)
