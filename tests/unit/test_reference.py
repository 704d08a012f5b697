"""Tests of pertitle.reference: bundled ladders, validation errors, capping to the source size."""

from __future__ import annotations

from pathlib import Path

import pytest

from pertitle.config import Settings
from pertitle.errors import ConfigError
from pertitle.models import MediaInfo, Resolution
from pertitle.plan import plan_resolutions
from pertitle.reference import (
    BUNDLED_LADDERS,
    ReferenceLadder,
    ReferenceRung,
    cap_to_source,
    load_reference,
    parse_reference,
)

REPO = Path(__file__).resolve().parents[2]

# The published tables, as (width, height, kbps); see the `source` of each file.
EXPECTED = {
    "apple_hls_h264": [
        (416, 234, 145), (640, 360, 365), (768, 432, 730), (768, 432, 1100), (960, 540, 2000),
        (1280, 720, 3000), (1280, 720, 4500), (1920, 1080, 6000), (1920, 1080, 7800),
    ],
    "apple_hls_hevc_sdr": [
        (640, 360, 145), (768, 432, 300), (960, 540, 600), (960, 540, 900), (960, 540, 1600),
        (1280, 720, 2400), (1280, 720, 3400), (1920, 1080, 4500), (1920, 1080, 5800),
        (2560, 1440, 8100), (3840, 2160, 11600), (3840, 2160, 16800),
    ],
    "netflix_2015": [
        (320, 240, 235), (384, 288, 375), (512, 384, 560), (512, 384, 750), (640, 480, 1050),
        (720, 480, 1750), (1280, 720, 2350), (1280, 720, 3000), (1920, 1080, 4300), (1920, 1080, 5800),
    ],
}  # fmt: skip
CODECS = {"apple_hls_h264": "h264", "apple_hls_hevc_sdr": "hevc", "netflix_2015": "h264"}


def _sizes(ladder: ReferenceLadder) -> list[tuple[int, int, float]]:
    return [(r.width, r.height, r.bitrate_kbps) for r in ladder.rungs]


@pytest.mark.parametrize("name", BUNDLED_LADDERS)
def test_bundled_ladder_loads_by_name(name: str) -> None:
    ladder = load_reference(name)
    assert _sizes(ladder) == EXPECTED[name]
    assert ladder.codec == CODECS[name]
    assert ladder.name and ladder.source.startswith(("Apple", "Netflix"))
    assert "https://" in ladder.source
    assert all(isinstance(r.bitrate_kbps, float) for r in ladder.rungs)


@pytest.mark.parametrize("name", BUNDLED_LADDERS)
def test_bundled_ladder_loads_by_path_and_copies_are_identical(name: str) -> None:
    user_copy = REPO / "ladders" / f"{name}.yaml"
    package_copy = REPO / "pertitle" / "data" / "ladders" / f"{name}.yaml"
    assert user_copy.read_bytes() == package_copy.read_bytes()
    assert load_reference(user_copy) == load_reference(name)
    assert load_reference(str(user_copy)) == load_reference(name)


def test_every_yaml_in_ladders_dir_is_bundled() -> None:
    # default.yaml holds ladder constraints, not a reference ladder.
    stems = sorted(p.stem for p in (REPO / "ladders").glob("*.yaml") if p.stem != "default")
    assert stems == sorted(BUNDLED_LADDERS)
    assert sorted(p.stem for p in (REPO / "pertitle" / "data" / "ladders").glob("*.yaml")) == sorted(
        BUNDLED_LADDERS
    )


# --- validation ---------------------------------------------------------------------------------

GOOD = """\
name: Test ladder
source: hand-written
codec: h264
rungs:
  - {width: 640, height: 360, bitrate_kbps: 400}
  - {width: 1280, height: 720, bitrate_kbps: 2500.5}
"""


def test_parse_good_ladder() -> None:
    ladder = parse_reference(GOOD, origin="t.yaml")
    assert ladder == ReferenceLadder(
        name="Test ladder",
        source="hand-written",
        codec="h264",
        rungs=(ReferenceRung(640, 360, 400.0), ReferenceRung(1280, 720, 2500.5)),
    )


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_reference(text, origin="bad.yaml")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("bad.yaml: ")
    return message


def _sub(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


BITRATE = "bitrate_kbps: 400"
RUNGS_MISSING = "name: x\nsource: y\ncodec: h264\n"


# Each message must start with "bad.yaml: " (checked by _error) and contain the expected part.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: [unclosed\n", "invalid YAML at line 2"),
        ("- just\n- a list\n", "expected a mapping"),
        (_sub("rungs:", "steps:"), "steps: unknown field"),
        (RUNGS_MISSING, "rungs: expected a non-empty list of rungs, got None"),
        (RUNGS_MISSING + "rungs: []\n", "rungs: expected a non-empty list"),
        (
            RUNGS_MISSING
            + "rungs:\n"
            + "".join(f"  - {{width: 640, height: 360, bitrate_kbps: {100 + i}}}\n" for i in range(33)),
            "rungs: 33 rungs; a ladder holds at most 32",
        ),
        (_sub("name: Test ladder\n", ""), "name: missing"),
        (_sub("codec: h264", "codec: ''"), "codec: expected non-empty text, got ''"),
        (_sub("width: 640", "width: 641"), "rungs[0].width: must be even (4:2:0 video), got 641"),
        (_sub("height: 720", "height: 721"), "rungs[1].height: must be even"),
        (_sub("width: 640", "width: 20000"), "rungs[0].width: must be at most 16384 (what encoders take)"),
        (_sub("width: 640", "width: -640"), "rungs[0].width: must be positive, got -640"),
        (
            _sub("width: 640", "width: 640.5"),
            "rungs[0].width: expected an integer number of pixels, got 640.5",
        ),
        (
            _sub("width: 640", "width: wide"),
            "rungs[0].width: expected an integer number of pixels, got 'wide'",
        ),
        (_sub("width: 640, ", ""), "rungs[0].width: missing"),
        (_sub(BITRATE, "bitrate_kbps: 0"), "rungs[0].bitrate_kbps: must be 1-1000000 kbit/s, got 0"),
        (_sub(BITRATE, "bitrate_kbps: -5.5"), "rungs[0].bitrate_kbps: must be 1-1000000 kbit/s, got -5.5"),
        (
            _sub(BITRATE, "bitrate_kbps: '400'"),
            "rungs[0].bitrate_kbps: expected a number of kbit/s, got '400'",
        ),
        (_sub(BITRATE, "bitrate_kbps: 0.001"), "rungs[0].bitrate_kbps: must be 1-1000000 kbit/s, got 0.001"),
        (_sub(BITRATE, "bitrate_kbps: .nan"), "rungs[0].bitrate_kbps: must be 1-1000000 kbit/s, got nan"),
        (_sub(BITRATE, "bitrate_kbps: true"), "rungs[0].bitrate_kbps: expected a number"),
        (_sub(BITRATE, "bitrate: 400"), "rungs[0].bitrate: unknown field"),
        (_sub("2500.5", "400"), "rungs[1].bitrate_kbps: 400 is not above rungs[0].bitrate_kbps 400"),
        (_sub("2500.5", "300"), "rungs[1].bitrate_kbps: 300 is not above"),
        (_sub("2500.5", "400.4"), "rungs[1].bitrate_kbps: 400.4 is encoded at 400 kbit/s, as rungs[0] is"),
        (_sub("{width: 640, height: 360, bitrate_kbps: 400}", "640x360"), "rungs[0]: expected a mapping"),
    ],
)
def test_validation_errors_name_file_field_and_value(text: str, expected: str) -> None:
    assert expected in _error(text)


def test_missing_file_names_the_path_and_the_bundled_names(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"nope\.yaml: reference ladder file not found") as info:
        load_reference(missing)
    assert "apple_hls_h264" in str(info.value)
    with pytest.raises(ConfigError, match="apple_hls_h265: reference ladder file not found"):
        load_reference("apple_hls_h265")  # a typo of a bundled name is read as a path


def test_error_from_a_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD.replace("width: 640", "width: 641"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"mine\.yaml: rungs\[0\]\.width: must be even"):
        load_reference(path)


# --- cap_to_source ------------------------------------------------------------------------------


def test_cap_to_720p_source_apple_h264() -> None:
    capped = cap_to_source(load_reference("apple_hls_h264"), 1280, 720)
    assert _sizes(capped) == [
        (416, 234, 145), (640, 360, 365), (768, 432, 730), (768, 432, 1100), (960, 540, 2000),
        (1280, 720, 3000), (1280, 720, 4500), (1280, 720, 6000), (1280, 720, 7800),
    ]  # fmt: skip
    assert capped.name == "Apple HLS H.264"


def test_cap_to_1080p_source_apple_hevc() -> None:
    ladder = load_reference("apple_hls_hevc_sdr")
    capped = cap_to_source(ladder, 1920, 1080)
    assert _sizes(capped)[:9] == _sizes(ladder)[:9]
    assert _sizes(capped)[9:] == [(1920, 1080, 8100), (1920, 1080, 11600), (1920, 1080, 16800)]


def test_cap_fits_other_aspects_into_each_rung_box() -> None:
    # A 2.39:1 scope source, 1920x804: scaled into each 16:9 box, never stretched.
    # 1280x720 box: scale = min(1280/1920, 720/804) = 0.6667 -> 1280 x 536.0 -> 1280x536.
    capped = cap_to_source(load_reference("apple_hls_h264"), 1920, 804)
    assert _sizes(capped)[-4:] == [(1280, 536, 3000), (1280, 536, 4500), (1920, 804, 6000), (1920, 804, 7800)]
    # A 4:3 SD source, 640x480, against Netflix's ladder: 512x384 fits exactly (scale 0.8);
    # the 720x480 box holds the whole source (scale min(1.125, 1, 1) = 1) -> 640x480.
    netflix = cap_to_source(load_reference("netflix_2015"), 640, 480)
    assert _sizes(netflix)[:5] == EXPECTED["netflix_2015"][:5]
    assert _sizes(netflix)[5:] == [
        (640, 480, 1750), (640, 480, 2350), (640, 480, 3000), (640, 480, 4300), (640, 480, 5800),
    ]  # fmt: skip


def test_cap_turns_the_boxes_portrait_for_a_portrait_source() -> None:
    # A 1080x1440 phone video (3:4): the 416x234 box turns 234x416; scale = min(234/1080,
    # 416/1440) = 0.2167 -> 234.0 x 312.0; the 1920x1080 box -> 1080x1920, scale 1 -> 1080x1440.
    capped = cap_to_source(load_reference("apple_hls_h264"), 1080, 1440)
    assert _sizes(capped)[0] == (234, 312, 145)
    assert _sizes(capped)[-1] == (1080, 1440, 7800)


def test_cap_gives_a_480p_source_the_published_sizes() -> None:
    # 854x480, a hair wider than 16:9: the 640x360 box scales it by 640/854 -> 640 x 359.7, which
    # rounds to the published 640x360 (rounding down gave 640x358, and 416x232 and 768x430: sizes
    # the probes never encode). These are the sizes the probes get (`plan.fit_into_box`).
    capped = cap_to_source(load_reference("apple_hls_h264"), 854, 480)
    assert _sizes(capped)[:4] == [(416, 234, 145), (640, 360, 365), (768, 432, 730), (768, 432, 1100)]
    assert _sizes(capped)[4:] == [(854, 480, kbps) for kbps in (2000, 3000, 4500, 6000, 7800)]


def test_cap_and_the_probes_agree_on_every_size() -> None:
    # Every capped rung of a source is a size the probe grid holds: the same rule sizes both, so
    # the two ladders' encodes at a size are the same encodes.
    sources = [(1392, 1040), (2048, 1080), (854, 480), (960, 408), (2048, 1024), (1080, 1440), (1280, 720)]
    for width, height in sources:
        info = MediaInfo("/t.mp4", width, height, width / height, 24.0, 10.0, 240, "yuv420p", 8, 0, "h264", 1)
        probed = set(plan_resolutions(info, Settings()))
        for rung in cap_to_source(load_reference("apple_hls_h264"), width, height).rungs:
            assert Resolution(rung.width, rung.height) in probed, (width, height, rung)


def test_cap_rounds_an_odd_source_size_down_to_even() -> None:
    capped = cap_to_source(load_reference("apple_hls_h264"), 853, 481)
    assert _sizes(capped)[4:6] == [(852, 480, 2000), (852, 480, 3000)]
    # 768x432 box: scale = min(768/853, 432/481) = 0.89813 -> 766.1 x 432.0 -> 766x432.
    assert _sizes(capped)[3] == (766, 432, 1100)


def test_cap_to_a_larger_source_changes_nothing() -> None:
    ladder = load_reference("apple_hls_hevc_sdr")
    assert cap_to_source(ladder, 3840, 2160) == ladder
    assert cap_to_source(ladder, 7680, 4320) == ladder


def test_cap_rejects_a_degenerate_source() -> None:
    with pytest.raises(ValueError, match="1x0"):
        cap_to_source(load_reference("netflix_2015"), 1, 0)


def test_a_reference_nested_too_deeply_is_one_config_error(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(ConfigError, match="nested too deeply to be a reference ladder"):
        load_reference(deep)
