"""Decoding and encoding on threads of their own, so that they overlap the tracking and the rendering.

PyAV decodes and encodes, and numba renders, with the GIL released: on 2 cores, a video's decoding runs while
the tracker fits the frame before, and its encoding while the rasterizer draws the next frame.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator

_DONE = object()


class Prefetcher:
    """Iterates `items` on a thread, up to `depth` items ahead of the reader. `close()` stops it (call it before
    closing what `items` reads from); errors raised by `items` are raised to the reader."""

    def __init__(self, items: Iterator, depth: int = 4):
        self.items, self.queue, self.stop = items, queue.Queue(depth), threading.Event()
        self.thread = threading.Thread(target=self._produce, name="prefetch", daemon=True)
        self.thread.start()

    def _produce(self) -> None:
        try:
            for item in self.items:
                if not self._put(item):
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the reader, who raises it
            self._put(error)
            return
        self._put(_DONE)

    def _put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator:
        while True:
            item = self.queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


class BackgroundWriter:
    """`write(frame)` hands the frame to a thread that calls `write` on it, up to `depth` frames behind;
    `close()` waits for them, then raises the first error the thread met. `busy` adds up the thread's seconds."""

    def __init__(self, write: Callable[[object], None], depth: int = 2):
        self._write, self.queue, self.error, self.busy = write, queue.Queue(depth), None, 0.0
        self.thread = threading.Thread(target=self._consume, name="encode", daemon=True)
        self.thread.start()

    def _consume(self) -> None:
        while (frame := self.queue.get()) is not _DONE:
            if self.error is not None:
                continue  # drain: the writer failed, the reader hears of it at its next write
            start = time.perf_counter()
            try:
                self._write(frame)
            except BaseException as error:  # noqa: BLE001 - raised in the reader's thread
                self.error = error
            self.busy += time.perf_counter() - start

    def write(self, frame) -> None:
        if self.error is not None:
            self.close()
        self.queue.put(frame)

    def close(self) -> None:
        """Wait for the frames handed over, then raise what writing them raised, if anything."""
        self.stop()
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def stop(self) -> None:
        """Wait for the frames handed over; errors are left in `error`."""
        if self.thread.is_alive():
            self.queue.put(_DONE)
            self.thread.join()
