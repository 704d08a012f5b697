"""Hand-checked rung selection (pertitle.ladder.select_rungs).

The curves are straight lines in x = log2(bitrate / 100 kbps), which PCHIP reproduces exactly:

    360p  (640 wide):  x = 0..4 (100-1600 kbps)  vmaf = 40   + 6x   crf = 40 - 3x
    720p  (1280 wide): x = 1..6 (200-6400 kbps)  vmaf = 32.5 + 9x   crf = 44 - 3x
    1080p (1920 wide): x = 2..6 (400-6400 kbps)  vmaf = 20.5 + 12x  crf = 48 - 3x

psnr is vmaf / 2 and ssim is vmaf / 100 on every point. 720p overtakes 360p where
40 + 6x = 32.5 + 9x, x = 2.5 (565.7 kbps), and 1080p overtakes 720p at x = 4 (1600 kbps), so the
envelope's best height is 360p below 565.7 kbps, 720p up to 1600 kbps and 1080p above.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest

from pertitle.errors import ConfigError, HullError
from pertitle.ladder import off_target, over_peak, rising_deployed, select_rungs, uncovered_contenders
from pertitle.models import Constraints, LadderPlan, Quality, RdPoint, Rung, RungTarget

WIDTH = {360: 640, 720: 1280, 1080: 1920}


def line(height: int, a: float, s: float, crf0: float, xs: range) -> list[RdPoint]:
    """Points at 100 * 2**x kbps with vmaf = a + s*x and crf = crf0 - 3x."""
    points = []
    for x in xs:
        vmaf = a + s * x
        points.append(
            RdPoint(
                width=WIDTH[height],
                height=height,
                crf=crf0 - 3 * x,
                bitrate_kbps=100.0 * 2**x,
                vmaf=vmaf,
                psnr=vmaf / 2,
                ssim=vmaf / 100,
            )
        )
    return points


THREE = line(360, 40, 6, 40, range(0, 5)) + line(720, 32.5, 9, 44, range(1, 7))
THREE += line(1080, 20.5, 12, 48, range(2, 7))
# One 1080p curve: x = 0..6 (100-6400 kbps), vmaf = 35 + 10x.
SINGLE = line(1080, 35, 10, 40, range(0, 7))


def bitrates(plan: LadderPlan) -> list[float]:
    return [t.bitrate_kbps for t in plan.targets]


def heights(plan: LadderPlan) -> list[int]:
    return [t.height for t in plan.targets]


def three_sig_figs(value: float) -> bool:
    return round(value, 2 - math.floor(math.log10(value))) == value


def test_three_resolutions_hand_checked() -> None:
    # Top: 1080p reaches 90 at x = 69.5/12 = 5.7917 -> 5539.4 kbps. Bottom: 100 kbps.
    # R = 55.394; r* = sqrt(1.5 * 2) = 1.7321; ln R / ln r* = 4.0145 / 0.5493 = 7.31 -> n = 8.
    # Step 2**(5.7917/7) = 1.7745: 100, 177.4, 314.9, 558.7, 991.4, 1759.3, 3121.8, 5539.4 kbps,
    # which round to 3 figures; 5539.4 -> 5540 would pass the top, so it is nudged to 5530.
    plan = select_rungs(THREE, Constraints(quality_ceiling=90))
    assert bitrates(plan) == [100, 177, 315, 559, 991, 1760, 3120, 5530]
    # 558.7 < 565.7 stays 360p; 991 is between the crossovers: 720p; 1760 > 1600: 1080p.
    assert heights(plan) == [360, 360, 360, 360, 720, 1080, 1080, 1080]
    assert [t.width for t in plan.targets] == [640, 640, 640, 640, 1280, 1920, 1920, 1920]
    assert plan.gave_way == ()

    top = plan.targets[-1]
    # At 5530 kbps, x = log2(55.3) = 5.78924: vmaf 20.5 + 12x = 89.971, crf 48 - 3x = 30.632.
    assert top.hull_predicted.vmaf == pytest.approx(89.971, abs=1e-3)
    assert top.hull_predicted.psnr == pytest.approx(89.971 / 2, abs=1e-3)
    assert top.hull_predicted.ssim == pytest.approx(0.89971, abs=1e-5)
    assert top.crf == pytest.approx(30.632, abs=1e-3)
    # 991 kbps on 720p: x = log2(9.91) = 3.30890 -> vmaf 32.5 + 9x = 62.280, crf 44 - 3x = 34.073.
    mid = plan.targets[4]
    assert mid.hull_predicted.vmaf == pytest.approx(62.280, abs=1e-3)
    assert mid.crf == pytest.approx(34.073, abs=1e-3)
    # Bottom rung: exactly the 360p point at 100 kbps.
    assert plan.targets[0].hull_predicted.vmaf == pytest.approx(40, abs=1e-9)
    assert plan.targets[0].crf == pytest.approx(40, abs=1e-9)


def test_adjacent_ratios_within_bounds_and_resolution_never_falls() -> None:
    for c in (
        Constraints(quality_ceiling=90),
        Constraints(quality_ceiling=80, min_ratio=1.4, max_ratio=1.6, max_rungs=10),
        Constraints(quality_ceiling=92, min_bitrate_kbps=200, max_ratio=1.8),
    ):
        plan = select_rungs(THREE, c)
        assert plan.gave_way == ()
        rates = bitrates(plan)
        assert all(three_sig_figs(b) for b in rates)
        for low, high in itertools.pairwise(rates):
            # 3-figure rounding moves each end by at most 0.5%, so a ratio by at most ~1%.
            assert c.min_ratio * 0.99 <= high / low <= c.max_ratio * 1.01
        assert heights(plan) == sorted(heights(plan))


def test_single_resolution_counts_rungs_from_the_ratio() -> None:
    # 35 + 10x = 90 at x = 5.5: top 100 * 2**5.5 = 4525.5 kbps, bottom 100 kbps.
    # log2 R = 5.5; ln R / ln sqrt(3) = 3.8123 / 0.5493 = 6.94 -> n = 8; step 2**(5.5/7) = 1.7239.
    plan = select_rungs(SINGLE, Constraints(quality_ceiling=90))
    assert bitrates(plan) == [100, 172, 297, 512, 883, 1520, 2630, 4520]
    assert set(heights(plan)) == {1080}
    assert plan.targets[-1].hull_predicted.vmaf == pytest.approx(35 + 10 * math.log2(45.2), abs=1e-9)
    assert plan.gave_way == ()


def test_the_rung_count_is_rounded_not_rounded_up() -> None:
    # 35 + 10x = 75 at x = 4: top 1600 kbps, R = 16; ln 16 / ln sqrt(3) = 2.7726 / 0.5493 = 5.05
    # -> n = round(5.05) + 1 = 6 (rounding up would make it 7); step 16**(1/5) = 1.7411:
    # 100, 174.1, 303.1, 527.8, 919.0, 1600 kbps.
    plan = select_rungs(SINGLE, Constraints(quality_ceiling=75))
    assert bitrates(plan) == [100, 174, 303, 528, 919, 1600]
    assert plan.gave_way == ()


def test_a_tie_between_heights_goes_to_the_lower_one() -> None:
    # At x = 4 (1600 kbps, where max_bitrate_kbps stops the top) 720p gives 32.5 + 9 * 4 = 68.5
    # and 1080p 20.5 + 12 * 4 = 68.5: the same quality for fewer pixels, so 720p takes the top.
    plan = select_rungs(
        THREE, Constraints(quality_ceiling=90, max_bitrate_kbps=1600, keep_source_resolution=False)
    )
    assert (plan.targets[-1].height, plan.targets[-1].bitrate_kbps) == (720, 1600)


def test_min_and_max_bitrate_are_obeyed() -> None:
    # Bottom 150, top clamped from 5539 to 2000 (no give-way: that clamp is normal).
    # R = 13.33; ln R / ln sqrt(3) = 4.72 -> n = 6; step 13.33**(1/5) = 1.6788:
    # 150, 251.8, 422.7, 709.7, 1191.4, 2000 kbps.
    plan = select_rungs(THREE, Constraints(quality_ceiling=90, min_bitrate_kbps=150, max_bitrate_kbps=2000))
    assert bitrates(plan) == [150, 252, 423, 710, 1190, 2000]
    assert heights(plan) == [360, 360, 360, 720, 720, 1080]
    assert plan.gave_way == ()
    # Top stops below the ceiling: x = log2(20) = 4.3219 -> 20.5 + 12x = 72.363.
    assert plan.targets[-1].hull_predicted.vmaf == pytest.approx(72.363, abs=1e-3)


def test_max_rungs_over_a_wide_span_gives_way() -> None:
    # 100-5539 kbps is a 55.39x span; in 2 rungs that is one 55.39x step, far above 2x.
    plan = select_rungs(THREE, Constraints(quality_ceiling=90, max_rungs=2, min_rungs=1))
    assert bitrates(plan) == [100, 5530]
    assert len(plan.gave_way) == 1
    assert plan.gave_way[0].startswith(
        "max_ratio: 55.39x between rungs needed to span 100-5539 kbps in 2 rungs"
    )
    assert "max_rungs is 2" in plan.gave_way[0]


def test_ratio_bounds_that_cannot_both_hold() -> None:
    # Span 2**5.5 = 45.25x with ratios in [1.9, 2]: step <= 2 needs n >= 5.5 + 1 -> 7, but
    # step >= 1.9 allows n - 1 <= ln 45.25 / ln 1.9 = 5.94 -> n <= 6. min_ratio wins: n = 6,
    # step 2**(5.5/5) = 2.14x.
    plan = select_rungs(SINGLE, Constraints(quality_ceiling=90, min_ratio=1.9, max_ratio=2.0))
    assert len(plan.targets) == 6
    assert plan.gave_way == (
        "max_ratio: 2.14x between rungs needed to span 100-4525 kbps in 6 rungs "
        "(max_ratio 2x; more rungs would step less than min_ratio 1.9x)",
    )


def test_min_rungs_forcing_small_steps_gives_way() -> None:
    # 100-400 kbps wants 4 rungs (ln 4 / ln sqrt(3) = 2.52 -> 3 + 1); min_rungs 6 forces
    # 4**(1/5) = 1.32x steps, under min_ratio 1.5.
    plan = select_rungs(SINGLE, Constraints(quality_ceiling=90, max_bitrate_kbps=400, min_rungs=6))
    assert bitrates(plan) == [100, 132, 174, 230, 303, 400]
    assert plan.gave_way == (
        "min_ratio: 1.32x between rungs to span 100-400 kbps in 6 rungs (min_ratio 1.5x; min_rungs is 6)",
    )


def test_keep_source_resolution_puts_the_highest_height_on_top() -> None:
    # Ceiling 65. 720p reaches it at x = 32.5/9 = 3.611 (1221.9 kbps), 1080p only at
    # x = 44.5/12 = 3.708 (1307.1 kbps), 360p never (max 64). But at 1307 kbps 720p is better
    # (32.5 + 9x > 20.5 + 12x until x = 4): 1080p only joins the hull at 100 * 2**4 = 1600 kbps,
    # where it merely ties 720p (68.5 both). The top rung sits one min_ratio step above the join,
    # at 1.5 * 1600 = 2400 kbps (x = log2 24 = 4.585): 1080p 20.5 + 12x = 75.52 against 720p's
    # 73.77. 100-2400 kbps is 24x: round(ln 24 / ln sqrt 3) + 1 = 7 rungs, steps 24**(1/6) = 1.70x,
    # so the rung below is 2400 / 1.70 = 1413 kbps, under the join: 720p's.
    kept = select_rungs(THREE, Constraints(quality_ceiling=65, keep_source_resolution=True))
    assert kept.targets[-1].height == 1080
    assert kept.targets[-1].bitrate_kbps == 2400
    assert kept.targets[-1].hull_predicted.vmaf == pytest.approx(20.5 + 12 * math.log2(24), abs=1e-9)
    assert kept.targets[-2].height == 720
    assert kept.targets[-2].bitrate_kbps == 1410
    assert any(
        g.startswith("quality_ceiling: 1080p only beats lower resolutions from 16")
        and g.endswith("one min_ratio step above that, at 2400 kbps")
        for g in kept.gave_way
    )

    free = select_rungs(THREE, Constraints(quality_ceiling=65, keep_source_resolution=False))
    assert free.targets[-1].height == 720
    assert free.targets[-1].bitrate_kbps == 1220
    # 1221.9 rounds down to 1220: x = log2(12.2) = 3.6088 -> 32.5 + 9x = 64.979, just under 65.
    assert free.targets[-1].hull_predicted.vmaf == pytest.approx(32.5 + 9 * math.log2(12.2), abs=1e-9)
    assert 1080 not in heights(free)


def test_a_grid_without_the_source_height_says_the_source_resolution_gave_way() -> None:
    # Heights given by hand that leave the 1080p source out: the top rung is the tallest probed
    # (720p), and the ladder says why the source's resolution is missing.
    probed = [p for p in THREE if p.height != 1080]
    c = Constraints(quality_ceiling=65, keep_source_resolution=True)
    cut = select_rungs(probed, c, source_height=1080)
    assert cut.targets[-1].height == 720
    assert any(
        g.startswith("keep_source_resolution: the source's 1080p is not in the grid") and "720p" in g
        for g in cut.gave_way
    )
    # The same plan otherwise, and no note when the source was probed or may be dropped.
    assert cut.targets == select_rungs(probed, c).targets
    assert not any("not in the grid" in g for g in select_rungs(THREE, c, source_height=1080).gave_way)
    free = Constraints(quality_ceiling=65, keep_source_resolution=False)
    assert not any("not in the grid" in g for g in select_rungs(probed, free, source_height=1080).gave_way)


def test_quality_ceiling_sets_the_top_when_reachable() -> None:
    for ceiling in (70.0, 80.0, 85.0, 92.0):
        plan = select_rungs(THREE, Constraints(quality_ceiling=ceiling))
        # Rounding the top down by < 0.5% of rate costs under 12 * log2(1.005) = 0.09 vmaf.
        assert plan.targets[-1].hull_predicted.vmaf == pytest.approx(ceiling, abs=0.09)
        assert plan.targets[-1].hull_predicted.vmaf <= ceiling


def test_unreachable_ceiling_tops_out_at_the_highest_measurement() -> None:
    # 1080p peaks at 92.5 (6400 kbps).
    plan = select_rungs(THREE, Constraints(quality_ceiling=99))
    assert plan.targets[-1].bitrate_kbps == 6400
    assert plan.targets[-1].hull_predicted.vmaf == pytest.approx(92.5, abs=1e-9)
    assert plan.gave_way == ()


def test_quality_floor_raises_the_bottom_rung() -> None:
    # Floor 50: 360p reaches it at x = 10/6 = 1.667 -> 100 * 2**(5/3) = 317.5 kbps (720p only at
    # 384.9, 1080p at 565.7). 317.5 rounds to 317, below the floor, so it is nudged up to 318.
    plan = select_rungs(THREE, Constraints(quality_ceiling=90, quality_floor=50))
    assert plan.targets[0].bitrate_kbps == 318
    assert plan.targets[0].height == 360
    assert plan.targets[0].hull_predicted.vmaf == pytest.approx(40 + 6 * math.log2(3.18), abs=1e-9)
    assert plan.targets[0].hull_predicted.vmaf >= 50
    assert plan.gave_way == ()


def test_unreachable_quality_floor_gives_way() -> None:
    plan = select_rungs(THREE, Constraints(quality_ceiling=90, quality_floor=95))
    assert plan.targets[0].bitrate_kbps == 100
    assert plan.gave_way == (
        "quality_floor: vmaf 95 is not reached at or below the top rung's 5539 kbps; "
        "the bottom rung stays at 100 kbps",
    )


def test_one_point_gives_one_rung() -> None:
    point = RdPoint(width=1920, height=1080, crf=23, bitrate_kbps=3000, vmaf=93, psnr=41, ssim=0.98)
    plan = select_rungs([point], Constraints(min_rungs=1))
    assert len(plan.targets) == 1
    (rung,) = plan.targets
    assert (rung.width, rung.height, rung.bitrate_kbps, rung.crf) == (1920, 1080, 3000, 23)
    assert (rung.hull_predicted.vmaf, rung.hull_predicted.psnr, rung.hull_predicted.ssim) == (93, 41, 0.98)
    assert plan.gave_way == ()


def test_one_point_with_min_rungs_gives_way() -> None:
    point = RdPoint(width=1920, height=1080, crf=23, bitrate_kbps=3000, vmaf=93, psnr=41, ssim=0.98)
    plan = select_rungs([point], Constraints(min_rungs=3))
    assert bitrates(plan) == [3000]
    assert len(plan.gave_way) == 1
    assert plan.gave_way[0].startswith("min_rungs: a single rung at 3000 kbps")


def test_uncovered_low_rungs_move_up_or_drop() -> None:
    # 1080p: x = 0..6, vmaf 30 + 10x (30..90). 720p measured only at 800-6400 kbps, and better there:
    # 70, 78, 84, 88 against 1080p's 60, 70, 80, 90. Ceiling 90 -> top 6400 (1080p's last point).
    # R = 64, ln 64 / ln sqrt(3) = 7.57 -> 9 rungs, capped at max_rungs 8: step 2**(6/7) = 1.811,
    # planned 100, 181, 328, 594, 1077, 1950, 3530, 6400. Below the 1080p top, 720p wins, and then
    # no height <= 720p covers 594 kbps: it moves up to 800 (720p's first point); 328, 181 and 100
    # would land on 800 as well and are dropped.
    points = line(1080, 30, 10, 40, range(0, 7))
    points += [
        RdPoint(width=1280, height=720, crf=c, bitrate_kbps=b, vmaf=v, psnr=v / 2, ssim=v / 100)
        for b, v, c in ((800, 70, 30), (1600, 78, 27), (3200, 84, 24), (6400, 88, 21))
    ]
    plan = select_rungs(points, Constraints(quality_ceiling=90))
    assert bitrates(plan) == [800, 1080, 1950, 3530, 6400]
    assert heights(plan) == [720, 720, 720, 720, 1080]
    assert len(plan.gave_way) == 5
    assert plan.gave_way[0].startswith("coverage: no curve allowed for the rung planned at 594 kbps")
    assert all(g.startswith("coverage: the rung planned at") for g in plan.gave_way[1:4])
    # The move left 800 and 1080 kbps 1.35x apart, under min_ratio: the ladder says so.
    assert plan.gave_way[4] == (
        "min_ratio: rungs as close as 1.35x (800 and 1080 kbps; min_ratio 1.5x; "
        "a rung was moved for coverage)"
    )
    assert plan.targets[0].hull_predicted.vmaf == pytest.approx(70, abs=1e-9)


def test_top_rung_below_the_source_curve_gives_way() -> None:
    # keep_source_resolution with max 300 kbps, but 1080p was first measured at 400 kbps.
    plan = select_rungs(THREE, Constraints(quality_ceiling=90, max_bitrate_kbps=300))
    assert plan.targets[-1].height == 1080
    assert plan.targets[-1].bitrate_kbps == 400
    assert any(
        g.startswith("max_bitrate_kbps: the top rung at 1080p needs at least 400 kbps") for g in plan.gave_way
    )


@pytest.mark.parametrize(("keep", "height", "kbps"), [(True, 1080, 400), (False, 360, 100)])
def test_a_limit_under_every_encode_gives_one_rung_and_one_sentence(
    keep: bool, height: int, kbps: float
) -> None:
    # max 50 kbps, the lowest encode 100 kbps (360p; 1080p from 400): one rung at the lowest bitrate
    # measured where the top rung may go. The plan used to add a floor and a min_rungs sentence
    # quoting a 50 kbps top rung and a 100 kbps bottom that no rung has.
    c = Constraints(quality_ceiling=90, min_bitrate_kbps=10, max_bitrate_kbps=50, keep_source_resolution=keep)
    plan = select_rungs(THREE, c)
    assert [(t.height, t.bitrate_kbps) for t in plan.targets] == [(height, kbps)]
    assert len(plan.gave_way) == 1
    assert plan.gave_way[0].startswith("max_bitrate_kbps: every encode measured is above the 50 kbps limit")
    assert f"{height}p" in plan.gave_way[0] and f"{kbps:.0f} kbps" in plan.gave_way[0]


def test_nan_points_are_ignored() -> None:
    bad = RdPoint(width=1920, height=1080, crf=20, bitrate_kbps=math.nan, vmaf=99, psnr=50, ssim=1)
    assert select_rungs([*THREE, bad], Constraints(quality_ceiling=90)) == select_rungs(
        THREE, Constraints(quality_ceiling=90)
    )


def test_no_usable_points_raise() -> None:
    with pytest.raises(HullError, match="no usable rate-quality point"):
        select_rungs([], Constraints())


def test_contradictory_constraints_raise() -> None:
    with pytest.raises(ConfigError, match="min_rungs"):
        select_rungs(THREE, Constraints(min_rungs=5, max_rungs=3))
    with pytest.raises(ConfigError, match="min_ratio"):
        select_rungs(THREE, Constraints(min_ratio=1.0))


def test_source_top_above_the_join_stays_under_max_bitrate() -> None:
    # As above, but max_bitrate 2000 stops the step at 2000 kbps (x = log2 20 = 4.32), where
    # 1080p (20.5 + 12x = 72.36) is still ahead of 720p (32.5 + 9x = 71.40).
    plan = select_rungs(
        THREE, Constraints(quality_ceiling=65, keep_source_resolution=True, max_bitrate_kbps=2000)
    )
    assert (plan.targets[-1].height, plan.targets[-1].bitrate_kbps) == (1080, 2000)
    assert plan.targets[-1].hull_predicted.vmaf == pytest.approx(20.5 + 12 * math.log2(20), abs=1e-9)
    assert plan.targets[-2].height == 720


# --------------------------------------------------------------------------------------------------
# rising_deployed: the calibrated ladder rises in bitrate and quality


def _deployed(height: int, target: float, landed: float, vmaf: float) -> Rung:
    q = Quality(vmaf=vmaf, psnr=vmaf / 2, ssim=vmaf / 100)
    return Rung(
        width=height * 16 // 9,
        height=height,
        bitrate_kbps=target,
        maxrate_kbps=target * 1.5,
        bufsize_kbps=target * 2,
        codec="h264",
        preset="medium",
        crf=30.0,
        predicted=q,
        hull_predicted=q,
        predicted_bitrate_kbps=landed,
    )


def test_a_rising_deployed_ladder_is_kept_whole() -> None:
    rungs = [_deployed(234, 100, 104, 60), _deployed(360, 170, 171, 72), _deployed(720, 290, 288, 85)]
    assert rising_deployed(rungs) == (rungs, [])


def test_a_rung_whose_encode_undershoots_below_the_rung_under_it_is_dropped() -> None:
    # SVT-AV1 landed a 181 kbps target at 24 kbps (VMAF 59.9), under the 100 kbps rung (64 kbps, 67.4).
    low, broken, top = (
        _deployed(180, 100, 64, 67.4),
        _deployed(180, 181, 24, 59.9),
        _deployed(360, 320, 300, 80),
    )
    kept, dropped = rising_deployed([low, broken, top])
    assert kept == [low, top]
    assert dropped == [
        "deployed: the 180p rung at 181 kbps was dropped: its deployed encode (24 kbps, vmaf 59.90) does "
        "not rise over the 180p rung at 100 kbps (64 kbps, 67.40) in both bitrate and vmaf"
    ]


def test_the_top_rung_stays_and_a_rung_no_lower_than_it_gives_way() -> None:
    # min_rungs forced rungs 3% apart: the top deploys at 81.4, the one under it at 81.5.
    a, b, top = _deployed(144, 100, 100, 70), _deployed(180, 103, 103, 81.5), _deployed(180, 106, 106, 81.4)
    kept, dropped = rising_deployed([top, a, b])  # in any order
    assert kept == [a, top]
    assert len(dropped) == 1 and "does not stay below the 180p rung at 106 kbps" in dropped[0]
    # A rung at the same quality is no better either.
    assert rising_deployed([a, _deployed(180, 150, 150, 70)])[0] == [_deployed(180, 150, 150, 70)]
    assert rising_deployed([])[0] == []


def test_a_deployed_rung_peaking_over_twice_its_average_is_said() -> None:
    calm, peaky = _deployed(180, 100, 98, 60), _deployed(360, 300, 290, 80)
    calm = dataclasses.replace(calm, predicted_peak_kbps=190.0)  # 1.94x: within verify's 2x
    peaky = dataclasses.replace(peaky, predicted_peak_kbps=675.7)  # 2.33x of the 290 kbps it averaged
    assert over_peak([calm]) == []
    assert over_peak([calm, peaky]) == [
        "maxrate_factor: the 360p rung at 300 kbps peaks at 2.33x its average over 6 s segments of its "
        "deployed encode (the encoder did not hold its VBV there); verify fails a rung over 2x"
    ]
    assert "its two-pass mode holds no strict VBV" in over_peak([peaky], vbv=False)[0]
    # A still, then noise: 594 kbps averaged 459, the VBV held (1070 <= 891 + 1188 / 6 kbps).
    bursty = dataclasses.replace(_deployed(180, 594, 459.2, 86), predicted_peak_kbps=1070.5)
    assert "(it averaged 77% of its target: the title's bits sit in part of it)" in over_peak([bursty])[0]
    assert over_peak([_deployed(360, 300, 280, 80)]) == []  # no peak measured (0.0)


def test_a_source_top_under_its_join_keeps_the_source_and_drops_the_rungs_that_look_better() -> None:
    # max 500 kbps, under where 1080p overtakes 720p (1600 kbps): the top rung keeps 1080p at 500
    # kbps, vmaf = 20.5 + 12 log2(5) = 48.36, a dominated point, and says so. The 360p rung planned at
    # 292 kbps (40 + 6 log2(2.92) = 49.28) would be a better picture than the rung above it: dropped.
    plan = select_rungs(THREE, Constraints(quality_ceiling=90, max_bitrate_kbps=500))
    assert [(t.height, t.bitrate_kbps) for t in plan.targets] == [(360, 100), (360, 171), (1080, 500)]
    assert plan.targets[-1].hull_predicted.vmaf == pytest.approx(20.5 + 12 * math.log2(5))
    assert plan.gave_way == (
        "keep_source_resolution: 1080p only beats lower resolutions from 1600 kbps, above "
        "max_bitrate_kbps 500; the top rung keeps 1080p at 500 kbps, where a lower resolution gives more",
        "keep_source_resolution: the 360p rung at 292 kbps was dropped: on the hull it does not stay "
        "below the 1080p rung at 500 kbps in vmaf (49.28 against 48.36)",
        # The drop leaves 171 and 500 kbps 2.92x apart: max_ratio gave way too, and is named.
        "max_ratio: rungs as far apart as 2.92x (171 and 500 kbps; max_ratio 2x; rungs between were dropped)",
    )
    values = [t.hull_predicted.vmaf for t in plan.targets]
    assert values == sorted(values)


# --- uncovered_contenders: sizes whose cheapest probe lies above a rung they may win ----------


def target(height: int, kbps: float) -> RungTarget:
    return RungTarget(WIDTH[height], height, kbps, 30.0, Quality(0.0, 0.0, 0.0))


def test_a_taller_size_ahead_at_its_cheapest_probe_above_a_rung_is_a_contender() -> None:
    # 360p: 40 + 6x from 100 kbps; 720p: 50 + 6x, measured only from x = 1 (200 kbps), where it
    # gives 56 against 360p's 46. The 100 kbps rung can only take 360p, the one size measured there.
    low = line(360, 40, 6, 40, range(0, 5))
    ahead = line(720, 50, 6, 44, range(1, 7))
    rungs = [target(360, 100), target(720, 400)]
    assert uncovered_contenders(rungs, low + ahead) == (720,)
    # Resolution never falls as bitrate rises: under a 360p rung, 720p is no candidate.
    assert uncovered_contenders([target(360, 100), target(360, 400)], low + ahead) == ()
    # Behind at its cheapest probe (32.5 + 9 = 41.5 against 46): nothing to look for below it.
    behind = line(720, 32.5, 9, 44, range(1, 7))
    assert uncovered_contenders(rungs, low + behind) == ()
    # A rung the taller curve covers already: nothing missing.
    assert uncovered_contenders([target(360, 200), target(720, 400)], low + ahead) == ()


def test_past_the_end_of_the_rungs_own_curve_its_best_measured_counts() -> None:
    # 360p ends at 1600 kbps with 64; 1080p starts at 3200 kbps with 68: ahead of anything 360p
    # gives (more bits never lower quality), so the top rung at 360p and 1500 kbps may be 1080p's.
    low = line(360, 40, 6, 40, range(0, 5))
    tall = [dataclasses.replace(p, width=1920, height=1080) for p in line(360, 43, 5, 40, range(5, 7))]
    assert uncovered_contenders([target(360, 100), target(360, 1500)], low + tall) == (1080,)


def test_the_min_ratio_sentence_gives_the_final_ladders_closest_rungs() -> None:
    # The plan said 1.31x; the coverage rule then moved the bottom rung up to 113 kbps, 1.16x
    # under the next (a real ladder of a 2 s clip: 113, 131, 171, 224 kbps).
    from pertitle.ladder import _spacing_as_built

    c = Constraints(min_rungs=4)
    planned = (
        "min_ratio: 1.31x between rungs to span 100-224 kbps in 4 rungs (min_ratio 1.5x; min_rungs is 4)"
    )
    moved = "coverage: no curve allowed for the rung planned at 100 kbps covers it; it moved to 113 kbps"
    steps = [100, 131, 171, 224]  # the plan's even steps, 1.31x
    said = _spacing_as_built([planned, moved], (), steps, [113, 131, 171, 224], c)
    assert said == (
        moved,
        "min_ratio: rungs as close as 1.16x (113 and 131 kbps; min_ratio 1.5x; min_rungs is 4)",
    )
    # As planned: the sentence stands.
    assert _spacing_as_built([planned], (), steps, steps, c) == (planned,)


def test_bitrates_under_100_kbps_are_whole_kbit_s_as_the_encoders_get_them() -> None:
    # A rung kept as 38.3 kbps ran at -b:v 38k, its maxrate and bufsize worked out from 38.3.
    from pertitle.ladder import _round_sig

    assert _round_sig(38.3) == (38.0, 1.0)
    assert _round_sig(99.6) == (100.0, 1.0)
    assert _round_sig(123.4) == (123.0, 1.0)
    assert _round_sig(4567.0) == (4570.0, 10.0)


def test_a_capped_crf_rung_that_stays_off_its_bitrate_is_said() -> None:
    near = dataclasses.replace(_deployed(432, 100, 91, 92.8), crf=22.0)  # 9% under: within 10%
    under = dataclasses.replace(_deployed(432, 275, 190.9, 95.1), crf=20.0)
    over = dataclasses.replace(_deployed(180, 100, 134, 75.4), crf=47.81)
    assert off_target([near]) == []
    assert off_target([near, under, over]) == [
        "bitrate: the 432p rung at 275 kbps averages 191 kbps (69% of it) in its deployed capped-CRF "
        "encode at CRF 20, the nearest the probed CRFs came; verify checks it against that",
        "bitrate: the 180p rung at 100 kbps averages 134 kbps (134% of it) in its deployed capped-CRF "
        "encode at CRF 47.81, the nearest the probed CRFs came; verify checks it against that",
    ]
    assert off_target([dataclasses.replace(under, predicted_bitrate_kbps=0.0)]) == []  # not measured
