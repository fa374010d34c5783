"""The spend cap: the worst case of everything submitted since start, never past the cap."""

from __future__ import annotations

from decimal import Decimal

from sharkapi_spec import MODE_PRICES

from sharkapi_ext import SharkAPIError

__all__ = ["Reservation", "SpendCap", "SpendCapExceededError"]


class SpendCapExceededError(SharkAPIError):
    """A submit would take the session's worst-case spend past the cap; nothing was sent.

    Attributes:
        cap: The cap, in dollars.
        counted: What was already counted, in dollars.
        price: The worst-case price of the refused submit.
    """

    def __init__(self, *, cap: Decimal, counted: Decimal, price: Decimal) -> None:
        super().__init__(
            f"spend cap reached: ${counted:.2f} of the ${cap:.2f} cap is already counted for "
            f"this session, and this job could cost ${price:.2f}; nothing was sent"
        )
        self.cap: Decimal = cap
        self.counted: Decimal = counted
        self.price: Decimal = price


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

    Raises:
        ValueError: The cap is not a finite Decimal >= 0.
    """

    def __init__(self, cap: Decimal) -> None:
        if not isinstance(cap, Decimal) or not cap.is_finite() or cap < 0:
            raise ValueError(f"max_cost: must be a finite Decimal >= 0, got {cap!r}")
        self.cap: Decimal = cap
        self.counted: Decimal = Decimal(0)

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
