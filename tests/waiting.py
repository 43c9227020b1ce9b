"""Waiting for an event another thread or process causes: poll quickly, fail only after a generous ceiling.

A test waits for the event itself (a message posted, a job queued, a lock lapsed), never for a fixed time: on an
idle machine the wait ends as soon as the event happens, so a passing run is as fast as a short timeout made it; on
a busy one (CI beside other builds, two suites at once) the ceiling leaves room, and only a real failure waits it
out. The stand-ins' own waits (`SlackStandIn.wait_for`, `Hold.wait_until_arrived`) use the same ceiling.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from standins.base import WAIT_CEILING

T = TypeVar("T")
POLL_SECONDS = 0.02


def wait_until(predicate: Callable[[], T], *, what: str, ceiling: float = WAIT_CEILING) -> T:
    """Poll `predicate` until it returns something truthy, and return that; AssertionError naming `what` (what was
    awaited) once `ceiling` seconds have passed without it."""
    deadline = time.monotonic() + ceiling
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {ceiling:.0f} s for {what}, in vain")
        time.sleep(POLL_SECONDS)
