"""HTTP for the network sender, through urllib3.

One pool of keep-alive connections per sender, a total time limit per request,
TLS certificates verified (urllib3's default), the proxy named by the usual
``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY`` variables (with the credentials
they may hold), and urllib3's own retries and redirects switched off: tenacity,
in the sender, is the one retry layer. A failure to get an answer raises
``TransportError``; every answer, whatever its status, is returned. Headers
HTTP cannot carry are refused when the transport is made, with an error that
names the header but never shows its value (http.client's own error would, and
the value is often a token).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, NamedTuple
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    import urllib3

__all__ = ["Response", "Transport", "TransportError", "parse_retry_after", "safe_url"]

#: The most of an answer's body that is read (the rest is discarded).
_MAX_BODY: Final = 64 * 1024
_LOOPBACK: Final = ("localhost", "127.0.0.1", "::1", "[::1]")
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 field names
_UNSENDABLE: Final = re.compile("[\r\n\0\u0100-\U0010ffff]")  # in a field value


class TransportError(Exception):
    """No answer: the connection failed, was reset, or timed out."""


class Response(NamedTuple):
    status: int
    retry_after: float | None
    body: bytes


class Transport:
    """POSTs bodies to one endpoint over pooled connections."""

    def __init__(self, url: str, *, timeout: float, headers: Mapping[str, str]):
        import urllib3

        self.url = url
        self._headers = _checked(headers)
        options: dict[str, Any] = {
            "num_pools": 2,
            "maxsize": 1,  # one worker sends, one request at a time
            "timeout": urllib3.Timeout(total=timeout),
            "retries": False,
        }
        proxy = _proxy_for(url)
        self._pool: urllib3.PoolManager = (
            urllib3.ProxyManager(proxy, proxy_headers=_proxy_auth(proxy), **options)
            if proxy
            else urllib3.PoolManager(**options)
        )

    def post(self, body: bytes, headers: Mapping[str, str]) -> Response:
        """Send one request; raise TransportError when no answer comes."""
        import urllib3

        try:
            response = self._pool.request(
                "POST",
                self.url,
                body=body,
                headers={**self._headers, **headers},
                retries=False,
                redirect=False,
                preload_content=False,
            )
            try:
                content = response.read(_MAX_BODY, decode_content=True)
                response.drain_conn()
            finally:
                response.release_conn()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransportError(_describe(exc)) from exc
        return Response(
            response.status,
            parse_retry_after(response.headers.get("Retry-After")),
            content,
        )

    def close(self) -> None:
        self._pool.clear()


def _checked(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers, if HTTP can carry them; else ValueError (without the value)."""
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name):
            raise ValueError(
                "a header name is not an HTTP token"
                " (letters, digits and !#$%&'*+-.^_`|~ only)"
            )
        if _UNSENDABLE.search(value):
            raise ValueError(
                f"header {name!r}: its value holds a line break, a NUL or a"
                " character outside Latin-1; nothing is sent"
            )
    return dict(headers)


def _describe(exc: BaseException) -> str:
    """The error without the request's URL or headers (they may hold secrets)."""
    name = type(exc).__name__
    cause = exc.__cause__
    if cause is None and exc.args and isinstance(exc.args[-1], BaseException):
        cause = exc.args[-1]
    if isinstance(cause, OSError) and cause.strerror:
        return f"{name}: {cause.strerror}"
    if cause is not None:
        return f"{name}: {type(cause).__name__}"
    return name


def _proxy_for(url: str) -> str | None:
    import urllib.request  # (slow to import: only when a sender connects)

    host = urlsplit(url).hostname or ""
    if host in _LOOPBACK or host.startswith("127."):
        return None
    if urllib.request.proxy_bypass(host):
        return None
    scheme = urlsplit(url).scheme
    return urllib.request.getproxies().get(scheme)


def _proxy_auth(proxy: str) -> dict[str, str]:
    """``Proxy-Authorization`` from a proxy URL's ``user:password@`` (urllib3
    leaves those to its caller)."""
    import urllib3

    parts = urlsplit(proxy)
    if parts.username is None:
        return {}
    user, password = unquote(parts.username), unquote(parts.password or "")
    return dict(urllib3.make_headers(proxy_basic_auth=f"{user}:{password}"))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or HTTP-date)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def safe_url(url: str) -> str:
    """``url`` without credentials, query or fragment: fit for a log line."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a number: leave it out
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
