"""What a log-format module declares, so that the driver can detect and read any format the same way.

A format module (``formats/<name>.py``, listed once in ``formats/__init__.py``) has:

``NAME``          the ``--format`` value (``"sysmon-xml"``).
``TAKES_FIELD``   whether ``--field`` (which key or column holds the command line) applies.
``sniff(lines, path) -> int``
                  how sure it is that a file is in this format, from the first non-blank lines (stripped, at most
                  20) and the file name: 0 for no, else one of the levels below. The highest wins; on a tie, the
                  format listed first. The levels put the detection rules in order: the first rule that fits wins.
``Reader``        a :class:`FormatReader` subclass: it gets the physical lines, numbered and counted by the driver,
                  and yields a LogLine per process-creation event; everything else it counts in ``stats``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from .records import LogLine, ScanCounts
from .source import LongLine

# How sure a sniff is, strongest first.
BY_NAME = 100  # the file name decides (.csv), whatever is inside
MARKUP = 90  # the first line is XML
JSON = 80  # JSON lines or a JSON document; + 1 or + 2 when its keys name a more specific format
BLOCKS = 70  # "Event[N]:" text blocks
RECORDS = 60  # most lines are records of one known shape (auditd)
HEADER = 50  # a header row that names a command-line column
SUFFIX = 10  # nothing above fits: the file name's extension suggests it
FALLBACK = 1  # nothing fits at all

MAX_EVENT_CHARS = 4_000_000  # a multi-line event (XML, JSON document, CSV record) larger than this is dropped
MAX_EVENT_LINES = 100_000


def log_suffix(path: str | Path | None) -> str:
    """The extension that says what a log holds, lower case, looking through ``.gz`` (``x.CSV.gz`` -> ``.csv``)."""
    name = "" if path is None or str(path) == "-" else Path(path).name.lower()
    return Path(name.removesuffix(".gz")).suffix


class FormatReader:
    """Turns one format's physical lines into LogLines. The driver calls, in stream order:

    ``line(n, text)``      line ``n`` (1-based; counted already) with its ``"\\n"``.
    ``long_line(n, mark)`` line ``n`` was over the cap and dropped (counted already): drop the event it was part of.
    ``idle()``             a followed file has no new data: yield what need not wait for more.
    ``end()``              the input ended, or the file was rotated or truncated (numbering restarts at 1):
                           yield or count what is pending and start afresh.

    Each returns the LogLines it completes; the driver counts them as events.
    """

    def __init__(self, stats: ScanCounts, field: str | None, display: str) -> None:
        self.stats = stats
        self.field = field
        self.display = display  # the file's name in a SectuneError

    def line(self, n: int, text: str) -> Iterable[LogLine]:
        raise NotImplementedError

    def long_line(self, n: int, mark: LongLine) -> Iterable[LogLine]:
        return ()

    def idle(self) -> Iterable[LogLine]:
        return ()

    def end(self) -> Iterable[LogLine]:
        return ()


class LogFormat(Protocol):
    """A format module, as the registry sees it (module docstring)."""

    NAME: str
    TAKES_FIELD: bool
    Reader: type[FormatReader]

    def sniff(self, lines: list[str], path: str | Path | None) -> int: ...
