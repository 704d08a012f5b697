"""YAML as YAML 1.2 reads it: `1e3` is a number and `0100` is 100, not text and 64 (PyYAML's 1.1);
a key given twice is an error, and a syntax error says where."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from pertitle.config import load_constraints
from pertitle.errors import ConfigError
from pertitle.reference import parse_reference
from pertitle.yamltext import dump_yaml, load_yaml, yaml_problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1e3", 1000.0),
        ("2.5E3", 2500.0),
        ("-1e-2", -0.01),
        ("1.5", 1.5),
        ("3.", 3.0),
        (".5", 0.5),
        ("100", 100),
        # YAML 1.1's readings, which changed a manifest's CRFs [024, 032] to 20 and 26:
        ("024", 24),
        ("0100", 100),
        ("0o17", 15),
        ("0x1F", 31),
        ("-0", 0),
        ("1_000", "1_000"),
        ("1:40", "1:40"),
        ("no", "no"),
        ("off", "off"),
        ("yes", "yes"),
        ("2024-01-01", "2024-01-01"),
        ("True", True),
        ('"400"', "400"),  # quoted: text, as the author wrote it
        ("1e", "1e"),
        ("e3", "e3"),
        ("true", True),
        ("null", None),
    ],
)
def test_scalars(text: str, expected: object) -> None:
    value = load_yaml(f"v: {text}\n")["v"]
    assert value == expected
    assert type(value) is type(expected)


def test_special_floats_and_safety() -> None:
    assert math.isinf(load_yaml("v: .inf")["v"])
    assert math.isnan(load_yaml("v: .nan")["v"])
    with pytest.raises(yaml.YAMLError):
        load_yaml("v: !!python/object/apply:os.system ['true']")


def test_plain_safe_loader_untouched() -> None:
    # The resolvers are replaced on pertitle's loader only, not on PyYAML's SafeLoader.
    assert yaml.safe_load("v: 1e3\nw: 0100\n") == {"v": "1e3", "w": 64}


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("a: 1\na: 2\n", "at line 2, column 1: the key 'a' is given twice in one mapping"),
        # A manifest's second list of titles replaced the first, with no word.
        ("titles:\n  - a.mp4\ntitles:\n  - b.mp4\n", "at line 3, column 1: the key 'titles' is given twice"),
        ("min_bitrate_kbps: [100\n", "at line 2, column 1: expected ',' or ']', but got '<stream end>'"),
        ("a: 1\n\tb: 2\n", "cannot start any token (YAML indents with spaces, not tabs)"),
        # Past what a float holds: every reader's float() raised OverflowError (a traceback).
        ("kbps: 1" + "0" * 400 + "\n", "at line 1, column 7: an integer of 401 digits is too large"),
        ("n: 0x" + "f" * 20 + "\n", "an integer of 22 digits is too large"),
    ],
)
def test_errors_say_where_and_what(text: str, said: str) -> None:
    with pytest.raises(yaml.YAMLError) as caught:
        load_yaml(text)
    assert said in yaml_problem(caught.value)


def test_a_merge_key_may_be_overridden() -> None:
    doc = load_yaml("base: &b {x: 1, y: 2}\nmerged: {<<: *b, y: 3}\n")
    assert doc["merged"] == {"x": 1, "y": 3}


def test_written_yaml_reads_back_the_same_under_both_yaml_versions() -> None:
    doc = {
        "names": ["1e3", "0o17", "no", "0100", "2024-01-01", "1_000", "x: y"],
        "v": [1e-05, 1000.0, True, None],
    }
    text = dump_yaml(doc)
    assert load_yaml(text) == doc
    assert yaml.safe_load(text) == doc


def test_constraints_take_exponent_numbers(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("min_bitrate_kbps: 1.5e2\nmax_bitrate_kbps: 8e3\nmax_rungs: 6\n", encoding="utf-8")
    c = load_constraints(path)
    assert (c.min_bitrate_kbps, c.max_bitrate_kbps, c.max_rungs) == (150.0, 8000.0, 6)
    path.write_text("min_bitrate_kbps: 1e2x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="min_bitrate_kbps = '1e2x' must be a number"):
        load_constraints(path)
    path.write_text("min_bitrate_kbps: 0150\n", encoding="utf-8")  # YAML 1.1: 104 kbps
    assert load_constraints(path).min_bitrate_kbps == 150
    path.write_text("min_bitrate_kbps: 100\nmin_bitrate_kbps: 150\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="at line 2, column 1: the key 'min_bitrate_kbps' is given twice"):
        load_constraints(path)


def test_reference_ladder_takes_exponent_bitrates() -> None:
    text = (
        "name: t\nsource: s\ncodec: h264\nrungs:\n"
        "  - {width: 640, height: 360, bitrate_kbps: 4e2}\n"
        "  - {width: 1280, height: 720, bitrate_kbps: 1.2e3}\n"
    )
    ladder = parse_reference(text, origin="t.yaml")
    assert [r.bitrate_kbps for r in ladder.rungs] == [400.0, 1200.0]


def test_integers_up_to_the_bound_are_read() -> None:
    assert load_yaml(f"a: {10**18}\nb: -{10**18}\n") == {"a": 10**18, "b": -(10**18)}
