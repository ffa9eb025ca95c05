"""A mailbox of one, for a producer that must never wait on a slower consumer: a new value replaces one not yet
taken, so the consumer always gets the newest (a camera's frame, a tracked face, a render request)."""
from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Latest(Generic[T]):
    """put() from one thread, take() from another; `newest` peeks without taking."""

    def __init__(self):
        self._value: T | None = None
        self._put = self._taken = 0  # values put so far; the count when the last one was taken
        self._changed = threading.Condition()
        self.closed = False

    def put(self, value: T) -> None:
        with self._changed:
            self._value, self._put = value, self._put + 1
            self._changed.notify_all()

    def take(self, timeout: float | None = None) -> T | None:
        """The newest value not yet taken, waiting up to `timeout` seconds for one (None: as long as it takes);
        None when none came in time, or the mailbox is closed with nothing new in it."""
        with self._changed:
            self._changed.wait_for(lambda: self._put > self._taken or self.closed, timeout)
            if self._put == self._taken:
                return None
            self._taken = self._put
            return self._value

    @property
    def newest(self) -> T | None:
        """The last value put, taken or not; None before the first."""
        return self._value

    def close(self) -> None:
        """Wake every take(); from now on they return at once (what was put and not taken yet, then None)."""
        with self._changed:
            self.closed = True
            self._changed.notify_all()
