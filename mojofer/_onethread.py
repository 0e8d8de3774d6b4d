"""Refusing a second thread inside an object that follows one stream."""
from __future__ import annotations

import threading


class OneThread:
    """`with self._one_thread:` around a stream object's methods: a thread
    entering while another is inside gets a RuntimeError at once.

    Refused rather than serialised: the results of a stream object depend on
    the order of its frames, and two threads' frames have none, so waiting
    would only hide the mix-up (and make the timestamp check fail at random)."""

    def __init__(self, owner: str):
        self._owner = owner
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        if not self._lock.acquire(blocking=False):
            raise RuntimeError(f"this {self._owner} is in use by another thread: it follows one "
                               f"stream of frames in order; make one {self._owner} per stream "
                               "and thread")

    def __exit__(self, *exc) -> None:
        self._lock.release()
