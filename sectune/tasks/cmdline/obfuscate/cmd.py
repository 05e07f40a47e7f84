"""cmd.exe obfuscation techniques, after Invoke-DOSfuscation and in-the-wild habits (``n^e^t``, ``%COMSPEC:~-7,1%``).

Outputs are lines for cmd.exe to parse: typed at a prompt or given to ``cmd /c`` (not batch-file lines, where
``%`` would have to be doubled). Wrappers start a child ``cmd [/v:on] /c "..."``. There is no Windows here:
the tests check each output against a Python model of the cmd.exe parsing rules these techniques rely on
(percent expansion, caret escapes, quotes in the command name, ``set``/``call``, delayed expansion, FOR).

Assumptions, stated because nothing here can run them:
- quotes inside arguments are removed by the program's own argument parser (the MSVCRT/CommandLineToArgvW
  rule most programs use), so they are only inserted into arguments of external programs, never of builtins
  such as ``echo``, and never into the command name of a builtin (cmd does not find ``"echo"``);
- ``%VAR:~i,1%`` substrings use the fixed reference environment ``ENV`` (a default Windows 10/11 install),
  and only the parts of it that do not vary between installs;
- option-character swaps (``-urlcache`` vs ``/urlcache``) only for the tools in ``DUAL_OPTION_TOOLS``,
  which are commonly reported to accept both (unverified here).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from sectune.errors import SectuneError

BUILTINS = frozenset(
    "assoc break call cd chdir cls color copy date del dir echo endlocal erase exit for ftype goto if md mkdir mklink "
    "move path pause popd prompt pushd rd rem ren rename rmdir set setlocal shift start time title type ver verify vol".split()
)
_KEYWORD_COMMANDS = frozenset("if for rem goto".split())  # parsed specially by cmd: leave their commands alone
_RAW_PARSERS = frozenset("cmd powershell pwsh rundll32 wmic msiexec mshta start".split())  # own command-line parsing

# The reference environment of %VAR:~i,n% substrings: a default Windows install. SystemRoot's case varies between
# installs (C:\WINDOWS, C:\Windows), so only its "C:\" is used, and COMSPEC only from its stable end.
ENV = {
    "ALLUSERSPROFILE": "C:\\ProgramData",
    "CommonProgramFiles": "C:\\Program Files\\Common Files",
    "COMSPEC": "C:\\WINDOWS\\system32\\cmd.exe",
    "OS": "Windows_NT",
    "PATHEXT": ".COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH;.MSC",
    "ProgramData": "C:\\ProgramData",
    "ProgramFiles": "C:\\Program Files",
    "PUBLIC": "C:\\Users\\Public",
    "SystemDrive": "C:",
    "SystemRoot": "C:\\WINDOWS",
    "windir": "C:\\WINDOWS",
}
_STABLE = {"COMSPEC": range(-16, 0), "SystemRoot": range(0, 3), "windir": range(0, 3)}  # usable indices; else all

DUAL_OPTION_TOOLS = frozenset("certutil ping ipconfig tasklist taskkill schtasks".split())
_RESERVED_VARS = frozenset(v.lower() for v in ENV) | {
    "path",
    "temp",
    "tmp",
    "cd",
    "date",
    "time",
    "random",
    "errorlevel",
}


@dataclass
class _Tok:
    kind: str  # word | space | op
    text: str
    lit: tuple[bool, ...] = ()  # per character: outside quotes, not caret-escaped, not in a %...% reference
    cmd: bool = False  # the command name of its command
    command: str = ""  # lower-cased name of the command the word belongs to (no path, no .exe)
    index: int = 0  # which command of the line (split at & && | ||)
    piped: bool = False  # a side of a pipe: cmd runs it in a child cmd.exe without delayed expansion
    target: bool = False  # a redirection target: parsed before call/delayed expansion could rebuild it


_PERCENT = re.compile(r"%[A-Za-z_][^%\s]*%|%~[a-zA-Z]*\d|%\d|%%?[A-Za-z]")
_BANG = re.compile(r"![^!\s]+!")


def _lex(line: str) -> list[_Tok]:
    """Split a cmd line into words, spaces and operators (texts join back to the line), marking each word's command."""
    toks: list[_Tok] = []
    i, start, target, command, index, piped = 0, True, False, "", 0, False
    while i < len(line):
        c = line[i]
        if c in " \t":
            j = i
            while j < len(line) and line[j] in " \t":
                j += 1
            toks.append(_Tok("space", line[i:j]))
            i = j
            continue
        op = next((o for o in ("&&", "||", "&", "|", ">>", ">", "<") if line.startswith(o, i)), None)
        if op in (">>", ">", "<") and re.match(r"&\d", line[i + len(op) :]):  # >&1: a handle, not a command separator
            op += line[i + len(op) : i + len(op) + 2]
            toks.append(_Tok("op", op))
            i += len(op)
            continue
        if op:
            toks.append(_Tok("op", op))
            i += len(op)
            if op in ("&&", "||", "&", "|"):
                if op == "|":
                    for tok in toks:
                        tok.piped = tok.piped or tok.index == index
                start, command, index, piped = True, "", index + 1, op == "|"
            else:
                target = True
            continue
        j, lit, quoted = i, [], False
        while j < len(line):
            c = line[j]
            if not quoted and c in " \t&|<>":
                break
            if c == '"':
                quoted = not quoted
                lit.append(False)
                j += 1
            elif c == "^" and not quoted and not line.startswith("^%", j):  # %...% expands before carets count
                lit += [False] * min(2, len(line) - j)
                j += 2
            elif c == "^":
                lit.append(False)
                j += 1
            elif c in "%!":
                m = _PERCENT.match(line, j) if c == "%" else _BANG.match(line, j)
                k = m.end() if m else j + 1
                lit += [False] * (k - j)
                j = k
            else:
                lit.append(not quoted)
                j += 1
        j = min(j, len(line))
        text = line[i:j]
        if text.isdigit() and j < len(line) and line[j] in "<>":  # 2>nul, 2>&1: the digits belong to the redirection
            op = ">>" if line.startswith(">>", j) else line[j]
            handle = re.match(r"&\d", line[j + len(op) :])
            toks.append(_Tok("op", text + op + (handle.group() if handle else "")))
            i, target = j + len(toks[-1].text) - len(text), not handle
            continue
        tok = _Tok("word", text, tuple(lit[: len(text)]), index=index, piped=piped)
        if target:
            target, tok.target = False, True
        elif start:
            tok.cmd, start = True, False
            name = re.split(r"[,;=]", text.replace('"', "").replace("^", "").lstrip(",;="))[0]  # ,;= delimit it
            command = re.sub(r"\.exe$", "", name.lower().rsplit("\\", 1)[-1])
            if "%" in text or "!" in text:
                command = "?"  # built by expansion: may be a builtin, so treat it as one
        tok.command = command
        toks.append(tok)
        i = j
    return toks


def _join(toks: list[_Tok]) -> str:
    return "".join(t.text for t in toks)


def _n(intensity: str, light, medium, heavy):
    return {"light": light, "medium": medium, "heavy": heavy}[intensity]


def _letters(tok: _Tok, start: int = 0) -> list[int]:
    return [p for p in range(start, len(tok.text)) if tok.lit[p] and tok.text[p].isalnum()]


def _commands(toks: list[_Tok]) -> list[_Tok]:
    return [t for t in toks if t.kind == "word" and t.cmd and t.command not in _KEYWORD_COMMANDS and _letters(t)]


def _args(toks: list[_Tok]) -> list[_Tok]:
    return [
        t
        for t in toks
        if t.kind == "word"
        and not t.cmd
        and not t.target
        and t.command
        and t.command not in _KEYWORD_COMMANDS
        and _letters(t)
    ]


def _insert_at(tok: _Tok, positions: list[int], text: str) -> None:
    for p in sorted(positions, reverse=True):
        tok.text = tok.text[:p] + text + tok.text[p:]


def _var(rng: random.Random, line: str, taken: set[str]) -> str:
    """A 1-3 letter variable name that the line, the reference environment and earlier picks do not use."""
    while True:
        name = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 3)))
        if name not in taken and name not in _RESERVED_VARS and name not in line.lower():
            taken.add(name)
            return name


def _split(text: str, parts: int, rng: random.Random) -> list[str]:
    parts = max(1, min(parts, len(text)))
    cuts = sorted(rng.sample(range(1, len(text)), parts - 1)) if parts > 1 else []
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]


def _wrappable(line: str, name: str, forbid: str = "") -> None:
    """A line can go inside ``cmd /c "..."`` if its own quoted parts hold no characters the outer parse would act on."""
    quoted = re.findall(r'"([^"]*)"', line)
    if any(set(q) & set("&|<>^") for q in quoted) or line.count('"') % 2 or set(line) & set(forbid):
        raise SectuneError(
            f'cmd/{name} cannot wrap {line[:60]!r} in cmd /c "..." (special characters in quotes'
            f"{' or any of ' + forbid if forbid else ''})"
        )


def _wrap(body: str, rng: random.Random, delayed: bool = False) -> str:
    """``cmd /c "body"`` in one of the spellings seen in the wild (``cmd.exe /V:ON/C"..."``)."""
    exe = rng.choice(["cmd", "cmd", "cmd.exe", "CMD"])
    opts = rng.choice(["/v:on /c", "/V:ON /C", "/V:ON/C"]) if delayed else rng.choice(["/c", "/c", "/C"])
    return f'{exe} {opts}{"" if opts.endswith("C") and rng.random() < 0.5 else " "}"{body}"'


# --- escaping, quoting, case -------------------------------------------------------------------------------------


def caret(line: str, intensity: str, rng: random.Random) -> str:
    """Carets before letters outside quotes: ``n^e^t us^er`` (cmd drops each ``^`` before running)."""
    toks = _lex(line)
    commands = _commands(toks)
    if not commands and not _args(toks):
        raise SectuneError(f"cmd/caret: no command word to escape in {line[:60]!r}")
    if intensity == "light":
        tok = commands[0] if commands else _args(toks)[0]
        letters = _letters(tok)
        _insert_at(tok, rng.sample(letters, min(len(letters), rng.randint(1, 2))), "^")
        return _join(toks)
    share = _n(intensity, 0, 0.4, 0.85)
    for tok in commands + _args(toks):
        letters = _letters(tok)
        k = max(1, round(share * len(letters))) if tok.cmd or rng.random() < share else 0
        _insert_at(tok, rng.sample(letters, min(k, len(letters))), "^")
    return _join(toks)


def _spaced(positions: list[int], k: int, rng: random.Random) -> list[int]:
    """Up to ``k`` of ``positions``, no two adjacent: a quote pair right after a quoted letter reads as a literal quote."""
    chosen: list[int] = []
    for p in rng.sample(positions, len(positions)):
        if len(chosen) < k and all(abs(p - q) > 1 for q in chosen):
            chosen.append(p)
    return chosen


def _quote_into(tok: _Tok, k: int, rng: random.Random) -> None:
    for p in sorted(_spaced(_letters(tok, 1), k, rng), reverse=True):
        if rng.random() < 0.5 and p + 1 < len(tok.text) and tok.lit[p] and tok.text[p].isalnum():
            tok.text = tok.text[:p] + '"' + tok.text[p] + '"' + tok.text[p + 1 :]  # n"e"t
        else:
            tok.text = tok.text[:p] + '""' + tok.text[p:]  # ne""t


def _external(tok: _Tok) -> bool:
    """A program of its own (not a builtin, nor one that parses its command line itself, nor a name built by expansion)."""
    return tok.command not in BUILTINS | _RAW_PARSERS | _KEYWORD_COMMANDS | {"?"}


def quotes(line: str, intensity: str, rng: random.Random) -> str:
    """Double quotes inside the name and arguments of external programs: ``n"e"t us""er``."""
    toks = _lex(line)
    names = [t for t in _commands(toks) if t.command not in BUILTINS | {"?"} and _letters(t, 1)]
    args = [t for t in _args(toks) if _external(t) and _letters(t, 1)]
    if not names and not args:
        raise SectuneError(f"cmd/quotes: no external program name or argument to quote in {line[:60]!r}")
    if intensity == "light":
        _quote_into((names or args)[0], rng.randint(1, 2), rng)
        return _join(toks)
    for tok in names + [a for a in args if intensity == "heavy" or rng.random() < 0.5]:
        _quote_into(tok, max(1, len(_letters(tok, 1)) // _n(intensity, 4, 4, 2)), rng)
    return _join(toks)


def arg_insertion(line: str, intensity: str, rng: random.Random) -> str:
    """Carets or quotes inside arguments only: ``certutil -url^cache -f ...`` dodges rules keyed on options."""
    toks = _lex(line)
    args = [t for t in _args(toks) if _letters(t, 1)]
    if not args:
        raise SectuneError(f"cmd/arg-insertion: no argument to rewrite in {line[:60]!r}")
    targets = (
        [rng.choice(args)]
        if intensity == "light"
        else [a for a in args if intensity == "heavy" or rng.random() < 0.6] or args[:1]
    )
    for tok in targets:
        k = _n(intensity, 1, rng.randint(1, 2), max(2, len(_letters(tok, 1)) // 2))
        if _external(tok) and rng.random() < 0.5:
            _quote_into(tok, k, rng)
        else:
            letters = _letters(tok, 1)
            _insert_at(tok, rng.sample(letters, min(k, len(letters))), "^")
    return _join(toks)


def random_case(line: str, intensity: str, rng: random.Random) -> str:
    """Random letter case outside quotes: ``NeT uSeR`` (names, options and paths are case-insensitive on Windows).

    Light changes only command names, medium also options and Windows paths, heavy every unquoted letter,
    which also changes text a program may echo back (``echo``) or send (URLs): case-insensitive equality only.
    """
    toks = _lex(line)
    flip = _n(intensity, 0.5, 0.5, 0.6)
    done = False
    for tok in toks:
        if tok.kind != "word" or tok.command in _KEYWORD_COMMANDS:
            continue
        chosen = (
            tok.cmd or (intensity == "medium" and re.match(r"[-/]\w|[A-Za-z]:\\", tok.text)) or intensity == "heavy"
        )
        if not chosen:
            continue
        chars = list(tok.text)
        for p in _letters(tok):
            if chars[p].isalpha() and rng.random() < flip:
                chars[p] = chars[p].swapcase()
                done = True
        tok.text = "".join(chars)
    if not done:  # make sure something changed: flip the first letter of the first command
        for tok in _commands(toks):
            p = next((p for p in _letters(tok) if tok.text[p].isalpha()), None)
            if p is not None:
                tok.text = tok.text[:p] + tok.text[p].swapcase() + tok.text[p + 1 :]
                done = True
                break
    if not done:
        raise SectuneError(f"cmd/random-case: no letter to change in {line[:60]!r}")
    return _join(toks)


def separators(line: str, intensity: str, rng: random.Random) -> str:
    """Commas and semicolons before commands, which cmd skips like spaces: ``cmd /c ,;net user``."""
    toks = _lex(line)
    starts = [t for t in toks if t.kind == "word" and t.cmd and t.command not in _KEYWORD_COMMANDS]
    if not starts:
        raise SectuneError(f"cmd/separators: no command in {line[:60]!r}")

    def junk(k: int) -> str:
        return "".join(rng.choice(",;" if intensity != "heavy" else ",;, ") for _ in range(k)).lstrip(" ") or ","

    chosen = starts[:1] if intensity == "light" else starts
    for tok in chosen:
        tok.text = junk(_n(intensity, rng.randint(1, 2), rng.randint(1, 3), rng.randint(2, 6))) + tok.text
    out = _join(toks)
    if intensity == "heavy" and not any(t.command == "cmd" for t in starts):
        try:
            _wrappable(line, "separators")
            out = f'{rng.choice(["cmd", "cmd.exe"])} {junk(rng.randint(1, 3))}/c{junk(rng.randint(1, 3))}"{out}"'
        except SectuneError:
            pass
    return out


def option_swap(line: str, intensity: str, rng: random.Random) -> str:
    """``-`` and ``/`` swapped in options of tools that accept both: ``certutil /urlcache /f``, ``ping /n 1``."""
    toks = _lex(line)
    options = [
        t
        for t in toks
        if t.kind == "word"
        and not t.cmd
        and t.command in DUAL_OPTION_TOOLS
        and re.fullmatch(r"[-/][A-Za-z][\w:]*", t.text)
    ]
    if not options:
        raise SectuneError(f"cmd/option-swap: no option of {', '.join(sorted(DUAL_OPTION_TOOLS))} in {line[:60]!r}")
    k = _n(intensity, 1, max(1, len(options) // 2), len(options))
    for tok in rng.sample(options, k):
        tok.text = ("/" if tok.text[0] == "-" else "-") + tok.text[1:]
    return _join(toks)


# --- environment substrings, variables, FOR ---------------------------------------------------------------------


def _sources(char: str, any_case: bool) -> list[tuple[str, int]]:
    found = []
    for var, value in ENV.items():
        for i, c in enumerate(value):
            ok = c == char or (any_case and c.lower() == char.lower())
            if ok and (var not in _STABLE or i in _STABLE[var] or i - len(value) in _STABLE[var]):
                found.append((var, i))
    return found


def _substring(var: str, i: int, rng: random.Random) -> str:
    value = ENV[var]
    neg = i - len(value)
    forms = []
    if var not in _STABLE or i in _STABLE[var]:
        forms += [f"%{var}:~{i},1%", f"%{var}:~{i},{-(len(value) - i - 1)}%" if i < len(value) - 1 else f"%{var}:~{i}%"]
    if var not in _STABLE or neg in _STABLE[var]:
        forms += [f"%{var}:~{neg},1%"]
    return rng.choice(forms)


def env_substring(line: str, intensity: str, rng: random.Random) -> str:
    """Characters taken from substrings of standard variables: ``%COMSPEC:~-7,1%md`` is ``cmd``."""
    cut = line.find("%")
    head, tail = (line, "") if cut < 0 else (line[:cut], line[cut:])
    toks = _lex(head)
    spots = []  # (token, position, any_case)
    for tok in toks:
        if tok.kind != "word":
            continue
        for p, c in enumerate(tok.text):
            if c.isalnum() or c in ". \\:_;":
                if _sources(c, tok.cmd):
                    spots.append((tok, p, tok.cmd))
    if not spots:
        raise SectuneError(f"cmd/env-substring: no character available from the reference environment in {line[:60]!r}")
    if intensity == "light":
        first = [s for s in spots if s[0] is spots[0][0]]
        chosen = rng.sample(first, min(len(first), rng.randint(1, 2)))
    else:
        share = _n(intensity, 0, 0.35, 0.9)
        chosen = [s for s in spots if (s[0].cmd and intensity == "heavy") or rng.random() < share] or spots[:1]
    for tok, p, any_case in sorted(chosen, key=lambda s: -s[1]):
        var, i = rng.choice(_sources(tok.text[p], any_case))
        tok.text = tok.text[:p] + _substring(var, i, rng) + tok.text[p + 1 :]
    return _join(toks) + tail


def _plain_pieces(toks: list[_Tok], intensity: str) -> list[_Tok]:
    words = [
        t
        for t in toks
        if t.kind == "word"
        and t.command not in _KEYWORD_COMMANDS
        and len(t.text) > 1
        and not t.target
        and all(t.lit)
        and re.fullmatch(r"[\w.:\\/-]+", t.text)
    ]
    if intensity == "light":
        return [w for w in words if w.cmd][:1] or words[:1]
    return words


def set_concat(line: str, intensity: str, rng: random.Random) -> str:
    """Words split into variables and rebuilt by ``call``: ``cmd /c "set a=ne&& set b=t&& call %a%%b% user"``.

    ``call`` expands the variables a second time, after the ``set`` commands ran (the line's own expansion
    happens before any of them runs); every command holding a rebuilt word gets its own ``call``.
    """
    _wrappable(line, "set-concat", forbid="%")
    toks = _lex(line)
    words = _plain_pieces(toks, intensity)
    if not words:
        raise SectuneError(f"cmd/set-concat: no plain word to split in {line[:60]!r}")
    heads = [t for t in toks if t.kind == "word" and t.cmd]
    taken: set[str] = set()
    sets = []
    for tok in words:
        parts = _split(tok.text, _n(intensity, 2, rng.randint(2, 3), rng.randint(3, 4)), rng)
        names = [_var(rng, line, taken) for _ in parts]
        sets += [f"set {n}={p}" for n, p in zip(names, parts)]
        tok.text = "".join(f"%{n}%" for n in names)
    for tok in heads:
        if any(w.index == tok.index for w in words):
            tok.text = "call " + tok.text
    if intensity == "heavy":
        rng.shuffle(sets)
    glue = rng.choice(["&&", "&& ", "&"])
    return _wrap(glue.join(sets) + glue + _join(toks), rng)


def delayed(line: str, intensity: str, rng: random.Random) -> str:
    """Delayed expansion rebuilds the command at run time: ``cmd /v:on /c "set x=net&&!x! user"``.

    Heavy picks every character out of one scrambled variable with ``!x:~i,1!``. Sides of a pipe are left
    alone: cmd runs them in a child cmd.exe where delayed expansion is off.
    """
    _wrappable(line, "delayed", forbid="!")
    toks = _lex(line)
    words = [w for w in _plain_pieces(toks, "light" if intensity == "light" else "medium") if not w.piped]
    if not words:
        raise SectuneError(f"cmd/delayed: no plain word outside a pipe to rebuild in {line[:60]!r}")
    taken: set[str] = set()
    sets = []
    if intensity == "heavy":
        chars = sorted(set("".join(w.text for w in words)))
        rng.shuffle(chars)
        pool, name = "".join(chars), _var(rng, line, taken)
        sets.append(f"set {name}={pool}")
        for tok in words:
            tok.text = "".join(f"!{name}:~{pool.index(c)},1!" for c in tok.text)
    else:
        for tok in words:
            parts = [tok.text] if intensity == "light" else _split(tok.text, rng.randint(1, 3), rng)
            names = [_var(rng, line, taken) for _ in parts]
            sets += [f"set {n}={p}" for n, p in zip(names, parts)]
            tok.text = "".join(f"!{n}!" for n in names)
    return _wrap("&&".join(sets) + "&&" + _join(toks), rng, delayed=True)


def _caret_specials(text: str) -> str:
    return re.sub(r"([&|<>()])", r"^\1", text)


def _payload(line: str, intensity: str, name: str) -> tuple[str, str]:
    """(what a rebuilding technique rebuilds, what follows it as typed): light rebuilds only the command name
    when the rest holds nothing cmd would parse inside the wrapper, otherwise the whole line."""
    toks = _lex(line)
    commands = _commands(toks)
    if not commands or commands[0].command in _KEYWORD_COMMANDS:
        raise SectuneError(f"cmd/{name}: no command to rebuild in {line[:60]!r}")
    if intensity == "light":
        first = commands[0]
        k = toks.index(first)
        head, rest = _join(toks[: k + 1]), _join(toks[k + 1 :])
        if not set(rest) & set("&|<>()") and head.strip() == first.text:
            return first.text, rest
    return line, ""


def _two_vars(rng: random.Random, line: str, loop: str) -> tuple[str, str]:
    """Two fresh variable names, neither starting with the FOR variable's letter (``%jx`` reads as ``%j`` + x)."""
    taken: set[str] = set()
    names = []
    while len(names) < 2:
        candidate = _var(rng, line, taken)
        if candidate[0] != loop:
            names.append(candidate)
    return names[0], names[1]


def for_loop(line: str, intensity: str, rng: random.Random) -> str:
    """FOR-loop reassembly (DOSfuscation's FORcoding): characters picked from a scrambled variable by index, then ``call``.

    ``cmd /v:on /c "set s=tne&&for %i in (1,2,0,9) do set f=!f!!s:~%i,1!&&if %i==9 call %f:~-3% user"``;
    light rebuilds only the command name, medium and heavy the whole line (heavy adds decoy characters).
    """
    _wrappable(line, "for-loop", forbid='"%!^')
    payload, rest = _payload(line, intensity, "for-loop")
    loop = rng.choice("ijkxyzabcdn")
    pool_name, acc = _two_vars(rng, line, loop)
    chars = sorted(set(payload))
    if intensity == "heavy":
        chars += rng.sample([c for c in "abcdefghijklmnopqrstuvwxyz0123456789" if c not in chars], 4)
    rng.shuffle(chars)
    pool = "".join(chars)
    sentinel = rng.randint(len(pool) + 1, len(pool) + 9999)
    sep = rng.choice([",", " ", ";"]) if intensity != "light" else ","
    indices = sep.join(str(pool.index(c)) for c in payload) + sep + str(sentinel)
    loop_var = f"%{loop}"
    return _wrap(
        f"set {pool_name}={_caret_specials(pool)}&&for {loop_var} in ({indices}) do set {acc}=!{acc}!!{pool_name}:~{loop_var},1!"
        f"&&if {loop_var}=={sentinel} call %{acc}:~-{len(payload)}%{rest}",
        rng,
        delayed=True,
    )


def reverse(line: str, intensity: str, rng: random.Random) -> str:
    """Reversed text read backwards by a counting FOR /L loop (DOSfuscation's reversal), then ``call``.

    ``cmd /V:ON/C "set r=resu ten&&for /L %i in (7,-1,0) do set o=!o!!r:~%i,1!&&if %i==0 call %o%"``; light
    reverses only the command name, heavy pads the reversed text with decoy characters the loop skips.
    """
    _wrappable(line, "reverse", forbid='"%!^')
    payload, rest = _payload(line, intensity, "reverse")
    loop = rng.choice("ijkxyzabcdn")
    text_name, acc = _two_vars(rng, line, loop)
    backwards, pad = payload[::-1], 0
    if intensity == "heavy":
        pad = rng.randint(2, 6)
        backwards = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(pad)) + backwards
    last = len(backwards) - 1
    step = rng.choice(["-1", "-1", "- 1"]) if intensity != "light" else "-1"
    loop_var = f"%{loop}"
    return _wrap(
        f"set {text_name}={_caret_specials(backwards)}&&for /L {loop_var} in ({last},{step},{pad}) do "
        f"set {acc}=!{acc}!!{text_name}:~{loop_var},1!&&if {loop_var}=={pad} call %{acc}%{rest}",
        rng,
        delayed=True,
    )


def substitution(line: str, intensity: str, rng: random.Random) -> str:
    """Characters swapped for junk, then put back by delayed ``!v:junk=char!`` substitutions (DOSfuscation's FINcoding).

    ``cmd /V:ON /C "set a=n6t us6r&&set b=!a:6=e!&&call %b%"``: light swaps one character of the command name,
    medium two of the line, heavy three or more. Substitution ignores case, so junk never occurs in the text.
    """
    _wrappable(line, "substitution", forbid='"%!^=*~')
    payload, rest = _payload(line, intensity, "substitution")
    # a letter whose other case also occurs cannot come back right: substitution ignores case
    letters = sorted({c for c in payload if c.isalnum() and (c.swapcase() == c or c.swapcase() not in payload)})
    junk = [c for c in "0123456789abcdefghijklmnopqrstuvwxyz" if c not in {x.lower() for x in payload + rest}]
    k = min(len(letters), len(junk), _n(intensity, 1, 2, rng.randint(3, 5)))
    if k < 1:
        raise SectuneError(f"cmd/substitution: nothing to swap in {line[:60]!r}")
    swaps = list(zip(rng.sample(letters, k), rng.sample(junk, k)))
    coded = payload
    for char, stand_in in swaps:
        coded = coded.replace(char, stand_in)
    taken: set[str] = set()
    names = [_var(rng, line, taken) for _ in range(k + 1)]
    steps = [f"set {names[0]}={_caret_specials(coded)}"]
    for i, (char, stand_in) in enumerate(reversed(swaps)):
        steps.append(f"set {names[i + 1]}=!{names[i]}:{stand_in}={char}!")
    return _wrap("&&".join(steps) + f"&&call %{names[-1]}%{rest}", rng, delayed=True)


# --- argument obfuscation (ArgFuscator) -------------------------------------------------------------------------
# After Wietse Boonstra's command-line obfuscation research and ArgFuscator.net's per-program model files: the
# program's own argument parser, not cmd.exe, accepts these spellings, so they survive into process-creation logs.
# The tables below hold what that research reports per program; nothing here can run Windows to check them.

OPTION_CHARS = {  # program -> option characters it accepts in place of "-" or "/"
    "certutil": "-/\u2013\u2014\u2015",
    "reg": "-/",
    "schtasks": "-/\u2013\u2014",
    "taskkill": "-/\u2013\u2014\u2015",
    "tasklist": "-/\u2013\u2014\u2015",
    "ping": "-/\u2013\u2014\u2015",
    "ipconfig": "-/\u2013\u2014\u2015",
    "netstat": "-/\u2013\u2014\u2015",
    "whoami": "-/\u2013\u2014\u2015",
    "bitsadmin": "-/\u2013\u2014",
    "wevtutil": "-/\u2013\u2014",
    "icacls": "-/",
    "findstr": "-/",
    "bcdedit": "-/",
    "cipher": "-/",
    "fltmc": "-/",
}
IGNORED_CHARS = {  # program -> characters its parser drops inside option names (soft hyphen, combining joiners)
    "certutil": "\u00ad\u034f\u0378",
    "reg": "\u00ad\u034f",
    "schtasks": "\u00ad\u034f",
    "taskkill": "\u00ad\u034f",
    "tasklist": "\u00ad\u034f",
    "wevtutil": "\u00ad\u034f",
    "bitsadmin": "\u00ad",
}
CWD_FILE_PROGRAMS = frozenset("certutil reg type findstr copy xcopy robocopy expand makecab icacls takeown".split())
SHORT_NAMES = {  # 8.3 names of the default install (NtfsDisable8dot3NameCreation off on the system drive)
    "program files": "PROGRA~1",
    "program files (x86)": "PROGRA~2",
    "programdata": "PROGRA~3",
    "common files": "COMMON~1",
    "documents and settings": "DOCUME~1",
}
_OPTION = re.compile(r"[-/][A-Za-z][\w:]*")
_WIN_PATH = re.compile(r'"?[A-Za-z]:\\[^"]*"?|[A-Za-z]:\\\S*')
_URL = re.compile(r"(?i)(https?)://([^/\s\"]+)(\S*)")


def _program_options(toks: list[_Tok], table) -> list[_Tok]:
    return [t for t in toks if t.kind == "word" and not t.cmd and t.command in table and _OPTION.fullmatch(t.text)]


def option_chars(line: str, intensity: str, rng: random.Random) -> str:
    """Option characters swapped for ones the program also accepts, Unicode dashes too: ``certutil \u2013urlcache`` (ArgFuscator)."""
    toks = _lex(line)
    options = _program_options(toks, OPTION_CHARS)
    if not options:
        raise SectuneError(f"cmd/option-chars: no option of a program in OPTION_CHARS in {line[:60]!r}")
    k = _n(intensity, 1, max(1, len(options) // 2), len(options))
    for tok in rng.sample(options, k):
        others = [c for c in OPTION_CHARS[tok.command] if c != tok.text[0]]
        unicode = [c for c in others if not c.isascii()]
        tok.text = rng.choice(unicode if unicode and rng.random() < 0.7 else others) + tok.text[1:]
    return _join(toks)


def char_insertion(line: str, intensity: str, rng: random.Random) -> str:
    """Characters the program ignores inside option names: ``certutil -url\u00adcache`` (ArgFuscator's character insertion)."""
    toks = _lex(line)
    options = [t for t in _program_options(toks, IGNORED_CHARS) if len(t.text) > 2]
    if not options:
        raise SectuneError(f"cmd/char-insertion: no option of a program in IGNORED_CHARS in {line[:60]!r}")
    chosen = [rng.choice(options)] if intensity == "light" else options
    for tok in chosen:
        k = _n(intensity, 1, rng.randint(1, 2), max(2, (len(tok.text) - 1) // 2))
        spots = rng.sample(range(2, len(tok.text)), min(k, len(tok.text) - 2))
        for p in sorted(spots, reverse=True):
            tok.text = tok.text[:p] + rng.choice(IGNORED_CHARS[tok.command]) + tok.text[p:]
    return _join(toks)


def _transform_path(path: str, how: str, rng: random.Random) -> str:
    """One equivalent spelling of a Windows path (``how``: dot, detour, slash, short)."""
    quoted = path.startswith('"') and path.endswith('"') and len(path) > 1
    body = path[1:-1] if quoted else path
    parts = body.split("\\")
    if how == "short":
        parts = [SHORT_NAMES.get(p.lower(), p) for p in parts]
    elif how == "slash" and re.match(r"[A-Za-z]:\\", body):
        parts = ["/".join(parts)]
    elif len(parts) > 1 and re.fullmatch(r"[A-Za-z]:", parts[0]):  # absolute: insert after a directory
        at = rng.randint(1, len(parts) - 1)
        detour = "." if how == "dot" else f"{rng.choice(['Temp', 'Users', 'Windows', 'a', 'x'])}\\.."
        parts.insert(at, detour)
    else:  # relative file in the working directory
        parts.insert(0, ".")
    out = "\\".join(parts)
    return f'"{out}"' if quoted or " " in out else out


def _paths(toks: list[_Tok]) -> list[_Tok]:
    found = []
    for t in toks:
        if t.kind != "word" or t.cmd or t.command in _KEYWORD_COMMANDS | {"?"} or "%" in t.text or "!" in t.text:
            continue
        if _WIN_PATH.fullmatch(t.text) and t.text.count('"') in (0, 2) and "/" not in t.text:
            found.append(t)
        elif t.command in CWD_FILE_PROGRAMS and re.fullmatch(r"[\w-]+\.[A-Za-z0-9]{1,4}", t.text):
            found.append(t)
    return found


def path_transform(line: str, intensity: str, rng: random.Random) -> str:
    """Equivalent Windows paths: ``C:\\Windows\\.\\System32``, ``..\\`` detours, ``/`` separators, ``PROGRA~1`` (ArgFuscator)."""
    toks = _lex(line)
    paths = _paths(toks)
    if not paths:
        raise SectuneError(f"cmd/path-transform: no Windows path in {line[:60]!r}")
    chosen = [rng.choice(paths)] if intensity == "light" else paths
    for tok in chosen:
        hows = ["dot", "detour"]
        if re.match(r'"?[A-Za-z]:\\', tok.text) and tok.command not in BUILTINS:
            hows.append("slash")  # cmd's own builtins read / as a switch
        if any(name in tok.text.lower() for name in SHORT_NAMES):
            hows += ["short", "short"]
        steps = 1 if intensity == "light" else rng.randint(1, 2) if intensity == "medium" else rng.randint(2, 3)
        picks = rng.sample(hows, min(steps, len(hows)))
        for how in sorted(picks, key=["short", "dot", "detour", "slash"].index):  # slash last: it joins the parts
            tok.text = _transform_path(tok.text, how, rng)
    return _join(toks)


def _ip_form(ip: str, rng: random.Random) -> str:
    octets = [int(o) for o in ip.split(".")]
    number = int.from_bytes(bytes(octets), "big")
    return rng.choice(
        [
            str(number),
            hex(number),
            ".".join(f"0{o:o}" if o else "0" for o in octets),
            ".".join(hex(o) for o in octets),
            f"{octets[0]}.{int.from_bytes(bytes(octets[1:]), 'big')}",
        ]
    )


def url_transform(line: str, intensity: str, rng: random.Random) -> str:
    """Equivalent URLs: ``http:\\\\host\\x``, ``HTTP://``, host case, IPs in decimal, hex or octal (ArgFuscator's URL manipulation)."""
    toks = _lex(line)
    urls = [
        t
        for t in toks
        if t.kind == "word" and not t.cmd and _external(t) and t.command != "?" and _URL.fullmatch(t.text.strip('"'))
    ]
    if not urls:
        raise SectuneError(f"cmd/url-transform: no http(s) URL argument of an external program in {line[:60]!r}")
    chosen = [rng.choice(urls)] if intensity == "light" else urls
    for tok in chosen:
        quoted, sep = tok.text.startswith('"'), "//"
        scheme, host, rest = _URL.fullmatch(tok.text.strip('"')).groups()
        ways = ["backslash", "scheme-case"] + (
            ["ip"] if re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", host) else ["host-case"]
        )
        k = _n(intensity, 1, 2, len(ways))
        for way in rng.sample(ways, min(k, len(ways))):
            if way == "backslash":
                sep = "\\\\"
                rest = rest.replace("/", "\\") if intensity == "heavy" else rest
            if way == "scheme-case":
                scheme = "".join(c.upper() if rng.random() < 0.6 else c for c in scheme)
                scheme = scheme if scheme != scheme.lower() else scheme.upper()
            if way == "host-case":
                flipped = "".join(c.swapcase() if c.isalpha() and rng.random() < 0.5 else c for c in host)
                host = flipped if flipped != host else host.upper()
            if way == "ip":
                host = _ip_form(host, rng)
        text = f"{scheme}:{sep}{host}{rest}"
        tok.text = f'"{text}"' if quoted else text
    return _join(toks)


# name, family, function, layerable
TECHNIQUES = (
    ("caret", "escaping", caret, True),
    ("quotes", "quoting", quotes, True),
    ("arg-insertion", "escaping", arg_insertion, True),
    ("random-case", "case", random_case, True),
    ("separators", "whitespace", separators, True),
    ("option-swap", "options", option_swap, True),
    ("env-substring", "variables", env_substring, True),
    ("set-concat", "concatenation", set_concat, True),
    ("delayed", "variables", delayed, True),
    ("for-loop", "reordering", for_loop, True),
    ("reverse", "reversal", reverse, True),
    ("substitution", "substitution", substitution, True),
    ("option-chars", "options", option_chars, True),
    ("char-insertion", "escaping", char_insertion, True),
    ("path-transform", "substitution", path_transform, True),
    ("url-transform", "encoding", url_transform, True),
)
