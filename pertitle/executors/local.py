"""A thread pool: ffmpeg does the work in subprocesses, so threads are enough on one machine."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from pertitle.ffmpeg.runner import kill_running

T = TypeVar("T")
R = TypeVar("R")


class LocalExecutor:
    """At most `workers` jobs at once, across every `map_unordered` call that is running: one
    executor shared by several titles (pertitle batch) keeps the machine at `workers` ffmpeg
    processes, not titles x workers."""

    name = "local"
    # Specs of one resolution share an ffmpeg process (one decode of the reference), up to this many.
    max_group = 4
    # None: the Runner splits its cores between parallel jobs and each ffmpeg's threads.
    threads_per_job: int | None = None

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self.slots = self.workers
        self._running = threading.BoundedSemaphore(self.workers)

    def _bounded(self, fn: Callable[[T], R], item: T) -> R:
        with self._running:
            return fn(item)

    def map_unordered(
        self, fn: Callable[[T], R], items: Iterable[T]
    ) -> Iterator[tuple[T, R | None, BaseException | None]]:
        """Run fn over items, yielding each (item, result, error) as it finishes."""
        todo = list(items)
        if not todo:
            return
        with ThreadPoolExecutor(max_workers=min(self.workers, len(todo))) as pool:
            futures: dict[Future[R], T] = {pool.submit(self._bounded, fn, item): item for item in todo}
            pending = set(futures)
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        exc = fut.exception()
                        yield futures[fut], (None if exc else fut.result()), exc
            except KeyboardInterrupt:
                # Ctrl-C, or SIGTERM turned into one, in this (the main) thread: the encodes the
                # workers wait on are stopped, or leaving the pool would wait for them to end.
                kill_running()
                raise
            finally:
                for fut in pending:
                    fut.cancel()
