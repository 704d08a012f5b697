"""Published fixed bitrate ladders, the baselines a per-title ladder is compared against.

A reference ladder is a YAML file (the format is documented at the top of each bundled file):

    name: Apple HLS H.264
    source: "Apple, HLS authoring specification for Apple devices, ... (URL, year)"
    codec: h264
    rungs:
      - {width: 416, height: 234, bitrate_kbps: 145}
      ...

The bundled ladders ship inside the package (`pertitle/data/ladders/`, read through
importlib.resources so they are found in a non-editable install); `ladders/` at the repository
root holds the same files for users to read and copy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from pertitle.errors import ConfigError
from pertitle.models import MAX_RUNGS, RUNG_KBPS_RANGE, deployable_kbps, deployed_kbps, side_problem
from pertitle.plan import fit_into_box
from pertitle.yamltext import load_yaml, yaml_problem

BUNDLED_LADDERS = ("apple_hls_h264", "apple_hls_hevc_sdr", "netflix_2015")

_TOP_FIELDS = ("name", "source", "codec", "rungs")
_RUNG_FIELDS = ("width", "height", "bitrate_kbps")


@dataclass(frozen=True)
class ReferenceRung:
    width: int
    height: int
    bitrate_kbps: float


@dataclass(frozen=True)
class ReferenceLadder:
    """A fixed ladder with its provenance; rungs in strictly increasing bitrate."""

    name: str
    source: str
    codec: str
    rungs: tuple[ReferenceRung, ...]


def load_reference(path_or_name: str | Path) -> ReferenceLadder:
    """Load a reference ladder from a YAML file, or a bundled one by bare name.

    A `str` equal to one of `BUNDLED_LADDERS` (e.g. "apple_hls_h264") names a bundled ladder;
    anything else is a path.

    Raises:
        ConfigError: one line naming the file, the field and the bad value: missing file, bad
            YAML, missing or unknown fields, non-numeric or non-positive numbers, odd width or
            height, bitrates not strictly increasing.
    """
    if isinstance(path_or_name, str) and path_or_name in BUNDLED_LADDERS:
        bundled = resources.files("pertitle").joinpath("data", "ladders", f"{path_or_name}.yaml")
        return parse_reference(bundled.read_text(encoding="utf-8"), origin=f"bundled:{path_or_name}")
    path = Path(path_or_name)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: reference ladder file not found (bundled ladders: {', '.join(BUNDLED_LADDERS)})"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read reference ladder: {exc}") from None
    return parse_reference(text, origin=str(path))


def parse_reference(text: str, *, origin: str) -> ReferenceLadder:
    """Parse and validate reference-ladder YAML; `origin` names the file in error messages.

    Raises:
        ConfigError: as `load_reference`.
    """
    try:
        doc = load_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: invalid YAML {yaml_problem(exc)}") from None
    except RecursionError:
        raise ConfigError(f"{origin}: nested too deeply to be a reference ladder") from None
    return reference_from_document(doc, origin=origin)


def reference_from_document(doc: Any, *, origin: str) -> ReferenceLadder:
    """`parse_reference` of a document already read (a pipe can be read only once).

    Raises:
        ConfigError: as `load_reference`.
    """
    if not isinstance(doc, dict):
        raise ConfigError(f"{origin}: expected a mapping with {', '.join(_TOP_FIELDS)}, got {_show(doc)}")
    _reject_unknown(doc, _TOP_FIELDS, origin, "")
    name = _text_field(doc, "name", origin)
    source = _text_field(doc, "source", origin)
    codec = _text_field(doc, "codec", origin)
    raw_rungs = doc.get("rungs")
    if not isinstance(raw_rungs, list) or not raw_rungs:
        raise ConfigError(f"{origin}: rungs: expected a non-empty list of rungs, got {_show(raw_rungs)}")
    if len(raw_rungs) > MAX_RUNGS:
        raise ConfigError(f"{origin}: rungs: {len(raw_rungs)} rungs; a ladder holds at most {MAX_RUNGS}")
    rungs = tuple(_rung(raw, origin, f"rungs[{i}]") for i, raw in enumerate(raw_rungs))
    for i in range(1, len(rungs)):
        if rungs[i].bitrate_kbps <= rungs[i - 1].bitrate_kbps:
            raise ConfigError(
                f"{origin}: rungs[{i}].bitrate_kbps: {rungs[i].bitrate_kbps:g} is not above "
                f"rungs[{i - 1}].bitrate_kbps {rungs[i - 1].bitrate_kbps:g} (bitrates must increase)"
            )
        if deployed_kbps(rungs[i].bitrate_kbps) == deployed_kbps(rungs[i - 1].bitrate_kbps):
            raise ConfigError(
                f"{origin}: rungs[{i}].bitrate_kbps: {rungs[i].bitrate_kbps:g} is encoded at "
                f"{deployed_kbps(rungs[i].bitrate_kbps)} kbit/s, as rungs[{i - 1}] is (one encode, not two)"
            )
    return ReferenceLadder(name=name, source=source, codec=codec, rungs=rungs)


def cap_to_source(ladder: ReferenceLadder, source_width: int, source_height: int) -> ReferenceLadder:
    """The ladder as it would be deployed for this source: each rung's size is a box the source is
    fitted into, keeping the source's aspect and never upscaling.

    Rule (`plan.fit_into_box`, which sizes the probes too, so both ladders get the same sizes): the
    box is the rung's size, turned portrait for a portrait source; the source is scaled by
    min(box_w / src_w, box_h / src_h) and rounded to the nearest even numbers (4:2:0), as ffmpeg's
    `force_original_aspect_ratio=decrease:force_divisible_by=2` does; a box that holds the source
    gives the source's size. So a 16:9 source gets the published sizes, a rung above the source
    gets the source's size, a 2.39:1 source gets 1280x536 in the 1280x720 box (no stretching),
    and a portrait phone video gets portrait rungs. Bitrates are kept; several capped rungs may
    share the source size.

    Raises:
        ValueError: a source dimension is below 2.
    """
    if source_width < 2 or source_height < 2:
        raise ValueError(f"source size must be at least 2x2, got {source_width}x{source_height}")
    portrait = source_height > source_width
    # An odd source size (a ladder file may be capped for any size) deploys as its even size.
    even_width, even_height = source_width // 2 * 2, source_height // 2 * 2

    def fit(rung: ReferenceRung) -> ReferenceRung:
        box_w, box_h = rung.width, rung.height
        if portrait and box_w > box_h:
            box_w, box_h = box_h, box_w
        size = fit_into_box(even_width, even_height, box_w, box_h)
        return replace(rung, width=size.width, height=size.height)

    return replace(ladder, rungs=tuple(fit(rung) for rung in ladder.rungs))


def _rung(raw: Any, origin: str, where: str) -> ReferenceRung:
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{origin}: {where}: expected a mapping with {', '.join(_RUNG_FIELDS)}, got {_show(raw)}"
        )
    _reject_unknown(raw, _RUNG_FIELDS, origin, f"{where}.")
    width = _dimension(raw, "width", origin, where)
    height = _dimension(raw, "height", origin, where)
    bitrate = raw.get("bitrate_kbps")
    field = f"{where}.bitrate_kbps"
    if "bitrate_kbps" not in raw:
        raise ConfigError(f"{origin}: {field}: missing")
    if isinstance(bitrate, bool) or not isinstance(bitrate, int | float):
        raise ConfigError(f"{origin}: {field}: expected a number of kbit/s, got {_show(bitrate)}")
    if not deployable_kbps(bitrate):
        lo, hi = RUNG_KBPS_RANGE
        raise ConfigError(f"{origin}: {field}: must be {lo:.0f}-{hi:.0f} kbit/s, got {bitrate!r}")
    return ReferenceRung(width=width, height=height, bitrate_kbps=float(bitrate))


def _dimension(raw: dict[Any, Any], key: str, origin: str, where: str) -> int:
    field = f"{where}.{key}"
    if key not in raw:
        raise ConfigError(f"{origin}: {field}: missing")
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{origin}: {field}: expected an integer number of pixels, got {_show(value)}")
    problem = side_problem(value)
    if problem:
        raise ConfigError(f"{origin}: {field}: {problem}")
    return value


def _text_field(doc: dict[Any, Any], key: str, origin: str) -> str:
    if key not in doc:
        raise ConfigError(f"{origin}: {key}: missing")
    value = doc[key]
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{origin}: {key}: expected non-empty text, got {_show(value)}")
    return " ".join(value.split())


def _reject_unknown(mapping: dict[Any, Any], allowed: tuple[str, ...], origin: str, prefix: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise ConfigError(
                f"{origin}: {prefix}{key}: unknown field (expected {', '.join(allowed)}), "
                f"value {_show(mapping[key])}"
            )


def _show(value: Any) -> str:
    """A short, single-line rendering of a bad value for an error message."""
    text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."
