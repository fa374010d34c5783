"""The token never reaches a log record, an exception or a repr, whatever happens."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from client_helpers import TOKEN, Twin, accepted, error, polled

import sharkapi_ext as sdk


def test_no_log_record_holds_the_token(
    twin: Twin, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx's included
    caplog.set_level(logging.DEBUG, logger="sharkapi")
    twin.script.add(
        httpx.ConnectError,
        error(429, headers={"Retry-After": "1"}),
        accepted(),
        polled("queued"),
        error(503),
        httpx.ReadTimeout,
        polled("processing"),
        polled("complete"),
        httpx.Response(200, content=b"\x89PNG\r\n\x1a\n0000"),
        polled("failed", job_id="job_other2"),
    )
    client = twin()
    done = client.generate("a shark", mode="1k")
    client.download(done, tmp_path)
    with pytest.raises(sdk.JobFailedError) as info:
        client.wait("job_other2")
    assert any(r.name == "sharkapi" for r in caplog.records)
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        assert TOKEN not in repr(record.__dict__)
    assert TOKEN not in repr(info.value) + str(info.value) + repr(vars(info.value))
    assert TOKEN not in caplog.text


def test_errors_never_hold_the_token(twin: Twin) -> None:
    twin.script.add(error(401), httpx.ReadTimeout)
    client = twin(max_retries=0)
    for call in (lambda: client.get_job("job_1"), lambda: client.submit("x", mode="1k")):
        with pytest.raises(sdk.SharkAPIError) as info:
            call()
        text = str(info.value) + repr(info.value) + repr(info.value.__cause__)
        assert TOKEN not in text
        assert TOKEN not in repr(getattr(info.value, "headers", {}))
