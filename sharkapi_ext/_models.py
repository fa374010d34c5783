"""`Job` and `JobStatus`: the SDK's own small, typed, immutable views of the API's answers.

They are parsed by hand rather than by the generated models, because the generated
parsers raise `KeyError`/`ValueError` on a missing field or an unknown status, and the
SDK promises a typed error or a tolerant parse instead. Every field received, unknown
ones included, stays in `raw`; `model` gives the same answer as the generated
`sharkapi_client` model, so a field added by a later spec is typed as soon as the
package is regenerated. Which statuses are terminal comes from the spec.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, TypeVar

import attrs
import httpx
import sharkapi_spec as spec
from sharkapi_client.models import Job as JobModel
from sharkapi_client.models import JobStatus as JobStatusModel

from ._exceptions import UnexpectedResponseError, body_excerpt

__all__ = ["KNOWN_STATUSES", "TERMINAL_STATUSES", "Job", "JobStatus", "parse_money"]

#: Statuses that end a job (the spec's ``x-sharkapi-statuses``). Any other status,
#: known or not, means "not finished yet".
TERMINAL_STATUSES: frozenset[str] = spec.TERMINAL_STATUSES
#: Every status the spec lists; the API may add more (treated as not finished).
KNOWN_STATUSES: frozenset[str] = frozenset(spec.JOB_STATUSES)

# The spec's `Money` pattern (at most 9 integer and 6 fraction digits): an amount past it
# is not an answer this SDK can trust, and a million digits would overflow the Decimal
# arithmetic of every total (batch summaries, the MCP spend cap) later.
_MONEY = re.compile(spec.MONEY_PATTERN)
JOB_ID_PATTERN = re.compile(spec.JOB_ID_PATTERN)


def parse_money(text: str) -> Decimal:
    """Parse an amount such as ``"$0.02"`` as a `Decimal` (never a float).

    Raises:
        ValueError: The text does not match the spec's ``Money`` pattern
            (``sharkapi_spec.MONEY_PATTERN``): ``$``, then a decimal number with at most
            as many digits as the pattern allows.
    """
    if not isinstance(text, str) or _MONEY.fullmatch(text) is None:
        shown = text[:40] + "..." if isinstance(text, str) and len(text) > 40 else text
        size = f" ({len(text)} characters)" if isinstance(text, str) and len(text) > 40 else ""
        raise ValueError(
            f"not a Money amount of the spec ({spec.MONEY_PATTERN}), such as '$0.02': "
            f"{shown!r}{size}"
        )
    return Decimal(text[1:])


#: The header that carries an answer's request id.
REQUEST_ID_HEADER = "x-request-id"


def _no_headers() -> Mapping[str, str]:
    return _EMPTY_HEADERS


def _read_only(headers: Mapping[str, str]) -> Mapping[str, str]:
    # A view, not a copy (a poll's cost matters): httpx's Headers stay case-insensitive
    # behind it, and nothing else holds the answer's headers.
    if isinstance(headers, MappingProxyType):
        return headers
    if not isinstance(headers, httpx.Headers):
        headers = httpx.Headers(headers)
    return MappingProxyType(headers)


_EMPTY_HEADERS: Mapping[str, str] = MappingProxyType({})


@attrs.frozen(slots=True)
class Job:
    """A job the API has just accepted (the 202 answer of a submit).

    Attributes:
        job_id: The job's id; keep it to resume with `wait(job_id)`.
        status: ``"queued"`` on creation.
        estimated_cost: The estimate, in dollars.
        poll_url: The API's URL for this job (informative: the SDK polls by id).
        created_at: When the job was created.
        raw: Every field received, unknown ones included.
        headers: The answer's HTTP headers, read-only and case-insensitive: a header the
            API adds later (a rate-limit count, say) is readable here at once.
    """

    job_id: str
    status: str
    estimated_cost: Decimal
    poll_url: str
    created_at: datetime
    raw: Mapping[str, Any] = attrs.field(repr=False, eq=False)
    headers: Mapping[str, str] = attrs.field(
        factory=_no_headers, repr=False, eq=False, converter=_read_only
    )

    @property
    def request_id(self) -> str | None:
        """The answer's ``X-Request-Id`` (quote it to the vendor's support), if it had one."""
        return self.headers.get(REQUEST_ID_HEADER)

    @property
    def model(self) -> JobModel:
        """The answer as the generated `sharkapi_client` model, every field typed.

        Fields the spec added after this SDK was written are typed here as soon as the
        package is regenerated.

        Raises:
            UnexpectedResponseError: The answer does not fit the generated model.
        """
        return _as_model(JobModel, self.raw, self.job_id, "generateImage")


@attrs.frozen(slots=True)
class JobStatus:
    """The state of a job, as one poll saw it.

    Attributes:
        job_id: The job's id.
        status: One of ``sharkapi_spec.JOB_STATUSES``, or a status added by the API
            later (treated as not finished).
        mode: One of ``sharkapi_spec.MODES`` (or a mode added later).
        created_at: When the job was created.
        updated_at: When it last changed, if the API said.
        estimated_cost: The estimate, in dollars.
        cost: The final cost once finished (``0`` for failed or moderated jobs), else None.
        image_url: Where the PNG is, once complete. Fetch it with `download`.
        error_code: Why it failed or was moderated (``error.code``), else None.
        error_message: The API's explanation (``error.message``), else None.
        poll_url: The API's URL for this job.
        raw: Every field received, unknown ones included.
        headers: The answer's HTTP headers, read-only and case-insensitive: a header the
            API adds later (a rate-limit count, say) is readable here at once.
    """

    job_id: str
    status: str
    mode: str
    created_at: datetime
    updated_at: datetime | None
    estimated_cost: Decimal
    cost: Decimal | None
    image_url: str | None
    error_code: str | None
    error_message: str | None
    poll_url: str
    raw: Mapping[str, Any] = attrs.field(repr=False, eq=False)
    headers: Mapping[str, str] = attrs.field(
        factory=_no_headers, repr=False, eq=False, converter=_read_only
    )

    @property
    def request_id(self) -> str | None:
        """The answer's ``X-Request-Id`` (quote it to the vendor's support), if it had one."""
        return self.headers.get(REQUEST_ID_HEADER)

    @property
    def is_terminal(self) -> bool:
        """True once the job has ended: a status in ``sharkapi_spec.TERMINAL_STATUSES``."""
        return self.status in TERMINAL_STATUSES

    @property
    def is_complete(self) -> bool:
        """True when the job finished with an image (``sharkapi_spec.SUCCESS_STATUS``)."""
        return self.status == spec.SUCCESS_STATUS

    @property
    def model(self) -> JobStatusModel:
        """The answer as the generated `sharkapi_client` model, every field typed.

        Fields the spec added after this SDK was written are typed here as soon as the
        package is regenerated.

        Raises:
            UnexpectedResponseError: The answer does not fit the generated model (for
                instance a mode this package was generated without).
        """
        return _as_model(JobStatusModel, self.raw, self.job_id, "getJob")


_M = TypeVar("_M", JobModel, JobStatusModel)


def _as_model(model: type[_M], raw: Mapping[str, Any], job_id: str, operation: str) -> _M:
    try:
        return model.from_dict(dict(raw))
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise UnexpectedResponseError(
            f"job {job_id}: the answer does not fit the generated {model.__name__} model "
            f"({type(exc).__name__}: {str(exc)[:200]})",
            status_code=spec.OPERATIONS[operation]["success_status"],
            body=body_excerpt(json.dumps(dict(raw), default=str).encode()),
            job_id=job_id,
        ) from exc


#: The fields of each answer this SDK reads. The spec declares them all; a spec that
#: renames or removes one breaks `tests/spec` (and its answers raise, naming the change).
JOB_FIELDS_READ: tuple[str, ...] = ("job_id", "status", "estimated_cost", "poll_url", "created_at")
JOB_STATUS_FIELDS_READ: tuple[str, ...] = (
    "job_id",
    "status",
    "mode",
    "created_at",
    "updated_at",
    "estimated_cost",
    "cost",
    "image_url",
    "error",
    "poll_url",
)


class _Fields:
    """Typed access to one JSON object, raising `UnexpectedResponseError` on a mismatch."""

    __slots__ = ("content", "data", "declared", "schema", "status_code", "what")

    def __init__(
        self,
        content: bytes,
        status_code: int,
        what: str,
        schema: str = "",
        declared: tuple[str, ...] = (),
    ) -> None:
        self.status_code = status_code
        self.content = content
        self.what = what
        # The spec schema this answer follows, and the fields the (regenerated) spec
        # declares in it: a missing field then names the spec change.
        self.schema = schema
        self.declared = declared
        try:
            data = json.loads(content)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both
            raise self.error("is not JSON") from exc
        except RecursionError as exc:  # "[[[[..." a megabyte deep
            raise self.error("is JSON nested too deeply") from exc
        if not isinstance(data, dict):
            raise self.error("is not a JSON object")
        self.data: dict[str, Any] = data

    def error(self, problem: str) -> UnexpectedResponseError:
        job_id = None
        data = getattr(self, "data", None)
        if isinstance(data, dict):
            candidate = data.get("job_id")
            if isinstance(candidate, str) and JOB_ID_PATTERN.fullmatch(candidate):
                job_id = candidate
        return UnexpectedResponseError(
            f"HTTP {self.status_code} {self.what} {problem}",
            status_code=self.status_code,
            body=body_excerpt(self.content),
            job_id=job_id,
        )

    def missing(self, name: str, when: str = "") -> UnexpectedResponseError:
        """The error for a field this SDK reads that the answer lacks, naming the change."""
        version = f"openapi.yaml {spec.SPEC_VERSION}"
        if name not in self.declared:
            change = (
                f"{version} no longer declares {name!r} in {self.schema} (renamed or "
                f"removed), but this SDK reads it: it needs a code change for this API "
                f"version ({self.schema} declares: {', '.join(self.declared)})"
            )
        else:
            change = (
                f"{version} declares {name!r} in {self.schema}{when}, so the API no longer "
                "answers as the spec this SDK was built from says (a renamed or removed "
                "field?); upgrade the SDK or report it"
            )
        return self.error(f"lacks field {name!r}: {change}")

    def present(self, name: str) -> bool:
        """Whether the answer has `name`; a field the spec no longer declares must be there.

        Absent nullable fields mean null (the spec's word), unless the spec has dropped the
        field: then the SDK cannot tell null from a renamed field, and says so.
        """
        if name in self.data:
            return True
        if name not in self.declared:
            raise self.missing(name)
        return False

    def string(self, name: str) -> str:
        value = self.data.get(name)
        if not isinstance(value, str):
            if name not in self.data:
                raise self.missing(name)
            raise self.error(_mismatch(name, "a string", value))
        return value

    def optional_string(self, name: str) -> str | None:
        if not self.present(name):
            return None
        value = self.data.get(name)
        if value is not None and not isinstance(value, str):
            raise self.error(_mismatch(name, "a string or null", value))
        return value

    def job_id(self) -> str:
        value = self.string("job_id")
        if not JOB_ID_PATTERN.fullmatch(value):
            raise self.error(f"has a malformed job_id {value[:40]!r}")
        return value

    def money(self, name: str) -> Decimal:
        try:
            return parse_money(self.string(name))
        except ValueError as exc:
            raise self.error(f"field {name!r}: {exc}") from exc

    def optional_money(self, name: str) -> Decimal | None:
        if not self.present(name):
            return None
        return None if self.data.get(name) is None else self.money(name)

    def time(self, name: str) -> datetime:
        try:
            return datetime.fromisoformat(self.string(name))
        except ValueError as exc:
            raise self.error(f"field {name!r} is not an ISO 8601 time") from exc

    def optional_time(self, name: str) -> datetime | None:
        if not self.present(name):
            return None
        return None if self.data.get(name) is None else self.time(name)

    def error_detail(self) -> tuple[str | None, str | None]:
        if not self.present("error"):
            return None, None
        detail = self.data.get("error")
        if detail is None:
            return None, None
        if not isinstance(detail, dict):
            raise self.error(_mismatch("error", "an object or null", detail))
        code, message = detail.get("code"), detail.get("message")
        return (
            code if isinstance(code, str) else None,
            message if isinstance(message, str) else None,
        )


def _mismatch(name: str, expected: str, value: object) -> str:
    got = "missing" if value is None else f"a {type(value).__name__}"
    return f"field {name!r} should be {expected}, got {got}"


def parse_job(content: bytes, status_code: int, headers: Mapping[str, str] | None = None) -> Job:
    """Parse the 202 answer of a submit.

    Args:
        content: The body.
        status_code: The answer's status.
        headers: The answer's headers, kept on the `Job`.

    Raises:
        UnexpectedResponseError: The body is not a Job; it names the job id if it has one,
            and a field this SDK reads that the answer lacks, with the spec change.
    """
    fields = _Fields(content, status_code, "answer to the submit", "Job", spec.JOB_FIELDS)
    job = Job(
        job_id=fields.job_id(),
        status=fields.string("status"),
        estimated_cost=fields.money("estimated_cost"),
        poll_url=fields.string("poll_url"),
        created_at=fields.time("created_at"),
        raw=MappingProxyType(fields.data),
        headers=_EMPTY_HEADERS if headers is None else headers,
    )
    if not job.status:
        raise fields.error("has an empty status")
    return job


def parse_job_status(
    content: bytes, status_code: int, headers: Mapping[str, str] | None = None
) -> JobStatus:
    """Parse the 200 answer of a job poll, accepting statuses it does not know.

    Args:
        content: The body.
        status_code: The answer's status.
        headers: The answer's headers, kept on the `JobStatus`.

    Raises:
        UnexpectedResponseError: A required field is missing or has the wrong type; a
            field this SDK reads is missing (named with the spec change), including
            ``image_url`` of a job that is complete.
    """
    fields = _Fields(
        content, status_code, "answer to the job poll", "JobStatus", spec.JOB_STATUS_FIELDS
    )
    code, message = fields.error_detail()
    status = fields.string("status")
    if not status:
        raise fields.error("has an empty status")
    image_url = fields.optional_string("image_url")
    if status == spec.SUCCESS_STATUS and not image_url:
        # Found now, not when a download fails later: a complete job has its image.
        if "image_url" not in fields.data:
            raise fields.missing("image_url", f" for a {status!r} job")
        raise fields.error(f"is {status!r} but its 'image_url' is {image_url!r}")
    return JobStatus(
        job_id=fields.job_id(),
        status=status,
        mode=fields.string("mode"),
        created_at=fields.time("created_at"),
        updated_at=fields.optional_time("updated_at"),
        estimated_cost=fields.money("estimated_cost"),
        cost=fields.optional_money("cost"),
        image_url=image_url,
        error_code=code,
        error_message=message,
        poll_url=fields.string("poll_url"),
        raw=MappingProxyType(fields.data),
        headers=_EMPTY_HEADERS if headers is None else headers,
    )
