"""Content-addressed results: the same encode of the same content is never done twice.

A key hashes everything that changes a result (source content, window, encode settings, metric
settings, ffmpeg and encoder versions) and nothing that does not (paths, thread counts). Entries
are written atomically (temp file + rename), so a killed run never leaves half an entry, and a
corrupt entry is a miss with a warning, never a crash.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import secrets
import stat
import warnings
from collections.abc import Mapping
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


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write via a temp file in the same directory and rename over the target, so a reader never
    sees half a file. The file gets the mode a plain write would: the replaced file's, or 0666
    minus the umask (mkstemp's 0600 would hide ladders and reports from other users)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = None
    while True:
        tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
        try:
            # O_EXCL: a name another writer holds is never reused; the kernel applies the umask.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """`atomic_write_bytes` of the text in UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"))


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
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            warnings.warn(f"cache entry {path} unreadable ({exc}); recomputing", stacklevel=2)
            return None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("key") != key:
                raise ValueError("wrong key")
            value = data["value"]
            if not isinstance(value, dict):
                raise ValueError("value is not a mapping")
            return value
        except (ValueError, KeyError) as exc:
            warnings.warn(f"cache entry {path} is corrupt ({exc}); recomputing", stacklevel=2)
            return None

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        if not self.enabled:
            return
        try:
            atomic_write_text(self._path(key), json.dumps({"key": key, "value": dict(value)}))
        except OSError as exc:
            warnings.warn(f"cannot write cache entry under {self.root} ({exc}); continuing", stacklevel=2)
