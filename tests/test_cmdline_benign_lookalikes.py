"""Benign lines that look like the engine's output, so a detector learns the difference and not a shortcut:
mixed case, both option characters, 8.3 paths, quoted paths with spaces, parameter abbreviations, and
``-EncodedCommand`` as management agents (SCCM/Intune-style) use it with a benign payload."""

from __future__ import annotations

import base64
import re

from sectune.tasks.cmdline import benign
from sectune.tasks.cmdline.benign import generate_benign
from sectune.tasks.cmdline.templates_windows import CMD, POWERSHELL

LINES = [b.text for b in generate_benign(8000, ["cmd", "powershell"], rng=5)]


def _some(pattern: str, flags=0) -> list[str]:
    return [line for line in LINES if re.search(pattern, line, flags)]


def test_templates_hold_the_lookalikes():
    cmd_patterns = [p for ps in CMD.values() for p in ps]
    assert "IPConfig /All" in cmd_patterns and "ipconfig -all" in cmd_patterns
    assert any(p.startswith("certutil /") for p in cmd_patterns) and any(
        p.startswith("certutil -") for p in cmd_patterns
    )
    assert any("PROGRA~" in p for p in cmd_patterns) and any("{psenc}" in p for p in cmd_patterns)
    assert "GCI {wdir} -Recurse -Filter *.{wext}" in POWERSHELL["Get-ChildItem"]


def test_generated_lines_include_each_kind():
    assert _some(r"\bIPConfig /All\b") and _some(r"\bipconfig -all\b")
    assert _some(r"\bping /n \d") and _some(r"\bping -n \d")
    assert _some(r"\bcertutil /hashfile") and _some(r"\bcertutil -URLCache CRL")
    assert _some(r"\bschtasks -query") and _some(r"\bschtasks /query", re.I)
    assert _some(r"C:\\PROGRA~[12]")
    assert _some(r'"C:\\Program Files[^"]* [^"]*"')  # quoted paths with spaces
    assert _some(r"^GCI ") and _some(r"^get-childitem -path .* -rec$") and _some(r"^Get-ChildItem ")


def test_encoded_commands_are_benign_management_scripts():
    encoded = _some(r"(?i)powershell(\.exe)? .*-(EncodedCommand|enc) ")
    assert len(encoded) >= 5
    for line in encoded:
        payload = line.split()[
            line.split().index(next(w for w in line.split() if w in ("-EncodedCommand", "-enc"))) + 1
        ]
        script = base64.b64decode(payload).decode("utf-16-le")
        assert script in benign._MANAGEMENT_SCRIPTS
