"""PowerShell: what a line runs, computed statically (nothing is executed).

``Evaluator`` is a parser for the string-building constructs obfuscators use ('a'+'b', "{1}{0}" -f ..., [char]N,
[char[]](...), -join, 'abc'[-1..-3], -replace with a literal pattern, .Replace(), [string]::Join,
[array]::Reverse) with PowerShell's precedence (casts and unary -join > comma > -f > + > -join/-replace);
``reassemble`` unwraps ``iex (...)``, ``&(...)``/``.(...)`` and ``$v = ...`` statements into the code they run.
:func:`normalize_powershell` adds ``-EncodedCommand`` (and its abbreviations) decoding, Deflate/Gzip payloads,
plain-text SecureStrings, backtick removal, aliases -> cmdlets and case folding of code (strings keep their case).
tests/test_obfuscate_powershell.py checks the engine's PowerShell techniques against this module.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib

from sectune.tasks.cmdline.normalize._budget import (
    MAX_PAYLOAD,
    NotStatic,
    TooComplex,
    check_size,
    note,
    payload,
    tick,
)
from sectune.tasks.cmdline.obfuscate.powershell import ALIASES, _code_mask

VARIABLES = {"$env:comspec": "C:\\WINDOWS\\system32\\cmd.exe", "$shellid": "Microsoft.PowerShell"}
_SAFE_PATTERN = re.compile(r"[\w#@!~%&=:;,<> '\"/-]{0,64}")  # a -replace pattern without regex operators


def _need(condition, problem: str) -> None:
    if not condition:
        raise NotStatic(problem)


class Char(str):
    """A [char]: PowerShell concatenates it with + like a string."""


_TOKEN = re.compile(
    r"""(?P<ws>\s+)|(?P<sq>'(?:[^']|'')*')|(?P<dq>"[^"$`]*")|(?P<num>0x[0-9a-fA-F]+|\d+)
    |(?P<type>\[(?:string|char\[\]|char|array)\])|(?P<static>::)|(?P<op>-join|-f|-replace|-creplace)\b
    |(?P<range>\.\.)|(?P<var>\$env:\w+|\$\w+)|(?P<method>\.[A-Za-z]\w*)|(?P<name>[A-Za-z]\w*)|(?P<punct>[()\[\],+@-])""",
    re.X | re.I,
)


def to_str(v) -> str:
    if isinstance(v, list):
        return " ".join(map(to_str, v))
    return str(v)


class Evaluator:
    def __init__(self, text: str, start: int = 0, variables: dict | None = None):
        self.tokens, pos = [], start
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            _need(m, f"cannot tokenise {text[pos : pos + 30]!r}")
            tick()
            if m.lastgroup != "ws":
                self.tokens.append((m.lastgroup, m.group(), m.end()))
            pos = m.end()
        self.i, self.vars = 0, variables if variables is not None else {}

    def peek(self, kind=None, value=None):
        if self.i >= len(self.tokens):
            return None
        k, v, _ = self.tokens[self.i]
        if (kind is None or k == kind) and (value is None or v.lower() == value):
            return self.tokens[self.i]
        return None

    def take(self, kind=None, value=None):
        tok = self.peek(kind, value)
        _need(tok, f"expected {kind} {value} at {self.tokens[self.i : self.i + 3]}")
        self.i += 1
        return tok[1]

    def end(self) -> int:
        return self.tokens[self.i - 1][2]

    def expr(self):
        left = self.additive()
        while self.peek("op") and self.peek("op")[1].lower() != "-f":
            op = self.take("op").lower()
            right = self.additive()
            if op == "-join":
                left = to_str(right).join(map(to_str, left if isinstance(left, list) else [left]))
            else:
                pattern, repl = right
                _need(_SAFE_PATTERN.fullmatch(pattern), "a -replace pattern with regex operators")
                left = re.sub(pattern, repl, to_str(left), flags=0 if op == "-creplace" else re.I)
        return left

    def additive(self):
        left = self.format()
        while self.peek("punct", "+"):
            self.take()
            right = self.format()
            if isinstance(left, list):
                left = left + (right if isinstance(right, list) else [right])
            elif isinstance(left, str):
                left = left + to_str(right)
                check_size(left)
            else:
                left = left + right
        return left

    def format(self):
        left = self.comma()
        while self.peek("op", "-f"):
            self.take()
            args = self.comma()
            args = args if isinstance(args, list) else [args]
            left = re.sub(r"\{(\d+)\}", lambda m, args=args: to_str(args[int(m.group(1))]), left)
        return left

    def comma(self):
        items = [self.range_()]
        while self.peek("punct", ","):
            self.take()
            items.append(self.range_())
        return items if len(items) > 1 else items[0]

    def range_(self):
        left = self.unary()
        if self.peek("range"):
            self.take()
            right = self.unary()
            _need(isinstance(left, int) and isinstance(right, int), "range of non-integers")
            step = 1 if right >= left else -1
            if abs(right - left) > 10_000:
                raise TooComplex("range too long")
            return list(range(left, right + step, step))
        return left

    def unary(self):
        if self.peek("op", "-join"):
            self.take()
            v = self.unary()
            return "".join(map(to_str, v if isinstance(v, list) else [v]))
        if self.peek("punct", "-"):
            self.take()
            return -self.unary()
        if self.peek("type"):
            kind = self.take().lower()
            if self.peek("static"):
                self.take()
                method = self.take("name").lower()
                args = self.call_args()
                if (kind, method) == ("[string]", "join"):
                    return to_str(args[0]).join(map(to_str, args[1]))
                if (kind, method) == ("[array]", "reverse"):
                    return args
                raise NotStatic(f"unmodelled {kind}::{method}")
            return self.cast(kind, self.unary())
        return self.postfix()

    def cast(self, kind: str, v):
        if kind == "[char]":
            return Char(chr(v)) if isinstance(v, int) else Char(v)
        if kind == "[string]":
            return to_str(v)
        if kind == "[char[]]":
            return [Char(chr(x)) if isinstance(x, int) else Char(x) for x in (v if isinstance(v, list) else list(v))]
        raise NotStatic(kind)

    def call_args(self):
        self.take("punct", "(")
        args = self.expr()
        self.take("punct", ")")
        return args if isinstance(args, list) else [args]

    def postfix(self):
        v = self.primary()
        while True:
            if self.peek("punct", "["):
                self.take()
                index = self.expr()
                self.take("punct", "]")
                v = [Char(v[k]) for k in index] if isinstance(index, list) else Char(v[index])
            elif self.peek("method"):
                method = self.take().lower()
                if method == ".replace":
                    old, new = self.call_args()
                    v = to_str(v).replace(old, new)
                elif method == ".tochararray":
                    self.take("punct", "(")
                    self.take("punct", ")")
                    v = [Char(c) for c in v]
                else:
                    raise NotStatic(method)
            else:
                return v

    def primary(self):
        kind, value, _ = self.tokens[self.i]
        self.i += 1
        if kind == "sq":
            return value[1:-1].replace("''", "'")
        if kind == "dq":
            return value[1:-1]
        if kind == "num":
            return int(value, 0)
        if kind == "var":
            _need(value.lower() in self.vars or value.lower() in VARIABLES, f"unknown variable {value}")
            return self.vars[value.lower()] if value.lower() in self.vars else VARIABLES[value.lower()]
        if value == "@":
            self.take("punct", "(")
            v = self.expr()
            self.take("punct", ")")
            return v if isinstance(v, list) else [v]
        _need(value == "(", f"unexpected {value!r}")
        v = self.expr()
        self.take("punct", ")")
        return v


def evaluate(text: str, variables: dict | None = None):
    e = Evaluator(text, variables=variables)
    v = e.expr()
    _need(e.i == len(e.tokens), f"left over: {e.tokens[e.i :]}")
    return v


def statements(text: str) -> list[str]:
    mask = _code_mask(text)
    out, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if mask[i] and c in "({":
            depth += 1
        elif mask[i] and c in ")}":
            depth -= 1
        elif mask[i] and c == ";" and depth == 0:
            out.append(text[start:i])
            start = i + 1
    return out + [text[start:]]


def reassemble(text: str) -> str:
    """The code an obfuscated line runs: wrappers unwrapped, string expressions evaluated."""
    variables: dict = {}
    for st in map(str.strip, statements(text)):
        if m := re.fullmatch(r"(?i)\[array\]::reverse\(\$(\w+)\)", st):
            variables["$" + m.group(1).lower()].reverse()
            continue
        if m := re.match(r"(?i)(iex|invoke-expression)\s*(?=\()", st):
            return evaluate(st[m.end() :], variables)
        if m := re.search(r"(?i)\)\s*\|\s*(iex|invoke-expression)$", st):
            return evaluate(st[: m.start() + 1], variables)
        if st[:2] in ("&(", ".(") and (head := _group(st, 1, variables))[0].lower() == "iex":
            try:
                return evaluate(st[head[1] :], variables)
            except NotStatic:  # the seed's own IEX, rebuilt by a light variant
                break
        if m := re.match(r"\$(\w+)\s*=(?!=)", st):
            try:
                variables["$" + m.group(1).lower()] = evaluate(st[m.end() :], variables)
                continue
            except NotStatic:  # not a string expression: an ordinary statement of the seed
                pass
        break
    # a light variant: the first command name was rebuilt as &(...) or .(...)
    found = [k for k in (text.find("&("), text.find(".(")) if k >= 0]
    _need(found, "no string expression to fold")
    i = min(found)
    name, end = _group(text, i + 1, {})
    return text[:i] + name + text[end:]


def _group(text: str, start: int, variables: dict) -> tuple[str, int]:
    """Evaluate the parenthesised expression starting at ``start``; its value and where it ends."""
    e = Evaluator(text[: _close(text, start) + 1], start, variables)
    value = e.primary()
    return value, e.end()


def _close(text: str, start: int) -> int:
    mask, depth = _code_mask(text), 0
    for i in range(start, len(text)):
        if mask[i] and text[i] == "(":
            depth += 1
        elif mask[i] and text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    raise NotStatic("unbalanced")


ALIAS_TO_CMDLET = {alias.lower(): cmdlet for cmdlet, names in ALIASES.items() for alias in names}
ALIAS_TO_CMDLET.update({"iex": "Invoke-Expression", "iwr": "Invoke-WebRequest", "irm": "Invoke-RestMethod"})
_ENCODED = re.compile(
    r"(?i)(?:^|(?<=\s))[-/](?:e|ec|en|enc|enco|encod|encode|encoded|encodedc|encodedco|encodedcom|encodedcomm"
    r"|encodedcomma|encodedcomman|encodedcommand)[\s:]+['\"]?([A-Za-z0-9+/]{4,}={0,2})['\"]?"
)
_FROM_B64 = re.compile(r"(?i)frombase64string\s*\(")
_SECURE_PLAIN = re.compile(r"(?i)convertto-securestring\s+('(?:[^']|'')*')\s+-asplaintext")
_BACKTICK = re.compile(r"`(?=[A-Za-z])")
_ESCAPE_LETTERS = set("0abefnrtuvABEFNRTUV")
_COMMAND_POSITION = re.compile(r"(^|[|;({&]\s*|^\s*\.\s+)([A-Za-z%?][\w?-]*|[%?])(?=\s|$|\))")


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _inflate(data: bytes) -> str | None:
    for wbits in (-15, 31, 15):
        try:
            d = zlib.decompressobj(wbits)
            out = d.decompress(data, MAX_PAYLOAD)
        except zlib.error:
            continue
        for encoding in ("utf-8", "utf-16-le"):
            try:
                return out.decode(encoding)
            except UnicodeDecodeError:
                continue
    return None


def decode_encoded_command(line: str) -> tuple[str, str] | None:
    """``(payload, switch)`` of a ``-EncodedCommand`` (any abbreviation) in ``line``: base64 of UTF-16LE text."""
    m = _ENCODED.search(line)
    if not m:
        return None
    check_size(m.group(1))
    data = _b64(m.group(1))
    if data is None or len(data) % 2:
        return None
    try:
        text = data.decode("utf-16-le")
    except UnicodeDecodeError:
        return None
    if not text.isprintable() and not all(c.isprintable() or c in "\r\n\t" for c in text):
        return None
    return text, m.group(0).split()[0]


_INLINE_B64 = re.compile(
    r"(?i)\[(?:system\.)?text\.encoding\]::(utf8|unicode|ascii|default)\.getstring\(\s*"
    r"\[(?:system\.)?convert\]::frombase64string\(\s*(?:'([A-Za-z0-9+/=\s]*)'|\"([A-Za-z0-9+/=\s]*)\")\s*\)\s*\)"
)
_NUM = r"(?:0x[0-9a-fA-F]+|\d+)"
_BXOR = re.compile(
    rf"(?i)\(\s*({_NUM}(?:\s*,\s*{_NUM})*)\s*\)\s*\|\s*(?:foreach-object|foreach|%)\s*\{{\s*\[char\]\s*\(\s*"
    rf"\$_\s*-bxor\s*({_NUM})\s*\)\s*\}}"
)


def _inline_decoded(text: str) -> str | None:
    """``[Text.Encoding]::X.GetString([Convert]::FromBase64String('..'))`` -> a string literal; ``(codes) |
    % {[char]($_ -bxor k)}`` -> ``[char[]](decoded codes)``; None when there is neither."""

    def b64(m: re.Match) -> str:
        data = _b64("".join((m.group(2) or m.group(3) or "").split()))
        if data is None:
            return m.group()
        decoded = data.decode("utf-16-le" if m.group(1).lower() == "unicode" else "utf-8", "replace")
        payload(decoded)
        note("inline base64 string decoded")
        return "'" + decoded.replace("'", "''") + "'"

    def bxor(m: re.Match) -> str:
        key = int(m.group(2), 0)
        codes = [int(c, 0) ^ key for c in re.split(r"\s*,\s*", m.group(1).strip())]
        note(f"-bxor {key} character codes decoded")
        return "[char[]](" + ",".join(str(c) for c in codes) + ")"

    out = _BXOR.sub(bxor, _INLINE_B64.sub(b64, text))
    return out if out != text else None


def _strings_folded(text: str) -> str | None:
    """One layer of string building folded (``reassemble``), or None when there is none."""
    if not re.search(r"(?i)&\s*\(|\.\(|\biex\b|invoke-expression|^\s*\$\w+\s*=", text):
        return None
    try:
        out = reassemble(text)
    except (NotStatic, IndexError, KeyError, TypeError, ValueError, AttributeError, OverflowError, re.error):
        return None
    return out if isinstance(out, str) and out != text else None


def _base64_payload(text: str) -> str | None:
    """The inflated payload of ``[Convert]::FromBase64String(<static string>)`` (Deflate or Gzip)."""
    m = _FROM_B64.search(text)
    if not m:
        return None
    start = m.end() - 1
    try:
        arg = evaluate(text[start : _close(text, start) + 1])
    except (NotStatic, IndexError, KeyError, TypeError, ValueError, AttributeError, OverflowError, re.error):
        return None
    data = _b64(to_str(arg))
    return None if data is None else _inflate(data)


def _fold_code(text: str) -> str:
    """Backticks before letters removed, aliases -> cmdlets, code (not strings) lower-cased."""
    mask = _code_mask(text)
    out = []
    for i, c in enumerate(text):
        if mask[i] and c == "`" and i + 1 < len(text) and text[i + 1].isalpha() and text[i + 1] not in _ESCAPE_LETTERS:
            continue
        out.append(c.lower() if mask[i] else c)
    folded = "".join(out)
    if "`" in text and "`" not in folded:
        note("backticks removed")

    def alias(m: re.Match) -> str:
        name = m.group(2).lower()
        cmdlet = ALIAS_TO_CMDLET.get(name)
        if cmdlet is None or (name in ("%", "?", "where", "foreach") and not m.group(1).strip().startswith("|")):
            return m.group()
        note(f"alias {name} -> {cmdlet.lower()}")
        return m.group(1) + cmdlet.lower()

    mask = _code_mask(folded)
    result, last = [], 0
    for m in _COMMAND_POSITION.finditer(folded):
        if mask[m.start(2)]:
            result.append(folded[last : m.start()])
            result.append(alias(m))
            last = m.end()
    result.append(folded[last:])
    return " ".join("".join(result).split())


def normalize_powershell(line: str) -> str:
    """What ``line`` runs under PowerShell, folded to lower-case code (see the module docstring)."""
    text = line
    for _ in range(8):
        tick()
        check_size(text)
        if decoded := decode_encoded_command(text):
            body, switch = decoded
            note(f"{switch} payload decoded (UTF-16LE base64)")
            payload(body)
            text = body
            continue
        if (inflated := _base64_payload(text)) is not None:
            note("compressed base64 payload inflated")
            payload(inflated)
            text = inflated
            continue
        if m := _SECURE_PLAIN.search(text):
            try:
                plain = evaluate(m.group(1))
            except NotStatic:
                break
            note("plain-text SecureString payload read")
            payload(plain)
            text = plain
            continue
        if "76492d1116743f0423413b16050a5345" in text:
            note("AES SecureString payload (not decrypted)")
            break
        if (inline := _inline_decoded(text)) is not None:
            text = inline
            continue
        folded = _strings_folded(text)
        if folded is not None:
            note("string expression folded (concatenation, -f, [char], -join, reversal, -replace)")
            text = folded
            continue
        break
    else:
        raise TooComplex("too many layers")
    return _fold_code(text)
