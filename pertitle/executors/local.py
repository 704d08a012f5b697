"""A thread pool: ffmpeg does the work in subprocesses, so threads are enough on one machine."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


class LocalExecutor:
    name = "local"

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)

    def map_unordered(
        self, fn: Callable[[T], R], items: Iterable[T]
    ) -> Iterator[tuple[T, R | None, BaseException | None]]:
        """Run fn over items, yielding each (item, result, error) as it finishes."""
        todo = list(items)
        if not todo:
            return
        with ThreadPoolExecutor(max_workers=min(self.workers, len(todo))) as pool:
            futures: dict[Future[R], T] = {pool.submit(fn, item): item for item in todo}
            pending = set(futures)
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        exc = fut.exception()
                        yield futures[fut], (None if exc else fut.result()), exc
            finally:
                for fut in pending:
                    fut.cancel()
