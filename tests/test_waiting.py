"""poll_until on a fake clock: what it returns, when it gives up, what it calls between tries."""

from __future__ import annotations

import pytest

from hybridctl.waiting import poll_until


class FakeClock:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def answers(*values: object) -> tuple[list[int], object]:
    calls: list[int] = []
    queue = list(values)

    def check() -> object:
        calls.append(1)
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return calls, check


def test_returns_the_first_truthy_result_without_sleeping_after_it() -> None:
    clock = FakeClock()
    calls, check = answers(None, 0, "ready", "later")
    got = poll_until(check, timeout_s=60, interval_s=2, clock=clock, sleep=clock.sleep)
    assert got == "ready"
    assert len(calls) == 3 and clock.sleeps == [2, 2]


def test_a_first_success_never_sleeps() -> None:
    clock = FakeClock()
    assert poll_until(lambda: True, timeout_s=0, interval_s=5, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []


def test_gives_up_at_the_deadline_with_the_last_result() -> None:
    clock = FakeClock()
    calls, check = answers(False)
    got = poll_until(check, timeout_s=10, interval_s=3, clock=clock, sleep=clock.sleep)
    assert got is False
    # Tries at 0, 3, 6, 9 and 12 s: the one past the deadline is the last, then no sleep.
    assert len(calls) == 5 and clock.sleeps == [3, 3, 3, 3] and clock.now == 112.0


def test_an_absolute_deadline_on_the_same_clock() -> None:
    clock = FakeClock()
    calls, check = answers(0)
    poll_until(check, deadline=104.0, interval_s=2, clock=clock, sleep=clock.sleep)
    assert len(calls) == 3 and clock.now == 104.0


def test_done_decides_and_on_wait_sees_each_result_before_a_sleep() -> None:
    clock = FakeClock()
    reports = [{"healthy": False, "n": 1}, {"healthy": False, "n": 2}, {"healthy": True, "n": 3}]
    seen: list[int] = []
    got = poll_until(
        lambda: reports.pop(0),
        done=lambda r: bool(r["healthy"]),
        on_wait=lambda r: seen.append(int(r["n"])),
        timeout_s=60,
        interval_s=1,
        clock=clock,
        sleep=clock.sleep,
    )
    assert got["n"] == 3 and seen == [1, 2]


def test_no_on_wait_after_the_deadline() -> None:
    clock = FakeClock()
    seen: list[object] = []
    poll_until(
        lambda: None, on_wait=seen.append, timeout_s=1, interval_s=1, clock=clock, sleep=clock.sleep
    )
    assert seen == [None]  # tried at 0 s (waits once), at 1 s gives up


def test_an_exception_from_the_check_passes_through() -> None:
    clock = FakeClock()

    def check() -> bool:
        raise RuntimeError("fatal")

    with pytest.raises(RuntimeError, match="fatal"):
        poll_until(check, timeout_s=60, interval_s=1, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []


def test_a_deadline_or_a_timeout_is_required() -> None:
    with pytest.raises(TypeError, match="timeout_s or deadline"):
        poll_until(lambda: True, interval_s=1)
