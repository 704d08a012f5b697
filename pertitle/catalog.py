"""A catalog's inputs, read and checked before any work: files, directories (searched recursively
for names that match the include globs) and manifests (`.yaml`, `.yml`, `.csv`, `.txt`) that list titles
with per-title overrides. Every problem with the inputs (a missing path, a bad override, two
titles that would write the same ladder, an output name that would leave the output directory)
is found before any work starts and raised together as one BatchInputError, in the order of the
inputs."""

from __future__ import annotations

import csv
import dataclasses
import fnmatch
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from pertitle.cache import utf8_text
from pertitle.config import Settings, load_constraints, parse_number_list, renamed_field, settings_problems
from pertitle.errors import ConfigError, PertitleError
from pertitle.ffmpeg.binary import FfmpegInfo
from pertitle.yamltext import load_yaml, yaml_problem

VIDEO_EXTENSIONS = (
    "mp4",
    "m4v",
    "mov",
    "mkv",
    "webm",
    "avi",
    "ogv",
    "ogg",
    "ts",
    "m2ts",
    "mts",
    "mxf",
    "mpg",
    "mpeg",
    "wmv",
    "flv",
    "3gp",
    "y4m",
)


DEFAULT_INCLUDE = tuple(f"*.{ext}" for ext in VIDEO_EXTENSIONS)


MANIFEST_SUFFIXES = (".yaml", ".yml", ".csv", ".txt")


MAX_NAME_CHARS = 200


# Manifest keys -> what they override. `path` and `name` are the title itself.
MANIFEST_KEYS = (
    "path",
    "name",
    "codec",
    "preset",
    "heights",
    "crfs",
    "constraints",
    "samples",
    "sample_duration",
    "encode_timeout",
    "fast",
)


class BatchInputError(ConfigError):
    """Everything wrong with a batch's inputs, one problem per line after the first (exit 2)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        if len(self.problems) == 1:
            self.headline, self.details = f"batch input: {self.problems[0]}", []
        else:
            self.headline = f"{len(self.problems)} problems with the batch input:"
            self.details = [f"  - {p}" for p in self.problems]
        super().__init__("\n".join([self.headline, *self.details]))


@dataclass(frozen=True)
class Overrides:
    """Per-title settings from a manifest; None keeps the batch's value."""

    codec: str | None = None
    preset: str | None = None
    heights: tuple[int, ...] | None = None
    crfs: tuple[float, ...] | None = None
    constraints: str | None = None
    sample_count: int | None = None
    sample_duration_s: float | None = None
    encode_timeout_s: float | None = None
    fast: bool | None = None

    def apply(self, base: Settings) -> Settings:
        """The batch's settings with these overrides, validated.

        Raises:
            ConfigError: the constraints file cannot be read. BatchInputError: every override that
                is invalid (or makes the settings invalid), each naming its manifest key.
        """
        values: dict[str, Any] = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "constraints" and getattr(self, f.name) is not None
        }
        if self.constraints is not None:
            values["constraints"] = load_constraints(self.constraints)
        if "codec" in values:
            values["codec"] = str(values["codec"]).lower()
        settings = replace(base, **values)
        problems = settings_problems(settings)
        if problems:  # name the manifest key that was written, not the field
            written = {k: v for k, v in _MANIFEST_KEY_OF.items() if k in values}
            raise BatchInputError([str(renamed_field(ConfigError(p), written)) for p in problems])
        return settings


# Overrides fields whose manifest key is spelled otherwise (`entry_from_mapping`).
_MANIFEST_KEY_OF = {
    "sample_count": "samples",
    "sample_duration_s": "sample_duration",
    "encode_timeout_s": "encode_timeout",
}


@dataclass(frozen=True)
class Entry:
    """A title as found in the inputs, before validation."""

    path: Path
    origin: str  # where it was found, for messages: the argument, or "manifest.csv row 4"
    name: str | None = None
    overrides: Overrides = field(default_factory=Overrides)
    # Why it cannot be a title, found while reading the inputs (a missing path, a bad manifest
    # title): kept in its place, so that every problem is listed in the order of the inputs.
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class TitleSpec:
    """A validated title: its output name, its source (absolute) and its own settings."""

    name: str
    source: str
    settings: Settings
    origin: str


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a title's output files (None when it can). Pure.

    A name becomes `<name>.ladder.json` inside the output directory, so it must be one plain file
    name: not empty, no path separator, not `.` or `..`, no leading dot, no control characters.
    """
    if not name or not name.strip():
        return "is empty"
    if "/" in name or "\\" in name:
        return "contains a path separator (it would leave the output directory)"
    if name in (".", ".."):
        return "is a relative directory name (it would leave the output directory)"
    if name.startswith("."):
        return "starts with a dot (it would be a hidden file)"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "contains a control character"
    if len(name) > MAX_NAME_CHARS:
        return f"is longer than {MAX_NAME_CHARS} characters"
    return None


def parse_include(patterns: Sequence[str] | None) -> tuple[str, ...]:
    """--include values (repeatable, each comma-separated) -> globs; none given: the video extensions."""
    out: list[str] = []
    for text in patterns or ():
        out += [p.strip() for p in text.split(",") if p.strip()]
    return tuple(out) or DEFAULT_INCLUDE


def matches(relative: str, patterns: Sequence[str]) -> bool:
    """Case-insensitive glob match: on the file name, or on the relative path for a glob with '/'."""
    rel = relative.replace(os.sep, "/").lower()
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(rel if "/" in p else name, p.lower()) for p in patterns)


def walk_directory(root: Path, patterns: Sequence[str]) -> list[Path]:
    """Files under `root` (recursively, sorted) whose names match; hidden files and folders skipped."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            if matches(str(path.relative_to(root)), patterns):
                found.append(path)
    return found


def _number(value: Any, key: str, where: str, *, integer: bool) -> float | int:
    if isinstance(value, bool):
        raise ConfigError(f"{where}: {key} = {value!r} must be a number")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ConfigError(f"{where}: {key} = {value!r} must be a number") from None
    if not isinstance(value, int | float):
        raise ConfigError(f"{where}: {key} = {value!r} must be a number")
    if integer:
        if not float(value).is_integer():
            raise ConfigError(f"{where}: {key} = {value!r} must be a whole number")
        return int(value)
    return float(value)


def _number_list(value: Any, key: str, where: str, *, integer: bool) -> tuple[Any, ...]:
    def written(v: Any) -> str:  # heights: [90.0] or 9e1 are whole numbers, as samples: 3e0 is
        whole = integer and isinstance(v, float) and v.is_integer()
        return str(int(v)) if whole else str(v)

    if isinstance(value, list | tuple):
        text = ",".join(written(v) for v in value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        text = written(value)
    elif isinstance(value, str):
        # CSV cells cannot hold bare commas: accept ';', '|' and spaces as separators too.
        text = value.replace(";", ",").replace("|", ",").replace(" ", ",")
    else:
        raise ConfigError(f"{where}: {key} = {value!r} must be a list of numbers")
    try:
        return parse_number_list(text, key, integer=integer)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def entry_from_mapping(raw: Mapping[str, Any], base_dir: Path, where: str) -> Entry:
    """One manifest title (a mapping of MANIFEST_KEYS) -> Entry; paths are relative to `base_dir`.

    Raises:
        BatchInputError: every missing path, unknown key and value of the wrong type of the title,
            each naming `where` (so that one run lists them all).
    """
    problems = [
        f"{where}: unknown key {str(k)!r}; known keys: {', '.join(MANIFEST_KEYS)}"
        for k in raw
        if k not in MANIFEST_KEYS
    ]
    values = {k: v for k, v in raw.items() if v is not None and not (isinstance(v, str) and not v.strip())}
    path = values.get("path")
    if path is None:
        problems.append(f"{where}: 'path' is missing (the title's video file)")
    elif not isinstance(path, str):
        problems.append(f"{where}: path = {path!r} must be text (the title's video file)")
    name = values.get("name")
    if name is not None and not isinstance(name, str | int | float):
        problems.append(f"{where}: name = {name!r} must be text")

    def text(key: str, *, numbered: bool = False) -> str | None:
        value = values.get(key)
        if value is None:
            return None
        if numbered and isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # SVT-AV1's presets are numbers: `preset: 8`, as a CSV cell takes it
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {key} = {value!r} must be text")
        return value.strip()

    def number(key: str, *, integer: bool) -> Any:
        return _number(values[key], key, where, integer=integer) if key in values else None

    def numbers(key: str, *, integer: bool) -> Any:
        return _number_list(values[key], key, where, integer=integer) if key in values else None

    def flag(key: str) -> bool | None:
        value = values.get(key)
        if value is None or isinstance(value, bool):
            return value
        word = str(value).strip().lower()  # a CSV cell
        if word in ("true", "yes", "1"):
            return True
        if word in ("false", "no", "0"):
            return False
        raise ConfigError(f"{where}: {key} = {value!r} must be true or false")

    def each(read: Callable[[], Any]) -> Any:
        try:
            return read()
        except ConfigError as exc:
            problems.append(str(exc))
            return None

    constraints = each(lambda: text("constraints"))
    overrides = Overrides(
        codec=each(lambda: text("codec")),
        preset=each(lambda: text("preset", numbered=True)),
        heights=each(lambda: numbers("heights", integer=True)),
        crfs=each(lambda: numbers("crfs", integer=False)),
        constraints=str(base_dir / constraints) if constraints else None,
        sample_count=each(lambda: number("samples", integer=True)),
        sample_duration_s=each(lambda: number("sample_duration", integer=False)),
        encode_timeout_s=each(lambda: number("encode_timeout", integer=False)),
        fast=each(lambda: flag("fast")),
    )
    if problems or not isinstance(path, str):
        raise BatchInputError(problems)
    return Entry(
        path=base_dir / path.strip(),
        origin=where,
        name=str(name).strip() if name is not None else None,
        overrides=overrides,
    )


def manifest_entries(path: Path) -> list[Entry]:
    """A YAML manifest (a list of titles, or a mapping with `titles:`; a title is a path or a mapping
    of MANIFEST_KEYS), a CSV manifest (a header row naming MANIFEST_KEYS, `path` required; empty
    cells keep the batch's value) or a text file of paths, one a line. Relative paths are
    relative to the manifest's folder.

    Returns every title in order, a bad one with its problems (named by its row or number), so
    that the good ones can still be checked for the other kinds of problem.

    Raises:
        ConfigError: unreadable or malformed manifest, naming the file.
    """
    base = path.parent
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the manifest: {exc}") from None
    entries: list[Entry] = []

    def bad(where: str, *problems: str) -> None:
        entries.append(_with_problems(path, where, *problems))

    def add(raw: Mapping[str, Any], where: str) -> None:
        try:
            entries.append(entry_from_mapping(raw, base, where))
        except BatchInputError as exc:
            bad(where, *exc.problems)
        except ConfigError as exc:
            bad(where, str(exc))

    if path.suffix.lower() == ".txt":
        # One path per line, as `find ... > titles.txt` writes them; blank lines and # comments skipped.
        listed = [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1)]
        listed = [(n, line) for n, line in listed if line and not line.startswith("#")]
        if not listed:
            raise ConfigError(f"{path}: holds no titles; list one path per line")
        return [Entry(path=base / line, origin=f"{path} line {n}") for n, line in listed]
    if path.suffix.lower() == ".csv":
        rows = list(csv.reader(text.splitlines()))
        rows = [r for r in rows if any(cell.strip() for cell in r)]
        if not rows:
            raise ConfigError(f"{path}: the manifest is empty")
        header = [h.strip().lower() for h in rows[0]]
        if "path" not in header:
            raise ConfigError(f"{path}: the first row must name the columns, 'path' among them")
        twice = sorted({h for h in header if header.count(h) > 1})
        if twice:
            raise ConfigError(f"{path}: column {twice[0]!r} is named twice in the first row")
        if len(rows) == 1:
            raise ConfigError(f"{path}: no titles under the header row")
        for number, row in enumerate(rows[1:], start=2):
            if len(row) > len(header):
                bad(
                    f"{path} row {number}", f"{path} row {number}: {len(row)} cells for {len(header)} columns"
                )
                continue
            raw = dict(zip(header, [cell.strip() for cell in row], strict=False))
            add(raw, f"{path} row {number}")
        return entries
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML {yaml_problem(exc)}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a manifest") from None
    if isinstance(data, dict):
        unknown = [str(k) for k in data if k != "titles"]
        if unknown:
            raise ConfigError(f"{path}: unknown top-level key {unknown[0]!r}; expected 'titles'")
        data = data.get("titles")
    if isinstance(data, list) and not data:
        raise ConfigError(f"{path}: holds no titles; list at least one")
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a list of titles (or 'titles:' with a list)")
    for number, item in enumerate(data, start=1):
        where = f"{path} title {number}"
        if isinstance(item, str):
            entries.append(Entry(path=base / item, origin=where))
        elif isinstance(item, dict):
            add(item, where)
        else:
            bad(where, f"{where}: expected a path or a mapping, got {item!r}")
    return entries


def found_entries(
    inputs: Sequence[str | os.PathLike[str]], include: Sequence[str] | None = None
) -> list[Entry]:
    """Every title the inputs name, in order, with a missing path, an empty directory and a bad
    manifest title in their places as entries with `problems`: the good titles can still be
    planned. A directory is searched recursively with the include globs; a `.yaml`/`.yml`/`.csv`/
    `.txt` file is a manifest; any other file is a title as it is."""
    patterns = parse_include(include)
    entries: list[Entry] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            found = walk_directory(path, patterns)
            if not found:
                entries.append(
                    _with_problems(
                        path, str(path), f"{path}: no files match {', '.join(patterns)} in this directory"
                    )
                )
            entries += [Entry(path=f, origin=str(path)) for f in found]
        elif path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
            try:
                entries += manifest_entries(path)
            except ConfigError as exc:
                entries.append(_with_problems(path, str(path), str(exc)))
        elif path.exists():
            entries.append(Entry(path=path, origin=str(path)))
        else:
            entries.append(_with_problems(path, str(path), f"{path}: no such file or directory"))
    return entries


def _with_problems(path: Path, origin: str, *problems: str) -> Entry:
    """An input that cannot be a title, kept in its place with why (`Entry.problems`)."""
    return Entry(path=path, origin=origin, problems=problems)


def plan_inputs(
    inputs: Sequence[str | os.PathLike[str]],
    include: Sequence[str] | None,
    base: Settings,
    out_dir: str | os.PathLike[str],
    ffmpeg: FfmpegInfo | None = None,
) -> list[TitleSpec]:
    """The titles to run, from `found_entries` then `planned_titles`, with every problem in one
    BatchInputError, in the order of the inputs: a bad manifest title must not hide another
    title's missing file (all listed at once, README).

    Raises:
        BatchInputError: every problem found, together.
    """
    titles, problems = planned_titles(found_entries(inputs, include), base, out_dir, ffmpeg)
    if problems:  # a directory's titles share its origin: the same problem of each, said once
        raise BatchInputError(list(dict.fromkeys(problems)))
    return titles


def planned_titles(
    entries: Sequence[Entry],
    base: Settings,
    out_dir: str | os.PathLike[str],
    ffmpeg: FfmpegInfo | None = None,
) -> tuple[list[TitleSpec], list[str]]:
    """The titles to run and a problem for every bad entry, apart.

    Each title gets the batch's settings with its overrides; its name (default: the file stem) must
    be a plain file name, and no two titles may share one (compared case-insensitively, as a
    case-insensitive filesystem would). The same file listed twice with no name of its own is one
    title. With `ffmpeg`, every codec's encoder and libvmaf must be there. An entry found with
    `problems` gives them in its place.
    """
    problems: list[str] = []
    titles: list[TitleSpec] = []
    seen_sources: set[tuple[str, Overrides]] = set()
    by_name: dict[str, TitleSpec] = {}
    out = Path(out_dir).resolve()
    if not entries:
        problems.append("no titles given")
    for entry in entries:
        if entry.problems:
            problems += entry.problems
            continue
        source = entry.path.absolute()
        # A broken link found in a directory is a bad title, as an empty file is: it fails alone.
        found_broken = entry.path.is_symlink() and Path(entry.origin).is_dir()
        if not entry.path.exists() and not found_broken:
            problems.append(f"{entry.origin}: {entry.path}: no such file")
            continue
        if entry.path.is_dir():
            problems.append(f"{entry.origin}: {entry.path}: is a directory, not a video file")
            continue
        if entry.name is None:
            key = (str(source.resolve()), entry.overrides)
            if key in seen_sources:
                continue  # the same file found twice (a directory and an explicit path)
            seen_sources.add(key)
        name = utf8_text(entry.name if entry.name is not None else entry.path.stem)
        why = name_problem(name)
        if why is None and (out / f"{name}.ladder.json").resolve().parent != out:
            why = "would leave the output directory"
        if why is not None:
            fix = (
                "give a plain name"
                if entry.name is not None
                else f"rename {entry.path}, or list it in a manifest with a name: of its own"
            )
            problems.append(f"{entry.origin}: output name {name!r} {why}; {fix}")
            continue
        try:
            settings = entry.overrides.apply(base)
        except BatchInputError as exc:
            problems += [f"{entry.origin}: {p}" for p in exc.problems]
            continue
        except ConfigError as exc:
            problems.append(f"{entry.origin}: {exc}")
            continue
        spec = TitleSpec(name=name, source=str(source), settings=settings, origin=entry.origin)
        other = by_name.get(name.casefold())
        if other is not None:
            problems.append(
                f"titles collide on the output name {name!r}: {other.source} ({other.origin}) and "
                f"{spec.source} ({spec.origin}) would both write {name}.ladder.json; "
                "name them apart in a manifest"
            )
            continue
        by_name[name.casefold()] = spec
        titles.append(spec)
    if ffmpeg is not None:
        try:
            ffmpeg.require_libvmaf()
        except PertitleError as exc:
            problems.append(str(exc))
        for encoder in sorted({t.settings.codec_defaults.encoder for t in titles}):
            try:
                ffmpeg.require_encoder(encoder)
            except PertitleError as exc:
                users = [t.name for t in titles if t.settings.codec_defaults.encoder == encoder]
                problems.append(f"{exc} (needed by {', '.join(users[:5])}{' ...' if len(users) > 5 else ''})")
    return titles, problems
