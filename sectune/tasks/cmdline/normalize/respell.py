"""What programs accept in many spellings, respelt one way around the shell's own normalisation.

Windows resolves a path the same whatever way it is written, and Windows tools, curl and wget resolve a URL host
the same, so obfuscators respell them (ArgFuscator's path and URL transformations): ``C:\\Windows\\.\\System32``,
``C:\\Windows\\Temp\\..\\System32``, ``C:/Windows/System32``; ``http:\\\\host``, ``hTtP://``, ``http://0xc0a80105``
for 192.168.1.5. Each respelling is noted as a step, so shell-features can weigh "this path is not written as
people write it". What people do write is left alone: a ``.\\`` before a script (``.\\build.ps1``), and 8.3 names
(``C:\\PROGRA~2``), which installers and old scripts use.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

from sectune.tasks.cmdline.normalize import _budget

_INVISIBLE = re.compile("[\u00ad\u034f\u180e\u200b-\u200f\u2060-\u2064\ufeff]")
_DASHES = re.compile(
    "(?:(?<=^)|(?<=[\\s\"']))[\u2010-\u2015\u2212\ufe58\ufe63\uff0d](?=\\w)"
)  # an option's, not prose's
_URL_SLASHES = re.compile(r"(?i)\b(https?|ftp):[\\/]+")
_URL_HOST = re.compile(r"(?i)\b(https?|ftp)://([^/\\\s\"'|&;:<>)]+)([^\s\"'|&;<>]*)")
_DRIVE_PATH = re.compile(r"(?<![\w/\\:-])[A-Za-z]:[\\/][^\s\"'|&;<>,]*")
_DETOUR = re.compile(r"\\(?!\.\.?\\)[^\\]+\\\.\.(?=\\|$)")
# a file argument's .\ (not a command's, not a script's: powershell -File .\Deploy.ps1 is how people write it;
# not an account's: icacls x /grant .\kiosk:F)
_CMD_RELATIVE = re.compile(r"(?<![|&(]\s)(?<=\s)(?:\.\\)+(?=[\w-]+\.\w{1,4}(?:[\s\"]|$))(?![^\s\"]*\.ps1\b)")
_REPEATED_DOT = re.compile(r"(?<=\.\\)(?:\.\\)+(?=[\w-])")


def respell_characters(line: str) -> str:
    """Invisible characters dropped, a Unicode dash starting an option -> ``-``, ``http:\\`` -> ``http://`` (Windows
    tools accept them)."""
    out = _INVISIBLE.sub("", line)
    if not out.isascii():  # combining marks, format and unassigned characters
        out = "".join(c for c in out if c.isascii() or unicodedata.category(c) not in ("Mn", "Cf", "Cn"))
    if out != line:
        _budget.note("invisible characters removed")
    dashed = _DASHES.sub("-", out)
    if dashed != out:
        _budget.note("Unicode dash -> -")
    fixed = _URL_SLASHES.sub(lambda m: m.group(1) + "://", dashed)
    if fixed != dashed:
        _budget.note("URL slashes normalised")
    return fixed


def _numeric_host(host: str) -> str | None:
    """A host written as one number, hex, octal or fewer than four parts (``3232235777``, ``0xc0.0xa8.1.5``,
    ``0300.0250.01.05``, ``192.11010309``) as the dotted quad Windows' inet_aton reads; None for anything else."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(re.fullmatch(r"0[xX][0-9a-fA-F]+|\d+", p) for p in parts):
        return None
    try:
        values = [
            int(p, 16) if p[:2].lower() == "0x" else int(p, 8) if len(p) > 1 and p[0] == "0" else int(p) for p in parts
        ]
    except ValueError:  # 08 or 09: not octal, not an address
        return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        return None
    number = sum(v << (8 * (3 - i)) for i, v in enumerate(head)) + last
    dotted = str(ipaddress.IPv4Address(number))
    return None if dotted == host else dotted


def _host(match: re.Match, windows: bool) -> str:
    scheme, host = match.group(1), match.group(2)
    numeric = _numeric_host(host)
    if numeric:
        _budget.note(f"URL host {host} -> {numeric}")
        host = numeric
    host = host.lower()  # not a step: a host's case means nothing, and the literal line's case features see it
    if scheme not in (scheme.lower(), scheme.upper()):
        _budget.note(f"URL host scheme {scheme} -> {scheme.lower()}")
    rest = match.group(3)
    if "\\" in rest and windows:
        _budget.note("URL host path separators \\ -> /")
        rest = rest.replace("\\", "/")
    return f"{scheme.lower()}://{host}{rest}"


def _path(match: re.Match) -> str:
    path = written = match.group(0)
    if "/" in path and "\\" not in path and "://" not in path:  # C:/Windows/System32, not a URL inside a path
        path = path.replace("/", "\\")
        _budget.note(f"path / separators -> \\ in {written}")
    dotted = re.sub(r"\\\.(?=\\|$)", "", path)
    if dotted != path:
        _budget.note(f"path . segment removed in {written}")
        path = dotted
    while (collapsed := _DETOUR.sub("", path, count=1)) != path:
        _budget.note(f"path detour x\\.. removed in {written}")
        path = collapsed
    return path


def _relative(match: re.Match) -> str:
    _budget.note("path . segment removed before a relative name")
    return ""


def respell_paths(line: str, shell: str) -> str:
    """Windows drive paths in one spelling: ``\\`` separators, no ``.`` segments or ``x\\..`` detours. A ``.\\``
    before a relative argument is dropped in cmd (``copy .\\a.txt``: cmd's own completion never writes it), and
    only a repeated one in PowerShell (``.\\.\\a.txt``; ``.\\a.txt`` is what its completion writes)."""
    line = (_CMD_RELATIVE if shell == "cmd" else _REPEATED_DOT).sub(_relative, line)
    return _DRIVE_PATH.sub(_path, line)


def respell_hosts(line: str, shell: str) -> str:
    """URL hosts as dotted quads (``http://0xc0a80105``) and in lower case, schemes in lower case (any shell);
    ``\\`` in a URL's path is ``/`` to Windows programs."""
    return _URL_HOST.sub(lambda match: _host(match, windows=shell != "bash"), line)


__all__ = ["respell_characters", "respell_paths", "respell_hosts"]
