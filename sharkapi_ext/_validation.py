"""What is a valid submit: every check made before a request is sent or paid for.

All limits come from the spec (`sharkapi_spec`, generated from openapi.yaml), so a
regenerated spec changes them here with no hand edit:

1. The typed keywords (``prompt``, ``mode``, ``image``, ``image_strength``) are checked
   one by one, for errors that name the field and the limit in plain words.
2. ``extra_fields`` carries request fields the spec declares but `submit` has no
   keyword for yet (a field added in a later API release): any JSON value.
3. The whole body is then validated against the spec's ``GenerateRequest`` JSON Schema
   (``jsonschema``, Draft 2020-12; ``jsonschema-rs`` first, when the ``speedups`` extra
   is installed), so every limit of every field, new ones included, holds before
   anything is sent. The image stands in as a short placeholder: its own
   checks (size, PNG/JPEG, base64 length) run on the file itself, which is streamed.

The mode rule: the API requires ``mode``; the SDK makes it optional and defaults to
`DEFAULT_MODE`, the cheapest priced mode, always sending it explicitly.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import sharkapi_spec as spec

from ._exceptions import InvalidRequestError
from ._images import load_image

if TYPE_CHECKING:
    from ._images import _Loaded

__all__ = [
    "DEFAULT_MODE",
    "JSON",
    "KEYWORD_FIELDS",
    "check_callback",
    "check_job_id",
    "check_positive",
    "check_prompts",
    "validate_generate",
]

JSON: TypeAlias = "str | int | float | bool | Sequence[JSON] | Mapping[str, JSON] | None"
"""A JSON value, as `extra_fields` takes it."""

#: The mode used when none is given: the spec's cheapest priced mode.
DEFAULT_MODE: Final = spec.DEFAULT_MODE
#: Request fields that `submit` takes as typed keyword arguments; every other field
#: the spec declares goes in ``extra_fields``.
KEYWORD_FIELDS: Final = ("prompt", "mode", "image", "image_strength")
# Stands in for the streamed image when the body is checked against the schema.
# (The shortest base64 text the schema allows: whole 4-character groups.)
_IMAGE_PLACEHOLDER: Final = "A" * (4 * -(-max(spec.IMAGE_MIN_BASE64_LENGTH, 1) // 4))


@cache
def _request_schema() -> dict[str, Any]:
    return copy.deepcopy(dict(spec.GENERATE_REQUEST_SCHEMA))  # a plain, private copy


@cache
def _request_validator() -> Any:  # a jsonschema Draft202012Validator
    # Imported when first needed: jsonschema costs ~40 ms to import, and with the
    # ``speedups`` extra only an invalid request needs it.
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_request_schema())


@cache
def _fast_request_validator() -> Any | None:
    # jsonschema-rs (the ``speedups`` extra), when installed: the same Draft 2020-12
    # check at a hundredth of the cost (0.4 µs against 36 µs a submit). It only says
    # whether the body is valid; an invalid one is described by jsonschema below, so
    # the error does not depend on what is installed.
    try:
        import jsonschema_rs
    except ImportError:
        return None
    return jsonschema_rs.Draft202012Validator(_request_schema())


def _clear_spec_caches() -> None:
    """Forget what was worked out from the spec (tests that stand in a later spec)."""
    for cached in (
        _request_schema,
        _request_validator,
        _fast_request_validator,
        _plain_schema_implied,
        _prompt_pattern,
    ):
        cached.cache_clear()


def _modes_text() -> str:
    return " or ".join(repr(m) for m in spec.MODES)


def _number(value: object) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)  # NaN and infinities are not JSON
    )


def validate_generate(
    prompt: object,
    mode: object,
    image: object,
    image_strength: object,
    extra_fields: object = None,
) -> tuple[dict[str, object], _Loaded | None]:
    """Check a submit's arguments against the spec; nothing is sent before this.

    Returns:
        The JSON fields other than the image, in the order sent, and the loaded image
        (or None).

    Raises:
        InvalidRequestError: Naming the field and the limit.
    """
    if image is None and image_strength is None and extra_fields is None:
        plain = _plain_fields(prompt, mode)
        if plain is not None:
            return plain, None
    if not isinstance(prompt, str):
        raise InvalidRequestError("prompt", f"must be a string, got {type(prompt).__name__}")
    if len(prompt) < spec.PROMPT_MIN_LENGTH:
        raise InvalidRequestError(
            "prompt",
            "must not be empty"
            if not prompt
            else f"at least {spec.PROMPT_MIN_LENGTH} characters, got {len(prompt)}",
        )
    if len(prompt) > spec.PROMPT_MAX_LENGTH:
        raise InvalidRequestError(
            "prompt", f"at most {spec.PROMPT_MAX_LENGTH} characters, got {len(prompt)}"
        )
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequestError(
            "prompt", "must be valid Unicode text (no lone surrogates)"
        ) from exc
    if spec.PROMPT_PATTERN is not None and _prompt_pattern().search(prompt) is None:
        raise InvalidRequestError(
            "prompt",
            "must contain a character other than whitespace"
            if spec.PROMPT_PATTERN == r"\S"
            else f"must match the pattern {spec.PROMPT_PATTERN!r}",
        )
    if not isinstance(mode, str) or mode not in spec.MODES:
        raise InvalidRequestError("mode", f"must be {_modes_text()}, got {mode!r:.40}")
    fields: dict[str, object] = {"prompt": prompt, "mode": str(mode)}
    if image_strength is not None:
        if not _number(image_strength) or not (
            spec.IMAGE_STRENGTH_MIN <= image_strength <= spec.IMAGE_STRENGTH_MAX  # type: ignore[operator]
        ):
            raise InvalidRequestError(
                "image_strength",
                f"must be a number from {spec.IMAGE_STRENGTH_MIN} to {spec.IMAGE_STRENGTH_MAX}"
                f" (server default {spec.IMAGE_STRENGTH_DEFAULT}), got {image_strength!r:.40}",
            )
        if image is None:
            raise InvalidRequestError("image_strength", "needs an image (image-to-image only)")
        fields["image_strength"] = image_strength
    fields.update(_extra(extra_fields))
    loaded = None if image is None else load_image(image)
    if loaded is not None:
        encoded = 4 * ((loaded.size + 2) // 3)
        if encoded > spec.IMAGE_MAX_BASE64_LENGTH:
            raise InvalidRequestError(
                "image",
                f"at most {spec.IMAGE_MAX_BASE64_LENGTH} base64 characters, got {encoded}",
            )
    _check_schema(fields, with_image=loaded is not None)
    return fields, loaded


def _plain_fields(prompt: object, mode: object) -> dict[str, object] | None:
    """The fields of a request of a prompt and a mode alone, when it passes every check.

    The same checks as `validate_generate`, in fewer steps: ``sharkapi batch`` checks
    every line of a big file before its first submit, most lines are just that, and the
    checks one by one cost three times as much. None when any check fails (or when the
    schema must be asked and the ``speedups`` schema check is not installed): the full
    path then decides, and words the error.
    """
    # Without the schema check implied, the jsonschema-rs one (or none: the full path).
    implied = _plain_schema_implied()
    fast = None if implied else _fast_request_validator()
    if (
        (fast is None and not implied)
        or type(prompt) is not str
        or type(mode) is not str
        or not spec.PROMPT_MIN_LENGTH <= len(prompt) <= spec.PROMPT_MAX_LENGTH
        or mode not in spec.MODES
    ):
        return None
    if not prompt.isascii():
        try:
            prompt.encode("utf-8")
        except UnicodeEncodeError:
            return None
    if spec.PROMPT_PATTERN is not None and _prompt_pattern().search(prompt) is None:
        return None
    fields: dict[str, object] = {"prompt": prompt, "mode": mode}
    return fields if fast is None or fast.is_valid(fields) else None


# What the schema may say of `prompt` and `mode` for the checks above to imply it. Any
# other keyword (a new required field, a oneOf, a prompt format...) means asking it.
_OBJECT_KEYWORDS: Final = frozenset(
    {"type", "title", "description", "required", "properties", "additionalProperties"}
    | {"dependentRequired"}
)
_PROMPT_KEYWORDS: Final = frozenset(
    {"type", "title", "description", "examples", "minLength", "maxLength", "pattern"}
)
_MODE_KEYWORDS: Final = frozenset({"type", "title", "description", "examples", "enum"})


@cache
def _plain_schema_implied() -> bool:
    """Whether a prompt and a mode that pass the checks of `_plain_fields` meet the schema.

    True when the spec's ``GenerateRequest`` schema asks nothing more of such a body
    than those checks do (the limits they take from the same spec, read from it again
    here): then the schema check, a third of a batch line's check, is skipped for it.
    Decided once per process from the schema itself, so a spec that asks more (a new
    required field, another prompt rule) is asked again for every request.
    """
    schema = _request_schema()
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return False
    prompt, mode = properties.get("prompt"), properties.get("mode")
    dependent = schema.get("dependentRequired", {})
    plain = {"prompt", "mode"}

    def keywords(node: object, allowed: frozenset[str]) -> bool:
        return isinstance(node, dict) and all(
            key in allowed or key.startswith("x-") for key in node
        )

    return (
        keywords(schema, _OBJECT_KEYWORDS)
        and schema.get("type") == "object"
        and set(schema.get("required", ())) <= plain
        and isinstance(dependent, dict)
        and all(set(dependent[name]) <= plain for name in plain & set(dependent))
        and keywords(prompt, _PROMPT_KEYWORDS)
        and keywords(mode, _MODE_KEYWORDS)
        and isinstance(prompt, dict)
        and isinstance(mode, dict)
        and prompt.get("type") == "string"
        and prompt.get("minLength", 0) <= spec.PROMPT_MIN_LENGTH
        and prompt.get("maxLength", spec.PROMPT_MAX_LENGTH) >= spec.PROMPT_MAX_LENGTH
        and prompt.get("pattern", spec.PROMPT_PATTERN) == spec.PROMPT_PATTERN
        and mode.get("type", "string") == "string"
        and set(spec.MODES) <= set(mode.get("enum", spec.MODES))
    )


def _extra(extra_fields: object) -> dict[str, object]:
    if extra_fields is None:
        return {}
    if not isinstance(extra_fields, Mapping):
        raise InvalidRequestError(
            "extra_fields", f"must be a mapping of field names, got {type(extra_fields).__name__}"
        )
    extra: dict[str, object] = {}
    for name, value in extra_fields.items():
        if not isinstance(name, str):
            raise InvalidRequestError("extra_fields", f"field names are strings, got {name!r:.40}")
        if name in KEYWORD_FIELDS:
            raise InvalidRequestError(
                name, f"pass {name}= as its own argument, not in extra_fields"
            )
        if name not in spec.GENERATE_REQUEST_FIELDS:
            known = ", ".join(f for f in spec.GENERATE_REQUEST_FIELDS if f not in KEYWORD_FIELDS)
            raise InvalidRequestError(
                name,
                "is not a request field of this API version (openapi.yaml "
                f"{spec.SPEC_VERSION}; extra fields it declares: {known or 'none'})",
            )
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidRequestError(name, f"must be a JSON value: {exc}") from exc
        extra[name] = value
    return extra


def _check_schema(fields: dict[str, object], *, with_image: bool) -> None:
    document = dict(fields)
    if with_image:
        document["image"] = _IMAGE_PLACEHOLDER
    fast = _fast_request_validator()
    if fast is not None and fast.is_valid(document):
        return
    errors = sorted(
        _request_validator().iter_errors(document), key=lambda e: [str(p) for p in e.path]
    )
    if not errors:
        return
    error = errors[0]
    path = [str(part) for part in error.absolute_path]
    if error.validator in ("required", "additionalProperties", "dependentRequired"):
        field = path[0] if path else _named_in(error.message)
    else:
        field = ".".join(path) or "request"
    limit = "" if isinstance(error.validator_value, dict | list) else f" ({error.validator} "
    limit += f"{error.validator_value!r:.60})" if limit else ""
    raise InvalidRequestError(field, f"{error.message[:200]}{limit}")


def _named_in(message: str) -> str:
    # jsonschema names the field in quotes: "'seed' is a required property".
    start = message.find("'")
    end = message.find("'", start + 1)
    return message[start + 1 : end] if 0 <= start < end else "request"


# -- the other arguments -----------------------------------------------------------------


@cache
def _prompt_pattern() -> re.Pattern[str]:
    assert spec.PROMPT_PATTERN is not None
    return re.compile(spec.PROMPT_PATTERN)


def check_positive(name: str, value: object) -> float:
    """A positive, finite number of seconds, as a float.

    Raises:
        InvalidRequestError: Naming the argument.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidRequestError(name, f"must be a positive number of seconds, got {value!r}")
    return float(value)


def check_generate_request(
    prompt: str,
    *,
    mode: str = DEFAULT_MODE,
    image: object = None,
    image_strength: float | None = None,
    extra_fields: Mapping[str, JSON] | None = None,
) -> None:
    """Check a generation request exactly as `submit` would, without sending anything.

    For callers that check many requests before paying for any (``sharkapi batch``
    checks every line of its file first). An image file is checked (size, PNG/JPEG)
    but not kept in memory.

    Args:
        prompt: The prompt.
        mode: The mode.
        image: A source image (path, bytes, or file), or None.
        image_strength: The source's weight, or None.
        extra_fields: Other request fields the spec declares, or None.

    Raises:
        InvalidRequestError: Naming the field and the limit.
    """
    plain = image is None and image_strength is None and extra_fields is None
    if plain and _plain_fields(prompt, mode) is not None:
        return  # a batch checks every line first: this is most of them, in one step
    validate_generate(prompt, mode, image, image_strength, extra_fields)


def check_prompts(
    prompts: Sequence[str], *, mode: str = DEFAULT_MODE
) -> list[tuple[int, InvalidRequestError]]:
    """Check many prompts as `submit` would check each alone with `mode`, sending nothing.

    The bulk form of `check_generate_request` for plain prompts, with the same errors:
    a list that passes is checked in a few passes over the whole list rather than a call
    per prompt (``sharkapi batch`` checks its file this way, block by block, before its
    first submit).

    Args:
        prompts: The prompts (a list, not one string).
        mode: The mode every one of them would be sent with.

    Returns:
        The index and the error of each prompt `submit` would refuse, in order; empty
        when it would accept every one.

    Raises:
        InvalidRequestError: ``prompts`` is a single string rather than a sequence.
    """
    if isinstance(prompts, str):
        raise InvalidRequestError("prompts", "must be a sequence of prompts, not one string")
    if _plain_prompts_pass(prompts, mode):
        return []
    errors: list[tuple[int, InvalidRequestError]] = []
    for index, prompt in enumerate(prompts):
        try:
            check_generate_request(prompt, mode=mode)
        except InvalidRequestError as exc:
            errors.append((index, exc))
    return errors


def _plain_prompts_pass(prompts: Sequence[object], mode: object) -> bool:
    """Whether every prompt, sent with `mode` alone, passes `_plain_fields`'s checks.

    The same checks over the whole list at once (each a pass in C: `map`, `min`, one
    join), so a block of a batch file costs a fraction of a call per line. False means
    "ask one by one" (a prompt fails, or the schema must be asked): never a verdict.
    """
    if (
        not prompts
        or not _plain_schema_implied()
        or type(mode) is not str
        or mode not in spec.MODES
        or not set(map(type, prompts)) <= {str}
    ):
        return False
    texts: Sequence[str] = prompts  # type: ignore[assignment]  # all str, checked above
    if (
        min(map(len, texts)) < spec.PROMPT_MIN_LENGTH
        or max(map(len, texts)) > spec.PROMPT_MAX_LENGTH
    ):
        return False
    joined = "".join(texts)
    if not joined.isascii():
        try:
            joined.encode("utf-8")  # a lone surrogate anywhere fails the whole list
        except UnicodeEncodeError:
            return False
    del joined
    return spec.PROMPT_PATTERN is None or all(map(_prompt_pattern().search, texts))


def check_callback(name: str, value: object) -> None:
    """Check that a callback argument is a function or None.

    Raises:
        InvalidRequestError: Naming the argument.
    """
    if value is not None and not callable(value):
        raise InvalidRequestError(name, f"must be a function or None, got {type(value).__name__}")


def check_job_id(job: object) -> str:
    """The job id of a `Job`, a `JobStatus` or a string, checked as `get_job` would.

    For callers that take a job id from a user or a file (``sharkapi wait``, ``batch
    --adopt``) and want the SDK's error before any request.

    Args:
        job: A `Job`, a `JobStatus` or a job id.

    Returns:
        The job id, which matches the spec's job-id pattern.

    Raises:
        InvalidRequestError: Not a job id (named ``job_id``, with the pattern's limits).
    """
    # Here, not at the top: the models load the generated package, which a command line
    # that only checks prompts (`sharkapi batch`'s check pass) need not import.
    from ._models import JOB_ID_PATTERN, Job, JobStatus

    job_id = job.job_id if isinstance(job, Job | JobStatus) else job
    if not isinstance(job_id, str) or not JOB_ID_PATTERN.fullmatch(job_id):
        shown = job_id[:60] if isinstance(job_id, str) else type(job_id).__name__
        raise InvalidRequestError(
            "job_id", f"must be 1 to 128 letters, digits, '_' or '-', got {shown!r}"
        )
    return job_id
