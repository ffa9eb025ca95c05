"""Ctrl-C (and a kill) held until the frame being rendered is done: inside a numba kernel it would surface as a
SystemError."""
from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def interrupt_between_frames() -> Iterator[threading.Event]:
    """Ctrl-C and SIGTERM only set the event it yields, which the loop checks between frames (on the main
    thread; elsewhere no signal comes and the event is never set)."""
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():  # only the main thread gets signals
        yield interrupted
        return
    previous = {number: signal.signal(number, lambda *_: interrupted.set()) for number in (signal.SIGINT,
                                                                                           signal.SIGTERM)}
    try:
        yield interrupted
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
