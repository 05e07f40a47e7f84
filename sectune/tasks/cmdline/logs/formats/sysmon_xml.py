"""sysmon-xml: Windows event XML as wevtutil / Get-WinEvent export it, the command line in
``<Data Name="CommandLine">``.

One ``<Event>`` a line or a multi-line document (``<Events>`` root or none, several events a line or one event
over many lines); an event is accumulated up to a cap, never the file. An over-long line drops its event, and
the rest of that event, up to the next ``<Event``, is passed over. Claims a sample whose first line is XML
(unless its first ``<EventID>`` is 4688: that is win4688), or an empty one named ``.xml``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from ..plugin import MARKUP, MAX_EVENT_CHARS, MAX_EVENT_LINES, SUFFIX, FormatReader, log_suffix
from ..records import LogLine, ScanCounts
from ..source import LongLine
from ._windows import event_id, win_event

NAME = "sysmon-xml"
TAKES_FIELD = False

_EVENT_START = re.compile(r"<Event[\s>]")
_EVENT_ID = re.compile(r"<EventID[^>]*>\s*(\d+)\s*<")
_XML_NOISE = ("<?", "<Events", "</Events", "<!--")


def first_event_id(lines: list[str]) -> str | None:
    """The first ``<EventID>`` in the sample, which tells Sysmon XML from Security 4688 XML."""
    m = _EVENT_ID.search("\n".join(lines))
    return m.group(1) if m else None


def sniff(lines: list[str], path: str | Path | None) -> int:
    if lines and lines[0].startswith("<"):
        return MARKUP if first_event_id(lines) != "4688" else 0
    return SUFFIX if log_suffix(path) == ".xml" else 0


class Reader(FormatReader):
    def __init__(self, stats: ScanCounts, field: str | None, display: str) -> None:
        super().__init__(stats, field, display)
        self.inside = False
        self.resync = False  # after an over-long line: the rest of its event, up to the next <Event, is passed over
        self.parts: list[str] = []
        self.size = self.start = 0

    def line(self, n: int, text: str) -> Iterator[LogLine]:
        pos = 0
        while True:
            if not self.inside:
                m = _EVENT_START.search(text, pos)
                if m is None:
                    rest = text[pos:].strip()
                    if rest and not self.resync and not rest.startswith(_XML_NOISE):
                        self.stats.bad(n, "text outside an <Event> element")
                    return
                begin, self.start, self.inside, self.parts, self.size, self.resync = m.start(), n, True, [], 0, False
            else:
                begin = pos
            end = text.find("</Event>", begin)
            if end < 0:
                self.parts.append(text[begin:])
                self.size += len(text) - begin
                if self.size > MAX_EVENT_CHARS or n - self.start > MAX_EVENT_LINES:
                    self.stats.bad(self.start, "<Event> element too large or never closed")
                    self.inside, self.parts = False, []
                return
            end += len("</Event>")
            self.parts.append(text[begin:end])
            self.inside = False
            event = _parse_event("".join(self.parts), self.start, self.stats)
            self.parts = []
            if event is not None:
                yield event
            pos = end

    def long_line(self, n: int, mark: LongLine) -> tuple[()]:
        self.inside, self.parts, self.resync = False, [], True  # the event it was part of is dropped
        return ()

    def end(self) -> tuple[()]:
        if self.inside:
            self.stats.bad(self.start, "<Event> element never closed")
        self.inside, self.parts, self.resync = False, [], False
        return ()


def _parse_event(text: str, n: int, stats: ScanCounts) -> LogLine | None:
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
    return win_event(
        n,
        event_id(system.findtext(ns + "EventID")),
        None if provider_el is None else provider_el.get("Name"),
        data,
        system.findtext(ns + "Computer"),
        None if time_el is None else time_el.get("SystemTime"),
        stats,
    )
