"""The I/O threads: the writer consumes in order, its errors reach the caller, an aborted run drops the rest;
the frame cache reads ahead in its reader thread."""

from __future__ import annotations

import threading
from contextlib import closing

import numpy as np

import pytest
import torch

from sttn_lightning.inference.background import BackgroundConsumer
from sttn_lightning.inference.frame_cache import DECODE_CHUNK, FrameCache, Holes
from sttn_lightning.media import ArrayFrames, ArrayMasks, Size


def test_items_are_consumed_in_order_in_another_thread():
    seen, threads = [], set()

    def consume(item):
        seen.append(item)
        threads.add(threading.current_thread().name)

    with BackgroundConsumer(consume, depth=2) as consumer:
        for item in range(50):
            consumer.put(item)
    assert seen == list(range(50)) and threads == {"sttn-writer"}


def test_an_error_in_the_worker_reaches_the_caller_and_stops_consuming():
    seen = []

    def consume(item):
        if item == 3:
            raise OSError(28, "No space left on device")
        seen.append(item)

    with pytest.raises(OSError, match="No space left"):
        with BackgroundConsumer(consume, depth=1) as consumer:
            for item in range(100):
                consumer.put(item)
    assert seen == [0, 1, 2]


def test_leaving_by_an_exception_drops_what_is_queued():
    release, seen = threading.Event(), []

    def consume(item):
        release.wait()
        seen.append(item)

    with pytest.raises(KeyboardInterrupt):
        with BackgroundConsumer(consume, depth=8) as consumer:
            for item in range(5):
                consumer.put(item)
            threading.Timer(0.3, release.set).start()  # the first item finishes after the abort began
            raise KeyboardInterrupt
    assert seen in ([], [0])  # at most the item the worker had already started


def test_the_frame_cache_reads_ahead_in_its_reader_thread():
    frames = np.zeros((40, 8, 12, 3), np.uint8)
    readers = []

    class Recording(ArrayFrames):
        def _read(self, indices):
            readers.append((threading.current_thread().name, list(indices)))
            return super()._read(indices)

    holes = Holes(ArrayMasks(np.zeros((40, 8, 12), np.uint8)), Size(12, 8), 0)
    with closing(FrameCache(Recording(frames), holes, [None] * 40, torch.device("cpu"), read_ahead=True)) as cache:
        cache.ensure(range(5))
        cache.ensure(range(DECODE_CHUNK, DECODE_CHUNK + 5))  # served from the chunk read ahead
    assert readers[0] == ("sttn-reader_0", list(range(DECODE_CHUNK)))
    assert readers[1] == ("sttn-reader_0", list(range(DECODE_CHUNK, 2 * DECODE_CHUNK)))
    assert all(name.startswith("sttn-reader") for name, _ in readers)
    readers.clear()
    with closing(FrameCache(Recording(frames), holes, [None] * 40, torch.device("cpu"), read_ahead=False)) as cache:
        cache.ensure(range(5))
    assert readers == [("sttn-reader_0", list(range(DECODE_CHUNK)))]
