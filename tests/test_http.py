"""The HTTP layer: answers returned whatever their status, failures raised as
TransportError, Retry-After read, URLs made fit for logs."""

from __future__ import annotations

import base64
import email.utils
from typing import Any

import pytest

from metricdsl._http import (
    Transport,
    TransportError,
    _proxy_for,
    parse_retry_after,
    safe_url,
)
from tests.receiver import HANG, OK, Receiver, Request, free_port, status

PROXY_VARIABLES = (
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
)


class TestTransport:
    def test_every_answer_is_returned_with_its_retry_after(self) -> None:
        with Receiver(lambda n, request: status(503, Retry_After="4")) as server:
            transport = Transport(server.url, timeout=5, headers={"X-Token": "t"})
            response = transport.post(b"{}", {"Content-Type": "application/json"})
            [request] = server.posted()
            transport.close()
        assert (response.status, response.retry_after) == (503, 4.0)
        assert response.body == b'{"error":"injected"}'
        assert request.headers["x-token"] == "t"

    def test_a_refused_connection_raises_transport_error(self) -> None:
        transport = Transport(f"http://127.0.0.1:{free_port()}", timeout=5, headers={})
        with pytest.raises(TransportError, match="Connection refused"):
            transport.post(b"{}", {})

    def test_no_answer_within_the_timeout_raises_transport_error(self) -> None:
        with Receiver(lambda n, request: HANG) as server:
            transport = Transport(server.url, timeout=0.2, headers={})
            with pytest.raises(TransportError, match="ReadTimeoutError"):
                transport.post(b"{}", {})

    @pytest.mark.parametrize(
        ("headers", "expected"),
        [
            ({"X-Token": "t0k3n\n"}, "header 'X-Token': its value holds"),
            ({"X-Token": "t0k3n\x00"}, "header 'X-Token': its value holds"),
            ({"X-Token": "t\u0151k3n"}, "header 'X-Token': its value holds"),
            ({"X-Token t0k3n": "v"}, "a header name is not an HTTP token"),
        ],
    )
    def test_an_unusable_header_is_refused_without_its_value(
        self, headers: dict[str, str], expected: str
    ) -> None:
        with pytest.raises(ValueError, match=expected) as refused:
            Transport(f"http://127.0.0.1:{free_port()}", timeout=1, headers=headers)
        assert "k3n" not in str(refused.value)

    def test_redirects_are_not_followed(self) -> None:
        with Receiver(lambda n, request: status(307, Location="/elsewhere")) as server:
            response = Transport(server.url, timeout=5, headers={}).post(b"{}", {})
            assert response.status == 307
            assert len(server.posted()) == 1


class TestRetryAfter:
    def test_seconds(self) -> None:
        assert parse_retry_after("120") == 120.0
        assert parse_retry_after(" 0 ") == 0.0

    def test_an_http_date(self) -> None:
        later = email.utils.formatdate(1_000_030, usegmt=True)
        assert parse_retry_after(later, now=1_000_000) == 30.0
        assert parse_retry_after(later, now=2_000_000) == 0.0

    @pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5"])
    def test_anything_else_is_ignored(self, value: str | None) -> None:
        assert parse_retry_after(value) is None


def test_safe_url_drops_credentials_query_and_fragment() -> None:
    assert (
        safe_url("https://me:pw@example.com:8443/v1/logs?token=x#y")
        == "https://example.com:8443/v1/logs"
    )
    assert safe_url("http://[::1]/in") == "http://[::1]/in"
    assert safe_url("http://host:port/in") == "http://host/in"


class TestProxy:
    def test_the_proxy_variables_are_honoured_except_for_loopback(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for name in PROXY_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
        monkeypatch.setenv("NO_PROXY", "skip.example.com")
        assert _proxy_for("https://telemetry.example.com/e") == (
            "http://proxy.internal:3128"
        )
        assert _proxy_for("https://skip.example.com/e") is None
        assert _proxy_for("https://127.0.0.1:4318/v1/logs") is None
        assert _proxy_for("http://localhost:4318/v1/logs") is None
        transport = Transport("https://telemetry.example.com/e", timeout=1, headers={})
        assert type(transport._pool).__name__ == "ProxyManager"

    def test_credentials_in_the_proxy_variable_are_given_to_the_proxy(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``http://user:password@proxy:port`` (percent-encoded) authenticates."""

        def plan(number: int, request: Request) -> Any:
            authorized = "proxy-authorization" in request.headers
            return OK if authorized else status(407, Proxy_Authenticate="Basic")

        for name in PROXY_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        with Receiver(plan) as proxy:  # an HTTP proxy gets absolute URLs
            credentials = proxy.url.replace("http://", "http://me:p%40ss@")
            monkeypatch.setenv("HTTP_PROXY", credentials)
            url = "http://telemetry.example.com/e"
            response = Transport(url, timeout=5, headers={}).post(b"{}", {})
            [request] = proxy.posted()
        assert response.status == 200
        assert request.path == url
        expected = "Basic " + base64.b64encode(b"me:p@ss").decode()
        assert request.headers["proxy-authorization"] == expected
