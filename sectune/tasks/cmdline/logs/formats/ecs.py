"""ecs: Elastic Common Schema JSON, the command line in ``process.command_line``, else ``process.args`` joined.

Records whose ``event.category`` lacks "process" or whose ``event.type`` lacks "start" are skipped as not process
creation (ECS process *end* events carry the command line too). Nested objects and flattened ``"a.b"`` keys both
count. Claims a JSON sample with ECS keys (process.command_line / process.args, ecs, event.category).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..plugin import JSON
from ..records import LogLine
from ._json import JsonReader, as_command, json_looks, json_sample

NAME = "ecs"
TAKES_FIELD = True

_KEYS = ("command_line", "ecs", "process.command_line", "process.args")  # in a multi-line document's text
_EMPTY: dict = {}


def _is_ecs(obj: dict) -> bool:
    process = obj.get("process")
    return (
        (isinstance(process, dict) and ("command_line" in process or "args" in process))
        or "ecs" in obj
        or "process.command_line" in obj
        or "process.args" in obj
        or (isinstance(obj.get("event"), dict) and "category" in obj["event"])
        or "event.category" in obj
    )


def sniff(lines: list[str], path: str | Path | None) -> int:
    return JSON + 1 if json_sample(lines) and json_looks(lines, _is_ecs, _KEYS) else 0


def _sub(obj: dict, key: str) -> dict:
    v = obj.get(key)
    return v if v.__class__ is dict else _EMPTY


def _pick(obj: dict, sub: dict, key: str, flat: str) -> Any:
    """``sub[key]`` of a nested ECS object, else the flattened ``obj["a.b"]`` spelling."""
    v = sub.get(key)
    return v if v is not None else obj.get(flat)


class Reader(JsonReader):
    def record(self, n: int, obj: dict) -> LogLine | None:
        event = _sub(obj, "event")
        for key, wanted in (("category", "process"), ("type", "start")):
            value = _pick(obj, event, key, f"event.{key}")
            if value is not None and wanted not in (value if value.__class__ is list else [value]):
                self.stats.not_process(n, f"event.{key} {value}")
                return None
        process = _sub(obj, "process")
        if self.get is not None:
            cmd = as_command(self.get(obj))
        else:
            cmd = as_command(_pick(obj, process, "command_line", "process.command_line"))
            if not cmd:
                args = _pick(obj, process, "args", "process.args")
                cmd = as_command(args) if args.__class__ is list else None
        if not cmd or cmd.isspace():
            self.stats.no_command(n, "no process.command_line or process.args")
            return None
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
        return LogLine(n, cmd, extra)
