"""auditd: Linux audit EXECVE records, an event's argv reassembled.

``a0="ls"`` quoted args as is, unquoted args hex-decoded, ``aN_len=`` + ``aN[0]=`` ``aN[1]=`` chunks reassembled.
An event's EXECVE records (same ``msg=audit(TIME:SERIAL)``, possibly several lines, interleaved with SYSCALL/CWD/
PATH/PROCTITLE records) are assembled in order and emitted when its records end: at its EOE record, when a record
with another serial arrives (once all argc args are in), when a followed file goes idle, or at the end. The
command line is the argv joined with shell quoting (``shlex.join``): ``ls '-la /tmp/my dir'``; ``extra["argv"]``
keeps the exact arguments. Also ``node=`` prefixes, syslog/journald prefixes (``audit: type=1309 audit(...)``)
and ``ausearch -i`` output (no hex decoding there). An over-long line is not a record auditd writes (a few KiB
at most): it is counted and the other events are left be. Claims a sample of which at least half are records.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from ..plugin import RECORDS, FormatReader
from ..records import LogLine, ScanCounts, compact

NAME = "auditd"
TAKES_FIELD = False

MAX_PENDING = 64  # events waiting for their remaining EXECVE records
_RECORD = re.compile(r"(?:\bnode=(\S+)\s+)?\btype=(\S+)\s+(?:msg=)?audit\(([^)]*)\)\s*:\s?(.*)")
_KV = re.compile(r'([A-Za-z_][\w-]*(?:\[\d+\])?)=("[^"]*"?|\S*)')
_ARG_KEY = re.compile(r"a(\d+)(?:\[(\d+)\]|(_len))?$")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_UNSET_IDS = ("4294967295", "-1", "unset")


def sniff(lines: list[str], path: str | Path | None) -> int:
    return RECORDS if lines and 2 * sum(_RECORD.search(s) is not None for s in lines) >= len(lines) else 0


class _Event:
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


def _value(v: str, interpreted: bool) -> bytes:
    if v.startswith('"'):
        return v[1:-1].encode() if len(v) > 1 and v.endswith('"') else v[1:].encode()
    if v == "(null)":
        return b""
    if not interpreted and _HEX.fullmatch(v):
        return bytes.fromhex(v)
    return v.encode()


def _time(stamp: str) -> str:
    try:
        return (
            datetime.fromtimestamp(float(stamp), tz=timezone.utc)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
    except (ValueError, OverflowError, OSError):
        return stamp


class Reader(FormatReader):
    def __init__(self, stats: ScanCounts, field: str | None, display: str) -> None:
        super().__init__(stats, field, display)
        self.pending: dict[tuple, _Event] = {}  # by (node, serial), oldest first

    def _flush(self, key: tuple) -> LogLine | None:
        ev = self.pending.pop(key)
        if not ev.execve:
            self.stats.not_process(ev.line, f"audit event {ev.serial} has no EXECVE record")
            return None
        why = ev.missing()
        if why is not None:
            self.stats.bad(ev.line, f"audit event {ev.serial}: {why}")
            return None
        argv = [b"".join(c for _, c in sorted(ev.args[i].items())).decode("utf-8", "replace") for i in range(ev.argc)]
        cmd = shlex.join(argv) if argv else ""
        if not cmd.strip():
            self.stats.no_command(ev.line, f"audit event {ev.serial}: empty argv")
            return None
        f = ev.fields
        user = f.get("AUID") or f.get("UID")
        if not user:
            auid = f.get("auid")
            user = auid if auid and auid not in _UNSET_IDS else f.get("uid")
        extra = compact(
            {
                "host": ev.node,
                "user": user,
                "process": f.get("exe"),
                "pid": f.get("pid"),
                "ppid": f.get("ppid"),
                "cwd": f.get("cwd"),
                "time": ev.stamp if ev.interpreted else _time(ev.stamp),
                "argv": argv,
            }
        )
        return LogLine(ev.line, cmd, extra)

    def _flush_ready(self, final: bool) -> Iterator[LogLine]:
        """The events that have ended (all of them if ``final``); the oldest beyond MAX_PENDING too."""
        for key in list(self.pending):
            ev = self.pending[key]
            if final or not ev.execve or ev.missing() is None:
                out = self._flush(key)
                if out is not None:
                    yield out
        while len(self.pending) > MAX_PENDING:
            out = self._flush(next(iter(self.pending)))
            if out is not None:
                yield out

    def idle(self) -> Iterator[LogLine]:
        return self._flush_ready(False)

    def end(self) -> Iterator[LogLine]:
        return self._flush_ready(True)

    def line(self, n: int, text: str) -> Iterator[LogLine]:
        m = _RECORD.search(text)
        if m is None:
            if text.strip() and not text.startswith("----"):  # ausearch separates events with "----"
                self.stats.bad(n, "not an audit record (type=... msg=audit(...))")
            return
        node, rtype, stamp_serial, rest = m.groups()
        stamp, _, serial = stamp_serial.rpartition(":")
        key = (node, serial)
        ev = self.pending.get(key)
        if ev is None:
            yield from self._flush_ready(False)  # a new serial: the events before it have ended
            interpreted = not stamp.replace(".", "", 1).isdigit()
            ev = self.pending[key] = _Event(n, serial, stamp, node, interpreted)
        rest, _, enriched = rest.partition("\x1d")
        if rtype in ("EXECVE", "1309"):
            self._execve(n, ev, rest)
        elif rtype in ("SYSCALL", "1300", "CWD", "1307"):
            for k, v in _KV.findall(rest):
                if k in ("exe", "comm", "cwd"):  # strings: quoted, or hex when they hold spaces etc.
                    ev.fields[k] = _value(v, ev.interpreted).decode("utf-8", "replace")
                elif k in ("pid", "ppid", "auid", "uid"):
                    ev.fields[k] = v
        elif rtype in ("EOE", "1320"):
            out = self._flush(key)
            if out is not None:
                yield out
            return
        if enriched:
            for k, v in _KV.findall(enriched):
                if k in ("AUID", "UID"):
                    ev.fields[k] = v.strip('"')

    def _execve(self, n: int, ev: _Event, rest: str) -> None:
        """The argc and argument chunks of one EXECVE record."""
        ev.execve = True
        found = False
        for k, v in _KV.findall(rest):
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
                ev.args.setdefault(i, {})[int(a.group(2) or 0)] = _value(v, ev.interpreted)
        if not found and ev.argc is None:
            self.stats.bad(n, "EXECVE record without arguments")
