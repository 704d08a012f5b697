"""Work directories: made per run, removed when the run ends, and swept by the next run when a
killed one (`kill -9`, a lost machine) left its own behind.

A run's directory holds the title's lossless reference, which for a long title is gigabytes: a
CI machine that kills a batch now and then must not fill its disk with them. Each directory
names its owner (host and process id); a later run removes only those of its own host whose
process is gone, so runs at the same time, and runs on other machines sharing a work dir, never
lose theirs.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

PREFIX = "pertitle-"
OWNER_FILE = "owner"
# The directories this process made: what a stop that skips every cleanup (`remove_mine`) removes.
_MINE: set[str] = set()


def make_workdir(parent: str | None, prefix: str = PREFIX) -> str:
    """A fresh directory under `parent` (the system temp dir when None), after sweeping the
    directories killed runs left there."""
    sweep_stale(parent)
    path = tempfile.mkdtemp(prefix=prefix, dir=parent)
    try:
        Path(path, OWNER_FILE).write_text(f"{socket.gethostname()} {os.getpid()}\n", encoding="utf-8")
        _MINE.add(path)
    except BaseException:
        # An interrupt between mkdtemp and the owner file left a directory with no owner, which
        # no later sweep removes (it may be another tool's).
        shutil.rmtree(path, ignore_errors=True)
        raise
    return path


def remove_workdir(path: str) -> None:
    """Remove a directory `make_workdir` made (what is in it goes too)."""
    shutil.rmtree(path, ignore_errors=True)
    _MINE.discard(path)


def remove_mine() -> None:
    """Remove every work directory this process made and has not removed yet: for a stop that
    ends the process at once (a second Ctrl-C), where no run's own cleanup gets to run."""
    for path in list(_MINE):
        remove_workdir(path)


def sweep_stale(parent: str | None) -> list[str]:
    """Remove the work directories under `parent` whose owner was this host and no longer runs;
    returns them. A directory with no readable owner (another tool's, or one being made) stays."""
    root = Path(parent or tempfile.gettempdir())
    host = socket.gethostname()
    removed = []
    for path in root.glob(f"{PREFIX}*"):
        try:
            owner_host, pid = (path / OWNER_FILE).read_text(encoding="utf-8").split()
            owner_pid = int(pid)
        except (OSError, ValueError):
            continue
        if owner_host != host or owner_pid == os.getpid() or _alive(owner_pid):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(str(path))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
