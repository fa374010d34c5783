"""The async client's admission: a place in its window, then a turn under the learned rate.

Every API request and download of one `AsyncSharkAPI` (and of its `with_options` copies)
passes here before it goes out. Two gates, each sans-I/O in `_pacing`, driven here with
the client's sleep and clock:

- the window (`_pacing.Window`): how many requests may be in flight, grown in rounds as
  answers come back (a slow start), so a first burst against a rate-limited API meets a
  few 429s rather than dozens;
- the pacing gate (`_pacing.Pacer`): once the API has throttled (or a ``rate_limit`` was
  given), the rate requests may go out at, and the pause after a ``Retry-After``.

The flows ask the pacing gate for their turn themselves (`_retry`); what is left here is
a request that passed that check while the gate was still open and then waited for a
place: it gives the place back and takes its turn, so that a queue built before the
first 429 does not all go out when the pause ends. Whatever ends a wait here, nothing was
sent: a timeout is `httpx.PoolTimeout` (never sent, so `_retry` may retry a submit), and a
cancellation is marked with `UNSENT_ATTR`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final

import httpx

from ._pacing import Pacer, Window
from ._retry import UNSENT_ATTR

__all__ = ["Admission"]

#: Requests in flight at first (the slow start's first round, `_pacing.Window`).
INITIAL_WINDOW: Final = 16


class Admission:
    """One client's window and pacing turns (see the module docstring).

    Args:
        pacer: The client's pacing gate.
        maximum: The most requests in flight at once (the pool's connections).
        sleep: The client's sleep.
        clock: The client's monotonic clock.
    """

    def __init__(
        self,
        pacer: Pacer,
        maximum: int,
        sleep: Callable[[float], Awaitable[object]],
        clock: Callable[[], float],
    ) -> None:
        self._pacer = pacer
        self._sleep = sleep
        self._clock = clock
        # Against a fast API the window is at `maximum` after three rounds, a few
        # milliseconds; against a rate-limited one it stops growing at the first 429.
        self._window = Window(INITIAL_WINDOW, maximum)
        self._gate = asyncio.Semaphore(self._window.size)
        self._timers: set[asyncio.Future[None]] = set()  # the slow start's round timers

    async def enter(self, request: httpx.Request, deadline: float, api_call: bool) -> None:
        """Wait for a place in the window (and, for an API call, its pacing turn).

        Args:
            request: What will be sent (named by a timeout).
            deadline: The request's deadline on the client's clock.
            api_call: An API request (a download is not paced: another host).

        Raises:
            httpx.PoolTimeout: No place or turn before the deadline; nothing was sent.
        """
        pacer = self._pacer
        # Whether the flow took a turn at the pacing gate (it asks only while the gate is
        # active), read in the same loop turn as the flow's own check.
        paced = pacer.active
        while True:
            if self._gate.locked():
                waited = await self._wait_for_place(deadline, request)
            else:  # free: taken at once, without the cost of arming a timer
                await self._gate.acquire()
                waited = False
            if not (
                pacer.active and api_call and (waited or not paced or pacer.paused_for() > 0.0)
            ):
                return
            # The request waited for its place while the pacing gate closed (a first burst
            # queued before the first 429, a Retry-After pause), or its turn went stale
            # while it waited: it gives the place back and takes a turn now, so that the
            # queue does not go out at once (nothing was sent yet). Holding the place
            # meanwhile would keep out requests whose turn has come.
            self._gate.release()
            await self._wait_turn(deadline, request)
            paced = True

    def leave(self, accepted: bool | None, throttled: bool) -> None:
        """Give the place back, and tell the window how the request ended.

        Args:
            accepted: None when nothing went out; else whether the API took the request.
            throttled: The API answered 429 or 503.
        """
        if accepted is None:
            self._gate.release()  # never went out: its place goes to the next
        else:
            for _ in range(self._window.answered(accepted, throttled)):
                self._gate.release()

    async def _wait_for_place(self, deadline: float, request: httpx.Request) -> bool:
        """Wait for a place in the window (the gate is full); True once it is taken."""
        window = self._window
        if window.wants_timer():
            # A slow round must not stall the client (`Window.expire`).
            timer = asyncio.ensure_future(self._expire_round(window.round))
            self._timers.add(timer)
            timer.add_done_callback(self._timers.discard)
        # Time spent waiting for the client's own gate is time before anything was sent:
        # running out of it is a PoolTimeout, which `_retry` knows was never sent (a
        # submit stuck here is retried, not reported as "outcome unknown").
        try:
            async with asyncio.timeout(max(deadline - self._clock(), 0.0)):
                await self._gate.acquire()
        except TimeoutError as exc:
            raise httpx.PoolTimeout(
                "no free connection within the timeout; nothing was sent", request=request
            ) from exc
        except asyncio.CancelledError as exc:
            setattr(exc, UNSENT_ATTR, True)  # cancelled while queued: nothing went out
            raise
        return True

    async def _expire_round(self, round_number: int) -> None:
        await self._sleep(Window.ROUND_SECONDS)
        for _ in range(self._window.expire(round_number)):
            self._gate.release()

    async def _wait_turn(self, deadline: float, request: httpx.Request) -> None:
        # The pacing gate's turn, for a request that passed the flow's check before the
        # gate closed: the pause first, then the learned rate.
        pacer = self._pacer
        submit = request.method != "GET"
        pacer.waiting(submit, 1)
        try:
            while (delay := pacer.delay(submit)) > 0.0:
                if self._clock() + delay > deadline:
                    raise httpx.PoolTimeout(
                        "no turn under the API's rate limit before this request's deadline; "
                        "nothing was sent",
                        request=request,
                    )
                await self._sleep(delay)
        except asyncio.CancelledError as exc:
            setattr(exc, UNSENT_ATTR, True)
            raise
        finally:
            pacer.waiting(submit, -1)
