"""Slows password guessing: after too many failed logins for one user name, refuse for a while.

Kept in memory per server process (a restart forgets it); keyed by user name so that guessing
one account's password from many addresses is slowed too.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from datalabs.errors import TooManyRequests


class TooManyAttempts(TooManyRequests):
    code = "too_many_attempts"


class LoginThrottle:
    def __init__(self, max_failures: int, window_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, name: str) -> None:
        """Raise ``TooManyAttempts`` while ``name`` is locked out."""
        if self.max_failures <= 0:
            return
        with self._lock:
            recent = self._recent(name)
            if len(recent) >= self.max_failures:
                wait = math.ceil((recent[0] + self.window - self.clock()) / 60)
                raise TooManyAttempts(
                    f"too many failed logins for {name!r}: try again in {max(wait, 1)} minute(s)"
                )

    def failed(self, name: str) -> None:
        with self._lock:
            self._recent(name).append(self.clock())

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name, None)

    def _recent(self, name: str) -> deque[float]:
        times = self._failures.setdefault(name, deque())
        cutoff = self.clock() - self.window
        while times and times[0] < cutoff:
            times.popleft()
        return times
