"""Login throttling: a name is locked out after repeated failures, for a window only."""

import pytest

from datalabs.accounts.throttle import LoginThrottle, TooManyAttempts


def test_lockout_after_failures_then_released_when_the_window_passes():
    now = [1000.0]
    throttle = LoginThrottle(3, 600, clock=lambda: now[0])
    for _ in range(3):
        throttle.check("alice")
        throttle.failed("alice")
    with pytest.raises(TooManyAttempts, match="try again in 10 minute"):
        throttle.check("alice")
    throttle.check("bob")  # other names are not affected
    now[0] += 601
    throttle.check("alice")


def test_success_clears_failures_and_zero_disables():
    throttle = LoginThrottle(2, 600)
    throttle.failed("alice")
    throttle.succeeded("alice")
    throttle.failed("alice")
    throttle.check("alice")
    off = LoginThrottle(0, 600)
    for _ in range(10):
        off.failed("x")
    off.check("x")
