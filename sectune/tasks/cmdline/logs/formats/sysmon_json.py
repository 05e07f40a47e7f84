"""sysmon-json: Windows process-creation events as JSON, from any of the usual exporters.

winlogbeat (``winlog.event_id`` / ``winlog.event_data.CommandLine``), evtx_dump (``Event.System.EventID`` /
``Event.EventData``), flat exports (``EventID`` / ``Id`` + ``EventData.CommandLine`` or top-level ``CommandLine``),
and ``Get-WinEvent | ConvertTo-Json`` (``Id``, ``ProviderName``, the ``CommandLine:`` line of ``Message``). JSON
lines, or one pretty-printed JSON array / objects one after another. Claims a JSON sample with Windows event keys
(winlog, EventID, EventId, Id with ProviderName or Message, Event.System, EventData), before ecs and jsonl.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..plugin import JSON
from ..records import LogLine
from ._json import JsonReader, as_command, first, json_looks, json_sample
from ._windows import event_id, win_event

NAME = "sysmon-json"
TAKES_FIELD = True

_KEYS = ("winlog", "EventID", "EventId", "ProviderName", "EventData", "event_id")  # in a multi-line document's text


def _is_windows(obj: dict) -> bool:
    return (
        "winlog" in obj
        or "EventID" in obj
        or "EventId" in obj
        or "EventData" in obj
        or ("Id" in obj and ("ProviderName" in obj or "Message" in obj))
        or (isinstance(obj.get("Event"), dict) and ("System" in obj["Event"] or "EventData" in obj["Event"]))
    )


def sniff(lines: list[str], path: str | Path | None) -> int:
    return JSON + 2 if json_sample(lines) and json_looks(lines, _is_windows, _KEYS) else 0


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
    """``/Date(1700000000000)/`` (PowerShell 5's ConvertTo-Json of a DateTime) as ISO 8601."""
    m = re.match(r"/Date\((-?\d+)[^)]*\)/", text)
    if m is None:
        return text
    try:
        return (
            datetime.fromtimestamp(int(m.group(1)) / 1000, tz=timezone.utc)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
    except (ValueError, OverflowError, OSError):
        return text


class Reader(JsonReader):
    def record(self, n: int, obj: dict) -> LogLine | None:
        winlog = obj.get("winlog")
        event = obj.get("Event")
        if isinstance(winlog, dict):
            eid = event_id(winlog.get("event_id"))
            provider = winlog.get("provider_name")
            data = _data_dict(winlog.get("event_data"))
            host = winlog.get("computer_name") or first(obj, "host.name")
            when = obj.get("@timestamp")
        elif isinstance(event, dict) and ("System" in event or "EventData" in event):
            system = event.get("System") if isinstance(event.get("System"), dict) else {}
            eid = event_id(system.get("EventID"))
            prov = system.get("Provider")
            provider = first(prov, "#attributes.Name", "@Name", "Name") if isinstance(prov, dict) else prov
            data = _data_dict(event.get("EventData"))
            host = system.get("Computer")
            created = system.get("TimeCreated")
            when = (
                first(created, "#attributes.SystemTime", "@SystemTime", "SystemTime")
                if isinstance(created, dict)
                else created
            )
        else:
            eid = event_id(first(obj, "EventID", "EventId", "Id", "event_id", "event.code"))
            provider = first(obj, "ProviderName", "SourceName", "Provider", "provider_name")
            provider = provider if isinstance(provider, str) else None
            data = _data_dict(obj.get("EventData")) or _data_dict(obj.get("event_data")) or obj
            host = first(obj, "Computer", "MachineName", "Hostname", "computer_name", "host.name")
            when = first(obj, "UtcTime", "TimeCreated", "EventTime", "@timestamp")
        if isinstance(when, str) and when.startswith("/Date("):
            when = _ms_date(when)
        if self.get is not None:
            cmd = as_command(self.get(obj)) or ""
        else:
            cmd = data.get("CommandLine") or obj.get("CommandLine") or first(obj, "process.command_line")
        message = obj.get("Message")
        return win_event(
            n,
            eid,
            provider if isinstance(provider, str) else None,
            data,
            host if isinstance(host, str) else None,
            when if isinstance(when, (str, int)) else None,
            self.stats,
            cmd=cmd if isinstance(cmd, str) and cmd else None,
            message=message if isinstance(message, str) else None,
        )
