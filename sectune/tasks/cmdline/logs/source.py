"""Where log lines come from: a file, a ``.gz`` of one, stdin, or a file tailed like ``tail -F``.

Every source gives the same stream of items, so the formats never care where their lines came from:
a ``str`` line with its ``"\\n"``; a :class:`LongLine` for a physical line over the cap (read on to its newline
in chunks that are dropped as they come, so memory stays flat whatever its length); and, from a followed
source only, ``None`` when no new data came for ``poll`` seconds and :data:`RESET` after rotation or truncation
(line numbers restart at 1). The cap counts characters after decoding, so UTF-16 logs get the same cap as UTF-8.

Encoding: UTF-8 (bad bytes replaced, never fatal); a UTF-8 or UTF-16 byte-order mark, or UTF-16 without one
(PowerShell 5's ``>`` writes UTF-16), is recognised from the first bytes. Line numbers count ``\\n`` only.
"""

from __future__ import annotations

import codecs
import gzip
import io
import logging
import os
import queue
import sys
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Callable, Union

from sectune.errors import SectuneError
from sectune.io import check_file, display_name, one_line

POLL_SECONDS = 0.2
MAX_LINE_CHARS = 1 << 20  # a physical line longer than this is dropped (read on in chunks, never held whole)
_DISCARD_CHUNK = 1 << 16  # characters read at a time while passing over an over-long line


class _Reset:
    """Marker from a followed source: the file was rotated or truncated; line numbers restart at 1."""


RESET = _Reset()


class LongLine:
    """Marker from a source: a physical line longer than ``limit`` characters was read past and dropped. Its
    number of double quotes is kept: whether it ends inside a quoted CSV field decides where its record ends."""

    __slots__ = ("limit", "quotes")

    def __init__(self, limit: int, quotes: int) -> None:
        self.limit = limit
        self.quotes = quotes


Item = Union[str, LongLine, _Reset, None]  # what a source yields (module docstring)


def open_source(
    path: str | Path, follow: bool, stop: threading.Event | None, poll: float, max_line: int
) -> tuple[Iterator[Item], Callable[[], None], str]:
    """(the items of ``path``, a function that closes it, its name for messages)."""
    display = display_name(str(path))
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
    check_file(p, display, "a log file")
    if p.name.lower().endswith(".gz"):
        if follow:
            raise SectuneError("cannot follow a .gz file (it does not grow); scan it without --follow", path=display)
        raw = gzip.open(p, "rb")
        try:
            head = raw.peek(4)[:4]
        except (OSError, EOFError, zlib.error) as e:
            raw.close()
            raise SectuneError(f"not a valid gzip file ({one_line(e)})", path=display) from None
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


def follow_lines(
    path: str | Path,
    stop: threading.Event | None = None,
    poll: float = POLL_SECONDS,
    max_line_chars: int = MAX_LINE_CHARS,
) -> Iterator[str]:
    """The lines of a growing file (without their line ending), from its start, then as they are appended;
    reopened after rotation or truncation; ends when ``stop`` is set (after reading what is there).
    Lines longer than ``max_line_chars`` are left out (never held in memory)."""
    source, close, _ = open_source(path, True, stop, poll, max_line_chars)
    try:
        for line in source:
            if line.__class__ is str:
                yield line.rstrip("\r\n")
    finally:
        close()


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


def _capped_lines(readline: Callable[[int], str], limit: int) -> Iterator[str | LongLine]:
    """The lines ``readline`` gives, each read with at most ``limit`` + 1 characters in hand: a longer line is read
    on to its newline in chunks that are dropped at once, and stands as a LongLine (memory stays flat)."""
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
        yield LongLine(limit, quotes)


class _LineCutter:
    """Cuts decoded text, as it arrives in pieces, into lines (with their "\\n") of at most ``limit`` characters;
    a longer line is dropped as it streams in (only its quotes counted) and stands as a LongLine when it ends."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.pending = ""  # the unfinished line
        self.quotes = -1  # >= 0 while an over-long line is being passed over: its quotes so far

    def feed(self, text: str) -> Iterator[str | LongLine]:
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

    def rest(self) -> Iterator[str | LongLine]:
        """The unfinished line, if any (at the end of the input, or when it is rotated away); then start afresh."""
        if self.quotes >= 0:
            yield LongLine(self.limit, self.quotes)
        elif self.pending:
            yield self.pending
        self.pending, self.quotes = "", -1


def _guarded_gzip(lines: Iterator[str | LongLine], display: str) -> Iterator[str | LongLine]:
    """A corrupt or truncated gzip stream ends the input with a warning line instead of a traceback."""
    try:
        yield from lines
    except (OSError, EOFError, zlib.error) as e:
        logging.getLogger("sectune").warning(
            "%s: gzip data ends early (%s); scanned what came before", display, one_line(e)
        )


def _ticking(lines: Iterable[str | LongLine], stop: threading.Event | None, poll: float) -> Iterator[Item]:
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


def _follow_file(p: Path, stop: threading.Event | None, poll: float, max_line: int) -> Iterator[Item]:
    """Tail a file from its start: lines as they are completed, None when idle, RESET after rotation/truncation;
    a line longer than ``max_line`` is dropped as it streams in and stands as a LongLine once it ends."""
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
                    yield RESET
                    continue
            elif now is not None and now.st_size < fh.tell():  # truncated in place (copytruncate)
                fh.seek(0)
                decoder, cutter = None, _LineCutter(max_line)
                yield RESET
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
