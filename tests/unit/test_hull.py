"""Hand-checked geometry of pertitle.hull.

Most curves here are straight lines in log2(bitrate): with x = log2(bitrate / 100 kbps), a curve
vmaf = a + s*x is what both PCHIP and the two-point line reproduce exactly, so every expected value
below can be worked out on paper.
"""

from __future__ import annotations

import itertools
import math

import pytest

from pertitle.errors import HullError
from pertitle.hull import (
    HullSpan,
    bitrate_for,
    crf_at,
    crossovers,
    curves_by_height,
    hull_spans,
    interpolate,
    pareto_filter,
    upper_hull,
)
from pertitle.models import Hull, RdPoint


def pt(
    bitrate_kbps: float, vmaf: float, height: int = 1080, crf: float = 30.0, psnr: float = 40.0
) -> RdPoint:
    return RdPoint(
        width=height * 16 // 9,
        height=height,
        crf=crf,
        bitrate_kbps=bitrate_kbps,
        vmaf=vmaf,
        psnr=psnr,
        ssim=0.95,
    )


def log_line(height: int, a: float, s: float, xs: range) -> list[RdPoint]:
    """Points at bitrate 100 * 2**x kbps with vmaf = a + s*x."""
    return [pt(100.0 * 2**x, a + s * x, height) for x in xs]


# 360p: vmaf = 40 + 10x at 100..3200 kbps -> 40, 50, 60, 70, 80, 90
# 720p: vmaf = 22 + 15x at 200..3200 kbps -> 37, 52, 67, 82, 97
# They cross where 40 + 10x = 22 + 15x, i.e. x = 3.6: 100 * 2**3.6 = 1212.57 kbps, vmaf 76.
P360 = log_line(360, 40, 10, range(0, 6))
P720 = log_line(720, 22, 15, range(1, 6))


# --- pareto_filter ---------------------------------------------------------------------------------


def test_pareto_flat_curve_keeps_only_the_cheapest() -> None:
    flat = [pt(400, 80), pt(100, 80), pt(200, 80)]
    assert pareto_filter(flat, "vmaf") == [pt(100, 80)]


def test_pareto_drops_more_rate_for_less_quality() -> None:
    # 300 kbps gives 65 < 70 already had at 200 kbps: dominated.
    points = [pt(100, 50), pt(300, 65), pt(200, 70), pt(400, 80)]
    assert [p.bitrate_kbps for p in pareto_filter(points, "vmaf")] == [100, 200, 400]


def test_pareto_equal_bitrate_keeps_the_better_point() -> None:
    assert pareto_filter([pt(100, 50), pt(100, 60)], "vmaf") == [pt(100, 60)]


def test_pareto_drops_unusable_points() -> None:
    bad = [pt(math.nan, 50), pt(0, 50), pt(-5, 50), pt(math.inf, 50), pt(100, math.nan), pt(100, math.inf)]
    assert pareto_filter([*bad, pt(200, 60)], "vmaf") == [pt(200, 60)]


def test_unknown_metric_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown metric 'bitrate'"):
        pareto_filter([pt(100, 50)], "bitrate")


# --- upper_hull ------------------------------------------------------------------------------------


def test_hull_of_one_point_is_that_point() -> None:
    p = pt(500, 70)
    hull = upper_hull([p])
    assert hull.vertices == (p,)
    assert hull.dominated == ()
    assert hull.crossovers == ()
    assert hull.metric == "vmaf"


def test_hull_of_nothing_raises() -> None:
    with pytest.raises(HullError, match="no usable rate-quality point"):
        upper_hull([])


def test_hull_of_only_unusable_points_raises() -> None:
    with pytest.raises(HullError, match="2 given, none with a finite positive bitrate and a finite vmaf"):
        upper_hull([pt(math.nan, 50), pt(100, math.nan)])


def test_hull_drops_nan_points_into_dominated_in_input_order() -> None:
    nan_rate, good, nan_vmaf = pt(math.nan, 99), pt(100, 50), pt(200, math.nan)
    hull = upper_hull([nan_rate, good, nan_vmaf])
    assert hull.vertices == (good,)
    assert hull.dominated[0] is nan_rate
    assert hull.dominated[1] is nan_vmaf
    assert len(hull.dominated) == 2


def test_hull_collinear_middle_point_is_not_a_vertex() -> None:
    # (100,40) (200,50) (300,60) lie on slope 0.1/kbps; (400,62) bends down (slope 0.02).
    a, b, c, d = pt(100, 40), pt(200, 50), pt(300, 60), pt(400, 62)
    hull = upper_hull([a, b, c, d])
    assert hull.vertices == (a, c, d)
    assert hull.dominated == (b,)


def test_hull_removes_a_point_below_the_chord() -> None:
    # The chord (100,30)-(400,80) is at 30 + 50/3 = 46.7 at 200 kbps; (200,35) lies below it.
    a, b, c = pt(100, 30), pt(200, 35), pt(400, 80)
    hull = upper_hull([a, b, c])
    assert hull.vertices == (a, c)
    assert hull.dominated == (b,)


def test_hull_non_monotone_point_is_dominated() -> None:
    # (300,65) costs more than (200,70) for less: out. Then slopes 0.2 then 0.05: concave, all kept.
    a, b, c, d = pt(100, 50), pt(200, 70), pt(300, 65), pt(400, 80)
    hull = upper_hull([d, c, b, a])
    assert hull.vertices == (a, b, d)
    assert hull.dominated == (c,)


def test_hull_across_two_resolutions() -> None:
    # Best per bitrate: 100:40(360) 200:50(360) 400:60(360) 800:70(360) 1600:82(720) 3200:97(720).
    # Slopes 0.1, 0.05, 0.025, 12/800=0.015, 15/1600=0.009375 fall steadily: all six are vertices.
    hull = upper_hull(P360 + P720)
    assert [(p.height, p.bitrate_kbps, p.vmaf) for p in hull.vertices] == [
        (360, 100, 40),
        (360, 200, 50),
        (360, 400, 60),
        (360, 800, 70),
        (720, 1600, 82),
        (720, 3200, 97),
    ]
    # Dominated, in input order: 360p at 1600 and 3200, then 720p at 200, 400, 800.
    assert [(p.height, p.bitrate_kbps) for p in hull.dominated] == [
        (360, 1600),
        (360, 3200),
        (720, 200),
        (720, 400),
        (720, 800),
    ]
    (crossover,) = hull.crossovers
    assert (crossover.low_height, crossover.high_height) == (360, 720)
    assert crossover.bitrate_kbps == pytest.approx(100 * 2**3.6, rel=1e-9)


def test_hull_on_another_metric() -> None:
    # On psnr the 300 kbps point is best, the 100 kbps one has the lowest psnr: vertices follow psnr.
    a = pt(100, 90, psnr=30)
    b = pt(300, 20, psnr=42)
    hull = upper_hull([a, b], metric="psnr")
    assert hull.vertices == (a, b)
    assert upper_hull([a, b], metric="vmaf").vertices == (a,)


# --- curves_by_height ------------------------------------------------------------------------------


def test_curves_by_height_sorts_and_filters_each_height() -> None:
    points = [pt(400, 60, 720), pt(100, 40, 360), pt(200, 30, 360), pt(200, 50, 720)]
    curves = curves_by_height(points, "vmaf")
    assert list(curves) == [360, 720]
    assert curves[360] == [pt(100, 40, 360)]  # 200 kbps at 30 is dominated by 100 kbps at 40
    assert curves[720] == [pt(200, 50, 720), pt(400, 60, 720)]


# --- interpolate -----------------------------------------------------------------------------------


def test_interpolate_two_points_is_linear_in_log_bitrate() -> None:
    # 200 kbps is half-way from 100 to 400 in log(bitrate): (40 + 60) / 2 = 50.
    curve = [pt(100, 40), pt(400, 60)]
    assert interpolate(curve, 200, "vmaf") == pytest.approx(50, abs=1e-9)
    assert interpolate(curve, 100, "vmaf") == pytest.approx(40, abs=1e-12)
    assert interpolate(curve, 400, "vmaf") == pytest.approx(60, abs=1e-12)


def test_interpolate_pchip_is_exact_on_a_log_line() -> None:
    # 360p: 40 + 10x; at x = 2.5 (565.685 kbps) -> 65; at x = 4.25 -> 82.5.
    assert interpolate(P360, 100 * 2**2.5, "vmaf") == pytest.approx(65, abs=1e-9)
    assert interpolate(P360, 100 * 2**4.25, "vmaf") == pytest.approx(82.5, abs=1e-9)


def test_interpolate_pchip_is_monotone_and_hits_the_knots() -> None:
    curve = [pt(100, 30), pt(200, 60), pt(400, 70), pt(800, 95)]
    for p in curve:
        assert interpolate(curve, p.bitrate_kbps, "vmaf") == pytest.approx(p.vmaf, abs=1e-9)
    values = [interpolate(curve, 100 * 8 ** (i / 200), "vmaf") for i in range(201)]
    finite = [v for v in values if v is not None]
    assert len(finite) == 201
    assert all(b >= a for a, b in itertools.pairwise(finite))
    # No overshoot: between the 200 and 400 kbps knots it stays inside [60, 70].
    middle = interpolate(curve, 283, "vmaf")
    assert middle is not None
    assert 60 < middle < 70


def test_interpolate_does_not_extrapolate() -> None:
    assert interpolate(P360, 99.9, "vmaf") is None
    assert interpolate(P360, 3201, "vmaf") is None
    assert interpolate([], 100, "vmaf") is None


def test_interpolate_at_a_curve_end_within_float_noise_reads_the_end() -> None:
    # A bitrate computed back from a log (a rung at exactly the top knot) can land a hair outside
    # the measured range: it reads the end knot, not "outside" (pchip itself would give NaN).
    top, bottom = 100 * 2**5, 100
    assert interpolate(P360, top * (1 + 1e-12), "vmaf") == pytest.approx(90, abs=1e-9)
    assert interpolate(P360, bottom * (1 - 1e-12), "vmaf") == pytest.approx(40, abs=1e-9)


def test_interpolate_one_point_only_at_its_bitrate() -> None:
    curve = [pt(500, 70)]
    assert interpolate(curve, 500, "vmaf") == 70
    assert interpolate(curve, 501, "vmaf") is None
    assert interpolate(curve, 499, "vmaf") is None


def test_interpolate_other_metric_over_the_same_points() -> None:
    # psnr 30 at 100 kbps and 36 at 400 kbps: half-way in log rate -> 33.
    curve = [pt(100, 40, psnr=30), pt(400, 60, psnr=36)]
    assert interpolate(curve, 200, "psnr") == pytest.approx(33, abs=1e-9)


# --- bitrate_for -----------------------------------------------------------------------------------


def test_bitrate_for_inverts_a_log_line() -> None:
    # 40 + 10x = 65 -> x = 2.5 -> 100 * 2**2.5 = 565.685 kbps
    assert bitrate_for(P360, 65, "vmaf") == pytest.approx(565.685424949, rel=1e-9)


def test_bitrate_for_two_points() -> None:
    # 40 + 20 * log4(b/100) = 55 -> log4(b/100) = 0.75 -> b = 100 * 4**0.75 = 282.843 kbps
    assert bitrate_for([pt(100, 40), pt(400, 60)], 55, "vmaf") == pytest.approx(100 * 4**0.75, rel=1e-9)


def test_bitrate_for_edges() -> None:
    assert bitrate_for(P360, 30, "vmaf") == 100  # the cheapest point already reaches 30
    assert bitrate_for(P360, 40, "vmaf") == 100
    assert bitrate_for(P360, 90, "vmaf") == 3200  # reached exactly at the last knot
    assert bitrate_for(P360, 90.01, "vmaf") is None  # never reached
    assert bitrate_for([pt(500, 70)], 70, "vmaf") == 500
    assert bitrate_for([pt(500, 70)], 71, "vmaf") is None
    assert bitrate_for([], 10, "vmaf") is None


# --- crf_at ----------------------------------------------------------------------------------------


def test_crf_at_is_linear_in_log_bitrate_and_clamped() -> None:
    curve = [pt(100, 40, crf=40), pt(200, 50, crf=34), pt(400, 60, crf=28)]
    # 100 * 2**1.5 = 282.8 kbps is half-way from 200 to 400 in log rate: (34 + 28) / 2 = 31.
    assert crf_at(curve, 100 * 2**1.5) == pytest.approx(31, abs=1e-9)
    assert crf_at(curve, 200) == pytest.approx(34, abs=1e-12)
    assert crf_at(curve, 50) == 40
    assert crf_at(curve, 1000) == 28


def test_crf_at_empty_curve_raises() -> None:
    with pytest.raises(HullError):
        crf_at([], 100)


# --- crossovers ------------------------------------------------------------------------------------


def test_crossover_at_a_known_bitrate() -> None:
    (found,) = crossovers(P360 + P720)
    assert (found.low_height, found.high_height) == (360, 720)
    # 40 + 10x = 22 + 15x -> x = 3.6 -> 100 * 2**3.6 = 1212.573 kbps
    assert found.bitrate_kbps == pytest.approx(1212.5732532, rel=1e-9)
    assert interpolate(P720, found.bitrate_kbps, "vmaf") == pytest.approx(76, abs=1e-6)


def test_crossover_at_the_overlap_start_when_already_ahead() -> None:
    # 720p is 5 points ahead from its first point (200 kbps), which is inside 360p's range.
    high = log_line(720, 55, 10, range(1, 4))
    (found,) = crossovers(P360 + high)
    assert found.bitrate_kbps == pytest.approx(200, rel=1e-12)


def test_crossover_left_out_when_never_overtaking() -> None:
    # 720p is 3 points behind at every bitrate of the overlap.
    high = log_line(720, 37, 10, range(1, 6))
    assert crossovers(P360 + high) == ()


def test_crossover_left_out_without_overlap() -> None:
    low = log_line(360, 40, 10, range(0, 2))  # 100-200 kbps
    high = log_line(720, 60, 10, range(3, 5))  # 800-1600 kbps
    assert crossovers(low + high) == ()


def test_crossover_is_where_the_higher_size_stays_ahead_when_curves_cross_twice() -> None:
    # 360p: 40 + 10x. 720p knots at x = 1..5: 53 (3 ahead), 55 and 65 (5 behind), 85 and 95 (5 ahead).
    # It leads at 200 kbps, falls behind, and passes 360p for good between the 800 and 1600 kbps
    # knots (x = 3 and 4): that is where it overtakes, not the 200 kbps of its first lead.
    high = [pt(100.0 * 2**x, v, 720) for x, v in zip(range(1, 6), (53, 55, 65, 85, 95), strict=True)]
    (found,) = crossovers(P360 + high)
    assert 800 < found.bitrate_kbps < 1600
    assert interpolate(high, found.bitrate_kbps, "vmaf") == pytest.approx(
        interpolate(P360, found.bitrate_kbps, "vmaf"), abs=1e-6
    )
    for b in (found.bitrate_kbps * 1.01, 1600, 2400, 3200):
        assert interpolate(high, b, "vmaf") >= interpolate(P360, b, "vmaf")  # type: ignore[operator]


def test_crossover_at_a_lead_the_higher_size_keeps_only_in_the_middle() -> None:
    # 720p knots at x = 1..5: 35, 55, 75, 75, 75 against 360p's 50, 60, 70, 80, 90: behind, ahead
    # at 800 kbps only (x = 3), behind again from before 1600. It overtakes once, between the 400
    # and 800 kbps knots, and that is the crossover even though 360p wins the top again.
    high = [pt(100.0 * 2**x, v, 720) for x, v in zip(range(1, 6), (35, 55, 75, 75, 75), strict=True)]
    (found,) = crossovers(P360 + high)
    assert 400 < found.bitrate_kbps < 800


def test_three_resolutions_give_two_crossovers_by_height() -> None:
    # 360p 40 + 6x, 720p 32.5 + 9x, 1080p 20.5 + 12x:
    # 360/720 at 40 + 6x = 32.5 + 9x -> x = 2.5 (565.685 kbps);
    # 720/1080 at 32.5 + 9x = 20.5 + 12x -> x = 4 (1600 kbps).
    points = log_line(1080, 20.5, 12, range(2, 7)) + log_line(360, 40, 6, range(0, 5))
    points += log_line(720, 32.5, 9, range(1, 7))
    found = crossovers(points)
    assert [(c.low_height, c.high_height) for c in found] == [(360, 720), (720, 1080)]
    assert found[0].bitrate_kbps == pytest.approx(565.685424949, rel=1e-9)
    assert found[1].bitrate_kbps == pytest.approx(1600, rel=1e-9)


# --- hull_spans --------------------------------------------------------------------------------------


def test_hull_spans_group_consecutive_vertices_by_resolution() -> None:
    # 360p vertices at 100 and 200 kbps, 540p at 400, 720p at 800 and 1600, then 540p again at 3200
    # (a contrived hull that goes back to a size): four spans, the last one a single vertex.
    vertices = (pt(100, 40, 360), pt(200, 55, 360), pt(400, 68, 540), pt(800, 78, 720), pt(1600, 85, 720))
    hull = Hull("vmaf", (*vertices, pt(3200, 88, 540)), (), ())
    assert hull_spans(hull) == (
        HullSpan(640, 360, 100, 200, 2),
        HullSpan(960, 540, 400, 400, 1),
        HullSpan(1280, 720, 800, 1600, 2),
        HullSpan(960, 540, 3200, 3200, 1),
    )
    assert hull_spans(Hull("vmaf", (), (), ())) == ()


def test_hull_spans_of_a_real_hull_cover_its_vertices_in_order() -> None:
    hull = upper_hull(P360 + P720, "vmaf")
    spans = hull_spans(hull)
    assert [s.height for s in spans] == [360, 720]
    assert sum(s.vertices for s in spans) == len(hull.vertices)
    assert spans[0].from_kbps == hull.vertices[0].bitrate_kbps
    assert spans[-1].to_kbps == hull.vertices[-1].bitrate_kbps
