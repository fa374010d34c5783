"""The client follows the spec's facts (sharkapi_spec): limits, the default mode,
extra request fields, terminal statuses and the generated models."""

from __future__ import annotations

import asyncio
import copy
from types import MappingProxyType
from typing import Any

import httpx
import pytest
import sharkapi_spec as spec
from client_helpers import JOB_ID, PNG, FakeClock, Script, Twin, accepted, polled
from sharkapi_client.models import JobStatus as JobStatusModel

import sharkapi_ext as sdk
from sharkapi_ext import AsyncSharkAPI, _models, _validation
from sharkapi_ext._exceptions import make_status_error


def test_mode_defaults_to_the_cheapest_and_is_always_sent(twin: Twin) -> None:
    twin.script.add(accepted())
    twin().submit("a shark")
    assert twin.script.requests[0].json() == {"prompt": "a shark", "mode": spec.DEFAULT_MODE}
    assert spec.MODE_PRICES[spec.DEFAULT_MODE] == min(spec.MODE_PRICES.values())


@pytest.mark.parametrize("mode", spec.MODES)
def test_every_spec_mode_is_accepted(twin: Twin, mode: str) -> None:
    twin.script.add(accepted())
    twin().submit("a shark", mode=mode)
    assert twin.script.requests[0].json()["mode"] == mode


def test_prompt_limit_is_the_specs(twin: Twin) -> None:
    twin.script.add(accepted())
    client = twin()
    client.submit("x" * spec.PROMPT_MAX_LENGTH)
    with pytest.raises(sdk.InvalidRequestError, match=str(spec.PROMPT_MAX_LENGTH)) as info:
        client.submit("x" * (spec.PROMPT_MAX_LENGTH + 1))
    assert info.value.field == "prompt"
    assert len(twin.script.requests) == 1


@pytest.mark.parametrize(
    "value", [spec.IMAGE_STRENGTH_MIN - 0.01, spec.IMAGE_STRENGTH_MAX + 0.01, float("nan")]
)
def test_image_strength_range_is_the_specs(twin: Twin, value: float) -> None:
    with pytest.raises(sdk.InvalidRequestError, match=str(spec.IMAGE_STRENGTH_MAX)) as info:
        twin().submit("a shark", image=PNG, image_strength=value)
    assert info.value.field == "image_strength"
    assert twin.script.requests == []


@pytest.mark.parametrize(
    ("extra", "field", "match"),
    [
        ({"undeclared": 3}, "undeclared", "not a request field"),
        ({"mode": "2k"}, "mode", "own argument"),
        ({"prompt": "x"}, "prompt", "own argument"),
        ("undeclared=3", "extra_fields", "mapping"),
        ({1: 2}, "extra_fields", "strings"),
    ],
)
def test_extra_fields_the_spec_does_not_declare_are_refused(
    twin: Twin, extra: Any, field: str, match: str
) -> None:
    with pytest.raises(sdk.InvalidRequestError, match=match) as info:
        twin().submit("a shark", extra_fields=extra)
    assert info.value.field == field
    assert twin.script.requests == []


@pytest.fixture
def seed_field(monkeypatch: pytest.MonkeyPatch) -> None:
    """The spec as a later release might have it: an optional integer `later_seed` field."""
    schema = copy.deepcopy(dict(spec.GENERATE_REQUEST_SCHEMA))
    schema["properties"]["later_seed"] = {"type": "integer", "minimum": 0, "maximum": 4294967295}
    monkeypatch.setattr(spec, "GENERATE_REQUEST_SCHEMA", MappingProxyType(schema))
    monkeypatch.setattr(
        spec, "GENERATE_REQUEST_FIELDS", (*spec.GENERATE_REQUEST_FIELDS, "later_seed")
    )
    _validation._clear_spec_caches()
    yield
    _validation._clear_spec_caches()


@pytest.mark.usefixtures("seed_field")
def test_a_field_the_spec_declares_is_sent_through_extra_fields(twin: Twin) -> None:
    twin.script.add(accepted(), accepted())
    client = twin()
    client.submit("a shark", extra_fields={"later_seed": 7})
    client.submit("a shark", image=PNG, extra_fields={"later_seed": 0})
    assert twin.script.requests[0].json() == {
        "prompt": "a shark",
        "mode": spec.DEFAULT_MODE,
        "later_seed": 7,
    }
    assert twin.script.requests[1].json()["later_seed"] == 0
    assert twin.script.requests[1].json()["image"]


@pytest.mark.usefixtures("seed_field")
@pytest.mark.parametrize(("seed", "match"), [(-1, "minimum"), ("7", "integer"), (2**32, "maximum")])
def test_extra_fields_are_checked_against_the_spec_schema(
    twin: Twin, seed: object, match: str
) -> None:
    with pytest.raises(sdk.InvalidRequestError, match=match) as info:
        twin().submit("a shark", extra_fields={"later_seed": seed})
    assert info.value.field == "later_seed"
    assert twin.script.requests == []


def test_an_extra_value_that_is_not_json_is_refused(twin: Twin, monkeypatch: Any) -> None:
    monkeypatch.setattr(
        spec, "GENERATE_REQUEST_FIELDS", (*spec.GENERATE_REQUEST_FIELDS, "later_seed")
    )
    with pytest.raises(sdk.InvalidRequestError, match="JSON") as info:
        twin().submit("a shark", extra_fields={"later_seed": float("inf")})
    assert info.value.field == "later_seed"


def test_wait_ends_at_once_on_a_terminal_status_the_spec_adds(
    twin: Twin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_models, "TERMINAL_STATUSES", spec.TERMINAL_STATUSES | {"cancelled"})
    twin.script.add(polled("processing"), polled("cancelled"))
    with pytest.raises(sdk.JobError, match="'cancelled'") as info:
        twin().wait(JOB_ID, timeout=60)
    assert isinstance(info.value, sdk.JobFailedError)
    assert info.value.status.status == "cancelled"
    assert twin.script.count("GET") == 2
    assert twin.clock.slept == pytest.approx(spec.POLL_INTERVAL_SECONDS)


def test_polls_at_the_specs_interval(twin: Twin) -> None:
    twin.script.add(polled("queued"), polled("processing"), polled("complete"))
    twin().wait(JOB_ID)
    assert twin.clock.sleeps == [spec.POLL_INTERVAL_SECONDS] * 2


def test_a_503_without_retry_after_waits_the_specs_default() -> None:
    error = make_status_error(503, httpx.Headers(), b"{}", retry_after=None)
    assert isinstance(error, sdk.ServiceUnavailableError)
    assert error.retry_after == spec.SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS


def test_job_status_model_types_every_spec_field_and_keeps_new_ones(twin: Twin) -> None:
    twin.script.add(polled("complete", later_seed=7))
    status = twin().get_job(JOB_ID)
    model = status.model
    assert isinstance(model, JobStatusModel)
    assert model.job_id == JOB_ID
    assert model.mode.value == status.mode
    assert model.additional_properties == {"later_seed": 7}


def test_job_status_model_that_does_not_fit_is_a_typed_error(twin: Twin) -> None:
    twin.script.add(polled("processing", mode="16k"))
    status = twin().get_job(JOB_ID)  # the SDK's own parse is tolerant
    assert status.mode == "16k"
    with pytest.raises(sdk.UnexpectedResponseError, match="generated JobStatus model"):
        _ = status.model


def test_job_model(twin: Twin) -> None:
    twin.script.add(accepted())
    job = twin().submit("a shark")
    assert job.model.job_id == job.job_id


@pytest.mark.usefixtures("seed_field")
def test_generate_many_sends_spec_fields_given_in_a_mapping(
    script: Script, clock: FakeClock
) -> None:
    script.add(accepted(), polled("complete"))

    async def run() -> list[Any]:
        async with AsyncSharkAPI(
            "sk_test",
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(script)),
            sleep=clock.asleep,
            clock=clock,
        ) as client:
            return await client.generate_many([{"prompt": "a shark", "later_seed": 5}])

    [done] = asyncio.run(run())
    assert isinstance(done, sdk.JobStatus), done
    assert script.requests[0].json() == {
        "prompt": "a shark",
        "mode": spec.DEFAULT_MODE,
        "later_seed": 5,
    }
