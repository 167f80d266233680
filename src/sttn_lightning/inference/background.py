"""Work beside the compute: a worker thread fed through a bounded queue, so the device never waits on I/O.

The writer of a run (PNG files, the ffmpeg pipe) consumes finished frames here while the next
windows run; the queue's bound keeps memory flat. An error in the worker reaches the caller on
its next ``put`` or at ``close``; leaving the ``with`` block by an exception drops what is queued.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
_STOP = object()
QUEUE_DEPTH = 8  # items in flight: enough to ride out an encoder's bursts, small against a frame cache


class BackgroundConsumer(Generic[Item]):
    """Calls ``consume(item)`` for every ``put`` item, in order, in one worker thread."""

    def __init__(self, consume: Callable[[Item], Any], depth: int = QUEUE_DEPTH) -> None:
        self._consume = consume
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="sttn-writer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (item := self._queue.get()) is not _STOP:
            if self._error is None:
                try:
                    self._consume(item)
                except BaseException as error:  # handed to the caller, who decides
                    self._error = error

    def put(self, item: Item) -> None:
        """Queue an item (waits while the queue is full); raises the worker's error if it failed."""
        if self._error is not None:
            raise self._error
        self._queue.put(item)

    def __enter__(self) -> BackgroundConsumer[Item]:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        """Wait until every item is consumed (raising the worker's error); after an exception, drop what is queued."""
        if kind is not None:
            self._error = self._error or RuntimeError("aborted")
        self._queue.put(_STOP)
        self._thread.join()
        if kind is None and self._error is not None:
            raise self._error
