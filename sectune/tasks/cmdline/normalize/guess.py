"""Which shell a command line is written for, from the look of the line: one heuristic for the whole project.

The data builder needs it for a user's ``--from`` lines and the normaliser for every line it is given without a
shell, plain or obfuscated. A wrong guess is costly both ways: an obfuscated line read in the wrong shell is
never undone (``$'\\x64'nf`` read as cmd), and a benign line read in the wrong shell looks changed by
normalisation (``runas /user:CORP\\priya`` read as bash loses its backslash). The rules, in order:

1. a process command line that starts ``powershell``/``pwsh``/``cmd`` (or runs one with its options): cmd, whose
   normaliser hands the PowerShell part on;
2. PowerShell signs no other shell writes (``$env:``, ``[Type]::``, ``$x.Method(``, a ``[Type]"..."`` cast, drives,
   ``@{``, ``$x = ``, ``.\\script.ps1``);
3. bash signs no other shell writes (``$'..'``, ``<<<``, ``${..}``, ``$IFS``, ``$((``, ``| sh``, ``/dev/tcp``);
4. a Verb-Noun cmdlet at a command position (in any case: obfuscation randomises it), a PowerShell-only alias
   first, a ``-ErrorAction``-style parameter, a backtick inside a word: PowerShell;
5. a Windows-only program first or after ``|``/``&`` (carets and quotes inside its name ignored), ``C:\\``,
   ``~\\`` and ``.\\`` paths, ``%VAR%``, ``/c``-style switches, carets inside words, ``!x!``, leading ``, ;``: cmd;
   a Unicode dash for an option too, unless the line is a Unix program's pasted from the web (``find . –name``);
6. anything else: bash.
"""

from __future__ import annotations

import re

_PS_VERBS = (
    "Add Approve Assert Backup Block Build Checkpoint Clear Close Compare Complete Compress Confirm Connect Convert "
    "ConvertFrom ConvertTo Copy Debug Deny Deploy Disable Disconnect Dismount Edit Enable Enter Exit Expand Export "
    "Find ForEach Format Get Grant Group Hide Import Initialize Install Invoke Join Limit Lock Measure Merge Mount Move "
    "New Open Optimize Out Ping Pop Protect Publish Push Read Receive Redo Register Remove Rename Repair Request Reset "
    "Resize Resolve Restart Restore Resume Revoke Save Search Select Send Set Show Skip Sort Split Start Step Stop "
    "Submit Suspend Switch Sync Tee Test Trace Unblock Undo Uninstall Unlock Unprotect Unpublish Unregister Update "
    "Use Wait Watch Where Write"
).split()

CMDLET_VERBS = {verb.lower(): verb for verb in _PS_VERBS}  # lower -> as PowerShell spells it
# Get-Process anywhere (case as PowerShell prints it); at a command position, any case and backticks (gEt-pRo`cess)
_PS_CMDLET = re.compile(r"(?<![\w/-])(?:%s)-[A-Z][A-Za-z]+\b(?!-)" % "|".join(_PS_VERBS))
_COMMAND_WORD = re.compile(r"(?:^|[|;{(]|&\s|\$\w+\s*=)\s*[.&]?\s*([A-Za-z`]+-[A-Za-z`]+)(?![\w`.-])")
_PS_SIGNS = re.compile(
    r"\$(?:env:|_\b|_\.|true\b|false\b|null\b|PS[A-Z]\w*|PROFILE\b|args\b|MyInvocation|ExecutionContext\b|ShellId\b)"
    r"|\[[A-Za-z][\w.]*\]::"  # [Type]::Member
    r"|\$\w+\.\w+\(|^\(?\[[A-Za-z][\w.]*\]\s*[\"'$(]"  # $x.Method(...), a cast: [adsisearcher]"..."
    r"|^\s*\$\w+\s*[+-]?=\s"  # $x = ... (bash allows no spaces around =)
    r"|^\s*&\s*['\"$.(]"  # the call operator
    r"|\b(?:HKLM|HKCU|HKCR|Cert|Env|Variable):(?:\\|\s|$)"  # PowerShell drives
    r"|@\{\s*\w+\s*="
    r"|\[char\]\s*\d|\b(?:iex|invoke-expression|frombase64string|new-object)\b"
    r"|(?:^|[;|{(]\s*|&\s+)\.\\[\w.\\-]*\.ps1\b"  # .\build.ps1 runs a script of the working directory
    r"|(?:^|[|;{(=]\s*)[.&]\s*\(|['\")]\s*-f\s*['\"(]",  # .( and &( call operators, the -f format operator
    re.IGNORECASE,
)
_PS_PARAMS = re.compile(
    r"\s-(?:Path|LiteralPath|Force|Recurse|Filter|Name|ComputerName|Credential|ErrorAction|ExecutionPolicy|"
    r"NoProfile|Port|Uri|OutFile|Method|Headers|Body|Identity|Properties|LogName|MaxEvents|Scope|Value|"
    r"Destination|Encoding|Raw|Tail|Seconds|WhatIf|Confirm|ArgumentList|FilePath|Property|First|Last|"
    r"ExpandProperty|NoTypeInformation|Depth|Algorithm|Include|Exclude|Count|InformationLevel|"
    r"UseBasicParsing|Online|Verbose|Module|ListAvailable|SearchBase|ScriptBlock)\b"
)  # case matters
_PS_TICK_IN_WORD = re.compile(r"[A-Za-z]`[A-Za-z]")  # Wr`ite: an escape only PowerShell ignores
_PS_FIRST = frozenset("iwr irm gci gc gps gsv tnc iex sls ipmo icm".split())  # cmdlet aliases that are no Unix command
_BASH_SIGNS = re.compile(
    r"\$'|<<<|\$\{[#!]?\w|\$IFS\b|\$\(\((?!\s*['\"])|\|\s*(?:ba|da|z)?sh\b|/dev/(?:tcp|udp|null)\b"
    r"|(?:^|[;&|]\s*)(?:sudo|export|eval|then|do)\s|\$\(\s*(?:rev|tr|printf|echo|base64|xxd|base32)\b"
)
WINDOWS_PROGRAMS = frozenset(
    "assoc attrib auditpol bcdedit bitsadmin cacls certutil chkdsk choco cipher cls cmdkey copy cscript dcdiag del dir "
    "diskpart dism driverquery findstr forfiles fsutil getmac gpresult gpupdate icacls ipconfig manage-bde mklink "
    "mountvol msiexec mshta mstsc nbtstat net net1 netsh nltest pathping pnputil powercfg pushd qwinsta quser reg "
    "regsvr32 repadmin robocopy route rundll32 runas sc schtasks setx sfc shutdown systeminfo takeown taskkill tasklist "
    "tracert vssadmin w32tm wevtutil winget winrm winrs wmic wscript wsl wusa xcopy".split()
)
_CMD_SIGNS = re.compile(
    r"(?<![\w/])[A-Za-z]:\\"  # C:\ (not http://)
    r"|%[A-Za-z_]\w{2,}(?::[^%\s]*)?%|%\w+:~-?\d+(?:,-?\d+)?%"  # %VAR%, %OS:~-1,1% (not date's %Y%m or %dT%)
    r"|\.(?:exe|bat|cmd|msi)\b"
    r"|(?:^|\s)/[A-Za-z?]{1,2}(?=\s|$)"  # /c, /s, /tn
    r"|(?:^|\s)/[A-Za-z]{1,3}:"  # /v:server, /LOG:
    r"|\^[|&<>]|\w\^\w|(?:^|\s)\^\w"  # escaped pipe, carets in words
    r"|![\w:~,=-]+!|^[\s,;]+[\w\"^]"  # delayed expansion, leading delimiters
    r"|(?:^|\s)\\\\\w"  # \\server\share
    r"|(?:^|[\s\"'])(?:~|\.{1,2})\\[\w$]|\w\\\.\.\\"  # ~\AppData, .\tmp, ..\x, a\..\b: Windows paths
    r"|\bfor\s+(?:/[a-z]\s+)*%%?\w\s+in\s*\(",  # for %f in (...)
    re.IGNORECASE,
)
_UNICODE_DASH_OPTION = re.compile(r"(?:^|\s)[\u2010-\u2015\u2212]\w")  # Windows programs accept it as a dash
# a Unix program's line with a Unicode dash was pasted from a web page (find . –name): bash does not read it as "-"
_UNIX_LINE = re.compile(r"^(?:find\s+[./~$]|(?:wc|ls|grep|sed|awk|xargs|tar|rm|cp|mv|chmod|du|df|sort|head|tail)\b)")
_STARTS_POWERSHELL = re.compile(
    r"\b(?:powershell|pwsh)(?:\.exe)?\s+-(?:nop|nol|noni|exec|ep\b|command|c\b|file|f\b|w\b|windowstyle|"
    r"sta\b|mta\b|version|inputformat|outputformat|configurationname)",
    re.IGNORECASE,
)


def _first_program(text: str) -> str:
    """The first word's program name, lower-cased, without path, ``.exe``, or the carets and quotes inside it."""
    first = text.split(None, 1)[0] if text else ""
    first = re.sub(r"[\"'^]", "", first).replace("\\", "/").rsplit("/", 1)[-1].lower()
    return first[:-4] if first.endswith(".exe") else first


def _piped_programs(text: str) -> set[str]:
    """The programs after ``|`` and ``&`` (``netstat -ano | findstr LISTENING``)."""
    return {_first_program(part.strip()) for part in re.split(r"[|&]+", text)[1:] if part.strip()}


def guess_shell(line: str) -> str:
    """bash, cmd or powershell, by the rules of the module docstring."""
    text = line.strip()[:4000]
    stem = _first_program(text)
    if stem in ("powershell", "pwsh", "cmd") or _STARTS_POWERSHELL.search(text):
        return "cmd"
    if _PS_SIGNS.search(text):
        return "powershell"
    if _BASH_SIGNS.search(text):
        return "bash"
    if (
        stem in _PS_FIRST
        or _PS_CMDLET.search(text)
        or any(w.replace("`", "").split("-")[0].lower() in CMDLET_VERBS for w in _COMMAND_WORD.findall(text))
        or _PS_PARAMS.search(text)
        or _PS_TICK_IN_WORD.search(text)
        or text.count("`") % 2 == 1
    ):
        return "powershell"
    if stem in WINDOWS_PROGRAMS or _CMD_SIGNS.search(text) or _piped_programs(text) & WINDOWS_PROGRAMS:
        return "cmd"
    if _UNICODE_DASH_OPTION.search(text) and not _UNIX_LINE.match(text):
        return "cmd"
    return "bash"
