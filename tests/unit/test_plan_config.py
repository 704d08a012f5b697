"""Planning (sample windows, resolutions, the CRF grid) and settings validation, hand-checked."""

from __future__ import annotations

import dataclasses
import itertools
import os
import threading
from pathlib import Path

import pytest

from pertitle.config import (
    CODECS,
    STANDARD_HEIGHTS,
    Settings,
    load_constraints,
    parse_number_list,
    validate,
)
from pertitle.errors import ConfigError
from pertitle.models import Constraints, MediaInfo, Resolution, SampleWindow
from pertitle.plan import (
    coarse_crfs,
    even,
    fast_first_sizes,
    fit_into_box,
    plan_grid,
    plan_resolutions,
    plan_windows,
    unprobed_hard_s,
    windows_by_complexity,
)

REPO = Path(__file__).resolve().parents[2]


def media(
    width: int = 1920, height: int = 1080, duration_s: float = 60.0, aspect: float | None = None
) -> MediaInfo:
    return MediaInfo(
        path="/titles/t.mp4",
        width=width,
        height=height,
        display_aspect=round(aspect if aspect is not None else width / height, 6),
        fps=24.0,
        duration_s=duration_s,
        frame_count=round(duration_s * 24),
        pix_fmt="yuv420p",
        bit_depth=8,
        rotation_deg=0,
        codec="h264",
        size_bytes=1_000_000,
    )


# --- plan_windows -------------------------------------------------------------------------------


def test_short_title_is_one_full_pass() -> None:
    windows, full, _ = plan_windows(media(duration_s=12.5), Settings())
    assert full is True
    assert windows == (SampleWindow(0, 0.0, 12.5),)


def test_title_at_the_full_pass_limit_is_still_whole() -> None:
    windows, full, _ = plan_windows(media(duration_s=20.0), Settings(full_pass_below_s=20.0))
    assert full is True
    assert windows == (SampleWindow(0, 0.0, 20.0),)


def test_long_title_gets_evenly_spaced_windows_centred_in_equal_spans() -> None:
    # 100 s in 3 spans of 33.33 s; centres at 16.667, 50 and 83.333; 4 s windows start 2 s earlier.
    windows, full, _ = plan_windows(media(duration_s=100.0), Settings(sample_count=3, sample_duration_s=4.0))
    assert full is False
    assert windows == (SampleWindow(0, 14.667, 4.0), SampleWindow(1, 48.0, 4.0), SampleWindow(2, 81.333, 4.0))


@pytest.mark.parametrize(
    ("duration_s", "count", "length_s"),
    [(100.0, 3, 4.0), (3600.0, 5, 6.0), (45.0, 2, 5.0), (600.0, 1, 10.0), (21.0, 1, 12.0)],
)
def test_windows_have_the_asked_length_and_lie_inside_the_title(
    duration_s: float, count: int, length_s: float
) -> None:
    settings = Settings(sample_count=count, sample_duration_s=length_s)
    windows, full, _ = plan_windows(media(duration_s=duration_s), settings)
    assert full is False
    assert [w.index for w in windows] == list(range(count))
    for w in windows:
        assert w.duration_s == length_s
        assert w.start_s >= 0.0
        assert w.start_s + w.duration_s <= duration_s + 1e-9
    gaps = [b.start_s - a.start_s for a, b in itertools.pairwise(windows)]
    assert all(g == pytest.approx(duration_s / count, abs=2e-3) for g in gaps)
    assert all(g >= length_s for g in gaps)  # no overlap


def test_coverage_rule_probes_whole_when_samples_would_cover_most_of_it() -> None:
    # 5 x 4 s = 20 s of samples; 60% of 30 s is 18 s, so the whole title is cheaper to probe.
    settings = Settings(sample_count=5, sample_duration_s=4.0, full_pass_below_s=20.0)
    windows, full, _ = plan_windows(media(duration_s=30.0), settings)
    assert full is True
    assert windows == (SampleWindow(0, 0.0, 30.0),)
    # 40 s: 20 s < 60% of 40 s = 24 s, so samples it is.
    windows, full, _ = plan_windows(media(duration_s=40.0), settings)
    assert full is False
    assert len(windows) == 5


# --- windows_by_complexity ----------------------------------------------------------------------


def test_complexity_windows_take_one_typical_stretch_per_stratum() -> None:
    # Nine 4 s stretches; by cost: easy 100-120 (0, 1, 2), middle 1000-1100 (3, 4, 8), hard
    # 9000-11000 (5, 6, 7). Three strata of three; in each, the stretch nearest the stratum's mean
    # of log cost: easy log1p(100, 110, 120) -> mean is nearest 110 (1); middle 1000, 1100, 1050
    # -> 1050 (8); hard 9000, 10000, 11000 -> 10000 (6). Windows in time order, re-indexed.
    cost = [100, 110, 120, 1000, 1100, 9000, 10000, 11000, 1050]
    windows = windows_by_complexity(cost, 3, 4.0)
    assert windows == (SampleWindow(0, 4.0, 4.0), SampleWindow(1, 24.0, 4.0), SampleWindow(2, 32.0, 4.0))


def test_complexity_windows_follow_the_mix_not_the_clock() -> None:
    # Twelve stretches, ten easy and two hard in the middle (5 and 6). Evenly spaced windows over
    # 48 s would centre one on 24 s, inside the hard part (a third of the samples for a sixth of
    # the title); by complexity the strata are four easy, four easy, and two easy + two hard.
    cost = [100.0] * 12
    cost[5], cost[6] = 5000.0, 6000.0
    cost[0], cost[11] = 90.0, 300.0
    # By log1p cost, the strata are {0, 1, 2, 3}, {4, 7, 8, 9} and {10, 11, 5, 6}. First: mean
    # (4.511 + 3 x 4.615) / 4 = 4.589, nearest the 100s (1, 2, 3), of which 1 is nearest the
    # stratum's place in time (1.5). Second: all 100, nearest 5.5 are 4 and 7, the lower wins.
    # Third: logs 4.615, 5.707, 8.517, 8.700, mean 6.885, nearest 300 (11). Evenly spaced windows
    # would be 2, 6 and 10, one of them (24 s) in the hard part; these have none.
    windows = windows_by_complexity(cost, 3, 4.0)
    assert [w.start_s for w in windows] == [4.0, 16.0, 44.0]


def test_unprobed_hard_stretches_are_those_over_twice_every_windows_cost() -> None:
    # 30 s in 4 s stretches: flat 0-2, pattern 3-5, noise 6 and the last 2 s (50000 bytes in 2 s:
    # the noise's 100000 per stretch). Windows on a flat and a pattern stretch leave the noise,
    # 4 + 2 = 6 s, over twice the hardest window's cost; a window on it leaves nothing.
    cost = [10, 10, 10, 1000, 1000, 1000, 100000, 50000]
    two = (SampleWindow(0, 4.0, 4.0), SampleWindow(1, 12.0, 4.0))
    assert unprobed_hard_s(cost, two, 4.0, 30.0) == pytest.approx(6.0)
    three = (*two, SampleWindow(2, 24.0, 2.0))
    assert unprobed_hard_s(cost, three, 4.0, 30.0) == 0.0
    # Easier than every window does not count (the flat stretches under one on the pattern); up
    # to twice is probed well enough (log1p(1900) - log1p(1000) = 0.64 < ln 2), past it not.
    assert unprobed_hard_s(cost[:6], (SampleWindow(0, 12.0, 4.0),), 4.0, 24.0) == 0.0
    first = (SampleWindow(0, 0.0, 4.0),)
    assert unprobed_hard_s([1000, 1900, 1000], first, 4.0, 12.0) == 0.0
    assert unprobed_hard_s([1000, 2100, 1000], first, 4.0, 12.0) == pytest.approx(4.0)


def test_complexity_windows_need_more_stretches_than_windows() -> None:
    assert windows_by_complexity([1.0, 2.0, 3.0], 3, 4.0) == ()
    assert windows_by_complexity([], 1, 4.0) == ()


def test_plan_windows_uses_complexity_when_given_and_falls_back_to_even() -> None:
    settings = Settings(sample_count=2, sample_duration_s=4.0)
    info = media(duration_s=40.0)
    cost = [5, 5, 5, 5, 5, 50, 50, 50, 50, 50]  # two strata: the first and the sixth stretch
    windows, full, placement = plan_windows(info, settings, cost)
    assert full is False
    assert windows == (SampleWindow(0, 8.0, 4.0), SampleWindow(1, 28.0, 4.0))
    assert placement == "complexity"
    fallback = plan_windows(info, settings, [1.0, 2.0])  # no more stretches than windows
    assert fallback == plan_windows(info, settings)
    assert fallback.placement == "even"
    assert plan_windows(media(duration_s=12.5), settings, cost).placement == "whole"


# --- plan_resolutions ---------------------------------------------------------------------------


def test_standard_heights_at_or_below_the_source_plus_the_source_height() -> None:
    # 720x404 (display aspect 1.782178): 234, 288 and 360 from the standard set, plus 404 itself.
    # widths: 234 * 1.782178 = 417.03 -> 418; 288 * 1.782178 = 513.27 -> 514; 360 * 1.782178 =
    # 641.58 -> 642; the source keeps 720.
    res = plan_resolutions(media(720, 404), Settings())
    assert res == (Resolution(418, 234), Resolution(514, 288), Resolution(642, 360), Resolution(720, 404))


def test_1080p_source_gets_every_standard_height_up_to_1080() -> None:
    res = plan_resolutions(media(1920, 1080), Settings())
    assert [r.height for r in res] == [h for h in STANDARD_HEIGHTS if h <= 1080]
    assert res[-1] == Resolution(1920, 1080)
    assert Resolution(1280, 720) in res
    assert Resolution(416, 234) in res  # 234 * 16/9 = 416


def test_portrait_source_gets_the_sizes_of_the_portrait_boxes() -> None:
    # 1080x1440 (3:4) fitted into the standard 16:9 boxes turned portrait, as a reference ladder
    # deploys it: 234x416 holds 234x312 (234 / 0.75 = 312), ..., 720x1280 holds 720x960; the
    # 1080x1920 box holds the whole source. Standard heights as the long side gave 176x234 ...
    # 810x1080 instead, smaller than every fixed rung and nothing between 810x1080 and 1080x1440.
    res = plan_resolutions(media(1080, 1440), Settings())
    assert [r.label for r in res] == [
        "234x312",
        "288x384",
        "360x480",
        "432x576",
        "540x720",
        "720x960",
        "1080x1440",
    ]


def test_a_portrait_source_taller_than_9_16_is_limited_by_the_box_height() -> None:
    # 1:2: the 234x416 box is 0.5625 wide per unit of height, wider than 0.5, so height-limited:
    # 208x416 (and 256x512 in the 288x512 box); the 1080x1920 box would hold 960x1920, above the
    # source, which keeps 720x1440.
    res = plan_resolutions(media(720, 1440), Settings())
    assert [r.label for r in res] == [
        "208x416",
        "256x512",
        "320x640",
        "384x768",
        "480x960",
        "640x1280",
        "720x1440",
    ]


def test_fast_probes_every_other_size_from_the_largest_and_the_smallest_first() -> None:
    sizes = [Resolution(even(h * 4 / 3), h) for h in (234, 288, 360, 432, 540, 720, 1040)]
    assert [r.height for r in fast_first_sizes(sizes)] == [234, 360, 540, 1040]
    four = [Resolution(even(h * 16 / 9), h) for h in (234, 288, 360, 432)]
    assert [r.height for r in fast_first_sizes(four)] == [234, 288, 432]
    assert fast_first_sizes(four[:2]) == tuple(four[:2])
    assert fast_first_sizes(four[:1]) == tuple(four[:1])


def test_fit_into_box_keeps_the_aspect_and_the_even_sizes() -> None:
    assert fit_into_box(1920, 1080, 1280, 720) == Resolution(1280, 720)
    assert fit_into_box(1920, 804, 1280, 720) == Resolution(1280, 536)  # 804 * 2/3 = 536.0
    assert fit_into_box(1080, 1440, 720, 1280) == Resolution(720, 960)
    assert fit_into_box(1440, 1080, 1280, 720) == Resolution(960, 720)
    # A box that holds the source gives the source's own size, never an upscale.
    assert fit_into_box(960, 408, 1280, 720) == Resolution(960, 408)
    assert fit_into_box(960, 408, 960, 408) == Resolution(960, 408)


def test_fit_into_box_rounds_to_the_nearest_even_size_as_ffmpeg_does() -> None:
    # Checked against the bundled ffmpeg's own box fit,
    # scale=W:H:force_original_aspect_ratio=decrease:force_divisible_by=2:
    # 1392x1040 into 416x234 -> 314x234 (313.2), into 1280x720 -> 964x720 (963.7);
    # 2048x1080 into 416x234 -> 416x220 (219.4), into 768x432 -> 768x406 (405.0, a half: up).
    assert fit_into_box(1392, 1040, 416, 234) == Resolution(314, 234)
    assert fit_into_box(1392, 1040, 1280, 720) == Resolution(964, 720)
    assert fit_into_box(2048, 1080, 416, 234) == Resolution(416, 220)
    assert fit_into_box(2048, 1080, 768, 432) == Resolution(768, 406)


def test_an_anamorphic_source_is_planned_at_its_display_size() -> None:
    # A 720x480 16:9 DVD frame is probed at its display size, 854x480 (`probe`): the lower rungs
    # are that size's 16:9 boxes (234 -> 416, 288 -> 512, 360 -> 640, 432 -> 768).
    res = plan_resolutions(media(854, 480), Settings())
    assert res == (
        Resolution(416, 234),
        Resolution(512, 288),
        Resolution(640, 360),
        Resolution(768, 432),
        Resolution(854, 480),
    )


def test_every_planned_size_is_even() -> None:
    for w, h in [(1920, 1080), (720, 404), (1080, 1440), (1998, 1080), (640, 266), (350, 202)]:
        for r in plan_resolutions(media(w, h), Settings()):
            assert r.width % 2 == 0 and r.height % 2 == 0, (w, h, r)


def test_asked_heights_above_the_source_are_dropped() -> None:
    res = plan_resolutions(media(640, 360), Settings(heights=(180, 360, 720)))
    assert res == (Resolution(320, 180), Resolution(640, 360))


def test_asked_heights_all_above_the_source_is_a_config_error_naming_them() -> None:
    with pytest.raises(ConfigError, match=r"heights: none of 720, 1080 .* source height 360"):
        plan_resolutions(media(640, 360), Settings(heights=(720, 1080)))


def test_grid_is_every_resolution_by_every_crf_cheapest_first() -> None:
    settings = Settings(heights=(180, 360), crfs=(24.0, 32.0, 40.0), preset="veryfast")
    specs = plan_grid(media(640, 360), settings)
    assert [(s.width, s.height, s.crf) for s in specs] == [
        (320, 180, 40.0),
        (320, 180, 32.0),
        (320, 180, 24.0),
        (640, 360, 40.0),
        (640, 360, 32.0),
        (640, 360, 24.0),
    ]
    assert {(s.codec, s.preset, s.rate_control, s.gop_s, s.scaler) for s in specs} == {
        ("h264", "veryfast", "crf", 2.0, "bicubic")
    }


def test_grid_uses_the_codec_defaults_when_nothing_is_asked() -> None:
    specs = plan_grid(media(640, 360), Settings(codec="vp9"))
    assert {s.preset for s in specs} == {"good"}
    assert sorted({s.crf for s in specs}) == sorted(CODECS["vp9"].crfs)


# --- validate -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "phrases"),
    [
        ({"codec": "foo"}, ["codec", "'foo'", "h264"]),
        ({"preset": "warp"}, ["preset", "'warp'", "veryfast"]),
        ({"codec": "av1", "preset": "medium"}, ["preset", "'medium'", "av1"]),
        ({"heights": ()}, ["heights", "empty"]),
        ({"heights": (360, 10)}, ["heights", "10", "16-8640"]),
        ({"heights": (99999,)}, ["heights", "99999"]),
        ({"crfs": ()}, ["crfs", "empty"]),
        ({"crfs": (24.0, 52.0)}, ["crfs", "52", "0-51"]),
        ({"codec": "av1", "crfs": (0.0,)}, ["crfs", "0", "1-63"]),
        ({"sample_count": 0}, ["sample_count", "0"]),
        ({"sample_duration_s": -1.5}, ["sample_duration_s", "-1.5"]),
        ({"sample_duration_s": float("nan")}, ["sample_duration_s", "nan"]),
        ({"sample_duration_s": float("inf")}, ["sample_duration_s", "inf"]),
        ({"sample_duration_s": 0.01}, ["sample_duration_s", "0.01", "at least 0.5"]),
        ({"full_pass_below_s": float("nan")}, ["full_pass_below_s", "nan"]),
        ({"full_pass_below_s": -1.0}, ["full_pass_below_s", "-1"]),
        ({"encode_timeout_s": float("nan")}, ["encode_timeout_s", "nan"]),
        ({"encode_timeout_s": float("inf")}, ["encode_timeout_s", "inf"]),
        ({"heights": (91, 180)}, ["heights", "91", "odd", "90 or 92"]),
        ({"constraints": Constraints(min_bitrate_kbps=float("nan"))}, ["min_bitrate_kbps", "nan", "finite"]),
        ({"constraints": Constraints(quality_floor=float("inf"))}, ["quality_floor", "inf", "finite"]),
        ({"scaler": "cubic"}, ["scaler", "'cubic'", "bicubic"]),
        ({"vmaf_model": "vmaf_v9"}, ["vmaf_model", "'vmaf_v9'", "vmaf_v0.6.1"]),
        ({"metric": "mos"}, ["metric", "'mos'", "vmaf"]),
        ({"gop_s": 0.0}, ["gop_s", "0"]),
        ({"gop_s": float("nan")}, ["gop_s", "nan", "0-60"]),
        ({"gop_s": float("inf")}, ["gop_s", "inf", "0-60"]),
        ({"gop_s": 61.0}, ["gop_s", "61", "0-60"]),
        ({"constraints": Constraints(max_bitrate_kbps=2e6)}, ["max_bitrate_kbps", "1000000"]),
        ({"constraints": Constraints(bufsize_factor=1e300)}, ["bufsize_factor", "1e+300", "at most 10"]),
        ({"constraints": Constraints(maxrate_factor=1e300)}, ["maxrate_factor", "1e+300", "at most 10"]),
        (
            {"constraints": Constraints(min_bitrate_kbps=1e5, max_bitrate_kbps=5e5, bufsize_factor=4)},
            ["bufsize_factor", "max_bitrate_kbps", "1000000"],
        ),
        ({"jobs": -1}, ["jobs", "-1"]),
        ({"constraints": Constraints(min_bitrate_kbps=-5)}, ["min_bitrate_kbps", "-5"]),
        ({"constraints": Constraints(max_bitrate_kbps=50)}, ["max_bitrate_kbps", "50"]),
        ({"constraints": Constraints(max_rungs=0, min_rungs=0)}, ["max_rungs", "0"]),
        ({"constraints": Constraints(max_rungs=33)}, ["max_rungs", "33", "1 to 32"]),
        ({"constraints": Constraints(min_ratio=1.0)}, ["min_ratio", "1.0"]),
        ({"constraints": Constraints(max_ratio=1.2)}, ["max_ratio", "1.2"]),
        ({"constraints": Constraints(quality_ceiling=120)}, ["quality_ceiling", "120"]),
        ({"constraints": Constraints(quality_floor=99)}, ["quality_floor", "99"]),
        ({"constraints": Constraints(maxrate_factor=0.5)}, ["maxrate_factor", "0.5"]),
    ],
)
def test_validation_errors_name_the_field_and_the_value(
    change: dict[str, object], phrases: list[str]
) -> None:
    with pytest.raises(ConfigError) as excinfo:
        validate(dataclasses.replace(Settings(), **change))
    message = str(excinfo.value)
    assert "\n" not in message
    for phrase in phrases:
        assert phrase in message, (phrase, message)


def test_defaults_and_a_typical_cli_setting_validate() -> None:
    assert validate(Settings()) == Settings()
    s = Settings(heights=(180, 360), crfs=(24.0, 32.0, 40.0), preset="veryfast", jobs=2)
    assert validate(s) is s


# --- constraints YAML ---------------------------------------------------------------------------


def test_the_shipped_default_constraints_are_the_model_defaults() -> None:
    assert load_constraints(REPO / "ladders" / "default.yaml") == Constraints()


def test_constraints_yaml_overrides_only_the_keys_it_names(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("name: tight\nsource: a test\nmax_rungs: 4\nmin_bitrate_kbps: 150\nquality_floor: 40\n")
    assert load_constraints(p) == Constraints(max_rungs=4, min_bitrate_kbps=150.0, quality_floor=40)


def test_constraints_yaml_may_nest_under_a_constraints_key(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("name: nested\nconstraints:\n  max_ratio: 2.5\n")
    assert load_constraints(p) == Constraints(max_ratio=2.5)


def test_an_empty_constraints_file_is_the_defaults(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("# nothing set\n")
    assert load_constraints(p) == Constraints()


@pytest.mark.parametrize(
    ("text", "phrases"),
    [
        ("max_rungz: 4\n", ["unknown key 'max_rungz'", "max_rungs"]),
        ("min_bitrate_kbps: -100\n", ["min_bitrate_kbps", "-100", "positive"]),
        ("max_bitrate_kbps: 50\n", ["max_bitrate_kbps", "50"]),
        ("max_rungs: 2.5\n", ["max_rungs", "2.5", "whole number"]),
        ("max_rungs: many\n", ["max_rungs", "'many'", "number"]),
        ("min_ratio: true\n", ["min_ratio", "True", "number"]),
        ("keep_source_resolution: 1\n", ["keep_source_resolution", "1", "true or false"]),
        ("- 1\n- 2\n", ["mapping"]),
        ("max_rungs: [4\n", ["not valid YAML"]),
    ],
)
def test_bad_constraints_files_name_the_file_key_and_value(
    tmp_path: Path, text: str, phrases: list[str]
) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as excinfo:
        load_constraints(p)
    message = str(excinfo.value)
    assert "\n" not in message
    assert str(p) in message
    for phrase in phrases:
        assert phrase in message, (phrase, message)


def test_a_missing_constraints_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_constraints(tmp_path / "nope.yaml")


# --- parse_number_list --------------------------------------------------------------------------


def test_number_lists_are_parsed_sorted_and_deduplicated() -> None:
    assert parse_number_list("720, 360,540,360", "--heights", integer=True) == (360, 540, 720)
    assert parse_number_list("22.5,30, 18", "--crfs", integer=False) == (18.0, 22.5, 30.0)
    assert parse_number_list("30,", "--crfs", integer=False) == (30.0,)
    assert parse_number_list("+18,2e1, .5", "--crfs", integer=False) == (0.5, 18.0, 20.0)


@pytest.mark.parametrize(
    ("text", "integer", "phrases"),
    [
        ("abc", False, ["--crfs", "'abc'", "a number"]),
        ("22,x3", False, ["--crfs", "'x3'"]),
        ("360.5", True, ["--crfs", "'360.5'", "whole number"]),
        (" , ", True, ["--crfs", "no values"]),
        ("", False, ["--crfs", "no values"]),
        ("1_80", True, ["--crfs", "'1_80'", "whole number"]),  # int() reads 180
        ("\uff11\uff18\uff10", True, ["whole number"]),  # full-width digits: int() reads 180
        ("2_2.5", False, ["'2_2.5'", "a number"]),
    ],
)
def test_bad_number_lists_name_the_option_and_the_item(text: str, integer: bool, phrases: list[str]) -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_number_list(text, "--crfs", integer=integer)
    for phrase in phrases:
        assert phrase in str(excinfo.value)


def test_fast_subsampling_keeps_at_least_60_scored_frames() -> None:
    from pertitle.search import fast_subsample

    assert fast_subsample(48, 4) == 1  # a 2 s clip at 24 fps is scored whole
    assert fast_subsample(163, 4) == 2  # 163 // 60 = 2: 82 frames scored
    assert fast_subsample(241, 4) == 4  # 241 // 60 = 4: 61 frames scored
    assert fast_subsample(10_000, 4) == 4  # never past the setting


def test_a_source_wider_than_16_9_gets_the_sizes_of_the_16_9_boxes() -> None:
    # A 2:1 title fitted into the standard 16:9 boxes, as reference ladders are: 416x234 holds
    # 416x208, 512x288 holds 512x256, 1920x1080 holds 1920x960; the source's own 2048x1024 stays.
    wide = MediaInfo("x", 2048, 1024, 2.0, 25.0, 10.0, 250, "yuv420p", 8, 0, "h264", 1)
    labels = [r.label for r in plan_resolutions(wide, Settings())]
    assert labels == [
        "416x208",
        "512x256",
        "640x320",
        "768x384",
        "960x480",
        "1280x640",
        "1920x960",
        "2048x1024",
    ]


# --- coarse_crfs (--fast) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("crfs", "coarse"),
    [
        ((18, 22, 26, 30, 34, 38, 42), (18, 30, 42)),  # the default grid: every third
        ((18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40, 42), (18, 24, 30, 36, 42)),
        ((24, 28, 32, 36, 40), (24, 32, 40)),
        ((40, 24, 32, 28), (24, 32, 40)),  # any order; never fewer than three
        ((30, 20), (20, 30)),
        ((26,), (26,)),
    ],
)
def test_coarse_crfs_spreads_about_a_third_of_the_grid_over_its_whole_range(
    crfs: tuple[float, ...], coarse: tuple[float, ...]
) -> None:
    assert coarse_crfs(crfs) == tuple(float(c) for c in coarse)


def test_constraints_nested_too_deeply_are_one_config_error(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_constraints(deep)


@pytest.mark.parametrize("metric", ["ssim", "psnr"])
def test_vmaf_scale_quality_bounds_under_another_metric_are_refused(metric: str) -> None:
    # The defaults (ceiling 95, floor 20) are VMAF values: no SSIM or 8-bit PSNR reaches 95.
    with pytest.raises(ConfigError, match=f"quality_ceiling: 95 is above what {metric} reaches"):
        validate(Settings(metric=metric))
    bounds = {"ssim": (0.98, 0.6), "psnr": (45.0, 25.0)}[metric]
    own = Constraints(quality_ceiling=bounds[0], quality_floor=bounds[1])
    assert validate(Settings(metric=metric, constraints=own)).constraints == own
    assert validate(Settings(metric="vmaf_p5")).metric == "vmaf_p5"  # VMAF's scale: the defaults hold


def test_a_crf_past_the_grid_is_one_grid_step_on_within_the_codecs_range() -> None:
    from pertitle.plan import crf_past_the_grid

    grid = (18, 22, 26, 30, 34, 38, 42)
    assert crf_past_the_grid(42.0, grid, 51) == 46.0
    assert crf_past_the_grid(50.0, grid, 51) == 51.0
    assert isinstance(crf_past_the_grid(50.0, grid, 51), float)  # a cache key tells 51 from 51.0
    assert crf_past_the_grid(51.0, grid, 51) is None  # no room left
    assert crf_past_the_grid(56.0, (20, 26, 32, 38, 44, 50, 56), 63) == 62.0  # VP9's step of 6
    assert crf_past_the_grid(30.0, (30,), 51) == 34.0  # a lone CRF: steps of 4


def _fifo_of(tmp_path: Path, text: str, times: int = 1) -> Path:
    """A named pipe that gives `text` to each of the first `times` readers, as `<(...)` would once."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def feed() -> None:
        for _ in range(times):
            with open(fifo, "w", encoding="utf-8") as w:
                w.write(text)

    threading.Thread(target=feed, daemon=True).start()
    return fifo


def test_constraints_from_a_pipe_are_read(tmp_path: Path) -> None:
    """`--constraints <(...)`: a pipe exists though it is no regular file (it said "does not exist")."""
    assert load_constraints(_fifo_of(tmp_path, "max_rungs: 4\n")) == Constraints(max_rungs=4)


def test_a_reference_ladder_from_a_pipe_is_read_once(tmp_path: Path) -> None:
    """`compare --reference <(...)`: the file was parsed, then read again for its rungs, and the
    second read of the pipe found nothing ("expected a mapping ..., got None")."""
    from pertitle.compare import load_ladder_source

    text = (REPO / "ladders" / "apple_hls_h264.yaml").read_text(encoding="utf-8")
    source = load_ladder_source(str(_fifo_of(tmp_path, text)), "reference ladder")
    assert [r.bitrate_kbps for r in source.rungs][:3] == [145.0, 365.0, 730.0]
