"""win4688: Security event 4688, as the text of ``wevtutil qe Security /f:text`` or as event XML.

Text: blocks starting at ``Event[N]:`` (or ``Log Name:``), the command line in ``Process Command Line:``. A block
ends at the next one, at the end of the input, or, when following, once the file goes idle with its command
line in. An over-long line drops its block; a later ``Log Name:`` still starts the next one. XML (the first
non-blank line starts with ``<``) is read as sysmon-xml reads it. Claims XML whose first ``<EventID>`` is 4688,
and text with an ``Event[N]:`` line or with both ``Log Name:`` and ``Event ID:`` lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..plugin import BLOCKS, MARKUP, FormatReader
from ..records import LogLine, ScanCounts
from ..source import LongLine
from . import sysmon_xml
from ._windows import event_id, win_event

NAME = "win4688"
TAKES_FIELD = False

_EVENT_MARKER = re.compile(r"^\s*Event\[\d+\]:\s*$")
_TEXT_KEYS = {
    "Event ID": "eid",
    "Computer": "host",
    "Date": "time",
    "Account Name": "user",
    "Account Domain": "domain",
    "New Process Name": "process",
    "Creator Process Name": "parent_process",
    "Process Command Line": "cmd",
    "Source": "provider",
}


def sniff(lines: list[str], path: str | Path | None) -> int:
    if lines and lines[0].startswith("<"):
        return MARKUP if sysmon_xml.first_event_id(lines) == "4688" else 0
    if any(_EVENT_MARKER.match(s) for s in lines) or (
        any(s.startswith("Log Name:") for s in lines) and any(s.startswith("Event ID:") for s in lines)
    ):
        return BLOCKS
    return 0


class Reader(FormatReader):
    """Text blocks or XML, whichever the first non-blank line shows."""

    def __init__(self, stats: ScanCounts, field: str | None, display: str) -> None:
        super().__init__(stats, field, display)
        self.inner: FormatReader | None = None
        self.cut: tuple[int, LongLine] | None = None  # an over-long line before the first non-blank one

    def line(self, n: int, text: str) -> Iterable[LogLine]:
        if self.inner is None:
            s = text.strip()
            if not s:
                return ()
            xml = s.lstrip("\ufeff").startswith("<")
            self.inner = (sysmon_xml.Reader if xml else _TextBlocks)(self.stats, self.field, self.display)
            if self.cut is not None:
                self.inner.long_line(*self.cut)
        return self.inner.line(n, text)

    def long_line(self, n: int, mark: LongLine) -> Iterable[LogLine]:
        if self.inner is None:
            self.cut = (n, mark)
            return ()
        return self.inner.long_line(n, mark)

    def idle(self) -> Iterable[LogLine]:
        return () if self.inner is None else self.inner.idle()

    def end(self) -> Iterable[LogLine]:
        return () if self.inner is None else self.inner.end()


class _TextBlocks(FormatReader):
    """``wevtutil /f:text`` blocks: ``Key: value`` lines, the first value of a key kept."""

    def __init__(self, stats: ScanCounts, field: str | None, display: str) -> None:
        super().__init__(stats, field, display)
        self.block: dict | None = None  # fields of the current event block; "done": its event is out or dropped
        self.start = 0

    def _finish(self) -> Iterator[LogLine]:
        block = self.block
        if block is None or "done" in block:
            return
        data = {
            "SubjectUserName": block.get("user"),
            "SubjectDomainName": block.get("domain"),
            "NewProcessName": block.get("process"),
            "ParentProcessName": block.get("parent_process"),
        }
        event = win_event(
            self.start,
            event_id(block.get("eid")),
            block.get("provider"),
            data,
            block.get("host"),
            block.get("time"),
            self.stats,
            cmd=block.get("cmd"),
        )
        if event is not None:
            yield event

    def line(self, n: int, text: str) -> Iterator[LogLine]:
        s = text.strip()
        if not s:
            return
        new = _EVENT_MARKER.match(s) is not None
        key, sep, value = s.partition(":")
        if not new and key == "Log Name" and (self.block is None or "log" in self.block):
            new = True
        if new:
            yield from self._finish()
            self.block, self.start = {}, n
            if key == "Log Name":
                self.block["log"] = value.strip()
            return
        if self.block is None:
            self.stats.bad(n, "text outside an event block (expected 'Event[N]:')")
            return
        if key == "Log Name":
            self.block["log"] = value.strip()
        elif sep and key in _TEXT_KEYS:
            name = _TEXT_KEYS[key]
            if name not in self.block:
                self.block[name] = value.strip()

    def long_line(self, n: int, mark: LongLine) -> tuple[()]:
        if self.block is not None:  # its event is dropped; a later "Log Name:" still starts the next block
            self.block = {"done": True, "log": self.block["log"]} if "log" in self.block else {"done": True}
        return ()

    def idle(self) -> Iterator[LogLine]:
        if self.block is not None and "cmd" in self.block:  # its command line is in: no need to wait for the next block
            yield from self._finish()
            self.block = {"done": True}  # its remaining lines are ignored

    def end(self) -> Iterator[LogLine]:
        yield from self._finish()
        self.block = None
