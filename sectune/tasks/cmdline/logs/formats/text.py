"""text: one command line a line; blank lines skipped; a line with a NUL byte is unparseable.

The fallback when nothing else fits, so any file can be scanned."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..plugin import FALLBACK, FormatReader
from ..records import LogLine

NAME = "text"
TAKES_FIELD = False


def sniff(lines: list[str], path: str | Path | None) -> int:
    return FALLBACK


class Reader(FormatReader):
    def line(self, n: int, text: str) -> Iterator[LogLine]:
        text = text.rstrip("\r\n")
        if not text or text.isspace():
            return
        if "\x00" in text:
            self.stats.bad(n, "binary data (NUL byte)")
            return
        yield LogLine(n, text, {})
