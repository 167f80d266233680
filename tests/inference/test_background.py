"""The writer thread: items consumed in order, errors reach the caller, an aborted run drops the rest."""

from __future__ import annotations

import threading

import pytest

from sttn_lightning.inference.background import BackgroundConsumer


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
