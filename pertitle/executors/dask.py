"""Dask distributed: the same `map_unordered` face as the local pool, on a cluster.

`distributed` is imported here only, and only when a DaskExecutor starts, so pertitle works
without it. Each job is a plain top-level function over a frozen dataclass (pertitle.jobs), which
pickles to any worker. The Runner reads `max_group = 1` and sends every encode and score as its own
task, so one long title spreads over the whole cluster instead of one title per worker.

What a cluster needs: the same ffmpeg path on every worker (the same virtual environment, so the
imageio-ffmpeg binary sits at the same place, or `--ffmpeg PATH` that exists everywhere) and the
Runner's work dir (`--work-dir`) on a filesystem every worker shares: workers read the prepared
reference from it and write their encodes into it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import CancelledError
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from pertitle.errors import ExecutorLost, FfmpegError, FfmpegTimeout, PertitleError, ToolError

T = TypeVar("T")
R = TypeVar("R")

INSTALL_HINT = "pip install 'pertitle[dask]' (or pip install distributed)"


class DaskTaskError(PertitleError):
    """A task failed on the cluster for a reason of the cluster's (a worker died, a task could not
    be sent or run), not of ffmpeg's."""


@dataclass(frozen=True)
class RemoteFfmpegError:
    """An FfmpegError as a plain value: the exception's own constructor takes more than its message,
    so it does not survive pickling on its way back from a worker. Rebuilt on the client."""

    timeout: bool
    argv: tuple[str, ...]
    returncode: int
    stderr_tail: str
    what: str

    @classmethod
    def capture(cls, exc: FfmpegError) -> RemoteFfmpegError:
        return cls(isinstance(exc, FfmpegTimeout), tuple(exc.argv), exc.returncode, exc.stderr_tail, exc.what)

    def rebuild(self) -> FfmpegError:
        kind = FfmpegTimeout if self.timeout else FfmpegError
        return kind(list(self.argv), self.returncode, self.stderr_tail, self.what)


def _connect_timeout_s() -> float:
    import dask.config
    from dask.utils import parse_timedelta

    value = parse_timedelta(dask.config.get("distributed.comm.timeouts.connect", "30s"), default="seconds")
    return float(value or 30.0)


def _expect_a_scheduler(address: str, timeout_s: float) -> None:
    """A Dask server speaks first: on every new connection it sends its handshake before it reads
    one. A port that accepts and stays silent (a dashboard, any HTTP server, a wrong service) made
    `distributed.Client` wait forever, past its own timeout; here it is an error within the
    connect timeout. Only plain `tcp://` addresses are probed (TLS and others go to Dask as given).

    Raises:
        ValueError: the address is broken (no port, an IPv6 host without brackets).
        OSError: nothing accepts there, or what does sends nothing.
    """
    from distributed.comm.addressing import parse_address, parse_host_port

    scheme, where = parse_address(address)  # ValueError, as Dask says it, for a broken address
    if scheme != "tcp":
        return
    host, port = parse_host_port(where)
    with socket.create_connection((host, port), timeout=timeout_s) as conn:
        conn.settimeout(timeout_s)
        try:
            first = conn.recv(1)
        except TimeoutError:
            raise TimeoutError(
                f"something listens there but sent nothing in {timeout_s:g} s: not a Dask scheduler "
                "(a dashboard port? a scheduler listens on 8786 unless told otherwise)"
            ) from None
        if not first:
            raise ConnectionError("the connection was closed at once: not a Dask scheduler")


def call_remote(fn: Callable[[T], R], item: T) -> R | RemoteFfmpegError:
    """What a worker runs: `fn(item)`, with an FfmpegError returned as a value (see above)."""
    try:
        return fn(item)
    except FfmpegError as exc:
        return RemoteFfmpegError.capture(exc)


class DaskExecutor:
    """Jobs on a Dask cluster: the scheduler at `address`, or a local cluster of `n_workers` worker
    processes (one thread each; default one per core) when `address` is None.

    Use as a context manager, or call `start()` and `close()`.
    """

    name = "dask"
    max_group = 1
    # Each task is one encode and score on a worker with one thread (dask worker --nthreads 1): one
    # ffmpeg thread per task keeps the worker's core busy and the encodes deterministic.
    threads_per_job: int | None = 1

    def __init__(self, address: str | None = None, n_workers: int | None = None) -> None:
        if n_workers is not None and n_workers < 1:
            raise ValueError(f"n_workers must be at least 1, got {n_workers}")
        self.address = address
        self.n_workers = n_workers
        self._client: Any = None
        self._cluster: Any = None

    def __enter__(self) -> DaskExecutor:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        """Connect to the scheduler, or start the local cluster.

        Raises:
            ToolError: `distributed` is not installed, or the scheduler cannot be reached.
        """
        if self._client is not None:
            return
        try:
            import distributed
        except ImportError:
            raise ToolError(f"--executor dask needs the 'distributed' package: {INSTALL_HINT}") from None
        if self.address is None:
            workers = self.n_workers or max(1, os.cpu_count() or 1)
            try:
                self._cluster = distributed.LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
                self._client = distributed.Client(self._cluster)
            except Exception as exc:
                self.close()
                raise ToolError(f"cannot start a local Dask cluster of {workers} workers: {exc}") from None
            return
        try:
            # Dask's own setting bounds the wait (distributed.comm.timeouts.connect, 30 s by default;
            # DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=5s in the environment changes it).
            _expect_a_scheduler(self.address, _connect_timeout_s())
            self._client = distributed.Client(self.address)
        except ValueError as exc:  # no port, an unknown scheme, a broken address: said, no traceback
            raise ToolError(
                f"--scheduler: {self.address!r} is not a Dask scheduler address ({exc}); give "
                "tcp://HOST:PORT (a scheduler listens on 8786 unless told otherwise)"
            ) from None
        except (OSError, TimeoutError) as exc:
            raise ToolError(
                f"cannot reach the Dask scheduler at {self.address} ({exc}); "
                "start one with 'dask scheduler' and workers with 'dask worker ADDRESS'"
            ) from None
        if self.n_workers:
            try:
                self._client.wait_for_workers(self.n_workers, timeout="120s")
            except (OSError, TimeoutError) as exc:
                self.close()
                raise ToolError(
                    f"fewer than {self.n_workers} Dask workers joined {self.address} within 120 s ({exc})"
                ) from None

    @property
    def slots(self) -> int:
        """Jobs the cluster runs at once (its workers' threads), at least 1."""
        self.start()
        workers = self._client.scheduler_info().get("workers", {})
        return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))

    @property
    def description(self) -> str:
        where = self.address or "a local cluster"
        return f"dask ({where}, {self.slots} worker threads)"

    def map_unordered(
        self, fn: Callable[[T], R], items: Iterable[T]
    ) -> Iterator[tuple[T, R | None, BaseException | None]]:
        """Run fn over items on the cluster, yielding each (item, result, error) as it finishes.
        Safe to call from several threads at once (one per title); closing the iterator early
        cancels the tasks not yet finished."""
        todo = list(items)
        if not todo:
            return
        self.start()
        from distributed import as_completed

        try:
            # pure=False: equal items are still separate tasks (Dask would otherwise merge them by hash).
            futures = self._client.map(functools.partial(call_remote, fn), todo, pure=False)
        except Exception as exc:
            raise self._lost(exc) or DaskTaskError(
                f"cannot send tasks to Dask: {type(exc).__name__}: {exc}"
            ) from None
        by_key = {f.key: item for f, item in zip(futures, todo, strict=True)}
        pending = {f.key: f for f in futures}
        try:
            for fut in as_completed(futures):
                pending.pop(fut.key, None)
                item = by_key[fut.key]
                try:
                    value = fut.result()
                except PertitleError as exc:
                    yield item, None, exc
                    continue
                except Exception as exc:  # a worker died (KilledWorker), a task could not run
                    lost = self._lost(exc)
                    if lost is not None:  # every other task is gone too: not this encode's failure
                        raise lost from None
                    yield item, None, DaskTaskError(f"a Dask task failed: {type(exc).__name__}: {exc}")
                    continue
                if isinstance(value, RemoteFfmpegError):
                    yield item, None, value.rebuild()
                else:
                    yield item, value, None
        finally:
            if pending and self._client is not None:
                # An interrupted batch may have closed the client while this title still ran.
                with contextlib.suppress(Exception):
                    self._client.cancel(list(pending.values()))

    def _lost(self, exc: BaseException) -> ExecutorLost | None:
        """An ExecutorLost when `exc` says the client lost its scheduler (its tasks were cancelled
        for that reason, the client is closed or reconnecting, or fetching a result found the
        connection closed: CommClosedError, which can come before the client knows), else None."""
        reason = str(getattr(exc, "reason", "") or "")
        status = str(getattr(self._client, "status", "closed") or "closed")
        gone = type(exc).__name__ in ("ClosedClientError", "CommClosedError")
        gone = gone or reason == "scheduler-connection-lost"
        if isinstance(exc, CancelledError) and status != "running":
            gone = True
        if not gone:
            return None
        where = f"the Dask scheduler at {self.address}" if self.address else "the local Dask cluster"
        return ExecutorLost(f"lost {where} ({type(exc).__name__}: {reason or exc})")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
