"""The Dask executor on a real Dask LocalCluster (two worker processes, one thread each): the same
ladders as the local executor, every encode and score its own task, ffmpeg errors back on the
client as FfmpegError, and `pertitle batch --executor dask` both on an existing scheduler and on a
cluster of its own.

Every encode runs with one ffmpeg thread here and locally (`--cores 2 --jobs 2` locally), and x264
is deterministic for a given thread count, so the ladders must be identical, not merely close.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import distributed  # pertitle[dask]; the test extra installs it, so CI runs these
import pytest

from pertitle.batch import run_batch
from pertitle.catalog import plan_inputs
from pertitle.config import Settings, validate
from pertitle.errors import FfmpegError
from pertitle.executors.dask import DaskExecutor
from pertitle.executors.local import LocalExecutor
from pertitle.ffmpeg.binary import FfmpegInfo
from pertitle.jobs import PrepareJob, run_prepare
from pertitle.pipeline import analyze
from pertitle.report import serialize

T = TypeVar("T")
R = TypeVar("R")

GRID = ["--heights", "90,180", "--crfs", "26,34,42", "--preset", "veryfast"]
SOURCES = {
    "alpha": "testsrc2=size=320x180:rate=24:duration=1",
    "beta ü": "testsrc2=size=320x180:rate=24:duration=1,hue=h=200",
}


def settings(cache: Path) -> Settings:
    return validate(
        Settings(heights=(90, 180), crfs=(26.0, 34.0, 42.0), preset="veryfast", cache_dir=str(cache))
    )


def ladder_part(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: doc[k] for k in ("rungs", "hull", "points", "gave_way")}


def ladders(out: Path) -> dict[str, dict[str, Any]]:
    docs = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(out.glob("*.ladder.json"))]
    return {d["title"]: ladder_part(d) for d in docs}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory, ffmpeg_path: str) -> Path:
    root = tmp_path_factory.mktemp("catalog")
    for name, graph in SOURCES.items():
        argv = [
            ffmpeg_path,
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            graph,
        ]
        argv += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p"]
        subprocess.run([*argv, str(root / f"{name}.mp4")], check=True, capture_output=True, timeout=120)
    return root


@pytest.fixture(scope="module")
def local_ladders(
    catalog: Path, ffmpeg_info: FfmpegInfo, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """The catalog through the local executor (two titles at once, one core each)."""
    root = tmp_path_factory.mktemp("local")
    titles = plan_inputs([catalog], None, settings(root / "cache"), root / "out", ffmpeg_info)
    result = run_batch(titles, root / "out", ffmpeg_info, executor=LocalExecutor(2), cores=2, title_jobs=2)
    assert result.exit_code == 0, result.outcomes
    return ladders(root / "out")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A LocalCluster of two worker processes, one thread each; yields the scheduler's address."""
    import logging

    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as c:
        yield c.scheduler_address


class RecordingDask(DaskExecutor):
    """A DaskExecutor that keeps every job it was given."""

    def __init__(self, address: str) -> None:
        super().__init__(address)
        self.jobs: list[Any] = []

    def map_unordered(
        self, fn: Callable[[T], R], items: Iterable[T]
    ) -> Iterator[tuple[T, R | None, BaseException | None]]:
        todo = list(items)
        self.jobs += todo
        return super().map_unordered(fn, todo)


def test_every_encode_is_its_own_task_and_the_ladder_is_the_local_one(
    cluster: str,
    catalog: Path,
    local_ladders: dict[str, dict[str, Any]],
    ffmpeg_info: FfmpegInfo,
    tmp_path: Path,
) -> None:
    s = replace(settings(tmp_path / "cache"), work_dir=str(tmp_path / "work"), jobs=1)
    with RecordingDask(cluster) as executor:
        assert executor.slots == 2
        result = analyze(str(catalog / "alpha.mp4"), s, ffmpeg_info, executor=executor)
    assert result.encodes == len(executor.jobs) > 6
    assert all(len(job.specs) == 1 and job.threads == 1 for job in executor.jobs)
    assert all(job.workdir.startswith(str(tmp_path / "work")) for job in executor.jobs)
    assert ladder_part(serialize.to_document(result)) == local_ladders["alpha"]
    assert not list((tmp_path / "work").iterdir())  # the work dir is cleaned up


def test_ffmpeg_errors_on_a_worker_come_back_as_ffmpeg_errors(
    cluster: str, ffmpeg_path: str, tmp_path: Path
) -> None:
    bad = PrepareJob(
        ffmpeg=ffmpeg_path,
        source=str(tmp_path / "no such source.mp4"),
        windows=None,
        width=320,
        height=180,
        out_path=str(tmp_path / "ref.mkv"),
        threads=1,
        timeout_s=60,
    )
    with DaskExecutor(cluster) as executor:
        [(job, value, error)] = list(executor.map_unordered(run_prepare, [bad]))
    assert job == bad and value is None
    assert isinstance(error, FfmpegError)
    assert "no such source.mp4" in " ".join(error.argv) and error.returncode != 0


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "pertitle", "batch", *[str(a) for a in args]]
    # Dask's connect timeout, short: the unreachable-scheduler test need not wait 30 s.
    env = {**os.environ, "NO_COLOR": "1", "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "3s"}
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)


def test_batch_on_an_existing_scheduler_gives_the_local_ladders(
    cluster: str, catalog: Path, local_ladders: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    proc = cli(
        catalog,
        "--out",
        out,
        "--cache-dir",
        tmp_path / "cache",
        "--work-dir",
        tmp_path / "work",
        "--executor",
        "dask",
        "--scheduler",
        cluster,
        *GRID,
    )
    assert proc.returncode == 0, proc.stderr
    assert ladders(out) == local_ladders
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["executor"].startswith("dask (tcp://") and "2 worker threads" in summary["executor"]
    assert summary["encodes"] > 0 and summary["cache_hits"] == 0


def test_batch_starts_a_local_cluster_of_its_own(
    catalog: Path, local_ladders: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    proc = cli(
        catalog / "beta ü.mp4",
        "--out",
        out,
        "--cache-dir",
        tmp_path / "cache",
        "--executor",
        "dask",
        "--dask-workers",
        "2",
        *GRID,
    )
    assert proc.returncode == 0, proc.stderr
    assert ladders(out) == {"beta ü": local_ladders["beta ü"]}


def test_an_unreachable_scheduler_is_bad_usage(catalog: Path, tmp_path: Path) -> None:
    """Nothing of the last run's records is touched by a run that could not start."""
    events, junit = tmp_path / "events.ndjson", tmp_path / "junit.xml"
    events.write_text('{"kind":"batch_finished"}\n', encoding="utf-8")
    junit.write_text("<testsuites/>", encoding="utf-8")
    proc = cli(
        catalog, "--out", tmp_path / "out", "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9",
        "--events", events, "--junit", junit,
    )  # fmt: skip
    assert proc.returncode == 2
    assert events.read_text(encoding="utf-8") == '{"kind":"batch_finished"}\n'
    assert junit.read_text(encoding="utf-8") == "<testsuites/>"
    assert proc.stderr.startswith("error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")


@pytest.mark.parametrize("address", ["tcp://127.0.0.1", "notaurl", "foo://x:1", "tcp://[::1"])
def test_a_malformed_scheduler_address_is_bad_usage(catalog: Path, tmp_path: Path, address: str) -> None:
    # Forgetting the port was a 60-line traceback and exit 1 (distributed's ValueError).
    proc = cli(catalog, "--out", tmp_path / "out", "--executor", "dask", "--scheduler", address)
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: --scheduler: {address!r} is not a Dask scheduler address"), line
    assert "give tcp://HOST:PORT" in line


def test_a_port_that_accepts_but_is_no_scheduler_is_bad_usage_within_the_timeout(
    catalog: Path, tmp_path: Path
) -> None:
    """The dashboard's port (8787 for 8786) is an easy mistake: it accepts and never speaks Dask.
    The client waited forever there, past its own connect timeout."""
    import socket
    import threading

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.extend(silent.accept()[:1] for _ in range(4)), daemon=True).start()
    address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
    started = time.monotonic()
    try:
        proc = cli(catalog, "--out", tmp_path / "out", "--executor", "dask", "--scheduler", address)
    finally:
        silent.close()
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: cannot reach the Dask scheduler at {address} (something listens")
    assert "not a Dask scheduler" in proc.stderr
    assert time.monotonic() - started < 60  # the connect timeout is 3 s here


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_scheduler_lost_mid_batch_stops_the_batch_instead_of_failing_every_title(
    catalog: Path, tmp_path: Path
) -> None:
    """A lost scheduler is the cluster's failure, not the titles': the batch stops at once (the
    title running is interrupted, the rest stay pending, none 'failed'), says so in one line and in
    summary.json, and a rerun resumes. Before, every title failed in turn, each after waiting out
    the connect timeout, with a warning per cancelled encode."""
    titles = tmp_path / "titles"
    titles.mkdir()
    for i in range(4):
        (titles / f"t{i}.mp4").write_bytes((catalog / "alpha.mp4").read_bytes())
    address = f"tcp://127.0.0.1:{_free_port()}"
    dask = Path(sys.executable).with_name("dask")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen(
        [str(dask), "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
         "--dashboard-address", ":0"], **quiet,
    )  # fmt: skip
    worker = subprocess.Popen(
        [str(dask), "worker", address, "--nworkers", "1", "--nthreads", "1", "--dashboard-address", ":0"],
        **quiet,
    )
    out, events = tmp_path / "out", tmp_path / "events.ndjson"
    argv = [sys.executable, "-m", "pertitle", "batch", str(titles), "--out", str(out), "--jobs", "1"]
    argv += ["--cache-dir", str(tmp_path / "cache"), "--work-dir", str(tmp_path / "work"), "--events"]
    argv += [str(events), "--executor", "dask", "--scheduler", address, "--dask-workers", "1", *GRID]
    env = {**os.environ, "NO_COLOR": "1", "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "3s"}
    try:
        batch = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and batch.poll() is None:
            if events.exists() and '"job_done"' in events.read_text(encoding="utf-8"):
                break
            time.sleep(0.1)
        scheduler.kill()
        _, stderr = batch.communicate(timeout=120)
    finally:
        for p in (scheduler, worker):
            p.kill()
            p.wait(timeout=30)
    assert batch.returncode == 1, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: lost the Dask scheduler at {address}"), stderr
    assert last.endswith(
        "the batch stopped; finished ladders are kept and finished encodes are cached: a rerun resumes"
    )
    assert "warning" not in stderr  # no line per cancelled encode
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert (summary["state"], summary["exit_code"]) == ("interrupted", 1)
    assert summary["stopped"].startswith(f"lost the Dask scheduler at {address}")
    statuses = [t["status"] for t in summary["titles"]]
    assert "failed" not in statuses and statuses.count("interrupted") <= 1, summary["titles"]
    assert statuses.count("pending") >= 2
    pending = next(t for t in summary["titles"] if t["status"] == "pending")
    assert pending["reason"].startswith("not started: the batch stopped first (lost the Dask scheduler")
