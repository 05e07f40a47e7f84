"""Reading a log, whatever its format: detect the format, then feed each physical line to the format's reader.

The stream handling every format needs is done here once: numbering and counting physical lines, over-long
lines (counted, then the reader drops their event), idle ticks of a followed file (passed on so a consumer can
flush), rotation or truncation (the reader ends what it has and numbering restarts at 1), and counting events.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from itertools import chain
from pathlib import Path

from sectune.errors import SectuneError

from .formats import FIELD_FORMATS, FORMATS, REGISTRY
from .records import LogLine, ScanCounts
from .source import MAX_LINE_CHARS, POLL_SECONDS, RESET, Item, open_source

SAMPLE_LINES = 20  # non-blank lines that detection looks at
_MAX_SAMPLE_ITEMS = 1000  # items read while looking for them (blank lines, idle ticks)


def iter_command_lines(
    path: str | Path,
    fmt: str = "auto",
    field: str | None = None,
    stats: ScanCounts | None = None,
    *,
    follow: bool = False,
    stop: threading.Event | None = None,
    poll: float = POLL_SECONDS,
    idle_ticks: bool = False,
    max_line_chars: int = MAX_LINE_CHARS,
) -> Iterator[LogLine]:
    """Each process-creation event's command line, in file order, in constant memory.

    ``follow``: keep tailing the file (rotation and truncation reopen it) until ``stop`` is set or Ctrl-C.
    ``idle_ticks``: also yield None whenever a followed file has no new data (so a consumer can flush).
    ``max_line_chars``: a longer physical line is skipped (counted in ``stats``) without being held in memory.
    """
    if fmt not in FORMATS:
        raise SectuneError(f"unknown log format '{fmt}' (one of: {', '.join(FORMATS)})")
    if field is not None and fmt not in ("auto", *FIELD_FORMATS):
        raise SectuneError(f"--field applies to {', '.join(FIELD_FORMATS)} logs, not {fmt}")
    if max_line_chars < 1:
        raise SectuneError(f"--max-line-chars must be at least 1, got {max_line_chars}")
    stats = stats if stats is not None else ScanCounts()
    source, close, display = open_source(path, follow, stop, poll, max_line_chars)
    try:
        if fmt == "auto":
            sample, consumed = _sample(source)
            fmt = sniff_format(sample, path)
            if field is not None and fmt not in FIELD_FORMATS:
                raise SectuneError(
                    f"--field applies to {', '.join(FIELD_FORMATS)} logs; this looks like {fmt} "
                    f"(pass --format to say otherwise)",
                    path=display,
                )
            source = chain(consumed, source)
        stats.format = fmt
        for item in read_events(source, fmt, stats, field, display):
            if item is not None or idle_ticks:
                yield item
    finally:
        close()


def read_events(
    source: Iterable[Item], fmt: str, stats: ScanCounts, field: str | None, display: str
) -> Iterator[LogLine | None]:
    """The LogLines that format ``fmt`` finds in ``source``, with None for each idle tick."""
    reader = REGISTRY[fmt].Reader(stats, field, display)
    n = 0
    for item in chain(source, (RESET,)):  # the end of the input ends the reader's last event like a rotation
        if item.__class__ is str:
            n += 1
            stats.lines_read += 1
            found = reader.line(n, item)
        elif item is None:
            found = reader.idle()
        elif item is RESET:
            found = reader.end()
            n = 0
        else:
            n += 1
            stats.too_long(n, item.limit)
            found = reader.long_line(n, item)
        for event in found:
            stats.events += 1
            yield event
        if item is None:
            yield None


def sniff_format(first_lines: list[str], path: str | Path | None = None) -> str:
    """The log format that the first lines and the file name (``.gz`` looked through) look most like: each
    registered format rates them (``plugin``'s levels), the surest wins, the registry's order breaks ties."""
    lines = [s for s in (line.strip().lstrip("\ufeff") for line in first_lines) if s][:SAMPLE_LINES]
    return max(REGISTRY.values(), key=lambda f: f.sniff(lines, path)).NAME


def _sample(source: Iterator[Item]) -> tuple[list[str], list[Item]]:
    """The first non-blank lines for detection, and everything read to find them (to replay before the rest).
    A followed source that goes idle ends the sample early once it has a line."""
    sample: list[str] = []
    consumed: list[Item] = []
    for item in source:
        consumed.append(item)
        if item.__class__ is str:
            if item.strip():
                sample.append(item)
                if len(sample) >= SAMPLE_LINES:
                    break
        elif item is None and sample:
            break
        if len(consumed) >= _MAX_SAMPLE_ITEMS:
            break
    return sample, consumed
