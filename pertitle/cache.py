"""Content-addressed results: the same encode of the same content is never done twice.

A key hashes everything that changes a result (source content, window, encode settings, metric
settings, ffmpeg and encoder versions) and nothing that does not (paths, thread counts). Entries
are written atomically (temp file + rename), so a killed run never leaves half an entry, and a
corrupt entry is a miss with a warning, never a crash.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import os
import re
import secrets
import stat
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# 2: measured encoders run single-threaded (commands.MEASURED_ENCODER_THREADS); entries of schema 1
# may hold multi-threaded x264 results, which differ.
CACHE_SCHEMA = 2


def default_cache_dir() -> str:
    from platformdirs import user_cache_dir

    return user_cache_dir("pertitle", appauthor=False)


def make_key(parts: Mapping[str, Any]) -> str:
    blob = json.dumps({"cache_schema": CACHE_SCHEMA, **parts}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def fingerprint_file(path: str, chunk: int = 1 << 20) -> str:
    """blake2b of the whole file: renames and copies hit, any edit misses.

    One analysis asks for it more than once (the complexity pass of a long title, then the probe
    encodes); the hash is kept per (path, size, modification time), so a title is read once."""
    st = os.stat(path)
    return _fingerprint(os.path.abspath(path), st.st_size, st.st_mtime_ns, chunk)


@functools.lru_cache(maxsize=256)
def _fingerprint(path: str, size: int, mtime_ns: int, chunk: int) -> str:
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, follow_links: bool = True) -> None:
    """Write via a temp file in the same directory and rename over the target, so a reader never
    sees half a file. The file gets the mode a plain write would: the replaced file's, or 0666
    minus the umask (mkstemp's 0600 would hide ladders and reports from other users). A symlink
    is written through: its target is replaced, as a plain write would change it, not the link.
    `follow_links=False` replaces a link at `path` itself instead (cache entries: nothing under
    the cache may reach a file outside it); the directories above it are still followed."""
    tmp, target = _staged(path, data, follow_links=follow_links)
    try:
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_all(files: Sequence[tuple[str | os.PathLike[str], str | bytes]]) -> None:
    """Write several files (text, or bytes) as one: every one is staged (written and synced beside its target)
    before any is renamed into place, and if a rename fails those already renamed get their old
    contents back (or go, where there were none). A full disk fails while staging, so no file
    changes; either way the error names the file."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, text in files:
            data = text if isinstance(text, bytes) else utf8_text(text).encode("utf-8")
            with _naming(path):
                staged.append(_staged(path, data, follow_links=True))
        before = [(target, target.read_bytes() if target.is_file() else None) for _, target in staged]
        done = 0
        try:
            for (tmp, target), (path, _) in zip(staged, files, strict=True):
                with _naming(path):
                    os.replace(tmp, target)
                done += 1
        except BaseException:
            for target, old in before[:done]:
                with contextlib.suppress(OSError):
                    if old is None:
                        target.unlink()
                    else:
                        atomic_write_bytes(target, old)
            raise
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _naming(path: str | os.PathLike[str]) -> Iterator[None]:
    """An OSError inside names `path`, the file the caller asked for, rather than its temp file."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None or _ANY_TEMP.fullmatch(os.path.basename(str(exc.filename))):
            exc.filename = os.fspath(path)
        raise


def _staged(path: str | os.PathLike[str], data: bytes, *, follow_links: bool) -> tuple[Path, Path]:
    """`data` in a new temp file beside the target, synced, with the mode the target should get:
    (temp, target). See `atomic_write_bytes`."""
    if follow_links:
        target = Path(os.path.realpath(path))
    else:
        target = Path(os.path.realpath(os.path.dirname(os.path.abspath(path)))) / os.path.basename(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(target.stat().st_mode) if follow_links else None
    except FileNotFoundError:
        mode = None
    for attempt in itertools.count():
        tmp = target.parent / f".{_name_part(target.name)}.{secrets.token_hex(6)}.tmp"
        try:
            # O_EXCL: a name another writer holds is never reused; the kernel applies the umask.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
        except FileNotFoundError:
            # Another run's `prune` removed the directory, empty, between mkdir and open.
            if attempt >= 3:
                raise
            target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, target


# A file name's limit (NAME_MAX, bytes) on Linux and macOS filesystems, less the temp name's dot,
# token and suffix: a 250-byte report name, which the filesystem takes, got a 268-byte temp name.
_TEMP_NAME_PART = 255 - len(".") - len(".0123456789ab.tmp")


def _name_part(name: str) -> str:
    return name.encode("utf-8", "surrogateescape")[:_TEMP_NAME_PART].decode("utf-8", "ignore") or "x"


_ANY_TEMP = re.compile(r"\..+\.[0-9a-f]{12}\.tmp")


def remove_stale_temps(directory: str | os.PathLike[str]) -> int:
    """Remove what killed writes (`atomic_write_bytes`) left in `directory`: its temp files
    untouched for `STALE_TEMP_S` (a live write takes milliseconds, and another run may be
    writing one now). Returns how many went; a file that cannot be removed stays."""
    removed = 0
    now = time.time()
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    for name in names:
        if not _ANY_TEMP.fullmatch(name):
            continue
        path = os.path.join(directory, name)
        try:
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode) and now - st.st_mtime > STALE_TEMP_S:
                os.unlink(path)
                removed += 1
        except OSError:
            continue
    return removed


def utf8_text(text: str) -> str:
    """Text that UTF-8 can hold. A file name's bytes that are not UTF-8 reach Python as lone
    surrogates, which no UTF-8 writer accepts: they become '?' in what pertitle writes (the
    file itself is still opened by its real name)."""
    return text.encode("utf-8", "replace").decode("utf-8")


def atomic_write_text(path: str | os.PathLike[str], text: str, *, follow_links: bool = True) -> None:
    """`atomic_write_bytes` of the text in UTF-8 (`utf8_text`)."""
    atomic_write_bytes(path, utf8_text(text).encode("utf-8"), follow_links=follow_links)


class ResultCache:
    """JSON entries under `root/ab/abcdef....json`. Disabled caches never hit and never write."""

    def __init__(self, root: str | None, enabled: bool = True) -> None:
        self.root = Path(root or default_cache_dir())
        self.enabled = enabled

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        if not self.enabled:
            return None
        path = self._path(key)
        try:
            if path.is_symlink():  # the cache writes none: whatever it points at is not an entry
                raise OSError("a symbolic link, not an entry the cache wrote")
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            warnings.warn(f"cache entry {path} unreadable ({exc}); recomputing", stacklevel=2)
            return None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("key") != key:
                raise ValueError("wrong key")
            value = data["value"]
            if not isinstance(value, dict):
                raise ValueError("value is not a mapping")
            _mark_used(path)
            return value
        except (ValueError, KeyError, RecursionError) as exc:
            warnings.warn(f"cache entry {path} is corrupt ({exc}); recomputing", stacklevel=2)
            return None

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        if not self.enabled:
            return
        try:
            entry = json.dumps({"key": key, "value": dict(value)})
            atomic_write_text(self._path(key), entry, follow_links=False)
        except OSError as exc:
            warnings.warn(f"cannot write cache entry under {self.root} ({exc}); continuing", stacklevel=2)


# Maintenance: `pertitle cache info` and `pertitle cache prune`. An entry's modification time is
# when it was last written or read (`_mark_used`; access times are unreliable under relatime and
# noatime mounts), so pruning by age keeps what recent runs used and drops entries no key reaches
# any more (an older CACHE_SCHEMA, another ffmpeg, titles since edited).
_ENTRY = re.compile(r"[0-9a-f]{64}\.json")
_SHARD = re.compile(r"[0-9a-f]{2}")
_TEMP = re.compile(r"\.[0-9a-f]{64}\.json\.[0-9a-f]{12}\.tmp")
# A temp file older than this is what a killed write left behind, not one being written.
STALE_TEMP_S = 3600.0


def _mark_used(path: Path) -> None:
    with contextlib.suppress(OSError):  # a read-only cache still serves hits
        os.utime(path)


def _shards(base: Path) -> list[Path]:
    if not base.is_dir():
        return []
    return [
        d for d in sorted(base.iterdir()) if _SHARD.fullmatch(d.name) and d.is_dir() and not d.is_symlink()
    ]


@dataclass(frozen=True)
class CacheFile:
    path: Path
    size_bytes: int
    last_used_s: float  # seconds since the epoch
    is_entry: bool  # False: a temp file of an interrupted write


def cache_files(root: str | os.PathLike[str]) -> Iterator[CacheFile]:
    """The entries (and leftover temp files) under `root`, and nothing else: only names the cache
    itself writes are listed, so a cache directory pointed at the wrong place loses nothing."""
    for shard in _shards(Path(root)):
        try:
            names = sorted(shard.iterdir())
        except FileNotFoundError:
            continue  # emptied and removed by a concurrent prune
        for f in names:
            entry = bool(_ENTRY.fullmatch(f.name)) and f.name.startswith(shard.name)
            if not (entry or _TEMP.fullmatch(f.name)):
                continue
            try:
                st = f.lstat()
            except FileNotFoundError:
                continue  # removed by a concurrent run
            if stat.S_ISREG(st.st_mode):
                yield CacheFile(f, st.st_size, st.st_mtime, entry)


@dataclass(frozen=True)
class CacheSummary:
    root: str
    entries: int
    size_bytes: int
    oldest_use_s: float | None
    newest_use_s: float | None
    stale_temp_files: int


def summarize(root: str | os.PathLike[str], now_s: float | None = None) -> CacheSummary:
    now = time.time() if now_s is None else now_s
    files = list(cache_files(root))
    entries = [f for f in files if f.is_entry]
    temps = [f for f in files if not f.is_entry and now - f.last_used_s > STALE_TEMP_S]
    uses = [f.last_used_s for f in entries]
    return CacheSummary(
        root=str(root),
        entries=len(entries),
        size_bytes=sum(f.size_bytes for f in entries),
        oldest_use_s=min(uses) if uses else None,
        newest_use_s=max(uses) if uses else None,
        stale_temp_files=len(temps),
    )


@dataclass(frozen=True)
class PruneResult:
    removed: int
    freed_bytes: int
    kept: int
    dry_run: bool
    failed: int = 0  # files that could not be removed (a read-only shard): the prune went on past them
    first_failure: str | None = None  # "PATH: reason" of the first


def prune(
    root: str | os.PathLike[str],
    unused_for_s: float | None,
    *,
    now_s: float | None = None,
    dry_run: bool = False,
) -> PruneResult:
    """Remove entries not used for `unused_for_s` seconds (None: every entry), and temp files
    that killed writes left. Safe beside a running analysis: an entry removed under it is a miss,
    measured again; a temp file being written is younger than STALE_TEMP_S and stays. A file that
    cannot be removed is counted and passed over, so one read-only shard does not stop the rest.

    Raises:
        OSError: the cache directory or a shard of it cannot be listed.
    """
    now = time.time() if now_s is None else now_s
    removed = freed = kept = failed = 0
    first_failure: str | None = None
    for f in cache_files(root):
        age = now - f.last_used_s
        if f.is_entry and unused_for_s is not None and age <= unused_for_s:
            kept += 1
            continue
        if not f.is_entry and age <= STALE_TEMP_S:
            continue
        if not dry_run:
            try:
                f.path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                failed += 1
                first_failure = first_failure or f"{f.path}: {exc.strerror or exc}"
                continue
        removed += 1
        freed += f.size_bytes
    for shard in [] if dry_run else _shards(Path(root)):
        with contextlib.suppress(OSError):  # only when empty
            shard.rmdir()
    return PruneResult(removed, freed, kept, dry_run, failed, first_failure)
