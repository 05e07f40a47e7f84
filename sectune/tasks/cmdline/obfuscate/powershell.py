"""PowerShell obfuscation techniques, after Invoke-Obfuscation, Invoke-CradleCrafter, Invoke-PSObfuscation and
what incident reports show.

The corpus has no obfuscated PowerShell at all, so these are its only positives. ``pwsh`` cannot be installed
here, so nothing is run: the tests decode ``-EncodedCommand``/Deflate/SecureString payloads, reassemble string
constructs (``+``, ``-f``, ``[char]``, ``-join``, reversal, ``-replace``) with a small evaluator of exactly
those constructs, and undo backticks, aliases and case. Targets Windows PowerShell 5.1: some aliases
(``curl``, ``wget``, ``ls``, ``sc``...) and ``$env:ComSpec`` do not exist in PowerShell 7 on Linux.

Techniques that turn the line into a string run it with ``iex`` (or ``Invoke-Expression``, or an
``iex`` spelled from ``$ShellId``/``$env:ComSpec`` characters at heavy intensity); light variants rebuild only
the command name and call it with ``&``, which keeps the line short.
"""

from __future__ import annotations

import base64
import gzip
import random
import re
import zlib

from sectune.errors import SectuneError
from sectune.tasks.cmdline.obfuscate import _aes

ALIASES = {  # cmdlet -> aliases in Windows PowerShell 5.1
    "Invoke-Expression": ["iex"],
    "Get-ChildItem": ["gci", "ls", "dir"],
    "Invoke-WebRequest": ["iwr", "wget", "curl"],
    "Get-Content": ["gc", "cat", "type"],
    "Write-Output": ["echo", "write"],
    "Set-Location": ["cd", "sl", "chdir"],
    "Get-Process": ["gps", "ps"],
    "Stop-Process": ["spps", "kill"],
    "Get-Item": ["gi"],
    "Copy-Item": ["copy", "cp", "cpi"],
    "Remove-Item": ["rm", "del", "ri", "erase"],
    "Move-Item": ["mv", "mi", "move"],
    "Invoke-Command": ["icm"],
    "Get-Service": ["gsv"],
    "Select-Object": ["select"],
    "Where-Object": ["where", "?"],
    "ForEach-Object": ["foreach", "%"],
    "Sort-Object": ["sort"],
    "Get-Member": ["gm"],
    "Invoke-RestMethod": ["irm"],
    "Start-Process": ["start", "saps"],
    "Get-Location": ["gl", "pwd"],
    "Set-Variable": ["sv", "set"],
    "Get-Variable": ["gv"],
    "New-Item": ["ni"],
    "Start-Sleep": ["sleep"],
    "Get-WmiObject": ["gwmi"],
    "Get-Command": ["gcm"],
    "Invoke-Item": ["ii"],
    "Clear-Host": ["cls", "clear"],
    "Get-Alias": ["gal"],
    "Measure-Object": ["measure"],
    "Format-Table": ["ft"],
    "Format-List": ["fl"],
    "Import-Module": ["ipmo"],
    "Get-ItemProperty": ["gp"],
    "Set-ItemProperty": ["sp"],
    "Set-Content": ["sc"],
    "Start-Job": ["sajb"],
    "Get-Job": ["gjb"],
    "Compare-Object": ["compare", "diff"],
    "Tee-Object": ["tee"],
    "Get-History": ["h", "history", "ghy"],
    "Get-PSDrive": ["gdr"],
}
_PIPELINE_ONLY = {"where", "?", "foreach", "%"}  # keywords or operators at the start of a statement
_ESCAPE_LETTERS = set("0abefnrtuvABEFNRTUV")  # `n is a newline, `u{..} a code point...: never tick these
_ENCODED_SWITCHES = ["-e", "-ec", "-en", "-enc", "-encod", "-EncodedCommand"]
_KEYWORDS = frozenset(
    "begin break catch class continue data do else elseif end enum exit filter finally for foreach "
    "function if param process return switch throw trap try until while".split()
)
_SECURESTRING_HEADER = "76492d1116743f0423413b16050a5345"  # what ConvertFrom-SecureString -Key output starts with


def _code_mask(line: str) -> list[bool]:
    """True for characters of code: outside strings and comments."""
    mask = [True] * len(line)
    i = 0
    while i < len(line):
        c = line[i]
        if c == "'" or line.startswith("@'", i):
            j = i + (2 if c == "@" else 1)
            while j < len(line):
                if line[j] == "'" and (c == "@" or not line.startswith("''", j)):
                    break
                j += 2 if line.startswith("''", j) and c != "@" else 1
            end = min(j + 1 + (1 if c == "@" else 0), len(line))
        elif c == '"' or line.startswith('@"', i):
            j = i + (2 if c == "@" else 1)
            while j < len(line) and line[j] != '"':
                j += 2 if line[j] == "`" or line.startswith('""', j) else 1
            end = min(j + 1 + (1 if c == "@" else 0), len(line))
        elif line.startswith("<#", i):
            j = line.find("#>", i)
            end = len(line) if j < 0 else j + 2
        elif c == "#" and (i == 0 or line[i - 1] in " \t;({\n"):
            j = line.find("\n", i)
            end = len(line) if j < 0 else j
        elif c == "`":
            i += 2
            continue
        else:
            i += 1
            continue
        for k in range(i, end):
            mask[k] = False
        i = end
    return mask


_VERB_NOUN = re.compile(r"(?<![\w$\\/.:`\[-])[A-Za-z]+(?:-[A-Za-z]+)+(?![\w`:\\/.-])")
_WORD = re.compile(r"(?<![\w$\\/.:`\[-])[A-Za-z%?][\w-]*(?![\w`:\\/.-])|(?<![\w$\\/.:`\[-])[%?](?=\s)")


def _in_code(mask: list[bool], m: re.Match) -> bool:
    return all(mask[m.start() : m.end()])


def _command_position(line: str, mask: list[bool], start: int) -> str:
    """The code character before a word ('' at the start), telling whether the word is a command name."""
    j = start - 1
    while j >= 0 and line[j] in " \t":
        j -= 1
    return "" if j < 0 else line[j] if mask[j] else "?"


def _commands(line: str) -> list[re.Match]:
    """Words in command position (start of a statement or pipeline element): cmdlet names and aliases."""
    mask = _code_mask(line)
    return [
        m
        for m in _WORD.finditer(line)
        if _in_code(mask, m)
        and m.group().lower() not in _KEYWORDS
        and _command_position(line, mask, m.start()) in ("", ";", "|", "{", "(", "=", "&", "\n")
    ]


def _n(intensity: str, light, medium, heavy):
    return {"light": light, "medium": medium, "heavy": heavy}[intensity]


def _split(text: str, parts: int, rng: random.Random) -> list[str]:
    parts = max(1, min(parts, len(text)))
    cuts = sorted(rng.sample(range(1, len(text)), parts - 1)) if parts > 1 else []
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]


def _sq(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _lit(text: str, rng: random.Random) -> str:
    """A string literal: single-quoted, or double-quoted when nothing in it would be expanded."""
    if rng.random() < 0.3 and not set(text) & set('$`"\u201c\u201d\u201e'):
        return '"' + text + '"'
    return _sq(text)


def _iex(expr: str, intensity: str, rng: random.Random) -> str:
    """Run the code a string expression evaluates to."""
    forms = [f"iex ({expr})", f"iex({expr})"]
    if intensity != "light":
        forms += [f"Invoke-Expression ({expr})", f"({expr})|iex", f"({expr}) | Invoke-Expression"]
    if intensity == "heavy":
        forms += [f"&($env:ComSpec[4,15,25]-join'') ({expr})", f".($ShellId[1]+$ShellId[13]+'x') ({expr})"]
    return rng.choice(forms)


def _rebuild(line: str, intensity: str, rng: random.Random, make) -> str:
    """Light: the first command name becomes ``& (make(name))``; else the whole line becomes ``iex (make(line))``."""
    if intensity == "light":
        commands = [
            m
            for m in _commands(line)
            if "-" in m.group() or m.group().lower() in {a for v in ALIASES.values() for a in v}
        ]
        commands = [m for m in commands if m.group() not in _PIPELINE_ONLY and len(m.group()) > 2]
        if commands:
            m = commands[0]
            return line[: m.start()] + f"{rng.choice(['&', '.'])}({make(m.group())})" + line[m.end() :]
    return _iex(make(line), intensity, rng)


# --- encodings ---------------------------------------------------------------------------------------------------


def encoded_command(line: str, intensity: str, rng: random.Random) -> str:
    """``powershell -enc <base64 of UTF-16LE>``, with the switch abbreviations PowerShell accepts."""
    payload = base64.b64encode(line.encode("utf-16-le")).decode()
    exe = rng.choice(["powershell", "powershell.exe"])
    if intensity == "light":
        return f"{exe} {rng.choice(['-e', '-enc', '-ec'])} {payload}"
    switches = [
        rng.choice(["-NoP", "-nop", "-NoProfile"]),
        rng.choice(["-NonI", "-noni", "-NonInteractive"]),
        rng.choice(["-W Hidden", "-w hidden", "-WindowStyle Hidden", "-win 1"]),
        rng.choice(["-exec bypass", "-ExecutionPolicy Bypass", "-ex bypass"]),
    ]
    chosen = rng.sample(switches, rng.randint(1, len(switches) if intensity == "heavy" else 2))
    enc = rng.choice(_ENCODED_SWITCHES)
    out = f"{exe} {' '.join(chosen)} {enc} {payload}"
    if intensity == "heavy":
        head = "".join(c.swapcase() if rng.random() < 0.5 else c for c in out[: -len(payload)])
        out = head + payload
    return out


def deflate(line: str, intensity: str, rng: random.Random) -> str:
    """Raw-Deflate (or Gzip) + base64 payload inflated by ``IO.Compression.DeflateStream`` and run with ``iex``."""
    use_gzip = intensity == "heavy" and rng.random() < 0.5
    if use_gzip:
        data, stream = gzip.compress(line.encode(), mtime=0), "IO.Compression.GzipStream"
    else:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        data, stream = packer.compress(line.encode()) + packer.flush(), "IO.Compression.DeflateStream"
    b64 = base64.b64encode(data).decode()
    literal = (
        _sq(b64) if intensity != "heavy" else "(" + "+".join(_sq(p) for p in _split(b64, rng.randint(2, 5), rng)) + ")"
    )
    if intensity == "light":  # the short PowerShell 5 spelling; 'Decompress' only converts to CompressionMode
        reader = (
            f"[IO.StreamReader]::new([{stream}]::new([IO.MemoryStream][Convert]::FromBase64String({literal}),"
            f"'Decompress')).ReadToEnd()"
        )
        return _iex(reader, intensity, rng)
    source = rng.choice(
        [
            f"[IO.MemoryStream][Convert]::FromBase64String({literal})",
            f"(New-Object IO.MemoryStream(,[Convert]::FromBase64String({literal})))",
        ]
    )
    reader = (
        f"(New-Object IO.StreamReader((New-Object {stream}({source},[IO.Compression.CompressionMode]::Decompress)),"
        f"[Text.Encoding]::UTF8)).ReadToEnd()"
    )
    return _random_case_code(_iex(reader, intensity, rng), 0.5 if intensity == "heavy" else 0.2, rng)


def securestring(line: str, intensity: str, rng: random.Random) -> str:
    """SecureString wrapper: ``ConvertTo-SecureString '<blob>' -Key (1..16)`` decrypted back to text and run.

    Medium and heavy hold real ``ConvertFrom-SecureString -Key`` output (AES-CBC of the UTF-16LE text, pure
    Python in ``_aes``); light uses ``-AsPlainText -Force``, the shorter shape, which hides nothing from a reader.
    """
    taken = set(re.findall(r"\$(\w+)", line.lower()))
    name = rng.choice([n for n in ("s", "ss", "sec", "p", "x", "k", "pw") if n not in taken] or ["sEcStr"])
    if intensity == "light":
        make = f"${name}=ConvertTo-SecureString {_sq(line)} -AsPlainText -Force"
    else:
        if intensity == "medium":
            size = rng.choice([16, 24, 32])
            key, key_text = bytes(range(1, size + 1)), f"(1..{size})"
        else:
            key = bytes(rng.randrange(256) for _ in range(rng.choice([16, 32])))
            key_text = "(" + ",".join(str(b) for b in key) + ")"
        iv = bytes(rng.randrange(256) for _ in range(16))
        cipher = _aes.cbc_encrypt(line.encode("utf-16-le"), key, iv)
        inner = f"2|{base64.b64encode(iv).decode()}|{cipher.hex()}"
        blob = _SECURESTRING_HEADER + base64.b64encode(inner.encode("utf-16-le")).decode()
        make = f"${name}=ConvertTo-SecureString '{blob}' -Key {key_text}"
    reveals = [f"[pscredential]::new('u',${name}).GetNetworkCredential().Password"]
    if intensity != "light":
        reveals += [
            f"[Runtime.InteropServices.Marshal]::PtrToStringAuto([Runtime.InteropServices.Marshal]::SecureStringToBSTR(${name}))",
            f"(New-Object Management.Automation.PSCredential 'u',${name}).GetNetworkCredential().Password",
        ]
    reveal = rng.choice(reveals)
    return f"{make};{_iex(reveal, intensity, rng)}"


def char_codes(line: str, intensity: str, rng: random.Random) -> str:
    """Characters as ``[char]`` codes: ``& ('Wr'+[char]105+'te-Host')``, ``iex (-join[char[]](73,69,88))``."""

    def make(text: str) -> str:
        if intensity == "light":
            k = rng.sample(range(len(text)), min(len(text), rng.randint(1, 2)))
            items, buf = [], ""
            for i, c in enumerate(text):
                if i in k:
                    if buf:
                        items.append(_sq(buf))
                    items.append(f"[char]{ord(c)}")
                    buf = ""
                else:
                    buf += c
            if buf:
                items.append(_sq(buf))
            if items[0].startswith("[char]"):
                items[0] = "[string]" + items[0]  # [char]+[char] would add the codes
            return "+".join(items)
        codes = ",".join(str(ord(c)) if intensity == "medium" or rng.random() < 0.5 else hex(ord(c)) for c in text)
        return rng.choice([f"-join[char[]]({codes})", f"[string]::join('',[char[]]({codes}))"])

    return _rebuild(line, intensity, rng, make)


# --- string building -----------------------------------------------------------------------------------------------


def concat(line: str, intensity: str, rng: random.Random) -> str:
    """String concatenation: ``& ('Invo'+'ke-Ex'+'pression')``, ``iex ('Write-H'+'ost hi')``."""

    def make(text: str) -> str:
        parts = _split(text, _n(intensity, rng.randint(2, 3), rng.randint(3, 6), max(4, len(text) // 3)), rng)
        return "+".join(_lit(p, rng) for p in parts)

    return _rebuild(line, intensity, rng, make)


def format_operator(line: str, intensity: str, rng: random.Random) -> str:
    """Format-operator reordering: ``("{1}{0}" -f 'ost','Write-H')``."""

    def make(text: str) -> str:
        parts = _split(text, _n(intensity, rng.randint(2, 3), rng.randint(3, 6), max(4, len(text) // 3)), rng)
        order = list(range(len(parts)))
        rng.shuffle(order)  # order[k] = which piece sits in argument k
        where = {piece: arg for arg, piece in enumerate(order)}
        fmt = "".join("{" + str(where[i]) + "}" for i in range(len(parts)))
        return f'"{fmt}" -f ' + ",".join(_sq(parts[i]) for i in order)

    return _rebuild(line, intensity, rng, make)


def join(line: str, intensity: str, rng: random.Random) -> str:
    """An array of pieces joined back: ``& (-join('Wri','te-Host'))``, ``iex ('Wri','te-Host hi' -join '')``."""

    def make(text: str) -> str:
        parts = ",".join(
            _lit(p, rng) for p in _split(text, _n(intensity, 2, rng.randint(3, 6), max(4, len(text) // 3)), rng)
        )
        return rng.choice([f"-join({parts})", f"({parts}) -join ''", f"[string]::Join('',@({parts}))"])

    return _rebuild(line, intensity, rng, make)


def reverse(line: str, intensity: str, rng: random.Random) -> str:
    """Reversed strings read backwards by index: ``& (-join('tsoH-etirW'[-1..-10]))``, or ``[array]::Reverse``."""
    if intensity == "heavy":
        taken = set(re.findall(r"\$(\w+)", line.lower()))
        name = rng.choice([n for n in ("r", "a", "c", "rv", "z") if n not in taken] or ["rEvArr"])
        return f"${name}={_sq(line[::-1])}.ToCharArray();[array]::Reverse(${name});{_iex(f'-join ${name}', intensity, rng)}"

    def make(text: str) -> str:
        return rng.choice(
            [f"-join({_sq(text[::-1])}[-1..-{len(text)}])", f"({_sq(text[::-1])}[-1..-{len(text)}]) -join ''"]
        )

    return _rebuild(line, intensity, rng, make)


def _marker(line: str, rng: random.Random, avoid: str = "") -> str:
    """A short marker made of characters absent from the line (any case), so removing it cannot touch the line."""
    used = set(line.lower()) | set(avoid.lower())
    pool = [c for c in "abcdefghijklmnopqrstuvwxyz0123456789" if c not in used]
    pool += [c for c in "~@#_!;:=<>," if c not in used]
    if not pool:
        raise SectuneError("powershell/replace: every marker character already occurs in the line")
    return "".join(rng.choice(pool) for _ in range(rng.randint(1, 3)))


def replace(line: str, intensity: str, rng: random.Random) -> str:
    """Junk inserted then stripped by ``-replace``: ``& ('WXrite-Host' -replace 'X','')``."""

    def make(text: str) -> str:
        markers = [_marker(text, rng)]
        if intensity == "heavy":
            markers.append(_marker(text, rng, avoid=markers[0]))
        chars = list(text)
        k = _n(intensity, rng.randint(1, 2), rng.randint(2, 4), max(4, len(text) // 4))
        for p in sorted((rng.randrange(len(chars) + 1) for _ in range(k)), reverse=True):
            chars.insert(p, rng.choice(markers))
        for m in markers:  # every marker appears at least once
            if m not in "".join(chars):
                chars.insert(rng.randrange(len(chars) + 1), m)
        expr, chained = _sq("".join(chars)), False
        for m in markers:
            if rng.random() < 0.3:  # String.Replace: literal and case-sensitive
                expr = f"({expr}).Replace({_sq(m)},'')" if chained else f"{expr}.Replace({_sq(m)},'')"
            else:  # -replace: a case-insensitive regex, which is why markers avoid the line's characters
                expr = f"{expr} -replace {_sq(m)},''"
            chained = True
        return expr

    return _rebuild(line, intensity, rng, make)


# --- names: backticks, case, aliases ------------------------------------------------------------------------------


def backtick(line: str, intensity: str, rng: random.Random) -> str:
    """Backticks inside command names: ``Wr`ite-H`ost`` (never before a letter that makes an escape like `n)."""
    mask = _code_mask(line)
    names = [m for m in _VERB_NOUN.finditer(line) if _in_code(mask, m)]
    if not names:
        names = [m for m in _commands(line) if len(m.group()) > 1]
    spots = {
        m: [i for i in range(m.start() + 1, m.end()) if line[i].isalpha() and line[i] not in _ESCAPE_LETTERS]
        for m in names
    }
    spots = {m: s for m, s in spots.items() if s}
    if not spots:
        raise SectuneError(f"powershell/backtick: no command name to tick in {line[:60]!r}")
    chosen = list(spots)[:1] if intensity == "light" else list(spots)
    positions = []
    for m in chosen:
        k = _n(intensity, rng.randint(1, 2), rng.randint(1, 2), max(2, len(spots[m]) // 2))
        positions += rng.sample(spots[m], min(k, len(spots[m])))
    for p in sorted(positions, reverse=True):
        line = line[:p] + "`" + line[p:]
    return line


def _flip(text: str, share: float, rng: random.Random) -> str:
    out = "".join(c.swapcase() if c.isalpha() and rng.random() < share else c for c in text)
    return out if out != text or not any(c.isalpha() for c in text) else _flip(text, max(share, 0.5), rng)


_CASE_HEAVY = re.compile(
    r"\$\{[^}]*\}|\$[\w:]+|\[[A-Za-z][\w.]*(?:\[\])?\]|(?<=::)[A-Za-z]\w*|(?<=\.)[A-Za-z]\w*(?=\()"
)
_PARAMETER = re.compile(r"(?<=[\s(,])-[A-Za-z]\w*")


def _random_case_code(line: str, share: float, rng: random.Random) -> str:
    """Flip the case of case-insensitive code: command names, parameters, variables, types and members."""
    mask = _code_mask(line)
    spans = [m.span() for m in _commands(line)] + [m.span() for m in _PARAMETER.finditer(line) if _in_code(mask, m)]
    spans += [m.span() for m in _CASE_HEAVY.finditer(line) if _in_code(mask, m)]
    spans += [m.span() for m in re.finditer(r"(?<=[\s(])New-Object\s+([\w.]+)", line)]
    chars = list(line)
    for a, b in spans:
        for i in range(a, b):
            if chars[i].isalpha() and rng.random() < share:
                chars[i] = chars[i].swapcase()
    return "".join(chars)


def random_case(line: str, intensity: str, rng: random.Random) -> str:
    """Random case of names, parameters, variables and types: ``wRiTe-hOsT -ForeGroundColor``.

    Never inside strings or bareword arguments, whose case a command may see.
    """
    mask = _code_mask(line)
    commands = _commands(line)
    if intensity == "light":
        if not commands:
            raise SectuneError(f"powershell/random-case: no command name in {line[:60]!r}")
        m = commands[0]
        return line[: m.start()] + _flip(m.group(), 0.5, rng) + line[m.end() :]
    spans = [m.span() for m in commands] + [m.span() for m in _PARAMETER.finditer(line) if _in_code(mask, m)]
    if intensity == "heavy":
        spans += [m.span() for m in _CASE_HEAVY.finditer(line) if _in_code(mask, m)]
    if not spans:
        raise SectuneError(f"powershell/random-case: no name to change in {line[:60]!r}")
    out = list(line)
    for a, b in spans:
        out[a:b] = _flip(line[a:b], 0.5, rng)
    return "".join(out)


def aliases(line: str, intensity: str, rng: random.Random) -> str:
    """Cmdlets replaced by their aliases: ``Invoke-Expression`` -> ``iex``, ``Get-ChildItem`` -> ``gci``."""
    lower = {k.lower(): k for k in ALIASES}
    spots = []
    for m in _commands(line):
        cmdlet = lower.get(m.group().lower())
        if cmdlet is None:
            continue
        after_pipe = _command_position(line, _code_mask(line), m.start()) == "|"
        choices = [a for a in ALIASES[cmdlet] if after_pipe or a not in _PIPELINE_ONLY]
        if choices:
            spots.append((m, choices))
    if not spots:
        raise SectuneError(f"powershell/aliases: no cmdlet with an alias in {line[:60]!r}")
    if intensity == "light":
        chosen = spots[:1]
    elif intensity == "medium":
        chosen = [s for s in spots if rng.random() < 0.6] or spots[:1]
    else:
        chosen = spots
    for m, choices in sorted(chosen, key=lambda s: -s[0].start()):
        alias = rng.choice(choices)
        if intensity == "heavy" and alias.isalpha():
            alias = _flip(alias, 0.4, rng) if rng.random() < 0.5 else alias
        line = line[: m.start()] + alias + line[m.end() :]
    return line


# --- more in-the-wild styles -------------------------------------------------------------------------------------


def bxor(line: str, intensity: str, rng: random.Random) -> str:
    """Bytes XOR-ed with a key and decoded by ``-bxor`` (Invoke-Obfuscation's ENCODING\\BXOR): ``&(-join((..)|%{[char]($_-bxor 7)}))``."""
    key = rng.randint(1, 127) if intensity != "heavy" else rng.randint(1, 255)

    def make(text: str) -> str:
        codes = ",".join(str(ord(c) ^ key) if ord(c) < 256 else "" for c in text)
        if "" in codes.split(","):
            raise SectuneError("powershell/bxor: only Latin-1 text can be XOR-ed byte by byte")
        k = str(key) if intensity != "heavy" else hex(key)
        return rng.choice(
            [f"-join(({codes})|%{{[char]($_-bxor {k})}})", f"-join(({codes})|ForEach-Object{{[char]($_ -bxor {k})}})"]
        )

    return _rebuild(line, intensity, rng, make)


def base64_inline(line: str, intensity: str, rng: random.Random) -> str:
    """In-line Base64 decoding, as in the wild: ``iex([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('...')))``."""

    def make(text: str) -> str:
        encoding = rng.choice(["UTF8", "ASCII"]) if text.isascii() else "UTF8"
        data = text.encode("utf-8")
        if intensity == "heavy" and rng.random() < 0.5:
            encoding, data = "Unicode", text.encode("utf-16-le")
        b64 = base64.b64encode(data).decode()
        literal = _sq(b64) if intensity != "heavy" else "(" + "+".join(_sq(p) for p in _split(b64, 3, rng)) + ")"
        return f"[Text.Encoding]::{encoding}.GetString([Convert]::FromBase64String({literal}))"

    return _rebuild(line, intensity, rng, make)


# --- commands found at run time, parts rebuilt in place ------------------------------------------------------------
_ALPHABET = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_NUMBER = re.compile(r"(?<![\w.:\\/$@#-])\d{1,5}(?![\w.:\\/])")


def _named_commands(line: str) -> list[re.Match]:
    """Cmdlets and aliases at command positions (``%`` and ``?`` left alone), in order."""
    names = {a for v in ALIASES.values() for a in v}
    return [
        m
        for m in _commands(line)
        if m.group() not in _PIPELINE_ONLY and ("-" in m.group() or m.group().lower() in names)
    ]


def _wildcard(name: str, rng: random.Random) -> str | None:
    """A wildcard that matches ``name`` and no other known command (a lookup must find one): ``I*e-W*t``."""
    from fnmatch import fnmatchcase

    from sectune.tasks.cmdline.normalize.powershell import known_commands

    known = known_commands()
    if name.lower() not in known:
        return None
    for attempt in range(40):
        keep = [c == "-" or rng.random() < 0.3 + attempt * 0.02 for c in name]
        pattern, i = "", 0
        while i < len(name):
            if keep[i]:
                pattern, i = pattern + name[i], i + 1
                continue
            j = i
            while j < len(name) and not keep[j]:
                j += 1
            pattern += "?" if j - i == 1 and rng.random() < 0.4 else "*"
            i = j
        letters = sum(c.isalpha() for c in pattern)
        if letters >= 2 and pattern != name and [c for c in known if fnmatchcase(c, pattern.lower())] == [name.lower()]:
            return pattern
    return None


def wildcard(line: str, intensity: str, rng: random.Random) -> str:
    """Commands found by wildcard when the line runs (Invoke-CradleCrafter): ``&(gcm I*e-W*t)``, ``.(GCM *w-O*)``."""
    spots = _named_commands(line)
    chosen = spots[:1] if intensity == "light" else spots
    out, done = line, 0
    for m in sorted(chosen, key=lambda m: -m.start()):
        pattern = _wildcard(m.group(), rng)
        if pattern is None:
            continue
        lookup = rng.choice(["gcm", "GCM", "Get-Command"] if "-" in m.group() else ["gal", "Get-Alias"])
        if intensity == "heavy" and rng.random() < 0.5:
            pattern = _sq(pattern)
        space = " " if intensity != "light" and rng.random() < 0.5 else ""
        out = out[: m.start()] + f"{rng.choice(['&', '.'])}{space}({lookup} {pattern})" + out[m.end() :]
        done += 1
    if not done:
        raise SectuneError(f"powershell/wildcard: no known command to look up in {line[:60]!r}")
    return out


def _indexed(name: str, intensity: str, rng: random.Random) -> str:
    """``& (("<shuffled alphabet>")[i,j,...] -join '')``: the name picked out of a shuffled alphabet."""
    chars = sorted(set(name))
    decoys = [c for c in _ALPHABET if c not in chars]
    chars += decoys if intensity != "light" else rng.sample(decoys, 6)
    rng.shuffle(chars)
    alphabet = "".join(chars)
    return f"((\"{alphabet}\")[{','.join(str(alphabet.index(c)) for c in name)}] -join '')"


def _codes(name: str, intensity: str, rng: random.Random) -> str:
    """``[string]::join('', ((87,114,...) |%{ ( [char][int] $_)}))``: the name from its character codes (the same
    signature as :func:`_indexed`, so either builds a command)."""
    return f"([string]::join('', ( ({','.join(str(ord(c)) for c in name)}) |%{{ ( [char][int] $_)}})))"


def _arithmetic(n: int, rng: random.Random) -> str:
    """A number as a sum that comes back to it: 80 -> ``$(0-80+80+80)``."""
    k = rng.randint(1, 120)
    return rng.choice([f"$(0-{n}+{n}+{n})", f"$({k}+{n}-{k})", f"$({n}+0-0)"])


def layer0(line: str, intensity: str, rng: random.Random) -> str:
    """Parts rebuilt in place (Invoke-PSObfuscation's layer 0): ``& (("<alphabet>")[8,13,..] -join '')``.

    A command is picked out of a shuffled alphabet or built from its codes; medium and heavy also write strings as
    ``$([char](9+84-9)+...)`` and numbers as sums, ``$(0-80+80+80)``."""
    spots = _named_commands(line)
    chosen = spots[:1] if intensity == "light" else spots
    if not chosen:
        raise SectuneError(f"powershell/layer0: no command to rebuild in {line[:60]!r}")
    mask = _code_mask(line)
    edits = [(m.start(), m.end(), "& " + rng.choice([_indexed, _codes])(m.group(), intensity, rng)) for m in chosen]
    if intensity != "light":
        for m in re.finditer(r"'([^'$`]{1,16})'", line):
            if (m.start() == 0 or mask[m.start() - 1]) and not any(a <= m.start() < b for a, b, _ in edits):
                k = rng.randint(1, 99)
                chars = "+".join(
                    f"[char]({k}+{ord(c)}-{k})" if rng.random() < 0.5 else f"[char]({k}*{ord(c)}/{k})"
                    for c in m.group(1)
                )
                edits.append((m.start(), m.end(), f"$({chars})"))
        for m in _NUMBER.finditer(line):
            if all(mask[m.start() : m.end()]) and not any(a <= m.start() < b for a, b, _ in edits):
                edits.append((m.start(), m.end(), _arithmetic(int(m.group()), rng)))
    for start, end, text in sorted(edits, reverse=True):
        line = line[:start] + text + line[end:]
    return line


def comments(line: str, intensity: str, rng: random.Random) -> str:
    """Inline comments between tokens (Invoke-PSObfuscation): ``Get-Process <#x9#> lsass``, heavy: ``|%{$_}|``.

    Heavy also puts no-op stages in pipes, as its pipes and pipeline-variables generators do."""
    mask = _code_mask(line)
    spaces = [i for i, c in enumerate(line) if c == " " and mask[i]]
    pipes = [i for i, c in enumerate(line) if c == "|" and mask[i] and line[i - 1 : i + 1] != "||"]
    if not spaces and not pipes:
        raise SectuneError(f"powershell/comments: no space between tokens in {line[:60]!r}")
    k = _n(intensity, 1, rng.randint(2, 3), max(3, len(spaces) // 2))
    edits = {
        i: f" <#{''.join(rng.choice(_ALPHABET[11:]) for _ in range(rng.randint(0, 12)))}#> "
        for i in rng.sample(spaces, min(k, len(spaces)))
    }
    if intensity == "heavy" or not edits:
        for i in pipes:
            edits[i] = rng.choice(["|%{$_}|", "|%{;$_}|", "|%{$_;}|", "|<##>%{$_}<##>|"])
    for i in sorted(edits, reverse=True):
        line = line[:i] + edits[i] + line[i + 1 :]
    return line


# name, family, function, layerable
TECHNIQUES = (
    ("encoded-command", "encoding", encoded_command, True),
    ("deflate", "compression", deflate, True),
    ("securestring", "encryption", securestring, True),
    ("char-codes", "encoding", char_codes, True),
    ("concat", "concatenation", concat, True),
    ("format", "reordering", format_operator, True),
    ("join", "concatenation", join, True),
    ("reverse", "reversal", reverse, True),
    ("replace", "substitution", replace, True),
    ("backtick", "escaping", backtick, True),
    ("random-case", "case", random_case, True),
    ("aliases", "aliases", aliases, True),
    ("bxor", "encoding", bxor, True),
    ("base64-inline", "encoding", base64_inline, True),
    ("wildcard", "globbing", wildcard, True),
    ("layer0", "encoding", layer0, True),
    ("comments", "whitespace", comments, True),
)
