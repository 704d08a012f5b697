"""serialize.from_document is the inverse of to_document, and refuses what is not a v1 ladder document."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
import yaml

from pertitle.errors import InputError
from pertitle.models import (
    Crossover,
    Hull,
    Ladder,
    MediaInfo,
    Quality,
    RdPoint,
    Rung,
    SampleWindow,
    Timings,
    TitleResult,
)
from pertitle.report import serialize


def _point(height: int, crf: float, kbps: float, vmaf: float) -> RdPoint:
    width = {180: 320, 360: 640, 720: 1280}[height]
    return RdPoint(
        width=width,
        height=height,
        crf=crf,
        bitrate_kbps=kbps,
        vmaf=vmaf,
        # Values as the document stores them (3 decimals, SSIM 5), so that models compare equal too.
        psnr=round(30 + vmaf / 10, 3),
        ssim=round(0.9 + vmaf / 2000, 5),
        vmaf_hmean=vmaf - 0.4,
        vmaf_p1=vmaf - 9.5,
        vmaf_p5=vmaf - 4.25,
    )


def make_result() -> TitleResult:
    """A small hand-built analysis: two resolutions, three CRFs each, two rungs, one crossover."""
    points = (
        _point(360, 26, 420.5, 78.25),
        _point(360, 34, 210.125, 66.5),
        _point(360, 42, 105.0, 49.0),
        _point(720, 26, 1650.0, 93.5),
        _point(720, 34, 780.25, 84.75),
        _point(720, 42, 360.5, 64.0),
    )
    vertices = (points[2], points[1], points[0], points[4], points[3])
    hull = Hull(
        metric="vmaf",
        vertices=vertices,
        dominated=(points[5],),
        crossovers=(Crossover(low_height=360, high_height=720, bitrate_kbps=395.4),),
    )
    rungs = (
        Rung(
            width=640,
            height=360,
            bitrate_kbps=300.0,
            maxrate_kbps=450.0,
            bufsize_kbps=600.0,
            codec="h264",
            preset="veryfast",
            crf=30.25,
            predicted=Quality(
                vmaf=73.125, psnr=37.5, ssim=0.93625, vmaf_hmean=72.5, vmaf_p1=61.0, vmaf_p5=68.5
            ),
            hull_predicted=Quality(vmaf=72.75, psnr=37.25, ssim=0.93125),
            vmaf_per_frame=(71.5, 73.0, 74.25, 72.0),
        ),
        Rung(
            width=1280,
            height=720,
            bitrate_kbps=1200.0,
            maxrate_kbps=1800.0,
            bufsize_kbps=2400.0,
            codec="h264",
            preset="veryfast",
            crf=29.5,
            # Not calibrated: no per-frame scores, and a score that was not finite (written as null).
            predicted=Quality(vmaf=89.5, psnr=math.nan, ssim=0.9775),
            hull_predicted=Quality(vmaf=89.5, psnr=38.75, ssim=0.9775),
        ),
    )
    return TitleResult(
        title="hand built",
        source=MediaInfo(
            path="/clips/hand built.mp4",
            width=1280,
            height=720,
            display_aspect=16 / 9,
            fps=25.0,
            duration_s=12.5,
            frame_count=312,
            pix_fmt="yuv420p",
            bit_depth=8,
            rotation_deg=0,
            codec="h264",
            size_bytes=4_200_000,
        ),
        settings={
            "codec": "h264",
            "preset": "veryfast",
            "crfs": [26, 34, 42],
            "vmaf_model": "vmaf_v0.6.1",
            "metric": "vmaf",
            "constraints": {"max_rungs": 8},
        },
        tool={"pertitle": "0.1.0", "ffmpeg": "7.1"},
        samples=(SampleWindow(0, 0.0, 4.0), SampleWindow(1, 8.5, 4.0)),
        full_pass=False,
        points=points,
        hull=hull,
        ladder=Ladder(rungs=rungs, gave_way=("max_ratio relaxed between rungs 1 and 2",)),
        timings=Timings(probe_s=0.25, prepare_s=1.5, encode_measure_s=12.75, calibrate_s=3.5, total_s=18.0),
        encodes=8,
        cache_hits=2,
    )


def test_round_trip_is_exact() -> None:
    doc = serialize.to_document(make_result())
    back = serialize.from_document(doc)
    assert serialize.to_document(back) == doc


def test_round_trip_through_json_and_yaml_text() -> None:
    doc = serialize.to_document(make_result())
    assert serialize.to_document(serialize.from_document(json.loads(serialize.to_json(doc)))) == doc
    assert serialize.to_document(serialize.from_document(yaml.safe_load(serialize.to_yaml(doc)))) == doc


def test_rebuilt_models_hold_the_values() -> None:
    original = make_result()
    back = serialize.from_document(serialize.to_document(original))
    assert back.source == original.source
    assert back.points == original.points
    assert back.hull.vertices == original.hull.vertices
    assert set(back.hull.dominated) == set(original.hull.dominated)
    assert back.hull.crossovers == original.hull.crossovers
    assert back.samples == original.samples
    assert back.timings == original.timings
    assert (back.encodes, back.cache_hits, back.full_pass) == (8, 2, False)
    assert back.ladder.gave_way == original.ladder.gave_way
    first, second = back.ladder.rungs
    assert first.predicted == original.ladder.rungs[0].predicted
    assert first.vmaf_per_frame == (71.5, 73.0, 74.25, 72.0)
    assert second.vmaf_per_frame == ()
    assert math.isnan(second.predicted.psnr)  # written as null, read back as NaN
    assert (first.hull_predicted.vmaf, first.hull_predicted.psnr) == (72.75, 37.25)


def test_optional_fields_absent_take_neutral_values() -> None:
    doc = serialize.to_document(make_result())
    for key in (
        "display_aspect",
        "frame_count",
        "pix_fmt",
        "bit_depth",
        "rotation_deg",
        "codec",
        "size_bytes",
    ):
        del doc["source"][key]
    del doc["gave_way"]
    del doc["rungs"][0]["hull_predicted"]
    del doc["rungs"][0]["vmaf_per_frame"]
    del doc["rungs"][0]["preset"]
    back = serialize.from_document(doc)
    assert back.source.display_aspect == pytest.approx(16 / 9)
    assert back.source.frame_count == 0
    assert back.ladder.gave_way == ()
    assert math.isnan(back.ladder.rungs[0].hull_predicted.vmaf)
    assert back.ladder.rungs[0].preset == "veryfast"  # from the settings


def _broken(mutate: Any) -> dict[str, Any]:
    doc = copy.deepcopy(serialize.to_document(make_result()))
    mutate(doc)
    return doc


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ([1, 2, 3], "expected a mapping"),
        ({"schema": "pertitle.compare/v1", "title": "x"}, "'pertitle.compare/v1'"),
        (_broken(lambda d: d.pop("points")), "'points' is a required property"),
        (_broken(lambda d: d["rungs"][0].update(codec="mpeg2")), "rungs/0/codec"),
        (_broken(lambda d: d["hull"].update(metric="bogus")), "unknown metric 'bogus'"),
        (_broken(lambda d: d.update(timings=[1, 2])), "not a valid"),
        (_broken(lambda d: d.update(rungs=d["rungs"] * 17)), "rungs: 34 entries, at most 32"),
        (_broken(lambda d: d["rungs"][0].update(maxrate_kbps=1e300)), "rungs/0: maxrate_kbps 1e+300"),
        (
            _broken(lambda d: d["rungs"][1].update(bitrate_kbps=d["rungs"][0]["bitrate_kbps"] + 0.4)),
            "in the whole kbit/s encoders are given",
        ),
        (_broken(lambda d: d["rungs"][0].update(bufsize_kbps=1e300)), "rungs/0: bufsize_kbps 1e+300"),
        # A hand-edited 1e999 is JSON's infinity, 10**400 a valid JSON integer: the report's
        # arithmetic on them was a traceback.
        (_broken(lambda d: d["source"].update(duration_s=math.inf)), "source: duration_s inf is not within"),
        (_broken(lambda d: d["source"].update(fps=1e6)), "source: fps 1e+06 is not within 0-10000"),
        (_broken(lambda d: d["source"].update(size_bytes=10**400)), "source: size_bytes is outside 0-"),
        (_broken(lambda d: d["source"].update(width=10**9)), "source: width 1000000000 is not within"),
        (_broken(lambda d: d["source"].update(bit_depth=-8)), "source: bit_depth -8 is not within 1-32"),
        (_broken(lambda d: d["source"].update(rotation_deg=12345)), "rotation_deg 12345 is not 0, 90"),
        # With capped CRF a rung's CRF is what is deployed: -inf, -10 and 1e300 were taken.
        (_broken(lambda d: d["rungs"][0].update(crf=-10)), "rungs/0: crf -10 is not within h264's 0-51"),
        (_broken(lambda d: d["rungs"][1].update(crf=1e300)), "rungs/1: crf 1e+300 is not within"),
        # What the reports draw: a vertex at 1e300 drew 300-digit axis labels, exit 0.
        (
            _broken(lambda d: d["hull"]["vertices"][0].update(bitrate_kbps=1e300, value=1e300)),
            "hull/vertices/0: bitrate_kbps 1e+300 is not a measured bitrate",
        ),
        (
            _broken(
                lambda d: d["hull"]["vertices"].append({**d["hull"]["vertices"][0], "crf": 1, "value": 300})
            ),
            "hull/vertices/5: value 300 is outside vmaf's 0-100",
        ),
        (
            _broken(lambda d: d["hull"]["crossovers"][0].update(bitrate_kbps=-5)),
            "hull/crossovers/0: bitrate_kbps -5 is not a bitrate",
        ),
        (_broken(lambda d: d["hull"]["crossovers"][0].update(low_height=0)), "are not two rising heights"),
        (
            _broken(lambda d: d["samples"]["windows"][0].update(start_s=-3, duration_s=-5)),
            "samples/windows/0: start_s -3, duration_s -5 is not a stretch of the 12.5 s title",
        ),
        (
            _broken(lambda d: d["samples"]["windows"][1].update(duration_s=1e308)),
            "samples/windows/1: start_s 8.5",
        ),
        (
            _broken(lambda d: d["timings"].update(total_s=-5)),
            "timings/total_s: -5 is not a number of seconds",
        ),
        (_broken(lambda d: d["timings"].update(encodes=-3)), "timings/encodes: -3 is not a count"),
        (
            _broken(lambda d: d["rungs"][0].update(vmaf_per_frame=[80.0] * 2_000)),
            "rungs/0: vmaf_per_frame has 2000 scores for a title of 313 frames",
        ),
    ],
)
def test_not_a_ladder_document_is_one_line_input_error(doc: Any, needle: str) -> None:
    with pytest.raises(InputError) as info:
        serialize.from_document(doc)
    message = str(info.value)
    assert "\n" not in message
    assert "pertitle.ladder/v1" in message
    assert needle in message
    assert info.value.exit_code == 2


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_document_nested_too_deeply_is_one_line_input_error(tmp_path: Any, suffix: str) -> None:
    deep = tmp_path / f"deep{suffix}"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(InputError, match="nested too deeply") as caught:
        serialize.read_document(deep, "ladder")
    assert "\n" not in str(caught.value)


def test_a_json_ladder_with_a_byte_order_mark_is_read(tmp_path: Any) -> None:
    doc = serialize.to_document(make_result())
    bom = tmp_path / "bom.ladder.json"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps(doc).encode("utf-8"))
    assert serialize.read_document(bom) == json.loads(json.dumps(doc))


def test_integers_written_as_whole_floats_are_read() -> None:
    doc = json.loads(json.dumps(serialize.to_document(make_result())))
    rung = doc["rungs"][0]
    width = rung["width"]
    rung["width"] = float(width)
    back = serialize.from_document(doc)
    assert back.ladder.rungs[0].width == width and isinstance(back.ladder.rungs[0].width, int)
    rung["width"] = width + 0.5
    with pytest.raises(InputError):
        serialize.from_document(doc)


def test_the_schema_caps_rungs_where_the_constraints_do() -> None:
    from pertitle.models import MAX_RUNGS

    assert serialize.load_schema()["properties"]["rungs"]["maxItems"] == MAX_RUNGS


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_an_integer_too_large_for_a_float_is_one_line_input_error(tmp_path: Any, suffix: str) -> None:
    """A 400-digit integer is valid JSON and YAML; float() of it raised OverflowError."""
    doc = serialize.to_document(make_result())
    text = serialize.to_json(doc) if suffix == ".json" else serialize.to_yaml(doc)
    huge = "1" + "0" * 400
    text = text.replace('"size_bytes": ', f'"size_bytes": {huge}, "_": ', 1).replace(
        "size_bytes: ", f"size_bytes: {huge}\n  _: ", 1
    )
    path = tmp_path / f"big{suffix}"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        serialize.read_document(path)
    assert "an integer of 401 digits is too large" in str(info.value)
    assert "\n" not in str(info.value)
    # Read by any other reader, the document's own check says so too.
    doc["points"][0]["bitrate_kbps"] = int(huge)
    with pytest.raises(InputError, match=r"not a valid pertitle\.ladder/v1 document"):
        serialize.from_document(doc)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        # YAML refused a key given twice; JSON kept the last value without a word.
        ('{"title": "other", "title": "real"}', "the key 'title' is given twice in one object"),
        # int() of 4301 digits says to call sys.set_int_max_str_digits(), advice for no user.
        ('{"size_bytes": ' + "9" * 5000 + "}", "an integer of 5000 digits is too large for any value here"),
    ],
)
def test_json_is_read_as_strictly_as_yaml(tmp_path: Any, text: str, needle: str) -> None:
    path = tmp_path / "doc.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        serialize.read_document(path)
    assert needle in str(info.value) and "sys." not in str(info.value)


def test_a_null_where_a_number_belongs_is_said_in_json_words() -> None:
    doc = _broken(lambda d: d["rungs"][0]["vmaf_per_frame"].__setitem__(1, None))
    with pytest.raises(InputError, match=r"rungs/0/vmaf_per_frame/1: null is not of type 'number'"):
        serialize.from_document(doc)
