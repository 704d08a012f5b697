"""Work directories a killed run left are swept by the next run, and only those."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from pertitle.workdir import OWNER_FILE, make_workdir, sweep_stale


def _left_behind(root: Path, name: str, owner: str | None) -> Path:
    path = root / name
    path.mkdir()
    (path / "reference.mkv").write_bytes(b"x" * 1000)
    if owner is not None:
        (path / OWNER_FILE).write_text(owner + "\n", encoding="utf-8")
    return path


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(proc.stdout)  # that process has exited


def test_a_killed_runs_directory_is_swept_and_no_other(tmp_path: Path) -> None:
    host = socket.gethostname()
    killed = _left_behind(tmp_path, "pertitle-killed", f"{host} {_dead_pid()}")
    running = _left_behind(tmp_path, "pertitle-running", f"{host} {os.getppid()}")
    elsewhere = _left_behind(tmp_path, "pertitle-elsewhere", f"another-host {_dead_pid()}")
    unowned = _left_behind(tmp_path, "pertitle-unowned", None)
    not_ours = _left_behind(tmp_path, "other-tool", f"{host} {_dead_pid()}")

    made = Path(make_workdir(str(tmp_path)))

    assert not killed.exists()
    assert all(p.exists() for p in (running, elsewhere, unowned, not_ours))
    assert made.name.startswith("pertitle-")
    assert (made / OWNER_FILE).read_text(encoding="utf-8").split() == [host, str(os.getpid())]
    assert sweep_stale(str(tmp_path)) == []  # its own directory is kept while it runs
