"""The pacing gate: one per client, shared by every API request it sends; no I/O here.

The API's word for 429 is "slow down your requests". A client that retries each 429 on
its own and keeps every other request at full speed is throttled again and again (and
a real account may be suspended). So every request of a client (submits, polls,
``call()``; not image downloads, which go to another host) passes one `Pacer`:

- Until the API first throttles (and when the caller set no ``rate_limit``) the gate
  is open and costs one attribute read and one timestamp per answer.
- A 429 or 503 closes it: a ``Retry-After`` pauses every request of the client until it
  has passed, and the rate falls to ``BETA`` times the rate the API accepted in the last
  second (an estimate of its limit, ``ceiling``).
- While no throttle comes, the rate climbs back along botocore's CUBIC curve
  (`retries/adaptive.py`, RFC 8312): fast towards the ceiling, flat near it, and only
  then probing above it, so that a steady batch meets few 429s. A ``rate_limit`` the
  caller gives caps the rate from the start.
- A token bucket (one token of burst, or a hundredth of a second of rate) spreads the
  requests; a submit waiting for a token goes before any poll, since when requests are
  scarce, starting a job is worth more than asking early about one already running.

The bucket is a dozen lines here rather than a library's: aiolimiter is asyncio-only
(the sync twin needs the same gate) and waits itself, where a flow must only be told how
long to wait; limits and pyrate-limiter answer "allowed or not" for a fixed rate, and
this rate changes with every answer. None adapts, so the adaptive part would be ours
either way, and the whole stays sans-I/O: both twins share it, tests drive it with a
fake clock.

Until the first throttle, only the async client's `Window` bounds a first burst: it grows
in rounds, so that the requests of a round are all answered (a 429 among them shows the
limit) before more go out.

`Pacer.delay` is all a flow needs: it answers "go now" (and takes the token) or "ask
again in so many seconds", which the flow turns into a `Sleep` bounded by its deadline
(`_retry.RetryingRequests._pace_flow`). Thread-safe: the sync client may be shared by
threads. Driven in tests with a fake clock.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from typing import Final

__all__ = ["BETA", "Pacer", "Window"]

#: The share of the estimated limit the rate falls to on a throttle (botocore: 0.7).
BETA: Final = 0.7
# Seconds the CUBIC curve takes to climb back to the ceiling after a throttle. Longer
# than botocore's (about 2 s for these rates): each throttle here costs a Retry-After
# pause of the whole client, so probing above the limit is kept rarer (6 s: 2% of
# requests answered 429 at the sandbox's limit, against 12% with 3 s; section 7).
_RECOVERY_SECONDS: Final = 6.0
# The token bucket's burst, in seconds of rate (at least one token). An API that counts
# requests over a sliding second refuses whatever a burst adds to the rate: a tenth of a
# second (1.5 requests at 15 a second) met a 429 about every other second on the
# plateau; a hundredth keeps a slow rate at one token (exactly the rate in any second)
# and still lets a fast one catch up on a late timer.
_BURST_SECONDS: Final = 0.01
# The lowest rate the gate falls to, in requests a second.
_MIN_RATE: Final = 0.5
# Answers remembered for the estimate of the accepted rate (the last second's worth).
_ACCEPTED_MEMORY: Final = 8192
# Throttles closer together than this are one event (the answers of one burst).
_SAME_EVENT_SECONDS: Final = 1.0


class Pacer:
    """Paces one client's API requests (see the module docstring).

    Args:
        rate_limit: Requests a second the caller knows to be the limit; None to learn it.
        clock: A monotonic clock in seconds (the client's, so tests use a fake one).
        adaptive: False keeps the gate out of the way of throttles: each request then
            handles its own 429s by the retry rules alone (a ``rate_limit`` still holds).

    Attributes:
        active: Whether requests wait on the gate at all (a limit is set or was learned).
    """

    __slots__ = (
        "_accepted",
        "_adaptive",
        "_ceiling",
        "_clock",
        "_filled_at",
        "_limit",
        "_lock",
        "_paused_until",
        "_rate",
        "_resumed_at",
        "_throttled_at",
        "_tokens",
        "_waiting_submits",
        "active",
        "throttles",
    )

    def __init__(
        self, rate_limit: float | None, clock: Callable[[], float], *, adaptive: bool = True
    ) -> None:
        self._clock = clock
        self._adaptive = adaptive
        self._limit = rate_limit
        self.active = rate_limit is not None
        self._rate = rate_limit if rate_limit is not None else math.inf
        self._ceiling = rate_limit if rate_limit is not None else math.inf
        self._tokens = 1.0
        self._filled_at = clock()
        self._paused_until = -math.inf
        self._resumed_at = -math.inf
        self._throttled_at: float | None = None
        self._waiting_submits = 0
        self._accepted: deque[float] = deque(maxlen=_ACCEPTED_MEMORY)
        self._lock = threading.Lock()
        #: Throttle events seen (429/503 answers of one burst count once).
        self.throttles = 0

    @property
    def rate(self) -> float:
        """The rate requests are paced at now, in requests a second (inf when open)."""
        with self._lock:
            return self._current_rate(self._clock()) if self.active else math.inf

    def delay(self, submit: bool) -> float:
        """Seconds to wait before asking again; 0 means "send now" (a token was taken).

        Args:
            submit: The request creates a job: it goes before waiting polls.
        """
        if not self.active:
            return 0.0
        with self._lock:
            now = self._clock()
            if now < self._paused_until:
                return self._paused_until - now
            rate = self._current_rate(now)
            if rate == math.inf:  # paused only: no rate learned yet
                return 0.0
            capacity = max(1.0, rate * _BURST_SECONDS)
            self._tokens = min(capacity, self._tokens + (now - self._filled_at) * rate)
            self._filled_at = now
            if not submit and self._waiting_submits:
                # Let the waiting submits have the next tokens first.
                return max(1.0 - self._tokens, 1.0) / rate
            if self._tokens >= 1.0 - 1e-9:  # (a float step short of a token is one)
                self._tokens = max(self._tokens - 1.0, 0.0)
                return 0.0
            return (1.0 - self._tokens) / rate

    def paused_for(self) -> float:
        """Seconds left of a ``Retry-After`` pause (0 when none)."""
        if not self.active:
            return 0.0
        return max(self._paused_until - self._clock(), 0.0)

    def waiting(self, submit: bool, change: int) -> None:
        """Count a request into (``+1``) or out of (``-1``) the wait for a token."""
        if submit:
            with self._lock:
                self._waiting_submits += change

    def accepted(self) -> None:
        """Note an answer that was not a throttle (the estimate of the limit counts them)."""
        now = self._clock()
        self._accepted.append(now)
        throttled_at = self._throttled_at
        if throttled_at is not None and now - throttled_at < _SAME_EVENT_SECONDS:
            # Answers of the burst that was throttled arrive after its 429s: they show
            # what the API took, and raise the estimate made at the first 429.
            with self._lock:
                estimate = self._accepted_rate(now)
                if estimate is not None and (
                    not math.isfinite(self._ceiling) or estimate > self._ceiling
                ):
                    self._set_ceiling(estimate)

    def throttled(self, retry_after: float | None) -> None:
        """Note a 429 or 503: slow the whole client down, and pause it for ``retry_after``.

        Args:
            retry_after: Seconds the server asked every request to wait, if it said.
        """
        if not self._adaptive:
            return
        with self._lock:
            now = self._clock()
            self.active = True
            # What the API accepted lately estimates its limit. The answers of one burst
            # (throttles and acceptances mixed) are one event: its estimate is the
            # highest seen while they arrive, and the rate is cut once.
            estimate = self._accepted_rate(now)
            same_event = (
                self._throttled_at is not None and now - self._throttled_at < _SAME_EVENT_SECONDS
            )
            if retry_after is not None:
                if now >= self._paused_until:  # the last pause is over: count from its end
                    self._resumed_at = self._paused_until
                self._paused_until = max(self._paused_until, now + retry_after)
            if same_event:
                if estimate is not None and (
                    not math.isfinite(self._ceiling) or estimate > self._ceiling
                ):
                    self._set_ceiling(estimate)
                return
            self.throttles += 1
            current = self._current_rate(now)
            self._throttled_at = now
            if estimate is None:
                if not math.isfinite(current):
                    # Nothing accepted yet and no rate known: the pause alone, until
                    # more answers of this burst show what the API takes (`accepted`).
                    self._ceiling = math.inf
                    return
                estimate = current
            self._set_ceiling(min(estimate, current))

    def _set_ceiling(self, estimate: float) -> None:
        ceiling = max(estimate, _MIN_RATE)
        if self._limit is not None:
            ceiling = min(ceiling, self._limit)
        self._ceiling = ceiling
        self._rate = max(ceiling * BETA, _MIN_RATE)
        self._tokens = min(self._tokens, 1.0)

    def _accepted_rate(self, now: float) -> float | None:
        # Answers accepted a second over the last second, or since the last pause ended
        # (a pause says nothing of the limit); None when that is too short to tell.
        since = max(now - 1.0, self._resumed_at)
        window = now - since
        if window < 0.2:
            return None
        accepted = sum(1 for t in reversed(self._accepted) if t > since)
        return accepted / window if accepted else None

    def _current_rate(self, now: float) -> float:
        # CUBIC (RFC 8312; botocore's CubicCalculator): W(t) = C (t - K)^3 + W_max,
        # with K the time back to W_max. C is chosen so that K is _RECOVERY_SECONDS.
        if self._throttled_at is None or not math.isfinite(self._ceiling):
            return self._rate
        w_max = self._ceiling
        k = _RECOVERY_SECONDS
        c = w_max * (1.0 - BETA) / k**3
        rate = c * (now - self._throttled_at - k) ** 3 + w_max
        if self._limit is not None:
            rate = min(rate, self._limit)
        return max(rate, _MIN_RATE)


class Window:
    """How many requests the async client lets out at once: a slow start in rounds.

    The rate gate above learns a limit only from throttles, so until the first 429
    nothing but this window bounds a first burst. Growing it by one per answer (TCP's
    slow start) lets two requests out per answer; against an API that counts requests
    a second, the ones let out while the first 429 is still on its way back are all
    refused (the answers of one round arrive over tens of milliseconds, the 429 often
    last). So during the slow start the window grows in rounds: a round lets out
    ``size`` requests and waits until all of them are answered; only a round answered
    without a throttle doubles the window (by its accepted answers). The first round
    that meets a 429 or 503, or reaching ``maximum``, ends the slow start; from then
    on each answer frees its own place, and each accepted one adds a place until
    ``maximum``, while the rate gate does the pacing.

    A round that is slow to answer (a stuck request, a long download) must not stall the
    client: when a request has waited ``ROUND_SECONDS`` for the rest of its round, the
    slow start ends (`expire`) and the places held are freed.

    No I/O: the async client holds a semaphore of ``size`` places, takes one per
    request, gives back what `answered` returns, and, when a request has to wait during
    the slow start (`wants_timer`), gives back what `expire` returns a while later.

    Args:
        initial: The first round's size.
        maximum: The largest window (the connection pool's size).

    Attributes:
        size: Requests that may be in flight at once now.
    """

    #: Seconds a request waits for the rest of its round before the slow start ends
    #: (a rate limit's usual period: a round's answers normally come well within it).
    ROUND_SECONDS: Final = 1.0

    __slots__ = (
        "_accepted",
        "_held",
        "_maximum",
        "_slow_start",
        "_throttled",
        "_timed",
        "round",
        "size",
    )

    def __init__(self, initial: int, maximum: int) -> None:
        self.size = min(initial, maximum)
        self._maximum = maximum
        self._slow_start = self.size < maximum
        self._held = 0
        self._accepted = 0
        self._throttled = False
        #: The current round's number (it changes when a round ends).
        self.round = 0
        self._timed = -1

    def wants_timer(self) -> bool:
        """A request has to wait for a place: should it start this round's timer?

        True once per round of the slow start: the caller then calls
        ``expire(round)`` after ``ROUND_SECONDS``.
        """
        if not self._slow_start or self._timed == self.round:
            return False
        self._timed = self.round
        return True

    def expire(self, round_number: int) -> int:
        """A request waited ``ROUND_SECONDS`` for round ``round_number``: end the slow start.

        Returns:
            The places held for that round, to free now (0 if it has ended since).
        """
        if not self._slow_start or round_number != self.round:
            return 0
        self._slow_start = False
        held = self._held
        self._held = self._accepted = 0
        self._throttled = False
        return held

    def answered(self, accepted: bool, throttled: bool) -> int:
        """Note that a request that went out has ended; return the places to free.

        Args:
            accepted: An answer that was not a throttle (a transport error is neither).
            throttled: A 429 or 503 answer.
        """
        if not self._slow_start:
            if accepted and self.size < self._maximum:
                self.size += 1
                return 2  # its own place and a new one
            return 1
        # Slow start: the place is held until the whole round is answered.
        self._held += 1
        self._accepted += accepted
        self._throttled = self._throttled or throttled
        if self._held < self.size:
            return 0
        if self._throttled:
            self._slow_start = False
        else:
            self.size = min(self.size + self._accepted, self._maximum)
            self._slow_start = self.size < self._maximum
        self._held = self._accepted = 0
        self._throttled = False
        self.round += 1
        return self.size
