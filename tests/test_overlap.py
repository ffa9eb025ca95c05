"""Decoding and encoding threads (viewer/runs/background.py): every item in order, errors reach the caller."""
import threading

import pytest

from viewer.runs.background import BackgroundWriter, Prefetcher


def test_prefetcher_yields_every_item_in_order_from_another_thread():
    threads = set()

    def items():
        for i in range(100):
            threads.add(threading.current_thread().name)
            yield i

    prefetcher = Prefetcher(items(), depth=3)
    assert list(prefetcher) == list(range(100))
    prefetcher.close()
    assert threads == {"prefetch"}


def test_prefetcher_raises_the_error_of_its_items_after_the_items_before_it():
    def items():
        yield 1
        yield 2
        raise OSError("decoder broke")

    got = []
    with pytest.raises(OSError, match="decoder broke"):
        for item in Prefetcher(items()):
            got.append(item)
    assert got == [1, 2]


def test_prefetcher_close_stops_a_reader_that_left_early():
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    prefetcher = Prefetcher(endless(), depth=2)
    assert next(iter(prefetcher)) == 0
    prefetcher.close()
    assert not prefetcher.thread.is_alive()
    assert len(produced) <= 5  # it stopped a few items ahead, not at the end of an endless source


def test_background_writer_writes_every_frame_in_order_before_close_returns():
    written = []
    writer = BackgroundWriter(written.append, depth=2)
    for frame in range(50):
        writer.write(frame)
    writer.close()
    assert written == list(range(50))


def test_background_writer_raises_the_write_error_to_the_caller():
    def fail(frame):
        if frame == 3:
            raise OSError("disk full")

    writer = BackgroundWriter(fail)
    with pytest.raises(OSError, match="disk full"):
        for frame in range(100):
            writer.write(frame)
        writer.close()
    writer.stop()  # stopping after the error is harmless
