"""Where and how a client connects: token, base URL, TLS context, pool limits, User-Agent.

Each is resolved once, when a client is built, from its arguments and the environment
(``SHARKAPI_TOKEN``, ``SHARKAPI_BASE_URL``, ``SSL_CERT_FILE``/``SSL_CERT_DIR``), and refused
with an `InvalidRequestError` naming the argument before anything is sent.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import ssl
from typing import Final

import httpx

from ._exceptions import InvalidRequestError
from ._version import __version__

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_LIMITS",
    "MAX_CONNECTIONS",
    "USER_AGENT",
    "default_ssl_context",
    "http_url",
    "is_loopback",
    "resolve_base_url",
    "resolve_token",
]

DEFAULT_BASE_URL: Final = "https://api.sharkapi.dev"
USER_AGENT: Final = f"sharkapi-python/{__version__}"
# The SDK's own httpx pool. The async client also lets no more requests than
# MAX_CONNECTIONS wait on the pool at once: httpcore matches every queued request
# against every connection on each release, which grows with the square of the queue
# (1,000 concurrent polls then starve). Every connection may stay alive: with fewer
# kept alive than in use, httpcore 1.0.x closes each released one, so a steady load
# opened a new connection (and TLS handshake) per request (scripts/bench, section 2).
# The async client's pool (`_pool.KeepAlivePool`) keeps that cheap in CPU too.
MAX_CONNECTIONS: Final = 100
DEFAULT_LIMITS: Final = httpx.Limits(
    max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
)


def default_ssl_context() -> ssl.SSLContext:
    """Httpx's default TLS context (``verify=True``), made once per process.

    httpx makes a new one for every client, loading the whole CA bundle: 38 ms of CPU,
    which each SDK-made client (the default ones, `aiohttp_http_client()`) would pay
    again, and a short CLI or MCP call notices. Keyed by ``SSL_CERT_FILE`` and
    ``SSL_CERT_DIR``, which httpx reads when it builds one.

    Returns:
        The shared context; never modify it.
    """
    return _verified_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=4)
def _verified_context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context(verify=True)  # reads the same two variables


def resolve_token(token: str | None) -> str:
    if token is None:
        token = os.environ.get("SHARKAPI_TOKEN")
    if token is None or token == "":
        raise InvalidRequestError(
            "token", "no API token: pass token=... or set the SHARKAPI_TOKEN environment variable"
        )
    if not isinstance(token, str):
        raise InvalidRequestError("token", f"must be a string, got {type(token).__name__}")
    if not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
        # Never echo the value: it is a secret, even when malformed.
        raise InvalidRequestError("token", "must be printable ASCII with no spaces")
    return token


def is_loopback(host: str) -> bool:
    # Only the literal name: "*.localhost" is resolved through DNS on many systems, and
    # plain http would then trust that resolver with the token.
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_base_url(base_url: str | None, allow_insecure_http: bool) -> httpx.URL:
    if base_url is not None and not isinstance(base_url, str):
        raise InvalidRequestError("base_url", f"must be a string, got {type(base_url).__name__}")
    text = base_url or os.environ.get("SHARKAPI_BASE_URL") or DEFAULT_BASE_URL
    url = http_url("base_url", text)
    if url.scheme == "http" and not allow_insecure_http and not is_loopback(url.host):
        raise InvalidRequestError(
            "base_url",
            f"plain http to {url.host} would send the token in clear; use https, "
            "or pass allow_insecure_http=True",
        )
    return url.copy_with(raw_path=url.raw_path.rstrip(b"/") or b"", query=None, fragment=None)


def http_url(field: str, text: str) -> httpx.URL:
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:  # ValueError: unencodable text
        raise InvalidRequestError(field, f"not a URL: {text[:200]!r}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidRequestError(field, f"must be an http(s) URL with a host, got {text[:200]!r}")
    return url
