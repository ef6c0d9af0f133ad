"""metricdsl: typed product telemetry from a YAML definitions file.

Declare fields and metrics once; every metric gets four verbs::

    import metricdsl

    telemetry = metricdsl.load("definitions.yaml")

    @telemetry.metric_setupThing.run
    def setup_thing() -> None:
        telemetry.metric_setupThing.record(component="editor")

Importing this package does no work: every name below is loaded on first use.
"""

from __future__ import annotations

import importlib
import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import processors
    from ._config import Sink
    from ._definitions import Field, FieldType, Override
    from ._errors import (
        ConfigurationError,
        DefinitionError,
        MetricDslError,
        MetricValidationError,
        NoActiveSpanError,
        Problem,
        UnknownMetricError,
        UsageError,
    )
    from ._metric import Metric, Telemetry, load
    from ._pipeline import configure, flush, shutdown, stats
    from ._span import Span, current_span, wrap_context

    telemetry: Telemetry

__version__ = "0.1.0"

__all__ = [
    "ConfigurationError",
    "DefinitionError",
    "Field",
    "FieldType",
    "Metric",
    "MetricDslError",
    "MetricValidationError",
    "NoActiveSpanError",
    "Override",
    "Problem",
    "Sink",
    "Span",
    "Telemetry",
    "UnknownMetricError",
    "UsageError",
    "configure",
    "current_span",
    "flush",
    "load",
    "processors",
    "shutdown",
    "stats",
    "telemetry",
    "wrap_context",
]

_WHERE = {
    "ConfigurationError": "._errors",
    "DefinitionError": "._errors",
    "MetricDslError": "._errors",
    "MetricValidationError": "._errors",
    "NoActiveSpanError": "._errors",
    "Problem": "._errors",
    "UnknownMetricError": "._errors",
    "UsageError": "._errors",
    "Field": "._definitions",
    "FieldType": "._definitions",
    "Override": "._definitions",
    "Metric": "._metric",
    "Telemetry": "._metric",
    "load": "._metric",
    "Sink": "._config",
    "configure": "._pipeline",
    "flush": "._pipeline",
    "shutdown": "._pipeline",
    "stats": "._pipeline",
    "Span": "._span",
    "current_span": "._span",
    "wrap_context": "._span",
}


def default_definitions_path() -> str:
    """The definitions file installed with the package (``definitions.yaml``)."""
    return os.path.join(os.path.dirname(__file__), "definitions.yaml")


def _load_default_telemetry() -> Any:
    from ._metric import load

    named = os.environ.get("METRICDSL_DEFINITIONS", "")
    paths = [p for p in named.split(os.pathsep) if p] or [default_definitions_path()]
    return load(*paths)


_first_use = threading.Lock()  # threads racing to one name all get one object


def __getattr__(name: str) -> Any:
    if name not in _WHERE and name not in ("telemetry", "processors"):
        raise AttributeError(f"module 'metricdsl' has no attribute {name!r}")
    with _first_use:
        if name in globals():  # another thread got here first
            return globals()[name]
        if name == "telemetry":
            value = _load_default_telemetry()
        elif name == "processors":
            value = importlib.import_module(".processors", __name__)
        else:
            value = getattr(importlib.import_module(_WHERE[name], __name__), name)
        globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
