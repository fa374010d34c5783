"""The sandbox, seen through a third party: `prism proxy openapi.yaml <sandbox> --errors`.

Prism forwards each request to the sandbox and checks the sandbox's answer against
openapi.yaml; with `--errors` a violation turns the answer into a 500 carrying Prism's
report. A scripted session covering every documented answer of both operations must
come back with the sandbox's own statuses, none replaced by a violation.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from prism_tools import SPEC, running_prism

from sharkapi_ext.sandbox import Sandbox, SandboxConfig

PNG_1X1 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4"
    "nGNgYGBgAAAABQABpfZFQAAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, str]]:
    """A sandbox, and the URL of a Prism proxy in front of it (both stopped afterwards)."""
    config = SandboxConfig(queued_seconds=0.05, processing_seconds=0.1, retry_after_seconds=1)
    log = tmp_path_factory.mktemp("prism-proxy") / "prism.log"
    with (
        Sandbox(config) as sandbox,
        running_prism("proxy", str(SPEC), sandbox.base_url, "--errors", log=log) as url,
    ):
        yield sandbox, url


VIOLATION = "prism/errors#VIOLATIONS"


def raw_call(url: str, token: str, method: str, path: str, **kwargs: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    return httpx.request(method, url + path, headers=headers, timeout=10.0, **kwargs)  # type: ignore[arg-type]


def call(url: str, token: str, method: str, path: str, **kwargs: object) -> httpx.Response:
    """A request through the proxy, failing on Prism's verdict of a violation."""
    response = raw_call(url, token, method, path, **kwargs)
    assert VIOLATION not in response.text, response.text
    return response


@pytest.mark.parametrize("fault", ["bad-schema", "wrong-status"])
def test_the_proxy_catches_a_violation(proxied: tuple[Sandbox, str], fault: str) -> None:
    """The check has teeth: a sandbox fault that breaks the spec is reported by Prism."""
    sandbox, url = proxied
    response = raw_call(
        url,
        sandbox.token,
        "POST",
        "/v1/generate",
        json={"prompt": "x", "mode": "1k"},
        headers={"X-Sandbox-Fault": fault},
    )
    assert response.status_code == 500
    assert VIOLATION in response.text


def test_a_whole_session_through_prism_has_no_violation(proxied: tuple[Sandbox, str]) -> None:
    sandbox, url = proxied
    token = sandbox.token
    submitted = call(url, token, "POST", "/v1/generate", json={"prompt": "a shark", "mode": "2k"})
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["job_id"]
    statuses = set()
    for _ in range(100):
        polled = call(url, token, "GET", f"/v1/jobs/{job_id}")
        assert polled.status_code == 200, polled.text
        statuses.add(polled.json()["status"])
        if polled.json()["status"] == "complete":
            break
        time.sleep(0.05)
    assert polled.json()["status"] == "complete"
    assert Decimal(polled.json()["cost"].lstrip("$")) == Decimal("0.02")
    assert "complete" in statuses

    img2img = call(
        url,
        token,
        "POST",
        "/v1/generate",
        json={"prompt": "as a watercolor", "mode": "1k", "image": PNG_1X1, "image_strength": 0.6},
    )
    assert img2img.status_code == 202, img2img.text

    for prompt, final in (("a [fail] shark", "failed"), ("a [moderate] shark", "moderated")):
        job = call(url, token, "POST", "/v1/generate", json={"prompt": prompt, "mode": "1k"}).json()
        for _ in range(100):
            body = call(url, token, "GET", f"/v1/jobs/{job['job_id']}").json()
            if body["status"] == final:
                break
            time.sleep(0.05)
        assert body["status"] == final
        assert body["error"]["code"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/v1/jobs/job_0000000000000000", {}, 404),
        ("POST", "/v1/generate", {"json": {"prompt": "a [blocked] shark", "mode": "1k"}}, 422),
        (
            "POST",
            "/v1/generate",
            {"json": {"prompt": "x", "mode": "1k"}, "headers": {"X-Sandbox-Fault": "429"}},
            429,
        ),
        (
            "POST",
            "/v1/generate",
            {"json": {"prompt": "x", "mode": "1k"}, "headers": {"X-Sandbox-Fault": "503"}},
            503,
        ),
        (
            "GET",
            "/v1/jobs/job_0000000000000000",
            {"headers": {"X-Sandbox-Fault": "503-no-retry-after"}},
            503,
        ),
    ],
)
def test_documented_errors_pass_through_prism(
    proxied: tuple[Sandbox, str], method: str, path: str, kwargs: dict[str, object], status: int
) -> None:
    sandbox, url = proxied
    response = call(url, sandbox.token, method, path, **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"]


def test_wallet_and_token_errors_pass_through_prism(proxied: tuple[Sandbox, str]) -> None:
    sandbox, url = proxied
    sandbox.add_token("sk_test_poor", balance=Decimal("0.01"))
    sandbox.add_token("sk_test_revoked", revoked=True)
    short = call(url, "sk_test_poor", "POST", "/v1/generate", json={"prompt": "x", "mode": "2k"})
    assert short.status_code == 402, short.text
    revoked = call(url, "sk_test_revoked", "GET", "/v1/jobs/job_0000000000000000")
    assert revoked.status_code == 403, revoked.text
    unknown = call(url, "not_a_sandbox_token", "GET", "/v1/jobs/job_0000000000000000")
    assert unknown.status_code == 401, unknown.text
