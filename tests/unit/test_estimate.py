"""fill_skipped_crfs: the points --fast does not encode, on hand-checked curves."""

from __future__ import annotations

import math

import pytest

from pertitle.estimate import fill_skipped_crfs
from pertitle.models import RdPoint


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


def test_already_complete_grid_is_returned_as_is() -> None:
    pts = [point(c, 4000 / 2 ** ((c - 18) / 6), 90 - c) for c in (18, 22, 26)]
    assert fill_skipped_crfs(pts, [18, 22, 26]) == tuple(pts)
