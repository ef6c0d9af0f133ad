"""The whole exception hierarchy of metricdsl.

::

    MetricDslError
    ├── DefinitionError        (ValueError)  a definitions file is wrong
    ├── ConfigurationError     (ValueError)  configure() was given a bad value
    ├── UsageError             (TypeError)   an API used the wrong way
    ├── MetricValidationError  (ValueError)  a field value broke its definition
    │   └── NoActiveSpanError                record() found no span to record on
    └── UnknownMetricError     (AttributeError, KeyError)  no such metric

(in brackets: the builtins each class also derives from)

Each class derives from the builtin it refines, so ordinary ``except
ValueError`` / ``except KeyError`` clauses keep working.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ConfigurationError",
    "DefinitionError",
    "MetricDslError",
    "MetricValidationError",
    "NoActiveSpanError",
    "Problem",
    "UnknownMetricError",
    "UsageError",
    "did_you_mean",
]


class MetricDslError(Exception):
    """Base class of every exception metricdsl raises."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found in a definitions file, with its 1-based position."""

    path: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}"


class DefinitionError(MetricDslError, ValueError):
    """One or more definitions files are invalid.

    ``problems`` lists every problem found, in file order; ``str()`` shows one
    ``path:line:column: message`` line per problem.
    """

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ConfigurationError(MetricDslError, ValueError):
    """``configure()`` or an environment variable was given a value it cannot use."""


class UsageError(MetricDslError, TypeError):
    """An API was used the wrong way: ``run`` on something that is not callable
    (raised at decoration, in every mode), a span entered twice (strict mode)."""


class MetricValidationError(MetricDslError, ValueError):
    """A field value does not match its definition (strict validation).

    ``metric`` and ``field`` name what was being set (``field`` may be ``None``
    for problems that concern the whole event).
    """

    def __init__(self, message: str, *, metric: str, field: str | None) -> None:
        self.metric = metric
        self.field = field
        super().__init__(message)


class NoActiveSpanError(MetricValidationError):
    """``record()`` was called with no matching active span (strict validation)."""


class UnknownMetricError(MetricDslError, AttributeError, KeyError):
    """No metric of that name is defined; the message suggests close names."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name

    def __str__(self) -> str:
        # KeyError would show the repr of the message; show the message itself.
        return str(self.args[0])


def did_you_mean(given: str, choices: Iterable[str], most: int = 1) -> str | None:
    """``did you mean 'x'?`` (or ``'x' or 'y'``) when choices are close to what
    was given; the hint every metricdsl message ends with."""
    close = difflib.get_close_matches(given, list(choices), n=most, cutoff=0.6)
    if not close:
        return None
    return "did you mean " + " or ".join(repr(c) for c in close) + "?"
