"""Construction: token, base URL, plain-http refusal, repr, ownership of the HTTP client."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx
import pytest
from client_helpers import API, JOB_ID, TOKEN, Script, Twin, accepted, polled

from sharkapi_ext import AsyncSharkAPI, InvalidRequestError, SharkAPI


def test_token_from_argument(twin: Twin) -> None:
    twin.script.add(polled())
    twin("sk_arg").get_job(JOB_ID)
    assert twin.script.requests[0].headers["authorization"] == "Bearer sk_arg"


def test_token_from_env(twin: Twin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARKAPI_TOKEN", "sk_env")
    twin.script.add(polled())
    twin(None).get_job(JOB_ID)
    assert twin.script.requests[0].headers["authorization"] == "Bearer sk_env"


@pytest.mark.parametrize("token", [None, ""])
def test_missing_token_names_the_field(twin: Twin, token: str | None) -> None:
    with pytest.raises(InvalidRequestError, match="SHARKAPI_TOKEN") as info:
        twin.new(token)
    assert info.value.field == "token"


def test_malformed_token_is_not_echoed(twin: Twin) -> None:
    with pytest.raises(InvalidRequestError) as info:
        twin.new("sk secret with spaces")
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(
    ("arg", "env", "expected"),
    [
        ("https://arg.example", "https://env.example", "https://arg.example/v1/jobs/"),
        (None, "https://env.example/base/", "https://env.example/base/v1/jobs/"),
        (None, None, f"{API}/v1/jobs/"),
    ],
)
def test_base_url_from_arg_env_default(
    twin: Twin, monkeypatch: pytest.MonkeyPatch, arg: str | None, env: str | None, expected: str
) -> None:
    if env:
        monkeypatch.setenv("SHARKAPI_BASE_URL", env)
    twin.script.add(polled())
    twin(base_url=arg).get_job(JOB_ID)
    assert str(twin.script.requests[0].url) == expected + JOB_ID


# "*.localhost" resolves through DNS on many systems: plain http there would trust the
# resolver with the token (issue 12, class 9).
@pytest.mark.parametrize(
    "url", ["http://api.example.com", "http://10.0.0.1:8000", "http://a.localhost"]
)
def test_plain_http_refused(twin: Twin, url: str) -> None:
    with pytest.raises(InvalidRequestError, match="https") as info:
        twin.new(base_url=url)
    assert info.value.field == "base_url"
    twin.new(base_url=url, allow_insecure_http=True)


@pytest.mark.parametrize(
    "url",
    ["http://localhost:8000", "http://127.0.0.1:9", "http://[::1]:8080"],
)
def test_plain_http_allowed_on_loopback(twin: Twin, url: str) -> None:
    twin.new(base_url=url)


@pytest.mark.parametrize("url", ["ftp://api.example.com", "not a url", "https://"])
def test_bad_base_url(twin: Twin, url: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        twin.new(base_url=url)
    assert info.value.field == "base_url"


def test_repr_and_str_hide_the_token(twin: Twin) -> None:
    client = twin.new()
    assert TOKEN not in repr(client)
    assert TOKEN not in str(client)
    assert "api.sharkapi.dev" in repr(client)


def test_given_http_client_is_used_and_never_closed(twin: Twin) -> None:
    twin.script.add(polled())
    http = twin.http_client()
    client = twin(http_client=http)
    client.get_job(JOB_ID)
    client.close()
    assert not http.is_closed
    assert len(twin.script.requests) == 1


def test_own_client_closed_by_close() -> None:
    client = SharkAPI(TOKEN)
    client.close()
    assert client._http.is_closed
    with SharkAPI(TOKEN) as other:
        pass
    assert other._http.is_closed


def test_own_async_client_closed_by_aclose() -> None:
    async def main() -> None:
        client = AsyncSharkAPI(TOKEN)
        await client.aclose()
        assert client._http.is_closed
        async with AsyncSharkAPI(TOKEN) as other:
            pass
        assert other._http.is_closed

    asyncio.run(main())


def test_context_manager_keeps_a_given_client_open(twin: Twin) -> None:
    http = twin.http_client()

    async def use_async() -> None:
        async with AsyncSharkAPI(TOKEN, http_client=http):
            pass

    if twin.is_async:
        asyncio.run(use_async())
    else:
        with SharkAPI(TOKEN, http_client=http):
            pass
    assert not http.is_closed


def test_wrong_http_client_type(twin: Twin) -> None:
    wrong = httpx.Client() if twin.is_async else httpx.AsyncClient()
    with pytest.raises(InvalidRequestError) as info:
        twin.new(http_client=wrong)
    assert info.value.field == "http_client"
    if twin.is_async:
        wrong.close()  # type: ignore[union-attr]
    else:
        asyncio.run(wrong.aclose())  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "value"),
    [("timeout", 0), ("timeout", float("nan")), ("poll_interval", -1), ("max_retries", -1)],
)
def test_bad_options(twin: Twin, name: str, value: float) -> None:
    with pytest.raises(InvalidRequestError) as info:
        twin.new(**{name: value})
    assert info.value.field == name


def test_token_only_to_the_api_origin(twin: Twin, tmp_path: object) -> None:
    """The caller's client has its own default Authorization: the API gets ours, the CDN none."""
    script = Script(
        accepted(),
        polled("complete"),
        httpx.Response(200, content=b"\x89PNG\r\n\x1a\n" + b"x" * 10),
    )
    http = twin.http_client(script, headers={"Authorization": "Bearer caller-default"})
    client = twin(http_client=http)
    job = client.submit("a shark", mode="1k")
    done = client.wait(job.job_id)
    client.download(done, str(tmp_path) + "/")
    submit, poll, fetch = script.requests
    assert submit.headers["authorization"] == f"Bearer {TOKEN}"
    assert poll.headers["authorization"] == f"Bearer {TOKEN}"
    assert fetch.url.host == "cdn.example.net"
    assert "authorization" not in fetch.headers


def test_download_from_the_api_origin_gets_no_token(twin: Twin, tmp_path: object) -> None:
    twin.script.add(httpx.Response(200, content=b"\x89PNG\r\n\x1a\n" + b"x" * 10))
    twin().download(f"{API}/files/x.png", str(tmp_path) + "/")
    assert "authorization" not in twin.script.requests[0].headers


def test_user_agent(twin: Twin) -> None:
    twin.script.add(polled())
    client = twin(http_client=None)
    client.client._http._transport = httpx.MockTransport(twin.script)
    client.get_job(JOB_ID)
    assert twin.script.requests[0].headers["user-agent"].startswith("sharkapi-python/")


def test_callers_default_headers_apply_and_changes_are_seen(twin: Twin) -> None:
    """The merged headers are cached; a change to the caller's client must still show."""
    http = twin.http_client(headers={"X-Team": "a", "Authorization": "Bearer not-ours"})
    client = twin(http_client=http)
    twin.script.add(polled(), polled(), accepted())
    client.get_job(JOB_ID)
    http.headers["X-Team"] = "b"
    client.get_job(JOB_ID)
    client.submit("a shark", mode="1k")
    first, second, post = twin.script.requests
    assert first.headers["X-Team"] == "a"
    assert second.headers["X-Team"] == "b"
    assert post.headers["X-Team"] == "b"
    for request in (first, second, post):
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert len(request.headers.get_list("Authorization")) == 1


@pytest.mark.parametrize(
    "base",
    ["https://api.sharkapi.dev", "http://127.0.0.1:8123", "https://api.example.com:8443/prefix"],
)
@pytest.mark.parametrize("body", [None, b'{"prompt": "a shark"}'])
def test_requests_carry_the_headers_httpx_would_add(
    twin: Twin, base: str, body: bytes | None
) -> None:
    """`_build` sets Host and Content-Length itself; they must be httpx's own."""
    http = twin.http_client(headers={"X-Team": "a"}, cookies={"lb": "7"}, params={"trace": "1"})
    client = twin.new(base_url=base, http_client=http, allow_insecure_http=True)
    method = "GET" if body is None else "POST"
    url = f"{client._base.rstrip('/')}/v1/generate"
    ours = client._build(method, url, 30.0, body=body)
    theirs = http.build_request(method, url, content=body, headers=client._auth)
    assert sorted(ours.headers.multi_items()) == sorted(theirs.headers.multi_items())
    assert ours.url == theirs.url
    assert ours.content == theirs.content
    assert ours.headers.raw[0][0] == b"Host"
    if twin.is_async:
        asyncio.run(client.aclose())  # type: ignore[union-attr]
    else:
        client.close()  # type: ignore[union-attr]


def test_sdk_made_clients_share_one_tls_context_per_ca_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """httpx loads the CA bundle for every client (38 ms); the SDK does it once."""
    import trustme

    from sharkapi_ext._connection import default_ssl_context

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    first = SharkAPI(TOKEN)
    second = AsyncSharkAPI(TOKEN)
    shared = default_ssl_context()
    assert shared.verify_mode == ssl.CERT_REQUIRED
    assert shared.check_hostname
    for client in (first, second):
        pool = client._http._transport._pool  # type: ignore[union-attr]
        assert pool._ssl_context is shared
    first.close()
    asyncio.run(second.aclose())
    # A CA given through SSL_CERT_FILE (as httpx reads it) gets its own context.
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    own = default_ssl_context()
    assert own is not shared
    assert len(own.get_ca_certs()) == 1
