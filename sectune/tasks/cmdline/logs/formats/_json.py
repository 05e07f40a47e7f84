"""What the JSON formats (jsonl, ecs, sysmon-json) share: reading objects, finding fields, sniffing a sample.

Objects come from JSON lines, or from one JSON document (an array of objects, or objects one after another,
pretty-printed or not) cut into its top-level objects by a streaming brace matcher that never holds more than
one object. A format only says what an object means (:meth:`JsonReader.record`).
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Iterator
from typing import Any, Callable

import orjson

from ..plugin import MAX_EVENT_CHARS, MAX_EVENT_LINES, FormatReader
from ..records import LogLine, ScanCounts
from ..source import LongLine

_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError
_JSON_TOKEN = re.compile(r'["\\{}\[\]]')


class _JsonSplitter:
    """Cuts a JSON document into the text of each top-level object, line by line."""

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
                    self.parts.append(line[seg : i + 1])
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


class JsonReader(FormatReader):
    """Reads JSON objects (JSON lines, or a document: decided by the first non-blank line) and hands each to
    :meth:`record`. An over-long line loses the object it was part of: the splitter starts again at the top level."""

    def __init__(self, stats: ScanCounts, field: str | None, display: str) -> None:
        super().__init__(stats, field, display)
        self.doc: bool | None = None  # undecided until the first non-blank line: False = JSON lines, True = a document
        self.splitter = _JsonSplitter()
        self.get = getter(field) if field else None  # the --field value of an object

    def record(self, n: int, obj: dict) -> LogLine | None:
        """The LogLine of the object that starts at line ``n``, or None (counted in ``stats``)."""
        raise NotImplementedError

    def line(self, n: int, text: str) -> Iterator[LogLine]:
        for start, obj in self._objects(n, text):
            found = self.record(start, obj)
            if found is not None:
                yield found

    def _objects(self, n: int, text: str) -> Iterator[tuple[int, dict]]:
        """(line where it starts, object) for each object that line ``n`` completes, parsed as they are asked for
        (so that what a record counts stays in line order with what a bad object counts)."""
        if self.doc is None:
            s = text.strip().lstrip("\ufeff")
            if not s:
                return
            self.doc = s[0] == "[" or s == "{"
            text = text.replace("\ufeff", "", 1)
        if not self.doc:
            try:
                obj = _loads(text)
            except _JSONDecodeError as e:
                if not text.isspace():
                    self.stats.bad(n, f"malformed JSON ({e.msg} at column {min(e.pos, len(text.rstrip())) + 1})")
                return
            if obj.__class__ is dict:
                yield n, obj
            else:
                self.stats.bad(n, "not a JSON object")
            return
        for start, chunk in self.splitter.feed(text, n, self.stats):
            try:
                obj = _loads(chunk)
            except _JSONDecodeError as e:
                self.stats.bad(start, f"malformed JSON ({e.msg})")
                continue
            yield start, obj

    def long_line(self, n: int, mark: LongLine) -> tuple[()]:
        self.splitter = _JsonSplitter()
        return ()

    def end(self) -> tuple[()]:
        self.splitter.close(self.stats)
        self.doc = None
        return ()


# --- fields ---------------------------------------------------------------------------------------------------


def dotted(obj: dict, key: str, parts: list[str]) -> Any:
    """``obj[key]``, else the nested value at ``key`` split on dots (``process.command_line``)."""
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


def getter(field: str) -> Callable[[dict], Any]:
    """A function that reads ``field`` (a key, or a dotted path) from an object."""
    parts = field.split(".")
    if len(parts) == 1:
        return lambda obj: obj.get(field)
    return lambda obj: dotted(obj, field, parts)


def first(obj: dict, *paths: str) -> Any:
    """The value at the first of ``paths`` that is there and not empty."""
    for path in paths:
        v = dotted(obj, path, path.split("."))
        if v is not None and v != "":
            return v
    return None


def as_command(v: Any) -> str | None:
    """A command line from a JSON value: a string as is, an argv list joined, a number as text."""
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


# --- sniffing -------------------------------------------------------------------------------------------------


def json_sample(lines: list[str]) -> bool:
    """Whether the sample is JSON: the first line starts with ``[`` or is ``{`` alone (a document), or at least
    half the lines start with ``{`` (JSON lines; a first malformed line does not hide them)."""
    if not lines:
        return False
    head = lines[0]
    return head.startswith("[") or head == "{" or 2 * sum(s.startswith("{") for s in lines) >= len(lines)


def json_looks(lines: list[str], by_object: Callable[[dict], bool], keys: tuple[str, ...]) -> bool:
    """Whether a JSON sample looks like one format: its first object on one line passes ``by_object``, or, in a
    multi-line document (no such object), its text names one of ``keys``."""
    for s in lines:
        if not s.startswith("{"):
            continue
        try:
            obj = _loads(s)
        except _JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return by_object(obj)
    text = "\n".join(lines)
    return any(f'"{k}"' in text for k in keys)
