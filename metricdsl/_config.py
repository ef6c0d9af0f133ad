"""Settings, and the effective state that the hot path reads.

``configure()`` stores what it is given in ``Settings``; the environment and the
defaults fill in the rest when ``State.resolve()`` runs (at first use, and after
each ``configure()``). The hot path reads a few attributes of the one ``STATE``
object and never looks at the environment.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol, cast, runtime_checkable

from . import _selflog
from ._errors import ConfigurationError

if TYPE_CHECKING:
    from .testing import Captured

__all__ = ["LOCK", "MODES", "OFF", "STATE", "STRICT", "WARN", "Settings", "Sink"]

STRICT: Final = "strict"
WARN: Final = "warn"
OFF: Final = "off"
MODES: Final = (STRICT, WARN, OFF)

Event = dict[str, Any]
Processor = Callable[[Any, str, Event], Event]


@runtime_checkable
class Sink(Protocol):
    """Where events go.

    ``write(event)`` must return quickly (no network waits) and must not change
    the event. A sink may also offer ``flush(timeout) -> bool``,
    ``close(timeout) -> None`` and ``stats() -> dict``; metricdsl calls them
    when they exist.
    """

    def write(self, event: Event) -> None: ...


@dataclass(frozen=True)
class Settings:
    """What ``configure()`` was given; ``None`` means: environment or default."""

    enabled: bool | None = None
    validation: str | None = None
    processors: tuple[Processor, ...] = ()
    sinks: tuple[Sink | str, ...] | None = None
    endpoint: str = ""
    protocol: str = "json"
    headers: Mapping[str, str] = field(default_factory=dict)
    outbox: str = ""
    outbox_max_bytes: int = 64 * 1024 * 1024
    max_queue: int = 10_000
    max_queue_bytes: int = 16 * 1024 * 1024
    batch_size: int = 500
    flush_interval: float = 1.0
    timeout: float = 10.0
    retry_deadline: float = 60.0
    cancellation: tuple[type[BaseException], ...] = ()


#: Settings of the network sender; changing one rebuilds it.
DELIVERY_SETTINGS: Final = frozenset(
    {
        "endpoint",
        "protocol",
        "headers",
        "outbox",
        "outbox_max_bytes",
        "max_queue",
        "max_queue_bytes",
        "batch_size",
        "flush_interval",
        "timeout",
        "retry_deadline",
    }
)


def truthy(value: str | None) -> bool:
    """An environment flag: set, and not empty, 0, false, no or off."""
    return value is not None and value.strip().lower() not in _FALSE


_FALSE: Final = frozenset({"", "0", "false", "no", "off"})


class State:
    """The effective settings, resolved; the hot path reads these attributes."""

    __slots__ = (
        "active",
        "cancellation",
        "captures",
        "checking",
        "enabled",
        "in_ci",
        "mode",
        "processors",
        "send_in_ci",
        "settings",
        "sinks",
        "strict",
        "validation",
    )

    def __init__(self) -> None:
        self.settings = Settings()
        self.captures: tuple[Captured, ...] = ()
        self.sinks: tuple[Sink, ...] | None = None  # built on first dispatch
        self.resolve()

    def resolve(self) -> None:
        """Settings first, then the environment, then the defaults."""
        settings, env = self.settings, os.environ
        if settings.enabled is not None:
            self.enabled = settings.enabled
        else:
            self.enabled = not (
                truthy(env.get("METRICDSL_DISABLED")) or truthy(env.get("DO_NOT_TRACK"))
            )
        self.in_ci = truthy(env.get("CI"))
        self.send_in_ci = truthy(env.get("METRICDSL_SEND_IN_CI"))
        validation = settings.validation or _validation_from_env(env)
        if validation is None:
            under_test = "PYTEST_VERSION" in env or "PYTEST_CURRENT_TEST" in env
            validation = STRICT if self.in_ci or under_test else WARN
        self.validation = validation
        self.processors = settings.processors
        self.cancellation = settings.cancellation
        self.refresh()

    def refresh(self) -> None:
        """Recompute what depends on the captures of ``metricdsl.testing``."""
        capturing = bool(self.captures)
        self.mode = STRICT if capturing else self.validation
        self.strict = self.mode == STRICT
        self.checking = self.mode != OFF
        self.active = self.enabled or capturing


def _validation_from_env(env: Mapping[str, str]) -> str | None:
    raw = env.get("METRICDSL_VALIDATION", "").strip().lower()
    for mode in MODES:
        if raw == mode:
            return mode
    if raw:
        _selflog.warn_once(
            ("env", "METRICDSL_VALIDATION"),
            "metricdsl.setting_ignored",
            setting="METRICDSL_VALIDATION",
            expected=" | ".join(MODES),
            got=raw,
        )
    return None


STATE: Final = State()
#: Guards configure(), the building of sinks, captures and the counters.
LOCK: Final = threading.RLock()

if hasattr(os, "register_at_fork"):
    # fork() copies a lock another thread holds as held, for good: the child
    # would hang on it. So fork waits until LOCK is free, holding it across.
    os.register_at_fork(
        before=LOCK.acquire, after_in_parent=LOCK.release, after_in_child=LOCK.release
    )


# -- checking what configure() is given -------------------------------------------


def _bad(name: str, expected: str, got: Any) -> ConfigurationError:
    return ConfigurationError(f"configure({name}=...) expects {expected}; got {got!r}")


def check_sink(sink: Sink | str, name: str = "sinks") -> None:
    """Raise ConfigurationError unless ``sink`` names or is a sink."""
    if isinstance(sink, str):
        if sink in ("log", "null") or (sink.startswith("jsonl:") and len(sink) > 6):
            return
        raise _bad(name, "'log', 'null', 'jsonl:PATH' or a sink object", sink)
    if not callable(getattr(sink, "write", None)):
        raise _bad(name, "objects with a write(event) method", sink)


def _items(name: str, value: Any, what: str) -> tuple[Any, ...]:
    """A list setting's items; a string or a single object is a mistake."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise _bad(name, f"a list of {what}", value)
    return tuple(value)


def _positive(name: str, value: Any, kinds: tuple[type, ...]) -> Any:
    ok = isinstance(value, kinds) and not isinstance(value, bool)
    if not ok or not cast(float, value) > 0:
        raise _bad(name, "a positive number", value)
    return value


_INTEGERS: Final = ("outbox_max_bytes", "max_queue", "max_queue_bytes", "batch_size")
_SECONDS: Final = ("flush_interval", "timeout", "retry_deadline")


def checked_changes(given: Mapping[str, Any]) -> dict[str, Any]:
    """The settings ``configure()`` was given (``None`` left out), checked and
    normalised; raises ConfigurationError on the first unusable value."""
    return {
        name: _normalised(name, value)
        for name, value in given.items()
        if value is not None
    }


def _normalised(name: str, value: Any) -> Any:
    if name == "enabled":
        return bool(value)
    if name == "validation":
        if value not in MODES:
            raise _bad(name, "one of 'strict', 'warn', 'off'", value)
        return MODES[MODES.index(value)]
    if name == "processors":
        processors = _items(name, value, "processors")
        for processor in processors:
            if not callable(processor):
                raise _bad(name, "structlog processors (callables)", processor)
        return processors
    if name == "sinks":
        sinks = _items(name, value, "sinks")
        for sink in sinks:
            check_sink(sink)
        return sinks
    if name == "endpoint":
        if value and not str(value).startswith(("http://", "https://")):
            raise _bad(name, "an http:// or https:// URL, or ''", value)
        return str(value)
    if name == "protocol":
        if value not in ("json", "otlp"):
            raise _bad(name, "'json' or 'otlp'", value)
        return value
    if name == "headers":
        if not isinstance(value, Mapping):
            raise _bad(name, "a mapping of header names to values", value)
        return _checked_headers({str(k): str(v) for k, v in value.items()})
    if name == "outbox":
        if not isinstance(value, (str, os.PathLike)):
            raise _bad(name, "a path, or ''", value)
        return os.fspath(value)
    if name in _INTEGERS:
        return _positive(name, value, (int,))
    if name in _SECONDS:
        return float(_positive(name, value, (int, float)))
    if name == "cancellation":
        classes = _items(name, value, "exception classes")
        for cls in classes:
            if not (isinstance(cls, type) and issubclass(cls, BaseException)):
                raise _bad(name, "exception classes", cls)
        return classes
    raise _bad(name, "a known setting", value)  # pragma: no cover - keyword-only


_HEADER_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token


def _checked_headers(headers: dict[str, str]) -> dict[str, str]:
    """Headers HTTP can carry. A value is never shown: it may be a token."""
    for key, value in headers.items():
        if not _HEADER_NAME.fullmatch(key):
            raise _bad("headers", "header names made of letters, digits and -", key)
        try:
            value.encode("latin-1")
            fits = not any(c in value for c in "\r\n\0")
        except UnicodeEncodeError:
            fits = False
        if not fits:
            raise ConfigurationError(
                f"configure(headers=...): the value of {key!r} cannot be sent over "
                "HTTP (a line break, or a character outside Latin-1); the value "
                "is not shown, it may be a secret"
            )
    return headers


def env_sink_specs() -> list[str]:
    """The sinks ``METRICDSL_SINKS`` names (comma-separated), bad ones warned of."""
    raw = os.environ.get("METRICDSL_SINKS")
    if raw is None:
        return ["log"]
    specs = []
    for spec in (s.strip() for s in raw.split(",")):
        if not spec:
            continue
        try:
            check_sink(spec, "METRICDSL_SINKS")
        except ConfigurationError:
            _selflog.warn_once(
                ("env", "METRICDSL_SINKS", spec),
                "metricdsl.setting_ignored",
                setting="METRICDSL_SINKS",
                expected="log, null or jsonl:PATH",
                got=spec,
            )
            continue
        specs.append(spec)
    return specs
