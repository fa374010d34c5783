"""The generated models round-trip every document the spec's response schemas allow.

Documents are drawn from openapi.yaml itself with schemathesis's JSON Schema
strategies (hypothesis-jsonschema is not installed; schemathesis 4 has its own
generator, reached here through its public `as_strategy()` by wrapping each schema
as a request body of a throw-away operation). They include extra properties, which
the models must keep.

Properties, for every response schema and every drawn document `d`:
- `Model.from_dict(d).to_dict() == d`, after one normalisation: date-time strings
  are compared as (date, time, fraction, offset) by an RFC 3339 parser of our own
  (`spec_helpers.rfc3339_parts`), because `to_dict()` writes `isoformat()`, which
  spells `Z` as `+00:00` and pads fractions to 6 digits. Nothing else is forgiven:
  the wall-clock time, the offset and every significant fractional digit must
  survive, and every date-time must really parse into an aware `datetime` (the
  nullable fields' parser would otherwise keep an unparsable string unnoticed).
- `Model.from_dict(x.to_dict()) == x` for `x = Model.from_dict(d)`.

The spec's date-time `pattern` is what makes the first property true: RFC 3339 also
allows lower-case `t`/`z`, leap seconds, year 0000 and more than 6 fractional digits,
none of which `datetime.fromisoformat` reads without loss on Python 3.11 (see
test_date_time_pattern_*).
"""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schema_documents import documents
from sharkapi_client.models import Error, ErrorDetail, Job, JobStatus
from spec_helpers import load_spec, rfc3339_parts, validator_for

MODELS: dict[str, Any] = {
    "Job": Job,
    "JobStatus": JobStatus,
    "Error": Error,
    "ErrorDetail": ErrorDetail,
}
DATE_TIME_FIELDS = {"Job": ("created_at",), "JobStatus": ("created_at", "updated_at")}
ROUND_TRIP = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def normalised(name: str, doc: dict[str, Any]) -> dict[str, Any]:
    out = dict(doc)
    for field in DATE_TIME_FIELDS.get(name, ()):
        if isinstance(out.get(field), str):
            out[field] = rfc3339_parts(out[field])
    return out


def check_round_trip(name: str, doc: dict[str, Any]) -> None:
    validator_for(f"/components/schemas/{name}").validate(doc)  # the generator is honest
    model = MODELS[name]
    x = model.from_dict(doc)
    for field in DATE_TIME_FIELDS.get(name, ()):
        if isinstance(doc.get(field), str):
            value = getattr(x, field)
            assert isinstance(value, datetime.datetime), f"{field} stayed {value!r}"
            assert value.tzinfo is not None
    again = x.to_dict()
    assert normalised(name, again) == normalised(name, doc)
    validator_for(f"/components/schemas/{name}").validate(again)
    assert model.from_dict(again) == x


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_round_trips_every_document_the_schema_allows(name: str) -> None:
    seen = {"extra": 0, "total": 0}

    @ROUND_TRIP
    @given(doc=documents(name))
    def run(doc: dict[str, Any]) -> None:
        check_round_trip(name, doc)
        schema = load_spec()["components"]["schemas"][name]
        seen["total"] += 1
        seen["extra"] += bool(set(doc) - set(schema["properties"]))

    run()
    assert seen["total"] >= 200
    assert seen["extra"] > 0, "no document with extra properties was drawn"


def test_examples_of_the_spec_round_trip() -> None:
    spec = load_spec()
    job_examples = spec["paths"]["/v1/generate"]["post"]["responses"]["202"]["content"]
    status_examples = spec["paths"]["/v1/jobs/{job_id}"]["get"]["responses"]["200"]["content"]
    for example in job_examples["application/json"]["examples"].values():
        check_round_trip("Job", example["value"])
    for example in status_examples["application/json"]["examples"].values():
        check_round_trip("JobStatus", example["value"])


# --- the date-time pattern: exactly the RFC 3339 strings fromisoformat reads losslessly ---

DATE_TIME_POINTERS = [
    "/components/schemas/Job/properties/created_at",
    "/components/schemas/JobStatus/properties/created_at",
    "/components/schemas/JobStatus/properties/updated_at",
]


def test_date_time_fields_share_one_pattern() -> None:
    patterns = set()
    for pointer in DATE_TIME_POINTERS:
        node: Any = load_spec()
        for token in pointer[1:].split("/"):
            node = node[token]
        assert node["format"] == "date-time"
        patterns.add(node["pattern"])
    assert len(patterns) == 1


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-15t10:23:44Z",  # lower-case t: RFC 3339 allows it, fromisoformat rejects it
        "2024-01-15T10:23:44z",  # lower-case z: likewise
        "2016-12-31T23:59:60Z",  # a real leap second: RFC 3339 allows it, datetime cannot hold it
        "2024-01-15T10:23:44.1234567Z",  # 7 digits: fromisoformat silently drops the 7th
        "0000-01-01T00:00:00Z",  # year 0000: RFC 3339 allows it, datetime starts at year 1
        "2024-01-15T10:23:44",  # no offset: not RFC 3339
    ],
)
def test_date_time_pattern_rejects_what_fromisoformat_cannot_keep(text: str) -> None:
    assert not validator_for(DATE_TIME_POINTERS[0]).is_valid(text)


DATE_TIME_PATTERN = load_spec()["components"]["schemas"]["Job"]["properties"]["created_at"][
    "pattern"
]


# fullmatch: in ECMA 262 regexes (JSON Schema's) `$` does not match before a final
# newline; in Python's `re`, which jsonschema uses, it does ("...Z\n" passes there).
@ROUND_TRIP
@given(text=st.from_regex(DATE_TIME_PATTERN, fullmatch=True))
def test_date_time_pattern_admits_only_what_fromisoformat_keeps(text: str) -> None:
    if not validator_for(DATE_TIME_POINTERS[0]).is_valid(text):  # e.g. month 13: format rejects
        return
    parsed = datetime.datetime.fromisoformat(text)
    assert rfc3339_parts(parsed.isoformat()) == rfc3339_parts(text)
    assert re.fullmatch(r".*(Z|[+-][0-9]{2}:[0-9]{2})", text)
