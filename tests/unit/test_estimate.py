"""fill_skipped_crfs, between_sizes, nearest_to_hull: the points --fast does not encode, on
hand-checked curves."""

from __future__ import annotations

import math

import pytest

from pertitle.estimate import between_sizes, fill_skipped_crfs, nearest_to_hull
from pertitle.models import RdPoint, Resolution


def point(crf: float, kbps: float, vmaf: float, height: int = 360) -> RdPoint:
    return RdPoint(640 * height // 360, height, crf, kbps, vmaf, 40.0, 0.95)


def test_a_geometric_rate_and_linear_quality_are_filled_exactly() -> None:
    # Bitrate halves every 6 CRF (log-linear) and VMAF falls 2 per CRF: pchip through collinear
    # points is that line, so CRF 24 sits at 4000 / 2 = 2000 kbps and VMAF 90 - 12 = 78.
    pts = [point(18, 4000, 90), point(30, 1000, 66), point(42, 250, 42)]
    out = fill_skipped_crfs(pts, [18, 24, 30, 36, 42])
    filled = {p.crf: p for p in out if p.estimated}
    assert sorted(filled) == [24, 36]
    assert filled[24].bitrate_kbps == pytest.approx(2000, rel=1e-9)
    assert filled[24].vmaf == pytest.approx(78, abs=1e-9)
    assert filled[36].bitrate_kbps == pytest.approx(500, rel=1e-9)
    assert filled[36].vmaf == pytest.approx(54, abs=1e-9)
    assert filled[24].width == 640 and filled[24].height == 360
    assert [p for p in out if not p.estimated] == pts  # measured points untouched, first


def test_never_extrapolates_and_needs_two_measured_crfs() -> None:
    pts = [point(26, 1000, 80), point(34, 500, 70), point(30, 300, 50, height=234)]
    out = fill_skipped_crfs(pts, [18, 22, 26, 30, 34, 38, 42])
    filled = [(p.height, p.crf) for p in out if p.estimated]
    assert filled == [(360, 30)]  # 18/22 and 38/42 lie outside 26..34; 234p has one point


def test_a_curved_quality_stays_between_its_neighbours() -> None:
    # VMAF saturating towards low CRF: pchip is monotone, so the estimate at 22 lies between
    # the measured 18 and 26 values and above the chord (the curve is concave here).
    pts = [point(18, 4000, 97), point(26, 1600, 93), point(34, 640, 80), point(42, 256, 55)]
    est = {p.crf: p for p in fill_skipped_crfs(pts, range(18, 43, 4)) if p.estimated}
    assert 93 < est[22].vmaf < 97
    assert est[22].vmaf > (97 + 93) / 2
    assert math.isclose(est[22].bitrate_kbps, math.sqrt(4000 * 1600), rel_tol=1e-9)


def test_a_size_measured_twice_at_a_crf_or_at_no_bits_gets_no_estimates() -> None:
    # No curve runs through two readings of one CRF, nor through a log of zero bits: such a size
    # is left as measured (and the other sizes are still filled).
    twice = [point(18, 4000, 90), point(30, 1000, 66), point(30, 1100, 67), point(42, 250, 42)]
    zero = [point(18, 4000, 90, height=234), point(42, 0.0, 42, height=234)]
    good = [point(18, 4000, 90, height=288), point(42, 250, 42, height=288)]
    out = fill_skipped_crfs(twice + zero + good, [18, 30, 42])
    assert [(p.height, p.crf) for p in out if p.estimated] == [(288, 30)]


def test_already_complete_grid_is_returned_as_is() -> None:
    pts = [point(c, 4000 / 2 ** ((c - 18) / 6), 90 - c) for c in (18, 22, 26)]
    assert fill_skipped_crfs(pts, [18, 22, 26]) == tuple(pts)


# --- between_sizes, nearest_to_hull: the sizes --fast probes second --------------------------


def at(width: int, height: int, crf: float, kbps: float, vmaf: float) -> RdPoint:
    return RdPoint(width, height, crf, kbps, vmaf, 40.0, 0.95)


SMALL, MIDDLE, LARGE = Resolution(320, 180), Resolution(640, 360), Resolution(1280, 720)


def test_a_skipped_size_is_read_halfway_in_log_height() -> None:
    # 360 lies halfway between 180 and 720 in log height (t = 0.5): at CRF 30 the rate is the
    # geometric mean, sqrt(200 * 800) = 400 kbps, and VMAF the mean, (60 + 80) / 2 = 70.
    pts = [at(320, 180, 30, 200, 60), at(1280, 720, 30, 800, 80), at(1280, 720, 42, 300, 50)]
    out = between_sizes(pts, [SMALL, LARGE], [MIDDLE], [30, 42])
    assert [(p.width, p.height, p.crf) for p in out] == [(640, 360, 30)]  # 180p has no CRF 42
    assert out[0].bitrate_kbps == pytest.approx(400, rel=1e-9)
    assert out[0].vmaf == pytest.approx(70, abs=1e-9)
    assert out[0].estimated


def test_a_reading_is_shifted_by_its_error_at_the_nearest_measured_crf() -> None:
    # Read at CRF 30: 400 kbps, VMAF 70; at 42: sqrt(100 * 400) = 200 kbps, VMAF (40 + 50) / 2
    # = 45. 360p measured at CRF 42: 220 kbps, VMAF 49, so the reading there was 1.1x and +4 off,
    # and the estimate at 30 becomes 400 * 1.1 = 440 kbps, VMAF 74. CRF 42 itself is measured.
    pts = [
        at(320, 180, 30, 200, 60),
        at(320, 180, 42, 100, 40),
        at(1280, 720, 30, 800, 80),
        at(1280, 720, 42, 400, 50),
        at(640, 360, 42, 220, 49),
    ]
    out = between_sizes(pts, [SMALL, LARGE], [MIDDLE], [30, 42])
    assert [(p.height, p.crf) for p in out] == [(360, 30)]
    assert out[0].bitrate_kbps == pytest.approx(440, rel=1e-9)
    assert out[0].vmaf == pytest.approx(74, abs=1e-9)


def test_crfs_between_a_sizes_measured_ones_are_left_to_its_own_curve() -> None:
    pts = [at(320, 180, c, 200 / 2 ** ((c - 30) / 6), 90 - c) for c in (18, 30, 42)]
    pts += [at(1280, 720, c, 800 / 2 ** ((c - 30) / 6), 100 - c) for c in (18, 30, 42)]
    pts += [at(640, 360, 18, 900, 80), at(640, 360, 30, 400, 68)]
    out = between_sizes(pts, [SMALL, LARGE], [MIDDLE], [18, 24, 30, 36, 42])
    # 24 lies between the measured 18 and 30 (fill_skipped_crfs reads it); 42 lies beyond them and
    # is read off the neighbours; 36 is not, as the neighbours have no point there.
    assert [p.crf for p in out] == [42]


def test_a_size_without_an_anchor_on_both_sides_gets_nothing() -> None:
    pts = [at(640, 360, 30, 400, 70), at(1280, 720, 30, 800, 80)]
    assert between_sizes(pts, [MIDDLE, LARGE], [SMALL], [30]) == ()


def test_nearest_to_hull_takes_the_estimates_closest_to_it_for_each_size() -> None:
    # Hull: (100, 40) - (400, 70) - (1600, 90). At 250 kbps it is 55, at 1000 kbps 80.
    hull = [at(320, 180, 42, 100, 40), at(320, 180, 30, 400, 70), at(1280, 720, 18, 1600, 90)]
    estimates = [
        at(640, 360, 34, 250, 50),  # 5 below
        at(640, 360, 26, 1000, 79),  # 1 below: nearest
        at(640, 360, 22, 1300, 90),  # above the hull (85 there): nearest of all
        at(640, 360, 18, 3000, 99),  # outside the hull's bitrate range: last
    ]
    chosen = nearest_to_hull(estimates, hull, "vmaf", 2)
    assert [p.crf for p in chosen] == [22, 26]
    assert [p.crf for p in nearest_to_hull(estimates, hull, "vmaf", 4)] == [22, 26, 34, 18]
