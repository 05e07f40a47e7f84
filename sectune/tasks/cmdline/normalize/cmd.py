"""cmd.exe: what a line runs, computed by a Python model of how cmd.exe parses it (nothing is executed).

The model (``trace``) follows the documented/observed phases: percent expansion of the whole line first
(undefined variables stay as typed at the prompt), then carets and quotes, splitting at & && | ||, leading
``,;`` delimiters, delayed ``!x!`` expansion per command when /v:on, ``set``, ``call`` (a second expansion),
``if a==b``, ``for [/l] %x in (...) do`` (which owns the rest of the line), ``cmd [/v:on] /c "..."`` (first and last
quote stripped) and pipes (each side in a child cmd without delayed expansion). It returns the commands that
would run, with arguments as the program sees them. ``%VAR:~a,b%`` uses the fixed reference environment
:data:`ENV` (the obfuscation engine's: a default Windows install).

:func:`normalize_cmd` joins the trace into one line (commands joined by `` & ``, `` | `` for pipes, redirections
after their command); when the model cannot parse the line it falls back to caret/quote removal and percent
expansion. tests/test_obfuscate_cmd.py checks the engine's cmd techniques against this model.
"""

from __future__ import annotations

import re

from sectune.tasks.cmdline.normalize._budget import NotStatic, TooComplex, check_size, deeper, note, tick, unnote
from sectune.tasks.cmdline.obfuscate.cmd import BUILTINS
from sectune.tasks.cmdline.obfuscate.cmd import ENV as REFERENCE_ENV

ENV = {k.lower(): v for k, v in REFERENCE_ENV.items()}


def expand(text: str, env: dict[str, str], mark: str = "%") -> str:
    """Percent (or delayed ``!``) expansion with ``:~start,length`` substrings; an undefined ``%x%`` stays as typed
    (command-line rules, not batch-file ones), an undefined ``!x!`` becomes nothing."""
    out, i = [], 0
    while i < len(text):
        tick()
        if text[i] != mark:
            out.append(text[i])
            i += 1
            continue
        j = text.find(mark, i + 1)
        if j < 0:
            out.append(text[i:])
            break
        name, _, mod = text[i + 1 : j].partition(":")
        value = env.get(name.lower())
        if not name or value is None:
            if mark == "!":
                i = j + 1
                continue
            out.append(text[i:j])  # keep "%name" and go on from the second %
            i = j
            continue
        if mark == "!":
            note("delayed !x! expanded")
        elif mod or not _path_prefix(name, value, text, j + 1):
            note(f"%{name}{':' + mod if mod else ''}% expanded")
        if mod.startswith("~"):
            start_s, _, length_s = mod[1:].partition(",")
            start = int(start_s or 0)
            start = max(0, len(value) + start) if start < 0 else min(start, len(value))
            if length_s:
                length = int(length_s)
                end = len(value) + length if length < 0 else start + length
                value = value[start : max(start, end)]
            else:
                value = value[start:]
        elif "=" in mod and not mod.startswith(("*", "=")):  # :old=new, every occurrence, case ignored
            old, new = mod.split("=", 1)
            value = re.sub(re.escape(old), lambda _, new=new: new, value, flags=re.IGNORECASE)
        elif mod:
            raise NotStatic(f"unmodelled modifier {mod!r}")
        out.append(value)
        i = j + 1
        check_size(out)
    return "".join(out)


def _path_prefix(name: str, value: str, text: str, after: int) -> bool:
    """``%SystemRoot%\\System32``, ``%TEMP%\\x.log``: a system variable starting a path, as administrators write
    paths; not a disguise (``%COMSPEC%`` as a command, substrings and variables set on the line are)."""
    return ENV.get(name.lower()) == value and text.startswith(("\\", "/"), after)


def split_commands(text: str) -> list[tuple[str, str, list[str]]]:
    """Phase 2: carets removed outside quotes, redirections taken out, split at & && | || (if/for own the rest)."""
    parts, buf, redirs, quoted, i, sep = [], [], [], False, 0, ""
    while i < len(text):
        c = text[i]
        if c == '"':
            quoted = not quoted
        tick()
        if not quoted and c == "^" and i + 1 < len(text):
            buf.append(text[i + 1])
            i += 2
            continue
        owns_rest = re.match(r"(?i)(if|for)\s", "".join(buf).lstrip(" \t,;="))  # IF and FOR take everything after them
        if not quoted and c in "<>" and not owns_rest:
            op = ">>" if text.startswith(">>", i) else c
            if buf and buf[-1].isdigit() and (len(buf) == 1 or buf[-2] in " \t"):
                op = buf.pop() + op
            j = i + len(op.lstrip("0123456789"))
            while j < len(text) and text[j] in " \t":
                j += 1
            m = re.compile(r'&\d|(?:"[^"]*"|\^.|[^\s&|<>"^])+').match(text, j)
            redirs.append(f"{op} {m.group().replace('^', '') if m else ''}")
            i = m.end() if m else j
            continue
        if not quoted and c in "&|" and not owns_rest:
            op = text[i : i + 2] if text[i : i + 2] in ("&&", "||") else c
            parts.append((sep, "".join(buf), redirs))
            buf, redirs, sep = [], [], op
            i += len(op)
            continue
        buf.append(c)
        i += 1
    parts.append((sep, "".join(buf), redirs))
    return parts


def run(line: str, env: dict[str, str], trace: list[str], delayed: bool = False) -> None:
    tick()
    check_size(trace)
    commands = split_commands(expand(line, env))
    for k, (sep, command, redirections) in enumerate(commands):
        piped = sep == "|" or (k + 1 < len(commands) and commands[k + 1][0] == "|")
        if sep == "|":
            trace.append("|")
        if piped:  # a child cmd.exe: expands again, delayed expansion off
            execute(expand(command, env), dict(env), trace, False)
        else:
            execute(command, env, trace, delayed)
        trace += redirections  # taken before call or !x! could rebuild them


def execute(command: str, env: dict[str, str], trace: list[str], delayed: bool) -> None:
    command = command.lstrip(" \t,;=")  # trailing spaces stay: "set x=a &&" sets "a "
    if delayed and not re.match(r"(?i)(if|for)\s", command):  # their bodies expand per command, per iteration
        command = expand(command, env, "!")
    if not command:
        return
    m = re.match(r'((?:"[^"]*"|[^\s,;"])+)[\s,;]*(.*)', command, re.S)
    token, rest = m.group(1), m.group(2)
    name = token.replace('"', "")
    lname = re.sub(r"\.exe$", "", name.lower())
    if '"' in token and lname in BUILTINS:
        trace.append(f"ERROR: quoted builtin {token}")
        return
    tick()
    if lname == "set":
        note("set variable")
        var, _, value = rest.partition("=")
        env[var.lower()] = value
    elif lname == "call":
        if any(name.lower() in env for name in re.findall(r"%(\w+)(?::[^%]*)?%", rest)):  # call %a%%b%
            note("call re-expanded")  # not call C:\Scripts\env.cmd: a batch file called is what call is for
        with deeper():
            run(rest, env, trace, delayed=False)
    elif lname == "if":
        m = re.match(r"(\S+)==(\S+)\s+(.*)", rest, re.S)
        if m.group(1) == m.group(2):
            for _sep, part, redirections in split_commands(m.group(3)):
                execute(part, env, trace, delayed)
                trace += redirections
    elif lname == "for":
        m = _FOR.match(rest)
        switch, var, items, body = (m.group("switch") or "").lower(), m.group("var"), m.group("items"), m.group("body")
        counting = switch.startswith("/l")
        values = re.split(r"[\s,;=]+", items.strip())
        plain = (
            switch.startswith(("/d", "/r")) or not counting and any(c in items for c in "*?") or _plain_loop(var, body)
        )
        if plain or switch.startswith("/f"):  # kept as typed: what the loop reads is known only when it runs
            if not plain:  # FOR /F ... DO %x: runs what a command printed or a file holds
                note("for loop runs what a command or file gives")
            trace.append(" ".join(["for", *rest.replace('"', "").split()]))
            return
        if counting:  # FOR /L %x in (start,step,end): integers, end included
            start, step, end = (
                int(v) for v in re.sub(r"(-)\s+", r"\1", items).replace(";", ",").replace(" ", ",").split(",") if v
            )
            span = range(start, end + (1 if step > 0 else -1), step)
            if len(span) > 4096:
                raise TooComplex("for /l loop too long")
            values = [str(v) for v in span]
        note("for loop unrolled")
        for item in values:
            tick()
            for _sep, part, redirections in split_commands(body.replace(var, item)):
                execute(part, env, trace, delayed)
                trace += redirections
    elif lname == "cmd":
        m = re.match(r"((?:/[a-z](?::\w+)?[\s,;]*)*?)/[cr][\s,;]*(.*)", rest, re.S | re.I)
        options, body = m.groups()
        if body.startswith('"') and body.endswith('"'):
            body = body[1:-1]
        note("cmd /c unwrapped")
        with deeper():
            run(body, dict(env), trace, delayed="/v" in options.lower())
    else:
        if lname in ("powershell", "pwsh"):
            rest = _env_passed(rest, env)
        trace.append(normalise(lname, rest))


_PS_ENV = re.compile(r"(?i)\$\{?env:(\w+)\}?")


def _env_passed(args: str, env: dict[str, str]) -> str:
    """PowerShell started by this line reads the variables the line set as ``$env:NAME`` (Invoke-Obfuscation's
    VAR+ launcher: ``set x=<code>&&powershell iex $env:x``): each becomes the string it holds."""

    def value(m: re.Match) -> str:
        name = m.group(1).lower()
        if name not in env or env[name] == ENV.get(name):
            return m.group()
        note(f"$env:{m.group(1)} expanded (set by cmd)")
        return "('" + env[name].strip().replace("'", "''") + "')"

    return _PS_ENV.sub(value, args)


# FOR [/L | /F ["options"] | /D | /R [root]] %x IN (items) DO body; /F items: 'command', "string" or file names
_FOR = re.compile(
    r"""(?P<switch>/l\s+|/f\s+(?:"[^"]*"\s+)?|/d\s+|/r\s+(?:(?!%)\S+\s+)?)?(?P<var>%\w)\s+in\s+"""
    r"""\((?P<items>\s*'[^']*'\s*|\s*`[^`]*`\s*|[^)]*)\)\s*do\s+(?P<body>.*)""",
    re.S | re.I,
)


def _plain_loop(var: str, body: str) -> bool:
    """A loop an administrator writes (``for /l %i in (1,1,254) do ping -n 1 10.0.0.%i``, a file set): its
    commands are named plainly and build nothing, so it is kept as typed; a loop that sets, calls or runs its
    variable builds a command and is unrolled."""
    if re.search(r"(?i)(?:^|[\s&|(@])(?:set|call)\s|!", body):
        return False
    heads = [part.lstrip("@( ").split(None, 1)[0] if part.strip("@( ") else "" for _, part, _ in split_commands(body)]
    return all(head and var.lower() not in head.lower() for head in heads)


def normalise(name: str, args: str) -> str:
    """What the program sees: builtins their raw text, other programs their arguments with quotes removed; for
    PowerShell ``\\"`` is a quote kept (``powershell -c "& (\\"ab\\")"`` runs ``& ("ab")``)."""
    if name in ("powershell", "pwsh"):
        args = re.sub(r'\\"|"', lambda m: '"' if len(m.group()) == 2 else "", args)
    elif name not in BUILTINS:
        args = args.replace('"', "")
    return " ".join([name.lower(), *args.split()])


def trace_of(line: str) -> list[str]:
    trace: list[str] = []
    run(line, dict(ENV), trace)
    return trace


_CARET_WORD = re.compile(r"[^\s&|<>]*\^[^\s&|<>]*")


def _fallback(line: str) -> str:
    """Carets and quotes removed, percent variables expanded: what is left when the model cannot parse a line."""
    text = expand(line, dict(ENV))
    out, quoted, i = [], False, 0
    while i < len(text):
        c = text[i]
        if c == '"':
            quoted = not quoted
            i += 1
            continue
        if c == "^" and not quoted and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return " ".join("".join(out).split())


def join_trace(trace: list[str]) -> str:
    parts: list[str] = []
    for item in trace:
        if item == "|":
            parts.append("|")
        elif item[:1] in "<>" or item[:2].rstrip() in ("1>", "2>", "0<", "1<", "2<") or re.match(r"\d[<>]", item):
            parts.append(item)
        else:
            if parts and parts[-1] != "|":
                parts.append("&")
            parts.append(
                item.removeprefix("ERROR: quoted builtin ").replace('"', "") if item.startswith("ERROR") else item
            )
    return " ".join(" ".join(parts).split())


def normalize_cmd(line: str) -> str:
    """The commands ``line`` runs under cmd.exe, as one line (see the module docstring)."""
    for m in _CARET_WORD.finditer(line):
        word = m.group()
        if re.search(r"(?:^|[\w/\-.:\\])\^[\w/\-]", word):  # not ^& ^| ^> ^^ or a quoted findstr "^..."
            note(f"caret inside {word[:40]} removed -> {word.replace('^', '')[:40]}")
    if re.search(r'\w"[^"\s]*"\w|\w""\w', line):  # not ""HKLM\..."" or VBScript's "" inside a string
        note("quotes inside a word removed")
    if re.match(r"^[\s,;=]+", line):
        note("leading , ; delimiters removed")
    try:
        normal = join_trace(trace_of(line))
    except TooComplex:
        raise
    except Exception:  # syntax the model does not cover: the simple rules
        note("cmd model could not parse the line; fell back to simple rules")
        return _fallback(line)
    settings = _settings_only(line)
    if settings:  # set PATH=...& gpresult: an environment setting, not a variable that builds a command
        unnote("set variable")
        normal = " & ".join([*settings, normal] if normal else settings)
    return normal


_SET = re.compile(r'(?i)(?:^|[&|(]\s*)set\s+"?([^\s=&|"/]+)=([^&|"]*)"?')


def _settings_only(line: str) -> list[str]:
    """The ``set name=value`` statements of ``line`` when none of their variables is used in it, else []."""
    found = _SET.findall(line)
    if not found or re.search(r"(?i)\bset\s+/[ap]", line):
        return []
    rest = _SET.sub(" ", line)  # set PATH=%PATH%;C:\bin uses PATH's old value, not the one it sets
    if any(re.search(rf"(?i)[%!]{re.escape(name)}[%!:]", rest) for name, _ in found):
        return []
    return [f"set {name}={value.strip()}" for name, value in found]
