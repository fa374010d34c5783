"""The spend cap: the worst case of everything submitted, never past the cap.

One implementation for the library (`AsyncSharkAPI.iter_generate(max_cost=...)`), the
CLI (`sharkapi batch --max-cost`) and the MCP server (`--max-cost`). Whether a refused
submit is un-counted is the exception's own answer (`job_outcome`): the cap never
decides again whether a paid job may exist.
"""

from __future__ import annotations

from decimal import Decimal

from sharkapi_spec import MODE_PRICES

from ._exceptions import InvalidRequestError, SpendCapExceededError, job_outcome

__all__ = ["Reservation", "SpendCap"]


class Reservation:
    """The amount counted for one submit; raised, never lowered, once a job may exist.

    Attributes:
        amount: Dollars counted for it.
    """

    def __init__(self, amount: Decimal) -> None:
        self.amount: Decimal = amount


class SpendCap:
    """Counts the worst-case price of every submit since start and refuses past the cap.

    A submit is counted before it is sent, at the list price of its mode, and raised to
    the job's estimate or final cost when either is higher. It is un-counted only when the
    API says no job was created (a refusal before creation: bad input, 4xx, 429, 503, a
    connection that never reached the server). Failed and moderated jobs stay counted:
    the cap bounds what was submitted, which is what an agent that loops would multiply.
    Nothing in the server raises `cap` after start.

    Attributes:
        cap: The cap, in dollars.
        counted: The worst case counted so far, in dollars.

    Args:
        cap: The cap, in dollars.
        counted: What is already counted (a resumed batch's earlier submits).

    Raises:
        InvalidRequestError: The cap is not a finite Decimal >= 0 (``max_cost``).
    """

    def __init__(self, cap: Decimal, *, counted: Decimal = Decimal(0)) -> None:
        if not isinstance(cap, Decimal) or not cap.is_finite() or cap < 0:
            raise InvalidRequestError("max_cost", f"must be a finite Decimal >= 0, got {cap!r}")
        self.cap: Decimal = cap
        self.counted: Decimal = counted

    @property
    def remaining(self) -> Decimal:
        """What may still be counted before the cap, in dollars."""
        return max(self.cap - self.counted, Decimal(0))

    def reserve(self, mode: str) -> Reservation:
        """Count a submit's worst case before it is sent.

        No await happens between the check and the count, so concurrent tool calls on
        one event loop cannot both pass a cap that only one of them fits under.

        Args:
            mode: The submit's mode (already validated against the spec's enum).

        Returns:
            The reservation, to `raise_to` or `release` later.

        Raises:
            SpendCapExceededError: The submit would take the count past the cap.
        """
        price = MODE_PRICES[mode]
        if self.counted + price > self.cap:
            raise SpendCapExceededError(cap=self.cap, counted=self.counted, price=price)
        self.counted += price
        return Reservation(price)

    def raise_to(self, reservation: Reservation, amount: Decimal | None) -> None:
        """Count more for a submit whose estimate or final cost is above its reservation."""
        if amount is not None and amount > reservation.amount:
            self.counted += amount - reservation.amount
            reservation.amount = amount

    def release(self, reservation: Reservation) -> None:
        """Un-count a submit that the API refused before any job was created."""
        self.counted -= reservation.amount
        reservation.amount = Decimal(0)

    def settle(self, reservation: Reservation, exc: BaseException) -> None:
        """After a submit or generate ended with `exc`: un-count it only if no job can exist."""
        if not job_outcome(exc).may_exist:
            self.release(reservation)
