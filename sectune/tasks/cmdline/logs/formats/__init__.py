"""The registry of log formats: one module per format in this folder, one line per format below.

To add a format: write ``formats/<module>.py`` declaring ``NAME``, ``TAKES_FIELD``, ``sniff`` and ``Reader``
(``..plugin`` says what each means; ``text.py`` is the smallest example), and add its module name to
``_MODULES``. Its ``NAME`` becomes a ``sectune scan --format`` choice and takes part in auto-detection.
Modules whose name starts with ``_`` are helpers that several formats share, not formats.
"""

from __future__ import annotations

from importlib import import_module
from typing import cast

from ..plugin import LogFormat

_MODULES = (  # the --format choices in this order; it also breaks ties between equally sure sniffs
    "jsonl",
    "csv_log",
    "ecs",
    "sysmon_xml",
    "sysmon_json",
    "win4688",
    "auditd",
    "text",
)


def _load(module: str) -> LogFormat:
    fmt = cast(LogFormat, import_module(f"{__name__}.{module}"))
    missing = [a for a in ("NAME", "TAKES_FIELD", "sniff", "Reader") if not hasattr(fmt, a)]
    if missing:
        raise TypeError(f"log format module {module} lacks {', '.join(missing)}")
    return fmt


REGISTRY: dict[str, LogFormat] = {fmt.NAME: fmt for fmt in map(_load, _MODULES)}
FORMATS = ("auto", *REGISTRY)
FIELD_FORMATS = tuple(name for name, fmt in REGISTRY.items() if fmt.TAKES_FIELD)  # where --field applies
