"""YAML numbers as people write them: `1e3` is a number (YAML 1.2), not text (PyYAML's 1.1)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from pertitle.config import load_constraints
from pertitle.errors import ConfigError
from pertitle.reference import parse_reference
from pertitle.yamltext import load_yaml


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
        ("1_000", 1000),
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
    # The resolver is replaced on pertitle's loader only, not on PyYAML's SafeLoader.
    assert yaml.safe_load("v: 1e3") == {"v": "1e3"}


def test_constraints_take_exponent_numbers(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("min_bitrate_kbps: 1.5e2\nmax_bitrate_kbps: 8e3\nmax_rungs: 6\n", encoding="utf-8")
    c = load_constraints(path)
    assert (c.min_bitrate_kbps, c.max_bitrate_kbps, c.max_rungs) == (150.0, 8000.0, 6)
    path.write_text("min_bitrate_kbps: 1e2x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="min_bitrate_kbps = '1e2x' must be a number"):
        load_constraints(path)


def test_reference_ladder_takes_exponent_bitrates() -> None:
    text = (
        "name: t\nsource: s\ncodec: h264\nrungs:\n"
        "  - {width: 640, height: 360, bitrate_kbps: 4e2}\n"
        "  - {width: 1280, height: 720, bitrate_kbps: 1.2e3}\n"
    )
    ladder = parse_reference(text, origin="t.yaml")
    assert [r.bitrate_kbps for r in ladder.rungs] == [400.0, 1200.0]
