"""jsonl: one JSON object a line (or a JSON document of objects), the command line under a known key.

``--field`` is a key or a dotted path (``process.command_line``; a flat key spelled with dots also matches).
Without it: the first of command_line, CommandLine, commandline, cmdline, cmd, command, process.command_line,
ProcessCommandLine, text that the record has. A list value (argv) is joined. The generic JSON format: any JSON
sample that no more specific format claims, or an empty one named ``.json``/``.jsonl``/``.ndjson``.
"""

from __future__ import annotations

from pathlib import Path

from ..plugin import JSON, SUFFIX, log_suffix
from ..records import LogLine, ScanCounts
from ._json import JsonReader, as_command, dotted, json_sample

NAME = "jsonl"
TAKES_FIELD = True

_CMD_KEYS = (
    "command_line",
    "CommandLine",
    "commandline",
    "cmdline",
    "cmd",
    "command",
    "process.command_line",
    "ProcessCommandLine",
    "text",
)
_EXTRA_KEYS = (
    ("host", "host"),
    ("hostname", "host"),
    ("user", "user"),
    ("username", "user"),
    ("@timestamp", "time"),
    ("timestamp", "time"),
    ("time", "time"),
)


def sniff(lines: list[str], path: str | Path | None) -> int:
    if json_sample(lines):
        return JSON
    return SUFFIX if log_suffix(path) in (".json", ".jsonl", ".ndjson") else 0


class Reader(JsonReader):
    def __init__(self, stats: ScanCounts, field: str | None, display: str) -> None:
        super().__init__(stats, field, display)
        self.missing = (
            f"no field '{field}'" if field else f"no command-line field ({', '.join(_CMD_KEYS)}); pass --field"
        )
        self.last = _CMD_KEYS[0]  # the key the last record had: tried first

    def record(self, n: int, obj: dict) -> LogLine | None:
        if self.get is not None:
            v = self.get(obj)
        else:
            v = obj.get(self.last)
            if v is None:
                for key in _CMD_KEYS:
                    v = obj.get(key) if "." not in key else dotted(obj, key, key.split("."))
                    if v is not None:
                        self.last = key
                        break
        cmd = as_command(v)
        if not cmd or cmd.isspace():
            self.stats.no_command(n, self.missing if v is None else "empty command line")
            return None
        extra = {}
        for key, name in _EXTRA_KEYS:
            x = obj.get(key)
            if x is not None and name not in extra and x.__class__ in (str, int, float):
                extra[name] = x
        return LogLine(n, cmd, extra)
