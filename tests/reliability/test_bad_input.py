"""Hostile arguments to every public method: a clear InvalidRequestError, and nothing sent.

Each case draws, for one method, a set of arguments of which at least one is hostile
(wrong type, empty or huge string, NaN or infinity, bytes that are not an image, a
truncated PNG, a path that does not exist or is a directory, ...) and the rest valid.
The client sends through a recording transport: a hostile call must raise
InvalidRequestError (a `SharkAPIError`) and record no request at all.

The bugs this suite found (arguments checked only after a paid request, TypeErrors
instead of InvalidRequestError) are fixed; their exact inputs stay below as regression
tests, and the random draws cover those arguments too.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import math
import os
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import scale

from sharkapi_ext import (
    AsyncSharkAPI,
    InvalidRequestError,
    JobStatus,
    SharkAPI,
    SharkAPIError,
    decode_image,
    encode_image,
)

EXAMPLES = scale("SHARKAPI_HYPOTHESIS_N", 40)
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
COUNTS: collections.Counter[str] = collections.Counter()

TOKEN = "sk_test_bad_input"
BASE = "http://127.0.0.1:9"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
HERE = Path(__file__).resolve().parent
JOB_BODY = {
    "job_id": "job_1",
    "status": "queued",
    "mode": "1k",
    "created_at": "2024-01-01T00:00:00Z",
    "estimated_cost": "$0.01",
    "poll_url": BASE + "/v1/jobs/job_1",
}

# -- hostile values ----------------------------------------------------------------------

SPECIAL_FLOATS = st.sampled_from([math.nan, -math.nan, math.inf, -math.inf, -0.0, 0.0, 1e308, -1.0])
HUGE_TEXT = st.sampled_from(["x" * 2001, "🦈" * 2001, "x" * 200_000, "a" * 10_000_000])
ODD_TEXT = st.sampled_from(["", " ", "\x00", "\ud800", "\n", "..", "/", "\\", "🦈", "1k ", "1K"])
MISSING_PATHS = st.sampled_from(
    ["/nonexistent/shark.png", "does-not-exist.png", str(HERE / "missing.png"), "\x00.png"]
)
DIRECTORIES = st.sampled_from([str(HERE), "/", ".", HERE, Path("/tmp")])
NOT_IMAGES = st.one_of(
    st.binary(max_size=64).filter(lambda b: not b.startswith((PNG_MAGIC, b"\xff\xd8\xff"))),
    st.sampled_from([b"GIF89a" + b"\x00" * 20, b"<html>", b"\x00" * 1024, b"%PDF-1.4"]),
    st.integers(0, 7).map(lambda n: PNG_MAGIC[:n]),  # truncated below the signature
    st.integers(0, 2).map(lambda n: b"\xff\xd8\xff"[:n]),
)
ANY_HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**100, -(10**100), -1, 0]),
    st.floats(allow_nan=True, allow_infinity=True),
    SPECIAL_FLOATS,
    st.text(max_size=40),
    HUGE_TEXT,
    ODD_TEXT,
    st.binary(max_size=40),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    st.builds(object),
    st.just(Ellipsis),
    st.just(type),
    MISSING_PATHS,
    DIRECTORIES,
    NOT_IMAGES,
)


def _positive_number(value: object) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and value > 0
    )


def _valid_prompt(value: object) -> bool:
    if not isinstance(value, str) or not 1 <= len(value) <= 2000:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _valid_image(value: object) -> bool:
    if isinstance(value, bytes | bytearray):
        return bytes(value[:8]).startswith(PNG_MAGIC) or bytes(value[:3]) == b"\xff\xd8\xff"
    if isinstance(value, str | os.PathLike):
        try:
            return Path(value).is_file()
        except (OSError, ValueError):
            return False
    return False


def _valid_strength(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and 0.0 <= value <= 1.0


def _valid_job_id(value: object) -> bool:
    import re

    return isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,128}", value) is not None


def _valid_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        url = httpx.URL(value)
    except Exception:
        return False
    return url.scheme in ("http", "https") and bool(url.host)


def _valid_token(value: object) -> bool:
    return (
        isinstance(value, str)
        and value != ""
        and value.isascii()
        and value.isprintable()
        and not any(c.isspace() for c in value)
    )


def _valid_base_url(value: object) -> bool:
    if value is None or value == "":
        return True  # None or "": the environment variable, then the default URL
    if not _valid_url(value):
        return False
    url = httpx.URL(value)
    return url.scheme == "https" or url.host in ("127.0.0.1", "localhost", "::1")


def _valid_int(value: object, least: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value >= least


def _b64_ok(value: object) -> bool:
    try:
        raw = value.encode("ascii") if isinstance(value, str) else value
        base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError, TypeError, AttributeError):
        return False
    return True


def hostile(valid: Any) -> st.SearchStrategy[Any]:
    """Values for which `valid(value)` is False."""
    return ANY_HOSTILE.filter(lambda value: not valid(value))


VALID_STATUS = JobStatus.__new__(JobStatus)  # replaced in _complete_status()


def _complete_status(image_url: str | None) -> JobStatus:
    from sharkapi_ext._models import parse_job_status

    body = {
        **JOB_BODY,
        "status": "complete" if image_url else "failed",
        "updated_at": None,
        "cost": "$0.01",
        "image_url": image_url,
        "error": None,
    }
    import json

    return parse_job_status(json.dumps(body).encode(), 200)


# Per method: the valid baseline of each argument and the strategy of hostile values.
ARGS: dict[str, dict[str, tuple[Any, st.SearchStrategy[Any]]]] = {
    "constructor": {
        "token": (TOKEN, hostile(lambda v: v is None or _valid_token(v))),
        "base_url": (BASE, hostile(_valid_base_url)),
        "timeout": (1.0, hostile(_positive_number)),
        "max_retries": (0, hostile(lambda v: _valid_int(v, 0))),
        "poll_interval": (0.1, hostile(_positive_number)),
    },
    "submit": {
        "prompt": ("a shark", hostile(_valid_prompt)),
        "mode": ("1k", hostile(lambda v: v in ("1k", "2k"))),
        "image": (None, hostile(lambda v: v is None or _valid_image(v))),
        # Valid only with an image: with image=None any strength but None is hostile.
        "image_strength": (None, hostile(lambda v: v is None)),
    },
    "get_job": {"job_id": ("job_1", hostile(_valid_job_id))},
    "wait": {
        "job": ("job_1", hostile(_valid_job_id)),
        "timeout": (0.5, hostile(_positive_number)),
        "poll_interval": (None, hostile(lambda v: v is None or _positive_number(v))),
        "on_update": (None, hostile(lambda v: v is None or callable(v))),
    },
    "generate": {
        "prompt": ("a shark", hostile(_valid_prompt)),
        "mode": ("1k", hostile(lambda v: v in ("1k", "2k"))),
        "image": (None, hostile(lambda v: v is None or _valid_image(v))),
        "image_strength": (None, hostile(lambda v: v is None)),
        "timeout": (0.5, hostile(_positive_number)),
        "on_update": (None, hostile(lambda v: v is None or callable(v))),
    },
    "download": {
        "image": (BASE + "/img.png", hostile(_valid_url)),
        "dest": ("out/", hostile(lambda v: isinstance(v, str | os.PathLike))),
        "timeout": (1.0, hostile(_positive_number)),
        "max_bytes": (1024, hostile(lambda v: _valid_int(v, 1))),
    },
    "generate_many": {
        "requests": (
            ["a shark"],
            st.one_of(
                st.lists(hostile(_valid_prompt), min_size=1, max_size=3),
                hostile(lambda v: isinstance(v, list | tuple) and not isinstance(v, str)),
            ),
        ),
        "concurrency": (2, hostile(lambda v: _valid_int(v, 1))),
        "mode": ("1k", hostile(lambda v: v in ("1k", "2k"))),
    },
}


@st.composite
def calls(draw: st.DrawFn, method: str) -> dict[str, Any]:
    spec = ARGS[method]
    bad = draw(st.sets(st.sampled_from(sorted(spec)), min_size=1))
    return {
        name: draw(strategy) if name in bad else valid for name, (valid, strategy) in spec.items()
    }


# -- the recording clients -----------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.sent: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return httpx.Response(500, text="<html>a hostile argument reached the network</html>")


def _sync_call(method: str, kwargs: dict[str, Any], recorder: Recorder) -> object:
    transport = httpx.MockTransport(recorder)
    options = {"base_url": BASE, "timeout": 1.0, "max_retries": 0}
    if method == "constructor":
        with httpx.Client(transport=transport) as http:
            return SharkAPI(kwargs.pop("token"), http_client=http, **kwargs)
    with (
        httpx.Client(transport=transport) as http,
        SharkAPI(TOKEN, http_client=http, **options) as c,
    ):
        if method == "get_job":
            return c.get_job(kwargs["job_id"])
        if method == "wait":
            return c.wait(kwargs.pop("job"), **kwargs)
        if method == "download":
            return c.download(kwargs.pop("image"), kwargs.pop("dest"), **kwargs)
        prompt = kwargs.pop("prompt")
        return getattr(c, method)(prompt, **kwargs)


def _async_call(method: str, kwargs: dict[str, Any], recorder: Recorder) -> object:
    async def run() -> object:
        transport = httpx.MockTransport(recorder)
        options = {"base_url": BASE, "timeout": 1.0, "max_retries": 0}
        async with httpx.AsyncClient(transport=transport) as http:
            if method == "constructor":
                return AsyncSharkAPI(kwargs.pop("token"), http_client=http, **kwargs)
            async with AsyncSharkAPI(TOKEN, http_client=http, **options) as c:
                if method == "get_job":
                    return await c.get_job(kwargs["job_id"])
                if method == "wait":
                    return await c.wait(kwargs.pop("job"), **kwargs)
                if method == "download":
                    return await c.download(kwargs.pop("image"), kwargs.pop("dest"), **kwargs)
                if method == "generate_many":
                    return await c.generate_many(kwargs.pop("requests"), **kwargs)
                prompt = kwargs.pop("prompt")
                return await getattr(c, method)(prompt, **kwargs)

    return asyncio.run(run())


def check(twin: str, method: str, kwargs: dict[str, Any], tmp: Path) -> None:
    COUNTS[f"{method} ({twin})"] += 1
    recorder = Recorder()
    shown = {k: (repr(v)[:60]) for k, v in kwargs.items()}
    with contextlib.chdir(tmp), mock.patch.dict(os.environ, clear=False) as env:
        env.pop("SHARKAPI_TOKEN", None)
        env.pop("SHARKAPI_BASE_URL", None)
        try:
            call = _sync_call if twin == "sync" else _async_call
            result = call(method, dict(kwargs), recorder)
        except InvalidRequestError:
            result = None
        except SharkAPIError as exc:
            pytest.fail(f"{method}({shown}) raised {type(exc).__name__}, not InvalidRequestError")
    if method == "generate_many" and isinstance(result, list):
        # generate_many reports each item's error in its result list.
        odd = [r for r in result if not isinstance(r, InvalidRequestError)]
        assert not odd, f"generate_many({shown}) -> {odd!r}"
    elif result is not None:
        pytest.fail(f"{method}({shown}) accepted hostile arguments: {result!r}")
    assert not recorder.sent, (
        f"{method}({shown}) sent {recorder.sent[0].method} {recorder.sent[0].url}"
    )


TWINS = ["sync", "async"]


@pytest.mark.parametrize("twin", TWINS)
@pytest.mark.parametrize(
    "method", ["constructor", "submit", "get_job", "wait", "generate", "download"]
)
def test_hostile_arguments(method: str, twin: str, tmp_path: Path) -> None:
    @SETTINGS
    @given(calls(method))
    def run(kwargs: dict[str, Any]) -> None:
        check(twin, method, kwargs, tmp_path)

    run()


def test_hostile_generate_many(tmp_path: Path) -> None:
    @SETTINGS
    @given(calls("generate_many"))
    def run(kwargs: dict[str, Any]) -> None:
        check("async", "generate_many", kwargs, tmp_path)

    run()


@SETTINGS
@given(hostile(lambda v: _valid_image(v) or hasattr(v, "read")))
def test_hostile_encode_image(source: object) -> None:
    COUNTS["encode_image"] += 1
    with pytest.raises(InvalidRequestError):
        encode_image(source)


@SETTINGS
@given(
    st.one_of(st.text(max_size=40), HUGE_TEXT, ODD_TEXT, st.binary(max_size=40)).filter(
        lambda v: not _b64_ok(v)
    )
)
def test_hostile_decode_image(text: object) -> None:
    COUNTS["decode_image"] += 1
    with pytest.raises(InvalidRequestError):
        decode_image(text)


def test_download_of_a_job_without_image_sends_nothing(tmp_path: Path) -> None:
    for twin in TWINS:
        check(
            twin,
            "download",
            {"image": _complete_status(None), "dest": "out/", "timeout": 1.0},
            tmp_path,
        )


def test_truncated_png_with_its_signature_is_left_to_the_server() -> None:
    """The client checks magic bytes only: a PNG cut after its signature is sent, and the
    API's 400 comes back as BadRequestError (a documented SharkAPIError)."""
    from sharkapi_ext import BadRequestError
    from sharkapi_ext.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(queued_seconds=0.01, processing_seconds=0.01)) as sandbox:
        with SharkAPI(sandbox.token, base_url=sandbox.base_url, max_retries=0) as client:
            for cut in (8, 16, 33, 40):  # Pillow tolerates a PNG cut after its pixels
                COUNTS["truncated PNG (server-checked)"] += 1
                with pytest.raises(BadRequestError):
                    client.submit("a shark", mode="1k", image=TINY_PNG[:cut], image_strength=0.5)
        assert sandbox.submissions() == []


# -- bugs found here, now fixed: their exact failing inputs --------------------------------

FIXED_BUGS = {
    "generate(timeout=nan) submits a paid job, then raises": ("generate", {"timeout": math.nan}),
    "generate(timeout=-1) submits a paid job, then raises": ("generate", {"timeout": -1}),
    "generate(on_update=5) is not checked before the submit": ("generate", {"on_update": 5}),
    "wait(on_update=5) polls, then TypeError": ("wait", {"on_update": 5}),
    "download(max_bytes='big') fetches, then TypeError": ("download", {"max_bytes": "big"}),
    "download(max_bytes=-1) fetches, then DownloadError": ("download", {"max_bytes": -1}),
}


# Found here too, pinned by the tests below (scripts/reliability lists them all).
OTHER_FIXED_BUGS = (
    "decode_image(<not str/bytes>) raised TypeError",
    "generate_many(requests=5) raised TypeError",
)


@pytest.mark.parametrize("twin", TWINS)
@pytest.mark.parametrize("bug", sorted(FIXED_BUGS))
def test_fixed_bug(bug: str, twin: str, tmp_path: Path) -> None:
    method, hostile_args = FIXED_BUGS[bug]
    baseline = {name: valid for name, (valid, _) in ARGS[method].items()}
    check(twin, method, {**baseline, **hostile_args}, tmp_path)


@pytest.mark.parametrize("value", [123, None, 1.5, ["aGk="]])
def test_fixed_bug_decode_image_wrong_type(value: object) -> None:
    with pytest.raises(InvalidRequestError):
        decode_image(value)


@pytest.mark.parametrize("requests", [5, None, 1.5, "a shark"])
def test_fixed_bug_generate_many_not_a_list(requests: object, tmp_path: Path) -> None:
    kwargs = {"requests": requests, "concurrency": 2, "mode": "1k"}
    check("async", "generate_many", kwargs, tmp_path)


def test_fixed_bug_generate_many_item_on_update(tmp_path: Path) -> None:
    kwargs = {"requests": [{"prompt": "a shark", "on_update": 3}], "concurrency": 2, "mode": "1k"}
    check("async", "generate_many", kwargs, tmp_path)
