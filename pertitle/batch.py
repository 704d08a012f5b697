"""A catalog of titles: discover and validate the inputs up front, run each title in isolation,
resume from what earlier runs left, and report every title's outcome as events.

Inputs are files, directories (searched recursively for names that match the include globs) and
manifests (`.yaml`, `.yml`, `.csv`) that list titles with per-title overrides. Every problem with
the inputs (a missing path, a bad override, two titles that would write the same ladder, an output
name that would leave the output directory) is found before any work starts and raised together
as one BatchInputError.

A title that fails (unreadable file, no video, an ffmpeg crash or timeout, no usable hull) is
recorded with a one-line reason and the other titles go on. A title whose `<name>.ladder.json` is
already in the output directory, is a valid `pertitle.ladder/v1` document and was made from the same
source size and settings, is skipped unless `force`; the encodes of a title that was cut short come
back from the result cache. Ladders are written atomically (YAML first, the JSON last), so a run
killed at any moment leaves either a whole ladder or none.

Nothing here prints: progress, summary.json, JUnit XML and NDJSON events are event sinks in
`pertitle.report.batch_out`, wired by the command.
"""

from __future__ import annotations

import csv
import dataclasses
import fnmatch
import json
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from pertitle.cache import remove_stale_temps, utf8_text
from pertitle.config import Settings, load_constraints, parse_number_list, renamed_field, settings_problems
from pertitle.errors import ConfigError, FfmpegError, FfmpegTimeout, PertitleError
from pertitle.ffmpeg.binary import FfmpegInfo
from pertitle.pipeline import analyze, settings_document
from pertitle.probes import Event
from pertitle.report import printable, serialize

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
MANIFEST_SUFFIXES = (".yaml", ".yml", ".csv")
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

STATUSES = ("pending", "running", "ok", "failed", "skipped", "interrupted")


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


@dataclass(frozen=True)
class TitleOutcome:
    """How a title ended (or where it stands). `reason` is one line for failed and skipped titles."""

    name: str
    source: str
    status: str
    reason: str | None = None
    error_type: str | None = None
    ladder: str | None = None  # the ladder JSON's file name in the output directory
    rungs: int = 0
    top_bitrate_kbps: float | None = None
    top_width: int | None = None
    top_height: int | None = None
    time_s: float = 0.0
    encodes: int = 0
    cache_hits: int = 0
    timings: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchEvent:
    """Progress for the edge. kind: batch_started | title_started | title_stage | job_done |
    job_failed | title_finished | title_failed | title_skipped | warning | batch_finished.

    `done`/`total` count the jobs of the title's current stage (job_done) or the titles that have
    ended (batch_started, title_* endings, batch_finished). Title endings carry their outcome.
    """

    kind: str
    title: str | None = None
    message: str = ""
    done: int = 0
    total: int = 0
    outcome: TitleOutcome | None = None
    time: float = field(default_factory=time.time)


BatchSink = Callable[[BatchEvent], None]


def _ignore(_: BatchEvent) -> None:
    return None


@dataclass(frozen=True)
class BatchResult:
    outcomes: tuple[TitleOutcome, ...]
    wall_s: float
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def encodes(self) -> int:
        return sum(o.encodes for o in self.outcomes)

    @property
    def cache_hits(self) -> int:
        return sum(o.cache_hits for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        """0: every title ok or skipped; 1: a title failed; 130: interrupted."""
        if self.interrupted:
            return 130
        return 1 if self.count("failed") else 0


# --------------------------------------------------------------------------------------------------
# Inputs


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
    if isinstance(value, list | tuple):
        text = ",".join(str(v) for v in value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        text = str(value)
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

    def text(key: str) -> str | None:
        value = values.get(key)
        if value is None:
            return None
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
        preset=each(lambda: text("preset")),
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
    of MANIFEST_KEYS) or a CSV manifest (a header row naming MANIFEST_KEYS, `path` required; empty
    cells keep the batch's value). Relative paths are relative to the manifest's folder.

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
        entries.append(Entry(path=path, origin=where, problems=problems))

    def add(raw: Mapping[str, Any], where: str) -> None:
        try:
            entries.append(entry_from_mapping(raw, base, where))
        except BatchInputError as exc:
            bad(where, *exc.problems)
        except ConfigError as exc:
            bad(where, str(exc))

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
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a manifest") from None
    if isinstance(data, dict):
        unknown = [str(k) for k in data if k != "titles"]
        if unknown:
            raise ConfigError(f"{path}: unknown top-level key {unknown[0]!r}; expected 'titles'")
        data = data.get("titles")
    if not isinstance(data, list) or not data:
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
    planned. A directory is searched recursively with the include globs; a `.yaml`/`.yml`/`.csv`
    file is a manifest; any other file is a title as it is."""
    patterns = parse_include(include)
    entries: list[Entry] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            found = walk_directory(path, patterns)
            if not found:
                entries.append(_bad_input(path, f"no files match {', '.join(patterns)} in this directory"))
            entries += [Entry(path=f, origin=str(path)) for f in found]
        elif path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
            try:
                entries += manifest_entries(path)
            except ConfigError as exc:
                entries.append(Entry(path=path, origin=str(path), problems=(str(exc),)))
        elif path.exists():
            entries.append(Entry(path=path, origin=str(path)))
        else:
            entries.append(_bad_input(path, "no such file or directory"))
    return entries


def _bad_input(path: Path, why: str) -> Entry:
    return Entry(path=path, origin=str(path), problems=(f"{path}: {why}",))


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
    if problems:
        raise BatchInputError(problems)
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
            problems.append(f"{entry.origin}: output name {name!r} {why}; give a plain name")
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


# --------------------------------------------------------------------------------------------------
# Resume


def ladder_path(out_dir: str | os.PathLike[str], name: str) -> Path:
    return Path(out_dir) / f"{name}.ladder.json"


def existing_ladder(out_dir: str | os.PathLike[str], title: TitleSpec) -> tuple[dict[str, Any] | None, str]:
    """The title's ladder from an earlier run, when it can stand: (document, "") or (None, why not).

    It must be a valid `pertitle.ladder/v1` document, of a source of the same size, made with the
    same result-affecting settings (the VMAF model is compared only when one was chosen).
    """
    path = ladder_path(out_dir, title.name)
    if not path.is_file():
        return None, "no ladder yet"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        serialize.from_document(doc)
    except (OSError, ValueError, RecursionError, PertitleError) as exc:
        return None, f"the existing {path.name} is not a valid ladder ({str(exc).splitlines()[0][:120]})"
    # Its YAML twin is written first: a run cut short between the two (or a hand edit) leaves
    # them apart, and a kept title must have both.
    twin = path.parent / f"{title.name}.ladder.yaml"
    try:
        same = yaml.safe_load(twin.read_text(encoding="utf-8")) == doc
    except (OSError, ValueError, RecursionError, yaml.YAMLError):
        same = False
    if not same:
        return None, f"its {twin.name} is missing or is not the same ladder"
    try:
        size = os.path.getsize(title.source)
    except OSError:
        size = -1
    if doc["source"].get("size_bytes") != size:
        return None, f"the existing {path.name} was made from another version of the source"
    s = title.settings
    expected = json.loads(json.dumps(settings_document(s, s.vmaf_model or "", s.constraints)))
    recorded = dict(doc.get("settings", {}))
    if "calibrate" not in recorded:  # written before the key was: the rungs' basis tells
        recorded["calibrate"] = any(
            (r.get("predicted") or {}).get("basis") != serialize.UNCALIBRATED_BASIS
            for r in doc.get("rungs") or []
        )
    if not s.vmaf_model:
        expected.pop("vmaf_model", None)
    expected.pop("vmaf_subsample", None)  # what the title's length allowed; `fast` is the setting
    changed = sorted(k for k, v in expected.items() if recorded.get(k) != v)
    if changed:
        return None, f"the existing {path.name} was made with other settings ({', '.join(changed)})"
    return doc, ""


def _ladder_outcome(
    title: TitleSpec, doc: Mapping[str, Any], status: str, reason: str | None
) -> TitleOutcome:
    rungs = list(doc.get("rungs") or [])
    top = max(rungs, key=lambda r: r.get("bitrate_kbps") or 0.0) if rungs else None
    t = doc.get("timings") or {}
    return TitleOutcome(
        name=title.name,
        source=title.source,
        status=status,
        reason=reason,
        ladder=ladder_path("", title.name).name,
        rungs=len(rungs),
        top_bitrate_kbps=top.get("bitrate_kbps") if top else None,
        top_width=top.get("width") if top else None,
        top_height=top.get("height") if top else None,
        timings={k: float(v) for k, v in t.items() if k.endswith("_s") and isinstance(v, int | float)},
    )


# --------------------------------------------------------------------------------------------------
# Running


def auto_title_jobs(n_titles: int, slots: int) -> int:
    """Titles at once when --jobs is 0: two on a small machine (one title's serial stretches, probe,
    reference, hull, fill the other's gaps), a quarter of the slots on a big one."""
    return max(1, min(n_titles, max(2, slots // 4)))


def one_line(text: str, limit: int = 300) -> str:
    """Whitespace collapsed, control characters (escape codes in a tool's output, in a file name)
    as visible escapes (`report.printable`: \\x1b), as every other view shows them."""
    text = printable(" ".join(str(text).split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def failure_reason(exc: BaseException) -> tuple[str, str]:
    """(one-line reason, error type) for a title that failed."""
    if isinstance(exc, FfmpegTimeout):
        tail = exc.stderr_tail.strip().splitlines()
        killed = tail[-1] if tail and tail[-1].startswith("killed after") else "killed"
        return one_line(f"timed out: {exc.what} ({killed}; see --encode-timeout)"), "FfmpegTimeout"
    if isinstance(exc, PertitleError):
        return one_line(str(exc)), type(exc).__name__
    if isinstance(exc, OSError):
        return one_line(f"cannot write the ladder: {exc}"), "OSError"
    return one_line(f"internal error: {type(exc).__name__}: {exc}"), "InternalError"


class BatchCancelled(Exception):
    """Raised inside a title's event callback to stop its work when the batch is interrupted."""


class _TitleRun:
    """One title: skip or analyse, write the ladder, and count its encodes and cache hits."""

    def __init__(
        self,
        title: TitleSpec,
        *,
        out_dir: Path,
        ffmpeg: FfmpegInfo,
        executor: Any,
        force: bool,
        emit: BatchSink,
        cancelled: threading.Event,
    ) -> None:
        self.title = title
        self.out_dir = out_dir
        self.ffmpeg = ffmpeg
        self.executor = executor
        self.force = force
        self.emit = emit
        self.cancelled = cancelled
        self.encodes = 0
        self.cache_hits = 0
        self.started = time.perf_counter()
        # The title's outcome once its ladder is written: a Ctrl-C that lands after that reports
        # the ladder, not an interruption (read under run_batch's lock).
        self.finished: TitleOutcome | None = None

    def on_event(self, event: Event) -> None:
        if self.cancelled.is_set():
            raise BatchCancelled
        name = self.title.name
        if event.kind == "done":
            self.encodes += 1
            self.emit(BatchEvent("job_done", name, event.message, event.done, event.total))
        elif event.kind == "warning":
            self.emit(BatchEvent("job_failed", name, event.message, event.done, event.total))
        elif event.kind == "notice":
            self.emit(BatchEvent("warning", name, event.message))
        elif event.kind == "planned":
            self.cache_hits += event.done
            cached = f" ({event.done} from cache)" if event.done else ""
            self.emit(BatchEvent("title_stage", name, event.message + cached, event.done, event.total))
        else:
            self.emit(BatchEvent("title_stage", name, event.message))

    def run(self) -> TitleOutcome:
        title = self.title
        t0 = self.started = time.perf_counter()
        why = "--force asked for a new one"
        if not self.force:
            doc, why = existing_ladder(self.out_dir, title)
            if doc is not None:
                self.finished = _ladder_outcome(
                    title, doc, "skipped", "ladder from an earlier run (--force redoes it)"
                )
                return self.finished
            if why != "no ladder yet":
                self.emit(BatchEvent("title_stage", title.name, f"{why}; analysing again"))
        try:
            result = analyze(
                title.source,
                title.settings,
                self.ffmpeg,
                on_event=self.on_event,
                executor=self.executor,
                title=title.name,
            )
            doc = serialize.to_document(result)
            serialize.write_documents(doc, self.out_dir, title.name)
        except BatchCancelled:
            return self.interrupted()
        except Exception as exc:
            if self.cancelled.is_set():  # Ctrl-C reached ffmpeg too: not the title's fault
                return self.interrupted()
            reason, kind = failure_reason(exc)
            if isinstance(exc, FfmpegError) and os.environ.get("PERTITLE_DEBUG"):
                reason = exc.details()
            earlier = ladder_path(self.out_dir, title.name)
            if earlier.is_file():  # left as it was: a failed run loses nothing, nor passes it off
                reason += f" (the output directory keeps the ladder of an earlier run: {why})"
            return TitleOutcome(
                title.name,
                title.source,
                "failed",
                reason,
                error_type=kind,
                time_s=round(time.perf_counter() - t0, 3),
                encodes=self.encodes,
                cache_hits=self.cache_hits,
            )
        self.finished = replace(
            _ladder_outcome(title, doc, "ok", None),
            time_s=round(time.perf_counter() - t0, 3),
            encodes=result.encodes,
            cache_hits=result.cache_hits,
        )
        return self.finished

    def interrupted(self) -> TitleOutcome:
        """Where the title stands when the batch is interrupted: the time it ran, the encodes it did."""
        return TitleOutcome(
            self.title.name,
            self.title.source,
            "interrupted",
            "the batch was interrupted; a rerun resumes from the cache",
            time_s=round(time.perf_counter() - self.started, 3),
            encodes=self.encodes,
            cache_hits=self.cache_hits,
        )


# The event that ends a title, by its outcome's status.
_END_EVENTS = {"ok": "title_finished", "skipped": "title_skipped", "interrupted": "title_failed"}

NOT_STARTED = "not started: the batch was interrupted first; a rerun runs it"


def run_batch(
    titles: Sequence[TitleSpec],
    out_dir: str | os.PathLike[str],
    ffmpeg: FfmpegInfo,
    *,
    executor: Any,
    cores: int,
    title_jobs: int = 0,
    force: bool = False,
    on_event: BatchSink = _ignore,
) -> BatchResult:
    """Run every title, `title_jobs` at once (0: auto), all on one shared `executor`.

    Each title's Settings.jobs becomes `cores // title_jobs` (at least 1): the threads of its
    reference decode and, with a local executor, how its encodes are split between processes and
    ffmpeg threads. A LocalExecutor of `cores` workers shared by every title keeps the machine at
    about `cores` ffmpeg processes in all.

    A title's failure is recorded on its outcome and the others go on. KeyboardInterrupt (Ctrl-C)
    stops the titles after the encodes in flight; the result then says `interrupted`, every title
    that was running is `interrupted` (with the time it ran) and every title that had not started
    stays `pending` (the caller exits 130). The outcomes are final at the interrupt: a title thread
    that stops later neither changes nor reports its outcome again.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)  # what a run killed mid-write left (hidden, never a whole file)
    slots = int(getattr(executor, "slots", cores) or cores)
    jobs = title_jobs if title_jobs > 0 else auto_title_jobs(len(titles), slots)
    jobs = max(1, min(jobs, len(titles) or 1))
    per_title = max(1, cores // jobs)
    lock = threading.Lock()
    outcomes: dict[str, TitleOutcome] = {t.name: TitleOutcome(t.name, t.source, "pending") for t in titles}
    ended = 0
    final_at_interrupt = False  # under the lock
    cancelled = threading.Event()
    started = time.perf_counter()
    runs: dict[str, _TitleRun] = {}

    def emit(event: BatchEvent) -> None:
        with lock:
            on_event(event)

    def one(title: TitleSpec) -> TitleOutcome:
        nonlocal ended
        if cancelled.is_set():
            raise BatchCancelled
        with lock:
            # Ctrl-C may land between the check above and here: the interrupt has then said where
            # this title stands (pending), and it must not start.
            if final_at_interrupt or cancelled.is_set():
                raise BatchCancelled
            outcomes[title.name] = replace(outcomes[title.name], status="running")
        emit(BatchEvent("title_started", title.name, title.source))
        spec = replace(title, settings=replace(title.settings, jobs=per_title))
        runner = _TitleRun(
            spec, out_dir=out, ffmpeg=ffmpeg, executor=executor, force=force, emit=emit, cancelled=cancelled
        )
        with lock:
            runs[title.name] = runner
        outcome = runner.run()
        with lock:
            if final_at_interrupt:  # the interrupt said where this title stood
                return outcome
            outcomes[title.name] = outcome
            ended += 1
            on_event(
                BatchEvent(
                    _END_EVENTS.get(outcome.status, "title_failed"),
                    title.name,
                    outcome.reason or "",
                    ended,
                    len(titles),
                    outcome,
                )
            )
        return outcome

    on_event(
        BatchEvent(
            "batch_started",
            None,
            f"{len(titles)} title{'' if len(titles) == 1 else 's'}, {jobs} at once, "
            f"{per_title} core{'' if per_title == 1 else 's'} each",
            0,
            len(titles),
        )
    )
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="pertitle-title")
    interrupted = False
    try:
        futures: dict[Future[TitleOutcome], TitleSpec] = {pool.submit(one, t): t for t in titles}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in done:
                exc = fut.exception()
                if exc is not None and not isinstance(exc, BatchCancelled):
                    # A sink failed (say, the disk filled while writing the summary): a fault of
                    # the batch, not of the title, but the title has no ladder; say so.
                    reason, kind = failure_reason(exc)
                    with lock:
                        title = futures[fut]
                        outcomes[title.name] = TitleOutcome(title.name, title.source, "failed", reason, kind)
    except KeyboardInterrupt:
        interrupted = True
        cancelled.set()
        pool.shutdown(wait=False, cancel_futures=True)
        with lock:
            final_at_interrupt = True
            for name, o in outcomes.items():
                if o.status == "pending":
                    outcomes[name] = replace(o, reason=NOT_STARTED)
                elif o.status == "running":
                    run = runs.get(name)  # what a running title had done: its encodes are cached
                    if run is not None and run.finished is not None:  # its ladder is written
                        outcomes[name] = run.finished
                    else:
                        outcomes[name] = (
                            run.interrupted()
                            if run
                            else replace(o, status="interrupted", reason="the batch was interrupted")
                        )
                    ended += 1
                    on_event(
                        BatchEvent(
                            _END_EVENTS.get(outcomes[name].status, "title_failed"),
                            name,
                            outcomes[name].reason or "",
                            ended,
                            len(titles),
                            outcomes[name],
                        )
                    )
    finally:
        if not interrupted:
            pool.shutdown(wait=True)
    with lock:
        final = tuple(outcomes[t.name] for t in titles)
    result = BatchResult(final, round(time.perf_counter() - started, 3), interrupted)
    emit(
        BatchEvent(
            "batch_finished",
            None,
            "interrupted" if interrupted else "finished",
            sum(1 for o in final if o.status in ("ok", "failed", "skipped")),
            len(titles),
        )
    )
    return result
