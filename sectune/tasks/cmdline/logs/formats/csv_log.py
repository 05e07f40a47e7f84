"""csv: a header row, then one process a row (csv module rules: quoted commas, quotes and newlines).

``--field`` names the command-line column (case and punctuation ignored: "Process Command Line" matches
ProcessCommandLine); without it, the first column named like CommandLine / ProcessCommandLine / cmdline / cmd.
A record is accumulated up to a cap; an over-long line drops its record, and the rest of it, up to the line that
closes its quoted field, is passed over uncounted. Claims a file named ``.csv`` whatever it holds, and a first
line that is a header with a command-line column whatever the name. (The module is not named csv.py so that it
never stands in for the standard library's.)
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

from sectune.errors import SectuneError

from ..plugin import BY_NAME, HEADER, MAX_EVENT_CHARS, FormatReader, log_suffix
from ..records import LogLine, ScanCounts
from ..source import LongLine

NAME = "csv"
TAKES_FIELD = True

MAX_RECORD_LINES = 10_000  # physical lines of one record (quoted newlines)
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


def sniff(lines: list[str], path: str | Path | None) -> int:
    if log_suffix(path) == ".csv":
        return BY_NAME
    if not lines:
        return 0
    first = lines[0]
    if "," in first or _norm(first) in ("commandline", "processcommandline"):
        try:
            header = next(csv.reader([first]))
        except (csv.Error, StopIteration):
            header = []
        if any(_norm(h) in _CMD_COLUMNS for h in header):
            return HEADER
    return 0


def _column(header: list[str], field: str | None, display: str) -> int:
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
    raise SectuneError(
        f"no command-line column (CommandLine, ProcessCommandLine, cmdline, ...); pass --field "
        f"(columns: {', '.join(header)})",
        path=display,
    )


class Reader(FormatReader):
    def __init__(self, stats: ScanCounts, field: str | None, display: str) -> None:
        super().__init__(stats, field, display)
        self.header: list[str] | None = None
        self.col = -1
        self.extras: list[tuple[str, int]] = []  # (LogLine.extra name, column)
        self.acc: list[str] = []  # the lines of a record whose quoted field goes on
        self.start = 0
        self.cut = 0  # > 0: lines passed over so far of a record cut by an over-long line, inside a quoted field

    def _set_header(self, header: list[str]) -> None:
        self.header = header
        self.col = _column(header, self.field, self.display)
        normed = [_norm(h) for h in header]
        for name, options in _EXTRA_COLUMNS.items():
            for o in options:
                if o in normed and normed.index(o) != self.col:
                    self.extras.append((name, normed.index(o)))
                    break

    def line(self, n: int, text: str) -> Iterator[LogLine]:
        if self.cut:
            if text.count('"') % 2:
                self.cut = 0
            elif self.cut < MAX_RECORD_LINES:
                self.cut += 1
            else:
                self.stats.bad(self.start, "quoted field never closed")
                self.cut = 0
            return
        acc = self.acc
        if not acc:
            if not text.strip():
                return
            self.start = n
            if self.header is None:
                text = text.lstrip("\ufeff")
        acc.append(text)
        try:
            rows = list(csv.reader(acc, strict=True))
        except csv.Error as e:
            if (
                "unexpected end of data" in str(e)
                and len(acc) < MAX_RECORD_LINES
                and sum(map(len, acc)) < MAX_EVENT_CHARS
            ):
                return  # a quoted field goes on on the next line
            self.stats.bad(self.start, f"malformed CSV ({e})")
            self.acc = []
            return
        self.acc = []
        if not rows:
            return
        row = rows[0]
        if self.header is None:
            self._set_header(row)
            return
        if len(row) != len(self.header):
            self.stats.bad(self.start, f"{len(row)} fields, the header has {len(self.header)}")
            return
        cmd = row[self.col]
        if not cmd.strip():
            self.stats.no_command(self.start, f"empty '{self.header[self.col]}'")
            return
        yield LogLine(self.start, cmd, {name: row[i] for name, i in self.extras if row[i]})

    def long_line(self, n: int, mark: LongLine) -> tuple[()]:
        """The record it is part of is dropped, with its lines up to the closing quote."""
        self.cut = (sum(s.count('"') for s in self.acc) + mark.quotes) % 2
        self.acc, self.start = [], n
        return ()

    def end(self) -> tuple[()]:
        if self.acc:
            self.stats.bad(self.start, "quoted field never closed")
        self.header, self.extras, self.acc, self.cut = None, [], [], 0
        return ()
