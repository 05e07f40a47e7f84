"""What the Windows formats (sysmon-xml, sysmon-json, win4688) share: one rule for which event is a process
creation, and one way to turn its fields into a LogLine, whichever export the event came from.

Sysmon Event ID 1 (provider Sysmon or unnamed) and Security 4688 both count as process creation in all three;
every other event ID is skipped.
"""

from __future__ import annotations

import re
from typing import Any

from ..records import LogLine, ScanCounts, compact

_MESSAGE_CMD = re.compile(r"^[ \t]*(?:Process Command Line|CommandLine):[ \t]*(.*?)\r?$", re.M)


def event_id(v: Any) -> int | None:
    """An EventID as an int, whether a number, digits, or an XML-to-JSON ``{"#text": "1"}``."""
    if isinstance(v, dict):
        v = v.get("#text", v.get("value", v.get("Value")))
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.strip().isdigit():
        return int(v)
    return None


def win_event(
    n: int,
    eid: int | None,
    provider: str | None,
    data: dict,
    host: Any,
    when: Any,
    stats: ScanCounts,
    cmd: str | None = None,
    message: str | None = None,
) -> LogLine | None:
    """The LogLine of a Sysmon 1 / Security 4688 event, or None (counted) for anything else."""
    if eid is None:
        stats.bad(n, "no EventID")
        return None
    sysmon = eid == 1 and (not provider or "sysmon" in provider.lower())
    if not sysmon and eid != 4688:
        stats.not_process(n, f"EventID {eid}" + (f" ({provider})" if provider else ""))
        return None
    if cmd is None:
        cmd = data.get("CommandLine")
        if not cmd and message:
            m = _MESSAGE_CMD.search(message)
            cmd = m.group(1) if m else None
    if not isinstance(cmd, str) or not cmd.strip():
        stats.no_command(
            n,
            f"EventID {eid} without a command line"
            + ("" if sysmon else " (enable 'Include command line in process creation events')"),
        )
        return None
    if sysmon:
        user, process, parent = data.get("User"), data.get("Image"), data.get("ParentImage")
    else:
        name, domain = data.get("SubjectUserName"), data.get("SubjectDomainName")
        user = f"{domain}\\{name}" if name and domain and domain != "-" else name
        process, parent = data.get("NewProcessName"), data.get("ParentProcessName")
    extra = compact(
        {
            "host": host,
            "user": user,
            "process": process,
            "parent_process": parent,
            "parent_command_line": data.get("ParentCommandLine"),
            "time": when,
            "event_id": eid,
        }
    )
    return LogLine(n, cmd, extra)
