"""Waiting in tests for what another process, thread or server does, in one poll loop.

A test that waits polls a condition until it holds or a deadline passes: never a fixed
sleep, which is either too short on a loaded machine or too long everywhere else.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class NotYet(AssertionError):
    """The condition did not hold before the deadline."""


def eventually(check: Callable[[], T], *, within: float, what: str, every: float = 0.05) -> T:
    """`check()`'s first truthy value, asked every `every` seconds until `within` have passed;
    `NotYet` naming `what` after that. `check` may raise to end the wait early (a process that
    exited, say)."""
    deadline = time.monotonic() + within
    while not (value := check()):
        if time.monotonic() > deadline:
            raise NotYet(f"not within {within} s: {what}")
        time.sleep(every)
    return value


async def eventually_async(
    check: Callable[[], Awaitable[T]], *, within: float, what: str, every: float = 0.05
) -> T:
    """`eventually` for a check that is a coroutine, without blocking the event loop."""
    deadline = time.monotonic() + within
    while not (value := await check()):
        if time.monotonic() > deadline:
            raise NotYet(f"not within {within} s: {what}")
        await asyncio.sleep(every)
    return value
