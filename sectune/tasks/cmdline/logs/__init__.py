"""Command lines out of real process-creation logs, streamed in constant memory.

``iter_command_lines(path)`` yields one :class:`LogLine` (line number where the event starts, the command
line, a few cheap extra fields such as host, user, process, time) per process-creation event in a log file,
a ``.gz`` of one, or ``-`` (stdin). Lines are read one at a time; multi-line events (Windows XML, 4688 text
blocks, auditd records, pretty-printed JSON, quoted CSV newlines) are accumulated up to a cap, never the file.
With ``follow=True`` the file is tailed like ``tail -F`` (the existing content first, then appended lines,
polling every 0.2 s, reopening after rotation or truncation) until ``stop`` is set or Ctrl-C.

Over-long lines: a physical line is capped too (``max_line_chars``, ``--max-line-chars``; default
``MAX_LINE_CHARS`` = 1 Mi characters, 1 MiB of ASCII), since no method looks past the first few thousand
characters. A longer line is never held whole; it is counted as skipped, "line too long", with its line number,
and the event it belongs to is dropped with it (each format says how it finds where that event ends).

Nothing in a log line is fatal: events that are not process creations, process creations without a command
line, and unparseable lines are counted in :class:`ScanCounts` with the first few examples (line, reason).
Only usage errors (no such file, unknown format, a ``--field`` that no CSV column matches) raise SectuneError.

The parts, one idea each:
    source.py     where lines come from: files, .gz, stdin, following, encodings, the line cap
    driver.py     detection (``sniff_format``) and the loop that feeds lines to a format's reader
    records.py    LogLine and ScanCounts
    plugin.py     what a format module declares, and the detection levels
    formats/      one module per format (its docstring says what it reads and when it claims a file),
                  and the registry (``formats/__init__.py``) that ``FORMATS`` comes from

Log reading lives under the cmdline task because every format's job is to find a process creation's command
line; only ``source.py`` is format-free, and it has no other user yet.
"""

from .driver import iter_command_lines, sniff_format
from .formats import FIELD_FORMATS, FORMATS
from .records import LogLine, ScanCounts
from .source import MAX_LINE_CHARS, POLL_SECONDS, follow_lines

__all__ = [
    "FIELD_FORMATS",
    "FORMATS",
    "MAX_LINE_CHARS",
    "POLL_SECONDS",
    "LogLine",
    "ScanCounts",
    "follow_lines",
    "iter_command_lines",
    "sniff_format",
]
