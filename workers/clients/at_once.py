"""Independent calls made at once: each in a thread of a small pool made for the step, over the clients the caller
already holds (httpx's clients are safe to share between threads). Results come back in the order given; an
exception a call raises is raised here, as if the calls had been made one after another.

The pool lives only as long as the step: an rq work-horse is a fork, and a pool made before the fork would have no
threads in it."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Each call's result, the calls made at the same time."""
    if len(calls) <= 1:
        return [call() for call in calls]
    with ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="at-once") as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]
