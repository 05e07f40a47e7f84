"""Command lines out of real process-creation logs, streamed in constant memory.

``iter_command_lines(path)`` yields one :class:`LogLine` (line number where the event starts, the command
line, a few cheap extra fields such as host, user, process, time) per process-creation event in a log file,
a ``.gz`` of one, or ``-`` (stdin). Lines are read one at a time; multi-line events (Windows XML, 4688 text
blocks, auditd records, pretty-printed JSON, quoted CSV newlines) are accumulated up to a cap, never the file.
With ``follow=True`` the file is tailed like ``tail -F`` (the existing content first, then appended lines,
polling every 0.2 s, reopening after rotation or truncation) until ``stop`` is set or Ctrl-C.

Over-long lines: a physical line is capped too (``max_line_chars``, ``--max-line-chars``; default
``MAX_LINE_CHARS`` = 1 Mi characters, 1 MiB of ASCII), since no method looks past the first few thousand
characters and a line of hundreds of MB would otherwise be held whole. A longer line is read on to its newline
in 64 Ki-character chunks that are dropped as they come (memory stays flat whatever its length) and is counted as
skipped, "line too long", with its line number. In a multi-line format the event it belongs to is dropped with
it, and the rest of that event is passed over without being counted: an XML ``<Event>`` up to the next
``<Event``, a 4688 text block up to the next block, a CSV record up to the line that closes its quoted field;
a JSON document's reader starts again at the top level (a nested object left over may count as unparseable).
The cap counts characters, not bytes: lines are cut after decoding, so UTF-16 logs get the same cap as UTF-8.

Nothing in a log line is fatal: events that are not process creations, process creations without a command
line, and unparseable lines are counted in :class:`ScanCounts` with the first few examples (line, reason).
Only usage errors (no such file, unknown format, a ``--field`` that no CSV column matches) raise SectuneError.

Formats (``FORMATS``)
    jsonl        one JSON object a line; ``field`` is a key or a dotted path (``process.command_line``;
                 a flat key spelled with dots also matches). Without ``field``: the first of command_line,
                 CommandLine, commandline, cmdline, cmd, command, process.command_line, ProcessCommandLine,
                 text that the record has. A list value (argv) is joined.
    csv          header row + rows (csv module: quoted commas, quotes and newlines); ``field`` names the
                 column (case and punctuation ignored: "Process Command Line" matches ProcessCommandLine);
                 without it the first column named like CommandLine / ProcessCommandLine / cmdline / cmd.
    ecs          Elastic Common Schema JSON: ``process.command_line``, else ``process.args`` joined. Records
                 whose ``event.category`` lacks "process" or whose ``event.type`` lacks "start" are skipped
                 as not process creation (ECS process *end* events carry the command line too).
    sysmon-xml   Windows event XML as wevtutil / Get-WinEvent export it: one ``<Event>`` a line or a
                 multi-line document (``<Events>`` root or none, several events a line or one event over many
                 lines); ``<Data Name="CommandLine">``.
    sysmon-json  winlogbeat (``winlog.event_id`` / ``winlog.event_data.CommandLine``), evtx_dump
                 (``Event.System.EventID`` / ``Event.EventData``), flat exports (``EventID`` / ``Id`` +
                 ``EventData.CommandLine`` or top-level ``CommandLine``), and ``Get-WinEvent | ConvertTo-Json``
                 (``Id``, ``ProviderName``, the ``CommandLine:`` line of ``Message``). JSON lines, or one
                 pretty-printed JSON array / objects one after another (split by a streaming brace matcher).
    win4688      Security event 4688: the text of ``wevtutil qe Security /f:text`` (blocks starting at
                 ``Event[N]:``; the ``Process Command Line:`` field), or the same events as XML.
    auditd       Linux audit EXECVE records: ``a0="ls"`` quoted args as is, unquoted args hex-decoded,
                 ``aN_len=`` + ``aN[0]=`` ``aN[1]=`` chunks reassembled, an event's EXECVE records (same
                 ``msg=audit(TIME:SERIAL)``, possibly several lines, interleaved with SYSCALL/CWD/PATH/
                 PROCTITLE records) assembled in order and emitted when its records end: at its EOE record,
                 when a record with another serial arrives (once all argc args are in), or at the end. The
                 command line is the argv joined with shell quoting (``shlex.join``): ``ls '-la /tmp/my dir'``;
                 ``extra["argv"]`` keeps the exact arguments. Also ``node=`` prefixes, syslog/journald prefixes
                 (``audit: type=1309 audit(...)``) and ``ausearch -i`` output (no hex decoding there).
    text         one command line a line; blank lines skipped; a line with a NUL byte is unparseable.

The Windows formats share one event reader: Sysmon Event ID 1 (provider Sysmon or unnamed) and Security
4688 both count as process creation in sysmon-xml, sysmon-json and win4688; every other event ID is skipped.

Auto-detection (``detect_format``), from the file name (``.gz`` stripped) and the first non-blank lines:
    1. a ``.csv`` name -> csv.
    2. the first line starts with ``<`` -> XML: win4688 if the first ``<EventID>`` in the sample is 4688,
       else sysmon-xml.
    3. the first line starts with ``[`` or is ``{`` alone (a JSON document), or at least half of the sample
       lines start with ``{`` (JSON lines) -> JSON, classified by the first object that parses (by key names
       in the sample text for a multi-line document): Windows event keys (winlog, EventID, EventId, Id with
       ProviderName, Event.System, EventData) -> sysmon-json; ECS keys (process.command_line / process.args,
       ecs, event.category) -> ecs; anything else -> jsonl.
    4. an ``Event[N]:`` line, or ``Log Name:`` with ``Event ID:`` in the sample -> win4688 (text).
    5. at least half of the sample lines are audit records (``type=X msg=audit(...)``) -> auditd.
    6. the first line is a CSV header with a command-line column (CommandLine, ProcessCommandLine, ...) -> csv.
    7. a ``.json``/``.jsonl``/``.ndjson`` name -> jsonl; an ``.xml`` name -> sysmon-xml; otherwise text.

Encoding: UTF-8 (bad bytes replaced, never fatal); a UTF-8 or UTF-16 byte-order mark, or UTF-16 without one
(PowerShell 5's ``>`` writes UTF-16), is recognised from the first bytes. Line numbers count ``\\n`` only.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import os
import queue
import re
import shlex
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import datetime, timezone
from itertools import chain
from pathlib import Path
from typing import Any, Callable

import orjson

from sectune.errors import SectuneError

FORMATS = ("auto", "jsonl", "csv", "ecs", "sysmon-xml", "sysmon-json", "win4688", "auditd", "text")
FIELD_FORMATS = ("jsonl", "csv", "ecs", "sysmon-json")  # where --field applies
MAX_EXAMPLES = 5
POLL_SECONDS = 0.2
MAX_EVENT_CHARS = 4_000_000  # a multi-line event (XML, JSON document, CSV record) larger than this is dropped
MAX_EVENT_LINES = 100_000
MAX_CSV_RECORD_LINES = 10_000  # physical lines of one CSV record (quoted newlines)
MAX_PENDING_AUDIT = 64  # auditd events waiting for their remaining EXECVE records
SAMPLE_LINES = 20
MAX_LINE_CHARS = 1 << 20  # a physical line longer than this is dropped (read on in chunks, never held whole)
_DISCARD_CHUNK = 1 << 16  # characters read at a time while passing over an over-long line

_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError


class _Reset:
    """Marker from a followed source: the file was rotated or truncated; line numbers restart at 1."""


_RESET = _Reset()


class _LongLine:
    """Marker from a source: a physical line longer than ``limit`` characters was read past and dropped. Its
    number of double quotes is kept: whether it ends inside a quoted CSV field decides where its record ends."""

    __slots__ = ("limit", "quotes")

    def __init__(self, limit: int, quotes: int) -> None:
        self.limit = limit
        self.quotes = quotes


# A source yields str lines (with their "\n"), None when a followed file is idle, _RESET, or a _LongLine.


@dataclass(slots=True)
class LogLine:
    line_no: int  # 1-based line where the event starts
    command_line: str
    extra: dict = dc_field(default_factory=dict)


@dataclass
class ScanCounts:
    """What reading a log found. ``examples`` and ``skipped_examples`` keep the first few (line, reason)."""

    format: str | None = None
    lines_read: int = 0
    events: int = 0  # command lines yielded
    skipped_not_process_creation: int = 0
    skipped_no_command_line: int = 0
    skipped_too_long: int = 0  # physical lines over the cap (lines_read counts them too)
    unparseable: int = 0
    examples: list[tuple[int, str]] = dc_field(default_factory=list)
    skipped_examples: list[tuple[int, str]] = dc_field(default_factory=list)

    @property
    def skipped(self) -> dict[str, int]:
        return {"not process creation": self.skipped_not_process_creation, "no command line": self.skipped_no_command_line,
                "line too long": self.skipped_too_long}

    def bad(self, line: int, reason: str) -> None:
        self.unparseable += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append((line, reason))

    def not_process(self, line: int, reason: str) -> None:
        self.skipped_not_process_creation += 1
        self._skip_example(line, reason)

    def no_command(self, line: int, reason: str) -> None:
        self.skipped_no_command_line += 1
        self._skip_example(line, reason)

    def too_long(self, line: int, marker: _LongLine) -> None:
        """Line ``line`` was over the cap (and dropped unread): it counts as read and as skipped."""
        self.lines_read += 1
        self.skipped_too_long += 1
        self._skip_example(line, f"line longer than {marker.limit:,} characters (--max-line-chars)")

    def _skip_example(self, line: int, reason: str) -> None:
        if len(self.skipped_examples) < MAX_EXAMPLES:
            self.skipped_examples.append((line, reason))


# --- public API --------------------------------------------------------------------------------------------

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
    source, close, display = _open_source(path, follow, stop, poll, max_line_chars)
    try:
        if fmt == "auto":
            sample, consumed, source = _sample(source)
            fmt = detect_format(sample, path)
            if field is not None and fmt not in FIELD_FORMATS:
                raise SectuneError(f"--field applies to {', '.join(FIELD_FORMATS)} logs; this looks like {fmt} "
                                   f"(pass --format to say otherwise)", path=display)
            source = chain(consumed, source)
        stats.format = fmt
        events = _PARSERS[fmt](source, stats, field, display)
        if idle_ticks:
            yield from events
        else:
            for item in events:
                if item is not None:
                    yield item
    finally:
        close()


def follow_lines(path: str | Path, stop: threading.Event | None = None, poll: float = POLL_SECONDS,
                 max_line_chars: int = MAX_LINE_CHARS) -> Iterator[str]:
    """The lines of a growing file (without their line ending), from its start, then as they are appended;
    reopened after rotation or truncation; ends when ``stop`` is set (after reading what is there).
    Lines longer than ``max_line_chars`` are left out (never held in memory)."""
    source, close, _ = _open_source(path, True, stop, poll, max_line_chars)
    try:
        for line in source:
            if line.__class__ is str:
                yield line.rstrip("\r\n")
    finally:
        close()


def detect_format(first_lines: list[str], path: str | Path | None = None) -> str:
    """The log format from the first lines and the file name (rules in the module docstring)."""
    name = "" if path is None or str(path) == "-" else Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    suffix = Path(name).suffix
    if suffix == ".csv":
        return "csv"
    lines = [s for s in (line.strip().lstrip("\ufeff") for line in first_lines) if s][:SAMPLE_LINES]
    if not lines:
        return _by_suffix(suffix)
    first = lines[0]
    if first.startswith("<"):
        m = re.search(r"<EventID[^>]*>\s*(\d+)\s*<", "\n".join(lines))
        return "win4688" if m and m.group(1) == "4688" else "sysmon-xml"
    if first.startswith("[") or first == "{" or 2 * sum(s.startswith("{") for s in lines) >= len(lines):
        return _json_kind(lines)
    if any(_EVENT_MARKER.match(s) for s in lines) or (
        any(s.startswith("Log Name:") for s in lines) and any(s.startswith("Event ID:") for s in lines)
    ):
        return "win4688"
    if 2 * sum(_AUDIT_RECORD.search(s) is not None for s in lines) >= len(lines):
        return "auditd"
    if "," in first or _norm(first) in ("commandline", "processcommandline"):
        try:
            header = next(csv.reader([first]))
        except (csv.Error, StopIteration):
            header = []
        if any(_norm(h) in _CMD_COLUMNS for h in header):
            return "csv"
    return _by_suffix(suffix)


def _by_suffix(suffix: str) -> str:
    if suffix in (".json", ".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".xml":
        return "sysmon-xml"
    return "text"


def _json_kind(lines: list[str]) -> str:
    for s in lines:
        if not s.startswith("{"):
            continue
        try:
            obj = _loads(s)
        except _JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return _json_kind_of(obj)
    text = "\n".join(lines)  # a multi-line document: go by the key names
    if any(f'"{k}"' in text for k in ("winlog", "EventID", "EventId", "ProviderName", "EventData", "event_id")):
        return "sysmon-json"
    if any(f'"{k}"' in text for k in ("command_line", "ecs", "process.command_line", "process.args")):
        return "ecs"
    return "jsonl"


def _json_kind_of(obj: dict) -> str:
    if "winlog" in obj or "EventID" in obj or "EventId" in obj or "EventData" in obj or (
        "Id" in obj and ("ProviderName" in obj or "Message" in obj)
    ) or (isinstance(obj.get("Event"), dict) and ("System" in obj["Event"] or "EventData" in obj["Event"])):
        return "sysmon-json"
    process = obj.get("process")
    if (isinstance(process, dict) and ("command_line" in process or "args" in process)) or "ecs" in obj \
            or "process.command_line" in obj or "process.args" in obj \
            or (isinstance(obj.get("event"), dict) and "category" in obj["event"]) or "event.category" in obj:
        return "ecs"
    return "jsonl"


# --- sources ------------------------------------------------------------------------------------------------

def _display(path: str | Path) -> str:
    return "<stdin>" if str(path) == "-" else str(path)


def _sniff_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith(codecs.BOM_UTF16_LE) or head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16"
    if len(head) >= 4 and head[1] == 0 and head[3] == 0 and head[0] != 0 and head[2] != 0:
        return "utf-16-le"
    if len(head) >= 4 and head[0] == 0 and head[2] == 0 and head[1] != 0 and head[3] != 0:
        return "utf-16-be"
    return "utf-8"


def _check_file(p: Path, display: str) -> None:
    if not p.exists():
        raise SectuneError("no such file", path=display)
    if p.is_dir():
        raise SectuneError("is a directory, expected a log file", path=display)


def _open_source(path, follow: bool, stop, poll: float, max_line: int) -> tuple[Iterator, Callable[[], None], str]:
    """(lines with their "\\n" or _LongLine (+ None / _RESET when following), close function, display name)."""
    display = _display(path)
    if str(path) == "-":
        buffer = getattr(sys.stdin, "buffer", None)
        if buffer is None:  # a replaced sys.stdin (tests): already text
            text: io.TextIOBase = sys.stdin
        else:
            peek = getattr(buffer, "peek", None)
            encoding = _sniff_encoding(peek(4)[:4]) if peek is not None else "utf-8"
            text = io.TextIOWrapper(buffer, encoding=encoding, errors="replace", newline="\n")
        lines = _capped_lines(text.readline, max_line)
        if follow:
            return _ticking(lines, stop, poll), lambda: None, display
        return lines, lambda: None, display
    p = Path(path)
    _check_file(p, display)
    if p.name.lower().endswith(".gz"):
        if follow:
            raise SectuneError("cannot follow a .gz file (it does not grow); scan it without --follow", path=display)
        raw = gzip.open(p, "rb")
        try:
            head = raw.peek(4)[:4]
        except (OSError, EOFError, zlib.error) as e:
            raw.close()
            raise SectuneError(f"not a valid gzip file ({' '.join(str(e).split())})", path=display) from None
        fh = io.TextIOWrapper(raw, encoding=_sniff_encoding(head), errors="replace", newline="\n")
        return _guarded_gzip(_capped_lines(fh.readline, max_line), display), fh.close, display
    if follow:
        gen = _follow_file(p, stop, poll, max_line)
        return gen, gen.close, display
    try:
        raw = open(p, "rb")
    except OSError as e:
        raise SectuneError(f"cannot read file ({e.strerror or e})", path=display) from None
    fh = io.TextIOWrapper(raw, encoding=_sniff_encoding(raw.peek(4)[:4]), errors="replace", newline="\n")
    return _capped_lines(fh.readline, max_line), fh.close, display


def _capped_lines(readline: Callable[[int], str], limit: int) -> Iterator[str | _LongLine]:
    """The lines ``readline`` gives, each read with at most ``limit`` + 1 characters in hand: a longer line is read
    on to its newline in chunks that are dropped at once, and stands as a _LongLine (memory stays flat)."""
    size = limit + 1
    while True:
        line = readline(size)
        if len(line) < size or line[-1] == "\n":
            if not line:
                return
            yield line
            continue
        quotes = line.count('"')
        line = ""  # let the head go before reading on
        while True:
            part = readline(_DISCARD_CHUNK)
            quotes += part.count('"')
            if not part or part[-1] == "\n":
                break
        yield _LongLine(limit, quotes)


class _LineCutter:
    """Cuts decoded text, as it arrives in pieces, into lines (with their "\\n") of at most ``limit`` characters;
    a longer line is dropped as it streams in (only its quotes counted) and stands as a _LongLine when it ends."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.pending = ""  # the unfinished line
        self.quotes = -1  # >= 0 while an over-long line is being passed over: its quotes so far

    def feed(self, text: str) -> Iterator[str | _LongLine]:
        parts = text.split("\n")
        tail = parts.pop()
        for part in parts:
            if self.quotes < 0 and len(self.pending) + len(part) <= self.limit:
                yield self.pending + part + "\n"
                self.pending = ""
            else:
                self._add(part)
                yield from self.rest()
        self._add(tail)

    def _add(self, text: str) -> None:
        if self.quotes >= 0:
            self.quotes += text.count('"')
        elif len(self.pending) + len(text) > self.limit:
            self.quotes = self.pending.count('"') + text.count('"')
            self.pending = ""
        else:
            self.pending += text

    def rest(self) -> Iterator[str | _LongLine]:
        """The unfinished line, if any (at the end of the input, or when it is rotated away); then start afresh."""
        if self.quotes >= 0:
            yield _LongLine(self.limit, self.quotes)
        elif self.pending:
            yield self.pending
        self.pending, self.quotes = "", -1


def _guarded_gzip(lines: Iterator[str | _LongLine], display: str) -> Iterator[str | _LongLine]:
    """A corrupt or truncated gzip stream ends the input with a warning line instead of a traceback."""
    try:
        yield from lines
    except (OSError, EOFError, zlib.error) as e:
        import logging

        logging.getLogger("sectune").warning("%s: gzip data ends early (%s); scanned what came before",
                                             display, " ".join(str(e).split()))


def _ticking(lines: Iterable[str | _LongLine], stop, poll: float) -> Iterator:
    """Lines read by a background thread, with None whenever none arrived for ``poll`` seconds (stdin --follow)."""
    q: queue.Queue = queue.Queue(maxsize=10_000)
    done = object()

    def pump() -> None:
        try:
            for line in lines:
                q.put(line)
        finally:
            q.put(done)

    threading.Thread(target=pump, daemon=True, name="sectune-stdin").start()
    while True:
        try:
            item = q.get(timeout=poll)
        except queue.Empty:
            if stop is not None and stop.is_set():
                return
            yield None
            continue
        if item is done:
            return
        yield item


def _follow_file(p: Path, stop, poll: float, max_line: int) -> Iterator:
    """Tail a file from its start: lines as they are completed, None when idle, _RESET after rotation/truncation;
    a line longer than ``max_line`` is dropped as it streams in and stands as a _LongLine once it ends."""
    fh = open(p, "rb")
    st = os.fstat(fh.fileno())
    ident = (st.st_dev, st.st_ino)
    decoder = None
    cutter = _LineCutter(max_line)
    try:
        while True:
            chunk = fh.read(1 << 16)
            if chunk:
                if decoder is None:
                    decoder = codecs.getincrementaldecoder(_sniff_encoding(chunk[:4]))(errors="replace")
                yield from cutter.feed(decoder.decode(chunk))
                continue
            if stop is not None and stop.is_set():
                break
            try:
                now = os.stat(p)
            except OSError:  # rotated away and not recreated yet
                now = None
            if now is not None and (now.st_dev, now.st_ino) != ident:  # rotated: old file drained, read the new one
                try:
                    new = open(p, "rb")
                except OSError:
                    new = None
                if new is not None:
                    yield from cutter.rest()
                    fh.close()
                    fh = new
                    st = os.fstat(fh.fileno())
                    ident = (st.st_dev, st.st_ino)
                    decoder = None
                    yield _RESET
                    continue
            elif now is not None and now.st_size < fh.tell():  # truncated in place (copytruncate)
                fh.seek(0)
                decoder, cutter = None, _LineCutter(max_line)
                yield _RESET
                continue
            yield None
            if stop is not None:
                if stop.wait(poll):
                    continue  # read what is left, then stop
            else:
                time.sleep(poll)
        yield from cutter.rest()
    finally:
        fh.close()


def _sample(source: Iterator) -> tuple[list[str], list, Iterator]:
    """The first non-blank lines for detection, everything consumed (to replay), and the rest of the source.
    A followed source that goes idle ends the sample early once it has a line."""
    sample: list[str] = []
    consumed: list = []
    for item in source:
        consumed.append(item)
        if item.__class__ is str:
            if item.strip():
                sample.append(item)
                if len(sample) >= SAMPLE_LINES:
                    break
        elif item is None and sample:
            break
        if len(consumed) >= 1000:
            break
    return sample, consumed, source


def _first_nonblank(source: Iterator) -> tuple[str | None, Iterator]:
    consumed: list = []
    first = None
    for item in source:
        consumed.append(item)
        if item.__class__ is str and item.strip():
            first = item.strip().lstrip("\ufeff")
            break
    return first, chain(consumed, source)


# --- plain text ---------------------------------------------------------------------------------------------

def _text_events(source, stats: ScanCounts, field, display) -> Iterator:
    n = 0
    for line in source:
        if line.__class__ is not str:
            if line is _RESET:
                n = 0
            elif line is None:
                yield None
            else:
                n += 1
                stats.too_long(n, line)
            continue
        n += 1
        stats.lines_read += 1
        text = line.rstrip("\r\n")
        if not text or text.isspace():
            continue
        if "\x00" in text:
            stats.bad(n, "binary data (NUL byte)")
            continue
        stats.events += 1
        yield LogLine(n, text, {})


# --- JSON ---------------------------------------------------------------------------------------------------

_JSON_TOKEN = re.compile(r'["\\{}\[\]]')


class _JsonSplitter:
    """Cuts a JSON document (an array of objects, or objects one after another, pretty-printed or not) into
    the text of each top-level object, line by line, without holding more than one object."""

    def __init__(self) -> None:
        self.depth = 0
        self.level = 0  # depth at which records start: 1 inside a top-level array
        self.in_str = False
        self.capturing = False
        self.parts: list[str] = []
        self.size = 0
        self.start = 0

    def feed(self, line: str, n: int, stats: ScanCounts) -> list[tuple[int, str]]:
        out = []
        seg = 0
        skip = -1
        for m in _JSON_TOKEN.finditer(line):
            i = m.start()
            if i == skip:
                continue
            c = line[i]
            if self.in_str:
                if c == "\\":
                    skip = i + 1
                elif c == '"':
                    self.in_str = False
                continue
            if c == '"':
                self.in_str = True
            elif c == "{" or c == "[":
                if c == "{" and self.depth == self.level and not self.capturing:
                    self.capturing, seg, self.start, self.parts, self.size = True, i, n, [], 0
                elif c == "[" and self.depth == 0:
                    self.level = 1
                self.depth += 1
            else:
                self.depth -= 1
                if self.capturing and self.depth == self.level:
                    self.parts.append(line[seg:i + 1])
                    out.append((self.start, "".join(self.parts)))
                    self.capturing, self.parts = False, []
                if self.depth <= 0:
                    self.depth, self.level = 0, 0
        if self.capturing:
            self.parts.append(line[seg:])
            self.size += len(line) - seg
            if self.size > MAX_EVENT_CHARS or n - self.start > MAX_EVENT_LINES:
                stats.bad(self.start, "JSON object too large or never closed")
                self.__init__()
        return out

    def close(self, stats: ScanCounts) -> None:
        if self.capturing:
            stats.bad(self.start, "JSON object never closed")
        self.__init__()


def _json_records(source, stats: ScanCounts) -> Iterator:
    """(line_no, dict) per JSON object: JSON lines, or a JSON document; None for idle ticks."""
    n = 0
    doc = None  # undecided until the first non-blank line: False = JSON lines, True = a document
    splitter = _JsonSplitter()
    for line in source:
        if line.__class__ is not str:
            if line is _RESET:
                splitter.close(stats)
                n, doc = 0, None
            elif line is None:
                yield None
            else:
                n += 1
                stats.too_long(n, line)
                splitter = _JsonSplitter()  # the object it was part of is lost: start again at the top level
            continue
        n += 1
        stats.lines_read += 1
        if doc is None:
            s = line.strip().lstrip("\ufeff")
            if not s:
                continue
            doc = s[0] == "[" or s == "{"
            line = line.replace("\ufeff", "", 1)
        if not doc:
            try:
                obj = _loads(line)
            except _JSONDecodeError as e:
                if line.isspace():
                    continue
                stats.bad(n, f"malformed JSON ({e.msg} at column {min(e.pos, len(line.rstrip())) + 1})")
                continue
            if obj.__class__ is dict:
                yield n, obj
            else:
                stats.bad(n, "not a JSON object")
            continue
        for start, text in splitter.feed(line, n, stats):
            try:
                obj = _loads(text)
            except _JSONDecodeError as e:
                stats.bad(start, f"malformed JSON ({e.msg})")
                continue
            yield start, obj
    splitter.close(stats)


_CMD_KEYS = ("command_line", "CommandLine", "commandline", "cmdline", "cmd", "command", "process.command_line",
             "ProcessCommandLine", "text")


def _dotted(obj: dict, key: str, parts: list[str]) -> Any:
    v = obj.get(key)
    if v is not None or len(parts) == 1:
        return v
    for p in parts:
        if obj.__class__ is not dict:
            return None
        obj = obj.get(p)
        if obj is None:
            return None
    return obj


def _getter(field: str) -> Callable[[dict], Any]:
    parts = field.split(".")
    if len(parts) == 1:
        return lambda obj: obj.get(field)
    return lambda obj: _dotted(obj, field, parts)


def _as_command(v: Any) -> str | None:
    if v is None:
        return None
    if v.__class__ is str:
        return v
    if isinstance(v, list):
        return _join_args([str(a) for a in v])
    if isinstance(v, dict):
        return None
    return str(v)


def _join_args(args: list[str]) -> str:
    """argv as one line: Windows quoting when it looks like a Windows program, else POSIX shell quoting."""
    if args and ("\\" in args[0] or args[0].lower().endswith(".exe")):
        return subprocess.list2cmdline(args)
    return shlex.join(args)


_EXTRA_KEYS = (("host", "host"), ("hostname", "host"), ("user", "user"), ("username", "user"),
               ("@timestamp", "time"), ("timestamp", "time"), ("time", "time"))


def _jsonl_events(source, stats: ScanCounts, field, display) -> Iterator:
    getter = _getter(field) if field else None
    missing = f"no field '{field}'" if field else f"no command-line field ({', '.join(_CMD_KEYS)}); pass --field"
    last = _CMD_KEYS[0]
    for item in _json_records(source, stats):
        if item is None:
            yield None
            continue
        n, obj = item
        if getter is not None:
            v = getter(obj)
        else:
            v = obj.get(last)
            if v is None:
                for key in _CMD_KEYS:
                    v = obj.get(key) if "." not in key else _dotted(obj, key, key.split("."))
                    if v is not None:
                        last = key
                        break
        cmd = _as_command(v)
        if not cmd or cmd.isspace():
            stats.no_command(n, missing if v is None else "empty command line")
            continue
        extra = {}
        for key, name in _EXTRA_KEYS:
            x = obj.get(key)
            if x is not None and name not in extra and x.__class__ in (str, int, float):
                extra[name] = x
        stats.events += 1
        yield LogLine(n, cmd, extra)


def _first(obj: dict, *paths: str) -> Any:
    for path in paths:
        v = _dotted(obj, path, path.split("."))
        if v is not None and v != "":
            return v
    return None


_EMPTY: dict = {}


def _sub(obj: dict, key: str) -> dict:
    v = obj.get(key)
    return v if v.__class__ is dict else _EMPTY


def _pick(obj: dict, sub: dict, key: str, flat: str) -> Any:
    """``sub[key]`` of a nested ECS object, else the flattened ``obj["a.b"]`` spelling."""
    v = sub.get(key)
    return v if v is not None else obj.get(flat)


def _ecs_events(source, stats: ScanCounts, field, display) -> Iterator:
    getter = _getter(field) if field else None
    for item in _json_records(source, stats):
        if item is None:
            yield None
            continue
        n, obj = item
        event = _sub(obj, "event")
        category = _pick(obj, event, "category", "event.category")
        if category is not None and "process" not in (category if category.__class__ is list else [category]):
            stats.not_process(n, f"event.category {category}")
            continue
        kind = _pick(obj, event, "type", "event.type")
        if kind is not None and "start" not in (kind if kind.__class__ is list else [kind]):
            stats.not_process(n, f"event.type {kind}")
            continue
        process = _sub(obj, "process")
        if getter is not None:
            cmd = _as_command(getter(obj))
        else:
            cmd = _as_command(_pick(obj, process, "command_line", "process.command_line"))
            if not cmd:
                args = _pick(obj, process, "args", "process.args")
                cmd = _as_command(args) if args.__class__ is list else None
        if not cmd or cmd.isspace():
            stats.no_command(n, "no process.command_line or process.args")
            continue
        extra = {}
        host = _sub(obj, "host")
        v = host.get("name") or host.get("hostname") or obj.get("host.name")
        if v:
            extra["host"] = v
        v = _pick(obj, _sub(obj, "user"), "name", "user.name")
        if v:
            extra["user"] = v
        v = process.get("executable") or process.get("name") or obj.get("process.executable")
        if v:
            extra["process"] = v
        parent = _sub(process, "parent")
        v = parent.get("executable") or parent.get("name") or obj.get("process.parent.executable")
        if v:
            extra["parent_process"] = v
        v = obj.get("@timestamp")
        if v:
            extra["time"] = v
        stats.events += 1
        yield LogLine(n, cmd, extra)


def _compact(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None and v != ""}


# --- Windows events -----------------------------------------------------------------------------------------

_MESSAGE_CMD = re.compile(r"^[ \t]*(?:Process Command Line|CommandLine):[ \t]*(.*?)\r?$", re.M)


def _event_id(v: Any) -> int | None:
    if isinstance(v, dict):
        v = v.get("#text", v.get("value", v.get("Value")))
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.strip().isdigit():
        return int(v)
    return None


def _win_event(n: int, eid: int | None, provider: str | None, data: dict, host, when, stats: ScanCounts,
               cmd: str | None = None, message: str | None = None) -> LogLine | None:
    """The LogLine of a Sysmon 1 / Security 4688 event, or None (counted) for anything else."""
    if eid is None:
        stats.bad(n, "no EventID")
        return None
    sysmon = eid == 1 and (not provider or "sysmon" in provider.lower())
    if not sysmon and eid != 4688:
        stats.not_process(n, f"EventID {eid}" + (f" ({provider})" if provider else ""))
        return None
    if cmd is None:
        cmd = data.get("CommandLine")
        if not cmd and message:
            m = _MESSAGE_CMD.search(message)
            cmd = m.group(1) if m else None
    if not isinstance(cmd, str) or not cmd.strip():
        stats.no_command(n, f"EventID {eid} without a command line"
                         + ("" if sysmon else " (enable 'Include command line in process creation events')"))
        return None
    if sysmon:
        user, process, parent = data.get("User"), data.get("Image"), data.get("ParentImage")
    else:
        name, domain = data.get("SubjectUserName"), data.get("SubjectDomainName")
        user = f"{domain}\\{name}" if name and domain and domain != "-" else name
        process, parent = data.get("NewProcessName"), data.get("ParentProcessName")
    extra = _compact({"host": host, "user": user, "process": process, "parent_process": parent,
                      "parent_command_line": data.get("ParentCommandLine"), "time": when, "event_id": eid})
    stats.events += 1
    return LogLine(n, cmd, extra)


_EVENT_START = re.compile(r"<Event[\s>]")
_XML_NOISE = ("<?", "<Events", "</Events", "<!--")


def _winxml_events(source, stats: ScanCounts, field, display) -> Iterator:
    n = 0
    inside = False
    resync = False  # after an over-long line: the rest of its event, up to the next <Event, is passed over
    parts: list[str] = []
    size = start = 0
    for line in source:
        if line.__class__ is not str:
            if line is _RESET:
                if inside:
                    stats.bad(start, "<Event> element never closed")
                n, inside, parts, resync = 0, False, [], False
            elif line is None:
                yield None
            else:
                n += 1
                stats.too_long(n, line)
                inside, parts, resync = False, [], True  # the event it was part of is dropped
            continue
        n += 1
        stats.lines_read += 1
        pos = 0
        while True:
            if not inside:
                m = _EVENT_START.search(line, pos)
                if m is None:
                    rest = line[pos:].strip()
                    if rest and not resync and not rest.startswith(_XML_NOISE):
                        stats.bad(n, "text outside an <Event> element")
                    break
                begin, start, inside, parts, size, resync = m.start(), n, True, [], 0, False
            else:
                begin = pos
            end = line.find("</Event>", begin)
            if end < 0:
                parts.append(line[begin:])
                size += len(line) - begin
                if size > MAX_EVENT_CHARS or n - start > MAX_EVENT_LINES:
                    stats.bad(start, "<Event> element too large or never closed")
                    inside, parts = False, []
                break
            end += len("</Event>")
            parts.append(line[begin:end])
            inside = False
            event = _parse_event_xml("".join(parts), start, stats)
            parts = []
            if event is not None:
                yield event
            pos = end
    if inside:
        stats.bad(start, "<Event> element never closed")


def _parse_event_xml(text: str, n: int, stats: ScanCounts) -> LogLine | None:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        stats.bad(n, f"malformed XML ({e})")
        return None
    tag = root.tag
    ns = tag[: tag.index("}") + 1] if tag.startswith("{") else ""
    system = root.find(ns + "System")
    if system is None:
        stats.bad(n, "<Event> without <System>")
        return None
    provider_el = system.find(ns + "Provider")
    time_el = system.find(ns + "TimeCreated")
    data = {d.get("Name"): d.text or "" for d in root.iterfind(f"{ns}EventData/{ns}Data")}
    return _win_event(n, _event_id(system.findtext(ns + "EventID")),
                      None if provider_el is None else provider_el.get("Name"), data,
                      system.findtext(ns + "Computer"), None if time_el is None else time_el.get("SystemTime"), stats)


def _data_dict(v: Any) -> dict:
    """EventData as a dict, whether {"CommandLine": ...} or {"Data": [{"@Name"/"Name": ..., "#text": ...}]}."""
    if not isinstance(v, dict):
        return {}
    items = v.get("Data")
    if isinstance(items, list) and items and isinstance(items[0], dict):
        out = {}
        for d in items:
            name = d.get("@Name", d.get("Name"))
            if name is not None:
                out[name] = d.get("#text", d.get("Value", d.get("text")))
        return out
    return v


def _ms_date(text: str) -> str:
    m = re.match(r"/Date\((-?\d+)[^)]*\)/", text)
    if m is None:
        return text
    try:
        return datetime.fromtimestamp(int(m.group(1)) / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    except (ValueError, OverflowError, OSError):
        return text


def _sysmon_json_events(source, stats: ScanCounts, field, display) -> Iterator:
    getter = _getter(field) if field else None
    for item in _json_records(source, stats):
        if item is None:
            yield None
            continue
        n, obj = item
        winlog = obj.get("winlog")
        event = obj.get("Event")
        if isinstance(winlog, dict):
            eid = _event_id(winlog.get("event_id"))
            provider = winlog.get("provider_name")
            data = _data_dict(winlog.get("event_data"))
            host = winlog.get("computer_name") or _first(obj, "host.name")
            when = obj.get("@timestamp")
        elif isinstance(event, dict) and ("System" in event or "EventData" in event):
            system = event.get("System") if isinstance(event.get("System"), dict) else {}
            eid = _event_id(system.get("EventID"))
            prov = system.get("Provider")
            provider = _first(prov, "#attributes.Name", "@Name", "Name") if isinstance(prov, dict) else prov
            data = _data_dict(event.get("EventData"))
            host = system.get("Computer")
            created = system.get("TimeCreated")
            when = _first(created, "#attributes.SystemTime", "@SystemTime", "SystemTime") if isinstance(created, dict) else created
        else:
            eid = _event_id(_first(obj, "EventID", "EventId", "Id", "event_id", "event.code"))
            provider = _first(obj, "ProviderName", "SourceName", "Provider", "provider_name")
            provider = provider if isinstance(provider, str) else None
            data = _data_dict(obj.get("EventData")) or _data_dict(obj.get("event_data")) or obj
            host = _first(obj, "Computer", "MachineName", "Hostname", "computer_name", "host.name")
            when = _first(obj, "UtcTime", "TimeCreated", "EventTime", "@timestamp")
        if isinstance(when, str) and when.startswith("/Date("):  # ConvertTo-Json of a DateTime (PowerShell 5)
            when = _ms_date(when)
        if getter is not None:
            cmd = _as_command(getter(obj)) or ""
        else:
            cmd = data.get("CommandLine") or obj.get("CommandLine") or _first(obj, "process.command_line")
        message = obj.get("Message")
        ev = _win_event(n, eid, provider if isinstance(provider, str) else None, data,
                        host if isinstance(host, str) else None, when if isinstance(when, (str, int)) else None,
                        stats, cmd=cmd if isinstance(cmd, str) and cmd else None,
                        message=message if isinstance(message, str) else None)
        if ev is not None:
            yield ev


_EVENT_MARKER = re.compile(r"^\s*Event\[\d+\]:\s*$")
_TEXT_KEYS = {"Event ID": "eid", "Computer": "host", "Date": "time", "Account Name": "user",
              "Account Domain": "domain", "New Process Name": "process", "Creator Process Name": "parent_process",
              "Process Command Line": "cmd", "Source": "provider"}


def _win4688_events(source, stats: ScanCounts, field, display) -> Iterator:
    first, source = _first_nonblank(source)
    if first is not None and first.startswith("<"):
        yield from _winxml_events(source, stats, field, display)
    else:
        yield from _win4688_text(source, stats)


def _win4688_text(source, stats: ScanCounts) -> Iterator:
    n = 0
    block: dict | None = None  # fields of the current event block
    start = 0

    def finish() -> LogLine | None:
        if block is None or "done" in block:
            return None
        user = block.get("user")
        domain = block.get("domain")
        data = {"SubjectUserName": user, "SubjectDomainName": domain, "NewProcessName": block.get("process"),
                "ParentProcessName": block.get("parent_process")}
        return _win_event(start, _event_id(block.get("eid")), block.get("provider"), data, block.get("host"),
                          block.get("time"), stats, cmd=block.get("cmd"))

    for line in source:
        if line.__class__ is _LongLine:
            n += 1
            stats.too_long(n, line)
            if block is not None:  # its event is dropped; a later "Log Name:" still starts the next block
                block = {"done": True, "log": block["log"]} if "log" in block else {"done": True}
            continue
        if line.__class__ is not str:
            if line is _RESET or (line is None and block is not None and "cmd" in block):
                ev = finish()  # idle: a block whose command line is in need not wait for the next block
                block = None if line is _RESET else {"done": True}  # its remaining lines are ignored
                if ev is not None:
                    yield ev
                if line is _RESET:
                    n = 0
            if line is None:
                yield None
            continue
        n += 1
        stats.lines_read += 1
        s = line.strip()
        if not s:
            continue
        new = _EVENT_MARKER.match(s) is not None
        key, sep, value = s.partition(":")
        if not new and key == "Log Name" and (block is None or "log" in block):
            new = True
        if new:
            ev = finish()
            if ev is not None:
                yield ev
            block, start = {}, n
            if key == "Log Name":
                block["log"] = value.strip()
            continue
        if block is None:
            stats.bad(n, "text outside an event block (expected 'Event[N]:')")
            continue
        if key == "Log Name":
            block["log"] = value.strip()
        elif sep and key in _TEXT_KEYS:
            name = _TEXT_KEYS[key]
            if name not in block:
                block[name] = value.strip()
    ev = finish()
    if ev is not None:
        yield ev


# --- auditd -------------------------------------------------------------------------------------------------

_AUDIT_RECORD = re.compile(r"(?:\bnode=(\S+)\s+)?\btype=(\S+)\s+(?:msg=)?audit\(([^)]*)\)\s*:\s?(.*)")
_AUDIT_KV = re.compile(r'([A-Za-z_][\w-]*(?:\[\d+\])?)=("[^"]*"?|\S*)')
_ARG_KEY = re.compile(r"a(\d+)(?:\[(\d+)\]|(_len))?$")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_UNSET_IDS = ("4294967295", "-1", "unset")


class _AuditEvent:
    __slots__ = ("line", "serial", "stamp", "node", "interpreted", "argc", "args", "lens", "execve", "fields")

    def __init__(self, line: int, serial: str, stamp: str, node: str | None, interpreted: bool) -> None:
        self.line, self.serial, self.stamp, self.node, self.interpreted = line, serial, stamp, node, interpreted
        self.argc: int | None = None
        self.args: dict[int, dict[int, bytes]] = {}
        self.lens: dict[int, int] = {}
        self.execve = False
        self.fields: dict[str, str] = {}

    def missing(self) -> str | None:
        """Why the argv is not complete yet, or None."""
        if self.argc is None:
            return "EXECVE record without argc"
        for i in range(self.argc):
            chunks = self.args.get(i)
            if chunks is None:
                return f"argument a{i} missing (argc={self.argc})"
            if i in self.lens and sum(len(c) for c in chunks.values()) < self.lens[i]:
                return f"argument a{i} incomplete ({sum(len(c) for c in chunks.values())} of {self.lens[i]} bytes)"
        return None


def _audit_value(v: str, interpreted: bool) -> bytes:
    if v.startswith('"'):
        return v[1:-1].encode() if len(v) > 1 and v.endswith('"') else v[1:].encode()
    if v == "(null)":
        return b""
    if not interpreted and _HEX.fullmatch(v):
        return bytes.fromhex(v)
    return v.encode()


def _audit_time(stamp: str) -> str:
    try:
        return datetime.fromtimestamp(float(stamp), tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    except (ValueError, OverflowError, OSError):
        return stamp


def _auditd_events(source, stats: ScanCounts, field, display) -> Iterator:
    n = 0
    pending: dict[tuple, _AuditEvent] = {}

    def flush(key: tuple) -> LogLine | None:
        ev = pending.pop(key)
        if not ev.execve:
            stats.not_process(ev.line, f"audit event {ev.serial} has no EXECVE record")
            return None
        why = ev.missing()
        if why is not None:
            stats.bad(ev.line, f"audit event {ev.serial}: {why}")
            return None
        argv = [b"".join(c for _, c in sorted(ev.args[i].items())).decode("utf-8", "replace") for i in range(ev.argc)]
        cmd = shlex.join(argv) if argv else ""
        if not cmd.strip():
            stats.no_command(ev.line, f"audit event {ev.serial}: empty argv")
            return None
        f = ev.fields
        user = f.get("AUID") or f.get("UID")
        if not user:
            auid = f.get("auid")
            user = auid if auid and auid not in _UNSET_IDS else f.get("uid")
        extra = _compact({"host": ev.node, "user": user, "process": f.get("exe"), "pid": f.get("pid"),
                          "ppid": f.get("ppid"), "cwd": f.get("cwd"),
                          "time": ev.stamp if ev.interpreted else _audit_time(ev.stamp), "argv": argv})
        stats.events += 1
        return LogLine(ev.line, cmd, extra)

    def flush_ready(keep: tuple | None, final: bool) -> Iterator[LogLine]:
        for key in list(pending):
            if key == keep:
                continue
            ev = pending[key]
            if final or not ev.execve or ev.missing() is None:
                out = flush(key)
                if out is not None:
                    yield out
        while len(pending) > MAX_PENDING_AUDIT:
            out = flush(next(iter(pending)))
            if out is not None:
                yield out

    for line in source:
        if line.__class__ is _LongLine:  # not a record auditd writes (a few KiB at most): count it, go on
            n += 1
            stats.too_long(n, line)
            continue
        if line.__class__ is not str:
            yield from flush_ready(None, line is _RESET)
            if line is _RESET:
                n = 0
            else:
                yield None
            continue
        n += 1
        stats.lines_read += 1
        m = _AUDIT_RECORD.search(line)
        if m is None:
            if line.strip() and not line.startswith("----"):  # ausearch separates events with "----"
                stats.bad(n, "not an audit record (type=... msg=audit(...))")
            continue
        node, rtype, stamp_serial, rest = m.groups()
        stamp, _, serial = stamp_serial.rpartition(":")
        key = (node, serial)
        ev = pending.get(key)
        if ev is None:
            yield from flush_ready(None, False)  # a new serial: the events before it have ended
            interpreted = not stamp.replace(".", "", 1).isdigit()
            ev = pending[key] = _AuditEvent(n, serial, stamp, node, interpreted)
        rest, _, enriched = rest.partition("\x1d")
        if rtype in ("EXECVE", "1309"):
            ev.execve = True
            found = False
            for k, v in _AUDIT_KV.findall(rest):
                if k == "argc":
                    ev.argc = int(v) if v.isdigit() else None
                    continue
                a = _ARG_KEY.match(k)
                if a is None:
                    continue
                found = True
                i = int(a.group(1))
                if a.group(3):
                    ev.lens[i] = int(v) if v.isdigit() else 0
                    ev.args.setdefault(i, {})
                else:
                    ev.args.setdefault(i, {})[int(a.group(2) or 0)] = _audit_value(v, ev.interpreted)
            if not found and ev.argc is None:
                stats.bad(n, "EXECVE record without arguments")
        elif rtype in ("SYSCALL", "1300", "CWD", "1307"):
            for k, v in _AUDIT_KV.findall(rest):
                if k in ("exe", "comm", "cwd"):  # strings: quoted, or hex when they hold spaces etc.
                    ev.fields[k] = _audit_value(v, ev.interpreted).decode("utf-8", "replace")
                elif k in ("pid", "ppid", "auid", "uid"):
                    ev.fields[k] = v
        elif rtype in ("EOE", "1320"):
            out = flush(key)
            if out is not None:
                yield out
            continue
        if enriched:
            for k, v in _AUDIT_KV.findall(enriched):
                if k in ("AUID", "UID"):
                    ev.fields[k] = v.strip('"')
    yield from flush_ready(None, True)


# --- CSV ----------------------------------------------------------------------------------------------------

_CMD_COLUMNS = ("commandline", "processcommandline", "cmdline", "cmd", "command", "text")
_EXTRA_COLUMNS = {
    "host": ("host", "hostname", "hostname", "computer", "computername", "devicename", "machinename"),
    "user": ("user", "username", "accountname", "subjectusername"),
    "process": ("image", "processname", "newprocessname", "process", "executable", "processexecutable"),
    "parent_process": ("parentimage", "parentprocessname", "creatorprocessname", "parentprocess"),
    "time": ("timestamp", "time", "utctime", "timecreated", "timegenerated", "eventtime", "date"),
}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _csv_events(source, stats: ScanCounts, field, display) -> Iterator:
    n = 0
    header: list[str] | None = None
    col = -1
    extras: list[tuple[str, int]] = []
    acc: list[str] = []
    start = 0
    cut = 0  # > 0: lines passed over so far of a record cut by an over-long line, inside a quoted field
    for line in source:
        if line.__class__ is not str:
            if line is _RESET:
                if acc:
                    stats.bad(start, "quoted field never closed")
                n, header, acc, cut = 0, None, [], 0
            elif line is None:
                yield None
            else:  # over-long: the record it is part of is dropped, with its lines up to the closing quote
                n += 1
                stats.too_long(n, line)
                cut = (sum(s.count('"') for s in acc) + line.quotes) % 2
                acc, start = [], n
            continue
        n += 1
        stats.lines_read += 1
        if cut:
            if line.count('"') % 2:
                cut = 0
            elif cut < MAX_CSV_RECORD_LINES:
                cut += 1
            else:
                stats.bad(start, "quoted field never closed")
                cut = 0
            continue
        if not acc:
            if not line.strip():
                continue
            start = n
            if header is None:
                line = line.lstrip("\ufeff")
        acc.append(line)
        try:
            rows = list(csv.reader(acc, strict=True))
        except csv.Error as e:
            if "unexpected end of data" in str(e) and len(acc) < MAX_CSV_RECORD_LINES and sum(map(len, acc)) < MAX_EVENT_CHARS:
                continue  # a quoted field goes on on the next line
            stats.bad(start, f"malformed CSV ({e})")
            acc = []
            continue
        acc = []
        if not rows:
            continue
        row = rows[0]
        if header is None:
            header = row
            col = _csv_column(header, field, display)
            normed = [_norm(h) for h in header]
            for name, options in _EXTRA_COLUMNS.items():
                for o in options:
                    if o in normed and normed.index(o) != col:
                        extras.append((name, normed.index(o)))
                        break
            continue
        if len(row) != len(header):
            stats.bad(start, f"{len(row)} fields, the header has {len(header)}")
            continue
        cmd = row[col]
        if not cmd.strip():
            stats.no_command(start, f"empty '{header[col]}'")
            continue
        stats.events += 1
        yield LogLine(start, cmd, {name: row[i] for name, i in extras if row[i]})
    if acc:
        stats.bad(start, "quoted field never closed")


def _csv_column(header: list[str], field: str | None, display: str) -> int:
    normed = [_norm(h) for h in header]
    if field is not None:
        if field in header:
            return header.index(field)
        if _norm(field) in normed:
            return normed.index(_norm(field))
        raise SectuneError(f"no column '{field}' (columns: {', '.join(header)})", path=display)
    for name in _CMD_COLUMNS:
        if name in normed:
            return normed.index(name)
    raise SectuneError(f"no command-line column (CommandLine, ProcessCommandLine, cmdline, ...); pass --field "
                       f"(columns: {', '.join(header)})", path=display)


_PARSERS = {
    "jsonl": _jsonl_events,
    "csv": _csv_events,
    "ecs": _ecs_events,
    "sysmon-xml": _winxml_events,
    "sysmon-json": _sysmon_json_events,
    "win4688": _win4688_events,
    "auditd": _auditd_events,
    "text": _text_events,
}
