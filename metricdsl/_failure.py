"""What an exception says about a span: result, reason, reasonDesc, request ids.

``reasonDesc`` is built from the exception and its ``__cause__`` chain, scrubbed
of home directories and secrets, and cut to ``MAX_REASON_DESC`` characters.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["MAX_REASON_DESC", "describe", "is_cancellation", "request_details", "scrub"]

MAX_REASON_DESC: Final = 350
REDACTED: Final = "<redacted>"

_SECRET_KEY: Final = (
    r"[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|credential)s?[\w.-]*"
)
_SECRETS: Final = (
    # key=value and key: value (quoted or not) where the key names a secret
    re.compile(
        rf"""(?ix)
        (?P<key>["']?{_SECRET_KEY}["']?)
        (?P<sep>\s*[=:]\s*)
        (?P<value>"[^"]*"|'[^']*'|[^\s,;&|)\]}}]+)
        """
    ),
    re.compile(r"(?i)\b(?P<key>bearer)(?P<sep>\s+)(?P<value>[A-Za-z0-9._~+/=-]+)"),
)
_AWS_KEY_ID: Final = re.compile(
    r"\b(?:AKIA|ASIA|AIDA|AROA|AGPA|ANPA|ANVA|APKA|AIPA)[A-Z0-9]{16}\b"
)
_HOMES: Final = re.compile(r"(?:/home/|/Users/|[A-Za-z]:\\Users\\)[^/\\\s:;,'\"]+")


def _own_home() -> str | None:
    home = os.path.expanduser("~")
    return home if home not in ("~", "/", "") else None


_HOME: Final = _own_home()


def scrub(text: str) -> str:
    """Replace home directories by ``~`` and secret values by ``<redacted>``."""
    if _HOME and _HOME in text:
        text = text.replace(_HOME, "~")
    text = _HOMES.sub("~", text)
    for pattern in _SECRETS:
        text = pattern.sub(_redact, text)
    return _AWS_KEY_ID.sub(REDACTED, text)


def _redact(match: re.Match[str]) -> str:
    return match["key"] + match["sep"] + REDACTED


def cut(text: str) -> str:
    """At most ``MAX_REASON_DESC`` characters, marking a cut with an ellipsis."""
    if len(text) <= MAX_REASON_DESC:
        return text
    return text[: MAX_REASON_DESC - 1] + "…"


def describe(error: BaseException) -> str:
    """``ClassName: message | CauseName: message ...``, scrubbed and cut."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen and len(parts) < 16:
        seen.add(id(current))
        try:
            message = str(current)
        except Exception:  # a broken __str__ must not break telemetry
            message = "<unprintable>"
        name = type(current).__name__
        parts.append(f"{name}: {message}" if message else name)
        current = current.__cause__
    return cut(scrub(" | ".join(parts)))


def reason_of(error: BaseException) -> str:
    """The exception's ``code`` when it is a non-empty string, else its class name."""
    code = getattr(error, "code", None)
    if isinstance(code, str) and code:
        return code
    return type(error).__name__


def is_cancellation(
    error: BaseException, extra: tuple[type[BaseException], ...]
) -> bool:
    if isinstance(error, (KeyboardInterrupt, GeneratorExit)):
        return True
    if extra and isinstance(error, extra):
        return True
    asyncio = sys.modules.get("asyncio")  # not imported: nothing was cancelled by it
    return asyncio is not None and isinstance(error, asyncio.CancelledError)


def request_details(error: BaseException) -> tuple[str | None, str | None]:
    """``(requestId, httpStatusCode)`` an exception carries, where it has them.

    Understood: botocore's ``response["ResponseMetadata"]``, an attached
    ``response`` with ``status_code`` (requests, httpx) and request-id headers,
    and a ``status_code`` attribute.
    """
    request_id: Any = None
    status: Any = None
    response = getattr(error, "response", None)
    if isinstance(response, Mapping):
        meta = response.get("ResponseMetadata")
        if isinstance(meta, Mapping):
            request_id = meta.get("RequestId")
            status = meta.get("HTTPStatusCode")
    elif response is not None:
        status = getattr(response, "status_code", None)
        headers = getattr(response, "headers", None)
        if isinstance(headers, Mapping) or hasattr(headers, "get"):
            for name in ("x-amzn-requestid", "x-amz-request-id", "x-request-id"):
                try:
                    request_id = headers.get(name)  # type: ignore[union-attr]
                except Exception:  # pragma: no cover - an odd headers object
                    request_id = None
                if request_id:
                    break
    if status is None:
        status = getattr(error, "status_code", None)
    return (
        str(request_id) if request_id not in (None, "") else None,
        str(status) if isinstance(status, (int, str)) and status != "" else None,
    )
