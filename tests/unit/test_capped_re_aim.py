"""Where a capped-CRF rung that missed its bitrate is tried next (`calibrate._aimed_crf`), on a
hand-made curve whose probe bitrate halves every 10 CRF: 300 kbps at 20, 150 at 30, 75 at 40."""

from __future__ import annotations

import math

import pytest

from pertitle.calibrate import _aimed_crf, _crf_at, _interpolate, _log_rate_curve
from pertitle.models import RdPoint

CURVE = [(20.0, math.log(300)), (30.0, math.log(150)), (40.0, math.log(75))]


def test_the_curve_is_read_both_ways_and_beyond_its_ends() -> None:
    assert math.exp(_interpolate(CURVE, 25.0)) == pytest.approx(math.sqrt(300 * 150))
    assert math.exp(_interpolate(CURVE, 50.0)) == pytest.approx(37.5)  # the last segment, on
    assert _crf_at(CURVE, math.log(225)) == pytest.approx(24.1504, abs=1e-4)  # 20 + 10 log2(4/3)
    assert _crf_at(CURVE, math.log(600)) == pytest.approx(10.0)
    flat = [(20.0, math.log(100)), (30.0, math.log(100))]
    assert _crf_at(flat, math.log(90)) is None


def test_the_first_try_shifts_the_curve_by_what_the_deployed_encode_spent() -> None:
    # At CRF 30 the probe spent 150 and the deployed encode 100 (2/3 of it). For 150 deployed,
    # the probe must spend 225: CRF 20 + 10 log2(300/225) = 24.15.
    assert _aimed_crf([(30.0, 100.0)], 150.0, CURVE, first=True) == pytest.approx(24.1504, abs=1e-4)
    # At CRF 40 the deployed encode spent 50 of the probe's 75; for 25 deployed the probe must
    # spend 37.5, past the curve's end: its last segment, carried on, reaches that at CRF 50.
    assert _aimed_crf([(40.0, 50.0)], 25.0, CURVE, first=True) == pytest.approx(50.0)
    assert _aimed_crf([(30.0, 100.0)], 150.0, CURVE[:1], first=True) is None  # one probe: no slope


def test_later_tries_follow_the_secant_through_the_deployed_encodes() -> None:
    tried = [(30.0, 100.0), (24.1504, 140.0)]
    # 24.1504 + ln(150/140) x (24.1504 - 30) / ln(140/100) = 22.9509
    assert _aimed_crf(tried, 150.0, CURVE, first=False) == pytest.approx(22.9509, abs=1e-3)
    assert _aimed_crf([(30.0, 100.0), (24.0, 100.0)], 150.0, CURVE, first=False) is None  # no slope


def test_the_curve_is_one_resolutions_measured_probes() -> None:
    def point(height: int, crf: float, kbps: float, estimated: bool = False) -> RdPoint:
        return RdPoint(height * 16 // 9, height, crf, kbps, 80.0, 40.0, 0.98, estimated=estimated)

    points = [point(360, 30, 150), point(360, 20, 300), point(234, 20, 120), point(360, 25, 210, True)]
    assert _log_rate_curve(points, 640, 360) == [(20, math.log(300)), (30, math.log(150))]
    assert _log_rate_curve(points, 1280, 720) == []
