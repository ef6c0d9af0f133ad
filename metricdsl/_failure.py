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

__all__ = [
    "MAX_REASON_DESC",
    "describe",
    "is_cancellation",
    "reason_desc",
    "request_details",
    "scrub",
]

MAX_REASON_DESC: Final = 350
REDACTED: Final = "<redacted>"

#: A word (letters, digits, ``_``, ``.``, ``-``) that names a secret. It is
#: matched from the word's start only and the look-ahead finds the secret's name
#: once, so the pattern stays linear in the length of the text.
_SECRET_KEY: Final = (
    r"(?<![\w.-])"
    r"(?=[\w.-]*?(?:password|passwd|pwd|secret|token|api[_-]?key|credential))"
    r"[\w.-]+"
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
#: reasonDesc scrubs at most this much of a text: it keeps MAX_REASON_DESC
#: characters anyway, and a text of megabytes must not hold up the caller.
_SCRUBBED_AT_MOST: Final = 4 * MAX_REASON_DESC


def _own_home() -> re.Pattern[str] | None:
    """The current user's home directory as a whole path (``/root``, never
    the start of ``/rootfs``)."""
    home = os.path.expanduser("~").rstrip("/\\")
    if home in ("~", ""):
        return None
    return re.compile(re.escape(home) + r"(?![^/\\\s:;,'\"])")


_HOME: Final = _own_home()


def scrub(text: str) -> str:
    """Replace home directories by ``~`` and secret values by ``<redacted>``."""
    if _HOME is not None:
        text = _HOME.sub("~", text)
    text = _HOMES.sub("~", text)
    for pattern in _SECRETS:
        text = pattern.sub(_redact, text)
    return _AWS_KEY_ID.sub(REDACTED, text)


def _redact(match: re.Match[str]) -> str:
    return match["key"] + match["sep"] + REDACTED


def reason_desc(text: str) -> str:
    """``text`` scrubbed, then cut to ``MAX_REASON_DESC`` characters (a cut
    marked with an ellipsis): what a reasonDesc holds."""
    head = text[:_SCRUBBED_AT_MOST]
    clean = scrub(head)
    if len(clean) <= MAX_REASON_DESC and len(head) == len(text):
        return clean
    return clean[: MAX_REASON_DESC - 1] + "…"


def describe(error: BaseException) -> str:
    """``ClassName: message | CauseName: message ...``, scrubbed and cut."""
    parts: list[str] = []
    seen: set[int] = set()
    length = 0  # causes past what reasonDesc keeps are not looked at
    current: BaseException | None = error
    while (
        current is not None and id(current) not in seen and length < _SCRUBBED_AT_MOST
    ):
        seen.add(id(current))
        try:
            message = str(current)
        except Exception:  # a broken __str__ must not break telemetry
            message = "<unprintable>"
        name = type(current).__name__
        parts.append(f"{name}: {message}" if message else name)
        length += len(parts[-1]) + 3
        current = current.__cause__
    return reason_desc(" | ".join(parts))


def reason_of(error: BaseException) -> str:
    """The exception's ``code`` when it is a non-empty string, else its class name."""
    try:
        code = getattr(error, "code", None)
    except Exception:  # a property of the user's exception that raises
        code = None
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
    and a ``status_code`` attribute. An exception whose attributes raise when
    read gives neither.
    """
    try:
        return _request_details(error)
    except Exception:
        return None, None


def _request_details(error: BaseException) -> tuple[str | None, str | None]:
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
                request_id = headers.get(name)  # type: ignore[union-attr]
                if request_id:
                    break
    if status is None:
        status = getattr(error, "status_code", None)
    return (
        str(request_id) if request_id not in (None, "") else None,
        str(status) if isinstance(status, (int, str)) and status != "" else None,
    )
