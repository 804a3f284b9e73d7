"""Poll until a check succeeds or a deadline passes: the wait loop the box code shares."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll_until(
    check: Callable[[], T],
    *,
    interval_s: float,
    timeout_s: float | None = None,
    deadline: float | None = None,
    done: Callable[[T], bool] = bool,
    on_wait: Callable[[T], None] | None = None,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """Call `check` until `done(result)` (truthy by default) or the clock reaches the deadline;
    the last result either way, so the caller reads why it stopped from it.

    Each round: check, done?, deadline passed?, `on_wait(result)`, sleep `interval_s`; so the
    check runs at least once, and once more after the last sleep. The deadline is `deadline`
    on `clock` (time.monotonic), or `timeout_s` from now; one of them is required.
    """
    now = clock or time.monotonic
    pause = sleep or time.sleep
    if deadline is None:
        if timeout_s is None:
            raise TypeError("poll_until needs timeout_s or deadline")
        deadline = now() + timeout_s
    while True:
        result = check()
        if done(result) or now() >= deadline:
            return result
        if on_wait is not None:
            on_wait(result)
        pause(interval_s)
