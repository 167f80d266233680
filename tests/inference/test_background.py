"""The I/O threads: the writer consumes in order, its errors reach the caller, an aborted run drops the rest;
the frame cache reads ahead and resizes the crops in its reader thread."""

from __future__ import annotations

import threading
from contextlib import closing

import numpy as np

import pytest
import torch

from sttn_lightning.inference.background import BackgroundConsumer
from sttn_lightning.inference import frame_cache
from sttn_lightning.inference.frame_cache import DECODE_CHUNK, READ_AHEAD, FrameCache, Holes
from sttn_lightning.inference.roi import Box
from sttn_lightning.media import ArrayFrames, ArrayMasks, Size
from sttn_lightning.protocol import resize_crop


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


def test_the_frame_cache_reads_ahead_and_resizes_crops_in_its_reader_thread(monkeypatch):
    frames = np.random.default_rng(0).integers(0, 256, (64, 8, 12, 3), dtype=np.uint8)
    readers, resizers, gate = [], [], threading.Event()

    class Recording(ArrayFrames):
        def _read(self, indices):
            if indices[0] >= 2 * DECODE_CHUNK:
                gate.wait(timeout=5)  # the third chunk is read only once the test lets it
            readers.append((threading.current_thread().name, list(indices)))
            return super()._read(indices)

    def recording_resize(image, size):
        resizers.append(threading.current_thread().name)
        return resize_crop(image, size)

    monkeypatch.setattr(frame_cache, "resize_crop", recording_resize)
    holes = Holes(ArrayMasks(np.zeros((64, 8, 12), np.uint8)), Size(12, 8), 0)
    crops = {2: {0: Box(2, 0, 10, 6), 1: Box(0, 2, 8, 8)}, DECODE_CHUNK + 1: {1: Box(0, 2, 8, 8)}}
    with closing(FrameCache(Recording(frames), holes, [None] * 64, crops, Size(4, 3), torch.device("cpu"))) as cache:
        cache.ensure(range(5))
        cache.ensure(range(DECODE_CHUNK, DECODE_CHUNK + 5))  # served from the chunk read ahead: nothing read now
        chunks = [list(range(start, start + DECODE_CHUNK)) for start in range(0, 4 * DECODE_CHUNK, DECODE_CHUNK)]
        assert readers == [("sttn-reader_0", chunk) for chunk in chunks[:2]]
        gate.set()
        cache.ensure(range(2 * DECODE_CHUNK, 2 * DECODE_CHUNK + 5))  # and again, once the next chunk ahead is read
        taken = cache[2].take_crop(1)
        np.testing.assert_array_equal(taken.numpy(), resize_crop(frames[2, 2:8, 0:8], (4, 3)))
        assert list(cache[2].crops) == [0], "a crop is handed to the encoder once"
        assert cache[DECODE_CHUNK + 1].take_crop(1).shape == (3, 4, 3) and cache[3].crops == {}
    # each request served from the chunk read ahead starts the chunk after it (the last one may be cancelled by closing)
    assert readers in ([("sttn-reader_0", chunk) for chunk in chunks[:3]], [("sttn-reader_0", chunk) for chunk in chunks])
    assert len(resizers) == 3 and all(name.startswith("sttn-reader") for name in resizers)


def test_the_frames_read_ahead_do_not_stretch_the_sequential_run_to_frames_further_ahead():
    frames = np.zeros((80, 8, 12, 3), np.uint8)
    readers = []

    class Recording(ArrayFrames):
        def _read(self, indices):
            readers.append(list(indices))
            return super()._read(indices)

    holes = Holes(ArrayMasks(np.zeros((80, 8, 12), np.uint8)), Size(12, 8), 0)
    with closing(FrameCache(Recording(frames), holes, [None] * 80, {}, Size(4, 3), torch.device("cpu"))) as cache:
        cache.ensure(range(5))  # reads 0-15, then 16-31 ahead
        far = DECODE_CHUNK + READ_AHEAD  # as far past the frames read ahead as a run reaches: sought alone
        cache.ensure([DECODE_CHUNK, far])
    assert readers[:3] == [list(range(DECODE_CHUNK)), list(range(DECODE_CHUNK, 2 * DECODE_CHUNK)), [far]]
